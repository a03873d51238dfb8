import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { UnprocessableEntityException, WorkOS } from '@workos-inc/node';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';

/**
 * List pagination (design/workos-api.md §3.1): ID cursors, newest first by default, `after` null on the last
 * page (the SDK's autoPagination stops only then), and the SDK's own query encoding.
 */

/** An SDK client that records the URL of every request it makes. */
function recordingClient(gh: TestGatehouse): { workos: WorkOS; urls: URL[] } {
  const urls: URL[] = [];
  const workos = new WorkOS(gh.apiKey, {
    apiHostname: '127.0.0.1',
    port: gh.port,
    https: false,
    fetchFn: (input, init) => {
      urls.push(new URL(input instanceof Request ? input.url : String(input)));
      return fetch(input, init);
    },
  });
  return { workos, urls };
}

/** Rejects if `promise` takes longer than `ms` (autoPagination must terminate). */
async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('organization pagination', () => {
  let gh: TestGatehouse;
  /** The 25 organization IDs in creation order (oldest first). */
  const created: string[] = [];
  before(async () => {
    gh = await startGatehouse();
    for (let i = 0; i < 25; i++) {
      const org = await gh.workos.organizations.createOrganization({
        name: `Org ${String(i).padStart(2, '0')}`,
        ...(i === 3 ? { domainData: [{ domain: 'a.com', state: 'verified' as never }] } : {}),
        ...(i === 11 ? { domainData: [{ domain: 'b.com', state: 'pending' as never }] } : {}),
        ...(i === 17 ? { domainData: [{ domain: 'c.com', state: 'verified' as never }] } : {}),
      });
      created.push(org.id);
    }
  });
  after(() => gh.close());

  it('lists newest first, ten per page by default', async () => {
    const page = await gh.workos.organizations.listOrganizations();
    assert.deepEqual(
      page.data.map((o) => o.id),
      created.slice(15).reverse(),
    );
    assert.deepEqual(page.listMetadata, { before: null, after: created[15] });
  });

  it('follows `after` to the end; `after` is null on the last page', async () => {
    const { workos, urls } = recordingClient(gh);
    const seen: string[] = [];
    const metas: { before?: string | null; after?: string | null }[] = [];
    let after: string | undefined;
    for (let guard = 0; guard < 10; guard++) {
      const page = await workos.organizations.listOrganizations({ limit: 10, ...(after ? { after } : {}) });
      seen.push(...page.data.map((o) => o.id));
      metas.push(page.listMetadata);
      if (!page.listMetadata.after) break;
      after = page.listMetadata.after;
    }
    assert.deepEqual(seen, [...created].reverse());
    assert.deepEqual(metas, [
      { before: null, after: created[15] },
      { before: created[14], after: created[5] },
      { before: created[4], after: null },
    ]);
    // The SDK always sends order=desc, and the cursor as given.
    assert.deepEqual(
      urls.map((u) => `${u.pathname}?${u.searchParams}`),
      [
        '/organizations?limit=10&order=desc',
        `/organizations?limit=10&after=${created[15]}&order=desc`,
        `/organizations?limit=10&after=${created[5]}&order=desc`,
      ],
    );
  });

  it('pages backwards with `before`', async () => {
    // The page before the second page is the first page, and there is nothing before it.
    const page = await gh.workos.organizations.listOrganizations({ limit: 10, before: created[14] });
    assert.deepEqual(
      page.data.map((o) => o.id),
      created.slice(15).reverse(),
    );
    assert.deepEqual(page.listMetadata, { before: null, after: created[15] });

    // From the middle: the three newer than created[9], still newest first, with more before them.
    const mid = await gh.workos.organizations.listOrganizations({ limit: 3, before: created[9] });
    assert.deepEqual(
      mid.data.map((o) => o.id),
      [created[12], created[11], created[10]],
    );
    assert.deepEqual(mid.listMetadata, { before: created[12], after: created[10] });
  });

  it('lists oldest first with order asc, in both directions', async () => {
    const first = await gh.workos.organizations.listOrganizations({ limit: 10, order: 'asc' });
    assert.deepEqual(
      first.data.map((o) => o.id),
      created.slice(0, 10),
    );
    assert.deepEqual(first.listMetadata, { before: null, after: created[9] });

    const last = await gh.workos.organizations.listOrganizations({
      limit: 10,
      order: 'asc',
      after: created[19],
    });
    assert.deepEqual(
      last.data.map((o) => o.id),
      created.slice(20),
    );
    assert.deepEqual(last.listMetadata, { before: created[20], after: null });

    const back = await gh.workos.organizations.listOrganizations({
      limit: 4,
      order: 'asc',
      before: created[10],
    });
    assert.deepEqual(
      back.data.map((o) => o.id),
      created.slice(6, 10),
    );
    assert.deepEqual(back.listMetadata, { before: created[6], after: created[9] });

    // `normal` (listed by WorkOS's OpenAPI spec) is the default order.
    const normal = await gh.api('GET', '/organizations?order=normal&limit=2');
    assert.equal(normal.status, 200);
    assert.deepEqual(
      normal.body.data.map((o: { id: string }) => o.id),
      [created[24], created[23]],
    );
  });

  it('returns an empty last page after the oldest item', async () => {
    const page = await gh.workos.organizations.listOrganizations({ after: created[0] });
    assert.deepEqual(page.data, []);
    assert.deepEqual(page.listMetadata, { before: null, after: null });
  });

  it('autoPagination with a limit returns the first page only (SDK v11 behaviour) and terminates', async () => {
    const { workos, urls } = recordingClient(gh);
    const list = await workos.organizations.listOrganizations({ limit: 7 });
    const all = await within(5000, list.autoPagination());
    assert.deepEqual(
      all.map((o) => o.id),
      created.slice(18).reverse(),
    );
    assert.equal(urls.length, 1);
  });

  it('autoPagination without a limit returns all 25 exactly once and terminates', async () => {
    const { workos, urls } = recordingClient(gh);
    const all = await within(5000, (await workos.organizations.listOrganizations()).autoPagination());
    assert.deepEqual(
      all.map((o) => o.id),
      [...created].reverse(),
    );
    // The first call, then one page of 100 whose `after` is null.
    assert.deepEqual(
      urls.map((u) => `${u.pathname}?${u.searchParams}`),
      ['/organizations?order=desc', '/organizations?limit=100&order=desc'],
    );
  });

  it('rejects limit 0, 101 and non-numbers, bad order and before+after with 422', async () => {
    for (const limit of [0, 101, -1, 1.5]) {
      await assert.rejects(gh.workos.organizations.listOrganizations({ limit }), (err: unknown) => {
        assert.ok(err instanceof UnprocessableEntityException, String(limit));
        assert.equal(err.code, 'invalid_request_parameters');
        assert.equal(
          err.message,
          'The following requirement must be met:\n\tlimit must be a whole number from 1 to 100\n',
        );
        return true;
      });
    }
    for (const query of ['limit=abc', 'limit=', 'limit=1e1', 'limit=%2010']) {
      const res = await gh.api('GET', `/organizations?${query}`);
      assert.equal(res.status, 422, query);
      assert.deepEqual(res.body, {
        message: 'Validation failed: limit must be a whole number from 1 to 100',
        code: 'invalid_request_parameters',
        errors: [{ field: 'limit', code: 'limit must be a whole number from 1 to 100' }],
      });
    }
    const order = await gh.api('GET', '/organizations?order=sideways');
    assert.equal(order.status, 422);
    assert.deepEqual(order.body.errors, [{ field: 'order', code: 'order must be asc, desc or normal' }]);
    const both = await gh.api('GET', `/organizations?before=${created[3]}&after=${created[5]}`);
    assert.equal(both.status, 422);
    assert.deepEqual(both.body.errors, [{ field: 'before', code: 'before cannot be combined with after' }]);
    // The edges are fine.
    assert.equal((await gh.workos.organizations.listOrganizations({ limit: 1 })).data.length, 1);
    assert.equal((await gh.workos.organizations.listOrganizations({ limit: 100 })).data.length, 25);
  });

  it('filters by domains sent comma-joined, case-insensitively, in any state', async () => {
    const { workos, urls } = recordingClient(gh);
    const page = await workos.organizations.listOrganizations({ domains: ['a.com', 'B.com'] });
    assert.deepEqual(
      page.data.map((o) => o.id),
      [created[11], created[3]],
    );
    assert.deepEqual(page.listMetadata, { before: null, after: null });
    assert.equal(urls[0]?.searchParams.get('domains'), 'a.com,B.com');

    const one = await workos.organizations.listOrganizations({ domains: ['c.com'] });
    assert.deepEqual(
      one.data.map((o) => o.id),
      [created[17]],
    );
    const none = await workos.organizations.listOrganizations({ domains: ['nobody.example'] });
    assert.deepEqual(none.data, []);

    // The filter applies across pages too.
    const first = await workos.organizations.listOrganizations({
      domains: ['a.com', 'b.com', 'c.com'],
      limit: 2,
    });
    assert.deepEqual(
      first.data.map((o) => o.id),
      [created[17], created[11]],
    );
    assert.equal(first.listMetadata.after, created[11]);
    const second = await workos.organizations.listOrganizations({
      domains: ['a.com', 'b.com', 'c.com'],
      limit: 2,
      after: created[11],
    });
    assert.deepEqual(
      second.data.map((o) => o.id),
      [created[3]],
    );
    assert.deepEqual(second.listMetadata, { before: created[3], after: null });
  });

  it('filters by name with search (raw)', async () => {
    const res = await gh.api('GET', '/organizations?search=org%201');
    assert.deepEqual(
      res.body.data.map((o: { name: string }) => o.name),
      ['Org 19', 'Org 18', 'Org 17', 'Org 16', 'Org 15', 'Org 14', 'Org 13', 'Org 12', 'Org 11', 'Org 10'],
    );
  });
});

