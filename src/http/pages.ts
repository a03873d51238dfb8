/**
 * Server-rendered HTML for browser-facing outcomes (error pages now; the consent screen later). Pages load
 * nothing from third parties, cannot be framed, are never cached and send no referrer (RFC 9700 §4.2.4, §4.16).
 */

export const PAGE_HEADERS: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  pragma: 'no-cache',
  'referrer-policy': 'no-referrer',
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
};

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
