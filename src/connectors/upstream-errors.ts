import { BrokerError } from '../errors/broker-error.ts';
import type { ErrorCode } from '../errors/catalog.ts';

/**
 * Classifies an OAuth/OIDC `error` an IdP put on our callback (error-taxonomy.md §5.3), as data: the `error`
 * code first (an unknown one is `upstream_error_unknown`), then Entra's AADSTS number and well-known vendor
 * texts (Okta, Salesforce; Salesforce's hyphenated `access-denied` too), only to pick a more precise reason: the
 * wire code follows from the catalog, the upstream text is kept verbatim for the session log and never reaches
 * the browser. What each signal means for the people who fix it is in errors/explanations.ts.
 */

const ENTRA_TRACE = /Trace ID: ([0-9a-f-]{36})/i;
const ENTRA_CORRELATION = /Correlation ID: ([0-9a-f-]{36})/i;
const ENTRA_TIMESTAMP = /Timestamp: ([0-9: -]+Z)/i;
const AADSTS = /AADSTS(\d+)/;

/** The OAuth `error` values we know (RFC 6749, OIDC, and vendors'), with the catalog code each maps to. */
const ERROR_REASONS: Record<string, ErrorCode> = {
  access_denied: 'upstream_access_denied',
  unauthorized: 'upstream_access_denied', // Auth0 rules and blocked users
  consent_required: 'upstream_access_denied',
  inactive_user: 'upstream_access_denied', // Salesforce
  inactive_org: 'upstream_access_denied', // Salesforce
  user_canceled_request: 'upstream_user_cancelled', // Okta
  admin_policy_enforced: 'upstream_policy_denied', // Google Workspace
  org_internal: 'upstream_wrong_account', // Google
  temporarily_unavailable: 'upstream_temporarily_unavailable',
  server_error: 'upstream_temporarily_unavailable',
  rate_limit_exceeded: 'upstream_temporarily_unavailable', // Salesforce
  invalid_client: 'upstream_client_rejected',
  unauthorized_client: 'upstream_client_rejected',
  invalid_client_id: 'upstream_client_rejected', // Salesforce
  incorrect_client_credentials: 'upstream_client_rejected', // GitHub
  application_suspended: 'upstream_client_rejected', // GitHub
  unsupported_response_type: 'upstream_config_rejected',
  unsupported_response_mode: 'upstream_config_rejected',
  invalid_scope: 'upstream_config_rejected',
  redirect_uri_mismatch: 'upstream_config_rejected', // Google, GitHub, Salesforce
  redirect_uri_missing: 'upstream_config_rejected', // Salesforce
  invalid_request: 'upstream_request_rejected',
  invalid_request_object: 'upstream_request_rejected',
  invalid_request_uri: 'upstream_request_rejected',
  request_not_supported: 'upstream_request_rejected',
  request_uri_not_supported: 'upstream_request_rejected',
  registration_not_supported: 'upstream_request_rejected',
  login_required: 'upstream_interaction_required',
  interaction_required: 'upstream_interaction_required',
  account_selection_required: 'upstream_interaction_required',
  immediate_unsuccessful: 'upstream_interaction_required', // Salesforce
};

/**
 * Entra's AADSTS numbers (error-taxonomy.md §3.1, §5.3): more precise than the `error` they come with, so they
 * win when that `error` is a known one (an unknown `error` stays unknown). Microsoft says not to depend on
 * them, so they only refine: every number missing here falls back to the `error`.
 */
