/**
 * `npm run bench:dashboard`: the server time of the operators' dashboard's pages on a large store (issue 13: "list
 * pages under 50 ms server time with 10 000 organizations and 1 000 000 session log records").
 *
 * Set-up: a fresh store (SQLite file in WAL mode, or a fresh PostgreSQL schema) with BENCH_ORGS organizations, one
 * connection each (mostly SAML with an IdP certificate, some OIDC; a few inactive), and BENCH_SESSIONS session log
 * records spread evenly over the last BENCH_SPREAD_DAYS days (90: the default retention). Half of the records
 * belong to the 25 newest connections, the ones the list's first page shows: its statistics are the most work a
 * page can ask for; the other half spread over every connection. Outcomes: 85% succeeded, 10% failed, 4% timed out,
 * 1% started. The records are written with SQL (the store's own writes would take hours), the rest through the store.
 *
 * The overview, Environment and one organization's page are measured too, and the overview's first view on a node
 * (it reads every SAML connection's certificates, then keeps the list 5 minutes) and `signInSummary` alone.
 *
 * Measured: each page through Gatehouse's own Fastify app in this process (`inject`: routing, the operator's session,
 * the store, rendering; no socket), BENCH_REQUESTS times after 20 unmeasured ones: median, p95 and max. A page is
 * over target when its median is 50 ms or more. Exit code 1 only when the set-up fails.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DatabaseSync } from 'node:sqlite';
import forge from 'node-forge';
import pg from 'pg';
import { buildApp } from '../src/app.ts';
import { bootstrapEnvironment } from '../src/bootstrap.ts';
import { loadConfig } from '../src/config/load.ts';
import { createOperatorLink } from '../src/dashboard/dashboard.ts';
import { firstIdAt, newId } from '../src/lib/ids.ts';
import { ConfigCache } from '../src/sso/config-cache.ts';
import { PostgresStore } from '../src/storage/postgres/index.ts';
import { SqliteStore } from '../src/storage/sqlite/index.ts';
import type { Store } from '../src/storage/store.ts';
import {
  BENCH_POSTGRES_URL,
  type BenchDatabase,
  BenchError,
  benchDatabases,
  databaseName,
  makeTempDir,
  onCleanup,
  runBenchmark,
  wholeNumber,
} from './lib.ts';

const ORGS = wholeNumber('BENCH_ORGS', 10_000, 30);
const SESSIONS = wholeNumber('BENCH_SESSIONS', 1_000_000, 0);
const SPREAD_DAYS = wholeNumber('BENCH_SPREAD_DAYS', 90, 1);
const REQUESTS = wholeNumber('BENCH_REQUESTS', 200, 1);
const TARGET_MS = 50;
const DAY_MS = 24 * 60 * 60 * 1000;
const FIRST_PAGE = 25;

function certificate(notAfter: Date): string {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  cert.serialNumber = `01${randomBytes(8).toString('hex')}`;
  cert.validity.notBefore = new Date(notAfter.getTime() - 400 * DAY_MS);
  cert.validity.notAfter = notAfter;
  cert.setSubject([{ name: 'commonName', value: 'Bench IdP' }]);
  cert.setIssuer([{ name: 'commonName', value: 'Bench IdP' }]);
  cert.sign(forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/** Organizations and their connections, oldest first, through the store. */
