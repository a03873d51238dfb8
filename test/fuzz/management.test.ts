import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { startGatehouse, TEST_API_KEY, type TestGatehouse } from '../helpers/gatehouse.ts';
import {
  type Expectations,
  exercise,
  type FuzzRequest,
  fuzz,
  hostileString,
  oversize,
  rawEncoded,
} from './harness.ts';

/**
 * Property-based fuzzing of every management API route (issue 15): the JSON bodies with fields of the wrong type,
 * null, extra, huge, deeply nested, prototype keys (`__proto__`, `constructor`); path ids and query strings
 * mutated; the API key mutated. Each response: never a 5xx, no redirect, no secret (the API key, the secret key, an
 * IdP client secret stored by a connection), CPU within the bound.
 */

const SECRET_KEY = 'beef'.repeat(16);
const IDP_SECRET = 'IDP-CLIENT-SECRET-CANARY-5c1e';

type Kind =
  | 'organization'
  | 'connection'
  | 'domain'
  | 'redirect_uri'
  | 'webhook'
  | 'api_key'
  | 'session'
  | 'event';

/** Every route of src/http/routes/management.ts, with the kind of id in its path and a valid body to mutate. */
const ROUTES: { method: string; path: string; id?: Kind; body?: Record<string, unknown> }[] = [
  { method: 'GET', path: '/organizations' },
  {
    method: 'POST',
    path: '/organizations',
    body: { name: 'Fuzz', domain_data: [{ domain: 'fuzz.example', state: 'pending' }] },
  },
  { method: 'GET', path: '/organizations/external_id/{id}', id: 'organization' },
  { method: 'GET', path: '/organizations/{id}', id: 'organization' },
  {
    method: 'PUT',
    path: '/organizations/{id}',
    id: 'organization',
    body: { name: 'Renamed', external_id: 'ext-1' },
  },
  { method: 'DELETE', path: '/organizations/{id}', id: 'organization' },
  {
    method: 'POST',
    path: '/portal/generate_link',
    body: { organization: '{org}', intent: 'sso', return_url: 'https://app.example.com' },
  },
  {
    method: 'POST',
    path: '/organization_domains',
    body: { organization_id: '{org}', domain: 'new.example' },
  },
  { method: 'GET', path: '/organization_domains/{id}', id: 'domain' },
  { method: 'POST', path: '/organization_domains/{id}/verify', id: 'domain' },
  { method: 'DELETE', path: '/organization_domains/{id}', id: 'domain' },
  { method: 'GET', path: '/connections' },
  {
    method: 'POST',
    path: '/connections',
    body: {
      organization_id: '{org}',
      connection_type: 'GenericOIDC',
      name: 'Fuzz OIDC',
      oidc_options: { issuer: 'http://127.0.0.1:9', client_id: 'c', client_secret: 'fuzz-secret' },
    },
  },
  { method: 'GET', path: '/connections/{id}', id: 'connection' },
  {
    method: 'PUT',
    path: '/connections/{id}',
    id: 'connection',
    body: { name: 'Renamed', saml_options: { idp_metadata_url: 'http://127.0.0.1:9/md' } },
  },
  { method: 'DELETE', path: '/connections/{id}', id: 'connection' },
  { method: 'POST', path: '/connections/{id}/activate', id: 'connection' },
  { method: 'POST', path: '/connections/{id}/deactivate', id: 'connection' },
  { method: 'POST', path: '/connections/{id}/refresh_metadata', id: 'connection' },
  { method: 'GET', path: '/redirect_uris' },
  { method: 'POST', path: '/redirect_uris', body: { uri: 'https://app.example.com/cb', default: false } },
  { method: 'POST', path: '/redirect_uris/{id}/default', id: 'redirect_uri' },
  { method: 'DELETE', path: '/redirect_uris/{id}', id: 'redirect_uri' },
  { method: 'GET', path: '/sso/sessions' },
  { method: 'GET', path: '/sso/sessions/{id}', id: 'session' },
  { method: 'GET', path: '/events' },
  { method: 'GET', path: '/webhook_endpoints' },
  {
    method: 'POST',
    path: '/webhook_endpoints',
    body: { endpoint_url: 'http://127.0.0.1:9/hook', events: ['connection.activated'] },
  },
  { method: 'GET', path: '/webhook_endpoints/{id}', id: 'webhook' },
  {
    method: 'PATCH',
    path: '/webhook_endpoints/{id}',
    id: 'webhook',
    body: { status: 'disabled', events: ['dsync.user.created'] },
  },
  { method: 'DELETE', path: '/webhook_endpoints/{id}', id: 'webhook' },
  { method: 'POST', path: '/webhook_endpoints/{id}/rotate_secret', id: 'webhook' },
  { method: 'GET', path: '/webhook_endpoints/{id}/deliveries', id: 'webhook' },
  { method: 'GET', path: '/webhook_endpoints/{id}/deliveries/{event}', id: 'webhook' },
  { method: 'GET', path: '/api_keys' },
  { method: 'POST', path: '/api_keys', body: { name: 'CI' } },
  { method: 'DELETE', path: '/api_keys/{id}', id: 'api_key' },
];

