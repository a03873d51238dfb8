import { buildApp } from './app.ts';
import { bootstrapEnvironment } from './bootstrap.ts';
import { ConfigError, loadConfig } from './config/load.ts';
import { bootstrapLink } from './dashboard/dashboard.ts';
import { openStore } from './storage/open.ts';

/**
 * The process entry point (`npm start`): configuration → storage → environment → app → listen.
 * A bad setting stops start-up with a message naming the variable. SIGTERM/SIGINT close gracefully: stop
 * accepting connections, finish in-flight requests, close the database.
 */

async function main(): Promise<void> {
  const config = loadConfig();
  const store = await openStore(config.database);
  if (config.migrateOnStart) await store.migrate();
  const environment = await bootstrapEnvironment(config, store);
  const app = await buildApp({ config, store, environment });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      app.log.error('graceful shutdown timed out after 10 s; exiting');
      process.exit(1);
    }, 10_000);
    force.unref();
    // A keep-alive connection whose request was in flight at the signal stays open once answered, and the
    // server's close waits for it: close such connections as soon as they are idle.
    const idle = setInterval(() => app.server.closeIdleConnections(), 50);
    idle.unref();
    await app.close();
    clearInterval(idle);
    await store.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  const address = await app.listen({ port: config.port, host: config.host });
  const db = config.database.kind === 'sqlite' ? `SQLite ${config.database.path}` : 'PostgreSQL';
  const lines = [
    '',
    `Gatehouse listening on ${address}`,
    `  Public URL (API and browser base): ${config.publicUrl}`,
    `  Database: ${db}`,
    `  Client ID: ${environment.clientId}`,
    `  Secret key: ${
      {
        environment: 'GATEHOUSE_SECRET_KEY',
        file: environment.secretKeyFile,
        'generated-file': `generated into ${environment.secretKeyFile} (back it up)`,
        ephemeral: 'generated for this process only (in-memory database)',
      }[environment.secretKeySource]
    }`,
  ];
  if (environment.generatedApiKey) {
    const url = new URL(config.publicUrl);
    lines.push(
      '',
      '  A new environment was created. This API key is shown only once; store it now:',
      `    GATEHOUSE API KEY: ${environment.generatedApiKey}`,
      '',
      '  Use it with the official WorkOS SDK:',
      "    import { WorkOS } from '@workos-inc/node';",
      `    const workos = new WorkOS('${environment.generatedApiKey}', {`,
      `      apiHostname: '${url.hostname}',${url.port ? ` port: ${url.port},` : ''} https: ${url.protocol === 'https:'},`,
      `      clientId: '${environment.clientId}',`,
      '    });',
    );
  }
  if (config.dashboard) {
    const link = await bootstrapLink({ store, publicUrl: config.publicUrl, now: () => new Date() });
    lines.push(
      '',
      link
        ? `  Dashboard: no operator yet. Open this link within 24 hours to become the first one (it works once):\n    ${link}`
        : `  Dashboard: ${config.publicUrl}/dashboard/ (sign-in links: npm run dashboard-link -- you@example.com)`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n\n`);
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`Gatehouse cannot start: ${err.message}\n`);
  } else {
    process.stderr.write(`Gatehouse cannot start: ${(err as Error)?.stack ?? String(err)}\n`);
  }
  process.exit(1);
});
