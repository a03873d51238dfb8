import { isOAuthProvider } from '../../connectors/registry.ts';
import { isBrokerError } from '../../errors/broker-error.ts';
import { catalog, redirectWire } from '../../errors/catalog.ts';
import { authenticationEvent } from '../../events/build.ts';
import { newId } from '../../lib/ids.ts';
import { upstreamFetchDetail } from '../../lib/safe-fetch.ts';
import { parseQuery } from '../../lib/urlencoded.ts';
import type { FlowDeps } from '../deps.ts';
import type { FlowOutcome } from '../outcome.ts';
import { rateLimitedPage } from '../rate-limits.ts';
import { failurePatch, failureStage } from '../session-log.ts';
import { checkClient } from './check-client.ts';
import { checkRedirectUri } from './check-redirect-uri.ts';
import { checkRequest } from './check-request.ts';
import { type AuthorizeContext, browserOf, newSession, type VerifiedRedirectUri } from './context.ts';
import { countClientIp, enforceClientIpLimit, limitConnection } from './rate-limits.ts';
import { resolveConnection } from './resolve-connection.ts';
import { startUpstream } from './start-upstream.ts';

/**
 * GET /sso/authorize, as an ordered table of steps (error-taxonomy.md §7). Each step checks one thing and
 * throws a BrokerError or fills in the context; the last one hands off to the connector.
 */
const steps: ReadonlyArray<(ctx: AuthorizeContext, deps: FlowDeps) => void | Promise<void>> = [
  countClientIp, //        count the request against its IP's limit (the verdict waits for the redirect URI)
  checkClient, //          client_id known                         → else page
  checkRedirectUri, //     redirect_uri on the allowlist           → else page
  enforceClientIpLimit, // the IP within its limit                 → else redirect temporarily_unavailable
  checkRequest, //         repeats, response_type, PKCE, bounds    → else redirect invalid_request / unsupported_response_type
  resolveConnection, //    exactly one selector → one connection   → else redirect with the selector's code
  limitConnection, //      the connection within its limit         → else redirect temporarily_unavailable
];

export interface AuthorizeInput {
  /** The raw query string, without the leading `?`. */
  rawQuery: string;
  requestId: string;
  bindingCookie: string | null;
  /** The client's IP address (per GATEHOUSE_TRUST_PROXY), for the per-IP rate limit. */
  clientIp: string;
  /** The browser's User-Agent header, for events (`authentication.sso_*`). */
  userAgent?: string | undefined;
}

