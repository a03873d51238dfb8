/**
 * The browser binding cookie: a random secret that ties a login transaction to the browser that started it
 * (RFC 9700 §4.7). HttpOnly, scoped to /sso/, SameSite=Lax (the IdP returns the browser with a top-level GET),
 * Secure whenever Gatehouse is served over https.
 */
export const BINDING_COOKIE = 'gatehouse_browser';
const MAX_AGE_SECONDS = 60 * 60;

export function bindingCookieHeader(value: string, secure: boolean): string {
  return `${BINDING_COOKIE}=${value}; Path=/sso/; Max-Age=${MAX_AGE_SECONDS}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
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