/** The kind of object a POST to this path creates (its id joins the pool the fuzz picks from). */
const CREATES: Record<string, Kind> = {
  '/organizations': 'organization',
  '/organization_domains': 'domain',
  '/connections': 'connection',
  '/redirect_uris': 'redirect_uri',
  '/webhook_endpoints': 'webhook',
  '/api_keys': 'api_key',
};

const FIELDS = [
  'name',
  'external_id',
  'domain_data',
  'domains',
  'domain',
  'organization_id',
  'organization',
  'connection_type',
  'oidc_options',
  'saml_options',
  'state',
  'status',
  'uri',
  'default',
  'endpoint_url',
  'events',
  'intent',
  'return_url',
  'intent_options',
  'admin_emails',
  'metadata',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
];

/** JSON text of a hostile value: wrong types, nulls, prototype keys, huge or deeply nested. */
const hostileJson = fc.oneof(
  { weight: 3, arbitrary: hostileString.map((s) => JSON.stringify(s)) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'null',
      '0',
      '-1',
      '1e308',
      'true',
      '[]',
      '{}',
      '[null]',
      '{"__proto__":{"admin":true}}',
      '{"constructor":{"prototype":{"polluted":1}}}',
      '[{"domain":"a.example","state":"verified","__proto__":{"x":1}}]',
      '{"issuer":"http://127.0.0.1:9","client_id":{},"client_secret":[]}',
      '"https://app.example.com"',
      '"javascript:alert(1)"',
    ),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
  // Huge and deep values as a compact description (so that a saved regression case stays small), made at send time.
  {
    weight: 2,
    arbitrary: fc.record({
      big: fc.constantFrom('arrays', 'objects', 'list'),
      n: fc.constantFrom(50, 1000, 20_000, 100_000),
    }),
  },
);

type HostileJson = typeof hostileJson extends fc.Arbitrary<infer T> ? T : never;

/** The JSON text of a hostile value. */
function jsonText(v: HostileJson): string {
  if (typeof v === 'string') return v;
  if (v.big === 'arrays') return `${'['.repeat(v.n)}${']'.repeat(v.n)}`;
  if (v.big === 'objects') return `${'{"a":'.repeat(v.n)}1${'}'.repeat(v.n)}`;
  return `[${'1,'.repeat(v.n)}1]`;
}

const bodyEdit = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ op: 'valid' as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('set' as const),
      field: fc.constantFrom(...FIELDS),
      json: hostileJson,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('remove' as const), field: fc.constantFrom(...FIELDS) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('whole' as const), json: hostileJson }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('raw' as const),
      text: fc.oneof(
        fc.string({ maxLength: 30 }),
        fc.constantFrom('{', '{"a":1,}', '{"a":1}{"b":2}', '\ufeff{}', '{"a":"\\ud800"}'),
        oversize,
      ),
    }),
  },
);

