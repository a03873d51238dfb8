import type { Connector, ConnectorDefinition, ConnectorDeps, SecretSealer } from '../connectors/connector.ts';
import { connectorFor } from '../connectors/registry.ts';
import type { SecretBox } from '../lib/secret-box.ts';
import type { ConnectionRecord } from '../storage/store.ts';
import { identityProviderOf } from './callback/shared.ts';

/** Seals secrets of one connection, bound to its ID and the field name. */
export function sealerFor(box: SecretBox, connectionId: string): SecretSealer {
  return {
    seal: (value, field) => box.encrypt(value, `connection:${connectionId}:${field}`),
    open: (sealed, field) => box.decrypt(sealed, `connection:${connectionId}:${field}`),
  };
}

/** The callback URL the IdP sends users back to for this connection. */
export function callbackUrl(
  publicUrl: string,
  definition: ConnectorDefinition,
  connection: ConnectionRecord,
): string {
  return `${publicUrl}/sso/${definition.callbackSegment}/${connection.externalKey}`;
}

const MAX_OPEN_CONNECTORS = 10_000;

/**
 * Opens the connector of a connection, once per connection version: opened connectors (with their decrypted
 * secrets and discovery caches) are kept per node under `connection ID @ updatedAt`, so a changed connection is
 * reopened and an old version is never used.
 * @returns undefined when no connector implements the connection's type.
 */
export function openConnector(
  connection: ConnectionRecord,
  box: SecretBox,
  deps: ConnectorDeps,
): { definition: ConnectorDefinition; connector: Connector } | undefined {
  const version = `${connection.id}@${connection.updatedAt.getTime()}`;
  const key = `connector:${version}`;
  const cached = deps.cache.get(key) as { definition: ConnectorDefinition; connector: Connector } | undefined;
  if (cached) return cached;
  const definition = connectorFor(connection.connectionType);
  if (!definition) return undefined;
  const opened = {
    definition,
    connector: definition.open(
      connection.config,
      sealerFor(box, connection.id),
      upstreamDeps(deps, connection),
      version,
      connection.connectionType,
    ),
  };
  if (deps.cache.size > MAX_OPEN_CONNECTORS) deps.cache.clear();
  deps.cache.set(key, opened);
  return opened;
}

/** The connector's deps, with its upstream requests timed under this connection's type and IdP host (metrics). */
function upstreamDeps(deps: ConnectorDeps, connection: ConnectionRecord): ConnectorDeps {
  if (!deps.timeUpstream) return deps;
  const labels = { connectionType: connection.connectionType, idpHost: identityProviderOf(connection) };
  return { ...deps, fetch: deps.timeUpstream(deps.fetch, labels) };
}
