import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NotFoundException, UnprocessableEntityException } from '@workos-inc/node';
import { supportedConnectionTypes } from '../../src/connectors/registry.ts';
import { freePort, startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';

/**
 * Connections: create/update/activate/deactivate through raw calls (SDK v11 has no method for them), and
 * get/list/delete through the official SDK (design/workos-api.md §3).
 */

const OIDC = {
  issuer: 'https://idp.example.com',
  client_id: 'client-abc',
  client_secret: 'super-secret-value-123',
  scopes: ['openid', 'profile', 'email'],
};
const CALLBACK = /^\/sso\/oidc\/callback\/([A-Za-z0-9_-]{22})$/;

/** The callback key of a connection's `redirect_uri` under this Gatehouse's public URL. */
function callbackKey(gh: TestGatehouse, redirectUri: unknown): string {
  assert.equal(typeof redirectUri, 'string');
  const uri = redirectUri as string;
  assert.ok(uri.startsWith(`${gh.url}/`), uri);
  const m = CALLBACK.exec(uri.slice(gh.url.length));
  assert.ok(m?.[1], uri);
  return m[1];
}

/** The `errors[].field` values of a 422 body. */
function fields(body: { errors?: { field: string; code: string }[] }): string[] {
  return (body.errors ?? []).map((e) => e.field);
}

describe('connections: create, update and state machine (raw API)', () => {
  let gh: TestGatehouse;
  let orgId: string;
  let otherOrgId: string;
  before(async () => {
    gh = await startGatehouse();
    orgId = (await gh.api('POST', '/organizations', { name: 'Acme' })).body.id;
    otherOrgId = (await gh.api('POST', '/organizations', { name: 'Other' })).body.id;
  });
  after(() => gh.close());

  for (const type of ['GenericOIDC', 'OktaOIDC', 'EntraIdOIDC']) {
    it(`creates a complete ${type} connection in state validating, without echoing the secret`, async () => {
      const res = await gh.api('POST', '/connections', {
        connection_type: type,
        organization_id: orgId,
        oidc_options: OIDC,
      });
      assert.equal(res.status, 201);
      const c = res.body;
      assert.match(c.id, /^conn_[0-9A-Z]{26}$/);
      const key = callbackKey(gh, c.oidc_options.redirect_uri);
      assert.deepEqual(c, {
        object: 'connection',
        id: c.id,
        organization_id: orgId,
        connection_type: type,
        name: `Acme ${type}`,
        state: 'validating',
        status: 'linked',
        domains: [],
        oidc_options: {
          issuer: 'https://idp.example.com',
          client_id: 'client-abc',
          scopes: ['openid', 'profile', 'email'],
          redirect_uri: `${gh.url}/sso/oidc/callback/${key}`,
        },
        created_at: c.created_at,
        updated_at: c.created_at,
      });
      assert.ok(!JSON.stringify(c).includes(OIDC.client_secret));
      assert.ok(!('client_secret' in c.oidc_options));

      // The stored config holds the secret sealed, never in plain text.
      const stored = await gh.store.getConnection(c.id);
      assert.ok(stored);
      assert.equal(stored.externalKey, key);
      assert.ok(!JSON.stringify(stored).includes(OIDC.client_secret));
      assert.equal(typeof stored.config.clientSecret, 'string');
      assert.notEqual(stored.config.clientSecret, OIDC.client_secret);
    });
  }

  it('gives every connection its own callback key', async () => {
    const a = await gh.api('POST', '/connections', {
      connection_type: 'GenericOIDC',
      organization_id: orgId,
      oidc_options: OIDC,
    });
    const b = await gh.api('POST', '/connections', {
      connection_type: 'GenericOIDC',
      organization_id: orgId,
      oidc_options: OIDC,
    });
    assert.notEqual(
      callbackKey(gh, a.body.oidc_options.redirect_uri),
      callbackKey(gh, b.body.oidc_options.redirect_uri),
    );
  });

  it('keeps a connection without client_secret as an unlinked draft until PUT completes it', async () => {
    const { client_secret: _omitted, ...partial } = OIDC;
    const created = await gh.api('POST', '/connections', {
      connection_type: 'OktaOIDC',
      organization_id: orgId,
      name: 'Okta draft',
      oidc_options: partial,
    });
    assert.equal(created.status, 201);
    assert.equal(created.body.state, 'draft');
    assert.equal(created.body.status, 'unlinked');
    assert.equal(created.body.name, 'Okta draft');

    // A draft cannot be activated; the 422 names what is missing.
    const activate = await gh.api('POST', `/connections/${created.body.id}/activate`);
    assert.equal(activate.status, 422);
    assert.deepEqual(activate.body, {
      message: 'The connection cannot be activated until these options are set: oidc_options.client_secret.',
      code: 'connection_incomplete',
      errors: [{ field: 'oidc_options.client_secret', code: 'oidc_options.client_secret is required' }],
    });

    const put = await gh.api('PUT', `/connections/${created.body.id}`, {
      oidc_options: { client_secret: OIDC.client_secret },
    });
    assert.equal(put.status, 200);
    assert.equal(put.body.state, 'validating');
    assert.equal(put.body.status, 'linked');
    assert.equal(put.body.name, 'Okta draft');
    assert.deepEqual(put.body.oidc_options, created.body.oidc_options);
    assert.ok(!JSON.stringify(put.body).includes(OIDC.client_secret));
  });

  it('creates an empty draft when oidc_options are left out entirely', async () => {
    const res = await gh.api('POST', '/connections', {
      connection_type: 'GenericOIDC',
      organization_id: orgId,
    });
    assert.equal(res.status, 201);
    assert.equal(res.body.state, 'draft');
    assert.equal(res.body.status, 'unlinked');
    assert.deepEqual(res.body.oidc_options, {
      issuer: null,
      client_id: null,
      scopes: ['openid', 'profile', 'email'],
      redirect_uri: res.body.oidc_options.redirect_uri,
    });
    callbackKey(gh, res.body.oidc_options.redirect_uri);
  });

  it('PUT changes only the given fields and never the callback URL', async () => {
    const created = (
      await gh.api('POST', '/connections', {
        connection_type: 'EntraIdOIDC',
        organization_id: orgId,
        name: 'Entra',
        oidc_options: OIDC,
      })
    ).body;
    const storedBefore = await gh.store.getConnection(created.id);

    const renamed = await gh.api('PUT', `/connections/${created.id}`, { name: 'Entra ID' });
    assert.equal(renamed.status, 200);
    assert.equal(renamed.body.name, 'Entra ID');
    assert.deepEqual(renamed.body.oidc_options, created.oidc_options);
    assert.equal(renamed.body.state, 'validating');
    // Not touching options leaves the sealed secret exactly as it was.
    assert.deepEqual((await gh.store.getConnection(created.id))?.config, storedBefore?.config);

    const reissued = await gh.api('PUT', `/connections/${created.id}`, {
      oidc_options: { issuer: 'https://login.example.org/tenant', scopes: ['openid', 'email'] },
    });
    assert.equal(reissued.status, 200);
    assert.equal(reissued.body.name, 'Entra ID');
    assert.deepEqual(reissued.body.oidc_options, {
      issuer: 'https://login.example.org/tenant',
      client_id: 'client-abc',
      scopes: ['openid', 'email'],
      redirect_uri: created.oidc_options.redirect_uri,
    });
    // The secret survived the partial update.
    assert.equal(
      (await gh.store.getConnection(created.id))?.config.clientSecret,
      storedBefore?.config.clientSecret,
    );

    // Sending the same connection_type and organization_id is not a change.
    const same = await gh.api('PUT', `/connections/${created.id}`, {
      connection_type: 'EntraIdOIDC',
      organization_id: orgId,
    });
    assert.equal(same.status, 200);
    assert.equal(same.body.connection_type, 'EntraIdOIDC');
    assert.equal(same.body.organization_id, orgId);
  });

  it('PUT refuses to change connection_type, organization_id or redirect_uri', async () => {
    const created = (
      await gh.api('POST', '/connections', {
        connection_type: 'GenericOIDC',
        organization_id: orgId,
        oidc_options: OIDC,
      })
    ).body;
    const res = await gh.api('PUT', `/connections/${created.id}`, {
      connection_type: 'OktaOIDC',
      organization_id: otherOrgId,
      name: 'Renamed',
      oidc_options: { redirect_uri: 'https://evil.example.com/cb' },
    });
    assert.equal(res.status, 422);
    assert.equal(res.body.code, 'invalid_request_parameters');
    assert.deepEqual(res.body.errors, [
      {
        field: 'connection_type',
        code: 'connection_type cannot be changed; create a new connection instead',
      },
      {
        field: 'organization_id',
        code: 'organization_id cannot be changed; create a new connection instead',
      },
      {
        field: 'oidc_options.redirect_uri',
        code: 'oidc_options.redirect_uri is read-only: Gatehouse assigns the callback URL',
      },
    ]);
    // Nothing was applied, not even the valid name.
    const after = await gh.api('GET', `/connections/${created.id}`);
    assert.deepEqual(after.body, created);
  });

  it('PUT and activate on an unknown connection are 404', async () => {
    for (const [method, path] of [
      ['PUT', '/connections/conn_missing'],
      ['POST', '/connections/conn_missing/activate'],
      ['POST', '/connections/conn_missing/deactivate'],
      ['DELETE', '/connections/conn_missing'],
      ['GET', '/connections/conn_missing'],
    ] as const) {
      const res = await gh.api(method, path, method === 'PUT' ? { name: 'x' } : undefined);
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.deepEqual(res.body, {
        message: "Connection 'conn_missing' not found.",
        code: 'entity_not_found',
      });
    }
  });

  it('rejects bad input with a 422 naming each field', async () => {
    const countBefore = (await gh.store.listOrganizationConnections(orgId)).length;
    const res = await gh.api('POST', '/connections', {
      connection_type: 'GenericOIDC',
      organization_id: orgId,
      oidc_options: {
        issuer: 'ftp://x',
        client_id: 'c',
        client_secret: 's',
        scopes: ['profile'],
        colour: 'blue',
      },
      saml_options: { idp_metadata_url: 'https://idp.example.com/metadata' },
    });
    assert.equal(res.status, 422);
    assert.equal(res.body.code, 'invalid_request_parameters');
    assert.deepEqual(res.body.errors, [
      {
        field: 'saml_options',
        code: 'saml_options does not apply to connection_type GenericOIDC; use oidc_options',
      },
      { field: 'oidc_options.colour', code: 'oidc_options.colour is not a known option' },
      // The default test Gatehouse allows private URLs, so plain http would be accepted here.
      { field: 'oidc_options.issuer', code: 'oidc_options.issuer must be an http(s) URL' },
      { field: 'oidc_options.scopes', code: 'oidc_options.scopes must include "openid"' },
    ]);
    assert.equal(
      res.body.message,
      `Validation failed: ${res.body.errors.map((e: { code: string }) => e.code).join('; ')}`,
    );
    // Nothing was created.
    assert.equal((await gh.store.listOrganizationConnections(orgId)).length, countBefore);
  });

  it('rejects an unknown connection_type, and a missing or unknown organization', async () => {
    const unknown = await gh.api('POST', '/connections', {
      connection_type: 'FooSAML',
      organization_id: orgId,
      oidc_options: OIDC,
    });
    assert.equal(unknown.status, 422);
    assert.deepEqual(fields(unknown.body), ['connection_type']);
    assert.equal(
      unknown.body.errors[0].code,
      `connection_type must be one of ${supportedConnectionTypes().join(', ')}`,
    );
    assert.ok(supportedConnectionTypes().includes('GenericSAML'));

    const apple = await gh.api('POST', '/connections', { connection_type: 'AppleOAuth' });
    assert.equal(apple.status, 422);
    assert.equal(
      apple.body.errors[0].code,
      `connection_type must be one of ${supportedConnectionTypes().join(', ')}`,
    );

    const providerInOrg = await gh.api('POST', '/connections', {
      connection_type: 'GoogleOAuth',
      organization_id: orgId,
    });
    assert.equal(providerInOrg.status, 422);
    assert.deepEqual(providerInOrg.body.errors, [
      {
        field: 'organization_id',
        code: 'organization_id must be omitted for connection_type GoogleOAuth: OAuth provider connections belong to the environment',
      },
    ]);

    const missingType = await gh.api('POST', '/connections', { organization_id: orgId });
    assert.equal(missingType.status, 422);
    assert.deepEqual(missingType.body.errors, [
      { field: 'connection_type', code: 'connection_type is required' },
    ]);

    const noOrg = await gh.api('POST', '/connections', {
      connection_type: 'GenericOIDC',
      oidc_options: OIDC,
    });
    assert.equal(noOrg.status, 422);
    assert.deepEqual(noOrg.body.errors, [
      { field: 'organization_id', code: 'organization_id is required for connection_type GenericOIDC' },
    ]);

    const ghostOrg = await gh.api('POST', '/connections', {
      connection_type: 'GenericOIDC',
      organization_id: 'org_ghost',
      oidc_options: OIDC,
    });
    assert.equal(ghostOrg.status, 422);
    assert.deepEqual(ghostOrg.body.errors, [
      { field: 'organization_id', code: "organization_id 'org_ghost' is not an organization" },
    ]);
  });

  it('rejects malformed option values', async () => {
    const res = await gh.api('POST', '/connections', {
      connection_type: 'GenericOIDC',
      organization_id: orgId,
      oidc_options: {
        issuer: 'https://user:pw@idp.example.com',
        client_id: '',
        client_secret: 42,
        scopes: 'openid',
      },
    });
    assert.equal(res.status, 422);
    assert.deepEqual(res.body.errors, [
      { field: 'oidc_options.issuer', code: 'oidc_options.issuer must not contain credentials' },
      {
        field: 'oidc_options.client_id',
        code: 'oidc_options.client_id must be a non-empty string of at most 512 characters',
      },
      {
        field: 'oidc_options.client_secret',
        code: 'oidc_options.client_secret must be a non-empty string of at most 4096 characters',
      },
      { field: 'oidc_options.scopes', code: 'oidc_options.scopes must be an array of scope tokens' },
    ]);

    const notObject = await gh.api('POST', '/connections', {
      connection_type: 'GenericOIDC',
      organization_id: orgId,
      oidc_options: ['issuer'],
    });
    assert.equal(notObject.status, 422);
    assert.deepEqual(notObject.body.errors, [
      { field: 'oidc_options', code: 'oidc_options must be an object' },
    ]);
  });

  it('validates options on PUT as on create', async () => {
    const created = (
      await gh.api('POST', '/connections', {
        connection_type: 'GenericOIDC',
        organization_id: orgId,
        oidc_options: OIDC,
      })
    ).body;
    const res = await gh.api('PUT', `/connections/${created.id}`, {
      name: '',
      oidc_options: { issuer: 'not a url', scopes: ['email'] },
      saml_options: {},
    });
    assert.equal(res.status, 422);
    assert.deepEqual(fields(res.body), [
      'name',
      'saml_options',
      'oidc_options.issuer',
      'oidc_options.scopes',
    ]);
    assert.deepEqual((await gh.api('GET', `/connections/${created.id}`)).body, created);
  });

  it('runs the activate/deactivate state machine', async () => {
    const c = (
      await gh.api('POST', '/connections', {
        connection_type: 'GenericOIDC',
        organization_id: orgId,
        oidc_options: OIDC,
      })
    ).body;
    assert.equal(c.state, 'validating');

    // Activating a validating connection changes nothing.
    const again = await gh.api('POST', `/connections/${c.id}/activate`);
    assert.equal(again.status, 200);
    assert.equal(again.body.state, 'validating');
    assert.equal(again.body.updated_at, c.updated_at);

    const off = await gh.api('POST', `/connections/${c.id}/deactivate`);
    assert.equal(off.status, 200);
    assert.equal(off.body.state, 'inactive');
    assert.equal(off.body.status, 'unlinked');
    const offAgain = await gh.api('POST', `/connections/${c.id}/deactivate`);
    assert.equal(offAgain.body.state, 'inactive');

    // Editing an inactive connection does not switch it back on.
    const edited = await gh.api('PUT', `/connections/${c.id}`, { oidc_options: { client_id: 'client-new' } });
    assert.equal(edited.body.state, 'inactive');

    // No one has signed in yet, so activation goes back to validating, not active.
    const on = await gh.api('POST', `/connections/${c.id}/activate`);
    assert.equal(on.status, 200);
    assert.equal(on.body.state, 'validating');
    assert.equal(on.body.status, 'linked');

    // After a first successful sign-in (recorded by the SSO flow) the connection is active...
    await gh.store.updateConnection(c.id, { state: 'active', firstLoginAt: new Date() });
    assert.equal((await gh.api('GET', `/connections/${c.id}`)).body.state, 'active');
    // ...deactivate and activate bring it back to active...
    assert.equal((await gh.api('POST', `/connections/${c.id}/deactivate`)).body.state, 'inactive');
    const reactivated = await gh.api('POST', `/connections/${c.id}/activate`);
    assert.equal(reactivated.body.state, 'active');
    assert.equal(reactivated.body.status, 'linked');
    // ...and new options must be proven again by a sign-in.
    const changed = await gh.api('PUT', `/connections/${c.id}`, {
      oidc_options: { client_secret: 'rotated' },
    });
    assert.equal(changed.body.state, 'validating');
    // A rename alone does not.
    await gh.store.updateConnection(c.id, { state: 'active' });
    assert.equal((await gh.api('PUT', `/connections/${c.id}`, { name: 'Renamed' })).body.state, 'active');
  });
});

describe('connections: the list filters by state (ours)', () => {
  let gh: TestGatehouse;
  before(async () => {
    gh = await startGatehouse();
  });
  after(() => gh.close());

  it('GET /connections?state= lists only that state; an unknown state is a 422 naming the field', async () => {
    const orgId = (await gh.api('POST', '/organizations', { name: 'States' })).body.id;
    const make = async () =>
      (
        await gh.api('POST', '/connections', {
          connection_type: 'GenericOIDC',
          organization_id: orgId,
          oidc_options: OIDC,
        })
      ).body.id as string;
    const on = await make();
    const off = await make();
    assert.equal((await gh.api('POST', `/connections/${off}/deactivate`)).status, 200);
    const list = async (query: string) =>
      (await gh.api('GET', `/connections?${query}`)).body.data.map((c: { id: string }) => c.id);
    assert.deepEqual(await list('state=inactive'), [off]);
    assert.deepEqual(await list(`state=validating&organization_id=${orgId}`), [on]);
    assert.deepEqual(await list('state=active'), []);
    const bad = await gh.api('GET', '/connections?state=deleted');
    assert.equal(bad.status, 422);
    assert.equal(bad.body.code, 'invalid_request_parameters');
    assert.deepEqual(bad.body.errors, [
      { field: 'state', code: 'state must be one of draft, validating, active, inactive' },
    ]);
  });
});

describe('connections: http issuers when private URLs are off', () => {
  let gh: TestGatehouse;
  before(async () => {
    gh = await startGatehouse({ env: { GATEHOUSE_ALLOW_PRIVATE_URLS: 'off' } });
  });
  after(() => gh.close());

  it('requires an https issuer on create and update', async () => {
    const org = (await gh.api('POST', '/organizations', { name: 'Strict' })).body;
    const res = await gh.api('POST', '/connections', {
      connection_type: 'GenericOIDC',
      organization_id: org.id,
      oidc_options: { ...OIDC, issuer: 'http://idp.example.com' },
    });
    assert.equal(res.status, 422);
    assert.deepEqual(res.body.errors, [
      { field: 'oidc_options.issuer', code: 'oidc_options.issuer must be an https URL' },
    ]);

    const ok = await gh.api('POST', '/connections', {
      connection_type: 'GenericOIDC',
      organization_id: org.id,
      oidc_options: OIDC,
    });
    assert.equal(ok.status, 201);
    const put = await gh.api('PUT', `/connections/${ok.body.id}`, {
      oidc_options: { discovery_endpoint: 'http://idp.example.com/.well-known/openid-configuration' },
    });
    assert.equal(put.status, 422);
    assert.deepEqual(put.body.errors, [
      { field: 'oidc_options.issuer', code: 'oidc_options.issuer must be an https URL' },
    ]);
  });
});

describe('connections through the official WorkOS SDK', () => {
  let gh: TestGatehouse;
  let acmeId: string;
  let globexId: string;
  let acmeVerifiedDomainId: string;
  const ids: Record<string, string> = {};
  before(async () => {
    gh = await startGatehouse();
    const acme = await gh.workos.organizations.createOrganization({
      name: 'Acme',
      domainData: [
        { domain: 'acme.com', state: 'verified' as never },
        { domain: 'acme-pending.com', state: 'pending' as never },
      ],
    });
    acmeId = acme.id;
    acmeVerifiedDomainId = acme.domains.find((d) => d.domain === 'acme.com')?.id as string;
    const globex = await gh.workos.organizations.createOrganization({
      name: 'Globex',
      domainData: [{ domain: 'globex.com', state: 'verified' as never }],
    });
    globexId = globex.id;
    for (const [name, type, org] of [
      ['acme-okta', 'OktaOIDC', acmeId],
      ['acme-generic', 'GenericOIDC', acmeId],
      ['globex-okta', 'OktaOIDC', globexId],
      ['globex-entra', 'EntraIdOIDC', globexId],
    ] as const) {
      const res = await gh.api('POST', '/connections', {
        connection_type: type,
        organization_id: org,
        name,
        oidc_options: OIDC,
      });
      assert.equal(res.status, 201);
      ids[name] = res.body.id;
    }
  });
  after(() => gh.close());

  it('getConnection maps the fields the SDK knows, with verified domains only', async () => {
    const raw = (await gh.api('GET', `/connections/${ids['acme-okta']}`)).body;
    const c = await gh.workos.sso.getConnection(ids['acme-okta'] as string);
    assert.deepEqual(c, {
      object: 'connection',
      id: ids['acme-okta'],
      organizationId: acmeId,
      name: 'acme-okta',
      type: 'OktaOIDC',
      state: 'validating',
      domains: [{ object: 'connection_domain', id: acmeVerifiedDomainId, domain: 'acme.com' }],
      createdAt: raw.created_at,
      updatedAt: raw.updated_at,
    });
  });

  it('listConnections filters by connection type case-insensitively', async () => {
    const okta = await gh.workos.sso.listConnections({ connectionType: 'oktaoidc' as never });
    assert.deepEqual(
      okta.data.map((c) => c.name),
      ['globex-okta', 'acme-okta'],
    );
    assert.deepEqual(okta.listMetadata, { before: null, after: null });
    const entra = await gh.workos.sso.listConnections({ connectionType: 'EntraIdOIDC' as never });
    assert.deepEqual(
      entra.data.map((c) => c.type),
      ['EntraIdOIDC'],
    );
    const none = await gh.workos.sso.listConnections({ connectionType: 'OktaSAML' as never });
    assert.deepEqual(none.data, []);
  });

  it('listConnections filters by organization and by domain', async () => {
    const acme = await gh.workos.sso.listConnections({ organizationId: acmeId });
    assert.deepEqual(
      acme.data.map((c) => c.name),
      ['acme-generic', 'acme-okta'],
    );
    const byDomain = await gh.workos.sso.listConnections({ domain: 'GLOBEX.com' });
    assert.deepEqual(
      byDomain.data.map((c) => c.name),
      ['globex-entra', 'globex-okta'],
    );
    const combined = await gh.workos.sso.listConnections({
      domain: 'acme.com',
      connectionType: 'OktaOIDC' as never,
    });
    assert.deepEqual(
      combined.data.map((c) => c.id),
      [ids['acme-okta']],
    );
    const unknownDomain = await gh.workos.sso.listConnections({ domain: 'nobody.example' });
    assert.deepEqual(unknownDomain.data, []);
    const all = await gh.workos.sso.listConnections();
    assert.equal(all.data.length, 4);
  });

  it('deleteConnection removes it; getConnection then throws NotFoundException', async () => {
    const created = await gh.api('POST', '/connections', {
      connection_type: 'GenericOIDC',
      organization_id: globexId,
      oidc_options: OIDC,
    });
    const id = created.body.id as string;
    await gh.workos.sso.deleteConnection(id);
    assert.equal(await gh.store.getConnection(id), null);
    await assert.rejects(gh.workos.sso.getConnection(id), (err: unknown) => {
      assert.ok(err instanceof NotFoundException);
      assert.equal(err.status, 404);
      assert.equal(err.code, 'entity_not_found');
      assert.equal(err.message, `Connection '${id}' not found.`);
      assert.match(err.requestID, /^req_/);
      return true;
    });
    await assert.rejects(gh.workos.sso.deleteConnection(id), NotFoundException);
  });

  it('turns a bad list parameter into UnprocessableEntityException', async () => {
    await assert.rejects(gh.workos.sso.listConnections({ limit: 500 }), (err: unknown) => {
      assert.ok(err instanceof UnprocessableEntityException);
      assert.equal(err.code, 'invalid_request_parameters');
      assert.match(err.message, /limit must be a whole number from 1 to 100/);
      return true;
    });
  });
});

describe('connections: an issuer that cannot be reached', () => {
  let gh: TestGatehouse;
  before(async () => {
    gh = await startGatehouse();
  });
  after(() => gh.close());

  it('port scan through an OIDC issuer: the session log gives a fixed reason, not the network error', async () => {
    // The issuer is fetched at the first sign-in; its failure is in the session log, which API-key holders read.
    // Passing on `connect ECONNREFUSED 127.0.0.1:<port>` would make every sign-in attempt a probe.
    const closed = await freePort();
    const issuer = `http://127.0.0.1:${closed}`;
    const app = 'https://app.example.com/callback';
    assert.equal((await gh.api('POST', '/redirect_uris', { uri: app })).status, 201);
    const org = (await gh.api('POST', '/organizations', { name: 'Scan' })).body.id;
    const conn = await gh.api('POST', '/connections', {
      connection_type: 'GenericOIDC',
      organization_id: org,
      oidc_options: { ...OIDC, issuer },
    });
    assert.equal(conn.status, 201, JSON.stringify(conn.body));
    const query = new URLSearchParams({
      client_id: gh.clientId,
      redirect_uri: app,
      response_type: 'code',
      organization: org,
    });
    const res = await fetch(`${gh.url}/sso/authorize?${query}`, { redirect: 'manual' });
    assert.equal(res.status, 302);
    assert.equal(new URL(res.headers.get('location') ?? '').searchParams.get('error'), 'server_error');
    const sessions = await gh.api('GET', `/sso/sessions?connection_id=${conn.body.id}`);
    assert.equal(sessions.status, 200);
    assert.equal(sessions.body.data.length, 1);
    assert.deepEqual(sessions.body.data[0].detail, { stage: 'discovery', issuer, reason: 'unreachable' });
    assert.doesNotMatch(JSON.stringify(sessions.body), /ECONN|EHOST|ENOTFOUND|fetch failed/);
  });
});
