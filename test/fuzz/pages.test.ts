import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { startGatehouse, TEST_API_KEY, type TestGatehouse } from '../helpers/gatehouse.ts';
import {
  type Expectations,
  exercise,
  type FuzzRequest,
  fuzz,
  hostileString,
  oversize,
  rawEncoded,
} from './harness.ts';

/**
 * Property-based fuzzing of the Admin Portal's and the dashboard's form posts (and the GETs that act: sign-in
 * links, one-time links) by someone without a session of their own (issue 15): no cookie, a garbage cookie, the
 * other page family's cookie, a cookie under the wrong name, a real portal session without its CSRF token. Each
 * response: never a 5xx, no redirect off Gatehouse or to a URI the allowlist refuses, no secret, CPU within the
 * bound; and after the run, nothing was written (organizations, connections, redirect URIs, API keys, webhook
 * endpoints and the audit log read the same through the management API).
 */

const SECRET_KEY = 'f00d'.repeat(16);
const IDP_SECRET = 'PAGES-IDP-SECRET-CANARY-93ab';
const RETURN_URL = 'https://app.example.com/settings';

const DASHBOARD_POSTS = [
  '/dashboard/welcome',
  '/dashboard/organizations',
  '/dashboard/organizations/{org}/portal_link',
  '/dashboard/operators/invite',
  '/dashboard/operators/sso',
  '/dashboard/operators/{id}/disable',
  '/dashboard/operators/{id}/enable',
  '/dashboard/sign_out',
  '/dashboard/environment/redirect_uris',
  '/dashboard/environment/redirect_uris/{id}/default',
  '/dashboard/environment/redirect_uris/{id}/remove',
  '/dashboard/environment/api_keys',
  '/dashboard/environment/api_keys/{id}/revoke',
  '/dashboard/organizations/{org}',
  '/dashboard/organizations/{org}/domains',
  '/dashboard/organizations/{org}/domains/{id}/remove',
  '/dashboard/organizations/{org}/connections',
  '/dashboard/organizations/{org}/admin_portal',
  '/dashboard/webhooks',
  '/dashboard/webhooks/{id}/status',
  '/dashboard/webhooks/{id}/delete',
  '/dashboard/connections',
  '/dashboard/connections/{conn}/doctor',
  '/dashboard/connections/{conn}/delete',
  '/dashboard/connections/{conn}/test_sign_in',
];
const PORTAL_POSTS = [
  '/portal/domains',
  '/portal/domains/{id}/verify',
  '/portal/sso/start',
  '/portal/sso/connections/{conn}/idp',
  '/portal/sso/connections/{conn}/attributes',
  '/portal/sso/connections/{conn}/activate',
];
/** GETs that act on a token or start something. */
const ACTING_GETS = [
  '/dashboard/welcome?token={token}',
  '/dashboard/sso/start?csrf={token}',
  '/dashboard/sso/callback?code={token}&state={token}',
  '/portal/launch?token={token}',
  '/portal/sso/connections/{conn}/test?csrf={token}',
  '/portal/sso/test/result?code={token}&state={token}',
];

const FORM_FIELDS = [
  'csrf',
  'token',
  'name',
  'email',
  'password',
  'uri',
  'domain',
  'guide',
  'connection_type',
  'issuer',
  'client_id',
  'client_secret',
  'metadata_url',
  'metadata_xml',
  'endpoint_url',
  'events',
  'status',
  'decision',
  'return_url',
  '__proto__',
  'constructor',
];

