import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { Agent, fetch as undiciFetch } from 'undici';

/**
 * Fetch for URLs that customers supply (OIDC discovery, JWKS, SAML metadata): the SSRF guard.
 *
 * Unless private URLs are allowed (development), it refuses:
 * - schemes other than https;
 * - hosts that are, or resolve to, loopback, private, link-local, CGNAT, multicast, documentation or other
 *   non-public addresses (IPv4, IPv6, and IPv4 embedded in IPv6). The check runs in the socket's DNS lookup,
 *   so it holds for every connection, including redirects, and DNS rebinding between check and use is not
 *   possible.
 * Every request is bounded in time (`timeoutMs`) and in body size (`maxBytes`).
 */

export class UpstreamFetchError extends Error {
  readonly kind: 'blocked' | 'timeout' | 'network' | 'too_large';
  constructor(kind: UpstreamFetchError['kind'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UpstreamFetchError';
    this.kind = kind;
  }
}

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001::', 23],
  ['2001:db8::', 32],
  ['2002::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv6');
}

/** Whether an IP address is not a public unicast address. */
export function isNonPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family === 6) {
    const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
    if (mapped?.[1]) return blocked.check(mapped[1], 'ipv4');
    const mappedHex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
    if (mappedHex?.[1] && mappedHex[2]) {
      const hi = Number.parseInt(mappedHex[1], 16);
      const lo = Number.parseInt(mappedHex[2], 16);
      return blocked.check(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, 'ipv4');
    }
    return blocked.check(address, 'ipv6');
  }
  return true;
}

/** The DNS lookup the guarded agent connects with: fails when any resolved address is non-public. */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '', 0);
    const list = addresses as LookupAddress[];
    const bad = list.find((a) => isNonPublicAddress(a.address));
    if (bad || list.length === 0) {
      const e = new UpstreamFetchError('blocked', `"${hostname}" resolves to a non-public address`);
      return callback(e as NodeJS.ErrnoException, '', 0);
    }
    if ((options as { all?: boolean }).all)
      return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
    const first = list[0] as LookupAddress;
    callback(null, first.address, first.family);
  });
};

export interface SafeFetchOptions {
  allowPrivate: boolean;
  timeoutMs: number;
  /** Default 1 MiB. */
  maxBytes?: number;
}

export type FetchLike = (url: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * Builds a fetch function with the guard. It returns a global `Response` (openid-client requires one) whose
 * body has been read, bounded by `maxBytes`.
 */
export function createSafeFetch(options: SafeFetchOptions): FetchLike {
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  const agent = new Agent({
    connect: options.allowPrivate
      ? { timeout: options.timeoutMs }
      : { timeout: options.timeoutMs, lookup: guardedLookup },
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    keepAliveTimeout: 30_000,
  });

  return async function safeFetch(input, init = {}) {
    const url = new URL(String(input));
    if (!options.allowPrivate) {
      if (url.protocol !== 'https:') {
        throw new UpstreamFetchError('blocked', `only https URLs may be fetched, got "${url.protocol}"`);
      }
      const host = url.hostname.replace(/^\[|\]$/g, '');
      if (isIP(host) && isNonPublicAddress(host)) {
        throw new UpstreamFetchError('blocked', `"${host}" is a non-public address`);
      }
      if (host === 'localhost' || host.endsWith('.localhost')) {
        throw new UpstreamFetchError('blocked', `"${host}" is a loopback name`);
      }
    } else if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new UpstreamFetchError('blocked', `only http(s) URLs may be fetched, got "${url.protocol}"`);
    }

    const timeout = AbortSignal.timeout(options.timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    try {
      const res = await undiciFetch(url, {
        method: init.method ?? 'GET',
        headers: init.headers as Record<string, string>,
        body: init.body as string | undefined,
        redirect: init.redirect ?? 'manual',
        signal,
        dispatcher: agent,
      });
      const declared = Number(res.headers.get('content-length') ?? '0');
      if (declared > maxBytes) {
        await res.body?.cancel();
        throw new UpstreamFetchError('too_large', `response of ${declared} bytes exceeds ${maxBytes}`);
      }
      const chunks: Uint8Array[] = [];
      let size = 0;
      if (res.body) {
        for await (const chunk of res.body) {
          size += chunk.byteLength;
          if (size > maxBytes)
            throw new UpstreamFetchError('too_large', `response exceeds ${maxBytes} bytes`);
          chunks.push(chunk);
        }
      }
      const nullBody =
        res.status === 204 || res.status === 304 || (res.status >= 300 && res.status < 400 && size === 0);
      return new Response(nullBody ? null : Buffer.concat(chunks), {
        status: res.status,
        statusText: res.statusText,
        headers: [...res.headers] as [string, string][],
      });
    } catch (err) {
      if (err instanceof UpstreamFetchError) throw err;
      if (timeout.aborted)
        throw new UpstreamFetchError('timeout', `no response within ${options.timeoutMs} ms`, { cause: err });
      const cause = (err as { cause?: unknown }).cause;
      if (cause instanceof UpstreamFetchError) throw cause;
      throw new UpstreamFetchError('network', (cause as Error)?.message ?? (err as Error).message, {
        cause: err,
      });
    }
  };
}
