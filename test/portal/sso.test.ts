import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import forge from 'node-forge';
import { consentForm, TestBrowser } from '../helpers/browser.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { startIdp, type TestIdp } from '../helpers/oidc-idp.ts';
import {
  makeIdp,
  type ResponseOptions,
  type SamlSetup,
  samlResponseWith,
  spFor,
  type TestSamlIdp,
} from '../helpers/saml-idp.ts';
import {
  csrfOf,
  errorCode,
  fieldError,
  heading,
  openPortal,
  type PortalAdmin,
  pageText,
  postMultipart,
  startConnection,
} from './portal-session.ts';

/**
 * The Admin Portal's `sso` intent over HTTP (issue 11), with real peers: the official WorkOS SDK as the app, a
 * samlify IdentityProvider and oidc-provider as the customer's IdPs, and a cookie-keeping browser as the IT admin.
 * Organizations tampering with each other's connections, CSRF on every form, the IdP's side given badly or with
 * hostile content (SSRF, oversized and hostile uploads, bad or expired certificates, an OIDC issuer without
 * discovery), and test sign-in: success, the IdP's error, attribute mapping, activation, then the app's sign-in.
 */

const APP = 'http://localhost:3000/callback';
const STEP_MS = 30_000;
const ADA: ResponseOptions = {
  nameId: 'ada@acme.com',
  attributes: {
    email: 'ada@acme.com',
    firstName: 'Ada',
    lastName: 'Lovelace',
    groups: ['engineering', 'admins'],
    department: 'R&D',
    nickname: '<script>alert(1)</script>',
  },
};

/** An organization with `domain` verified (so that its users' profiles are accepted). */
async function createOrg(gh: TestGatehouse, name: string, domain: string): Promise<string> {
  const org = await gh.api('POST', '/organizations', {
    name,
    domain_data: [{ domain, state: 'verified' }],
  });
  assert.equal(org.status, 201, JSON.stringify(org.body));
  return org.body.id;
}

/** The value the connection page shows for `key` (ACS URL, entity ID, …). */
function shownValue(html: string, key: string): string {
  const value = new RegExp(`id="v-${key}" type="text" readonly value="([^"]*)"`).exec(html)?.[1];
  assert.ok(value, `the page shows ${key}`);
  return pageText(value);
}

/** The connection page of `id` in `admin`'s session. */
async function connectionPage(gh: TestGatehouse, admin: PortalAdmin, id: string): Promise<string> {
  const res = await admin.browser.request(`${gh.url}/portal/sso/connections/${id}`);
  assert.equal(res.status, 200);
  return res.text();
}

/** The connection as the management API shows it (what an app, or the developer, sees). */
async function apiConnection(gh: TestGatehouse, id: string): Promise<Record<string, unknown>> {
  const res = await gh.api('GET', `/connections/${id}`);
  assert.equal(res.status, 200);
  return res.body;
}

/** Uploads `idp`'s metadata for connection `id` (multipart, as the browser sends the file form). */
async function uploadMetadata(gh: TestGatehouse, admin: PortalAdmin, id: string, idp: TestSamlIdp) {
  const res = await postMultipart(admin, `${gh.url}/portal/sso/connections/${id}/idp`, [
    ['csrf', admin.csrf],
    ['source', 'metadata_file'],
    ['metadata_file', { content: idp.metadata(), filename: 'okta-metadata.xml' }],
  ]);
  assert.equal(res.status, 303, pageText(await res.text()).slice(0, 400));
  assert.equal(res.headers.get('location'), `/portal/sso/connections/${id}?saved=1`);
}

/** What a samlify IdP needs to know of the connection, read off the portal page as the IT admin would. */
async function setupFromPage(
  gh: TestGatehouse,
  admin: PortalAdmin,
  id: string,
  orgId: string,
  idp: TestSamlIdp,
): Promise<SamlSetup> {
  const html = await connectionPage(gh, admin, id);
  const acsUrl = shownValue(html, 'acs_url');
  const spEntityId = shownValue(html, 'sp_entity_id');
  assert.match(acsUrl, new RegExp(`^${gh.url}/sso/saml/acs/`));
  // Okta's guide shows the ACS URL and the entity ID; the SP metadata is served at the entity ID too.
  const metadata = await fetch(spEntityId);
  assert.equal(metadata.status, 200);
  return { idp, orgId, connectionId: id, acsUrl, spEntityId, spMetadata: await metadata.text() };
}

/** The browser arrives at the IdP with an AuthnRequest (HTTP-Redirect); the IdP parses it. */
async function atIdp(setup: SamlSetup, res: Response) {
  assert.equal(res.status, 302, `a redirect to the IdP, got ${res.status}`);
  const location = new URL(res.headers.get('location') ?? '');
  assert.equal(`${location.origin}${location.pathname}`, setup.idp.ssoUrl);
  const octetString = location.search
    .slice(1)
    .split('&')
    .filter((p) => !p.startsWith('Signature='))
    .join('&');
  const request = (await setup.idp.idp.parseLoginRequest(spFor(setup), 'redirect', {
    query: Object.fromEntries(location.searchParams),
    octetString,
  } as never)) as { extract: unknown };
  return { request, relayState: location.searchParams.get('RelayState') ?? '' };
}

/** Gatehouse's consent screen (if shown) approved: where the browser goes next. */
async function throughConsent(gh: TestGatehouse, browser: TestBrowser, res: Response): Promise<URL> {
  if (res.status === 200) {
    const approved = await browser.request(`${gh.url}/sso/consent`, {
      form: { consent_token: consentForm(await res.text()).token, decision: 'approve' },
      headers: { origin: gh.url },
    });
    assert.equal(approved.status, 303);
    return new URL(approved.headers.get('location') ?? '', gh.url);
  }
  assert.equal(res.status, 303, `consent or a redirect, got ${res.status}`);
  return new URL(res.headers.get('location') ?? '', gh.url);
}

