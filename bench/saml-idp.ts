/**
 * The SAML side of the benchmarks (`bench:saml` and the side-by-side `npm run bench`): samlify's IdentityProvider
 * as a child process (this file, run with BENCH_SAML_IDP set), Gatehouse's SAML connection and app, and the pools
 * of ACS posts (real logins started at a service provider and answered by the IdP, made before a measurement).
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { WorkOS } from '@workos-inc/node';
import * as samlify from 'samlify';
import { type Answer, BenchBrowser, expectStatus, send } from './browser.ts';
import {
  BenchError,
  type ChildServer,
  type GatehouseChild,
  HOST,
  type LoadSpec,
  REPO_ROOT,
  StepFailure,
  spawnServer,
} from './lib.ts';
import { APP_REDIRECT_URI, GatehouseApp, USER_DOMAIN, userFor } from './sso-flow.ts';

// ---------------------------------------------------------------------------------------------------------
// The IdP: samlify's IdentityProvider, as a tiny HTTP server (child process)

/** The environment variable that makes this file the IdP child process; its value is the `IdpConfig`. */
export const IDP_ENV = 'BENCH_SAML_IDP';
export const IDP_STATS_PATH = '/stats';
/** The IdP's session cookie: the signed-in user (the IdP's own login is not what is measured). */
export const IDP_SESSION_COOKIE = 'bench_idp_session';
export const NAMEID_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
export const ATTRNAME_BASIC = 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic';
export const STATUS_SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';
/** The response's Conditions and SubjectConfirmationData window: long enough for a pool made in advance. */
export const RESPONSE_VALIDITY_MS = 10 * 60 * 1000;

// samlify checks messages against the SAML schema only through a validator it is given (an XSD validator is a
// separate, native or Java, package); the tests skip it too. The IdP's part is the smaller one here either way.
samlify.setSchemaValidator({ validate: async () => 'skipped in the benchmark' });

export type SignMode = 'assertion' | 'response' | 'both';

export interface IdpConfig {
  entityId: string;
  privateKey: string;
  certificate: string;
  /** Gatehouse's SP metadata per connection; the IdP serves connection i at `/saml/sso/<i>`. */
  spMetadata: string[];
  /** What the IdP signs: the Assertion (what Gatehouse's SP metadata asks for), the Response, or both. */
  sign: SignMode;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function unescapeHtml(s: string): string {
  return s.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)));
}

/**
 * The IdP's work for one sign-in: samlify parses the AuthnRequest (HTTP-Redirect: inflate, XML) and builds the
 * Response: its login response template with an AuthnStatement and an AttributeStatement (email, firstName,
 * lastName, two groups: Okta's attribute names), signed with RSA-SHA256 (exclusive c14n), not encrypted.
 */
export class SamlIdp {
  readonly #idp: ReturnType<typeof samlify.IdentityProvider>;
  readonly #sps: Array<{ sp: ReturnType<typeof samlify.ServiceProvider>; acs: string; audience: string }>;
  readonly #entityId: string;

