import { type CatalogEntry, catalog } from '../errors/catalog.ts';
import { newId } from '../lib/ids.ts';
import type { presentConnection } from '../management/connections.ts';
import type { presentDomain, presentOrganization } from '../management/organizations.ts';
import type { NewEvent, SsoSessionRecord } from '../storage/store.ts';

/**
 * Events in WorkOS's shapes (design/workos-api.md §7.2; docs/events-webhooks.md). Each builder returns the
 * `NewEvent` that a store write takes with its change (same transaction): `data` is the object the management
 * API presents (a connection, an organization, a domain), or the authentication event's fields, exactly as
 * `@workos-inc/node`'s `deserializeEvent` reads them. Builders are pure: callers present the records.
 */

export const DAY_MS = 24 * 60 * 60 * 1000;

/** Every event Gatehouse writes (the table in docs/events-webhooks.md; the dashboard offers them). */
export const EVENT_NAMES = [
  'authentication.sso_started',
  'authentication.sso_succeeded',
  'authentication.sso_failed',
  'authentication.sso_timed_out',
  'connection.activated',
  'connection.deactivated',
  'connection.deleted',
  'connection.saml_certificate_renewal_required',
  'connection.saml_certificate_renewed',
  'organization.created',
  'organization.updated',
  'organization.deleted',
  'organization_domain.created',
  'organization_domain.verified',
  'organization_domain.verification_failed',
  'organization_domain.deleted',
] as const;

export type ConnectionData = ReturnType<typeof presentConnection>;
export type OrganizationData = ReturnType<typeof presentOrganization>;
export type DomainData = ReturnType<typeof presentDomain>;

function event(name: string, organizationId: string | null, data: Record<string, unknown>): NewEvent {
  // The ID's time is the event's time: `GET /events` filters a time range as an ID range.
  const createdAt = new Date();
  return { id: newId('event'), event: name, organizationId, data, createdAt };
}

export type ConnectionEventName = 'connection.activated' | 'connection.deactivated' | 'connection.deleted';

/**
 * `data` is the connection; for `connection.deleted`, as it was before the deletion. `from` (the record the
 * change started from) makes a state change's event once: writers racing from the same record write one.
 */
export function connectionEvent(
  name: ConnectionEventName,
  connection: ConnectionData,
  from?: { id: string; updatedAt: Date },
): NewEvent {
  const e = event(name, connection.organization_id, connection);
  return from ? { ...e, dedupeKey: `${name}:${from.id}:${from.updatedAt.toISOString()}` } : e;
}

export function organizationEvent(
  name: 'organization.created' | 'organization.updated' | 'organization.deleted',
  organization: OrganizationData,
): NewEvent {
  return event(name, organization.id, organization);
}

export function domainEvent(
  name: 'organization_domain.created' | 'organization_domain.verified' | 'organization_domain.deleted',
  domain: DomainData,
): NewEvent {
  return event(name, domain.organization_id, domain);
}

/** `data` is `{reason, organization_domain}`, as the SDK reads it; `reason` says what DNS returned. */
export function domainVerificationFailedEvent(domain: DomainData, reason: string): NewEvent {
  return event('organization_domain.verification_failed', domain.organization_id, {
    reason,
    organization_domain: domain,
  });
}

// ---- authentication.sso_* ----

/** The browser of a sign-in as Gatehouse saw it on the request that the event describes. */
export interface Browser {
  ipAddress: string | null;
  userAgent: string | null;
}

export const NO_BROWSER: Browser = { ipAddress: null, userAgent: null };

/** User agents longer than this are cut (real ones are a few hundred characters). */
export const USER_AGENT_MAX = 512;

export type AuthenticationStatus = 'started' | 'succeeded' | 'failed' | 'timed_out';

/** What an authentication event reads from a session log record. */
export type SessionFacts = Pick<
  SsoSessionRecord,
  'id' | 'organizationId' | 'connectionId' | 'profileId' | 'email' | 'reason' | 'wireCode'
>;

