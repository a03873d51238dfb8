import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type CatalogEntry, catalog, type ErrorCode, redirectWire } from '../../src/errors/catalog.ts';
import { randomToken } from '../../src/lib/tokens.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';

/**
 * Every error /sso/authorize can answer with, triggered by its real condition over HTTP (error-taxonomy.md
 * §1.2–1.4, §5.1, §7): the HTML page when the client or the redirect URI is not verified, otherwise a 302 to
 * the verified redirect URI carrying exactly error, error_description, state (when sent) and iss.
 */

const CALLBACK = 'https://app.example.com/callback';
const CB_TENANT = 'https://app.example.com/cb?tenant=1';
const WILDCARD = 'https://*.preview.example.com/callback';
const LOOPBACK = 'http://localhost:*/callback';
/** Nothing listens here: a connection with this issuer can only fail if the flow reaches the IdP. */
const DEAD_ISSUER = 'http://127.0.0.1:1';
/** A well-formed S256 code_challenge (43 base64url characters). */
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

type Params = Array<[string, string]>;

// ---------- a minimal upstream IdP: a discovery document, so that a valid request visibly succeeds ----------

interface FakeIdp {
  issuer: string;
  authorizationEndpoint: string;
  close(): Promise<void>;
}

async function startFakeIdp(): Promise<FakeIdp> {
  let issuer = '';
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          jwks_uri: `${issuer}/jwks`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
          code_challenge_methods_supported: ['S256'],
        }),
      );
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    authorizationEndpoint: `${issuer}/authorize`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------- setup through the management API ----------

async function addRedirectUri(gh: TestGatehouse, uri: string): Promise<void> {
  const res = await gh.api('POST', '/redirect_uris', { uri });
  assert.equal(res.status, 201, JSON.stringify(res.body));
}

async function createOrganization(
  gh: TestGatehouse,
  name: string,
  domains: Array<{ domain: string; state: 'verified' | 'pending' }> = [],
): Promise<string> {
  const res = await gh.api('POST', '/organizations', { name, domain_data: domains });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.id;
}

