import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Event } from '@workos-inc/node';
import { catalog } from '../../src/errors/catalog.ts';
import { runMaintenance } from '../../src/maintenance.ts';
import { consentForm, TestBrowser } from '../helpers/browser.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { connectOidcIdp, type TestIdp } from '../helpers/oidc-idp.ts';
import { connectSamlIdp, type SamlSetup, samlResponseWith, startSamlLogin } from '../helpers/saml-idp.ts';

/**
 * `authentication.sso_*` events of real sign-ins (issue 12's Done when: "listEvents through the SDK returns the
 * events of a real SAML and a real OIDC sign-in, failed and succeeded"): oidc-provider and a samlify IdP as the
 * customer's IdPs, a browser with its own User-Agent, and the official SDK reading the events back. `sso_started`
 * is not one the SDK deserializes (it passes `data` through as sent); `sso_succeeded` and `sso_failed` are.
 */

const APP = 'http://localhost:3000/callback';
const UA = 'Mozilla/5.0 (X11; Linux x86_64) GatehouseEventsTest/1.0';
const SIGN_IN_EVENTS = [
  'authentication.sso_started',
  'authentication.sso_succeeded',
  'authentication.sso_failed',
] as Event['event'][];

/** A browser that sends a User-Agent, as real ones do. */
class Browser extends TestBrowser {
  readonly userAgent: string;
  constructor(userAgent = UA) {
    super();
    this.userAgent = userAgent;
  }
  override request(url: string | URL, init: Parameters<TestBrowser['request']>[1] = {}): Promise<Response> {
    return super.request(url, { ...init, headers: { 'user-agent': this.userAgent, ...init.headers } });
  }
}

/** The sign-in events of one session log record, oldest first, through the SDK. */
async function eventsOf(gh: TestGatehouse, sessionId: string): Promise<Event[]> {
  const page = await gh.workos.events.listEvents({ events: SIGN_IN_EVENTS, limit: 100 });
  return page.data.filter((e) => {
    const data = (e as { data: { sso?: { sessionId?: string; session_id?: string } } }).data;
    return (data.sso?.sessionId ?? data.sso?.session_id) === sessionId;
  });
}

/** The session log record a response's request ID finds. */
async function sessionOf(
  gh: TestGatehouse,
  res: Response,
): Promise<{ id: string; profile_id: string | null }> {
  const found = await gh.api('GET', `/sso/sessions?request_id=${res.headers.get('x-request-id')}`);
  assert.equal(found.body.data.length, 1);
  return found.body.data[0];
}

/** What `sso_started` carries (raw: the SDK passes it through). */
function started(orgId: string, connectionId: string, sessionId: string, userAgent = UA) {
  return {
    type: 'sso',
    status: 'started',
    ip_address: '127.0.0.1',
    user_agent: userAgent,
    user_id: null,
    email: null,
    sso: { organization_id: orgId, connection_id: connectionId, session_id: sessionId },
  };
}

