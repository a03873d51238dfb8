/**
 * Server-rendered HTML for browser-facing outcomes (error pages now; the consent screen later). Pages load
 * nothing from third parties, cannot be framed, are never cached and send no referrer (RFC 9700 §4.2.4, §4.16).
 */

/**
 * The Content-Security-Policy of our pages; `formAction` lists where their forms may post (and redirect), and
 * `scriptHash` allows the one inline script of the auto-posting page.
 */
export function pageCsp(formAction: string[] = ["'self'"], scriptHash?: string): string {
  const scripts = scriptHash ? `; script-src '${scriptHash}'` : '';
  const targets = formAction.filter((o) => o === "'self'" || CSP_ORIGIN.test(o));
  return `default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action ${targets.join(' ') || "'none'"}; frame-ancestors 'none'; base-uri 'none'${scripts}`;
}

export const PAGE_HEADERS: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  pragma: 'no-cache',
  'referrer-policy': 'no-referrer',
  'content-security-policy': pageCsp(),
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
};

import { createHash } from 'node:crypto';
import { CSP_ORIGIN } from '../lib/csp.ts';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
  body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; background: #f5f6f8; color: #1d2330; margin: 0; }
  main { max-width: 34rem; margin: 12vh auto; background: #fff; border: 1px solid #dde1e7; border-radius: 10px; padding: 2rem 2.25rem; }
  h1 { font-size: 1.25rem; margin: 0 0 .75rem; }
  p { margin: .5rem 0; }
  .ref { margin-top: 1.5rem; color: #5b6475; font-size: .85rem; }
  code { font: .85rem ui-monospace, SFMono-Regular, Menlo, monospace; background: #f0f2f5; padding: .1rem .3rem; border-radius: 4px; word-break: break-all; }
`;

export interface ErrorPage {
  title: string;
  message: string;
  requestId: string;
  code: string;
}

/** An error page: what went wrong, in words a developer can act on, and the request ID that finds it in the logs. */
export function renderErrorPage(page: ErrorPage): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(page.title)} · Gatehouse</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>${escapeHtml(page.title)}</h1>
<p>${escapeHtml(page.message)}</p>
<p class="ref">Error <code>${escapeHtml(page.code)}</code> · Request ID <code>${escapeHtml(page.requestId)}</code></p>
</main>
</body>
</html>
`;
}

export interface ConsentPage {
  token: string;
  email: string;
  connectionName: string;
  identityProvider: string;
  appOrigin: string;
  requestId: string;
}

/**
 * The sign-in consent screen: who the identity provider says the user is, and where they are going.
 * A plain form (no JavaScript), posting a one-time token to /sso/consent.
 */
export function renderConsentPage(page: ConsentPage): string {
  const app = escapeHtml(page.appOrigin.replace(/^https?:\/\//, ''));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Confirm sign-in · Gatehouse</title>
<style>${STYLE}
  .who { font-size: 1.1rem; font-weight: 600; margin: 1rem 0; word-break: break-all; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .35rem 1rem; margin: 1rem 0 1.5rem; color: #3a4252; }
  dt { color: #5b6475; } dd { margin: 0; word-break: break-all; }
  .actions { display: flex; flex-wrap: wrap; gap: .75rem; margin-top: 1.25rem; }
  button { font: inherit; padding: .6rem 1.2rem; border-radius: 8px; border: 1px solid #c9ced8; background: #fff; cursor: pointer; }
  button.primary { background: #2d5be3; border-color: #2d5be3; color: #fff; }
  button:focus-visible { outline: 3px solid #9db4f5; outline-offset: 2px; }
</style>
</head>
<body>
<main>
<h1>Confirm it is you</h1>
<p>Your identity provider signed you in as</p>
<p class="who">${escapeHtml(page.email)}</p>
<dl>
<dt>Continue to</dt><dd>${app}</dd>
<dt>Identity provider</dt><dd>${escapeHtml(page.identityProvider)}</dd>
<dt>Connection</dt><dd>${escapeHtml(page.connectionName)}</dd>
</dl>
<p>If this is not you, or you did not just try to sign in, choose Deny.</p>
<form method="post" action="/sso/consent" class="actions">
<input type="hidden" name="consent_token" value="${escapeHtml(page.token)}">
<button type="submit" name="decision" value="approve" class="primary">Approve</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>
<p class="ref">Request ID <code>${escapeHtml(page.requestId)}</code></p>
</main>
</body>
</html>
`;
}

/** The only script Gatehouse serves: it submits the auto-posting form. Allowed by its hash in the CSP. */
const AUTO_POST_SCRIPT = 'document.forms[0].submit();';
export const AUTO_POST_SCRIPT_HASH = `sha256-${createHash('sha256').update(AUTO_POST_SCRIPT).digest('base64')}`;

/**
 * A page that posts a form to the identity provider (SAML HTTP-POST binding). The script submits it at once;
 * without JavaScript the user presses Continue.
 */
export function renderAutoPostPage(action: string, fields: Record<string, string>): string {
  const inputs = Object.entries(fields)
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Continuing to your identity provider · Gatehouse</title>
<style>${STYLE}
  button { font: inherit; padding: .6rem 1.2rem; border-radius: 8px; border: 1px solid #2d5be3; background: #2d5be3; color: #fff; cursor: pointer; }
</style>
</head>
<body>
<main>
<h1>Continuing to your identity provider</h1>
<form method="post" action="${escapeHtml(action)}">
${inputs}
<p>If nothing happens, continue by hand.</p>
<button type="submit">Continue</button>
</form>
</main>
<script>${AUTO_POST_SCRIPT}</script>
</body>
</html>
`;
}
