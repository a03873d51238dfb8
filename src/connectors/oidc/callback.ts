import * as client from 'openid-client';
import { BrokerError } from '../../errors/broker-error.ts';
import type { ErrorCode } from '../../errors/catalog.ts';
import { UpstreamFetchError } from '../../lib/safe-fetch.ts';
import type { UpstreamIdentity } from '../connector.ts';
import { aadstsReason, upstreamAuthorizationError } from '../upstream-errors.ts';

/**
 * Completing an OIDC login with openid-client: the authorization response (`iss` per RFC 9207, then `state`,
 * then the IdP's `error`), the code exchange with PKCE, ID token validation (signature from the JWKS with
 * rotation, issuer, audience, nonce, expiry with clock tolerance), userinfo when the ID token lacks the email.
 * Every failure becomes a catalog error; library and IdP messages go to `detail`/`upstream` only.
 */

/** Token endpoint errors that mean the client's credentials are refused (RFC 6749 §5.2; GitHub's own). */
const CLIENT_REJECTED = new Set(['invalid_client', 'unauthorized_client', 'incorrect_client_credentials']);

/** Walks an error's `cause` chain. */
function causes(err: unknown): unknown[] {
  const out: unknown[] = [];
  let e: unknown = err;
  for (let i = 0; e && i < 6; i++) {
    out.push(e);
    e = (e as { cause?: unknown }).cause;
  }
  return out;
}

function describe(err: unknown): Record<string, unknown> {
  const e = err as { message?: string; code?: string; status?: number; error?: string };
  return { reason: e.message, code: e.code, status: e.status };
}

/**
 * Classifies what openid-client threw at `stage` (`token_exchange` or `userinfo`) into a catalog error.
 */
export function classifyOidcError(
  err: unknown,
  stage: 'token_exchange' | 'userinfo',
  issuer: string,
): BrokerError {
  if (err instanceof BrokerError) return err;
  if (err instanceof client.AuthorizationResponseError) return upstreamAuthorizationError(err.cause);

  for (const e of causes(err)) {
    if (e instanceof UpstreamFetchError) {
      return new BrokerError(
        e.kind === 'blocked' ? 'upstream_misconfigured' : 'upstream_temporarily_unavailable',
        {
          detail: { stage, issuer, reason: e.message, kind: e.kind },
          cause: err,
        },
      );
    }
    if (
      (e as { name?: string })?.name === 'TimeoutError' ||
      (e as { name?: string })?.name === 'AbortError'
    ) {
      return new BrokerError('upstream_temporarily_unavailable', {
        detail: { stage, issuer, reason: 'timed out' },
        cause: err,
      });
    }
  }

  // The token or userinfo endpoint answered with an OAuth error body (RFC 6749 §5.2 / RFC 6750).
  if (err instanceof client.ResponseBodyError) {
    const upstream: Record<string, unknown> = { error: err.error, status: err.status };
    if (err.error_description) upstream.error_description = err.error_description;
    const body = err.cause as Record<string, unknown> | undefined;
    for (const key of ['error_uri', 'error_codes', 'trace_id', 'correlation_id', 'timestamp', 'suberror']) {
      if (body?.[key] !== undefined) upstream[key] = body[key];
    }
    let code: ErrorCode = stage === 'userinfo' ? 'userinfo_failed' : 'code_exchange_failed';
    const byNumber = aadstsReason(err.error_description);
    if (CLIENT_REJECTED.has(err.error)) code = 'upstream_client_rejected';
    else if (err.status >= 500 || err.error === 'temporarily_unavailable' || err.status === 429) {
      code = 'upstream_temporarily_unavailable';
    } else if (byNumber) code = byNumber; // e.g. Entra's MFA requirement (AADSTS50076) at the token endpoint
    return new BrokerError(code, { upstream, detail: { stage, issuer }, cause: err });
  }
  if (err instanceof client.WWWAuthenticateChallengeError) {
    return new BrokerError(stage === 'userinfo' ? 'userinfo_failed' : 'code_exchange_failed', {
      upstream: {
        status: err.status,
        challenges: err.cause.map((c) => ({ scheme: c.scheme, ...c.parameters })),
      },
      detail: { stage, issuer },
      cause: err,
    });
  }

  const e = err as { code?: string; message?: string; cause?: unknown };
  // openid-client rethrows oauth4webapi's errors as the `cause` of a generic one ("invalid response
  // encountered", "unexpected JWT claim value encountered"): the specific message and claim are on the cause.
  const inner = (e.cause ?? {}) as { message?: string; claim?: string; cause?: { claim?: string } };
  const message = `${e.message ?? ''}\n${inner.message ?? ''}`;
  const detail = {
    stage,
    issuer,
    ...describe(err),
    cause: inner.message ?? e.cause,
  };
  // Failures of the authorization response itself (RFC 9207 `iss`, `state`) and of the ID token are not
  // token endpoint failures: name their stage for the session log.
  const responseDetail = { ...detail, stage: 'authorization_response' };
  const idTokenDetail = stage === 'token_exchange' ? { ...detail, stage: 'id_token' } : detail;
  switch (e.code) {
    case 'OAUTH_INVALID_RESPONSE':
      // `iss` of the authorization response (RFC 9207): missing while advertised, or another issuer's.
      if (/"iss"/.test(message))
        return new BrokerError('issuer_mismatch', { detail: responseDetail, cause: err });
      if (/state/.test(message))
        return new BrokerError('callback_internal', { detail: responseDetail, cause: err });
      return new BrokerError('id_token_invalid', { detail: idTokenDetail, cause: err });
    case 'OAUTH_JWT_CLAIM_COMPARISON_FAILED': {
      const claim = inner.claim ?? inner.cause?.claim;
      if (claim === 'nonce') return new BrokerError('nonce_mismatch', { detail: idTokenDetail, cause: err });
      return new BrokerError('id_token_invalid', { detail: idTokenDetail, cause: err });
    }
    case 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED':
      return new BrokerError('id_token_expired', { detail: idTokenDetail, cause: err });
    case 'OAUTH_KEY_SELECTION_FAILED':
    case 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED':
    case 'OAUTH_PARSE_ERROR':
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
    case 'OAUTH_UNSUPPORTED_OPERATION':
      return new BrokerError('id_token_invalid', { detail: idTokenDetail, cause: err });
    case 'OAUTH_RESPONSE_IS_NOT_CONFORM':
    case 'OAUTH_RESPONSE_IS_NOT_JSON': {
      const status = (e.cause as { status?: number })?.status;
      const outage = typeof status === 'number' && (status >= 500 || status === 429);
      if (outage) return new BrokerError('upstream_temporarily_unavailable', { detail, cause: err });
      return new BrokerError(stage === 'userinfo' ? 'userinfo_failed' : 'code_exchange_failed', {
        detail,
        cause: err,
      });
    }
    default:
      if (/signature/i.test(message))
        return new BrokerError('id_token_invalid', { detail: idTokenDetail, cause: err });
      return new BrokerError(stage === 'userinfo' ? 'userinfo_failed' : 'code_exchange_failed', {
        detail,
        cause: err,
      });
  }
}

