/**
 * The storage contract. Every backend implements `Store` and passes `storage/conformance/suite.ts`.
 *
 * Rules every backend keeps:
 * - Methods are async and safe to call concurrently. Single-statement writes are atomic.
 * - `get*` returns `null` when the row does not exist; `update*`/`delete*` throw `NotFoundError`.
 * - Unique constraints surface as `AlreadyExistsError` with the constraint's logical name.
 * - Timestamps go in and come out as `Date` values in UTC, with millisecond precision.
 * - Lists are ordered by ID (IDs are ULIDs, so that is creation order) and paginated with ID cursors.
 * - Secrets arrive already encrypted or hashed (see `lib/secret-box.ts`, `lib/tokens.ts`); the store never
 *   sees a plaintext secret and never interprets a connection's `config`.
 */

export class NotFoundError extends Error {
  constructor(what: string) {
    super(`${what} not found`);
    this.name = 'NotFoundError';
  }
}

export class AlreadyExistsError extends Error {
  /** Logical name of the violated constraint, e.g. `organization.external_id`. */
  readonly constraint: string;
  constructor(constraint: string) {
    super(`${constraint} already exists`);
    this.name = 'AlreadyExistsError';
    this.constraint = constraint;
  }
}

// ---------- records ----------

export interface OrganizationRecord {
  id: string;
  name: string;
  externalId: string | null;
  allowProfilesOutsideOrganization: boolean;
  metadata: Record<string, string>;
  stripeCustomerId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export type DomainState = 'verified' | 'pending' | 'failed';

export interface OrganizationDomainRecord {
  id: string;
  organizationId: string;
  /** Lower-case, without a trailing dot. */
  domain: string;
  state: DomainState;
  verificationStrategy: 'dns' | 'manual';
  verificationToken: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export type ConnectionState = 'draft' | 'validating' | 'active' | 'inactive';

export interface ConnectionRecord {
  id: string;
  organizationId: string | null;
  connectionType: string;
  name: string;
  state: ConnectionState;
  /** Random, URL-safe key in this connection's callback URLs; never changes. */
  externalKey: string;
  /** Connector-owned options; secrets inside are sealed. Opaque to the store. */
  config: Record<string, unknown>;
  /** Set by the first successful sign-in; an activated connection that has one goes back to `active`. */
  firstLoginAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface RedirectUriRecord {
  id: string;
  uri: string;
  isDefault: boolean;
  createdAt: Date;
}

export interface ApiKeyRecord {
  id: string;
  name: string;
  /** `sha256(key)`; the key itself is shown once at creation. */
  keyHash: string;
  /** Last four characters, to tell keys apart in listings. */
  lastFour: string;
  createdAt: Date;
  revokedAt: Date | null;
}

/**
 * A login in flight between `/sso/authorize` and the upstream callback. Our upstream `state` (OIDC) or
 * `RelayState` (SAML) is `<id>.<random secret>`: the ID finds the transaction, the hash of the whole state
 * (`stateHash`) must match, so the secret itself is never stored. Tied to the browser by `browserHash` (hash of
 * the binding cookie), consumed once. A transaction and its session log record share their ID.
 */
export interface LoginTransactionRecord {
  id: string;
  stateHash: string;
  browserHash: string;
  clientId: string;
  connectionId: string;
  organizationId: string | null;
  redirectUri: string;
  /** The app's `state`, exactly as sent; null when it sent none. */
  appState: string | null;
  codeChallenge: string | null;
  codeChallengeMethod: 'S256' | null;
  /** JSON of the connector's state (issuer, scope, a SAML request ID): no secrets, see `LoginRequest.secret`. */
  connectorState: string;
  /** The request ID of the authorize call, to find this login from logs and pages. */
  requestId: string;
  /** The session log record of this login. */
  sessionId: string;
  createdAt: Date;
  expiresAt: Date;
  /** Set when the callback consumed the transaction. */
  consumedAt: Date | null;
  /** After the callback, while the sign-in consent screen waits: the signed-in profile. */
  profileId: string | null;
  /** `sha256` of the consent screen's one-time form token. */
  consentHash: string | null;
  consentExpiresAt: Date | null;
  /** Set when the user approved or denied (single use). */
  consentDecidedAt: Date | null;
  /** OAuth provider connections: the provider's tokens (sealed JSON), kept while the consent screen waits. */
  oauthTokens: string | null;
}

// ---------- session log ----------

/** `timed_out`: the login expired before the user came back from the IdP (or answered the consent screen). */
export type SessionOutcome = 'started' | 'succeeded' | 'failed' | 'timed_out';

/**
 * One login attempt that passed the redirect URI check: what happened at each stage, for the people who
 * debug sign-ins. Never holds tokens, codes or secrets.
 */
export interface SsoSessionRecord {
  id: string;
  clientId: string;
  connectionId: string | null;
  organizationId: string | null;
  connectionType: string | null;
  redirectUri: string;
  outcome: SessionOutcome;
  /** preflight | upstream_redirect | callback_binding | upstream_error | token_exchange | id_token | userinfo | profile_mapping | consent */
  failedStage: string | null;
  /** Catalog code of the failure. */
  reason: string | null;
  /** The `error` sent to the app. */
  wireCode: string | null;
  /** The IdP's own error, verbatim: error, error_description, error_uri, trace IDs. Never shown to browsers. */
  upstreamError: Record<string, unknown> | null;
  /** Private detail: expected vs received values and the like. */
  detail: Record<string, unknown> | null;
  profileId: string | null;
  idpId: string | null;
  email: string | null;
  authorizeRequestId: string;
  callbackRequestId: string | null;
  consentRequestId: string | null;
  /** ISO timestamps per stage: authorize, upstream_redirect, callback, consent_shown, consent, code_issued, failed. */
  stages: Record<string, string>;
  /** When an unfinished login counts as abandoned (its transaction expired). */
  expiresAt: Date;
  createdAt: Date;
  updatedAt: Date;
}

export type SessionPatch = Partial<
  Pick<
    SsoSessionRecord,
    | 'outcome'
    | 'failedStage'
    | 'reason'
    | 'wireCode'
    | 'upstreamError'
    | 'detail'
    | 'profileId'
    | 'idpId'
    | 'email'
    | 'callbackRequestId'
    | 'consentRequestId'
  >
> & {
  /** Merged into `stages`. */
  stages?: Record<string, string>;
};

export interface SessionFilter {
  connectionId?: string | undefined;
  organizationId?: string | undefined;
  /** Matches the authorize, callback or consent request ID. */
  requestId?: string | undefined;
  // The dashboard's session log (issue 13); each served by an index with the ID order.
  /**
   * The outcome as stored. A `started` record whose login expired is stored `timed_out` by the maintenance
   * (every 5 minutes); until then it matches `started`.
   */
  outcome?: SessionOutcome | undefined;
  failedStage?: string | undefined;
  /** Created at or after (by ID: IDs are ULIDs, so a time range is an ID range). */
  rangeStart?: Date | undefined;
  /** Created before. */
  rangeEnd?: Date | undefined;
}

// ---------- profiles, codes, tokens ----------

/** The normalized profile of one user of one connection. Its ID is stable per (connection, IdP user). */
export interface ProfileRecord {
  id: string;
  connectionId: string;
  idpId: string;
  /** The WorkOS profile JSON without `id` (it is added when presenting). */
  data: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
}

export interface AuthorizationCodeRecord {
  /** `sha256(code)`; the code itself only travels to the app. */
  codeHash: string;
  clientId: string;
  redirectUri: string;
  codeChallenge: string | null;
  profileId: string;
  sessionId: string;
  /** OAuth provider connections: the provider's tokens (sealed JSON), returned with the profile. */
  oauthTokens: string | null;
  createdAt: Date;
  expiresAt: Date;
  consumedAt: Date | null;
}

export interface AccessTokenRecord {
  tokenHash: string;
  /** The code it was issued for: a replayed code revokes it. */
  codeHash: string;
  clientId: string;
  profileId: string;
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
}

export interface RedeemRequest {
  codeHash: string;
  now: Date;
  token: Omit<AccessTokenRecord, 'codeHash' | 'createdAt' | 'revokedAt'>;
  /**
   * The client's `Idempotency-Key` and the response to keep under it (sealed: it holds the access token).
   * A later call with the same key and `requestHash` gets `replayed` with that response.
   */
  idempotency?: { clientId: string; key: string; requestHash: string; response: string; expiresAt: Date };
}

export type RedeemResult =
  | { kind: 'issued' }
  | { kind: 'replayed'; response: string }
  | { kind: 'idempotency_mismatch' }
  | { kind: 'invalid'; reason: 'not_found' | 'expired' | 'consumed' };

/**
 * What the callback writes when a sign-in ends (`completeSignIn`): all of it in one transaction, or nothing.
 * The login transaction is consumed; with `oneTimeKey` the SAML assertion ID is claimed; with `profile` the
 * profile is upserted (as `upsertProfile`); then either `code` is issued for it or, with `consent`, the
 * transaction waits on the consent screen for it (as `awaitConsent`); the session log record gets `session`
 * (as `updateSession`: `stages` merged; with a profile, `profileId` is the stored profile's) and `events`.
 */
export interface SignInCompletion {
  /** The login transaction (= session log record) to consume: ID and state hash must match. */
  id: string;
  stateHash: string;
  /** Not consumed and not expired at `now`. */
  now: Date;
  /** A SAML assertion ID to claim until `expiresAt` (as `claimOneTimeKey`). */
  oneTimeKey?: { key: string; expiresAt: Date } | undefined;
  profile?: Omit<ProfileRecord, 'createdAt' | 'updatedAt'> | undefined;
  /** Needs `profile`; the code's `profileId` and `sessionId` are the stored profile's and this login's. */
  code?: Omit<AuthorizationCodeRecord, 'consumedAt' | 'profileId' | 'sessionId'> | undefined;
  /** Needs `profile`, excludes `code`. */
  consent?: { consentHash: string; expiresAt: Date; oauthTokens: string | null } | undefined;
  session: SessionPatch;
  /** Built from the session record as written (e.g. `authentication.sso_succeeded`). */
  events?: Events<SsoSessionRecord> | undefined;
}

export type SignInResult =
  | { kind: 'completed'; session: SsoSessionRecord; profile: ProfileRecord | null }
  /** Unknown (ID and state hash), already consumed, or expired at `now`: nothing was written. */
  | { kind: 'transaction_unavailable' }
  /** The one-time key was already claimed: nothing was written (the transaction is still unconsumed). */
  | { kind: 'one_time_key_claimed' };

// ---------- queries ----------

export interface PageRequest {
  /** 1..100 */
  limit: number;
  order: 'asc' | 'desc';
  before?: string | undefined;
  after?: string | undefined;
}

export interface Page<T> {
  data: T[];
  /** Cursor for the previous page, null when there is none. */
  before: string | null;
  /** Cursor for the next page, null on the last page (the WorkOS SDK stops paginating on null). */
  after: string | null;
}

export interface OrganizationFilter {
  /** Organizations having any of these domains (any state). */
  domains?: string[] | undefined;
  /** Case-insensitive substring of the name. */
  search?: string | undefined;
}

export interface ConnectionFilter {
  /** Compared case-insensitively (the WorkOS spec spells `GithubOAuth` in the filter, `GitHubOAuth` in objects). */
  connectionType?: string | undefined;
  organizationId?: string | undefined;
  /** Connections whose organization has this domain verified (the domains a connection lists). */
  domain?: string | undefined;
  search?: string | undefined;
  /** The dashboard's connections page (issue 13). */
  state?: ConnectionState | undefined;
}

// ---------- sign-in statistics per connection (the dashboard's connections page, issue 13) ----------

/**
 * A connection's sign-ins from the session log: the last attempt that succeeded and the last that failed (any
 * time), and how many attempts were made (any outcome: started, succeeded, failed, timed out) and how many failed
 * since two given times. "Failed" is the outcome `failed`; timed-out attempts count in the totals only.
 */
export interface ConnectionStats {
  lastSucceededAt: Date | null;
  lastFailedAt: Date | null;
  total24h: number;
  failed24h: number;
  total7d: number;
  failed7d: number;
}

/** At most this many connections per `connectionStats` call (a page of the dashboard). */
export const CONNECTION_STATS_MAX = 100;

// ---------- sign-ins over time (the dashboard's overview, issue 13) ----------

/** The sign-ins (session log records) that started in one hour (UTC), by outcome. */
export interface SignInHour {
  /** The hour's start. */
  hour: Date;
  succeeded: number;
  failed: number;
  timedOut: number;
}

export interface SignInSummaryQuery {
  /** The hours (from the one this falls in, counting from this time) and the failing connections: to `until`. */
  since: Date;
  /** The failure reasons: from this time to `until` (a longer range, e.g. 7 days). */
  reasonsSince: Date;
  until: Date;
  /** How many reasons and connections at most: 1 to SIGN_IN_SUMMARY_MAX_LIMIT. */
  limit: number;
}

export interface SignInSummary {
  /** Every hour of [since, until), oldest first, zeros included. */
  hours: SignInHour[];
  /** Failed sign-ins (outcome `failed`) of [reasonsSince, until) by reason, most first, then by reason (none last). */
  reasons: { reason: string | null; count: number }[];
  /** Connections by their failed sign-ins of [since, until), most first, then by ID. */
  failingConnections: { connectionId: string; failed: number }[];
}

/** At most this many hours (31 days) and this many reasons and connections per `signInSummary`. */
export const SIGN_IN_SUMMARY_MAX_HOURS = 24 * 31;
export const SIGN_IN_SUMMARY_MAX_LIMIT = 100;

const HOUR_MS = 60 * 60 * 1000;

/**
 * The hours of a `signInSummary` query: each hour's start and the part of it in range ([from, to) in ms), for
 * the backends. @throws TypeError beyond SIGN_IN_SUMMARY_MAX_HOURS or SIGN_IN_SUMMARY_MAX_LIMIT
 */
export function signInSummaryHours(q: SignInSummaryQuery): { hour: Date; from: number; to: number }[] {
  if (!Number.isInteger(q.limit) || q.limit < 1 || q.limit > SIGN_IN_SUMMARY_MAX_LIMIT) {
    throw new TypeError(`signInSummary: limit must be 1 to ${SIGN_IN_SUMMARY_MAX_LIMIT}`);
  }
  const since = q.since.getTime();
  const until = q.until.getTime();
  const out: { hour: Date; from: number; to: number }[] = [];
  if (!(since < until)) return out;
  for (let h = Math.floor(since / HOUR_MS) * HOUR_MS; h < until; h += HOUR_MS) {
    if (out.length === SIGN_IN_SUMMARY_MAX_HOURS) {
      throw new TypeError(`signInSummary: at most ${SIGN_IN_SUMMARY_MAX_HOURS} hours`);
    }
    out.push({ hour: new Date(h), from: Math.max(h, since), to: Math.min(h + HOUR_MS, until) });
  }
  return out;
}

export interface OrganizationPatch {
  name?: string;
  externalId?: string | null;
  allowProfilesOutsideOrganization?: boolean;
  metadata?: Record<string, string>;
  stripeCustomerId?: string | null;
}

export interface ConnectionPatch {
  name?: string;
  state?: ConnectionState;
  config?: Record<string, unknown>;
  firstLoginAt?: Date;
}

/** A domain to insert; `id` is the caller's (`newId('org_domain')`) and is ignored when the domain already exists. */
export type NewDomain = Pick<
  OrganizationDomainRecord,
  'id' | 'domain' | 'state' | 'verificationStrategy' | 'verificationToken'
>;

// ---------- the interface ----------

/**
 * An Admin Portal setup link (`POST /portal/generate_link`): a one-time bearer capability for one organization
 * and one intent, kept by the SHA-256 hash of its token, never the token.
 */
export interface PortalLinkRecord {
  id: string;
  tokenHash: string;
  organizationId: string;
  intent: 'sso' | 'domain_verification';
  returnUrl: string | null;
  successUrl: string | null;
  /** `intent_options.sso.provider_type`: the IdP the portal opens on. */
  providerType: string | null;
  /** `admin_emails` / `it_contact_emails`: who the link was made for. */
  adminEmails: string[];
  createdAt: Date;
  expiresAt: Date;
  /** When it was opened (once); null until then. */
  openedAt: Date | null;
}

export type PortalLinkOpening =
  | { outcome: 'opened'; link: PortalLinkRecord }
  | { outcome: 'used' | 'expired'; link: PortalLinkRecord }
  | { outcome: 'unknown'; link: null };

/**
 * An event (design/workos-api.md §7.2): what happened (`event`, e.g. `connection.activated`), to which
 * organization, with the object it describes as `data`, in WorkOS's shapes. IDs are `event_` + ULID: their order
 * is the order of creation.
 */
export interface EventRecord {
  id: string;
  event: string;
  organizationId: string | null;
  data: Record<string, unknown>;
  createdAt: Date;
}

export interface NewEvent extends EventRecord {
  /** Written at most once per key, across nodes (a certificate threshold crossed, seen by every node). */
  dedupeKey?: string;
}

/**
 * Events a write describes, written in the same transaction as the write (none for a write that fails): given, or
 * built from the record as the write leaves it.
 */
export type Events<T> = NewEvent[] | ((record: T) => NewEvent[]);

export interface EventFilter {
  events?: string[] | undefined;
  organizationId?: string | undefined;
  /** Created at or after. */
  rangeStart?: Date | undefined;
  /** Created before. */
  rangeEnd?: Date | undefined;
}

/** The events of `events` for `record`. */
export function eventsFor<T>(events: Events<T> | undefined, record: T): NewEvent[] {
  if (!events) return [];
  return typeof events === 'function' ? events(record) : events;
}

/** An operator of this Gatehouse (the dashboard's users: the app's team). */
export interface OperatorRecord {
  id: string;
  /** Lower-case; unique. */
  email: string;
  name: string | null;
  createdAt: Date;
  lastSignInAt: Date | null;
  /** Set: the operator can no longer sign in. */
  disabledAt: Date | null;
}

/**
 * A one-time dashboard link, kept by the SHA-256 hash of its token: `bootstrap` (printed on first start: it creates
 * the first operator), `invite` (creates the operator `email`) or `sign_in` (signs `operatorId` in).
 */
export interface OperatorLinkRecord {
  id: string;
  tokenHash: string;
  purpose: 'bootstrap' | 'invite' | 'sign_in';
  operatorId: string | null;
  email: string | null;
  /** The operator who made it (null: Gatehouse itself, or the API). */
  createdBy: string | null;
  createdAt: Date;
  expiresAt: Date;
  usedAt: Date | null;
}

export type OperatorLinkUse =
  | { outcome: 'used'; link: OperatorLinkRecord }
  | { outcome: 'already_used' | 'expired'; link: OperatorLinkRecord }
  | { outcome: 'unknown'; link: null };

/** One change made in the dashboard: who, what, when (and on what). */
export interface AuditRecord {
  id: string;
  operatorId: string | null;
  operatorEmail: string | null;
  /** e.g. `connection.deactivate`, `organization.create`, `api_key.revoke`. */
  action: string;
  targetType: string | null;
  targetId: string | null;
  detail: Record<string, unknown>;
  createdAt: Date;
}

export interface AuditFilter {
  operatorId?: string | undefined;
  targetId?: string | undefined;
}

export interface Store {
  /** Applies pending migrations. Safe to call on every start. */
  migrate(): Promise<void>;
  /** Cheap round trip for readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;

  // settings: small environment-wide values (client ID, secret key check value)
  getSetting(key: string): Promise<string | null>;
  setSetting(key: string, value: string): Promise<void>;
  /**
   * Stores `value` unless `key` already has one, and returns the stored value: of nodes starting together, each
   * proposing its own (a generated client ID), all end up with the first one's.
   */
  initSetting(key: string, value: string): Promise<string>;

