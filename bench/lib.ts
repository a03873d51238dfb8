/**
 * Shared helpers for the benchmarks in this folder: settings from the environment, child-process servers
 * (Gatehouse itself and a bare `node:http` baseline), an upstream OpenID provider, autocannon runs and the
 * result table. Everything listens on 127.0.0.1 and every measurement runs for a fixed time.
 *
 * Servers under test run as child processes of the same Node binary (`process.execPath`), so the load
 * generator (this process) and the server do not compete for one event loop or, on a multi-core machine,
 * one core. Children and temporary directories are registered with `onCleanup` and removed on every exit
 * path: normal end, thrown error, Ctrl-C/SIGTERM.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type RequestListener } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

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

function wholeNumber(name: string, fallback: number, min: number): number {
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
}

const OUTPUT_LIMIT = 64 * 1024;

/** Starts a server as a child process of this Node binary and waits until it answers on its port. */
export async function spawnServer(options: SpawnServerOptions): Promise<ChildServer> {
  const { name, port } = options;
  const url = `http://${HOST}:${port}`;
  const child = spawn(process.execPath, options.args, {
    cwd: options.cwd ?? REPO_ROOT,
    env: {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !options.dropEnv?.(k))),
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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
      if (options.readyStatus === undefined || res.status === options.readyStatus) return server;
      last = `GET ${options.readyPath} answered ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new BenchError(
        `${name} did not become ready on ${url} (${last}). Its output:\n${indent(output)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function indent(text: string, prefix = '    '): string {
  const trimmed = text.trimEnd();
  return trimmed ? trimmed.replace(/^/gm, prefix) : `${prefix}(nothing)`;
}

/**
 * The floor every benchmark compares against: a bare `node:http` server (child process, same Node) that
 * answers every request with `status` and `headers` and an empty body, as fast as Node can.
 */
export async function startBaselineServer(options: {
  status: number;
  headers: Record<string, string>;
}): Promise<ChildServer> {
  const port = await freePort();
  const script = `
const http = require('node:http');
const status = Number(process.env.BASELINE_STATUS);
const headers = { ...JSON.parse(process.env.BASELINE_HEADERS), 'content-length': '0' };
const server = http.createServer((req, res) => {
  res.writeHead(status, headers);
  res.end();
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
      BASELINE_PORT: String(port),
      BASELINE_HOST: HOST,
    },
    readyPath: '/',
    readyStatus: options.status,
  });
}

export interface GatehouseChild extends ChildServer {
  apiKey: string;
  clientId: string;
  /** Calls the management API with the API key; throws a BenchError on a status other than `expect`. */
  api<T>(method: string, path: string, body: unknown, expect: number): Promise<T>;
}

/**
 * Starts Gatehouse (`src/main.ts`) as a child process with a fresh SQLite file (WAL) in `dataDir`.
 * `extraNodeArgs` go before the script, e.g. `--cpu-prof`.
 */
export async function startGatehouse(options: {
  dataDir: string;
  redirectUris: string[];
  extraNodeArgs?: string[];
  env?: Record<string, string>;
}): Promise<GatehouseChild> {
  const port = await freePort();
  const apiKey = `sk_bench_${randomBytes(16).toString('hex')}`;
  const clientId = `client_bench_${randomBytes(8).toString('hex')}`;
  const child = await spawnServer({
    name: 'gatehouse',
    args: [...(options.extraNodeArgs ?? []), join(REPO_ROOT, 'src/main.ts')],
    port,
    env: {
      PORT: String(port),
      HOST,
      GATEHOUSE_PUBLIC_URL: `http://${HOST}:${port}`,
      GATEHOUSE_DATABASE_URL: `sqlite:${join(options.dataDir, 'bench.db')}`,
      GATEHOUSE_API_KEY: apiKey,
      GATEHOUSE_CLIENT_ID: clientId,
      GATEHOUSE_REDIRECT_URIS: options.redirectUris.join(','),
      GATEHOUSE_ALLOW_PRIVATE_URLS: 'on',
      GATEHOUSE_LOG_LEVEL: 'warn',
      ...options.env,
    },
    // Settings from the caller's shell would change what is measured.
    dropEnv: (name) => name.startsWith('GATEHOUSE_') || name === 'PORT' || name === 'HOST',
    readyPath: '/health',
    readyStatus: 200,
  });
  return {
    ...child,
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

// ---------------------------------------------------------------------------------------------------------
// Upstream OpenID provider

/** The part of oidc-provider's API used here (the package ships no type declarations). */
type ProviderConstructor = new (
  issuer: string,
  configuration: Record<string, unknown>,
) => { callback(): RequestListener };

/** Imported by a non-literal name, so the type check does not depend on a declaration for the package. */
const OIDC_PROVIDER: string = 'oidc-provider';

/** The storage oidc-provider needs (it warns about its own built-in one); nothing is stored for long here. */
class MemoryAdapter {
  static readonly store = new Map<string, Record<string, unknown>>();
  readonly #model: string;
  constructor(model: string) {
    this.#model = model;
  }
  #key(id: string) {
    return `${this.#model}:${id}`;
  }
  async upsert(id: string, payload: Record<string, unknown>) {
    MemoryAdapter.store.set(this.#key(id), payload);
  }
  async find(id: string) {
    return MemoryAdapter.store.get(this.#key(id));
  }
  async findByUserCode(userCode: string) {
    for (const p of MemoryAdapter.store.values()) if (p.userCode === userCode) return p;
    return undefined;
  }
  async findByUid(uid: string) {
    for (const p of MemoryAdapter.store.values()) if (p.uid === uid) return p;
    return undefined;
  }
  async consume(id: string) {
    const p = MemoryAdapter.store.get(this.#key(id));
    if (p) p.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id: string) {
    MemoryAdapter.store.delete(this.#key(id));
  }
  async revokeByGrantId(grantId: string) {
    for (const [k, p] of MemoryAdapter.store) if (p.grantId === grantId) MemoryAdapter.store.delete(k);
  }
}

export interface OidcIdp {
  /** The issuer identifier, `http://127.0.0.1:<port>`. */
  issuer: string;
  /** Number of HTTP requests the IdP has received. */
  requests(): number;
  /**
   * Creates the provider with one confidential client. Until then every request gets a 503: the port (and so
   * the issuer) is known first, the client's redirect URI (Gatehouse's callback URL) only later.
   */
  configure(client: { clientId: string; clientSecret: string; redirectUri: string }): void;
  close(): Promise<void>;
}

/** A real `oidc-provider` on a free loopback port, in this process (it only serves discovery here). */
export async function startOidcIdp(): Promise<OidcIdp> {
  const { default: Provider } = (await import(OIDC_PROVIDER)) as { default: ProviderConstructor };
  let handler: RequestListener | null = null;
  let count = 0;
  const server = createHttpServer((req, res) => {
    count++;
    if (handler) return handler(req, res);
    res.writeHead(503).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, resolve);
  });
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('the IdP has no address');
  const issuer = `http://${HOST}:${address.port}`;
  onCleanup(() => idp.close());

  const idp: OidcIdp = {
    issuer,
    requests: () => count,
    configure(client) {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const provider = new Provider(issuer, {
        adapter: MemoryAdapter,
        clients: [
          {
            client_id: client.clientId,
            client_secret: client.clientSecret,
            redirect_uris: [client.redirectUri],
            grant_types: ['authorization_code'],
            response_types: ['code'],
            token_endpoint_auth_method: 'client_secret_post',
          },
        ],
        jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'bench', alg: 'RS256', use: 'sig' }] },
        cookies: { keys: [randomBytes(32).toString('base64url')] },
        // Never reached (nothing follows the redirect); disabling it silences the development warning.
        features: { devInteractions: { enabled: false } },
        pkce: { required: () => true },
        claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
        findAccount: (_ctx: unknown, sub: string) => ({
          accountId: sub,
          claims: () => ({ sub, email: `${sub}@example.com`, email_verified: true, name: sub }),
        }),
      });
      handler = provider.callback();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return idp;
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

/**
 * Loads `url` with GET for `settings.durationSec` seconds over `settings.connections` keep-alive connections,
 * after `settings.warmupSec` seconds of unmeasured load. Any status other than `expectStatus` is an error.
 */
export async function measure(
  name: string,
  url: string,
  expectStatus: number,
  settings: BenchSettings,
  serverPid?: number,
): Promise<Measurement> {
  const base = { url, connections: settings.connections, method: 'GET' as const, timeout: 10 };
  if (settings.warmupSec > 0) await autocannon({ ...base, duration: settings.warmupSec });
  const serverCpuBefore = serverPid === undefined ? null : processCpuSeconds(serverPid);
  const machineCpuBefore = machineCpuSeconds();
  const loadCpuBefore = process.cpuUsage();
  const started = performance.now();
  const r = await autocannon({ ...base, duration: settings.durationSec });
  const elapsedSec = (performance.now() - started) / 1000;
  const loadCpu = process.cpuUsage(loadCpuBefore);
  const serverCpuAfter = serverPid === undefined ? null : processCpuSeconds(serverPid);
  const machineCpuAfter = machineCpuSeconds();
  const percent = (seconds: number) => (100 * seconds) / elapsedSec;
  const serverCpu =
    serverCpuBefore === null || serverCpuAfter === null ? null : serverCpuAfter - serverCpuBefore;
  const loadCpuSec = (loadCpu.user + loadCpu.system) / 1e6;
  const otherCpu =
    machineCpuBefore === null || machineCpuAfter === null || serverCpu === null
      ? null
      : Math.max(0, machineCpuAfter - machineCpuBefore - serverCpu - loadCpuSec);
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
    durationSec: settings.durationSec,
    connections: settings.connections,
    reqPerSec: r.requests.average,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    ok,
    unexpected,
    // autocannon counts a timeout in both `errors` and `timeouts`.
    socketErrors: r.errors - r.timeouts,
    timeouts: r.timeouts,
    errors: unexpectedCount + r.errors,
    serverCpuPercent: serverCpu === null ? null : percent(serverCpu),
    loadCpuPercent: percent(loadCpuSec),
    otherCpuPercent: otherCpu === null ? null : percent(otherCpu),
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
  printTable(
    [
      'name',
      ' req/s (mean)',
      ' p50 ms',
      ' p99 ms',
      ' errors',
      ' % of baseline',
      ' server CPU',
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
      cpu(m.loadCpuPercent),
      cpu(m.otherCpuPercent),
    ]),
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
