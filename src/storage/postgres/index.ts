import { createHash } from 'node:crypto';
import { DatabaseError, Pool, type PoolClient } from 'pg';
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

/**
 * `POSTGRES` store: for deployments of several nodes on one database. Every method is one statement (one round
 * trip) where it can be; the few that need more run in a transaction on one pooled connection. What the
 * contract makes atomic is atomic across nodes: single-statement conditional updates (`UPDATE … WHERE … RETURNING`,
 * `INSERT … ON CONFLICT`), whose row locks and re-checks under READ COMMITTED let exactly one concurrent caller
 * through, and table locks for the rare management writes that check other rows (last API key, one default
 * redirect URI). docs/architecture.md, "PostgreSQL", has the reasons.
 */

type Row = Record<string, unknown>;
type Param = string | number | boolean | null | (string | null)[] | number[];

const iso = (d: Date): string => d.toISOString();
/** timestamptz columns arrive as `Date` (the driver's parser); millisecond values round-trip exactly. */
const date = (v: unknown): Date => v as Date;
/** The folding of the `name_folded` search columns and of search terms: the SQLite store's `unicode_lower`. */
const fold = (s: string): string => s.toLowerCase();

/** Explicitly named unique constraints and indexes (migrations.ts) → the logical names of the contract. */
const UNIQUE_NAMES: Record<string, string> = {
  organizations_external_id_key: 'organization.external_id',
  organization_domains_verified: 'organization_domain.verified_domain',
  organization_domains_organization_domain_key: 'organization_domain.domain',
  connections_external_key_key: 'connection.external_key',
  redirect_uris_uri_key: 'redirect_uri.uri',
  api_keys_key_hash_key: 'api_key.key_hash',
  sso_sessions_pkey: 'sso_session.id',
  sso_sessions_tx_consent: 'login_transaction.consent_hash',
  operators_email_key: 'operator.email',
  operator_links_token_hash_key: 'operator_link.token_hash',
};

function translate(err: unknown): unknown {
  if (err instanceof DatabaseError && err.code === '23505') {
    const constraint = err.constraint ?? 'unknown';
    return new AlreadyExistsError(UNIQUE_NAMES[constraint] ?? constraint);
  }
  return err;
}

/**
 * `connectionStats`: $1 the connection IDs, since two session IDs ($2: 24 hours, $3: 7 days). Each count is one
 * range of the index per outcome (an equality on each of its first two columns): with the outcomes as an IN list,
 * PostgreSQL reads the connection's every entry and filters (measured: 80 ms instead of 5 for a busy page).
 */
const CONNECTION_STATS_SQL = `SELECT c.id,
  (SELECT s.created_at FROM sso_sessions s WHERE s.connection_id = c.id AND s.outcome = 'succeeded' ORDER BY s.id DESC LIMIT 1) AS last_succeeded,
  (SELECT s.created_at FROM sso_sessions s WHERE s.connection_id = c.id AND s.outcome = 'failed' ORDER BY s.id DESC LIMIT 1) AS last_failed,
  w.total_24h, w.failed_24h, w.total_7d, w.failed_7d
FROM unnest($1::text[]) AS c(id)
CROSS JOIN LATERAL (
  SELECT sum(n.n24) AS total_24h, sum(n.n24) FILTER (WHERE o.outcome = 'failed') AS failed_24h,
    sum(n.n7) AS total_7d, sum(n.n7) FILTER (WHERE o.outcome = 'failed') AS failed_7d
  FROM unnest(ARRAY['started', 'succeeded', 'failed', 'timed_out']) AS o(outcome)
  CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE s.id >= $2) AS n24, count(*) AS n7 FROM sso_sessions s
    WHERE s.connection_id = c.id AND s.outcome = o.outcome AND s.id >= $3
  ) n
) w`;

/**
 * `signInSummary` in one round trip: $1 and $2 the first and end IDs of each hour; for each hour and outcome a count
 * over the (outcome, id) index (index-only while the visibility map is current); the failed records by reason
 * ([$3, $4)) and by connection ([$6, $4)), the $5 most frequent of each. Rows: kind h (i: the hour's index from 1, key:
 * the outcome), r (key: the reason) and c (key: the connection), with i their rank from 1.
 */
const SIGN_IN_SUMMARY_SQL = `WITH h AS (
  SELECT b.i, o.outcome,
    (SELECT count(*) FROM sso_sessions s WHERE s.outcome = o.outcome AND s.id >= b.lo AND s.id < b.hi) AS n
  FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS b(lo, hi, i)
  CROSS JOIN unnest(ARRAY['succeeded', 'failed', 'timed_out']::text[]) AS o(outcome)
), r AS (
  SELECT reason, count(*) AS n FROM sso_sessions WHERE outcome = 'failed' AND id >= $3 AND id < $4
  GROUP BY reason ORDER BY n DESC, reason IS NULL, reason COLLATE "C" LIMIT $5
), c AS (
  SELECT connection_id, count(*) AS n FROM sso_sessions
  WHERE outcome = 'failed' AND id >= $6 AND id < $4 AND connection_id IS NOT NULL
  GROUP BY connection_id ORDER BY n DESC, connection_id COLLATE "C" LIMIT $5
)
SELECT 'h' AS kind, i::int AS i, outcome AS key, n::int AS n FROM h
UNION ALL SELECT 'r', (row_number() OVER (ORDER BY n DESC, reason IS NULL, reason COLLATE "C"))::int, reason, n::int FROM r
UNION ALL SELECT 'c', (row_number() OVER (ORDER BY n DESC, connection_id COLLATE "C"))::int, connection_id, n::int FROM c`;

/**
 * Every statement runs as a named prepared statement: parsed and planned once per pooled connection. The name
 * is derived from the text, so the same text always has the same name (the driver requires it).
 */
const statementNames = new Map<string, string>();
function statementName(text: string): string {
  let name = statementNames.get(text);
  if (!name) {
    name = `gh_${createHash('sha256').update(text).digest('base64url').slice(0, 24)}`;
    statementNames.set(text, name);
  }
  return name;
}

// Column lists, never `*`: a prepared `SELECT *` fails ("cached plan must not change result type") on a node
// that keeps running while another node's migration adds a column.
const ORGANIZATION = `id, name, external_id, allow_profiles_outside_organization, metadata, stripe_customer_id,
  created_at, updated_at`;
const DOMAIN = `id, organization_id, domain, state, verification_strategy, verification_token, created_at,
  updated_at`;
const CONNECTION = `id, organization_id, connection_type, name, state, external_key, config, first_login_at,
  created_at, updated_at`;
const REDIRECT_URI = 'id, uri, is_default, created_at';
const API_KEY = 'id, name, key_hash, last_four, created_at, revoked_at';
const SESSION = `id, client_id, connection_id, organization_id, connection_type, redirect_uri, outcome, failed_stage,
  reason, wire_code, upstream_error, detail, profile_id, idp_id, email, authorize_request_id, callback_request_id,
  consent_request_id, stages, expires_at, created_at, updated_at`;
/** SESSION, qualified by the alias `s` (an UPDATE … FROM another relation with an `id`). */
const SESSION_OF_S = SESSION.split(',')
  .map((c) => `s.${c.trim()}`)
  .join(', ');
/** A login transaction: the tx_ columns of its session row and the fields it shares with the session. */
const TRANSACTION = `id, client_id, connection_id, organization_id, redirect_uri, authorize_request_id,
  tx_state_hash, tx_browser_hash, tx_app_state, tx_code_challenge, tx_code_challenge_method, tx_connector_state,
  tx_created_at, tx_expires_at, tx_consumed_at, tx_profile_id, tx_consent_hash, tx_consent_expires_at,
  tx_consent_decided_at, tx_oauth_tokens`;
const PROFILE = 'id, connection_id, idp_id, data, created_at, updated_at';
const AUTHORIZATION_CODE = `code_hash, client_id, redirect_uri, code_challenge, profile_id, session_id, oauth_tokens,
  created_at, expires_at, consumed_at`;
const ACCESS_TOKEN = 'token_hash, code_hash, client_id, profile_id, created_at, expires_at, revoked_at';
const EVENT = 'id, event, organization_id, data, created_at';
const PORTAL_LINK = `id, token_hash, organization_id, intent, return_url, success_url, provider_type, admin_emails,
  created_at, expires_at, opened_at`;
const OPERATOR = 'id, email, name, created_at, last_sign_in_at, disabled_at';
const OPERATOR_LINK =
  'id, token_hash, purpose, operator_id, email, created_by, created_at, expires_at, used_at';
const AUDIT = 'id, operator_id, operator_email, action, target_type, target_id, detail, created_at';
const WEBHOOK_ENDPOINT = 'id, url, secret, status, events, created_at, updated_at';
const WEBHOOK_DELIVERY =
  'endpoint_id, event_id, event, state, attempts, next_attempt_at, created_at, updated_at';
const WEBHOOK_ATTEMPT =
  'endpoint_id, event_id, attempt, started_at, outcome, response_status, latency_ms, error';

/** Booleans, timestamptz (a `Date`) and json/jsonb (parsed) arrive decoded by the driver. */
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
  bool: (v) => v === true,
  json: <T>(v: unknown) => v as T,
  date: (v) => v as Date,
});

/** JSON text for a json/jsonb parameter. */
const jsonParam = (v: Record<string, unknown> | null): string | null =>
  v === null ? null : JSON.stringify(v);

type NewTransaction = Omit<
  LoginTransactionRecord,
  'consumedAt' | 'profileId' | 'consentHash' | 'consentExpiresAt' | 'consentDecidedAt' | 'oauthTokens'
>;

/** The columns a new session record (and its login transaction, if any) is inserted with, and their types. */
const SESSION_ROW: [column: string, type: string][] = [
  ['id', 'text'],
  ['client_id', 'text'],
  ['connection_id', 'text'],
  ['organization_id', 'text'],
  ['connection_type', 'text'],
  ['redirect_uri', 'text'],
  ['outcome', 'text'],
  ['failed_stage', 'text'],
  ['reason', 'text'],
  ['wire_code', 'text'],
  ['upstream_error', 'json'],
  ['detail', 'json'],
  ['profile_id', 'text'],
  ['idp_id', 'text'],
  ['email', 'text'],
  ['authorize_request_id', 'text'],
  ['callback_request_id', 'text'],
  ['consent_request_id', 'text'],
  ['stages', 'jsonb'],
  ['expires_at', 'timestamptz'],
  ['created_at', 'timestamptz'],
  ['tx_state_hash', 'text'],
  ['tx_browser_hash', 'text'],
  ['tx_app_state', 'text'],
  ['tx_code_challenge', 'text'],
  ['tx_code_challenge_method', 'text'],
  ['tx_connector_state', 'text'],
  ['tx_created_at', 'timestamptz'],
  ['tx_expires_at', 'timestamptz'],
];
const SESSION_ROW_TYPES = SESSION_ROW.map(([, type]) => type);
const SESSION_COLUMNS = `${SESSION_ROW.map(([column]) => column).join(', ')}, updated_at`;
/** created_at is also updated_at: its parameter (or array) is used twice. */
const CREATED_AT = SESSION_ROW.findIndex(([column]) => column === 'created_at') + 1;
const INSERT_SESSION = `INSERT INTO sso_sessions (${SESSION_COLUMNS})
  VALUES (${SESSION_ROW.map((_, i) => `$${i + 1}`).join(', ')}, $${CREATED_AT})`;
