import { BrokerError } from '../errors/broker-error.ts';
import { newId } from '../lib/ids.ts';
import { upstreamFetchDetail } from '../lib/safe-fetch.ts';
import type { SecretBox } from '../lib/secret-box.ts';
import { randomToken } from '../lib/tokens.ts';
import type { ManagementDeps } from '../management/deps.ts';
import { listResponse, parsePage } from '../management/pagination.ts';
import { objectBody, Validator } from '../management/validate.ts';
import {
  NotFoundError,
  type WebhookDeliveryRecord,
  type WebhookDeliveryState,
  type WebhookEndpointPatch,
  type WebhookEndpointRecord,
  type WebhookEndpointStatus,
} from '../storage/store.ts';

/**
 * Webhook endpoints through the management API (docs/events-webhooks.md#webhooks), at the paths and in the
 * shapes of `@workos-inc/node`'s `webhooks` methods: `GET/POST /webhook_endpoints`, `PATCH/DELETE
 * /webhook_endpoints/{id}`. Ours beside them: `GET /webhook_endpoints/{id}`, `POST …/{id}/rotate_secret` and
 * the deliveries with their attempts.
 *
 * The signing secret is shown once, in the answer to a create or a rotation (the SDK's `secret`), and stored
 * sealed: deliveries need it to sign. The endpoint URL passes the SSRF guard when it is saved, and again at
 * every delivery (its name may resolve elsewhere by then).
 */

const MAX_URL = 2048;
const MAX_EVENTS = 100;
/** An event name (`connection.activated`); any such name is accepted, as WorkOS does for its own list. */
const EVENT_NAME = /^[a-z0-9_]+(\.[a-z0-9_]+)+$/;
const STATUSES: readonly WebhookEndpointStatus[] = ['enabled', 'disabled'];
const DELIVERY_STATES: readonly WebhookDeliveryState[] = ['pending', 'succeeded', 'failed'];

/** The sealing context of an endpoint's secret: a sealed value copied to another endpoint does not open. */
export function secretContext(endpointId: string): string {
  return `webhook_endpoint:${endpointId}:secret`;
}

/** A new signing secret: 32 random bytes, base64url. */
function newSecret(): string {
  return randomToken(32);
}

export function presentWebhookEndpoint(e: WebhookEndpointRecord) {
  return {
    object: 'webhook_endpoint' as const,
    id: e.id,
    endpoint_url: e.url,
    status: e.status,
    events: e.events,
    created_at: e.createdAt.toISOString(),
    updated_at: e.updatedAt.toISOString(),
  };
}

/** The endpoint with its secret in plain text: only in the answer that created it. */
function withSecret(e: WebhookEndpointRecord, box: SecretBox) {
  return { ...presentWebhookEndpoint(e), secret: box.decrypt(e.secret, secretContext(e.id)) };
}

export function presentWebhookDelivery(d: WebhookDeliveryRecord) {
  return {
    object: 'webhook_delivery' as const,
    endpoint_id: d.endpointId,
    event_id: d.eventId,
    event: d.event,
    state: d.state,
    next_attempt_at: d.nextAttemptAt?.toISOString() ?? null,
    attempts: d.history.map((a) => ({
      attempt: a.attempt,
      started_at: a.startedAt.toISOString(),
      status: a.outcome,
      response_status: a.responseStatus,
      latency_ms: a.latencyMs,
      error: a.error,
    })),
    created_at: d.createdAt.toISOString(),
    updated_at: d.updatedAt.toISOString(),
  };
}

function notFound(id: string): BrokerError {
  return new BrokerError('not_found', { message: `Webhook endpoint '${id}' not found.` });
}

/**
 * `endpoint_url`: an absolute URL the guard lets deliveries reach, now (its name resolved). The reason given
 * is fixed: whoever holds an API key must not learn what a name resolves to or which ports answer.
 */
async function endpointUrl(
  deps: ManagementDeps,
  v: Validator,
  body: Record<string, unknown>,
  required: boolean,
): Promise<{ url?: string; detail?: string }> {
  const raw = v.string(body, 'endpoint_url', { required, max: MAX_URL });
  if (!raw) return {};
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    v.fail('endpoint_url', 'must be an absolute https URL');
    return {};
  }
  if (url.username || url.password) {
    v.fail('endpoint_url', 'must not contain credentials');
    return {};
  }
  if (url.hash) {
    v.fail('endpoint_url', 'must not contain a fragment');
    return {};
  }
  const refused = await deps.checkWebhookUrl(url.href);
  if (refused) {
    v.fail('endpoint_url', 'must be an https URL of a public address');
    return { detail: upstreamFetchDetail(refused) ?? refused.message };
  }
  return { url: url.href };
}

