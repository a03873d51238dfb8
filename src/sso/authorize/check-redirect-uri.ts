import { BrokerError } from '../../errors/broker-error.ts';
import type { AuthorizeContext, VerifiedRedirectUri } from './context.ts';
import type { AuthorizeDeps } from './deps.ts';

/**
 * Step 2 (RFC 6749 §3.1.2.4, RFC 9700 §4.1.3): the redirect URI must match the allowlist exactly (or by a
 * documented wildcard) before any error may travel to it. This is the only place a `VerifiedRedirectUri`
 * is created. Failures render a page.
 */
export async function checkRedirectUri(ctx: AuthorizeContext, deps: AuthorizeDeps): Promise<void> {
  const values = ctx.query.values.get('redirect_uri');
  const malformed = ctx.query.malformed.has('redirect_uri');
  if (!values || (values[0] === '' && !malformed)) throw new BrokerError('redirect_uri_missing');
  if (values.length > 1) throw new BrokerError('redirect_uri_repeated');
  const candidate = values[0] as string;
  const rule = malformed ? null : await deps.redirectUris.match(candidate);
  if (!rule) {
    throw new BrokerError('redirect_uri_not_allowed', {
      message: `The redirect_uri "${candidate.slice(0, 300)}" is not on the allowlist of redirect URIs. Add it with the management API (POST /redirect_uris) or correct the URI the application sends; matching is exact apart from the documented wildcards.`,
    });
  }
  ctx.redirectUri = { uri: candidate } as VerifiedRedirectUri;
  // From here on errors go back to the app, and they carry its state exactly as sent.
  ctx.appState = ctx.query.values.get('state')?.[0] ?? null;
}
