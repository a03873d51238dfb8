import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import { firstIdAt } from '../../lib/ids.ts';
import { rowMappers, str, strOrNull } from '../rows.ts';
import {
  type AccessTokenRecord,
  AlreadyExistsError,
  type ApiKeyRecord,
  type AuditFilter,
  type AuditRecord,
  type AuthorizationCodeRecord,
  CONNECTION_STATS_MAX,
  type ConnectionFilter,
  type ConnectionPatch,
  type ConnectionRecord,
  type ConnectionStats,
  type EventFilter,
  type EventRecord,
  type Events,
  eventsFor,
  type LoginTransactionRecord,
  type NewDomain,
  type NewEvent,
  NotFoundError,
  type OperatorLinkRecord,
  type OperatorLinkUse,
  type OperatorRecord,
  type OrganizationDomainRecord,
  type OrganizationFilter,
  type OrganizationPatch,
  type OrganizationRecord,
  type Page,
  type PageRequest,
  type PortalLinkOpening,
  type PortalLinkRecord,
  type ProfileRecord,
  type RateLimitHit,
  type RateLimitResult,
  type RedeemRequest,
  type RedeemResult,
  type RedirectUriRecord,
  type SessionFilter,
  type SessionPatch,
  type SignInCompletion,
  type SignInResult,
  type SignInSummary,
  type SignInSummaryQuery,
  type SsoSessionRecord,
  type Store,
  signInSummaryHours,
  type WebhookAttemptResult,
  type WebhookClaim,
  type WebhookDeliveryRecord,
  type WebhookDeliveryState,
  type WebhookEndpointPatch,
  type WebhookEndpointRecord,
} from '../store.ts';
import { migrations } from './migrations.ts';

type Row = Record<string, SQLInputValue>;

const iso = (d: Date): string => d.toISOString();

/** Maps SQLite's "UNIQUE constraint failed: table.column" to the logical constraint names of the contract. */
const UNIQUE_NAMES: Record<string, string> = {
  'organizations.external_id': 'organization.external_id',
  'organization_domains.domain': 'organization_domain.verified_domain',
  'organization_domains.organization_id, organization_domains.domain': 'organization_domain.domain',
  'connections.external_key': 'connection.external_key',
  'redirect_uris.uri': 'redirect_uri.uri',
  'api_keys.key_hash': 'api_key.key_hash',
  'sso_sessions.id': 'sso_session.id',
  'sso_sessions.tx_consent_hash': 'login_transaction.consent_hash',
  'operators.email': 'operator.email',
  'operator_links.token_hash': 'operator_link.token_hash',
};

function translate(err: unknown): unknown {
  const message = (err as Error)?.message ?? '';
  const m = /UNIQUE constraint failed: (.+)$/.exec(message);
  if (m?.[1]) return new AlreadyExistsError(UNIQUE_NAMES[m[1]] ?? m[1]);
  return err;
}

const {
  organization,
  domain,
  connection,
  redirectUri,
  apiKey,
  transaction,
  session,
  profile,
  authorizationCode,
  accessToken,
  portalLink,
  operator,
  operatorLink,
  audit,
  event,
  webhookEndpoint,
  webhookDelivery,
  webhookAttempt,
} = rowMappers({
  bool: (v) => Number(v) === 1,
  json: (v) => JSON.parse(String(v)),
  date: (v) => new Date(String(v)),
});

/** `connectionStats` of one connection (?1), since two session IDs (?2: 24 hours, ?3: 7 days). */
export const CONNECTION_STATS_SQL = `SELECT
  (SELECT created_at FROM sso_sessions WHERE connection_id = ?1 AND outcome = 'succeeded' ORDER BY id DESC LIMIT 1) AS last_succeeded,
  (SELECT created_at FROM sso_sessions WHERE connection_id = ?1 AND outcome = 'failed' ORDER BY id DESC LIMIT 1) AS last_failed,
  (SELECT count(*) FROM sso_sessions WHERE connection_id = ?1 AND outcome IN ('started', 'succeeded', 'failed', 'timed_out') AND id >= ?2) AS total_24h,
  (SELECT count(*) FROM sso_sessions WHERE connection_id = ?1 AND outcome = 'failed' AND id >= ?2) AS failed_24h,
  (SELECT count(*) FROM sso_sessions WHERE connection_id = ?1 AND outcome IN ('started', 'succeeded', 'failed', 'timed_out') AND id >= ?3) AS total_7d,
  (SELECT count(*) FROM sso_sessions WHERE connection_id = ?1 AND outcome = 'failed' AND id >= ?3) AS failed_7d`;

/**
 * `signInSummary`'s hours: ?1 is a JSON array of [index, first ID, end ID] per hour; for each hour and outcome, a
 * count over the (outcome, id) index that reads index entries only.
 */
export const SIGN_IN_HOURS_SQL = `WITH h(i, lo, hi) AS (SELECT value->>0, value->>1, value->>2 FROM json_each(?1)),
o(outcome) AS (VALUES ('succeeded'), ('failed'), ('timed_out'))
SELECT h.i AS i, o.outcome AS outcome,
  (SELECT count(*) FROM sso_sessions s WHERE s.outcome = o.outcome AND s.id >= h.lo AND s.id < h.hi) AS n
FROM h, o`;

/** `signInSummary`'s failed sign-ins in an ID range [?1, ?2) by reason, the ?3 most frequent. */
export const SIGN_IN_REASONS_SQL = `SELECT reason, count(*) AS n FROM sso_sessions
WHERE outcome = 'failed' AND id >= ?1 AND id < ?2
GROUP BY reason ORDER BY n DESC, reason IS NULL, reason LIMIT ?3`;

/** `signInSummary`'s failed sign-ins in an ID range [?1, ?2) by connection, the ?3 with the most. */
export const FAILING_CONNECTIONS_SQL = `SELECT connection_id, count(*) AS n FROM sso_sessions
WHERE outcome = 'failed' AND id >= ?1 AND id < ?2 AND connection_id IS NOT NULL
GROUP BY connection_id ORDER BY n DESC, connection_id LIMIT ?3`;

/** A login transaction that `completeSignIn` may consume: ID and state hash match, unconsumed, unexpired. */
const CONSUMABLE_SQL = `SELECT 1 FROM sso_sessions
WHERE id = ? AND tx_state_hash = ? AND tx_consumed_at IS NULL AND tx_expires_at > ?`;

/** The session log record's columns (not the transaction's `tx_` ones). */
const SESSION_COLUMNS = `id, client_id, connection_id, organization_id, connection_type, redirect_uri, outcome, failed_stage,
  reason, wire_code, upstream_error, detail, profile_id, idp_id, email, authorize_request_id, callback_request_id,
  consent_request_id, stages, expires_at, created_at, updated_at`;

/** How often the checkpointer copies the WAL back into the database file. */
export const CHECKPOINT_INTERVAL_MS = 25;

/**
 * The checkpointer (see the constructor): a worker thread with its own connection to `path` that runs
 * `PRAGMA wal_checkpoint(PASSIVE)` every CHECKPOINT_INTERVAL_MS. Unreferenced: it never keeps the process alive. Its code is plain JavaScript
 * (`eval`), so that it runs the same from `src/` and from `dist/`.
 */
function startCheckpointer(path: string): Worker {
  const worker = new Worker(
    `const { DatabaseSync } = require('node:sqlite');
const { workerData } = require('node:worker_threads');
const db = new DatabaseSync(workerData.path);
db.exec('PRAGMA busy_timeout = 5000');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
setInterval(() => {
  try { checkpoint.get(); } catch {}
}, workerData.intervalMs);`,
    { eval: true, workerData: { path, intervalMs: CHECKPOINT_INTERVAL_MS } },
  );
  worker.unref();
  // A failing checkpointer must not end the process: the WAL then grows until the next start checkpoints it.
  worker.on('error', () => {});
  return worker;
}

/** `SQLITE` store: the embedded default. One connection; node:sqlite is synchronous, so each method is atomic. */
export class SqliteStore implements Store {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, ReturnType<DatabaseSync['prepare']>>();
  /** The WAL checkpointer of a file database (see the constructor); null in memory. */
  #checkpointer: Worker | null = null;

