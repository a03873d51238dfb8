import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { bootstrapLink } from '../../src/dashboard/dashboard.ts';
import { PORTAL_CSP } from '../../src/portal/render.ts';
import { launchChromium } from '../helpers/chromium.ts';
import { freePort, startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { startIdp, type TestIdp } from '../helpers/oidc-idp.ts';

/**
 * The operators' dashboard in a real browser (issue 13's "Done when"): headless Chromium plays the operator. The
 * bootstrap link the first start prints → the welcome form → the overview → an organization created with a domain
 * → its page → its OIDC connection to oidc-provider, created with the page's form (refused once: an issuer with a
 * query; then created) → the connection's page and the redirect URI it shows → a user signed in
 * through the SDK (getAuthorizationUrl, oidc-provider's own login pages, getProfileAndToken) → the attempt in the
 * session log → a sign-in the user cancels at the IdP (oidc-provider answers access_denied), found by the request ID
 * the browser saw, with its fix → the connection deactivated from its page → the other pages.
 *
 * On every page: axe-core (WCAG 2.1 A and AA) finds nothing; the portal's CSP header is there and Chromium reports no
 * CSP violation; no request from a Gatehouse page leaves 127.0.0.1. `UPDATE_SCREENSHOTS=1` writes the screenshots
 * of docs/dashboard.md into docs/images/ (1280 px wide).
 */

const STEP_MS = 15_000;
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1';
const IMAGES = fileURLToPath(new URL('../../docs/images/', import.meta.url));
const AXE_SOURCE = readFileSync(fileURLToPath(import.meta.resolve('axe-core/axe.min.js')), 'utf8');
const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
/** Loopback names: `localhost` is another site than `127.0.0.1` to the browser (SameSite), and still loopback. */
const LOOPBACK = new Set(['127.0.0.1', 'localhost']);

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string; html: string; summary: string }[];
}

/** The app: `/callback` lists the query it received (one `<dd id=name>` each). */
async function startApp(): Promise<{ server: Server; origin: string; callback: string }> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', origin);
    if (url.pathname !== '/callback') return void res.writeHead(404).end();
    const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    const rows = [...url.searchParams].map(([k, v]) => `<dt>${esc(k)}</dt><dd id="${esc(k)}">${esc(v)}</dd>`);
    res
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      .end(
        `<!doctype html><html lang="en"><title>App callback</title><h1>App callback</h1><dl>${rows.join('')}</dl></html>`,
      );
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, origin, callback: `${origin}/callback` };
}