  // organizations and their domains
  /** Creates the organization and its domains in one transaction. */
  createOrganization(
    org: Omit<OrganizationRecord, 'createdAt' | 'updatedAt'>,
    domains: NewDomain[],
    events?: Events<OrganizationRecord>,
  ): Promise<OrganizationRecord>;
  getOrganization(id: string): Promise<OrganizationRecord | null>;
  getOrganizationByExternalId(externalId: string): Promise<OrganizationRecord | null>;
  listOrganizations(filter: OrganizationFilter, page: PageRequest): Promise<Page<OrganizationRecord>>;
  /**
   * Updates fields given in `patch`. When `domains` is given it replaces the organization's domains in the
   * same transaction: existing rows for a listed domain keep their ID and take the new state.
   */
  updateOrganization(
    id: string,
    patch: OrganizationPatch,
    domains?: NewDomain[],
    events?: Events<OrganizationRecord>,
  ): Promise<OrganizationRecord>;
  /** Deletes the organization, its domains and its connections. */
  deleteOrganization(id: string, events?: NewEvent[]): Promise<void>;

  createDomain(
    organizationId: string,
    domain: NewDomain,
    events?: Events<OrganizationDomainRecord>,
  ): Promise<OrganizationDomainRecord>;
  getDomain(id: string): Promise<OrganizationDomainRecord | null>;
  updateDomainState(
    id: string,
    state: OrganizationDomainRecord['state'],
    events?: Events<OrganizationDomainRecord>,
  ): Promise<OrganizationDomainRecord>;
  deleteDomain(id: string, events?: NewEvent[]): Promise<void>;
  /** Domains of these organizations, ordered by ID. */
  listDomains(organizationIds: string[]): Promise<OrganizationDomainRecord[]>;
  /** The verified domain record for `domain` (lower-case), if any organization has verified it. */
  findVerifiedDomain(domain: string): Promise<OrganizationDomainRecord | null>;

