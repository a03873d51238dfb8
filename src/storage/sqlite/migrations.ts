/**
 * Versioned schema migrations for SQLite. Append only: a released migration is never edited; a change is a
 * new entry. Each runs in its own transaction and is recorded in `schema_migrations`.
 * Timestamps are ISO-8601 UTC strings with milliseconds (`2026-01-02T03:04:05.006Z`), which sort as text.
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
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE organizations (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  external_id TEXT UNIQUE,
  allow_profiles_outside_organization INTEGER NOT NULL DEFAULT 0,
  metadata TEXT NOT NULL DEFAULT '{}',
  stripe_customer_id TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE TABLE organization_domains (
  id TEXT PRIMARY KEY,
  organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  domain TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('verified', 'pending', 'failed')),
  verification_strategy TEXT NOT NULL CHECK (verification_strategy IN ('dns', 'manual')),
  verification_token TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (organization_id, domain)
);
-- A domain can be verified by one organization only: sign-in rules and the legacy domain selector rely on it.
CREATE UNIQUE INDEX organization_domains_verified ON organization_domains(domain) WHERE state = 'verified';
CREATE INDEX organization_domains_domain ON organization_domains(domain);

CREATE TABLE connections (
  id TEXT PRIMARY KEY,
  organization_id TEXT REFERENCES organizations(id) ON DELETE CASCADE,
  connection_type TEXT NOT NULL,
  name TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('draft', 'validating', 'active', 'inactive')),
  external_key TEXT NOT NULL UNIQUE,
  config TEXT NOT NULL,
  first_login_at TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX connections_organization ON connections(organization_id);
CREATE INDEX connections_type ON connections(connection_type);

CREATE TABLE redirect_uris (
  id TEXT PRIMARY KEY,
  uri TEXT NOT NULL UNIQUE,
  is_default INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX redirect_uris_one_default ON redirect_uris(is_default) WHERE is_default = 1;

CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE,
  last_four TEXT NOT NULL,
  created_at TEXT NOT NULL,
  revoked_at TEXT
);

CREATE TABLE login_transactions (
  id TEXT PRIMARY KEY,
  state_hash TEXT NOT NULL UNIQUE,
  browser_hash TEXT NOT NULL,
  client_id TEXT NOT NULL,
  connection_id TEXT NOT NULL,
  organization_id TEXT,
  redirect_uri TEXT NOT NULL,
  app_state TEXT,
  code_challenge TEXT,
  code_challenge_method TEXT,
  connector_state TEXT NOT NULL,
  request_id TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  consumed_at TEXT
);
CREATE INDEX login_transactions_expires ON login_transactions(expires_at);
`,
  },
  {
    version: 2,
    name: 'callback, consent, codes, tokens, profiles and the session log',
    sql: `
ALTER TABLE login_transactions ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
ALTER TABLE login_transactions ADD COLUMN profile_id TEXT;
ALTER TABLE login_transactions ADD COLUMN consent_hash TEXT;
ALTER TABLE login_transactions ADD COLUMN consent_expires_at TEXT;
ALTER TABLE login_transactions ADD COLUMN consent_decided_at TEXT;
CREATE UNIQUE INDEX login_transactions_consent ON login_transactions(consent_hash) WHERE consent_hash IS NOT NULL;

CREATE TABLE sso_sessions (
  id TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  connection_id TEXT,
  organization_id TEXT,
  connection_type TEXT,
  redirect_uri TEXT NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('started', 'succeeded', 'failed')),
  failed_stage TEXT,
  reason TEXT,
  wire_code TEXT,
  upstream_error TEXT,
  detail TEXT,
  profile_id TEXT,
  idp_id TEXT,
  email TEXT,
  authorize_request_id TEXT NOT NULL,
  callback_request_id TEXT,
  consent_request_id TEXT,
  stages TEXT NOT NULL DEFAULT '{}',
  expires_at TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX sso_sessions_connection ON sso_sessions(connection_id);
CREATE INDEX sso_sessions_organization ON sso_sessions(organization_id);
CREATE INDEX sso_sessions_authorize_request ON sso_sessions(authorize_request_id);
CREATE INDEX sso_sessions_callback_request ON sso_sessions(callback_request_id);
CREATE INDEX sso_sessions_consent_request ON sso_sessions(consent_request_id);

CREATE TABLE profiles (
  id TEXT PRIMARY KEY,
  connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
  idp_id TEXT NOT NULL,
  data TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (connection_id, idp_id)
);

CREATE TABLE authorization_codes (
  code_hash TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  redirect_uri TEXT NOT NULL,
  code_challenge TEXT,
  profile_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  consumed_at TEXT
);
CREATE INDEX authorization_codes_expires ON authorization_codes(expires_at);

CREATE TABLE access_tokens (
  token_hash TEXT PRIMARY KEY,
  code_hash TEXT NOT NULL,
  client_id TEXT NOT NULL,
  profile_id TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  revoked_at TEXT
);
CREATE INDEX access_tokens_code ON access_tokens(code_hash);
CREATE INDEX access_tokens_expires ON access_tokens(expires_at);

CREATE TABLE idempotency_keys (
  client_id TEXT NOT NULL,
  key TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  response TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  PRIMARY KEY (client_id, key)
);
CREATE INDEX idempotency_keys_expires ON idempotency_keys(expires_at);
`,
  },
  {
    version: 3,
    name: 'one row per login: the transaction lives in its session record',
    sql: `
-- A login's transaction (the short-lived part: state and browser hashes, PKCE challenge, consent) moves into
-- its session record, so that /sso/authorize writes one row instead of two. It is found by the row's ID (carried
-- in our upstream state) and checked by its state hash, so the hot insert needs no index on a random key. The
-- purge of expired transactions clears these columns and keeps the record.
ALTER TABLE sso_sessions ADD COLUMN tx_state_hash TEXT;
ALTER TABLE sso_sessions ADD COLUMN tx_browser_hash TEXT;
ALTER TABLE sso_sessions ADD COLUMN tx_app_state TEXT;
ALTER TABLE sso_sessions ADD COLUMN tx_code_challenge TEXT;
ALTER TABLE sso_sessions ADD COLUMN tx_code_challenge_method TEXT;
ALTER TABLE sso_sessions ADD COLUMN tx_connector_state TEXT;
ALTER TABLE sso_sessions ADD COLUMN tx_created_at TEXT;
ALTER TABLE sso_sessions ADD COLUMN tx_expires_at TEXT;
ALTER TABLE sso_sessions ADD COLUMN tx_consumed_at TEXT;
ALTER TABLE sso_sessions ADD COLUMN tx_profile_id TEXT;
ALTER TABLE sso_sessions ADD COLUMN tx_consent_hash TEXT;
ALTER TABLE sso_sessions ADD COLUMN tx_consent_expires_at TEXT;
ALTER TABLE sso_sessions ADD COLUMN tx_consent_decided_at TEXT;
-- Transactions in flight during the upgrade are dropped (their state no longer carries the ID): those users
-- sign in again.
DROP TABLE login_transactions;
CREATE UNIQUE INDEX sso_sessions_tx_consent ON sso_sessions(tx_consent_hash) WHERE tx_consent_hash IS NOT NULL;
-- The callback and consent request IDs are NULL when a login starts: index only the ones that are set.
DROP INDEX sso_sessions_callback_request;
DROP INDEX sso_sessions_consent_request;
CREATE INDEX sso_sessions_callback_request ON sso_sessions(callback_request_id) WHERE callback_request_id IS NOT NULL;
CREATE INDEX sso_sessions_consent_request ON sso_sessions(consent_request_id) WHERE consent_request_id IS NOT NULL;
`,
  },
  {
    version: 4,
    name: 'one-time keys (SAML assertion replay cache)',
    sql: `
CREATE TABLE one_time_keys (
  key TEXT PRIMARY KEY,
  expires_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX one_time_keys_expires ON one_time_keys(expires_at);
`,
  },
  {
    version: 5,
    name: 'OAuth provider tokens with the consent slot and the code',
    sql: `
ALTER TABLE sso_sessions ADD COLUMN tx_oauth_tokens TEXT;
ALTER TABLE authorization_codes ADD COLUMN oauth_tokens TEXT;
`,
  },
  {
    version: 6,
    name: 'an index for the purge of expired login transactions',
    sql: `
-- The purge (every 5 minutes) finds the transactions that expired; without this it scanned every session record
-- kept for the log's retention, holding the write lock meanwhile. Only live transactions are indexed, and their
-- expiry grows with time, so the insert at /sso/authorize appends to it. (PostgreSQL has had it from the start.)
CREATE INDEX sso_sessions_tx_expires ON sso_sessions(tx_expires_at) WHERE tx_state_hash IS NOT NULL;
`,
  },
  {
    version: 7,
    name: 'Admin Portal setup links',
    sql: `
CREATE TABLE portal_links (
  id TEXT PRIMARY KEY,
  token_hash TEXT NOT NULL UNIQUE,
  organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  intent TEXT NOT NULL,
  return_url TEXT,
  success_url TEXT,
  provider_type TEXT,
  admin_emails TEXT NOT NULL DEFAULT '[]',
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  opened_at TEXT
);
CREATE INDEX portal_links_expires ON portal_links(expires_at);
CREATE INDEX portal_links_organization ON portal_links(organization_id);
`,
  },
  {
    version: 8,
    name: 'events',
    sql: `
-- Events (WorkOS shapes), written in the transaction of the change they describe. No foreign key: an event
-- outlives what it describes (connection.deleted). IDs are ULIDs, so ID order is time order.
CREATE TABLE events (
  id TEXT PRIMARY KEY,
  event TEXT NOT NULL,
  organization_id TEXT,
  data TEXT NOT NULL,
  created_at TEXT NOT NULL,
  dedupe_key TEXT
) WITHOUT ROWID;
-- WITHOUT ROWID: the primary key is the table (one b-tree per insert, not two). The dedupe index holds only the
-- few events that have a key: a sign-in's events (most of them) pay for no index entry.
CREATE UNIQUE INDEX events_dedupe ON events(dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX events_organization ON events(organization_id, id) WHERE organization_id IS NOT NULL;
`,
  },
  {
    version: 9,
    name: 'webhook endpoints and deliveries',
    sql: `
CREATE TABLE webhook_endpoints (
  id TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  secret TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
  events TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

-- The event names each endpoint wants, one row each: the trigger below looks an event's name up here.
CREATE TABLE webhook_subscriptions (
  event TEXT NOT NULL,
  endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
  PRIMARY KEY (event, endpoint_id)
);
CREATE INDEX webhook_subscriptions_endpoint ON webhook_subscriptions(endpoint_id);

-- One event to one endpoint. Leased while an attempt is in flight (lease_until); next_attempt_at is when the
-- next attempt is due (null once succeeded or failed).
CREATE TABLE webhook_deliveries (
  endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
  event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
  event TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT,
  lease_until TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_event ON webhook_deliveries(event_id);

CREATE TABLE webhook_attempts (
  endpoint_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  started_at TEXT NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
  response_status INTEGER,
  latency_ms INTEGER,
  error TEXT,
  PRIMARY KEY (endpoint_id, event_id, attempt),
  FOREIGN KEY (endpoint_id, event_id) REFERENCES webhook_deliveries(endpoint_id, event_id) ON DELETE CASCADE
);

-- The outbox: an event queues its deliveries in the transaction that writes it, whichever write that is.
CREATE TRIGGER events_webhook_deliveries AFTER INSERT ON events BEGIN
  INSERT INTO webhook_deliveries (endpoint_id, event_id, event, state, attempts, next_attempt_at, created_at, updated_at)
  SELECT s.endpoint_id, NEW.id, NEW.event, 'pending', 0, NEW.created_at, NEW.created_at, NEW.created_at
  FROM webhook_subscriptions s JOIN webhook_endpoints e ON e.id = s.endpoint_id
  WHERE s.event = NEW.event AND e.status = 'enabled';
END;
`,
  },
  {
    version: 10,
    name: 'session outcome timed_out',
    sql: `
-- A login that expires before the user comes back from the IdP is recorded as timed_out (maintenance). SQLite
-- cannot change a CHECK constraint in place, so the table is rebuilt with the same columns and indexes: one copy
-- of the session log, once (500 000 records: 2.5 s).
CREATE TABLE sso_sessions_new (
  id TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  connection_id TEXT,
  organization_id TEXT,
  connection_type TEXT,
  redirect_uri TEXT NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('started', 'succeeded', 'failed', 'timed_out')),
  failed_stage TEXT,
  reason TEXT,
  wire_code TEXT,
  upstream_error TEXT,
  detail TEXT,
  profile_id TEXT,
  idp_id TEXT,
  email TEXT,
  authorize_request_id TEXT NOT NULL,
  callback_request_id TEXT,
  consent_request_id TEXT,
  stages TEXT NOT NULL DEFAULT '{}',
  expires_at TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  tx_state_hash TEXT,
  tx_browser_hash TEXT,
  tx_app_state TEXT,
  tx_code_challenge TEXT,
  tx_code_challenge_method TEXT,
  tx_connector_state TEXT,
  tx_created_at TEXT,
  tx_expires_at TEXT,
  tx_consumed_at TEXT,
  tx_profile_id TEXT,
  tx_consent_hash TEXT,
  tx_consent_expires_at TEXT,
  tx_consent_decided_at TEXT,
  tx_oauth_tokens TEXT
);
INSERT INTO sso_sessions_new (id, client_id, connection_id, organization_id, connection_type, redirect_uri, outcome,
  failed_stage, reason, wire_code, upstream_error, detail, profile_id, idp_id, email, authorize_request_id,
  callback_request_id, consent_request_id, stages, expires_at, created_at, updated_at, tx_state_hash, tx_browser_hash,
  tx_app_state, tx_code_challenge, tx_code_challenge_method, tx_connector_state, tx_created_at, tx_expires_at,
  tx_consumed_at, tx_profile_id, tx_consent_hash, tx_consent_expires_at, tx_consent_decided_at, tx_oauth_tokens)
SELECT id, client_id, connection_id, organization_id, connection_type, redirect_uri, outcome,
  failed_stage, reason, wire_code, upstream_error, detail, profile_id, idp_id, email, authorize_request_id,
  callback_request_id, consent_request_id, stages, expires_at, created_at, updated_at, tx_state_hash, tx_browser_hash,
  tx_app_state, tx_code_challenge, tx_code_challenge_method, tx_connector_state, tx_created_at, tx_expires_at,
  tx_consumed_at, tx_profile_id, tx_consent_hash, tx_consent_expires_at, tx_consent_decided_at, tx_oauth_tokens
FROM sso_sessions;
DROP TABLE sso_sessions;
ALTER TABLE sso_sessions_new RENAME TO sso_sessions;
CREATE INDEX sso_sessions_connection ON sso_sessions(connection_id);
CREATE INDEX sso_sessions_organization ON sso_sessions(organization_id);
CREATE INDEX sso_sessions_authorize_request ON sso_sessions(authorize_request_id);
CREATE INDEX sso_sessions_callback_request ON sso_sessions(callback_request_id) WHERE callback_request_id IS NOT NULL;
CREATE INDEX sso_sessions_consent_request ON sso_sessions(consent_request_id) WHERE consent_request_id IS NOT NULL;
CREATE UNIQUE INDEX sso_sessions_tx_consent ON sso_sessions(tx_consent_hash) WHERE tx_consent_hash IS NOT NULL;
CREATE INDEX sso_sessions_tx_expires ON sso_sessions(tx_expires_at) WHERE tx_state_hash IS NOT NULL;
`,
  },
  {
    version: 11,
    name: 'operators, operator links, audit log',
    sql: `
-- The dashboard's operators (the app's team), their one-time links (kept by the SHA-256 hash of the token), and
-- the audit log of what they changed. The audit log has no foreign key: it outlives the operators it names.
CREATE TABLE operators (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  name TEXT,
  created_at TEXT NOT NULL,
  last_sign_in_at TEXT,
  disabled_at TEXT
);
CREATE TABLE operator_links (
  id TEXT PRIMARY KEY,
  token_hash TEXT NOT NULL UNIQUE,
  purpose TEXT NOT NULL CHECK (purpose IN ('bootstrap', 'invite', 'sign_in')),
  operator_id TEXT REFERENCES operators(id) ON DELETE CASCADE,
  email TEXT,
  created_by TEXT,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  used_at TEXT
);
CREATE INDEX operator_links_operator ON operator_links(operator_id) WHERE operator_id IS NOT NULL;
CREATE INDEX operator_links_expires ON operator_links(expires_at);
CREATE TABLE audit_log (
  id TEXT PRIMARY KEY,
  operator_id TEXT,
  operator_email TEXT,
  action TEXT NOT NULL,
  target_type TEXT,
  target_id TEXT,
  detail TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL
);
CREATE INDEX audit_log_operator ON audit_log(operator_id, id) WHERE operator_id IS NOT NULL;
CREATE INDEX audit_log_target ON audit_log(target_id, id) WHERE target_id IS NOT NULL;
`,
  },
  {
    version: 12,
    name: 'session log filters',
    sql: `
-- The dashboard's session log (issue 13) lists by connection, organization, outcome or failed stage, newest first,
-- a page at a time: each through an index in ID order, so a page reads its rows and stops. The connection and
-- organization indexes held the rowid after the key, not the ID, which left ORDER BY id to a sort of every
-- record of the connection.
DROP INDEX sso_sessions_connection;
CREATE INDEX sso_sessions_connection ON sso_sessions(connection_id, id);
DROP INDEX sso_sessions_organization;
CREATE INDEX sso_sessions_organization ON sso_sessions(organization_id, id);
CREATE INDEX sso_sessions_outcome ON sso_sessions(outcome, id);
CREATE INDEX sso_sessions_failed_stage ON sso_sessions(failed_stage, id) WHERE failed_stage IS NOT NULL;
`,
  },
  {
    version: 13,
    name: 'connection sign-in statistics',
    sql: `
-- The dashboard's connections page (issue 13): each connection's last successful and failed sign-in and its
-- sign-ins in the last 24 hours and 7 days (Store.connectionStats), from the entries of this index only: a seek
-- for each last, a range per outcome for each window. Never a scan of the session log.
CREATE INDEX sso_sessions_connection_outcome ON sso_sessions(connection_id, outcome, id) WHERE connection_id IS NOT NULL;
`,
  },
];
