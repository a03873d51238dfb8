import { sha256 } from '../lib/tokens.ts';
import type { ManagementDeps } from '../management/deps.ts';
import type { TxtResolver } from '../management/organizations.ts';
import type { FlowDeps } from '../sso/deps.ts';
import type { Store } from '../storage/store.ts';
import { renderView } from './render.ts';
import { newPortalSession, type PortalSession, type PortalSessions } from './session.ts';

/**
 * The Admin Portal (issue 11): the pages a customer's IT admin reaches from a setup link. Framework-free like the
 * flow: each handler takes what the route parsed and returns a `PortalResult`; `http/routes/portal.ts` writes it.
 * The pages call the same management functions as the API (connections, domains) and the same flow as
 * `/sso/authorize` (test sign-in): the portal adds no second copy of their rules.
 */

export interface PortalDeps {
  store: Store;
  management: ManagementDeps;
  flow: FlowDeps;
  sessions: PortalSessions;
  publicUrl: string;
  /** DNS TXT lookups for domain verification (GATEHOUSE_DNS_SERVERS chooses the resolver). */
  resolveTxt: TxtResolver;
  now: () => Date;
}

export type PortalResult =
  | {
      kind: 'page';
      status: number;
      html: string;
      session?: PortalSession | null;
      /** Origins this page's forms may end at besides the portal (its CSP's form-action; `render.portalCsp`). */
      formActions?: string[];
    }
  | { kind: 'redirect'; location: string; session?: PortalSession | null };

/** What every page of a session knows. */
export interface PortalContext {
  session: PortalSession;
  organizationName: string;
  requestId: string;
  /** The CSRF token for this session's forms. */
  csrf: string;
}

export interface Step {
  label: string;
  state: 'done' | 'current' | 'todo';
}

/** The path prefix of the public URL (`''` at the root of its host), for links in pages. */
export function basePath(publicUrl: string): string {
  return new URL(publicUrl).pathname.replace(/\/+$/, '');
}

/** A page of the portal: `view` rendered inside the layout. */
export function page(
  deps: PortalDeps,
  view: string,
  data: Record<string, unknown> & { title: string },
  options: {
    status?: number;
    context?: PortalContext | null;
    requestId: string;
    steps?: Step[];
  },
): PortalResult {
  const base = basePath(deps.publicUrl);
  const context = options.context ?? null;
  const body = renderView(view, { ...data, base, csrf: context?.csrf ?? null });
  const html = renderView('layout', {
    title: data.title,
    organizationName: context?.organizationName ?? null,
    intentLabel:
      context?.session.intent === 'domain_verification' ? 'Domain verification' : 'Single sign-on setup',
    base,
    steps: options.steps ?? null,
    returnUrl: context?.session.returnUrl ?? null,
    requestId: options.requestId,
    body,
  });
  // Activation (and any later form that finishes the setup) redirects to the app's success_url.
  const successUrl = context?.session.successUrl;
  return {
    kind: 'page',
    status: options.status ?? 200,
    html,
    session: context?.session ?? null,
    formActions: successUrl ? [new URL(successUrl).origin] : [],
  };
}

/** A page that only says something (an error, an ended session). */
export function messagePage(
  deps: PortalDeps,
  status: number,
  heading: string,
  text: string | string[],
  requestId: string,
  options: { code?: string; context?: PortalContext | null } = {},
): PortalResult {
  return page(
    deps,
    'message',
    { title: heading, heading, text, code: options.code ?? null },
    { status, requestId, context: options.context ?? null },
  );
}

const LINK_ENDED: Record<'used' | 'expired' | 'unknown', string> = {
  used: 'This setup link has already been used. Each link opens once, so that nobody else can reuse it.',
  expired: 'This setup link has expired: a link must be opened within 5 minutes of being created.',
  unknown: 'This setup link is not valid: it may be incomplete, or it expired a while ago.',
};

/**
 * `GET /portal/launch?token=…`: opens the link once and starts a portal session in this browser (then a redirect
 * to the portal, so that the token leaves the address bar and the history). A used, expired or unknown link gets
 * a page that says so and what to do; it names no organization.
 */
export async function launch(
  deps: PortalDeps,
  token: string | undefined,
  requestId: string,
): Promise<PortalResult> {
  if (!token || token.length > 200) {
    return messagePage(deps, 400, 'This setup link is not valid', LINK_ENDED.unknown, requestId, {
      code: 'portal_link_invalid',
    });
  }
  const now = deps.now();
  const opening = await deps.store.openPortalLink(sha256(token), now);
  if (opening.outcome !== 'opened') {
    return messagePage(
      deps,
      opening.outcome === 'unknown' ? 400 : 410,
      'This setup link cannot be used',
      [
        LINK_ENDED[opening.outcome],
        'Ask the application that sent it to you for a new setup link. If you were already setting up single sign-on in this browser, go back to that tab: your session goes on.',
      ],
      requestId,
      { code: `portal_link_${opening.outcome}` },
    );
  }
  const session = newPortalSession(opening.link, now);
  return { kind: 'redirect', location: `${basePath(deps.publicUrl)}/portal/`, session };
}

/** The page for a request without a (live) portal session. */
export function sessionEnded(deps: PortalDeps, requestId: string): PortalResult {
  return messagePage(
    deps,
    401,
    'Your setup session has ended',
    [
      'Setup sessions last at most 4 hours, and end after an hour without activity.',
      'Ask the application for a new setup link to continue: what you already saved is kept.',
    ],
    requestId,
    { code: 'portal_session_missing' },
  );
}

/** The context of a request with a live session, or null when its organization is gone. */
export async function contextFor(
  deps: PortalDeps,
  session: PortalSession,
  requestId: string,
): Promise<PortalContext | null> {
  const org = await deps.store.getOrganization(session.organizationId);
  if (!org) return null;
  return { session, organizationName: org.name, requestId, csrf: deps.sessions.csrf(session) };
}
