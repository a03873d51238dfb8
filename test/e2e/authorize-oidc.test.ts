import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sha256 } from '../../src/lib/tokens.ts';
import { freePort, startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { startIdp, type TestIdp } from '../helpers/oidc-idp.ts';

const APP_CALLBACK = 'http://localhost:3000/callback';

/** The hand-off to a real OpenID Provider: what /sso/authorize sends upstream, and that the IdP accepts it. */
describe('authorize hands off to a real oidc-provider', () => {
  let gh: TestGatehouse;
  let idp: TestIdp;
  let orgId: string;
  let connectionId: string;
  let callbackUrl: string;

  before(async () => {
    gh = await startGatehouse();
    const idpPort = await freePort();
    await gh.api('POST', '/redirect_uris', { uri: APP_CALLBACK });
    const org = await gh.workos.organizations.createOrganization({
      name: 'Acme',
      domainData: [{ domain: 'acme.com', state: 'verified' as never }],
    });
    orgId = org.id;
    const conn = await gh.api('POST', '/connections', {
      organization_id: orgId,
      connection_type: 'OktaOIDC',
      name: 'Acme Okta',
      oidc_options: {
        issuer: `http://127.0.0.1:${idpPort}`,
        client_id: 'gatehouse-test-client',
        client_secret: 'gatehouse-test-secret-0123456789abcdef',
      },
    });
    assert.equal(conn.status, 201, JSON.stringify(conn.body));
    connectionId = conn.body.id;
    callbackUrl = conn.body.oidc_options.redirect_uri;
    idp = await startIdp({ port: idpPort, redirectUris: [callbackUrl] });
  });
  after(async () => {
    await gh.close();
    await idp.close();
  });

  async function authorize(url: string, cookie?: string) {
    return fetch(url, { redirect: 'manual', ...(cookie ? { headers: { cookie } } : {}) });
  }

  it('redirects to the IdP authorization endpoint with state, nonce, PKCE S256 and login_hint', async () => {
    const url = gh.workos.sso.getAuthorizationUrl({
      clientId: gh.clientId,
      redirectUri: APP_CALLBACK,
      organization: orgId,
      state: 'app state/with spaces+plus',
      loginHint: 'ada@acme.com',
    });
    const res = await authorize(url);
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const location = new URL(res.headers.get('location') ?? '');
    assert.equal(`${location.origin}${location.pathname}`, `${idp.issuer}/auth`);
    const p = location.searchParams;
    assert.equal(p.get('client_id'), 'gatehouse-test-client');
    assert.equal(p.get('response_type'), 'code');
    assert.equal(p.get('redirect_uri'), callbackUrl);
    assert.equal(p.get('scope'), 'openid profile email');
    assert.equal(p.get('login_hint'), 'ada@acme.com');
    assert.equal(p.get('code_challenge_method'), 'S256');
    assert.match(p.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.match(p.get('state') ?? '', /^sess_[0-9A-Z]{26}\.[A-Za-z0-9_-]{43}$/);
    assert.match(p.get('nonce') ?? '', /^[A-Za-z0-9_-]{43}$/);
    // Our upstream state is ours: the app's state never travels to the IdP.
    assert.ok(!location.href.includes('app+state') && !location.href.includes('app%20state'));
    assert.match(callbackUrl, new RegExp(`^${gh.url}/sso/oidc/callback/[A-Za-z0-9_-]{22}$`));

    const setCookie = res.headers.get('set-cookie') ?? '';
    const m =
      /^gatehouse_browser=([A-Za-z0-9_-]{43}); Path=\/sso\/; Max-Age=3600; HttpOnly; SameSite=Lax$/.exec(
        setCookie,
      );
    assert.ok(m, setCookie);

    // The login transaction is bound to this browser and this request, and expires in 10 minutes.
    const upstreamState = p.get('state') ?? '';
    const tx = await gh.store.getLoginTransaction(upstreamState.split('.')[0] ?? '', sha256(upstreamState));
    assert.ok(tx);
    assert.equal(tx.browserHash, sha256(m[1] ?? ''));
    assert.equal(tx.clientId, gh.clientId);
    assert.equal(tx.connectionId, connectionId);
    assert.equal(tx.organizationId, orgId);
    assert.equal(tx.redirectUri, APP_CALLBACK);
    assert.equal(tx.appState, 'app state/with spaces+plus');
    assert.equal(tx.codeChallenge, null);
    assert.equal(tx.requestId, res.headers.get('x-request-id'));
    assert.equal(tx.expiresAt.getTime() - tx.createdAt.getTime(), 10 * 60 * 1000);
    assert.equal(tx.consumedAt, null);
    // No per-login secret is stored: the nonce and the PKCE verifier are derived from the state on the callback.
    assert.deepEqual(JSON.parse(tx.connectorState), { issuer: idp.issuer, scope: 'openid profile email' });

    // The IdP accepts the request: it starts its login interaction instead of returning an error.
    const atIdp = await fetch(location, { redirect: 'manual' });
    assert.equal(atIdp.status, 303);
    assert.match(atIdp.headers.get('location') ?? '', /^\/interaction\/[A-Za-z0-9_-]+$/);
  });

  it('keeps the PKCE challenge of getAuthorizationUrlWithPKCE with the login transaction', async () => {
    const { url, state } = await gh.workos.sso.getAuthorizationUrlWithPKCE({
      clientId: gh.clientId,
      redirectUri: APP_CALLBACK,
      connection: connectionId,
    });
    const res = await authorize(url);
    assert.equal(res.status, 302);
    const location = new URL(res.headers.get('location') ?? '');
    const upstreamState = location.searchParams.get('state') ?? '';
    const tx = await gh.store.getLoginTransaction(upstreamState.split('.')[0] ?? '', sha256(upstreamState));
    assert.equal(tx?.codeChallenge, new URL(url).searchParams.get('code_challenge'));
    assert.equal(tx?.codeChallengeMethod, 'S256');
    assert.equal(tx?.appState, state);
  });

  it('reuses the browser binding cookie and fetches discovery once', async () => {
    const first = await authorize(
      gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: APP_CALLBACK,
        organization: orgId,
      }),
    );
    const cookie = (first.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const second = await authorize(
      gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: APP_CALLBACK,
        connection: connectionId,
      }),
      cookie,
    );
    assert.equal(second.status, 302);
    assert.equal((second.headers.get('set-cookie') ?? '').split(';')[0], cookie);
    assert.equal(idp.hits.get('/.well-known/openid-configuration'), 1);
  });

  it('passes provider_scopes and provider_query_params on, but never lets them override protocol parameters', async () => {
    const url = gh.workos.sso.getAuthorizationUrl({
      clientId: gh.clientId,
      redirectUri: APP_CALLBACK,
      organization: orgId,
      providerScopes: ['offline_access', 'openid'],
      providerQueryParams: { prompt: 'login', state: 'attacker', redirect_uri: 'https://evil.example/cb' },
    });
    const location = new URL((await authorize(url)).headers.get('location') ?? '');
    const p = location.searchParams;
    assert.equal(p.get('scope'), 'openid profile email offline_access');
    assert.equal(p.get('prompt'), 'login');
    assert.notEqual(p.get('state'), 'attacker');
    assert.equal(p.getAll('state').length, 1);
    assert.equal(p.get('redirect_uri'), callbackUrl);
    assert.equal(p.getAll('redirect_uri').length, 1);
  });
});

