import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { GenerateLinkIntent } from '@workos-inc/node';
import { catalog } from '../../src/errors/catalog.ts';
import { ABSOLUTE_MS } from '../../src/portal/session.ts';
import { TestBrowser } from '../helpers/browser.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.ts';
import { freePort, startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { startIdp, type TestIdp } from '../helpers/oidc-idp.ts';

const APP = 'http://localhost:3000/callback';
const PREFIX = '_gatehouse-verification';

/**
 * The Admin Portal's `domain_verification` intent over HTTP, against a real DNS server on loopback: Gatehouse runs
 * with its own node:dns Resolver (`resolveTxt: null`) pointed at it by GATEHOUSE_DNS_SERVERS, so every check below
 * is a real TXT query over UDP. The domain the admin verifies then counts for the domain policy of sign-ins.
 */
describe('Admin Portal: domain verification against a DNS server on loopback', () => {
  let dns: TestDnsServer;
  let gh: TestGatehouse;
  let idp: TestIdp;
  /** Added to the real time: lets a test age the portal session. */
  let clockOffsetMs = 0;

  before(async () => {
    dns = await startDnsServer();
    gh = await startGatehouse({
      resolveTxt: null,
      now: () => new Date(Date.now() + clockOffsetMs),
      env: {
        GATEHOUSE_DNS_SERVERS: dns.address,
        GATEHOUSE_SIGNIN_CONSENT: 'off',
        GATEHOUSE_LEGACY_DOMAIN_SELECTOR: 'on',
      },
    });
    await gh.api('POST', '/redirect_uris', { uri: APP });
  });
  after(async () => {
    await gh.close();
    await idp?.close();
    await dns.close();
  });
  beforeEach(() => {
    clockOffsetMs = 0;
    dns.mode = 'answer';
    dns.records.clear();
  });

  async function createOrganization(name: string, domainData: { domain: string; state: string }[] = []) {
    const org = await gh.api('POST', '/organizations', { name, domain_data: domainData });
    assert.equal(org.status, 201);
    return org.body as { id: string; domains: { id: string; domain: string }[] };
  }

  interface Portal {
    browser: TestBrowser;
    csrf: string;
  }

  /** The app generates a link with the SDK; the admin opens it and lands on the domains page. */
  async function openPortal(
    organization: string,
    intent: GenerateLinkIntent = GenerateLinkIntent.DomainVerification,
  ): Promise<Portal & { html: string; res: Response }> {
    const { link } = await gh.workos.adminPortal.generateLink({
      organization,
      intent,
      successUrl: 'http://localhost:3000/settings?verified=1',
    });
    const browser = new TestBrowser();
    const launched = await browser.request(link);
    assert.equal(launched.status, 303);
    const { res, url } = await browser.follow(new URL(launched.headers.get('location') ?? '', gh.url));
    const html = await res.text();
    if (intent === GenerateLinkIntent.DomainVerification) {
      assert.equal(url.pathname, '/portal/domains');
      // The header names what the link is for.
      assert.match(html, /<span class="muted">· Domain verification<\/span>/);
    }
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
    return { browser, csrf, html, res };
  }

  async function addDomain(p: Portal, domain: string, extra: Record<string, string> = {}) {
    return p.browser.request(`${gh.url}/portal/domains`, { form: { csrf: p.csrf, domain, ...extra } });
  }

  /** Adds the domain and opens its page: its ID and the TXT record the page shows. */
  async function addAndOpen(p: Portal, domain: string) {
    const added = await addDomain(p, domain);
    assert.equal(added.status, 303, await added.clone().text());
    const location = added.headers.get('location') ?? '';
    const id = /\/portal\/domains\/(org_domain_[0-9A-Z]{26})$/.exec(location)?.[1];
    assert.ok(id, location);
    const res = await p.browser.request(new URL(location, gh.url));
    assert.equal(res.status, 200);
    const html = await res.text();
    return { id, html, record: recordOf(html) };
  }

  /** The host name and value in the page's copy fields. */
  function recordOf(html: string): { name: string; value: string } {
    const field = (key: string) => new RegExp(`id="v-${key}"[^>]*value="([^"]*)"`).exec(html)?.[1] ?? '';
    return { name: field('txt_name'), value: field('txt_value') };
  }

  /** Posts the verify form (`csrf: null`: without the token). */
  async function verify(p: Portal, id: string, csrf: string | null = p.csrf) {
    const res = await p.browser.request(`${gh.url}/portal/domains/${id}/verify`, {
      form: csrf === null ? {} : { csrf },
    });
    return { res, html: await res.text() };
  }

  /** A portal message page: status, strict headers, its error code, and no stack or raw DNS error. */
  function assertMessagePage(res: Response, html: string, status: number, code: string) {
    assert.equal(res.status, status);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.ok(html.includes(`Error <code>${code}</code>`), html);
  }

  function assertNoInternals(html: string) {
    for (const leak of ['ECONNREFUSED', 'ETIMEOUT', 'ESERVFAIL', 'queryTxt', '127.0.0.1:', 'at async']) {
      assert.ok(!html.includes(leak), `the page shows ${leak}`);
    }
  }

  async function stateOf(id: string): Promise<string> {
    const d = await gh.api('GET', `/organization_domains/${id}`);
    return d.body.state;
  }

  describe('the flow', () => {
    it("the admin adds a domain, publishes the TXT record the page shows, verifies it; the domain policy then accepts the domain's users", async () => {
      const org = await createOrganization('Globex');
      const port = await freePort();
      const conn = await gh.api('POST', '/connections', {
        organization_id: org.id,
        connection_type: 'OktaOIDC',
        name: 'Globex Okta',
        oidc_options: {
          issuer: `http://127.0.0.1:${port}`,
          client_id: 'gatehouse-test-client',
          client_secret: 'gatehouse-test-secret-0123456789abcdef',
        },
      });
      assert.equal(conn.status, 201);
      idp = await startIdp({ port, redirectUris: [conn.body.oidc_options.redirect_uri] });
      const signIn = async (login: string) => {
        const url = gh.workos.sso.getAuthorizationUrl({
          clientId: gh.clientId,
          redirectUri: APP,
          organization: org.id,
          state: 's',
        });
        const step = await new TestBrowser().signInAtIdp(url, login, idp.issuer, APP);
        assert.equal(step.res.status, 302);
        return new URL(step.res.headers.get('location') ?? '');
      };
      const byDomain = () =>
        fetch(
          `${gh.url}/sso/authorize?${new URLSearchParams({
            client_id: gh.clientId,
            redirect_uri: APP,
            response_type: 'code',
            domain: 'globex.com',
            state: 'd',
          })}`,
          { redirect: 'manual' },
        );

      // Before: globex.com is not the organization's (verified) domain.
      const refused = await signIn('ada@globex.com');
      assert.equal(refused.searchParams.get('error'), catalog.email_domain_not_allowed.wire);
      const noDomain = await byDomain();
      assert.equal(
        new URL(noDomain.headers.get('location') ?? '').searchParams.get('error'),
        catalog.domain_without_connection.wire,
      );

      const p = await openPortal(org.id);
      assert.equal(p.res.status, 200);
      assert.match(p.html, /<h1>Verify Globex’s domains<\/h1>/);
      assert.match(p.html, /Your organization has no domain yet\./);

      const { id, html, record } = await addAndOpen(p, ' Globex.COM. ');
      const api = await gh.api('GET', `/organization_domains/${id}`);
      assert.equal(api.body.domain, 'globex.com');
      assert.equal(api.body.organization_id, org.id);
      assert.equal(api.body.state, 'pending');
      assert.equal(api.body.verification_strategy, 'dns');
      // Exactly the record the API describes, in copy fields; and how long DNS may take.
      assert.deepEqual(record, {
        name: `${PREFIX}.globex.com`,
        value: `gatehouse-domain-verification=${api.body.verification_token}`,
      });
      assert.match(api.body.verification_token, /^[A-Za-z0-9_-]{24}$/);
      assert.match(html, /data-copy="Host name"/);
      assert.match(html, /data-copy="Value"/);
      assert.match(html, /type <strong>TXT<\/strong>/);
      assert.match(html, /up to 48 hours/);
      assert.match(html, /enter only _gatehouse-verification\./);

      // The admin publishes what the page shows, and checks.
      dns.records.set(record.name, [['v=spf1 -all'], [record.value]]);
      const queried = dns.queries.length;
      const checked = await verify(p, id);
      assert.equal(checked.res.status, 200);
      assert.match(checked.html, /<strong>globex\.com is verified\.<\/strong>/);
      assert.match(checked.html, /<span class="badge active">Verified<\/span>/);
      assert.match(checked.html, /href="http:\/\/localhost:3000\/settings\?verified=1">Continue</);
      assert.deepEqual(dns.queries.slice(queried), [`${PREFIX}.globex.com`], 'one real TXT query');
      assert.equal(await stateOf(id), 'verified');

      // The list shows it verified.
      const list = await p.browser.request(`${gh.url}/portal/domains`);
      assert.match(await list.text(), /<td>globex\.com<\/td><td><span class="badge active">Verified<\/span>/);

      // After: the domain policy accepts globex.com users for the organization, and the domain selects it.
      const back = await signIn('ada@globex.com');
      assert.equal(back.searchParams.get('error'), null);
      const { profile } = await gh.workos.sso.getProfileAndToken({
        code: back.searchParams.get('code') ?? '',
        clientId: gh.clientId,
      });
      assert.equal(profile.email, 'ada@globex.com');
      assert.equal(profile.organizationId, org.id);
      const selected = await byDomain();
      assert.equal(selected.status, 302);
      assert.ok(selected.headers.get('location')?.startsWith(`${idp.issuer}/`));

      // A second check of a verified domain does not ask DNS again.
      const again = await verify(p, id);
      assert.equal(again.res.status, 200);
      assert.equal(dns.queries.length, queried + 1);
    });

    it('a session of the domain_verification intent lands on the domains page from /portal/', async () => {
      const org = await createOrganization('Landing');
      const p = await openPortal(org.id);
      const home = await p.browser.request(`${gh.url}/portal/`);
      assert.equal(home.status, 303);
      assert.equal(home.headers.get('location'), '/portal/domains');
    });
  });

  describe('what the check finds, in the admin’s words', () => {
    let p: Portal;
    before(async () => {
      p = await openPortal((await createOrganization('Initech')).id);
    });

    it('wrong TXT value: not verified, the values found shown (as text), the domain failed', async () => {
      const { id, record } = await addAndOpen(p, 'initech.com');
      dns.records.set(record.name, [
        ['gatehouse-domain-verification=', 'not-the-token'],
        ['<script>alert(1)</script>'],
      ]);
      const { res, html } = await verify(p, id);
      assert.equal(res.status, 200);
      assert.match(
        html,
        /Not verified: the TXT record at _gatehouse-verification\.initech\.com does not have the expected value\./,
      );
      assert.match(html, /<li><code>gatehouse-domain-verification=not-the-token<\/code><\/li>/);
      assert.match(html, /<li><code>&lt;script&gt;alert\(1\)&lt;\/script&gt;<\/code><\/li>/);
      assert.ok(!html.includes('<script>alert'));
      assert.equal(await stateOf(id), 'failed');
      // The record is still shown, and a later check with the right value verifies.
      assert.deepEqual(recordOf(html), record);
      dns.records.set(record.name, [[record.value]]);
      assert.match((await verify(p, id)).html, /initech\.com is verified\./);
      assert.equal(await stateOf(id), 'verified');
    });

    it('no record (NXDOMAIN, or a name without TXT records): "no TXT record was found", the domain failed', async () => {
      const { id, record } = await addAndOpen(p, 'nxdomain.initech.net');
      for (const records of [undefined, []]) {
        if (records) dns.records.set(record.name, records);
        const { res, html } = await verify(p, id);
        assert.equal(res.status, 200);
        assert.match(
          html,
          /Not verified: no TXT record was found at _gatehouse-verification\.nxdomain\.initech\.net\./,
        );
        assert.equal(await stateOf(id), 'failed');
      }
      // Reopened later, the page says the last check failed.
      const reopened = await p.browser.request(`${gh.url}/portal/domains/${id}`);
      assert.match(await reopened.text(), /The last check did not find the record\./);
    });

    it('the DNS server answers SERVFAIL: a DNS failure in words, no resolver error shown', async () => {
      const { id, record } = await addAndOpen(p, 'servfail.example.org');
      dns.records.set(record.name, [[record.value]]);
      dns.mode = 'servfail';
      const { res, html } = await verify(p, id);
      assert.equal(res.status, 200);
      assert.match(
        html,
        /Not verified: The DNS servers of your domain did not give a valid answer \(SERVFAIL\)/,
      );
      assertNoInternals(html);
      assert.equal(await stateOf(id), 'failed');
    });

    it('the DNS server never answers: the check ends within the resolver timeout (5 s) with "no answer in time"', async () => {
      const { id, record } = await addAndOpen(p, 'silent.example.org');
      dns.records.set(record.name, [[record.value]]);
      dns.mode = 'silent';
      const started = performance.now();
      const { res, html } = await verify(p, id);
      const elapsed = performance.now() - started;
      assert.equal(res.status, 200);
      assert.match(html, /Not verified: The DNS lookup got no answer in time\./);
      assertNoInternals(html);
      // c-ares adapts the timeout to the server's measured latency: about 5 s for a server not heard from before
      // (measured 5.0 to 5.9 s), about 1 s after fast answers.
      assert.ok(elapsed < 8000, `answered after ${Math.round(elapsed)} ms`);
      assert.equal(await stateOf(id), 'failed');
    });

    it('the DNS server is down (nothing listens on its port): "could not reach its DNS server", at once', async () => {
      const gone = await startDnsServer();
      await gone.close();
      const down = await startGatehouse({ resolveTxt: null, env: { GATEHOUSE_DNS_SERVERS: gone.address } });
      try {
        const org = await down.api('POST', '/organizations', { name: 'Down' });
        const { link } = await down.workos.adminPortal.generateLink({
          organization: org.body.id,
          intent: GenerateLinkIntent.DomainVerification,
        });
        const browser = new TestBrowser();
        const { res } = await browser.follow(link);
        const csrf = /name="csrf" value="([^"]+)"/.exec(await res.text())?.[1] ?? '';
        const added = await browser.request(`${down.url}/portal/domains`, {
          form: { csrf, domain: 'down.com' },
        });
        const location = new URL(added.headers.get('location') ?? '', down.url);
        const started = performance.now();
        const checked = await browser.request(`${location}/verify`, { form: { csrf } });
        const html = await checked.text();
        assert.equal(checked.status, 200);
        assert.match(html, /Not verified: Gatehouse could not reach its DNS server\./);
        assertNoInternals(html);
        assert.ok(performance.now() - started < 5000);
      } finally {
        await down.close();
      }
    });
  });

  describe('adding a domain: the same validation as POST /organization_domains, by the field', () => {
    let p: Portal;
    before(async () => {
      p = await openPortal((await createOrganization('Validation')).id);
    });

    const cases: [string, string, number, RegExp][] = [
      [
        'a public suffix',
        'co.uk',
        422,
        /&quot;co\.uk&quot; is a public suffix, not an organization&#39;s domain\./,
      ],
      ['a bare TLD', 'com', 422, /&quot;com&quot; is not a domain name\./],
      ['an IP address', '10.0.0.1', 422, /&quot;10\.0\.0\.1&quot; is not a domain name\./],
      ['an empty field', '  ', 422, /Enter your organization’s domain name, such as example\.com\./],
      ['HTML', '<b>x</b>.com', 422, /&quot;&lt;b&gt;x&lt;\/b&gt;\.com&quot; is not a domain name\./],
    ];
    for (const [name, domain, status, message] of cases) {
      it(`${name} (${JSON.stringify(domain)}): ${status}, the message by the domain field, nothing added`, async () => {
        const res = await addDomain(p, domain);
        const html = await res.text();
        assert.equal(res.status, status);
        assert.match(html, /<p class="error" id="e-domain">/);
        assert.match(html, message);
        assert.match(html, /id="f-domain"[^>]*aria-invalid="true"/);
        assert.equal(
          (await gh.api('GET', `/organizations?search=Validation`)).body.data[0].domains.length,
          0,
        );
      });
    }

    it('a domain the organization already has: 409, said by the field', async () => {
      await addAndOpen(p, 'twice.com');
      const res = await addDomain(p, 'TWICE.com');
      assert.equal(res.status, 409);
      assert.match(await res.text(), /Your organization already has this domain/);
    });
  });

  describe('attacks and ended sessions', () => {
    let a: Portal;
    let orgB: { id: string; domains: { id: string; domain: string }[] };
    let bDomainId: string;
    let bToken: string;

    before(async () => {
      a = await openPortal((await createOrganization('Alpha')).id);
      orgB = await createOrganization('Bravo', [{ domain: 'bravo-secret.com', state: 'pending' }]);
      bDomainId = orgB.domains[0]?.id ?? '';
      bToken = (await gh.api('GET', `/organization_domains/${bDomainId}`)).body.verification_token;
    });

    it("another organization's domain ID in the URL: 404 page, nothing of that domain shown", async () => {
      const res = await a.browser.request(`${gh.url}/portal/domains/${bDomainId}`);
      const html = await res.text();
      assertMessagePage(res, html, 404, 'portal_domain_not_found');
      assert.ok(!html.includes('bravo-secret') && !html.includes(bToken));
    });

    it("another organization's domain ID in the verify form's URL: 404, no DNS query, its state unchanged", async () => {
      dns.records.set(`${PREFIX}.bravo-secret.com`, [[`gatehouse-domain-verification=${bToken}`]]);
      const queried = dns.queries.length;
      const { res, html } = await verify(a, bDomainId);
      assertMessagePage(res, html, 404, 'portal_domain_not_found');
      assert.ok(!html.includes('bravo-secret') && !html.includes(bToken));
      assert.equal(dns.queries.length, queried);
      assert.equal(await stateOf(bDomainId), 'pending');
    });

    it("an organization_id of another organization in the add form is ignored: the domain is the session's", async () => {
      const res = await addDomain(a, 'alpha-only.com', { organization_id: orgB.id });
      assert.equal(res.status, 303);
      const id = /org_domain_[0-9A-Z]{26}/.exec(res.headers.get('location') ?? '')?.[0] ?? '';
      const d = await gh.api('GET', `/organization_domains/${id}`);
      assert.notEqual(d.body.organization_id, orgB.id);
      assert.equal((await gh.api('GET', `/organizations/${orgB.id}`)).body.domains.length, 1);
    });

    it('a domain verified by another organization first: 409, said in words, not verified here', async () => {
      await createOrganization('Owner', [{ domain: 'taken.com', state: 'verified' }]);
      const { id, record } = await addAndOpen(a, 'taken.com');
      dns.records.set(record.name, [[record.value]]);
      const { res, html } = await verify(a, id);
      assert.equal(res.status, 409);
      assert.match(html, /Not verified: taken\.com is already verified by another organization\./);
      assert.notEqual(await stateOf(id), 'verified');
    });

    for (const [name, csrf] of [
      ['missing', null],
      ['wrong', 'x'.repeat(43)],
    ] as const) {
      it(`CSRF token ${name} on POST /portal/domains: 403 portal_csrf_invalid, nothing added`, async () => {
        const res = await a.browser.request(`${gh.url}/portal/domains`, {
          form: { ...(csrf === null ? {} : { csrf }), domain: `csrf-${name}.com` },
        });
        assertMessagePage(res, await res.text(), 403, 'portal_csrf_invalid');
        const orgs = (await gh.api('GET', '/organizations?search=Alpha')).body.data;
        assert.ok(!JSON.stringify(orgs).includes(`csrf-${name}.com`));
      });

      it(`CSRF token ${name} on POST /portal/domains/:id/verify: 403 portal_csrf_invalid, no DNS query`, async () => {
        const { id, record } = await addAndOpen(a, `verify-csrf-${name}.com`);
        dns.records.set(record.name, [[record.value]]);
        const queried = dns.queries.length;
        const { res, html } = await verify(a, id, csrf);
        assertMessagePage(res, html, 403, 'portal_csrf_invalid');
        assert.equal(dns.queries.length, queried);
        assert.equal(await stateOf(id), 'pending');
      });
    }

    it("another session's CSRF token (of another organization's link): 403, no DNS query", async () => {
      const other = await openPortal(orgB.id);
      const { id, record } = await addAndOpen(a, 'cross-session.com');
      dns.records.set(record.name, [[record.value]]);
      const queried = dns.queries.length;
      const { res, html } = await verify(a, id, other.csrf);
      assertMessagePage(res, html, 403, 'portal_csrf_invalid');
      assert.equal(dns.queries.length, queried);
    });

    it('a link of the sso intent does not open the domain pages: 403 portal_intent_mismatch', async () => {
      const sso = await openPortal(orgB.id, GenerateLinkIntent.SSO);
      const res = await sso.browser.request(`${gh.url}/portal/domains`);
      assertMessagePage(res, await res.text(), 403, 'portal_intent_mismatch');
      const posted = await addDomain(sso, 'sso-intent.com');
      assertMessagePage(posted, await posted.text(), 403, 'portal_intent_mismatch');
      const { res: checked, html } = await verify(sso, bDomainId);
      assertMessagePage(checked, html, 403, 'portal_intent_mismatch');
      assert.equal(await stateOf(bDomainId), 'pending');
    });

    for (const [name, offset] of [
      ['past its 4 hours', ABSOLUTE_MS + 60_000],
      ['idle over an hour', 61 * 60_000],
    ] as const) {
      it(`session ${name}: every page and form says the session ended (401), no DNS query`, async () => {
        const p = await openPortal((await createOrganization(`Ended ${name}`)).id);
        const { id, record } = await addAndOpen(p, `ended-${offset}.com`);
        dns.records.set(record.name, [[record.value]]);
        const queried = dns.queries.length;
        clockOffsetMs = offset;
        const pages: [Response, string][] = [];
        for (const res of [
          await p.browser.request(`${gh.url}/portal/domains`),
          await p.browser.request(`${gh.url}/portal/domains/${id}`),
          await addDomain(p, `ended-more-${offset}.com`),
        ]) {
          pages.push([res, await res.text()]);
        }
        const checked = await verify(p, id);
        pages.push([checked.res, checked.html]);
        for (const [res, html] of pages) {
          assertMessagePage(res, html, 401, 'portal_session_missing');
          assert.ok(!html.includes(`ended-${offset}.com`));
        }
        assert.equal(dns.queries.length, queried);
        assert.equal(await stateOf(id), 'pending');
      });
    }
  });
});
