import { isBrokerError } from '../errors/broker-error.ts';
import { catalog, type ErrorCode } from '../errors/catalog.ts';
import { startUpstream } from '../sso/authorize/start-upstream.ts';
import type { FlowOutcome } from '../sso/outcome.ts';
import {
  OWN_RESULT_PATHS,
  type OwnSignIn,
  ownAuthorizeContext,
  ownStateRequestId,
  redeemOwnCode,
} from '../sso/own-sign-in.ts';
import type { Stage } from '../sso/session-log.ts';
import type { ConnectionRecord, SsoSessionRecord } from '../storage/store.ts';
import { explainFailure } from './doctor.ts';
import { guideForType } from './guides.ts';
import {
  basePath,
  messagePage,
  type PortalContext,
  type PortalDeps,
  type PortalResult,
  page,
} from './portal.ts';

/**
 * Test sign-in from the portal: a real SP-initiated sign-in through the admin's IdP, started by the same
 * `startUpstream` as `/sso/authorize` and finished by the same callback, code and `exchangeCode` as any app's
 * sign-in. Only its ends differ:
 * - it may run on a connection that is not on yet (the portal keeps its connections off until activation);
 * - its redirect URI is the portal's own result page (`testResultUri`), which the callback accepts as it accepts
 *   an allowlisted one; its `state` names the portal request that started it, with a MAC under this portal
 *   session's secret, and its code is bound to a PKCE verifier derived from the same secret, so only the portal
 *   session that started it can read the result;
 * - the result page shows the normalized profile (and every attribute the IdP sent) on success, and the session
 *   log's failed stage and reason, explained for the admin, on failure.
 * The session log records test sign-ins like any other.
 */

/** The session log's failed stages, as the result page names them. */
export const STAGE_WORDS: Record<Stage, string> = {
  preflight: 'starting the sign-in (before the identity provider)',
  upstream_redirect: 'sending the user to the identity provider',
  callback_binding: 'receiving the answer in this browser',
  upstream_error: 'the identity provider (it answered with an error)',
  token_exchange: "exchanging the identity provider's code",
  id_token: "checking the identity provider's ID token",
  userinfo: "reading the user's profile from the identity provider",
  saml_validation: "checking the identity provider's SAML response",
  profile_mapping: 'building the profile (required fields, domain policy)',
  consent: 'the confirmation screen',
  internal: 'finishing the sign-in',
};

/** The portal's result page: the redirect URI of every test sign-in. */
export function testResultUri(publicUrl: string): string {
  return `${publicUrl}${OWN_RESULT_PATHS[0]}`;
}

/** The link that starts a test sign-in of connection `id` (GET with the session's CSRF token: it opens a tab). */
export function testSignInUrl(deps: PortalDeps, ctx: PortalContext, id: string): string {
  return `${basePath(deps.publicUrl)}/portal/sso/connections/${encodeURIComponent(id)}/test?csrf=${encodeURIComponent(ctx.csrf)}`;
}

/** The test sign-in's binding to this portal session (own-sign-in.ts). */
function bound(deps: PortalDeps, ctx: PortalContext): OwnSignIn<PortalContext['session']> {
  return { sessions: deps.sessions, session: ctx.session };
}

/** `GET /portal/sso/connections/:id/test`: the redirect (or auto-posting form) to the admin's IdP. */
export async function startTest(
  deps: PortalDeps,
  ctx: PortalContext,
  connection: ConnectionRecord,
  bindingCookie: string | null,
): Promise<FlowOutcome> {
  const authorize = ownAuthorizeContext(bound(deps, ctx), {
    flow: deps.flow,
    requestId: ctx.requestId,
    bindingCookie,
    clientIp: '',
    resultUri: testResultUri(deps.publicUrl),
  });
  authorize.connection = connection;
  authorize.organizationId = connection.organizationId ?? undefined;
  return startUpstream(authorize, deps.flow);
}

