/**
 * Benchmark of the whole login, in logins/s: the app's authorization URL → Gatehouse /sso/authorize → the
 * OpenID provider's login form and consent form → Gatehouse's callback (code exchange with the IdP, ID token
 * validation, userinfo, profile) → the app's redirect URI with a code → POST /sso/token → GET /sso/profile.
 * See bench/README.md.
 *
 *   npm run bench:login                             # 10 s per measurement, 8 concurrent logins
 *   BENCH_CONCURRENCY=16 BENCH_ROUNDS=3 npm run bench:login
 *   BENCH_LOGIN_CONSENT=both npm run bench:login    # also with Gatehouse's consent screen
 *   BENCH_CPU_PROF=/tmp/prof npm run bench:login    # also write a V8 CPU profile of each Gatehouse process
 *   BENCH_DB=both npm run bench:login               # a Gatehouse on SQLite and one on PostgreSQL, same rounds
 *
 * Set-up: Gatehouse as a child process (fresh SQLite file, WAL, or a fresh PostgreSQL schema with BENCH_DB;
 * GATEHOUSE_SIGNIN_CONSENT=off; a second one
 * with it on for BENCH_LOGIN_CONSENT=on/both), an organization with the users' domain verified and a
 * GenericOIDC connection, and oidc-provider as a child process too (BENCH_IDP=inline puts it in this process
 * instead). Each round measures the same loop against the OpenID provider alone (the reference), then through
 * Gatehouse. Exit code 0; 1 when the set-up fails or any login failed.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import {
  BenchError,
  benchDatabases,
  choice,
  cpuPercent,
  createOidcConnection,
  databaseName,
  freePort,
  gitRevision,
  HOST,
  type IdpStats,
  indent,
  type LoopMeasurement,
  machineInfo,
  makeTempDir,
  measureLoop,
  median,
  type OidcIdp,
  printLoginTable,
  runBenchmark,
  startGatehouse,
  startOidcIdp,
  startOidcIdpChild,
  wholeNumber,
} from './lib.ts';
import {
  APP_REDIRECT_URI,
  GatehouseApp,
  IDP_CLIENT_ID,
  IdpOnlyApp,
  type SdkRequests,
  USER_DOMAIN,
  USERS,
} from './sso-flow.ts';

const log = (line = '') => process.stdout.write(`${line}\n`);

/** Other processes above this share of a core during a measurement: the row is marked as disturbed. */
const DISTURBED_PERCENT = 20;

/** Requests by route between two snapshots of the IdP's counters. */
function routeDelta(before: IdpStats, after: IdpStats): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [route, n] of Object.entries(after.routes)) {
    const d = n - (before.routes[route] ?? 0);
    if (d > 0) out[route] = d;
  }
  return out;
}

const describeRoutes = (routes: Record<string, number>) =>
  Object.entries(routes)
    .map(([route, n]) => `${route} ×${n}`)
    .join(', ');

