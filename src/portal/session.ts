import { readCookie } from '../lib/cookies.ts';
import type { SecretBox } from '../lib/secret-box.ts';
import { randomToken, safeEqual } from '../lib/tokens.ts';
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
const CONTEXT = 'portal_session';
const COOKIE = 'gatehouse_portal';

export interface PortalSession {
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

export class PortalSessions {
  readonly #box: SecretBox;
  readonly #secure: boolean;
  readonly #path: string;

  constructor(box: SecretBox, publicUrl: string) {
    this.#box = box;
    const url = new URL(publicUrl);
    this.#secure = url.protocol === 'https:';
    this.#path = `${url.pathname.replace(/\/+$/, '')}/portal/`;
  }

  /** The session in a Cookie header, if it is ours, unexpired and not idle too long. */
  read(cookieHeader: string | undefined, now: Date): PortalSession | null {
    const sealed = readCookie(cookieHeader, COOKIE);
    if (!sealed || sealed.length > 4096) return null;
    let session: PortalSession;
    try {
      session = JSON.parse(this.#box.decrypt(sealed, CONTEXT)) as PortalSession;
    } catch {
      return null;
    }
    const t = now.getTime();
    if (typeof session.openedAt !== 'number' || typeof session.seenAt !== 'number') return null;
    if (t >= session.openedAt + ABSOLUTE_MS || t >= session.seenAt + IDLE_MS) return null;
    return session;
  }

  /** The Set-Cookie value that stores (or renews) `session`. */
  cookie(session: PortalSession, now: Date): string {
    const renewed = { ...session, seenAt: now.getTime() };
    const maxAge = Math.max(
      0,
      Math.floor(Math.min(session.openedAt + ABSOLUTE_MS - now.getTime(), IDLE_MS) / 1000),
    );
    const sealed = this.#box.encrypt(JSON.stringify(renewed), CONTEXT);
    return `${COOKIE}=${sealed}; Path=${this.#path}; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${this.#secure ? '; Secure' : ''}`;
  }

  /** The Set-Cookie value that ends the session. */
  clear(): string {
    return `${COOKIE}=; Path=${this.#path}; Max-Age=0; HttpOnly; SameSite=Lax${this.#secure ? '; Secure' : ''}`;
  }

  /** The CSRF token of the session's forms. */
  csrf(session: PortalSession): string {
    return this.#box.derive('portal csrf', session.sid);
  }

  checkCsrf(session: PortalSession, token: unknown): boolean {
    return typeof token === 'string' && safeEqual(token, this.csrf(session));
  }

  /** A secret of this session for `label` (e.g. the state of a test sign-in). */
  derive(session: PortalSession, label: string): string {
    return this.#box.derive(`portal ${label}`, session.sid);
  }
}
