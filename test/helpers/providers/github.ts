import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  countHit,
  escapeHtml,
  type Listening,
  listen,
  readBody,
  sendHtml,
  sendJson,
  stableHex,
} from './common.ts';

/**
 * A stand-in for "Sign in with GitHub" (an OAuth app on github.com, or on a GitHub Enterprise Server), reached
 * through `oauth_options.base_url` (and `api_base_url`):
 *
 * - `GET ${base}/login/oauth/authorize` (client_id, redirect_uri, scope, state, login, allow_signup,
 *   code_challenge, code_challenge_method): an unknown client gets a 404 page; a redirect_uri that is not the
 *   registered callback (or below it) is sent to the registered callback with `error=redirect_uri_mismatch`, as
 *   GitHub documents; a visitor who is not signed in goes to `/login` (a form: the typed login picks the user), then
 *   to the authorize page (Authorize form, `[ Cancel ]` link). Approve → `code` and `state`; Cancel →
 *   `error=access_denied&error_description=The user has denied your application access.&error_uri=...&state=...`.
 * - `POST ${base}/login/oauth/access_token` (form, JSON or query parameters; client credentials in the body or
 *   HTTP Basic): JSON with `Accept: application/json`, else `application/x-www-form-urlencoded`. Success:
 *   `{access_token: 'gho_…', token_type: 'bearer', scope: 'read:user,user:email'}` (granted scopes joined with a
 *   COMMA); with `expiringTokens`, GitHub App user tokens (`ghu_…`, `expires_in`, `refresh_token: 'ghr_…'`,
 *   `refresh_token_expires_in`) and the refresh grant. Errors come with HTTP 200: `bad_verification_code`,
 *   `incorrect_client_credentials`, `redirect_uri_mismatch`, `bad_refresh_token`. PKCE is checked when the
 *   authorization request had a challenge (a wrong or missing verifier is a `bad_verification_code`).
 * - The REST API (api.github.com shape) at `apiBase`: a second origin by default (as api.github.com), or
 *   `${base}/api/v3` with `enterprise: true`. `GET /user`, `GET /user/emails` with `Authorization: Bearer <token>` or
 *   `token <token>`; 401 `Bad credentials`; `/user/emails` is 404 `Not Found` without the `user:email` (or `user`)
 *   scope; 403 without a User-Agent header; `X-OAuth-Scopes` on every authenticated answer.
 *
 * Users: see `defaultGitHubUser` and the `users` map. `autoLogin` skips both pages for a preset user.
 */

export interface GitHubEmail {
  email: string;
  primary: boolean;
  verified: boolean;
  /** 'public' for the profile's public email, 'private' for a primary kept private, null otherwise. */
  visibility: 'public' | 'private' | null;
}

export interface GitHubUser {
  login: string;
  id: number;
  name: string | null;
  /** All of the user's emails, as `/user/emails` lists them. `/user`'s `email` is the one with visibility 'public'. */
  emails: GitHubEmail[];
  /** Other `/user` fields, over the generated ones. */
  profile?: Record<string, unknown>;
}

/** An error body, as GitHub returns it (HTTP 200 at the token endpoint; a redirect at the authorize endpoint). */
export interface GitHubError {
  error: string;
  error_description: string;
  error_uri: string;
}

const DOCS = 'https://docs.github.com/apps/managing-oauth-apps';
export const GITHUB_ERRORS = {
  accessDenied: {
    error: 'access_denied',
    error_description: 'The user has denied your application access.',
    error_uri: `${DOCS}/troubleshooting-authorization-request-errors/#access-denied`,
  },
  redirectUriMismatch: {
    error: 'redirect_uri_mismatch',
    error_description: 'The redirect_uri MUST match the registered callback URL for this application.',
    error_uri: `${DOCS}/troubleshooting-authorization-request-errors/#redirect-uri-mismatch`,
  },
  applicationSuspended: {
    error: 'application_suspended',
    error_description: 'Your application has been suspended. Contact support@github.com.',
    error_uri: `${DOCS}/troubleshooting-authorization-request-errors/#application-suspended`,
  },
  badVerificationCode: {
    error: 'bad_verification_code',
    error_description: 'The code passed is incorrect or expired.',
    error_uri: `${DOCS}/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code`,
  },
  incorrectClientCredentials: {
    error: 'incorrect_client_credentials',
    error_description: 'The client_id and/or client_secret passed are incorrect.',
    error_uri: `${DOCS}/troubleshooting-oauth-app-access-token-request-errors/#incorrect-client-credentials`,
  },
  tokenRedirectUriMismatch: {
    error: 'redirect_uri_mismatch',
    error_description: 'The redirect_uri MUST match the registered callback URL for this application.',
    error_uri: `${DOCS}/troubleshooting-authorization-request-errors/#redirect-uri-mismatch2`,
  },
  badRefreshToken: {
    error: 'bad_refresh_token',
    error_description: 'The refresh token passed is incorrect or expired.',
    error_uri:
      'https://docs.github.com/apps/creating-github-apps/authenticating-with-a-github-app/refreshing-user-access-tokens',
  },
} satisfies Record<string, GitHubError>;