/**
 * The catalog entry of a recorded failure: its reason's, or the internal error's for a reason outside the
 * catalog (an unexpected exception is recorded as `internal`).
 */
function failureEntry(reason: string | null): CatalogEntry {
  return (reason && (catalog as Record<string, CatalogEntry>)[reason]) || catalog.callback_internal;
}

/**
 * `authentication.sso_<status>`: `{type:'sso', status, ip_address, user_agent, user_id, email, sso:{organization_id,
 * connection_id, session_id}, error?}`. `user_id` is the profile ID once the IdP has answered; `session_id` the
 * session log record's ID (`GET /sso/sessions/{id}` has the detail). `error` (failed and timed out only) is the
 * wire code the app received and the catalog's fixed description of it, never the IdP's own text.
 */
export function authenticationEvent(
  status: AuthenticationStatus,
  session: SessionFacts,
  browser: Browser,
): NewEvent {
  let error: { code: string; message: string } | undefined;
  if (status === 'failed') {
    const entry = failureEntry(session.reason);
    error = { code: session.wireCode ?? entry.wire, message: entry.description };
  } else if (status === 'timed_out') {
    // The app heard nothing; a browser that came back now would get this.
    error = { code: catalog.transaction_expired.wire, message: catalog.transaction_expired.description };
  }
  return event(`authentication.sso_${status}`, session.organizationId, {
    type: 'sso',
    status,
    ip_address: browser.ipAddress,
    // A browser's header, bounded: an event row costs what its request said.
    user_agent: browser.userAgent ? browser.userAgent.slice(0, USER_AGENT_MAX) : null,
    user_id: session.profileId,
    email: session.email,
    sso: {
      organization_id: session.organizationId,
      connection_id: session.connectionId,
      session_id: session.id,
    },
    ...(error ? { error } : {}),
  });
}

/** The event a session log write records, if the write ends the sign-in (`succeeded` or `failed`). */
export function outcomeEvents(
  outcome: string | undefined,
  browser: Browser,
): ((session: SsoSessionRecord) => NewEvent[]) | undefined {
  if (outcome !== 'succeeded' && outcome !== 'failed') return undefined;
  return (session) => [authenticationEvent(outcome, session, browser)];
}

// ---- SAML certificates ----

export type CertificateType = 'ResponseSigning' | 'RequestSigning' | 'ResponseEncryption';

export interface ConnectionRef {
  id: string;
  organizationId: string | null;
}

/**
 * `connection.saml_certificate_renewal_required`: `{connection:{id, organization_id}, certificate:{certificate_type,
 * expiry_date, is_expired}, days_until_expiry}`. `dedupeKey` makes it once per key across nodes.
 */
export function certificateRenewalRequiredEvent(
  connection: ConnectionRef,
  certificate: { type: CertificateType; notAfter: Date },
  now: Date,
  dedupeKey: string,
): NewEvent {
  const remainingMs = certificate.notAfter.getTime() - now.getTime();
  return {
    ...event('connection.saml_certificate_renewal_required', connection.organizationId, {
      connection: { id: connection.id, organization_id: connection.organizationId },
      certificate: {
        certificate_type: certificate.type,
        expiry_date: certificate.notAfter.toISOString(),
        is_expired: remainingMs <= 0,
      },
      // Whole days left, rounded up (29.2 days left reads 30 only past 29 days): negative once expired.
      days_until_expiry: Math.ceil(remainingMs / DAY_MS) || 0,
    }),
    dedupeKey,
  };
}

/** `connection.saml_certificate_renewed`: `{connection:{id, organization_id}, certificate:{certificate_type, expiry_date}, renewed_at}`. */
export function certificateRenewedEvent(
  connection: ConnectionRef,
  certificate: { type: CertificateType; notAfter: Date },
  renewedAt: Date,
): NewEvent {
  return event('connection.saml_certificate_renewed', connection.organizationId, {
    connection: { id: connection.id, organization_id: connection.organizationId },
    certificate: { certificate_type: certificate.type, expiry_date: certificate.notAfter.toISOString() },
    renewed_at: renewedAt.toISOString(),
  });
}
