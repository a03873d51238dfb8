import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { OauthException, UnauthorizedException, WorkOS } from '@workos-inc/node';
import { catalog, type ErrorCode } from '../../src/errors/catalog.ts';
import { randomToken } from '../../src/lib/tokens.ts';
import { TestBrowser } from '../helpers/browser.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { connectOidcIdp, type TestIdp } from '../helpers/oidc-idp.ts';

/**
 * POST /sso/token and GET /sso/profile failures (error-taxonomy.md §1.5–1.7, §5.7; workos-api.md §0, §2),
 * through the official SDK wherever it can send the request, raw HTTP otherwise: each failure's exact OAuth
 * error (HTTP 400 `{error, error_description}`, no-store, so the SDK raises OauthException), code reuse and
 * its revocation, PKCE, client authentication, the SDK's retry with the same Idempotency-Key, and RFC 6750
 * bearer errors.
 */

const APP = 'http://localhost:3000/callback';
const MINUTE = 60 * 1000;

describe('token and profile endpoint failures', () => {
  let gh: TestGatehouse;
  let idp: TestIdp;
  let connectionId: string;
  /** Added to the real time by Gatehouse's clock. */
  let clockOffsetMs = 0;

  before(async () => {
    gh = await startGatehouse({
      env: { GATEHOUSE_SIGNIN_CONSENT: 'off' },
      now: () => new Date(Date.now() + clockOffsetMs),
    });
    ({ idp, connectionId } = await connectOidcIdp(gh, {
      appRedirectUri: APP,
      scopes: ['openid', 'profile', 'email'],
    }));
  });
  after(async () => {
    await gh.close();
    await idp.close();
  });

  // ---------- helpers ----------

  /** A real sign-in (consent off) up to the app's redirect URI; returns the code. */
  async function signIn(url: string): Promise<string> {
    const step = await new TestBrowser().signInAtIdp(url, 'ada', idp.issuer, APP);
    assert.equal(step.res.status, 302);
    const back = new URL(step.res.headers.get('location') ?? '');
    const code = back.searchParams.get('code');
    assert.ok(code, back.href);
    return code;
  }

  /** A code issued without a code_challenge. */
  function codeWithoutPkce(): Promise<string> {
    return signIn(
      gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: APP,
        connection: connectionId,
      }),
    );
  }

  /** A code issued with an S256 code_challenge, and its verifier. */
  async function codeWithPkce(): Promise<{ code: string; codeVerifier: string }> {
    const { url, codeVerifier } = await gh.workos.sso.getAuthorizationUrlWithPKCE({
      clientId: gh.clientId,
      redirectUri: APP,
      connection: connectionId,
    });
    return { code: await signIn(url), codeVerifier };
  }

  /** The SDK call fails with OauthException carrying exactly the catalog entry's error and description. */
  async function rejectsWithOauth(call: Promise<unknown>, code: ErrorCode): Promise<void> {
    const entry = catalog[code];
    assert.equal(entry.transport, 'oauth');
    await assert.rejects(call, (err: unknown) => {
      assert.ok(err instanceof OauthException, `expected OauthException, got ${String(err)}`);
      assert.equal(err.status, 400);
      assert.equal(err.error, entry.wire);
      assert.equal(err.errorDescription, entry.description);
      assert.deepEqual(err.rawData, { error: entry.wire, error_description: entry.description });
      assert.match(err.requestID, /^req_/);
      return true;
    });
  }

  async function rejectsUnauthorized(call: Promise<unknown>): Promise<void> {
    await assert.rejects(call, (err: unknown) => {
      assert.ok(err instanceof UnauthorizedException, `expected UnauthorizedException, got ${String(err)}`);
      assert.match(err.requestID, /^req_/);
      return true;
    });
  }

  /** A raw POST /sso/token. */
  function postToken(
    body: string,
    contentType = 'application/x-www-form-urlencoded',
    headers: Record<string, string> = {},
  ): Promise<Response> {
    return fetch(`${gh.url}/sso/token`, {
      method: 'POST',
      headers: { 'content-type': contentType, ...headers },
      body,
    });
  }

  function form(params: Record<string, string>): string {
    return new URLSearchParams(params).toString();
  }

  /** HTTP 400, no-store, and a body of exactly {error, error_description} from the catalog. */
  async function assertOauthError(res: Response, code: ErrorCode): Promise<void> {
    const entry = catalog[code];
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.match(res.headers.get('x-request-id') ?? '', /^req_/);
    assert.deepEqual(await res.json(), { error: entry.wire, error_description: entry.description });
  }

  function withClock<T>(offsetMs: number, run: () => Promise<T>): Promise<T> {
    clockOffsetMs = offsetMs;
    return run().finally(() => {
      clockOffsetMs = 0;
    });
  }

  // ---------- the code ----------

  describe('the authorization code', () => {
    it('used twice: invalid_grant, and the access token of the first use is revoked', async () => {
      const code = await codeWithoutPkce();
      const first = await gh.workos.sso.getProfileAndToken({ code, clientId: gh.clientId });
      assert.equal((await gh.workos.sso.getProfile({ accessToken: first.accessToken })).id, first.profile.id);

      await rejectsWithOauth(
        gh.workos.sso.getProfileAndToken({ code, clientId: gh.clientId }),
        'code_invalid',
      );
      await rejectsUnauthorized(gh.workos.sso.getProfile({ accessToken: first.accessToken }));
    });

    it('expired (11 minutes later): invalid_grant', async () => {
      const code = await codeWithoutPkce();
      await withClock(11 * MINUTE, () =>
        rejectsWithOauth(gh.workos.sso.getProfileAndToken({ code, clientId: gh.clientId }), 'code_invalid'),
      );
    });

    it('unknown: invalid_grant', async () => {
      await rejectsWithOauth(
        gh.workos.sso.getProfileAndToken({ code: randomToken(32), clientId: gh.clientId }),
        'code_invalid',
      );
    });

    it('with a redirect_uri other than the one it was issued for: invalid_grant', async () => {
      const code = await codeWithoutPkce();
      const res = await postToken(
        form({
          client_id: gh.clientId,
          grant_type: 'authorization_code',
          code,
          client_secret: gh.apiKey,
          redirect_uri: 'http://localhost:3000/other',
        }),
      );
      await assertOauthError(res, 'token_redirect_uri_mismatch');
    });
  });

  // ---------- client authentication ----------

  describe('client authentication', () => {
    it('a client_id that is not the environment client ID: invalid_client, and the code stays usable', async () => {
      const code = await codeWithoutPkce();
      await rejectsWithOauth(
        gh.workos.sso.getProfileAndToken({ code, clientId: 'client_someone_else' }),
        'client_invalid',
      );
      const { profile } = await gh.workos.sso.getProfileAndToken({ code, clientId: gh.clientId });
      assert.equal(profile.email, 'ada@acme.com');
    });

    it('a wrong secret (API key): invalid_client', async () => {
      const code = await codeWithoutPkce();
      const wrong = new WorkOS('sk_test_not_a_gatehouse_key_0123456789', {
        apiHostname: '127.0.0.1',
        port: gh.port,
        https: false,
        clientId: gh.clientId,
      });
      await rejectsWithOauth(wrong.sso.getProfileAndToken({ code, clientId: gh.clientId }), 'client_invalid');
    });

    it('client_secret and Bearer that differ: invalid_client', async () => {
      const code = await codeWithoutPkce();
      const res = await postToken(
        form({ client_id: gh.clientId, grant_type: 'authorization_code', code, client_secret: gh.apiKey }),
        'application/x-www-form-urlencoded',
        { authorization: 'Bearer sk_test_not_a_gatehouse_key_0123456789' },
      );
      await assertOauthError(res, 'client_invalid');
    });

    it('a revoked API key: invalid_client', async () => {
      const created = await gh.api('POST', '/api_keys', { name: 'soon revoked' });
      assert.equal(created.status, 201);
      const key = created.body.value as string;
      const app = new WorkOS(key, {
        apiHostname: '127.0.0.1',
        port: gh.port,
        https: false,
        clientId: gh.clientId,
      });
      // The key works before it is revoked.
      const before = await app.sso.getProfileAndToken({
        code: await codeWithoutPkce(),
        clientId: gh.clientId,
      });
      assert.equal(before.profile.email, 'ada@acme.com');

      assert.equal((await gh.api('DELETE', `/api_keys/${created.body.id}`)).status, 204);
      const code = await codeWithoutPkce();
      await rejectsWithOauth(app.sso.getProfileAndToken({ code, clientId: gh.clientId }), 'client_invalid');
    });
  });

  // ---------- PKCE ----------

  describe('PKCE', () => {
    it('a verifier that does not match the challenge: invalid_grant', async () => {
      const { code } = await codeWithPkce();
      await rejectsWithOauth(
        gh.workos.sso.getProfileAndToken({ code, clientId: gh.clientId, codeVerifier: randomToken(32) }),
        'code_verifier_mismatch',
      );
    });

    it('no verifier for a code issued with a challenge: invalid_grant', async () => {
      const { code } = await codeWithPkce();
      await rejectsWithOauth(
        gh.workos.sso.getProfileAndToken({ code, clientId: gh.clientId }),
        'code_verifier_missing',
      );
    });

    it('a verifier for a code issued without a challenge (downgrade): invalid_grant', async () => {
      const code = await codeWithoutPkce();
      await rejectsWithOauth(
        gh.workos.sso.getProfileAndToken({ code, clientId: gh.clientId, codeVerifier: randomToken(32) }),
        'code_verifier_unexpected',
      );
    });

    it('a public client (no secret) with a code issued without a challenge: unauthorized_client', async () => {
      const code = await codeWithoutPkce();
      const res = await postToken(form({ client_id: gh.clientId, grant_type: 'authorization_code', code }));
      await assertOauthError(res, 'client_pkce_required');
    });
  });

  // ---------- the request itself ----------

  describe('the request', () => {
    it('an unsupported grant_type: unsupported_grant_type', async () => {
      const res = await postToken(
        form({ client_id: gh.clientId, grant_type: 'client_credentials', client_secret: gh.apiKey }),
      );
      await assertOauthError(res, 'grant_type_unsupported');
    });

    it('no code: invalid_request', async () => {
      const res = await postToken(
        form({ client_id: gh.clientId, grant_type: 'authorization_code', client_secret: gh.apiKey }),
      );
      await assertOauthError(res, 'token_parameter_missing');
    });

    it('a repeated parameter: invalid_request', async () => {
      const code = await codeWithoutPkce();
      const res = await postToken(
        `client_id=${gh.clientId}&grant_type=authorization_code&code=${code}&code=${code}&client_secret=${gh.apiKey}`,
      );
      await assertOauthError(res, 'token_parameter_repeated');
    });

    it('a JSON body works as well as a form, errors included', async () => {
      const code = await codeWithoutPkce();
      const ok = await postToken(
        JSON.stringify({
          client_id: gh.clientId,
          grant_type: 'authorization_code',
          code,
          client_secret: gh.apiKey,
        }),
        'application/json',
      );
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get('cache-control'), 'no-store');
      const body = (await ok.json()) as {
        token_type: string;
        access_token: string;
        profile: { email: string };
      };
      assert.equal(body.token_type, 'Bearer');
      assert.equal(body.profile.email, 'ada@acme.com');
      assert.equal(
        (await gh.workos.sso.getProfile({ accessToken: body.access_token })).email,
        'ada@acme.com',
      );

      const bad = await postToken(
        JSON.stringify({ client_id: gh.clientId, grant_type: 'password', code, client_secret: gh.apiKey }),
        'application/json',
      );
      await assertOauthError(bad, 'grant_type_unsupported');
    });

    it('a text/plain body: invalid_request', async () => {
      const code = await codeWithoutPkce();
      const res = await postToken(
        form({ client_id: gh.clientId, grant_type: 'authorization_code', code, client_secret: gh.apiKey }),
        'text/plain',
      );
      await assertOauthError(res, 'token_body_invalid');
    });
  });

  // ---------- retries with the same Idempotency-Key ----------

  describe('Idempotency-Key', () => {
    /**
     * A loopback proxy in front of Gatehouse that forwards everything, except that the FIRST /sso/token answer
     * it gets from Gatehouse (the real 200) is dropped and replaced by a 503: the SDK must retry.
     */
    async function startDroppingProxy(): Promise<{
      port: number;
      tokenRequests: Array<{ idempotencyKey: string | undefined; body: string }>;
      dropped: () => { status: number; body: string } | null;
      close(): Promise<void>;
    }> {
      const tokenRequests: Array<{ idempotencyKey: string | undefined; body: string }> = [];
      let dropped: { status: number; body: string } | null = null;
      const read = async (req: IncomingMessage) => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        return Buffer.concat(chunks).toString('utf8');
      };
      const server: Server = createServer((req, res) => {
        void (async () => {
          const body = await read(req);
          const headers: Record<string, string> = {};
          for (const name of ['authorization', 'content-type', 'idempotency-key', 'accept', 'user-agent']) {
            const value = req.headers[name];
            if (typeof value === 'string') headers[name] = value;
          }
          const isToken = req.method === 'POST' && req.url === '/sso/token';
          if (isToken) tokenRequests.push({ idempotencyKey: headers['idempotency-key'], body });
          const upstream = await fetch(`${gh.url}${req.url}`, {
            method: req.method ?? 'GET',
            headers,
            ...(body ? { body } : {}),
            signal: AbortSignal.timeout(10_000),
          });
          const text = await upstream.text();
          if (isToken && dropped === null) {
            dropped = { status: upstream.status, body: text };
            res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '0' });
            res.end(JSON.stringify({ message: 'Service Unavailable' }));
            return;
          }
          const out: Record<string, string> = {};
          for (const name of ['content-type', 'cache-control', 'x-request-id', 'www-authenticate']) {
            const value = upstream.headers.get(name);
            if (value !== null) out[name] = value;
          }
          res.writeHead(upstream.status, out);
          res.end(text);
        })().catch((err: unknown) => {
          res.writeHead(502, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ message: String(err) }));
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return {
        port: (server.address() as AddressInfo).port,
        tokenRequests,
        dropped: () => dropped,
        close: () =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      };
    }

    it('the SDK retries after a 503 that hid the 200: the same key gets the same access token back', async () => {
      const proxy = await startDroppingProxy();
      try {
        const app = new WorkOS(gh.apiKey, {
          apiHostname: '127.0.0.1',
          port: proxy.port,
          https: false,
          clientId: gh.clientId,
        });
        const code = await codeWithoutPkce();
        const { accessToken, profile } = await app.sso.getProfileAndToken({ code, clientId: gh.clientId });

        assert.equal(proxy.tokenRequests.length, 2, 'one attempt, one retry');
        const [first, retry] = proxy.tokenRequests;
        assert.match(first?.idempotencyKey ?? '', /^retry-[0-9a-f-]{36}$/);
        assert.equal(retry?.idempotencyKey, first?.idempotencyKey);
        assert.equal(retry?.body, first?.body);
        const dropped = proxy.dropped();
        assert.equal(dropped?.status, 200, 'Gatehouse had answered the first attempt');
        assert.equal(
          (JSON.parse(dropped?.body ?? '{}') as { access_token?: string }).access_token,
          accessToken,
        );

        assert.equal(profile.email, 'ada@acme.com');
        assert.equal((await gh.workos.sso.getProfile({ accessToken })).id, profile.id);
      } finally {
        await proxy.close();
      }
    });

    it('the same key and request twice: identical responses, and the token works', async () => {
      const code = await codeWithoutPkce();
      const body = form({
        client_id: gh.clientId,
        grant_type: 'authorization_code',
        code,
        client_secret: gh.apiKey,
      });
      const key = `retry-${crypto.randomUUID()}`;
      const a = await postToken(body, undefined, { 'idempotency-key': key });
      const b = await postToken(body, undefined, { 'idempotency-key': key });
      assert.equal(a.status, 200);
      assert.equal(b.status, 200);
      const first = (await a.json()) as { access_token: string };
      assert.deepEqual(await b.json(), first);
      assert.equal(
        (await gh.workos.sso.getProfile({ accessToken: first.access_token })).email,
        'ada@acme.com',
      );
    });

    it('the same key with another code: invalid_request', async () => {
      const key = `retry-${crypto.randomUUID()}`;
      const one = await codeWithoutPkce();
      const two = await codeWithoutPkce();
      const ok = await postToken(
        form({
          client_id: gh.clientId,
          grant_type: 'authorization_code',
          code: one,
          client_secret: gh.apiKey,
        }),
        undefined,
        { 'idempotency-key': key },
      );
      assert.equal(ok.status, 200);
      const res = await postToken(
        form({
          client_id: gh.clientId,
          grant_type: 'authorization_code',
          code: two,
          client_secret: gh.apiKey,
        }),
        undefined,
        { 'idempotency-key': key },
      );
      await assertOauthError(res, 'idempotency_key_reused');
      // The second code was not spent by the refused request.
      const { profile } = await gh.workos.sso.getProfileAndToken({ code: two, clientId: gh.clientId });
      assert.equal(profile.email, 'ada@acme.com');
    });

    it('another key after success: invalid_grant, and the first token is revoked', async () => {
      const code = await codeWithoutPkce();
      const body = form({
        client_id: gh.clientId,
        grant_type: 'authorization_code',
        code,
        client_secret: gh.apiKey,
      });
      const ok = await postToken(body, undefined, { 'idempotency-key': `retry-${crypto.randomUUID()}` });
      assert.equal(ok.status, 200);
      const { access_token: accessToken } = (await ok.json()) as { access_token: string };
      const again = await postToken(body, undefined, { 'idempotency-key': `retry-${crypto.randomUUID()}` });
      await assertOauthError(again, 'code_invalid');
      await rejectsUnauthorized(gh.workos.sso.getProfile({ accessToken }));
    });
  });

  // ---------- GET /sso/profile (RFC 6750) ----------

  describe('GET /sso/profile', () => {
    async function accessToken(): Promise<string> {
      const code = await codeWithoutPkce();
      return (await gh.workos.sso.getProfileAndToken({ code, clientId: gh.clientId })).accessToken;
    }

    it('no Authorization: 401 with the bare Bearer challenge', async () => {
      const res = await fetch(`${gh.url}/sso/profile`);
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="gatehouse"');
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const body = (await res.json()) as Record<string, unknown>;
      assert.equal(body.error, undefined, 'no error code without credentials (RFC 6750 §3)');
    });

    it('a bad token: 401 invalid_token (UnauthorizedException in the SDK)', async () => {
      const res = await fetch(`${gh.url}/sso/profile`, {
        headers: { authorization: `Bearer ${randomToken(32)}` },
      });
      assert.equal(res.status, 401);
      assert.match(
        res.headers.get('www-authenticate') ?? '',
        /^Bearer realm="gatehouse", .*error="invalid_token"/,
      );
      assert.deepEqual(await res.json(), {
        error: 'invalid_token',
        error_description: catalog.bearer_token_invalid.description,
      });
      await rejectsUnauthorized(gh.workos.sso.getProfile({ accessToken: randomToken(32) }));
    });

    it('the token in the query string: 400 invalid_request, even for a valid token', async () => {
      const token = await accessToken();
      const res = await fetch(`${gh.url}/sso/profile?access_token=${token}`);
      assert.equal(res.status, 400);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_request"/);
      assert.deepEqual(await res.json(), {
        error: 'invalid_request',
        error_description: catalog.bearer_request_invalid.description,
      });
      const both = await fetch(`${gh.url}/sso/profile?access_token=${token}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(both.status, 400);
    });

    it('an expired token (11 minutes later): 401 invalid_token', async () => {
      const token = await accessToken();
      assert.equal((await gh.workos.sso.getProfile({ accessToken: token })).email, 'ada@acme.com');
      await withClock(11 * MINUTE, async () => {
        const res = await fetch(`${gh.url}/sso/profile`, { headers: { authorization: `Bearer ${token}` } });
        assert.equal(res.status, 401);
        assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
        await res.arrayBuffer();
        await rejectsUnauthorized(gh.workos.sso.getProfile({ accessToken: token }));
      });
    });
  });
});
