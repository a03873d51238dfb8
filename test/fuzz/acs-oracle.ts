import { DOMParser, type Document, type Element } from '@xmldom/xmldom';
import { ExclusiveCanonicalization } from 'xml-crypto';

/**
 * The ACS fuzzer's judge of "was signed content changed?", written from the XML signature rules and never from
 * Gatehouse's code (src/connectors/saml/signature.ts): the test knows, for each signature the IdP made, which
 * element it covers by position (the Response, or the Response's first Assertion child), and compares what that
 * signature protects in the genuine response with what stands at the same position after the mutation:
 * - the signed element with its enveloped Signature removed, in exclusive canonical form without comments (the
 *   transforms samlify signs with, asserted below): comments, attribute order, quoting, character references
 *   and unused namespace declarations do not count; text, whitespace between elements, prefixes, names do;
 * - the Signature's SignedInfo in the same form, and its SignatureValue as bytes (base64 whitespace aside);
 * - for an encrypted assertion (whose signature is inside the ciphertext), the EncryptedAssertion's ciphertexts
 *   as bytes (the encrypted key's and the data's): what the test cannot decrypt it compares encrypted. The wrapper
 *   (algorithm names, KeyInfo, whitespace, a repeated ciphertext) does not count: the same ciphertext decrypts to the same signed
 *   assertion or to nothing, and the signature inside it is what protects the identity.
 * A document that is not well-formed (any parser error or warning) has changed. The canonicalization is
 * xml-crypto's, the library samlify signs with: the oracle shares it with the IdP, not with Gatehouse's reader.
 */

export const SAMLP_NS = 'urn:oasis:names:tc:SAML:2.0:protocol';
export const SAML_NS = 'urn:oasis:names:tc:SAML:2.0:assertion';
export const DSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';
const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';

type Path = 'response' | 'assertion' | 'encrypted';

/** Parses strictly: null on any error or warning. */
export function parseStrict(xml: string): Document | null {
  let bad = false;
  try {
    const doc = new DOMParser({
      onError: () => {
        bad = true;
      },
    }).parseFromString(xml, 'text/xml');
    return bad || !doc.documentElement ? null : doc;
  } catch {
    // xmldom throws on fatal errors (no root element) after reporting them.
    return null;
  }
}

export function childElements(el: Element): Element[] {
  const out: Element[] = [];
  for (let n = el.firstChild; n; n = n.nextSibling) if (n.nodeType === 1) out.push(n as Element);
  return out;
}

function firstChild(el: Element, ns: string, local: string): Element | null {
  return childElements(el).find((c) => c.namespaceURI === ns && c.localName === local) ?? null;
}

function at(doc: Document, path: Path): Element | null {
  const root = doc.documentElement;
  if (!root || root.namespaceURI !== SAMLP_NS || root.localName !== 'Response') return null;
  if (path === 'response') return root;
  return firstChild(root, SAML_NS, path === 'assertion' ? 'Assertion' : 'EncryptedAssertion');
}

const c14n = new ExclusiveCanonicalization();
function canonical(node: Element): string {
  return c14n.process(node as never, {});
}

function base64Bytes(text: string): string {
  return Buffer.from(text.replace(/\s+/g, ''), 'base64').toString('hex');
}

/** The paths the genuine response has signatures (or an encrypted assertion) at. */
export function signedPaths(xml: string): Path[] {
  const doc = parseStrict(xml);
  if (!doc) throw new Error('the genuine response does not parse');
  const paths: Path[] = [];
  for (const path of ['response', 'assertion', 'encrypted'] as const) {
    const el = at(doc, path);
    if (!el) continue;
    if (path === 'encrypted') {
      paths.push(path);
      continue;
    }
    const sig = firstChild(el, DSIG_NS, 'Signature');
    if (!sig) continue;
    const transforms = Array.from(sig.getElementsByTagNameNS(DSIG_NS, 'Transform')).map((t) =>
      t.getAttribute('Algorithm'),
    );
    if (transforms.join(' ') !== `${ENVELOPED} ${EXC_C14N}`)
      throw new Error(`the oracle knows enveloped + exclusive c14n, not ${transforms.join(' ')}`);
    paths.push(path);
  }
  return paths;
}

/** What the signature at `path` protects, as a string; null when it is not there any more. */
function protectedAt(xml: string, path: Path): string | null {
  const doc = parseStrict(xml);
  if (!doc) return null;
  const el = at(doc, path);
  if (!el) return null;
  if (path === 'encrypted') {
    // The distinct ciphertexts in order of appearance, by local name: a CipherValue moved to another namespace or
    // repeated still holds the same bytes.
    const parts = new Set<string>();
    for (const e of Array.from(el.getElementsByTagName('*')))
      if (e.localName === 'CipherValue') parts.add(base64Bytes(e.textContent ?? ''));
    return [...parts].join('|');
  }
  const sig = firstChild(el, DSIG_NS, 'Signature');
  if (!sig) return null;
  const signedInfo = firstChild(sig, DSIG_NS, 'SignedInfo');
  const value = firstChild(sig, DSIG_NS, 'SignatureValue');
  if (!signedInfo || !value) return null;
  const parts = [canonical(signedInfo), base64Bytes(value.textContent ?? '')];
  el.removeChild(sig);
  parts.push(canonical(el));
  return parts.join('\n');
}

/** Whether `mutated` changed anything a signature of `genuine` (at `paths`) protects. */
export function signedContentChanged(genuine: string, mutated: string, paths: readonly Path[]): boolean {
  return paths.some((path) => {
    const before = protectedAt(genuine, path);
    if (before === null) throw new Error(`the genuine response has nothing at ${path}`);
    return protectedAt(mutated, path) !== before;
  });
}
