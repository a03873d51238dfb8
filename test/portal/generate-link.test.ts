import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import {
  GenerateLinkIntent,
  NotFoundException,
  UnauthorizedException,
  UnprocessableEntityException,
  WorkOS,
} from '@workos-inc/node';
import { sha256 } from '../../src/lib/tokens.ts';
import { SqliteStore } from '../../src/storage/sqlite/index.ts';
import { TestBrowser } from '../helpers/browser.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { errorCode, heading, openPortal, pageText } from './portal-session.ts';

/**
 * The Admin Portal's setup link (issue 11): `POST /portal/generate_link` as the official SDK's
 * `workos.adminPortal.generateLink()` sends it and parses its errors, what is stored (a hash, never the token),
 * and the link's one-time, five-minute life; then the portal session it opens: its cookie, its absolute and idle
 * limits on a moved clock, and its independence from later links.
 */

const ORG_NAME = 'Zebracorp Industries';
const LINK = /^http:\/\/127\.0\.0\.1:\d+\/portal\/launch\?token=([A-Za-z0-9_-]{43})$/;
const MINUTE = 60 * 1000;

/** What a rejected SDK call threw. */
async function rejection(call: Promise<unknown>): Promise<Error & { status?: number; code?: string }> {
  try {
    await call;
  } catch (err) {
    return err as Error & { status?: number; code?: string };
  }
  assert.fail('the call succeeded');
}

