import { isBrokerError } from '../errors/broker-error.ts';
import { catalog, type ErrorCode } from '../errors/catalog.ts';
import { newId } from '../lib/ids.ts';
import { isEmail } from '../management/validate.ts';
import { countClientIp, enforceClientIpLimit, limitConnection } from '../sso/authorize/rate-limits.ts';
import { resolveConnection } from '../sso/authorize/resolve-connection.ts';
import { startUpstream } from '../sso/authorize/start-upstream.ts';
import type { FlowOutcome } from '../sso/outcome.ts';
import {
  OWN_RESULT_PATHS,
  type OwnSignIn,
  ownAuthorizeContext,
  ownStateRequestId,
  redeemOwnCode,
} from '../sso/own-sign-in.ts';
import type { OperatorRecord } from '../storage/store.ts';
import {
  audit,
  type DashboardContext,
  type DashboardDeps,
  type DashboardResult,
  dashboardPath,
  messagePage,
  page,
} from './dashboard.ts';
import { type DashboardSignIn, newDashboardSession, newSignIn } from './session.ts';

/**
 * Operators sign in through Gatehouse's own single sign-on (issue 13: Gatehouse dog-foods its SSO). An operator
 * marks one organization as the operators' organization; the sign-in page then starts a sign-in through that
 * organization's connection exactly as an app would: the same `resolveConnection` and `startUpstream` as
 * `/sso/authorize`, the same callback or ACS, the same one-time code, redeemed by the same `exchangeCode` as
 * `/sso/token`, and recorded in the session log like any app's sign-in. Only its ends are the dashboard's:
 * - the redirect URI is the dashboard's own `/dashboard/sso/callback`, which the flow accepts as it accepts an
 *   allowlisted one (`verifyStoredRedirectUri`);
 * - the browser that starts it gets a short-lived sign-in cookie (sealed, SameSite=Lax, so that it comes back with
 *   the IdP's top-level redirect); the `state` is the authorize request's ID with a MAC under that cookie, and the
 *   code is bound by PKCE to a verifier derived from it: a code or a callback URL from another browser (login
 *   CSRF) signs nobody in;
 * - the profile's connection must belong to the operators' organization, and the organization's domain policy
 *   applies as for any sign-in (the email's domain must be one of its verified domains, unless it allows others).
 * The email names the operator: an existing operator signs in (a disabled one is refused); an unknown email
 * becomes an operator only when the setting allows it ("create operators on first sign-in"), else it is refused
 * with a page that says to ask for an invitation. Every sign-in and creation is in the audit log.
 */

/** The store settings (`getSetting`/`setSetting`) of operator SSO. */
export const SSO_ORGANIZATION_SETTING = 'dashboard.sso_organization_id';
export const SSO_CREATE_SETTING = 'dashboard.sso_create_operators';

export interface OperatorSso {
  organizationId: string | null;
  createOperators: boolean;
}

export async function operatorSso(deps: Pick<DashboardDeps, 'store'>): Promise<OperatorSso> {
  const [organizationId, create] = await Promise.all([
    deps.store.getSetting(SSO_ORGANIZATION_SETTING),
    deps.store.getSetting(SSO_CREATE_SETTING),
  ]);
  return { organizationId: organizationId || null, createOperators: create === 'on' };
}

/** Where the operators' sign-ins come back: the redirect URI of every dashboard sign-in. */
export function dashboardCallbackUri(publicUrl: string): string {
  return `${publicUrl}${OWN_RESULT_PATHS[1]}`;
}

/** The sign-in's binding to the browser's sign-in cookie (own-sign-in.ts). */
function bound(deps: DashboardDeps, signIn: DashboardSignIn): OwnSignIn<DashboardSignIn> {
  return { sessions: deps.signIns, session: signIn };
}

/** The page of a refused or failed operator sign-in (anonymous: no navigation), clearing the sign-in cookie. */
function refusedPage(
  deps: DashboardDeps,
  status: number,
  heading: string,
  text: string[],
  requestId: string,
  code: string,
): DashboardResult {
  return {
    ...messagePage(deps, status, heading, text, requestId, {
      code,
      links: [{ href: dashboardPath(deps, 'sign_in'), label: 'Back to sign-in' }],
    }),
    cookies: [deps.signIns.clear()],
  };
}

/**
 * `GET /dashboard/sign_in`: how to get in. With an operators' organization, a button that starts single sign-on
 * (a link carrying a CSRF token bound to a fresh sign-in cookie: a link, because the pages' CSP, `form-action
 * 'self'`, stops a form post that redirects to the IdP); always, how one-time links work.
 */
