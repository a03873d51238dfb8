import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';

/**
 * OAuth provider connections (GoogleOAuth, MicrosoftOAuth, GitHubOAuth) through the management API: they belong
 * to the environment, take `oauth_options`, never echo the secret, and show the callback to register.
 */

const CALLBACK = /^\/sso\/oauth\/callback\/[A-Za-z0-9_-]{22}$/;
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

describe('OAuth provider connections: management API', () => {
  let gh: TestGatehouse;
  let orgId: string;
  before(async () => {
    gh = await startGatehouse();
    orgId = (await gh.api('POST', '/organizations', { name: 'Acme' })).body.id;
  });
  after(() => gh.close());

  it('creates a GoogleOAuth connection without an organization, with the provider defaults and its callback', async () => {
    const res = await gh.api('POST', '/connections', {
      connection_type: 'GoogleOAuth',
      name: 'Sign in with Google',
      oauth_options: { client_id: 'google-client.apps.googleusercontent.com', client_secret: 'g-secret-1' },
    });
    assert.equal(res.status, 201);
    const c = res.body;
    assert.equal(c.organization_id, null);
    assert.equal(c.connection_type, 'GoogleOAuth');
    assert.equal(c.state, 'validating');
    assert.deepEqual(c.domains, []);
    assert.match(c.oauth_options.redirect_uri.slice(gh.url.length), CALLBACK);
    assert.deepEqual(c.oauth_options, {
      client_id: 'google-client.apps.googleusercontent.com',
      base_url: 'https://accounts.google.com',
      scopes: ['openid', 'email', 'profile'],
      redirect_uri: c.oauth_options.redirect_uri,
    });
    assert.ok(!JSON.stringify(c).includes('g-secret-1'), 'the client secret is never returned');
    const stored = await gh.store.getConnection(c.id);
    assert.ok(!JSON.stringify(stored?.config).includes('g-secret-1'), 'the client secret is stored sealed');

    const viaSdk = await gh.workos.sso.getConnection(c.id);
    assert.equal(viaSdk.type, 'GoogleOAuth');
    assert.equal(viaSdk.organizationId, null);
  });

  it('shows Microsoft allowed_tenants and GitHub api_base_url, with their defaults', async () => {
    const ms = await gh.api('POST', '/connections', {
      connection_type: 'MicrosoftOAuth',
      oauth_options: {
        client_id: 'ms-client',
        client_secret: 'ms-secret',
        allowed_tenants: [TENANT.toUpperCase()],
        base_url: 'https://login.microsoftonline.us/',
      },
    });
    assert.equal(ms.status, 201);
    assert.deepEqual(ms.body.oauth_options, {
      client_id: 'ms-client',
      base_url: 'https://login.microsoftonline.us',
      allowed_tenants: [TENANT],
      scopes: ['openid', 'email', 'profile', 'offline_access'],
      redirect_uri: ms.body.oauth_options.redirect_uri,
    });
    assert.equal(ms.body.name, 'Environment MicrosoftOAuth');

    const gitHub = await gh.api('POST', '/connections', {
      connection_type: 'GitHubOAuth',
      oauth_options: { client_id: 'Iv1.abc', client_secret: 'gh-secret', scopes: ['repo'] },
    });
    assert.equal(gitHub.status, 201);
    assert.equal(gitHub.body.oauth_options.base_url, 'https://github.com');
    assert.equal(gitHub.body.oauth_options.api_base_url, 'https://api.github.com');
    assert.deepEqual(gitHub.body.oauth_options.scopes, ['read:user', 'user:email', 'repo']);

    // GitHub Enterprise Server: the API moves under the server unless api_base_url says otherwise.
    const ghes = await gh.api('PUT', `/connections/${gitHub.body.id}`, {
      oauth_options: { base_url: 'https://github.acme.com' },
    });
    assert.equal(ghes.status, 200);
    assert.equal(ghes.body.oauth_options.api_base_url, 'https://github.acme.com/api/v3');
    const apiHost = await gh.api('PUT', `/connections/${gitHub.body.id}`, {
      oauth_options: { api_base_url: 'https://api.github.acme.com' },
    });
    assert.equal(apiHost.body.oauth_options.api_base_url, 'https://api.github.acme.com');
    const reset = await gh.api('PUT', `/connections/${gitHub.body.id}`, {
      oauth_options: { base_url: null, api_base_url: null },
    });
    assert.equal(reset.body.oauth_options.base_url, 'https://github.com');
    assert.equal(reset.body.oauth_options.api_base_url, 'https://api.github.com');
  });

  it('keeps a provider connection without credentials a draft until PUT completes it', async () => {
    const draft = await gh.api('POST', '/connections', {
      connection_type: 'GitHubOAuth',
      oauth_options: { client_id: 'Iv1.draft' },
    });
    assert.equal(draft.status, 201);
    assert.equal(draft.body.state, 'draft');
    const done = await gh.api('PUT', `/connections/${draft.body.id}`, {
      oauth_options: { client_secret: 'now-complete' },
    });
    assert.equal(done.status, 200);
    assert.equal(done.body.state, 'validating');
    assert.equal(done.body.oauth_options.client_id, 'Iv1.draft');
  });

  it('refuses an organization, foreign options and malformed values, naming each field', async () => {
    const inOrg = await gh.api('POST', '/connections', {
      connection_type: 'MicrosoftOAuth',
      organization_id: orgId,
      oauth_options: { client_id: 'x', client_secret: 'y' },
    });
    assert.equal(inOrg.status, 422);
    assert.deepEqual(inOrg.body.errors, [
      {
        field: 'organization_id',
        code: 'organization_id must be omitted for connection_type MicrosoftOAuth: OAuth provider connections belong to the environment',
      },
    ]);

    const bad = await gh.api('POST', '/connections', {
      connection_type: 'GoogleOAuth',
      oidc_options: { issuer: 'https://accounts.google.com' },
      oauth_options: {
        client_id: '',
        base_url: 'ftp://accounts.google.com',
        api_base_url: 'https://api.github.com',
        allowed_tenants: [TENANT],
        scopes: ['has space'],
        redirect_uri: 'https://evil.example/cb',
        colour: 'blue',
      },
    });
    assert.equal(bad.status, 422);
    assert.deepEqual(bad.body.errors.map((e: { field: string; code: string }) => [e.field, e.code]).sort(), [
      [
        'oauth_options.allowed_tenants',
        'oauth_options.allowed_tenants applies to MicrosoftOAuth connections only',
      ],
      ['oauth_options.api_base_url', 'oauth_options.api_base_url applies to GitHubOAuth connections only'],
      ['oauth_options.base_url', 'oauth_options.base_url must be an http(s) URL'],
      [
        'oauth_options.client_id',
        'oauth_options.client_id must be a non-empty string of at most 512 characters',
      ],
      ['oauth_options.colour', 'oauth_options.colour is not a known option'],
      [
        'oauth_options.redirect_uri',
        'oauth_options.redirect_uri is read-only: Gatehouse assigns the callback URL',
      ],
      ['oauth_options.scopes', 'oauth_options.scopes must be an array of scope tokens'],
      ['oidc_options', 'oidc_options does not apply to connection_type GoogleOAuth; use oauth_options'],
    ]);

    const tenants = await gh.api('POST', '/connections', {
      connection_type: 'MicrosoftOAuth',
      oauth_options: { client_id: 'x', client_secret: 'y', allowed_tenants: ['contoso.onmicrosoft.com'] },
    });
    assert.equal(tenants.status, 422);
    assert.deepEqual(tenants.body.errors, [
      {
        field: 'oauth_options.allowed_tenants',
        code: 'oauth_options.allowed_tenants must be an array of Entra ID tenant IDs (GUIDs), or null for any tenant',
      },
    ]);
  });

  it('refuses plain-http base URLs unless private URLs are allowed', async () => {
    const strict = await startGatehouse({ env: { GATEHOUSE_ALLOW_PRIVATE_URLS: 'off' } });
    try {
      const res = await strict.api('POST', '/connections', {
        connection_type: 'GoogleOAuth',
        oauth_options: { client_id: 'x', client_secret: 'y', base_url: 'http://accounts.google.com' },
      });
      assert.equal(res.status, 422);
      assert.deepEqual(res.body.errors, [
        { field: 'oauth_options.base_url', code: 'oauth_options.base_url must be an https URL' },
      ]);
    } finally {
      await strict.close();
    }
  });
});
