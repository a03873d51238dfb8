import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConflictException, NotFoundException, UnprocessableEntityException } from '@workos-inc/node';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';

/** Organization domains through the official SDK (design/workos-api.md §4): create, get, verify, delete. */

describe('organization domains with no DNS records (verification fails)', () => {
  let gh: TestGatehouse;
  let orgId: string;
  before(async () => {
    gh = await startGatehouse();
    orgId = (await gh.workos.organizations.createOrganization({ name: 'Acme' })).id;
  });
  after(() => gh.close());

  it('creates a pending domain with a verification token and prefix, and gets it', async () => {
    const d = await gh.workos.organizationDomains.createOrganizationDomain({
      domain: 'Acme.COM.',
      organizationId: orgId,
    });
    assert.match(d.id, /^org_domain_[0-9A-Z]{26}$/);
    assert.match(d.verificationToken ?? '', /^[A-Za-z0-9_-]{24}$/);
    assert.deepEqual(d, {
      object: 'organization_domain',
      id: d.id,
      domain: 'acme.com',
      organizationId: orgId,
      state: 'pending',
      verificationToken: d.verificationToken,
      verificationStrategy: 'dns',
      verificationPrefix: '_gatehouse-verification',
      createdAt: d.createdAt,
      updatedAt: d.createdAt,
    });
    assert.deepEqual(await gh.workos.organizationDomains.getOrganizationDomain(d.id), d);

    // The organization lists it too.
    const org = await gh.workos.organizations.getOrganization(orgId);
    assert.deepEqual(
      org.domains.map((x) => [x.id, x.domain, x.state]),
      [[d.id, 'acme.com', 'pending']],
    );
  });

  it('marks the domain failed when the TXT record is missing, and keeps it retryable', async () => {
    const d = await gh.workos.organizationDomains.createOrganizationDomain({
      domain: 'acme.io',
      organizationId: orgId,
    });
    const verified = await gh.workos.organizationDomains.verifyOrganizationDomain(d.id);
    assert.equal(verified.state, 'failed');
    assert.equal(verified.verificationToken, d.verificationToken);
    assert.equal((await gh.workos.organizationDomains.getOrganizationDomain(d.id)).state, 'failed');
    // A second attempt is allowed and fails the same way.
    assert.equal((await gh.workos.organizationDomains.verifyOrganizationDomain(d.id)).state, 'failed');
  });

  it('rejects bad domains, unknown organizations and duplicates', async () => {
    for (const [domain, code] of [
      ['co.uk', 'domain "co.uk" is a public suffix, not an organization\'s domain'],
      ['10.0.0.1', 'domain "10.0.0.1" is not a domain name'],
      ['not a domain', 'domain "not a domain" is not a domain name'],
    ] as const) {
      await assert.rejects(
        gh.workos.organizationDomains.createOrganizationDomain({ domain, organizationId: orgId }),
        (err: unknown) => {
          assert.ok(err instanceof UnprocessableEntityException, domain);
          assert.equal(err.message, `The following requirement must be met:\n\t${code}\n`);
          return true;
        },
      );
    }
    const missing = await gh.api('POST', '/organization_domains', { organization_id: orgId });
    assert.equal(missing.status, 422);
    assert.deepEqual(missing.body.errors, [{ field: 'domain', code: 'domain is required' }]);

    await assert.rejects(
      gh.workos.organizationDomains.createOrganizationDomain({
        domain: 'acme.dev',
        organizationId: 'org_ghost',
      }),
      (err: unknown) => {
        assert.ok(err instanceof NotFoundException);
        assert.equal(err.message, "Organization 'org_ghost' not found.");
        return true;
      },
    );

    await gh.workos.organizationDomains.createOrganizationDomain({
      domain: 'acme.net',
      organizationId: orgId,
    });
    await assert.rejects(
      gh.workos.organizationDomains.createOrganizationDomain({ domain: 'ACME.net', organizationId: orgId }),
      (err: unknown) => {
        // The SDK documents ConflictException for a domain the organization already has.
        assert.ok(err instanceof ConflictException);
        assert.equal(err.message, "The organization already has the domain 'acme.net'.");
        return true;
      },
    );
  });

  it('deletes a domain; get, verify and delete then throw NotFoundException', async () => {
    const d = await gh.workos.organizationDomains.createOrganizationDomain({
      domain: 'acme.org',
      organizationId: orgId,
    });
    await gh.workos.organizationDomains.deleteOrganizationDomain(d.id);
    for (const call of [
      () => gh.workos.organizationDomains.getOrganizationDomain(d.id),
      () => gh.workos.organizationDomains.verifyOrganizationDomain(d.id),
      () => gh.workos.organizationDomains.deleteOrganizationDomain(d.id),
    ]) {
      await assert.rejects(call(), (err: unknown) => {
        assert.ok(err instanceof NotFoundException);
        assert.equal(err.code, 'entity_not_found');
        assert.equal(err.message, `Organization domain '${d.id}' not found.`);
        return true;
      });
    }
    const org = await gh.workos.organizations.getOrganization(orgId);
    assert.ok(!org.domains.some((x) => x.id === d.id));
  });
});

