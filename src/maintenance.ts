import { authenticationEvent, NO_BROWSER } from './events/build.ts';
import type { CertificateCheck } from './events/certificates.ts';
import type { Store } from './storage/store.ts';

/** How often each node runs `runMaintenance`. Every node runs it; the deletes are idempotent. */
export const MAINTENANCE_INTERVAL_MS = 5 * 60 * 1000;

/** Login transactions, codes, access tokens and idempotency records are kept this long after they expire. */
const EXPIRED_GRACE_MS = 60 * 60 * 1000;

/** Session log records deleted per statement, and statements per run (the rest waits for the next run). */
const SESSION_BATCH = 1000;
const SESSION_BATCHES_PER_RUN = 100;

/** Timed-out sign-ins marked per statement, and statements per run. */
const TIMED_OUT_BATCH = 1000;
const TIMED_OUT_BATCHES_PER_RUN = 100;

export interface MaintenanceResult {
  /** Sign-ins recorded as timed out (their login expired while the user was at the IdP or on the consent screen). */
  timedOut: string[];
  transactions: number;
  grants: number;
  portalLinks: number;
  sessions: number;
  /** Events deleted past their retention. */
  events: number;
  /** Certificate renewal events written (`connection.saml_certificate_renewal_required`). */
  certificateEvents: number;
}

/**
 * Records the sign-ins that timed out (`Store.markTimedOutSessions`), then deletes what nothing needs any more:
 * login transactions, grants (codes, access tokens, idempotency
 * records, SAML assertion IDs, rate-limit windows) and Admin Portal setup links an hour after they expired, and session log records older
 * than `sessionLogRetentionDays` (0 keeps them for ever). Session records go in batches, so that a first run
 * over a large log does not hold the database in one long statement; a run deletes at most
 * SESSION_BATCH × SESSION_BATCHES_PER_RUN of them. Events older than `eventRetentionDays` go the same way.
 * With `certificates`, SAML connections' IdP certificates nearing expiry get their events (events/certificates.ts).
 */
export async function runMaintenance(
  store: Store,
  options: {
    now: Date;
    sessionLogRetentionDays: number;
    /** Unset or 0: events are kept for ever. */
    eventRetentionDays?: number;
    certificates?: CertificateCheck;
  },
): Promise<MaintenanceResult> {
  const expiredBefore = new Date(options.now.getTime() - EXPIRED_GRACE_MS);
  // Sign-ins whose login expired while still started are recorded as timed out before their transactions go,
  // so that none is purged unrecorded: when a run reaches its cap, the purge waits for the next run.
  const timedOut: string[] = [];
  let allMarked = false;
  for (let batch = 0; batch < TIMED_OUT_BATCHES_PER_RUN && !allMarked; batch++) {
    // Each with its `authentication.sso_timed_out`, in the same transaction.
    const marked = await store.markTimedOutSessions(expiredBefore, options.now, TIMED_OUT_BATCH, (s) => [
      authenticationEvent('timed_out', s, NO_BROWSER),
    ]);
    timedOut.push(...marked);
    allMarked = marked.length < TIMED_OUT_BATCH;
  }
  const [transactions, grants, portalLinks] = await Promise.all([
    allMarked ? store.deleteExpiredLoginTransactions(expiredBefore) : 0,
    store.deleteExpiredGrants(expiredBefore),
    store.deleteExpiredPortalLinks(expiredBefore),
  ]);
  let sessions = 0;
  if (options.sessionLogRetentionDays > 0) {
    const before = new Date(options.now.getTime() - options.sessionLogRetentionDays * 24 * 60 * 60 * 1000);
    for (let batch = 0; batch < SESSION_BATCHES_PER_RUN; batch++) {
      const deleted = await store.deleteSessionsBefore(before, SESSION_BATCH);
      sessions += deleted;
      if (deleted < SESSION_BATCH) break;
    }
  }
  const eventRetentionDays = options.eventRetentionDays ?? 0;
  let events = 0;
  if (eventRetentionDays > 0) {
    const before = new Date(options.now.getTime() - eventRetentionDays * 24 * 60 * 60 * 1000);
    for (let batch = 0; batch < SESSION_BATCHES_PER_RUN; batch++) {
      const deleted = await store.deleteEventsBefore(before, SESSION_BATCH);
      events += deleted;
      if (deleted < SESSION_BATCH) break;
    }
  }
  const certificateEvents = options.certificates
    ? await options.certificates.run(store, options.now, eventRetentionDays)
    : 0;
  return { timedOut, transactions, grants, portalLinks, sessions, events, certificateEvents };
}
