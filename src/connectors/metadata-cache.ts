/**
 * A per-node cache for what a connector fetches from its IdP (discovery documents): fresh for an hour; a failed
 * refresh keeps serving the last good value (stale-if-error) for up to a day, so a short IdP outage does not
 * stop sign-ins that only need what the document says. Failures are never cached: the next request tries again.
 */

const FRESH_MS = 60 * 60 * 1000;
const STALE_MS = 24 * 60 * 60 * 1000;
/** After an error is served over by the last good value, the next refresh waits this long. */
const RETRY_MS = 60 * 1000;

interface Entry<T> {
  promise: Promise<T>;
  fetchedAt: number;
  /** The last good value, served while a refresh fails. */
  lastGood?: T;
}

export function cachedMetadata<T>(
  cache: Map<string, unknown>,
  key: string,
  load: () => Promise<T>,
): Promise<T> {
  const cached = cache.get(key) as Entry<T> | undefined;
  const now = Date.now();
  if (cached && now - cached.fetchedAt < FRESH_MS) return cached.promise;

  const fetched = load();
  const entry: Entry<T> = {
    promise: fetched,
    fetchedAt: now,
    ...(cached?.lastGood !== undefined ? { lastGood: cached.lastGood } : {}),
  };
  cache.set(key, entry);
  fetched.then(
    (value) => {
      entry.lastGood = value;
    },
    () => {
      if (cache.get(key) === entry) cache.delete(key);
    },
  );
  const lastGood = cached?.lastGood;
  if (lastGood !== undefined && now - (cached?.fetchedAt ?? 0) < STALE_MS) {
    return fetched.catch(() => {
      cache.set(key, { promise: Promise.resolve(lastGood), fetchedAt: now - FRESH_MS + RETRY_MS, lastGood });
      return lastGood;
    });
  }
  return fetched;
}
