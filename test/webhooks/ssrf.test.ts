import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { newId } from '../../src/lib/ids.ts';
import type { NewEvent } from '../../src/storage/store.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { startReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.ts';

/**
 * The SSRF guard on webhook endpoint URLs: when an endpoint is saved (its name resolved then) and at every
 * delivery (a name may resolve elsewhere by then: DNS rebinding). GATEHOUSE_WEBHOOK_ALLOW_PRIVATE lets listed
 * networks through, nothing else; GATEHOUSE_ALLOW_PRIVATE_URLS (on in every test Gatehouse) does not apply.
 */

const REFUSED = 'endpoint_url must be an https URL of a public address';

/** DNS for the tests: names answer what `answers` says at the time of the lookup. */
function fakeDns(answers: Map<string, string>) {
  const lookup = (
    hostname: string,
    _options: unknown,
    callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
  ) => {
    const address = answers.get(hostname);
    if (!address) {
      const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
      err.code = 'ENOTFOUND';
      return process.nextTick(() => callback(err, []));
    }
    process.nextTick(() => callback(null, [{ address, family: address.includes(':') ? 6 : 4 }]));
  };
  return lookup as unknown as typeof import('node:dns').lookup;
}

function event(): NewEvent {
  return {
    id: newId('event'),
    event: 'connection.saml_certificate_renewal_required',
    organizationId: null,
    data: { days_until_expiry: 1 },
    createdAt: new Date(),
  };
}

const running: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close()));
});

async function gatehouse(env: Record<string, string>, dns: Map<string, string>): Promise<TestGatehouse> {
  const gh = await startGatehouse({
    env,
    webhooks: { pollMs: 20, retryDelaysMs: [100_000], lookup: fakeDns(dns) },
  });
  running.push(gh);
  return gh;
}

async function receiver(): Promise<WebhookReceiver> {
  const r = await startReceiver();
  running.push(r);
  return r;
}

// biome-ignore lint/suspicious/noExplicitAny: the API's JSON.
async function firstAttempt(gh: TestGatehouse, endpointId: string, eventId: string): Promise<any> {
  for (let i = 0; i < 200; i++) {
    const d = await gh.api('GET', `/webhook_endpoints/${endpointId}/deliveries/${eventId}`);
    if (d.body.attempts?.length) return d.body.attempts[0];
    await sleep(25);
  }
  assert.fail('no attempt was made');
}

