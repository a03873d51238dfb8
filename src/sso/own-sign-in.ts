import type { SealedSession, SealedSessions } from '../lib/sealed-sessions.ts';
import { pkceS256 } from '../lib/tokens.ts';
import { parseQuery } from '../lib/urlencoded.ts';
import type { AuthorizeContext, VerifiedRedirectUri } from './authorize/context.ts';
import type { FlowDeps } from './deps.ts';
import { exchangeCode, type TokenResponse } from './token.ts';

/**
 * Sign-ins that end at Gatehouse's own pages instead of an app's: the Admin Portal's test sign-in
 * (portal/test-sign-in.ts) and the operators' sign-in to the dashboard (dashboard/sso-sign-in.ts). They run the
 * flow as any app's sign-in does; only their ends are here, in one place:
 * - their redirect URIs, which the flow accepts without the allowlist (`verifyStoredRedirectUri`);
 * - a `state` that names the authorize request, with a MAC under the browser session that started it, and a PKCE
 *   verifier derived from the same session: only that browser can read the result or redeem the code;
 * - the code's redemption by the same `exchangeCode` as `/sso/token`.
 */

/** The paths (under the public URL) of the pages where such sign-ins end. */
export const OWN_RESULT_PATHS = ['/portal/sso/test/result', '/dashboard/sso/callback'] as const;

/** Whether `uri` is one of those pages of this deployment. */
export function isOwnResultUri(publicUrl: string, uri: string): boolean {
  return OWN_RESULT_PATHS.some((path) => uri === `${publicUrl}${path}`);
}

const STATE = /^(req_[0-9A-Z]{26})\.([A-Za-z0-9_-]{22})$/;

/** The binding of a sign-in to the browser session `session` that starts it. */
export interface OwnSignIn<T extends SealedSession> {
  sessions: SealedSessions<T>;
  session: T;
}

function mac<T extends SealedSession>(b: OwnSignIn<T>, requestId: string): string {
  return b.sessions.derive(b.session, `state ${requestId}`).slice(0, 22);
}

function verifier<T extends SealedSession>(b: OwnSignIn<T>, requestId: string): string {
  return b.sessions.derive(b.session, `pkce ${requestId}`);
}

/**
 * The authorize context of such a sign-in, ready for `startUpstream` (or for the steps that pick the connection
 * from `query`): its redirect URI, its state and its PKCE challenge.
 */
export function ownAuthorizeContext<T extends SealedSession>(
  b: OwnSignIn<T>,
  input: {
    flow: FlowDeps;
    requestId: string;
    bindingCookie: string | null;
    clientIp: string;
    resultUri: string;
    query?: string;
  },
): AuthorizeContext {
  return {
    query: parseQuery(input.query ?? ''),
    requestId: input.requestId,
    bindingCookie: input.bindingCookie,
    clientIp: input.clientIp,
    clientId: input.flow.clientId,
    redirectUri: { uri: input.resultUri } as VerifiedRedirectUri,
    appState: `${input.requestId}.${mac(b, input.requestId)}`,
    codeChallenge: pkceS256(verifier(b, input.requestId)),
    loginHint: undefined,
    domainHint: undefined,
    providerScopes: [],
    providerQueryParams: {},
  };
}

/** The authorize request ID that `state` names, if this browser session started it; else null. */
export function ownStateRequestId<T extends SealedSession>(
  b: OwnSignIn<T>,
  state: string | undefined,
): string | null {
  const m = STATE.exec(state ?? '');
  return m?.[1] && m[2] === mac(b, m[1]) ? m[1] : null;
}

interface Log {
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

/** Redeems the code of the sign-in that authorize request `authorizeRequestId` started, as `/sso/token` does. */
export function redeemOwnCode<T extends SealedSession>(
  b: OwnSignIn<T>,
  input: { flow: FlowDeps; code: string; authorizeRequestId: string; requestId: string; clientIp: string },
  log: Log,
): Promise<TokenResponse> {
  return exchangeCode(
    {
      params: new Map([
        ['grant_type', ['authorization_code']],
        ['client_id', [input.flow.clientId]],
        ['code', [input.code]],
        ['code_verifier', [verifier(b, input.authorizeRequestId)]],
      ]),
      authorization: undefined,
      idempotencyKey: undefined,
      requestId: input.requestId,
      clientIp: input.clientIp,
    },
    input.flow,
    log,
  );
}
