import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveSecretKey } from './bootstrap.ts';
import { type Config, ConfigError, loadConfig } from './config/load.ts';
import { createOperatorLink } from './dashboard/dashboard.ts';
import { SecretBox } from './lib/secret-box.ts';
import { isEmail } from './management/validate.ts';
import { openStore } from './storage/open.ts';
import { exportConfiguration, importConfiguration, parseExport, TransferError } from './transfer.ts';

/**
 * Operator commands, run with the same environment variables as the server (`npm start` serves):
 *
 *   npm run migrate                   apply pending migrations to GATEHOUSE_DATABASE_URL, then exit
 *   npm run export -- --out FILE      write the configuration (organizations, connections, redirect URIs,
 *                                     API keys, client ID) to FILE (mode 0600), or to stdout without --out
 *   npm run import -- FILE            load an export into GATEHOUSE_DATABASE_URL (a new, empty environment);
 *                                     GATEHOUSE_SECRET_KEY must be the source's key
 *   npm run dashboard-link -- EMAIL   print a one-time dashboard link for EMAIL: a sign-in link (15 minutes) for an
 *                                     operator, an invitation (7 days) for anyone else — whoever runs the server
 *                                     may always let an operator in
 */

const USAGE = `Usage:
  npm run migrate
  npm run export -- [--out FILE]
  npm run import -- FILE
  npm run dashboard-link -- EMAIL`;

/** The key to import with: configured, or the SQLite target's existing secret.key. Never a new one. */
function importKey(config: Config): Buffer {
  if (config.secretKey) return config.secretKey;
  if (
    config.database.kind === 'sqlite' &&
    config.database.dataDir &&
    existsSync(join(config.database.dataDir, 'secret.key'))
  ) {
    return resolveSecretKey(config).key;
  }
  throw new ConfigError(
    'GATEHOUSE_SECRET_KEY',
    "is required to import: set it to the source's key (with SQLite, the contents of data/secret.key)",
  );
}

async function run(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  if (command !== 'migrate' && command !== 'export' && command !== 'import' && command !== 'dashboard-link') {
    process.stderr.write(`${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const config = loadConfig();
  const store = await openStore(config.database);
  try {
    await store.migrate();
    if (command === 'migrate') {
      process.stderr.write('Migrations applied; the database is up to date.\n');
      return;
    }
    if (command === 'dashboard-link') {
      const email = (args.find((a) => !a.startsWith('--')) ?? '').trim().toLowerCase();
      if (!isEmail(email)) throw new TransferError(`name the operator's email\n${USAGE}`);
      const deps = { store, publicUrl: config.publicUrl, now: () => new Date() };
      const operator = await store.getOperatorByEmail(email);
      const link = operator
        ? await createOperatorLink(deps, 'sign_in', { operatorId: operator.id })
        : await createOperatorLink(deps, 'invite', { email });
      process.stderr.write(
        operator
          ? `A sign-in link for ${email} (works once, within 15 minutes):\n`
          : `${email} is not an operator yet. An invitation (works once, within 7 days):\n`,
      );
      process.stdout.write(`${link}\n`);
      return;
    }
    if (command === 'export') {
      const outIndex = args.indexOf('--out');
      const out = outIndex >= 0 ? args[outIndex + 1] : undefined;
      if (outIndex >= 0 && !out) throw new TransferError('--out needs a file name');
      const doc = await exportConfiguration(store);
      const text = `${JSON.stringify(doc, null, 2)}\n`;
      if (out) {
        // Sealed secrets and API key hashes: readable by the owner only.
        writeFileSync(out, text, { mode: 0o600, flag: 'wx' });
        process.stderr.write(
          `Exported ${doc.organizations.length} organizations, ${doc.connections.length} connections, ` +
            `${doc.redirect_uris.length} redirect URIs, ${doc.api_keys.length} API keys and ` +
            `${doc.profiles?.length ?? 0} profiles to ${out}.\n` +
            'Import it with the same GATEHOUSE_SECRET_KEY (with SQLite, the contents of data/secret.key).\n',
        );
      } else {
        process.stdout.write(text);
      }
      return;
    }
    const file = args.find((a) => !a.startsWith('--'));
    if (!file) throw new TransferError(`name the export file to import\n${USAGE}`);
    const doc = parseExport(readFileSync(file, 'utf8'));
    const summary = await importConfiguration(store, doc, new SecretBox(importKey(config)));
    process.stderr.write(
      `Imported ${summary.organizations} organizations (${summary.domains} domains), ${summary.connections} connections, ` +
        `${summary.redirectUris} redirect URIs, ${summary.apiKeys} API keys and ${summary.profiles} profiles.\n`,
    );
  } finally {
    await store.close();
  }
}

run(process.argv.slice(2)).catch((err: unknown) => {
  const known = err instanceof ConfigError || err instanceof TransferError;
  process.stderr.write(
    `gatehouse: ${known ? (err as Error).message : ((err as Error)?.stack ?? String(err))}\n`,
  );
  process.exitCode = 1;
});