describe('webhook endpoint URLs: SSRF guard', () => {
  it('refuses loopback, private, link-local and plain-http URLs at create and update, with one fixed reason', async () => {
    const dns = new Map([
      ['internal.example.test', '10.1.2.3'],
      ['metadata.example.test', '169.254.169.254'],
      ['public.example.test', '93.184.216.34'],
    ]);
    const gh = await gatehouse({}, dns);
    const target = await receiver();
    for (const url of [
      target.url,
      `https://127.0.0.1:${target.port}/`,
      'https://[::1]/',
      'https://[::ffff:127.0.0.1]/',
      'https://[::127.0.0.1]/',
      'https://localhost/',
      'https://10.0.0.1/',
      'https://169.254.169.254/latest/meta-data/',
      'https://internal.example.test/hook',
      'https://metadata.example.test/hook',
      'http://public.example.test/hook',
      'ftp://public.example.test/hook',
    ]) {
      const res = await gh.api('POST', '/webhook_endpoints', { endpoint_url: url, events: ['a.b'] });
      assert.equal(res.status, 422, url);
      assert.deepEqual(res.body.errors, [{ field: 'endpoint_url', code: REFUSED }], url);
      // What a name resolved to stays in the server's log.
      assert.ok(!JSON.stringify(res.body).match(/10\.1\.2\.3|169\.254|resolves/), JSON.stringify(res.body));
    }
    assert.equal((await gh.api('GET', '/webhook_endpoints')).body.data.length, 0);
    const ok = await gh.api('POST', '/webhook_endpoints', {
      endpoint_url: 'https://public.example.test/hook',
      events: ['a.b'],
    });
    assert.equal(ok.status, 201);
    const moved = await gh.api('PATCH', `/webhook_endpoints/${ok.body.id}`, {
      endpoint_url: 'https://internal.example.test/hook',
    });
    assert.equal(moved.status, 422);
    assert.deepEqual(moved.body.errors, [{ field: 'endpoint_url', code: REFUSED }]);
    assert.equal(
      (await gh.api('GET', `/webhook_endpoints/${ok.body.id}`)).body.endpoint_url,
      'https://public.example.test/hook',
    );
    assert.equal(target.received.length, 0);
  });

  it('DNS rebinding: a name public when saved that resolves to loopback at delivery is refused then', async () => {
    const dns = new Map([['rebind.example.test', '93.184.216.34']]);
    const gh = await gatehouse({}, dns);
    const created = await gh.api('POST', '/webhook_endpoints', {
      endpoint_url: 'https://rebind.example.test/hook',
      events: ['connection.saml_certificate_renewal_required'],
    });
    assert.equal(created.status, 201);
    dns.set('rebind.example.test', '127.0.0.1');
    const e = event();
    await gh.store.appendEvents([e]);
    const attempt = await firstAttempt(gh, created.body.id, e.id);
    assert.deepEqual(
      [attempt.status, attempt.error, attempt.response_status, attempt.latency_ms],
      ['failed', 'not_allowed', null, null],
    );
  });

  it('GATEHOUSE_WEBHOOK_ALLOW_PRIVATE lets its networks through (http too), and only them, at every delivery', async () => {
    const target = await receiver();
    const dns = new Map([
      ['hooks.internal.test', '127.0.0.1'],
      ['public.example.test', '93.184.216.34'],
    ]);
    const gh = await gatehouse({ GATEHOUSE_WEBHOOK_ALLOW_PRIVATE: '127.0.0.1/32, fd00::/8' }, dns);
    for (const url of [
      'http://10.0.0.1/',
      'https://10.0.0.1/',
      'http://public.example.test/',
      'https://[::1]/',
    ]) {
      const res = await gh.api('POST', '/webhook_endpoints', { endpoint_url: url, events: ['a.b'] });
      assert.equal(res.status, 422, url);
    }
    for (const url of ['https://93.184.216.34/hook', 'https://[fd00::1]/hook', 'http://[fd12::5]/hook']) {
      assert.equal(
        (await gh.api('POST', '/webhook_endpoints', { endpoint_url: url, events: ['x.y'] })).status,
        201,
        url,
      );
    }
    const created = await gh.api('POST', '/webhook_endpoints', {
      endpoint_url: `http://hooks.internal.test:${target.port}/hook`,
      events: ['connection.saml_certificate_renewal_required'],
    });
    assert.equal(created.status, 201);
    // Each connection is checked when it opens (a kept-alive one stays with the address checked): close it.
    target.answer = (_r, _i, res) => {
      res.writeHead(200, { connection: 'close' });
      res.end();
    };
    await gh.store.appendEvents([event()]);
    await target.waitFor(1);
    await sleep(50);
    // The name now points outside the allowed networks: refused at the next delivery.
    dns.set('hooks.internal.test', '10.9.9.9');
    const e = event();
    await gh.store.appendEvents([e]);
    const attempt = await firstAttempt(gh, created.body.id, e.id);
    assert.equal(attempt.error, 'not_allowed');
    assert.equal(target.received.length, 1);
  });

  it('GATEHOUSE_WEBHOOK_ALLOW_PRIVATE: a bad value stops start-up naming the variable', () => {
    for (const value of ['10.0.0.0/33', 'localhost', '10.0.0.0/8/1', '::1/129', ' , ']) {
      assert.throws(
        () => loadConfig({ GATEHOUSE_WEBHOOK_ALLOW_PRIVATE: value }),
        (err: unknown) => err instanceof ConfigError && err.variable === 'GATEHOUSE_WEBHOOK_ALLOW_PRIVATE',
        value,
      );
    }
    assert.deepEqual(loadConfig({ GATEHOUSE_WEBHOOK_ALLOW_PRIVATE: '10.0.0.0/8,::1' }).webhooks, {
      timeoutMs: 10_000,
      allowPrivate: ['10.0.0.0/8', '::1'],
    });
    assert.deepEqual(loadConfig({}).webhooks.allowPrivate, []);
  });
});
