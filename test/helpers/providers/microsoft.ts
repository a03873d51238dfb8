import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { CompactSign, importJWK } from 'jose';
import Provider from 'oidc-provider';
import {
  acceptBasicAuth,
  countHit,
  escapeHtml,
  listen,
  mapSelectAccount,
  type ProviderMiddleware,
  rsaSigningKey,
  sendHtml,
  sendJson,
  stableHex,
  typedLoginAs,
  upsertClient,
} from './common.ts';

/**
 * A stand-in for "Sign in with Microsoft": Entra ID's v2.0 endpoints (login.microsoftonline.com) with the
 * multi-tenant authorities, reached through `oauth_options.base_url`.
 *
 * - `${base}/common/v2.0/.well-known/openid-configuration` (also `organizations`) has Microsoft's templated issuer
 *   `${base}/{tenantid}/v2.0` (literally `{tenantid}`) and endpoints under `${base}/common/...`;
 *   `${base}/${tid}/v2.0/.well-known/openid-configuration` has issuer `${base}/${tid}/v2.0` and endpoints under
 *   `${base}/${tid}/...`. Endpoints: `/oauth2/v2.0/authorize`, `/oauth2/v2.0/token`, `/discovery/v2.0/keys` (the
 *   same keys for every tenant, as Microsoft's), userinfo at `${base}/oidc/userinfo`. Unknown tenants get
 *   AADSTS90002.
 * - An ID token's `iss` is `${base}/${tid}/v2.0` for the signed-in user's tenant (through `common`), or for the
 *   authority's tenant (through a tenant's own endpoints: a user from elsewhere signs in as a guest, `tid` is that
 *   tenant too). Claims: `sub` (pairwise, per app), `oid`, `tid`, `ver: "2.0"`, `name`, `preferred_username` (the
 *   UPN), `email`, `xms_edov`, `aud`, `nonce`. A user's `claims` override anything in the signed token: the
 *   forgery hook (`claims: { tid: OTHER_TID }` makes the user's tenant sign a token naming another tenant).
 * - `offline_access` in scope gets a refresh token (rotated on use); token responses carry `expires_in` and
 *   `ext_expires_in`; no `iss` in authorization responses (Microsoft sends none), a `session_state` instead.
 * - Cancel at the login or consent page (`declineAtProvider`) redirects with `error=access_denied`,
 *   `error_subcode=cancel` and `error_description=AADSTS65004: User declined to consent to access the app.` followed
 *   by Microsoft's CRLF-separated Trace ID / Correlation ID / Timestamp lines.
 * - Errors at the token endpoint have Microsoft's JSON shape (`error_codes`, `trace_id`, AADSTS descriptions);
 *   `authorizeError` / `tokenError` inject one (see `MICROSOFT_ERRORS`).
 *
 * Built as one oidc-provider mounted under every authority (`/common`, `/organizations`, `/${tid}`) behind a
 * node:http front that serves Microsoft's discovery documents, plus a token-endpoint hook that re-signs each ID
 * token with the shared key after setting `iss` for the tenant: the login typed on the form picks the user, and the
 * user picks the tenant, as on Microsoft's common endpoint.
 */

/** Tenant IDs of the default users' organizations. */
export const CONTOSO_TID = '72f988bf-86f1-41af-91ab-2d7cd011db47';
export const FABRIKAM_TID = 'b0a1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d';
/** The tenant of personal Microsoft accounts (outlook.com, hotmail.com, live.com). */
export const MSA_TID = '9188040d-6c67-4c5b-b112-36a304b66dad';

export interface MicrosoftUser {
  /** The user's home tenant: whose issuer signs their tokens through `common`. */
  tid: string;
  /** The user's object ID (a GUID). */
  oid: string;
  name: string;
  /** The UPN. */
  preferred_username: string;
  /** The `email` optional claim; may differ from the UPN. */
  email?: string;
  /** Whether the tenant verified the email's domain (`xms_edov` optional claim). */
  xms_edov?: boolean;
  /** Claims put into the signed ID token last, over everything (forgery: `{ tid: OTHER_TID }`, `{ iss: ... }`). */
  claims?: Record<string, unknown>;
}

/** An AADSTS error: what `authorizeError` / `tokenError` take. */
export interface MicrosoftError {
  error: string;
  /** The AADSTS number. */
  code: number;
  message: string;
  /** Token endpoint only: the HTTP status (400 by default, 401 for `invalid_client`). */
  status?: number;
}

