import * as samlify from 'samlify';
import { generateSpKeyPair, type SpKeyPair } from '../../src/connectors/saml/keys.ts';
import type { TestBrowser } from './browser.ts';
import type { TestGatehouse } from './gatehouse.ts';

/**
 * A real SAML identity provider for tests: samlify's IdentityProvider with its own signing key pair. It never
 * listens: tests take Gatehouse's AuthnRequest from the authorize redirect, let samlify parse it and build the
 * signed (optionally encrypted) response, and post that to the ACS as the browser would.
 */

// samlify validates messages against the SAML schema only when given a validator; Gatehouse's own requests are
// what it parses here, so schema validation adds nothing to these tests.
samlify.setSchemaValidator({ validate: async () => 'skipped in tests' });

export const REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
export const POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
export const NAMEID_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';

export interface TestSamlIdp {
  entityId: string;
  ssoUrl: string;
  keys: SpKeyPair;
  /** samlify's IdP object (build other IdPs with `makeIdp` for a second key or other settings). */
  idp: ReturnType<typeof samlify.IdentityProvider>;
  /** This IdP's SAML metadata. */
  metadata(): string;
}

export async function makeIdp(
  options: {
    entityId?: string;
    ssoUrl?: string;
    keys?: SpKeyPair;
    binding?: string;
    settings?: Record<string, unknown>;
  } = {},
): Promise<TestSamlIdp> {
  const entityId = options.entityId ?? 'https://idp.acme.test/saml/metadata';
  const ssoUrl = options.ssoUrl ?? 'https://idp.acme.test/saml/sso';
  const keys = options.keys ?? (await generateSpKeyPair('Test IdP'));
  const idp = samlify.IdentityProvider({
    entityID: entityId,
    privateKey: keys.privateKey,
    signingCert: keys.certificate,
    singleSignOnService: [{ Binding: options.binding ?? REDIRECT, Location: ssoUrl }],
    nameIDFormat: [NAMEID_EMAIL],
    ...options.settings,
  });
  return { entityId, ssoUrl, keys, idp, metadata: () => idp.getMetadata() };
}

export interface SamlSetup {
  idp: TestSamlIdp;
  orgId: string;
  connectionId: string;
  acsUrl: string;
  spEntityId: string;
  /** Gatehouse's SP metadata for the connection (what an IT admin loads into the IdP). */
  spMetadata: string;
}

/**
 * Organization "Acme" (verified acme.com) and a SAML connection to `idp` (given by entity ID, SSO URL and
 * certificate unless `samlOptions` says otherwise), with `appRedirectUri` on the allowlist.
 */
export async function connectSamlIdp(
  gh: TestGatehouse,
  options: {
    idp?: TestSamlIdp;
    connectionType?: string;
    appRedirectUri?: string;
    samlOptions?: Record<string, unknown>;
  } = {},
): Promise<SamlSetup> {
  const idp = options.idp ?? (await makeIdp());
  if (options.appRedirectUri) await gh.api('POST', '/redirect_uris', { uri: options.appRedirectUri });
  const org = await gh.api('POST', '/organizations', {
    name: 'Acme',
    domain_data: [{ domain: 'acme.com', state: 'verified' }],
  });
  const conn = await gh.api('POST', '/connections', {
    organization_id: org.body.id,
    connection_type: options.connectionType ?? 'OktaSAML',
    name: 'Acme SAML',
    saml_options: options.samlOptions ?? {
      idp_entity_id: idp.entityId,
      idp_sso_url: idp.ssoUrl,
      idp_certificates: [idp.keys.certificate],
    },
  });
  if (conn.status !== 201)
    throw new Error(`could not create the SAML connection: ${JSON.stringify(conn.body)}`);
  const spMetadata = await (await fetch(conn.body.saml_options.sp_metadata_url)).text();
  return {
    idp,
    orgId: org.body.id,
    connectionId: conn.body.id,
    acsUrl: conn.body.saml_options.acs_url,
    spEntityId: conn.body.saml_options.sp_entity_id,
    spMetadata,
  };
}

