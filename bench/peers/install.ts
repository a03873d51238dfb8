/**
 * BoxyHQ SAML Jackson, installed on demand for the side-by-side benchmark (`npm run bench`), never a project
 * dependency: `npm install --prefix bench/peers/jackson @boxyhq/saml-jackson@<JACKSON_VERSION>` from the npm
 * registry, into a git-ignored folder. `npm run bench:peers` installs it by hand; the benchmark calls
 * `ensureJackson()` and installs it when it is missing or another version.
 *
 * Jackson depends on native database drivers (better-sqlite3 among them). npm 11 does not run dependencies'
 * install scripts unless they are allowed, so nothing native is built; the benchmark uses Jackson's `mem` engine,
 * which needs none of them.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The Jackson release measured (pinned: a new one is a new measurement). */
export const JACKSON_VERSION = '26.2.0';
export const JACKSON_PACKAGE = '@boxyhq/saml-jackson';
/** bench/peers/jackson: the install prefix (git-ignored). */
export const JACKSON_DIR = join(dirname(fileURLToPath(import.meta.url)), 'jackson');

/** The installed version, or null. */
export function installedJacksonVersion(): string | null {
  const manifest = join(JACKSON_DIR, 'node_modules', JACKSON_PACKAGE, 'package.json');
  if (!existsSync(manifest)) return null;
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version?: string }).version ?? null;
}

/** `require` resolving from the install prefix (Jackson is CommonJS). */
export function jacksonRequire(): NodeJS.Require {
  return createRequire(join(JACKSON_DIR, 'package.json'));
}

/**
 * Installs the pinned Jackson unless it is there; returns what happened (for the benchmark's header). Throws with
 * npm's output when the install fails.
 */
export function ensureJackson(log: (line: string) => void = () => {}): {
  version: string;
  installedNow: boolean;
  seconds: number;
} {
  const have = installedJacksonVersion();
  if (have === JACKSON_VERSION) return { version: have, installedNow: false, seconds: 0 };
  log(
    `Installing ${JACKSON_PACKAGE}@${JACKSON_VERSION} into ${JACKSON_DIR} (npm registry; about 2 minutes, once)…`,
  );
  const started = performance.now();
  try {
    execFileSync(
      'npm',
      [
        'install',
        '--prefix',
        JACKSON_DIR,
        '--save-exact',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        `${JACKSON_PACKAGE}@${JACKSON_VERSION}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
    );
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `npm install of ${JACKSON_PACKAGE}@${JACKSON_VERSION} failed: ${e.message}\n${e.stderr ?? ''}`,
    );
  }
  const version = installedJacksonVersion();
  if (version !== JACKSON_VERSION) {
    throw new Error(
      `after npm install, ${JACKSON_PACKAGE} is ${version ?? 'missing'}, not ${JACKSON_VERSION}`,
    );
  }
  return { version, installedNow: true, seconds: (performance.now() - started) / 1000 };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = ensureJackson((line) => process.stdout.write(`${line}\n`));
  process.stdout.write(
    r.installedNow
      ? `${JACKSON_PACKAGE}@${r.version} installed in ${r.seconds.toFixed(0)} s (${JACKSON_DIR})\n`
      : `${JACKSON_PACKAGE}@${r.version} already installed (${JACKSON_DIR})\n`,
  );
}
