import * as oauth from 'oauth4webapi';
import { BrokerError } from '../../errors/broker-error.ts';
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
import { cachedMetadata } from '../metadata-cache.ts';
import { classifyOidcError, identityFromClaims } from '../oidc/callback.ts';
import { CLOCK_TOLERANCE_SECONDS, classifyDiscoveryError, RESERVED_PARAMS } from '../oidc/index.ts';
import { baseUrlOf, type ProviderConfig, providerScopes } from './config.ts';

/**
 * Sign in with Microsoft: OpenID Connect against Microsoft Entra ID v2.0 (`https://login.microsoftonline.com`,
 * or a sovereign cloud as `base_url`), for work, school and personal accounts.
 *
 * The multi-tenant authority (`/common/v2.0`) publishes a templated issuer, `{base}/{tenantid}/v2.0`: each ID
 * token's `iss` must equal the template filled with the token's own signed `tid` (a token of one tenant
 * claiming another's ID fails). openid-client applies that rule only on `login.microsoftonline.com` itself, not
 * on sovereign clouds or a stand-in, so this connector runs the same checks with oauth4webapi, on which
 * openid-client is built: discovery (the document's issuer must be the template), PKCE, nonce, the ID token's
 * signature against Microsoft's JWKS, its claims with clock tolerance. With exactly one `allowed_tenants` entry
 * the tenant's own authority is used (single-tenant apps must), otherwise `common`; the tenant list is
 * enforced on the verified `tid` (`provider_tenant_not_allowed`, an `access_denied`).
 *
 * Microsoft's `email` claim is not verified by Microsoft: a tenant administrator can set any address (the
 * "nOAuth" account takeover). The profile's email is therefore, in order: `email` when Microsoft marks its
 * domain verified (`xms_edov`, an optional claim) or it is the user's own UPN, or when the account is a
 * personal Microsoft account; else the UPN (`preferred_username`), whose domain Entra requires the tenant to
 * have verified, unless the user is a guest (`idp` claim); else the sign-in fails with
 * `provider_email_unverified`.
 */

/** The tenant of personal Microsoft accounts (outlook.com, …), whose email addresses Microsoft verifies. */
const CONSUMERS_TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad';
const TENANT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

function str(v: unknown): string | null {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : null;
}

