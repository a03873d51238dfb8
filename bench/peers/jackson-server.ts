/**
 * BoxyHQ SAML Jackson in library mode behind a minimal `node:http` server, the peer of `npm run bench`. Run as a
 * child process by bench/peers/jackson.ts (same Node binary). Jackson's documented controllers, nothing else:
 *
 *   GET  /api/oauth/authorize   oauthController.authorize (tenant + product, or client_id): 302 to the IdP
 *   POST /api/oauth/saml        oauthController.samlResponse (the ACS): 302 to the app with a code
 *   POST /api/oauth/token       oauthController.token: JSON
 *   GET  /api/oauth/userinfo    oauthController.userInfo (Bearer token): JSON
 *   GET  /health                200
 *
 * As thin as the bare baseline: keep-alive (Node's default), no logging (Jackson's logger is given no-ops), no
 * framework. Set-up routes under /__bench/ (not measured): create a SAML connection from IdP metadata (Jackson's
 * connectionAPIController), Jackson's SP metadata, and codes minted by the same function Jackson's ACS calls
 * (`_buildAuthorizationCode`), with the profile and session of the last real login, for the token benchmark.
 * Configuration: JACKSON_PORT, JACKSON_HOST, JACKSON_ENCRYPTION_KEY, JACKSON_CLIENT_SECRET_VERIFIER.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { jacksonRequire } from './install.ts';

/** The parts of Jackson's API used here (its own types are not installed with the project). */
interface OAuthController {
  authorize(body: Record<string, unknown>): Promise<{ redirect_url?: string; authorize_form?: string }>;
  samlResponse(body: { SAMLResponse: string; RelayState: string }): Promise<{
    redirect_url?: string;
    app_select_form?: string;
    response_form?: string;
    error?: string;
  }>;
  token(body: Record<string, string>, authHeader?: string | null): Promise<unknown>;
  userInfo(token: string): Promise<unknown>;
  _buildAuthorizationCode(...args: unknown[]): Promise<string>;
}
interface Controllers {
  connectionAPIController: {
    createSAMLConnection(body: Record<string, unknown>): Promise<{ clientID: string; clientSecret: string }>;
  };
  oauthController: OAuthController;
  spConfig: { toXMLMetadata(encryption?: boolean): Promise<string> };
  close(): Promise<void>;
}

const port = Number(process.env.JACKSON_PORT);
const host = process.env.JACKSON_HOST ?? '127.0.0.1';
const externalUrl = `http://${host}:${port}`;
const quiet = () => {};
const jackson = jacksonRequire()('@boxyhq/saml-jackson') as {
  controllers(opts: Record<string, unknown>): Promise<Controllers>;
};
const { connectionAPIController, oauthController, spConfig } = await jackson.controllers({
  externalUrl,
  samlPath: '/api/oauth/saml',
  samlAudience: 'https://saml.boxyhq.com',
  db: { engine: 'mem', encryptionKey: process.env.JACKSON_ENCRYPTION_KEY },
  clientSecretVerifier: process.env.JACKSON_CLIENT_SECRET_VERIFIER,
  idpEnabled: false,
  noAnalytics: true,
  logger: { info: quiet, warn: quiet, error: quiet },
});

// The arguments of the last real login's code, to mint more like it (POST /__bench/codes).
let lastLogin: unknown[] | null = null;
const buildCode = oauthController._buildAuthorizationCode.bind(oauthController);
oauthController._buildAuthorizationCode = (...args: unknown[]) => {
  lastLogin = args;
  return buildCode(...args);
};

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};
const redirect = (res: ServerResponse, location: string) => {
  res.writeHead(302, { location, 'content-length': '0' });
  res.end();
};
const html = (res: ServerResponse, page: string) => {
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(page),
  });
  res.end(page);
};

/** Jackson's errors carry the HTTP status they mean (JacksonError.statusCode). */
function fail(res: ServerResponse, err: unknown): void {
  const e = err as { statusCode?: number; message?: string };
  json(res, e.statusCode ?? 500, { error: { message: e.message ?? String(err) } });
}

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', externalUrl);
  const path = url.pathname;
  if (req.method === 'GET' && path === '/api/oauth/authorize') {
    const out = await oauthController.authorize(Object.fromEntries(url.searchParams));
    if (out.redirect_url) return redirect(res, out.redirect_url);
    if (out.authorize_form) return html(res, out.authorize_form);
    return json(res, 500, out);
  }
  if (req.method === 'POST' && path === '/api/oauth/saml') {
    const form = Object.fromEntries(new URLSearchParams(await readBody(req)));
    const out = await oauthController.samlResponse({
      SAMLResponse: form.SAMLResponse ?? '',
      RelayState: form.RelayState ?? '',
    });
    if (out.redirect_url) return redirect(res, out.redirect_url);
    if (out.app_select_form) return html(res, out.app_select_form);
    if (out.response_form) return html(res, out.response_form);
    return json(res, 500, out);
  }
  if (req.method === 'POST' && path === '/api/oauth/token') {
    const body = await readBody(req);
    const form =
      req.headers['content-type']?.startsWith('application/json') === true
        ? (JSON.parse(body) as Record<string, string>)
        : Object.fromEntries(new URLSearchParams(body));
    return json(res, 200, await oauthController.token(form, req.headers.authorization ?? null));
  }
  if (req.method === 'GET' && path === '/api/oauth/userinfo') {
    const token =
      /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? url.searchParams.get('access_token');
    if (!token) return json(res, 401, { error: { message: 'no token' } });
    return json(res, 200, await oauthController.userInfo(token));
  }
  if (req.method === 'GET' && path === '/health') return json(res, 200, { status: 'ok' });

  // Set-up (not measured)
  if (req.method === 'POST' && path === '/__bench/connections') {
    const body = JSON.parse(await readBody(req)) as Record<string, unknown>;
    return json(res, 201, await connectionAPIController.createSAMLConnection(body));
  }
  if (req.method === 'GET' && path === '/__bench/sp-metadata') {
    res.writeHead(200, { 'content-type': 'application/xml' });
    res.end(await spConfig.toXMLMetadata(false));
    return;
  }
  if (req.method === 'POST' && path === '/__bench/codes') {
    const count = Number(url.searchParams.get('count'));
    if (!lastLogin) return json(res, 409, { error: { message: 'no login yet' } });
    if (!Number.isInteger(count) || count < 1 || count > 1_000_000) {
      return json(res, 400, { error: { message: 'count' } });
    }
    const codes: string[] = [];
    for (let i = 0; i < count; i++) codes.push(await buildCode(...lastLogin));
    return json(res, 200, { codes });
  }
  json(res, 404, { error: { message: 'not found' } });
}

const server = createServer((req, res) => {
  route(req, res).catch((err: unknown) => fail(res, err));
});
server.listen(port, host);
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