  constructor(config: IdpConfig) {
    this.#entityId = config.entityId;
    this.#idp = samlify.IdentityProvider({
      entityID: config.entityId,
      privateKey: config.privateKey,
      signingCert: config.certificate,
      singleSignOnService: [
        { Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', Location: `${config.entityId}/sso` },
      ],
      singleLogoutService: [
        { Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', Location: `${config.entityId}/slo` },
      ],
      nameIDFormat: [NAMEID_EMAIL],
    });
    this.#sps = config.spMetadata.map((metadata) => {
      // An IdP configured to sign the Response only sees WantAssertionsSigned="false" (as in the tests).
      const seen =
        config.sign === 'response'
          ? metadata.replace('WantAssertionsSigned="true"', 'WantAssertionsSigned="false"')
          : metadata;
      const sp = samlify.ServiceProvider({ metadata: seen, wantMessageSigned: config.sign !== 'assertion' });
      const meta = sp.entityMeta as unknown as {
        getAssertionConsumerService(binding: string): string;
        getEntityID(): string;
      };
      return { sp, acs: meta.getAssertionConsumerService('post'), audience: meta.getEntityID() };
    });
  }

  get spCount(): number {
    return this.#sps.length;
  }

  acsUrl(index: number): string {
    return this.#sp(index).acs;
  }

  #sp(index: number) {
    const sp = this.#sps[index];
    if (!sp) throw new Error(`no SP ${index}`);
    return sp;
  }

  /** samlify parses an AuthnRequest (HTTP-Redirect binding) from SP `index`; returns its ID. */
  async parseRequest(index: number, url: URL): Promise<string> {
    const octetString = url.search
      .slice(1)
      .split('&')
      .filter((p) => !p.startsWith('Signature='))
      .join('&');
    const parsed = (await this.#idp.parseLoginRequest(this.#sp(index).sp, 'redirect', {
      query: Object.fromEntries(url.searchParams),
      octetString,
    } as never)) as unknown as { extract: { request?: { id?: string } } };
    const id = parsed.extract.request?.id;
    if (!id) throw new Error('the AuthnRequest has no ID');
    return id;
  }

  /** The signed SAML Response (base64) for `user` to request `requestId` of SP `index`. */
  async response(index: number, requestId: string, user: string): Promise<string> {
    const { sp, acs, audience } = this.#sp(index);
    const setting = this.#idp.entitySetting as { generateID: () => string };
    const email = `${user}@${USER_DOMAIN}`;
    const attribute = (name: string, tags: string[]) =>
      `<saml:Attribute Name="${name}" NameFormat="${ATTRNAME_BASIC}">${tags
        .map((t) => `<saml:AttributeValue xsi:type="xs:string">{${t}}</saml:AttributeValue>`)
        .join('')}</saml:Attribute>`;
    const statement =
      '<saml:AttributeStatement>' +
      attribute('email', ['attrEmail']) +
      attribute('firstName', ['attrFirstName']) +
      attribute('lastName', ['attrLastName']) +
      attribute('groups', ['attrGroup0', 'attrGroup1']) +
      '</saml:AttributeStatement>';
    const authn =
      '<saml:AuthnStatement AuthnInstant="{IssueInstant}" SessionIndex="{SessionIndex}"><saml:AuthnContext>' +
      '<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport' +
      '</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>';
    const customTagReplacement = (template: string) => {
      const now = new Date();
      const later = new Date(now.getTime() + RESPONSE_VALIDITY_MS).toISOString();
      const id = setting.generateID();
      const xml = template
        .replace('{AuthnStatement}', () => authn)
        .replace('{AttributeStatement}', () => statement);
      // samlify fills (and XML-escapes) every value.
      const context = samlify.SamlLib.replaceTagsByValue(xml, {
        ID: id,
        AssertionID: setting.generateID(),
        Destination: acs,
        Audience: audience,
        SubjectRecipient: acs,
        Issuer: this.#entityId,
        IssueInstant: now.toISOString(),
        StatusCode: STATUS_SUCCESS,
        ConditionsNotBefore: now.toISOString(),
        ConditionsNotOnOrAfter: later,
        SubjectConfirmationDataNotOnOrAfter: later,
        NameIDFormat: NAMEID_EMAIL,
        NameID: email,
        SessionIndex: `_bench_session_${randomBytes(8).toString('hex')}`,
        InResponseTo: requestId,
        attrEmail: email,
        attrFirstName: 'Bench',
        attrLastName: user,
        attrGroup0: 'engineering',
        attrGroup1: 'everyone',
      });
      return { id, context };
    };
    const out = (await this.#idp.createLoginResponse(
      sp,
      { extract: { request: { id: requestId } } } as never,
      'post',
      {} as never,
      { customTagReplacement } as never,
    )) as { context: string };
    return out.context;
  }
}

/** The IdP's HTML-POST page, as IdPs send it: a form that posts itself to the ACS. */
export function autoPostPage(action: string, fields: Record<string, string>): string {
  const inputs = Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join('');
  return (
    '<!doctype html><html><head><meta charset="utf-8"><title>Signing in…</title></head>' +
    '<body onload="document.forms[0].submit()">' +
    `<form method="post" action="${escapeHtml(action)}">${inputs}` +
    '<noscript><button type="submit">Continue</button></noscript></form></body></html>'
  );
}

/**
 * This file as the IdP child process: `GET /saml/sso/<i>?SAMLRequest=…&RelayState=…` with the session cookie
 * answers the auto-posting form with a fresh signed response; `GET /stats` counts requests.
 */
