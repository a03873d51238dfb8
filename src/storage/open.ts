import type { DatabaseConfig } from '../config/schema.ts';
import { SqliteStore } from './sqlite/index.ts';
import type { Store } from './store.ts';

/** Opens the configured backend. The only place that knows which backends exist. */
export function openStore(database: DatabaseConfig): Store {
  switch (database.kind) {
    case 'sqlite':
      return new SqliteStore(database.path);
    case 'postgres':
      // loadConfig rejects postgres:// until the PostgreSQL store lands; this guards other callers.
      throw new Error('PostgreSQL is not supported yet');
  }
}
