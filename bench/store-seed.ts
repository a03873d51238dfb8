/**
 * A Gatehouse with many connections in its store, for the `store` scenario of `npm run bench`: one organization
 * and SAML connection made through the management API (the one measured), then `count - 1` copies of both
 * written straight into its SQLite file with SQL (each with its own IDs and ACS key), in one transaction: 100 000
 * in seconds, where the API would take minutes.
 */
import { randomBytes } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import { newId } from '../src/lib/ids.ts';
import { BenchError, type GatehouseChild, startGatehouse } from './lib.ts';
import { createSamlConnection } from './saml-idp.ts';
import { APP_REDIRECT_URI } from './sso-flow.ts';

export async function seedConnections(options: {
  dataDir: string;
  count: number;
  idp: { entityId: string; ssoUrl: string; certificate: string };
  cpus?: string | null;
}): Promise<{ gatehouse: GatehouseChild; authorizePath: string; seconds: number }> {
  const gatehouse = await startGatehouse({
    dataDir: options.dataDir,
    redirectUris: [APP_REDIRECT_URI],
    env: { GATEHOUSE_SIGNIN_CONSENT: 'off' },
    cpus: options.cpus ?? null,
  });
  const connection = await createSamlConnection(gatehouse, options.idp);
  const started = performance.now();
  const db = new DatabaseSync(gatehouse.databasePath as string);
  try {
    db.exec('PRAGMA busy_timeout = 10000');
    const org = db.prepare('SELECT * FROM organizations WHERE id = ?').get(connection.organizationId);
    const conn = db.prepare('SELECT * FROM connections WHERE id = ?').get(connection.connectionId);
    if (!org || !conn)
      throw new BenchError('store: the connection made through the API is not in the database');
    const insert = (table: string, row: Record<string, unknown>) => {
      const columns = Object.keys(row);
      return db.prepare(
        `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
      );
    };
    const orgInsert = insert('organizations', org);
    const connInsert = insert('connections', conn);
    db.exec('BEGIN');
    for (let i = 1; i < options.count; i++) {
      const orgId = newId('org');
      orgInsert.run(
        ...(Object.values({ ...org, id: orgId, name: `Bench Org ${i}`, external_id: null }) as never[]),
      );
      connInsert.run(
        ...(Object.values({
          ...conn,
          id: newId('conn'),
          organization_id: orgId,
          external_key: randomBytes(16).toString('hex'),
        }) as never[]),
      );
    }
    db.exec('COMMIT');
    db.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get();
  } finally {
    db.close();
  }
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: gatehouse.clientId,
    redirect_uri: APP_REDIRECT_URI,
    organization: connection.organizationId,
    state: 'bench-state-0123456789',
  });
  return {
    gatehouse,
    authorizePath: `/sso/authorize?${query}`,
    seconds: (performance.now() - started) / 1000,
  };
}