const INSERT_SESSIONS = `INSERT INTO sso_sessions (${SESSION_COLUMNS})
  SELECT u.*, u.c${CREATED_AT} FROM unnest(${SESSION_ROW.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')})
    AS u(${SESSION_ROW.map((_, i) => `c${i + 1}`).join(', ')})`;

/** Events from one array per column, from parameter `$first` on (a written dedupe key is skipped). */
const EVENT_TYPES = ['text', 'text', 'text', 'json', 'timestamptz', 'text'];
function insertEventsFrom(first: number): string {
  return `INSERT INTO events (id, event, organization_id, data, created_at, dedupe_key)
    SELECT * FROM unnest(${EVENT_TYPES.map((type, i) => `$${first + i}::${type}[]`).join(', ')})
    ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING`;
}
const INSERT_EVENTS = insertEventsFrom(1);
/** Session rows and their events in one statement (data-modifying CTEs commit or fail together). */
const INSERT_SESSION_WITH_EVENTS = `WITH s AS (${INSERT_SESSION}), e AS (${insertEventsFrom(SESSION_ROW.length + 1)}) SELECT 1`;
const INSERT_SESSIONS_WITH_EVENTS = `WITH s AS (${INSERT_SESSIONS}), e AS (${insertEventsFrom(SESSION_ROW.length + 1)}) SELECT 1`;

/** Events as the arrays of INSERT_EVENTS. */
function eventArrays(events: NewEvent[]): Param[] {
  return [
    events.map((e) => e.id),
    events.map((e) => e.event),
    events.map((e) => e.organizationId),
    events.map((e) => JSON.stringify(e.data)),
    events.map((e) => iso(e.createdAt)),
    events.map((e) => e.dedupeKey ?? null),
  ];
}

/** A session record's parameters, in SESSION_ROW order. */
function sessionRow(
  x: Omit<SsoSessionRecord, 'createdAt' | 'updatedAt'>,
  now: string,
  tx?: NewTransaction,
): Param[] {
  return [
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
    jsonParam(x.upstreamError),
    jsonParam(x.detail),
    x.profileId,
    x.idpId,
    x.email,
    x.authorizeRequestId,
    x.callbackRequestId,
    x.consentRequestId,
    JSON.stringify(x.stages),
    iso(x.expiresAt),
    now,
    tx?.stateHash ?? null,
    tx?.browserHash ?? null,
    tx?.appState ?? null,
    tx?.codeChallenge ?? null,
    tx?.codeChallengeMethod ?? null,
    tx?.connectorState ?? null,
    tx ? iso(tx.createdAt) : null,
    tx ? iso(tx.expiresAt) : null,
  ];
}

/**
 * The `SET` list of an UPDATE, its values appended to `args` as numbered parameters; it starts with
 * `updated_at`.
 */
function setList(
  args: Param[],
  updatedAt: string,
): { sets: string[]; set(column: string, value: Param): void } {
  const sets: string[] = [];
  const set = (column: string, value: Param) => {
    args.push(value);
    sets.push(`${column} = $${args.length}`);
  };
  set('updated_at', updatedAt);
  return { sets, set };
}

/** The SET list of a session patch (`stages` merged, `updated_at` now), its values appended to `args`. */
function sessionSets(args: Param[], patch: SessionPatch): string[] {
  const { sets, set } = setList(args, iso(new Date()));
  const columns: [keyof SessionPatch, string, (v: never) => Param][] = [
    ['outcome', 'outcome', (v: string) => v],
    ['failedStage', 'failed_stage', (v: string | null) => v],
    ['reason', 'reason', (v: string | null) => v],
    ['wireCode', 'wire_code', (v: string | null) => v],
    ['upstreamError', 'upstream_error', jsonParam],
    ['detail', 'detail', jsonParam],
    ['profileId', 'profile_id', (v: string | null) => v],
    ['idpId', 'idp_id', (v: string | null) => v],
    ['email', 'email', (v: string | null) => v],
    ['callbackRequestId', 'callback_request_id', (v: string | null) => v],
    ['consentRequestId', 'consent_request_id', (v: string | null) => v],
  ];
  for (const [key, column, encode] of columns) {
    if (patch[key] !== undefined) set(column, encode(patch[key] as never));
  }
  if (patch.stages) {
    // jsonb `||`: the stages given replace those of the same name, the others stay (stages are flat strings,
    // so this is what SQLite's json_patch does with them).
    args.push(JSON.stringify(patch.stages));
    sets.push(`stages = stages || $${args.length}::jsonb`);
  }
  return sets;
}

/**
 * Rate-limit statements in flight at once, and hits per statement (see `hitRateLimits`). One at a time: two
 * groups in flight could straddle a window boundary and reach the database out of order, and a hit of the old
 * window that arrives after the row moved to the new one counts in the new one (see `#countHits`).
 */
const LIMIT_BATCHES = 1;
const LIMIT_BATCH_HITS = 1000;

interface PendingHits {
  hits: RateLimitHit[];
  now: Date;
  resolve(results: RateLimitResult[]): void;
  reject(err: unknown): void;
}

/** Grouped login inserts in flight at once, and logins per grouped insert (see `#queueLogin`). */
const LOGIN_BATCHES = 2;
const LOGIN_BATCH_ROWS = 200;

interface PendingLogin {
  row: Param[];
  events: NewEvent[];
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * Key of the session-level advisory lock held while migrating ("Gate"). Its second half is the hash of the
 * connection's `search_path`: the nodes of one deployment share it, and stores on other schemas of the same
 * database (the tests) do not wait for each other.
 */
const MIGRATION_LOCK = 0x47617465;

/** The default statement timeout of every pooled connection (see the constructor). */
export const STATEMENT_TIMEOUT_MS = 30_000;

/** A schema name we can put in `search_path` without quoting. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export interface PostgresStoreOptions {
  /** Connections in the pool (`GATEHOUSE_DATABASE_POOL_SIZE`). Default 10. */
  poolSize?: number;
  /** Each statement's limit, unless the URL sets `statement_timeout` itself. Default `STATEMENT_TIMEOUT_MS`. */
  statementTimeoutMs?: number;
  /**
   * Keep Gatehouse's tables in this schema (created by `migrate()` when missing) instead of the connection's
   * default (`public`). Also accepted as `?schema=<name>` in the URL; lower-case letters, digits and `_`.
   */
  schema?: string;
}

/**
 * Splits Gatehouse's own `schema` URL parameter off a PostgreSQL URL and puts the schema into the libpq
 * `options` parameter (`-c search_path=<schema>`), which every pooled connection sends at start-up: no extra
 * round trip. Other parameters (`sslmode`, `application_name`, `options`, …) are left to the driver.
 * @throws Error for a schema name that is not a plain lower-case identifier (the message does not repeat the URL).
 */
export function postgresConnection(
  url: string,
  schema?: string,
): { connectionString: string; schema: string | null } {
  const q = url.indexOf('?');
  const base = q < 0 ? url : url.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const name = schema ?? params.get('schema') ?? null;
  params.delete('schema');
  if (name !== null) {
    if (!SCHEMA_NAME.test(name)) {
      throw new Error(`schema must be lower-case letters, digits and _ (at most 63), got "${name}"`);
    }
    const options = params.get('options');
    params.set('options', `${options ? `${options} ` : ''}-c search_path=${name}`);
  }
  const query = params.toString();
  return { connectionString: query ? `${base}?${query}` : base, schema: name };
}

export class PostgresStore implements Store {
  readonly #pool: Pool;
  readonly #schema: string | null;
  /** Logins waiting for a grouped insert, and grouped inserts in flight (see `#queueLogin`). */
  readonly #loginQueue: PendingLogin[] = [];
  #loginBatches = 0;
  /** Rate-limit calls waiting to be counted, and counting statements in flight (see `hitRateLimits`). */
  readonly #limitQueue: PendingHits[] = [];
  #limitBatches = 0;
  #closed = false;

