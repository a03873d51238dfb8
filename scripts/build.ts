/**
 * `npm run build` (and `npm start`, through `--if-stale`): `src/` → `dist/`, the JavaScript the server runs.
 *
 * The emit is type erasure only (TypeScript's own compiler, `tsconfig.build.json`: `erasableSyntaxOnly`, target
 * ESNext, `.ts` import specifiers rewritten to `.js`), plus a copy of every other file under `src/` (the pages'
 * templates, CSS and script), so that `dist/` is `src/` without types. Why a build at all when Node 24 runs `.ts`
 * directly: Node's type stripper stays resident in the server process, about 25 MB of its memory (bench/README.md,
 * "Memory"); tests, the CLI and the benchmarks' own scripts still run `src/` directly.
 *
 * `--if-stale` builds only when a file under `src/` (or the build configuration) is newer than the last build, so
 * `npm start` always runs the current source and costs nothing when it has not changed.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const src = join(root, 'src');
const dist = join(root, 'dist');
const stamp = join(dist, '.built');
const config = join(root, 'tsconfig.build.json');

/** The newest modification time of any file under `dir`. */
function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) latest = Math.max(latest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return latest;
}

function stale(): boolean {
  if (!existsSync(stamp)) return true;
  const built = statSync(stamp).mtimeMs;
  return newest(src) > built || statSync(config).mtimeMs > built;
}

/**
 * The Node flags the server runs with (`npm start`; the benchmarks run it the same way): a young generation of at
 * most 8 MB per semi-space. V8 sizes it from the machine's memory (32 MB here, so up to ~100 MB of new space under
 * load, all of it resident); 8 MB keeps the server's memory flat under load (bench/README.md, "Memory").
 */
export const SERVER_NODE_ARGS = ['--max-semi-space-size=8'];

/**
 * The environment the server runs with: at most two glibc malloc arenas. With one per thread (glibc's default,
 * up to 8 per core), memory freed by SQLite, OpenSSL and Buffers on libuv's threads stays in each thread's arena:
 * about 10 MB more after a minute of load (bench/README.md, "Memory"). Other C libraries ignore it.
 */
export const SERVER_ENV: Record<string, string> = { MALLOC_ARENA_MAX: '2' };

/** Builds `dist/` from `src/` (only when stale, with `ifStale`); returns whether it built. */
export function build(options: { ifStale?: boolean; quiet?: boolean } = {}): boolean {
  if (options.ifStale && !stale()) return false;
  const started = Date.now();
  rmSync(dist, { recursive: true, force: true });
  // Type errors do not stop the build (checking types is `npm test`'s job, and `node src/main.ts` would run too):
  // tsc still writes every file and exits with 2. Any other failure (1: nothing written) does.
  const tsc = spawnSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', config], {
    cwd: root,
    stdio: 'inherit',
  });
  if (tsc.status === 2) console.error('Gatehouse: type errors above (npm run typecheck); built anyway.');
  else if (tsc.status !== 0)
    throw new Error(`tsc -p tsconfig.build.json failed (${tsc.status ?? tsc.signal})`);
  cpSync(src, dist, {
    recursive: true,
    filter: (from) => statSync(from).isDirectory() || !from.endsWith('.ts'),
  });
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
  if (!options.quiet) console.error(`Gatehouse: built dist/ from src/ in ${Date.now() - started} ms`);
  return true;
}

/** The server's entry point in `dist/`. */
export const SERVER_ENTRY = join(dist, 'main.js');

if (import.meta.main) {
  try {
    build({ ifStale: process.argv.includes('--if-stale') });
  } catch {
    console.error('Gatehouse: the build (tsc -p tsconfig.build.json) failed; see above.');
    process.exit(1);
  }
}
