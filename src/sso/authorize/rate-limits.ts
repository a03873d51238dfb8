import { BrokerError } from '../../errors/broker-error.ts';
import type { FlowDeps } from '../deps.ts';
import { clientIpKey } from '../rate-limits.ts';
import type { AuthorizeContext } from './context.ts';

/**
 * The rate limits of /sso/authorize: per client IP (every request counts, valid or not) and per connection (once
 * it is known). Over a limit, the app gets `temporarily_unavailable` on its verified redirect URI; before the
 * redirect URI is verified, the answer is the 429 page (`rateLimitedPage`, shared with the callback URLs).
 */

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
