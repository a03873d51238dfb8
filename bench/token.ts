/**
 * Benchmark of POST /sso/token: the app's exchange of an authorization code for the profile and an access
 * token, exactly as `sso.getProfileAndToken()` of the official SDK sends it (API key as `client_secret` and
 * Bearer, a fresh `Idempotency-Key` per call), each request with a different, valid, single-use code. See
 * bench/README.md.
 *
 *   npm run bench:token                             # 10 s per measurement, 50 connections
 *   BENCH_ROUNDS=3 npm run bench:token              # three baseline/Gatehouse pairs, median ratio
 *   BENCH_CPU_PROF=/tmp/prof npm run bench:token    # also write a V8 CPU profile of the Gatehouse process
 *
 * Set-up: Gatehouse as a child process (fresh SQLite file, WAL), an OIDC connection to oidc-provider (child
 * process, stopped after the set-up), two real logins (the first redeemed through the SDK, whose requests
 * are recorded and become the benchmark's, the second through those raw requests). Codes are needed faster
 * than logins can make them, so before each phase this process writes a pool of codes into Gatehouse's SQLite
 * file through Gatehouse's own store API (`SqliteStore`): each code with its own session log record, as a
 * login leaves them, for one of 1 000 profiles copied from the real one. Gatehouse, the child process, reads
 * them from its file like any other code. The baseline is a bare node:http server answering the same requests
 * with 200 and a body of the real response's size. Exit code 0; 1 when the set-up fails or any response was
 * not a 200.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { newId } from '../src/lib/ids.ts';
import { randomToken, sha256 } from '../src/lib/tokens.ts';
import { SqliteStore } from '../src/storage/sqlite/index.ts';
import type { AuthorizationCodeRecord, SsoSessionRecord } from '../src/storage/store.ts';
import {
  BenchError,
  benchSettings,
  createOidcConnection,
  describeErrors,
  disturbed,
  freePort,
  gitRevision,
  HOST,
  indent,
  type LoadSpec,
  type Measurement,
  machineInfo,
  makeTempDir,
  measure,
  median,
  percentOf,
  printMeasurements,
  runBenchmark,
  startBaselineServer,
  startGatehouse,
  startOidcIdpChild,
} from './lib.ts';
import { APP_REDIRECT_URI, GatehouseApp, IDP_CLIENT_ID, type SdkRequests, USER_DOMAIN } from './sso-flow.ts';

const log = (line = '') => process.stdout.write(`${line}\n`);

/** Profiles the pooled codes are spread over (copies of the real one, each its own user). */
const PROFILES = 1000;
/** Pool size = expected requests × this: the rate is only estimated, and a reused code would be a 400. */
const POOL_MARGIN = 1.5;
/** The least share of the bare server's rate a pool is sized for (Gatehouse does 9–20% of it here). */
const MIN_SHARE = 0.25;
/** Handed out when a pool runs dry: Gatehouse answers 400, which makes the run invalid (and says why). */
const NO_CODE = 'pool-exhausted-0000000000000000000000000000';

interface CodeSource {
  take(): string;
}

/** The single-use codes of one phase, handed out in order. */
class CodePool implements CodeSource {
  readonly codes: string[];
  #next = 0;
  /** Requests that found the pool empty. */
  exhausted = 0;
  constructor(codes: string[]) {
    this.codes = codes;
  }
  take(): string {
    const code = this.codes[this.#next];
    if (code === undefined) {
      this.exhausted++;
      return NO_CODE;
    }
    this.#next++;
    return code;
  }
  get used(): number {
    return this.#next;
  }
}

/** autocannon requests: POST /sso/token as the SDK sends it, each with the next code of `pool`. */
function tokenRequests(sdk: SdkRequests, pool: CodeSource): LoadSpec {
  return {
    requests: [
      {
        method: 'POST',
        path: '/sso/token',
        setupRequest: (request) => ({
          ...request,
          headers: sdk.tokenHeaders(),
          body: sdk.tokenBody(pool.take()),
        }),
      },
    ],
  };
}

/**
 * Writes codes into Gatehouse's SQLite file through its store, as logins would leave them: per code a session
 * log record and the code itself, both copies of a real login's (before its redemption) with their own IDs,
 * hash, profile and times: bound to the app's client ID and redirect URI, no PKCE (the SDK's confidential
 * client), valid as long as the real one.
 */
class CodeFactory {
  readonly #path: string;
  readonly #session: Omit<SsoSessionRecord, 'createdAt' | 'updatedAt'>;
  readonly #code: Omit<AuthorizationCodeRecord, 'consumedAt'>;
  readonly #profiles: string[];
  constructor(options: {
    path: string;
    session: Omit<SsoSessionRecord, 'createdAt' | 'updatedAt'>;
    code: Omit<AuthorizationCodeRecord, 'consumedAt'>;
    profiles: string[];
  }) {
    this.#path = options.path;
    this.#session = options.session;
    this.#code = options.code;
    this.#profiles = options.profiles;
  }

