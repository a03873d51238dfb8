import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { runStoreConformance } from '../../src/storage/conformance/suite.ts';
import {
  CONNECTION_STATS_SQL,
  FAILING_CONNECTIONS_SQL,
  SIGN_IN_HOURS_SQL,
  SIGN_IN_REASONS_SQL,
  SqliteStore,
} from '../../src/storage/sqlite/index.ts';

runStoreConformance('SQLite in memory', async () => new SqliteStore(':memory:'));

describe('SQLite file', () => {
  let dir = '';
  let n = 0;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-store-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  // Each test gets its own database file (in a subdirectory, which the store creates), so it starts empty.
  runStoreConformance('SQLite file', async () => new SqliteStore(join(dir, `db-${++n}`, 'gatehouse.db')));
});

describe('SQLite file: the WAL is checkpointed off the event loop', () => {
  it('a worker copies committed pages into the database file while the store writes (not only when 10 000 pages are in the WAL), and close() ends it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-wal-'));
    const path = join(dir, 'gatehouse.db');
    const store = new SqliteStore(path);
    try {
      await store.migrate();
      const before = (await stat(path)).size;
      // ~400 pages of new data: far below the inline checkpoint's 10 000 pages.
      for (let i = 0; i < 400; i++) await store.setSetting(`k${i}`, 'x'.repeat(4000));
      const deadline = Date.now() + 5000;
      while ((await stat(path)).size < before + 1_000_000 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 25));
      }
      assert.ok(
        (await stat(path)).size >= before + 1_000_000,
        'the database file grew: the WAL was checkpointed',
      );
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('SQLite: the maintenance statements use indexes', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-plan-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // What the store runs every 5 minutes on tables that grow with sign-ins (src/maintenance.ts). A full scan
  // here would hold SQLite's write lock for as long as it reads every session record the log keeps.
  const statements: [string, string][] = [
    [
      'timed-out sign-ins',
      "UPDATE sso_sessions SET outcome = 'timed_out' WHERE id IN (SELECT id FROM sso_sessions WHERE tx_state_hash IS NOT NULL AND tx_expires_at < '2030-01-01' AND outcome = 'started' ORDER BY tx_expires_at LIMIT 1000) RETURNING id",
    ],
    [
      'expired login transactions',
      "UPDATE sso_sessions SET tx_state_hash = NULL WHERE tx_state_hash IS NOT NULL AND tx_expires_at < '2030-01-01'",
    ],
    [
      'session log past its retention',
      "DELETE FROM sso_sessions WHERE id IN (SELECT id FROM sso_sessions WHERE id < 'sess_0' ORDER BY id LIMIT 1000)",
    ],
    ['expired codes', "DELETE FROM authorization_codes WHERE expires_at < '2030-01-01'"],
    ['expired access tokens', "DELETE FROM access_tokens WHERE expires_at < '2030-01-01'"],
    ['expired idempotency records', "DELETE FROM idempotency_keys WHERE expires_at < '2030-01-01'"],
    ['expired SAML assertion IDs', "DELETE FROM one_time_keys WHERE expires_at < '2030-01-01'"],
  ];
  for (const [what, sql] of statements) {
    it(`${what}: no full table scan`, async () => {
      const path = join(dir, `${what.replace(/\W+/g, '-')}.db`);
      const store = new SqliteStore(path);
      await store.migrate();
      await store.close();
      const db = new DatabaseSync(path);
      try {
        const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map(
          (r) => r.detail,
        );
        assert.ok(
          plan.every(
            (step) =>
              !/^SCAN (sso_sessions|authorization_codes|access_tokens|idempotency_keys|one_time_keys)\b(?! USING)/.test(
                step,
              ),
          ),
          `${sql}\n${plan.join('\n')}`,
        );
      } finally {
        db.close();
      }
    });
  }
});

describe('SQLite: in-memory rate-limit counters stay bounded', () => {
  it('counters whose window has ended are forgotten once there are many (a busy node, or a flood of addresses)', async () => {
    const store = new SqliteStore(':memory:');
    await store.migrate();
    try {
      const windowMs = 60_000;
      const t0 = new Date(1_800_000_000_000 + 30_000);
      for (let i = 0; i < 12_000; i++) {
        await store.hitRateLimits(
          [{ key: `authorizeIp:198.51.${i >> 8}.${i & 255}`, limit: 10, windowMs }],
          t0,
        );
      }
      assert.equal(store.rateLimitCounters, 12_000);
      // Two windows later: every earlier counter has ended and goes; the new hit counts from 1.
      const later = new Date(t0.getTime() + 2 * windowMs);
      const [result] = await store.hitRateLimits(
        [{ key: 'authorizeIp:198.51.0.0', limit: 10, windowMs }],
        later,
      );
      assert.equal(result?.count, 1);
      assert.equal(store.rateLimitCounters, 1);
    } finally {
      await store.close();
    }
  });
});