  // connections
  createConnection(
    conn: Omit<ConnectionRecord, 'createdAt' | 'updatedAt' | 'firstLoginAt'>,
  ): Promise<ConnectionRecord>;
  getConnection(id: string): Promise<ConnectionRecord | null>;
  getConnectionByExternalKey(externalKey: string): Promise<ConnectionRecord | null>;
  listConnections(filter: ConnectionFilter, page: PageRequest): Promise<Page<ConnectionRecord>>;
  /** All connections of an organization, ordered by ID (no pagination: used by the authorize flow). */
  listOrganizationConnections(organizationId: string): Promise<ConnectionRecord[]>;
  /** All connections of a type (exact match), ordered by ID. */
  listConnectionsByType(connectionType: string): Promise<ConnectionRecord[]>;
  updateConnection(
    id: string,
    patch: ConnectionPatch,
    events?: Events<ConnectionRecord>,
  ): Promise<ConnectionRecord>;
  deleteConnection(id: string, events?: NewEvent[]): Promise<void>;
  /**
   * Sign-in statistics of these connections (at most CONNECTION_STATS_MAX; more is a TypeError) by the session
   * log's creation times: every ID asked gets an entry (zeros and nulls when it has no record). Served by an index
   * on (connection, outcome, time): the last success and failure are one index lookup each, the counts read the
   * index entries of the window only, never the whole log.
   */
  connectionStats(
    connectionIds: string[],
    since24h: Date,
    since7d: Date,
  ): Promise<Map<string, ConnectionStats>>;

