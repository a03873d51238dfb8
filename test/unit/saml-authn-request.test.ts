import assert from 'node:assert/strict';
import { createPrivateKey, verify, X509Certificate } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { inflateRawSync } from 'node:zlib';
import { DOMParser } from '@xmldom/xmldom';
import { SignedXml } from 'xml-crypto';
import {
  type AuthnRequestFields,
  authnRequestXml,
  deflateStored,
  postBindingFields,
  redirectBindingUrl,
  SIG_ALG_RSA_SHA256,
} from '../../src/connectors/saml/authn-request.ts';
import { generateSpKeyPair, type SpKeyPair } from '../../src/connectors/saml/keys.ts';
import { spMetadataXml } from '../../src/connectors/saml/sp-metadata.ts';

/**
 * Our AuthnRequest (authn-request.ts) and SP metadata (sp-metadata.ts), built from fixed templates: every value
 * escaped, the redirect binding's DEFLATE and query signature, the POST binding's enveloped signature. The e2e
 * tests (test/e2e/saml-login.test.ts) send them to samlify as the IdP; these check what an IdP would check.
 */

const PROTOCOL_NS = 'urn:oasis:names:tc:SAML:2.0:protocol';
const ASSERTION_NS = 'urn:oasis:names:tc:SAML:2.0:assertion';
const DSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';

const FIELDS: AuthnRequestFields = {
  id: '_0123456789abcdefABCDEF0123456789',
  issueInstant: new Date('2030-01-02T03:04:05.678Z'),
  destination: 'https://idp.example.com/app/sso/saml',
  acsUrl: 'https://gatehouse.example.com/sso/saml/acs/AbCdEfGhIjKlMnOpQrStUv',
  issuer: 'https://gatehouse.example.com/sso/saml/sp/AbCdEfGhIjKlMnOpQrStUv',
};

function parse(xml: string) {
  const errors: string[] = [];
  const doc = new DOMParser({
    onError: (level, message) => void (level !== 'warning' && errors.push(message)),
  }).parseFromString(xml, 'text/xml');
  assert.deepEqual(errors, []);
  const root = doc.documentElement;
  assert.ok(root);
  return { doc, root };
}

/** Every element of the document, as `namespace localName`, in document order. */
function elements(xml: string): string[] {
  const { doc } = parse(xml);
  return Array.from(doc.getElementsByTagName('*'), (e) => `${e.namespaceURI} ${e.localName}`);
}

/** The raw (still encoded) query parameters of a URL, in order. */
function rawQuery(url: string): [string, string][] {
  const search = new URL(url).search.slice(1);
  return search.split('&').map((pair) => {
    const at = pair.indexOf('=');
    return [pair.slice(0, at), pair.slice(at + 1)];
  });
}

let sp: SpKeyPair;
let otherSp: SpKeyPair;
before(async () => {
  sp = await generateSpKeyPair('Gatehouse SAML signing test');
  otherSp = await generateSpKeyPair('Another SP');
});

describe('authnRequestXml: the AuthnRequest from a fixed template', () => {
  it('is the request node-saml wrote for our options, byte for byte', () => {
    assert.equal(
      authnRequestXml({ ...FIELDS, destination: 'https://idp.example.com/sso?a=1&b=2' }),
      '<?xml version="1.0"?><samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ' +
        'ID="_0123456789abcdefABCDEF0123456789" Version="2.0" IssueInstant="2030-01-02T03:04:05.678Z" ' +
        'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" ' +
        'Destination="https://idp.example.com/sso?a=1&amp;b=2" ' +
        'AssertionConsumerServiceURL="https://gatehouse.example.com/sso/saml/acs/AbCdEfGhIjKlMnOpQrStUv">' +
        '<saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">' +
        'https://gatehouse.example.com/sso/saml/sp/AbCdEfGhIjKlMnOpQrStUv</saml:Issuer>' +
        '<samlp:NameIDPolicy xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" AllowCreate="true"/>' +
        '</samlp:AuthnRequest>',
    );
  });

  it('markup injection in each field stays a value: the same three elements, every value read back exactly', () => {
    const hostile = `"/><samlp:Scoping ProxyCount='0'/><x y="&amp;]]>\t\r\n<!-- -->`;
    const cases: Partial<AuthnRequestFields>[] = [
      { id: `_a${hostile}` },
      { destination: `https://idp.example.com/sso?x=${hostile}` },
      { acsUrl: `https://gatehouse.example.com/acs?${hostile}` },
      { issuer: `https://gatehouse.example.com/sp</saml:Issuer><saml:Issuer>${hostile}` },
    ];
    for (const change of cases) {
      const fields = { ...FIELDS, ...change };
      const xml = authnRequestXml(fields);
      assert.deepEqual(
        elements(xml),
        [`${PROTOCOL_NS} AuthnRequest`, `${ASSERTION_NS} Issuer`, `${PROTOCOL_NS} NameIDPolicy`],
        JSON.stringify(change),
      );
      const { root } = parse(xml);
      assert.equal(root.getAttribute('ID'), fields.id);
      assert.equal(root.getAttribute('Destination'), fields.destination);
      assert.equal(root.getAttribute('AssertionConsumerServiceURL'), fields.acsUrl);
      assert.equal(root.getElementsByTagNameNS(ASSERTION_NS, 'Issuer')[0]?.textContent, fields.issuer);
      assert.equal(root.attributes.length, 7, 'no attribute added');
    }
  });

  it('a character XML cannot carry (NUL, a control character, a lone surrogate) is refused, naming the field', () => {
    for (const bad of ['\u0000', '\u0001', '\u001b', '\uD800', '\uFFFE']) {
      assert.throws(
        () => authnRequestXml({ ...FIELDS, destination: `https://idp.example.com/${bad}` }),
        (err: unknown) =>
          err instanceof TypeError && /the IdP's SSO URL \(Destination\) has a character/.test(err.message),
      );
      assert.throws(
        () => authnRequestXml({ ...FIELDS, issuer: `https://sp.example.com/${bad}` }),
        (err: unknown) =>
          err instanceof TypeError && /the SP entity ID \(Issuer\) has a character/.test(err.message),
      );
    }
    // Astral-plane characters are XML characters.
    const { root } = parse(authnRequestXml({ ...FIELDS, issuer: 'https://sp.example.com/😀' }));
    assert.equal(
      root.getElementsByTagNameNS(ASSERTION_NS, 'Issuer')[0]?.textContent,
      'https://sp.example.com/😀',
    );
  });
});

