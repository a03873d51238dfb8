import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { RateLimitExceededException, WorkOS } from '@workos-inc/node';
import { catalog, type ErrorCode } from '../../src/errors/catalog.ts';
import { clientIpKey } from '../../src/sso/rate-limits.ts';
import { SqliteStore } from '../../src/storage/sqlite/index.ts';
import type { RateLimitHit, RateLimitResult } from '../../src/storage/store.ts';
import { TestBrowser } from '../helpers/browser.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { connectOidcIdp, type TestIdp } from '../helpers/oidc-idp.ts';
import { connectSamlIdp } from '../helpers/saml-idp.ts';

/**
 * Rate limits: /sso/authorize per connection and per client IP, the callback URLs (the SAML ACS, the OIDC and
 * OAuth callbacks) per client IP and per connection, /sso/token per client and (its failures) per client IP,
 * the management API per API key. The clock is fixed 15 s into a 60 s window, so every count lands in one
 * window and Retry-After is 45.
 */

const APP = 'http://localhost:3000/callback';
const WINDOW_START = Math.floor(Date.now() / 60_000) * 60_000;
const NOW = new Date(WINDOW_START + 15_000);

async function withOrganization(gh: TestGatehouse): Promise<string> {
  await gh.api('POST', '/redirect_uris', { uri: APP });
  const org = await gh.api('POST', '/organizations', { name: 'Acme' });
  const conn = await gh.api('POST', '/connections', {
    organization_id: org.body.id,
    connection_type: 'GenericOIDC',
    // A closed loopback port: the hand-off fails with server_error, which is not a rate limit.
    oidc_options: { issuer: 'http://127.0.0.1:1', client_id: 'c', client_secret: 's' },
  });
  assert.equal(conn.status, 201);
  return org.body.id;
}

function authorize(
  gh: TestGatehouse,
  organization: string,
  state: string,
  headers: Record<string, string> = {},
) {
  const url = gh.workos.sso.getAuthorizationUrl({
    clientId: gh.clientId,
    redirectUri: APP,
    organization,
    state,
  });
  return fetch(url, { redirect: 'manual', headers });
}

function errorOf(res: Response): URLSearchParams {
  assert.equal(res.status, 302);
  return new URL(res.headers.get('location') ?? '').searchParams;
}

describe('rate limit on /sso/authorize per connection', () => {
  let gh: TestGatehouse;
  let org: string;
  before(async () => {
    gh = await startGatehouse({
      now: () => NOW,
      env: { GATEHOUSE_RATE_LIMIT_AUTHORIZE_CONNECTION: '2/60s' },
    });
    org = await withOrganization(gh);
  });
  after(() => gh.close());

  it('the third request in the window gets temporarily_unavailable with the app state; the session log says why', async () => {
    assert.equal(errorOf(await authorize(gh, org, 'a')).get('error'), 'server_error');
    assert.equal(errorOf(await authorize(gh, org, 'b')).get('error'), 'server_error');
    const limited = errorOf(await authorize(gh, org, 'c'));
    assert.deepEqual(Object.fromEntries(limited), {
      error: 'temporarily_unavailable',
      error_description: catalog.authorize_rate_limited.description,
      state: 'c',
      iss: gh.url,
    });
    const sessions = await gh.api('GET', '/sso/sessions?limit=1');
    assert.equal(sessions.body.data[0].reason, 'authorize_rate_limited');
    assert.equal(sessions.body.data[0].detail.limit, 'authorizeConnection');
  });
});

