import type { RateLimits } from './config/load.ts';
import type { Store } from './storage/store.ts';

/**
 * The rate limits (`GATEHOUSE_RATE_LIMIT_*`), counted in the store so that every node of a deployment shares
 * them: `/sso/authorize` and the callback URLs per client IP and per connection, `/sso/token` per client and (its
 * failures) per client IP, the management API per key.
 * Fixed windows (WorkOS states its limits as N requests per 60 seconds). When the store cannot count (the
 * database is down), requests go through and the failure is logged: a limiter must not turn an outage of its
 * counters into an outage of sign-in.
 */

export type LimitName = keyof RateLimits;

export type LimitVerdict = { limited: false } | { limited: true; name: LimitName; retryAfterSeconds: number };

const ALLOWED: LimitVerdict = { limited: false };

interface Log {
  error(obj: Record<string, unknown>, msg: string): void;
}

export class RateLimiter {
  readonly #store: Store;
  readonly #limits: RateLimits;
  readonly #now: () => Date;
  readonly #onLimited: ((name: LimitName) => void) | undefined;

  /** `onLimited` hears of each refused request, with the limit that refused it (the metrics count them). */
  constructor(
    store: Store,
    limits: RateLimits,
    now: () => Date = () => new Date(),
    onLimited?: (name: LimitName) => void,
  ) {
    this.#store = store;
    this.#limits = limits;
    this.#now = now;
    this.#onLimited = onLimited;
  }

  /** Whether any limit is on (the flow skips the store call when none is). */
  enabled(name: LimitName): boolean {
    return this.#limits[name] !== null;
  }

  /**
   * Counts one request against each named limit (one store round trip) and says whether one is exceeded, with
   * the seconds until its window ends.
   */
  async hit(subjects: Partial<Record<LimitName, string>>, log: Log): Promise<LimitVerdict> {
    const hits: { name: LimitName; key: string; limit: number; windowMs: number }[] = [];
    for (const [name, subject] of Object.entries(subjects) as [LimitName, string][]) {
      const spec = this.#limits[name];
      if (spec) hits.push({ name, key: `${name}:${subject}`, ...spec });
    }
    if (hits.length === 0) return ALLOWED;
    const now = this.#now();
    let results: Awaited<ReturnType<Store['hitRateLimits']>>;
    try {
      results = await this.#store.hitRateLimits(hits, now);
    } catch (err) {
      log.error({ err }, 'rate limits could not be counted; letting the request through');
      return ALLOWED;
    }
    for (let i = 0; i < hits.length; i++) {
      const result = results[i];
      if (result && !result.allowed) {
        const { name } = hits[i] as (typeof hits)[number];
        this.#onLimited?.(name);
        return {
          limited: true,
          name,
          retryAfterSeconds: Math.max(1, Math.ceil((result.resetAt.getTime() - now.getTime()) / 1000)),
        };
      }
    }
    return ALLOWED;
  }
}
