import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { catalog, type ErrorCode } from '../../src/errors/catalog.ts';
import { TestBrowser } from '../helpers/browser.ts';
import { freePort, startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { startIdp, type TestIdp } from '../helpers/oidc-idp.ts';
import { type Fault, type HttpFaultProxy, startHttpFaultProxy, startTlsListener } from './proxies.ts';

/**
 * Faults injected between Gatehouse and a real OpenID Provider (oidc-provider behind a loopback fault proxy that
 * owns the issuer's port), at each back-channel call of a sign-in: discovery (at /sso/authorize), and the token
 * endpoint, the JWKS and userinfo (at the callback). Each fault gets a connection of its own (so no cache of a
 * previous case hides it), and each case asserts: the documented wire error at the app's redirect URI (error,
 * error_description, state, iss), answered within GATEHOUSE_UPSTREAM_TIMEOUT_MS plus a margin (measured), the
 * reason in the session log, no upstream text in what the browser gets, and that the same connection signs in
 * once the IdP is back. DNS and TLS failures are given by pointing the issuer (or, in discovery, an endpoint)
 * at a name that does not resolve or at an https listener with a self-signed certificate.
 *
 * What test/e2e/callback-errors.test.ts covers already (token endpoint down after the IdP's redirect, token
 * endpoint slow, OAuth error bodies, forged ID tokens) is not repeated.
 */

const APP = 'http://localhost:3000/callback';
const TIMEOUT_MS = 500;
/** The answer must come within the upstream timeout plus this (scheduling on a shared 2-core machine). */
const MARGIN_MS = 1500;
/** A slow IdP answers after this, well past the timeout. */
const SLOW_MS = 4000;
const UPSTREAM_TEXT = 'upstream-secret-text-7f3a';
/** Text that must never reach a browser. */
const LEAKS = new RegExp(
  `${UPSTREAM_TEXT}|ECONNREFUSED|ECONNRESET|ENOTFOUND|certificate|self-signed|fetch failed|TypeError|SyntaxError|oauth4webapi|openid-client|Unexpected token|timed out|unreachable|invalid response|<html`,
  'i',
);
const DNS_FAILS = 'idp.gatehouse-faults.invalid';

type Stage = 'discovery' | 'token' | 'jwks' | 'userinfo';
const PATHS: Record<Stage, string> = {
  discovery: '/.well-known/openid-configuration',
  token: '/token',
  jwks: '/jwks',
  userinfo: '/me',
};
const ENDPOINT_FIELD: Record<Exclude<Stage, 'discovery'>, string> = {
  token: 'token_endpoint',
  jwks: 'jwks_uri',
  userinfo: 'userinfo_endpoint',
};

interface Case {
  name: string;
  stage: Stage;
  /**
   * The fault: at the proxy for the stage's path; `refused`: the proxy's listener closed; `endpoint`: discovery
   * names another URL for the stage's endpoint; `issuer`: the connection's issuer is that URL instead.
   */
  fault:
    | Fault
    | { kind: 'refused' }
    | { kind: 'endpoint'; url: (tlsPort: number) => string }
    | { kind: 'issuer'; url: (tlsPort: number) => string };
  /** The catalog code the app gets and the session log's failed stage; null: the sign-in goes through. */
  expect: { code: ErrorCode; stage: string } | null;
}

const html = `<html><body><h1>502 Bad Gateway</h1><p>${UPSTREAM_TEXT}</p></body></html>`;
const BODY_FAULTS: Record<string, Fault> = {
  'connection reset': { kind: 'reset' },
  [`slow (${SLOW_MS} ms, past the ${TIMEOUT_MS} ms timeout)`]: { kind: 'delay', ms: SLOW_MS },
  'garbage body': { kind: 'respond', status: 200, contentType: 'application/json', body: randomBytes(300) },
  'HTML 200': { kind: 'respond', status: 200, contentType: 'text/html', body: html },
  'truncated body': { kind: 'truncate' },
  'huge body (3 MB)': {
    kind: 'respond',
    status: 200,
    contentType: 'application/json',
    body: `{"x":"${'a'.repeat(3 * 1024 * 1024)}"}`,
  },
  'JSON labelled text/plain': { kind: 'content-type', value: 'text/plain' },
  'HTTP 503 with HTML': { kind: 'respond', status: 503, contentType: 'text/html', body: html },
};

type Outcome = 'unavailable' | 'misconfigured' | 'temporarily' | 'invalid' | 'exchange' | 'userinfo' | null;
const CODES: Record<Exclude<Outcome, null>, ErrorCode> = {
  unavailable: 'upstream_unavailable',
  misconfigured: 'upstream_misconfigured',
  temporarily: 'upstream_temporarily_unavailable',
  invalid: 'id_token_invalid',
  exchange: 'code_exchange_failed',
  userinfo: 'userinfo_failed',
};
/**
 * What each body fault ends in, per stage (measured, then fixed here). Outages (reset, slow, truncated, huge,
 * 5xx) are "try again later"; a body that is not what the protocol says is a failed exchange or an unverifiable
 * response; JSON labelled text/plain is read (openid-client accepts it). The JWKS is fetched inside the code
 * exchange, so its outages are recorded at token_exchange; an unparseable JWKS at id_token.
 */
const BODY_OUTCOMES: Record<Stage, Record<string, Outcome>> = {
  discovery: {
    'connection reset': 'unavailable',
    slow: 'unavailable',
    garbage: 'misconfigured',
    HTML: 'misconfigured',
    truncated: 'unavailable',
    huge: 'unavailable',
    JSON: null,
    'HTTP 503': 'unavailable',
  },
  token: {
    'connection reset': 'temporarily',
    slow: 'temporarily',
    garbage: 'invalid',
    HTML: 'exchange',
    truncated: 'temporarily',
    huge: 'temporarily',
    JSON: null,
    'HTTP 503': 'temporarily',
  },
  jwks: {
    'connection reset': 'temporarily',
    slow: 'temporarily',
    garbage: 'invalid',
    HTML: 'exchange',
    truncated: 'temporarily',
    huge: 'temporarily',
    JSON: null,
    'HTTP 503': 'temporarily',
  },
  userinfo: {
    'connection reset': 'temporarily',
    slow: 'temporarily',
    garbage: 'invalid',
    HTML: 'userinfo',
    truncated: 'temporarily',
    huge: 'temporarily',
    JSON: null,
    'HTTP 503': 'temporarily',
  },
};
const FAILED_STAGE: Record<Stage, (o: Outcome) => string> = {
  discovery: () => 'upstream_redirect',
  token: (o) => (o === 'invalid' ? 'id_token' : 'token_exchange'),
  jwks: (o) => (o === 'invalid' ? 'id_token' : 'token_exchange'),
  userinfo: () => 'userinfo',
};

const CASES: Case[] = [];
for (const stage of ['discovery', 'token', 'jwks', 'userinfo'] as const) {
  for (const [name, fault] of Object.entries(BODY_FAULTS)) {
    const key = Object.keys(BODY_OUTCOMES[stage]).find((k) => name.startsWith(k)) ?? '';
    const outcome = BODY_OUTCOMES[stage][key];
    assert.notEqual(outcome, undefined, `${stage} ${name}`);
    CASES.push({
      name,
      stage,
      fault,
      expect: outcome ? { code: CODES[outcome], stage: FAILED_STAGE[stage](outcome) } : null,
    });
  }
}
CASES.push(
  {
    name: 'connection refused',
    stage: 'discovery',
    fault: { kind: 'refused' },
    expect: { code: 'upstream_unavailable', stage: 'upstream_redirect' },
  },
  {
    name: 'connection refused',
    stage: 'token',
    fault: { kind: 'refused' },
    expect: { code: 'upstream_temporarily_unavailable', stage: 'token_exchange' },
  },
  {
    name: 'DNS failure (the issuer name does not resolve)',
    stage: 'discovery',
    fault: { kind: 'issuer', url: () => `http://${DNS_FAILS}:8080` },
    expect: { code: 'upstream_unavailable', stage: 'upstream_redirect' },
  },
  {
    name: 'TLS failure (a self-signed certificate)',
    stage: 'discovery',
    fault: { kind: 'issuer', url: (port) => `https://127.0.0.1:${port}` },
    expect: { code: 'upstream_unavailable', stage: 'upstream_redirect' },
  },
  ...(['token', 'jwks', 'userinfo'] as const).flatMap((stage): Case[] => [
    {
      name: 'DNS failure (discovery names an endpoint whose name does not resolve)',
      stage,
      fault: { kind: 'endpoint', url: () => `http://${DNS_FAILS}:8080${PATHS[stage]}` },
      expect: {
        code: 'upstream_temporarily_unavailable',
        stage: stage === 'userinfo' ? 'userinfo' : 'token_exchange',
      },
    },
    {
      name: 'TLS failure (discovery names an endpoint with a self-signed certificate)',
      stage,
      fault: { kind: 'endpoint', url: (port) => `https://127.0.0.1:${port}${PATHS[stage]}` },
      expect: {
        code: 'upstream_temporarily_unavailable',
        stage: stage === 'userinfo' ? 'userinfo' : 'token_exchange',
      },
    },
  ]),
  {
    name: 'discovery names another issuer',
    stage: 'discovery',
    fault: { kind: 'rewrite-json', rewrite: (doc) => ({ ...doc, issuer: 'https://evil.example' }) },
    expect: { code: 'upstream_misconfigured', stage: 'upstream_redirect' },
  },
);

describe('IdP faults (OIDC): every back-channel call of a sign-in', () => {
  let gh: TestGatehouse;
  let idp: TestIdp;
  let proxy: HttpFaultProxy;
  let tls: Awaited<ReturnType<typeof startTlsListener>>;
  let orgId: string;
  const connections = new Map<string, { id: string; callback: string }>();
  const outcomes: string[] = [];

  async function createConnection(issuer: string, name: string) {
    const res = await gh.api('POST', '/connections', {
      organization_id: orgId,
      connection_type: 'GenericOIDC',
      name,
      oidc_options: {
        issuer,
        client_id: 'gatehouse-test-client',
        client_secret: 'gatehouse-test-secret-0123456789abcdef',
      },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return { id: res.body.id as string, callback: res.body.oidc_options.redirect_uri as string };
  }

  before(async () => {
    gh = await startGatehouse({
      env: { GATEHOUSE_UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS), GATEHOUSE_SIGNIN_CONSENT: 'off' },
    });
    assert.equal((await gh.api('POST', '/redirect_uris', { uri: APP })).status, 201);
    const org = await gh.api('POST', '/organizations', {
      name: 'Acme',
      domain_data: [{ domain: 'acme.com', state: 'verified' }],
    });
    orgId = org.body.id;
    const issuerPort = await freePort();
    const backendPort = await freePort();
    tls = await startTlsListener();
    const issuer = `http://127.0.0.1:${issuerPort}`;
    for (const c of CASES) {
      const own = c.fault.kind === 'issuer' ? c.fault.url(tls.port) : issuer;
      connections.set(`${c.stage} ${c.name}`, await createConnection(own, c.name));
    }
    connections.set('healthy', await createConnection(issuer, 'healthy'));
    idp = await startIdp({
      port: issuerPort,
      listenPort: backendPort,
      redirectUris: [...connections.values()].map((c) => c.callback),
    });
    proxy = await startHttpFaultProxy(issuerPort, backendPort);
  });

  after(async () => {
    await proxy?.close();
    await idp?.close();
    await tls?.close();
    await gh?.close();
    if (outcomes.length) process.stdout.write(`${outcomes.join('\n')}\n`);
  });

  function authorizeUrl(connectionId: string, state: string): string {
    return gh.workos.sso.getAuthorizationUrl({
      clientId: gh.clientId,
      redirectUri: APP,
      connection: connectionId,
      state,
    });
  }

  /** A whole sign-in on `connection`, redeemed with the SDK. */
  async function signIn(connection: { id: string; callback: string }) {
    const browser = new TestBrowser();
    const step = await browser.signInAtIdp(authorizeUrl(connection.id, 'ok'), 'ada', idp.issuer, APP);
    assert.equal(step.res.status, 302, `sign-in ended with ${step.res.status} at ${step.url}`);
    const back = new URL(step.res.headers.get('location') ?? '');
    assert.equal(back.searchParams.get('error'), null, back.href);
    const { profile } = await gh.workos.sso.getProfileAndToken({
      code: back.searchParams.get('code') ?? '',
      clientId: gh.clientId,
    });
    assert.equal(profile.email, 'ada@acme.com');
  }

  for (const c of CASES) {
    it(`${c.stage}: ${c.name}`, async () => {
      const connection = connections.get(`${c.stage} ${c.name}`);
      assert.ok(connection);
      const state = `s-${c.stage}-${randomBytes(4).toString('hex')}`;
      const browser = new TestBrowser();
      const path = PATHS[c.stage];
      const { fault } = c;
      if (fault.kind === 'endpoint') {
        const field = ENDPOINT_FIELD[c.stage as Exclude<Stage, 'discovery'>];
        proxy.faults.set(PATHS.discovery, {
          kind: 'rewrite-json',
          rewrite: (doc) => ({ ...doc, [field]: fault.url(tls.port) }),
        });
      }
      let callback: URL | undefined;
      let res: Response;
      let elapsed: number;
      try {
        if (c.stage !== 'discovery') {
          // The browser's part at the IdP goes through unharmed; the fault hits Gatehouse's back channel.
          const step = await browser.signInAtIdp(
            authorizeUrl(connection.id, state),
            'ada',
            idp.issuer,
            connection.callback,
          );
          callback = new URL(step.res.headers.get('location') ?? '', step.url);
          assert.ok(callback.href.startsWith(connection.callback), callback.href);
        }
        if (fault.kind === 'refused') await proxy.down();
        else if (fault.kind !== 'endpoint' && fault.kind !== 'issuer') proxy.faults.set(path, fault);
        const started = performance.now();
        res = await browser.request(callback ?? authorizeUrl(connection.id, state));
        elapsed = performance.now() - started;
      } finally {
        proxy.faults.clear();
        if (fault.kind === 'refused') await proxy.up();
      }
      const location = res.headers.get('location') ?? '';
      const body = await res.text();
      const requestId = res.headers.get('x-request-id') ?? '';
      const found = await gh.api('GET', `/sso/sessions?request_id=${requestId}`);
      assert.equal(found.body.data.length, 1);
      const session = found.body.data[0];
      assert.ok(elapsed < TIMEOUT_MS + MARGIN_MS, `answered after ${Math.round(elapsed)} ms`);
      assert.equal(res.status, 302);
      const back = new URL(location);
      if (c.expect || c.stage !== 'discovery') assert.equal(`${back.origin}${back.pathname}`, APP);
      else assert.equal(back.origin, idp.issuer);
      assert.doesNotMatch(`${decodeURIComponent(location)}\n${body}`, LEAKS);
      if (c.expect) {
        assert.deepEqual(Object.fromEntries(back.searchParams), {
          error: catalog[c.expect.code].wire,
          error_description: catalog[c.expect.code].description,
          state,
          iss: gh.url,
        });
        assert.equal(session.outcome, 'failed');
        assert.equal(session.reason, c.expect.code);
        assert.equal(session.failed_stage, c.expect.stage);
        assert.doesNotMatch(JSON.stringify(session), new RegExp(UPSTREAM_TEXT));
      } else if (c.stage !== 'discovery') {
        assert.deepEqual([...back.searchParams.keys()].sort(), ['code', 'iss', 'state']);
        assert.equal(session.outcome, 'succeeded');
      }
      outcomes.push(
        `| ${c.stage} | ${c.name} | ${c.expect ? `${catalog[c.expect.code].wire} (${c.expect.code}), stage ${c.expect.stage}` : 'signs in'} | ${Math.round(elapsed)} ms |`,
      );

      // The IdP is back: the same connection signs in (a fault in the connection's own URLs: another one does).
      const recovery =
        fault.kind === 'endpoint' || fault.kind === 'issuer' ? connections.get('healthy') : connection;
      assert.ok(recovery);
      const recovered = performance.now();
      await signIn(recovery);
      outcomes.push(`|  | next sign-in | ok | ${Math.round(performance.now() - recovered)} ms |`);
    });
  }

  it('JWKS rotation mid-login: the IdP signs with a new key (published in its JWKS) between authorize and callback', {
    todo: 'id_token_invalid when the node fetched the JWKS less than 60 s before: oauth4webapi refetches a JWKS for an unknown kid only when its copy is 60 s old (see docs/reliability.md, Faults)',
  }, async () => {
    const connection = connections.get('healthy');
    assert.ok(connection);
    await signIn(connection); // the node has the IdP's JWKS now
    const before = proxy.seen.filter((p) => p === PATHS.jwks).length;
    await signIn(connection);
    const perSignIn = proxy.seen.filter((p) => p === PATHS.jwks).length - before;
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const published = { ...(await exportJWK(publicKey)), kid: 'rotated-key', alg: 'RS256', use: 'sig' };
    const browser = new TestBrowser();
    const step = await browser.signInAtIdp(
      authorizeUrl(connection.id, 'rotation'),
      'ada',
      idp.issuer,
      connection.callback,
    );
    const callback = new URL(step.res.headers.get('location') ?? '', step.url);
    // The IdP rotates: the new key is in its JWKS and signs the ID token.
    proxy.faults.set(PATHS.jwks, {
      kind: 'rewrite-json',
      rewrite: (jwks) => ({ keys: [published, ...(jwks.keys as unknown[])] }),
    });
    proxy.faults.set(PATHS.token, {
      kind: 'rewrite-json',
      rewrite: async (body) => ({
        ...body,
        id_token: await new SignJWT(decodeJwt(String(body.id_token)))
          .setProtectedHeader({ alg: 'RS256', kid: 'rotated-key' })
          .sign(privateKey),
      }),
    });
    try {
      const started = performance.now();
      const res = await browser.request(callback);
      const elapsed = performance.now() - started;
      const back = new URL(res.headers.get('location') ?? '');
      const found = await gh.api('GET', `/sso/sessions?request_id=${res.headers.get('x-request-id')}`);
      assert.deepEqual([...back.searchParams.keys()].sort(), ['code', 'iss', 'state'], back.href);
      assert.equal(found.body.data[0].outcome, 'succeeded');
      outcomes.push(
        `| jwks | rotation mid-login | signs in (JWKS fetches per sign-in: ${perSignIn}) | ${Math.round(elapsed)} ms |`,
      );
    } finally {
      proxy.faults.clear();
    }
  });

  it('discovery failures at /sso/authorize are recorded at the upstream_redirect stage (not "internal")', async () => {
    proxy.faults.set(PATHS.discovery, BODY_FAULTS['HTTP 503 with HTML'] as Fault);
    try {
      const connection = connections.get('discovery HTTP 503 with HTML');
      assert.ok(connection);
      const res = await new TestBrowser().request(authorizeUrl(connection.id, 'todo'));
      const found = await gh.api('GET', `/sso/sessions?request_id=${res.headers.get('x-request-id')}`);
      assert.equal(found.body.data[0].failed_stage, 'upstream_redirect');
    } finally {
      proxy.faults.clear();
    }
  });
});
