import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { NotFoundException } from '@workos-inc/node';
import forge from 'node-forge';
import * as samlify from 'samlify';
import { createOperatorLink } from '../../src/dashboard/dashboard.ts';
import { newId } from '../../src/lib/ids.ts';
import { consentForm, TestBrowser } from '../helpers/browser.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { connectOidcIdp, type TestIdp } from '../helpers/oidc-idp.ts';
import { REDIRECT } from '../helpers/saml-idp.ts';

/**
 * The dashboard's connections (issue 13): the list with each connection's sign-ins after real ones (oidc-provider:
 * one success, one failure) and its IdP certificate's expiry, one connection's page, and the actions (activate,
 * deactivate, delete after a confirmation, refresh metadata, the doctor, a test sign-in link), each through the
 * management functions, audited, refused without this session's CSRF token; escaping; anonymous requests.
 */

const APP = 'http://localhost:3000/callback';
const DAY_MS = 24 * 60 * 60 * 1000;

function csrfOf(html: string): string {
  return /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
}
function heading(html: string): string {
  return /<h1>([^<]*)/.exec(html)?.[1]?.trim() ?? '';
}
/** The text of the table row that names `id` (tags dropped, spaces collapsed). */
function rowOf(html: string, id: string): string {
  const row = html.split('<tr>').find((r) => r.includes(id)) ?? '';
  return row
    .slice(0, row.indexOf('</tr>'))
    .replace(/<br>/g, ' | ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}
/** As the pages print a time. */
function shown(d: Date): string {
  return `${d.toISOString().replace('T', ' ').slice(0, 16)} UTC`;
}

/** A self-signed certificate (PEM) valid until `notAfter`, as an IdP publishes it (node-forge, as keys.ts does). */
function certificate(notAfter: Date, name = 'Test IdP'): string {
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
  cert.setSubject([{ name: 'commonName', value: name }]);
  cert.setIssuer([{ name: 'commonName', value: name }]);
  cert.sign(forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

describe('the dashboard’s connections', { timeout: 120_000 }, () => {
  let gh: TestGatehouse;
  let idp: TestIdp;
  let orgId: string;
  let connectionId: string;

  before(async () => {
    gh = await startGatehouse();
    ({ idp, orgId, connectionId } = await connectOidcIdp(gh, { appRedirectUri: APP }));
  });
  after(async () => {
    await gh?.close();
    await idp?.close();
  });

  async function signedIn(): Promise<{ browser: TestBrowser; csrf: string }> {
    const email = `ops-${randomBytes(4).toString('hex')}@example.com`;
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
    const page = await browser.request(`${gh.url}/dashboard/connections`);
    assert.equal(page.status, 200);
    return { browser, csrf: csrfOf(await page.text()) };
  }

  async function samlConnection(options: Record<string, unknown>, name = 'Globex SAML') {
    const org = await gh.workos.organizations.createOrganization({
      name: `Globex ${randomBytes(3).toString('hex')}`,
    });
    const conn = await gh.api('POST', '/connections', {
      organization_id: org.id,
      connection_type: 'OktaSAML',
      name,
      saml_options: options,
    });
    assert.equal(conn.status, 201, JSON.stringify(conn.body));
    return { id: conn.body.id as string, orgId: org.id };
  }

  const auditOf = async (id: string) =>
    (await gh.store.listAudit({ targetId: id }, { limit: 100, order: 'asc' })).data.map((a) => ({
      action: a.action,
      detail: a.detail,
    }));

  it('the list after real sign-ins (one success, one failure): state, IdP, organization, last of each, counts and failure rate', async () => {
    const authorizeUrl = gh.workos.sso.getAuthorizationUrl({
      clientId: gh.clientId,
      redirectUri: APP,
      organization: orgId,
    });
    // A success: the user signs in at oidc-provider and approves the consent screen.
    const browser = new TestBrowser();
    const atConsent = await browser.signInAtIdp(authorizeUrl, 'ada', idp.issuer, APP);
    const approved = await browser.request(`${gh.url}/sso/consent`, {
      form: { consent_token: consentForm(await atConsent.res.text()).token, decision: 'approve' },
      headers: { origin: gh.url },
    });
    assert.equal(approved.status, 303);
    assert.ok(approved.headers.get('location')?.startsWith(`${APP}?code=`));
    // A failure: the IdP answers with an error.
    const started = await browser.request(authorizeUrl);
    const toIdp = new URL(started.headers.get('location') ?? '');
    const callback = new URL(toIdp.searchParams.get('redirect_uri') ?? '');
    callback.searchParams.set('error', 'access_denied');
    callback.searchParams.set('state', toIdp.searchParams.get('state') ?? '');
    callback.searchParams.set('iss', idp.issuer);
    assert.equal((await browser.request(callback)).status, 302);

    const log = (await gh.store.listSessions({ connectionId }, { limit: 10, order: 'desc' })).data;
    const succeeded = log.find((s) => s.outcome === 'succeeded');
    const failed = log.find((s) => s.outcome === 'failed');
    assert.ok(succeeded && failed && log.length === 2);

    const { browser: operator } = await signedIn();
    const html = await (await operator.request(`${gh.url}/dashboard/connections`)).text();
    const port = new URL(idp.issuer).host;
    assert.equal(
      rowOf(html, connectionId),
      `Acme Okta | ${connectionId} Active Okta (OpenID Connect) | ${port} | OktaOIDC Acme Succeeded: ${shown(succeeded.createdAt)} | Failed: ${shown(failed.createdAt)} 24 h: 2, 50% failed | 7 days: 2, 50% failed`,
    );
    // The connection's page: the same figures, the recent sign-ins, the session log link.
    const page = await (await operator.request(`${gh.url}/dashboard/connections/${connectionId}`)).text();
    assert.equal(heading(page), 'Acme Okta');
    assert.ok(page.includes(`<dt>Last 24 hours</dt><dd>2, 50% failed</dd>`));
    assert.ok(page.includes(`<dt>Last succeeded</dt><dd>${shown(succeeded.createdAt)}</dd>`));
    assert.ok(page.includes('ada@acme.com'));
    assert.ok(failed.reason && page.includes(`<code>${failed.reason}</code>`));
    assert.ok(page.includes(`href="/dashboard/sessions?connection_id=${connectionId}"`));
    assert.ok(page.includes(`href="/dashboard/sessions/${failed.id}"`));
    // The values the IT admin needs, and the IdP's side.
    const redirectUri = (await gh.api('GET', `/connections/${connectionId}`)).body.oidc_options.redirect_uri;
    assert.ok(page.includes(`value="${redirectUri}" data-copy="Redirect URI (sign-in redirect URI)"`));
    assert.ok(page.includes(`<dt>Issuer</dt><dd>${idp.issuer}</dd>`));
    assert.ok(page.includes('<dt>Client secret</dt><dd>saved</dd>'));
    assert.ok(!page.includes(idp.clientSecret), 'never the secret');
  });

  it('certificate expiry: a warning badge under 90 days (an IdP certificate expiring in 30 days), none at 200; the doctor says it too', async () => {
    const now = Date.now();
    const soon = await samlConnection({
      idp_entity_id: 'https://idp.globex.test/saml',
      idp_sso_url: 'https://idp.globex.test/sso',
      idp_certificates: [certificate(new Date(now + 30 * DAY_MS))],
    });
    const later = await samlConnection({
      idp_entity_id: 'https://idp.globex.test/saml',
      idp_sso_url: 'https://idp.globex.test/sso',
      idp_certificates: [certificate(new Date(now + 200 * DAY_MS))],
    });
    const { browser } = await signedIn();
    const list = async (org: string) =>
      (await browser.request(`${gh.url}/dashboard/connections?organization_id=${org}`)).text();
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    const soonRow = rowOf(await list(soon.orgId), soon.id);
    assert.ok(soonRow.endsWith(`Expires soon | ${day(now + 30 * DAY_MS)} (in 30 days)`), soonRow);
    assert.ok(soonRow.includes('Validating Okta | idp.globex.test | OktaSAML'), soonRow);
    assert.ok(soonRow.includes('never | Failed: never 24 h: 0 | 7 days: 0'), soonRow);
    const laterRow = rowOf(await list(later.orgId), later.id);
    assert.ok(laterRow.endsWith(`7 days: 0 ${day(now + 200 * DAY_MS)} (in 200 days)`), laterRow);
    assert.ok((await list(soon.orgId)).includes('class="badge cert-warn"'));
    assert.ok(!(await list(later.orgId)).includes('class="badge cert-warn"'));
    const page = await (await browser.request(`${gh.url}/dashboard/connections/${soon.id}`)).text();
    assert.match(page, /Okta&#39;s signing certificate expires in 30 days/);
    assert.match(page, /<span class="badge cert-warn">in 30 days<\/span>/);
    // For the IT admin: the SAML values, ready to copy.
    const saml = (await gh.api('GET', `/connections/${soon.id}`)).body.saml_options;
    assert.ok(page.includes(`value="${saml.acs_url}" data-copy="Assertion Consumer Service (ACS) URL"`));
    assert.ok(page.includes(`value="${saml.sp_entity_id}"`));
    assert.ok(page.includes(`value="${saml.sp_metadata_url}"`));
  });

  it('the list filters by state and organization; an unknown connection is a 404 page', async () => {
    const { browser } = await signedIn();
    const a = await samlConnection({ idp_metadata_url: undefined }, 'Draft one');
    assert.equal((await gh.api('GET', `/connections/${a.id}`)).body.state, 'draft');
    const drafts = await (await browser.request(`${gh.url}/dashboard/connections?state=draft`)).text();
    assert.ok(drafts.includes(a.id));
    assert.ok(!drafts.includes(connectionId));
    const ofAcme = await (
      await browser.request(`${gh.url}/dashboard/connections?organization_id=${orgId}`)
    ).text();
    assert.ok(ofAcme.includes(connectionId));
    assert.ok(!ofAcme.includes(a.id));
    assert.match(ofAcme, /<h1>Connections <span class="muted">of Acme<\/span><\/h1>/);
    const missing = await browser.request(`${gh.url}/dashboard/connections/conn_01HZZZZZZZZZZZZZZZZZZZZZZZ`);
    assert.equal(missing.status, 404);
    assert.equal(heading(await missing.text()), 'Connection not found');
  });

  it('deactivate and activate through the management functions, each audited with the state before and after', async () => {
    const { browser, csrf } = await signedIn();
    const off = await browser.request(`${gh.url}/dashboard/connections/${connectionId}/deactivate`, {
      form: { csrf },
    });
    assert.equal(off.status, 303);
    assert.equal(off.headers.get('location'), `/dashboard/connections/${connectionId}?notice=deactivated`);
    assert.equal((await gh.workos.sso.getConnection(connectionId)).state, 'inactive');
    const page = await (await browser.request(`${gh.url}${off.headers.get('location')}`)).text();
    assert.match(page, /The connection is off/);
    assert.ok(page.includes(`action="/dashboard/connections/${connectionId}/activate"`));
    const on = await browser.request(`${gh.url}/dashboard/connections/${connectionId}/activate`, {
      form: { csrf },
    });
    assert.equal(on.status, 303);
    assert.equal((await gh.workos.sso.getConnection(connectionId)).state, 'active');
    assert.deepEqual((await auditOf(connectionId)).slice(-2), [
      { action: 'connection.deactivate', detail: { name: 'Acme Okta', from: 'active', to: 'inactive' } },
      { action: 'connection.activate', detail: { name: 'Acme Okta', from: 'inactive', to: 'active' } },
    ]);
    // A draft cannot be activated: the management API's reason on the page, nothing changed, nothing audited.
    const draft = await samlConnection({}, 'Incomplete');
    const refused = await browser.request(`${gh.url}/dashboard/connections/${draft.id}/activate`, {
      form: { csrf },
    });
    assert.equal(refused.status, 422);
    assert.match(await refused.text(), /cannot be activated until these options are set/);
    assert.equal((await gh.api('GET', `/connections/${draft.id}`)).body.state, 'draft');
    assert.deepEqual(await auditOf(draft.id), []);
  });

  it('refresh metadata: re-reads the IdP’s metadata URL (a renewed certificate), audited; without a URL it says so', async () => {
    const now = Date.now();
    const metadata = (cert: string) =>
      samlify
        .IdentityProvider({
          entityID: 'https://idp.initech.test/saml',
          signingCert: cert,
          singleSignOnService: [{ Binding: REDIRECT, Location: 'https://idp.initech.test/sso' }],
        })
        .getMetadata();
    let body = metadata(certificate(new Date(now + 20 * DAY_MS), 'first'));
    const server: Server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/samlmetadata+xml' });
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metadata.xml`;
      const conn = await samlConnection({ idp_metadata_url: url }, 'Initech SAML');
      const { browser, csrf } = await signedIn();
      const before = await (await browser.request(`${gh.url}/dashboard/connections/${conn.id}`)).text();
      assert.match(before, /<span class="badge cert-warn">in 20 days<\/span>/);
      assert.ok(before.includes(`action="/dashboard/connections/${conn.id}/refresh_metadata"`));
      body = metadata(certificate(new Date(now + 365 * DAY_MS), 'second'));
      const refreshed = await browser.request(`${gh.url}/dashboard/connections/${conn.id}/refresh_metadata`, {
        form: { csrf },
      });
      assert.equal(refreshed.status, 303);
      const after = await (await browser.request(`${gh.url}${refreshed.headers.get('location')}`)).text();
      assert.match(after, /The IdP&#39;s metadata was read again/);
      assert.match(after, /<span class="badge cert-ok">in 365 days<\/span>/);
      assert.deepEqual(await auditOf(conn.id), [
        { action: 'connection.refresh_metadata', detail: { name: 'Initech SAML' } },
      ]);
      // A connection without a metadata URL: no button, and a forged post gets the reason, nothing audited.
      const manual = await samlConnection({
        idp_entity_id: 'https://idp.globex.test/saml',
        idp_sso_url: 'https://idp.globex.test/sso',
        idp_certificates: [certificate(new Date(now + 200 * DAY_MS))],
      });
      const page = await (await browser.request(`${gh.url}/dashboard/connections/${manual.id}`)).text();
      assert.ok(!page.includes('/refresh_metadata"'));
      const refused = await browser.request(`${gh.url}/dashboard/connections/${manual.id}/refresh_metadata`, {
        form: { csrf },
      });
      assert.equal(refused.status, 422);
      assert.match(await refused.text(), /Only SAML connections configured with idp_metadata_url/);
      assert.deepEqual(await auditOf(manual.id), []);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('the doctor runs again on request; the test sign-in gives an Admin Portal link that opens the portal, audited', async () => {
    const { browser, csrf } = await signedIn();
    const doctor = await browser.request(`${gh.url}/dashboard/connections/${connectionId}/doctor`, {
      form: { csrf },
    });
    assert.equal(doctor.status, 200);
    const html = await doctor.text();
    assert.match(html, /The doctor checked the connection again/);
    assert.match(html, /<strong>The last sign-in failed: /);
    const test = await browser.request(`${gh.url}/dashboard/connections/${connectionId}/test_sign_in`, {
      form: { csrf },
    });
    assert.equal(test.status, 200);
    const page = await test.text();
    assert.match(page, /Test sign-ins run in the Admin Portal/);
    const link = (/id="v-link" type="text" readonly value="([^"]+)"/.exec(page)?.[1] ?? '').replace(
      /&amp;/g,
      '&',
    );
    assert.match(link, /^http:\/\/127\.0\.0\.1:\d+\/portal\/launch\?token=/);
    const admin = new TestBrowser();
    const launched = await admin.request(link);
    assert.equal(launched.status, 303);
    const portal = await admin.follow(new URL(launched.headers.get('location') ?? '', gh.url));
    assert.equal(portal.res.status, 200);
    assert.match(await portal.res.text(), new RegExp(`/portal/sso/connections/${connectionId}/test\\?csrf=`));
    assert.deepEqual((await auditOf(connectionId)).at(-1), {
      action: 'connection.test_sign_in_link',
      detail: { organization_id: orgId },
    });
  });

  it('delete asks first (nothing deleted), then deletes with confirm=yes through deleteConnection, audited', async () => {
    const victim = await samlConnection(
      {
        idp_entity_id: 'https://idp.globex.test/saml',
        idp_sso_url: 'https://idp.globex.test/sso',
        idp_certificates: [certificate(new Date(Date.now() + 200 * DAY_MS))],
      },
      'To delete',
    );
    const { browser, csrf } = await signedIn();
    const ask = await browser.request(`${gh.url}/dashboard/connections/${victim.id}/delete`, {
      form: { csrf },
    });
    assert.equal(ask.status, 200);
    const question = await ask.text();
    assert.equal(heading(question), 'Delete To delete?');
    assert.ok(question.includes('<input type="hidden" name="confirm" value="yes">'));
    assert.equal((await gh.workos.sso.getConnection(victim.id)).id, victim.id);
    // Anything but "yes" asks again.
    const maybe = await browser.request(`${gh.url}/dashboard/connections/${victim.id}/delete`, {
      form: { csrf, confirm: 'YES' },
    });
    assert.equal(maybe.status, 200);
    assert.equal((await gh.workos.sso.getConnection(victim.id)).id, victim.id);
    assert.deepEqual(await auditOf(victim.id), []);
    const done = await browser.request(`${gh.url}/dashboard/connections/${victim.id}/delete`, {
      form: { csrf, confirm: 'yes' },
    });
    assert.equal(done.status, 303);
    assert.equal(done.headers.get('location'), '/dashboard/connections?notice=deleted');
    await assert.rejects(gh.workos.sso.getConnection(victim.id), NotFoundException);
    assert.deepEqual(await auditOf(victim.id), [
      {
        action: 'connection.delete',
        detail: { name: 'To delete', connection_type: 'OktaSAML', organization_id: victim.orgId },
      },
    ]);
    const again = await browser.request(`${gh.url}/dashboard/connections/${victim.id}/delete`, {
      form: { csrf, confirm: 'yes' },
    });
    assert.equal(again.status, 404);
  });

  it('CSRF: every action without this session’s token (missing, wrong, another session’s) is refused, nothing changed or audited', async () => {
    const a = await signedIn();
    const b = await signedIn();
    const target = await samlConnection(
      {
        idp_entity_id: 'https://idp.globex.test/saml',
        idp_sso_url: 'https://idp.globex.test/sso',
        idp_certificates: [certificate(new Date(Date.now() + 200 * DAY_MS))],
      },
      'Guarded',
    );
    const auditBefore = (await gh.store.listAudit({}, { limit: 100, order: 'desc' })).data.length;
    for (const action of ['activate', 'deactivate', 'refresh_metadata', 'doctor', 'test_sign_in', 'delete']) {
      for (const csrf of [undefined, 'wrong', b.csrf]) {
        const res = await a.browser.request(`${gh.url}/dashboard/connections/${target.id}/${action}`, {
          form: { ...(csrf === undefined ? {} : { csrf }), confirm: 'yes' },
        });
        assert.equal(res.status, 403, `${action} ${csrf}`);
        assert.equal(heading(await res.text()), 'This form has expired');
      }
    }
    assert.equal((await gh.workos.sso.getConnection(target.id)).state, 'validating');
    assert.equal((await gh.store.listAudit({}, { limit: 100, order: 'desc' })).data.length, auditBefore);
  });

  it('XSS: connection and organization names, IdP attribute values and upstream error text render inert', async () => {
    const payload = '<script>alert(1)</script><img src=x onerror=alert(2)>';
    const org = await gh.workos.organizations.createOrganization({ name: `Evil ${payload}` });
    const conn = await gh.api('POST', '/connections', {
      organization_id: org.id,
      connection_type: 'GenericOIDC',
      name: `Conn ${payload}`,
      oidc_options: { issuer: idp.issuer, client_id: 'x', client_secret: 'y' },
    });
    assert.equal(conn.status, 201);
    const id = conn.body.id as string;
    await gh.store.createSession({
      id: newId('sess'),
      clientId: gh.clientId,
      connectionId: id,
      organizationId: org.id,
      connectionType: 'GenericOIDC',
      redirectUri: APP,
      outcome: 'failed',
      failedStage: 'upstream_error',
      reason: 'upstream_denied',
      wireCode: 'access_denied',
      upstreamError: { error: 'access_denied', error_description: payload },
      detail: { received: payload },
      profileId: null,
      idpId: payload,
      email: `${payload}@acme.com`,
      authorizeRequestId: `req_${randomBytes(8).toString('hex')}`,
      callbackRequestId: null,
      consentRequestId: null,
      stages: {},
      expiresAt: new Date(Date.now() + 600_000),
    });
    const { browser, csrf } = await signedIn();
    const pages = [
      await (await browser.request(`${gh.url}/dashboard/connections`)).text(),
      await (await browser.request(`${gh.url}/dashboard/connections?organization_id=${org.id}`)).text(),
      await (await browser.request(`${gh.url}/dashboard/connections/${id}`)).text(),
      await (
        await browser.request(`${gh.url}/dashboard/connections/${id}/delete`, { form: { csrf } })
      ).text(),
    ];
    for (const html of pages) {
      assert.ok(!html.includes('<script>alert'), 'no script');
      assert.ok(!html.includes('<img src=x'), 'no element');
      assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;'));
    }
  });

  it('anonymous requests and requests with the API key only get the sign-in page (401), no data, no change', async () => {
    const paths = ['/dashboard/connections', `/dashboard/connections/${connectionId}`];
    for (const path of paths) {
      for (const headers of [{}, { authorization: `Bearer ${gh.apiKey}` }] as Record<string, string>[]) {
        const res = await fetch(`${gh.url}${path}`, { headers, redirect: 'manual' });
        assert.equal(res.status, 401, path);
        const html = await res.text();
        assert.equal(heading(html), 'Sign in to the dashboard');
        assert.ok(!html.includes('conn_'), 'no data');
      }
    }
    const state = (await gh.workos.sso.getConnection(connectionId)).state;
    for (const action of ['activate', 'deactivate', 'refresh_metadata', 'doctor', 'test_sign_in', 'delete']) {
      const res = await fetch(`${gh.url}/dashboard/connections/${connectionId}/${action}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${gh.apiKey}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'confirm=yes',
      });
      assert.equal(res.status, 401, action);
    }
    assert.equal((await gh.workos.sso.getConnection(connectionId)).state, state);
  });
});
