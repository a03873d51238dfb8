import { createHmac } from 'node:crypto';
import type { lookup as dnsLookup } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import type { WebhooksConfig } from '../config/load.ts';
import { presentEvent } from '../events/list.ts';
import {
  type FetchLike,
  type SafeFetchOptions,
  UpstreamFetchError,
  upstreamFetchDetail,
} from '../lib/safe-fetch.ts';
import type { SecretBox } from '../lib/secret-box.ts';
import type { Store, WebhookAttemptError, WebhookClaim } from '../storage/store.ts';
import { secretContext } from './endpoints.ts';

/**
 * Delivers queued webhook deliveries (docs/events-webhooks.md#webhooks). Every node runs one: it claims due
 * deliveries from the store (a lease per attempt, so that two nodes never make the same attempt), POSTs each
 * event's JSON to its endpoint, signed as `@workos-inc/node`'s `webhooks.constructEvent` verifies it, and records
 * the attempt: success, or a failure with the next attempt scheduled by `RETRY_DELAYS_MS`. Everything it needs
 * to resume is in the store: a restart, or another node once a dead node's lease has ended, carries on.
 */

/**
 * The wait after each failed attempt: 1 min, 8 min, ~1 h, ~8.5 h, ~2.8 days (×8 each time), plus up to 10%
 * so that deliveries that failed together (an outage) do not all come back together. Six attempts in all, the
 * last about 3 days and 5 hours after the first, as WorkOS (6 attempts over about 3 days).
 */
export const RETRY_DELAYS_MS: readonly number[] = [1, 8, 64, 512, 4096].map((m) => m * 60_000);

/** When attempt `attempt` (1-based) failed at `now`, when the next is due; null after the last. */
export function nextAttemptAt(
  now: Date,
  attempt: number,
  delays: readonly number[] = RETRY_DELAYS_MS,
  random: () => number = Math.random,
): Date | null {
  const delay = delays[attempt - 1];
  if (delay === undefined) return null;
  return new Date(now.getTime() + Math.round(delay * (1 + random() * 0.1)));
}

/** `t=<unix ms>, v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`: the `WorkOS-Signature` header. */
export function signatureHeader(secret: string, body: string, timestampMs: number): string {
  const v1 = createHmac('sha256', secret).update(`${timestampMs}.${body}`).digest('hex');
  return `t=${timestampMs}, v1=${v1}`;
}

/** The receiver's body is never needed: at most this much is read, the rest is left unread. */
export const RESPONSE_BYTES_READ = 1024;

/**
 * The SSRF guard's rules for endpoint URLs, when saved and at every delivery: https to public addresses, plus
 * the networks of GATEHOUSE_WEBHOOK_ALLOW_PRIVATE (http too); bounded by GATEHOUSE_WEBHOOK_TIMEOUT_MS; the
 * response body read up to RESPONSE_BYTES_READ; redirects not followed (the fetch's default).
 */
export function webhookFetchRules(config: WebhooksConfig, lookup?: typeof dnsLookup): SafeFetchOptions {
  let allowNetworks: BlockList | undefined;
  if (config.allowPrivate.length > 0) {
    allowNetworks = new BlockList();
    for (const entry of config.allowPrivate) {
      const [address = '', prefix] = entry.split('/');
      const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      allowNetworks.addSubnet(
        address,
        prefix === undefined ? (family === 'ipv6' ? 128 : 32) : Number(prefix),
        family,
      );
    }
  }
  return {
    allowPrivate: false,
    timeoutMs: config.timeoutMs,
    maxBytes: RESPONSE_BYTES_READ,
    oversize: 'truncate',
    ...(allowNetworks ? { allowNetworks } : {}),
    ...(lookup ? { lookup } : {}),
  };
}

/**
 * How long a claim holds a delivery: twice the attempt's time bound (which covers the request) plus 5 s to
 * record it. After that, another claim (another node, or a restart) makes the attempt again, so a node that
 * dies mid-attempt delays its deliveries by at most this much (25 s by default).
 */
