import { catalog } from '../errors/catalog.ts';
import type { FlowDeps } from './deps.ts';
import type { FlowOutcome } from './outcome.ts';

/**
 * What the flow's rate limits share: whom a per-IP limit counts, and the page a browser gets over a limit with no
 * verified place to send it back to (/sso/authorize before its redirect URI is checked, the callback URLs).
 * /sso/authorize's own steps are in authorize/rate-limits.ts; /sso/token counts in token.ts.
 */

/**
 * Whom the per-IP limits count: an IPv4 address (also when IPv4-mapped, `::ffff:a.b.c.d`), or an IPv6 address's
 * /64, the block one site or host is given: counting single IPv6 addresses would let a client mint a fresh count
 * for every request from its own /64.
 */
export function clientIpKey(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1] as string;
  if (!ip.includes(':')) return ip;
  const [head = '', tail] = ip.split('::');
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => (Number.parseInt(g, 16) || 0).toString(16))
    .join(':')}::/64`;
}

/** The HTTP 429 page (with `Retry-After`) for a browser over a limit. */
export function rateLimitedPage(requestId: string, retryAfterSeconds: number): FlowOutcome {
  return {
    kind: 'page',
    status: 429,
    code: 'authorize_rate_limited_page',
    message: catalog.authorize_rate_limited_page.description,
    requestId,
    retryAfterSeconds,
  };
}

export interface CallbackRequest {
  clientIp: string;
  /** The connection's callback key, from the path (`/sso/saml/acs/:key`, `/sso/oidc/callback/:key`, …). */
  externalKey: string;
  requestId: string;
}

interface Log {
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

/**
 * The callback URLs' limits, counted before the request's body or query is read (the HTTP layer calls this from
 * its `onRequest` hook): first the client IP, valid request or not; then, only when the IP is within its limit
 * and the key names a connection, that connection. Made-up keys therefore add no counter (the per-IP count
 * bounds the lookups they cost), and a request refused per IP uses up none of the connection's count.
 * @returns the 429 page, or null to go on.
 */
export async function limitCallback(
  request: CallbackRequest,
  deps: FlowDeps,
  log: Log,
): Promise<FlowOutcome | null> {
  const { limiter } = deps;
  if (limiter.enabled('callbackIp')) {
    const verdict = await limiter.hit({ callbackIp: clientIpKey(request.clientIp) }, log);
    if (verdict.limited) {
      log.warn({ limit: 'callbackIp', ip: request.clientIp }, 'callback rate-limited');
      return rateLimitedPage(request.requestId, verdict.retryAfterSeconds);
    }
  }
  if (limiter.enabled('callbackConnection')) {
    const connection = await deps.config.getConnectionByExternalKey(request.externalKey);
    if (!connection) return null;
    const verdict = await limiter.hit({ callbackConnection: connection.id }, log);
    if (verdict.limited) {
      log.warn({ limit: 'callbackConnection', connection: connection.id }, 'callback rate-limited');
      return rateLimitedPage(request.requestId, verdict.retryAfterSeconds);
    }
  }
  return null;
}
