/**
 * The fuzz suite's own judge of where a response may send a browser. It is written from the documented rules
 * (docs/management-api.md "Redirect URIs") and never calls Gatehouse's matcher (src/lib/redirect-uri.ts): a bug
 * shared by the two would otherwise go unseen.
 *
 * A target (a Location header, a form action, a meta refresh) is allowed when it is on Gatehouse's own origin, on
 * an identity provider's origin the test configured, or when it is an app redirect: an allowlist entry matched by
 * the documented rules, followed by nothing or by the parameters Gatehouse adds (`?…`, or `&…` when the entry has
 * a query). Every accepted app redirect is also parsed with the WHATWG URL parser (what browsers do) and must
 * land on the entry's scheme, host, port and path: a string that only looks right is refused.
 */

export interface RedirectRules {
  /** Gatehouse's public URL: its own pages and redirects. */
  gatehouse: string;
  /** Origins of identity providers that sign-ins may be sent to. */
  upstreamOrigins: readonly string[];
  /** The allowlist entries as configured (exact, or with one documented wildcard). */
  allowlist: readonly string[];
}

const LABEL_CHARS = /^[A-Za-z0-9_-]+$/;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** The part after the entry: nothing, or the separator Gatehouse uses followed by anything. */
function restIsParameters(entry: string, rest: string): boolean {
  if (rest === '') return true;
  return rest.startsWith(entry.includes('?') ? '&' : '?');
}

/** Reads a port number as a browser would accept it: 1–65535, no sign, no leading zero. */
function isPortNumber(digits: string): boolean {
  if (!/^[1-9][0-9]{0,4}$/.test(digits)) return false;
  return Number(digits) <= 65535;
}

function parsed(target: string): URL | null {
  try {
    return new URL(target);
  } catch {
    return null;
  }
}

/** Exact entries: the same characters, then Gatehouse's parameters. */
function matchesExact(entry: string, target: string): boolean {
  if (!target.startsWith(entry) || !restIsParameters(entry, target.slice(entry.length))) return false;
  const e = parsed(entry);
  const t = parsed(target);
  return (
    e !== null &&
    t !== null &&
    t.protocol === e.protocol &&
    t.hostname === e.hostname &&
    t.port === e.port &&
    t.pathname === e.pathname &&
    t.username === '' &&
    t.password === ''
  );
}

/** Splits `scheme://authority` from the path and query, at the first `/` or `?` after the scheme. */
function splitEntry(entry: string): { scheme: string; authority: string; tail: string } {
  const schemeEnd = entry.indexOf('://');
  const scheme = entry.slice(0, schemeEnd);
  const afterScheme = entry.slice(schemeEnd + 3);
  const cut = afterScheme.search(/[/?]/);
  return {
    scheme,
    authority: cut === -1 ? afterScheme : afterScheme.slice(0, cut),
    tail: cut === -1 ? '' : afterScheme.slice(cut),
  };
}

/**
 * `https://pre*suf.parent[:port]/path?query`: `*` stands for exactly one label of letters, digits, `_` and `-`
 * (never a dot), https only.
 */
function matchesHostWildcard(entry: string, target: string): boolean {
  const { scheme, authority, tail } = splitEntry(entry);
  if (scheme !== 'https') return false;
  const [host = '', port] = authority.split(':');
  const firstDot = host.indexOf('.');
  const label = host.slice(0, firstDot);
  const parent = host.slice(firstDot + 1);
  const [prefix = '', suffix = ''] = label.split('*');
  const start = `${scheme}://`;
  if (!target.startsWith(start)) return false;
  const afterScheme = target.slice(start.length);
  const dot = afterScheme.indexOf('.');
  if (dot === -1) return false;
  const got = afterScheme.slice(0, dot);
  if (!got.startsWith(prefix) || !got.endsWith(suffix) || got.length <= prefix.length + suffix.length)
    return false;
  if (!LABEL_CHARS.test(got.slice(prefix.length, got.length - suffix.length))) return false;
  const expectedRest = `.${parent}${port === undefined ? '' : `:${port}`}${tail}`;
  const rest = afterScheme.slice(dot);
  if (!rest.startsWith(expectedRest) || !restIsParameters(tail, rest.slice(expectedRest.length)))
    return false;
  const t = parsed(target);
  const e = parsed(entry.replace('*', 'x'));
  return (
    t !== null &&
    e !== null &&
    t.protocol === 'https:' &&
    t.hostname === `${got.toLowerCase()}.${parent}` &&
    t.port === e.port &&
    t.pathname === e.pathname &&
    t.username === ''
  );
}

