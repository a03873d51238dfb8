import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { TestBrowser } from '../helpers/browser.ts';
import { startNode } from '../helpers/cluster.ts';
import { freePort, TEST_API_KEY, TEST_CLIENT_ID } from '../helpers/gatehouse.ts';
import { startIdp, type TestIdp } from '../helpers/oidc-idp.ts';

/**
 * Process faults on real child processes (`node src/main.ts`): SIGKILL during writes on a SQLite file, then a
 * restart on the same file; SIGTERM while requests are in flight (they drain, the process exits within a bound).
 */

const APP = 'http://localhost:3000/callback';

async function api(url: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function redeem(url: string, code: string) {
  const res = await fetch(`${url}/sso/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      client_id: TEST_CLIENT_ID,
      client_secret: TEST_API_KEY,
      grant_type: 'authorization_code',
      code,
    }),
  });
  return { status: res.status, body: await res.json() };
}

/** A node on `port` with an OIDC connection to a fresh IdP; returns what a sign-in needs. */
async function connect(url: string, options: { tokenDelayMs?: number } = {}) {
  const org = await api(url, 'POST', '/organizations', {
    name: 'Acme',
    domain_data: [{ domain: 'acme.com', state: 'verified' }],
  });
  const idpPort = await freePort();
  const conn = await api(url, 'POST', '/connections', {
    organization_id: org.body.id,
    connection_type: 'OktaOIDC',
    name: 'Acme Okta',
    oidc_options: {
      issuer: `http://127.0.0.1:${idpPort}`,
      client_id: 'gatehouse-test-client',
      client_secret: 'gatehouse-test-secret-0123456789abcdef',
    },
  });
  assert.equal(conn.status, 201, JSON.stringify(conn.body));
  const idp = await startIdp({
    port: idpPort,
    redirectUris: [conn.body.oidc_options.redirect_uri],
    ...(options.tokenDelayMs ? { tokenDelayMs: options.tokenDelayMs } : {}),
  });
  return {
    idp,
    connectionId: conn.body.id as string,
    callback: conn.body.oidc_options.redirect_uri as string,
  };
}

function authorizeUrl(url: string, connectionId: string, state: string): string {
  const q = new URLSearchParams({
    client_id: TEST_CLIENT_ID,
    redirect_uri: APP,
    response_type: 'code',
    connection: connectionId,
    state,
  });
  return `${url}/sso/authorize?${q}`;
}

/** Signs in up to Gatehouse's callback URL (not requested yet). */
async function upToCallback(
  url: string,
  idp: TestIdp,
  connectionId: string,
  callback: string,
  state: string,
) {
  const browser = new TestBrowser();
  const step = await browser.signInAtIdp(authorizeUrl(url, connectionId, state), 'ada', idp.issuer, callback);
  return { browser, callback: new URL(step.res.headers.get('location') ?? '', step.url) };
}

function codeOf(res: Response): string {
  const location = new URL(res.headers.get('location') ?? '');
  const code = location.searchParams.get('code');
  assert.ok(code, location.href);
  return code;
}

