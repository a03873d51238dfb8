/**
 * Every environment variable Gatehouse reads, with its documentation next to its default.
 * `docs/configuration.md` is generated from this table (`npm run docs`); a test keeps them in step.
 * Parsers throw a plain `Error` with a message that does not repeat the variable name; `load.ts` adds it.
 */

export interface VariableSpec<T> {
  readonly name: string;
  /** The default as a user reads it in the docs. */
  readonly defaultDoc: string;
  readonly description: string;
  /** Parse a raw value (already trimmed, never empty). */
  parse(raw: string): T;
}

function onOff(raw: string): boolean {
  const v = raw.toLowerCase();
  if (v === 'on' || v === 'true' || v === '1') return true;
  if (v === 'off' || v === 'false' || v === '0') return false;
  throw new Error(`must be "on" or "off", got "${raw}"`);
}

function integer(min: number, max: number) {
  return (raw: string): number => {
    if (!/^\d+$/.test(raw)) throw new Error(`must be a whole number, got "${raw}"`);
    const n = Number(raw);
    if (n < min || n > max) throw new Error(`must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

function httpUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`must be an absolute http(s) URL, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`must use http or https, got "${url.protocol}"`);
  }
  if (url.search || url.hash || url.username || url.password) {
    throw new Error('must not contain a query, fragment or credentials');
  }
  return url.href.replace(/\/+$/, '');
}

export type DatabaseConfig =
  | { kind: 'sqlite'; path: string; dataDir: string | null }
  | { kind: 'postgres'; url: string };

function databaseUrl(raw: string): DatabaseConfig {
  if (raw.startsWith('postgres://') || raw.startsWith('postgresql://')) {
    throw new Error(
      'PostgreSQL is not supported yet (it arrives in a later release); use sqlite:<path> or leave it unset for ./data/gatehouse.db',
    );
  }
  if (raw.startsWith('sqlite:')) {
    const path = raw.slice('sqlite:'.length);
    if (!path)
      throw new Error('sqlite: needs a file path, e.g. sqlite:./data/gatehouse.db, or sqlite::memory:');
    if (path === ':memory:') return { kind: 'sqlite', path, dataDir: null };
    return { kind: 'sqlite', path, dataDir: null };
  }
  throw new Error(`must start with sqlite: or postgres://, got "${raw.split(':')[0]}:..."`);
}

function secretKey(raw: string): Buffer {
  const hex = /^[0-9a-fA-F]{64}$/.test(raw) ? Buffer.from(raw, 'hex') : null;
  const key = hex ?? (/^[A-Za-z0-9_-]{43}=?$/.test(raw) ? Buffer.from(raw, 'base64url') : null);
  if (key?.length !== 32) {
    throw new Error('must be 32 random bytes as 64 hex characters or 43 base64url characters');
  }
  return key;
}

function apiKey(raw: string): string {
  if (!/^sk_[A-Za-z0-9_]{16,200}$/.test(raw)) {
    throw new Error('must look like sk_ followed by at least 16 letters, digits or underscores');
  }
  return raw;
}

function clientId(raw: string): string {
  if (!/^client_[A-Za-z0-9_]{4,120}$/.test(raw)) {
    throw new Error('must look like client_ followed by letters, digits or underscores');
  }
  return raw;
}

