import {
  type DatabaseConfig,
  type RateLimitSpec,
  type TrustProxy,
  type VariableName,
  variables,
} from './schema.ts';

export interface Config {
  port: number;
  host: string;
  /** Without a trailing slash. */
  publicUrl: string;
  database: DatabaseConfig;
  apiKey: string | null;
  clientId: string | null;
  redirectUris: string[];
  /** DNS servers for domain verification's TXT lookups; null: the system's. */
  dnsServers: string[] | null;
  signinConsent: boolean;
  /** The operators' dashboard (GATEHOUSE_DASHBOARD). */
  dashboard: boolean;
  legacyDomainSelector: boolean;
  /** null: read or generate `secret.key` in the data directory. */
  secretKey: Buffer | null;
  allowPrivateUrls: boolean;
  upstreamTimeoutMs: number;
  samlMaxBytes: number;
  samlMetadataRefreshMinutes: number;
  sessionLogRetentionDays: number;
  eventRetentionDays: number;
  /** Each limit, or null when it (or every limit, with GATEHOUSE_RATE_LIMITS=off) is off. */
  rateLimits: RateLimits;
  trustProxy: TrustProxy;
  migrateOnStart: boolean;
  logLevel: string;
  /** `GET /metrics`: off when neither the token nor the port is set. */
  metrics: MetricsConfig;
  webhooks: WebhooksConfig;
}

export interface WebhooksConfig {
  timeoutMs: number;
  /** Non-public networks (addresses, CIDRs) that endpoints may reach; empty: none. */
  allowPrivate: string[];
}

export interface MetricsConfig {
  /** Bearer token required for `/metrics` (on the metrics port if there is one, else on the main port). */
  token: string | null;
  /** A separate port that alone serves `/metrics`; null: the main port does (when a token is set). */
  port: number | null;
  host: string;
}

export interface RateLimits {
  authorizeConnection: RateLimitSpec | null;
  authorizeIp: RateLimitSpec | null;
  callbackConnection: RateLimitSpec | null;
  callbackIp: RateLimitSpec | null;
  tokenClient: RateLimitSpec | null;
  tokenIp: RateLimitSpec | null;
  apiKey: RateLimitSpec | null;
}

const PER_MINUTE = (limit: number): RateLimitSpec => ({ limit, windowMs: 60_000 });

/** A bad configuration value. The message names the variable, so start-up can print it as is. */
export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(`${variable} ${message}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

function read<N extends VariableName>(
  env: NodeJS.ProcessEnv,
  name: N,
): ReturnType<(typeof variables)[N]['parse']> | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return undefined;
  try {
    return variables[name].parse(raw) as ReturnType<(typeof variables)[N]['parse']>;
  } catch (err) {
    throw new ConfigError(name, (err as Error).message);
  }
}

/**
 * Builds the configuration from environment variables.
 * @throws ConfigError naming the first bad variable.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const port = read(env, 'PORT') ?? 8080;
  const database: DatabaseConfig = read(env, 'GATEHOUSE_DATABASE_URL') ?? {
    kind: 'sqlite',
    path: './data/gatehouse.db',
    dataDir: null,
  };
  if (database.kind === 'sqlite' && database.path !== ':memory:') {
    const slash = database.path.lastIndexOf('/');
    database.dataDir = slash >= 0 ? database.path.slice(0, slash) || '/' : '.';
  }
  const poolSize = read(env, 'GATEHOUSE_DATABASE_POOL_SIZE');
  if (database.kind === 'postgres' && poolSize !== undefined) database.poolSize = poolSize;
  const redirectUris = read(env, 'GATEHOUSE_REDIRECT_URIS') ?? [];
  return {
    port,
    host: read(env, 'HOST') ?? '127.0.0.1',
    publicUrl: read(env, 'GATEHOUSE_PUBLIC_URL') ?? `http://localhost:${port}`,
    database,
    apiKey: read(env, 'GATEHOUSE_API_KEY') ?? null,
    clientId: read(env, 'GATEHOUSE_CLIENT_ID') ?? null,
    redirectUris,
    dnsServers: read(env, 'GATEHOUSE_DNS_SERVERS') ?? null,
    signinConsent: read(env, 'GATEHOUSE_SIGNIN_CONSENT') ?? true,
    dashboard: read(env, 'GATEHOUSE_DASHBOARD') ?? true,
    legacyDomainSelector: read(env, 'GATEHOUSE_LEGACY_DOMAIN_SELECTOR') ?? false,
    secretKey: read(env, 'GATEHOUSE_SECRET_KEY') ?? null,
    allowPrivateUrls: read(env, 'GATEHOUSE_ALLOW_PRIVATE_URLS') ?? false,
    upstreamTimeoutMs: read(env, 'GATEHOUSE_UPSTREAM_TIMEOUT_MS') ?? 10_000,
    samlMaxBytes: read(env, 'GATEHOUSE_SAML_MAX_BYTES') ?? 512 * 1024,
    samlMetadataRefreshMinutes: read(env, 'GATEHOUSE_SAML_METADATA_REFRESH_MINUTES') ?? 360,
    sessionLogRetentionDays: read(env, 'GATEHOUSE_SESSION_LOG_RETENTION_DAYS') ?? 90,
    eventRetentionDays: read(env, 'GATEHOUSE_EVENT_RETENTION_DAYS') ?? 90,
    rateLimits: rateLimitsFrom(env),
    trustProxy: read(env, 'GATEHOUSE_TRUST_PROXY') ?? false,
    migrateOnStart: read(env, 'GATEHOUSE_MIGRATE_ON_START') ?? true,
    logLevel: read(env, 'GATEHOUSE_LOG_LEVEL') ?? 'info',
    metrics: metricsFrom(env, port),
    webhooks: {
      timeoutMs: read(env, 'GATEHOUSE_WEBHOOK_TIMEOUT_MS') ?? 10_000,
      allowPrivate: read(env, 'GATEHOUSE_WEBHOOK_ALLOW_PRIVATE') ?? [],
    },
  };
}

