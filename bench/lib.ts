/**
 * Shared helpers for the benchmarks in this folder: settings from the environment, child-process servers
 * (Gatehouse itself, a bare `node:http` baseline, the upstream OpenID provider of `idp.ts`), CPU accounting per
 * process, autocannon runs, closed-loop runs of multi-request flows (logins) and the result tables. Everything
 * listens on 127.0.0.1 and every measurement runs for a fixed time.
 *
 * Servers under test run as child processes of the same Node binary (`process.execPath`), so the load
 * generator (this process) and the server do not compete for one event loop or, on a multi-core machine,
 * one core. Children and temporary directories are registered with `onCleanup` and removed on every exit
 * path: normal end, thrown error, Ctrl-C/SIGTERM.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type RequestListener } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { build, SERVER_ENTRY, SERVER_ENV, SERVER_NODE_ARGS } from '../scripts/build.ts';
import {
  createIdpHandler,
  HitCounter,
  STATS_PATH as IDP_STATS_PATH,
  type IdpClient,
  type IdpStats,
} from './idp.ts';

export const HOST = '127.0.0.1';
/** The repository root (the parent of bench/). */
export const REPO_ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

// ---------------------------------------------------------------------------------------------------------
// Settings

export interface BenchSettings {
  /** Seconds per measurement (BENCH_DURATION, default 10). */
  durationSec: number;
  /** Concurrent keep-alive connections (BENCH_CONNECTIONS, default 50). */
  connections: number;
  /** Seconds of unmeasured load before each measurement, to let the JIT settle (BENCH_WARMUP, default 2). */
  warmupSec: number;
  /** Baseline-then-subject pairs to measure (BENCH_ROUNDS, default 1); the median ratio is reported. */
  rounds: number;
}

/** A whole number from the environment variable `name`, at least `min`; `fallback` when unset. */
export function wholeNumber(name: string, fallback: number, min: number): number {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min) {
    throw new BenchError(`${name} must be a whole number >= ${min}, got "${raw}"`);
  }
  return Number(raw);
}

export function benchSettings(): BenchSettings {
  return {
    durationSec: wholeNumber('BENCH_DURATION', 10, 1),
    connections: wholeNumber('BENCH_CONNECTIONS', 50, 1),
    warmupSec: wholeNumber('BENCH_WARMUP', 2, 0),
    rounds: wholeNumber('BENCH_ROUNDS', 1, 1),
  };
}

/** One of `choices` from the environment variable `name`; `fallback` when unset. */
export function choice<T extends string>(name: string, choices: readonly T[], fallback: T): T {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  if (!(choices as readonly string[]).includes(raw)) {
    throw new BenchError(`${name} must be one of ${choices.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}

/** Where a benchmarked Gatehouse keeps its data. */
export type BenchDatabase = 'sqlite' | 'postgres';

/** The PostgreSQL database that `BENCH_DB=postgres` uses (BENCH_POSTGRES_URL), a fresh schema per Gatehouse. */
export const BENCH_POSTGRES_URL =
  process.env.BENCH_POSTGRES_URL?.trim() || 'postgres://postgres@127.0.0.1:5432/test';

/** `BENCH_DB`: `sqlite` (the default), `postgres`, or `both` (one Gatehouse on each, measured in the same rounds). */
export function benchDatabases(): BenchDatabase[] {
  const db = choice('BENCH_DB', ['sqlite', 'postgres', 'both'] as const, 'sqlite');
  return db === 'both' ? ['sqlite', 'postgres'] : [db];
}

export const databaseName = (db: BenchDatabase) => (db === 'sqlite' ? 'SQLite' : 'PostgreSQL');

/** An expected failure: printed as its message, without a stack trace. */
export class BenchError extends Error {
  override name = 'BenchError';
}

// ---------------------------------------------------------------------------------------------------------
// Cleanup

const cleanups: Array<() => void | Promise<void>> = [];
const liveChildren = new Set<ChildProcess>();
const tempDirs = new Set<string>();

/** Registers a cleanup step; `runCleanup` runs them in reverse order of registration. */
export function onCleanup(fn: () => void | Promise<void>): void {
  cleanups.push(fn);
}

export async function runCleanup(): Promise<void> {
  while (cleanups.length > 0) {
    const fn = cleanups.pop() as () => void | Promise<void>;
    try {
      await fn();
    } catch (err) {
      process.stderr.write(`cleanup step failed: ${(err as Error)?.message ?? String(err)}\n`);
    }
  }
}

// Last resort when the process exits without running the cleanup (process.exit elsewhere, a crash):
// synchronous, so it can only signal children and delete directories.
process.on('exit', () => {
  for (const child of liveChildren) child.kill('SIGTERM');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs `main`, then the cleanup, whatever happens; Ctrl-C and SIGTERM also clean up. Exits with the code
 * `main` returns (1 on an error).
 */
export function runBenchmark(main: () => Promise<number>): void {
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\n${signal}: stopping servers and removing temporary files…\n`);
    void runCleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  main()
    .catch((err: unknown) => {
      if (err instanceof BenchError) process.stderr.write(`\nBenchmark aborted: ${err.message}\n`);
      else process.stderr.write(`\nBenchmark failed: ${(err as Error)?.stack ?? String(err)}\n`);
      return 1;
    })
    .then(async (code) => {
      await runCleanup();
      if (!interrupted) process.exit(code);
    });
}

/** A fresh temporary directory, removed on cleanup. */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  onCleanup(() => {
    rmSync(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
  });
  return dir;
}

// ---------------------------------------------------------------------------------------------------------
// Ports and child-process servers

/** A free TCP port on loopback (released before it is returned: a tiny race, acceptable here). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.on('error', reject);
    srv.listen(0, HOST, () => {
      const address = srv.address();
      srv.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export interface ChildServer {
  name: string;
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  pid: number;
  /** Milliseconds from the spawn to the first expected answer on `readyPath` (polled every `pollMs`). */
  readyMs: number;
  /** The last ~64 KiB of the child's stdout and stderr, for error messages. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs` (default 10 s). Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnServerOptions {
  name: string;
  /** Arguments to `process.execPath` (Node flags, then the script). */
  args: string[];
  port: number;
  env?: Record<string, string>;
  /** Inherited environment variables to leave out (the child gets this process's environment otherwise). */
  dropEnv?: (name: string) => boolean;
  cwd?: string;
  /** Polled until it answers with `readyStatus` (default: any status). */
  readyPath: string;
  readyStatus?: number;
  readyTimeoutMs?: number;
  /** How often `readyPath` is polled during start-up (default 100 ms; lower to time a cold start). */
  pollMs?: number;
  /** CPUs to pin the child to (`taskset -c <cpus>`), when taskset is installed; see `serverCpus`. */
  cpus?: string | null;
}

