import { newId } from '../lib/ids.ts';
import { randomToken, sha256 } from '../lib/tokens.ts';
import type { ManagementDeps } from '../management/deps.ts';
import { isEmail } from '../management/validate.ts';
import { basePath } from '../portal/portal.ts';
import { createRenderer } from '../portal/render.ts';
import type { FlowDeps } from '../sso/deps.ts';
import type { OperatorLinkRecord, OperatorRecord, Store } from '../storage/store.ts';
import {
  type DashboardSession,
  type DashboardSessions,
  type DashboardSignIns,
  newDashboardSession,
} from './session.ts';

/**
 * The operator's dashboard (issue 13): pages for the app's team, framework-free like the portal (each handler returns
 * a page or a redirect; `http/routes/dashboard.ts` writes it). The pages call the management API's own functions;
 * every change is recorded in the audit log with the operator who made it.
 */

export interface DashboardDeps {
  store: Store;
  management: ManagementDeps;
  /** The sign-in flow's dependencies (the connection doctor starts a sign-in the way /sso/authorize would). */
  flow: FlowDeps;
  sessions: DashboardSessions;
  /** Operators' single sign-ons in progress (`sso-sign-in.ts`). */
  signIns: DashboardSignIns;
  publicUrl: string;
  now: () => Date;
}

/** `session`: the operator's session to set (renewed); `clear`: end it; `cookies`: further Set-Cookie values. */
export type DashboardResult = (
  | { kind: 'page'; status: number; html: string }
  | { kind: 'redirect'; location: string }
) & { session?: DashboardSession | null; clear?: boolean; cookies?: string[] };

export interface DashboardContext {
  session: DashboardSession;
  operator: OperatorRecord;
  requestId: string;
  csrf: string;
}

const render = createRenderer(new URL('./views', import.meta.url));

/** How long each kind of link may wait before it is used. */
export const LINK_TTL_MS: Record<OperatorLinkRecord['purpose'], number> = {
  bootstrap: 24 * 60 * 60 * 1000,
  invite: 7 * 24 * 60 * 60 * 1000,
  sign_in: 15 * 60 * 1000,
};

export { basePath };

export function dashboardPath(deps: DashboardDeps, path = ''): string {
  return `${basePath(deps.publicUrl)}/dashboard/${path}`;
}

const NAV = [
  ['overview', 'Overview'],
  ['organizations', 'Organizations'],
  ['connections', 'Connections'],
  ['sessions', 'Session log'],
  ['events', 'Events'],
  ['webhooks', 'Webhooks'],
  ['operators', 'Operators'],
  ['environment', 'Environment'],
  ['audit', 'Audit log'],
] as const;

/** A dashboard page: `view` rendered inside the layout (with the navigation when signed in). */
export function page(
  deps: DashboardDeps,
  view: string,
  data: Record<string, unknown> & { title: string },
  options: {
    status?: number;
    context?: DashboardContext | null;
    requestId: string;
    current?: string;
    /** A same-site URL to move on to at once (`<meta http-equiv="refresh">`, no script). */
    refresh?: string;
  },
): DashboardResult {
  const base = basePath(deps.publicUrl);
  const context = options.context ?? null;
  const body = render(view, { ...data, base, csrf: context?.csrf ?? null });
  const html = render('layout', {
    title: data.title,
    base,
    nav: context ? NAV.map(([path, label]) => ({ path, label, current: path === options.current })) : null,
    operator: context?.operator.email ?? null,
    csrf: context?.csrf ?? null,
    requestId: options.requestId,
    refresh: options.refresh ?? null,
    body,
  });
  return { kind: 'page', status: options.status ?? 200, html, session: context?.session ?? null };
}

export function messagePage(
  deps: DashboardDeps,
  status: number,
  heading: string,
  text: string | string[],
  requestId: string,
  options: {
    code?: string;
    context?: DashboardContext | null;
    links?: { href: string; label: string }[];
  } = {},
): DashboardResult {
  return page(
    deps,
    'message',
    {
      title: heading,
      heading,
      text: Array.isArray(text) ? text : [text],
      code: options.code ?? null,
      links: options.links ?? [],
    },
    { status, requestId, context: options.context ?? null },
  );
}

