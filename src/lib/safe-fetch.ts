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
 *
 * A failure is an UpstreamFetchError whose message is one fixed reason per kind: it is what API-key holders
 * and the session log see, so it names no host, address, port or errno (those would let whoever can set a
 * URL probe the network from here). The raw cause is on `detail` and `cause`, for the server's logs only.
 */

/** The public reason of each kind of failure: the whole message, whatever the URL. */
export const UPSTREAM_FETCH_REASONS = {
  blocked: 'not allowed (only https URLs of public addresses may be fetched)',
  timeout: 'timed out',
  network: 'unreachable',
  too_large: 'too large',
} as const;

export class UpstreamFetchError extends Error {
  readonly kind: keyof typeof UPSTREAM_FETCH_REASONS;
  /** What happened, with hosts, addresses and error codes: for the server's logs, never for a response. */
  readonly detail: string;
  constructor(kind: UpstreamFetchError['kind'], detail: string, options?: { cause?: unknown }) {
    super(UPSTREAM_FETCH_REASONS[kind], options);
    this.name = 'UpstreamFetchError';
    this.kind = kind;
    this.detail = detail;
  }
}

/** The raw detail of the UpstreamFetchError in `err` or its causes (for a log line), else undefined. */
export function upstreamFetchDetail(err: unknown): string | undefined {
  let e = err;
  for (let depth = 0; e && depth < 5; depth++) {
    if (e instanceof UpstreamFetchError) return e.detail;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

const blockedV4 = new BlockList();
// The IANA IPv4 Special-Purpose Address Registry (RFC 6890 and updates): every block that is not globally
// reachable, plus 192.88.99.0/24 (the deprecated 6to4 relays, RFC 7526), multicast and the reserved 240/4.
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
  blockedV4.addSubnet(net, prefix, 'ipv4');
}

const blockedV6 = new BlockList();
// Everything outside 2000::/3, the only space IANA allocates as global unicast. That covers ::/128, ::1, the
// IPv4-compatible ::/96 (deprecated, RFC 4291 §2.5.5.1; a stack may still reach the IPv4 host of ::a.b.c.d),
// SIIT's ::ffff:0:0:0/96, 64:ff9b:1::/48 (local-use NAT64, RFC 8215: it may translate to private IPv4 by design,
// at a position that depends on the operator's prefix length), 100::/64 (discard), fc00::/7 (unique local),
// fe80::/10, fec0::/10, ff00::/8 and 5f00::/16 (SRv6). Then the special-purpose blocks inside 2000::/3.
for (const [net, prefix] of [
  ['::', 3],
  ['4000::', 2],
  ['8000::', 1],
  ['2001::', 23], // IETF protocol assignments: Teredo 2001::/32 (embeds an IPv4 server and client), ORCHID, …
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4 (deprecated, RFC 7526): embeds an IPv4 address, reached through a relay
  ['3fff::', 20], // documentation (RFC 9637)
] as const) {
  blockedV6.addSubnet(net, prefix, 'ipv6');
}

/** The eight 16-bit groups of an IPv6 address, or null if it cannot be read as one. */
function ipv6Groups(address: string): number[] | null {
  let canonical: string;
  try {
    // The WHATWG URL parser writes every IPv6 form (dotted tail, leading zeros, upper case) in one canonical
    // form: lower-case hex groups, at most one `::`.
    canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return null;
  }
  const [head = '', tail] = canonical.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const zeros = 8 - left.length - right.length;
  if (zeros < 0) return null;
  const groups = [...left, ...new Array<number>(zeros).fill(0), ...right];
  return groups.every((g) => g >= 0 && g <= 0xffff) ? groups : null;
}

/**
 * The IPv4 address an IPv6 address stands for, where connecting to it reaches that IPv4 address: IPv4-mapped
 * (::ffff:0:0/96, how a dual-stack socket sees IPv4) or the well-known NAT64 prefix (64:ff9b::/96, RFC 6052,
 * which DNS64 gives IPv4-only names on an IPv6-only network). Else null.
 */
function embeddedIpv4(g: number[]): string | null {
  const zero = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  const mapped = zero(0, 5) && g[5] === 0xffff;
  const nat64 = g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6);
  if (!mapped && !nat64) return null;
  const hi = g[6] as number;
  const lo = g[7] as number;
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/**
 * Whether an IP address is not a public unicast address. The IPv6 forms that stand for an IPv4 address
 * (mapped, NAT64) are judged by that address; the other forms that embed one (IPv4-compatible, 6to4, Teredo,
 * local-use NAT64) are refused whatever it is: no identity provider is reached that way.
 */
export function isNonPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blockedV4.check(address, 'ipv4');
  if (family !== 6) return true;
  const groups = ipv6Groups(address);
  if (!groups) return true;
  const ipv4 = embeddedIpv4(groups);
  if (ipv4 !== null) return blockedV4.check(ipv4, 'ipv4');
  return blockedV6.check(groups.map((x) => x.toString(16)).join(':'), 'ipv6');
}

