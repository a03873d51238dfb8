import type { ConnectorDeps } from '../connectors/connector.ts';
import type { SecretBox } from '../lib/secret-box.ts';
import type { RateLimiter } from '../rate-limiter.ts';
import type { Store } from '../storage/store.ts';
import type { ConfigCache } from './config-cache.ts';
import type { RedirectUriAllowlist } from './redirect-uri-allowlist.ts';

/** What the SSO flow (authorize, callback, consent, token, profile) needs from the outside world. Built once per process by `app.ts`. */
export interface FlowDeps {
  store: Store;
  /** Organizations, connections, domains and redirect URIs, read through a short per-node cache. */
  config: ConfigCache;
  /** The environment's client ID (`client_…`). */
  clientId: string;
  /** Our issuer identifier and the base of callback URLs (no trailing slash). */
  publicUrl: string;
  legacyDomainSelector: boolean;
  redirectUris: RedirectUriAllowlist;
  secretBox: SecretBox;
  connectorDeps: ConnectorDeps;
  /** Lifetime of a login transaction (authorize → callback), and of the consent screen after the callback. */
  transactionTtlMs: number;
  /** Show the sign-in consent screen between the IdP and the app. */
  signinConsent: boolean;
  /** Lifetime of an authorization code (RFC 6749 §4.1.2 recommends at most 10 minutes). */
  codeTtlMs: number;
  /** Lifetime of a profile access token (`expires_in`). */
  accessTokenTtlMs: number;
  limiter: RateLimiter;
  /** The process logger, for what no request owns. */
  log: { error(obj: Record<string, unknown>, msg: string): void };
  now(): Date;
}
