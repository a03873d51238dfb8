import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Config, ConfigError } from './config/load.ts';
import { variables } from './config/schema.ts';
import { newId } from './lib/ids.ts';
import { isWildcard, parseRedirectUri } from './lib/redirect-uri.ts';
import { SecretBox } from './lib/secret-box.ts';
import { sha256 } from './lib/tokens.ts';
import { generateApiKey, storeApiKey } from './management/api-keys.ts';
import { AlreadyExistsError, type Store } from './storage/store.ts';

/**
 * Start-up tasks that make an environment usable: the secret key, the client ID, a first API key and the
 * redirect URIs from the configuration. Idempotent: later starts keep what earlier starts created.
 */

export interface Environment {
  secretBox: SecretBox;
  clientId: string;
  /** Set only when this start generated the API key: shown once, never again. */
  generatedApiKey: string | null;
  /** Where the secret key came from, for the start-up banner. */
  secretKeySource: 'environment' | 'file' | 'generated-file' | 'ephemeral';
  /** The absolute path of `secret.key` when the key is in (or was generated into) that file. */
  secretKeyFile: string | null;
}

/** The setting that proves which secret key sealed this database's secrets (a known text, sealed). */
export const KEY_CHECK = 'secret_key_check';
const KEY_CHECK_TEXT = 'gatehouse secret key check';

/** Whether `box` holds the key that sealed this key check value. */
export function opensKeyCheck(box: SecretBox, sealed: string): boolean {
  try {
    return box.decrypt(sealed, KEY_CHECK) === KEY_CHECK_TEXT;
  } catch {
    return false;
  }
}

/**
 * Reads GATEHOUSE_SECRET_KEY or `secret.key` in the data directory, creating the file on first start.
 * PostgreSQL deployments have several nodes and no data directory: the key must be configured.
 */
export function resolveSecretKey(config: Config): {
  key: Buffer;
  source: Environment['secretKeySource'];
  file: string | null;
} {
  if (config.secretKey) return { key: config.secretKey, source: 'environment', file: null };
  if (config.database.kind === 'postgres') {
    throw new ConfigError(
      'GATEHOUSE_SECRET_KEY',
      'is required with PostgreSQL: every node must seal and open secrets with the same key (e.g. `openssl rand -hex 32`; when moving from SQLite, the contents of data/secret.key)',
    );
  }
  if (!config.database.dataDir) {
    return { key: randomBytes(32), source: 'ephemeral', file: null };
  }
  const file = resolve(config.database.dataDir, 'secret.key');
  if (existsSync(file)) {
    const raw = readFileSync(file, 'utf8').trim();
    try {
      return { key: variables.GATEHOUSE_SECRET_KEY.parse(raw), source: 'file', file };
    } catch (err) {
      throw new ConfigError(
        'GATEHOUSE_SECRET_KEY',
        `is unset and ${file} is unreadable: ${(err as Error).message}`,
      );
    }
  }
  mkdirSync(config.database.dataDir, { recursive: true });
  const key = randomBytes(32);
  writeFileSync(file, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return { key, source: 'generated-file', file };
}

export async function bootstrapEnvironment(config: Config, store: Store): Promise<Environment> {
  // 1. The secret key must be the one this database's secrets were sealed with.
  const { key, source, file } = resolveSecretKey(config);
  const secretBox = new SecretBox(key);
  // Nodes starting together on a new database race to record it: the first wins, the others check against it.
  const check = await store.initSetting(KEY_CHECK, secretBox.encrypt(KEY_CHECK_TEXT, KEY_CHECK));
  if (!opensKeyCheck(secretBox, check)) {
    throw new ConfigError(
      'GATEHOUSE_SECRET_KEY',
      'does not match the key this database was encrypted with (every node needs the same key; restore the original value or secret.key file)',
    );
  }

  // 2. Client ID: the configured one wins; otherwise keep the stored one, or the first generated one.
  let clientId: string;
  if (config.clientId) {
    clientId = config.clientId;
    if (clientId !== (await store.getSetting('client_id'))) await store.setSetting('client_id', clientId);
  } else {
    clientId = await store.initSetting('client_id', newId('client'));
  }

  // 3. API key: add the configured one if it is new; generate one if the environment has none at all.
  let generatedApiKey: string | null = null;
  const keys = await store.listApiKeys();
  if (config.apiKey) {
    const hash = sha256(config.apiKey);
    const known = keys.find((k) => k.keyHash === hash);
    if (!known) await alreadyThereIsFine(storeApiKey(store, config.apiKey, 'GATEHOUSE_API_KEY'));
    // A configured key that was revoked through the API stays revoked: the API is the later decision.
  } else if (!keys.some((k) => k.revokedAt === null)) {
    generatedApiKey = generateApiKey();
    await storeApiKey(store, generatedApiKey, 'Generated on first start');
  }

  // 4. Redirect URIs from the configuration; the first is the default.
  const existing = await store.listRedirectUris();
  for (const [i, uri] of config.redirectUris.entries()) {
    const parsed = parseRedirectUri(uri);
    if (!parsed.ok) throw new ConfigError('GATEHOUSE_REDIRECT_URIS', `entry "${uri}": ${parsed.reason}`);
    if (i === 0 && isWildcard(uri)) {
      throw new ConfigError(
        'GATEHOUSE_REDIRECT_URIS',
        `first entry "${uri}" becomes the default and cannot be a wildcard`,
      );
    }
    let rec = existing.find((r) => r.uri === uri);
    if (!rec) {
      rec =
        (await alreadyThereIsFine(store.addRedirectUri({ id: newId('ruri'), uri, isDefault: false }))) ??
        (await store.listRedirectUris()).find((r) => r.uri === uri);
      if (!rec) throw new Error(`redirect URI ${uri} vanished while starting`);
      existing.push(rec);
    }
    if (i === 0 && !rec.isDefault) await store.setDefaultRedirectUri(rec.id);
  }

  return { secretBox, clientId, generatedApiKey, secretKeySource: source, secretKeyFile: file };
}

/** Another node starting at the same time wrote the same row first: that is the outcome we wanted. */
async function alreadyThereIsFine<T>(write: Promise<T>): Promise<T | undefined> {
  try {
    return await write;
  } catch (err) {
    if (err instanceof AlreadyExistsError) return undefined;
    throw err;
  }
}
