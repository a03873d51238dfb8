import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import { chooseChromium, DEBIAN_CHROMIUM, findChromium, launchChromium } from '../helpers/chromium.ts';
import { freePort, startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { connectOidcIdp, type TestIdp } from '../helpers/oidc-idp.ts';

/**
 * The sign-in consent screen in a real browser: headless Chromium drives the whole sign-in (the IdP's login and
 * consent forms, Gatehouse's consent screen, the redirect to a real app server) on loopback. The browser is
 * Debian's /usr/bin/chromium when installed, else the one inside the @sparticuz/chromium dev dependency
 * (test/helpers/chromium.ts; GATEHOUSE_TEST_CHROMIUM=bundled or a path forces one). Also takes the screenshot in
 * the README: `UPDATE_SCREENSHOTS=1` writes docs/images/consent-screen.png, otherwise a temp dir.
 */

/** Every navigation and wait is bounded by this. */
const STEP_MS = 15_000;
const SCREENSHOT = fileURLToPath(new URL('../../docs/images/consent-screen.png', import.meta.url));

/** The app: its callback answers with a small page listing the query it received, one `<dd id=name>` each. */
async function startApp(): Promise<{ server: Server; callback: string }> {
  const port = await freePort();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    if (url.pathname !== '/callback') {
      res.writeHead(404).end();
      return;
    }
    const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    const rows = [...url.searchParams]
      .map(([k, v]) => `<dt>${esc(k)}</dt><dd id="${esc(k)}">${esc(v)}</dd>`)
      .join('\n');
    res
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      .end(`<!doctype html><title>App callback</title><h1>App callback</h1><dl>${rows}</dl>`);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, callback: `http://127.0.0.1:${port}/callback` };
}