/** The unverified payload of the ID token in a token response, to learn which tenant it claims to be from. */
async function peekIdToken(response: Response): Promise<Record<string, unknown> | null> {
  try {
    const body = (await response.clone().json()) as { id_token?: unknown };
    if (typeof body.id_token !== 'string') return null;
    const payload = body.id_token.split('.')[1];
    if (!payload) return null;
    return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** The email the profile may carry (see the module comment), or null when Microsoft vouches for none. */
export function verifiedMicrosoftEmail(claims: Record<string, unknown>): string | null {
  const email = str(claims.email);
  const upn = str(claims.preferred_username);
  const guest = claims.idp !== undefined && claims.idp !== claims.iss;
  if (claims.tid === CONSUMERS_TENANT) return email ?? (upn && EMAIL.test(upn) ? upn : null);
  if (email && EMAIL.test(email)) {
    if (claims.xms_edov === true || claims.xms_edov === 1 || claims.xms_edov === '1') return email;
    if (!guest && upn && email.toLowerCase() === upn.toLowerCase()) return email;
  }
  if (!guest && upn && EMAIL.test(upn) && !upn.includes('#EXT#')) return upn;
  return null;
}

class MicrosoftConnector implements Connector {
  readonly #base: string;
  readonly #clientId: string;
  readonly #secret: string;
  readonly #scopes: string[];
  readonly #allowedTenants: string[];
  /** `common`, or the one allowed tenant. */
  readonly #authority: string;
  /** The issuer the discovery document must publish (templated for `common`). */
  readonly #issuer: string;
  readonly #deps: ConnectorDeps;
  readonly #cacheKey: string;
  /** oauth4webapi's JWKS cache (keys and when they were fetched), per connector. */
  readonly #jwks: oauth.ExportedJWKSCache | Record<string, never> = {};

  constructor(config: ProviderConfig, secret: string, deps: ConnectorDeps, cacheKey: string) {
    this.#base = baseUrlOf('MicrosoftOAuth', config);
    this.#clientId = config.clientId as string;
    this.#secret = secret;
    this.#scopes = providerScopes('MicrosoftOAuth', config);
    this.#allowedTenants = config.allowedTenants ?? [];
    this.#authority = this.#allowedTenants.length === 1 ? (this.#allowedTenants[0] as string) : 'common';
    this.#issuer = `${this.#base}/${this.#authority === 'common' ? '{tenantid}' : this.#authority}/v2.0`;
    this.#deps = deps;
    this.#cacheKey = `microsoft:${cacheKey}`;
  }

  #http() {
    return {
      [oauth.customFetch]: this.#deps.fetch as typeof fetch,
      [oauth.allowInsecureRequests]: this.#deps.allowInsecureHttp && this.#base.startsWith('http:'),
      signal: AbortSignal.timeout(this.#deps.upstreamTimeoutMs),
    };
  }

  #discover(): Promise<oauth.AuthorizationServer> {
    const authority = `${this.#base}/${this.#authority}/v2.0`;
    return cachedMetadata(this.#deps.cache, this.#cacheKey, async () => {
      try {
        const response = await oauth.discoveryRequest(new URL(authority), {
          algorithm: 'oidc',
          ...this.#http(),
        });
        // The document's issuer must be the (templated) issuer of this authority, compared as URLs.
        return await oauth.processDiscoveryResponse(new URL(this.#issuer), response);
      } catch (err) {
        throw classifyDiscoveryError(authority, err);
      }
    });
  }

  #client(): oauth.Client {
    return { client_id: this.#clientId, [oauth.clockTolerance]: CLOCK_TOLERANCE_SECONDS };
  }

  async startLogin(request: LoginRequest): Promise<LoginStart> {
    const as = await this.#discover();
    if (!as.authorization_endpoint || !as.token_endpoint || !as.jwks_uri) {
      throw new BrokerError('upstream_misconfigured', {
        detail: { stage: 'discovery', issuer: this.#issuer, reason: 'the document lacks an endpoint' },
      });
    }
    const scope = [...new Set([...this.#scopes, ...request.providerScopes])].join(' ');
    const url = new URL(as.authorization_endpoint);
    const params: Record<string, string> = {
      client_id: this.#clientId,
      response_type: 'code',
      response_mode: 'query',
      redirect_uri: request.callbackUrl,
      scope,
      state: request.state,
      nonce: request.secret('oidc nonce'),
      code_challenge: pkceS256(request.secret('oidc pkce verifier')),
      code_challenge_method: 'S256',
      ...(request.loginHint ? { login_hint: request.loginHint } : {}),
      ...(request.domainHint ? { domain_hint: request.domainHint } : {}),
    };
    for (const [k, v] of Object.entries(request.providerQueryParams)) {
      if (!RESERVED_PARAMS.has(k)) params[k] = v;
    }
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    return { redirectUrl: url.href, connectorState: { scope } };
  }

  async handleCallback(request: CallbackRequest): Promise<UpstreamIdentity> {
    const saved = request.connectorState as { scope: string };
    const as = await this.#discover();
    const client = this.#client();
    let claims: Record<string, unknown>;
    let tokens: oauth.TokenEndpointResponse;
    try {
      const params = oauth.validateAuthResponse(as, client, request.url, request.state);
      const response = await oauth.authorizationCodeGrantRequest(
        as,
        client,
        oauth.ClientSecretPost(this.#secret),
        params,
        request.callbackUrl,
        request.secret('oidc pkce verifier'),
        this.#http(),
      );
      // An error answer is read as one (its OAuth error body, or the status).
      if (response.status !== 200) {
        await oauth.processAuthorizationCodeResponse(as, client, response, { requireIdToken: true });
      }
      // The issuer to expect follows from the token's tenant; the signature and every claim, `tid` included,
      // are verified below against it, so a token whose `iss` and `tid` disagree fails.
      const peeked = await peekIdToken(response);
      const tid = typeof peeked?.tid === 'string' && TENANT_ID.test(peeked.tid) ? peeked.tid : null;
      if (!tid) {
        throw new BrokerError('id_token_invalid', {
          detail: { stage: 'id_token', issuer: this.#issuer, reason: 'the ID token has no tenant ID (tid)' },
        });
      }
      const tenantAs = { ...as, issuer: this.#issuer.replace('{tenantid}', tid) };
      tokens = await oauth.processAuthorizationCodeResponse(tenantAs, client, response, {
        expectedNonce: request.secret('oidc nonce'),
        requireIdToken: true,
      });
      await oauth.validateApplicationLevelSignature(tenantAs, response, {
        ...this.#http(),
        [oauth.jwksCache]: this.#jwks,
      });
      claims = { ...oauth.getValidatedIdTokenClaims(tokens) };
      if (claims.tid !== tid) {
        throw new BrokerError('id_token_invalid', {
          detail: { stage: 'id_token', reason: 'tid changed', expected: tid, received: claims.tid },
        });
      }
    } catch (err) {
      throw classifyOidcError(err, 'token_exchange', this.#issuer);
    }

    const tid = claims.tid as string;
    if (this.#allowedTenants.length > 0 && !this.#allowedTenants.includes(tid)) {
      throw new BrokerError('provider_tenant_not_allowed', {
        detail: { stage: 'id_token', tenant: tid, allowed_tenants: this.#allowedTenants },
      });
    }
    const identity = identityFromClaims(claims, {});
    identity.email = verifiedMicrosoftEmail(claims);
    if (!identity.email) {
      throw new BrokerError('provider_email_unverified', {
        detail: {
          stage: 'profile_mapping',
          email: claims.email ?? null,
          preferred_username: claims.preferred_username ?? null,
          xms_edov: claims.xms_edov ?? null,
          idp: claims.idp ?? null,
        },
      });
    }
    identity.oauthTokens = {
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token ?? null,
      expiresAt:
        typeof tokens.expires_in === 'number' ? Math.floor(Date.now() / 1000) + tokens.expires_in : null,
      scopes: (tokens.scope ?? saved.scope).split(' ').filter(Boolean),
    };
    return identity;
  }
}

export function openMicrosoft(
  config: ProviderConfig,
  sealer: SecretSealer,
  deps: ConnectorDeps,
  cacheKey: string,
): Connector {
  if (!config.clientId || !config.clientSecret) throw new TypeError('MicrosoftOAuth options are incomplete');
  return new MicrosoftConnector(config, sealer.open(config.clientSecret, 'client_secret'), deps, cacheKey);
}
