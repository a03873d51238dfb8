import type { UpstreamIdentity } from '../connectors/connector.ts';
import { BrokerError } from '../errors/broker-error.ts';
import { newId } from '../lib/ids.ts';
import type { ConnectionRecord, ProfileRecord, Store } from '../storage/store.ts';
import type { ConfigReader } from './config-cache.ts';

/**
 * From the IdP's identity to the WorkOS profile (design/workos-api.md §2), with the organization's domain
 * policy: the email's domain must be one of the organization's VERIFIED domains, unless the organization
 * allows profiles from outside it. On a connection without an organization (OAuth providers) the profile's
 * organization is the one that verified the email's domain, or null. The profile ID is stable per
 * (connection, IdP user).
 */

/** The WorkOS profile JSON as `/sso/token` and `/sso/profile` return it. */
export interface WorkosProfile {
  object: 'profile';
  id: string;
  idp_id: string;
  organization_id: string | null;
  connection_id: string;
  connection_type: string;
  email: string;
  first_name: string | null;
  last_name: string | null;
  name: string | null;
  role: null;
  groups: string[];
  custom_attributes: Record<string, unknown>;
  raw_attributes: Record<string, unknown>;
}

export function presentProfile(record: ProfileRecord): WorkosProfile {
  return { object: 'profile', id: record.id, ...(record.data as Omit<WorkosProfile, 'object' | 'id'>) };
}

/**
 * Applies the domain policy (reading organizations and domains through `config`, the per-node cache) and stores
 * the profile.
 * @throws BrokerError `profile_incomplete` (no email), `email_domain_not_allowed`.
 */
export async function saveProfile(
  store: Store,
  config: ConfigReader,
  connection: ConnectionRecord,
  identity: UpstreamIdentity,
): Promise<ProfileRecord> {
  return store.upsertProfile(await profileFor(config, connection, identity));
}

/**
 * The profile to store for this identity (its `id` is used only for a new profile), once the domain policy
 * allows it; nothing is written.
 * @throws BrokerError `profile_incomplete` (no email), `email_domain_not_allowed`.
 */
export async function profileFor(
  config: ConfigReader,
  connection: ConnectionRecord,
  identity: UpstreamIdentity,
): Promise<Omit<ProfileRecord, 'createdAt' | 'updatedAt'>> {
  if (!identity.idpId || !identity.email) {
    throw new BrokerError('profile_incomplete', {
      detail: {
        idp_id: identity.idpId || null,
        email: identity.email,
        attributes: Object.keys(identity.rawAttributes),
      },
    });
  }
  const email = identity.email;
  const domain = email
    .slice(email.lastIndexOf('@') + 1)
    .toLowerCase()
    .replace(/\.$/, '');
  let organizationId = connection.organizationId;
  if (!organizationId) {
    // An environment connection (OAuth provider, whose connectors return only verified emails): the user
    // belongs to the organization that verified their email's domain, if any.
    organizationId = (await config.findVerifiedDomain(domain))?.organizationId ?? null;
  } else {
    const org = await config.getOrganization(organizationId);
    if (org && !org.allowProfilesOutsideOrganization) {
      const verified = (await config.listDomains([org.id]))
        .filter((d) => d.state === 'verified')
        .map((d) => d.domain);
      if (!verified.includes(domain)) {
        throw new BrokerError('email_domain_not_allowed', {
          detail: { email_domain: domain, verified_domains: verified, organization: org.id },
        });
      }
    }
  }
  const data: Omit<WorkosProfile, 'object' | 'id'> = {
    idp_id: identity.idpId,
    organization_id: organizationId,
    connection_id: connection.id,
    connection_type: connection.connectionType,
    email,
    first_name: identity.firstName,
    last_name: identity.lastName,
    name: identity.name,
    role: null,
    groups: identity.groups,
    custom_attributes: {},
    raw_attributes: identity.rawAttributes,
  };
  return { id: newId('prof'), connectionId: connection.id, idpId: identity.idpId, data };
}
