import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bootstrapLink, createOperatorLink } from '../../src/dashboard/dashboard.ts';
import { TestBrowser } from '../helpers/browser.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';

/**
 * The operators' dashboard (issue 13), over HTTP: one-time links (bootstrap, invitation, sign-in), the session
 * cookie and its limits, what refuses anonymous and API-key requests, CSRF on every form, the audit log, output
 * escaping, and GATEHOUSE_DASHBOARD=off.
 */

let clock = Date.now();
const now = () => new Date(clock);

function csrfOf(html: string): string {
  return /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
}
function heading(html: string): string {
  return /<h1>([^<]*)/.exec(html)?.[1]?.trim() ?? '';
}

describe('the operators’ dashboard', { timeout: 120_000 }, () => {
  let gh: TestGatehouse;

  before(async () => {
    gh = await startGatehouse({ now });
  });
  after(async () => gh?.close());

  /** Uses a link in a new browser (as a person: open it, submit its form); the browser and the landing page. */
  async function useLink(link: string, fields: Record<string, string> = {}) {
    const browser = new TestBrowser();
    const opened = await browser.request(link);
    const html = await opened.text();
    const token = /name="token" value="([^"]+)"/.exec(html)?.[1] ?? '';
    const res = await browser.request(`${gh.url}/dashboard/welcome`, { form: { token, ...fields } });
    return { browser, opened, html, res };
  }

  async function signedIn(): Promise<{ browser: TestBrowser; csrf: string }> {
    const email = `ops-${Math.random().toString(36).slice(2)}@example.com`;
    const link = await createOperatorLink({ store: gh.store, publicUrl: gh.url, now }, 'invite', { email });
    const { browser, res } = await useLink(link);
    assert.equal(res.status, 303);
    const page = await browser.request(`${gh.url}/dashboard/organizations`);
    assert.equal(page.status, 200);
    return { browser, csrf: csrfOf(await page.text()) };
  }

  it('bootstrap: the first start’s link makes the first operator; the session cookie is HttpOnly, SameSite=Strict, /dashboard/', async () => {
    const link = await bootstrapLink({ store: gh.store, publicUrl: gh.url, now });
    assert.ok(link?.startsWith(`${gh.url}/dashboard/welcome?token=`));
    const browser = new TestBrowser();
    const form = await browser.request(link as string);
    const html = await form.text();
    assert.equal(form.status, 200);
    assert.match(html, /creates the first operator/);
    const token = /name="token" value="([^"]+)"/.exec(html)?.[1] ?? '';
    // A bad email shows the form again, and uses nothing up.
    const bad = await browser.request(`${gh.url}/dashboard/welcome`, { form: { token, email: 'nope' } });
    assert.equal(bad.status, 422);
    const res = await browser.request(`${gh.url}/dashboard/welcome`, {
      form: { token, email: 'First@Example.com', name: 'First' },
    });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/dashboard/');
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('gatehouse_dashboard=')) ?? '';
    assert.match(cookie, /; Path=\/dashboard\/; Max-Age=1800; HttpOnly; SameSite=Strict$/);
    assert.ok(!cookie.includes('Secure'), 'http public URL: no Secure');
    assert.equal((await gh.store.getOperatorByEmail('first@example.com'))?.name, 'First');
    // The link works once; a bootstrap link made now that an operator exists is none.
    const again = await browser.request(`${gh.url}/dashboard/welcome`, {
      form: { token, email: 'x@example.com' },
    });
    assert.equal(again.status, 410);
    assert.match(await again.text(), /already been used/);
    assert.equal(await bootstrapLink({ store: gh.store, publicUrl: gh.url, now }), null);
  });

  it('opening a link uses nothing up (link previews are safe); an unknown or expired link says so', async () => {
    const link = await createOperatorLink({ store: gh.store, publicUrl: gh.url, now }, 'invite', {
      email: 'preview@example.com',
    });
    const browser = new TestBrowser();
    for (let i = 0; i < 3; i++) assert.equal((await browser.request(link)).status, 200);
    const unknown = await browser.request(`${gh.url}/dashboard/welcome?token=nothing-like-a-token`);
    assert.equal(unknown.status, 400);
    const expiring = await createOperatorLink({ store: gh.store, publicUrl: gh.url, now }, 'invite', {
      email: 'late@example.com',
    });
    clock += 8 * 24 * 60 * 60 * 1000;
    try {
      const late = await browser.request(expiring);
      assert.equal(late.status, 410);
      assert.match(await late.text(), /expired/);
    } finally {
      clock -= 8 * 24 * 60 * 60 * 1000;
    }
  });

  it('every page refuses an anonymous request and a request with the API key only: a 401 page, no data', async () => {
    for (const path of [
      '/dashboard/',
      '/dashboard/organizations',
      '/dashboard/operators',
      '/dashboard/audit',
    ]) {
      const variants: Record<string, string>[] = [{}, { authorization: `Bearer ${gh.apiKey}` }];
      for (const headers of variants) {
        const res = await fetch(`${gh.url}${path}`, { headers, redirect: 'manual' });
        assert.equal(res.status, 401, path);
        const html = await res.text();
        assert.equal(heading(html), 'Sign in to the dashboard');
        assert.ok(!html.includes('org_'), 'no data');
      }
    }
    for (const path of ['/dashboard/organizations', '/dashboard/operators/invite', '/dashboard/sign_out']) {
      const res = await fetch(`${gh.url}${path}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${gh.apiKey}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'name=Sneaky&email=sneaky@example.com',
      });
      assert.equal(res.status, 401, path);
    }
    assert.equal(
      (await gh.workos.organizations.listOrganizations()).data.filter((o) => o.name === 'Sneaky').length,
      0,
    );
  });

  it('CSRF on every form: missing, wrong, or another session’s token → 403, nothing changed', async () => {
    const a = await signedIn();
    const b = await signedIn();
    const before = await gh.store.listAudit({}, { limit: 100, order: 'desc' });
    const orgs = await gh.workos.organizations.listOrganizations({ limit: 100 });
    for (const path of ['/dashboard/organizations', '/dashboard/operators/invite', '/dashboard/sign_out']) {
      for (const csrf of [undefined, 'wrong', b.csrf]) {
        const res = await a.browser.request(`${gh.url}${path}`, {
          form: { ...(csrf === undefined ? {} : { csrf }), name: 'Forged', email: 'forged@example.com' },
        });
        assert.equal(res.status, 403, `${path} ${csrf}`);
        assert.equal(heading(await res.text()), 'This form has expired');
      }
    }
    const portalLink = await a.browser.request(
      `${gh.url}/dashboard/organizations/${orgs.data[0]?.id ?? 'org_x'}/portal_link`,
      {
        form: { csrf: 'wrong' },
      },
    );
    assert.equal(portalLink.status, 403);
    assert.equal(
      (await gh.workos.organizations.listOrganizations({ limit: 100 })).data.length,
      orgs.data.length,
    );
    assert.equal(
      (await gh.store.listAudit({}, { limit: 100, order: 'desc' })).data.length,
      before.data.length,
    );
    // Still signed in: sign-out was refused too.
    assert.equal((await a.browser.request(`${gh.url}/dashboard/organizations`)).status, 200);
  });

  it('organizations: create (through the management API’s function), list, search, an Admin Portal link; every change in the audit log', async () => {
    const { browser, csrf } = await signedIn();
    const created = await browser.request(`${gh.url}/dashboard/organizations`, {
      form: { csrf, name: 'Initech <img src=x onerror=alert(1)>', domain: 'initech.example' },
    });
    assert.equal(created.status, 303);
    const listed = await (await browser.request(`${gh.url}/dashboard/organizations?search=initech`)).text();
    assert.ok(listed.includes('Initech &lt;img src=x onerror=alert(1)&gt;'), 'the name is escaped');
    assert.ok(!listed.includes('<img src=x'));
    assert.ok(listed.includes('initech.example'));
    const org = (await gh.workos.organizations.listOrganizations({ domains: ['initech.example'] })).data[0];
    assert.ok(org);
    const duplicate = await browser.request(`${gh.url}/dashboard/organizations`, {
      form: { csrf, name: 'Other', domain: 'initech.example' },
    });
    assert.equal(duplicate.status, 422);
    const portal = await browser.request(`${gh.url}/dashboard/organizations/${org.id}/portal_link`, {
      form: { csrf },
    });
    assert.equal(portal.status, 200);
    const link = /id="v-link" type="text" readonly value="([^"]+)"/.exec(await portal.text())?.[1] ?? '';
    assert.match(link, /\/portal\/launch\?token=/);
    const audit = await (await browser.request(`${gh.url}/dashboard/audit`)).text();
    assert.match(audit, /<code>organization\.portal_link<\/code>/);
    assert.match(audit, /<code>organization\.create<\/code>/);
    assert.ok(audit.includes(org.id));
  });

  it('invitations: an operator invites another, who signs in with the link; the sign-out ends every session of the operator', async () => {
    const { browser, csrf } = await signedIn();
    const invited = await browser.request(`${gh.url}/dashboard/operators/invite`, {
      form: { csrf, email: 'New.Op@Example.com' },
    });
    assert.equal(invited.status, 200);
    const link = (
      /id="v-link" type="text" readonly value="([^"]+)"/.exec(await invited.text())?.[1] ?? ''
    ).replace(/&amp;/g, '&');
    const first = await useLink(link, { name: 'New Op' });
    assert.equal(first.res.status, 303);
    assert.equal((await gh.store.getOperatorByEmail('new.op@example.com'))?.name, 'New Op');
    // A sign-in link for the same operator in a second browser: the first browser's session ends.
    const operator = await gh.store.getOperatorByEmail('new.op@example.com');
    clock += 1000;
    const second = await useLink(
      await createOperatorLink({ store: gh.store, publicUrl: gh.url, now }, 'sign_in', {
        operatorId: operator?.id as string,
      }),
    );
    assert.equal(second.res.status, 303);
    assert.equal((await first.browser.request(`${gh.url}/dashboard/operators`)).status, 401);
    const page = await second.browser.request(`${gh.url}/dashboard/operators`);
    assert.equal(page.status, 200);
    const csrf2 = csrfOf(await page.text());
    const cookie = second.browser.cookieHeader(new URL(`${gh.url}/dashboard/`));
    clock += 1000;
    const out = await second.browser.request(`${gh.url}/dashboard/sign_out`, { form: { csrf: csrf2 } });
    assert.equal(out.status, 200);
    assert.match(out.headers.getSetCookie().join(), /gatehouse_dashboard=; Path=\/dashboard\/; Max-Age=0/);
    // The cookie as it was before signing out no longer works either.
    const replay = await fetch(`${gh.url}/dashboard/operators`, { headers: { cookie } });
    assert.equal(replay.status, 401);
  });

  it('an operator disables another: the other is signed out at once and their links no longer work; not oneself; audited', async () => {
    const admin = await signedIn();
    const other = await signedIn();
    const otherEmail =
      /<span class="muted small">([^<]+)<\/span> <button type="submit" class="secondary small">Sign out/.exec(
        await (await other.browser.request(`${gh.url}/dashboard/operators`)).text(),
      )?.[1];
    const target = await gh.store.getOperatorByEmail(otherEmail ?? '');
    assert.ok(target);
    const refusedCsrf = await admin.browser.request(`${gh.url}/dashboard/operators/${target.id}/disable`, {
      form: {},
    });
    assert.equal(refusedCsrf.status, 403);
    const done = await admin.browser.request(`${gh.url}/dashboard/operators/${target.id}/disable`, {
      form: { csrf: admin.csrf },
    });
    assert.equal(done.status, 303);
    assert.ok((await gh.store.getOperator(target.id))?.disabledAt);
    assert.equal((await other.browser.request(`${gh.url}/dashboard/organizations`)).status, 401);
    const link = await createOperatorLink({ store: gh.store, publicUrl: gh.url, now }, 'sign_in', {
      operatorId: target.id,
    });
    assert.equal((await useLink(link)).res.status, 403);
    // Oneself: refused with a message, nothing changed.
    const page = await (await admin.browser.request(`${gh.url}/dashboard/operators`)).text();
    assert.ok(page.includes('<span class="muted small">you</span>'));
    const adminEmail =
      /<span class="muted small">([^<]+)<\/span> <button type="submit" class="secondary small">Sign out/.exec(
        page,
      )?.[1];
    const me = await gh.store.getOperatorByEmail(adminEmail ?? '');
    assert.ok(me);
    const self = await admin.browser.request(`${gh.url}/dashboard/operators/${me.id}/disable`, {
      form: { csrf: admin.csrf },
    });
    assert.equal(self.status, 422);
    assert.match(await self.text(), /You cannot disable yourself/);
    assert.equal((await gh.store.getOperator(me.id))?.disabledAt, null);
    const audit = await (await admin.browser.request(`${gh.url}/dashboard/audit`)).text();
    assert.match(audit, /<code>operator\.disable<\/code>/);
    // Enabled again, they can come back with a new link.
    await admin.browser.request(`${gh.url}/dashboard/operators/${target.id}/enable`, {
      form: { csrf: admin.csrf },
    });
    const back = await createOperatorLink({ store: gh.store, publicUrl: gh.url, now }, 'sign_in', {
      operatorId: target.id,
    });
    assert.equal((await useLink(back)).res.status, 303);
  });

  it('sessions end after 30 minutes idle and after 12 hours in any case', async () => {
    const { browser } = await signedIn();
    clock += 29 * 60 * 1000;
    assert.equal((await browser.request(`${gh.url}/dashboard/audit`)).status, 200);
    clock += 31 * 60 * 1000;
    assert.equal((await browser.request(`${gh.url}/dashboard/audit`)).status, 401);
    const other = await signedIn();
    for (let i = 0; i < 25; i++) {
      clock += 29 * 60 * 1000;
      const res = await other.browser.request(`${gh.url}/dashboard/audit`);
      if (i < 24) assert.equal(res.status, 200, `after ${(i + 1) * 29} minutes`);
      else assert.equal(res.status, 401, 'past 12 hours');
    }
  });

  it('a portal session does not open the dashboard, and a dashboard session does not open the portal', async () => {
    // Portal links take their creation time from the real clock: put this one back.
    clock = Date.now();
    const { browser } = await signedIn();
    const dashboardCookie = browser
      .cookieHeader(new URL(`${gh.url}/dashboard/`))
      .split('=')
      .slice(1)
      .join('=');
    const org = await gh.workos.organizations.createOrganization({ name: 'Cookie Co' });
    const { link } = await gh.workos.adminPortal.generateLink({ organization: org.id });
    const launched = await fetch(link, { redirect: 'manual' });
    const portalCookie =
      launched.headers
        .getSetCookie()
        .find((c) => c.startsWith('gatehouse_portal='))
        ?.split(';')[0]
        ?.split('=')
        .slice(1)
        .join('=') ?? '';
    assert.ok(portalCookie);
    const swapped = await fetch(`${gh.url}/dashboard/organizations`, {
      headers: { cookie: `gatehouse_dashboard=${portalCookie}` },
    });
    assert.equal(swapped.status, 401);
    const reverse = await fetch(`${gh.url}/portal/`, {
      headers: { cookie: `gatehouse_portal=${dashboardCookie}` },
    });
    assert.equal(reverse.status, 401);
  });
});

describe('GATEHOUSE_DASHBOARD=off', () => {
  it('removes every dashboard route', async () => {
    const gh = await startGatehouse({ env: { GATEHOUSE_DASHBOARD: 'off' } });
    try {
      for (const path of ['/dashboard/', '/dashboard/welcome?token=x', '/dashboard/organizations']) {
        const res = await fetch(`${gh.url}${path}`);
        assert.equal(res.status, 404, path);
        assert.equal((await res.json()).code, 'not_found');
      }
    } finally {
      await gh.close();
    }
  });
});
