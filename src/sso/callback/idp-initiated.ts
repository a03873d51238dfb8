import { BrokerError } from '../../errors/broker-error.ts';
import { authenticationEvent } from '../../events/build.ts';
import { newId } from '../../lib/ids.ts';
import { randomToken, sha256 } from '../../lib/tokens.ts';
import type { ConnectionRecord, SsoSessionRecord } from '../../storage/store.ts';
import type { VerifiedRedirectUri } from '../authorize/context.ts';
import { appendToRedirectUri, errorRedirect } from '../authorize/index.ts';
import { callbackUrl, openConnector } from '../connections.ts';
import { pageOutcome, showConsent } from '../consent.ts';
import type { FlowDeps } from '../deps.ts';
import { sealOAuthTokens } from '../oauth-tokens.ts';
import type { FlowOutcome } from '../outcome.ts';
import { saveProfile } from '../profile.ts';
import { failurePatch, failureStage, NOTHING_RECORDED } from '../session-log.ts';
import type { CallbackInput } from './index.ts';
import { browserOf, claimOnce, identityProviderOf, type Log, markFirstSignIn } from './shared.ts';

/**
 * IdP-initiated SSO (design/workos-api.md §6.2): an unsolicited SAML response at a connection's ACS, with no
 * sign-in of ours behind it. It goes to the default redirect URI, or to the URI in a RelayState of the form
 * `redirect_uri=<uri>` when that URI is on the allowlist (any other RelayState is ignored). When the connection
 * disables IdP-initiated SSO, the app gets `idp_initiated_sso_disabled` with `connection_id` and
 * `organization_id`, so that it can start an SP-initiated sign-in. Otherwise the response is validated like any
 * other (InResponseTo must then be absent), and the consent screen is always shown: without a request of ours,
 * only the user can tell a sign-in they wanted from one an attacker posted to their browser. A response that
 * fails before its signature is verified (unsigned, badly signed, malformed, an unsigned failure status) is
 * anybody's: it gets an error page, never a redirect, and its record in the session log holds which check failed
 * and nothing the response said.
 */

const BINDING = /^[A-Za-z0-9_-]{43}$/;

/** Where an unsolicited response goes: an allowlisted `redirect_uri=` RelayState, else the default redirect URI. */
async function target(deps: FlowDeps, relayState: string | undefined): Promise<VerifiedRedirectUri | null> {
  if (relayState?.startsWith('redirect_uri=')) {
    const asked = new URLSearchParams(relayState).get('redirect_uri');
    if (asked && (await deps.redirectUris.match(asked))) return { uri: asked } as VerifiedRedirectUri;
  }
  const preferred = (await deps.config.listRedirectUris()).find((r) => r.isDefault);
  return preferred ? ({ uri: preferred.uri } as VerifiedRedirectUri) : null;
}