  /**
   * @param url `postgres://user:password@host:5432/database[?schema=name&sslmode=…]`
   */
  constructor(url: string, options: PostgresStoreOptions = {}) {
    const { connectionString, schema } = postgresConnection(url, options.schema);
    this.#schema = schema;
    this.#pool = new Pool({
      connectionString,
      max: options.poolSize ?? 10,
      application_name: 'gatehouse',
      keepAlive: true,
      // A request waits at most this long for a free connection (or a new one) before it fails.
      connectionTimeoutMillis: 10_000,
      // A statement waits at most this long (a lock held by another client, a runaway query): the request then
      // fails cleanly instead of holding its connection forever (test/faults/postgres.test.ts). The URL's own
      // `options=-c statement_timeout=…` wins; migrations run without it (`migrate`).
      ...(/statement_timeout/.test(connectionString)
        ? {}
        : { statement_timeout: options.statementTimeoutMs ?? STATEMENT_TIMEOUT_MS }),
      idleTimeoutMillis: 30_000,
    });
    // An idle connection that breaks (database restart, network) is dropped from the pool and replaced on
    // demand; without a listener the error would end the process.
    this.#pool.on('error', () => {});
  }

  async #query(
    text: string,
    values: Param[] = [],
    client?: PoolClient,
  ): Promise<{ rows: Row[]; rowCount: number }> {
    try {
      const r = await (client ?? this.#pool).query<Row>({ name: statementName(text), text, values });
      return { rows: r.rows, rowCount: r.rowCount ?? 0 };
    } catch (err) {
      throw translate(err);
    }
  }

  async #one(text: string, values: Param[] = [], client?: PoolClient): Promise<Row | undefined> {
    return (await this.#query(text, values, client)).rows[0];
  }

  /** Runs `fn` in a transaction on one pooled connection; rolls back when it throws. */
  #transaction<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    return this.#transactionOutcome(async (client) => ({ commit: true, value: await fn(client) }));
  }

  /** A transaction whose callback decides whether to commit or roll back, and returns a value either way. */
  async #transactionOutcome<T>(
    fn: (client: PoolClient) => Promise<{ commit: boolean; value: T }>,
  ): Promise<T> {
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const { commit, value } = await fn(client);
      await client.query(commit ? 'COMMIT' : 'ROLLBACK');
      return value;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: unknown) => {
        broken = e as Error;
      });
      throw translate(err);
    } finally {
      client.release(broken);
    }
  }

  /**
   * Cursor pagination by ID, as the SQLite store does it. `where` holds SQL conditions joined with AND, whose
   * placeholders number from $1 in `params`.
   */
  async #page<T>(
    table: string,
    columns: string,
    where: string[],
    params: Param[],
    page: PageRequest,
    map: (r: Row) => T & { id: string },
  ): Promise<Page<T>> {
    const forward = !page.before;
    const cursor = page.before ?? page.after;
    const descending = (page.order === 'desc') === forward;
    const conds = [...where];
    const args = [...params];
    if (cursor) {
      args.push(cursor);
      conds.push(descending ? `id < $${args.length}` : `id > $${args.length}`);
    }
    args.push(page.limit + 1);
    const sql = `SELECT ${columns} FROM ${table}${conds.length ? ` WHERE ${conds.join(' AND ')}` : ''} ORDER BY id ${
      descending ? 'DESC' : 'ASC'
    } LIMIT $${args.length}`;
    const rows = (await this.#query(sql, args)).rows.map(map);
    const more = rows.length > page.limit;
    const data = rows.slice(0, page.limit);
    if (!forward) data.reverse();
    const first = data[0]?.id ?? null;
    const last = data[data.length - 1]?.id ?? null;
    if (forward) return { data, before: cursor ? first : null, after: more ? last : null };
    return { data, before: more ? first : null, after: last };
  }

  /**
   * Applies pending migrations under a session-level advisory lock, so that nodes starting together on an empty
   * database take turns: the first applies them, the others wait and then find nothing to do. Each migration
   * runs in its own transaction (PostgreSQL's DDL is transactional) together with its `schema_migrations` row.
   */
  async migrate(): Promise<void> {
    const client = await this.#pool.connect();
    try {
      // Waiting for another node's migrations, and a migration over a large table, may take longer than the
      // pool's statement timeout: none for this session (reset before the connection goes back to the pool).
      await client.query('SET statement_timeout = 0');
      await client.query("SELECT pg_advisory_lock($1, hashtext(current_setting('search_path')))", [
        MIGRATION_LOCK,
      ]);
      await this.#applyMigrations(client);
      await client.query("SELECT pg_advisory_unlock($1, hashtext(current_setting('search_path')))", [
        MIGRATION_LOCK,
      ]);
      await client.query('RESET statement_timeout');
      client.release();
    } catch (err) {
      // The lock belongs to the session: closing the connection releases it, whatever state it was left in.
      client.release(err as Error);
      throw err;
    }
  }

  async #applyMigrations(client: PoolClient): Promise<void> {
    if (this.#schema !== null) {
      const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [this.#schema]);
      if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${this.#schema}`);
    }
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)',
    );
    const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    const applied = new Set(rows.map((r) => r.version));
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
          m.version,
          m.name,
          iso(new Date()),
        ]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    }
  }

  async ping(): Promise<void> {
    await this.#query('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }

  // ---- settings ----
  async getSetting(key: string): Promise<string | null> {
    return strOrNull((await this.#one('SELECT value FROM settings WHERE key = $1', [key]))?.value);
  }

  async setSetting(key: string, value: string): Promise<void> {
    await this.#query(
      'INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      [key, value],
    );
  }

  async initSetting(key: string, value: string): Promise<string> {
    await this.#query('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [
      key,
      value,
    ]);
    // A second statement: its snapshot sees the row of a concurrent node that won the insert.
    return str((await this.#one('SELECT value FROM settings WHERE key = $1', [key]))?.value);
  }

  // ---- organizations ----
  async createOrganization(
    org: Omit<OrganizationRecord, 'createdAt' | 'updatedAt'>,
    domains: NewDomain[],
    events?: Events<OrganizationRecord>,
  ): Promise<OrganizationRecord> {
    const now = iso(new Date());
    // One statement: the organization and its domains (the domains' foreign keys are checked at its end).
    return this.#withEvents(events, async (client) => {
      const r = await this.#one(
        `WITH org AS (
         INSERT INTO organizations (id, name, name_folded, external_id, allow_profiles_outside_organization, metadata,
           stripe_customer_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
         RETURNING ${ORGANIZATION}
       ), domains AS (
         INSERT INTO organization_domains (id, organization_id, domain, state, verification_strategy,
           verification_token, created_at, updated_at)
         SELECT d.id, $1, d.domain, d.state, d.strategy, d.token, $8, $8
         FROM unnest($9::text[], $10::text[], $11::text[], $12::text[], $13::text[]) WITH ORDINALITY
           AS d(id, domain, state, strategy, token, n)
         ORDER BY d.n
       )
       SELECT * FROM org`,
        [
          org.id,
          org.name,
          fold(org.name),
          org.externalId,
          org.allowProfilesOutsideOrganization,
          JSON.stringify(org.metadata),
          org.stripeCustomerId,
          now,
          ...domainArrays(domains),
        ],
        client,
      );
      return organization(r as Row);
    });
  }

  async getOrganization(id: string): Promise<OrganizationRecord | null> {
    const r = await this.#one(`SELECT ${ORGANIZATION} FROM organizations WHERE id = $1`, [id]);
    return r ? organization(r) : null;
  }

  async getOrganizationByExternalId(externalId: string): Promise<OrganizationRecord | null> {
    const r = await this.#one(`SELECT ${ORGANIZATION} FROM organizations WHERE external_id = $1`, [
      externalId,
    ]);
    return r ? organization(r) : null;
  }

  async listOrganizations(filter: OrganizationFilter, page: PageRequest): Promise<Page<OrganizationRecord>> {
    const where: string[] = [];
    const params: Param[] = [];
    if (filter.domains?.length) {
      params.push(filter.domains);
      where.push(
        `id IN (SELECT organization_id FROM organization_domains WHERE domain = ANY($${params.length}::text[]))`,
      );
    }
    if (filter.search) {
      params.push(fold(filter.search));
      where.push(`strpos(name_folded, $${params.length}) > 0`);
    }
    return this.#page('organizations', ORGANIZATION, where, params, page, organization);
  }

  async updateOrganization(
    id: string,
    patch: OrganizationPatch,
    domains?: NewDomain[],
    events?: Events<OrganizationRecord>,
  ): Promise<OrganizationRecord> {
    const now = iso(new Date());
    const args: Param[] = [id];
    const { sets, set } = setList(args, now);
    if (patch.name !== undefined) {
      set('name', patch.name);
      set('name_folded', fold(patch.name));
    }
    if (patch.externalId !== undefined) set('external_id', patch.externalId);
    if (patch.allowProfilesOutsideOrganization !== undefined)
      set('allow_profiles_outside_organization', patch.allowProfilesOutsideOrganization);
    if (patch.metadata !== undefined) set('metadata', JSON.stringify(patch.metadata));
    if (patch.stripeCustomerId !== undefined) set('stripe_customer_id', patch.stripeCustomerId);
    const update = `UPDATE organizations SET ${sets.join(', ')} WHERE id = $1 RETURNING ${ORGANIZATION}`;
    if (!domains) {
      return this.#withEvents(events, async (client) => {
        const r = await this.#one(update, args, client);
        if (!r) throw new NotFoundError('organization');
        return organization(r);
      });
    }
    return this.#transaction(async (client) => {
      // The UPDATE locks the organization row until COMMIT.
      const r = await this.#one(update, args, client);
      if (!r) throw new NotFoundError('organization');
      // Listed domains keep their row (and ID) and take the listed state; the others go; new ones are added.
      // As in the SQLite store, a domain listed twice counts once, with its last entry.
      const wanted = [...new Map(domains.map((d) => [d.domain, d])).values()];
      await this.#query(
        `WITH wanted AS (
           SELECT * FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) WITH ORDINALITY
             AS w(id, domain, state, strategy, token, n)
         ), removed AS (
           DELETE FROM organization_domains d
           WHERE d.organization_id = $1 AND NOT EXISTS (SELECT 1 FROM wanted w WHERE w.domain = d.domain)
         ), changed AS (
           UPDATE organization_domains d SET state = w.state, updated_at = $2
           FROM wanted w
           WHERE d.organization_id = $1 AND d.domain = w.domain AND d.state <> w.state
         )
         INSERT INTO organization_domains (id, organization_id, domain, state, verification_strategy,
           verification_token, created_at, updated_at)
         SELECT w.id, $1, w.domain, w.state, w.strategy, w.token, $2, $2
         FROM wanted w
         WHERE NOT EXISTS (SELECT 1 FROM organization_domains d WHERE d.organization_id = $1 AND d.domain = w.domain)
         ORDER BY w.n`,
        [id, now, ...domainArrays(wanted)],
        client,
      );
      const updated = organization(r);
      await this.#insertEvents(eventsFor(events, updated), client);
      return updated;
    });
  }

  async deleteOrganization(id: string, events?: NewEvent[]): Promise<void> {
    await this.#withEvents(events, async (client) => {
      if ((await this.#query('DELETE FROM organizations WHERE id = $1', [id], client)).rowCount === 0)
        throw new NotFoundError('organization');
    });
  }

  async createDomain(
    organizationId: string,
    d: NewDomain,
    events?: Events<OrganizationDomainRecord>,
  ): Promise<OrganizationDomainRecord> {
    const now = iso(new Date());
    return this.#withEvents(events, async (client) => {
      const r = await this.#one(
        `INSERT INTO organization_domains (id, organization_id, domain, state, verification_strategy, verification_token,
         created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
       RETURNING ${DOMAIN}`,
        [d.id, organizationId, d.domain, d.state, d.verificationStrategy, d.verificationToken, now],
        client,
      );
      return domain(r as Row);
    });
  }

  async getDomain(id: string): Promise<OrganizationDomainRecord | null> {
    const r = await this.#one(`SELECT ${DOMAIN} FROM organization_domains WHERE id = $1`, [id]);
    return r ? domain(r) : null;
  }

  async updateDomainState(
    id: string,
    state: OrganizationDomainRecord['state'],
    events?: Events<OrganizationDomainRecord>,
  ): Promise<OrganizationDomainRecord> {
    return this.#withEvents(events, async (client) => {
      const r = await this.#one(
        `UPDATE organization_domains SET state = $2, updated_at = $3 WHERE id = $1 RETURNING ${DOMAIN}`,
        [id, state, iso(new Date())],
        client,
      );
      if (!r) throw new NotFoundError('organization domain');
      return domain(r);
    });
  }

  async deleteDomain(id: string, events?: NewEvent[]): Promise<void> {
    await this.#withEvents(events, async (client) => {
      if ((await this.#query('DELETE FROM organization_domains WHERE id = $1', [id], client)).rowCount === 0)
        throw new NotFoundError('organization domain');
    });
  }

  async listDomains(organizationIds: string[]): Promise<OrganizationDomainRecord[]> {
    if (organizationIds.length === 0) return [];
    return (
      await this.#query(
        `SELECT ${DOMAIN} FROM organization_domains WHERE organization_id = ANY($1::text[]) ORDER BY id`,
        [organizationIds],
      )
    ).rows.map(domain);
  }

  async findVerifiedDomain(d: string): Promise<OrganizationDomainRecord | null> {
    const r = await this.#one(
      `SELECT ${DOMAIN} FROM organization_domains WHERE domain = $1 AND state = 'verified'`,
      [d],
    );
    return r ? domain(r) : null;
  }

  // ---- connections ----
  async createConnection(
    c: Omit<ConnectionRecord, 'createdAt' | 'updatedAt' | 'firstLoginAt'>,
  ): Promise<ConnectionRecord> {
    const r = await this.#one(
      `INSERT INTO connections (id, organization_id, connection_type, name, name_folded, state, external_key, config,
         created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
       RETURNING ${CONNECTION}`,
      [
        c.id,
        c.organizationId,
        c.connectionType,
        c.name,
        fold(c.name),
        c.state,
        c.externalKey,
        JSON.stringify(c.config),
        iso(new Date()),
      ],
    );
    return connection(r as Row);
  }

  async getConnection(id: string): Promise<ConnectionRecord | null> {
    const r = await this.#one(`SELECT ${CONNECTION} FROM connections WHERE id = $1`, [id]);
    return r ? connection(r) : null;
  }

  async getConnectionByExternalKey(externalKey: string): Promise<ConnectionRecord | null> {
    const r = await this.#one(`SELECT ${CONNECTION} FROM connections WHERE external_key = $1`, [externalKey]);
    return r ? connection(r) : null;
  }

  async listConnections(filter: ConnectionFilter, page: PageRequest): Promise<Page<ConnectionRecord>> {
    const where: string[] = [];
    const params: Param[] = [];
    if (filter.connectionType) {
      params.push(filter.connectionType);
      where.push(`lower(connection_type) = lower($${params.length})`);
    }
    if (filter.organizationId) {
      params.push(filter.organizationId);
      where.push(`organization_id = $${params.length}`);
    }
    if (filter.domain) {
      // A connection's domains are its organization's verified domains; the filter matches what it lists.
      params.push(filter.domain);
      where.push(
        `organization_id IN (SELECT organization_id FROM organization_domains WHERE domain = $${params.length} AND state = 'verified')`,
      );
    }
    if (filter.search) {
      params.push(fold(filter.search));
      where.push(`strpos(name_folded, $${params.length}) > 0`);
    }
    if (filter.state) {
      params.push(filter.state);
      where.push(`state = $${params.length}`);
    }
    return this.#page('connections', CONNECTION, where, params, page, connection);
  }

  async listOrganizationConnections(organizationId: string): Promise<ConnectionRecord[]> {
    return (
      await this.#query(`SELECT ${CONNECTION} FROM connections WHERE organization_id = $1 ORDER BY id`, [
        organizationId,
      ])
    ).rows.map(connection);
  }

  async listConnectionsByType(connectionType: string): Promise<ConnectionRecord[]> {
    return (
      await this.#query(`SELECT ${CONNECTION} FROM connections WHERE connection_type = $1 ORDER BY id`, [
        connectionType,
      ])
    ).rows.map(connection);
  }

  async updateConnection(
    id: string,
    patch: ConnectionPatch,
    events?: Events<ConnectionRecord>,
  ): Promise<ConnectionRecord> {
    const args: Param[] = [id];
    const { sets, set } = setList(args, iso(new Date()));
    if (patch.name !== undefined) {
      set('name', patch.name);
      set('name_folded', fold(patch.name));
    }
    if (patch.state !== undefined) set('state', patch.state);
    if (patch.config !== undefined) set('config', JSON.stringify(patch.config));
    if (patch.firstLoginAt !== undefined) set('first_login_at', iso(patch.firstLoginAt));
    return this.#withEvents(events, async (client) => {
      const r = await this.#one(
        `UPDATE connections SET ${sets.join(', ')} WHERE id = $1 RETURNING ${CONNECTION}`,
        args,
        client,
      );
      if (!r) throw new NotFoundError('connection');
      return connection(r);
    });
  }

  async deleteConnection(id: string, events?: NewEvent[]): Promise<void> {
    await this.#withEvents(events, async (client) => {
      if ((await this.#query('DELETE FROM connections WHERE id = $1', [id], client)).rowCount === 0)
        throw new NotFoundError('connection');
    });
  }

  // ---- sign-in statistics per connection (the dashboard's connections page, issue 13) ----
  // One statement for the page: per connection, searches of the index (connection_id, outcome, id) (migration 8):
  // the last success and failure are one backward seek each; the counts read the entries of their window only.
  // Time windows are ID ranges (IDs are ULIDs), as in the session log's own filters and retention.
  async connectionStats(
    connectionIds: string[],
    since24h: Date,
    since7d: Date,
  ): Promise<Map<string, ConnectionStats>> {
    if (connectionIds.length > CONNECTION_STATS_MAX) {
      throw new TypeError(`connectionStats takes at most ${CONNECTION_STATS_MAX} connections`);
    }
    const ids = [...new Set(connectionIds)];
    const out = new Map<string, ConnectionStats>();
    if (ids.length === 0) return out;
    const { rows } = await this.#query(CONNECTION_STATS_SQL, [
      ids,
      firstIdAt('sess', since24h),
      firstIdAt('sess', since7d),
    ]);
    for (const r of rows) {
      out.set(str(r.id), {
        lastSucceededAt: r.last_succeeded === null ? null : date(r.last_succeeded),
        lastFailedAt: r.last_failed === null ? null : date(r.last_failed),
        total24h: Number(r.total_24h),
        failed24h: Number(r.failed_24h),
        total7d: Number(r.total_7d),
        failed7d: Number(r.failed_7d),
      });
    }
    return new Map(ids.map((id) => [id, out.get(id) as ConnectionStats]));
  }

  // ---- redirect URIs ----
  async listRedirectUris(): Promise<RedirectUriRecord[]> {
    return (await this.#query(`SELECT ${REDIRECT_URI} FROM redirect_uris ORDER BY id`)).rows.map(redirectUri);
  }

  // Moving the default takes two statements (clear, then set: the one-default index is checked per row), so the
  // writers of this small table take turns: SHARE ROW EXCLUSIVE conflicts with itself, not with readers.
  async addRedirectUri(rec: Omit<RedirectUriRecord, 'createdAt'>): Promise<RedirectUriRecord> {
    const insert = `INSERT INTO redirect_uris (id, uri, is_default, created_at) VALUES ($1, $2, $3, $4)
      RETURNING ${REDIRECT_URI}`;
    const args = [rec.id, rec.uri, rec.isDefault, iso(new Date())];
    if (!rec.isDefault) return redirectUri((await this.#one(insert, args)) as Row);
    return this.#transaction(async (client) => {
      await client.query('LOCK TABLE redirect_uris IN SHARE ROW EXCLUSIVE MODE');
      await this.#query('UPDATE redirect_uris SET is_default = false WHERE is_default', [], client);
      return redirectUri((await this.#one(insert, args, client)) as Row);
    });
  }

  async setDefaultRedirectUri(id: string): Promise<RedirectUriRecord> {
    return this.#transaction(async (client) => {
      await client.query('LOCK TABLE redirect_uris IN SHARE ROW EXCLUSIVE MODE');
      await this.#query(
        'UPDATE redirect_uris SET is_default = false WHERE is_default AND id <> $1',
        [id],
        client,
      );
      const r = await this.#one(
        `UPDATE redirect_uris SET is_default = true WHERE id = $1 RETURNING ${REDIRECT_URI}`,
        [id],
        client,
      );
      if (!r) throw new NotFoundError('redirect URI');
      return redirectUri(r);
    });
  }

  async deleteRedirectUri(id: string): Promise<void> {
    if ((await this.#query('DELETE FROM redirect_uris WHERE id = $1', [id])).rowCount === 0)
      throw new NotFoundError('redirect URI');
  }

  // ---- API keys ----
  async createApiKey(rec: Omit<ApiKeyRecord, 'createdAt' | 'revokedAt'>): Promise<ApiKeyRecord> {
    const r = await this.#one(
      `INSERT INTO api_keys (id, name, key_hash, last_four, created_at) VALUES ($1, $2, $3, $4, $5)
       RETURNING ${API_KEY}`,
      [rec.id, rec.name, rec.keyHash, rec.lastFour, iso(new Date())],
    );
    return apiKey(r as Row);
  }

  async findActiveApiKey(keyHash: string): Promise<ApiKeyRecord | null> {
    const r = await this.#one(`SELECT ${API_KEY} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL`, [
      keyHash,
    ]);
    return r ? apiKey(r) : null;
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return (await this.#query(`SELECT ${API_KEY} FROM api_keys ORDER BY id`)).rows.map(apiKey);
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | null> {
    const r = await this.#one(`SELECT ${API_KEY} FROM api_keys WHERE id = $1`, [id]);
    return r ? apiKey(r) : null;
  }

  async revokeApiKey(id: string, at: Date): Promise<boolean> {
    // The count of the other active keys and the update must not interleave with another revocation (under
    // READ COMMITTED two revocations of the last two keys would each count two): revocations take turns.
    return this.#transaction(async (client) => {
      await client.query('LOCK TABLE api_keys IN SHARE ROW EXCLUSIVE MODE');
      const r = await this.#one(
        `SELECT revoked_at IS NOT NULL AS revoked,
           (SELECT count(*) FROM api_keys WHERE revoked_at IS NULL)::int AS active
         FROM api_keys WHERE id = $1`,
        [id],
        client,
      );
      if (!r) throw new NotFoundError('API key');
      if (r.revoked === true) return true;
      if (Number(r.active) <= 1) return false;
      await this.#query('UPDATE api_keys SET revoked_at = $2 WHERE id = $1', [id, iso(at)], client);
      return true;
    });
  }

  // ---- login transactions ----
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
    // One row: the session record with the transaction in its tx_ columns, grouped with concurrent logins.
    await this.#queueLogin(sessionRow(sess, iso(new Date()), tx), events ?? []);
    return {
      ...tx,
      consumedAt: null,
      profileId: null,
      consentHash: null,
      consentExpiresAt: null,
      consentDecidedAt: null,
      oauthTokens: null,
    };
  }

  async #insertSession(
    x: Omit<SsoSessionRecord, 'createdAt' | 'updatedAt'>,
    now: string,
    events: NewEvent[] = [],
  ): Promise<void> {
    if (events.length === 0) await this.#query(INSERT_SESSION, sessionRow(x, now));
    else await this.#query(INSERT_SESSION_WITH_EVENTS, [...sessionRow(x, now), ...eventArrays(events)]);
  }

  /**
   * Group insert of logins: while LOGIN_BATCHES inserts are in flight, the logins that arrive wait and then go
   * together, as one multi-row `INSERT … SELECT FROM unnest(…)` (one statement, one commit, one WAL flush for
   * up to LOGIN_BATCH_ROWS logins). With no queue, a login is inserted at once, alone: grouping only happens
   * under load, where it saves the database most of its per-statement and per-commit work. Each caller still
   * gets its own answer: when a grouped insert fails (a duplicate ID, say), its rows are inserted again one by
   * one.
   */
  #queueLogin(row: Param[], events: NewEvent[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#loginQueue.push({ row, events, resolve, reject });
      this.#sendLogins();
    });
  }

  #sendLogins(): void {
    while (this.#loginBatches < LOGIN_BATCHES && this.#loginQueue.length > 0) {
      const batch = this.#loginQueue.splice(0, LOGIN_BATCH_ROWS);
      this.#loginBatches++;
      void this.#insertLogins(batch).finally(() => {
        this.#loginBatches--;
        this.#sendLogins();
      });
    }
  }

  async #insertLogins(batch: PendingLogin[]): Promise<void> {
    if (batch.length > 1) {
      try {
        const columns = SESSION_ROW_TYPES.map((_, i) => batch.map((login) => login.row[i] as string | null));
        const events = batch.flatMap((login) => login.events);
        if (events.length === 0) await this.#query(INSERT_SESSIONS, columns);
        else await this.#query(INSERT_SESSIONS_WITH_EVENTS, [...columns, ...eventArrays(events)]);
        for (const login of batch) login.resolve();
        return;
      } catch {
        // One by one below: each caller gets its own result or error.
      }
    }
    await Promise.all(
      batch.map(async (login) => {
        try {
          if (login.events.length === 0) await this.#query(INSERT_SESSION, login.row);
          else await this.#query(INSERT_SESSION_WITH_EVENTS, [...login.row, ...eventArrays(login.events)]);
          login.resolve();
        } catch (err) {
          login.reject(err);
        }
      }),
    );
  }

  async getLoginTransaction(id: string, stateHash: string): Promise<LoginTransactionRecord | null> {
    const r = await this.#one(
      `SELECT ${TRANSACTION} FROM sso_sessions WHERE id = $1 AND tx_state_hash = $2`,
      [id, stateHash],
    );
    return r ? transaction(r) : null;
  }

  async consumeLoginTransaction(
    id: string,
    stateHash: string,
    now: Date,
  ): Promise<LoginTransactionRecord | null> {
    // Concurrent callers queue on the row lock; each re-checks the condition on the row the one before left.
    const r = await this.#one(
      `UPDATE sso_sessions SET tx_consumed_at = $3
       WHERE id = $1 AND tx_state_hash = $2 AND tx_consumed_at IS NULL AND tx_expires_at > $3
       RETURNING ${TRANSACTION}`,
      [id, stateHash, iso(now)],
    );
    return r ? transaction(r) : null;
  }

  async deleteExpiredLoginTransactions(before: Date): Promise<number> {
    // The session record stays; only its transaction (hashes, PKCE challenge, consent slot) goes.
    return (
      await this.#query(
        `UPDATE sso_sessions SET tx_state_hash = NULL, tx_browser_hash = NULL, tx_app_state = NULL,
           tx_code_challenge = NULL, tx_code_challenge_method = NULL, tx_connector_state = NULL, tx_created_at = NULL,
           tx_expires_at = NULL, tx_consumed_at = NULL, tx_profile_id = NULL, tx_consent_hash = NULL,
           tx_consent_expires_at = NULL, tx_consent_decided_at = NULL, tx_oauth_tokens = NULL
         WHERE tx_state_hash IS NOT NULL AND tx_expires_at < $1`,
        [iso(before)],
      )
    ).rowCount;
  }

  async markTimedOutSessions(
    expiredBefore: Date,
    now: Date,
    limit: number,
    events?: (session: SsoSessionRecord) => NewEvent[],
  ): Promise<string[]> {
    // Found through the index of live transactions by expiry, oldest first. SKIP LOCKED: a row another node is
    // marking is left to it, so every session is marked (and reported) by one node only. MATERIALIZED: the
    // locking LIMIT runs once (as a subquery of IN, a plan may run it again and mark more than `limit`).
    // With events: the whole records, for the events written in the same transaction.
    const returning = events ? SESSION_OF_S : 's.id';
    const rows = await this.#withEvents(
      events && ((marked: Row[]) => marked.flatMap((r) => events(session(r)))),
      async (client) =>
        (
          await this.#query(
            `WITH picked AS MATERIALIZED (
               SELECT id FROM sso_sessions
               WHERE tx_state_hash IS NOT NULL AND tx_expires_at < $1 AND outcome = 'started'
               ORDER BY tx_expires_at LIMIT $4 FOR UPDATE SKIP LOCKED)
             UPDATE sso_sessions s SET outcome = 'timed_out',
               failed_stage = CASE WHEN s.tx_consumed_at IS NULL THEN 'abandoned_at_idp' ELSE 'consent' END,
               stages = s.stages || $3::jsonb, updated_at = $2
             FROM picked WHERE s.id = picked.id AND s.outcome = 'started'
             RETURNING ${returning}`,
            [iso(expiredBefore), iso(now), JSON.stringify({ timed_out: iso(now) }), limit],
            client,
          )
        ).rows as Row[],
    );
    return rows.map((r) => String(r.id));
  }

  async awaitConsent(
    id: string,
    consent: { profileId: string; consentHash: string; expiresAt: Date; oauthTokens: string | null },
  ): Promise<void> {
    const { rowCount } = await this.#query(
      `UPDATE sso_sessions SET tx_profile_id = $2, tx_consent_hash = $3, tx_consent_expires_at = $4,
         tx_oauth_tokens = $5
       WHERE id = $1 AND tx_state_hash IS NOT NULL`,
      [id, consent.profileId, consent.consentHash, iso(consent.expiresAt), consent.oauthTokens],
    );
    if (rowCount === 0) throw new NotFoundError('login transaction');
  }

  async takeConsent(consentHash: string, now: Date): Promise<LoginTransactionRecord | null> {
    const r = await this.#one(
      `UPDATE sso_sessions SET tx_consent_decided_at = $2
       WHERE tx_consent_hash = $1 AND tx_consent_decided_at IS NULL AND tx_consent_expires_at > $2
       RETURNING ${TRANSACTION}`,
      [consentHash, iso(now)],
    );
    return r ? transaction(r) : null;
  }

  // ---- session log ----
  async createSession(
    x: Omit<SsoSessionRecord, 'createdAt' | 'updatedAt'>,
    events?: NewEvent[],
  ): Promise<SsoSessionRecord> {
    const now = new Date();
    await this.#insertSession(x, iso(now), events);
    return { ...x, createdAt: now, updatedAt: now };
  }

  async getSession(id: string): Promise<SsoSessionRecord | null> {
    const r = await this.#one(`SELECT ${SESSION} FROM sso_sessions WHERE id = $1`, [id]);
    return r ? session(r) : null;
  }

  async updateSession(
    id: string,
    patch: SessionPatch,
    events?: Events<SsoSessionRecord>,
  ): Promise<SsoSessionRecord> {
    const args: Param[] = [id];
    const sets = sessionSets(args, patch);
    return this.#withEvents(events, async (client) => {
      const r = await this.#one(
        `UPDATE sso_sessions SET ${sets.join(', ')} WHERE id = $1 RETURNING ${SESSION}`,
        args,
        client,
      );
      if (!r) throw new NotFoundError('session');
      return session(r);
    });
  }

  /**
   * One statement: data-modifying CTEs that each go on only if the one before wrote (a transaction found and
   * locked, then the key claimed, then the rest), so that a refusal writes nothing. With events (built from the
   * session record as written), that statement and their insert share a transaction.
   */
  async completeSignIn(c: SignInCompletion): Promise<SignInResult> {
    if ((c.code || c.consent) && !c.profile) throw new TypeError('a code or a consent needs a profile');
    if (c.code && c.consent) throw new TypeError('a code or a consent, not both');
    const args: Param[] = [c.id, c.stateHash, iso(c.now)];
    const p = (v: Param) => {
      args.push(v);
      return `$${args.length}`;
    };
    const parts = [
      `tx AS (SELECT id FROM sso_sessions
         WHERE id = $1 AND tx_state_hash = $2 AND tx_consumed_at IS NULL AND tx_expires_at > $3 FOR UPDATE)`,
    ];
    if (c.oneTimeKey) {
      parts.push(
        `k AS (INSERT INTO one_time_keys (key, expires_at) SELECT ${p(c.oneTimeKey.key)}, ${p(iso(c.oneTimeKey.expiresAt))}::timestamptz FROM tx
           ON CONFLICT (key) DO NOTHING RETURNING key)`,
        'go AS (SELECT id FROM tx WHERE EXISTS (SELECT 1 FROM k))',
      );
    } else {
      parts.push('go AS (SELECT id FROM tx)');
    }
    const sets = sessionSets(args, c.session);
    sets.push('tx_consumed_at = $3');
    const from = ['go'];
    if (c.profile) {
      const now = p(iso(new Date()));
      parts.push(
        `p AS (INSERT INTO profiles (id, connection_id, idp_id, data, created_at, updated_at)
           SELECT ${p(c.profile.id)}, ${p(c.profile.connectionId)}, ${p(c.profile.idpId)}, ${p(JSON.stringify(c.profile.data))}::jsonb, ${now}::timestamptz, ${now}::timestamptz FROM go
           ON CONFLICT (connection_id, idp_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at
           RETURNING ${PROFILE})`,
      );
      from.push('p');
      sets.push('profile_id = p.id');
      if (c.consent) {
        sets.push(
          'tx_profile_id = p.id',
          `tx_consent_hash = ${p(c.consent.consentHash)}`,
          `tx_consent_expires_at = ${p(iso(c.consent.expiresAt))}`,
          `tx_oauth_tokens = ${p(c.consent.oauthTokens)}`,
        );
      }
    }
    parts.push(
      `s AS (UPDATE sso_sessions SET ${sets.join(', ')} FROM ${from.join(', ')} WHERE sso_sessions.id = go.id
         RETURNING ${SESSION.split(',')
           .map((col) => `sso_sessions.${col.trim()}`)
           .join(', ')})`,
    );
    if (c.code) {
      const k = c.code;
      parts.push(
        `c AS (INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, code_challenge, profile_id, session_id,
           oauth_tokens, created_at, expires_at)
           SELECT ${p(k.codeHash)}, ${p(k.clientId)}, ${p(k.redirectUri)}, ${p(k.codeChallenge)}, p.id, s.id,
             ${p(k.oauthTokens)}, ${p(iso(k.createdAt))}::timestamptz, ${p(iso(k.expiresAt))}::timestamptz FROM s, p)`,
      );
    }
    const profileColumns = c.profile
      ? `, ${PROFILE.split(',')
          .map((col) => `p.${col.trim()} AS p_${col.trim()}`)
          .join(', ')}`
      : '';
    const sql = `WITH ${parts.join(',\n')}
      SELECT (SELECT count(*) FROM tx)::int AS tx_found, s.*${profileColumns}
      FROM (SELECT 1) AS one LEFT JOIN s ON true${c.profile ? ' LEFT JOIN p ON true' : ''}`;
    const run = async (client: PoolClient | undefined): Promise<{ commit: boolean; value: SignInResult }> => {
      const r = (await this.#one(sql, args, client)) as Row;
      if (r.id === null || r.id === undefined) {
        return {
          commit: false,
          value: { kind: r.tx_found ? 'one_time_key_claimed' : 'transaction_unavailable' },
        };
      }
      const record = session(r);
      const stored = c.profile
        ? profile(Object.fromEntries(PROFILE.split(',').map((col) => [col.trim(), r[`p_${col.trim()}`]])))
        : null;
      if (c.events) await this.#insertEvents(eventsFor(c.events, record), client);
      return { commit: true, value: { kind: 'completed', session: record, profile: stored } };
    };
    if (!c.events) return (await run(undefined)).value;
    return this.#transactionOutcome(run);
  }

  async deleteSessionsBefore(before: Date, limit: number): Promise<number> {
    return (
      await this.#query(
        'DELETE FROM sso_sessions WHERE id IN (SELECT id FROM sso_sessions WHERE id < $1 ORDER BY id LIMIT $2)',
        [firstIdAt('sess', before), limit],
      )
    ).rowCount;
  }

  async listSessions(filter: SessionFilter, page: PageRequest): Promise<Page<SsoSessionRecord>> {
    const where: string[] = [];
    const params: Param[] = [];
    if (filter.connectionId) {
      params.push(filter.connectionId);
      where.push(`connection_id = $${params.length}`);
    }
    if (filter.organizationId) {
      params.push(filter.organizationId);
      where.push(`organization_id = $${params.length}`);
    }
    if (filter.requestId) {
      params.push(filter.requestId);
      const p = `$${params.length}`;
      where.push(`(authorize_request_id = ${p} OR callback_request_id = ${p} OR consent_request_id = ${p})`);
    }
    // The dashboard's filters (issue 13): (outcome, id) and (failed_stage, id) indexes; a time range is an ID range.
    if (filter.outcome) {
      params.push(filter.outcome);
      where.push(`outcome = $${params.length}`);
    }
    if (filter.failedStage) {
      params.push(filter.failedStage);
      where.push(`failed_stage = $${params.length}`);
    }
    if (filter.rangeStart) {
      params.push(firstIdAt('sess', filter.rangeStart));
      where.push(`id >= $${params.length}`);
    }
    if (filter.rangeEnd) {
      params.push(firstIdAt('sess', filter.rangeEnd));
      where.push(`id < $${params.length}`);
    }
    return this.#page('sso_sessions', SESSION, where, params, page, session);
  }

  // ---- profiles ----
  async upsertProfile(p: Omit<ProfileRecord, 'createdAt' | 'updatedAt'>): Promise<ProfileRecord> {
    const r = await this.#one(
      `INSERT INTO profiles (id, connection_id, idp_id, data, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)
       ON CONFLICT (connection_id, idp_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at
       RETURNING ${PROFILE}`,
      [p.id, p.connectionId, p.idpId, JSON.stringify(p.data), iso(new Date())],
    );
    return profile(r as Row);
  }

  async getProfile(id: string): Promise<ProfileRecord | null> {
    const r = await this.#one(`SELECT ${PROFILE} FROM profiles WHERE id = $1`, [id]);
    return r ? profile(r) : null;
  }

  async listProfiles(page: PageRequest): Promise<Page<ProfileRecord>> {
    return this.#page('profiles', PROFILE, [], [], page, profile);
  }

  // ---- authorization codes and access tokens ----
  async createAuthorizationCode(
    c: Omit<AuthorizationCodeRecord, 'consumedAt'>,
  ): Promise<AuthorizationCodeRecord> {
    await this.#query(
      `INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, code_challenge, profile_id, session_id,
         oauth_tokens, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        c.codeHash,
        c.clientId,
        c.redirectUri,
        c.codeChallenge,
        c.profileId,
        c.sessionId,
        c.oauthTokens,
        iso(c.createdAt),
        iso(c.expiresAt),
      ],
    );
    return { ...c, consumedAt: null };
  }

  async getAuthorizationCode(codeHash: string): Promise<AuthorizationCodeRecord | null> {
    const r = await this.#one(`SELECT ${AUTHORIZATION_CODE} FROM authorization_codes WHERE code_hash = $1`, [
      codeHash,
    ]);
    return r ? authorizationCode(r) : null;
  }

  /**
   * Redemption in as few round trips as the contract allows:
   * - The claim is one statement: it consumes the code only if it is unconsumed and unexpired (concurrent
   *   redemptions queue on the row lock and re-check, so exactly one gets it), and, in the same statement, stores
   *   the access token and the session's stage. Without an idempotency key that is the whole redemption.
   * - With a key, the claim's statement first reserves the key: it inserts the idempotency record, or replaces
   *   an expired one, or finds a live one and does nothing. The reservation's row lock makes redemptions with one
   *   key take turns (on every node), so a retry that arrives while the first attempt is in flight waits for it
   *   and is then replayed. The statement runs in a transaction, rolled back when the code cannot be claimed:
   *   only an issued redemption keeps its response.
   * - A refusal reads why in a second statement, which also revokes the tokens of a consumed code.
   */
  async redeemAuthorizationCode(req: RedeemRequest): Promise<RedeemResult> {
    const now = iso(req.now);
    const claim = [
      req.codeHash,
      now,
      req.token.tokenHash,
      req.token.clientId,
      req.token.profileId,
      iso(req.token.expiresAt),
      JSON.stringify({ code_redeemed: now }),
    ];
    const idem = req.idempotency;
    if (!idem) {
      const r = await this.#one(`WITH ${claimCtes()} SELECT count(*)::int AS issued FROM code`, claim);
      if (r?.issued === 1) return { kind: 'issued' };
      return this.#refuse(req.codeHash, now);
    }
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.#transactionOutcome(async (client) => {
        const r = await this.#one(
          `WITH reserved AS (
             INSERT INTO idempotency_keys (client_id, key, request_hash, response, created_at, expires_at)
             VALUES ($8, $9, $10, $11, $2, $12)
             ON CONFLICT (client_id, key) DO UPDATE SET request_hash = excluded.request_hash,
               response = excluded.response, created_at = excluded.created_at, expires_at = excluded.expires_at
             WHERE idempotency_keys.expires_at <= $2
             RETURNING 1
           ), ${claimCtes(' AND EXISTS (SELECT 1 FROM reserved)')}
           SELECT (SELECT count(*) FROM reserved)::int AS reserved, (SELECT count(*) FROM code)::int AS issued`,
          [...claim, idem.clientId, idem.key, idem.requestHash, idem.response, iso(idem.expiresAt)],
          client,
        );
        const reserved = r?.reserved === 1;
        const issued = r?.issued === 1;
        return { commit: issued, value: issued ? 'issued' : reserved ? 'refused' : 'kept' };
      });
      if (outcome === 'issued') return { kind: 'issued' };
      if (outcome === 'refused') return this.#refuse(req.codeHash, now);
      // A live record for this key: replay it, or refuse a different request under the same key.
      const kept = await this.#one(
        `SELECT request_hash, response FROM idempotency_keys
         WHERE client_id = $1 AND key = $2 AND expires_at > $3`,
        [idem.clientId, idem.key, now],
      );
      // Gone in between (expired and purged): try again, as a first request.
      if (!kept) {
        if (attempt < 3) continue;
        throw new Error('idempotency record kept changing during redemption');
      }
      return kept.request_hash === idem.requestHash
        ? { kind: 'replayed', response: str(kept.response) }
        : { kind: 'idempotency_mismatch' };
    }
  }

  /** Why a code could not be claimed; a consumed code's access tokens are revoked in the same statement. */
  async #refuse(codeHash: string, now: string): Promise<RedeemResult> {
    const r = await this.#one(
      `WITH code AS (SELECT consumed_at, expires_at FROM authorization_codes WHERE code_hash = $1),
       revoked AS (
         UPDATE access_tokens SET revoked_at = $2
         WHERE code_hash = $1 AND revoked_at IS NULL AND EXISTS (SELECT 1 FROM code WHERE consumed_at IS NOT NULL)
       )
       SELECT consumed_at IS NOT NULL AS consumed, expires_at <= $2 AS expired FROM code`,
      [codeHash, now],
    );
    if (!r) return { kind: 'invalid', reason: 'not_found' };
    if (r.consumed === true) return { kind: 'invalid', reason: 'consumed' };
    if (r.expired === true) return { kind: 'invalid', reason: 'expired' };
    // Unreachable: the claim re-checked the latest version of the row, and a code never becomes claimable again.
    throw new Error('authorization code was neither claimed nor refused');
  }

  async getAccessToken(tokenHash: string): Promise<AccessTokenRecord | null> {
    const r = await this.#one(`SELECT ${ACCESS_TOKEN} FROM access_tokens WHERE token_hash = $1`, [tokenHash]);
    return r ? accessToken(r) : null;
  }

  async deleteExpiredGrants(before: Date): Promise<number> {
    // One statement. Rate-limit counters whose window ended before `before` go too, without being counted: the
    // count is of grants.
    const r = await this.#one(
      `WITH codes AS (DELETE FROM authorization_codes WHERE expires_at < $1 RETURNING 1),
       tokens AS (DELETE FROM access_tokens WHERE expires_at < $1 RETURNING 1),
       idempotency AS (DELETE FROM idempotency_keys WHERE expires_at < $1 RETURNING 1),
       keys AS (DELETE FROM one_time_keys WHERE expires_at < $1 RETURNING 1),
       counters AS (DELETE FROM rate_limits WHERE window_end < $1)
       SELECT ((SELECT count(*) FROM codes) + (SELECT count(*) FROM tokens) + (SELECT count(*) FROM idempotency)
         + (SELECT count(*) FROM keys))::int AS deleted`,
      [iso(before)],
    );
    return Number(r?.deleted ?? 0);
  }

  async createPortalLink(link: Omit<PortalLinkRecord, 'openedAt'>): Promise<PortalLinkRecord> {
    const r = await this.#one(
      `INSERT INTO portal_links (id, token_hash, organization_id, intent, return_url, success_url, provider_type,
         admin_emails, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       RETURNING ${PORTAL_LINK}`,
      [
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
      ],
    );
    return portalLink(r as Row);
  }

  async openPortalLink(tokenHash: string, now: Date): Promise<PortalLinkOpening> {
    const opened = await this.#one(
      `UPDATE portal_links SET opened_at = $2 WHERE token_hash = $1 AND opened_at IS NULL AND expires_at > $2
       RETURNING ${PORTAL_LINK}`,
      [tokenHash, iso(now)],
    );
    if (opened) return { outcome: 'opened', link: portalLink(opened) };
    const r = await this.#one(`SELECT ${PORTAL_LINK} FROM portal_links WHERE token_hash = $1`, [tokenHash]);
    if (!r) return { outcome: 'unknown', link: null };
    const link = portalLink(r);
    return { outcome: link.openedAt ? 'used' : 'expired', link };
  }

  async deleteExpiredPortalLinks(before: Date): Promise<number> {
    const r = await this.#query('DELETE FROM portal_links WHERE expires_at < $1', [iso(before)]);
    return r.rowCount ?? 0;
  }

  // ---- dashboard operators, their links, the audit log ----
  async createOperator(op: Pick<OperatorRecord, 'id' | 'email' | 'name'>): Promise<OperatorRecord> {
    const r = await this.#one(
      `INSERT INTO operators (id, email, name, created_at) VALUES ($1, $2, $3, $4) RETURNING ${OPERATOR}`,
      [op.id, op.email.toLowerCase(), op.name, iso(new Date())],
    );
    return operator(r as Row);
  }

  async getOperator(id: string): Promise<OperatorRecord | null> {
    const r = await this.#one(`SELECT ${OPERATOR} FROM operators WHERE id = $1`, [id]);
    return r ? operator(r) : null;
  }

  async getOperatorByEmail(email: string): Promise<OperatorRecord | null> {
    const r = await this.#one(`SELECT ${OPERATOR} FROM operators WHERE email = $1`, [email.toLowerCase()]);
    return r ? operator(r) : null;
  }

  async listOperators(): Promise<OperatorRecord[]> {
    return (await this.#query(`SELECT ${OPERATOR} FROM operators ORDER BY id`)).rows.map(operator);
  }

  async updateOperator(
    id: string,
    patch: Partial<Pick<OperatorRecord, 'name' | 'lastSignInAt' | 'disabledAt'>>,
  ): Promise<OperatorRecord> {
    const args: Param[] = [id];
    const sets: string[] = [];
    const set = (column: string, value: Param) => {
      args.push(value);
      sets.push(`${column} = $${args.length}`);
    };
    if (patch.name !== undefined) set('name', patch.name);
    if (patch.lastSignInAt !== undefined)
      set('last_sign_in_at', patch.lastSignInAt && iso(patch.lastSignInAt));
    if (patch.disabledAt !== undefined) set('disabled_at', patch.disabledAt && iso(patch.disabledAt));
    const r = await this.#one(
      sets.length
        ? `UPDATE operators SET ${sets.join(', ')} WHERE id = $1 RETURNING ${OPERATOR}`
        : `SELECT ${OPERATOR} FROM operators WHERE id = $1`,
      args,
    );
    if (!r) throw new NotFoundError('operator');
    return operator(r);
  }

  async createOperatorLink(link: Omit<OperatorLinkRecord, 'usedAt'>): Promise<OperatorLinkRecord> {
    const r = await this.#one(
      `INSERT INTO operator_links (id, token_hash, purpose, operator_id, email, created_by, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${OPERATOR_LINK}`,
      [
        link.id,
        link.tokenHash,
        link.purpose,
        link.operatorId,
        link.email,
        link.createdBy,
        iso(link.createdAt),
        iso(link.expiresAt),
      ],
    );
    return operatorLink(r as Row);
  }

  async findOperatorLink(tokenHash: string): Promise<OperatorLinkRecord | null> {
    const r = await this.#one(`SELECT ${OPERATOR_LINK} FROM operator_links WHERE token_hash = $1`, [
      tokenHash,
    ]);
    return r ? operatorLink(r) : null;
  }

  async useOperatorLink(tokenHash: string, now: Date): Promise<OperatorLinkUse> {
    const used = await this.#one(
      `UPDATE operator_links SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
       RETURNING ${OPERATOR_LINK}`,
      [tokenHash, iso(now)],
    );
    if (used) return { outcome: 'used', link: operatorLink(used) };
    const r = await this.#one(`SELECT ${OPERATOR_LINK} FROM operator_links WHERE token_hash = $1`, [
      tokenHash,
    ]);
    if (!r) return { outcome: 'unknown', link: null };
    const link = operatorLink(r);
    return { outcome: link.usedAt ? 'already_used' : 'expired', link };
  }

  async appendAudit(entry: AuditRecord): Promise<void> {
    await this.#query(
      `INSERT INTO audit_log (id, operator_id, operator_email, action, target_type, target_id, detail, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        entry.id,
        entry.operatorId,
        entry.operatorEmail,
        entry.action,
        entry.targetType,
        entry.targetId,
        JSON.stringify(entry.detail),
        iso(entry.createdAt),
      ],
    );
  }

  async listAudit(filter: AuditFilter, page: PageRequest): Promise<Page<AuditRecord>> {
    const where: string[] = [];
    const params: Param[] = [];
    if (filter.operatorId) {
      params.push(filter.operatorId);
      where.push(`operator_id = $${params.length}`);
    }
    if (filter.targetId) {
      params.push(filter.targetId);
      where.push(`target_id = $${params.length}`);
    }
    return this.#page('audit_log', AUDIT, where, params, page, audit);
  }

  // ---- events ----
  /**
   * Runs `write` and writes the events it describes in the same transaction. Without events, `write` runs alone
   * on the pool (`client` undefined), as before: one statement, no transaction of its own.
   */
  async #withEvents<T>(
    events: Events<T> | undefined,
    write: (client: PoolClient | undefined) => Promise<T>,
  ): Promise<T> {
    if (!events || (Array.isArray(events) && events.length === 0)) return write(undefined);
    return this.#transaction(async (client) => {
      const result = await write(client);
      await this.#insertEvents(eventsFor(events, result), client);
      return result;
    });
  }

  async #insertEvents(events: NewEvent[], client?: PoolClient): Promise<number> {
    if (events.length === 0) return 0;
    return (await this.#query(INSERT_EVENTS, eventArrays(events), client)).rowCount;
  }

  async appendEvents(events: NewEvent[]): Promise<number> {
    return this.#insertEvents(events);
  }

  async listEvents(filter: EventFilter, page: PageRequest): Promise<Page<EventRecord>> {
    const where: string[] = [];
    const params: Param[] = [];
    if (filter.events?.length) {
      params.push(filter.events);
      where.push(`event = ANY($${params.length}::text[])`);
    }
    if (filter.organizationId) {
      params.push(filter.organizationId);
      where.push(`organization_id = $${params.length}`);
    }
    // IDs are ULIDs: a time range is an ID range, which the primary key serves.
    if (filter.rangeStart) {
      params.push(firstIdAt('event', filter.rangeStart));
      where.push(`id >= $${params.length}`);
    }
    if (filter.rangeEnd) {
      params.push(firstIdAt('event', filter.rangeEnd));
      where.push(`id < $${params.length}`);
    }
    return this.#page('events', EVENT, where, params, page, event);
  }

  async deleteEventsBefore(before: Date, limit: number): Promise<number> {
    return (
      await this.#query(
        'DELETE FROM events WHERE id IN (SELECT id FROM events WHERE id < $1 ORDER BY id LIMIT $2)',
        [firstIdAt('event', before), limit],
      )
    ).rowCount;
  }

  async claimOneTimeKey(key: string, expiresAt: Date): Promise<boolean> {
    const { rowCount } = await this.#query(
      'INSERT INTO one_time_keys (key, expires_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING',
      [key, iso(expiresAt)],
    );
    return rowCount === 1;
  }

  /**
   * Concurrent calls are counted together: while a statement is in flight, the calls that arrive wait and go as
   * the next one (up to LIMIT_BATCH_HITS hits), in the order they came. A hot counter (one per
   * connection, hit by every authorize) is a row that statements update one after the other, each holding its
   * lock until it commits: one update for a group of hits instead of one per hit is what lets a node count as
   * fast as it answers (on a 2-core machine, /sso/authorize with every limit counted went from
   * 3,500 to 9,200–9,700 requests/s). An idle node sends a call at once, alone. The counts stay exact.
   */
  hitRateLimits(hits: RateLimitHit[], now: Date): Promise<RateLimitResult[]> {
    if (hits.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.#limitQueue.push({ hits, now, resolve, reject });
      this.#sendLimits();
    });
  }

  #sendLimits(): void {
    while (this.#limitBatches < LIMIT_BATCHES && this.#limitQueue.length > 0) {
      // Calls join a group while every counter they name is in the same window as in the group: one statement
      // can update a row once only (a call stamped in the next window waits for the next group).
      const group: PendingHits[] = [];
      const starts = new Map<string, number>();
      let size = 0;
      for (const call of this.#limitQueue) {
        if (group.length > 0 && size + call.hits.length > LIMIT_BATCH_HITS) break;
        const t = call.now.getTime();
        const mine = call.hits.map(
          ({ key, windowMs }) => [`${windowMs}:${key}`, t - (t % windowMs)] as const,
        );
        if (mine.some(([rowKey, start]) => (starts.get(rowKey) ?? start) !== start)) break;
        for (const [rowKey, start] of mine) starts.set(rowKey, start);
        group.push(call);
        size += call.hits.length;
      }
      this.#limitQueue.splice(0, group.length);
      this.#limitBatches++;
      void this.#countHits(group).finally(() => {
        this.#limitBatches--;
        this.#sendLimits();
      });
    }
  }

  /**
   * One statement for all the hits of a group: an upsert per counter row (`<windowMs>:<key>`, as the SQLite
   * store keys its counters). A hit in a later window than the row's starts the count again; a hit stamped
   * earlier than the row's window (a node whose clock is behind) counts in the row's window, so that nodes with a
   * little clock skew do not reset each other's counts. Rows are sent in key order, so concurrent statements lock
   * them in the same order and cannot deadlock; a key named twice is one row counted twice.
   *
   * The statement commits asynchronously (`set_config('synchronous_commit', 'off', true)` is SET LOCAL for its
   * own implicit transaction): a hot row's lock is held until the commit, and not waiting for the WAL flush took
   * one hot key from ~1,250 to ~5,000 statements/s on a 2-core machine. The counts stay exact (visibility does
   * not wait for the flush); a database crash may forget the last fraction of a second of hits, which is
   * harmless.
   */
  async #countHits(group: PendingHits[]): Promise<void> {
    try {
      const counters = new Map<string, { start: number; end: number; n: number }>();
      const slots = group.map(({ hits, now }) => {
        const t = now.getTime();
        return hits.map(({ key, windowMs }) => {
          const rowKey = `${windowMs}:${key}`;
          let c = counters.get(rowKey);
          if (!c) {
            const start = t - (t % windowMs);
            c = { start, end: start + windowMs, n: 0 };
            counters.set(rowKey, c);
          }
          c.n += 1;
          return { rowKey, nth: c.n };
        });
      });
      const keys = [...counters.keys()].sort();
      const rows = keys.map((k) => counters.get(k) as { start: number; end: number; n: number });
      const { rows: result } = await this.#query(
        `INSERT INTO rate_limits AS r (key, window_start, window_end, count)
         SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::int[])
         WHERE (SELECT set_config('synchronous_commit', 'off', true)) IS NOT NULL
         ON CONFLICT (key) DO UPDATE SET
           count = CASE WHEN excluded.window_start > r.window_start THEN excluded.count ELSE r.count + excluded.count END,
           window_start = greatest(r.window_start, excluded.window_start),
           window_end = greatest(r.window_end, excluded.window_end)
         RETURNING key, count, window_end`,
        [
          keys,
          rows.map((c) => new Date(c.start).toISOString()),
          rows.map((c) => new Date(c.end).toISOString()),
          rows.map((c) => c.n),
        ],
      );
      const after = new Map(result.map((r) => [str(r.key), r]));
      for (const [i, call] of group.entries()) {
        call.resolve(
          (slots[i] ?? []).map(({ rowKey, nth }, j) => {
            const r = after.get(rowKey) as Row;
            const c = counters.get(rowKey) as { n: number };
            // The row's count includes every hit of the group on it; the nth of them saw the count before the rest.
            const count = Number(r.count) - c.n + nth;
            return {
              count,
              allowed: count <= (call.hits[j] as RateLimitHit).limit,
              resetAt: date(r.window_end),
            };
          }),
        );
      }
    } catch (err) {
      for (const call of group) call.reject(err);
    }
  }

  // ---- webhooks: endpoints and deliveries (the migration's trigger queues deliveries as events are written) ----
  async createWebhookEndpoint(
    e: Omit<WebhookEndpointRecord, 'createdAt' | 'updatedAt'>,
  ): Promise<WebhookEndpointRecord> {
    const r = await this.#one(
      `WITH e AS (
         INSERT INTO webhook_endpoints (id, url, secret, status, events, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)
         RETURNING ${WEBHOOK_ENDPOINT}
       ), s AS (
         INSERT INTO webhook_subscriptions (event, endpoint_id) SELECT DISTINCT unnest($7::text[]), $1
       )
       SELECT * FROM e`,
      [e.id, e.url, e.secret, e.status, JSON.stringify(e.events), iso(new Date()), e.events],
    );
    return webhookEndpoint(r as Row);
  }

  async getWebhookEndpoint(id: string): Promise<WebhookEndpointRecord | null> {
    const r = await this.#one(`SELECT ${WEBHOOK_ENDPOINT} FROM webhook_endpoints WHERE id = $1`, [id]);
    return r ? webhookEndpoint(r) : null;
  }

  async listWebhookEndpoints(page: PageRequest): Promise<Page<WebhookEndpointRecord>> {
    return this.#page('webhook_endpoints', WEBHOOK_ENDPOINT, [], [], page, webhookEndpoint);
  }

  async updateWebhookEndpoint(id: string, patch: WebhookEndpointPatch): Promise<WebhookEndpointRecord> {
    const args: Param[] = [id];
    const { sets, set } = setList(args, iso(new Date()));
    if (patch.url !== undefined) set('url', patch.url);
    if (patch.secret !== undefined) set('secret', patch.secret);
    if (patch.status !== undefined) set('status', patch.status);
    if (patch.events !== undefined) set('events', JSON.stringify(patch.events));
    return this.#transaction(async (client) => {
      const r = await this.#one(
        `UPDATE webhook_endpoints SET ${sets.join(', ')} WHERE id = $1 RETURNING ${WEBHOOK_ENDPOINT}`,
        args,
        client,
      );
      if (!r) throw new NotFoundError('webhook endpoint');
      if (patch.events !== undefined) {
        await this.#query('DELETE FROM webhook_subscriptions WHERE endpoint_id = $1', [id], client);
        await this.#query(
          'INSERT INTO webhook_subscriptions (event, endpoint_id) SELECT DISTINCT unnest($2::text[]), $1',
          [id, patch.events],
          client,
        );
      }
      return webhookEndpoint(r);
    });
  }

  async deleteWebhookEndpoint(id: string): Promise<void> {
    if ((await this.#query('DELETE FROM webhook_endpoints WHERE id = $1', [id])).rowCount === 0) {
      throw new NotFoundError('webhook endpoint');
    }
  }

  /**
   * One statement: the due rows are locked as they are picked (`FOR UPDATE … SKIP LOCKED`: another node's claim
   * in flight skips them, and a claim that waited re-checks the lease it finds), leased, and returned with their
   * endpoint and event.
   */
  async claimWebhookDeliveries(now: Date, limit: number, leaseUntil: Date): Promise<WebhookClaim[]> {
    const { rows } = await this.#query(
      `WITH due AS (
         SELECT d.endpoint_id, d.event_id, d.attempts, d.lease_until, d.updated_at
         FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE d.state = 'pending' AND d.next_attempt_at <= $1 AND (d.lease_until IS NULL OR d.lease_until <= $1)
           AND e.status = 'enabled'
         ORDER BY d.next_attempt_at LIMIT $2
         FOR UPDATE OF d SKIP LOCKED
       ), lost AS (
         INSERT INTO webhook_attempts (endpoint_id, event_id, attempt, started_at, outcome, error)
         SELECT endpoint_id, event_id, attempts, updated_at, 'failed', 'interrupted' FROM due
         WHERE lease_until IS NOT NULL
         ON CONFLICT DO NOTHING
       ), claimed AS (
         UPDATE webhook_deliveries d SET attempts = d.attempts + 1, lease_until = $3, updated_at = $1
         FROM due WHERE d.endpoint_id = due.endpoint_id AND d.event_id = due.event_id
         RETURNING d.endpoint_id, d.event_id, d.attempts, d.next_attempt_at
       )
       SELECT c.endpoint_id, c.attempts, w.url, w.secret, ev.id, ev.event, ev.organization_id, ev.data, ev.created_at
       FROM claimed c
       JOIN webhook_endpoints w ON w.id = c.endpoint_id
       JOIN events ev ON ev.id = c.event_id
       ORDER BY c.next_attempt_at`,
      [iso(now), limit, iso(leaseUntil)],
    );
    return rows.map((r) => ({
      endpointId: str(r.endpoint_id),
      url: str(r.url),
      secret: str(r.secret),
      event: event(r),
      attempt: Number(r.attempts),
    }));
  }

  async finishWebhookAttempt(x: WebhookAttemptResult): Promise<boolean> {
    const state: WebhookDeliveryState =
      x.outcome === 'succeeded' ? 'succeeded' : x.retryAt ? 'pending' : 'failed';
    const { rowCount } = await this.#query(
      `WITH u AS (
         UPDATE webhook_deliveries SET state = $1, next_attempt_at = $2, lease_until = NULL, updated_at = $3
         WHERE endpoint_id = $4 AND event_id = $5 AND attempts = $6 AND state = 'pending'
           AND lease_until IS NOT NULL
         RETURNING endpoint_id, event_id
       )
       INSERT INTO webhook_attempts (${WEBHOOK_ATTEMPT})
       SELECT endpoint_id, event_id, $6, $7::timestamptz, $8::text, $9::integer, $10::integer, $11::text FROM u`,
      [
        state,
        state === 'pending' && x.retryAt ? iso(x.retryAt) : null,
        iso(x.now),
        x.endpointId,
        x.eventId,
        x.attempt,
        iso(x.startedAt),
        x.outcome,
        x.responseStatus,
        x.latencyMs,
        x.error,
      ],
    );
    return rowCount === 1;
  }

  /** The deliveries' attempts, filled in. */
  async #withHistory(
    endpointId: string,
    deliveries: WebhookDeliveryRecord[],
  ): Promise<WebhookDeliveryRecord[]> {
    if (deliveries.length === 0) return deliveries;
    const byEvent = new Map(deliveries.map((d) => [d.eventId, d]));
    const { rows } = await this.#query(
      `SELECT ${WEBHOOK_ATTEMPT} FROM webhook_attempts WHERE endpoint_id = $1 AND event_id = ANY($2::text[])
       ORDER BY event_id, attempt`,
      [endpointId, [...byEvent.keys()]],
    );
    for (const r of rows) byEvent.get(str(r.event_id))?.history.push(webhookAttempt(r));
    return deliveries;
  }

  async listWebhookDeliveries(
    endpointId: string,
    filter: { state?: WebhookDeliveryState | undefined },
    page: PageRequest,
  ): Promise<Page<WebhookDeliveryRecord>> {
    const where = ['endpoint_id = $1'];
    const params: Param[] = [endpointId];
    if (filter.state) {
      params.push(filter.state);
      where.push(`state = $${params.length}`);
    }
    // Paginated by event ID (a delivery is one event to one endpoint).
    const result = await this.#page(
      `(SELECT event_id AS id, ${WEBHOOK_DELIVERY} FROM webhook_deliveries) d`,
      `id, ${WEBHOOK_DELIVERY}`,
      where,
      params,
      page,
      (r) => ({ ...webhookDelivery(r), id: str(r.id) }),
    );
    const data = result.data.map(({ id: _, ...d }) => d);
    return { ...result, data: await this.#withHistory(endpointId, data) };
  }

  async getWebhookDelivery(endpointId: string, eventId: string): Promise<WebhookDeliveryRecord | null> {
    const r = await this.#one(
      `SELECT ${WEBHOOK_DELIVERY} FROM webhook_deliveries WHERE endpoint_id = $1 AND event_id = $2`,
      [endpointId, eventId],
    );
    return r ? ((await this.#withHistory(endpointId, [webhookDelivery(r)]))[0] ?? null) : null;
  }

  async countWebhookBacklog(): Promise<number> {
    const r = await this.#one(
      `SELECT count(*) AS n FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
       WHERE d.state = 'pending' AND e.status = 'enabled'`,
    );
    return Number(r?.n ?? 0);
  }

  // ---- sign-ins over time (the dashboard's overview, issue 13) ----
  async signInSummary(q: SignInSummaryQuery): Promise<SignInSummary> {
    const hours = signInSummaryHours(q);
    const { rows } = await this.#query(SIGN_IN_SUMMARY_SQL, [
      hours.map((h) => firstIdAt('sess', new Date(h.from))),
      hours.map((h) => firstIdAt('sess', new Date(h.to))),
      firstIdAt('sess', q.reasonsSince),
      firstIdAt('sess', q.until),
      q.limit,
      firstIdAt('sess', q.since),
    ]);
    const counts = hours.map((h) => ({ hour: h.hour, succeeded: 0, failed: 0, timedOut: 0 }));
    const summary: SignInSummary = { hours: counts, reasons: [], failingConnections: [] };
    for (const r of rows) {
      const n = Number(r.n);
      // The rank (r, c) and WITH ORDINALITY (h) count from 1.
      const i = Number(r.i) - 1;
      if (r.kind === 'r') summary.reasons[i] = { reason: strOrNull(r.key), count: n };
      else if (r.kind === 'c') summary.failingConnections[i] = { connectionId: str(r.key), failed: n };
      else {
        const hour = counts[i];
        if (!hour) continue;
        if (r.key === 'succeeded') hour.succeeded = n;
        else if (r.key === 'failed') hour.failed = n;
        else hour.timedOut = n;
      }
    }
    return summary;
  }
}

