import assert from 'node:assert/strict';
import type { lookup as dnsLookup, LookupAddress } from 'node:dns';
import { createServer, type Server } from 'node:http';
import { BlockList } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  checkFetchTarget,
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
    '0:0:0:0:0:ffff:7f00:1', // the same, uncompressed
    '::ffff:169.254.169.254',
    '64:ff9b::a9fe:a9fe', // NAT64 of the metadata address
    '64:ff9b::10.0.0.1', // NAT64 of a private address, dotted
    '2002:7f00:1::', // 6to4 of loopback
    '2002:808:808::1', // 6to4 of a public address: deprecated (RFC 7526), no IdP is reached that way
    '2001:0:4136:e378:8000:63bf:3fff:fdd2', // Teredo
    '64:ff9b:1::a00:1', // local-use NAT64 (RFC 8215)
    '::ffff:0:7f00:1', // SIIT IPv4-translated (RFC 2765)
    '100::1', // discard-only
    '2001:db8::1', // documentation
    '3fff::1', // documentation (RFC 9637)
    '5f00::1', // SRv6 SIDs (RFC 9602)
    'fec0::1', // deprecated site-local
    'ff02::1', // multicast
    'fe80::1%eth0', // link-local with a zone
    'not-an-ip',
  ];
  for (const address of blocked) {
    it(`blocks ${address}`, () => assert.equal(isNonPublicAddress(address), true));
  }
  // IPv4-compatible IPv6 (::/96, deprecated by RFC 4291 §2.5.5.1): `https://[::127.0.0.1]/` is `[::7f00:1]`,
  // and a stack that still routes these reaches the IPv4 host. All of ::/96 is refused, public IPv4 included.
  for (const address of [
    '::127.0.0.1',
    '::7f00:1',
    '::169.254.169.254',
    '::a00:1',
    '::8.8.8.8',
    '::0.0.0.2',
  ]) {
    it(`blocks IPv4-compatible ${address}`, () => assert.equal(isNonPublicAddress(address), true));
  }
  for (const address of [
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '2606:4700:4700::1111',
    '2a00:1450:4001:80b::200e',
    '::ffff:8.8.8.8', // IPv4-mapped: the IPv4 address itself
    '64:ff9b::808:808', // NAT64 of a public address: how an IPv6-only network (DNS64) reaches IPv4-only IdPs
  ]) {
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
    await assert.rejects(f('https://[::127.0.0.1]:1/'), rejectsWith('blocked')); // IPv4-compatible loopback
    await assert.rejects(f('https://[::ffff:127.0.0.1]:1/'), rejectsWith('blocked'));
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
    assert.equal(result.err.message, 'not allowed (only https URLs of public addresses may be fetched)');
    assert.match(result.err.detail, /^"localhost" resolves to a non-public address \((127\.0\.0\.1|::1)\)$/);
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

  it('port scan: a refused connection reads "unreachable", with no errno, address or port', async () => {
    // Whoever sets a fetched URL (an API-key holder) sees the message; the raw error is only for the logs.
    const f = createSafeFetch({ allowPrivate: true, timeoutMs: 2000 });
    const closed = await freePort();
    await assert.rejects(f(`http://127.0.0.1:${closed}/`), (err: unknown) => {
      assert.ok(err instanceof UpstreamFetchError && err.kind === 'network', String(err));
      assert.equal(err.message, 'unreachable');
      assert.equal(err.detail, `connect ECONNREFUSED 127.0.0.1:${closed}`);
      return true;
    });
  });

  it('each kind of failure has one fixed message', async () => {
    const strict = createSafeFetch({ allowPrivate: false, timeoutMs: 200 });
    const loose = createSafeFetch({ allowPrivate: true, timeoutMs: 200, maxBytes: 1000 });
    const messageOf = (p: Promise<unknown>) =>
      p.then(
        () => 'resolved',
        (e: Error) => e.message,
      );
    assert.equal(
      await messageOf(strict('https://10.1.2.3/')),
      'not allowed (only https URLs of public addresses may be fetched)',
    );
    assert.equal(await messageOf(loose(`${base}/slow`)), 'timed out');
    assert.equal(await messageOf(loose(`${base}/big`)), 'too large');
  });

  it("oversize 'truncate': the body is kept up to maxBytes, the rest unread, declared or streamed", async () => {
    const f = createSafeFetch({ allowPrivate: true, timeoutMs: 1000, maxBytes: 1000, oversize: 'truncate' });
    for (const path of ['/big', '/big-chunked']) {
      const res = await f(`${base}${path}`);
      assert.equal(res.status, 200);
      assert.equal((await res.text()).length, 1000, path);
    }
  });

  it('allowNetworks: plain http and non-public addresses of those networks only; every connection is checked', async () => {
    const allowNetworks = new BlockList();
    allowNetworks.addSubnet('127.0.0.0', 8, 'ipv4');
    const answers = new Map([
      ['inside.test', '127.0.0.1'],
      ['outside.test', '10.0.0.1'],
    ]);
    const lookup = ((name: string, _o: unknown, cb: (e: Error | null, a: LookupAddress[]) => void) => {
      const address = answers.get(name);
      process.nextTick(() => (address ? cb(null, [{ address, family: 4 }]) : cb(new Error('ENOTFOUND'), [])));
    }) as unknown as typeof dnsLookup;
    const options = { allowPrivate: false, timeoutMs: 1000, allowNetworks, lookup };
    const f = createSafeFetch(options);
    const port = new URL(base).port;
    assert.deepEqual(await (await f(`${base}/`)).json(), { ok: true });
    assert.deepEqual(await (await f(`http://inside.test:${port}/`)).json(), { ok: true });
    await assert.rejects(f(`http://outside.test:${port}/`), rejectsWith('blocked'));
    await assert.rejects(f('http://10.0.0.1/'), rejectsWith('blocked'));
    await assert.rejects(f('http://93.184.216.34/'), rejectsWith('blocked')); // public, but not over http
    await assert.rejects(f('https://[::1]/'), rejectsWith('blocked'));
    // checkFetchTarget judges a URL the same way, its name resolved now.
    assert.equal(await checkFetchTarget(`http://inside.test:${port}/`, options), null);
    assert.equal(await checkFetchTarget('https://93.184.216.34/', options), null);
    assert.equal(
      await checkFetchTarget('https://unknown.test/', options),
      null,
      'unresolvable: left to the fetch',
    );
    for (const url of [
      'http://outside.test/',
      'https://outside.test/',
      'http://93.184.216.34/',
      'ftp://inside.test/',
    ]) {
      assert.equal((await checkFetchTarget(url, options))?.kind, 'blocked', url);
    }
    assert.equal(
      (await checkFetchTarget('https://localhost/', { allowPrivate: false, timeoutMs: 1000 }))?.kind,
      'blocked',
    );
  });
});
