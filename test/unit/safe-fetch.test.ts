import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import {
  createSafeFetch,
  guardedLookup,
  isNonPublicAddress,
  UpstreamFetchError,
} from '../../src/lib/safe-fetch.ts';
import { freePort } from '../helpers/gatehouse.ts';

describe('non-public address classification (SSRF guard)', () => {
  const blocked = [
    '127.0.0.1',
    '127.255.0.9',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254', // cloud metadata
    '100.64.0.1', // carrier-grade NAT
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::1',
    '::',
    'fe80::1',
    'fc00::1',
    'fd12:3456::1',
    '::ffff:127.0.0.1', // IPv4-mapped loopback
    '::ffff:7f00:1', // the same, in hex
    '::ffff:169.254.169.254',
    '64:ff9b::a9fe:a9fe', // NAT64 of the metadata address
    '2002:7f00:1::', // 6to4 of loopback
    'not-an-ip',
  ];
  for (const address of blocked) {
    it(`blocks ${address}`, () => assert.equal(isNonPublicAddress(address), true));
  }
  for (const address of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
    it(`allows public ${address}`, () => assert.equal(isNonPublicAddress(address), false));
  }
});

describe('safe fetch', () => {
  let server: Server;
  let base: string;
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/slow') return void setTimeout(() => res.end('late'), 2_000);
      if (req.url === '/big') return void res.end('x'.repeat(4096));
      if (req.url === '/big-chunked') {
        res.write('x'.repeat(2048));
        return void res.end('x'.repeat(2048));
      }
      res.setHeader('content-type', 'application/json');
      res.end('{"ok":true}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const rejectsWith = (kind: UpstreamFetchError['kind']) => (err: unknown) =>
    err instanceof UpstreamFetchError && err.kind === kind;

  it('refuses plain http, loopback IPs and localhost names by default', async () => {
    const f = createSafeFetch({ allowPrivate: false, timeoutMs: 1000 });
    await assert.rejects(f(`${base}/`), rejectsWith('blocked'));
    await assert.rejects(f('https://127.0.0.1:1/'), rejectsWith('blocked'));
    await assert.rejects(f('https://[::1]:1/'), rejectsWith('blocked'));
    await assert.rejects(f('https://localhost:1/'), rejectsWith('blocked'));
    await assert.rejects(f('https://metadata.localhost/'), rejectsWith('blocked'));
    await assert.rejects(f('file:///etc/passwd'), rejectsWith('blocked'));
  });

  it('refuses at connect time a name that resolves to a non-public address (DNS rebinding)', async () => {
    // The name check is only a shortcut: every connection of the guarded agent resolves through guardedLookup,
    // so a public-looking name whose DNS answer is private fails when the socket is opened.
    const result = await new Promise<{ err: NodeJS.ErrnoException | null; address: unknown }>((resolve) =>
      guardedLookup('localhost', { family: 0 }, (err, address) => resolve({ err, address })),
    );
    assert.ok(result.err instanceof UpstreamFetchError && result.err.kind === 'blocked', String(result.err));
    assert.match(result.err.message, /"localhost" resolves to a non-public address/);
    assert.equal(result.address, '');
  });

  it('fetches loopback when private URLs are allowed, returning a global Response', async () => {
    const f = createSafeFetch({ allowPrivate: true, timeoutMs: 1000 });
    const res = await f(`${base}/`);
    assert.ok(res instanceof Response);
    assert.deepEqual(await res.json(), { ok: true });
  });

  it('bounds the time of a slow upstream', async () => {
    const f = createSafeFetch({ allowPrivate: true, timeoutMs: 200 });
    const started = Date.now();
    await assert.rejects(f(`${base}/slow`), rejectsWith('timeout'));
    assert.ok(Date.now() - started < 1500);
  });

  it('bounds the size of the body, declared or streamed', async () => {
    const f = createSafeFetch({ allowPrivate: true, timeoutMs: 1000, maxBytes: 1000 });
    await assert.rejects(f(`${base}/big`), rejectsWith('too_large'));
    await assert.rejects(f(`${base}/big-chunked`), rejectsWith('too_large'));
  });

  it('reports a refused connection as a network error', async () => {
    const f = createSafeFetch({ allowPrivate: true, timeoutMs: 1000 });
    const closed = await freePort();
    await assert.rejects(f(`http://127.0.0.1:${closed}/`), (err: unknown) => {
      assert.ok(err instanceof UpstreamFetchError && err.kind === 'network', String(err));
      assert.match(err.message, /ECONNREFUSED/);
      return true;
    });
  });
});
