/**
 * `npm run soak` (issue 15): Gatehouse under mixed traffic for a bounded time, on SQLite and PostgreSQL at once,
 * with a report every 10 seconds and a verdict at the end. See docs/reliability.md ("Soak").
 *
 *   npm run soak                                   # 10 minutes, both databases, 40 operations/s each
 *   SOAK_MINUTES=2 SOAK_DB=sqlite npm run soak
 *   SOAK_RATE=80 SOAK_CONCURRENCY=16 npm run soak
 *
 * Each Gatehouse (a child process started as `npm start` starts it, with metrics on) has an OIDC connection to
 * oidc-provider (a child process, its login and consent pages) and a SAML connection to a samlify IdP (a child
 * process that signs each response). Workers draw operations at random by weight, paced to SOAK_RATE operations
 * per second per Gatehouse: authorize (OIDC and SAML), whole logins (OIDC: the IdP's pages, the callback; SAML: the
 * IdP's signed response, the ACS; then the token exchange and the profile, as the SDK sends them), management API
 * calls (lists, a read, an organization created and deleted), and expected failures (an unknown redirect URI, a
 * bad code, a bad access token, the IdP answering access_denied), each with its exact expected answer.
 *
 * Every 10 s, per database: operations/s, authorize and login p50/p99, unexpected answers, RSS, V8 heap used,
 * event-loop delay p99, open handles, database size. The run fails (exit 1) when any answer was unexpected, when
 * RSS keeps growing (the least-squares slope of the per-second RSS over the second half above
 * SOAK_MAX_SLOPE_MB_PER_MIN, default 2), or when the authorize p99 drifts (the median of the last three reports over
 * twice that of the first three after the first, and 20 ms more).
 */

import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import pg from 'pg';
import { generateSpKeyPair } from '../src/connectors/saml/keys.ts';
import { type Answer, BenchBrowser, expectStatus, send } from './browser.ts';
import {
  BENCH_POSTGRES_URL,
  type BenchDatabase,
  BenchError,
  choice,
  createOidcConnection,
  databaseName,
  freePort,
  type GatehouseChild,
  gitRevision,
  HOST,
  machineInfo,
  makeTempDir,
  processRssMb,
  runBenchmark,
  StepFailure,
  startGatehouse,
  startOidcIdpChild,
  wholeNumber,
} from './lib.ts';
import { createSamlConnection, SamlApp, startIdpChild } from './saml-idp.ts';
import { APP_REDIRECT_URI, GatehouseApp, IDP_CLIENT_ID, type SdkRequests, USER_DOMAIN } from './sso-flow.ts';

const log = (line = '') => process.stdout.write(`${line}\n`);
const METRICS_TOKEN = `soak-${randomBytes(24).toString('hex')}`;
const REPORT_SECONDS = 10;

type Op =
  | 'authorize_oidc'
  | 'authorize_saml'
  | 'login_oidc'
  | 'login_saml'
  | 'management'
  | 'bad_redirect_uri'
  | 'bad_code'
  | 'bad_token'
  | 'idp_error';

/** Weights of the mix (out of 100). */
const MIX: Record<Op, number> = {
  authorize_oidc: 25,
  authorize_saml: 10,
  login_oidc: 12,
  login_saml: 12,
  management: 16,
  bad_redirect_uri: 5,
  bad_code: 7,
  bad_token: 7,
  idp_error: 6,
};
const OPS = Object.keys(MIX) as Op[];
const TOTAL_WEIGHT = OPS.reduce((a, op) => a + MIX[op], 0);

function drawOp(): Op {
  let r = Math.random() * TOTAL_WEIGHT;
  for (const op of OPS) {
    r -= MIX[op];
    if (r < 0) return op;
  }
  return 'authorize_oidc';
}

/** One Gatehouse under soak: its apps and what was recorded. */
interface Subject {
  database: BenchDatabase;
  gatehouse: GatehouseChild;
  oidc: GatehouseApp;
  saml: SamlApp;
  oidcSdk: SdkRequests;
  samlSdk: SdkRequests;
  sequence: number;
  /** Per report interval. */
  window: { ops: number; authorize: number[]; login: number[]; unexpected: number };
  unexpected: Map<string, number>;
  unexpectedSamples: string[];
  rssPerSecond: Array<{ t: number; mb: number }>;
  reports: Report[];
  totalOps: number;
}