export async function runIdpChild(): Promise<void> {
  const config = JSON.parse(process.env[IDP_ENV] as string) as IdpConfig & { port: number };
  const idp = new SamlIdp(config);
  const stats = { sso: 0, errors: 0, lastError: '' };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${HOST}`);
    if (url.pathname === IDP_STATS_PATH) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats));
      return;
    }
    const index = /^\/saml\/sso\/(\d+)$/.exec(url.pathname)?.[1];
    if (req.method !== 'GET' || index === undefined || Number(index) >= idp.spCount) {
      res.writeHead(404).end();
      return;
    }
    stats.sso++;
    const fail = (status: number, message: string) => {
      stats.errors++;
      stats.lastError = message;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(message);
    };
    const user = /(?:^|;\s*)bench_idp_session=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    if (!user) return fail(401, 'no IdP session');
    const sp = Number(index);
    idp
      .parseRequest(sp, url)
      .then((requestId) => idp.response(sp, requestId, user))
      .then((response) => {
        const relayState = url.searchParams.get('RelayState');
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(
          autoPostPage(idp.acsUrl(sp), {
            SAMLResponse: response,
            ...(relayState === null ? {} : { RelayState: relayState }),
          }),
        );
      })
      .catch((err: unknown) => fail(400, (err as Error)?.message ?? String(err)));
  });
  server.listen(config.port, HOST);
  process.on('SIGTERM', () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}

export interface IdpChild extends ChildServer {
  stats(): Promise<{ sso: number; errors: number; lastError: string }>;
}

export async function startIdpChild(
  config: IdpConfig,
  port: number,
  name: string,
  /** CPUs it may run on (taskset), e.g. all of them when this process is pinned to fewer. */
  cpus: string | null = null,
): Promise<IdpChild> {
  const child = await spawnServer({
    name,
    args: [join(REPO_ROOT, 'bench/saml-idp.ts')],
    port,
    env: { [IDP_ENV]: JSON.stringify({ ...config, port }) },
    readyPath: IDP_STATS_PATH,
    readyStatus: 200,
    cpus,
  });
  return {
    ...child,
    async stats() {
      const res = await fetch(`${child.url}${IDP_STATS_PATH}`);
      if (res.status !== 200) throw new BenchError(`the IdP's stats answered ${res.status}`);
      return (await res.json()) as { sso: number; errors: number; lastError: string };
    },
  };
}

/** The browser at the IdP, signed in as `user`: GET the SSO URL, read the auto-posting form. */
export async function atIdp(
  url: URL,
  user: string,
): Promise<{ action: string; fields: Record<string, string> }> {
  const answer = await send('idp', url, { headers: { cookie: `${IDP_SESSION_COOKIE}=${user}` } });
  expectStatus('idp', answer, 200);
  const action = /<form method="post" action="([^"]+)">/.exec(answer.text)?.[1];
  const fields: Record<string, string> = {};
  for (const m of answer.text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    fields[unescapeHtml(m[1] ?? '')] = unescapeHtml(m[2] ?? '');
  }
  if (!action || !fields.SAMLResponse) {
    throw new StepFailure('idp', 200, `not the IdP's POST form: ${answer.text.slice(0, 300)}`);
  }
  return { action: unescapeHtml(action), fields };
}

// ---------------------------------------------------------------------------------------------------------
// Gatehouse: the SAML connection and the app

export interface SamlConnection {
  organizationId: string;
  connectionId: string;
  acsUrl: string;
  spMetadata: string;
}

/** Through the management API: an organization with `domain` verified and an OktaSAML connection to the IdP. */
export async function createSamlConnection(
  gatehouse: GatehouseChild,
  idp: { entityId: string; ssoUrl: string; certificate: string },
  /** `shareDomain`: the users' domain is another organization's; this one takes profiles from outside its own. */
  options: { shareDomain?: boolean } = {},
): Promise<SamlConnection> {
  const org = await gatehouse.api<{ id: string }>(
    'POST',
    '/organizations',
    options.shareDomain
      ? { name: 'Bench SAML Org', allow_profiles_outside_organization: true }
      : { name: 'Bench Org', domain_data: [{ domain: USER_DOMAIN, state: 'verified' }] },
    201,
  );
  const connection = await gatehouse.api<{
    id: string;
    state?: string;
    saml_options?: { acs_url?: unknown; sp_metadata_url?: unknown };
  }>(
    'POST',
    '/connections',
    {
      organization_id: org.id,
      connection_type: 'OktaSAML',
      name: 'Bench SAML IdP',
      saml_options: {
        idp_entity_id: idp.entityId,
        idp_sso_url: idp.ssoUrl,
        idp_certificates: [idp.certificate],
      },
    },
    201,
  );
  const acsUrl = connection.saml_options?.acs_url;
  const metadataUrl = connection.saml_options?.sp_metadata_url;
  if (typeof acsUrl !== 'string' || typeof metadataUrl !== 'string' || connection.state !== 'validating') {
    throw new BenchError(`the new SAML connection is not ready for sign-ins: ${JSON.stringify(connection)}`);
  }
  const metadata = await fetch(metadataUrl);
  const spMetadata = await metadata.text();
  if (metadata.status !== 200 || !spMetadata.includes('WantAssertionsSigned="true"')) {
    throw new BenchError(`the SP metadata answered ${metadata.status}: ${spMetadata.slice(0, 300)}`);
  }
  return { organizationId: org.id, connectionId: connection.id, acsUrl, spMetadata };
}

