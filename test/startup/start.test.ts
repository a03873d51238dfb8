import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkOS } from '@workos-inc/node';
import { build, SERVER_ENTRY, SERVER_ENV, SERVER_NODE_ARGS } from '../../scripts/build.ts';
import { freePort } from '../helpers/gatehouse.ts';

/** What `npm start` runs: `dist/` built from `src/` (when stale), on Node with the server's flags. */
const START = `node scripts/build.ts --if-stale && ${Object.entries(SERVER_ENV)
  .map(([k, v]) => `${k}=${v} `)
  .join('')}node ${SERVER_NODE_ARGS.join(' ')} dist/main.js`;

interface Run {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Runs the built server as `npm start` does, in `cwd` with only the given environment. */
function run(cwd: string, env: Record<string, string>): Run {
  const child = spawn(process.execPath, [...SERVER_NODE_ARGS, SERVER_ENTRY], {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...SERVER_ENV, ...env },
    stdio: 'pipe',
  });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

async function waitFor(predicate: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('npm start on a fresh directory (embedded SQLite)', () => {
  let dir: string;
  before(() => {
    build({ ifStale: true, quiet: true });
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-start-'));
  });

  it('npm start builds dist/ from src/ when stale and runs it with the server’s Node flags', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    assert.equal(pkg.scripts.start, START);
    assert.equal(build({ ifStale: true, quiet: true }), false, 'built already: nothing to do');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('creates the database and secret key, prints credentials once, and serves the API with them', async () => {
    const port = await freePort();
    const first = run(dir, { PORT: String(port), GATEHOUSE_REDIRECT_URIS: 'http://localhost:3000/callback' });
    try {
      await waitFor(() => first.output().includes('GATEHOUSE API KEY'), 'the start-up banner');
      const out = first.output();
      assert.match(out, new RegExp(`Gatehouse listening on http://127\\.0\\.0\\.1:${port}`));
      assert.match(out, /Database: SQLite \.\/data\/gatehouse\.db/);
      assert.match(out, new RegExp(`Public URL \\(API and browser base\\): http://localhost:${port}`));
      // The full path of the key file, so that the operator can back it up without guessing the directory.
      const keyFile = join(realpathSync(dir), 'data', 'secret.key');
      assert.ok(out.includes(`\n  Secret key: generated into ${keyFile} (back it up)\n`), out);
      const apiKey = /GATEHOUSE API KEY: (sk_[A-Za-z0-9]{43})/.exec(out)?.[1];
      const clientId = /Client ID: (client_[0-9A-Z]{26})/.exec(out)?.[1];
      assert.ok(apiKey && clientId, out);
      assert.match(
        out,
        new RegExp(
          `new WorkOS\\('${apiKey}', \\{\\n\\s+apiHostname: 'localhost', port: ${port}, https: false,`,
        ),
      );
      assert.ok(existsSync(join(dir, 'data', 'gatehouse.db')));
      assert.equal(statSync(join(dir, 'data', 'secret.key')).mode & 0o777, 0o600);

      const health = await fetch(`http://127.0.0.1:${port}/health`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok', checks: { database: 'ok' } });

      // The dashboard's bootstrap link for the first operator, opened as printed.
      const bootstrap =
        /Open this link within 24 hours to become the first one \(it works once\):\n\s+(\S+)/.exec(out)?.[1];
      assert.match(
        bootstrap ?? '',
        new RegExp(`^http://localhost:${port}/dashboard/welcome\\?token=[A-Za-z0-9_-]{43}$`),
      );
      const welcome = await fetch((bootstrap as string).replace('localhost', '127.0.0.1'));
      assert.equal(welcome.status, 200);
      assert.match(await welcome.text(), /creates the first operator/);

      const workos = new WorkOS(apiKey, { apiHostname: '127.0.0.1', port, https: false });
      const org = await workos.organizations.createOrganization({ name: 'Persisted Inc' });

      first.child.kill('SIGTERM');
      assert.equal(await first.exited, 0, first.output());

      // Second start: same database, same client ID, no new key printed, data kept.
      const second = run(dir, { PORT: String(port) });
      await waitFor(() => second.output().includes('Gatehouse listening'), 'the second start');
      assert.ok(!second.output().includes('GATEHOUSE API KEY'), second.output());
      assert.ok(second.output().includes(`Client ID: ${clientId}`));
      assert.ok(second.output().includes(`\n  Secret key: ${keyFile}\n`), second.output());
      assert.equal((await workos.organizations.getOrganization(org.id)).name, 'Persisted Inc');
      second.child.kill('SIGTERM');
      assert.equal(await second.exited, 0);
    } finally {
      first.child.kill('SIGKILL');
    }
  });

  it('refuses to start with another secret key than the one the database was sealed with', async () => {
    const r = run(dir, { PORT: String(await freePort()), GATEHOUSE_SECRET_KEY: 'b'.repeat(64) });
    assert.equal(await r.exited, 1);
    assert.match(
      r.output(),
      /Gatehouse cannot start: GATEHOUSE_SECRET_KEY does not match the key this database was encrypted with/,
    );
  });
});

describe('start-up stops on bad configuration, naming the variable', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ PORT: 'http' }, /^Gatehouse cannot start: PORT must be a whole number, got "http"\n$/],
    [
      { GATEHOUSE_DATABASE_URL: 'postgres://127.0.0.1/test?schema=Public' },
      /^Gatehouse cannot start: GATEHOUSE_DATABASE_URL schema must be lower-case letters/,
    ],
    [
      { GATEHOUSE_DATABASE_URL: 'sqlite::memory:', GATEHOUSE_REDIRECT_URIS: 'http://app.example.com/cb' },
      /^Gatehouse cannot start: GATEHOUSE_REDIRECT_URIS entry "http:\/\/app\.example\.com\/cb": plain http is allowed only for localhost/,
    ],
  ];
  for (const [env, message] of cases) {
    it(`exits 1 for ${JSON.stringify(env)}`, async () => {
      const r = run(tmpdir(), env);
      assert.equal(await r.exited, 1);
      assert.match(r.output(), message);
      assert.ok(!r.output().includes('    at '), 'no stack trace for a configuration error');
    });
  }
});

