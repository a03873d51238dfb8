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
      'postgres://localhost/gatehouse',
      /^GATEHOUSE_DATABASE_URL PostgreSQL is not supported yet/,
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