/** A DNS lookup that fails when any address a name resolves to is not `allowed`. */
function guardLookup(resolve: typeof dnsLookup, allowed: (address: string) => boolean): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses as LookupAddress[];
      const bad = list.find((a) => !allowed(a.address));
      if (bad || list.length === 0) {
        const e = new UpstreamFetchError(
          'blocked',
          `"${hostname}" resolves to a non-public address${bad ? ` (${bad.address})` : ''}`,
        );
        return callback(e as NodeJS.ErrnoException, '', 0);
      }
      if ((options as { all?: boolean }).all)
        return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
      const first = list[0] as LookupAddress;
      callback(null, first.address, first.family);
    });
  };
}

/** The DNS lookup the guarded agent connects with: fails when any resolved address is non-public. */
export const guardedLookup: LookupFunction = guardLookup(dnsLookup, (a) => !isNonPublicAddress(a));

export interface SafeFetchOptions {
  allowPrivate: boolean;
  timeoutMs: number;
  /** Default 1 MiB. */
  maxBytes?: number;
  /**
   * Non-public networks that may be reached all the same, over https or http (webhook receivers on the
   * operator's own network: GATEHOUSE_WEBHOOK_ALLOW_PRIVATE). Every other address must still be public and
   * reached over https. Default: none.
   */
  allowNetworks?: BlockList;
  /** A body over `maxBytes`: `error` (UpstreamFetchError `too_large`; the default) or `truncate` (the rest is not read). */
  oversize?: 'error' | 'truncate';
  /** The DNS lookup (tests point names at other addresses). Default: node:dns `lookup`. */
  lookup?: typeof dnsLookup;
}

/** Whether `address` is in `networks` (either family; IPv4-mapped IPv6 as its IPv4 address). */
function inNetworks(networks: BlockList | undefined, address: string): boolean {
  if (!networks) return false;
  const family = isIP(address);
  if (family === 4) return networks.check(address, 'ipv4');
  if (family !== 6) return false;
  const groups = ipv6Groups(address);
  const ipv4 = groups ? embeddedIpv4(groups) : null;
  return networks.check(address, 'ipv6') || (ipv4 !== null && networks.check(ipv4, 'ipv4'));
}

/**
 * Why `url` may not be fetched under `options`, judged on the URL alone (scheme, IP literal, loopback name), or
 * null. Names are judged again on what they resolve to, at every connection.
 */
