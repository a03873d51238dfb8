import type { ConnectorDeps } from '../../connectors/connector.ts';
import type { SecretBox } from '../../lib/secret-box.ts';
import type { Store } from '../../storage/store.ts';
import type { RedirectUriAllowlist } from '../redirect-uri-allowlist.ts';

/** What the authorize steps need from the outside world. Built once per process by `app.ts`. */
export interface AuthorizeDeps {
  store: Store;
  /** The environment's client ID (`client_…`). */
  clientId: string;
  /** Our issuer identifier and the base of callback URLs (no trailing slash). */
  publicUrl: string;
  legacyDomainSelector: boolean;
  redirectUris: RedirectUriAllowlist;
  secretBox: SecretBox;
  connectorDeps: ConnectorDeps;
  /** Lifetime of a login transaction. */
  transactionTtlMs: number;
  now(): Date;
}
