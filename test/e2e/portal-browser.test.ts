import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import forge from 'node-forge';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import * as samlify from 'samlify';
import { PORTAL_CSP, portalCsp } from '../../src/portal/render.ts';
import { launchChromium } from '../helpers/chromium.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { freePort, startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { startIdp, type TestIdp } from '../helpers/oidc-idp.ts';
import { makeIdp, type SamlSetup, samlResponseWith } from '../helpers/saml-idp.ts';

/**
 * The Admin Portal in a real browser (issue 11's "Done when"): headless Chromium plays the customer's IT admin.
 * The app asks for a setup link with the official SDK (`workos.adminPortal.generateLink`); the admin opens it, picks
 * the identity provider, reads the values to enter at the IdP off the page, configures a real IdP with them (samlify
 * as a SAML IdP, oidc-provider as an OpenID Provider), gives the IdP's side back through the page's forms, runs Test
 * sign-in in the new tab it opens, activates, and lands on `success_url`; then the app signs a user in through the
 * new connection with `getAuthorizationUrl({ organization })` and `getProfileAndToken`.
 *
 * On every page the admin sees: axe-core (WCAG 2.1 A and AA) finds nothing; the portal's CSP header is there and
 * Chromium reports no CSP violation; no request leaves 127.0.0.1. The SAML IdP never listens: its SSO URL is a
 * loopback address nothing serves, and `route` answers the browser's request to it as the IdP would (samlify parses
 * the AuthnRequest and signs the response, which an auto-posting form sends to the ACS).
 *
 * `UPDATE_SCREENSHOTS=1` writes the screenshots of docs/admin-portal.md into docs/images/ (1280 px wide).
 */