interface Log {
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

/** The session log record of the test sign-in that portal request `requestId` started, if it is this org's. */
async function testSession(
  deps: PortalDeps,
  ctx: PortalContext,
  requestId: string,
): Promise<SsoSessionRecord | null> {
  const found = await deps.store.listSessions({ requestId }, { limit: 10, order: 'desc' });
  return (
    found.data.find(
      (s) => s.authorizeRequestId === requestId && s.organizationId === ctx.session.organizationId,
    ) ?? null
  );
}

/** `GET /portal/sso/test/result?code|error&state`: what the test sign-in gave. */
export async function testResult(
  deps: PortalDeps,
  ctx: PortalContext,
  query: { code?: string; error?: string; error_description?: string; state?: string },
  log: Log,
): Promise<PortalResult> {
  const requestId = ownStateRequestId(bound(deps, ctx), query.state);
  if (!requestId) {
    return messagePage(
      deps,
      400,
      'This test result is not yours',
      'It was started in another setup session, or its address was changed. Run the test sign-in again from the setup page.',
      ctx.requestId,
      { code: 'portal_test_state_invalid', context: ctx },
    );
  }
  const session = await testSession(deps, ctx, requestId);
  const connection = session?.connectionId ? await deps.store.getConnection(session.connectionId) : null;
  if (!session || !connection) {
    return messagePage(
      deps,
      404,
      'Test sign-in not found',
      'Run the test sign-in again from the setup page.',
      ctx.requestId,
      {
        code: 'portal_test_not_found',
        context: ctx,
      },
    );
  }
  const guide = guideForType(connection.connectionType);
  const back = `${basePath(deps.publicUrl)}/portal/sso/connections/${encodeURIComponent(connection.id)}`;
  if (query.code) {
    try {
      const token = await redeemOwnCode(
        bound(deps, ctx),
        {
          flow: deps.flow,
          code: query.code,
          authorizeRequestId: requestId,
          requestId: ctx.requestId,
          clientIp: '',
        },
        log,
      );
      const profile = token.profile as unknown as Record<string, unknown>;
      const raw = (profile.raw_attributes ?? {}) as Record<string, unknown>;
      const mapped = ['id', 'idp_id', 'email', 'first_name', 'last_name', 'groups'].map((field) => ({
        field,
        value: Array.isArray(profile[field])
          ? (profile[field] as unknown[]).join(', ')
          : String(profile[field] ?? ''),
      }));
      return page(
        deps,
        'sso-test-result',
        {
          title: 'Test sign-in succeeded',
          ok: true,
          idpName: guide?.name ?? connection.connectionType,
          mapped,
          raw: Object.entries(raw).map(([name, value]) => ({
            name,
            value: Array.isArray(value)
              ? value.join(', ')
              : typeof value === 'object'
                ? JSON.stringify(value)
                : String(value ?? ''),
          })),
          attributeMap: (connection.config as { attributeMap?: Record<string, string> }).attributeMap ?? {},
          mappable: guide?.protocol === 'saml',
          connectionId: connection.id,
          back,
        },
        { context: ctx, requestId: ctx.requestId },
      );
    } catch (err) {
      log.warn(
        { err: isBrokerError(err) ? err.code : String(err) },
        'portal test sign-in: the code exchange failed',
      );
    }
  }
  const refreshed = (await deps.store.getSession(session.id)) ?? session;
  if (query.code && refreshed.outcome === 'succeeded' && refreshed.stages.code_redeemed) {
    // The page was loaded again (a reload, the history): its one-time code was redeemed by the first load.
    return messagePage(
      deps,
      410,
      'This test result was already shown',
      [
        'The test sign-in succeeded. Its result shows once, so that nobody else can read it later.',
        'Run the test sign-in again from the setup page to see the profile again.',
      ],
      ctx.requestId,
      { code: 'portal_test_result_shown', context: ctx },
    );
  }
  const reason = (refreshed.reason ?? query.error ?? 'unknown') as ErrorCode | string;
  const explained = explainFailure(
    reason,
    refreshed.detail ?? {},
    refreshed.upstreamError ?? null,
    connection,
  );
  return page(
    deps,
    'sso-test-result',
    {
      title: 'Test sign-in failed',
      ok: false,
      idpName: guide?.name ?? connection.connectionType,
      stage: STAGE_WORDS[refreshed.failedStage as Stage] ?? refreshed.failedStage ?? 'unknown',
      reason,
      description:
        reason in catalog
          ? catalog[reason as ErrorCode].description
          : (query.error_description ?? 'The sign-in did not finish.'),
      explained,
      back,
    },
    { context: ctx, requestId: ctx.requestId, status: 200 },
  );
}
