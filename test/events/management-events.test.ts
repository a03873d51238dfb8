import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type Connection,
  type Event,
  type Organization,
  type OrganizationDomain,
  UnprocessableEntityException,
} from '@workos-inc/node';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';

/**
 * Events of the management API (docs/events-webhooks.md): connections, organizations and domains, read back
 * through the official SDK's `events.listEvents`, whose `deserializeEvent` must give exactly the objects the
 * SDK's own getters give; GET /events's filters, pagination and refusals; and no event for a write that fails.
 */

const OIDC = {
  issuer: 'https://idp.acme.test',
  client_id: 'client',
  client_secret: 'secret-0123456789',
};

/** Every event, oldest first, through the SDK (all pages). */
async function allEvents(gh: TestGatehouse, names: string[]): Promise<Event[]> {
  const out: Event[] = [];
  let after: string | undefined;
  for (let i = 0; i < 50; i++) {
    const page = await gh.workos.events.listEvents({ events: names as Event['event'][], limit: 100, after });
    out.push(...page.data);
    if (!page.listMetadata.after) return out;
    after = page.listMetadata.after;
  }
  throw new Error('too many pages');
}

describe('connection, organization and domain events through the SDK', () => {
  let gh: TestGatehouse;
  /** DNS TXT records the verification sees: name → values. */
  const txt = new Map<string, string[]>();

  before(async () => {
    gh = await startGatehouse({
      resolveTxt: async (name) => {
        const values = txt.get(name);
        if (!values) throw Object.assign(new Error('queryTxt ENOTFOUND'), { code: 'ENOTFOUND' });
        return values.map((v) => [v]);
      },
    });
  });
  after(() => gh.close());

  /** The events after `since` (an event ID, or the start), oldest first. */
  async function eventsSince(since: string | undefined, names?: string[]): Promise<Event[]> {
    const page = await gh.workos.events.listEvents({
      events: (names ?? []) as Event['event'][],
      limit: 100,
      ...(since ? { after: since } : {}),
    });
    return page.data;
  }
  async function lastEventId(): Promise<string | undefined> {
    const page = await gh.api('GET', '/events?order=desc&limit=1');
    return page.body.data[0]?.id;
  }

  it('organization.created/updated/deleted carry the organization exactly as getOrganization returns it', async () => {
    const mark = await lastEventId();
    const created = await gh.workos.organizations.createOrganization({
      name: 'Acme',
      domainData: [{ domain: 'acme.com', state: 'verified' as never }],
      metadata: { tier: 'gold' },
    });
    const updated = await gh.workos.organizations.updateOrganization({
      organization: created.id,
      name: 'Acme Inc',
      domainData: [
        { domain: 'acme.com', state: 'verified' as never },
        { domain: 'acme.io', state: 'pending' as never },
      ],
    });
    const acmeIo = updated.domains.find((d) => d.domain === 'acme.io') as OrganizationDomain;
    const acmeCom = updated.domains.find((d) => d.domain === 'acme.com') as OrganizationDomain;
    const asStored = await gh.workos.organizations.getOrganization(created.id);
    // Drop acme.io again, then delete the organization.
    const shrunk = await gh.workos.organizations.updateOrganization({
      organization: created.id,
      domainData: [{ domain: 'acme.com', state: 'verified' as never }],
    });
    await gh.workos.organizations.deleteOrganization(created.id);

    const events = await eventsSince(mark);
    assert.deepEqual(
      events.map((e) => e.event),
      [
        'organization.created',
        'organization_domain.created',
        'organization.updated',
        'organization_domain.created',
        'organization.updated',
        'organization_domain.deleted',
        'organization.deleted',
        'organization_domain.deleted',
      ],
    );
    const [c, cDomain, u, uDomain, s, sDomain, d, dDomain] = events as Array<Event & { data: unknown }>;
    assert.deepEqual(c?.data, created);
    assert.deepEqual(cDomain?.data, created.domains[0]);
    assert.deepEqual(u?.data, asStored);
    assert.deepEqual(u?.data, updated);
    assert.deepEqual(uDomain?.data, acmeIo);
    assert.deepEqual(s?.data, shrunk);
    assert.deepEqual(sDomain?.data, acmeIo);
    // Deleted: as it was before the deletion.
    assert.deepEqual(d?.data, shrunk);
    assert.deepEqual(dDomain?.data, acmeCom);
    for (const e of events) {
      assert.match(e.id, /^event_[0-9A-Z]{26}$/);
      assert.ok(!Number.isNaN(Date.parse(e.createdAt)));
    }
  });

  it('organization_domain.created/verified/verification_failed/deleted, as the SDK reads each', async () => {
    const org = await gh.workos.organizations.createOrganization({ name: 'Globex' });
    const mark = await lastEventId();
    const domain = await gh.workos.organizationDomains.createOrganizationDomain({
      domain: 'globex.com',
      organizationId: org.id,
    });
    const failed = await gh.workos.organizationDomains.verifyOrganizationDomain(domain.id);
    assert.equal(failed.state, 'failed');
    txt.set(`_gatehouse-verification.globex.com`, ['something else']);
    const mismatch = await gh.workos.organizationDomains.verifyOrganizationDomain(domain.id);
    txt.set(`_gatehouse-verification.globex.com`, [
      `gatehouse-domain-verification=${domain.verificationToken}`,
    ]);
    const verified = await gh.workos.organizationDomains.verifyOrganizationDomain(domain.id);
    assert.equal(verified.state, 'verified');
    // A verified domain is not looked up again: no second event.
    await gh.workos.organizationDomains.verifyOrganizationDomain(domain.id);
    await gh.workos.organizationDomains.deleteOrganizationDomain(domain.id);

    const events = await eventsSince(mark);
    assert.deepEqual(
      events.map((e) => e.event),
      [
        'organization_domain.created',
        'organization_domain.verification_failed',
        'organization_domain.verification_failed',
        'organization_domain.verified',
        'organization_domain.deleted',
      ],
    );
    const data = events.map((e) => (e as { data: unknown }).data);
    assert.deepEqual(data[0], domain);
    assert.deepEqual(data[1], {
      reason: 'domain_verification_record_not_found',
      organizationDomain: failed,
    });
    assert.deepEqual(data[2], {
      reason: 'domain_verification_record_mismatch',
      organizationDomain: mismatch,
    });
    assert.deepEqual(data[3], verified);
    assert.deepEqual(data[4], verified);
    // Every one of them belongs to the organization.
    const mine = await gh.workos.events.listEvents({
      events: ['organization_domain.verified'],
      organizationId: org.id,
    });
    assert.deepEqual(
      mine.data.map((e) => e.id),
      [events[3]?.id],
    );
  });

  it('connection.activated/deactivated/deleted carry the connection exactly as getConnection returns it', async () => {
    const org = await gh.workos.organizations.createOrganization({
      name: 'Initech',
      domainData: [{ domain: 'initech.com', state: 'verified' as never }],
    });
    const conn = await gh.api('POST', '/connections', {
      organization_id: org.id,
      connection_type: 'OktaOIDC',
      oidc_options: OIDC,
    });
    assert.equal(conn.status, 201);
    const id: string = conn.body.id;
    const mark = await lastEventId();
    // Never signed in: activating a deactivated connection makes it validating, which is not yet `activated`.
    assert.equal((await gh.api('POST', `/connections/${id}/deactivate`)).body.state, 'inactive');
    const deactivated = await gh.workos.sso.getConnection(id);
    // Deactivating again changes nothing: no second event.
    await gh.api('POST', `/connections/${id}/deactivate`);
    assert.equal((await gh.api('POST', `/connections/${id}/activate`)).body.state, 'validating');
    // As if a first sign-in had happened (the sign-in tests cover the real one): back to active.
    await gh.store.updateConnection(id, { state: 'inactive', firstLoginAt: new Date() });
    assert.equal((await gh.api('POST', `/connections/${id}/activate`)).body.state, 'active');
    const active = await gh.workos.sso.getConnection(id);
    await gh.workos.sso.deleteConnection(id);

    const events = await eventsSince(mark);
    assert.deepEqual(
      events.map((e) => e.event),
      ['connection.deactivated', 'connection.activated', 'connection.deleted'],
    );
    const data = events.map((e) => (e as { data: Connection }).data);
    assert.deepEqual(data[0], deactivated);
    assert.deepEqual(data[1], active);
    // Deleted: the state before deletion.
    assert.deepEqual(data[2], active);
    assert.equal(data[2]?.state, 'active');
    assert.deepEqual(data[2]?.domains, [
      { object: 'connection_domain', id: org.domains[0]?.id, domain: 'initech.com' },
    ]);
  });

  it('deleting an organization reports its connections and domains as deleted too', async () => {
    const org = await gh.workos.organizations.createOrganization({
      name: 'Hooli',
      domainData: [{ domain: 'hooli.com', state: 'verified' as never }],
    });
    const conn = await gh.api('POST', '/connections', {
      organization_id: org.id,
      connection_type: 'OktaOIDC',
      oidc_options: OIDC,
    });
    const before = await gh.workos.sso.getConnection(conn.body.id);
    const mark = await lastEventId();
    await gh.workos.organizations.deleteOrganization(org.id);
    const events = await eventsSince(mark);
    assert.deepEqual(
      events.map((e) => e.event),
      ['organization.deleted', 'connection.deleted', 'organization_domain.deleted'],
    );
    assert.deepEqual((events[0] as { data: Organization }).data, org);
    assert.deepEqual((events[1] as { data: Connection }).data, before);
    assert.deepEqual((events[2] as { data: OrganizationDomain }).data, org.domains[0]);
  });

  it('a write that fails emits nothing: a taken external_id, a domain verified elsewhere, unknown IDs', async () => {
    const a = await gh.workos.organizations.createOrganization({
      name: 'A',
      externalId: 'ext-a',
      domainData: [{ domain: 'taken.com', state: 'verified' as never }],
    });
    const b = await gh.workos.organizations.createOrganization({ name: 'B' });
    const mark = await lastEventId();
    assert.equal((await gh.api('POST', '/organizations', { name: 'C', external_id: 'ext-a' })).status, 400);
    const conflict = await gh.api('PUT', `/organizations/${b.id}`, {
      name: 'B renamed',
      domain_data: [{ domain: 'taken.com', state: 'verified' }],
    });
    assert.equal(conflict.status, 409);
    assert.equal((await gh.workos.organizations.getOrganization(b.id)).name, 'B');
    assert.equal((await gh.api('DELETE', '/organizations/org_01UNKNOWN0000000000000000')).status, 404);
    assert.equal((await gh.api('DELETE', '/connections/conn_01UNKNOWN000000000000000')).status, 404);
    assert.equal((await gh.api('DELETE', '/organization_domains/org_domain_01UNKNOWN000000')).status, 404);
    assert.equal((await gh.api('POST', '/connections/conn_01UNKNOWN000000000000000/deactivate')).status, 404);
    assert.deepEqual(await eventsSince(mark), []);
    assert.ok(a.id);
  });
});

