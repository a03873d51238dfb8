import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { firstIdAt, newId } from '../../src/lib/ids.ts';
import { runMaintenance } from '../../src/maintenance.ts';
import { SqliteStore } from '../../src/storage/sqlite/index.ts';
import type { SsoSessionRecord } from '../../src/storage/store.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';

const DAY = 24 * 60 * 60 * 1000;
const NOW = new Date('2031-06-01T12:00:00.000Z');

/** A session log record as `/sso/authorize` writes one, created `daysAgo` days before NOW. */
function session(daysAgo: number): Omit<SsoSessionRecord, 'createdAt' | 'updatedAt'> {
  const created = NOW.getTime() - daysAgo * DAY;
  const id = `${firstIdAt('sess', new Date(created))}${randomBytes(8).toString('hex').toUpperCase()}`;
  return {
    id,
    clientId: 'client_01MAINTENANCE',
    connectionId: 'conn_01MAINTENANCE',
    organizationId: null,
    connectionType: 'GenericOIDC',
    redirectUri: 'https://app.example.com/callback',
    outcome: 'succeeded',
    failedStage: null,
    reason: null,
    wireCode: null,
    upstreamError: null,
    detail: null,
    profileId: null,
    idpId: null,
    email: null,
    authorizeRequestId: newId('req'),
    callbackRequestId: null,
    consentRequestId: null,
    stages: {},
    expiresAt: new Date(created + 10 * 60 * 1000),
  };
}

describe('maintenance: the session log retention', () => {
  let store: SqliteStore;
  before(async () => {
    store = new SqliteStore(':memory:');
    await store.migrate();
  });
  after(() => store.close());

  it('deletes records older than the retention in batches (more than one batch per run), keeps the rest', async () => {
    const old: string[] = [];
    for (let i = 0; i < 2500; i++) old.push((await store.createSession(session(31 + (i % 300)))).id);
    const kept = [
      (await store.createSession(session(29))).id,
      (await store.createSession(session(1))).id,
      (await store.createSession(session(0))).id,
    ];

    // Retention 0: for ever.
    assert.equal((await runMaintenance(store, { now: NOW, sessionLogRetentionDays: 0 })).sessions, 0);
    assert.ok(await store.getSession(old[0] as string));

    const result = await runMaintenance(store, { now: NOW, sessionLogRetentionDays: 30 });
    assert.equal(result.sessions, 2500);
    for (const id of [old[0], old[1234], old[2499]]) assert.equal(await store.getSession(id as string), null);
    for (const id of kept) assert.ok(await store.getSession(id), id);
    const left = await store.listSessions({}, { limit: 100, order: 'desc' });
    assert.deepEqual(
      left.data.map((s) => s.id),
      [...kept].reverse(),
    );

    // Nothing more to do on the next run.
    assert.equal((await runMaintenance(store, { now: NOW, sessionLogRetentionDays: 30 })).sessions, 0);
  });

  it('a retention that reaches before 1970 (36 500 days) deletes nothing: IDs before the epoch do not exist', async () => {
    const kept = (await store.createSession(session(1))).id;
    const result = await runMaintenance(store, { now: NOW, sessionLogRetentionDays: 36_500 });
    assert.equal(result.sessions, 0);
    assert.ok(await store.getSession(kept));
  });

  it('firstIdAt sorts below every ID created at that time or later, above every earlier one, and clamps to the ULID range', () => {
    const t = new Date('2030-05-06T07:08:09.010Z');
    const at = firstIdAt('sess', t);
    const before = firstIdAt('sess', new Date(t.getTime() - 1));
    assert.ok(before < at);
    assert.ok(`${before}ZZZZZZZZZZZZZZZZ` < at);
    assert.ok(at <= `${at}0000000000000000`);
    assert.equal(firstIdAt('sess', new Date(-1e12)), 'sess_0000000000');
    assert.equal(firstIdAt('sess', new Date(Number.NaN)), 'sess_0000000000');
    assert.equal(firstIdAt('sess', new Date(8.64e15)), 'sess_7ZZZZZZZZZ');
  });
});

describe('maintenance: scheduled by the server', () => {
  it('every 5 minutes (its interval driven by mock timers), the session log past GATEHOUSE_SESSION_LOG_RETENTION_DAYS is gone from GET /sso/sessions', async (t) => {
    // Only setInterval is mocked: the schedule's timer. Dates, timeouts and I/O stay real.
    t.mock.timers.enable({ apis: ['setInterval'] });
    const store = new SqliteStore(':memory:');
    await store.migrate();
    const real = Date.now();
    const at = (daysAgo: number) => ({
      ...session(0),
      id: `${firstIdAt('sess', new Date(real - daysAgo * DAY))}${randomBytes(8).toString('hex').toUpperCase()}`,
    });
    const old = await store.createSession(at(8));
    const recent = await store.createSession(at(6));
    const g = await startGatehouse({ store, env: { GATEHOUSE_SESSION_LOG_RETENTION_DAYS: '7' } });
    try {
      const listed = async () =>
        ((await g.api('GET', '/sso/sessions?limit=10')).body.data as { id: string }[]).map((s) => s.id);
      assert.deepEqual(await listed(), [recent.id, old.id]);
      t.mock.timers.tick(5 * 60 * 1000);
      const deadline = Date.now() + 5_000;
      while (Date.now() < deadline && (await listed()).length > 1) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.deepEqual(await listed(), [recent.id]);
    } finally {
      await g.close();
    }
  });
});
