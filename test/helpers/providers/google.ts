import { createHash } from 'node:crypto';
import Provider from 'oidc-provider';
import {
  type AuthorizeError,
  acceptBasicAuth,
  countHit,
  listen,
  mapSelectAccount,
  type ProviderMiddleware,
  rsaSigningKey,
  stableHex,
  typedLoginAs,
  upsertClient,
} from './common.ts';

/**
 * A stand-in for "Sign in with Google" (accounts.google.com): a real OpenID Provider (`oidc-provider`) whose issuer
 * is its own origin, as Google's issuer is `https://accounts.google.com`, so Gatehouse reaches it through
 * `oauth_options.base_url` and finds `${base}/.well-known/openid-configuration`. Endpoints sit at Google's paths
 * (`/o/oauth2/v2/auth`, `/token`, `/oauth2/v3/certs`, `/v1/userinfo`, `/revoke`).
 *
 * Behaves like Google where Gatehouse can tell:
 * - ID tokens carry the profile (`email`, `email_verified`, `name`, `given_name`, `family_name`, `picture`,
 *   `locale`) and `hd` for Workspace users; `sub` is a numeric string;
 * - `access_type=offline` (and only that) gets a refresh token, which does not rotate;
 * - `hd`, `include_granted_scopes`, `access_type`, `enable_granular_consent` are accepted; `prompt=select_account`
 *   shows the login form;
 * - the success redirect carries Google's extra parameters (`scope` in Google's long form, `authuser`, `prompt`,
 *   `hd`); a user who cancels comes back with a bare `error=access_denied`;
 * - token errors look like Google's (`invalid_grant` "Bad Request", `invalid_client` "Unauthorized");
 * - the client may authenticate with `client_secret_post` or `client_secret_basic`; PKCE (S256) is optional.
 *
 * The login form's typed login selects the user (see `defaultGoogleUser` and `users`).
 */

/** Google's ID token claims about a user. Keys set to `undefined` in `users` are left out. */
export interface GoogleUser {
  /** Numeric string, e.g. '108318116164531357810'. */
  sub: string;
  email: string;
  email_verified: boolean;
  name?: string;
  given_name?: string;
  family_name?: string;
  picture?: string;
  locale?: string;
  /** The Google Workspace domain; absent for consumer (gmail.com) accounts. */
  hd?: string;
  [claim: string]: unknown;
}

export interface GoogleStandIn {
  /** The stand-in's origin, no trailing slash: `oauth_options.base_url`, and the issuer. */
  baseUrl: string;
  issuer: string;
  port: number;
  provider: Provider;
  clientId: string;
  clientSecret: string;
  /** Claims by typed login, over `defaultGoogleUser(login)`; change it at will. */
  users: Map<string, Partial<GoogleUser>>;
  /** Every authorization request (not the resumes after login/consent), as received, in order. */
  authorizeRequests: URL[];
  /** Every token request's form body (client credentials included), in order. */
  tokenRequests: URLSearchParams[];
  /** How many times each path was requested. */
  hits: Map<string, number>;
  /** While set, authorization requests with a valid client and redirect URI are answered with this error. */
  authorizeError: AuthorizeError | undefined;
  /** While set, the token endpoint answers this (with `status`, default 400) instead of issuing tokens. */
  tokenError: { status?: number; error: string; error_description?: string } | undefined;
  /** Registers one more redirect URI for the client (e.g. Gatehouse's callback, known once the connection exists). */
  allowRedirectUri(uri: string): Promise<void>;
  close(): Promise<void>;
}

/** Consumer domains: their users have no `hd`. */
const CONSUMER_DOMAINS = new Set(['gmail.com', 'googlemail.com']);

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/**
 * The claims of the user who types `login` when the test gave none: the login is the email (`@gmail.com` added when
 * it has no @); verified unless the login contains `unverified`; `hd` is the email's domain except for gmail.com;
 * `sub` is a stable 21-digit number. `alice@example.com` → Alice Example, verified, hd example.com.
 */