export async function signInPage(
  deps: DashboardDeps,
  requestId: string,
  options: { error?: string; status?: number } = {},
): Promise<DashboardResult> {
  const sso = await operatorSso(deps);
  const org = sso.organizationId ? await deps.store.getOrganization(sso.organizationId) : null;
  const signIn = newSignIn(deps.now());
  const result = page(
    deps,
    'sign-in',
    {
      title: 'Sign in to the dashboard',
      sso: org ? { organization: org.name } : null,
      signInCsrf: deps.signIns.csrf(signIn),
      error: options.error ?? null,
    },
    { requestId, status: options.status ?? 200 },
  );
  return org ? { ...result, cookies: [deps.signIns.cookie(signIn, deps.now())] } : result;
}

interface Log {
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

/**
 * `GET /dashboard/sso/start?csrf=`: starts a sign-in through the operators' organization's connection (a redirect,
 * or the auto-posting form of a SAML HTTP-POST binding), or the sign-in page again with why it cannot.
 */
export async function startSignIn(
  deps: DashboardDeps,
  input: {
    cookie: string | undefined;
    csrf: string | undefined;
    requestId: string;
    bindingCookie: string | null;
    clientIp: string;
  },
): Promise<{ outcome: FlowOutcome; cookie: string } | DashboardResult> {
  const now = deps.now();
  const signIn = deps.signIns.read(input.cookie, now);
  if (!signIn || !deps.signIns.checkCsrf(signIn, input.csrf)) {
    return signInPage(deps, input.requestId, {
      status: 403,
      error: 'This sign-in button has expired. Try again: the button below is fresh.',
    });
  }
  const sso = await operatorSso(deps);
  if (!sso.organizationId) {
    return signInPage(deps, input.requestId, {
      status: 409,
      error: 'Single sign-on for operators is not set up. Use a sign-in or invitation link.',
    });
  }
  const ctx = ownAuthorizeContext(bound(deps, signIn), {
    flow: deps.flow,
    requestId: input.requestId,
    bindingCookie: input.bindingCookie,
    clientIp: input.clientIp,
    resultUri: dashboardCallbackUri(deps.publicUrl),
    query: `organization=${encodeURIComponent(sso.organizationId)}`,
  });
  try {
    // The same steps as /sso/authorize's from here: the per-IP and per-connection rate limits, the connection.
    await countClientIp(ctx, deps.flow);
    enforceClientIpLimit(ctx);
    await resolveConnection(ctx, deps.flow);
    await limitConnection(ctx, deps.flow);
  } catch (err) {
    if (!isBrokerError(err)) throw err;
    if (err.code === 'authorize_rate_limited') {
      return signInPage(deps, input.requestId, {
        status: 429,
        error:
          'Too many sign-ins from here or through this connection just now. Wait a minute and try again.',
      });
    }
    return signInPage(deps, input.requestId, {
      status: 409,
      error: `Single sign-on for operators cannot start: the operators' organization has no connection that is on (${err.code}). An operator can fix it on the dashboard; meanwhile use a sign-in link.`,
    });
  }
  ctx.organizationId = sso.organizationId;
  const outcome = await startUpstream(ctx, deps.flow);
  return { outcome, cookie: deps.signIns.cookie(signIn, now) };
}

/** `GET /dashboard/sso/callback?code|error&state`: the end of an operator's sign-in. */
export async function finishSignIn(
  deps: DashboardDeps,
  input: {
    cookie: string | undefined;
    query: { code?: string; state?: string; error?: string; error_description?: string };
    requestId: string;
    clientIp: string;
  },
  log: Log,
): Promise<DashboardResult> {
  const signIn = deps.signIns.read(input.cookie, deps.now());
  const authorizeRequestId = signIn ? ownStateRequestId(bound(deps, signIn), input.query.state) : null;
  if (!signIn || !authorizeRequestId) {
    return refusedPage(
      deps,
      400,
      'This sign-in was not started here',
      [
        'It was started in another browser, took longer than 15 minutes, or its address was changed.',
        'Start again from the sign-in page.',
      ],
      input.requestId,
      'dashboard_sso_state_invalid',
    );
  }
  if (!input.query.code) {
    const code = input.query.error ?? 'server_error';
    return refusedPage(
      deps,
      400,
      'Single sign-on failed',
      [
        code in catalog ? catalog[code as ErrorCode].description : 'The sign-in did not finish.',
        `The session log has the attempt, with the reason and the fix, under request ${authorizeRequestId}: another operator can look it up.`,
      ],
      input.requestId,
      `dashboard_sso_${code.replace(/[^a-z_]/g, '').slice(0, 64)}`,
    );
  }
  let profile: { email?: unknown; connection_id?: unknown; first_name?: unknown; last_name?: unknown };
  try {
    const token = await redeemOwnCode(
      bound(deps, signIn),
      {
        flow: deps.flow,
        code: input.query.code,
        authorizeRequestId,
        requestId: input.requestId,
        clientIp: input.clientIp,
      },
      log,
    );
    profile = token.profile as unknown as typeof profile;
  } catch (err) {
    log.warn(
      { err: isBrokerError(err) ? err.code : String(err) },
      'dashboard sign-in: the code exchange failed',
    );
    return refusedPage(
      deps,
      400,
      'Single sign-on failed',
      ['The sign-in could not be completed: its code was already used or has expired. Start again.'],
      input.requestId,
      'dashboard_sso_code_invalid',
    );
  }
  const sso = await operatorSso(deps);
  const connection =
    typeof profile.connection_id === 'string' ? await deps.store.getConnection(profile.connection_id) : null;
  const email = typeof profile.email === 'string' ? profile.email.trim().toLowerCase() : '';
  if (!sso.organizationId || connection?.organizationId !== sso.organizationId || !isEmail(email)) {
    return refusedPage(
      deps,
      403,
      'This sign-in does not make you an operator',
      [
        "It did not come through the operators' organization's connection (the setting may have changed meanwhile), or gave no email address.",
      ],
      input.requestId,
      'dashboard_sso_wrong_organization',
    );
  }
  let operator: OperatorRecord | null = await deps.store.getOperatorByEmail(email);
  let created = false;
  if (!operator) {
    if (!sso.createOperators) {
      return refusedPage(
        deps,
        403,
        'You are not an operator yet',
        [
          `Your identity provider signed you in as ${email}, but this Gatehouse has no operator with that email.`,
          'Ask an operator to invite you (Operators, Invite an operator), then sign in with single sign-on again.',
        ],
        input.requestId,
        'dashboard_sso_not_an_operator',
      );
    }
    const name = [profile.first_name, profile.last_name].filter((n) => typeof n === 'string' && n).join(' ');
    operator = await deps.store.createOperator({ id: newId('op'), email, name: name.slice(0, 200) || null });
    created = true;
  }
  if (operator.disabledAt) {
    return refusedPage(
      deps,
      403,
      'This operator cannot sign in',
      ['The operator was disabled. Ask another operator.'],
      input.requestId,
      'dashboard_operator_disabled',
    );
  }
  const now = deps.now();
  operator = await deps.store.updateOperator(operator.id, { lastSignInAt: now });
  const via = { via: 'sso', connection_id: connection.id, authorize_request_id: authorizeRequestId };
  if (created) await audit(deps, { operator }, 'operator.create', { type: 'operator', id: operator.id }, via);
  await audit(deps, { operator }, 'operator.sign_in', { type: 'operator', id: operator.id }, via);
  // The browser arrived here at the end of a redirect chain that began at the IdP (another site): a SameSite=Strict
  // cookie set now is not sent along a further redirect of that chain. A page of our own that moves on (a link and
  // a meta refresh, no script) makes the next request same-site, and the session cookie comes with it.
  return {
    ...page(
      deps,
      'signed-in',
      { title: 'Signed in', email: operator.email, next: dashboardPath(deps, 'overview') },
      { requestId: input.requestId, refresh: dashboardPath(deps, 'overview') },
    ),
    session: newDashboardSession(operator.id, now),
    cookies: [deps.signIns.clear()],
  };
}

/** The Operators page's single sign-on section: the setting as it stands. */
export async function ssoSection(deps: DashboardDeps): Promise<{
  organizationId: string;
  organizationName: string | null;
  createOperators: boolean;
  signInUrl: string;
}> {
  const sso = await operatorSso(deps);
  const org = sso.organizationId ? await deps.store.getOrganization(sso.organizationId) : null;
  return {
    organizationId: sso.organizationId ?? '',
    organizationName: org?.name ?? null,
    createOperators: sso.createOperators,
    signInUrl: `${deps.publicUrl}/dashboard/sign_in`,
  };
}

/**
 * `POST /dashboard/operators/sso` {organization_id, create_operators}: marks (or, empty, unmarks) the operators'
 * organization. Returns null when saved, else the message for the form.
 */
export async function saveSso(
  deps: DashboardDeps,
  ctx: DashboardContext,
  form: Record<string, string | undefined>,
): Promise<string | null> {
  const organizationId = (form.organization_id ?? '').trim();
  const createOperators = form.create_operators === 'on';
  if (organizationId) {
    if (organizationId.length > 64 || !(await deps.store.getOrganization(organizationId))) {
      return `There is no organization ${organizationId.slice(0, 64)}: give the ID of an organization (org_…), as its page shows it.`;
    }
  }
  await deps.store.setSetting(SSO_ORGANIZATION_SETTING, organizationId);
  await deps.store.setSetting(SSO_CREATE_SETTING, createOperators && organizationId ? 'on' : 'off');
  await audit(
    deps,
    ctx,
    'dashboard.sso_settings',
    organizationId ? { type: 'organization', id: organizationId } : null,
    { organization_id: organizationId || null, create_operators: createOperators && !!organizationId },
  );
  return null;
}