/** An OIDC connection; without a client secret it stays a draft. */
async function createOidcConnection(
  gh: TestGatehouse,
  organizationId: string,
  issuer: string,
  options: { draft?: boolean } = {},
): Promise<string> {
  const res = await gh.api('POST', '/connections', {
    organization_id: organizationId,
    connection_type: 'GenericOIDC',
    name: `OIDC ${randomToken(4)}`,
    oidc_options: {
      issuer,
      client_id: 'gatehouse-client',
      ...(options.draft ? {} : { client_secret: 'gatehouse-secret-0123456789' }),
    },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.equal(res.body.state, options.draft ? 'draft' : 'validating');
  return res.body.id;
}

async function deactivateConnection(gh: TestGatehouse, id: string): Promise<void> {
  const res = await gh.api('POST', `/connections/${id}/deactivate`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.state, 'inactive');
}

// ---------- requests ----------

function authorizeUrl(gh: TestGatehouse, params: Params): string {
  return `${gh.url}/sso/authorize?${new URLSearchParams(params).toString()}`;
}

function get(url: string): Promise<Response> {
  return fetch(url, { redirect: 'manual' });
}

// ---------- assertions ----------

/**
 * The 302 back to the app: Location is the verified redirect URI (its own query kept verbatim) plus exactly
 * error, error_description (the catalog's), state (only when sent, exactly as sent) and iss.
 */
async function expectRedirectError(
  gh: TestGatehouse,
  res: Response,
  code: ErrorCode,
  expected: { redirectUri: string; state?: string; oauthProvider?: boolean },
): Promise<URL> {
  const entry: CatalogEntry = catalog[code];
  const wire = redirectWire(entry, expected.oauthProvider ?? false);
  assert.equal(entry.transport, 'redirect', `${code} is not a redirect error`);
  const body = await res.text();
  assert.equal(res.status, 302, `expected a 302 (${code}), got ${res.status}: ${body.slice(0, 400)}`);
  const location = res.headers.get('location');
  assert.ok(location, 'a Location header');
  const separator = expected.redirectUri.includes('?') ? '&' : '?';
  assert.ok(
    location.startsWith(`${expected.redirectUri}${separator}`),
    `Location ${location} must start with ${expected.redirectUri}${separator}`,
  );
  const url = new URL(location);
  const registered = new URL(expected.redirectUri);
  assert.equal(url.origin + url.pathname, registered.origin + registered.pathname);
  assert.equal(url.hash, '');
  const registeredKeys = new Set(registered.searchParams.keys());
  for (const key of registeredKeys) {
    assert.deepEqual(url.searchParams.getAll(key), registered.searchParams.getAll(key), `registered ${key}`);
  }
  const added = [...url.searchParams.keys()].filter((k) => !registeredKeys.has(k)).sort();
  const keys = ['error', 'error_description', 'iss', ...(expected.state === undefined ? [] : ['state'])];
  assert.deepEqual(added, keys.sort(), 'exactly these parameters, each once');
  assert.equal(url.searchParams.get('error'), wire, `error for ${code}`);
  assert.equal(url.searchParams.get('error_description'), entry.description, `error_description for ${code}`);
  assert.equal(url.searchParams.get('iss'), gh.url);
  if (expected.state !== undefined) assert.equal(url.searchParams.get('state'), expected.state);
  assert.equal(res.headers.get('set-cookie'), null, 'an error sets no cookie');
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
  return url;
}

/**
 * The HTML error page: never a Location, never cached, never framed, no referrer, carrying the request ID.
 * `code` may list several acceptable codes when the page is what matters, not which page.
 */
async function expectPage(
  res: Response,
  code: ErrorCode | ErrorCode[],
  mustNotContain: string[] = [],
): Promise<string> {
  const codes = Array.isArray(code) ? code : [code];
  const entry: CatalogEntry = catalog[codes[0] as ErrorCode];
  const body = await res.text();
  assert.equal(res.status, entry.status, `expected ${entry.status} (${code}), got ${res.status}`);
  assert.equal(res.headers.get('location'), null, 'a page never redirects');
  assert.equal(res.headers.get('set-cookie'), null);
  assert.match(res.headers.get('content-type') ?? '', /^text\/html\b/);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
  assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
  const requestId = res.headers.get('x-request-id');
  assert.match(requestId ?? '', /^req_[0-9A-Z]{26}$/);
  assert.ok(body.includes(requestId as string), 'the page shows the request ID');
  assert.ok(
    codes.some((c) => catalog[c].status === entry.status && body.includes(`<code>${c}</code>`)),
    `the page names one of ${codes.join(', ')}`,
  );
  for (const s of mustNotContain)
    assert.ok(!body.includes(s), `the page must not contain ${JSON.stringify(s)}`);
  assert.doesNotMatch(body, /<script/i);
  return body;
}

/** The request got past every check: a 302 to the IdP and the browser binding cookie. */
async function expectUpstream(res: Response, idp: FakeIdp): Promise<URL> {
  const body = await res.text();
  assert.equal(res.status, 302, `expected the hand-off to the IdP, got ${res.status}: ${body.slice(0, 400)}`);
  const location = res.headers.get('location') ?? '';
  assert.ok(location.startsWith(`${idp.authorizationEndpoint}?`), `Location ${location} is not the IdP`);
  assert.match(res.headers.get('set-cookie') ?? '', /^gatehouse_browser=/);
  return new URL(location);
}

// ---------- the tests ----------

describe('/sso/authorize errors', () => {
  let gh: TestGatehouse;
  let idp: FakeIdp;
  /** Organization with exactly one usable connection (to the fake IdP): requests for it succeed. */
  let orgOk: string;
  let connOk: string;
  let orgEmpty: string;
  let orgInactiveOnly: string;
  let connInactive: string;
  let orgDraftOnly: string;
  let connDraft: string;
  let orgTwo: string;
  let connTwoA: string;

  /** A valid request for orgOk; `overrides` replace (or, with null, remove) parameters; `extra` are appended. */
  function base(overrides: Record<string, string | null> = {}, extra: Params = []): Params {
    const params: Record<string, string | null> = {
      client_id: gh.clientId,
      redirect_uri: CALLBACK,
      response_type: 'code',
      organization: orgOk,
      state: 'app-state-1',
      ...overrides,
    };
    const list = Object.entries(params).filter((e): e is [string, string] => e[1] !== null);
    return [...list, ...extra];
  }

  before(async () => {
    gh = await startGatehouse();
    idp = await startFakeIdp();
    for (const uri of [CALLBACK, CB_TENANT, WILDCARD, LOOPBACK]) await addRedirectUri(gh, uri);
    orgOk = await createOrganization(gh, 'Ok');
    connOk = await createOidcConnection(gh, orgOk, idp.issuer);
    orgEmpty = await createOrganization(gh, 'Empty');
    orgInactiveOnly = await createOrganization(gh, 'Inactive only');
    connInactive = await createOidcConnection(gh, orgInactiveOnly, DEAD_ISSUER);
    await deactivateConnection(gh, connInactive);
    orgDraftOnly = await createOrganization(gh, 'Draft only');
    connDraft = await createOidcConnection(gh, orgDraftOnly, DEAD_ISSUER, { draft: true });
    orgTwo = await createOrganization(gh, 'Two connections');
    connTwoA = await createOidcConnection(gh, orgTwo, DEAD_ISSUER);
    await createOidcConnection(gh, orgTwo, idp.issuer);
  });
  after(async () => {
    await gh.close();
    await idp.close();
  });

  describe('the baseline request succeeds (so each error below is caused by its one change)', () => {
    it('hands a valid request built by the SDK off to the IdP', async () => {
      const url = gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: CALLBACK,
        organization: orgOk,
        state: 'app-state-1',
      });
      await expectUpstream(await get(url), idp);
    });

    it('hands the hand-built baseline off to the IdP', async () => {
      await expectUpstream(await get(authorizeUrl(gh, base())), idp);
    });

    it('hands off with connection=, and with PKCE S256', async () => {
      await expectUpstream(
        await get(authorizeUrl(gh, base({ organization: null, connection: connOk }))),
        idp,
      );
      const pkce = base({ code_challenge: CHALLENGE, code_challenge_method: 'S256' });
      await expectUpstream(await get(authorizeUrl(gh, pkce)), idp);
    });

    it('hands off with state and login_hint at their maximum lengths', async () => {
      const params = base({ state: 's'.repeat(4096), login_hint: `${'u'.repeat(500)}@example.com` });
      await expectUpstream(await get(authorizeUrl(gh, params)), idp);
    });
  });

  describe('page: client_id is not verified (HTTP 400, no redirect)', () => {
    it('client_id missing', async () => {
      await expectPage(await get(authorizeUrl(gh, base({ client_id: null }))), 'client_id_missing');
    });

    it('client_id empty', async () => {
      await expectPage(await get(authorizeUrl(gh, base({ client_id: '' }))), 'client_id_missing');
    });

    it('client_id unknown', async () => {
      const res = await get(authorizeUrl(gh, base({ client_id: 'client_attacker_0000' })));
      await expectPage(res, 'client_id_unknown');
    });

    it('client_id with a different case is unknown (no case folding)', async () => {
      const res = await get(authorizeUrl(gh, base({ client_id: gh.clientId.toUpperCase() })));
      await expectPage(res, 'client_id_unknown');
    });

    it('client_id repeated, even with the right value twice', async () => {
      const res = await get(authorizeUrl(gh, base({}, [['client_id', gh.clientId]])));
      await expectPage(res, 'client_id_repeated');
    });

    it('client_id with malformed percent-encoding', async () => {
      const raw = new URLSearchParams(base({ client_id: null })).toString();
      const res = await get(`${gh.url}/sso/authorize?client_id=${gh.clientId}%ZZ&${raw}`);
      await expectPage(res, 'client_id_unknown');
    });

    it('XSS: a client_id carrying <script> is escaped on the page', async () => {
      const attack = '"><script>alert(document.domain)</script>';
      const res = await get(authorizeUrl(gh, base({ client_id: attack })));
      await expectPage(res, 'client_id_unknown', [attack]);
    });

    it('client_id is checked before redirect_uri: both wrong still gives the client page', async () => {
      const res = await get(
        authorizeUrl(gh, base({ client_id: 'client_x', redirect_uri: 'https://evil.com/callback' })),
      );
      await expectPage(res, 'client_id_unknown', ['evil.com']);
    });
  });

  describe('page: redirect_uri is not verified (HTTP 400, no redirect)', () => {
    it('redirect_uri missing', async () => {
      await expectPage(await get(authorizeUrl(gh, base({ redirect_uri: null }))), 'redirect_uri_missing');
    });

    it('redirect_uri empty', async () => {
      await expectPage(await get(authorizeUrl(gh, base({ redirect_uri: '' }))), 'redirect_uri_missing');
    });

    it('redirect_uri repeated, even with two registered URIs', async () => {
      const res = await get(authorizeUrl(gh, base({}, [['redirect_uri', CB_TENANT]])));
      await expectPage(res, 'redirect_uri_repeated');
    });

    it('redirect_uri not on the allowlist', async () => {
      const res = await get(authorizeUrl(gh, base({ redirect_uri: 'https://other.example.net/callback' })));
      await expectPage(res, 'redirect_uri_not_allowed');
    });

    it('redirect_uri with malformed percent-encoding', async () => {
      const raw = new URLSearchParams(base({ redirect_uri: null })).toString();
      const res = await get(`${gh.url}/sso/authorize?${raw}&redirect_uri=${encodeURIComponent(CALLBACK)}%ZZ`);
      await expectPage(res, 'redirect_uri_not_allowed');
    });

    it('XSS: a redirect_uri carrying <script> is escaped on the page', async () => {
      const attack = 'https://evil.com/"><script>alert(document.domain)</script>';
      const res = await get(authorizeUrl(gh, base({ redirect_uri: attack })));
      await expectPage(res, 'redirect_uri_not_allowed', [attack, '"><']);
    });

    it('an unverified redirect_uri wins over every later error (no selector, bad response_type, state)', async () => {
      const res = await get(
        authorizeUrl(gh, [
          ['client_id', gh.clientId],
          ['redirect_uri', 'https://evil.com/callback'],
          ['response_type', 'token'],
          ['state', 'x'],
        ]),
      );
      await expectPage(res, 'redirect_uri_not_allowed');
    });
  });

  describe('page: redirect URI escape attempts', () => {
    const attempts: Array<[string, string]> = [
      ['another host', 'https://evil.com/callback'],
      ['a sibling subdomain of the registered host', 'https://evil.app.example.com/callback'],
      [
        'userinfo: the registered host as user name (app.example.com@evil.com)',
        'https://app.example.com@evil.com/callback',
      ],
      [
        'userinfo: the attacker as user name (evil.com@app.example.com)',
        'https://evil.com@app.example.com/callback',
      ],
      [
        'backslash read as a slash by browsers (evil.com\\@app.example.com)',
        'https://evil.com\\@app.example.com/callback',
      ],
      [
        'backslash in place of the path slash (app.example.com\\callback)',
        'https://app.example.com\\callback',
      ],
      ['upper-case host', 'https://APP.EXAMPLE.COM/callback'],
      ['mixed-case host', 'https://App.example.com/callback'],
      ['upper-case scheme', 'HTTPS://app.example.com/callback'],
      ['upper-case path', 'https://app.example.com/CALLBACK'],
      ['trailing-dot host', 'https://app.example.com./callback'],
      ['percent-encoded dot in the host (%2e)', 'https://app%2eexample.com/callback'],
      ['percent-encoded slash ending the host (%2F)', 'https://app.example.com%2Fcallback'],
      ['percent-encoded letter in the path (%63allback)', 'https://app.example.com/%63allback'],
      ['percent-encoded traversal in the path (%2e%2e)', 'https://app.example.com/callback/%2e%2e/evil'],
      ['percent-encoded slash in the path (%2F..%2F)', 'https://app.example.com/callback%2F..%2Fevil'],
      ['extra path segment', 'https://app.example.com/callback/extra'],
      ['trailing slash', 'https://app.example.com/callback/'],
      ['path prefix match', 'https://app.example.com/callbackevil'],
      ['path traversal out of the registered path', 'https://app.example.com/callback/../evil'],
      ['path traversal back into the registered path', 'https://app.example.com/evil/../callback'],
      ['extra query (open redirect through next=)', 'https://app.example.com/callback?next=https://evil.com'],
      ['empty query appended', 'https://app.example.com/callback?'],
      ['registered query changed', 'https://app.example.com/cb?tenant=2'],
      ['registered query extended', 'https://app.example.com/cb?tenant=1&tenant=2'],
      ['registered query dropped', 'https://app.example.com/cb'],
      ['fragment', 'https://app.example.com/callback#@evil.com'],
      ['different port', 'https://app.example.com:8443/callback'],
      ['explicit default port', 'https://app.example.com:443/callback'],
      ['http instead of https', 'http://app.example.com/callback'],
      ['newline appended (header injection)', 'https://app.example.com/callback\r\nSet-Cookie: x=1'],
      ['NUL appended', 'https://app.example.com/callback\u0000'],
      ['javascript: scheme', 'javascript:alert(document.domain)//https://app.example.com/callback'],
      ['scheme-relative URI', '//app.example.com/callback'],
      [
        'wildcard: parent domain in the path (evil.com/.preview.example.com)',
        'https://evil.com/.preview.example.com/callback',
      ],
      ['wildcard: two labels (a.b.preview.example.com)', 'https://a.b.preview.example.com/callback'],
      [
        'wildcard: parent domain in the query (evil.com?.preview.example.com)',
        'https://evil.com?.preview.example.com/callback',
      ],
      [
        'wildcard: parent domain as a prefix (x.preview.example.com.evil.com)',
        'https://x.preview.example.com.evil.com/callback',
      ],
      [
        'wildcard: userinfo in the label (evil.com@x.preview.example.com)',
        'https://evil.com@x.preview.example.com/callback',
      ],
      ['wildcard: empty label (.preview.example.com)', 'https://.preview.example.com/callback'],
      ['wildcard: the parent domain itself', 'https://preview.example.com/callback'],
      ['wildcard: http', 'http://x.preview.example.com/callback'],
      ['wildcard: extra path segment', 'https://x.preview.example.com/callback/extra'],
      ['port wildcard: non-numeric port (localhost:abc)', 'http://localhost:abc/callback'],
      ['port wildcard: empty port (localhost:)', 'http://localhost:/callback'],
      [
        'port wildcard: userinfo moving the host (localhost:80@evil.com)',
        'http://localhost:80@evil.com/callback',
      ],
      ['port wildcard: another loopback name (127.0.0.1)', 'http://127.0.0.1:3000/callback'],
      ['port wildcard: a host that starts with localhost', 'http://localhost.evil.com:3000/callback'],
    ];
    for (const [name, attack] of attempts) {
      it(name, async () => {
        const res = await get(authorizeUrl(gh, base({ redirect_uri: attack })));
        await expectPage(res, 'redirect_uri_not_allowed');
      });
    }
  });

  describe('redirect: the verified redirect URI receives the error', () => {
    it('keeps the registered query (https://app.example.com/cb?tenant=1)', async () => {
      const res = await get(authorizeUrl(gh, base({ redirect_uri: CB_TENANT, organization: orgEmpty })));
      const res2 = res.clone();
      await expectRedirectError(gh, res, 'organization_without_connection', {
        redirectUri: CB_TENANT,
        state: 'app-state-1',
      });
      assert.ok(res2.headers.get('location')?.startsWith('https://app.example.com/cb?tenant=1&error='));
    });

    it('redirects to a URI matched by the host wildcard', async () => {
      const candidate = 'https://pr-7.preview.example.com/callback';
      const res = await get(authorizeUrl(gh, base({ redirect_uri: candidate, organization: orgEmpty })));
      await expectRedirectError(gh, res, 'organization_without_connection', {
        redirectUri: candidate,
        state: 'app-state-1',
      });
    });

    it('redirects to a URI matched by the loopback port wildcard', async () => {
      const candidate = 'http://localhost:51234/callback';
      const res = await get(authorizeUrl(gh, base({ redirect_uri: candidate, organization: orgEmpty })));
      await expectRedirectError(gh, res, 'organization_without_connection', {
        redirectUri: candidate,
        state: 'app-state-1',
      });
    });

    it('returns state exactly as sent through the SDK: spaces, +, &, =, %, #, unicode', async () => {
      const state = 'a+b c&d=e%20f#g/ü 😀 +';
      const url = gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: CALLBACK,
        organization: orgEmpty,
        state,
      });
      const res = await get(url);
      const location = res.headers.get('location') ?? '';
      await expectRedirectError(gh, res, 'organization_without_connection', { redirectUri: CALLBACK, state });
      // Percent-encoded (space as %20, as in WorkOS's example), so every query decoder reads the same value.
      assert.ok(location.includes(`&state=${encodeURIComponent(state)}&`), location);
    });

    it('omits state when none was sent', async () => {
      const url = gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: CALLBACK,
        organization: orgEmpty,
      });
      await expectRedirectError(gh, await get(url), 'organization_without_connection', {
        redirectUri: CALLBACK,
      });
    });

    it('returns an empty state when an empty state was sent', async () => {
      const res = await get(authorizeUrl(gh, base({ organization: orgEmpty, state: '' })));
      await expectRedirectError(gh, res, 'organization_without_connection', {
        redirectUri: CALLBACK,
        state: '',
      });
    });

    it('uses encodeURIComponent for the description (%20, not +)', async () => {
      const res = await get(authorizeUrl(gh, base({ organization: orgEmpty })));
      assert.ok(
        res.headers
          .get('location')
          ?.includes('error_description=No%20connection%20associated%20with%20organization'),
      );
      await res.text();
    });
  });

  describe('invalid_request / unsupported_response_type', () => {
    it('invalid_request: state repeated (the first state is returned)', async () => {
      const res = await get(authorizeUrl(gh, base({}, [['state', 'second']])));
      await expectRedirectError(gh, res, 'parameter_repeated', {
        redirectUri: CALLBACK,
        state: 'app-state-1',
      });
    });

    it('invalid_request: organization repeated, even with the same value', async () => {
      const res = await get(authorizeUrl(gh, base({}, [['organization', orgOk]])));
      await expectRedirectError(gh, res, 'parameter_repeated', {
        redirectUri: CALLBACK,
        state: 'app-state-1',
      });
    });

    it('invalid_request: response_type repeated', async () => {
      const res = await get(authorizeUrl(gh, base({}, [['response_type', 'code']])));
      await expectRedirectError(gh, res, 'parameter_repeated', {
        redirectUri: CALLBACK,
        state: 'app-state-1',
      });
    });

    it('invalid_request: code_challenge repeated', async () => {
      const params = base({ code_challenge: CHALLENGE, code_challenge_method: 'S256' }, [
        ['code_challenge', CHALLENGE],
      ]);
      await expectRedirectError(gh, await get(authorizeUrl(gh, params)), 'parameter_repeated', {
        redirectUri: CALLBACK,
        state: 'app-state-1',
      });
    });

    it('invalid_request: malformed percent-encoding in a value', async () => {
      const raw = new URLSearchParams(base()).toString();
      const res = await get(`${gh.url}/sso/authorize?${raw}&login_hint=%E0%A4%A`);
      await expectRedirectError(gh, res, 'parameter_malformed', {
        redirectUri: CALLBACK,
        state: 'app-state-1',
      });
    });

    it('invalid_request: malformed percent-encoding in a parameter name', async () => {
      const raw = new URLSearchParams(base()).toString();
      const res = await get(`${gh.url}/sso/authorize?${raw}&%ZZ=1`);
      await expectRedirectError(gh, res, 'parameter_malformed', {
        redirectUri: CALLBACK,
        state: 'app-state-1',
      });
    });

    it('invalid_request: malformed percent-encoding in a selector value', async () => {
      const raw = new URLSearchParams(base({ organization: null })).toString();
      const res = await get(`${gh.url}/sso/authorize?${raw}&organization=${orgOk}%C3`);
      await expectRedirectError(gh, res, 'parameter_malformed', {
        redirectUri: CALLBACK,
        state: 'app-state-1',
      });
    });

    it('invalid_request: response_type missing', async () => {
      const res = await get(authorizeUrl(gh, base({ response_type: null })));
      await expectRedirectError(gh, res, 'response_type_missing', {
        redirectUri: CALLBACK,
        state: 'app-state-1',
      });
    });

    it('invalid_request: response_type empty', async () => {
      const res = await get(authorizeUrl(gh, base({ response_type: '' })));
      await expectRedirectError(gh, res, 'response_type_missing', {
        redirectUri: CALLBACK,
        state: 'app-state-1',
      });
    });

    it('unsupported_response_type: response_type=token', async () => {
      const res = await get(authorizeUrl(gh, base({ response_type: 'token' })));
      await expectRedirectError(gh, res, 'response_type_unsupported', {
        redirectUri: CALLBACK,
        state: 'app-state-1',
      });
    });

    it('unsupported_response_type: response_type=code id_token and CODE', async () => {
      for (const responseType of ['code id_token', 'CODE']) {
        const res = await get(authorizeUrl(gh, base({ response_type: responseType })));
        await expectRedirectError(gh, res, 'response_type_unsupported', {
          redirectUri: CALLBACK,
          state: 'app-state-1',
        });
      }
    });

    it('invalid_request: code_challenge without code_challenge_method', async () => {
      const res = await get(authorizeUrl(gh, base({ code_challenge: CHALLENGE })));
      await expectRedirectError(gh, res, 'pkce_method_missing', {
        redirectUri: CALLBACK,
        state: 'app-state-1',
      });
    });

    it('invalid_request: code_challenge_method=plain (downgrade)', async () => {
      const res = await get(
        authorizeUrl(gh, base({ code_challenge: CHALLENGE, code_challenge_method: 'plain' })),
      );
      await expectRedirectError(gh, res, 'pkce_method_unsupported', {
        redirectUri: CALLBACK,
        state: 'app-state-1',
      });
    });

    it('invalid_request: code_challenge_method=s256 (wrong case)', async () => {
      const res = await get(
        authorizeUrl(gh, base({ code_challenge: CHALLENGE, code_challenge_method: 's256' })),
      );
      await expectRedirectError(gh, res, 'pkce_method_unsupported', {
        redirectUri: CALLBACK,
        state: 'app-state-1',
      });
    });

    it('invalid_request: code_challenge_method=S256 without code_challenge', async () => {
      const res = await get(authorizeUrl(gh, base({ code_challenge_method: 'S256' })));
      await expectRedirectError(gh, res, 'pkce_challenge_missing', {
        redirectUri: CALLBACK,
        state: 'app-state-1',
      });
    });

    it('invalid_request: code_challenge_method=S256 with an empty code_challenge', async () => {
      const res = await get(authorizeUrl(gh, base({ code_challenge: '', code_challenge_method: 'S256' })));
      await expectRedirectError(gh, res, 'pkce_challenge_missing', {
        redirectUri: CALLBACK,
        state: 'app-state-1',
      });
    });

    it('invalid_request: malformed code_challenge (short, long, padded, base64 alphabet)', async () => {
      for (const challenge of [
        CHALLENGE.slice(1),
        `${CHALLENGE}A`,
        `${CHALLENGE.slice(1)}=`,
        `${CHALLENGE.slice(2)}+/`,
        'x'.repeat(128),
      ]) {
        const res = await get(
          authorizeUrl(gh, base({ code_challenge: challenge, code_challenge_method: 'S256' })),
        );
        await expectRedirectError(gh, res, 'pkce_challenge_malformed', {
          redirectUri: CALLBACK,
          state: 'app-state-1',
        });
      }
    });

    it('invalid_request: oversized state (4097 characters), not sent back', async () => {
      const res = await get(authorizeUrl(gh, base({ state: 's'.repeat(4097) })));
      const url = await expectRedirectError(gh, res, 'parameter_malformed', { redirectUri: CALLBACK });
      assert.equal(url.searchParams.has('state'), false);
    });

    it('reflection attack: a 12 000-character state is never echoed into the Location header', async () => {
      // The app state is kept for error redirects only once its length is checked: otherwise anyone could make
      // Gatehouse send kilobytes of their choosing back through a trusted redirect (and past header limits).
      const state = 'A'.repeat(12_000);
      for (const extra of [[], [['state', 'short']]] as Params[]) {
        // Alone, and first of two states: the repeat is reported without either state.
        const res = await get(authorizeUrl(gh, base({ state }, extra)));
        assert.equal(res.status, 302);
        const expected = extra.length === 0 ? catalog.parameter_malformed : catalog.parameter_repeated;
        assert.equal(
          res.headers.get('location'),
          `${CALLBACK}?error=invalid_request&error_description=${encodeURIComponent(expected.description)}` +
            `&iss=${encodeURIComponent(gh.url)}`,
        );
        assert.equal(res.headers.get('set-cookie'), null);
        assert.ok(!(await res.text()).includes('AAAA'), 'nor in the body');
      }
    });

    it('invalid_request: oversized login_hint (513 characters)', async () => {
      const res = await get(authorizeUrl(gh, base({ login_hint: 'u'.repeat(513) })));
      await expectRedirectError(gh, res, 'parameter_malformed', {
        redirectUri: CALLBACK,
        state: 'app-state-1',
      });
    });

    it('invalid_request: oversized domain_hint (254 characters)', async () => {
      const res = await get(authorizeUrl(gh, base({ domain_hint: 'd'.repeat(254) })));
      await expectRedirectError(gh, res, 'parameter_malformed', {
        redirectUri: CALLBACK,
        state: 'app-state-1',
      });
    });

    it('request errors come before selector errors (no selector and response_type=token)', async () => {
      const res = await get(authorizeUrl(gh, base({ organization: null, response_type: 'token' })));
      await expectRedirectError(gh, res, 'response_type_unsupported', {
        redirectUri: CALLBACK,
        state: 'app-state-1',
      });
    });
  });

  describe('invalid_connection_selector', () => {
    it('none of connection, organization or provider', async () => {
      const res = await get(authorizeUrl(gh, base({ organization: null })));
      await expectRedirectError(gh, res, 'selector_missing', { redirectUri: CALLBACK, state: 'app-state-1' });
    });

    it('only empty selectors (organization=&connection=)', async () => {
      const res = await get(authorizeUrl(gh, base({ organization: '', connection: '' })));
      await expectRedirectError(gh, res, 'selector_missing', { redirectUri: CALLBACK, state: 'app-state-1' });
    });

    it('two selectors: organization and connection, even when they agree', async () => {
      const res = await get(authorizeUrl(gh, base({ connection: connOk })));
      await expectRedirectError(gh, res, 'selector_multiple', {
        redirectUri: CALLBACK,
        state: 'app-state-1',
      });
    });

    it('two selectors: organization and provider', async () => {
      const res = await get(authorizeUrl(gh, base({ provider: 'GoogleOAuth' })));
      await expectRedirectError(gh, res, 'selector_multiple', {
        redirectUri: CALLBACK,
        state: 'app-state-1',
      });
    });

    it('provider=GoogleOAuth when no GoogleOAuth connection is configured', async () => {
      const url = gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: CALLBACK,
        provider: 'GoogleOAuth',
        state: 'p',
      });
      await expectRedirectError(gh, await get(url), 'provider_not_configured', {
        redirectUri: CALLBACK,
        state: 'p',
      });
    });
  });

  describe('organization_invalid', () => {
    it('unknown organization ID', async () => {
      const url = gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: CALLBACK,
        organization: 'org_01J0000000000000000000000X',
        state: 'o',
      });
      const location = await expectRedirectError(gh, await get(url), 'organization_not_found', {
        redirectUri: CALLBACK,
        state: 'o',
      });
      assert.equal(location.searchParams.get('error'), 'organization_invalid');
      assert.equal(
        location.searchParams.get('error_description'),
        'No organization matches the provided ID.',
      );
    });

    it('organization with no connection', async () => {
      const url = gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: CALLBACK,
        organization: orgEmpty,
        state: 'o',
      });
      const location = await expectRedirectError(gh, await get(url), 'organization_without_connection', {
        redirectUri: CALLBACK,
        state: 'o',
      });
      assert.equal(location.searchParams.get('error'), 'organization_invalid');
      assert.equal(
        location.searchParams.get('error_description'),
        'No connection associated with organization',
      );
    });

    it('organization whose only connection is inactive', async () => {
      const url = gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: CALLBACK,
        organization: orgInactiveOnly,
        state: 'o',
      });
      await expectRedirectError(gh, await get(url), 'organization_without_connection', {
        redirectUri: CALLBACK,
        state: 'o',
      });
    });

    it('organization whose only connection is a draft', async () => {
      const url = gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: CALLBACK,
        organization: orgDraftOnly,
        state: 'o',
      });
      await expectRedirectError(gh, await get(url), 'organization_without_connection', {
        redirectUri: CALLBACK,
        state: 'o',
      });
    });
  });

  describe('connection_invalid / connection_unlinked', () => {
    it('connection_invalid: unknown connection ID', async () => {
      const url = gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: CALLBACK,
        connection: 'conn_01J0000000000000000000000X',
        state: 'c',
      });
      await expectRedirectError(gh, await get(url), 'connection_not_found', {
        redirectUri: CALLBACK,
        state: 'c',
      });
    });

    it('connection_invalid: an organization ID passed as connection', async () => {
      const url = gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: CALLBACK,
        connection: orgOk,
        state: 'c',
      });
      await expectRedirectError(gh, await get(url), 'connection_not_found', {
        redirectUri: CALLBACK,
        state: 'c',
      });
    });

    it('connection_unlinked: draft connection', async () => {
      const url = gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: CALLBACK,
        connection: connDraft,
        state: 'c',
      });
      await expectRedirectError(gh, await get(url), 'connection_unlinked', {
        redirectUri: CALLBACK,
        state: 'c',
      });
    });

    it('connection_unlinked: inactive connection', async () => {
      const url = gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: CALLBACK,
        connection: connInactive,
        state: 'c',
      });
      await expectRedirectError(gh, await get(url), 'connection_unlinked', {
        redirectUri: CALLBACK,
        state: 'c',
      });
    });
  });

  describe('ambiguous_connection_selector', () => {
    it('organization with two usable connections', async () => {
      const url = gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: CALLBACK,
        organization: orgTwo,
        state: 'a',
      });
      await expectRedirectError(gh, await get(url), 'organization_ambiguous', {
        redirectUri: CALLBACK,
        state: 'a',
      });
    });

    it('resolves once one of the two is deactivated', async () => {
      await deactivateConnection(gh, connTwoA);
      const url = gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: CALLBACK,
        organization: orgTwo,
        state: 'a',
      });
      const res = await get(url);
      assert.notEqual(
        new URL(res.headers.get('location') ?? 'about:blank').searchParams.get('error'),
        'ambiguous_connection_selector',
      );
      // The remaining connection is the one on the fake IdP.
      await expectUpstream(res, idp);
    });
  });

  describe('domain_connection_selector_not_allowed (legacy domain selector off, the default)', () => {
    it('domain=acme.com', async () => {
      const res = await get(authorizeUrl(gh, base({ organization: null, domain: 'acme.com' })));
      await expectRedirectError(gh, res, 'domain_selector_not_allowed', {
        redirectUri: CALLBACK,
        state: 'app-state-1',
      });
    });

    it('domain=acme.com next to a valid organization', async () => {
      const res = await get(authorizeUrl(gh, base({ domain: 'acme.com' })));
      await expectRedirectError(gh, res, 'domain_selector_not_allowed', {
        redirectUri: CALLBACK,
        state: 'app-state-1',
      });
    });
  });

  describe('error descriptions (RFC 6749 §4.1.2.1, App. A.7–A.8)', () => {
    it('every redirect entry of the catalog uses only %x20-21 / %x23-5B / %x5D-7E, under 200 characters', () => {
      const entries = Object.entries(catalog as Record<string, CatalogEntry>).filter(
        ([, e]) => e.transport === 'redirect',
      );
      assert.ok(entries.length > 0);
      for (const [code, entry] of entries) {
        assert.match(entry.description, /^[\x20\x21\x23-\x5b\x5d-\x7e]+$/, `${code} description`);
        assert.ok(entry.description.length < 200, `${code} description length`);
        assert.match(entry.wire, /^[a-z_]+$/, `${code} wire code`);
        assert.equal(entry.status, 302, `${code} status`);
      }
    });
  });
});

