import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { consentForm, TestBrowser } from '../helpers/browser.ts';
import {
  type Balancer,
  clusterClient,
  type Node,
  startBalancer,
  startNode,
  startNodes,
} from '../helpers/cluster.ts';
import { freePort, TEST_API_KEY, TEST_CLIENT_ID } from '../helpers/gatehouse.ts';
import { startIdp, type TestIdp } from '../helpers/oidc-idp.ts';
import { POSTGRES_URL, postgresUnavailable } from '../helpers/postgres.ts';
import { makeIdp, type SamlSetup, samlResponse, startSamlLogin } from '../helpers/saml-idp.ts';

/**
 * Two Gatehouse processes on one PostgreSQL database behind a load balancer, with the WorkOS SDK as the app: full
 * sign-ins (OIDC and SAML) whose steps alternate between the nodes, a node killed mid-flow, and one code redeemed
 * on both nodes at once. The nodes share nothing but the database, the secret key and the public URL.
 */

const POSTGRES = POSTGRES_URL;
const APP = 'http://localhost:3000/callback';

if ((await postgresUnavailable('two nodes on one PostgreSQL')) === null) {
  describe('two nodes on one PostgreSQL behind a load balancer', () => {
    const schema = `gh_cluster_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: POSTGRES });
    let a: Node;
    let b: Node;
    let balancer: Balancer;
    let cluster: ReturnType<typeof clusterClient>;
    let env: Record<string, string>;
    let idp: TestIdp;
    let orgId: string;
    let oidcConnection: string;

    before(async () => {
      await admin.connect();
      await admin.query(`CREATE SCHEMA ${schema}`);
      const port = await freePort();
      const url = new URL(POSTGRES);
      url.searchParams.set('options', `-c search_path=${schema}`);
      env = {
        GATEHOUSE_DATABASE_URL: url.href,
        GATEHOUSE_SECRET_KEY: randomBytes(32).toString('hex'),
        GATEHOUSE_PUBLIC_URL: `http://127.0.0.1:${port}`,
        GATEHOUSE_API_KEY: TEST_API_KEY,
        GATEHOUSE_CLIENT_ID: TEST_CLIENT_ID,
        GATEHOUSE_REDIRECT_URIS: APP,
        GATEHOUSE_ALLOW_PRIVATE_URLS: 'on',
        GATEHOUSE_TRUST_PROXY: '127.0.0.1',
      };
      // Both nodes start at once on the empty database: one migrates, the other waits for it.
      [a, b] = (await startNodes(['a', 'b'], env)) as [Node, Node];
      balancer = await startBalancer(port, a);
      cluster = clusterClient(balancer);

      const org = await cluster.api('POST', '/organizations', {
        name: 'Acme',
        domain_data: [{ domain: 'acme.com', state: 'verified' }],
      });
      orgId = org.body.id;
      const idpPort = await freePort();
      const conn = await cluster.api('POST', '/connections', {
        organization_id: orgId,
        connection_type: 'OktaOIDC',
        oidc_options: {
          issuer: `http://127.0.0.1:${idpPort}`,
          client_id: 'gatehouse-test-client',
          client_secret: 'gatehouse-test-secret-0123456789abcdef',
        },
      });
      assert.equal(conn.status, 201, JSON.stringify(conn.body));
      oidcConnection = conn.body.id;
      idp = await startIdp({ port: idpPort, redirectUris: [conn.body.oidc_options.redirect_uri] });
    });

    after(async () => {
      await balancer?.close();
      await Promise.all([a?.stop(), b?.stop()]);
      await idp?.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
      await admin.end();
    });

    function on(node: Node): void {
      balancer.target = node;
    }

    function authorizeUrl(connection: string, state: string): string {
      return cluster.workos.sso.getAuthorizationUrl({
        clientId: TEST_CLIENT_ID,
        redirectUri: APP,
        connection,
        state,
      });
    }

    async function approve(browser: TestBrowser, res: Response): Promise<URL> {
      const html = await res.text();
      assert.equal(res.status, 200, `expected the consent screen, got ${res.status}: ${html.slice(0, 300)}`);
      const approved = await browser.request(`${balancer.url}/sso/consent`, {
        form: { consent_token: consentForm(html).token, decision: 'approve' },
        headers: { origin: balancer.url },
      });
      assert.equal(approved.status, 303);
      return new URL(approved.headers.get('location') ?? '');
    }

    it('an OIDC sign-in whose every step lands on the other node', async () => {
      const browser = new TestBrowser();
      on(a);
      const start = await browser.request(authorizeUrl(oidcConnection, 'oidc-1'));
      assert.equal(start.status, 302);
      const atIdp = new URL(start.headers.get('location') ?? '');
      assert.equal(atIdp.origin, idp.issuer);
      on(b); // the IdP's answer reaches the other node
      const atConsent = await browser.signInAtIdp(atIdp, 'ada', idp.issuer, APP);
      on(a); // Approve on the first one
      const back = await approve(browser, atConsent.res);
      assert.equal(back.searchParams.get('state'), 'oidc-1');
      on(b); // the app's code exchange
      const { profile, accessToken } = await cluster.workos.sso.getProfileAndToken({
        code: back.searchParams.get('code') ?? '',
        clientId: TEST_CLIENT_ID,
      });
      assert.equal(profile.email, 'ada@acme.com');
      on(a);
      assert.deepEqual(await cluster.workos.sso.getProfile({ accessToken }), profile);
      assert.ok((balancer.forwarded.get('a') ?? 0) > 0 && (balancer.forwarded.get('b') ?? 0) > 0);
    });

    it('a SAML sign-in: AuthnRequest from one node, the ACS on the other, the replay refused on the first', async () => {
      const samlIdp = await makeIdp();
      const conn = await cluster.api('POST', '/connections', {
        organization_id: orgId,
        connection_type: 'OktaSAML',
        saml_options: {
          idp_entity_id: samlIdp.entityId,
          idp_sso_url: samlIdp.ssoUrl,
          idp_certificates: [samlIdp.keys.certificate],
        },
      });
      assert.equal(conn.status, 201, JSON.stringify(conn.body));
      const setup: SamlSetup = {
        idp: samlIdp,
        orgId,
        connectionId: conn.body.id,
        acsUrl: conn.body.saml_options.acs_url,
        spEntityId: conn.body.saml_options.sp_entity_id,
        spMetadata: await (await fetch(conn.body.saml_options.sp_metadata_url)).text(),
      };
      const browser = new TestBrowser();
      on(a);
      const { request, relayState } = await startSamlLogin(
        browser,
        setup,
        authorizeUrl(setup.connectionId, 'saml-1'),
      );
      const response = await samlResponse(setup, request, { email: 'grace@acme.com' });
      on(b);
      const acs = await browser.request(setup.acsUrl, {
        form: { SAMLResponse: response, RelayState: relayState },
      });
      on(a);
      const back = await approve(browser, acs);
      on(b);
      const { profile } = await cluster.workos.sso.getProfileAndToken({
        code: back.searchParams.get('code') ?? '',
        clientId: TEST_CLIENT_ID,
      });
      assert.equal(profile.email, 'grace@acme.com');
      assert.equal(profile.connectionId, setup.connectionId);

      // The same assertion again, on the other node: the replay cache is shared.
      on(a);
      const again = await browser.request(authorizeUrl(setup.connectionId, 'saml-2'));
      const relay2 = new URL(again.headers.get('location') ?? '').searchParams.get('RelayState') ?? '';
      const replay = await browser.request(setup.acsUrl, {
        form: { SAMLResponse: response, RelayState: relay2 },
      });
      assert.equal(replay.status, 303);
      const error = new URL(replay.headers.get('location') ?? '').searchParams;
      assert.equal(error.get('error'), 'server_error');
      assert.equal(error.has('code'), false);
    });

    it('one code redeemed on both nodes at once: exactly one wins', async () => {
      const browser = new TestBrowser();
      on(a);
      const atConsent = await browser.signInAtIdp(
        authorizeUrl(oidcConnection, 'race'),
        'grace',
        idp.issuer,
        APP,
      );
      const back = await approve(browser, atConsent.res);
      const body = new URLSearchParams({
        client_id: TEST_CLIENT_ID,
        client_secret: TEST_API_KEY,
        grant_type: 'authorization_code',
        code: back.searchParams.get('code') ?? '',
      });
      const post = (node: Node) =>
        fetch(`${node.url}/sso/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body,
        });
      const answers = await Promise.all([post(a), post(b), post(a), post(b)]);
      const statuses = answers.map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, 400, 400, 400]);
      for (const r of answers.filter((r) => r.status === 400))
        assert.equal((await r.json()).error, 'invalid_grant');
    });

    it('a node killed mid-flow: the sign-in it started completes on the other', async () => {
      const browser = new TestBrowser();
      on(a);
      const start = await browser.request(authorizeUrl(oidcConnection, 'crash'));
      assert.equal(start.status, 302);
      await a.stop('SIGKILL');
      on(b);
      const atConsent = await browser.signInAtIdp(
        new URL(start.headers.get('location') ?? ''),
        'ada',
        idp.issuer,
        APP,
      );
      const back = await approve(browser, atConsent.res);
      assert.equal(back.searchParams.get('state'), 'crash');
      const { profile } = await cluster.workos.sso.getProfileAndToken({
        code: back.searchParams.get('code') ?? '',
        clientId: TEST_CLIENT_ID,
      });
      assert.equal(profile.email, 'ada@acme.com');
      // A replacement node joins the running deployment.
      a = await startNode('a2', env);
      on(a);
      assert.equal((await cluster.api('GET', `/organizations/${orgId}`)).status, 200);
    });
  });
}
