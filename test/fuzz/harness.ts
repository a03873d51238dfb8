import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { pageTargets, type RedirectRules, redirectViolation } from './oracle.ts';

/**
 * The fuzz suite's harness: run modes, regression cases, the properties every response is held to, and the CPU
 * bound.
 *
 * - Short run (`npm test`): a fixed seed and a fixed number of requests per endpoint, after the saved regression
 *   cases of that endpoint (test/fuzz/regressions/<name>.json), which always run first.
 * - Long run (`npm run fuzz`, test/fuzz/run.ts): FUZZ_LONG=1, the seed in FUZZ_SEED, each endpoint for its share
 *   of FUZZ_FILE_SECONDS; a failure is shrunk by fast-check and saved as a regression case.
 */

export const LONG = process.env.FUZZ_LONG === '1';
export const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 150715;
const FILE_SECONDS = Number(process.env.FUZZ_FILE_SECONDS ?? 60);
/**
 * A generous bound on the CPU of one request, plus an allowance for its size: reading a body is linear work that
 * cannot be avoided (V8 parses a 1 MB JSON text in 15–40 ms, up to three times that on the shared machine under
 * load), while a cost that grows faster than the input passes
 * the allowance by far. Each over-bound request gets two more tries; the least counts.
 */
export const CPU_BOUND_MS = Number(process.env.FUZZ_CPU_BOUND_MS ?? 50);
const CPU_PER_MB_MS = 200;
const TRIES = 3;

const REGRESSIONS = new URL('./regressions/', import.meta.url);

/** One HTTP request, as plain JSON so that a failing one can be saved and replayed. */
export interface FuzzRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export interface Sent {
  status: number;
  headers: Record<string, unknown>;
  body: string;
  cpuMs: number;
}

/** What every response is checked against. */
export interface Expectations {
  rules: RedirectRules;
  /** Strings that must never appear in a response: secrets, and the upstream text planted by the test. */
  canaries: readonly string[];
}

/** Outcomes of the endpoint being fuzzed: status, and the error code when the answer names one. */
let outcomes = new Map<string, number>();

function outcomeOf(res: Sent): string {
  const code =
    /"(?:error|code)":"([a-z_]+)"/.exec(res.body)?.[1] ??
    /Error <code>([a-z_]+)<\/code>/.exec(res.body)?.[1] ??
    /[?&]error=([a-z_]+)/.exec(String(res.headers.location ?? ''))?.[1] ??
    (res.headers.location ? 'redirect' : '');
  return `${res.status}${code ? ` ${code}` : ''}`;
}

export async function send(app: FastifyInstance, req: FuzzRequest): Promise<Sent> {
  const started = process.cpuUsage();
  const res = await app.inject({
    method: req.method as 'GET',
    url: req.url,
    headers: req.headers,
    ...(req.body === undefined ? {} : { payload: req.body }),
  });
  const used = process.cpuUsage(started);
  return {
    status: res.statusCode,
    headers: res.headers as Record<string, unknown>,
    body: res.body,
    cpuMs: (used.user + used.system) / 1000,
  };
}

/** The per-response properties: no 5xx, no redirect the oracle refuses, no canary. Throws with the reason. */
export function checkResponse(res: Sent, expect: Expectations): void {
  const where = `${res.status} ${res.body.slice(0, 400)}`;
  if (res.status >= 500) throw new Error(`5xx: ${where}`);
  const headerText = JSON.stringify(res.headers);
  for (const canary of expect.canaries) {
    if (res.body.includes(canary)) throw new Error(`canary ${canary} in the body: ${where}`);
    if (headerText.includes(canary)) throw new Error(`canary ${canary} in a header: ${headerText}`);
  }
  const targets: string[] = [];
  const location = res.headers.location;
  if (typeof location === 'string') targets.push(location);
  if (String(res.headers['content-type'] ?? '').includes('html')) targets.push(...pageTargets(res.body));
  for (const target of targets) {
    const violation = redirectViolation(target, expect.rules);
    if (violation) throw new Error(`${violation} (status ${res.status})`);
  }
}

/**
 * Sends the request `build` makes, checks the response, and holds its CPU to the bound: over the bound, `build`
 * makes the same request again (with fresh one-time values: a new state, a new token) up to TRIES times and the
 * least counts, so that a garbage collection or a first-time compilation is not taken for a slow path.
 */
export async function exercise(
  app: FastifyInstance,
  build: () => Promise<FuzzRequest> | FuzzRequest,
  expect: Expectations,
  extra?: (res: Sent) => void,
): Promise<Sent> {
  let first: Sent | undefined;
  let least = Number.POSITIVE_INFINITY;
  let bound = CPU_BOUND_MS;
  let size = 0;
  for (let i = 0; i < TRIES; i++) {
    const req = await build();
    size = Buffer.byteLength(req.url) + Buffer.byteLength(req.body ?? '');
    const res = await send(app, req);
    if (!first) {
      first = res;
      const outcome = outcomeOf(res);
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      checkResponse(res, expect);
      extra?.(res);
    }
    least = Math.min(least, res.cpuMs);
    bound = CPU_BOUND_MS + (CPU_PER_MB_MS * size) / 1e6;
    if (least <= bound) return first;
  }
  throw new Error(
    `CPU ${least.toFixed(1)} ms per request, above the ${bound.toFixed(1)} ms bound (${size} bytes)`,
  );
}