describe('/sso/authorize with GATEHOUSE_LEGACY_DOMAIN_SELECTOR=on', () => {
  let gh: TestGatehouse;
  let idp: FakeIdp;
  let orgAcme: string;

  before(async () => {
    gh = await startGatehouse({ env: { GATEHOUSE_LEGACY_DOMAIN_SELECTOR: 'on' } });
    idp = await startFakeIdp();
    await addRedirectUri(gh, CALLBACK);
    orgAcme = await createOrganization(gh, 'Acme', [
      { domain: 'acme.com', state: 'verified' },
      { domain: 'acme-pending.com', state: 'pending' },
    ]);
    await createOidcConnection(gh, orgAcme, idp.issuer);
    const orgNoConnection = await createOrganization(gh, 'No connection', [
      { domain: 'noconn.com', state: 'verified' },
    ]);
    const inactive = await createOidcConnection(gh, orgNoConnection, DEAD_ISSUER);
    await deactivateConnection(gh, inactive);
  });
  after(async () => {
    await gh.close();
    await idp.close();
  });

  function domainUrl(domain: string, extra: Params = []): string {
    return authorizeUrl(gh, [
      ['client_id', gh.clientId],
      ['redirect_uri', CALLBACK],
      ['response_type', 'code'],
      ['domain', domain],
      ['state', 'd'],
      ...extra,
    ]);
  }

  it('connection_domain_invalid: unknown domain', async () => {
    const res = await get(domainUrl('unknown.example.com'));
    await expectRedirectError(gh, res, 'domain_without_connection', { redirectUri: CALLBACK, state: 'd' });
  });

  it('connection_domain_invalid: domain only pending, not verified', async () => {
    const res = await get(domainUrl('acme-pending.com'));
    await expectRedirectError(gh, res, 'domain_without_connection', { redirectUri: CALLBACK, state: 'd' });
  });

  it('connection_domain_invalid: a subdomain of a verified domain', async () => {
    const res = await get(domainUrl('sub.acme.com'));
    await expectRedirectError(gh, res, 'domain_without_connection', { redirectUri: CALLBACK, state: 'd' });
  });

  it('connection_domain_invalid: verified domain whose organization has no usable connection', async () => {
    const res = await get(domainUrl('noconn.com'));
    await expectRedirectError(gh, res, 'domain_without_connection', { redirectUri: CALLBACK, state: 'd' });
  });

  it('invalid_connection_selector: domain next to organization', async () => {
    const res = await get(domainUrl('acme.com', [['organization', orgAcme]]));
    await expectRedirectError(gh, res, 'selector_multiple', { redirectUri: CALLBACK, state: 'd' });
  });

  it('a verified domain resolves to its organization connection', async () => {
    await expectUpstream(await get(domainUrl('acme.com')), idp);
  });
});