  // redirect URI allowlist
  listRedirectUris(): Promise<RedirectUriRecord[]>;
  /** @throws AlreadyExistsError('redirect_uri.uri') */
  addRedirectUri(rec: Omit<RedirectUriRecord, 'createdAt'>): Promise<RedirectUriRecord>;
  /** Makes `id` the only default, atomically. */
  setDefaultRedirectUri(id: string): Promise<RedirectUriRecord>;
  deleteRedirectUri(id: string): Promise<void>;

  // API keys
  createApiKey(rec: Omit<ApiKeyRecord, 'createdAt' | 'revokedAt'>): Promise<ApiKeyRecord>;
  /** The non-revoked key with this hash. */
  findActiveApiKey(keyHash: string): Promise<ApiKeyRecord | null>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  getApiKey(id: string): Promise<ApiKeyRecord | null>;
  /**
   * Revokes the key unless it is the last active one; returns false (and changes nothing) in that case.
   * Check and update are atomic, so two concurrent revocations cannot both succeed on the last two keys.
   */
  revokeApiKey(id: string, at: Date): Promise<boolean>;

  // login transactions
  /**
   * Creates the transaction and its session log record (same ID: `tx.id === session.id`) in one write.
   * @throws AlreadyExistsError('sso_session.id') for a duplicate ID; TypeError when the two disagree on shared fields.
   */
  createLoginTransaction(
    tx: Omit<
      LoginTransactionRecord,
      'consumedAt' | 'profileId' | 'consentHash' | 'consentExpiresAt' | 'consentDecidedAt' | 'oauthTokens'
    >,
    session: Omit<SsoSessionRecord, 'createdAt' | 'updatedAt'>,
    events?: NewEvent[],
  ): Promise<LoginTransactionRecord>;
  /** The transaction with this ID and state hash (both must match), without consuming it. */
  getLoginTransaction(id: string, stateHash: string): Promise<LoginTransactionRecord | null>;
  /**
   * Marks the transaction consumed and returns it, only if it exists, is not consumed and has not expired at
   * `now`. Atomic: of concurrent callers, exactly one gets the record; the others get null.
   */
  consumeLoginTransaction(id: string, stateHash: string, now: Date): Promise<LoginTransactionRecord | null>;
  /** Deletes transactions that expired before `before`; returns how many. */
  deleteExpiredLoginTransactions(before: Date): Promise<number>;
  /**
   * Records as `timed_out` the sign-ins whose login transaction expired before `expiredBefore` while they were
   * still `started` (the user never came back from the IdP: `failedStage` `abandoned_at_idp`; or never answered
   * the consent screen: `consent`), with a `timed_out` stage at `now`. At most `limit` of them, those that expired
   * first; returns their session IDs. Each is marked by one call only, also when several nodes run it at once.
   * Maintenance calls it before `deleteExpiredLoginTransactions` with the same time, without a full scan.
   * `events` (built from each record as marked: `authentication.sso_timed_out`) are written in the same transaction.
   */
  markTimedOutSessions(
    expiredBefore: Date,
    now: Date,
    limit: number,
    events?: (session: SsoSessionRecord) => NewEvent[],
  ): Promise<string[]>;
  /**
   * Ends a sign-in at its callback in one transaction (see `SignInCompletion`), checked in this order: the
   * transaction (else `transaction_unavailable`), the one-time key (else `one_time_key_claimed`); either refusal
   * writes nothing. Atomic: of concurrent calls for one transaction, or claiming one key, at most one completes.
   * @throws TypeError for `code` or `consent` without `profile`, or both.
   */
  completeSignIn(completion: SignInCompletion): Promise<SignInResult>;
  /** Puts a consumed transaction on the consent screen: remembers the profile and the form token's hash. */
  awaitConsent(
    id: string,
    consent: { profileId: string; consentHash: string; expiresAt: Date; oauthTokens: string | null },
  ): Promise<void>;
  /**
   * Takes the consent decision slot: returns the transaction only if `consentHash` matches one that is waiting,
   * not yet decided and not expired at `now`, and marks it decided. Atomic and single-use.
   */
  takeConsent(consentHash: string, now: Date): Promise<LoginTransactionRecord | null>;

