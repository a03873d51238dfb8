/**
 * A strict parser of the Prometheus text exposition format (0.0.4), for the tests of `GET /metrics`. prom-client
 * writes the format but has no parser, and the npm parsers are unmaintained, so this one checks what a scraper
 * relies on and throws on anything else:
 * - every line is `# HELP`, `# TYPE`, another comment, empty, or a sample `name{label="value",…} value`;
 * - names and label names match the format's character sets; label values use only the `\\`, `\"`, `\n` escapes;
 *   values are floats as Go's ParseFloat reads them (`NaN`, `+Inf`, `-Inf` in any case: prom-client writes `Nan`);
 *   no label name twice in a sample;
 * - a family has at most one HELP and one TYPE, its TYPE comes before its samples, and its samples are contiguous;
 * - no series (name and label set) appears twice;
 * - a counter's samples end in `_total`, a histogram's are `_bucket` (with `le`), `_sum` and `_count`, its buckets
 *   are cumulative and its `+Inf` bucket equals its `_count`.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string | null;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** A value as Go's `strconv.ParseFloat` reads it (what the format specifies): NaN and Inf in any letter case. */
function parseValue(raw: string, line: string): number {
  const special = /^([+-]?)(inf|infinity|nan)$/i.exec(raw);
  if (special) {
    if (special[2]?.toLowerCase() === 'nan') {
      if (special[1]) throw new Error(`signed NaN in: ${line}`);
      return Number.NaN;
    }
    return special[1] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  }
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw)) throw new Error(`bad value "${raw}" in: ${line}`);
  return Number(raw);
}

/** Reads `{a="x",b="y"}` from `text` at `i` (just past the `{`); returns the labels and the index past `}`. */
function parseLabels(text: string, start: number, line: string): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  let i = start;
  for (;;) {
    if (text[i] === '}') return [labels, i + 1];
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`unterminated labels in: ${line}`);
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`bad label name "${name}" in: ${line}`);
    if (Object.hasOwn(labels, name)) throw new Error(`label "${name}" twice in: ${line}`);
    if (text[eq + 1] !== '"') throw new Error(`label value not quoted in: ${line}`);
    let value = '';
    let j = eq + 2;
    for (;;) {
      const c = text[j];
      if (c === undefined) throw new Error(`unterminated label value in: ${line}`);
      if (c === '"') break;
      if (c === '\\') {
        const next = text[j + 1];
        if (next === '\\' || next === '"') value += next;
        else if (next === 'n') value += '\n';
        else throw new Error(`bad escape "\\${next}" in: ${line}`);
        j += 2;
      } else {
        value += c;
        j += 1;
      }
    }
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i += 1;
    else if (text[i] !== '}') throw new Error(`expected , or } after a label in: ${line}`);
  }
}