  async make(count: number): Promise<CodePool> {
    const now = new Date();
    const expiresAt = new Date(
      now.getTime() + (this.#code.expiresAt.getTime() - this.#code.createdAt.getTime()),
    );
    const rows = Array.from({ length: count }, (_, i) => ({
      code: randomToken(32),
      sessionId: newId('sess'),
      profileId: this.#profiles[i % this.#profiles.length] as string,
    }));
    const store = new SqliteStore(this.#path);
    try {
      // Session records: grouped by the store into one transaction.
      await Promise.all(
        rows.map((r) =>
          store.createSession({
            ...this.#session,
            id: r.sessionId,
            profileId: r.profileId,
            authorizeRequestId: newId('req'),
            callbackRequestId: newId('req'),
          }),
        ),
      );
      for (const r of rows) {
        await store.createAuthorizationCode({
          ...this.#code,
          codeHash: sha256(r.code),
          profileId: r.profileId,
          sessionId: r.sessionId,
          createdAt: now,
          expiresAt,
        });
      }
    } finally {
      await store.close();
    }
    // The pool went through the WAL: fold it into the database now, not during the measurement.
    const db = new DatabaseSync(this.#path);
    try {
      db.exec('PRAGMA busy_timeout = 5000');
      db.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get();
    } finally {
      db.close();
    }
    return new CodePool(rows.map((r) => r.code));
  }
}

async function main(): Promise<number> {
  const settings = benchSettings();
  log(
    'Gatehouse benchmark: POST /sso/token (authorization code → profile and access token, as the WorkOS SDK)',
  );
  log(machineInfo());
  log(`Gatehouse revision: ${gitRevision() ?? 'unknown (not a Git checkout)'}`);
  log(
    `Settings: ${settings.durationSec} s per measurement after ${settings.warmupSec} s warm-up, ` +
      `${settings.connections} connections, ${settings.rounds} round(s) of baseline then Gatehouse, loopback only`,
  );
  log();

  const dataDir = makeTempDir('gatehouse-bench-');
  const profDir = process.env.BENCH_CPU_PROF?.trim() ? resolve(process.env.BENCH_CPU_PROF.trim()) : null;
  const gatehouse = await startGatehouse({
    dataDir,
    redirectUris: [APP_REDIRECT_URI],
    env: { GATEHOUSE_SIGNIN_CONSENT: 'off' },
    extraNodeArgs: profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
  });
  // The code pool is written straight into the SQLite file (see CodeFactory): this benchmark is SQLite-only.
  const databasePath = gatehouse.databasePath;
  if (databasePath === null) throw new BenchError('bench:token needs Gatehouse on SQLite');
  const idpPort = await freePort();
  const issuer = `http://${HOST}:${idpPort}`;
  const clientSecret = randomBytes(24).toString('base64url');
  const connection = await createOidcConnection(gatehouse, {
    issuer,
    clientId: IDP_CLIENT_ID,
    clientSecret,
    domain: USER_DOMAIN,
  });
  const idp = await startOidcIdpChild({
    port: idpPort,
    clients: [{ clientId: IDP_CLIENT_ID, clientSecret, redirectUris: [connection.callbackUrl] }],
    interactive: true,
  });
  log(`Gatehouse (pid ${gatehouse.pid}) on ${gatehouse.url}; OpenID provider (pid ${idp.pid}) on ${issuer}`);

  // Two real logins: the SDK's requests recorded, then replayed raw; both must give the same profile.
  const app = new GatehouseApp({ gatehouse, ...connection, consent: false, idpIssuer: issuer });
  const verified = await app.verifyWithSdk(0);
  log(`Logins OK; the SDK's request: ${verified.sdk.describeToken()}`);
  await idp.stop();

  // What a login left in the store, as the model for the pool.
  const setupStore = new SqliteStore(databasePath);
  let factory: CodeFactory;
  try {
    const real = await setupStore.getAuthorizationCode(sha256(verified.codes[1] as string));
    const session = real ? await setupStore.getSession(real.sessionId) : null;
    const profile = await setupStore.getProfile(verified.profileId);
    if (!real || !session || !profile)
      throw new BenchError('the real login left no code, session or profile');
    if (real.clientId !== gatehouse.clientId || real.redirectUri !== APP_REDIRECT_URI || real.codeChallenge) {
      throw new BenchError(`the real code is not bound as the pool's will be: ${JSON.stringify(real)}`);
    }
    const { createdAt: _c, updatedAt: _u, ...model } = session;
    const { code_redeemed: _r, ...stages } = model.stages;
    const { consumedAt: _t, ...code } = real;
    const profiles = [profile.id];
    for (let i = 1; i < PROFILES; i++) {
      const idpId = `pool-user${i}`;
      const copy = await setupStore.upsertProfile({
        id: newId('prof'),
        connectionId: profile.connectionId,
        idpId,
        data: { ...profile.data, idp_id: idpId, email: `${idpId}@${USER_DOMAIN}` },
      });
      profiles.push(copy.id);
    }
    factory = new CodeFactory({
      path: databasePath,
      session: { ...model, stages },
      code,
      profiles,
    });
  } finally {
    await setupStore.close();
  }
  const probeStarted = performance.now();
  const probe = await factory.make(2000);
  const insertMsPerCode = (performance.now() - probeStarted) / probe.codes.length;
  log(`Code pool: ${insertMsPerCode.toFixed(3)} ms per code to write (code, session record, WAL checkpoint)`);

  // The floor: the same requests answered by a server that only reads them and writes a 200 of the same size.
  const baseline = await startBaselineServer({
    status: 200,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      pragma: 'no-cache',
    },
    body: verified.tokenResponse,
  });
  log(
    `Baseline (pid ${baseline.pid}) on ${baseline.url}; response body ${verified.tokenResponse.length} bytes`,
  );
  log();

  // The baseline ignores the codes: fresh random ones (~1 µs each, next to autocannon's own ~20 µs a request).
  const fakeCodes: CodeSource = { take: () => randomToken(32) };
  const rows: Array<{ measurement: Measurement; baseline: Measurement }> = [];
  const ratios: Array<{ percent: number; disturbed: boolean }> = [];
  const pools: CodePool[] = [];
  let poolSeconds = 0;
  let expectedRate: number | null = null;
  for (let round = 1; round <= settings.rounds; round++) {
    const suffix = settings.rounds > 1 ? ` #${round}` : '';
    log(`Measuring baseline${suffix} for ${settings.durationSec} s…`);
    const base = await measure(
      `baseline (node:http 200)${suffix}`,
      `${baseline.url}/sso/token`,
      200,
      settings,
      baseline.pid,
      () => tokenRequests(verified.sdk, fakeCodes),
    );
    log(`Measuring Gatehouse${suffix} for ${settings.durationSec} s…`);
    const gh = await measure(
      `gatehouse /sso/token${suffix}`,
      `${gatehouse.url}/sso/token`,
      200,
      settings,
      gatehouse.pid,
      async (phase, seconds) => {
        // Codes per second to expect: Gatehouse's best so far, or what this round's warm-up used, but at
        // least MIN_SHARE of the bare server's rate (a disturbed warm-up would undersize the pool); before
        // any of those, the bare server's rate itself (an upper bound).
        const warmup = pools[pools.length - 1];
        if (phase === 'measure' && warmup && settings.warmupSec > 0) {
          expectedRate = Math.max(expectedRate ?? 0, warmup.used / settings.warmupSec);
        }
        const rate =
          expectedRate === null ? base.reqPerSec : Math.max(expectedRate, base.reqPerSec * MIN_SHARE);
        const started = performance.now();
        const pool = await factory.make(Math.ceil(rate * seconds * POOL_MARGIN) + settings.connections * 2);
        poolSeconds += (performance.now() - started) / 1000;
        pools.push(pool);
        return tokenRequests(verified.sdk, pool);
      },
    );
    expectedRate = Math.max(expectedRate ?? 0, gh.reqPerSec);
    rows.push({ measurement: base, baseline: base }, { measurement: gh, baseline: base });
    ratios.push({ percent: percentOf(gh, base), disturbed: disturbed([base, gh]).length > 0 });
  }
  await baseline.stop();

  // Every code handed out early in a phase was answered: it must now be consumed.
  const checkStore = new SqliteStore(databasePath);
  let unconsumed = 0;
  let checked = 0;
  try {
    for (const pool of pools) {
      for (const code of pool.codes.slice(
        0,
        Math.min(100, Math.max(0, pool.used - settings.connections * 2)),
      )) {
        checked++;
        if (!(await checkStore.getAuthorizationCode(sha256(code)))?.consumedAt) unconsumed++;
      }
    }
  } finally {
    await checkStore.close();
  }
  await gatehouse.stop();

  log();
  printMeasurements(rows);
  log();

  const clean = ratios.filter((r) => !r.disturbed);
  const counted = (clean.length > 0 ? clean : ratios).map((r) => r.percent);
  const each =
    ratios.length > 1
      ? ` (median of ${counted.map((r) => `${r.toFixed(1)}%`).join(', ')}${
          clean.length > 0 && clean.length < ratios.length
            ? `; ${ratios.length - clean.length} disturbed round(s) left out`
            : ''
        })`
      : '';
  log(`Gatehouse: ${median(counted).toFixed(1)}% of the bare server's throughput${each}`);
  const cpuPerRequest = rows
    .filter((r) => r.measurement !== r.baseline && r.measurement.serverCpuPercent !== null)
    .map((r) => ((r.measurement.serverCpuPercent as number) * 1e4) / Math.max(1, r.measurement.reqPerSec));
  if (cpuPerRequest.length > 0) {
    log(`Gatehouse CPU per exchange: ${median(cpuPerRequest).toFixed(0)} µs (median)`);
  }
  const handedOut = pools.reduce((a, p) => a + p.used, 0);
  const written = pools.reduce((a, p) => a + p.codes.length, 0);
  log(
    `Codes: ${written} written in ${pools.length} pools (${poolSeconds.toFixed(1)} s, between the phases), ` +
      `${handedOut} used; ${checked - unconsumed}/${checked} sampled ones consumed`,
  );
  const noisy = disturbed(rows.map((r) => r.measurement));
  if (noisy.length > 0) {
    log(
      `Note: other processes used the CPU during ${noisy.map((m) => m.name).join(', ')} (column "other CPU"): ` +
        'those numbers are disturbed; re-run on a quiet machine.',
    );
  }
  if (profDir) log(`CPU profile of the Gatehouse process written to ${profDir}`);

  const errors = rows.flatMap(({ measurement }) => describeErrors(measurement, 200));
  const exhausted = pools.reduce((a, p) => a + p.exhausted, 0);
  if (exhausted > 0) {
    errors.push(
      `${exhausted} requests found their code pool empty and sent an invalid code: Gatehouse went faster than ` +
        `the warm-up and earlier rounds predicted, by more than ${POOL_MARGIN}×: were they disturbed? Re-run.`,
    );
  }
  if (unconsumed > 0) errors.push(`${unconsumed} sampled codes were answered 200 but are not consumed`);
  if (errors.length > 0) {
    log();
    log('INVALID RUN: every response must be a 200, for a code of the pool.');
    for (const line of errors) log(`  ${line}`);
    const out = gatehouse.output().trim();
    if (out) log(`Gatehouse output (last lines):\n${indent(out.split('\n').slice(-20).join('\n'))}`);
    return 1;
  }
  return 0;
}

runBenchmark(main);
