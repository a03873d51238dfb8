import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { connectorFor } from './connectors/registry.ts';
import { catalog } from './errors/catalog.ts';
import type { FetchLike } from './lib/safe-fetch.ts';
import type { LimitName } from './rate-limiter.ts';
import type { SsoSessionRecord, Store } from './storage/store.ts';

/** A session record's outcome (`timed_out` once the session log records logins that expired). */
type SessionOutcome = 'started' | 'succeeded' | 'failed' | 'timed_out';

/**
 * The Prometheus metrics of one node (`GET /metrics`, docs/operations.md): every metric is defined here, on a
 * registry of its own (one per app, so that apps built side by side in tests do not mix), with the functions
 * that the rest of the code calls.
 *
 * Cardinality is bounded by construction: no label value comes from a request. Routes are Fastify's route
 * patterns (`/connections/:id`), never URLs; connection types are those of the connector registry (`other`
 * otherwise); reasons are catalog codes (`other` otherwise); the IdP host is the one of a saved connection's
 * configuration; limits, store operations and status classes are fixed sets.
 */

const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const UPSTREAM_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const STORE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** `2xx`…`5xx`; anything else (no status at all) is `other`. */
export function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other';
}

/** A connection type the registry knows, `none` for a sign-in without a connection, else `other`. */
export function connectionTypeLabel(type: string | null | undefined): string {
  if (type == null) return 'none';
  return connectorFor(type) ? type : 'other';
}

/** The session log's reasons that are not catalog codes: an unknown failure, a login that expired. */
const OTHER_REASONS = new Set(['internal', 'timed_out', 'timed_out_at_consent']);

/** A catalog code (or one of `OTHER_REASONS`), else `other`. */
export function reasonLabel(reason: string | null | undefined): string {
  if (reason == null) return 'unknown';
  return OTHER_REASONS.has(reason) || Object.hasOwn(catalog, reason) ? reason : 'other';
}

export class Metrics {
  readonly registry = new Registry();

  readonly #httpDuration = new Histogram({
    name: 'gatehouse_http_request_duration_seconds',
    help: 'HTTP requests answered, by method, route pattern and status class; _count is the number of requests.',
    labelNames: ['method', 'route', 'status_class'] as const,
    buckets: HTTP_BUCKETS,
    registers: [this.registry],
  });

  readonly #signInsStarted = new Counter({
    name: 'gatehouse_signins_started_total',
    help: 'Sign-in attempts recorded in the session log (every attempt that passed the redirect URI check), by connection type.',
    labelNames: ['connection_type'] as const,
    registers: [this.registry],
  });

  readonly #signInsSucceeded = new Counter({
    name: 'gatehouse_signins_succeeded_total',
    help: 'Sign-ins that ended with a code issued to the app, by connection type.',
    labelNames: ['connection_type'] as const,
    registers: [this.registry],
  });

  readonly #signInsFailed = new Counter({
    name: 'gatehouse_signins_failed_total',
    help: 'Sign-in failures recorded in the session log, by connection type and reason (catalog code).',
    labelNames: ['connection_type', 'reason'] as const,
    registers: [this.registry],
  });

  readonly #signInsTimedOut = new Counter({
    name: 'gatehouse_signins_timed_out_total',
    help: 'Sign-ins recorded as timed out (the user never came back from the IdP before the login expired), by connection type.',
    labelNames: ['connection_type'] as const,
    registers: [this.registry],
  });

  readonly #upstreamDuration = new Histogram({
    name: 'gatehouse_upstream_request_duration_seconds',
    help: "Requests to identity providers during sign-in (discovery, JWKS, token, userinfo, provider APIs), by connection type, the IdP host of the connection's saved configuration, and status class (error: no response).",
    labelNames: ['connection_type', 'idp_host', 'status_class'] as const,
    buckets: UPSTREAM_BUCKETS,
    registers: [this.registry],
  });

  readonly #rateLimited = new Counter({
    name: 'gatehouse_rate_limit_rejections_total',
    help: 'Requests refused by a rate limit, by limit.',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });

  readonly #storeDuration = new Histogram({
    name: 'gatehouse_store_operation_duration_seconds',
    help: 'Store (database) calls, by Store method and result (ok or error).',
    labelNames: ['operation', 'result'] as const,
    buckets: STORE_BUCKETS,
    registers: [this.registry],
  });

  #webhookBacklogSource: (() => number | Promise<number>) | null = null;

  readonly #webhookFailures = new Counter({
    name: 'gatehouse_webhook_delivery_failures_total',
    help: 'Webhook delivery attempts that failed (timeout, network error or non-2xx answer).',
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const metrics = this;
    new Gauge({
      name: 'gatehouse_webhook_backlog',
      help: 'Webhook deliveries waiting to be sent (including retries), read from the store at scrape time.',
      registers: [this.registry],
      async collect() {
        const source = metrics.#webhookBacklogSource;
        if (!source) return this.set(0);
        try {
          this.set(await source());
        } catch {
          // Keep the last value: a scrape must not fail because the store did.
        }
      },
    });
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Text exposition (Prometheus format 0.0.4). */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** One answered HTTP request; `route` is the route pattern, or null when no route matched. */
  httpRequest(method: string, route: string | null | undefined, status: number, seconds: number): void {
    this.#httpDuration.observe(
      { method, route: route ?? 'unmatched', status_class: statusClass(status) },
      seconds,
    );
  }

  signInStarted(connectionType: string | null): void {
    this.#signInsStarted.inc({ connection_type: connectionTypeLabel(connectionType) });
  }

  signInSucceeded(connectionType: string | null): void {
    this.#signInsSucceeded.inc({ connection_type: connectionTypeLabel(connectionType) });
  }

  signInFailed(connectionType: string | null, reason: string | null): void {
    this.#signInsFailed.inc({
      connection_type: connectionTypeLabel(connectionType),
      reason: reasonLabel(reason),
    });
  }

  /** Also for a bulk write that times out many logins at once: call it once per login, with its type. */
  signInTimedOut(connectionType: string | null): void {
    this.#signInsTimedOut.inc({ connection_type: connectionTypeLabel(connectionType) });
  }

  rateLimited(limit: LimitName): void {
    this.#rateLimited.inc({ limit });
  }

  /**
   * `fetch`, timed into the upstream histogram under one connection's labels. `idpHost` must come from the
   * connection's saved configuration (never from a URL a request or an IdP supplied).
   */
  timeUpstream(fetch: FetchLike, labels: { connectionType: string; idpHost: string }): FetchLike {
    const histogram = this.#upstreamDuration;
    const base = { connection_type: connectionTypeLabel(labels.connectionType), idp_host: labels.idpHost };
    return async (url, init) => {
      const end = histogram.startTimer(base);
      try {
        const response = await fetch(url, init);
        end({ status_class: statusClass(response.status) });
        return response;
      } catch (err) {
        end({ status_class: 'error' });
        throw err;
      }
    };
  }

  storeCall(operation: string, seconds: number, ok: boolean): void {
    this.#storeDuration.observe({ operation, result: ok ? 'ok' : 'error' }, seconds);
  }

  /**
   * Webhooks: the delivery worker registers how to count the deliveries waiting (read at each scrape; the
   * gauge is 0 until then) …
   */
  webhookBacklog(source: () => number | Promise<number>): void {
    this.#webhookBacklogSource = source;
  }

  /** … and reports each failed delivery attempt. */
  webhookDeliveryFailed(): void {
    this.#webhookFailures.inc();
  }
}

