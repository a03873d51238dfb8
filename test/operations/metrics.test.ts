import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { catalog } from '../../src/errors/catalog.ts';
import { Metrics } from '../../src/metrics.ts';
import { TestBrowser } from '../helpers/browser.ts';
import { freePort, startGatehouse, TEST_API_KEY, type TestGatehouse } from '../helpers/gatehouse.ts';
import { connectOidcIdp, type OidcSetup } from '../helpers/oidc-idp.ts';
import { type Family, parsePrometheusText, sampleValue, seriesKeys } from '../helpers/prometheus.ts';

/**
 * `GET /metrics` (docs/operations.md), read the way Prometheus reads it: every scrape is parsed by the strict
 * text-format parser of test/helpers/prometheus.ts.
 */

const APP = 'http://localhost:3000/callback';
const TOKEN = 'metrics-token-0123456789abcdef0123456789abcdef';

async function scrape(url: string, token: string | null = TOKEN): Promise<Map<string, Family>> {
  const res = await fetch(`${url}/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  assert.equal(res.headers.get('cache-control'), 'no-store');
  return parsePrometheusText(await res.text());
}

/** `after - before` for each named sample and label subset. */
function delta(
  before: Map<string, Family>,
  after: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number {
  return sampleValue(after, name, labels) - sampleValue(before, name, labels);
}

/** The requests Gatehouse itself makes to oidc-provider (not the browser's). */
const IDP_SERVER_PATHS = ['/.well-known/openid-configuration', '/jwks', '/token', '/me'];

function idpServerHits(setup: OidcSetup): number {
  return IDP_SERVER_PATHS.reduce((sum, path) => sum + (setup.idp.hits.get(path) ?? 0), 0);
}

describe('GET /metrics is off unless configured', () => {
  it('answers 404 (route_not_found) with neither GATEHOUSE_METRICS_TOKEN nor GATEHOUSE_METRICS_PORT, even with a token', async () => {
    const gh = await startGatehouse();
    try {
      for (const headers of [{}, { authorization: `Bearer ${TOKEN}` }] as Record<string, string>[]) {
        const res = await fetch(`${gh.url}/metrics`, { headers });
        assert.equal(res.status, 404);
        assert.deepEqual(await res.json(), {
          message: "The requested path '/metrics' could not be found.",
          code: 'not_found',
        });
      }
    } finally {
      await gh.close();
    }
  });

  it('refuses a short token and a metrics port equal to PORT at start-up, naming the variable', () => {
    assert.throws(
      () => loadConfig({ GATEHOUSE_METRICS_TOKEN: 'short-token' }),
      (err: unknown) => err instanceof ConfigError && err.variable === 'GATEHOUSE_METRICS_TOKEN',
    );
    assert.throws(
      () => loadConfig({ GATEHOUSE_METRICS_TOKEN: `${'a'.repeat(31)} ` }),
      (err: unknown) => err instanceof ConfigError && err.variable === 'GATEHOUSE_METRICS_TOKEN',
    );
    assert.throws(
      () => loadConfig({ PORT: '9100', GATEHOUSE_METRICS_PORT: '9100' }),
      (err: unknown) => err instanceof ConfigError && err.variable === 'GATEHOUSE_METRICS_PORT',
    );
    assert.deepEqual(loadConfig({}).metrics, { token: null, port: null, host: '127.0.0.1' });
  });
});

describe('GET /metrics with GATEHOUSE_METRICS_TOKEN', () => {
  let gh: TestGatehouse;
  let setup: OidcSetup;

  before(async () => {
    gh = await startGatehouse({
      env: { GATEHOUSE_METRICS_TOKEN: TOKEN, GATEHOUSE_SIGNIN_CONSENT: 'off' },
    });
    setup = await connectOidcIdp(gh, { appRedirectUri: APP });
  });
  after(async () => {
    await gh.close();
    await setup.idp.close();
  });

  describe('the token', () => {
    it('no Authorization header: 401 with the bare Bearer challenge (RFC 6750 §3.1), no metrics', async () => {
      const res = await fetch(`${gh.url}/metrics`);
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="gatehouse"');
      assert.deepEqual(await res.json(), { message: catalog.metrics_token_missing.description });
    });

    it('the token in the query string instead of the header is not accepted', async () => {
      const res = await fetch(`${gh.url}/metrics?token=${TOKEN}&access_token=${TOKEN}`);
      assert.equal(res.status, 401);
      assert.deepEqual(await res.json(), { message: catalog.metrics_token_missing.description });
    });

    const wrong: [string, string][] = [
      ['a wrong token', 'Bearer metrics-token-0123456789abcdef0123456789abcdeX'],
      ['a prefix of the token', `Bearer ${TOKEN.slice(0, -1)}`],
      ['the token with a suffix', `Bearer ${TOKEN}x`],
      ['the token under another scheme', `Basic ${TOKEN}`],
      ['the API key', `Bearer ${TEST_API_KEY}`],
      ['two tokens', `Bearer ${TOKEN} ${TOKEN}`],
    ];
    for (const [name, authorization] of wrong) {
      it(`${name}: 401 invalid_token, no metrics`, async () => {
        const res = await fetch(`${gh.url}/metrics`, { headers: { authorization } });
        assert.equal(res.status, 401);
        assert.equal(
          res.headers.get('www-authenticate'),
          `Bearer realm="gatehouse", error="invalid_token", error_description="${catalog.metrics_token_invalid.description}"`,
        );
        assert.deepEqual(await res.json(), {
          error: 'invalid_token',
          error_description: catalog.metrics_token_invalid.description,
        });
      });
    }

    it('the right token: the metrics, every family Gatehouse defines, webhooks at 0, process metrics', async () => {
      const families = await scrape(gh.url);
      for (const [name, type] of [
        ['gatehouse_http_request_duration_seconds', 'histogram'],
        ['gatehouse_signins_started_total', 'counter'],
        ['gatehouse_signins_succeeded_total', 'counter'],
        ['gatehouse_signins_failed_total', 'counter'],
        ['gatehouse_signins_timed_out_total', 'counter'],
        ['gatehouse_upstream_request_duration_seconds', 'histogram'],
        ['gatehouse_rate_limit_rejections_total', 'counter'],
        ['gatehouse_store_operation_duration_seconds', 'histogram'],
        ['gatehouse_webhook_backlog', 'gauge'],
        ['gatehouse_webhook_delivery_failures_total', 'counter'],
        ['process_cpu_seconds_total', 'counter'],
        ['process_resident_memory_bytes', 'gauge'],
        ['nodejs_eventloop_lag_seconds', 'gauge'],
      ]) {
        // prom-client names a counter's family with its _total suffix.
        assert.equal(families.get(name as string)?.type, type, name);
      }
      assert.equal(sampleValue(families, 'gatehouse_webhook_backlog'), 0);
      assert.equal(sampleValue(families, 'gatehouse_webhook_delivery_failures_total'), 0);
    });
  });

  it('a real OIDC sign-in and a cancelled one move the counters by exactly what happened', async () => {
    const before = await scrape(gh.url);
    const hitsBefore = idpServerHits(setup);
    const authorizeUrl = (state: string) =>
      gh.workos.sso.getAuthorizationUrl({
        clientId: gh.clientId,
        redirectUri: APP,
        connection: setup.connectionId,
        state,
      });

    // Signed in: the IdP's login form, back to the app with a code, the code traded through the SDK.
    const browser = new TestBrowser();
    const back = await browser.signInAtIdp(authorizeUrl('ok'), 'ada', setup.idp.issuer, APP);
    const location = new URL(back.res.headers.get('location') ?? '');
    assert.equal(`${location.origin}${location.pathname}`, APP);
    const code = location.searchParams.get('code') ?? '';
    const { profile } = await gh.workos.sso.getProfileAndToken({ code, clientId: gh.clientId });
    assert.equal(profile.email, 'ada@acme.com');

    // Cancelled at the IdP: it sends the user back with error=access_denied.
    const other = new TestBrowser();
    const atLogin = await other.follow(authorizeUrl('cancel'), APP);
    await atLogin.res.text();
    const uid = /^\/interaction\/([^/]+)$/.exec(atLogin.url.pathname)?.[1];
    assert.ok(uid, atLogin.url.href);
    const cancelled = await other.follow(`${setup.idp.issuer}/interaction/${uid}/abort`, APP);
    const error = new URL(cancelled.res.headers.get('location') ?? '');
    assert.equal(error.searchParams.get('error'), 'access_denied');

    const after = await scrape(gh.url);
    const okta = { connection_type: 'OktaOIDC' };
    assert.equal(delta(before, after, 'gatehouse_signins_started_total', okta), 2);
    assert.equal(delta(before, after, 'gatehouse_signins_started_total'), 2);
    assert.equal(delta(before, after, 'gatehouse_signins_succeeded_total', okta), 1);
    assert.equal(delta(before, after, 'gatehouse_signins_succeeded_total'), 1);
    assert.equal(
      delta(before, after, 'gatehouse_signins_failed_total', { ...okta, reason: 'upstream_user_cancelled' }),
      1,
    );
    assert.equal(delta(before, after, 'gatehouse_signins_failed_total'), 1);
    assert.equal(delta(before, after, 'gatehouse_rate_limit_rejections_total'), 0);

    // Every request Gatehouse made to the IdP, and only those, under the configured issuer's host.
    const upstream = idpServerHits(setup) - hitsBefore;
    assert.ok(upstream >= 2, `token and JWKS at least, got ${upstream}`);
    const idpHost = new URL(setup.idp.issuer).host;
    assert.equal(delta(before, after, 'gatehouse_upstream_request_duration_seconds_count'), upstream);
    assert.equal(
      delta(before, after, 'gatehouse_upstream_request_duration_seconds_count', {
        ...okta,
        idp_host: idpHost,
        status_class: '2xx',
      }),
      upstream,
    );

    // Requests by route pattern: two authorizes and two callbacks (redirects), one token exchange.
    const http = 'gatehouse_http_request_duration_seconds_count';
    const authorize = { method: 'GET', route: '/sso/authorize', status_class: '3xx' };
    assert.equal(delta(before, after, http, authorize), 2);
    const callback = { method: 'GET', route: '/sso/oidc/callback/:key', status_class: '3xx' };
    assert.equal(delta(before, after, http, callback), 2);
    assert.equal(delta(before, after, http, { method: 'POST', route: '/sso/token', status_class: '2xx' }), 1);
    assert.equal(delta(before, after, http, { route: '/metrics', status_class: '2xx' }), 1);

    // Store calls by method: each sign-in created its login transaction once and ended in one write.
    const store = 'gatehouse_store_operation_duration_seconds_count';
    assert.equal(delta(before, after, store, { operation: 'createLoginTransaction', result: 'ok' }), 2);
    assert.equal(delta(before, after, store, { operation: 'completeSignIn', result: 'ok' }), 2);
    assert.equal(delta(before, after, store, { result: 'error' }), 0);
  });

  it('the request duration histogram is labelled with route patterns, never with the request URL', async () => {
    const id = `conn_${randomBytes(8).toString('hex')}`;
    const res = await gh.api('GET', `/connections/${id}?probe=${id}`);
    assert.equal(res.status, 404);
    const families = await scrape(gh.url);
    const routes = new Set(
      (families.get('gatehouse_http_request_duration_seconds')?.samples ?? []).map((s) => s.labels.route),
    );
    assert.ok(routes.has('/connections/:id'), [...routes].join(', '));
    for (const route of routes) assert.ok(route === 'unmatched' || !route?.includes('conn_'), route);
    const buckets = (families.get('gatehouse_http_request_duration_seconds')?.samples ?? []).filter(
      (s) => s.labels.route === '/connections/:id' && s.name.endsWith('_bucket'),
    );
    assert.deepEqual(
      buckets.map((s) => s.labels.le),
      ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf'],
    );
  });
});

describe('cardinality: made-up URLs, keys and IDs add no series', () => {
  let gh: TestGatehouse;
  before(async () => {
    gh = await startGatehouse({ env: { GATEHOUSE_METRICS_TOKEN: TOKEN, GATEHOUSE_REDIRECT_URIS: APP } });
  });
  after(() => gh.close());

  /** One request of each kind, with fresh random values in every place a client controls. */
  const kinds: ((r: string) => Promise<Response>)[] = [
    (r) => fetch(`${gh.url}/made-up/${r}?${r}=${r}`),
    (r) => fetch(`${gh.url}/connections/conn_${r}`, { headers: { authorization: `Bearer ${TEST_API_KEY}` } }),
    (r) => fetch(`${gh.url}/organizations/org_${r}?x=${r}`, { headers: { authorization: `Bearer sk_${r}` } }),
    (r) => fetch(`${gh.url}/sso/oidc/callback/${r}?state=${r}&code=${r}`, { redirect: 'manual' }),
    (r) =>
      fetch(`${gh.url}/sso/saml/acs/${r}`, {
        method: 'POST',
        body: new URLSearchParams({ SAMLResponse: r, RelayState: r }),
        redirect: 'manual',
      }),
    (r) =>
      fetch(
        `${gh.url}/sso/authorize?response_type=code&client_id=${gh.clientId}&redirect_uri=${encodeURIComponent(APP)}&connection=conn_${r}&state=${r}`,
        { redirect: 'manual' },
      ),
    (r) => fetch(`${gh.url}/sso/authorize?client_id=client_${r}&redirect_uri=https%3A%2F%2F${r}.example%2F`),
  ];

  async function hitAll(rounds: number, values: string[]): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      for (const kind of kinds) {
        const value = randomBytes(12).toString('hex');
        values.push(value);
        await (await kind(value)).arrayBuffer();
      }
    }
  }

  it(`${7 * 29} requests with made-up values leave the series of gatehouse_* unchanged and name none of them`, async () => {
    // Once each kind, then two scrapes: the second also holds the first scrape's own request.
    await hitAll(1, []);
    await scrape(gh.url);
    const baseline = await scrape(gh.url);
    const allBefore = seriesKeys(baseline).size;

    const values: string[] = [];
    await hitAll(29, values);
    const res = await fetch(`${gh.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const text = await res.text();
    const after = parsePrometheusText(text);

    assert.deepEqual(
      [...seriesKeys(after, 'gatehouse_')].sort(),
      [...seriesKeys(baseline, 'gatehouse_')].sort(),
    );
    // The process metrics may gain series (a first GC of a new kind adds a whole histogram, a new kind of active
    // handle a gauge), but not one per request: those families aside, the count is bounded.
    const steady = (keys: Set<string>) =>
      [...keys].filter((k) => !k.startsWith('nodejs_gc_duration_seconds') && !k.startsWith('nodejs_active_'))
        .length;
    assert.ok(
      steady(seriesKeys(after)) - steady(seriesKeys(baseline)) < 10,
      `${allBefore} → ${seriesKeys(after).size} series`,
    );
    for (const value of values) assert.ok(!text.includes(value), `${value} in the metrics`);
    // The requests were counted all the same.
    assert.equal(
      delta(baseline, after, 'gatehouse_http_request_duration_seconds_count') - 1,
      values.length,
      'every request counted (plus the baseline scrape)',
    );
  });
});

