/**
 * The upstream OpenID provider of the benchmarks: a real
 * [`oidc-provider`](https://github.com/panva/node-oidc-provider) with confidential clients
 * (`client_secret_post`, PKCE required), an RS256 signing key made at start, signed cookies, and, when
 * `interactive`, oidc-provider's development login and consent forms (any login and password sign in; the
 * login is the user's `sub`, their email is `<login>@example.com`).
 *
 * Two ways to run it, both through `bench/lib.ts`:
 * - in the benchmark process (`startOidcIdp`), when it only serves discovery (bench/authorize.ts);
 * - as a child process (`startOidcIdpChild`, which runs this file), when it serves whole logins: then its CPU
 *   time is its own and it does not share an event loop with the load driver. Configured through the
 *   environment (`BENCH_IDP_PORT`, `BENCH_IDP_CLIENTS`, `BENCH_IDP_INTERACTIVE`); `GET /__bench/stats`
 *   answers how many requests it served, by route.
 *
 * No side effects on import; nothing here is Gatehouse code.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type RequestListener } from 'node:http';

export interface IdpClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
}

/** Requests served, in total and by route (the first path segment: `/auth/<uid>` counts as `/auth`). */
export interface IdpStats {
  total: number;
  routes: Record<string, number>;
}

/** The part of oidc-provider's API used here. */
type ProviderConstructor = new (
  issuer: string,
  configuration: Record<string, unknown>,
) => { callback(): RequestListener };

/** Imported by a non-literal name, so the type check does not depend on a declaration for the package. */
const OIDC_PROVIDER: string = 'oidc-provider';

type Payload = Record<string, unknown>;

/**
 * oidc-provider's storage (sessions, interactions, grants, codes, tokens), in memory: entries expire as the
 * provider asks, sessions are found by `uid` and tokens by grant through indexes (O(1) per call, whatever the
 * number of logins so far), and the oldest entries are dropped beyond `LIMIT` so that memory stays bounded
 * during a long run. A login needs its entries for well under a second; LIMIT leaves room for thousands in
 * flight. (oidc-provider's built-in store is similar but capped at ~1000–2000 entries and warns at start-up.)
 */
class MemoryAdapter {
  static readonly LIMIT = 200_000;
  static readonly entries = new Map<string, { payload: Payload; expiresAt: number }>();
  /** Session uid → key, user code → key, grant ID → keys of its tokens. */
  static readonly byUid = new Map<string, string>();
  static readonly byUserCode = new Map<string, string>();
  static readonly byGrant = new Map<string, Set<string>>();

  readonly #model: string;
  constructor(model: string) {
    this.#model = model;
  }

  static #get(key: string | undefined): Payload | undefined {
    if (key === undefined) return undefined;
    const entry = MemoryAdapter.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      MemoryAdapter.#delete(key);
      return undefined;
    }
    return entry.payload;
  }

  static #delete(key: string): void {
    const entry = MemoryAdapter.entries.get(key);
    if (!entry) return;
    MemoryAdapter.entries.delete(key);
    const { uid, userCode, grantId } = entry.payload;
    if (typeof uid === 'string' && MemoryAdapter.byUid.get(uid) === key) MemoryAdapter.byUid.delete(uid);
    if (typeof userCode === 'string' && MemoryAdapter.byUserCode.get(userCode) === key) {
      MemoryAdapter.byUserCode.delete(userCode);
    }
    if (typeof grantId === 'string') {
      const members = MemoryAdapter.byGrant.get(grantId);
      members?.delete(key);
      if (members?.size === 0) MemoryAdapter.byGrant.delete(grantId);
    }
  }

  #key(id: string): string {
    return `${this.#model}:${id}`;
  }

  async upsert(id: string, payload: Payload, expiresIn?: number): Promise<void> {
    const key = this.#key(id);
    MemoryAdapter.#delete(key);
    const expiresAt =
      typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Number.POSITIVE_INFINITY;
    MemoryAdapter.entries.set(key, { payload, expiresAt });
    if (this.#model === 'Session' && typeof payload.uid === 'string')
      MemoryAdapter.byUid.set(payload.uid, key);
    if (typeof payload.userCode === 'string') MemoryAdapter.byUserCode.set(payload.userCode, key);
    if (typeof payload.grantId === 'string') {
      let members = MemoryAdapter.byGrant.get(payload.grantId);
      if (!members) {
        members = new Set();
        MemoryAdapter.byGrant.set(payload.grantId, members);
      }
      members.add(key);
    }
    // Map iteration follows insertion order: the first keys are the oldest.
    for (const oldest of MemoryAdapter.entries.keys()) {
      if (MemoryAdapter.entries.size <= MemoryAdapter.LIMIT) break;
      MemoryAdapter.#delete(oldest);
    }
  }

  async find(id: string): Promise<Payload | undefined> {
    return MemoryAdapter.#get(this.#key(id));
  }

  async findByUid(uid: string): Promise<Payload | undefined> {
    return MemoryAdapter.#get(MemoryAdapter.byUid.get(uid));
  }

  async findByUserCode(userCode: string): Promise<Payload | undefined> {
    return MemoryAdapter.#get(MemoryAdapter.byUserCode.get(userCode));
  }

  async consume(id: string): Promise<void> {
    const payload = MemoryAdapter.#get(this.#key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    MemoryAdapter.#delete(this.#key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    for (const key of [...(MemoryAdapter.byGrant.get(grantId) ?? [])]) MemoryAdapter.#delete(key);
  }
}