/** The page for a request without a live operator session: how to get in. */
export function signInNeeded(deps: DashboardDeps, requestId: string): DashboardResult {
  return {
    ...messagePage(
      deps,
      401,
      'Sign in to the dashboard',
      [
        'The dashboard is for the operators of this Gatehouse. Sign in with single sign-on when your team has set it up, or open a sign-in or invitation link: an operator can invite you, and whoever runs the server can make a sign-in link with `npm run dashboard-link -- you@example.com`.',
        'Sessions end after 30 minutes without activity, after 12 hours in any case, and when you sign out.',
      ],
      requestId,
      {
        code: 'dashboard_session_missing',
        links: [{ href: dashboardPath(deps, 'sign_in'), label: 'Sign in' }],
      },
    ),
    clear: true,
  };
}

/** The operator's context for a request with a live session, or null (signed out, disabled, superseded). */
export async function contextFor(
  deps: DashboardDeps,
  session: DashboardSession,
  requestId: string,
): Promise<DashboardContext | null> {
  const operator = await deps.store.getOperator(session.operatorId);
  if (!operator || operator.disabledAt) return null;
  // A sign-in or a sign-out since this session began ends it.
  if (operator.lastSignInAt && session.openedAt < operator.lastSignInAt.getTime()) return null;
  return { session, operator, requestId, csrf: deps.sessions.csrf(session) };
}

/** Records a change made in the dashboard. */
export async function audit(
  deps: DashboardDeps,
  ctx: DashboardContext | { operator: OperatorRecord },
  action: string,
  target: { type: string; id: string } | null,
  detail: Record<string, unknown> = {},
): Promise<void> {
  await deps.store.appendAudit({
    id: newId('audit'),
    operatorId: ctx.operator.id,
    operatorEmail: ctx.operator.email,
    action,
    targetType: target?.type ?? null,
    targetId: target?.id ?? null,
    detail,
    createdAt: deps.now(),
  });
}

/** A one-time dashboard link (`bootstrap`, `invite` or `sign_in`): its URL; only its token's hash is stored. */
export async function createOperatorLink(
  deps: Pick<DashboardDeps, 'store' | 'publicUrl' | 'now'>,
  purpose: OperatorLinkRecord['purpose'],
  options: { email?: string; operatorId?: string; createdBy?: string } = {},
): Promise<string> {
  const token = randomToken(32);
  const now = deps.now();
  await deps.store.createOperatorLink({
    id: newId('op_link'),
    tokenHash: sha256(token),
    purpose,
    operatorId: options.operatorId ?? null,
    email: options.email?.toLowerCase() ?? null,
    createdBy: options.createdBy ?? null,
    createdAt: now,
    expiresAt: new Date(now.getTime() + LINK_TTL_MS[purpose]),
  });
  return `${deps.publicUrl}/dashboard/welcome?token=${encodeURIComponent(token)}`;
}

/**
 * On a start with no operator yet: a bootstrap link for the first one (printed with the API key), or null when
 * operators exist.
 */
export async function bootstrapLink(
  deps: Pick<DashboardDeps, 'store' | 'publicUrl' | 'now'>,
): Promise<string | null> {
  if ((await deps.store.listOperators()).length > 0) return null;
  return createOperatorLink(deps, 'bootstrap');
}

function linkRefused(
  deps: DashboardDeps,
  outcome: 'already_used' | 'expired' | 'unknown',
  requestId: string,
): DashboardResult {
  const why = {
    already_used: 'This link has already been used: each link works once.',
    expired: 'This link has expired.',
    unknown: 'This link is not valid.',
  }[outcome];
  return messagePage(
    deps,
    outcome === 'unknown' ? 400 : 410,
    'This link cannot be used',
    [
      why,
      'Ask an operator for a new invitation, or make a sign-in link on the server with `npm run dashboard-link -- you@example.com`.',
    ],
    requestId,
    { code: `dashboard_link_${outcome}` },
  );
}

/** The link of `token` as it stands (nothing used up), or why it cannot be used. */
async function peek(
  deps: DashboardDeps,
  token: string | undefined,
): Promise<OperatorLinkRecord | 'already_used' | 'expired' | 'unknown'> {
  if (!token || token.length > 200) return 'unknown';
  const link = await deps.store.findOperatorLink(sha256(token));
  if (!link) return 'unknown';
  if (link.usedAt) return 'already_used';
  if (link.expiresAt.getTime() <= deps.now().getTime()) return 'expired';
  return link;
}

