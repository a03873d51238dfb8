import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Profile } from '@workos-inc/node';
import { DOMParser } from '@xmldom/xmldom';
import * as samlify from 'samlify';
import xpath from 'xpath';
import { generateSpKeyPair } from '../../src/connectors/saml/keys.ts';
import { catalog, type ErrorCode } from '../../src/errors/catalog.ts';
import { escapeHtml } from '../../src/http/pages.ts';
import { consentForm, TestBrowser } from '../helpers/browser.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import {
  makeIdp,
  NAMEID_EMAIL,
  POST,
  type ResponseOptions,
  type SamlSetup,
  samlResponse,
  samlResponseWith,
  spFor,
  type TestSamlIdp,
} from '../helpers/saml-idp.ts';

/**
 * SAML sign-in end to end (issue 4): the official WorkOS SDK as the app, a real samlify IdentityProvider as the
 * customer's IdP (it parses Gatehouse's AuthnRequests, verifies their signatures, and signs and encrypts its
 * responses itself), and Gatehouse over real HTTP on loopback, with a cookie-keeping browser between them.
 * SP-initiated with each way an IdP signs, encrypted assertions, signed AuthnRequests and the HTTP-POST binding;
 * the profile per flavour; IdP-initiated sign-in; the IdP's failure statuses; and IdP metadata from XML and
 * from a URL, refreshed by hand and on the schedule when the IdP rotates its certificate.
 */

const APP = 'http://localhost:3000/callback';
/** On the allowlist, not the default. */
const APP_LANDING = 'http://localhost:3000/saml/landing';
const STEP_MS = 20_000;
const ADA = { nameId: 'ada@acme.com', email: 'ada@acme.com' };
const CLAIMS = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims';
const NAMEID_PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';
const SESSION_STAGES = [
  'authorize',
  'upstream_redirect',
  'callback',
  'consent_shown',
  'consent',
  'code_issued',
  'code_redeemed',
];

/** The session log record as GET /sso/sessions presents it (the fields these tests read). */
interface SessionView {
  id: string;
  connection_id: string;
  connection_type: string;
  organization_id: string | null;
  redirect_uri: string;
  outcome: string;
  failed_stage: string | null;
  reason: string | null;
  error: string | null;
  upstream_error: Record<string, unknown> | null;
  detail: Record<string, unknown> | null;
  profile_id: string | null;
  idp_id: string | null;
  email: string | null;
  stages: Record<string, string>;
  request_ids: { authorize: string | null; callback: string | null; consent: string | null };
}

/** The inverse of Gatehouse's escapeHtml (numeric character references). */
function unescapeHtml(s: string): string {
  return s.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)));
}

function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/** Which parts of a base64 SAML response carry a signature, and whether its assertion is encrypted. */
function shapeOf(base64: string): { response: number; assertion: number; encrypted: number } {
  const doc = new DOMParser().parseFromString(Buffer.from(base64, 'base64').toString('utf8'), 'text/xml');
  const count = (expr: string) => (xpath.select(expr, doc as unknown as Node) as unknown[]).length;
  return {
    response: count("/*[local-name()='Response']/*[local-name()='Signature']"),
    assertion: count("/*[local-name()='Response']/*[local-name()='Assertion']/*[local-name()='Signature']"),
    encrypted: count("/*[local-name()='Response']/*[local-name()='EncryptedAssertion']"),
  };
}

/** What samlify's parseLoginRequest reports about an AuthnRequest (the fields these tests read). */
interface ParsedAuthnRequest {
  extract: { request: { id: string; assertionConsumerServiceUrl: string; destination: string } };
  sigAlg: string | null;
}

/**
 * The IdP parses an AuthnRequest from the SP `as` (verifying its signature when the IdP wants signed requests).
 * `req` is samlify's request envelope: `{ query, octetString }` (HTTP-Redirect) or `{ body }` (HTTP-POST).
 */
async function parseAuthnRequest(
  idp: TestSamlIdp,
  as: SamlSetup,
  binding: 'redirect' | 'post',
  req: { query: Record<string, string>; octetString: string } | { body: Record<string, string | undefined> },
): Promise<ParsedAuthnRequest> {
  // samlify types the result as its generic FlowResult; for an AuthnRequest, `extract.request` holds these.
  return (await idp.idp.parseLoginRequest(spFor(as), binding, req as never)) as unknown as ParsedAuthnRequest;
}

