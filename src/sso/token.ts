import { BrokerError, isBrokerError } from '../errors/broker-error.ts';
import { pkceS256, randomToken, safeEqual, sha256 } from '../lib/tokens.ts';
import type { FlowDeps } from './deps.ts';
import { openOAuthTokens, type WorkosOAuthTokens } from './oauth-tokens.ts';
import { presentProfile, type WorkosProfile } from './profile.ts';
import { clientIpKey } from './rate-limits.ts';
import { updateSessionSafely } from './session-log.ts';

/**
 * POST /sso/token (RFC 6749 §4.1.3, §5; RFC 7636 §4.6), as `sso.getProfileAndToken()` calls it:
 * `client_id`, `grant_type=authorization_code`, `code`, then `code_verifier` (PKCE) and/or `client_secret`
 * (the API key, also sent as a Bearer header). Errors are RFC 6749 §5.2 JSON with HTTP 400, which the SDK turns
 * into `OauthException`.
 *
 * The code is redeemed in one atomic store operation that also issues the access token and keeps the response
 * under the caller's `Idempotency-Key`: the SDK retries a POST with the same key after a 5xx, 429 or network
 * error, and such a retry gets the same answer instead of `invalid_grant`. Any other second use of a code fails
 * and revokes the token the first use issued.
 */

const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/; // RFC 7636 §4.1
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

export interface TokenInput {
  /** Every value of every body parameter; null when the body could not be read as form or JSON. */
  params: Map<string, string[]> | null;
  authorization: string | undefined;
  idempotencyKey: string | undefined;
  requestId: string;
  /** The client's IP address (per GATEHOUSE_TRUST_PROXY), for the per-IP limit on failed requests. */
  clientIp: string;
}

export interface TokenResponse {
  token_type: 'Bearer';
  access_token: string;
  expires_in: number;
  profile: WorkosProfile;
  /** OAuth provider connections only: the provider's tokens. */
  oauth_tokens?: WorkosOAuthTokens;
}