describe('SQLite: the session log’s filtered pages read an index in ID order (the dashboard, issue 13)', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-plan-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // What listSessions runs for a page of each filter: a search of an index whose order is the ID's, never a scan
  // of the table or a sort of every matching record (a connection may have a million).
  const filters: [string, string][] = [
    ['connection', "connection_id = 'conn_1'"],
    ['organization', "organization_id = 'org_1'"],
    ['outcome', "outcome = 'failed'"],
    ['failed stage', "failed_stage = 'upstream_error'"],
    ['outcome and time range', "outcome = 'failed' AND id >= 'sess_0' AND id < 'sess_1'"],
    ['failed stage after a cursor', "failed_stage = 'consent' AND id < 'sess_1'"],
  ];
  for (const [what, where] of filters) {
    for (const order of ['DESC', 'ASC']) {
      it(`${what}, ${order}: an index search, no sort`, async () => {
        const path = join(dir, `${what.replace(/\W+/g, '-')}-${order}.db`);
        const store = new SqliteStore(path);
        await store.migrate();
        await store.close();
        const db = new DatabaseSync(path);
        try {
          const sql = `SELECT * FROM sso_sessions WHERE ${where} ORDER BY id ${order} LIMIT 26`;
          const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map(
            (r) => r.detail,
          );
          const text = `${sql}\n${plan.join('\n')}`;
          assert.ok(
            plan.some((step) => /^SEARCH sso_sessions USING INDEX/.test(step)),
            text,
          );
          assert.ok(!plan.some((step) => /TEMP B-TREE|^SCAN sso_sessions/.test(step)), text);
        } finally {
          db.close();
        }
      });
    }
  }
});

describe("SQLite: the dashboard's connection statistics read the index, never the session log", () => {
  it('connectionStats: every part is a search of sso_sessions_connection_outcome (counts: covering), no scan', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-plan-'));
    try {
      const path = join(dir, 'stats.db');
      const store = new SqliteStore(path);
      await store.migrate();
      await store.close();
      const db = new DatabaseSync(path);
      try {
        const plan = (
          db.prepare(`EXPLAIN QUERY PLAN ${CONNECTION_STATS_SQL}`).all() as { detail: string }[]
        ).map((r) => r.detail);
        const searches = plan.filter((step) => /\bsso_sessions\b/.test(step));
        assert.equal(searches.length, 6, plan.join('\n'));
        for (const step of searches) {
          assert.match(step, /^SEARCH sso_sessions USING (COVERING )?INDEX sso_sessions_connection_outcome /);
        }
        // The four counts never touch the table: the index holds connection, outcome and ID.
        assert.equal(searches.filter((step) => step.includes('COVERING INDEX')).length, 4, plan.join('\n'));
      } finally {
        db.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("SQLite: the dashboard overview's sign-in summary reads the (outcome, id) index, never the whole log", () => {
  it('signInSummary: the hours count index entries only; the reasons and connections search the failed range', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-plan-'));
    try {
      const path = join(dir, 'summary.db');
      const store = new SqliteStore(path);
      await store.migrate();
      await store.close();
      const db = new DatabaseSync(path);
      try {
        const plan = (sql: string, ...params: (string | number)[]) =>
          (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[])
            .map((r) => r.detail)
            .filter((step) => /\bsso_sessions\b|\bs\b USING/.test(step));
        const hours = plan(SIGN_IN_HOURS_SQL, '[[0, "sess_a", "sess_b"]]');
        assert.deepEqual(hours, [
          'SEARCH s USING COVERING INDEX sso_sessions_outcome (outcome=? AND id>? AND id<?)',
        ]);
        for (const sql of [SIGN_IN_REASONS_SQL, FAILING_CONNECTIONS_SQL]) {
          assert.deepEqual(plan(sql, 'sess_a', 'sess_b', 10), [
            'SEARCH sso_sessions USING INDEX sso_sessions_outcome (outcome=? AND id>? AND id<?)',
          ]);
        }
      } finally {
        db.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