export function defaultGoogleUser(login: string): GoogleUser {
  const email = (login.includes('@') ? login : `${login}@gmail.com`).toLowerCase();
  const [local = '', domain = ''] = email.split('@');
  const given = capitalize(local.split(/[._+-]/)[0] ?? local);
  const family = capitalize(domain.split('.')[0] ?? domain);
  const digits = BigInt(`0x${createHash('sha256').update(email).digest('hex')}`) % 10n ** 20n;
  return {
    sub: `1${digits.toString().padStart(20, '0')}`,
    email,
    email_verified: !login.includes('unverified'),
    name: `${given} ${family}`,
    given_name: given,
    family_name: family,
    picture: `https://lh3.googleusercontent.com/a/ACg8oc${stableHex(email, 24)}=s96-c`,
    locale: 'en',
    ...(CONSUMER_DOMAINS.has(domain) ? {} : { hd: domain }),
  };
}

const AUTH_PATH = '/o/oauth2/v2/auth';
const TOKEN_PATH = '/token';
/** Google's long names for the OpenID scopes, as its success redirect's `scope` spells them. */
const LONG_SCOPES: Record<string, string> = {
  email: 'https://www.googleapis.com/auth/userinfo.email',
  profile: 'https://www.googleapis.com/auth/userinfo.profile',
};

/**
 * Starts the Google stand-in on 127.0.0.1 (`port`, or a free one). `redirectUris` may be empty and filled later
 * with `allowRedirectUri`. `users` gives claims by typed login (merged over `defaultGoogleUser`).
 */