export interface GitHubStandIn {
  /** The web origin, no trailing slash: `oauth_options.base_url`. */
  baseUrl: string;
  /** The REST API's base, no trailing slash: a second origin, or `${baseUrl}/api/v3` for `enterprise`. */
  apiBase: string;
  enterprise: boolean;
  clientId: string;
  clientSecret: string;
  /** Users by login, over `defaultGitHubUser(login)`; change it at will. */
  users: Map<string, Partial<GitHubUser>>;
  /** When set, the authorize endpoint acts for this signed-in user who already authorized the app: no pages. */
  autoLogin: string | undefined;
  /** When true, a user who authorized these scopes once is not asked again (GitHub's behaviour); default false. */
  rememberGrants: boolean;
  /** Every authorization request, as received. */
  authorizeRequests: URL[];
  /** Every token request's parameters (query, then body; client credentials included), in order. */
  tokenRequests: URLSearchParams[];
  /** How many times each path was requested (web and API paths). */
  hits: Map<string, number>;
  /** While set, valid authorization requests redirect back with this error (e.g. GITHUB_ERRORS.applicationSuspended). */
  authorizeError: GitHubError | undefined;
  /** While set, the token endpoint answers this error (HTTP 200). */
  tokenError: GitHubError | undefined;
  /** Registers one more callback URL (the first one is where redirect_uri mismatches are sent). */
  allowRedirectUri(uri: string): Promise<void>;
  /** Makes an issued access token invalid (as a revoked or expired one): the API answers 401. */
  revokeToken(token: string): void;
  close(): Promise<void>;
}

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/**
 * The user who signs in as `login` when the test gave none: `octocat` (id 583231, "The Octocat"); any other login
 * gets a stable numeric id and the primary email `${login}@example.com`, verified unless the login contains
 * `unverified`, public unless the login contains `private` (then `/user` has `email: null`). So the presets are
 * `octocat`, `unverified` (primary email not verified) and `private` (no public email, verified primary).
 */
export function defaultGitHubUser(login: string): GitHubUser {
  const digits = Number.parseInt(stableHex(`github ${login}`, 8), 16) % 90_000_000;
  const hidden = login.includes('private');
  return {
    login,
    id: login === 'octocat' ? 583231 : 10_000_000 + digits,
    name: login === 'octocat' ? 'The Octocat' : capitalize(login.split(/[._-]/)[0] ?? login),
    emails: [
      {
        email: `${login}@example.com`,
        primary: true,
        verified: !login.includes('unverified'),
        visibility: hidden ? 'private' : 'public',
      },
    ],
  };
}

interface PendingAuthorization {
  clientId: string;
  redirectUri: string;
  /** Whether the request named a redirect_uri (the token request must then repeat it). */
  redirectUriGiven: boolean;
  state: string | null;
  scopes: string[];
  codeChallenge: string | null;
  codeChallengeMethod: string | null;
}

interface IssuedCode extends PendingAuthorization {
  login: string;
  expiresAt: number;
}

interface Grant {
  login: string;
  scopes: string[];
  expiresAt?: number;
}

const token = (prefix: string, length: number) =>
  `${prefix}${randomBytes(length).toString('base64url').replace(/[-_]/g, 'A').slice(0, length)}`;

/**
 * Starts the GitHub stand-in on 127.0.0.1 (`port`, or a free one), and its API on a second free port unless
 * `enterprise` (then under `${base}/api/v3`). `redirectUris`: the OAuth app's callback URLs (may be empty and filled
 * later with `allowRedirectUri`). `expiringTokens`: GitHub App user tokens that expire, with refresh tokens.
 */
