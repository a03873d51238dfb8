import type { OptionsContext, ParsedOptions, SecretSealer } from '../connector.ts';

/**
 * OIDC connection options (`oidc_options`), as the management API takes them:
 * `{ issuer, client_id, client_secret, scopes? }`, or `discovery_endpoint` (WorkOS's name) instead of `issuer`.
 * Stored as `OidcConfig` with the client secret sealed.
 */
export interface OidcConfig {
  issuer?: string;
  clientId?: string;
  /** Sealed with the connection ID and field name. */
  clientSecret?: string;
  scopes: string[];
}

export const DEFAULT_SCOPES = ['openid', 'profile', 'email'];
const SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]+$/; // RFC 6749 §3.3 scope-token

/** Why `raw` cannot be an upstream base URL (an issuer, a provider origin), or null when it can. */
export function urlProblem(raw: string, allowInsecureHttp: boolean): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute URL, e.g. https://idp.example.com';
  }
  if (url.protocol !== 'https:' && !(allowInsecureHttp && url.protocol === 'http:')) {
    return allowInsecureHttp ? 'must be an http(s) URL' : 'must be an https URL';
  }
  if (url.search || url.hash) return 'must not contain a query or fragment';
  if (url.username || url.password) return 'must not contain credentials';
  return null;
}

export function parseOidcOptions(
  input: unknown,
  existing: Record<string, unknown> | undefined,
  sealer: SecretSealer,
  policy: OptionsContext,
): ParsedOptions {
  const errors: ParsedOptions['errors'] = [];
  const base = (existing ?? { scopes: DEFAULT_SCOPES }) as unknown as OidcConfig;
  const config: OidcConfig = { ...base, scopes: [...(base.scopes ?? DEFAULT_SCOPES)] };
  if (input !== undefined && (typeof input !== 'object' || input === null || Array.isArray(input))) {
    return {
      config: config as unknown as Record<string, unknown>,
      missing: [],
      errors: [{ field: 'oidc_options', message: 'must be an object' }],
    };
  }
  const o = (input ?? {}) as Record<string, unknown>;
  const known = new Set([
    'issuer',
    'discovery_endpoint',
    'client_id',
    'client_secret',
    'scopes',
    'redirect_uri',
  ]);
  for (const key of Object.keys(o)) {
    if (!known.has(key)) errors.push({ field: `oidc_options.${key}`, message: 'is not a known option' });
  }

  let issuer = o.issuer;
  if (o.discovery_endpoint !== undefined) {
    const d = o.discovery_endpoint;
    if (typeof d !== 'string' || !d.endsWith('/.well-known/openid-configuration')) {
      errors.push({
        field: 'oidc_options.discovery_endpoint',
        message: 'must be a URL ending in /.well-known/openid-configuration',
      });
    } else if (issuer !== undefined) {
      errors.push({
        field: 'oidc_options.discovery_endpoint',
        message: 'give either issuer or discovery_endpoint, not both',
      });
    } else {
      issuer = d.slice(0, -'/.well-known/openid-configuration'.length);
    }
  }
  if (issuer !== undefined) {
    const problem =
      typeof issuer === 'string' ? urlProblem(issuer, policy.allowInsecureHttp) : 'must be a string';
    if (problem) errors.push({ field: 'oidc_options.issuer', message: problem });
    // Stored exactly as given: discovery compares the document's `issuer` to it by string equality.
    else config.issuer = issuer as string;
  }
  Object.assign(config, parseClientCredentials(o, 'oidc_options', sealer, errors));
  if (o.scopes !== undefined) {
    if (!Array.isArray(o.scopes) || !o.scopes.every((s) => typeof s === 'string' && SCOPE.test(s))) {
      errors.push({ field: 'oidc_options.scopes', message: 'must be an array of scope tokens' });
    } else if (!o.scopes.includes('openid')) {
      errors.push({ field: 'oidc_options.scopes', message: 'must include "openid"' });
    } else config.scopes = [...new Set(o.scopes as string[])];
  }
  if (o.redirect_uri !== undefined) {
    errors.push({
      field: 'oidc_options.redirect_uri',
      message: 'is read-only: Gatehouse assigns the callback URL',
    });
  }

  const missing = missingOidcOptions(config as unknown as Record<string, unknown>);
  return { config: config as unknown as Record<string, unknown>, missing, errors };
}

/** Required options that are not set yet. */
export function missingOidcOptions(stored: Record<string, unknown>): string[] {
  const config = stored as unknown as OidcConfig;
  const missing: string[] = [];
  if (!config.issuer) missing.push('oidc_options.issuer');
  if (!config.clientId) missing.push('oidc_options.client_id');
  if (!config.clientSecret) missing.push('oidc_options.client_secret');
  return missing;
}

export function presentOidcOptions(
  config: Record<string, unknown>,
  callbackUrl: string,
): Record<string, unknown> {
  const c = config as unknown as OidcConfig;
  return {
    issuer: c.issuer ?? null,
    client_id: c.clientId ?? null,
    scopes: c.scopes ?? DEFAULT_SCOPES,
    redirect_uri: callbackUrl,
  };
}

/**
 * `client_id` and `client_secret` of `optionsKey` (OIDC and OAuth provider connections), when given: the ID as
 * it is, the secret sealed. A bad value is reported in `errors` and left out.
 */
export function parseClientCredentials(
  o: Record<string, unknown>,
  optionsKey: string,
  sealer: SecretSealer,
  errors: ParsedOptions['errors'],
): { clientId?: string; clientSecret?: string } {
  const out: { clientId?: string; clientSecret?: string } = {};
  if (o.client_id !== undefined) {
    if (typeof o.client_id !== 'string' || o.client_id.length === 0 || o.client_id.length > 512) {
      errors.push({
        field: `${optionsKey}.client_id`,
        message: 'must be a non-empty string of at most 512 characters',
      });
    } else out.clientId = o.client_id;
  }
  if (o.client_secret !== undefined) {
    if (
      typeof o.client_secret !== 'string' ||
      o.client_secret.length === 0 ||
      o.client_secret.length > 4096
    ) {
      errors.push({
        field: `${optionsKey}.client_secret`,
        message: 'must be a non-empty string of at most 4096 characters',
      });
    } else out.clientSecret = sealer.seal(o.client_secret, 'client_secret');
  }
  return out;
}