/** `events`: 1 to 100 event names, duplicates dropped, in the order given. */
function eventNames(v: Validator, body: Record<string, unknown>, required: boolean): string[] | undefined {
  const raw = body.events;
  if (raw === undefined) {
    if (required) v.fail('events', 'is required');
    return undefined;
  }
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_EVENTS) {
    v.fail('events', `must be a list of 1 to ${MAX_EVENTS} event names`);
    return undefined;
  }
  if (!raw.every((n) => typeof n === 'string' && n.length <= 100 && EVENT_NAME.test(n))) {
    v.fail('events', 'must be event names, such as connection.activated');
    return undefined;
  }
  return [...new Set(raw as string[])];
}

export async function listWebhookEndpoints(deps: ManagementDeps, query: Record<string, string | undefined>) {
  const result = await deps.store.listWebhookEndpoints(parsePage(query));
  return listResponse(result, presentWebhookEndpoint);
}

export async function getWebhookEndpoint(deps: ManagementDeps, id: string) {
  const e = await deps.store.getWebhookEndpoint(id);
  if (!e) throw notFound(id);
  return presentWebhookEndpoint(e);
}

/** `POST /webhook_endpoints {endpoint_url, events}`: enabled at once; the answer holds the secret, once. */
export async function createWebhookEndpoint(deps: ManagementDeps, rawBody: unknown) {
  const body = objectBody(rawBody);
  const v = new Validator();
  const { url, detail } = await endpointUrl(deps, v, body, true);
  const events = eventNames(v, body, true);
  v.done(detail ? { endpoint_url: detail } : undefined);
  const id = newId('we');
  const created = await deps.store.createWebhookEndpoint({
    id,
    url: url as string,
    secret: deps.secretBox.encrypt(newSecret(), secretContext(id)),
    status: 'enabled',
    events: events as string[],
  });
  return withSecret(created, deps.secretBox);
}

/** `PATCH /webhook_endpoints/{id} {endpoint_url?, status?, events?}`. */
export async function updateWebhookEndpoint(deps: ManagementDeps, id: string, rawBody: unknown) {
  const body = objectBody(rawBody);
  if (!(await deps.store.getWebhookEndpoint(id))) throw notFound(id);
  const v = new Validator();
  const { url, detail } = await endpointUrl(deps, v, body, false);
  const events = eventNames(v, body, false);
  const status = body.status;
  if (status !== undefined && !STATUSES.includes(status as WebhookEndpointStatus)) {
    v.fail('status', 'must be enabled or disabled');
  }
  v.done(detail ? { endpoint_url: detail } : undefined);
  const patch: WebhookEndpointPatch = {};
  if (url !== undefined) patch.url = url;
  if (events !== undefined) patch.events = events;
  if (status !== undefined) patch.status = status as WebhookEndpointStatus;
  try {
    return presentWebhookEndpoint(await deps.store.updateWebhookEndpoint(id, patch));
  } catch (err) {
    if (err instanceof NotFoundError) throw notFound(id);
    throw err;
  }
}

export async function deleteWebhookEndpoint(deps: ManagementDeps, id: string): Promise<void> {
  try {
    await deps.store.deleteWebhookEndpoint(id);
  } catch (err) {
    if (err instanceof NotFoundError) throw notFound(id);
    throw err;
  }
}

/**
 * `POST /webhook_endpoints/{id}/rotate_secret`: a new secret, in force at once (for deliveries already queued
 * too); the old one no longer signs anything. The answer holds the new secret, once.
 */
export async function rotateWebhookSecret(deps: ManagementDeps, id: string) {
  try {
    const rotated = await deps.store.updateWebhookEndpoint(id, {
      secret: deps.secretBox.encrypt(newSecret(), secretContext(id)),
    });
    return withSecret(rotated, deps.secretBox);
  } catch (err) {
    if (err instanceof NotFoundError) throw notFound(id);
    throw err;
  }
}

/** `GET /webhook_endpoints/{id}/deliveries?state=`: newest event first, with each attempt. */
export async function listWebhookDeliveries(
  deps: ManagementDeps,
  id: string,
  query: Record<string, string | undefined>,
) {
  const page = parsePage(query);
  const v = new Validator();
  const state = query.state || undefined;
  if (state !== undefined && !DELIVERY_STATES.includes(state as WebhookDeliveryState)) {
    v.fail('state', 'must be pending, succeeded or failed');
  }
  v.done();
  if (!(await deps.store.getWebhookEndpoint(id))) throw notFound(id);
  const result = await deps.store.listWebhookDeliveries(
    id,
    { state: state as WebhookDeliveryState | undefined },
    page,
  );
  return listResponse(result, presentWebhookDelivery);
}

/** `GET /webhook_endpoints/{id}/deliveries/{event_id}`. */
export async function getWebhookDelivery(deps: ManagementDeps, id: string, eventId: string) {
  const d = await deps.store.getWebhookDelivery(id, eventId);
  if (!d) {
    throw new BrokerError('not_found', {
      message: `No delivery of event '${eventId}' to webhook endpoint '${id}'.`,
    });
  }
  return presentWebhookDelivery(d);
}
