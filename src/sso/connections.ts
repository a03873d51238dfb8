import type { Connector, ConnectorDefinition, ConnectorDeps, SecretSealer } from '../connectors/connector.ts';
import { connectorFor } from '../connectors/registry.ts';
import type { SecretBox } from '../lib/secret-box.ts';
import type { ConnectionRecord } from '../storage/store.ts';

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

/**
 * Opens the connector of a connection. The cache key includes `updatedAt`, so per-node caches (discovery)
 * never serve a connection's old configuration after it changes.
 * @returns undefined when no connector implements the connection's type.
 */
export function openConnector(
  connection: ConnectionRecord,
  box: SecretBox,
  deps: ConnectorDeps,
): { definition: ConnectorDefinition; connector: Connector } | undefined {
  const definition = connectorFor(connection.connectionType);
  if (!definition) return undefined;
  const connector = definition.open(
    connection.config,
    sealerFor(box, connection.id),
    deps,
    `${connection.id}@${connection.updatedAt.getTime()}`,
  );
  return { definition, connector };
}
