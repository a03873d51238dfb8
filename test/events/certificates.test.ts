import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Event } from '@workos-inc/node';
import forge from 'node-forge';
import pg from 'pg';
import * as samlify from 'samlify';
import { DAY_MS } from '../../src/events/build.ts';
import { CertificateCheck, renewalThreshold } from '../../src/events/certificates.ts';
import { newId } from '../../src/lib/ids.ts';
import { runMaintenance } from '../../src/maintenance.ts';
import { PostgresStore } from '../../src/storage/postgres/index.ts';
import { SqliteStore } from '../../src/storage/sqlite/index.ts';
import type { Store } from '../../src/storage/store.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { POSTGRES_URL, postgresUnavailable } from '../helpers/postgres.ts';
import { REDIRECT } from '../helpers/saml-idp.ts';

/**
 * SAML certificate events (docs/events-webhooks.md): `connection.saml_certificate_renewal_required` at 90, 30, 7
 * and 1 days before the IdP certificate expires, then weekly, each once across nodes; `connection.saml_certificate_renewed`
 * when a connection's certificates change to one that lasts longer; and the events' retention.
 */

/** Not in the SDK's `EventName` union (it lists the name, but has no type for the event): a cast. */
const RENEWAL = 'connection.saml_certificate_renewal_required' as Event['event'];
const RENEWED = 'connection.saml_certificate_renewed' as Event['event'];