describe('/sso/authorize provider selector', () => {
  let gh: TestGatehouse;

  before(async () => {
    gh = await startGatehouse();
    await addRedirectUri(gh, CALLBACK);
  });
  after(() => gh.close());

  function providerUrl(): string {
    return gh.workos.sso.getAuthorizationUrl({
      clientId: gh.clientId,
      redirectUri: CALLBACK,
      provider: 'GoogleOAuth',
      state: 'g',
    });
  }

  /** A Google connection whose `base_url` is a closed loopback port: Google cannot be reached. */
  async function insertGoogleConnection(): Promise<void> {
    const res = await gh.api('POST', '/connections', {
      connection_type: 'GoogleOAuth',
      name: `Google ${randomToken(4)}`,
      oauth_options: {
        client_id: 'google-client',
        client_secret: 'google-secret',
        base_url: 'http://127.0.0.1:1',
      },
    });
    assert.equal(res.status, 201);
  }

  it('invalid_connection_selector: no GoogleOAuth connection configured', async () => {
    await expectRedirectError(gh, await get(providerUrl()), 'provider_not_configured', {
      redirectUri: CALLBACK,
      state: 'g',
    });
  });

  it('oauth_failed, not server_error: the one GoogleOAuth connection cannot reach Google', async () => {
    await insertGoogleConnection();
    await expectRedirectError(gh, await get(providerUrl()), 'upstream_unavailable', {
      redirectUri: CALLBACK,
      state: 'g',
      oauthProvider: true,
    });
  });

  it('connection_strategy_invalid: two GoogleOAuth connections', async () => {
    await insertGoogleConnection();
    await expectRedirectError(gh, await get(providerUrl()), 'provider_ambiguous', {
      redirectUri: CALLBACK,
      state: 'g',
    });
  });

  it('the provider name is matched exactly (googleoauth is not configured)', async () => {
    const url = gh.workos.sso.getAuthorizationUrl({
      clientId: gh.clientId,
      redirectUri: CALLBACK,
      provider: 'googleoauth',
      state: 'g',
    });
    await expectRedirectError(gh, await get(url), 'provider_not_configured', {
      redirectUri: CALLBACK,
      state: 'g',
    });
  });
});

