import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';
import type { Document, Element } from '@xmldom/xmldom';
import {
  C14nCanonicalization,
  C14nCanonicalizationWithComments,
  ExclusiveCanonicalization,
  ExclusiveCanonicalizationWithComments,
} from 'xml-crypto';
import { childrenNamed } from './xml.ts';

/**
 * The enveloped XML signature of one SAML element (a Response or an Assertion), checked on the document that was
 * already parsed, in time linear in its size: the gate that every response passes before anything else reads it.
 *
 * Why not xml-crypto's `SignedXml.checkSignature`: it parses the document again and finds the referenced
 * element, the ancestors' namespaces and the comments to drop with document-wide XPath (`//*[@ID=…]`), whose
 * node sets the `xpath` package sorts at a cost that grows with the square of the document: an unsigned post of
 * 20 000 empty attributes cost 16 s of CPU before any signature was looked at. Here the canonicalization and
 * the algorithms are still xml-crypto's and node:crypto's; what changes is how the parts are found:
 * - the Signature must be a child of the element it signs (SAML core §5.4.1 puts it there), exactly one, with
 *   exactly one SignedInfo holding exactly one Reference whose URI is `#` + the element's own `ID`;
 * - that ID must be carried by no other element of the document, under any of the attribute names xml-crypto
 *   treats as IDs (`ID`, `Id`, `id`): the defence against signature wrapping (a second element with the same ID
 *   that another reader might take for the signed one);
 * - transforms: the enveloped signature, once, and at most one canonicalization (exclusive or inclusive, with
 *   or without comments: comments never count, the reference is same-document); nothing else (no XPath or XSLT
 *   transforms);
 * - the signature value is checked against the connection's own certificates (never a key from KeyInfo) with
 *   RSA and SHA-1/256/512 only (no HMAC: a public certificate is no secret). SignedInfo is small and checked
 *   first; only a SignedInfo that the IdP signed leads to the digest of the element, the one step whose cost
 *   grows with the document.
 */

const DSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';
const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';

const SIGNATURE_METHODS: Record<string, string> = {
  'http://www.w3.org/2000/09/xmldsig#rsa-sha1': 'sha1',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256': 'sha256',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512': 'sha512',
};
const DIGEST_METHODS: Record<string, string> = {
  'http://www.w3.org/2000/09/xmldsig#sha1': 'sha1',
  'http://www.w3.org/2001/04/xmlenc#sha256': 'sha256',
  'http://www.w3.org/2001/04/xmlenc#sha512': 'sha512',
};
const EXCLUSIVE = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const EXCLUSIVE_WITH_COMMENTS = 'http://www.w3.org/2001/10/xml-exc-c14n#WithComments';
const INCLUSIVE = 'http://www.w3.org/TR/2001/REC-xml-c14n-20010315';
const INCLUSIVE_WITH_COMMENTS = 'http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments';
const CANONICALIZATIONS = new Set([EXCLUSIVE, EXCLUSIVE_WITH_COMMENTS, INCLUSIVE, INCLUSIVE_WITH_COMMENTS]);

/** A SignedInfo of SAML has ~10 elements; more is not a signature we would check. */
const MAX_SIGNED_INFO_ELEMENTS = 32;

type Canonicalizer = {
  process(node: unknown, options: Record<string, unknown>): string;
};

function canonicalizer(algorithm: string): Canonicalizer {
  switch (algorithm) {
    case EXCLUSIVE:
      return new ExclusiveCanonicalization() as unknown as Canonicalizer;
    case EXCLUSIVE_WITH_COMMENTS:
      return new ExclusiveCanonicalizationWithComments() as unknown as Canonicalizer;
    case INCLUSIVE_WITH_COMMENTS:
      return new C14nCanonicalizationWithComments() as unknown as Canonicalizer;
    default:
      return new C14nCanonicalization() as unknown as Canonicalizer;
  }
}

/** The IdP's certificates as public keys, parsed once per set. */
const keyCache = new WeakMap<readonly string[], KeyObject[]>();
export function trustedKeys(certificates: readonly string[]): KeyObject[] {
  let keys = keyCache.get(certificates);
  if (!keys) {
    keys = certificates.map((pem) => createPublicKey(pem));
    keyCache.set(certificates, keys);
  }
  return keys;
}