/** A loopback HTTP server for IdP metadata: it answers `body` (or `status` when not 200). */
async function startMetadataServer(): Promise<{
  url: string;
  server: Server;
  set(body: string, status?: number): void;
  hits: number;
}> {
  const state = { body: '', status: 200, hits: 0 };
  const server = createServer((_req, res) => {
    state.hits++;
    res.writeHead(state.status, { 'content-type': 'application/samlmetadata+xml' });
    res.end(state.status === 200 ? state.body : 'not here');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/federationmetadata.xml`,
    server,
    set(body: string, status = 200) {
      state.body = body;
      state.status = status;
    },
    get hits() {
      return state.hits;
    },
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

/** IdP metadata that publishes several signing certificates (a rotation's overlap), from samlify. */
function metadataWithCertificates(idp: TestSamlIdp, certificates: string[]): string {
  return samlify
    .IdentityProvider({
      entityID: idp.entityId,
      signingCert: certificates,
      singleSignOnService: [
        { Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', Location: idp.ssoUrl },
      ],
      singleLogoutService: [
        { Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', Location: idp.ssoUrl },
      ],
    })
    .getMetadata();
}

/** A samlify IdP with a logout endpoint too (samlify warns about IdPs without one). */
function idpWith(options: Parameters<typeof makeIdp>[0] = {}): Promise<TestSamlIdp> {
  const ssoUrl = options.ssoUrl ?? 'https://idp.acme.test/saml/sso';
  return makeIdp({
    ...options,
    settings: {
      singleLogoutService: [
        { Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', Location: ssoUrl },
      ],
      ...options.settings,
    },
  });
}

describe('SAML sign-in through the official WorkOS SDK', { timeout: 300_000 }, () => {
  let gh: TestGatehouse;
  /** GATEHOUSE_SIGNIN_CONSENT=off. */
  let ghNoConsent: TestGatehouse;
  /** No redirect URI at all, hence no default one. */
  let ghNoDefault: TestGatehouse;
  /** The IdP most connections use: samlify with its own key pair, HTTP-Redirect binding. */
  let idp: TestSamlIdp;
  let orgId: string;
  let metadataServer: Awaited<ReturnType<typeof startMetadataServer>>;

  const orgs = new Map<TestGatehouse, string>();
  /** Acme (acme.com verified) at `g`: one per Gatehouse, as a domain is verified for one organization only. */
  async function createOrg(g: TestGatehouse): Promise<string> {
    const known = orgs.get(g);
    if (known) return known;
    const org = await g.api('POST', '/organizations', {
      name: 'Acme',
      domain_data: [{ domain: 'acme.com', state: 'verified' }],
    });
    assert.equal(org.status, 201, JSON.stringify(org.body));
    orgs.set(g, org.body.id);
    return org.body.id;
  }

  /** A SAML connection of Acme's to `options.idp` (by entity ID, SSO URL and certificate by default). */
  async function connect(
    options: {
      g?: TestGatehouse;
      org?: string;
      type?: string;
      idp?: TestSamlIdp;
      samlOptions?: Record<string, unknown>;
    } = {},
  ): Promise<SamlSetup> {
    const g = options.g ?? gh;
    const to = options.idp ?? idp;
    const conn = await g.api('POST', '/connections', {
      organization_id: options.org ?? orgId,
      connection_type: options.type ?? 'OktaSAML',
      name: 'Acme SAML',
      saml_options: options.samlOptions ?? {
        idp_entity_id: to.entityId,
        idp_sso_url: to.ssoUrl,
        idp_certificates: [to.keys.certificate],
      },
    });
    assert.equal(conn.status, 201, JSON.stringify(conn.body));
    assert.equal(conn.body.state, 'validating');
    const metadata = await fetch(conn.body.saml_options.sp_metadata_url, {
      signal: AbortSignal.timeout(STEP_MS),
    });
    assert.equal(metadata.status, 200);
    return {
      idp: to,
      orgId: conn.body.organization_id,
      connectionId: conn.body.id,
      acsUrl: conn.body.saml_options.acs_url,
      spEntityId: conn.body.saml_options.sp_entity_id,
      spMetadata: await metadata.text(),
    };
  }

  before(async () => {
    gh = await startGatehouse();
    ghNoConsent = await startGatehouse({ env: { GATEHOUSE_SIGNIN_CONSENT: 'off' } });
    ghNoDefault = await startGatehouse();
    for (const g of [gh, ghNoConsent]) {
      const res = await g.api('POST', '/redirect_uris', { uri: APP });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.body.default, true);
    }
    const landing = await gh.api('POST', '/redirect_uris', { uri: APP_LANDING });
    assert.equal(landing.status, 201);
    assert.equal(landing.body.default, false);
    idp = await idpWith();
    orgId = await createOrg(gh);
    metadataServer = await startMetadataServer();
  });

  after(async () => {
    await gh?.close();
    await ghNoConsent?.close();
    await ghNoDefault?.close();
    if (metadataServer) await closeServer(metadataServer.server);
  });

  // ---------- the browser's steps ----------

  function authorizeUrl(g: TestGatehouse, setup: SamlSetup, state?: string): string {
    return g.workos.sso.getAuthorizationUrl({
      clientId: g.clientId,
      redirectUri: APP,
      connection: setup.connectionId,
      ...(state === undefined ? {} : { state }),
    });
  }

  /**
   * The browser starts an SP-initiated sign-in and is redirected to the IdP (HTTP-Redirect binding); the IdP
   * parses (and, when it wants signed requests, verifies) our AuthnRequest. `as` is the SP as the IdP knows it.
   */
  async function toIdp(
    browser: TestBrowser,
    setup: SamlSetup,
    appState: string,
    g: TestGatehouse = gh,
    as: SamlSetup = setup,
  ) {
    const res = await browser.request(authorizeUrl(g, setup, appState));
    assert.equal(res.status, 302);
    const location = new URL(res.headers.get('location') ?? '');
    assert.equal(`${location.origin}${location.pathname}`, setup.idp.ssoUrl);
    // What a signature covers (saml-bindings §3.4.4.1): the query as sent, without the Signature itself.
    const octetString = location.search
      .slice(1)
      .split('&')
      .filter((p) => !p.startsWith('Signature='))
      .join('&');
    const request = await parseAuthnRequest(setup.idp, as, 'redirect', {
      query: Object.fromEntries(location.searchParams),
      octetString,
    });
    assert.match(request.extract.request.id, /^_[A-Za-z0-9]{32}$/);
    assert.equal(request.extract.request.assertionConsumerServiceUrl, setup.acsUrl);
    const relayState = location.searchParams.get('RelayState') ?? '';
    assert.match(relayState, /^sess_[0-9A-Z]{26}\./);
    return { location, request, relayState };
  }

  /** The browser posts the IdP's response to the ACS (HTTP-POST binding), with the RelayState unless null. */
  function postToAcs(
    browser: TestBrowser,
    setup: SamlSetup,
    response: string,
    relayState: string | null,
  ): Promise<Response> {
    return browser.request(setup.acsUrl, {
      form: { SAMLResponse: response, ...(relayState === null ? {} : { RelayState: relayState }) },
    });
  }

  /** Gatehouse's consent screen for `email`; the user approves; returns where the app gets the browser. */
  async function approve(browser: TestBrowser, g: TestGatehouse, res: Response, email: string): Promise<URL> {
    assert.equal(
      res.status,
      200,
      `expected the consent screen, got ${res.status} ${res.headers.get('location')}`,
    );
    const html = await res.text();
    assert.ok(html.includes(escapeHtml(email)), 'the consent screen names the user');
    assert.ok(html.includes('idp.acme.test'), 'the consent screen names the IdP');
    const approved = await browser.request(`${g.url}/sso/consent`, {
      form: { consent_token: consentForm(html).token, decision: 'approve' },
      headers: { origin: g.url },
    });
    assert.equal(approved.status, 303);
    return new URL(approved.headers.get('location') ?? '');
  }

  /** The app's redirect URI with a code (and the app's state, if it sent one) and our iss. */
  function assertCode(back: URL, appState: string | null, g: TestGatehouse = gh, to = APP): string {
    assert.equal(`${back.origin}${back.pathname}`, to);
    assert.deepEqual(
      [...back.searchParams.keys()].sort(),
      appState === null ? ['code', 'iss'] : ['code', 'iss', 'state'],
    );
    if (appState !== null) assert.equal(back.searchParams.get('state'), appState);
    assert.equal(back.searchParams.get('iss'), g.url);
    const code = back.searchParams.get('code') ?? '';
    assert.match(code, /^[A-Za-z0-9_-]{43}$/);
    return code;
  }

  /** The app redeems the code with the SDK, then reads the profile again with the access token. */
  async function redeem(g: TestGatehouse, code: string): Promise<Profile<Record<string, unknown>>> {
    const { accessToken, profile, oauthTokens } = await g.workos.sso.getProfileAndToken({
      code,
      clientId: g.clientId,
    });
    assert.equal(oauthTokens, undefined);
    assert.match(profile.id, /^prof_[0-9A-Z]{26}$/);
    assert.deepEqual(await g.workos.sso.getProfile({ accessToken }), profile);
    return profile;
  }

  /** The one session log record found by the request ID of `res`. */
  async function sessionOf(res: Response, g: TestGatehouse = gh): Promise<SessionView> {
    const requestId = res.headers.get('x-request-id') ?? '';
    assert.match(requestId, /^req_/);
    const found = await g.api('GET', `/sso/sessions?request_id=${requestId}`);
    assert.equal(found.status, 200);
    assert.equal(found.body.data.length, 1, `one session for ${requestId}`);
    return found.body.data[0] as SessionView;
  }

  /** A 303 (never 302/307) to `to` with exactly the catalog error for `code`, the app's state and our iss. */
  function assertAppError(
    res: Response,
    code: ErrorCode,
    appState: string | null,
    g: TestGatehouse = gh,
    to = APP,
  ) {
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const location = new URL(res.headers.get('location') ?? '');
    assert.equal(`${location.origin}${location.pathname}`, to);
    assert.deepEqual(Object.fromEntries(location.searchParams), {
      error: catalog[code].wire,
      error_description: catalog[code].description,
      ...(appState === null ? {} : { state: appState }),
      iss: g.url,
    });
    assert.equal(
      [...location.searchParams.keys()].length,
      appState === null ? 3 : 4,
      'no repeated parameter',
    );
  }

  /** The whole SP-initiated sign-in with `response` made by `respond`; returns the profile and the ACS answer. */
  async function signIn(
    setup: SamlSetup,
    respond: (request: { extract: unknown }) => Promise<string>,
    email: string,
    appState = 'app-state 1/+',
  ): Promise<{ profile: Profile<Record<string, unknown>>; acs: Response; response: string }> {
    const browser = new TestBrowser();
    const { request, relayState } = await toIdp(browser, setup, appState);
    const response = await respond(request);
    const acs = await postToAcs(browser, setup, response, relayState);
    const back = await approve(browser, gh, acs, email);
    const profile = await redeem(gh, assertCode(back, appState));
    return { profile, acs, response };
  }

  // ---------- SP-initiated ----------

  describe('SP-initiated', () => {
    it('an IdP that signs only the Response (OktaSAML): consent, code, getProfileAndToken, getProfile; the connection goes validating → active; the session log records it', {
      timeout: STEP_MS,
    }, async () => {
      const setup = await connect({ type: 'OktaSAML' });
      assert.equal((await gh.workos.sso.getConnection(setup.connectionId)).state, 'validating');
      const options: ResponseOptions = {
        ...ADA,
        sign: 'response',
        sessionIndex: '_okta_session_1',
        attributes: {
          email: 'ada@acme.com',
          firstName: 'Ada',
          lastName: 'Lovelace',
          groups: ['engineering', 'admins'],
          department: 'R&D <lab>',
        },
      };
      const { profile, acs, response } = await signIn(
        setup,
        (r) => samlResponseWith(setup, r, options),
        ADA.email,
      );
      assert.deepEqual(shapeOf(response), { response: 1, assertion: 0, encrypted: 0 });

      // The whole profile as the SDK gives it to the app (typed loosely: the SDK types `role` as an object).
      assert.deepEqual<Record<string, unknown>>(profile, {
        id: profile.id,
        idpId: 'ada@acme.com',
        organizationId: orgId,
        connectionId: setup.connectionId,
        connectionType: 'OktaSAML',
        email: 'ada@acme.com',
        name: 'Ada Lovelace',
        firstName: 'Ada',
        lastName: 'Lovelace',
        role: null,
        groups: ['engineering', 'admins'],
        customAttributes: {},
        rawAttributes: {
          email: 'ada@acme.com',
          firstName: 'Ada',
          lastName: 'Lovelace',
          groups: ['engineering', 'admins'],
          department: 'R&D <lab>',
          name_id: 'ada@acme.com',
          name_id_format: NAMEID_EMAIL,
          session_index: '_okta_session_1',
          issuer: idp.entityId,
        },
      });
      assert.equal((await gh.workos.sso.getConnection(setup.connectionId)).state, 'active');

      const session = await sessionOf(acs);
      assert.equal(session.outcome, 'succeeded');
      assert.equal(session.connection_id, setup.connectionId);
      assert.equal(session.connection_type, 'OktaSAML');
      assert.equal(session.organization_id, orgId);
      assert.equal(session.redirect_uri, APP);
      assert.equal(session.profile_id, profile.id);
      assert.equal(session.idp_id, 'ada@acme.com');
      assert.equal(session.email, 'ada@acme.com');
      assert.equal(session.failed_stage, null);
      assert.equal(session.reason, null);
      assert.equal(session.error, null);
      assert.equal(session.upstream_error, null);
      for (const stage of SESSION_STAGES)
        assert.match(session.stages[stage] ?? '', /^\d{4}-\d\d-\d\dT/, stage);
      // No response, assertion or code in the log.
      assert.doesNotMatch(JSON.stringify(session), /SAMLResponse|Assertion|Signature|"code"/);
    });

    it("an IdP that signs only the Assertion, Entra's default (AzureSAML): profile from the identity/claims attribute names and the groups claim", {
      timeout: STEP_MS,
    }, async () => {
      const setup = await connect({ type: 'AzureSAML' });
      const attributes = {
        'http://schemas.microsoft.com/identity/claims/tenantid': '72f988bf-86f1-41af-91ab-2d7cd011db47',
        'http://schemas.microsoft.com/identity/claims/objectidentifier':
          '0b7c6e1a-5f3e-4d2b-9a8c-7e6f5d4c3b2a',
        'http://schemas.microsoft.com/identity/claims/displayname': 'Ada King, Countess of Lovelace',
        [`${CLAIMS}/givenname`]: 'Ada',
        [`${CLAIMS}/surname`]: 'Lovelace',
        [`${CLAIMS}/emailaddress`]: 'ada.lovelace@acme.com',
        [`${CLAIMS}/name`]: 'ada@acme.onmicrosoft.com',
        'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups': [
          'a1b2c3d4-0000-4000-8000-000000000001',
          'a1b2c3d4-0000-4000-8000-000000000002',
        ],
      };
      // Entra's NameID is a persistent pairwise identifier by default, not the email.
      const nameId = 'Xq3J9vN_2k5m8Lr0sTzW1yB4cD6eF7gH-iJkLmNoPq0';
      const { profile, response } = await signIn(
        setup,
        (r) =>
          samlResponseWith(setup, r, {
            nameId,
            nameIdFormat: NAMEID_PERSISTENT,
            sign: 'assertion',
            attributes,
          }),
        'ada.lovelace@acme.com',
      );
      assert.deepEqual(shapeOf(response), { response: 0, assertion: 1, encrypted: 0 });
      assert.equal(profile.idpId, nameId);
      assert.equal(profile.email, 'ada.lovelace@acme.com');
      assert.equal(profile.firstName, 'Ada');
      assert.equal(profile.lastName, 'Lovelace');
      assert.equal(profile.name, 'Ada King, Countess of Lovelace');
      assert.deepEqual(profile.groups, [
        'a1b2c3d4-0000-4000-8000-000000000001',
        'a1b2c3d4-0000-4000-8000-000000000002',
      ]);
      assert.equal(profile.connectionType, 'AzureSAML');
      assert.deepEqual(profile.rawAttributes, {
        ...attributes,
        name_id: nameId,
        name_id_format: NAMEID_PERSISTENT,
        session_index: null,
        issuer: idp.entityId,
      });
    });

    it('an IdP that signs both the Response and the Assertion (GenericSAML): profile from the LDAP OID attribute names', {
      timeout: STEP_MS,
    }, async () => {
      const setup = await connect({ type: 'GenericSAML' });
      const { profile, response } = await signIn(
        setup,
        (r) =>
          samlResponseWith(setup, r, {
            nameId: 'grace',
            nameIdFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
            sign: 'both',
            attributes: {
              'urn:oid:0.9.2342.19200300.100.1.3': 'grace@acme.com',
              'urn:oid:2.5.4.42': 'Grace',
              'urn:oid:2.5.4.4': 'Hopper',
              'urn:oid:1.3.6.1.4.1.5923.1.5.1.1': ['navy', 'cobol'],
            },
          }),
        'grace@acme.com',
      );
      assert.deepEqual(shapeOf(response), { response: 1, assertion: 1, encrypted: 0 });
      assert.equal(profile.idpId, 'grace');
      assert.equal(profile.email, 'grace@acme.com');
      assert.equal(profile.firstName, 'Grace');
      assert.equal(profile.lastName, 'Hopper');
      assert.equal(profile.name, 'Grace Hopper');
      assert.deepEqual(profile.groups, ['navy', 'cobol']);
      assert.equal(profile.connectionType, 'GenericSAML');
    });

    it('encrypted assertions: Gatehouse publishes its encryption certificate, the IdP encrypts with RSA-OAEP (SHA-1 key transport) although allow_sha1 is false', {
      timeout: STEP_MS,
    }, async () => {
      const encryptingIdp = await idpWith({ keys: idp.keys, settings: { isAssertionEncrypted: true } });
      const setup = await connect({
        idp: encryptingIdp,
        samlOptions: {
          idp_entity_id: idp.entityId,
          idp_sso_url: idp.ssoUrl,
          idp_certificates: [idp.keys.certificate],
          encrypt_assertions: true,
        },
      });
      const conn = await gh.api('GET', `/connections/${setup.connectionId}`);
      assert.equal(conn.body.saml_options.allow_sha1, false);
      assert.equal(conn.body.saml_options.encrypt_assertions, true);
      const spCert = conn.body.saml_options.sp_encryption_certificate as string;
      // The IdP took the certificate from Gatehouse's SP metadata (samlify encrypts to `use="encryption"`).
      const published = spFor(setup).entityMeta.getX509Certificate('encryption') as string;
      assert.equal(
        new X509Certificate(Buffer.from(published.replace(/\s+/g, ''), 'base64')).fingerprint256,
        fingerprint(spCert),
      );

      for (const sign of ['assertion', 'response'] as const) {
        const { profile, response } = await signIn(
          setup,
          (r) =>
            samlResponseWith(setup, r, {
              ...ADA,
              sign,
              attributes: { email: 'ada@acme.com', firstName: 'Ada' },
            }),
          ADA.email,
        );
        // Signed inside (the assertion) or outside (the Response over the EncryptedAssertion); never in clear.
        assert.deepEqual(shapeOf(response), {
          response: sign === 'response' ? 1 : 0,
          assertion: 0,
          encrypted: 1,
        });
        const xml = Buffer.from(response, 'base64').toString('utf8');
        assert.ok(!xml.includes('ada@acme.com'), 'nothing of the assertion in clear');
        assert.match(
          xml,
          /<e:EncryptionMethod Algorithm="http:\/\/www\.w3\.org\/2001\/04\/xmlenc#rsa-oaep-mgf1p">\s*<DigestMethod Algorithm="http:\/\/www\.w3\.org\/2000\/09\/xmldsig#sha1"\/>/,
        );
        assert.equal(profile.email, 'ada@acme.com');
        assert.equal(profile.firstName, 'Ada');
      }
    });

    it('signed AuthnRequests: the IdP requires them and verifies the signature with the certificate from the SP metadata', {
      timeout: STEP_MS,
    }, async () => {
      const strictIdp = await idpWith({ keys: idp.keys, settings: { wantAuthnRequestsSigned: true } });
      const signed = await connect({
        idp: strictIdp,
        samlOptions: {
          idp_entity_id: idp.entityId,
          idp_sso_url: idp.ssoUrl,
          idp_certificates: [idp.keys.certificate],
          sign_authn_requests: true,
        },
      });
      assert.match(signed.spMetadata, /AuthnRequestsSigned="true"/);

      const browser = new TestBrowser();
      const { location, request, relayState } = await toIdp(browser, signed, 'signed-1');
      assert.deepEqual(
        [...location.searchParams.keys()],
        ['SAMLRequest', 'RelayState', 'SigAlg', 'Signature'],
      );
      assert.equal(location.searchParams.get('SigAlg'), 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');
      assert.equal(request.sigAlg, 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');

      // The IdP really checks: not with another SP's signing certificate, and not unsigned.
      const other = await connect({
        idp: strictIdp,
        samlOptions: {
          idp_entity_id: idp.entityId,
          idp_sso_url: idp.ssoUrl,
          idp_certificates: [idp.keys.certificate],
          sign_authn_requests: true,
        },
      });
      await assert.rejects(
        toIdp(new TestBrowser(), signed, 'x', gh, other),
        /ERR_FAILED_MESSAGE_SIGNATURE_VERIFICATION/,
      );
      const unsigned = await connect({ idp: strictIdp });
      await assert.rejects(toIdp(new TestBrowser(), unsigned, 'x'), /ERR_MISSING_SIG_ALG/);

      const response = await samlResponseWith(signed, request, {
        ...ADA,
        attributes: { email: 'ada@acme.com' },
      });
      const acs = await postToAcs(browser, signed, response, relayState);
      const profile = await redeem(gh, assertCode(await approve(browser, gh, acs, ADA.email), 'signed-1'));
      assert.equal(profile.connectionId, signed.connectionId);
    });

    it('HTTP-POST binding (IdP metadata offering only POST, given as idp_metadata_xml): an auto-posting form whose CSP allows only its script', {
      timeout: STEP_MS,
    }, async () => {
      const postIdp = await idpWith({ keys: idp.keys, binding: POST });
      const setup = await connect({ idp: postIdp, samlOptions: { idp_metadata_xml: postIdp.metadata() } });
      const conn = await gh.api('GET', `/connections/${setup.connectionId}`);
      assert.equal(conn.body.saml_options.idp_sso_binding, 'post');
      assert.equal(conn.body.saml_options.idp_sso_url, postIdp.ssoUrl);

      const browser = new TestBrowser();
      const res = await browser.request(authorizeUrl(gh, setup, 'post-1'));
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('location'), null);
      assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const html = await res.text();
      const scripts = [...html.matchAll(/<script>([^<]*)<\/script>/g)].map((m) => m[1] ?? '');
      assert.equal(scripts.length, 1);
      assert.equal((html.match(/<script/g) ?? []).length, 1);
      const hash = `sha256-${createHash('sha256')
        .update(scripts[0] ?? '')
        .digest('base64')}`;
      assert.equal(
        res.headers.get('content-security-policy'),
        `default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action https://idp.acme.test; frame-ancestors 'none'; base-uri 'none'; script-src '${hash}'`,
      );
      const form = /<form method="post" action="([^"]+)">/.exec(html);
      assert.equal(form?.[1], postIdp.ssoUrl);
      const fields = Object.fromEntries(
        [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [
          m[1],
          unescapeHtml(m[2] ?? ''),
        ]),
      );
      assert.deepEqual(Object.keys(fields), ['SAMLRequest', 'RelayState']);
      assert.match(fields.RelayState ?? '', /^sess_[0-9A-Z]{26}\./);

      // The browser posts the form to the IdP, which parses the AuthnRequest (HTTP-POST binding).
      const request = await parseAuthnRequest(postIdp, setup, 'post', {
        body: { SAMLRequest: fields.SAMLRequest, RelayState: fields.RelayState },
      });
      assert.match(request.extract.request.id, /^_[A-Za-z0-9]{32}$/);
      assert.equal(request.extract.request.assertionConsumerServiceUrl, setup.acsUrl);
      assert.equal(request.extract.request.destination, postIdp.ssoUrl);

      const response = await samlResponseWith(setup, request, {
        ...ADA,
        attributes: { email: 'ada@acme.com' },
      });
      const acs = await postToAcs(browser, setup, response, fields.RelayState ?? '');
      const profile = await redeem(gh, assertCode(await approve(browser, gh, acs, ADA.email), 'post-1'));
      assert.equal(profile.connectionId, setup.connectionId);
      assert.equal(profile.email, 'ada@acme.com');
    });

    it('HTTP-POST binding with signed AuthnRequests: the signature inside the AuthnRequest, verified by an IdP that requires it', {
      timeout: STEP_MS,
    }, async () => {
      const strictPostIdp = await idpWith({
        keys: idp.keys,
        binding: POST,
        settings: { wantAuthnRequestsSigned: true },
      });
      const setup = await connect({
        idp: strictPostIdp,
        samlOptions: { idp_metadata_xml: strictPostIdp.metadata(), sign_authn_requests: true },
      });
      const browser = new TestBrowser();
      const res = await browser.request(authorizeUrl(gh, setup, 'post-signed'));
      assert.equal(res.status, 200);
      const html = await res.text();
      const field = (name: string) =>
        unescapeHtml(
          new RegExp(`<input type="hidden" name="${name}" value="([^"]*)">`).exec(html)?.[1] ?? '',
        );
      const xml = Buffer.from(field('SAMLRequest'), 'base64').toString('utf8');
      // Plain XML (no DEFLATE in the POST binding), signed in place after the Issuer with RSA-SHA256.
      assert.match(xml, /^<\?xml version="1\.0"\?><samlp:AuthnRequest /);
      assert.match(
        xml,
        /<\/saml:Issuer><Signature xmlns="http:\/\/www\.w3\.org\/2000\/09\/xmldsig#"><SignedInfo><CanonicalizationMethod Algorithm="http:\/\/www\.w3\.org\/2001\/10\/xml-exc-c14n#"\/><SignatureMethod Algorithm="http:\/\/www\.w3\.org\/2001\/04\/xmldsig-more#rsa-sha256"\/>/,
      );
      const request = await parseAuthnRequest(strictPostIdp, setup, 'post', {
        body: { SAMLRequest: field('SAMLRequest'), RelayState: field('RelayState') },
      });
      assert.match(request.extract.request.id, /^_[A-Za-z0-9]{32}$/);

      // Another SP's signing certificate does not verify it.
      const other = await connect({
        idp: strictPostIdp,
        samlOptions: { idp_metadata_xml: strictPostIdp.metadata(), sign_authn_requests: true },
      });
      await assert.rejects(
        strictPostIdp.idp.parseLoginRequest(spFor(other), 'post', {
          body: { SAMLRequest: field('SAMLRequest'), RelayState: field('RelayState') },
        } as never),
        /invalid signature: the signature value .* is incorrect/,
      );

      const response = await samlResponseWith(setup, request, {
        ...ADA,
        attributes: { email: 'ada@acme.com' },
      });
      const acs = await postToAcs(browser, setup, response, field('RelayState'));
      const profile = await redeem(gh, assertCode(await approve(browser, gh, acs, ADA.email), 'post-signed'));
      assert.equal(profile.connectionId, setup.connectionId);
    });

    it('attribute_map overrides the flavour defaults per field; raw_attributes keeps everything', {
      timeout: STEP_MS,
    }, async () => {
      const setup = await connect({
        type: 'OktaSAML',
        samlOptions: {
          idp_entity_id: idp.entityId,
          idp_sso_url: idp.ssoUrl,
          idp_certificates: [idp.keys.certificate],
          attribute_map: {
            idp_id: 'employeeNumber',
            email: 'primaryMail',
            first_name: 'gn',
            last_name: 'family',
            groups: 'roles',
          },
        },
      });
      const attributes = {
        employeeNumber: 'E-1815',
        primaryMail: 'ada@acme.com',
        email: 'not-this@acme.com',
        gn: 'Ada',
        firstName: 'NotThis',
        family: 'Lovelace',
        lastName: 'NotThis',
        roles: ['analyst', 'poet'],
        groups: 'not-these',
      };
      const { profile } = await signIn(
        setup,
        (r) => samlResponseWith(setup, r, { nameId: 'ada-nameid@acme.com', attributes }),
        'ada@acme.com',
      );
      assert.equal(profile.idpId, 'E-1815');
      assert.equal(profile.email, 'ada@acme.com');
      assert.equal(profile.firstName, 'Ada');
      assert.equal(profile.lastName, 'Lovelace');
      assert.equal(profile.name, 'Ada Lovelace');
      assert.deepEqual(profile.groups, ['analyst', 'poet']);
      assert.deepEqual(profile.rawAttributes, {
        ...attributes,
        name_id: 'ada-nameid@acme.com',
        name_id_format: NAMEID_EMAIL,
        session_index: null,
        issuer: idp.entityId,
      });
    });

    it('domain policy: an email outside acme.com → 303 profile_not_allowed_outside_organization; no code, the connection stays validating', {
      timeout: STEP_MS,
    }, async () => {
      const setup = await connect();
      const browser = new TestBrowser();
      const { request, relayState } = await toIdp(browser, setup, 'policy-1');
      const response = await samlResponseWith(setup, request, {
        nameId: 'ada@gmail.com',
        attributes: { email: 'ada@gmail.com' },
      });
      const acs = await postToAcs(browser, setup, response, relayState);
      assertAppError(acs, 'email_domain_not_allowed', 'policy-1');
      assert.equal(catalog.email_domain_not_allowed.wire, 'profile_not_allowed_outside_organization');
      const session = await sessionOf(acs);
      assert.equal(session.outcome, 'failed');
      assert.equal(session.failed_stage, 'profile_mapping');
      assert.equal(session.reason, 'email_domain_not_allowed');
      assert.equal(session.error, 'profile_not_allowed_outside_organization');
      assert.deepEqual(session.detail, {
        email_domain: 'gmail.com',
        verified_domains: ['acme.com'],
        organization: orgId,
      });
      assert.equal((await gh.workos.sso.getConnection(setup.connectionId)).state, 'validating');
    });

    it('GATEHOUSE_SIGNIN_CONSENT=off: SP-initiated goes straight back to the app with a 303 and a code', {
      timeout: STEP_MS,
    }, async () => {
      const org = await createOrg(ghNoConsent);
      const setup = await connect({ g: ghNoConsent, org });
      const browser = new TestBrowser();
      const { request, relayState } = await toIdp(browser, setup, 'no-consent', ghNoConsent);
      const response = await samlResponseWith(setup, request, {
        ...ADA,
        attributes: { email: 'ada@acme.com' },
      });
      const acs = await postToAcs(browser, setup, response, relayState);
      assert.equal(acs.status, 303);
      const profile = await redeem(
        ghNoConsent,
        assertCode(new URL(acs.headers.get('location') ?? ''), 'no-consent', ghNoConsent),
      );
      assert.equal(profile.email, 'ada@acme.com');
    });
  });

  // ---------- IdP-initiated ----------

  describe('IdP-initiated', () => {
    let acme: SamlSetup;
    before(async () => {
      acme = await connect();
    });

    /** The IdP's unsolicited response for Ada, with no InResponseTo anywhere. */
    async function unsolicited(setup: SamlSetup, email = ADA.email): Promise<string> {
      const response = await samlResponseWith(setup, null, {
        nameId: email,
        attributes: { email, firstName: 'Ada', lastName: 'Lovelace' },
      });
      assert.ok(!Buffer.from(response, 'base64').toString('utf8').includes('InResponseTo'));
      return response;
    }

    it('without RelayState: the consent screen, then the default redirect URI gets a code (no state) that getProfileAndToken redeems', {
      timeout: STEP_MS,
    }, async () => {
      const browser = new TestBrowser();
      const acs = await postToAcs(browser, acme, await unsolicited(acme), null);
      const back = await approve(browser, gh, acs, ADA.email);
      const profile = await redeem(gh, assertCode(back, null));
      assert.equal(profile.connectionId, acme.connectionId);
      assert.equal(profile.organizationId, orgId);
      assert.equal(profile.email, 'ada@acme.com');
      assert.equal(profile.name, 'Ada Lovelace');

      const session = await sessionOf(acs);
      assert.equal(session.outcome, 'succeeded');
      assert.equal(session.redirect_uri, APP);
      assert.equal(session.profile_id, profile.id);
      assert.deepEqual(session.detail, { idp_initiated: true });
      for (const stage of ['callback', 'consent_shown', 'consent', 'code_issued', 'code_redeemed'])
        assert.match(session.stages[stage] ?? '', /^\d{4}-\d\d-\d\dT/, stage);
    });

    it('the samlify fixture’s own unsolicited response (samlResponse with no request) is accepted too', {
      timeout: STEP_MS,
    }, async () => {
      const browser = new TestBrowser();
      const response = await samlResponse(acme, null, { email: 'ada@acme.com' });
      const acs = await postToAcs(browser, acme, response, null);
      const profile = await redeem(gh, assertCode(await approve(browser, gh, acs, ADA.email), null));
      assert.equal(profile.idpId, 'ada@acme.com');
    });

    it('the consent screen is shown even with GATEHOUSE_SIGNIN_CONSENT=off', {
      timeout: STEP_MS,
    }, async () => {
      const org = await createOrg(ghNoConsent);
      const setup = await connect({ g: ghNoConsent, org });
      const browser = new TestBrowser();
      const acs = await postToAcs(browser, setup, await unsolicited(setup), null);
      const back = await approve(browser, ghNoConsent, acs, ADA.email);
      const profile = await redeem(ghNoConsent, assertCode(back, null, ghNoConsent));
      assert.equal(profile.email, 'ada@acme.com');
    });

    it('RelayState redirect_uri=<allowlisted URI> sends the code there instead of the default', {
      timeout: STEP_MS,
    }, async () => {
      const browser = new TestBrowser();
      const acs = await postToAcs(
        browser,
        acme,
        await unsolicited(acme),
        `redirect_uri=${encodeURIComponent(APP_LANDING)}`,
      );
      const back = await approve(browser, gh, acs, ADA.email);
      const profile = await redeem(gh, assertCode(back, null, gh, APP_LANDING));
      assert.equal(profile.email, 'ada@acme.com');
      assert.equal((await sessionOf(acs)).redirect_uri, APP_LANDING);
    });

    for (const relayState of [
      `redirect_uri=${encodeURIComponent('https://evil.example/callback')}`,
      `redirect_uri=${encodeURIComponent(`${APP}/../steal`)}`,
      'https://app.acme.com/dashboard',
    ]) {
      it(`RelayState "${relayState}" is not an allowlisted redirect_uri: ignored, the default is used`, {
        timeout: STEP_MS,
      }, async () => {
        const browser = new TestBrowser();
        const acs = await postToAcs(browser, acme, await unsolicited(acme), relayState);
        const back = await approve(browser, gh, acs, ADA.email);
        await redeem(gh, assertCode(back, null));
      });
    }

    it('idp_initiated_sso_enabled: false → 303 to the default redirect URI with error=idp_initiated_sso_disabled, connection_id, organization_id and iss only; SP-initiated still works', {
      timeout: STEP_MS,
    }, async () => {
      const setup = await connect({
        samlOptions: {
          idp_entity_id: idp.entityId,
          idp_sso_url: idp.ssoUrl,
          idp_certificates: [idp.keys.certificate],
          idp_initiated_sso_enabled: false,
        },
      });
      const browser = new TestBrowser();
      const acs = await postToAcs(browser, setup, await unsolicited(setup), null);
      assert.equal(acs.status, 303);
      const location = new URL(acs.headers.get('location') ?? '');
      assert.equal(`${location.origin}${location.pathname}`, APP);
      assert.deepEqual(Object.fromEntries(location.searchParams), {
        error: 'idp_initiated_sso_disabled',
        error_description: catalog.idp_initiated_disabled.description,
        connection_id: setup.connectionId,
        organization_id: orgId,
        iss: gh.url,
      });
      assert.equal([...location.searchParams.keys()].length, 5);
      const session = await sessionOf(acs);
      assert.equal(session.outcome, 'failed');
      assert.equal(session.reason, 'idp_initiated_disabled');
      assert.equal(session.error, 'idp_initiated_sso_disabled');
      assert.equal(session.profile_id, null);

      // The app restarts SP-initiated with the connection it was given.
      const { profile } = await signIn(
        setup,
        (r) => samlResponseWith(setup, r, { ...ADA, attributes: { email: 'ada@acme.com' } }),
        ADA.email,
      );
      assert.equal(profile.connectionId, location.searchParams.get('connection_id'));
    });

    it('no default redirect URI configured → the 400 page, no redirect', { timeout: STEP_MS }, async () => {
      const org = await createOrg(ghNoDefault);
      const setup = await connect({ g: ghNoDefault, org });
      const browser = new TestBrowser();
      const res = await postToAcs(browser, setup, await unsolicited(setup), null);
      assert.equal(res.status, 400);
      assert.equal(res.headers.get('location'), null);
      assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
      const html = await res.text();
      assert.ok(html.includes(escapeHtml(catalog.default_redirect_uri_missing.description)));
      assert.ok(html.includes('<code>default_redirect_uri_missing</code>'));
      assert.ok(html.includes(res.headers.get('x-request-id') ?? '<none>'));
    });

    it('an unsolicited response that names a request (InResponseTo) → server_error at the default redirect URI', {
      timeout: STEP_MS,
    }, async () => {
      const browser = new TestBrowser();
      const response = await samlResponseWith(acme, null, {
        ...ADA,
        inResponseTo: '_0123456789abcdef0123456789abcdef',
        attributes: { email: 'ada@acme.com' },
      });
      assert.equal(
        (
          Buffer.from(response, 'base64')
            .toString('utf8')
            .match(/InResponseTo="_0123456789abcdef0123456789abcdef"/g) ?? []
        ).length,
        2,
      );
      const acs = await postToAcs(browser, acme, response, null);
      assertAppError(acs, 'saml_in_response_to_mismatch', null);
      const session = await sessionOf(acs);
      assert.equal(session.outcome, 'failed');
      assert.equal(session.reason, 'saml_in_response_to_mismatch');
      assert.equal(session.profile_id, null);
      assert.equal(session.detail?.idp_initiated, true);
    });
  });

  // ---------- the IdP's failure statuses ----------

  describe("the IdP's SAML status (error-taxonomy §5.5)", () => {
    let acme: SamlSetup;
    before(async () => {
      acme = await connect();
    });

    const cases: Array<{ top: string; second: string; code: ErrorCode; wire: string }> = [
      { top: 'Responder', second: 'AuthnFailed', code: 'upstream_authn_failed', wire: 'access_denied' },
      { top: 'Responder', second: 'RequestDenied', code: 'upstream_policy_denied', wire: 'access_denied' },
      { top: 'Responder', second: 'UnknownPrincipal', code: 'upstream_wrong_account', wire: 'access_denied' },
      { top: 'Responder', second: 'NoPassive', code: 'upstream_interaction_required', wire: 'server_error' },
      {
        top: 'Requester',
        second: 'RequestUnsupported',
        code: 'upstream_request_rejected',
        wire: 'server_error',
      },
    ];
    for (const c of cases) {
      it(`${c.top}/${c.second} → ${c.wire} (${c.code}); the raw status in the session log`, {
        timeout: STEP_MS,
      }, async () => {
        assert.equal(catalog[c.code].wire, c.wire);
        const browser = new TestBrowser();
        const appState = `status-${c.code}`;
        const { request, relayState } = await toIdp(browser, acme, appState);
        const message = `AADSTS50105: ${c.second} for <ada@acme.com>. Trace ID: 3c1f0b5e`;
        const response = await samlResponseWith(acme, request, {
          ...ADA,
          status: { top: c.top, second: c.second, message },
        });
        // A real failure: a signed Response, its status, and no assertion.
        assert.deepEqual(shapeOf(response), { response: 1, assertion: 0, encrypted: 0 });
        const xml = Buffer.from(response, 'base64').toString('utf8');
        assert.ok(!xml.includes('Assertion'));
        assert.ok(
          xml.includes(
            `<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:${c.top}"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:${c.second}"/></samlp:StatusCode>`,
          ),
        );

        const acs = await postToAcs(browser, acme, response, relayState);
        assertAppError(acs, c.code, appState);
        const visible = decodeURIComponent(acs.headers.get('location') ?? '') + (await acs.text());
        for (const leak of ['AADSTS', 'Trace ID', c.second, 'ada@acme.com'])
          assert.ok(!visible.includes(leak), leak);

        const session = await sessionOf(acs);
        assert.equal(session.outcome, 'failed');
        assert.equal(session.failed_stage, 'upstream_error');
        assert.equal(session.reason, c.code);
        assert.equal(session.error, c.wire);
        assert.deepEqual(session.upstream_error, {
          status: c.top,
          sub_status: c.second,
          status_message: message,
          signed: true,
        });
        assert.equal(session.profile_id, null);
      });
    }

    it('an unsigned failure status on a sign-in this browser started: the error reaches the app, logged as unsigned and capped', {
      timeout: STEP_MS,
    }, async () => {
      // Many IdPs do not sign error responses. Bound to this browser's RelayState and cookie, such a status can
      // only end this sign-in with an error; the session log marks it unsigned and keeps at most 512 characters.
      const browser = new TestBrowser();
      const { request, relayState } = await toIdp(browser, acme, 'status-unsigned');
      const message = `Access denied. ${'x'.repeat(2_000)}`;
      const signed = await samlResponseWith(acme, request, {
        ...ADA,
        status: { top: 'Responder', second: 'RequestDenied', message },
      });
      const xml = Buffer.from(signed, 'base64')
        .toString('utf8')
        .replace(/<ds:Signature[\s\S]*<\/ds:Signature>/, '');
      assert.ok(!xml.includes('Signature'));
      const acs = await postToAcs(browser, acme, Buffer.from(xml).toString('base64'), relayState);
      assertAppError(acs, 'upstream_policy_denied', 'status-unsigned');
      const session = await sessionOf(acs);
      assert.equal(session.reason, 'upstream_policy_denied');
      assert.deepEqual(session.upstream_error, {
        status: 'Responder',
        sub_status: 'RequestDenied',
        status_message: message.slice(0, 512),
        signed: false,
      });
    });
  });

  // ---------- IdP metadata ----------

  describe('IdP metadata', () => {
    it('from idp_metadata_xml (samlify getMetadata): entity ID, SSO URL and certificate, then a sign-in', {
      timeout: STEP_MS,
    }, async () => {
      const setup = await connect({ samlOptions: { idp_metadata_xml: idp.metadata() } });
      const conn = await gh.api('GET', `/connections/${setup.connectionId}`);
      assert.equal(conn.body.saml_options.idp_entity_id, idp.entityId);
      assert.equal(conn.body.saml_options.idp_sso_url, idp.ssoUrl);
      assert.equal(conn.body.saml_options.idp_sso_binding, 'redirect');
      assert.deepEqual(
        conn.body.saml_options.idp_certificate_fingerprints.map((f: { sha256: string }) => f.sha256),
        [fingerprint(idp.keys.certificate)],
      );
      const { profile } = await signIn(
        setup,
        (r) => samlResponseWith(setup, r, { ...ADA, attributes: { email: 'ada@acme.com' } }),
        ADA.email,
      );
      assert.equal(profile.connectionId, setup.connectionId);
    });

    it('from idp_metadata_url, then a certificate rotation: refresh_metadata picks up the new certificate, the old one is rejected once it is gone', {
      timeout: 60_000,
    }, async () => {
      const oldIdp = await idpWith({ entityId: 'https://idp.rotating.test/metadata' });
      const newIdp = await idpWith({
        entityId: oldIdp.entityId,
        keys: await generateSpKeyPair('Test IdP 2'),
      });
      const oldFp = fingerprint(oldIdp.keys.certificate);
      const newFp = fingerprint(newIdp.keys.certificate);
      metadataServer.set(metadataWithCertificates(oldIdp, [oldIdp.keys.certificate]));
      const hits = metadataServer.hits;
      const setup = await connect({ idp: oldIdp, samlOptions: { idp_metadata_url: metadataServer.url } });
      assert.equal(metadataServer.hits, hits + 1);
      const fingerprints = async () =>
        (
          await gh.api('GET', `/connections/${setup.connectionId}`)
        ).body.saml_options.idp_certificate_fingerprints.map((f: { sha256: string }) => f.sha256);
      assert.deepEqual(await fingerprints(), [oldFp]);

      /** A sign-in whose response `by` signs. */
      const signInBy = (by: TestSamlIdp) =>
        signIn(
          { ...setup, idp: by },
          (r) =>
            samlResponseWith({ ...setup, idp: by }, r, { ...ADA, attributes: { email: 'ada@acme.com' } }),
          ADA.email,
        );
      await signInBy(oldIdp);

      // The overlap: the IdP publishes both certificates; until refreshed, Gatehouse only knows the old one.
      metadataServer.set(
        metadataWithCertificates(oldIdp, [oldIdp.keys.certificate, newIdp.keys.certificate]),
      );
      const before = (await gh.api('GET', `/connections/${setup.connectionId}`)).body.saml_options
        .metadata_fetched_at;
      const refreshed = await gh.api('POST', `/connections/${setup.connectionId}/refresh_metadata`);
      assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
      assert.deepEqual(
        refreshed.body.saml_options.idp_certificate_fingerprints.map((f: { sha256: string }) => f.sha256),
        [oldFp, newFp],
      );
      assert.ok(refreshed.body.saml_options.metadata_fetched_at > before);
      await signInBy(newIdp);
      await signInBy(oldIdp);

      // The old certificate leaves the metadata.
      metadataServer.set(metadataWithCertificates(oldIdp, [newIdp.keys.certificate]));
      assert.equal((await gh.api('POST', `/connections/${setup.connectionId}/refresh_metadata`)).status, 200);
      assert.deepEqual(await fingerprints(), [newFp]);
      await signInBy(newIdp);

      const browser = new TestBrowser();
      const { request, relayState } = await toIdp(browser, setup, 'rotated');
      const response = await samlResponseWith({ ...setup, idp: oldIdp }, request, {
        ...ADA,
        attributes: { email: 'ada@acme.com' },
      });
      const acs = await postToAcs(browser, setup, response, relayState);
      assertAppError(acs, 'saml_signature_invalid', 'rotated');
      const session = await sessionOf(acs);
      assert.equal(session.outcome, 'failed');
      assert.equal(session.reason, 'saml_signature_invalid');
      assert.equal(session.profile_id, null);
      assert.deepEqual(session.detail?.expected_certificates, [newFp]);
      assert.deepEqual(session.detail?.received_certificates, [oldFp]);
      assert.equal(session.detail?.stage, 'saml_validation');
      assert.match(String(session.detail?.reason), /signature/i);

      // A metadata URL that fails keeps the metadata in use.
      metadataServer.set('', 503);
      const failed = await gh.api('POST', `/connections/${setup.connectionId}/refresh_metadata`);
      assert.equal(failed.status, 422);
      assert.deepEqual(
        failed.body.errors.map((e: { field: string }) => e.field),
        ['saml_options.idp_metadata_url'],
      );
      assert.deepEqual(await fingerprints(), [newFp]);
      await signInBy(newIdp);
    });

    it('the schedule (GATEHOUSE_SAML_METADATA_REFRESH_MINUTES=1, its interval driven by mock timers) picks up a rotation; a failing fetch keeps the previous metadata', {
      timeout: 60_000,
    }, async (t) => {
      // Only setInterval is mocked: the schedule's timer. Dates, timeouts and I/O stay real.
      t.mock.timers.enable({ apis: ['setInterval'] });
      const scheduled = await startGatehouse({ env: { GATEHOUSE_SAML_METADATA_REFRESH_MINUTES: '1' } });
      const server = await startMetadataServer();
      try {
        assert.equal((await scheduled.api('POST', '/redirect_uris', { uri: APP })).status, 201);
        const org = await createOrg(scheduled);
        const oldIdp = await idpWith({ entityId: 'https://idp.scheduled.test/metadata' });
        const newIdp = await idpWith({
          entityId: oldIdp.entityId,
          keys: await generateSpKeyPair('Test IdP 3'),
        });
        server.set(metadataWithCertificates(oldIdp, [oldIdp.keys.certificate]));
        const setup = await connect({
          g: scheduled,
          org,
          idp: oldIdp,
          samlOptions: { idp_metadata_url: server.url },
        });
        const options = async () =>
          (await scheduled.api('GET', `/connections/${setup.connectionId}`)).body.saml_options as {
            idp_certificate_fingerprints: { sha256: string }[];
            metadata_fetched_at: string;
          };
        const first = await options();

        /** Advances the schedule by one period and waits (bounded) for its fetch to be answered and applied. */
        const tick = async (until: (o: Awaited<ReturnType<typeof options>>) => boolean) => {
          const hits = server.hits;
          t.mock.timers.tick(60_000);
          const deadline = Date.now() + 5_000;
          while (Date.now() < deadline) {
            if (server.hits > hits && until(await options())) return;
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
          assert.fail('the scheduled refresh did not happen within 5 s');
        };

        server.set(metadataWithCertificates(oldIdp, [newIdp.keys.certificate]));
        await tick((o) => o.metadata_fetched_at !== first.metadata_fetched_at);
        const second = await options();
        assert.deepEqual(
          second.idp_certificate_fingerprints.map((f) => f.sha256),
          [fingerprint(newIdp.keys.certificate)],
        );

        // The connector in use took the new certificate: an unsolicited response signed with the new key.
        const browser = new TestBrowser();
        const response = await samlResponseWith({ ...setup, idp: newIdp }, null, {
          ...ADA,
          attributes: { email: 'ada@acme.com' },
        });
        const acs = await postToAcs(browser, setup, response, null);
        await redeem(
          scheduled,
          assertCode(await approve(browser, scheduled, acs, ADA.email), null, scheduled),
        );

        // The IdP's metadata URL fails: the schedule keeps what it had.
        server.set('', 500);
        const hits = server.hits;
        t.mock.timers.tick(60_000);
        const deadline = Date.now() + 5_000;
        while (server.hits === hits && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.equal(server.hits, hits + 1);
        // Let the refresh finish with its failure before looking.
        await new Promise((r) => setTimeout(r, 100));
        assert.deepEqual(await options(), second);
      } finally {
        await scheduled.close();
        await closeServer(server.server);
      }
    });
  });
});
