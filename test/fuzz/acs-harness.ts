import { SqliteStore } from '../../src/storage/sqlite/index.ts';
import type { ProfileRecord, SignInCompletion, SignInResult } from '../../src/storage/store.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import {
  connectSamlIdp,
  makeIdp,
  type SamlSetup,
  samlResponseWith,
  spFor,
  type TestSamlIdp,
} from '../helpers/saml-idp.ts';

/**
 * The ACS fuzzer's world (issue 15): one in-process Gatehouse (rate limits off: the fuzzer posts far more than a
 * browser), one samlify IdP, and two connections to it (one plain, one that asks for encrypted assertions). A
 * case starts a real sign-in through `/sso/authorize` (solicited) or none (unsolicited), has the IdP build and
 * sign a valid response, and posts the (mutated) response to the ACS through `app.inject`: Fastify's whole
 * request path (routing, rate-limit hook, body limit, form parser, cookies) without a socket.
 */

export const APP = 'http://localhost:3000/callback';

/** The identity every genuine response asserts. Unusual words, so that a leak of any of them is visible. */
export const USER = {
  nameId: 'ada.fuzz@acme.com',
  attributes: {
    email: 'ada.fuzz@acme.com',
    firstName: 'Adaquill',
    lastName: 'Lovelacewick',
    groups: ['grp-zephyrine', 'grp-quorvex'],
  },
  sessionIndex: '_sess-fuzz-index',
};

/** The identity forged elements claim; it must never reach a profile. */
export const FORGED = 'ceo.forged@acme.com';

/** How the IdP protects the response. */
export type Kind = 'assertion' | 'response' | 'both' | 'encrypted' | 'encrypted-response';
export const KINDS: readonly Kind[] = ['assertion', 'response', 'both', 'encrypted', 'encrypted-response'];

/** The store, recording every profile written: no post may write one unless it signed in. */
export class RecordingStore extends SqliteStore {
  readonly profiles: ProfileRecord[] = [];
  override async upsertProfile(profile: Parameters<SqliteStore['upsertProfile']>[0]): Promise<ProfileRecord> {
    const saved = await super.upsertProfile(profile);
    this.profiles.push(saved);
    return saved;
  }
  override async completeSignIn(c: SignInCompletion): Promise<SignInResult> {
    const out = await super.completeSignIn(c);
    if (out.kind === 'completed' && out.profile) this.profiles.push(out.profile);
    return out;
  }
}

export interface AcsWorld {
  gh: TestGatehouse;
  store: RecordingStore;
  idp: TestSamlIdp;
  /** The IdP that encrypts assertions (same key and entity ID). */
  encryptingIdp: TestSamlIdp;
  plain: SamlSetup;
  encrypted: SamlSetup;
  close(): Promise<void>;
}

export async function startAcsWorld(): Promise<AcsWorld> {
  const store = new RecordingStore(':memory:');
  const gh = await startGatehouse({ store, env: { GATEHOUSE_RATE_LIMITS: 'off' } });
  const idp = await makeIdp();
  const encryptingIdp = await makeIdp({ keys: idp.keys, settings: { isAssertionEncrypted: true } });
  // The first redirect URI is the default one: where unsolicited responses go.
  const plain = await connectSamlIdp(gh, { idp, appRedirectUri: APP });
  const org = await gh.api('POST', '/organizations', {
    name: 'Crypt',
    domain_data: [{ domain: 'crypt.test', state: 'verified' }],
    allow_profiles_outside_organization: true,
  });
  const conn = await gh.api('POST', '/connections', {
    organization_id: org.body.id,
    connection_type: 'OktaSAML',
    name: 'Crypt SAML',
    saml_options: {
      idp_entity_id: idp.entityId,
      idp_sso_url: idp.ssoUrl,
      idp_certificates: [idp.keys.certificate],
      encrypt_assertions: true,
    },
  });
  if (conn.status !== 201) throw new Error(`encrypted connection: ${JSON.stringify(conn.body)}`);
  const spMetadata = await (await gh.app.inject({ url: pathOf(conn.body.saml_options.sp_metadata_url) }))
    .body;
  const encrypted: SamlSetup = {
    idp: encryptingIdp,
    orgId: org.body.id,
    connectionId: conn.body.id,
    acsUrl: conn.body.saml_options.acs_url,
    spEntityId: conn.body.saml_options.sp_entity_id,
    spMetadata,
  };
  return { gh, store, idp, encryptingIdp, plain, encrypted, close: () => gh.close() };
}

function pathOf(url: string): string {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
}

export function setupFor(world: AcsWorld, kind: Kind): SamlSetup {
  return kind.startsWith('encrypted') ? world.encrypted : world.plain;
}

export interface Login {
  /** The binding cookie as a Cookie header. */
  cookie: string;
  relayState: string;
  request: { extract: unknown };
}

/** A solicited sign-in: GET /sso/authorize, the binding cookie and the AuthnRequest the IdP parsed. */
export async function authorize(world: AcsWorld, setup: SamlSetup, state: string): Promise<Login> {
  const url = world.gh.workos.sso.getAuthorizationUrl({
    clientId: world.gh.clientId,
    redirectUri: APP,
    connection: setup.connectionId,
    state,
  });
  const res = await world.gh.app.inject({ method: 'GET', url: pathOf(url) });
  const location = new URL(String(res.headers.location ?? ''));
  if (res.statusCode !== 302 || !location.searchParams.get('SAMLRequest'))
    throw new Error(`authorize did not redirect to the IdP (${res.statusCode} ${location.href})`);
  const setCookie = res.headers['set-cookie'];
  const cookie = (Array.isArray(setCookie) ? setCookie : [setCookie ?? ''])
    .map((line) => line.split(';')[0])
    .join('; ');
  const request = await setup.idp.idp.parseLoginRequest(spFor(setup), 'redirect', {
    query: Object.fromEntries(location.searchParams),
    octetString: location.search.slice(1),
  } as never);
  return { cookie, relayState: location.searchParams.get('RelayState') ?? '', request };
}

/** The IdP's genuine response (base64) of `kind` to `login` (null: unsolicited). */
export async function genuineResponse(world: AcsWorld, kind: Kind, login: Login | null): Promise<string> {
  const setup = setupFor(world, kind);
  const sign =
    kind === 'encrypted' ? 'assertion' : kind === 'encrypted-response' ? 'response' : (kind as 'assertion');
  return samlResponseWith(setup, login?.request ?? null, {
    nameId: USER.nameId,
    attributes: USER.attributes,
    sessionIndex: USER.sessionIndex,
    sign,
  });
}