/** How many elements of the document carry each ID value (attributes named ID, Id or id): one walk. */
export function idCounts(doc: Document | Element): Map<string, number> {
  const counts = new Map<string, number>();
  const stack: Node[] = [doc as unknown as Node];
  while (stack.length > 0) {
    const node = stack.pop() as Node;
    if (node.nodeType === 1) {
      const attributes = (node as unknown as Element).attributes;
      for (let i = 0; i < attributes.length; i++) {
        const attribute = attributes[i];
        if (!attribute) continue;
        const name = attribute.localName ?? attribute.name;
        if (name === 'ID' || name === 'Id' || name === 'id') {
          counts.set(attribute.value, (counts.get(attribute.value) ?? 0) + 1);
        }
      }
    }
    for (let child = node.firstChild; child; child = child.nextSibling) stack.push(child);
  }
  return counts;
}

/** The namespaces declared on the ancestors of `element` (nearest first wins), as xml-crypto's c14n takes them. */
function ancestorNamespaces(element: Element): { prefix: string; namespaceURI: string }[] {
  const seen = new Set<string>();
  const found: { prefix: string; namespaceURI: string }[] = [];
  const own = new Set<string>([element.prefix ?? '']);
  for (let i = 0; i < element.attributes.length; i++) {
    const name = element.attributes[i]?.name ?? '';
    if (name === 'xmlns' || name.startsWith('xmlns:')) own.add(name.slice(6));
  }
  for (let parent = element.parentNode; parent && parent.nodeType === 1; parent = parent.parentNode) {
    const attributes = (parent as Element).attributes;
    for (let i = 0; i < attributes.length; i++) {
      const attribute = attributes[i];
      if (!attribute) continue;
      const name = attribute.name;
      if (name !== 'xmlns' && !name.startsWith('xmlns:')) continue;
      const prefix = name.slice(6);
      if (seen.has(prefix)) continue;
      seen.add(prefix);
      if (attribute.value !== '' && !own.has(prefix)) found.push({ prefix, namespaceURI: attribute.value });
    }
  }
  return found;
}

function countElements(node: Node, limit: number): number {
  let count = 0;
  const stack: Node[] = [node];
  while (stack.length > 0 && count <= limit) {
    const current = stack.pop() as Node;
    if (current.nodeType === 1) count += 1;
    for (let child = current.firstChild; child; child = child.nextSibling) stack.push(child);
  }
  return count;
}

function dsigChildren(parent: Element | Node, localName: string): Element[] {
  return (childrenNamed(parent, localName) as unknown as Element[]).filter((e) => e.namespaceURI === DSIG_NS);
}

function algorithmOf(parent: Element, localName: string): string | null {
  const found = dsigChildren(parent, localName);
  return found.length === 1 ? (found[0]?.getAttribute('Algorithm') ?? null) : null;
}

/** An algorithm name as received, short enough for the session log. */
const shown = (value: string | null | undefined) => String(value).slice(0, 100);

/** Base64 text with its whitespace removed (IdPs wrap long values). */
function base64Text(element: Element | undefined): string {
  return (element?.textContent ?? '').replace(/\s+/g, '');
}

export type SignatureVerdict =
  | { valid: true; signed: true }
  | { valid: false; signed: boolean; reason: string; certificates: string[] };

/**
 * Verifies the enveloped signature of `element` (a direct child Signature) against `keys`. `ids` is the ID count
 * of the whole document (`idCounts`). `signed: false` when the element carries no signature at all.
 */