/** The request handler of an oidc-provider for `issuer` with these clients. */
export async function createIdpHandler(
  issuer: string,
  clients: IdpClient[],
  options: { interactive: boolean },
): Promise<RequestListener> {
  const { default: Provider } = (await import(OIDC_PROVIDER)) as { default: ProviderConstructor };
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const provider = new Provider(issuer, {
    adapter: MemoryAdapter,
    clients: clients.map((c) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      redirect_uris: c.redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    })),
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'bench', alg: 'RS256', use: 'sig' }] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    // The login and consent pages oidc-provider ships for development: a form each, any login accepted.
    features: { devInteractions: { enabled: options.interactive } },
    pkce: { required: () => true },
    // oidc-provider's defaults, set explicitly (it asks for that at run time otherwise).
    ttl: {
      Interaction: 3600,
      Session: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
      AccessToken: 3600,
      IdToken: 3600,
    },
    scopes: ['openid', 'email', 'profile'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name'],
    },
    findAccount: (_ctx: unknown, sub: string) => ({
      accountId: sub,
      claims: () => ({
        sub,
        email: `${sub}@example.com`,
        email_verified: true,
        name: `Bench ${sub}`,
        given_name: 'Bench',
        family_name: sub,
      }),
    }),
  });
  return provider.callback();
}

/** Counts requests by route. */
export class HitCounter {
  total = 0;
  readonly #routes = new Map<string, number>();

  count(url: string | undefined): void {
    this.total++;
    const path = (url ?? '/').split('?')[0] ?? '/';
    const route = `/${path.split('/')[1] ?? ''}`;
    this.#routes.set(route, (this.#routes.get(route) ?? 0) + 1);
  }

  stats(): IdpStats {
    return { total: this.total, routes: Object.fromEntries(this.#routes) };
  }
}

export const STATS_PATH = '/__bench/stats';

// Run as a child process by lib.ts `startOidcIdpChild`.
if (import.meta.main) {
  const port = Number(process.env.BENCH_IDP_PORT);
  const host = process.env.BENCH_IDP_HOST ?? '127.0.0.1';
  const clients = JSON.parse(process.env.BENCH_IDP_CLIENTS ?? '[]') as IdpClient[];
  const handler = await createIdpHandler(`http://${host}:${port}`, clients, {
    interactive: process.env.BENCH_IDP_INTERACTIVE === 'on',
  });
  const hits = new HitCounter();
  const server = createServer((req, res) => {
    if (req.url === STATS_PATH) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(hits.stats()));
      return;
    }
    hits.count(req.url);
    handler(req, res);
  });
  server.listen(port, host);
  process.on('SIGTERM', () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