function uriList(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function logLevel(raw: string): string {
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  if (!levels.includes(raw)) throw new Error(`must be one of ${levels.join(', ')}`);
  return raw;
}

function host(raw: string): string {
  if (!/^[A-Za-z0-9.:_-]+$/.test(raw)) throw new Error(`is not a host name or IP address: "${raw}"`);
  return raw;
}

export const variables = {
  PORT: {
    name: 'PORT',
    defaultDoc: '`8080`',
    description: 'TCP port to listen on. `0` picks a free port.',
    parse: integer(0, 65535),
  },
  HOST: {
    name: 'HOST',
    defaultDoc: '`127.0.0.1`',
    description: 'Address to listen on. Use `0.0.0.0` (or `::`) behind a load balancer or in a container.',
    parse: host,
  },
  GATEHOUSE_PUBLIC_URL: {
    name: 'GATEHOUSE_PUBLIC_URL',
    defaultDoc: '`http://localhost:$PORT`',
    description:
      "The URL users' browsers reach Gatehouse at. Base of every callback URL given to identity providers and the `iss` value (RFC 9207) sent with authorization responses. Behind a load balancer, its URL.",
    parse: httpUrl,
  },
  GATEHOUSE_DATABASE_URL: {
    name: 'GATEHOUSE_DATABASE_URL',
    defaultDoc: '`sqlite:./data/gatehouse.db`',
    description:
      '`sqlite:<path>` (embedded, nothing to install; `sqlite::memory:` keeps everything in memory and loses it on exit). `postgres://…` is rejected until PostgreSQL support lands.',
    parse: databaseUrl,
  },
  GATEHOUSE_API_KEY: {
    name: 'GATEHOUSE_API_KEY',
    defaultDoc: 'generated on first start',
    description:
      'An API key (`sk_…`) for the management API and `/sso/token`. When set it is added on start (if missing) and kept. When unset and no key exists yet, one is generated and printed once.',
    parse: apiKey,
  },
  GATEHOUSE_CLIENT_ID: {
    name: 'GATEHOUSE_CLIENT_ID',
    defaultDoc: 'generated on first start',
    description:
      "The environment's client ID (`client_…`) that apps send to `/sso/authorize`. When set it replaces the stored one; when unset the stored (or a newly generated) one is used.",
    parse: clientId,
  },
  GATEHOUSE_REDIRECT_URIS: {
    name: 'GATEHOUSE_REDIRECT_URIS',
    defaultDoc: 'none',
    description:
      'Comma-separated redirect URIs added to the allowlist on start (existing ones are kept). The first becomes the default redirect URI.',
    parse: uriList,
  },
  GATEHOUSE_SIGNIN_CONSENT: {
    name: 'GATEHOUSE_SIGNIN_CONSENT',
    defaultDoc: '`on`',
    description:
      'Show the sign-in consent screen (the email the identity provider asserted, Approve/Deny) before returning to the app, as WorkOS does by default.',
    parse: onOff,
  },
  GATEHOUSE_LEGACY_DOMAIN_SELECTOR: {
    name: 'GATEHOUSE_LEGACY_DOMAIN_SELECTOR',
    defaultDoc: '`off`',
    description:
      'When `on`, the deprecated `domain` parameter of `/sso/authorize` selects the connection of the organization that has that verified domain. When `off`, it gets `domain_connection_selector_not_allowed`.',
    parse: onOff,
  },
  GATEHOUSE_SECRET_KEY: {
    name: 'GATEHOUSE_SECRET_KEY',
    defaultDoc: 'generated into the data directory',
    description:
      'Key that encrypts secrets at rest (identity provider client secrets, private keys): 32 random bytes as hex or base64url, e.g. `openssl rand -hex 32`. When unset, generated into `secret.key` beside the SQLite file. Every node of a deployment needs the same value.',
    parse: secretKey,
  },
  GATEHOUSE_ALLOW_PRIVATE_URLS: {
    name: 'GATEHOUSE_ALLOW_PRIVATE_URLS',
    defaultDoc: '`off`',
    description:
      'Gatehouse fetches URLs that customers supply (OIDC discovery, SAML metadata). By default it refuses loopback, private, link-local and other non-public addresses, and plain `http`, to prevent SSRF. `on` allows them: for development and tests only.',
    parse: onOff,
  },
  GATEHOUSE_UPSTREAM_TIMEOUT_MS: {
    name: 'GATEHOUSE_UPSTREAM_TIMEOUT_MS',
    defaultDoc: '`10000`',
    description:
      'Upper bound, in milliseconds, for each request Gatehouse makes to an identity provider (discovery, token, JWKS, userinfo, metadata).',
    parse: integer(100, 120000),
  },
  GATEHOUSE_SAML_MAX_BYTES: {
    name: 'GATEHOUSE_SAML_MAX_BYTES',
    defaultDoc: '`1048576` (1 MiB)',
    description:
      'Largest SAML response accepted at an ACS (the whole form post). Larger posts get HTTP 413 before any parsing.',
    parse: integer(10_000, 50 * 1024 * 1024),
  },
  GATEHOUSE_SAML_METADATA_REFRESH_MINUTES: {
    name: 'GATEHOUSE_SAML_METADATA_REFRESH_MINUTES',
    defaultDoc: '`360` (6 hours)',
    description:
      'How often SAML connections configured with `idp_metadata_url` re-fetch it, so that an IdP certificate rotation needs no action. A failed fetch keeps the previous metadata. `0` turns the schedule off (`POST /connections/{id}/refresh_metadata` still works).',
    parse: integer(0, 7 * 24 * 60),
  },
  GATEHOUSE_LOG_LEVEL: {
    name: 'GATEHOUSE_LOG_LEVEL',
    defaultDoc: '`info`',
    description:
      'Log level: `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`. Logs are JSON lines on stdout.',
    parse: logLevel,
  },
} as const satisfies Record<string, VariableSpec<unknown>>;

export type VariableName = keyof typeof variables;
