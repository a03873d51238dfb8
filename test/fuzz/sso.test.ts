import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { consentForm, TestBrowser } from '../helpers/browser.ts';
import { startGatehouse, TEST_API_KEY, TEST_CLIENT_ID, type TestGatehouse } from '../helpers/gatehouse.ts';
import { connectOidcIdp, type OidcSetup } from '../helpers/oidc-idp.ts';
import { type GitHubStandIn, startGitHub } from '../helpers/providers.ts';
import {
  type Expectations,
  exercise,
  type FuzzRequest,
  fuzz,
  hostileString,
  oversize,
  rawEncoded,
  trickyUnicode,
} from './harness.ts';

/**
 * Property-based fuzzing of the browser and OAuth endpoints (issue 15): /sso/authorize, the OIDC and provider
 * callbacks (a real oidc-provider upstream), /sso/consent, /sso/token and /sso/profile. Every request, through
 * app.inject in this process: never a 5xx, never a redirect the independent oracle (oracle.ts) refuses, no secret
 * or upstream text in any response, CPU within the bound (harness.ts).
 */

const APP = 'http://localhost:3000/callback';
/** The allowlist: exact entries of several shapes and both documented wildcards. */
const ALLOWLIST = [
  APP,
  'https://app.example.com/cb?x=1',
  'https://app.example.com/callback/',
  'https://*.preview.example.com/callback',
  'https://pr-*-app.example.com/cb',
  'http://localhost:*/cb',
  'http://[::1]:8080/callback',
  'https://xn--bcher-kva.example/cb',
  'http://127.0.0.1:4000/a/b?c=d%20e',
];
const SECRET_KEY = 'cafe'.repeat(16);
const UPSTREAM_CANARY = 'UPSTREAM-CANARY-7f3a91';