describe('autoPagination across several pages', () => {
  let gh: TestGatehouse;
  const created: string[] = [];
  before(async () => {
    gh = await startGatehouse();
    for (let i = 0; i < 130; i++) {
      const res = await gh.api('POST', '/organizations', { name: `Bulk ${i}` });
      assert.equal(res.status, 201);
      created.push(res.body.id);
    }
  });
  after(() => gh.close());

  it('returns all 130 exactly once, in order, and stops on after=null', async () => {
    const { workos, urls } = recordingClient(gh);
    const all = await within(5000, (await workos.organizations.listOrganizations()).autoPagination());
    const ids = all.map((o) => o.id);
    assert.equal(new Set(ids).size, 130);
    assert.deepEqual(ids, [...created].reverse());
    assert.deepEqual(
      urls.map((u) => `${u.pathname}?${u.searchParams}`),
      [
        '/organizations?order=desc',
        '/organizations?limit=100&order=desc',
        `/organizations?limit=100&after=${created[30]}&order=desc`,
      ],
    );
  });

  it('returns all 130 in ascending order too', async () => {
    const all = await within(
      5000,
      (await gh.workos.organizations.listOrganizations({ order: 'asc' })).autoPagination(),
    );
    assert.deepEqual(
      all.map((o) => o.id),
      created,
    );
  });
});