describe('process faults (child processes)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-faults-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('SQLite: SIGKILL during writes, then a restart on the same file: every acknowledged write kept, integrity ok, redeemed codes stay redeemed', async () => {
    const file = join(dir, 'kill.db');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const env = {
      PORT: String(port),
      GATEHOUSE_DATABASE_URL: `sqlite:${file}`,
      GATEHOUSE_PUBLIC_URL: url,
      GATEHOUSE_SECRET_KEY: randomBytes(32).toString('hex'),
      GATEHOUSE_API_KEY: TEST_API_KEY,
      GATEHOUSE_CLIENT_ID: TEST_CLIENT_ID,
      GATEHOUSE_REDIRECT_URIS: APP,
      GATEHOUSE_ALLOW_PRIVATE_URLS: 'on',
      GATEHOUSE_SIGNIN_CONSENT: 'off',
    };
    let node = await startNode('sqlite', env);
    const { idp, connectionId, callback } = await connect(url);
    try {
      // Codes issued and redeemed before the kill, and codes issued but not redeemed.
      const redeemed: string[] = [];
      const pending: string[] = [];
      for (let i = 0; i < 4; i++) {
        const step = await upToCallback(url, idp, connectionId, callback, `k${i}`);
        const code = codeOf(await step.browser.request(step.callback));
        if (i % 2) pending.push(code);
        else {
          assert.equal((await redeem(url, code)).status, 200);
          redeemed.push(code);
        }
      }
      // Writes under load (organizations, 4 at a time), killed after 300 ms.
      const acknowledged: string[] = [];
      let killed = false;
      const writers = Array.from({ length: 4 }, async (_, w) => {
        for (let i = 0; i < 500 && !killed; i++) {
          try {
            const res = await api(url, 'POST', '/organizations', { name: `Load ${w}-${i}` });
            if (res.status === 201) acknowledged.push(res.body.id);
          } catch {
            return; // the process is gone
          }
        }
      });
      await new Promise((r) => setTimeout(r, 300));
      killed = true;
      await node.stop('SIGKILL');
      await Promise.all(writers);
      assert.ok(acknowledged.length > 10, `only ${acknowledged.length} writes before the kill`);

      const db = new DatabaseSync(file);
      assert.deepEqual(
        db
          .prepare('PRAGMA integrity_check')
          .all()
          .map((row) => row.integrity_check),
        ['ok'],
      );
      db.close();

      const restarted = performance.now();
      node = await startNode('sqlite-again', env);
      const readyMs = performance.now() - restarted;
      for (const id of acknowledged)
        assert.equal((await api(url, 'GET', `/organizations/${id}`)).status, 200, id);
      for (const code of redeemed) {
        const again = await redeem(url, code);
        assert.equal(again.status, 400);
        assert.equal(again.body.error, 'invalid_grant');
      }
      for (const code of pending) assert.equal((await redeem(url, code)).status, 200);
      // And a new sign-in works on the restarted node.
      const step = await upToCallback(url, idp, connectionId, callback, 'after');
      assert.equal((await redeem(url, codeOf(await step.browser.request(step.callback)))).status, 200);
      process.stdout.write(
        `# faults: SQLite SIGKILL after ${acknowledged.length} acknowledged writes: all kept, integrity ok; restart ready in ${Math.round(readyMs)} ms\n`,
      );
    } finally {
      await node.stop('SIGKILL');
      await idp.close();
    }
  });

  it('SIGTERM with sign-ins in flight (the IdP answers /token after 1.5 s): they complete, new connections are refused, exit within the bound', async () => {
    const file = join(dir, 'term.db');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const node = await startNode('term', {
      PORT: String(port),
      GATEHOUSE_DATABASE_URL: `sqlite:${file}`,
      GATEHOUSE_PUBLIC_URL: url,
      GATEHOUSE_SECRET_KEY: randomBytes(32).toString('hex'),
      GATEHOUSE_API_KEY: TEST_API_KEY,
      GATEHOUSE_CLIENT_ID: TEST_CLIENT_ID,
      GATEHOUSE_REDIRECT_URIS: APP,
      GATEHOUSE_ALLOW_PRIVATE_URLS: 'on',
      GATEHOUSE_SIGNIN_CONSENT: 'off',
    });
    const { idp, connectionId, callback } = await connect(url, { tokenDelayMs: 1500 });
    try {
      const steps = await Promise.all(
        [0, 1, 2].map((i) => upToCallback(url, idp, connectionId, callback, `t${i}`)),
      );
      const inFlight = steps.map((s) => s.browser.request(s.callback));
      await new Promise((r) => setTimeout(r, 300)); // the callbacks wait for the IdP's /token
      const exited = new Promise<number>((resolve) => {
        const t = performance.now();
        node.process.once('exit', () => resolve(performance.now() - t));
      });
      node.process.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 100));
      await assert.rejects(fetch(`${url}/health`), 'a new connection after SIGTERM is refused');
      const answers = await Promise.all(inFlight);
      for (const res of answers) codeOf(res);
      const exitMs = await exited;
      assert.equal(node.process.exitCode, 0, node.output());
      assert.ok(exitMs < 10_000, `exited after ${Math.round(exitMs)} ms`);
      process.stdout.write(
        `# faults: SIGTERM with 3 callbacks in flight: all 3 got their code; exit 0 ${Math.round(exitMs)} ms after the signal\n`,
      );
    } finally {
      await node.stop('SIGKILL');
      await idp.close();
    }
  });
});
