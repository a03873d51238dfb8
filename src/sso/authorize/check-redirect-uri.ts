import { BrokerError } from '../../errors/broker-error.ts';
import type { FlowDeps } from '../deps.ts';
import { isOwnResultUri } from '../own-sign-in.ts';
import { MAX_STATE_LENGTH } from './check-request.ts';
import type { AuthorizeContext, VerifiedRedirectUri } from './context.ts';

/**
 * Step 2 (RFC 6749 §3.1.2.4, RFC 9700 §4.1.3): the redirect URI must match the allowlist exactly (or by a
 * documented wildcard) before any error may travel to it. This is the only place a `VerifiedRedirectUri`
 * is created. Failures render a page.
 */
export async function checkRedirectUri(ctx: AuthorizeContext, deps: FlowDeps): Promise<void> {
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
  // From here on errors go back to the app, and they carry its state exactly as sent: if it is within bounds.
  ctx.appState = keptAppState(ctx.query.values.get('state')?.[0]);
}

/**
 * The app's `state` as kept for the redirects back to it, checked BEFORE it is kept: an over-long state is
 * not kept, so that no answer reflects it (checkRequest then rejects the request with `invalid_request`,
 * without `state`). Otherwise anyone could have Gatehouse echo kilobytes of their choosing in a `Location`.
 */
function keptAppState(state: string | undefined): string | null {
  return state === undefined || state.length > MAX_STATE_LENGTH ? null : state;
}

/**
 * Re-checks a redirect URI stored with a login transaction (it was verified at authorize) before the flow
 * redirects to it at the end: an entry removed from the allowlist meanwhile is no longer a valid target.
 */
export async function verifyStoredRedirectUri(
  deps: FlowDeps,
  uri: string,
): Promise<VerifiedRedirectUri | null> {
  // The Admin Portal's test sign-ins and the operators' sign-ins end at our own pages, never an app's
  // (own-sign-in.ts).
  if (isOwnResultUri(deps.publicUrl, uri)) return { uri } as VerifiedRedirectUri;
  return (await deps.redirectUris.match(uri)) ? ({ uri } as VerifiedRedirectUri) : null;
}