describe('/sso/authorize server_error', () => {
  let gh: TestGatehouse;
  let idp: FakeIdp;
  let orgId: string;

  before(async () => {
    gh = await startGatehouse();
    idp = await startFakeIdp();
    await addRedirectUri(gh, CALLBACK);
    orgId = await createOrganization(gh, 'Unreachable IdP');
  });
  after(async () => {
    await gh.close();
    await idp.close();
  });

  it('an unreachable IdP gives server_error and writes nothing (no transaction, no cookie)', async () => {
    const connection = await createOidcConnection(gh, orgId, DEAD_ISSUER);
    const url = gh.workos.sso.getAuthorizationUrl({
      clientId: gh.clientId,
      redirectUri: CALLBACK,
      connection,
      state: 's e',
    });
    await expectRedirectError(gh, await get(url), 'upstream_unavailable', {
      redirectUri: CALLBACK,
      state: 's e',
    });
    assert.equal(await gh.store.deleteExpiredLoginTransactions(new Date(Date.now() + 3600e3)), 0);
  });

  it('(control) a reachable IdP writes one transaction, which the same count sees', async () => {
    const other = await createOrganization(gh, 'Reachable IdP');
    const connection = await createOidcConnection(gh, other, idp.issuer);
    const url = gh.workos.sso.getAuthorizationUrl({
      clientId: gh.clientId,
      redirectUri: CALLBACK,
      connection,
      state: 's',
    });
    await expectUpstream(await get(url), idp);
    assert.equal(await gh.store.deleteExpiredLoginTransactions(new Date(Date.now() + 3600e3)), 1);
  });
});

