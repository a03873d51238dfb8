import { isBrokerError } from '../errors/broker-error.ts';
import { EVENT_NAMES } from '../events/build.ts';
import { listEvents } from '../events/list.ts';
import {
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  getWebhookEndpoint,
  listWebhookDeliveries,
  listWebhookEndpoints,
  updateWebhookEndpoint,
} from '../webhooks/endpoints.ts';
import {
  audit,
  type DashboardContext,
  type DashboardDeps,
  type DashboardResult,
  dashboardPath,
  messagePage,
  page,
} from './dashboard.ts';

/**
 * Events and webhook endpoints in the dashboard (issue 13). Events are read through `GET /events`'s own function
 * (the store's filters and pagination), newest first, each with its data as the API serves it. Webhook endpoints
 * are listed, created (the signing secret shown once), enabled, disabled and deleted through the management API's
 * functions, each change audited; each endpoint shows its latest deliveries with every attempt.
 */

type Form = Record<string, string | undefined>;

const PAGE_SIZE = 25;
/** Deliveries shown per endpoint (the latest). */
const DELIVERIES_SHOWN = 5;
/** Longest event data shown (pretty-printed JSON); events are small, this bounds the page. */
const DATA_MAX = 20_000;

function when(iso: string | null | undefined): string {
  return typeof iso === 'string' ? iso.replace('T', ' ').slice(0, 19) : '';
}

function pretty(data: unknown): string {
  const text = JSON.stringify(data, null, 2) ?? '';
  return text.length > DATA_MAX
    ? `${text.slice(0, DATA_MAX)}\n… (${text.length - DATA_MAX} more characters)`
    : text;
}

/** `GET /dashboard/events?event=&organization_id=&after=&before=`: 25 a page, newest first. */
export async function eventsPage(
  deps: DashboardDeps,
  ctx: DashboardContext,
  query: Form,
): Promise<DashboardResult> {
  const filters: Record<string, string> = {};
  const event = query.event?.trim().slice(0, 100);
  const organizationId = query.organization_id?.trim().slice(0, 100);
  if (event) filters.event = event;
  if (organizationId) filters.organization_id = organizationId;
  let list: {
    data: { id: string; event: string; data: Record<string, unknown>; created_at: string }[];
    list_metadata: { before: string | null; after: string | null };
  };
  let error: string | null = null;
  try {
    list = await listEvents(deps.management, {
      ...(event ? { events: event } : {}),
      ...(organizationId ? { organization_id: organizationId } : {}),
      order: 'desc',
      limit: String(PAGE_SIZE),
      ...(query.after ? { after: query.after.slice(0, 100) } : {}),
      ...(query.before ? { before: query.before.slice(0, 100) } : {}),
    });
  } catch (err) {
    if (!isBrokerError(err) || !err.fields) throw err;
    error = err.fields.map((f) => f.code).join('; ');
    list = { data: [], list_metadata: { before: null, after: null } };
  }
  const link = (cursor: 'after' | 'before', value: string | null) =>
    value ? `${dashboardPath(deps, 'events')}?${new URLSearchParams({ ...filters, [cursor]: value })}` : null;
  return page(
    deps,
    'events',
    {
      title: 'Events',
      names: EVENT_NAMES,
      filters,
      filtered: Object.keys(filters).length > 0,
      rows: list.data.map((e) => ({
        id: e.id,
        event: e.event,
        when: when(e.created_at),
        data: pretty(e.data),
      })),
      older: link('after', list.list_metadata.after),
      newer: link('before', list.list_metadata.before),
      error,
    },
    { context: ctx, requestId: ctx.requestId, current: 'events', status: error ? 422 : 200 },
  );
}

interface EndpointView {
  id: string;
  endpoint_url: string;
  status: string;
  events: string[];
  created_at: string;
}

interface DeliveryView {
  event_id: string;
  event: string;
  state: string;
  next_attempt_at: string | null;
  attempts: {
    attempt: number;
    started_at: string;
    status: string;
    response_status: number | null;
    latency_ms: number | null;
    error: string | null;
  }[];
}

/** `GET /dashboard/webhooks?after=&before=`: the endpoints, 25 a page, each with its latest deliveries. */
export async function webhooksPage(
  deps: DashboardDeps,
  ctx: DashboardContext,
  query: Form,
  options: { error?: string; form?: Form; status?: number } = {},
): Promise<DashboardResult> {
  const list = (await listWebhookEndpoints(deps.management, {
    limit: String(PAGE_SIZE),
    ...(query.after ? { after: query.after.slice(0, 100) } : {}),
    ...(query.before ? { before: query.before.slice(0, 100) } : {}),
  })) as { data: EndpointView[]; list_metadata: { before: string | null; after: string | null } };
  const endpoints = await Promise.all(
    list.data.map(async (e) => {
      const deliveries = (
        await listWebhookDeliveries(deps.management, e.id, { limit: String(DELIVERIES_SHOWN) })
      ).data as DeliveryView[];
      return {
        id: e.id,
        url: e.endpoint_url,
        status: e.status,
        events: e.events.join(', '),
        created: when(e.created_at),
        deliveries: deliveries.map((d) => ({
          eventId: d.event_id,
          event: d.event,
          state: d.state,
          next: when(d.next_attempt_at),
          attempts: d.attempts.map((a) => ({
            attempt: a.attempt,
            at: when(a.started_at),
            status: a.status,
            responseStatus: a.response_status === null ? 'none' : String(a.response_status),
            latency: a.latency_ms === null ? '' : `${a.latency_ms} ms`,
            error: a.error ?? '',
          })),
        })),
      };
    }),
  );
  const link = (cursor: 'after' | 'before', value: string | null) =>
    value ? `${dashboardPath(deps, 'webhooks')}?${new URLSearchParams({ [cursor]: value })}` : null;
  const form = options.form ?? {};
  return page(
    deps,
    'webhooks',
    {
      title: 'Webhooks',
      endpoints,
      names: EVENT_NAMES.map((name) => ({ name, checked: form[`event:${name}`] === 'on' })),
      url: form.endpoint_url ?? '',
      older: link('after', list.list_metadata.after),
      newer: link('before', list.list_metadata.before),
      error: options.error ?? null,
    },
    { context: ctx, requestId: ctx.requestId, current: 'webhooks', status: options.status ?? 200 },
  );
}