/**
 * Whether the ID token lacks claims we map and userinfo may have: many IdPs keep the ID token small and put
 * profile claims and groups only in userinfo (OIDC Core §5.4).
 */
export function needsUserinfo(idToken: Record<string, unknown>, scope: string): boolean {
  const scopes = new Set(scope.split(' '));
  if (typeof idToken.email !== 'string') return true;
  if (scopes.has('profile') && idToken.name === undefined && idToken.given_name === undefined) return true;
  return scopes.has('groups') && idToken.groups === undefined;
}

const TOKEN_KEYS = new Set(['access_token', 'id_token', 'refresh_token']);
/** Claims that only bind tokens to this exchange; they say nothing about the user. */
const PROTOCOL_CLAIMS = new Set([
  'nonce',
  'at_hash',
  'c_hash',
  's_hash',
  'auth_time',
  'iat',
  'exp',
  'nbf',
  'jti',
  'azp',
  'sid',
]);

function str(v: unknown): string | null {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : null;
}

/** The user from ID token claims (and userinfo, which wins where both have a claim). */
export function identityFromClaims(
  idToken: Record<string, unknown>,
  userinfo: Record<string, unknown>,
): UpstreamIdentity {
  const claims: Record<string, unknown> = { ...idToken, ...userinfo };
  const raw: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(claims)) {
    if (!TOKEN_KEYS.has(k) && !PROTOCOL_CLAIMS.has(k)) raw[k] = v;
  }
  const groups = Array.isArray(claims.groups)
    ? claims.groups.filter((g): g is string => typeof g === 'string')
    : [];
  const firstName = str(claims.given_name);
  const lastName = str(claims.family_name);
  return {
    idpId: String(idToken.sub),
    email: str(claims.email) ?? str(claims.preferred_username)?.match(/^[^@\s]+@[^@\s]+$/)?.[0] ?? null,
    firstName,
    lastName,
    name: str(claims.name) ?? ([firstName, lastName].filter(Boolean).join(' ') || null),
    groups,
    rawAttributes: raw,
  };
}
