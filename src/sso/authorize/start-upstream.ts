import { BrokerError } from '../../errors/broker-error.ts';
import { authenticationEvent } from '../../events/build.ts';
import { newId } from '../../lib/ids.ts';
import { randomToken, sha256 } from '../../lib/tokens.ts';
import { callbackUrl, openConnector } from '../connections.ts';
import type { FlowDeps } from '../deps.ts';
import type { FlowOutcome } from '../outcome.ts';
import { type AuthorizeContext, browserOf, newSession } from './context.ts';

/** A binding cookie we issued: 32 random bytes, base64url. Anything else is replaced. */
const BINDING = /^[A-Za-z0-9_-]{43}$/;

/**
 * Step 5: hand off to the connection's connector. Our own `state` (the login's ID and a 256-bit secret; only
 * its hash is stored) ties the IdP's answer to a login transaction, and the transaction is tied to this browser by the hash of a
 * binding cookie. Per-login secrets (nonce, PKCE verifier) are derived from the state with the server key and
 * never stored. The transaction is written only after the connector built the upstream request, so a
 * request that fails (including discovery) writes nothing. It expires after `transactionTtlMs` and is
 * consumed once by the callback.
 */
export async function startUpstream(ctx: AuthorizeContext, deps: FlowDeps): Promise<FlowOutcome> {
  const connection = ctx.connection;
  const redirectUri = ctx.redirectUri;
  if (!connection || !redirectUri || !ctx.clientId) throw new Error('startUpstream ran before the checks');

  const opened = openConnector(connection, deps.secretBox, deps.connectorDeps);
  if (!opened) {
    throw new BrokerError('upstream_misconfigured', {
      detail: {
        connection: connection.id,
        reason: `no connector implements connection_type "${connection.connectionType}"`,
      },
    });
  }
  // `<session ID>.<256-bit secret>`: the ID finds the login, the hash of the whole value proves it.
  const sessionId = newId('sess');
  const state = `${sessionId}.${randomToken(32)}`;
  const start = await opened.connector.startLogin({
    state,
    callbackUrl: callbackUrl(deps.publicUrl, opened.definition, connection),
    loginHint: ctx.loginHint,
    domainHint: ctx.domainHint,
    providerScopes: ctx.providerScopes,
    providerQueryParams: ctx.providerQueryParams,
    secret: (label) => deps.secretBox.derive(label, state),
  });

  const binding = ctx.bindingCookie && BINDING.test(ctx.bindingCookie) ? ctx.bindingCookie : randomToken(32);
  const now = deps.now();
  const expiresAt = new Date(now.getTime() + deps.transactionTtlMs);
  const session = {
    ...newSession(ctx, sessionId, expiresAt),
    outcome: 'started' as const,
    stages: { authorize: now.toISOString(), upstream_redirect: now.toISOString() },
  };
  await deps.store.createLoginTransaction(
    {
      id: sessionId,
      stateHash: sha256(state),
      browserHash: sha256(binding),
      clientId: ctx.clientId,
      connectionId: connection.id,
      organizationId: connection.organizationId,
      redirectUri: redirectUri.uri,
      appState: ctx.appState,
      codeChallenge: ctx.codeChallenge,
      codeChallengeMethod: ctx.codeChallenge ? 'S256' : null,
      connectorState: JSON.stringify(start.connectorState),
      requestId: ctx.requestId,
      sessionId,
      createdAt: now,
      expiresAt,
    },
    session,
    [authenticationEvent('started', session, browserOf(ctx))],
  );
  const crossSite = opened.definition.callbackMethod === 'POST';
  return 'form' in start
    ? {
        kind: 'form_post',
        action: start.form.action,
        fields: start.form.fields,
        bindingCookie: binding,
        crossSite,
      }
    : { kind: 'redirect', status: 302, location: start.redirectUrl, bindingCookie: binding, crossSite };
}