async function organizations(
  store: Store,
): Promise<{ orgIds: string[]; connIds: string[]; types: string[] }> {
  const now = Date.now();
  const pems = [20, 200, 700].map((days) => certificate(new Date(now + days * DAY_MS)));
  const orgIds: string[] = [];
  const connIds: string[] = [];
  const types: string[] = [];
  for (let start = 0; start < ORGS; start += 50) {
    const batch = Array.from({ length: Math.min(50, ORGS - start) }, (_, k) => start + k);
    const made = await Promise.all(
      batch.map(async (i) => {
        const org = await store.createOrganization(
          {
            id: newId('org'),
            name: `Customer ${i}`,
            externalId: null,
            allowProfilesOutsideOrganization: false,
            metadata: {},
            stripeCustomerId: null,
          },
          [],
        );
        const saml = i % 10 !== 0;
        const conn = await store.createConnection({
          id: newId('conn'),
          organizationId: org.id,
          connectionType: saml ? 'OktaSAML' : 'OktaOIDC',
          name: `Customer ${i} ${saml ? 'SAML' : 'OIDC'}`,
          state: i % 50 === 7 ? 'inactive' : 'active',
          externalKey: randomBytes(16).toString('base64url'),
          config: saml
            ? {
                idpEntityId: `https://idp${i}.example.com/saml`,
                idpSsoUrl: `https://idp${i}.example.com/sso`,
                idpCertificates: [pems[i % pems.length]],
              }
            : { issuer: `https://idp${i}.example.com`, clientId: `client-${i}` },
        });
        return { org: org.id, conn: conn.id, type: conn.connectionType };
      }),
    );
    for (const m of made) {
      orgIds.push(m.org);
      connIds.push(m.conn);
      types.push(m.type);
    }
  }
  return { orgIds, connIds, types };
}

interface SessionRow {
  id: string;
  connectionId: string;
  organizationId: string;
  connectionType: string;
  outcome: string;
  created: string;
}

/** The session log records, in batches: half on the first page's connections, half on every connection. */
function* sessionRows(
  orgIds: string[],
  connIds: string[],
  types: string[],
  batch: number,
): Generator<SessionRow[]> {
  const now = Date.now();
  const n = connIds.length;
  let rows: SessionRow[] = [];
  for (let i = 0; i < SESSIONS; i++) {
    const r = Math.random();
    // The newest connections (the end of the lists) make the list's first page.
    const c = i % 2 === 0 ? n - 1 - (i % FIRST_PAGE) : Math.floor(r * n);
    const at = now - Math.random() * SPREAD_DAYS * DAY_MS;
    const o = (i * 7919) % 100;
    rows.push({
      id: `${firstIdAt('sess', new Date(at))}${randomBytes(8).toString('hex').toUpperCase()}`,
      connectionId: connIds[c] as string,
      organizationId: orgIds[c] as string,
      connectionType: types[c] as string,
      outcome: o < 85 ? 'succeeded' : o < 95 ? 'failed' : o < 99 ? 'timed_out' : 'started',
      created: new Date(at).toISOString(),
    });
    if (rows.length === batch) {
      yield rows;
      rows = [];
    }
  }
  if (rows.length) yield rows;
}

async function loadSessionsSqlite(path: string, orgIds: string[], connIds: string[], types: string[]) {
  const db = new DatabaseSync(path);
  try {
    const insert = db.prepare(
      `INSERT INTO sso_sessions (id, client_id, connection_id, organization_id, connection_type, redirect_uri, outcome,
         failed_stage, reason, authorize_request_id, stages, expires_at, created_at, updated_at)
       VALUES (?, 'client_bench', ?, ?, ?, 'https://app.example.com/callback', ?, ?, ?, ?, '{}', ?, ?, ?)`,
    );
    for (const rows of sessionRows(orgIds, connIds, types, 20_000)) {
      db.exec('BEGIN');
      for (const s of rows) {
        const failed = s.outcome === 'failed';
        insert.run(
          s.id,
          s.connectionId,
          s.organizationId,
          s.connectionType,
          s.outcome,
          failed ? 'upstream_error' : null,
          failed ? 'upstream_access_denied' : null,
          `req_${s.id.slice(5)}`,
          s.created,
          s.created,
          s.created,
        );
      }
      db.exec('COMMIT');
    }
    db.exec('ANALYZE');
  } finally {
    db.close();
  }
}

