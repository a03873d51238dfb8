import { isOAuthProvider } from '../../connectors/registry.ts';
import { BrokerError, isBrokerError } from '../../errors/broker-error.ts';
import { outcomeEvents } from '../../events/build.ts';
import { upstreamFetchDetail } from '../../lib/safe-fetch.ts';
import { safeEqual, sha256 } from '../../lib/tokens.ts';
import type {
  ConnectionRecord,
  LoginTransactionRecord,
  SessionPatch,
  SignInCompletion,
  SignInResult,
} from '../../storage/store.ts';
import { verifyStoredRedirectUri } from '../authorize/check-redirect-uri.ts';
import type { VerifiedRedirectUri } from '../authorize/context.ts';
import { errorRedirect } from '../authorize/index.ts';
import { callbackUrl, openConnector } from '../connections.ts';
import { newConsent, pageOutcome, showConsent } from '../consent.ts';
import type { FlowDeps } from '../deps.ts';
import { newCode } from '../issue-code.ts';
import { sealOAuthTokens } from '../oauth-tokens.ts';
import type { FlowOutcome } from '../outcome.ts';
import { profileFor } from '../profile.ts';
import { failurePatch, failureStage, SessionNotes } from '../session-log.ts';
import { idpInitiated } from './idp-initiated.ts';
import { browserOf, identityProviderOf, markFirstSignIn } from './shared.ts';

/**
 * The IdP's answer at a connection's callback URL (error-taxonomy.md §5.2, §7). In order:
 * 1. bind it to a live login transaction by our `state`, to this connection (mix-up), and to this browser
 *    (binding cookie). Failing any of these, we cannot know which app to return to: an HTML page, never a
 *    redirect;
 * 2. consume the transaction (once; a refresh of the consent screen shows it again);
 * 3. let the connector read the answer: `iss` (RFC 9207), then the IdP's `error`, then the code exchange and
 *    token validation. Failures go back to the app's redirect URI with the app's state and a catalog code;
 * 4. the profile and the organization's domain policy; the first sign-in activates a validating connection;
 * 5. the consent screen, or straight to the app with a code.
 * Every step after (1) is recorded in the session log.
 */

const LOGIN_ID = /^sess_[0-9A-Z]{26}$/;

export interface CallbackInput {
  externalKey: string;
  /** The callback URL as addressed: our public URL + path + query. */
  url: URL;
  /** POST form fields (empty for GET). */
  form: Record<string, string>;
  /** Our state as the IdP returned it: `state` (OIDC) or `RelayState` (SAML). All values, to reject repeats. */
  stateValues: string[];
  bindingCookie: string | null;
  requestId: string;
  /** GET (OIDC redirect) or POST (SAML ACS): a POST is answered with 303, never 302 or 307 (RFC 9700 §4.12). */
  method: 'GET' | 'POST';
  /** The browser's IP address and User-Agent header, for events (`authentication.sso_*`). */
  clientIp?: string | undefined;
  userAgent?: string | undefined;
}

