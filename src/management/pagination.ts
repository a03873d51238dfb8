import type { Page, PageRequest } from '../storage/store.ts';
import { Validator } from './validate.ts';

/** Query parameters of every list endpoint: `limit` (1..100, default 10), `order`, `before`, `after`. */
export function parsePage(query: Record<string, string | undefined>): PageRequest {
  const v = new Validator();
  let limit = 10;
  if (query.limit !== undefined) {
    if (!/^\d+$/.test(query.limit) || Number(query.limit) < 1 || Number(query.limit) > 100) {
      v.fail('limit', 'must be a whole number from 1 to 100');
    } else limit = Number(query.limit);
  }
  let order: 'asc' | 'desc' = 'desc';
  if (query.order !== undefined) {
    // `normal` is listed by WorkOS's OpenAPI spec next to asc/desc; it means the default (newest first).
    if (query.order === 'asc') order = 'asc';
    else if (query.order !== 'desc' && query.order !== 'normal')
      v.fail('order', 'must be asc, desc or normal');
  }
  if (query.before && query.after) v.fail('before', 'cannot be combined with after');
  v.done();
  return { limit, order, before: query.before || undefined, after: query.after || undefined };
}

/** WorkOS list envelope. `after` is null on the last page, which is what stops the SDK's autoPagination. */
export function listResponse<T, U>(page: Page<T>, present: (item: T) => U) {
  return {
    object: 'list' as const,
    data: page.data.map(present),
    list_metadata: { before: page.before, after: page.after },
  };
}
