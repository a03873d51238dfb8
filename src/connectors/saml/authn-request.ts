import { type KeyObject, sign } from 'node:crypto';
import { SignedXml } from 'xml-crypto';
import { xmlAttribute, xmlText } from './xml.ts';

/**
 * Our SP-initiated AuthnRequest (SAML core §3.4.1) and its two bindings (saml-bindings §3.4, §3.5).
 *
 * The XML is one fixed template (what @node-saml/node-saml wrote for our options, so IdPs see the request they
 * already accepted): ID, Version, IssueInstant, ProtocolBinding (responses come to our ACS by HTTP-POST),
 * Destination, AssertionConsumerServiceURL, the Issuer (our entity ID) and a NameIDPolicy that lets the IdP
 * create an identifier and leaves its format to the IdP. No RequestedAuthnContext (IdPs reject contexts they do
 * not offer: Entra AADSTS75011) and no ForceAuthn / IsPassive (no connection option asks for them). Every value
 * is escaped for where it goes, and a character XML cannot carry is refused, never dropped.
 *
 * - HTTP-Redirect: the DEFLATE format in stored blocks (see `deflateStored`), base64, then the query in the binding's order, `SAMLRequest`, `RelayState`, `SigAlg`, and when signed, `Signature`: RSA-SHA256 with
 *   node:crypto over exactly the query string that is sent (§3.4.4.1).
 * - HTTP-POST: the XML in base64, not deflated (§3.5.4), and when signed, an enveloped XML signature made by
 *   xml-crypto, placed after the Issuer as the schema orders it.
 */

export const SIG_ALG_RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const EXCLUSIVE_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';
const DIGEST_SHA256 = 'http://www.w3.org/2001/04/xmlenc#sha256';
const BINDING_POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';

/**
 * The XML in the DEFLATE format (RFC 1951) as stored blocks: each a 5-byte header (BFINAL, BTYPE 00, LEN, NLEN,
 * §3.2.4) before up to 65 535 bytes as they are. The redirect binding requires the DEFLATE encoding (saml-bindings
 * §3.4.4.1), not that it compresses, and every inflater reads stored blocks (the tests inflate it with zlib, the
 * test IdP with samlify's). Why not zlib's compressor: each call makes a zlib stream with its native state and
 * output buffers, freed only when collected; under a SAML authorize load that kept RSS ~30 MB higher (169 against
 * 138 MB after 40 s) and served ~16% fewer requests (bench/README.md, "Memory"). The cost: the request's part of
 * the URL is ~0.9 KB instead of ~0.4 KB, far below what browsers and IdPs accept.
 */
export function deflateStored(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  do {
    const length = Math.min(0xffff, data.length - offset);
    const last = offset + length >= data.length;
    parts.push(
      Buffer.from([last ? 1 : 0, length & 0xff, length >> 8, ~length & 0xff, (~length >> 8) & 0xff]),
      data.subarray(offset, offset + length),
    );
    offset += length;
  } while (offset < data.length);
  return Buffer.concat(parts);
}

export interface AuthnRequestFields {
  /** An xs:ID (NCName), ours. */
  id: string;
  issueInstant: Date;
  /** The IdP's SSO URL. */
  destination: string;
  /** Our ACS URL. */
  acsUrl: string;
  /** Our SP entity ID. */
  issuer: string;
}

/** The AuthnRequest's XML. */
export function authnRequestXml(f: AuthnRequestFields): string {
  return (
    '<?xml version="1.0"?>' +
    '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"' +
    ` ID="${xmlAttribute(f.id, 'the AuthnRequest ID')}" Version="2.0" IssueInstant="${f.issueInstant.toISOString()}"` +
    ` ProtocolBinding="${BINDING_POST}"` +
    ` Destination="${xmlAttribute(f.destination, "the IdP's SSO URL (Destination)")}"` +
    ` AssertionConsumerServiceURL="${xmlAttribute(f.acsUrl, 'the ACS URL')}">` +
    '<saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">' +
    `${xmlText(f.issuer, 'the SP entity ID (Issuer)')}</saml:Issuer>` +
    '<samlp:NameIDPolicy xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" AllowCreate="true"/>' +
    '</samlp:AuthnRequest>'
  );
}

/**
 * A query value with every character outside RFC 3986's unreserved set percent-encoded (encodeURIComponent leaves
 * `!'()*`, and the URL's query setter would then encode `'`, so the query sent would not be the one signed).
 */
function queryValue(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * HTTP-Redirect binding: the IdP's SSO URL (its own query kept as is) with the request appended, signed with
 * `key` (RSA) when given.
 */
export function redirectBindingUrl(
  ssoUrl: string,
  xml: string,
  relayState: string,
  key: KeyObject | undefined,
): string {
  const url = new URL(ssoUrl);
  let query = `SAMLRequest=${queryValue(deflateStored(Buffer.from(xml, 'utf8')).toString('base64'))}`;
  if (relayState) query += `&RelayState=${queryValue(relayState)}`;
  if (key) {
    query += `&SigAlg=${queryValue(SIG_ALG_RSA_SHA256)}`;
    query += `&Signature=${queryValue(sign('sha256', Buffer.from(query), key).toString('base64'))}`;
  }
  // The setter keeps percent-escapes as they are, and `query` has nothing else it would encode.
  url.search = url.search ? `${url.search}&${query}` : query;
  return url.href;
}

/**
 * HTTP-POST binding: the form's fields, the XML signed with `privateKeyPem` (an enveloped signature over the
 * AuthnRequest, by its ID) when given.
 */
export function postBindingFields(
  xml: string,
  relayState: string,
  privateKeyPem: string | undefined,
): Record<string, string> {
  let message = xml;
  if (privateKeyPem) {
    const signer = new SignedXml({
      privateKey: privateKeyPem,
      signatureAlgorithm: SIG_ALG_RSA_SHA256,
      canonicalizationAlgorithm: EXCLUSIVE_C14N,
    });
    signer.addReference({
      xpath: '/*',
      transforms: [ENVELOPED, EXCLUSIVE_C14N],
      digestAlgorithm: DIGEST_SHA256,
    });
    signer.computeSignature(xml, {
      location: { reference: "/*/*[local-name(.)='Issuer']", action: 'after' },
    });
    message = signer.getSignedXml();
  }
  return {
    SAMLRequest: Buffer.from(message, 'utf8').toString('base64'),
    ...(relayState ? { RelayState: relayState } : {}),
  };
}
