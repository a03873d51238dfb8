/**
 * One SSO login as it happens in production, for bench/login.ts and bench/token.ts: the app (the official
 * WorkOS SDK, or raw HTTP with exactly the requests the SDK sends), a user's browser (bench/browser.ts),
 * Gatehouse and the bench OpenID provider with its login and consent forms (bench/idp.ts). And the same login
 * against the OpenID provider alone, as the reference for what the provider costs.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { WorkOS } from '@workos-inc/node';
import { type Answer, BenchBrowser, expectStatus, send } from './browser.ts';
import { BenchError, type GatehouseChild, HOST, StepFailure } from './lib.ts';

export const APP_REDIRECT_URI = 'https://app.example.com/callback';
export const IDP_CLIENT_ID = 'gatehouse-bench';
/** The domain of every user's email at the bench OpenID provider; the organization has it verified. */
export const USER_DOMAIN = 'example.com';
/** Logins cycle through this many users: after the first of each, a login updates a known profile. */
export const USERS = 1000;

export const userFor = (sequence: number) => `user${sequence % USERS}`;

/**
 * Headers Node's `fetch` (the SDK's transport) puts on the wire besides those the SDK passes it, as observed
 * on Node 24: a raw request without them would be a different request.
 */
const FETCH_WIRE_HEADERS: Record<string, string> = {
  'accept-language': '*',
  'sec-fetch-mode': 'cors',
  'accept-encoding': 'gzip, deflate',
};

interface RecordedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | null;
}

/**
 * The app's two requests after the redirect, as `sso.getProfileAndToken()` and `sso.getProfile()` send them,
 * recorded from the SDK itself (see `GatehouseApp.verifyWithSdk`).
 */
export class SdkRequests {
  readonly #token: RecordedRequest;
  readonly #bodyPrefix: string;
  readonly #bodySuffix: string;
  readonly #profile: RecordedRequest;

  constructor(token: RecordedRequest, code: string, profile: RecordedRequest) {
    this.#token = token;
    this.#profile = profile;
    const body = token.body ?? '';
    const field = `code=${encodeURIComponent(code)}`;
    const at = body.indexOf(field);
    if (at === -1) throw new BenchError(`the SDK's token request has no code in its body: ${body}`);
    this.#bodyPrefix = body.slice(0, at + 'code='.length);
    this.#bodySuffix = body.slice(at + field.length);
    const key = Object.entries(token.headers).find(([k]) => k.toLowerCase() === 'idempotency-key')?.[1];
    if (!key || !/^retry-[0-9a-f-]{36}$/.test(key)) {
      throw new BenchError(
        `the SDK's token request has an unexpected Idempotency-Key: ${JSON.stringify(key)}`,
      );
    }
  }

