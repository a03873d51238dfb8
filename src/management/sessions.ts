import { BrokerError } from '../errors/broker-error.ts';
import { explain } from '../errors/explanations.ts';
import type { SessionOutcome, SsoSessionRecord } from '../storage/store.ts';
import type { ManagementDeps } from './deps.ts';
import { listResponse, parsePage } from './pagination.ts';
import { Validator } from './validate.ts';

/**
 * GET /sso/sessions: the session log, newest first, filtered by `connection_id`, `organization_id` or
 * `request_id` (any request ID of the sign-in: authorize, callback or consent — the one shown on error pages
 * and in logs). A sign-in that never came back from the IdP before its transaction expired is `timed_out`
 * (maintenance records it so; until it runs, an expired `started` record reads the same).
 *
 * A failed or timed-out sign-in is explained for whoever can fix it (`audience`, `retryable`, `explanation`,
 * `fix`, from errors/explanations.ts), computed here from the stored reason, upstream error and detail: records
 * written before the table existed, or before it changed, read with the current text.
 */
export function presentSession(s: SsoSessionRecord, now: Date) {
  const timedOut = s.outcome === 'timed_out' || (s.outcome === 'started' && s.expiresAt <= now);
  // Timed out on the consent screen (the IdP answered) or at the IdP (it never did).
  const atConsent = s.failedStage === 'consent' || (s.failedStage === null && 'consent_shown' in s.stages);
  const why =
    s.outcome === 'failed'
      ? explain(s.reason, s.upstreamError, s.detail, s.connectionType)
      : timedOut
        ? explain(atConsent ? 'timed_out_at_consent' : 'timed_out', null, null, s.connectionType)
        : null;
  return {
    object: 'sso_session' as const,
    id: s.id,
    client_id: s.clientId,
    connection_id: s.connectionId,
    connection_type: s.connectionType,
    organization_id: s.organizationId,
    redirect_uri: s.redirectUri,
    outcome: timedOut ? ('timed_out' as const) : s.outcome,
    failed_stage: s.failedStage,
    reason: s.reason,
    error: s.wireCode,
    audience: why?.audience ?? null,
    retryable: why?.retryable ?? null,
    explanation: why?.explanation ?? null,
    fix: why?.fix ?? null,
    upstream_error: s.upstreamError,
    detail: s.detail,
    profile_id: s.profileId,
    idp_id: s.idpId,
    email: s.email,
    request_ids: {
      authorize: s.authorizeRequestId,
      callback: s.callbackRequestId,
      consent: s.consentRequestId,
    },
    stages: s.stages,
    created_at: s.createdAt.toISOString(),
    updated_at: s.updatedAt.toISOString(),
  };
}

const OUTCOMES: readonly SessionOutcome[] = ['started', 'succeeded', 'failed', 'timed_out'];
const STAGE = /^[a-z_]{1,40}$/;

/**
 * Filters: `connection_id`, `organization_id`, `request_id`, and (the dashboard's) `outcome` (as recorded: a
 * sign-in left at the IdP reads `timed_out` once its login expired, and is recorded so by the maintenance within
 * the hour after), `failed_stage`, `range_start` (created at or after) and `range_end` (before), ISO 8601.
 */
export async function listSessions(deps: ManagementDeps, query: Record<string, string | undefined>) {
  const page = parsePage(query);
  const v = new Validator();
  for (const field of ['connection_id', 'organization_id', 'request_id'] as const) {
    if ((query[field]?.length ?? 0) > 64) v.fail(field, 'must be at most 64 characters');
  }
  const outcome = query.outcome || undefined;
  if (outcome !== undefined && !OUTCOMES.includes(outcome as SessionOutcome)) {
    v.fail('outcome', 'must be started, succeeded, failed or timed_out');
  }
  const failedStage = query.failed_stage || undefined;
  if (failedStage !== undefined && !STAGE.test(failedStage)) {
    v.fail('failed_stage', 'must be a stage name, such as upstream_error');
  }
  const rangeStart = v.timestamp('range_start', query.range_start);
  const rangeEnd = v.timestamp('range_end', query.range_end);
  if (rangeStart && rangeEnd && rangeStart >= rangeEnd) v.fail('range_end', 'must be after range_start');
  v.done();
  const now = new Date();
  const result = await deps.store.listSessions(
    {
      connectionId: query.connection_id || undefined,
      organizationId: query.organization_id || undefined,
      requestId: query.request_id || undefined,
      outcome: outcome as SessionOutcome | undefined,
      failedStage,
      rangeStart,
      rangeEnd,
    },
    page,
  );
  return listResponse(result, (s) => presentSession(s, now));
}

export async function getSession(deps: ManagementDeps, id: string) {
  const s = await deps.store.getSession(id);
  if (!s) throw new BrokerError('not_found', { message: `Session '${id}' not found.` });
  return presentSession(s, new Date());
}