describe('redirectBindingUrl: HTTP-Redirect (saml-bindings §3.4)', () => {
  const xml = authnRequestXml(FIELDS);

  it('unsigned: SAMLRequest (raw DEFLATE, base64) then RelayState, after the IdP URL’s own query, kept as it was', () => {
    const url = redirectBindingUrl(
      'https://idp.example.com/sso?tenant=a%20b&x=%2F#frag',
      xml,
      'st+/=&?ate',
      undefined,
    );
    assert.ok(url.startsWith('https://idp.example.com/sso?tenant=a%20b&x=%2F&SAMLRequest='), url);
    assert.ok(url.endsWith('#frag'));
    const parsed = new URL(url);
    assert.deepEqual([...parsed.searchParams.keys()], ['tenant', 'x', 'SAMLRequest', 'RelayState']);
    assert.equal(parsed.searchParams.get('RelayState'), 'st+/=&?ate');
    const deflated = Buffer.from(parsed.searchParams.get('SAMLRequest') ?? '', 'base64');
    assert.equal(inflateRawSync(deflated).toString('utf8'), xml);
    // Stored blocks: the XML as it is, after a 5-byte block header.
    assert.equal(deflated.length, Buffer.byteLength(xml) + 5);
  });

  it('DEFLATE stored blocks: empty, one byte, exactly 65 535 bytes, and 65 536 and 200 000 bytes over several blocks inflate back', () => {
    for (const size of [0, 1, 0xffff, 0x10000, 200_000]) {
      const data = Buffer.alloc(size, 'é');
      const stored = deflateStored(data);
      assert.equal(stored.length, size + 5 * Math.max(1, Math.ceil(size / 0xffff)), `size ${size}`);
      assert.deepEqual(inflateRawSync(stored), data, `size ${size}`);
    }
  });

  it('a long request (multi-byte characters, past 5 000 bytes) round-trips through a default inflater', () => {
    const long = authnRequestXml({
      ...FIELDS,
      destination: `https://idp.example.com/sso?${'tenant=0123456789&'.repeat(300)}`,
    });
    assert.ok(long.length > 5000);
    const url = redirectBindingUrl('https://idp.example.com/sso', long, 'state', undefined);
    const deflated = Buffer.from(new URL(url).searchParams.get('SAMLRequest') ?? '', 'base64');
    assert.equal(inflateRawSync(deflated).toString('utf8'), long);
  });

  it('signed: SigAlg RSA-SHA256, and the Signature verifies with the SP certificate over exactly the query as sent', () => {
    const key = createPrivateKey(sp.privateKey);
    const relayState = "st!'()*~ +/=&ate";
    const url = redirectBindingUrl('https://idp.example.com/sso?tenant=1', xml, relayState, key);
    const raw = rawQuery(url);
    assert.deepEqual(
      raw.map(([k]) => k),
      ['tenant', 'SAMLRequest', 'RelayState', 'SigAlg', 'Signature'],
    );
    const parsed = new URL(url);
    assert.equal(parsed.searchParams.get('SigAlg'), SIG_ALG_RSA_SHA256);
    assert.equal(parsed.searchParams.get('RelayState'), relayState);
    // §3.4.4.1: the signed octets are `SAMLRequest=…&RelayState=…&SigAlg=…` as they appear in the URL.
    const signed = raw
      .slice(1, 4)
      .map(([k, v]) => `${k}=${v}`)
      .join('&');
    const signature = Buffer.from(parsed.searchParams.get('Signature') ?? '', 'base64');
    const publicKey = new X509Certificate(sp.certificate).publicKey;
    assert.equal(verify('sha256', Buffer.from(signed), publicKey, signature), true);

    // The signature covers each part: a changed RelayState, request or algorithm no longer verifies.
    for (const [name, value] of [
      ['RelayState', 'other'],
      ['SAMLRequest', encodeURIComponent(Buffer.from('x').toString('base64'))],
      ['SigAlg', encodeURIComponent('http://www.w3.org/2000/09/xmldsig#rsa-sha1')],
    ]) {
      const tampered = raw
        .slice(1, 4)
        .map(([k, v]) => `${k}=${k === name ? value : v}`)
        .join('&');
      assert.equal(verify('sha256', Buffer.from(tampered), publicKey, signature), false, name);
    }
    // Another SP's certificate does not verify it.
    const otherKey = new X509Certificate(otherSp.certificate).publicKey;
    assert.equal(verify('sha256', Buffer.from(signed), otherKey, signature), false);
  });
});

