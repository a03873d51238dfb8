import { BrokerError } from '../../errors/broker-error.ts';
import type { Connector, ConnectorDeps, SecretSealer } from '../connector.ts';
import { OidcConnector } from '../oidc/index.ts';
import { baseUrlOf, type ProviderConfig, providerScopes } from './config.ts';

/**
 * Sign in with Google: OpenID Connect against `https://accounts.google.com` (or `base_url`), through the OIDC
 * connector (discovery, PKCE, nonce, ID token signature and claims). What Google adds:
 * - `access_type=offline`, so the app gets a refresh token in `oauth_tokens` (Google sends one on the first
 *   consent; `provider_query_params[prompt]=consent` asks again);
 * - `domain_hint` becomes Google's `hd`, and the ID token's `hd` claim must then match it: the parameter only
 *   filters Google's account chooser, a user can remove it (Google's guidance);
 * - the email must be verified (`email_verified`), since the profile's organization follows from its domain.
 */
export function openGoogle(
  config: ProviderConfig,
  sealer: SecretSealer,
  deps: ConnectorDeps,
  cacheKey: string,
): Connector {
  if (!config.clientId || !config.clientSecret) throw new TypeError('GoogleOAuth options are incomplete');
  return new OidcConnector(
    {
      issuer: baseUrlOf('GoogleOAuth', config),
      clientId: config.clientId,
      scopes: providerScopes('GoogleOAuth', config),
    },
    sealer.open(config.clientSecret, 'client_secret'),
    deps,
    cacheKey,
    {
      authParams: (request) => ({
        access_type: 'offline',
        ...(request.domainHint ? { hd: request.domainHint } : {}),
      }),
      checkClaims(claims, sent) {
        if (claims.email_verified !== true && claims.email_verified !== 'true') {
          throw new BrokerError('provider_email_unverified', {
            detail: { email: claims.email ?? null, email_verified: claims.email_verified ?? null },
          });
        }
        const expected = sent.hd?.toLowerCase();
        const hd = typeof claims.hd === 'string' ? claims.hd.toLowerCase() : null;
        // `hd=*` asks for any Google Workspace account: one with an `hd` claim.
        if (expected && (expected === '*' ? hd === null : hd !== expected)) {
          throw new BrokerError('provider_domain_mismatch', {
            detail: { expected_hd: expected, received_hd: hd },
          });
        }
      },
      returnTokens: true,
    },
  );
}
