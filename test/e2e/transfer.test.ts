import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { WorkOS } from '@workos-inc/node';
import pg from 'pg';
import { bootstrapEnvironment } from '../../src/bootstrap.ts';
import { loadConfig } from '../../src/config/load.ts';
import { SecretBox } from '../../src/lib/secret-box.ts';
import { PostgresStore } from '../../src/storage/postgres/index.ts';
import { SqliteStore } from '../../src/storage/sqlite/index.ts';
import type { Store } from '../../src/storage/store.ts';
import {
  type ExportDocument,
  exportConfiguration,
  importConfiguration,
  parseExport,
  TransferError,
} from '../../src/transfer.ts';
import { consentForm, TestBrowser } from '../helpers/browser.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { connectOidcIdp, type TestIdp } from '../helpers/oidc-idp.ts';
import { POSTGRES_URL, postgresUnavailable } from '../helpers/postgres.ts';

/**
 * Moving a deployment with `export` / `import`: a populated environment is exported, imported into a new
 * database, and served from it at the same public URL; organizations, connections (their sealed secrets
 * included), redirect URIs and API keys keep working, through the official SDK and a real sign-in.
 */

const APP = 'http://localhost:3000/callback';
const KEY = randomBytes(32).toString('hex');
const exec = promisify(execFile);

/** Opens a fresh target store for the import. Other backends (PostgreSQL) reuse this suite with theirs. */
export type OpenTarget = () => Promise<{ store: Store; cleanup(): Promise<void> }>;

async function signIn(gh: TestGatehouse, idp: TestIdp, orgId: string, login: string): Promise<URL> {
  const browser = new TestBrowser();
  const url = gh.workos.sso.getAuthorizationUrl({
    clientId: gh.clientId,
    redirectUri: APP,
    organization: orgId,
  });
  const atConsent = await browser.signInAtIdp(url, login, idp.issuer, APP);
  const html = await atConsent.res.text();
  const approved = await browser.request(`${gh.url}/sso/consent`, {
    form: { consent_token: consentForm(html).token, decision: 'approve' },
    headers: { origin: gh.url },
  });
  return new URL(approved.headers.get('location') ?? '');
}

async function profileIdOf(gh: TestGatehouse, back: URL): Promise<string> {
  const { profile } = await gh.workos.sso.getProfileAndToken({
    code: back.searchParams.get('code') ?? '',
    clientId: gh.clientId,
  });
  return profile.id;
}

/** Deep copy without `createdAt`/`updatedAt`/`created_at`/`updated_at` (the import writes new ones). */
function withoutTimes(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutTimes);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => !['createdAt', 'updatedAt', 'created_at', 'updated_at'].includes(k))
        .map(([k, v]) => [k, withoutTimes(v)]),
    );
  }
  return value;
}