  /** @param path a file path, or `:memory:` */
  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.#db = new DatabaseSync(path);
    this.#db.exec('PRAGMA foreign_keys = ON');
    this.#db.exec('PRAGMA busy_timeout = 5000');
    // SQLite's lower() folds ASCII only; name searches must be case-insensitive for any name ("Société").
    this.#db.function('unicode_lower', { deterministic: true }, (v) =>
      v === null ? null : String(v).toLowerCase(),
    );
    if (path !== ':memory:') {
      this.#db.exec('PRAGMA journal_mode = WAL');
      // WAL + NORMAL: durable across application crashes; the last commits may roll back on power loss.
      this.#db.exec('PRAGMA synchronous = NORMAL');
      // The WAL is copied back into the database (a checkpoint) by a worker thread with its own connection, every
      // CHECKPOINT_INTERVAL_MS (PASSIVE: it never waits for, nor blocks, this connection's writes), so that the
      // copy and its fsync happen off the event loop: node:sqlite is synchronous, and a checkpoint run inline by a
      // commit stops every request behind it. The commit that crosses 10 000 pages still checkpoints inline (the
      // only way the WAL can restart while writes never pause), but finds almost everything copied already.
      // Measured (bench, the latency scenario: authorize at half of the maximum rate): p99 35-44 ms with inline
      // checkpoints only (1 000 or 10 000 pages), 14 ms with the worker, 11 ms with no checkpoint at all; the WAL
      // stays under ~40 MB at the maximum rate (a PASSIVE checkpointer alone let it grow past 1 GB in 20 s: the
      // writer never leaves it a moment to catch up). After a checkpoint the WAL file is cut back to 64 MB.
      this.#db.exec('PRAGMA wal_autocheckpoint = 10000');
      this.#checkpointer = startCheckpointer(path);
      this.#db.exec('PRAGMA journal_size_limit = 67108864');
    }
  }

  #stmt(sql: string) {
    let s = this.#statements.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  #all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.#stmt(sql).all(...params) as Row[];
  }

  #get(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.#stmt(sql).get(...params) as Row | undefined;
  }

  #run(sql: string, ...params: SQLInputValue[]): number {
    try {
      return Number(this.#stmt(sql).run(...params).changes);
    } catch (err) {
      throw translate(err);
    }
  }

  /**
   * Group commit for the hot inserts of /sso/authorize: writes queued during one turn of the event loop are
   * committed together in one transaction on `setImmediate`. Every caller's promise settles only after the
   * COMMIT, so a write is durable (and visible to other processes) before the caller answers its request: the
   * same guarantee as a transaction of its own, at a fraction of the cost per row. If any write of a batch
   * fails (a constraint), the batch is rolled back and replayed one write per transaction, so that one failure
   * never fails the others.
   */
  #queue: { run: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];

  #grouped<T>(run: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#queue.length === 0) setImmediate(() => this.#flush());
      this.#queue.push({ run, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  #flush(): void {
    const batch = this.#queue;
    this.#queue = [];
    if (batch.length === 0) return;
    const results: unknown[] = [];
    try {
      this.#stmt('BEGIN IMMEDIATE').run();
      for (const item of batch) results.push(item.run());
      this.#stmt('COMMIT').run();
    } catch {
      if (this.#db.isTransaction) this.#stmt('ROLLBACK').run();
      for (const item of batch) {
        try {
          item.resolve(this.#transaction(item.run));
        } catch (err) {
          item.reject(err);
        }
      }
      return;
    }
    batch.forEach((item, i) => {
      item.resolve(results[i]);
    });
  }

  /** A transaction whose callback decides whether to commit or roll back, and returns a value either way. */
  #transactionOutcome<T>(fn: () => { commit: boolean; value: T }): T {
    this.#stmt('BEGIN IMMEDIATE').run();
    try {
      const { commit, value } = fn();
      this.#stmt(commit ? 'COMMIT' : 'ROLLBACK').run();
      return value;
    } catch (err) {
      if (this.#db.isTransaction) this.#stmt('ROLLBACK').run();
      throw translate(err);
    }
  }

  #transaction<T>(fn: () => T): T {
    this.#stmt('BEGIN IMMEDIATE').run();
    try {
      const result = fn();
      this.#stmt('COMMIT').run();
      return result;
    } catch (err) {
      this.#stmt('ROLLBACK').run();
      throw translate(err);
    }
  }

  /**
   * Cursor pagination by ID. `where` is a list of SQL conditions joined with AND.
   * In `desc` order, `after=X` means "IDs below X" and `before=X` means "IDs above X", and the reverse in `asc`.
   */
  #page<T>(
    table: string,
    where: string[],
    params: SQLInputValue[],
    page: PageRequest,
    map: (r: Row) => T & { id: string },
  ): Page<T> {
    const forward = !page.before;
    const cursor = page.before ?? page.after;
    // "Forward" walks in the requested order; "backward" walks the other way from a `before` cursor.
    const descending = (page.order === 'desc') === forward;
    const conds = [...where];
    const args = [...params];
    if (cursor) {
      conds.push(descending ? 'id < ?' : 'id > ?');
      args.push(cursor);
    }
    const sql = `SELECT * FROM ${table}${conds.length ? ` WHERE ${conds.join(' AND ')}` : ''} ORDER BY id ${
      descending ? 'DESC' : 'ASC'
    } LIMIT ?`;
    const rows = this.#all(sql, ...args, page.limit + 1).map(map);
    const more = rows.length > page.limit;
    const data = rows.slice(0, page.limit);
    if (!forward) data.reverse();
    const first = data[0]?.id ?? null;
    const last = data[data.length - 1]?.id ?? null;
    if (forward) return { data, before: cursor ? first : null, after: more ? last : null };
    return { data, before: more ? first : null, after: last };
  }

  async migrate(): Promise<void> {
    this.#db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
    );
    for (const m of migrations) {
      // Checked inside the write transaction, so two processes starting at once apply each migration once.
      this.#transaction(() => {
        if (this.#db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(m.version)) return;
        this.#db.exec(m.sql);
        this.#db
          .prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
          .run(m.version, m.name, iso(new Date()));
      });
    }
  }

  async ping(): Promise<void> {
    this.#get('SELECT 1');
  }

  async close(): Promise<void> {
    this.#flush();
    this.#statements.clear();
    await this.#checkpointer?.terminate();
    this.#checkpointer = null;
    // The last connection to close checkpoints what is left.
    if (this.#db.isOpen) this.#db.close();
  }

  // ---- settings ----
  async getSetting(key: string): Promise<string | null> {
    return strOrNull(this.#get('SELECT value FROM settings WHERE key = ?', key)?.value ?? null);
  }

  async setSetting(key: string, value: string): Promise<void> {
    this.#run(
      'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      key,
      value,
    );
  }

  async initSetting(key: string, value: string): Promise<string> {
    this.#run('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING', key, value);
    return str(this.#get('SELECT value FROM settings WHERE key = ?', key)?.value);
  }

  // ---- organizations ----
  #insertDomain(organizationId: string, d: NewDomain, now: string): void {
    this.#run(
      `INSERT INTO organization_domains (id, organization_id, domain, state, verification_strategy, verification_token, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      d.id,
      organizationId,
      d.domain,
      d.state,
      d.verificationStrategy,
      d.verificationToken,
      now,
      now,
    );
  }

  async createOrganization(
    org: Omit<OrganizationRecord, 'createdAt' | 'updatedAt'>,
    domains: NewDomain[],
    events?: Events<OrganizationRecord>,
  ): Promise<OrganizationRecord> {
    const now = iso(new Date());
    return this.#transaction(() => {
      this.#run(
        `INSERT INTO organizations (id, name, external_id, allow_profiles_outside_organization, metadata, stripe_customer_id, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        org.id,
        org.name,
        org.externalId,
        org.allowProfilesOutsideOrganization ? 1 : 0,
        JSON.stringify(org.metadata),
        org.stripeCustomerId,
        now,
        now,
      );
      for (const d of domains) this.#insertDomain(org.id, d, now);
      const created = organization(this.#get('SELECT * FROM organizations WHERE id = ?', org.id) as Row);
      this.#insertEvents(eventsFor(events, created));
      return created;
    });
  }

  async getOrganization(id: string): Promise<OrganizationRecord | null> {
    const r = this.#get('SELECT * FROM organizations WHERE id = ?', id);
    return r ? organization(r) : null;
  }

  async getOrganizationByExternalId(externalId: string): Promise<OrganizationRecord | null> {
    const r = this.#get('SELECT * FROM organizations WHERE external_id = ?', externalId);
    return r ? organization(r) : null;
  }

  async listOrganizations(filter: OrganizationFilter, page: PageRequest): Promise<Page<OrganizationRecord>> {
    const where: string[] = [];
    const params: SQLInputValue[] = [];
    if (filter.domains?.length) {
      where.push(
        `id IN (SELECT organization_id FROM organization_domains WHERE domain IN (${filter.domains.map(() => '?').join(', ')}))`,
      );
      params.push(...filter.domains);
    }
    if (filter.search) {
      where.push('instr(unicode_lower(name), unicode_lower(?)) > 0');
      params.push(filter.search);
    }
    return this.#page('organizations', where, params, page, organization);
  }

  async updateOrganization(
    id: string,
    patch: OrganizationPatch,
    domains?: NewDomain[],
    events?: Events<OrganizationRecord>,
  ): Promise<OrganizationRecord> {
    const now = iso(new Date());
    return this.#transaction(() => {
      const current = this.#get('SELECT * FROM organizations WHERE id = ?', id);
      if (!current) throw new NotFoundError('organization');
      const sets: string[] = ['updated_at = ?'];
      const args: SQLInputValue[] = [now];
      if (patch.name !== undefined) sets.push('name = ?') && args.push(patch.name);
      if (patch.externalId !== undefined) sets.push('external_id = ?') && args.push(patch.externalId);
      if (patch.allowProfilesOutsideOrganization !== undefined)
        sets.push('allow_profiles_outside_organization = ?') &&
          args.push(patch.allowProfilesOutsideOrganization ? 1 : 0);
      if (patch.metadata !== undefined)
        sets.push('metadata = ?') && args.push(JSON.stringify(patch.metadata));
      if (patch.stripeCustomerId !== undefined)
        sets.push('stripe_customer_id = ?') && args.push(patch.stripeCustomerId);
      this.#run(`UPDATE organizations SET ${sets.join(', ')} WHERE id = ?`, ...args, id);
      if (domains) {
        const existing = this.#all('SELECT * FROM organization_domains WHERE organization_id = ?', id).map(
          domain,
        );
        const wanted = new Map(domains.map((d) => [d.domain, d]));
        for (const e of existing) {
          const w = wanted.get(e.domain);
          if (!w) {
            this.#run('DELETE FROM organization_domains WHERE id = ?', e.id);
          } else if (w.state !== e.state) {
            this.#run(
              'UPDATE organization_domains SET state = ?, updated_at = ? WHERE id = ?',
              w.state,
              now,
              e.id,
            );
          }
          wanted.delete(e.domain);
        }
        for (const d of wanted.values()) this.#insertDomain(id, d, now);
      }
      const updated = organization(this.#get('SELECT * FROM organizations WHERE id = ?', id) as Row);
      this.#insertEvents(eventsFor(events, updated));
      return updated;
    });
  }

  async deleteOrganization(id: string, events?: NewEvent[]): Promise<void> {
    this.#withEvents(events, () => {
      if (this.#run('DELETE FROM organizations WHERE id = ?', id) === 0)
        throw new NotFoundError('organization');
    });
  }

  async createDomain(
    organizationId: string,
    d: NewDomain,
    events?: Events<OrganizationDomainRecord>,
  ): Promise<OrganizationDomainRecord> {
    return this.#withEvents(events, () => {
      this.#insertDomain(organizationId, d, iso(new Date()));
      return domain(this.#get('SELECT * FROM organization_domains WHERE id = ?', d.id) as Row);
    });
  }

  async getDomain(id: string): Promise<OrganizationDomainRecord | null> {
    const r = this.#get('SELECT * FROM organization_domains WHERE id = ?', id);
    return r ? domain(r) : null;
  }

  async updateDomainState(
    id: string,
    state: OrganizationDomainRecord['state'],
    events?: Events<OrganizationDomainRecord>,
  ): Promise<OrganizationDomainRecord> {
    return this.#withEvents(events, () => {
      if (
        this.#run(
          'UPDATE organization_domains SET state = ?, updated_at = ? WHERE id = ?',
          state,
          iso(new Date()),
          id,
        ) === 0
      )
        throw new NotFoundError('organization domain');
      return domain(this.#get('SELECT * FROM organization_domains WHERE id = ?', id) as Row);
    });
  }

  async deleteDomain(id: string, events?: NewEvent[]): Promise<void> {
    this.#withEvents(events, () => {
      if (this.#run('DELETE FROM organization_domains WHERE id = ?', id) === 0)
        throw new NotFoundError('organization domain');
    });
  }

  async listDomains(organizationIds: string[]): Promise<OrganizationDomainRecord[]> {
    if (organizationIds.length === 0) return [];
    return this.#all(
      `SELECT * FROM organization_domains WHERE organization_id IN (${organizationIds.map(() => '?').join(', ')}) ORDER BY id`,
      ...organizationIds,
    ).map(domain);
  }

  async findVerifiedDomain(d: string): Promise<OrganizationDomainRecord | null> {
    const r = this.#get("SELECT * FROM organization_domains WHERE domain = ? AND state = 'verified'", d);
    return r ? domain(r) : null;
  }

  // ---- connections ----
  async createConnection(
    c: Omit<ConnectionRecord, 'createdAt' | 'updatedAt' | 'firstLoginAt'>,
  ): Promise<ConnectionRecord> {
    const now = iso(new Date());
    this.#run(
      `INSERT INTO connections (id, organization_id, connection_type, name, state, external_key, config, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      c.id,
      c.organizationId,
      c.connectionType,
      c.name,
      c.state,
      c.externalKey,
      JSON.stringify(c.config),
      now,
      now,
    );
    return connection(this.#get('SELECT * FROM connections WHERE id = ?', c.id) as Row);
  }

  async getConnection(id: string): Promise<ConnectionRecord | null> {
    const r = this.#get('SELECT * FROM connections WHERE id = ?', id);
    return r ? connection(r) : null;
  }

  async getConnectionByExternalKey(externalKey: string): Promise<ConnectionRecord | null> {
    const r = this.#get('SELECT * FROM connections WHERE external_key = ?', externalKey);
    return r ? connection(r) : null;
  }

  async listConnections(filter: ConnectionFilter, page: PageRequest): Promise<Page<ConnectionRecord>> {
    const where: string[] = [];
    const params: SQLInputValue[] = [];
    if (filter.connectionType) {
      where.push('lower(connection_type) = lower(?)');
      params.push(filter.connectionType);
    }
    if (filter.organizationId) {
      where.push('organization_id = ?');
      params.push(filter.organizationId);
    }
    if (filter.domain) {
      // A connection's domains are its organization's verified domains; the filter matches what it lists.
      where.push(
        "organization_id IN (SELECT organization_id FROM organization_domains WHERE domain = ? AND state = 'verified')",
      );
      params.push(filter.domain);
    }
    if (filter.search) {
      where.push('instr(unicode_lower(name), unicode_lower(?)) > 0');
      params.push(filter.search);
    }
    if (filter.state) {
      where.push('state = ?');
      params.push(filter.state);
    }
    return this.#page('connections', where, params, page, connection);
  }

  async listOrganizationConnections(organizationId: string): Promise<ConnectionRecord[]> {
    return this.#all('SELECT * FROM connections WHERE organization_id = ? ORDER BY id', organizationId).map(
      connection,
    );
  }

  async listConnectionsByType(connectionType: string): Promise<ConnectionRecord[]> {
    return this.#all('SELECT * FROM connections WHERE connection_type = ? ORDER BY id', connectionType).map(
      connection,
    );
  }

  async updateConnection(
    id: string,
    patch: ConnectionPatch,
    events?: Events<ConnectionRecord>,
  ): Promise<ConnectionRecord> {
    return this.#withEvents(events, () => this.#updateConnection(id, patch));
  }

  #updateConnection(id: string, patch: ConnectionPatch): ConnectionRecord {
    const sets: string[] = ['updated_at = ?'];
    const args: SQLInputValue[] = [iso(new Date())];
    if (patch.name !== undefined) sets.push('name = ?') && args.push(patch.name);
    if (patch.state !== undefined) sets.push('state = ?') && args.push(patch.state);
    if (patch.config !== undefined) sets.push('config = ?') && args.push(JSON.stringify(patch.config));
    if (patch.firstLoginAt !== undefined)
      sets.push('first_login_at = ?') && args.push(iso(patch.firstLoginAt));
    if (this.#run(`UPDATE connections SET ${sets.join(', ')} WHERE id = ?`, ...args, id) === 0)
      throw new NotFoundError('connection');
    return connection(this.#get('SELECT * FROM connections WHERE id = ?', id) as Row);
  }

  async deleteConnection(id: string, events?: NewEvent[]): Promise<void> {
    this.#withEvents(events, () => {
      if (this.#run('DELETE FROM connections WHERE id = ?', id) === 0) throw new NotFoundError('connection');
    });
  }

  // ---- sign-in statistics per connection (the dashboard's connections page, issue 13) ----
  // Each part is a search of the index (connection_id, outcome, id) (migration 13): the last success and failure
  // are one seek each; the counts read the entries of their window only, one range per outcome. Time windows are
  // ID ranges (IDs are ULIDs), as in the session log's own filters and retention.
  async connectionStats(
    connectionIds: string[],
    since24h: Date,
    since7d: Date,
  ): Promise<Map<string, ConnectionStats>> {
    if (connectionIds.length > CONNECTION_STATS_MAX) {
      throw new TypeError(`connectionStats takes at most ${CONNECTION_STATS_MAX} connections`);
    }
    const out = new Map<string, ConnectionStats>();
    const from24h = firstIdAt('sess', since24h);
    const from7d = firstIdAt('sess', since7d);
    for (const id of new Set(connectionIds)) {
      const r = this.#get(CONNECTION_STATS_SQL, id, from24h, from7d) as Row;
      out.set(id, {
        lastSucceededAt: r.last_succeeded === null ? null : new Date(String(r.last_succeeded)),
        lastFailedAt: r.last_failed === null ? null : new Date(String(r.last_failed)),
        total24h: Number(r.total_24h),
        failed24h: Number(r.failed_24h),
        total7d: Number(r.total_7d),
        failed7d: Number(r.failed_7d),
      });
    }
    return out;
  }

  // ---- redirect URIs ----
  async listRedirectUris(): Promise<RedirectUriRecord[]> {
    return this.#all('SELECT * FROM redirect_uris ORDER BY id').map(redirectUri);
  }

  async addRedirectUri(rec: Omit<RedirectUriRecord, 'createdAt'>): Promise<RedirectUriRecord> {
    const now = iso(new Date());
    return this.#transaction(() => {
      if (rec.isDefault) this.#run('UPDATE redirect_uris SET is_default = 0 WHERE is_default = 1');
      this.#run(
        'INSERT INTO redirect_uris (id, uri, is_default, created_at) VALUES (?, ?, ?, ?)',
        rec.id,
        rec.uri,
        rec.isDefault ? 1 : 0,
        now,
      );
      return redirectUri(this.#get('SELECT * FROM redirect_uris WHERE id = ?', rec.id) as Row);
    });
  }

  async setDefaultRedirectUri(id: string): Promise<RedirectUriRecord> {
    return this.#transaction(() => {
      if (!this.#get('SELECT id FROM redirect_uris WHERE id = ?', id))
        throw new NotFoundError('redirect URI');
      this.#run('UPDATE redirect_uris SET is_default = 0 WHERE is_default = 1');
      this.#run('UPDATE redirect_uris SET is_default = 1 WHERE id = ?', id);
      return redirectUri(this.#get('SELECT * FROM redirect_uris WHERE id = ?', id) as Row);
    });
  }

  async deleteRedirectUri(id: string): Promise<void> {
    if (this.#run('DELETE FROM redirect_uris WHERE id = ?', id) === 0)
      throw new NotFoundError('redirect URI');
  }

  // ---- API keys ----
  async createApiKey(rec: Omit<ApiKeyRecord, 'createdAt' | 'revokedAt'>): Promise<ApiKeyRecord> {
    this.#run(
      'INSERT INTO api_keys (id, name, key_hash, last_four, created_at) VALUES (?, ?, ?, ?, ?)',
      rec.id,
      rec.name,
      rec.keyHash,
      rec.lastFour,
      iso(new Date()),
    );
    return apiKey(this.#get('SELECT * FROM api_keys WHERE id = ?', rec.id) as Row);
  }

  async findActiveApiKey(keyHash: string): Promise<ApiKeyRecord | null> {
    const r = this.#get('SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL', keyHash);
    return r ? apiKey(r) : null;
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return this.#all('SELECT * FROM api_keys ORDER BY id').map(apiKey);
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | null> {
    const r = this.#get('SELECT * FROM api_keys WHERE id = ?', id);
    return r ? apiKey(r) : null;
  }

  async revokeApiKey(id: string, at: Date): Promise<boolean> {
    const current = this.#get('SELECT * FROM api_keys WHERE id = ?', id);
    if (!current) throw new NotFoundError('API key');
    if (current.revoked_at !== null) return true;
    return (
      this.#run(
        `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL
           AND (SELECT count(*) FROM api_keys WHERE revoked_at IS NULL) > 1`,
        iso(at),
        id,
      ) === 1
    );
  }

  // ---- login transactions ----
  #insertSession(
    x: Omit<SsoSessionRecord, 'createdAt' | 'updatedAt'>,
    now: string,
    tx?: Omit<
      LoginTransactionRecord,
      'consumedAt' | 'profileId' | 'consentHash' | 'consentExpiresAt' | 'consentDecidedAt' | 'oauthTokens'
    >,
  ): void {
    this.#run(
      `INSERT INTO sso_sessions (id, client_id, connection_id, organization_id, connection_type, redirect_uri, outcome,
         failed_stage, reason, wire_code, upstream_error, detail, profile_id, idp_id, email, authorize_request_id,
         callback_request_id, consent_request_id, stages, expires_at, created_at, updated_at,
         tx_state_hash, tx_browser_hash, tx_app_state, tx_code_challenge, tx_code_challenge_method,
         tx_connector_state, tx_created_at, tx_expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      x.id,
      x.clientId,
      x.connectionId,
      x.organizationId,
      x.connectionType,
      x.redirectUri,
      x.outcome,
      x.failedStage,
      x.reason,
      x.wireCode,
      x.upstreamError === null ? null : JSON.stringify(x.upstreamError),
      x.detail === null ? null : JSON.stringify(x.detail),
      x.profileId,
      x.idpId,
      x.email,
      x.authorizeRequestId,
      x.callbackRequestId,
      x.consentRequestId,
      JSON.stringify(x.stages),
      iso(x.expiresAt),
      now,
      now,
      tx?.stateHash ?? null,
      tx?.browserHash ?? null,
      tx?.appState ?? null,
      tx?.codeChallenge ?? null,
      tx?.codeChallengeMethod ?? null,
      tx?.connectorState ?? null,
      tx ? iso(tx.createdAt) : null,
      tx ? iso(tx.expiresAt) : null,
    );
  }

  async createLoginTransaction(
    tx: Omit<
      LoginTransactionRecord,
      'consumedAt' | 'profileId' | 'consentHash' | 'consentExpiresAt' | 'consentDecidedAt' | 'oauthTokens'
    >,
    sess: Omit<SsoSessionRecord, 'createdAt' | 'updatedAt'>,
    events?: NewEvent[],
  ): Promise<LoginTransactionRecord> {
    const shared =
      tx.id === sess.id &&
      tx.sessionId === sess.id &&
      tx.clientId === sess.clientId &&
      tx.connectionId === sess.connectionId &&
      tx.organizationId === sess.organizationId &&
      tx.redirectUri === sess.redirectUri &&
      tx.requestId === sess.authorizeRequestId;
    if (!shared)
      throw new TypeError('a login transaction and its session record must agree on the fields they share');
    // One row: the session record with the transaction in its tx_ columns.
    return this.#grouped(() => {
      this.#insertSession(sess, iso(new Date()), tx);
      if (events) this.#insertEvents(events);
      return {
        ...tx,
        consumedAt: null,
        profileId: null,
        consentHash: null,
        consentExpiresAt: null,
        consentDecidedAt: null,
        oauthTokens: null,
      };
    });
  }

  async getLoginTransaction(id: string, stateHash: string): Promise<LoginTransactionRecord | null> {
    const r = this.#get('SELECT * FROM sso_sessions WHERE id = ? AND tx_state_hash = ?', id, stateHash);
    return r ? transaction(r) : null;
  }

  async consumeLoginTransaction(
    id: string,
    stateHash: string,
    now: Date,
  ): Promise<LoginTransactionRecord | null> {
    const r = this.#get(
      `UPDATE sso_sessions SET tx_consumed_at = ?
       WHERE id = ? AND tx_state_hash = ? AND tx_consumed_at IS NULL AND tx_expires_at > ? RETURNING *`,
      iso(now),
      id,
      stateHash,
      iso(now),
    );
    return r ? transaction(r) : null;
  }

  async deleteExpiredLoginTransactions(before: Date): Promise<number> {
    // The session record stays; only its transaction (hashes, PKCE challenge, consent slot) goes.
    return this.#run(
      `UPDATE sso_sessions SET tx_state_hash = NULL, tx_browser_hash = NULL, tx_app_state = NULL,
         tx_code_challenge = NULL, tx_code_challenge_method = NULL, tx_connector_state = NULL, tx_created_at = NULL,
         tx_expires_at = NULL, tx_consumed_at = NULL, tx_profile_id = NULL, tx_consent_hash = NULL,
         tx_consent_expires_at = NULL, tx_consent_decided_at = NULL, tx_oauth_tokens = NULL
       WHERE tx_state_hash IS NOT NULL AND tx_expires_at < ?`,
      iso(before),
    );
  }

  async markTimedOutSessions(
    expiredBefore: Date,
    now: Date,
    limit: number,
    events?: (session: SsoSessionRecord) => NewEvent[],
  ): Promise<string[]> {
    // Found through the index of live transactions by expiry (sso_sessions_tx_expires), oldest first.
    const mark = () =>
      this.#all(
        `UPDATE sso_sessions SET outcome = 'timed_out',
           failed_stage = CASE WHEN tx_consumed_at IS NULL THEN 'abandoned_at_idp' ELSE 'consent' END,
           stages = json_patch(stages, ?), updated_at = ?
         WHERE id IN (SELECT id FROM sso_sessions
                      WHERE tx_state_hash IS NOT NULL AND tx_expires_at < ? AND outcome = 'started'
                      ORDER BY tx_expires_at LIMIT ?)
         RETURNING ${events ? '*' : 'id'}`,
        JSON.stringify({ timed_out: iso(now) }),
        iso(now),
        iso(expiredBefore),
        limit,
      );
    const rows = this.#withEvents(
      events && ((marked: Row[]) => marked.flatMap((r) => events(session(r)))),
      mark,
    );
    return rows.map((r) => String(r.id));
  }

  async awaitConsent(
    id: string,
    consent: { profileId: string; consentHash: string; expiresAt: Date; oauthTokens: string | null },
  ): Promise<void> {
    const changed = this.#run(
      `UPDATE sso_sessions SET tx_profile_id = ?, tx_consent_hash = ?, tx_consent_expires_at = ?, tx_oauth_tokens = ?
       WHERE id = ? AND tx_state_hash IS NOT NULL`,
      consent.profileId,
      consent.consentHash,
      iso(consent.expiresAt),
      consent.oauthTokens,
      id,
    );
    if (changed === 0) throw new NotFoundError('login transaction');
  }

  async takeConsent(consentHash: string, now: Date): Promise<LoginTransactionRecord | null> {
    const r = this.#get(
      `UPDATE sso_sessions SET tx_consent_decided_at = ?
       WHERE tx_consent_hash = ? AND tx_consent_decided_at IS NULL AND tx_consent_expires_at > ? RETURNING *`,
      iso(now),
      consentHash,
      iso(now),
    );
    return r ? transaction(r) : null;
  }

  // ---- session log ----
  async createSession(
    x: Omit<SsoSessionRecord, 'createdAt' | 'updatedAt'>,
    events?: NewEvent[],
  ): Promise<SsoSessionRecord> {
    const now = new Date();
    await this.#grouped(() => {
      this.#insertSession(x, iso(now));
      if (events) this.#insertEvents(events);
    });
    return { ...x, createdAt: now, updatedAt: now };
  }

  async getSession(id: string): Promise<SsoSessionRecord | null> {
    const r = this.#get('SELECT * FROM sso_sessions WHERE id = ?', id);
    return r ? session(r) : null;
  }

  async updateSession(
    id: string,
    patch: SessionPatch,
    events?: Events<SsoSessionRecord>,
  ): Promise<SsoSessionRecord> {
    return this.#withEvents(events, () => this.#updateSession(id, patch));
  }

  #updateSession(id: string, patch: SessionPatch): SsoSessionRecord {
    const { sets, args } = sessionSets(patch);
    const r = this.#get(
      `UPDATE sso_sessions SET ${sets.join(', ')} WHERE id = ? RETURNING ${SESSION_COLUMNS}`,
      ...args,
      id,
    );
    if (!r) throw new NotFoundError('session');
    return session(r);
  }

  async completeSignIn(c: SignInCompletion): Promise<SignInResult> {
    if ((c.code || c.consent) && !c.profile) throw new TypeError('a code or a consent needs a profile');
    if (c.code && c.consent) throw new TypeError('a code or a consent, not both');
    const now = iso(c.now);
    return this.#transactionOutcome((): { commit: boolean; value: SignInResult } => {
      // Under the write lock (BEGIN IMMEDIATE), the checks first: the transaction, then the key.
      if (!this.#get(CONSUMABLE_SQL, c.id, c.stateHash, now))
        return { commit: false, value: { kind: 'transaction_unavailable' } };
      if (c.oneTimeKey && !this.#claimOneTimeKey(c.oneTimeKey.key, c.oneTimeKey.expiresAt))
        return { commit: false, value: { kind: 'one_time_key_claimed' } };
      const stored = c.profile ? this.#upsertProfile(c.profile) : null;
      // The transaction and its session record are one row: consumed and patched by one UPDATE, which returns
      // the session's columns only.
      const { sets, args } = sessionSets({ ...c.session, ...(stored ? { profileId: stored.id } : {}) });
      sets.push('tx_consumed_at = ?');
      args.push(now);
      if (c.consent && stored) {
        sets.push(
          'tx_profile_id = ?',
          'tx_consent_hash = ?',
          'tx_consent_expires_at = ?',
          'tx_oauth_tokens = ?',
        );
        args.push(stored.id, c.consent.consentHash, iso(c.consent.expiresAt), c.consent.oauthTokens);
      }
      const record = session(
        this.#get(
          `UPDATE sso_sessions SET ${sets.join(', ')} WHERE id = ? RETURNING ${SESSION_COLUMNS}`,
          ...args,
          c.id,
        ) as Row,
      );
      if (c.code && stored) this.#insertCode({ ...c.code, profileId: stored.id, sessionId: c.id });
      if (c.events) this.#insertEvents(eventsFor(c.events, record));
      return { commit: true, value: { kind: 'completed', session: record, profile: stored } };
    });
  }

  async deleteSessionsBefore(before: Date, limit: number): Promise<number> {
    return this.#run(
      'DELETE FROM sso_sessions WHERE id IN (SELECT id FROM sso_sessions WHERE id < ? ORDER BY id LIMIT ?)',
      firstIdAt('sess', before),
      limit,
    );
  }

  async listSessions(filter: SessionFilter, page: PageRequest): Promise<Page<SsoSessionRecord>> {
    const where: string[] = [];
    const params: SQLInputValue[] = [];
    if (filter.connectionId) {
      where.push('connection_id = ?');
      params.push(filter.connectionId);
    }
    if (filter.organizationId) {
      where.push('organization_id = ?');
      params.push(filter.organizationId);
    }
    if (filter.requestId) {
      where.push('(authorize_request_id = ? OR callback_request_id = ? OR consent_request_id = ?)');
      params.push(filter.requestId, filter.requestId, filter.requestId);
    }
    // The dashboard's filters (issue 13): (outcome, id) and (failed_stage, id) indexes; a time range is an ID range.
    if (filter.outcome) {
      where.push('outcome = ?');
      params.push(filter.outcome);
    }
    if (filter.failedStage) {
      where.push('failed_stage = ?');
      params.push(filter.failedStage);
    }
    if (filter.rangeStart) {
      where.push('id >= ?');
      params.push(firstIdAt('sess', filter.rangeStart));
    }
    if (filter.rangeEnd) {
      where.push('id < ?');
      params.push(firstIdAt('sess', filter.rangeEnd));
    }
    return this.#page('sso_sessions', where, params, page, session);
  }

  // ---- profiles ----
  async upsertProfile(p: Omit<ProfileRecord, 'createdAt' | 'updatedAt'>): Promise<ProfileRecord> {
    return this.#upsertProfile(p);
  }

  #upsertProfile(p: Omit<ProfileRecord, 'createdAt' | 'updatedAt'>): ProfileRecord {
    const now = iso(new Date());
    const r = this.#get(
      `INSERT INTO profiles (id, connection_id, idp_id, data, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (connection_id, idp_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at
       RETURNING *`,
      p.id,
      p.connectionId,
      p.idpId,
      JSON.stringify(p.data),
      now,
      now,
    );
    return profile(r as Row);
  }

  async getProfile(id: string): Promise<ProfileRecord | null> {
    const r = this.#get('SELECT * FROM profiles WHERE id = ?', id);
    return r ? profile(r) : null;
  }

  async listProfiles(page: PageRequest): Promise<Page<ProfileRecord>> {
    return this.#page('profiles', [], [], page, profile);
  }

  // ---- authorization codes and access tokens ----
  async createAuthorizationCode(
    c: Omit<AuthorizationCodeRecord, 'consumedAt'>,
  ): Promise<AuthorizationCodeRecord> {
    this.#insertCode(c);
    return { ...c, consumedAt: null };
  }

  #insertCode(c: Omit<AuthorizationCodeRecord, 'consumedAt'>): void {
    this.#run(
      `INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, code_challenge, profile_id, session_id, oauth_tokens,
         created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      c.codeHash,
      c.clientId,
      c.redirectUri,
      c.codeChallenge,
      c.profileId,
      c.sessionId,
      c.oauthTokens,
      iso(c.createdAt),
      iso(c.expiresAt),
    );
  }

  async getAuthorizationCode(codeHash: string): Promise<AuthorizationCodeRecord | null> {
    const r = this.#get('SELECT * FROM authorization_codes WHERE code_hash = ?', codeHash);
    return r ? authorizationCode(r) : null;
  }

  async redeemAuthorizationCode(req: RedeemRequest): Promise<RedeemResult> {
    const now = iso(req.now);
    return this.#transaction((): RedeemResult => {
      const idem = req.idempotency;
      if (idem) {
        const kept = this.#get(
          'SELECT request_hash, response FROM idempotency_keys WHERE client_id = ? AND key = ? AND expires_at > ?',
          idem.clientId,
          idem.key,
          now,
        );
        if (kept) {
          return kept.request_hash === idem.requestHash
            ? { kind: 'replayed', response: str(kept.response) }
            : { kind: 'idempotency_mismatch' };
        }
      }
      const code = this.#get(
        'SELECT consumed_at, expires_at, session_id FROM authorization_codes WHERE code_hash = ?',
        req.codeHash,
      );
      if (!code) return { kind: 'invalid', reason: 'not_found' };
      if (code.consumed_at !== null) {
        this.#run(
          'UPDATE access_tokens SET revoked_at = ? WHERE code_hash = ? AND revoked_at IS NULL',
          now,
          req.codeHash,
        );
        return { kind: 'invalid', reason: 'consumed' };
      }
      if (str(code.expires_at) <= now) return { kind: 'invalid', reason: 'expired' };
      // The provider's tokens leave with this answer; the consumed code does not keep them.
      this.#run(
        'UPDATE authorization_codes SET consumed_at = ?, oauth_tokens = NULL WHERE code_hash = ?',
        now,
        req.codeHash,
      );
      this.#run(
        `INSERT INTO access_tokens (token_hash, code_hash, client_id, profile_id, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
        req.token.tokenHash,
        req.codeHash,
        req.token.clientId,
        req.token.profileId,
        now,
        iso(req.token.expiresAt),
      );
      // The session log's stage, in this transaction: a second commit per exchange cost a fifth of its time.
      this.#run(
        'UPDATE sso_sessions SET updated_at = ?, stages = json_patch(stages, ?) WHERE id = ?',
        now,
        JSON.stringify({ code_redeemed: now }),
        str(code.session_id),
      );
      if (idem) {
        this.#run(
          `INSERT INTO idempotency_keys (client_id, key, request_hash, response, created_at, expires_at)
           VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (client_id, key) DO UPDATE SET request_hash = excluded.request_hash, response = excluded.response,
             created_at = excluded.created_at, expires_at = excluded.expires_at`,
          idem.clientId,
          idem.key,
          idem.requestHash,
          idem.response,
          now,
          iso(idem.expiresAt),
        );
      }
      return { kind: 'issued' };
    });
  }

  async getAccessToken(tokenHash: string): Promise<AccessTokenRecord | null> {
    const r = this.#get('SELECT * FROM access_tokens WHERE token_hash = ?', tokenHash);
    return r ? accessToken(r) : null;
  }

  async deleteExpiredGrants(before: Date): Promise<number> {
    const b = iso(before);
    return this.#transaction(
      () =>
        this.#run('DELETE FROM authorization_codes WHERE expires_at < ?', b) +
        this.#run('DELETE FROM access_tokens WHERE expires_at < ?', b) +
        this.#run('DELETE FROM idempotency_keys WHERE expires_at < ?', b) +
        this.#run('DELETE FROM one_time_keys WHERE expires_at < ?', b),
    );
  }

  async createPortalLink(link: Omit<PortalLinkRecord, 'openedAt'>): Promise<PortalLinkRecord> {
    this.#run(
      `INSERT INTO portal_links (id, token_hash, organization_id, intent, return_url, success_url, provider_type,
         admin_emails, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      link.id,
      link.tokenHash,
      link.organizationId,
      link.intent,
      link.returnUrl,
      link.successUrl,
      link.providerType,
      JSON.stringify(link.adminEmails),
      iso(link.createdAt),
      iso(link.expiresAt),
    );
    return portalLink(this.#get('SELECT * FROM portal_links WHERE id = ?', link.id) as Row);
  }

  async openPortalLink(tokenHash: string, now: Date): Promise<PortalLinkOpening> {
    const t = iso(now);
    const opened = this.#get(
      `UPDATE portal_links SET opened_at = ? WHERE token_hash = ? AND opened_at IS NULL AND expires_at > ?
       RETURNING *`,
      t,
      tokenHash,
      t,
    );
    if (opened) return { outcome: 'opened', link: portalLink(opened) };
    const r = this.#get('SELECT * FROM portal_links WHERE token_hash = ?', tokenHash);
    if (!r) return { outcome: 'unknown', link: null };
    const link = portalLink(r);
    return { outcome: link.openedAt ? 'used' : 'expired', link };
  }

  async deleteExpiredPortalLinks(before: Date): Promise<number> {
    return this.#run('DELETE FROM portal_links WHERE expires_at < ?', iso(before));
  }

  // ---- dashboard operators, their links, the audit log ----
  async createOperator(op: Pick<OperatorRecord, 'id' | 'email' | 'name'>): Promise<OperatorRecord> {
    this.#run(
      'INSERT INTO operators (id, email, name, created_at) VALUES (?, ?, ?, ?)',
      op.id,
      op.email.toLowerCase(),
      op.name,
      iso(new Date()),
    );
    return operator(this.#get('SELECT * FROM operators WHERE id = ?', op.id) as Row);
  }

  async getOperator(id: string): Promise<OperatorRecord | null> {
    const r = this.#get('SELECT * FROM operators WHERE id = ?', id);
    return r ? operator(r) : null;
  }

  async getOperatorByEmail(email: string): Promise<OperatorRecord | null> {
    const r = this.#get('SELECT * FROM operators WHERE email = ?', email.toLowerCase());
    return r ? operator(r) : null;
  }

  async listOperators(): Promise<OperatorRecord[]> {
    return this.#all('SELECT * FROM operators ORDER BY id').map(operator);
  }

  async updateOperator(
    id: string,
    patch: Partial<Pick<OperatorRecord, 'name' | 'lastSignInAt' | 'disabledAt'>>,
  ): Promise<OperatorRecord> {
    return this.#transaction(() => {
      const current = this.#get('SELECT * FROM operators WHERE id = ?', id);
      if (!current) throw new NotFoundError('operator');
      const next = { ...operator(current), ...patch };
      this.#run(
        'UPDATE operators SET name = ?, last_sign_in_at = ?, disabled_at = ? WHERE id = ?',
        next.name,
        next.lastSignInAt ? iso(next.lastSignInAt) : null,
        next.disabledAt ? iso(next.disabledAt) : null,
        id,
      );
      return operator(this.#get('SELECT * FROM operators WHERE id = ?', id) as Row);
    });
  }

  async createOperatorLink(link: Omit<OperatorLinkRecord, 'usedAt'>): Promise<OperatorLinkRecord> {
    this.#run(
      `INSERT INTO operator_links (id, token_hash, purpose, operator_id, email, created_by, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      link.id,
      link.tokenHash,
      link.purpose,
      link.operatorId,
      link.email,
      link.createdBy,
      iso(link.createdAt),
      iso(link.expiresAt),
    );
    return operatorLink(this.#get('SELECT * FROM operator_links WHERE id = ?', link.id) as Row);
  }

  async findOperatorLink(tokenHash: string): Promise<OperatorLinkRecord | null> {
    const r = this.#get('SELECT * FROM operator_links WHERE token_hash = ?', tokenHash);
    return r ? operatorLink(r) : null;
  }

  async useOperatorLink(tokenHash: string, now: Date): Promise<OperatorLinkUse> {
    const t = iso(now);
    const used = this.#get(
      `UPDATE operator_links SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?
       RETURNING *`,
      t,
      tokenHash,
      t,
    );
    if (used) return { outcome: 'used', link: operatorLink(used) };
    const r = this.#get('SELECT * FROM operator_links WHERE token_hash = ?', tokenHash);
    if (!r) return { outcome: 'unknown', link: null };
    const link = operatorLink(r);
    return { outcome: link.usedAt ? 'already_used' : 'expired', link };
  }

  async appendAudit(entry: AuditRecord): Promise<void> {
    this.#run(
      `INSERT INTO audit_log (id, operator_id, operator_email, action, target_type, target_id, detail, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      entry.id,
      entry.operatorId,
      entry.operatorEmail,
      entry.action,
      entry.targetType,
      entry.targetId,
      JSON.stringify(entry.detail),
      iso(entry.createdAt),
    );
  }

  async listAudit(filter: AuditFilter, page: PageRequest): Promise<Page<AuditRecord>> {
    const where: string[] = [];
    const params: SQLInputValue[] = [];
    if (filter.operatorId) {
      where.push('operator_id = ?');
      params.push(filter.operatorId);
    }
    if (filter.targetId) {
      where.push('target_id = ?');
      params.push(filter.targetId);
    }
    return this.#page('audit_log', where, params, page, audit);
  }

  // ---- events ----
  /** Runs `write` and writes the events it describes in the same transaction (none: `write` alone, as before). */
  #withEvents<T>(events: Events<T> | undefined, write: () => T): T {
    if (!events || (Array.isArray(events) && events.length === 0)) return write();
    return this.#transaction(() => {
      const result = write();
      this.#insertEvents(eventsFor(events, result));
      return result;
    });
  }

  #insertEvents(events: NewEvent[]): number {
    let written = 0;
    for (const e of events) {
      written += this.#run(
        `INSERT INTO events (id, event, organization_id, data, created_at, dedupe_key) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING`,
        e.id,
        e.event,
        e.organizationId,
        JSON.stringify(e.data),
        iso(e.createdAt),
        e.dedupeKey ?? null,
      );
    }
    return written;
  }

  async appendEvents(events: NewEvent[]): Promise<number> {
    return events.length === 0 ? 0 : this.#transaction(() => this.#insertEvents(events));
  }

  async listEvents(filter: EventFilter, page: PageRequest): Promise<Page<EventRecord>> {
    const where: string[] = [];
    const params: SQLInputValue[] = [];
    if (filter.events?.length) {
      where.push(`event IN (${filter.events.map(() => '?').join(', ')})`);
      params.push(...filter.events);
    }
    if (filter.organizationId) {
      where.push('organization_id = ?');
      params.push(filter.organizationId);
    }
    // IDs are ULIDs: a time range is an ID range, which the primary key serves.
    if (filter.rangeStart) {
      where.push('id >= ?');
      params.push(firstIdAt('event', filter.rangeStart));
    }
    if (filter.rangeEnd) {
      where.push('id < ?');
      params.push(firstIdAt('event', filter.rangeEnd));
    }
    return this.#page('events', where, params, page, event);
  }

  async deleteEventsBefore(before: Date, limit: number): Promise<number> {
    return this.#run(
      'DELETE FROM events WHERE id IN (SELECT id FROM events WHERE id < ? ORDER BY id LIMIT ?)',
      firstIdAt('event', before),
      limit,
    );
  }

  async claimOneTimeKey(key: string, expiresAt: Date): Promise<boolean> {
    return this.#claimOneTimeKey(key, expiresAt);
  }

  #claimOneTimeKey(key: string, expiresAt: Date): boolean {
    return (
      this.#run(
        'INSERT INTO one_time_keys (key, expires_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING',
        key,
        iso(expiresAt),
      ) === 1
    );
  }

  /** SQLite serves a single node, so its rate-limit counters live in memory: no write per request. */
  /** Rate-limit counters by `<windowMs>:<key>`, in the order they were last renewed (see `hitRateLimits`). */
  readonly #rateLimits = new Map<string, { windowStart: number; windowEnd: number; count: number }>();
  #nextRateLimitSweep = 0;

  async hitRateLimits(hits: RateLimitHit[], now: Date): Promise<RateLimitResult[]> {
    const t = now.getTime();
    if (t >= this.#nextRateLimitSweep && this.#rateLimits.size > SWEEP_RATE_LIMITS_ABOVE) {
      // At most once a second: forget the counters whose window has ended; then, if a flood of distinct
      // clients within one window still leaves too many, the ones renewed longest ago.
      this.#nextRateLimitSweep = t + 1000;
      for (const [key, c] of this.#rateLimits) if (c.windowEnd <= t) this.#rateLimits.delete(key);
      for (const key of this.#rateLimits.keys()) {
        if (this.#rateLimits.size <= MAX_RATE_LIMIT_KEYS) break;
        this.#rateLimits.delete(key);
      }
    }
    return hits.map(({ key, limit, windowMs }) => {
      const windowStart = t - (t % windowMs);
      const mapKey = `${windowMs}:${key}`;
      let counter = this.#rateLimits.get(mapKey);
      if (!counter || counter.windowStart !== windowStart) {
        counter = { windowStart, windowEnd: windowStart + windowMs, count: 0 };
        // Re-inserted, so that the map stays in the order counters were renewed (the sweep's eviction order).
        this.#rateLimits.delete(mapKey);
        this.#rateLimits.set(mapKey, counter);
      }
      counter.count += 1;
      return {
        count: counter.count,
        allowed: counter.count <= limit,
        resetAt: new Date(counter.windowEnd),
      };
    });
  }

  /** How many rate-limit counters this node keeps in memory (for tests and monitoring). */
  get rateLimitCounters(): number {
    return this.#rateLimits.size;
  }

  // ---- webhooks: endpoints and deliveries (the migration's trigger queues deliveries as events are written) ----
  #subscribe(endpointId: string, events: string[]): void {
    this.#run('DELETE FROM webhook_subscriptions WHERE endpoint_id = ?', endpointId);
    for (const name of events) {
      this.#run(
        'INSERT INTO webhook_subscriptions (event, endpoint_id) VALUES (?, ?) ON CONFLICT DO NOTHING',
        name,
        endpointId,
      );
    }
  }

  async createWebhookEndpoint(
    e: Omit<WebhookEndpointRecord, 'createdAt' | 'updatedAt'>,
  ): Promise<WebhookEndpointRecord> {
    const now = iso(new Date());
    return this.#transaction(() => {
      this.#run(
        `INSERT INTO webhook_endpoints (id, url, secret, status, events, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        e.id,
        e.url,
        e.secret,
        e.status,
        JSON.stringify(e.events),
        now,
        now,
      );
      this.#subscribe(e.id, e.events);
      return webhookEndpoint(this.#get('SELECT * FROM webhook_endpoints WHERE id = ?', e.id) as Row);
    });
  }

  async getWebhookEndpoint(id: string): Promise<WebhookEndpointRecord | null> {
    const r = this.#get('SELECT * FROM webhook_endpoints WHERE id = ?', id);
    return r ? webhookEndpoint(r) : null;
  }

  async listWebhookEndpoints(page: PageRequest): Promise<Page<WebhookEndpointRecord>> {
    return this.#page('webhook_endpoints', [], [], page, webhookEndpoint);
  }

  async updateWebhookEndpoint(id: string, patch: WebhookEndpointPatch): Promise<WebhookEndpointRecord> {
    const now = iso(new Date());
    return this.#transaction(() => {
      const current = this.#get('SELECT * FROM webhook_endpoints WHERE id = ?', id);
      if (!current) throw new NotFoundError('webhook endpoint');
      const next = { ...webhookEndpoint(current), ...patch };
      this.#run(
        'UPDATE webhook_endpoints SET url = ?, secret = ?, status = ?, events = ?, updated_at = ? WHERE id = ?',
        next.url,
        next.secret,
        next.status,
        JSON.stringify(next.events),
        now,
        id,
      );
      if (patch.events) this.#subscribe(id, patch.events);
      return webhookEndpoint(this.#get('SELECT * FROM webhook_endpoints WHERE id = ?', id) as Row);
    });
  }

  async deleteWebhookEndpoint(id: string): Promise<void> {
    if (this.#run('DELETE FROM webhook_endpoints WHERE id = ?', id) === 0) {
      throw new NotFoundError('webhook endpoint');
    }
  }

  async claimWebhookDeliveries(now: Date, limit: number, leaseUntil: Date): Promise<WebhookClaim[]> {
    const t = iso(now);
    return this.#transaction(() => {
      const due = this.#all(
        `SELECT d.endpoint_id, d.event_id, d.attempts, d.lease_until, d.updated_at, e.url, e.secret
         FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE d.state = 'pending' AND d.next_attempt_at <= ? AND (d.lease_until IS NULL OR d.lease_until <= ?)
           AND e.status = 'enabled'
         ORDER BY d.next_attempt_at LIMIT ?`,
        t,
        t,
        limit,
      );
      return due.map((r) => {
        const endpointId = str(r.endpoint_id);
        const eventId = str(r.event_id);
        if (r.lease_until !== null) {
          // Its last lease ended without an answer recorded: that attempt's node died.
          this.#run(
            `INSERT INTO webhook_attempts (endpoint_id, event_id, attempt, started_at, outcome, error)
             VALUES (?, ?, ?, ?, 'failed', 'interrupted') ON CONFLICT DO NOTHING`,
            endpointId,
            eventId,
            Number(r.attempts),
            str(r.updated_at),
          );
        }
        this.#run(
          `UPDATE webhook_deliveries SET attempts = attempts + 1, lease_until = ?, updated_at = ?
           WHERE endpoint_id = ? AND event_id = ?`,
          iso(leaseUntil),
          t,
          endpointId,
          eventId,
        );
        return {
          endpointId,
          url: str(r.url),
          secret: str(r.secret),
          event: event(this.#get('SELECT * FROM events WHERE id = ?', eventId) as Row),
          attempt: Number(r.attempts) + 1,
        };
      });
    });
  }

  async finishWebhookAttempt(x: WebhookAttemptResult): Promise<boolean> {
    const state: WebhookDeliveryState =
      x.outcome === 'succeeded' ? 'succeeded' : x.retryAt ? 'pending' : 'failed';
    return this.#transaction(() => {
      const changed = this.#run(
        `UPDATE webhook_deliveries SET state = ?, next_attempt_at = ?, lease_until = NULL, updated_at = ?
         WHERE endpoint_id = ? AND event_id = ? AND attempts = ? AND state = 'pending' AND lease_until IS NOT NULL`,
        state,
        state === 'pending' && x.retryAt ? iso(x.retryAt) : null,
        iso(x.now),
        x.endpointId,
        x.eventId,
        x.attempt,
      );
      if (changed === 0) return false;
      this.#run(
        `INSERT INTO webhook_attempts (endpoint_id, event_id, attempt, started_at, outcome, response_status, latency_ms, error)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        x.endpointId,
        x.eventId,
        x.attempt,
        iso(x.startedAt),
        x.outcome,
        x.responseStatus,
        x.latencyMs,
        x.error,
      );
      return true;
    });
  }

  /** The deliveries' attempts, filled in. */
  #withHistory(endpointId: string, deliveries: WebhookDeliveryRecord[]): WebhookDeliveryRecord[] {
    if (deliveries.length === 0) return deliveries;
    const byEvent = new Map(deliveries.map((d) => [d.eventId, d]));
    for (const r of this.#all(
      `SELECT * FROM webhook_attempts WHERE endpoint_id = ? AND event_id IN (SELECT value FROM json_each(?))
       ORDER BY event_id, attempt`,
      endpointId,
      JSON.stringify([...byEvent.keys()]),
    )) {
      byEvent.get(str(r.event_id))?.history.push(webhookAttempt(r));
    }
    return deliveries;
  }

  async listWebhookDeliveries(
    endpointId: string,
    filter: { state?: WebhookDeliveryState | undefined },
    page: PageRequest,
  ): Promise<Page<WebhookDeliveryRecord>> {
    const where = ['endpoint_id = ?'];
    const params: SQLInputValue[] = [endpointId];
    if (filter.state) {
      where.push('state = ?');
      params.push(filter.state);
    }
    // Paginated by event ID (a delivery is one event to one endpoint).
    const result = this.#page(
      '(SELECT event_id AS id, * FROM webhook_deliveries)',
      where,
      params,
      page,
      (r) => ({
        ...webhookDelivery(r),
        id: str(r.id),
      }),
    );
    const data = result.data.map(({ id: _, ...d }) => d);
    return { ...result, data: this.#withHistory(endpointId, data) };
  }

  async getWebhookDelivery(endpointId: string, eventId: string): Promise<WebhookDeliveryRecord | null> {
    const r = this.#get(
      'SELECT * FROM webhook_deliveries WHERE endpoint_id = ? AND event_id = ?',
      endpointId,
      eventId,
    );
    return r ? (this.#withHistory(endpointId, [webhookDelivery(r)])[0] ?? null) : null;
  }

  async countWebhookBacklog(): Promise<number> {
    const r = this.#get(
      `SELECT count(*) AS n FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
       WHERE d.state = 'pending' AND e.status = 'enabled'`,
    );
    return Number(r?.n ?? 0);
  }

  // ---- sign-ins over time (the dashboard's overview, issue 13) ----
  async signInSummary(q: SignInSummaryQuery): Promise<SignInSummary> {
    const hours = signInSummaryHours(q);
    const ranges = hours.map((h, i) => [
      i,
      firstIdAt('sess', new Date(h.from)),
      firstIdAt('sess', new Date(h.to)),
    ]);
    const counts = hours.map((h) => ({ hour: h.hour, succeeded: 0, failed: 0, timedOut: 0 }));
    for (const r of this.#all(SIGN_IN_HOURS_SQL, JSON.stringify(ranges))) {
      const hour = counts[Number(r.i)];
      if (!hour) continue;
      const n = Number(r.n);
      if (r.outcome === 'succeeded') hour.succeeded = n;
      else if (r.outcome === 'failed') hour.failed = n;
      else hour.timedOut = n;
    }
    const to = firstIdAt('sess', q.until);
    return {
      hours: counts,
      reasons: this.#all(SIGN_IN_REASONS_SQL, firstIdAt('sess', q.reasonsSince), to, q.limit).map((r) => ({
        reason: strOrNull(r.reason),
        count: Number(r.n),
      })),
      failingConnections: this.#all(FAILING_CONNECTIONS_SQL, firstIdAt('sess', q.since), to, q.limit).map(
        (r) => ({
          connectionId: str(r.connection_id),
          failed: Number(r.n),
        }),
      ),
    };
  }
}

/** In-memory rate-limit counters: swept above this many, and never more than the maximum after a sweep. */
const SWEEP_RATE_LIMITS_ABOVE = 10_000;
const MAX_RATE_LIMIT_KEYS = 1_000_000;

/** The SET list (and its parameters) of a session patch: `stages` merged, `updated_at` now. */
function sessionSets(patch: SessionPatch): { sets: string[]; args: SQLInputValue[] } {
  const sets: string[] = ['updated_at = ?'];
  const args: SQLInputValue[] = [iso(new Date())];
  const columns: [keyof SessionPatch, string, (v: never) => SQLInputValue][] = [
    ['outcome', 'outcome', (v: string) => v],
    ['failedStage', 'failed_stage', (v: string | null) => v],
    ['reason', 'reason', (v: string | null) => v],
    ['wireCode', 'wire_code', (v: string | null) => v],
    [
      'upstreamError',
      'upstream_error',
      (v: Record<string, unknown> | null) => (v === null ? null : JSON.stringify(v)),
    ],
    ['detail', 'detail', (v: Record<string, unknown> | null) => (v === null ? null : JSON.stringify(v))],
    ['profileId', 'profile_id', (v: string | null) => v],
    ['idpId', 'idp_id', (v: string | null) => v],
    ['email', 'email', (v: string | null) => v],
    ['callbackRequestId', 'callback_request_id', (v: string | null) => v],
    ['consentRequestId', 'consent_request_id', (v: string | null) => v],
  ];
  for (const [key, column, encode] of columns) {
    if (patch[key] !== undefined) {
      sets.push(`${column} = ?`);
      args.push(encode(patch[key] as never));
    }
  }
  if (patch.stages) {
    sets.push('stages = json_patch(stages, ?)');
    args.push(JSON.stringify(patch.stages));
  }
  return { sets, args };
}