  // session log
  createSession(
    session: Omit<SsoSessionRecord, 'createdAt' | 'updatedAt'>,
    events?: NewEvent[],
  ): Promise<SsoSessionRecord>;
  getSession(id: string): Promise<SsoSessionRecord | null>;
  /** Updates the given fields; `stages` is merged into the existing stages. */
  updateSession(
    id: string,
    patch: SessionPatch,
    events?: Events<SsoSessionRecord>,
  ): Promise<SsoSessionRecord>;
  listSessions(filter: SessionFilter, page: PageRequest): Promise<Page<SsoSessionRecord>>;
  /**
   * Deletes at most `limit` session log records created before `before` (by ID, oldest first), with their login
   * transactions; returns how many. Callers repeat it while it returns `limit`, so that no single statement
   * holds the database for long.
   */
  deleteSessionsBefore(before: Date, limit: number): Promise<number>;

  // profiles
  /**
   * Inserts or updates the profile of (`connectionId`, `idpId`). An existing profile keeps its ID (the given
   * `id` is used only for a new one), so the ID is stable per user and connection.
   */
  upsertProfile(profile: Omit<ProfileRecord, 'createdAt' | 'updatedAt'>): Promise<ProfileRecord>;
  getProfile(id: string): Promise<ProfileRecord | null>;
  /** Every profile, by ID (creation order), paginated: for `export`. */
  listProfiles(page: PageRequest): Promise<Page<ProfileRecord>>;

