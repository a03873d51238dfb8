import { UPSTREAM_FETCH_REASONS, UpstreamFetchError } from '../../lib/safe-fetch.ts';
import type { OptionsContext, ParsedOptions, SecretSealer } from '../connector.ts';
import { generateSpKeyPair, parseCertificate } from './keys.ts';
import { type IdpMetadata, parseIdpMetadata } from './metadata.ts';

/**
 * SAML connection options (`saml_options`), as the management API takes them. The IdP comes from exactly one
 * of: `idp_metadata_xml`; `idp_metadata_url` (fetched now, and again on a schedule so that certificate rotation
 * needs no action); or `idp_entity_id` + `idp_sso_url` + `idp_certificates`. Stored as `SamlConfig`, with the
 * SP's private keys sealed.
 */

export const PROFILE_FIELDS = ['idp_id', 'email', 'first_name', 'last_name', 'name', 'groups'] as const;
export type ProfileField = (typeof PROFILE_FIELDS)[number];

export interface SpKey {
  /** Sealed PKCS#8 PEM. */
  privateKey: string;
  certificate: string;
}

export interface SamlConfig {
  metadataUrl?: string;
  /** When the metadata URL was last fetched successfully (ISO). */
  metadataFetchedAt?: string;
  idpEntityId?: string;
  idpSsoUrl?: string;
  idpSsoBinding: 'redirect' | 'post';
  /** PEM; every one of them is trusted (rotation). */
  idpCertificates: string[];
  signAuthnRequests: boolean;
  encryptAssertions: boolean;
  clockSkewSeconds: number;
  idpInitiatedSsoEnabled: boolean;
  /** Attribute names that override the flavour's defaults, per profile field. */
  attributeMap: Partial<Record<ProfileField, string>>;
  allowSha1: boolean;
  spSigning?: SpKey;
  spEncryption?: SpKey;
}

const DEFAULTS: SamlConfig = {
  idpSsoBinding: 'redirect',
  idpCertificates: [],
  signAuthnRequests: false,
  encryptAssertions: false,
  clockSkewSeconds: 180,
  idpInitiatedSsoEnabled: true,
  attributeMap: {},
  allowSha1: false,
};

const KNOWN = new Set([
  'idp_metadata_xml',
  'idp_metadata_url',
  'idp_entity_id',
  'idp_sso_url',
  'idp_certificates',
  'sign_authn_requests',
  'encrypt_assertions',
  'clock_skew_seconds',
  'idp_initiated_sso_enabled',
  'attribute_map',
  'allow_sha1',
]);
const READ_ONLY = new Set([
  'acs_url',
  'sp_entity_id',
  'sp_metadata_url',
  'sp_signing_certificate',
  'sp_encryption_certificate',
  'idp_certificate_fingerprints',
  'metadata_fetched_at',
  'idp_sso_binding',
]);

/**
 * Fetches and parses an IdP metadata URL through the SSRF-guarded fetch. A failure to fetch is one of the guard's
 * fixed reasons (`could not be fetched: unreachable`, `… not allowed …`, `… timed out`, `… too large`) or
 * `answered HTTP <status>`: never the network error itself, whose host, port and errno would let an API-key
 * holder map the network (the fetch's raw error is for the server's log).
 */
export async function fetchIdpMetadata(
  url: string,
  fetch: OptionsContext['fetch'],
): Promise<{ ok: true; metadata: IdpMetadata } | { ok: false; problems: string[] }> {
  let text: string;
  try {
    // Redirects are followed here, one hop at a time, so that the SSRF guard checks every URL: inside fetch,
    // undici would follow them past the guard (which checks the URL it is given, and DNS names, not IP literals).
    let current = url;
    let res: Response;
    for (let hops = 0; ; hops++) {
      res = await fetch(current, {
        headers: { accept: 'application/samlmetadata+xml, application/xml, text/xml' },
        redirect: 'manual',
      });
      const location = res.status >= 300 && res.status < 400 ? res.headers.get('location') : null;
      if (!location) break;
      if (hops === 5) return { ok: false, problems: ['redirected more than 5 times'] };
      if (!URL.canParse(location, current)) return { ok: false, problems: ['redirected to an invalid URL'] };
      current = new URL(location, current).href;
    }
    if (!res.ok) return { ok: false, problems: [`answered HTTP ${res.status}`] };
    text = await res.text();
  } catch (err) {
    const reason = err instanceof UpstreamFetchError ? err.message : UPSTREAM_FETCH_REASONS.network;
    return { ok: false, problems: [`could not be fetched: ${reason}`] };
  }
  return parseIdpMetadata(text);
}

function urlProblem(raw: unknown, allowInsecureHttp: boolean): string | null {
  if (typeof raw !== 'string') return 'must be a string';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.protocol !== 'https:' && !(allowInsecureHttp && url.protocol === 'http:')) {
    return allowInsecureHttp ? 'must be an http(s) URL' : 'must be an https URL';
  }
  return null;
}

