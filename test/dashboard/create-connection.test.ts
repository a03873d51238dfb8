import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createOperatorLink } from '../../src/dashboard/dashboard.ts';
import { consentForm, TestBrowser } from '../helpers/browser.ts';
import { freePort, startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { startIdp, type TestIdp } from '../helpers/oidc-idp.ts';
import { makeIdp, samlResponseWith, startSamlLogin } from '../helpers/saml-idp.ts';

/**
 * Creating connections from the dashboard (issue 13): on an organization's page, an OpenID Connect connection to a
 * real oidc-provider (a user then signs in through it) and a SAML one from the metadata XML of the samlify test IdP
 * (a user then signs in through it), from a metadata URL, and drafts the IT admin finishes in the Admin Portal; on the
 * Connections page, an OAuth provider connection. Everything through `createConnection`: its refusals come back by
 * field in plain words with what was typed (never the secret), nothing created. The secret is on no page; every
 * creation is audited; CSRF, anonymous and API-key requests are refused; a hostile name renders inert.
 */

const APP = 'http://localhost:3000/callback';
const SECRET = `oidc-secret-${randomBytes(12).toString('hex')}`;
/** The client secret of test/helpers/oidc-idp.ts's oidc-provider client. */
const IDP_SECRET = 'gatehouse-test-secret-0123456789abcdef';

function csrfOf(html: string): string {
  return /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
}
/** The error shown under a form field (`e-<id>`), unescaped. */
function fieldError(html: string, id: string): string | null {
  const m = new RegExp(`<p class="error" id="e-${id}">([^<]*)</p>`).exec(html);
  return m ? htmlText(m[1] ?? '') : null;
}
/** The value of a form input, unescaped. */
function inputValue(html: string, id: string): string | null {
  const m = new RegExp(`<input id="${id}"[^>]* value="([^"]*)"`).exec(html);
  return m ? htmlText(m[1] ?? '') : null;
}
/** A read-only value of the connection's page (`v-<key>`). */
function shownValue(html: string, key: string): string | null {
  return inputValue(html, `v-${key}`);
}
function htmlText(s: string): string {
  return s
    .replace(/&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}
/** The "Not created" notice of the form as a whole. */
function formNotice(html: string): string | null {
  return /<strong>Not created<\/strong><p>([^<]*)<\/p>/.exec(html)?.[1] ?? null;
}

describe('creating connections from the dashboard', { timeout: 120_000 }, () => {
  let gh: TestGatehouse;
  const closers: (() => Promise<unknown>)[] = [];

  before(async () => {
    gh = await startGatehouse();
    await gh.api('POST', '/redirect_uris', { uri: APP });
  });
  after(async () => {
    for (const close of closers) await close();
    await gh?.close();
  });

  async function signedIn(): Promise<{ browser: TestBrowser; csrf: string }> {
    const email = `ops-${randomBytes(4).toString('hex')}@example.com`;
    const link = await createOperatorLink(
      { store: gh.store, publicUrl: gh.url, now: () => new Date() },
      'invite',
      { email },
    );
    const browser = new TestBrowser();
    const html = await (await browser.request(link)).text();
    const token = /name="token" value="([^"]+)"/.exec(html)?.[1] ?? '';
    assert.equal((await browser.request(`${gh.url}/dashboard/welcome`, { form: { token } })).status, 303);
    const page = await browser.request(`${gh.url}/dashboard/connections`);
    assert.equal(page.status, 200);
    return { browser, csrf: csrfOf(await page.text()) };
  }

  /** An organization with a verified domain of its own (the users who sign in have an email there). */
  async function organization(name = `Umbrella ${randomBytes(3).toString('hex')}`) {
    const domain = `u${randomBytes(4).toString('hex')}.test`;
    const org = await gh.api('POST', '/organizations', {
      name,
      domain_data: [{ domain, state: 'verified' }],
    });
    assert.equal(org.status, 201);
    return { id: org.body.id as string, name, domain };
  }

  const connectionsOf = async (orgId: string) =>
    (await gh.api('GET', `/connections?organization_id=${orgId}&limit=100`)).body.data as {
      id: string;
      name: string;
      state: string;
      connection_type: string;
    }[];
  const creations = async () =>
    (await gh.store.listAudit({}, { limit: 100, order: 'desc' })).data.filter(
      (a) => a.action === 'connection.create',
    );

  /** Posts the organization's form; returns the response and, after a 303, the new connection's ID. */
  async function create(
    browser: TestBrowser,
    csrf: string,
    orgId: string,
    form: Record<string, string>,
  ): Promise<{ res: Response; id: string | null }> {
    const res = await browser.request(`${gh.url}/dashboard/organizations/${orgId}/connections`, {
      form: { csrf, ...form },
    });
    const location = res.headers.get('location') ?? '';
    const id = /\/dashboard\/connections\/(conn_[^?]+)\?notice=created$/.exec(location)?.[1] ?? null;
    return { res, id };
  }

  it('the organization’s page offers both forms: each IdP by its Admin Portal guide name, every SAML flavour, and says a draft is finished in the Admin Portal', async () => {
    const { browser } = await signedIn();
    const org = await organization();
    const html = await (await browser.request(`${gh.url}/dashboard/organizations/${org.id}`)).text();
    assert.match(html, /<h2 id="add-connection">Add a connection<\/h2>/);
    assert.match(html, /finishes in the Admin Portal/);
    assert.match(html, /<a href="#portal">Admin Portal link<\/a>/);
    for (const option of [
      '<option value="OktaOIDC">Okta (OpenID Connect) — OktaOIDC</option>',
      '<option value="EntraIdOIDC">Microsoft Entra ID (OpenID Connect) — EntraIdOIDC</option>',
      '<option value="GenericOIDC">Other OpenID Connect provider — GenericOIDC</option>',
      '<option value="OktaSAML">Okta — OktaSAML</option>',
      '<option value="AzureSAML">Microsoft Entra ID — AzureSAML</option>',
      '<option value="GoogleSAML">Google Workspace — GoogleSAML</option>',
      '<option value="ADFSSAML">Microsoft AD FS — ADFSSAML</option>',
      '<option value="KeycloakSAML">KeycloakSAML</option>',
    ])
      assert.ok(html.includes(option), option);
    // No OAuth provider on an organization's page: those belong to the environment.
    assert.doesNotMatch(html, /GoogleOAuth/);
    // No script needed: two plain forms, each with its own type select.
    assert.equal(html.match(/<input type="hidden" name="protocol" value="(oidc|saml)">/g)?.length, 2);
    assert.equal(html.match(/<select id="f-(oidc|saml)-type" name="connection_type" required>/g)?.length, 2);
  });

  it('OIDC against a real oidc-provider: created from the discovery URL, the page shows the redirect URI (never the secret), audited; a user signs in through it', async () => {
    const { browser, csrf } = await signedIn();
    const org = await organization('Umbrella');
    const port = await freePort();
    const { res, id } = await create(browser, csrf, org.id, {
      protocol: 'oidc',
      connection_type: 'OktaOIDC',
      name: 'Umbrella Okta',
      issuer: `http://127.0.0.1:${port}/.well-known/openid-configuration`,
      client_id: 'umbrella-sso',
      client_secret: IDP_SECRET,
    });
    assert.equal(res.status, 303);
    assert.ok(id, res.headers.get('location') ?? '');

    const api = (await gh.api('GET', `/connections/${id}`)).body;
    assert.equal(api.organization_id, org.id);
    assert.equal(api.connection_type, 'OktaOIDC');
    assert.equal(api.name, 'Umbrella Okta');
    assert.equal(api.state, 'validating');
    assert.equal(api.oidc_options.issuer, `http://127.0.0.1:${port}`);
    assert.equal(api.oidc_options.client_id, 'umbrella-sso');

    const html = await (await browser.request(`${gh.url}/dashboard/connections/${id}?notice=created`)).text();
    assert.match(html, /The connection was created\./);
    assert.match(html, /Next: enter <a href="#values">its values<\/a> at the identity provider/);
    assert.equal(shownValue(html, 'redirect_uri'), api.oidc_options.redirect_uri);
    assert.match(html, /<dt>Client secret<\/dt><dd>saved<\/dd>/);
    assert.ok(!html.includes(IDP_SECRET), 'the secret is on the connection’s page');

    const [audit] = await creations();
    assert.equal(audit?.targetId, id);
    assert.deepEqual(audit?.detail, {
      name: 'Umbrella Okta',
      connection_type: 'OktaOIDC',
      organization_id: org.id,
      state: 'validating',
    });
    const auditPage = await (await browser.request(`${gh.url}/dashboard/audit`)).text();
    assert.match(auditPage, /connection\.create/);
    assert.ok(!auditPage.includes(IDP_SECRET), 'the secret is in the audit log');

    // The IdP, with the redirect URI the page gave registered: a user signs in through the new connection.
    const idp: TestIdp = await startIdp({
      port,
      clientId: 'umbrella-sso',
      redirectUris: [shownValue(html, 'redirect_uri') ?? ''],
    });
    closers.push(() => idp.close());
    assert.equal(idp.clientSecret, IDP_SECRET);
    const user = new TestBrowser();
    const authorizeUrl = gh.workos.sso.getAuthorizationUrl({
      clientId: gh.clientId,
      redirectUri: APP,
      organization: org.id,
    });
    const atConsent = await user.signInAtIdp(authorizeUrl, `ada@${org.domain}`, idp.issuer, APP);
    const approved = await user.request(`${gh.url}/sso/consent`, {
      form: { consent_token: consentForm(await atConsent.res.text()).token, decision: 'approve' },
      headers: { origin: gh.url },
    });
    const code = new URL(approved.headers.get('location') ?? '').searchParams.get('code') ?? '';
    const { profile } = await gh.workos.sso.getProfileAndToken({ code, clientId: gh.clientId });
    assert.equal(profile.connectionId, id);
    assert.equal(profile.email, `ada@${org.domain}`);
  });

  it('SAML from the metadata XML of the test IdP: the page shows the ACS URL, SP entity ID and SP metadata URL; a user signs in through it', async () => {
    const { browser, csrf } = await signedIn();
    const org = await organization();
    const idp = await makeIdp({ entityId: 'https://idp.umbrella.test/saml' });
    const { res, id } = await create(browser, csrf, org.id, {
      protocol: 'saml',
      connection_type: 'OktaSAML',
      name: '',
      idp_metadata_xml: idp.metadata(),
    });
    assert.equal(res.status, 303);
    assert.ok(id);
    const api = (await gh.api('GET', `/connections/${id}`)).body;
    assert.equal(api.state, 'validating');
    assert.equal(api.name, `${org.name} Okta`, 'the default name: the organization’s and the guide’s');
    assert.equal(api.saml_options.idp_entity_id, 'https://idp.umbrella.test/saml');
    assert.equal(api.saml_options.idp_sso_url, idp.ssoUrl);

    const html = await (await browser.request(`${gh.url}/dashboard/connections/${id}?notice=created`)).text();
    assert.equal(shownValue(html, 'acs_url'), api.saml_options.acs_url);
    assert.equal(shownValue(html, 'sp_entity_id'), api.saml_options.sp_entity_id);
    assert.equal(shownValue(html, 'sp_metadata_url'), api.saml_options.sp_metadata_url);
    assert.match(html, /<h2 id="values">For the IT admin \(Okta\)<\/h2>/);
    assert.match(html, /<dt>Entity ID \(issuer\)<\/dt><dd>https:\/\/idp\.umbrella\.test\/saml<\/dd>/);

    const setup = {
      idp,
      orgId: org.id,
      connectionId: id,
      acsUrl: api.saml_options.acs_url,
      spEntityId: api.saml_options.sp_entity_id,
      spMetadata: await (await fetch(api.saml_options.sp_metadata_url)).text(),
    };
    const user = new TestBrowser();
    const { request, relayState } = await startSamlLogin(
      user,
      setup,
      gh.workos.sso.getAuthorizationUrl({ clientId: gh.clientId, redirectUri: APP, organization: org.id }),
    );
    const acs = await user.request(setup.acsUrl, {
      form: {
        SAMLResponse: await samlResponseWith(setup, request, { nameId: `grace@${org.domain}` }),
        RelayState: relayState,
      },
    });
    let location = acs.headers.get('location') ?? '';
    if (acs.status === 200) {
      const approved = await user.request(`${gh.url}/sso/consent`, {
        form: { consent_token: consentForm(await acs.text()).token, decision: 'approve' },
        headers: { origin: gh.url },
      });
      location = approved.headers.get('location') ?? '';
    }
    const code = new URL(location).searchParams.get('code') ?? '';
    const { profile } = await gh.workos.sso.getProfileAndToken({ code, clientId: gh.clientId });
    assert.equal(profile.connectionId, id);
  });

  it('SAML from a metadata URL (read now); by hand, partly: a draft that says what is missing', async () => {
    const { browser, csrf } = await signedIn();
    const org = await organization();
    const idp = await makeIdp({ entityId: 'https://idp.by-url.test/saml' });
    const server: Server = createServer((req, res) => {
      if (req.url === '/metadata.xml')
        res.writeHead(200, { 'content-type': 'application/xml' }).end(idp.metadata());
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => server.close(resolve)));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const byUrl = await create(browser, csrf, org.id, {
      protocol: 'saml',
      connection_type: 'AzureSAML',
      idp_metadata_url: `${base}/metadata.xml`,
    });
    assert.equal(byUrl.res.status, 303);
    const api = (await gh.api('GET', `/connections/${byUrl.id}`)).body;
    assert.equal(api.state, 'validating');
    assert.equal(api.saml_options.idp_metadata_url, `${base}/metadata.xml`);
    assert.equal(api.saml_options.idp_entity_id, 'https://idp.by-url.test/saml');
    const html = await (await browser.request(`${gh.url}/dashboard/connections/${byUrl.id}`)).text();
    assert.match(html, /Refresh metadata/);

    const partial = await create(browser, csrf, org.id, {
      protocol: 'saml',
      connection_type: 'KeycloakSAML',
      idp_sso_url: 'https://keycloak.umbrella.test/realms/u/protocol/saml',
      idp_entity_id: '',
      idp_certificate: '',
    });
    assert.equal(partial.res.status, 303);
    const draft = (await gh.api('GET', `/connections/${partial.id}`)).body;
    assert.equal(draft.state, 'draft');
    assert.equal(draft.saml_options.idp_sso_url, 'https://keycloak.umbrella.test/realms/u/protocol/saml');
    const draftPage = await (await browser.request(`${gh.url}/dashboard/connections/${partial.id}`)).text();
    assert.match(draftPage, /A draft: no sign-in can start until the identity provider’s side is complete\./);
    assert.match(
      draftPage,
      /<li>The entity ID is not set yet\.<\/li><li>The certificate is not set yet\.<\/li>/,
    );
    assert.doesNotMatch(draftPage, /The single sign-on URL is not set yet/);
  });

  it('a draft (the type alone): the page says what is missing and makes the IT admin an Admin Portal link that opens its setup', async () => {
    const { browser, csrf } = await signedIn();
    const org = await organization();
    const { res, id } = await create(browser, csrf, org.id, {
      protocol: 'oidc',
      connection_type: 'EntraIdOIDC',
      name: '',
      issuer: '',
      client_id: '',
      client_secret: '',
    });
    assert.equal(res.status, 303);
    const api = (await gh.api('GET', `/connections/${id}`)).body;
    assert.equal(api.state, 'draft');
    assert.equal(api.name, `${org.name} Microsoft Entra ID (OpenID Connect)`);
    const html = await (await browser.request(`${gh.url}/dashboard/connections/${id}?notice=created`)).text();
    assert.match(
      html,
      /<ul><li>The issuer URL is not set yet\.<\/li><li>The client ID is not set yet\.<\/li><li>The client secret is not set yet\.<\/li><\/ul>/,
    );
    assert.match(html, /The organization’s IT admin can finish it in the Admin Portal/);
    // The redirect URI to give the IdP is there already.
    assert.equal(shownValue(html, 'redirect_uri'), api.oidc_options.redirect_uri);
    const form = new RegExp(
      `<form method="post" action="/dashboard/organizations/${org.id}/admin_portal" class="actions"><input type="hidden" name="csrf" value="([^"]+)"><input type="hidden" name="intent" value="sso">`,
    ).exec(html);
    assert.ok(form, 'the Admin Portal link form');
    const linkPage = await (
      await browser.request(`${gh.url}/dashboard/organizations/${org.id}/admin_portal`, {
        form: { csrf: form[1] ?? '', intent: 'sso' },
      })
    ).text();
    const portalLink = /value="(http[^"]+\/portal\/launch\?token=[^"]+)"/.exec(linkPage)?.[1] ?? '';
    assert.ok(portalLink, 'a portal link');
    // The IT admin opens it: the portal goes to this draft's setup.
    const admin = new TestBrowser();
    const opened = await admin.follow(htmlText(portalLink));
    assert.equal(opened.url.pathname, `/portal/sso/connections/${id}`);
    assert.equal(opened.res.status, 200);
  });

  it('refusals: each by its field in plain words, what was typed kept (never the secret), nothing created or audited', async () => {
    const { browser, csrf } = await signedIn();
    const org = await organization();
    const before = (await creations()).length;
    const refused = async (form: Record<string, string>) => {
      const { res, id } = await create(browser, csrf, org.id, form);
      assert.equal(res.status, 422);
      assert.equal(id, null);
      return res.text();
    };

    // OIDC: an issuer that is not a URL; the name, the issuer and the client ID come back, the secret does not.
    let html = await refused({
      protocol: 'oidc',
      connection_type: 'GenericOIDC',
      name: 'Kept name',
      issuer: 'not a url',
      client_id: 'kept-client',
      client_secret: SECRET,
    });
    assert.equal(
      fieldError(html, 'f-oidc-issuer'),
      'The issuer URL must be an absolute URL, e.g. https://idp.example.com.',
    );
    assert.match(html, /<strong>Not created: see the messages by the fields below\.<\/strong>/);
    assert.equal(inputValue(html, 'f-oidc-name'), 'Kept name');
    assert.equal(inputValue(html, 'f-oidc-issuer'), 'not a url');
    assert.equal(inputValue(html, 'f-oidc-client-id'), 'kept-client');
    assert.equal(inputValue(html, 'f-oidc-secret'), '');
    assert.ok(!html.includes(SECRET), 'the secret came back');
    assert.match(html, /<option value="GenericOIDC" selected>/);
    assert.match(html, /<details open><summary>OpenID Connect/);
    assert.match(
      html,
      /<input id="f-oidc-issuer"[^>]*aria-describedby="h-f-oidc-issuer e-f-oidc-issuer" aria-invalid="true">/,
    );

    // An https issuer with a query; a client ID too long.
    html = await refused({
      protocol: 'oidc',
      connection_type: 'OktaOIDC',
      issuer: 'https://idp.example.com/?tenant=1',
      client_id: 'x'.repeat(513),
    });
    assert.equal(fieldError(html, 'f-oidc-issuer'), 'The issuer URL must not contain a query or fragment.');
    assert.equal(
      fieldError(html, 'f-oidc-client-id'),
      'The client ID must be a non-empty string of at most 512 characters.',
    );

    // A name over 255 characters (the input's maxlength bypassed).
    html = await refused({ protocol: 'oidc', connection_type: 'OktaOIDC', name: 'n'.repeat(256) });
    assert.equal(fieldError(html, 'f-oidc-name'), 'The name must be at most 255 characters.');

    // No type, a type of the other form, an OAuth provider on an organization: the form's own check.
    for (const connection_type of ['', 'OktaSAML', 'GoogleOAuth', 'NoSuchType']) {
      html = await refused({ protocol: 'oidc', connection_type });
      assert.equal(
        fieldError(html, 'f-oidc-type'),
        'Choose the identity provider from the list.',
        connection_type,
      );
    }

    // SAML: metadata XML that is not XML; a metadata URL that is not one; a certificate that is not one.
    html = await refused({
      protocol: 'saml',
      connection_type: 'OktaSAML',
      idp_metadata_xml: '<EntityDescriptor',
    });
    assert.equal(fieldError(html, 'f-saml-metadata-xml'), 'The metadata XML is not XML.');
    assert.match(html, /<textarea id="f-saml-metadata-xml"[^>]*>&lt;EntityDescriptor<\/textarea>/);
    assert.match(html, /<details open><summary>SAML/);
    html = await refused({
      protocol: 'saml',
      connection_type: 'OktaSAML',
      idp_metadata_url: 'ftp://idp/metadata',
    });
    assert.equal(fieldError(html, 'f-saml-metadata-url'), 'The metadata URL must be an http(s) URL.');
    html = await refused({
      protocol: 'saml',
      connection_type: 'OktaSAML',
      idp_sso_url: 'https://idp.example.com/sso',
      idp_entity_id: 'https://idp.example.com',
      idp_certificate: 'not a certificate',
    });
    assert.equal(
      fieldError(html, 'f-saml-certificate'),
      'The certificate is not a PEM or base64 X.509 certificate.',
    );
    assert.equal(inputValue(html, 'f-saml-sso-url'), 'https://idp.example.com/sso');

    // Two sources at once: one sentence about the form as a whole.
    html = await refused({
      protocol: 'saml',
      connection_type: 'OktaSAML',
      idp_metadata_url: 'https://idp.example.com/metadata',
      idp_sso_url: 'https://idp.example.com/sso',
    });
    assert.equal(
      formNotice(html),
      htmlText(
        'Give one source of the identity provider’s details, not several: its metadata URL, its metadata XML, or the details by hand.',
      ),
    );

    assert.equal((await connectionsOf(org.id)).length, 0);
    assert.equal((await creations()).length, before);
  });

  it('the Connections page: an OAuth provider connection (its redirect URI to register, never the secret), a draft, refusals', async () => {
    const { browser, csrf } = await signedIn();
    const list = await (await browser.request(`${gh.url}/dashboard/connections`)).text();
    assert.match(list, /<h2 id="add-provider">Add a provider connection<\/h2>/);
    for (const option of [
      '<option value="GoogleOAuth">Google</option>',
      '<option value="MicrosoftOAuth">Microsoft</option>',
      '<option value="GitHubOAuth">GitHub</option>',
    ])
      assert.ok(list.includes(option), option);

    const res = await browser.request(`${gh.url}/dashboard/connections`, {
      form: {
        csrf,
        connection_type: 'GoogleOAuth',
        name: '',
        client_id: 'g.apps.example',
        client_secret: SECRET,
      },
    });
    assert.equal(res.status, 303);
    const id = /\/dashboard\/connections\/(conn_[^?]+)\?notice=created$/.exec(
      res.headers.get('location') ?? '',
    )?.[1];
    assert.ok(id);
    const api = (await gh.api('GET', `/connections/${id}`)).body;
    assert.equal(api.organization_id, null);
    assert.equal(api.name, 'Sign in with Google');
    assert.equal(api.state, 'validating');
    assert.equal(api.oauth_options.client_id, 'g.apps.example');
    const html = await (await browser.request(`${gh.url}/dashboard/connections/${id}?notice=created`)).text();
    assert.match(html, /<h2 id="values">At Google<\/h2>/);
    assert.equal(shownValue(html, 'redirect_uri'), api.oauth_options.redirect_uri);
    assert.match(api.oauth_options.redirect_uri, /\/sso\/oauth\/callback\//);
    assert.ok(!html.includes(SECRET));
    const audit = (await creations()).find((a) => a.targetId === id);
    assert.deepEqual(audit?.detail, {
      name: 'Sign in with Google',
      connection_type: 'GoogleOAuth',
      organization_id: null,
      state: 'validating',
    });

    // A draft: the page says how to finish it.
    const draft = await browser.request(`${gh.url}/dashboard/connections`, {
      form: { csrf, connection_type: 'GitHubOAuth', name: 'GitHub later' },
    });
    assert.equal(draft.status, 303);
    const draftId = /(conn_[^?]+)\?/.exec(draft.headers.get('location') ?? '')?.[1] ?? '';
    assert.equal((await gh.api('GET', `/connections/${draftId}`)).body.state, 'draft');
    const draftPage = await (await browser.request(`${gh.url}/dashboard/connections/${draftId}`)).text();
    assert.match(
      draftPage,
      /<li>The client ID is not set yet\.<\/li><li>The client secret is not set yet\.<\/li>/,
    );
    assert.match(
      draftPage,
      new RegExp(`<code>PUT /connections/${draftId}</code> with <code>oauth_options</code>`),
    );

    // Refusals: an SSO type on this form; a client ID too long (the secret not echoed).
    const count = (await gh.api('GET', '/connections?limit=100')).body.data.length;
    for (const connection_type of ['OktaSAML', '']) {
      const r = await browser.request(`${gh.url}/dashboard/connections`, { form: { csrf, connection_type } });
      assert.equal(r.status, 422);
      assert.equal(
        fieldError(await r.text(), 'f-provider-type'),
        'Choose the identity provider from the list.',
      );
    }
    const long = await browser.request(`${gh.url}/dashboard/connections`, {
      form: { csrf, connection_type: 'MicrosoftOAuth', client_id: 'y'.repeat(513), client_secret: SECRET },
    });
    assert.equal(long.status, 422);
    const longHtml = await long.text();
    assert.equal(
      fieldError(longHtml, 'f-provider-client-id'),
      'The client ID must be a non-empty string of at most 512 characters.',
    );
    assert.ok(!longHtml.includes(SECRET));
    assert.match(longHtml, /<option value="MicrosoftOAuth" selected>/);
    assert.equal((await gh.api('GET', '/connections?limit=100')).body.data.length, count);
  });

  it('CSRF: without this session’s token (missing, wrong, another session’s) nothing is created or audited', async () => {
    const { browser, csrf } = await signedIn();
    const other = await signedIn();
    const org = await organization();
    const before = (await creations()).length;
    const form = { protocol: 'oidc', connection_type: 'OktaOIDC', name: 'Forged' };
    for (const token of [undefined, 'x'.repeat(43), other.csrf]) {
      for (const path of [`organizations/${org.id}/connections`, 'connections']) {
        const res = await browser.request(`${gh.url}/dashboard/${path}`, {
          form: {
            ...form,
            ...(path === 'connections' ? { connection_type: 'GoogleOAuth' } : {}),
            ...(token ? { csrf: token } : {}),
          },
        });
        assert.equal(res.status, 403, `${path} ${token}`);
        assert.match(await res.text(), /This form has expired/);
      }
    }
    assert.notEqual(csrf, other.csrf);
    assert.equal((await connectionsOf(org.id)).length, 0);
    assert.equal((await creations()).length, before);
  });

  it('anonymous requests and requests with the API key only get the sign-in page (401), nothing created', async () => {
    const org = await organization();
    for (const headers of [{}, { authorization: `Bearer ${gh.apiKey}` }] as Record<string, string>[]) {
      for (const path of [`organizations/${org.id}/connections`, 'connections']) {
        const res = await fetch(`${gh.url}/dashboard/${path}`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ protocol: 'oidc', connection_type: 'GoogleOAuth' }).toString(),
        });
        assert.equal(res.status, 401);
        assert.match(await res.text(), /Sign in to the dashboard/);
      }
    }
    assert.equal((await connectionsOf(org.id)).length, 0);
  });

  it('XSS: a hostile connection name renders inert on the connection’s page, the organization’s page, the list and the audit log; kept on a refusal, escaped', async () => {
    const { browser, csrf } = await signedIn();
    const org = await organization();
    const payload = `<script>alert(1)</script><img src=x onerror=alert(2)>"'`;
    const { id } = await create(browser, csrf, org.id, {
      protocol: 'saml',
      connection_type: 'OktaSAML',
      name: payload,
    });
    assert.ok(id);
    const escaped = '&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;&quot;&#39;';
    for (const path of [`connections/${id}`, `organizations/${org.id}`, 'connections', 'audit']) {
      const html = await (await browser.request(`${gh.url}/dashboard/${path}`)).text();
      assert.ok(!html.includes('<script>alert(1)'), path);
      assert.ok(!html.includes('<img src=x'), path);
      if (path !== 'audit') assert.ok(html.includes(escaped), path);
    }
    const refused = await create(browser, csrf, org.id, {
      protocol: 'oidc',
      connection_type: 'OktaOIDC',
      name: payload,
      issuer: `"><script>alert(3)</script>`,
    });
    assert.equal(refused.res.status, 422);
    const html = await refused.res.text();
    assert.ok(!html.includes('<script>alert(3)'));
    assert.equal(inputValue(html, 'f-oidc-name'), payload);
  });
});
