import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { WorkOS } from '@workos-inc/node';
import { createOperatorLink } from '../../src/dashboard/dashboard.ts';
import { EVENT_NAMES } from '../../src/events/build.ts';
import { TestBrowser } from '../helpers/browser.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { startReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.ts';

/**
 * The dashboard's events and webhook endpoints (issue 13): events listed after changes, filtered and paged by the
 * store, their data escaped; an endpoint created from the page (its secret shown once, and it is the one that
 * signs), a delivery to a receiver on loopback with its attempt (status, response, latency), enable, disable and
 * delete through the management API's functions, each audited; CSRF on every form; anonymous requests refused.
 */

const sdk = new WorkOS('sk_unused_for_verification_only');

/** As the templates escape a value (Eta). */
function escaped(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}
function heading(html: string): string {
  return /<h1>([^<]*)/.exec(html)?.[1]?.trim() ?? '';
}
/** The event IDs a page lists, in order. */
function eventIds(html: string): string[] {
  return [...html.matchAll(/<span class="muted small">(event_[0-9A-Z]{26})<\/span>/g)].map(
    (m) => m[1] as string,
  );
}
/** The table row of a delivery of this event on the webhooks page. */
function rowOf(html: string, eventId: string): string {
  const at = html.indexOf(`${eventId}</span>`);
  return at === -1 ? '' : html.slice(at, html.indexOf('</tr>', at));
}
function linkTo(html: string, text: string): string | null {
  const href = new RegExp(`<a class="button secondary" href="([^"]+)">${text}</a>`).exec(html)?.[1];
  return href ? href.replace(/&amp;/g, '&') : null;
}

