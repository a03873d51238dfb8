import type { DatabaseConfig } from '../config/schema.ts';
import type { Store } from './store.ts';

/**
 * Opens the configured backend. The only place that knows which backends exist. Each is loaded only when chosen:
 * a server on SQLite never loads the PostgreSQL driver (nor the other way round), which it would keep in memory.
 */
export async function openStore(database: DatabaseConfig): Promise<Store> {
  switch (database.kind) {
    case 'sqlite': {
      const { SqliteStore } = await import('./sqlite/index.ts');
      return new SqliteStore(database.path);
    }
    case 'postgres': {
      const { PostgresStore } = await import('./postgres/index.ts');
      return new PostgresStore(database.url, { poolSize: database.poolSize });
    }
  }
}
