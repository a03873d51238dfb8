import type { Browser } from '../../events/build.ts';
import type { ParsedQuery } from '../../lib/urlencoded.ts';
import type { ConnectionRecord, SsoSessionRecord } from '../../storage/store.ts';
import { NOTHING_RECORDED } from '../session-log.ts';

/**
 * The redirect URI after `checkRedirectUri` matched it against the allowlist. Only that step creates one
 * (the brand makes any other construction a type error), and only an error carrying one can be redirected.
 */
export interface VerifiedRedirectUri {
  readonly uri: string;
  readonly __verified: unique symbol;
}

/** State of one /sso/authorize request as the steps fill it in. */
export interface AuthorizeContext {
  readonly query: ParsedQuery;
  readonly requestId: string;
  /** The browser binding cookie as received (validated before use), or null. */
  readonly bindingCookie: string | null;
  readonly clientIp: string;
  /** The browser's User-Agent header, if it sent one (for events). */
  readonly userAgent?: string | null;
  /** Set when this IP is over its rate limit: the seconds until it may try again. */
  ipLimitedFor?: number;

  clientId?: string;
  redirectUri?: VerifiedRedirectUri;
  /** The app's `state` exactly as sent; null when absent. Known only after the redirect URI is verified. */
  appState: string | null;
  codeChallenge: string | null;
  loginHint: string | undefined;
  domainHint: string | undefined;
  providerScopes: string[];
  providerQueryParams: Record<string, string>;
  connection?: ConnectionRecord;
  /** The organization the selector named, once it is known to exist (for the session log). */
  organizationId?: string;
}

/** The browser as events report it: its IP address and user agent. */
export function browserOf(ctx: AuthorizeContext): Browser {
  return { ipAddress: ctx.clientIp, userAgent: ctx.userAgent ?? null };
}

/** First value of a parameter (callers check repetition separately), or undefined. */
export function param(ctx: AuthorizeContext, name: string): string | undefined {
  return ctx.query.values.get(name)?.[0];
}

/** A session log record for this request, with what the steps have learned so far. */
export function newSession(
  ctx: AuthorizeContext,
  id: string,
  expiresAt: Date,
): Omit<SsoSessionRecord, 'createdAt' | 'updatedAt' | 'outcome' | 'stages'> {
  return {
    id,
    clientId: ctx.clientId ?? '',
    connectionId: ctx.connection?.id ?? null,
    organizationId: ctx.connection?.organizationId ?? ctx.organizationId ?? null,
    connectionType: ctx.connection?.connectionType ?? null,
    redirectUri: ctx.redirectUri?.uri ?? '',
    ...NOTHING_RECORDED,
    authorizeRequestId: ctx.requestId,
    callbackRequestId: null,
    consentRequestId: null,
    expiresAt,
  };
}
