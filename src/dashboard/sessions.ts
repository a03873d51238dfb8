import { isBrokerError } from '../errors/broker-error.ts';
import { catalog, type ErrorCode } from '../errors/catalog.ts';
import { AUDIENCES, type Audience } from '../errors/explanations.ts';
import { getSession, listSessions, type presentSession } from '../management/sessions.ts';
import { STAGE_WORDS } from '../portal/test-sign-in.ts';
import {
  type DashboardContext,
  type DashboardDeps,
  type DashboardResult,
  dashboardPath,
  messagePage,
  page,
} from './dashboard.ts';

/**
 * The session log in the dashboard (issue 13): every sign-in attempt, filtered and paged by the store (through the
 * management API's `listSessions`, the same filters as `GET /sso/sessions`), a search by request ID (the one on
 * error pages and in logs) that goes straight to the attempt, and one attempt in detail: its stages, the reason,
 * the explanation and fix (computed by the management presenter from errors/explanations.ts), what the identity
 * provider said (as stored: its error fields, never secrets; escaped by the templates, long values cut).
 */

type Form = Record<string, string | undefined>;
type Session = ReturnType<typeof presentSession>;

const PAGE_SIZE = 25;
/** Longest value of the IdP's error or of the detail shown on the page. */
const VALUE_MAX = 1000;
/** At most this many fields of either. */
const FIELDS_MAX = 40;

const OUTCOMES = ['started', 'succeeded', 'failed', 'timed_out'] as const;

/** The failed stages the log records, in the order of a sign-in, with what each means. */
export const FAILED_STAGES: Record<string, string> = {
  ...STAGE_WORDS,
  abandoned_at_idp: 'at the identity provider: the user never came back',
};

/** The times a record keeps (`stages`), as the timeline names them. */
const STAGE_TIMES: Record<string, string> = {
  authorize: 'The app sent the user to Gatehouse',
  idp_initiated: 'The identity provider started the sign-in',
  upstream_redirect: 'Sent to the identity provider',
  callback: 'The identity provider answered',
  callback_replayed: 'The answer was sent again',
  consent_shown: 'The confirmation screen was shown',
  consent: 'The user answered the confirmation screen',
  code_issued: 'Sent back to the app with a code',
  code_redeemed: 'The app exchanged the code for the profile',
  code_replayed: 'The code was used again',
  failed: 'Failed',
  timed_out: 'Recorded as timed out',
};

function when(iso: string | null | undefined): string {
  return typeof iso === 'string' ? iso.replace('T', ' ').slice(0, 19) : '';
}

/**
 * A `datetime-local` value (`2030-01-31T10:00`, read as UTC, as the form says), or an ISO date-time: as the
 * management API reads it. Empty stays empty.
 */
function isoOf(value: string | undefined): string | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(v) ? `${v}Z` : v;
}

/** Names of the connections and organizations on a page of records (each looked up once). */
async function namesOf(
  deps: DashboardDeps,
  rows: Session[],
): Promise<{ connections: Map<string, string>; organizations: Map<string, string> }> {
  const connectionIds = [...new Set(rows.map((r) => r.connection_id).filter((id) => id !== null))];
  const organizationIds = [...new Set(rows.map((r) => r.organization_id).filter((id) => id !== null))];
  const [connections, organizations] = await Promise.all([
    Promise.all(connectionIds.map((id) => deps.store.getConnection(id))),
    Promise.all(organizationIds.map((id) => deps.store.getOrganization(id))),
  ]);
  return {
    connections: new Map(connections.filter((c) => c !== null).map((c) => [c.id, c.name])),
    organizations: new Map(organizations.filter((o) => o !== null).map((o) => [o.id, o.name])),
  };
}

/** The filters the page understands, as given (trimmed, capped). */
function filtersOf(query: Form): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of [
    'organization_id',
    'connection_id',
    'outcome',
    'failed_stage',
    'range_start',
    'range_end',
  ]) {
    const value = query[name]?.trim().slice(0, 100);
    if (value) out[name] = value;
  }
  return out;
}

