import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  ConflictException,
  GenericServerException,
  NotFoundException,
  UnauthorizedException,
  UnprocessableEntityException,
  WorkOS,
} from '@workos-inc/node';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';

describe('organizations through the official WorkOS SDK', () => {
  let gh: TestGatehouse;
  before(async () => {
    gh = await startGatehouse();
  });
  after(() => gh.close());

  it('creates, reads, updates and deletes an organization with domains', async () => {
    const created = await gh.workos.organizations.createOrganization({
      name: 'Acme',
      domainData: [
        { domain: 'acme.com', state: 'verified' as never },
        { domain: 'acme.io', state: 'pending' as never },
      ],
      externalId: 'acme-ext-1',
      metadata: { tier: 'gold' },
    });
    assert.match(created.id, /^org_[0-9A-Z]{26}$/);
    assert.equal(created.name, 'Acme');
    assert.equal(created.externalId, 'acme-ext-1');
    assert.deepEqual(created.metadata, { tier: 'gold' });
    assert.equal(created.allowProfilesOutsideOrganization, false);
    assert.deepEqual(
      created.domains.map((d) => [d.domain, d.state]),
      [
        ['acme.com', 'verified'],
        ['acme.io', 'pending'],
      ],
    );

    const byId = await gh.workos.organizations.getOrganization(created.id);
    assert.deepEqual(byId, created);
    const byExternal = await gh.workos.organizations.getOrganizationByExternalId('acme-ext-1');
    assert.equal(byExternal.id, created.id);

    const updated = await gh.workos.organizations.updateOrganization({
      organization: created.id,
      name: 'Acme Corp',
      domainData: [{ domain: 'acme.com', state: 'verified' as never }],
    });
    assert.equal(updated.name, 'Acme Corp');
    assert.deepEqual(
      updated.domains.map((d) => d.domain),
      ['acme.com'],
    );
    // The kept domain keeps its ID.
    assert.equal(updated.domains[0]?.id, created.domains[0]?.id);

    await gh.workos.organizations.deleteOrganization(created.id);
    await assert.rejects(gh.workos.organizations.getOrganization(created.id), (err: unknown) => {
      assert.ok(err instanceof NotFoundException);
      assert.match(err.requestID, /^req_/);
      return true;
    });
  });

  it('rejects a wrong API key with UnauthorizedException', async () => {
    const wrong = new WorkOS('sk_wrong_key_0000000000000000', {
      apiHostname: '127.0.0.1',
      port: gh.port,
      https: false,
    });
    await assert.rejects(wrong.organizations.listOrganizations(), UnauthorizedException);
  });

  it('names each bad field in a 422 the SDK understands', async () => {
    await assert.rejects(
      gh.workos.organizations.createOrganization({
        name: '',
        domainData: [{ domain: 'co.uk', state: 'verified' as never }],
      }),
      (err: unknown) => {
        assert.ok(err instanceof UnprocessableEntityException);
        assert.match(err.message, /name must not be empty/);
        assert.match(err.message, /"co.uk" is a public suffix/);
        return true;
      },
    );
  });

  it('updates only the given fields; null clears external_id and stripe_customer_id', async () => {
    const created = await gh.workos.organizations.createOrganization({
      name: 'Globex',
      externalId: 'globex-1',
      metadata: { tier: 'silver', region: 'eu' },
    });
    const withStripe = await gh.workos.organizations.updateOrganization({
      organization: created.id,
      stripeCustomerId: 'cus_123',
    });
    assert.equal(withStripe.stripeCustomerId, 'cus_123');
    assert.equal(withStripe.name, 'Globex');
    assert.equal(withStripe.externalId, 'globex-1');
    assert.deepEqual(withStripe.metadata, { tier: 'silver', region: 'eu' });

    const cleared = await gh.workos.organizations.updateOrganization({
      organization: created.id,
      externalId: null,
      stripeCustomerId: null as never,
      metadata: { tier: 'gold' },
    });
    assert.equal(cleared.externalId, null);
    assert.ok(!('stripeCustomerId' in cleared));
    assert.deepEqual(cleared.metadata, { tier: 'gold' });
    assert.equal(cleared.name, 'Globex');
    await assert.rejects(gh.workos.organizations.getOrganizationByExternalId('globex-1'), NotFoundException);
  });

  it('throws NotFoundException for unknown organizations on every call', async () => {
    for (const call of [
      () => gh.workos.organizations.getOrganization('org_missing'),
      () => gh.workos.organizations.getOrganizationByExternalId('no-such-ext'),
      () => gh.workos.organizations.updateOrganization({ organization: 'org_missing', name: 'X' }),
      () => gh.workos.organizations.deleteOrganization('org_missing'),
    ]) {
      await assert.rejects(call(), (err: unknown) => {
        assert.ok(err instanceof NotFoundException);
        assert.equal(err.code, 'entity_not_found');
        assert.match(
          err.message,
          /^Organization (?:'org_missing'|with external_id 'no-such-ext') not found\.$/,
        );
        return true;
      });
    }
  });

  it('refuses a duplicate external_id with 400 external_id_already_used, as the WorkOS spec does', async () => {
    await gh.workos.organizations.createOrganization({ name: 'First', externalId: 'dup-ext' });
    await assert.rejects(
      gh.workos.organizations.createOrganization({ name: 'Second', externalId: 'dup-ext' }),
      (err: unknown) => {
        assert.ok(err instanceof GenericServerException);
        assert.equal(err.status, 400);
        assert.equal((err.rawData as { code?: string }).code, 'external_id_already_used');
        return true;
      },
    );
  });

  it('refuses with ConflictException a verified domain another organization already verified', async () => {
    await gh.workos.organizations.createOrganization({
      name: 'Owner',
      domainData: [{ domain: 'owned.example', state: 'verified' as never }],
    });
    const before = (await gh.workos.organizations.listOrganizations({ limit: 100 })).data.length;
    await assert.rejects(
      gh.workos.organizations.createOrganization({
        name: 'Squatter',
        domainData: [{ domain: 'OWNED.example', state: 'verified' as never }],
      }),
      (err: unknown) => {
        assert.ok(err instanceof ConflictException);
        assert.equal(err.code, 'domain_already_verified');
        return true;
      },
    );
    // Nothing was created.
    assert.equal((await gh.workos.organizations.listOrganizations({ limit: 100 })).data.length, before);
    // As a pending domain it may be claimed (and would fail to verify).
    const pending = await gh.workos.organizations.createOrganization({
      name: 'Claimant',
      domainData: [{ domain: 'owned.example', state: 'pending' as never }],
    });
    assert.equal(pending.domains[0]?.state, 'pending');
  });

  it('enforces the metadata limits', async () => {
    const tooMany = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v']));
    const res = await gh.api('POST', '/organizations', {
      name: 'Meta',
      metadata: { ...tooMany, ['x'.repeat(41)]: 'v', long: 'y'.repeat(601), num: 1 },
    });
    assert.equal(res.status, 422);
    assert.deepEqual(res.body.errors, [
      { field: 'metadata', code: 'metadata may have at most 50 keys' },
      {
        field: `metadata.${'x'.repeat(41)}`,
        code: `metadata.${'x'.repeat(41)} key must be 1 to 40 characters`,
      },
      { field: 'metadata.long', code: 'metadata.long must be at most 600 characters' },
      { field: 'metadata.num', code: 'metadata.num must be a string' },
    ]);
  });

  it('lists the first 20 problems of a 422 and counts the rest (100 000 bad domain entries: a 14 MB answer before, fuzz finding)', async () => {
    const res = await gh.api('POST', '/organizations', { name: 'Many', domain_data: Array(100_000).fill(1) });
    assert.equal(res.status, 422);
    assert.equal(res.body.errors.length, 20);
    assert.deepEqual(res.body.errors[19], {
      field: 'domain_data[19]',
      code: 'domain_data[19] must be an object {domain, state}',
    });
    assert.match(res.body.message, /domain_data\[19\] must be an object \{domain, state\}; and 99980 more$/);
  });
});
