/**
 * The error catalog: the only place that defines an error Gatehouse puts on the wire.
 *
 * Every entry names its transport:
 * - `redirect`: after `client_id` and `redirect_uri` are verified, a 302 to the app's redirect URI with
 *   `error=<wire>`, `error_description=<description>` and the app's `state` (RFC 6749 §4.1.2.1).
 * - `page`: an HTML page with `status`. Used when we cannot (or must not) redirect: an unknown client, an
 *   unverified redirect URI, an upstream callback we cannot tie to a login.
 * - `api`: management API JSON `{ message, code, errors? }` with `status` (the shape `@workos-inc/node` parses).
 * - `oauth`: token endpoint JSON `{ error, error_description }` with `status` (RFC 6749 §5.2).
 * - `bearer`: resource endpoint, RFC 6750 §3 `WWW-Authenticate` plus JSON.
 *
 * Descriptions are fixed, printable ASCII without `"` or `\` (RFC 6749 §4.1.2.1, checked by a test), written
 * for the developer reading them, and never carry upstream text. Detail for operators goes to the log and the
 * session record, never into a response.
 *
 * `docs/errors.md` is generated from this file (`npm run docs`) and a test keeps the two in step.
 */

export type Transport = 'redirect' | 'page' | 'api' | 'oauth' | 'bearer';

export interface CatalogEntry {
  readonly transport: Transport;
  /** HTTP status for page/api/oauth/bearer transports. Redirects are always 302 (303 from a POST). */
  readonly status: number;
  /** `error` for redirect/oauth/bearer transports, `code` for the api transport. */
  readonly wire: string;
  /** Public, fixed description (`error_description` / `message` / page text). */
  readonly description: string;
}

const redirect = (wire: string, description: string): CatalogEntry => ({
  transport: 'redirect',
  status: 302,
  wire,
  description,
});
const page = (status: number, wire: string, description: string): CatalogEntry => ({
  transport: 'page',
  status,
  wire,
  description,
});
const oauth = (status: number, wire: string, description: string): CatalogEntry => ({
  transport: 'oauth',
  status,
  wire,
  description,
});
const bearer = (status: number, wire: string, description: string): CatalogEntry => ({
  transport: 'bearer',
  status,
  wire,
  description,
});
const api = (status: number, wire: string, description: string): CatalogEntry => ({
  transport: 'api',
  status,
  wire,
  description,
});