describe('the dashboard’s events and webhooks', { timeout: 120_000 }, () => {
  let gh: TestGatehouse;
  let receiver: WebhookReceiver;

  before(async () => {
    receiver = await startReceiver();
    gh = await startGatehouse({
      env: { GATEHOUSE_WEBHOOK_ALLOW_PRIVATE: '127.0.0.1' },
      webhooks: { pollMs: 20, retryDelaysMs: [100, 100, 100, 100, 100] },
    });
  });
  after(async () => {
    await gh?.close();
    await receiver?.close();
  });

  /** The latest events of these names (comma-separated), newest first, through GET /events. */
  async function latestEvents(names: string, limit: number): Promise<{ id: string; data: unknown }[]> {
    const res = await gh.api('GET', `/events?events=${names}&limit=${limit}&order=desc`);
    assert.equal(res.status, 200);
    return res.body.data;
  }

  async function signedIn(): Promise<{ browser: TestBrowser; csrf: string }> {
    const link = await createOperatorLink(
      { store: gh.store, publicUrl: gh.url, now: () => new Date() },
      'invite',
      { email: `ops-${randomBytes(4).toString('hex')}@example.com` },
    );
    const browser = new TestBrowser();
    const html = await (await browser.request(link)).text();
    const token = /name="token" value="([^"]+)"/.exec(html)?.[1] ?? '';
    assert.equal((await browser.request(`${gh.url}/dashboard/welcome`, { form: { token } })).status, 303);
    const page = await (await browser.request(`${gh.url}/dashboard/webhooks`)).text();
    return { browser, csrf: /name="csrf" value="([^"]+)"/.exec(page)?.[1] ?? '' };
  }

  it('EVENT_NAMES is the table of docs/events-webhooks.md, both ways', async () => {
    const doc = await readFile(new URL('../../docs/events-webhooks.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('### The events'), doc.indexOf('### Sign-in events'));
    const documented = [...section.matchAll(/^\| `([a-z_.]+)` /gm)].map((m) => m[1]);
    assert.deepEqual([...documented].sort(), [...EVENT_NAMES].sort());
  });

  it('events are listed after changes, newest first, with their data escaped; filters by name and organization', async () => {
    const { browser, csrf } = await signedIn();
    const name = `Evented <img src=x onerror=alert(1)> ${randomBytes(3).toString('hex')}`;
    assert.equal(
      (await browser.request(`${gh.url}/dashboard/organizations`, { form: { csrf, name } })).status,
      303,
    );
    const org = (await gh.workos.organizations.listOrganizations({ limit: 1 })).data[0];
    assert.equal(org?.name, name);
    const renamed = await gh.api('PUT', `/organizations/${org?.id}`, { name: `${name} renamed` });
    assert.equal(renamed.status, 200);

    const html = await (await browser.request(`${gh.url}/dashboard/events`)).text();
    const newest = await latestEvents('organization.updated,organization.created', 2);
    assert.deepEqual(
      eventIds(html).slice(0, 2),
      newest.map((e) => e.id),
    );
    // Each event's data, pretty-printed JSON, escaped.
    assert.ok(html.includes(escaped(JSON.stringify(name))), 'the name in the data, escaped');
    assert.ok(html.includes(escaped(`"id": "${org?.id}"`)));
    assert.ok(!html.includes('<img src=x'), 'nothing runs');

    const created = await (
      await browser.request(`${gh.url}/dashboard/events?event=organization.created`)
    ).text();
    assert.match(created, /<option value="organization.created" selected>/);
    assert.ok(created.includes(escaped(JSON.stringify(name))));
    assert.ok(!created.includes('<code>organization.updated</code>'));
    const mine = await (
      await browser.request(`${gh.url}/dashboard/events?organization_id=${org?.id}`)
    ).text();
    assert.deepEqual(eventIds(mine).length, 2);
    const refused = await browser.request(`${gh.url}/dashboard/events?event=%3Cscript%3E`);
    assert.equal(refused.status, 422);
    const text = await refused.text();
    assert.match(text, /events must be event names/);
    assert.ok(!text.includes('<script>'));
  });

  it('events: 25 a page, Older and Newer keep the filter', async () => {
    const { browser } = await signedIn();
    for (let i = 0; i < 30; i++) await gh.workos.organizations.createOrganization({ name: `Paged ${i}` });
    const all = (await latestEvents('organization.created', 100)).map((e) => e.id);
    const first = await (
      await browser.request(`${gh.url}/dashboard/events?event=organization.created`)
    ).text();
    assert.deepEqual(eventIds(first), all.slice(0, 25));
    assert.equal(linkTo(first, 'Newer'), null);
    const older = linkTo(first, 'Older') ?? '';
    assert.match(older, /event=organization.created/);
    const second = await (await browser.request(`${gh.url}${older}`)).text();
    assert.deepEqual(eventIds(second), all.slice(25, 50));
    const back = await (await browser.request(`${gh.url}${linkTo(second, 'Newer')}`)).text();
    assert.deepEqual(eventIds(back), all.slice(0, 25));
  });

  it('a webhook endpoint created from the page: its secret shown once and signing; a delivery and its attempt on the page', async () => {
    const { browser, csrf } = await signedIn();
    const url = `${receiver.url}/hooks?from=dashboard`;
    const res = await browser.request(`${gh.url}/dashboard/webhooks`, {
      form: {
        csrf,
        endpoint_url: url,
        'event:organization.created': 'on',
        'event:connection.activated': 'on',
      },
    });
    assert.equal(res.status, 201);
    const html = await res.text();
    const secret = /id="v-secret" type="text" readonly value="([^"]+)"/.exec(html)?.[1] ?? '';
    assert.ok(secret.length >= 40, html);
    const endpoint = (await gh.workos.webhooks.listWebhookEndpoints()).data.find(
      (e) => e.endpointUrl === url,
    );
    assert.ok(endpoint);
    assert.deepEqual(endpoint.events, ['connection.activated', 'organization.created']);
    // Shown once: the list never shows it.
    const list = await (await browser.request(`${gh.url}/dashboard/webhooks`)).text();
    assert.ok(list.includes(escaped(url)));
    assert.ok(!list.includes(secret));

    const before = receiver.received.length;
    const org = await gh.workos.organizations.createOrganization({ name: 'Delivered Co' });
    const [received] = (await receiver.waitFor(before + 1)).slice(before);
    assert.ok(received);
    assert.equal(received.path, '/hooks?from=dashboard');
    // The secret on the page is the one that signs.
    const event = await sdk.webhooks.constructEvent({
      payload: received.body,
      sigHeader: String(received.headers['workos-signature']),
      secret,
    });
    assert.equal(event.event, 'organization.created');
    assert.equal((event.data as { id: string }).id, org.id);

    // The attempt, as the page shows it: succeeded, HTTP 200, its latency.
    let page = '';
    for (let i = 0; i < 100; i++) {
      page = await (await browser.request(`${gh.url}/dashboard/webhooks`)).text();
      if (/delivery-succeeded/.test(rowOf(page, event.id))) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const row = rowOf(page, event.id);
    assert.match(row, /delivery-succeeded">succeeded</);
    assert.match(row, /· succeeded · HTTP 200 · \d+ ms<\/li>/);

    // A failing receiver: the attempt's response code and error word.
    receiver.answer = (_r, _i, out) => {
      out.writeHead(503);
      out.end('down');
    };
    try {
      const n = receiver.received.length;
      const failing = await gh.workos.organizations.createOrganization({ name: 'Refused Co' });
      await receiver.waitFor(n + 1);
      const [latest] = await latestEvents('organization.created', 1);
      assert.ok(latest);
      assert.equal((latest.data as { id: string }).id, failing.id);
      const attempt = /· failed · HTTP 503 · \d+ ms · <code>status<\/code>/;
      for (let i = 0; i < 100; i++) {
        page = await (await browser.request(`${gh.url}/dashboard/webhooks`)).text();
        if (attempt.test(rowOf(page, latest.id))) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.match(rowOf(page, latest.id), attempt);
    } finally {
      receiver.answer = (_r, _i, out) => {
        out.writeHead(200);
        out.end('ok');
      };
    }
  });

  it('disable, enable and delete (after a confirmation) through the API’s functions; each in the audit log', async () => {
    const { browser, csrf } = await signedIn();
    const hook = await gh.api('POST', '/webhook_endpoints', {
      endpoint_url: `${receiver.url}/toggled`,
      events: ['organization.deleted'],
    });
    const id = hook.body.id as string;
    const status = async () => (await gh.api('GET', `/webhook_endpoints/${id}`)).body.status;
    const off = await browser.request(`${gh.url}/dashboard/webhooks/${id}/status`, {
      form: { csrf, status: 'disabled' },
    });
    assert.equal(off.status, 303);
    assert.equal(await status(), 'disabled');
    assert.equal(
      (
        await browser.request(`${gh.url}/dashboard/webhooks/${id}/status`, {
          form: { csrf, status: 'enabled' },
        })
      ).status,
      303,
    );
    assert.equal(await status(), 'enabled');
    const bad = await browser.request(`${gh.url}/dashboard/webhooks/${id}/status`, {
      form: { csrf, status: 'paused' },
    });
    assert.equal(bad.status, 422);
    assert.equal(await status(), 'enabled');

    const ask = await browser.request(`${gh.url}/dashboard/webhooks/${id}/delete`, { form: { csrf } });
    assert.equal(ask.status, 200);
    assert.equal(heading(await ask.text()), 'Delete the webhook endpoint?');
    assert.equal(await status(), 'enabled', 'nothing deleted before the confirmation');
    const gone = await browser.request(`${gh.url}/dashboard/webhooks/${id}/delete`, {
      form: { csrf, confirm: 'yes' },
    });
    assert.equal(gone.status, 303);
    assert.equal((await gh.api('GET', `/webhook_endpoints/${id}`)).status, 404);
    const again = await browser.request(`${gh.url}/dashboard/webhooks/${id}/delete`, {
      form: { csrf, confirm: 'yes' },
    });
    assert.equal(again.status, 404);

    const audit = (await gh.store.listAudit({ targetId: id }, { limit: 10, order: 'asc' })).data.map(
      (a) => a.action,
    );
    assert.deepEqual(audit, [
      'webhook_endpoint.disable',
      'webhook_endpoint.enable',
      'webhook_endpoint.delete',
    ]);
    const created = (await gh.store.listAudit({}, { limit: 100, order: 'desc' })).data.find(
      (a) => a.action === 'webhook_endpoint.create',
    );
    assert.ok(created, 'the create of the test before');
    assert.ok(!JSON.stringify(created.detail).includes('secret'));
  });

  it('an endpoint the API refuses (private address, no event, not a URL): 422 with its words, nothing created', async () => {
    const { browser, csrf } = await signedIn();
    const count = async () => (await gh.api('GET', '/webhook_endpoints?limit=100')).body.data.length;
    const before = await count();
    for (const [form, words] of [
      [
        { endpoint_url: 'https://10.0.0.1/hook', 'event:organization.created': 'on' },
        'endpoint_url must be an https URL of a public address',
      ],
      [{ endpoint_url: `${receiver.url}/none` }, 'events is required'],
      [
        { endpoint_url: 'javascript:alert(1)', 'event:organization.created': 'on' },
        'endpoint_url must be an https URL of a public address',
      ],
    ] as const) {
      const res = await browser.request(`${gh.url}/dashboard/webhooks`, { form: { csrf, ...form } });
      assert.equal(res.status, 422, JSON.stringify(form));
      const html = await res.text();
      assert.ok(
        html.includes(words),
        `${words}\n${html.slice(html.indexOf('Not added'), html.indexOf('Not added') + 300)}`,
      );
      // The form keeps what was typed.
      assert.ok(html.includes(`value="${escaped(form.endpoint_url)}"`));
    }
    assert.equal(await count(), before);
  });

  it('CSRF on every form: missing, wrong or another session’s token → 403, nothing changed', async () => {
    const a = await signedIn();
    const b = await signedIn();
    const hook = await gh.api('POST', '/webhook_endpoints', {
      endpoint_url: `${receiver.url}/csrf`,
      events: ['organization.created'],
    });
    const id = hook.body.id as string;
    const endpoints = async () => (await gh.api('GET', '/webhook_endpoints?limit=100')).body.data.length;
    const before = await endpoints();
    const audit = (await gh.store.listAudit({}, { limit: 100, order: 'desc' })).data.length;
    for (const [path, form] of [
      ['/dashboard/webhooks', { endpoint_url: `${receiver.url}/forged`, 'event:organization.created': 'on' }],
      [`/dashboard/webhooks/${id}/status`, { status: 'disabled' }],
      [`/dashboard/webhooks/${id}/delete`, { confirm: 'yes' }],
    ] as const) {
      for (const csrf of [undefined, 'wrong', b.csrf]) {
        const res = await a.browser.request(`${gh.url}${path}`, {
          form: { ...(csrf === undefined ? {} : { csrf }), ...form },
        });
        assert.equal(res.status, 403, `${path} ${csrf}`);
        assert.equal(heading(await res.text()), 'This form has expired');
      }
    }
    assert.equal(await endpoints(), before);
    assert.equal((await gh.api('GET', `/webhook_endpoints/${id}`)).body.status, 'enabled');
    assert.equal((await gh.store.listAudit({}, { limit: 100, order: 'desc' })).data.length, audit);
  });

  it('every page and form refuses an anonymous request and the API key: 401, no data', async () => {
    const hook = await gh.api('POST', '/webhook_endpoints', {
      endpoint_url: `${receiver.url}/anon`,
      events: ['organization.created'],
    });
    const id = hook.body.id as string;
    for (const path of [
      '/dashboard/events',
      '/dashboard/events?event=organization.created',
      '/dashboard/webhooks',
    ]) {
      for (const headers of [{}, { authorization: `Bearer ${gh.apiKey}` }] as Record<string, string>[]) {
        const res = await fetch(`${gh.url}${path}`, { headers, redirect: 'manual' });
        assert.equal(res.status, 401, path);
        const html = await res.text();
        assert.equal(heading(html), 'Sign in to the dashboard');
        assert.ok(!html.includes('event_') && !html.includes(id));
      }
    }
    for (const [path, body] of [
      [
        '/dashboard/webhooks',
        `endpoint_url=${encodeURIComponent(`${receiver.url}/sneaky`)}&event:organization.created=on`,
      ],
      [`/dashboard/webhooks/${id}/status`, 'status=disabled'],
      [`/dashboard/webhooks/${id}/delete`, 'confirm=yes'],
    ] as const) {
      const res = await fetch(`${gh.url}${path}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${gh.apiKey}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body,
      });
      assert.equal(res.status, 401, path);
    }
    const after = await gh.api('GET', '/webhook_endpoints?limit=100');
    assert.ok(!after.body.data.some((e: { endpoint_url: string }) => e.endpoint_url.endsWith('/sneaky')));
    assert.equal((await gh.api('GET', `/webhook_endpoints/${id}`)).body.status, 'enabled');
  });
});
