import type { ManagementDeps } from '../management/deps.ts';
import { listResponse, parsePage } from '../management/pagination.ts';
import { Validator } from '../management/validate.ts';
import type { EventRecord } from '../storage/store.ts';

/**
 * `GET /events` (design/workos-api.md §7.2), what `workos.events.listEvents()` calls: filters `events`
 * (comma-joined names), `organization_id`, `range_start` (at or after) and `range_end` (before), ISO 8601; the
 * list's `limit`, `before`, `after`. Unlike the other lists, `order` defaults to `asc`: the events API is read
 * as a stream, oldest first, with `after` set to the last event the reader processed.
 */

/** The event envelope, as `deserializeEvent` reads it. */
export function presentEvent(e: EventRecord) {
  return {
    object: 'event' as const,
    id: e.id,
    event: e.event,
    data: e.data,
    created_at: e.createdAt.toISOString(),
  };
}

const EVENT_NAME = /^[a-z0-9_]+(\.[a-z0-9_]+)+$/;
const MAX_NAMES = 100;

export async function listEvents(deps: ManagementDeps, query: Record<string, string | undefined>) {
  const page = parsePage({ ...query, order: query.order ?? 'asc' });
  const v = new Validator();
  let events: string[] | undefined;
  if (query.events !== undefined && query.events !== '') {
    const names = query.events.split(',').map((n) => n.trim());
    if (names.length > MAX_NAMES) v.fail('events', `may name at most ${MAX_NAMES} event types`);
    else if (!names.every((n) => n.length <= 100 && EVENT_NAME.test(n)))
      v.fail('events', 'must be event names separated by commas, such as connection.activated');
    else events = [...new Set(names)];
  }
  const organizationId = query.organization_id || undefined;
  if (organizationId && organizationId.length > 64)
    v.fail('organization_id', 'must be at most 64 characters');
  const rangeStart = v.timestamp('range_start', query.range_start);
  const rangeEnd = v.timestamp('range_end', query.range_end);
  if (rangeStart && rangeEnd && rangeStart >= rangeEnd) v.fail('range_end', 'must be after range_start');
  v.done();
  const result = await deps.store.listEvents({ events, organizationId, rangeStart, rangeEnd }, page);
  return listResponse(result, presentEvent);
}