/** `http://localhost:*` then a path: any port number, loopback hosts only. */
function matchesPortWildcard(entry: string, target: string): boolean {
  const { scheme, authority, tail } = splitEntry(entry);
  const host = authority.slice(0, authority.lastIndexOf(':'));
  if (!LOOPBACK.has(host)) return false;
  const start = `${scheme}://${host}:`;
  if (!target.startsWith(start)) return false;
  const afterColon = target.slice(start.length);
  const digits = /^[0-9]*/.exec(afterColon)?.[0] ?? '';
  if (!isPortNumber(digits)) return false;
  const rest = afterColon.slice(digits.length);
  if (!rest.startsWith(tail) || !restIsParameters(tail, rest.slice(tail.length))) return false;
  const t = parsed(target);
  const e = parsed(entry.replace(':*', ''));
  return (
    t !== null &&
    e !== null &&
    t.protocol === e.protocol &&
    t.hostname === e.hostname &&
    (t.port === digits || (t.port === '' && digits === (t.protocol === 'https:' ? '443' : '80'))) &&
    t.pathname === e.pathname &&
    t.username === ''
  );
}

/** Whether `target` is an app redirect the allowlist accepts by the documented rules. */
export function allowlisted(target: string, allowlist: readonly string[]): boolean {
  return allowlist.some((entry) => {
    const { authority } = splitEntry(entry);
    if (authority.endsWith(':*')) return matchesPortWildcard(entry, target);
    if (entry.includes('*')) return matchesHostWildcard(entry, target);
    return matchesExact(entry, target);
  });
}

/** Why `target` is not a place this response may send the browser; null when it may. */
export function redirectViolation(target: string, rules: RedirectRules): string | null {
  let url: URL;
  try {
    url = new URL(target, rules.gatehouse);
  } catch {
    return `unparseable target ${JSON.stringify(target)}`;
  }
  if (url.origin === new URL(rules.gatehouse).origin) return null;
  if (rules.upstreamOrigins.includes(url.origin)) return null;
  if (allowlisted(target, rules.allowlist)) return null;
  return `target not on the allowlist: ${JSON.stringify(target.slice(0, 300))}`;
}

const ENTITIES: Record<string, string> = { amp: '&', quot: '"', lt: '<', gt: '>', apos: "'" };

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (all, name: string) => {
    if (name[0] === '#') {
      const code =
        name[1] === 'x' || name[1] === 'X' ? Number.parseInt(name.slice(2), 16) : Number(name.slice(1));
      return Number.isFinite(code) ? String.fromCodePoint(code) : all;
    }
    return ENTITIES[name.toLowerCase()] ?? all;
  });
}

/** Every place a page sends the browser on its own or by its forms: form actions and meta refresh URLs. */
export function pageTargets(html: string): string[] {
  const out: string[] = [];
  for (const m of html.matchAll(/<form\b[^>]*?\baction\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi)) {
    out.push(decodeEntities(m[1] ?? m[2] ?? m[3] ?? ''));
  }
  for (const m of html.matchAll(/<meta\b[^>]*http-equiv\s*=\s*["']?refresh["']?[^>]*>/gi)) {
    const content = /content\s*=\s*(?:"([^"]*)"|'([^']*)')/i.exec(m[0]);
    const value = decodeEntities(content?.[1] ?? content?.[2] ?? '');
    const u = /url\s*=\s*['"]?([^'"]*)/i.exec(value);
    if (u?.[1] !== undefined) out.push(u[1].trim());
  }
  return out;
}
