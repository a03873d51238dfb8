import { connectorFor } from '../connectors/registry.ts';
import { parseCertificate } from '../connectors/saml/keys.ts';
import type { ConnectionRecord, NewEvent, Store } from '../storage/store.ts';
import { certificateRenewalRequiredEvent, certificateRenewedEvent, DAY_MS } from './build.ts';

/**
 * The IdP certificates of SAML connections, watched for expiry (docs/events-webhooks.md):
 * - `connection.saml_certificate_renewal_required` when a connection's certificate is 90, 30, 7 and 1 days from
 *   expiry, then every week after it expired; once per threshold across nodes (a dedupe key per connection,
 *   certificate fingerprint and threshold). A connection trusts every certificate it lists (rotation), so what
 *   needs renewing is its LATEST-expiring certificate: while a newer one is trusted, an old one expiring is no news;
 * - `connection.saml_certificate_renewed` when an update or a metadata refresh brings a certificate that expires
 *   later than every one the connection had.
 */

/** Days before expiry that call for a renewal, largest first. */
export const RENEWAL_THRESHOLDS_DAYS = [90, 30, 7, 1] as const;
const WEEK_MS = 7 * DAY_MS;

interface Certificate {
  fingerprint: string;
  notAfter: Date;
}

/** Parsed certificates by PEM (parsing X.509 on every check of every connection is wasted work). */
const parsed = new Map<string, Certificate | null>();
const PARSED_MAX = 10_000;

function parse(pem: string): Certificate | null {
  let cert = parsed.get(pem);
  if (cert === undefined) {
    const p = parseCertificate(pem);
    cert = p.ok ? { fingerprint: p.fingerprint, notAfter: p.notAfter } : null;
    if (parsed.size >= PARSED_MAX) parsed.clear();
    parsed.set(pem, cert);
  }
  return cert;
}

/** The connection's IdP certificate that expires last, or null (not SAML, or no certificate). */
export function latestIdpCertificate(connection: ConnectionRecord): Certificate | null {
  if (connectorFor(connection.connectionType)?.protocol !== 'saml') return null;
  const pems = (connection.config as { idpCertificates?: unknown }).idpCertificates;
  if (!Array.isArray(pems)) return null;
  let latest: Certificate | null = null;
  for (const pem of pems) {
    const cert = typeof pem === 'string' ? parse(pem) : null;
    if (cert && (!latest || cert.notAfter > latest.notAfter)) latest = cert;
  }
  return latest;
}

/** The events of a change from `before` to `after`: `renewed` if a certificate now outlasts every earlier one. */
export function certificateRenewedEvents(before: ConnectionRecord, after: ConnectionRecord): NewEvent[] {
  const was = latestIdpCertificate(before);
  const now = latestIdpCertificate(after);
  // A first certificate is a set-up, not a renewal.
  if (!was || !now || now.notAfter <= was.notAfter) return [];
  return [
    certificateRenewedEvent(
      { id: after.id, organizationId: after.organizationId },
      { type: 'ResponseSigning', notAfter: now.notAfter },
      after.updatedAt,
    ),
  ];
}

/**
 * The renewal threshold a certificate has reached at `now`: `90d`, `30d`, `7d`, `1d` (the smallest reached), or
 * `expired+<n>w` in the n-th week after its expiry, with when it was crossed; null while more than 90 days are left.
 */
export function renewalThreshold(notAfter: Date, now: Date): { key: string; crossedAt: Date } | null {
  const remaining = notAfter.getTime() - now.getTime();
  if (remaining <= 0) {
    const weeks = Math.floor(-remaining / WEEK_MS);
    return { key: `expired+${weeks}w`, crossedAt: new Date(notAfter.getTime() + weeks * WEEK_MS) };
  }
  let reached: number | null = null;
  for (const days of RENEWAL_THRESHOLDS_DAYS) if (remaining <= days * DAY_MS) reached = days;
  if (reached === null) return null;
  return { key: `${reached}d`, crossedAt: new Date(notAfter.getTime() - reached * DAY_MS) };
}

/**
 * The maintenance's certificate check, one per app: every run reads the live (validating or active) SAML
 * connections and writes the renewal events they are due, each once across nodes (the store skips a dedupe key
 * already written). It remembers the keys it wrote, so that a node does not ask the store again every run.
 *
 * A dedupe key lives as long as its event, `retentionDays`: so a threshold's event is written only within that
 * many days of its crossing (a later run, after the event and its key are gone, must not write it again). With
 * the default retention (90 days) that never bites: the longest stretch between two thresholds is 60 days.
 */
export class CertificateCheck {
  readonly #written = new Set<string>();

  async run(store: Store, now: Date, retentionDays: number): Promise<number> {
    const window = retentionDays > 0 ? retentionDays * DAY_MS : Number.POSITIVE_INFINITY;
    let written = 0;
    let after: string | undefined;
    for (let pages = 0; pages < 10_000; pages++) {
      const page = await store.listConnections({}, { limit: 100, order: 'asc', after });
      const due: NewEvent[] = [];
      for (const c of page.data) {
        if (c.state !== 'active' && c.state !== 'validating') continue;
        const cert = latestIdpCertificate(c);
        const threshold = cert && renewalThreshold(cert.notAfter, now);
        if (!cert || !threshold || now.getTime() - threshold.crossedAt.getTime() >= window) continue;
        const key = `saml_certificate_renewal_required:${c.id}:${cert.fingerprint}:${threshold.key}`;
        if (this.#written.has(key)) continue;
        due.push(
          certificateRenewalRequiredEvent(
            { id: c.id, organizationId: c.organizationId },
            { type: 'ResponseSigning', notAfter: cert.notAfter },
            now,
            key,
          ),
        );
      }
      if (due.length > 0) {
        written += await store.appendEvents(due);
        if (this.#written.size + due.length > PARSED_MAX) this.#written.clear();
        for (const e of due) this.#written.add(e.dedupeKey as string);
      }
      if (!page.after) break;
      after = page.after;
    }
    return written;
  }
}