describe('GET /events: filters, pagination and refusals', () => {
  let gh: TestGatehouse;
  const orgs: Organization[] = [];

  before(async () => {
    gh = await startGatehouse();
    // Six organizations: organization.created × 6, and organization.updated for the first two.
    for (let i = 0; i < 6; i++)
      orgs.push(await gh.workos.organizations.createOrganization({ name: `O${i}` }));
    for (const o of orgs.slice(0, 2))
      await gh.workos.organizations.updateOrganization({ organization: o.id, name: `${o.name}!` });
  });
  after(() => gh.close());

  it('the envelope: object list, each event {object, id, event, data, created_at}, list_metadata', async () => {
    const res = await gh.api('GET', '/events?events=organization.created&limit=2');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.deepEqual(Object.keys(res.body), ['object', 'data', 'list_metadata']);
    assert.equal(res.body.object, 'list');
    assert.deepEqual(Object.keys(res.body.data[0]), ['object', 'id', 'event', 'data', 'created_at']);
    assert.equal(res.body.data[0].object, 'event');
    assert.equal(res.body.data[0].data.id, orgs[0]?.id);
    assert.deepEqual(res.body.list_metadata, { before: null, after: res.body.data[1].id });
  });

  it('oldest first by default (a stream read with after), desc on request; the events filter is comma-joined', async () => {
    const asc = await gh.workos.events.listEvents({ events: ['organization.created'], limit: 100 });
    assert.deepEqual(
      asc.data.map((e) => (e as { data: Organization }).data.id),
      orgs.map((o) => o.id),
    );
    const desc = await gh.workos.events.listEvents({ events: ['organization.created'], order: 'desc' });
    assert.deepEqual(
      desc.data.map((e) => e.id),
      asc.data.map((e) => e.id).reverse(),
    );
    const both = await gh.workos.events.listEvents({
      events: ['organization.created', 'organization.updated'],
      limit: 100,
    });
    assert.deepEqual(
      both.data.map((e) => e.event),
      [...Array(6).fill('organization.created'), 'organization.updated', 'organization.updated'],
    );
    // Without the filter (the SDK's type requires one; the API does not): everything.
    assert.equal((await gh.api('GET', '/events?limit=100')).body.data.length, 8);
    // A name nobody emits matches nothing (WorkOS events Gatehouse does not have are not an error).
    assert.deepEqual((await gh.workos.events.listEvents({ events: ['dsync.user.created'] })).data, []);
  });

  it('pages with limit and after until list_metadata.after is null', async () => {
    const seen: string[] = [];
    let after: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await gh.workos.events.listEvents({ events: ['organization.created'], limit: 4, after });
      seen.push(...page.data.map((e) => e.id));
      if (!page.listMetadata.after) break;
      after = page.listMetadata.after;
    }
    assert.equal(seen.length, 6);
    assert.equal(new Set(seen).size, 6);
    const all = await allEvents(gh, ['organization.created']);
    assert.deepEqual(
      seen,
      all.map((e) => e.id),
    );
  });

  it('organization_id, range_start (at or after) and range_end (before)', async () => {
    const first = orgs[0] as Organization;
    const mine = await gh.workos.events.listEvents({
      events: ['organization.created', 'organization.updated'],
      organizationId: first.id,
    });
    assert.deepEqual(
      mine.data.map((e) => e.event),
      ['organization.created', 'organization.updated'],
    );
    const all = await allEvents(gh, ['organization.created', 'organization.updated']);
    const pivot = all[3] as Event;
    const from = await gh.workos.events.listEvents({
      events: ['organization.created', 'organization.updated'],
      rangeStart: pivot.createdAt,
      limit: 100,
    });
    assert.ok(from.data.every((e) => e.createdAt >= pivot.createdAt));
    assert.ok(from.data.some((e) => e.id === pivot.id));
    const until = await gh.workos.events.listEvents({
      events: ['organization.created', 'organization.updated'],
      rangeEnd: pivot.createdAt,
      limit: 100,
    });
    assert.ok(until.data.every((e) => e.createdAt < pivot.createdAt));
    assert.equal(from.data.length + until.data.length, all.length);
    // A range in the future is empty.
    const future = await gh.workos.events.listEvents({
      events: ['organization.created'],
      rangeStart: new Date(Date.now() + 86_400_000).toISOString(),
    });
    assert.deepEqual(future.data, []);
  });

  it('422 for a bad filter, naming the field; 401 without the API key', async () => {
    const bad: Array<[string, string]> = [
      ['events=organization.created,,x', 'events'],
      ['events=Organization%20Created', 'events'],
      [`events=${Array(101).fill('a.b').join(',')}`, 'events'],
      ['range_start=yesterday', 'range_start'],
      ['range_end=2025-13-45T00:00:00Z', 'range_end'],
      ['range_start=2025-02-01T00:00:00Z&range_end=2025-01-01T00:00:00Z', 'range_end'],
      ['limit=0', 'limit'],
      ['limit=101', 'limit'],
      ['order=sideways', 'order'],
      [`organization_id=${'o'.repeat(65)}`, 'organization_id'],
    ];
    for (const [query, field] of bad) {
      const res = await gh.api('GET', `/events?${query}`);
      assert.equal(res.status, 422, query);
      assert.equal(res.body.code, 'invalid_request_parameters', query);
      assert.deepEqual(
        res.body.errors.map((e: { field: string }) => e.field),
        [field],
        query,
      );
    }
    await assert.rejects(
      () => gh.workos.events.listEvents({ events: ['organization.created'], rangeStart: 'not a date' }),
      (err: unknown) => err instanceof UnprocessableEntityException,
    );
    const anonymous = await fetch(`${gh.url}/events`);
    assert.equal(anonymous.status, 401);
  });
});
