import { BrokerError } from '../errors/broker-error.ts';
import {
  connectionEvent,
  domainEvent,
  domainVerificationFailedEvent,
  organizationEvent,
} from '../events/build.ts';
import { newId } from '../lib/ids.ts';
import { randomToken } from '../lib/tokens.ts';
import {
  AlreadyExistsError,
  type NewDomain,
  type NewEvent,
  NotFoundError,
  type OrganizationDomainRecord,
  type OrganizationPatch,
  type OrganizationRecord,
} from '../storage/store.ts';
import { presentConnection } from './connections.ts';
import type { ManagementDeps } from './deps.ts';
import { listResponse, parsePage } from './pagination.ts';
import { normalizeDomain, objectBody, Validator } from './validate.ts';

/**
 * Organizations and organization domains, in the shapes `@workos-inc/node` v11 sends and parses
 * (design/workos-api.md §4). Only verified domains count for sign-in rules.
 */

/** TXT record name prefix for DNS domain verification: `<prefix>.<domain>`. */
export const VERIFICATION_PREFIX = '_gatehouse-verification';

export function presentDomain(d: OrganizationDomainRecord) {
  return {
    object: 'organization_domain' as const,
    id: d.id,
    organization_id: d.organizationId,
    domain: d.domain,
    state: d.state,
    verification_strategy: d.verificationStrategy,
    ...(d.verificationToken
      ? { verification_token: d.verificationToken, verification_prefix: VERIFICATION_PREFIX }
      : {}),
    created_at: d.createdAt.toISOString(),
    updated_at: d.updatedAt.toISOString(),
  };
}

export function presentOrganization(o: OrganizationRecord, domains: OrganizationDomainRecord[]) {
  return {
    object: 'organization' as const,
    id: o.id,
    name: o.name,
    allow_profiles_outside_organization: o.allowProfilesOutsideOrganization,
    domains: domains.filter((d) => d.organizationId === o.id).map(presentDomain),
    // WorkOS omits stripe_customer_id when unset; the SDK maps it only when present.
    ...(o.stripeCustomerId ? { stripe_customer_id: o.stripeCustomerId } : {}),
    external_id: o.externalId,
    metadata: o.metadata,
    created_at: o.createdAt.toISOString(),
    updated_at: o.updatedAt.toISOString(),
  };
}

function conflict(err: unknown): never {
  if (err instanceof AlreadyExistsError) {
    if (err.constraint === 'organization.external_id') throw new BrokerError('external_id_taken');
    if (err.constraint === 'organization_domain.verified_domain') throw new BrokerError('domain_taken');
  }
  throw err;
}

/**
 * The organization's domains once a write that lists `wanted` (undefined: leaves them alone) has run at `at`,
 * as the store applies such a list (updateOrganization): a listed domain keeps its row and takes the listed
 * state, the others go, new ones are added. For the events the write carries, built before it commits.
 */
