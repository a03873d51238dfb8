import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WorkOS } from '@workos-inc/node';
import { consentForm, TestBrowser } from '../helpers/browser.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { connectOidcIdp, type TestIdp } from '../helpers/oidc-idp.ts';

const APP = 'http://localhost:3000/callback';

/**
 * One real login: the official WorkOS SDK as the app, Gatehouse, and oidc-provider as the customer's IdP,
 * through the IdP's login form, Gatehouse's consent screen, the code exchange and the profile.
 */
describe('a real OIDC login through the official WorkOS SDK', () => {
  let gh: TestGatehouse;
  let idp: TestIdp;
  let orgId: string;
  let connectionId: string;

  before(async () => {
    gh = await startGatehouse();
    ({ idp, orgId, connectionId } = await connectOidcIdp(gh, {
      appRedirectUri: APP,
      scopes: ['openid', 'profile', 'email', 'groups'],
    }));
  });
  after(async () => {
    await gh.close();
    await idp.close();
  });

  /** Browser: authorize → IdP login → callback → Gatehouse consent → Approve; returns the app's callback URL. */
  async function signIn(authorizeUrl: string, login = 'ada'): Promise<URL> {
    const browser = new TestBrowser();
    const atConsent = await browser.signInAtIdp(authorizeUrl, login, idp.issuer, APP);
    assert.equal(atConsent.res.status, 200, `expected the consent screen, got ${atConsent.res.status}`);
    const html = await atConsent.res.text();
    assert.match(html, new RegExp(`${login}@acme\\.com`));
    const approved = await browser.request(`${gh.url}/sso/consent`, {
      form: { consent_token: consentForm(html).token, decision: 'approve' },
      headers: { origin: gh.url },
    });
    assert.equal(approved.status, 303);
    return new URL(approved.headers.get('location') ?? '');
  }

  it('organization selector: code and state back to the app, then getProfileAndToken and getProfile', async () => {
    assert.equal((await gh.workos.sso.getConnection(connectionId)).state, 'validating');
    const url = gh.workos.sso.getAuthorizationUrl({
      clientId: gh.clientId,
      redirectUri: APP,
      organization: orgId,
      state: 'app-state 1/+',
    });
    const back = await signIn(url);
    assert.equal(`${back.origin}${back.pathname}`, APP);
    assert.deepEqual([...back.searchParams.keys()].sort(), ['code', 'iss', 'state']);
    assert.equal(back.searchParams.get('state'), 'app-state 1/+');
    assert.equal(back.searchParams.get('iss'), gh.url);
    const code = back.searchParams.get('code') ?? '';
    assert.match(code, /^[A-Za-z0-9_-]{43}$/);

    const { accessToken, profile, oauthTokens } = await gh.workos.sso.getProfileAndToken({
      code,
      clientId: gh.clientId,
    });
    assert.equal(oauthTokens, undefined);
    assert.match(profile.id, /^prof_[0-9A-Z]{26}$/);
    assert.equal(profile.idpId, 'ada');
    assert.equal(profile.email, 'ada@acme.com');
    assert.equal(profile.firstName, 'Ada');
    assert.equal(profile.lastName, 'Lovelace');
    assert.equal(profile.name, 'Ada Lovelace');
    assert.deepEqual(profile.groups, ['engineering', 'admins']);
    assert.equal(profile.organizationId, orgId);
    assert.equal(profile.connectionId, connectionId);
    assert.equal(profile.connectionType, 'OktaOIDC');
    assert.deepEqual(profile.customAttributes, {});
    assert.equal(profile.rawAttributes?.email, 'ada@acme.com');
    assert.equal(profile.rawAttributes?.sub, 'ada');
    for (const claim of ['nonce', 'at_hash', 'access_token', 'id_token'])
      assert.ok(!(claim in (profile.rawAttributes ?? {})), claim);

    const again = await gh.workos.sso.getProfile({ accessToken });
    assert.deepEqual(again, profile);

    // The first successful sign-in activated the connection.
    assert.equal((await gh.workos.sso.getConnection(connectionId)).state, 'active');
  });

  it('connection selector: the same user gets the same profile ID', async () => {
    const first = await signIn(
      gh.workos.sso.getAuthorizationUrl({ clientId: gh.clientId, redirectUri: APP, organization: orgId }),
    );
    const second = await signIn(
      gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: APP,
        connection: connectionId,
      }),
    );
    const a = await gh.workos.sso.getProfileAndToken({
      code: first.searchParams.get('code') ?? '',
      clientId: gh.clientId,
    });
    const b = await gh.workos.sso.getProfileAndToken({
      code: second.searchParams.get('code') ?? '',
      clientId: gh.clientId,
    });
    assert.equal(a.profile.id, b.profile.id);
    assert.equal(second.searchParams.has('state'), false);
  });

  it('PKCE with a public client (no API key): getAuthorizationUrlWithPKCE, then the verifier alone', async () => {
    const publicApp = new WorkOS({
      clientId: gh.clientId,
      apiHostname: '127.0.0.1',
      port: gh.port,
      https: false,
    });
    const { url, state, codeVerifier } = await publicApp.sso.getAuthorizationUrlWithPKCE({
      clientId: gh.clientId,
      redirectUri: APP,
      organization: orgId,
    });
    const back = await signIn(url, 'grace');
    assert.equal(back.searchParams.get('state'), state);
    const { profile, accessToken } = await publicApp.sso.getProfileAndToken({
      code: back.searchParams.get('code') ?? '',
      clientId: gh.clientId,
      codeVerifier,
    });
    assert.equal(profile.email, 'grace@acme.com');
    assert.equal((await gh.workos.sso.getProfile({ accessToken })).id, profile.id);
  });

  it('records each sign-in in the session log, newest first, found by any of its request IDs', async () => {
    const res = await gh.api('GET', `/sso/sessions?connection_id=${connectionId}&limit=100`);
    assert.equal(res.status, 200);
    const sessions = res.body.data as Record<string, unknown>[];
    assert.ok(sessions.length >= 4);
    const created = sessions.map((s) => s.created_at as string);
    assert.deepEqual(created, [...created].sort().reverse());
    const latest = sessions[0] as {
      id: string;
      outcome: string;
      email: string;
      connection_id: string;
      organization_id: string;
      failed_stage: string | null;
      stages: Record<string, string>;
      request_ids: { callback: string };
    };
    assert.equal(latest.outcome, 'succeeded');
    assert.equal(latest.email, 'grace@acme.com');
    assert.equal(latest.connection_id, connectionId);
    assert.equal(latest.organization_id, orgId);
    assert.equal(latest.failed_stage, null);
    for (const stage of [
      'authorize',
      'upstream_redirect',
      'callback',
      'consent_shown',
      'consent',
      'code_issued',
      'code_redeemed',
    ]) {
      assert.match(latest.stages[stage] ?? '', /^\d{4}-\d\d-\d\dT/, stage);
    }
    const byCallback = await gh.api('GET', `/sso/sessions?request_id=${latest.request_ids.callback}`);
    assert.deepEqual(
      byCallback.body.data.map((s: { id: string }) => s.id),
      [latest.id],
    );
    // No code, token or secret is ever logged.
    const text = JSON.stringify(res.body);
    assert.ok(!/access_token|code_verifier|client_secret|"code":/.test(text));
  });
});