/** samlify's view of Gatehouse as a service provider; `settings` choose what the IdP signs and encrypts. */
export function spFor(setup: SamlSetup, settings: Record<string, unknown> = {}) {
  return samlify.ServiceProvider({ metadata: setup.spMetadata, ...settings });
}

/**
 * The browser goes to `authorizeUrl`, Gatehouse redirects it to the IdP with an AuthnRequest (HTTP-Redirect);
 * returns the parsed request and the RelayState the IdP must send back.
 */
export async function startSamlLogin(
  browser: TestBrowser,
  setup: SamlSetup,
  authorizeUrl: string,
  spSettings: Record<string, unknown> = {},
) {
  const res = await browser.request(authorizeUrl);
  const location = new URL(res.headers.get('location') ?? '');
  if (res.status !== 302 || !location.searchParams.get('SAMLRequest')) {
    throw new Error(`authorize did not redirect to the IdP (${res.status} ${location.href})`);
  }
  const request = await setup.idp.idp.parseLoginRequest(spFor(setup, spSettings), 'redirect', {
    query: Object.fromEntries(location.searchParams),
    octetString: location.search.slice(1),
  } as never);
  return { location, request, relayState: location.searchParams.get('RelayState') ?? '' };
}

/** A SAML response from the IdP for `request` (null: unsolicited), as base64 for the ACS form. */
export async function samlResponse(
  setup: SamlSetup,
  request: { extract: unknown } | null,
  user: Record<string, unknown> & { email: string },
  spSettings: Record<string, unknown> = {},
  relayState = '',
): Promise<string> {
  const out = (await setup.idp.idp.createLoginResponse(
    spFor(setup, spSettings),
    (request ?? { extract: { request: {} } }) as never,
    'post',
    user as never,
    { relayState } as never,
  )) as { context: string };
  return out.context;
}

// ---------- richer responses (optional; the functions above are unchanged) ----------

export const STATUS = 'urn:oasis:names:tc:SAML:2.0:status:';
const ATTRNAME_BASIC = 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic';
const ATTRNAME_URI = 'urn:oasis:names:tc:SAML:2.0:attrname-format:uri';

export interface ResponseOptions {
  /** The NameID (its format: `nameIdFormat`, default emailAddress). */
  nameId: string;
  nameIdFormat?: string;
  /** Attribute name → its value(s): one AttributeValue each, as IdPs send multi-valued attributes (groups). */
  attributes?: Record<string, string | string[]>;
  /**
   * What the IdP signs: `assertion` (what Gatehouse's SP metadata asks for, Entra's default), `response` (the
   * IdP is configured not to sign assertions: it sees the SP metadata with WantAssertionsSigned="false" and
   * signs the Response), or `both`.
   */
  sign?: 'assertion' | 'response' | 'both';
  /**
   * A failed SAML status (saml-core §3.2.2.2): the Response carries it, no Assertion, and is signed as a whole
   * (an IdP has nothing else to sign). Codes without the `urn:oasis:names:tc:SAML:2.0:status:` prefix.
   */
  status?: { top: string; second?: string; message?: string };
  /** Adds an AuthnStatement with this SessionIndex (what real IdPs send). */
  sessionIndex?: string;
  /** For unsolicited responses (`request` null): an InResponseTo all the same (default: none at all). */
  inResponseTo?: string;
}

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * A SAML response from the IdP to `request` (null: unsolicited, without any InResponseTo), built by samlify
 * through its documented template customization (`customTagReplacement`): samlify's own login response template
 * with attributes, an AuthnStatement or a failed status filled in, then signed (and encrypted when the IdP has
 * `isAssertionEncrypted`) by samlify exactly as `samlResponse` is. Values are XML-escaped by samlify.
 */
