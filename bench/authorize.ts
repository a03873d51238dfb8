/**
 * `npm run bench`: by default the side-by-side table of Gatehouse, BoxyHQ SAML Jackson and a bare node:http
 * server (bench/compare.ts, issue 14). With BENCH_SCENARIOS=oidc, the benchmark this file has always been:
 * GET /sso/authorize, the request an app sends a user's browser to, answered with a 302 to the organization's
 * OpenID provider, against a bare server. See bench/README.md.
 *
 *   npm run bench                                   # the side-by-side table (installs Jackson once)
 *   BENCH_SCENARIOS=oidc npm run bench              # GET /sso/authorize (OIDC) against the bare server:
 *   BENCH_SCENARIOS=oidc BENCH_DURATION=30 BENCH_CONNECTIONS=100 npm run bench
 *   BENCH_SCENARIOS=oidc BENCH_ROUNDS=3 npm run bench            # three pairs, median ratio
 *   BENCH_SCENARIOS=oidc BENCH_CPU_PROF=/tmp/prof npm run bench  # a V8 CPU profile of the Gatehouse process
 *   BENCH_SCENARIOS=oidc BENCH_DB=both npm run bench             # on SQLite and on PostgreSQL, same rounds
 *
 * Set-up: a real oidc-provider (in this process; it only serves discovery, once), Gatehouse as a child
 * process with a fresh SQLite file (WAL) or a fresh PostgreSQL schema (BENCH_DB), an organization with one
 * GenericOIDC connection, and a bare
 * `node:http` baseline (child process) answering the same request with a 302 carrying the same Location and
 * Set-Cookie. The baseline is measured immediately before Gatehouse with the same settings; the ratio between
 * the two is the result. Exit code 0 (also below target), 1 when the set-up fails or any response was not a 302.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { runCompare } from './compare.ts';
import {
  type BenchDatabase,
  BenchError,
  benchDatabases,
  benchSettings,
  createOidcConnection,
  databaseName,
  describeErrors,
  disturbed,
  type GatehouseChild,
  gitRevision,
  indent,
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
  startOidcIdp,
} from './lib.ts';

const APP_REDIRECT_URI = 'https://app.example.com/callback';
const IDP_CLIENT_ID = 'gatehouse-bench';
/** The target of the issue: Gatehouse's throughput as a share of the bare server's. */
const TARGET_PERCENT = 25;

