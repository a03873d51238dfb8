import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { TestBrowser } from '../helpers/browser.ts';
import {
  CONTOSO_TID,
  declineAtProvider,
  FABRIKAM_TID,
  GITHUB_ERRORS,
  type GitHubStandIn,
  type GoogleStandIn,
  MICROSOFT_ERRORS,
  type MicrosoftStandIn,
  startGitHub,
  startGoogle,
  startMicrosoft,
} from '../helpers/providers.ts';

/**
 * The provider stand-ins behave like Google, Microsoft and GitHub where a client can tell: openid-client (the
 * library Gatehouse's OIDC connector uses) as the relying party for Google and Microsoft, plain fetch for GitHub,
 * and TestBrowser on their login, consent and authorize pages.
 */

const CB = 'http://localhost:3000/callback';
const insecure = { execute: [client.allowInsecureRequests] };

/** The redirect to `CB` that `step` stopped at. */
function callbackOf(step: { res: Response }): URL {
  const location = step.res.headers.get('location') ?? '';
  assert.ok(
    location.startsWith(CB),
    `expected a redirect to the callback, got ${step.res.status} ${location}`,
  );
  return new URL(location);
}

function decodeJwt(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8'));
}

describe('Google stand-in', () => {
  let google: GoogleStandIn;
  let config: client.Configuration;

  before(async () => {
    google = await startGoogle();
    await google.allowRedirectUri(CB);
    config = await client.discovery(
      new URL(google.baseUrl),
      google.clientId,
      google.clientSecret,
      undefined,
      insecure,
    );
  });
  after(() => google.close());

  it('discovery: the issuer is the base URL, endpoints at Google paths', () => {
    const meta = config.serverMetadata();
    assert.equal(meta.issuer, google.baseUrl);
    assert.equal(meta.authorization_endpoint, `${google.baseUrl}/o/oauth2/v2/auth`);
    assert.equal(meta.token_endpoint, `${google.baseUrl}/token`);
    assert.equal(meta.jwks_uri, `${google.baseUrl}/oauth2/v3/certs`);
    assert.ok(meta.token_endpoint_auth_methods_supported?.includes('client_secret_post'));
    assert.ok(meta.token_endpoint_auth_methods_supported?.includes('client_secret_basic'));
  });

  it('code flow with PKCE, nonce and access_type=offline: Google claims, a refresh token, recorded parameters', async () => {
    const verifier = client.randomPKCECodeVerifier();
    const nonce = client.randomNonce();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: CB,
      scope: 'openid email profile',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      nonce,
      state,
      access_type: 'offline',
      hd: 'example.com',
      login_hint: 'alice@example.com',
      prompt: 'select_account',
      include_granted_scopes: 'true',
    });
    const back = callbackOf(
      await new TestBrowser().signInAtIdp(url, 'alice@example.com', google.baseUrl, CB),
    );
    // Google's extra callback parameters.
    assert.equal(back.searchParams.get('authuser'), '0');
    assert.equal(back.searchParams.get('hd'), 'example.com');
    assert.match(
      back.searchParams.get('scope') ?? '',
      /https:\/\/www\.googleapis\.com\/auth\/userinfo\.email/,
    );

    const tokens = await client.authorizationCodeGrant(config, back, {
      pkceCodeVerifier: verifier,
      expectedNonce: nonce,
      expectedState: state,
    });
    const claims = tokens.claims();
    assert.ok(claims);
    assert.equal(claims.iss, google.baseUrl);
    assert.equal(claims.aud, google.clientId);
    assert.match(claims.sub, /^1\d{20}$/);
    assert.equal(claims.email, 'alice@example.com');
    assert.equal(claims.email_verified, true);
    assert.equal(claims.hd, 'example.com');
    assert.equal(claims.name, 'Alice Example');
    assert.equal(claims.given_name, 'Alice');
    assert.equal(claims.family_name, 'Example');
    assert.match(String(claims.picture), /^https:\/\/lh3\.googleusercontent\.com\//);
    assert.equal(claims.locale, 'en');
    assert.ok(tokens.refresh_token, 'access_type=offline gets a refresh token');

    const sent = google.authorizeRequests.at(-1)?.searchParams;
    assert.equal(sent?.get('hd'), 'example.com');
    assert.equal(sent?.get('login_hint'), 'alice@example.com');
    assert.equal(sent?.get('access_type'), 'offline');
    assert.equal(sent?.get('prompt'), 'select_account');
    assert.equal(sent?.get('nonce'), nonce);
    assert.equal(sent?.get('code_challenge_method'), 'S256');
    assert.equal(google.tokenRequests.at(-1)?.get('code_verifier'), verifier);

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    assert.ok(refreshed.access_token);
    assert.equal(refreshed.refresh_token, undefined, "Google's refresh tokens do not rotate");
  });

  it('no access_type=offline, no refresh token; gmail users have no hd; "unverified" logins are not verified', async () => {
    for (const [login, verified] of [
      ['bob@gmail.com', true],
      ['unverified@gmail.com', false],
    ] as const) {
      const url = client.buildAuthorizationUrl(config, { redirect_uri: CB, scope: 'openid email profile' });
      const back = callbackOf(await new TestBrowser().signInAtIdp(url, login, google.baseUrl, CB));
      const tokens = await client.authorizationCodeGrant(config, back);
      assert.equal(tokens.refresh_token, undefined);
      const claims = tokens.claims();
      assert.equal(claims?.email, login);
      assert.equal(claims?.email_verified, verified);
      assert.equal('hd' in (claims ?? {}), false);
    }
  });

  it('users: claims set by the test; client_secret_basic works too', async () => {
    google.users.set('carol@corp.example', { sub: '123456789012345678901', name: 'Carol C', hd: undefined });
    const basic = await client.discovery(
      new URL(google.baseUrl),
      google.clientId,
      undefined,
      client.ClientSecretBasic(google.clientSecret),
      insecure,
    );
    const url = client.buildAuthorizationUrl(basic, { redirect_uri: CB, scope: 'openid email profile' });
    const back = callbackOf(
      await new TestBrowser().signInAtIdp(url, 'carol@corp.example', google.baseUrl, CB),
    );
    const claims = (await client.authorizationCodeGrant(basic, back)).claims();
    assert.equal(claims?.sub, '123456789012345678901');
    assert.equal(claims?.name, 'Carol C');
    assert.equal('hd' in (claims ?? {}), false);
  });

  it('cancel: a bare error=access_denied; a redeemed code is invalid_grant "Bad Request"', async () => {
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: CB,
      scope: 'openid email',
      state: 'st',
    });
    for (const login of [undefined, 'alice@example.com']) {
      const back = callbackOf(
        await declineAtProvider(new TestBrowser(), url, { origin: google.baseUrl, stopAt: CB, login }),
      );
      assert.equal(back.searchParams.get('error'), 'access_denied');
      assert.equal(back.searchParams.get('state'), 'st');
      assert.equal(back.searchParams.has('error_description'), false);
    }

    const ok = callbackOf(await new TestBrowser().signInAtIdp(url, 'alice@example.com', google.baseUrl, CB));
    const body = new URLSearchParams({
      grant_type: 'authorization_code',
      code: ok.searchParams.get('code') ?? '',
      redirect_uri: CB,
      client_id: google.clientId,
      client_secret: google.clientSecret,
    });
    assert.equal((await fetch(`${google.baseUrl}/token`, { method: 'POST', body })).status, 200);
    const again = await fetch(`${google.baseUrl}/token`, { method: 'POST', body });
    assert.equal(again.status, 400);
    assert.deepEqual(await again.json(), { error: 'invalid_grant', error_description: 'Bad Request' });
  });
});

