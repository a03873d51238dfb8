import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type CryptoKey, decodeJwt, exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { catalog, type ErrorCode } from '../../src/errors/catalog.ts';
import { escapeHtml } from '../../src/http/pages.ts';
import { randomToken } from '../../src/lib/tokens.ts';
import { consentForm, TestBrowser } from '../helpers/browser.ts';
import { freePort, startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { type IdpMiddleware, startIdp, type TestIdp } from '../helpers/oidc-idp.ts';

/**
 * Every way the IdP's answer at Gatehouse's OIDC callback can fail (error-taxonomy.md §1.8, §5.2–5.6, §7), and
 * the consent screen's own failures, end to end: a real oidc-provider as the IdP, real HTTP, a cookie-keeping
 * browser. Browser-facing errors are either the exact redirect to the app (catalog code and description, the
 * app's state as sent, our iss) or the HTML page (400, no redirect); nothing the IdP or a library said ever
 * reaches the browser, and the session log keeps the IdP's raw error without codes, tokens or secrets.
 */

const APP = 'http://localhost:3000/callback';
const CLIENT_SECRET = 'gatehouse-test-secret-0123456789abcdef';

/** Text that must never reach a browser: IdP descriptions, vendor trace IDs, library and network messages. */
const LEAKS =
  /AADSTS|Trace ID|Correlation ID|<script|End-User aborted|weird_vendor|evil\.example|oauth4webapi|openid-client|JWT|ECONNREFUSED|fetch failed|TypeError|timed out|nonce|audience|signature/i;

/** The session log record as GET /sso/sessions presents it (only the fields these tests read). */
interface SessionView {
  id: string;
  outcome: string;
  failed_stage: string | null;
  reason: string | null;
  error: string | null;
  upstream_error: Record<string, unknown> | null;
  email: string | null;
  stages: Record<string, string>;
  request_ids: { authorize: string | null; callback: string | null; consent: string | null };
}

describe('OIDC callback failures', () => {
  let gh: TestGatehouse;
  /** A second Gatehouse with GATEHOUSE_SIGNIN_CONSENT=off, sharing the IdP. */
  let ghNoConsent: TestGatehouse;
  let idp: TestIdp;
  /** An IdP that goes away mid-sign-in. */
  let idpDown: TestIdp;
  let idpDownClosed = false;
  /** Added to the real time by the main Gatehouse's clock. */
  let clockOffsetMs = 0;
  let acmeConnection: { id: string; callback: string };
  let policyConnection: { id: string; callback: string };
  let policyOrgId: string;
  let downConnection: { id: string; callback: string };
  let noConsentConnection: { id: string; callback: string };

  /** The IdP's signing key (so a test can re-sign an ID token with it) and a key the IdP never published. */
  let idpKey: CryptoKey;
  let rogueKey: CryptoKey;
  /** When set, the IdP's /token response carries an ID token rewritten by this function. */
  let rewriteIdToken: ((claims: JWTPayload) => { claims: JWTPayload; key: CryptoKey; kid: string }) | null =
    null;

  async function createConnection(
    g: TestGatehouse,
    orgId: string,
    issuer: string,
    name: string,
  ): Promise<{ id: string; callback: string }> {
    const res = await g.api('POST', '/connections', {
      organization_id: orgId,
      connection_type: 'OktaOIDC',
      name,
      oidc_options: {
        issuer,
        client_id: 'gatehouse-test-client',
        client_secret: CLIENT_SECRET,
        scopes: ['openid', 'profile', 'email', 'groups'],
      },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return { id: res.body.id, callback: res.body.oidc_options.redirect_uri };
  }

  async function createOrg(
    g: TestGatehouse,
    name: string,
    domains: Array<{ domain: string; state: 'verified' | 'pending' }>,
  ): Promise<string> {
    const res = await g.api('POST', '/organizations', { name, domain_data: domains });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.id;
  }

  before(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    idpKey = pair.privateKey;
    rogueKey = (await generateKeyPair('RS256')).privateKey;
    const idpJwk = { ...(await exportJWK(pair.privateKey)), kid: 'idp-key-1', alg: 'RS256', use: 'sig' };

    gh = await startGatehouse({ now: () => new Date(Date.now() + clockOffsetMs) });
    ghNoConsent = await startGatehouse({ env: { GATEHOUSE_SIGNIN_CONSENT: 'off' } });
    const idpPort = await freePort();
    const idpDownPort = await freePort();
    const issuer = `http://127.0.0.1:${idpPort}`;
    for (const g of [gh, ghNoConsent])
      assert.equal((await g.api('POST', '/redirect_uris', { uri: APP })).status, 201);

    const acmeOrg = await createOrg(gh, 'Acme', [{ domain: 'acme.com', state: 'verified' }]);
    acmeConnection = await createConnection(gh, acmeOrg, issuer, 'Acme Okta');
    policyOrgId = await createOrg(gh, 'Outside', [
      { domain: 'outside.com', state: 'verified' },
      { domain: 'pending.com', state: 'pending' },
    ]);
    policyConnection = await createConnection(gh, policyOrgId, issuer, 'Outside Okta');
    const downOrg = await createOrg(gh, 'Down', [{ domain: 'down.example', state: 'verified' }]);
    downConnection = await createConnection(gh, downOrg, `http://127.0.0.1:${idpDownPort}`, 'Down Okta');
    const noConsentOrg = await createOrg(ghNoConsent, 'Acme', [{ domain: 'acme.com', state: 'verified' }]);
    noConsentConnection = await createConnection(ghNoConsent, noConsentOrg, issuer, 'Acme Okta');

    const tamper: IdpMiddleware = async (ctx, next) => {
      await next();
      const body = ctx.body as { id_token?: unknown } | undefined;
      if (ctx.path !== '/token' || !rewriteIdToken || typeof body?.id_token !== 'string') return;
      const { claims, key, kid } = rewriteIdToken(decodeJwt(body.id_token));
      body.id_token = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).sign(key);
    };
    idp = await startIdp({
      port: idpPort,
      redirectUris: [acmeConnection.callback, policyConnection.callback, noConsentConnection.callback],
      jwks: { keys: [idpJwk] },
      middleware: tamper,
    });
    idpDown = await startIdp({ port: idpDownPort, redirectUris: [downConnection.callback] });
  });

  after(async () => {
    await gh.close();
    await ghNoConsent.close();
    await idp.close();
    if (!idpDownClosed) await idpDown.close();
  });

  // ---------- helpers ----------

  function authorizeUrl(connectionId: string, state: string, g: TestGatehouse = gh): string {
    return g.workos.sso.getAuthorizationUrl({
      clientId: g.clientId,
      redirectUri: APP,
      connection: connectionId,
      state,
    });
  }

  /** GET /sso/authorize in `browser` (which gets the binding cookie); returns our state from the upstream redirect. */
  async function startAuthorize(
    browser: TestBrowser,
    connectionId: string,
    appState: string,
  ): Promise<string> {
    const res = await browser.request(authorizeUrl(connectionId, appState));
    assert.equal(res.status, 302);
    const upstream = new URL(res.headers.get('location') ?? '');
    assert.equal(upstream.origin, idp.issuer);
    const state = upstream.searchParams.get('state');
    assert.ok(state);
    return state;
  }

  /** Sign-in at the IdP, stopping at the IdP's redirect to our callback; returns that callback URL. */
  async function upToCallback(browser: TestBrowser, url: string, callback: string, idpOrigin: string) {
    const step = await browser.signInAtIdp(url, 'ada', idpOrigin, callback);
    assert.equal(step.res.status, 303, `expected the IdP's redirect to the callback, got ${step.res.status}`);
    const location = new URL(step.res.headers.get('location') ?? '', step.url);
    assert.ok(location.href.startsWith(callback));
    assert.ok(location.searchParams.get('code'));
    return location;
  }

  /** The callback URL of `connection` with these query parameters. */
  function callbackUrl(connection: { callback: string }, params: Record<string, string>): string {
    return `${connection.callback}?${new URLSearchParams(params)}`;
  }

  /**
   * A 302 to the app's redirect URI with exactly error, error_description (the catalog's), the app's state
   * and our iss, and no upstream text anywhere in the response.
   */
  async function assertErrorRedirect(res: Response, code: ErrorCode, appState: string, status = 302) {
    assert.equal(res.status, status);
    const raw = res.headers.get('location') ?? '';
    const location = new URL(raw);
    assert.equal(`${location.origin}${location.pathname}`, APP);
    assert.deepEqual(Object.fromEntries(location.searchParams), {
      error: catalog[code].wire,
      error_description: catalog[code].description,
      state: appState,
      iss: gh.url,
    });
    assert.equal([...location.searchParams.keys()].length, 4, 'no repeated parameter');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    await assertNoLeak(res, raw);
  }

  /** `text` without the response's request ID and date, whose characters are random (a ULID may hold "JWT"). */
  function withoutRandomIds(res: Response, text: string): string {
    let out = text;
    for (const name of ['x-request-id', 'date']) {
      const value = res.headers.get(name);
      if (value) out = out.replaceAll(value, `<${name}>`);
    }
    return out;
  }

  /** Nothing from the IdP or a library in what the browser sees: headers and body. */
  async function assertNoLeak(
    res: Response,
    location = res.headers.get('location') ?? '',
    extra: string[] = [],
  ) {
    const body = await res.text();
    const visible = withoutRandomIds(
      res,
      `${[...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}\n${decodeURIComponent(location)}\n${body}`,
    );
    assert.doesNotMatch(visible, LEAKS);
    for (const s of extra) assert.ok(!visible.includes(s), `"${s}" leaked to the browser`);
  }

  /** The HTML error page: 400, no redirect, not cached, the catalog text and the request ID shown. */
  async function assertPage(res: Response, code: ErrorCode) {
    assert.equal(catalog[code].transport, 'page');
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('location'), null);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    const requestId = res.headers.get('x-request-id') ?? '';
    assert.match(requestId, /^req_/);
    const html = await res.text();
    assert.ok(html.includes(requestId), 'the page shows the request ID');
    assert.ok(html.includes(escapeHtml(catalog[code].description)), html);
    assert.ok(html.includes(`<code>${code}</code>`));
    assert.doesNotMatch(withoutRandomIds(res, html), LEAKS);
  }

  /** The one session log record found by the callback's (or consent's) request ID. */
  async function sessionOf(res: Response, g: TestGatehouse = gh): Promise<SessionView> {
    const requestId = res.headers.get('x-request-id') ?? '';
    const found = await g.api('GET', `/sso/sessions?request_id=${requestId}`);
    assert.equal(found.status, 200);
    assert.equal(found.body.data.length, 1, `one session for ${requestId}`);
    const session = found.body.data[0] as SessionView;
    assertNothingSecret(session);
    return session;
  }

  function assertNothingSecret(session: SessionView, extra: string[] = []) {
    const text = JSON.stringify(session);
    // Field names of tokens and secrets (`detail.code` is an error code, so the authorization codes themselves
    // are checked by value where the test knows them).
    assert.doesNotMatch(text, /access_token|refresh_token|code_verifier|client_secret|"id_token":/);
    assert.doesNotMatch(text, /eyJ[\w-]+\.eyJ/, 'no JWT');
    assert.ok(!text.includes(CLIENT_SECRET));
    for (const s of extra) assert.ok(!text.includes(s), `"${s}" is in the session log`);
  }

  function assertFailedSession(
    session: SessionView,
    expected: { stage: string; reason: ErrorCode; upstream: Record<string, unknown> | null },
  ) {
    assert.equal(session.outcome, 'failed');
    assert.equal(session.failed_stage, expected.stage);
    assert.equal(session.reason, expected.reason);
    assert.equal(session.error, catalog[expected.reason].wire);
    assert.deepEqual(session.upstream_error, expected.upstream);
  }

  // ---------- the IdP's error on the callback ----------

  describe('the IdP answers with an error', () => {
    it('the user cancels at the IdP (oidc-provider abort): access_denied, user cancelled', async () => {
      const browser = new TestBrowser();
      const atLogin = await browser.follow(authorizeUrl(acmeConnection.id, 'cancel 1/+'), APP);
      assert.equal(atLogin.url.origin, idp.issuer);
      assert.equal(atLogin.res.status, 200);
      await atLogin.res.text();
      const uid = /^\/interaction\/([^/]+)$/.exec(atLogin.url.pathname)?.[1];
      assert.ok(uid, atLogin.url.href);

      const back = await browser.follow(`${idp.issuer}/interaction/${uid}/abort`, APP);
      // The IdP really sent the user back to our callback with its error.
      assert.ok(back.url.href.startsWith(acmeConnection.callback));
      assert.equal(back.url.searchParams.get('error'), 'access_denied');
      assert.equal(back.url.searchParams.get('error_description'), 'End-User aborted interaction');

      await assertErrorRedirect(back.res, 'upstream_user_cancelled', 'cancel 1/+');
      assertFailedSession(await sessionOf(back.res), {
        stage: 'upstream_error',
        reason: 'upstream_user_cancelled',
        upstream: { error: 'access_denied', error_description: 'End-User aborted interaction' },
      });
    });

    it('an unknown error with script and Entra trace text: server_error, kept verbatim in the session log only', async () => {
      const browser = new TestBrowser();
      const state = await startAuthorize(browser, acmeConnection.id, 'unknown-1');
      const description =
        '<script>alert("AADSTS50000")</script> AADSTS50000: There was an error issuing a token.\r\n' +
        'Trace ID: 3c1f0b5e-2a4d-4f6b-9c8e-1d2e3f405162\r\nCorrelation ID: 9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d\r\n' +
        'Timestamp: 2024-05-01 10:00:00Z';
      const res = await browser.request(
        callbackUrl(acmeConnection, {
          error: 'weird_vendor_error',
          error_description: description,
          state,
          iss: idp.issuer,
        }),
      );
      await assertErrorRedirect(res, 'upstream_error_unknown', 'unknown-1');
      const location = res.headers.get('location') ?? '';
      for (const s of ['3c1f0b5e', '9a8b7c6d', 'There was an error', '<script', 'alert', '2024-05-01'])
        assert.ok(!location.includes(s), s);

      assertFailedSession(await sessionOf(res), {
        stage: 'upstream_error',
        reason: 'upstream_error_unknown',
        upstream: {
          error: 'weird_vendor_error',
          error_description: description,
          trace_id: '3c1f0b5e-2a4d-4f6b-9c8e-1d2e3f405162',
          correlation_id: '9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d',
          timestamp: '2024-05-01 10:00:00Z',
          aadsts: 50000,
        },
      });
    });

    it("Okta's user_canceled_request: access_denied, user cancelled", async () => {
      const browser = new TestBrowser();
      const state = await startAuthorize(browser, acmeConnection.id, 'okta');
      const upstream = {
        error: 'user_canceled_request',
        error_description: 'The resource owner or authorization server denied the request.',
      };
      const res = await browser.request(callbackUrl(acmeConnection, { ...upstream, state, iss: idp.issuer }));
      await assertErrorRedirect(res, 'upstream_user_cancelled', 'okta');
      assertFailedSession(await sessionOf(res), {
        stage: 'upstream_error',
        reason: 'upstream_user_cancelled',
        upstream,
      });
    });

    it("Salesforce's hyphenated error=access-denied: access_denied", async () => {
      const browser = new TestBrowser();
      const state = await startAuthorize(browser, acmeConnection.id, 'sfdc');
      const res = await browser.request(
        callbackUrl(acmeConnection, { error: 'access-denied', state, iss: idp.issuer }),
      );
      await assertErrorRedirect(res, 'upstream_access_denied', 'sfdc');
      assertFailedSession(await sessionOf(res), {
        stage: 'upstream_error',
        reason: 'upstream_access_denied',
        upstream: { error: 'access-denied' },
      });
    });

    it('temporarily_unavailable: server_error, temporarily unavailable', async () => {
      const browser = new TestBrowser();
      const state = await startAuthorize(browser, acmeConnection.id, 'busy');
      const upstream = { error: 'temporarily_unavailable', error_description: 'Try later' };
      const res = await browser.request(callbackUrl(acmeConnection, { ...upstream, state, iss: idp.issuer }));
      await assertErrorRedirect(res, 'upstream_temporarily_unavailable', 'busy');
      assertFailedSession(await sessionOf(res), {
        stage: 'upstream_error',
        reason: 'upstream_temporarily_unavailable',
        upstream,
      });
    });

    it('iss of another issuer (RFC 9207 mix-up): issuer_mismatch, and the IdP error is not passed through', async () => {
      const browser = new TestBrowser();
      const state = await startAuthorize(browser, acmeConnection.id, 'mixup');
      const res = await browser.request(
        callbackUrl(acmeConnection, {
          error: 'access_denied',
          error_description: 'AADSTS65004: User declined to consent to access the app.',
          state,
          iss: 'https://evil.example',
        }),
      );
      await assertErrorRedirect(res, 'issuer_mismatch', 'mixup');
      assert.notEqual(catalog.issuer_mismatch.wire, 'access_denied');
      const session = await sessionOf(res);
      assertFailedSession(session, { stage: 'upstream_error', reason: 'issuer_mismatch', upstream: null });
    });
  });

  // ---------- the IdP goes away or is slow during the code exchange ----------

  describe('the code exchange cannot complete', () => {
    it('IdP unreachable after it redirected with a code: server_error, answered in under 5 s', async () => {
      const browser = new TestBrowser();
      const callback = await upToCallback(
        browser,
        authorizeUrl(downConnection.id, 'down'),
        downConnection.callback,
        idpDown.issuer,
      );
      await idpDown.close();
      idpDownClosed = true;

      const started = performance.now();
      const res = await browser.request(callback);
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 5000, `answered after ${Math.round(elapsed)} ms`);
      await assertErrorRedirect(res, 'upstream_temporarily_unavailable', 'down');
      const session = await sessionOf(res);
      assertFailedSession(session, {
        stage: 'token_exchange',
        reason: 'upstream_temporarily_unavailable',
        upstream: null,
      });
      assertNothingSecret(session, [callback.searchParams.get('code') ?? '<no code>']);
    });

    it('IdP token endpoint slower than GATEHOUSE_UPSTREAM_TIMEOUT_MS=500: server_error within ~2 s', async () => {
      const slowGh = await startGatehouse({ env: { GATEHOUSE_UPSTREAM_TIMEOUT_MS: '500' } });
      const slowPort = await freePort();
      let slowIdp: TestIdp | undefined;
      try {
        await slowGh.api('POST', '/redirect_uris', { uri: APP });
        const org = await createOrg(slowGh, 'Acme', [{ domain: 'acme.com', state: 'verified' }]);
        const conn = await createConnection(slowGh, org, `http://127.0.0.1:${slowPort}`, 'Slow Okta');
        slowIdp = await startIdp({ port: slowPort, redirectUris: [conn.callback], tokenDelayMs: 3000 });

        const browser = new TestBrowser();
        const callback = await upToCallback(
          browser,
          authorizeUrl(conn.id, 'slow', slowGh),
          conn.callback,
          slowIdp.issuer,
        );
        const started = performance.now();
        const res = await browser.request(callback);
        const elapsed = performance.now() - started;
        assert.ok(elapsed < 2000, `answered after ${Math.round(elapsed)} ms`);
        assert.equal(res.status, 302);
        const location = new URL(res.headers.get('location') ?? '');
        assert.deepEqual(Object.fromEntries(location.searchParams), {
          error: 'server_error',
          error_description: catalog.upstream_temporarily_unavailable.description,
          state: 'slow',
          iss: slowGh.url,
        });
        await assertNoLeak(res);
        const session = await sessionOf(res, slowGh);
        assertFailedSession(session, {
          stage: 'token_exchange',
          reason: 'upstream_temporarily_unavailable',
          upstream: null,
        });
        assertNothingSecret(session, [callback.searchParams.get('code') ?? '<no code>']);
      } finally {
        await slowGh.close();
        await slowIdp?.close();
      }
    });
  });

  // ---------- binding the callback to a transaction, a connection and a browser (§5.2) ----------

  describe('the callback cannot be tied to this sign-in', () => {
    it('state missing: the page, no redirect', async () => {
      const browser = new TestBrowser();
      await startAuthorize(browser, acmeConnection.id, 'no-state');
      const res = await browser.request(callbackUrl(acmeConnection, { code: 'abc', iss: idp.issuer }));
      await assertPage(res, 'callback_state_missing');
    });

    it('state repeated: the page, no redirect', async () => {
      const browser = new TestBrowser();
      const state = await startAuthorize(browser, acmeConnection.id, 'two-states');
      const res = await browser.request(
        `${acmeConnection.callback}?state=${state}&state=${state}&code=abc&iss=${encodeURIComponent(idp.issuer)}`,
      );
      await assertPage(res, 'callback_state_missing');
    });

    it('state forged (random, well-formed): the page, no redirect', async () => {
      const browser = new TestBrowser();
      await startAuthorize(browser, acmeConnection.id, 'forged');
      const res = await browser.request(
        callbackUrl(acmeConnection, { code: 'abc', state: randomToken(32), iss: idp.issuer }),
      );
      await assertPage(res, 'callback_state_unknown');
    });

    it('state replayed after the sign-in completed: server_error transaction_expired, the session stays succeeded', async () => {
      const browser = new TestBrowser();
      const atConsent = await browser.signInAtIdp(
        authorizeUrl(acmeConnection.id, 'replay'),
        'ada',
        idp.issuer,
        APP,
      );
      assert.equal(atConsent.res.status, 200);
      const callback = atConsent.url;
      const consentRequestId = atConsent.res.headers.get('x-request-id');
      const approved = await browser.request(`${gh.url}/sso/consent`, {
        form: { consent_token: consentForm(await atConsent.res.text()).token, decision: 'approve' },
        headers: { origin: gh.url },
      });
      assert.equal(approved.status, 303);
      const session = await sessionOf(approved);
      assert.equal(session.outcome, 'succeeded');

      const replay = await browser.request(callback);
      await assertErrorRedirect(replay, 'transaction_expired', 'replay');
      // The replay does not rewrite what happened: the sign-in succeeded, found by its own callback's request ID.
      const after = (await gh.api('GET', `/sso/sessions/${session.id}`)).body as SessionView;
      assert.equal(after.outcome, 'succeeded');
      assert.equal(after.failed_stage, null);
      assert.equal(after.reason, null);
      assert.equal(after.request_ids.callback, consentRequestId);
      assert.match(after.stages.callback_replayed ?? '', /^\d{4}-\d\d-\d\dT/);
      assertNothingSecret(after, [callback.searchParams.get('code') ?? '<no code>']);
    });

    it('the transaction expired before the IdP answered: server_error transaction_expired, recorded', async () => {
      const browser = new TestBrowser();
      const callback = await upToCallback(
        browser,
        authorizeUrl(acmeConnection.id, 'too-late'),
        acmeConnection.callback,
        idp.issuer,
      );
      clockOffsetMs = 11 * 60 * 1000;
      try {
        const res = await browser.request(callback);
        await assertErrorRedirect(res, 'transaction_expired', 'too-late');
        const session = await sessionOf(res);
        assertFailedSession(session, {
          stage: 'callback_binding',
          reason: 'transaction_expired',
          upstream: null,
        });
        assertNothingSecret(session, [callback.searchParams.get('code') ?? '<no code>']);
      } finally {
        clockOffsetMs = 0;
      }
    });

    it('state replayed after the IdP error: transaction_expired, the session keeps the IdP error', async () => {
      const browser = new TestBrowser();
      const state = await startAuthorize(browser, acmeConnection.id, 'replay-error');
      const upstream = { error: 'user_canceled_request', error_description: 'User canceled the request.' };
      const url = callbackUrl(acmeConnection, { ...upstream, state, iss: idp.issuer });
      const first = await browser.request(url);
      await assertErrorRedirect(first, 'upstream_user_cancelled', 'replay-error');
      const session = await sessionOf(first);

      const again = await browser.request(url);
      await assertErrorRedirect(again, 'transaction_expired', 'replay-error');
      const after = (await gh.api('GET', `/sso/sessions/${session.id}`)).body as SessionView;
      assertFailedSession(after, { stage: 'upstream_error', reason: 'upstream_user_cancelled', upstream });
    });

    it('state from another browser (no binding cookie): the page, and the real browser can still finish', async () => {
      const browser = new TestBrowser();
      const callback = await upToCallback(
        browser,
        authorizeUrl(acmeConnection.id, 'other-browser'),
        acmeConnection.callback,
        idp.issuer,
      );
      const attacker = new TestBrowser();
      const res = await attacker.request(callback);
      await assertPage(res, 'callback_browser_mismatch');
      const none = await gh.api('GET', `/sso/sessions?request_id=${res.headers.get('x-request-id')}`);
      assert.deepEqual(none.body.data, []);

      const mine = await browser.request(callback);
      assert.equal(mine.status, 200);
      assert.ok(consentForm(await mine.text()).token);
    });

    it("callback at another connection's callback URL (mix-up): the page", async () => {
      const browser = new TestBrowser();
      const callback = await upToCallback(
        browser,
        authorizeUrl(acmeConnection.id, 'wrong-connection'),
        acmeConnection.callback,
        idp.issuer,
      );
      const res = await browser.request(`${policyConnection.callback}${callback.search}`);
      await assertPage(res, 'callback_connection_mismatch');
    });

    it('refreshing the callback while the consent screen is open: the screen again, with a new token', async () => {
      const browser = new TestBrowser();
      const first = await browser.signInAtIdp(
        authorizeUrl(acmeConnection.id, 'refresh'),
        'ada',
        idp.issuer,
        APP,
      );
      assert.equal(first.res.status, 200);
      const oldToken = consentForm(await first.res.text()).token;

      const refreshed = await browser.request(first.url);
      assert.equal(refreshed.status, 200);
      const newToken = consentForm(await refreshed.text()).token;
      assert.notEqual(newToken, oldToken);

      const stale = await browser.request(`${gh.url}/sso/consent`, {
        form: { consent_token: oldToken, decision: 'approve' },
        headers: { origin: gh.url },
      });
      await assertPage(stale, 'consent_invalid');

      const approved = await browser.request(`${gh.url}/sso/consent`, {
        form: { consent_token: newToken, decision: 'approve' },
        headers: { origin: gh.url },
      });
      assert.equal(approved.status, 303);
      const back = new URL(approved.headers.get('location') ?? '');
      assert.equal(`${back.origin}${back.pathname}`, APP);
      assert.deepEqual([...back.searchParams.keys()].sort(), ['code', 'iss', 'state']);
      assert.equal(back.searchParams.get('state'), 'refresh');
    });
  });

  // ---------- the ID token does not check out ----------

  describe('the ID token is not acceptable', () => {
    async function signInWithTamperedIdToken(
      appState: string,
      rewrite: (claims: JWTPayload) => { claims: JWTPayload; key: CryptoKey; kid: string },
    ): Promise<Response> {
      rewriteIdToken = rewrite;
      try {
        const browser = new TestBrowser();
        const step = await browser.signInAtIdp(
          authorizeUrl(acmeConnection.id, appState),
          'ada',
          idp.issuer,
          APP,
        );
        assert.ok(step.url.href.startsWith(acmeConnection.callback));
        return step.res;
      } finally {
        rewriteIdToken = null;
      }
    }

    it('an ID token for another nonce (re-signed with the IdP key): server_error nonce_mismatch', async () => {
      const res = await signInWithTamperedIdToken('tampered-1', (claims) => ({
        claims: { ...claims, nonce: randomToken(24) },
        key: idpKey,
        kid: 'idp-key-1',
      }));
      await assertErrorRedirect(res, 'nonce_mismatch', 'tampered-1');
      const session = await sessionOf(res);
      assertFailedSession(session, { stage: 'id_token', reason: 'nonce_mismatch', upstream: null });
    });

    it('an ID token for another audience: server_error id_token_invalid', async () => {
      const res = await signInWithTamperedIdToken('aud', (claims) => ({
        claims: { ...claims, aud: 'someone-else' },
        key: idpKey,
        kid: 'idp-key-1',
      }));
      await assertErrorRedirect(res, 'id_token_invalid', 'aud');
      assertFailedSession(await sessionOf(res), {
        stage: 'id_token',
        reason: 'id_token_invalid',
        upstream: null,
      });
    });

    it('an ID token signed by a key the IdP does not publish: server_error id_token_invalid', async () => {
      const res = await signInWithTamperedIdToken('rogue-kid', (claims) => ({
        claims,
        key: rogueKey,
        kid: 'rogue-key',
      }));
      await assertErrorRedirect(res, 'id_token_invalid', 'rogue-kid');
      assertFailedSession(await sessionOf(res), {
        stage: 'id_token',
        reason: 'id_token_invalid',
        upstream: null,
      });
    });

    it("an ID token signed by another key under the IdP key's kid: server_error id_token_invalid", async () => {
      const res = await signInWithTamperedIdToken('rogue-sig', (claims) => ({
        claims,
        key: rogueKey,
        kid: 'idp-key-1',
      }));
      await assertErrorRedirect(res, 'id_token_invalid', 'rogue-sig');
      assertFailedSession(await sessionOf(res), {
        stage: 'id_token',
        reason: 'id_token_invalid',
        upstream: null,
      });
    });
  });

  // ---------- the organization's domain policy (§5.6) ----------

  describe("the email is outside the organization's verified domains", () => {
    it('eve@evil.com: profile_not_allowed_outside_organization', async () => {
      const browser = new TestBrowser();
      const step = await browser.signInAtIdp(
        authorizeUrl(policyConnection.id, 'eve'),
        'eve@evil.com',
        idp.issuer,
        APP,
      );
      await assertErrorRedirect(step.res, 'email_domain_not_allowed', 'eve');
      assert.equal(catalog.email_domain_not_allowed.wire, 'profile_not_allowed_outside_organization');
      assertFailedSession(await sessionOf(step.res), {
        stage: 'profile_mapping',
        reason: 'email_domain_not_allowed',
        upstream: null,
      });
    });

    it('a pending (not verified) domain of the organization does not count', async () => {
      const browser = new TestBrowser();
      const step = await browser.signInAtIdp(
        authorizeUrl(policyConnection.id, 'pending'),
        'bob@pending.com',
        idp.issuer,
        APP,
      );
      await assertErrorRedirect(step.res, 'email_domain_not_allowed', 'pending');
    });

    it('a verified domain is allowed; with allow_profiles_outside_organization=true so is any domain', async () => {
      const verified = await new TestBrowser().signInAtIdp(
        authorizeUrl(policyConnection.id, 'ok'),
        'carol@outside.com',
        idp.issuer,
        APP,
      );
      assert.equal(verified.res.status, 200);
      assert.match(await verified.res.text(), /carol@outside\.com/);

      const put = await gh.api('PUT', `/organizations/${policyOrgId}`, {
        allow_profiles_outside_organization: true,
      });
      assert.equal(put.status, 200);
      assert.equal(put.body.allow_profiles_outside_organization, true);
      try {
        const browser = new TestBrowser();
        const step = await browser.signInAtIdp(
          authorizeUrl(policyConnection.id, 'eve-allowed'),
          'eve@evil.com',
          idp.issuer,
          APP,
        );
        assert.equal(step.res.status, 200);
        const html = await step.res.text();
        assert.match(html, /eve@evil\.com/);
        const approved = await browser.request(`${gh.url}/sso/consent`, {
          form: { consent_token: consentForm(html).token, decision: 'approve' },
          headers: { origin: gh.url },
        });
        assert.equal(approved.status, 303);
        const code = new URL(approved.headers.get('location') ?? '').searchParams.get('code') ?? '';
        const { profile } = await gh.workos.sso.getProfileAndToken({ code, clientId: gh.clientId });
        assert.equal(profile.email, 'eve@evil.com');
        assert.equal(profile.organizationId, policyOrgId);
      } finally {
        await gh.api('PUT', `/organizations/${policyOrgId}`, { allow_profiles_outside_organization: false });
      }
    });
  });

  // ---------- the sign-in consent screen ----------

  describe('the consent screen', () => {
    /** Signs in up to the consent screen; returns the browser and the consent token. */
    async function atConsent(appState: string): Promise<{ browser: TestBrowser; token: string }> {
      const browser = new TestBrowser();
      const step = await browser.signInAtIdp(
        authorizeUrl(acmeConnection.id, appState),
        'ada',
        idp.issuer,
        APP,
      );
      assert.equal(step.res.status, 200);
      return { browser, token: consentForm(await step.res.text()).token };
    }

    it('Deny: 303 to the app with signin_consent_denied, the WorkOS description and the state', async () => {
      const appState = 'deny me/+&=';
      const { browser, token } = await atConsent(appState);
      const res = await browser.request(`${gh.url}/sso/consent`, {
        form: { consent_token: token, decision: 'deny' },
        headers: { origin: gh.url },
      });
      assert.equal(res.status, 303);
      assert.equal(
        res.headers.get('location'),
        `${APP}?error=signin_consent_denied&error_description=User%20cancelled%20the%20authentication%20request` +
          `&state=${encodeURIComponent(appState)}&iss=${encodeURIComponent(gh.url)}`,
      );
      assert.equal(catalog.consent_denied.description, 'User cancelled the authentication request');
      await assertNoLeak(res);
      const session = await sessionOf(res);
      assertFailedSession(session, { stage: 'consent', reason: 'consent_denied', upstream: null });
      assert.equal(session.request_ids.consent, res.headers.get('x-request-id'));
    });

    it('a cross-origin Origin header: the page, and the token still works from our origin', async () => {
      const { browser, token } = await atConsent('cross-origin');
      const res = await browser.request(`${gh.url}/sso/consent`, {
        form: { consent_token: token, decision: 'approve' },
        headers: { origin: 'https://evil.example' },
      });
      await assertPage(res, 'consent_invalid');
      const ok = await browser.request(`${gh.url}/sso/consent`, {
        form: { consent_token: token, decision: 'approve' },
        headers: { origin: gh.url },
      });
      assert.equal(ok.status, 303);
      assert.ok(new URL(ok.headers.get('location') ?? '').searchParams.get('code'));
    });

    it('a consent token used twice: the page the second time', async () => {
      const { browser, token } = await atConsent('reuse');
      const first = await browser.request(`${gh.url}/sso/consent`, {
        form: { consent_token: token, decision: 'approve' },
        headers: { origin: gh.url },
      });
      assert.equal(first.status, 303);
      const second = await browser.request(`${gh.url}/sso/consent`, {
        form: { consent_token: token, decision: 'approve' },
        headers: { origin: gh.url },
      });
      await assertPage(second, 'consent_invalid');
    });

    it("consent burning: posts of the token without this browser's cookie are refused and do not use it up; the user still approves", async () => {
      // The token reaches another browser, or a cross-site form posts it (a Lax cookie does not come along): each
      // post is refused before the token is taken, so the user's own Approve still works afterwards.
      const { browser, token } = await atConsent('not burnt');
      const other = new TestBrowser();
      await other.request(authorizeUrl(acmeConnection.id, 'other browser')); // a binding cookie of its own
      assert.ok(other.cookie(new URL(gh.url).hostname, 'gatehouse_browser'));
      for (const [poster, decision, page] of [
        [new TestBrowser(), 'approve', 'callback_browser_mismatch'], // no binding cookie at all
        [new TestBrowser(), 'deny', 'callback_browser_mismatch'],
        [other, 'approve', 'consent_invalid'], // another sign-in's cookie
        [other, 'deny', 'consent_invalid'],
      ] as const) {
        const res = await poster.request(`${gh.url}/sso/consent`, {
          form: { consent_token: token, decision },
          headers: { origin: gh.url },
        });
        await assertPage(res, page);
      }
      const ok = await browser.request(`${gh.url}/sso/consent`, {
        form: { consent_token: token, decision: 'approve' },
        headers: { origin: gh.url },
      });
      assert.equal(ok.status, 303);
      const back = new URL(ok.headers.get('location') ?? '');
      assert.equal(`${back.origin}${back.pathname}`, APP);
      assert.equal(back.searchParams.get('state'), 'not burnt');
      assert.ok(back.searchParams.get('code'));
    });

    it('GATEHOUSE_SIGNIN_CONSENT=off: the callback goes straight to the app with a code', async () => {
      const browser = new TestBrowser();
      const step = await browser.signInAtIdp(
        authorizeUrl(noConsentConnection.id, 'no consent', ghNoConsent),
        'ada',
        idp.issuer,
        APP,
      );
      assert.ok(step.url.href.startsWith(noConsentConnection.callback));
      assert.equal(step.res.status, 302);
      const back = new URL(step.res.headers.get('location') ?? '');
      assert.equal(`${back.origin}${back.pathname}`, APP);
      assert.deepEqual([...back.searchParams.keys()].sort(), ['code', 'iss', 'state']);
      assert.equal(back.searchParams.get('state'), 'no consent');
      assert.equal(back.searchParams.get('iss'), ghNoConsent.url);
      const { profile } = await ghNoConsent.workos.sso.getProfileAndToken({
        code: back.searchParams.get('code') ?? '',
        clientId: ghNoConsent.clientId,
      });
      assert.equal(profile.email, 'ada@acme.com');
      const session = await sessionOf(step.res, ghNoConsent);
      assert.equal(session.outcome, 'succeeded');
      assert.equal(session.stages.consent_shown, undefined);
    });
  });
});