  // authorization codes and access tokens
  createAuthorizationCode(
    code: Omit<AuthorizationCodeRecord, 'consumedAt'>,
  ): Promise<AuthorizationCodeRecord>;
  getAuthorizationCode(codeHash: string): Promise<AuthorizationCodeRecord | null>;
  /**
   * Redeems a code, atomically, in this order:
   * 1. with `idempotency`: a stored response for the same client and key is `replayed` (same `requestHash`)
   *    or refused (`idempotency_mismatch`), whatever state the code is in;
   * 2. an unknown code is `invalid/not_found`; a consumed one is `invalid/consumed` AND every access token issued
   *    for it is revoked (RFC 6749 §4.1.2); an expired one (at `now`) is `invalid/expired`;
   * 3. otherwise the code is consumed (and forgets its `oauthTokens`), the access token stored, the idempotent
   *    response kept, and the code's session (if it still exists) gets the `code_redeemed` stage at `now`:
   *    `issued`.
   * Of concurrent redemptions of one code, exactly one is `issued`.
   */
  redeemAuthorizationCode(request: RedeemRequest): Promise<RedeemResult>;
  getAccessToken(tokenHash: string): Promise<AccessTokenRecord | null>;
  /**
   * Deletes codes, access tokens, idempotency records and one-time keys that expired before `before`; returns
   * how many.
   */
  deleteExpiredGrants(before: Date): Promise<number>;