/** The family a sample name belongs to, given the declared families. */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  const exact = families.get(name);
  if (exact && exact.type !== 'histogram' && exact.type !== 'summary') return exact;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const family = families.get(name.slice(0, -suffix.length));
    if (family && (family.type === 'histogram' || (family.type === 'summary' && suffix !== '_bucket'))) {
      return family;
    }
  }
  if (exact?.type === 'summary') return exact;
  return undefined;
}

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  const closed = new Set<string>();
  let current: Family | null = null;
  if (!text.endsWith('\n')) throw new Error('the exposition does not end with a line feed');
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!m) continue; // another comment
      const [, keyword, name = '', rest = ''] = m;
      if (!METRIC_NAME.test(name)) throw new Error(`bad metric name in: ${line}`);
      if (closed.has(name)) throw new Error(`family ${name} continues after another family: ${line}`);
      let family = families.get(name);
      if (!family) {
        if (current) closed.add(current.name);
        family = { name, type: 'untyped', help: null, samples: [] };
        families.set(name, family);
        current = family;
      }
      if (keyword === 'HELP') {
        if (family.help !== null) throw new Error(`second HELP for ${name}`);
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ''))) throw new Error(`bad escape in HELP of ${name}`);
        family.help = rest.replace(/\\(\\|n)/g, (_, c: string) => (c === 'n' ? '\n' : '\\'));
      } else {
        if (!TYPES.has(rest)) throw new Error(`unknown TYPE "${rest}" for ${name}`);
        if (family.samples.length > 0) throw new Error(`TYPE of ${name} after its samples`);
        if ((family as { typed?: boolean }).typed) throw new Error(`second TYPE for ${name}`);
        (family as { typed?: boolean }).typed = true;
        family.type = rest as Family['type'];
      }
      continue;
    }
    const nameEnd = line.search(/[{ ]/);
    if (nameEnd <= 0) throw new Error(`not a sample: ${line}`);
    const name = line.slice(0, nameEnd);
    if (!METRIC_NAME.test(name)) throw new Error(`bad metric name in: ${line}`);
    let labels: Record<string, string> = {};
    let i = nameEnd;
    if (line[i] === '{') [labels, i] = parseLabels(line, i + 1, line);
    if (line[i] !== ' ') throw new Error(`expected a space before the value in: ${line}`);
    const [rawValue = '', timestamp, extra] = line.slice(i + 1).split(' ');
    if (extra !== undefined || (timestamp !== undefined && !/^-?\d+$/.test(timestamp))) {
      throw new Error(`bad value or timestamp in: ${line}`);
    }
    const value = parseValue(rawValue, line);
    const family = familyOf(name, families);
    if (!family) throw new Error(`sample of an undeclared family: ${line}`);
    if (family !== current) throw new Error(`samples of ${family.name} are not contiguous: ${line}`);
    if (family.type === 'counter' && !name.endsWith('_total') && !name.endsWith('_created')) {
      throw new Error(`counter sample without _total: ${line}`);
    }
    if (name.endsWith('_bucket') && family.type === 'histogram' && labels.le === undefined) {
      throw new Error(`bucket without le: ${line}`);
    }
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`series twice: ${line}`);
    seen.add(key);
    family.samples.push({ name, labels, value });
  }
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

function checkHistogram(family: Family): void {
  const series = new Map<string, { buckets: [number, number][]; count?: number }>();
  const keyOf = (labels: Record<string, string>) =>
    JSON.stringify(
      Object.entries(labels)
        .filter(([k]) => k !== 'le')
        .sort(),
    );
  for (const s of family.samples) {
    const entry = series.get(keyOf(s.labels)) ?? { buckets: [] };
    series.set(keyOf(s.labels), entry);
    if (s.name.endsWith('_bucket')) entry.buckets.push([parseValue(s.labels.le ?? '', s.name), s.value]);
    else if (s.name.endsWith('_count')) entry.count = s.value;
  }
  for (const [key, { buckets, count }] of series) {
    buckets.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < buckets.length; i++) {
      if ((buckets[i] as [number, number])[1] < (buckets[i - 1] as [number, number])[1]) {
        throw new Error(`${family.name}${key}: buckets are not cumulative`);
      }
    }
    const last = buckets.at(-1);
    if (!last || last[0] !== Number.POSITIVE_INFINITY)
      throw new Error(`${family.name}${key}: no +Inf bucket`);
    if (last[1] !== count) throw new Error(`${family.name}${key}: +Inf bucket ${last[1]} != _count ${count}`);
  }
}

/** The sum of the samples named `name` whose labels include `labels` (0 when there is none). */
export function sampleValue(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number {
  let sum = 0;
  for (const family of families.values()) {
    for (const s of family.samples) {
      if (s.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
    }
  }
  return sum;
}

/** Every series (sample name and label set) as one string, for comparing two scrapes. */
export function seriesKeys(families: Map<string, Family>, prefix = ''): Set<string> {
  const keys = new Set<string>();
  for (const family of families.values()) {
    for (const s of family.samples) {
      if (s.name.startsWith(prefix)) keys.add(`${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`);
    }
  }
  return keys;
}