/** `GET /dashboard/welcome?token=…`: the form that uses the link (opening it uses nothing up: link previews are safe). */
export async function welcomeForm(
  deps: DashboardDeps,
  token: string | undefined,
  requestId: string,
  error: string | null = null,
): Promise<DashboardResult> {
  const link = await peek(deps, token);
  if (typeof link === 'string') return linkRefused(deps, link, requestId);
  const operator = link.operatorId ? await deps.store.getOperator(link.operatorId) : null;
  return page(
    deps,
    'welcome',
    {
      title: 'Welcome to Gatehouse',
      token,
      purpose: link.purpose,
      email: operator?.email ?? link.email,
      error,
    },
    { requestId, status: error ? 422 : 200 },
  );
}

/**
 * `POST /dashboard/welcome` {token, email?, name?}: uses the link once. A bootstrap link creates the first operator
 * (refused once one exists); an invitation creates its operator (or signs an existing one in); a sign-in link
 * signs its operator in. The operator's earlier sessions end (see `contextFor`).
 */
export async function welcome(
  deps: DashboardDeps,
  form: Record<string, string | undefined>,
  requestId: string,
): Promise<DashboardResult> {
  const token = form.token ?? '';
  const email = (form.email ?? '').trim().toLowerCase();
  const name = (form.name ?? '').trim().slice(0, 200) || null;
  const peeked = await peek(deps, token);
  if (typeof peeked === 'string') return linkRefused(deps, peeked, requestId);
  if (peeked.purpose === 'bootstrap' && !isEmail(email)) {
    return welcomeForm(deps, token, requestId, 'Enter your email address: it becomes the first operator’s.');
  }
  const now = deps.now();
  const use = await deps.store.useOperatorLink(sha256(token), now);
  if (use.outcome !== 'used') return linkRefused(deps, use.outcome, requestId);
  const link = use.link;
  let operator: OperatorRecord | null = null;
  if (link.purpose === 'sign_in') {
    operator = link.operatorId ? await deps.store.getOperator(link.operatorId) : null;
  } else if (link.purpose === 'invite') {
    operator =
      (await deps.store.getOperatorByEmail(link.email ?? '')) ??
      (await deps.store.createOperator({ id: newId('op'), email: link.email ?? '', name }));
  } else {
    if ((await deps.store.listOperators()).length > 0) {
      return messagePage(
        deps,
        409,
        'This Gatehouse already has operators',
        'A bootstrap link only creates the first operator. Ask an operator for an invitation.',
        requestId,
        { code: 'dashboard_bootstrap_used' },
      );
    }
    operator = await deps.store.createOperator({ id: newId('op'), email, name });
  }
  if (!operator || operator.disabledAt) {
    return messagePage(
      deps,
      403,
      'This operator cannot sign in',
      'The operator was disabled or removed. Ask another operator.',
      requestId,
      {
        code: 'dashboard_operator_disabled',
      },
    );
  }
  operator = await deps.store.updateOperator(operator.id, { lastSignInAt: now });
  const session = newDashboardSession(operator.id, now);
  await audit(
    deps,
    { operator },
    'operator.sign_in',
    { type: 'operator', id: operator.id },
    { link: link.purpose },
  );
  return { kind: 'redirect', location: dashboardPath(deps), session };
}

/** `POST /dashboard/sign_out`: ends the operator's sessions everywhere. */
export async function signOut(deps: DashboardDeps, ctx: DashboardContext): Promise<DashboardResult> {
  await deps.store.updateOperator(ctx.operator.id, { lastSignInAt: deps.now() });
  await audit(deps, ctx, 'operator.sign_out', { type: 'operator', id: ctx.operator.id });
  return {
    ...messagePage(
      deps,
      200,
      'Signed out',
      'Your dashboard sessions have ended, in this browser and everywhere else.',
      ctx.requestId,
    ),
    clear: true,
  };
}

/** A form without this session's CSRF token. */
export function refused(deps: DashboardDeps, ctx: DashboardContext): DashboardResult {
  return messagePage(
    deps,
    403,
    'This form has expired',
    'It was not sent from this session’s page. Go back, reload and try again.',
    ctx.requestId,
    {
      code: 'dashboard_csrf_invalid',
      context: ctx,
    },
  );
}