export async function samlResponseWith(
  setup: SamlSetup,
  request: { extract: unknown } | null,
  options: ResponseOptions,
): Promise<string> {
  const sign = options.status ? 'response' : (options.sign ?? 'assertion');
  const metadata =
    sign === 'response'
      ? setup.spMetadata.replace('WantAssertionsSigned="true"', 'WantAssertionsSigned="false"')
      : setup.spMetadata;
  if (sign === 'response' && metadata === setup.spMetadata)
    throw new Error('the SP metadata does not say WantAssertionsSigned="true"');
  const sp = samlify.ServiceProvider({ metadata, wantMessageSigned: sign !== 'assertion' });
  const idp = setup.idp.idp;
  const idpSetting = idp.entitySetting as { generateID: () => string; isAssertionEncrypted?: boolean };
  const spMeta = sp.entityMeta as unknown as {
    getAssertionConsumerService(binding: string): string;
    getEntityID(): string;
  };
  const requestId = (request?.extract as { request?: { id?: string } } | undefined)?.request?.id;

  const customTagReplacement = (template: string) => {
    let xml = template;
    const values: Record<string, string | undefined> = {};
    if (options.status) {
      const { top, second, message } = options.status;
      const inner = second ? `<samlp:StatusCode Value="${STATUS}${second}"/>` : '';
      const status = `<samlp:Status><samlp:StatusCode Value="${STATUS}${top}">${inner}</samlp:StatusCode>${
        message === undefined ? '' : '<samlp:StatusMessage>{StatusMessage}</samlp:StatusMessage>'
      }</samlp:Status>`;
      values.StatusMessage = message;
      xml = xml
        .replace(/<samlp:Status>.*<\/samlp:Status>/, status)
        .replace(/<saml:Assertion .*<\/saml:Assertion>/, '');
    }
    let attributes = '';
    Object.entries(options.attributes ?? {}).forEach(([name, value], i) => {
      const list = Array.isArray(value) ? value : [value];
      const format = name.includes(':') ? ATTRNAME_URI : ATTRNAME_BASIC;
      attributes += `<saml:Attribute Name="${escapeXml(name)}" NameFormat="${format}">${list
        .map((v, j) => {
          values[`attr${i}v${j}`] = v;
          return `<saml:AttributeValue xsi:type="xs:string">{attr${i}v${j}}</saml:AttributeValue>`;
        })
        .join('')}</saml:Attribute>`;
    });
    const now = new Date();
    const later = new Date(now.getTime() + 5 * 60 * 1000).toISOString();
    const acs = spMeta.getAssertionConsumerService('post');
    const id = idpSetting.generateID();
    // The statements go in as markup with placeholders; samlify fills (and escapes) every value.
    const authn = options.sessionIndex
      ? '<saml:AuthnStatement AuthnInstant="{IssueInstant}" SessionIndex="{SessionIndex}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>'
      : '';
    const statement = attributes ? `<saml:AttributeStatement>${attributes}</saml:AttributeStatement>` : '';
    xml = xml.replace('{AuthnStatement}', () => authn).replace('{AttributeStatement}', () => statement);
    const context = samlify.SamlLib.replaceTagsByValue(xml, {
      ...values,
      ID: id,
      AssertionID: idpSetting.generateID(),
      Destination: acs,
      Audience: spMeta.getEntityID(),
      SubjectRecipient: acs,
      Issuer: setup.idp.entityId,
      IssueInstant: now.toISOString(),
      StatusCode: `${STATUS}Success`,
      ConditionsNotBefore: now.toISOString(),
      ConditionsNotOnOrAfter: later,
      SubjectConfirmationDataNotOnOrAfter: later,
      NameIDFormat: options.nameIdFormat ?? NAMEID_EMAIL,
      NameID: options.nameId,
      SessionIndex: options.sessionIndex,
      // undefined: samlify drops the attribute (an unsolicited response names no request).
      InResponseTo: requestId ?? options.inResponseTo,
    } as Record<string, string>);
    return { id, context };
  };

  const out = (await idp.createLoginResponse(
    sp,
    (request ?? { extract: { request: {} } }) as never,
    'post',
    {} as never,
    {
      customTagReplacement,
      // With an encrypted assertion, a Response signature must be made after the encryption to stay valid.
      encryptThenSign: idpSetting.isAssertionEncrypted === true && sign !== 'assertion',
    } as never,
  )) as { context: string };
  return out.context;
}
