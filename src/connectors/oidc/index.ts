import * as client from 'openid-client';
import { BrokerError } from '../../errors/broker-error.ts';
import { UpstreamFetchError } from '../../lib/safe-fetch.ts';
import { pkceS256 } from '../../lib/tokens.ts';
import type {
  CallbackRequest,
  Connector,
  ConnectorDefinition,
  ConnectorDeps,
  LoginRequest,
  LoginStart,
  SecretSealer,
  UpstreamIdentity,
} from '../connector.ts';
import { cachedMetadata } from '../metadata-cache.ts';
import { classifyOidcError, identityFromClaims, needsUserinfo } from './callback.ts';
import { missingOidcOptions, type OidcConfig, parseOidcOptions, presentOidcOptions } from './config.ts';

/**
 * OpenID Connect connector (GenericOIDC, OktaOIDC, EntraIdOIDC), built on openid-client.
 *
 * Discovery documents are cached per node and connection version (`cachedMetadata`: an hour, stale-if-error
 * for a day). What this module does not do: dynamic client
 * registration, request objects (JAR/PAR), implicit or hybrid flows.
 */

/** Clock skew tolerated on ID token `iat`/`exp`/`nbf`. */
export const CLOCK_TOLERANCE_SECONDS = 60;

/** Parameters that carry protocol meaning: `provider_query_params` can never override them. */
export const RESERVED_PARAMS = new Set([
  'client_id',
  'redirect_uri',
  'response_type',
  'response_mode',
  'scope',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
  'request',
  'request_uri',
  'client_secret',
]);

/** `serverMetadata()` deep-copies the whole document; the issuer is read once per configuration. */
const issuers = new WeakMap<client.Configuration, string>();
function issuerOf(configuration: client.Configuration): string {
  let issuer = issuers.get(configuration);
  if (issuer === undefined) {
    issuer = configuration.serverMetadata().issuer;
    issuers.set(configuration, issuer);
  }
  return issuer;
}

/**
 * The authorization endpoint with `client_id` and `response_type=code`, built once per configuration by
 * openid-client (which validates the endpoint); each request appends its own parameters. `state`, `nonce` and
 * the PKCE challenge are base64url, so they need no encoding.
 */
const authorizationBases = new WeakMap<client.Configuration, string>();
function authorizationUrlBase(configuration: client.Configuration): string {
  let base = authorizationBases.get(configuration);
  if (base === undefined) {
    base = client.buildAuthorizationUrl(configuration, { response_type: 'code' }).href;
    authorizationBases.set(configuration, base);
  }
  return base;
}

export function classifyDiscoveryError(issuer: string, err: unknown): BrokerError {
  const upstream = err instanceof UpstreamFetchError ? err : (err as { cause?: unknown })?.cause;
  if (upstream instanceof UpstreamFetchError) {
    const code = upstream.kind === 'blocked' ? 'upstream_misconfigured' : 'upstream_unavailable';
    return new BrokerError(code, {
      detail: { stage: 'discovery', issuer, reason: upstream.message },
      cause: err,
    });
  }
  const e = err as { code?: string; message?: string; status?: number; cause?: { status?: number } };
  const status = e.status ?? e.cause?.status;
  // A 5xx or 429 is an outage; anything else (404, bad JSON, issuer mismatch) is a configuration problem.
  const outage = typeof status === 'number' && (status >= 500 || status === 429);
  return new BrokerError(outage ? 'upstream_unavailable' : 'upstream_misconfigured', {
    detail: { stage: 'discovery', issuer, reason: e.message ?? String(err), code: e.code, status },
    cause: err,
  });
}

/** What an OAuth provider built on OIDC (Google) adds to a plain OIDC connection. */
export interface OidcProviderHooks {
  /** Extra authorization parameters from the request (Google's `hd` from `domain_hint`). */
  authParams?(request: LoginRequest): Record<string, string>;
  /**
   * Checks on the validated claims (ID token and userinfo), given the extra parameters that were sent; throws a
   * BrokerError to refuse the sign-in.
   */
  checkClaims?(claims: Record<string, unknown>, sent: Record<string, string>): void;
  /** Hand the provider's tokens to the app (`oauth_tokens`). */
  returnTokens?: boolean;
}

export class OidcConnector implements Connector {
  readonly #config: OidcConfig & { issuer: string; clientId: string };
  readonly #secret: string;
  readonly #deps: ConnectorDeps;
  readonly #cacheKey: string;
  readonly #hooks: OidcProviderHooks;

  constructor(
    config: OidcConfig & { issuer: string; clientId: string },
    secret: string,
    deps: ConnectorDeps,
    cacheKey: string,
    hooks: OidcProviderHooks = {},
  ) {
    this.#config = config;
    this.#secret = secret;
    this.#deps = deps;
    this.#cacheKey = `oidc:${cacheKey}`;
    this.#hooks = hooks;
  }

