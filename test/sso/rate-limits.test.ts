import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RateLimitExceededException, WorkOS } from '@workos-inc/node';
import { catalog } from '../../src/errors/catalog.ts';
import { clientIpKey } from '../../src/sso/authorize/rate-limits.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';

/**
 * Rate limits: /sso/authorize per connection and per client IP, /sso/token per client, the management API per
 * API key. The clock is fixed 15 s into a 60 s window, so every count lands in one window and Retry-After is 45.
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