/** Errors as Microsoft sends them. */
export const MICROSOFT_ERRORS = {
  declined: { error: 'access_denied', code: 65004, message: 'User declined to consent to access the app.' },
  missingField: {
    error: 'invalid_request',
    code: 90014,
    message:
      "The required field 'code' is missing from the credential. Ensure that you have all the necessary parameters for the login request.",
  },
  expiredCode: {
    error: 'invalid_grant',
    code: 70008,
    message:
      'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.',
  },
  redeemedCode: {
    error: 'invalid_grant',
    code: 54005,
    message:
      'OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.',
  },
  pkceMismatch: {
    error: 'invalid_grant',
    code: 501481,
    message: 'The Code_Verifier does not match the code_challenge supplied in the authorization request.',
  },
  invalidGrant: {
    error: 'invalid_grant',
    code: 9002313,
    message: 'Invalid request. Request is malformed or invalid.',
  },
  badSecret: {
    error: 'invalid_client',
    code: 7000215,
    status: 401,
    message:
      'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.',
  },
} satisfies Record<string, MicrosoftError>;

export interface MicrosoftStandIn {
  /** The stand-in's origin, no trailing slash: `oauth_options.base_url`. */
  baseUrl: string;
  port: number;
  /** The configured tenant IDs (the authorities besides `common` and `organizations`). */
  tenants: string[];
  /** `${base}/${tid}/v2.0`: a tenant's issuer. */
  issuerFor(tid: string): string;
  provider: Provider;
  clientId: string;
  clientSecret: string;
  /** Users by typed login, over `defaultMicrosoftUser(login)`; change it at will. */
  users: Map<string, Partial<MicrosoftUser>>;
  /** Every authorization request (not the resumes after login/consent), as received (the path shows the authority). */
  authorizeRequests: URL[];
  /** Every token request's form body (client credentials included), in order. */
  tokenRequests: URLSearchParams[];
  /** Every ID token issued, decoded (after the tenant's `iss` was set and `claims` applied). */
  idTokens: Record<string, unknown>[];
  /** How many times each path was requested. */
  hits: Map<string, number>;
  /** While set, authorization requests with a valid client and redirect URI redirect back with this error. */
  authorizeError: MicrosoftError | undefined;
  /** While set, the token endpoint answers this error instead of issuing tokens. */
  tokenError: MicrosoftError | undefined;
  /** Registers one more redirect URI for the client (e.g. Gatehouse's callback, known once the connection exists). */
  allowRedirectUri(uri: string): Promise<void>;
  close(): Promise<void>;
}

const AUTHORIZE = '/oauth2/v2.0/authorize';
const TOKEN = '/oauth2/v2.0/token';
const KEYS = '/discovery/v2.0/keys';
const USERINFO = '/oidc/userinfo';
const MULTI_TENANT = new Set(['common', 'organizations']);
const CONSUMER_DOMAINS = new Set(['outlook.com', 'hotmail.com', 'live.com', 'msn.com']);