describe('connection pagination', () => {
  let gh: TestGatehouse;
  let orgA: string;
  let orgB: string;
  /** Connection IDs of organization A, oldest first. */
  const ofA: string[] = [];
  const all: string[] = [];
  before(async () => {
    gh = await startGatehouse();
    orgA = (await gh.api('POST', '/organizations', { name: 'A' })).body.id;
    orgB = (await gh.api('POST', '/organizations', { name: 'B' })).body.id;
    for (let i = 0; i < 14; i++) {
      const org = i % 3 === 2 ? orgB : orgA;
      const res = await gh.api('POST', '/connections', {
        connection_type: i % 2 === 0 ? 'GenericOIDC' : 'OktaOIDC',
        organization_id: org,
        name: `Conn ${i}`,
      });
      assert.equal(res.status, 201);
      all.push(res.body.id);
      if (org === orgA) ofA.push(res.body.id);
    }
  });
  after(() => gh.close());

  it('follows `after` with a filter kept on every page', async () => {
    assert.equal(ofA.length, 10);
    const seen: string[] = [];
    const metas: { before?: string | null; after?: string | null }[] = [];
    let after: string | undefined;
    for (let guard = 0; guard < 10; guard++) {
      const page = await gh.workos.sso.listConnections({
        organizationId: orgA,
        limit: 4,
        ...(after ? { after } : {}),
      });
      assert.ok(page.data.every((c) => c.organizationId === orgA));
      seen.push(...page.data.map((c) => c.id));
      metas.push(page.listMetadata);
      if (!page.listMetadata.after) break;
      after = page.listMetadata.after;
    }
    const newestFirst = [...ofA].reverse();
    assert.deepEqual(seen, newestFirst);
    assert.deepEqual(metas, [
      { before: null, after: newestFirst[3] },
      { before: newestFirst[4], after: newestFirst[7] },
      { before: newestFirst[8], after: null },
    ]);
  });

  it('pages backwards and in ascending order', async () => {
    const asc = await gh.workos.sso.listConnections({ order: 'asc', limit: 5 });
    assert.deepEqual(
      asc.data.map((c) => c.id),
      all.slice(0, 5),
    );
    assert.deepEqual(asc.listMetadata, { before: null, after: all[4] });
    const back = await gh.workos.sso.listConnections({ before: all[5], limit: 3 });
    assert.deepEqual(
      back.data.map((c) => c.id),
      [all[8], all[7], all[6]],
    );
    assert.deepEqual(back.listMetadata, { before: all[8], after: all[6] });
  });

  it('autoPagination returns every connection once and terminates', async () => {
    const everything = await within(5000, (await gh.workos.sso.listConnections()).autoPagination());
    assert.deepEqual(
      everything.map((c) => c.id),
      [...all].reverse(),
    );
    const okta = await within(
      5000,
      (await gh.workos.sso.listConnections({ connectionType: 'OKTAOIDC' as never })).autoPagination(),
    );
    assert.deepEqual(
      okta.map((c) => c.id),
      all.filter((_, i) => i % 2 === 1).reverse(),
    );
  });

  it('rejects bad limits with 422', async () => {
    for (const limit of [0, 101]) {
      await assert.rejects(gh.workos.sso.listConnections({ limit }), UnprocessableEntityException);
    }
    const res = await gh.api('GET', '/connections?limit=abc');
    assert.equal(res.status, 422);
    assert.deepEqual(res.body.errors, [
      { field: 'limit', code: 'limit must be a whole number from 1 to 100' },
    ]);
  });
});
