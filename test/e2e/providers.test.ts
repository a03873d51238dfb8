import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { catalog, type ErrorCode, redirectWire } from '../../src/errors/catalog.ts';
import { consentForm, TestBrowser } from '../helpers/browser.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import {
  CONTOSO_TID,
  declineAtProvider,
  FABRIKAM_TID,
  GITHUB_ERRORS,
  type GitHubStandIn,
  type GoogleStandIn,
  MICROSOFT_ERRORS,
  type MicrosoftStandIn,
  MSA_TID,
  startGitHub,
  startGoogle,
  startMicrosoft,
} from '../helpers/providers.ts';

/**
 * "Sign in with Google / Microsoft / GitHub" end to end: the official WorkOS SDK as the app, Gatehouse, and
 * loopback stand-ins that behave like the providers (oidc-provider with Google's and Microsoft's issuer shapes and
 * claims, including Microsoft's tenant-templated issuer; a GitHub OAuth + REST server), through the provider's
 * pages, Gatehouse's consent screen, the code exchange with `oauth_tokens`, and every kind of failure.
 */

const APP = 'http://localhost:3000/callback';

type ProviderType = 'GoogleOAuth' | 'MicrosoftOAuth' | 'GitHubOAuth';
type StandIn = {
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  allowRedirectUri(uri: string): Promise<void>;
};