describe('authorize refuses to fetch non-public upstream URLs (SSRF) by default', () => {
  it('turns a loopback issuer into server_error without contacting it', async () => {
    const gh = await startGatehouse({ env: { GATEHOUSE_ALLOW_PRIVATE_URLS: 'off' } });
    try {
      await gh.api('POST', '/redirect_uris', { uri: APP_CALLBACK });
      const org = await gh.workos.organizations.createOrganization({ name: 'Internal' });
      const conn = await gh.api('POST', '/connections', {
        organization_id: org.id,
        connection_type: 'GenericOIDC',
        oidc_options: { issuer: 'https://127.0.0.1:9', client_id: 'c', client_secret: 's' },
      });
      assert.equal(conn.status, 201);
      const res = await fetch(
        gh.workos.sso.getAuthorizationUrl({
          clientId: gh.clientId,
          redirectUri: APP_CALLBACK,
          organization: org.id,
          state: 's1',
        }),
        { redirect: 'manual' },
      );
      assert.equal(res.status, 302);
      const location = new URL(res.headers.get('location') ?? '');
      assert.equal(location.searchParams.get('error'), 'server_error');
      assert.equal(
        location.searchParams.get('error_description'),
        'The connection to the identity provider is misconfigured. Details are in the Gatehouse logs.',
      );
      assert.equal(location.searchParams.get('state'), 's1');
      assert.equal(res.headers.get('set-cookie'), null);
    } finally {
      await gh.close();
    }
  });
});