function regressionPath(name: string): URL {
  return new URL(`${name}.json`, REGRESSIONS);
}

interface Regression<T> {
  /** The shrunk input that failed. */
  input: T;
  seed: number;
  found: string;
  /** What failed, and the fix or regression test it led to. */
  note: string;
}

export function loadRegressions<T>(name: string): Regression<T>[] {
  const path = regressionPath(name);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Regression<T>[]) : [];
}

function saveRegression<T>(name: string, input: T, seed: number, error: string): void {
  const list = loadRegressions<T>(name);
  list.push({ input, seed, found: new Date().toISOString().slice(0, 10), note: error.slice(0, 300) });
  writeFileSync(regressionPath(name), `${JSON.stringify(list, null, 2)}\n`);
}

/**
 * Fuzzes one endpoint: the saved regression cases first, then `runs` generated inputs (short run) or as many as
 * fit its share of the time (long run). Returns how many inputs ran.
 */
export async function fuzz<T>(
  name: string,
  arbitrary: fc.Arbitrary<T>,
  check: (input: T) => Promise<void>,
  options: { runs: number; share: number },
): Promise<number> {
  let count = 0;
  outcomes = new Map();
  const property = fc.asyncProperty(arbitrary, async (input) => {
    count++;
    await check(input);
  });
  const examples = loadRegressions<T>(name).map((r) => [r.input] as [T]);
  const details = await fc.check(property, {
    seed: SEED,
    examples,
    ...(LONG
      ? {
          numRuns: Number.MAX_SAFE_INTEGER,
          interruptAfterTimeLimit: Math.max(1000, FILE_SECONDS * 1000 * options.share),
          markInterruptAsFailure: false,
        }
      : { numRuns: runs(options.runs) }),
  });
  const top = [...outcomes].sort((a, b) => b[1] - a[1]);
  const line = { name, requests: count, seed: SEED, long: LONG, outcomes: Object.fromEntries(top) };
  if (process.env.FUZZ_VERBOSE === '1') console.log(JSON.stringify(line));
  if (process.env.FUZZ_STATS) appendFileSync(process.env.FUZZ_STATS, `${JSON.stringify(line)}\n`);
  if (details.failed) {
    const input = details.counterexample?.[0];
    const message = details.errorInstance instanceof Error ? details.errorInstance.message : 'interrupted';
    if ((LONG || process.env.FUZZ_SAVE === '1') && input !== undefined) {
      saveRegression(name, JSON.parse(JSON.stringify(input)) as T, details.seed, message);
    }
    const shown = JSON.stringify(input) ?? '';
    throw new Error(
      `${name}: ${message}\nafter ${details.numRuns} runs, shrunk ${details.numShrinks} times (seed ${details.seed}, path ${details.counterexamplePath})\ninput: ${shown.length > 3000 ? `${shown.slice(0, 3000)}… (${shown.length} characters)` : shown}`,
    );
  }
  return count;
}

function runs(n: number): number {
  const scale = Number(process.env.FUZZ_SCALE ?? 1);
  return Math.max(1, Math.round(n * scale));
}

/** A string of `n` copies of `unit`: oversize values without asking the generator for megabytes. */
export const oversize = fc
  .tuple(
    fc.constantFrom('a', '%', 'é', '\u202e', '%41', '&', '='),
    fc.constantFrom(300, 2049, 4097, 20_000, 70_000),
  )
  .map(([unit, n]) => unit.repeat(Math.ceil(n / unit.length)));

/** Unicode that looks like something else, or turns around: NFC/NFD, RTL, zero-width, full-width. */
export const trickyUnicode = fc.constantFrom(
  'caf\u00e9',
  'cafe\u0301',
  '\u202egnp.exe',
  'a\u200bb',
  '\ufeff',
  '\uff48\uff54\uff54\uff50\uff53\uff1a\uff0f\uff0f',
  '\u2024',
  '\ud800',
  '\u0000',
  'ǅ',
  '\u{1f600}',
  'İ',
);

/** A value to put where a string is expected: ordinary, tricky, binary or oversize. */
export const hostileString = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 2, arbitrary: trickyUnicode },
  { weight: 1, arbitrary: oversize },
);

/** Raw (already encoded) query text: broken percent-encoding, double encoding, `+`, encoded controls. */
export const rawEncoded = fc.oneof(
  fc.constantFrom(
    '%',
    '%zz',
    '%C3%28',
    '%FF',
    '%ED%A0%80',
    '%C0%AF',
    '%252F',
    '%2525',
    '%00',
    '+',
    '%2B',
    '%E2%80%AE',
    '%0D%0ALocation:%20https://evil.example/',
    '%26state%3Dx',
    '%3D',
  ),
  fc.string({ maxLength: 12 }).map((s) => encodeURIComponent(encodeURIComponent(s))),
);
