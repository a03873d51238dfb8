import * as client from 'openid-client';
import { BrokerError } from '../../errors/broker-error.ts';
import { type FetchLike, UpstreamFetchError } from '../../lib/safe-fetch.ts';
import { pkceS256 } from '../../lib/tokens.ts';
import type {
  CallbackRequest,
  Connector,
  ConnectorDeps,
  LoginRequest,
  LoginStart,
  SecretSealer,
  UpstreamIdentity,
} from '../connector.ts';
import { classifyOidcError } from '../oidc/callback.ts';
import { RESERVED_PARAMS } from '../oidc/index.ts';
import { baseUrlOf, githubApiBase, type ProviderConfig, providerScopes } from './config.ts';

/**
 * Sign in with GitHub: plain OAuth 2.0 (GitHub has no OpenID Connect for users) against `https://github.com` or
 * a GitHub Enterprise Server (`base_url`), with openid-client for the authorization request and the code
 * exchange (state, PKCE, which GitHub supports), then the profile from the REST API (`api_base_url`):
 * `GET /user` for the account and `GET /user/emails` for the email, which must be the account's primary
 * address and verified (`provider_email_unverified` otherwise). The profile's `idp_id` is the numeric user ID,
 * which survives a change of login.
 *
 * GitHub's token endpoint reports errors with HTTP 200 and an OAuth error body; the fetch below gives such an
 * answer a 400, so it is read as the error it is (RFC 6749 §5.2).
 */

const API_VERSION = '2022-11-28';
const USER_AGENT = 'Gatehouse';

interface GitHubUser {
  id: number;
  login: string;
  name: string | null;
  email: string | null;
  [key: string]: unknown;
}

interface GitHubEmail {
  email: string;
  primary: boolean;
  verified: boolean;
}

/** GitHub's token endpoint answers errors with 200; this turns those answers into the 400 RFC 6749 expects. */
function tokenErrorsAs400(fetch: FetchLike, tokenEndpoint: string): FetchLike {
  return async (url, init) => {
    const response = await fetch(url, init);
    if (response.status !== 200 || String(url) !== tokenEndpoint) return response;
    const body = await response.clone().text();
    let error: unknown;
    try {
      error = (JSON.parse(body) as { error?: unknown }).error;
    } catch {
      return response;
    }
    if (typeof error !== 'string') return response;
    return new Response(body, { status: 400, headers: response.headers });
  };
}

function splitName(name: string | null): { firstName: string | null; lastName: string | null } {
  const parts = (name ?? '').trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) return { firstName: null, lastName: null };
  if (parts.length === 1) return { firstName: parts[0] as string, lastName: null };
  return { firstName: parts.slice(0, -1).join(' '), lastName: parts.at(-1) as string };
}

class GitHubConnector implements Connector {
  readonly #configuration: client.Configuration;
  readonly #api: string;
  readonly #scopes: string[];
  readonly #deps: ConnectorDeps;