  /** The headers of POST /sso/token, with a fresh `Idempotency-Key` as the SDK makes one per call. */
  tokenHeaders(): Record<string, string> {
    const headers: Record<string, string> = { ...FETCH_WIRE_HEADERS };
    for (const [k, v] of Object.entries(this.#token.headers)) {
      headers[k] = k.toLowerCase() === 'idempotency-key' ? `retry-${randomUUID()}` : v;
    }
    return headers;
  }

  /** The body of POST /sso/token for `code` (base64url: nothing to escape), parameters in the SDK's order. */
  tokenBody(code: string): string {
    return `${this.#bodyPrefix}${code}${this.#bodySuffix}`;
  }

  /** The headers of GET /sso/profile for an access token. */
  profileHeaders(accessToken: string): Record<string, string> {
    const headers: Record<string, string> = { ...FETCH_WIRE_HEADERS };
    for (const [k, v] of Object.entries(this.#profile.headers)) {
      headers[k] = k.toLowerCase() === 'authorization' ? `Bearer ${accessToken}` : v;
    }
    return headers;
  }

  /** For the report: the recorded token request with the secrets elided. */
  describeToken(): string {
    const names = Object.keys(this.#token.headers).join(', ');
    const params = [...new URLSearchParams(this.#token.body ?? '').keys()].join(', ');
    const wire = Object.keys(FETCH_WIRE_HEADERS).join(', ');
    return `POST /sso/token, headers ${names} (+ ${wire} from fetch), form ${params}`;
  }
}

interface TokenResponse {
  access_token?: unknown;
  profile?: { id?: unknown; email?: unknown };
}

/** The app of a Gatehouse environment, and the logins through it. */
export class GatehouseApp {
  readonly gatehouse: GatehouseChild;
  readonly organizationId: string;
  readonly callbackUrl: string;
  /** GATEHOUSE_SIGNIN_CONSENT of that Gatehouse: its consent screen between the callback and the app. */
  readonly consent: boolean;
  readonly idpIssuer: string;
  readonly #workos: WorkOS;

  constructor(options: {
    gatehouse: GatehouseChild;
    organizationId: string;
    callbackUrl: string;
    consent: boolean;
    idpIssuer: string;
  }) {
    this.gatehouse = options.gatehouse;
    this.organizationId = options.organizationId;
    this.callbackUrl = options.callbackUrl;
    this.consent = options.consent;
    this.idpIssuer = options.idpIssuer;
    this.#workos = this.#sdk();
  }

  #sdk(fetchFn?: typeof fetch): WorkOS {
    return new WorkOS(this.gatehouse.apiKey, {
      apiHostname: HOST,
      port: this.gatehouse.port,
      https: false,
      clientId: this.gatehouse.clientId,
      ...(fetchFn ? { fetchFn } : {}),
    });
  }

  /**
   * The browser's part of login number `sequence`: the app's authorization URL (from the SDK), Gatehouse's
   * redirect to the IdP, the IdP's login and consent forms, Gatehouse's callback (and its consent screen,
   * when on), and the redirect to the app with a code. Returns the code and the URL Gatehouse sent the
   * browser to at the IdP.
   */
  async code(sequence: number): Promise<{ code: string; upstream: URL }> {
    const gh = this.gatehouse.url;
    const browser = new BenchBrowser();
    const state = `bench-${sequence}`;
    const authorizeUrl = this.#workos.sso.getAuthorizationUrl({
      clientId: this.gatehouse.clientId,
      redirectUri: APP_REDIRECT_URI,
      organization: this.organizationId,
      state,
    });
    const authorize = await browser.request('authorize', new URL(authorizeUrl));
    expectStatus('authorize', authorize, 302);
    const upstream = new URL(authorize.location ?? '', gh);
    if (upstream.origin !== this.idpIssuer) {
      throw new StepFailure('authorize', 302, `redirect to ${upstream.href}, not to the IdP`);
    }
    const back = await browser.signInAtIdp(upstream, userFor(sequence), this.callbackUrl);
    const callback = await browser.request('callback', back);
    const code = await this.finishAtApp(browser, 'callback', callback, 302, state);
    return { code, upstream };
  }

  /**
   * After Gatehouse's answer to the IdP's return (`step`: the callback or the ACS): the consent screen when on
   * (approved), then the redirect to the app, which must carry a code and the app's `state`. Returns the code.
   * `redirectStatus` is the status of that redirect when the consent screen is off (302 or 303).
   */
  protected async finishAtApp(
    browser: BenchBrowser,
    step: string,
    answer: Answer,
    redirectStatus: number,
    state: string,
  ): Promise<string> {
    const gh = this.gatehouse.url;
    let last = answer;
    if (this.consent) {
      expectStatus(step, answer, 200);
      const token = /name="consent_token" value="([^"]+)"/.exec(answer.text)?.[1];
      if (!token) throw new StepFailure(step, 200, `not the consent screen: ${answer.text.slice(0, 300)}`);
      last = await browser.request('consent', new URL('/sso/consent', gh), {
        form: { consent_token: token, decision: 'approve' },
        headers: { origin: gh },
      });
      expectStatus('consent', last, 303);
    } else {
      expectStatus(step, answer, redirectStatus);
    }
    const app = new URL(last.location ?? '', gh);
    const code = app.searchParams.get('code');
    if (
      `${app.origin}${app.pathname}` !== APP_REDIRECT_URI ||
      !code ||
      app.searchParams.get('state') !== state
    ) {
      throw new StepFailure(this.consent ? 'consent' : step, last.status, `redirect to ${app.href}`);
    }
    return code;
  }