export async function parseSamlOptions(
  input: unknown,
  existing: Record<string, unknown> | undefined,
  sealer: SecretSealer,
  context: OptionsContext,
): Promise<ParsedOptions> {
  const base = (existing ?? DEFAULTS) as unknown as SamlConfig;
  const config: SamlConfig = { ...DEFAULTS, ...base, idpCertificates: [...(base.idpCertificates ?? [])] };
  const errors: ParsedOptions['errors'] = [];
  const fail = (field: string, message: string) => errors.push({ field: `saml_options.${field}`, message });
  if (input !== undefined && (typeof input !== 'object' || input === null || Array.isArray(input))) {
    return {
      config: config as unknown as Record<string, unknown>,
      missing: [],
      errors: [{ field: 'saml_options', message: 'must be an object' }],
    };
  }
  const o = (input ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (READ_ONLY.has(key)) fail(key, 'is read-only: Gatehouse sets it');
    else if (!KNOWN.has(key)) fail(key, 'is not a known option');
  }

  // Where the IdP's description comes from: exactly one source per request.
  const sources = ['idp_metadata_xml', 'idp_metadata_url'].filter((k) => o[k] !== undefined);
  const manual = ['idp_entity_id', 'idp_sso_url', 'idp_certificates'].some((k) => o[k] !== undefined);
  if (sources.length > 1 || (sources.length === 1 && manual)) {
    fail(
      sources[0] ?? 'idp_metadata_xml',
      'give one of idp_metadata_xml, idp_metadata_url, or idp_entity_id + idp_sso_url + idp_certificates',
    );
  } else if (o.idp_metadata_xml !== undefined) {
    const parsed =
      typeof o.idp_metadata_xml === 'string'
        ? parseIdpMetadata(o.idp_metadata_xml)
        : { ok: false as const, problems: ['must be a string'] };
    if (!parsed.ok) for (const p of parsed.problems) fail('idp_metadata_xml', p);
    else {
      applyMetadata(config, parsed.metadata);
      delete config.metadataUrl;
      delete config.metadataFetchedAt;
    }
  } else if (o.idp_metadata_url !== undefined) {
    const problem = urlProblem(o.idp_metadata_url, context.allowInsecureHttp);
    if (problem) fail('idp_metadata_url', problem);
    else {
      const fetched = await fetchIdpMetadata(o.idp_metadata_url as string, context.fetch);
      if (!fetched.ok) for (const p of fetched.problems) fail('idp_metadata_url', p);
      else {
        applyMetadata(config, fetched.metadata);
        config.metadataUrl = o.idp_metadata_url as string;
        config.metadataFetchedAt = new Date().toISOString();
      }
    }
  } else if (manual) {
    if (o.idp_entity_id !== undefined) {
      if (
        typeof o.idp_entity_id !== 'string' ||
        o.idp_entity_id.trim() === '' ||
        o.idp_entity_id.length > 1024
      ) {
        fail('idp_entity_id', 'must be a non-empty string of at most 1024 characters');
      } else config.idpEntityId = o.idp_entity_id.trim();
    }
    if (o.idp_sso_url !== undefined) {
      const problem = urlProblem(o.idp_sso_url, context.allowInsecureHttp);
      if (problem) fail('idp_sso_url', problem);
      else {
        config.idpSsoUrl = o.idp_sso_url as string;
        config.idpSsoBinding = 'redirect';
      }
    }
    if (o.idp_certificates !== undefined) {
      if (
        !Array.isArray(o.idp_certificates) ||
        o.idp_certificates.length === 0 ||
        o.idp_certificates.length > 10
      ) {
        fail('idp_certificates', 'must be an array of 1 to 10 PEM certificates');
      } else {
        const pems: string[] = [];
        o.idp_certificates.forEach((c, i) => {
          const parsed =
            typeof c === 'string' ? parseCertificate(c) : { ok: false as const, reason: 'must be a string' };
          if (!parsed.ok) fail(`idp_certificates[${i}]`, parsed.reason);
          else pems.push(parsed.pem);
        });
        config.idpCertificates = pems;
      }
    }
    // Manual settings replace a metadata source.
    delete config.metadataUrl;
    delete config.metadataFetchedAt;
  }

  for (const [key, field] of [
    ['sign_authn_requests', 'signAuthnRequests'],
    ['encrypt_assertions', 'encryptAssertions'],
    ['idp_initiated_sso_enabled', 'idpInitiatedSsoEnabled'],
    ['allow_sha1', 'allowSha1'],
  ] as const) {
    if (o[key] === undefined) continue;
    if (typeof o[key] !== 'boolean') fail(key, 'must be true or false');
    else config[field] = o[key] as boolean;
  }
  if (o.clock_skew_seconds !== undefined) {
    const v = o.clock_skew_seconds;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 600)
      fail('clock_skew_seconds', 'must be a whole number from 0 to 600');
    else config.clockSkewSeconds = v;
  }
  if (o.attribute_map !== undefined) {
    const map = o.attribute_map;
    if (typeof map !== 'object' || map === null || Array.isArray(map))
      fail('attribute_map', `must be an object with keys among ${PROFILE_FIELDS.join(', ')}`);
    else {
      const next: Partial<Record<ProfileField, string>> = {};
      for (const [k, v] of Object.entries(map)) {
        if (!(PROFILE_FIELDS as readonly string[]).includes(k))
          fail(`attribute_map.${k}`, `is not a profile field (${PROFILE_FIELDS.join(', ')})`);
        else if (typeof v !== 'string' || v.trim() === '' || v.length > 512)
          fail(`attribute_map.${k}`, 'must be an attribute name');
        else next[k as ProfileField] = v.trim();
      }
      config.attributeMap = next;
    }
  }

  // The SP's own keys, generated the first time they are needed and kept afterwards (turning signing or
  // encryption off and on again does not rotate them).
  if (errors.length === 0) {
    if (config.signAuthnRequests && !config.spSigning) {
      const pair = await generateSpKeyPair(`Gatehouse SAML signing ${context.label}`);
      config.spSigning = {
        privateKey: sealer.seal(pair.privateKey, 'sp_signing_key'),
        certificate: pair.certificate,
      };
    }
    if (config.encryptAssertions && !config.spEncryption) {
      const pair = await generateSpKeyPair(`Gatehouse SAML encryption ${context.label}`);
      config.spEncryption = {
        privateKey: sealer.seal(pair.privateKey, 'sp_encryption_key'),
        certificate: pair.certificate,
      };
    }
  }
  return {
    config: config as unknown as Record<string, unknown>,
    missing: missingSamlOptions(config as unknown as Record<string, unknown>),
    errors,
  };
}