  constructor(config: ProviderConfig, secret: string, deps: ConnectorDeps) {
    const base = baseUrlOf('GitHubOAuth', config);
    const tokenEndpoint = `${base}/login/oauth/access_token`;
    this.#configuration = new client.Configuration(
      {
        issuer: base,
        authorization_endpoint: `${base}/login/oauth/authorize`,
        token_endpoint: tokenEndpoint,
      },
      config.clientId as string,
      secret,
      client.ClientSecretPost(secret),
    );
    this.#configuration[client.customFetch] = tokenErrorsAs400(
      deps.fetch,
      tokenEndpoint,
    ) as client.CustomFetch;
    this.#configuration.timeout = Math.ceil(deps.upstreamTimeoutMs / 1000);
    if (deps.allowInsecureHttp && base.startsWith('http:')) client.allowInsecureRequests(this.#configuration);
    this.#api = githubApiBase(config);
    this.#scopes = providerScopes('GitHubOAuth', config);
    this.#deps = deps;
  }

  async startLogin(request: LoginRequest): Promise<LoginStart> {
    const scope = [...new Set([...this.#scopes, ...request.providerScopes])].join(' ');
    const params: Record<string, string> = {
      redirect_uri: request.callbackUrl,
      scope,
      state: request.state,
      code_challenge: pkceS256(request.secret('oauth pkce verifier')),
      code_challenge_method: 'S256',
      // GitHub's name for a login hint: the account to suggest.
      ...(request.loginHint ? { login: request.loginHint } : {}),
    };
    for (const [k, v] of Object.entries(request.providerQueryParams)) {
      if (!RESERVED_PARAMS.has(k)) params[k] = v;
    }
    return {
      redirectUrl: client.buildAuthorizationUrl(this.#configuration, params).href,
      connectorState: { scope },
    };
  }

  async handleCallback(request: CallbackRequest): Promise<UpstreamIdentity> {
    const saved = request.connectorState as { scope: string };
    const issuer = this.#configuration.serverMetadata().issuer;
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(
        this.#configuration,
        request.url,
        { pkceCodeVerifier: request.secret('oauth pkce verifier'), expectedState: request.state },
        { redirect_uri: request.callbackUrl },
      );
    } catch (err) {
      throw classifyOidcError(err, 'token_exchange', issuer);
    }
    const user = (await this.#get('/user', tokens.access_token)) as GitHubUser;
    if (typeof user?.id !== 'number' || typeof user.login !== 'string') {
      throw new BrokerError('userinfo_failed', {
        detail: { stage: 'userinfo', api: this.#api, reason: 'GET /user did not return a user' },
      });
    }
    const emails = (await this.#get('/user/emails', tokens.access_token)) as GitHubEmail[];
    if (!Array.isArray(emails)) {
      throw new BrokerError('userinfo_failed', {
        detail: { stage: 'userinfo', api: this.#api, reason: 'GET /user/emails did not return a list' },
      });
    }
    const primary = emails.find((e) => e?.primary === true);
    if (primary?.verified !== true || typeof primary.email !== 'string') {
      throw new BrokerError('provider_email_unverified', {
        detail: {
          stage: 'profile_mapping',
          login: user.login,
          primary_email: primary?.email ?? null,
          verified: primary?.verified ?? null,
        },
      });
    }
    const { firstName, lastName } = splitName(user.name);
    const { email: _publicEmail, ...raw } = user;
    const expiresIn = tokens.expiresIn();
    return {
      idpId: String(user.id),
      email: primary.email,
      firstName,
      lastName,
      name: user.name ?? null,
      groups: [],
      rawAttributes: { ...raw, email: primary.email },
      oauthTokens: {
        accessToken: tokens.access_token,
        refreshToken: tokens.refresh_token ?? null,
        expiresAt: expiresIn === undefined ? null : Math.floor(Date.now() / 1000) + expiresIn,
        // GitHub lists the granted scopes with commas.
        scopes: (tokens.scope ?? saved.scope).split(/[\s,]+/).filter(Boolean),
      },
    };
  }

  /** A GET on GitHub's REST API with the user's token. */
  async #get(path: string, accessToken: string): Promise<unknown> {
    const url = `${this.#api}${path}`;
    let response: Response;
    try {
      response = await this.#deps.fetch(url, {
        headers: {
          accept: 'application/vnd.github+json',
          authorization: `Bearer ${accessToken}`,
          'user-agent': USER_AGENT,
          'x-github-api-version': API_VERSION,
        },
        signal: AbortSignal.timeout(this.#deps.upstreamTimeoutMs),
      });
    } catch (err) {
      const blocked = err instanceof UpstreamFetchError && err.kind === 'blocked';
      throw new BrokerError(blocked ? 'upstream_misconfigured' : 'upstream_temporarily_unavailable', {
        detail: { stage: 'userinfo', url, reason: (err as Error).message },
        cause: err,
      });
    }
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      body = undefined;
    }
    if (!response.ok) {
      const outage = response.status >= 500 || response.status === 429;
      throw new BrokerError(outage ? 'upstream_temporarily_unavailable' : 'userinfo_failed', {
        detail: { stage: 'userinfo', url, status: response.status },
        upstream: {
          status: response.status,
          ...(typeof (body as { message?: unknown })?.message === 'string'
            ? { message: (body as { message: string }).message }
            : {}),
        },
      });
    }
    return body;
  }
}

export function openGitHub(config: ProviderConfig, sealer: SecretSealer, deps: ConnectorDeps): Connector {
  if (!config.clientId || !config.clientSecret) throw new TypeError('GitHubOAuth options are incomplete');
  return new GitHubConnector(config, sealer.open(config.clientSecret, 'client_secret'), deps);
}