/** Every navigation and wait is bounded by this. */
const STEP_MS = 15_000;
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1';
const IMAGES = fileURLToPath(new URL('../../docs/images/', import.meta.url));
const AXE_SOURCE = readFileSync(fileURLToPath(import.meta.resolve('axe-core/axe.min.js')), 'utf8');
const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
/** What the test SAML IdP asserts for a user (Okta's attribute names, as the Okta guide asks for). */
function samlUser(email: string, firstName: string, lastName: string) {
  return {
    nameId: email,
    sessionIndex: '_s1',
    attributes: { email, firstName, lastName, groups: ['engineering', 'admins'] },
  };
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The app: `/callback` lists the query it received (one `<dd id=name>` each); `/settings/sso` is the success_url the
 * admin lands on after activation.
 */
async function startApp(): Promise<{ server: Server; origin: string; callback: string; successUrl: string }> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', origin);
    const page = (title: string, body: string) =>
      res
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
        .end(`<!doctype html><html lang="en"><title>${title}</title><h1>${title}</h1>${body}</html>`);
    if (url.pathname === '/callback') {
      const rows = [...url.searchParams]
        .map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd id="${escapeHtml(k)}">${escapeHtml(v)}</dd>`)
        .join('\n');
      page('App callback', `<dl>${rows}</dl>`);
    } else if (url.pathname === '/settings/sso') {
      page('SSO is set up', '<p>Back in the app.</p>');
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, origin, callback: `${origin}/callback`, successUrl: `${origin}/settings/sso` };
}

/** A self-signed certificate that expired on `notAfter` (an IdP that forgot to rotate: the doctor's case). */
function expiredCertificate(notAfter: Date): string {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  cert.serialNumber = '01a2b3c4d5';
  cert.validity.notBefore = new Date(notAfter.getTime() - 365 * 24 * 3600 * 1000);
  cert.validity.notAfter = notAfter;
  const subject = [{ name: 'commonName', value: 'Old IdP signing key' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.sign(forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/** What the watchers of a browser context saw that they should not have. */
interface Watch {
  /** Requests to anything but 127.0.0.1, with the page they came from. */
  offLoopback: { url: string; from: string }[];
  /** Gatehouse HTML pages without the portal's (or any) CSP, and console CSP reports. */
  cspProblems: string[];
}

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string; html: string; summary: string }[];
}

describe('the Admin Portal in headless Chromium', () => {
  let gh: TestGatehouse;
  let app: Awaited<ReturnType<typeof startApp>>;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  const idps: TestIdp[] = [];
  const servers: Server[] = [];
  let dns: TestDnsServer;
  /** Gatehouse's clock runs this far ahead of the real one (to expire a link). */
  let clockOffsetMs = 0;

  before(async () => {
    browser = await launchChromium();
    dns = await startDnsServer();
    // Gatehouse's own node:dns resolver, pointed at the loopback DNS server (domain verification).
    gh = await startGatehouse({
      now: () => new Date(Date.now() + clockOffsetMs),
      resolveTxt: null,
      env: { GATEHOUSE_DNS_SERVERS: dns.address },
    });
    app = await startApp();
    await gh.api('POST', '/redirect_uris', { uri: app.callback });
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close().catch(() => {});
    await gh?.close();
    for (const idp of idps) await idp.close();
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
    if (app) await new Promise((resolve) => app.server.close(resolve));
    await dns?.close();
  });

  /** A fresh browser (cookie jar) at 1280 px, with the watchers of `Watch` on every page it opens. */
  async function newContext(
    options: { javaScriptEnabled?: boolean } = {},
  ): Promise<{ context: BrowserContext; watch: Watch }> {
    assert.ok(browser);
    const context = await browser.newContext({
      javaScriptEnabled: options.javaScriptEnabled ?? true,
      viewport: { width: 1280, height: 900 },
      deviceScaleFactor: 1,
    });
    contexts.push(context);
    context.setDefaultTimeout(STEP_MS);
    context.setDefaultNavigationTimeout(STEP_MS);
    const watch: Watch = { offLoopback: [], cspProblems: [] };
    context.on('request', (request) => {
      const url = new URL(request.url());
      if (url.protocol === 'data:' || url.hostname === '127.0.0.1') return;
      let from = '';
      try {
        from = request.frame().url();
      } catch {}
      watch.offLoopback.push({ url: request.url(), from });
    });
    // Nothing leaves loopback (oidc-provider's dev pages @import a web font: refused, and recorded above).
    await context.route(
      (url) => url.hostname !== '127.0.0.1',
      (route) => route.abort('blockedbyclient'),
    );
    context.on('response', (response) => {
      const url = new URL(response.url());
      const type = response.headers()['content-type'] ?? '';
      if (url.origin !== gh.url || response.status() === 303 || !type.startsWith('text/html')) return;
      const headers = response.headers();
      const csp = headers['content-security-policy'];
      if (url.pathname.startsWith('/portal/')) {
        // The portal's own CSP; a session's pages may also end forms at the app's success_url.
        if (csp !== PORTAL_CSP && csp !== portalCsp([app.origin]))
          cspProblems(`${url.pathname}: CSP ${csp ?? 'missing'}`);
        if (headers['x-frame-options'] !== 'DENY') cspProblems(`${url.pathname}: no X-Frame-Options DENY`);
      } else if (!csp?.includes("frame-ancestors 'none'")) {
        cspProblems(`${url.pathname}: CSP ${csp ?? 'missing'}`);
      }
    });
    const cspProblems = (s: string) => watch.cspProblems.push(s);
    context.on('console', (message) => {
      const text = message.text();
      if (/Content Security Policy|Refused to (load|apply|execute|frame|connect|send)/i.test(text))
        cspProblems(`console on ${message.page()?.url() ?? '?'}: ${text}`);
    });
    return { context, watch };
  }

  /** The page reaches `url` (e.g. success_url after activation); if not, says where it is and what CSP refused. */
  async function landsOn(page: Page, url: string, watch: Watch): Promise<void> {
    await page.waitForURL(url).catch((err: Error) => {
      throw new Error(
        `not at ${url} but at ${page.url()}; CSP problems: ${JSON.stringify(watch.cspProblems)}\n${err.message}`,
      );
    });
  }

  /** What the watchers saw: nothing off loopback from Gatehouse's pages (or at all: `strict`), no CSP problem. */
  function assertWatched(watch: Watch, strict: boolean): void {
    const off = strict ? watch.offLoopback : watch.offLoopback.filter((r) => r.from.startsWith(gh.url));
    assert.deepEqual(off, [], 'requests left 127.0.0.1');
    assert.deepEqual(watch.cspProblems, [], 'CSP');
  }

  /**
   * axe-core on the page as it is now (WCAG 2.1 A and AA): no violation. axe's source goes in through `evaluate`
   * (DevTools), which the page's CSP does not govern, so the page itself keeps its strict policy.
   */
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
          `- ${v.id} (${v.impact}): ${v.help}\n${v.nodes.map((n) => `    at ${n.target}: ${n.html}\n      ${n.summary.replace(/\n/g, '\n      ')}`).join('\n')}`,
      )
      .join('\n');
    assert.equal(violations.length, 0, `axe found on ${what} (${page.url()}):\n${readable}`);
  }

  /** docs/images/<name> with UPDATE_SCREENSHOTS=1: the whole page, or the part around `only`. */
  async function screenshot(page: Page, name: string, only?: Locator): Promise<void> {
    if (!SCREENSHOTS) return;
    await mkdir(IMAGES, { recursive: true });
    const box = await only?.boundingBox();
    const margin = 24;
    const png = await page.screenshot({
      fullPage: true,
      timeout: STEP_MS,
      ...(box
        ? {
            clip: {
              x: box.x - margin,
              y: box.y - margin,
              width: box.width + 2 * margin,
              height: box.height + 2 * margin,
            },
          }
        : {}),
    });
    await writeFile(`${IMAGES}${name}`, png);
  }

  async function newOrganization(name: string, domain?: string): Promise<string> {
    const org = await gh.workos.organizations.createOrganization({
      name,
      ...(domain ? { domainData: [{ domain, state: 'verified' as never }] } : {}),
    });
    return org.id;
  }

  /** The app asks for a setup link with the SDK, as it would for a button "Set up SSO". */
  async function setupLink(
    organization: string,
    intent: 'sso' | 'domain_verification' = 'sso',
  ): Promise<string> {
    const { link } = await gh.workos.adminPortal.generateLink({
      organization,
      intent,
      returnUrl: `${app.origin}/settings`,
      successUrl: app.successUrl,
    });
    assert.ok(link.startsWith(`${gh.url}/portal/`), link);
    return link;
  }

  /** The value shown in a read-only copy field, found by its label as a person would. */
  async function shownValue(page: Page, label: string): Promise<string> {
    const value = await page.getByLabel(label, { exact: true }).first().inputValue();
    assert.ok(value, `no value for ${label}`);
    return value;
  }

  /** Clicks the IdP's button in the picker (its name is in <strong>). */
  async function pick(page: Page, idpName: string): Promise<void> {
    await page
      .getByRole('heading', { name: 'Which identity provider does your organization use?' })
      .waitFor();
    await page
      .getByRole('button')
      .filter({ has: page.locator('strong', { hasText: new RegExp(`^${idpName}$`) }) })
      .click();
    await page.getByRole('heading', { name: new RegExp(`^Connect ${idpName}`) }).waitFor();
  }

  /**
   * The SAML IdP's single sign-on endpoint on loopback: samlify parses the AuthnRequest (HTTP-Redirect) for the SP
   * built from Gatehouse's SP metadata, and answers with an auto-posting form to the ACS (with a button for a
   * browser without JavaScript). `answer()` says how it answers each time; `setup` is read at each request (the IdP
   * listens before it is configured).
   */
  async function startSamlIdpServer(
    setup: () => SamlSetup,
    answer: () => ReturnType<typeof samlUser> | 'denied',
  ): Promise<{ ssoUrl: string; requests: number }> {
    const seen = { ssoUrl: '', requests: 0 };
    const server = createServer((req, res) => {
      seen.requests++;
      const url = new URL(req.url ?? '/', seen.ssoUrl);
      const s = setup();
      const sp = samlify.ServiceProvider({ metadata: s.spMetadata });
      s.idp.idp
        .parseLoginRequest(sp, 'redirect', {
          query: Object.fromEntries(url.searchParams),
          octetString: url.search.slice(1),
        } as never)
        .then((request) =>
          samlResponseWith(
            s,
            request as never,
            ((user) =>
              user === 'denied'
                ? {
                    nameId: '',
                    status: { top: 'Responder', second: 'RequestDenied', message: 'User is not assigned' },
                  }
                : user)(answer()),
          ),
        )
        .then((response) => {
          const relayState = url.searchParams.get('RelayState') ?? '';
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(
            `<!doctype html><html lang="en"><title>Test IdP</title><body>
<form method="post" action="${escapeHtml(s.acsUrl)}">
<input type="hidden" name="SAMLResponse" value="${escapeHtml(response)}">
<input type="hidden" name="RelayState" value="${escapeHtml(relayState)}">
<noscript><button type="submit">Continue to the application</button></noscript>
</form><script>document.forms[0].submit()</script></body></html>`,
          );
        })
        .catch((err: unknown) => res.writeHead(400).end(String(err)));
    });
    // Port 0: the kernel picks a free port as it binds (a port probed free beforehand can be taken meanwhile).
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    servers.push(server);
    seen.ssoUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/app/acme/sso/saml`;
    return seen;
  }

  /** Gatehouse's sign-in consent screen (on by default): the admin, or the user, approves. */
  async function approveConsent(page: Page): Promise<void> {
    await page.getByRole('heading', { name: 'Confirm it is you' }).waitFor();
    await page.getByRole('button', { name: 'Approve' }).click();
  }

  /** What the app's callback page received, name → value. */
  async function appReceived(page: Page): Promise<Record<string, string>> {
    await page.waitForURL((url) => url.href.startsWith(app.callback));
    await page.getByRole('heading', { name: 'App callback' }).waitFor();
    const received: Record<string, string> = {};
    for (const dd of await page.locator('dd').all())
      received[(await dd.getAttribute('id')) ?? ''] = (await dd.textContent()) ?? '';
    return received;
  }

  /** The profile field → value table of the test result page. */
  async function profileShown(page: Page): Promise<Record<string, string>> {
    const table = page.locator('table').first();
    const out: Record<string, string> = {};
    for (const row of await table.locator('tbody tr').all()) {
      const [field, value] = await row.locator('td').allTextContents();
      out[field ?? ''] = value ?? '';
    }
    return out;
  }

  /** Runs Test sign-in: clicks the link, the new tab goes through the IdP (`idpSteps`), returns the result tab. */
  async function testSignIn(page: Page, idpSteps: (tab: Page) => Promise<void>): Promise<Page> {
    const [tab] = await Promise.all([
      page.waitForEvent('popup'),
      page.getByRole('link', { name: /^Test sign-in/ }).click(),
    ]);
    try {
      await idpSteps(tab);
    } catch (err) {
      // Say where the tab was and what it showed: a timeout alone does not.
      const shown = await tab.content().catch(() => '(no content)');
      throw new Error(`the test sign-in tab at ${tab.url()} showed: ${shown.slice(0, 1500)}`, { cause: err });
    }
    await tab.waitForURL((url) => url.href.startsWith(`${gh.url}/portal/sso/test/result`));
    await tab.getByRole('heading', { name: /^Test sign-in (succeeded|failed)$/ }).waitFor();
    return tab;
  }

  /** The app signs a user of `organization` in: authorize → (IdP) → consent → its callback → the profile. */
  async function appSignIn(
    context: BrowserContext,
    organization: string,
    idpSteps: (page: Page) => Promise<void> = async () => {},
  ) {
    const page = await context.newPage();
    const state = `app-${organization}`;
    await page.goto(
      gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: app.callback,
        organization,
        state,
      }),
    );
    await idpSteps(page);
    await approveConsent(page);
    const query = await appReceived(page);
    assert.equal(query.state, state);
    const { profile } = await gh.workos.sso.getProfileAndToken({
      code: query.code ?? '',
      clientId: gh.clientId,
    });
    return profile;
  }

  it('SAML with Okta: link → pick Okta → ACS URL and entity ID read off the page → metadata upload → test sign-in (a failure, then the profile) → activate → success_url; then the app signs ada in', async () => {
    const orgId = await newOrganization('Acme', 'acme.com');
    const link = await setupLink(orgId);
    const { context, watch } = await newContext();
    const page = await context.newPage();

    // The admin opens the link: the picker (no connection yet).
    await page.goto(link);
    assert.equal(page.url(), `${gh.url}/portal/`, 'the token leaves the address bar');
    await assertAccessible(page, 'the IdP picker');
    await screenshot(page, 'portal-choose.png');
    await pick(page, 'Okta');
    await assertAccessible(page, 'the Okta connection page before anything is saved');
    await screenshot(page, 'portal-saml-guide.png');

    // What the admin copies into Okta, read off the page.
    const acsUrl = await shownValue(page, 'Assertion Consumer Service (ACS) URL');
    const spEntityId = await shownValue(page, 'Service provider entity ID (Audience URI)');
    const connectionId = new URL(page.url()).pathname.split('/').at(-1) ?? '';
    assert.match(connectionId, /^conn_/);
    assert.ok(acsUrl.startsWith(`${gh.url}/sso/saml/acs/`), acsUrl);
    // Okta reads the SP's side from the entity ID URL, which serves the SP metadata.
    const spMetadata = await (await fetch(spEntityId)).text();
    assert.ok(spMetadata.includes(`entityID="${spEntityId}"`), spMetadata.slice(0, 300));
    assert.ok(spMetadata.includes(`Location="${acsUrl}"`), 'the SP metadata names the ACS URL shown');

    // "Okta": a samlify IdP configured with those values, its single sign-on URL on loopback. It refuses the
    // first sign-in (the user is not assigned yet), then signs ada in.
    let assigned = false;
    let setup: SamlSetup | undefined;
    const served = await startSamlIdpServer(
      () => setup as SamlSetup,
      () => (assigned ? samlUser('ada@acme.com', 'Ada', 'Lovelace') : 'denied'),
    );
    const idp = await makeIdp({ ssoUrl: served.ssoUrl });
    setup = { idp, orgId, connectionId, acsUrl, spEntityId, spMetadata };

    // Validation errors, in words, by the fields (the manual form sent empty).
    await page.getByText('Or enter the details by hand').click();
    await page.getByRole('button', { name: 'Save the details' }).click();
    await page.getByText('Not saved: see the messages by the fields below.').waitFor();
    await page.getByText('Enter the single sign-on URL.').waitFor();
    await assertAccessible(page, 'the connection page with validation errors');

    // The IdP's metadata file, uploaded through the page's file input.
    await page.getByText('Or upload the metadata file').click();
    await page.getByLabel('Metadata file (XML)').setInputFiles({
      name: 'okta-metadata.xml',
      mimeType: 'application/xml',
      buffer: Buffer.from(idp.metadata()),
    });
    await page.getByRole('button', { name: 'Upload the metadata file' }).click();
    await page.getByText('Saved.', { exact: true }).waitFor();
    assert.equal(new URL(page.url()).search, '?saved=1');
    await page.getByText('No problem found in the saved settings.').waitFor();
    assert.equal(await page.locator('h1 .badge').textContent(), 'Off');
    await assertAccessible(page, 'the connection page after the upload');

    // Not on yet: the app cannot sign anyone in through it.
    const early = await context.newPage();
    await early.goto(
      gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: app.callback,
        organization: orgId,
        state: 'early',
      }),
    );
    const refused = await appReceived(early);
    assert.equal(refused.error, 'organization_invalid');
    assert.equal(refused.state, 'early');
    await early.close();

    // Test sign-in, refused by the IdP: the result says where and why.
    const failed = await testSignIn(page, async () => {});
    await failed.getByRole('heading', { name: 'Test sign-in failed' }).waitFor();
    await failed
      .getByText('Okta chose not to sign the user in to this application (StatusCode RequestDenied)', {
        exact: false,
      })
      .waitFor();
    await assertAccessible(failed, 'a failed test result');
    await failed.close();

    // The user is assigned: the profile the application will get.
    assigned = true;
    const tab = await testSignIn(page, approveConsent);
    await tab.getByRole('heading', { name: 'Test sign-in succeeded' }).waitFor();
    const shown = await profileShown(tab);
    assert.equal(shown.email, 'ada@acme.com');
    assert.equal(shown.first_name, 'Ada');
    assert.equal(shown.last_name, 'Lovelace');
    assert.equal(shown.groups, 'engineering, admins');
    assert.equal(shown.idp_id, 'ada@acme.com');
    await assertAccessible(tab, 'a successful test result');
    await screenshot(tab, 'portal-test-result.png');
    assert.equal(served.requests, 2);

    // Back on the setup page: activate, and the admin is back in the app.
    await tab.getByRole('link', { name: 'Back to the setup page' }).click();
    await tab.getByRole('button', { name: 'Activate single sign-on' }).click();
    await landsOn(tab, app.successUrl, watch);
    await tab.getByRole('heading', { name: 'SSO is set up' }).waitFor();

    // The app signs a user in through the organization's new connection (another browser: the user's).
    const user = await newContext();
    const profile = await appSignIn(user.context, orgId);
    assert.equal(profile.email, 'ada@acme.com');
    assert.equal(profile.firstName, 'Ada');
    assert.equal(profile.organizationId, orgId);
    assert.equal(profile.connectionId, connectionId);
    assert.equal(profile.connectionType, 'OktaSAML');
    assert.equal(served.requests, 3);

    assertWatched(watch, true);
    assertWatched(user.watch, true);
  });

  it('generic OpenID Connect against oidc-provider: the redirect URI read off the page is registered there, issuer and client entered, test sign-in, activate; then the app signs grace in', async () => {
    const orgId = await newOrganization('Umbrella', 'umbrella.test');
    const { context, watch } = await newContext();
    const page = await context.newPage();
    await page.goto(await setupLink(orgId));
    await pick(page, 'Other OpenID Connect provider');
    await assertAccessible(page, 'the OIDC connection page before anything is saved');

    // The IT admin registers a client at their OpenID Provider with the redirect URI shown.
    const redirectUri = await shownValue(page, 'Redirect URI (sign-in redirect URI)');
    assert.ok(redirectUri.startsWith(`${gh.url}/sso/oidc/callback/`), redirectUri);
    const idp = await startIdp({ redirectUris: [redirectUri], clientId: 'umbrella-sso' });
    idps.push(idp);

    await page.getByLabel('Issuer URL').fill(idp.issuer);
    await page.getByLabel('Client ID').fill(idp.clientId);
    await page.getByLabel('Client secret').fill(idp.clientSecret);
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByText('Saved.', { exact: true }).waitFor();
    await page.getByText('No problem found in the saved settings.').waitFor();
    assert.equal(await page.getByLabel('Client secret').inputValue(), '', 'the secret is never shown again');
    await assertAccessible(page, 'the OIDC connection page after saving');

    // Test sign-in: the new tab logs in at oidc-provider's own pages, then Gatehouse's consent screen.
    const loginAtIdp = async (tab: Page) => {
      await tab.waitForURL((url) => url.href.startsWith(idp.issuer));
      await tab.locator('input[name=login]').fill('grace@umbrella.test');
      await tab.locator('input[name=password]').fill('any-password');
      await tab.locator('button[type=submit]').click();
      await tab.getByRole('button', { name: 'Continue' }).click();
    };
    const tab = await testSignIn(page, async (t) => {
      await loginAtIdp(t);
      await approveConsent(t);
    });
    await tab.getByRole('heading', { name: 'Test sign-in succeeded' }).waitFor();
    const shown = await profileShown(tab);
    assert.equal(shown.email, 'grace@umbrella.test');
    assert.equal(shown.idp_id, 'grace@umbrella.test');
    assert.equal(shown.first_name, 'Ada');
    await assertAccessible(tab, 'the OIDC test result');
    await tab.close();

    await page.reload();
    await page.getByRole('button', { name: 'Activate single sign-on' }).click();
    await landsOn(page, app.successUrl, watch);

    const user = await newContext();
    const profile = await appSignIn(user.context, orgId, loginAtIdp);
    assert.equal(profile.email, 'grace@umbrella.test');
    assert.equal(profile.organizationId, orgId);
    assert.equal(profile.connectionType, 'GenericOIDC');

    // oidc-provider's own dev pages ask for a web font (refused); Gatehouse's pages ask for nothing off loopback.
    assertWatched(watch, false);
    assertWatched(user.watch, false);
  });

  it('without JavaScript: pick Okta, upload the metadata, save, test sign-in (through plain forms), activate', async () => {
    const orgId = await newOrganization('Initech', 'initech.test');
    const { context, watch } = await newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(await setupLink(orgId));
    await pick(page, 'Okta');
    assert.equal(await page.getByRole('button', { name: /^Copy/ }).count(), 0, 'no script ran');
    const acsUrl = await shownValue(page, 'Assertion Consumer Service (ACS) URL');
    const spEntityId = await shownValue(page, 'Service provider entity ID (Audience URI)');
    const connectionId = new URL(page.url()).pathname.split('/').at(-1) ?? '';
    const spMetadata = await (await fetch(spEntityId)).text();
    let setup: SamlSetup | undefined;
    const served = await startSamlIdpServer(
      () => setup as SamlSetup,
      () => samlUser('peter@initech.test', 'Peter', 'Gibbons'),
    );
    const idp = await makeIdp({ ssoUrl: served.ssoUrl, entityId: 'https://idp.initech.test/saml' });
    setup = { idp, orgId, connectionId, acsUrl, spEntityId, spMetadata };

    await page.getByText('Or upload the metadata file').click();
    await page.getByLabel('Metadata file (XML)').setInputFiles({
      name: 'metadata.xml',
      mimeType: 'application/xml',
      buffer: Buffer.from(idp.metadata()),
    });
    await page.getByRole('button', { name: 'Upload the metadata file' }).click();
    await page.getByText('Saved.', { exact: true }).waitFor();

    // The IdP's page posts with a button instead of its script; the consent screen is a plain form.
    const tab = await testSignIn(page, async (t) => {
      await t.getByRole('button', { name: 'Continue to the application' }).click();
      await approveConsent(t);
    });
    await tab.getByRole('heading', { name: 'Test sign-in succeeded' }).waitFor();
    assert.equal((await profileShown(tab)).email, 'peter@initech.test');
    await tab.close();

    await page.reload();
    await page.getByRole('button', { name: 'Activate single sign-on' }).click();
    await landsOn(page, app.successUrl, watch);
    assertWatched(watch, true);
  });

  it('a link opened after 5 minutes, a link opened twice, a browser without a session: pages that say so', async () => {
    const orgId = await newOrganization('Hooli');
    const { context, watch } = await newContext();
    const page = await context.newPage();

    const late = await setupLink(orgId);
    clockOffsetMs = 6 * 60 * 1000;
    try {
      const res = await page.goto(late);
      assert.equal(res?.status(), 410);
    } finally {
      clockOffsetMs = 0;
    }
    await page.getByRole('heading', { name: 'This setup link cannot be used' }).waitFor();
    await page.getByText('This setup link has expired').waitFor();
    assert.equal(await page.getByText('Hooli').count(), 0, 'the page names no organization');
    await assertAccessible(page, 'the expired-link page');

    const link = await setupLink(orgId);
    const other = await (await newContext()).context.newPage();
    assert.equal((await other.goto(link))?.status(), 200);
    assert.equal((await page.goto(link))?.status(), 410);
    await page.getByText('This setup link has already been used').waitFor();
    await assertAccessible(page, 'the used-link page');

    assert.equal((await page.goto(`${gh.url}/portal/sso/choose`))?.status(), 401);
    await page.getByRole('heading', { name: 'Your setup session has ended' }).waitFor();
    await assertAccessible(page, 'the session-ended page');
    assertWatched(watch, true);
  });

  it('the connection doctor: an IdP certificate that has expired, with its fix', async () => {
    const orgId = await newOrganization('Globex', 'globex.test');
    const expiredOn = new Date(Date.UTC(2025, 0, 31, 12));
    const conn = await gh.api('POST', '/connections', {
      organization_id: orgId,
      connection_type: 'OktaSAML',
      name: 'Globex Okta',
      saml_options: {
        idp_entity_id: 'http://www.okta.com/exk1globex',
        idp_sso_url: 'https://globex.okta.com/app/globex/exk1globex/sso/saml',
        idp_certificates: [expiredCertificate(expiredOn)],
      },
    });
    assert.equal(conn.status, 201, JSON.stringify(conn.body));
    const { context, watch } = await newContext();
    const page = await context.newPage();
    await page.goto(await setupLink(orgId));
    // The organization's one connection opens directly.
    assert.equal(page.url(), `${gh.url}/portal/sso/connections/${conn.body.id}`);
    await page.getByText("Okta's signing certificate expired on 2025-01-31.").waitFor();
    await page.getByText('Create or activate a new signing certificate in Okta').waitFor();
    await assertAccessible(page, 'a connection page with a problem found by the doctor');
    // Made through the API, it is on already (validating): nothing to activate.
    assert.equal(await page.locator('h1 .badge').textContent(), 'On (not yet used)');
    await page.getByText('Single sign-on with Okta is on.').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Activate single sign-on' }).count(), 0);
    await screenshot(page, 'portal-doctor.png', page.locator('section', { has: page.locator('#check') }));
    assertWatched(watch, true);
  });

  it('a success_url origin that is not plain CSP source syntax never reaches the policy (a ";" in a host name)', () => {
    assert.equal(new URL('https://a;script-src*.test/').origin, 'https://a;script-src*.test');
    assert.equal(
      portalCsp(['https://a;script-src*.test', 'https://app.example.com:8443']),
      portalCsp(['https://app.example.com:8443']),
    );
    assert.match(
      portalCsp(['https://app.example.com:8443']),
      /; form-action 'self' https:\/\/app\.example\.com:8443;/,
    );
  });

  it('domain verification: add the domain, read the TXT record off the page, publish it on the DNS server, verify', async () => {
    const orgId = await newOrganization('Stark');
    const { context, watch } = await newContext();
    const page = await context.newPage();
    await page.goto(await setupLink(orgId, 'domain_verification'));
    assert.equal(page.url(), `${gh.url}/portal/domains`);
    await page.getByRole('heading', { name: 'Verify Stark’s domains' }).waitFor();
    await assertAccessible(page, 'the domains page');

    await page.getByLabel('Domain name').fill('not a domain');
    await page.getByRole('button', { name: 'Add the domain' }).click();
    await page.locator('#e-domain').waitFor();
    await assertAccessible(page, 'the domains page with a validation error');

    await page.getByLabel('Domain name').fill('stark.test');
    await page.getByRole('button', { name: 'Add the domain' }).click();
    await page.getByRole('heading', { name: /^stark\.test/ }).waitFor();
    const name = await shownValue(page, 'Host name');
    const value = await shownValue(page, 'Value');
    await assertAccessible(page, 'a domain page with its TXT record');
    await screenshot(page, 'portal-domain.png');

    // Checked before the record exists: not verified, and why.
    await page.getByRole('button', { name: 'Verify stark.test' }).click();
    await page.getByText(`Not verified: no TXT record was found at ${name}.`).waitFor();
    await assertAccessible(page, 'a domain page after a failed check');

    // The admin publishes the record at their DNS provider (here: the loopback DNS server).
    dns.records.set(name.toLowerCase(), [[value]]);
    await page.getByRole('button', { name: 'Verify stark.test' }).click();
    await page.getByText('stark.test is verified.').waitFor();
    assert.ok(dns.queries.includes(name.toLowerCase()), `DNS was asked ${dns.queries.join(', ')}`);
    await assertAccessible(page, 'a verified domain');
    await page.getByRole('link', { name: 'Continue' }).click();
    await landsOn(page, app.successUrl, watch);

    const org = await gh.workos.organizations.getOrganization(orgId);
    assert.deepEqual(
      org.domains.map((d) => [d.domain, d.state]),
      [['stark.test', 'verified']],
    );
    assertWatched(watch, true);
  });
});
