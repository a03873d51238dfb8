/**
 * The PostgreSQL store: the whole conformance suite, then what needs two nodes (two `PostgresStore`s, i.e. two
 * pools, on one schema) to show: atomicity across nodes, shared rate-limit counts, concurrent migrations.
 *
 * PostgreSQL: GATEHOUSE_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test. Every store the suite
 * opens gets a fresh schema (`gh_test_<random>`), dropped when the store closes. Without a reachable server the
 * tests are skipped, except in CI (CI=true), where that is a failure.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { type Config, ConfigError, loadConfig } from '../../src/config/load.ts';
import { runStoreConformance } from '../../src/storage/conformance/suite.ts';
import { openStore } from '../../src/storage/open.ts';
import { PostgresStore, postgresConnection } from '../../src/storage/postgres/index.ts';
import { migrations } from '../../src/storage/postgres/migrations.ts';
import type { RedeemRequest, Store } from '../../src/storage/store.ts';
import { POSTGRES_URL, postgresUnavailable } from '../helpers/postgres.ts';

const POSTGRES = POSTGRES_URL;

const freshSchema = () => `gh_test_${randomBytes(6).toString('hex')}`;
const withParam = (url: string, param: string) => `${url}${url.includes('?') ? '&' : '?'}${param}`;

describe('PostgreSQL configuration', () => {
  const key = 'a'.repeat(64);
  const database = (env: Record<string, string>) =>
    loadConfig({ GATEHOUSE_SECRET_KEY: key, ...env }).database;

  it('postgres:// and postgresql:// select PostgreSQL, with a pool of 10 unless GATEHOUSE_DATABASE_POOL_SIZE says', () => {
    assert.deepEqual(database({ GATEHOUSE_DATABASE_URL: 'postgres://u:p@db:5432/gh' }), {
      kind: 'postgres',
      url: 'postgres://u:p@db:5432/gh',
      poolSize: 10,
    });
    assert.deepEqual(
      database({
        GATEHOUSE_DATABASE_URL: 'postgresql://db/gh?sslmode=require&schema=gatehouse',
        GATEHOUSE_DATABASE_POOL_SIZE: '25',
      }),
      { kind: 'postgres', url: 'postgresql://db/gh?sslmode=require&schema=gatehouse', poolSize: 25 },
    );
    // The pool size means nothing to SQLite.
    assert.equal(database({ GATEHOUSE_DATABASE_URL: 'sqlite::memory:' }).kind, 'sqlite');
  });

  it('refuses a bad pool size and a schema name that is not a plain identifier, without echoing the URL', () => {
    for (const [env, variable, message] of [
      [{ GATEHOUSE_DATABASE_POOL_SIZE: '0' }, 'GATEHOUSE_DATABASE_POOL_SIZE', /must be between 1 and 1000/],
      [{ GATEHOUSE_DATABASE_POOL_SIZE: 'ten' }, 'GATEHOUSE_DATABASE_POOL_SIZE', /must be a whole number/],
      [
        { GATEHOUSE_DATABASE_URL: 'postgres://u:secret@db/gh?schema=Bad-Name' },
        'GATEHOUSE_DATABASE_URL',
        /schema must be lower-case letters/,
      ],
    ] as const) {
      assert.throws(
        () => database(env),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.variable === variable &&
          message.test(err.message) &&
          !err.message.includes('secret'),
      );
    }
  });

  it('the schema goes into the libpq options of every connection; other parameters are kept', () => {
    assert.deepEqual(postgresConnection('postgres://u@h/db'), {
      connectionString: 'postgres://u@h/db',
      schema: null,
    });
    assert.deepEqual(postgresConnection('postgres://u@h/db?schema=gh_a&sslmode=require'), {
      connectionString: 'postgres://u@h/db?sslmode=require&options=-c+search_path%3Dgh_a',
      schema: 'gh_a',
    });
    // An explicit schema wins over the URL's; existing options are kept.
    assert.deepEqual(
      postgresConnection('postgres://u@h/db?schema=gh_a&options=-c%20work_mem%3D8MB', 'gh_b'),
      {
        connectionString: 'postgres://u@h/db?options=-c+work_mem%3D8MB+-c+search_path%3Dgh_b',
        schema: 'gh_b',
      },
    );
    assert.throws(() => postgresConnection('postgres://h/db', 'x; DROP'), /schema must be/);
  });
});

if ((await postgresUnavailable('PostgreSQL store')) === null) {
  const admin = new pg.Pool({ connectionString: POSTGRES, max: 2 });
  const schemas = new Set<string>();
  const dropSchema = async (schema: string) => {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    schemas.delete(schema);
  };
  // The conformance suite's schemas are dropped while the next test runs (a drop takes ~30 ms).
  const pendingDrops = new Set<Promise<unknown>>();
  after(async () => {
    await Promise.all(pendingDrops);
    for (const schema of [...schemas]) await dropSchema(schema);
    await admin.end();
  });

  /** A store on its own new schema, dropped after the store closes. */
  class IsolatedStore extends PostgresStore {
    readonly schema: string;
    constructor(schema = freshSchema()) {
      super(POSTGRES, { schema, poolSize: 4 });
      this.schema = schema;
      schemas.add(schema);
    }
    override async close(): Promise<void> {
      await super.close();
      // A failed drop leaves the schema in `schemas`, for the last try in after().
      const drop: Promise<unknown> = dropSchema(this.schema)
        .catch(() => {})
        .finally(() => pendingDrops.delete(drop));
      pendingDrops.add(drop);
    }
  }

  runStoreConformance('PostgreSQL', async () => new IsolatedStore());

  /** Two nodes on one fresh schema: two stores, two pools. */
  async function twoNodes(): Promise<{ a: Store; b: Store; schema: string; close: () => Promise<void> }> {
    const schema = freshSchema();
    schemas.add(schema);
    const a = new PostgresStore(POSTGRES, { schema, poolSize: 5 });
    const b = new PostgresStore(POSTGRES, { schema, poolSize: 5 });
    await a.migrate();
    await b.migrate();
    return {
      a,
      b,
      schema,
      close: async () => {
        await Promise.all([a.close(), b.close()]);
        await dropSchema(schema);
      },
    };
  }

  const codeInput = (sessionId = 'sess_1') => ({
    codeHash: randomBytes(32).toString('base64url'),
    clientId: 'client_1',
    redirectUri: 'https://app.example.com/callback',
    codeChallenge: null,
    profileId: 'prof_1',
    sessionId,
    oauthTokens: null,
    createdAt: new Date(),
    expiresAt: new Date(Date.now() + 600_000),
  });
  const redeem = (codeHash: string, tokenHash: string, idempotency?: RedeemRequest['idempotency']) => ({
    codeHash,
    now: new Date(),
    token: {
      tokenHash,
      clientId: 'client_1',
      profileId: 'prof_1',
      expiresAt: new Date(Date.now() + 600_000),
    },
    ...(idempotency ? { idempotency } : {}),
  });

  describe('PostgreSQL: two nodes on one database', () => {
    it('concurrent redemptions of one code across both nodes: exactly one is issued', async () => {
      const { a, b, close } = await twoNodes();
      try {
        for (let round = 0; round < 10; round++) {
          const code = codeInput();
          await a.createAuthorizationCode(code);
          const results = await Promise.all(
            Array.from({ length: 10 }, (_, i) =>
              (i % 2 ? a : b).redeemAuthorizationCode(redeem(code.codeHash, `t${round}-${i}`)),
            ),
          );
          assert.equal(results.filter((r) => r.kind === 'issued').length, 1, JSON.stringify(results));
          assert.equal(results.filter((r) => r.kind === 'invalid' && r.reason === 'consumed').length, 9);
        }
      } finally {
        await close();
      }
    });

    it('a SAML assertion ID is accepted once across both nodes (claimOneTimeKey)', async () => {
      const { a, b, close } = await twoNodes();
      try {
        const expiresAt = new Date(Date.now() + 300_000);
        for (let round = 0; round < 10; round++) {
          const key = `saml:_assertion${round}`;
          const results = await Promise.all(
            Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).claimOneTimeKey(key, expiresAt)),
          );
          assert.equal(results.filter(Boolean).length, 1);
          assert.equal(await a.claimOneTimeKey(key, expiresAt), false);
          assert.equal(await b.claimOneTimeKey(key, expiresAt), false);
        }
      } finally {
        await close();
      }
    });

    it('idempotent redemption across both nodes: a retry racing the first attempt is replayed, never a reuse', async () => {
      const { a, b, close } = await twoNodes();
      try {
        for (let round = 0; round < 10; round++) {
          const code = codeInput();
          await a.createAuthorizationCode(code);
          const idem = {
            clientId: 'client_1',
            key: `retry-${round}`,
            requestHash: 'rh',
            response: `sealed-response-${round}`,
            expiresAt: new Date(Date.now() + 86_400_000),
          };
          // The SDK's retry reaches the other node while the first attempt is still in flight.
          const results = await Promise.all([
            a.redeemAuthorizationCode(redeem(code.codeHash, `ia${round}`, idem)),
            b.redeemAuthorizationCode(redeem(code.codeHash, `ib${round}`, idem)),
            b.redeemAuthorizationCode(redeem(code.codeHash, `ic${round}`, idem)),
          ]);
          assert.equal(results.filter((r) => r.kind === 'issued').length, 1, JSON.stringify(results));
          for (const r of results.filter((x) => x.kind !== 'issued'))
            assert.deepEqual(r, { kind: 'replayed', response: idem.response });
          const tokens = await Promise.all(
            [`ia${round}`, `ib${round}`, `ic${round}`].map((t) => a.getAccessToken(t)),
          );
          const issued = tokens.filter((t) => t !== null);
          assert.equal(issued.length, 1);
          assert.equal(issued[0]?.revokedAt, null, 'a replay never revokes the token');
          // Later: replayed on either node; another request under the key is refused; another key is a reuse.
          assert.deepEqual(await b.redeemAuthorizationCode(redeem(code.codeHash, 'x', idem)), {
            kind: 'replayed',
            response: idem.response,
          });
          assert.deepEqual(
            await a.redeemAuthorizationCode(redeem(code.codeHash, 'y', { ...idem, requestHash: 'other' })),
            { kind: 'idempotency_mismatch' },
          );
          assert.deepEqual(
            await b.redeemAuthorizationCode(redeem(code.codeHash, 'z', { ...idem, key: `other-${round}` })),
            { kind: 'invalid', reason: 'consumed' },
          );
          assert.ok((await a.getAccessToken(issued[0]?.tokenHash as string))?.revokedAt instanceof Date);
        }
      } finally {
        await close();
      }
    });

    it('one idempotency key used for two codes at once: one is issued, the other refused as a mismatch', async () => {
      const { a, b, close } = await twoNodes();
      try {
        const [x, y] = [codeInput(), codeInput()];
        await a.createAuthorizationCode(x);
        await a.createAuthorizationCode(y);
        const idem = (requestHash: string) => ({
          clientId: 'client_1',
          key: 'shared',
          requestHash,
          response: `response-${requestHash}`,
          expiresAt: new Date(Date.now() + 86_400_000),
        });
        const results = await Promise.all([
          a.redeemAuthorizationCode(redeem(x.codeHash, 'tx', idem('x'))),
          b.redeemAuthorizationCode(redeem(y.codeHash, 'ty', idem('y'))),
        ]);
        assert.deepEqual(
          results.map((r) => r.kind).sort(),
          ['idempotency_mismatch', 'issued'],
          JSON.stringify(results),
        );
        // The refused code was not consumed: it can still be redeemed (without the key).
        const refused = results[0]?.kind === 'issued' ? y : x;
        assert.deepEqual(await b.redeemAuthorizationCode(redeem(refused.codeHash, 'again')), {
          kind: 'issued',
        });
      } finally {
        await close();
      }
    });

    it('hitRateLimits counts exactly across both nodes', async () => {
      const { a, b, close } = await twoNodes();
      try {
        const at = new Date(1_800_000_030_000);
        const hit = { key: 'authorize:conn:shared', limit: 30, windowMs: 60_000 };
        const results = await Promise.all(
          Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).hitRateLimits([hit], at)),
        );
        assert.deepEqual(
          results.map((r) => r[0]?.count).sort((x, y) => (x ?? 0) - (y ?? 0)),
          Array.from({ length: 40 }, (_, i) => i + 1),
        );
        assert.equal(results.filter((r) => r[0]?.allowed).length, 30);
        for (const r of results)
          assert.equal(r[0]?.resetAt.toISOString(), new Date(1_800_000_060_000).toISOString());

        // Many keys per call, in different orders on the two nodes at once: no deadlock, exact counts.
        const keys = Array.from({ length: 6 }, (_, i) => ({ key: `k${i}`, limit: 100, windowMs: 60_000 }));
        const mixed = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 ? a : b).hitRateLimits(i % 2 ? keys : [...keys].reverse(), at),
          ),
        );
        const finalCounts = await a.hitRateLimits(keys, at);
        assert.deepEqual(
          finalCounts.map((r) => r.count),
          keys.map(() => 21),
        );
        assert.equal(mixed.length, 20);
      } finally {
        await close();
      }
    });

    it('one call naming a key twice counts it twice, in order; other window lengths are other counters', async () => {
      const { a, b, close } = await twoNodes();
      try {
        const at = new Date(1_800_000_030_000);
        const hit = { key: 'token:client:c', limit: 2, windowMs: 60_000 };
        const first = await a.hitRateLimits([hit, { ...hit, windowMs: 1_000 }, hit, hit], at);
        assert.deepEqual(
          first.map((r) => [r.count, r.allowed, r.resetAt.getTime()]),
          [
            [1, true, 1_800_000_060_000],
            [1, true, 1_800_000_031_000],
            [2, true, 1_800_000_060_000],
            [3, false, 1_800_000_060_000],
          ],
        );
        assert.deepEqual(
          (await b.hitRateLimits([hit], at)).map((r) => r.count),
          [4],
        );
      } finally {
        await close();
      }
    });

    it('a node whose clock is behind counts in the current window instead of resetting it', async () => {
      const { a, b, close } = await twoNodes();
      try {
        const hit = { key: 'authorize:ip:192.0.2.1', limit: 10, windowMs: 60_000 };
        const window1 = new Date(1_800_000_070_000);
        const lateClock = new Date(1_800_000_059_000); // still in window 0
        assert.equal((await a.hitRateLimits([hit], window1))[0]?.count, 1);
        const behind = (await b.hitRateLimits([hit], lateClock))[0];
        assert.equal(behind?.count, 2);
        assert.equal(behind?.resetAt.getTime(), 1_800_000_120_000);
        // A later window starts again.
        assert.equal((await a.hitRateLimits([hit], new Date(1_800_000_130_000)))[0]?.count, 1);
      } finally {
        await close();
      }
    });

    it('deleteExpiredGrants purges ended rate-limit windows without counting them', async () => {
      const { a, close } = await twoNodes();
      try {
        const hit = { key: 'mgmt:key:1', limit: 10, windowMs: 60_000 };
        const old = new Date(Date.now() - 3 * 60 * 60 * 1000);
        await a.hitRateLimits([hit, hit], old);
        await a.hitRateLimits([{ ...hit, key: 'live' }], new Date());
        assert.equal(await a.deleteExpiredGrants(new Date(Date.now() - 60 * 60 * 1000)), 0);
        // The old counter is gone: the same (old) window counts from 1 again. The live one is kept.
        assert.equal((await a.hitRateLimits([hit], old))[0]?.count, 1);
        assert.equal((await a.hitRateLimits([{ ...hit, key: 'live' }], new Date()))[0]?.count, 2);
      } finally {
        await close();
      }
    });

    it('nodes migrating an empty schema at once all succeed; each migration is applied once', async () => {
      const schema = freshSchema();
      schemas.add(schema);
      const nodes = Array.from({ length: 3 }, () => new PostgresStore(POSTGRES, { schema, poolSize: 2 }));
      try {
        await Promise.all(nodes.map((n) => n.migrate()));
        const { rows } = await admin.query(
          `SELECT version, name FROM ${schema}.schema_migrations ORDER BY version`,
        );
        assert.deepEqual(
          rows,
          migrations.map((m) => ({ version: m.version, name: m.name })),
        );
        // Every node works on the migrated schema, and sees the others' writes.
        await nodes[0]?.setSetting('client_id', 'client_x');
        for (const n of nodes) assert.equal(await n.getSetting('client_id'), 'client_x');
        await Promise.all(nodes.map((n) => n.migrate()));
        assert.equal(
          (await admin.query(`SELECT count(*)::int AS n FROM ${schema}.schema_migrations`)).rows[0]?.n,
          migrations.length,
        );
      } finally {
        await Promise.all(nodes.map((n) => n.close()));
        await dropSchema(schema);
      }
    });

    it('a statement behind another client’s lock fails after the statement timeout (the request is not held forever); migrations wait without one', async () => {
      const schema = freshSchema();
      schemas.add(schema);
      const store = new PostgresStore(POSTGRES, { schema, poolSize: 2, statementTimeoutMs: 300 });
      const locker = new pg.Client({ connectionString: POSTGRES });
      await locker.connect();
      try {
        // Another node migrating holds the advisory lock for 600 ms: this node's migrate waits (no timeout).
        await locker.query('BEGIN');
        await locker.query(`SELECT pg_advisory_xact_lock(${0x47617465}, hashtext($1))`, [schema]);
        const migrating = store.migrate();
        await new Promise((r) => setTimeout(r, 600));
        await locker.query('COMMIT');
        await migrating;
        await store.setSetting('k', 'v');
        // A lock on the settings table held elsewhere: the store's read fails after ~300 ms, not never.
        await locker.query('BEGIN');
        await locker.query(`LOCK TABLE ${schema}.settings IN ACCESS EXCLUSIVE MODE`);
        const started = performance.now();
        await assert.rejects(store.getSetting('k'), /statement timeout/);
        const waited = performance.now() - started;
        assert.ok(waited >= 250 && waited < 3000, `waited ${Math.round(waited)} ms`);
        await locker.query('ROLLBACK');
        assert.equal(await store.getSetting('k'), 'v', 'the pool recovers');
      } finally {
        await locker.end();
        await store.close();
        await dropSchema(schema);
      }
    });

    it('a store without a schema uses the search_path of its connection (libpq options in the URL)', async () => {
      const schema = freshSchema();
      schemas.add(schema);
      await admin.query(`CREATE SCHEMA ${schema}`);
      const store = new PostgresStore(
        withParam(POSTGRES, `options=${encodeURIComponent(`-c search_path=${schema}`)}`),
      );
      try {
        await store.migrate();
        await store.setSetting('where', 'here');
        const { rows } = await admin.query(`SELECT value FROM ${schema}.settings WHERE key = 'where'`);
        assert.deepEqual(rows, [{ value: 'here' }]);
      } finally {
        await store.close();
        await dropSchema(schema);
      }
    });
  });

  describe('PostgreSQL from the configuration', () => {
    it('openStore picks PostgresStore for a postgres:// URL, with the pool size and schema of the configuration', async () => {
      const schema = freshSchema();
      schemas.add(schema);
      const config: Config = loadConfig({
        GATEHOUSE_DATABASE_URL: withParam(POSTGRES, `schema=${schema}&application_name=${schema}`),
        GATEHOUSE_DATABASE_POOL_SIZE: '3',
        GATEHOUSE_SECRET_KEY: 'b'.repeat(64),
      });
      assert.equal(config.database.kind, 'postgres');
      const store = await openStore(config.database);
      try {
        assert.ok(store instanceof PostgresStore);
        await store.migrate();
        await store.ping();
        await store.setSetting('k', 'v');
        assert.equal(await store.getSetting('k'), 'v');
        const { rows } = await admin.query(`SELECT value FROM ${schema}.settings`);
        assert.deepEqual(rows, [{ value: 'v' }]);
        // At most the configured number of connections, whatever the load (the URL's application_name wins).
        await Promise.all(Array.from({ length: 50 }, () => store.getSetting('k')));
        const { rows: conns } = await admin.query(
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
          [schema],
        );
        assert.ok(conns[0]?.n >= 1 && conns[0]?.n <= 3, `${conns[0]?.n} connections`);
      } finally {
        await store.close();
        await dropSchema(schema);
      }
    });
  });
}