describe('organization domains with a DNS resolver that answers', () => {
  let gh: TestGatehouse;
  /** TXT records by name; what the fake resolver answers. */
  const txt = new Map<string, string[][]>();
  const lookups: string[] = [];
  let acmeId: string;
  let rivalId: string;
  before(async () => {
    gh = await startGatehouse({
      resolveTxt: async (name) => {
        lookups.push(name);
        const records = txt.get(name);
        if (!records) throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
        return records;
      },
    });
    acmeId = (await gh.workos.organizations.createOrganization({ name: 'Acme' })).id;
    rivalId = (await gh.workos.organizations.createOrganization({ name: 'Rival' })).id;
  });
  after(() => gh.close());

  it('verifies a domain whose TXT record carries the token', async () => {
    const d = await gh.workos.organizationDomains.createOrganizationDomain({
      domain: 'acme.com',
      organizationId: acmeId,
    });
    // First without the record: failed (the resolver's ENOTFOUND is not an error of the API).
    assert.equal((await gh.workos.organizationDomains.verifyOrganizationDomain(d.id)).state, 'failed');
    // Another value, or the token for another domain, does not count.
    txt.set('_gatehouse-verification.acme.com', [['v=spf1 -all'], ['gatehouse-domain-verification=wrong']]);
    assert.equal((await gh.workos.organizationDomains.verifyOrganizationDomain(d.id)).state, 'failed');

    // Long TXT values arrive split into chunks; they are joined.
    const record = `gatehouse-domain-verification=${d.verificationToken}`;
    txt.set('_gatehouse-verification.acme.com', [['v=spf1 -all'], [record.slice(0, 10), record.slice(10)]]);
    const verified = await gh.workos.organizationDomains.verifyOrganizationDomain(d.id);
    assert.equal(verified.state, 'verified');
    assert.equal(verified.id, d.id);
    assert.deepEqual(lookups.slice(-3), [
      '_gatehouse-verification.acme.com',
      '_gatehouse-verification.acme.com',
      '_gatehouse-verification.acme.com',
    ]);
    assert.equal((await gh.workos.organizationDomains.getOrganizationDomain(d.id)).state, 'verified');

    // A verified domain stays verified without another lookup.
    const count = lookups.length;
    txt.delete('_gatehouse-verification.acme.com');
    assert.equal((await gh.workos.organizationDomains.verifyOrganizationDomain(d.id)).state, 'verified');
    assert.equal(lookups.length, count);

    // It now shows on the organization's connections.
    const conn = await gh.api('POST', '/connections', {
      connection_type: 'GenericOIDC',
      organization_id: acmeId,
    });
    assert.deepEqual(conn.body.domains, [{ object: 'connection_domain', id: d.id, domain: 'acme.com' }]);
  });

  it('refuses with ConflictException to verify a domain another organization verified', async () => {
    const mine = await gh.workos.organizationDomains.createOrganizationDomain({
      domain: 'shared.com',
      organizationId: acmeId,
    });
    // Another organization may claim it while it is pending.
    const theirs = await gh.workos.organizationDomains.createOrganizationDomain({
      domain: 'shared.com',
      organizationId: rivalId,
    });
    assert.notEqual(theirs.verificationToken, mine.verificationToken);
    txt.set('_gatehouse-verification.shared.com', [
      [`gatehouse-domain-verification=${mine.verificationToken}`],
      [`gatehouse-domain-verification=${theirs.verificationToken}`],
    ]);
    assert.equal((await gh.workos.organizationDomains.verifyOrganizationDomain(mine.id)).state, 'verified');

    await assert.rejects(
      gh.workos.organizationDomains.verifyOrganizationDomain(theirs.id),
      (err: unknown) => {
        assert.ok(err instanceof ConflictException);
        assert.equal(err.status, 409);
        assert.equal(err.code, 'domain_already_verified');
        assert.equal(err.message, 'The domain is already a verified domain of another organization.');
        assert.match(err.requestID, /^req_/);
        return true;
      },
    );
    // The loser's domain is unchanged, and the winner keeps it.
    assert.equal((await gh.workos.organizationDomains.getOrganizationDomain(theirs.id)).state, 'pending');
    assert.equal((await gh.workos.organizationDomains.getOrganizationDomain(mine.id)).state, 'verified');

    // Declaring it verified on the other organization directly is refused the same way.
    await assert.rejects(
      gh.workos.organizations.updateOrganization({
        organization: rivalId,
        domainData: [{ domain: 'shared.com', state: 'verified' as never }],
      }),
      ConflictException,
    );

    // Once the winner deletes it, the other organization can verify it.
    await gh.workos.organizationDomains.deleteOrganizationDomain(mine.id);
    assert.equal((await gh.workos.organizationDomains.verifyOrganizationDomain(theirs.id)).state, 'verified');
  });

  it('verifies a domain created as pending through createOrganization', async () => {
    const org = await gh.workos.organizations.createOrganization({
      name: 'Initech',
      domainData: [{ domain: 'initech.com', state: 'pending' as never }],
    });
    const pending = org.domains[0];
    assert.ok(pending?.verificationToken);
    txt.set('_gatehouse-verification.initech.com', [
      [`gatehouse-domain-verification=${pending.verificationToken}`],
    ]);
    const verified = await gh.workos.organizationDomains.verifyOrganizationDomain(pending.id);
    assert.equal(verified.state, 'verified');
    assert.equal(verified.organizationId, org.id);
  });
});
