import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.ts';

describe('configuration from environment variables', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    assert.equal(c.port, 8080);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.publicUrl, 'http://localhost:8080');
    assert.deepEqual(c.database, { kind: 'sqlite', path: './data/gatehouse.db', dataDir: './data' });
    assert.equal(c.signinConsent, true);
    assert.equal(c.legacyDomainSelector, false);
    assert.equal(c.allowPrivateUrls, false);
    assert.equal(c.upstreamTimeoutMs, 10_000);
    assert.equal(c.apiKey, null);
    assert.equal(c.clientId, null);
    assert.equal(c.secretKey, null);
    assert.deepEqual(c.redirectUris, []);
    assert.equal(c.sessionLogRetentionDays, 90);
    assert.equal(loadConfig({ GATEHOUSE_SESSION_LOG_RETENTION_DAYS: '0' }).sessionLogRetentionDays, 0);
  });

  it('derives the public URL from PORT and strips a trailing slash from an explicit one', () => {
    assert.equal(loadConfig({ PORT: '9000' }).publicUrl, 'http://localhost:9000');
    assert.equal(
      loadConfig({ GATEHOUSE_PUBLIC_URL: 'https://sso.example.com/' }).publicUrl,
      'https://sso.example.com',
    );
  });

  it('parses lists, switches and keys', () => {
    const c = loadConfig({
      GATEHOUSE_REDIRECT_URIS: ' https://a.example.com/cb , http://localhost:3000/cb ,',
      GATEHOUSE_SIGNIN_CONSENT: 'off',
      GATEHOUSE_LEGACY_DOMAIN_SELECTOR: 'on',
      GATEHOUSE_SECRET_KEY: 'a'.repeat(64),
      GATEHOUSE_DATABASE_URL: 'sqlite:/var/lib/gatehouse/g.db',
    });
    assert.deepEqual(c.redirectUris, ['https://a.example.com/cb', 'http://localhost:3000/cb']);
    assert.equal(c.signinConsent, false);
    assert.equal(c.legacyDomainSelector, true);
    assert.equal(c.secretKey?.length, 32);
    assert.deepEqual(c.database, {
      kind: 'sqlite',
      path: '/var/lib/gatehouse/g.db',
      dataDir: '/var/lib/gatehouse',
    });
    assert.equal(
      loadConfig({ GATEHOUSE_SECRET_KEY: Buffer.alloc(32, 7).toString('base64url') }).secretKey?.[0],
      7,
    );
  });

  const bad: [string, string, RegExp][] = [
    ['PORT', 'eighty', /^PORT must be a whole number/],
    ['PORT', '70000', /^PORT must be between 0 and 65535/],
    ['GATEHOUSE_PUBLIC_URL', 'sso.example.com', /^GATEHOUSE_PUBLIC_URL must be an absolute http\(s\) URL/],
    [
      'GATEHOUSE_PUBLIC_URL',
      'https://sso.example.com/?x=1',
      /^GATEHOUSE_PUBLIC_URL must not contain a query/,
    ],
    [
      'GATEHOUSE_DATABASE_URL',
      'postgres://localhost/gatehouse?schema=Not-A-Name',
      /^GATEHOUSE_DATABASE_URL schema must be lower-case letters/,
    ],
    [
      'GATEHOUSE_DATABASE_URL',
      'mysql://x',
      /^GATEHOUSE_DATABASE_URL must start with sqlite: or postgres:\/\//,
    ],
    ['GATEHOUSE_API_KEY', 'not-a-key', /^GATEHOUSE_API_KEY must look like sk_/],
    ['GATEHOUSE_CLIENT_ID', 'abc', /^GATEHOUSE_CLIENT_ID must look like client_/],
    ['GATEHOUSE_SIGNIN_CONSENT', 'maybe', /^GATEHOUSE_SIGNIN_CONSENT must be "on" or "off"/],
    ['GATEHOUSE_SECRET_KEY', 'short', /^GATEHOUSE_SECRET_KEY must be 32 random bytes/],
    ['GATEHOUSE_ALLOW_PRIVATE_URLS', 'yes please', /^GATEHOUSE_ALLOW_PRIVATE_URLS must be "on" or "off"/],
    ['GATEHOUSE_UPSTREAM_TIMEOUT_MS', '5', /^GATEHOUSE_UPSTREAM_TIMEOUT_MS must be between 100 and 120000/],
    ['GATEHOUSE_LOG_LEVEL', 'loud', /^GATEHOUSE_LOG_LEVEL must be one of/],
    [
      'GATEHOUSE_SESSION_LOG_RETENTION_DAYS',
      '-1',
      /^GATEHOUSE_SESSION_LOG_RETENTION_DAYS must be a whole number/,
    ],
  ];
  for (const [name, value, message] of bad) {
    it(`stops on a bad ${name} (${JSON.stringify(value)}) with a message naming it`, () => {
      assert.throws(
        () => loadConfig({ [name]: value }),
        (err: unknown) => err instanceof ConfigError && err.variable === name && message.test(err.message),
      );
    });
  }
});

