import { randomToken, sha256 } from '../lib/tokens.ts';
import type { AuthorizationCodeRecord, LoginTransactionRecord } from '../storage/store.ts';
import type { VerifiedRedirectUri } from './authorize/context.ts';
import { appendToRedirectUri } from './authorize/index.ts';
import type { FlowDeps } from './deps.ts';

/**
 * The end of a successful sign-in: a one-time authorization code (256 random bits; only its hash is stored)
 * bound to the client, the redirect URI, the PKCE challenge and the profile (and, for OAuth provider connections,
 * the provider's sealed tokens), valid for `codeTtlMs`, and the
 * redirect that carries it to the app with the app's `state` and our `iss` (RFC 9207).
 */
export async function issueCode(
  deps: FlowDeps,
  tx: LoginTransactionRecord,
  redirectUri: VerifiedRedirectUri,
  profileId: string,
  oauthTokens: string | null,
): Promise<string> {
  const { code, location } = newCode(deps, tx, redirectUri, oauthTokens);
  await deps.store.createAuthorizationCode({ ...code, profileId, sessionId: tx.sessionId });
  return location;
}

/** A new code for `tx` (the record to store, for its profile and session) and the redirect that carries it. */
export function newCode(
  deps: FlowDeps,
  tx: LoginTransactionRecord,
  redirectUri: VerifiedRedirectUri,
  oauthTokens: string | null,
): { code: Omit<AuthorizationCodeRecord, 'consumedAt' | 'profileId' | 'sessionId'>; location: string } {
  const code = randomToken(32);
  const now = deps.now();
  return {
    code: {
      codeHash: sha256(code),
      clientId: tx.clientId,
      redirectUri: tx.redirectUri,
      codeChallenge: tx.codeChallenge,
      oauthTokens,
      createdAt: now,
      expiresAt: new Date(now.getTime() + deps.codeTtlMs),
    },
    location: appendToRedirectUri(redirectUri, {
      code,
      ...(tx.appState !== null ? { state: tx.appState } : {}),
      iss: deps.publicUrl,
    }),
  };
}
