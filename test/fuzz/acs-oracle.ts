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
 *   as bytes (the encrypted key's and the data's): the same bytes are the same signed content; other bytes are
 *   `opaque` (below); no EncryptedAssertion at its place is a change. The wrapper (algorithm names, KeyInfo,
 *   whitespace, a repeated ciphertext) does not count: the same ciphertext decrypts to the same signed
 *   assertion or to nothing, and the signature inside it is what protects the identity.
 * A document that is not well-formed (any parser error or warning but U+FFFD's) has changed. The canonicalization is
 * xml-crypto's, the library samlify signs with: the oracle shares it with the IdP, not with Gatehouse's reader.
 */

export const SAMLP_NS = 'urn:oasis:names:tc:SAML:2.0:protocol';
export const SAML_NS = 'urn:oasis:names:tc:SAML:2.0:assertion';
export const DSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';
const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';

type Path = 'response' | 'assertion' | 'encrypted';

/** Parses strictly: null on any error or warning (but the one about U+FFFD). */
export function parseStrict(xml: string): Document | null {
  let bad = false;
  try {
    const doc = new DOMParser({
      onError: (level: string, message: string) => {
        // U+FFFD is a character like any other (a bit flip in unsigned base64 text makes one): no error.
        if (level === 'warning' && /replacement character/i.test(message)) return;
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

/**
 * The paths of the genuine response's signatures: the Response, the Assertion, and (when `encryptedSigned`: the
 * test knows the IdP signed the assertion before encrypting it) the EncryptedAssertion.
 */
export function signedPaths(xml: string, encryptedSigned: boolean): Path[] {
  const doc = parseStrict(xml);
  if (!doc) throw new Error('the genuine response does not parse');
  const paths: Path[] = [];
  for (const path of ['response', 'assertion'] as const) {
    const el = at(doc, path);
    const sig = el ? firstChild(el, DSIG_NS, 'Signature') : null;
    if (!sig) continue;
    const transforms = Array.from(sig.getElementsByTagNameNS(DSIG_NS, 'Transform')).map((t) =>
      t.getAttribute('Algorithm'),
    );
    if (transforms.join(' ') !== `${ENVELOPED} ${EXC_C14N}`)
      throw new Error(`the oracle knows enveloped + exclusive c14n, not ${transforms.join(' ')}`);
    paths.push(path);
  }
  if (encryptedSigned && at(doc, 'encrypted')) paths.push('encrypted');
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

export interface SignedChange {
  /**
   * `changed`: no signature of the genuine response still stands, intact, at its place over what it signed: the
   * post must not sign in. `unchanged`: at least one does (each covers the assertion: a response whose Response
   * signature was moved away but whose assertion signature stands is an assertion-signed response, which
   * Gatehouse accepts by design). `opaque`: none is intact in clear, but the ciphertext of an assertion signed
   * inside its encryption changed: the test cannot decrypt it, and a changed ciphertext may still hold the same
   * signed content (a block garbled inside the signature's KeyInfo, which no digest covers: the fuzzer found such
   * flips signing in with the genuine identity), so only the identity property judges those.
   */
  change: 'changed' | 'unchanged' | 'opaque';
  /** Every signature intact: nothing signed was touched at all. */
  untouched: boolean;
}

export function signedContentChange(genuine: string, mutated: string, paths: readonly Path[]): SignedChange {
  const states = paths.map((path) => {
    const before = protectedAt(genuine, path);
    if (before === null) throw new Error(`the genuine response has nothing at ${path}`);
    const after = protectedAt(mutated, path);
    if (after === before) return 'same';
    return path === 'encrypted' && after !== null ? 'opaque' : 'changed';
  });
  const change = states.includes('same') ? 'unchanged' : states.includes('opaque') ? 'opaque' : 'changed';
  return { change, untouched: states.every((s) => s === 'same') };
}