/** Creates the provider connection pointing at the stand-in, and registers its callback there. */
async function connect(
  gh: TestGatehouse,
  type: ProviderType,
  standIn: StandIn,
  options: Record<string, unknown> = {},
): Promise<{ id: string; callbackUrl: string }> {
  const res = await gh.api('POST', '/connections', {
    connection_type: type,
    oauth_options: {
      client_id: standIn.clientId,
      client_secret: standIn.clientSecret,
      base_url: standIn.baseUrl,
      ...options,
    },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const callbackUrl = res.body.oauth_options.redirect_uri as string;
  assert.match(callbackUrl, /\/sso\/oauth\/callback\/[A-Za-z0-9_-]{22}$/);
  await standIn.allowRedirectUri(callbackUrl);
  return { id: res.body.id, callbackUrl };
}

function authorizeUrl(
  gh: TestGatehouse,
  provider: ProviderType,
  extra: { loginHint?: string; domainHint?: string; providerScopes?: string[]; state?: string } = {},
): string {
  return gh.workos.sso.getAuthorizationUrl({
    clientId: gh.clientId,
    redirectUri: APP,
    provider,
    state: extra.state ?? `state-${provider}`,
    ...extra,
  });
}

/** From the provider's answer to the app: approves Gatehouse's consent screen and returns the app's URL. */
async function approve(
  gh: TestGatehouse,
  browser: TestBrowser,
  res: Response,
  provider: string,
): Promise<URL> {
  const html = await res.text();
  assert.equal(res.status, 200, `expected the consent screen, got ${res.status}: ${html.slice(0, 300)}`);
  assert.ok(html.includes(provider), `the consent screen names ${provider}`);
  const approved = await browser.request(`${gh.url}/sso/consent`, {
    form: { consent_token: consentForm(html).token, decision: 'approve' },
    headers: { origin: gh.url },
  });
  assert.equal(approved.status, 303);
  return new URL(approved.headers.get('location') ?? '');
}

/** A sign-in through the provider's pages and Gatehouse's consent screen; returns the app's callback URL. */
async function signIn(
  gh: TestGatehouse,
  url: string,
  login: string,
  origin: string,
  provider: string,
): Promise<URL> {
  const browser = new TestBrowser();
  const back = await browser.signInAtIdp(url, login, origin, APP);
  return approve(gh, browser, back.res, provider);
}

/** A sign-in that must come back to the app with an error (no consent screen). */
async function signInFails(url: string, login: string, origin: string): Promise<URL> {
  const browser = new TestBrowser();
  const back = await browser.signInAtIdp(url, login, origin, APP);
  return redirectedToApp(back.res);
}

function redirectedToApp(res: Response): URL {
  assert.equal(res.status, 302, `expected a redirect to the app, got ${res.status}`);
  const location = new URL(res.headers.get('location') ?? '');
  assert.equal(`${location.origin}${location.pathname}`, APP);
  return location;
}

/** The exact wire error: catalog description, app state, our issuer, no code. */
function assertWireError(back: URL, gh: TestGatehouse, code: ErrorCode, state: string): void {
  const entry = catalog[code];
  assert.deepEqual([...back.searchParams.keys()].sort(), ['error', 'error_description', 'iss', 'state']);
  assert.equal(back.searchParams.get('error'), redirectWire(entry, true), `error for ${code}`);
  assert.equal(back.searchParams.get('error_description'), entry.description);
  assert.equal(back.searchParams.get('state'), state);
  assert.equal(back.searchParams.get('iss'), gh.url);
}

/** The newest session log record of a connection. */
async function lastSession(gh: TestGatehouse, connectionId: string) {
  const res = await gh.api('GET', `/sso/sessions?connection_id=${connectionId}&limit=1`);
  assert.equal(res.status, 200);
  return res.body.data[0];
}

async function exchange(gh: TestGatehouse, back: URL) {
  const code = back.searchParams.get('code');
  assert.ok(code, `a code, got ${back.href}`);
  return gh.workos.sso.getProfileAndToken({ code, clientId: gh.clientId });
}

function assertFreshExpiry(expiresAt: number | undefined, seconds: number): void {
  const now = Math.floor(Date.now() / 1000);
  assert.equal(typeof expiresAt, 'number');
  assert.ok(
    Math.abs((expiresAt as number) - (now + seconds)) <= 5,
    `expires_at ${expiresAt} ≈ now + ${seconds}`,
  );
}

describe('Sign in with Google (GoogleOAuth)', () => {
  let gh: TestGatehouse;
  let google: GoogleStandIn;
  let connectionId: string;
  let exampleOrg: string;

  before(async () => {
    gh = await startGatehouse();
    await gh.api('POST', '/redirect_uris', { uri: APP });
    exampleOrg = (
      await gh.api('POST', '/organizations', {
        name: 'Example',
        domain_data: [{ domain: 'example.com', state: 'verified' }],
      })
    ).body.id;
    google = await startGoogle();
    ({ id: connectionId } = await connect(gh, 'GoogleOAuth', google));
  });
  after(async () => {
    await gh.close();
    await google.close();
  });

  it('signs in with a verified Workspace account: profile, organization by verified domain, oauth_tokens with a refresh token', async () => {
    const url = authorizeUrl(gh, 'GoogleOAuth', {
      loginHint: 'alice@example.com',
      domainHint: 'example.com',
      providerScopes: ['https://www.googleapis.com/auth/calendar.readonly'],
      state: 'g-1',
    });
    const back = await signIn(gh, url, 'alice@example.com', google.baseUrl, 'Google');
    assert.equal(back.searchParams.get('state'), 'g-1');

    const sent = google.authorizeRequests.at(-1)?.searchParams;
    assert.ok(sent);
    assert.equal(sent.get('hd'), 'example.com');
    assert.equal(sent.get('login_hint'), 'alice@example.com');
    assert.equal(sent.get('access_type'), 'offline');
    assert.equal(sent.get('code_challenge_method'), 'S256');
    assert.match(sent.get('nonce') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(sent.get('scope')?.split(' '), [
      'openid',
      'email',
      'profile',
      'https://www.googleapis.com/auth/calendar.readonly',
    ]);

    const { profile, oauthTokens, accessToken } = await exchange(gh, back);
    assert.match(profile.idpId, /^1\d{20}$/);
    assert.equal(profile.email, 'alice@example.com');
    assert.equal(profile.firstName, 'Alice');
    assert.equal(profile.lastName, 'Example');
    assert.equal(profile.connectionId, connectionId);
    assert.equal(profile.connectionType, 'GoogleOAuth');
    assert.equal(profile.organizationId, exampleOrg);
    assert.equal(profile.rawAttributes?.hd, 'example.com');
    assert.ok(oauthTokens, 'oauth_tokens');
    assert.match(oauthTokens.accessToken, /.{20,}/);
    assert.equal(typeof oauthTokens.refreshToken, 'string');
    assertFreshExpiry(oauthTokens.expiresAt, 3600);
    assert.ok(oauthTokens.scopes.includes('openid'));
    assert.deepEqual(await gh.workos.sso.getProfile({ accessToken }), profile);
    assert.equal((await gh.workos.sso.getConnection(connectionId)).state, 'active');
  });

  it('an idempotent retry of the exchange gets the same oauth_tokens; the redeemed code keeps none', async () => {
    const back = await signIn(
      gh,
      authorizeUrl(gh, 'GoogleOAuth'),
      'carol@example.com',
      google.baseUrl,
      'Google',
    );
    const code = back.searchParams.get('code') ?? '';
    const post = () =>
      fetch(`${gh.url}/sso/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'idempotency-key': 'retry-1' },
        body: new URLSearchParams({
          client_id: gh.clientId,
          client_secret: gh.apiKey,
          grant_type: 'authorization_code',
          code,
        }),
      });
    const first = await post();
    const second = await post();
    assert.equal(first.status, 200);
    assert.equal(second.status, 200);
    const a = await first.json();
    const b = await second.json();
    assert.deepEqual(b, a);
    assert.deepEqual(Object.keys(a.oauth_tokens).sort(), [
      'access_token',
      'expires_at',
      'provider',
      'refresh_token',
      'scopes',
    ]);
    assert.equal(a.oauth_tokens.provider, 'GoogleOAuth');
    const { createHash } = await import('node:crypto');
    const stored = await gh.store.getAuthorizationCode(createHash('sha256').update(code).digest('base64url'));
    assert.ok(stored?.consumedAt);
    assert.equal(stored.oauthTokens, null);
  });

  it('a consumer (gmail.com) account has no organization', async () => {
    const { profile } = await exchange(
      gh,
      await signIn(gh, authorizeUrl(gh, 'GoogleOAuth'), 'dora@gmail.com', google.baseUrl, 'Google'),
    );
    assert.equal(profile.email, 'dora@gmail.com');
    assert.equal(profile.organizationId, null);
  });

  it('oauth_failed: the account email is not verified by Google', async () => {
    const back = await signInFails(
      authorizeUrl(gh, 'GoogleOAuth', { state: 'g-unverified' }),
      'unverified@example.com',
      google.baseUrl,
    );
    assertWireError(back, gh, 'provider_email_unverified', 'g-unverified');
    const session = await lastSession(gh, connectionId);
    assert.equal(session.reason, 'provider_email_unverified');
    assert.equal(session.error, 'oauth_failed');
  });

  it('access_denied: domain_hint asked for example.com and the user signed in with another domain (hd is checked)', async () => {
    const back = await signInFails(
      authorizeUrl(gh, 'GoogleOAuth', { domainHint: 'example.com', state: 'g-hd' }),
      'eve@other.com',
      google.baseUrl,
    );
    assertWireError(back, gh, 'provider_domain_mismatch', 'g-hd');
  });

  it('access_denied: the user cancels at Google', async () => {
    const browser = new TestBrowser();
    const back = await declineAtProvider(browser, authorizeUrl(gh, 'GoogleOAuth', { state: 'g-cancel' }), {
      origin: google.baseUrl,
      stopAt: APP,
      login: 'frank@example.com',
    });
    assertWireError(redirectedToApp(back.res), gh, 'upstream_access_denied', 'g-cancel');
  });

  it('oauth_failed: Google refuses the code at its token endpoint', async () => {
    google.tokenError = { error: 'invalid_grant', error_description: 'Bad Request' };
    try {
      const back = await signInFails(
        authorizeUrl(gh, 'GoogleOAuth', { state: 'g-token' }),
        'grace@example.com',
        google.baseUrl,
      );
      assertWireError(back, gh, 'code_exchange_failed', 'g-token');
      const session = await lastSession(gh, connectionId);
      assert.equal(session.upstream_error.error, 'invalid_grant');
    } finally {
      google.tokenError = undefined;
    }
  });

  it('connection_strategy_invalid: two GoogleOAuth connections; invalid_connection_selector: no MicrosoftOAuth', async () => {
    const second = await connect(gh, 'GoogleOAuth', google);
    try {
      const res = await fetch(authorizeUrl(gh, 'GoogleOAuth', { state: 'g-two' }), { redirect: 'manual' });
      assertWireError(redirectedToApp(res), gh, 'provider_ambiguous', 'g-two');
    } finally {
      assert.equal((await gh.api('DELETE', `/connections/${second.id}`)).status, 204);
    }
    const none = await fetch(authorizeUrl(gh, 'MicrosoftOAuth', { state: 'm-none' }), { redirect: 'manual' });
    assertWireError(redirectedToApp(none), gh, 'provider_not_configured', 'm-none');
  });
});

describe('Sign in with Microsoft (MicrosoftOAuth)', () => {
  let gh: TestGatehouse;
  let ms: MicrosoftStandIn;
  let connectionId: string;
  let contosoOrg: string;

  before(async () => {
    gh = await startGatehouse();
    await gh.api('POST', '/redirect_uris', { uri: APP });
    contosoOrg = (
      await gh.api('POST', '/organizations', {
        name: 'Contoso',
        domain_data: [{ domain: 'contoso.com', state: 'verified' }],
      })
    ).body.id;
    ms = await startMicrosoft();
    ({ id: connectionId } = await connect(gh, 'MicrosoftOAuth', ms));
  });
  after(async () => {
    await gh.close();
    await ms.close();
  });

  it('signs in users of two tenants through common, each token checked against its own tenant issuer', async () => {
    const url = authorizeUrl(gh, 'MicrosoftOAuth', {
      loginHint: 'alice@contoso.com',
      domainHint: 'contoso.com',
      state: 'm-1',
    });
    const back = await signIn(gh, url, 'alice@contoso.com', ms.baseUrl, 'Microsoft');
    const sent = ms.authorizeRequests.at(-1);
    assert.ok(sent);
    assert.equal(sent.pathname, '/common/oauth2/v2.0/authorize');
    assert.equal(sent.searchParams.get('domain_hint'), 'contoso.com');
    assert.equal(sent.searchParams.get('login_hint'), 'alice@contoso.com');
    assert.match(sent.searchParams.get('nonce') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.equal(sent.searchParams.get('code_challenge_method'), 'S256');
    assert.deepEqual(sent.searchParams.get('scope')?.split(' '), [
      'openid',
      'email',
      'profile',
      'offline_access',
    ]);
    assert.equal(ms.idTokens.at(-1)?.iss, ms.issuerFor(CONTOSO_TID));

    const { profile, oauthTokens } = await exchange(gh, back);
    assert.equal(profile.email, 'alice@contoso.com');
    assert.equal(profile.connectionType, 'MicrosoftOAuth');
    assert.equal(profile.organizationId, contosoOrg);
    assert.equal(profile.rawAttributes?.tid, CONTOSO_TID);
    assert.ok(oauthTokens);
    assert.equal(typeof oauthTokens.refreshToken, 'string');
    assert.deepEqual([...oauthTokens.scopes].sort(), ['email', 'offline_access', 'openid', 'profile']);
    assert.equal(typeof oauthTokens.expiresAt, 'number');

    const fabrikam = await exchange(
      gh,
      await signIn(gh, authorizeUrl(gh, 'MicrosoftOAuth'), 'bob@fabrikam.com', ms.baseUrl, 'Microsoft'),
    );
    assert.equal(ms.idTokens.at(-1)?.iss, ms.issuerFor(FABRIKAM_TID));
    assert.equal(fabrikam.profile.email, 'bob@fabrikam.com');
    assert.equal(fabrikam.profile.organizationId, null);
  });

  it('oauth_failed: a token signed for one tenant that claims another tenant ID (iss and tid disagree)', async () => {
    ms.users.set('mallory@contoso.com', { claims: { tid: FABRIKAM_TID } });
    const back = await signInFails(
      authorizeUrl(gh, 'MicrosoftOAuth', { state: 'm-forged' }),
      'mallory@contoso.com',
      ms.baseUrl,
    );
    assert.equal(ms.idTokens.at(-1)?.iss, ms.issuerFor(CONTOSO_TID));
    assert.equal(ms.idTokens.at(-1)?.tid, FABRIKAM_TID);
    assertWireError(back, gh, 'id_token_invalid', 'm-forged');
    const session = await lastSession(gh, connectionId);
    assert.equal(session.reason, 'id_token_invalid');
    assert.equal(session.error, 'oauth_failed');
    assert.equal(session.profile_id, null);
  });

  it('nOAuth: an unverified email claim different from the UPN never becomes the profile email', async () => {
    ms.users.set('trudy@contoso.com', { email: 'ceo@victim.example', xms_edov: false });
    const victimOrg = (
      await gh.api('POST', '/organizations', {
        name: 'Victim',
        domain_data: [{ domain: 'victim.example', state: 'verified' }],
      })
    ).body.id;
    const { profile } = await exchange(
      gh,
      await signIn(gh, authorizeUrl(gh, 'MicrosoftOAuth'), 'trudy@contoso.com', ms.baseUrl, 'Microsoft'),
    );
    assert.equal(profile.email, 'trudy@contoso.com');
    assert.equal(profile.organizationId, contosoOrg);
    assert.notEqual(profile.organizationId, victimOrg);
  });

  it('access_denied: the user declines consent at Microsoft', async () => {
    ms.authorizeError = MICROSOFT_ERRORS.declined;
    try {
      const browser = new TestBrowser();
      const back = await browser.follow(authorizeUrl(gh, 'MicrosoftOAuth', { state: 'm-declined' }), APP);
      assertWireError(redirectedToApp(back.res), gh, 'upstream_user_cancelled', 'm-declined');
      const session = await lastSession(gh, connectionId);
      assert.match(session.upstream_error.error_description, /^AADSTS65004/);
    } finally {
      ms.authorizeError = undefined;
    }
  });

  it('oauth_failed: Microsoft rejects the client secret at the token endpoint', async () => {
    ms.tokenError = MICROSOFT_ERRORS.badSecret;
    try {
      const back = await signInFails(
        authorizeUrl(gh, 'MicrosoftOAuth', { state: 'm-secret' }),
        'alice@contoso.com',
        ms.baseUrl,
      );
      assertWireError(back, gh, 'upstream_client_rejected', 'm-secret');
    } finally {
      ms.tokenError = undefined;
    }
  });

  it('allowed_tenants: a user of another tenant is access_denied; one tenant uses its own authority', async () => {
    assert.equal(
      (
        await gh.api('PUT', `/connections/${connectionId}`, {
          oauth_options: { allowed_tenants: [CONTOSO_TID, MSA_TID] },
        })
      ).status,
      200,
    );
    const refused = await signInFails(
      authorizeUrl(gh, 'MicrosoftOAuth', { state: 'm-tenant' }),
      'bob@fabrikam.com',
      ms.baseUrl,
    );
    assertWireError(refused, gh, 'provider_tenant_not_allowed', 'm-tenant');
    const session = await lastSession(gh, connectionId);
    assert.equal(session.reason, 'provider_tenant_not_allowed');
    assert.equal(session.detail.tenant, FABRIKAM_TID);

    assert.equal(
      (
        await gh.api('PUT', `/connections/${connectionId}`, {
          oauth_options: { allowed_tenants: [CONTOSO_TID] },
        })
      ).status,
      200,
    );
    const back = await signIn(
      gh,
      authorizeUrl(gh, 'MicrosoftOAuth'),
      'alice@contoso.com',
      ms.baseUrl,
      'Microsoft',
    );
    assert.equal(ms.authorizeRequests.at(-1)?.pathname, `/${CONTOSO_TID}/oauth2/v2.0/authorize`);
    assert.equal((await exchange(gh, back)).profile.email, 'alice@contoso.com');
    await gh.api('PUT', `/connections/${connectionId}`, { oauth_options: { allowed_tenants: null } });
  });
});

describe('Sign in with GitHub (GitHubOAuth)', () => {
  let gh: TestGatehouse;
  let github: GitHubStandIn;
  let connectionId: string;

  before(async () => {
    gh = await startGatehouse();
    await gh.api('POST', '/redirect_uris', { uri: APP });
    github = await startGitHub();
    ({ id: connectionId } = await connect(gh, 'GitHubOAuth', github, { api_base_url: github.apiBase }));
  });
  after(async () => {
    await gh.close();
    await github.close();
  });

  it('signs in through GitHub pages: profile from the REST API, the numeric ID as idp_id, oauth_tokens with comma scopes split', async () => {
    const url = authorizeUrl(gh, 'GitHubOAuth', {
      loginHint: 'octocat',
      providerScopes: ['repo'],
      state: 'gh-1',
    });
    const back = await signIn(gh, url, 'octocat', github.baseUrl, 'GitHub');
    const sent = github.authorizeRequests.at(-1)?.searchParams;
    assert.ok(sent);
    assert.equal(sent.get('login'), 'octocat');
    assert.equal(sent.get('scope'), 'read:user user:email repo');
    assert.equal(sent.get('code_challenge_method'), 'S256');
    assert.equal(sent.has('nonce'), false);

    const { profile, oauthTokens } = await exchange(gh, back);
    assert.equal(profile.idpId, '583231');
    assert.equal(profile.email, 'octocat@example.com');
    assert.equal(profile.name, 'The Octocat');
    assert.equal(profile.firstName, 'The');
    assert.equal(profile.lastName, 'Octocat');
    assert.equal(profile.organizationId, null);
    assert.equal(profile.rawAttributes?.login, 'octocat');
    assert.ok(oauthTokens);
    assert.match(oauthTokens.accessToken, /^gho_/);
    assert.equal(oauthTokens.refreshToken, null);
    assert.equal(oauthTokens.expiresAt, null);
    assert.deepEqual(oauthTokens.scopes, ['read:user', 'user:email', 'repo']);
  });

  it('a user without a public email signs in with the verified primary one', async () => {
    github.autoLogin = 'private';
    try {
      const browser = new TestBrowser();
      const back = await browser.follow(authorizeUrl(gh, 'GitHubOAuth'), APP);
      const { profile } = await exchange(gh, await approve(gh, browser, back.res, 'GitHub'));
      assert.equal(profile.email, 'private@example.com');
    } finally {
      github.autoLogin = undefined;
    }
  });

  it('oauth_failed: the primary email is not verified', async () => {
    github.autoLogin = 'unverified';
    try {
      const back = await new TestBrowser().follow(
        authorizeUrl(gh, 'GitHubOAuth', { state: 'gh-unverified' }),
        APP,
      );
      assertWireError(redirectedToApp(back.res), gh, 'provider_email_unverified', 'gh-unverified');
      const session = await lastSession(gh, connectionId);
      assert.equal(session.detail.login, 'unverified');
    } finally {
      github.autoLogin = undefined;
    }
  });

  it('access_denied: the user cancels at GitHub', async () => {
    const back = await declineAtProvider(
      new TestBrowser(),
      authorizeUrl(gh, 'GitHubOAuth', { state: 'gh-deny' }),
      {
        origin: github.baseUrl,
        stopAt: APP,
        login: 'octocat',
      },
    );
    assertWireError(redirectedToApp(back.res), gh, 'upstream_access_denied', 'gh-deny');
  });

  it('oauth_failed: GitHub answers the code exchange with an error in an HTTP 200 body', async () => {
    github.autoLogin = 'octocat';
    github.tokenError = GITHUB_ERRORS.badVerificationCode;
    try {
      const back = await new TestBrowser().follow(authorizeUrl(gh, 'GitHubOAuth', { state: 'gh-code' }), APP);
      assertWireError(redirectedToApp(back.res), gh, 'code_exchange_failed', 'gh-code');
      const session = await lastSession(gh, connectionId);
      assert.equal(session.upstream_error.error, 'bad_verification_code');
    } finally {
      github.autoLogin = undefined;
      github.tokenError = undefined;
    }
  });

  it('GitHub Enterprise Server: base_url alone puts the API under /api/v3; expiring user tokens come with a refresh token', async () => {
    const ghes = await startGitHub({ enterprise: true, expiringTokens: true });
    try {
      const c = await connect(gh, 'GitHubOAuth', ghes);
      // Two GitHubOAuth connections now: select the enterprise one by its ID.
      ghes.autoLogin = 'octocat';
      const browser = new TestBrowser();
      const url = gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: APP,
        connection: c.id,
      });
      const back = await browser.follow(url, APP);
      const { profile, oauthTokens } = await exchange(gh, await approve(gh, browser, back.res, 'GitHub'));
      assert.equal(profile.email, 'octocat@example.com');
      assert.ok((ghes.hits.get('/api/v3/user') ?? 0) >= 1, 'the API was called under /api/v3');
      assert.ok(oauthTokens?.refreshToken?.startsWith('ghr_'));
      assert.equal(typeof oauthTokens?.expiresAt, 'number');
      await gh.api('DELETE', `/connections/${c.id}`);
    } finally {
      await ghes.close();
    }
  });
});
