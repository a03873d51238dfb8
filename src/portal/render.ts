import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import { CSP_ORIGIN } from '../lib/csp.ts';

/**
 * The Admin Portal's pages: server-rendered Eta templates (`views/`), which escape every `<%= %>` value by default
 * (only `<%~ include(…) %>` of our own partials is raw). Pages need no JavaScript for any step; `assets/portal.js`
 * only adds copy buttons. Nothing is loaded from another host: the CSS and the script are served from
 * `/portal/assets/`, and the CSP allows nothing else.
 */

/**
 * A renderer of the Eta templates in `views` (a directory URL): `render(name, data)` renders `<views>/<name>.eta`
 * with `data` as `it`. The dashboard has its own views and shares this, the CSS and the CSP with the portal.
 */
export function createRenderer(views: URL): (name: string, data: object) => string {
  const eta = new Eta({
    views: fileURLToPath(views),
    cache: true,
    autoEscape: true,
    autoTrim: [false, 'nl'],
  });
  return (name, data) => eta.render(`./${name}`, data);
}

/** Renders the portal's `views/<name>.eta` with `data` (available as `it` in the template). */
export const renderView = createRenderer(new URL('./views', import.meta.url));

/** The static files of the portal, read once: name → content type and body. */
export const ASSETS: Record<string, { type: string; body: string }> = Object.fromEntries(
  [
    ['portal.css', 'text/css; charset=utf-8'],
    ['portal.js', 'text/javascript; charset=utf-8'],
  ].map(([name, type]) => [
    name,
    { type: type as string, body: readFileSync(new URL(`./assets/${name}`, import.meta.url), 'utf8') },
  ]),
);

/**
 * The CSP of portal pages: nothing from other hosts, no inline script or style; forms post to the portal only (and
 * to `formActions`, origins a form's post may be redirected to: Chromium applies form-action to each redirect of a
 * form's post, so activation's 303 to the app's `success_url` needs that origin); never framed.
 */
export function portalCsp(formActions: string[] = []): string {
  const targets = ["'self'", ...formActions.filter((o) => CSP_ORIGIN.test(o))].join(' ');
  return `default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action ${targets}; frame-ancestors 'none'; base-uri 'none'`;
}

export const PORTAL_CSP = portalCsp();

/** The headers of every portal page (`formActions`: see `portalCsp`). */
export function portalHeaders(formActions: string[] = []): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    pragma: 'no-cache',
    'referrer-policy': 'no-referrer',
    'content-security-policy': portalCsp(formActions),
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
  };
}

export const PORTAL_HEADERS: Record<string, string> = portalHeaders();