/**
 * Consumes the code if it can be redeemed (and `condition` holds), and with it stores the access token and the
 * session's stage. Parameters: $1 code hash, $2 now, $3 token hash, $4 client ID, $5 profile ID, $6 token expiry,
 * $7 the stage.
 */
const claimCtes = (condition = '') => `code AS (
    UPDATE authorization_codes SET consumed_at = $2, oauth_tokens = NULL
    WHERE code_hash = $1 AND consumed_at IS NULL AND expires_at > $2${condition}
    RETURNING session_id
  ), token AS (
    INSERT INTO access_tokens (token_hash, code_hash, client_id, profile_id, created_at, expires_at)
    SELECT $3, $1, $4, $5, $2, $6 FROM code
  ), stage AS (
    UPDATE sso_sessions SET updated_at = $2, stages = stages || $7::jsonb
    WHERE id = (SELECT session_id FROM code)
  )`;

/** Domains as parallel arrays for `unnest`: IDs, names, states, strategies, tokens. */
function domainArrays(domains: NewDomain[]): Param[] {
  return [
    domains.map((d) => d.id),
    domains.map((d) => d.domain),
    domains.map((d) => d.state),
    domains.map((d) => d.verificationStrategy),
    domains.map((d) => d.verificationToken),
  ];
}
