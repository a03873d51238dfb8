import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import * as connections from '../../dashboard/connections.ts';
import {
  contextFor,
  type DashboardContext,
  type DashboardDeps,
  type DashboardResult,
  refused,
  signInNeeded,
  signOut,
  welcome,
  welcomeForm,
} from '../../dashboard/dashboard.ts';
import * as environment from '../../dashboard/environment.ts';
import * as events from '../../dashboard/events.ts';
import * as organization from '../../dashboard/organization.ts';
import * as overview from '../../dashboard/overview.ts';
import * as pages from '../../dashboard/pages.ts';
import * as sessionLog from '../../dashboard/sessions.ts';
import { finishSignIn, signInPage, startSignIn } from '../../dashboard/sso-sign-in.ts';
import { PORTAL_HEADERS } from '../../portal/render.ts';
import { bindingCookies } from '../cookies.ts';
import { formFields, queryFields, type SingleFields } from './body.ts';
import { writeOutcome } from './sso.ts';

/**
 * The operator's dashboard (`/dashboard/…`; absent with GATEHOUSE_DASHBOARD=off): parse the edge, find the operator's
 * session (never an API key: the management API's credentials do not open it), check the CSRF token of every form,
 * call `dashboard/`, write the result (renewing the session cookie). The pages share the portal's CSS, script and
 * CSP.
 */

type Form = SingleFields;
const formOf = formFields;
const queryOf = (request: FastifyRequest): Form => queryFields(request.url);