  /**
   * The app's part, raw: POST /sso/token and GET /sso/profile exactly as the SDK sends them; checks the user
   * and that both answers name the same profile.
   */
  async redeem(sdk: SdkRequests, code: string, sequence: number): Promise<void> {
    const gh = this.gatehouse.url;
    const token = await send('token', `${gh}/sso/token`, {
      method: 'POST',
      headers: sdk.tokenHeaders(),
      body: sdk.tokenBody(code),
    });
    expectStatus('token', token, 200);
    const parsed = JSON.parse(token.text) as TokenResponse;
    const email = `${userFor(sequence)}@${USER_DOMAIN}`;
    if (typeof parsed.access_token !== 'string' || parsed.profile?.email !== email) {
      throw new StepFailure('token', 200, `not a token response for ${email}: ${token.text.slice(0, 300)}`);
    }
    const profile = await send('profile', `${gh}/sso/profile`, {
      headers: sdk.profileHeaders(parsed.access_token),
    });
    expectStatus('profile', profile, 200);
    const id = (JSON.parse(profile.text) as { id?: unknown }).id;
    if (id !== parsed.profile.id) {
      throw new StepFailure('profile', 200, `profile ${String(id)} instead of ${String(parsed.profile.id)}`);
    }
  }

  /** One whole login, as the benchmark loop runs it. */
  async login(sdk: SdkRequests, sequence: number): Promise<void> {
    const { code } = await this.code(sequence);
    await this.redeem(sdk, code, sequence);
  }

  /**
   * One login whose code is exchanged, and the profile fetched, by the official SDK (`getProfileAndToken`,
   * `getProfile`) through a `fetch` that records what it sends: those records are the raw requests of the
   * benchmark. Then a second login through the raw requests must give the same profile. Throws a BenchError
   * on anything unexpected.
   */
  async verifyWithSdk(sequence: number): Promise<{
    sdk: SdkRequests;
    upstream: URL;
    profileId: string;
    /** The codes of the two logins, both redeemed. */
    codes: string[];
    /** The body of the raw token response of the second login. */
    tokenResponse: string;
  }> {
    const recorded: RecordedRequest[] = [];
    const recording: typeof fetch = (input, init) => {
      const body = init?.body;
      recorded.push({
        method: init?.method ?? 'GET',
        url: String(input),
        headers: { ...(init?.headers as Record<string, string>) },
        body: body instanceof URLSearchParams ? body.toString() : typeof body === 'string' ? body : null,
      });
      return fetch(input, init);
    };
    const workos = this.#sdk(recording);
    try {
      const { code, upstream } = await this.code(sequence);
      const { accessToken, profile } = await workos.sso.getProfileAndToken({
        code,
        clientId: this.gatehouse.clientId,
      });
      const again = await workos.sso.getProfile({ accessToken });
      const email = `${userFor(sequence)}@${USER_DOMAIN}`;
      if (
        profile.email !== email ||
        again.id !== profile.id ||
        profile.organizationId !== this.organizationId
      ) {
        throw new BenchError(
          `the SDK got an unexpected profile: ${JSON.stringify(profile)} then ${JSON.stringify(again)}`,
        );
      }
      const [tokenRequest, profileRequest] = recorded;
      if (
        recorded.length !== 2 ||
        !tokenRequest?.url.endsWith('/sso/token') ||
        !profileRequest?.url.endsWith('/sso/profile')
      ) {
        throw new BenchError(
          `the SDK sent unexpected requests: ${JSON.stringify(recorded.map((r) => r.url))}`,
        );
      }
      const sdk = new SdkRequests(tokenRequest, code, profileRequest);

      // The same user again, through the raw requests: same profile.
      const second = await this.code(sequence);
      const token = await send('token', `${this.gatehouse.url}/sso/token`, {
        method: 'POST',
        headers: sdk.tokenHeaders(),
        body: sdk.tokenBody(second.code),
      });
      expectStatus('token', token, 200);
      const raw = JSON.parse(token.text) as TokenResponse;
      if (raw.profile?.id !== profile.id) {
        throw new BenchError(`the raw token request got another profile: ${token.text.slice(0, 500)}`);
      }
      return { sdk, upstream, profileId: profile.id, codes: [code, second.code], tokenResponse: token.text };
    } catch (err) {
      if (err instanceof StepFailure) {
        throw new BenchError(
          `a login through Gatehouse (${this.consent ? 'consent on' : 'consent off'}) failed at ${err.message}`,
        );
      }
      throw err;
    }
  }
}

