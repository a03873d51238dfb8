import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  GenericServerException,
  NotFoundException,
  UnauthorizedException,
  UnprocessableEntityException,
  WorkOS,
} from '@workos-inc/node';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';

/**
 * Transport rules of the management API (design/workos-api.md §0): JSON everywhere, `x-request-id` on every
 * response, the `{message, code, errors?}` error envelope, and nothing internal leaking out.
 */

interface Seen {
  label: string;
  status: number;
  headers: Headers;
  text: string;
}

const REQUEST_ID = /^req_[0-9A-Z]{26}$/;
/** A stack frame (`at fn (/path/file.ts:1:2)`) or any absolute source path. */
const STACK = /\bat .*[/\\][^\s]+\.(?:ts|js|mjs|cjs)\b|\/work\/|node_modules|\.ts:\d+/;

describe('management API transport rules', () => {
  let gh: TestGatehouse;
  /** Every raw response of this suite, checked together at the end. */
  const seen: Seen[] = [];
  let orgId: string;

  async function call(
    label: string,
    method: string,
    path: string,
    init: { headers?: Record<string, string>; body?: string; auth?: boolean } = {},
  ): Promise<Seen> {
    const headers: Record<string, string> = {
      ...(init.auth === false ? {} : { authorization: `Bearer ${gh.apiKey}` }),
      ...init.headers,
    };
    const res = await fetch(`${gh.url}${path}`, {
      method,
      headers,
      ...(init.body === undefined ? {} : { body: init.body }),
    });
    const s = { label, status: res.status, headers: res.headers, text: await res.text() };
    seen.push(s);
    return s;
  }

  /** Asserts the WorkOS error envelope and returns the parsed body. */
  function errorBody(s: Seen, status: number, code: string): Record<string, unknown> {
    assert.equal(s.status, status, s.label);
    assert.match(s.headers.get('content-type') ?? '', /^application\/json\b/, s.label);
    assert.equal(s.headers.get('cache-control'), 'no-store', s.label);
    const body = JSON.parse(s.text) as Record<string, unknown>;
    assert.equal(body.code, code, s.label);
    assert.equal(typeof body.message, 'string', s.label);
    assert.ok((body.message as string).length > 0, s.label);
    assert.deepEqual(
      Object.keys(body),
      status === 422 ? ['message', 'code', 'errors'] : ['message', 'code'],
      s.label,
    );
    return body;
  }

  before(async () => {
    gh = await startGatehouse();
    orgId = (await gh.api('POST', '/organizations', { name: 'Acme' })).body.id;
  });
  after(() => gh.close());

  it('answers 401 in JSON without, or with a malformed or wrong, Authorization header', async () => {
    const none = errorBody(
      await call('no auth', 'GET', '/organizations', { auth: false }),
      401,
      'unauthorized',
    );
    assert.equal(none.message, 'Could not authorize the request: send the API key as a Bearer token.');
    for (const [label, value] of [
      ['basic', `Basic ${Buffer.from(`${gh.apiKey}:`).toString('base64')}`],
      ['empty bearer', 'Bearer '],
      ['two tokens', `Bearer ${gh.apiKey} extra`],
    ] as const) {
      const s = await call(label, 'GET', '/organizations', {
        auth: false,
        headers: { authorization: value },
      });
      assert.equal(errorBody(s, 401, 'unauthorized').message, none.message, label);
    }
    const wrong = await call('wrong key', 'GET', '/organizations', {
      auth: false,
      headers: { authorization: 'Bearer sk_not_a_real_key' },
    });
    assert.equal(
      errorBody(wrong, 401, 'unauthorized').message,
      'Could not authorize the request: the API key is invalid or revoked.',
    );
    // Unauthenticated writes are refused before the body is looked at.
    const write = await call('no auth POST', 'POST', '/organizations', {
      auth: false,
      headers: { 'content-type': 'application/json' },
      body: '{broken',
    });
    errorBody(write, 401, 'unauthorized');
    // The scheme name is case-insensitive (RFC 7235 §2.1).
    const lower = await call('lower-case bearer', 'GET', '/organizations', {
      auth: false,
      headers: { authorization: `bearer ${gh.apiKey}` },
    });
    assert.equal(lower.status, 200);
  });

  it('answers 404 in JSON for unknown routes, methods and IDs', async () => {
    const route = errorBody(await call('unknown route', 'GET', '/nope?x=1'), 404, 'not_found');
    assert.equal(route.message, "The requested path '/nope' could not be found.");
    errorBody(await call('unknown route, no auth', 'GET', '/sso/nope', { auth: false }), 404, 'not_found');
    errorBody(await call('unknown method', 'PATCH', `/organizations/${orgId}`), 404, 'not_found');
    const id = errorBody(
      await call('unknown id', 'GET', '/organizations/org_missing'),
      404,
      'entity_not_found',
    );
    assert.equal(id.message, "Organization 'org_missing' not found.");
  });

  it('answers 400 invalid_request_body for malformed JSON', async () => {
    for (const [label, body] of [
      ['truncated', '{"name": "Acme"'],
      ['not json', 'name=Acme'],
      ['trailing garbage', '{"name":"Acme"} x'],
    ] as const) {
      const s = await call(`malformed ${label}`, 'POST', '/organizations', {
        headers: { 'content-type': 'application/json' },
        body,
      });
      assert.deepEqual(errorBody(s, 400, 'invalid_request_body'), {
        message: 'The request body is not valid JSON.',
        code: 'invalid_request_body',
      });
    }
    const s = await call('malformed PUT', 'PUT', `/organizations/${orgId}`, {
      headers: { 'content-type': 'application/json' },
      body: '[',
    });
    errorBody(s, 400, 'invalid_request_body');
  });

  it('answers 422 with errors for a JSON body that is not an object, and 415 for other media types', async () => {
    for (const body of ['"Acme"', '[1,2]', '42', 'null']) {
      const s = await call(`json ${body}`, 'POST', '/organizations', {
        headers: { 'content-type': 'application/json' },
        body,
      });
      if (body === 'null') {
        // null is "no body": the usual required-field error.
        assert.deepEqual(errorBody(s, 422, 'invalid_request_parameters').errors, [
          { field: 'name', code: 'name is required' },
        ]);
        continue;
      }
      assert.deepEqual(errorBody(s, 422, 'invalid_request_parameters'), {
        message: 'The request body must be a JSON object.',
        code: 'invalid_request_parameters',
        errors: [{ field: 'body', code: 'body must be a JSON object' }],
      });
    }
    const xml = await call('xml body', 'POST', '/organizations', {
      headers: { 'content-type': 'application/xml' },
      body: '<organization/>',
    });
    assert.equal(
      errorBody(xml, 415, 'unsupported_media_type').message,
      'Send the request body as application/json.',
    );
    const big = await call('large body', 'POST', '/organizations', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x'.repeat(1024 * 1024) }),
    });
    errorBody(big, 413, 'request_entity_too_large');
  });

  it('accepts DELETE with Content-Type: application/json and an empty body (what the SDK sends)', async () => {
    const org = (await gh.api('POST', '/organizations', { name: 'Temp' })).body;
    const s = await call('delete empty json', 'DELETE', `/organizations/${org.id}`, {
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(s.status, 204);
    assert.equal(s.text, '');
    // Also with an explicit zero Content-Length.
    const org2 = (await gh.api('POST', '/organizations', { name: 'Temp 2' })).body;
    const s2 = await call('delete empty json, length 0', 'DELETE', `/organizations/${org2.id}`, {
      headers: { 'content-type': 'application/json', 'content-length': '0' },
      body: '',
    });
    assert.equal(s2.status, 204);

    // And through the SDK, which really does send that header.
    const sent: { method: string; contentType: string | null; body: unknown }[] = [];
    const workos = new WorkOS(gh.apiKey, {
      apiHostname: '127.0.0.1',
      port: gh.port,
      https: false,
      fetchFn: (input, init) => {
        sent.push({
          method: init?.method ?? 'GET',
          contentType: new Headers(init?.headers).get('content-type'),
          body: init?.body,
        });
        return fetch(input, init);
      },
    });
    const org3 = await workos.organizations.createOrganization({ name: 'Temp 3' });
    await workos.organizations.deleteOrganization(org3.id);
    assert.equal(sent[1]?.method, 'DELETE');
    assert.equal(sent[1]?.contentType, 'application/json');
    assert.equal(await gh.store.getOrganization(org3.id), null);
  });

  it('answers a malformed URL (bad percent-encoding) with 400 JSON and a request ID, like every other error', async () => {
    const s = await call('bad percent-encoding', 'GET', '/connections/%E0%A4%A');
    errorBody(s, 400, 'invalid_request_url');
    assert.match(s.headers.get('x-request-id') ?? '', /^req_/);
  });

  it('routes long path parameters (a percent-encoded external_id of 128 characters) normally', async () => {
    const externalId = 'é'.repeat(128);
    const created = await gh.api('POST', '/organizations', { name: 'Long', external_id: externalId });
    assert.equal(created.status, 201);
    const org = await gh.workos.organizations.getOrganizationByExternalId(externalId);
    assert.equal(org.id, created.body.id);
    await assert.rejects(gh.workos.sso.getConnection('a'.repeat(150)), NotFoundException);
  });

  it('surfaces the x-request-id of an error through the SDK exception', async () => {
    const responses: Response[] = [];
    const workos = new WorkOS(gh.apiKey, {
      apiHostname: '127.0.0.1',
      port: gh.port,
      https: false,
      fetchFn: async (input, init) => {
        const res = await fetch(input, init);
        responses.push(res.clone());
        return res;
      },
    });
    await assert.rejects(workos.organizations.getOrganization('org_missing'), (err: unknown) => {
      assert.ok(err instanceof NotFoundException);
      assert.equal(err.code, 'entity_not_found');
      assert.equal(err.message, "Organization 'org_missing' not found.");
      assert.match(err.requestID, REQUEST_ID);
      assert.equal(err.requestID, responses[0]?.headers.get('x-request-id'));
      return true;
    });
    await assert.rejects(workos.organizations.createOrganization({ name: '' }), (err: unknown) => {
      assert.ok(err instanceof UnprocessableEntityException);
      assert.equal(err.requestID, responses[1]?.headers.get('x-request-id'));
      return true;
    });
    const unauthorized = new WorkOS('sk_wrong', {
      apiHostname: '127.0.0.1',
      port: gh.port,
      https: false,
      fetchFn: async (input, init) => {
        const res = await fetch(input, init);
        responses.push(res.clone());
        return res;
      },
    });
    await assert.rejects(unauthorized.organizations.listOrganizations(), (err: unknown) => {
      assert.ok(err instanceof UnauthorizedException);
      assert.equal(err.requestID, responses[2]?.headers.get('x-request-id'));
      return true;
    });
    // Every body the SDK saw was JSON.
    for (const res of responses) {
      assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/);
      await res.json();
    }
  });

  it('answers an unexpected failure with a generic 500 that carries only the request ID', async () => {
    const original = gh.store.listRedirectUris;
    gh.store.listRedirectUris = async () => {
      const err = new Error('SQLITE_CORRUPT: secret detail at /work/main/src/storage/sqlite/index.ts:1:1');
      err.stack = `${err.message}\n    at listRedirectUris (/work/main/src/storage/sqlite/index.ts:42:7)`;
      throw err;
    };
    try {
      const s = await call('internal error', 'GET', '/redirect_uris');
      assert.deepEqual(errorBody(s, 500, 'server_error'), {
        message: 'An internal error occurred. The request ID identifies it in the logs.',
        code: 'server_error',
      });
      assert.ok(!s.text.includes('SQLITE'));

      // The SDK (no retries) sees a GenericServerException with the same request ID as the header.
      let header: string | null = null;
      const workos = new WorkOS(gh.apiKey, {
        apiHostname: '127.0.0.1',
        port: gh.port,
        https: false,
        maxRetries: 0,
        fetchFn: async (input, init) => {
          const res = await fetch(input, init);
          header = res.headers.get('x-request-id');
          return res;
        },
      });
      await assert.rejects(workos.get('/redirect_uris', {}), (err: unknown) => {
        assert.ok(err instanceof GenericServerException);
        assert.equal(err.status, 500);
        assert.equal(err.message, 'An internal error occurred. The request ID identifies it in the logs.');
        assert.match(err.requestID, REQUEST_ID);
        assert.equal(err.requestID, header);
        return true;
      });
    } finally {
      gh.store.listRedirectUris = original;
    }
    assert.equal((await call('recovered', 'GET', '/redirect_uris')).status, 200);
  });

  it('sends JSON with the right status on every success', async () => {
    const list = await call('list', 'GET', '/organizations');
    assert.equal(list.status, 200);
    const created = await call('create', 'POST', '/organizations', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Initech' }),
    });
    assert.equal(created.status, 201);
    const id = (JSON.parse(created.text) as { id: string }).id;
    assert.equal((await call('get', 'GET', `/organizations/${id}`)).status, 200);
    const updated = await call('update', 'PUT', `/organizations/${id}`, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Initech Corp' }),
    });
    assert.equal(updated.status, 200);
    assert.equal((JSON.parse(updated.text) as { name: string }).name, 'Initech Corp');
    // GET with the SDK's Content-Type and no body.
    const sdkGet = await call('get with json content-type', 'GET', '/connections', {
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(sdkGet.status, 200);
    for (const s of [list, created, updated, sdkGet]) {
      assert.match(s.headers.get('content-type') ?? '', /^application\/json\b/, s.label);
      JSON.parse(s.text);
    }
  });

  it('puts a distinct x-request-id on every response and JSON on every non-204 body, without stack traces', () => {
    assert.ok(seen.length >= 25, String(seen.length));
    const statuses = new Set(seen.map((s) => s.status));
    for (const status of [200, 201, 204, 400, 401, 404, 413, 415, 422, 500]) {
      assert.ok(statuses.has(status), `no ${status} response was checked`);
    }
    const ids = new Set<string>();
    for (const s of seen) {
      const id = s.headers.get('x-request-id');
      assert.match(id ?? '', REQUEST_ID, s.label);
      ids.add(id as string);
      assert.doesNotMatch(s.text, STACK, s.label);
      if (s.status === 204) {
        assert.equal(s.text, '', s.label);
        continue;
      }
      assert.match(s.headers.get('content-type') ?? '', /^application\/json\b/, s.label);
      assert.doesNotThrow(() => JSON.parse(s.text), s.label);
    }
    assert.equal(ids.size, seen.length);
  });
});