  // one-time keys (SAML assertion IDs)
  /**
   * Records `key` as used until `expiresAt`: true the first time, false for a key already recorded (and not
   * purged). Atomic: of concurrent claims of one key, exactly one is true. The replay cache of SAML assertions.
   */
  claimOneTimeKey(key: string, expiresAt: Date): Promise<boolean>;

  // rate limits
  /**
   * Counts one hit against each limit, in one round trip, and says for each whether it is still within its
   * `limit`. Windows are fixed, `windowMs` long and aligned to the epoch; a key's count starts again at 1 in a new
   * window. Shared by every node using this store (SQLite serves one node: its counters may live in memory).
   * Exact under concurrency: n concurrent hits on a fresh key see the counts 1..n.
   */
  hitRateLimits(hits: RateLimitHit[], now: Date): Promise<RateLimitResult[]>;

  // events (WorkOS shapes; src/events/): also written by the methods above that take `events`, in their transaction
  /**
   * Writes events on their own (those that describe no change of the store's, e.g. a certificate nearing expiry).
   * An event with a `dedupeKey` already written is skipped; returns how many were written.
   */
  appendEvents(events: NewEvent[]): Promise<number>;
  /** Events in ID (= creation) order, filtered: `events` names, organization, `created_at` range. */
  listEvents(filter: EventFilter, page: PageRequest): Promise<Page<EventRecord>>;
  /** Deletes at most `limit` events created before `before`, oldest first; returns how many. */
  deleteEventsBefore(before: Date, limit: number): Promise<number>;

  // dashboard operators, their one-time links, and the audit log
  /** @throws AlreadyExistsError('operator.email') */
  createOperator(op: Pick<OperatorRecord, 'id' | 'email' | 'name'>): Promise<OperatorRecord>;
  getOperator(id: string): Promise<OperatorRecord | null>;
  getOperatorByEmail(email: string): Promise<OperatorRecord | null>;
  /** Every operator, by ID. */
  listOperators(): Promise<OperatorRecord[]>;
  /** @throws NotFoundError('operator') */
  updateOperator(
    id: string,
    patch: Partial<Pick<OperatorRecord, 'name' | 'lastSignInAt' | 'disabledAt'>>,
  ): Promise<OperatorRecord>;
  createOperatorLink(link: Omit<OperatorLinkRecord, 'usedAt'>): Promise<OperatorLinkRecord>;
  /** The link with this token hash, used or not (nothing changes). */
  findOperatorLink(tokenHash: string): Promise<OperatorLinkRecord | null>;
  /**
   * Uses a link once, atomically across nodes: `used` (the link, now with `usedAt`) the first time before it
   * expires; else `already_used`, `expired` or `unknown`.
   */
  useOperatorLink(tokenHash: string, now: Date): Promise<OperatorLinkUse>;
  appendAudit(entry: AuditRecord): Promise<void>;
  /** The audit log, newest first by default (WorkOS pagination over IDs). */
  listAudit(filter: AuditFilter, page: PageRequest): Promise<Page<AuditRecord>>;

  // Admin Portal setup links
  createPortalLink(link: Omit<PortalLinkRecord, 'openedAt'>): Promise<PortalLinkRecord>;
  /**
   * Opens a link once, atomically across nodes: `opened` (and the link, now with `openedAt`) the first time it is
   * opened before it expires; else `used`, `expired` (with the link) or `unknown` (no link has this hash).
   */
  openPortalLink(tokenHash: string, now: Date): Promise<PortalLinkOpening>;
  /** Deletes the links that expired before `before`; returns how many. */
  deleteExpiredPortalLinks(before: Date): Promise<number>;

  // ---- webhooks (src/webhooks/; records at the end of this file) ----
  // Writing an event (any method above that takes `events`, and `appendEvents`) also queues, in the same
  // transaction, one pending delivery of it to each ENABLED endpoint that lists its name: a delivery exists for
  // exactly the events that an endpoint wanted while it was enabled, and none is lost between the write and the
  // queue. Deliveries go with their event (`deleteEventsBefore`) and with their endpoint.

