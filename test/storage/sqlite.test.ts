import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { runStoreConformance } from '../../src/storage/conformance/suite.ts';
import { SqliteStore } from '../../src/storage/sqlite/index.ts';

runStoreConformance('SQLite in memory', async () => new SqliteStore(':memory:'));

describe('SQLite file', () => {
  let dir = '';
  let n = 0;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-store-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  // Each test gets its own database file (in a subdirectory, which the store creates), so it starts empty.
  runStoreConformance('SQLite file', async () => new SqliteStore(join(dir, `db-${++n}`, 'gatehouse.db')));
});
