import { getPublicSuffix } from 'tldts';

/**
 * Redirect URI allowlist rules.
 *
 * Matching is a simple string comparison (RFC 9700 §4.1.3, RFC 3986 §6.2.1): no case folding, no percent
 * decoding, no path normalisation, no default-port equivalence. The only exceptions are WorkOS's documented
 * wildcards (design/workos-api.md §6.1):
 * - one `*` in the left-most host label, optionally with a prefix and suffix (`https://pr-*-app.example.com/cb`),
 *   matching exactly one label of `[A-Za-z0-9_-]` (never a dot); https only; not directly under a public
 *   suffix (`*.ngrok-free.app`, `*.co.uk` are refused); never the default redirect URI;
 * - `*` as the port, only on loopback hosts (`http://localhost:*` followed by a path), matching a port number.
 *
 * We are stricter than WorkOS in one place: plain `http` is accepted only for loopback hosts (RFC 9700 §2.6,
 * RFC 8252 §7.3), because a self-hosted broker has no separate "staging" environment.
 */

const MAX_LENGTH = 2048;
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
const PATTERN = /^(https?):\/\/([^/?#:@\\[\]]+|\[[0-9a-fA-F:.]+\])(?::(\d{1,5}|\*))?(\/[^?#]*)?(\?[^#]*)?$/;
const HOST_LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const WILDCARD_LABEL = /^([a-z0-9-]*)\*([a-z0-9-]*)$/;
/** 1–65535 without leading zeros, as a regular expression source. */
const PORT_NUMBER = '6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}';

export interface RedirectUriRule {
  uri: string;
  /** Present for wildcard entries: the anchored matcher for the whole URI. */
  matcher: RegExp | null;
}

export type RedirectUriCheck = { ok: true; rule: RedirectUriRule } | { ok: false; reason: string };

function isLoopback(host: string): boolean {
  return LOOPBACK_HOSTS.has(host) || /^127(\.\d{1,3}){3}$/.test(host);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/**
 * Validates a URI for the allowlist and compiles its matcher.
 * Reasons are written for the developer who sent the URI to the management API.
 */
export function parseRedirectUri(uri: string): RedirectUriCheck {
  if (uri.length === 0) return { ok: false, reason: 'must not be empty' };
  if (uri.length > MAX_LENGTH) return { ok: false, reason: `must be at most ${MAX_LENGTH} characters` };
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point.
  if (/[\s\u0000-\u001f\u007f\\]/.test(uri)) {
    return { ok: false, reason: 'must not contain whitespace, control characters or backslashes' };
  }
  // A URI is ASCII (RFC 3986); anything else could not even be sent in the Location header of a redirect.
  if (/[^\x20-\x7e]/.test(uri)) {
    return { ok: false, reason: 'must contain only ASCII characters; percent-encode anything else' };
  }
  if (uri.includes('#')) return { ok: false, reason: 'must not contain a fragment (RFC 6749 §3.1.2)' };
  const m = PATTERN.exec(uri);
  if (!m) {
    return {
      ok: false,
      reason:
        'must be an absolute http(s) URL without user information, e.g. https://app.example.com/callback',
    };
  }
  const [, scheme, host = '', port, path = '', query = ''] = m;
  if (host !== host.toLowerCase()) return { ok: false, reason: 'the host must be lower-case' };
  if (host.endsWith('.')) return { ok: false, reason: 'the host must not end with a dot' };
  if (host.includes('%')) return { ok: false, reason: 'the host must not be percent-encoded' };
  if (/(^|\/)\.\.?(\/|$)/.test(path))
    return { ok: false, reason: 'the path must not contain "." or ".." segments' };
  if (
    port !== undefined &&
    port !== '*' &&
    (Number(port) < 1 || Number(port) > 65535 || port.startsWith('0'))
  ) {
    return { ok: false, reason: 'the port must be a number from 1 to 65535' };
  }

  const hostWildcard = host.includes('*');
  const portWildcard = port === '*';
  const bareHost = host.replace('*', 'x');
  const loopback = isLoopback(bareHost);

  if (scheme === 'http' && !loopback) {
    return { ok: false, reason: 'plain http is allowed only for localhost, 127.0.0.1 and [::1]; use https' };
  }
  if (portWildcard && !loopback)
    return { ok: false, reason: 'a wildcard port is allowed only on loopback hosts' };
  if (`${path}${query}`.includes('*'))
    return { ok: false, reason: 'a wildcard is allowed only in the host or port' };

  let hostPattern = escapeRegExp(host);
  if (hostWildcard) {
    if (host.split('*').length > 2) return { ok: false, reason: 'at most one wildcard is allowed' };
    if (scheme !== 'https') return { ok: false, reason: 'a wildcard host requires https' };
    const labels = host.split('.');
    const [first = '', ...rest] = labels;
    const w = WILDCARD_LABEL.exec(first);
    if (!w) return { ok: false, reason: 'the wildcard must be in the left-most label of the host' };
    const parent = rest.join('.');
    // A numeric last label makes the host an IPv4 address to browsers (WHATWG URL), not a domain.
    if (rest.length < 2 || !rest.every((l) => HOST_LABEL.test(l)) || /^\d+$/.test(rest.at(-1) ?? '')) {
      return { ok: false, reason: 'a wildcard needs a registrable domain after it, e.g. *.example.com' };
    }
    if (getPublicSuffix(parent, { allowPrivateDomains: true }) === parent) {
      return { ok: false, reason: `a wildcard cannot sit directly under the public suffix "${parent}"` };
    }
    hostPattern = `${escapeRegExp(w[1] ?? '')}[A-Za-z0-9_-]+${escapeRegExp(w[2] ?? '')}\\.${escapeRegExp(parent)}`;
  } else if (!host.startsWith('[') && !host.split('.').every((l) => HOST_LABEL.test(l))) {
    return { ok: false, reason: 'the host must be a valid DNS name or IP address' };
  }

  if (!hostWildcard && !portWildcard) return { ok: true, rule: { uri, matcher: null } };
  // A wildcard port matches a port number, 1 to 65535: `:99999` is no port, and its Location no URL (fuzz finding).
  const portPattern = portWildcard ? `:(?:${PORT_NUMBER})` : port !== undefined ? `:${port}` : '';
  const matcher = new RegExp(`^${scheme}://${hostPattern}${portPattern}${escapeRegExp(path + query)}$`);
  return { ok: true, rule: { uri, matcher } };
}

/** Whether the entry contains a wildcard (wildcard entries cannot be the default). */
export function isWildcard(uri: string): boolean {
  return uri.includes('*');
}

/**
 * Finds the allowlist entry that `candidate` matches, or null. `rules` come from `parseRedirectUri`.
 * The candidate is matched as the raw string the app sent.
 */
export function matchRedirectUri(
  candidate: string,
  rules: readonly RedirectUriRule[],
): RedirectUriRule | null {
  if (candidate.length > MAX_LENGTH) return null;
  for (const rule of rules) {
    if (rule.matcher ? rule.matcher.test(candidate) : rule.uri === candidate) return rule;
  }
  return null;
}