function metricsFrom(env: NodeJS.ProcessEnv, mainPort: number): MetricsConfig {
  const metrics: MetricsConfig = {
    token: read(env, 'GATEHOUSE_METRICS_TOKEN') ?? null,
    port: read(env, 'GATEHOUSE_METRICS_PORT') ?? null,
    host: read(env, 'GATEHOUSE_METRICS_HOST') ?? '127.0.0.1',
  };
  if (metrics.port !== null && metrics.port === mainPort) {
    throw new ConfigError('GATEHOUSE_METRICS_PORT', `must differ from PORT (${mainPort})`);
  }
  return metrics;
}

function rateLimitsFrom(env: NodeJS.ProcessEnv): RateLimits {
  const enabled = read(env, 'GATEHOUSE_RATE_LIMITS') ?? true;
  // Each variable is parsed (and a bad value reported) even when the limits are off.
  const limits: RateLimits = {
    authorizeConnection: orDefault(read(env, 'GATEHOUSE_RATE_LIMIT_AUTHORIZE_CONNECTION'), PER_MINUTE(1000)),
    authorizeIp: orDefault(read(env, 'GATEHOUSE_RATE_LIMIT_AUTHORIZE_IP'), PER_MINUTE(6000)),
    callbackConnection: orDefault(read(env, 'GATEHOUSE_RATE_LIMIT_CALLBACK_CONNECTION'), PER_MINUTE(1000)),
    callbackIp: orDefault(read(env, 'GATEHOUSE_RATE_LIMIT_CALLBACK_IP'), PER_MINUTE(6000)),
    tokenClient: orDefault(read(env, 'GATEHOUSE_RATE_LIMIT_TOKEN_CLIENT'), PER_MINUTE(6000)),
    tokenIp: orDefault(read(env, 'GATEHOUSE_RATE_LIMIT_TOKEN_IP'), PER_MINUTE(6000)),
    apiKey: orDefault(read(env, 'GATEHOUSE_RATE_LIMIT_API_KEY'), PER_MINUTE(6000)),
  };
  if (enabled) return limits;
  const off = { ...limits };
  for (const name of Object.keys(off) as (keyof RateLimits)[]) off[name] = null;
  return off;
}

/** `undefined` (unset) takes the default; `null` (`off`) stays off. */
function orDefault(value: RateLimitSpec | null | undefined, fallback: RateLimitSpec): RateLimitSpec | null {
  return value === undefined ? fallback : value;
}