describe('Microsoft stand-in', () => {
  let ms: MicrosoftStandIn;

  before(async () => {
    ms = await startMicrosoft({ redirectUris: [CB] });
    ms.users.set('mallory@contoso.com', { claims: { tid: FABRIKAM_TID } });
  });
  after(() => ms.close());

  /** A client for the `common` authority expecting `tid`'s issuer (what openid-client does for Entra by origin). */
  async function commonClient(tid: string): Promise<client.Configuration> {
    const doc = await (await fetch(`${ms.baseUrl}/common/v2.0/.well-known/openid-configuration`)).json();
    const config = new client.Configuration(
      { ...doc, issuer: ms.issuerFor(tid) },
      ms.clientId,
      ms.clientSecret,
    );
    client.allowInsecureRequests(config);
    return config;
  }

  async function signIn(config: client.Configuration, login: string, extra: Record<string, string> = {}) {
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: CB,
      scope: 'openid profile email offline_access',
      nonce,
      ...extra,
    });
    const back = callbackOf(await new TestBrowser().signInAtIdp(url, login, ms.baseUrl, CB));
    return { back, tokens: await client.authorizationCodeGrant(config, back, { expectedNonce: nonce }) };
  }

  it("the common document has Microsoft's templated issuer; a tenant's has its own", async () => {
    const common = await (await fetch(`${ms.baseUrl}/common/v2.0/.well-known/openid-configuration`)).json();
    assert.equal(common.issuer, `${ms.baseUrl}/{tenantid}/v2.0`);
    assert.equal(common.authorization_endpoint, `${ms.baseUrl}/common/oauth2/v2.0/authorize`);
    assert.equal(common.token_endpoint, `${ms.baseUrl}/common/oauth2/v2.0/token`);
    assert.equal(common.jwks_uri, `${ms.baseUrl}/common/discovery/v2.0/keys`);
    // openid-client accepts the template only from https://login.microsoftonline.com itself.
    await assert.rejects(
      client.discovery(
        new URL(`${ms.baseUrl}/common/v2.0`),
        ms.clientId,
        ms.clientSecret,
        undefined,
        insecure,
      ),
      /issuer does not match/,
    );

    const tenant = await client.discovery(
      new URL(ms.issuerFor(CONTOSO_TID)),
      ms.clientId,
      ms.clientSecret,
      undefined,
      insecure,
    );
    assert.equal(tenant.serverMetadata().issuer, `${ms.baseUrl}/${CONTOSO_TID}/v2.0`);
    assert.equal(
      tenant.serverMetadata().authorization_endpoint,
      `${ms.baseUrl}/${CONTOSO_TID}/oauth2/v2.0/authorize`,
    );

    const unknown = await fetch(
      `${ms.baseUrl}/00000000-0000-0000-0000-000000000000/v2.0/.well-known/openid-configuration`,
    );
    assert.equal(unknown.status, 400);
    assert.match((await unknown.json()).error_description, /^AADSTS90002: Tenant/);
  });

  it("common: the ID token is issued by the signed-in user's tenant, with tid, oid, UPN, email and ver 2.0", async () => {
    const config = await commonClient(CONTOSO_TID);
    const { back, tokens } = await signIn(config, 'alice@contoso.com', {
      login_hint: 'alice@contoso.com',
      domain_hint: 'contoso.com',
      prompt: 'select_account',
    });
    assert.equal(back.searchParams.has('iss'), false, 'Microsoft sends no iss in the authorization response');
    const claims = tokens.claims();
    assert.ok(claims);
    assert.equal(claims.iss, `${ms.baseUrl}/${CONTOSO_TID}/v2.0`);
    assert.equal(claims.tid, CONTOSO_TID);
    assert.equal(claims.aud, ms.clientId);
    assert.equal(claims.ver, '2.0');
    assert.match(String(claims.oid), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.match(claims.sub, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(claims.preferred_username, 'alice@contoso.com');
    assert.equal(claims.email, 'alice@contoso.com');
    assert.equal(claims.xms_edov, true);
    assert.ok(tokens.refresh_token, 'offline_access gets a refresh token');
    assert.equal(typeof tokens.expires_in, 'number');
    assert.equal(tokens.ext_expires_in, tokens.expires_in);

    const sent = ms.authorizeRequests.at(-1);
    assert.equal(sent?.pathname, '/common/oauth2/v2.0/authorize');
    assert.equal(sent?.searchParams.get('domain_hint'), 'contoso.com');
    assert.equal(sent?.searchParams.get('login_hint'), 'alice@contoso.com');
    assert.ok(sent?.searchParams.get('nonce'));
    assert.deepEqual(sent?.searchParams.get('scope')?.split(' '), [
      'openid',
      'profile',
      'email',
      'offline_access',
    ]);

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    assert.equal(refreshed.claims()?.iss, `${ms.baseUrl}/${CONTOSO_TID}/v2.0`);
    assert.ok(
      refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token,
      'refresh tokens rotate',
    );
  });

  it('common: a user of another tenant gets that tenant as iss and tid', async () => {
    const { tokens } = await signIn(await commonClient(FABRIKAM_TID), 'bob@fabrikam.com');
    assert.equal(tokens.claims()?.iss, `${ms.baseUrl}/${FABRIKAM_TID}/v2.0`);
    assert.equal(tokens.claims()?.tid, FABRIKAM_TID);
  });

  it("a tenant's own endpoints: iss and tid are that tenant", async () => {
    const config = await client.discovery(
      new URL(ms.issuerFor(FABRIKAM_TID)),
      ms.clientId,
      ms.clientSecret,
      undefined,
      insecure,
    );
    const { tokens } = await signIn(config, 'bob@fabrikam.com');
    assert.equal(tokens.claims()?.iss, `${ms.baseUrl}/${FABRIKAM_TID}/v2.0`);
    assert.equal(ms.authorizeRequests.at(-1)?.pathname, `/${FABRIKAM_TID}/oauth2/v2.0/authorize`);
  });

  it("forgery: a user whose claims set another tid gets a validly signed token with tenant A's iss and B's tid", async () => {
    const { tokens } = await signIn(await commonClient(CONTOSO_TID), 'mallory@contoso.com');
    assert.equal(tokens.claims()?.iss, `${ms.baseUrl}/${CONTOSO_TID}/v2.0`);
    assert.equal(tokens.claims()?.tid, FABRIKAM_TID);
    assert.deepEqual(decodeJwt(tokens.id_token ?? ''), ms.idTokens.at(-1));
  });

  it('cancel: access_denied with AADSTS65004; injected authorize and token errors have Microsoft shapes', async () => {
    const config = await commonClient(CONTOSO_TID);
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: CB,
      scope: 'openid profile',
      state: 'st',
    });
    const denied = callbackOf(
      await declineAtProvider(new TestBrowser(), url, {
        origin: ms.baseUrl,
        stopAt: CB,
        login: 'alice@contoso.com',
      }),
    );
    assert.equal(denied.searchParams.get('error'), 'access_denied');
    assert.ok(
      denied.searchParams
        .get('error_description')
        ?.startsWith('AADSTS65004: User declined to consent to access the app.\r\nTrace ID: '),
    );
    assert.equal(denied.searchParams.get('state'), 'st');
    assert.equal(denied.searchParams.has('iss'), false);

    ms.authorizeError = MICROSOFT_ERRORS.missingField;
    try {
      const res = await fetch(url, { redirect: 'manual' });
      const back = new URL(res.headers.get('location') ?? '');
      assert.equal(back.searchParams.get('error'), 'invalid_request');
      assert.match(back.searchParams.get('error_description') ?? '', /^AADSTS90014: /);
      assert.equal(back.searchParams.get('state'), 'st');
    } finally {
      ms.authorizeError = undefined;
    }

    const back = callbackOf(await new TestBrowser().signInAtIdp(url, 'alice@contoso.com', ms.baseUrl, CB));
    ms.tokenError = MICROSOFT_ERRORS.expiredCode;
    try {
      await assert.rejects(client.authorizationCodeGrant(config, back, { expectedState: 'st' }), (err) => {
        assert.ok(err instanceof client.ResponseBodyError);
        assert.equal(err.error, 'invalid_grant');
        assert.match(err.error_description ?? '', /^AADSTS70008: /);
        assert.deepEqual(err.cause.error_codes, [70008]);
        return true;
      });
    } finally {
      ms.tokenError = undefined;
    }
  });
});

