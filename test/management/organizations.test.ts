import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
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
});