export const catalog = {
  // ---- /sso/authorize before the client and redirect URI are verified: a page, never a redirect ----
  client_id_missing: page(
    400,
    'invalid_request',
    'The sign-in link has no client_id. The application must send its Gatehouse client ID.',
  ),
  client_id_unknown: page(
    400,
    'invalid_client',
    'The sign-in link names a client_id that this Gatehouse does not know. Check the client ID the application is configured with.',
  ),
  client_id_repeated: page(400, 'invalid_request', 'The sign-in link repeats the client_id parameter.'),
  authorize_rate_limited_page: page(
    429,
    'temporarily_unavailable',
    'Too many sign-in requests from this network. Wait a minute, then try again.',
  ),
  redirect_uri_missing: page(
    400,
    'invalid_request',
    'The sign-in link has no redirect_uri. The application must send one of its allowed redirect URIs.',
  ),
  redirect_uri_repeated: page(400, 'invalid_request', 'The sign-in link repeats the redirect_uri parameter.'),
  redirect_uri_not_allowed: page(
    400,
    'invalid_request',
    'The redirect_uri is not on the allowlist of redirect URIs. Add it with the management API, or correct the URI the application sends; matching is exact apart from the documented wildcards.',
  ),

  // ---- /sso/authorize after both checks: a redirect to the verified redirect URI ----
  parameter_repeated: redirect('invalid_request', 'A parameter that may appear only once was repeated.'),
  response_type_missing: redirect('invalid_request', 'The response_type parameter is required.'),
  response_type_unsupported: redirect('unsupported_response_type', 'Only response_type=code is supported.'),
  pkce_method_unsupported: redirect('invalid_request', 'The code_challenge_method must be S256.'),
  pkce_challenge_missing: redirect(
    'invalid_request',
    'code_challenge_method was sent without a code_challenge.',
  ),
  pkce_method_missing: redirect(
    'invalid_request',
    'code_challenge was sent without code_challenge_method=S256.',
  ),
  pkce_challenge_malformed: redirect(
    'invalid_request',
    'The code_challenge must be the base64url SHA-256 of the code verifier (43 characters).',
  ),
  parameter_malformed: redirect('invalid_request', 'A request parameter is malformed or too long.'),
  domain_selector_not_allowed: redirect(
    'domain_connection_selector_not_allowed',
    'The domain parameter is no longer supported. Use the organization or connection parameter instead.',
  ),
  selector_missing: redirect(
    'invalid_connection_selector',
    'A connection selector is required: one of connection, organization or provider.',
  ),
  selector_multiple: redirect(
    'invalid_connection_selector',
    'Only one connection selector may be given: connection, organization or provider.',
  ),
  provider_not_configured: redirect(
    'invalid_connection_selector',
    'No connection is configured for the requested provider.',
  ),
  provider_ambiguous: redirect(
    'connection_strategy_invalid',
    'The provider has multiple connections configured in this environment.',
  ),
  organization_not_found: redirect('organization_invalid', 'No organization matches the provided ID.'),
  organization_without_connection: redirect(
    'organization_invalid',
    'No connection associated with organization',
  ),
  organization_ambiguous: redirect(
    'ambiguous_connection_selector',
    'The organization has multiple active connections. Use the connection parameter to choose one.',
  ),
  connection_not_found: redirect('connection_invalid', 'No connection matches the provided ID.'),
  connection_unlinked: redirect(
    'connection_unlinked',
    'The connection is not active. Complete its configuration or activate it.',
  ),
  domain_without_connection: redirect(
    'connection_domain_invalid',
    'There is no connection for the provided domain.',
  ),
  upstream_unavailable: redirect(
    'server_error',
    'The identity provider could not be reached. Try again later.',
  ),
  upstream_misconfigured: redirect(
    'server_error',
    'The connection to the identity provider is misconfigured. Details are in the Gatehouse logs.',
  ),
  authorize_internal: redirect('server_error', 'Sign-in failed due to an internal error. Try again later.'),

  // ---- the IdP's answer (callback), before the login transaction is tied to this browser: a page ----
  callback_state_missing: page(
    400,
    'invalid_request',
    'The identity provider sent the browser back without the state of a sign-in. Return to the application and sign in again.',
  ),
  callback_state_unknown: page(
    400,
    'invalid_request',
    'This sign-in attempt is unknown or no longer valid. Return to the application and sign in again.',
  ),
  callback_browser_mismatch: page(
    400,
    'invalid_request',
    'This sign-in attempt was started in another browser, or its cookie was lost. Return to the application and sign in again in one browser.',
  ),
  callback_connection_mismatch: page(
    400,
    'invalid_request',
    'The identity provider answered at the callback URL of another connection. Check the redirect URI registered at the identity provider.',
  ),
  saml_response_unbound: page(
    400,
    'invalid_request',
    'This SAML response cannot be used here: it does not belong to a sign-in started in this browser. Return to the application and sign in again.',
  ),
  saml_unsolicited_unverified: page(
    400,
    'invalid_request',
    'This sign-in response could not be verified, so it was not used. Start the sign-in from the application; if this keeps happening, ask your IT admin to check the connection.',
  ),
  default_redirect_uri_missing: page(
    400,
    'invalid_request',
    'IdP-initiated sign-in needs a default redirect URI, and none is configured. Set one with the management API (POST /redirect_uris/{id}/default).',
  ),
  consent_invalid: page(
    400,
    'invalid_request',
    'This confirmation is no longer valid (already answered, expired, or opened in another browser). Return to the application and sign in again.',
  ),

  authorize_rate_limited: redirect(
    'temporarily_unavailable',
    'Too many sign-in requests. Wait a minute, then try again.',
  ),

  // ---- the IdP's answer, once tied to a transaction: a redirect to the app ----
  transaction_expired: redirect(
    'server_error',
    'The sign-in session expired or was already used. Try again.',
  ),
  issuer_mismatch: redirect('server_error', 'The identity provider response could not be verified.'),
  upstream_user_cancelled: redirect(
    'access_denied',
    'The user cancelled the sign-in at the identity provider.',
  ),
  upstream_user_not_assigned: redirect(
    'access_denied',
    'The identity provider has not assigned this user to the application.',
  ),
  upstream_policy_denied: redirect(
    'access_denied',
    "The identity provider's access policy denied this sign-in.",
  ),
  upstream_access_denied: redirect(
    'access_denied',
    "The identity provider denied the user's access to the application.",
  ),
  upstream_temporarily_unavailable: redirect(
    'server_error',
    'The identity provider is temporarily unavailable. Try again later.',
  ),
  upstream_client_rejected: redirect(
    'server_error',
    "The identity provider does not accept the connection's client credentials.",
  ),
  upstream_config_rejected: redirect(
    'server_error',
    'The identity provider rejected the connection configuration.',
  ),
  upstream_request_rejected: redirect('server_error', 'The identity provider rejected the sign-in request.'),
  upstream_interaction_required: redirect(
    'server_error',
    'Sign-in requires interaction at the identity provider. Try again.',
  ),
  upstream_error_unknown: redirect('server_error', 'Sign-in failed at the identity provider.'),
  code_exchange_failed: redirect(
    'server_error',
    'Sign-in failed while completing the identity provider exchange. Try again.',
  ),
  id_token_invalid: redirect('server_error', 'The identity provider response could not be verified.'),
  id_token_expired: redirect(
    'server_error',
    'The identity provider response has expired. Check server clocks, then try again.',
  ),
  nonce_mismatch: redirect(
    'server_error',
    'Sign-in failed: the identity provider response does not belong to this sign-in.',
  ),
  userinfo_failed: redirect('server_error', 'The identity provider did not return the user profile.'),
  profile_incomplete: redirect(
    'server_error',
    'The identity provider did not send the required user attributes (a user ID and an email address).',
  ),
  email_domain_not_allowed: redirect(
    'profile_not_allowed_outside_organization',
    "The user's email domain is not one of the organization's verified domains.",
  ),
  consent_denied: redirect('signin_consent_denied', 'User cancelled the authentication request'),

  // ---- OAuth provider connections (provider=GoogleOAuth, MicrosoftOAuth, GitHubOAuth) ----
  provider_email_unverified: redirect(
    'server_error',
    'The provider has not verified the email address of this account. Verify it with the provider, then sign in again.',
  ),
  provider_tenant_not_allowed: redirect(
    'access_denied',
    "The user's Microsoft organization (tenant) is not allowed to sign in with this connection.",
  ),
  provider_domain_mismatch: redirect(
    'access_denied',
    'The account used does not belong to the domain the application asked for (domain_hint).',
  ),
  callback_internal: redirect('server_error', 'Sign-in failed due to an internal error. Try again later.'),

  // ---- SAML responses at the ACS (error-taxonomy.md §5.5): validation failures are server_error; the session
  // log holds the precise reason with expected and received values ----
  saml_response_missing: redirect('server_error', 'The identity provider sent no SAML response.'),
  saml_malformed: redirect('server_error', 'The identity provider response could not be read.'),
  saml_signature_invalid: redirect('server_error', 'The identity provider response could not be verified.'),
  saml_sha1_not_allowed: redirect(
    'server_error',
    'The identity provider signed the response with SHA-1, which this connection does not allow.',
  ),
  saml_issuer_mismatch: redirect(
    'server_error',
    'The identity provider response was not issued by this connection.',
  ),
  saml_audience_mismatch: redirect(
    'server_error',
    'The identity provider response was not addressed to this connection.',
  ),
  saml_recipient_mismatch: redirect(
    'server_error',
    'The identity provider response was not addressed to this connection.',
  ),
  saml_not_yet_valid: redirect(
    'server_error',
    'The identity provider response is not yet valid. Check server clocks.',
  ),
  saml_expired: redirect('server_error', 'The sign-in response is no longer valid. Try again.'),
  saml_in_response_to_mismatch: redirect(
    'server_error',
    'The sign-in response does not belong to this sign-in attempt. Try again.',
  ),
  saml_replayed: redirect('server_error', 'The sign-in response was already used. Try again.'),
  saml_decrypt_failed: redirect('server_error', 'The identity provider response could not be decrypted.'),
  saml_assertion_missing: redirect('server_error', 'The identity provider response holds no assertion.'),
  upstream_authn_failed: redirect('access_denied', 'The identity provider could not authenticate the user.'),
  upstream_wrong_account: redirect('access_denied', 'The account used is not valid for this connection.'),
  upstream_authn_requirements_unmet: redirect(
    'server_error',
    'The identity provider could not meet the requested authentication requirements.',
  ),
  upstream_proxy_failed: redirect('server_error', 'The identity provider could not route the sign-in.'),
  idp_initiated_disabled: redirect(
    'idp_initiated_sso_disabled',
    'IdP-initiated SSO is disabled for this connection. Start the sign-in from the application.',
  ),

  // ---- POST /sso/token: RFC 6749 §5.2 JSON, HTTP 400 (the SDK raises OauthException) ----
  token_rate_limited: oauth(
    429,
    'rate_limit_exceeded',
    'Too many token requests for this client. Retry after the number of seconds in Retry-After.',
  ),
  token_body_invalid: oauth(
    400,
    'invalid_request',
    'Send the token request as application/x-www-form-urlencoded or JSON.',
  ),
  token_parameter_missing: oauth(400, 'invalid_request', 'client_id, grant_type and code are required.'),
  token_parameter_repeated: oauth(400, 'invalid_request', 'A parameter of the token request was repeated.'),
  grant_type_unsupported: oauth(
    400,
    'unsupported_grant_type',
    'Only grant_type=authorization_code is supported.',
  ),
  client_invalid: oauth(400, 'invalid_client', 'Invalid client ID or secret.'),
  client_pkce_required: oauth(
    400,
    'unauthorized_client',
    'A client without a client_secret must use PKCE: the code was issued without a code_challenge.',
  ),
  code_invalid: oauth(400, 'invalid_grant', 'The code has expired or has already been used.'),
  code_verifier_mismatch: oauth(400, 'invalid_grant', 'The code_verifier does not match the code_challenge.'),
  code_verifier_missing: oauth(
    400,
    'invalid_grant',
    'The code was issued with a code_challenge: send its code_verifier.',
  ),
  code_verifier_unexpected: oauth(
    400,
    'invalid_grant',
    'A code_verifier was sent for a code issued without a code_challenge.',
  ),
  token_redirect_uri_mismatch: oauth(
    400,
    'invalid_grant',
    'The redirect_uri does not match the one the code was issued for.',
  ),
  idempotency_key_reused: oauth(
    400,
    'invalid_request',
    'The Idempotency-Key was already used for a different token request.',
  ),
  token_internal: oauth(500, 'server_error', 'The token request failed due to an internal error. Try again.'),

  // ---- GET /sso/profile: RFC 6750 ----
  bearer_token_missing: bearer(
    401,
    '',
    'Send the access token as a Bearer token in the Authorization header.',
  ),
  bearer_token_invalid: bearer(401, 'invalid_token', 'The access token is invalid, expired or revoked.'),
  bearer_request_invalid: bearer(
    400,
    'invalid_request',
    'Send the access token in the Authorization header only.',
  ),

  // ---- GET /metrics (GATEHOUSE_METRICS_TOKEN): RFC 6750 ----
  metrics_token_missing: bearer(
    401,
    '',
    'Send the metrics token (GATEHOUSE_METRICS_TOKEN) as a Bearer token in the Authorization header.',
  ),
  metrics_token_invalid: bearer(401, 'invalid_token', 'The metrics token is wrong.'),

  // ---- management API ----
  api_key_missing: api(
    401,
    'unauthorized',
    'Could not authorize the request: send the API key as a Bearer token.',
  ),
  api_key_invalid: api(
    401,
    'unauthorized',
    'Could not authorize the request: the API key is invalid or revoked.',
  ),
  not_found: api(404, 'entity_not_found', 'The requested entity could not be found.'),
  route_not_found: api(404, 'not_found', 'The requested path could not be found.'),
  request_url_invalid: api(
    400,
    'invalid_request_url',
    'The request URL is malformed (invalid percent-encoding).',
  ),
  request_body_invalid: api(400, 'invalid_request_body', 'The request body is not valid JSON.'),
  request_body_too_large: api(413, 'request_entity_too_large', 'The request body is too large.'),
  unsupported_media_type: api(415, 'unsupported_media_type', 'Send the request body as application/json.'),
  validation_failed: api(422, 'invalid_request_parameters', 'The request parameters are invalid.'),
  // 400, as WorkOS's OpenAPI spec lists it for organization create and update.
  external_id_taken: api(
    400,
    'external_id_already_used',
    'Another organization already uses this external_id.',
  ),
  domain_exists: api(409, 'domain_already_exists', 'The organization already has this domain.'),
  domain_taken: api(
    409,
    'domain_already_verified',
    'The domain is already a verified domain of another organization.',
  ),
  connection_incomplete: api(
    422,
    'connection_incomplete',
    'The connection options are incomplete; a draft connection cannot be activated.',
  ),
  last_api_key: api(
    409,
    'last_api_key',
    'The last active API key cannot be revoked; create another one first.',
  ),
  default_redirect_uri_required: api(
    409,
    'default_redirect_uri_required',
    'The default redirect URI cannot be removed while other redirect URIs exist; choose another default first.',
  ),
  redirect_uri_exists: api(
    409,
    'redirect_uri_already_exists',
    'The redirect URI is already on the allowlist.',
  ),
  api_rate_limited: api(
    429,
    'rate_limit_exceeded',
    'Too many requests for this API key. Retry after the number of seconds in Retry-After.',
  ),
  internal: api(500, 'server_error', 'An internal error occurred. The request ID identifies it in the logs.'),
} as const satisfies Record<string, CatalogEntry>;

export type ErrorCode = keyof typeof catalog;

/** WorkOS's code for a failed sign-in through an OAuth provider connection. */
export const OAUTH_FAILED = 'oauth_failed';

/**
 * The `error` a redirect-transport entry puts on the app's redirect URI. On OAuth provider connections
 * (`provider=GoogleOAuth`, `MicrosoftOAuth`, `GitHubOAuth`) every failure that is not a denial is WorkOS's
 * `oauth_failed` instead of `server_error`; denials stay `access_denied`, everything else is unchanged.
 */
export function redirectWire(entry: CatalogEntry, oauthProvider: boolean): string {
  return oauthProvider && entry.wire === 'server_error' ? OAUTH_FAILED : entry.wire;
}

/** All `error` values that /sso/authorize can put on the app's redirect URI. */
export function redirectWireCodes(): string[] {
  return [
    ...new Set(
      Object.values(catalog as Record<string, CatalogEntry>)
        .filter((e) => e.transport === 'redirect')
        .map((e) => e.wire),
    ),
    OAUTH_FAILED,
  ];
}