/**
 * `GET /dashboard/sessions?organization_id=&connection_id=&outcome=&failed_stage=&range_start=&range_end=&after=&before=`:
 * 25 a page, newest first. `request_id=` goes to the attempt with that request ID (or a session ID).
 */
export async function sessionLog(
  deps: DashboardDeps,
  ctx: DashboardContext,
  query: Form,
): Promise<DashboardResult> {
  const requestId = query.request_id?.trim().slice(0, 100) ?? '';
  if (requestId) return findByRequestId(deps, ctx, requestId);
  const filters = filtersOf(query);
  let list: { data: Session[]; list_metadata: { before: string | null; after: string | null } };
  let error: string | null = null;
  try {
    list = await listSessions(deps.management, {
      ...filters,
      range_start: isoOf(filters.range_start),
      range_end: isoOf(filters.range_end),
      limit: String(PAGE_SIZE),
      ...(query.after ? { after: query.after.slice(0, 100) } : {}),
      ...(query.before ? { before: query.before.slice(0, 100) } : {}),
    });
  } catch (err) {
    if (!isBrokerError(err) || !err.fields) throw err;
    error = err.fields.map((f) => f.code).join('; ');
    list = { data: [], list_metadata: { before: null, after: null } };
  }
  return listPage(deps, ctx, filters, list, { error, status: error ? 422 : 200 });
}

async function listPage(
  deps: DashboardDeps,
  ctx: DashboardContext,
  filters: Record<string, string>,
  list: { data: Session[]; list_metadata: { before: string | null; after: string | null } },
  options: { error?: string | null; notFound?: string | null; status?: number },
): Promise<DashboardResult> {
  const names = await namesOf(deps, list.data);
  const link = (cursor: 'after' | 'before', value: string | null) =>
    value
      ? `${dashboardPath(deps, 'sessions')}?${new URLSearchParams({ ...filters, [cursor]: value })}`
      : null;
  return page(
    deps,
    'sessions',
    {
      title: 'Session log',
      filters,
      outcomes: OUTCOMES,
      stages: Object.entries(FAILED_STAGES).map(([value, words]) => ({ value, words })),
      filtered: Object.keys(filters).length > 0,
      rows: list.data.map((s) => ({
        id: s.id,
        when: when(s.created_at),
        outcome: s.outcome,
        failedStage: s.failed_stage,
        reason: s.reason,
        connection: s.connection_id ? (names.connections.get(s.connection_id) ?? s.connection_id) : null,
        connectionType: s.connection_type,
        organization: s.organization_id
          ? (names.organizations.get(s.organization_id) ?? s.organization_id)
          : null,
        email: s.email,
      })),
      older: link('after', list.list_metadata.after),
      newer: link('before', list.list_metadata.before),
      error: options.error ?? null,
      notFound: options.notFound ?? null,
    },
    { context: ctx, requestId: ctx.requestId, current: 'sessions', status: options.status ?? 200 },
  );
}

/** The attempt with this request ID (authorize, callback or consent), or a session ID: straight to it. */
async function findByRequestId(
  deps: DashboardDeps,
  ctx: DashboardContext,
  requestId: string,
): Promise<DashboardResult> {
  const to = (id: string): DashboardResult => ({
    kind: 'redirect',
    location: dashboardPath(deps, `sessions/${encodeURIComponent(id)}`),
    session: ctx.session,
  });
  if (/^sess_[0-9A-Z]{26}$/.test(requestId)) return to(requestId);
  let found: Session[] = [];
  if (requestId.length <= 64) {
    found = (await listSessions(deps.management, { request_id: requestId, limit: '2' })).data;
  }
  if (found.length === 1 && found[0]) return to(found[0].id);
  return listPage(
    deps,
    ctx,
    {},
    { data: found, list_metadata: { before: null, after: null } },
    {
      notFound: found.length === 0 ? requestId : null,
      status: found.length === 0 ? 404 : 200,
    },
  );
}