describe('rate-limit rejections', () => {
  it('are counted by the limit that refused them', async () => {
    const gh = await startGatehouse({
      env: { GATEHOUSE_METRICS_TOKEN: TOKEN, GATEHOUSE_RATE_LIMIT_CALLBACK_IP: '2/60s' },
    });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const res = await fetch(`${gh.url}/sso/oidc/callback/key${i}?state=x`);
        await res.arrayBuffer();
        statuses.push(res.status);
      }
      assert.deepEqual(statuses, [400, 400, 429, 429]);
      const families = await scrape(gh.url);
      assert.deepEqual(
        families.get('gatehouse_rate_limit_rejections_total')?.samples.map((s) => [s.labels, s.value]),
        [[{ limit: 'callbackIp' }, 2]],
      );
    } finally {
      await gh.close();
    }
  });
});

describe('GATEHOUSE_METRICS_PORT: a separate port', () => {
  it('serves /metrics there only (no token needed), and the main port answers 404', async () => {
    const port = await freePort();
    const gh = await startGatehouse({ env: { GATEHOUSE_METRICS_PORT: String(port) } });
    try {
      const main = await fetch(`${gh.url}/metrics`);
      assert.equal(main.status, 404);
      await main.arrayBuffer();
      await gh.api('GET', '/organizations');
      const families = await scrape(`http://127.0.0.1:${port}`, null);
      const http = 'gatehouse_http_request_duration_seconds_count';
      assert.equal(sampleValue(families, http, { route: '/organizations', status_class: '2xx' }), 1);
      // Only the main port's requests are counted: the scrape of the metrics port is not one of them.
      assert.equal(sampleValue(families, http, { route: '/metrics' }), 0);
      const other = await fetch(`http://127.0.0.1:${port}/organizations`);
      assert.equal(other.status, 404);
      await other.arrayBuffer();
    } finally {
      await gh.close();
    }
    // Closing the app closes the metrics port.
    await assert.rejects(fetch(`http://127.0.0.1:${port}/metrics`));
  });

  it('with a token as well, the metrics port requires it', async () => {
    const port = await freePort();
    const gh = await startGatehouse({
      env: { GATEHOUSE_METRICS_PORT: String(port), GATEHOUSE_METRICS_TOKEN: TOKEN },
    });
    try {
      const bare = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(bare.status, 401);
      assert.deepEqual(await bare.json(), { message: catalog.metrics_token_missing.description });
      await scrape(`http://127.0.0.1:${port}`, TOKEN);
      const main = await fetch(`${gh.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(main.status, 404);
      await main.arrayBuffer();
    } finally {
      await gh.close();
    }
  });
});

describe('the webhook hooks', () => {
  it('the backlog is read from its source at each scrape (0 without one; the last value if the source fails); failures count', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const read = async () => parsePrometheusText(await metrics.render());
    assert.equal(sampleValue(await read(), 'gatehouse_webhook_backlog'), 0);
    let backlog: number | Error = 7;
    metrics.webhookBacklog(async () => {
      if (backlog instanceof Error) throw backlog;
      return backlog;
    });
    assert.equal(sampleValue(await read(), 'gatehouse_webhook_backlog'), 7);
    backlog = 3;
    assert.equal(sampleValue(await read(), 'gatehouse_webhook_backlog'), 3);
    backlog = new Error('database down');
    assert.equal(sampleValue(await read(), 'gatehouse_webhook_backlog'), 3);
    metrics.webhookDeliveryFailed();
    metrics.webhookDeliveryFailed();
    assert.equal(sampleValue(await read(), 'gatehouse_webhook_delivery_failures_total'), 2);
  });
});

describe('the strict text-format parser of these tests', () => {
  const good = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 2\n';
  it('reads a well-formed exposition (escapes, NaN and Inf as Go reads them)', () => {
    const families = parsePrometheusText(
      `${good}# TYPE b gauge\nb{v="q\\"\\\\\\n"} Nan\nb{v="2"} +Inf\n` +
        '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n',
    );
    assert.equal(sampleValue(families, 'a_total', { x: '1' }), 2);
    assert.deepEqual(
      families.get('b')?.samples.map((s) => s.labels.v),
      ['q"\\\n', '2'],
    );
    assert.equal(sampleValue(families, 'h_count'), 2);
  });
  const bad: [string, string][] = [
    ['a sample of an undeclared family', 'c 1\n'],
    ['a series twice', `${good}a_total{x="1"} 3\n`],
    ['a family split in two', `${good}# TYPE b gauge\nb 1\na_total{x="2"} 1\n`],
    ['a TYPE after the samples', `${good}# TYPE a_total counter\n`],
    ['a counter sample without _total', '# TYPE a counter\na 1\n'],
    ['a bad escape', '# TYPE b gauge\nb{v="\\t"} 1\n'],
    ['an unquoted label value', '# TYPE b gauge\nb{v=1} 1\n'],
    ['a label twice', '# TYPE b gauge\nb{v="1",v="2"} 1\n'],
    ['a value that is not a number', '# TYPE b gauge\nb one\n'],
    ['no final line feed', '# TYPE b gauge\nb 1'],
    [
      'buckets that are not cumulative',
      '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n',
    ],
    ['no +Inf bucket', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_count 1\n'],
    ['+Inf bucket other than _count', '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_count 2\n'],
  ];
  for (const [name, text] of bad) {
    it(`refuses ${name}`, () => assert.throws(() => parsePrometheusText(text)));
  }
});
