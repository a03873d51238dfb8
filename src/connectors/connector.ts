/**
 * The contract between the SSO flow and an upstream protocol (OIDC, SAML, OAuth providers).
 *
 * A connector is opened for one connection (`ConnectorDefinition.open`) with its decrypted configuration and
 * shared, per-node dependencies. It never touches storage or HTTP routing: the flow persists whatever the
 * connector returns as `connectorState` (sealed) in the login transaction and hands it back on the callback.
 *
 * Each protocol lives in its own folder and exports one `ConnectorDefinition`; `registry.ts` is the only file
 * that maps `connection_type` values to definitions.
 */
import type { FetchLike } from '../lib/safe-fetch.ts';

/** What the flow asks a connector to start. */
export interface LoginRequest {
  /**
   * Our upstream `state` (OIDC) / `RelayState` (SAML): a random secret the connector must send upstream
   * unchanged. The flow finds the login transaction by it on the callback.
   */
  state: string;
  /** The callback URL for this connection (`oidc_options.redirect_uri`, the SAML ACS URL, …). */
  callbackUrl: string;
  /** Passed on where the protocol supports it. */
  loginHint: string | undefined;
  domainHint: string | undefined;
  /** Extra scopes the app asked for (`provider_scopes`). */
  providerScopes: string[];
  /** Extra query parameters the app asked to pass on (`provider_query_params[k]`). */
  providerQueryParams: Record<string, string>;
  /**
   * A secret for this login, derived from `state` and the server's secret key (43 base64url characters): the
   * same `label` gives the same value on the callback, so nonces and PKCE verifiers are never stored.
   */
  secret(label: string): string;
}

/**
 * Where the connector sends the browser: a redirect (OIDC, SAML HTTP-Redirect) or a form to post (SAML
 * HTTP-POST binding), with what it needs again on the callback (`connectorState`: the issuer, the scope, a SAML
 * request ID). The state is stored as is with the login transaction and never shown to the browser; secrets
 * do not belong in it (use `LoginRequest.secret()`).
 */
export type LoginStart = (
  | { redirectUrl: string }
  | { form: { action: string; fields: Record<string, string> } }
) & {
  connectorState: Record<string, unknown>;
};

/** What the IdP sent back, after the flow tied it to a login transaction and this browser. */
export interface CallbackRequest {
  /** The callback URL as the IdP addressed it (our public URL + path + query). */
  url: URL;
  /** The form fields of a POST callback (SAML's HTTP-POST binding, OIDC form_post); empty for GET. */
  form: Record<string, string>;
  /** Our upstream state, already matched to the transaction. */
  state: string;
  /** The callback URL of this connection (what was sent as `redirect_uri` upstream). */
  callbackUrl: string;
  /** What `startLogin` returned as `connectorState`. */
  connectorState: Record<string, unknown>;
  /** The same derived secrets as `LoginRequest.secret`. */
  secret(label: string): string;
}

/** The user as the IdP asserted them; the flow turns it into a WorkOS profile. */
export interface UpstreamIdentity {
  /** The user's stable ID at the IdP (OIDC `sub`, SAML NameID). */
  idpId: string;
  email: string | null;
  firstName: string | null;
  lastName: string | null;
  name: string | null;
  groups: string[];
  /** Every claim or attribute the IdP sent, minus tokens. */
  rawAttributes: Record<string, unknown>;
  /**
   * A value that must never be accepted twice (a SAML assertion ID), and until when it could be (its validity
   * plus the clock skew). The flow claims it in the shared store, so a replay fails on every node.
   */
  oneTimeKey?: { key: string; expiresAt: Date };
  /**
   * OAuth provider connections only: the provider's tokens, handed to the app with the profile (WorkOS
   * `oauth_tokens`) so that it can call the provider's API. Secrets: sealed until the code is redeemed.
   */
  oauthTokens?: OAuthTokens;
}

export interface OAuthTokens {
  accessToken: string;
  refreshToken: string | null;
  /** Unix seconds, or null when the provider did not say. */
  expiresAt: number | null;
  scopes: string[];
}

export interface Connector {
  /**
   * Builds the upstream authorization request.
   * @throws BrokerError `upstream_unavailable` when the IdP cannot be reached (discovery), or
   *   `upstream_misconfigured` when its metadata is unusable.
   */
  startLogin(request: LoginRequest): Promise<LoginStart>;
  /**
   * Completes the login: reads the IdP's answer (its error first), exchanges and validates what it sent.
   * @throws BrokerError with a redirect-transport code (`upstream_*`, `issuer_mismatch`, `id_token_*`, …),
   *   carrying the IdP's own error in `upstream` and expected-vs-received values in `detail`.
   */
  handleCallback(request: CallbackRequest): Promise<UpstreamIdentity>;
}