/** A request forwarded under an authority: `originalUrl` keeps the full path, as Express would. */
type MountedRequest = IncomingMessage & { originalUrl?: string };

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function guid(seed: string): string {
  const h = stableHex(seed, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * The user who types `login` when the test gave none: the UPN is the login (`@contoso.com` added when it has no
 * @), email = UPN; the tenant by domain (contoso.com → CONTOSO_TID, fabrikam.com → FABRIKAM_TID, outlook.com and
 * the like → MSA_TID, else `fallbackTid`); `xms_edov` true unless the login contains `unverified`; `oid` stable.
 */
export function defaultMicrosoftUser(login: string, fallbackTid = CONTOSO_TID): MicrosoftUser {
  const upn = (login.includes('@') ? login : `${login}@contoso.com`).toLowerCase();
  const [local = '', domain = ''] = upn.split('@');
  const tid =
    domain === 'contoso.com'
      ? CONTOSO_TID
      : domain === 'fabrikam.com'
        ? FABRIKAM_TID
        : CONSUMER_DOMAINS.has(domain)
          ? MSA_TID
          : fallbackTid;
  const [first = local, last] = local.split(/[._+-]/);
  return {
    tid,
    oid: guid(`oid ${upn}`),
    name: [capitalize(first), last ? capitalize(last) : capitalize(domain.split('.')[0] ?? '')].join(' '),
    preferred_username: upn,
    email: upn,
    xms_edov: !login.includes('unverified'),
  };
}

/** Microsoft's Trace ID / Correlation ID / Timestamp details. */
function traceDetails() {
  const timestamp = new Date()
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
  return { trace_id: randomUUID(), correlation_id: randomUUID(), timestamp };
}

/**
 * Starts the Microsoft stand-in on 127.0.0.1 (`port`, or a free one). `tenants`: the tenant IDs it knows (default
 * CONTOSO_TID and FABRIKAM_TID; MSA_TID is always known). `redirectUris` may be empty and filled later with
 * `allowRedirectUri`. `users` gives users by typed login (merged over `defaultMicrosoftUser`).
 */
export async function startMicrosoft(
  options: {
    redirectUris?: string[];
    tenants?: string[];
    port?: number;
    clientId?: string;
    clientSecret?: string;
    users?: Record<string, Partial<MicrosoftUser>>;
  } = {},
): Promise<MicrosoftStandIn> {
  const listening = await listen(options.port);
  const baseUrl = listening.url;
  const tenants = (options.tenants ?? [CONTOSO_TID, FABRIKAM_TID]).map((t) => t.toLowerCase());
  const known = new Set([...tenants, MSA_TID]);
  const clientId = options.clientId ?? randomUUID();
  const clientSecret = options.clientSecret ?? 'Gh7Q~gatehouse.test-secret_0123456789abcd';
  const users = new Map(Object.entries(options.users ?? {}));
  const redirectUris = [...(options.redirectUris ?? [])];
  /** sub (the account ID) → the login typed for it. */
  const logins = new Map<string, string>();
  /** The authority (`common`, `organizations` or a tenant ID) each forwarded request came in under. */
  const authorities = new WeakMap<IncomingMessage, string>();
  const issuerFor = (tid: string) => `${baseUrl}/${tid}/v2.0`;

  const userFor = (login: string): MicrosoftUser => {
    const merged: Record<string, unknown> = {
      ...defaultMicrosoftUser(login, tenants[0]),
      ...users.get(login),
    };
    for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
    return merged as unknown as MicrosoftUser;
  };
  /** Pairwise: the same user has another `sub` in another app. */
  const subFor = (user: MicrosoftUser) =>
    createHash('sha256').update(`${user.oid} ${clientId}`).digest('base64url').slice(0, 43);
  const description = (e: MicrosoftError, separator: string) => {
    const t = traceDetails();
    return {
      ...t,
      text: `AADSTS${e.code}: ${e.message}${separator}Trace ID: ${t.trace_id}${separator}Correlation ID: ${t.correlation_id}${separator}Timestamp: ${t.timestamp}`,
    };
  };
  const tokenErrorBody = (e: MicrosoftError) => {
    const d = description(e, ' ');
    return {
      error: e.error,
      error_description: d.text,
      error_codes: [e.code],
      timestamp: d.timestamp,
      trace_id: d.trace_id,
      correlation_id: d.correlation_id,
      error_uri: `${baseUrl}/error?code=${e.code}`,
    };
  };

  const key = await rsaSigningKey(
    createHash('sha1').update(`microsoft ${listening.port}`).digest('base64url'),
  );
  const signingKey = await importJWK(key, 'RS256');
  const provider = new Provider(`${baseUrl}/common/v2.0`, {
    routes: {
      authorization: AUTHORIZE,
      token: TOKEN,
      jwks: KEYS,
      userinfo: USERINFO,
      end_session: '/oauth2/v2.0/logout',
    },
    scopes: ['openid', 'profile', 'email', 'offline_access'],
    claims: {
      openid: ['sub', 'tid', 'ver'],
      profile: ['name', 'preferred_username', 'oid'],
      email: ['email', 'xms_edov'],
    },
    conformIdTokenClaims: false,
    extraParams: ['domain_hint'],
    jwks: { keys: [key] },
    features: { devInteractions: { enabled: true } },
    pkce: { required: () => false },
    cookies: {
      names: {
        session: `_microsoft_session_${listening.port}`,
        interaction: `_microsoft_interaction_${listening.port}`,
        resume: `_microsoft_resume_${listening.port}`,
      },
    },
    rotateRefreshToken: true,
    async findAccount(_ctx, sub) {
      const login = logins.get(sub);
      if (login === undefined) return undefined;
      return {
        accountId: sub,
        async claims() {
          const { claims: _forged, ...user } = userFor(login);
          return { ...user, sub, ver: '2.0' };
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

  const standIn: MicrosoftStandIn = {
    baseUrl,
    port: listening.port,
    tenants,
    issuerFor,
    provider,
    clientId,
    clientSecret,
    users,
    authorizeRequests: [],
    tokenRequests: [],
    idTokens: [],
    hits: new Map(),
    authorizeError: undefined,
    tokenError: undefined,
    async allowRedirectUri(uri) {
      if (!redirectUris.includes(uri)) redirectUris.push(uri);
      await registerClient();
    },
    close: () => listening.close(),
  };

  const discovery = (authority: string) => {
    const at = `${baseUrl}/${authority}`;
    const multi = MULTI_TENANT.has(authority);
    return {
      token_endpoint: `${at}${TOKEN}`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${at}${KEYS}`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: multi ? `${baseUrl}/{tenantid}/v2.0` : issuerFor(authority),
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${baseUrl}${USERINFO}`,
      authorization_endpoint: `${at}${AUTHORIZE}`,
      device_authorization_endpoint: `${at}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${at}/oauth2/v2.0/logout`,
      claims_supported: [
        'sub',
        'iss',
        'cloud_instance_name',
        'cloud_instance_host_name',
        'cloud_graph_host_name',
        'msgraph_host',
        'aud',
        'exp',
        'iat',
        'auth_time',
        'acr',
        'nonce',
        'preferred_username',
        'name',
        'tid',
        'ver',
        'at_hash',
        'c_hash',
        'email',
      ],
      kerberos_endpoint: `${at}/kerberos`,
      tenant_region_scope: multi ? null : 'NA',
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
      rbac_url: 'https://pas.windows.net',
    };
  };

  listening.handle = (req, res) => {
    const url = new URL(req.url ?? '/', baseUrl);
    countHit(standIn.hits, url.pathname);
    if (url.pathname === USERINFO) return providerCallback(req, res);
    const [, segment = '', rest = ''] = /^\/([^/]+)(\/.*)?$/.exec(url.pathname) ?? [];
    const authority = MULTI_TENANT.has(segment)
      ? segment
      : known.has(segment.toLowerCase())
        ? segment.toLowerCase()
        : '';
    const routed = rest.startsWith('/oauth2/v2.0/') || rest === KEYS || rest.startsWith('/interaction/');
    if (!authority && (routed || rest === '/v2.0/.well-known/openid-configuration')) {
      const e = {
        error: 'invalid_tenant',
        code: 90002,
        message: `Tenant '${segment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
      };
      if (rest === AUTHORIZE) {
        sendHtml(res, 400, 'Sign in to your account', `<p>${escapeHtml(description(e, ' ').text)}</p>`);
      } else sendJson(res, 400, tokenErrorBody(e));
      return;
    }
    if (rest === '/v2.0/.well-known/openid-configuration') {
      sendJson(res, 200, discovery(authority), { 'access-control-allow-origin': '*' });
      return;
    }
    if (!routed) {
      sendHtml(res, 404, 'Not Found', '');
      return;
    }
    authorities.set(req, authority);
    // Mounted under the authority: oidc-provider builds its URLs (interaction pages, resumes) from originalUrl.
    (req as MountedRequest).originalUrl = req.url;
    req.url = `${rest}${url.search}`;
    return providerCallback(req, res);
  };

  const authorizationRequest: ProviderMiddleware = async (ctx, next) => {
    if (ctx.path !== AUTHORIZE || ctx.method !== 'GET') return next();
    standIn.authorizeRequests.push(new URL((ctx.req as MountedRequest).originalUrl ?? ctx.url, baseUrl));
    const redirectUri = String(ctx.query.redirect_uri ?? '');
    if (standIn.authorizeError && ctx.query.client_id === clientId && redirectUris.includes(redirectUri)) {
      const back = new URL(redirectUri);
      back.searchParams.set('error', standIn.authorizeError.error);
      back.searchParams.set('error_description', description(standIn.authorizeError, '\r\n').text);
      if (typeof ctx.query.state === 'string') back.searchParams.set('state', ctx.query.state);
      ctx.redirect(back.href);
      return;
    }
    const scope = typeof ctx.query.scope === 'string' ? ctx.query.scope.split(' ') : [];
    // Microsoft honours offline_access whatever the prompt, also without one; oidc-provider only with
    // prompt=consent.
    const prompt =
      typeof ctx.query.prompt === 'string'
        ? mapSelectAccount(ctx.query.prompt)
        : scope.includes('offline_access')
          ? 'consent'
          : undefined;
    if (prompt !== undefined) {
      const withConsent =
        scope.includes('offline_access') && !prompt.split(' ').includes('none')
          ? `${prompt} consent`
          : prompt;
      ctx.query = { ...ctx.query, prompt: [...new Set(withConsent.split(' '))].join(' ') };
      // oidc-provider finds its mount path by looking for the request URL in originalUrl.
      (ctx.req as MountedRequest).originalUrl = `/${authorities.get(ctx.req)}${ctx.url}`;
    }
    await next();
  };

  const abort: ProviderMiddleware = async (ctx, next) => {
    if (!/^\/interaction\/[^/]+\/abort$/.test(ctx.path)) return next();
    ctx.respond = false;
    await provider.interactionFinished(
      ctx.req,
      ctx.res,
      {
        error: MICROSOFT_ERRORS.declined.error,
        error_description: description(MICROSOFT_ERRORS.declined, '\r\n').text,
      },
      { mergeWithLastSubmission: false },
    );
  };

  const authorizationResponse: ProviderMiddleware = async (ctx, next) => {
    await next();
    const route = ctx.oidc?.route;
    if (route !== 'authorization' && route !== 'resume') return;
    const location = ctx.response.get('location');
    if (location) {
      const back = new URL(location, ctx.href);
      if (!redirectUris.includes(`${back.origin}${back.pathname}`)) return;
      back.searchParams.delete('iss');
      if (back.searchParams.has('code')) back.searchParams.set('session_state', randomUUID());
      if (back.searchParams.get('error') === 'access_denied')
        back.searchParams.set('error_subcode', 'cancel');
      ctx.set('location', back.href);
    } else if (typeof ctx.body === 'string') {
      ctx.body = ctx.body.replace(/<input type="hidden" name="iss" value="[^"]*"\s*\/?>/g, '');
    }
  };

  const tokenEndpoint: ProviderMiddleware = async (ctx, next) => {
    if (ctx.path !== TOKEN || ctx.method !== 'POST') return next();
    const authority = authorities.get(ctx.req) ?? 'common';
    if (standIn.tokenError) {
      ctx.status = standIn.tokenError.status ?? (standIn.tokenError.error === 'invalid_client' ? 401 : 400);
      ctx.body = tokenErrorBody(standIn.tokenError);
      return;
    }
    await next();
    const request = ctx.oidc?.body;
    if (request) {
      standIn.tokenRequests.push(
        new URLSearchParams(Object.entries(request).map(([k, v]) => [k, String(v)] as [string, string])),
      );
    }
    const body = ctx.body as Record<string, unknown> | undefined;
    if (!body) return;
    if (typeof body.error === 'string') {
      const said = String(body.error_description ?? '');
      const e =
        body.error === 'invalid_client'
          ? MICROSOFT_ERRORS.badSecret
          : /PKCE/i.test(said)
            ? MICROSOFT_ERRORS.pkceMismatch
            : body.error === 'invalid_grant'
              ? MICROSOFT_ERRORS.invalidGrant
              : { error: body.error, code: 900144, message: said };
      ctx.body = tokenErrorBody(e);
      return;
    }
    if (typeof body.expires_in === 'number') body.ext_expires_in = body.expires_in;
    if (typeof body.id_token === 'string') {
      const [, payload = ''] = body.id_token.split('.');
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<
        string,
        unknown
      >;
      const login = logins.get(String(claims.sub));
      const user = login === undefined ? undefined : userFor(login);
      const tid = MULTI_TENANT.has(authority) ? (user?.tid ?? String(claims.tid)) : authority;
      const { auth_time: _authTime, ...rest } = claims;
      const final = { ...rest, iss: issuerFor(tid), tid, ...user?.claims };
      standIn.idTokens.push(final);
      body.id_token = await new CompactSign(new TextEncoder().encode(JSON.stringify(final)))
        .setProtectedHeader({ typ: 'JWT', alg: 'RS256', kid: key.kid })
        .sign(signingKey);
    }
  };

  provider.use(authorizationRequest);
  provider.use(acceptBasicAuth(TOKEN));
  provider.use(tokenEndpoint);
  provider.use(abort);
  provider.use(
    typedLoginAs(provider, (login) => {
      const sub = subFor(userFor(login));
      logins.set(sub, login);
      return sub;
    }),
  );
  provider.use(authorizationResponse);
  // After the last use(): Koa composes the middleware when callback() is called.
  const providerCallback = provider.callback();
  return standIn;
}