/** The "Test sign-in" link of a connection page (with its CSRF token). */
function testLink(gh: TestGatehouse, html: string): URL {
  const href = /href="([^"]*\/test\?csrf=[^"]+)"/.exec(html)?.[1];
  assert.ok(href, 'the page has a Test sign-in link');
  return new URL(href.replace(/&amp;/g, '&'), gh.url);
}

/**
 * A SAML test sign-in from the portal: the Test sign-in link, the IdP's answer (made by `respond`) posted to the
 * ACS, the consent screen if any; returns the URL of the result page and the page.
 */
async function samlTestSignIn(
  gh: TestGatehouse,
  admin: PortalAdmin,
  setup: SamlSetup,
  respond: (request: { extract: unknown }) => Promise<string>,
): Promise<{ resultUrl: URL; res: Response; html: string }> {
  const html = await connectionPage(gh, admin, setup.connectionId);
  const started = await admin.browser.request(testLink(gh, html));
  const { request, relayState } = await atIdp(setup, started);
  const acs = await admin.browser.request(setup.acsUrl, {
    form: { SAMLResponse: await respond(request), RelayState: relayState },
  });
  const resultUrl = await throughConsent(gh, admin.browser, acs);
  assert.equal(`${resultUrl.origin}${resultUrl.pathname}`, `${gh.url}/portal/sso/test/result`);
  const res = await admin.browser.request(resultUrl);
  return { resultUrl, res, html: await res.text() };
}

/** The rows of the result page's table under the heading `title`: name → value. */
function tableAfter(html: string, title: RegExp): Record<string, string> {
  const start = html.search(title);
  assert.ok(start !== -1, `the page has ${title}`);
  const table = /<tbody>([\s\S]*?)<\/tbody>/.exec(html.slice(start))?.[1] ?? '';
  const rows: Record<string, string> = {};
  for (const m of table.matchAll(/<tr><td><code>([^<]*)<\/code><\/td><td>([^<]*)<\/td><\/tr>/g)) {
    rows[pageText(m[1] ?? '')] = pageText(m[2] ?? '');
  }
  return rows;
}

/** The app signs a user in through `getAuthorizationUrl({ organization })` and reads the profile with the SDK. */
async function appSamlSignIn(gh: TestGatehouse, setup: SamlSetup, user: ResponseOptions) {
  const browser = new TestBrowser();
  const url = gh.workos.sso.getAuthorizationUrl({
    clientId: gh.clientId,
    redirectUri: APP,
    organization: setup.orgId,
    state: 'app-state',
  });
  const { request, relayState } = await atIdp(setup, await browser.request(url));
  const acs = await browser.request(setup.acsUrl, {
    form: { SAMLResponse: await samlResponseWith(setup, request, user), RelayState: relayState },
  });
  const back = await throughConsent(gh, browser, acs);
  assert.equal(`${back.origin}${back.pathname}`, APP);
  assert.equal(back.searchParams.get('state'), 'app-state');
  return gh.workos.sso.getProfileAndToken({
    code: back.searchParams.get('code') ?? '',
    clientId: gh.clientId,
  });
}

/** Where `/sso/authorize` sends the app's browser for `selector` (no IdP involved). */
async function authorizeAnswer(
  gh: TestGatehouse,
  selector: { organization: string } | { connection: string },
) {
  const res = await fetch(
    gh.workos.sso.getAuthorizationUrl({ clientId: gh.clientId, redirectUri: APP, state: 's1', ...selector }),
    { redirect: 'manual' },
  );
  return { status: res.status, location: new URL(res.headers.get('location') ?? '', gh.url) };
}

