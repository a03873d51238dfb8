/**
 * The only map from `connection_type` to a connector. Adding a protocol means a folder under `connectors/`
 * plus one line here; nothing else in the flow or the API changes.
 */
import type { ConnectorDefinition } from './connector.ts';
import { oidcConnector } from './oidc/index.ts';
import { providerConnectors } from './providers/index.ts';
import { SAML_CONNECTION_TYPES } from './saml/attributes.ts';
import { samlConnector } from './saml/index.ts';

const definitions: Record<string, ConnectorDefinition> = {
  GenericOIDC: oidcConnector,
  OktaOIDC: oidcConnector,
  EntraIdOIDC: oidcConnector,
  ...Object.fromEntries(SAML_CONNECTION_TYPES.map((type) => [type, samlConnector])),
  ...providerConnectors,
};

export function connectorFor(connectionType: string): ConnectorDefinition | undefined {
  return Object.hasOwn(definitions, connectionType) ? definitions[connectionType] : undefined;
}

/** Whether a connection type is an OAuth provider (`provider=` selectable; failures are `oauth_failed`). */
export function isOAuthProvider(connectionType: string | null | undefined): boolean {
  return connectionType != null && connectorFor(connectionType)?.protocol === 'oauth';
}

export function supportedConnectionTypes(): string[] {
  return Object.keys(definitions);
}
