import { type SealedSession, SealedSessions } from '../lib/sealed-sessions.ts';
import type { SecretBox } from '../lib/secret-box.ts';
import { randomToken } from '../lib/tokens.ts';

/**
 * An operator's dashboard session: the cookie `gatehouse_dashboard` (sealed, HttpOnly, SameSite=Strict,
 * Path=/dashboard/, Secure on https), at most 12 hours, ended by 30 minutes without activity. Each request also
 * checks the operator in the store: a disabled operator, or a session older than the operator's last sign-in or
 * sign-out (`lastSignInAt`), is signed out — so signing out ends the operator's sessions everywhere.
 */
export const DASHBOARD_ABSOLUTE_MS = 12 * 60 * 60 * 1000;
export const DASHBOARD_IDLE_MS = 30 * 60 * 1000;

export interface DashboardSession extends SealedSession {
  operatorId: string;
}

export function newDashboardSession(operatorId: string, now: Date): DashboardSession {
  return { sid: randomToken(24), operatorId, openedAt: now.getTime(), seenAt: now.getTime() };
}

export class DashboardSessions extends SealedSessions<DashboardSession> {
  constructor(box: SecretBox, publicUrl: string) {
    super(box, publicUrl, {
      name: 'gatehouse_dashboard',
      path: '/dashboard/',
      sameSite: 'Strict',
      absoluteMs: DASHBOARD_ABSOLUTE_MS,
      idleMs: DASHBOARD_IDLE_MS,
    });
  }
}

/**
 * An operator's single sign-on in progress (`dashboard/sso-sign-in.ts`): the cookie `gatehouse_dashboard_sign_in`
 * (sealed, HttpOnly, SameSite=Lax so that it comes back with the identity provider's top-level redirect, Path=
 * /dashboard/), 15 minutes. It holds nothing but its random ID: the sign-in form's CSRF token, the `state` MAC and
 * the PKCE verifier derive from it, so only the browser that started a sign-in can finish it.
 */
export type DashboardSignIn = SealedSession;

export const SIGN_IN_MS = 15 * 60 * 1000;

export function newSignIn(now: Date): DashboardSignIn {
  return { sid: randomToken(24), openedAt: now.getTime(), seenAt: now.getTime() };
}

export class DashboardSignIns extends SealedSessions<DashboardSignIn> {
  constructor(box: SecretBox, publicUrl: string) {
    super(box, publicUrl, {
      name: 'gatehouse_dashboard_sign_in',
      path: '/dashboard/',
      sameSite: 'Lax',
      absoluteMs: SIGN_IN_MS,
      idleMs: SIGN_IN_MS,
    });
  }
}
