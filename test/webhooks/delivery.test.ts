import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkOS } from '@workos-inc/node';
import { newId } from '../../src/lib/ids.ts';
import type { NewEvent } from '../../src/storage/store.ts';
import { nextAttemptAt, RETRY_DELAYS_MS, signatureHeader } from '../../src/webhooks/dispatcher.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus.ts';
import { startReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.ts';

/**
 * Webhooks end to end: endpoints managed through the SDK's `webhooks` methods and our own routes, deliveries to a
 * receiver on loopback that verifies each one with the SDK's `webhooks.constructEvent`, retries on a short
 * schedule, timeouts, redirects, disabled endpoints and secret rotation.
 */

// The SDK's verification needs no API key or host: constructEvent only checks the signature and parses.
const sdk = new WorkOS('sk_unused_for_verification_only');

/** A certificate reminder (the SDK passes its data through as is, so any shape verifies). */
function certificateEvent(n = 1): NewEvent {
  return {
    id: newId('event'),
    event: 'connection.saml_certificate_renewal_required',
    organizationId: 'org_webhooks',
    data: {
      connection: { id: 'conn_webhooks', organization_id: 'org_webhooks' },
      certificate: {
        certificate_type: 'ResponseSigning',
        expiry_date: '2030-01-01T00:00:00.000Z',
        is_expired: false,
      },
      days_until_expiry: n,
    },
    createdAt: new Date(),
  };
}

/** The SDK's verdict on a received request, with `secret`. */
function verify(request: { body: string; headers: Record<string, unknown> }, secret: string) {
  return sdk.webhooks.constructEvent({
    payload: request.body,
    sigHeader: String(request.headers['workos-signature']),
    secret,
  });
}

const running: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close()));
});

async function setup(
  options: { retryDelaysMs?: number[]; env?: Record<string, string>; stopGraceMs?: number } = {},
): Promise<{ gh: TestGatehouse; receiver: WebhookReceiver }> {
  const receiver = await startReceiver();
  running.push(receiver);
  const gh = await startGatehouse({
    env: { GATEHOUSE_WEBHOOK_ALLOW_PRIVATE: '127.0.0.1', ...options.env },
    webhooks: {
      pollMs: 20,
      retryDelaysMs: options.retryDelaysMs ?? [150, 150, 150, 150, 150],
      ...(options.stopGraceMs ? { stopGraceMs: options.stopGraceMs } : {}),
    },
  });
  running.push(gh);
  return { gh, receiver };
}

/** Creates an endpoint through the API; returns its ID and secret. */
async function createEndpoint(gh: TestGatehouse, url: string, events: string[]) {
  const res = await gh.api('POST', '/webhook_endpoints', { endpoint_url: url, events });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body as { id: string; secret: string };
}

/** Polls the delivery until `done` holds (or fails after 10 s). */
async function deliveryWhen(
  gh: TestGatehouse,
  endpointId: string,
  eventId: string,
  // biome-ignore lint/suspicious/noExplicitAny: the API's JSON, asserted field by field.
  done: (delivery: any) => boolean,
  // biome-ignore lint/suspicious/noExplicitAny: as above.
): Promise<any> {
  const until = Date.now() + 10_000;
  for (;;) {
    const res = await gh.api('GET', `/webhook_endpoints/${endpointId}/deliveries/${eventId}`);
    if (res.status === 200 && done(res.body)) return res.body;
    if (Date.now() > until) assert.fail(`delivery not as expected: ${JSON.stringify(res.body)}`);
    await sleep(25);
  }
}