describe('the sign-in consent screen in headless Chromium', () => {
  let gh: TestGatehouse;
  let idp: TestIdp;
  let app: { server: Server; callback: string };
  let orgId: string;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];

  before(async () => {
    browser = await launchChromium();
    gh = await startGatehouse();
    app = await startApp();
    ({ idp, orgId } = await connectOidcIdp(gh, {
      appRedirectUri: app.callback,
      scopes: ['openid', 'profile', 'email', 'groups'],
    }));
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close().catch(() => {});
    await gh?.close();
    await idp?.close();
    if (app) await new Promise((resolve) => app.server.close(resolve));
  });

  async function newPage(options: { javaScriptEnabled?: boolean } = {}): Promise<Page> {
    assert.ok(browser);
    const context = await browser.newContext({
      javaScriptEnabled: options.javaScriptEnabled ?? true,
      viewport: { width: 800, height: 600 },
      deviceScaleFactor: 1,
    });
    contexts.push(context);
    context.setDefaultTimeout(STEP_MS);
    context.setDefaultNavigationTimeout(STEP_MS);
    // Everything stays on loopback (the IdP's dev pages @import a web font: refused here).
    await context.route(
      (url) => url.hostname !== '127.0.0.1',
      (route) => route.abort('blockedbyclient'),
    );
    return context.newPage();
  }

  function authorizeUrl(state: string): string {
    return gh.workos.sso.getAuthorizationUrl({
      clientId: gh.clientId,
      redirectUri: app.callback,
      organization: orgId,
      state,
    });
  }

  /** Authorize → the IdP's login form → the IdP's consent form → Gatehouse's consent screen. */
  async function toConsentScreen(page: Page, state: string, login = 'ada'): Promise<void> {
    await page.goto(authorizeUrl(state));
    assert.equal(new URL(page.url()).origin, idp.issuer, `expected the IdP login page, got ${page.url()}`);
    await page.locator('input[name=login]').fill(login);
    await page.locator('input[name=password]').fill('any-password');
    await page.locator('button[type=submit]').click();
    // The IdP's own consent page ("Continue"), then back to Gatehouse's callback.
    await page.getByRole('button', { name: 'Continue' }).waitFor();
    await page.locator('button[type=submit]').click();
    await page.getByRole('heading', { name: 'Confirm it is you' }).waitFor();
    assert.equal(new URL(page.url()).origin, gh.url);
  }

  /** What the app's callback page received, name → value. */
  async function appReceived(page: Page): Promise<Record<string, string>> {
    await page
      .waitForURL((url) => url.href.startsWith(app.callback))
      .catch(async (err: Error) => {
        const body = await page
          .locator('body')
          .textContent({ timeout: 2000 })
          .catch(() => '');
        throw new Error(`the app was not reached: at ${page.url()}\n${body}\n${err.message}`);
      });
    await page.getByRole('heading', { name: 'App callback' }).waitFor();
    const received: Record<string, string> = {};
    for (const dd of await page.locator('dd').all())
      received[(await dd.getAttribute('id')) ?? ''] = (await dd.textContent()) ?? '';
    return received;
  }

  it('Approve: shows the email, the app and the IdP, then the app gets a code that redeems for ada', async () => {
    const page = await newPage();
    await toConsentScreen(page, 'chromium-approve');

    // What the user sees: the asserted email, where they are going, the IdP, the connection, two real buttons.
    const main = page.locator('main');
    for (const shown of ['ada@acme.com', new URL(app.callback).host, new URL(idp.issuer).host, 'Acme Okta'])
      await main.getByText(shown, { exact: true }).waitFor({ state: 'visible' });
    assert.equal(await main.getByRole('button').count(), 2);
    await page.getByRole('button', { name: 'Approve' }).waitFor({ state: 'visible' });
    await page.getByRole('button', { name: 'Deny' }).waitFor({ state: 'visible' });

    // The screenshot of the README (docs/images/consent-screen.png with UPDATE_SCREENSHOTS=1).
    const target =
      process.env.UPDATE_SCREENSHOTS === '1'
        ? SCREENSHOT
        : join(await mkdtemp(join(tmpdir(), 'gatehouse-shot-')), 'consent-screen.png');
    await mkdir(join(target, '..'), { recursive: true });
    await writeFile(target, await page.screenshot({ fullPage: true, timeout: STEP_MS }));
    const png = await readFile(target);
    assert.ok(png.length > 1000, `screenshot is ${png.length} bytes`);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    if (target !== SCREENSHOT) await rm(join(target, '..'), { recursive: true, force: true });

    const posts: Request[] = [];
    page.on('request', (req) => {
      if (req.method() === 'POST') posts.push(req);
    });
    await page.getByRole('button', { name: 'Approve' }).click();
    const query = await appReceived(page);
    // The form post carried our Origin (under `Referrer-Policy: no-referrer` Chromium sends `Origin: null`).
    assert.deepEqual(
      posts.map((req) => req.url()),
      [`${gh.url}/sso/consent`],
    );
    assert.equal(await posts[0]?.headerValue('origin'), gh.url);
    assert.deepEqual(Object.keys(query).sort(), ['code', 'iss', 'state']);
    assert.equal(query.state, 'chromium-approve');
    assert.equal(query.iss, gh.url);
    assert.match(query.code ?? '', /^[A-Za-z0-9_-]{43}$/);

    const { profile } = await gh.workos.sso.getProfileAndToken({
      code: query.code ?? '',
      clientId: gh.clientId,
    });
    assert.equal(profile.email, 'ada@acme.com');
    assert.equal(profile.organizationId, orgId);
  });

  it('Deny: the app gets signin_consent_denied with its state', async () => {
    const page = await newPage();
    await toConsentScreen(page, 'chromium-deny');
    await page.getByRole('button', { name: 'Deny' }).click();
    const query = await appReceived(page);
    assert.equal(query.error, 'signin_consent_denied');
    assert.equal(query.error_description, 'User cancelled the authentication request');
    assert.equal(query.state, 'chromium-deny');
    assert.equal(query.code, undefined);
  });

  it('cannot be framed: Chromium received X-Frame-Options DENY and frame-ancestors none with the screen', async () => {
    const page = await newPage();
    const seen: Record<string, string>[] = [];
    page.on('response', (res) => {
      const url = new URL(res.url());
      if (url.origin === gh.url && url.pathname.startsWith('/sso/oidc/callback/')) seen.push(res.headers());
    });
    await toConsentScreen(page, 'chromium-frame');
    const headers = seen.at(-1);
    assert.ok(headers, 'no response from the Gatehouse callback');
    assert.equal(headers['x-frame-options'], 'DENY');
    const csp = headers['content-security-policy'] ?? '';
    assert.match(csp, /(^|;)\s*frame-ancestors 'none'\s*(;|$)/);
    assert.match(csp, /(^|;)\s*default-src 'none'\s*(;|$)/);
    assert.match(csp, new RegExp(`form-action 'self' ${new URL(app.callback).origin}(;|$)`));
    assert.equal(headers['cache-control'], 'no-store');
    assert.equal(headers['referrer-policy'], 'same-origin');
  });

  it('works with JavaScript disabled: Approve reaches the app with a code', async () => {
    const page = await newPage({ javaScriptEnabled: false });
    await toConsentScreen(page, 'chromium-no-js', 'grace');
    await page.locator('main').getByText('grace@acme.com', { exact: true }).waitFor({ state: 'visible' });
    await page.getByRole('button', { name: 'Approve' }).click();
    const query = await appReceived(page);
    assert.equal(query.state, 'chromium-no-js');
    const { profile } = await gh.workos.sso.getProfileAndToken({
      code: query.code ?? '',
      clientId: gh.clientId,
    });
    assert.equal(profile.email, 'grace@acme.com');
  });
});

