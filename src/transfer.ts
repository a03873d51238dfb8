import { KEY_CHECK, opensKeyCheck } from './bootstrap.ts';
import type { SecretBox } from './lib/secret-box.ts';
import type {
  ApiKeyRecord,
  ConnectionRecord,
  OrganizationDomainRecord,
  OrganizationRecord,
  Page,
  PageRequest,
  ProfileRecord,
  RedirectUriRecord,
  Store,
} from './storage/store.ts';

/**
 * `gatehouse export` / `gatehouse import`: an environment's configuration as one JSON document, to move a
 * deployment from SQLite to PostgreSQL (or between databases). It holds the organizations with their domains,
 * the connections (their secrets still sealed with the secret key), the redirect URIs, the API keys (only their
 * hashes), the client ID and the profiles, with their IDs, so that apps, SDK calls, the profile IDs apps stored
 * and callback URLs registered at identity providers keep working. It does not hold sign-ins in flight, codes,
 * tokens or the session log.
 *
 * The secrets stay encrypted: the target must run with the same `GATEHOUSE_SECRET_KEY`, which the import checks
 * before writing anything, and it only writes into an environment that has no organizations or connections yet.
 */

export const EXPORT_FORMAT = 'gatehouse-configuration';
export const EXPORT_VERSION = 1;

export interface ExportDocument {
  format: typeof EXPORT_FORMAT;
  version: typeof EXPORT_VERSION;
  exported_at: string;
  /** The sealed key check of the source: proves which secret key sealed the connections' secrets. */
  secret_key_check: string;
  client_id: string | null;
  organizations: (Omit<OrganizationRecord, 'createdAt' | 'updatedAt'> & {
    domains: Omit<OrganizationDomainRecord, 'organizationId' | 'createdAt' | 'updatedAt'>[];
  })[];
  connections: (Omit<ConnectionRecord, 'createdAt' | 'updatedAt' | 'firstLoginAt'> & {
    firstLoginAt: string | null;
  })[];
  redirect_uris: Omit<RedirectUriRecord, 'createdAt'>[];
  api_keys: (Omit<ApiKeyRecord, 'createdAt' | 'revokedAt'> & { revokedAt: string | null })[];
  /** Absent in exports that have none to carry. */
  profiles?: Omit<ProfileRecord, 'createdAt' | 'updatedAt'>[];
}

export interface ImportSummary {
  organizations: number;
  domains: number;
  connections: number;
  redirectUris: number;
  apiKeys: number;
  profiles: number;
}

export class TransferError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransferError';
  }
}

async function all<T>(list: (page: PageRequest) => Promise<Page<T>>): Promise<T[]> {
  const out: T[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await list({ limit: 100, order: 'asc', ...(after ? { after } : {}) });
    out.push(...page.data);
    after = page.after ?? undefined;
    if (!after) return out;
  }
}

export async function exportConfiguration(store: Store, now = new Date()): Promise<ExportDocument> {
  const check = await store.getSetting(KEY_CHECK);
  if (!check) throw new TransferError('this database has never been started: there is nothing to export');
  const organizations = await all((page) => store.listOrganizations({}, page));
  const domains = organizations.length > 0 ? await store.listDomains(organizations.map((o) => o.id)) : [];
  const connections = await all((page) => store.listConnections({}, page));
  return {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    exported_at: now.toISOString(),
    secret_key_check: check,
    client_id: await store.getSetting('client_id'),
    organizations: organizations.map(({ createdAt: _c, updatedAt: _u, ...org }) => ({
      ...org,
      domains: domains
        .filter((d) => d.organizationId === org.id)
        .map(({ organizationId: _o, createdAt: _dc, updatedAt: _du, ...d }) => d),
    })),
    connections: connections.map(({ createdAt: _c, updatedAt: _u, firstLoginAt, ...c }) => ({
      ...c,
      firstLoginAt: firstLoginAt?.toISOString() ?? null,
    })),
    redirect_uris: (await store.listRedirectUris()).map(({ createdAt: _c, ...r }) => r),
    api_keys: (await store.listApiKeys()).map(({ createdAt: _c, revokedAt, ...k }) => ({
      ...k,
      revokedAt: revokedAt?.toISOString() ?? null,
    })),
    profiles: (await all((page) => store.listProfiles(page))).map(
      ({ createdAt: _c, updatedAt: _u, ...p }) => p,
    ),
  };
}