async function main(): Promise<number> {
  const durationSec = wholeNumber('BENCH_DURATION', 10, 1);
  const warmupSec = wholeNumber('BENCH_WARMUP', 2, 0);
  const rounds = wholeNumber('BENCH_ROUNDS', 1, 1);
  const concurrency = wholeNumber('BENCH_CONCURRENCY', 8, 1);
  const consentMode = choice('BENCH_LOGIN_CONSENT', ['off', 'on', 'both'] as const, 'off');
  const idpMode = choice('BENCH_IDP', ['child', 'inline'] as const, 'child');
  const databases = benchDatabases();
  const profDir = process.env.BENCH_CPU_PROF?.trim() ? resolve(process.env.BENCH_CPU_PROF.trim()) : null;
  const loop = { durationSec, warmupSec, concurrency };

  log(
    'Gatehouse benchmark: the whole login (authorize → IdP login and consent → callback → token → profile)',
  );
  log(machineInfo());
  log(`Gatehouse revision: ${gitRevision() ?? 'unknown (not a Git checkout)'}`);
  log(
    `Settings: ${durationSec} s per measurement after ${warmupSec} s warm-up, ${concurrency} concurrent logins, ` +
      `${rounds} round(s) of IdP alone then Gatehouse, Gatehouse consent screen ${consentMode}, ` +
      `Gatehouse on ${databases.map(databaseName).join(' and on ')}, ` +
      `OpenID provider ${idpMode === 'child' ? 'in a child process' : 'in this process'}, loopback only`,
  );
  log();

  // The IdP's port first: the connections name its issuer, and it needs their callback URLs.
  const idpPort = await freePort();
  const issuer = `http://${HOST}:${idpPort}`;
  const clientSecret = randomBytes(24).toString('base64url');
  const apps: GatehouseApp[] = [];
  // The database is in the name when it is not the default alone.
  const label = (app: GatehouseApp) =>
    `Gatehouse${
      databases.length > 1 || app.gatehouse.database !== 'sqlite'
        ? ` (${databaseName(app.gatehouse.database)})`
        : ''
    }, consent ${app.consent ? 'on' : 'off'}`;
  for (const database of databases) {
    for (const consent of consentMode === 'both' ? [false, true] : [consentMode === 'on']) {
      const gatehouse = await startGatehouse({
        dataDir: makeTempDir('gatehouse-bench-'),
        redirectUris: [APP_REDIRECT_URI],
        database,
        env: { GATEHOUSE_SIGNIN_CONSENT: consent ? 'on' : 'off' },
        extraNodeArgs: profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
      });
      const connection = await createOidcConnection(gatehouse, {
        issuer,
        clientId: IDP_CLIENT_ID,
        clientSecret,
        domain: USER_DOMAIN,
      });
      const app = new GatehouseApp({ gatehouse, ...connection, consent, idpIssuer: issuer });
      apps.push(app);
      log(`${label(app)} (pid ${gatehouse.pid}) on ${gatehouse.url}`);
    }
  }
  const clients = [{ clientId: IDP_CLIENT_ID, clientSecret, redirectUris: apps.map((a) => a.callbackUrl) }];
  let idp: OidcIdp;
  if (idpMode === 'child') {
    idp = await startOidcIdpChild({ port: idpPort, clients, interactive: true });
  } else {
    const inline = await startOidcIdp({ port: idpPort });
    await inline.configure(clients, { interactive: true });
    idp = inline;
  }
  log(`OpenID provider (${idp.inProcess ? 'this process' : `pid ${idp.pid}`}) on ${issuer}`);
  const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as {
    token_endpoint: string;
    userinfo_endpoint: string;
  };

  // Every path once, checked: a login through the official SDK (whose requests become the raw ones), then one
  // through the raw requests, counting what it asks of the IdP.
  const sdks = new Map<GatehouseApp, SdkRequests>();
  let upstream: URL | null = null;
  let idpPerLogin: Record<string, number> = {};
  let sequence = 1_000_000;
  for (const app of apps) {
    const verified = await app.verifyWithSdk(sequence++);
    sdks.set(app, verified.sdk);
    upstream ??= verified.upstream;
    const before = await idp.stats();
    await app.login(verified.sdk, sequence++).catch((err: Error) => {
      throw new BenchError(`a login through Gatehouse with the raw requests failed at ${err.message}`);
    });
    idpPerLogin = routeDelta(before, await idp.stats());
    log(`Login through ${label(app)} OK; the SDK's request: ${verified.sdk.describeToken()}`);
  }
  log(`Requests to the IdP per login through Gatehouse: ${describeRoutes(idpPerLogin)}`);
  if (!upstream) throw new BenchError('no Gatehouse to measure');
  const idpOnly = new IdpOnlyApp({
    template: upstream,
    clientSecret,
    tokenEndpoint: discovery.token_endpoint,
    userinfoEndpoint: idpPerLogin['/me'] ? discovery.userinfo_endpoint : null,
  });
  const before = await idp.stats();
  await idpOnly.login(sequence++).catch((err: Error) => {
    throw new BenchError(`a login at the IdP alone failed at ${err.message}`);
  });
  const idpOnlyPerLogin = routeDelta(before, await idp.stats());
  log(`Requests to the IdP per login at the IdP alone: ${describeRoutes(idpOnlyPerLogin)}`);
  if (describeRoutes(idpOnlyPerLogin) !== describeRoutes(idpPerLogin)) {
    log('Note: the two differ; the reference does not ask exactly what a Gatehouse login asks of the IdP.');
  }
  log();

  // Every process's CPU is counted in every measurement, so that "other" is the rest of the machine.
  const pids: Record<string, number> = {};
  for (const [i, app] of apps.entries()) pids[`gatehouse${i}`] = app.gatehouse.pid;
  if (!idp.inProcess) pids.idp = idp.pid;

  const rows: Array<{ m: LoopMeasurement; app: GatehouseApp | null; reference: LoopMeasurement }> = [];
  for (let round = 1; round <= rounds; round++) {
    const suffix = rounds > 1 ? ` #${round}` : '';
    log(`Measuring the IdP alone${suffix} for ${durationSec} s…`);
    const reference = await measureLoop(`IdP alone${suffix}`, loop, pids, (n) => idpOnly.login(n));
    rows.push({ m: reference, app: null, reference });
    for (const app of apps) {
      const name = `${label(app)}${suffix}`;
      log(`Measuring ${name} for ${durationSec} s…`);
      const sdk = sdks.get(app) as SdkRequests;
      rows.push({ m: await measureLoop(name, loop, pids, (n) => app.login(sdk, n)), app, reference });
    }
  }
  for (const app of apps) await app.gatehouse.stop();
  await idp.stop();

  log();
  printLoginTable(
    rows.map(({ m, app, reference }) => ({
      m,
      gatehouse: app ? `gatehouse${apps.indexOf(app)}` : null,
      reference,
    })),
    { idp: !idp.inProcess, database: databases.includes('postgres') },
  );
  log();

  const disturbed = (m: LoopMeasurement) => (cpuPercent(m.cpu.otherSeconds, m.cpu) ?? 0) > DISTURBED_PERCENT;
  for (const app of apps) {
    const mine = rows.filter((r) => r.app === app);
    const clean = mine.filter((r) => !disturbed(r.m) && !disturbed(r.reference));
    const counted = clean.length > 0 ? clean : mine;
    const rate = median(counted.map((r) => r.m.perSec));
    const ratio = median(counted.map((r) => (100 * r.m.perSec) / r.reference.perSec));
    const key = `gatehouse${apps.indexOf(app)}`;
    const msPer = (name: string) =>
      median(counted.map((r) => (1000 * (r.m.cpu.seconds[name] ?? 0)) / Math.max(1, r.m.completed)));
    const ghMs = msPer(key);
    const dbMs = app.gatehouse.database === 'postgres' ? msPer('database') : null;
    const idpMs = idp.inProcess ? null : msPer('idp');
    const medians = counted.length > 1 ? ` (medians of ${counted.length} rounds)` : '';
    const share =
      idpMs === null
        ? ' (the IdP runs in this process: its CPU is in "load")'
        : `, IdP ${idpMs.toFixed(2)} ms: Gatehouse${dbMs === null ? '' : ' with PostgreSQL'} is ${(
            (100 * (ghMs + (dbMs ?? 0))) / (ghMs + (dbMs ?? 0) + idpMs)
          ).toFixed(0)}% of the servers' CPU`;
    const database = dbMs === null ? '' : ` + PostgreSQL ${dbMs.toFixed(2)} ms`;
    log(
      `${label(app)}: ${rate.toFixed(1)} logins/s, ` +
        `${ratio.toFixed(1)}% of the IdP alone${medians}; CPU per login: Gatehouse ${ghMs.toFixed(2)} ms${database}${share}`,
    );
  }
  const noisy = rows.filter((r) => disturbed(r.m));
  if (noisy.length > 0) {
    log(
      `Note: other processes used the CPU during ${noisy.map((r) => r.m.name).join(', ')} (column "other CPU"): ` +
        'those numbers are disturbed; re-run on a quiet machine.',
    );
  }
  log(`Users: ${USERS}, cycled (user<N>@${USER_DOMAIN}); every login is a new browser with no cookies.`);
  if (profDir) log(`CPU profile of each Gatehouse process written to ${profDir}`);

  const failed = rows.filter((r) => r.m.failureCount > 0 || r.m.warmupFailures > 0);
  if (failed.length > 0) {
    log();
    log('INVALID RUN: every login must succeed.');
    for (const { m } of failed) {
      const kinds = Object.entries(m.failures).map(([k, n]) => `${k} ×${n}`);
      log(
        `  ${m.name}: ${m.failureCount} failed (${kinds.join(', ') || 'none measured'}), ` +
          `${m.warmupFailures} in the warm-up`,
      );
      for (const sample of m.failureSamples) log(`    ${sample.slice(0, 400)}`);
    }
    for (const app of apps) {
      const out = app.gatehouse.output().trim();
      if (out) log(`Gatehouse output (last lines):\n${indent(out.split('\n').slice(-20).join('\n'))}`);
    }
    return 1;
  }
  return 0;
}

runBenchmark(main);