export async function startGitHub(
  options: {
    redirectUris?: string[];
    enterprise?: boolean;
    expiringTokens?: boolean;
    port?: number;
    clientId?: string;
    clientSecret?: string;
    users?: Record<string, Partial<GitHubUser>>;
  } = {},
): Promise<GitHubStandIn> {
  const enterprise = options.enterprise ?? false;
  const web = await listen(options.port);
  const api: Listening | undefined = enterprise ? undefined : await listen();
  const baseUrl = web.url;
  const apiBase = api ? api.url : `${baseUrl}/api/v3`;
  const clientId =
    options.clientId ?? (options.expiringTokens ? 'Iv23liGatehouseTest01' : 'Ov23liGatehouseTest01');
  const clientSecret = options.clientSecret ?? stableHex(`github secret ${clientId}`, 40);
  const redirectUris = [...(options.redirectUris ?? [])];
  const sessionCookie = `_gh_sess_${web.port}`;
  const sessions = new Map<string, string>();
  const pending = new Map<string, PendingAuthorization>();
  const approved = new Map<string, PendingAuthorization & { login: string }>();
  const codes = new Map<string, IssuedCode>();
  const accessTokens = new Map<string, Grant>();
  const refreshTokens = new Map<string, Grant>();
  /** login → scopes already authorized (for `rememberGrants`). */
  const granted = new Map<string, Set<string>>();

  const standIn: GitHubStandIn = {
    baseUrl,
    apiBase,
    enterprise,
    clientId,
    clientSecret,
    users: new Map(Object.entries(options.users ?? {})),
    autoLogin: undefined,
    rememberGrants: false,
    authorizeRequests: [],
    tokenRequests: [],
    hits: new Map(),
    authorizeError: undefined,
    tokenError: undefined,
    async allowRedirectUri(uri) {
      if (!redirectUris.includes(uri)) redirectUris.push(uri);
    },
    revokeToken(t) {
      accessTokens.delete(t);
    },
    close: async () => {
      await Promise.all([web.close(), api?.close()]);
    },
  };

  const userFor = (login: string): GitHubUser => ({
    ...defaultGitHubUser(login),
    ...standIn.users.get(login),
  });

  /** GitHub: same scheme, host and port as a callback URL, and a path at or below its path. */
  const redirectUriAllowed = (uri: string) => {
    let u: URL;
    try {
      u = new URL(uri);
    } catch {
      return false;
    }
    return redirectUris.some((r) => {
      const registered = new URL(r);
      const base = registered.pathname.endsWith('/') ? registered.pathname : `${registered.pathname}/`;
      return (
        u.origin === registered.origin &&
        (u.pathname === registered.pathname || u.pathname.startsWith(base)) &&
        !u.pathname.includes('/../') &&
        u.username === '' &&
        u.password === ''
      );
    });
  };

  const redirectWith = (res: ServerResponse, to: string, params: Record<string, string | null>) => {
    const url = new URL(to);
    for (const [k, v] of Object.entries(params)) if (v !== null) url.searchParams.set(k, v);
    res.writeHead(302, { location: url.href, 'cache-control': 'no-store' }).end();
  };

  const signedIn = (req: IncomingMessage): string | undefined => {
    const cookies = Object.fromEntries(
      (req.headers.cookie ?? '').split(';').map((c) => {
        const [k = '', ...v] = c.trim().split('=');
        return [k, v.join('=')];
      }),
    );
    const id = cookies[sessionCookie];
    return id ? sessions.get(id) : undefined;
  };

  const issueCode = (res: ServerResponse, request: PendingAuthorization, login: string) => {
    const code = randomBytes(10).toString('hex');
    codes.set(code, { ...request, login, expiresAt: Date.now() + 10 * 60_000 });
    granted.set(login, new Set([...(granted.get(login) ?? []), ...request.scopes]));
    redirectWith(res, request.redirectUri, { code, state: request.state });
  };

  const authorizePage = (res: ServerResponse, id: string, request: PendingAuthorization, login: string) => {
    const scopes = request.scopes.length ? request.scopes.join(', ') : '(public information only)';
    sendHtml(
      res,
      200,
      'Authorize Gatehouse test app',
      `<p>Signed in as <strong>${escapeHtml(login)}</strong>. The app asks for: ${escapeHtml(scopes)}</p>
<form method="post" action="/login/oauth/authorize/approve?request_id=${id}">
  <input type="hidden" name="prompt" value="consent"/>
  <button type="submit" name="authorize" value="1">Authorize</button>
</form>
<a href="/login/oauth/authorize/deny?request_id=${id}">[ Cancel ]</a>`,
    );
  };

  const authorize = (req: IncomingMessage, res: ServerResponse, url: URL) => {
    standIn.authorizeRequests.push(url);
    const q = url.searchParams;
    if (q.get('client_id') !== clientId) {
      sendHtml(res, 404, 'Page not found', '<p>This is not the web page you are looking for.</p>');
      return;
    }
    const given = q.get('redirect_uri');
    const state = q.get('state');
    const [registered] = redirectUris;
    if (!registered) {
      sendHtml(res, 400, 'Application error', '<p>The application has no callback URL.</p>');
      return;
    }
    if (given !== null && !redirectUriAllowed(given)) {
      redirectWith(res, registered, { ...GITHUB_ERRORS.redirectUriMismatch, state });
      return;
    }
    const redirectUri = given ?? registered;
    if (standIn.authorizeError) {
      redirectWith(res, redirectUri, { ...standIn.authorizeError, state });
      return;
    }
    const method = q.get('code_challenge_method');
    if (q.get('code_challenge') && method && method !== 'S256' && method !== 'plain') {
      sendHtml(res, 400, 'Invalid request', '<p>code_challenge_method must be S256 or plain.</p>');
      return;
    }
    const request: PendingAuthorization = {
      clientId,
      redirectUri,
      redirectUriGiven: given !== null,
      state,
      // GitHub reads scopes separated by spaces or commas.
      scopes: [...new Set((q.get('scope') ?? '').split(/[\s,]+/).filter(Boolean))],
      codeChallenge: q.get('code_challenge'),
      codeChallengeMethod: q.get('code_challenge') ? (method ?? 'plain') : null,
    };
    if (standIn.autoLogin) {
      issueCode(res, request, standIn.autoLogin);
      return;
    }
    const login = signedIn(req);
    if (!login) {
      const back = new URL('/login', baseUrl);
      back.searchParams.set('client_id', clientId);
      back.searchParams.set('return_to', `${url.pathname}${url.search}`);
      res.writeHead(302, { location: back.href }).end();
      return;
    }
    const known = granted.get(login);
    if (standIn.rememberGrants && known && request.scopes.every((s) => known.has(s))) {
      issueCode(res, request, login);
      return;
    }
    const id = randomBytes(12).toString('hex');
    pending.set(id, request);
    authorizePage(res, id, request, login);
  };

  const loginPage = (res: ServerResponse, url: URL, problem?: string) => {
    const returnTo = url.searchParams.get('return_to') ?? '/';
    const hint = new URLSearchParams(returnTo.split('?')[1] ?? '').get('login') ?? '';
    sendHtml(
      res,
      problem ? 422 : 200,
      'Sign in to GitHub',
      `${problem ? `<p class="flash-error">${escapeHtml(problem)}</p>` : ''}
<form method="post" action="/session?return_to=${encodeURIComponent(returnTo)}">
  <input type="hidden" name="prompt" value="login"/>
  <input type="text" name="login" value="${escapeHtml(hint)}" placeholder="Username or email address"/>
  <input type="password" name="password"/>
  <button type="submit">Sign in</button>
</form>`,
    );
  };

  const createSession = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const form = new URLSearchParams(await readBody(req));
    const typed = (form.get('login') ?? '').trim();
    // Like GitHub, the username or one of the user's emails.
    const login = typed.includes('@')
      ? ([...standIn.users.keys()].find((l) => userFor(l).emails.some((e) => e.email === typed)) ??
        typed.split('@')[0] ??
        '')
      : typed;
    if (!login) {
      loginPage(res, url, 'Incorrect username or password.');
      return;
    }
    const id = randomBytes(16).toString('hex');
    sessions.set(id, login);
    const returnTo = url.searchParams.get('return_to') ?? '/';
    res
      .writeHead(302, {
        location: new URL(returnTo.startsWith('/') && !returnTo.startsWith('//') ? returnTo : '/', baseUrl)
          .href,
        'set-cookie': `${sessionCookie}=${id}; Path=/; HttpOnly; SameSite=Lax`,
      })
      .end();
  };

  const decide = (req: IncomingMessage, res: ServerResponse, url: URL, approve: boolean) => {
    const id = url.searchParams.get('request_id') ?? '';
    const request = pending.get(id);
    const login = signedIn(req);
    if (!request || !login) {
      sendHtml(res, 422, 'Unprocessable', '<p>This authorization request is no longer valid.</p>');
      return;
    }
    pending.delete(id);
    if (approve) {
      // One hop on GitHub's origin before the callback, as TestBrowser expects a form post to stay at the provider.
      const done = randomBytes(12).toString('hex');
      approved.set(done, { ...request, login });
      res.writeHead(302, { location: `${baseUrl}/login/oauth/authorize/complete?request_id=${done}` }).end();
    } else redirectWith(res, request.redirectUri, { ...GITHUB_ERRORS.accessDenied, state: request.state });
  };

  const complete = (res: ServerResponse, url: URL) => {
    const id = url.searchParams.get('request_id') ?? '';
    const request = approved.get(id);
    if (!request) {
      sendHtml(res, 422, 'Unprocessable', '<p>This authorization request is no longer valid.</p>');
      return;
    }
    approved.delete(id);
    issueCode(res, request, request.login);
  };

  const accessToken = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const raw = await readBody(req);
    const params = new URLSearchParams(url.search);
    if (/json/i.test(req.headers['content-type'] ?? '')) {
      const json = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      for (const [k, v] of Object.entries(json)) params.set(k, String(v));
    } else for (const [k, v] of new URLSearchParams(raw)) params.set(k, v);
    standIn.tokenRequests.push(params);

    const answer = (body: Record<string, string | number>) => {
      if (/application\/json/i.test(req.headers.accept ?? '')) sendJson(res, 200, body);
      else {
        const form = new URLSearchParams(
          Object.entries(body).map(([k, v]) => [k, String(v)] as [string, string]),
        );
        res
          .writeHead(200, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' })
          .end(form.toString());
      }
    };
    const issue = (login: string, scopes: string[]) => {
      const body: Record<string, string | number> = {};
      if (options.expiringTokens) {
        const access = token('ghu_', 36);
        const refresh = token('ghr_', 76);
        accessTokens.set(access, { login, scopes, expiresAt: Date.now() + 28_800_000 });
        refreshTokens.set(refresh, { login, scopes, expiresAt: Date.now() + 15_897_600_000 });
        Object.assign(body, {
          access_token: access,
          expires_in: 28800,
          refresh_token: refresh,
          refresh_token_expires_in: 15897600,
        });
      } else {
        const access = token('gho_', 36);
        accessTokens.set(access, { login, scopes });
        body.access_token = access;
      }
      answer({ ...body, token_type: 'bearer', scope: scopes.join(',') });
    };

    if (standIn.tokenError) return answer({ ...standIn.tokenError });
    let id = params.get('client_id');
    let secret = params.get('client_secret');
    const basic = /^basic (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (basic) [id = null, secret = null] = Buffer.from(basic, 'base64').toString('utf8').split(':');
    if (id !== clientId || secret !== clientSecret) return answer(GITHUB_ERRORS.incorrectClientCredentials);

    if (params.get('grant_type') === 'refresh_token') {
      const old = refreshTokens.get(params.get('refresh_token') ?? '');
      if (!old || (old.expiresAt ?? Infinity) < Date.now()) return answer(GITHUB_ERRORS.badRefreshToken);
      refreshTokens.delete(params.get('refresh_token') ?? '');
      return issue(old.login, old.scopes);
    }
    const code = codes.get(params.get('code') ?? '');
    if (!code || code.clientId !== id || code.expiresAt < Date.now())
      return answer(GITHUB_ERRORS.badVerificationCode);
    const redirectUri = params.get('redirect_uri');
    if (redirectUri !== null && redirectUri !== code.redirectUri)
      return answer(GITHUB_ERRORS.tokenRedirectUriMismatch);
    if (code.codeChallenge) {
      const verifier = params.get('code_verifier') ?? '';
      const expected =
        code.codeChallengeMethod === 'S256'
          ? createHash('sha256').update(verifier).digest('base64url')
          : verifier;
      if (!verifier || expected !== code.codeChallenge) return answer(GITHUB_ERRORS.badVerificationCode);
    }
    codes.delete(params.get('code') ?? '');
    return issue(code.login, code.scopes);
  };

  /** The REST API, at paths relative to `apiBase`. */
  const restApi = (req: IncomingMessage, res: ServerResponse, path: string) => {
    const common = {
      'x-github-media-type': 'github.v3; format=json',
      'x-github-api-version-selected': '2022-11-28',
    };
    if (!req.headers['user-agent']) {
      res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(
        'Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.\n',
      );
      return;
    }
    const credentials = /^(?:bearer|token) (\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const grant = credentials ? accessTokens.get(credentials) : undefined;
    if (!credentials || !grant || (grant.expiresAt ?? Infinity) < Date.now()) {
      sendJson(
        res,
        401,
        credentials
          ? { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' }
          : {
              message: 'Requires authentication',
              documentation_url: 'https://docs.github.com/rest/users/users#get-the-authenticated-user',
              status: '401',
            },
        common,
      );
      return;
    }
    const scopeHeaders = {
      ...common,
      'x-oauth-scopes': grant.scopes.join(', '),
      'x-accepted-oauth-scopes': '',
    };
    const user = userFor(grant.login);
    if (req.method === 'GET' && path === '/user') {
      const apiUsers = `${apiBase}/users/${user.login}`;
      sendJson(
        res,
        200,
        {
          login: user.login,
          id: user.id,
          node_id: Buffer.from(`04:User${user.id}`).toString('base64'),
          avatar_url: `${enterprise ? `${baseUrl}/avatars` : 'https://avatars.githubusercontent.com'}/u/${user.id}?v=4`,
          gravatar_id: '',
          url: apiUsers,
          html_url: `${baseUrl}/${user.login}`,
          followers_url: `${apiUsers}/followers`,
          repos_url: `${apiUsers}/repos`,
          type: 'User',
          user_view_type: 'private',
          site_admin: false,
          name: user.name,
          company: null,
          blog: '',
          location: null,
          email: user.emails.find((e) => e.visibility === 'public')?.email ?? null,
          hireable: null,
          bio: null,
          twitter_username: null,
          notification_email: null,
          public_repos: 8,
          public_gists: 8,
          followers: 42,
          following: 9,
          created_at: '2011-01-25T18:44:36Z',
          updated_at: '2024-06-01T12:00:00Z',
          ...user.profile,
        },
        scopeHeaders,
      );
      return;
    }
    if (req.method === 'GET' && path === '/user/emails') {
      if (!grant.scopes.includes('user') && !grant.scopes.includes('user:email')) {
        sendJson(
          res,
          404,
          {
            message: 'Not Found',
            documentation_url:
              'https://docs.github.com/rest/users/emails#list-email-addresses-for-the-authenticated-user',
            status: '404',
          },
          { ...scopeHeaders, 'x-accepted-oauth-scopes': 'user, user:email' },
        );
        return;
      }
      sendJson(res, 200, user.emails, { ...scopeHeaders, 'x-accepted-oauth-scopes': 'user, user:email' });
      return;
    }
    sendJson(
      res,
      404,
      { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' },
      common,
    );
  };

  web.handle = async (req, res) => {
    const url = new URL(req.url ?? '/', baseUrl);
    countHit(standIn.hits, url.pathname);
    const { pathname } = url;
    if (enterprise && (pathname === '/api/v3' || pathname.startsWith('/api/v3/'))) {
      return restApi(req, res, pathname.slice('/api/v3'.length));
    }
    if (pathname === '/login/oauth/authorize' && req.method === 'GET') return authorize(req, res, url);
    if (pathname === '/login/oauth/authorize/approve' && req.method === 'POST')
      return decide(req, res, url, true);
    if (pathname === '/login/oauth/authorize/complete' && req.method === 'GET') return complete(res, url);
    if (pathname === '/login/oauth/authorize/deny') return decide(req, res, url, false);
    if (pathname === '/login/oauth/access_token' && req.method === 'POST') return accessToken(req, res, url);
    if (pathname === '/login' && req.method === 'GET') return loginPage(res, url);
    if (pathname === '/session' && req.method === 'POST') return createSession(req, res, url);
    sendHtml(res, 404, 'Page not found', '<p>This is not the web page you are looking for.</p>');
  };
  if (api) {
    api.handle = (req, res) => {
      const url = new URL(req.url ?? '/', apiBase);
      countHit(standIn.hits, url.pathname);
      restApi(req, res, url.pathname);
    };
  }
  return standIn;
}