  /** @param endpoint.secret sealed; `events` without duplicates. */
  createWebhookEndpoint(
    endpoint: Omit<WebhookEndpointRecord, 'createdAt' | 'updatedAt'>,
  ): Promise<WebhookEndpointRecord>;
  getWebhookEndpoint(id: string): Promise<WebhookEndpointRecord | null>;
  listWebhookEndpoints(page: PageRequest): Promise<Page<WebhookEndpointRecord>>;
  /** Updates the fields given; `events` replaces the list. Deliveries already queued stay queued. */
  updateWebhookEndpoint(id: string, patch: WebhookEndpointPatch): Promise<WebhookEndpointRecord>;
  /** Deletes the endpoint with its deliveries and their attempts. */
  deleteWebhookEndpoint(id: string): Promise<void>;
  /**
   * Claims at most `limit` deliveries due at `now` (pending, `nextAttemptAt <= now`, not leased or their lease
   * ended, endpoint enabled), oldest due first: each claim starts attempt `attempts + 1` and leases the delivery
   * until `leaseUntil`. Atomic across nodes: of concurrent claims, each delivery goes to one caller. A delivery
   * whose previous lease ended without `finishWebhookAttempt` (its node died) records that attempt as failed
   * with `error: 'interrupted'`.
   */
  claimWebhookDeliveries(now: Date, limit: number, leaseUntil: Date): Promise<WebhookClaim[]>;
  /**
   * Records the attempt and ends the lease: `succeeded`, or failed with another attempt due at `retryAt`
   * (pending) or none (`retryAt` null: the delivery is `failed`). Fenced: only while the delivery is still at
   * `attempt` and leased (not reclaimed after its lease ended); returns false, changing nothing, otherwise.
   */
  finishWebhookAttempt(result: WebhookAttemptResult): Promise<boolean>;
  /** An endpoint's deliveries by event ID (= event time), with their attempts; `state` filters. */
  listWebhookDeliveries(
    endpointId: string,
    filter: { state?: WebhookDeliveryState | undefined },
    page: PageRequest,
  ): Promise<Page<WebhookDeliveryRecord>>;
  getWebhookDelivery(endpointId: string, eventId: string): Promise<WebhookDeliveryRecord | null>;
  /** Pending deliveries to enabled endpoints (due or waiting for a retry). */
  countWebhookBacklog(): Promise<number>;

  // ---- sign-ins over time (the dashboard's overview, issue 13) ----
  /**
   * Sign-ins counted by the hour they started (their ID's time: IDs are ULIDs, so an hour is an ID range) and
   * outcome (`started` ones are in no count), and the failed ones by reason and by connection. Aggregated by the
   * database over the (outcome, id) index: the hours read index entries only, the reasons and connections the
   * failed records of their range; nothing else of the log is read.
   * @throws TypeError beyond SIGN_IN_SUMMARY_MAX_HOURS hours, or a limit outside 1..SIGN_IN_SUMMARY_MAX_LIMIT
   */
  signInSummary(query: SignInSummaryQuery): Promise<SignInSummary>;
}

export interface RateLimitHit {
  /** What is limited, e.g. `authorize:conn:<id>`, `token:client:<id>`. */
  key: string;
  limit: number;
  windowMs: number;
}

export interface RateLimitResult {
  /** The count within this window, this hit included. */
  count: number;
  allowed: boolean;
  /** When the window ends (and the count starts again). */
  resetAt: Date;
}

// ---------- webhooks ----------

export type WebhookEndpointStatus = 'enabled' | 'disabled';

/** Where events are POSTed (design/workos-api.md §7.2), signed with the endpoint's secret. */
export interface WebhookEndpointRecord {
  id: string;
  url: string;
  /** The signing secret, sealed (`lib/secret-box.ts`, bound to the endpoint's ID): deliveries sign with it. */
  secret: string;
  status: WebhookEndpointStatus;
  /** The event names it wants, in the order given. */
  events: string[];
  createdAt: Date;
  updatedAt: Date;
}

export type WebhookEndpointPatch = Partial<
  Pick<WebhookEndpointRecord, 'url' | 'secret' | 'status' | 'events'>
>;

export type WebhookDeliveryState = 'pending' | 'succeeded' | 'failed';

/**
 * Why an attempt failed, in fixed words (never the receiver's or the network's own text): `status` (it answered
 * outside 2xx), `timeout`, `unreachable`, `not_allowed` (the SSRF guard), `interrupted` (its node stopped or
 * died mid-attempt), `signing` (the endpoint's secret did not open with the secret key).
 */
export type WebhookAttemptError =
  | 'status'
  | 'timeout'
  | 'unreachable'
  | 'not_allowed'
  | 'interrupted'
  | 'signing';

export interface WebhookAttemptRecord {
  /** 1 for the first attempt. */
  attempt: number;
  startedAt: Date;
  outcome: 'succeeded' | 'failed';
  /** The receiver's HTTP status; null when it gave none. */
  responseStatus: number | null;
  /** From the request to the response's status line; null when there was no response. */
  latencyMs: number | null;
  error: WebhookAttemptError | null;
}

/** One event to one endpoint: its state and attempts. */
export interface WebhookDeliveryRecord {
  endpointId: string;
  eventId: string;
  /** The event's name. */
  event: string;
  state: WebhookDeliveryState;
  /** Attempts started (the one in flight included). */
  attempts: number;
  /** When the next attempt is due; null once the delivery has succeeded or failed. */
  nextAttemptAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  /** Finished attempts, first first. */
  history: WebhookAttemptRecord[];
}

/** A delivery claimed for one attempt (`Store.claimWebhookDeliveries`). */
export interface WebhookClaim {
  endpointId: string;
  url: string;
  /** Sealed, as stored. */
  secret: string;
  event: EventRecord;
  attempt: number;
}

export interface WebhookAttemptResult extends Omit<WebhookAttemptRecord, 'outcome'> {
  endpointId: string;
  eventId: string;
  outcome: 'succeeded' | 'failed';
  /** A failed attempt: when the next is due; null for none (the delivery is `failed`). */
  retryAt: Date | null;
  now: Date;
}
