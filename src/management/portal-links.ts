import { connectorFor } from '../connectors/registry.ts';
import { BrokerError } from '../errors/broker-error.ts';
import { newId } from '../lib/ids.ts';
import { randomToken, sha256 } from '../lib/tokens.ts';
import type { PortalLinkRecord } from '../storage/store.ts';
import type { ManagementDeps } from './deps.ts';
import { isEmail, objectBody, Validator } from './validate.ts';

/**
 * `POST /portal/generate_link` (design/workos-api.md §7.1), as `workos.adminPortal.generateLink()` sends it:
 * `{ organization, intent?, return_url?, success_url?, intent_options?: { sso: { provider_type?, bookmark_slug? } },
 * admin_emails? }` (and `it_contact_emails`, the API reference's name for the same list). Answers 201
 * `{ link }`: a one-time URL of the Admin Portal for that organization and intent, valid `PORTAL_LINK_TTL_MS` to
 * open. The link's token is 256 random bits; only its SHA-256 hash is stored.
 */

/** How long a link may wait before it is opened (WorkOS: 5 minutes). */
export const PORTAL_LINK_TTL_MS = 5 * 60 * 1000;

/** The intents WorkOS knows; Gatehouse serves the first two. */
export const SERVED_INTENTS = ['sso', 'domain_verification'] as const;
const KNOWN_INTENTS = new Set([
  ...SERVED_INTENTS,
  'dsync',
  'audit_logs',
  'log_streams',
  'certificate_renewal',
  'bring_your_own_key',
]);
const MAX_EMAILS = 20;

/** The connection types the portal can set up (it has a guide for each). */
export function portalConnectionType(type: string): boolean {
  const protocol = connectorFor(type)?.protocol;
  return protocol === 'saml' || protocol === 'oidc';
}

/** The portal's own URL of a link token (what `generate_link` returns). */
export function portalLinkUrl(publicUrl: string, token: string): string {
  return `${publicUrl}/portal/launch?token=${encodeURIComponent(token)}`;
}

function url(
  v: Validator,
  body: Record<string, unknown>,
  field: string,
  deps: ManagementDeps,
): string | null {
  const raw = v.string(body, field, { max: 2048 });
  if (!raw) return null;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    v.fail(field, 'must be an absolute URL');
    return null;
  }
  const local = ['localhost', '127.0.0.1', '[::1]'].includes(parsed.hostname);
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && (local || deps.allowInsecureHttp))) {
    v.fail(field, 'must be an https URL (http only on localhost)');
    return null;
  }
  if (parsed.username || parsed.password) {
    v.fail(field, 'must not carry a user name or password');
    return null;
  }
  return parsed.href;
}

function emails(v: Validator, body: Record<string, unknown>, field: string): string[] {
  const raw = body[field];
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    v.fail(field, 'must be a list of email addresses');
    return [];
  }
  if (raw.length > MAX_EMAILS) v.fail(field, `may hold at most ${MAX_EMAILS} addresses`);
  const out: string[] = [];
  for (const e of raw.slice(0, MAX_EMAILS)) {
    if (typeof e !== 'string' || !isEmail(e.trim())) v.fail(field, 'must hold email addresses only');
    else out.push(e.trim().toLowerCase());
  }
  return out;
}

export async function generatePortalLink(deps: ManagementDeps, rawBody: unknown): Promise<{ link: string }> {
  const body = objectBody(rawBody);
  const v = new Validator();
  const organization = v.string(body, 'organization', { required: true, max: 100 });
  const intent = v.string(body, 'intent', { max: 100 }) ?? 'sso';
  if (!KNOWN_INTENTS.has(intent)) {
    // Name only what is served: the other WorkOS intents would be refused too.
    v.fail('intent', `'${intent}' is not a known intent; supported: ${SERVED_INTENTS.join(', ')}`);
  } else if (!(SERVED_INTENTS as readonly string[]).includes(intent)) {
    v.fail(
      'intent',
      `'${intent}' is not served by Gatehouse's Admin Portal; supported: ${SERVED_INTENTS.join(', ')}`,
    );
  }
  const returnUrl = url(v, body, 'return_url', deps);
  const successUrl = url(v, body, 'success_url', deps);
  let providerType: string | null = null;
  const options = body.intent_options;
  if (options !== undefined && options !== null) {
    const sso =
      typeof options === 'object' && !Array.isArray(options) ? (options as { sso?: unknown }).sso : null;
    if (sso === null || (sso !== undefined && (typeof sso !== 'object' || Array.isArray(sso)))) {
      v.fail('intent_options', 'must be an object like { "sso": { "provider_type": "OktaSAML" } }');
    } else if (sso) {
      const type = v.string(sso as Record<string, unknown>, 'provider_type', { max: 100 });
      if (type && !portalConnectionType(type)) {
        v.fail('intent_options.sso.provider_type', 'must be a SAML or OIDC connection type');
      } else if (type) {
        providerType = type;
      }
    }
  }
  const adminEmails = [
    ...new Set([...emails(v, body, 'admin_emails'), ...emails(v, body, 'it_contact_emails')]),
  ];
  v.done();

  const org = await deps.store.getOrganization(organization as string);
  if (!org) throw new BrokerError('not_found', { message: `Organization '${organization}' not found.` });

  const token = randomToken(32);
  const createdAt = new Date();
  const link: Omit<PortalLinkRecord, 'openedAt'> = {
    id: newId('portal_link'),
    tokenHash: sha256(token),
    organizationId: org.id,
    intent: intent as PortalLinkRecord['intent'],
    returnUrl,
    successUrl,
    providerType,
    adminEmails,
    createdAt,
    expiresAt: new Date(createdAt.getTime() + PORTAL_LINK_TTL_MS),
  };
  await deps.store.createPortalLink(link);
  return { link: portalLinkUrl(deps.publicUrl, token) };
}