function applyMetadata(config: SamlConfig, metadata: IdpMetadata): void {
  config.idpEntityId = metadata.entityId;
  config.idpSsoUrl = metadata.ssoUrl;
  config.idpSsoBinding = metadata.ssoBinding;
  config.idpCertificates = metadata.certificates;
}

export function missingSamlOptions(stored: Record<string, unknown>): string[] {
  const config = stored as unknown as SamlConfig;
  const missing: string[] = [];
  if (!config.idpEntityId) missing.push('saml_options.idp_entity_id');
  if (!config.idpSsoUrl) missing.push('saml_options.idp_sso_url');
  if (!config.idpCertificates?.length) missing.push('saml_options.idp_certificates');
  return missing;
}

/** Our URLs for a connection, from its ACS URL (`{publicUrl}/sso/saml/acs/{key}`). */
export function spUrls(acsUrl: string): { acsUrl: string; entityId: string; metadataUrl: string } {
  return {
    acsUrl,
    entityId: acsUrl.replace('/sso/saml/acs/', '/sso/saml/sp/'),
    metadataUrl: acsUrl.replace('/sso/saml/acs/', '/sso/saml/metadata/'),
  };
}

export function presentSamlOptions(stored: Record<string, unknown>, acsUrl: string): Record<string, unknown> {
  const c = { ...DEFAULTS, ...(stored as unknown as SamlConfig) };
  const urls = spUrls(acsUrl);
  return {
    acs_url: urls.acsUrl,
    sp_entity_id: urls.entityId,
    sp_metadata_url: urls.metadataUrl,
    idp_entity_id: c.idpEntityId ?? null,
    idp_sso_url: c.idpSsoUrl ?? null,
    idp_sso_binding: c.idpSsoBinding,
    idp_metadata_url: c.metadataUrl ?? null,
    metadata_fetched_at: c.metadataFetchedAt ?? null,
    idp_certificate_fingerprints: c.idpCertificates.map((pem) => {
      const parsed = parseCertificate(pem);
      return parsed.ok ? { sha256: parsed.fingerprint, not_after: parsed.notAfter.toISOString() } : null;
    }),
    sign_authn_requests: c.signAuthnRequests,
    encrypt_assertions: c.encryptAssertions,
    clock_skew_seconds: c.clockSkewSeconds,
    idp_initiated_sso_enabled: c.idpInitiatedSsoEnabled,
    attribute_map: c.attributeMap,
    allow_sha1: c.allowSha1,
    sp_signing_certificate: c.spSigning?.certificate ?? null,
    sp_encryption_certificate: c.spEncryption?.certificate ?? null,
  };
}

/** Re-fetches `idp_metadata_url`; null when the connection was not configured from a URL. */
export async function refreshSamlMetadata(
  stored: Record<string, unknown>,
  context: OptionsContext,
): Promise<Record<string, unknown> | null> {
  const config = { ...(stored as unknown as SamlConfig) };
  if (!config.metadataUrl) return null;
  const fetched = await fetchIdpMetadata(config.metadataUrl, context.fetch);
  if (!fetched.ok) throw new Error(`idp_metadata_url ${fetched.problems.join('; ')}`);
  applyMetadata(config, fetched.metadata);
  config.metadataFetchedAt = new Date().toISOString();
  return config as unknown as Record<string, unknown>;
}