/**
 * The same login against the OpenID provider alone, as an app that talks to it directly would do it, with
 * Gatehouse's requests to it: the browser's (authorization request as Gatehouse builds it, login form,
 * consent form, redirect with a code), then the code exchange and, if Gatehouse makes one, the userinfo
 * request.
 */
export class IdpOnlyApp {
  readonly #template: URL;
  readonly #redirectUri: string;
  readonly #clientId: string;
  readonly #clientSecret: string;
  readonly #tokenEndpoint: string;
  readonly #userinfoEndpoint: string | null;

  /**
   * `template`: the authorization URL Gatehouse sent a browser to (its `state`, `nonce` and PKCE challenge are
   * replaced for each login). `userinfoEndpoint`: null when Gatehouse does not call userinfo.
   */
  constructor(options: {
    template: URL;
    clientSecret: string;
    tokenEndpoint: string;
    userinfoEndpoint: string | null;
  }) {
    this.#template = options.template;
    this.#redirectUri = options.template.searchParams.get('redirect_uri') ?? '';
    this.#clientId = options.template.searchParams.get('client_id') ?? '';
    this.#clientSecret = options.clientSecret;
    this.#tokenEndpoint = options.tokenEndpoint;
    this.#userinfoEndpoint = options.userinfoEndpoint;
  }

  async login(sequence: number): Promise<void> {
    const verifier = randomBytes(32).toString('base64url');
    const state = randomBytes(16).toString('base64url');
    const url = new URL(this.#template);
    url.searchParams.set('state', state);
    if (url.searchParams.has('nonce')) url.searchParams.set('nonce', randomBytes(16).toString('base64url'));
    url.searchParams.set('code_challenge', createHash('sha256').update(verifier).digest('base64url'));
    const back = await new BenchBrowser().signInAtIdp(url, userFor(sequence), this.#redirectUri);
    const code = back.searchParams.get('code');
    if (!code || back.searchParams.get('state') !== state) {
      throw new StepFailure('idp', 303, `redirect to ${back.href}`);
    }
    const token = await send('idp token', this.#tokenEndpoint, {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: this.#redirectUri,
        code_verifier: verifier,
        client_id: this.#clientId,
        client_secret: this.#clientSecret,
      }).toString(),
    });
    expectStatus('idp token', token, 200);
    const { access_token: accessToken, id_token: idToken } = JSON.parse(token.text) as Record<
      string,
      unknown
    >;
    if (typeof accessToken !== 'string' || typeof idToken !== 'string') {
      throw new StepFailure('idp token', 200, token.text.slice(0, 300));
    }
    if (this.#userinfoEndpoint) {
      const userinfo = await send('idp userinfo', this.#userinfoEndpoint, {
        headers: { accept: 'application/json', authorization: `Bearer ${accessToken}` },
      });
      expectStatus('idp userinfo', userinfo, 200);
    }
  }
}