describe('webhook endpoints through the SDK', () => {
  it('create, list, update, delete with the SDK; the secret only in the answer to create', async () => {
    const { gh, receiver } = await setup();
    const created = await gh.workos.webhooks.createWebhookEndpoint({
      endpointUrl: `${receiver.url}/workos`,
      events: ['organization.created', 'connection.activated'],
    });
    assert.equal(created.object, 'webhook_endpoint');
    assert.match(created.id, /^we_[0-9A-Z]{26}$/);
    assert.equal(created.endpointUrl, `${receiver.url}/workos`);
    assert.equal(created.status, 'enabled');
    assert.deepEqual(created.events, ['organization.created', 'connection.activated']);
    assert.match(created.secret, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(created.createdAt instanceof Date && !Number.isNaN(created.createdAt.getTime()));

    const list = await gh.workos.webhooks.listWebhookEndpoints();
    assert.deepEqual(
      list.data.map((e) => [e.id, e.endpointUrl, e.status, e.secret]),
      [[created.id, `${receiver.url}/workos`, 'enabled', undefined]],
    );
    const stored = await gh.store.getWebhookEndpoint(created.id);
    assert.ok(stored && !stored.secret.includes(created.secret), 'stored sealed, not in clear');

    const updated = await gh.workos.webhooks.updateWebhookEndpoint({
      id: created.id,
      status: 'disabled',
      events: ['organization.deleted'],
    });
    assert.deepEqual(
      [updated.status, updated.events, updated.endpointUrl, updated.secret],
      ['disabled', ['organization.deleted'], `${receiver.url}/workos`, undefined],
    );
    await gh.workos.webhooks.deleteWebhookEndpoint({ id: created.id });
    assert.equal((await gh.api('GET', `/webhook_endpoints/${created.id}`)).status, 404);
  });

  it('a real change (organization.created through the SDK) arrives signed, and constructEvent verifies it', async () => {
    const { gh, receiver } = await setup();
    const hook = await gh.workos.webhooks.createWebhookEndpoint({
      endpointUrl: `${receiver.url}/workos`,
      events: ['organization.created'],
    });
    const org = await gh.workos.organizations.createOrganization({ name: 'Webhook Co' });
    const [request] = await receiver.waitFor(1);
    assert.ok(request);
    assert.equal(request.path, '/workos');
    assert.equal(request.headers['content-type'], 'application/json');
    assert.match(String(request.headers['workos-signature']), /^t=\d{13}, v1=[0-9a-f]{64}$/);
    const event = await verify(request, hook.secret);
    assert.equal(event.event, 'organization.created');
    assert.equal((event.data as { id: string }).id, org.id);
    // The same event, byte for byte, as GET /events serves it.
    const listed = await gh.api('GET', '/events?events=organization.created');
    assert.deepEqual(JSON.parse(request.body), listed.body.data[0]);
    const delivery = await deliveryWhen(gh, hook.id, event.id, (d) => d.state === 'succeeded');
    assert.equal(delivery.attempts.length, 1);
    assert.equal(delivery.attempts[0].status, 'succeeded');
    assert.equal(delivery.attempts[0].response_status, 200);
    assert.equal(typeof delivery.attempts[0].latency_ms, 'number');
    await sleep(100);
    assert.equal(receiver.received.length, 1, 'delivered once');
  });
});

describe('webhook delivery', () => {
  it('the receiver answers 500 twice: retried on the schedule, then delivered; each attempt recorded', async () => {
    const { gh, receiver } = await setup({ retryDelaysMs: [200, 200, 200, 200, 200] });
    receiver.answer = (_r, index, res) => {
      res.writeHead(index < 2 ? 500 : 204);
      res.end(index < 2 ? 'upstream detail that must not be kept' : undefined);
    };
    const hook = await createEndpoint(gh, `${receiver.url}/hook`, [
      'connection.saml_certificate_renewal_required',
    ]);
    const e = certificateEvent();
    await gh.store.appendEvents([e]);
    const requests = await receiver.waitFor(3);
    for (const r of requests) assert.equal((await verify(r, hook.secret)).id, e.id);
    assert.ok((requests[1]?.at ?? 0) - (requests[0]?.at ?? 0) >= 200, 'waited for the retry');
    assert.ok((requests[2]?.at ?? 0) - (requests[1]?.at ?? 0) >= 200, 'waited for the retry');
    const delivery = await deliveryWhen(gh, hook.id, e.id, (d) => d.state === 'succeeded');
    assert.deepEqual(
      delivery.attempts.map(
        (a: { attempt: number; status: string; response_status: number; error: string }) => [
          a.attempt,
          a.status,
          a.response_status,
          a.error,
        ],
      ),
      [
        [1, 'failed', 500, 'status'],
        [2, 'failed', 500, 'status'],
        [3, 'succeeded', 204, null],
      ],
    );
    assert.ok(!JSON.stringify(delivery).includes('upstream detail'), "the receiver's body is not kept");
    assert.equal(delivery.next_attempt_at, null);
  });

  it('six attempts at most: a receiver that always fails ends as failed, and nothing more is sent', async () => {
    const { gh, receiver } = await setup({ retryDelaysMs: [30, 30, 30, 30, 30] });
    receiver.answer = (_r, _i, res) => {
      res.writeHead(503);
      res.end();
    };
    const hook = await createEndpoint(gh, receiver.url, ['connection.saml_certificate_renewal_required']);
    const e = certificateEvent();
    await gh.store.appendEvents([e]);
    const delivery = await deliveryWhen(gh, hook.id, e.id, (d) => d.state === 'failed');
    assert.equal(delivery.attempts.length, 6);
    await sleep(200);
    assert.equal(receiver.received.length, 6);
    const failed = await gh.api('GET', `/webhook_endpoints/${hook.id}/deliveries?state=failed`);
    assert.deepEqual(
      failed.body.data.map((d: { event_id: string }) => d.event_id),
      [e.id],
    );
  });

  it('a receiver slower than GATEHOUSE_WEBHOOK_TIMEOUT_MS: the attempt fails as timeout and is retried', async () => {
    const { gh, receiver } = await setup({ env: { GATEHOUSE_WEBHOOK_TIMEOUT_MS: '300' } });
    receiver.answer = (_r, index, res) => {
      if (index === 0) return; // never answers
      res.writeHead(200);
      res.end();
    };
    const hook = await createEndpoint(gh, receiver.url, ['connection.saml_certificate_renewal_required']);
    const e = certificateEvent();
    await gh.store.appendEvents([e]);
    const delivery = await deliveryWhen(gh, hook.id, e.id, (d) => d.state === 'succeeded');
    assert.deepEqual(
      delivery.attempts.map(
        (a: { error: string; response_status: number | null; latency_ms: number | null }) => [
          a.error,
          a.response_status,
          a.latency_ms,
        ],
      ),
      [
        ['timeout', null, null],
        [null, 200, delivery.attempts[1].latency_ms],
      ],
    );
  });

  it('open redirect: a 302 is a failed attempt, never followed', async () => {
    const { gh, receiver } = await setup();
    receiver.answer = (r, _i, res) => {
      if (r.path === '/hook') {
        res.writeHead(302, { location: `${receiver.url}/elsewhere` });
        res.end();
      } else {
        res.writeHead(200);
        res.end();
      }
    };
    const hook = await createEndpoint(gh, `${receiver.url}/hook`, [
      'connection.saml_certificate_renewal_required',
    ]);
    const e = certificateEvent();
    await gh.store.appendEvents([e]);
    const delivery = await deliveryWhen(gh, hook.id, e.id, (d) => d.attempts.length >= 1);
    assert.deepEqual([delivery.attempts[0].status, delivery.attempts[0].response_status], ['failed', 302]);
    assert.ok(receiver.received.every((r) => r.path === '/hook'));
  });

  it('a receiver answering a huge body: delivered; the body is not read past its first kilobyte', async () => {
    const { gh, receiver } = await setup();
    let written = 0;
    receiver.answer = (_r, _i, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 120);
      // Writes until the connection goes away (or 64 MiB): a reader that read it all would take long.
      const pump = () => {
        while (written < 64 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('close', () => {});
      pump();
    };
    const hook = await createEndpoint(gh, receiver.url, ['connection.saml_certificate_renewal_required']);
    const e = certificateEvent();
    await gh.store.appendEvents([e]);
    const delivery = await deliveryWhen(gh, hook.id, e.id, (d) => d.state === 'succeeded');
    assert.equal(delivery.attempts[0].response_status, 200);
    assert.ok(written < 64 * 1024 * 1024, `the receiver wrote ${written} bytes: the whole body was read`);
  });

  it('a disabled endpoint gets nothing, not even later; enabled again, it gets what happens from then on', async () => {
    const { gh, receiver } = await setup();
    const hook = await createEndpoint(gh, receiver.url, ['connection.saml_certificate_renewal_required']);
    await gh.workos.webhooks.updateWebhookEndpoint({ id: hook.id, status: 'disabled' });
    const during = certificateEvent(1);
    await gh.store.appendEvents([during]);
    await sleep(300);
    assert.equal(receiver.received.length, 0);
    await gh.workos.webhooks.updateWebhookEndpoint({ id: hook.id, status: 'enabled' });
    const afterwards = certificateEvent(2);
    await gh.store.appendEvents([afterwards]);
    const [request] = await receiver.waitFor(1);
    assert.equal((await verify(request as never, hook.secret)).id, afterwards.id);
    await sleep(200);
    assert.equal(receiver.received.length, 1);
    assert.equal((await gh.api('GET', `/webhook_endpoints/${hook.id}/deliveries`)).body.data.length, 1);
  });

  it('an endpoint gets only the events it lists', async () => {
    const { gh, receiver } = await setup();
    const hook = await createEndpoint(gh, receiver.url, ['organization.deleted']);
    await gh.store.appendEvents([certificateEvent()]);
    const org = await gh.workos.organizations.createOrganization({ name: 'Gone Co' });
    await gh.workos.organizations.deleteOrganization(org.id);
    const [request] = await receiver.waitFor(1);
    assert.equal((await verify(request as never, hook.secret)).event, 'organization.deleted');
    await sleep(200);
    assert.equal(receiver.received.length, 1);
  });

  it('secret rotation: deliveries verify with the new secret, no longer with the old one', async () => {
    const { gh, receiver } = await setup();
    const hook = await createEndpoint(gh, receiver.url, ['connection.saml_certificate_renewal_required']);
    const rotated = await gh.api('POST', `/webhook_endpoints/${hook.id}/rotate_secret`);
    assert.equal(rotated.status, 200);
    assert.equal(rotated.body.id, hook.id);
    assert.match(rotated.body.secret, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(rotated.body.secret, hook.secret);
    assert.equal((await gh.api('GET', `/webhook_endpoints/${hook.id}`)).body.secret, undefined);
    await gh.store.appendEvents([certificateEvent()]);
    const [request] = await receiver.waitFor(1);
    assert.ok(request);
    await verify(request, rotated.body.secret);
    await assert.rejects(verify(request, hook.secret), { name: 'SignatureVerificationException' });
  });

  it('a signature replayed with a forged body, or a stale timestamp, does not verify', async () => {
    const { gh, receiver } = await setup();
    const hook = await createEndpoint(gh, receiver.url, ['connection.saml_certificate_renewal_required']);
    await gh.store.appendEvents([certificateEvent()]);
    const [request] = await receiver.waitFor(1);
    assert.ok(request);
    const forged = request.body.replace('"days_until_expiry":1', '"days_until_expiry":99');
    assert.notEqual(forged, request.body);
    await assert.rejects(verify({ ...request, body: forged }, hook.secret), {
      name: 'SignatureVerificationException',
    });
    const old = Date.now() - 10 * 60_000;
    await assert.rejects(
      verify(
        {
          body: request.body,
          headers: { 'workos-signature': signatureHeader(hook.secret, request.body, old) },
        },
        hook.secret,
      ),
      { name: 'SignatureVerificationException' },
    );
  });
});

describe('webhook metrics', () => {
  it('/metrics counts failed attempts and the deliveries waiting', async () => {
    const token = 'metrics-token-0123456789abcdef0123456789abcdef';
    const { gh, receiver } = await setup({
      env: { GATEHOUSE_METRICS_TOKEN: token },
      retryDelaysMs: [600_000],
    });
    receiver.answer = (_r, _i, res) => {
      res.writeHead(500);
      res.end();
    };
    const scrape = async () => {
      const res = await fetch(`${gh.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      const families = parsePrometheusText(await res.text());
      return [
        sampleValue(families, 'gatehouse_webhook_backlog'),
        sampleValue(families, 'gatehouse_webhook_delivery_failures_total'),
      ];
    };
    assert.deepEqual(await scrape(), [0, 0]);
    const hook = await createEndpoint(gh, receiver.url, ['connection.saml_certificate_renewal_required']);
    const e = certificateEvent();
    await gh.store.appendEvents([e, certificateEvent(2)]);
    await deliveryWhen(gh, hook.id, e.id, (d) => d.attempts.length === 1);
    await receiver.waitFor(2);
    await sleep(50);
    assert.deepEqual(await scrape(), [2, 2], 'both wait for their retry; two attempts failed');
  });
});

describe('webhook endpoints: management API errors', () => {
  let gh: TestGatehouse;
  after(async () => gh?.close());

  it('refuses bad bodies with 422 naming each field', async () => {
    gh = await startGatehouse({ env: { GATEHOUSE_WEBHOOK_ALLOW_PRIVATE: '127.0.0.1' } });
    const cases: [unknown, string[]][] = [
      [{}, ['endpoint_url is required', 'events is required']],
      [{ endpoint_url: 'not a url', events: ['a.b'] }, ['endpoint_url must be an absolute https URL']],
      [
        { endpoint_url: 'https://user:pw@hooks.example.com/', events: ['a.b'] },
        ['endpoint_url must not contain credentials'],
      ],
      [
        { endpoint_url: 'https://hooks.example.com/#x', events: ['a.b'] },
        ['endpoint_url must not contain a fragment'],
      ],
      [
        { endpoint_url: `https://hooks.example.com/${'a'.repeat(2100)}`, events: ['a.b'] },
        ['endpoint_url must be at most 2048 characters'],
      ],
      [
        { endpoint_url: 'https://hooks.example.com/', events: [] },
        ['events must be a list of 1 to 100 event names'],
      ],
      [
        { endpoint_url: 'https://hooks.example.com/', events: 'a.b' },
        ['events must be a list of 1 to 100 event names'],
      ],
      [
        {
          endpoint_url: 'https://hooks.example.com/',
          events: Array.from({ length: 101 }, (_, i) => `a.b${i}`),
        },
        ['events must be a list of 1 to 100 event names'],
      ],
      [
        { endpoint_url: 'https://hooks.example.com/', events: ['Connection Activated'] },
        ['events must be event names, such as connection.activated'],
      ],
      [
        { endpoint_url: 'https://hooks.example.com/', events: [42] },
        ['events must be event names, such as connection.activated'],
      ],
      [[1, 2], ['body must be a JSON object']],
    ];
    for (const [body, codes] of cases) {
      const res = await gh.api('POST', '/webhook_endpoints', body);
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.equal(res.body.code, 'invalid_request_parameters');
      assert.deepEqual(
        res.body.errors.map((e: { code: string }) => e.code),
        codes,
        JSON.stringify(body),
      );
    }
    const hook = await createEndpoint(gh, 'http://127.0.0.1:9/hook', ['a.b', 'a.b', 'c.d']);
    assert.deepEqual(
      (await gh.api('GET', `/webhook_endpoints/${hook.id}`)).body.events,
      ['a.b', 'c.d'],
      'deduplicated',
    );
    const bad = await gh.api('PATCH', `/webhook_endpoints/${hook.id}`, { status: 'paused' });
    assert.equal(bad.status, 422);
    assert.deepEqual(bad.body.errors, [{ field: 'status', code: 'status must be enabled or disabled' }]);
    assert.equal((await gh.api('GET', `/webhook_endpoints/${hook.id}/deliveries?state=lost`)).status, 422);
  });

  it('unknown endpoints and deliveries are 404 entity_not_found', async () => {
    const id = 'we_01JUNKNOWN0000000000000000';
    for (const [method, path, body] of [
      ['GET', `/webhook_endpoints/${id}`],
      ['PATCH', `/webhook_endpoints/${id}`, { status: 'enabled' }],
      ['DELETE', `/webhook_endpoints/${id}`],
      ['POST', `/webhook_endpoints/${id}/rotate_secret`],
      ['GET', `/webhook_endpoints/${id}/deliveries`],
      ['GET', `/webhook_endpoints/${id}/deliveries/event_01JUNKNOWN0000000000000000`],
    ] as const) {
      const res = await gh.api(method, path, body);
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.equal(res.body.code, 'entity_not_found');
    }
    await assert.rejects(gh.workos.webhooks.deleteWebhookEndpoint({ id }), { status: 404 });
  });

  it('requires the API key', async () => {
    const res = await fetch(`${gh.url}/webhook_endpoints`);
    assert.equal(res.status, 401);
  });
});

describe('the retry schedule', () => {
  it('six attempts over about three days: 1 min, 8 min, ~1 h, ~8.5 h, ~2.8 days, each plus at most 10%', () => {
    const t = new Date('2030-01-01T00:00:00.000Z');
    const none = () => 0;
    const delays = [1, 2, 3, 4, 5].map(
      (n) => (nextAttemptAt(t, n, RETRY_DELAYS_MS, none)?.getTime() ?? 0) - t.getTime(),
    );
    assert.deepEqual(delays, [60_000, 480_000, 3_840_000, 30_720_000, 245_760_000]);
    assert.equal(nextAttemptAt(t, 6, RETRY_DELAYS_MS, none), null, 'no seventh attempt');
    const total = delays.reduce((a, b) => a + b, 0);
    assert.ok(total > 3 * 24 * 3_600_000 && total < 3.5 * 24 * 3_600_000, `${total / 3_600_000} h`);
    assert.equal(
      (nextAttemptAt(t, 1, RETRY_DELAYS_MS, () => 0.999_999)?.getTime() ?? 0) - t.getTime(),
      66_000,
    );
  });
});
