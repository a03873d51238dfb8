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
  internal: api(500, 'server_error', 'An internal error occurred. The request ID identifies it in the logs.'),
} as const satisfies Record<string, CatalogEntry>;

export type ErrorCode = keyof typeof catalog;

/** All `error` values that /sso/authorize can put on the app's redirect URI. */
export function redirectWireCodes(): string[] {
  return [
    ...new Set(
      Object.values(catalog as Record<string, CatalogEntry>)
        .filter((e) => e.transport === 'redirect')
        .map((e) => e.wire),
    ),
  ];
}