function leaseMs(timeoutMs: number): number {
  return 2 * timeoutMs + 5000;
}

/** What the dispatcher tells the metrics (src/metrics.ts), when they are on. */
export interface WebhookMetrics {
  webhookBacklog(source: () => number | Promise<number>): void;
  webhookDeliveryFailed(): void;
}

interface Log {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface DispatcherOptions {
  store: Store;
  secretBox: SecretBox;
  /** The SSRF-guarded fetch for endpoint URLs (createSafeFetch with the webhook rules). */
  fetch: FetchLike;
  /** Bound of one attempt, connection to response. */
  timeoutMs: number;
  log: Log;
  metrics?: WebhookMetrics | null;
  /** Default RETRY_DELAYS_MS. */
  retryDelaysMs?: readonly number[];
  /** How often the store is asked for due deliveries. Default 1 s. */
  pollMs?: number;
  /** Attempts in flight at once on this node. Default 8. */
  concurrency?: number;
  /** Default: the system clock. */
  now?: () => Date;
  /** How long a stop waits for the attempts in flight before it interrupts them. Default 5 s. */
  stopGraceMs?: number;
}

type Outcome =
  | { ok: true; status: number; latencyMs: number }
  | {
      ok: false;
      status: number | null;
      latencyMs: number | null;
      error: WebhookAttemptError;
      /** The raw cause, for the server's log only. */
      detail?: string;
    };

const ERROR_OF: Record<UpstreamFetchError['kind'], WebhookAttemptError> = {
  blocked: 'not_allowed',
  timeout: 'timeout',
  network: 'unreachable',
  too_large: 'unreachable',
};

export class WebhookDispatcher {
  readonly #o: Required<Omit<DispatcherOptions, 'metrics'>> & { metrics: WebhookMetrics | null };
  readonly #inFlight = new Set<Promise<void>>();
  /** Aborts the attempts in flight when a stop has waited long enough. */
  readonly #abort = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | null = null;
  #stopping = false;

  constructor(options: DispatcherOptions) {
    this.#o = {
      retryDelaysMs: RETRY_DELAYS_MS,
      pollMs: 1000,
      concurrency: 8,
      now: () => new Date(),
      stopGraceMs: 5000,
      ...options,
      metrics: options.metrics ?? null,
    };
    this.#o.metrics?.webhookBacklog(() => this.#o.store.countWebhookBacklog());
  }

  start(): void {
    if (this.#timer || this.#stopping) return;
    this.#timer = setInterval(() => this.poll(), this.#o.pollMs);
    this.#timer.unref();
    this.poll();
  }

  /**
   * Stops claiming, then waits for the attempts in flight, at most `stopGraceMs`; those still running are
   * aborted and recorded as interrupted, due again at once (another node, or this one's next start, retries).
   */
  async stop(): Promise<void> {
    const graceMs = this.#o.stopGraceMs;
    this.#stopping = true;
    clearInterval(this.#timer);
    await this.#polling;
    if (this.#inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      await Promise.race([Promise.allSettled([...this.#inFlight]), grace]);
      clearTimeout(timer);
      this.#abort.abort();
      await Promise.allSettled([...this.#inFlight]);
    }
  }

  /** Claims what is due, up to the free slots, and starts delivering it. Returns once the claim is made. */
  poll(): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    this.#polling ??= this.#claim().finally(() => {
      this.#polling = null;
    });
    return this.#polling;
  }

  async #claim(): Promise<void> {
    const free = this.#o.concurrency - this.#inFlight.size;
    if (free <= 0) return;
    const now = this.#o.now();
    let claims: WebhookClaim[];
    try {
      claims = await this.#o.store.claimWebhookDeliveries(
        now,
        free,
        new Date(now.getTime() + leaseMs(this.#o.timeoutMs)),
      );
    } catch (err) {
      this.#o.log.error({ err }, 'webhook deliveries: claiming failed');
      return;
    }
    for (const claim of claims) {
      const delivery = this.#deliver(claim).finally(() => {
        this.#inFlight.delete(delivery);
        // A slot is free: take the next due delivery now rather than at the next tick.
        if (!this.#stopping) setImmediate(() => this.poll());
      });
      this.#inFlight.add(delivery);
    }
  }

