import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createOperatorLink } from '../../src/dashboard/dashboard.ts';
import { firstIdAt, newId, ulid } from '../../src/lib/ids.ts';
import type { SsoSessionRecord } from '../../src/storage/store.ts';
import { TestBrowser } from '../helpers/browser.ts';
import { freePort, startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { type IdpMiddleware, startIdp, type TestIdp } from '../helpers/oidc-idp.ts';

/**
 * The dashboard's session log (issue 13): real OIDC sign-ins against oidc-provider that fail at the IdP, found by
 * the request ID the browser saw and read with their explanation and fix; the filters and the store's pagination;
 * what the IdP said (its error text, its user's attributes) rendered inert; anonymous requests refused.
 */

const APP = 'http://localhost:3000/callback';
const XSS = '<script>alert("idp")</script><img src=x onerror=alert(1)>';

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
/** The session IDs a session log page lists, in order. */
function listed(html: string): string[] {
  return [...html.matchAll(/href="\/dashboard\/sessions\/(sess_[0-9A-Z]+)"/g)].map((m) => m[1] as string);
}
/** The href of a link with this text (entities decoded as a browser would). */
function linkTo(html: string, text: string): string | null {
  const href = new RegExp(`<a class="button secondary" href="([^"]+)">${text}</a>`).exec(html)?.[1];
  return href ? href.replace(/&amp;/g, '&') : null;
}

describe('the dashboard’s session log', { timeout: 120_000 }, () => {
  let gh: TestGatehouse;
  let idp: TestIdp;
  let connection: { id: string; callback: string };
  let orgId: string;
  /** When set, the IdP answers its next authorization request with this error (as a real IdP redirects one). */
  let idpError: Record<string, string> | null = null;

  before(async () => {
    gh = await startGatehouse({ env: { GATEHOUSE_SIGNIN_CONSENT: 'off' } });
    assert.equal((await gh.api('POST', '/redirect_uris', { uri: APP })).status, 201);
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const org = await gh.api('POST', '/organizations', {
      name: 'Acme <b>Corp</b>',
      domain_data: [{ domain: 'acme.com', state: 'verified' }],
    });
    orgId = org.body.id;
    const conn = await gh.api('POST', '/connections', {
      organization_id: orgId,
      connection_type: 'OktaOIDC',
      name: 'Acme Okta',
      oidc_options: {
        issuer,
        client_id: 'gatehouse-test-client',
        client_secret: 'gatehouse-test-secret-0123456789abcdef',
      },
    });
    assert.equal(conn.status, 201, JSON.stringify(conn.body));
    connection = { id: conn.body.id, callback: conn.body.oidc_options.redirect_uri };
    const failing: IdpMiddleware = async (ctx, next) => {
      if (ctx.path === '/auth' && idpError) {
        const back = new URL(String(ctx.query.redirect_uri));
        for (const [k, v] of Object.entries({ ...idpError, state: String(ctx.query.state), iss: issuer }))
          back.searchParams.set(k, v);
        idpError = null;
        ctx.status = 303;
        ctx.redirect(back.href);
        return;
      }
      await next();
    };
    idp = await startIdp({ port, redirectUris: [connection.callback], middleware: failing });
  });
  after(async () => {
    await gh?.close();
    await idp?.close();
  });

  async function signedIn(): Promise<{ browser: TestBrowser; csrf: string }> {
    const link = await createOperatorLink(
      { store: gh.store, publicUrl: gh.url, now: () => new Date() },
      'invite',
      { email: `ops-${randomBytes(4).toString('hex')}@example.com` },
    );
    const browser = new TestBrowser();
    const html = await (await browser.request(link)).text();
    const token = /name="token" value="([^"]+)"/.exec(html)?.[1] ?? '';
    const res = await browser.request(`${gh.url}/dashboard/welcome`, { form: { token } });
    assert.equal(res.status, 303);
    const page = await (await browser.request(`${gh.url}/dashboard/sessions`)).text();
    return { browser, csrf: /name="csrf" value="([^"]+)"/.exec(page)?.[1] ?? '' };
  }

  function authorizeUrl(state: string): string {
    return gh.workos.sso.getAuthorizationUrl({
      clientId: gh.clientId,
      redirectUri: APP,
      connection: connection.id,
      state,
    });
  }

  /** A sign-in the IdP ends with an error: the authorize and callback request IDs the browser saw. */
  async function failingSignIn(error: Record<string, string>) {
    const browser = new TestBrowser();
    const authorize = await browser.request(authorizeUrl('app-state'));
    assert.equal(authorize.status, 302);
    idpError = error;
    const back = await browser.follow(authorize.headers.get('location') ?? '', APP);
    assert.ok(back.url.href.startsWith(connection.callback), back.url.href);
    assert.equal(back.res.status, 302);
    assert.ok((back.res.headers.get('location') ?? '').startsWith(`${APP}?error=`));
    return {
      authorize: authorize.headers.get('x-request-id') ?? '',
      callback: back.res.headers.get('x-request-id') ?? '',
    };
  }

  it('a sign-in the IdP refuses: found by the callback’s request ID, its stages, reason, explanation and fix', async () => {
    const ids = await failingSignIn({
      error: 'access_denied',
      error_description: 'User is not assigned to the client application.',
    });
    const { browser } = await signedIn();
    const found = await browser.request(
      `${gh.url}/dashboard/sessions?${new URLSearchParams({ request_id: ids.callback })}`,
    );
    assert.equal(found.status, 303);
    const location = found.headers.get('location') ?? '';
    assert.match(location, /^\/dashboard\/sessions\/sess_[0-9A-Z]{26}$/);
    // The authorize request's ID finds the same attempt.
    const byAuthorize = await browser.request(`${gh.url}/dashboard/sessions?request_id=${ids.authorize}`);
    assert.equal(byAuthorize.headers.get('location'), location);

    const detail = await browser.request(`${gh.url}${location}`);
    assert.equal(detail.status, 200);
    const html = await detail.text();
    // What the management API says about it, rendered: the one explanations table.
    const api = (await gh.api('GET', `/sso/sessions?request_id=${ids.callback}`)).body.data[0];
    assert.equal(api.reason, 'upstream_user_not_assigned');
    assert.ok(html.includes(escaped(api.explanation)), 'the explanation');
    assert.ok(html.includes(escaped(api.fix)), 'the fix');
    assert.match(html, /In the Okta Admin Console/);
    assert.match(html, /<code>upstream_user_not_assigned<\/code>/);
    assert.match(html, /<code>error=access_denied<\/code>/);
    assert.ok(
      html.includes(`For ${escaped("the customer's IT admin, who configures the identity provider")}.`),
    );
    for (const stage of ['authorize', 'upstream_redirect', 'callback', 'failed'])
      assert.ok(html.includes(`<code>${stage}</code>`), stage);
    assert.ok(html.includes(ids.callback) && html.includes(ids.authorize), 'its request IDs');
    assert.ok(html.includes('User is not assigned to the client application.'), 'what the IdP said');
    // Its connection and organization, by name, linked; the organization's name escaped.
    assert.ok(html.includes(`href="/dashboard/connections/${connection.id}">Acme Okta</a>`));
    assert.ok(html.includes(`href="/dashboard/organizations/${orgId}">Acme &lt;b&gt;Corp&lt;/b&gt;</a>`));
  });

  it('the IdP’s error text and a huge value render inert and cut; nothing runs', async () => {
    const long = `AADSTS50000 ${'x'.repeat(5000)}`;
    const ids = await failingSignIn({ error: 'weird_vendor_error', error_description: XSS, error_uri: long });
    const { browser } = await signedIn();
    const found = await browser.request(`${gh.url}/dashboard/sessions?request_id=${ids.callback}`);
    const html = await (await browser.request(`${gh.url}${found.headers.get('location')}`)).text();
    assert.ok(html.includes(escaped(XSS)), 'shown, escaped');
    assert.ok(!html.includes('<script>alert'), 'no script');
    assert.ok(!html.includes('<img src=x'), 'no element');
    assert.ok(html.includes(`AADSTS50000 ${'x'.repeat(988)}… (4012 more characters)`), 'cut at 1000');
    assert.ok(!html.includes('x'.repeat(1001)));
  });

  it('the IdP’s attribute values (a user whose login and email hold markup) render inert', async () => {
    const login = '"><svg onload=alert(2)>@acme.com';
    const browser = new TestBrowser();
    const done = await browser.signInAtIdp(authorizeUrl('xss-user'), login, idp.issuer, APP);
    assert.equal(done.res.status, 302);
    const requestId = done.res.headers.get('x-request-id') ?? '';
    const api = (await gh.api('GET', `/sso/sessions?request_id=${requestId}`)).body.data[0];
    assert.equal(api.email, login.toLowerCase());
    const ops = await signedIn();
    const list = await (
      await ops.browser.request(`${gh.url}/dashboard/sessions?connection_id=${connection.id}`)
    ).text();
    const detail = await (await ops.browser.request(`${gh.url}/dashboard/sessions/${api.id}`)).text();
    for (const html of [list, detail]) {
      assert.ok(html.includes(escaped(api.email)), 'shown, escaped');
      assert.ok(!html.includes('<svg'), 'no element');
    }
    assert.ok(detail.includes(escaped(api.idp_id)));
  });

  it('a request ID with no attempt: 404 and what has none; a session ID goes straight to it', async () => {
    const { browser } = await signedIn();
    const missing = await browser.request(`${gh.url}/dashboard/sessions?request_id=req_${ulid()}`);
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /No sign-in attempt has the request ID/);
    const hostile = await browser.request(
      `${gh.url}/dashboard/sessions?${new URLSearchParams({ request_id: XSS })}`,
    );
    assert.equal(hostile.status, 404);
    assert.ok(!(await hostile.text()).includes('<script>alert'));
    const id = newId('sess');
    const byId = await browser.request(`${gh.url}/dashboard/sessions?request_id=${id}`);
    assert.equal(byId.headers.get('location'), `/dashboard/sessions/${id}`);
    const unknown = await browser.request(`${gh.url}/dashboard/sessions/${id}`);
    assert.equal(unknown.status, 404);
    assert.equal(heading(await unknown.text()), 'Sign-in attempt not found');
  });

  describe('filters and pages', () => {
    const conn = newId('conn');
    const t0 = Date.UTC(2031, 4, 1, 12, 0);
    const records: SsoSessionRecord[] = [];

    before(async () => {
      // 40 attempts of one connection, a minute apart: every 4th failed at the IdP, every 10th timed out.
      for (let i = 0; i < 40; i++) {
        const failed = i % 4 === 0;
        const timedOut = i % 10 === 5;
        records.push(
          await gh.store.createSession({
            id: `${firstIdAt('sess', new Date(t0 + i * 60_000))}${randomBytes(8).toString('hex').toUpperCase()}`,
            clientId: gh.clientId,
            connectionId: conn,
            organizationId: null,
            connectionType: 'OktaOIDC',
            redirectUri: APP,
            outcome: failed ? 'failed' : timedOut ? 'timed_out' : 'succeeded',
            failedStage: failed
              ? i < 20
                ? 'upstream_error'
                : 'token_exchange'
              : timedOut
                ? 'abandoned_at_idp'
                : null,
            reason: failed ? 'upstream_denied' : null,
            wireCode: failed ? 'access_denied' : null,
            upstreamError: null,
            detail: null,
            profileId: null,
            idpId: null,
            email: null,
            authorizeRequestId: `req_${ulid()}`,
            callbackRequestId: null,
            consentRequestId: null,
            stages: {},
            expiresAt: new Date(t0 + i * 60_000 + 600_000),
          }),
        );
      }
    });

    const ids = (indexes: number[]) => indexes.map((i) => records[i]?.id);
    const range = (from: number, to: number, step = 1) =>
      Array.from({ length: Math.floor((from - to) / step) + 1 }, (_, k) => from - k * step).filter(
        (i) => i >= to,
      );

    it('by connection: 25 a page, newest first, Older and Newer keep the filter', async () => {
      const { browser } = await signedIn();
      const first = await (
        await browser.request(`${gh.url}/dashboard/sessions?connection_id=${conn}`)
      ).text();
      assert.deepEqual(listed(first), ids(range(39, 15)));
      assert.equal(linkTo(first, 'Newer'), null);
      const older = linkTo(first, 'Older') ?? '';
      assert.match(older, new RegExp(`connection_id=${conn}`));
      const second = await (await browser.request(`${gh.url}${older}`)).text();
      assert.deepEqual(listed(second), ids(range(14, 0)));
      assert.equal(linkTo(second, 'Older'), null);
      const back = await (await browser.request(`${gh.url}${linkTo(second, 'Newer')}`)).text();
      assert.deepEqual(listed(back), ids(range(39, 15)));
    });

    it('by outcome, failed stage and time (UTC), combined', async () => {
      const { browser } = await signedIn();
      const get = async (params: Record<string, string>) =>
        listed(
          await (
            await browser.request(
              `${gh.url}/dashboard/sessions?${new URLSearchParams({ connection_id: conn, ...params })}`,
            )
          ).text(),
        );
      assert.deepEqual(await get({ outcome: 'failed' }), ids(range(36, 0, 4)));
      assert.deepEqual(await get({ outcome: 'timed_out' }), ids([35, 25, 15, 5]));
      assert.deepEqual(await get({ failed_stage: 'token_exchange' }), ids([36, 32, 28, 24, 20]));
      assert.deepEqual(
        await get({ outcome: 'failed', failed_stage: 'upstream_error' }),
        ids([16, 12, 8, 4, 0]),
      );
      // From 12:10 (included) until 12:20 (excluded), as the form's datetime-local fields send it.
      assert.deepEqual(
        await get({ range_start: '2031-05-01T12:10', range_end: '2031-05-01T12:20' }),
        ids(range(19, 10)),
      );
      assert.deepEqual(
        await get({ range_start: '2031-05-01T12:10', range_end: '2031-05-01T12:20', outcome: 'failed' }),
        ids([16, 12]),
      );
      // The filters stay in the form.
      const html = await (
        await browser.request(`${gh.url}/dashboard/sessions?outcome=timed_out&failed_stage=abandoned_at_idp`)
      ).text();
      assert.match(html, /<option value="timed_out" selected>/);
      assert.match(html, /<option value="abandoned_at_idp" selected>/);
    });

    it('a filter the API refuses: 422 with its words, nothing listed', async () => {
      const { browser } = await signedIn();
      for (const [query, words] of [
        ['outcome=everything', 'outcome must be started, succeeded, failed or timed_out'],
        ['failed_stage=%3Cscript%3E', 'failed_stage must be a stage name, such as upstream_error'],
        ['range_start=yesterday', 'range_start must be an ISO 8601 date-time'],
        ['range_start=2031-05-01T12:20&range_end=2031-05-01T12:10', 'range_end must be after range_start'],
      ] as const) {
        const res = await browser.request(`${gh.url}/dashboard/sessions?connection_id=${conn}&${query}`);
        assert.equal(res.status, 422, query);
        const html = await res.text();
        assert.ok(html.includes(words), `${query}: ${words}`);
        assert.deepEqual(listed(html), []);
        assert.ok(!html.includes('<script>'));
      }
    });
  });

  it('GET /sso/sessions takes the same filters (the dashboard calls its function)', async () => {
    const failed = await gh.api('GET', `/sso/sessions?connection_id=${connection.id}&outcome=failed`);
    assert.equal(failed.status, 200);
    assert.ok(failed.body.data.length >= 2);
    assert.ok(failed.body.data.every((s: { outcome: string }) => s.outcome === 'failed'));
    const stage = await gh.api(
      'GET',
      `/sso/sessions?connection_id=${connection.id}&failed_stage=upstream_error`,
    );
    assert.deepEqual(
      stage.body.data.map((s: { id: string }) => s.id),
      failed.body.data.map((s: { id: string }) => s.id),
    );
    const future = await gh.api('GET', '/sso/sessions?range_start=2100-01-01T00:00:00Z');
    assert.deepEqual(future.body.data, []);
    const bad = await gh.api('GET', '/sso/sessions?outcome=nope&range_end=soon');
    assert.equal(bad.status, 422);
    assert.deepEqual(
      bad.body.errors.map((e: { field: string }) => e.field),
      ['outcome', 'range_end'],
    );
  });

  it('every page refuses an anonymous request and the API key: 401, no data', async () => {
    for (const path of [
      '/dashboard/sessions',
      `/dashboard/sessions?connection_id=${connection.id}`,
      '/dashboard/sessions/sess_x',
    ]) {
      for (const headers of [{}, { authorization: `Bearer ${gh.apiKey}` }] as Record<string, string>[]) {
        const res = await fetch(`${gh.url}${path}`, { headers, redirect: 'manual' });
        assert.equal(res.status, 401, path);
        const html = await res.text();
        assert.equal(heading(html), 'Sign in to the dashboard');
        assert.ok(!html.includes('sess_0') && !html.includes(connection.id));
      }
    }
  });
});
