import { readCookie } from '../lib/cookies.ts';

/**
 * The browser binding cookie: a random secret that ties a login transaction to the browser that started it
 * (RFC 9700 §4.7). HttpOnly, SameSite=Lax (the IdP returns the browser with a top-level GET).
 *
 * Its name and attributes follow the public URL, and only the name in force is ever read:
 * - https at the root of its host: `__Host-gatehouse_browser`, Secure, Path=/, no Domain. Browsers take a
 *   `__Host-` cookie only from that host itself, so a sibling subdomain (`evil.example.com` next to
 *   `sso.example.com`) cannot plant one: with a known binding value it could otherwise fix the binding of a
 *   victim's sign-in, or finish its own sign-in in the victim's browser (login CSRF).
 * - otherwise (http, in development; or a public URL with a path): `gatehouse_browser`, Path=<path>/sso/, Secure
 *   on https. `__Host-` needs Secure, and not every browser takes a Secure cookie over http://localhost.
 */
const NAME = 'gatehouse_browser';
const MAX_AGE_SECONDS = 60 * 60;

export interface BindingCookies {
  /** The name of the SameSite=Lax cookie. */
  readonly name: string;
  /**
   * The name of the same value's second cookie, which browsers also send on cross-site POSTs (SameSite=None,
   * which requires Secure): a SAML IdP posts its response to our ACS from its own site, and a Lax cookie would
   * not come along. Browsers accept Secure cookies on https (and Chromium on http://localhost); elsewhere SAML
   * needs an https public URL.
   */
  readonly crossSiteName: string;
  /** The Set-Cookie values for a binding value: the Lax cookie, and with `crossSite` the SameSite=None one. */
  headers(value: string, crossSite: boolean): string[];
  /** The binding value from a Cookie header: the Lax cookie's, else the cross-site one's (a POST from the IdP). */
  read(header: string | undefined): string | null;
}

/** The binding cookies of a deployment, from its public URL (GATEHOUSE_PUBLIC_URL). */
export function bindingCookies(publicUrl: string): BindingCookies {
  const url = new URL(publicUrl);
  const secure = url.protocol === 'https:';
  const hostOnly = secure && url.pathname === '/';
  const prefix = hostOnly ? '__Host-' : '';
  const path = hostOnly ? '/' : `${url.pathname.replace(/\/+$/, '')}/sso/`;
  const name = `${prefix}${NAME}`;
  const crossSiteName = `${prefix}${NAME}_x`;
  const common = `Path=${path}; Max-Age=${MAX_AGE_SECONDS}; HttpOnly`;
  return {
    name,
    crossSiteName,
    headers(value, crossSite) {
      const lax = `${name}=${value}; ${common}; SameSite=Lax${secure ? '; Secure' : ''}`;
      return crossSite ? [lax, `${crossSiteName}=${value}; ${common}; SameSite=None; Secure`] : [lax];
    },
    read: (header) => readCookie(header, name) ?? readCookie(header, crossSiteName),
  };
}