export function transferSuite(name: string, openTarget: OpenTarget): void {
  describe(`export / import into ${name}`, () => {
    let source: TestGatehouse;
    let idp: TestIdp;
    let orgId: string;
    let connectionId: string;
    let doc: ExportDocument;
    let extraKey: string;
    let revokedKey: string;
    let adaProfileId: string;

    before(async () => {
      source = await startGatehouse({ env: { GATEHOUSE_SECRET_KEY: KEY, GATEHOUSE_REDIRECT_URIS: APP } });
      ({ idp, orgId, connectionId } = await connectOidcIdp(source));
      await source.api('POST', '/organizations', {
        name: 'Globex',
        external_id: 'globex-42',
        metadata: { tier: 'gold' },
        domain_data: [{ domain: 'globex.example', state: 'pending' }],
      });
      await source.api('POST', '/connections', {
        connection_type: 'GitHubOAuth',
        oauth_options: { client_id: 'Iv1.gh', client_secret: 'gh-secret' },
      });
      assert.equal(
        (await source.api('POST', '/redirect_uris', { uri: 'https://*.app.example.com/callback' })).status,
        201,
      );
      extraKey = (await source.api('POST', '/api_keys', { name: 'CI' })).body.value;
      const revoked = (await source.api('POST', '/api_keys', { name: 'Old' })).body;
      revokedKey = revoked.value;
      assert.equal((await source.api('DELETE', `/api_keys/${revoked.id}`)).status, 204);
      // One real sign-in first: the connection is active and has its first sign-in time.
      const back = await signIn(source, idp, orgId, 'ada');
      adaProfileId = await profileIdOf(source, back);
      doc = await exportConfiguration(source.store);
    });
    after(async () => {
      await source.close();
      await idp.close();
    });

    it('exports every organization, domain, connection, redirect URI and key, with secrets still sealed', () => {
      assert.equal(doc.format, 'gatehouse-configuration');
      assert.equal(doc.client_id, source.clientId);
      assert.deepEqual(doc.organizations.map((o) => o.name).sort(), ['Acme', 'Globex']);
      assert.equal(doc.organizations.find((o) => o.name === 'Globex')?.domains[0]?.state, 'pending');
      assert.equal(doc.connections.length, 2);
      assert.equal(doc.api_keys.length, 3);
      assert.deepEqual(parseExport(JSON.stringify(doc)), doc);
      const text = JSON.stringify(doc);
      for (const secret of ['gatehouse-test-secret-0123456789abcdef', 'gh-secret', extraKey, revokedKey]) {
        assert.ok(!text.includes(secret), 'no secret in clear');
      }
    });

    it('refuses another secret key, and a target that is not empty, writing nothing', async () => {
      const { store, cleanup } = await openTarget();
      try {
        await assert.rejects(
          importConfiguration(store, doc, new SecretBox(randomBytes(32))),
          (err: unknown) =>
            err instanceof TransferError && /GATEHOUSE_SECRET_KEY is not the key/.test(err.message),
        );
        assert.equal((await store.listOrganizations({}, { limit: 10, order: 'asc' })).data.length, 0);
        await importConfiguration(store, doc, new SecretBox(Buffer.from(KEY, 'hex')));
        await assert.rejects(
          importConfiguration(store, doc, new SecretBox(Buffer.from(KEY, 'hex'))),
          (err: unknown) => err instanceof TransferError && /already has organizations/.test(err.message),
        );
      } finally {
        await cleanup();
      }
    });

    it('the imported environment serves the same organizations, connections, keys and sign-in at the same URL', async () => {
      const { store, cleanup } = await openTarget();
      const summary = await importConfiguration(store, doc, new SecretBox(Buffer.from(KEY, 'hex')));
      assert.deepEqual(summary, {
        organizations: 2,
        domains: 2,
        connections: 2,
        redirectUris: 2,
        apiKeys: 3,
        profiles: 1,
      });
      const before = {
        organizations: (await source.workos.organizations.listOrganizations()).data,
        connections: (await source.workos.sso.listConnections()).data,
        oidc: (await source.api('GET', `/connections/${connectionId}`)).body,
        redirectUris: (await source.api('GET', '/redirect_uris')).body.data,
      };
      // The source stops; the target takes its port, so its public URL (and every callback URL) is unchanged.
      await source.close();
      const target = await startGatehouse({ store, port: source.port, env: { GATEHOUSE_SECRET_KEY: KEY } });
      source = target;
      try {
        const same = (actual: unknown, expected: unknown) =>
          assert.deepEqual(withoutTimes(actual), withoutTimes(expected));
        same((await target.workos.organizations.listOrganizations()).data, before.organizations);
        same((await target.workos.sso.listConnections()).data, before.connections);
        const oidc = (await target.api('GET', `/connections/${connectionId}`)).body;
        same(oidc, before.oidc);
        assert.equal(oidc.state, 'active');
        same((await target.api('GET', '/redirect_uris')).body.data, before.redirectUris);

        const withExtraKey = new WorkOS(extraKey, {
          apiHostname: '127.0.0.1',
          port: target.port,
          https: false,
        });
        assert.equal((await withExtraKey.organizations.listOrganizations()).data.length, 2);
        const revoked = await fetch(`${target.url}/organizations`, {
          headers: { authorization: `Bearer ${revokedKey}` },
        });
        assert.equal(revoked.status, 401);

        // The connection's sealed client secret opens with the same key: a real sign-in completes.
        const back = await signIn(target, idp, orgId, 'grace');
        const { profile } = await target.workos.sso.getProfileAndToken({
          code: back.searchParams.get('code') ?? '',
          clientId: target.clientId,
        });
        assert.equal(profile.email, 'grace@acme.com');
        assert.equal(profile.connectionId, connectionId);
        assert.equal(profile.organizationId, orgId);
        // Ada, who signed in before the move, keeps her profile ID.
        assert.equal(await profileIdOf(target, await signIn(target, idp, orgId, 'ada')), adaProfileId);
      } finally {
        await cleanup();
      }
    });
  });
}

