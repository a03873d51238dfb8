import type {
  ConnectionRecord,
  OrganizationDomainRecord,
  OrganizationRecord,
  RedirectUriRecord,
  Store,
} from '../storage/store.ts';

/**
 * The configuration the sign-in flow reads on every request (organizations, connections, verified domains, the
 * redirect URI allowlist), cached per node for `ttlMs` (1 s by default) and cleared by every management write
 * on this node. A change made through this node's API applies at once; one made through another node applies
 * within `ttlMs`. Login state (transactions, codes, tokens) is never cached.
 */
export type ConfigReader = Pick<
  Store,
  | 'getOrganization'
  | 'listOrganizationConnections'
  | 'getConnection'
  | 'getConnectionByExternalKey'
  | 'listConnectionsByType'
  | 'findVerifiedDomain'
  | 'listDomains'
  | 'listRedirectUris'
>;

const MAX_ENTRIES = 10_000;

export class ConfigCache implements ConfigReader {
  readonly #store: Store;
  readonly #ttlMs: number;
  readonly #entries = new Map<string, { expires: number; value: Promise<unknown> }>();

  constructor(store: Store, ttlMs = 1000) {
    this.#store = store;
    this.#ttlMs = ttlMs;
  }

  /** Forgets everything (called after any configuration write on this node). */
  clear(): void {
    this.#entries.clear();
    this.#generation++;
  }

  #generation = 0;
  /**
   * How many times the cache was cleared: a value derived from the configuration and kept elsewhere (the
   * dashboard's list of expiring certificates) is current on this node while this number has not changed.
   */
  get generation(): number {
    return this.#generation;
  }

  /**
   * `keepNull: false`: a null result is not kept. For lookups by a value from the request (an organization,
   * connection or callback key, a domain), so that made-up values cannot fill the cache and push out the
   * configuration in use; a miss costs one indexed query.
   */
  #read<T>(key: string, load: () => Promise<T>, keepNull = true): Promise<T> {
    const now = Date.now();
    const hit = this.#entries.get(key);
    if (hit && hit.expires > now) return hit.value as Promise<T>;
    const value = load();
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.clear();
    this.#entries.set(key, { expires: now + this.#ttlMs, value });
    const forget = () => {
      if (this.#entries.get(key)?.value === value) this.#entries.delete(key);
    };
    // A failed read is not cached.
    value.then((v) => {
      if (v === null && !keepNull) forget();
    }, forget);
    return value;
  }

  getOrganization(id: string): Promise<OrganizationRecord | null> {
    return this.#read(`org:${id}`, () => this.#store.getOrganization(id), false);
  }

  listOrganizationConnections(organizationId: string): Promise<ConnectionRecord[]> {
    return this.#read(`org-conns:${organizationId}`, () =>
      this.#store.listOrganizationConnections(organizationId),
    );
  }

  getConnection(id: string): Promise<ConnectionRecord | null> {
    return this.#read(`conn:${id}`, () => this.#store.getConnection(id), false);
  }

  /** The connection whose callback URL this is (the key in `/sso/oauth/callback/:key`, `/sso/saml/acs/:key`). */
  getConnectionByExternalKey(externalKey: string): Promise<ConnectionRecord | null> {
    return this.#read(
      `conn-key:${externalKey}`,
      () => this.#store.getConnectionByExternalKey(externalKey),
      false,
    );
  }

  listConnectionsByType(connectionType: string): Promise<ConnectionRecord[]> {
    return this.#read(`conns-type:${connectionType}`, () =>
      this.#store.listConnectionsByType(connectionType),
    );
  }

  findVerifiedDomain(domain: string): Promise<OrganizationDomainRecord | null> {
    return this.#read(`domain:${domain}`, () => this.#store.findVerifiedDomain(domain), false);
  }

  /** The domains of these organizations (the callback's domain policy asks for one at a time). */
  listDomains(organizationIds: string[]): Promise<OrganizationDomainRecord[]> {
    return this.#read(`domains:${organizationIds.join(',')}`, () => this.#store.listDomains(organizationIds));
  }

  listRedirectUris(): Promise<RedirectUriRecord[]> {
    return this.#read('redirect-uris', () => this.#store.listRedirectUris());
  }
}
