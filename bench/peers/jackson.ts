/**
 * The parent's side of BoxyHQ SAML Jackson in the side-by-side benchmark: start the wrapper
 * (bench/peers/jackson-server.ts) as a child process, create its SAML connection from the IdP's metadata, and the
 * app's requests of a Jackson login (authorize with tenant + product, the ACS post, the code exchange with the
 * connection's client ID and secret, userinfo).
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { type Answer, expectStatus, send } from '../browser.ts';
import { BenchError, type ChildServer, freePort, HOST, REPO_ROOT, StepFailure, spawnServer } from '../lib.ts';
import { APP_REDIRECT_URI } from '../sso-flow.ts';

export const JACKSON_TENANT = 'example.com';
export const JACKSON_PRODUCT = 'gatehouse-bench';
export const JACKSON_ACS_PATH = '/api/oauth/saml';

export interface JacksonChild extends ChildServer {
  clientId: string;
  clientSecret: string;
  /** Jackson's SP metadata, made to ask for signed assertions (as Gatehouse's does). */
  spMetadata: string;
  acsUrl: string;
}

/** Starts the wrapper (mem engine, a random encryption key) and creates its connection from `idpMetadata`. */
export async function startJackson(options: {
  idpMetadata: string;
  cpus?: string | null;
  pollMs?: number;
}): Promise<JacksonChild> {
  const port = await freePort();
  const child = await spawnServer({
    name: 'jackson',
    args: [join(REPO_ROOT, 'bench/peers/jackson-server.ts')],
    port,
    env: {
      JACKSON_PORT: String(port),
      JACKSON_HOST: HOST,
      JACKSON_ENCRYPTION_KEY: randomBytes(16).toString('hex'),
      JACKSON_CLIENT_SECRET_VERIFIER: randomBytes(16).toString('hex'),
    },
    readyPath: '/health',
    readyStatus: 200,
    cpus: options.cpus ?? null,
    ...(options.pollMs ? { pollMs: options.pollMs } : {}),
  });
  const created = await fetch(`${child.url}/__bench/connections`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      rawMetadata: options.idpMetadata,
      tenant: JACKSON_TENANT,
      product: JACKSON_PRODUCT,
      name: 'Bench SAML IdP',
      defaultRedirectUrl: APP_REDIRECT_URI,
      redirectUrl: [APP_REDIRECT_URI],
    }),
  });
  const connection = (await created.json()) as { clientID?: string; clientSecret?: string };
  if (created.status !== 201 || !connection.clientID || !connection.clientSecret) {
    throw new BenchError(
      `Jackson did not create the SAML connection (${created.status}): ${JSON.stringify(connection)}`,
    );
  }
  const metadata = await (await fetch(`${child.url}/__bench/sp-metadata`)).text();
  if (!metadata.includes('<md:SPSSODescriptor ')) {
    throw new BenchError(`Jackson's SP metadata is not what was expected: ${metadata.slice(0, 300)}`);
  }
  // Jackson's metadata does not say WantAssertionsSigned; the IdP then signs the assertion, as for Gatehouse.
  const spMetadata = metadata.includes('WantAssertionsSigned=')
    ? metadata.replace(/WantAssertionsSigned="[^"]*"/, 'WantAssertionsSigned="true"')
    : metadata.replace('<md:SPSSODescriptor ', '<md:SPSSODescriptor WantAssertionsSigned="true" ');
  return {
    ...child,
    clientId: connection.clientID,
    clientSecret: connection.clientSecret,
    spMetadata,
    acsUrl: `${child.url}${JACKSON_ACS_PATH}`,
  };
}

/** The app of a Jackson tenant and the requests of its logins. */
export class JacksonApp {
  readonly jackson: JacksonChild;
  readonly idpOrigin: string;
  constructor(jackson: JacksonChild, idpOrigin: string) {
    this.jackson = jackson;
    this.idpOrigin = idpOrigin;
  }

  /** GET /api/oauth/authorize for the tenant and product (client_id `dummy`, as Jackson's docs say). */
  authorizePath(state: string): string {
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: 'dummy',
      tenant: JACKSON_TENANT,
      product: JACKSON_PRODUCT,
      redirect_uri: APP_REDIRECT_URI,
      state,
    });
    return `/api/oauth/authorize?${query}`;
  }

  checkUpstream(answer: Answer): URL {
    expectStatus('authorize', answer, 302);
    const upstream = new URL(answer.location ?? '', this.jackson.url);
    if (upstream.origin !== this.idpOrigin || !upstream.searchParams.get('SAMLRequest')) {
      throw new StepFailure(
        'authorize',
        302,
        `redirect to ${upstream.href}, not to the IdP with a SAMLRequest`,
      );
    }
    return upstream;
  }

  /** A new browser's authorize: the IdP's URL with the AuthnRequest and RelayState (Jackson sets no cookie). */
  async startLogin(state: string): Promise<{ upstream: URL; cookie: string }> {
    const answer = await send('authorize', `${this.jackson.url}${this.authorizePath(state)}`);
    return { upstream: this.checkUpstream(answer), cookie: '' };
  }

  /** The ACS's answer: a 302 to the app with a code. Returns the code. */
  codeFrom(answer: Answer): string {
    expectStatus('acs', answer, 302);
    const url = URL.canParse(answer.location ?? '') ? new URL(answer.location as string) : null;
    const code = url?.searchParams.get('code');
    if (!url || `${url.origin}${url.pathname}` !== APP_REDIRECT_URI || !code) {
      throw new StepFailure('acs', 302, `redirect to ${answer.location}, not to the app with a code`);
    }
    return code;
  }

  tokenHeaders(): Record<string, string> {
    return { 'content-type': 'application/x-www-form-urlencoded' };
  }

  /** POST /api/oauth/token's body: the code, the redirect URI and the connection's client ID and secret. */
  tokenBody(code: string): string {
    return new URLSearchParams({
      grant_type: 'authorization_code',
      client_id: this.jackson.clientId,
      client_secret: this.jackson.clientSecret,
      redirect_uri: APP_REDIRECT_URI,
      code,
    }).toString();
  }

  profileHeaders(accessToken: string): Record<string, string> {
    return { authorization: `Bearer ${accessToken}` };
  }

  /** The code exchange and userinfo; returns the access token and the profile's email. */
  async redeem(code: string): Promise<{ accessToken: string; email: string }> {
    const token = await send('token', `${this.jackson.url}/api/oauth/token`, {
      method: 'POST',
      headers: this.tokenHeaders(),
      body: this.tokenBody(code),
    });
    expectStatus('token', token, 200);
    const accessToken = (JSON.parse(token.text) as { access_token?: unknown }).access_token;
    if (typeof accessToken !== 'string') throw new StepFailure('token', 200, token.text.slice(0, 300));
    const profile = await send('profile', `${this.jackson.url}/api/oauth/userinfo`, {
      headers: this.profileHeaders(accessToken),
    });
    expectStatus('profile', profile, 200);
    const email = (JSON.parse(profile.text) as { email?: unknown }).email;
    if (typeof email !== 'string') throw new StepFailure('profile', 200, profile.text.slice(0, 300));
    return { accessToken, email };
  }
}