describe('the operators’ dashboard in headless Chromium', () => {
  let gh: TestGatehouse;
  let app: Awaited<ReturnType<typeof startApp>>;
  let browser: Browser | undefined;
  let idp: TestIdp | undefined;
  const contexts: BrowserContext[] = [];

  before(async () => {
    browser = await launchChromium();
    gh = await startGatehouse();
    app = await startApp();
    await gh.api('POST', '/redirect_uris', { uri: app.callback });
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close().catch(() => {});
    await gh?.close();
    await idp?.close();
    if (app) await new Promise((resolve) => app.server.close(resolve));
  });

  /** A fresh browser at 1280 px that records requests off 127.0.0.1 (from Gatehouse's pages) and CSP problems. */
  async function newContext() {
    assert.ok(browser);
    const context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      deviceScaleFactor: 1,
    });
    contexts.push(context);
    context.setDefaultTimeout(STEP_MS);
    context.setDefaultNavigationTimeout(STEP_MS);
    const watch = { offLoopback: [] as { url: string; from: string }[], cspProblems: [] as string[] };
    context.on('request', (request) => {
      if (LOOPBACK.has(new URL(request.url()).hostname) || request.url().startsWith('data:')) return;
      let from = '';
      try {
        from = request.frame().url();
      } catch {}
      watch.offLoopback.push({ url: request.url(), from });
    });
    // Nothing leaves loopback (oidc-provider's dev pages @import a web font: refused).
    await context.route(
      (url) => !LOOPBACK.has(url.hostname),
      (route) => route.abort('blockedbyclient'),
    );
    context.on('response', (response) => {
      const url = new URL(response.url());
      const type = response.headers()['content-type'] ?? '';
      if (url.origin !== gh.url || response.status() === 303 || !type.startsWith('text/html')) return;
      const csp = response.headers()['content-security-policy'];
      if (
        url.pathname.startsWith('/dashboard/') ? csp !== PORTAL_CSP : !csp?.includes("frame-ancestors 'none'")
      )
        watch.cspProblems.push(`${url.pathname}: CSP ${csp ?? 'missing'}`);
    });
    context.on('console', (message) => {
      const text = message.text();
      if (/Content Security Policy|Refused to (load|apply|execute|frame|connect|send)/i.test(text))
        watch.cspProblems.push(`console on ${message.page()?.url() ?? '?'}: ${text}`);
    });
    return { context, watch };
  }

  /** axe-core on the page as it is now (WCAG 2.1 A and AA): no violation. */
  async function assertAccessible(page: Page, what: string): Promise<void> {
    await page.evaluate(AXE_SOURCE);
    const violations = (await page.evaluate(`axe
      .run(document, { runOnly: { type: 'tag', values: ${JSON.stringify(WCAG_TAGS)} }, resultTypes: ['violations'] })
      .then((r) => r.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.map((n) => ({ target: n.target.join(' '), html: n.html.slice(0, 200), summary: n.failureSummary })),
      })))`)) as AxeViolation[];
    const readable = violations
      .map(
        (v) =>
          `- ${v.id} (${v.impact}): ${v.help}\n${v.nodes.map((n) => `    at ${n.target}: ${n.html}`).join('\n')}`,
      )
      .join('\n');
    assert.equal(violations.length, 0, `axe found on ${what} (${page.url()}):\n${readable}`);
  }

  /** A whole page, or one part of it (a locator). */
  async function screenshot(what: Page | Locator, name: string): Promise<void> {
    if (!SCREENSHOTS) return;
    await mkdir(IMAGES, { recursive: true });
    const image =
      'goto' in what
        ? await what.screenshot({ fullPage: true, timeout: STEP_MS })
        : await what.screenshot({ timeout: STEP_MS });
    await writeFile(`${IMAGES}${name}`, image);
  }

  it('an operator: bootstrap link → organization → connection → sign-ins in the session log → a failure found by its request ID → deactivate → every page', async () => {
    const { context, watch } = await newContext();
    const page = await context.newPage();
    /** A dashboard page the operator reached: its heading, then axe. */
    const reached = async (heading: string | RegExp, what: string) => {
      await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
      await assertAccessible(page, what);
    };
    const nav = async (label: string, heading: string | RegExp = label) => {
      await page
        .getByRole('navigation', { name: 'Dashboard' })
        .getByRole('link', { name: label, exact: true })
        .click();
      await reached(heading, `the ${label} page`);
    };

    // The bootstrap link the first start prints: the welcome form creates the first operator.
    const link = await bootstrapLink({ store: gh.store, publicUrl: gh.url, now: () => new Date() });
    assert.ok(link);
    await page.goto(link);
    await reached('Welcome to Gatehouse', 'the welcome form');
    await page.getByLabel('Your email').fill('ops@example.com');
    await page.getByLabel('Your name (optional)').fill('Olive Operator');
    await page.getByRole('button', { name: 'Continue to the dashboard' }).click();
    await reached('Overview', 'the overview');

    // Organizations: create one with a verified domain, open its page.
    await nav('Organizations');
    await page.getByLabel('Name', { exact: true }).fill('Umbrella');
    await page.getByLabel('Verified domain (optional)').fill('umbrella.test');
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await page.getByRole('link', { name: 'Umbrella', exact: true }).first().waitFor();
    await assertAccessible(page, 'the organizations list after creating one');
    await screenshot(page, 'dashboard-organizations.png');
    await page.getByRole('link', { name: 'Umbrella', exact: true }).first().click();
    await reached('Umbrella', 'the organization’s page');
    await page.getByText('umbrella.test').first().waitFor();
    const orgId = new URL(page.url()).pathname.split('/').at(-1) ?? '';
    assert.match(orgId, /^org_/);

    // Its OIDC connection, created from the organization's page against oidc-provider. Both forms open: axe on each;
    // a refusal first (an issuer with a query: the browser lets the URL through, createConnection does not).
    const add = page.locator('section[aria-labelledby=add-connection]');
    await add.getByText('OpenID Connect: Okta, Microsoft Entra ID or another provider').click();
    await add.getByText('SAML: Okta, Microsoft Entra ID, Google Workspace').click();
    await assertAccessible(page, 'the organization’s page with both connection forms open');
    const oidcForm = page.getByRole('form', { name: 'Add an OpenID Connect connection' });
    const port = await freePort();
    const fillOidc = async (issuer: string) => {
      await oidcForm.getByLabel('Identity provider').selectOption('GenericOIDC');
      await oidcForm.getByLabel('Connection name (optional)').fill('Umbrella OIDC');
      await oidcForm.getByLabel('Issuer URL or discovery URL').fill(issuer);
      await oidcForm.getByLabel('Client ID').fill('umbrella-sso');
      await oidcForm.getByLabel('Client secret').fill('gatehouse-test-secret-0123456789abcdef');
    };
    await fillOidc(`http://127.0.0.1:${port}/?tenant=umbrella`);
    await oidcForm.getByRole('button', { name: 'Create the OpenID Connect connection' }).click();
    await oidcForm
      .getByText('The issuer URL must not contain a query or fragment.', { exact: true })
      .waitFor();
    assert.equal(await oidcForm.getByLabel('Client secret').inputValue(), '', 'the secret came back');
    assert.equal(await oidcForm.getByLabel('Connection name (optional)').inputValue(), 'Umbrella OIDC');
    await assertAccessible(page, 'the connection form refused, its error by the field');
    await screenshot(add, 'dashboard-create-connection.png');
    await fillOidc(`http://127.0.0.1:${port}`);
    await oidcForm.getByRole('button', { name: 'Create the OpenID Connect connection' }).click();
    await reached(/^Umbrella OIDC/, 'the new connection’s page');
    await page.getByText('The connection was created.').waitFor();
    const connectionId = new URL(page.url()).pathname.split('/').at(-1) ?? '';
    assert.match(connectionId, /^conn_/);
    const connectionUrl = `${gh.url}/dashboard/connections/${connectionId}`;
    // The redirect URI the IT admin registers at the IdP, as the page shows it.
    const callbackUrl = await page
      .getByRole('textbox', { name: 'Redirect URI (sign-in redirect URI)' })
      .inputValue();
    assert.equal(
      callbackUrl,
      (await gh.api('GET', `/connections/${connectionId}`)).body.oidc_options.redirect_uri,
    );
    idp = await startIdp({ port, redirectUris: [callbackUrl], clientId: 'umbrella-sso' });

    // A user signs in through the SDK (another browser: the user's), at oidc-provider's dev login pages.
    const user = await newContext();
    let userPage = await user.context.newPage();
    const authorize = (state: string) =>
      userPage.goto(
        gh.workos.sso.getAuthorizationUrl({
          clientId: gh.clientId,
          redirectUri: app.callback,
          organization: orgId,
          state,
        }),
      );
    const received = async () => {
      await userPage.waitForURL((url) => url.href.startsWith(app.callback));
      const out: Record<string, string> = {};
      for (const dd of await userPage.locator('dd').all())
        out[(await dd.getAttribute('id')) ?? ''] = (await dd.textContent()) ?? '';
      return out;
    };
    await authorize('ok');
    await userPage.waitForURL((url) => url.href.startsWith(idp?.issuer ?? '-'));
    await userPage.locator('input[name=login]').fill('grace@umbrella.test');
    await userPage.locator('input[name=password]').fill('any-password');
    await userPage.locator('button[type=submit]').click();
    await userPage.getByRole('button', { name: 'Continue' }).click();
    await userPage.getByRole('heading', { name: 'Confirm it is you' }).waitFor();
    await userPage.getByRole('button', { name: 'Approve' }).click();
    const ok = await received();
    assert.equal(ok.state, 'ok');
    const { profile } = await gh.workos.sso.getProfileAndToken({
      code: ok.code ?? '',
      clientId: gh.clientId,
    });
    assert.equal(profile.email, 'grace@umbrella.test');
    assert.equal(profile.connectionId, connectionId);

    // The session log shows the attempt.
    await nav('Session log');
    const row = page.locator('tbody tr', { hasText: 'grace@umbrella.test' });
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', /succeeded/);

    // The user cancels at the IdP: oidc-provider answers access_denied. The callback's request ID is what a user
    // reports (the header the browser saw). A fresh browser: no session at the IdP yet.
    const other = await newContext();
    userPage = await other.context.newPage();
    await authorize('cancelled');
    await userPage.waitForURL((url) => url.href.startsWith(idp?.issuer ?? '-'));
    const [callback] = await Promise.all([
      userPage.waitForResponse((r) => r.url().startsWith(callbackUrl)),
      userPage.getByRole('link', { name: '[ Cancel ]' }).click(),
    ]);
    const requestId = callback.headers()['x-request-id'] ?? '';
    assert.match(requestId, /^req_/);
    const failed = await received();
    assert.equal(failed.error, 'access_denied');
    assert.equal(failed.state, 'cancelled');

    await nav('Session log');
    await page.getByLabel('Request ID').fill(requestId);
    await page.getByRole('button', { name: 'Find' }).click();
    await reached(/^Sign-in attempt/, 'the failed attempt');
    assert.equal(await page.locator('h1 .badge').textContent(), 'failed');
    await page.getByText(requestId).waitFor();
    await page.getByText('upstream_user_cancelled', { exact: true }).waitFor();
    const fix = page.locator('.notice').filter({ hasText: 'Fix' });
    assert.match((await fix.textContent()) ?? '', /The user cancelled at the identity provider/);
    assert.match((await fix.textContent()) ?? '', /Fix\s+\S/);
    await screenshot(page, 'dashboard-session.png');

    // Deactivate the connection from its page.
    await page.goto(connectionUrl);
    await reached(/^Umbrella OIDC/, 'the connection’s page after sign-ins');
    await page.getByRole('heading', { name: 'Sign-ins' }).waitFor();
    await screenshot(page, 'dashboard-connection.png');
    await page.getByRole('button', { name: 'Deactivate' }).click();
    await page.getByRole('button', { name: 'Activate', exact: true }).waitFor();
    await assertAccessible(page, 'the connection’s page once deactivated');
    assert.equal((await gh.api('GET', `/connections/${connectionId}`)).body.state, 'inactive');

    // The overview (with a failure to show), and every other page.
    await nav('Overview');
    await screenshot(page, 'dashboard-overview.png');
    await nav('Connections');
    await nav('Environment');
    await nav('Events');
    await nav('Webhooks');
    await nav('Operators');
    await nav('Audit log');
    await page.getByText('connection.deactivate').first().waitFor();

    assert.deepEqual(
      watch.offLoopback.filter((r) => r.from.startsWith(gh.url)),
      [],
      'requests left 127.0.0.1',
    );
    assert.deepEqual(watch.offLoopback, [], 'the operator’s browser never left 127.0.0.1');
    assert.deepEqual(watch.cspProblems, [], 'CSP');
    // oidc-provider's own dev pages ask for a web font (refused); Gatehouse's pages ask for nothing off loopback.
    assert.deepEqual(
      user.watch.offLoopback.filter((r) => r.from.startsWith(gh.url)),
      [],
    );
    assert.deepEqual(user.watch.cspProblems, [], 'CSP (the user’s browser)');
    assert.deepEqual(
      other.watch.offLoopback.filter((r) => r.from.startsWith(gh.url)),
      [],
    );
    assert.deepEqual(other.watch.cspProblems, [], 'CSP (the second user’s browser)');
  });
  it('an operator signs in through Gatehouse’s own single sign-on: the Operators page marks the organization, the sign-in page, the IdP on another site, the dashboard', async () => {
    // A Gatehouse whose public URL is http://localhost:…, so that the IdP (http://127.0.0.1:…) is another site and
    // the IdP's redirect starts a cross-site chain, as in production; no consent screen, so nothing of ours is in
    // between: the dashboard's SameSite=Strict session must still be in place on the next page.
    const port = await freePort();
    const own = await startGatehouse({
      port,
      env: { GATEHOUSE_PUBLIC_URL: `http://localhost:${port}`, GATEHOUSE_SIGNIN_CONSENT: 'off' },
    });
    const base = `http://localhost:${port}`;
    let ownIdp: TestIdp | undefined;
    try {
      const org = await own.api('POST', '/organizations', {
        name: 'Gatehouse Ops',
        domain_data: [{ domain: 'ops.test', state: 'verified' }],
      });
      const idpPort = await freePort();
      const conn = await own.api('POST', '/connections', {
        organization_id: org.body.id,
        connection_type: 'GenericOIDC',
        name: 'Ops IdP',
        oidc_options: {
          issuer: `http://127.0.0.1:${idpPort}`,
          client_id: 'ops-sso',
          client_secret: 'gatehouse-test-secret-0123456789abcdef',
        },
      });
      assert.equal(conn.status, 201, JSON.stringify(conn.body));
      ownIdp = await startIdp({
        port: idpPort,
        redirectUris: [conn.body.oidc_options.redirect_uri as string],
        clientId: 'ops-sso',
      });

      // The first operator (bootstrap link) marks the operators' organization on the Operators page.
      const { context } = await newContext();
      const page = await context.newPage();
      const link = await bootstrapLink({ store: own.store, publicUrl: base, now: () => new Date() });
      assert.ok(link);
      await page.goto(link);
      await page.getByLabel('Your email').fill('first@ops.test');
      await page.getByRole('button', { name: 'Continue to the dashboard' }).click();
      await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
      await page.goto(`${base}/dashboard/operators`);
      await page.getByLabel("Operators' organization ID").fill(org.body.id);
      await page.getByLabel(/Make anyone it signs in an operator/).check();
      await page.getByRole('button', { name: 'Save' }).click();
      await page.getByText('Saved.').waitFor();
      await page.getByText(/Now: Gatehouse Ops, and anyone it signs in becomes an operator/).waitFor();
      await assertAccessible(page, 'the Operators page with single sign-on set');

      // Another person, in another browser: the sign-in page, the IdP, and straight into the dashboard.
      const colleague = await newContext();
      const signIn = await colleague.context.newPage();
      await signIn.goto(`${base}/dashboard/overview`);
      await signIn.getByRole('heading', { name: 'Sign in to the dashboard', level: 1 }).waitFor();
      await signIn.getByRole('link', { name: 'Sign in' }).click();
      await signIn.getByRole('link', { name: 'Sign in with single sign-on' }).waitFor();
      await assertAccessible(signIn, 'the sign-in page');
      await screenshot(signIn, 'dashboard-sign-in.png');
      await signIn.getByRole('link', { name: 'Sign in with single sign-on' }).click();
      await signIn.waitForURL((url) => url.href.startsWith(ownIdp?.issuer ?? '-'));
      await signIn.locator('input[name=login]').fill('grace@ops.test');
      await signIn.locator('input[name=password]').fill('any-password');
      await signIn.locator('button[type=submit]').click();
      await signIn.getByRole('button', { name: 'Continue' }).click();
      // The dashboard's callback signs her in; its page moves on by itself (no script) to the overview.
      await signIn.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
      assert.equal(new URL(signIn.url()).pathname, '/dashboard/overview');
      await signIn.getByText('grace@ops.test').first().waitFor();
      await assertAccessible(signIn, 'the overview after single sign-on');
      const operator = await own.store.getOperatorByEmail('grace@ops.test');
      assert.ok(operator, 'created on her first sign-in');
      assert.deepEqual(colleague.watch.cspProblems, [], 'CSP');
    } finally {
      await own.close();
      await ownIdp?.close();
    }
  });
});