describe('rate limit on /sso/authorize per client IP', () => {
  let gh: TestGatehouse;
  let org: string;
  before(async () => {
    gh = await startGatehouse({ now: () => NOW, env: { GATEHOUSE_RATE_LIMIT_AUTHORIZE_IP: '2/60s' } });
    org = await withOrganization(gh);
  });
  after(() => gh.close());

  it('invalid requests count too; over the limit: a redirect once the redirect URI is verified, a 429 page before', async () => {
    const unknownClient = await fetch(`${gh.url}/sso/authorize?client_id=client_nobody&redirect_uri=${APP}`, {
      redirect: 'manual',
    });
    assert.equal(unknownClient.status, 400);
    assert.equal(errorOf(await authorize(gh, org, 'a')).get('error'), 'server_error');

    const limited = errorOf(await authorize(gh, org, 'b'));
    assert.equal(limited.get('error'), 'temporarily_unavailable');
    assert.equal(limited.get('state'), 'b');

    const page = await fetch(`${gh.url}/sso/authorize?client_id=client_nobody&redirect_uri=${APP}`, {
      redirect: 'manual',
    });
    assert.equal(page.status, 429);
    assert.equal(page.headers.get('retry-after'), '45');
    assert.equal(page.headers.get('location'), null);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.ok((await page.text()).includes(catalog.authorize_rate_limited_page.description));
  });

  it('X-Forwarded-For is ignored unless GATEHOUSE_TRUST_PROXY trusts the proxy (no spoofing a fresh address)', async () => {
    const spoofed = errorOf(await authorize(gh, org, 'c', { 'x-forwarded-for': '198.51.100.7' }));
    assert.equal(spoofed.get('error'), 'temporarily_unavailable');
  });
});

describe('rate limit per client IP behind a trusted proxy', () => {
  let gh: TestGatehouse;
  let org: string;
  before(async () => {
    gh = await startGatehouse({
      now: () => NOW,
      env: { GATEHOUSE_RATE_LIMIT_AUTHORIZE_IP: '1/60s', GATEHOUSE_TRUST_PROXY: '127.0.0.1' },
    });
    org = await withOrganization(gh);
  });
  after(() => gh.close());

  it('each browser address behind the load balancer has its own count', async () => {
    const first = { 'x-forwarded-for': '198.51.100.1' };
    const second = { 'x-forwarded-for': '198.51.100.2' };
    assert.equal(errorOf(await authorize(gh, org, 'a', first)).get('error'), 'server_error');
    assert.equal(errorOf(await authorize(gh, org, 'b', second)).get('error'), 'server_error');
    assert.equal(errorOf(await authorize(gh, org, 'c', first)).get('error'), 'temporarily_unavailable');
  });

  it('IPv6 clients are counted per /64: a fresh address from the same block gets no fresh count', async () => {
    const at = (ip: string) => ({ 'x-forwarded-for': ip });
    assert.equal(errorOf(await authorize(gh, org, 'd', at('2001:db8:1:2::1'))).get('error'), 'server_error');
    assert.equal(
      errorOf(await authorize(gh, org, 'e', at('2001:db8:1:2:ffff:ffff:ffff:9'))).get('error'),
      'temporarily_unavailable',
    );
    assert.equal(errorOf(await authorize(gh, org, 'f', at('2001:db8:1:3::1'))).get('error'), 'server_error');
    // An IPv4-mapped address is its IPv4 address (198.51.100.1 used its count above).
    assert.equal(
      errorOf(await authorize(gh, org, 'g', at('::ffff:198.51.100.1'))).get('error'),
      'temporarily_unavailable',
    );
  });
});