/**
 * The store, timed: every method call is observed in `gatehouse_store_operation_duration_seconds` under the
 * method's name. A proxy at app build time, so that both backends (and any later one) are timed alike.
 *
 * It is also where sign-ins are counted, because every sign-in outcome is a session log write: a new record
 * (`createLoginTransaction`, `createSession`) is a sign-in started, and a record written or updated to
 * `succeeded`, `failed` or `timed_out` (`updateSession`, `completeSignIn`) is one succeeded, failed or timed out. Counted once the write succeeded,
 * whichever part of the flow made it. (A write that changes many records at once is not seen here: its caller
 * calls `signInTimedOut` and the like.)
 */
export function instrumentStore(store: Store, metrics: Metrics): Store {
  const wrapped = new Map<string, unknown>();
  return new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function' || typeof property !== 'string' || property === 'constructor') {
        return value;
      }
      let fn = wrapped.get(property);
      if (!fn) {
        fn = timed(property, (value as (...args: unknown[]) => unknown).bind(target), metrics);
        wrapped.set(property, fn);
      }
      return fn;
    },
  });
}

function timed(
  operation: string,
  call: (...args: unknown[]) => unknown,
  metrics: Metrics,
): (...args: unknown[]) => unknown {
  return (...args: unknown[]) => {
    const start = performance.now();
    const done = (ok: boolean) => metrics.storeCall(operation, (performance.now() - start) / 1000, ok);
    let result: unknown;
    try {
      result = call(...args);
    } catch (err) {
      done(false);
      throw err;
    }
    if (!(result instanceof Promise)) {
      done(true);
      return result;
    }
    return result.then(
      (value: unknown) => {
        done(true);
        countSignIn(operation, args, value, metrics);
        return value;
      },
      (err: unknown) => {
        done(false);
        throw err;
      },
    );
  };
}

function countSignIn(operation: string, args: unknown[], value: unknown, metrics: Metrics): void {
  let record: { connectionType: string | null; outcome: SessionOutcome; reason: string | null };
  if (operation === 'createLoginTransaction') {
    record = args[1] as SsoSessionRecord;
  } else if (operation === 'createSession') {
    record = value as SsoSessionRecord;
  } else if (operation === 'completeSignIn') {
    // The callback's one write: counted like an update, when it completed and its patch set the outcome.
    const outcome = (args[0] as { session?: { outcome?: string } } | undefined)?.session?.outcome;
    const written = value as { kind: string; session?: SsoSessionRecord };
    if (written.kind !== 'completed' || !written.session) return;
    if (outcome !== 'succeeded' && outcome !== 'failed') return;
    record = { connectionType: written.session.connectionType, outcome, reason: written.session.reason };
  } else if (operation === 'updateSession') {
    // Only a patch that sets the outcome counts; the record says which connection and reason.
    const outcome = (args[1] as { outcome?: string } | undefined)?.outcome;
    if (outcome !== 'succeeded' && outcome !== 'failed' && outcome !== 'timed_out') return;
    const updated = value as SsoSessionRecord;
    record = {
      connectionType: updated.connectionType,
      outcome: outcome as SessionOutcome,
      reason: updated.reason,
    };
  } else {
    return;
  }
  if (operation !== 'updateSession' && operation !== 'completeSignIn')
    metrics.signInStarted(record.connectionType);
  if (record.outcome === 'succeeded') metrics.signInSucceeded(record.connectionType);
  else if (record.outcome === 'failed') metrics.signInFailed(record.connectionType, record.reason);
  else if (record.outcome === 'timed_out') metrics.signInTimedOut(record.connectionType);
}
