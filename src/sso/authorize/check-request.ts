import { BrokerError } from '../../errors/broker-error.ts';
import { type AuthorizeContext, param } from './context.ts';

/** Parameters that may repeat. Everything else appears at most once (RFC 6749 §3.1). */
const REPEATABLE = new Set(['provider_scopes']);
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]{1,200}$/;
const QUERY_PARAM_KEY = /^[A-Za-z0-9_.-]{1,64}$/;
/** The longest `state` accepted, and so the longest ever sent back to the app (see `keptAppState`). */
export const MAX_STATE_LENGTH = 4096;
const LIMITS = {
  login_hint: 512,
  domain_hint: 253,
  provider_query_value: 1024,
  scopes: 50,
  query_params: 20,
};

/**
 * Step 3: the request itself (RFC 6749 §4.1.1, RFC 7636 §4.3). Enforces, in order: no repeated parameters,
 * no malformed encoding, `response_type=code`, PKCE S256 with a well-formed challenge, and bounds on every
 * value we pass on. Unknown parameters are ignored (RFC 6749 §3.1).
 */
export function checkRequest(ctx: AuthorizeContext): void {
  for (const [name, values] of ctx.query.values) {
    if (values.length > 1 && !REPEATABLE.has(name)) {
      throw new BrokerError('parameter_repeated', { detail: { parameter: name } });
    }
  }
  if (ctx.query.malformed.size > 0) {
    throw new BrokerError('parameter_malformed', { detail: { parameters: [...ctx.query.malformed] } });
  }

  const responseType = param(ctx, 'response_type');
  if (responseType === undefined || responseType === '') throw new BrokerError('response_type_missing');
  if (responseType !== 'code')
    throw new BrokerError('response_type_unsupported', { detail: { responseType } });

  const challenge = param(ctx, 'code_challenge');
  const method = param(ctx, 'code_challenge_method');
  if (challenge !== undefined || method !== undefined) {
    if (method === undefined) throw new BrokerError('pkce_method_missing');
    if (method !== 'S256') throw new BrokerError('pkce_method_unsupported', { detail: { method } });
    if (challenge === undefined || challenge === '') throw new BrokerError('pkce_challenge_missing');
    if (!/^[A-Za-z0-9_-]{43}$/.test(challenge)) throw new BrokerError('pkce_challenge_malformed');
    ctx.codeChallenge = challenge;
  }

  const malformed = (parameter: string) => new BrokerError('parameter_malformed', { detail: { parameter } });
  if ((param(ctx, 'state')?.length ?? 0) > MAX_STATE_LENGTH) throw malformed('state');
  const loginHint = param(ctx, 'login_hint');
  if (loginHint !== undefined && loginHint.length > LIMITS.login_hint) throw malformed('login_hint');
  const domainHint = param(ctx, 'domain_hint');
  if (domainHint !== undefined && domainHint.length > LIMITS.domain_hint) throw malformed('domain_hint');
  ctx.loginHint = loginHint || undefined;
  ctx.domainHint = domainHint || undefined;

  // provider_scopes arrives repeated (SDK) or comma-separated (OpenAPI spec); accept both.
  const scopes = (ctx.query.values.get('provider_scopes') ?? [])
    .flatMap((v) => v.split(/[,\s]+/))
    .filter((s) => s !== '');
  if (scopes.length > LIMITS.scopes || !scopes.every((s) => SCOPE_TOKEN.test(s)))
    throw malformed('provider_scopes');
  ctx.providerScopes = [...new Set(scopes)];

  const extra: Record<string, string> = {};
  for (const [name, values] of ctx.query.values) {
    const m = /^provider_query_params\[(.*)\]$/.exec(name);
    if (!m) continue;
    const key = m[1] ?? '';
    const value = values[0] ?? '';
    if (!QUERY_PARAM_KEY.test(key) || value.length > LIMITS.provider_query_value) throw malformed(name);
    extra[key] = value;
  }
  if (Object.keys(extra).length > LIMITS.query_params) throw malformed('provider_query_params');
  ctx.providerQueryParams = extra;
}