describe('sign-in events of a real OIDC sign-in (oidc-provider), through the SDK', () => {
  let gh: TestGatehouse;
  let idp: TestIdp;
  let orgId: string;
  let connectionId: string;

  before(async () => {
    gh = await startGatehouse();
    ({ idp, orgId, connectionId } = await connectOidcIdp(gh, { appRedirectUri: APP }));
  });
  after(async () => {
    await gh.close();
    await idp.close();
  });

  const authorizeUrl = () =>
    gh.workos.sso.getAuthorizationUrl({ clientId: gh.clientId, redirectUri: APP, organization: orgId });

  it('succeeded: started at authorize, succeeded at consent, with the profile and the browser', async () => {
    const browser = new Browser();
    const atConsent = await browser.signInAtIdp(authorizeUrl(), 'ada', idp.issuer, APP);
    assert.equal(atConsent.res.status, 200);
    const approved = await browser.request(`${gh.url}/sso/consent`, {
      form: { consent_token: consentForm(await atConsent.res.text()).token, decision: 'approve' },
      headers: { origin: gh.url },
    });
    assert.equal(approved.status, 303);
    const session = await sessionOf(gh, approved);
    assert.match(session.profile_id ?? '', /^prof_/);

    const events = await eventsOf(gh, session.id);
    assert.deepEqual(
      events.map((e) => e.event),
      ['authentication.sso_started', 'authentication.sso_succeeded'],
    );
    assert.deepEqual((events[0] as { data: unknown }).data, started(orgId, connectionId, session.id));
    // The SDK's deserializeAuthenticationEvent: camelCase, no `error`.
    assert.deepEqual((events[1] as { data: unknown }).data, {
      email: 'ada@acme.com',
      ipAddress: '127.0.0.1',
      sso: { connectionId, organizationId: orgId, sessionId: session.id },
      status: 'succeeded',
      type: 'sso',
      userAgent: UA,
      userId: session.profile_id,
    });
    // The first sign-in activated the connection: connection.activated, once.
    const activated = await gh.workos.events.listEvents({ events: ['connection.activated'] });
    assert.equal(activated.data.length, 1);
    assert.equal((activated.data[0] as { data: { id: string; state: string } }).data.state, 'active');
    assert.equal((activated.data[0] as { data: { id: string } }).data.id, connectionId);
  });

  it("failed: the IdP's error → sso_failed with the wire code the app got and the catalog's text", async () => {
    const browser = new Browser();
    const res = await browser.request(authorizeUrl());
    const toIdp = new URL(res.headers.get('location') ?? '');
    const state = toIdp.searchParams.get('state') ?? '';
    // The IdP answers with an error (and its own text, which must not reach the event).
    const callback = new URL(toIdp.searchParams.get('redirect_uri') ?? '');
    callback.searchParams.set('error', 'access_denied');
    callback.searchParams.set('error_description', 'User ada@acme.com is not assigned. Trace 42');
    callback.searchParams.set('state', state);
    callback.searchParams.set('iss', idp.issuer);
    const answer = await browser.request(callback);
    assert.equal(answer.status, 302);
    const back = new URL(answer.headers.get('location') ?? '');
    const session = await sessionOf(gh, answer);

    const events = await eventsOf(gh, session.id);
    assert.deepEqual(
      events.map((e) => e.event),
      ['authentication.sso_started', 'authentication.sso_failed'],
    );
    const failed = (events[1] as { data: Record<string, unknown> }).data;
    assert.deepEqual(failed, {
      email: null,
      error: { code: back.searchParams.get('error'), message: back.searchParams.get('error_description') },
      ipAddress: '127.0.0.1',
      sso: { connectionId, organizationId: orgId, sessionId: session.id },
      status: 'failed',
      type: 'sso',
      userAgent: UA,
      userId: null,
    });
    assert.equal((failed.error as { code: string }).code, 'access_denied');
    assert.ok(!JSON.stringify(events).includes('Trace 42'));
  });

  it('failed at authorize (an unknown organization): sso_failed without a connection, and no sso_started', async () => {
    const browser = new Browser();
    const res = await browser.request(
      gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: APP,
        organization: 'org_01HZZZZZZZZZZZZZZZZZZZZZZZ',
      }),
    );
    assert.equal(res.status, 302);
    const back = new URL(res.headers.get('location') ?? '');
    const session = await sessionOf(gh, res);
    const events = await eventsOf(gh, session.id);
    assert.deepEqual(
      events.map((e) => e.event),
      ['authentication.sso_failed'],
    );
    assert.deepEqual((events[0] as { data: unknown }).data, {
      email: null,
      error: { code: back.searchParams.get('error'), message: back.searchParams.get('error_description') },
      ipAddress: '127.0.0.1',
      sso: { connectionId: null, organizationId: null, sessionId: session.id },
      status: 'failed',
      type: 'sso',
      userAgent: UA,
      userId: null,
    });
  });

  it('timed out: never back from the IdP, or never past the consent screen → sso_timed_out from the maintenance', async () => {
    // One stops at the IdP, one at Gatehouse's consent screen (the IdP answered: profile and email known).
    const atIdp = await new Browser().request(authorizeUrl());
    assert.equal(atIdp.status, 302);
    const idpSession = await sessionOf(gh, atIdp);
    const browser = new Browser();
    const atConsent = await browser.signInAtIdp(authorizeUrl(), 'grace', idp.issuer, APP);
    assert.equal(atConsent.res.status, 200);
    const consentSession = await sessionOf(gh, atConsent.res);
    // The maintenance, run past the logins' expiry (10 minutes) and its hour of grace; then again, and by a second
    // node: each sign-in is marked, and reported, once.
    const later = new Date(Date.now() + 2 * 60 * 60 * 1000);
    const run = () => runMaintenance(gh.store, { now: later, sessionLogRetentionDays: 0 });
    const [first, second] = await Promise.all([run(), run()]);
    assert.ok(first && second);
    assert.deepEqual(
      [...first.timedOut, ...second.timedOut]
        .filter((id) => id === idpSession.id || id === consentSession.id)
        .sort(),
      [idpSession.id, consentSession.id].sort(),
    );
    const page = await gh.workos.events.listEvents({
      events: ['authentication.sso_timed_out' as Event['event']],
    });
    const timedOut = page.data.map((e) => (e as unknown as { data: { sso: { session_id: string } } }).data);
    const error = {
      code: catalog.transaction_expired.wire,
      message: catalog.transaction_expired.description,
    };
    const expected = (sessionId: string, user: { id: string | null; email: string | null }) => ({
      type: 'sso',
      status: 'timed_out',
      ip_address: null,
      user_agent: null,
      user_id: user.id,
      email: user.email,
      sso: { organization_id: orgId, connection_id: connectionId, session_id: sessionId },
      error,
    });
    assert.deepEqual(
      timedOut.filter((d) => d.sso.session_id === idpSession.id),
      [expected(idpSession.id, { id: null, email: null })],
    );
    assert.deepEqual(
      timedOut.filter((d) => d.sso.session_id === consentSession.id),
      [expected(consentSession.id, { id: consentSession.profile_id, email: 'grace@acme.com' })],
    );
  });

  it('a hostile User-Agent is cut to 512 characters; an empty one is null', async () => {
    const long = new Browser(`Mozilla/5.0 ${'x'.repeat(8000)}`);
    const res = await long.request(authorizeUrl());
    assert.equal(res.status, 302);
    const none = new Browser('');
    const res2 = await none.request(authorizeUrl());
    assert.equal(res2.status, 302);
    const page = await gh.workos.events.listEvents({
      events: ['authentication.sso_started' as Event['event']],
      order: 'desc',
      limit: 2,
    });
    const [second, first] = page.data.map(
      (e) => (e as unknown as { data: { user_agent: string | null } }).data,
    );
    assert.equal(first?.user_agent, `Mozilla/5.0 ${'x'.repeat(8000)}`.slice(0, 512));
    assert.equal(second?.user_agent, null);
  });
});