describe('clientIpKey', () => {
  it('IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 as its /64 in one spelling', () => {
    assert.equal(clientIpKey('203.0.113.9'), '203.0.113.9');
    assert.equal(clientIpKey('::ffff:203.0.113.9'), '203.0.113.9');
    assert.equal(clientIpKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
    assert.equal(clientIpKey('2001:0DB8:0001:0002::'), '2001:db8:1:2::/64');
    assert.equal(clientIpKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(clientIpKey('::1'), '0:0:0:0::/64');
    assert.equal(clientIpKey('fe80::1:2:3:4'), 'fe80:0:0:0::/64');
  });
});

describe('rate limits on /sso/token and the management API', () => {
  let gh: TestGatehouse;
  let sdk: WorkOS;
  before(async () => {
    gh = await startGatehouse({
      now: () => NOW,
      env: { GATEHOUSE_RATE_LIMIT_TOKEN_CLIENT: '1/60s', GATEHOUSE_RATE_LIMIT_API_KEY: '3/60s' },
    });
    sdk = new WorkOS(gh.apiKey, { apiHostname: '127.0.0.1', port: gh.port, https: false, maxRetries: 0 });
  });
  after(() => gh.close());

  it('POST /sso/token over the client limit: 429 rate_limit_exceeded with Retry-After, no-store', async () => {
    const post = () =>
      fetch(`${gh.url}/sso/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          client_id: gh.clientId,
          client_secret: gh.apiKey,
          grant_type: 'authorization_code',
          code: 'not-a-real-code',
        }),
      });
    const first = await post();
    assert.equal(first.status, 400);
    assert.equal((await first.json()).error, 'invalid_grant');
    const limited = await post();
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '45');
    assert.equal(limited.headers.get('cache-control'), 'no-store');
    assert.deepEqual(await limited.json(), {
      error: 'rate_limit_exceeded',
      error_description: catalog.token_rate_limited.description,
    });
  });

  it('the management API over the key limit: the SDK raises RateLimitExceededException with retryAfter', async () => {
    for (let i = 0; i < 3; i++) await sdk.organizations.listOrganizations();
    await assert.rejects(sdk.organizations.listOrganizations(), (err: unknown) => {
      assert.ok(err instanceof RateLimitExceededException, String(err));
      assert.equal(err.retryAfter, 45);
      assert.match(err.requestID, /^req_/);
      return true;
    });
    const raw = await gh.api('GET', '/organizations');
    assert.equal(raw.status, 429);
    assert.deepEqual(raw.body, {
      message: catalog.api_rate_limited.description,
      code: 'rate_limit_exceeded',
    });
  });
});

describe('GATEHOUSE_RATE_LIMITS=off', () => {
  let gh: TestGatehouse;
  before(async () => {
    gh = await startGatehouse({
      now: () => NOW,
      env: { GATEHOUSE_RATE_LIMITS: 'off', GATEHOUSE_RATE_LIMIT_API_KEY: '1/60s' },
    });
  });
  after(() => gh.close());

  it('turns every limit off, even one set explicitly', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await gh.api('GET', '/organizations')).status, 200);
  });
});

// ---------- /sso/token: who can use up the per-client limit ----------

describe('rate limits on /sso/token: the client ID is public', () => {
  let gh: TestGatehouse;
  let idp: TestIdp;
  let connectionId: string;
  /** The app's own SDK, elsewhere: no retries, so a 429 shows at once. */
  let app: WorkOS;
  before(async () => {
    gh = await startGatehouse({
      now: () => NOW,
      env: {
        GATEHOUSE_RATE_LIMIT_TOKEN_CLIENT: '5/60s',
        GATEHOUSE_RATE_LIMIT_TOKEN_IP: '5/60s',
        GATEHOUSE_SIGNIN_CONSENT: 'off',
        GATEHOUSE_TRUST_PROXY: '127.0.0.1',
      },
    });
    ({ idp, connectionId } = await connectOidcIdp(gh, { appRedirectUri: APP }));
    app = new WorkOS(gh.apiKey, {
      apiHostname: '127.0.0.1',
      port: gh.port,
      https: false,
      clientId: gh.clientId,
      maxRetries: 0,
    });
  });
  after(async () => {
    await gh.close();
    await idp.close();
  });

  /** A real sign-in (consent off) up to the app's redirect URI; returns the code. */
  async function signIn(url: string): Promise<string> {
    const step = await new TestBrowser().signInAtIdp(url, 'ada', idp.issuer, APP);
    assert.equal(step.res.status, 302);
    const code = new URL(step.res.headers.get('location') ?? '').searchParams.get('code');
    assert.ok(code);
    return code;
  }

  function postToken(params: Record<string, string>, from: string): Promise<Response> {
    return fetch(`${gh.url}/sso/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': from },
      body: new URLSearchParams(params),
    });
  }

  async function assertOauthError(res: Response, code: ErrorCode): Promise<void> {
    const entry = catalog[code];
    assert.equal(res.status, entry.status);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.deepEqual(await res.json(), { error: entry.wire, error_description: entry.description });
  }

  /** 20 requests from `from`: the first 5 get `failure`, the rest HTTP 429 with Retry-After. */
  async function flood(params: Record<string, string>, from: string, failure: ErrorCode): Promise<void> {
    for (let i = 0; i < 20; i++) {
      const res = await postToken(params, from);
      if (i < 5) {
        await assertOauthError(res, failure);
        assert.equal(res.headers.get('retry-after'), null);
      } else {
        assert.equal(res.headers.get('retry-after'), '45', `request ${i + 1}`);
        await assertOauthError(res, 'token_rate_limited');
      }
    }
  }

  it('a wrong-secret flood from one IP does not lock out the real client; the flooding IP gets 429', async () => {
    const attacker = '203.0.113.66';
    await flood(
      {
        client_id: gh.clientId,
        client_secret: 'sk_guessed_0123456789',
        grant_type: 'authorization_code',
        code: 'guessed',
      },
      attacker,
      'client_invalid',
    );

    // The app, at its own address, exchanges its code as if nothing happened.
    const code = await signIn(
      app.sso.getAuthorizationUrl({ clientId: gh.clientId, redirectUri: APP, connection: connectionId }),
    );
    const { profile } = await app.sso.getProfileAndToken({ code, clientId: gh.clientId });
    assert.equal(profile.email, 'ada@acme.com');

    // Only failures count per IP: the real API key still goes through from the flooding address.
    const second = await signIn(
      app.sso.getAuthorizationUrl({ clientId: gh.clientId, redirectUri: APP, connection: connectionId }),
    );
    const res = await postToken(
      { client_id: gh.clientId, client_secret: gh.apiKey, grant_type: 'authorization_code', code: second },
      attacker,
    );
    assert.equal(res.status, 200);
    assert.equal((await res.json()).profile.email, 'ada@acme.com');
  });

  it('a flood of made-up codes without a secret (a public client) does not lock out the real PKCE client', async () => {
    await flood(
      {
        client_id: gh.clientId,
        grant_type: 'authorization_code',
        code: 'made-up',
        code_verifier: 'v'.repeat(43),
      },
      '203.0.113.77',
      'code_invalid',
    );
    const { url, codeVerifier } = await app.sso.getAuthorizationUrlWithPKCE({
      clientId: gh.clientId,
      redirectUri: APP,
      connection: connectionId,
    });
    const code = await signIn(url);
    const res = await postToken(
      { client_id: gh.clientId, grant_type: 'authorization_code', code, code_verifier: codeVerifier },
      '192.0.2.10',
    );
    assert.equal(res.status, 200);
    assert.equal((await res.json()).profile.email, 'ada@acme.com');
  });
});

// ---------- the callback URLs: the SAML ACS, the OIDC and OAuth callbacks ----------

/** SQLite, with every counter key the limiter asks for. */
class CountingStore extends SqliteStore {
  readonly keys: string[] = [];
  override hitRateLimits(hits: RateLimitHit[], now: Date): Promise<RateLimitResult[]> {
    this.keys.push(...hits.map((h) => h.key));
    return super.hitRateLimits(hits, now);
  }
}

/** The rate-limited page: 429, Retry-After, HTML, the catalog's text, no redirect. */
async function assertRateLimitedPage(res: Response): Promise<void> {
  assert.equal(res.status, 429);
  assert.equal(res.headers.get('retry-after'), '45');
  assert.equal(res.headers.get('location'), null);
  assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
  assert.ok((await res.text()).includes(catalog.authorize_rate_limited_page.description));
}

function postAcs(url: string, body: string, from: string): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': from },
    body,
    redirect: 'manual',
  });
}

