import { BrokerError } from '../../errors/broker-error.ts';
import type { FlowDeps } from '../deps.ts';
import type { AuthorizeContext } from './context.ts';

/**
 * The rate limits of /sso/authorize: per client IP (every request counts, valid or not) and per connection (once
 * it is known). Over a limit, the app gets `temporarily_unavailable` on its verified redirect URI; before the
 * redirect URI is verified, the answer is a 429 page (renderAuthorizeError).
 */

/**
 * Whom the per-IP limit counts: an IPv4 address (also when IPv4-mapped, `::ffff:a.b.c.d`), or an IPv6 address's
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

/** First step: counts this request against its IP address; the verdict waits for the redirect URI check. */
export async function countClientIp(ctx: AuthorizeContext, deps: FlowDeps): Promise<void> {
  if (!deps.limiter.enabled('authorizeIp')) return;
  const verdict = await deps.limiter.hit({ authorizeIp: clientIpKey(ctx.clientIp) }, deps.log);
  if (verdict.limited) ctx.ipLimitedFor = verdict.retryAfterSeconds;
}

/** After the redirect URI check: an IP over its limit gets an error redirect. */
export function enforceClientIpLimit(ctx: AuthorizeContext): void {
  if (ctx.ipLimitedFor !== undefined) {
    throw new BrokerError('authorize_rate_limited', {
      detail: { limit: 'authorizeIp', ip: ctx.clientIp },
      retryAfterSeconds: ctx.ipLimitedFor,
    });
  }
}

/** After the connection is resolved: its own limit. */
export async function limitConnection(ctx: AuthorizeContext, deps: FlowDeps): Promise<void> {
  const connection = ctx.connection;
  if (!connection || !deps.limiter.enabled('authorizeConnection')) return;
  const verdict = await deps.limiter.hit({ authorizeConnection: connection.id }, deps.log);
  if (verdict.limited) {
    throw new BrokerError('authorize_rate_limited', {
      detail: { limit: 'authorizeConnection', connection: connection.id },
      retryAfterSeconds: verdict.retryAfterSeconds,
    });
  }
}