const pagesInput = fc.record({
  target: fc.oneof(
    fc.record({ kind: fc.constant('dashboard' as const), i: fc.nat({ max: DASHBOARD_POSTS.length - 1 }) }),
    fc.record({ kind: fc.constant('portal' as const), i: fc.nat({ max: PORTAL_POSTS.length - 1 }) }),
    fc.record({ kind: fc.constant('get' as const), i: fc.nat({ max: ACTING_GETS.length - 1 }) }),
  ),
  id: fc.oneof(
    { weight: 3, arbitrary: fc.constant('real') },
    { weight: 1, arbitrary: fc.oneof(hostileString, rawEncoded) },
  ),
  token: fc.oneof(hostileString, rawEncoded, fc.constantFrom('', 'csrf', 'real-csrf-elsewhere')),
  fields: fc.array(
    fc.tuple(
      fc.constantFrom(...FORM_FIELDS),
      fc.oneof(hostileString, fc.constantFrom('real-csrf', RETURN_URL)),
    ),
    { maxLength: 5 },
  ),
  encoding: fc.constantFrom('form', 'form', 'form', 'multipart', 'json', 'raw'),
  raw: fc.oneof(rawEncoded, oversize, fc.string({ maxLength: 20 })),
  cookie: fc.constantFrom(
    'none',
    'garbage',
    'portal',
    'portal-as-dashboard',
    'portal-under-sign-in-name',
    'portal-truncated',
    'many',
  ),
});
type PagesInput = typeof pagesInput extends fc.Arbitrary<infer T> ? T : never;