/** A self-signed certificate valid from `notBefore` to `notAfter` (node-forge, as src/connectors/saml/keys.ts). */
function certificate(notBefore: Date, notAfter: Date): string {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  cert.serialNumber = '01';
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  const subject = [{ name: 'commonName', value: 'Expired IdP' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.sign(forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/** A loopback HTTP server that counts requests and answers 404 to each (an IdP without discovery; an XXE sink). */
async function startSink(): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server: Server = createServer((_req, res) => {
    hits++;
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not here');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits: () => hits,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('Admin Portal, SSO intent, over HTTP', { timeout: 300_000 }, () => {
  let gh: TestGatehouse;
  /** GATEHOUSE_ALLOW_PRIVATE_URLS=off: the SSRF guard as in production. */
  let ghStrict: TestGatehouse;
  let sink: Awaited<ReturnType<typeof startSink>>;

  before(async () => {
    gh = await startGatehouse();
    ghStrict = await startGatehouse({ env: { GATEHOUSE_ALLOW_PRIVATE_URLS: 'off' } });
    assert.equal((await gh.api('POST', '/redirect_uris', { uri: APP })).status, 201);
    sink = await startSink();
  });
  after(async () => {
    await gh?.close();
    await ghStrict?.close();
    await sink?.close();
  });

  // ---------- two organizations ----------

  describe('organization A tampering with organization B', () => {
    let a: PortalAdmin;
    let b: PortalAdmin;
    let aConnection: string;
    let bConnection: string;
    let bSetup: SamlSetup;

    before(async () => {
      const aOrg = await createOrg(gh, 'Initech', 'initech.example');
      const bOrg = await createOrg(gh, 'Globex', 'globex.example');
      a = await openPortal(gh, aOrg);
      b = await openPortal(gh, bOrg);
      aConnection = await startConnection(gh, a, 'okta-saml');
      bConnection = await startConnection(gh, b, 'okta-saml');
      const idp = await makeIdp({ entityId: 'https://idp.globex.example/saml' });
      await uploadMetadata(gh, b, bConnection, idp);
      bSetup = await setupFromPage(gh, b, bConnection, bOrg, idp);
      assert.equal((await apiConnection(gh, bConnection)).state, 'inactive');
    });

    /** The 404 page of a connection that is not the session's organization's; names nothing of B's. */
    async function assertNotFound(res: Response): Promise<void> {
      assert.equal(res.status, 404);
      assert.equal(res.headers.get('location'), null);
      const html = await res.text();
      assert.equal(heading(html), 'Connection not found');
      assert.equal(errorCode(html), 'portal_connection_not_found');
      assert.ok(!html.includes('Globex'), 'names no other organization');
      assert.ok(!html.includes(bSetup.acsUrl), "shows none of B's values");
    }

    it("A's session reading B's connection page, or one that is no organization's: 404", async () => {
      await assertNotFound(await a.browser.request(`${gh.url}/portal/sso/connections/${bConnection}`));
      await assertNotFound(
        await a.browser.request(`${gh.url}/portal/sso/connections/conn_01ZZZZZZZZZZZZZZZZZZZZZZZZ`),
      );
      // An environment-wide provider connection (the app's, not any organization's).
      const google = await gh.api('POST', '/connections', {
        connection_type: 'GoogleOAuth',
        oauth_options: { client_id: 'google-client.apps.googleusercontent.com', client_secret: 'secret' },
      });
      assert.equal(google.status, 201, JSON.stringify(google.body));
      await assertNotFound(await a.browser.request(`${gh.url}/portal/sso/connections/${google.body.id}`));
    });

    it("A's session posting B's connection ID to idp (urlencoded and multipart), attributes, activate, test: 404, B unchanged", async () => {
      const before = await apiConnection(gh, bConnection);
      const evil = await makeIdp({ entityId: 'https://evil.example/saml' });
      const base = `${gh.url}/portal/sso/connections/${bConnection}`;
      await assertNotFound(
        await a.browser.request(`${base}/idp`, {
          form: {
            csrf: a.csrf,
            source: 'manual',
            idp_sso_url: 'https://evil.example/sso',
            idp_entity_id: evil.entityId,
            idp_certificate: evil.keys.certificate,
          },
        }),
      );
      await assertNotFound(
        await postMultipart(a, `${base}/idp`, [
          ['csrf', a.csrf],
          ['source', 'metadata_file'],
          ['metadata_file', { content: evil.metadata(), filename: 'evil.xml' }],
        ]),
      );
      await assertNotFound(
        await a.browser.request(`${base}/attributes`, { form: { csrf: a.csrf, email: 'attacker_email' } }),
      );
      await assertNotFound(await a.browser.request(`${base}/activate`, { form: { csrf: a.csrf } }));
      await assertNotFound(await a.browser.request(`${base}/test?csrf=${encodeURIComponent(a.csrf)}`));
      assert.deepEqual(await apiConnection(gh, bConnection), before, 'B is unchanged');
      assert.equal((await apiConnection(gh, bConnection)).state, 'inactive');
      // A's own connection is where A's posts land.
      assert.equal((await apiConnection(gh, aConnection)).state, 'draft');
    });

    it("B's test result opened in A's session (a state of another session): 400, and B's result is not used up", async () => {
      const user: ResponseOptions = {
        nameId: 'grace@globex.example',
        attributes: { email: 'grace@globex.example' },
      };
      const html = await connectionPage(gh, b, bConnection);
      const started = await b.browser.request(testLink(gh, html));
      const { request, relayState } = await atIdp(bSetup, started);
      const acs = await b.browser.request(bSetup.acsUrl, {
        form: { SAMLResponse: await samlResponseWith(bSetup, request, user), RelayState: relayState },
      });
      const resultUrl = await throughConsent(gh, b.browser, acs);
      assert.ok(resultUrl.searchParams.get('code'));

      const stolen = await a.browser.request(resultUrl);
      assert.equal(stolen.status, 400);
      const page = await stolen.text();
      assert.equal(heading(page), 'This test result is not yours');
      assert.equal(errorCode(page), 'portal_test_state_invalid');
      assert.ok(!page.includes('grace@globex.example'));

      // A state of the right shape with a forged MAC: the same.
      const forged = new URL(resultUrl);
      const [requestId] = (forged.searchParams.get('state') ?? '').split('.');
      forged.searchParams.set('state', `${requestId}.${'A'.repeat(22)}`);
      const tampered = await b.browser.request(forged);
      assert.equal(tampered.status, 400);
      assert.equal(errorCode(await tampered.text()), 'portal_test_state_invalid');

      const own = await b.browser.request(resultUrl);
      assert.equal(own.status, 200);
      const ownHtml = await own.text();
      assert.equal(heading(ownHtml), 'Test sign-in succeeded');
      assert.equal(tableAfter(ownHtml, /The profile the application gets/).email, 'grace@globex.example');
    });
  });

  // ---------- the link's intent ----------

  it("a domain_verification link does not open the SSO pages: 403 on each, the organization's connection unchanged", async () => {
    const orgId = await createOrg(gh, 'Dunder Mifflin', 'dundermifflin.example');
    const sso = await openPortal(gh, orgId);
    const connection = await startConnection(gh, sso, 'okta-saml');
    await uploadMetadata(
      gh,
      sso,
      connection,
      await makeIdp({ entityId: 'https://idp.dundermifflin.example' }),
    );
    const before = await apiConnection(gh, connection);

    const { link } = await gh.workos.adminPortal.generateLink({
      organization: orgId,
      intent: 'domain_verification' as never,
    });
    const dns = new TestBrowser();
    const launched = await dns.request(link);
    assert.equal(launched.status, 303);
    const domains = await dns.request(`${gh.url}/portal/domains`);
    assert.equal(domains.status, 200);
    const csrf = csrfOf(await domains.text());

    const base = `${gh.url}/portal/sso/connections/${connection}`;
    const evil = await makeIdp({ entityId: 'https://evil.example/saml' });
    for (const [what, res] of [
      ['choose', await dns.request(`${gh.url}/portal/sso/choose`)],
      ['start', await dns.request(`${gh.url}/portal/sso/start`, { form: { csrf, guide: 'generic-oidc' } })],
      ['connection page', await dns.request(base)],
      [
        'idp',
        await dns.request(`${base}/idp`, {
          form: {
            csrf,
            source: 'manual',
            idp_sso_url: 'https://evil.example/sso',
            idp_entity_id: evil.entityId,
            idp_certificate: evil.keys.certificate,
          },
        }),
      ],
      ['attributes', await dns.request(`${base}/attributes`, { form: { csrf, email: 'attacker' } })],
      ['activate', await dns.request(`${base}/activate`, { form: { csrf } })],
      ['test', await dns.request(`${base}/test?csrf=${encodeURIComponent(csrf)}`)],
    ] as const) {
      assert.equal(res.status, 403, what);
      const html = await res.text();
      assert.equal(heading(html), 'This setup link is not for single sign-on', what);
      assert.equal(errorCode(html), 'portal_intent_mismatch', what);
    }
    assert.deepEqual(await apiConnection(gh, connection), before, 'unchanged');
    const all = await gh.api('GET', `/connections?organization_id=${orgId}`);
    assert.equal(all.body.data.length, 1, 'no connection created');
    assert.equal((await gh.api('GET', `/sso/sessions?connection_id=${connection}`)).body.data.length, 0);
  });

  // ---------- CSRF ----------

  describe('CSRF on every form', () => {
    let admin: PortalAdmin;
    let other: PortalAdmin;
    let orgId: string;
    let connection: string;

    before(async () => {
      orgId = await createOrg(gh, 'Umbrella', 'umbrella.example');
      admin = await openPortal(gh, orgId);
      other = await openPortal(gh, orgId);
      assert.notEqual(admin.csrf, other.csrf);
      connection = await startConnection(gh, admin, 'okta-saml');
      await uploadMetadata(
        gh,
        admin,
        connection,
        await makeIdp({ entityId: 'https://idp.umbrella.example' }),
      );
    });

    /** The 403 page; nothing changed. */
    async function assertRefused(res: Response, what: string): Promise<void> {
      assert.equal(res.status, 403, what);
      assert.equal(res.headers.get('location'), null, what);
      const html = await res.text();
      assert.equal(heading(html), 'This form has expired', what);
      assert.equal(errorCode(html), 'portal_csrf_invalid', what);
    }

    const tokens = (): [string, string | undefined][] => [
      ['missing', undefined],
      ['wrong', 'not-the-token'],
      ['empty', ''],
      ["another session's", other.csrf],
    ];

    it('start, idp (urlencoded and multipart), attributes, activate, and the test link: 403 without this session’s token, nothing changed', async () => {
      const before = await apiConnection(gh, connection);
      const count = async () =>
        (await gh.api('GET', `/connections?organization_id=${orgId}`)).body.data.length;
      const connections = await count();
      const evil = await makeIdp({ entityId: 'https://evil.example/saml' });
      const base = `${gh.url}/portal/sso/connections/${connection}`;
      const withToken = (token: string | undefined, form: Record<string, string>) =>
        token === undefined ? form : { ...form, csrf: token };
      for (const [name, token] of tokens()) {
        await assertRefused(
          await admin.browser.request(`${gh.url}/portal/sso/start`, {
            form: withToken(token, { guide: 'generic-oidc' }),
          }),
          `start, ${name}`,
        );
        await assertRefused(
          await admin.browser.request(`${base}/idp`, {
            form: withToken(token, {
              source: 'manual',
              idp_sso_url: 'https://evil.example/sso',
              idp_entity_id: evil.entityId,
              idp_certificate: evil.keys.certificate,
            }),
          }),
          `idp urlencoded, ${name}`,
        );
        await assertRefused(
          await postMultipart(admin, `${base}/idp`, [
            ...(token === undefined ? [] : [['csrf', token] as [string, string]]),
            ['source', 'metadata_file'],
            ['metadata_file', { content: evil.metadata(), filename: 'evil.xml' }],
          ]),
          `idp multipart, ${name}`,
        );
        await assertRefused(
          await admin.browser.request(`${base}/attributes`, {
            form: withToken(token, { email: 'attacker' }),
          }),
          `attributes, ${name}`,
        );
        await assertRefused(
          await admin.browser.request(`${base}/activate`, { form: withToken(token, {}) }),
          `activate, ${name}`,
        );
        await assertRefused(
          await admin.browser.request(
            `${base}/test${token === undefined ? '' : `?csrf=${encodeURIComponent(token)}`}`,
          ),
          `test link, ${name}`,
        );
      }
      assert.deepEqual(await apiConnection(gh, connection), before, 'the connection is unchanged');
      assert.equal(await count(), connections, 'no connection was created');
      const sessions = await gh.api('GET', `/sso/sessions?connection_id=${connection}`);
      assert.equal(sessions.body.data.length, 0, 'no sign-in was started');
    });

    it("a token sent twice (this session's and another's) is refused too", async () => {
      const res = await fetch(`${gh.url}/portal/sso/connections/${connection}/activate`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          cookie: admin.browser.cookieHeader(new URL(`${gh.url}/portal/`)),
        },
        body: new URLSearchParams([
          ['csrf', admin.csrf],
          ['csrf', other.csrf],
        ]).toString(),
        redirect: 'manual',
      });
      await assertRefused(res, 'repeated csrf');
      assert.equal((await apiConnection(gh, connection)).state, 'inactive');
    });
  });

  // ---------- the IdP's side ----------

  describe("the IdP's side, given badly or with hostile content", () => {
    /** A new Okta SAML connection in a new session of `g`. */
    async function draft(g: TestGatehouse, name: string): Promise<{ admin: PortalAdmin; id: string }> {
      const org = await g.api('POST', '/organizations', { name });
      const admin = await openPortal(g, org.body.id);
      return { admin, id: await startConnection(g, admin, 'okta-saml') };
    }

    it('SSRF: metadata URLs at loopback, private, link-local and IPv6-embedded addresses are refused with a fixed reason; nothing saved', async () => {
      const { admin, id } = await draft(ghStrict, 'Hooli');
      const refused =
        'The metadata URL could not be fetched: not allowed (only https URLs of public addresses may be fetched).';
      for (const url of [
        'https://127.0.0.1/metadata',
        'https://127.0.0.1:9/metadata',
        'https://localhost/metadata',
        'https://10.0.0.1/metadata',
        'https://192.168.1.1/metadata',
        'https://169.254.169.254/latest/meta-data/',
        'https://[::1]/metadata',
        'https://[::ffff:127.0.0.1]/metadata',
        'https://[::127.0.0.1]/metadata',
      ]) {
        const res = await admin.browser.request(`${ghStrict.url}/portal/sso/connections/${id}/idp`, {
          form: { csrf: admin.csrf, source: 'metadata_url', idp_metadata_url: url },
        });
        assert.equal(res.status, 422, url);
        const html = await res.text();
        assert.equal(fieldError(html, 'metadata-url'), refused, url);
        for (const internal of ['ECONN', 'EHOSTUNREACH', 'ENOTFOUND', 'connect ', 'errno', 'stack'])
          assert.ok(!pageText(html).includes(internal), `${url}: no ${internal}`);
      }
      const http = await admin.browser.request(`${ghStrict.url}/portal/sso/connections/${id}/idp`, {
        form: { csrf: admin.csrf, source: 'metadata_url', idp_metadata_url: `${sink.url}/metadata` },
      });
      assert.equal(http.status, 422);
      assert.equal(fieldError(await http.text(), 'metadata-url'), 'The metadata URL must be an https URL.');
      assert.equal(sink.hits(), 0, 'nothing was fetched');
      assert.equal((await apiConnection(ghStrict, id)).state, 'draft');
    });

    it('an upload over 1 MiB: 413 page with the message by the field, nothing saved', async () => {
      const { admin, id } = await draft(gh, 'Massive Dynamic');
      const res = await postMultipart(admin, `${gh.url}/portal/sso/connections/${id}/idp`, [
        ['csrf', admin.csrf],
        ['source', 'metadata_file'],
        ['metadata_file', { content: `<a>${'x'.repeat(1024 * 1024)}</a>`, filename: 'huge.xml' }],
      ]);
      assert.equal(res.status, 413);
      const html = await res.text();
      assert.equal(
        fieldError(html, 'metadata-file'),
        'The metadata file is larger than 1024 KiB: it cannot be a SAML metadata document of one identity provider.',
      );
      assert.equal(heading(html), 'Connect Okta Not set up');
      assert.equal((await apiConnection(gh, id)).state, 'draft');
    });

    it('an upload that is not the form the page sends (two files, too many fields): 400 by the field, nothing saved', async () => {
      const { admin, id } = await draft(gh, 'Cyberdyne');
      const idp = await makeIdp();
      const url = `${gh.url}/portal/sso/connections/${id}/idp`;
      const file = { content: idp.metadata(), filename: 'okta.xml' };
      for (const fields of [
        [
          ['csrf', admin.csrf],
          ['source', 'metadata_file'],
          ['metadata_file', file],
          ['metadata_file', file],
        ],
        [
          ['csrf', admin.csrf],
          ['source', 'metadata_file'],
          ...Array.from({ length: 12 }, (_, i) => [`extra${i}`, 'x']),
          ['metadata_file', file],
        ],
      ] as Parameters<typeof postMultipart>[2][]) {
        const res = await postMultipart(admin, url, fields);
        assert.equal(res.status, 400);
        assert.equal(
          fieldError(await res.text(), 'metadata-file'),
          'The upload could not be read: choose one metadata file and try again.',
        );
      }
      assert.equal((await apiConnection(gh, id)).state, 'draft');
    });

    it('hostile uploads: XXE, billion laughs, deep nesting, not XML, not metadata: each a message by the field, nothing fetched, nothing saved', async () => {
      const { admin, id } = await draft(gh, 'Soylent');
      const cases: [string, string, string][] = [
        [
          'XXE (external entity)',
          `<?xml version="1.0"?><!DOCTYPE md [<!ENTITY xxe SYSTEM "${sink.url}/xxe">]><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&xxe;"/>`,
          'The metadata file is refused: it is XML with a DOCTYPE or entity declaration.',
        ],
        [
          'billion laughs',
          `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">${Array.from(
            { length: 9 },
            (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i || ''};`.repeat(10)}">`,
          ).join('')}]><lolz>&lol9;</lolz>`,
          'The metadata file is refused: it is XML with a DOCTYPE or entity declaration.',
        ],
        [
          'deep nesting',
          `${'<a>'.repeat(5000)}${'</a>'.repeat(5000)}`,
          'The metadata file is refused: it is XML nested deeper than 64 elements.',
        ],
        ['not XML', '{"entityID": "https://idp.example"}', 'The metadata file is not XML.'],
        [
          'XML that is not IdP metadata',
          '<html><body>Sign in</body></html>',
          'The metadata file has no EntityDescriptor with an IDPSSODescriptor.',
        ],
      ];
      for (const [name, content, message] of cases) {
        const started = process.cpuUsage();
        const res = await postMultipart(admin, `${gh.url}/portal/sso/connections/${id}/idp`, [
          ['csrf', admin.csrf],
          ['source', 'metadata_file'],
          ['metadata_file', { content, filename: 'metadata.xml' }],
        ]);
        const html = await res.text();
        const cpu = process.cpuUsage(started);
        assert.equal(res.status, 422, name);
        assert.equal(fieldError(html, 'metadata-file'), message, name);
        assert.ok((cpu.user + cpu.system) / 1000 < 1000, `${name}: small work`);
        assert.ok(!html.includes('root:'), `${name}: no file read`);
      }
      assert.equal(sink.hits(), 0, 'the external entity was never fetched');
      assert.equal((await apiConnection(gh, id)).state, 'draft');
    });

    it('a wrong certificate by hand: 422 by the field, nothing saved', async () => {
      const { admin, id } = await draft(gh, 'Wonka');
      const post = (certificate: string) =>
        admin.browser.request(`${gh.url}/portal/sso/connections/${id}/idp`, {
          form: {
            csrf: admin.csrf,
            source: 'manual',
            idp_sso_url: 'https://idp.wonka.example/sso',
            idp_entity_id: 'https://idp.wonka.example',
            idp_certificate: certificate,
          },
        });
      const text = await post('this is not a certificate');
      assert.equal(text.status, 422);
      const html = await text.text();
      assert.equal(
        fieldError(html, 'idp_certificate'),
        'The certificate is not a PEM or base64 X.509 certificate.',
      );
      // What the admin typed stays in the form (no re-typing), except a secret.
      assert.ok(html.includes('value="https://idp.wonka.example/sso"'));
      const garbage = await post(
        `-----BEGIN CERTIFICATE-----\n${Buffer.alloc(300, 7).toString('base64')}\n-----END CERTIFICATE-----`,
      );
      assert.equal(garbage.status, 422);
      assert.equal(
        fieldError(await garbage.text(), 'idp_certificate'),
        'The certificate is not a valid X.509 certificate.',
      );
      const missing = await post('');
      assert.equal(missing.status, 422);
      assert.equal(fieldError(await missing.text(), 'idp_certificate'), 'Paste the signing certificate.');
      assert.equal((await apiConnection(gh, id)).state, 'draft');
    });

    it('an expired certificate by hand: saved, and the doctor reports it expired', async () => {
      const { admin, id } = await draft(gh, 'Tyrell');
      const expiredOn = new Date(Date.now() - 30 * 24 * 60 * 60 * 1000);
      const res = await admin.browser.request(`${gh.url}/portal/sso/connections/${id}/idp`, {
        form: {
          csrf: admin.csrf,
          source: 'manual',
          idp_sso_url: 'https://idp.tyrell.example/sso',
          idp_entity_id: 'https://idp.tyrell.example',
          idp_certificate: certificate(new Date(Date.now() - 400 * 24 * 60 * 60 * 1000), expiredOn),
        },
      });
      assert.equal(res.status, 303);
      assert.equal((await apiConnection(gh, id)).state, 'inactive');
      const html = await connectionPage(gh, admin, id);
      const text = pageText(html);
      assert.ok(
        text.includes(`Okta's signing certificate expired on ${expiredOn.toISOString().slice(0, 10)}.`),
        text,
      );
      assert.ok(text.includes('Create or activate a new signing certificate in Okta'));
    });

    it('OIDC with an issuer that serves no discovery document: saved, and the doctor says what to fix', async () => {
      const org = await gh.api('POST', '/organizations', { name: 'Vandelay' });
      const admin = await openPortal(gh, org.body.id);
      const id = await startConnection(gh, admin, 'generic-oidc');
      const res = await admin.browser.request(`${gh.url}/portal/sso/connections/${id}/idp`, {
        form: {
          csrf: admin.csrf,
          source: 'oidc',
          issuer: sink.url,
          client_id: 'client',
          client_secret: 'secret',
        },
      });
      assert.equal(res.status, 303, pageText(await res.text()).slice(0, 300));
      const text = pageText(await connectionPage(gh, admin, id));
      assert.ok(
        text.includes(
          "The connection's settings cannot start a sign-in: the issuer's discovery document is invalid or names another issuer",
        ),
        text,
      );
      assert.ok(!text.includes('404'), 'no upstream detail');
    });
  });

  // ---------- test sign-in ----------

  describe('test sign-in, activation, then the app', () => {
    it('Okta SAML: the result shows the profile and raw attributes; the connection stays off for apps until activated; then getAuthorizationUrl({ organization }) and getProfileAndToken', {
      timeout: STEP_MS,
    }, async () => {
      const orgId = await createOrg(gh, 'Acme', 'acme.com');
      const admin = await openPortal(gh, orgId, { successUrl: 'http://localhost:3000/sso/done' });
      const id = await startConnection(gh, admin, 'okta-saml');
      const idp = await makeIdp();
      await uploadMetadata(gh, admin, id, idp);
      const setup = await setupFromPage(gh, admin, id, orgId, idp);
      assert.equal((await apiConnection(gh, id)).state, 'inactive');

      const { html, res, resultUrl } = await samlTestSignIn(gh, admin, setup, (request) =>
        samlResponseWith(setup, request, ADA),
      );
      assert.equal(res.status, 200);
      assert.equal(heading(html), 'Test sign-in succeeded');
      const profile = tableAfter(html, /The profile the application gets/);
      assert.equal(profile.email, 'ada@acme.com');
      assert.equal(profile.first_name, 'Ada');
      assert.equal(profile.last_name, 'Lovelace');
      assert.equal(profile.groups, 'engineering, admins');
      assert.equal(profile.idp_id, 'ada@acme.com');
      assert.match(profile.id ?? '', /^prof_[0-9A-Z]{26}$/);
      const raw = tableAfter(html, /What Okta sent/);
      assert.equal(raw.department, 'R&D');
      assert.equal(raw.firstName, 'Ada');
      assert.equal(raw.nickname, '<script>alert(1)</script>');
      assert.ok(!html.includes('<script>alert(1)'), "the IdP's values are escaped");

      // The tab reloaded: the one-time code is spent; the page says so rather than "failed".
      const reloaded = await admin.browser.request(resultUrl);
      assert.equal(reloaded.status, 410);
      const again = await reloaded.text();
      assert.equal(heading(again), 'This test result was already shown');
      assert.equal(errorCode(again), 'portal_test_result_shown');

      // Tested, but still off for apps.
      assert.equal((await apiConnection(gh, id)).state, 'inactive');
      const byConnection = await authorizeAnswer(gh, { connection: id });
      assert.equal(byConnection.status, 302);
      assert.equal(byConnection.location.searchParams.get('error'), 'connection_unlinked');
      assert.equal(byConnection.location.searchParams.get('state'), 's1');
      const byOrg = await authorizeAnswer(gh, { organization: orgId });
      assert.equal(byOrg.location.searchParams.get('error'), 'organization_invalid');

      const activated = await admin.browser.request(`${gh.url}/portal/sso/connections/${id}/activate`, {
        form: { csrf: admin.csrf },
      });
      assert.equal(activated.status, 303);
      assert.equal(activated.headers.get('location'), 'http://localhost:3000/sso/done');
      assert.notEqual((await apiConnection(gh, id)).state, 'inactive');

      const signedIn = await appSamlSignIn(gh, setup, ADA);
      assert.equal(signedIn.profile.email, 'ada@acme.com');
      assert.equal(signedIn.profile.firstName, 'Ada');
      assert.equal(signedIn.profile.lastName, 'Lovelace');
      assert.deepEqual(signedIn.profile.groups, ['engineering', 'admins']);
      assert.equal(signedIn.profile.organizationId, orgId);
      assert.equal(signedIn.profile.connectionId, id);
      assert.equal(signedIn.profile.connectionType, 'OktaSAML');
      assert.equal((await apiConnection(gh, id)).state, 'active');
    });

    it('an IdP that answers with an error status: the result page shows the failed stage and the explanation', {
      timeout: STEP_MS,
    }, async () => {
      const orgId = await createOrg(gh, 'Stark <b>Industries</b>', 'stark.example');
      const admin = await openPortal(gh, orgId);
      const id = await startConnection(gh, admin, 'okta-saml');
      const idp = await makeIdp({ entityId: 'https://idp.stark.example' });
      await uploadMetadata(gh, admin, id, idp);
      const setup = await setupFromPage(gh, admin, id, orgId, idp);
      const { html, res } = await samlTestSignIn(gh, admin, setup, (request) =>
        samlResponseWith(setup, request, {
          nameId: 'tony@stark.example',
          status: {
            top: 'Responder',
            second: 'RequestDenied',
            message: 'User is not assigned to this application',
          },
        }),
      );
      assert.equal(res.status, 200);
      assert.equal(heading(html), 'Test sign-in failed');
      assert.ok(!html.includes('<b>Industries</b>'), 'the organization name is escaped');
      assert.ok(html.includes('Stark &lt;b&gt;Industries&lt;/b&gt;'));
      const text = pageText(html);
      assert.ok(
        text.includes(
          'Okta chose not to sign the user in to this application (StatusCode RequestDenied): an access policy, or the user is not assigned.',
        ),
        text,
      );
      assert.ok(text.includes('Failed at the identity provider (it answered with an error)'), text);
      // The IdP's own text stays in the session log: the page explains, it does not quote the IdP.
      assert.ok(!text.includes('User is not assigned to this application'), text);
      assert.ok(
        text.includes(
          "Reason upstream_policy_denied : The identity provider's access policy denied this sign-in.",
        ),
        text,
      );
      assert.equal((await apiConnection(gh, id)).state, 'inactive');
    });

    it('an IdP configured with another entity ID, or signing with another key: the result page and the doctor explain it', {
      timeout: STEP_MS,
    }, async () => {
      const orgId = await createOrg(gh, 'Wayne', 'wayne.example');
      const admin = await openPortal(gh, orgId);
      const id = await startConnection(gh, admin, 'okta-saml');
      const idp = await makeIdp({ entityId: 'https://idp.wayne.example/saved' });
      await uploadMetadata(gh, admin, id, idp);
      const setup = await setupFromPage(gh, admin, id, orgId, idp);
      const user: ResponseOptions = {
        nameId: 'bruce@wayne.example',
        attributes: { email: 'bruce@wayne.example' },
      };

      const renamed = await makeIdp({ entityId: 'https://idp.wayne.example/other', keys: idp.keys });
      const mismatch = await samlTestSignIn(gh, admin, setup, (request) =>
        samlResponseWith({ ...setup, idp: renamed }, request, user),
      );
      assert.equal(heading(mismatch.html), 'Test sign-in failed');
      const text = pageText(mismatch.html);
      assert.ok(
        text.includes(
          "The assertion's Issuer (https://idp.wayne.example/other) is not the IdP entity ID saved for this connection (https://idp.wayne.example/saved).",
        ),
        text,
      );

      const rekeyed = await makeIdp({ entityId: idp.entityId });
      const wrongKey = await samlTestSignIn(gh, admin, setup, (request) =>
        samlResponseWith({ ...setup, idp: rekeyed }, request, user),
      );
      assert.equal(heading(wrongKey.html), 'Test sign-in failed');
      assert.ok(
        pageText(wrongKey.html).includes(
          'The response and its assertion were not signed with a certificate saved for this connection',
        ),
        pageText(wrongKey.html),
      );
      // The connection page's doctor names the last failure too.
      const page = pageText(await connectionPage(gh, admin, id));
      assert.ok(
        page.includes(
          'The last sign-in failed: The response and its assertion were not signed with a certificate saved for this connection',
        ),
        page,
      );
    });

    it('attribute mapping: a custom attribute name, tested again, fills the profile field', {
      timeout: STEP_MS,
    }, async () => {
      const orgId = await createOrg(gh, 'Oscorp', 'oscorp.example');
      const admin = await openPortal(gh, orgId);
      const id = await startConnection(gh, admin, 'okta-saml');
      const idp = await makeIdp({ entityId: 'https://idp.oscorp.example' });
      await uploadMetadata(gh, admin, id, idp);
      const setup = await setupFromPage(gh, admin, id, orgId, idp);
      const user: ResponseOptions = {
        nameId: 'norman@oscorp.example',
        attributes: {
          email: 'norman@oscorp.example',
          'urn:oscorp:given': 'Norman',
          'urn:oscorp:teams': ['labs', 'board'],
        },
      };
      const first = await samlTestSignIn(gh, admin, setup, (request) =>
        samlResponseWith(setup, request, user),
      );
      assert.equal(heading(first.html), 'Test sign-in succeeded');
      assert.equal(tableAfter(first.html, /The profile the application gets/).first_name, '');
      assert.equal(tableAfter(first.html, /What Okta sent/)['urn:oscorp:given'], 'Norman');

      const mapped = await admin.browser.request(`${gh.url}/portal/sso/connections/${id}/attributes`, {
        form: { csrf: csrfOf(first.html), first_name: 'urn:oscorp:given', groups: 'urn:oscorp:teams' },
      });
      assert.equal(mapped.status, 303);
      assert.equal(mapped.headers.get('location'), `/portal/sso/connections/${id}?saved=1`);
      assert.equal((await apiConnection(gh, id)).state, 'inactive', 'mapping does not turn it on');

      const second = await samlTestSignIn(gh, admin, setup, (request) =>
        samlResponseWith(setup, request, user),
      );
      const profile = tableAfter(second.html, /The profile the application gets/);
      assert.equal(profile.first_name, 'Norman');
      assert.equal(profile.groups, 'labs, board');
      // The form shows the saved mapping.
      assert.ok(
        second.html.includes('id="m-first_name" type="text" name="first_name" value="urn:oscorp:given"'),
      );
    });

    it('OIDC against oidc-provider: test sign-in shows the profile, activation, then the app signs in', {
      timeout: STEP_MS,
    }, async () => {
      const orgId = await createOrg(gh, 'Pied Piper', 'piedpiper.example');
      const admin = await openPortal(gh, orgId);
      const id = await startConnection(gh, admin, 'generic-oidc');
      const html = await connectionPage(gh, admin, id);
      const redirectUri = shownValue(html, 'redirect_uri');
      assert.match(redirectUri, new RegExp(`^${gh.url}/sso/oidc/callback/`));
      let idp: TestIdp | undefined;
      try {
        idp = await startIdp({ redirectUris: [redirectUri] });
        const saved = await admin.browser.request(`${gh.url}/portal/sso/connections/${id}/idp`, {
          form: {
            csrf: admin.csrf,
            source: 'oidc',
            issuer: idp.issuer,
            client_id: idp.clientId,
            client_secret: idp.clientSecret,
          },
        });
        assert.equal(saved.status, 303, pageText(await saved.text()).slice(0, 300));
        assert.equal((await apiConnection(gh, id)).state, 'inactive');
        const page = await connectionPage(gh, admin, id);
        assert.ok(pageText(page).includes('No problem found in the saved settings.'));

        const result = `${gh.url}/portal/sso/test/result`;
        const atConsent = await admin.browser.signInAtIdp(
          testLink(gh, page),
          'dinesh@piedpiper.example',
          idp.issuer,
          result,
        );
        const resultUrl = await throughConsent(gh, admin.browser, atConsent.res);
        assert.equal(`${resultUrl.origin}${resultUrl.pathname}`, result);
        const shown = await (await admin.browser.request(resultUrl)).text();
        assert.equal(heading(shown), 'Test sign-in succeeded');
        const profile = tableAfter(shown, /The profile the application gets/);
        assert.equal(profile.email, 'dinesh@piedpiper.example');
        assert.equal(profile.first_name, 'Ada');
        assert.equal(profile.idp_id, 'dinesh@piedpiper.example');
        assert.equal(
          tableAfter(shown, /What Other OpenID Connect provider sent/).sub,
          'dinesh@piedpiper.example',
        );
        assert.equal(
          (await authorizeAnswer(gh, { connection: id })).location.searchParams.get('error'),
          'connection_unlinked',
        );

        const activated = await admin.browser.request(`${gh.url}/portal/sso/connections/${id}/activate`, {
          form: { csrf: admin.csrf },
        });
        assert.equal(activated.status, 303);
        assert.equal(activated.headers.get('location'), `/portal/sso/connections/${id}?activated=1`);

        const app = new TestBrowser();
        const url = gh.workos.sso.getAuthorizationUrl({
          clientId: gh.clientId,
          redirectUri: APP,
          organization: orgId,
        });
        const consent = await app.signInAtIdp(url, 'dinesh@piedpiper.example', idp.issuer, APP);
        const back = await throughConsent(gh, app, consent.res);
        assert.equal(`${back.origin}${back.pathname}`, APP);
        const { profile: appProfile } = await gh.workos.sso.getProfileAndToken({
          code: back.searchParams.get('code') ?? '',
          clientId: gh.clientId,
        });
        assert.equal(appProfile.email, 'dinesh@piedpiper.example');
        assert.equal(appProfile.connectionId, id);
        assert.equal(appProfile.organizationId, orgId);
        assert.equal(appProfile.connectionType, 'GenericOIDC');
      } finally {
        await idp?.close();
      }
    });
  });
});