describe('POST /portal/generate_link through the official WorkOS SDK', () => {
  let gh: TestGatehouse;
  /** GATEHOUSE_ALLOW_PRIVATE_URLS=off: http return URLs only on localhost. */
  let ghStrict: TestGatehouse;
  let dir: string;
  let db: DatabaseSync;
  let orgId: string;
  let strictOrgId: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-portal-link-'));
    const path = join(dir, 'gatehouse.db');
    gh = await startGatehouse({ store: new SqliteStore(path) });
    db = new DatabaseSync(path, { readOnly: true });
    ghStrict = await startGatehouse({ env: { GATEHOUSE_ALLOW_PRIVATE_URLS: 'off' } });
    orgId = (await gh.api('POST', '/organizations', { name: ORG_NAME })).body.id;
    strictOrgId = (await ghStrict.api('POST', '/organizations', { name: ORG_NAME })).body.id;
  });
  after(async () => {
    db?.close();
    await gh?.close();
    await ghStrict?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The stored row of the link whose token is `token`. */
  function rowOf(token: string): Record<string, unknown> {
    const row = db.prepare('SELECT * FROM portal_links WHERE token_hash = ?').get(sha256(token));
    assert.ok(row, 'the link is stored under the hash of its token');
    return row as Record<string, unknown>;
  }

  it('201 { link }: a one-time URL of this Gatehouse with a 256-bit token; the default intent is sso', async () => {
    const res = await gh.api('POST', '/portal/generate_link', { organization: orgId });
    assert.equal(res.status, 201);
    assert.deepEqual(Object.keys(res.body), ['link']);
    const token = LINK.exec(res.body.link)?.[1];
    assert.ok(token, res.body.link);
    assert.equal(Buffer.from(token, 'base64url').length, 32);

    const { link } = await gh.workos.adminPortal.generateLink({ organization: orgId });
    const sdkToken = LINK.exec(link)?.[1] ?? '';
    assert.notEqual(sdkToken, token, 'every link is new');
    const row = rowOf(sdkToken);
    assert.equal(row.organization_id, orgId);
    assert.equal(row.intent, 'sso');
    assert.equal(row.return_url, null);
    assert.equal(row.success_url, null);
    assert.equal(row.provider_type, null);
    assert.equal(row.admin_emails, '[]');
    assert.equal(row.opened_at, null);
    assert.equal(Date.parse(row.expires_at as string) - Date.parse(row.created_at as string), 5 * MINUTE);
  });

  it('the store holds the hash of the token, never the token itself', async () => {
    const { link } = await gh.workos.adminPortal.generateLink({ organization: orgId });
    const token = LINK.exec(link)?.[1] ?? '';
    const row = rowOf(token);
    assert.equal(row.token_hash, sha256(token));
    for (const value of Object.values(row)) assert.ok(!String(value).includes(token), 'no column holds it');
    const all = db.prepare('SELECT * FROM portal_links').all();
    assert.ok(!JSON.stringify(all).includes(token), 'no row holds it');
  });

  it('every field as the SDK sends it: intent, return_url, success_url, intent_options.sso.provider_type, admin_emails', async () => {
    const { link } = await gh.workos.adminPortal.generateLink({
      organization: orgId,
      intent: GenerateLinkIntent.DomainVerification,
      returnUrl: 'https://app.example.com/settings',
      successUrl: 'http://localhost:3000/sso/done',
      intentOptions: { sso: { providerType: 'AzureSAML' } },
      adminEmails: ['It.Admin@Zebracorp.com', 'second@zebracorp.com'],
    });
    const row = rowOf(LINK.exec(link)?.[1] ?? '');
    assert.equal(row.intent, 'domain_verification');
    assert.equal(row.return_url, 'https://app.example.com/settings');
    assert.equal(row.success_url, 'http://localhost:3000/sso/done');
    assert.equal(row.provider_type, 'AzureSAML');
    assert.deepEqual(JSON.parse(row.admin_emails as string), [
      'it.admin@zebracorp.com',
      'second@zebracorp.com',
    ]);
  });

  it('it_contact_emails (the API reference name) joins admin_emails, without repeats', async () => {
    const res = await gh.api('POST', '/portal/generate_link', {
      organization: orgId,
      intent: 'sso',
      admin_emails: ['a@zebracorp.com'],
      it_contact_emails: ['b@zebracorp.com', 'A@zebracorp.com'],
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const row = rowOf(LINK.exec(res.body.link)?.[1] ?? '');
    assert.deepEqual(JSON.parse(row.admin_emails as string), ['a@zebracorp.com', 'b@zebracorp.com']);
  });

  it('an unknown organization: 404, NotFoundException naming it', async () => {
    const err = await rejection(gh.workos.adminPortal.generateLink({ organization: 'org_01NOPE' }));
    assert.ok(err instanceof NotFoundException);
    assert.equal(err.status, 404);
    assert.equal(err.code, 'entity_not_found');
    assert.equal(err.message, "Organization 'org_01NOPE' not found.");
  });

  it('a WorkOS intent Gatehouse does not serve (dsync): 422 naming the supported ones', async () => {
    for (const intent of [GenerateLinkIntent.DSync, GenerateLinkIntent.AuditLogs, 'certificate_renewal']) {
      const err = await rejection(
        gh.workos.adminPortal.generateLink({ organization: orgId, intent: intent as never }),
      );
      assert.ok(err instanceof UnprocessableEntityException);
      assert.equal(err.code, 'invalid_request_parameters');
      assert.equal(
        err.message,
        `The following requirement must be met:\n\tintent '${intent}' is not served by Gatehouse's Admin Portal; supported: sso, domain_verification\n`,
      );
    }
  });

  it('an unknown intent: 422 naming only the intents that are served', async () => {
    const res = await gh.api('POST', '/portal/generate_link', { organization: orgId, intent: 'root_shell' });
    assert.equal(res.status, 422);
    assert.deepEqual(res.body.errors, [
      {
        field: 'intent',
        code: "intent 'root_shell' is not a known intent; supported: sso, domain_verification",
      },
    ]);
    const notString = await gh.api('POST', '/portal/generate_link', { organization: orgId, intent: ['sso'] });
    assert.equal(notString.status, 422);
    assert.deepEqual(notString.body.errors, [{ field: 'intent', code: 'intent must be a string' }]);
  });

  it('hostile return and success URLs: javascript:, data:, relative, credentials in the URL, http to another host', async () => {
    const cases: [string, string, TestGatehouse, string][] = [
      [
        'return_url',
        'javascript:alert(document.cookie)',
        gh,
        'must be an https URL (http only on localhost)',
      ],
      [
        'success_url',
        'data:text/html,<script>alert(1)</script>',
        gh,
        'must be an https URL (http only on localhost)',
      ],
      ['success_url', '/relative/path', gh, 'must be an absolute URL'],
      ['return_url', 'https://user:pass@app.example.com/', gh, 'must not carry a user name or password'],
      ['success_url', 'https://admin@app.example.com/', gh, 'must not carry a user name or password'],
      [
        'return_url',
        'http://app.example.com/settings',
        ghStrict,
        'must be an https URL (http only on localhost)',
      ],
      [
        'success_url',
        'http://localhost.evil.example/',
        ghStrict,
        'must be an https URL (http only on localhost)',
      ],
    ];
    for (const [field, value, g, message] of cases) {
      const organization = g === gh ? orgId : strictOrgId;
      const err = await rejection(
        g.workos.adminPortal.generateLink({
          organization,
          ...(field === 'return_url' ? { returnUrl: value } : { successUrl: value }),
        }),
      );
      assert.ok(err instanceof UnprocessableEntityException, `${field}=${value}`);
      assert.equal(err.message, `The following requirement must be met:\n\t${field} ${message}\n`, value);
    }
    // http on this machine is fine (a developer's app), even when private URLs are not.
    const local = await ghStrict.workos.adminPortal.generateLink({
      organization: strictOrgId,
      returnUrl: 'http://localhost:3000/settings',
      successUrl: 'http://127.0.0.1:3000/done',
    });
    assert.match(local.link, LINK);
  });

  it('a provider_type the portal cannot set up (an OAuth provider, an unknown type): 422', async () => {
    for (const providerType of ['GoogleOAuth', 'NoSuchSAML']) {
      const err = await rejection(
        gh.workos.adminPortal.generateLink({ organization: orgId, intentOptions: { sso: { providerType } } }),
      );
      assert.ok(err instanceof UnprocessableEntityException, providerType);
      assert.equal(
        err.message,
        'The following requirement must be met:\n\tintent_options.sso.provider_type must be a SAML or OIDC connection type\n',
      );
    }
    const notObject = await gh.api('POST', '/portal/generate_link', {
      organization: orgId,
      intent_options: 'sso',
    });
    assert.equal(notObject.status, 422);
    assert.equal(notObject.body.errors[0].field, 'intent_options');
  });

  it('too many emails (21), or not email addresses: 422, and nothing stored', async () => {
    const before = db.prepare('SELECT count(*) AS n FROM portal_links').get() as { n: number };
    const err = await rejection(
      gh.workos.adminPortal.generateLink({
        organization: orgId,
        adminEmails: Array.from({ length: 21 }, (_, i) => `admin${i}@zebracorp.com`),
      }),
    );
    assert.ok(err instanceof UnprocessableEntityException);
    assert.equal(
      err.message,
      'The following requirement must be met:\n\tadmin_emails may hold at most 20 addresses\n',
    );
    const bad = await gh.api('POST', '/portal/generate_link', {
      organization: orgId,
      it_contact_emails: ['not an email'],
    });
    assert.equal(bad.status, 422);
    assert.deepEqual(bad.body.errors, [
      { field: 'it_contact_emails', code: 'it_contact_emails must hold email addresses only' },
    ]);
    const notList = await gh.api('POST', '/portal/generate_link', {
      organization: orgId,
      admin_emails: 'a@b.c',
    });
    assert.deepEqual(notList.body.errors, [
      { field: 'admin_emails', code: 'admin_emails must be a list of email addresses' },
    ]);
    const after = db.prepare('SELECT count(*) AS n FROM portal_links').get() as { n: number };
    assert.equal(after.n, before.n);
  });

  it('no API key, or a wrong one: 401 (UnauthorizedException), no link', async () => {
    const bare = await fetch(`${gh.url}/portal/generate_link`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ organization: orgId }),
    });
    assert.equal(bare.status, 401);
    assert.ok(!(await bare.text()).includes('/portal/launch'));
    const wrong = new WorkOS('sk_test_wrong_key_0123456789', {
      apiHostname: '127.0.0.1',
      port: gh.port,
      https: false,
      clientId: gh.clientId,
    });
    const err = await rejection(wrong.adminPortal.generateLink({ organization: orgId }));
    assert.ok(err instanceof UnauthorizedException);
    assert.equal(err.status, 401);
  });
});