/** Per-node dependencies shared by all connectors. Everything in it is safe to lose (caches). */
export interface ConnectorDeps {
  /** SSRF-guarded, time- and size-bounded fetch. */
  fetch: FetchLike;
  /** Whether plain-http upstream URLs are accepted (only with GATEHOUSE_ALLOW_PRIVATE_URLS=on). */
  allowInsecureHttp: boolean;
  upstreamTimeoutMs: number;
  /** Per-node cache for discovery documents and the like, keyed by the connector. */
  cache: Map<string, unknown>;
  /**
   * Metrics, when on: `fetch` timed under one connection's labels (its type and its IdP host, from its saved
   * configuration). The flow applies it when it opens a connection's connector; connectors just use `fetch`.
   */
  timeUpstream?: (fetch: FetchLike, labels: { connectionType: string; idpHost: string }) => FetchLike;
}

/** Result of validating connection options from the management API. */
export interface ParsedOptions {
  /** Config to store (secrets sealed), merged over the existing config on update. */
  config: Record<string, unknown>;
  /** Required options that are still missing: the connection stays a `draft` until there are none. */
  missing: string[];
  /** Malformed options: the request is rejected with 422 naming each field. */
  errors: { field: string; message: string }[];
}

/** What option parsing may use besides the options. */
export interface OptionsContext {
  /** Whether plain-http URLs are accepted (GATEHOUSE_ALLOW_PRIVATE_URLS=on). */
  allowInsecureHttp: boolean;
  /** SSRF-guarded fetch, for options that point at a document (SAML metadata URL). */
  fetch: FetchLike;
  /** A label for generated keys and certificates (the connection's ID). */
  label: string;
}

/** Seals and opens secrets inside a connection's config (bound to the connection and field). */
export interface SecretSealer {
  seal(value: string, field: string): string;
  open(sealed: string, field: string): string;
}

export interface ConnectorDefinition {
  /** Protocol family, shown in docs and logs. */
  readonly protocol: 'oidc' | 'saml' | 'oauth';
  /** The JSON key of this family's options in the management API (`oidc_options`, `saml_options`, …). */
  readonly optionsKey: string;
  /** Path segment of the callback URL: `${publicUrl}/sso/${callbackSegment}/${externalKey}`. */
  readonly callbackSegment: string;
  /** How the IdP returns the browser: GET (a redirect) or POST (a form from the IdP's site, as SAML does). */
  readonly callbackMethod: 'GET' | 'POST';
  /**
   * Validates options sent to `POST /connections` (`existing` undefined) or `PUT /connections/{id}` (merge over
   * `existing`: only given fields change). May fetch what the options point at (SAML metadata URL) through
   * `context.fetch`, and generate keys.
   */
  parseOptions(
    input: unknown,
    existing: Record<string, unknown> | undefined,
    sealer: SecretSealer,
    context: OptionsContext,
  ): ParsedOptions | Promise<ParsedOptions>;
  /** The required options a stored config still lacks (the connection is a `draft` until there are none). */
  missingOptions(config: Record<string, unknown>): string[];
  /**
   * Re-reads what the options point at (a SAML metadata URL). Returns the new config, or null when the
   * connection has nothing to refresh; throws with the problems when the source cannot be used (the caller
   * keeps the previous config).
   */
  refresh?(config: Record<string, unknown>, context: OptionsContext): Promise<Record<string, unknown> | null>;
  /** SAML only: the SP metadata the customer's IT admin loads into their IdP (served even for a draft). */
  spMetadata?(config: Record<string, unknown>, callbackUrl: string): string;
  /** Public view of the options (no secrets) for API responses, plus `callbackUrl` under the protocol's name. */
  presentOptions(config: Record<string, unknown>, callbackUrl: string): Record<string, unknown>;
  /**
   * Opens a connector for a connection whose options are complete. `cacheKey` names this version of the
   * connection in per-node caches; `connectionType` is its flavour (OktaSAML, …).
   */
  open(
    config: Record<string, unknown>,
    sealer: SecretSealer,
    deps: ConnectorDeps,
    cacheKey: string,
    connectionType: string,
  ): Connector;
}