describe('sign-in events of a real SAML sign-in (samlify IdP), through the SDK', () => {
  let gh: TestGatehouse;
  let acme: SamlSetup;

  before(async () => {
    // Without the consent screen: the callback itself ends the sign-in (the OIDC suite covers consent).
    gh = await startGatehouse({ env: { GATEHOUSE_SIGNIN_CONSENT: 'off' } });
    acme = await connectSamlIdp(gh, { appRedirectUri: APP });
  });
  after(() => gh.close());

  const authorizeUrl = () =>
    gh.workos.sso.getAuthorizationUrl({ clientId: gh.clientId, redirectUri: APP, organization: acme.orgId });

  it('succeeded: started at authorize, succeeded at the ACS, with the profile and the browser', async () => {
    const browser = new Browser();
    const { request, relayState } = await startSamlLogin(browser, acme, authorizeUrl());
    const response = await samlResponseWith(acme, request, { nameId: 'grace@acme.com' });
    const acs = await browser.request(acme.acsUrl, {
      form: { SAMLResponse: response, RelayState: relayState },
    });
    assert.equal(acs.status, 303);
    assert.ok(new URL(acs.headers.get('location') ?? '').searchParams.has('code'));
    const session = await sessionOf(gh, acs);

    const events = await eventsOf(gh, session.id);
    assert.deepEqual(
      events.map((e) => e.event),
      ['authentication.sso_started', 'authentication.sso_succeeded'],
    );
    assert.deepEqual(
      (events[0] as { data: unknown }).data,
      started(acme.orgId, acme.connectionId, session.id),
    );
    assert.deepEqual((events[1] as { data: unknown }).data, {
      email: 'grace@acme.com',
      ipAddress: '127.0.0.1',
      sso: { connectionId: acme.connectionId, organizationId: acme.orgId, sessionId: session.id },
      status: 'succeeded',
      type: 'sso',
      userAgent: UA,
      userId: session.profile_id,
    });
  });

  it("failed: the IdP's SAML status → sso_failed with the wire code and the catalog's text, not the IdP's", async () => {
    const browser = new Browser();
    const { request, relayState } = await startSamlLogin(browser, acme, authorizeUrl());
    const response = await samlResponseWith(acme, request, {
      nameId: 'grace@acme.com',
      status: { top: 'Responder', second: 'AuthnFailed', message: 'AADSTS50126: bad password. Trace 7' },
    });
    const acs = await browser.request(acme.acsUrl, {
      form: { SAMLResponse: response, RelayState: relayState },
    });
    assert.equal(acs.status, 303);
    const session = await sessionOf(gh, acs);
    const events = await eventsOf(gh, session.id);
    assert.deepEqual(
      events.map((e) => e.event),
      ['authentication.sso_started', 'authentication.sso_failed'],
    );
    assert.deepEqual((events[1] as { data: unknown }).data, {
      email: null,
      error: {
        code: catalog.upstream_authn_failed.wire,
        message: catalog.upstream_authn_failed.description,
      },
      ipAddress: '127.0.0.1',
      sso: { connectionId: acme.connectionId, organizationId: acme.orgId, sessionId: session.id },
      status: 'failed',
      type: 'sso',
      userAgent: UA,
      userId: null,
    });
    assert.ok(!JSON.stringify(events).includes('AADSTS'));
  });

  it('IdP-initiated: sso_started once the response is verified, then succeeded; an unsigned one: sso_failed', async () => {
    const browser = new Browser();
    const response = await samlResponseWith(acme, null, { nameId: 'linus@acme.com' });
    const acs = await browser.request(acme.acsUrl, { form: { SAMLResponse: response } });
    // IdP-initiated sign-ins always show the consent screen.
    assert.equal(acs.status, 200);
    const approved = await browser.request(`${gh.url}/sso/consent`, {
      form: { consent_token: consentForm(await acs.text()).token, decision: 'approve' },
      headers: { origin: gh.url },
    });
    assert.equal(approved.status, 303);
    const session = await sessionOf(gh, approved);
    const events = await eventsOf(gh, session.id);
    assert.deepEqual(
      events.map((e) => e.event),
      ['authentication.sso_started', 'authentication.sso_succeeded'],
    );
    assert.deepEqual((events[0] as { data: unknown }).data, {
      ...started(acme.orgId, acme.connectionId, session.id),
      user_id: session.profile_id,
      email: 'linus@acme.com',
    });

    const junk = await browser.request(acme.acsUrl, {
      form: { SAMLResponse: Buffer.from('<samlp:Response/>').toString('base64') },
    });
    assert.equal(junk.status, 400);
    const failed = await sessionOf(gh, junk);
    const junkEvents = await eventsOf(gh, failed.id);
    assert.deepEqual(
      junkEvents.map((e) => e.event),
      ['authentication.sso_failed'],
    );
  });
});
