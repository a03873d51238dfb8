import type { OptionsContext, ParsedOptions, SecretSealer } from '../connector.ts';
import { parseClientCredentials, urlProblem } from '../oidc/config.ts';

/**
 * OAuth provider connection options (`oauth_options`), as the management API takes them:
 * `{ client_id, client_secret, base_url?, api_base_url? (GitHub), allowed_tenants? (Microsoft), scopes? }`.
 * Stored as `ProviderConfig` with the client secret sealed. `base_url` replaces the provider's origin (Google's
 * `https://accounts.google.com`, a sovereign Microsoft cloud, a GitHub Enterprise Server).
 */

export type ProviderType = 'GoogleOAuth' | 'MicrosoftOAuth' | 'GitHubOAuth';

export interface ProviderConfig {
  clientId?: string;
  /** Sealed with the connection ID and field name. */
  clientSecret?: string;
  /** Without a trailing slash; absent means the provider's public origin. */
  baseUrl?: string;
  /** GitHub only: the REST API's base, when it is not the default for `baseUrl`. */
  apiBaseUrl?: string;
  /** Microsoft only: the tenant IDs whose users may sign in; absent or empty means any tenant. */
  allowedTenants?: string[];
  /** Extra scopes requested on every sign-in, on top of the provider's defaults. */
  scopes?: string[];
}

/** What each provider is, before options. */
export interface ProviderDefaults {
  /** How the consent screen names the provider. */
  displayName: string;
  baseUrl: string;
  /** Always requested (what the profile needs). */
  scopes: string[];
}

export const PROVIDER_DEFAULTS: Record<ProviderType, ProviderDefaults> = {
  GoogleOAuth: {
    displayName: 'Google',
    baseUrl: 'https://accounts.google.com',
    scopes: ['openid', 'email', 'profile'],
  },
  MicrosoftOAuth: {
    displayName: 'Microsoft',
    baseUrl: 'https://login.microsoftonline.com',
    scopes: ['openid', 'email', 'profile', 'offline_access'],
  },
  GitHubOAuth: { displayName: 'GitHub', baseUrl: 'https://github.com', scopes: ['read:user', 'user:email'] },
};

export const GITHUB_API = 'https://api.github.com';
/** An Entra ID tenant ID (a GUID). */
const TENANT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]+$/; // RFC 6749 §3.3 scope-token

/** The provider's name for a connection type, or undefined when it is not an OAuth provider. */
export function providerDisplayName(connectionType: string): string | undefined {
  return Object.hasOwn(PROVIDER_DEFAULTS, connectionType)
    ? PROVIDER_DEFAULTS[connectionType as ProviderType].displayName
    : undefined;
}

/** The provider's origin, or `base_url`. */
export function baseUrlOf(type: ProviderType, config: ProviderConfig): string {
  return config.baseUrl ?? PROVIDER_DEFAULTS[type].baseUrl;
}

/** GitHub's REST API: `api_base_url`, else `{base_url}/api/v3` (GitHub Enterprise Server), else api.github.com. */
export function githubApiBase(config: ProviderConfig): string {
  return config.apiBaseUrl ?? (config.baseUrl ? `${config.baseUrl}/api/v3` : GITHUB_API);
}

export function providerScopes(type: ProviderType, config: ProviderConfig): string[] {
  return [...new Set([...PROVIDER_DEFAULTS[type].scopes, ...(config.scopes ?? [])])];
}

export function parseProviderOptions(
  type: ProviderType,
  input: unknown,
  existing: Record<string, unknown> | undefined,
  sealer: SecretSealer,
  policy: OptionsContext,
): ParsedOptions {
  const errors: ParsedOptions['errors'] = [];
  const config: ProviderConfig = { ...((existing ?? {}) as ProviderConfig) };
  if (input !== undefined && (typeof input !== 'object' || input === null || Array.isArray(input))) {
    return {
      config: config as Record<string, unknown>,
      missing: [],
      errors: [{ field: 'oauth_options', message: 'must be an object' }],
    };
  }
  const o = (input ?? {}) as Record<string, unknown>;
  const known = new Set(['client_id', 'client_secret', 'base_url', 'scopes', 'redirect_uri']);
  if (type === 'GitHubOAuth') known.add('api_base_url');
  if (type === 'MicrosoftOAuth') known.add('allowed_tenants');
  for (const key of Object.keys(o)) {
    if (!known.has(key)) {
      const only =
        key === 'api_base_url' ? 'GitHubOAuth' : key === 'allowed_tenants' ? 'MicrosoftOAuth' : null;
      errors.push({
        field: `oauth_options.${key}`,
        message: only ? `applies to ${only} connections only` : 'is not a known option',
      });
    }
  }

  Object.assign(config, parseClientCredentials(o, 'oauth_options', sealer, errors));
  for (const [key, field] of [
    ['base_url', 'baseUrl'],
    ['api_base_url', 'apiBaseUrl'],
  ] as const) {
    const value = o[key];
    if (value === undefined || !known.has(key)) continue;
    if (value === null) {
      delete config[field];
      continue;
    }
    const problem =
      typeof value === 'string' ? urlProblem(value, policy.allowInsecureHttp) : 'must be a string or null';
    if (problem) errors.push({ field: `oauth_options.${key}`, message: problem });
    else config[field] = (value as string).replace(/\/+$/, '');
  }
  if (o.allowed_tenants !== undefined && known.has('allowed_tenants')) {
    const t = o.allowed_tenants;
    if (
      t !== null &&
      (!Array.isArray(t) ||
        t.length > 100 ||
        !t.every((x) => typeof x === 'string' && TENANT_ID.test(x.toLowerCase())))
    ) {
      errors.push({
        field: 'oauth_options.allowed_tenants',
        message: 'must be an array of Entra ID tenant IDs (GUIDs), or null for any tenant',
      });
    } else if (t === null || t.length === 0) delete config.allowedTenants;
    else config.allowedTenants = [...new Set((t as string[]).map((x) => x.toLowerCase()))];
  }
  if (o.scopes !== undefined) {
    if (!Array.isArray(o.scopes) || !o.scopes.every((s) => typeof s === 'string' && SCOPE.test(s))) {
      errors.push({ field: 'oauth_options.scopes', message: 'must be an array of scope tokens' });
    } else config.scopes = [...new Set(o.scopes as string[])];
  }
  if (o.redirect_uri !== undefined) {
    errors.push({
      field: 'oauth_options.redirect_uri',
      message: 'is read-only: Gatehouse assigns the callback URL',
    });
  }
  return {
    config: config as Record<string, unknown>,
    missing: missingProviderOptions(config as Record<string, unknown>),
    errors,
  };
}

export function missingProviderOptions(stored: Record<string, unknown>): string[] {
  const config = stored as ProviderConfig;
  const missing: string[] = [];
  if (!config.clientId) missing.push('oauth_options.client_id');
  if (!config.clientSecret) missing.push('oauth_options.client_secret');
  return missing;
}

export function presentProviderOptions(
  type: ProviderType,
  stored: Record<string, unknown>,
  callbackUrl: string,
): Record<string, unknown> {
  const config = stored as ProviderConfig;
  return {
    client_id: config.clientId ?? null,
    base_url: baseUrlOf(type, config),
    ...(type === 'GitHubOAuth' ? { api_base_url: githubApiBase(config) } : {}),
    ...(type === 'MicrosoftOAuth' ? { allowed_tenants: config.allowedTenants ?? [] } : {}),
    scopes: providerScopes(type, config),
    redirect_uri: callbackUrl,
  };
}