describe('the access log (GATEHOUSE_LOG_LEVEL=info)', () => {
  it('logs each request with its parameter names but not the values of codes, states, hints, tokens or SAML messages', async () => {
    const port = await freePort();
    const r = run(tmpdir(), {
      PORT: String(port),
      GATEHOUSE_DATABASE_URL: 'sqlite::memory:',
      GATEHOUSE_LOG_LEVEL: 'info',
      GATEHOUSE_REDIRECT_URIS: 'http://localhost:3000/callback',
    });
    try {
      await waitFor(() => r.output().includes('Gatehouse listening'), 'the start-up banner');
      const base = `http://127.0.0.1:${port}`;
      const secrets = ['IDP-CODE-1234', 'OUR-STATE-5678', 'ada%40secret.example', 'ada@secret.example'];
      await fetch(
        `${base}/sso/authorize?response_type=code&client_id=client_x&redirect_uri=http%3A%2F%2Flocalhost%3A3000%2Fcallback&organization=org_1&state=OUR-STATE-5678&login_hint=ada%40secret.example`,
        { redirect: 'manual' },
      );
      await fetch(
        `${base}/sso/oauth/callback/somekey?code=IDP-CODE-1234&state=OUR-STATE-5678&Code=IDP-CODE-1234`,
        {
          redirect: 'manual',
        },
      );
      await waitFor(
        () => (r.output().match(/"msg":"request completed"/g) ?? []).length >= 2,
        'two access log lines',
      );
      const out = r.output();
      for (const secret of secrets) assert.ok(!out.includes(secret), `${secret} in the log:\n${out}`);
      assert.match(
        out,
        /"url":"\/sso\/oauth\/callback\/somekey\?code=\[redacted\]&state=\[redacted\]&Code=\[redacted\]"/,
      );
      assert.match(
        out,
        /"url":"\/sso\/authorize\?response_type=code&client_id=client_x&redirect_uri=http%3A%2F%2Flocalhost%3A3000%2Fcallback&organization=org_1&state=\[redacted\]&login_hint=\[redacted\]"/,
      );
    } finally {
      r.child.kill('SIGKILL');
      await r.exited;
    }
  });
});