describe('postBindingFields: HTTP-POST (saml-bindings §3.5)', () => {
  const xml = authnRequestXml(FIELDS);

  it('unsigned: the XML in base64, not deflated, and the RelayState as it is', () => {
    const fields = postBindingFields(xml, 'st&"<ate', undefined);
    assert.deepEqual(Object.keys(fields), ['SAMLRequest', 'RelayState']);
    assert.equal(Buffer.from(fields.SAMLRequest ?? '', 'base64').toString('utf8'), xml);
    assert.equal(fields.RelayState, 'st&"<ate');
  });

  it('signed: an enveloped RSA-SHA256 signature after the Issuer, by the request ID, that xml-crypto verifies with the SP certificate', () => {
    const fields = postBindingFields(xml, 'state', sp.privateKey);
    const signedXml = Buffer.from(fields.SAMLRequest ?? '', 'base64').toString('utf8');
    const { root } = parse(signedXml);
    assert.deepEqual(
      Array.from(root.childNodes, (n) => (n as unknown as Element).localName),
      ['Issuer', 'Signature', 'NameIDPolicy'],
    );
    const signature = root.getElementsByTagNameNS(DSIG_NS, 'Signature')[0];
    assert.ok(signature);
    const algorithm = (name: string) =>
      signature.getElementsByTagNameNS(DSIG_NS, name)[0]?.getAttribute('Algorithm') ?? null;
    assert.equal(algorithm('SignatureMethod'), SIG_ALG_RSA_SHA256);
    assert.equal(algorithm('DigestMethod'), 'http://www.w3.org/2001/04/xmlenc#sha256');
    assert.equal(algorithm('CanonicalizationMethod'), 'http://www.w3.org/2001/10/xml-exc-c14n#');
    assert.equal(
      signature.getElementsByTagNameNS(DSIG_NS, 'Reference')[0]?.getAttribute('URI'),
      `#${FIELDS.id}`,
    );

    const check = (doc: string, certificate = sp.certificate) => {
      const verifier = new SignedXml({ publicCert: certificate });
      verifier.loadSignature(
        parse(doc).root.getElementsByTagNameNS(DSIG_NS, 'Signature')[0] as unknown as Node,
      );
      try {
        return verifier.checkSignature(doc);
      } catch {
        return false;
      }
    };
    assert.equal(check(signedXml), true);
    // A Destination changed after signing (a request replayed to another IdP) no longer verifies.
    assert.equal(check(signedXml.replace(FIELDS.destination, 'https://rogue.example.com/sso')), false);
    // Nor with another SP's certificate.
    assert.equal(check(signedXml, otherSp.certificate), false);
  });
});

describe('spMetadataXml: our SP metadata from a fixed template', () => {
  it('a hostile entity ID or ACS URL stays a value; certificates go in on one line, under their use', () => {
    const entityId = `https://gh.example.com/sp"/><KeyDescriptor use="signing"><x>`;
    const acsUrl = 'https://gh.example.com/acs?a=1&b="2"';
    const xml = spMetadataXml({ entityId, acsUrl, encryptionCertificate: sp.certificate });
    const { root } = parse(xml);
    assert.equal(root.getAttribute('entityID'), entityId);
    const md = 'urn:oasis:names:tc:SAML:2.0:metadata';
    const descriptor = root.getElementsByTagNameNS(md, 'SPSSODescriptor')[0];
    assert.equal(descriptor?.getAttribute('AuthnRequestsSigned'), 'false');
    assert.equal(descriptor?.getAttribute('WantAssertionsSigned'), 'true');
    const keys = Array.from(root.getElementsByTagNameNS(md, 'KeyDescriptor'));
    assert.deepEqual(
      keys.map((k) => k.getAttribute('use')),
      ['encryption'],
    );
    const cert = root.getElementsByTagNameNS(DSIG_NS, 'X509Certificate')[0]?.textContent ?? '';
    assert.equal(
      new X509Certificate(Buffer.from(cert, 'base64')).fingerprint256,
      new X509Certificate(sp.certificate).fingerprint256,
    );
    assert.equal(
      root.getElementsByTagNameNS(md, 'AssertionConsumerService')[0]?.getAttribute('Location'),
      acsUrl,
    );
  });
});