  #discover(): Promise<client.Configuration> {
    const { issuer, clientId } = this.#config;
    return cachedMetadata(this.#deps.cache, this.#cacheKey, () =>
      client
        .discovery(
          new URL(issuer),
          clientId,
          { client_secret: this.#secret, [client.clockTolerance]: CLOCK_TOLERANCE_SECONDS },
          client.ClientSecretPost(this.#secret),
          {
            [client.customFetch]: this.#deps.fetch as client.CustomFetch,
            execute: [
              ...(this.#deps.allowInsecureHttp && issuer.startsWith('http:')
                ? [client.allowInsecureRequests]
                : []),
              // openid-client does not verify the signature of an ID token from the token endpoint by default
              // (it relies on TLS): verify it against the IdP's JWKS, as the design requires (§5.4).
              client.enableNonRepudiationChecks,
            ],
            timeout: Math.ceil(this.#deps.upstreamTimeoutMs / 1000),
          },
        )
        .catch((err: unknown) => {
          throw classifyDiscoveryError(issuer, err);
        }),
    );
  }

  async startLogin(request: LoginRequest): Promise<LoginStart> {
    const configuration = await this.#discover();
    // Derived from our state (RFC 7636 §4.1: 43 characters of the unreserved set), recomputed on the callback.
    const codeVerifier = request.secret('oidc pkce verifier');
    const nonce = request.secret('oidc nonce');
    const scopes = [...new Set([...this.#config.scopes, ...request.providerScopes])];
    let base: string;
    try {
      base = authorizationUrlBase(configuration);
    } catch (err) {
      throw new BrokerError('upstream_misconfigured', {
        detail: {
          stage: 'authorization_request',
          issuer: this.#config.issuer,
          reason: (err as Error).message,
        },
        cause: err,
      });
    }
    const scope = scopes.join(' ');
    let query =
      `&redirect_uri=${encodeURIComponent(request.callbackUrl)}&scope=${encodeURIComponent(scope)}` +
      `&state=${request.state}&nonce=${nonce}&code_challenge=${pkceS256(codeVerifier)}&code_challenge_method=S256`;
    if (request.loginHint) query += `&login_hint=${encodeURIComponent(request.loginHint)}`;
    // The provider's own parameters, which the app's `provider_query_params` may override (never reserved ones).
    const extra: Record<string, string> = { ...this.#hooks.authParams?.(request) };
    for (const [k, v] of Object.entries(request.providerQueryParams)) {
      if (!RESERVED_PARAMS.has(k)) extra[k] = v;
    }
    for (const [k, v] of Object.entries(extra)) {
      query += `&${encodeURIComponent(k)}=${encodeURIComponent(v)}`;
    }
    return {
      redirectUrl: base + query,
      connectorState: {
        issuer: issuerOf(configuration),
        scope,
        ...(this.#hooks.authParams ? { extra } : {}),
      },
    };
  }

  async handleCallback(request: CallbackRequest): Promise<UpstreamIdentity> {
    const saved = request.connectorState as { issuer: string; scope: string; extra?: Record<string, string> };
    const codeVerifier = request.secret('oidc pkce verifier');
    const nonce = request.secret('oidc nonce');
    const configuration = await this.#discover();
    const issuer = issuerOf(configuration);
    if (issuer !== saved.issuer) {
      // The IdP's metadata changed issuer between the two legs: nothing signed by it can be trusted for this login.
      throw new BrokerError('issuer_mismatch', {
        detail: { expected: saved.issuer, received: issuer, stage: 'discovery' },
      });
    }
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(
        configuration,
        request.url,
        {
          pkceCodeVerifier: codeVerifier,
          expectedNonce: nonce,
          expectedState: request.state,
          idTokenExpected: true,
        },
        { redirect_uri: request.callbackUrl },
      );
    } catch (err) {
      throw classifyOidcError(err, 'token_exchange', issuer);
    }
    const idToken = (tokens.claims() ?? {}) as Record<string, unknown>;
    let userinfo: Record<string, unknown> = {};
    if (needsUserinfo(idToken, saved.scope) && configuration.serverMetadata().userinfo_endpoint) {
      try {
        userinfo = (await client.fetchUserInfo(
          configuration,
          tokens.access_token,
          String(idToken.sub),
        )) as Record<string, unknown>;
      } catch (err) {
        throw classifyOidcError(err, 'userinfo', issuer);
      }
    }
    this.#hooks.checkClaims?.({ ...idToken, ...userinfo }, saved.extra ?? {});
    const identity = identityFromClaims(idToken, userinfo);
    if (this.#hooks.returnTokens) {
      const expiresIn = tokens.expiresIn();
      identity.oauthTokens = {
        accessToken: tokens.access_token,
        refreshToken: tokens.refresh_token ?? null,
        expiresAt: expiresIn === undefined ? null : Math.floor(Date.now() / 1000) + expiresIn,
        scopes: (tokens.scope ?? saved.scope).split(' ').filter(Boolean),
      };
    }
    return identity;
  }
}

export const oidcConnector: ConnectorDefinition = {
  protocol: 'oidc',
  optionsKey: 'oidc_options',
  callbackSegment: 'oidc/callback',
  callbackMethod: 'GET',
  parseOptions: parseOidcOptions,
  missingOptions: missingOidcOptions,
  presentOptions: presentOidcOptions,
  open(
    config: Record<string, unknown>,
    sealer: SecretSealer,
    deps: ConnectorDeps,
    cacheKey: string,
  ): Connector {
    const c = config as unknown as OidcConfig;
    if (!c.issuer || !c.clientId || !c.clientSecret)
      throw new TypeError('OIDC connection options are incomplete');
    return new OidcConnector(
      { ...c, issuer: c.issuer, clientId: c.clientId },
      sealer.open(c.clientSecret, 'client_secret'),
      deps,
      cacheKey,
    );
  },
};
