import type { UpstreamIdentity } from '../../connectors/connector.ts';
import { providerDisplayName } from '../../connectors/providers/config.ts';
import { BrokerError } from '../../errors/broker-error.ts';
import { type Browser, connectionEvent } from '../../events/build.ts';
import { presentConnection } from '../../management/connections.ts';
import type { ConnectionRecord } from '../../storage/store.ts';
import type { FlowDeps } from '../deps.ts';

/** What both callback paths (SP-initiated and IdP-initiated) do once the connector has read the answer. */

export interface Log {
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

/** The browser of a request (callback, consent) as events report it. */
export function browserOf(request: {
  clientIp?: string | undefined;
  userAgent?: string | undefined;
}): Browser {
  return { ipAddress: request.clientIp ?? null, userAgent: request.userAgent ?? null };
}

/**
 * Claims the identity's one-time key (a SAML assertion ID) in the shared store: a response is accepted once,
 * on whichever node it arrives (SAML profiles §4.1.4.5).
 * @throws BrokerError `saml_replayed`
 */
export async function claimOnce(deps: FlowDeps, identity: UpstreamIdentity): Promise<void> {
  if (!identity.oneTimeKey) return;
  const { key, expiresAt } = identity.oneTimeKey;
  if (!(await deps.store.claimOneTimeKey(key, expiresAt))) {
    throw new BrokerError('saml_replayed', { detail: { stage: 'saml_validation', assertion: key } });
  }
}

/**
 * The first successful sign-in moves a validating connection to active: `connection.activated`, once (read
 * from the store, not the cache, so that sign-ins racing on one connection write one event).
 */
export async function markFirstSignIn(deps: FlowDeps, connection: ConnectionRecord, log: Log): Promise<void> {
  if (connection.firstLoginAt && connection.state !== 'validating') return;
  try {
    const current = (await deps.store.getConnection(connection.id)) ?? connection;
    if (current.firstLoginAt && current.state !== 'validating') return;
    const activates = current.state === 'validating';
    const domains =
      activates && current.organizationId ? await deps.store.listDomains([current.organizationId]) : [];
    await deps.store.updateConnection(
      current.id,
      {
        ...(activates ? { state: 'active' as const } : {}),
        ...(current.firstLoginAt ? {} : { firstLoginAt: deps.now() }),
      },
      (updated) =>
        activates
          ? [
              connectionEvent(
                'connection.activated',
                presentConnection(updated, domains, deps.publicUrl),
                current,
              ),
            ]
          : [],
    );
    deps.config.clear();
  } catch (err) {
    log.error({ err, connection: connection.id }, 'could not record the first sign-in');
  }
}

/**
 * How the consent screen names the IdP: the provider (Google, …), or the host of its issuer (OIDC) or sign-in
 * URL (SAML).
 */
export function identityProviderOf(connection: Pick<ConnectionRecord, 'connectionType' | 'config'>): string {
  const provider = providerDisplayName(connection.connectionType);
  if (provider) return provider;
  const config = connection.config as { issuer?: unknown; idpSsoUrl?: unknown };
  for (const candidate of [config.issuer, config.idpSsoUrl]) {
    if (typeof candidate !== 'string') continue;
    try {
      return new URL(candidate).host;
    } catch {
      // try the next one
    }
  }
  return connection.connectionType;
}
