/**
 * Parses application/x-www-form-urlencoded text (a query string, or a form body) once, at the edge.
 * Keeps every occurrence so that repeated parameters can be rejected, and flags malformed percent-encoding
 * instead of silently replacing it.
 */
export interface ParsedQuery {
  /** Every value of every parameter, in order of appearance. */
  values: Map<string, string[]>;
  /** Names whose name or value had invalid percent-encoding. */
  malformed: Set<string>;
}

function decode(component: string): string | null {
  try {
    return decodeURIComponent(component.replace(/\+/g, ' '));
  } catch {
    return null;
  }
}

export function parseQuery(raw: string): ParsedQuery {
  const values = new Map<string, string[]>();
  const malformed = new Set<string>();
  if (raw.length === 0) return { values, malformed };
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const rawName = eq === -1 ? pair : pair.slice(0, eq);
    const rawValue = eq === -1 ? '' : pair.slice(eq + 1);
    const name = decode(rawName);
    if (name === null) {
      malformed.add(rawName);
      continue;
    }
    const value = decode(rawValue);
    if (value === null) malformed.add(name);
    const list = values.get(name);
    if (list) list.push(value ?? '');
    else values.set(name, [value ?? '']);
  }
  return { values, malformed };
}
