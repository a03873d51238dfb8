import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { SECRET_HEADERS, SECRET_PARAMS } from '../../src/http/log.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { connectOidcIdp, type OidcSetup } from '../helpers/oidc-idp.ts';

/**
 * The access log (docs/operations.md): one JSON line per request, with its request ID, and never the value of a
 * secret query parameter or header. Driven by the lists in src/http/log.ts: a name added there is tested here.
 */

const APP = 'http://localhost:3000/callback';

describe('the access log', () => {
  let gh: TestGatehouse;
  let setup: OidcSetup;
  let output = '';

  before(async () => {
    const stream = new PassThrough();
    stream.on('data', (chunk) => {
      output += chunk;
    });
    gh = await startGatehouse({ env: { GATEHOUSE_LOG_LEVEL: 'info' }, logStream: stream });
    setup = await connectOidcIdp(gh, { appRedirectUri: APP });
  });
  after(async () => {
    await gh.close();
    await setup.idp.close();
  });

  const marker = () => `SECRET${randomBytes(9).toString('hex')}`;

  /** The log lines of one request (by its request ID), once its access log line is written. */
  async function linesOf(res: Response): Promise<{ text: string; lines: Record<string, unknown>[] }> {
    await res.arrayBuffer();
    const id = res.headers.get('x-request-id');
    assert.match(id ?? '', /^req_[0-9A-Z]{26}$/);
    const deadline = Date.now() + 5000;
    for (;;) {
      const lines = output
        .split('\n')
        .filter((line) => line.includes(`"reqId":"${id}"`))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      if (lines.some((line) => line.msg === 'request completed')) {
        return { text: lines.map((line) => JSON.stringify(line)).join('\n'), lines };
      }
      if (Date.now() > deadline) throw new Error(`no access log line for ${id}:\n${output.slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  it('writes one line per request, when it is answered: request ID, method, URL, client, status, time', async () => {
    const res = await fetch(`${gh.url}/health?probe=1`);
    const { lines } = await linesOf(res);
    assert.equal(lines.length, 1);
    const [line] = lines as [Record<string, unknown>];
    assert.equal(line.level, 30);
    assert.equal(line.msg, 'request completed');
    assert.equal(line.reqId, res.headers.get('x-request-id'));
    const req = line.req as Record<string, unknown>;
    assert.equal(req.method, 'GET');
    assert.equal(req.url, '/health?probe=1');
    assert.equal(req.remoteAddress, '127.0.0.1');
    assert.deepEqual(line.res, { statusCode: 200 });
    assert.equal(typeof line.responseTime, 'number');
    assert.ok(!('headers' in req), 'no headers');
  });

  // A secret parameter's name, as the app or an attacker may spell it: any case, percent-encoded.
  const spellings = (name: string) => [
    name,
    name.toUpperCase(),
    `%${(name.codePointAt(0) as number).toString(16)}${name.slice(1)}`,
  ];

  for (const name of SECRET_PARAMS) {
    it(`never logs the value of the query parameter "${name}" (any spelling), and keeps its name`, async () => {
      for (const spelling of spellings(name)) {
        const value = marker();
        for (const path of ['/sso/oidc/callback/somekey', '/sso/authorize', '/made-up']) {
          const res = await fetch(
            `${gh.url}${path}?keep=visible&${spelling}=${value}&${spelling}=${value}2`,
            {
              redirect: 'manual',
            },
          );
          const { text, lines } = await linesOf(res);
          assert.ok(!text.includes(value), `${spelling} at ${path}:\n${text}`);
          const access = lines.find((line) => line.msg === 'request completed') as { req: { url: string } };
          assert.equal(access.req.url, `${path}?keep=visible&${spelling}=[redacted]&${spelling}=[redacted]`);
        }
      }
    });

    it(`never logs "${name}" posted in a form body`, async () => {
      const value = marker();
      const res = await fetch(`${gh.url}/sso/saml/acs/somekey`, {
        method: 'POST',
        body: new URLSearchParams({ [name]: value, SAMLResponse: value, RelayState: value }),
        redirect: 'manual',
      });
      const { text } = await linesOf(res);
      assert.ok(!text.includes(value), text);
    });
  }

  for (const name of SECRET_HEADERS) {
    it(`never logs the request header "${name}"`, async () => {
      const value = marker();
      const res = await fetch(`${gh.url}/organizations`, {
        headers: { [name]: name.endsWith('authorization') ? `Bearer ${value}` : `session=${value}` },
      });
      const { text } = await linesOf(res);
      assert.ok(!text.includes(value), text);
    });
  }

  it('never logs the response header set-cookie (the binding cookie set by /sso/authorize)', async () => {
    const res = await fetch(
      gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: APP,
        connection: setup.connectionId,
      }),
      { redirect: 'manual' },
    );
    assert.equal(res.status, 302);
    const cookies = res.headers.getSetCookie();
    assert.ok(cookies.length > 0);
    const { text } = await linesOf(res);
    for (const cookie of cookies) {
      const value = cookie.split(';')[0]?.split('=')[1] ?? '';
      assert.ok(value.length >= 20);
      assert.ok(!text.includes(value), text);
    }
  });

  it('never logs the API key the management API was called with', async () => {
    const res = await fetch(`${gh.url}/organizations`, { headers: { authorization: `Bearer ${gh.apiKey}` } });
    assert.equal(res.status, 200);
    const { text } = await linesOf(res);
    assert.ok(!text.includes(gh.apiKey), text);
  });

  it('redacts every secret header wherever a log line carries a headers object', async () => {
    const value = marker();
    const headers = Object.fromEntries(SECRET_HEADERS.map((name) => [name, value]));
    const before = output.length;
    gh.app.log.warn({ headers, upstream: { headers } }, 'headers logged by mistake');
    const line = output.slice(before);
    assert.ok(line.includes('headers logged by mistake'), line);
    assert.ok(!line.includes(value), line);
    const logged = JSON.parse(line) as {
      headers: Record<string, string>;
      upstream: { headers: Record<string, string> };
    };
    for (const name of SECRET_HEADERS) {
      assert.equal(logged.headers[name], '[Redacted]', name);
      assert.equal(logged.upstream.headers[name], '[Redacted]', name);
    }
  });
});
