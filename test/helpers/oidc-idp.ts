import type { Server } from 'node:http';
import Provider, { type JWKS } from 'oidc-provider';
import { freePort, type TestGatehouse } from './gatehouse.ts';

export interface TestIdp {
  issuer: string;
  provider: Provider;
  clientId: string;
  clientSecret: string;
  /** How many times each path was requested (e.g. '/.well-known/openid-configuration'). */
  hits: Map<string, number>;
  close(): Promise<void>;
}

/** Koa middleware as oidc-provider (a Koa application) runs it. */
export type IdpMiddleware = Parameters<Provider['use']>[0];

/**
 * A real OpenID Provider (`oidc-provider`) on a loopback port: the upstream IdP of Gatehouse's tests.
 * `redirectUris` are the Gatehouse callback URLs registered for its client.
 *
 * Optional, for failure tests (the defaults change nothing):
 * - `jwks`: the IdP's signing keys (private JWKs), so a test can re-sign ID tokens with the IdP's own key;
 * - `middleware`: Koa middleware run before oidc-provider's routes, e.g. to rewrite a /token response
 *   after `await next()` (it must be installed here: middleware added after listen() never runs);
 * - `tokenDelayMs`: answer /token only after this delay (a slow IdP); cut short when the IdP closes.
 */
export async function startIdp(options: {
  redirectUris: string[];
  port?: number;
  clientId?: string;
  jwks?: JWKS;
  middleware?: IdpMiddleware;
  tokenDelayMs?: number;
  /** Listen here instead of on the issuer's port (a test proxy in front owns the issuer's port). */
  listenPort?: number;
}): Promise<TestIdp> {
  const port = options.port ?? (await freePort());
  const issuer = `http://127.0.0.1:${port}`;
  const clientId = options.clientId ?? 'gatehouse-test-client';
  const clientSecret = 'gatehouse-test-secret-0123456789abcdef';
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: options.redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
    claims: {
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name'],
      groups: ['groups'],
    },
    features: { devInteractions: { enabled: true } },
    ...(options.jwks ? { jwks: options.jwks } : {}),
    // The login typed at the IdP is the user's `sub`; a login with an @ is also their email.
    async findAccount(_ctx, sub) {
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            email: sub.includes('@') ? sub : `${sub}@acme.com`,
            email_verified: true,
            given_name: 'Ada',
            family_name: 'Lovelace',
            name: 'Ada Lovelace',
            groups: ['engineering', 'admins'],
          };
        },
      };
    },
  });
  const hits = new Map<string, number>();
  provider.use(async (ctx, next) => {
    hits.set(ctx.path, (hits.get(ctx.path) ?? 0) + 1);
    await next();
  });
  let closing = () => {};
  const closed = new Promise<void>((resolve) => {
    closing = resolve;
  });
  const tokenDelayMs = options.tokenDelayMs;
  if (tokenDelayMs !== undefined) {
    provider.use(async (ctx, next) => {
      if (ctx.path === '/token') {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          new Promise((resolve) => {
            timer = setTimeout(resolve, tokenDelayMs);
          }),
          closed,
        ]);
        clearTimeout(timer);
      }
      await next();
    });
  }
  if (options.middleware) provider.use(options.middleware);
  // oidc-provider logs dev-mode warnings through console; keep test output readable.
  const server: Server = await new Promise((resolve) => {
    const s = provider.listen(options.listenPort ?? port, '127.0.0.1', () => resolve(s));
  });
  return {
    issuer,
    provider,
    clientId,
    clientSecret,
    hits,
    close: () =>
      new Promise((resolve) => {
        closing();
        server.close(() => resolve());
      }),
  };
}

export interface OidcSetup {
  idp: TestIdp;
  orgId: string;
  connectionId: string;
  /** The connection's callback URL (`oidc_options.redirect_uri`). */
  callbackUrl: string;
}

/**
 * The usual end-to-end fixture: organization "Acme" with the verified domain acme.com, an OIDC connection of
 * `connectionType` to a fresh oidc-provider on a loopback port, that IdP started with the connection's callback
 * URL registered, and `appRedirectUri` (if given) on Gatehouse's allowlist.
 */
export async function connectOidcIdp(
  gh: TestGatehouse,
  options: {
    connectionType?: string;
    scopes?: string[];
    appRedirectUri?: string;
    idp?: Partial<Parameters<typeof startIdp>[0]>;
  } = {},
): Promise<OidcSetup> {
  if (options.appRedirectUri) await gh.api('POST', '/redirect_uris', { uri: options.appRedirectUri });
  const org = await gh.api('POST', '/organizations', {
    name: 'Acme',
    domain_data: [{ domain: 'acme.com', state: 'verified' }],
  });
  const port = await freePort();
  const conn = await gh.api('POST', '/connections', {
    organization_id: org.body.id,
    connection_type: options.connectionType ?? 'OktaOIDC',
    name: 'Acme Okta',
    oidc_options: {
      issuer: `http://127.0.0.1:${port}`,
      client_id: 'gatehouse-test-client',
      client_secret: 'gatehouse-test-secret-0123456789abcdef',
      ...(options.scopes ? { scopes: options.scopes } : {}),
    },
  });
  if (conn.status !== 201) throw new Error(`could not create the connection: ${JSON.stringify(conn.body)}`);
  const callbackUrl = conn.body.oidc_options.redirect_uri as string;
  const idp = await startIdp({ ...options.idp, port, redirectUris: [callbackUrl] });
  return { idp, orgId: org.body.id, connectionId: conn.body.id, callbackUrl };
}
