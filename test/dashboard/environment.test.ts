import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createOperatorLink } from '../../src/dashboard/dashboard.ts';
import { TestBrowser } from '../helpers/browser.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';

/**
 * The dashboard's Environment page (client ID, redirect URIs, API keys) and one organization's page (details,
 * domains, connections, Admin Portal links), over HTTP as an operator uses them: each change goes through the
 * management API's function (checked through the API itself) and into the audit log; every form checks its CSRF
 * token; nothing answers without an operator session; stored values render inert.
 */

const now = () => new Date();

function csrfOf(html: string): string {
  return /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
}
function heading(html: string): string {
  return /<h1[^>]*>([^<]*)/.exec(html)?.[1]?.trim() ?? '';
}
function alertOf(html: string): string {
  return /role="alert"><strong>[^<]*<\/strong><p>([^<]*)<\/p>/.exec(html)?.[1] ?? '';
}

describe('dashboard: environment and organization pages', { timeout: 120_000 }, () => {
  let gh: TestGatehouse;

  before(async () => {
    gh = await startGatehouse({ now });
  });
  after(async () => gh?.close());

  async function signedIn(): Promise<{ browser: TestBrowser; csrf: string }> {
    const email = `ops-${Math.random().toString(36).slice(2)}@example.com`;
    const link = await createOperatorLink({ store: gh.store, publicUrl: gh.url, now }, 'invite', { email });
    const browser = new TestBrowser();
    const html = await (await browser.request(link)).text();
    const token = /name="token" value="([^"]+)"/.exec(html)?.[1] ?? '';
    const res = await browser.request(`${gh.url}/dashboard/welcome`, { form: { token } });
    assert.equal(res.status, 303);
    const page = await browser.request(`${gh.url}/dashboard/environment`);
    assert.equal(page.status, 200);
    return { browser, csrf: csrfOf(await page.text()) };
  }

  async function auditActions(): Promise<string[]> {
    return (await gh.store.listAudit({}, { limit: 100, order: 'desc' })).data.map((a) => a.action);
  }

  it('the client ID is shown', async () => {
    const { browser } = await signedIn();
    const html = await (await browser.request(`${gh.url}/dashboard/environment`)).text();
    assert.ok(html.includes(`value="${gh.clientId}" data-copy="Client ID"`));
  });

  it('API keys: a new key is shown once (then only its last four), works, and is revoked; the last active key is refused', async () => {
    const { browser, csrf } = await signedIn();
    const created = await browser.request(`${gh.url}/dashboard/environment/api_keys`, {
      form: { csrf, name: 'CI <img src=x onerror=alert(1)>' },
    });
    assert.equal(created.status, 200);
    assert.equal(created.headers.get('cache-control'), 'no-store');
    const html = await created.text();
    const value = /id="v-new-key" type="text" readonly value="(sk_[A-Za-z0-9]{43})"/.exec(html)?.[1] ?? '';
    assert.ok(value, 'the key is on the answer to the form');
    assert.ok(html.includes('CI &lt;img src=x onerror=alert(1)&gt;'), 'its name is escaped');
    assert.ok(!html.includes('<img src=x'));
    // It works at once, against the management API.
    const listed = await fetch(`${gh.url}/organizations`, { headers: { authorization: `Bearer ${value}` } });
    assert.equal(listed.status, 200);
    // Afterwards: only the last four, anywhere in the dashboard (the page, the audit log).
    const later = await (await browser.request(`${gh.url}/dashboard/environment`)).text();
    assert.ok(!later.includes(value), 'not shown again');
    assert.ok(later.includes(`sk_…${value.slice(-4)}`));
    const auditPage = await (await browser.request(`${gh.url}/dashboard/audit`)).text();
    assert.ok(!auditPage.includes(value));
    assert.ok(
      !JSON.stringify((await gh.store.listAudit({}, { limit: 100, order: 'desc' })).data).includes(value),
    );

    const key = (await gh.store.listApiKeys()).find((k) => k.lastFour === value.slice(-4) && !k.revokedAt);
    assert.ok(key);
    // Revoking asks for the confirmation box; without it nothing changes.
    const unconfirmed = await browser.request(`${gh.url}/dashboard/environment/api_keys/${key.id}/revoke`, {
      form: { csrf },
    });
    assert.equal(unconfirmed.status, 422);
    assert.match(alertOf(await unconfirmed.text()), /confirm/);
    assert.equal((await gh.store.getApiKey(key.id))?.revokedAt, null);
    const revoked = await browser.request(`${gh.url}/dashboard/environment/api_keys/${key.id}/revoke`, {
      form: { csrf, confirm: 'yes' },
    });
    assert.equal(revoked.status, 303);
    assert.equal(revoked.headers.get('location'), '/dashboard/environment');
    assert.equal(
      (await fetch(`${gh.url}/organizations`, { headers: { authorization: `Bearer ${value}` } })).status,
      401,
    );
    assert.match(
      await (await browser.request(`${gh.url}/dashboard/environment`)).text(),
      /<span class="badge">Revoked /,
    );

    // Now the start-up key is the last active one: the page offers no revoke, and a forged post is refused
    // (409, as the API refuses it), the key still working.
    const page = await (await browser.request(`${gh.url}/dashboard/environment`)).text();
    assert.match(page, /The last active key cannot be revoked/);
    const last = (await gh.store.listApiKeys()).find((k) => !k.revokedAt);
    assert.ok(last);
    const refused = await browser.request(`${gh.url}/dashboard/environment/api_keys/${last.id}/revoke`, {
      form: { csrf, confirm: 'yes' },
    });
    assert.equal(refused.status, 409);
    assert.equal(
      alertOf(await refused.text()),
      'The last active API key cannot be revoked; create another one first.',
    );
    assert.equal((await gh.api('GET', '/organizations')).status, 200);
    const unknown = await browser.request(`${gh.url}/dashboard/environment/api_keys/key_unknown/revoke`, {
      form: { csrf, confirm: 'yes' },
    });
    assert.equal(unknown.status, 404);

    const actions = await auditActions();
    assert.ok(actions.includes('api_key.create'));
    assert.equal(
      actions.filter((a) => a === 'api_key.revoke').length,
      1,
      'refusals are not recorded as changes',
    );
  });

  it('redirect URIs: add (the first becomes the default), make another the default, the API’s refusals, remove', async () => {
    const { browser, csrf } = await signedIn();
    const post = (path: string, form: Record<string, string> = {}) =>
      browser.request(`${gh.url}/dashboard/environment/${path}`, { form: { csrf, ...form } });
    const uris = async () =>
      (await gh.api('GET', '/redirect_uris')).body.data as { id: string; uri: string; default: boolean }[];

    assert.equal((await post('redirect_uris', { uri: 'https://app.example.com/callback' })).status, 303);
    assert.equal(
      (await post('redirect_uris', { uri: 'https://app.example.com/other', default: 'on' })).status,
      303,
    );
    let list = await uris();
    const first = list.find((u) => u.uri === 'https://app.example.com/callback');
    const second = list.find((u) => u.uri === 'https://app.example.com/other');
    assert.ok(first && second);
    assert.equal(second.default, true, 'added as the default');
    assert.equal(first.default, false);

    // The API's validation and refusals, shown on the page, nothing changed.
    const invalid = await post('redirect_uris', { uri: 'javascript:alert(1)' });
    assert.equal(invalid.status, 422);
    assert.match(alertOf(await invalid.text()), /^uri /);
    const wildcardDefault = await post('redirect_uris', {
      uri: 'https://*.example.com/callback',
      default: 'on',
    });
    assert.equal(wildcardDefault.status, 422);
    assert.match(alertOf(await wildcardDefault.text()), /wildcard URI cannot be the default/);
    const duplicate = await post('redirect_uris', { uri: 'https://app.example.com/callback' });
    assert.equal(duplicate.status, 409);
    const removeDefault = await post(`redirect_uris/${second.id}/remove`);
    assert.equal(removeDefault.status, 409);
    assert.equal(
      alertOf(await removeDefault.text()),
      'The default redirect URI cannot be removed while other redirect URIs exist; choose another default first.',
    );
    assert.equal((await uris()).length, 2);

    assert.equal((await post(`redirect_uris/${first.id}/default`)).status, 303);
    list = await uris();
    assert.deepEqual(
      list.map((u) => [u.uri, u.default]),
      [
        ['https://app.example.com/callback', true],
        ['https://app.example.com/other', false],
      ],
    );
    const page = await (await browser.request(`${gh.url}/dashboard/environment`)).text();
    assert.match(
      page,
      /<code>https:\/\/app\.example\.com\/callback<\/code><\/td><td><span class="badge active">Default/,
    );
    assert.equal((await post(`redirect_uris/${second.id}/remove`)).status, 303);
    assert.deepEqual(
      (await uris()).map((u) => u.uri),
      ['https://app.example.com/callback'],
    );
    assert.equal((await post('redirect_uris/ruri_unknown/default')).status, 404);

    const audit = (await gh.store.listAudit({}, { limit: 100, order: 'desc' })).data;
    assert.deepEqual(
      audit
        .filter((a) => a.action.startsWith('redirect_uri.'))
        .map((a) => [a.action, a.detail.uri])
        .reverse(),
      [
        ['redirect_uri.add', 'https://app.example.com/callback'],
        ['redirect_uri.add', 'https://app.example.com/other'],
        ['redirect_uri.default', 'https://app.example.com/callback'],
        ['redirect_uri.remove', 'https://app.example.com/other'],
      ],
    );
  });

  it('a redirect URI with markup renders inert', async () => {
    const { browser, csrf } = await signedIn();
    const uri = 'https://app.example.com/cb?next="><script>alert(1)</script>';
    const added = await browser.request(`${gh.url}/dashboard/environment/redirect_uris`, {
      form: { csrf, uri },
    });
    const html =
      added.status === 303
        ? await (await browser.request(`${gh.url}/dashboard/environment`)).text()
        : await added.text();
    assert.ok(!html.includes('<script>alert(1)'), 'never raw');
    assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  });

  it('organization page: details, domains (verified by the operator or pending; remove), connections, Admin Portal links; each change audited', async () => {
    const { browser, csrf } = await signedIn();
    const org = await gh.api('POST', '/organizations', {
      name: 'Umbrella <script>alert(1)</script>',
      external_id: 'ext-"><b>1',
      domain_data: [
        { domain: 'umbrella.example', state: 'verified' },
        { domain: 'pending.umbrella.example', state: 'pending' },
      ],
    });
    const id = org.body.id as string;
    const pendingToken = org.body.domains.find(
      (d: { state: string }) => d.state === 'pending',
    ).verification_token;
    const conn = await gh.api('POST', '/connections', {
      organization_id: id,
      connection_type: 'OktaSAML',
      name: 'Umbrella <i>Okta</i>',
    });
    assert.equal(conn.status, 201);

    // The list links each name to its page.
    const list = await (await browser.request(`${gh.url}/dashboard/organizations?search=umbrella`)).text();
    assert.ok(list.includes(`<a href="/dashboard/organizations/${id}">Umbrella &lt;script&gt;`));

    const res = await browser.request(`${gh.url}/dashboard/organizations/${id}`);
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.equal(heading(html), 'Umbrella &lt;script&gt;alert(1)&lt;/script&gt;');
    assert.ok(!html.includes('<script>alert(1)') && !html.includes('<b>1') && !html.includes('<i>Okta'));
    assert.ok(html.includes('ext-&quot;&gt;&lt;b&gt;1'));
    assert.match(html, /<td>umbrella\.example<\/td><td><span class="badge active">Verified<\/span>/);
    assert.match(
      html,
      /<td>pending\.umbrella\.example<\/td><td><span class="badge validating">Pending verification/,
    );
    assert.ok(
      html.includes(`<a href="/dashboard/connections/${conn.body.id}">Umbrella &lt;i&gt;Okta&lt;/i&gt;</a>`),
    );

    const post = (path: string, form: Record<string, string> = {}) =>
      browser.request(`${gh.url}/dashboard/organizations/${id}${path}`, { form: { csrf, ...form } });
    const domains = async () =>
      (
        (await gh.api('GET', `/organizations/${id}`)).body.domains as {
          id: string;
          domain: string;
          state: string;
          verification_token?: string;
        }[]
      ).map((d) => ({ ...d }));

    // Add a pending domain (the customer proves it) and a verified one (the operator vouches for it).
    assert.equal(
      (await post('/domains', { domain: 'Proof.Umbrella.Example', state: 'pending' })).status,
      303,
    );
    assert.equal((await post('/domains', { domain: 'vouched.example', state: 'verified' })).status, 303);
    let now = await domains();
    assert.deepEqual(now.map((d) => [d.domain, d.state]).sort(), [
      ['pending.umbrella.example', 'pending'],
      ['proof.umbrella.example', 'pending'],
      ['umbrella.example', 'verified'],
      ['vouched.example', 'verified'],
    ]);
    assert.equal(
      now.find((d) => d.domain === 'pending.umbrella.example')?.verification_token,
      pendingToken,
      'adding a verified domain leaves the others as they were',
    );
    // Refusals: a domain another organization has verified, a bad name.
    const other = await gh.api('POST', '/organizations', {
      name: 'Other',
      domain_data: [{ domain: 'taken.example', state: 'verified' }],
    });
    const taken = await post('/domains', { domain: 'taken.example', state: 'verified' });
    assert.equal(taken.status, 409);
    assert.equal(
      alertOf(await taken.text()),
      'The domain is already a verified domain of another organization.',
    );
    const bad = await post('/domains', { domain: 'not a domain', state: 'pending' });
    assert.equal(bad.status, 422);
    // Remove: one of this organization's domains; another organization's domain is not found through this page.
    const otherDomain = other.body.domains[0].id as string;
    assert.equal((await post(`/domains/${otherDomain}/remove`)).status, 404);
    assert.equal((await gh.api('GET', `/organization_domains/${otherDomain}`)).status, 200);
    const vouched = now.find((d) => d.domain === 'vouched.example');
    assert.equal((await post(`/domains/${vouched?.id}/remove`)).status, 303);
    now = await domains();
    assert.ok(!now.some((d) => d.domain === 'vouched.example'));

    // Details: rename, clear the external ID.
    assert.equal((await post('', { name: 'Umbrella Corp', external_id: '' })).status, 303);
    const renamed = (await gh.api('GET', `/organizations/${id}`)).body;
    assert.equal(renamed.name, 'Umbrella Corp');
    assert.equal(renamed.external_id, null);
    const empty = await post('', { name: '', external_id: '' });
    assert.equal(empty.status, 422);

    // Admin Portal links, for either intent.
    for (const intent of ['sso', 'domain_verification']) {
      const portal = await post('/admin_portal', { intent });
      assert.equal(portal.status, 200);
      const link = /id="v-link" type="text" readonly value="([^"]+)"/.exec(await portal.text())?.[1] ?? '';
      assert.match(link, /\/portal\/launch\?token=/);
      // The IT admin's browser opens it: the portal for that intent.
      const admin = new TestBrowser();
      const landed = await admin.follow(link.replace(/&amp;/g, '&'));
      assert.equal(landed.res.status, 200);
      assert.match(
        await landed.res.text(),
        intent === 'sso' ? /Single sign-on setup/ : /Domain verification/,
        intent,
      );
    }

    const audit = (await gh.store.listAudit({ targetId: id }, { limit: 100, order: 'asc' })).data;
    assert.deepEqual(
      audit.map((a) => [a.action, a.detail.domain ?? a.detail.intent ?? a.detail.name]),
      [
        ['organization_domain.add', 'proof.umbrella.example'],
        ['organization_domain.add', 'vouched.example'],
        ['organization_domain.remove', 'vouched.example'],
        ['organization.update', 'Umbrella Corp'],
        ['organization.portal_link', 'sso'],
        ['organization.portal_link', 'domain_verification'],
      ],
    );
    const missing = await browser.request(`${gh.url}/dashboard/organizations/org_missing`);
    assert.equal(missing.status, 404);
    assert.equal(heading(await missing.text()), 'Organization not found');
  });

  it('every page and form refuses anonymous requests and the API key alone (401), and every form checks its CSRF token (403)', async () => {
    const org = await gh.api('POST', '/organizations', {
      name: 'Forms Co',
      domain_data: [{ domain: 'forms.example', state: 'verified' }],
    });
    const id = org.body.id as string;
    const domainId = org.body.domains[0].id as string;
    const uri = await gh.api('POST', '/redirect_uris', { uri: 'https://forms.example/callback' });
    const key = await gh.api('POST', '/api_keys', { name: 'forms' });
    for (const path of ['/dashboard/environment', `/dashboard/organizations/${id}`]) {
      for (const headers of [{}, { authorization: `Bearer ${gh.apiKey}` }] as Record<string, string>[]) {
        const res = await fetch(`${gh.url}${path}`, { headers });
        assert.equal(res.status, 401, path);
        const html = await res.text();
        assert.equal(heading(html), 'Sign in to the dashboard');
        assert.ok(!html.includes(gh.clientId) && !html.includes('forms.example'), 'no data');
      }
    }
    const forms: [string, Record<string, string>][] = [
      ['/dashboard/environment/redirect_uris', { uri: 'https://forged.example/callback' }],
      [`/dashboard/environment/redirect_uris/${uri.body.id}/default`, {}],
      [`/dashboard/environment/redirect_uris/${uri.body.id}/remove`, {}],
      ['/dashboard/environment/api_keys', { name: 'forged' }],
      [`/dashboard/environment/api_keys/${key.body.id}/revoke`, { confirm: 'yes' }],
      [`/dashboard/organizations/${id}`, { name: 'Forged' }],
      [`/dashboard/organizations/${id}/domains`, { domain: 'forged.example', state: 'verified' }],
      [`/dashboard/organizations/${id}/domains/${domainId}/remove`, {}],
      [`/dashboard/organizations/${id}/admin_portal`, { intent: 'sso' }],
    ];
    const state = async () =>
      JSON.stringify([
        (await gh.api('GET', '/redirect_uris')).body.data,
        (await gh.api('GET', '/api_keys')).body.data,
        (await gh.api('GET', `/organizations/${id}`)).body,
      ]);
    const before = await state();
    const auditBefore = (await auditActions()).length;
    for (const [path, fields] of forms) {
      for (const headers of [{}, { authorization: `Bearer ${gh.apiKey}` }] as Record<string, string>[]) {
        const res = await fetch(`${gh.url}${path}`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(fields).toString(),
        });
        assert.equal(res.status, 401, path);
      }
    }
    const a = await signedIn();
    const b = await signedIn();
    for (const [path, fields] of forms) {
      for (const csrf of [undefined, 'wrong', b.csrf]) {
        const res = await a.browser.request(`${gh.url}${path}`, {
          form: { ...(csrf === undefined ? {} : { csrf }), ...fields },
        });
        assert.equal(res.status, 403, `${path} ${csrf}`);
        assert.equal(heading(await res.text()), 'This form has expired');
      }
    }
    assert.equal(await state(), before, 'nothing changed');
    // Two sign-ins are the only new entries.
    assert.equal((await auditActions()).length, auditBefore + 2);
  });
});