describe('fuzz: Admin Portal and dashboard form posts without a session', () => {
  let gh: TestGatehouse;
  let expect: Expectations;
  let orgId = '';
  let connId = '';
  let portalCookie = '';
  let portalCsrf = '';
  let before_: string;

  /** What a post without a session must not change, as the management API lists it. */
  async function snapshot(): Promise<string> {
    const parts = [];
    for (const path of [
      '/organizations',
      '/connections',
      '/redirect_uris',
      '/api_keys',
      '/webhook_endpoints',
    ]) {
      const res = await gh.api('GET', `${path}${path === '/api_keys' ? '' : '?limit=100'}`);
      assert.equal(res.status, 200, path);
      parts.push(JSON.stringify(res.body));
    }
    parts.push(JSON.stringify(await gh.store.listOperators()));
    parts.push(JSON.stringify(await gh.store.listAudit({}, { limit: 100, order: 'desc' })));
    return parts.join('\n');
  }

  before(async () => {
    gh = await startGatehouse({ env: { GATEHOUSE_RATE_LIMITS: 'off', GATEHOUSE_SECRET_KEY: SECRET_KEY } });
    expect = {
      rules: { gatehouse: gh.url, upstreamOrigins: [], allowlist: [RETURN_URL] },
      canaries: [TEST_API_KEY, SECRET_KEY, IDP_SECRET],
    };
    const org = await gh.api('POST', '/organizations', {
      name: 'Acme',
      domain_data: [{ domain: 'acme.example', state: 'pending' }],
    });
    orgId = org.body.id;
    const conn = await gh.api('POST', '/connections', {
      organization_id: orgId,
      connection_type: 'OktaOIDC',
      name: 'Acme Okta',
      oidc_options: { issuer: 'http://127.0.0.1:9', client_id: 'c', client_secret: IDP_SECRET },
    });
    connId = conn.body.id;
    // A real portal session (for the cross-purpose cookies and the posts without their CSRF token).
    const link = await gh.api('POST', '/portal/generate_link', {
      organization: orgId,
      return_url: RETURN_URL,
    });
    assert.equal(link.status, 201, JSON.stringify(link.body));
    const launched = await gh.app.inject({
      method: 'GET',
      url: new URL(link.body.link).pathname + new URL(link.body.link).search,
    });
    const cookies = [launched.headers['set-cookie']].flat().map(String);
    portalCookie = cookies.find((c) => c.startsWith('gatehouse_portal='))?.split(';')[0] ?? '';
    assert.ok(portalCookie, `no portal cookie: ${launched.statusCode} ${cookies}`);
    let home = await gh.app.inject({ method: 'GET', url: '/portal/', headers: { cookie: portalCookie } });
    if (home.headers.location) {
      home = await gh.app.inject({
        method: 'GET',
        url: String(home.headers.location),
        headers: { cookie: portalCookie },
      });
    }
    portalCsrf = /name="csrf" value="([^"]+)"/.exec(home.body)?.[1] ?? '';
    before_ = await snapshot();
  });

  after(async () => {
    await gh?.close();
  });

  function request(input: PagesInput): FuzzRequest {
    const id = input.id === 'real' ? orgId : encodeURIComponent(input.id.toWellFormed());
    const token = encodeURIComponent(input.token.toWellFormed());
    const template =
      input.target.kind === 'dashboard'
        ? DASHBOARD_POSTS[input.target.i]
        : input.target.kind === 'portal'
          ? PORTAL_POSTS[input.target.i]
          : ACTING_GETS[input.target.i];
    const path = (template ?? '/')
      .replace('{org}', id)
      .replace('{conn}', input.id === 'real' ? connId : id)
      .replace('{id}', id)
      .replaceAll('{token}', token);
    const headers: Record<string, string> = {};
    // The portal session's CSRF token goes anywhere but with its own session to its own posts: that would be a
    // signed-in IT admin, who may write.
    const own = input.target.kind !== 'dashboard' && ['portal', 'garbage'].includes(input.cookie);
    const value = (v: string) => (v === 'real-csrf' ? (own ? `${portalCsrf}x` : portalCsrf) : v);
    const cookieValue = portalCookie.slice('gatehouse_portal='.length);
    const cookie = {
      none: '',
      garbage: `gatehouse_dashboard=${token}; gatehouse_portal=${token}`,
      portal: portalCookie,
      'portal-as-dashboard': `gatehouse_dashboard=${cookieValue}`,
      'portal-under-sign-in-name': `gatehouse_dashboard_sign_in=${cookieValue}`,
      'portal-truncated': portalCookie.slice(0, -5),
      many: Array.from({ length: 50 }, (_, i) => `c${i}=${'x'.repeat(50)}`).join('; '),
    }[input.cookie];
    if (cookie) headers.cookie = cookie;
    if (input.target.kind === 'get') return { method: 'GET', url: path, headers };
    let body: string;
    const fields = input.fields.map(([k, v]) => [k, value(v).toWellFormed()] as const);
    if (input.encoding === 'multipart') {
      const boundary = 'fuzzboundary';
      headers['content-type'] = `multipart/form-data; boundary=${boundary}`;
      body = `${fields.map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`).join('')}--${boundary}\r\nContent-Disposition: form-data; name="metadata_file"; filename="m.xml"\r\nContent-Type: text/xml\r\n\r\n${input.raw}\r\n--${boundary}--\r\n`;
    } else if (input.encoding === 'json') {
      headers['content-type'] = 'application/json';
      body = `{${fields.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
    } else {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = fields.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
      if (input.encoding === 'raw') body += `&${input.raw}`;
    }
    return { method: 'POST', url: path, headers, body };
  }

  it('every form post (and acting GET) without a session: no 5xx, no redirect off Gatehouse, nothing written', async () => {
    assert.ok(portalCsrf, 'the portal CSRF token was read');
    await fuzz(
      'pages',
      pagesInput,
      async (input) => {
        await exercise(
          gh.app,
          () => request(input),
          expect,
          (res) => {
            // The portal session's own posts, without their CSRF token, must not act either: only real-csrf may.
            if (input.target.kind === 'dashboard' && res.status >= 200 && res.status < 300) {
              assert.doesNotMatch(
                res.body,
                /name="csrf"[^>]*value="[^"]+"[\s\S]*Sign out/,
                'a dashboard page as if signed in',
              );
            }
          },
        );
      },
      { runs: 1500, share: 1 },
    );
    // Posts with the real portal session and its CSRF token may act: they are the one exception, checked apart.
    const after_ = await snapshot();
    if (after_ !== before_) {
      const a = before_.split('\n');
      const b = after_.split('\n');
      const changed = a
        .map((line, i) => (line === b[i] ? null : `${line.slice(0, 300)}\n→ ${b[i]?.slice(0, 300)}`))
        .filter(Boolean);
      assert.fail(`the run changed what the management API lists:\n${changed.join('\n')}`);
    }
  });
});