export interface AuthorizeLog {
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

export async function authorize(
  input: AuthorizeInput,
  deps: FlowDeps,
  log: AuthorizeLog,
): Promise<FlowOutcome> {
  const ctx: AuthorizeContext = {
    query: parseQuery(input.rawQuery),
    requestId: input.requestId,
    bindingCookie: input.bindingCookie,
    clientIp: input.clientIp,
    userAgent: input.userAgent ?? null,
    appState: null,
    codeChallenge: null,
    loginHint: undefined,
    domainHint: undefined,
    providerScopes: [],
    providerQueryParams: {},
  };
  try {
    for (const step of steps) {
      const pending = step(ctx, deps);
      if (pending) await pending;
    }
    return await startUpstream(ctx, deps);
  } catch (err) {
    const outcome = renderAuthorizeError(err, ctx, deps.publicUrl, log);
    if (ctx.redirectUri) await recordFailure(err, ctx, deps, log);
    return outcome;
  }
}

/** Every failed attempt that passed the redirect URI check gets a session log record. */
async function recordFailure(
  err: unknown,
  ctx: AuthorizeContext,
  deps: FlowDeps,
  log: AuthorizeLog,
): Promise<void> {
  const now = deps.now();
  const patch = failurePatch(
    err,
    failureStage(err, 'preflight'),
    now,
    isOAuthProvider(ctx.connection?.connectionType),
  );
  const session = {
    ...newSession(ctx, newId('sess'), now),
    outcome: 'failed' as const,
    failedStage: patch.failedStage ?? null,
    reason: patch.reason ?? null,
    wireCode: patch.wireCode ?? null,
    upstreamError: patch.upstreamError ?? null,
    detail: patch.detail ?? null,
    stages: { authorize: now.toISOString(), failed: now.toISOString() },
  };
  try {
    await deps.store.createSession(session, [authenticationEvent('failed', session, browserOf(ctx))]);
  } catch (writeError) {
    log.error({ err: writeError }, 'could not write the session log');
  }
}

/**
 * The error path. Its first decision is the guard: without a verified redirect URI (client and redirect URI
 * both checked), the answer is a page, whatever the error says. Only then may a redirect-transport error go
 * back to the app, with the catalog's fixed description, the app's state and our issuer (RFC 9207).
 */
export function renderAuthorizeError(
  err: unknown,
  ctx: AuthorizeContext,
  issuer: string,
  log: AuthorizeLog,
): FlowOutcome {
  const known = isBrokerError(err) ? err : null;
  if (known) {
    if (known.detail || known.entry.wire === 'server_error') {
      // `fetch`: what the network really said (host, address, errno), which only the log may hold.
      log.warn(
        {
          code: known.code,
          detail: known.detail,
          cause: (known.cause as Error)?.message,
          fetch: upstreamFetchDetail(known.cause),
        },
        'authorize failed',
      );
    }
  } else {
    log.error({ err }, 'authorize failed unexpectedly');
  }

  const verified = ctx.redirectUri;
  if (!verified) {
    if (ctx.ipLimitedFor !== undefined) {
      // Over the per-IP limit and no verified redirect URI: whatever else is wrong, the answer is to wait.
      return rateLimitedPage(ctx.requestId, ctx.ipLimitedFor);
    }
    if (known?.entry.transport === 'page') {
      return {
        kind: 'page',
        status: known.entry.status,
        code: known.code,
        message: known.publicMessage ?? known.entry.description,
        requestId: ctx.requestId,
      };
    }
    // Anything else before both checks passed (an internal failure) is also a page: never a redirect.
    return {
      kind: 'page',
      status: 500,
      code: 'authorize_internal',
      message: catalog.authorize_internal.description,
      requestId: ctx.requestId,
    };
  }

  return {
    kind: 'redirect',
    status: 302,
    location: errorRedirect(
      verified,
      ctx.appState,
      issuer,
      err,
      'authorize_internal',
      isOAuthProvider(ctx.connection?.connectionType),
    ),
  };
}

/**
 * The app's redirect URI with the error: the catalog's wire code and fixed description, the app's `state`
 * exactly as sent, and our `iss`. Errors that are not redirect-transport catalog entries become `fallback`.
 */
export function errorRedirect(
  verified: VerifiedRedirectUri,
  appState: string | null,
  issuer: string,
  err: unknown,
  fallback: 'authorize_internal' | 'callback_internal',
  oauthProvider: boolean,
): string {
  const entry = isBrokerError(err) && err.entry.transport === 'redirect' ? err.entry : catalog[fallback];
  return appendToRedirectUri(verified, {
    error: redirectWire(entry, oauthProvider),
    error_description: entry.description,
    ...(appState !== null ? { state: appState } : {}),
    iss: issuer,
  });
}

/**
 * Adds parameters to the app's verified redirect URI, keeping its own query component as registered
 * (RFC 6749 §3.1.2: "MUST retain the query component"). Registered URIs never carry a fragment.
 */
export function appendToRedirectUri(verified: VerifiedRedirectUri, params: Record<string, string>): string {
  // encodeURIComponent (space as %20, as in WorkOS's documented example) decodes the same with every decoder.
  const query = Object.entries(params)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
  return `${verified.uri}${verified.uri.includes('?') ? '&' : '?'}${query}`;
}
