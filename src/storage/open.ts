import type { DatabaseConfig } from '../config/schema.ts';
import { PostgresStore } from './postgres/index.ts';
import { SqliteStore } from './sqlite/index.ts';
import type { Store } from './store.ts';

/** Opens the configured backend. The only place that knows which backends exist. */
export function openStore(database: DatabaseConfig): Store {
  switch (database.kind) {
    case 'sqlite':
      return new SqliteStore(database.path);
    case 'postgres':
      return new PostgresStore(database.url, { poolSize: database.poolSize });
  }
}
