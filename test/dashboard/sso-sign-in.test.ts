import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createOperatorLink } from '../../src/dashboard/dashboard.ts';
import { consentForm, TestBrowser } from '../helpers/browser.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { connectOidcIdp, type TestIdp } from '../helpers/oidc-idp.ts';

/**
 * Operators sign in through Gatehouse's own single sign-on (issue 13, dashboard/sso-sign-in.ts): an operator marks
 * the operators' organization; the sign-in page then runs a real sign-in through that organization's connection
 * (oidc-provider), through the consent screen, to the dashboard's own callback, and the operator is in. Refusals:
 * not an operator (unless creation is on), disabled, a callback from another browser (login CSRF), a stale form,
 * no connection on, the setting changed mid-way; every sign-in in the session log and the audit log.
 */

function csrfOf(html: string): string {
  return /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
}
/** The sign-in page's "Sign in with single sign-on" link (its CSRF token in the query). */
function startLinkOf(html: string): string {
  return (/href="([^"]*\/dashboard\/sso\/start\?csrf=[^"]+)"/.exec(html)?.[1] ?? '').replaceAll('&amp;', '&');
}
function heading(html: string): string {
  return /<h1>([^<]*)/.exec(html)?.[1]?.trim() ?? '';
}
function errorCode(html: string): string {
  return /Error <code>([^<]+)<\/code>/.exec(html)?.[1] ?? '';
}