describe('the setup link and the portal session it opens', () => {
  let gh: TestGatehouse;
  let orgId: string;
  /** How far the Gatehouse's clock is ahead of the real one. */
  let offset = 0;

  before(async () => {
    gh = await startGatehouse({ now: () => new Date(Date.now() + offset) });
    orgId = (await gh.api('POST', '/organizations', { name: ORG_NAME })).body.id;
  });
  after(() => gh?.close());

  async function newLink(): Promise<string> {
    offset = 0;
    return (await gh.workos.adminPortal.generateLink({ organization: orgId })).link;
  }

  /** A page that tells a link cannot be used: status, code, and that it names no organization. */
  async function assertLinkRefused(res: Response, status: number, code: string, says: string): Promise<void> {
    assert.equal(res.status, status);
    assert.deepEqual(res.headers.getSetCookie(), [], 'no session');
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    const html = await res.text();
    assert.equal(errorCode(html), code);
    const text = pageText(html);
    assert.ok(text.includes(says), text);
    assert.ok(!html.includes(ORG_NAME), 'names no organization');
    assert.ok(!html.includes(orgId), 'names no organization ID');
  }

  it('opens once: 303 to /portal/ with the session cookie (HttpOnly, SameSite=Lax, Path=/portal/, no Secure on http); the token leaves the address bar', async () => {
    const link = await newLink();
    const browser = new TestBrowser();
    const res = await browser.request(link);
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/portal/');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    const cookies = res.headers.getSetCookie();
    assert.equal(cookies.length, 1);
    const [pair, ...attributes] = (cookies[0] ?? '').split('; ');
    assert.match(pair ?? '', /^gatehouse_portal=[A-Za-z0-9_.-]+$/);
    assert.deepEqual(attributes, ['Path=/portal/', 'Max-Age=3600', 'HttpOnly', 'SameSite=Lax']);
    const home = await browser.request(`${gh.url}/portal/`);
    assert.equal(home.status, 200);
    assert.ok((await home.text()).includes(ORG_NAME));
  });

  it('on an https public URL the cookie is Secure too', async () => {
    const secure = await startGatehouse({ env: { GATEHOUSE_PUBLIC_URL: 'https://sso.example.test' } });
    try {
      const org = await secure.api('POST', '/organizations', { name: ORG_NAME });
      const { link } = await secure.workos.adminPortal.generateLink({ organization: org.body.id });
      assert.match(link, /^https:\/\/sso\.example\.test\/portal\/launch\?token=[A-Za-z0-9_-]{43}$/);
      const res = await fetch(link.replace('https://sso.example.test', secure.url), { redirect: 'manual' });
      assert.equal(res.status, 303);
      const attributes = (res.headers.getSetCookie()[0] ?? '').split('; ').slice(1);
      assert.deepEqual(attributes, ['Path=/portal/', 'Max-Age=3600', 'HttpOnly', 'SameSite=Lax', 'Secure']);
    } finally {
      await secure.close();
    }
  });

  it('replayed link: the second opening gets 410 "already been used", no session, no organization named', async () => {
    const link = await newLink();
    const first = new TestBrowser();
    assert.equal((await first.request(link)).status, 303);
    const attacker = new TestBrowser();
    const again = await attacker.request(link);
    await assertLinkRefused(again, 410, 'portal_link_used', 'This setup link has already been used.');
    const noSession = await attacker.request(`${gh.url}/portal/`);
    assert.equal(noSession.status, 401);
    // The first browser's session is untouched by the replay.
    assert.equal((await first.request(`${gh.url}/portal/`)).status, 200);
  });

  it('expired link: opened 5 minutes after it was made, 410 that says it expired (a minute earlier it opens)', async () => {
    const link = await newLink();
    offset = 5 * MINUTE + 1000;
    await assertLinkRefused(
      await new TestBrowser().request(link),
      410,
      'portal_link_expired',
      'a link must be opened within 5 minutes of being created',
    );
    const fresh = await newLink();
    offset = 4 * MINUTE;
    assert.equal((await new TestBrowser().request(fresh)).status, 303);
    offset = 0;
  });

  it('an unknown token, an over-long token, no token: 400 pages, no session', async () => {
    const unknown = await fetch(`${gh.url}/portal/launch?token=${'A'.repeat(43)}`, { redirect: 'manual' });
    await assertLinkRefused(unknown, 400, 'portal_link_unknown', 'This setup link is not valid');
    const long = await fetch(`${gh.url}/portal/launch?token=${'A'.repeat(5000)}`, { redirect: 'manual' });
    await assertLinkRefused(long, 400, 'portal_link_invalid', 'This setup link is not valid');
    const none = await fetch(`${gh.url}/portal/launch`, { redirect: 'manual' });
    await assertLinkRefused(none, 400, 'portal_link_invalid', 'This setup link is not valid');
    const twice = await fetch(`${gh.url}/portal/launch?token=a&token=b`, { redirect: 'manual' });
    await assertLinkRefused(twice, 400, 'portal_link_invalid', 'This setup link is not valid');
  });

  it('without a session, or with a forged cookie, every page is the 401 "session has ended" page', async () => {
    for (const cookie of [undefined, 'gatehouse_portal=forged', `gatehouse_portal=${'x'.repeat(5000)}`]) {
      const res = await fetch(`${gh.url}/portal/sso/choose`, { headers: cookie ? { cookie } : {} });
      assert.equal(res.status, 401);
      const html = await res.text();
      assert.equal(heading(html), 'Your setup session has ended');
      assert.equal(errorCode(html), 'portal_session_missing');
    }
  });

  it('idle limit: a session unused for an hour has ended', async () => {
    const admin = await openPortal(gh, orgId, { link: await newLink() });
    offset = 59 * MINUTE;
    assert.equal((await admin.browser.request(`${gh.url}/portal/sso/choose`)).status, 200, 'renewed');
    offset = 59 * MINUTE + 59 * MINUTE;
    assert.equal((await admin.browser.request(`${gh.url}/portal/sso/choose`)).status, 200, 'renewed again');
    offset = 118 * MINUTE + 60 * MINUTE;
    const ended = await admin.browser.request(`${gh.url}/portal/sso/choose`);
    assert.equal(ended.status, 401);
    assert.equal(errorCode(await ended.text()), 'portal_session_missing');
    offset = 0;
  });

  it('absolute limit: a session in constant use ends 4 hours after its link was opened', async () => {
    const admin = await openPortal(gh, orgId, { link: await newLink() });
    for (const minutes of [50, 100, 150, 200, 239]) {
      offset = minutes * MINUTE;
      const res = await admin.browser.request(`${gh.url}/portal/sso/choose`);
      assert.equal(res.status, 200, `at ${minutes} minutes`);
      const maxAge = Number(/Max-Age=(\d+)/.exec(res.headers.getSetCookie()[0] ?? '')?.[1]);
      const left = Math.min(3600, (240 - minutes) * 60);
      assert.ok(maxAge <= left && maxAge >= left - 1, `the cookie never outlives the session (${maxAge})`);
    }
    offset = 240 * MINUTE;
    const ended = await admin.browser.request(`${gh.url}/portal/sso/choose`);
    assert.equal(ended.status, 401);
    assert.equal(heading(await ended.text()), 'Your setup session has ended');
    offset = 0;
  });

  it('a new link for the same organization does not end a session in use', async () => {
    const first = await openPortal(gh, orgId, { link: await newLink() });
    const second = await openPortal(gh, orgId, { link: await newLink() });
    for (const admin of [first, second]) {
      const res = await admin.browser.request(`${gh.url}/portal/sso/choose`);
      assert.equal(res.status, 200);
      assert.ok((await res.text()).includes(ORG_NAME));
    }
    assert.notEqual(first.csrf, second.csrf, 'each session has its own CSRF token');
  });
});