export async function startGoogle(
  options: {
    redirectUris?: string[];
    port?: number;
    clientId?: string;
    clientSecret?: string;
    users?: Record<string, Partial<GoogleUser>>;
  } = {},
): Promise<GoogleStandIn> {
  const listening = await listen(options.port);
  const baseUrl = listening.url;
  const clientId = options.clientId ?? '1234567890-gatehouse.apps.googleusercontent.com';
  const clientSecret = options.clientSecret ?? 'GOCSPX-gatehouse-test-secret-0123';
  const users = new Map(Object.entries(options.users ?? {}));
  /** sub → the login typed for it (the account ID is the `sub`). */
  const logins = new Map<string, string>();
  const redirectUris = [...(options.redirectUris ?? [])];
  /** Authorization codes issued for a request with access_type=offline. */
  const offlineCodes = new Set<string>();

  const userFor = (login: string): GoogleUser => {
    const merged: Record<string, unknown> = { ...defaultGoogleUser(login), ...users.get(login) };
    for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
    return merged as GoogleUser;
  };

  const provider = new Provider(baseUrl, {
    routes: {
      authorization: AUTH_PATH,
      token: TOKEN_PATH,
      jwks: '/oauth2/v3/certs',
      userinfo: '/v1/userinfo',
      revocation: '/revoke',
    },
    scopes: ['openid', 'email', 'profile'],
    claims: {
      openid: ['sub', 'hd'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name', 'picture', 'locale'],
    },
    // Google puts the profile in the ID token, not only behind the userinfo endpoint.
    conformIdTokenClaims: false,
    jwks: { keys: [await rsaSigningKey(stableHex(`google ${listening.port}`, 40))] },
    extraParams: ['access_type', 'hd', 'include_granted_scopes', 'enable_granular_consent'],
    features: { devInteractions: { enabled: true }, revocation: { enabled: true } },
    pkce: { required: () => false },
    cookies: {
      names: {
        session: `_google_session_${listening.port}`,
        interaction: `_google_interaction_${listening.port}`,
        resume: `_google_resume_${listening.port}`,
      },
    },
    async issueRefreshToken(_ctx, client, code) {
      return client.grantTypeAllowed('refresh_token') && offlineCodes.has(code.jti);
    },
    rotateRefreshToken: false,
    async findAccount(_ctx, sub) {
      const login = logins.get(sub);
      if (login === undefined) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { ...userFor(login), sub };
        },
      };
    },
  });
  const registerClient = () =>
    upsertClient(provider, {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUris.length ? redirectUris : ['http://127.0.0.1/no-redirect-uri-yet'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    });
  await registerClient();

  const standIn: GoogleStandIn = {
    baseUrl,
    issuer: baseUrl,
    port: listening.port,
    provider,
    clientId,
    clientSecret,
    users,
    authorizeRequests: [],
    tokenRequests: [],
    hits: new Map(),
    authorizeError: undefined,
    tokenError: undefined,
    async allowRedirectUri(uri) {
      if (!redirectUris.includes(uri)) redirectUris.push(uri);
      await registerClient();
    },
    close: () => listening.close(),
  };

  const bookkeeping: ProviderMiddleware = async (ctx, next) => {
    countHit(standIn.hits, ctx.path);
    if (ctx.path === AUTH_PATH && ctx.method === 'GET') {
      standIn.authorizeRequests.push(new URL(ctx.href));
      const redirectUri = String(ctx.query.redirect_uri ?? '');
      if (standIn.authorizeError && ctx.query.client_id === clientId && redirectUris.includes(redirectUri)) {
        const back = new URL(redirectUri);
        for (const [k, v] of Object.entries(standIn.authorizeError)) if (v) back.searchParams.set(k, v);
        if (typeof ctx.query.state === 'string') back.searchParams.set('state', ctx.query.state);
        ctx.redirect(back.href);
        return;
      }
      if (typeof ctx.query.prompt === 'string')
        ctx.query = { ...ctx.query, prompt: mapSelectAccount(ctx.query.prompt) };
    }
    await next();
  };

  const tokenEndpoint: ProviderMiddleware = async (ctx, next) => {
    if (ctx.path !== TOKEN_PATH || ctx.method !== 'POST') return next();
    if (standIn.tokenError) {
      const { status = 400, ...body } = standIn.tokenError;
      ctx.status = status;
      ctx.body = body;
      return;
    }
    await next();
    const body = ctx.oidc?.body;
    if (body) {
      standIn.tokenRequests.push(
        new URLSearchParams(Object.entries(body).map(([k, v]) => [k, String(v)] as [string, string])),
      );
    }
    const response = ctx.body as { error?: string; refresh_token?: string } | undefined;
    // oidc-provider repeats the refresh token it did not rotate; Google's refresh responses carry none.
    if (body?.grant_type === 'refresh_token') delete response?.refresh_token;
    const error = response?.error;
    if (error === 'invalid_grant') ctx.body = { error, error_description: 'Bad Request' };
    if (error === 'invalid_client') ctx.body = { error, error_description: 'Unauthorized' };
  };

  // Cancel at the login or consent page: Google answers a bare error=access_denied.
  const abort: ProviderMiddleware = async (ctx, next) => {
    if (!/^\/interaction\/[^/]+\/abort$/.test(ctx.path)) return next();
    ctx.respond = false;
    await provider.interactionFinished(
      ctx.req,
      ctx.res,
      { error: 'access_denied' },
      { mergeWithLastSubmission: false },
    );
  };

  const authorizationResponse: ProviderMiddleware = async (ctx, next) => {
    await next();
    const route = ctx.oidc?.route;
    const location = ctx.response.get('location');
    if ((route !== 'authorization' && route !== 'resume') || !location) return;
    const back = new URL(location, ctx.href);
    if (!redirectUris.includes(`${back.origin}${back.pathname}`)) return;
    const code = ctx.oidc.entities.AuthorizationCode;
    if (code && back.searchParams.has('code')) {
      if (ctx.oidc.params?.access_type === 'offline') offlineCodes.add(code.jti);
      const scopes: string[] = String(code.scope ?? '')
        .split(' ')
        .filter(Boolean);
      back.searchParams.set('scope', [...scopes, ...scopes.flatMap((s) => LONG_SCOPES[s] ?? [])].join(' '));
      back.searchParams.set('authuser', '0');
      const login = code.accountId ? logins.get(code.accountId) : undefined;
      const hd = login === undefined ? undefined : userFor(login).hd;
      if (hd) back.searchParams.set('hd', hd);
      back.searchParams.set('prompt', ctx.oidc.params?.prompt === 'none' ? 'none' : 'consent');
    }
    if (back.searchParams.get('error') === 'access_denied') back.searchParams.delete('error_description');
    ctx.set('location', back.href);
  };

  provider.use(bookkeeping);
  provider.use(acceptBasicAuth(TOKEN_PATH));
  provider.use(tokenEndpoint);
  provider.use(abort);
  provider.use(
    typedLoginAs(provider, (login) => {
      const { sub } = userFor(login);
      logins.set(sub, login);
      return sub;
    }),
  );
  provider.use(authorizationResponse);
  listening.handle = provider.callback();
  return standIn;
}
