import { type SealedSession, SealedSessions } from '../lib/sealed-sessions.ts';
import type { SecretBox } from '../lib/secret-box.ts';
import { randomToken } from '../lib/tokens.ts';
import type { PortalLinkRecord } from '../storage/store.ts';

/**
 * The Admin Portal session: what an opened setup link grants, for a bounded time, to the browser that opened it.
 * It lives in one cookie, sealed (AES-256-GCM under the secret key, bound to its purpose), so every node can read
 * it and nothing is stored per session: generating a new link does not end a session in use, and a session cannot
 * outlive `ABSOLUTE_MS` whatever happens.
 * - HttpOnly, SameSite=Lax, Path=/portal/, Secure when the public URL is https (and `__Host-`-free, since its
 *   path is not `/`);
 * - absolute lifetime 4 hours from the opening of the link, idle timeout 1 hour (each page renews the cookie);
 * - every form carries a CSRF token derived from the session's random ID (HMAC under the secret key).
 */

export const ABSOLUTE_MS = 4 * 60 * 60 * 1000;
export const IDLE_MS = 60 * 60 * 1000;
const COOKIE = 'gatehouse_portal';

export interface PortalSession extends SealedSession {
  /** Random ID: the CSRF token and the test sign-ins derive from it. */
  sid: string;
  organizationId: string;
  intent: PortalLinkRecord['intent'];
  linkId: string;
  returnUrl: string | null;
  successUrl: string | null;
  providerType: string | null;
  /** Epoch milliseconds. */
  openedAt: number;
  seenAt: number;
}

export function newPortalSession(link: PortalLinkRecord, now: Date): PortalSession {
  return {
    sid: randomToken(24),
    organizationId: link.organizationId,
    intent: link.intent,
    linkId: link.id,
    returnUrl: link.returnUrl,
    successUrl: link.successUrl,
    providerType: link.providerType,
    openedAt: now.getTime(),
    seenAt: now.getTime(),
  };
}

/** The portal's sessions: `gatehouse_portal`, Path=/portal/, SameSite=Lax (see `SealedSessions`). */
export class PortalSessions extends SealedSessions<PortalSession> {
  constructor(box: SecretBox, publicUrl: string) {
    super(box, publicUrl, {
      name: COOKIE,
      path: '/portal/',
      sameSite: 'Lax',
      absoluteMs: ABSOLUTE_MS,
      idleMs: IDLE_MS,
    });
  }
}
