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
];
