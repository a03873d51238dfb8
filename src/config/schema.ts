import { isIP } from 'node:net';

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

function dnsServers(raw: string): string[] {
  const servers = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const server of servers) {
    if (!/^(\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?|\[[0-9a-fA-F:]+\](:\d{1,5})?|[0-9a-fA-F:]+)$/.test(server)) {
      throw new Error(
        `must be IP addresses, optionally with a port (1.1.1.1, 10.0.0.2:5353, [::1]:53), got "${server}"`,
      );
    }
  }
  if (servers.length === 0) throw new Error('must name at least one server');
  return servers;
}

export type DatabaseConfig =
  | { kind: 'sqlite'; path: string; dataDir: string | null }
  /** `poolSize` comes from GATEHOUSE_DATABASE_POOL_SIZE (`load.ts`). */
  | { kind: 'postgres'; url: string; poolSize: number };

function databaseUrl(raw: string): DatabaseConfig {
  if (raw.startsWith('postgres://') || raw.startsWith('postgresql://')) {
    // Messages never repeat the URL: it may hold a password.
    const q = raw.indexOf('?');
    const schema = q < 0 ? null : new URLSearchParams(raw.slice(q + 1)).get('schema');
    if (schema !== null && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
      throw new Error(
        `schema must be lower-case letters, digits and _ (at most 63 characters), got "${schema}"`,
      );
    }
    return { kind: 'postgres', url: raw, poolSize: 10 };
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

/** A rate limit: `count/window`, e.g. `1000/60s`, `100/1m`; null for `off`. */
export interface RateLimitSpec {
  limit: number;
  windowMs: number;
}

function rateLimit(raw: string): RateLimitSpec | null {
  if (raw.toLowerCase() === 'off') return null;
  const m = /^(\d{1,9})\/(\d{1,6})(s|m|h)$/.exec(raw);
  if (!m) throw new Error(`must be "<count>/<window>" such as "1000/60s" or "50/1m", or "off"; got "${raw}"`);
  const limit = Number(m[1]);
  const windowMs = Number(m[2]) * { s: 1000, m: 60_000, h: 3_600_000 }[m[3] as 's' | 'm' | 'h'];
  if (limit < 1) throw new Error('must allow at least 1 request');
  if (windowMs < 1000 || windowMs > 24 * 3_600_000) throw new Error('window must be between 1s and 24h');
  return { limit, windowMs };
}

/** Fastify's `trustProxy`: off, on (every hop), a hop count, or the proxies' addresses/CIDRs. */
export type TrustProxy = boolean | number | string[];

function trustProxy(raw: string): TrustProxy {
  const v = raw.toLowerCase();
  if (v === 'off' || v === 'false') return false;
  if (v === 'on' || v === 'true') return true;
  if (/^\d{1,2}$/.test(v)) return Number(v);
  const list = raw.split(',').map((s) => s.trim());
  if (list.some((s) => !/^[0-9A-Fa-f.:]+(\/\d{1,3})?$/.test(s))) {
    throw new Error(
      `must be "off", "on", a number of proxy hops, or comma-separated proxy IPs/CIDRs; got "${raw}"`,
    );
  }
  return list;
}

/** A bearer token an operator chose (RFC 6750 `b64token` characters), long enough not to be guessed. */
function bearerToken(raw: string): string {
  if (!/^[A-Za-z0-9._~+/-]{32,512}=*$/.test(raw)) {
    throw new Error(
      'must be at least 32 letters, digits or -._~+/ (e.g. the output of `openssl rand -hex 32`)',
    );
  }
  return raw;
}

/** Comma-separated IP addresses and CIDR networks (`10.0.0.0/8`, `fd00::/8`, `127.0.0.1`). */
function networkList(raw: string): string[] {
  const list = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const entry of list) {
    const [address = '', prefix, extra] = entry.split('/');
    const family = isIP(address);
    const max = family === 4 ? 32 : 128;
    if (
      family === 0 ||
      extra !== undefined ||
      (prefix !== undefined && !/^\d{1,3}$/.test(prefix)) ||
      Number(prefix ?? 0) > max
    ) {
      throw new Error(
        `must be IP addresses or CIDR networks (10.0.0.0/8, fd00::/8, 127.0.0.1), got "${entry}"`,
      );
    }
  }
  if (list.length === 0) throw new Error('must name at least one network');
  return list;
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
      '`sqlite:<path>`: embedded, nothing to install, one node (`sqlite::memory:` keeps everything in memory and loses it on exit). `postgres://user:password@host:5432/database` (or `postgresql://`): PostgreSQL, for several nodes on one database; needs `GATEHOUSE_SECRET_KEY`. Tables are created on start (nodes starting together take turns). libpq URL parameters such as `sslmode=require` apply; `?schema=<name>` keeps the tables in that schema (created if missing) instead of the default `public`. On PostgreSQL a statement fails after 30 s (e.g. behind a lock another client holds) unless the URL sets its own (`options=-c statement_timeout=…`).',
    parse: databaseUrl,
  },
  GATEHOUSE_DATABASE_POOL_SIZE: {
    name: 'GATEHOUSE_DATABASE_POOL_SIZE',
    defaultDoc: '`10`',
    description:
      "PostgreSQL only: connections each node keeps open to the database. Requests wait for a free one (at most 10 s). Mind the server's `max_connections` across all nodes.",
    parse: integer(1, 1000),
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
  GATEHOUSE_DNS_SERVERS: {
    name: 'GATEHOUSE_DNS_SERVERS',
    defaultDoc: "the system's resolvers",
    description:
      'Comma-separated DNS servers (`ip` or `ip:port`) that domain verification asks for TXT records (the Admin Portal and `POST /organization_domains/{id}/verify`).',
    parse: dnsServers,
  },
  GATEHOUSE_DASHBOARD: {
    name: 'GATEHOUSE_DASHBOARD',
    defaultDoc: '`on`',
    description:
      "The operators' dashboard at `/dashboard/` (docs/dashboard.md). `off` removes it: no route answers under `/dashboard/`.",
    parse: onOff,
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
      'Key that encrypts secrets at rest (identity provider client secrets, private keys): 32 random bytes as hex or base64url, e.g. `openssl rand -hex 32`. When unset, generated into `secret.key` beside the SQLite file; required with PostgreSQL. Every node of a deployment needs the same value.',
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
  GATEHOUSE_WEBHOOK_TIMEOUT_MS: {
    name: 'GATEHOUSE_WEBHOOK_TIMEOUT_MS',
    defaultDoc: '`10000`',
    description:
      'Upper bound, in milliseconds, of one webhook delivery attempt: connection, request and the response status. A receiver that takes longer fails the attempt (`timeout`), which is retried on the schedule of docs/events-webhooks.md.',
    parse: integer(100, 120000),
  },
  GATEHOUSE_WEBHOOK_ALLOW_PRIVATE: {
    name: 'GATEHOUSE_WEBHOOK_ALLOW_PRIVATE',
    defaultDoc: 'none',
    description:
      'Comma-separated IP addresses and CIDR networks (`10.0.0.0/8`, `fd00::/8`, `127.0.0.1`) that webhook endpoints may reach although they are not public, over `https` or plain `http`: receivers on your own network. Every other endpoint must be an `https` URL of a public address, checked when it is saved and at every delivery (a name that later resolves elsewhere is refused then). `GATEHOUSE_ALLOW_PRIVATE_URLS` does not apply to webhooks.',
    parse: networkList,
  },
  GATEHOUSE_SAML_MAX_BYTES: {
    name: 'GATEHOUSE_SAML_MAX_BYTES',
    defaultDoc: '`524288` (512 KiB)',
    description:
      "Largest SAML response accepted at an ACS (the whole form post). Larger posts get HTTP 413 before any parsing. A response carrying 2 000 group names in Okta's format (a namespace declaration on every value) is ~510 KiB; 150 groups (where Entra ID stops listing them) ~45 KiB.",
    parse: integer(10_000, 50 * 1024 * 1024),
  },
  GATEHOUSE_SAML_METADATA_REFRESH_MINUTES: {
    name: 'GATEHOUSE_SAML_METADATA_REFRESH_MINUTES',
    defaultDoc: '`360` (6 hours)',
    description:
      'How often SAML connections configured with `idp_metadata_url` re-fetch it, so that an IdP certificate rotation needs no action. A failed fetch keeps the previous metadata. `0` turns the schedule off (`POST /connections/{id}/refresh_metadata` still works).',
    parse: integer(0, 7 * 24 * 60),
  },
  GATEHOUSE_SESSION_LOG_RETENTION_DAYS: {
    name: 'GATEHOUSE_SESSION_LOG_RETENTION_DAYS',
    defaultDoc: '`90`',
    description:
      'Days the session log (`GET /sso/sessions`, one record per sign-in attempt) keeps a record; older ones are deleted every 5 minutes, in batches. `0` keeps them for ever. Profiles, organizations and connections are not affected.',
    parse: integer(0, 36_500),
  },
  GATEHOUSE_EVENT_RETENTION_DAYS: {
    name: 'GATEHOUSE_EVENT_RETENTION_DAYS',
    defaultDoc: '`90`',
    description:
      'Days events (`GET /events`: sign-ins, connection, organization and domain changes, certificate expiry) are kept; older ones are deleted every 5 minutes, in batches. `0` keeps them for ever. A certificate renewal reminder is sent within this many days of its threshold only, so that it is sent once: below 60 days, a certificate first seen well inside a threshold may get no reminder for it (docs/events-webhooks.md).',
    parse: integer(0, 36_500),
  },
  GATEHOUSE_MIGRATE_ON_START: {
    name: 'GATEHOUSE_MIGRATE_ON_START',
    defaultDoc: '`on`',
    description:
      'Apply pending database migrations when the server starts (nodes starting together take turns: PostgreSQL advisory lock). `off` leaves it to `npm run migrate`, e.g. as a deploy step before new nodes start.',
    parse: onOff,
  },
  GATEHOUSE_RATE_LIMITS: {
    name: 'GATEHOUSE_RATE_LIMITS',
    defaultDoc: '`on`',
    description:
      'Master switch for the rate limits below. `off` turns them all off (benchmarks use it). Limits are counted in the store, so every node of a deployment shares them (PostgreSQL; with SQLite, in memory).',
    parse: onOff,
  },
  GATEHOUSE_RATE_LIMIT_AUTHORIZE_CONNECTION: {
    name: 'GATEHOUSE_RATE_LIMIT_AUTHORIZE_CONNECTION',
    defaultDoc: '`1000/60s` (WorkOS)',
    description:
      '`/sso/authorize` requests per connection: `<count>/<window>` (`s`, `m` or `h`), or `off`. Over it, the app gets `error=temporarily_unavailable`.',
    parse: rateLimit,
  },
  GATEHOUSE_RATE_LIMIT_AUTHORIZE_IP: {
    name: 'GATEHOUSE_RATE_LIMIT_AUTHORIZE_IP',
    defaultDoc: '`6000/60s` (WorkOS)',
    description:
      "`/sso/authorize` requests per client IP address (IPv6: per /64, the block one host or site is given). Over it: `error=temporarily_unavailable` to the app once its redirect URI is verified, an HTTP 429 page before. Behind a load balancer, set `GATEHOUSE_TRUST_PROXY` so that the address is the browser's, not the balancer's.",
    parse: rateLimit,
  },
  GATEHOUSE_RATE_LIMIT_CALLBACK_CONNECTION: {
    name: 'GATEHOUSE_RATE_LIMIT_CALLBACK_CONNECTION',
    defaultDoc: "`1000/60s` (authorize's)",
    description:
      'Requests per connection at its callback URLs (the SAML ACS `POST /sso/saml/acs/:key`, `GET /sso/oidc/callback/:key`, `GET /sso/oauth/callback/:key`), counted once the address is within its limit, and only when the key names a connection (made-up keys create no counter). Over it: an HTTP 429 page with `Retry-After`, before the request body is read.',
    parse: rateLimit,
  },
  GATEHOUSE_RATE_LIMIT_CALLBACK_IP: {
    name: 'GATEHOUSE_RATE_LIMIT_CALLBACK_IP',
    defaultDoc: '`6000/60s` (WorkOS)',
    description:
      'Requests per client IP address (IPv6: per /64) at the callback URLs (the SAML ACS and the OIDC and OAuth callbacks), valid or not, counted before anything else: over it, an HTTP 429 page with `Retry-After`, before the request body is read or parsed.',
    parse: rateLimit,
  },
  GATEHOUSE_RATE_LIMIT_TOKEN_CLIENT: {
    name: 'GATEHOUSE_RATE_LIMIT_TOKEN_CLIENT',
    defaultDoc: '`6000/60s`',
    description:
      '`POST /sso/token` requests per client ID, counted only once the caller is authenticated (its API key checked) or, for a public client (PKCE, no secret), once its code is found: a caller without the key or a code cannot use it up. Over it: HTTP 429 with `Retry-After` (the SDK waits and retries).',
    parse: rateLimit,
  },
  GATEHOUSE_RATE_LIMIT_TOKEN_IP: {
    name: 'GATEHOUSE_RATE_LIMIT_TOKEN_IP',
    defaultDoc: '`6000/60s` (WorkOS)',
    description:
      '`POST /sso/token` requests that fail before they count for the client (a wrong or missing API key, an unknown client ID or code, a malformed request), per client IP address (IPv6: per /64). Over it, such a request gets HTTP 429 `rate_limit_exceeded` with `Retry-After` instead of its error; an authenticated request from the same address still goes through.',
    parse: rateLimit,
  },
  GATEHOUSE_RATE_LIMIT_API_KEY: {
    name: 'GATEHOUSE_RATE_LIMIT_API_KEY',
    defaultDoc: '`6000/60s` (WorkOS)',
    description:
      'Management API requests per API key. Over it: HTTP 429 `{message, code: "rate_limit_exceeded"}` with `Retry-After`.',
    parse: rateLimit,
  },
  GATEHOUSE_TRUST_PROXY: {
    name: 'GATEHOUSE_TRUST_PROXY',
    defaultDoc: '`off`',
    description:
      'Whether the client address comes from `X-Forwarded-For`: `off` (the TCP peer), `on` (trust every hop: only when every request comes through your proxies), a number of proxy hops, or comma-separated proxy IPs/CIDRs. Used by the per-IP rate limits and the logs.',
    parse: trustProxy,
  },
  GATEHOUSE_LOG_LEVEL: {
    name: 'GATEHOUSE_LOG_LEVEL',
    defaultDoc: '`info`',
    description:
      'Log level: `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`. Logs are JSON lines on stdout. `info` logs every request in one line when it is answered (request ID, method, the URL without the values of codes, states, login hints, tokens and SAML messages, client address, status, milliseconds: docs/operations.md); logging at `info` measured about 15% of the `/sso/authorize` throughput of a busy node when it wrote two lines per request (bench/README.md). `warn` keeps failures and problems only.',
    parse: logLevel,
  },
  GATEHOUSE_METRICS_TOKEN: {
    name: 'GATEHOUSE_METRICS_TOKEN',
    defaultDoc: 'none',
    description:
      'Serves Prometheus metrics at `GET /metrics` to requests that send this token as `Authorization: Bearer <token>` (others get 401). At least 32 characters, e.g. `openssl rand -hex 32`. With `GATEHOUSE_METRICS_PORT` set, the token is required on that port instead. With neither set, `/metrics` answers 404. docs/operations.md lists the metrics.',
    parse: bearerToken,
  },
  GATEHOUSE_METRICS_PORT: {
    name: 'GATEHOUSE_METRICS_PORT',
    defaultDoc: 'none',
    description:
      'Serves `GET /metrics` on this port of `GATEHOUSE_METRICS_HOST` only, and no longer on the main port: for a scraper that reaches a port the public does not. Needs no token unless `GATEHOUSE_METRICS_TOKEN` is also set. Must differ from `PORT`.',
    parse: integer(1, 65535),
  },
  GATEHOUSE_METRICS_HOST: {
    name: 'GATEHOUSE_METRICS_HOST',
    defaultDoc: '`127.0.0.1`',
    description:
      'Address the metrics port (`GATEHOUSE_METRICS_PORT`) listens on: this machine only by default; `0.0.0.0` (or `::`) for a scraper elsewhere, e.g. in another container of the pod network.',
    parse: host,
  },
} as const satisfies Record<string, VariableSpec<unknown>>;

export type VariableName = keyof typeof variables;
