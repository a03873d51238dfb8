/**
 * The browser binding cookie: a random secret that ties a login transaction to the browser that started it
 * (RFC 9700 §4.7). HttpOnly, scoped to /sso/, SameSite=Lax (the IdP returns the browser with a top-level GET),
 * Secure whenever Gatehouse is served over https.
 */
export const BINDING_COOKIE = 'gatehouse_browser';
const MAX_AGE_SECONDS = 60 * 60;

/**
 * The same value in a second cookie that browsers also send on cross-site POSTs (SameSite=None, which requires
 * Secure): a SAML IdP posts its response to our ACS from its own site, and a Lax cookie would not come along.
 * Browsers accept Secure cookies on https and on http://localhost; elsewhere SAML needs an https public URL.
 */
export const CROSS_SITE_BINDING_COOKIE = 'gatehouse_browser_x';

export function bindingCookieHeaders(value: string, secure: boolean, crossSite: boolean): string[] {
  const lax = `${BINDING_COOKIE}=${value}; Path=/sso/; Max-Age=${MAX_AGE_SECONDS}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
  if (!crossSite) return [lax];
  return [
    lax,
    `${CROSS_SITE_BINDING_COOKIE}=${value}; Path=/sso/; Max-Age=${MAX_AGE_SECONDS}; HttpOnly; SameSite=None; Secure`,
  ];
}

/** The browser binding value: from the Lax cookie, else from the cross-site one (a POST from the IdP). */
export function readBindingCookie(header: string | undefined): string | null {
  return readCookie(header, BINDING_COOKIE) ?? readCookie(header, CROSS_SITE_BINDING_COOKIE);
}

/** The value of cookie `name` from a Cookie header, or null. Values we set are base64url, so no decoding. */
export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}
