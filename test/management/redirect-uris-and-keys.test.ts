import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { UnauthorizedException, WorkOS } from '@workos-inc/node';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';

/** The redirect URI allowlist and API keys: Gatehouse's own endpoints (no SDK method), called raw. */

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('redirect URIs', () => {
  let gh: TestGatehouse;
  before(async () => {
    gh = await startGatehouse();
  });
  after(() => gh.close());

  /** `[uri, default]` pairs of the allowlist, in creation order. */
  async function allowlist(): Promise<[string, boolean][]> {
    const res = await gh.api('GET', '/redirect_uris');
    assert.equal(res.status, 200);
    assert.equal(res.body.object, 'list');
    assert.deepEqual(res.body.list_metadata, { before: null, after: null });
    return res.body.data.map((r: { uri: string; default: boolean }) => [r.uri, r.default]);
  }

  it('starts empty', async () => {
    assert.deepEqual(await allowlist(), []);
  });

  it('adds URIs; the first non-wildcard one becomes the default', async () => {
    const wildcard = await gh.api('POST', '/redirect_uris', {
      uri: 'https://pr-*.preview.example.com/callback',
    });
    assert.equal(wildcard.status, 201);
    assert.equal(wildcard.body.default, false);

    const first = await gh.api('POST', '/redirect_uris', { uri: 'https://app.example.com/callback' });
    assert.equal(first.status, 201);
    assert.match(first.body.id, /^ruri_[0-9A-Z]{26}$/);
    assert.match(first.body.created_at, ISO);
    assert.deepEqual(first.body, {
      object: 'redirect_uri',
      id: first.body.id,
      uri: 'https://app.example.com/callback',
      default: true,
      created_at: first.body.created_at,
    });

    const second = await gh.api('POST', '/redirect_uris', { uri: 'http://localhost:*/callback' });
    assert.equal(second.status, 201);
    assert.equal(second.body.default, false);

    assert.deepEqual(await allowlist(), [
      ['https://pr-*.preview.example.com/callback', false],
      ['https://app.example.com/callback', true],
      ['http://localhost:*/callback', false],
    ]);
  });

  it('refuses a wildcard as the default', async () => {
    const res = await gh.api('POST', '/redirect_uris', {
      uri: 'https://*.apps.example.com/cb',
      default: true,
    });
    assert.equal(res.status, 422);
    assert.deepEqual(res.body, {
      message: 'Validation failed: default a wildcard URI cannot be the default redirect URI',
      code: 'invalid_request_parameters',
      errors: [{ field: 'default', code: 'default a wildcard URI cannot be the default redirect URI' }],
    });
    const wildcard = (await gh.api('GET', '/redirect_uris')).body.data[0];
    const promote = await gh.api('POST', `/redirect_uris/${wildcard.id}/default`);
    assert.equal(promote.status, 422);
    assert.equal(promote.body.code, 'invalid_request_parameters');
    assert.equal(promote.body.message, 'A wildcard URI cannot be the default redirect URI.');
    assert.deepEqual(
      promote.body.errors.map((e: { field: string }) => e.field),
      ['default'],
    );
    assert.equal((await allowlist()).length, 3);
  });

  it('refuses invalid URIs with the reason', async () => {
    const cases: [unknown, string][] = [
      [undefined, 'uri is required and must be a string'],
      [42, 'uri is required and must be a string'],
      ['', 'uri must not be empty'],
      [
        'http://app.example.com/cb',
        'uri plain http is allowed only for localhost, 127.0.0.1 and [::1]; use https',
      ],
      ['https://app.example.com/cb#frag', 'uri must not contain a fragment (RFC 6749 §3.1.2)'],
      [
        'https://user@app.example.com/cb',
        'uri must be an absolute http(s) URL without user information, e.g. https://app.example.com/callback',
      ],
      [
        'myapp://callback',
        'uri must be an absolute http(s) URL without user information, e.g. https://app.example.com/callback',
      ],
      ['https://App.example.com/cb', 'uri the host must be lower-case'],
      ['https://app.example.com/a/../cb', 'uri the path must not contain "." or ".." segments'],
      ['https://app.example.com:0/cb', 'uri the port must be a number from 1 to 65535'],
      ['https://*.com/cb', 'uri a wildcard needs a registrable domain after it, e.g. *.example.com'],
      ['https://*.co.uk/cb', 'uri a wildcard cannot sit directly under the public suffix "co.uk"'],
      ['https://*.github.io/cb', 'uri a wildcard cannot sit directly under the public suffix "github.io"'],
      ['https://app.example.com:*/cb', 'uri a wildcard port is allowed only on loopback hosts'],
      ['https://app.example.com/*', 'uri a wildcard is allowed only in the host or port'],
      ['https://app.example.com/ cb', 'uri must not contain whitespace, control characters or backslashes'],
    ];
    for (const [uri, code] of cases) {
      const res = await gh.api('POST', '/redirect_uris', { uri });
      assert.equal(res.status, 422, String(uri));
      assert.deepEqual(
        res.body,
        {
          message: `Validation failed: ${code}`,
          code: 'invalid_request_parameters',
          errors: [{ field: 'uri', code }],
        },
        String(uri),
      );
    }
    const badDefault = await gh.api('POST', '/redirect_uris', {
      uri: 'https://ok.example.com/cb',
      default: 'yes',
    });
    assert.equal(badDefault.status, 422);
    assert.deepEqual(badDefault.body.errors, [{ field: 'default', code: 'default must be true or false' }]);
    assert.equal((await allowlist()).length, 3);
  });

  it('refuses a duplicate with 409; matching is exact', async () => {
    const dup = await gh.api('POST', '/redirect_uris', { uri: 'https://app.example.com/callback' });
    assert.equal(dup.status, 409);
    assert.deepEqual(dup.body, {
      message: "The redirect URI 'https://app.example.com/callback' is already on the allowlist.",
      code: 'redirect_uri_already_exists',
    });
    // A trailing slash makes it another URI.
    const other = await gh.api('POST', '/redirect_uris', { uri: 'https://app.example.com/callback/' });
    assert.equal(other.status, 201);
    assert.equal(other.body.default, false);
  });

  it('moves the default, refuses to delete it while others exist, then deletes', async () => {
    const list = (await gh.api('GET', '/redirect_uris')).body.data as {
      id: string;
      uri: string;
      default: boolean;
    }[];
    const oldDefault = list.find((r) => r.default);
    const next = list.find((r) => r.uri === 'https://app.example.com/callback/');
    assert.ok(oldDefault && next);

    const moved = await gh.api('POST', `/redirect_uris/${next.id}/default`);
    assert.equal(moved.status, 200);
    assert.deepEqual(moved.body, { ...next, default: true });
    const defaults = (await allowlist()).filter(([, d]) => d);
    assert.deepEqual(defaults, [['https://app.example.com/callback/', true]]);

    const refused = await gh.api('DELETE', `/redirect_uris/${next.id}`);
    assert.equal(refused.status, 409);
    assert.deepEqual(refused.body, {
      message:
        'The default redirect URI cannot be removed while other redirect URIs exist; choose another default first.',
      code: 'default_redirect_uri_required',
    });

    // Non-default entries go freely.
    for (const r of list) {
      if (r.id === next.id) continue;
      const del = await gh.api('DELETE', `/redirect_uris/${r.id}`);
      assert.equal(del.status, 204, r.uri);
      assert.equal(del.body, undefined);
    }
    assert.deepEqual(await allowlist(), [['https://app.example.com/callback/', true]]);
    // The default is the last one left, so it can go now.
    assert.equal((await gh.api('DELETE', `/redirect_uris/${next.id}`)).status, 204);
    assert.deepEqual(await allowlist(), []);

    for (const [method, path] of [
      ['DELETE', `/redirect_uris/${next.id}`],
      ['POST', `/redirect_uris/${next.id}/default`],
    ] as const) {
      const gone = await gh.api(method, path);
      assert.equal(gone.status, 404);
      assert.deepEqual(gone.body, {
        message: `Redirect URI '${next.id}' not found.`,
        code: 'entity_not_found',
      });
    }
  });

  it('can add a URI directly as the default', async () => {
    const a = await gh.api('POST', '/redirect_uris', { uri: 'https://a.example.com/cb' });
    assert.equal(a.body.default, true);
    const b = await gh.api('POST', '/redirect_uris', { uri: 'https://b.example.com/cb', default: true });
    assert.equal(b.status, 201);
    assert.equal(b.body.default, true);
    const c = await gh.api('POST', '/redirect_uris', { uri: 'https://c.example.com/cb', default: false });
    assert.equal(c.body.default, false);
    assert.deepEqual((await allowlist()).slice(-3), [
      ['https://a.example.com/cb', false],
      ['https://b.example.com/cb', true],
      ['https://c.example.com/cb', false],
    ]);
  });
});

