import assert from 'node:assert/strict';
import { TestBrowser } from '../helpers/browser.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';

/**
 * What the Admin Portal tests share: an IT admin's browser opened on a setup link, the CSRF token of its forms,
 * multipart posts (the metadata upload), and the text of a page as a person reads it.
 */

/** The visible text of an HTML page: tags dropped, character references decoded, white space collapsed. */
export function pageText(html: string): string {
  return html
    .replace(/<(script|style)[^>]*>[\s\S]*?<\/\1>/g, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_, n: string) => String.fromCodePoint(Number.parseInt(n, 16)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The `<h1>` of a page, as text. */
export function heading(html: string): string {
  return pageText(/<h1>([\s\S]*?)<\/h1>/.exec(html)?.[1] ?? '');
}

/** The portal's error code shown at the foot of a message page (`Error <code>…</code>`). */
export function errorCode(html: string): string | null {
  return /Error <code>([a-z_]+)<\/code>/.exec(html)?.[1] ?? null;
}

/** The text of the error message by form field `id` (`<p class="error" id="e-…">`). */
export function fieldError(html: string, id: string): string | null {
  const m = new RegExp(`<p class="error" id="e-${id}">([\\s\\S]*?)</p>`).exec(html);
  return m ? pageText(m[1] ?? '') : null;
}

/** The CSRF token of a page's forms. */
export function csrfOf(html: string): string {
  const token = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
  if (!token) throw new Error(`no CSRF token on the page:\n${html.slice(0, 400)}`);
  return token;
}

export interface PortalAdmin {
  browser: TestBrowser;
  /** The CSRF token of this session's forms. */
  csrf: string;
  /** The link it was opened from. */
  link: string;
}

/** Generates a setup link for `organization` with the SDK (or takes `link`) and opens it in a new browser. */
export async function openPortal(
  gh: TestGatehouse,
  organization: string,
  options: { link?: string; successUrl?: string; returnUrl?: string } = {},
): Promise<PortalAdmin> {
  const link =
    options.link ??
    (
      await gh.workos.adminPortal.generateLink({
        organization,
        ...(options.successUrl ? { successUrl: options.successUrl } : {}),
        ...(options.returnUrl ? { returnUrl: options.returnUrl } : {}),
      })
    ).link;
  const browser = new TestBrowser();
  const launched = await browser.request(link.replace(/^https?:\/\/[^/]+/, gh.url));
  assert.equal(launched.status, 303, `the link opens (${launched.status})`);
  assert.equal(launched.headers.get('location'), '/portal/');
  const chooser = await browser.request(`${gh.url}/portal/sso/choose`);
  assert.equal(chooser.status, 200);
  return { browser, csrf: csrfOf(await chooser.text()), link };
}

/** `POST /portal/sso/start` for the IdP guide `guide`: the new connection's ID. */
export async function startConnection(gh: TestGatehouse, admin: PortalAdmin, guide: string): Promise<string> {
  const res = await admin.browser.request(`${gh.url}/portal/sso/start`, {
    form: { csrf: admin.csrf, guide },
  });
  assert.equal(res.status, 303);
  const id = /\/portal\/sso\/connections\/(conn_[0-9A-Z]{26})$/.exec(res.headers.get('location') ?? '')?.[1];
  assert.ok(id, `start redirects to the connection page (${res.headers.get('location')})`);
  return id;
}

/** A multipart form post (the metadata upload) from `admin`'s browser. */
export async function postMultipart(
  admin: PortalAdmin,
  url: string,
  fields: [string, string | { content: string | Buffer<ArrayBuffer>; filename: string }][],
): Promise<Response> {
  const form = new FormData();
  for (const [name, value] of fields) {
    if (typeof value === 'string') form.append(name, value);
    else form.append(name, new Blob([value.content], { type: 'application/xml' }), value.filename);
  }
  return fetch(url, {
    method: 'POST',
    body: form,
    headers: { cookie: admin.browser.cookieHeader(new URL(url)) },
    redirect: 'manual',
  });
}
