import { BrokerError } from '../errors/broker-error.ts';
import type { ErrorCode } from '../errors/catalog.ts';

/**
 * Classifies an OAuth/OIDC `error` an IdP put on our callback (error-taxonomy.md §5.3). Matching on the
 * `error` code first, then on well-known vendor texts (Okta, Entra AADSTS numbers, Salesforce's hyphenated
 * `access-denied`), only to pick a more precise reason: the wire code follows from the catalog, the upstream
 * text is kept verbatim for the session log and never reaches the browser.
 */

const ENTRA_TRACE = /Trace ID: ([0-9a-f-]{36})/i;
const ENTRA_CORRELATION = /Correlation ID: ([0-9a-f-]{36})/i;
const ENTRA_TIMESTAMP = /Timestamp: ([0-9: -]+Z)/i;
const AADSTS = /AADSTS(\d+)/;

function reasonFor(error: string, description: string): ErrorCode {
  const aadsts = AADSTS.exec(description)?.[1];
  switch (error) {
    case 'access_denied':
    case 'unauthorized': // Auth0 rules and blocked users
      // "canceled"/"cancelled" (Entra, Okta texts), "aborted" (oidc-provider: "End-User aborted interaction").
      if (aadsts === '65004' || /cancel|abort/i.test(description)) return 'upstream_user_cancelled';
      if (aadsts === '50105' || /not assigned/i.test(description)) return 'upstream_user_not_assigned';
      if (/policy/i.test(description) || ['53003', '530032', '530035', '50131'].includes(aadsts ?? '')) {
        return 'upstream_policy_denied';
      }
      return 'upstream_access_denied';
    case 'user_canceled_request': // Okta
      return 'upstream_user_cancelled';
    case 'consent_required':
      return 'upstream_access_denied';
    case 'temporarily_unavailable':
    case 'server_error':
      return 'upstream_temporarily_unavailable';
    case 'invalid_client':
    case 'unauthorized_client':
    case 'invalid_client_id':
      return 'upstream_client_rejected';
    case 'unsupported_response_type':
    case 'unsupported_response_mode':
    case 'invalid_scope':
    case 'redirect_uri_mismatch':
    case 'redirect_uri_missing':
      return 'upstream_config_rejected';
    case 'invalid_request':
    case 'invalid_request_object':
    case 'invalid_request_uri':
    case 'request_not_supported':
    case 'request_uri_not_supported':
    case 'registration_not_supported':
      return 'upstream_request_rejected';
    case 'login_required':
    case 'interaction_required':
    case 'account_selection_required':
    case 'immediate_unsuccessful':
      return 'upstream_interaction_required';
    case 'inactive_user':
    case 'inactive_org':
      return 'upstream_access_denied';
    default:
      return 'upstream_error_unknown';
  }
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
