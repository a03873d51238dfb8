import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { freePort, startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import { makeIdp } from '../helpers/saml-idp.ts';
import { type Fault, type HttpFaultProxy, startHttpFaultProxy, startTlsListener } from './proxies.ts';

/**
 * Faults at a SAML connection's `idp_metadata_url` (fetched when the connection is saved and on
 * refresh_metadata), injected by the loopback fault proxy in front of a server of the samlify IdP's metadata:
 * each refresh under a fault is a 422 naming the field with one fixed reason, within the upstream timeout, with
 * nothing from the response in it; the metadata in use is kept; the refresh after the fault succeeds.
 * (test/management/saml-connections.test.ts covers 404, 500 and a closed port at creation.)
 */

const TIMEOUT_MS = 500;
const MARGIN_MS = 1500;
const UPSTREAM_TEXT = 'upstream-secret-text-4c1d';
const html = `<html><body><h1>Bad Gateway</h1>${UPSTREAM_TEXT}</body></html>`;

const FAULTS: Array<{ name: string; fault: Fault | { kind: 'refused' }; reason: RegExp }> = [
  { name: 'connection refused', fault: { kind: 'refused' }, reason: /could not be fetched: unreachable$/ },
  { name: 'connection reset', fault: { kind: 'reset' }, reason: /could not be fetched: unreachable$/ },
  { name: 'slow (4 s)', fault: { kind: 'delay', ms: 4000 }, reason: /could not be fetched: timed out$/ },
  { name: 'truncated body', fault: { kind: 'truncate' }, reason: /could not be fetched: unreachable$/ },
  {
    name: 'huge body (3 MB)',
    fault: {
      kind: 'respond',
      status: 200,
      contentType: 'application/xml',
      body: `<x>${'a'.repeat(3 << 20)}</x>`,
    },
    reason: /could not be fetched: too large$/,
  },
  {
    name: 'HTTP 503 with HTML',
    fault: { kind: 'respond', status: 503, contentType: 'text/html', body: html },
    reason: /answered HTTP 503$/,
  },
  {
    name: 'HTML 200',
    fault: { kind: 'respond', status: 200, contentType: 'text/html', body: html },
    reason: /has no EntityDescriptor with an IDPSSODescriptor$/,
  },
  {
    name: 'garbage body',
    fault: { kind: 'respond', status: 200, contentType: 'application/xml', body: randomBytes(400) },
    reason: /is not XML$/,
  },
];

describe('IdP faults (SAML metadata URL)', () => {
  let gh: TestGatehouse;
  let proxy: HttpFaultProxy;
  let origin: Server;
  let connectionId: string;
  let fingerprints: string[];
  const rows: string[] = [];

  before(async () => {
    const idp = await makeIdp();
    const metadata = idp.metadata();
    origin = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/samlmetadata+xml' });
      res.end(metadata);
    });
    const originPort = await freePort();
    await new Promise<void>((resolve) => origin.listen(originPort, '127.0.0.1', () => resolve()));
    const proxyPort = await freePort();
    proxy = await startHttpFaultProxy(proxyPort, originPort);
    gh = await startGatehouse({ env: { GATEHOUSE_UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS) } });
    const org = await gh.api('POST', '/organizations', { name: 'Acme' });
    const res = await gh.api('POST', '/connections', {
      connection_type: 'OktaSAML',
      organization_id: org.body.id,
      saml_options: { idp_metadata_url: `http://127.0.0.1:${proxyPort}/metadata` },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    connectionId = res.body.id;
    fingerprints = res.body.saml_options.idp_certificate_fingerprints;
  });

  after(async () => {
    await gh?.close();
    await proxy?.close();
    await new Promise((resolve) => origin?.close(resolve));
    if (rows.length) process.stdout.write(`${rows.join('\n')}\n`);
  });

  for (const { name, fault, reason } of FAULTS) {
    it(`refresh_metadata: ${name}`, async () => {
      if (fault.kind === 'refused') await proxy.down();
      else proxy.faults.set('/metadata', fault);
      let res: Awaited<ReturnType<TestGatehouse['api']>>;
      let elapsed: number;
      try {
        const started = performance.now();
        res = await gh.api('POST', `/connections/${connectionId}/refresh_metadata`);
        elapsed = performance.now() - started;
      } finally {
        proxy.faults.clear();
        if (fault.kind === 'refused') await proxy.up();
      }
      assert.equal(res.status, 422, JSON.stringify(res.body));
      assert.ok(elapsed < TIMEOUT_MS + MARGIN_MS, `answered after ${Math.round(elapsed)} ms`);
      assert.deepEqual(
        res.body.errors.map((e: { field: string }) => e.field),
        ['saml_options.idp_metadata_url'],
      );
      assert.match(res.body.errors[0].code, reason);
      assert.doesNotMatch(
        JSON.stringify(res.body),
        new RegExp(`${UPSTREAM_TEXT}|127\\.0\\.0\\.1|ECONN|<html`),
      );
      const kept = await gh.api('GET', `/connections/${connectionId}`);
      assert.deepEqual(kept.body.saml_options.idp_certificate_fingerprints, fingerprints);
      const started = performance.now();
      const again = await gh.api('POST', `/connections/${connectionId}/refresh_metadata`);
      assert.equal(again.status, 200, JSON.stringify(again.body));
      rows.push(
        `| ${name} | 422: ${res.body.errors[0].code} | ${Math.round(elapsed)} ms | ${Math.round(performance.now() - started)} ms |`,
      );
    });
  }

  it('at creation: a TLS failure (self-signed certificate) and a DNS failure (a name that does not resolve)', async () => {
    const tls = await startTlsListener();
    try {
      const org = await gh.api('POST', '/organizations', { name: 'Other' });
      for (const [fault, url] of [
        ['TLS failure (self-signed)', `https://127.0.0.1:${tls.port}/metadata`],
        ['DNS failure', 'http://idp.gatehouse-faults.invalid/metadata'],
      ]) {
        const started = performance.now();
        const res = await gh.api('POST', '/connections', {
          connection_type: 'OktaSAML',
          organization_id: org.body.id,
          saml_options: { idp_metadata_url: url },
        });
        const elapsed = performance.now() - started;
        assert.equal(res.status, 422, JSON.stringify(res.body));
        assert.deepEqual(
          res.body.errors.map((e: { field: string; code: string }) => [e.field, e.code]),
          [
            [
              'saml_options.idp_metadata_url',
              'saml_options.idp_metadata_url could not be fetched: unreachable',
            ],
          ],
        );
        assert.ok(elapsed < TIMEOUT_MS + MARGIN_MS, `answered after ${Math.round(elapsed)} ms`);
        rows.push(
          `| ${fault}, at creation | 422: ${res.body.errors[0].code} | ${Math.round(elapsed)} ms | |`,
        );
      }
    } finally {
      await tls.close();
    }
  });
});