describe('/sso/authorize internal failures', () => {
  let gh: TestGatehouse;

  before(async () => {
    gh = await startGatehouse();
    await addRedirectUri(gh, CALLBACK);
  });
  after(() => gh.close());

  it('a storage failure after the redirect URI is verified redirects server_error without details', async () => {
    const original = gh.store.getOrganization;
    gh.store.getOrganization = async () => {
      throw new Error('SQLITE_IOERR: disk I/O error at /var/lib/gatehouse/secret.db');
    };
    gh.clearConfigCache();
    try {
      const url = gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: CALLBACK,
        organization: 'org_01J0000000000000000000000X',
        state: 'i',
      });
      const res = await get(url);
      const location = res.headers.get('location') ?? '';
      await expectRedirectError(gh, res, 'authorize_internal', { redirectUri: CALLBACK, state: 'i' });
      assert.doesNotMatch(decodeURIComponent(location), /SQLITE|disk|secret/);
    } finally {
      gh.store.getOrganization = original;
    }
  });

  it('a storage failure while checking the redirect URI gives a 500 page, never a redirect', async () => {
    const original = gh.store.listRedirectUris;
    gh.store.listRedirectUris = async () => {
      throw new Error('SQLITE_IOERR: disk I/O error at /var/lib/gatehouse/secret.db');
    };
    gh.clearConfigCache();
    try {
      const url = gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: CALLBACK,
        organization: 'org_01J0000000000000000000000X',
        state: 'i',
      });
      const res = await get(url);
      const body = await res.text();
      assert.equal(res.status, 500);
      assert.equal(res.headers.get('location'), null);
      assert.match(res.headers.get('content-type') ?? '', /^text\/html\b/);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
      assert.ok(body.includes(res.headers.get('x-request-id') as string));
      assert.doesNotMatch(body, /SQLITE|disk|secret/);
    } finally {
      gh.store.listRedirectUris = original;
    }
  });
});