describe('rate limit and proxy variables', () => {
  it('default to WorkOS-style limits per 60 s and an untrusted proxy; parse windows, off and proxy lists', () => {
    const defaults = loadConfig({});
    assert.deepEqual(defaults.rateLimits, {
      authorizeConnection: { limit: 1000, windowMs: 60_000 },
      authorizeIp: { limit: 6000, windowMs: 60_000 },
      callbackConnection: { limit: 1000, windowMs: 60_000 },
      callbackIp: { limit: 6000, windowMs: 60_000 },
      tokenClient: { limit: 6000, windowMs: 60_000 },
      tokenIp: { limit: 6000, windowMs: 60_000 },
      apiKey: { limit: 6000, windowMs: 60_000 },
    });
    assert.equal(defaults.trustProxy, false);
    const c = loadConfig({
      GATEHOUSE_RATE_LIMIT_AUTHORIZE_CONNECTION: '50/1m',
      GATEHOUSE_RATE_LIMIT_AUTHORIZE_IP: 'off',
      GATEHOUSE_RATE_LIMIT_CALLBACK_CONNECTION: '20/1m',
      GATEHOUSE_RATE_LIMIT_CALLBACK_IP: '30/10s',
      GATEHOUSE_RATE_LIMIT_TOKEN_CLIENT: '10/30s',
      GATEHOUSE_RATE_LIMIT_TOKEN_IP: 'off',
      GATEHOUSE_RATE_LIMIT_API_KEY: '100000/1h',
      GATEHOUSE_TRUST_PROXY: '10.0.0.0/8, 192.0.2.10',
    });
    assert.deepEqual(c.rateLimits, {
      authorizeConnection: { limit: 50, windowMs: 60_000 },
      authorizeIp: null,
      callbackConnection: { limit: 20, windowMs: 60_000 },
      callbackIp: { limit: 30, windowMs: 10_000 },
      tokenClient: { limit: 10, windowMs: 30_000 },
      tokenIp: null,
      apiKey: { limit: 100_000, windowMs: 3_600_000 },
    });
    assert.deepEqual(c.trustProxy, ['10.0.0.0/8', '192.0.2.10']);
    assert.equal(loadConfig({ GATEHOUSE_TRUST_PROXY: '2' }).trustProxy, 2);
    assert.equal(loadConfig({ GATEHOUSE_TRUST_PROXY: 'on' }).trustProxy, true);
    assert.deepEqual(loadConfig({ GATEHOUSE_RATE_LIMITS: 'off' }).rateLimits, {
      authorizeConnection: null,
      authorizeIp: null,
      callbackConnection: null,
      callbackIp: null,
      tokenClient: null,
      tokenIp: null,
      apiKey: null,
    });
  });

  const bad: [string, string, RegExp][] = [
    [
      'GATEHOUSE_RATE_LIMIT_AUTHORIZE_CONNECTION',
      '1000',
      /^GATEHOUSE_RATE_LIMIT_AUTHORIZE_CONNECTION must be "<count>\/<window>"/,
    ],
    [
      'GATEHOUSE_RATE_LIMIT_TOKEN_CLIENT',
      '0/60s',
      /^GATEHOUSE_RATE_LIMIT_TOKEN_CLIENT must allow at least 1 request/,
    ],
    [
      'GATEHOUSE_RATE_LIMIT_API_KEY',
      '10/48h',
      /^GATEHOUSE_RATE_LIMIT_API_KEY window must be between 1s and 24h/,
    ],
    ['GATEHOUSE_RATE_LIMITS', 'sometimes', /^GATEHOUSE_RATE_LIMITS must be "on" or "off"/],
    [
      'GATEHOUSE_TRUST_PROXY',
      'the load balancer',
      /^GATEHOUSE_TRUST_PROXY must be "off", "on", a number of proxy hops/,
    ],
  ];
  for (const [name, value, message] of bad) {
    it(`stops on a bad ${name} (${JSON.stringify(value)}), even with the limits off`, () => {
      assert.throws(
        () =>
          loadConfig({
            [name]: value,
            GATEHOUSE_RATE_LIMITS: name === 'GATEHOUSE_RATE_LIMITS' ? value : 'off',
          }),
        (err: unknown) => err instanceof ConfigError && err.variable === name && message.test(err.message),
      );
    });
  }
});
