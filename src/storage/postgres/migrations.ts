/**
 * Versioned schema migrations for PostgreSQL. Append only: a released migration is never edited; a change is a
 * new entry. `PostgresStore.migrate()` applies each pending one in its own transaction, under an advisory lock,
 * and records it in `schema_migrations`.
 *
 * Version 1 is the schema the SQLite migrations 1–5 arrive at (PostgreSQL support started there, so no
 * PostgreSQL database ever had the older shapes), plus the rate-limit counters that SQLite keeps in memory. The
 * numbering is this backend's own: a later change gets the next number here and the next number in
 * `sqlite/migrations.ts`, whatever those are.
 *
 * Dialect choices (docs/architecture.md, "PostgreSQL"):
 * - Timestamps are `timestamptz`; the store writes JavaScript dates (millisecond precision), so they come back
 *   exactly.
 * - Identifiers, hashes and keys are `text COLLATE "C"`: byte order, as SQLite compares text, so `ORDER BY id`
 *   is ULID (creation) order whatever the database's locale, and comparisons are a plain memcmp.
 * - JSON that the database works on (`stages`, merged with `||`) is `jsonb`. JSON that it only stores and
 *   returns (a connection's opaque config, organization metadata, profiles, the IdP's error text) is `json`:
 *   kept verbatim, keys in their order, `\u0000` escapes accepted.
 * - `name_folded` holds the name lower-cased by the store in JavaScript (`toLowerCase()`), the same folding
 *   the SQLite store applies, so name search is case-insensitive for any script whatever the database's
 *   LC_CTYPE (PostgreSQL's `lower()` folds ASCII only under the C locale).
 * - Unique constraints have explicit names: the store maps them to the contract's logical names.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
CREATE TABLE settings (
  key text COLLATE "C" PRIMARY KEY,
  value text NOT NULL
);

CREATE TABLE organizations (
  id text COLLATE "C" PRIMARY KEY,
  name text NOT NULL,
  name_folded text NOT NULL,
  external_id text COLLATE "C" CONSTRAINT organizations_external_id_key UNIQUE,
  allow_profiles_outside_organization boolean NOT NULL DEFAULT false,
  metadata json NOT NULL DEFAULT '{}',
  stripe_customer_id text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

CREATE TABLE organization_domains (
  id text COLLATE "C" PRIMARY KEY,
  organization_id text COLLATE "C" NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  domain text COLLATE "C" NOT NULL,
  state text NOT NULL CHECK (state IN ('verified', 'pending', 'failed')),
  verification_strategy text NOT NULL CHECK (verification_strategy IN ('dns', 'manual')),
  verification_token text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  CONSTRAINT organization_domains_organization_domain_key UNIQUE (organization_id, domain)
);
-- A domain can be verified by one organization only: sign-in rules and the legacy domain selector rely on it.
CREATE UNIQUE INDEX organization_domains_verified ON organization_domains (domain) WHERE state = 'verified';
CREATE INDEX organization_domains_domain ON organization_domains (domain);

CREATE TABLE connections (
  id text COLLATE "C" PRIMARY KEY,
  organization_id text COLLATE "C" REFERENCES organizations(id) ON DELETE CASCADE,
  connection_type text COLLATE "C" NOT NULL,
  name text NOT NULL,
  name_folded text NOT NULL,
  state text NOT NULL CHECK (state IN ('draft', 'validating', 'active', 'inactive')),
  external_key text COLLATE "C" NOT NULL CONSTRAINT connections_external_key_key UNIQUE,
  config json NOT NULL,
  first_login_at timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX connections_organization ON connections (organization_id, id);
CREATE INDEX connections_type ON connections (connection_type);

CREATE TABLE redirect_uris (
  id text COLLATE "C" PRIMARY KEY,
  uri text COLLATE "C" NOT NULL CONSTRAINT redirect_uris_uri_key UNIQUE,
  is_default boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX redirect_uris_one_default ON redirect_uris (is_default) WHERE is_default;

CREATE TABLE api_keys (
  id text COLLATE "C" PRIMARY KEY,
  name text NOT NULL,
  key_hash text COLLATE "C" NOT NULL CONSTRAINT api_keys_key_hash_key UNIQUE,
  last_four text NOT NULL,
  created_at timestamptz NOT NULL,
  revoked_at timestamptz
);

-- One row per login: the session log record, with the login's transaction (the short-lived part: state and
-- browser hashes, PKCE challenge, consent slot) in its tx_ columns, so that /sso/authorize writes one row. The
-- transaction is found by the row's ID and checked by its state hash; the purge of expired transactions clears
-- the tx_ columns and keeps the record.
CREATE TABLE sso_sessions (
  id text COLLATE "C" PRIMARY KEY,
  client_id text COLLATE "C" NOT NULL,
  connection_id text COLLATE "C",
  organization_id text COLLATE "C",
  connection_type text,
  redirect_uri text NOT NULL,
  outcome text NOT NULL CHECK (outcome IN ('started', 'succeeded', 'failed')),
  failed_stage text,
  reason text,
  wire_code text,
  upstream_error json,
  detail json,
  profile_id text COLLATE "C",
  idp_id text,
  email text,
  authorize_request_id text COLLATE "C" NOT NULL,
  callback_request_id text COLLATE "C",
  consent_request_id text COLLATE "C",
  stages jsonb NOT NULL DEFAULT '{}',
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  tx_state_hash text COLLATE "C",
  tx_browser_hash text COLLATE "C",
  tx_app_state text,
  tx_code_challenge text,
  tx_code_challenge_method text,
  tx_connector_state text,
  tx_created_at timestamptz,
  tx_expires_at timestamptz,
  tx_consumed_at timestamptz,
  tx_profile_id text COLLATE "C",
  tx_consent_hash text COLLATE "C",
  tx_consent_expires_at timestamptz,
  tx_consent_decided_at timestamptz,
  tx_oauth_tokens text
);
-- Filtered session lists walk these in ID order.
CREATE INDEX sso_sessions_connection ON sso_sessions (connection_id, id);
CREATE INDEX sso_sessions_organization ON sso_sessions (organization_id, id);
CREATE INDEX sso_sessions_authorize_request ON sso_sessions (authorize_request_id);
-- The callback and consent request IDs are NULL when a login starts: index only the ones that are set.
CREATE INDEX sso_sessions_callback_request ON sso_sessions (callback_request_id) WHERE callback_request_id IS NOT NULL;
CREATE INDEX sso_sessions_consent_request ON sso_sessions (consent_request_id) WHERE consent_request_id IS NOT NULL;
CREATE UNIQUE INDEX sso_sessions_tx_consent ON sso_sessions (tx_consent_hash) WHERE tx_consent_hash IS NOT NULL;
-- The purge of expired transactions reads only the rows that still hold one (the session log keeps growing).
CREATE INDEX sso_sessions_tx_expires ON sso_sessions (tx_expires_at) WHERE tx_state_hash IS NOT NULL;

CREATE TABLE profiles (
  id text COLLATE "C" PRIMARY KEY,
  connection_id text COLLATE "C" NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
  idp_id text COLLATE "C" NOT NULL,
  data json NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  CONSTRAINT profiles_connection_idp_key UNIQUE (connection_id, idp_id)
);

CREATE TABLE authorization_codes (
  code_hash text COLLATE "C" PRIMARY KEY,
  client_id text COLLATE "C" NOT NULL,
  redirect_uri text NOT NULL,
  code_challenge text,
  profile_id text COLLATE "C" NOT NULL,
  session_id text COLLATE "C" NOT NULL,
  oauth_tokens text,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  consumed_at timestamptz
);
CREATE INDEX authorization_codes_expires ON authorization_codes (expires_at);

CREATE TABLE access_tokens (
  token_hash text COLLATE "C" PRIMARY KEY,
  code_hash text COLLATE "C" NOT NULL,
  client_id text COLLATE "C" NOT NULL,
  profile_id text COLLATE "C" NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz
);
CREATE INDEX access_tokens_code ON access_tokens (code_hash);
CREATE INDEX access_tokens_expires ON access_tokens (expires_at);

CREATE TABLE idempotency_keys (
  client_id text COLLATE "C" NOT NULL,
  key text COLLATE "C" NOT NULL,
  request_hash text COLLATE "C" NOT NULL,
  response text NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (client_id, key)
);
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);

-- The replay cache of SAML assertion IDs.
CREATE TABLE one_time_keys (
  key text COLLATE "C" PRIMARY KEY,
  expires_at timestamptz NOT NULL
);
CREATE INDEX one_time_keys_expires ON one_time_keys (expires_at);

-- Fixed-window rate-limit counters shared by every node: one row per window length and key
-- ("<windowMs>:<key>"), rewritten in place on every hit. No index besides the key, so that a hit is a HOT
-- update (the fill factor leaves room on the page for it); the purge of ended windows reads the whole table,
-- which holds one row per key seen in the last day.
CREATE TABLE rate_limits (
  key text COLLATE "C" PRIMARY KEY,
  window_start timestamptz NOT NULL,
  window_end timestamptz NOT NULL,
  count integer NOT NULL
) WITH (fillfactor = 70);
`,
  },
  {
    version: 2,
    name: 'Admin Portal setup links',
    sql: `
CREATE TABLE portal_links (
  id text COLLATE "C" PRIMARY KEY,
  token_hash text COLLATE "C" NOT NULL CONSTRAINT portal_links_token_hash_key UNIQUE,
  organization_id text COLLATE "C" NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  intent text NOT NULL,
  return_url text,
  success_url text,
  provider_type text,
  admin_emails json NOT NULL DEFAULT '[]',
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  opened_at timestamptz
);
CREATE INDEX portal_links_expires ON portal_links (expires_at);
CREATE INDEX portal_links_organization ON portal_links (organization_id);
`,
  },
  {
    version: 3,
    name: 'events',
    sql: `
-- Events (WorkOS shapes), written in the transaction of the change they describe. No foreign key: an event
-- outlives what it describes (connection.deleted). IDs are ULIDs, so ID order is time order.
CREATE TABLE events (
  id text COLLATE "C" PRIMARY KEY,
  event text COLLATE "C" NOT NULL,
  organization_id text COLLATE "C",
  data json NOT NULL,
  created_at timestamptz NOT NULL,
  dedupe_key text COLLATE "C"
);
-- Only the few events that have a key are in the dedupe index: a sign-in's events pay for no entry.
CREATE UNIQUE INDEX events_dedupe_key ON events (dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX events_organization ON events (organization_id, id) WHERE organization_id IS NOT NULL;
`,
  },
  {
    version: 4,
    name: 'webhook endpoints and deliveries',
    sql: `
CREATE TABLE webhook_endpoints (
  id text COLLATE "C" PRIMARY KEY,
  url text NOT NULL,
  secret text NOT NULL,
  status text NOT NULL CHECK (status IN ('enabled', 'disabled')),
  events json NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

-- The event names each endpoint wants, one row each: the trigger below looks an event's name up here.
CREATE TABLE webhook_subscriptions (
  event text COLLATE "C" NOT NULL,
  endpoint_id text COLLATE "C" NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
  PRIMARY KEY (event, endpoint_id)
);
CREATE INDEX webhook_subscriptions_endpoint ON webhook_subscriptions (endpoint_id);

-- One event to one endpoint. Leased while an attempt is in flight (lease_until); next_attempt_at is when the
-- next attempt is due (null once succeeded or failed). Claims lock rows with FOR UPDATE SKIP LOCKED.
CREATE TABLE webhook_deliveries (
  endpoint_id text COLLATE "C" NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
  event_id text COLLATE "C" NOT NULL REFERENCES events(id) ON DELETE CASCADE,
  event text COLLATE "C" NOT NULL,
  state text NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  lease_until timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

CREATE TABLE webhook_attempts (
  endpoint_id text COLLATE "C" NOT NULL,
  event_id text COLLATE "C" NOT NULL,
  attempt integer NOT NULL,
  started_at timestamptz NOT NULL,
  outcome text NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
  response_status integer,
  latency_ms integer,
  error text,
  PRIMARY KEY (endpoint_id, event_id, attempt),
  FOREIGN KEY (endpoint_id, event_id) REFERENCES webhook_deliveries (endpoint_id, event_id) ON DELETE CASCADE
);

-- The outbox: the events a statement writes queue their deliveries in that statement's transaction, whichever
-- write it is (one call per statement, over its transition table: the grouped login inserts pay it once per
-- group; with no enabled endpoint it returns at once, ~4 µs of the database's CPU per statement instead of ~10).
-- The search path is the migration's, so the function finds these tables whoever calls it.
CREATE FUNCTION webhook_queue_deliveries() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE status = 'enabled') THEN
    RETURN NULL;
  END IF;
  INSERT INTO webhook_deliveries (endpoint_id, event_id, event, state, attempts, next_attempt_at, created_at, updated_at)
  SELECT s.endpoint_id, n.id, n.event, 'pending', 0, n.created_at, n.created_at, n.created_at
  FROM new_events n
  JOIN webhook_subscriptions s ON s.event = n.event
  JOIN webhook_endpoints e ON e.id = s.endpoint_id
  WHERE e.status = 'enabled';
  RETURN NULL;
END
$fn$;
CREATE TRIGGER events_webhook_deliveries AFTER INSERT ON events REFERENCING NEW TABLE AS new_events
  FOR EACH STATEMENT EXECUTE FUNCTION webhook_queue_deliveries();
`,
  },
  {
    version: 5,
    name: 'session outcome timed_out',
    sql: `
-- A login that expires before the user comes back from the IdP is recorded as timed_out (maintenance). NOT VALID:
-- the rows already there satisfy the narrower check, so the new one is enforced on writes without a scan.
ALTER TABLE sso_sessions DROP CONSTRAINT sso_sessions_outcome_check;
ALTER TABLE sso_sessions ADD CONSTRAINT sso_sessions_outcome_check
  CHECK (outcome IN ('started', 'succeeded', 'failed', 'timed_out')) NOT VALID;
`,
  },
  {
    version: 6,
    name: 'operators, operator links, audit log',
    sql: `
-- The dashboard's operators (the app's team), their one-time links (kept by the SHA-256 hash of the token), and
-- the audit log of what they changed. The audit log has no foreign key: it outlives the operators it names.
CREATE TABLE operators (
  id text COLLATE "C" PRIMARY KEY,
  email text COLLATE "C" NOT NULL CONSTRAINT operators_email_key UNIQUE,
  name text,
  created_at timestamptz NOT NULL,
  last_sign_in_at timestamptz,
  disabled_at timestamptz
);
CREATE TABLE operator_links (
  id text COLLATE "C" PRIMARY KEY,
  token_hash text COLLATE "C" NOT NULL CONSTRAINT operator_links_token_hash_key UNIQUE,
  purpose text NOT NULL CHECK (purpose IN ('bootstrap', 'invite', 'sign_in')),
  operator_id text COLLATE "C" REFERENCES operators(id) ON DELETE CASCADE,
  email text,
  created_by text COLLATE "C",
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE INDEX operator_links_operator ON operator_links (operator_id) WHERE operator_id IS NOT NULL;
CREATE INDEX operator_links_expires ON operator_links (expires_at);
CREATE TABLE audit_log (
  id text COLLATE "C" PRIMARY KEY,
  operator_id text COLLATE "C",
  operator_email text,
  action text COLLATE "C" NOT NULL,
  target_type text COLLATE "C",
  target_id text COLLATE "C",
  detail json NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL
);
CREATE INDEX audit_log_operator ON audit_log (operator_id, id) WHERE operator_id IS NOT NULL;
CREATE INDEX audit_log_target ON audit_log (target_id, id) WHERE target_id IS NOT NULL;
`,
  },
  {
    version: 7,
    name: 'session log filters',
    sql: `
-- The dashboard's session log (issue 13) lists by outcome or failed stage, newest first, a page at a time: each
-- through an index in ID order (connection and organization have theirs since migration 1).
CREATE INDEX sso_sessions_outcome ON sso_sessions (outcome, id);
CREATE INDEX sso_sessions_failed_stage ON sso_sessions (failed_stage, id) WHERE failed_stage IS NOT NULL;
`,
  },
  {
    version: 8,
    name: 'connection sign-in statistics',
    sql: `
-- The dashboard's connections page (issue 13): each connection's last successful and failed sign-in and its
-- sign-ins in the last 24 hours and 7 days (Store.connectionStats), from the entries of this index only: a seek
-- for each last, a range per outcome for each window. Never a scan of the session log. (CREATE INDEX holds
-- writes to the session log while it builds: a few seconds per million records.)
CREATE INDEX sso_sessions_connection_outcome ON sso_sessions (connection_id, outcome, id) WHERE connection_id IS NOT NULL;
`,
  },
];