const managementInput = fc.record({
  route: fc.nat({ max: ROUTES.length - 1 }),
  id: fc.oneof(
    { weight: 4, arbitrary: fc.nat().map((n) => ({ existing: n })) },
    {
      weight: 1,
      arbitrary: fc.oneof(hostileString.map(encodeURIComponentSafe), rawEncoded).map((raw) => ({ raw })),
    },
  ),
  body: bodyEdit,
  query: fc.option(
    fc.array(
      fc.tuple(
        fc.constantFrom(
          'limit',
          'before',
          'after',
          'order',
          'domains',
          'events',
          'organization_id',
          'range_start',
          'outcome',
          'x',
        ),
        fc.oneof(
          hostileString.map(encodeURIComponentSafe),
          rawEncoded,
          fc.constantFrom('-1', '0', '101', '1e3', 'desc', 'normal'),
        ),
      ),
      { maxLength: 4 },
    ),
  ),
  contentType: fc.constantFrom('json', 'json', 'json', 'form', 'none', 'json-charset'),
  auth: fc.oneof(
    { weight: 12, arbitrary: fc.constant('key' as const) },
    { weight: 1, arbitrary: fc.constantFrom('lower', 'wrong', 'none', 'basic', 'two') },
  ),
});
type ManagementInput = typeof managementInput extends fc.Arbitrary<infer T> ? T : never;

function encodeURIComponentSafe(s: string): string {
  return encodeURIComponent(s.toWellFormed());
}

