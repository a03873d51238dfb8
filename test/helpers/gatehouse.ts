import { createServer } from 'node:net';
import { WorkOS } from '@workos-inc/node';
import type { FastifyInstance } from 'fastify';
import { type AppOptions, buildApp } from '../../src/app.ts';
import { bootstrapEnvironment } from '../../src/bootstrap.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { TxtResolver } from '../../src/management/organizations.ts';
import { ConfigCache } from '../../src/sso/config-cache.ts';
import { SqliteStore } from '../../src/storage/sqlite/index.ts';
import type { Store } from '../../src/storage/store.ts';

export const TEST_API_KEY = 'sk_test_gatehouse_0123456789abcdef';
export const TEST_CLIENT_ID = 'client_test_0123456789';

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export interface TestGatehouse {
  url: string;
  port: number;
  app: FastifyInstance;
  store: Store;
  apiKey: string;
  clientId: string;
  /** The official SDK pointed at this Gatehouse. */
  workos: WorkOS;
  /**
   * Calls the management API with the API key. `body` is the parsed JSON, typed loosely on purpose: tests read
   * arbitrary response fields and assert on their exact values.
   */
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON of many shapes; every use is checked by an assertion.
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any; headers: Headers }>;
  /** Forgets cached configuration: call it after writing organizations or connections to `store` directly. */
  clearConfigCache(): void;
  close(): Promise<void>;
}

/**
 * Starts a real Gatehouse on a loopback port with an in-memory SQLite store (or the given one).
 * `env` overrides configuration variables. `resolveTxt` answers DNS TXT lookups for domain verification
 * (default: no records, so verification fails); `null` leaves them to the app's own node:dns resolver, which asks
 * the servers of GATEHOUSE_DNS_SERVERS (e.g. test/helpers/dns-server.ts).
 */
export async function startGatehouse(
  options: {
    env?: Record<string, string>;
    store?: Store;
    transactionTtlMs?: number;
    now?: () => Date;
    resolveTxt?: TxtResolver | null;
    /** Listen on this port (e.g. another Gatehouse's, to keep its public URL); default a free one. */
    port?: number;
    /** Where the JSON log lines go (with `env: { GATEHOUSE_LOG_LEVEL: 'info' }`, to read the access log). */
    logStream?: NodeJS.WritableStream;
    /** Webhook delivery options (a short retry schedule, a quick poll, a DNS stand-in). */
    webhooks?: AppOptions['webhooks'];
  } = {},
): Promise<TestGatehouse> {
  const port = options.port ?? (await freePort());
  const config = loadConfig({
    PORT: String(port),
    GATEHOUSE_PUBLIC_URL: `http://127.0.0.1:${port}`,
    GATEHOUSE_DATABASE_URL: 'sqlite::memory:',
    GATEHOUSE_API_KEY: TEST_API_KEY,
    GATEHOUSE_CLIENT_ID: TEST_CLIENT_ID,
    GATEHOUSE_ALLOW_PRIVATE_URLS: 'on',
    GATEHOUSE_LOG_LEVEL: 'silent',
    GATEHOUSE_UPSTREAM_TIMEOUT_MS: '2000',
    ...options.env,
  });
  const store = options.store ?? new SqliteStore(':memory:');
  await store.migrate();
  const environment = await bootstrapEnvironment(config, store);
  const configCache = new ConfigCache(store);
  const app = await buildApp({
    config,
    store,
    configCache,
    environment,
    ...(options.resolveTxt === null ? {} : { resolveTxt: options.resolveTxt ?? (async () => []) }),
    ...(options.transactionTtlMs ? { transactionTtlMs: options.transactionTtlMs } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(options.logStream ? { logStream: options.logStream } : {}),
    ...(options.webhooks ? { webhooks: options.webhooks } : {}),
  });
  await app.listen({ port, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${port}`;
  const workos = new WorkOS(TEST_API_KEY, {
    apiHostname: '127.0.0.1',
    port,
    https: false,
    clientId: TEST_CLIENT_ID,
  });
  return {
    url,
    port,
    app,
    store,
    apiKey: TEST_API_KEY,
    clientId: TEST_CLIENT_ID,
    workos,
    async api(method, path, body) {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
    },
    clearConfigCache: () => configCache.clear(),
    async close() {
      await app.close();
      await store.close();
    },
  };
}