/** A value of the IdP's error or of the detail, as text: strings as they are, the rest as JSON; long ones cut. */
function shown(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return text.length > VALUE_MAX
    ? `${text.slice(0, VALUE_MAX)}… (${text.length - VALUE_MAX} more characters)`
    : text;
}

function fieldsOf(record: Record<string, unknown> | null): { name: string; value: string }[] {
  if (!record) return [];
  const entries = Object.entries(record);
  const out = entries
    .slice(0, FIELDS_MAX)
    .map(([name, value]) => ({ name: name.slice(0, 100), value: shown(value) }));
  if (entries.length > FIELDS_MAX)
    out.push({ name: '…', value: `${entries.length - FIELDS_MAX} more fields` });
  return out;
}

/** The stages' times in order, each with the time since the first. */
function timeline(
  stages: Record<string, string>,
): { name: string; label: string; at: string; after: string }[] {
  const times = Object.entries(stages)
    .map(([name, at]) => ({ name, at, ms: Date.parse(at) }))
    .filter((s) => !Number.isNaN(s.ms))
    .sort((a, b) => a.ms - b.ms);
  const start = times[0]?.ms ?? 0;
  return times.map((s) => ({
    name: s.name,
    label: STAGE_TIMES[s.name] ?? s.name,
    at: when(s.at),
    after: s.ms === start ? '' : `+${((s.ms - start) / 1000).toFixed(3)} s`,
  }));
}

/** `GET /dashboard/sessions/:id`: one attempt in detail. */
export async function sessionDetail(
  deps: DashboardDeps,
  ctx: DashboardContext,
  id: string,
): Promise<DashboardResult> {
  let s: Session;
  try {
    s = await getSession(deps.management, id.slice(0, 100));
  } catch (err) {
    if (isBrokerError(err) && err.entry.status === 404) {
      return messagePage(
        deps,
        404,
        'Sign-in attempt not found',
        'No record has this ID: it may be older than the session log keeps (GATEHOUSE_SESSION_LOG_RETENTION_DAYS).',
        ctx.requestId,
        { context: ctx },
      );
    }
    throw err;
  }
  const names = await namesOf(deps, [s]);
  const reason = s.reason && s.reason in catalog ? catalog[s.reason as ErrorCode] : null;
  return page(
    deps,
    'session',
    {
      title: `Sign-in attempt ${s.id}`,
      s: {
        id: s.id,
        when: when(s.created_at),
        outcome: s.outcome,
        failedStage: s.failed_stage,
        failedStageWords: s.failed_stage ? (FAILED_STAGES[s.failed_stage] ?? null) : null,
        reason: s.reason,
        reasonText: reason?.description ?? null,
        error: s.error,
        audience: s.audience ? AUDIENCES[s.audience as Audience] : null,
        retryable: s.retryable,
        explanation: s.explanation,
        fix: s.fix,
        connectionId: s.connection_id,
        connection: s.connection_id ? (names.connections.get(s.connection_id) ?? null) : null,
        connectionType: s.connection_type,
        organizationId: s.organization_id,
        organization: s.organization_id ? (names.organizations.get(s.organization_id) ?? null) : null,
        clientId: s.client_id,
        redirectUri: s.redirect_uri,
        email: s.email,
        idpId: s.idp_id,
        profileId: s.profile_id,
        requestIds: Object.entries(s.request_ids)
          .filter(([, v]) => v !== null)
          .map(([name, value]) => ({ name, value })),
      },
      stages: timeline(s.stages),
      upstream: fieldsOf(s.upstream_error),
      detail: fieldsOf(s.detail),
      back: dashboardPath(deps, 'sessions'),
    },
    { context: ctx, requestId: ctx.requestId, current: 'sessions' },
  );
}