describe('fuzz: the management API', () => {
  let gh: TestGatehouse;
  let expect: Expectations;
  const ids: Record<Kind, string[]> = {
    organization: [],
    connection: [],
    domain: [],
    redirect_uri: [],
    webhook: [],
    api_key: [],
    session: [],
    event: [],
  };

  before(async () => {
    gh = await startGatehouse({
      env: {
        GATEHOUSE_RATE_LIMITS: 'off',
        GATEHOUSE_SECRET_KEY: SECRET_KEY,
        GATEHOUSE_WEBHOOK_ALLOW_PRIVATE: '127.0.0.1',
        GATEHOUSE_UPSTREAM_TIMEOUT_MS: '500',
        GATEHOUSE_WEBHOOK_TIMEOUT_MS: '500',
      },
    });
    expect = {
      rules: { gatehouse: gh.url, upstreamOrigins: [], allowlist: [] },
      canaries: [TEST_API_KEY, SECRET_KEY, IDP_SECRET],
    };
    for (const name of ['Acme', 'Globex']) {
      const org = await gh.api('POST', '/organizations', {
        name,
        external_id: `ext-${name}`,
        domain_data: [{ domain: `${name.toLowerCase()}.example`, state: 'verified' }],
      });
      assert.equal(org.status, 201, JSON.stringify(org.body));
      ids.organization.push(org.body.id, `ext-${name}`);
      ids.domain.push(...org.body.domains.map((d: { id: string }) => d.id));
      const conn = await gh.api('POST', '/connections', {
        organization_id: org.body.id,
        connection_type: 'OktaOIDC',
        name: `${name} Okta`,
        oidc_options: { issuer: 'http://127.0.0.1:9', client_id: 'c', client_secret: IDP_SECRET },
      });
      assert.equal(conn.status, 201, JSON.stringify(conn.body));
      const saml = await gh.api('POST', '/connections', {
        organization_id: org.body.id,
        connection_type: 'OktaSAML',
        name: `${name} SAML`,
      });
      assert.equal(saml.status, 201, JSON.stringify(saml.body));
      ids.connection.push(conn.body.id, saml.body.id);
    }
    for (const uri of ['http://localhost:3000/callback', 'https://app.example.com/cb']) {
      const r = await gh.api('POST', '/redirect_uris', { uri });
      ids.redirect_uri.push(r.body.id);
    }
    const hook = await gh.api('POST', '/webhook_endpoints', {
      endpoint_url: 'http://127.0.0.1:9/hook',
      events: ['connection.activated'],
    });
    assert.equal(hook.status, 201, JSON.stringify(hook.body));
    ids.webhook.push(hook.body.id);
    const key = await gh.api('POST', '/api_keys', { name: 'spare' });
    ids.api_key.push(key.body.id); // never the test's own key: revoking it would end the run
    ids.session.push('sess_01M99HKRVWK8702A4KKE4NS6Z6');
    const events = await gh.api('GET', '/events');
    ids.event.push(...(events.body.data ?? []).map((e: { id: string }) => e.id).slice(0, 3), 'event_x');
  });

  after(async () => {
    await gh?.close();
  });

  function request(input: ManagementInput): FuzzRequest {
    const route = ROUTES[input.route] ?? ROUTES[0];
    assert.ok(route);
    const pick = (kind: Kind, n: number) => ids[kind][n % ids[kind].length] ?? 'none';
    const id = 'existing' in input.id ? pick(route.id ?? 'organization', input.id.existing) : input.id.raw;
    const event = 'existing' in input.id ? pick('event', input.id.existing) : input.id.raw;
    let path = route.path.replace('{id}', id).replace('{event}', event);
    if (input.query) path += `?${input.query.map(([k, v]) => `${k}=${v}`).join('&')}`;
    let body: string | undefined;
    if (route.body || input.body.op !== 'valid') {
      const base = JSON.parse(
        JSON.stringify(route.body ?? {}).replaceAll('{org}', ids.organization[0] ?? ''),
      );
      const e = input.body;
      if (e.op === 'valid') body = JSON.stringify(base);
      if (e.op === 'remove') {
        delete base[e.field];
        body = JSON.stringify(base);
      }
      if (e.op === 'set') {
        // Built as text so that `__proto__` is a key of the JSON, not the prototype of an object literal.
        const rest = JSON.stringify(base).slice(1, -1);
        body = `{${rest}${rest ? ',' : ''}${JSON.stringify(e.field)}:${jsonText(e.json)}}`;
      }
      if (e.op === 'whole') body = jsonText(e.json);
      if (e.op === 'raw') body = e.text;
    }
    const headers: Record<string, string> = {};
    if (body !== undefined) {
      if (input.contentType === 'json') headers['content-type'] = 'application/json';
      if (input.contentType === 'json-charset') headers['content-type'] = 'application/json; charset=utf-16';
      if (input.contentType === 'form') headers['content-type'] = 'application/x-www-form-urlencoded';
      if (input.contentType === 'none') body = undefined;
    }
    const auth = {
      key: `Bearer ${TEST_API_KEY}`,
      lower: `bearer ${TEST_API_KEY}`,
      wrong: `Bearer ${TEST_API_KEY}x`,
      none: undefined,
      basic: `Basic ${Buffer.from(`${TEST_API_KEY}:`).toString('base64')}`,
      two: `Bearer ${TEST_API_KEY} ${TEST_API_KEY}`,
    }[input.auth];
    if (auth) headers.authorization = auth;
    return { method: route.method, url: path, headers, ...(body === undefined ? {} : { body }) };
  }

  it('every route: JSON of wrong types, nulls, extra fields, huge and deep values, prototype keys; ids, queries and keys mutated', async () => {
    await fuzz(
      'management',
      managementInput,
      async (input) => {
        await exercise(
          gh.app,
          () => request(input),
          expect,
          (res) => {
            // No prototype pollution leaks into objects made afterwards.
            assert.equal(({} as Record<string, unknown>).admin, undefined, 'Object.prototype polluted');
            assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype polluted');
            if (res.status === 401) assert.notEqual(input.auth, 'key', `the right key refused: ${res.body}`);
            // What the fuzz creates, it may later read, change and delete.
            const route = ROUTES[input.route];
            const creates = route?.method === 'POST' ? CREATES[route.path] : undefined;
            if (res.status === 201 && creates) {
              const id = JSON.parse(res.body).id;
              if (typeof id === 'string') ids[creates].push(id);
            }
            // What it deleted leaves the pool (one in ten stays: a deleted id is worth a request now and then).
            if (res.status === 204 && route?.id && 'existing' in input.id && input.id.existing % 10 !== 0) {
              const pool = ids[route.id];
              if (pool.length > 1) pool.splice(input.id.existing % pool.length, 1);
            }
          },
        );
      },
      { runs: 2000, share: 1 },
    );
  });
});