/**
 * The app of a Gatehouse environment with a SAML connection: `code()` is the browser's part of a SAML login
 * (the rest, token and profile and the SDK recording, is GatehouseApp's).
 */
export class SamlApp extends GatehouseApp {
  readonly #workos: WorkOS;

  constructor(options: {
    gatehouse: GatehouseChild;
    connection: SamlConnection;
    consent: boolean;
    idpOrigin: string;
  }) {
    super({
      gatehouse: options.gatehouse,
      organizationId: options.connection.organizationId,
      callbackUrl: options.connection.acsUrl,
      consent: options.consent,
      idpIssuer: options.idpOrigin,
    });
    this.#workos = new WorkOS(this.gatehouse.apiKey, {
      apiHostname: HOST,
      port: this.gatehouse.port,
      https: false,
      clientId: this.gatehouse.clientId,
    });
  }

  /** The app's authorization URL (from the SDK), with the organization as selector. */
  authorizeUrl(state: string): URL {
    return new URL(
      this.#workos.sso.getAuthorizationUrl({
        clientId: this.gatehouse.clientId,
        redirectUri: APP_REDIRECT_URI,
        organization: this.organizationId,
        state,
      }),
    );
  }

  /** Gatehouse's redirect to the IdP with an AuthnRequest (HTTP-Redirect) and RelayState. */
  checkUpstream(authorize: Answer): URL {
    expectStatus('authorize', authorize, 302);
    const upstream = new URL(authorize.location ?? '', this.gatehouse.url);
    if (
      upstream.origin !== this.idpIssuer ||
      !upstream.searchParams.get('SAMLRequest') ||
      !upstream.searchParams.get('RelayState')
    ) {
      throw new StepFailure(
        'authorize',
        302,
        `redirect to ${upstream.href}, not to the IdP with a SAMLRequest`,
      );
    }
    return upstream;
  }

  /** A new browser's GET /sso/authorize: the IdP's URL (with the AuthnRequest) and the browser's cookies. */
  async startLogin(state: string): Promise<{ upstream: URL; cookie: string }> {
    const authorize = await send('authorize', this.authorizeUrl(state));
    const upstream = this.checkUpstream(authorize);
    return { upstream, cookie: authorize.setCookie.map((c) => c.split(';')[0]).join('; ') };
  }

  /**
   * The browser's part of login number `sequence`: the app's authorization URL, Gatehouse's redirect to the
   * IdP, the IdP's auto-posting form, the POST to the ACS (and the consent screen, when on), and the redirect to
   * the app with a code.
   */
  override async code(sequence: number): Promise<{ code: string; upstream: URL }> {
    const browser = new BenchBrowser();
    const state = `bench-${sequence}`;
    const upstream = this.checkUpstream(await browser.request('authorize', this.authorizeUrl(state)));
    const form = await atIdp(upstream, userFor(sequence));
    if (form.action !== this.callbackUrl) {
      throw new StepFailure('idp', 200, `the form posts to ${form.action}, not to the ACS`);
    }
    const acs = await browser.request('acs', new URL(form.action), {
      form: form.fields,
      headers: { origin: this.idpIssuer },
    });
    const code = await this.finishAtApp(browser, 'acs', acs, 303, state);
    return { code, upstream };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Part 1: ACS validation

/** One ACS post of the pool: a pending login's browser (its cookies) with the IdP's response to it. */
export interface AcsPost {
  cookie: string;
  body: string;
}

/** Handed out when a pool runs dry: no cookie, no response; Gatehouse answers 400, the run is invalid. */
export const NO_POST: AcsPost = { cookie: '', body: 'SAMLResponse=' };

/** The posts of one phase, handed out in order, each once. */
export class AcsPool {
  readonly posts: AcsPost[];
  #next = 0;
  /** Requests that found the pool empty. */
  exhausted = 0;
  #first = 0;
  #last = 0;
  constructor(posts: AcsPost[]) {
    this.posts = posts;
  }
  take(): AcsPost {
    const post = this.posts[this.#next];
    if (post === undefined) {
      this.exhausted++;
      return NO_POST;
    }
    const now = performance.now();
    if (this.#next === 0) this.#first = now;
    this.#last = now;
    this.#next++;
    return post;
  }
  get used(): number {
    return this.#next;
  }
  /** Posts per second handed out, from the first to the last (the rate at which the server took them). */
  rate(): number {
    return this.#next > 1 && this.#last > this.#first
      ? (this.#next - 1) / ((this.#last - this.#first) / 1000)
      : 0;
  }
}

/** Checks each ACS answer's Location: the app's redirect URI with a code; keeps the first codes to redeem. */
export class AcsChecker {
  bad = 0;
  badSamples: string[] = [];
  readonly codes: Array<{ code: string; sequence: number }> = [];
  readonly #keep: number;
  readonly #status: number;
  /** `keep`: how many codes to keep; `status`: the redirect's (Gatehouse 303, Jackson 302). */
  constructor(keep: number, status = 303) {
    this.#keep = keep;
    this.#status = status;
  }
  check(status: number, headers: Record<string, string | string[]>): void {
    if (status !== this.#status) return; // counted by measure()
    const raw = headers.location ?? headers.Location;
    const location = Array.isArray(raw) ? raw[0] : raw;
    const url = location && URL.canParse(location) ? new URL(location) : null;
    const code = url?.searchParams.get('code');
    if (!url || `${url.origin}${url.pathname}` !== APP_REDIRECT_URI || !code) {
      this.bad++;
      if (this.badSamples.length < 3) this.badSamples.push(String(location));
      return;
    }
    if (this.codes.length < this.#keep) {
      const sequence = Number(/^pool-(\d+)$/.exec(url.searchParams.get('state') ?? '')?.[1]);
      if (Number.isInteger(sequence)) this.codes.push({ code, sequence });
    }
  }
}

/** Request headers of the browser's POST to the ACS (besides its cookie): the IdP's form, from its origin. */
export function acsHeaders(idpOrigin: string): Record<string, string> {
  return { 'content-type': 'application/x-www-form-urlencoded', origin: idpOrigin };
}

export function acsRequests(
  path: string,
  idpOrigin: string,
  next: () => AcsPost,
  checker: AcsChecker,
): LoadSpec {
  const headers = acsHeaders(idpOrigin);
  return {
    requests: [
      {
        method: 'POST',
        path,
        setupRequest: (request) => {
          const post = next();
          return {
            ...request,
            headers: post.cookie ? { ...headers, cookie: post.cookie } : headers,
            body: post.body,
          };
        },
        onResponse: (status, _body, _context, headers) =>
          checker.check(status, headers as unknown as Record<string, string | string[]>),
      },
    ],
  };
}

/**
 * Makes ACS posts: real SP-initiated logins started at Gatehouse (GET /sso/authorize, which stores the pending
 * login and sets the binding cookie) and answered by the IdP (which parses the AuthnRequest and signs a
 * response to it), spread over the IdP replicas. A closed loop of `concurrency` workers, bounded by count and
 * by `deadlineMs`.
 */
export async function makePosts(
  app: { startLogin(state: string): Promise<{ upstream: URL; cookie: string }> },
  idps: IdpChild[],
  count: number,
  options: { concurrency: number; deadlineMs: number; sequence: { next: number } },
): Promise<AcsPost[]> {
  const posts: AcsPost[] = [];
  const deadline = performance.now() + options.deadlineMs;
  let started = 0;
  let failure: Error | null = null;
  const worker = async (w: number) => {
    const idp = idps[w % idps.length] as IdpChild;
    while (started < count && failure === null) {
      if (performance.now() > deadline) {
        failure = new BenchError(
          `making ${count} responses took more than ${options.deadlineMs / 1000} s: lower BENCH_DURATION`,
        );
        return;
      }
      started++;
      const sequence = options.sequence.next++;
      try {
        const { upstream, cookie } = await app.startLogin(`pool-${sequence}`);
        // The same request at a replica of the IdP (same keys, same configuration).
        const form = await atIdp(
          new URL(`${upstream.pathname}${upstream.search}`, idp.url),
          userFor(sequence),
        );
        posts.push({ cookie, body: new URLSearchParams(form.fields).toString() });
      } catch (err) {
        failure = new BenchError(`making an ACS post failed: ${(err as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, (_, w) => worker(w)));
  if (failure) throw failure;
  return posts;
}

if (process.env[IDP_ENV]) void runIdpChild();
