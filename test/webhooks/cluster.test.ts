import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkOS } from '@workos-inc/node';
import pg from 'pg';
import {
  type Balancer,
  clusterClient,
  type Node,
  startBalancer,
  startNode,
  startNodes,
} from '../helpers/cluster.ts';
import { freePort, TEST_API_KEY, TEST_CLIENT_ID } from '../helpers/gatehouse.ts';
import { POSTGRES_URL, postgresUnavailable } from '../helpers/postgres.ts';
import { startReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.ts';

/**
 * Two Gatehouse processes on one PostgreSQL database, both delivering webhooks: every event reaches the endpoint
 * exactly once, whichever node wrote it and however the nodes' polls interleave; and a node killed mid-attempt
 * leaves its delivery to another node once its lease ends.
 */

const sdk = new WorkOS('sk_unused_for_verification_only');

if ((await postgresUnavailable('webhooks on two nodes')) === null) {
  describe('webhooks on two nodes on one PostgreSQL', () => {
    const schema = `gh_webhooks_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    const nodes: Node[] = [];
    let balancer: Balancer;
    let cluster: ReturnType<typeof clusterClient>;
    let env: Record<string, string>;
    let receiver: WebhookReceiver;

    before(async () => {
      await admin.connect();
      await admin.query(`CREATE SCHEMA ${schema}`);
      const port = await freePort();
      const url = new URL(POSTGRES_URL);
      url.searchParams.set('options', `-c search_path=${schema}`);
      env = {
        GATEHOUSE_DATABASE_URL: url.href,
        GATEHOUSE_SECRET_KEY: randomBytes(32).toString('hex'),
        GATEHOUSE_PUBLIC_URL: `http://127.0.0.1:${port}`,
        GATEHOUSE_API_KEY: TEST_API_KEY,
        GATEHOUSE_CLIENT_ID: TEST_CLIENT_ID,
        GATEHOUSE_WEBHOOK_ALLOW_PRIVATE: '127.0.0.1',
        // A lease is 2 × this + 5 s: a killed node's delivery is made again within 7 s.
        GATEHOUSE_WEBHOOK_TIMEOUT_MS: '1000',
      };
      nodes.push(...(await startNodes(['a', 'b'], env)));
      balancer = await startBalancer(port, nodes[0] as Node);
      cluster = clusterClient(balancer);
      receiver = await startReceiver();
    });

    after(async () => {
      await balancer?.close();
      await Promise.all(nodes.map((n) => n.stop()));
      await receiver?.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    });

    it('every event is delivered exactly once per endpoint, signed, whichever node wrote it', async () => {
      // A slow receiver keeps both nodes' slots busy, so that their claims overlap.
      receiver.answer = (_r, _i, res) => {
        setTimeout(() => {
          res.writeHead(200);
          res.end();
        }, 20);
      };
      const [a, b] = nodes as [Node, Node];
      const endpoints = [];
      for (const path of ['/one', '/two']) {
        const created = await cluster.api('POST', '/webhook_endpoints', {
          endpoint_url: `${receiver.url}${path}`,
          events: ['organization.created', 'organization.updated'],
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        endpoints.push({ path, secret: created.body.secret as string });
      }
      const writes = [];
      for (let i = 0; i < 30; i++) {
        balancer.target = i % 2 === 0 ? a : b;
        writes.push(
          cluster.api('POST', '/organizations', { name: `Org ${i}` }).then(async (res) => {
            assert.equal(res.status, 201);
            await cluster.api('PUT', `/organizations/${res.body.id}`, { name: `Org ${i} renamed` });
          }),
        );
      }
      await Promise.all(writes);
      const events = await cluster.api('GET', '/events?limit=100');
      const ids = (events.body.data as { id: string }[]).map((e) => e.id);
      assert.equal(ids.length, 60);
      await receiver.waitFor(120, 30_000);
      await sleep(1500); // anything sent twice would have arrived by now
      assert.equal(receiver.received.length, 120);
      for (const { path, secret } of endpoints) {
        const got = receiver.received.filter((r) => r.path === path);
        const verified = await Promise.all(
          got.map((r) =>
            sdk.webhooks.constructEvent({
              payload: r.body,
              sigHeader: String(r.headers['workos-signature']),
              secret,
            }),
          ),
        );
        assert.deepEqual(verified.map((e) => e.id).sort(), [...ids].sort(), path);
      }
    });

    it('a node killed mid-attempt: another node makes the attempt again once the lease ends', async () => {
      const [a, b] = nodes as [Node, Node];
      for (const e of (await cluster.api('GET', '/webhook_endpoints')).body.data) {
        await cluster.api('DELETE', `/webhook_endpoints/${e.id}`);
      }
      receiver.received.length = 0;
      const hung: { end(): void }[] = [];
      receiver.answer = (_r, index, res) => {
        if (index === 0) {
          hung.push(res); // the first attempt never gets an answer
          return;
        }
        res.writeHead(200);
        res.end();
      };
      const created = await cluster.api('POST', '/webhook_endpoints', {
        endpoint_url: `${receiver.url}/lease`,
        events: ['organization.deleted'],
      });
      // Only node a delivers: b stops first (gracefully), then a dies mid-attempt.
      await b.stop('SIGTERM');
      balancer.target = a;
      const org = await cluster.api('POST', '/organizations', { name: 'Doomed' });
      await cluster.api('DELETE', `/organizations/${org.body.id}`);
      await receiver.waitFor(1, 10_000);
      await a.stop('SIGKILL');
      const killedAt = Date.now();
      const c = await startNode('c', env);
      nodes.push(c);
      balancer.target = c;
      const [first, second] = await receiver.waitFor(2, 20_000);
      assert.ok(Date.now() - killedAt < 15_000);
      assert.equal(JSON.parse(second?.body ?? '{}').id, JSON.parse(first?.body ?? '{}').id);
      const eventId = JSON.parse(second?.body ?? '{}').id;
      let delivery = await cluster.api('GET', `/webhook_endpoints/${created.body.id}/deliveries/${eventId}`);
      for (let i = 0; i < 40 && delivery.body.state !== 'succeeded'; i++) {
        await sleep(50);
        delivery = await cluster.api('GET', `/webhook_endpoints/${created.body.id}/deliveries/${eventId}`);
      }
      assert.deepEqual(
        delivery.body.attempts.map((x: { attempt: number; status: string; error: string | null }) => [
          x.attempt,
          x.status,
          x.error,
        ]),
        [
          [1, 'failed', 'interrupted'],
          [2, 'succeeded', null],
        ],
      );
      for (const res of hung) res.end();
    });
  });
}