describe('API keys', () => {
  let gh: TestGatehouse;
  before(async () => {
    gh = await startGatehouse();
  });
  after(() => gh.close());

  function sdk(key: string): WorkOS {
    return new WorkOS(key, { apiHostname: '127.0.0.1', port: gh.port, https: false });
  }

  it('lists the bootstrap key without its value', async () => {
    const res = await gh.api('GET', '/api_keys');
    assert.equal(res.status, 200);
    assert.equal(res.body.data.length, 1);
    const k = res.body.data[0];
    assert.match(k.id, /^key_[0-9A-Z]{26}$/);
    assert.deepEqual(res.body, {
      object: 'list',
      data: [
        {
          object: 'api_key',
          id: k.id,
          name: 'GATEHOUSE_API_KEY',
          obfuscated_value: `sk_…${gh.apiKey.slice(-4)}`,
          created_at: k.created_at,
          revoked_at: null,
        },
      ],
      list_metadata: { before: null, after: null },
    });
  });

  it('creates a key shown once, which works with a new SDK instance, and revokes it', async () => {
    const res = await gh.api('POST', '/api_keys', { name: '  CI deploys  ' });
    assert.equal(res.status, 201);
    const key = res.body;
    assert.match(key.value, /^sk_[A-Za-z0-9]{43}$/);
    assert.match(key.id, /^key_[0-9A-Z]{26}$/);
    assert.deepEqual(key, {
      object: 'api_key',
      id: key.id,
      name: 'CI deploys',
      obfuscated_value: `sk_…${key.value.slice(-4)}`,
      created_at: key.created_at,
      revoked_at: null,
      value: key.value,
    });

    const client = sdk(key.value);
    const orgs = await client.organizations.listOrganizations();
    assert.deepEqual(orgs.data, []);

    // The listing never shows a value, only the obfuscated form.
    const list = await gh.api('GET', '/api_keys');
    const text = JSON.stringify(list.body);
    assert.ok(!text.includes(key.value));
    assert.ok(!text.includes(gh.apiKey));
    assert.ok(list.body.data.every((k: Record<string, unknown>) => !('value' in k)));
    assert.deepEqual(
      list.body.data.map((k: { name: string; obfuscated_value: string }) => [k.name, k.obfuscated_value]),
      [
        ['GATEHOUSE_API_KEY', `sk_…${gh.apiKey.slice(-4)}`],
        ['CI deploys', `sk_…${key.value.slice(-4)}`],
      ],
    );
    // The store keeps a hash, not the key.
    assert.ok(!JSON.stringify(await gh.store.listApiKeys()).includes(key.value));

    const del = await gh.api('DELETE', `/api_keys/${key.id}`);
    assert.equal(del.status, 204);
    await assert.rejects(client.organizations.listOrganizations(), UnauthorizedException);
    const raw = await fetch(`${gh.url}/organizations`, { headers: { authorization: `Bearer ${key.value}` } });
    assert.equal(raw.status, 401);
    assert.deepEqual(await raw.json(), {
      message: 'Could not authorize the request: the API key is invalid or revoked.',
      code: 'unauthorized',
    });

    // Revoked keys stay listed with their revocation time.
    const revoked = async () =>
      (await gh.api('GET', '/api_keys')).body.data.find((k: { id: string }) => k.id === key.id);
    const revokedAt = (await revoked()).revoked_at;
    assert.match(revokedAt, ISO);
    // Revoking again is idempotent and keeps the first revocation time.
    const again = await gh.api('DELETE', `/api_keys/${key.id}`);
    assert.equal(again.status, 204);
    assert.equal((await revoked()).revoked_at, revokedAt);
  });

  it('names a key by default and validates the name', async () => {
    const unnamed = await gh.api('POST', '/api_keys', {});
    assert.equal(unnamed.status, 201);
    assert.equal(unnamed.body.name, 'API key');
    assert.equal((await gh.api('DELETE', `/api_keys/${unnamed.body.id}`)).status, 204);

    const bad = await gh.api('POST', '/api_keys', { name: 7 });
    assert.equal(bad.status, 422);
    assert.deepEqual(bad.body.errors, [{ field: 'name', code: 'name must be a string' }]);
    const long = await gh.api('POST', '/api_keys', { name: 'x'.repeat(101) });
    assert.equal(long.status, 422);
    assert.deepEqual(long.body.errors, [{ field: 'name', code: 'name must be at most 100 characters' }]);
  });

  it('refuses to revoke the last active key with 409', async () => {
    const keys = (await gh.api('GET', '/api_keys')).body.data as { id: string; revoked_at: string | null }[];
    const active = keys.filter((k) => k.revoked_at === null);
    assert.equal(active.length, 1);
    const res = await gh.api('DELETE', `/api_keys/${active[0]?.id}`);
    assert.equal(res.status, 409);
    assert.deepEqual(res.body, {
      message: 'The last active API key cannot be revoked; create another one first.',
      code: 'last_api_key',
    });
    // Still works.
    assert.equal((await gh.api('GET', '/api_keys')).status, 200);

    const missing = await gh.api('DELETE', '/api_keys/key_missing');
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.body, { message: "API key 'key_missing' not found.", code: 'entity_not_found' });
  });

  it('lets a new key revoke the original one', async () => {
    const fresh = (await gh.api('POST', '/api_keys', { name: 'rotation' })).body;
    const original = (await gh.api('GET', '/api_keys')).body.data.find(
      (k: { name: string }) => k.name === 'GATEHOUSE_API_KEY',
    );
    const res = await fetch(`${gh.url}/api_keys/${original.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${fresh.value}`, 'content-type': 'application/json' },
    });
    assert.equal(res.status, 204);
    await assert.rejects(gh.workos.organizations.listOrganizations(), UnauthorizedException);
    // Now the fresh key is the last one and cannot revoke itself.
    const self = await fetch(`${gh.url}/api_keys/${fresh.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${fresh.value}` },
    });
    assert.equal(self.status, 409);
    assert.equal(((await self.json()) as { code: string }).code, 'last_api_key');
  });
});