const log = (line = '') => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  const settings = benchSettings();
  const databases = benchDatabases();
  log('Gatehouse benchmark: GET /sso/authorize (organization selector, GenericOIDC connection)');
  log(machineInfo());
  log(`Gatehouse revision: ${gitRevision() ?? 'unknown (not a Git checkout)'}`);
  log(
    `Settings: ${settings.durationSec} s per measurement after ${settings.warmupSec} s warm-up, ` +
      `${settings.connections} connections, ${settings.rounds} round(s) of baseline then Gatehouse, ` +
      `Gatehouse on ${databases.map(databaseName).join(' and on ')}, loopback only`,
  );
  log();

  const idp = await startOidcIdp();
  const profDir = process.env.BENCH_CPU_PROF?.trim() ? resolve(process.env.BENCH_CPU_PROF.trim()) : null;
  const clientSecret = randomBytes(24).toString('base64url');
  const subjects: Array<{
    database: BenchDatabase;
    name: string;
    gatehouse: GatehouseChild;
    path: string;
    callbackUrl: string;
  }> = [];
  for (const database of databases) {
    const gatehouse = await startGatehouse({
      dataDir: makeTempDir('gatehouse-bench-'),
      redirectUris: [APP_REDIRECT_URI],
      database,
      extraNodeArgs: profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
    });
    const { organizationId, callbackUrl } = await createOidcConnection(gatehouse, {
      issuer: idp.issuer,
      clientId: IDP_CLIENT_ID,
      clientSecret,
    });
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: gatehouse.clientId,
      redirect_uri: APP_REDIRECT_URI,
      organization: organizationId,
      state: 'bench-state-0123456789',
    });
    const name = databases.length > 1 ? `gatehouse (${databaseName(database)})` : 'gatehouse /sso/authorize';
    subjects.push({ database, name, gatehouse, path: `/sso/authorize?${query}`, callbackUrl });
    log(`Gatehouse on ${databaseName(database)} (pid ${gatehouse.pid}) on ${gatehouse.url}`);
  }
  log(`OpenID provider on ${idp.issuer}`);
  await idp.configure(
    [{ clientId: IDP_CLIENT_ID, clientSecret, redirectUris: subjects.map((s) => s.callbackUrl) }],
    { interactive: false },
  );
  const discovery = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as {
    authorization_endpoint: string;
  };
  const idpRequestsBefore = (await idp.stats()).total;

  // Warm-up request to each: checks the whole path (including discovery, which Gatehouse then caches).
  let model: { location: string; setCookie: string } | null = null;
  for (const { gatehouse, path, callbackUrl, database } of subjects) {
    const res = await fetch(`${gatehouse.url}${path}`, { redirect: 'manual' });
    const body = await res.text();
    const location = res.headers.get('location') ?? '';
    const setCookie = res.headers.get('set-cookie') ?? '';
    const upstream = URL.canParse(location) ? new URL(location) : null;
    const expected: Record<string, string> = {
      client_id: IDP_CLIENT_ID,
      redirect_uri: callbackUrl,
      response_type: 'code',
      code_challenge_method: 'S256',
    };
    const mismatch = Object.entries(expected).find(([k, v]) => upstream?.searchParams.get(k) !== v);
    if (
      res.status !== 302 ||
      !location.startsWith(`${discovery.authorization_endpoint}?`) ||
      mismatch ||
      !upstream?.searchParams.get('state') ||
      !setCookie
    ) {
      throw new BenchError(
        [
          `the warm-up GET ${path} (Gatehouse on ${databaseName(database)}) did not redirect to the OpenID provider as expected.`,
          `  expected: 302, Location ${discovery.authorization_endpoint}?… with ${JSON.stringify(expected)}, a Set-Cookie`,
          `  got: ${res.status}, Location ${JSON.stringify(location)}, Set-Cookie ${JSON.stringify(setCookie)}`,
          ...(mismatch ? [`  first mismatching parameter: ${mismatch[0]}`] : []),
          `  body: ${body.slice(0, 500)}`,
          '  Gatehouse output:',
          indent(gatehouse.output(), '    '),
        ].join('\n'),
      );
    }
    model ??= { location, setCookie };
    log(
      `Warm-up OK (${databaseName(database)}): 302 to ${discovery.authorization_endpoint} (Location ${location.length} characters)`,
    );
  }
  if (!model) throw new BenchError('no Gatehouse to measure');

  // The floor: the same request, answered by a server that does nothing but write the same kind of 302.
  const baseline = await startBaselineServer({
    status: 302,
    headers: { location: model.location, 'set-cookie': model.setCookie },
  });
  log(`Baseline (pid ${baseline.pid}) on ${baseline.url}`);
  log();

  const basePath = subjects[0]?.path ?? '/';
  const rows: Array<{ measurement: Measurement; baseline: Measurement }> = [];
  const ratios = new Map(subjects.map((s) => [s, [] as Array<{ percent: number; disturbed: boolean }>]));
  for (let round = 1; round <= settings.rounds; round++) {
    const suffix = settings.rounds > 1 ? ` #${round}` : '';
    log(`Measuring baseline${suffix} for ${settings.durationSec} s…`);
    const base = await measure(
      `baseline (node:http 302)${suffix}`,
      `${baseline.url}${basePath}`,
      302,
      settings,
      baseline.pid,
    );
    rows.push({ measurement: base, baseline: base });
    for (const subject of subjects) {
      log(`Measuring ${subject.name}${suffix} for ${settings.durationSec} s…`);
      const gh = await measure(
        `${subject.name}${suffix}`,
        `${subject.gatehouse.url}${subject.path}`,
        302,
        settings,
        subject.gatehouse.pid,
      );
      rows.push({ measurement: gh, baseline: base });
      ratios
        .get(subject)
        ?.push({ percent: percentOf(gh, base), disturbed: disturbed([base, gh]).length > 0 });
    }
  }
  const idpRequests = (await idp.stats()).total - idpRequestsBefore;
  await baseline.stop();
  for (const { gatehouse } of subjects) await gatehouse.stop();

  log();
  printMeasurements(rows);
  log();

  for (const subject of subjects) {
    const mine = ratios.get(subject) ?? [];
    // Rounds that other processes disturbed count only when every round was disturbed.
    const clean = mine.filter((r) => !r.disturbed);
    const counted = (clean.length > 0 ? clean : mine).map((r) => r.percent);
    const percent = median(counted);
    const verdict = percent >= TARGET_PERCENT ? 'meets target' : 'BELOW TARGET';
    const each =
      mine.length > 1
        ? ` (median of ${counted.map((r) => `${r.toFixed(1)}%`).join(', ')}${
            clean.length > 0 && clean.length < mine.length
              ? `; ${mine.length - clean.length} disturbed round(s) left out`
              : ''
          })`
        : '';
    const on =
      databases.length > 1 || subject.database !== 'sqlite' ? ` on ${databaseName(subject.database)}` : '';
    log(
      `Gatehouse${on}: ${percent.toFixed(1)}% of the bare server's throughput${each}; target >= ${TARGET_PERCENT}%: ${verdict}`,
    );
  }
  log(
    `Upstream OpenID provider requests during the run: ${idpRequests} (${subjects.length} expected: discovery, then cached)`,
  );
  const noisy = disturbed(rows.map((r) => r.measurement));
  if (noisy.length > 0) {
    log(
      `Note: other processes used the CPU during ${noisy.map((m) => m.name).join(', ')} (column "other CPU"): ` +
        'those numbers are disturbed; re-run on a quiet machine.',
    );
  }
  if (profDir) log(`CPU profile of each Gatehouse process written to ${profDir}`);

  const errors = rows.flatMap(({ measurement }) => describeErrors(measurement, 302));
  if (errors.length > 0) {
    log();
    log('INVALID RUN: every response must be a 302.');
    for (const line of errors) log(`  ${line}`);
    for (const { gatehouse } of subjects) {
      const out = gatehouse.output().trim();
      if (out) log(`Gatehouse output (last lines):\n${indent(out.split('\n').slice(-20).join('\n'))}`);
    }
    return 1;
  }
  return 0;
}

// BENCH_SCENARIOS=oidc: this file's own benchmark; anything else: the side-by-side table.
const oidc = (process.env.BENCH_SCENARIOS ?? '').split(',').some((s) => s.trim() === 'oidc');
runBenchmark(oidc ? main : runCompare);
