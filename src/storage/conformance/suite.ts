/**
 * The storage conformance suite: every `Store` backend registers it from its own test file and must pass it
 * unchanged. It only talks to the `Store` interface, so it knows nothing about SQL dialects or drivers.
 *
 * `open()` must return a new store on an EMPTY database (nothing from a previous test may be visible); the
 * suite migrates it before each test and closes it after. Tests never share a store.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { firstIdAt, newId, ulid } from '../../lib/ids.ts';
import {
  AlreadyExistsError,
  type ApiKeyRecord,
  type AuthorizationCodeRecord,
  CONNECTION_STATS_MAX,
  type ConnectionRecord,
  type DomainState,
  type LoginTransactionRecord,
  type NewDomain,
  type NewEvent,
  NotFoundError,
  type OperatorLinkRecord,
  type OrganizationRecord,
  type Page,
  type PageRequest,
  type PortalLinkRecord,
  type SessionFilter,
  type SsoSessionRecord,
  type Store,
  type WebhookAttemptResult,
  type WebhookClaim,
  type WebhookEndpointRecord,
} from '../store.ts';

type NewOrganization = Omit<OrganizationRecord, 'createdAt' | 'updatedAt'>;
type NewConnection = Omit<ConnectionRecord, 'createdAt' | 'updatedAt' | 'firstLoginAt'>;
type NewSession = Omit<SsoSessionRecord, 'createdAt' | 'updatedAt'>;
type NewLoginTransaction = Omit<
  LoginTransactionRecord,
  'consumedAt' | 'profileId' | 'consentHash' | 'consentExpiresAt' | 'consentDecidedAt' | 'oauthTokens'
>;

/** The fields of a login transaction that the callback and consent steps fill in later. */
const UNTOUCHED_TX = {
  consumedAt: null,
  profileId: null,
  consentHash: null,
  consentExpiresAt: null,
  consentDecidedAt: null,
  oauthTokens: null,
};

// ---------- fixtures ----------

function orgInput(over: Partial<NewOrganization> = {}): NewOrganization {
  return {
    id: newId('org'),
    name: 'Acme',
    externalId: null,
    allowProfilesOutsideOrganization: false,
    metadata: {},
    stripeCustomerId: null,
    ...over,
  };
}

function domainInput(
  domain: string,
  state: DomainState = 'pending',
  over: Partial<NewDomain> = {},
): NewDomain {
  return {
    id: newId('org_domain'),
    domain,
    state,
    verificationStrategy: 'manual',
    verificationToken: null,
    ...over,
  };
}

function connInput(over: Partial<NewConnection> = {}): NewConnection {
  return {
    id: newId('conn'),
    organizationId: null,
    connectionType: 'GenericOIDC',
    name: 'Connection',
    state: 'draft',
    externalKey: randomBytes(16).toString('base64url'),
    config: {},
    ...over,
  };
}

/** A login transaction; its ID is its session's (override both together). */
function txInput(over: Partial<NewLoginTransaction> = {}): NewLoginTransaction {
  const id = over.id ?? newId('sess');
  return {
    id,
    stateHash: randomBytes(32).toString('hex'),
    browserHash: randomBytes(32).toString('hex'),
    clientId: 'client_01TESTCLIENT',
    connectionId: newId('conn'),
    organizationId: null,
    redirectUri: 'https://app.example.com/callback',
    appState: null,
    codeChallenge: null,
    codeChallengeMethod: null,
    connectorState: 'sealed.connector.state',
    requestId: `req_${ulid()}`,
    sessionId: id,
    createdAt: new Date('2030-01-02T03:04:05.678Z'),
    expiresAt: new Date('2030-01-02T03:14:05.678Z'),
    ...over,
  };
}

function sessionInput(over: Partial<NewSession> = {}): NewSession {
  return {
    id: newId('sess'),
    clientId: 'client_01TESTCLIENT',
    connectionId: null,
    organizationId: null,
    connectionType: null,
    redirectUri: 'https://app.example.com/callback',
    outcome: 'started',
    failedStage: null,
    reason: null,
    wireCode: null,
    upstreamError: null,
    detail: null,
    profileId: null,
    idpId: null,
    email: null,
    authorizeRequestId: `req_${ulid()}`,
    callbackRequestId: null,
    consentRequestId: null,
    stages: {},
    expiresAt: new Date('2030-01-02T03:14:05.678Z'),
    ...over,
  };
}

/** Creates a login transaction together with its session log record, as /sso/authorize does. */
function createTx(store: Store, tx: NewLoginTransaction) {
  return store.createLoginTransaction(
    tx,
    sessionInput({
      id: tx.sessionId,
      clientId: tx.clientId,
      connectionId: tx.connectionId,
      organizationId: tx.organizationId,
      redirectUri: tx.redirectUri,
      authorizeRequestId: tx.requestId,
    }),
  );
}

function keyInput(name: string): Omit<ApiKeyRecord, 'createdAt' | 'revokedAt'> {
  return { id: newId('key'), name, keyHash: randomBytes(32).toString('hex'), lastFour: name.slice(-4) };
}

/** Asserts that `promise` rejects with a `NotFoundError`. */
async function rejectsNotFound(promise: Promise<unknown>): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof NotFoundError, `expected NotFoundError, got ${String(err)}`);
    return true;
  });
}

/** Asserts that `promise` rejects with an `AlreadyExistsError`, and its constraint when given. */
async function rejectsAlreadyExists(promise: Promise<unknown>, constraint?: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof AlreadyExistsError, `expected AlreadyExistsError, got ${String(err)}`);
    if (constraint !== undefined) assert.equal(err.constraint, constraint);
    return true;
  });
}

/** Asserts a store-set timestamp is a valid Date inside [from, to]. */
function assertBetween(value: Date, from: Date, to: Date): void {
  assert.ok(value instanceof Date, 'expected a Date');
  assert.ok(!Number.isNaN(value.getTime()), 'expected a valid Date');
  assert.ok(
    value.getTime() >= from.getTime() && value.getTime() <= to.getTime(),
    `${value.toISOString()} not within [${from.toISOString()}, ${to.toISOString()}]`,
  );
}

/** Walks forward with `after` from the first page; returns the pages. Fails on a runaway walk. */
async function walkForward<T extends { id: string }>(
  list: (page: PageRequest) => Promise<Page<T>>,
  limit: number,
  order: 'asc' | 'desc',
): Promise<Page<T>[]> {
  const pages: Page<T>[] = [];
  let after: string | undefined;
  for (let i = 0; i < 100; i++) {
    const page = await list({ limit, order, after });
    pages.push(page);
    if (page.after === null) return pages;
    after = page.after;
  }
  assert.fail('pagination did not end after 100 pages');
}

/** Walks backward with `before` from `start`; returns the pages in walking order. */
async function walkBackward<T extends { id: string }>(
  list: (page: PageRequest) => Promise<Page<T>>,
  limit: number,
  order: 'asc' | 'desc',
  start: string,
): Promise<Page<T>[]> {
  const pages: Page<T>[] = [];
  let before: string = start;
  for (let i = 0; i < 100; i++) {
    const page = await list({ limit, order, before });
    pages.push(page);
    if (page.before === null) return pages;
    before = page.before;
  }
  assert.fail('backward pagination did not end after 100 pages');
}

const ids = (rows: { id: string }[]): string[] => rows.map((r) => r.id);

// ---------- the suite ----------