/** The management API's refusal in words (its fields), or null for another error. */
function refusal(err: unknown): string | null {
  if (!isBrokerError(err)) return null;
  if (err.fields) return err.fields.map((f) => f.code).join('; ');
  return null;
}

/**
 * `POST /dashboard/webhooks` {endpoint_url, event:<name>=on …}: `createWebhookEndpoint`, as the API does it (the
 * URL through the SSRF guard); the page shows the signing secret, once.
 */
export async function createEndpoint(
  deps: DashboardDeps,
  ctx: DashboardContext,
  form: Form,
): Promise<DashboardResult> {
  const events = EVENT_NAMES.filter((name) => form[`event:${name}`] === 'on');
  let created: { id: string; endpoint_url: string; events: string[]; secret: string };
  try {
    created = await createWebhookEndpoint(deps.management, {
      endpoint_url: (form.endpoint_url ?? '').trim(),
      ...(events.length ? { events } : {}),
    });
  } catch (err) {
    const why = refusal(err);
    if (why === null) throw err;
    return webhooksPage(deps, ctx, {}, { error: why, form, status: 422 });
  }
  await audit(
    deps,
    ctx,
    'webhook_endpoint.create',
    { type: 'webhook_endpoint', id: created.id },
    { url: created.endpoint_url, events: created.events },
  );
  return page(
    deps,
    'webhook-created',
    {
      title: 'Webhook endpoint created',
      id: created.id,
      url: created.endpoint_url,
      secret: created.secret,
      back: dashboardPath(deps, 'webhooks'),
    },
    { context: ctx, requestId: ctx.requestId, current: 'webhooks', status: 201 },
  );
}

function notFound(deps: DashboardDeps, ctx: DashboardContext): DashboardResult {
  return messagePage(
    deps,
    404,
    'Webhook endpoint not found',
    'It may have been deleted meanwhile.',
    ctx.requestId,
    {
      context: ctx,
    },
  );
}

/** `POST /dashboard/webhooks/:id/status` {status: enabled | disabled}: `updateWebhookEndpoint`. */
export async function setEndpointStatus(
  deps: DashboardDeps,
  ctx: DashboardContext,
  id: string,
  form: Form,
): Promise<DashboardResult> {
  const status = form.status;
  if (status !== 'enabled' && status !== 'disabled') {
    return webhooksPage(deps, ctx, {}, { error: 'status must be enabled or disabled', status: 422 });
  }
  try {
    await updateWebhookEndpoint(deps.management, id, { status });
  } catch (err) {
    if (isBrokerError(err) && err.entry.status === 404) return notFound(deps, ctx);
    throw err;
  }
  await audit(deps, ctx, status === 'enabled' ? 'webhook_endpoint.enable' : 'webhook_endpoint.disable', {
    type: 'webhook_endpoint',
    id,
  });
  return { kind: 'redirect', location: dashboardPath(deps, 'webhooks'), session: ctx.session };
}

/**
 * `POST /dashboard/webhooks/:id/delete`: first a page that asks to confirm (what goes with it), then, with
 * `confirm=yes`, `deleteWebhookEndpoint` (its queued deliveries go too).
 */
export async function deleteEndpoint(
  deps: DashboardDeps,
  ctx: DashboardContext,
  id: string,
  form: Form,
): Promise<DashboardResult> {
  let endpoint: EndpointView;
  try {
    endpoint = (await getWebhookEndpoint(deps.management, id)) as EndpointView;
  } catch (err) {
    if (isBrokerError(err) && err.entry.status === 404) return notFound(deps, ctx);
    throw err;
  }
  if (form.confirm !== 'yes') {
    return page(
      deps,
      'webhook-delete',
      {
        title: 'Delete the webhook endpoint?',
        id: endpoint.id,
        url: endpoint.endpoint_url,
        back: dashboardPath(deps, 'webhooks'),
      },
      { context: ctx, requestId: ctx.requestId, current: 'webhooks' },
    );
  }
  try {
    await deleteWebhookEndpoint(deps.management, id);
  } catch (err) {
    if (isBrokerError(err) && err.entry.status === 404) return notFound(deps, ctx);
    throw err;
  }
  await audit(
    deps,
    ctx,
    'webhook_endpoint.delete',
    { type: 'webhook_endpoint', id },
    { url: endpoint.endpoint_url },
  );
  return { kind: 'redirect', location: dashboardPath(deps, 'webhooks'), session: ctx.session };
}