describe('GitHub stand-in', () => {
  let gh: GitHubStandIn;
  let enterprise: GitHubStandIn;

  before(async () => {
    gh = await startGitHub({ redirectUris: [CB] });
    enterprise = await startGitHub({ redirectUris: [CB], enterprise: true, expiringTokens: true });
  });
  after(async () => {
    await gh.close();
    await enterprise.close();
  });

  function authorizeUrl(standIn: GitHubStandIn, params: Record<string, string> = {}): URL {
    const url = new URL('/login/oauth/authorize', standIn.baseUrl);
    url.search = new URLSearchParams({
      client_id: standIn.clientId,
      redirect_uri: CB,
      scope: 'read:user user:email',
      state: 'st',
      ...params,
    }).toString();
    return url;
  }

  async function exchange(
    standIn: GitHubStandIn,
    params: Record<string, string>,
    accept = 'application/json',
  ) {
    const res = await fetch(`${standIn.baseUrl}/login/oauth/access_token`, {
      method: 'POST',
      headers: { accept },
      body: new URLSearchParams({
        client_id: standIn.clientId,
        client_secret: standIn.clientSecret,
        ...params,
      }),
    });
    assert.equal(res.status, 200, 'GitHub answers token requests with 200, errors included');
    return res;
  }

  const api = (standIn: GitHubStandIn, path: string, token: string, scheme = 'Bearer') =>
    fetch(`${standIn.apiBase}${path}`, { headers: { authorization: `${scheme} ${token}` } });

  it('login form, authorize page, code with state; PKCE; JSON token with comma-separated scopes; /user and /user/emails', async () => {
    const verifier = client.randomPKCECodeVerifier();
    const url = authorizeUrl(gh, {
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      allow_signup: 'false',
    });
    const back = callbackOf(await new TestBrowser().signInAtIdp(url, 'octocat', gh.baseUrl, CB));
    assert.equal(back.searchParams.get('state'), 'st');
    const code = back.searchParams.get('code') ?? '';
    assert.equal(gh.authorizeRequests.at(-1)?.searchParams.get('allow_signup'), 'false');

    const wrong = await exchange(gh, {
      code,
      redirect_uri: CB,
      code_verifier: client.randomPKCECodeVerifier(),
    });
    assert.equal((await wrong.json()).error, 'bad_verification_code');
    const res = await exchange(gh, { code, redirect_uri: CB, code_verifier: verifier });
    const tokens = await res.json();
    assert.match(tokens.access_token, /^gho_[A-Za-z0-9]{36}$/);
    assert.equal(tokens.token_type, 'bearer');
    assert.equal(tokens.scope, 'read:user,user:email');
    assert.equal(gh.tokenRequests.at(-1)?.get('code_verifier'), verifier);

    const user = await api(gh, '/user', tokens.access_token);
    assert.equal(user.status, 200);
    assert.equal(user.headers.get('x-oauth-scopes'), 'read:user, user:email');
    const profile = await user.json();
    assert.equal(profile.login, 'octocat');
    assert.equal(typeof profile.id, 'number');
    assert.equal(profile.node_id, Buffer.from(`04:User${profile.id}`).toString('base64'));
    assert.equal(profile.email, 'octocat@example.com');
    assert.equal(profile.name, 'The Octocat');
    const emails = await (await api(gh, '/user/emails', tokens.access_token, 'token')).json();
    assert.deepEqual(emails, [
      { email: 'octocat@example.com', primary: true, verified: true, visibility: 'public' },
    ]);

    // The code was used.
    assert.deepEqual(await (await exchange(gh, { code })).json(), GITHUB_ERRORS.badVerificationCode);
  });

  it('form-encoded token responses without Accept: application/json; GitHub error shapes with HTTP 200', async () => {
    gh.autoLogin = 'octocat';
    try {
      const back = new URL(
        (await fetch(authorizeUrl(gh), { redirect: 'manual' })).headers.get('location') ?? '',
      );
      const form = new URLSearchParams(
        await (await exchange(gh, { code: back.searchParams.get('code') ?? '' }, '*/*')).text(),
      );
      assert.match(form.get('access_token') ?? '', /^gho_/);
      assert.equal(form.get('scope'), 'read:user,user:email');
      assert.equal(form.get('token_type'), 'bearer');
    } finally {
      gh.autoLogin = undefined;
    }
    const bad = await exchange(gh, { code: 'nope' }, 'application/x-www-form-urlencoded');
    assert.equal(new URLSearchParams(await bad.text()).get('error'), 'bad_verification_code');
    const secret = await exchange(gh, { code: 'nope', client_secret: 'wrong' });
    assert.deepEqual(await secret.json(), GITHUB_ERRORS.incorrectClientCredentials);
  });

  it('presets: an unverified primary email; no public email but a verified primary; emails need user:email', async () => {
    try {
      for (const [login, scope] of [
        ['unverified', 'read:user user:email'],
        ['private', 'read:user,user:email'],
        ['octocat', 'read:user'],
      ] as const) {
        gh.autoLogin = login;
        const back = new URL(
          (await fetch(authorizeUrl(gh, { scope }), { redirect: 'manual' })).headers.get('location') ?? '',
        );
        const { access_token: token } = await (
          await exchange(gh, { code: back.searchParams.get('code') ?? '' })
        ).json();
        const profile = await (await api(gh, '/user', token)).json();
        const emails = await api(gh, '/user/emails', token);
        if (login === 'unverified') {
          assert.equal(((await emails.json()) as { verified: boolean }[])[0]?.verified, false);
        } else if (login === 'private') {
          assert.equal(profile.email, null);
          assert.deepEqual(await emails.json(), [
            { email: 'private@example.com', primary: true, verified: true, visibility: 'private' },
          ]);
        } else {
          assert.equal(emails.status, 404);
          assert.equal((await emails.json()).message, 'Not Found');
        }
      }
    } finally {
      gh.autoLogin = undefined;
    }
    const unauthorized = await api(gh, '/user', 'gho_not-a-token');
    assert.equal(unauthorized.status, 401);
    assert.equal((await unauthorized.json()).message, 'Bad credentials');
  });

  it('cancel, a foreign redirect_uri and an unknown client', async () => {
    const denied = callbackOf(
      await declineAtProvider(new TestBrowser(), authorizeUrl(gh), {
        origin: gh.baseUrl,
        stopAt: CB,
        login: 'octocat',
      }),
    );
    assert.deepEqual(Object.fromEntries(denied.searchParams), { ...GITHUB_ERRORS.accessDenied, state: 'st' });

    const mismatch = await fetch(authorizeUrl(gh, { redirect_uri: 'https://evil.example/cb' }), {
      redirect: 'manual',
    });
    const to = new URL(mismatch.headers.get('location') ?? '');
    assert.equal(
      `${to.origin}${to.pathname}`,
      CB,
      'sent to the registered callback, never to the foreign one',
    );
    assert.equal(to.searchParams.get('error'), 'redirect_uri_mismatch');

    const unknown = await fetch(authorizeUrl(gh, { client_id: 'someone-else' }), { redirect: 'manual' });
    assert.equal(unknown.status, 404);
  });

  it('enterprise layout: the API under /api/v3; expiring user tokens with rotating refresh tokens', async () => {
    assert.equal(enterprise.apiBase, `${enterprise.baseUrl}/api/v3`);
    assert.notEqual(new URL(gh.apiBase).origin, gh.baseUrl);
    const back = callbackOf(
      await new TestBrowser().signInAtIdp(authorizeUrl(enterprise), 'octocat', enterprise.baseUrl, CB),
    );
    const tokens = await (await exchange(enterprise, { code: back.searchParams.get('code') ?? '' })).json();
    assert.match(tokens.access_token, /^ghu_/);
    assert.match(tokens.refresh_token, /^ghr_/);
    assert.equal(tokens.expires_in, 28800);
    assert.equal(typeof tokens.refresh_token_expires_in, 'number');
    assert.equal((await (await api(enterprise, '/user', tokens.access_token)).json()).login, 'octocat');

    const refreshed = await (
      await exchange(enterprise, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token })
    ).json();
    assert.match(refreshed.access_token, /^ghu_/);
    const reused = await exchange(enterprise, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
    });
    assert.equal((await reused.json()).error, 'bad_refresh_token');
  });
});