interface Report {
  t: number;
  opsPerSec: number;
  authorizeP50: number | null;
  authorizeP99: number | null;
  loginP50: number | null;
  loginP99: number | null;
  unexpected: number;
  rssMb: number | null;
  heapMb: number | null;
  loopP99Ms: number | null;
  handles: number | null;
  dbMb: number | null;
}

function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? null;
}

/** The management API's call, as a raw fetch with the API key: its answer. */
async function api(
  gatehouse: GatehouseChild,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<Answer> {
  return send('management', new URL(path, gatehouse.url), {
    method,
    headers: { authorization: `Bearer ${gatehouse.apiKey}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** Runs one operation; throws a StepFailure on any answer other than the expected one. */
async function runOp(s: Subject, op: Op): Promise<{ kind: 'authorize' | 'login' | 'other'; ms: number }> {
  const n = s.sequence++;
  const gh = s.gatehouse;
  const t0 = performance.now();
  let kind: 'authorize' | 'login' | 'other' = 'other';
  switch (op) {
    case 'authorize_oidc':
    case 'authorize_saml': {
      kind = 'authorize';
      const app = op === 'authorize_oidc' ? s.oidc : s.saml;
      const url = new URL(`${gh.url}/sso/authorize`);
      url.search = new URLSearchParams({
        response_type: 'code',
        client_id: gh.clientId,
        redirect_uri: APP_REDIRECT_URI,
        organization: app.organizationId,
        state: `soak-${n}`,
      }).toString();
      const answer = await send('authorize', url);
      expectStatus('authorize', answer, 302);
      if (!answer.location?.startsWith(app.idpIssuer))
        throw new StepFailure('authorize', 302, `to ${answer.location}`);
      break;
    }
    case 'login_oidc':
      kind = 'login';
      await s.oidc.login(s.oidcSdk, n);
      break;
    case 'login_saml':
      kind = 'login';
      await s.saml.login(s.samlSdk, n);
      break;
    case 'management': {
      const list = await api(gh, 'GET', '/organizations?limit=10');
      expectStatus('management list', list, 200);
      const conn = await api(gh, 'GET', `/connections?organization_id=${s.oidc.organizationId}`);
      expectStatus('management connections', conn, 200);
      const created = await api(gh, 'POST', '/organizations', { name: `Soak ${n}` });
      expectStatus('management create', created, 201);
      const id = (JSON.parse(created.text) as { id: string }).id;
      expectStatus('management delete', await api(gh, 'DELETE', `/organizations/${id}`), 204);
      break;
    }
    case 'bad_redirect_uri': {
      const url = new URL(`${gh.url}/sso/authorize`);
      url.search = new URLSearchParams({
        response_type: 'code',
        client_id: gh.clientId,
        redirect_uri: 'https://evil.example.net/callback',
        organization: s.oidc.organizationId,
        state: 'x',
      }).toString();
      const answer = await send('bad redirect_uri', url);
      expectStatus('bad redirect_uri', answer, 400);
      if (answer.location) throw new StepFailure('bad redirect_uri', 400, 'a redirect');
      break;
    }
    case 'bad_code': {
      const answer = await send('bad code', `${gh.url}/sso/token`, {
        method: 'POST',
        headers: s.oidcSdk.tokenHeaders(),
        body: s.oidcSdk.tokenBody(`not-a-code-${n}`),
      });
      expectStatus('bad code', answer, 400);
      if ((JSON.parse(answer.text) as { error?: string }).error !== 'invalid_grant')
        throw new StepFailure('bad code', 400, answer.text.slice(0, 200));
      break;
    }
    case 'bad_token': {
      const answer = await send('bad token', `${gh.url}/sso/profile`, {
        headers: s.oidcSdk.profileHeaders(`not-a-token-${n}`),
      });
      expectStatus('bad token', answer, 401);
      break;
    }
    case 'idp_error': {
      // The IdP answers access_denied: the app gets it on its redirect URI, with its state.
      const browser = new BenchBrowser();
      const url = new URL(`${gh.url}/sso/authorize`);
      url.search = new URLSearchParams({
        response_type: 'code',
        client_id: gh.clientId,
        redirect_uri: APP_REDIRECT_URI,
        organization: s.oidc.organizationId,
        state: `denied-${n}`,
      }).toString();
      const started = await browser.request('authorize', url);
      expectStatus('authorize', started, 302);
      const upstream = new URL(started.location ?? '');
      const callback = new URL(upstream.searchParams.get('redirect_uri') ?? '');
      callback.searchParams.set('error', 'access_denied');
      callback.searchParams.set('state', upstream.searchParams.get('state') ?? '');
      callback.searchParams.set('iss', s.oidc.idpIssuer);
      const back = await browser.request('idp error', callback);
      expectStatus('idp error', back, 302);
      const app = new URL(back.location ?? '');
      if (
        `${app.origin}${app.pathname}` !== APP_REDIRECT_URI ||
        app.searchParams.get('error') !== 'access_denied' ||
        app.searchParams.get('state') !== `denied-${n}`
      )
        throw new StepFailure('idp error', 302, `to ${app.href}`);
      break;
    }
  }
  return { kind, ms: performance.now() - t0 };
}

/** Gatehouse's metrics: heap used, event-loop delay p99, open handles. */
async function scrape(
  gh: GatehouseChild,
): Promise<{ heapMb: number | null; loopP99Ms: number | null; handles: number | null }> {
  try {
    const text = await (
      await fetch(`${gh.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
    ).text();
    const value = (name: string) => {
      const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text);
      return m ? Number(m[1]) : null;
    };
    const heap = value('nodejs_heap_size_used_bytes');
    const loop = value('nodejs_eventloop_lag_p99_seconds');
    return {
      heapMb: heap === null ? null : heap / 1048576,
      loopP99Ms: loop === null ? null : loop * 1000,
      handles: value('nodejs_active_handles_total'),
    };
  } catch {
    return { heapMb: null, loopP99Ms: null, handles: null };
  }
}

async function databaseMb(gh: GatehouseChild): Promise<number | null> {
  if (gh.databasePath) {
    let bytes = 0;
    for (const suffix of ['', '-wal', '-shm']) {
      try {
        bytes += statSync(`${gh.databasePath}${suffix}`).size;
      } catch {}
    }
    return bytes / 1048576;
  }
  const client = new pg.Client({ connectionString: BENCH_POSTGRES_URL, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    const r = await client.query(
      `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS bytes
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`,
      [gh.schema],
    );
    return Number(r.rows[0]?.bytes ?? 0) / 1048576;
  } catch {
    return null;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Least-squares slope of (t seconds, mb) in MB per minute. */
function slopePerMinute(points: Array<{ t: number; mb: number }>): number | null {
  if (points.length < 3) return null;
  const n = points.length;
  const mt = points.reduce((a, p) => a + p.t, 0) / n;
  const mm = points.reduce((a, p) => a + p.mb, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - mt) * (p.mb - mm);
    den += (p.t - mt) ** 2;
  }
  return den === 0 ? null : (num / den) * 60;
}

const median = (values: number[]) => percentile(values, 50);
const f = (v: number | null, d = 0) => (v === null || !Number.isFinite(v) ? '-' : v.toFixed(d));

async function setUp(database: BenchDatabase): Promise<Subject> {
  const gatehouse = await startGatehouse({
    dataDir: makeTempDir('gatehouse-soak-'),
    redirectUris: [APP_REDIRECT_URI],
    database,
    env: { GATEHOUSE_SIGNIN_CONSENT: 'off', GATEHOUSE_METRICS_TOKEN: METRICS_TOKEN },
  });
  // OIDC: oidc-provider with its login and consent pages (a child process), the users' domain verified.
  const clientSecret = randomBytes(24).toString('base64url');
  const oidcPort = await freePort();
  const oidcConnection = await createOidcConnection(gatehouse, {
    issuer: `http://${HOST}:${oidcPort}`,
    clientId: IDP_CLIENT_ID,
    clientSecret,
    domain: USER_DOMAIN,
  });
  const oidcIdp = await startOidcIdpChild({
    port: oidcPort,
    clients: [{ clientId: IDP_CLIENT_ID, clientSecret, redirectUris: [oidcConnection.callbackUrl] }],
    interactive: true,
  });
  const oidc = new GatehouseApp({
    gatehouse,
    organizationId: oidcConnection.organizationId,
    callbackUrl: oidcConnection.callbackUrl,
    consent: false,
    idpIssuer: oidcIdp.issuer,
  });
  // SAML: a samlify IdP (a child process) signing every response; its organization takes the same users.
  const samlPort = await freePort();
  const samlOrigin = `http://${HOST}:${samlPort}`;
  const keys = await generateSpKeyPair('Soak SAML IdP');
  const entityId = `${samlOrigin}/saml/metadata`;
  const samlConnection = await createSamlConnection(
    gatehouse,
    { entityId, ssoUrl: `${samlOrigin}/saml/sso/0`, certificate: keys.certificate },
    { shareDomain: true },
  );
  await startIdpChild(
    {
      entityId,
      privateKey: keys.privateKey,
      certificate: keys.certificate,
      spMetadata: [samlConnection.spMetadata],
      sign: 'assertion',
    },
    samlPort,
    'SAML IdP',
  );
  const saml = new SamlApp({ gatehouse, connection: samlConnection, consent: false, idpOrigin: samlOrigin });
  const oidcVerified = await oidc.verifyWithSdk(0);
  const samlVerified = await saml.verifyWithSdk(1);
  return {
    database,
    gatehouse,
    oidc,
    saml,
    oidcSdk: oidcVerified.sdk,
    samlSdk: samlVerified.sdk,
    sequence: 2,
    window: { ops: 0, authorize: [], login: [], unexpected: 0 },
    unexpected: new Map(),
    unexpectedSamples: [],
    rssPerSecond: [],
    reports: [],
    totalOps: 0,
  };
}

async function main(): Promise<number> {
  const minutes = Number(process.env.SOAK_MINUTES ?? 10);
  if (!(minutes > 0 && minutes <= 24 * 60)) throw new BenchError('SOAK_MINUTES: a number of minutes, > 0');
  const rate = wholeNumber('SOAK_RATE', 40, 1);
  const concurrency = wholeNumber('SOAK_CONCURRENCY', 8, 1);
  const maxSlope = Number(process.env.SOAK_MAX_SLOPE_MB_PER_MIN ?? 2);
  const which = choice('SOAK_DB', ['both', 'sqlite', 'postgres'] as const, 'both');
  const databases: BenchDatabase[] = which === 'both' ? ['sqlite', 'postgres'] : [which];

  log(
    'Gatehouse soak: mixed traffic (authorize, OIDC and SAML logins, token, profile, management, failures)',
  );
  log(machineInfo());
  log(`Gatehouse revision: ${gitRevision() ?? 'unknown'}; started ${new Date().toISOString()}`);
  log(
    `Settings: ${minutes} min, ${rate} operations/s per Gatehouse over ${concurrency} workers, on ${databases.map(databaseName).join(' and ')}; ` +
      `memory slope bound ${maxSlope} MB/min over the second half; mix ${OPS.map((op) => `${op} ${MIX[op]}%`).join(', ')}`,
  );
  const subjects: Subject[] = [];
  for (const db of databases) subjects.push(await setUp(db));
  log('Set-up checked: one OIDC and one SAML login through each Gatehouse with the official SDK.');
  log();

  const started = performance.now();
  const endAt = started + minutes * 60_000;
  const elapsed = () => (performance.now() - started) / 1000;
  const rssTimer = setInterval(() => {
    for (const s of subjects) {
      const mb = processRssMb(s.gatehouse.pid);
      if (mb !== null) s.rssPerSecond.push({ t: elapsed(), mb });
    }
  }, 1000);

  // Workers, paced: each takes the next slot of a shared schedule at `rate` per second per Gatehouse.
  const workers = subjects.flatMap((s) => {
    let next = performance.now();
    const interval = 1000 / rate;
    return Array.from({ length: concurrency }, async () => {
      for (;;) {
        const slot = next;
        next += interval;
        if (slot >= endAt) return;
        const wait = slot - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const op = drawOp();
        try {
          const { kind, ms } = await runOp(s, op);
          if (kind === 'authorize') s.window.authorize.push(ms);
          if (kind === 'login') s.window.login.push(ms);
        } catch (err) {
          s.window.unexpected++;
          const key = `${op}: ${err instanceof StepFailure ? err.message.slice(0, 80) : String(err).slice(0, 80)}`;
          s.unexpected.set(op, (s.unexpected.get(op) ?? 0) + 1);
          if (s.unexpectedSamples.length < 5) s.unexpectedSamples.push(key);
        }
        s.window.ops++;
        s.totalOps++;
      }
    });
  });

  const header =
    '   t  database     ops/s  authorize p50/p99 ms  login p50/p99 ms  unexpected  RSS MB  heap MB  loop p99 ms  handles  DB MB';
  log(header);
  const reportTimer = setInterval(async () => {
    const t = elapsed();
    for (const s of subjects) {
      const w = s.window;
      s.window = { ops: 0, authorize: [], login: [], unexpected: 0 };
      const m = await scrape(s.gatehouse);
      const report: Report = {
        t,
        opsPerSec: w.ops / REPORT_SECONDS,
        authorizeP50: percentile(w.authorize, 50),
        authorizeP99: percentile(w.authorize, 99),
        loginP50: percentile(w.login, 50),
        loginP99: percentile(w.login, 99),
        unexpected: w.unexpected,
        rssMb: processRssMb(s.gatehouse.pid),
        heapMb: m.heapMb,
        loopP99Ms: m.loopP99Ms,
        handles: m.handles,
        dbMb: await databaseMb(s.gatehouse),
      };
      s.reports.push(report);
      log(
        `${f(t).padStart(4)}  ${databaseName(s.database).padEnd(10)}  ${f(report.opsPerSec, 1).padStart(6)}  ` +
          `${`${f(report.authorizeP50, 1)} / ${f(report.authorizeP99, 1)}`.padStart(18)}  ` +
          `${`${f(report.loginP50)} / ${f(report.loginP99)}`.padStart(16)}  ${String(report.unexpected).padStart(10)}  ` +
          `${f(report.rssMb).padStart(6)}  ${f(report.heapMb).padStart(7)}  ${f(report.loopP99Ms, 1).padStart(11)}  ` +
          `${f(report.handles).padStart(7)}  ${f(report.dbMb, 1).padStart(5)}`,
      );
    }
  }, REPORT_SECONDS * 1000);

  await Promise.all(workers);
  clearInterval(reportTimer);
  clearInterval(rssTimer);

  log();
  const failures: string[] = [];
  for (const s of subjects) {
    const name = databaseName(s.database);
    const total = [...s.unexpected.values()].reduce((a, b) => a + b, 0);
    const half = s.rssPerSecond.filter((p) => p.t >= (minutes * 60) / 2);
    const slope = slopePerMinute(half);
    const p99s = s.reports.map((r) => r.authorizeP99).filter((v): v is number => v !== null);
    const first = median(p99s.slice(1, 4));
    const last = median(p99s.slice(-3));
    const rss = s.rssPerSecond.map((p) => p.mb);
    log(
      `${name}: ${s.totalOps} operations (${(s.totalOps / (minutes * 60)).toFixed(1)}/s), ${total} unexpected; ` +
        `RSS ${f(rss[0] ?? null)} MB at the start, ${f(rss.at(-1) ?? null)} MB at the end (max ${f(rss.length ? Math.max(...rss) : null)}), ` +
        `slope over the second half ${f(slope, 2)} MB/min (bound ${maxSlope}); authorize p99 ${f(first, 1)} ms early, ${f(last, 1)} ms late`,
    );
    if (total > 0)
      failures.push(
        `${name}: ${total} unexpected answers (${[...s.unexpected].map(([op, n]) => `${op} ×${n}`).join(', ')}): ${s.unexpectedSamples.join(' | ')}`,
      );
    if (slope !== null && slope > maxSlope)
      failures.push(`${name}: RSS grows ${slope.toFixed(2)} MB/min over the second half`);
    if (first !== null && last !== null && last > Math.max(2 * first, first + 20))
      failures.push(`${name}: authorize p99 drifted from ${first.toFixed(1)} to ${last.toFixed(1)} ms`);
  }
  if (failures.length > 0) {
    log();
    log('SOAK FAILED:');
    for (const line of failures) log(`  ${line}`);
    return 1;
  }
  log('SOAK PASSED');
  return 0;
}

runBenchmark(main);