describe('fuzz: /sso endpoints', () => {
  let gh: TestGatehouse;
  let setup: OidcSetup;
  let expect: Expectations;
  let authorizeBase: string;
  let callbackPath: string;
  /** The provider connection (GitHubOAuth, to a loopback stand-in): `/sso/oauth/callback/…`. */
  let github: GitHubStandIn;
  let githubAuthorize: string;
  let githubCallbackUrl: string;
  const codes: string[] = [];
  let accessToken = '';

  /** A real sign-in through oidc-provider up to Gatehouse's consent screen: its token and the browser's cookies. */
  async function consentScreen(): Promise<{ token: string; cookie: string }> {
    const browser = new TestBrowser();
    const url = gh.workos.sso.getAuthorizationUrl({
      clientId: TEST_CLIENT_ID,
      organization: setup.orgId,
      redirectUri: APP,
      state: 'app-state',
    });
    const { res } = await browser.signInAtIdp(url, 'ada@acme.com', setup.idp.issuer, APP);
    const { token } = consentForm(await res.text());
    return { token, cookie: browser.cookieHeader(new URL('/sso/consent', gh.url)) };
  }

  before(async () => {
    gh = await startGatehouse({ env: { GATEHOUSE_RATE_LIMITS: 'off', GATEHOUSE_SECRET_KEY: SECRET_KEY } });
    for (const uri of ALLOWLIST) {
      const res = await gh.api('POST', '/redirect_uris', { uri });
      assert.equal(res.status, 201, `${uri}: ${JSON.stringify(res.body)}`);
    }
    setup = await connectOidcIdp(gh, {
      idp: {
        // The IdP's token errors carry the canary: Gatehouse must never pass the IdP's text on.
        middleware: async (ctx, next) => {
          await next();
          if (ctx.path === '/token' && ctx.status >= 400 && ctx.body && typeof ctx.body === 'object') {
            ctx.body = { ...(ctx.body as object), error_description: UPSTREAM_CANARY };
          }
        },
      },
    });
    expect = {
      rules: { gatehouse: gh.url, upstreamOrigins: [new URL(setup.idp.issuer).origin], allowlist: ALLOWLIST },
      canaries: [TEST_API_KEY, setup.idp.clientSecret, SECRET_KEY, UPSTREAM_CANARY],
    };
    const url = new URL(
      gh.workos.sso.getAuthorizationUrl({
        clientId: TEST_CLIENT_ID,
        organization: setup.orgId,
        redirectUri: APP,
        state: 'app-state',
      }),
    );
    authorizeBase = `${url.pathname}${url.search}`;
    callbackPath = new URL(setup.callbackUrl).pathname;
    github = await startGitHub();
    github.autoLogin = 'octocat';
    const provider = await gh.api('POST', '/connections', {
      connection_type: 'GitHubOAuth',
      oauth_options: {
        client_id: github.clientId,
        client_secret: github.clientSecret,
        base_url: github.baseUrl,
        api_base_url: github.apiBase,
      },
    });
    assert.equal(provider.status, 201, JSON.stringify(provider.body));
    githubCallbackUrl = provider.body.oauth_options.redirect_uri;
    await github.allowRedirectUri(githubCallbackUrl);
    const githubUrl = new URL(
      gh.workos.sso.getAuthorizationUrl({
        clientId: TEST_CLIENT_ID,
        provider: 'GitHubOAuth',
        redirectUri: APP,
        state: 'app-state',
      }),
    );
    githubAuthorize = `${githubUrl.pathname}${githubUrl.search}`;
    expect.canaries = [...expect.canaries, github.clientSecret];
    expect.rules = {
      ...expect.rules,
      upstreamOrigins: [...expect.rules.upstreamOrigins, new URL(github.baseUrl).origin],
    };
    // One whole sign-in for a real access token (and the code it came from, now used).
    const { token, cookie } = await consentScreen();
    const allowed = await gh.app.inject({
      method: 'POST',
      url: '/sso/consent',
      headers: { cookie, origin: gh.url, 'content-type': 'application/x-www-form-urlencoded' },
      payload: `consent_token=${encodeURIComponent(token)}&decision=approve`,
    });
    assert.ok(
      allowed.headers.location,
      `${allowed.statusCode} ${allowed.body.replace(/<style>[\s\S]*<\/style>/, '').slice(0, 1200)}`,
    );
    const code = new URL(String(allowed.headers.location)).searchParams.get('code');
    assert.ok(code, `no code: ${allowed.statusCode} ${allowed.body.slice(0, 300)}`);
    const exchanged = await gh.workos.sso.getProfileAndToken({ code, clientId: TEST_CLIENT_ID });
    accessToken = exchanged.accessToken;
    codes.push(code);
  });

  after(async () => {
    await gh?.close();
    await setup?.idp.close();
    await github?.close();
  });

  // ---- /sso/authorize ----------------------------------------------------------------------------------------

  /** Redirect URI variants around the allowlist's entries: each is one edit a browser or an attacker might make. */
  const redirectVariant = fc
    .tuple(
      fc.constantFrom(...ALLOWLIST.map((e) => e.replace(':*', ':3001').replace('*', 'x'))),
      fc.array(
        fc.oneof(
          fc.constantFrom(
            (u: string) => u.toUpperCase(),
            (u: string) => u.replace('://', '://X').replace(/^http/, 'HTTP'),
            (u: string) => (u.endsWith('/') ? u.slice(0, -1) : `${u}/`),
            (u: string) => u.replace(/(\/\/[^/?]+)/, '$1:443'),
            (u: string) => u.replace(/(\/\/[^/?]+)/, '$1:80'),
            (u: string) => u.replace('://', '://evil.example@'),
            (u: string) => u.replace(/(\/\/[^/?]+)/, '$1@evil.example'),
            (u: string) => u.replace(/(\/\/[^/?]+)/, '$1\\@evil.example'),
            (u: string) => u.replace(/(\/\/[^/?]+)/, '$1\\evil.example'),
            (u: string) => u.replace(/(\/\/[^/?]+)\//, '$1//'),
            (u: string) => `${u}#frag`,
            (u: string) => u.replace(/(\/\/[^/?]+)\//, '$1/x/../'),
            (u: string) => u.replace(/(\/\/[^/?]+)\//, '$1/./'),
            (u: string) => u.replace('xn--bcher-kva', 'b\u00fccher'),
            (u: string) => u.replace('[::1]', '[0:0:0:0:0:0:0:1]'),
            (u: string) => u.replace('localhost', '127.0.0.1'),
            (u: string) => u.replace('x.preview', 'a.b.preview'),
            (u: string) => u.replace('x.preview', '.preview'),
            (u: string) => u.replace('x.preview', 'evil.example/.preview'),
            (u: string) => u.replace('x.preview', 'evil.example?.preview'),
            (u: string) => u.replace('x.preview', 'evil.example#.preview'),
            (u: string) => u.replace('pr-x-app', 'pr--app'),
            (u: string) => u.replace(':3001', ':0'),
            (u: string) => u.replace(':3001', ':65536'),
            (u: string) => u.replace(':3001', ':99999'),
            (u: string) => u.replace(':3001', ':03001'),
            (u: string) => u.replace(':3001', ':3001:3002'),
            (u: string) => u.replace('https:', 'http:'),
            (u: string) => u.replace(/\?.*$/, ''),
            (u: string) => `${u}?y=2`,
            (u: string) => `${u}&y=2`,
            (u: string) => u.replace('example.com', 'example.com.'),
            (u: string) => u.replace('app.example.com', 'app.example.com.evil.example'),
            (u: string) => u.replace('/c', '/%63'),
            (u: string) => u.replace('.', '%2e'),
            (u: string) => u.replace('://', ':/'),
            (u: string) => u.replace('://', ':\\\\'),
            (u: string) => ` ${u}`,
            (u: string) => `${u}\t`,
          ),
          fc
            .tuple(
              fc.nat(),
              fc.constantFrom('@', '\\', '/', '#', '?', '.', ':', '%', '*', ' ', '\u00e9', '\uff0e'),
            )
            .map(
              ([at, ch]) =>
                (u: string) =>
                  `${u.slice(0, at % (u.length + 1))}${ch}${u.slice(at % (u.length + 1))}`,
            ),
        ),
        { maxLength: 2 },
      ),
    )
    .map(([base, edits]) => edits.reduce((u, edit) => edit(u), base));

  const PARAMS = [
    'client_id',
    'redirect_uri',
    'response_type',
    'state',
    'organization',
    'connection',
    'provider',
    'code_challenge',
    'code_challenge_method',
    'login_hint',
    'domain_hint',
    'provider_scopes',
    'provider_query_params[prompt]',
    'domain',
    'iss',
  ];
  /** Percent-encodes as the SDK does (a lone surrogate, which cannot be encoded, becomes U+FFFD; rawEncoded sends it raw). */
  const encoded = (s: string) => encodeURIComponent(s.toWellFormed());
  /** One mutation of one field of a valid request. Mutations are plain data so that failures can be saved. */
  const authorizeInput = fc.record({
    // `none`: no selector, an error sent to the app's redirect URI (where a wrong URI would show).
    selector: fc.constantFrom('none', 'organization', 'connection', 'provider'),
    redirect: fc.oneof(fc.constantFrom(...ALLOWLIST), redirectVariant),
    state: fc.oneof(fc.string({ maxLength: 30 }), trickyUnicode),
    pkce: fc.boolean(),
    mutation: fc.oneof(
      fc.constant({ op: 'none' as const }),
      fc.record({ op: fc.constant('remove' as const), param: fc.constantFrom(...PARAMS) }),
      fc.record({ op: fc.constant('duplicate' as const), param: fc.constantFrom(...PARAMS) }),
      fc.record({ op: fc.constant('empty' as const), param: fc.constantFrom(...PARAMS) }),
      fc.record({
        op: fc.constant('replace' as const),
        param: fc.constantFrom(...PARAMS),
        raw: fc.oneof(hostileString.map(encoded), rawEncoded, oversize),
      }),
      fc.record({
        op: fc.constant('append' as const),
        raw: fc.oneof(
          fc
            .tuple(fc.oneof(fc.constantFrom(...PARAMS), fc.string({ maxLength: 8 })), hostileString)
            .map(([k, v]) => `${encoded(k)}=${encoded(v)}`),
          rawEncoded,
          fc.constantFrom('&&&', '=', '==', 'a', '&=x', ';state=x', 'provider_query_params[]=x'),
        ),
      }),
      fc.record({ op: fc.constant('plus' as const), param: fc.constantFrom(...PARAMS) }),
    ),
  });
  type AuthorizeInput = typeof authorizeInput extends fc.Arbitrary<infer T> ? T : never;

  function authorizeUrl(input: AuthorizeInput): string {
    const selectorValue =
      input.selector === 'organization'
        ? setup.orgId
        : input.selector === 'connection'
          ? setup.connectionId
          : 'GoogleOAuth';
    const pairs: [string, string][] = [
      ['client_id', encoded(TEST_CLIENT_ID)],
      ['redirect_uri', encoded(input.redirect)],
      ['response_type', 'code'],
      ['state', encoded(input.state)],
      ...(input.selector === 'none' ? [] : [[input.selector, encoded(selectorValue)] as [string, string]]),
    ];
    pairs.sort(([a], [b]) => (a < b ? -1 : 1)); // the SDK's order
    if (input.pkce) {
      pairs.push(
        ['code_challenge', 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'],
        ['code_challenge_method', 'S256'],
      );
    }
    const m = input.mutation;
    const index = 'param' in m ? pairs.findIndex(([k]) => k === m.param) : -1;
    switch (m.op) {
      case 'remove':
        if (index >= 0) pairs.splice(index, 1);
        break;
      case 'duplicate':
        pairs.push(index >= 0 ? (pairs[index] as [string, string]) : [m.param, 'x']);
        break;
      case 'empty':
        if (index >= 0) pairs[index] = [m.param, ''];
        else pairs.push([m.param, '']);
        break;
      case 'replace':
        if (index >= 0) pairs[index] = [m.param, m.raw];
        else pairs.push([m.param, m.raw]);
        break;
      case 'plus':
        if (index >= 0) pairs[index] = [m.param, `${pairs[index]?.[1]}+`];
        break;
      case 'append':
        return `/sso/authorize?${pairs.map(([k, v]) => `${encoded(k)}=${v}`).join('&')}&${m.raw}`;
    }
    return `/sso/authorize?${pairs.map(([k, v]) => `${encoded(k)}=${v}`).join('&')}`;
  }

  it('/sso/authorize: the SDK request, one field mutated', async () => {
    // The generator's valid request is the SDK's: same parameters, same encoding.
    assert.equal(
      authorizeUrl({
        selector: 'organization',
        redirect: APP,
        state: 'app-state',
        pkce: false,
        mutation: { op: 'none' },
      }),
      authorizeBase,
    );
    await fuzz(
      'authorize',
      authorizeInput,
      async (input) => {
        await exercise(gh.app, () => ({ method: 'GET', url: authorizeUrl(input), headers: {} }), expect);
      },
      { runs: 2000, share: 0.3 },
    );
  });

  // ---- the OIDC and provider callbacks ---------------------------------------------------------------------

  /** A fresh sign-in's state and binding cookie, from Gatehouse's redirect to the IdP. */
  async function freshSignIn(path: 'oidc' | 'oauth' = 'oidc'): Promise<{ state: string; cookie: string }> {
    const res = await gh.app.inject({
      method: 'GET',
      url: path === 'oidc' ? authorizeBase : githubAuthorize,
    });
    const location = new URL(String(res.headers.location));
    const setCookie = res.headers['set-cookie'];
    const line = Array.isArray(setCookie) ? setCookie[0] : setCookie;
    return { state: location.searchParams.get('state') ?? '', cookie: String(line).split(';')[0] ?? '' };
  }

  const valueEdit = fc.oneof(
    { arbitrary: fc.constant({ op: 'keep' as const }), weight: 7 },
    fc.constant({ op: 'absent' as const }),
    fc.constant({ op: 'repeat' as const }),
    fc.constant({ op: 'empty' as const }),
    fc.record({ op: fc.constant('flip' as const), at: fc.nat() }),
    fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({
      op: fc.constant('append' as const),
      raw: fc.oneof(rawEncoded, fc.string({ maxLength: 5 }).map(encoded)),
    }),
    fc.record({ op: fc.constant('replace' as const), raw: fc.oneof(hostileString.map(encoded), rawEncoded) }),
  );
  type ValueEdit = typeof valueEdit extends fc.Arbitrary<infer T> ? T : never;

  /** Applies an edit to an (unencoded) value; returns the raw query pairs for `name`. */
  function edited(name: string, value: string, edit: ValueEdit): string[] {
    const pair = (raw: string) => `${name}=${raw}`;
    switch (edit.op) {
      case 'keep':
        return [pair(encoded(value))];
      case 'absent':
        return [];
      case 'repeat':
        return [pair(encoded(value)), pair(encoded(value))];
      case 'empty':
        return [pair('')];
      case 'flip': {
        const at = value.length ? edit.at % value.length : 0;
        const c = value[at] === 'A' ? 'B' : 'A';
        return [pair(encoded(`${value.slice(0, at)}${c}${value.slice(at + 1)}`))];
      }
      case 'truncate':
        return [pair(encoded(value.slice(0, value.length ? edit.at % value.length : 0)))];
      case 'append':
        return [pair(`${encoded(value)}${edit.raw}`)];
      case 'replace':
        return [pair(edit.raw)];
    }
  }

  const callbackInput = fc.record({
    // A real sign-in at the IdP: its own code, state, iss and cookie (then edited like the rest); else a fresh
    // authorize's state and cookie with the generated code.
    real: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    focus: fc.constantFrom('none', 'state', 'code', 'error', 'iss', 'cookie', 'key'),
    path: fc.constantFrom('oidc', 'oauth'),
    key: fc.oneof(
      { weight: 6, arbitrary: fc.constant('own') },
      // The other connection's callback: the OIDC sign-in's state at the provider callback, and back.
      { weight: 1, arbitrary: fc.constant('other') },
      { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
      { weight: 1, arbitrary: rawEncoded },
    ),
    state: valueEdit,
    code: fc.oneof(
      fc.constant(null),
      hostileString,
      fc.string({
        unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_'),
        minLength: 43,
        maxLength: 43,
      }),
    ),
    repeatCode: fc.boolean(),
    error: fc.option(
      fc.record({
        error: fc.oneof(
          fc.constantFrom('access_denied', 'login_required', 'server_error', 'temporarily_unavailable'),
          hostileString,
        ),
        description: fc.boolean(),
        uri: fc.boolean(),
      }),
    ),
    iss: fc.oneof(
      fc.constant({ op: 'keep' as const }),
      fc.constant({ op: 'absent' as const }),
      fc.constant({ op: 'repeat' as const }),
      fc.record({
        op: fc.constant('replace' as const),
        raw: fc.oneof(
          hostileString.map(encoded),
          fc.constantFrom('http%3A%2F%2Fevil.example', encoded(`${'http://127.0.0.1:1'}`)),
        ),
      }),
    ),
    cookie: fc.constantFrom('own', 'own', 'own', 'none', 'other', 'mangled'),
  });
  type CallbackInput = typeof callbackInput extends fc.Arbitrary<infer T> ? T : never;

  /** A whole sign-in at the IdP, stopped at its redirect to Gatehouse's callback: what the callback would get. */
  async function realCallback(
    path: 'oidc' | 'oauth' = 'oidc',
  ): Promise<{ state: string; cookie: string; code: string }> {
    const browser = new TestBrowser();
    if (path === 'oauth') {
      // The GitHub stand-in signs `octocat` in at once and redirects to Gatehouse's provider callback.
      const { res } = await browser.follow(`${gh.url}${githubAuthorize}`, githubCallbackUrl);
      const location = new URL(String(res.headers.get('location')), github.baseUrl);
      assert.ok(location.href.startsWith(githubCallbackUrl), `not the callback: ${location.href}`);
      return {
        state: location.searchParams.get('state') ?? '',
        code: location.searchParams.get('code') ?? '',
        cookie: browser.cookieHeader(location),
      };
    }
    const { res } = await browser.signInAtIdp(
      `${gh.url}${authorizeBase}`,
      'ada@acme.com',
      setup.idp.issuer,
      setup.callbackUrl,
    );
    const location = new URL(String(res.headers.get('location')), setup.idp.issuer);
    assert.ok(location.href.startsWith(setup.callbackUrl), `not the callback: ${location.href}`);
    return {
      state: location.searchParams.get('state') ?? '',
      code: location.searchParams.get('code') ?? '',
      cookie: browser.cookieHeader(location),
    };
  }

  /** With a real sign-in, one aspect at a time is mutated (`focus`); the rest stays what the IdP sent. */
  function focused(input: CallbackInput): CallbackInput {
    if (!input.real) return input;
    const f = input.focus;
    return {
      ...input,
      key: f === 'key' ? input.key : 'own',
      state: f === 'state' ? input.state : { op: 'keep' },
      repeatCode: f === 'code' ? input.repeatCode : false,
      error: f === 'error' ? input.error : null,
      iss: f === 'iss' ? input.iss : { op: 'keep' },
      cookie: f === 'cookie' ? input.cookie : 'own',
    };
  }

  async function callbackRequest(original: CallbackInput): Promise<FuzzRequest> {
    const input = focused(original);
    const own = input.real
      ? await realCallback(input.path)
      : { ...(await freshSignIn(input.path)), code: input.code };
    const other = await freshSignIn(input.path);
    const keys = { oidc: callbackPath.split('/').pop(), oauth: githubCallbackUrl.split('/').pop() };
    const key =
      input.key === 'own'
        ? keys[input.path]
        : input.key === 'other'
          ? keys[input.path === 'oidc' ? 'oauth' : 'oidc']
          : input.key;
    const parts = [
      ...edited('state', own.state, input.state),
      ...(own.code === null ? [] : [`code=${encoded(own.code)}`]),
      ...(own.code !== null && input.repeatCode ? [`code=${encoded(own.code)}`] : []),
      ...(input.error
        ? [
            `error=${encoded(input.error.error)}`,
            ...(input.error.description
              ? [`error_description=${encoded(`The IdP says ${UPSTREAM_CANARY}`)}`]
              : []),
            ...(input.error.uri ? [`error_uri=${encoded(`https://idp.example/${UPSTREAM_CANARY}`)}`] : []),
          ]
        : []),
      ...(input.iss.op === 'absent'
        ? []
        : input.iss.op === 'replace'
          ? [`iss=${input.iss.raw}`]
          : input.path === 'oauth' // GitHub sends no iss
            ? []
            : Array(input.iss.op === 'repeat' ? 2 : 1).fill(`iss=${encoded(setup.idp.issuer)}`)),
    ];
    const cookie =
      input.cookie === 'own'
        ? own.cookie
        : input.cookie === 'other'
          ? other.cookie
          : input.cookie === 'mangled'
            ? `${own.cookie.slice(0, -3)}xyz`
            : undefined;
    return {
      method: 'GET',
      url: `/sso/${input.path}/callback/${key}?${parts.join('&')}`,
      headers: cookie ? { cookie } : {},
    };
  }

  /** Callbacks answered with the consent screen, per callback path: the real sign-ins must get through on both. */
  const signedIn = { oidc: 0, oauth: 0 };

  it('the OIDC and provider callbacks: state, code, error and iss mutated, with and without the binding cookie', async () => {
    await fuzz(
      'callback',
      callbackInput,
      async (input) => {
        await exercise(
          gh.app,
          () => callbackRequest(input),
          expect,
          (res) => {
            if (res.status === 200) signedIn[input.path]++;
          },
        );
      },
      { runs: 400, share: 0.3 },
    );
    // Not vacuous: unmutated real sign-ins reach the consent screen through both callbacks.
    assert.ok(signedIn.oidc > 0 && signedIn.oauth > 0, JSON.stringify(signedIn));
  });

  // ---- /sso/consent ----------------------------------------------------------------------------------------

  const consentInput = fc.record({
    // true: a fresh consent screen from a real sign-in, with one aspect mutated (`focus`); false: a used one.
    real: fc.oneof({ weight: 2, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    focus: fc.constantFrom('none', 'token', 'decision', 'origin', 'cookie', 'contentType'),
    token: valueEdit,
    decision: fc.oneof({ arbitrary: fc.constantFrom('approve', 'deny'), weight: 4 }, hostileString),
    decisionEdit: fc.constantFrom('keep', 'keep', 'keep', 'absent', 'repeat'),
    origin: fc.constantFrom('self', 'self', 'self', 'none', 'null', 'other', 'self-slash'),
    cookie: fc.constantFrom('own', 'own', 'own', 'none', 'mangled'),
    contentType: fc.constantFrom('form', 'form', 'form', 'json', 'text', 'none'),
  });
  type ConsentInput = typeof consentInput extends fc.Arbitrary<infer T> ? T : never;
  /** A consent screen made once: used by the first request that approves it, then stale. */
  let stale: { token: string; cookie: string } | undefined;

  /** A fresh consent screen: a real sign-in's callback, answered by Gatehouse with its consent page. */
  async function freshConsent(): Promise<{ token: string; cookie: string }> {
    const real = await realCallback();
    const res = await gh.app.inject({
      method: 'GET',
      url: `${callbackPath}?state=${encoded(real.state)}&code=${encoded(real.code)}&iss=${encoded(setup.idp.issuer)}`,
      headers: { cookie: real.cookie },
    });
    return { token: consentForm(res.body).token, cookie: real.cookie };
  }

  async function consentRequest(original: ConsentInput): Promise<FuzzRequest> {
    const f = original.focus;
    const input: ConsentInput = original.real
      ? {
          ...original,
          token: f === 'token' ? original.token : { op: 'keep' },
          decision: f === 'decision' ? original.decision : original.decision === 'deny' ? 'deny' : 'approve',
          decisionEdit: f === 'decision' ? original.decisionEdit : 'keep',
          origin: f === 'origin' ? original.origin : 'self',
          cookie: f === 'cookie' ? original.cookie : 'own',
          contentType: f === 'contentType' ? original.contentType : 'form',
        }
      : original;
    const screen = input.real ? await freshConsent() : stale;
    const token = screen?.token ?? 'ct_none';
    const fields = [
      ...edited('consent_token', token, input.token),
      ...(input.decisionEdit === 'absent' ? [] : [`decision=${encoded(input.decision)}`]),
      ...(input.decisionEdit === 'repeat' ? [`decision=${encoded(input.decision)}`] : []),
    ];
    const headers: Record<string, string> = {};
    if (input.origin === 'self') headers.origin = gh.url;
    if (input.origin === 'self-slash') headers.origin = `${gh.url}/`;
    if (input.origin === 'null') headers.origin = 'null';
    if (input.origin === 'other') headers.origin = 'http://evil.example';
    if (input.cookie === 'own' && screen) headers.cookie = screen.cookie;
    if (input.cookie === 'mangled' && screen) headers.cookie = `${screen.cookie}x`;
    let body: string | undefined = fields.join('&');
    if (input.contentType === 'form') headers['content-type'] = 'application/x-www-form-urlencoded';
    if (input.contentType === 'json') {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(Object.fromEntries(fields.map((f) => f.split('=').map(decodeURIComponentSafe))));
    }
    if (input.contentType === 'text') headers['content-type'] = 'text/plain';
    if (input.contentType === 'none') body = undefined;
    return { method: 'POST', url: '/sso/consent', headers, ...(body === undefined ? {} : { body }) };
  }

  it('/sso/consent: fresh consent screens of real sign-ins and used ones, each field mutated', async () => {
    stale = await consentScreen();
    await fuzz(
      'consent',
      consentInput,
      async (input) => {
        await exercise(
          gh.app,
          () => consentRequest(input),
          expect,
          (res) => {
            const location = res.headers.location;
            const code =
              typeof location === 'string' && location.startsWith(APP)
                ? new URL(location).searchParams.get('code')
                : null;
            if (code) codes.push(code);
          },
        );
      },
      { runs: 300, share: 0.1 },
    );
  });

  // ---- /sso/token ------------------------------------------------------------------------------------------

  const jsonHostile = fc.oneof(
    hostileString,
    fc.constantFrom(
      null,
      0,
      -1,
      1e308,
      true,
      [],
      {},
      ['a', 'b'],
      JSON.parse('{"__proto__":{"admin":true}}'),
      { constructor: { prototype: 1 } },
    ),
    fc.jsonValue({ maxDepth: 3 }),
  );
  const tokenField = fc.record({
    name: fc.constantFrom(
      'client_id',
      'client_secret',
      'grant_type',
      'code',
      'code_verifier',
      'redirect_uri',
      '__proto__',
      'constructor',
    ),
    op: fc.constantFrom('absent', 'repeat', 'empty', 'replace'),
    value: jsonHostile,
  });
  const tokenInput = fc.record({
    format: fc.constantFrom('form', 'form', 'json', 'json', 'text', 'none', 'deep'),
    code: fc.oneof(
      fc.nat().map((n) => ({ pool: n })),
      hostileString.map((s) => ({ value: s })),
    ),
    secret: fc.constantFrom('right', 'right', 'right', 'wrong', 'absent', 'case'),
    edits: fc.oneof(fc.constant([]), fc.array(tokenField, { maxLength: 3 })),
    authorization: fc.oneof(
      { arbitrary: fc.constant(null), weight: 4 },
      fc.constantFrom('basic-right', 'basic-wrong', 'bearer-key', 'basic-garbage'),
      hostileString.filter((s) => /^[\x20-\x7e]*$/.test(s)),
    ),
  });
  type TokenInput = typeof tokenInput extends fc.Arbitrary<infer T> ? T : never;

  function tokenRequest(input: TokenInput): FuzzRequest {
    const code =
      'pool' in input.code
        ? (codes[input.code.pool % Math.max(1, codes.length)] ?? 'none')
        : input.code.value;
    const secret = {
      right: TEST_API_KEY,
      wrong: `${TEST_API_KEY.slice(0, -1)}0`,
      absent: null,
      case: TEST_API_KEY.toUpperCase(),
    }[input.secret];
    const fields: [string, unknown][] = [
      ['client_id', TEST_CLIENT_ID],
      ['grant_type', 'authorization_code'],
      ['code', code],
      ...(secret === null ? [] : [['client_secret', secret] as [string, unknown]]),
    ];
    for (const edit of input.edits) {
      const i = fields.findIndex(([k]) => k === edit.name);
      const current = i >= 0 ? fields[i] : undefined;
      if (edit.op === 'absent' && i >= 0) fields.splice(i, 1);
      if (edit.op === 'repeat') fields.push(current ?? [edit.name, edit.value]);
      if (edit.op === 'empty') fields.push([edit.name, '']);
      if (edit.op === 'replace') {
        if (i >= 0) fields[i] = [edit.name, edit.value];
        else fields.push([edit.name, edit.value]);
      }
    }
    const headers: Record<string, string> = {};
    const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
    if (input.authorization === 'basic-right')
      headers.authorization = basic(`${TEST_CLIENT_ID}:${TEST_API_KEY}`);
    else if (input.authorization === 'basic-wrong')
      headers.authorization = basic(`${TEST_CLIENT_ID}:sk_wrong`);
    else if (input.authorization === 'bearer-key') headers.authorization = `Bearer ${TEST_API_KEY}`;
    else if (input.authorization === 'basic-garbage') headers.authorization = 'Basic %%%';
    else if (input.authorization !== null) headers.authorization = input.authorization;
    let body: string | undefined;
    const asText = (v: unknown) => (typeof v === 'string' ? v : (JSON.stringify(v) ?? ''));
    if (input.format === 'form' || input.format === 'text') {
      headers['content-type'] = input.format === 'form' ? 'application/x-www-form-urlencoded' : 'text/plain';
      body = fields.map(([k, v]) => `${encoded(k)}=${encoded(asText(v))}`).join('&');
    } else if (input.format === 'json') {
      headers['content-type'] = 'application/json';
      // Repeated names stay repeated in the JSON text: the last one wins in JSON.parse, as in most parsers.
      body = `{${fields.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`;
    } else if (input.format === 'deep') {
      headers['content-type'] = 'application/json';
      body = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    }
    return { method: 'POST', url: '/sso/token', headers, ...(body === undefined ? {} : { body }) };
  }

  it('/sso/token: form and JSON bodies with fields removed, repeated, retyped, huge, and wrong client auth', async () => {
    await fuzz(
      'token',
      tokenInput,
      async (input) => {
        await exercise(gh.app, () => tokenRequest(input), expect);
      },
      { runs: 1200, share: 0.15 },
    );
  });

  // ---- /sso/profile ----------------------------------------------------------------------------------------

  const profileInput = fc.record({
    authorization: fc.oneof(
      fc.constant({ kind: 'none' as const }),
      fc.record({
        kind: fc.constant('token' as const),
        edit: valueEdit,
        scheme: fc.constantFrom(
          'Bearer ',
          'bearer ',
          'BEARER ',
          'Bearer  ',
          'Bearer\t',
          'Basic ',
          'Bearer',
          '',
        ),
      }),
      fc.record({
        kind: fc.constant('raw' as const),
        value: hostileString.filter((s) => /^[\x20-\x7e]*$/.test(s)),
      }),
      fc.constant({ kind: 'apikey' as const }),
    ),
    queryToken: fc.oneof(
      { weight: 4, arbitrary: fc.constant(false) },
      { weight: 1, arbitrary: fc.constant(true) },
    ),
  });
  type ProfileInput = typeof profileInput extends fc.Arbitrary<infer T> ? T : never;

  function profileRequest(input: ProfileInput): FuzzRequest {
    const headers: Record<string, string> = {};
    const a = input.authorization;
    if (a.kind === 'token') {
      const raw = edited('t', accessToken, a.edit)[0]?.slice(2);
      if (raw !== undefined)
        headers.authorization = `${a.scheme}${decodeURIComponentSafe(raw)}`.replace(/[^\x20-\x7e\t]/g, '?');
    }
    if (a.kind === 'raw') headers.authorization = a.value;
    if (a.kind === 'apikey') headers.authorization = `Bearer ${TEST_API_KEY}`;
    return {
      method: 'GET',
      url: `/sso/profile${input.queryToken ? `?access_token=${encoded(accessToken)}` : ''}`,
      headers,
    };
  }

  it('/sso/profile: Authorization header variants', async () => {
    // A fresh access token: the token fuzz replays used codes, which revokes the tokens they gave (RFC 6749 §4.1.2).
    const { token, cookie } = await freshConsent();
    const approved = await gh.app.inject({
      method: 'POST',
      url: '/sso/consent',
      headers: { cookie, origin: gh.url, 'content-type': 'application/x-www-form-urlencoded' },
      payload: `consent_token=${encodeURIComponent(token)}&decision=approve`,
    });
    const code = new URL(String(approved.headers.location)).searchParams.get('code') ?? '';
    accessToken = (await gh.workos.sso.getProfileAndToken({ code, clientId: TEST_CLIENT_ID })).accessToken;
    assert.ok(accessToken);
    await fuzz(
      'profile',
      profileInput,
      async (input) => {
        await exercise(gh.app, () => profileRequest(input), expect);
      },
      { runs: 1000, share: 0.15 },
    );
  });
});

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