export async function idpInitiated(input: CallbackInput, deps: FlowDeps, log: Log): Promise<FlowOutcome> {
  const { store } = deps;
  const connection = await deps.config.getConnectionByExternalKey(input.externalKey);
  const opened = connection ? openConnector(connection, deps.secretBox, deps.connectorDeps) : undefined;
  if (!connection || !opened || opened.definition.callbackMethod !== 'POST') {
    return pageOutcome('saml_response_unbound', input.requestId);
  }
  const to = await target(deps, input.stateValues[0]);
  if (!to) return pageOutcome('default_redirect_uri_missing', input.requestId);

  const now = deps.now();
  const sessionId = newId('sess');
  const expiresAt = new Date(now.getTime() + deps.transactionTtlMs);
  const session = sessionFor(connection, deps.clientId, sessionId, to, input.requestId, expiresAt);
  const fail = async (err: unknown, extra: Record<string, string> = {}): Promise<FlowOutcome> => {
    log.warn(
      { code: (err as BrokerError).code, detail: (err as BrokerError).detail, connection: connection.id },
      'IdP-initiated sign-in failed',
    );
    const patch = failurePatch(err, failureStage(err, 'upstream_error'), now);
    const failed = {
      ...session,
      outcome: 'failed' as const,
      failedStage: patch.failedStage ?? null,
      reason: patch.reason ?? null,
      wireCode: patch.wireCode ?? null,
      upstreamError: patch.upstreamError ?? null,
      detail: { ...(patch.detail ?? {}), idp_initiated: true },
      stages: { callback: now.toISOString(), failed: now.toISOString() },
    };
    await store
      .createSession(failed, [authenticationEvent('failed', failed, browserOf(input))])
      .catch((writeError: unknown) => log.error({ err: writeError }, 'could not write the session log'));
    // A response whose signature was never verified (`saml_unsolicited_unverified`): a page, no redirect, so
    // that nobody can send the app an error in the IdP's name.
    if ((err as BrokerError).entry?.transport === 'page')
      return pageOutcome((err as BrokerError).code, input.requestId);
    const location = Object.keys(extra).length
      ? appendToRedirectUri(to, {
          error: (err as BrokerError).entry.wire,
          error_description: (err as BrokerError).entry.description,
          ...extra,
          iss: deps.publicUrl,
        })
      : errorRedirect(to, null, deps.publicUrl, err, 'callback_internal', false);
    return { kind: 'redirect', status: 303, location };
  };

  if (connection.state !== 'validating' && connection.state !== 'active') {
    return fail(
      new BrokerError('connection_unlinked', {
        detail: { connection: connection.id, state: connection.state },
      }),
    );
  }
  if ((connection.config as { idpInitiatedSsoEnabled?: unknown }).idpInitiatedSsoEnabled === false) {
    return fail(new BrokerError('idp_initiated_disabled', { detail: { connection: connection.id } }), {
      connection_id: connection.id,
      ...(connection.organizationId ? { organization_id: connection.organizationId } : {}),
    });
  }

  try {
    const identity = await opened.connector.handleCallback({
      url: input.url,
      form: input.form,
      state: '',
      callbackUrl: callbackUrl(deps.publicUrl, opened.definition, connection),
      // No request of ours: InResponseTo must be absent.
      connectorState: {},
      secret: (label) => deps.secretBox.derive(label, `idp-initiated:${sessionId}`),
    });
    await claimOnce(deps, identity);
    const profile = await saveProfile(store, deps.config, connection, identity);
    await markFirstSignIn(deps, connection, log);

    // A transaction of its own, so that the consent screen and the code work as for any other sign-in.
    const binding =
      input.bindingCookie && BINDING.test(input.bindingCookie) ? input.bindingCookie : randomToken(32);
    const stateHash = sha256(`${sessionId}.${randomToken(32)}`);
    const started = {
      ...session,
      outcome: 'started' as const,
      profileId: profile.id,
      idpId: identity.idpId,
      email: identity.email,
      detail: { idp_initiated: true },
      stages: { callback: now.toISOString() },
    };
    await store.createLoginTransaction(
      {
        id: sessionId,
        stateHash,
        browserHash: sha256(binding),
        clientId: deps.clientId,
        connectionId: connection.id,
        organizationId: connection.organizationId,
        redirectUri: to.uri,
        appState: null,
        codeChallenge: null,
        codeChallengeMethod: null,
        connectorState: '{}',
        requestId: input.requestId,
        sessionId,
        createdAt: now,
        expiresAt,
      },
      started,
      [authenticationEvent('started', started, browserOf(input))],
    );
    const tx = await store.consumeLoginTransaction(sessionId, stateHash, now);
    if (!tx)
      throw new BrokerError('callback_internal', {
        detail: { reason: 'the IdP-initiated transaction vanished' },
      });
    const shown = await showConsent(
      deps,
      tx,
      profile,
      connection,
      identityProviderOf(connection),
      input.requestId,
      sealOAuthTokens(deps, identity, connection.connectionType, sessionId),
    );
    await store
      .updateSession(sessionId, { stages: { consent_shown: deps.now().toISOString() } })
      .catch((err: unknown) => log.error({ err }, 'could not update the session log'));
    return shown.kind === 'consent' ? { ...shown, bindingCookie: binding, crossSite: true } : shown;
  } catch (err) {
    return fail(err);
  }
}

function sessionFor(
  connection: ConnectionRecord,
  clientId: string,
  id: string,
  to: VerifiedRedirectUri,
  requestId: string,
  expiresAt: Date,
): Omit<SsoSessionRecord, 'createdAt' | 'updatedAt' | 'outcome' | 'stages'> {
  return {
    id,
    clientId,
    connectionId: connection.id,
    organizationId: connection.organizationId,
    connectionType: connection.connectionType,
    redirectUri: to.uri,
    ...NOTHING_RECORDED,
    authorizeRequestId: requestId,
    callbackRequestId: requestId,
    consentRequestId: null,
    expiresAt,
  };
}
