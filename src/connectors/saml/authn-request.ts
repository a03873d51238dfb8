import { type KeyObject, sign } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
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
 * - HTTP-Redirect: DEFLATE (raw, synchronous, with a 2 KB window, a small memory level and small output chunks:
 *   a request is well under 2 KB, and a raw DEFLATE stream of any window inflates with any inflater), base64,
 *   then the query in the binding's order, `SAMLRequest`, `RelayState`, `SigAlg`, and when signed, `Signature`: RSA-SHA256 with
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
 * The DEFLATE settings of the redirect binding: a 2 KB window and ~16 KB of zlib state per call (not the default
 * ~256 KB), and 1 KB output chunks (a deflated request is ~400 bytes; a longer one takes several chunks): the
 * default 16 KB chunk is a fresh allocation per call, freed only by a GC, and 200 000 calls in a loop left the
 * process ~45 MB larger than with 1 KB chunks (MALLOC_ARENA_MAX=2, as `npm start` runs).
 */
const DEFLATE = { windowBits: 11, memLevel: 4, chunkSize: 1024 } as const;

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
  let query = `SAMLRequest=${queryValue(deflateRawSync(xml, DEFLATE).toString('base64'))}`;
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