async function loadSessionsPostgres(pool: pg.Pool, orgIds: string[], connIds: string[], types: string[]) {
  for (const rows of sessionRows(orgIds, connIds, types, 20_000)) {
    await pool.query(
      `INSERT INTO sso_sessions (id, client_id, connection_id, organization_id, connection_type, redirect_uri, outcome,
         failed_stage, reason, authorize_request_id, expires_at, created_at, updated_at)
       SELECT id, 'client_bench', c, o, t, 'https://app.example.com/callback', outcome,
         CASE WHEN outcome = 'failed' THEN 'upstream_error' END,
         CASE WHEN outcome = 'failed' THEN 'upstream_access_denied' END,
         'req_' || substr(id, 6), at, at, at
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
         AS x(id, c, o, t, outcome, at)`,
      [
        rows.map((r) => r.id),
        rows.map((r) => r.connectionId),
        rows.map((r) => r.organizationId),
        rows.map((r) => r.connectionType),
        rows.map((r) => r.outcome),
        rows.map((r) => r.created),
      ],
    );
  }
  await pool.query('VACUUM ANALYZE sso_sessions');
}

function stats(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  return { median: at(0.5), p95: at(0.95), max: sorted[sorted.length - 1] as number };
}

async function benchOn(db: BenchDatabase): Promise<boolean> {
  const setupStart = performance.now();
  let store: Store;
  let load: (orgIds: string[], connIds: string[], types: string[]) => Promise<void>;
  let url: string;
  if (db === 'sqlite') {
    const dir = makeTempDir('gatehouse-bench-dashboard-');
    const path = join(dir, 'gatehouse.db');
    url = `sqlite:${path}`;
    const s = new SqliteStore(path);
    await s.migrate();
    store = s;
    load = async (orgIds, connIds, types) => {
      await s.close();
      await loadSessionsSqlite(path, orgIds, connIds, types);
      store = new SqliteStore(path);
    };
  } else {
    const schema = `gh_bench_${randomBytes(6).toString('hex')}`;
    url = `${BENCH_POSTGRES_URL}${BENCH_POSTGRES_URL.includes('?') ? '&' : '?'}schema=${schema}`;
    const admin = new pg.Pool({ connectionString: BENCH_POSTGRES_URL, max: 2 });
    onCleanup(async () => {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    });
    const s = new PostgresStore(url);
    await s.migrate();
    store = s;
    load = async (orgIds, connIds, types) => {
      const pool = new pg.Pool({
        connectionString: BENCH_POSTGRES_URL,
        max: 1,
        options: `-c search_path=${schema}`,
      });
      try {
        await loadSessionsPostgres(pool, orgIds, connIds, types);
      } finally {
        await pool.end();
      }
    };
  }
  const { orgIds, connIds, types } = await organizations(store);
  await load(orgIds, connIds, types);
  const setupSec = (performance.now() - setupStart) / 1000;

  const config = loadConfig({
    GATEHOUSE_PUBLIC_URL: 'http://127.0.0.1:8080',
    GATEHOUSE_DATABASE_URL: url,
    GATEHOUSE_SECRET_KEY: randomBytes(32).toString('hex'),
    GATEHOUSE_LOG_LEVEL: 'silent',
  });
  const environment = await bootstrapEnvironment(config, store);
  const app = await buildApp({ config, store, configCache: new ConfigCache(store), environment });
  onCleanup(async () => {
    await app.close();
    await store.close();
  });
  await app.ready();

  // An operator's session, as a browser gets it: a sign-in link, its form posted.
  const link = new URL(
    await createOperatorLink({ store, publicUrl: config.publicUrl, now: () => new Date() }, 'bootstrap'),
  );
  const signedIn = await app.inject({
    method: 'POST',
    url: '/dashboard/welcome',
    payload: new URLSearchParams({
      token: link.searchParams.get('token') ?? '',
      email: 'bench@example.com',
    }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  const cookie = String(signedIn.headers['set-cookie'] ?? '').split(';')[0] ?? '';
  if (signedIn.statusCode !== 303 || !cookie) throw new BenchError(`sign-in failed: ${signedIn.statusCode}`);

  const first = await app.inject({ url: '/dashboard/connections', headers: { cookie } });
  const after = /href="\/dashboard\/connections\?after=([^"&]+)"/.exec(first.body)?.[1];
  const heavy = connIds[connIds.length - 1] as string;
  const pages: [string, string][] = [
    ['connections, first page (the busiest 25)', '/dashboard/connections'],
    ['connections, second page', `/dashboard/connections?after=${after}`],
    ['connections, state=inactive (2% of them)', '/dashboard/connections?state=inactive'],
    [
      'connections of one organization',
      `/dashboard/connections?organization_id=${orgIds[orgIds.length - 1]}`,
    ],
    ['one connection (the busiest; doctor, recent sign-ins)', `/dashboard/connections/${heavy}`],
    ['overview (chart, failure reasons, attention)', '/dashboard/overview'],
    ['environment', '/dashboard/environment'],
    ['one organization', `/dashboard/organizations/${orgIds[orgIds.length - 1]}`],
  ];
  // The overview's first view on a node reads every SAML connection's certificates (then kept 5 minutes).
  const firstOverview = performance.now();
  await app.inject({ url: '/dashboard/overview', headers: { cookie } });
  const firstOverviewMs = performance.now() - firstOverview;
  const perPage = Math.round(SESSIONS / 2 / FIRST_PAGE);
  console.log(
    `\n${databaseName(db)}: ${ORGS} organizations and connections, ${SESSIONS} session records over ${SPREAD_DAYS} days` +
      ` (about ${perPage} on each first-page connection, ${Math.round((perPage * 7) / SPREAD_DAYS)} of them in the last 7 days);` +
      ` set-up ${setupSec.toFixed(0)} s; ${REQUESTS} requests a page\n`,
  );
  console.log('page                                                     median      p95      max');
  let ok = true;
  for (const [name, path] of pages) {
    const one = async () => {
      const t0 = performance.now();
      const res = await app.inject({ url: path, headers: { cookie } });
      const ms = performance.now() - t0;
      if (res.statusCode !== 200) throw new BenchError(`${path} answered ${res.statusCode}`);
      return ms;
    };
    for (let i = 0; i < 20; i++) await one();
    const samples: number[] = [];
    for (let i = 0; i < REQUESTS; i++) samples.push(await one());
    const s = stats(samples);
    const over = s.median >= TARGET_MS;
    ok &&= !over;
    console.log(
      `${name.padEnd(55)} ${s.median.toFixed(1).padStart(6)} ms ${s.p95.toFixed(1).padStart(6)} ms ${s.max.toFixed(1).padStart(6)} ms${over ? '  OVER TARGET' : ''}`,
    );
  }
  // The statistics alone, for the page's 25 connections.
  const t0 = performance.now();
  for (let i = 0; i < 20; i++) {
    await store.connectionStats(
      connIds.slice(-FIRST_PAGE),
      new Date(Date.now() - DAY_MS),
      new Date(Date.now() - 7 * DAY_MS),
    );
  }
  console.log(`connectionStats of the first page alone: ${((performance.now() - t0) / 20).toFixed(1)} ms`);
  console.log(
    `overview, first view on this node (every SAML connection read): ${firstOverviewMs.toFixed(1)} ms`,
  );
  // Store.signInSummary alone, as the overview asks it.
  const hour = 60 * 60 * 1000;
  const t1 = performance.now();
  for (let i = 0; i < 20; i++) {
    const now = Date.now();
    await store.signInSummary({
      since: new Date(Math.floor(now / hour) * hour - 23 * hour),
      reasonsSince: new Date(now - 7 * DAY_MS),
      until: new Date(now),
      limit: 10,
    });
  }
  console.log(
    `signInSummary alone (24 hours, 7 days of reasons): ${((performance.now() - t1) / 20).toFixed(1)} ms`,
  );
  return ok;
}

runBenchmark(async () => {
  let ok = true;
  for (const db of benchDatabases()) ok = (await benchOn(db)) && ok;
  console.log(`\ntarget: every page's median under ${TARGET_MS} ms: ${ok ? 'met' : 'NOT MET'}`);
  return 0;
});