export function runStoreConformance(name: string, open: () => Promise<Store>): void {
  /** A test with its own fresh, migrated store, closed afterwards whatever happens. */
  function test(title: string, fn: (store: Store) => Promise<void>): void {
    it(title, async () => {
      const store = await open();
      try {
        await store.migrate();
        await fn(store);
      } finally {
        await store.close();
      }
    });
  }

  describe(`Store conformance: ${name}`, () => {
    describe('lifecycle', () => {
      test('ping succeeds on a migrated store', async (store) => {
        await store.ping();
      });

      test('migrate() a second time is a no-op and keeps data', async (store) => {
        await store.setSetting('client_id', 'client_123');
        const org = await store.createOrganization(orgInput({ name: 'Kept' }), [domainInput('kept.com')]);
        await store.migrate();
        await store.migrate();
        assert.equal(await store.getSetting('client_id'), 'client_123');
        assert.deepEqual(await store.getOrganization(org.id), org);
        assert.equal((await store.listDomains([org.id])).length, 1);
        // Still writable after re-migrating.
        await store.setSetting('other', 'x');
        assert.equal(await store.getSetting('other'), 'x');
      });
    });

    describe('settings', () => {
      test('getSetting of an unknown key returns null', async (store) => {
        assert.equal(await store.getSetting('nope'), null);
      });

      test('initSetting keeps the first value, also among concurrent callers', async (store) => {
        const results = await Promise.all(['a', 'b', 'c', 'd'].map((v) => store.initSetting('client_id', v)));
        assert.equal(new Set(results).size, 1);
        assert.equal(await store.getSetting('client_id'), results[0]);
        assert.equal(await store.initSetting('client_id', 'later'), results[0]);
      });

      test('setSetting then getSetting, and overwrite', async (store) => {
        await store.setSetting('client_id', 'client_a');
        await store.setSetting('check', 'v1');
        assert.equal(await store.getSetting('client_id'), 'client_a');
        await store.setSetting('client_id', 'client_b');
        assert.equal(await store.getSetting('client_id'), 'client_b');
        assert.equal(await store.getSetting('check'), 'v1');
        await store.setSetting('empty', '');
        assert.equal(await store.getSetting('empty'), '');
      });
    });

    describe('organizations', () => {
      test('createOrganization with domains, getOrganization, getOrganizationByExternalId', async (store) => {
        const input = orgInput({
          name: 'Acme Inc',
          externalId: 'ext-acme',
          allowProfilesOutsideOrganization: true,
          metadata: { tier: 'gold', région: 'eu-ouest' },
          stripeCustomerId: 'cus_123',
        });
        const d1 = domainInput('acme.com', 'verified', {
          verificationStrategy: 'dns',
          verificationToken: 'tok1',
        });
        const d2 = domainInput('acme.io', 'pending');
        const t0 = new Date();
        const created = await store.createOrganization(input, [d1, d2]);
        const t1 = new Date();
        const { createdAt, updatedAt, ...fields } = created;
        assert.deepEqual(fields, input);
        assertBetween(createdAt, t0, t1);
        assert.equal(updatedAt.getTime(), createdAt.getTime());

        assert.deepEqual(await store.getOrganization(input.id), created);
        assert.deepEqual(await store.getOrganizationByExternalId('ext-acme'), created);
        assert.equal(await store.getOrganization(newId('org')), null);
        assert.equal(await store.getOrganizationByExternalId('ext-other'), null);

        const domains = await store.listDomains([input.id]);
        assert.deepEqual(
          domains.map((d) => [
            d.id,
            d.organizationId,
            d.domain,
            d.state,
            d.verificationStrategy,
            d.verificationToken,
          ]),
          [
            [d1.id, input.id, 'acme.com', 'verified', 'dns', 'tok1'],
            [d2.id, input.id, 'acme.io', 'pending', 'manual', null],
          ],
        );
        for (const d of domains) assertBetween(d.createdAt, t0, t1);
      });

      test('createOrganization without domains, and with null optional fields', async (store) => {
        const input = orgInput();
        const created = await store.createOrganization(input, []);
        assert.equal(created.externalId, null);
        assert.equal(created.stripeCustomerId, null);
        assert.deepEqual(created.metadata, {});
        assert.equal(created.allowProfilesOutsideOrganization, false);
        assert.deepEqual(await store.listDomains([input.id]), []);
      });

      test('updateOrganization applies each patch field and leaves the others', async (store) => {
        const input = orgInput({ name: 'Before', metadata: { a: '1' } });
        const created = await store.createOrganization(input, []);

        let org = await store.updateOrganization(input.id, { name: 'After' });
        assert.equal(org.name, 'After');
        assert.equal(org.externalId, null);
        assert.deepEqual(org.metadata, { a: '1' });

        org = await store.updateOrganization(input.id, { externalId: 'ext-1' });
        assert.equal(org.externalId, 'ext-1');
        assert.equal(org.name, 'After');
        assert.equal((await store.getOrganizationByExternalId('ext-1'))?.id, input.id);

        org = await store.updateOrganization(input.id, { allowProfilesOutsideOrganization: true });
        assert.equal(org.allowProfilesOutsideOrganization, true);
        org = await store.updateOrganization(input.id, { allowProfilesOutsideOrganization: false });
        assert.equal(org.allowProfilesOutsideOrganization, false);

        org = await store.updateOrganization(input.id, { metadata: { b: '2', c: '' } });
        assert.deepEqual(org.metadata, { b: '2', c: '' });

        org = await store.updateOrganization(input.id, { stripeCustomerId: 'cus_9' });
        assert.equal(org.stripeCustomerId, 'cus_9');
        org = await store.updateOrganization(input.id, { stripeCustomerId: null });
        assert.equal(org.stripeCustomerId, null);

        org = await store.updateOrganization(input.id, { externalId: null });
        assert.equal(org.externalId, null);
        assert.equal(await store.getOrganizationByExternalId('ext-1'), null);

        assert.deepEqual(org, {
          ...input,
          name: 'After',
          metadata: { b: '2', c: '' },
          createdAt: created.createdAt,
          updatedAt: org.updatedAt,
        });
        assert.deepEqual(await store.getOrganization(input.id), org);
      });

      test('updateOrganization replaces domains: kept IDs, new states, removed ones deleted', async (store) => {
        const a = domainInput('a.com', 'verified');
        const b = domainInput('b.com', 'pending');
        const c = domainInput('c.com', 'pending');
        const org = await store.createOrganization(orgInput(), [a, b, c]);

        const aAgain = domainInput('a.com', 'pending'); // new ID, ignored since a.com exists
        const bAgain = domainInput('b.com', 'verified');
        const d = domainInput('d.com', 'failed');
        await store.updateOrganization(org.id, { name: 'Renamed' }, [aAgain, bAgain, d]);

        const domains = await store.listDomains([org.id]);
        assert.deepEqual(
          domains.map((x) => [x.id, x.domain, x.state]),
          [
            [a.id, 'a.com', 'pending'],
            [b.id, 'b.com', 'verified'],
            [d.id, 'd.com', 'failed'],
          ],
        );
        assert.equal(await store.getDomain(c.id), null);
        assert.equal(await store.getDomain(aAgain.id), null);
        assert.equal((await store.findVerifiedDomain('b.com'))?.id, b.id);
        assert.equal(await store.findVerifiedDomain('a.com'), null);
        assert.equal((await store.getOrganization(org.id))?.name, 'Renamed');

        // Without `domains`, the domains are left alone.
        await store.updateOrganization(org.id, { name: 'Again' });
        assert.deepEqual(ids(await store.listDomains([org.id])), [a.id, b.id, d.id]);

        // An empty list removes them all.
        await store.updateOrganization(org.id, {}, []);
        assert.deepEqual(await store.listDomains([org.id]), []);
      });

      test('updateOrganization is atomic: a domain conflict rolls back the patch', async (store) => {
        await store.createOrganization(orgInput(), [domainInput('taken.com', 'verified')]);
        const org = await store.createOrganization(orgInput({ name: 'Original' }), [domainInput('mine.com')]);
        await rejectsAlreadyExists(
          store.updateOrganization(org.id, { name: 'Changed' }, [domainInput('taken.com', 'verified')]),
          'organization_domain.verified_domain',
        );
        assert.equal((await store.getOrganization(org.id))?.name, 'Original');
        assert.deepEqual(
          (await store.listDomains([org.id])).map((d) => d.domain),
          ['mine.com'],
        );
      });

      test('createOrganization is atomic: a domain conflict creates nothing', async (store) => {
        await store.createOrganization(orgInput(), [domainInput('taken.com', 'verified')]);
        const input = orgInput({ externalId: 'ext-new' });
        await rejectsAlreadyExists(
          store.createOrganization(input, [domainInput('free.com'), domainInput('taken.com', 'verified')]),
          'organization_domain.verified_domain',
        );
        assert.equal(await store.getOrganization(input.id), null);
        assert.equal(await store.getOrganizationByExternalId('ext-new'), null);
        assert.deepEqual(await store.listDomains([input.id]), []);
      });

      test('duplicate external_id → AlreadyExistsError(organization.external_id)', async (store) => {
        const first = await store.createOrganization(orgInput({ externalId: 'dup' }), []);
        const second = orgInput({ externalId: 'dup' });
        await rejectsAlreadyExists(store.createOrganization(second, []), 'organization.external_id');
        assert.equal(await store.getOrganization(second.id), null);

        const other = await store.createOrganization(orgInput({ externalId: 'other' }), []);
        await rejectsAlreadyExists(
          store.updateOrganization(other.id, { externalId: 'dup' }),
          'organization.external_id',
        );
        assert.equal((await store.getOrganization(other.id))?.externalId, 'other');
        assert.equal((await store.getOrganizationByExternalId('dup'))?.id, first.id);

        // Several organizations without an external ID are fine.
        await store.createOrganization(orgInput(), []);
        await store.createOrganization(orgInput(), []);
      });

      test('update/delete of a missing organization → NotFoundError', async (store) => {
        await rejectsNotFound(store.updateOrganization(newId('org'), { name: 'x' }));
        await rejectsNotFound(store.updateOrganization(newId('org'), {}, [domainInput('x.com')]));
        await rejectsNotFound(store.deleteOrganization(newId('org')));
      });

      test('deleteOrganization cascades to its domains and connections only', async (store) => {
        const d1 = domainInput('gone.com', 'verified');
        const d2 = domainInput('gone.io');
        const org = await store.createOrganization(orgInput(), [d1, d2]);
        const keepDomain = domainInput('kept.com', 'verified');
        const keep = await store.createOrganization(orgInput(), [keepDomain]);
        const c1 = await store.createConnection(connInput({ organizationId: org.id }));
        const c2 = await store.createConnection(
          connInput({ organizationId: org.id, connectionType: 'OktaSAML' }),
        );
        const keptConn = await store.createConnection(connInput({ organizationId: keep.id }));
        const envConn = await store.createConnection(connInput({ organizationId: null }));

        await store.deleteOrganization(org.id);

        assert.equal(await store.getOrganization(org.id), null);
        assert.equal(await store.getDomain(d1.id), null);
        assert.equal(await store.getDomain(d2.id), null);
        assert.deepEqual(await store.listDomains([org.id]), []);
        assert.equal(await store.findVerifiedDomain('gone.com'), null);
        assert.equal(await store.getConnection(c1.id), null);
        assert.equal(await store.getConnection(c2.id), null);
        assert.equal(await store.getConnectionByExternalKey(c1.externalKey), null);
        assert.deepEqual(await store.listOrganizationConnections(org.id), []);

        assert.deepEqual(await store.getOrganization(keep.id), keep);
        assert.deepEqual(ids(await store.listDomains([keep.id])), [keepDomain.id]);
        assert.deepEqual(await store.getConnection(keptConn.id), keptConn);
        assert.deepEqual(await store.getConnection(envConn.id), envConn);
        await rejectsNotFound(store.deleteOrganization(org.id));

        // The verified domain is free again.
        const again = await store.createOrganization(orgInput(), [domainInput('gone.com', 'verified')]);
        assert.equal((await store.findVerifiedDomain('gone.com'))?.organizationId, again.id);
      });

      test('listOrganizations filters by domains (any state) and by search', async (store) => {
        const a = await store.createOrganization(orgInput({ name: 'Alpha Corp' }), [
          domainInput('alpha.com', 'verified'),
        ]);
        const b = await store.createOrganization(orgInput({ name: 'Beta corp' }), [
          domainInput('beta.com', 'pending'),
          domainInput('beta.io', 'failed'),
        ]);
        const c = await store.createOrganization(orgInput({ name: 'Gamma 50% off_sale' }), []);
        const page = { limit: 100, order: 'asc' } as const;

        assert.deepEqual(ids((await store.listOrganizations({ domains: ['alpha.com'] }, page)).data), [a.id]);
        assert.deepEqual(ids((await store.listOrganizations({ domains: ['beta.io'] }, page)).data), [b.id]);
        assert.deepEqual(
          ids((await store.listOrganizations({ domains: ['beta.com', 'alpha.com', 'beta.io'] }, page)).data),
          [a.id, b.id],
        );
        assert.deepEqual((await store.listOrganizations({ domains: ['none.com'] }, page)).data, []);
        assert.deepEqual(ids((await store.listOrganizations({ domains: [] }, page)).data), [
          a.id,
          b.id,
          c.id,
        ]);

        assert.deepEqual(ids((await store.listOrganizations({ search: 'CORP' }, page)).data), [a.id, b.id]);
        assert.deepEqual(ids((await store.listOrganizations({ search: 'ta c' }, page)).data), [b.id]);
        // Search is a literal substring: LIKE wildcards have no special meaning.
        assert.deepEqual(ids((await store.listOrganizations({ search: '50%' }, page)).data), [c.id]);
        assert.deepEqual(ids((await store.listOrganizations({ search: '%' }, page)).data), [c.id]);
        assert.deepEqual(ids((await store.listOrganizations({ search: 'f_s' }, page)).data), [c.id]);
        assert.deepEqual((await store.listOrganizations({ search: 'a_c' }, page)).data, []);
        assert.deepEqual(
          ids((await store.listOrganizations({ search: 'corp', domains: ['beta.com'] }, page)).data),
          [b.id],
        );
        assert.deepEqual(
          (await store.listOrganizations({ search: 'gamma', domains: ['beta.com'] }, page)).data,
          [],
        );
        const all = await store.listOrganizations({}, page);
        assert.deepEqual(all.data[0], a);
      });

      test('search is case-insensitive beyond ASCII', async (store) => {
        const sg = await store.createOrganization(orgInput({ name: 'Société Générale' }), []);
        const mu = await store.createOrganization(orgInput({ name: 'MÜLLER GmbH' }), []);
        await store.createOrganization(orgInput({ name: 'Societe Generale' }), []);
        const page = { limit: 100, order: 'asc' } as const;
        assert.deepEqual(ids((await store.listOrganizations({ search: 'SOCIÉTÉ' }, page)).data), [sg.id]);
        assert.deepEqual(ids((await store.listOrganizations({ search: 'générale' }, page)).data), [sg.id]);
        assert.deepEqual(ids((await store.listOrganizations({ search: 'müller' }, page)).data), [mu.id]);
        const conn = await store.createConnection(connInput({ name: 'Ärzte SAML' }));
        await store.createConnection(connInput({ name: 'Arzte SAML' }));
        assert.deepEqual(ids((await store.listConnections({ search: 'ÄRZTE' }, page)).data), [conn.id]);
        assert.deepEqual(ids((await store.listConnections({ search: 'ärzte' }, page)).data), [conn.id]);
      });
    });

    describe('domains', () => {
      test('createDomain, getDomain, updateDomainState, deleteDomain', async (store) => {
        const org = await store.createOrganization(orgInput(), []);
        const input = domainInput('example.com', 'pending', {
          verificationStrategy: 'dns',
          verificationToken: 'verify-me',
        });
        const t0 = new Date();
        const created = await store.createDomain(org.id, input);
        const t1 = new Date();
        assert.deepEqual(created, {
          ...input,
          organizationId: org.id,
          createdAt: created.createdAt,
          updatedAt: created.updatedAt,
        });
        assertBetween(created.createdAt, t0, t1);
        assert.equal(created.updatedAt.getTime(), created.createdAt.getTime());
        assert.deepEqual(await store.getDomain(input.id), created);
        assert.equal(await store.getDomain(newId('org_domain')), null);

        await sleep(5);
        const verified = await store.updateDomainState(input.id, 'verified');
        assert.equal(verified.state, 'verified');
        assert.equal(verified.id, input.id);
        assert.equal(verified.verificationToken, 'verify-me');
        assert.equal(verified.createdAt.getTime(), created.createdAt.getTime());
        assert.ok(verified.updatedAt.getTime() > created.updatedAt.getTime());
        assert.deepEqual(await store.getDomain(input.id), verified);

        const failed = await store.updateDomainState(input.id, 'failed');
        assert.equal(failed.state, 'failed');

        await store.deleteDomain(input.id);
        assert.equal(await store.getDomain(input.id), null);
        assert.deepEqual(await store.listDomains([org.id]), []);
        assert.notEqual(await store.getOrganization(org.id), null);
      });

      test('updateDomainState/deleteDomain of a missing domain → NotFoundError', async (store) => {
        await rejectsNotFound(store.updateDomainState(newId('org_domain'), 'verified'));
        await rejectsNotFound(store.deleteDomain(newId('org_domain')));
      });

      test('listDomains returns the domains of the given organizations ordered by ID', async (store) => {
        const a1 = domainInput('a1.com');
        const a2 = domainInput('a2.com');
        const orgA = await store.createOrganization(orgInput(), [a1, a2]);
        const b1 = domainInput('b1.com');
        const orgB = await store.createOrganization(orgInput(), [b1]);
        const c1 = domainInput('c1.com');
        await store.createOrganization(orgInput(), [c1]);
        const a3 = domainInput('a3.com');
        await store.createDomain(orgA.id, a3);

        assert.deepEqual(ids(await store.listDomains([orgA.id])), [a1.id, a2.id, a3.id]);
        assert.deepEqual(ids(await store.listDomains([orgB.id, orgA.id])), [a1.id, a2.id, b1.id, a3.id]);
        assert.deepEqual(await store.listDomains([]), []);
        assert.deepEqual(await store.listDomains([newId('org')]), []);
      });

      test('findVerifiedDomain finds only a verified domain', async (store) => {
        const org = await store.createOrganization(orgInput(), []);
        const other = await store.createOrganization(orgInput(), []);
        const verified = await store.createDomain(org.id, domainInput('verified.com', 'verified'));
        await store.createDomain(org.id, domainInput('pending.com', 'pending'));
        await store.createDomain(org.id, domainInput('failed.com', 'failed'));
        await store.createDomain(other.id, domainInput('verified.com', 'pending'));

        assert.deepEqual(await store.findVerifiedDomain('verified.com'), verified);
        assert.equal(await store.findVerifiedDomain('pending.com'), null);
        assert.equal(await store.findVerifiedDomain('failed.com'), null);
        assert.equal(await store.findVerifiedDomain('unknown.com'), null);
        assert.equal(await store.findVerifiedDomain('erified.com'), null);
      });

      test('a domain verified by two organizations → AlreadyExistsError(organization_domain.verified_domain)', async (store) => {
        const orgA = await store.createOrganization(orgInput(), [domainInput('shared.com', 'verified')]);
        const orgB = await store.createOrganization(orgInput(), []);

        const onCreate = domainInput('shared.com', 'verified');
        await rejectsAlreadyExists(
          store.createDomain(orgB.id, onCreate),
          'organization_domain.verified_domain',
        );
        assert.equal(await store.getDomain(onCreate.id), null);

        const pending = await store.createDomain(orgB.id, domainInput('shared.com', 'pending'));
        await rejectsAlreadyExists(
          store.updateDomainState(pending.id, 'verified'),
          'organization_domain.verified_domain',
        );
        assert.equal((await store.getDomain(pending.id))?.state, 'pending');
        assert.equal((await store.findVerifiedDomain('shared.com'))?.organizationId, orgA.id);

        // Once A no longer has it verified, B may verify it.
        const [aDomain] = await store.listDomains([orgA.id]);
        assert.ok(aDomain);
        await store.updateDomainState(aDomain.id, 'failed');
        await store.updateDomainState(pending.id, 'verified');
        assert.equal((await store.findVerifiedDomain('shared.com'))?.id, pending.id);
      });

      test('the same domain pending in two organizations is allowed', async (store) => {
        const orgA = await store.createOrganization(orgInput(), [domainInput('both.com', 'pending')]);
        const orgB = await store.createOrganization(orgInput(), [domainInput('both.com', 'pending')]);
        const orgC = await store.createOrganization(orgInput(), []);
        await store.createDomain(orgC.id, domainInput('both.com', 'failed'));
        // And one organization may verify it while the others still have it pending.
        const [bDomain] = await store.listDomains([orgB.id]);
        assert.ok(bDomain);
        await store.updateDomainState(bDomain.id, 'verified');
        assert.equal((await store.findVerifiedDomain('both.com'))?.organizationId, orgB.id);
        assert.equal((await store.listDomains([orgA.id, orgB.id, orgC.id])).length, 3);
        assert.deepEqual(
          ids((await store.listOrganizations({ domains: ['both.com'] }, { limit: 10, order: 'asc' })).data),
          [orgA.id, orgB.id, orgC.id],
        );
      });

      test('the same domain twice in one organization → AlreadyExistsError', async (store) => {
        const org = await store.createOrganization(orgInput(), [domainInput('once.com', 'pending')]);
        const dup = domainInput('once.com', 'pending');
        await rejectsAlreadyExists(store.createDomain(org.id, dup), 'organization_domain.domain');
        assert.equal(await store.getDomain(dup.id), null);
        const twice = orgInput();
        await rejectsAlreadyExists(
          store.createOrganization(twice, [domainInput('twice.com'), domainInput('twice.com')]),
          'organization_domain.domain',
        );
        assert.equal(await store.getOrganization(twice.id), null);
        assert.deepEqual(
          (await store.listDomains([org.id])).map((d) => d.domain),
          ['once.com'],
        );
      });
    });

    describe('connections', () => {
      test('createConnection, getConnection, getConnectionByExternalKey', async (store) => {
        const org = await store.createOrganization(orgInput(), []);
        const input = connInput({
          organizationId: org.id,
          connectionType: 'OktaSAML',
          name: 'Okta',
          state: 'validating',
          config: { idpEntityId: 'https://idp.example.com', certs: ['a', 'b'] },
        });
        const t0 = new Date();
        const created = await store.createConnection(input);
        const t1 = new Date();
        assert.deepEqual(created, {
          ...input,
          firstLoginAt: null,
          createdAt: created.createdAt,
          updatedAt: created.updatedAt,
        });
        assertBetween(created.createdAt, t0, t1);
        assert.equal(created.updatedAt.getTime(), created.createdAt.getTime());
        assert.deepEqual(await store.getConnection(input.id), created);
        assert.deepEqual(await store.getConnectionByExternalKey(input.externalKey), created);
        assert.equal(await store.getConnection(newId('conn')), null);
        assert.equal(await store.getConnectionByExternalKey('unknown-key'), null);

        const env = await store.createConnection(connInput({ organizationId: null }));
        assert.equal(env.organizationId, null);
        assert.deepEqual(await store.getConnection(env.id), env);
      });

      test('duplicate external key → AlreadyExistsError(connection.external_key)', async (store) => {
        const first = await store.createConnection(connInput());
        const second = connInput({ externalKey: first.externalKey });
        await rejectsAlreadyExists(store.createConnection(second), 'connection.external_key');
        assert.equal(await store.getConnection(second.id), null);
      });

      test('updateConnection: name, state, config JSON round trip, firstLoginAt', async (store) => {
        const input = connInput({ name: 'Old', state: 'draft', config: { a: 1 } });
        const created = await store.createConnection(input);
        await sleep(5);

        let conn = await store.updateConnection(input.id, { name: 'New' });
        assert.equal(conn.name, 'New');
        assert.equal(conn.state, 'draft');
        assert.deepEqual(conn.config, { a: 1 });
        assert.ok(conn.updatedAt.getTime() > created.updatedAt.getTime());
        assert.equal(conn.createdAt.getTime(), created.createdAt.getTime());

        for (const state of ['validating', 'active', 'inactive', 'draft'] as const) {
          conn = await store.updateConnection(input.id, { state });
          assert.equal(conn.state, state);
        }

        const config = {
          clientId: 'abc',
          clientSecret: 'v1.sealed:AAAA/BBBB+CCCC==',
          scopes: ['openid', 'email'],
          nested: { deep: { n: 42, f: 1.5, neg: -3, t: true, f2: false, nil: null } },
          unicode: 'Zoë — 日本語 🎉',
          quotes: `it's "quoted" \\ back`,
          empty: {},
          emptyList: [],
        };
        conn = await store.updateConnection(input.id, { config });
        assert.deepEqual(conn.config, config);
        assert.deepEqual((await store.getConnection(input.id))?.config, config);

        assert.equal(conn.firstLoginAt, null);
        const firstLoginAt = new Date('2031-05-06T07:08:09.123Z');
        conn = await store.updateConnection(input.id, { firstLoginAt });
        assert.ok(conn.firstLoginAt instanceof Date);
        assert.equal(conn.firstLoginAt.getTime(), firstLoginAt.getTime());

        assert.deepEqual(await store.getConnection(input.id), {
          ...input,
          name: 'New',
          state: 'draft',
          config,
          firstLoginAt,
          createdAt: created.createdAt,
          updatedAt: conn.updatedAt,
        });
        assert.equal(conn.externalKey, input.externalKey);
      });

      test('update/delete of a missing connection → NotFoundError; deleteConnection removes it', async (store) => {
        await rejectsNotFound(store.updateConnection(newId('conn'), { name: 'x' }));
        await rejectsNotFound(store.deleteConnection(newId('conn')));
        const conn = await store.createConnection(connInput());
        const other = await store.createConnection(connInput());
        await store.deleteConnection(conn.id);
        assert.equal(await store.getConnection(conn.id), null);
        assert.equal(await store.getConnectionByExternalKey(conn.externalKey), null);
        assert.deepEqual(await store.getConnection(other.id), other);
        await rejectsNotFound(store.deleteConnection(conn.id));
      });

      test('listOrganizationConnections and listConnectionsByType (exact match)', async (store) => {
        const orgA = await store.createOrganization(orgInput(), []);
        const orgB = await store.createOrganization(orgInput(), []);
        const a1 = await store.createConnection(
          connInput({ organizationId: orgA.id, connectionType: 'OktaSAML' }),
        );
        const b1 = await store.createConnection(
          connInput({ organizationId: orgB.id, connectionType: 'OktaSAML' }),
        );
        const gh = await store.createConnection(
          connInput({ organizationId: null, connectionType: 'GitHubOAuth' }),
        );
        const a2 = await store.createConnection(
          connInput({ organizationId: orgA.id, connectionType: 'GenericOIDC' }),
        );

        assert.deepEqual(await store.listOrganizationConnections(orgA.id), [a1, a2]);
        assert.deepEqual(await store.listOrganizationConnections(orgB.id), [b1]);
        assert.deepEqual(await store.listOrganizationConnections(newId('org')), []);

        assert.deepEqual(await store.listConnectionsByType('OktaSAML'), [a1, b1]);
        assert.deepEqual(await store.listConnectionsByType('GitHubOAuth'), [gh]);
        assert.deepEqual(await store.listConnectionsByType('githuboauth'), []);
        assert.deepEqual(await store.listConnectionsByType('GithubOAuth'), []);
        assert.deepEqual(await store.listConnectionsByType('Okta'), []);
      });

      test('listConnections filters: connectionType (case-insensitive), organizationId, domain, search', async (store) => {
        const orgA = await store.createOrganization(orgInput(), [
          domainInput('a.com', 'verified'),
          domainInput('a-pending.com', 'pending'),
        ]);
        const orgB = await store.createOrganization(orgInput(), [domainInput('b.com', 'verified')]);
        const gh = await store.createConnection(
          connInput({ organizationId: null, connectionType: 'GitHubOAuth', name: 'GitHub Login' }),
        );
        const a1 = await store.createConnection(
          connInput({ organizationId: orgA.id, connectionType: 'OktaSAML', name: 'Acme Okta' }),
        );
        const a2 = await store.createConnection(
          connInput({ organizationId: orgA.id, connectionType: 'GenericOIDC', name: 'Acme OIDC' }),
        );
        const b1 = await store.createConnection(
          connInput({ organizationId: orgB.id, connectionType: 'OktaSAML', name: 'Beta okta_100%' }),
        );
        const page = { limit: 100, order: 'asc' } as const;
        const list = async (filter: Parameters<Store['listConnections']>[0]) =>
          ids((await store.listConnections(filter, page)).data);

        assert.deepEqual(await list({}), [gh.id, a1.id, a2.id, b1.id]);
        assert.deepEqual(await list({ connectionType: 'githuboauth' }), [gh.id]);
        assert.deepEqual(await list({ connectionType: 'GithubOAuth' }), [gh.id]);
        assert.deepEqual(await list({ connectionType: 'GitHubOAuth' }), [gh.id]);
        assert.deepEqual(await list({ connectionType: 'OKTASAML' }), [a1.id, b1.id]);
        assert.deepEqual(await list({ connectionType: 'Okta' }), []);

        assert.deepEqual(await list({ organizationId: orgA.id }), [a1.id, a2.id]);
        assert.deepEqual(await list({ organizationId: orgB.id }), [b1.id]);
        assert.deepEqual(await list({ organizationId: newId('org') }), []);

        assert.deepEqual(await list({ domain: 'a.com' }), [a1.id, a2.id]);
        // Only verified domains count: a pending domain is not yet the organization's.
        assert.deepEqual(await list({ domain: 'a-pending.com' }), []);
        assert.deepEqual(await list({ domain: 'b.com' }), [b1.id]);
        assert.deepEqual(await list({ domain: 'none.com' }), []);

        assert.deepEqual(await list({ search: 'acme' }), [a1.id, a2.id]);
        assert.deepEqual(await list({ search: 'OKTA' }), [a1.id, b1.id]);
        assert.deepEqual(await list({ search: 'me ok' }), [a1.id]);
        assert.deepEqual(await list({ search: 'nothing' }), []);
        // Literal substring: `%` and `_` are not wildcards.
        assert.deepEqual(await list({ search: '100%' }), [b1.id]);
        assert.deepEqual(await list({ search: '_' }), [b1.id]);
        assert.deepEqual(await list({ search: 'a_o' }), []);

        assert.deepEqual(await list({ connectionType: 'oktasaml', organizationId: orgA.id }), [a1.id]);
        assert.deepEqual(await list({ connectionType: 'oktasaml', domain: 'b.com' }), [b1.id]);
        assert.deepEqual(await list({ search: 'acme', domain: 'b.com' }), []);
        assert.deepEqual(await list({ search: 'oidc', organizationId: orgA.id, domain: 'a.com' }), [a2.id]);

        const full = await store.listConnections({ organizationId: orgB.id }, page);
        assert.deepEqual(full.data, [b1]);
      });
    });

    // ---------- the dashboard's connections page (issue 13) ----------
    describe('connections by state, and their sign-in statistics', () => {
      test('listConnections filters by state, with the other filters and pagination', async (store) => {
        const org = await store.createOrganization(orgInput(), []);
        const made: ConnectionRecord[] = [];
        for (const state of ['draft', 'active', 'inactive', 'active', 'validating', 'active'] as const) {
          made.push(await store.createConnection(connInput({ organizationId: org.id, state })));
        }
        const other = await store.createConnection(connInput({ state: 'active' }));
        const active = made.filter((c) => c.state === 'active').map((c) => c.id);
        const page = { limit: 10, order: 'asc' as const };
        assert.deepEqual(ids((await store.listConnections({ state: 'active' }, page)).data), [
          ...active,
          other.id,
        ]);
        assert.deepEqual(
          ids((await store.listConnections({ state: 'active', organizationId: org.id }, page)).data),
          active,
        );
        assert.deepEqual(ids((await store.listConnections({ state: 'inactive' }, page)).data), [made[2]?.id]);
        const first = await store.listConnections({ state: 'active' }, { limit: 2, order: 'desc' });
        assert.deepEqual(ids(first.data), [other.id, active[2]]);
        const next = await store.listConnections(
          { state: 'active' },
          { limit: 2, order: 'desc', after: first.after ?? undefined },
        );
        assert.deepEqual(ids(next.data), [active[1], active[0]]);
        assert.equal(next.after, null);
      });

      test('connectionStats: last success and failure, attempts and failures in each window, per connection', async (store) => {
        const hour = 60 * 60 * 1000;
        const now = Date.now();
        // A session ID created at `ms` (the windows are by ID: IDs are ULIDs).
        const idAt = (ms: number) =>
          `${firstIdAt('sess', new Date(ms))}${randomBytes(8).toString('hex').toUpperCase()}`;
        const at = async (connectionId: string, ms: number, outcome: SsoSessionRecord['outcome']) => {
          const created = await store.createSession(sessionInput({ id: idAt(ms), connectionId }));
          return outcome === 'started' ? created : store.updateSession(created.id, { outcome });
        };
        const a = 'conn_stats_a';
        await at(a, now - 30 * 24 * hour, 'failed'); // outside both windows
        const lastSuccess = await at(a, now - 3 * 24 * hour, 'succeeded'); // 7 days
        await at(a, now - 4 * 24 * hour, 'succeeded'); // 7 days; earlier, though written later
        await at(a, now - 2 * 24 * hour, 'failed'); // 7 days
        await at(a, now - 5 * hour, 'timed_out'); // 24 hours
        await at(a, now - 2 * hour, 'started'); // 24 hours
        const lastFailure = await at(a, now - hour, 'failed'); // 24 hours
        await at('conn_stats_other', now - hour, 'failed');
        await store.createSession(sessionInput({ id: idAt(now - hour), connectionId: null }));

        const stats = await store.connectionStats(
          [a, 'conn_stats_none'],
          new Date(now - 24 * hour),
          new Date(now - 7 * 24 * hour),
        );
        assert.deepEqual([...stats.keys()], [a, 'conn_stats_none']);
        assert.deepEqual(stats.get(a), {
          lastSucceededAt: lastSuccess.createdAt,
          lastFailedAt: lastFailure.createdAt,
          total24h: 3,
          failed24h: 1,
          total7d: 6,
          failed7d: 2,
        });
        assert.deepEqual(stats.get('conn_stats_none'), {
          lastSucceededAt: null,
          lastFailedAt: null,
          total24h: 0,
          failed24h: 0,
          total7d: 0,
          failed7d: 0,
        });
        assert.deepEqual(await store.connectionStats([], new Date(now), new Date(now)), new Map());
        // A page's worth at most.
        await assert.rejects(
          store.connectionStats(
            Array.from({ length: CONNECTION_STATS_MAX + 1 }, (_, i) => `conn_${i}`),
            new Date(now),
            new Date(now),
          ),
          TypeError,
        );
      });
    });

    // ---- sign-ins over time (the dashboard's overview, issue 13) ----
    describe('sign-ins over time', () => {
      test('signInSummary: sign-ins by hour and outcome, failures by reason and by connection, each over its range, by ID time', async (store) => {
        const minute = 60_000;
        const t0 = Date.UTC(2030, 0, 1, 10); // 10:00
        const idAt = (ms: number) =>
          `${firstIdAt('sess', new Date(ms))}${randomBytes(8).toString('hex').toUpperCase()}`;
        const at = (ms: number, over: Partial<NewSession> = {}) =>
          store.createSession(sessionInput({ id: idAt(ms), ...over }));
        const failed = (ms: number, reason: string | null, connectionId: string | null) =>
          at(ms, { outcome: 'failed', failedStage: 'upstream_error', reason, connectionId });
        await at(t0 + 30 * minute - 1, { outcome: 'succeeded' }); // before the hours' start
        await at(t0 + 30 * minute, { outcome: 'succeeded' }); // 10:30: the start, included
        await failed(t0 + 59 * minute, 'idp_error', 'conn_a');
        await at(t0 + 60 * minute, { outcome: 'succeeded' });
        await at(t0 + 61 * minute, { outcome: 'succeeded' });
        await at(t0 + 62 * minute, { outcome: 'timed_out', failedStage: 'abandoned_at_idp' });
        await at(t0 + 90 * minute, { outcome: 'started', connectionId: 'conn_a' }); // in no count
        // Written as started, then failed: counted as it is now.
        const later = await at(t0 + 150 * minute, { connectionId: 'conn_b' });
        await store.updateSession(later.id, { outcome: 'failed', reason: 'access_denied' });
        await failed(t0 + 180 * minute, 'invalid_signature', 'conn_b');
        await failed(t0 + 185 * minute, null, null);
        await failed(t0 + 190 * minute, 'idp_error', 'conn_a');
        await at(t0 + 195 * minute, { outcome: 'succeeded' }); // at the end: not included

        const query = {
          since: new Date(t0 + 30 * minute),
          reasonsSince: new Date(t0),
          until: new Date(t0 + 195 * minute),
          limit: 10,
        };
        const summary = await store.signInSummary(query);
        const hour = (h: number) => new Date(t0 + h * 60 * minute);
        assert.deepEqual(summary.hours, [
          { hour: hour(0), succeeded: 1, failed: 1, timedOut: 0 },
          { hour: hour(1), succeeded: 2, failed: 0, timedOut: 1 },
          { hour: hour(2), succeeded: 0, failed: 1, timedOut: 0 },
          { hour: hour(3), succeeded: 0, failed: 3, timedOut: 0 },
        ]);
        // Most first; ties by reason; no reason last.
        assert.deepEqual(summary.reasons, [
          { reason: 'idp_error', count: 2 },
          { reason: 'access_denied', count: 1 },
          { reason: 'invalid_signature', count: 1 },
          { reason: null, count: 1 },
        ]);
        assert.deepEqual(summary.failingConnections, [
          { connectionId: 'conn_a', failed: 2 },
          { connectionId: 'conn_b', failed: 2 },
        ]);
        // Each range its own; the limit.
        const since11 = await store.signInSummary({
          ...query,
          since: hour(1),
          reasonsSince: hour(1),
          limit: 1,
        });
        assert.deepEqual(since11.hours, summary.hours.slice(1));
        assert.deepEqual(since11.reasons, [{ reason: 'access_denied', count: 1 }]);
        assert.deepEqual(since11.failingConnections, [{ connectionId: 'conn_b', failed: 2 }]);
        const reasonsLonger = await store.signInSummary({ ...query, since: hour(3) });
        assert.deepEqual(reasonsLonger.reasons, summary.reasons);
        assert.deepEqual(reasonsLonger.failingConnections, [
          { connectionId: 'conn_a', failed: 1 },
          { connectionId: 'conn_b', failed: 1 },
        ]);
        // Nothing in range: no hour; a range with no record: zeros.
        const empty = await store.signInSummary({ ...query, since: query.until });
        assert.deepEqual(empty.hours, []);
        const quiet = await store.signInSummary({
          since: new Date(t0 - 120 * minute),
          reasonsSince: new Date(t0 - 120 * minute),
          until: new Date(t0),
          limit: 5,
        });
        assert.deepEqual(
          quiet.hours.map((h) => [h.hour.toISOString(), h.succeeded + h.failed + h.timedOut]),
          [
            [hour(-2).toISOString(), 0],
            [hour(-1).toISOString(), 0],
          ],
        );
        assert.deepEqual([quiet.reasons, quiet.failingConnections], [[], []]);
      });

      test('signInSummary refuses more than 31 days of hours, and a limit outside 1..100', async (store) => {
        const until = new Date(Date.UTC(2030, 0, 1));
        const days = (n: number) => new Date(until.getTime() - n * 24 * 60 * 60 * 1000);
        const q = { since: days(31), reasonsSince: days(7), until, limit: 10 };
        assert.equal((await store.signInSummary(q)).hours.length, 24 * 31);
        await assert.rejects(store.signInSummary({ ...q, since: days(32) }), TypeError);
        await assert.rejects(store.signInSummary({ ...q, limit: 0 }), TypeError);
        await assert.rejects(store.signInSummary({ ...q, limit: 101 }), TypeError);
      });
    });

    describe('pagination', () => {
      test('listOrganizations: default desc order, newest first; asc order; limit', async (store) => {
        const created: string[] = [];
        for (let i = 0; i < 25; i++) {
          created.push((await store.createOrganization(orgInput({ name: `Org ${i}` }), [])).id);
        }
        const desc = [...created].reverse();

        const first = await store.listOrganizations({}, { limit: 10, order: 'desc' });
        assert.deepEqual(ids(first.data), desc.slice(0, 10));
        assert.equal(first.before, null);
        assert.equal(first.after, desc[9]);

        const asc = await store.listOrganizations({}, { limit: 10, order: 'asc' });
        assert.deepEqual(ids(asc.data), created.slice(0, 10));
        assert.equal(asc.before, null);
        assert.equal(asc.after, created[9]);

        const all = await store.listOrganizations({}, { limit: 100, order: 'desc' });
        assert.deepEqual(ids(all.data), desc);
        assert.equal(all.before, null);
        assert.equal(all.after, null);

        const one = await store.listOrganizations({}, { limit: 1, order: 'asc' });
        assert.deepEqual(ids(one.data), [created[0]]);
        assert.equal(one.after, created[0]);

        const exact = await store.listOrganizations({}, { limit: 25, order: 'asc' });
        assert.deepEqual(ids(exact.data), created);
        assert.equal(exact.after, null);
      });

      test('listOrganizations: walking forward with after and back with before, both orders', async (store) => {
        const created: string[] = [];
        for (let i = 0; i < 25; i++) {
          created.push((await store.createOrganization(orgInput({ name: `Org ${i}` }), [])).id);
        }
        const list = (page: PageRequest) => store.listOrganizations({}, page);

        for (const order of ['desc', 'asc'] as const) {
          const expected = order === 'asc' ? created : [...created].reverse();
          const pages = await walkForward(list, 10, order);
          assert.deepEqual(
            pages.map((p) => p.data.length),
            [10, 10, 5],
            order,
          );
          assert.deepEqual(ids(pages.flatMap((p) => p.data)), expected, order);
          assert.equal(pages[0]?.before, null);
          assert.equal(pages[1]?.before, expected[10]);
          assert.equal(pages[1]?.after, expected[19]);
          assert.equal(pages[2]?.before, expected[20]);
          assert.equal(pages[2]?.after, null);

          // Back from the last page's first item to the start.
          const back = await walkBackward(list, 10, order, expected[20] as string);
          assert.deepEqual(
            back.map((p) => ids(p.data)),
            [expected.slice(10, 20), expected.slice(0, 10)],
            order,
          );
          assert.equal(back[0]?.after, expected[19]);
          assert.equal(back[0]?.before, expected[10]);
          assert.equal(back[1]?.before, null);
          assert.equal(back[1]?.after, expected[9]);

          // A partial page backwards: before the 4th item, with a limit of 10, gives the first three.
          const partial = await list({ limit: 10, order, before: expected[3] });
          assert.deepEqual(ids(partial.data), expected.slice(0, 3));
          assert.equal(partial.before, null);
          assert.equal(partial.after, expected[2]);

          // After the last item: empty and no further page.
          const end = await list({ limit: 10, order, after: expected[24] });
          assert.deepEqual(end.data, []);
          assert.equal(end.after, null);
        }
      });

      test('listConnections: walking pages with an exact multiple of the limit visits every row once', async (store) => {
        const created: string[] = [];
        for (let i = 0; i < 24; i++) {
          created.push((await store.createConnection(connInput({ name: `Conn ${i}` }))).id);
        }
        const list = (page: PageRequest) => store.listConnections({}, page);
        for (const order of ['desc', 'asc'] as const) {
          const expected = order === 'asc' ? created : [...created].reverse();
          const pages = await walkForward(list, 8, order);
          assert.deepEqual(
            pages.map((p) => ids(p.data)),
            [expected.slice(0, 8), expected.slice(8, 16), expected.slice(16, 24)],
            order,
          );
          assert.equal(pages[0]?.before, null);
          assert.equal(pages[2]?.after, null);

          const back = await walkBackward(list, 8, order, pages[2]?.before as string);
          assert.deepEqual(
            back.map((p) => ids(p.data)),
            [expected.slice(8, 16), expected.slice(0, 8)],
            order,
          );
          assert.equal(back[1]?.before, null);
        }
      });

      test('listConnections: filters combined with pagination', async (store) => {
        const org = await store.createOrganization(orgInput(), [domainInput('paged.com', 'verified')]);
        const saml: string[] = [];
        const all: string[] = [];
        for (let i = 0; i < 26; i++) {
          const isSaml = i % 2 === 0;
          const conn = await store.createConnection(
            connInput({
              organizationId: isSaml ? org.id : null,
              connectionType: isSaml ? 'OktaSAML' : 'GitHubOAuth',
              name: isSaml ? `SAML ${i}` : `GitHub ${i}`,
            }),
          );
          all.push(conn.id);
          if (isSaml) saml.push(conn.id);
        }
        assert.equal(saml.length, 13);
        const filters = [
          { connectionType: 'oktasaml' },
          { organizationId: org.id },
          { domain: 'paged.com' },
          { search: 'saml' },
          { connectionType: 'OKTASAML', organizationId: org.id, domain: 'paged.com', search: 'Saml' },
        ];
        for (const filter of filters) {
          const list = (page: PageRequest) => store.listConnections(filter, page);
          const descPages = await walkForward(list, 5, 'desc');
          assert.deepEqual(
            descPages.map((p) => ids(p.data)),
            [
              [...saml].reverse().slice(0, 5),
              [...saml].reverse().slice(5, 10),
              [...saml].reverse().slice(10),
            ],
            JSON.stringify(filter),
          );
          const ascPages = await walkForward(list, 5, 'asc');
          assert.deepEqual(ids(ascPages.flatMap((p) => p.data)), saml, JSON.stringify(filter));
          const back = await walkBackward(list, 5, 'asc', saml[12] as string);
          assert.deepEqual(
            back.map((p) => ids(p.data)),
            [saml.slice(7, 12), saml.slice(2, 7), saml.slice(0, 2)],
            JSON.stringify(filter),
          );
        }
        // A cursor taken from an unfiltered row still positions a filtered list correctly.
        const afterOdd = await store.listConnections(
          { connectionType: 'oktasaml' },
          { limit: 3, order: 'asc', after: all[3] },
        );
        assert.deepEqual(ids(afterOdd.data), saml.slice(2, 5));

        const orgPage = await store.listOrganizations(
          { domains: ['paged.com'], search: 'acme' },
          { limit: 1, order: 'desc' },
        );
        assert.deepEqual(ids(orgPage.data), [org.id]);
        assert.equal(orgPage.after, null);
        assert.equal(orgPage.before, null);
      });

      test('listOrganizations: filters combined with pagination', async (store) => {
        const matching: string[] = [];
        for (let i = 0; i < 24; i++) {
          const match = i % 3 !== 0;
          const org = await store.createOrganization(
            orgInput({ name: match ? `Blue ${i}` : `Red ${i}` }),
            [],
          );
          if (match) matching.push(org.id);
        }
        assert.equal(matching.length, 16);
        const list = (page: PageRequest) => store.listOrganizations({ search: 'BLUE' }, page);
        const pages = await walkForward(list, 6, 'desc');
        const expected = [...matching].reverse();
        assert.deepEqual(
          pages.map((p) => ids(p.data)),
          [expected.slice(0, 6), expected.slice(6, 12), expected.slice(12)],
        );
        assert.equal(pages[2]?.after, null);
      });
    });

    describe('timestamps', () => {
      test('login transaction dates round-trip as Date with millisecond precision', async (store) => {
        const createdAt = new Date('2029-03-31T23:59:59.001Z');
        const expiresAt = new Date('2029-04-01T00:09:59.999Z');
        const input = txInput({ createdAt, expiresAt });
        const returned = await createTx(store, input);
        assert.deepEqual(returned, { ...input, ...UNTOUCHED_TX });

        const got = await store.getLoginTransaction(input.id, input.stateHash);
        assert.ok(got);
        assert.ok(got.createdAt instanceof Date);
        assert.ok(got.expiresAt instanceof Date);
        assert.equal(got.createdAt.toISOString(), '2029-03-31T23:59:59.001Z');
        assert.equal(got.expiresAt.toISOString(), '2029-04-01T00:09:59.999Z');
        assert.equal(got.createdAt.getUTCMilliseconds(), 1);
        assert.equal(got.expiresAt.getUTCMilliseconds(), 999);
        assert.equal(got.consumedAt, null);

        const now = new Date('2029-04-01T00:00:00.457Z');
        const consumed = await store.consumeLoginTransaction(input.id, input.stateHash, now);
        assert.ok(consumed?.consumedAt instanceof Date);
        assert.equal(consumed.consumedAt.toISOString(), '2029-04-01T00:00:00.457Z');
        assert.equal(
          (await store.getLoginTransaction(input.id, input.stateHash))?.consumedAt?.toISOString(),
          '2029-04-01T00:00:00.457Z',
        );
      });

      test('createdAt/updatedAt are set by the store; updatedAt changes on update', async (store) => {
        const t0 = new Date();
        const org = await store.createOrganization(orgInput(), []);
        const conn = await store.createConnection(connInput());
        const t1 = new Date();
        for (const rec of [org, conn]) {
          assert.ok(rec.createdAt instanceof Date);
          assert.ok(rec.updatedAt instanceof Date);
          assertBetween(rec.createdAt, t0, t1);
          assert.equal(rec.updatedAt.getTime(), rec.createdAt.getTime());
        }

        await sleep(5);
        const t2 = new Date();
        const org2 = await store.updateOrganization(org.id, { name: 'Changed' });
        const conn2 = await store.updateConnection(conn.id, { name: 'Changed' });
        const t3 = new Date();
        assert.equal(org2.createdAt.getTime(), org.createdAt.getTime());
        assert.equal(conn2.createdAt.getTime(), conn.createdAt.getTime());
        assertBetween(org2.updatedAt, t2, t3);
        assertBetween(conn2.updatedAt, t2, t3);
        assert.equal((await store.getOrganization(org.id))?.updatedAt.getTime(), org2.updatedAt.getTime());
        assert.equal((await store.getConnection(conn.id))?.updatedAt.getTime(), conn2.updatedAt.getTime());

        const t4 = new Date();
        const key = await store.createApiKey(keyInput('key-1234'));
        const uri = await store.addRedirectUri({
          id: newId('ruri'),
          uri: 'https://a.example/cb',
          isDefault: false,
        });
        const t5 = new Date();
        assertBetween(key.createdAt, t4, t5);
        assertBetween(uri.createdAt, t4, t5);
        assert.equal((await store.getApiKey(key.id))?.createdAt.getTime(), key.createdAt.getTime());
      });
    });

    describe('redirect URIs', () => {
      test('add, list in ID order, delete', async (store) => {
        assert.deepEqual(await store.listRedirectUris(), []);
        const a = await store.addRedirectUri({
          id: newId('ruri'),
          uri: 'https://a.example/cb',
          isDefault: false,
        });
        const b = await store.addRedirectUri({
          id: newId('ruri'),
          uri: 'http://localhost:3000/cb',
          isDefault: true,
        });
        const c = await store.addRedirectUri({
          id: newId('ruri'),
          uri: 'https://c.example/cb?x=1',
          isDefault: false,
        });
        assert.equal(a.isDefault, false);
        assert.equal(b.isDefault, true);
        assert.equal(c.uri, 'https://c.example/cb?x=1');
        assert.deepEqual(await store.listRedirectUris(), [a, b, c]);

        await store.deleteRedirectUri(b.id);
        assert.deepEqual(await store.listRedirectUris(), [a, c]);
        await rejectsNotFound(store.deleteRedirectUri(b.id));
        await rejectsNotFound(store.setDefaultRedirectUri(b.id));
      });

      test('duplicate uri → AlreadyExistsError(redirect_uri.uri), the default unchanged', async (store) => {
        const a = await store.addRedirectUri({
          id: newId('ruri'),
          uri: 'https://a.example/cb',
          isDefault: true,
        });
        await rejectsAlreadyExists(
          store.addRedirectUri({ id: newId('ruri'), uri: 'https://a.example/cb', isDefault: false }),
          'redirect_uri.uri',
        );
        const b = await store.addRedirectUri({
          id: newId('ruri'),
          uri: 'https://b.example/cb',
          isDefault: false,
        });
        // A failed add with isDefault does not move the default.
        await rejectsAlreadyExists(
          store.addRedirectUri({ id: newId('ruri'), uri: 'https://b.example/cb', isDefault: true }),
          'redirect_uri.uri',
        );
        assert.deepEqual(await store.listRedirectUris(), [a, b]);
      });

      test('setDefaultRedirectUri leaves exactly one default; adding with isDefault moves it', async (store) => {
        const a = await store.addRedirectUri({
          id: newId('ruri'),
          uri: 'https://a.example/cb',
          isDefault: true,
        });
        const b = await store.addRedirectUri({
          id: newId('ruri'),
          uri: 'https://b.example/cb',
          isDefault: false,
        });
        const c = await store.addRedirectUri({
          id: newId('ruri'),
          uri: 'https://c.example/cb',
          isDefault: false,
        });
        const defaults = async () =>
          (await store.listRedirectUris()).filter((r) => r.isDefault).map((r) => r.id);

        assert.deepEqual(await defaults(), [a.id]);
        const setB = await store.setDefaultRedirectUri(b.id);
        assert.deepEqual(setB, { ...b, isDefault: true });
        assert.deepEqual(await defaults(), [b.id]);
        // Setting the current default again keeps it the only one.
        await store.setDefaultRedirectUri(b.id);
        assert.deepEqual(await defaults(), [b.id]);
        await store.setDefaultRedirectUri(c.id);
        assert.deepEqual(await defaults(), [c.id]);

        const d = await store.addRedirectUri({
          id: newId('ruri'),
          uri: 'https://d.example/cb',
          isDefault: true,
        });
        assert.equal(d.isDefault, true);
        assert.deepEqual(await defaults(), [d.id]);
        assert.deepEqual(
          (await store.listRedirectUris()).map((r) => [r.uri, r.isDefault]),
          [
            ['https://a.example/cb', false],
            ['https://b.example/cb', false],
            ['https://c.example/cb', false],
            ['https://d.example/cb', true],
          ],
        );
      });
    });

    describe('API keys', () => {
      test('createApiKey, getApiKey, listApiKeys, findActiveApiKey by hash', async (store) => {
        const input = keyInput('primary-abcd');
        const created = await store.createApiKey(input);
        assert.deepEqual(created, { ...input, createdAt: created.createdAt, revokedAt: null });
        const second = await store.createApiKey(keyInput('second-wxyz'));
        assert.deepEqual(await store.getApiKey(input.id), created);
        assert.equal(await store.getApiKey(newId('key')), null);
        assert.deepEqual(await store.findActiveApiKey(input.keyHash), created);
        assert.equal(await store.findActiveApiKey('0'.repeat(64)), null);
        assert.deepEqual(await store.listApiKeys(), [created, second]);
      });

      test('duplicate key hash → AlreadyExistsError(api_key.key_hash)', async (store) => {
        const first = await store.createApiKey(keyInput('first-1111'));
        const dup = { ...keyInput('dup-2222'), keyHash: first.keyHash };
        await rejectsAlreadyExists(store.createApiKey(dup), 'api_key.key_hash');
        assert.equal(await store.getApiKey(dup.id), null);
      });

      test('a revoked key is not found; revoking the last active key returns false', async (store) => {
        const a = await store.createApiKey(keyInput('key-aaaa'));
        const b = await store.createApiKey(keyInput('key-bbbb'));
        const at = new Date('2030-06-07T08:09:10.321Z');
        assert.equal(await store.revokeApiKey(a.id, at), true);
        assert.equal(await store.findActiveApiKey(a.keyHash), null);
        const revoked = await store.getApiKey(a.id);
        assert.ok(revoked?.revokedAt instanceof Date);
        assert.equal(revoked.revokedAt.toISOString(), '2030-06-07T08:09:10.321Z');

        // b is the last active key: refused, nothing changes.
        assert.equal(await store.revokeApiKey(b.id, new Date()), false);
        assert.deepEqual(await store.getApiKey(b.id), b);
        assert.deepEqual(await store.findActiveApiKey(b.keyHash), b);
        assert.deepEqual(
          (await store.listApiKeys()).map((k) => [k.id, k.revokedAt?.toISOString() ?? null]),
          [
            [a.id, '2030-06-07T08:09:10.321Z'],
            [b.id, null],
          ],
        );

        await rejectsNotFound(store.revokeApiKey(newId('key'), new Date()));
      });

      test('the only key cannot be revoked', async (store) => {
        const only = await store.createApiKey(keyInput('only-0000'));
        assert.equal(await store.revokeApiKey(only.id, new Date()), false);
        assert.deepEqual(await store.findActiveApiKey(only.keyHash), only);
      });

      test('concurrent revocation of the last two keys leaves exactly one active', async (store) => {
        const a = await store.createApiKey(keyInput('key-aaaa'));
        const b = await store.createApiKey(keyInput('key-bbbb'));
        const results = await Promise.all([
          store.revokeApiKey(a.id, new Date()),
          store.revokeApiKey(b.id, new Date()),
        ]);
        assert.deepEqual([...results].sort(), [false, true]);
        const active = (await store.listApiKeys()).filter((k) => k.revokedAt === null);
        assert.equal(active.length, 1);
        // The survivor is the one whose revocation was refused.
        assert.equal(active[0]?.id, results[0] ? b.id : a.id);
      });

      test('concurrent revocation of all of five keys leaves exactly one active', async (store) => {
        const keys: ApiKeyRecord[] = [];
        for (let i = 0; i < 5; i++) keys.push(await store.createApiKey(keyInput(`key-000${i}`)));
        const results = await Promise.all(keys.map((k) => store.revokeApiKey(k.id, new Date())));
        assert.equal(results.filter((r) => r).length, 4);
        const active = (await store.listApiKeys()).filter((k) => k.revokedAt === null);
        assert.deepEqual(
          ids(active),
          keys.filter((_, i) => !results[i]).map((k) => k.id),
        );
      });
    });

    describe('login transactions', () => {
      test('createLoginTransaction and getLoginTransaction round-trip every field', async (store) => {
        const input = txInput({
          organizationId: newId('org'),
          appState: 'app state with spaces & symbols ✓',
          codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
          codeChallengeMethod: 'S256',
          requestId: 'req_01ABC',
        });
        const created = await createTx(store, input);
        assert.deepEqual(created, { ...input, ...UNTOUCHED_TX });
        assert.deepEqual(await store.getLoginTransaction(input.id, input.stateHash), {
          ...input,
          ...UNTOUCHED_TX,
        });
        assert.equal(await store.getLoginTransaction(input.id, 'f'.repeat(64)), null);

        const minimal = txInput();
        await createTx(store, minimal);
        assert.deepEqual(await store.getLoginTransaction(minimal.id, minimal.stateHash), {
          ...minimal,
          ...UNTOUCHED_TX,
        });
      });

      test('duplicate ID → AlreadyExistsError(sso_session.id); a transaction is found only with its own state hash', async (store) => {
        const first = txInput();
        await createTx(store, first);
        await rejectsAlreadyExists(createTx(store, txInput({ id: first.id })), 'sso_session.id');
        const other = txInput();
        await createTx(store, other);
        assert.equal(await store.getLoginTransaction(first.id, other.stateHash), null);
        assert.equal(
          await store.consumeLoginTransaction(
            first.id,
            other.stateHash,
            new Date('2030-01-02T03:05:00.000Z'),
          ),
          null,
        );
        assert.equal((await store.getLoginTransaction(first.id, first.stateHash))?.consumedAt, null);
      });

      test('many logins created at once (as under load, where backends group their writes): each is stored whole, and a duplicate among them fails alone', async (store) => {
        const logins = Array.from({ length: 120 }, (_, i) =>
          txInput({
            appState: i % 2 ? `state ${i} with 'quotes', "double", \\ and , commas {}` : null,
            codeChallenge: i % 3 ? null : `challenge-${i}`,
            codeChallengeMethod: i % 3 ? null : 'S256',
          }),
        );
        const duplicate = txInput({ id: logins[60]?.id as string });
        const results = await Promise.allSettled([
          ...logins.map((tx) => createTx(store, tx)),
          createTx(store, duplicate),
        ]);
        const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ i, reason: r.reason }] : []));
        // Exactly one of the two with the same ID lost (whichever came second), with its own error.
        assert.equal(failed.length, 1, JSON.stringify(failed));
        assert.ok([60, 120].includes(failed[0]?.i as number));
        assert.ok(failed[0]?.reason instanceof AlreadyExistsError);
        for (const [i, tx] of logins.entries()) {
          if (i === 60) continue;
          const stored = await store.getLoginTransaction(tx.id, tx.stateHash);
          assert.equal(stored?.appState, tx.appState, `login ${i}`);
          assert.equal(stored?.codeChallenge, tx.codeChallenge);
          assert.equal(stored?.connectorState, tx.connectorState);
          assert.equal(stored?.expiresAt.toISOString(), tx.expiresAt.toISOString());
          const record = await store.getSession(tx.id);
          assert.equal(record?.outcome, 'started');
          assert.equal(record?.connectionId, tx.connectionId);
          assert.equal(record?.authorizeRequestId, tx.requestId);
          assert.equal(record?.createdAt.getTime(), record?.updatedAt.getTime());
        }
      });

      test('consumeLoginTransaction returns the record once, then null', async (store) => {
        const input = txInput();
        await createTx(store, input);
        const now = new Date('2030-01-02T03:05:00.010Z');
        const consumed = await store.consumeLoginTransaction(input.id, input.stateHash, now);
        assert.deepEqual(consumed, { ...input, ...UNTOUCHED_TX, consumedAt: now });
        assert.equal(await store.consumeLoginTransaction(input.id, input.stateHash, now), null);
        assert.equal(
          await store.consumeLoginTransaction(
            input.id,
            input.stateHash,
            new Date('2030-01-02T03:06:00.000Z'),
          ),
          null,
        );
        // Still readable, marked consumed.
        assert.deepEqual(await store.getLoginTransaction(input.id, input.stateHash), {
          ...input,
          ...UNTOUCHED_TX,
          consumedAt: now,
        });
        assert.equal(await store.consumeLoginTransaction(input.id, '0'.repeat(64), now), null);
      });

      test('concurrent consume: exactly one of ten callers gets the record', async (store) => {
        const input = txInput();
        await createTx(store, input);
        const now = new Date('2030-01-02T03:05:00.000Z');
        const results = await Promise.all(
          Array.from({ length: 10 }, () => store.consumeLoginTransaction(input.id, input.stateHash, now)),
        );
        const winners = results.filter((r) => r !== null);
        assert.equal(winners.length, 1);
        assert.deepEqual(winners[0], { ...input, ...UNTOUCHED_TX, consumedAt: now });
      });

      test('an expired transaction cannot be consumed', async (store) => {
        const expiresAt = new Date('2030-01-02T03:14:05.678Z');
        const expired = txInput({ expiresAt });
        await createTx(store, expired);
        assert.equal(
          await store.consumeLoginTransaction(
            expired.id,
            expired.stateHash,
            new Date('2030-01-02T03:14:05.679Z'),
          ),
          null,
        );
        assert.equal(
          await store.consumeLoginTransaction(
            expired.id,
            expired.stateHash,
            new Date('2031-01-01T00:00:00.000Z'),
          ),
          null,
        );
        // At the expiry instant it has expired.
        assert.equal(await store.consumeLoginTransaction(expired.id, expired.stateHash, expiresAt), null);
        assert.equal((await store.getLoginTransaction(expired.id, expired.stateHash))?.consumedAt, null);

        // One millisecond before expiry it is still valid.
        const fresh = txInput({ expiresAt });
        await createTx(store, fresh);
        const now = new Date('2030-01-02T03:14:05.677Z');
        assert.deepEqual(await store.consumeLoginTransaction(fresh.id, fresh.stateHash, now), {
          ...fresh,
          ...UNTOUCHED_TX,
          consumedAt: now,
        });
      });

      test('deleteExpiredLoginTransactions deletes only expired ones and returns the count', async (store) => {
        const base = Date.parse('2030-01-02T03:00:00.000Z');
        const at = (ms: number) => new Date(base + ms);
        const old1 = txInput({ createdAt: at(-20_000), expiresAt: at(-10_000) });
        const old2 = txInput({ createdAt: at(-20_000), expiresAt: at(-1) });
        const oldConsumed = txInput({ createdAt: at(-20_000), expiresAt: at(-5_000) });
        const live1 = txInput({ createdAt: at(-5_000), expiresAt: at(1) });
        const live2 = txInput({ createdAt: at(-5_000), expiresAt: at(600_000) });
        for (const tx of [old1, old2, oldConsumed, live1, live2]) await createTx(store, tx);
        assert.ok(await store.consumeLoginTransaction(oldConsumed.id, oldConsumed.stateHash, at(-6_000)));

        assert.equal(await store.deleteExpiredLoginTransactions(at(0)), 3);
        for (const tx of [old1, old2, oldConsumed])
          assert.equal(await store.getLoginTransaction(tx.id, tx.stateHash), null);
        assert.deepEqual(await store.getLoginTransaction(live1.id, live1.stateHash), {
          ...live1,
          ...UNTOUCHED_TX,
        });
        assert.deepEqual(await store.getLoginTransaction(live2.id, live2.stateHash), {
          ...live2,
          ...UNTOUCHED_TX,
        });

        assert.equal(await store.deleteExpiredLoginTransactions(at(0)), 0);
        assert.equal(await store.deleteExpiredLoginTransactions(at(1_000)), 1);
        assert.equal(await store.getLoginTransaction(live1.id, live1.stateHash), null);
        assert.notEqual(await store.getLoginTransaction(live2.id, live2.stateHash), null);
      });

      test('markTimedOutSessions records expired started sign-ins as timed_out, oldest first, once each', async (store) => {
        const base = Date.parse('2030-01-02T03:00:00.000Z');
        const at = (ms: number) => new Date(base + ms);
        const now = at(3_600_000);
        const atIdp = txInput({ createdAt: at(-20_000), expiresAt: at(-10_000) });
        const atConsent = txInput({ createdAt: at(-20_000), expiresAt: at(-5_000) });
        const failed = txInput({ createdAt: at(-20_000), expiresAt: at(-7_000) });
        const succeeded = txInput({ createdAt: at(-20_000), expiresAt: at(-6_000) });
        const live = txInput({ createdAt: at(-5_000), expiresAt: at(600_000) });
        for (const tx of [atIdp, atConsent, failed, succeeded, live]) await createTx(store, tx);
        await store.updateSession(atIdp.sessionId, { stages: { authorize: at(-20_000).toISOString() } });
        assert.ok(await store.consumeLoginTransaction(atConsent.id, atConsent.stateHash, at(-15_000)));
        await store.awaitConsent(atConsent.id, {
          profileId: 'prof_1',
          consentHash: randomBytes(32).toString('hex'),
          expiresAt: at(-5_000),
          oauthTokens: null,
        });
        await store.updateSession(failed.sessionId, { outcome: 'failed', reason: 'upstream_error_unknown' });
        await store.updateSession(succeeded.sessionId, { outcome: 'succeeded' });

        // The one that expired first, then the rest; sessions that ended, or whose login is live, are left alone.
        assert.deepEqual(await store.markTimedOutSessions(at(0), now, 1), [atIdp.sessionId]);
        assert.deepEqual(await store.markTimedOutSessions(at(0), now, 10), [atConsent.sessionId]);
        assert.deepEqual(await store.markTimedOutSessions(at(0), now, 10), []);

        const idp = await store.getSession(atIdp.sessionId);
        assert.equal(idp?.outcome, 'timed_out');
        assert.equal(idp?.failedStage, 'abandoned_at_idp');
        assert.equal(idp?.reason, null);
        assert.deepEqual(idp?.stages, { authorize: at(-20_000).toISOString(), timed_out: now.toISOString() });
        const consent = await store.getSession(atConsent.sessionId);
        assert.equal(consent?.outcome, 'timed_out');
        assert.equal(consent?.failedStage, 'consent');
        assert.equal((await store.getSession(failed.sessionId))?.outcome, 'failed');
        assert.equal((await store.getSession(succeeded.sessionId))?.outcome, 'succeeded');
        assert.equal((await store.getSession(live.sessionId))?.outcome, 'started');
        // Found by the outcome filterless list as well (the CHECK constraint allows it).
        const listed = await store.listSessions({}, { limit: 10, order: 'desc' });
        assert.equal(listed.data.filter((s) => s.outcome === 'timed_out').length, 2);

        // The purge that follows takes every expired transaction; nothing is marked twice.
        assert.equal(await store.deleteExpiredLoginTransactions(at(0)), 4);
        assert.deepEqual(await store.markTimedOutSessions(at(0), now, 10), []);
        assert.equal((await store.getSession(atIdp.sessionId))?.outcome, 'timed_out');
      });

      test('markTimedOutSessions run at once by several callers (nodes) marks each sign-in once', async (store) => {
        const expired = Array.from({ length: 20 }, (_, i) =>
          txInput({ createdAt: new Date(Date.now() - 60_000), expiresAt: new Date(Date.now() - 30_000 + i) }),
        );
        for (const tx of expired) await createTx(store, tx);
        const now = new Date();
        const runs = await Promise.all(
          Array.from({ length: 5 }, () => store.markTimedOutSessions(now, now, 7)),
        );
        const marked = [...runs.flat(), ...(await store.markTimedOutSessions(now, now, 100))];
        assert.equal(new Set(marked).size, marked.length, 'no session marked twice');
        assert.deepEqual([...marked].sort(), expired.map((tx) => tx.sessionId).sort());
      });

      test('markTimedOutSessions writes the events built from each record as marked, in its transaction', async (store) => {
        const expired = Array.from({ length: 3 }, (_, i) =>
          txInput({ createdAt: new Date(Date.now() - 60_000), expiresAt: new Date(Date.now() - 30_000 + i) }),
        );
        for (const tx of expired) await createTx(store, tx);
        const now = new Date();
        const seen: SsoSessionRecord[] = [];
        const timedOut = (s: SsoSessionRecord): NewEvent[] => {
          seen.push(s);
          return [
            {
              id: newId('event'),
              event: 'authentication.sso_timed_out',
              organizationId: s.organizationId,
              data: { session_id: s.id },
              createdAt: now,
            },
          ];
        };
        // A builder that throws: nothing is marked, no event (the next run marks them).
        await assert.rejects(
          store.markTimedOutSessions(now, now, 10, () => {
            throw new Error('no events today');
          }),
          /no events today/,
        );
        for (const tx of expired) assert.equal((await store.getSession(tx.sessionId))?.outcome, 'started');

        const marked = await store.markTimedOutSessions(now, now, 10, timedOut);
        assert.deepEqual([...marked].sort(), expired.map((tx) => tx.sessionId).sort());
        // Each builder call saw the record as marked.
        assert.deepEqual(seen.map((s) => s.id).sort(), [...marked].sort());
        for (const s of seen) {
          assert.equal(s.outcome, 'timed_out');
          assert.equal(s.failedStage, 'abandoned_at_idp');
          assert.equal(s.stages.timed_out, now.toISOString());
          assert.equal(s.connectionId, expired.find((tx) => tx.sessionId === s.id)?.connectionId);
        }
        const events = await store.listEvents(
          { events: ['authentication.sso_timed_out'] },
          { limit: 10, order: 'asc' },
        );
        assert.deepEqual(events.data.map((e) => e.data.session_id).sort(), [...marked].sort());
        // Nothing left to mark: no call, no event.
        assert.deepEqual(
          await store.markTimedOutSessions(now, now, 10, () => assert.fail('no session to build events for')),
          [],
        );
        assert.equal((await store.listEvents({}, { limit: 10, order: 'asc' })).data.length, 3);
      });
    });

    describe('completeSignIn: the end of a sign-in in one transaction', () => {
      /** A live login transaction on a new connection (a profile needs one), created as /sso/authorize does. */
      async function begin(store: Store, connectionId?: string): Promise<NewLoginTransaction> {
        const tx = txInput({
          connectionId: connectionId ?? (await store.createConnection(connInput())).id,
          createdAt: new Date(),
          expiresAt: new Date(Date.now() + 600_000),
        });
        await createTx(store, tx);
        return tx;
      }
      const profileOf = (tx: NewLoginTransaction, idpId = 'user-1') => ({
        id: newId('prof'),
        connectionId: tx.connectionId,
        idpId,
        data: { email: `${idpId}@acme.com` },
      });
      const codeOf = (tx: NewLoginTransaction) => ({
        codeHash: randomBytes(32).toString('hex'),
        clientId: tx.clientId,
        redirectUri: tx.redirectUri,
        codeChallenge: 'challenge',
        oauthTokens: 'sealed-tokens',
        createdAt: new Date(),
        expiresAt: new Date(Date.now() + 600_000),
      });
      const succeeded = (s: SsoSessionRecord): NewEvent[] => [
        {
          id: newId('event'),
          event: 'authentication.sso_succeeded',
          organizationId: s.organizationId,
          data: { user_id: s.profileId, session_id: s.id, outcome: s.outcome },
          createdAt: new Date(),
        },
      ];

      /** Asserts that the transaction, its session record and the store are as before a refused completion. */
      async function nothingWritten(store: Store, tx: NewLoginTransaction, codeHash: string, key?: string) {
        assert.equal((await store.getLoginTransaction(tx.id, tx.stateHash))?.consumedAt, null);
        const record = await store.getSession(tx.id);
        assert.equal(record?.outcome, 'started');
        assert.deepEqual(record?.stages, {});
        assert.equal(record?.profileId, null);
        assert.equal((await store.listProfiles({ limit: 10, order: 'asc' })).data.length, 0);
        assert.equal(await store.getAuthorizationCode(codeHash), null);
        assert.equal((await store.listEvents({}, { limit: 10, order: 'asc' })).data.length, 0);
        if (key) assert.equal(await store.claimOneTimeKey(key, new Date(Date.now() + 60_000)), true);
      }

      test('consumes the transaction, claims the key, upserts the profile, issues the code, patches the session and writes its events', async (store) => {
        const tx = await begin(store);
        const now = new Date();
        const code = codeOf(tx);
        const result = await store.completeSignIn({
          id: tx.id,
          stateHash: tx.stateHash,
          now,
          oneTimeKey: { key: 'saml:_a1', expiresAt: new Date(Date.now() + 300_000) },
          profile: profileOf(tx),
          code,
          session: {
            outcome: 'succeeded',
            idpId: 'user-1',
            email: 'user-1@acme.com',
            callbackRequestId: 'req_cb',
            stages: { callback: now.toISOString(), code_issued: now.toISOString() },
          },
          events: succeeded,
        });
        assert.equal(result.kind, 'completed');
        if (result.kind !== 'completed') return;
        const profile = result.profile;
        assert.ok(profile);
        assert.deepEqual(profile.data, { email: 'user-1@acme.com' });
        assert.deepEqual(await store.getProfile(profile.id), profile);
        assert.equal(result.session.outcome, 'succeeded');
        assert.equal(result.session.profileId, profile.id);
        assert.equal(result.session.callbackRequestId, 'req_cb');
        assert.deepEqual(result.session, await store.getSession(tx.id));
        assert.equal(
          (await store.getLoginTransaction(tx.id, tx.stateHash))?.consumedAt?.getTime(),
          now.getTime(),
        );
        assert.deepEqual(await store.getAuthorizationCode(code.codeHash), {
          ...code,
          profileId: profile.id,
          sessionId: tx.id,
          consumedAt: null,
        });
        assert.equal(await store.claimOneTimeKey('saml:_a1', new Date(Date.now() + 60_000)), false);
        const events = (await store.listEvents({}, { limit: 10, order: 'asc' })).data;
        assert.deepEqual(
          events.map((e) => e.data),
          [{ user_id: profile.id, session_id: tx.id, outcome: 'succeeded' }],
        );

        // A second user's sign-in keeps the existing profile's ID (the given one is for a new profile only).
        const again = await begin(store, tx.connectionId);
        const second = await store.completeSignIn({
          id: again.id,
          stateHash: again.stateHash,
          now,
          profile: { ...profileOf(tx), data: { email: 'renamed@acme.com' } },
          code: codeOf(again),
          session: { outcome: 'succeeded' },
        });
        assert.equal(second.kind === 'completed' && second.profile?.id, profile.id);
        assert.equal((await store.getSession(again.id))?.profileId, profile.id);
        assert.deepEqual((await store.getProfile(profile.id))?.data, { email: 'renamed@acme.com' });
      });

      test('a replayed callback (the transaction already consumed): transaction_unavailable, nothing written', async (store) => {
        const tx = await begin(store);
        const now = new Date();
        const first = await store.completeSignIn({
          id: tx.id,
          stateHash: tx.stateHash,
          now,
          session: { stages: { callback: now.toISOString() } },
        });
        assert.equal(first.kind, 'completed');
        const code = codeOf(tx);
        assert.deepEqual(
          await store.completeSignIn({
            id: tx.id,
            stateHash: tx.stateHash,
            now,
            oneTimeKey: { key: 'saml:_replay', expiresAt: new Date(Date.now() + 300_000) },
            profile: profileOf(tx),
            code,
            session: { outcome: 'succeeded', stages: { code_issued: now.toISOString() } },
            events: succeeded,
          }),
          { kind: 'transaction_unavailable' },
        );
        const record = await store.getSession(tx.id);
        assert.equal(record?.outcome, 'started');
        assert.deepEqual(Object.keys(record?.stages ?? {}), ['callback']);
        assert.equal((await store.listProfiles({ limit: 10, order: 'asc' })).data.length, 0);
        assert.equal(await store.getAuthorizationCode(code.codeHash), null);
        assert.equal((await store.listEvents({}, { limit: 10, order: 'asc' })).data.length, 0);
        assert.equal(await store.claimOneTimeKey('saml:_replay', new Date(Date.now() + 60_000)), true);
      });

      test('an expired transaction, a wrong state hash or an unknown ID: transaction_unavailable, nothing written', async (store) => {
        const tx = await begin(store);
        const code = codeOf(tx);
        const base = {
          profile: profileOf(tx),
          code,
          session: { outcome: 'succeeded' as const },
          events: succeeded,
        };
        for (const [id, stateHash, now] of [
          [tx.id, tx.stateHash, new Date(tx.expiresAt.getTime())],
          [tx.id, '0'.repeat(64), new Date()],
          [newId('sess'), tx.stateHash, new Date()],
        ] as const) {
          assert.deepEqual(
            await store.completeSignIn({
              ...base,
              id,
              stateHash,
              now,
              oneTimeKey: { key: 'saml:_x', expiresAt: new Date(Date.now() + 300_000) },
            }),
            { kind: 'transaction_unavailable' },
          );
        }
        await nothingWritten(store, tx, code.codeHash, 'saml:_x');
      });

      test('an assertion ID already claimed (a replayed SAML response): one_time_key_claimed, nothing written, the transaction still usable', async (store) => {
        const tx = await begin(store);
        const expiresAt = new Date(Date.now() + 300_000);
        assert.equal(await store.claimOneTimeKey('saml:_used', expiresAt), true);
        const code = codeOf(tx);
        const now = new Date();
        assert.deepEqual(
          await store.completeSignIn({
            id: tx.id,
            stateHash: tx.stateHash,
            now,
            oneTimeKey: { key: 'saml:_used', expiresAt },
            profile: profileOf(tx),
            code,
            session: { outcome: 'succeeded', stages: { code_issued: now.toISOString() } },
            events: succeeded,
          }),
          { kind: 'one_time_key_claimed' },
        );
        await nothingWritten(store, tx, code.codeHash);
        // The failure is then recorded by consuming the transaction without the key.
        const failed = await store.completeSignIn({
          id: tx.id,
          stateHash: tx.stateHash,
          now,
          session: { outcome: 'failed', reason: 'saml_replayed' },
        });
        assert.equal(failed.kind === 'completed' && failed.session.reason, 'saml_replayed');
        assert.equal(failed.kind === 'completed' && failed.profile, null);
      });

      test('concurrent completions of one transaction, or claiming one key: exactly one completes', async (store) => {
        const tx = await begin(store);
        const now = new Date();
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            store.completeSignIn({
              id: tx.id,
              stateHash: tx.stateHash,
              now,
              profile: profileOf(tx, `user-${i}`),
              code: codeOf(tx),
              session: { outcome: 'succeeded', stages: { [`try_${i}`]: now.toISOString() } },
              events: succeeded,
            }),
          ),
        );
        assert.equal(results.filter((r) => r.kind === 'completed').length, 1);
        assert.equal(results.filter((r) => r.kind === 'transaction_unavailable').length, 7);
        assert.equal((await store.listProfiles({ limit: 10, order: 'asc' })).data.length, 1);
        assert.equal(Object.keys((await store.getSession(tx.id))?.stages ?? {}).length, 1);
        assert.equal((await store.listEvents({}, { limit: 10, order: 'asc' })).data.length, 1);

        const logins: NewLoginTransaction[] = [];
        for (let i = 0; i < 6; i++) logins.push(await begin(store, tx.connectionId));
        const claims = await Promise.all(
          logins.map((login) =>
            store.completeSignIn({
              id: login.id,
              stateHash: login.stateHash,
              now,
              oneTimeKey: { key: 'saml:_raced', expiresAt: new Date(Date.now() + 300_000) },
              session: { outcome: 'succeeded' },
            }),
          ),
        );
        assert.equal(claims.filter((r) => r.kind === 'completed').length, 1);
        assert.equal(claims.filter((r) => r.kind === 'one_time_key_claimed').length, 5);
        const consumed = await Promise.all(
          logins.map(
            async (login) => (await store.getLoginTransaction(login.id, login.stateHash))?.consumedAt,
          ),
        );
        assert.equal(consumed.filter((at) => at !== null).length, 1);
      });

      test('with consent: the transaction waits on the consent screen for the stored profile, no code', async (store) => {
        const tx = await begin(store);
        const now = new Date();
        const expiresAt = new Date(Date.now() + 300_000);
        const result = await store.completeSignIn({
          id: tx.id,
          stateHash: tx.stateHash,
          now,
          profile: profileOf(tx),
          consent: { consentHash: 'consent-hash-c', expiresAt, oauthTokens: 'sealed' },
          session: { stages: { callback: now.toISOString(), consent_shown: now.toISOString() } },
        });
        assert.equal(result.kind, 'completed');
        const profileId = result.kind === 'completed' ? result.profile?.id : undefined;
        const waiting = await store.getLoginTransaction(tx.id, tx.stateHash);
        assert.equal(waiting?.profileId, profileId);
        assert.equal(waiting?.consentHash, 'consent-hash-c');
        assert.equal(waiting?.oauthTokens, 'sealed');
        assert.equal(waiting?.consentExpiresAt?.toISOString(), expiresAt.toISOString());
        assert.equal((await store.getSession(tx.id))?.outcome, 'started');
        const taken = await store.takeConsent('consent-hash-c', new Date());
        assert.equal(taken?.profileId, profileId);
      });

      test('a code or a consent without a profile, or both: TypeError, nothing written', async (store) => {
        const tx = await begin(store);
        const code = codeOf(tx);
        const consent = { consentHash: 'h', expiresAt: new Date(Date.now() + 1000), oauthTokens: null };
        const base = { id: tx.id, stateHash: tx.stateHash, now: new Date(), session: {} };
        await assert.rejects(store.completeSignIn({ ...base, code }), TypeError);
        await assert.rejects(store.completeSignIn({ ...base, consent }), TypeError);
        await assert.rejects(
          store.completeSignIn({ ...base, profile: profileOf(tx), code, consent }),
          TypeError,
        );
        await nothingWritten(store, tx, code.codeHash);
      });
    });

    describe('sign-in consent on a login transaction', () => {
      test('awaitConsent then takeConsent is single-use, even when raced', async (store) => {
        const tx = txInput({ createdAt: new Date(), expiresAt: new Date(Date.now() + 600_000) });
        await createTx(store, tx);
        assert.ok(await store.consumeLoginTransaction(tx.id, tx.stateHash, new Date()));
        const expiresAt = new Date(Date.now() + 300_000);
        await store.awaitConsent(tx.id, {
          profileId: 'prof_1',
          consentHash: 'consent-hash-1',
          expiresAt,
          oauthTokens: 'sealed-provider-tokens',
        });
        const results = await Promise.all(
          Array.from({ length: 10 }, () => store.takeConsent('consent-hash-1', new Date())),
        );
        const winners = results.filter((r) => r !== null);
        assert.equal(winners.length, 1);
        assert.equal(winners[0]?.id, tx.id);
        assert.equal(winners[0]?.profileId, 'prof_1');
        assert.equal(winners[0]?.oauthTokens, 'sealed-provider-tokens');
        assert.ok(winners[0]?.consentDecidedAt instanceof Date);
        assert.equal(winners[0]?.consentExpiresAt?.toISOString(), expiresAt.toISOString());
        assert.equal(await store.takeConsent('consent-hash-1', new Date()), null);
      });

      test('an expired or unknown consent cannot be taken; awaitConsent on a missing transaction throws', async (store) => {
        const tx = txInput({ createdAt: new Date(), expiresAt: new Date(Date.now() + 600_000) });
        await createTx(store, tx);
        await store.awaitConsent(tx.id, {
          profileId: 'p',
          consentHash: 'h2',
          expiresAt: new Date(Date.now() - 1),
          oauthTokens: null,
        });
        assert.equal(await store.takeConsent('h2', new Date()), null);
        assert.equal(await store.takeConsent('unknown', new Date()), null);
        await assert.rejects(
          store.awaitConsent('missing', {
            profileId: 'p',
            consentHash: 'h3',
            expiresAt: new Date(),
            oauthTokens: null,
          }),
          NotFoundError,
        );
      });
    });

    describe('session log', () => {
      test('createLoginTransaction writes the session record in the same transaction', async (store) => {
        const tx = txInput();
        await createTx(store, tx);
        const sess = await store.getSession(tx.sessionId);
        assert.equal(sess?.outcome, 'started');
        assert.equal(sess?.authorizeRequestId, tx.requestId);
        // A transaction and a session that disagree on what they share are refused, and nothing is written.
        const odd = txInput();
        await assert.rejects(
          store.createLoginTransaction(
            odd,
            sessionInput({ id: odd.id, redirectUri: 'https://other.example.com/cb' }),
          ),
          TypeError,
        );
        assert.equal(await store.getSession(odd.id), null);
      });

      test('createSession / getSession / updateSession round-trip; stages merge; JSON fields survive', async (store) => {
        const input = sessionInput({
          connectionId: 'conn_1',
          organizationId: 'org_1',
          stages: { authorize: '2030-01-01T00:00:00.000Z' },
        });
        const created = await store.createSession(input);
        assert.deepEqual(
          { ...created, createdAt: undefined, updatedAt: undefined },
          { ...input, createdAt: undefined, updatedAt: undefined },
        );
        const updated = await store.updateSession(input.id, {
          outcome: 'failed',
          failedStage: 'upstream_error',
          reason: 'upstream_denied',
          wireCode: 'access_denied',
          upstreamError: {
            error: 'access_denied',
            error_description: 'AADSTS65004: ✓ "quoted"',
            trace_id: 't-1',
          },
          detail: { expected: 'a', received: 'b' },
          callbackRequestId: 'req_cb',
          stages: { callback: '2030-01-01T00:00:05.000Z' },
        });
        assert.equal(updated.outcome, 'failed');
        assert.equal(updated.failedStage, 'upstream_error');
        assert.deepEqual(updated.upstreamError, {
          error: 'access_denied',
          error_description: 'AADSTS65004: ✓ "quoted"',
          trace_id: 't-1',
        });
        assert.deepEqual(updated.detail, { expected: 'a', received: 'b' });
        assert.deepEqual(updated.stages, {
          authorize: '2030-01-01T00:00:00.000Z',
          callback: '2030-01-01T00:00:05.000Z',
        });
        assert.equal(updated.callbackRequestId, 'req_cb');
        assert.equal(updated.profileId, null);
        await assert.rejects(store.updateSession('sess_missing', { outcome: 'failed' }), NotFoundError);
      });

      test('listSessions filters by connection, organization and any of its request IDs, newest first', async (store) => {
        const a = await store.createSession(
          sessionInput({ connectionId: 'conn_a', organizationId: 'org_1' }),
        );
        const b = await store.createSession(
          sessionInput({ connectionId: 'conn_b', organizationId: 'org_1' }),
        );
        const c = await store.createSession(
          sessionInput({ connectionId: 'conn_a', organizationId: 'org_2' }),
        );
        await store.updateSession(b.id, {
          callbackRequestId: 'req_callback_b',
          consentRequestId: 'req_consent_b',
        });
        const page = { limit: 10, order: 'desc' as const };
        assert.deepEqual(ids((await store.listSessions({ connectionId: 'conn_a' }, page)).data), [
          c.id,
          a.id,
        ]);
        assert.deepEqual(ids((await store.listSessions({ organizationId: 'org_1' }, page)).data), [
          b.id,
          a.id,
        ]);
        assert.deepEqual(ids((await store.listSessions({ requestId: a.authorizeRequestId }, page)).data), [
          a.id,
        ]);
        assert.deepEqual(ids((await store.listSessions({ requestId: 'req_callback_b' }, page)).data), [b.id]);
        assert.deepEqual(ids((await store.listSessions({ requestId: 'req_consent_b' }, page)).data), [b.id]);
        assert.deepEqual(ids((await store.listSessions({}, { limit: 2, order: 'desc' })).data), [c.id, b.id]);
      });

      // The dashboard's session log filters (issue 13).
      test('listSessions filters by outcome, failed stage and creation time (by ID), with the other filters, in pages', async (store) => {
        const t0 = Date.UTC(2030, 0, 1);
        const idAt = (ms: number) =>
          `${firstIdAt('sess', new Date(ms))}${randomBytes(8).toString('hex').toUpperCase()}`;
        const at = (minute: number, over: Partial<NewSession>) =>
          store.createSession(sessionInput({ id: idAt(t0 + minute * 60_000), ...over }));
        const s0 = await at(0, { connectionId: 'conn_a', outcome: 'succeeded' });
        const s1 = await at(1, { connectionId: 'conn_a', outcome: 'failed', failedStage: 'upstream_error' });
        const s2 = await at(2, { connectionId: 'conn_b', outcome: 'failed', failedStage: 'id_token' });
        const s3 = await at(3, {
          connectionId: 'conn_a',
          outcome: 'timed_out',
          failedStage: 'abandoned_at_idp',
        });
        const s4 = await at(4, { connectionId: 'conn_a', outcome: 'failed', failedStage: 'upstream_error' });
        const s5 = await at(5, { connectionId: 'conn_b', outcome: 'started' });
        // An update moves the record between outcomes and stages.
        await store.updateSession(s5.id, { outcome: 'failed', failedStage: 'upstream_error' });
        const page = { limit: 10, order: 'desc' as const };
        const list = async (filter: SessionFilter, p: PageRequest = page) =>
          ids((await store.listSessions(filter, p)).data);
        assert.deepEqual(await list({ outcome: 'failed' }), [s5.id, s4.id, s2.id, s1.id]);
        assert.deepEqual(await list({ outcome: 'failed', connectionId: 'conn_a' }), [s4.id, s1.id]);
        assert.deepEqual(await list({ outcome: 'timed_out' }), [s3.id]);
        assert.deepEqual(await list({ outcome: 'succeeded' }), [s0.id]);
        assert.deepEqual(await list({ outcome: 'started' }), []);
        assert.deepEqual(await list({ failedStage: 'upstream_error' }), [s5.id, s4.id, s1.id]);
        assert.deepEqual(await list({ failedStage: 'upstream_error', connectionId: 'conn_b' }), [s5.id]);
        assert.deepEqual(await list({ failedStage: 'abandoned_at_idp', outcome: 'timed_out' }), [s3.id]);
        // At or after the start (s1 was created at exactly t0 + 1 min), before the end.
        const range = { rangeStart: new Date(t0 + 60_000), rangeEnd: new Date(t0 + 4 * 60_000) };
        assert.deepEqual(await list(range), [s3.id, s2.id, s1.id]);
        assert.deepEqual(await list({ ...range, outcome: 'failed' }), [s2.id, s1.id]);
        assert.deepEqual(await list({ rangeStart: new Date(t0 + 4 * 60_000) }), [s5.id, s4.id]);
        assert.deepEqual(await list({ rangeEnd: new Date(t0 + 60_000) }), [s0.id]);
        // Pages over a filter, both ways.
        const first = await store.listSessions({ outcome: 'failed' }, { limit: 2, order: 'desc' });
        assert.deepEqual(ids(first.data), [s5.id, s4.id]);
        assert.equal(first.before, null);
        const second = await store.listSessions(
          { outcome: 'failed' },
          { limit: 2, order: 'desc', after: first.after ?? '' },
        );
        assert.deepEqual(ids(second.data), [s2.id, s1.id]);
        assert.equal(second.after, null);
        assert.deepEqual(
          await list({ outcome: 'failed' }, { limit: 2, order: 'desc', before: second.before ?? '' }),
          [s5.id, s4.id],
        );
      });

      test('deleteSessionsBefore deletes the records created before a time, oldest first, at most `limit` at once', async (store) => {
        const day = 24 * 60 * 60 * 1000;
        const now = Date.now();
        // A session ID created at `ms` (ulid() is monotonic: it never goes back to a past millisecond).
        const idAt = (ms: number) =>
          `${firstIdAt('sess', new Date(ms))}${randomBytes(8).toString('hex').toUpperCase()}`;
        const at = (ms: number) => sessionInput({ id: idAt(ms) });
        const old = [
          await store.createSession(at(now - 40 * day)),
          await store.createSession(at(now - 35 * day)),
          await store.createSession(at(now - 31 * day)),
        ];
        // A login started as long ago: its transaction goes with its session record.
        const oldTx = txInput({ id: idAt(now - 32 * day) });
        await createTx(store, oldTx);
        const recent = await store.createSession(at(now - 29 * day));
        const fresh = await store.createSession(sessionInput());

        const cutoff = new Date(now - 30 * day);
        assert.equal(await store.deleteSessionsBefore(cutoff, 2), 2);
        // The oldest two went first.
        assert.equal(await store.getSession(old[0]?.id as string), null);
        assert.equal(await store.getSession(old[1]?.id as string), null);
        assert.ok(await store.getSession(old[2]?.id as string));
        assert.equal(await store.deleteSessionsBefore(cutoff, 2), 2);
        assert.equal(await store.deleteSessionsBefore(cutoff, 2), 0);
        assert.equal(await store.getSession(oldTx.id), null);
        assert.equal(await store.getLoginTransaction(oldTx.id, oldTx.stateHash), null);
        assert.ok(await store.getSession(recent.id));
        assert.ok(await store.getSession(fresh.id));
      });
    });

    describe('profiles', () => {
      test('upsertProfile keeps the ID per (connection, IdP user) and updates the data', async (store) => {
        const org = await store.createOrganization(orgInput(), []);
        const conn = await store.createConnection(connInput({ organizationId: org.id }));
        const first = await store.upsertProfile({
          id: newId('prof'),
          connectionId: conn.id,
          idpId: 'user-1',
          data: { email: 'a@acme.com' },
        });
        const again = await store.upsertProfile({
          id: newId('prof'),
          connectionId: conn.id,
          idpId: 'user-1',
          data: { email: 'b@acme.com' },
        });
        assert.equal(again.id, first.id);
        assert.deepEqual(again.data, { email: 'b@acme.com' });
        assert.deepEqual((await store.getProfile(first.id))?.data, { email: 'b@acme.com' });
        const other = await store.upsertProfile({
          id: newId('prof'),
          connectionId: conn.id,
          idpId: 'user-2',
          data: {},
        });
        assert.notEqual(other.id, first.id);
        assert.equal(await store.getProfile('prof_missing'), null);
        // Profiles go with their connection.
        await store.deleteConnection(conn.id);
        assert.equal(await store.getProfile(first.id), null);
      });

      test('listProfiles pages through every profile in ID order', async (store) => {
        const org = await store.createOrganization(orgInput(), []);
        const conn = await store.createConnection(connInput({ organizationId: org.id }));
        const made = [];
        for (let i = 0; i < 5; i++) {
          made.push(
            await store.upsertProfile({
              id: newId('prof'),
              connectionId: conn.id,
              idpId: `u${i}`,
              data: { i },
            }),
          );
        }
        const first = await store.listProfiles({ limit: 3, order: 'asc' });
        assert.deepEqual(
          first.data.map((p) => p.id),
          made.slice(0, 3).map((p) => p.id),
        );
        assert.ok(first.after);
        const rest = await store.listProfiles({ limit: 3, order: 'asc', after: first.after });
        assert.deepEqual(
          rest.data.map((p) => p.id),
          made.slice(3).map((p) => p.id),
        );
        assert.equal(rest.after, null);
        assert.deepEqual(rest.data[1]?.data, { i: 4 });
      });
    });

    describe('authorization codes and access tokens', () => {
      const codeInput = (over: Partial<Omit<AuthorizationCodeRecord, 'consumedAt'>> = {}) => ({
        codeHash: randomBytes(32).toString('base64url'),
        clientId: 'client_1',
        redirectUri: 'https://app.example.com/callback',
        codeChallenge: null,
        profileId: 'prof_1',
        sessionId: 'sess_1',
        oauthTokens: null,
        createdAt: new Date(),
        expiresAt: new Date(Date.now() + 600_000),
        ...over,
      });
      const token = (hash: string) => ({
        tokenHash: hash,
        clientId: 'client_1',
        profileId: 'prof_1',
        expiresAt: new Date(Date.now() + 600_000),
      });

      test('a code is issued once; a second redemption is refused and revokes the token of the first', async (store) => {
        const code = codeInput({ codeChallenge: 'challenge', oauthTokens: 'sealed-provider-tokens' });
        assert.deepEqual(await store.createAuthorizationCode(code), { ...code, consumedAt: null });
        assert.deepEqual(await store.getAuthorizationCode(code.codeHash), { ...code, consumedAt: null });
        assert.deepEqual(
          await store.redeemAuthorizationCode({
            codeHash: code.codeHash,
            now: new Date(),
            token: token('t1'),
          }),
          {
            kind: 'issued',
          },
        );
        const consumed = await store.getAuthorizationCode(code.codeHash);
        assert.ok(consumed?.consumedAt instanceof Date);
        assert.equal(consumed.oauthTokens, null, 'a consumed code keeps no provider tokens');
        const t1 = await store.getAccessToken('t1');
        assert.equal(t1?.codeHash, code.codeHash);
        assert.equal(t1?.revokedAt, null);
        assert.deepEqual(
          await store.redeemAuthorizationCode({
            codeHash: code.codeHash,
            now: new Date(),
            token: token('t2'),
          }),
          {
            kind: 'invalid',
            reason: 'consumed',
          },
        );
        assert.ok((await store.getAccessToken('t1'))?.revokedAt instanceof Date);
        assert.equal(await store.getAccessToken('t2'), null);
      });

      test("redemption records the code_redeemed stage on the code's session, keeping its other stages", async (store) => {
        const session = await store.createSession(
          sessionInput({ stages: { authorize: '2030-01-01T00:00:00.000Z' } }),
        );
        const code = codeInput({ sessionId: session.id });
        await store.createAuthorizationCode(code);
        const now = new Date();
        assert.deepEqual(
          await store.redeemAuthorizationCode({ codeHash: code.codeHash, now, token: token('t-stage') }),
          { kind: 'issued' },
        );
        assert.deepEqual((await store.getSession(session.id))?.stages, {
          authorize: '2030-01-01T00:00:00.000Z',
          code_redeemed: now.toISOString(),
        });
      });

      test('of concurrent redemptions of one code exactly one is issued', async (store) => {
        const code = codeInput();
        await store.createAuthorizationCode(code);
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            store.redeemAuthorizationCode({
              codeHash: code.codeHash,
              now: new Date(),
              token: token(`c${i}`),
            }),
          ),
        );
        assert.equal(results.filter((r) => r.kind === 'issued').length, 1);
        assert.equal(results.filter((r) => r.kind === 'invalid' && r.reason === 'consumed').length, 9);
      });

      test('unknown and expired codes are refused without being consumed', async (store) => {
        assert.deepEqual(
          await store.redeemAuthorizationCode({ codeHash: 'nope', now: new Date(), token: token('x') }),
          {
            kind: 'invalid',
            reason: 'not_found',
          },
        );
        const code = codeInput({
          createdAt: new Date(Date.now() - 700_000),
          expiresAt: new Date(Date.now() - 100_000),
        });
        await store.createAuthorizationCode(code);
        assert.deepEqual(
          await store.redeemAuthorizationCode({
            codeHash: code.codeHash,
            now: new Date(),
            token: token('y'),
          }),
          {
            kind: 'invalid',
            reason: 'expired',
          },
        );
        assert.equal((await store.getAuthorizationCode(code.codeHash))?.consumedAt, null);
        assert.equal(await store.getAccessToken('y'), null);
      });

      test('an idempotent retry replays the kept response and never counts as a second use', async (store) => {
        const code = codeInput();
        await store.createAuthorizationCode(code);
        const idem = {
          clientId: 'client_1',
          key: 'retry-1',
          requestHash: 'rh',
          response: 'sealed-response',
          expiresAt: new Date(Date.now() + 86_400_000),
        };
        assert.deepEqual(
          await store.redeemAuthorizationCode({
            codeHash: code.codeHash,
            now: new Date(),
            token: token('i1'),
            idempotency: idem,
          }),
          {
            kind: 'issued',
          },
        );
        // Concurrent retries with the same key all get the kept response; the token stays valid.
        const retries = await Promise.all(
          Array.from({ length: 5 }, () =>
            store.redeemAuthorizationCode({
              codeHash: code.codeHash,
              now: new Date(),
              token: token('i2'),
              idempotency: idem,
            }),
          ),
        );
        for (const r of retries) assert.deepEqual(r, { kind: 'replayed', response: 'sealed-response' });
        assert.equal((await store.getAccessToken('i1'))?.revokedAt, null);
        // The same key with another request is refused; another key is a second use.
        assert.deepEqual(
          await store.redeemAuthorizationCode({
            codeHash: code.codeHash,
            now: new Date(),
            token: token('i3'),
            idempotency: { ...idem, requestHash: 'other' },
          }),
          { kind: 'idempotency_mismatch' },
        );
        assert.deepEqual(
          await store.redeemAuthorizationCode({
            codeHash: code.codeHash,
            now: new Date(),
            token: token('i4'),
            idempotency: { ...idem, key: 'retry-2' },
          }),
          { kind: 'invalid', reason: 'consumed' },
        );
        assert.ok((await store.getAccessToken('i1'))?.revokedAt instanceof Date);
      });

      test('an expired idempotency record is not replayed', async (store) => {
        const code = codeInput();
        await store.createAuthorizationCode(code);
        const idem = {
          clientId: 'client_1',
          key: 'k',
          requestHash: 'rh',
          response: 'r',
          expiresAt: new Date(Date.now() + 1_000),
        };
        await store.redeemAuthorizationCode({
          codeHash: code.codeHash,
          now: new Date(),
          token: token('e1'),
          idempotency: idem,
        });
        const later = new Date(Date.now() + 5_000);
        assert.deepEqual(
          await store.redeemAuthorizationCode({
            codeHash: code.codeHash,
            now: later,
            token: token('e2'),
            idempotency: idem,
          }),
          {
            kind: 'invalid',
            reason: 'consumed',
          },
        );
      });

      test('deleteExpiredGrants removes expired codes, tokens and idempotency records only', async (store) => {
        const old = codeInput({
          createdAt: new Date(Date.now() - 900_000),
          expiresAt: new Date(Date.now() - 300_000),
        });
        const live = codeInput();
        await store.createAuthorizationCode(old);
        await store.createAuthorizationCode(live);
        await store.redeemAuthorizationCode({
          codeHash: live.codeHash,
          now: new Date(),
          token: { ...token('live-token'), expiresAt: new Date(Date.now() - 1_000) },
          idempotency: {
            clientId: 'client_1',
            key: 'k',
            requestHash: 'h',
            response: 'r',
            expiresAt: new Date(Date.now() + 86_400_000),
          },
        });
        assert.equal(await store.deleteExpiredGrants(new Date()), 2);
        assert.equal(await store.getAuthorizationCode(old.codeHash), null);
        assert.notEqual(await store.getAuthorizationCode(live.codeHash), null);
        assert.equal(await store.getAccessToken('live-token'), null);
      });
    });

    describe('one-time keys', () => {
      test('a key is claimed once, also under concurrency, until it is purged', async (store) => {
        const expiresAt = new Date(Date.now() + 60_000);
        const results = await Promise.all(
          Array.from({ length: 10 }, () => store.claimOneTimeKey('saml:a', expiresAt)),
        );
        assert.equal(results.filter(Boolean).length, 1);
        assert.equal(await store.claimOneTimeKey('saml:a', expiresAt), false);
        assert.equal(await store.claimOneTimeKey('saml:b', expiresAt), true);
        await store.claimOneTimeKey('saml:old', new Date(Date.now() - 1_000));
        assert.equal(await store.deleteExpiredGrants(new Date()), 1);
        assert.equal(await store.claimOneTimeKey('saml:old', expiresAt), true);
        assert.equal(await store.claimOneTimeKey('saml:a', expiresAt), false);
      });
    });

    describe('events', () => {
      /** An event at `at` (its ID is a ULID of that time). */
      function ev(
        event: string,
        organizationId: string | null,
        at: Date,
        over: Partial<NewEvent> = {},
      ): NewEvent {
        return {
          id: firstIdAt('event', at).replace(/0{16}$/, ulid().slice(10)),
          event,
          organizationId,
          data: { object: 'thing', n: 1, nested: { list: ['a', 'b'] } },
          createdAt: at,
          ...over,
        };
      }
      const t0 = new Date('2030-05-01T00:00:00.000Z');
      const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);

      test('appendEvents writes them as given; listEvents filters by name, organization and range, in ID order', async (store) => {
        const a = ev('connection.activated', 'org_A', at(1));
        const b = ev('connection.deactivated', 'org_A', at(2));
        const c = ev('connection.activated', 'org_B', at(3));
        const d = ev('organization.created', null, at(4));
        assert.equal(await store.appendEvents([c, a, d, b]), 4);
        const all = await store.listEvents({}, { limit: 10, order: 'asc' });
        assert.deepEqual(
          all.data,
          [a, b, c, d].map(({ dedupeKey: _, ...e }) => e),
        );
        assert.deepEqual(
          ids(
            (await store.listEvents({ events: ['connection.activated'] }, { limit: 10, order: 'asc' })).data,
          ),
          [a.id, c.id],
        );
        assert.deepEqual(
          ids((await store.listEvents({ organizationId: 'org_A' }, { limit: 10, order: 'desc' })).data),
          [b.id, a.id],
        );
        assert.deepEqual(
          ids(
            (await store.listEvents({ rangeStart: at(2), rangeEnd: at(4) }, { limit: 10, order: 'asc' }))
              .data,
          ),
          [b.id, c.id],
        );
        const first = await store.listEvents({}, { limit: 2, order: 'asc' });
        assert.deepEqual(ids(first.data), [a.id, b.id]);
        assert.equal(first.after, b.id);
        assert.deepEqual(
          ids((await store.listEvents({}, { limit: 2, order: 'asc', after: first.after as string })).data),
          [c.id, d.id],
        );
      });

      test('an event with a dedupe key already written is skipped, also under concurrency', async (store) => {
        const results = await Promise.all(
          Array.from({ length: 6 }, () =>
            store.appendEvents([
              ev('connection.saml_certificate_renewal_required', 'org_A', at(5), { dedupeKey: 'cert:x:30' }),
            ]),
          ),
        );
        assert.equal(
          results.reduce((n, r) => n + r, 0),
          1,
        );
        assert.equal((await store.listEvents({}, { limit: 10, order: 'asc' })).data.length, 1);
      });

      test('a write and its events commit together; a failing write writes no event', async (store) => {
        const org = await store.createOrganization(orgInput(), [], (created) => [
          ev('organization.created', created.id, at(10), { data: { id: created.id, name: created.name } }),
        ]);
        const conn = await store.createConnection(connInput({ organizationId: org.id }));
        const updated = await store.updateConnection(conn.id, { state: 'active' }, (after) => [
          ev('connection.activated', org.id, at(11), { data: { id: after.id, state: after.state } }),
        ]);
        assert.equal(updated.state, 'active');
        await assert.rejects(
          store.updateConnection(newId('conn'), { state: 'inactive' }, [
            ev('connection.deactivated', org.id, at(12)),
          ]),
          NotFoundError,
        );
        await assert.rejects(
          store.deleteDomain(newId('org_domain'), [ev('organization_domain.deleted', org.id, at(13))]),
          NotFoundError,
        );
        const domain = await store.createDomain(org.id, domainInput('acme.com'), (d) => [
          ev('organization_domain.created', org.id, at(14), { data: { id: d.id, domain: d.domain } }),
        ]);
        await store.updateDomainState(domain.id, 'verified', (d) => [
          ev('organization_domain.verified', org.id, at(15), { data: { id: d.id, state: d.state } }),
        ]);
        await store.deleteConnection(conn.id, [ev('connection.deleted', org.id, at(16))]);
        await store.deleteOrganization(org.id, [ev('organization.deleted', org.id, at(17))]);
        const names = (await store.listEvents({}, { limit: 20, order: 'asc' })).data.map((e) => [
          e.event,
          e.data,
        ]);
        assert.deepEqual(names, [
          ['organization.created', { id: org.id, name: org.name }],
          ['connection.activated', { id: conn.id, state: 'active' }],
          ['organization_domain.created', { id: domain.id, domain: 'acme.com' }],
          ['organization_domain.verified', { id: domain.id, state: 'verified' }],
          ['connection.deleted', { object: 'thing', n: 1, nested: { list: ['a', 'b'] } }],
          ['organization.deleted', { object: 'thing', n: 1, nested: { list: ['a', 'b'] } }],
        ]);
      });

      test('sign-in writes carry their events: a login started, a session created and updated', async (store) => {
        const tx = txInput();
        await store.createLoginTransaction(
          tx,
          sessionInput({
            id: tx.sessionId,
            clientId: tx.clientId,
            connectionId: tx.connectionId,
            organizationId: tx.organizationId,
            redirectUri: tx.redirectUri,
            authorizeRequestId: tx.requestId,
          }),
          [ev('authentication.sso_started', null, at(20), { data: { session: tx.sessionId } })],
        );
        const other = sessionInput();
        await store.createSession(other, [ev('authentication.sso_failed', null, at(21))]);
        await store.updateSession(tx.sessionId, { outcome: 'succeeded' }, (after) => [
          ev('authentication.sso_succeeded', null, at(22), {
            data: { session: after.id, outcome: after.outcome },
          }),
        ]);
        await assert.rejects(
          store.updateSession(newId('sess'), { outcome: 'failed' }, [
            ev('authentication.sso_failed', null, at(23)),
          ]),
          NotFoundError,
        );
        // Concurrent logins, each with its event (PostgreSQL groups them into one statement under load).
        await Promise.all(
          Array.from({ length: 30 }, (_, i) => {
            const t = txInput();
            return store.createLoginTransaction(
              t,
              sessionInput({
                id: t.sessionId,
                clientId: t.clientId,
                connectionId: t.connectionId,
                organizationId: t.organizationId,
                redirectUri: t.redirectUri,
                authorizeRequestId: t.requestId,
              }),
              [ev('authentication.sso_started', null, at(30 + i), { data: { session: t.sessionId } })],
            );
          }),
        );
        const events = (await store.listEvents({}, { limit: 100, order: 'asc' })).data;
        assert.deepEqual(
          events.slice(0, 3).map((e) => [e.event, e.data]),
          [
            ['authentication.sso_started', { session: tx.sessionId }],
            ['authentication.sso_failed', { object: 'thing', n: 1, nested: { list: ['a', 'b'] } }],
            ['authentication.sso_succeeded', { session: tx.sessionId, outcome: 'succeeded' }],
          ],
        );
        assert.equal(events.filter((e) => e.event === 'authentication.sso_started').length, 31);
      });

      test('deleteEventsBefore removes the oldest, at most `limit` at a time', async (store) => {
        await store.appendEvents([1, 2, 3, 4].map((i) => ev('organization.updated', 'org_A', at(i))));
        assert.equal(await store.deleteEventsBefore(at(4), 2), 2);
        assert.equal(await store.deleteEventsBefore(at(4), 2), 1);
        assert.equal(await store.deleteEventsBefore(at(4), 2), 0);
        assert.equal((await store.listEvents({}, { limit: 10, order: 'asc' })).data.length, 1);
      });
    });

    describe('webhook deliveries', () => {
      const t0 = new Date('2030-06-01T00:00:00.000Z');
      const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
      /** An event named `name` at `at(seconds)` (its ID is a ULID of that time). */
      function ev(name: string, seconds: number): NewEvent {
        const createdAt = at(seconds);
        return {
          id: firstIdAt('event', createdAt).replace(/0{16}$/, ulid().slice(10)),
          event: name,
          organizationId: 'org_W',
          data: { object: 'thing', at: createdAt.toISOString() },
          createdAt,
        };
      }
      function endpoint(
        events: string[],
        over: Partial<Omit<WebhookEndpointRecord, 'createdAt' | 'updatedAt'>> = {},
      ) {
        return {
          id: `we_${ulid()}`,
          url: 'https://hooks.example.com/workos',
          secret: 'v1.sealed.secret',
          status: 'enabled' as const,
          events,
          ...over,
        };
      }
      const page = { limit: 100, order: 'asc' as const };
      /** Claims at `now` with a 30 s lease. */
      const claim = (store: Store, now: Date, limit = 10) =>
        store.claimWebhookDeliveries(now, limit, new Date(now.getTime() + 30_000));
      function finish(
        c: WebhookClaim,
        now: Date,
        over: Partial<Omit<WebhookAttemptResult, 'endpointId' | 'eventId' | 'attempt'>> = {},
      ): WebhookAttemptResult {
        return {
          endpointId: c.endpointId,
          eventId: c.event.id,
          attempt: c.attempt,
          startedAt: now,
          outcome: 'succeeded',
          responseStatus: 200,
          latencyMs: 12,
          error: null,
          retryAt: null,
          now,
          ...over,
        };
      }

      test('endpoints: create, get, list, update (URL, secret, status, events), delete', async (store) => {
        const a = await store.createWebhookEndpoint(endpoint(['connection.activated', 'connection.deleted']));
        assert.deepEqual(await store.getWebhookEndpoint(a.id), a);
        assert.deepEqual(a.events, ['connection.activated', 'connection.deleted']);
        assert.equal(a.status, 'enabled');
        const b = await store.createWebhookEndpoint(
          endpoint(['organization.created'], { status: 'disabled' }),
        );
        assert.deepEqual(ids((await store.listWebhookEndpoints({ limit: 10, order: 'desc' })).data), [
          b.id,
          a.id,
        ]);
        const updated = await store.updateWebhookEndpoint(a.id, {
          url: 'https://other.example.com/hook',
          secret: 'v1.new.secret',
          status: 'disabled',
          events: ['organization.deleted'],
        });
        assert.deepEqual(
          [updated.url, updated.secret, updated.status, updated.events],
          ['https://other.example.com/hook', 'v1.new.secret', 'disabled', ['organization.deleted']],
        );
        assert.equal(updated.createdAt.getTime(), a.createdAt.getTime());
        assert.deepEqual(await store.getWebhookEndpoint(a.id), updated);
        // A patch changes only what it names.
        assert.equal((await store.updateWebhookEndpoint(a.id, { status: 'enabled' })).url, updated.url);
        await store.deleteWebhookEndpoint(a.id);
        assert.equal(await store.getWebhookEndpoint(a.id), null);
        await rejectsNotFound(store.updateWebhookEndpoint(a.id, { status: 'enabled' }));
        await rejectsNotFound(store.deleteWebhookEndpoint(a.id));
      });

      test('an event queues a delivery to each enabled endpoint that wants it, in its own write', async (store) => {
        const wants = await store.createWebhookEndpoint(
          endpoint(['organization.created', 'connection.activated']),
        );
        const other = await store.createWebhookEndpoint(endpoint(['connection.deleted']));
        const off = await store.createWebhookEndpoint(
          endpoint(['organization.created'], { status: 'disabled' }),
        );
        const created = ev('organization.created', 1);
        const org = await store.createOrganization(orgInput(), [], [created]);
        await store.appendEvents([ev('organization.updated', 2)]);
        // A write that fails queues nothing.
        await rejectsNotFound(
          store.updateConnection(newId('conn'), { state: 'active' }, [ev('connection.activated', 3)]),
        );
        const conn = await store.createConnection(connInput({ organizationId: org.id }));
        const activated = ev('connection.activated', 4);
        await store.updateConnection(conn.id, { state: 'active' }, [activated]);
        const deliveries = (await store.listWebhookDeliveries(wants.id, {}, page)).data;
        assert.deepEqual(
          deliveries.map((d) => [
            d.eventId,
            d.event,
            d.state,
            d.attempts,
            d.nextAttemptAt?.getTime(),
            d.history,
          ]),
          [
            [created.id, 'organization.created', 'pending', 0, created.createdAt.getTime(), []],
            [activated.id, 'connection.activated', 'pending', 0, activated.createdAt.getTime(), []],
          ],
        );
        assert.equal((await store.listWebhookDeliveries(other.id, {}, page)).data.length, 0);
        assert.equal((await store.listWebhookDeliveries(off.id, {}, page)).data.length, 0);
        // An endpoint gets what happens after it is created, and follows its list as it changes.
        const late = await store.createWebhookEndpoint(endpoint(['organization.created']));
        assert.equal((await store.listWebhookDeliveries(late.id, {}, page)).data.length, 0);
        await store.updateWebhookEndpoint(late.id, { events: ['organization.deleted'] });
        await store.updateWebhookEndpoint(off.id, { status: 'enabled' });
        await store.appendEvents([ev('organization.created', 5), ev('organization.deleted', 6)]);
        assert.deepEqual(
          (await store.listWebhookDeliveries(late.id, {}, page)).data.map((d) => d.event),
          ['organization.deleted'],
        );
        assert.deepEqual(
          (await store.listWebhookDeliveries(off.id, {}, page)).data.map((d) => d.event),
          ['organization.created'],
        );
        assert.equal(await store.countWebhookBacklog(), 5);
      });

      test('sign-in writes queue deliveries too, also grouped under load', async (store) => {
        const hook = await store.createWebhookEndpoint(endpoint(['authentication.sso_started']));
        await Promise.all(
          Array.from({ length: 30 }, (_, i) => {
            const t = txInput();
            return store.createLoginTransaction(
              t,
              sessionInput({
                id: t.sessionId,
                clientId: t.clientId,
                connectionId: t.connectionId,
                organizationId: t.organizationId,
                redirectUri: t.redirectUri,
                authorizeRequestId: t.requestId,
              }),
              [ev('authentication.sso_started', 10 + i)],
            );
          }),
        );
        const s = sessionInput();
        await store.createSession(s, [ev('authentication.sso_started', 50)]);
        assert.equal((await store.listWebhookDeliveries(hook.id, {}, page)).data.length, 31);
      });

      test('a claim leases one attempt; a failure waits for its retry; success ends it; a late finish is refused', async (store) => {
        const hook = await store.createWebhookEndpoint(endpoint(['organization.created']));
        const e = ev('organization.created', 0);
        await store.appendEvents([e]);
        assert.deepEqual(await claim(store, at(-1)), [], 'not due before the event');
        const [first, ...none] = await claim(store, at(1));
        assert.deepEqual(none, []);
        assert.ok(first);
        assert.deepEqual(
          { ...first, event: { ...first.event } },
          {
            endpointId: hook.id,
            url: hook.url,
            secret: hook.secret,
            event: e,
            attempt: 1,
          },
        );
        assert.deepEqual(await claim(store, at(2)), [], 'leased');
        assert.equal(await store.countWebhookBacklog(), 1);
        assert.equal(
          await store.finishWebhookAttempt(
            finish(first, at(3), {
              outcome: 'failed',
              responseStatus: 500,
              error: 'status',
              retryAt: at(60),
            }),
          ),
          true,
        );
        assert.deepEqual(await claim(store, at(59)), [], 'waits for its retry');
        const [second] = await claim(store, at(60));
        assert.equal(second?.attempt, 2);
        assert.equal(await store.finishWebhookAttempt(finish(second as WebhookClaim, at(61))), true);
        assert.equal(await store.finishWebhookAttempt(finish(second as WebhookClaim, at(62))), false, 'once');
        assert.equal(await store.finishWebhookAttempt(finish(first, at(62))), false, 'an old attempt');
        const delivery = await store.getWebhookDelivery(hook.id, e.id);
        assert.equal(delivery?.state, 'succeeded');
        assert.equal(delivery?.attempts, 2);
        assert.equal(delivery?.nextAttemptAt, null);
        assert.deepEqual(delivery?.history, [
          {
            attempt: 1,
            startedAt: at(3),
            outcome: 'failed',
            responseStatus: 500,
            latencyMs: 12,
            error: 'status',
          },
          {
            attempt: 2,
            startedAt: at(61),
            outcome: 'succeeded',
            responseStatus: 200,
            latencyMs: 12,
            error: null,
          },
        ]);
        assert.deepEqual(await claim(store, at(1000)), []);
        assert.equal(await store.countWebhookBacklog(), 0);
        assert.equal(await store.getWebhookDelivery(hook.id, 'event_unknown'), null);
      });

      test('a lease that ends without a finish (its node died): the next claim records it interrupted and fences it', async (store) => {
        const hook = await store.createWebhookEndpoint(endpoint(['organization.created']));
        const e = ev('organization.created', 0);
        await store.appendEvents([e]);
        const [lost] = await claim(store, at(1));
        assert.deepEqual(await claim(store, at(30)), [], 'leased until 31 s');
        const [again] = await claim(store, at(31));
        assert.equal(again?.attempt, 2);
        assert.equal(await store.finishWebhookAttempt(finish(lost as WebhookClaim, at(32))), false);
        assert.equal(
          await store.finishWebhookAttempt(
            finish(again as WebhookClaim, at(33), {
              outcome: 'failed',
              responseStatus: null,
              latencyMs: null,
              error: 'timeout',
            }),
          ),
          true,
        );
        const delivery = await store.getWebhookDelivery(hook.id, e.id);
        assert.equal(delivery?.state, 'failed', 'no retry given: failed');
        assert.deepEqual(
          delivery?.history.map((h) => [h.attempt, h.outcome, h.error, h.startedAt.getTime()]),
          [
            [1, 'failed', 'interrupted', at(1).getTime()],
            [2, 'failed', 'timeout', at(33).getTime()],
          ],
        );
        assert.deepEqual(await claim(store, at(1000)), []);
      });

      test('concurrent claims hand each delivery to one caller', async (store) => {
        const hook = await store.createWebhookEndpoint(endpoint(['organization.updated']));
        await store.appendEvents(Array.from({ length: 40 }, (_, i) => ev('organization.updated', i / 10)));
        const claims = (await Promise.all(Array.from({ length: 8 }, () => claim(store, at(10), 7)))).flat();
        assert.equal(claims.length, 40);
        assert.equal(new Set(claims.map((c) => c.event.id)).size, 40);
        assert.ok(claims.every((c) => c.endpointId === hook.id && c.attempt === 1));
      });

      test('a disabled endpoint keeps its deliveries waiting; deleting it or the event removes them', async (store) => {
        const hook = await store.createWebhookEndpoint(endpoint(['organization.created']));
        const keep = await store.createWebhookEndpoint(endpoint(['organization.created']));
        const [a, b] = [ev('organization.created', 0), ev('organization.created', 1)];
        await store.appendEvents([a, b]);
        await store.updateWebhookEndpoint(hook.id, { status: 'disabled' });
        assert.equal(await store.countWebhookBacklog(), 2);
        const claimed = await claim(store, at(5));
        assert.deepEqual(
          claimed.map((c) => c.endpointId),
          [keep.id, keep.id],
        );
        await store.updateWebhookEndpoint(hook.id, { status: 'enabled' });
        assert.equal((await claim(store, at(5))).length, 2);
        await store.deleteWebhookEndpoint(hook.id);
        assert.equal((await store.listWebhookDeliveries(hook.id, {}, page)).data.length, 0);
        assert.equal(await store.deleteEventsBefore(at(1), 10), 1);
        assert.deepEqual(
          (await store.listWebhookDeliveries(keep.id, {}, page)).data.map((d) => d.eventId),
          [b.id],
        );
      });

      test('listWebhookDeliveries pages by event ID and filters by state', async (store) => {
        const hook = await store.createWebhookEndpoint(endpoint(['organization.updated']));
        const events = Array.from({ length: 5 }, (_, i) => ev('organization.updated', i));
        await store.appendEvents(events);
        for (const c of await claim(store, at(10), 2)) {
          await store.finishWebhookAttempt(
            finish(c, at(11), { outcome: 'failed', error: 'status', responseStatus: 503 }),
          );
        }
        const list = (p: PageRequest) => store.listWebhookDeliveries(hook.id, {}, p);
        const pages = await walkForward(
          (p) => list(p).then((r) => ({ ...r, data: r.data.map((d) => ({ ...d, id: d.eventId })) })),
          2,
          'desc',
        );
        assert.deepEqual(
          pages.flatMap((p) => p.data.map((d) => d.eventId)),
          events.map((e) => e.id).reverse(),
        );
        const failed = await store.listWebhookDeliveries(hook.id, { state: 'failed' }, page);
        assert.deepEqual(
          failed.data.map((d) => [d.eventId, d.history.map((h) => h.responseStatus)]),
          [
            [events[0]?.id, [503]],
            [events[1]?.id, [503]],
          ],
        );
        assert.equal((await store.listWebhookDeliveries(hook.id, { state: 'pending' }, page)).data.length, 3);
      });
    });

    describe('Admin Portal setup links', () => {
      function linkInput(organizationId: string, over: Partial<Omit<PortalLinkRecord, 'openedAt'>> = {}) {
        const createdAt = new Date(Math.floor(Date.now() / 1000) * 1000);
        return {
          id: newId('portal_link'),
          tokenHash: randomBytes(32).toString('base64url'),
          organizationId,
          intent: 'sso' as const,
          returnUrl: 'https://app.example.com/settings',
          successUrl: null,
          providerType: 'OktaSAML',
          adminEmails: ['it@acme.com', 'ops@acme.com'],
          createdAt,
          expiresAt: new Date(createdAt.getTime() + 5 * 60_000),
          ...over,
        };
      }

      test('a link is created as given, and opened once, also under concurrency', async (store) => {
        const org = await store.createOrganization(orgInput(), []);
        const input = linkInput(org.id);
        const created = await store.createPortalLink(input);
        assert.deepEqual(created, { ...input, openedAt: null });
        const now = new Date(input.createdAt.getTime() + 1_000);
        const openings = await Promise.all(
          Array.from({ length: 8 }, () => store.openPortalLink(input.tokenHash, now)),
        );
        const opened = openings.filter((o) => o.outcome === 'opened');
        assert.equal(opened.length, 1);
        assert.deepEqual(opened[0]?.link, { ...input, openedAt: now });
        for (const o of openings.filter((x) => x.outcome !== 'opened')) {
          assert.equal(o.outcome, 'used');
          assert.deepEqual(o.link, { ...input, openedAt: now });
        }
        assert.equal((await store.openPortalLink(input.tokenHash, now)).outcome, 'used');
      });

      test('an expired link is not opened; an unknown hash is unknown; a link goes with its organization', async (store) => {
        const org = await store.createOrganization(orgInput(), []);
        const input = linkInput(org.id, {
          intent: 'domain_verification',
          providerType: null,
          adminEmails: [],
        });
        await store.createPortalLink(input);
        const late = await store.openPortalLink(input.tokenHash, input.expiresAt);
        assert.equal(late.outcome, 'expired');
        assert.deepEqual(late.link, { ...input, openedAt: null });
        assert.deepEqual(await store.openPortalLink('no-such-hash', new Date()), {
          outcome: 'unknown',
          link: null,
        });
        await assert.rejects(store.createPortalLink({ ...linkInput(org.id), tokenHash: input.tokenHash }));
        const other = linkInput(org.id);
        await store.createPortalLink(other);
        await store.deleteOrganization(org.id);
        assert.equal((await store.openPortalLink(other.tokenHash, new Date())).outcome, 'unknown');
      });

      test('deleteExpiredPortalLinks removes the links that expired before the given time', async (store) => {
        const org = await store.createOrganization(orgInput(), []);
        const old = linkInput(org.id, { expiresAt: new Date(Date.now() - 60_000) });
        const fresh = linkInput(org.id);
        await store.createPortalLink(old);
        await store.createPortalLink(fresh);
        assert.equal(await store.deleteExpiredPortalLinks(new Date()), 1);
        assert.equal((await store.openPortalLink(old.tokenHash, new Date())).outcome, 'unknown');
        assert.equal((await store.openPortalLink(fresh.tokenHash, new Date())).outcome, 'opened');
      });
    });

    describe('operators, links and audit', () => {
      function opLinkInput(over: Partial<Omit<OperatorLinkRecord, 'usedAt'>> = {}) {
        const createdAt = new Date(Math.floor(Date.now() / 1000) * 1000);
        return {
          id: newId('op_link'),
          tokenHash: randomBytes(32).toString('base64url'),
          purpose: 'bootstrap' as const,
          operatorId: null,
          email: null,
          createdBy: null,
          createdAt,
          expiresAt: new Date(createdAt.getTime() + 15 * 60_000),
          ...over,
        };
      }

      test('an operator is created with a lower-case email, found by ID and by email in any case', async (store) => {
        const from = new Date();
        const op = await store.createOperator({
          id: newId('op'),
          email: 'Ada.Lovelace@Example.COM',
          name: 'Ada',
        });
        assertBetween(op.createdAt, from, new Date());
        assert.deepEqual(op, {
          id: op.id,
          email: 'ada.lovelace@example.com',
          name: 'Ada',
          createdAt: op.createdAt,
          lastSignInAt: null,
          disabledAt: null,
        });
        assert.deepEqual(await store.getOperator(op.id), op);
        assert.deepEqual(await store.getOperatorByEmail('ADA.LOVELACE@example.com'), op);
        assert.deepEqual(await store.getOperatorByEmail('ada.lovelace@example.com'), op);
        assert.equal(await store.getOperatorByEmail('grace@example.com'), null);
        assert.equal(await store.getOperator(newId('op')), null);
      });

      test('a second operator with the same email in another case is refused', async (store) => {
        const first = await store.createOperator({ id: newId('op'), email: 'ada@example.com', name: null });
        await rejectsAlreadyExists(
          store.createOperator({ id: newId('op'), email: 'ADA@Example.com', name: 'Impostor' }),
          'operator.email',
        );
        assert.deepEqual(await store.listOperators(), [first]);
      });

      test('updateOperator changes only what the patch names; null clears; unknown is NotFound; list by ID', async (store) => {
        const a = await store.createOperator({ id: newId('op'), email: 'a@example.com', name: 'A' });
        const b = await store.createOperator({ id: newId('op'), email: 'b@example.com', name: null });
        const signedIn = new Date('2030-01-02T03:04:05.678Z');
        const afterSignIn = await store.updateOperator(a.id, { lastSignInAt: signedIn });
        assert.deepEqual(afterSignIn, { ...a, lastSignInAt: signedIn });
        const disabled = new Date('2030-02-01T00:00:00.001Z');
        const renamed = await store.updateOperator(a.id, { name: 'Ada', disabledAt: disabled });
        assert.deepEqual(renamed, { ...a, name: 'Ada', lastSignInAt: signedIn, disabledAt: disabled });
        assert.deepEqual(await store.updateOperator(a.id, {}), renamed);
        const enabled = await store.updateOperator(a.id, { disabledAt: null, name: null });
        assert.deepEqual(enabled, { ...a, name: null, lastSignInAt: signedIn, disabledAt: null });
        assert.deepEqual(await store.getOperator(a.id), enabled);
        await rejectsNotFound(store.updateOperator(newId('op'), { name: 'x' }));
        await rejectsNotFound(store.updateOperator(newId('op'), {}));
        assert.deepEqual(await store.listOperators(), [enabled, b]);
      });

      test('a link is created as given and used once, also under concurrency', async (store) => {
        const op = await store.createOperator({ id: newId('op'), email: 'ada@example.com', name: null });
        const input = opLinkInput({ purpose: 'sign_in', operatorId: op.id, createdBy: op.id });
        assert.deepEqual(await store.createOperatorLink(input), { ...input, usedAt: null });
        assert.deepEqual(await store.findOperatorLink(input.tokenHash), { ...input, usedAt: null });
        assert.equal(await store.findOperatorLink('no-such-hash'), null);
        const now = new Date(input.createdAt.getTime() + 1_000);
        const uses = await Promise.all(
          Array.from({ length: 8 }, () => store.useOperatorLink(input.tokenHash, now)),
        );
        const used = uses.filter((u) => u.outcome === 'used');
        assert.equal(used.length, 1);
        assert.deepEqual(used[0]?.link, { ...input, usedAt: now });
        for (const u of uses.filter((x) => x.outcome !== 'used')) {
          assert.deepEqual(u, { outcome: 'already_used', link: { ...input, usedAt: now } });
        }
        assert.deepEqual(await store.findOperatorLink(input.tokenHash), { ...input, usedAt: now });
        const later = new Date(now.getTime() + 1_000);
        assert.deepEqual(await store.useOperatorLink(input.tokenHash, later), {
          outcome: 'already_used',
          link: { ...input, usedAt: now },
        });
      });

      test('an expired link is not used; an unknown hash is unknown; a token hash is unique', async (store) => {
        const invite = opLinkInput({ purpose: 'invite', email: 'grace@example.com', createdBy: newId('op') });
        await store.createOperatorLink(invite);
        assert.deepEqual(await store.useOperatorLink(invite.tokenHash, invite.expiresAt), {
          outcome: 'expired',
          link: { ...invite, usedAt: null },
        });
        // Expired stays expired: it was not used by the late attempt.
        const stillExpired = await store.useOperatorLink(
          invite.tokenHash,
          new Date(invite.expiresAt.getTime() + 1),
        );
        assert.equal(stillExpired.outcome, 'expired');
        assert.deepEqual(await store.useOperatorLink('no-such-hash', new Date()), {
          outcome: 'unknown',
          link: null,
        });
        await rejectsAlreadyExists(
          store.createOperatorLink(opLinkInput({ tokenHash: invite.tokenHash })),
          'operator_link.token_hash',
        );
        const bootstrap = opLinkInput();
        await store.createOperatorLink(bootstrap);
        const justBefore = new Date(bootstrap.expiresAt.getTime() - 1);
        assert.equal((await store.useOperatorLink(bootstrap.tokenHash, justBefore)).outcome, 'used');
      });

      test('audit entries are kept as given and listed newest first, filtered by operator and target, page by page', async (store) => {
        const ada = await store.createOperator({ id: newId('op'), email: 'ada@example.com', name: 'Ada' });
        // No foreign key: an entry may name an operator that is not (or no longer) there.
        const gone = newId('op');
        const base = Date.UTC(2030, 0, 1);
        const rows = [
          [ada.id, 'organization.create', 'organization', 'org_1'],
          [ada.id, 'connection.deactivate', 'connection', 'conn_1'],
          [gone, 'connection.activate', 'connection', 'conn_1'],
          [null, 'operator.bootstrap', null, null],
          [ada.id, 'api_key.revoke', 'api_key', 'key_1'],
        ] as const;
        const entries = rows.map(([operatorId, action, targetType, targetId], i) => ({
          id: newId('audit'),
          operatorId,
          operatorEmail: operatorId === ada.id ? ada.email : operatorId ? 'gone@example.com' : null,
          action,
          targetType,
          targetId,
          detail: { n: i, nested: { list: [1, 'two'] }, text: '<script>x</script>' },
          createdAt: new Date(base + i * 1_000),
        }));
        for (const e of entries) await store.appendAudit(e);
        const all = await store.listAudit({}, { limit: 10, order: 'desc' });
        assert.deepEqual(all, { data: [...entries].reverse(), before: null, after: null });
        const byAda = await store.listAudit({ operatorId: ada.id }, { limit: 10, order: 'desc' });
        assert.deepEqual(
          byAda.data.map((e) => e.action),
          ['api_key.revoke', 'connection.deactivate', 'organization.create'],
        );
        const onConn = await store.listAudit({ targetId: 'conn_1' }, { limit: 10, order: 'asc' });
        assert.deepEqual(onConn.data, [entries[1], entries[2]]);
        const both = await store.listAudit(
          { operatorId: gone, targetId: 'conn_1' },
          { limit: 10, order: 'desc' },
        );
        assert.deepEqual(both.data, [entries[2]]);
        assert.deepEqual(
          (await store.listAudit({ targetId: 'nothing' }, { limit: 10, order: 'desc' })).data,
          [],
        );
        // Pages of two, newest first, following `after`.
        const seen: string[] = [];
        let after: string | undefined;
        for (let i = 0; i < 5; i++) {
          const p = await store.listAudit({}, { limit: 2, order: 'desc', after });
          seen.push(...p.data.map((e) => e.id));
          if (!p.after) break;
          after = p.after;
        }
        assert.deepEqual(seen, entries.map((e) => e.id).reverse());
        const second = await store.listAudit({}, { limit: 2, order: 'desc', after: entries[3]?.id });
        assert.deepEqual(second, {
          data: [entries[2], entries[1]],
          before: entries[2]?.id,
          after: entries[1]?.id,
        });
        const back = await store.listAudit({}, { limit: 2, order: 'desc', before: entries[1]?.id });
        assert.deepEqual(
          back.data.map((e) => e.id),
          [entries[3]?.id, entries[2]?.id],
        );
      });
    });

    describe('rate limits', () => {
      const WINDOW = 60_000;
      // The middle of a window, so that a test never straddles two.
      const at = (windowIndex: number, offset = WINDOW / 2) =>
        new Date(1_800_000_000_000 + windowIndex * WINDOW + offset);

      test('counts hits per key within a fixed window, allows up to the limit, and starts again in the next window', async (store) => {
        const hit = { key: 'authorize:conn:a', limit: 3, windowMs: WINDOW };
        const seen = [];
        for (let i = 0; i < 4; i++) seen.push((await store.hitRateLimits([hit], at(0)))[0]);
        assert.deepEqual(
          seen.map((r) => [r?.count, r?.allowed]),
          [
            [1, true],
            [2, true],
            [3, true],
            [4, false],
          ],
        );
        const windowEnd = new Date(at(0, 0).getTime() + WINDOW);
        assert.equal(seen[3]?.resetAt.toISOString(), windowEnd.toISOString());
        const next = (await store.hitRateLimits([hit], at(1, 1)))[0];
        assert.deepEqual([next?.count, next?.allowed], [1, true]);
      });

      test('several limits in one call, each with its own key and window; results in the order asked', async (store) => {
        const results = await store.hitRateLimits(
          [
            { key: 'authorize:conn:b', limit: 10, windowMs: WINDOW },
            { key: 'authorize:ip:192.0.2.1', limit: 1, windowMs: WINDOW },
            { key: 'authorize:conn:b', limit: 10, windowMs: 1_000 },
          ],
          at(5),
        );
        assert.deepEqual(
          results.map((r) => [r.count, r.allowed]),
          [
            [1, true],
            [1, true],
            [1, true],
          ],
        );
        const again = await store.hitRateLimits(
          [
            { key: 'authorize:ip:192.0.2.1', limit: 1, windowMs: WINDOW },
            { key: 'authorize:ip:192.0.2.2', limit: 1, windowMs: WINDOW },
          ],
          at(5),
        );
        assert.deepEqual(
          again.map((r) => [r.count, r.allowed]),
          [
            [2, false],
            [1, true],
          ],
        );
      });

      test('concurrent hits on one key are counted exactly', async (store) => {
        const hit = { key: 'token:client:c', limit: 15, windowMs: WINDOW };
        const results = await Promise.all(
          Array.from({ length: 20 }, () => store.hitRateLimits([hit], at(9))),
        );
        const counts = results.map((r) => r[0]?.count).sort((a, b) => (a ?? 0) - (b ?? 0));
        assert.deepEqual(
          counts,
          Array.from({ length: 20 }, (_, i) => i + 1),
        );
        assert.equal(results.filter((r) => r[0]?.allowed).length, 15);
      });

      test('a burst of calls with several limits each, the later half in the next window: each window counts 1..n exactly', async (store) => {
        const call = (i: number, window: number) =>
          store.hitRateLimits(
            [
              { key: 'authorize:conn:hot', limit: 150, windowMs: WINDOW },
              { key: `authorize:ip:${i % 2}`, limit: 1000, windowMs: WINDOW },
            ],
            at(window),
          );
        // All at once, in this order: 200 calls in window 9, then 100 in window 10.
        const results = await Promise.all([
          ...Array.from({ length: 200 }, (_, i) => call(i, 9)),
          ...Array.from({ length: 100 }, (_, i) => call(i, 10)),
        ]);
        const sorted = (rs: typeof results, index: number) =>
          rs.map((r) => r[index]?.count as number).sort((a, b) => a - b);
        const oneTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
        assert.deepEqual(sorted(results.slice(0, 200), 0), oneTo(200));
        assert.deepEqual(sorted(results.slice(200), 0), oneTo(100));
        assert.equal(results.slice(0, 200).filter((r) => r[0]?.allowed).length, 150);
        assert.equal(results.slice(200).filter((r) => r[0]?.allowed).length, 100);
        // The per-IP keys: 100 calls each in window 9, 50 each in window 10.
        const evenFirst = results.slice(0, 200).filter((_, i) => i % 2 === 0);
        assert.deepEqual(sorted(evenFirst, 1), oneTo(100));
        const oddNext = results.slice(200).filter((_, i) => i % 2 === 1);
        assert.deepEqual(sorted(oddNext, 1), oneTo(50));
        assert.equal(
          results[0]?.[0]?.resetAt.toISOString(),
          new Date(at(9).getTime() - (at(9).getTime() % WINDOW) + WINDOW).toISOString(),
        );
      });
    });
  });
}
