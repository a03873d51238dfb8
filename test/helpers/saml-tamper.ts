import { DOMParser, type Document, type Element, XMLSerializer } from '@xmldom/xmldom';
// xml-crypto is what both node-saml and samlify sign and verify with (installed with them): an attacker holding
// a key signs exactly as a real IdP does.
import { SignedXml } from 'xml-crypto';
import xpath from 'xpath';

/**
 * Tampering with real SAML responses, for the attack suite (test/e2e/saml-attacks.test.ts): decode the base64
 * response the IdP produced, change the DOM, and encode it again, optionally re-signing the Response and/or
 * the Assertion the way samlify does (enveloped + exclusive c14n, the signature right after the Issuer), so
 * that a test changes exactly one thing about a validly signed response.
 */

export const DSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';
export const SAML_NS = 'urn:oasis:names:tc:SAML:2.0:assertion';
export const SAMLP_NS = 'urn:oasis:names:tc:SAML:2.0:protocol';

export const RSA_SHA1 = 'http://www.w3.org/2000/09/xmldsig#rsa-sha1';
export const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
export const HMAC_SHA1 = 'http://www.w3.org/2000/09/xmldsig#hmac-sha1';
export const SHA1 = 'http://www.w3.org/2000/09/xmldsig#sha1';
export const SHA256 = 'http://www.w3.org/2001/04/xmlenc#sha256';
export const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
export const EXC_C14N_WITH_COMMENTS = 'http://www.w3.org/2001/10/xml-exc-c14n#WithComments';
export const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';

/** XPath of the Response (the document element) and of its direct Assertion child. */
export const RESPONSE = "/*[local-name()='Response']";
export const ASSERTION = `${RESPONSE}/*[local-name()='Assertion']`;

export function decode(base64: string): Document {
  return new DOMParser().parseFromString(Buffer.from(base64, 'base64').toString('utf8'), 'text/xml');
}

export function serialize(doc: Document | Element): string {
  return new XMLSerializer().serializeToString(doc);
}

export function encode(xml: string | Document): string {
  return Buffer.from(typeof xml === 'string' ? xml : serialize(xml), 'utf8').toString('base64');
}

/** The elements `expr` selects under `node`. */
export function all(node: Document | Element, expr: string): Element[] {
  return xpath.select(expr, node as unknown as Node) as unknown as Element[];
}

/** The one element `expr` selects under `node` (throws unless exactly one). */
export function one(node: Document | Element, expr: string): Element {
  const found = all(node, expr);
  if (found.length !== 1) throw new Error(`expected one element for ${expr}, found ${found.length}`);
  return found[0] as Element;
}

/** A direct child element of `parent` by local name (throws unless exactly one). */
export function child(parent: Element, localName: string): Element {
  return one(parent, `./*[local-name()='${localName}']`);
}

/** Decodes, lets `change` edit the DOM, and encodes again (signatures stay as they were). */
export function edit(base64: string, change: (doc: Document) => void): string {
  const doc = decode(base64);
  change(doc);
  return encode(doc);
}

/** Removes every XML signature in the document. */
export function stripSignatures(doc: Document, scope: 'all' | 'response' | 'assertion' = 'all'): void {
  const expr =
    scope === 'all'
      ? "//*[local-name()='Signature']"
      : `${scope === 'response' ? RESPONSE : ASSERTION}/*[local-name()='Signature']`;
  for (const sig of all(doc, expr)) sig.parentNode?.removeChild(sig);
}

export interface SigningKey {
  /** PKCS#8 PEM */
  privateKey: string;
  /** X.509 PEM, published in the signature's KeyInfo as samlify does */
  certificate: string;
}

export interface SignOptions {
  signatureAlgorithm?: string;
  digestAlgorithm?: string;
  /** The canonicalization of SignedInfo and the reference's c14n transform. */
  canonicalization?: string;
  /** Sign with HMAC-SHA1 keyed by this string instead of RSA (the key-confusion attack: a public key as secret). */
  hmacKey?: string;
}

/**
 * Signs the element at `target` (the Response or its Assertion) of `xml` with `key`: one reference to its ID,
 * transforms enveloped + c14n, the signature placed right after the element's Issuer, KeyInfo with the
 * certificate. Returns the signed XML.
 */
export function sign(
  xml: string,
  key: SigningKey,
  target: 'response' | 'assertion',
  options: SignOptions = {},
): string {
  const canonicalization = options.canonicalization ?? EXC_C14N;
  const element = target === 'response' ? RESPONSE : ASSERTION;
  const sig = new SignedXml({
    privateKey: key.privateKey,
    publicCert: key.certificate,
    signatureAlgorithm: options.signatureAlgorithm ?? RSA_SHA256,
    canonicalizationAlgorithm: canonicalization,
  });
  if (options.hmacKey !== undefined) {
    sig.enableHMAC();
    sig.privateKey = options.hmacKey;
    sig.signatureAlgorithm = HMAC_SHA1;
  }
  sig.addReference({
    xpath: element,
    transforms: [ENVELOPED, canonicalization],
    digestAlgorithm: options.digestAlgorithm ?? SHA256,
  });
  sig.computeSignature(xml, {
    prefix: 'ds',
    location: { reference: `${element}/*[local-name()='Issuer']`, action: 'after' },
  });
  return sig.getSignedXml();
}

/**
 * Decodes, lets `change` edit the DOM, removes every signature and signs again with `key`: the Assertion
 * first, then the Response, as the IdP would (each only if named in `targets`).
 */
export function resign(
  base64: string,
  key: SigningKey,
  targets: Array<'response' | 'assertion'>,
  change: (doc: Document) => void = () => {},
  options: SignOptions = {},
): string {
  const doc = decode(base64);
  change(doc);
  stripSignatures(doc);
  let xml = serialize(doc);
  if (targets.includes('assertion')) xml = sign(xml, key, 'assertion', options);
  if (targets.includes('response')) xml = sign(xml, key, 'response', options);
  return encode(xml);
}

/** Which of the Response and the Assertion carry a signature (a direct ds:Signature child). */
export function signedParts(base64: string): { response: boolean; assertion: boolean } {
  const doc = decode(base64);
  return {
    response: all(doc, `${RESPONSE}/*[local-name()='Signature']`).length === 1,
    assertion: all(doc, `${ASSERTION}/*[local-name()='Signature']`).length === 1,
  };
}

/** Sets the text of the assertion's NameID. */
export function setNameId(assertion: Element, value: string): void {
  const nameId = one(assertion, "./*[local-name()='Subject']/*[local-name()='NameID']");
  while (nameId.firstChild) nameId.removeChild(nameId.firstChild);
  nameId.appendChild((nameId.ownerDocument as Document).createTextNode(value));
}

/** The ISO timestamp `seconds` from now. */
export function isoIn(seconds: number): string {
  return new Date(Date.now() + seconds * 1000).toISOString();
}
