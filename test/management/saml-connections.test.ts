import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ConnectionType, NotFoundException } from '@workos-inc/node';
import { DOMParser } from '@xmldom/xmldom';
import xpath from 'xpath';
import { SAML_CONNECTION_TYPES } from '../../src/connectors/saml/attributes.ts';
import { fetchIdpMetadata } from '../../src/connectors/saml/config.ts';
import { createSafeFetch, type FetchLike } from '../../src/lib/safe-fetch.ts';
import { freePort, startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { makeIdp, POST, type TestSamlIdp } from '../helpers/saml-idp.ts';

/**
 * SAML connections through the management API (issue 4): create from each of the three option sources, the
 * 422s for bad metadata, certificates and URLs (each naming the field), draft → validating, partial PUTs that
 * never move acs_url or sp_entity_id, the SP metadata the IT admin loads into the IdP, refresh_metadata, the
 * SP's key pairs (published as certificates, never as private keys), and get/list through the official SDK.
 */

const ACS = /^\/sso\/saml\/acs\/([A-Za-z0-9_-]{22})$/;
const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const DSIG = 'http://www.w3.org/2000/09/xmldsig#';
/**
 * What a private key looks like in PEM, in base64 DER (PKCS#8 and PKCS#1 RSA keys), or as a merely base64-encoded
 * PEM ("-----BEGIN").
 */
const PRIVATE_KEY = /PRIVATE KEY|MIIEv[A-Za-z0-9+/]{5}|MIIEp[A-Za-z0-9+/]{5}|BAQEFAASC|LS0tLS1CRUdJTi/;

/** The `errors` of a 422 body. */
type FieldErrors = { field: string; code: string }[];

function fingerprintOf(pem: string): { sha256: string; not_after: string } {
  const cert = new X509Certificate(pem);
  return { sha256: cert.fingerprint256, not_after: new Date(cert.validTo).toISOString() };
}

/** A PEM certificate as the API gives it back (64-character lines). */
function normalizedPem(pem: string): string {
  const body = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  return `-----BEGIN CERTIFICATE-----\n${(body.match(/.{1,64}/g) ?? []).join('\n')}\n-----END CERTIFICATE-----\n`;
}

/** A samlify IdP (see makeIdp) with a logout endpoint too: samlify warns about IdPs without one. */
function quietIdp(options: Parameters<typeof makeIdp>[0] = {}): Promise<TestSamlIdp> {
  const slo = [
    {
      Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
      Location: 'https://idp.acme.test/saml/slo',
    },
  ];
  return makeIdp({ ...options, settings: { singleLogoutService: slo, ...options.settings } });
}

/** The base64 body of a PEM certificate. */
function certBody(pem: string): string {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}

describe('SAML connections: management API', { timeout: 120_000 }, () => {
  let gh: TestGatehouse;
  /** GATEHOUSE_ALLOW_PRIVATE_URLS=off. */
  let ghPublic: TestGatehouse;
  let orgId: string;
  let idp: TestSamlIdp;
  let postIdp: TestSamlIdp;
  let server: Server;
  let base: string;
  /** path → what the metadata server answers there (`location`: a redirect). */
  const routes = new Map<string, { status: number; body: string; location?: string }>();
  /** Every path the metadata server was asked for. */
  const served: string[] = [];

  before(async () => {
    gh = await startGatehouse();
    ghPublic = await startGatehouse({ env: { GATEHOUSE_ALLOW_PRIVATE_URLS: 'off' } });
    orgId = (await gh.api('POST', '/organizations', { name: 'Acme' })).body.id;
    idp = await quietIdp();
    postIdp = await quietIdp({
      keys: idp.keys,
      binding: POST,
      ssoUrl: 'https://idp.acme.test/saml/sso/post',
    });
    server = createServer((req, res) => {
      served.push(req.url ?? '');
      const route = routes.get(req.url ?? '') ?? { status: 404, body: 'not found' };
      res.writeHead(route.status, {
        'content-type': 'application/samlmetadata+xml',
        ...(route.location ? { location: route.location } : {}),
      });
      res.end(route.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    routes.set('/metadata', { status: 200, body: idp.metadata() });
  });
  after(async () => {
    await gh?.close();
    await ghPublic?.close();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  /** The ACS key of a connection's `acs_url` under this Gatehouse's public URL. */
  function acsKey(acsUrl: unknown, g: TestGatehouse = gh): string {
    assert.equal(typeof acsUrl, 'string');
    const url = acsUrl as string;
    assert.ok(url.startsWith(`${g.url}/`), url);
    const m = ACS.exec(url.slice(g.url.length));
    assert.ok(m?.[1], url);
    return m[1];
  }

  /** The saml_options every response shows for a complete connection to `idp` with default options. */
  function expectedOptions(key: string, over: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      acs_url: `${gh.url}/sso/saml/acs/${key}`,
      sp_entity_id: `${gh.url}/sso/saml/sp/${key}`,
      sp_metadata_url: `${gh.url}/sso/saml/metadata/${key}`,
      idp_entity_id: idp.entityId,
      idp_sso_url: idp.ssoUrl,
      idp_sso_binding: 'redirect',
      idp_metadata_url: null,
      metadata_fetched_at: null,
      idp_certificate_fingerprints: [fingerprintOf(idp.keys.certificate)],
      sign_authn_requests: false,
      encrypt_assertions: false,
      clock_skew_seconds: 180,
      idp_initiated_sso_enabled: true,
      attribute_map: {},
      allow_sha1: false,
      sp_signing_certificate: null,
      sp_encryption_certificate: null,
      ...over,
    };
  }

  const manual = () => ({
    idp_entity_id: idp.entityId,
    idp_sso_url: idp.ssoUrl,
    idp_certificates: [idp.keys.certificate],
  });

  async function create(samlOptions: unknown, type = 'GenericSAML', g: TestGatehouse = gh, org = orgId) {
    return g.api('POST', '/connections', {
      connection_type: type,
      organization_id: org,
      ...(samlOptions === undefined ? {} : { saml_options: samlOptions }),
    });
  }

  /** Asserts a 422 whose errors are exactly `expected` (field and message), and that nothing was created. */
  async function rejects(
    res: { status: number; body: { code: string; errors: FieldErrors } },
    expected: Array<{ field: string; code: string | RegExp }>,
  ) {
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal(res.body.code, 'invalid_request_parameters');
    assert.equal(res.body.errors.length, expected.length, JSON.stringify(res.body.errors));
    expected.forEach((e, i) => {
      const got = res.body.errors[i];
      assert.equal(got?.field, e.field);
      if (typeof e.code === 'string') assert.equal(got?.code, e.code);
      else assert.match(got?.code ?? '', e.code);
    });
  }

  // ---------- create: the three option sources ----------

  describe('create', () => {
    for (const type of [
      'GenericSAML',
      'OktaSAML',
      'AzureSAML',
      'GoogleSAML',
      'ADFSSAML',
      'OneLoginSAML',
      'PingFederateSAML',
      'JumpCloudSAML',
    ]) {
      it(`${type} from idp_entity_id + idp_sso_url + idp_certificates: validating, with what the IT admin pastes into the IdP`, async () => {
        const res = await create(manual(), type);
        assert.equal(res.status, 201, JSON.stringify(res.body));
        const c = res.body;
        const key = acsKey(c.saml_options.acs_url);
        assert.deepEqual(c, {
          object: 'connection',
          id: c.id,
          organization_id: orgId,
          connection_type: type,
          name: `Acme ${type}`,
          state: 'validating',
          status: 'linked',
          domains: [],
          saml_options: expectedOptions(key),
          created_at: c.created_at,
          updated_at: c.created_at,
        });
        assert.deepEqual((await gh.api('GET', `/connections/${c.id}`)).body, c);
        assert.equal((await gh.store.getConnection(c.id))?.externalKey, key);
      });
    }

    it('every SAML flavour WorkOS knows is accepted', async () => {
      for (const type of SAML_CONNECTION_TYPES) {
        const res = await create(manual(), type);
        assert.equal(res.status, 201, `${type}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.connection_type, type);
      }
    });

    it('gives every connection its own ACS URL, entity ID and metadata URL', async () => {
      const a = (await create(manual())).body.saml_options;
      const b = (await create(manual())).body.saml_options;
      assert.notEqual(acsKey(a.acs_url), acsKey(b.acs_url));
      assert.notEqual(a.sp_entity_id, b.sp_entity_id);
      assert.notEqual(a.sp_metadata_url, b.sp_metadata_url);
    });

    it('from idp_metadata_xml (samlify getMetadata): entity ID, SSO URL and binding, certificate', async () => {
      const redirect = await create({ idp_metadata_xml: idp.metadata() }, 'OktaSAML');
      assert.equal(redirect.status, 201, JSON.stringify(redirect.body));
      assert.equal(redirect.body.state, 'validating');
      assert.deepEqual(
        redirect.body.saml_options,
        expectedOptions(acsKey(redirect.body.saml_options.acs_url)),
      );

      const post = await create({ idp_metadata_xml: postIdp.metadata() }, 'OktaSAML');
      assert.equal(post.status, 201, JSON.stringify(post.body));
      assert.deepEqual(
        post.body.saml_options,
        expectedOptions(acsKey(post.body.saml_options.acs_url), {
          idp_sso_url: 'https://idp.acme.test/saml/sso/post',
          idp_sso_binding: 'post',
        }),
      );
    });

    it('from idp_metadata_url (fetched from a loopback server): the URL and when it was fetched', async () => {
      const started = new Date().toISOString();
      const res = await create({ idp_metadata_url: `${base}/metadata` }, 'AzureSAML');
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const fetchedAt = res.body.saml_options.metadata_fetched_at;
      assert.match(fetchedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.ok(fetchedAt >= started);
      assert.deepEqual(
        res.body.saml_options,
        expectedOptions(acsKey(res.body.saml_options.acs_url), {
          idp_metadata_url: `${base}/metadata`,
          metadata_fetched_at: fetchedAt,
        }),
      );
    });

    it('from an idp_metadata_url that redirects (relative and absolute Locations): followed, the given URL kept', async () => {
      routes.set('/moved', { status: 301, body: '', location: '/moved-again' });
      routes.set('/moved-again', { status: 302, body: '', location: `${base}/metadata` });
      const res = await create({ idp_metadata_url: `${base}/moved` });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.deepEqual(
        res.body.saml_options,
        expectedOptions(acsKey(res.body.saml_options.acs_url), {
          idp_metadata_url: `${base}/moved`,
          metadata_fetched_at: res.body.saml_options.metadata_fetched_at,
        }),
      );
    });

    it('several certificates (a rotation), in PEM or bare base64, each with its fingerprint', async () => {
      const second = await quietIdp();
      const res = await create({
        ...manual(),
        idp_certificates: [idp.keys.certificate, certBody(second.keys.certificate)],
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.deepEqual(res.body.saml_options.idp_certificate_fingerprints, [
        fingerprintOf(idp.keys.certificate),
        fingerprintOf(second.keys.certificate),
      ]);
      const stored = await gh.store.getConnection(res.body.id);
      assert.deepEqual(stored?.config.idpCertificates, [
        normalizedPem(idp.keys.certificate),
        normalizedPem(second.keys.certificate),
      ]);
    });

    it('options: clock skew, IdP-initiated off, attribute_map, allow_sha1', async () => {
      const res = await create({
        ...manual(),
        clock_skew_seconds: 30,
        idp_initiated_sso_enabled: false,
        attribute_map: { email: 'mail', groups: 'memberOf', idp_id: 'employeeNumber' },
        allow_sha1: true,
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.deepEqual(
        res.body.saml_options,
        expectedOptions(acsKey(res.body.saml_options.acs_url), {
          clock_skew_seconds: 30,
          idp_initiated_sso_enabled: false,
          attribute_map: { email: 'mail', groups: 'memberOf', idp_id: 'employeeNumber' },
          allow_sha1: true,
        }),
      );
    });
  });

  // ---------- the SP's key pairs ----------

  describe("the SP's key pairs (sign_authn_requests, encrypt_assertions)", () => {
    it('publishes two certificates of its own, never a private key: not in any response, not in plain text in the store', async () => {
      const created = await create(
        { ...manual(), sign_authn_requests: true, encrypt_assertions: true },
        'OktaSAML',
      );
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const o = created.body.saml_options;
      assert.equal(o.sign_authn_requests, true);
      assert.equal(o.encrypt_assertions, true);
      const signing = new X509Certificate(o.sp_signing_certificate);
      const encryption = new X509Certificate(o.sp_encryption_certificate);
      assert.equal(signing.subject, `CN=Gatehouse SAML signing ${created.body.id}`);
      assert.equal(encryption.subject, `CN=Gatehouse SAML encryption ${created.body.id}`);
      assert.notEqual(
        signing.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
        encryption.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
      );
      assert.ok(signing.verify(signing.publicKey), 'self-signed');
      assert.equal(signing.publicKey.asymmetricKeyType, 'rsa');
      assert.equal(signing.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
      assert.ok(new Date(signing.validTo).getTime() > Date.now() + 9 * 365 * 24 * 3600 * 1000);

      const responses = [
        created,
        await gh.api('GET', `/connections/${created.body.id}`),
        await gh.api('GET', `/connections?organization_id=${orgId}&limit=100`),
        await gh.api('PUT', `/connections/${created.body.id}`, { name: 'Acme Okta' }),
      ];
      const spMetadata = await fetch(o.sp_metadata_url);
      for (const res of responses) {
        assert.equal(res.status, 200 + (res === created ? 1 : 0));
        assert.doesNotMatch(JSON.stringify(res.body), PRIVATE_KEY);
      }
      assert.doesNotMatch(await spMetadata.text(), PRIVATE_KEY);

      const stored = await gh.store.getConnection(created.body.id);
      assert.ok(stored);
      assert.doesNotMatch(JSON.stringify(stored), PRIVATE_KEY);
      const config = stored.config as {
        spSigning: { privateKey: string; certificate: string };
        spEncryption: { privateKey: string; certificate: string };
      };
      assert.equal(typeof config.spSigning.privateKey, 'string');
      assert.ok(config.spSigning.privateKey.length > 100, 'a sealed key is stored');
      assert.notEqual(config.spSigning.privateKey, config.spEncryption.privateKey);
      assert.equal(config.spSigning.certificate, o.sp_signing_certificate);
      assert.equal(config.spEncryption.certificate, o.sp_encryption_certificate);
    });

    it('generated once: PUTs that leave them on, or turn them off and on again, keep the same certificates', async () => {
      const created = (await create(manual())).body;
      assert.equal(created.saml_options.sp_signing_certificate, null);
      const on = await gh.api('PUT', `/connections/${created.id}`, {
        saml_options: { sign_authn_requests: true, encrypt_assertions: true },
      });
      assert.equal(on.status, 200, JSON.stringify(on.body));
      const { sp_signing_certificate: signing, sp_encryption_certificate: encryption } = on.body.saml_options;
      assert.match(signing, /^-----BEGIN CERTIFICATE-----\r?\n/);
      assert.match(encryption, /^-----BEGIN CERTIFICATE-----\r?\n/);

      const other = await gh.api('PUT', `/connections/${created.id}`, {
        saml_options: { clock_skew_seconds: 60 },
      });
      assert.equal(other.body.saml_options.sp_signing_certificate, signing);
      assert.equal(other.body.saml_options.sp_encryption_certificate, encryption);

      const off = await gh.api('PUT', `/connections/${created.id}`, {
        saml_options: { sign_authn_requests: false, encrypt_assertions: false },
      });
      assert.equal(off.status, 200);
      assert.equal(off.body.saml_options.sign_authn_requests, false);
      assert.equal(off.body.saml_options.encrypt_assertions, false);
      // Off: the SP metadata no longer offers either certificate to the IdP.
      const metadata = await (await fetch(off.body.saml_options.sp_metadata_url)).text();
      assert.match(metadata, /AuthnRequestsSigned="false"/);
      assert.doesNotMatch(metadata, /KeyDescriptor/);
      const again = await gh.api('PUT', `/connections/${created.id}`, {
        saml_options: { sign_authn_requests: true, encrypt_assertions: true },
      });
      assert.equal(again.body.saml_options.sp_signing_certificate, signing);
      assert.equal(again.body.saml_options.sp_encryption_certificate, encryption);
    });
  });

  // ---------- SP metadata ----------

  describe('SP metadata at sp_metadata_url', () => {
    /** GET sp_metadata_url, parsed. */
    async function spMetadata(url: string) {
      const res = await fetch(url);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/samlmetadata+xml; charset=utf-8');
      const doc = new DOMParser().parseFromString(await res.text(), 'text/xml');
      const select = (expr: string) => xpath.select(expr, doc as unknown as Node) as unknown as Element[];
      const entity = select(`/*[local-name()='EntityDescriptor' and namespace-uri()='${MD}']`);
      assert.equal(entity.length, 1);
      const sp = select(
        `/*[local-name()='EntityDescriptor']/*[local-name()='SPSSODescriptor' and namespace-uri()='${MD}']`,
      );
      assert.equal(sp.length, 1);
      const acs = select("//*[local-name()='SPSSODescriptor']/*[local-name()='AssertionConsumerService']");
      const keys = (use: string) =>
        select(
          `//*[local-name()='SPSSODescriptor']/*[local-name()='KeyDescriptor' and @use='${use}']//*[local-name()='X509Certificate' and namespace-uri()='${DSIG}']`,
        ).map((c) => (c.textContent ?? '').replace(/\s+/g, ''));
      return {
        entityId: entity[0]?.getAttribute('entityID'),
        authnRequestsSigned: sp[0]?.getAttribute('AuthnRequestsSigned'),
        wantAssertionsSigned: sp[0]?.getAttribute('WantAssertionsSigned'),
        acs: acs.map((a) => ({ binding: a.getAttribute('Binding'), location: a.getAttribute('Location') })),
        signing: keys('signing'),
        encryption: keys('encryption'),
        keyDescriptors: select("//*[local-name()='KeyDescriptor']").length,
      };
    }

    it('without signing or encryption: entity ID and ACS URL (HTTP-POST), no key', async () => {
      const o = (await create(manual())).body.saml_options;
      assert.deepEqual(await spMetadata(o.sp_metadata_url), {
        entityId: o.sp_entity_id,
        authnRequestsSigned: 'false',
        wantAssertionsSigned: 'true',
        acs: [{ binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', location: o.acs_url }],
        signing: [],
        encryption: [],
        keyDescriptors: 0,
      });
    });

    it('with signing and encryption: both certificates, each under its use', async () => {
      const o = (await create({ ...manual(), sign_authn_requests: true, encrypt_assertions: true })).body
        .saml_options;
      assert.deepEqual(await spMetadata(o.sp_metadata_url), {
        entityId: o.sp_entity_id,
        authnRequestsSigned: 'true',
        wantAssertionsSigned: 'true',
        acs: [{ binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', location: o.acs_url }],
        signing: [certBody(o.sp_signing_certificate)],
        encryption: [certBody(o.sp_encryption_certificate)],
        keyDescriptors: 2,
      });
    });

    it('only encryption: just the encryption certificate', async () => {
      const o = (await create({ ...manual(), encrypt_assertions: true })).body.saml_options;
      const md = await spMetadata(o.sp_metadata_url);
      assert.equal(md.authnRequestsSigned, 'false');
      assert.deepEqual(md.signing, []);
      assert.deepEqual(md.encryption, [certBody(o.sp_encryption_certificate)]);
    });

    it('is there for a draft too (the IT admin needs it before the IdP is set up); unknown keys and OIDC connections are 404', async () => {
      const draft = (await create(undefined)).body;
      assert.equal(draft.state, 'draft');
      const md = await spMetadata(draft.saml_options.sp_metadata_url);
      assert.equal(md.entityId, draft.saml_options.sp_entity_id);

      const unknown = await fetch(`${gh.url}/sso/saml/metadata/AAAAAAAAAAAAAAAAAAAAAA`);
      assert.equal(unknown.status, 404);
      const oidc = await gh.api('POST', '/connections', {
        connection_type: 'GenericOIDC',
        organization_id: orgId,
        oidc_options: { issuer: 'https://idp.example.com', client_id: 'c', client_secret: 's' },
      });
      const key = /\/sso\/oidc\/callback\/([A-Za-z0-9_-]+)$/.exec(oidc.body.oidc_options.redirect_uri)?.[1];
      assert.ok(key);
      assert.equal((await fetch(`${gh.url}/sso/saml/metadata/${key}`)).status, 404);
    });

    it('is served at the SP entity ID URL as well (IdPs that fetch the entity ID get the same document)', async () => {
      const o = (await create(manual())).body.saml_options;
      const atEntityId = await fetch(o.sp_entity_id);
      assert.equal(atEntityId.status, 200);
      assert.equal(atEntityId.headers.get('content-type'), 'application/samlmetadata+xml; charset=utf-8');
      assert.deepEqual(await spMetadata(o.sp_entity_id), await spMetadata(o.sp_metadata_url));
      assert.equal((await fetch(`${gh.url}/sso/saml/sp/AAAAAAAAAAAAAAAAAAAAAA`)).status, 404);
    });
  });

  // ---------- 422s ----------

  describe('bad options: 422 naming the field, nothing created', () => {
    let count = 0;
    before(async () => {
      count = (await gh.store.listOrganizationConnections(orgId)).length;
    });
    after(async () => {
      // None of these created anything.
      assert.equal((await gh.store.listOrganizationConnections(orgId)).length, count);
    });

    const noCert = () => idp.metadata().replace(/<KeyDescriptor use="signing">.*<\/KeyDescriptor>/, '');

    it('idp_metadata_xml that is not XML', async () => {
      await rejects(await create({ idp_metadata_xml: '<EntityDescriptor entityID="x"><IDPSSODescriptor>' }), [
        {
          field: 'saml_options.idp_metadata_xml',
          code: 'saml_options.idp_metadata_xml is not XML',
        },
      ]);
      await rejects(await create({ idp_metadata_xml: 'not xml at all' }), [
        {
          field: 'saml_options.idp_metadata_xml',
          code: 'saml_options.idp_metadata_xml is not XML',
        },
      ]);
      await rejects(await create({ idp_metadata_xml: 42 }), [
        { field: 'saml_options.idp_metadata_xml', code: 'saml_options.idp_metadata_xml must be a string' },
      ]);
    });

    it('idp_metadata_xml with a DOCTYPE (entity expansion), even an innocent one', async () => {
      const billion = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>${idp.metadata().replace('entityID="', 'entityID="&lol2;')}`;
      const innocent = `<?xml version="1.0"?><!DOCTYPE EntityDescriptor>${idp.metadata()}`;
      for (const xml of [billion, innocent]) {
        await rejects(await create({ idp_metadata_xml: xml }), [
          {
            field: 'saml_options.idp_metadata_xml',
            code: 'saml_options.idp_metadata_xml XML with a DOCTYPE or entity declaration',
          },
        ]);
      }
    });

    it('metadata without a signing certificate, or of no IdP', async () => {
      assert.ok(!noCert().includes('KeyDescriptor'));
      await rejects(await create({ idp_metadata_xml: noCert() }), [
        {
          field: 'saml_options.idp_metadata_xml',
          code: 'saml_options.idp_metadata_xml has no signing certificate (KeyDescriptor use="signing" with an X509Certificate)',
        },
      ]);
      // An encryption-only key is not a signing certificate.
      const encryptionOnly = idp
        .metadata()
        .replace('<KeyDescriptor use="signing">', '<KeyDescriptor use="encryption">');
      await rejects(await create({ idp_metadata_xml: encryptionOnly }), [
        {
          field: 'saml_options.idp_metadata_xml',
          code: 'saml_options.idp_metadata_xml has no signing certificate (KeyDescriptor use="signing" with an X509Certificate)',
        },
      ]);
      // SP metadata pasted by mistake.
      const sp = await (
        await fetch(
          (
            await gh.api('GET', `/connections?organization_id=${orgId}&connection_type=GenericSAML&limit=1`)
          ).body.data[0].saml_options.sp_metadata_url,
        )
      ).text();
      await rejects(await create({ idp_metadata_xml: sp }), [
        {
          field: 'saml_options.idp_metadata_xml',
          code: 'saml_options.idp_metadata_xml has no EntityDescriptor with an IDPSSODescriptor',
        },
      ]);
    });

    it('metadata whose certificate is not a certificate', async () => {
      const body = certBody(idp.keys.certificate);
      const broken = idp.metadata().replace(body, body.replace(/^MII/, 'MIJ').slice(0, -20));
      await rejects(await create({ idp_metadata_xml: broken }), [
        {
          field: 'saml_options.idp_metadata_xml',
          code: /^saml_options\.idp_metadata_xml has a signing certificate that is not a valid X\.509 certificate \(/,
        },
      ]);
    });

    it('idp_certificates: not a certificate, not PEM, empty, too many, not an array', async () => {
      const body = certBody(idp.keys.certificate);
      await rejects(
        await create({
          ...manual(),
          idp_certificates: [
            idp.keys.certificate,
            `-----BEGIN CERTIFICATE-----\n${body.slice(0, 200)}AAAA\n-----END CERTIFICATE-----`,
            'hello',
            idp.keys.privateKey,
          ],
        }),
        [
          {
            field: 'saml_options.idp_certificates[1]',
            code: /^saml_options\.idp_certificates\[1\] is not a valid X\.509 certificate \(/,
          },
          {
            field: 'saml_options.idp_certificates[2]',
            code: 'saml_options.idp_certificates[2] is not a PEM or base64 X.509 certificate',
          },
          {
            field: 'saml_options.idp_certificates[3]',
            code: 'saml_options.idp_certificates[3] is not a PEM or base64 X.509 certificate',
          },
        ],
      );
      for (const value of [
        [],
        Array.from({ length: 11 }, () => idp.keys.certificate),
        idp.keys.certificate,
      ]) {
        await rejects(await create({ ...manual(), idp_certificates: value }), [
          {
            field: 'saml_options.idp_certificates',
            code: 'saml_options.idp_certificates must be an array of 1 to 10 PEM certificates',
          },
        ]);
      }
    });

    it('idp_metadata_url that answers 404 or 500, or cannot be reached', async () => {
      routes.set('/broken', { status: 500, body: 'oops' });
      await rejects(await create({ idp_metadata_url: `${base}/missing` }), [
        { field: 'saml_options.idp_metadata_url', code: 'saml_options.idp_metadata_url answered HTTP 404' },
      ]);
      await rejects(await create({ idp_metadata_url: `${base}/broken` }), [
        { field: 'saml_options.idp_metadata_url', code: 'saml_options.idp_metadata_url answered HTTP 500' },
      ]);
      const closed = await freePort();
      await rejects(await create({ idp_metadata_url: `http://127.0.0.1:${closed}/metadata` }), [
        {
          field: 'saml_options.idp_metadata_url',
          code: 'saml_options.idp_metadata_url could not be fetched: unreachable',
        },
      ]);
    });

    it('port scan through idp_metadata_url: a closed port and a port that is not HTTP get the same 422, without errno, address or port', async () => {
      // An API-key holder sets the URL; were the network error passed on (`connect ECONNREFUSED 10.0.0.7:5432`,
      // `ENOTFOUND`, `other side closed`), each create would probe a host and port from Gatehouse's network.
      const closed = await freePort();
      const notHttp = createNetServer((socket) => socket.destroy());
      await new Promise<void>((resolve) => notHttp.listen(0, '127.0.0.1', resolve));
      try {
        const listening = (notHttp.address() as AddressInfo).port;
        for (const port of [closed, listening]) {
          const res = await create({ idp_metadata_url: `http://127.0.0.1:${port}/metadata` });
          assert.equal(res.status, 422);
          assert.deepEqual(res.body, {
            message: 'Validation failed: saml_options.idp_metadata_url could not be fetched: unreachable',
            code: 'invalid_request_parameters',
            errors: [
              {
                field: 'saml_options.idp_metadata_url',
                code: 'saml_options.idp_metadata_url could not be fetched: unreachable',
              },
            ],
          });
          assert.doesNotMatch(
            JSON.stringify(res.body),
            new RegExp(`E[A-Z]{4,}|127\\.0\\.0\\.1|${port}|closed`),
          );
        }
      } finally {
        await new Promise<void>((resolve) => notHttp.close(() => resolve()));
      }
    });

    it('idp_metadata_url whose metadata is bad: the problem with the fetched document', async () => {
      routes.set('/doctype', { status: 200, body: `<!DOCTYPE x>${idp.metadata()}` });
      routes.set('/nocert', { status: 200, body: noCert() });
      await rejects(await create({ idp_metadata_url: `${base}/doctype` }), [
        {
          field: 'saml_options.idp_metadata_url',
          code: 'saml_options.idp_metadata_url XML with a DOCTYPE or entity declaration',
        },
      ]);
      await rejects(await create({ idp_metadata_url: `${base}/nocert` }), [
        {
          field: 'saml_options.idp_metadata_url',
          code: 'saml_options.idp_metadata_url has no signing certificate (KeyDescriptor use="signing" with an X509Certificate)',
        },
      ]);
    });

    it('idp_metadata_url that redirects more than 5 times', async () => {
      routes.set('/loop', { status: 302, body: '', location: '/loop' });
      const before = served.length;
      await rejects(await create({ idp_metadata_url: `${base}/loop` }), [
        {
          field: 'saml_options.idp_metadata_url',
          code: 'saml_options.idp_metadata_url redirected more than 5 times',
        },
      ]);
      assert.equal(served.length, before + 6);
    });

    it('with GATEHOUSE_ALLOW_PRIVATE_URLS=off, the SSRF guard checks every redirect hop, not only the URL given', async () => {
      // The real guarded fetch of a Gatehouse with private URLs off, behind a stand-in for a public https IdP whose
      // metadata URL redirects to an internal address (the guard refuses loopback, so the first hop is simulated).
      const guarded = createSafeFetch({ allowPrivate: false, timeoutMs: 2000 });
      const asked: string[] = [];
      const publicIdp =
        (to: string): FetchLike =>
        async (url, init) => {
          asked.push(String(url));
          if (String(url) === 'https://idp.example.com/metadata')
            return new Response(null, { status: 302, headers: { location: to } });
          return guarded(url, init);
        };
      const servedBefore = served.length;
      for (const to of [
        `${base}/metadata`,
        `https://127.0.0.1:${new URL(base).port}/metadata`,
        'https://[::ffff:169.254.169.254]/latest/meta-data',
        'https://[::169.254.169.254]/latest/meta-data', // IPv4-compatible
      ]) {
        asked.length = 0;
        assert.deepEqual(await fetchIdpMetadata('https://idp.example.com/metadata', publicIdp(to)), {
          ok: false,
          problems: [
            'could not be fetched: not allowed (only https URLs of public addresses may be fetched)',
          ],
        });
        assert.deepEqual(asked, ['https://idp.example.com/metadata', new URL(to).href]);
      }
      // The internal server was never reached.
      assert.equal(served.length, servedBefore);
    });

    it('not an http(s) URL; http with GATEHOUSE_ALLOW_PRIVATE_URLS=off; a private address over https with it off', async () => {
      await rejects(await create({ idp_metadata_url: 'ftp://idp.example.com/metadata' }), [
        {
          field: 'saml_options.idp_metadata_url',
          code: 'saml_options.idp_metadata_url must be an http(s) URL',
        },
      ]);
      await rejects(await create({ idp_metadata_url: 'metadata.xml' }), [
        {
          field: 'saml_options.idp_metadata_url',
          code: 'saml_options.idp_metadata_url must be an absolute URL',
        },
      ]);
      const publicOrg = (await ghPublic.api('POST', '/organizations', { name: 'Acme' })).body.id;
      await rejects(
        await create({ idp_metadata_url: `${base}/metadata` }, 'GenericSAML', ghPublic, publicOrg),
        [
          {
            field: 'saml_options.idp_metadata_url',
            code: 'saml_options.idp_metadata_url must be an https URL',
          },
        ],
      );
      await rejects(
        await create(
          { ...manual(), idp_sso_url: 'http://idp.acme.test/sso' },
          'GenericSAML',
          ghPublic,
          publicOrg,
        ),
        [{ field: 'saml_options.idp_sso_url', code: 'saml_options.idp_sso_url must be an https URL' }],
      );
      await rejects(
        await create(
          { idp_metadata_url: `https://127.0.0.1:${new URL(base).port}/metadata` },
          'GenericSAML',
          ghPublic,
          publicOrg,
        ),
        [
          {
            field: 'saml_options.idp_metadata_url',
            code: 'saml_options.idp_metadata_url could not be fetched: not allowed (only https URLs of public addresses may be fetched)',
          },
        ],
      );
      assert.deepEqual((await ghPublic.api('GET', '/connections')).body.data, []);
    });

    it('two sources at once', async () => {
      const message =
        'give one of idp_metadata_xml, idp_metadata_url, or idp_entity_id + idp_sso_url + idp_certificates';
      await rejects(
        await create({ idp_metadata_xml: idp.metadata(), idp_metadata_url: `${base}/metadata` }),
        [{ field: 'saml_options.idp_metadata_xml', code: `saml_options.idp_metadata_xml ${message}` }],
      );
      await rejects(await create({ idp_metadata_url: `${base}/metadata`, idp_sso_url: idp.ssoUrl }), [
        { field: 'saml_options.idp_metadata_url', code: `saml_options.idp_metadata_url ${message}` },
      ]);
      await rejects(await create({ ...manual(), idp_metadata_xml: idp.metadata() }), [
        { field: 'saml_options.idp_metadata_xml', code: `saml_options.idp_metadata_xml ${message}` },
      ]);
    });

    it('unknown options, read-only options, and options of another protocol', async () => {
      await rejects(await create({ ...manual(), want_assertions_signed: true, entry_point: 'x' }), [
        {
          field: 'saml_options.want_assertions_signed',
          code: 'saml_options.want_assertions_signed is not a known option',
        },
        { field: 'saml_options.entry_point', code: 'saml_options.entry_point is not a known option' },
      ]);
      const readOnly = [
        'acs_url',
        'sp_entity_id',
        'sp_metadata_url',
        'sp_signing_certificate',
        'sp_encryption_certificate',
        'idp_certificate_fingerprints',
        'metadata_fetched_at',
        'idp_sso_binding',
      ];
      await rejects(
        await create({ ...manual(), ...Object.fromEntries(readOnly.map((k) => [k, 'x'])) }),
        readOnly.map((k) => ({
          field: `saml_options.${k}`,
          code: `saml_options.${k} is read-only: Gatehouse sets it`,
        })),
      );
      const oidc = await gh.api('POST', '/connections', {
        connection_type: 'OktaSAML',
        organization_id: orgId,
        saml_options: manual(),
        oidc_options: { issuer: 'https://idp.example.com' },
      });
      await rejects(oidc, [
        {
          field: 'oidc_options',
          code: 'oidc_options does not apply to connection_type OktaSAML; use saml_options',
        },
      ]);
      await rejects(await create('idp.xml'), [
        { field: 'saml_options', code: 'saml_options must be an object' },
      ]);
    });

    it('bad values of the other options', async () => {
      await rejects(
        await create({
          ...manual(),
          sign_authn_requests: 'yes',
          encrypt_assertions: 1,
          idp_initiated_sso_enabled: null,
          allow_sha1: 'false',
          clock_skew_seconds: 601,
          attribute_map: { email: '', surname: 'sn', groups: 7 },
          idp_entity_id: '',
        }),
        [
          {
            field: 'saml_options.idp_entity_id',
            code: 'saml_options.idp_entity_id must be a non-empty string of at most 1024 characters',
          },
          {
            field: 'saml_options.sign_authn_requests',
            code: 'saml_options.sign_authn_requests must be true or false',
          },
          {
            field: 'saml_options.encrypt_assertions',
            code: 'saml_options.encrypt_assertions must be true or false',
          },
          {
            field: 'saml_options.idp_initiated_sso_enabled',
            code: 'saml_options.idp_initiated_sso_enabled must be true or false',
          },
          { field: 'saml_options.allow_sha1', code: 'saml_options.allow_sha1 must be true or false' },
          {
            field: 'saml_options.clock_skew_seconds',
            code: 'saml_options.clock_skew_seconds must be a whole number from 0 to 600',
          },
          {
            field: 'saml_options.attribute_map.email',
            code: 'saml_options.attribute_map.email must be an attribute name',
          },
          {
            field: 'saml_options.attribute_map.surname',
            code: 'saml_options.attribute_map.surname is not a profile field (idp_id, email, first_name, last_name, name, groups)',
          },
          {
            field: 'saml_options.attribute_map.groups',
            code: 'saml_options.attribute_map.groups must be an attribute name',
          },
        ],
      );
      for (const skew of [-1, 1.5, '60']) {
        await rejects(await create({ ...manual(), clock_skew_seconds: skew }), [
          {
            field: 'saml_options.clock_skew_seconds',
            code: 'saml_options.clock_skew_seconds must be a whole number from 0 to 600',
          },
        ]);
      }
      await rejects(await create({ ...manual(), idp_sso_url: 'javascript:alert(1)' }), [
        { field: 'saml_options.idp_sso_url', code: 'saml_options.idp_sso_url must be an http(s) URL' },
      ]);
    });
  });

  // ---------- draft → validating; PUT ----------

  describe('draft, PUT and refresh_metadata', () => {
    it('missing pieces → draft (unlinked, cannot be activated); completing them with PUT → validating', async () => {
      const created = await create({ idp_entity_id: idp.entityId }, 'OktaSAML');
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.state, 'draft');
      assert.equal(created.body.status, 'unlinked');
      const key = acsKey(created.body.saml_options.acs_url);
      assert.deepEqual(
        created.body.saml_options,
        expectedOptions(key, { idp_sso_url: null, idp_certificate_fingerprints: [] }),
      );

      const activate = await gh.api('POST', `/connections/${created.body.id}/activate`);
      assert.equal(activate.status, 422);
      assert.deepEqual(activate.body, {
        message:
          'The connection cannot be activated until these options are set: saml_options.idp_sso_url, saml_options.idp_certificates.',
        code: 'connection_incomplete',
        errors: [
          { field: 'saml_options.idp_sso_url', code: 'saml_options.idp_sso_url is required' },
          { field: 'saml_options.idp_certificates', code: 'saml_options.idp_certificates is required' },
        ],
      });

      const half = await gh.api('PUT', `/connections/${created.body.id}`, {
        saml_options: { idp_sso_url: idp.ssoUrl },
      });
      assert.equal(half.status, 200);
      assert.equal(half.body.state, 'draft');
      assert.equal(half.body.saml_options.idp_entity_id, idp.entityId);

      const done = await gh.api('PUT', `/connections/${created.body.id}`, {
        saml_options: { idp_certificates: [idp.keys.certificate] },
      });
      assert.equal(done.status, 200);
      assert.equal(done.body.state, 'validating');
      assert.equal(done.body.status, 'linked');
      assert.deepEqual(done.body.saml_options, expectedOptions(key));
    });

    it('no saml_options at all → an empty draft; then the metadata XML completes it', async () => {
      const created = await create(undefined, 'AzureSAML');
      assert.equal(created.status, 201);
      assert.equal(created.body.state, 'draft');
      const key = acsKey(created.body.saml_options.acs_url);
      assert.deepEqual(
        created.body.saml_options,
        expectedOptions(key, { idp_entity_id: null, idp_sso_url: null, idp_certificate_fingerprints: [] }),
      );
      const done = await gh.api('PUT', `/connections/${created.body.id}`, {
        saml_options: { idp_metadata_xml: idp.metadata() },
      });
      assert.equal(done.status, 200);
      assert.equal(done.body.state, 'validating');
      assert.deepEqual(done.body.saml_options, expectedOptions(key));
    });

    it('PUT changes only the given fields; acs_url and sp_entity_id never change', async () => {
      const created = (await create({ idp_metadata_url: `${base}/metadata` }, 'OktaSAML')).body;
      const before = created.saml_options;
      const storedBefore = await gh.store.getConnection(created.id);

      const renamed = await gh.api('PUT', `/connections/${created.id}`, { name: 'Acme Okta' });
      assert.equal(renamed.status, 200);
      assert.equal(renamed.body.name, 'Acme Okta');
      assert.deepEqual(renamed.body.saml_options, before);
      assert.deepEqual((await gh.store.getConnection(created.id))?.config, storedBefore?.config);

      const skew = await gh.api('PUT', `/connections/${created.id}`, {
        saml_options: { clock_skew_seconds: 0, attribute_map: { email: 'mail' } },
      });
      assert.equal(skew.status, 200);
      assert.equal(skew.body.name, 'Acme Okta');
      assert.deepEqual(skew.body.saml_options, {
        ...before,
        clock_skew_seconds: 0,
        attribute_map: { email: 'mail' },
      });

      // New certificates by hand replace the metadata URL as the source.
      const second = await quietIdp();
      const manualCerts = await gh.api('PUT', `/connections/${created.id}`, {
        saml_options: { idp_certificates: [second.keys.certificate] },
      });
      assert.equal(manualCerts.status, 200);
      assert.deepEqual(manualCerts.body.saml_options, {
        ...before,
        clock_skew_seconds: 0,
        attribute_map: { email: 'mail' },
        idp_metadata_url: null,
        metadata_fetched_at: null,
        idp_certificate_fingerprints: [fingerprintOf(second.keys.certificate)],
      });

      // acs_url and sp_entity_id cannot be set, and nothing of a refused PUT is applied.
      const refused = await gh.api('PUT', `/connections/${created.id}`, {
        name: 'Renamed',
        saml_options: {
          acs_url: 'https://evil.example/acs',
          sp_entity_id: 'https://evil.example',
          clock_skew_seconds: 5,
        },
      });
      await rejects(refused, [
        { field: 'saml_options.acs_url', code: 'saml_options.acs_url is read-only: Gatehouse sets it' },
        {
          field: 'saml_options.sp_entity_id',
          code: 'saml_options.sp_entity_id is read-only: Gatehouse sets it',
        },
      ]);
      const after = (await gh.api('GET', `/connections/${created.id}`)).body;
      assert.equal(after.name, 'Acme Okta');
      assert.equal(after.saml_options.clock_skew_seconds, 0);
      assert.equal(after.saml_options.acs_url, before.acs_url);
      assert.equal(after.saml_options.sp_entity_id, before.sp_entity_id);
      assert.equal(after.saml_options.sp_metadata_url, before.sp_metadata_url);

      // A PUT with bad options leaves the connection as it was.
      await rejects(
        await gh.api('PUT', `/connections/${created.id}`, {
          saml_options: { idp_metadata_url: `${base}/missing` },
        }),
        [{ field: 'saml_options.idp_metadata_url', code: 'saml_options.idp_metadata_url answered HTTP 404' }],
      );
      assert.deepEqual((await gh.api('GET', `/connections/${created.id}`)).body, after);

      // The connection_type cannot change, not even to another SAML flavour.
      await rejects(await gh.api('PUT', `/connections/${created.id}`, { connection_type: 'AzureSAML' }), [
        {
          field: 'connection_type',
          code: 'connection_type cannot be changed; create a new connection instead',
        },
      ]);
    });

    it('refresh_metadata re-reads the URL (new certificates); 422 when there is no URL or it fails, keeping what it had', async () => {
      routes.set('/rotating', { status: 200, body: idp.metadata() });
      const created = (await create({ idp_metadata_url: `${base}/rotating` })).body;
      const next = await quietIdp({ entityId: idp.entityId, ssoUrl: 'https://idp.acme.test/saml/sso/v2' });
      routes.set('/rotating', { status: 200, body: next.metadata() });
      const refreshed = await gh.api('POST', `/connections/${created.id}/refresh_metadata`);
      assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
      assert.ok(refreshed.body.saml_options.metadata_fetched_at >= created.saml_options.metadata_fetched_at);
      assert.deepEqual(refreshed.body.saml_options, {
        ...created.saml_options,
        idp_sso_url: 'https://idp.acme.test/saml/sso/v2',
        idp_certificate_fingerprints: [fingerprintOf(next.keys.certificate)],
        metadata_fetched_at: refreshed.body.saml_options.metadata_fetched_at,
      });

      routes.set('/rotating', { status: 200, body: '<EntityDescriptor' });
      const bad = await gh.api('POST', `/connections/${created.id}/refresh_metadata`);
      assert.equal(bad.status, 422);
      assert.deepEqual(
        bad.body.errors.map((e: { field: string }) => e.field),
        ['saml_options.idp_metadata_url'],
      );
      assert.equal(
        bad.body.message,
        'The metadata could not be refreshed (idp_metadata_url is not XML); the previous metadata stays in use.',
      );
      assert.deepEqual(
        (await gh.api('GET', `/connections/${created.id}`)).body.saml_options,
        refreshed.body.saml_options,
      );

      const fromXml = (await create({ idp_metadata_xml: idp.metadata() })).body;
      const none = await gh.api('POST', `/connections/${fromXml.id}/refresh_metadata`);
      assert.equal(none.status, 422);
      assert.deepEqual(none.body, {
        message: 'Only SAML connections configured with idp_metadata_url can refresh their metadata.',
        code: 'invalid_request_parameters',
        errors: [
          { field: 'saml_options.idp_metadata_url', code: 'saml_options.idp_metadata_url is not set' },
        ],
      });
      assert.equal((await gh.api('POST', '/connections/conn_missing/refresh_metadata')).status, 404);
    });
  });

  // ---------- the SDK ----------

  describe('through the official SDK', () => {
    it('sso.getConnection and sso.listConnections show SAML connections', async () => {
      const sdkOrg = (await gh.api('POST', '/organizations', { name: 'SDK Org' })).body.id;
      const okta = (await create(manual(), 'OktaSAML', gh, sdkOrg)).body;
      const draft = (await create(undefined, 'AzureSAML', gh, sdkOrg)).body;

      const got = await gh.workos.sso.getConnection(okta.id);
      assert.deepEqual(got, {
        object: 'connection',
        id: okta.id,
        organizationId: sdkOrg,
        name: 'SDK Org OktaSAML',
        type: 'OktaSAML',
        state: 'validating',
        domains: [],
        createdAt: okta.created_at,
        updatedAt: okta.updated_at,
      });

      const listed = await gh.workos.sso.listConnections({ organizationId: sdkOrg });
      assert.deepEqual(
        listed.data.map((c) => [c.id, c.type, c.state]).sort(),
        [
          [okta.id, 'OktaSAML', 'validating'],
          [draft.id, 'AzureSAML', 'draft'],
        ].sort(),
      );

      const byType = await gh.workos.sso.listConnections({
        organizationId: sdkOrg,
        connectionType: ConnectionType.AzureSAML,
      });
      assert.deepEqual(
        byType.data.map((c) => c.id),
        [draft.id],
      );

      await gh.workos.sso.deleteConnection(draft.id);
      await assert.rejects(gh.workos.sso.getConnection(draft.id), NotFoundException);
      // Its metadata URL is gone with it.
      assert.equal((await fetch(draft.saml_options.sp_metadata_url)).status, 404);
    });
  });

  // ---------- the set-up order of docs/saml.md and the README ----------

  describe('draft first (docs/saml.md "Create a connection")', () => {
    it('POST without saml_options gives the IT admin the SP URLs; PUT idp_metadata_url makes it usable for sign-in; activate is not needed', async () => {
      const org = (await gh.api('POST', '/organizations', { name: 'Draft First Inc' })).body.id;
      const callback = 'http://localhost:3000/draft-first/callback';
      assert.equal((await gh.api('POST', '/redirect_uris', { uri: callback })).status, 201);
      /** Where `/sso/authorize` for this connection sends the browser (the SDK builds the URL). */
      const authorize = async (connection: string) => {
        const url = gh.workos.sso.getAuthorizationUrl({
          clientId: gh.clientId,
          connection,
          redirectUri: callback,
          state: 'draft-first-state',
        });
        const res = await fetch(url, { redirect: 'manual' });
        return { status: res.status, location: new URL(res.headers.get('location') ?? '') };
      };

      // 1. The draft: exactly the documented request, with nothing about the IdP.
      const created = await gh.api('POST', '/connections', {
        organization_id: org,
        connection_type: 'OktaSAML',
        name: 'Acme Okta',
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const draft = created.body;
      assert.equal(draft.state, 'draft');
      assert.equal(draft.status, 'unlinked');
      const key = acsKey(draft.saml_options.acs_url);
      assert.deepEqual(
        draft.saml_options,
        expectedOptions(key, { idp_entity_id: null, idp_sso_url: null, idp_certificate_fingerprints: [] }),
      );

      // 2. What the IT admin is given works already: the SP metadata names the ACS URL and the entity ID.
      const md = await fetch(draft.saml_options.sp_metadata_url);
      assert.equal(md.status, 200);
      const xml = await md.text();
      assert.ok(xml.includes(`entityID="${draft.saml_options.sp_entity_id}"`), xml);
      assert.ok(xml.includes(`Location="${draft.saml_options.acs_url}"`), xml);
      // A draft takes no sign-in yet.
      const early = await authorize(draft.id);
      assert.equal(early.status, 302);
      assert.equal(`${early.location.origin}${early.location.pathname}`, callback);
      assert.equal(early.location.searchParams.get('error'), 'connection_unlinked');
      assert.equal(early.location.searchParams.get('state'), 'draft-first-state');

      // 3. The IdP's metadata URL completes it: validating, linked, the SP URLs unchanged.
      const done = await gh.api('PUT', `/connections/${draft.id}`, {
        saml_options: { idp_metadata_url: `${base}/metadata` },
      });
      assert.equal(done.status, 200, JSON.stringify(done.body));
      assert.equal(done.body.state, 'validating');
      assert.equal(done.body.status, 'linked');
      assert.equal(typeof done.body.saml_options.metadata_fetched_at, 'string');
      assert.deepEqual(
        done.body.saml_options,
        expectedOptions(key, {
          idp_metadata_url: `${base}/metadata`,
          metadata_fetched_at: done.body.saml_options.metadata_fetched_at,
        }),
      );

      // 4. Sign-in starts without an activate call: /sso/authorize hands over to the IdP.
      const ready = await authorize(draft.id);
      assert.equal(ready.status, 302);
      assert.equal(`${ready.location.origin}${ready.location.pathname}`, idp.ssoUrl);
      assert.ok(ready.location.searchParams.get('SAMLRequest'));

      // activate on it changes nothing (it is for a deactivated connection).
      const activated = await gh.api('POST', `/connections/${draft.id}/activate`);
      assert.equal(activated.status, 200);
      assert.deepEqual(activated.body, done.body);
    });
  });
});