interface Log {
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

/**
 * The rate limits: the per-client limit counts a request only once the caller has shown it may use the client:
 * its API key checked, or (a public client) a well-formed request whose code exists. The client ID is public, so
 * counting earlier would let anyone use up the limit and lock the app out of every code exchange. A request that
 * fails before that point counts against its IP address instead, and over that limit its answer is HTTP 429 in
 * place of its error; a later authenticated request from the same address is not held back by it.
 */
export async function exchangeCode(input: TokenInput, deps: FlowDeps, log: Log): Promise<TokenResponse> {
  const counted = { client: false };
  try {
    return await exchange(input, deps, log, counted);
  } catch (err) {
    if (counted.client || !isBrokerError(err) || !deps.limiter.enabled('tokenIp')) throw err;
    const verdict = await deps.limiter.hit({ tokenIp: clientIpKey(input.clientIp) }, log);
    if (!verdict.limited) throw err;
    throw new BrokerError('token_rate_limited', {
      detail: { limit: 'tokenIp', ip: input.clientIp, failure: err.code },
      retryAfterSeconds: verdict.retryAfterSeconds,
    });
  }
}

async function exchange(
  input: TokenInput,
  deps: FlowDeps,
  log: Log,
  counted: { client: boolean },
): Promise<TokenResponse> {
  const { store } = deps;
  /** The per-client limit, once the caller is authenticated or its code is found. */
  const countClient = async (clientId: string) => {
    counted.client = true;
    const verdict = await deps.limiter.hit({ tokenClient: clientId }, log);
    if (verdict.limited) {
      throw new BrokerError('token_rate_limited', {
        detail: { limit: 'tokenClient', client_id: clientId },
        retryAfterSeconds: verdict.retryAfterSeconds,
      });
    }
  };
  const params = input.params;
  if (!params) throw new BrokerError('token_body_invalid');
  for (const [name, values] of params) {
    if (values.length > 1) throw new BrokerError('token_parameter_repeated', { detail: { parameter: name } });
  }
  const get = (name: string) => params.get(name)?.[0];

  const grantType = get('grant_type');
  const clientId = get('client_id');
  const code = get('code');
  if (!grantType || !clientId) throw new BrokerError('token_parameter_missing');
  if (grantType !== 'authorization_code')
    throw new BrokerError('grant_type_unsupported', { detail: { grantType } });
  if (!safeEqual(clientId, deps.clientId))
    throw new BrokerError('client_invalid', { detail: { reason: 'unknown client_id' } });

  // Client authentication: the API key as client_secret and/or Bearer (the SDK sends both); none for public clients.
  const secret = get('client_secret');
  const bearer = input.authorization ? /^Bearer\s+(\S+)\s*$/i.exec(input.authorization)?.[1] : undefined;
  let confidential = false;
  if (secret !== undefined || bearer !== undefined) {
    if (secret !== undefined && bearer !== undefined && !safeEqual(secret, bearer)) {
      throw new BrokerError('client_invalid', { detail: { reason: 'client_secret and Bearer key differ' } });
    }
    const key = await store.findActiveApiKey(sha256((secret ?? bearer) as string));
    if (!key) throw new BrokerError('client_invalid', { detail: { reason: 'unknown or revoked API key' } });
    confidential = true;
    await countClient(clientId);
  }
  if (!code) throw new BrokerError('token_parameter_missing');

  const codeHash = sha256(code);
  const record = await store.getAuthorizationCode(codeHash);
  if (!record || !safeEqual(record.clientId, clientId)) {
    throw new BrokerError('code_invalid', {
      detail: { reason: record ? 'issued to another client' : 'unknown code' },
    });
  }
  if (!confidential) await countClient(clientId);
  const redirectUri = get('redirect_uri');
  if (redirectUri !== undefined && redirectUri !== record.redirectUri) {
    throw new BrokerError('token_redirect_uri_mismatch', {
      detail: { expected: record.redirectUri, received: redirectUri },
    });
  }
  const verifier = get('code_verifier');
  if (record.codeChallenge) {
    if (verifier === undefined) throw new BrokerError('code_verifier_missing');
    if (!VERIFIER.test(verifier) || !safeEqual(pkceS256(verifier), record.codeChallenge)) {
      throw new BrokerError('code_verifier_mismatch');
    }
  } else {
    // RFC 9700 §4.8.2: a verifier for a code issued without a challenge is a downgrade attempt.
    if (verifier !== undefined) throw new BrokerError('code_verifier_unexpected');
    if (!confidential) throw new BrokerError('client_pkce_required');
  }

  const profile = await store.getProfile(record.profileId);
  if (!profile)
    throw new BrokerError('code_invalid', {
      detail: { reason: 'the profile (or its connection) was deleted' },
    });
  const now = deps.now();
  const accessToken = randomToken(32);
  const response: TokenResponse = {
    token_type: 'Bearer',
    access_token: accessToken,
    expires_in: Math.round(deps.accessTokenTtlMs / 1000),
    profile: presentProfile(profile),
  };
  if (record.oauthTokens) {
    try {
      response.oauth_tokens = openOAuthTokens(deps, record.oauthTokens, record.sessionId);
    } catch (err) {
      // Only a changed GATEHOUSE_SECRET_KEY (or a tampered row) gets here: the sign-in cannot be completed.
      throw new BrokerError('code_invalid', {
        detail: { reason: "the provider's tokens could not be opened" },
        cause: err,
      });
    }
  }

  let idempotency: Parameters<typeof store.redeemAuthorizationCode>[0]['idempotency'];
  const key = input.idempotencyKey;
  if (key !== undefined) {
    if (!IDEMPOTENCY_KEY.test(key))
      throw new BrokerError('token_body_invalid', { detail: { reason: 'malformed Idempotency-Key' } });
    idempotency = {
      clientId,
      key,
      requestHash: sha256(JSON.stringify([codeHash, verifier ?? null, redirectUri ?? null])),
      // The kept response holds an access token: sealed like every other secret at rest.
      response: deps.secretBox.encrypt(JSON.stringify(response), `idempotency:${clientId}:${key}`),
      expiresAt: new Date(now.getTime() + IDEMPOTENCY_TTL_MS),
    };
  }
  const result = await store.redeemAuthorizationCode({
    codeHash,
    now,
    token: {
      tokenHash: sha256(accessToken),
      clientId,
      profileId: profile.id,
      expiresAt: new Date(now.getTime() + deps.accessTokenTtlMs),
    },
    ...(idempotency ? { idempotency } : {}),
  });
  switch (result.kind) {
    case 'issued':
      return response;
    case 'replayed':
      return JSON.parse(
        deps.secretBox.decrypt(result.response, `idempotency:${clientId}:${key}`),
      ) as TokenResponse;
    case 'idempotency_mismatch':
      throw new BrokerError('idempotency_key_reused');
    case 'invalid':
      if (result.reason === 'consumed') {
        log.warn(
          { session: record.sessionId },
          'authorization code used twice: the access token it issued is revoked',
        );
        await updateSessionSafely(
          store,
          record.sessionId,
          { stages: { code_replayed: now.toISOString() } },
          log,
        );
      }
      throw new BrokerError('code_invalid', { detail: { reason: result.reason } });
  }
}

/**
 * GET /sso/profile (RFC 6750): the profile for a Bearer access token from the Authorization header only.
 * @throws BrokerError `bearer_token_missing` (no credentials: no error code, RFC 6750 §3),
 *   `bearer_token_invalid`, `bearer_request_invalid` (token in the query).
 */
export async function profileForToken(
  authorization: string | undefined,
  tokenInQuery: boolean,
  deps: FlowDeps,
) {
  if (tokenInQuery) throw new BrokerError('bearer_request_invalid');
  const m = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
  if (!m?.[1]) throw new BrokerError('bearer_token_missing');
  const record = await deps.store.getAccessToken(sha256(m[1]));
  const now = deps.now();
  if (!record || record.revokedAt || record.expiresAt <= now) {
    throw new BrokerError('bearer_token_invalid', {
      detail: { reason: !record ? 'unknown' : record.revokedAt ? 'revoked' : 'expired' },
    });
  }
  const profile = await deps.store.getProfile(record.profileId);
  if (!profile) throw new BrokerError('bearer_token_invalid', { detail: { reason: 'profile deleted' } });
  return presentProfile(profile);
}