/** A self-signed certificate (PEM) valid until `notAfter`, as an IdP would publish it. */
function certificate(notAfter: Date, name = 'Test IdP'): string {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  cert.serialNumber = `01${randomBytes(8).toString('hex')}`;
  cert.validity.notBefore = new Date(notAfter.getTime() - 400 * DAY_MS);
  cert.validity.notAfter = notAfter;
  cert.setSubject([{ name: 'commonName', value: name }]);
  cert.setIssuer([{ name: 'commonName', value: name }]);
  cert.sign(forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/** X.509 keeps whole seconds. */
const seconds = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);

async function samlConnection(
  gh: TestGatehouse,
  certificates: string[],
): Promise<{ id: string; orgId: string }> {
  const org = await gh.workos.organizations.createOrganization({
    name: `Acme ${randomBytes(3).toString('hex')}`,
  });
  const conn = await gh.api('POST', '/connections', {
    organization_id: org.id,
    connection_type: 'OktaSAML',
    saml_options: {
      idp_entity_id: 'https://idp.acme.test/saml',
      idp_sso_url: 'https://idp.acme.test/sso',
      idp_certificates: certificates,
    },
  });
  assert.equal(conn.status, 201, JSON.stringify(conn.body));
  assert.equal(conn.body.state, 'validating');
  return { id: conn.body.id, orgId: org.id };
}

/** The renewal events of a connection, oldest first (raw: the SDK passes this event's data through). */
async function renewals(gh: TestGatehouse, connectionId: string) {
  const page = await gh.workos.events.listEvents({ events: [RENEWAL], limit: 100 });
  return page.data
    .map((e) => ({ id: e.id, data: (e as unknown as { data: Record<string, unknown> }).data }))
    .filter((e) => (e.data.connection as { id: string }).id === connectionId);
}

describe('renewal thresholds', () => {
  const expiry = new Date('2030-06-01T00:00:00Z');
  const at = (daysBefore: number) => new Date(expiry.getTime() - daysBefore * DAY_MS);
  it('90, 30, 7 and 1 days before (the smallest reached), then each week after expiry', () => {
    const cases: Array<[number, string | null]> = [
      [120, null],
      [90.01, null],
      [90, '90d'],
      [45, '90d'],
      [30, '30d'],
      [29, '30d'],
      [8, '30d'],
      [7, '7d'],
      [1.5, '7d'],
      [1, '1d'],
      [0.001, '1d'],
      [0, 'expired+0w'],
      [-6.9, 'expired+0w'],
      [-7, 'expired+1w'],
      [-20, 'expired+2w'],
    ];
    for (const [days, key] of cases)
      assert.equal(renewalThreshold(expiry, at(days))?.key ?? null, key, `${days}`);
    assert.deepEqual(renewalThreshold(expiry, at(29))?.crossedAt, at(30));
    assert.deepEqual(renewalThreshold(expiry, at(-20))?.crossedAt, at(-14));
  });
});

describe('connection.saml_certificate_renewal_required and _renewed', { timeout: 120_000 }, () => {
  let gh: TestGatehouse;
  before(async () => {
    gh = await startGatehouse();
  });
  after(() => gh.close());

  it('29 days before expiry: one 30-day event, however often and on however many nodes the check runs', async () => {
    const now = new Date();
    const expiry = seconds(new Date(now.getTime() + 29 * DAY_MS));
    const conn = await samlConnection(gh, [certificate(expiry)]);
    const nodeA = new CertificateCheck();
    const nodeB = new CertificateCheck();
    assert.equal(await nodeA.run(gh.store, now, 90), 1);
    assert.equal(await nodeA.run(gh.store, now, 90), 0);
    // Another node (its own memory of what it wrote) on the same store: the dedupe key holds.
    assert.equal(await nodeB.run(gh.store, new Date(now.getTime() + 60_000), 90), 0);
    // Through the maintenance, as every node runs it every 5 minutes.
    const result = await runMaintenance(gh.store, {
      now,
      sessionLogRetentionDays: 0,
      eventRetentionDays: 90,
      certificates: new CertificateCheck(),
    });
    assert.equal(result.certificateEvents, 0);

    const events = await renewals(gh, conn.id);
    assert.equal(events.length, 1);
    assert.deepEqual(events[0]?.data, {
      connection: { id: conn.id, organization_id: conn.orgId },
      certificate: {
        certificate_type: 'ResponseSigning',
        expiry_date: expiry.toISOString(),
        is_expired: false,
      },
      days_until_expiry: 29,
    });
    // The organization filter finds it.
    const mine = await gh.workos.events.listEvents({ events: [RENEWAL], organizationId: conn.orgId });
    assert.equal(mine.data.length, 1);

    // Time passes: 7 days, 1 day, expiry, then weekly; each threshold once.
    const check = new CertificateCheck();
    const later = (days: number) => new Date(expiry.getTime() - days * DAY_MS);
    for (const [days, written] of [
      [20, 0],
      [6.5, 1],
      [5, 0],
      [0.5, 1],
      [-0.5, 1],
      [-3, 0],
      [-7.5, 1],
      [-8, 0],
      [-15, 1],
    ] as const) {
      assert.equal(await check.run(gh.store, later(days), 90), written, `${days} days before expiry`);
      assert.equal(await new CertificateCheck().run(gh.store, later(days), 90), 0, `${days}: other node`);
    }
    const all = await renewals(gh, conn.id);
    assert.deepEqual(
      all.map((e) => [e.data.days_until_expiry, (e.data.certificate as { is_expired: boolean }).is_expired]),
      [
        [29, false],
        [7, false],
        [1, false],
        [0, true],
        [-7, true],
        [-15, true],
      ],
    );
  });

  it('a newer trusted certificate (a rotation under way) means nothing needs renewing; draft and inactive connections are left alone', async () => {
    const now = new Date();
    const old = certificate(new Date(now.getTime() + 5 * DAY_MS), 'old');
    const fresh = certificate(new Date(now.getTime() + 400 * DAY_MS), 'new');
    const rotating = await samlConnection(gh, [old, fresh]);
    const inactive = await samlConnection(gh, [old]);
    await gh.api('POST', `/connections/${inactive.id}/deactivate`);
    const org = await gh.workos.organizations.createOrganization({ name: 'Draft' });
    const draft = await gh.api('POST', '/connections', {
      organization_id: org.id,
      connection_type: 'OktaSAML',
    });
    assert.equal(draft.body.state, 'draft');
    await new CertificateCheck().run(gh.store, now, 90);
    assert.deepEqual(await renewals(gh, rotating.id), []);
    assert.deepEqual(await renewals(gh, inactive.id), []);
  });

  it('renewed: an update to a certificate that expires later, once; the same or an older one: nothing', async () => {
    const now = new Date();
    const first = certificate(seconds(new Date(now.getTime() + 20 * DAY_MS)), 'first');
    const second = certificate(seconds(new Date(now.getTime() + 700 * DAY_MS)), 'second');
    const conn = await samlConnection(gh, [first]);
    const renewed = async () =>
      (await gh.workos.events.listEvents({ events: [RENEWED], limit: 100 })).data
        .map((e) => (e as unknown as { data: { connection: { id: string } } }).data)
        .filter((d) => d.connection.id === conn.id);
    // The same certificate again, then an older one added: no renewal.
    await gh.api('PUT', `/connections/${conn.id}`, { saml_options: { idp_certificates: [first] } });
    await gh.api('PUT', `/connections/${conn.id}`, {
      saml_options: { idp_certificates: [first, certificate(new Date(now.getTime() + 2 * DAY_MS))] },
    });
    assert.deepEqual(await renewed(), []);
    const res = await gh.api('PUT', `/connections/${conn.id}`, {
      saml_options: { idp_certificates: [second] },
    });
    assert.equal(res.status, 200);
    const events = await renewed();
    assert.equal(events.length, 1);
    assert.deepEqual(events[0], {
      connection: { id: conn.id, organization_id: conn.orgId },
      certificate: {
        certificate_type: 'ResponseSigning',
        expiry_date: seconds(new Date(now.getTime() + 700 * DAY_MS)).toISOString(),
      },
      renewed_at: res.body.updated_at,
    });
    // A refused update (a bad certificate) renews nothing.
    const bad = await gh.api('PUT', `/connections/${conn.id}`, {
      saml_options: { idp_certificates: ['not a certificate'] },
    });
    assert.equal(bad.status, 422);
    assert.equal((await renewed()).length, 1);
  });

  it('renewed by a metadata refresh: the IdP publishes a later certificate at its metadata URL', async () => {
    const now = new Date();
    const first = certificate(seconds(new Date(now.getTime() + 10 * DAY_MS)), 'first');
    const second = certificate(seconds(new Date(now.getTime() + 365 * DAY_MS)), 'second');
    const metadata = (cert: string) =>
      samlify
        .IdentityProvider({
          entityID: 'https://idp.acme.test/saml',
          signingCert: cert,
          singleSignOnService: [{ Binding: REDIRECT, Location: 'https://idp.acme.test/sso' }],
          singleLogoutService: [{ Binding: REDIRECT, Location: 'https://idp.acme.test/slo' }],
        })
        .getMetadata();
    let body = metadata(first);
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/samlmetadata+xml' });
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const org = await gh.workos.organizations.createOrganization({ name: 'Metadata' });
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metadata.xml`;
      const conn = await gh.api('POST', '/connections', {
        organization_id: org.id,
        connection_type: 'OktaSAML',
        saml_options: { idp_metadata_url: url },
      });
      assert.equal(conn.status, 201, JSON.stringify(conn.body));
      body = metadata(second);
      const refreshed = await gh.api('POST', `/connections/${conn.body.id}/refresh_metadata`);
      assert.equal(refreshed.status, 200);
      const page = await gh.workos.events.listEvents({ events: [RENEWED], organizationId: org.id });
      assert.deepEqual(
        page.data.map((e) => (e as unknown as { data: unknown }).data),
        [
          {
            connection: { id: conn.body.id, organization_id: org.id },
            certificate: {
              certificate_type: 'ResponseSigning',
              expiry_date: seconds(new Date(now.getTime() + 365 * DAY_MS)).toISOString(),
            },
            renewed_at: refreshed.body.updated_at,
          },
        ],
      );
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('a short retention: a threshold crossed longer ago than that gets no event (its key would be gone)', async () => {
    const now = new Date();
    // 30-day threshold crossed 22 days ago: outside a 7-day retention.
    const late = await samlConnection(gh, [certificate(new Date(now.getTime() + 8 * DAY_MS))]);
    // 7-day threshold crossed a day ago: inside it.
    const soon = await samlConnection(gh, [certificate(new Date(now.getTime() + 6 * DAY_MS))]);
    await new CertificateCheck().run(gh.store, now, 7);
    assert.deepEqual(await renewals(gh, late.id), []);
    assert.equal((await renewals(gh, soon.id)).length, 1);
  });
});

describe('event retention', () => {
  it('the maintenance deletes events older than GATEHOUSE_EVENT_RETENTION_DAYS in batches; 0 keeps them', async () => {
    const store = new SqliteStore(':memory:');
    await store.migrate();
    const event = () => ({
      id: newId('event'),
      event: 'organization.created',
      organizationId: null,
      data: {},
      createdAt: new Date(),
    });
    assert.equal(await store.appendEvents(Array.from({ length: 2500 }, event)), 2500);
    const count = async () => (await store.listEvents({}, { limit: 100, order: 'asc' })).data.length;
    const now = new Date();
    // Kept: retention 0, and younger than 30 days.
    assert.equal(
      (await runMaintenance(store, { now, sessionLogRetentionDays: 0, eventRetentionDays: 0 })).events,
      0,
    );
    assert.equal(
      (await runMaintenance(store, { now, sessionLogRetentionDays: 0, eventRetentionDays: 30 })).events,
      0,
    );
    // 31 days later, all of them (three statements of 1000 at most).
    const later = new Date(now.getTime() + 31 * DAY_MS);
    const result = await runMaintenance(store, {
      now: later,
      sessionLogRetentionDays: 0,
      eventRetentionDays: 30,
    });
    assert.equal(result.events, 2500);
    assert.equal(await count(), 0);
    await store.close();
  });
});

describe('renewal events on two PostgreSQL nodes', { timeout: 60_000 }, async () => {
  if (await postgresUnavailable('renewal events on two PostgreSQL nodes')) return;
  const schema = `gh_test_${randomBytes(6).toString('hex')}`;
  let a: Store;
  let b: Store;
  before(async () => {
    a = new PostgresStore(POSTGRES_URL, { schema, poolSize: 3 });
    b = new PostgresStore(POSTGRES_URL, { schema, poolSize: 3 });
    await a.migrate();
    await b.migrate();
  });
  after(async () => {
    await Promise.all([a.close(), b.close()]);
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  });

  it('both nodes check at once, again and again: one event per threshold', async () => {
    const now = new Date();
    const org = await a.createOrganization(
      {
        id: newId('org'),
        name: 'Acme',
        externalId: null,
        allowProfilesOutsideOrganization: false,
        metadata: {},
        stripeCustomerId: null,
      },
      [],
    );
    const id = newId('conn');
    await a.createConnection({
      id,
      organizationId: org.id,
      connectionType: 'OktaSAML',
      name: 'Acme SAML',
      state: 'active',
      externalKey: randomBytes(12).toString('hex'),
      config: { idpCertificates: [certificate(new Date(now.getTime() + 29 * DAY_MS))] },
    });
    const runs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => new CertificateCheck().run(i % 2 ? a : b, now, 90)),
    );
    assert.equal(
      runs.reduce((x, y) => x + y, 0),
      1,
    );
    const events = await b.listEvents({ events: [RENEWAL] }, { limit: 100, order: 'asc' });
    assert.equal(events.data.length, 1);
    assert.equal(events.data[0]?.data.days_until_expiry, 29);
  });
});
