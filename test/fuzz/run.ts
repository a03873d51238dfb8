import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `npm run fuzz`: the long fuzz run (issue 15). Every fuzz file of test/fuzz/ for its share of FUZZ_SECONDS
 * (default 300), one after the other, with one seed: printed first, FUZZ_SEED=<seed> replays the run. A failure
 * is shrunk by fast-check and saved under test/fuzz/regressions/, which the short run of `npm test` replays first.
 * At the end, a table of the requests each endpoint took. FUZZ_FILES=sso,pages runs only those files.
 */

const dir = fileURLToPath(new URL('.', import.meta.url));
const seconds = Number(process.env.FUZZ_SECONDS ?? 300);
if (!Number.isFinite(seconds) || seconds <= 0) throw new Error('FUZZ_SECONDS must be a positive number');
const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : randomInt(2 ** 31);
// The oracle's own tests are not a fuzz run.
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.test.ts') && f !== 'oracle.test.ts')
  // FUZZ_FILES=sso,management runs only the files whose names start with one of these.
  .filter((f) => !process.env.FUZZ_FILES || process.env.FUZZ_FILES.split(',').some((p) => f.startsWith(p)))
  .sort()
  .map((f) => join(dir, f));
const perFile = seconds / files.length;
const stats = join(mkdtempSync(join(tmpdir(), 'gatehouse-fuzz-')), 'stats.jsonl');

console.log(
  `fuzz: seed ${seed} (FUZZ_SEED=${seed} replays this run), ${seconds} s over ${files.length} files (${perFile.toFixed(0)} s each)`,
);
const started = Date.now();
const run = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=1', `--test-timeout=${Math.round((perFile + 300) * 1000)}`, ...files],
  {
    stdio: 'inherit',
    env: {
      ...process.env,
      FUZZ_LONG: '1',
      FUZZ_SEED: String(seed),
      FUZZ_FILE_SECONDS: String(perFile),
      FUZZ_STATS: stats,
    },
  },
);

const lines = existsSync(stats)
  ? readFileSync(stats, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { name: string; requests: number })
  : [];
console.log(`\nfuzz: seed ${seed}, ${((Date.now() - started) / 1000).toFixed(0)} s`);
console.log('| endpoint | requests |\n| --- | ---: |');
for (const l of lines) console.log(`| ${l.name} | ${l.requests} |`);
if (run.status !== 0)
  console.log(`\nfuzz: failed (seed ${seed}); new regression cases are under test/fuzz/regressions/`);
process.exit(run.status ?? 1);