export function verifyEnvelopedSignature(
  element: Element,
  ids: Map<string, number>,
  keys: KeyObject[],
): SignatureVerdict {
  const signatures = dsigChildren(element, 'Signature');
  const certificates = signatures.flatMap((s) =>
    dsigChildren(s, 'KeyInfo').flatMap((k) =>
      dsigChildren(k, 'X509Data').flatMap((d) => dsigChildren(d, 'X509Certificate').map(base64Text)),
    ),
  );
  const invalid = (reason: string): SignatureVerdict => ({
    valid: false,
    signed: true,
    reason,
    certificates,
  });
  if (signatures.length === 0) return { valid: false, signed: false, reason: 'not signed', certificates };
  if (signatures.length > 1)
    return invalid(`${element.localName} has ${signatures.length} Signature elements`);
  const signature = signatures[0] as Element;

  const signedInfos = dsigChildren(signature, 'SignedInfo');
  if (signedInfos.length !== 1) return invalid('the Signature must have exactly one SignedInfo');
  const signedInfo = signedInfos[0] as Element;
  if (countElements(signedInfo as unknown as Node, MAX_SIGNED_INFO_ELEMENTS) > MAX_SIGNED_INFO_ELEMENTS)
    return invalid(`SignedInfo has more than ${MAX_SIGNED_INFO_ELEMENTS} elements`);
  const c14nMethod = algorithmOf(signedInfo, 'CanonicalizationMethod');
  if (!c14nMethod || !CANONICALIZATIONS.has(c14nMethod))
    return invalid(`unsupported CanonicalizationMethod ${shown(c14nMethod)}`);
  const signatureMethod = algorithmOf(signedInfo, 'SignatureMethod');
  const hash = signatureMethod ? SIGNATURE_METHODS[signatureMethod] : undefined;
  if (!hash) return invalid(`unsupported SignatureMethod ${shown(signatureMethod)}`);

  const references = dsigChildren(signedInfo, 'Reference');
  if (references.length !== 1) return invalid(`SignedInfo has ${references.length} References, not one`);
  const reference = references[0] as Element;
  const id = element.getAttribute('ID') ?? '';
  if (!id || reference.getAttribute('URI') !== `#${id}`)
    return invalid(`the Reference does not point at the ${element.localName} that holds the Signature`);
  if (ids.get(id) !== 1)
    return invalid(`the ID of the ${element.localName} is carried by more than one element`);

  const transforms = dsigChildren(reference, 'Transforms').flatMap((t) => dsigChildren(t, 'Transform'));
  const transformAlgorithms = transforms.map((t) => t.getAttribute('Algorithm') ?? '');
  const c14nTransforms = transforms.filter((t) => CANONICALIZATIONS.has(t.getAttribute('Algorithm') ?? ''));
  if (
    transformAlgorithms.filter((a) => a === ENVELOPED).length !== 1 ||
    c14nTransforms.length > 1 ||
    transformAlgorithms.some((a) => a !== ENVELOPED && !CANONICALIZATIONS.has(a))
  ) {
    return invalid(`unsupported Transforms ${shown(JSON.stringify(transformAlgorithms))}`);
  }
  const digestMethod = algorithmOf(reference, 'DigestMethod');
  const digestHash = digestMethod ? DIGEST_METHODS[digestMethod] : undefined;
  if (!digestHash) return invalid(`unsupported DigestMethod ${shown(digestMethod)}`);
  const digestValues = dsigChildren(reference, 'DigestValue');
  const signatureValues = dsigChildren(signature, 'SignatureValue');
  if (digestValues.length !== 1 || signatureValues.length !== 1)
    return invalid('the Signature must have one DigestValue and one SignatureValue');

  try {
    // 1. SignedInfo, signed by one of the connection's keys.
    const signedInfoCanon = canonicalizer(c14nMethod).process(signedInfo, {
      ancestorNamespaces: ancestorNamespaces(signedInfo),
      defaultNsForPrefix: { ds: DSIG_NS },
    });
    const value = Buffer.from(base64Text(signatureValues[0]), 'base64');
    const data = Buffer.from(signedInfoCanon, 'utf8');
    if (!keys.some((key) => verify(hash, data, key, value)))
      return invalid('the signature value does not verify with any trusted certificate');

    // 2. The element, without its Signature, as SignedInfo says (comments never count: same-document reference).
    const c14nTransform = c14nTransforms[0];
    const transform = c14nTransform?.getAttribute('Algorithm') ?? INCLUSIVE;
    const exclusive = transform === EXCLUSIVE || transform === EXCLUSIVE_WITH_COMMENTS;
    const prefixList = c14nTransform
      ? (childrenNamed(c14nTransform, 'InclusiveNamespaces') as unknown as Element[])[0]?.getAttribute(
          'PrefixList',
        )
      : null;
    const next = signature.nextSibling;
    element.removeChild(signature);
    let canon: string;
    try {
      canon = canonicalizer(exclusive ? EXCLUSIVE : INCLUSIVE).process(element, {
        ancestorNamespaces: ancestorNamespaces(element),
        defaultNsForPrefix: { ds: DSIG_NS },
        ...(prefixList ? { inclusiveNamespacesPrefixList: prefixList.split(/\s+/).filter(Boolean) } : {}),
      });
    } finally {
      element.insertBefore(signature, next);
    }
    const digest = createHash(digestHash).update(canon, 'utf8').digest('base64');
    if (digest !== base64Text(digestValues[0]))
      return invalid(`the digest of the ${element.localName} does not match its signature`);
    return { valid: true, signed: true };
  } catch (err) {
    return invalid(`the signature could not be checked: ${(err as Error).message}`);
  }
}
