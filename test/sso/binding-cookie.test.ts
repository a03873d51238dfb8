import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { bindingCookies } from '../../src/http/cookies.ts';
import { randomToken } from '../../src/lib/tokens.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';

/**
 * The browser binding cookie: `__Host-` on an https public URL, so that a sibling subdomain cannot plant one,
 * and only the name in force for the deployment is read.
 */

const PUBLIC_URL = 'https://sso.example.test';
const APP = 'https://app.example.test/callback';

describe('binding cookie names and attributes follow the public URL', () => {
  it('https at the root: __Host-, Secure, Path=/, no Domain (both cookies)', () => {
    const cookies = bindingCookies('https://sso.example.com');
    assert.deepEqual(cookies.headers('v', true), [
      '__Host-gatehouse_browser=v; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax; Secure',
      '__Host-gatehouse_browser_x=v; Path=/; Max-Age=3600; HttpOnly; SameSite=None; Secure',
    ]);
    assert.equal(cookies.read('__Host-gatehouse_browser=v'), 'v');
    assert.equal(cookies.read('__Host-gatehouse_browser_x=w'), 'w');
    assert.equal(cookies.read('gatehouse_browser=v; gatehouse_browser_x=w'), null);
  });

  it('http (development): unprefixed, Path=/sso/, Secure only on the cross-site cookie', () => {
    const cookies = bindingCookies('http://localhost:8080');
    assert.deepEqual(cookies.headers('v', true), [
      'gatehouse_browser=v; Path=/sso/; Max-Age=3600; HttpOnly; SameSite=Lax',
      'gatehouse_browser_x=v; Path=/sso/; Max-Age=3600; HttpOnly; SameSite=None; Secure',
    ]);
    assert.equal(cookies.read('gatehouse_browser=v'), 'v');
    assert.equal(cookies.read('__Host-gatehouse_browser=v'), null);
  });

  it('https under a path: unprefixed (`__Host-` needs Path=/), Secure, scoped to the path', () => {
    const cookies = bindingCookies('https://example.com/gatehouse');
    assert.deepEqual(cookies.headers('v', false), [
      'gatehouse_browser=v; Path=/gatehouse/sso/; Max-Age=3600; HttpOnly; SameSite=Lax; Secure',
    ]);
  });
});

describe('binding cookie on an https public URL, over HTTP', () => {
  let gh: TestGatehouse;
  let idp: Server;
  let callbackPath: string;
  let orgId: string;

  before(async () => {
    // A discovery document is all the IdP needs to offer: the tests stop at the callback's binding check, or
    // just after it at the code exchange (which this IdP cannot do: a redirect to the app with an error).
    let issuer = '';
    idp = createServer((req, res) => {
      if (req.url !== '/.well-known/openid-configuration') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          jwks_uri: `${issuer}/jwks`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
        }),
      );
    });
    await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
    issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;

    gh = await startGatehouse({
      env: { GATEHOUSE_PUBLIC_URL: PUBLIC_URL, GATEHOUSE_SIGNIN_CONSENT: 'off' },
    });
    assert.equal((await gh.api('POST', '/redirect_uris', { uri: APP })).status, 201);
    orgId = (await gh.api('POST', '/organizations', { name: 'Acme' })).body.id;
    const conn = await gh.api('POST', '/connections', {
      connection_type: 'GenericOIDC',
      organization_id: orgId,
      oidc_options: { issuer, client_id: 'c', client_secret: 'secret-0123456789' },
    });
    assert.equal(conn.status, 201, JSON.stringify(conn.body));
    const redirectUri = new URL(conn.body.oidc_options.redirect_uri);
    assert.equal(redirectUri.origin, PUBLIC_URL);
    callbackPath = redirectUri.pathname;
  });
  after(async () => {
    await gh?.close();
    idp?.closeAllConnections();
    await new Promise<void>((resolve) => (idp ? idp.close(() => resolve()) : resolve()));
  });

  /** GET /sso/authorize with these cookies: the binding value set and our upstream `state`. */
  async function authorize(cookie?: string): Promise<{ setCookie: string; binding: string; state: string }> {
    const query = new URLSearchParams({
      client_id: gh.clientId,
      redirect_uri: APP,
      response_type: 'code',
      organization: orgId,
      state: 'app-state',
    });
    const res = await fetch(`${gh.url}/sso/authorize?${query}`, {
      redirect: 'manual',
      headers: cookie ? { cookie } : {},
    });
    assert.equal(res.status, 302, await res.text());
    const setCookie = res.headers.get('set-cookie') ?? '';
    const binding = /^__Host-gatehouse_browser=([A-Za-z0-9_-]{43});/.exec(setCookie)?.[1];
    assert.ok(binding, `a __Host- binding cookie, got ${JSON.stringify(setCookie)}`);
    const state = new URL(res.headers.get('location') ?? '').searchParams.get('state');
    assert.ok(state);
    return { setCookie, binding, state };
  }

  function callback(state: string, cookie: string): Promise<Response> {
    const query = new URLSearchParams({ code: 'code-from-idp', state });
    return fetch(`${gh.url}${callbackPath}?${query}`, { redirect: 'manual', headers: { cookie } });
  }

  it('authorize sets __Host-gatehouse_browser: Secure, Path=/, no Domain', async () => {
    const { setCookie, binding } = await authorize();
    assert.equal(
      setCookie,
      `__Host-gatehouse_browser=${binding}; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax; Secure`,
    );
  });

  it('login CSRF from a sibling subdomain: a planted unprefixed binding cookie is neither reused nor accepted', async () => {
    // evil.example.test can set `gatehouse_browser=…; Domain=example.test` in the victim's browser, not a
    // `__Host-` cookie. Planted before the victim signs in, it must not become the victim's binding:
    const planted = randomToken(32);
    const victim = await authorize(`gatehouse_browser=${planted}; gatehouse_browser_x=${planted}`);
    assert.notEqual(victim.binding, planted);

    // Planted after the attacker started a sign-in of their own (binding A), it must not let the victim's
    // browser finish the attacker's sign-in:
    const attacker = await authorize();
    const a = attacker.binding;
    for (const cookie of [`gatehouse_browser=${a}`, `gatehouse_browser_x=${a}`]) {
      const res = await callback(attacker.state, cookie);
      assert.equal(res.status, 400, `${cookie}: ${res.status}`);
      assert.equal(res.headers.get('location'), null);
      assert.match(await res.text(), /<code>callback_browser_mismatch<\/code>/);
    }
    // The cookie in force passes the binding check (and the sign-in goes on, to the code exchange this IdP fails).
    const res = await callback(attacker.state, `gatehouse_browser=${planted}; __Host-gatehouse_browser=${a}`);
    assert.equal(res.status, 302, await res.text());
    assert.ok(res.headers.get('location')?.startsWith(`${APP}?error=`), res.headers.get('location') ?? '');
  });
});