describe('operators sign in through Gatehouse’s own single sign-on', { timeout: 120_000 }, () => {
  let gh: TestGatehouse;
  let idp: TestIdp;
  let orgId: string;
  let connectionId: string;
  let admin: { browser: TestBrowser; csrf: string };

  before(async () => {
    gh = await startGatehouse();
    ({ idp, orgId, connectionId } = await connectOidcIdp(gh));
    admin = await linkSignIn(`admin-${randomBytes(3).toString('hex')}@example.com`);
  });
  after(async () => {
    await gh?.close();
    await idp?.close();
  });

  async function linkSignIn(email: string): Promise<{ browser: TestBrowser; csrf: string }> {
    const link = await createOperatorLink(
      { store: gh.store, publicUrl: gh.url, now: () => new Date() },
      'invite',
      {
        email,
      },
    );
    const browser = new TestBrowser();
    const html = await (await browser.request(link)).text();
    const token = /name="token" value="([^"]+)"/.exec(html)?.[1] ?? '';
    assert.equal((await browser.request(`${gh.url}/dashboard/welcome`, { form: { token } })).status, 303);
    const page = await browser.request(`${gh.url}/dashboard/operators`);
    assert.equal(page.status, 200);
    return { browser, csrf: csrfOf(await page.text()) };
  }

  async function setSso(organizationId: string, create: boolean): Promise<Response> {
    return admin.browser.request(`${gh.url}/dashboard/operators/sso`, {
      form: {
        csrf: admin.csrf,
        organization_id: organizationId,
        ...(create ? { create_operators: 'on' } : {}),
      },
    });
  }

  /** Opens the sign-in page and presses the button: the redirect to the IdP. */
  async function start(browser: TestBrowser): Promise<Response> {
    const page = await browser.request(`${gh.url}/dashboard/sign_in`);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /Sign in with single sign-on/);
    return browser.request(`${gh.url}${startLinkOf(html)}`);
  }

  /** The whole sign-in as `login` at the IdP, through the consent screen, up to the dashboard's callback URL. */
  async function toCallback(browser: TestBrowser, login: string): Promise<URL> {
    const started = await start(browser);
    assert.equal(started.status, 302);
    const location = started.headers.get('location') ?? '';
    assert.ok(location.startsWith(idp.issuer), location);
    const callback = `${gh.url}/dashboard/sso/callback`;
    const atConsent = await browser.signInAtIdp(location, login, idp.issuer, callback);
    const approved = await browser.request(`${gh.url}/sso/consent`, {
      form: { consent_token: consentForm(await atConsent.res.text()).token, decision: 'approve' },
      headers: { origin: gh.url },
    });
    assert.equal(approved.status, 303);
    const back = new URL(approved.headers.get('location') ?? '');
    assert.equal(`${back.origin}${back.pathname}`, callback);
    return back;
  }

  it('without an operators’ organization: the sign-in page offers links only, and its form post says so', async () => {
    const browser = new TestBrowser();
    const page = await browser.request(`${gh.url}/dashboard/sign_in`);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.doesNotMatch(html, /Sign in with single sign-on/);
    assert.match(html, /not set up on this Gatehouse/);
    const posted = await browser.request(`${gh.url}/dashboard/sso/start?csrf=anything`);
    assert.equal(posted.status, 403);
    assert.match(await posted.text(), /This sign-in button has expired/);
    // The 401 page of every dashboard page links to it.
    assert.match(await (await fetch(`${gh.url}/dashboard/overview`)).text(), /href="\/dashboard\/sign_in"/);
  });

  it('the Operators page marks the operators’ organization (audited); an unknown organization is refused', async () => {
    const unknown = await setSso('org_01NOTANORGANIZATION00000', false);
    assert.equal(unknown.status, 422);
    assert.match(await unknown.text(), /There is no organization org_01NOTANORGANIZATION00000/);
    assert.equal(await gh.store.getSetting('dashboard.sso_organization_id'), null);
    const saved = await setSso(orgId, false);
    assert.equal(saved.status, 200);
    const html = await saved.text();
    assert.match(html, /<strong>Saved\.<\/strong>/);
    assert.match(html, /Now: <strong>Acme<\/strong>, for operators who already exist/);
    const audit = (await gh.store.listAudit({ targetId: orgId }, { limit: 10, order: 'desc' })).data[0];
    assert.equal(audit?.action, 'dashboard.sso_settings');
    assert.deepEqual(audit?.detail, { organization_id: orgId, create_operators: false });
  });

  it('an IdP user who is not an operator is refused (creation off); with creation on the same sign-in makes them one and signs them in', async () => {
    await setSso(orgId, false);
    const browser = new TestBrowser();
    const refused = await browser.request(await toCallback(browser, 'grace'));
    assert.equal(refused.status, 403);
    const refusedHtml = await refused.text();
    assert.equal(heading(refusedHtml), 'You are not an operator yet');
    assert.equal(errorCode(refusedHtml), 'dashboard_sso_not_an_operator');
    assert.match(refusedHtml, /signed you in as grace@acme\.com/);
    assert.equal(await gh.store.getOperatorByEmail('grace@acme.com'), null);
    assert.equal((await browser.request(`${gh.url}/dashboard/overview`)).status, 401);

    await setSso(orgId, true);
    const callback = await toCallback(browser, 'grace');
    const done = await browser.request(callback);
    assert.equal(done.status, 200);
    const html = await done.text();
    assert.equal(heading(html), 'Signed in');
    assert.match(html, /<meta http-equiv="refresh" content="0; url=\/dashboard\/overview">/);
    const cookies = done.headers.getSetCookie();
    assert.ok(
      cookies.some((c) => /^gatehouse_dashboard=[^;]+; Path=\/dashboard\/; .*SameSite=Strict$/.test(c)),
    );
    assert.ok(
      cookies.some((c) => /^gatehouse_dashboard_sign_in=; .*Max-Age=0/.test(c)),
      'the sign-in cookie ends',
    );
    const overview = await browser.request(`${gh.url}/dashboard/overview`);
    assert.equal(overview.status, 200);
    assert.match(await overview.text(), /grace@acme\.com/);
    const operator = await gh.store.getOperatorByEmail('grace@acme.com');
    assert.ok(operator);
    const audit = (await gh.store.listAudit({ targetId: operator.id }, { limit: 10, order: 'asc' })).data;
    assert.deepEqual(
      audit.map((a) => [a.action, a.detail.via, a.detail.connection_id]),
      [
        ['operator.create', 'sso', connectionId],
        ['operator.sign_in', 'sso', connectionId],
      ],
    );
    // Dog-fooding: the session log has it like any app's sign-in, ending at the dashboard's callback.
    const logged = (await gh.store.listSessions({ connectionId }, { limit: 20, order: 'desc' })).data.find(
      (s) => s.authorizeRequestId === audit[1]?.detail.authorize_request_id,
    );
    assert.equal(logged?.outcome, 'succeeded');
    assert.equal(logged?.redirectUri, `${gh.url}/dashboard/sso/callback`);
    // The code was redeemed: the callback URL a second time signs nobody in.
    const replay = await new TestBrowser().request(callback);
    assert.equal(replay.status, 400);
    assert.equal(errorCode(await replay.text()), 'dashboard_sso_state_invalid');
  });

  it('login CSRF: a callback URL from the attacker’s own sign-in, opened in the victim’s browser, signs the victim in as nobody', async () => {
    await setSso(orgId, true);
    const attacker = new TestBrowser();
    const planted = await toCallback(attacker, 'mallory');
    const victim = new TestBrowser();
    // The victim has a sign-in of their own in progress (a sign-in cookie): it is not the one the state names.
    await start(victim);
    const res = await victim.request(planted);
    assert.equal(res.status, 400);
    assert.equal(errorCode(await res.text()), 'dashboard_sso_state_invalid');
    assert.equal((await victim.request(`${gh.url}/dashboard/overview`)).status, 401);
    assert.equal(await gh.store.getOperatorByEmail('mallory@acme.com'), null);
  });

  it('a disabled operator is refused, and the IdP’s error comes back as a page naming the session log', async () => {
    await setSso(orgId, true);
    const email = 'linus@acme.com';
    const operator = await gh.store.createOperator({
      id: `op_${randomBytes(8).toString('hex')}`,
      email,
      name: null,
    });
    await gh.store.updateOperator(operator.id, { disabledAt: new Date() });
    const browser = new TestBrowser();
    const res = await browser.request(await toCallback(browser, 'linus'));
    assert.equal(res.status, 403);
    assert.equal(errorCode(await res.text()), 'dashboard_operator_disabled');

    // The IdP answers access_denied: Gatehouse's callback redirects the error to the dashboard's callback.
    const started = await start(browser);
    const toIdp = new URL(started.headers.get('location') ?? '');
    const callback = new URL(toIdp.searchParams.get('redirect_uri') ?? '');
    callback.searchParams.set('error', 'access_denied');
    callback.searchParams.set('state', toIdp.searchParams.get('state') ?? '');
    callback.searchParams.set('iss', idp.issuer);
    const back = await browser.request(callback);
    assert.equal(back.status, 302);
    const failed = await browser.request(back.headers.get('location') ?? '');
    assert.equal(failed.status, 400);
    const html = await failed.text();
    assert.equal(heading(html), 'Single sign-on failed');
    assert.equal(errorCode(html), 'dashboard_sso_access_denied');
    assert.match(html, /under request req_[0-9A-Z]{26}/);
  });

  it('the setting changed between start and callback: the profile’s connection is not the operators’ organization’s → refused', async () => {
    await setSso(orgId, true);
    const browser = new TestBrowser();
    const callback = await toCallback(browser, 'hopper');
    const other = await gh.api('POST', '/organizations', { name: 'Other' });
    await setSso(other.body.id, true);
    const res = await browser.request(callback);
    assert.equal(res.status, 403);
    assert.equal(errorCode(await res.text()), 'dashboard_sso_wrong_organization');
    assert.equal(await gh.store.getOperatorByEmail('hopper@acme.com'), null);
    // That organization has no connection: the sign-in cannot start, and the page says why.
    const page = await browser.request(`${gh.url}/dashboard/sign_in`);
    const refused = await browser.request(`${gh.url}${startLinkOf(await page.text())}`);
    assert.equal(refused.status, 409);
    assert.match(await refused.text(), /has no connection that is on \(organization_without_connection\)/);
    await setSso(orgId, true);
  });

  it('the settings form needs the session and its CSRF token; anonymous and API-key requests change nothing', async () => {
    const before = await gh.store.getSetting('dashboard.sso_organization_id');
    const anonymous = await fetch(`${gh.url}/dashboard/operators/sso`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gh.apiKey}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'organization_id=&create_operators=on',
    });
    assert.equal(anonymous.status, 401);
    const forged = await admin.browser.request(`${gh.url}/dashboard/operators/sso`, {
      form: { csrf: 'wrong', organization_id: '' },
    });
    assert.equal(forged.status, 403);
    assert.equal(await gh.store.getSetting('dashboard.sso_organization_id'), before);
  });
});