const AADSTS_REASONS: Record<string, ErrorCode> = Object.fromEntries(
  (
    [
      ['upstream_user_cancelled', [65004]],
      ['upstream_user_not_assigned', [50105]],
      // Conditional Access and security policies; MFA and device requirements.
      [
        'upstream_policy_denied',
        [53003, 530032, 530035, 50131, 50076, 50079, 50072, 50074, 53000, 53001, 53002, 53004, 50097, 50155],
      ],
      // Disabled, locked, expired password; consent missing.
      ['upstream_access_denied', [50057, 50053, 50055, 50144, 65001, 90094, 90095, 90008]],
      ['upstream_authn_failed', [50126]],
      ['upstream_wrong_account', [50020, 50034, 16000, 51004, 500208, 90072]],
      // The redirect URI, the tenant, response types and permissions the app registration does not allow.
      [
        'upstream_config_rejected',
        [50011, 90002, 50128, 50059, 50194, 9002332, 700054, 70005, 70011, 650056, 650057, 500011],
      ],
      ['upstream_client_rejected', [700016, 70001, 7000112, 7000215, 7000218, 7000222, 700027]],
      ['upstream_request_rejected', [90014, 900144, 9002313, 50196]],
      ['upstream_interaction_required', [50058, 50089]],
      ['upstream_authn_requirements_unmet', [75011]],
      ['upstream_temporarily_unavailable', [50000, 50033, 50087, 90006, 90024, 90033, 90090, 90055, 70012]],
    ] as const
  ).flatMap(([code, numbers]) => numbers.map((n) => [String(n), code as ErrorCode])),
);

/** Vendor texts in the description that refine a known `error` (Okta, Entra, oidc-provider, Salesforce). */
const TEXT_REASONS: ReadonlyArray<readonly [RegExp, ErrorCode, readonly string[]]> = [
  // "canceled"/"cancelled" (Entra, Okta texts), "aborted" (oidc-provider: "End-User aborted interaction").
  [/cancel|abort/i, 'upstream_user_cancelled', ['access_denied', 'unauthorized']],
  [/not assigned/i, 'upstream_user_not_assigned', ['access_denied', 'unauthorized']],
  [/policy/i, 'upstream_policy_denied', ['access_denied', 'unauthorized']],
  [/app must be installed into org/i, 'upstream_access_denied', ['invalid_client']],
];

/** The catalog code of the first AADSTS number in an Entra error description, if it is one we know. */
export function aadstsReason(description: string | undefined): ErrorCode | undefined {
  const aadsts = AADSTS.exec(description ?? '')?.[1];
  return aadsts && Object.hasOwn(AADSTS_REASONS, aadsts) ? AADSTS_REASONS[aadsts] : undefined;
}

function reasonFor(error: string, description: string): ErrorCode {
  const known = Object.hasOwn(ERROR_REASONS, error) ? ERROR_REASONS[error] : undefined;
  if (!known) return 'upstream_error_unknown';
  const byNumber = aadstsReason(description);
  if (byNumber) return byNumber;
  for (const [pattern, code, errors] of TEXT_REASONS) {
    if (errors.includes(error) && pattern.test(description)) return code;
  }
  return known;
}

/** The IdP's error parameters, verbatim, plus vendor trace IDs parsed out of the description. */
export function upstreamErrorRecord(params: URLSearchParams): Record<string, unknown> {
  const description = params.get('error_description') ?? '';
  const record: Record<string, unknown> = { error: params.get('error') };
  if (description) record.error_description = description;
  const uri = params.get('error_uri');
  if (uri) record.error_uri = uri;
  for (const key of ['error_codes', 'trace_id', 'correlation_id', 'timestamp', 'suberror', 'error_subcode']) {
    const v = params.get(key);
    if (v) record[key] = v;
  }
  const trace = ENTRA_TRACE.exec(description)?.[1];
  if (trace && !record.trace_id) record.trace_id = trace;
  const correlation = ENTRA_CORRELATION.exec(description)?.[1];
  if (correlation && !record.correlation_id) record.correlation_id = correlation;
  const timestamp = ENTRA_TIMESTAMP.exec(description)?.[1];
  if (timestamp && !record.timestamp) record.timestamp = timestamp;
  const aadsts = AADSTS.exec(description)?.[1];
  if (aadsts) record.aadsts = Number(aadsts);
  return record;
}

/** The BrokerError for an `error=` the IdP sent to our callback. */
export function upstreamAuthorizationError(params: URLSearchParams): BrokerError {
  // Salesforce's web-server flow spells it `access-denied`.
  const error = (params.get('error') ?? '').replace(/-/g, '_');
  const description = params.get('error_description') ?? '';
  return new BrokerError(reasonFor(error, description), { upstream: upstreamErrorRecord(params) });
}