/** Whether `taskset` (util-linux) is on this machine. */
export const hasTaskset: boolean = (() => {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/**
 * Pins the servers under test to one core and this process (the load generator) to the others, where taskset is
 * installed and there are at least 2 CPUs: returns the CPU list for the servers' `cpus`, or null (not pinned).
 * `taskset -a` moves every thread of this process (libuv's pool, V8's workers) too.
 */
export function pinServersToOneCore(): { servers: string; load: string } | null {
  const n = cpus().length;
  if (!hasTaskset || n < 2) return null;
  const load = n === 2 ? '0' : `0,2-${n - 1}`;
  execFileSync('taskset', ['-a', '-p', '-c', load, String(process.pid)], { stdio: 'ignore' });
  return { servers: '1', load };
}

const OUTPUT_LIMIT = 64 * 1024;

/** Starts a server as a child process of this Node binary and waits until it answers on its port. */
export async function spawnServer(options: SpawnServerOptions): Promise<ChildServer> {
  const { name, port } = options;
  const url = `http://${HOST}:${port}`;
  const pinned = options.cpus && hasTaskset;
  const spawnedAt = performance.now();
  // taskset execs the program: the pid is the server's.
  const child = spawn(
    pinned ? 'taskset' : process.execPath,
    pinned ? ['-c', options.cpus as string, process.execPath, ...options.args] : options.args,
    {
      cwd: options.cwd ?? REPO_ROOT,
      env: {
        ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !options.dropEnv?.(k))),
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  liveChildren.add(child);
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (output.length > OUTPUT_LIMIT) output = output.slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      liveChildren.delete(child);
      resolve();
    });
  });
  let stopped: Promise<void> | null = null;
  const server: ChildServer = {
    name,
    url,
    port,
    pid: child.pid ?? -1,
    readyMs: 0,
    output: () => output,
    stop(graceMs = 10_000) {
      stopped ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      })();
      return stopped;
    },
  };
  onCleanup(() => server.stop());

  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  let last = 'no answer yet';
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new BenchError(
        `${name} exited during start-up (${child.exitCode ?? child.signalCode}). Its output:\n${indent(output)}`,
      );
    }
    try {
      const res = await fetch(`${url}${options.readyPath}`, {
        redirect: 'manual',
        signal: AbortSignal.timeout(2000),
      });
      await res.arrayBuffer();
      if (options.readyStatus === undefined || res.status === options.readyStatus) {
        server.readyMs = performance.now() - spawnedAt;
        return server;
      }
      last = `GET ${options.readyPath} answered ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new BenchError(
        `${name} did not become ready on ${url} (${last}). Its output:\n${indent(output)}`,
      );
    }
    await new Promise((r) => setTimeout(r, options.pollMs ?? 100));
  }
}

export function indent(text: string, prefix = '    '): string {
  const trimmed = text.trimEnd();
  return trimmed ? trimmed.replace(/^/gm, prefix) : `${prefix}(nothing)`;
}

/**
 * The floor every benchmark compares against: a bare `node:http` server (child process, same Node) that reads
 * each request (its body, if it has one, to the end) and answers it with `status`, `headers` and `body`
 * (default: empty), as fast as Node can.
 */
export async function startBaselineServer(options: {
  status: number;
  headers: Record<string, string>;
  body?: string;
  /** Other answers by path prefix (the first that matches), for a floor of a multi-request flow. */
  routes?: Array<{ prefix: string; status: number; headers: Record<string, string>; body?: string }>;
  cpus?: string | null;
  pollMs?: number;
}): Promise<ChildServer> {
  const port = await freePort();
  const script = `
const http = require('node:http');
const status = Number(process.env.BASELINE_STATUS);
const body = Buffer.from(process.env.BASELINE_BODY ?? '', 'utf8');
const headers = { ...JSON.parse(process.env.BASELINE_HEADERS), 'content-length': String(body.length) };
const routes = JSON.parse(process.env.BASELINE_ROUTES ?? '[]').map((r) => {
  const b = Buffer.from(r.body ?? '', 'utf8');
  return { prefix: r.prefix, status: r.status, body: b, headers: { ...r.headers, 'content-length': String(b.length) } };
});
const respond = (req, res) => {
  const route = routes.length > 0 ? routes.find((r) => req.url.startsWith(r.prefix)) : undefined;
  if (route) {
    res.writeHead(route.status, route.headers);
    return res.end(route.body);
  }
  res.writeHead(status, headers);
  res.end(body);
};
const server = http.createServer((req, res) => {
  if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
    return respond(req, res);
  }
  req.on('end', () => respond(req, res));
  req.resume();
});
server.listen(Number(process.env.BASELINE_PORT), process.env.BASELINE_HOST);
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
`;
  return spawnServer({
    name: 'baseline',
    args: ['-e', script],
    port,
    env: {
      BASELINE_STATUS: String(options.status),
      BASELINE_HEADERS: JSON.stringify(options.headers),
      BASELINE_BODY: options.body ?? '',
      BASELINE_ROUTES: JSON.stringify(options.routes ?? []),
      BASELINE_PORT: String(port),
      BASELINE_HOST: HOST,
    },
    readyPath: '/',
    readyStatus: options.status,
    cpus: options.cpus ?? null,
    ...(options.pollMs ? { pollMs: options.pollMs } : {}),
  });
}

export interface GatehouseChild extends ChildServer {
  database: BenchDatabase;
  /** Its SQLite file; null on PostgreSQL. */
  databasePath: string | null;
  /** Its PostgreSQL schema (in BENCH_POSTGRES_URL's database); null on SQLite. */
  schema: string | null;
  apiKey: string;
  clientId: string;
  /** Calls the management API with the API key; throws a BenchError on a status other than `expect`. */
  api<T>(method: string, path: string, body: unknown, expect: number): Promise<T>;
}

/**
 * Starts Gatehouse as `npm start` does (`dist/main.js`, built from `src/` when stale, with the same Node flags) as a
 * child process with a fresh SQLite file (WAL) in `dataDir`, or with
 * `database: 'postgres'` on a fresh schema of BENCH_POSTGRES_URL (dropped on cleanup) and a random secret key.
 * `extraNodeArgs` go before the script, e.g. `--cpu-prof`.
 */
export async function startGatehouse(options: {
  dataDir: string;
  redirectUris: string[];
  database?: BenchDatabase;
  extraNodeArgs?: string[];
  env?: Record<string, string>;
  cpus?: string | null;
  pollMs?: number;
}): Promise<GatehouseChild> {
  build({ ifStale: true });
  const port = await freePort();
  const database = options.database ?? 'sqlite';
  const databasePath = database === 'sqlite' ? join(options.dataDir, 'bench.db') : null;
  const databaseEnv: Record<string, string> = databasePath
    ? { GATEHOUSE_DATABASE_URL: `sqlite:${databasePath}` }
    : {
        GATEHOUSE_DATABASE_URL: await freshPostgresSchema(),
        GATEHOUSE_SECRET_KEY: randomBytes(32).toString('hex'),
      };
  const apiKey = `sk_bench_${randomBytes(16).toString('hex')}`;
  const clientId = `client_bench_${randomBytes(8).toString('hex')}`;
  const child = await spawnServer({
    name: 'gatehouse',
    args: [...SERVER_NODE_ARGS, ...(options.extraNodeArgs ?? []), SERVER_ENTRY],
    port,
    env: {
      ...SERVER_ENV,
      PORT: String(port),
      HOST,
      GATEHOUSE_PUBLIC_URL: `http://${HOST}:${port}`,
      ...databaseEnv,
      GATEHOUSE_API_KEY: apiKey,
      GATEHOUSE_CLIENT_ID: clientId,
      GATEHOUSE_REDIRECT_URIS: options.redirectUris.join(','),
      GATEHOUSE_ALLOW_PRIVATE_URLS: 'on',
      GATEHOUSE_LOG_LEVEL: 'warn',
      // The benchmarks measure throughput far above the default limits (1000 authorize/min per connection), so
      // the limits are off; BENCH_RATE_LIMITS=counted turns them on but out of reach, to measure the counting.
      ...rateLimitEnv(),
      ...options.env,
    },
    // Settings from the caller's shell would change what is measured.
    dropEnv: (name) => name.startsWith('GATEHOUSE_') || name === 'PORT' || name === 'HOST',
    readyPath: '/health',
    readyStatus: 200,
    cpus: options.cpus ?? null,
    ...(options.pollMs ? { pollMs: options.pollMs } : {}),
  });
  return {
    ...child,
    database,
    databasePath,
    schema: databasePath
      ? null
      : (new URL(databaseEnv.GATEHOUSE_DATABASE_URL ?? '').searchParams.get('schema') ?? null),
    apiKey,
    clientId,
    async api<T>(method: string, path: string, body: unknown, expect: number): Promise<T> {
      const res = await fetch(`${child.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      if (res.status !== expect) {
        throw new BenchError(`${method} ${path} answered ${res.status}, expected ${expect}: ${text}`);
      }
      return (text ? JSON.parse(text) : undefined) as T;
    },
  };
}

/**
 * BENCH_RATE_LIMITS: `off` (the default: no counting) or `counted` (every limit on, at 999 999 999 per second:
 * each request is counted in the store as in production, and none is ever limited).
 */
function rateLimitEnv(): Record<string, string> {
  if (choice('BENCH_RATE_LIMITS', ['off', 'counted'] as const, 'off') === 'off') {
    return { GATEHOUSE_RATE_LIMITS: 'off' };
  }
  const unreachable = '999999999/1s';
  return {
    GATEHOUSE_RATE_LIMITS: 'on',
    GATEHOUSE_RATE_LIMIT_AUTHORIZE_CONNECTION: unreachable,
    GATEHOUSE_RATE_LIMIT_AUTHORIZE_IP: unreachable,
    GATEHOUSE_RATE_LIMIT_TOKEN_CLIENT: unreachable,
    GATEHOUSE_RATE_LIMIT_API_KEY: unreachable,
  };
}

/**
 * A new, empty schema on BENCH_POSTGRES_URL for one Gatehouse (its migrations create the tables), dropped with
 * everything in it on cleanup. Returns the Gatehouse database URL naming it (`?schema=`). From here on, every
 * CPU measurement also counts the PostgreSQL server's processes (see `startCpuMeter`).
 */
async function freshPostgresSchema(): Promise<string> {
  const schema = `bench_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: BENCH_POSTGRES_URL, connectionTimeoutMillis: 5000 });
    try {
      await client.connect();
      await client.query(sql);
    } finally {
      await client.end().catch(() => {});
    }
  };
  try {
    await admin(`CREATE SCHEMA ${schema}`);
  } catch (err) {
    throw new BenchError(
      `BENCH_DB=postgres: cannot create a schema on ${BENCH_POSTGRES_URL} (set BENCH_POSTGRES_URL): ${(err as Error).message}`,
    );
  }
  onCleanup(() => admin(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
  watchPostgres = true;
  const url = new URL(BENCH_POSTGRES_URL);
  url.searchParams.set('schema', schema);
  return url.toString();
}

export interface BenchConnection {
  organizationId: string;
  connectionId: string;
  /** The connection's callback URL (`oidc_options.redirect_uri`): the redirect URI to register at the IdP. */
  callbackUrl: string;
}

/**
 * Through the management API: an organization (with `domain` verified, if given: sign-ins need the user's
 * email domain verified) and a `GenericOIDC` connection to the OpenID provider `issuer`, ready for sign-ins.
 */
export async function createOidcConnection(
  gatehouse: GatehouseChild,
  options: { issuer: string; clientId: string; clientSecret: string; domain?: string },
): Promise<BenchConnection> {
  const org = await gatehouse.api<{ id: string }>(
    'POST',
    '/organizations',
    {
      name: 'Bench Org',
      ...(options.domain ? { domain_data: [{ domain: options.domain, state: 'verified' }] } : {}),
    },
    201,
  );
  const connection = await gatehouse.api<{
    id: string;
    state?: string;
    oidc_options?: { redirect_uri?: unknown };
  }>(
    'POST',
    '/connections',
    {
      organization_id: org.id,
      connection_type: 'GenericOIDC',
      name: 'Bench IdP',
      oidc_options: {
        issuer: options.issuer,
        client_id: options.clientId,
        client_secret: options.clientSecret,
      },
    },
    201,
  );
  const callbackUrl = connection?.oidc_options?.redirect_uri;
  if (typeof callbackUrl !== 'string' || connection.state !== 'validating') {
    throw new BenchError(
      `the new connection is not ready for sign-ins (state ${connection?.state}): ${JSON.stringify(connection)}`,
    );
  }
  return { organizationId: org.id, connectionId: connection.id, callbackUrl };
}

// ---------------------------------------------------------------------------------------------------------
// Upstream OpenID provider (bench/idp.ts)

export type { IdpClient, IdpStats } from './idp.ts';

export interface OidcIdp {
  /** The issuer identifier, `http://127.0.0.1:<port>`. */
  issuer: string;
  /** The process that serves it: this one, or a child. */
  pid: number;
  inProcess: boolean;
  /** Requests served so far, by route. */
  stats(): Promise<IdpStats>;
  stop(): Promise<void>;
}

export interface InProcessIdp extends OidcIdp {
  /**
   * Creates the provider with these clients. Until then every request gets a 503: the port (and so the
   * issuer) is known first, the clients' redirect URIs (Gatehouse's callback URLs) only later.
   */
  configure(clients: IdpClient[], options: { interactive: boolean }): Promise<void>;
}

/**
 * A real `oidc-provider` on loopback (`port`, or a free one), in this process: for a benchmark where it only
 * serves discovery, or to compare with the child process below.
 */
export async function startOidcIdp(options: { port?: number } = {}): Promise<InProcessIdp> {
  let handler: RequestListener | null = null;
  const hits = new HitCounter();
  const server = createHttpServer((req, res) => {
    hits.count(req.url);
    if (handler) return handler(req, res);
    res.writeHead(503).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, HOST, resolve);
  });
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('the IdP has no address');
  const issuer = `http://${HOST}:${address.port}`;
  let stopped: Promise<void> | null = null;
  const idp: InProcessIdp = {
    issuer,
    pid: process.pid,
    inProcess: true,
    stats: async () => hits.stats(),
    async configure(clients, opts) {
      handler = await createIdpHandler(issuer, clients, opts);
    },
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
  onCleanup(() => idp.stop());
  return idp;
}

/**
 * The same provider as a child process (`bench/idp.ts` on this Node binary) on `port`, with its clients known
 * at start. Its CPU time is its own and it does not share the load driver's event loop.
 */
export async function startOidcIdpChild(options: {
  port: number;
  clients: IdpClient[];
  interactive: boolean;
}): Promise<OidcIdp & ChildServer> {
  const child = await spawnServer({
    name: 'OpenID provider',
    args: [join(REPO_ROOT, 'bench/idp.ts')],
    port: options.port,
    env: {
      BENCH_IDP_PORT: String(options.port),
      BENCH_IDP_HOST: HOST,
      BENCH_IDP_CLIENTS: JSON.stringify(options.clients),
      BENCH_IDP_INTERACTIVE: options.interactive ? 'on' : 'off',
    },
    readyPath: IDP_STATS_PATH,
    readyStatus: 200,
  });
  return {
    ...child,
    issuer: child.url,
    inProcess: false,
    async stats() {
      const res = await fetch(`${child.url}${IDP_STATS_PATH}`);
      if (res.status !== 200) throw new BenchError(`the OpenID provider's stats answered ${res.status}`);
      return (await res.json()) as IdpStats;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Measurements

export interface Measurement {
  name: string;
  durationSec: number;
  connections: number;
  /** Mean of the per-second request counts. */
  reqPerSec: number;
  /** Latency percentiles in ms (autocannon records whole milliseconds). */
  p50Ms: number;
  p99Ms: number;
  /** Responses with the expected status. */
  ok: number;
  /** Responses with another status, by status. */
  unexpected: Record<string, number>;
  /** Socket errors and timeouts. */
  socketErrors: number;
  timeouts: number;
  /** unexpected responses + socket errors + timeouts */
  errors: number;
  /** CPU time of the server process over the measurement, in % of one core (null where /proc is missing). */
  serverCpuPercent: number | null;
  /** The server's resident memory at the end of the measurement, in MB (null where /proc is missing). */
  serverRssMb: number | null;
  /** CPU time of the PostgreSQL server, in % of one core; null when no Gatehouse of the run uses it. */
  databaseCpuPercent: number | null;
  /** CPU time of this process (the load generator) over the measurement, in % of one core. */
  loadCpuPercent: number;
  /**
   * CPU time the rest of the machine used (other processes, the hypervisor's steal), in % of one core, or null
   * where /proc is missing. Well above 0, the run was disturbed: the numbers are not comparable.
   */
  otherCpuPercent: number | null;
}

/** Busy CPU seconds of the whole machine, all cores (user, nice, system, irq, softirq, steal), or null. */
function machineCpuSeconds(): number | null {
  try {
    const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).map(Number);
    const [, user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
    return (user + nice + system + irq + softirq + steal) / 100;
  } catch {
    return null;
  }
}

/** Resident set size of a process in MB (VmRSS from /proc, Linux), or null. */
export function processRssMb(pid: number): number | null {
  try {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? null : Number(kb) / 1024;
  } catch {
    return null;
  }
}

/** User + system CPU seconds of a process from /proc (Linux), or null. */
function processCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 (utime) and 15 (stime) of proc(5), counted from field 3 here, in USER_HZ (100 on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** Set once a Gatehouse runs on PostgreSQL: from then on the meters also count the database server's CPU. */
let watchPostgres = false;

/**
 * User + system CPU seconds of the PostgreSQL server on this machine: every process named `postgres` (the
 * postmaster, its background workers and the backends of every pooled connection), or null without /proc.
 * A backend that exits during a measurement takes its time with it; Gatehouse's pooled connections do not.
 */
function postgresCpuSeconds(): number | null {
  try {
    let total = 0;
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let comm: string;
      try {
        comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      } catch {
        continue; // gone meanwhile
      }
      if (comm !== 'postgres') continue;
      total += processCpuSeconds(Number(entry)) ?? 0;
    }
    return total;
  } catch {
    return null;
  }
}

export interface CpuSample {
  elapsedSec: number;
  /**
   * CPU seconds of each watched process; null where /proc is missing. Once a Gatehouse runs on PostgreSQL,
   * also `database`: the PostgreSQL server's processes.
   */
  seconds: Record<string, number | null>;
  /** CPU seconds of this process (the load generator). */
  loadSeconds: number;
  /**
   * CPU seconds the rest of the machine used (other processes, the hypervisor's steal), or null where /proc
   * is missing. Well above 0, the measurement was disturbed.
   */
  otherSeconds: number | null;
}

/**
 * Starts counting CPU time: of the child processes in `pids` (by name; not this process), of the PostgreSQL
 * server (as `database`, once a Gatehouse runs on it), of this process, and of the whole machine. The
 * returned function stops and returns the sample.
 */
export function startCpuMeter(pids: Record<string, number>): () => CpuSample {
  const sources: Record<string, () => number | null> = {};
  for (const [name, pid] of Object.entries(pids)) sources[name] = () => processCpuSeconds(pid);
  if (watchPostgres) sources.database = postgresCpuSeconds;
  const before = Object.fromEntries(Object.entries(sources).map(([name, read]) => [name, read()]));
  const machineBefore = machineCpuSeconds();
  const loadBefore = process.cpuUsage();
  const started = performance.now();
  return () => {
    const elapsedSec = (performance.now() - started) / 1000;
    const load = process.cpuUsage(loadBefore);
    const machineAfter = machineCpuSeconds();
    const seconds: Record<string, number | null> = {};
    for (const [name, read] of Object.entries(sources)) {
      const a = before[name] ?? null;
      const b = read();
      seconds[name] = a === null || b === null ? null : b - a;
    }
    const loadSeconds = (load.user + load.system) / 1e6;
    const watched = Object.values(seconds);
    const otherSeconds =
      machineBefore === null || machineAfter === null || watched.some((v) => v === null)
        ? null
        : Math.max(
            0,
            machineAfter - machineBefore - loadSeconds - watched.reduce<number>((a, b) => a + (b ?? 0), 0),
          );
    return { elapsedSec, seconds, loadSeconds, otherSeconds };
  };
}

/** CPU seconds as a share of one core over the sample's duration, in %. */
export function cpuPercent(seconds: number | null, sample: CpuSample): number | null {
  return seconds === null ? null : (100 * seconds) / sample.elapsedSec;
}

/** What each autocannon request is, when not a plain GET of the URL. */
export interface LoadSpec {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** autocannon `requests`: e.g. one with a `setupRequest` that gives every request its own body. */
  requests?: autocannon.Request[];
  /** Bounded by count instead of time: this many requests (then req/s is the count over the elapsed time). */
  amount?: number;
  /** autocannon `overallRate`: requests per second over all connections (an open rate, not as fast as it can). */
  overallRate?: number;
}

/**
 * Loads `url` for `settings.durationSec` seconds over `settings.connections` keep-alive connections, after
 * `settings.warmupSec` seconds of unmeasured load. Any status other than `expectStatus` is an error.
 * The requests are plain GETs, or what `load` returns for each phase (called before the warm-up and again
 * before the measurement, with that phase's length: e.g. to prepare one single-use credential per request).
 */
export async function measure(
  name: string,
  url: string,
  expectStatus: number,
  settings: BenchSettings,
  serverPid?: number,
  load?: (phase: 'warmup' | 'measure', seconds: number) => LoadSpec | Promise<LoadSpec>,
): Promise<Measurement> {
  const base = { url, connections: settings.connections, method: 'GET' as const, timeout: 10 };
  if (settings.warmupSec > 0) {
    await autocannon({
      ...base,
      ...(await load?.('warmup', settings.warmupSec)),
      duration: settings.warmupSec,
    });
  }
  const spec = await load?.('measure', settings.durationSec);
  const stop = startCpuMeter(serverPid === undefined ? {} : { server: serverPid });
  const r = await autocannon({ ...base, ...spec, duration: settings.durationSec });
  const cpu = stop();
  const reqPerSec = spec?.amount ? r.requests.total / cpu.elapsedSec : r.requests.average;
  const unexpected: Record<string, number> = {};
  let ok = 0;
  for (const [status, stats] of Object.entries(r.statusCodeStats ?? {})) {
    const n = stats?.count ?? 0;
    if (Number(status) === expectStatus) ok += n;
    else if (n > 0) unexpected[status] = n;
  }
  const unexpectedCount = Object.values(unexpected).reduce((a, b) => a + b, 0);
  return {
    name,
    durationSec: spec?.amount ? cpu.elapsedSec : settings.durationSec,
    connections: settings.connections,
    reqPerSec,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    ok,
    unexpected,
    // autocannon counts a timeout in both `errors` and `timeouts`.
    socketErrors: r.errors - r.timeouts,
    timeouts: r.timeouts,
    errors: unexpectedCount + r.errors,
    serverCpuPercent: cpuPercent(cpu.seconds.server ?? null, cpu),
    serverRssMb: serverPid === undefined ? null : processRssMb(serverPid),
    databaseCpuPercent: cpuPercent(cpu.seconds.database ?? null, cpu),
    loadCpuPercent: cpuPercent(cpu.loadSeconds, cpu) ?? 0,
    otherCpuPercent: cpuPercent(cpu.otherSeconds, cpu),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Closed-loop measurements: N workers, each repeating a multi-request flow (a login) as fast as it completes

/** An unexpected answer at one step of a flow; the flow is abandoned and counted as failed. */
export class StepFailure extends Error {
  override name = 'StepFailure';
  readonly step: string;
  /** The HTTP status, or null when there was no response (connection error, timeout). */
  readonly status: number | null;
  constructor(step: string, status: number | null, detail: string) {
    super(`${step}: ${status === null ? 'no response' : `status ${status}`}: ${detail}`);
    this.step = step;
    this.status = status;
  }
}

export interface LoopSettings {
  durationSec: number;
  warmupSec: number;
  /** Workers, each with one flow in flight at a time. */
  concurrency: number;
}

export interface LoopMeasurement {
  name: string;
  durationSec: number;
  concurrency: number;
  /** Flows that completed inside the measured window. */
  completed: number;
  /** completed / duration */
  perSec: number;
  /** Latency of one whole flow, of those completed in the window, in ms; null when none completed. */
  p50Ms: number | null;
  p99Ms: number | null;
  /** Failed flows of the measured window (and of those in flight at its end), by step and status. */
  failures: Record<string, number>;
  failureCount: number;
  /** Failed flows during the warm-up (not measured, but a failure anywhere makes the run invalid). */
  warmupFailures: number;
  /** The first few failures, in full. */
  failureSamples: string[];
  cpu: CpuSample;
}

/** Numbers the flows of every `measureLoop` call of this process. */
let sequenceCounter = 0;

/** The nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? null;
}

/**
 * Runs `flow` in a closed loop: `settings.concurrency` workers, each starting the next flow when its last one
 * ends, for `settings.warmupSec` seconds unmeasured, then for `settings.durationSec` seconds measured. No
 * flow starts after the end of a phase; flows still in flight then are awaited (their failures count, their
 * completions do not). `flow` throws (a `StepFailure`, ideally) on anything unexpected. `sequence` numbers
 * the flows across calls (e.g. to pick a user). CPU time of `pids` (child processes) is counted over the
 * window.
 */
export async function measureLoop(
  name: string,
  settings: LoopSettings,
  pids: Record<string, number>,
  flow: (sequence: number) => Promise<void>,
): Promise<LoopMeasurement> {
  const failures: Record<string, number> = {};
  const failureSamples: string[] = [];
  let failureCount = 0;
  let warmupFailures = 0;
  const latencies: number[] = [];

  const phase = async (seconds: number, measured: boolean) => {
    const started = performance.now();
    const deadline = started + seconds * 1000;
    let stopCpu: (() => CpuSample) | null = measured ? startCpuMeter(pids) : null;
    let cpu: CpuSample | null = null;
    // The CPU window is the phase itself, not the tail of flows that finish after it.
    const timer = setTimeout(() => {
      cpu = stopCpu?.() ?? null;
      stopCpu = null;
    }, seconds * 1000);
    const worker = async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        try {
          await flow(sequenceCounter++);
          const t1 = performance.now();
          if (measured && t1 <= deadline) latencies.push(t1 - t0);
        } catch (err) {
          if (!measured) {
            warmupFailures++;
          } else {
            failureCount++;
            const key =
              err instanceof StepFailure
                ? `${err.step} ${err.status ?? 'no response'}`
                : `${(err as Error)?.name ?? 'error'}`;
            failures[key] = (failures[key] ?? 0) + 1;
          }
          if (failureSamples.length < 5) {
            failureSamples.push(`${measured ? '' : '(warm-up) '}${(err as Error)?.message ?? String(err)}`);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: settings.concurrency }, worker));
    clearTimeout(timer);
    // A phase whose last flow ended before the timer fired (nothing in flight): stop the meter now.
    cpu ??= stopCpu?.() ?? null;
    return cpu;
  };

  if (settings.warmupSec > 0) await phase(settings.warmupSec, false);
  const cpu = (await phase(settings.durationSec, true)) as CpuSample | null;
  if (!cpu) throw new Error('no CPU sample');
  latencies.sort((a, b) => a - b);
  return {
    name,
    durationSec: settings.durationSec,
    concurrency: settings.concurrency,
    completed: latencies.length,
    perSec: latencies.length / settings.durationSec,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    failures,
    failureCount,
    warmupFailures,
    failureSamples,
    cpu,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Output

export function machineInfo(): string {
  const list = cpus();
  const model = list[0]?.model.trim() ?? 'unknown CPU';
  return [
    `Node ${process.version} (${process.platform}/${process.arch})`,
    `CPU: ${model}, ${list.length} logical CPUs (available parallelism ${availableParallelism()})`,
  ].join('\n');
}

/** The commit under test, e.g. `71e518d (uncommitted changes in src/)`, or null outside a Git checkout. */
export function gitRevision(): string | null {
  try {
    const git = (...args: string[]) =>
      execFileSync('git', ['-C', REPO_ROOT, ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    const head = git('rev-parse', '--short', 'HEAD');
    return git('status', '--porcelain', '--', 'src') ? `${head} (uncommitted changes in src/)` : head;
  } catch {
    return null;
  }
}

/** Prints rows as an aligned text table; columns whose header starts with a space are right-aligned. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.trim().length, ...rows.map((r) => (r[i] ?? '').length)));
  const right = header.map((h) => h.startsWith(' '));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (right[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${line(header.map((h) => h.trim()))}\n`);
  process.stdout.write(`${widths.map((w) => '-'.repeat(w)).join('  ')}\n`);
  for (const r of rows) process.stdout.write(`${line(r)}\n`);
}

const cpu = (p: number | null) => (p === null ? '-' : `${p.toFixed(0)}%`);

/**
 * The standard table: one row per measurement, compared with its baseline (a row that is its own baseline, or
 * has none, shows 100% or nothing). CPU columns are in % of one core.
 */
export function printMeasurements(rows: Array<{ measurement: Measurement; baseline?: Measurement }>): void {
  // The PostgreSQL server's column only when some Gatehouse of the run uses it.
  const database = rows.some(({ measurement: m }) => m.databaseCpuPercent !== null);
  printTable(
    [
      'name',
      ' req/s (mean)',
      ' p50 ms',
      ' p99 ms',
      ' errors',
      ' % of baseline',
      ' server CPU',
      ...(database ? [' PostgreSQL CPU'] : []),
      ' load CPU',
      ' other CPU',
    ],
    rows.map(({ measurement: m, baseline }) => [
      m.name,
      m.reqPerSec.toFixed(0),
      String(m.p50Ms),
      String(m.p99Ms),
      String(m.errors),
      !baseline ? '' : baseline === m ? '100.0%' : `${percentOf(m, baseline).toFixed(1)}%`,
      cpu(m.serverCpuPercent),
      ...(database ? [cpu(m.databaseCpuPercent)] : []),
      cpu(m.loadCpuPercent),
      cpu(m.otherCpuPercent),
    ]),
  );
}

/** One row of a login table: a closed-loop measurement and the reference (IdP alone) of its round. */
export interface LoginTableRow {
  m: LoopMeasurement;
  /** The CPU meter's name of the Gatehouse measured (`gatehouse<i>`), or null for the reference row. */
  gatehouse: string | null;
  reference: LoopMeasurement;
}

/**
 * The table of `bench:login` and `bench:saml`: logins/s, latency, failures, the ratio to the IdP alone, CPU per
 * process in % of a core and per login. `idp: null` when the IdP runs in this process (its CPU is in "load");
 * `database` adds the PostgreSQL server's columns.
 */
export function printLoginTable(rows: LoginTableRow[], options: { idp: boolean; database: boolean }): void {
  const perLogin = (seconds: number | null, m: LoopMeasurement) =>
    seconds === null || m.completed === 0 ? '-' : ((1000 * seconds) / m.completed).toFixed(2);
  const { database } = options;
  printTable(
    [
      'name',
      ' logins/s',
      ' p50 ms',
      ' p99 ms',
      ' failures',
      ' % of IdP alone',
      ' Gatehouse CPU',
      ...(database ? [' PostgreSQL CPU'] : []),
      ' IdP CPU',
      ' load CPU',
      ' other CPU',
      ' Gatehouse ms/login',
      ...(database ? [' PostgreSQL ms/login'] : []),
      ' IdP ms/login',
      ' load ms/login',
    ],
    rows.map(({ m, gatehouse, reference }) => {
      const gh = gatehouse ? (m.cpu.seconds[gatehouse] ?? null) : null;
      const idpSeconds = options.idp ? (m.cpu.seconds.idp ?? null) : null;
      const db = m.cpu.seconds.database ?? null;
      return [
        m.name,
        m.perSec.toFixed(1),
        m.p50Ms === null ? '-' : m.p50Ms.toFixed(0),
        m.p99Ms === null ? '-' : m.p99Ms.toFixed(0),
        String(m.failureCount),
        m === reference ? '100.0%' : `${((100 * m.perSec) / reference.perSec).toFixed(1)}%`,
        cpu(cpuPercent(gh, m.cpu)),
        ...(database ? [cpu(cpuPercent(db, m.cpu))] : []),
        cpu(cpuPercent(idpSeconds, m.cpu)),
        cpu(cpuPercent(m.cpu.loadSeconds, m.cpu)),
        cpu(cpuPercent(m.cpu.otherSeconds, m.cpu)),
        gatehouse ? perLogin(gh, m) : '-',
        ...(database ? [gatehouse ? perLogin(db, m) : '-'] : []),
        perLogin(idpSeconds, m),
        perLogin(m.cpu.loadSeconds, m),
      ];
    }),
  );
}

/** Measurements during which other processes used more than `thresholdPercent` of a core. */
export function disturbed(measurements: Measurement[], thresholdPercent = 20): Measurement[] {
  return measurements.filter((m) => (m.otherCpuPercent ?? 0) > thresholdPercent);
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

export function percentOf(m: Measurement, baseline: Measurement): number {
  return baseline.reqPerSec > 0 ? (100 * m.reqPerSec) / baseline.reqPerSec : 0;
}

/** One line per kind of error in a measurement, or an empty list. */
export function describeErrors(m: Measurement, expectStatus: number): string[] {
  const lines = Object.entries(m.unexpected).map(
    ([status, n]) => `${m.name}: ${n} responses with status ${status} (expected ${expectStatus})`,
  );
  if (m.socketErrors) lines.push(`${m.name}: ${m.socketErrors} connection errors`);
  if (m.timeouts) lines.push(`${m.name}: ${m.timeouts} timeouts`);
  return lines;
}
