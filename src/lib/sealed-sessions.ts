import { readCookie } from './cookies.ts';
import type { SecretBox } from './secret-box.ts';
import { safeEqual } from './tokens.ts';

/** What every sealed session holds: a random ID (CSRF and other secrets derive from it) and its two clocks. */
export interface SealedSession {
  sid: string;
  /** Epoch milliseconds: when it began (the absolute limit counts from here) and when it was last used. */
  openedAt: number;
  seenAt: number;
}

export interface SealedSessionOptions {
  /** Cookie name; also the purpose the sealing is bound to (a cookie of one kind never opens as another). */
  name: string;
  /** The path under the public URL's path the cookie is sent to (`/portal/`, `/dashboard/`). */
  path: string;
  sameSite: 'Lax' | 'Strict';
  absoluteMs: number;
  idleMs: number;
}

/**
 * Browser sessions kept in one cookie, sealed (AES-256-GCM under the secret key, bound to the cookie's name), so
 * that every node can read them and nothing is stored per session: HttpOnly, `Secure` when the public URL is
 * https, an absolute lifetime from `openedAt` and an idle timeout renewed by each response, and a CSRF token for
 * the session's forms derived from its ID under the secret key. The Admin Portal (Lax) and the dashboard (Strict)
 * each have one.
 */
export class SealedSessions<T extends SealedSession> {
  readonly #box: SecretBox;
  readonly #options: SealedSessionOptions;
  readonly #path: string;
  readonly #attributes: string;

  constructor(box: SecretBox, publicUrl: string, options: SealedSessionOptions) {
    this.#box = box;
    this.#options = options;
    const url = new URL(publicUrl);
    this.#path = `${url.pathname.replace(/\/+$/, '')}${options.path}`;
    this.#attributes = `HttpOnly; SameSite=${options.sameSite}${url.protocol === 'https:' ? '; Secure' : ''}`;
  }

  /** The session in a Cookie header, if it is ours, unexpired and not idle too long. */
  read(cookieHeader: string | undefined, now: Date): T | null {
    const sealed = readCookie(cookieHeader, this.#options.name);
    if (!sealed || sealed.length > 4096) return null;
    let session: T;
    try {
      session = JSON.parse(this.#box.decrypt(sealed, this.#options.name)) as T;
    } catch {
      return null;
    }
    const t = now.getTime();
    if (
      typeof session.sid !== 'string' ||
      typeof session.openedAt !== 'number' ||
      typeof session.seenAt !== 'number'
    )
      return null;
    if (t >= session.openedAt + this.#options.absoluteMs || t >= session.seenAt + this.#options.idleMs)
      return null;
    return session;
  }

  /** The Set-Cookie value that stores (or renews) `session`. */
  cookie(session: T, now: Date): string {
    const renewed = { ...session, seenAt: now.getTime() };
    const left = session.openedAt + this.#options.absoluteMs - now.getTime();
    const maxAge = Math.max(0, Math.floor(Math.min(left, this.#options.idleMs) / 1000));
    const sealed = this.#box.encrypt(JSON.stringify(renewed), this.#options.name);
    return `${this.#options.name}=${sealed}; Path=${this.#path}; Max-Age=${maxAge}; ${this.#attributes}`;
  }

  /** The Set-Cookie value that ends the session in this browser. */
  clear(): string {
    return `${this.#options.name}=; Path=${this.#path}; Max-Age=0; ${this.#attributes}`;
  }

  /** The CSRF token of the session's forms. */
  csrf(session: T): string {
    return this.#box.derive(`${this.#options.name} csrf`, session.sid);
  }

  checkCsrf(session: T, token: unknown): boolean {
    return typeof token === 'string' && safeEqual(token, this.csrf(session));
  }

  /** A secret of this session for `label`. */
  derive(session: T, label: string): string {
    return this.#box.derive(`${this.#options.name} ${label}`, session.sid);
  }
}
