import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkOS } from '@workos-inc/node';
import { newId } from '../../src/lib/ids.ts';
import { SqliteStore } from '../../src/storage/sqlite/index.ts';
import type { NewEvent } from '../../src/storage/store.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { startReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.ts';

/**
 * Deliveries survive Gatehouse: a restart mid-retry, a stop mid-attempt (SIGTERM lets it finish, or interrupts it
 * after its grace and the next start makes it again), on one SQLite file. What to retry and when is in the store.
 */

const sdk = new WorkOS('sk_unused_for_verification_only');
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-webhooks-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const SECRET_KEY = randomBytes(32).toString('hex');

function event(): NewEvent {
  return {
    id: newId('event'),
    event: 'connection.saml_certificate_renewal_required',
    organizationId: null,
    data: { days_until_expiry: 7 },
    createdAt: new Date(),
  };
}

/** A Gatehouse on the SQLite file `name` (the same key every time, so that the endpoint's secret opens). */
function gatehouseOn(name: string, webhooks: { retryDelaysMs?: number[]; stopGraceMs?: number } = {}) {
  return startGatehouse({
    store: new SqliteStore(join(dir, name)),
    env: { GATEHOUSE_SECRET_KEY: SECRET_KEY, GATEHOUSE_WEBHOOK_ALLOW_PRIVATE: '127.0.0.1' },
    webhooks: { pollMs: 20, ...webhooks },
  });
}

// biome-ignore lint/suspicious/noExplicitAny: the API's JSON.
async function delivery(gh: TestGatehouse, endpointId: string, eventId: string, done: (d: any) => boolean) {
  for (let i = 0; i < 400; i++) {
    const d = await gh.api('GET', `/webhook_endpoints/${endpointId}/deliveries/${eventId}`);
    if (d.status === 200 && done(d.body)) return d.body;
    await sleep(25);
  }
  assert.fail('the delivery did not reach the expected state');
}

const attemptsOf = (d: {
  attempts: { status: string; error: string | null; response_status: number | null }[];
}) => d.attempts.map((a) => [a.status, a.error, a.response_status]);

describe('webhook deliveries across restarts (SQLite file)', () => {
  let receiver: WebhookReceiver;
  const receivers: WebhookReceiver[] = [];
  after(async () => {
    await Promise.all(receivers.map((r) => r.close()));
  });
  const newReceiver = async () => {
    const r = await startReceiver();
    receivers.push(r);
    return r;
  };

  it('a restart mid-retry: the next Gatehouse on the same file makes the retry when it is due', async () => {
    receiver = await newReceiver();
    receiver.answer = (_r, index, res) => {
      res.writeHead(index === 0 ? 500 : 200);
      res.end();
    };
    const first = await gatehouseOn('retry.db', { retryDelaysMs: [1000] });
    const created = await first.api('POST', '/webhook_endpoints', {
      endpoint_url: `${receiver.url}/hook`,
      events: ['connection.saml_certificate_renewal_required'],
    });
    const e = event();
    await first.store.appendEvents([e]);
    await delivery(first, created.body.id, e.id, (d) => d.attempts.length === 1);
    const stoppedAt = Date.now();
    await first.close();

    const second = await gatehouseOn('retry.db', { retryDelaysMs: [1000] });
    try {
      const done = await delivery(second, created.body.id, e.id, (d) => d.state === 'succeeded');
      assert.deepEqual(attemptsOf(done), [
        ['failed', 'status', 500],
        ['succeeded', null, 200],
      ]);
      const [, retry] = await receiver.waitFor(2);
      assert.ok(retry);
      assert.ok(retry.at - stoppedAt < 3000);
      const verified = await sdk.webhooks.constructEvent({
        payload: retry.body,
        sigHeader: String(retry.headers['workos-signature']),
        secret: created.body.secret,
      });
      assert.equal(verified.id, e.id);
    } finally {
      await second.close();
    }
  });

  it('SIGTERM drains: an attempt in flight finishes before the close, and is not made again', async () => {
    receiver = await newReceiver();
    receiver.answer = (_r, _i, res) => {
      setTimeout(() => {
        res.writeHead(200);
        res.end();
      }, 300);
    };
    const first = await gatehouseOn('drain.db');
    const created = await first.api('POST', '/webhook_endpoints', {
      endpoint_url: receiver.url,
      events: ['connection.saml_certificate_renewal_required'],
    });
    const e = event();
    await first.store.appendEvents([e]);
    await receiver.waitFor(1);
    await first.close();
    const second = await gatehouseOn('drain.db');
    try {
      const d = await delivery(second, created.body.id, e.id, () => true);
      assert.deepEqual(attemptsOf(d), [['succeeded', null, 200]]);
      await sleep(200);
      assert.equal(receiver.received.length, 1);
    } finally {
      await second.close();
    }
  });

  it('a stop that outlasts its grace interrupts the attempt; the next start makes it again at once', async () => {
    receiver = await newReceiver();
    receiver.answer = (_r, index, res) => {
      if (index === 0) return; // hangs
      res.writeHead(200);
      res.end();
    };
    const first = await gatehouseOn('interrupted.db', { stopGraceMs: 200, retryDelaysMs: [600_000] });
    const created = await first.api('POST', '/webhook_endpoints', {
      endpoint_url: receiver.url,
      events: ['connection.saml_certificate_renewal_required'],
    });
    const e = event();
    await first.store.appendEvents([e]);
    await receiver.waitFor(1);
    const closing = Date.now();
    await first.close();
    assert.ok(Date.now() - closing < 2000, 'the close waited for the grace only');

    const second = await gatehouseOn('interrupted.db', { retryDelaysMs: [600_000] });
    try {
      const d = await delivery(second, created.body.id, e.id, (x) => x.state === 'succeeded');
      assert.deepEqual(attemptsOf(d), [
        ['failed', 'interrupted', null],
        ['succeeded', null, 200],
      ]);
      const [, again] = await receiver.waitFor(2);
      assert.equal(JSON.parse(again?.body ?? '{}').id, e.id);
    } finally {
      await second.close();
    }
  });
});