  async #deliver(claim: WebhookClaim): Promise<void> {
    const { store, log } = this.#o;
    const context = { endpoint_id: claim.endpointId, event_id: claim.event.id, attempt: claim.attempt };
    const startedAt = this.#o.now();
    let outcome: Outcome;
    try {
      outcome = await this.#post(claim);
    } catch (err) {
      // Nothing above throws; if something does, the attempt still ends (and is retried on schedule).
      log.error({ ...context, err }, 'webhook delivery failed unexpectedly');
      outcome = { ok: false, status: null, latencyMs: null, error: 'unreachable' };
    }
    const now = this.#o.now();
    // An attempt this node's stop cut short is due again at once; any other failure waits its turn.
    const retryAt = outcome.ok
      ? null
      : outcome.error === 'interrupted'
        ? now
        : nextAttemptAt(now, claim.attempt, this.#o.retryDelaysMs);
    if (!outcome.ok) {
      this.#o.metrics?.webhookDeliveryFailed();
      log.warn(
        {
          ...context,
          error: outcome.error,
          status: outcome.status,
          detail: outcome.detail,
          retry_at: retryAt?.toISOString() ?? null,
        },
        retryAt ? 'webhook delivery attempt failed; will retry' : 'webhook delivery failed; no attempts left',
      );
    }
    try {
      const recorded = await store.finishWebhookAttempt({
        endpointId: claim.endpointId,
        eventId: claim.event.id,
        attempt: claim.attempt,
        startedAt,
        outcome: outcome.ok ? 'succeeded' : 'failed',
        responseStatus: outcome.status,
        latencyMs: outcome.latencyMs,
        error: outcome.ok ? null : outcome.error,
        retryAt,
        now,
      });
      if (!recorded)
        log.warn(context, 'webhook delivery attempt outlived its lease; its result was not recorded');
    } catch (err) {
      // The lease ends on its own; the attempt is then recorded as interrupted and made again.
      log.error({ ...context, err }, 'webhook delivery attempt could not be recorded');
    }
  }

  /** One POST of the event, signed; the outcome in fixed words (the raw network detail only for the log). */
  async #post(claim: WebhookClaim): Promise<Outcome> {
    let secret: string;
    try {
      secret = this.#o.secretBox.decrypt(claim.secret, secretContext(claim.endpointId));
    } catch (err) {
      return {
        ok: false,
        status: null,
        latencyMs: null,
        error: 'signing',
        detail: `the endpoint's secret does not open with this secret key: ${(err as Error).message}`,
      };
    }
    const body = JSON.stringify(presentEvent(claim.event));
    const started = performance.now();
    try {
      const res = await this.#o.fetch(claim.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Gatehouse-Webhooks/1',
          'workos-signature': signatureHeader(secret, body, Date.now()),
        },
        body,
        signal: this.#abort.signal,
        redirect: 'manual',
      });
      const latencyMs = Math.round(performance.now() - started);
      if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status, latencyMs };
      return { ok: false, status: res.status, latencyMs, error: 'status' };
    } catch (err) {
      const detail = upstreamFetchDetail(err) ?? (err as Error)?.message;
      if (this.#abort.signal.aborted)
        return { ok: false, status: null, latencyMs: null, error: 'interrupted', detail };
      const error = err instanceof UpstreamFetchError ? ERROR_OF[err.kind] : 'unreachable';
      return { ok: false, status: null, latencyMs: null, error, detail };
    }
  }
}