export function dashboardRoutes(app: FastifyInstance, deps: DashboardDeps): void {
  function write(reply: FastifyReply, result: DashboardResult): FastifyReply {
    if (result.clear) reply.header('set-cookie', deps.sessions.clear());
    else if (result.session) reply.header('set-cookie', deps.sessions.cookie(result.session, deps.now()));
    for (const cookie of result.cookies ?? []) reply.header('set-cookie', cookie);
    if (result.kind === 'redirect') {
      return reply
        .headers({ 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' })
        .redirect(result.location, 303);
    }
    return reply.code(result.status).headers(PORTAL_HEADERS).send(result.html);
  }

  async function context(request: FastifyRequest): Promise<DashboardContext | DashboardResult> {
    const session = deps.sessions.read(request.headers.cookie, deps.now());
    if (!session) return signInNeeded(deps, request.id);
    return (await contextFor(deps, session, request.id)) ?? signInNeeded(deps, request.id);
  }
  const isContext = (c: DashboardContext | DashboardResult): c is DashboardContext => 'operator' in c;

  /** A page for a signed-in operator. */
  function get(
    path: string,
    handler: (ctx: DashboardContext, request: FastifyRequest) => Promise<DashboardResult>,
  ) {
    app.get(path, async (request, reply) => {
      const ctx = await context(request);
      return write(reply, isContext(ctx) ? await handler(ctx, request) : ctx);
    });
  }

  /** A form post of a signed-in operator: session, then CSRF token. */
  function post(
    path: string,
    handler: (ctx: DashboardContext, form: Form, request: FastifyRequest) => Promise<DashboardResult>,
  ) {
    app.post(path, async (request, reply) => {
      const ctx = await context(request);
      if (!isContext(ctx)) return write(reply, ctx);
      const form = formOf(request.body);
      if (!deps.sessions.checkCsrf(ctx.session, form.csrf)) return write(reply, refused(deps, ctx));
      return write(reply, await handler(ctx, form, request));
    });
  }

  // The one-time links (bootstrap, invitation, sign-in): no session yet; the link's token is the credential.
  app.get('/dashboard/welcome', async (request, reply) =>
    write(reply, await welcomeForm(deps, queryOf(request).token, request.id)),
  );
  app.post('/dashboard/welcome', async (request, reply) =>
    write(reply, await welcome(deps, formOf(request.body), request.id)),
  );

  // Single sign-on through the operators' organization (dashboard/sso-sign-in.ts): no session yet; a sign-in
  // cookie of its own carries the form's CSRF token, the state's MAC and the PKCE verifier.
  const binding = bindingCookies(deps.publicUrl);
  app.get('/dashboard/sign_in', async (request, reply) => write(reply, await signInPage(deps, request.id)));
  // A link, not a form: the pages' CSP (form-action 'self') would stop a form post that redirects to the IdP.
  app.get('/dashboard/sso/start', async (request, reply) => {
    const started = await startSignIn(deps, {
      cookie: request.headers.cookie,
      csrf: queryOf(request).csrf,
      requestId: request.id,
      bindingCookie: binding.read(request.headers.cookie),
      clientIp: request.ip,
    });
    if ('kind' in started) return write(reply, started);
    reply.header('set-cookie', started.cookie);
    return writeOutcome(reply, started.outcome, binding);
  });
  app.get('/dashboard/sso/callback', async (request, reply) => {
    const query = queryOf(request);
    return write(
      reply,
      await finishSignIn(
        deps,
        { cookie: request.headers.cookie, query, requestId: request.id, clientIp: request.ip },
        request.log,
      ),
    );
  });

  get('/dashboard/', async (ctx) => ({
    kind: 'redirect',
    location: `${new URL(deps.publicUrl).pathname.replace(/\/+$/, '')}/dashboard/overview`,
    session: ctx.session,
  }));
  get('/dashboard/organizations', (ctx, request) => pages.organizations(deps, ctx, queryOf(request)));
  post('/dashboard/organizations', (ctx, form) => pages.createOrg(deps, ctx, form));
  post('/dashboard/organizations/:id/portal_link', (ctx, _form, request) =>
    pages.portalLink(deps, ctx, (request.params as { id: string }).id),
  );
  get('/dashboard/operators', (ctx) => pages.operators(deps, ctx));
  post('/dashboard/operators/invite', (ctx, form) => pages.invite(deps, ctx, form));
  post('/dashboard/operators/sso', (ctx, form) => pages.setSso(deps, ctx, form));
  for (const action of ['disable', 'enable'] as const) {
    post(`/dashboard/operators/:id/${action}`, (ctx, _form, request) =>
      pages.setOperatorDisabled(deps, ctx, (request.params as { id: string }).id, action === 'disable'),
    );
  }
  get('/dashboard/audit', (ctx, request) => pages.auditLog(deps, ctx, queryOf(request)));
  post('/dashboard/sign_out', (ctx) => signOut(deps, ctx));

  // The overview (dashboard/overview.ts): where /dashboard/ leads.
  get('/dashboard/overview', (ctx) => overview.overview(deps, ctx));

  // Environment (client ID, redirect URIs, API keys) and one organization's page (dashboard/environment.ts,
  // dashboard/organization.ts).
  const param = (request: FastifyRequest, name: string) =>
    (request.params as Record<string, string>)[name] ?? '';
  get('/dashboard/environment', (ctx) => environment.environment(deps, ctx));
  post('/dashboard/environment/redirect_uris', (ctx, form) => environment.addUri(deps, ctx, form));
  post('/dashboard/environment/redirect_uris/:id/default', (ctx, _form, request) =>
    environment.makeDefault(deps, ctx, param(request, 'id')),
  );
  post('/dashboard/environment/redirect_uris/:id/remove', (ctx, _form, request) =>
    environment.removeUri(deps, ctx, param(request, 'id')),
  );
  post('/dashboard/environment/api_keys', (ctx, form) => environment.createKey(deps, ctx, form));
  post('/dashboard/environment/api_keys/:id/revoke', (ctx, form, request) =>
    environment.revokeKey(deps, ctx, param(request, 'id'), form),
  );
  get('/dashboard/organizations/:id', (ctx, request) =>
    organization.organization(deps, ctx, param(request, 'id')),
  );
  post('/dashboard/organizations/:id', (ctx, form, request) =>
    organization.updateDetails(deps, ctx, param(request, 'id'), form),
  );
  post('/dashboard/organizations/:id/domains', (ctx, form, request) =>
    organization.addDomain(deps, ctx, param(request, 'id'), form),
  );
  post('/dashboard/organizations/:id/domains/:domainId/remove', (ctx, _form, request) =>
    organization.removeDomain(deps, ctx, param(request, 'id'), param(request, 'domainId')),
  );
  post('/dashboard/organizations/:id/connections', (ctx, form, request) =>
    organization.addConnection(deps, ctx, param(request, 'id'), form),
  );
  post('/dashboard/organizations/:id/admin_portal', (ctx, form, request) =>
    organization.adminPortalLink(deps, ctx, param(request, 'id'), form),
  );

  // Session log, events and webhook endpoints (dashboard/sessions.ts, dashboard/events.ts).
  const idOf = (request: FastifyRequest) => (request.params as { id: string }).id;
  get('/dashboard/sessions', (ctx, request) => sessionLog.sessionLog(deps, ctx, queryOf(request)));
  get('/dashboard/sessions/:id', (ctx, request) => sessionLog.sessionDetail(deps, ctx, idOf(request)));
  get('/dashboard/events', (ctx, request) => events.eventsPage(deps, ctx, queryOf(request)));
  get('/dashboard/webhooks', (ctx, request) => events.webhooksPage(deps, ctx, queryOf(request)));
  post('/dashboard/webhooks', (ctx, form) => events.createEndpoint(deps, ctx, form));
  post('/dashboard/webhooks/:id/status', (ctx, form, request) =>
    events.setEndpointStatus(deps, ctx, idOf(request), form),
  );
  post('/dashboard/webhooks/:id/delete', (ctx, form, request) =>
    events.deleteEndpoint(deps, ctx, idOf(request), form),
  );

  // Connections (dashboard/connections.ts): the list with sign-in statistics, one connection, its actions.
  const connectionId = (request: FastifyRequest) => (request.params as { id: string }).id;
  get('/dashboard/connections', (ctx, request) => connections.connections(deps, ctx, queryOf(request)));
  post('/dashboard/connections', (ctx, form) => connections.addProvider(deps, ctx, form));
  get('/dashboard/connections/:id', (ctx, request) =>
    connections.connection(deps, ctx, connectionId(request), { notice: queryOf(request).notice }),
  );
  for (const action of ['activate', 'deactivate', 'refresh_metadata'] as const) {
    post(`/dashboard/connections/:id/${action}`, (ctx, _form, request) =>
      connections.act(deps, ctx, connectionId(request), action),
    );
  }
  post('/dashboard/connections/:id/doctor', (ctx, _form, request) =>
    connections.doctor(deps, ctx, connectionId(request)),
  );
  post('/dashboard/connections/:id/delete', (ctx, form, request) =>
    connections.remove(deps, ctx, connectionId(request), form),
  );
  post('/dashboard/connections/:id/test_sign_in', (ctx, _form, request) =>
    connections.testSignIn(deps, ctx, connectionId(request)),
  );
}
