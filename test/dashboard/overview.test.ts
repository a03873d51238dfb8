import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import forge from 'node-forge';
import { createOperatorLink } from '../../src/dashboard/dashboard.ts';
import { chartOf, niceMax } from '../../src/dashboard/overview.ts';
import { consentForm, TestBrowser } from '../helpers/browser.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { connectOidcIdp, type OidcSetup } from '../helpers/oidc-idp.ts';

/**
 * The dashboard's overview (`/dashboard/overview`, where `/dashboard/` leads): the chart of sign-ins per hour after
 * real sign-ins through oidc-provider (succeeded, and failed at the IdP and at authorize), its accessible title,
 * description and table, the failure reasons ranked, and the connections that need attention (failing, an IdP
 * certificate expiring, validating for long). Anonymous and API-key requests get nothing; stored names render inert.
 */

const APP = 'http://localhost:3000/callback';
const DAY_MS = 24 * 60 * 60 * 1000;
const XSS = '<img src=x onerror=alert(1)>';

let offset = 0;
const now = () => new Date(Date.now() + offset);

function heading(html: string): string {
  return /<h1[^>]*>([^<]*)/.exec(html)?.[1]?.trim() ?? '';
}

/** A self-signed certificate (PEM) valid until `notAfter`, as an IdP publishes it. */
function certificate(notAfter: Date): string {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  cert.serialNumber = `01${randomBytes(8).toString('hex')}`;
  cert.validity.notBefore = new Date(notAfter.getTime() - 400 * DAY_MS);
  cert.validity.notAfter = notAfter;
  cert.setSubject([{ name: 'commonName', value: 'Test IdP' }]);
  cert.setIssuer([{ name: 'commonName', value: 'Test IdP' }]);
  cert.sign(forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/** The bars drawn: their kind and the number in their title. */
function barsOf(html: string): { kind: string; title: string; value: number }[] {
  return [
    ...html.matchAll(/<rect class="bar (ok|bad)"[^>]*><title>([^<]*): (\d+) (?:succeeded|failed)<\/title>/g),
  ].map((m) => ({ kind: m[1] as string, title: m[2] as string, value: Number(m[3]) }));
}

/** The hour table's rows: [hour, succeeded, failed, timed out]. */
function tableOf(html: string): number[][] {
  return [
    ...html.matchAll(/<tr><th scope="row">[^<]*<\/th><td>(\d+)<\/td><td>(\d+)<\/td><td>(\d+)<\/td><\/tr>/g),
  ].map((m) => [Number(m[1]), Number(m[2]), Number(m[3])]);
}

/** The reasons table: [reason, count]. */
function reasonsOf(html: string): [string, number][] {
  const section = html.slice(html.indexOf('id="reasons"'));
  return [...section.matchAll(/<tr><td><code>([^<]*)<\/code><\/td><td>(\d+)<\/td>/g)].map((m) => [
    m[1] as string,
    Number(m[2]),
  ]);
}

function attentionOf(html: string): string {
  const start = html.indexOf('id="attention"');
  return html.slice(start, html.indexOf('</section>', start));
}

describe('dashboard: the overview', { timeout: 120_000 }, () => {
  let gh: TestGatehouse;
  let oidc: OidcSetup;

  before(async () => {
    gh = await startGatehouse({ now });
    oidc = await connectOidcIdp(gh, { appRedirectUri: APP });
  });
  after(async () => {
    await gh?.close();
    await oidc?.idp.close();
  });

  async function signedIn(): Promise<TestBrowser> {
    const email = `ops-${Math.random().toString(36).slice(2)}@example.com`;
    const link = await createOperatorLink({ store: gh.store, publicUrl: gh.url, now }, 'invite', { email });
    const browser = new TestBrowser();
    const html = await (await browser.request(link)).text();
    const token = /name="token" value="([^"]+)"/.exec(html)?.[1] ?? '';
    const res = await browser.request(`${gh.url}/dashboard/welcome`, { form: { token } });
    assert.equal(res.status, 303);
    return browser;
  }

  const authorizeUrl = (organization = oidc.orgId) =>
    gh.workos.sso.getAuthorizationUrl({ clientId: gh.clientId, redirectUri: APP, organization });

  async function succeed(login: string): Promise<void> {
    const browser = new TestBrowser();
    const atConsent = await browser.signInAtIdp(authorizeUrl(), login, oidc.idp.issuer, APP);
    assert.equal(atConsent.res.status, 200);
    const approved = await browser.request(`${gh.url}/sso/consent`, {
      form: { consent_token: consentForm(await atConsent.res.text()).token, decision: 'approve' },
      headers: { origin: gh.url },
    });
    assert.equal(approved.status, 303);
    assert.ok(approved.headers.get('location')?.startsWith(`${APP}?code=`));
  }

  /** The IdP answers the callback with `access_denied`. */
  async function failAtIdp(): Promise<void> {
    const browser = new TestBrowser();
    const toIdp = new URL((await browser.request(authorizeUrl())).headers.get('location') ?? '');
    const callback = new URL(toIdp.searchParams.get('redirect_uri') ?? '');
    callback.searchParams.set('error', 'access_denied');
    callback.searchParams.set('error_description', `User is not assigned ${XSS}`);
    callback.searchParams.set('state', toIdp.searchParams.get('state') ?? '');
    callback.searchParams.set('iss', oidc.idp.issuer);
    const answer = await browser.request(callback);
    assert.equal(answer.status, 302);
    assert.match(answer.headers.get('location') ?? '', /error=access_denied/);
  }

  it('anonymous and API-key requests get the sign-in page; /dashboard/ leads to the overview', async () => {
    for (const headers of [{}, { authorization: `Bearer ${gh.apiKey}` }] as Record<string, string>[]) {
      const res = await fetch(`${gh.url}/dashboard/overview`, { headers });
      assert.equal(res.status, 401);
      const html = await res.text();
      assert.equal(heading(html), 'Sign in to the dashboard');
      assert.ok(!html.includes('<svg'), 'no data');
    }
    const browser = await signedIn();
    const home = await browser.request(`${gh.url}/dashboard/`);
    assert.equal(home.status, 303);
    assert.equal(home.headers.get('location'), '/dashboard/overview');
    const html = await (await browser.request(`${gh.url}/dashboard/overview`)).text();
    assert.match(html, /<a href="\/dashboard\/overview" aria-current="page">Overview<\/a>/);
    assert.ok(html.indexOf('>Overview</a>') < html.indexOf('>Organizations</a>'), 'first in the navigation');
    assert.match(html, /<a href="\/dashboard\/environment">Environment<\/a>/);
    // Nothing yet: an empty chart that says so, no reason, nothing needing attention.
    assert.match(html, /<desc id="chart-desc">No sign-in in the last 24 hours\.<\/desc>/);
    assert.deepEqual(barsOf(html), []);
    assert.equal(tableOf(html).length, 24);
    assert.match(html, /No failed sign-in in the last 7 days/);
    assert.match(attentionOf(html), /None: no connection is failing/);
  });

  it('after real sign-ins: the bars, the description and the table count them; the reasons are ranked; the failing connection needs attention', async () => {
    await gh.api('PUT', `/connections/${oidc.connectionId}`, { name: `Acme ${XSS}` });
    await succeed('ada');
    await succeed('grace');
    await failAtIdp();
    await failAtIdp();
    // A failure at authorize (an organization that does not exist): no connection.
    const unknown = await new TestBrowser().request(authorizeUrl('org_01HZZZZZZZZZZZZZZZZZZZZZZZ'));
    assert.equal(unknown.status, 302);

    const browser = await signedIn();
    const res = await browser.request(`${gh.url}/dashboard/overview`);
    assert.equal(res.status, 200);
    const html = await res.text();

    // The chart: an image with a title and a description that give the totals; a bar per non-zero count.
    assert.match(
      html,
      /<svg viewBox="0 0 760 220" role="img" aria-labelledby="chart-title chart-desc" focusable="false">\n<title id="chart-title">Sign-ins per hour, last 24 hours \(UTC\)<\/title>/,
    );
    assert.match(html, /<desc id="chart-desc">[^<]*In all: 2 succeeded, 3 failed, 0 timed out\./);
    const bars = barsOf(html);
    const sum = (kind: string) => bars.filter((b) => b.kind === kind).reduce((n, b) => n + b.value, 0);
    assert.equal(sum('ok'), 2);
    assert.equal(sum('bad'), 3);
    // The sign-ins of this test happened within a minute or two: in the last hour or two of the chart.
    const current = new Date(now()).toISOString().slice(11, 13);
    assert.ok(bars.some((b) => b.title.startsWith(`${current}:00`) || b.title.endsWith(`${current}:00 UTC`)));
    // The table says the same, hour by hour.
    const table = tableOf(html);
    assert.equal(table.length, 24);
    assert.deepEqual(
      table.reduce((t, r) => t.map((v, i) => v + (r[i] as number)), [0, 0, 0]),
      [2, 3, 0],
    );
    assert.match(html, /<strong>2<\/strong> succeeded, <strong>3<\/strong> failed/);

    // Reasons, most first, as the session log recorded them.
    const failed = (await gh.api('GET', '/sso/sessions?limit=100')).body.data.filter(
      (s: { outcome: string }) => s.outcome === 'failed',
    ) as { reason: string; connection_id: string | null }[];
    const atIdp = failed.find((s) => s.connection_id === oidc.connectionId)?.reason as string;
    const atAuthorize = failed.find((s) => s.connection_id === null)?.reason as string;
    assert.ok(atIdp && atAuthorize && atIdp !== atAuthorize);
    assert.deepEqual(reasonsOf(html), [
      [atIdp, 2],
      [atAuthorize, 1],
    ]);
    assert.ok(!html.includes('User is not assigned'), 'the IdP’s own text is not shown');

    // The connection: 2 of its 4 sign-ins failed. Its name is escaped.
    const attention = attentionOf(html);
    assert.ok(attention.includes(`Acme &lt;img src=x onerror=alert(1)&gt;`));
    assert.ok(!html.includes(XSS));
    assert.match(attention, /Failing<\/span>/);
    assert.match(
      attention,
      /2 of 4 sign-ins failed in the last 24 hours; last success \d{4}-\d\d-\d\d \d\d:\d\d UTC\./,
    );
    assert.ok(
      attention.includes(`href="/dashboard/sessions?connection_id=${oidc.connectionId}&amp;outcome=failed"`),
    );

    // One more success: fewer than half failed, no longer failing.
    await succeed('linus');
    const later = attentionOf(await (await browser.request(`${gh.url}/dashboard/overview`)).text());
    assert.doesNotMatch(later, /Failing<\/span>/);
  });

  it('an IdP certificate expiring within 90 days, and connections validating for more than a week, need attention', async () => {
    const org = await gh.workos.organizations.createOrganization({ name: 'Cert Co' });
    const saml = async (name: string, days: number) =>
      (
        await gh.api('POST', '/connections', {
          organization_id: org.id,
          connection_type: 'OktaSAML',
          name,
          saml_options: {
            idp_entity_id: `https://idp.example/${randomBytes(4).toString('hex')}`,
            idp_sso_url: 'https://idp.example/sso',
            idp_certificates: [certificate(new Date(Date.now() + days * DAY_MS))],
          },
        })
      ).body as { id: string; state: string };
    const soon = await saml(`Soon ${XSS}`, 30);
    const later = await saml('Later', 200);
    assert.equal(soon.state, 'validating');
    const browser = await signedIn();
    let attention = attentionOf(await (await browser.request(`${gh.url}/dashboard/overview`)).text());
    assert.ok(
      attention.includes(
        `<a href="/dashboard/connections/${soon.id}">Soon &lt;img src=x onerror=alert(1)&gt;</a>`,
      ),
    );
    assert.match(attention, /signing certificate expires on \d{4}-\d\d-\d\d \(in (29|30) days\)/);
    assert.ok(!attention.includes(later.id), 'not within 90 days');
    assert.doesNotMatch(attention, /Validating<\/span>/);

    // Renewed through the store itself, as another node's write would be (this node's config cache is not cleared):
    // this node's list is kept up to 5 minutes, then read again (the page shows the list it has meanwhile).
    const renewed = await gh.store.getConnection(soon.id);
    assert.ok(renewed);
    await gh.store.updateConnection(soon.id, {
      config: { ...renewed.config, idpCertificates: [certificate(new Date(Date.now() + 300 * DAY_MS))] },
    });
    const view = async (b: TestBrowser) =>
      attentionOf(await (await b.request(`${gh.url}/dashboard/overview`)).text());
    assert.ok((await view(browser)).includes(soon.id), 'within 5 minutes: as read');
    offset = 6 * 60 * 1000;
    try {
      assert.ok((await view(browser)).includes(soon.id), 'the stale list, while a fresh one is read');
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.ok(!(await view(browser)).includes(soon.id), 'read again');
    } finally {
      offset = 0;
    }

    // Eight days on, both are still validating (nobody signed in through them): both need attention.
    offset = 8 * DAY_MS;
    try {
      // (A new session: the first ended after 30 minutes idle.)
      const later8 = await signedIn();
      attention = attentionOf(await (await later8.request(`${gh.url}/dashboard/overview`)).text());
      assert.equal([...attention.matchAll(/Validating<\/span>/g)].length, 2);
      assert.ok(attention.includes(`/dashboard/connections/${later.id}`));
      assert.ok(attention.includes(`/dashboard/connections/${soon.id}`));
    } finally {
      offset = 0;
    }
  });
});

describe('the overview chart', () => {
  it('scales to 1, 2 or 5 × 10ⁿ and draws a bar only for a count above zero', () => {
    assert.deepEqual(
      [0, 1, 2, 3, 7, 10, 11, 40, 99, 101, 5000].map(niceMax),
      [1, 1, 2, 5, 10, 10, 20, 50, 100, 200, 5000],
    );
    const hour = new Date(Date.UTC(2030, 0, 1, 13));
    const chart = chartOf([
      { hour, succeeded: 4, failed: 0, timedOut: 3 },
      { hour: new Date(hour.getTime() + 3_600_000), succeeded: 0, failed: 2, timedOut: 0 },
    ]);
    assert.deepEqual(
      chart.bars.map((b) => [b.kind, b.label, b.height]),
      [
        ['ok', '13:00–14:00 UTC: 4 succeeded', '144.0'],
        ['bad', '14:00–15:00 UTC: 2 failed', '72.0'],
      ],
    );
    assert.deepEqual(
      chart.grid.map((g) => g.label),
      ['0', '5'],
    );
  });
});