/** Not the ACS's garbage from a real IdP: it fails as a SAML response would (not as a rate limit). */
const GARBAGE = `SAMLResponse=${Buffer.from('<not-saml/>'.repeat(100)).toString('base64')}`;

describe('rate limit on the callback URLs per client IP', () => {
  let gh: TestGatehouse;
  let acsUrl: string;
  before(async () => {
    gh = await startGatehouse({
      now: () => NOW,
      env: { GATEHOUSE_RATE_LIMIT_CALLBACK_IP: '3/60s', GATEHOUSE_TRUST_PROXY: '127.0.0.1' },
    });
    ({ acsUrl } = await connectSamlIdp(gh));
  });
  after(() => gh.close());

  it('an ACS flood from one IP gets the 429 page before its body is read or parsed', async () => {
    const from = '198.51.100.20';
    for (let i = 0; i < 3; i++) {
      const res = await postAcs(acsUrl, GARBAGE, from);
      assert.equal(res.status, 400, await res.text());
    }
    // The fourth declares a 500 kB form and sends 1 kB of it, then waits: answered without the rest.
    const { url } = { url: new URL(acsUrl) };
    const req = httpRequest({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'content-length': String(500_000),
        'x-forwarded-for': from,
      },
    });
    req.write(`SAMLResponse=${'A'.repeat(1000)}`);
    try {
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no answer before the body was sent')), 5000);
        req.once('response', (r) => {
          clearTimeout(timer);
          resolve(r);
        });
        req.once('error', reject);
      });
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      assert.equal(res.statusCode, 429);
      assert.equal(res.headers['retry-after'], '45');
      assert.match(res.headers['content-type'] ?? '', /^text\/html/);
      assert.ok(Buffer.concat(chunks).toString().includes(catalog.authorize_rate_limited_page.description));
    } finally {
      req.destroy();
    }
    // A body of any type and size over GATEHOUSE_SAML_MAX_BYTES: the same page, not 415 or 413.
    await assertRateLimitedPage(
      await fetch(acsUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/xml', 'x-forwarded-for': from },
        body: 'x'.repeat(2 * 1024 * 1024),
      }),
    );
    // Another address is not held back.
    assert.equal((await postAcs(acsUrl, GARBAGE, '198.51.100.21')).status, 400);
  });

  it('the OIDC and OAuth callbacks share the count per IP, whatever the key', async () => {
    const from = '198.51.100.30';
    const get = (path: string) =>
      fetch(`${gh.url}${path}?code=c&state=s`, { headers: { 'x-forwarded-for': from }, redirect: 'manual' });
    assert.equal((await get('/sso/oidc/callback/made-up-1')).status, 400);
    assert.equal((await get('/sso/oauth/callback/made-up-2')).status, 400);
    assert.equal((await get('/sso/oidc/callback/made-up-3')).status, 400);
    await assertRateLimitedPage(await get('/sso/oauth/callback/made-up-4'));
    await assertRateLimitedPage(await get('/sso/oidc/callback/made-up-5'));
  });
});