/** Reads and checks an export document (shape and version) before anything is written. */
export function parseExport(text: string): ExportDocument {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new TransferError(`the file is not JSON: ${(err as Error).message}`);
  }
  const d = doc as Partial<ExportDocument>;
  if (d?.format !== EXPORT_FORMAT)
    throw new TransferError(`the file is not a Gatehouse export (format "${EXPORT_FORMAT}")`);
  if (d.version !== EXPORT_VERSION) {
    throw new TransferError(
      `the export has version ${String(d.version)}; this Gatehouse reads version ${EXPORT_VERSION}`,
    );
  }
  for (const key of ['organizations', 'connections', 'redirect_uris', 'api_keys'] as const) {
    if (!Array.isArray(d[key])) throw new TransferError(`the export has no "${key}" list`);
  }
  if (typeof d.secret_key_check !== 'string') throw new TransferError('the export has no secret key check');
  return d as ExportDocument;
}

/**
 * Writes an export into `store`, keeping every ID.
 * @throws TransferError when `box` is not the key the export's secrets were sealed with, or the target already
 *   has organizations or connections.
 */
export async function importConfiguration(
  store: Store,
  doc: ExportDocument,
  box: SecretBox,
): Promise<ImportSummary> {
  if (!opensKeyCheck(box, doc.secret_key_check)) {
    throw new TransferError(
      "GATEHOUSE_SECRET_KEY is not the key the export's secrets were sealed with: set it to the source's key (with SQLite, the contents of data/secret.key)",
    );
  }
  const first: PageRequest = { limit: 1, order: 'asc' };
  if (
    (await store.listOrganizations({}, first)).data.length > 0 ||
    (await store.listConnections({}, first)).data.length > 0
  ) {
    throw new TransferError(
      'the target already has organizations or connections: import into a new database',
    );
  }
  if (!opensKeyCheck(box, await store.initSetting(KEY_CHECK, doc.secret_key_check))) {
    throw new TransferError('the target database was started with another secret key');
  }
  if (doc.client_id) await store.setSetting('client_id', doc.client_id);

  const summary: ImportSummary = {
    organizations: 0,
    domains: 0,
    connections: 0,
    redirectUris: 0,
    apiKeys: 0,
    profiles: 0,
  };
  for (const { domains, ...org } of doc.organizations) {
    await store.createOrganization(org, domains);
    summary.organizations += 1;
    summary.domains += domains.length;
  }
  for (const { firstLoginAt, ...connection } of doc.connections) {
    await store.createConnection(connection);
    if (firstLoginAt) await store.updateConnection(connection.id, { firstLoginAt: new Date(firstLoginAt) });
    summary.connections += 1;
  }
  const existingUris = new Set((await store.listRedirectUris()).map((r) => r.uri));
  for (const uri of doc.redirect_uris) {
    if (existingUris.has(uri.uri)) continue;
    await store.addRedirectUri({ ...uri, isDefault: false });
    summary.redirectUris += 1;
  }
  const preferred = doc.redirect_uris.find((r) => r.isDefault);
  if (preferred) {
    const rec = (await store.listRedirectUris()).find((r) => r.uri === preferred.uri);
    if (rec) await store.setDefaultRedirectUri(rec.id);
  }
  const existingKeys = new Set((await store.listApiKeys()).map((k) => k.keyHash));
  for (const { revokedAt: _r, ...key } of doc.api_keys) {
    if (existingKeys.has(key.keyHash)) continue;
    await store.createApiKey(key);
    summary.apiKeys += 1;
  }
  for (const profile of doc.profiles ?? []) {
    await store.upsertProfile(profile);
    summary.profiles += 1;
  }
  // Revocations last: the store never revokes the last active key.
  for (const key of doc.api_keys) {
    if (!key.revokedAt) continue;
    const rec = (await store.listApiKeys()).find((k) => k.keyHash === key.keyHash);
    if (rec && !rec.revokedAt) await store.revokeApiKey(rec.id, new Date(key.revokedAt));
  }
  return summary;
}
