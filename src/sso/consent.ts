import { BrokerError } from '../errors/broker-error.ts';
import { catalog, type ErrorCode } from '../errors/catalog.ts';
import { randomToken, sha256 } from '../lib/tokens.ts';
import type { ConnectionRecord, LoginTransactionRecord, ProfileRecord } from '../storage/store.ts';
import { verifyStoredRedirectUri } from './authorize/check-redirect-uri.ts';
import { errorRedirect } from './authorize/index.ts';
import type { FlowDeps } from './deps.ts';
import { issueCode } from './issue-code.ts';
import type { FlowOutcome } from './outcome.ts';
import { failurePatch, updateSessionSafely } from './session-log.ts';

/**
 * The sign-in consent screen (WorkOS "sign-in consent"): after the IdP, before the app, the user confirms the
 * email the IdP asserted. The form carries a one-time token and must come from the browser that started the
 * sign-in (binding cookie); its Origin, when sent, must be ours. Approve issues the code; Deny sends
 * `signin_consent_denied`. Both answer a POST with 303 (RFC 9700 §4.12).
 *
 * What is stored is the hash of the token together with the browser's binding hash (`consentHash`), so the token
 * can be used up only with the binding cookie of that browser: a post from anywhere else matches nothing and
 * leaves the user's consent waiting, instead of burning it before the cookie is checked.
 */

const TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** What the store keeps of a consent token: bound to the browser (`browserHash` = sha256 of its binding cookie). */
function consentHash(token: string, browserHash: string): string {
  return sha256(`${token}.${browserHash}`);
}

interface Log {
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

export function pageOutcome(code: ErrorCode, requestId: string): FlowOutcome {
  const entry = catalog[code];
  return { kind: 'page', status: entry.status, code, message: entry.description, requestId };
}

/** Shows (or, on a refresh, re-shows with a new token) the consent screen for a transaction past its callback. */
export async function showConsent(
  deps: FlowDeps,
  tx: LoginTransactionRecord,
  profile: ProfileRecord,
  connection: ConnectionRecord,
  identityProvider: string,
  requestId: string,
  oauthTokens: string | null,
): Promise<FlowOutcome> {
  const { consent, outcome } = newConsent(
    deps,
    tx,
    String(profile.data.email),
    connection,
    identityProvider,
    requestId,
  );
  await deps.store.awaitConsent(tx.id, { profileId: profile.id, ...consent, oauthTokens });
  return outcome;
}

/**
 * A new consent screen for `tx` (a one-time form token), and what the store keeps of it (`awaitConsent`, or
 * `completeSignIn`'s `consent`); nothing is written.
 */
export function newConsent(
  deps: FlowDeps,
  tx: LoginTransactionRecord,
  email: string,
  connection: ConnectionRecord,
  identityProvider: string,
  requestId: string,
): { consent: { consentHash: string; expiresAt: Date }; outcome: FlowOutcome } {
  const token = randomToken(32);
  const now = deps.now();
  return {
    consent: {
      consentHash: consentHash(token, tx.browserHash),
      expiresAt: new Date(now.getTime() + deps.transactionTtlMs),
    },
    outcome: {
      kind: 'consent',
      view: {
        token,
        email,
        connectionName: connection.name,
        identityProvider,
        appOrigin: new URL(tx.redirectUri).origin,
        requestId,
      },
    },
  };
}

export interface ConsentInput {
  token: string | undefined;
  decision: string | undefined;
  bindingCookie: string | null;
  /** The request's Origin header, if any. */
  origin: string | undefined;
  requestId: string;
  /** The browser's IP address and User-Agent header, for events (`authentication.sso_*`). */
  clientIp?: string | undefined;
  userAgent?: string | undefined;
}

export async function decideConsent(input: ConsentInput, deps: FlowDeps, log: Log): Promise<FlowOutcome> {
  const invalid = (reason: string) => {
    log.warn({ reason }, 'consent refused');
    return pageOutcome('consent_invalid', input.requestId);
  };
  if (input.origin !== undefined && input.origin !== new URL(deps.publicUrl).origin)
    return invalid('cross-origin form post');
  if (!input.token || !TOKEN.test(input.token)) return invalid('missing or malformed token');
  if (input.decision !== 'approve' && input.decision !== 'deny')
    return invalid('missing or unknown decision');

  // The binding cookie is checked before the token is used up: without it nothing is taken, and with another
  // browser's cookie the hash matches no waiting consent (so that case reads as consent_invalid).
  if (!input.bindingCookie) {
    log.warn({ reason: 'no binding cookie' }, 'consent refused');
    return pageOutcome('callback_browser_mismatch', input.requestId);
  }
  const tx = await deps.store.takeConsent(consentHash(input.token, sha256(input.bindingCookie)), deps.now());
  if (!tx?.profileId) return invalid('unknown, used or expired token, or another browser');
  const redirectUri = await verifyStoredRedirectUri(deps, tx.redirectUri);
  if (!redirectUri) return pageOutcome('redirect_uri_not_allowed', input.requestId);

  const now = deps.now().toISOString();
  const browser = { ipAddress: input.clientIp ?? null, userAgent: input.userAgent ?? null };
  if (input.decision === 'deny') {
    const err = new BrokerError('consent_denied');
    await updateSessionSafely(
      deps.store,
      tx.sessionId,
      {
        ...failurePatch(err, 'consent', deps.now()),
        consentRequestId: input.requestId,
        stages: { consent: now, failed: now },
      },
      log,
      browser,
    );
    // signin_consent_denied: the same code on every kind of connection.
    return {
      kind: 'redirect',
      status: 303,
      location: errorRedirect(redirectUri, tx.appState, deps.publicUrl, err, 'callback_internal', false),
    };
  }
  const location = await issueCode(deps, tx, redirectUri, tx.profileId, tx.oauthTokens);
  await updateSessionSafely(
    deps.store,
    tx.sessionId,
    { outcome: 'succeeded', consentRequestId: input.requestId, stages: { consent: now, code_issued: now } },
    log,
    browser,
  );
  return { kind: 'redirect', status: 303, location };
}
