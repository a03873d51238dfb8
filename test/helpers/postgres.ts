import assert from 'node:assert/strict';
import { it } from 'node:test';
import pg from 'pg';

/**
 * The PostgreSQL server the tests use: GATEHOUSE_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test.
 * Suites that need it ask `postgresUnavailable()` first: without a reachable server they are skipped with
 * instructions, except in CI (CI=true), where that is a failure.
 */

export const POSTGRES_URL =
  process.env.GATEHOUSE_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/test';

const HOW_TO_START =
  'start PostgreSQL (e.g. `apt-get install postgresql && pg_ctlcluster 15 main start`, trust auth for 127.0.0.1, ' +
  '`createdb -U postgres test`) or point GATEHOUSE_TEST_POSTGRES_URL at one';

/** The URL for messages, without its password. */
function redacted(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.href;
  } catch {
    return 'GATEHOUSE_TEST_POSTGRES_URL';
  }
}

let probe: Promise<string | null> | undefined;

/**
 * Null when PostgreSQL answers; otherwise why not, having registered a test named `suite` that fails in CI and
 * is skipped elsewhere. Callers register their PostgreSQL tests only when it returns null.
 */
export async function postgresUnavailable(suite: string): Promise<string | null> {
  probe ??= (async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return null;
    } catch (err) {
      return (err as Error).message || String(err);
    } finally {
      await client.end().catch(() => {});
    }
  })();
  const reason = await probe;
  if (reason === null) return null;
  const message = `PostgreSQL is unreachable at ${redacted(POSTGRES_URL)} (${reason}): ${HOW_TO_START}`;
  if (process.env.CI === 'true') it(`${suite} (CI requires PostgreSQL)`, () => assert.fail(message));
  else it(suite, { skip: message }, () => {});
  return message;
}
