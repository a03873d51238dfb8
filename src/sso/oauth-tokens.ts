import type { UpstreamIdentity } from '../connectors/connector.ts';
import type { FlowDeps } from './deps.ts';

/**
 * The provider's tokens of an OAuth provider connection (Google, Microsoft, GitHub), on their way to the app:
 * sealed (AES-GCM, bound to the sign-in) while they wait on the consent screen and with the code, opened once
 * when the code is redeemed, and returned as WorkOS `oauth_tokens` next to the profile.
 */

export interface WorkosOAuthTokens {
  provider: string;
  access_token: string;
  refresh_token: string | null;
  /** Unix seconds, or null when the provider did not say. */
  expires_at: number | null;
  scopes: string[];
}

const context = (sessionId: string) => `oauth_tokens:${sessionId}`;

/** The identity's provider tokens, sealed for this sign-in; null when the connection returns none. */
export function sealOAuthTokens(
  deps: Pick<FlowDeps, 'secretBox'>,
  identity: UpstreamIdentity,
  provider: string,
  sessionId: string,
): string | null {
  const tokens = identity.oauthTokens;
  if (!tokens) return null;
  const wire: WorkosOAuthTokens = {
    provider,
    access_token: tokens.accessToken,
    refresh_token: tokens.refreshToken,
    expires_at: tokens.expiresAt,
    scopes: tokens.scopes,
  };
  return deps.secretBox.encrypt(JSON.stringify(wire), context(sessionId));
}

/** @throws Error when the sealed value is not this sign-in's (tampered, or another key). */
export function openOAuthTokens(
  deps: Pick<FlowDeps, 'secretBox'>,
  sealed: string,
  sessionId: string,
): WorkosOAuthTokens {
  return JSON.parse(deps.secretBox.decrypt(sealed, context(sessionId))) as WorkosOAuthTokens;
}