function domainsAfter(
  organizationId: string,
  existing: OrganizationDomainRecord[],
  wanted: NewDomain[] | undefined,
  at: Date,
): OrganizationDomainRecord[] {
  if (!wanted) return existing;
  const byName = new Map(wanted.map((d) => [d.domain, d]));
  const kept = existing.flatMap((e) => {
    const w = byName.get(e.domain);
    byName.delete(e.domain);
    if (!w) return [];
    return [w.state === e.state ? e : { ...e, state: w.state, updatedAt: at }];
  });
  const added = [...byName.values()].map((d) => ({ ...d, organizationId, createdAt: at, updatedAt: at }));
  return [...kept, ...added].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * The events of an organization write: the organization (with its domains), then each domain that was added
 * (`created`), became verified (`verified`) or went (`deleted`).
 */
function organizationWriteEvents(
  name: 'organization.created' | 'organization.updated',
  org: OrganizationRecord,
  before: OrganizationDomainRecord[],
  after: OrganizationDomainRecord[],
): NewEvent[] {
  const old = new Map(before.map((d) => [d.id, d]));
  const events = [organizationEvent(name, presentOrganization(org, after))];
  for (const d of after) {
    const was = old.get(d.id);
    old.delete(d.id);
    if (!was) events.push(domainEvent('organization_domain.created', presentDomain(d)));
    else if (d.state === 'verified' && was.state !== 'verified')
      events.push(domainEvent('organization_domain.verified', presentDomain(d)));
  }
  for (const d of old.values()) events.push(domainEvent('organization_domain.deleted', presentDomain(d)));
  return events;
}

/** `domain_data: [{domain, state}]` (and the deprecated `domains: string[]`, taken as verified). */
function parseDomains(v: Validator, body: Record<string, unknown>): NewDomain[] | undefined {
  const out = new Map<string, NewDomain>();
  const add = (field: string, raw: unknown, state: unknown) => {
    const n = normalizeDomain(raw);
    if (!n.ok) return v.fail(`${field}.domain`, n.reason);
    if (state !== 'verified' && state !== 'pending')
      return v.fail(`${field}.state`, 'must be "verified" or "pending"');
    if (out.has(n.domain)) return v.fail(`${field}.domain`, `lists "${n.domain}" twice`);
    out.set(n.domain, {
      id: newId('org_domain'),
      domain: n.domain,
      state,
      verificationStrategy: state === 'verified' ? 'manual' : 'dns',
      verificationToken: state === 'verified' ? null : randomToken(18),
    });
  };
  if (body.domain_data !== undefined) {
    if (!Array.isArray(body.domain_data)) v.fail('domain_data', 'must be an array of {domain, state}');
    else {
      for (const [i, d] of body.domain_data.entries()) {
        if (typeof d !== 'object' || d === null)
          v.fail(`domain_data[${i}]`, 'must be an object {domain, state}');
        else
          add(
            `domain_data[${i}]`,
            (d as Record<string, unknown>).domain,
            (d as Record<string, unknown>).state,
          );
      }
    }
  } else if (body.domains !== undefined) {
    if (!Array.isArray(body.domains)) v.fail('domains', 'must be an array of domain names');
    else for (const [i, d] of body.domains.entries()) add(`domains[${i}]`, d, 'verified');
  } else {
    return undefined;
  }
  return [...out.values()];
}

export async function createOrganization(deps: ManagementDeps, rawBody: unknown) {
  const body = objectBody(rawBody);
  const v = new Validator();
  const name = v.string(body, 'name', { required: true, max: 255 });
  const externalId = v.string(body, 'external_id', { max: 128, nullable: true });
  const metadata = v.metadata(body, 'metadata');
  const allowOutside = v.boolean(body, 'allow_profiles_outside_organization');
  const stripe = v.string(body, 'stripe_customer_id', { max: 255, nullable: true });
  const domains = parseDomains(v, body) ?? [];
  v.done();
  const org = await deps.store
    .createOrganization(
      {
        id: newId('org'),
        name: name as string,
        externalId: externalId || null,
        allowProfilesOutsideOrganization: allowOutside ?? false,
        metadata: metadata ?? {},
        stripeCustomerId: stripe || null,
      },
      domains,
      (created) =>
        organizationWriteEvents(
          'organization.created',
          created,
          [],
          domainsAfter(created.id, [], domains, created.createdAt),
        ),
    )
    .catch(conflict);
  return presentOrganization(org, await deps.store.listDomains([org.id]));
}

async function present(deps: ManagementDeps, org: OrganizationRecord | null, what: string) {
  if (!org) throw new BrokerError('not_found', { message: `Organization ${what} not found.` });
  return presentOrganization(org, await deps.store.listDomains([org.id]));
}

export async function getOrganization(deps: ManagementDeps, id: string) {
  return present(deps, await deps.store.getOrganization(id), `'${id}'`);
}

export async function getOrganizationByExternalId(deps: ManagementDeps, externalId: string) {
  return present(
    deps,
    await deps.store.getOrganizationByExternalId(externalId),
    `with external_id '${externalId}'`,
  );
}

export async function listOrganizations(deps: ManagementDeps, query: Record<string, string | undefined>) {
  const page = parsePage(query);
  const domains = query.domains
    ?.split(',')
    .map((d) => d.trim().toLowerCase())
    .filter(Boolean);
  const result = await deps.store.listOrganizations({ domains, search: query.search || undefined }, page);
  const allDomains = await deps.store.listDomains(result.data.map((o) => o.id));
  return listResponse(result, (o) => presentOrganization(o, allDomains));
}

export async function updateOrganization(deps: ManagementDeps, id: string, rawBody: unknown) {
  const body = objectBody(rawBody);
  const v = new Validator();
  const patch: OrganizationPatch = {};
  const name = v.string(body, 'name', { max: 255 });
  if (name !== undefined) {
    if (name === '' || name === null) v.fail('name', 'must not be empty');
    else patch.name = name;
  }
  const externalId = v.string(body, 'external_id', { max: 128, nullable: true });
  if (externalId !== undefined) patch.externalId = externalId || null;
  const metadata = v.metadata(body, 'metadata');
  if (metadata !== undefined) patch.metadata = metadata;
  const allowOutside = v.boolean(body, 'allow_profiles_outside_organization');
  if (allowOutside !== undefined) patch.allowProfilesOutsideOrganization = allowOutside;
  const stripe = v.string(body, 'stripe_customer_id', { max: 255, nullable: true });
  if (stripe !== undefined) patch.stripeCustomerId = stripe || null;
  const domains = parseDomains(v, body);
  v.done();
  const before = await deps.store.listDomains([id]);
  try {
    const org = await deps.store.updateOrganization(id, patch, domains, (updated) =>
      organizationWriteEvents(
        'organization.updated',
        updated,
        before,
        domainsAfter(id, before, domains, updated.updatedAt),
      ),
    );
    return presentOrganization(org, await deps.store.listDomains([org.id]));
  } catch (err) {
    if (err instanceof NotFoundError)
      throw new BrokerError('not_found', { message: `Organization '${id}' not found.` });
    return conflict(err);
  }
}

export async function deleteOrganization(deps: ManagementDeps, id: string): Promise<void> {
  const org = await deps.store.getOrganization(id);
  if (!org) throw new BrokerError('not_found', { message: `Organization '${id}' not found.` });
  // It takes its domains and connections with it: each gets its `deleted` event, as it was.
  const domains = await deps.store.listDomains([id]);
  const connections = await deps.store.listOrganizationConnections(id);
  const events = [
    organizationEvent('organization.deleted', presentOrganization(org, domains)),
    ...connections.map((c) =>
      connectionEvent('connection.deleted', presentConnection(c, domains, deps.publicUrl)),
    ),
    ...domains.map((d) => domainEvent('organization_domain.deleted', presentDomain(d))),
  ];
  try {
    await deps.store.deleteOrganization(id, events);
  } catch (err) {
    if (err instanceof NotFoundError)
      throw new BrokerError('not_found', { message: `Organization '${id}' not found.` });
    throw err;
  }
}

// ---- organization domains ----

export async function createOrganizationDomain(deps: ManagementDeps, rawBody: unknown) {
  const body = objectBody(rawBody);
  const v = new Validator();
  const organizationId = v.string(body, 'organization_id', { required: true, max: 64 });
  const n = normalizeDomain(body.domain);
  if (!n.ok) v.fail('domain', body.domain === undefined ? 'is required' : n.reason);
  v.done();
  const org = await deps.store.getOrganization(organizationId as string);
  if (!org) throw new BrokerError('not_found', { message: `Organization '${organizationId}' not found.` });
  try {
    const d = await deps.store.createDomain(
      org.id,
      {
        id: newId('org_domain'),
        domain: (n as { domain: string }).domain,
        state: 'pending',
        verificationStrategy: 'dns',
        verificationToken: randomToken(18),
      },
      (created) => [domainEvent('organization_domain.created', presentDomain(created))],
    );
    return presentDomain(d);
  } catch (err) {
    if (err instanceof AlreadyExistsError) {
      throw new BrokerError('domain_exists', {
        message: `The organization already has the domain '${(n as { domain: string }).domain}'.`,
      });
    }
    throw err;
  }
}

export async function getOrganizationDomain(deps: ManagementDeps, id: string) {
  const d = await deps.store.getDomain(id);
  if (!d) throw new BrokerError('not_found', { message: `Organization domain '${id}' not found.` });
  return presentDomain(d);
}

export async function deleteOrganizationDomain(deps: ManagementDeps, id: string): Promise<void> {
  const d = await deps.store.getDomain(id);
  if (!d) throw new BrokerError('not_found', { message: `Organization domain '${id}' not found.` });
  try {
    await deps.store.deleteDomain(id, [domainEvent('organization_domain.deleted', presentDomain(d))]);
  } catch (err) {
    if (err instanceof NotFoundError)
      throw new BrokerError('not_found', { message: `Organization domain '${id}' not found.` });
    throw err;
  }
}

/** Reads the TXT records that prove control of a domain. Injected so tests and operators can choose a resolver. */
export type TxtResolver = (name: string) => Promise<string[][]>;

/** The TXT record that proves control of a domain: its full name and the value it must hold. */
export function verificationRecord(d: Pick<OrganizationDomainRecord, 'domain' | 'verificationToken'>): {
  name: string;
  value: string;
} {
  return {
    name: `${VERIFICATION_PREFIX}.${d.domain}`,
    value: `gatehouse-domain-verification=${d.verificationToken}`,
  };
}

/** Why a lookup failed, as a fixed reason (the resolver's error itself is not shown to anyone). */
export type DnsFailure = 'timed out' | 'unreachable' | 'server failure' | 'refused' | 'failed';

/** What a verification's DNS lookup found. */
export type TxtCheck =
  | { outcome: 'found' }
  /** No TXT record at the name (NXDOMAIN, or the name exists without TXT records). */
  | { outcome: 'no_record' }
  /** TXT records at the name, none with the expected value: the values (joined chunks). */
  | { outcome: 'other_values'; values: string[] }
  | { outcome: 'dns_error'; reason: DnsFailure };

const DNS_FAILURES: Record<string, DnsFailure> = {
  ETIMEOUT: 'timed out',
  ECONNREFUSED: 'unreachable',
  ESERVFAIL: 'server failure',
  EREFUSED: 'refused',
};

async function lookUp(name: string, expected: string, resolveTxt: TxtResolver): Promise<TxtCheck> {
  let records: string[][];
  try {
    records = await resolveTxt(name);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOTFOUND' || code === 'ENODATA') return { outcome: 'no_record' };
    return { outcome: 'dns_error', reason: (typeof code === 'string' && DNS_FAILURES[code]) || 'failed' };
  }
  const values = records.map((chunks) => chunks.join(''));
  if (values.includes(expected)) return { outcome: 'found' };
  return values.length ? { outcome: 'other_values', values } : { outcome: 'no_record' };
}

/**
 * Checks the DNS TXT record `<prefix>.<domain>` for `gatehouse-domain-verification=<token>`. Found: verified
 * (unless another organization verified the domain first: 409 `domain_taken`). Not found, or the lookup failed:
 * `failed`, and verification can be retried once the record is published. A verified domain is not looked up
 * again (`check` is null). Shared by the API and the Admin Portal, which shows `check` to the admin.
 */
export async function verifyDomain(
  deps: ManagementDeps,
  d: OrganizationDomainRecord,
  resolveTxt: TxtResolver,
): Promise<{ domain: OrganizationDomainRecord; check: TxtCheck | null }> {
  if (d.state === 'verified') return { domain: d, check: null };
  const record = verificationRecord(d);
  const check = await lookUp(record.name, record.value, resolveTxt);
  const verified = check.outcome === 'found';
  try {
    return {
      domain: await deps.store.updateDomainState(d.id, verified ? 'verified' : 'failed', (updated) => [
        verified
          ? domainEvent('organization_domain.verified', presentDomain(updated))
          : domainVerificationFailedEvent(
              presentDomain(updated),
              VERIFICATION_FAILURES[check.outcome as keyof typeof VERIFICATION_FAILURES],
            ),
      ]),
      check,
    };
  } catch (err) {
    return conflict(err);
  }
}

/**
 * Why a verification failed, as `organization_domain.verification_failed`'s `reason` (WorkOS names its own
 * reasons this way: `domain_verification_period_expired`, `domain_verified_by_other_organization`).
 */
const VERIFICATION_FAILURES: Record<Exclude<TxtCheck['outcome'], 'found'>, string> = {
  no_record: 'domain_verification_record_not_found',
  other_values: 'domain_verification_record_mismatch',
  dns_error: 'domain_verification_dns_lookup_failed',
};

/** `POST /organization_domains/{id}/verify`. */
export async function verifyOrganizationDomain(deps: ManagementDeps, id: string, resolveTxt: TxtResolver) {
  const d = await deps.store.getDomain(id);
  if (!d) throw new BrokerError('not_found', { message: `Organization domain '${id}' not found.` });
  return presentDomain((await verifyDomain(deps, d, resolveTxt)).domain);
}
