import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import forge from 'node-forge';
import { catalog, type ErrorCode, redirectWire } from '../../src/errors/catalog.ts';
import { explain } from '../../src/errors/explanations.ts';
import { runMaintenance } from '../../src/maintenance.ts';
import { consentForm, TestBrowser } from '../helpers/browser.ts';
import { freePort, startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { type IdpMiddleware, startIdp, type TestIdp } from '../helpers/oidc-idp.ts';
import {
  type GitHubStandIn,
  type GoogleStandIn,
  type MicrosoftError,
  type MicrosoftStandIn,
  startGitHub,
  startGoogle,
  startMicrosoft,
} from '../helpers/providers.ts';
import {
  makeIdp,
  type SamlSetup,
  samlResponse,
  samlResponseWith,
  startSamlLogin,
  type TestSamlIdp,
} from '../helpers/saml-idp.ts';
import { decode, encode, one, resign, stripSignatures } from '../helpers/saml-tamper.ts';

/**
 * Every failure explained for the person who can fix it (issue 12, src/errors/explanations.ts), through the real
 * flow: oidc-provider answering the authorization request with a vendor's error (Okta, Salesforce, Keycloak,
 * Auth0 texts), the Microsoft, Google and GitHub stand-ins answering with theirs (AADSTS numbers at the authorize
 * and token endpoints), the samlify IdP answering with SAML statuses, and Gatehouse's own checks (audience, ACS,
 * clock, certificates). Each case asserts the wire error the app gets (code, description, state), the session
 * log's reason, and that `GET /sso/sessions` explains it with the table row for that signal (audience, retry,
 * explanation, fix), which never reaches the browser. Then: unknown signals fall back to the reason's row; the
 * request ID shown on an error page finds its record; sign-ins that never come back are recorded as timed out.
 */

const APP = 'http://localhost:3000/callback';
const ADA = 'ada@acme.com';

interface SessionView {
  id: string;
  outcome: string;
  failed_stage: string | null;
  reason: string | null;
  error: string | null;
  connection_type: string | null;
  upstream_error: Record<string, unknown> | null;
  detail: Record<string, unknown> | null;
  audience: string | null;
  retryable: boolean | null;
  explanation: string | null;
  fix: string | null;
}

describe('failures explained for whoever can fix them', () => {
  let gh: TestGatehouse;
  /** Added to the real time by Gatehouse's clock. */
  let clockOffsetMs = 0;

  before(async () => {
    gh = await startGatehouse({
      env: { GATEHOUSE_RATE_LIMITS: 'off' },
      now: () => new Date(Date.now() + clockOffsetMs),
    });
    assert.equal((await gh.api('POST', '/redirect_uris', { uri: APP })).status, 201);
  });
  after(() => gh.close());

  /** An organization with its own verified domain (a domain is verified by one organization only). */
  async function createOrg(
    name: string,
    domain = `${name.toLowerCase().replace(/\W+/g, '-').replace(/^-|-$/g, '')}.example`,
  ): Promise<string> {
    const res = await gh.api('POST', '/organizations', {
      name,
      domain_data: [{ domain, state: 'verified' }],
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.id;
  }

  /** The session log record of the request that answered `res`, as GET /sso/sessions and /sso/sessions/{id} show it. */
  async function sessionOf(res: Response): Promise<SessionView> {
    const requestId = res.headers.get('x-request-id') ?? '';
    const found = await gh.api('GET', `/sso/sessions?request_id=${requestId}`);
    assert.equal(found.status, 200);
    assert.equal(found.body.data.length, 1, `one session for ${requestId}`);
    const listed = found.body.data[0] as SessionView;
    const single = await gh.api('GET', `/sso/sessions/${listed.id}`);
    assert.equal(single.status, 200);
    assert.deepEqual(single.body, listed);
    return listed;
  }

  /**
   * The app got exactly the catalog's error for `code` (with its state), the session log has `code` as its reason,
   * and it is explained by the table row `key`, in the words of the connection's IdP; none of it in the browser.
   */
  async function assertExplained(
    res: Response,
    expected: { code: ErrorCode; key: string; appState: string; oauthProvider?: boolean },
  ): Promise<SessionView> {
    assert.ok([302, 303].includes(res.status), `a redirect to the app, got ${res.status}`);
    const raw = res.headers.get('location') ?? '';
    const location = new URL(raw);
    assert.equal(`${location.origin}${location.pathname}`, APP);
    const entry = catalog[expected.code];
    assert.deepEqual(Object.fromEntries(location.searchParams), {
      error: redirectWire(entry, expected.oauthProvider ?? false),
      error_description: entry.description,
      state: expected.appState,
      iss: gh.url,
    });

    const session = await sessionOf(res);
    assert.equal(session.outcome, 'failed');
    assert.equal(session.reason, expected.code);
    assert.equal(session.error, redirectWire(entry, expected.oauthProvider ?? false));
    const why = explain(session.reason, session.upstream_error, session.detail, session.connection_type);
    assert.equal(why.key, expected.key, `explained by ${expected.key}`);
    assert.deepEqual(
      {
        audience: session.audience,
        retryable: session.retryable,
        explanation: session.explanation,
        fix: session.fix,
      },
      { audience: why.audience, retryable: why.retryable, explanation: why.explanation, fix: why.fix },
    );
    assert.ok((session.fix ?? '').length > 10 && (session.explanation ?? '').length > 10);
    const visible = decodeURIComponent(raw) + (await res.text());
    assert.ok(!visible.includes((session.fix ?? '').slice(0, 40)), 'the fix is not shown to the browser');
    assert.ok(!visible.includes((session.explanation ?? '').slice(0, 40)), 'nor the explanation');
    return session;
  }

  // ---------- OIDC: oidc-provider answers the authorization request with a vendor's error ----------

  describe('an OpenID Connect IdP answers with its error', () => {
    let idp: TestIdp;
    /** While set, the IdP redirects every authorization request back to the callback with these parameters. */
    let answer: Record<string, string> | null = null;
    const connections: Record<'OktaOIDC' | 'GenericOIDC', string> = { OktaOIDC: '', GenericOIDC: '' };

    before(async () => {
      const port = await freePort();
      const issuer = `http://127.0.0.1:${port}`;
      const callbacks: string[] = [];
      for (const type of ['OktaOIDC', 'GenericOIDC'] as const) {
        const res = await gh.api('POST', '/connections', {
          organization_id: await createOrg(`OIDC ${type}`, type === 'OktaOIDC' ? 'acme.com' : undefined),
          connection_type: type,
          name: type,
          oidc_options: {
            issuer,
            client_id: 'gatehouse-test-client',
            client_secret: 'gatehouse-test-secret-0123456789abcdef',
          },
        });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        connections[type] = res.body.id;
        callbacks.push(res.body.oidc_options.redirect_uri);
      }
      // The IdP's own authorization endpoint answers with the error, as Okta or Salesforce would.
      const errors: IdpMiddleware = async (ctx, next) => {
        if (answer && ctx.path === '/auth' && typeof ctx.query.redirect_uri === 'string') {
          const back = new URL(ctx.query.redirect_uri);
          for (const [k, v] of Object.entries(answer)) back.searchParams.set(k, v);
          back.searchParams.set('state', String(ctx.query.state ?? ''));
          back.searchParams.set('iss', issuer);
          ctx.redirect(back.href);
          return;
        }
        await next();
      };
      idp = await startIdp({ port, redirectUris: callbacks, middleware: errors });
    });
    after(() => idp.close());

    const cases: Array<{
      type: 'OktaOIDC' | 'GenericOIDC';
      answer: Record<string, string>;
      code: ErrorCode;
      key: string;
    }> = [
      {
        type: 'OktaOIDC',
        answer: {
          error: 'access_denied',
          error_description: 'User is not assigned to the client application.',
        },
        code: 'upstream_user_not_assigned',
        key: 'okta:user_not_assigned',
      },
      {
        type: 'OktaOIDC',
        answer: {
          error: 'access_denied',
          error_description:
            'Policy evaluation failed for this request, please check the policy configurations.',
        },
        code: 'upstream_policy_denied',
        key: 'okta:policy_evaluation_failed',
      },
      {
        type: 'OktaOIDC',
        answer: {
          error: 'invalid_scope',
          error_description: 'One or more scopes are not configured for the authorization server resource.',
        },
        code: 'upstream_config_rejected',
        key: 'okta:scopes_not_configured',
      },
      {
        type: 'OktaOIDC',
        answer: {
          error: 'user_canceled_request',
          error_description: 'User canceled the social sign-in request.',
        },
        code: 'upstream_user_cancelled',
        key: 'error=user_canceled_request',
      },
      {
        type: 'GenericOIDC',
        answer: { error: 'inactive_user', error_description: 'user is inactive' },
        code: 'upstream_access_denied',
        key: 'error=inactive_user',
      },
      {
        type: 'GenericOIDC',
        answer: { error: 'inactive_org', error_description: 'organization is locked, closed, or suspended' },
        code: 'upstream_access_denied',
        key: 'error=inactive_org',
      },
      {
        type: 'GenericOIDC',
        answer: { error: 'invalid_client', error_description: 'app must be installed into org' },
        code: 'upstream_access_denied',
        key: 'salesforce:app_not_installed',
      },
      {
        type: 'GenericOIDC',
        answer: { error: 'rate_limit_exceeded', error_description: 'number of logins exceeded' },
        code: 'upstream_temporarily_unavailable',
        key: 'error=rate_limit_exceeded',
      },
      {
        type: 'GenericOIDC',
        answer: { error: 'temporarily_unavailable', error_description: 'authentication_expired' },
        code: 'upstream_temporarily_unavailable',
        key: 'keycloak:authentication_expired',
      },
      {
        type: 'GenericOIDC',
        answer: { error: 'unauthorized', error_description: 'user is blocked' },
        code: 'upstream_access_denied',
        key: 'auth0:user_blocked',
      },
      {
        type: 'GenericOIDC',
        answer: { error: 'consent_required', error_description: 'Consent required' },
        code: 'upstream_access_denied',
        key: 'error=consent_required',
      },
      {
        type: 'GenericOIDC',
        answer: {
          error: 'redirect_uri_mismatch',
          error_description: 'redirect_uri must match a Callback URL',
        },
        code: 'upstream_config_rejected',
        key: 'error=redirect_uri_mismatch',
      },
      // Unknown signals fall back safely: an unknown error is the unknown reason's row (but a known AADSTS number in
      // its description still explains it, while the wire stays unknown), an unknown AADSTS number the row of the
      // reason its `error` maps to.
      {
        type: 'GenericOIDC',
        answer: { error: 'brand_new_vendor_error', error_description: 'Something new happened.' },
        code: 'upstream_error_unknown',
        key: 'upstream_error_unknown',
      },
      {
        type: 'GenericOIDC',
        answer: {
          error: 'brand_new_vendor_error',
          error_description: 'AADSTS50105: not assigned, in a new way',
        },
        code: 'upstream_error_unknown',
        key: 'AADSTS50105',
      },
      {
        type: 'OktaOIDC',
        answer: { error: 'access_denied', error_description: 'AADSTS99999999: a code nobody knows yet.' },
        code: 'upstream_access_denied',
        key: 'upstream_access_denied',
      },
    ];
    for (const c of cases) {
      it(`${c.type}: ${c.answer.error} "${c.answer.error_description}" → ${c.code}, explained by ${c.key}`, async () => {
        answer = c.answer;
        try {
          const appState = `oidc ${c.key}`;
          const { res } = await new TestBrowser().follow(
            gh.workos.sso.getAuthorizationUrl({
              clientId: gh.clientId,
              redirectUri: APP,
              connection: connections[c.type],
              state: appState,
            }),
            APP,
          );
          const session = await assertExplained(res, { code: c.code, key: c.key, appState });
          for (const [k, v] of Object.entries(c.answer)) assert.equal(session.upstream_error?.[k], v, k);
          if (c.type === 'OktaOIDC' && c.key.startsWith('okta:'))
            assert.match(session.fix ?? '', /Okta Admin Console/);
        } finally {
          answer = null;
        }
      });
    }

    it('the user at an Okta connection is not assigned: the fix names the Okta console setting', async () => {
      answer = cases[0]?.answer ?? null;
      try {
        const { res } = await new TestBrowser().follow(
          gh.workos.sso.getAuthorizationUrl({
            clientId: gh.clientId,
            redirectUri: APP,
            connection: connections.OktaOIDC,
            state: 'okta-admin',
          }),
          APP,
        );
        const session = await assertExplained(res, {
          code: 'upstream_user_not_assigned',
          key: 'okta:user_not_assigned',
          appState: 'okta-admin',
        });
        assert.equal(session.audience, 'it_admin');
        assert.equal(session.retryable, false);
        assert.equal(
          session.fix,
          'In the Okta Admin Console, open Applications > Applications > (this app) > Assignments > Assign > Assign to People (or Groups), and assign the user or a group they belong to.',
        );
      } finally {
        answer = null;
      }
    });

    it('the user comes back after the sign-in expired: transaction_expired, for the user to retry', async () => {
      const browser = new TestBrowser();
      const step = await browser.follow(
        gh.workos.sso.getAuthorizationUrl({
          clientId: gh.clientId,
          redirectUri: APP,
          connection: connections.OktaOIDC,
          state: 'late',
        }),
      );
      // At the IdP's login page: the user leaves it open for 11 minutes.
      assert.equal(step.url.origin, idp.issuer);
      await step.res.arrayBuffer();
      clockOffsetMs = 11 * 60 * 1000;
      try {
        const back = await browser.signInAtIdp(step.url, 'ada', idp.issuer, APP);
        const session = await assertExplained(back.res, {
          code: 'transaction_expired',
          key: 'transaction_expired',
          appState: 'late',
        });
        assert.equal(session.audience, 'end_user');
        assert.equal(session.retryable, true);
      } finally {
        clockOffsetMs = 0;
      }
    });

    it('the user denies the consent screen: consent_denied, nothing to fix', async () => {
      const browser = new TestBrowser();
      const step = await browser.signInAtIdp(
        gh.workos.sso.getAuthorizationUrl({
          clientId: gh.clientId,
          redirectUri: APP,
          connection: connections.OktaOIDC,
          state: 'deny',
        }),
        'ada',
        idp.issuer,
        APP,
      );
      assert.equal(step.res.status, 200);
      const res = await browser.request(`${gh.url}/sso/consent`, {
        form: { consent_token: consentForm(await step.res.text()).token, decision: 'deny' },
        headers: { origin: gh.url },
      });
      const session = await assertExplained(res, {
        code: 'consent_denied',
        key: 'consent_denied',
        appState: 'deny',
      });
      assert.equal(session.audience, 'end_user');
    });

    it("an email outside the organization's verified domains: email_domain_not_allowed, for the IT admin", async () => {
      const step = await new TestBrowser().signInAtIdp(
        gh.workos.sso.getAuthorizationUrl({
          clientId: gh.clientId,
          redirectUri: APP,
          connection: connections.OktaOIDC,
          state: 'eve',
        }),
        'eve@evil.example',
        idp.issuer,
        APP,
      );
      const session = await assertExplained(step.res, {
        code: 'email_domain_not_allowed',
        key: 'email_domain_not_allowed',
        appState: 'eve',
      });
      assert.equal(session.audience, 'it_admin');
    });
  });

  // ---------- /sso/authorize's own failures, recorded under the authorize request ID ----------

  describe('the sign-in cannot start', () => {
    async function authorize(params: Record<string, string>): Promise<Response> {
      return fetch(
        gh.workos.sso.getAuthorizationUrl({ clientId: gh.clientId, redirectUri: APP, ...params } as never),
        { redirect: 'manual' },
      );
    }

    it('an unknown organization: organization_not_found, for the app developer', async () => {
      const res = await authorize({ organization: 'org_01HZZZZZZZZZZZZZZZZZZZZZZZ', state: 'org' });
      const session = await assertExplained(res, {
        code: 'organization_not_found',
        key: 'organization_not_found',
        appState: 'org',
      });
      assert.equal(session.audience, 'app_developer');
    });

    it('a draft connection: connection_unlinked, for the IT admin', async () => {
      const draft = await gh.api('POST', '/connections', {
        organization_id: await createOrg('Draft'),
        connection_type: 'OktaSAML',
        name: 'Draft',
      });
      assert.equal(draft.body.state, 'draft');
      const res = await authorize({ connection: draft.body.id, state: 'draft' });
      const session = await assertExplained(res, {
        code: 'connection_unlinked',
        key: 'connection_unlinked',
        appState: 'draft',
      });
      assert.equal(session.audience, 'it_admin');
    });

    it('an IdP that cannot be reached: upstream_unavailable, for the operator (retry later)', async () => {
      const dead = await gh.api('POST', '/connections', {
        organization_id: await createOrg('Dead'),
        connection_type: 'GenericOIDC',
        name: 'Dead',
        oidc_options: {
          issuer: `http://127.0.0.1:${await freePort()}`,
          client_id: 'c',
          client_secret: 'gatehouse-test-secret-0123456789abcdef',
        },
      });
      const res = await authorize({ connection: dead.body.id, state: 'dead' });
      const session = await assertExplained(res, {
        code: 'upstream_unavailable',
        key: 'upstream_unavailable',
        appState: 'dead',
      });
      assert.equal(session.audience, 'operator');
      assert.equal(session.retryable, true);
    });
  });

  // ---------- Microsoft (Entra): AADSTS numbers from the stand-in ----------

  describe('Microsoft answers with an AADSTS error (MicrosoftOAuth)', () => {
    let ms: MicrosoftStandIn;
    before(async () => {
      ms = await startMicrosoft();
      const res = await gh.api('POST', '/connections', {
        connection_type: 'MicrosoftOAuth',
        oauth_options: { client_id: ms.clientId, client_secret: ms.clientSecret, base_url: ms.baseUrl },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      await ms.allowRedirectUri(res.body.oauth_options.redirect_uri);
    });
    after(() => ms.close());

    const url = (state: string) =>
      gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: APP,
        provider: 'MicrosoftOAuth',
        state,
      });

    const atAuthorize: Array<[MicrosoftError, ErrorCode]> = [
      [
        {
          error: 'access_denied',
          code: 50105,
          message: 'The signed in user is not assigned to a role for the application.',
        },
        'upstream_user_not_assigned',
      ],
      [
        {
          error: 'invalid_request',
          code: 50011,
          message:
            'The redirect URI specified in the request does not match the redirect URIs configured for the application.',
        },
        'upstream_config_rejected',
      ],
      [
        {
          error: 'unauthorized_client',
          code: 700016,
          message: "Application with identifier 'x' was not found in the directory.",
        },
        'upstream_client_rejected',
      ],
      [
        {
          error: 'interaction_required',
          code: 50076,
          message:
            'Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication.',
        },
        'upstream_policy_denied',
      ],
      [
        {
          error: 'interaction_required',
          code: 50079,
          message:
            'Due to a configuration change made by your administrator, you must enroll in multi-factor authentication.',
        },
        'upstream_policy_denied',
      ],
      [
        {
          error: 'access_denied',
          code: 53003,
          message: 'Access has been blocked by Conditional Access policies.',
        },
        'upstream_policy_denied',
      ],
      [
        {
          error: 'access_denied',
          code: 53000,
          message: 'Device is not in required device state: compliant.',
        },
        'upstream_policy_denied',
      ],
      [
        {
          error: 'consent_required',
          code: 65001,
          message: 'The user or administrator has not consented to use the application.',
        },
        'upstream_access_denied',
      ],
      [
        {
          error: 'access_denied',
          code: 90094,
          message: 'Admin consent is required for the permissions requested by this application.',
        },
        'upstream_access_denied',
      ],
      [
        { error: 'access_denied', code: 65004, message: 'User declined to consent to access the app.' },
        'upstream_user_cancelled',
      ],
      [
        {
          error: 'access_denied',
          code: 50126,
          message: 'Error validating credentials due to invalid username or password.',
        },
        'upstream_authn_failed',
      ],
      [
        {
          error: 'access_denied',
          code: 90072,
          message:
            "User account 'eve@fabrikam.com' from identity provider 'x' does not exist in tenant 'Contoso' and cannot access the application.",
        },
        'upstream_wrong_account',
      ],
      [
        {
          error: 'access_denied',
          code: 50020,
          message:
            'User account from identity provider does not exist in tenant and cannot access the application.',
        },
        'upstream_wrong_account',
      ],
      [
        { error: 'access_denied', code: 50034, message: 'The user account does not exist in the directory.' },
        'upstream_wrong_account',
      ],
      [
        { error: 'access_denied', code: 50057, message: 'The user account is disabled.' },
        'upstream_access_denied',
      ],
      [
        {
          error: 'access_denied',
          code: 50053,
          message:
            'Your account is locked because you tried to sign in too many times with an incorrect user ID or password.',
        },
        'upstream_access_denied',
      ],
      [
        { error: 'access_denied', code: 50055, message: 'The password is expired.' },
        'upstream_access_denied',
      ],
      [
        {
          error: 'invalid_request',
          code: 75011,
          message:
            'Authentication method by which the user authenticated with the service does not match requested authentication method.',
        },
        'upstream_authn_requirements_unmet',
      ],
      [
        { error: 'invalid_request', code: 90002, message: "Tenant 'x' not found." },
        'upstream_config_rejected',
      ],
      [
        { error: 'login_required', code: 50089, message: 'Flow token expired - Authentication Failed.' },
        'upstream_interaction_required',
      ],
    ];
    for (const [error, code] of atAuthorize) {
      it(`authorize: ${error.error} AADSTS${error.code} → ${code}, explained by AADSTS${error.code}`, async () => {
        ms.authorizeError = error;
        try {
          const appState = `ms-${error.code}`;
          const { res } = await new TestBrowser().follow(url(appState), APP);
          const session = await assertExplained(res, {
            code,
            key: `AADSTS${error.code}`,
            appState,
            oauthProvider: true,
          });
          assert.match(
            String(session.upstream_error?.error_description),
            new RegExp(`^AADSTS${error.code}: `),
          );
        } finally {
          ms.authorizeError = undefined;
        }
      });
    }

    const atToken: MicrosoftError[] = [
      {
        error: 'invalid_client',
        code: 7000215,
        status: 401,
        message:
          'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.',
      },
      {
        error: 'invalid_client',
        code: 7000222,
        status: 401,
        message: 'The provided client secret keys for app are expired.',
      },
      {
        error: 'invalid_client',
        code: 700027,
        status: 401,
        message: 'Client assertion failed signature validation.',
      },
      {
        error: 'interaction_required',
        code: 50076,
        message:
          'Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication.',
      },
    ];
    for (const error of atToken) {
      const code: ErrorCode =
        error.error === 'invalid_client' ? 'upstream_client_rejected' : 'upstream_policy_denied';
      it(`token endpoint: ${error.error} AADSTS${error.code} → ${code}, explained by AADSTS${error.code}`, async () => {
        ms.tokenError = error;
        try {
          const appState = `ms-token-${error.code}`;
          const back = await new TestBrowser().signInAtIdp(
            url(appState),
            'alice@contoso.com',
            ms.baseUrl,
            APP,
          );
          const session = await assertExplained(back.res, {
            code,
            key: `AADSTS${error.code}`,
            appState,
            oauthProvider: true,
          });
          assert.equal(session.failed_stage, 'token_exchange');
          if (code === 'upstream_client_rejected')
            assert.equal(session.audience, 'operator', "the OAuth app is the operator's");
        } finally {
          ms.tokenError = undefined;
        }
      });
    }
  });

  // ---------- Google and GitHub ----------

  describe('Google and GitHub answer with their errors', () => {
    let google: GoogleStandIn;
    let github: GitHubStandIn;
    before(async () => {
      google = await startGoogle();
      github = await startGitHub();
      for (const [type, standIn] of [
        ['GoogleOAuth', google],
        ['GitHubOAuth', github],
      ] as const) {
        const res = await gh.api('POST', '/connections', {
          connection_type: type,
          oauth_options: {
            client_id: standIn.clientId,
            client_secret: standIn.clientSecret,
            base_url: standIn.baseUrl,
          },
        });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        await standIn.allowRedirectUri(res.body.oauth_options.redirect_uri);
      }
    });
    after(async () => {
      await google.close();
      await github.close();
    });

    const url = (provider: 'GoogleOAuth' | 'GitHubOAuth', state: string) =>
      gh.workos.sso.getAuthorizationUrl({ clientId: gh.clientId, redirectUri: APP, provider, state });

    const googleCases: Array<[string, ErrorCode]> = [
      ['admin_policy_enforced', 'upstream_policy_denied'],
      ['org_internal', 'upstream_wrong_account'],
      ['redirect_uri_mismatch', 'upstream_config_rejected'],
    ];
    for (const [error, code] of googleCases) {
      it(`Google: error=${error} → ${code}, explained by error=${error}`, async () => {
        google.authorizeError = { error, error_description: `Google says ${error}`, iss: google.baseUrl };
        try {
          const appState = `google-${error}`;
          const { res } = await new TestBrowser().follow(url('GoogleOAuth', appState), APP);
          await assertExplained(res, { code, key: `error=${error}`, appState, oauthProvider: true });
        } finally {
          google.authorizeError = undefined;
        }
      });
    }

    it('Google admin_policy_enforced: the fix names the Admin console setting', async () => {
      google.authorizeError = { error: 'admin_policy_enforced', iss: google.baseUrl };
      try {
        const { res } = await new TestBrowser().follow(url('GoogleOAuth', 'g-admin'), APP);
        const session = await assertExplained(res, {
          code: 'upstream_policy_denied',
          key: 'error=admin_policy_enforced',
          appState: 'g-admin',
          oauthProvider: true,
        });
        assert.equal(session.audience, 'it_admin');
        assert.match(
          session.fix ?? '',
          /Security > Access and data control > API controls > Manage Third-Party App Access/,
        );
      } finally {
        google.authorizeError = undefined;
      }
    });

    it('GitHub: error=application_suspended → upstream_client_rejected (oauth_failed), for the operator', async () => {
      github.authorizeError = {
        error: 'application_suspended',
        error_description: 'Your application has been suspended. Contact support@github.com.',
        error_uri:
          'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#application-suspended',
      };
      try {
        const { res } = await new TestBrowser().follow(url('GitHubOAuth', 'gh-suspended'), APP);
        const session = await assertExplained(res, {
          code: 'upstream_client_rejected',
          key: 'error=application_suspended',
          appState: 'gh-suspended',
          oauthProvider: true,
        });
        assert.equal(session.audience, 'operator');
      } finally {
        github.authorizeError = undefined;
      }
    });

    it('GitHub: the token endpoint says incorrect_client_credentials → upstream_client_rejected, explained', async () => {
      github.autoLogin = 'octocat';
      github.tokenError = {
        error: 'incorrect_client_credentials',
        error_description: 'The client_id and/or client_secret passed are incorrect.',
        error_uri:
          'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#incorrect-client-credentials',
      };
      try {
        const { res } = await new TestBrowser().follow(url('GitHubOAuth', 'gh-secret'), APP);
        const session = await assertExplained(res, {
          code: 'upstream_client_rejected',
          key: 'error=incorrect_client_credentials',
          appState: 'gh-secret',
          oauthProvider: true,
        });
        assert.match(session.fix ?? '', /Generate a new client secret/);
      } finally {
        github.autoLogin = undefined;
        github.tokenError = undefined;
      }
    });

    it('GitHub: error=redirect_uri_mismatch → the callback URL fix for GitHub', async () => {
      github.authorizeError = {
        error: 'redirect_uri_mismatch',
        error_description: 'The redirect_uri MUST match the registered callback URL for this application.',
        error_uri:
          'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#redirect-uri-mismatch',
      };
      try {
        const { res } = await new TestBrowser().follow(url('GitHubOAuth', 'gh-redirect'), APP);
        const session = await assertExplained(res, {
          code: 'upstream_config_rejected',
          key: 'error=redirect_uri_mismatch',
          appState: 'gh-redirect',
          oauthProvider: true,
        });
        assert.equal(session.audience, 'operator');
        assert.match(session.fix ?? '', /Authorization callback URL/);
      } finally {
        github.authorizeError = undefined;
      }
    });
  });

  // ---------- SAML: the samlify IdP's statuses, and Gatehouse's own checks ----------

  describe('SAML: the IdP says no, or the response does not check out', () => {
    let idp: TestSamlIdp;
    let okta: SamlSetup;
    let entra: SamlSetup;

    /** A SAML connection of `type` to `idp` (its certificate unless `certificates`), in an organization of its own. */
    async function connectSaml(type: string, certificates?: string[]): Promise<SamlSetup> {
      const conn = await gh.api('POST', '/connections', {
        organization_id: await createOrg(`SAML ${type} ${certificates ? 'rotated' : ''}`),
        connection_type: type,
        name: type,
        saml_options: {
          idp_entity_id: idp.entityId,
          idp_sso_url: idp.ssoUrl,
          idp_certificates: certificates ?? [idp.keys.certificate],
        },
      });
      assert.equal(conn.status, 201, JSON.stringify(conn.body));
      return {
        idp,
        orgId: conn.body.organization_id,
        connectionId: conn.body.id,
        acsUrl: conn.body.saml_options.acs_url,
        spEntityId: conn.body.saml_options.sp_entity_id,
        spMetadata: await (await fetch(conn.body.saml_options.sp_metadata_url)).text(),
      };
    }

    before(async () => {
      idp = await makeIdp();
      okta = await connectSaml('OktaSAML');
      entra = await connectSaml('AzureSAML');
    });

    async function toIdp(setup: SamlSetup, appState: string) {
      const browser = new TestBrowser();
      const url = gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: APP,
        connection: setup.connectionId,
        state: appState,
      });
      const { request, relayState } = await startSamlLogin(browser, setup, url);
      return { browser, request, relayState };
    }

    async function postToAcs(browser: TestBrowser, setup: SamlSetup, response: string, relayState: string) {
      return browser.request(setup.acsUrl, { form: { SAMLResponse: response, RelayState: relayState } });
    }

    const statuses: Array<{ top: string; second: string; code: ErrorCode }> = [
      { top: 'Responder', second: 'AuthnFailed', code: 'upstream_authn_failed' },
      { top: 'Responder', second: 'RequestDenied', code: 'upstream_policy_denied' },
      { top: 'Responder', second: 'UnknownPrincipal', code: 'upstream_wrong_account' },
      { top: 'Responder', second: 'NoPassive', code: 'upstream_interaction_required' },
      { top: 'Responder', second: 'NoAuthnContext', code: 'upstream_authn_requirements_unmet' },
      { top: 'Requester', second: 'InvalidNameIDPolicy', code: 'upstream_config_rejected' },
      { top: 'Responder', second: 'InvalidAttrNameOrValue', code: 'upstream_config_rejected' },
      { top: 'Responder', second: 'UnknownAttrProfile', code: 'upstream_config_rejected' },
      { top: 'Requester', second: 'RequestUnsupported', code: 'upstream_request_rejected' },
      { top: 'Requester', second: 'UnsupportedBinding', code: 'upstream_request_rejected' },
      { top: 'VersionMismatch', second: 'RequestVersionDeprecated', code: 'upstream_request_rejected' },
      { top: 'VersionMismatch', second: 'RequestVersionTooHigh', code: 'upstream_request_rejected' },
      { top: 'VersionMismatch', second: 'RequestVersionTooLow', code: 'upstream_request_rejected' },
      { top: 'Responder', second: 'NoAvailableIDP', code: 'upstream_proxy_failed' },
      { top: 'Responder', second: 'NoSupportedIDP', code: 'upstream_proxy_failed' },
      { top: 'Responder', second: 'ProxyCountExceeded', code: 'upstream_proxy_failed' },
      { top: 'Responder', second: 'TooManyResponses', code: 'upstream_temporarily_unavailable' },
      { top: 'Responder', second: 'ResourceNotRecognized', code: 'upstream_temporarily_unavailable' },
    ];
    for (const s of statuses) {
      it(`status ${s.top}/${s.second} → ${s.code}, explained by saml:${s.second}`, async () => {
        const appState = `saml-${s.second}`;
        const { browser, request, relayState } = await toIdp(okta, appState);
        const response = await samlResponseWith(okta, request, {
          nameId: ADA,
          status: { top: s.top, second: s.second, message: `${s.second} at the IdP` },
        });
        const res = await postToAcs(browser, okta, response, relayState);
        const session = await assertExplained(res, { code: s.code, key: `saml:${s.second}`, appState });
        assert.equal(session.upstream_error?.sub_status, s.second);
      });
    }

    it("Entra's SAML failure (Requester/RequestUnsupported + AADSTS75011 in the StatusMessage): the AADSTS row", async () => {
      const { browser, request, relayState } = await toIdp(entra, 'entra-75011');
      const response = await samlResponseWith(entra, request, {
        nameId: ADA,
        status: {
          top: 'Requester',
          second: 'RequestUnsupported',
          message:
            'AADSTS75011: Authentication method by which the user authenticated with the service does not match requested authentication method. Trace ID: 3c1f0b5e',
        },
      });
      const res = await postToAcs(browser, entra, response, relayState);
      await assertExplained(res, {
        code: 'upstream_request_rejected',
        key: 'AADSTS75011',
        appState: 'entra-75011',
      });
    });

    it('RequestDenied at an Okta connection: the assignment fix for Okta', async () => {
      const { browser, request, relayState } = await toIdp(okta, 'okta-denied');
      const response = await samlResponseWith(okta, request, {
        nameId: ADA,
        status: { top: 'Responder', second: 'RequestDenied' },
      });
      const session = await assertExplained(await postToAcs(browser, okta, response, relayState), {
        code: 'upstream_policy_denied',
        key: 'saml:RequestDenied',
        appState: 'okta-denied',
      });
      assert.match(
        session.fix ?? '',
        /^In the Okta Admin Console, open Applications > Applications > \(this app\) > Assignments/,
      );
    });

    it("the audience is not this connection's entity ID: the fix gives the exact value, where Okta sets it", async () => {
      const { browser, request, relayState } = await toIdp(okta, 'audience');
      const response = resign(
        await samlResponse(okta, request, { email: ADA }),
        idp.keys,
        ['assertion'],
        (doc) => {
          one(doc, "//*[local-name()='Audience']").textContent = 'https://sp.elsewhere.example/saml';
        },
      );
      const session = await assertExplained(await postToAcs(browser, okta, response, relayState), {
        code: 'saml_audience_mismatch',
        key: 'saml_audience_mismatch',
        appState: 'audience',
      });
      assert.equal(
        session.fix,
        `In the Okta Admin Console, open Applications > Applications > (this app) > General > SAML Settings > Edit, and set Audience URI (SP Entity ID) to ${okta.spEntityId}.`,
      );
      assert.ok(session.explanation?.includes('https://sp.elsewhere.example/saml'));
    });

    it("the recipient is another ACS URL: the fix gives this connection's ACS URL, where Entra sets it", async () => {
      const { browser, request, relayState } = await toIdp(entra, 'recipient');
      const response = resign(
        await samlResponse(entra, request, { email: ADA }),
        idp.keys,
        ['assertion'],
        (doc) => {
          one(doc, "//*[local-name()='SubjectConfirmationData']").setAttribute('Recipient', okta.acsUrl);
        },
      );
      const session = await assertExplained(await postToAcs(browser, entra, response, relayState), {
        code: 'saml_recipient_mismatch',
        key: 'saml_recipient_mismatch',
        appState: 'recipient',
      });
      assert.match(
        session.fix ?? '',
        /Basic SAML Configuration, and set Reply URL \(Assertion Consumer Service URL\) to /,
      );
      assert.ok(session.fix?.includes(entra.acsUrl));
    });

    it('the assertion is not valid yet (clocks apart): saml_not_yet_valid, for the operator, with the skew', async () => {
      const { browser, request, relayState } = await toIdp(okta, 'skew');
      const later = new Date(Date.now() + 15 * 60 * 1000).toISOString();
      const response = resign(
        await samlResponse(okta, request, { email: ADA }),
        idp.keys,
        ['assertion'],
        (doc) => {
          one(doc, "//*[local-name()='Conditions']").setAttribute('NotBefore', later);
        },
      );
      const session = await assertExplained(await postToAcs(browser, okta, response, relayState), {
        code: 'saml_not_yet_valid',
        key: 'saml_not_yet_valid',
        appState: 'skew',
      });
      assert.equal(session.audience, 'operator');
      assert.match(session.explanation ?? '', /allowed skew of 180 seconds/);
      assert.match(session.fix ?? '', /NTP/);
    });

    it('the response is signed by a key not saved for the connection: saml_signature_invalid', async () => {
      const other = await makeIdp({ entityId: idp.entityId });
      const { browser, request, relayState } = await toIdp(okta, 'other-key');
      const response = await samlResponse({ ...okta, idp: other }, request, { email: ADA });
      const session = await assertExplained(await postToAcs(browser, okta, response, relayState), {
        code: 'saml_signature_invalid',
        key: 'saml_signature_invalid',
        appState: 'other-key',
      });
      assert.match(session.fix ?? '', /SAML Signing Certificates/);
    });

    it("the saved certificate expired and the IdP signs with a new one: explained as the certificate's expiry", async () => {
      const rotated = await connectSaml('OktaSAML', [
        expiredCertificate(new Date(Date.now() - 30 * 24 * 3600 * 1000)),
      ]);
      const { browser, request, relayState } = await toIdp(rotated, 'expired-cert');
      const response = await samlResponse(rotated, request, { email: ADA });
      const session = await assertExplained(await postToAcs(browser, rotated, response, relayState), {
        code: 'saml_signature_invalid',
        key: 'saml:certificate_expired',
        appState: 'expired-cert',
      });
      assert.equal(session.detail?.expected_certificates_expired, true);
      assert.match(
        session.explanation ?? '',
        /^Every signing certificate saved for this connection has expired/,
      );
    });

    it('the request ID printed on an error page finds its record: an unverified IdP-initiated response', async () => {
      const doc = decode(await samlResponse(okta, null, { email: ADA }));
      stripSignatures(doc);
      const res = await new TestBrowser().request(okta.acsUrl, { form: { SAMLResponse: encode(doc) } });
      assert.equal(res.status, 400);
      assert.equal(res.headers.get('location'), null);
      const html = await res.text();
      const shown = /req_[0-9A-Z]{26}/.exec(html)?.[0];
      assert.ok(shown, 'the page shows a request ID');
      const found = await gh.api('GET', `/sso/sessions?request_id=${shown}`);
      assert.equal(found.body.data.length, 1);
      const session = found.body.data[0] as SessionView;
      assert.equal(session.reason, 'saml_unsolicited_unverified');
      assert.equal(session.audience, 'it_admin');
      const why = explain(session.reason, session.upstream_error, session.detail, session.connection_type);
      assert.equal(why.key, 'saml_unsolicited_unverified');
      assert.equal(session.fix, why.fix);
      assert.ok(!html.includes(why.fix.slice(0, 40)), 'the page does not show the fix');
    });

    it('a page error before any sign-in is known (callback_state_unknown) has no record to find', async () => {
      const res = await new TestBrowser().request(okta.acsUrl, {
        form: { SAMLResponse: 'x', RelayState: `sess_01HZZZZZZZZZZZZZZZZZZZZZZZ.${'a'.repeat(43)}` },
      });
      assert.equal(res.status, 400);
      const shown = /req_[0-9A-Z]{26}/.exec(await res.text())?.[0];
      assert.ok(shown);
      assert.deepEqual((await gh.api('GET', `/sso/sessions?request_id=${shown}`)).body.data, []);
    });
  });
});

// ---------- sign-ins that never come back ----------

describe('sign-ins that never come back from the IdP are recorded as timed out', () => {
  let gh: TestGatehouse;
  let idp: TestIdp;
  let connectionId: string;

  before(async () => {
    // Logins live 1.5 s here, so that they expire while the test waits.
    gh = await startGatehouse({ env: { GATEHOUSE_RATE_LIMITS: 'off' }, transactionTtlMs: 1500 });
    await gh.api('POST', '/redirect_uris', { uri: APP });
    const port = await freePort();
    const org = await gh.api('POST', '/organizations', {
      name: 'Acme',
      domain_data: [{ domain: 'acme.com', state: 'verified' }],
    });
    const conn = await gh.api('POST', '/connections', {
      organization_id: org.body.id,
      connection_type: 'EntraIdOIDC',
      name: 'Acme Entra',
      oidc_options: {
        issuer: `http://127.0.0.1:${port}`,
        client_id: 'gatehouse-test-client',
        client_secret: 'gatehouse-test-secret-0123456789abcdef',
      },
    });
    connectionId = conn.body.id;
    idp = await startIdp({ port, redirectUris: [conn.body.oidc_options.redirect_uri] });
  });
  after(async () => {
    await gh.close();
    await idp.close();
  });

  const url = (state: string) =>
    gh.workos.sso.getAuthorizationUrl({
      clientId: gh.clientId,
      redirectUri: APP,
      connection: connectionId,
      state,
    });

  async function session(id: string): Promise<SessionView> {
    const res = await gh.api('GET', `/sso/sessions/${id}`);
    assert.equal(res.status, 200);
    return res.body as SessionView;
  }

  it('at the IdP: timed_out once expired, recorded by maintenance (abandoned_at_idp), explained for the IT admin', async () => {
    const browser = new TestBrowser();
    const started = await browser.request(url('never back'));
    assert.equal(started.status, 302);
    const found = await gh.api('GET', `/sso/sessions?request_id=${started.headers.get('x-request-id')}`);
    const id = found.body.data[0].id as string;
    assert.equal(found.body.data[0].outcome, 'started');
    assert.equal(found.body.data[0].explanation, null);

    await new Promise((resolve) => setTimeout(resolve, 1700));
    // Expired: it reads as timed out before maintenance runs.
    const expired = await session(id);
    assert.equal(expired.outcome, 'timed_out');
    const why = explain('timed_out', null, null, 'EntraIdOIDC');
    assert.equal(why.key, 'timed_out');
    assert.equal(expired.explanation, why.explanation);
    assert.equal(expired.fix, why.fix);
    assert.equal(expired.audience, 'it_admin');
    assert.match(expired.fix ?? '', /AADSTS50011/);

    // Maintenance (an hour and more later) records it, and only once.
    const later = new Date(Date.now() + 2 * 60 * 60 * 1000);
    const run = await runMaintenance(gh.store, { now: later, sessionLogRetentionDays: 0 });
    assert.ok(run.timedOut.includes(id), 'marked by this run');
    assert.deepEqual(
      (await runMaintenance(gh.store, { now: later, sessionLogRetentionDays: 0 })).timedOut,
      [],
    );
    const recorded = await session(id);
    assert.equal(recorded.outcome, 'timed_out');
    assert.equal(recorded.failed_stage, 'abandoned_at_idp');
    assert.equal(recorded.reason, null);
    assert.equal(recorded.error, null);
    assert.equal(recorded.explanation, why.explanation);
    assert.match(
      (recorded as unknown as { stages: Record<string, string> }).stages.timed_out ?? '',
      /^\d{4}-/,
    );
    const stored = await gh.store.getSession(id);
    assert.equal(stored?.outcome, 'timed_out');
  });

  it('on the consent screen: timed_out at consent, explained for the user', async () => {
    const browser = new TestBrowser();
    const step = await browser.signInAtIdp(url('never answered'), 'ada', idp.issuer, APP);
    assert.equal(step.res.status, 200);
    consentForm(await step.res.text());
    const id = (await gh.api('GET', `/sso/sessions?request_id=${step.res.headers.get('x-request-id')}`)).body
      .data[0].id as string;
    const later = new Date(Date.now() + 2 * 60 * 60 * 1000);
    const run = await runMaintenance(gh.store, { now: later, sessionLogRetentionDays: 0 });
    assert.ok(run.timedOut.includes(id));
    const recorded = await session(id);
    assert.equal(recorded.outcome, 'timed_out');
    assert.equal(recorded.failed_stage, 'consent');
    assert.equal(recorded.audience, 'end_user');
    assert.equal(
      recorded.explanation,
      explain('timed_out_at_consent', null, null, 'EntraIdOIDC').explanation,
    );
  });

  it('a sign-in that completed is never marked', async () => {
    const browser = new TestBrowser();
    const step = await browser.signInAtIdp(url('done'), 'ada', idp.issuer, APP);
    const approved = await browser.request(`${gh.url}/sso/consent`, {
      form: { consent_token: consentForm(await step.res.text()).token, decision: 'approve' },
      headers: { origin: gh.url },
    });
    assert.equal(approved.status, 303);
    const id = (await gh.api('GET', `/sso/sessions?request_id=${approved.headers.get('x-request-id')}`)).body
      .data[0].id as string;
    const later = new Date(Date.now() + 2 * 60 * 60 * 1000);
    assert.ok(
      !(await runMaintenance(gh.store, { now: later, sessionLogRetentionDays: 0 })).timedOut.includes(id),
    );
    const done = await session(id);
    assert.equal(done.outcome, 'succeeded');
    assert.equal(done.explanation, null);
    assert.equal(done.audience, null);
  });
});

/** A self-signed certificate that expired on `notAfter` (an IdP that rotated its key since it was saved). */
function expiredCertificate(notAfter: Date): string {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  cert.serialNumber = '0a1b2c3d4e';
  cert.validity.notBefore = new Date(notAfter.getTime() - 365 * 24 * 3600 * 1000);
  cert.validity.notAfter = notAfter;
  const subject = [{ name: 'commonName', value: 'Old IdP signing key' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.sign(forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}
