import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type Provider from 'oidc-provider';
import type { ClientMetadata } from 'oidc-provider';
import type { TestBrowser } from '../browser.ts';

/**
 * What the three provider stand-ins share: a loopback HTTP server that closes with its keep-alive sockets, HTML
 * escaping, request bookkeeping, and the browser helper that declines at a provider's pages.
 */

/** Koa middleware as oidc-provider (a Koa application) runs it. */
export type ProviderMiddleware = Parameters<Provider['use']>[0];

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** A listening loopback server. `handle` may be replaced after listen (the issuer needs the port first). */
export interface Listening {
  server: Server;
  port: number;
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  url: string;
  handle: RequestHandler;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 (`port`, or any free one) and answers 503 until `handle` is set. */
export async function listen(port = 0): Promise<Listening> {
  const listening: Listening = {
    server: undefined as unknown as Server,
    port: 0,
    url: '',
    handle: (_req, res) => {
      res.writeHead(503).end();
    },
    close: () =>
      new Promise((resolve) => {
        listening.server.close(() => resolve());
        listening.server.closeAllConnections();
      }),
  };
  const server = createServer((req, res) => {
    Promise.resolve(listening.handle(req, res)).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err instanceof Error ? err.stack : err));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('no address');
  listening.server = server;
  listening.port = address.port;
  listening.url = `http://127.0.0.1:${address.port}`;
  return listening;
}

/** Counts a request path in a stand-in's `hits` map. */
export function countHit(hits: Map<string, number>, path: string): void {
  hits.set(path, (hits.get(path) ?? 0) + 1);
}

export function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

function unescapeHtml(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) =>
    e === 'amp' ? '&' : e === 'lt' ? '<' : e === 'gt' ? '>' : e === 'quot' ? '"' : "'",
  );
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export function sendHtml(res: ServerResponse, status: number, title: string, body: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(
    `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>` +
      `<body><h1>${escapeHtml(title)}</h1>\n${body}\n</body></html>`,
  );
}

/** A stable pseudo-random hex string derived from `seed` (so a user's IDs are the same across runs). */
export function stableHex(seed: string, length: number): string {
  let out = '';
  for (let i = 0; out.length < length; i++) out += createHash('sha256').update(`${i}:${seed}`).digest('hex');
  return out.slice(0, length);
}

/** `prompt`, with `select_account` (Google, Microsoft) read as oidc-provider's `login`. */
export function mapSelectAccount(prompt: string): string {
  return [...new Set(prompt.split(' ').map((p) => (p === 'select_account' ? 'login' : p)))].join(' ');
}

/**
 * Koa middleware for a token endpoint at `tokenPath`: a client that authenticates with HTTP Basic
 * (`client_secret_basic`) is turned into `client_secret_post` before oidc-provider sees it, so a client registered
 * for one method may use both, as Google and Microsoft allow. (oidc-provider insists on the registered method.)
 * oidc-provider takes the pre-parsed `req.body` with a one-time console warning.
 */
export function acceptBasicAuth(tokenPath: string): ProviderMiddleware {
  return async (ctx, next) => {
    const auth = ctx.get('authorization');
    if (ctx.path === tokenPath && ctx.method === 'POST' && /^basic /i.test(auth)) {
      const [id = '', secret = ''] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':');
      const body = Object.fromEntries(new URLSearchParams(await readBody(ctx.req)));
      body.client_id = decodeURIComponent(id.replace(/\+/g, ' '));
      body.client_secret = decodeURIComponent(secret.replace(/\+/g, ' '));
      delete ctx.req.headers.authorization;
      (ctx.req as IncomingMessage & { body?: unknown }).body = body;
    }
    await next();
  };
}

/**
 * Koa middleware that takes over oidc-provider's development login form post (`prompt=login`): the typed login
 * becomes the account ID `accountIdFor(login)` (oidc-provider makes the account ID the ID token's `sub`, whatever
 * the account's claims say). Consent posts go on to oidc-provider's own handler.
 */
export function typedLoginAs(
  provider: Provider,
  accountIdFor: (login: string) => string,
): ProviderMiddleware {
  return async (ctx, next) => {
    if (ctx.method !== 'POST' || !/^\/interaction\/[^/]+$/.test(ctx.path)) return next();
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.prompt.name !== 'login') return next();
    const login = new URLSearchParams(await readBody(ctx.req)).get('login') ?? '';
    ctx.respond = false;
    await provider.interactionFinished(
      ctx.req,
      ctx.res,
      { login: { accountId: accountIdFor(login) } },
      { mergeWithLastSubmission: false },
    );
  };
}

/** A fresh RS256 signing key as a private JWK, with `kid` and `use: 'sig'`. */
export async function rsaSigningKey(kid: string): Promise<JWK & { kid: string }> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
}

/**
 * Registers (or replaces) a client through oidc-provider's adapter rather than the static `clients` option, so its
 * redirect URIs can change after start (oidc-provider caches dynamic clients by a hash of their metadata).
 */
export async function upsertClient(provider: Provider, metadata: ClientMetadata): Promise<void> {
  // The adapter is not in oidc-provider's type definitions.
  const { adapter } = provider.Client as unknown as {
    adapter: { upsert(id: string, payload: ClientMetadata, expiresIn?: number): Promise<void> };
  };
  await adapter.upsert(metadata.client_id, metadata);
}

/** A redirect-based OAuth error: what the provider sends back to the redirect URI. */
export interface AuthorizeError {
  error: string;
  error_description?: string;
  /** Extra response parameters (Microsoft's `error_subcode`, GitHub's `error_uri`). */
  [param: string]: string | undefined;
}

/**
 * Declines at a provider's pages, as a user pressing Cancel: follows `url` (an authorization URL at the provider,
 * or Gatehouse's authorize URL) to the provider's page, signs in first when `login` is given and the provider asks
 * for a login, then follows the page's `[ Cancel ]` link. Returns like `TestBrowser.follow`: the first response
 * outside the provider's pages (Gatehouse's answer to the error callback), or the redirect to `stopAt`.
 */
export async function declineAtProvider(
  browser: TestBrowser,
  url: string | URL,
  options: { origin: string; stopAt: string; login?: string },
): Promise<{ res: Response; url: URL }> {
  let step = await browser.follow(url, options.stopAt);
  for (let i = 0; i < 5; i++) {
    if (step.url.origin !== options.origin || step.res.status !== 200) return step;
    const html = await step.res.text();
    const prompt = /name="prompt" value="([^"]+)"/.exec(html)?.[1];
    if (prompt === 'login' && options.login) {
      const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
      if (!action) throw new Error(`no login form at ${step.url}`);
      const posted = await browser.request(new URL(unescapeHtml(action), step.url), {
        form: { prompt: 'login', login: options.login, password: 'any-password' },
      });
      const location = posted.headers.get('location');
      if (!location) throw new Error(`the login form post did not redirect (${posted.status})`);
      step = await browser.follow(new URL(location, step.url), options.stopAt);
      continue;
    }
    const cancel = /<a[^>]*href="([^"]+)"[^>]*>\s*\[ Cancel \]/.exec(html)?.[1];
    if (!cancel)
      throw new Error(`no [ Cancel ] link on ${step.url} (pass \`login\`?):\n${html.slice(0, 400)}`);
    return browser.follow(new URL(unescapeHtml(cancel), step.url), options.stopAt);
  }
  throw new Error('the provider kept asking');
}