describe('the browser the tests find (test/helpers/chromium.ts)', () => {
  it("a fresh machine without Debian's Chromium gets the bundled one, never a cancelled suite", () => {
    assert.deepEqual(chooseChromium({}, false), { source: 'bundled' });
    assert.deepEqual(chooseChromium({}, true), { source: 'debian', path: DEBIAN_CHROMIUM });
    assert.deepEqual(chooseChromium({ GATEHOUSE_TEST_CHROMIUM: 'bundled' }, true), { source: 'bundled' });
    assert.deepEqual(chooseChromium({ GATEHOUSE_TEST_CHROMIUM: '/opt/chrome/chrome' }, false), {
      source: 'path',
      path: '/opt/chrome/chrome',
    });
  });

  it('a GATEHOUSE_TEST_CHROMIUM that is neither "bundled" nor an absolute path stops with a message naming it', () => {
    assert.throws(() => chooseChromium({ GATEHOUSE_TEST_CHROMIUM: 'chromium' }, true), {
      message:
        'GATEHOUSE_TEST_CHROMIUM must be "bundled" or an absolute path to a Chromium binary, not "chromium"',
    });
  });

  it('the bundled Chromium (the fallback) starts with the same flags and renders a page, with no download', {
    skip: process.platform === 'linux' && process.arch === 'x64' ? false : 'the bundled binary is linux-x64',
  }, async () => {
    const { source, path } = await findChromium({ GATEHOUSE_TEST_CHROMIUM: 'bundled' });
    assert.equal(source, 'bundled');
    assert.ok(path.includes('/node_modules/.cache/gatehouse-chromium/'), path);
    const browser = await launchChromium({ GATEHOUSE_TEST_CHROMIUM: 'bundled' });
    try {
      assert.match(browser.version(), /^\d+\.\d+\.\d+\.\d+$/);
      const page = await browser.newPage();
      // Nothing may leave the machine: any request the page makes is refused and recorded.
      const requested: string[] = [];
      await page.route('**', (route) => {
        requested.push(route.request().url());
        return route.abort('blockedbyclient');
      });
      await page.setContent('<!doctype html><title>t</title><main><h1>Confirm it is you</h1></main>');
      await page.getByRole('heading', { name: 'Confirm it is you' }).waitFor({ timeout: STEP_MS });
      const png = await page.screenshot({ timeout: STEP_MS });
      assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
      assert.deepEqual(requested, []);
    } finally {
      await browser.close();
    }
  });
});
