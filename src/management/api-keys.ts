import { randomBytes } from 'node:crypto';
import { BrokerError } from '../errors/broker-error.ts';
import { newId } from '../lib/ids.ts';
import { sha256 } from '../lib/tokens.ts';
import { type ApiKeyRecord, NotFoundError, type Store } from '../storage/store.ts';
import type { ManagementDeps } from './deps.ts';
import { objectBody, Validator } from './validate.ts';

/**
 * API keys: several per environment, each shown once at creation and stored as a SHA-256 hash.
 * The last active key cannot be revoked (that would lock everyone out of the management API).
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `sk_` + 43 characters from [A-Za-z0-9] (about 256 bits). */
export function generateApiKey(): string {
  let out = '';
  while (out.length < 43) {
    for (const b of randomBytes(64)) {
      // Rejection sampling keeps the distribution uniform over 62 symbols.
      if (b < 248 && out.length < 43) out += ALPHABET[b % 62];
    }
  }
  return `sk_${out}`;
}

export function presentApiKey(k: ApiKeyRecord) {
  return {
    object: 'api_key' as const,
    id: k.id,
    name: k.name,
    obfuscated_value: `sk_…${k.lastFour}`,
    created_at: k.createdAt.toISOString(),
    revoked_at: k.revokedAt?.toISOString() ?? null,
  };
}

/** Stores a key given in plain text (generated, or from GATEHOUSE_API_KEY). */
export function storeApiKey(store: Store, key: string, name: string): Promise<ApiKeyRecord> {
  return store.createApiKey({ id: newId('key'), name, keyHash: sha256(key), lastFour: key.slice(-4) });
}

export async function listApiKeys(deps: ManagementDeps) {
  const keys = await deps.store.listApiKeys();
  return {
    object: 'list' as const,
    data: keys.map(presentApiKey),
    list_metadata: { before: null, after: null },
  };
}

/** Creates a key; the response is the only place its value ever appears. */
export async function createApiKey(deps: ManagementDeps, rawBody: unknown) {
  const body = objectBody(rawBody);
  const v = new Validator();
  const name = v.string(body, 'name', { max: 100 });
  v.done();
  const value = generateApiKey();
  const rec = await storeApiKey(deps.store, value, name || 'API key');
  return { ...presentApiKey(rec), value };
}

export async function revokeApiKey(deps: ManagementDeps, id: string): Promise<void> {
  try {
    if (!(await deps.store.revokeApiKey(id, new Date()))) throw new BrokerError('last_api_key');
  } catch (err) {
    if (err instanceof NotFoundError)
      throw new BrokerError('not_found', { message: `API key '${id}' not found.` });
    throw err;
  }
}

/** The key record for a presented Bearer value, or null. */
export function authenticateApiKey(store: Store, presented: string): Promise<ApiKeyRecord | null> {
  return store.findActiveApiKey(sha256(presented));
}