describe('rate limit on the callback URLs per connection', () => {
  let gh: TestGatehouse;
  let store: CountingStore;
  let acsUrl: string;
  let connectionId: string;
  before(async () => {
    store = new CountingStore(':memory:');
    gh = await startGatehouse({
      now: () => NOW,
      store,
      env: { GATEHOUSE_RATE_LIMIT_CALLBACK_CONNECTION: '2/60s', GATEHOUSE_TRUST_PROXY: '127.0.0.1' },
    });
    ({ acsUrl, connectionId } = await connectSamlIdp(gh));
  });
  after(() => gh.close());

  it("the third post to one connection's ACS in the window gets the 429 page, from any address", async () => {
    assert.equal((await postAcs(acsUrl, GARBAGE, '198.51.100.1')).status, 400);
    assert.equal((await postAcs(acsUrl, GARBAGE, '198.51.100.2')).status, 400);
    await assertRateLimitedPage(await postAcs(acsUrl, GARBAGE, '198.51.100.3'));
    // Another connection's callback is not held back.
    const other = await gh.api('POST', '/connections', {
      connection_type: 'GoogleOAuth',
      oauth_options: { client_id: 'c.apps.googleusercontent.com', client_secret: 's' },
    });
    assert.equal(other.status, 201, JSON.stringify(other.body));
    const res = await fetch(`${other.body.oauth_options.redirect_uri}?code=c&state=s`, {
      redirect: 'manual',
    });
    assert.equal(res.status, 400);
  });

  it('made-up keys are not counted per connection: no counter for a key that names no connection', async () => {
    const before = store.keys.length;
    const base = acsUrl.slice(0, acsUrl.lastIndexOf('/') + 1);
    for (let i = 0; i < 5; i++) {
      const res = await postAcs(`${base}made-up-${i}`, GARBAGE, `198.51.100.${40 + i}`);
      assert.notEqual(res.status, 429);
    }
    assert.deepEqual(
      store.keys.slice(before).filter((key) => key.startsWith('callbackConnection:')),
      [],
    );
    assert.ok(store.keys.includes(`callbackConnection:${connectionId}`));
  });
});