function refusal(url: URL, options: SafeFetchOptions): UpstreamFetchError | null {
  if (options.allowPrivate) {
    if (url.protocol === 'https:' || url.protocol === 'http:') return null;
    return new UpstreamFetchError('blocked', `only http(s) URLs may be fetched, got "${url.protocol}"`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const allowedHttp = options.allowNetworks !== undefined && url.protocol === 'http:';
  if (url.protocol !== 'https:' && !allowedHttp) {
    return new UpstreamFetchError('blocked', `only https URLs may be fetched, got "${url.protocol}"`);
  }
  if (isIP(host)) {
    if (inNetworks(options.allowNetworks, host)) return null;
    if (url.protocol === 'http:')
      return new UpstreamFetchError('blocked', `"${host}" is not an allowed network`);
    if (isNonPublicAddress(host))
      return new UpstreamFetchError('blocked', `"${host}" is a non-public address`);
    return null;
  }
  if (!options.allowNetworks && (host === 'localhost' || host.endsWith('.localhost'))) {
    return new UpstreamFetchError('blocked', `"${host}" is a loopback name`);
  }
  return null;
}

/** The address rule of a connection over `protocol`: https reaches public or allowed addresses, http allowed ones. */
function addressRule(options: SafeFetchOptions, protocol: string): (address: string) => boolean {
  const { allowNetworks } = options;
  if (protocol === 'http:') return (a) => inNetworks(allowNetworks, a);
  return (a) => !isNonPublicAddress(a) || inNetworks(allowNetworks, a);
}

/**
 * Checks `url` now, its name resolved, under the rules of `createSafeFetch(options)`: null when it may be
 * fetched (or its name does not resolve at all: that is for the fetch to find), else the UpstreamFetchError
 * `blocked`. For URLs that are saved to be fetched later (webhook endpoints): the fetch checks again on every
 * connection, since DNS may change.
 */
export async function checkFetchTarget(
  input: string | URL,
  options: SafeFetchOptions,
): Promise<UpstreamFetchError | null> {
  const url = new URL(String(input));
  const refused = refusal(url, options);
  if (refused || options.allowPrivate) return refused;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) return null;
  const lookup = guardLookup(options.lookup ?? dnsLookup, addressRule(options, url.protocol));
  return new Promise((resolve) => {
    lookup(host, { all: true }, (err) => {
      resolve(err instanceof UpstreamFetchError ? err : null);
    });
  });
}

export type FetchLike = (url: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * Builds a fetch function with the guard. It returns a global `Response` (openid-client requires one) whose
 * body has been read, bounded by `maxBytes`.
 */
export function createSafeFetch(options: SafeFetchOptions): FetchLike {
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  const resolve = options.lookup ?? dnsLookup;
  const agentFor = (protocol: string) =>
    new Agent({
      connect: options.allowPrivate
        ? { timeout: options.timeoutMs }
        : { timeout: options.timeoutMs, lookup: guardLookup(resolve, addressRule(options, protocol)) },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      keepAliveTimeout: 30_000,
    });
  const agent = agentFor('https:');
  // Plain http to the allowed networks connects through an agent of its own, whose lookup admits only them.
  const httpAgent = options.allowNetworks && !options.allowPrivate ? agentFor('http:') : agent;

  return async function safeFetch(input, init = {}) {
    const url = new URL(String(input));
    const refused = refusal(url, options);
    if (refused) throw refused;
    const dispatcher = url.protocol === 'http:' ? httpAgent : agent;

    const timeout = AbortSignal.timeout(options.timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    try {
      const res = await undiciFetch(url, {
        method: init.method ?? 'GET',
        headers: init.headers as Record<string, string>,
        body: init.body as string | undefined,
        redirect: init.redirect ?? 'manual',
        signal,
        dispatcher,
      });
      const truncate = options.oversize === 'truncate';
      const declared = Number(res.headers.get('content-length') ?? '0');
      if (declared > maxBytes && !truncate) {
        await res.body?.cancel();
        throw new UpstreamFetchError('too_large', `response of ${declared} bytes exceeds ${maxBytes}`);
      }
      const chunks: Uint8Array[] = [];
      let size = 0;
      if (res.body) {
        for await (const chunk of res.body) {
          if (size + chunk.byteLength > maxBytes) {
            if (!truncate) throw new UpstreamFetchError('too_large', `response exceeds ${maxBytes} bytes`);
            // Leaving the loop cancels the stream: the rest is never read.
            chunks.push(chunk.subarray(0, maxBytes - size));
            size = maxBytes;
            break;
          }
          size += chunk.byteLength;
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
      // Our time bound, or the caller's own signal (its timeout): either way the upstream did not answer in time.
      if (signal.aborted)
        throw new UpstreamFetchError('timeout', `no response within ${options.timeoutMs} ms`, { cause: err });
      const cause = (err as { cause?: unknown }).cause;
      if (cause instanceof UpstreamFetchError) throw cause;
      throw new UpstreamFetchError('network', (cause as Error)?.message ?? (err as Error).message, {
        cause: err,
      });
    }
  };
}
