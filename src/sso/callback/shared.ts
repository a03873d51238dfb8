import type { UpstreamIdentity } from '../../connectors/connector.ts';
import { providerDisplayName } from '../../connectors/providers/config.ts';
import { BrokerError } from '../../errors/broker-error.ts';
import type { ConnectionRecord } from '../../storage/store.ts';
import type { FlowDeps } from '../deps.ts';

/** What both callback paths (SP-initiated and IdP-initiated) do once the connector has read the answer. */

export interface Log {
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
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

/** The first successful sign-in moves a validating connection to active. */
export async function markFirstSignIn(deps: FlowDeps, connection: ConnectionRecord, log: Log): Promise<void> {
  if (connection.firstLoginAt && connection.state !== 'validating') return;
  try {
    await deps.store.updateConnection(connection.id, {
      ...(connection.state === 'validating' ? { state: 'active' as const } : {}),
      ...(connection.firstLoginAt ? {} : { firstLoginAt: deps.now() }),
    });
    deps.config.clear();
  } catch (err) {
    log.error({ err, connection: connection.id }, 'could not record the first sign-in');
  }
}

/**
 * How the consent screen names the IdP: the provider (Google, …), or the host of its issuer (OIDC) or sign-in
 * URL (SAML).
 */
export function identityProviderOf(connection: ConnectionRecord): string {
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