interface Log {
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

export async function callback(input: CallbackInput, deps: FlowDeps, log: Log): Promise<FlowOutcome> {
  const { store } = deps;
  const state = input.stateValues.length === 1 ? input.stateValues[0] : undefined;
  // Our state is `<login ID>.<secret>` (see start-upstream.ts); anything else is not ours.
  const dot = state?.indexOf('.') ?? -1;
  const id = state?.slice(0, dot) ?? '';
  const ours = state !== undefined && dot > 0 && LOGIN_ID.test(id);
  if (!ours && input.method === 'POST' && input.form.SAMLResponse && input.stateValues.length <= 1) {
    // A SAML response without a sign-in of ours behind it: IdP-initiated (unsolicited) SSO.
    return idpInitiated(input, deps, log);
  }
  if (!state) return pageOutcome('callback_state_missing', input.requestId);
  const tx = ours ? await store.getLoginTransaction(id, sha256(state)) : null;
  if (!tx) return pageOutcome('callback_state_unknown', input.requestId);
  const answer = input.method === 'POST' ? 303 : 302;
  const connection = await deps.config.getConnectionByExternalKey(input.externalKey);
  if (!connection || connection.id !== tx.connectionId) {
    log.warn({ transaction: tx.id, connection: connection?.id ?? null }, 'callback at another connection');
    return pageOutcome('callback_connection_mismatch', input.requestId);
  }
  if (!input.bindingCookie || !safeEqual(sha256(input.bindingCookie), tx.browserHash)) {
    return pageOutcome('callback_browser_mismatch', input.requestId);
  }
  const oauthProvider = isOAuthProvider(connection.connectionType);
  const redirectUri = await verifyStoredRedirectUri(deps, tx.redirectUri);
  if (!redirectUri) return pageOutcome('redirect_uri_not_allowed', input.requestId);

  // What this request records in the session log is written once, before it answers: with the consumption of
  // the transaction and the rest of the sign-in's writes (`completeSignIn`), or, when the transaction cannot be
  // consumed, on its own (`notes`).
  const notes = new SessionNotes(store, tx.sessionId, log, browserOf(input));
  try {
    return await proceed(tx, connection, redirectUri, state);
  } finally {
    await notes.flush();
  }

  /** Steps 2 to 5, with what step 1 established (the parameters shadow the outer, unnarrowed names). */
  async function proceed(
    t: LoginTransactionRecord,
    connection: ConnectionRecord,
    verified: VerifiedRedirectUri,
    state: string,
  ): Promise<FlowOutcome> {
    const now = deps.now();
    const callbackStage = { callbackRequestId: input.requestId, stages: { callback: now.toISOString() } };
    if (t.consumedAt || t.expiresAt <= now) return unavailable(t, now);

    // The transaction is consumed at the end, in one write with everything the sign-in stores (or with its
    // failure): of callbacks racing on one transaction, one completes; the others are answered as replays.
    const complete = (c: Omit<SignInCompletion, 'id' | 'stateHash' | 'now'>) =>
      store.completeSignIn({ id: t.id, stateHash: t.stateHash, now, ...c });
    const fail = async (err: unknown): Promise<FlowOutcome> => {
      logFailure(err);
      try {
        const written = await complete({
          session: failureRecord(err, callbackStage),
          events: outcomeEvents('failed', browserOf(input)),
        });
        if (written.kind !== 'completed') return unavailable(t, now);
      } catch (writeError) {
        log.error({ err: writeError, session: t.sessionId }, 'could not update the session log');
      }
      return failureRedirect(err, t);
    };

    try {
      const opened = openConnector(connection, deps.secretBox, deps.connectorDeps);
      if (!opened) {
        throw new BrokerError('upstream_misconfigured', {
          detail: { reason: `no connector implements connection_type "${connection.connectionType}"` },
        });
      }
      const connectorState = JSON.parse(t.connectorState) as Record<string, unknown>;
      const identity = await opened.connector.handleCallback({
        url: input.url,
        form: input.form,
        state,
        callbackUrl: callbackUrl(deps.publicUrl, opened.definition, connection),
        connectorState,
        secret: (label) => deps.secretBox.derive(label, state),
      });
      const profile = await profileFor(deps.config, connection, identity);
      const oauthTokens = sealOAuthTokens(deps, identity, connection.connectionType, t.sessionId);
      const signedIn = {
        oneTimeKey: identity.oneTimeKey,
        profile,
        session: { ...callbackStage, idpId: identity.idpId, email: identity.email },
      };
      const at = deps.now().toISOString();
      let outcome: FlowOutcome;
      let written: SignInResult;
      if (deps.signinConsent) {
        const shown = newConsent(
          deps,
          t,
          String(profile.data.email),
          connection,
          identityProviderOf(connection),
          input.requestId,
        );
        outcome = shown.outcome;
        written = await complete({
          ...signedIn,
          consent: { ...shown.consent, oauthTokens },
          session: { ...signedIn.session, stages: { ...callbackStage.stages, consent_shown: at } },
        });
      } else {
        const issued = newCode(deps, t, verified, oauthTokens);
        outcome = { kind: 'redirect', status: answer, location: issued.location };
        written = await complete({
          ...signedIn,
          code: issued.code,
          session: {
            ...signedIn.session,
            outcome: 'succeeded',
            stages: { ...callbackStage.stages, code_issued: at },
          },
          events: outcomeEvents('succeeded', browserOf(input)),
        });
      }
      if (written.kind === 'one_time_key_claimed') {
        throw new BrokerError('saml_replayed', {
          detail: { stage: 'saml_validation', assertion: identity.oneTimeKey?.key },
        });
      }
      if (written.kind === 'transaction_unavailable') return unavailable(t, now);
      await markFirstSignIn(deps, connection, log);
      return outcome;
    } catch (err) {
      return fail(err);
    }
  }

  /**
   * A transaction that cannot be consumed: consumed already (a refresh of the consent screen, the back button,
   * a second request racing the first), or expired. Only the notes record it.
   */
  async function unavailable(t: LoginTransactionRecord, now: Date): Promise<FlowOutcome> {
    const recordCallback = () =>
      notes.add({ callbackRequestId: input.requestId, stages: { callback: now.toISOString() } });
    // The same browser came back with the same answer: a refresh of the consent screen shows it again.
    if (
      t.profileId &&
      t.consentHash &&
      !t.consentDecidedAt &&
      t.consentExpiresAt &&
      t.consentExpiresAt > now
    ) {
      const profile = await store.getProfile(t.profileId);
      if (profile) {
        recordCallback();
        return showConsent(
          deps,
          t,
          profile,
          connection as ConnectionRecord,
          identityProviderOf(connection as ConnectionRecord),
          input.requestId,
          t.oauthTokens,
        );
      }
    }
    const expired = new BrokerError('transaction_expired', {
      detail: { consumed_at: t.consumedAt, expires_at: t.expiresAt },
    });
    if (t.consumedAt || t.expiresAt > now) {
      // Already used (the back button or a refresh after the sign-in ended, or a second request racing the
      // first): the session log already holds what happened to this sign-in, and keeps it; only note the replay.
      log.warn({ code: expired.code, detail: expired.detail, session: t.sessionId }, 'callback replayed');
      notes.add({ stages: { callback_replayed: now.toISOString() } });
      return failureRedirect(expired, t);
    }
    logFailure(expired);
    notes.add(
      failureRecord(expired, { callbackRequestId: input.requestId, stages: { callback: now.toISOString() } }),
    );
    return failureRedirect(expired, t);
  }

  /** The session log's failure patch, with the callback's stage. */
  function failureRecord(err: unknown, callbackStage: SessionPatch): SessionPatch {
    const patch = failurePatch(err, failureStage(err, 'upstream_error'), deps.now(), oauthProvider);
    return { ...callbackStage, ...patch, stages: { ...callbackStage.stages, ...patch.stages } };
  }

  function failureRedirect(err: unknown, t: LoginTransactionRecord): FlowOutcome {
    return {
      kind: 'redirect',
      status: answer,
      location: errorRedirect(
        redirectUri as VerifiedRedirectUri,
        t.appState,
        deps.publicUrl,
        err,
        'callback_internal',
        oauthProvider,
      ),
    };
  }

  function logFailure(err: unknown): void {
    if (isBrokerError(err)) {
      // `fetch`: what the network really said (host, address, errno), which only the server's log may hold.
      log.warn(
        {
          code: err.code,
          detail: err.detail,
          upstream: err.upstream,
          fetch: upstreamFetchDetail(err.cause),
          session: tx?.sessionId,
        },
        'sign-in failed at the callback',
      );
    } else {
      log.error({ err, session: tx?.sessionId }, 'sign-in failed unexpectedly at the callback');
    }
  }
}
