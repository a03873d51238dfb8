import { constants, createReadStream, createWriteStream } from 'node:fs';
import { access, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createBrotliDecompress } from 'node:zlib';
import { type Browser, chromium } from 'playwright-core';

/**
 * The one place the browser tests find their browser, with no manual step and no download:
 * - `GATEHOUSE_TEST_CHROMIUM=/path/to/chromium` uses that binary (CI sets Debian's, so it never falls back silently);
 * - `GATEHOUSE_TEST_CHROMIUM=bundled` uses the Chromium inside the `@sparticuz/chromium` dev dependency;
 * - unset: Debian's `/usr/bin/chromium` when it is there, else the bundled one.
 *
 * The bundled binary ships brotli-compressed in the npm tarball; it is decompressed once (about 3 s, 200 MB) into
 * `node_modules/.cache/`, under its package version, written to a temporary name and renamed, so a half-written file
 * is never run. Not the package's own `executablePath()`: that writes to and runs `/tmp/chromium`, a fixed path in a
 * shared directory that another user could plant and that an upgraded package would not replace.
 */

export const DEBIAN_CHROMIUM = '/usr/bin/chromium';
export const ENV_VAR = 'GATEHOUSE_TEST_CHROMIUM';

/**
 * Flags for every launch, on top of Playwright's own (which already include --no-sandbox,
 * --disable-background-networking, --disable-component-update, --no-first-run). Nothing leaves loopback. Not the
 * bundled package's recommended `args`: they are for AWS Lambda and turn off what the tests check
 * (--disable-web-security, --disable-site-isolation-trials, --allow-running-insecure-content).
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export type ChromiumSource = 'path' | 'debian' | 'bundled';

/** Which browser to use: a pure decision from the environment and whether Debian's Chromium is installed. */
export function chooseChromium(
  env: Record<string, string | undefined>,
  debianInstalled: boolean,
): { source: ChromiumSource; path?: string } {
  const forced = env[ENV_VAR]?.trim();
  if (forced === 'bundled') return { source: 'bundled' };
  if (forced) {
    if (!isAbsolute(forced))
      throw new Error(
        `${ENV_VAR} must be "bundled" or an absolute path to a Chromium binary, not "${forced}"`,
      );
    return { source: 'path', path: forced };
  }
  return debianInstalled ? { source: 'debian', path: DEBIAN_CHROMIUM } : { source: 'bundled' };
}

async function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/** The bundled Chromium, decompressed into node_modules/.cache on first use; returns its path. */
export async function bundledChromium(): Promise<string> {
  if (process.platform !== 'linux' || process.arch !== 'x64')
    throw new Error(
      `No Chromium: ${DEBIAN_CHROMIUM} is not installed and the bundled one (@sparticuz/chromium) is for linux-x64 only; set ${ENV_VAR} to the path of a Chromium or Chrome binary`,
    );
  let entry: string;
  try {
    entry = fileURLToPath(import.meta.resolve('@sparticuz/chromium'));
  } catch (err) {
    throw new Error(
      `No Chromium: ${DEBIAN_CHROMIUM} is not installed and the dev dependency @sparticuz/chromium is missing (run npm install).\n${String(err)}`,
    );
  }
  const pkg = join(dirname(entry), '..');
  const { version } = JSON.parse(await readFile(join(pkg, 'package.json'), 'utf8')) as { version: string };
  const dir = fileURLToPath(
    new URL(`../../node_modules/.cache/gatehouse-chromium/${version}`, import.meta.url),
  );
  const binary = join(dir, 'chromium');
  if (await isExecutable(binary)) return binary;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const partial = `${binary}.${process.pid}.partial`;
  try {
    await pipeline(
      createReadStream(join(pkg, 'bin', 'chromium.br')),
      createBrotliDecompress(),
      createWriteStream(partial, { mode: 0o700 }),
    );
    await rename(partial, binary);
  } finally {
    await rm(partial, { force: true });
  }
  return binary;
}

/** The path of the Chromium the browser tests use, and where it came from. */
export async function findChromium(
  env: Record<string, string | undefined> = process.env,
): Promise<{ source: ChromiumSource; path: string }> {
  const choice = chooseChromium(env, await isExecutable(DEBIAN_CHROMIUM));
  if (choice.path) return { source: choice.source, path: choice.path };
  return { source: 'bundled', path: await bundledChromium() };
}

/** Launches the Chromium `findChromium` picks; Playwright gives it a fresh temporary profile, removed on close. */
export async function launchChromium(
  env: Record<string, string | undefined> = process.env,
): Promise<Browser> {
  const { source, path } = await findChromium(env);
  try {
    return await chromium.launch({
      executablePath: path,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: 30_000,
    });
  } catch (err) {
    const hint =
      source === 'bundled'
        ? "The bundled Chromium (@sparticuz/chromium) needs libnss3 (apt-get install -y libnss3), or install Debian's Chromium: apt-get install -y chromium"
        : `Check that ${path} is a Chromium binary, or unset ${ENV_VAR} to use Debian's or the bundled one`;
    throw new Error(`Chromium (${source}) could not start from ${path}. ${hint}\n${String(err)}`);
  }
}