transferSuite('SQLite', async () => {
  const store = new SqliteStore(':memory:');
  await store.migrate();
  return { store, cleanup: async () => {} };
});

if ((await postgresUnavailable('export / import into PostgreSQL')) === null) {
  transferSuite('PostgreSQL (from SQLite)', async () => {
    const schema = `gh_transfer_${randomBytes(6).toString('hex')}`;
    const store = new PostgresStore(POSTGRES_URL, { poolSize: 4, schema });
    await store.migrate();
    return {
      store,
      async cleanup() {
        await store.close();
        const admin = new pg.Client({ connectionString: POSTGRES_URL });
        await admin.connect();
        await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await admin.end();
      },
    };
  });
}

describe('npm run export / import (the CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-transfer-'));
  const node = process.execPath;
  const env = (db: string, key = KEY) => ({
    ...process.env,
    GATEHOUSE_DATABASE_URL: `sqlite:${join(dir, db)}`,
    GATEHOUSE_SECRET_KEY: key,
    GATEHOUSE_LOG_LEVEL: 'silent',
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('exports a file readable by its owner only, imports it, and refuses a wrong key with a clear message', async () => {
    const config = loadConfig(env('source.db'));
    const store = new SqliteStore(join(dir, 'source.db'));
    await store.migrate();
    await bootstrapEnvironment(config, store);
    await store.createOrganization(
      {
        id: 'org_01TRANSFER',
        name: 'Initech',
        externalId: null,
        allowProfilesOutsideOrganization: false,
        metadata: {},
        stripeCustomerId: null,
      },
      [],
    );
    await store.close();

    const out = join(dir, 'export.json');
    const exported = await exec(node, ['src/cli.ts', 'export', '--out', out], { env: env('source.db') });
    assert.match(
      exported.stderr,
      /Exported 1 organizations, 0 connections, 0 redirect URIs, 1 API keys and 0 profiles/,
    );
    assert.equal(statSync(out).mode & 0o777, 0o600);
    assert.equal(parseExport(readFileSync(out, 'utf8')).organizations[0]?.name, 'Initech');

    const wrongKey = await exec(node, ['src/cli.ts', 'import', out], {
      env: env('wrong.db', randomBytes(32).toString('hex')),
    }).then(
      () => assert.fail('the import with another key succeeded'),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(wrongKey.code, 1);
    assert.match(
      wrongKey.stderr,
      /^gatehouse: GATEHOUSE_SECRET_KEY is not the key the export's secrets were sealed with/,
    );
    assert.ok(!wrongKey.stderr.includes('    at '), 'no stack trace');

    const imported = await exec(node, ['src/cli.ts', 'import', out], { env: env('target.db') });
    assert.match(
      imported.stderr,
      /Imported 1 organizations \(0 domains\), 0 connections, 0 redirect URIs, 1 API keys and 0 profiles/,
    );
    const target = new SqliteStore(join(dir, 'target.db'));
    try {
      assert.equal((await target.getOrganization('org_01TRANSFER'))?.name, 'Initech');
    } finally {
      await target.close();
    }
  });

  it('prints its usage for an unknown command', async () => {
    const res = await exec(node, ['src/cli.ts', 'frobnicate'], { env: env('x.db') }).then(
      () => assert.fail('accepted'),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(res.code, 2);
    assert.match(res.stderr, /npm run export -- \[--out FILE\]/);
  });
});
