import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Document, Element } from '@xmldom/xmldom';
import { catalog, type ErrorCode } from '../../src/errors/catalog.ts';
import { escapeHtml } from '../../src/http/pages.ts';
import { SqliteStore } from '../../src/storage/sqlite/index.ts';
import type { ProfileRecord, SignInCompletion, SignInResult } from '../../src/storage/store.ts';
import { consentForm, TestBrowser } from '../helpers/browser.ts';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.ts';
import {
  makeIdp,
  type SamlSetup,
  samlResponse,
  samlResponseWith,
  startSamlLogin,
  type TestSamlIdp,
} from '../helpers/saml-idp.ts';
import {
  ASSERTION,
  all,
  child,
  DSIG_NS,
  decode,
  EXC_C14N_WITH_COMMENTS,
  edit,
  encode,
  HMAC_SHA1,
  isoIn,
  one,
  RESPONSE,
  RSA_SHA1,
  resign,
  SAML_NS,
  SAMLP_NS,
  serialize,
  setNameId,
  signedParts,
  stripSignatures,
} from '../helpers/saml-tamper.ts';

/**
 * The SAML attack suite (issue 4): one named test per attack on the ACS. Every attack starts from a real
 * response that a samlify IdP produced for a real SP-initiated sign-in (so the attack is the only difference
 * from a good sign-in), is posted by the browser that started the sign-in (binding cookie and RelayState
 * right), and must be rejected: a 303 to the app with the catalog's error and description and the app's state,
 * no code, nothing from the IdP or a library in what the browser sees, no profile written, and a session log
 * record (found by the ACS response's request ID) that holds the precise reason and the expected-vs-received
 * detail. Controls show that the unmodified (and the re-signed but unmodified) responses are accepted, so each
 * attack fails for its change alone.
 */

const APP = 'http://localhost:3000/callback';
const ADA = 'ada@acme.com';
/** The identity every forged assertion claims. */
const FORGED = 'ceo@acme.com';
const STEP_MS = 20_000;

/** What must never reach the browser: XML, the library's messages, identities, certificates. */
const LEAKS =
  /Assertion|signature|InResponseTo|audience|Recipient|Destination|Issuer|NotOnOrAfter|node-saml|xml-crypto|xmldom|samlify|xmlns|urn:oasis|Invalid|Error:|TypeError|<!ENTITY|DOCTYPE samlp|file:|root:x|X509|CERTIFICATE|ada@|ceo@|idp\.acme\.test|idp\.rogue/i;

/** The session log record as GET /sso/sessions presents it (the fields these tests read). */
interface SessionView {
  id: string;
  connection_id: string;
  outcome: string;
  failed_stage: string | null;
  reason: string | null;
  error: string | null;
  upstream_error: Record<string, unknown> | null;
  detail: Record<string, unknown> | null;
  profile_id: string | null;
  idp_id: string | null;
  email: string | null;
  request_ids: { authorize: string | null; callback: string | null; consent: string | null };
}

/** The SQLite store, recording every profile Gatehouse writes: no forged identity may ever reach one. */
class RecordingStore extends SqliteStore {
  readonly profiles: ProfileRecord[] = [];
  override async upsertProfile(profile: Parameters<SqliteStore['upsertProfile']>[0]): Promise<ProfileRecord> {
    const saved = await super.upsertProfile(profile);
    this.profiles.push(saved);
    return saved;
  }
  /** The callback's one write, with the profile of a sign-in. */
  override async completeSignIn(completion: SignInCompletion): Promise<SignInResult> {
    const result = await super.completeSignIn(completion);
    if (result.kind === 'completed' && result.profile) this.profiles.push(result.profile);
    return result;
  }
}

/** A sign-in started in its own browser: the AuthnRequest the IdP parsed and our RelayState. */
interface Login {
  browser: TestBrowser;
  appState: string;
  relayState: string;
  /** The AuthnRequest as samlify parsed it (what the IdP answers). */
  request: Awaited<ReturnType<typeof startSamlLogin>>['request'];
  /** Its ID: the InResponseTo of the answer. */
  requestId: string;
  setup: SamlSetup;
  gh: TestGatehouse;
}

function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/** A test with a bound on its duration. */
function attack(name: string, fn: () => Promise<void>): void {
  it(name, { timeout: STEP_MS }, fn);
}

describe('SAML attacks at the ACS', { timeout: 300_000 }, () => {
  let gh: TestGatehouse;
  let store: RecordingStore;
  /** A Gatehouse with GATEHOUSE_SAML_MAX_BYTES=20000. */
  let ghSmall: TestGatehouse;
  /** The IdP every connection trusts (one key, one entity ID, like a multi-tenant Okta). */
  let idp: TestSamlIdp;
  /** Acme's connection: the target of the attacks. */
  let acme: SamlSetup;
  /** Another organization's connection at the same IdP, which allows profiles outside its domains. */
  let outside: SamlSetup;
  /** A connection for the SHA-1 toggle. */
  let legacy: SamlSetup;
  /** Acme's connection at the small Gatehouse. */
  let small: SamlSetup;

  async function connect(
    g: TestGatehouse,
    name: string,
    domain: string,
    options: { allowOutside?: boolean; encrypt?: boolean } = {},
  ): Promise<SamlSetup> {
    const org = await g.api('POST', '/organizations', {
      name,
      domain_data: [{ domain, state: 'verified' }],
      ...(options.allowOutside ? { allow_profiles_outside_organization: true } : {}),
    });
    assert.equal(org.status, 201, JSON.stringify(org.body));
    const conn = await g.api('POST', '/connections', {
      organization_id: org.body.id,
      connection_type: 'OktaSAML',
      name: `${name} SAML`,
      saml_options: {
        idp_entity_id: idp.entityId,
        idp_sso_url: idp.ssoUrl,
        idp_certificates: [idp.keys.certificate],
        ...(options.encrypt ? { encrypt_assertions: true } : {}),
      },
    });
    assert.equal(conn.status, 201, JSON.stringify(conn.body));
    assert.equal(conn.body.saml_options.allow_sha1, false);
    assert.equal(conn.body.saml_options.clock_skew_seconds, 180);
    const spMetadata = await (
      await fetch(conn.body.saml_options.sp_metadata_url, { signal: AbortSignal.timeout(STEP_MS) })
    ).text();
    return {
      idp,
      orgId: org.body.id,
      connectionId: conn.body.id,
      acsUrl: conn.body.saml_options.acs_url,
      spEntityId: conn.body.saml_options.sp_entity_id,
      spMetadata,
    };
  }

  before(async () => {
    store = new RecordingStore(':memory:');
    gh = await startGatehouse({ store });
    ghSmall = await startGatehouse({ env: { GATEHOUSE_SAML_MAX_BYTES: '20000' } });
    idp = await makeIdp();
    for (const g of [gh, ghSmall]) {
      const res = await g.api('POST', '/redirect_uris', { uri: APP });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      // The first redirect URI is the default: where unsolicited responses go.
      assert.equal(res.body.default, true);
    }
    acme = await connect(gh, 'Acme', 'acme.com');
    outside = await connect(gh, 'Outside', 'outside.test', { allowOutside: true });
    legacy = await connect(gh, 'Legacy', 'legacy.test', { allowOutside: true });
    small = await connect(ghSmall, 'Acme', 'acme.com');
  });

  after(async () => {
    await gh?.close();
    await ghSmall?.close();
  });

  // ---------- the sign-in and the response ----------

  /** A browser starts an SP-initiated sign-in at `setup` and is sent to the IdP with our AuthnRequest. */
  async function signIn(setup: SamlSetup, appState: string, g: TestGatehouse = gh): Promise<Login> {
    const browser = new TestBrowser();
    const url = g.workos.sso.getAuthorizationUrl({
      clientId: g.clientId,
      redirectUri: APP,
      connection: setup.connectionId,
      state: appState,
    });
    const { request, relayState } = await startSamlLogin(browser, setup, url);
    assert.ok(relayState);
    const requestId = request.extract.request?.id;
    assert.ok(typeof requestId === 'string' && /^_[A-Za-z0-9]{32}$/.test(requestId), String(requestId));
    return { browser, appState, relayState, request, requestId, setup, gh: g };
  }

  /**
   * The IdP's real response to the login's AuthnRequest for `email`: the Assertion signed (what our SP metadata
   * asks for); with `signed: 'response'` only the Response, with `'both'` both.
   */
  async function idpResponse(
    login: Login,
    options: { email?: string; signed?: 'assertion' | 'response' | 'both'; by?: TestSamlIdp } = {},
  ): Promise<string> {
    const signed = options.signed ?? 'assertion';
    const setup = {
      ...login.setup,
      idp: options.by ?? login.setup.idp,
      spMetadata:
        signed === 'response'
          ? login.setup.spMetadata.replace('WantAssertionsSigned="true"', 'WantAssertionsSigned="false"')
          : login.setup.spMetadata,
    };
    const response = await samlResponse(
      setup,
      login.request,
      { email: options.email ?? ADA },
      signed === 'both' ? { wantMessageSigned: true } : {},
    );
    assert.deepEqual(signedParts(response), {
      response: signed !== 'assertion',
      assertion: signed !== 'response',
    });
    return response;
  }

  /** The browser posts `SAMLResponse` to the ACS of `setup` with the RelayState (none: `null`). */
  async function post(
    login: Login,
    response: string,
    relayState: string | null = login.relayState,
    setup: SamlSetup = login.setup,
  ): Promise<Response> {
    return login.browser.request(setup.acsUrl, {
      form: { SAMLResponse: response, ...(relayState === null ? {} : { RelayState: relayState }) },
    });
  }

  // ---------- what the browser and the session log show ----------

  /** `text` without the response's request ID and date, whose characters are random. */
  function withoutRandomIds(res: Response, text: string): string {
    let out = text;
    for (const name of ['x-request-id', 'date']) {
      const value = res.headers.get(name);
      if (value) out = out.replaceAll(value, `<${name}>`);
    }
    return out;
  }

  /** Nothing from the IdP or a library in the headers, Location or body (the app's own state aside). */
  async function assertNoLeak(res: Response, appState: string | null = null): Promise<void> {
    const body = await res.text();
    let visible = withoutRandomIds(
      res,
      `${[...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}\n${decodeURIComponent(
        res.headers.get('location') ?? '',
      )}\n${body}`,
    );
    if (appState) visible = visible.replaceAll(`state=${encodeURIComponent(appState)}`, 'state=<app>');
    if (appState) visible = visible.replaceAll(`state=${appState}`, 'state=<app>');
    assert.doesNotMatch(visible, LEAKS);
  }

  /**
   * The ACS answered with a 303 to the app: exactly the catalog's error and description, the app's state
   * (none for an unsolicited response), our iss; no code; nothing upstream in the headers, Location or body.
   */
  async function assertRejected(
    res: Response,
    code: ErrorCode,
    appState: string | null,
    g: TestGatehouse = gh,
  ): Promise<void> {
    assert.equal(res.status, 303, `expected 303, got ${res.status}`);
    const location = new URL(res.headers.get('location') ?? '');
    assert.equal(`${location.origin}${location.pathname}`, APP);
    assert.deepEqual(Object.fromEntries(location.searchParams), {
      error: catalog[code].wire,
      error_description: catalog[code].description,
      ...(appState === null ? {} : { state: appState }),
      iss: g.url,
    });
    assert.equal([...location.searchParams.keys()].length, appState === null ? 3 : 4);
    assert.equal(location.searchParams.get('code'), null);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    await assertNoLeak(res, appState);
  }

  /** The one session log record of the ACS request. */
  async function sessionOf(res: Response, g: TestGatehouse = gh): Promise<SessionView> {
    const requestId = res.headers.get('x-request-id') ?? '';
    assert.match(requestId, /^req_/);
    const found = await g.api('GET', `/sso/sessions?request_id=${requestId}`);
    assert.equal(found.status, 200);
    assert.equal(found.body.data.length, 1, `one session for ${requestId}`);
    return found.body.data[0] as SessionView;
  }

  /**
   * The session failed with `code` at the validation of the IdP's answer (stage `saml_validation`), without a
   * profile or identity, and its detail is
   * exactly `detail` (plus, when `timed`, `now`: the time of the check).
   */
  async function assertFailedSession(
    res: Response,
    code: ErrorCode,
    detail: Record<string, unknown>,
    options: { timed?: boolean; g?: TestGatehouse; connectionId?: string } = {},
  ): Promise<SessionView> {
    const session = await sessionOf(res, options.g);
    assert.equal(session.outcome, 'failed');
    assert.equal(session.failed_stage, 'saml_validation');
    assert.equal(session.reason, code);
    assert.equal(session.error, catalog[code].wire);
    assert.equal(session.upstream_error, null);
    assert.equal(session.profile_id, null);
    assert.equal(session.idp_id, null);
    assert.equal(session.email, null);
    assert.equal(session.request_ids.callback, res.headers.get('x-request-id'));
    if (options.connectionId) assert.equal(session.connection_id, options.connectionId);
    assert.ok(session.detail);
    if (options.timed) {
      const now = Date.parse(String(session.detail.now));
      assert.ok(
        Math.abs(now - Date.now()) < STEP_MS,
        `detail.now ${session.detail.now} is the time of the check`,
      );
      assert.deepEqual(session.detail, { ...detail, now: session.detail.now });
    } else {
      assert.deepEqual(session.detail, detail);
    }
    assert.ok(!JSON.stringify(session).includes(FORGED), 'the forged identity is not in the session log');
    return session;
  }

  /** The signature failure detail: the reason and the certificates expected and received. */
  function signatureDetail(reason: string, received: string[] = [fingerprint(idp.keys.certificate)]) {
    return {
      stage: 'saml_validation',
      reason,
      expected_certificates: [fingerprint(idp.keys.certificate)],
      received_certificates: received,
    };
  }

  /** Runs `fn` (which posts an attack) and checks that no profile was written meanwhile. */
  async function noProfile<T>(fn: () => Promise<T>): Promise<T> {
    const before = store.profiles.length;
    const out = await fn();
    assert.equal(store.profiles.length, before, 'no profile was written');
    assert.ok(!store.profiles.some((p) => p.idpId === FORGED), 'the forged identity never reached a profile');
    return out;
  }

  /** The consent screen for `email`; returns its HTML. */
  async function assertConsent(res: Response, email: string): Promise<string> {
    assert.equal(
      res.status,
      200,
      `expected the consent screen, got ${res.status} ${res.headers.get('location')}`,
    );
    const html = await res.text();
    consentForm(html);
    assert.ok(html.includes(escapeHtml(email)), `the consent screen names ${email}`);
    return html;
  }

  /** Approves the consent screen and exchanges the code: the profile the app gets. */
  async function approveAndFetchProfile(login: Login, html: string) {
    const approved = await login.browser.request(`${login.gh.url}/sso/consent`, {
      form: { consent_token: consentForm(html).token, decision: 'approve' },
      headers: { origin: login.gh.url },
    });
    assert.equal(approved.status, 303);
    const back = new URL(approved.headers.get('location') ?? '');
    assert.equal(`${back.origin}${back.pathname}`, APP);
    assert.equal(back.searchParams.get('state'), login.appState);
    const { profile } = await login.gh.workos.sso.getProfileAndToken({
      code: back.searchParams.get('code') ?? '',
      clientId: login.gh.clientId,
    });
    return profile;
  }

  // ---------- building forged assertions ----------

  function assertionOf(doc: Document): Element {
    return one(doc, ASSERTION);
  }

  /** A copy of `original` claiming FORGED, without its signature, with ID `id`. */
  function forged(original: Element, id: string): Element {
    const evil = original.cloneNode(true) as Element;
    evil.setAttribute('ID', id);
    for (const sig of all(evil, "./*[local-name()='Signature']")) evil.removeChild(sig);
    setNameId(evil, FORGED);
    return evil;
  }

  /** Moves the signature of `from` into `to`, right after its Issuer. */
  function moveSignature(from: Element, to: Element): Element {
    const sig = child(from, 'Signature');
    from.removeChild(sig);
    to.insertBefore(sig, child(to, 'Issuer').nextSibling);
    return sig;
  }

  // ---------- controls ----------

  describe('controls: the unmodified responses are accepted', () => {
    attack(
      "the IdP's response (assertion signed) is accepted: consent screen, then ada's profile",
      async () => {
        const login = await signIn(acme, 'control-1');
        const res = await post(login, await idpResponse(login));
        const profile = await approveAndFetchProfile(login, await assertConsent(res, ADA));
        assert.equal(profile.idpId, ADA);
        assert.equal(profile.email, ADA);
        assert.equal(profile.connectionId, acme.connectionId);
      },
    );

    attack("the IdP's response signed on the Response only is accepted", async () => {
      const login = await signIn(acme, 'control-2');
      const res = await post(login, await idpResponse(login, { signed: 'response' }));
      await assertConsent(res, ADA);
    });

    attack(
      'the re-signed but unchanged responses are accepted (so a re-signed attack fails for its change)',
      async () => {
        const variants: Array<Array<'assertion' | 'response'>> = [
          ['assertion'],
          ['response'],
          ['assertion', 'response'],
        ];
        for (const targets of variants) {
          const login = await signIn(acme, `control-resign-${targets.join('-')}`);
          const response = resign(await idpResponse(login), idp.keys, targets);
          assert.deepEqual(signedParts(response), {
            response: targets.includes('response'),
            assertion: targets.includes('assertion'),
          });
          await assertConsent(await post(login, response), ADA);
        }
      },
    );
  });

  // ---------- XML signature wrapping ----------

  describe('XML signature wrapping', () => {
    /** Posts a wrapped response and checks the rejection; the forged identity must reach nothing. */
    async function assertWrappingRejected(
      appState: string,
      signed: 'assertion' | 'response',
      wrap: (doc: Document) => void,
      reason: string,
    ): Promise<void> {
      const login = await signIn(acme, appState);
      const original = await idpResponse(login, { signed });
      const wrapped = edit(original, wrap);
      assert.ok(serialize(decode(wrapped)).includes(FORGED), 'the forged assertion is in the response');
      const res = await noProfile(() => post(login, wrapped));
      await assertRejected(res, 'saml_signature_invalid', appState);
      await assertFailedSession(res, 'saml_signature_invalid', signatureDetail(reason));
    }

    attack('XSW1: a forged Response, the signed original appended inside its Signature', async () => {
      await assertWrappingRejected(
        'xsw1',
        'response',
        (doc) => {
          const root = doc.documentElement as Element;
          const copy = root.cloneNode(true) as Element;
          copy.removeChild(child(copy, 'Signature'));
          child(root, 'Signature').appendChild(copy);
          root.setAttribute('ID', '_evil_response');
          setNameId(child(root, 'Assertion'), FORGED);
        },
        'Invalid signature: the Reference does not point at the Response that holds the Signature',
      );
    });

    attack('XSW2: a forged Response, the signed original as a sibling before its Signature', async () => {
      await assertWrappingRejected(
        'xsw2',
        'response',
        (doc) => {
          const root = doc.documentElement as Element;
          const copy = root.cloneNode(true) as Element;
          copy.removeChild(child(copy, 'Signature'));
          root.insertBefore(copy, child(root, 'Signature'));
          root.setAttribute('ID', '_evil_response');
          setNameId(child(root, 'Assertion'), FORGED);
        },
        'Invalid signature: the Reference does not point at the Response that holds the Signature',
      );
    });

    attack('XSW3: a forged assertion as a sibling before the signed one', async () => {
      await assertWrappingRejected(
        'xsw3',
        'assertion',
        (doc) => {
          const original = assertionOf(doc);
          doc.documentElement?.insertBefore(forged(original, '_evil'), original);
        },
        'Invalid signature: multiple assertions',
      );
    });

    attack('XSW4: a forged assertion with the signed one as its child', async () => {
      await assertWrappingRejected(
        'xsw4',
        'assertion',
        (doc) => {
          const original = assertionOf(doc);
          const evil = forged(original, '_evil');
          doc.documentElement?.replaceChild(evil, original);
          evil.appendChild(original);
        },
        'Invalid signature: multiple assertions',
      );
    });

    attack(
      "XSW5: a forged assertion holding the original's signature, the original appended after it",
      async () => {
        await assertWrappingRejected(
          'xsw5',
          'assertion',
          (doc) => {
            const original = assertionOf(doc);
            const evil = forged(original, '_evil');
            moveSignature(original, evil);
            doc.documentElement?.replaceChild(evil, original);
            doc.documentElement?.appendChild(original);
          },
          'Invalid signature: multiple assertions',
        );
      },
    );

    attack(
      "XSW6: a forged assertion holding the original's signature, the original inside that Signature",
      async () => {
        await assertWrappingRejected(
          'xsw6',
          'assertion',
          (doc) => {
            const original = assertionOf(doc);
            const evil = forged(original, '_evil');
            const sig = moveSignature(original, evil);
            doc.documentElement?.replaceChild(evil, original);
            sig.appendChild(original);
          },
          'Invalid signature: multiple assertions',
        );
      },
    );

    attack(
      'XSW7: the signed assertion moved into the Response Extensions, a forged one in its place',
      async () => {
        await assertWrappingRejected(
          'xsw7',
          'assertion',
          (doc) => {
            const root = doc.documentElement as Element;
            const original = assertionOf(doc);
            const extensions = doc.createElementNS(SAMLP_NS, 'samlp:Extensions');
            root.insertBefore(extensions, child(root, 'Status'));
            root.replaceChild(forged(original, '_evil'), original);
            extensions.appendChild(original);
          },
          'Invalid signature: multiple assertions',
        );
      },
    );

    attack(
      "XSW8: a forged assertion holding the original's signature, the original in a ds:Object of it",
      async () => {
        await assertWrappingRejected(
          'xsw8',
          'assertion',
          (doc) => {
            const original = assertionOf(doc);
            const evil = forged(original, '_evil');
            const sig = moveSignature(original, evil);
            const object = doc.createElementNS(DSIG_NS, 'ds:Object');
            sig.appendChild(object);
            doc.documentElement?.replaceChild(evil, original);
            object.appendChild(original);
          },
          'Invalid signature: multiple assertions',
        );
      },
    );

    attack("ID collision: a forged assertion with the signed one's ID, as a sibling before it", async () => {
      await assertWrappingRejected(
        'xsw-id-sibling',
        'assertion',
        (doc) => {
          const original = assertionOf(doc);
          doc.documentElement?.insertBefore(forged(original, original.getAttribute('ID') ?? ''), original);
        },
        'Invalid signature: multiple assertions',
      );
    });

    attack(
      "ID collision: a forged assertion with the signed one's ID and a copy of its signature, the original in Extensions",
      async () => {
        await assertWrappingRejected(
          'xsw-id-extensions',
          'assertion',
          (doc) => {
            const root = doc.documentElement as Element;
            const original = assertionOf(doc);
            const evil = forged(original, original.getAttribute('ID') ?? '');
            evil.insertBefore(
              child(original, 'Signature').cloneNode(true),
              child(evil, 'Issuer').nextSibling,
            );
            const extensions = doc.createElementNS(SAMLP_NS, 'samlp:Extensions');
            root.insertBefore(extensions, child(root, 'Status'));
            root.replaceChild(evil, original);
            extensions.appendChild(original);
          },
          'Invalid signature: multiple assertions',
        );
      },
    );

    attack(
      "ID collision at the Response: a forged twin with the signed Response's ID wraps the original in a ds:Object",
      async () => {
        await assertWrappingRejected(
          'xsw-id-response',
          'response',
          (doc) => {
            const root = doc.documentElement as Element;
            const copy = root.cloneNode(true) as Element;
            copy.removeChild(child(copy, 'Signature'));
            const object = doc.createElementNS(DSIG_NS, 'ds:Object');
            object.appendChild(copy);
            child(root, 'Signature').appendChild(object);
            setNameId(child(root, 'Assertion'), FORGED);
          },
          'Invalid signature: the ID of the Response is carried by more than one element',
        );
      },
    );

    attack("the signed assertion hidden in the forged one's SubjectConfirmationData", async () => {
      await assertWrappingRejected(
        'xsw-subject',
        'assertion',
        (doc) => {
          const original = assertionOf(doc);
          const evil = forged(original, '_evil');
          doc.documentElement?.replaceChild(evil, original);
          one(
            evil,
            "./*[local-name()='Subject']/*[local-name()='SubjectConfirmation']/*[local-name()='SubjectConfirmationData']",
          ).appendChild(original);
        },
        'Invalid signature: multiple assertions',
      );
    });
  });

  // ---------- comment injection ----------

  describe('comment injection in NameID', () => {
    /** The IdP asserts `ceo@acme.com.evil.test` (the attacker's own account); a comment splits the value. */
    const ASSERTED = 'ceo@acme.com.evil.test';

    function injectComment(doc: Document): void {
      const nameId = one(doc, `${ASSERTION}/*[local-name()='Subject']/*[local-name()='NameID']`);
      assert.equal(nameId.textContent, ASSERTED);
      while (nameId.firstChild) nameId.removeChild(nameId.firstChild);
      nameId.appendChild(doc.createTextNode('ceo@acme.com'));
      nameId.appendChild(doc.createComment(''));
      nameId.appendChild(doc.createTextNode('.evil.test'));
    }

    async function assertFullValue(appState: string, canonicalization?: string): Promise<void> {
      const login = await signIn(outside, appState);
      const original = await idpResponse(login, { email: ASSERTED });
      const injected = resign(
        original,
        idp.keys,
        ['assertion'],
        injectComment,
        canonicalization ? { canonicalization } : {},
      );
      assert.ok(
        serialize(decode(injected)).includes('>ceo@acme.com<!---->.evil.test</'),
        'the comment is in the signed response',
      );
      const before = store.profiles.length;
      const res = await post(login, injected);
      // Accepted as the full value (rejecting would be fine too); never as the truncated `ceo@acme.com`.
      const profile = await approveAndFetchProfile(login, await assertConsent(res, ASSERTED));
      assert.equal(profile.idpId, ASSERTED);
      assert.equal(profile.email, ASSERTED);
      assert.deepEqual(
        store.profiles.slice(before).map((p) => p.idpId),
        [ASSERTED],
      );
      assert.ok(!store.profiles.some((p) => p.idpId === FORGED));
    }

    attack(
      'a comment in a signed NameID (exclusive c14n drops it): the full value, not a truncated one',
      async () => {
        await assertFullValue('comment-1');
      },
    );

    attack('a comment in a NameID signed WithComments: the full value, not a truncated one', async () => {
      await assertFullValue('comment-2', EXC_C14N_WITH_COMMENTS);
    });
  });

  // ---------- missing signatures ----------

  describe('missing signatures', () => {
    attack('unsigned response: the Response signature removed (the assertion was never signed)', async () => {
      const login = await signIn(acme, 'unsigned-response');
      const response = edit(await idpResponse(login, { signed: 'response' }), (doc) =>
        stripSignatures(doc, 'response'),
      );
      assert.deepEqual(signedParts(response), { response: false, assertion: false });
      const res = await noProfile(() => post(login, response));
      await assertRejected(res, 'saml_signature_invalid', 'unsigned-response');
      await assertFailedSession(
        res,
        'saml_signature_invalid',
        signatureDetail('Invalid signature: not signed', []),
      );
    });

    attack(
      'unsigned assertion: the Assertion signature removed (the Response was never signed)',
      async () => {
        const login = await signIn(acme, 'unsigned-assertion');
        const response = edit(await idpResponse(login), (doc) => stripSignatures(doc, 'assertion'));
        assert.deepEqual(signedParts(response), { response: false, assertion: false });
        const res = await noProfile(() => post(login, response));
        await assertRejected(res, 'saml_signature_invalid', 'unsigned-assertion');
        await assertFailedSession(
          res,
          'saml_signature_invalid',
          signatureDetail('Invalid signature: not signed', []),
        );
      },
    );

    attack('both signatures removed from a response the IdP signed twice', async () => {
      const login = await signIn(acme, 'unsigned-both');
      const response = edit(await idpResponse(login, { signed: 'both' }), (doc) => stripSignatures(doc));
      const res = await noProfile(() => post(login, response));
      await assertRejected(res, 'saml_signature_invalid', 'unsigned-both');
      await assertFailedSession(
        res,
        'saml_signature_invalid',
        signatureDetail('Invalid signature: not signed', []),
      );
    });

    attack(
      'an unsigned forged assertion next to the signed one, the Response re-signed over both',
      async () => {
        const login = await signIn(acme, 'two-assertions');
        const response = resign(await idpResponse(login), idp.keys, ['response'], (doc) => {
          const original = assertionOf(doc);
          doc.documentElement?.appendChild(forged(original, '_evil'));
        });
        const doc = decode(response);
        assert.equal(all(doc, `${RESPONSE}/*[local-name()='Assertion']`).length, 2);
        assert.equal(signedParts(response).response, true);
        const res = await noProfile(() => post(login, response));
        await assertRejected(res, 'saml_signature_invalid', 'two-assertions');
        await assertFailedSession(
          res,
          'saml_signature_invalid',
          signatureDetail('Invalid signature: multiple assertions'),
        );
      },
    );
  });

  // ---------- an unknown signer ----------

  attack(
    'signature by a certificate the connection does not know (another IdP, same entity ID)',
    async () => {
      const rogue = await makeIdp({ entityId: idp.entityId, ssoUrl: idp.ssoUrl });
      assert.notEqual(fingerprint(rogue.keys.certificate), fingerprint(idp.keys.certificate));
      const login = await signIn(acme, 'rogue');
      const response = await idpResponse(login, { by: rogue, email: FORGED });
      const res = await noProfile(() => post(login, response));
      await assertRejected(res, 'saml_signature_invalid', 'rogue');
      await assertFailedSession(
        res,
        'saml_signature_invalid',
        signatureDetail(
          'Invalid signature: the signature value does not verify with any trusted certificate',
          [fingerprint(rogue.keys.certificate)],
        ),
      );
    },
  );

  attack("key confusion: an HMAC-SHA1 signature keyed with the IdP's public certificate", async () => {
    const login = await signIn(acme, 'hmac');
    const response = resign(
      await idpResponse(login),
      idp.keys,
      ['assertion'],
      (doc) => setNameId(assertionOf(doc), FORGED),
      { hmacKey: idp.keys.certificate },
    );
    assert.ok(serialize(decode(response)).includes(HMAC_SHA1));
    const res = await noProfile(() => post(login, response));
    await assertRejected(res, 'saml_signature_invalid', 'hmac');
    await assertFailedSession(
      res,
      'saml_signature_invalid',
      signatureDetail(
        'Invalid signature: unsupported SignatureMethod http://www.w3.org/2000/09/xmldsig#hmac-sha1',
        [],
      ),
    );
  });

  // ---------- addressed elsewhere (each re-signed, so only that field differs) ----------

  describe('addressed elsewhere', () => {
    attack('wrong Audience (re-signed assertion)', async () => {
      const login = await signIn(acme, 'audience');
      const wrong = 'https://sp.elsewhere.example/saml';
      const response = resign(await idpResponse(login), idp.keys, ['assertion'], (doc) => {
        const audience = one(doc, "//*[local-name()='Audience']");
        audience.textContent = wrong;
      });
      const res = await noProfile(() => post(login, response));
      await assertRejected(res, 'saml_audience_mismatch', 'audience');
      await assertFailedSession(res, 'saml_audience_mismatch', {
        stage: 'saml_validation',
        reason: `SAML assertion audience mismatch. Expected: ${acme.spEntityId} Received: ${wrong}`,
        expected: acme.spEntityId,
        received: [wrong],
      });
    });

    attack('wrong Recipient (re-signed assertion)', async () => {
      const login = await signIn(acme, 'recipient');
      const wrong = `${outside.acsUrl}`;
      const response = resign(await idpResponse(login), idp.keys, ['assertion'], (doc) => {
        one(doc, "//*[local-name()='SubjectConfirmationData']").setAttribute('Recipient', wrong);
      });
      const res = await noProfile(() => post(login, response));
      await assertRejected(res, 'saml_recipient_mismatch', 'recipient');
      await assertFailedSession(res, 'saml_recipient_mismatch', {
        stage: 'saml_validation',
        field: 'Recipient',
        expected: acme.acsUrl,
        received: [wrong],
      });
    });

    attack('wrong Destination (re-signed Response and assertion)', async () => {
      const login = await signIn(acme, 'destination');
      const wrong = outside.acsUrl;
      const response = resign(
        await idpResponse(login, { signed: 'both' }),
        idp.keys,
        ['assertion', 'response'],
        (doc) => (doc.documentElement as Element).setAttribute('Destination', wrong),
      );
      const res = await noProfile(() => post(login, response));
      await assertRejected(res, 'saml_recipient_mismatch', 'destination');
      await assertFailedSession(res, 'saml_recipient_mismatch', {
        stage: 'saml_validation',
        field: 'Destination',
        expected: acme.acsUrl,
        received: wrong,
      });
    });

    attack('wrong Issuer (re-signed Response and assertion)', async () => {
      const login = await signIn(acme, 'issuer');
      const wrong = 'https://idp.rogue.test/saml/metadata';
      const response = resign(
        await idpResponse(login, { signed: 'both' }),
        idp.keys,
        ['assertion', 'response'],
        (doc) => {
          for (const issuer of all(doc, "//*[local-name()='Issuer']")) issuer.textContent = wrong;
        },
      );
      const res = await noProfile(() => post(login, response));
      await assertRejected(res, 'saml_issuer_mismatch', 'issuer');
      await assertFailedSession(res, 'saml_issuer_mismatch', {
        stage: 'saml_validation',
        expected: idp.entityId,
        received: wrong,
      });
    });

    attack(
      "a response for another connection's ACS posted to this one (audience and recipient mismatch)",
      async () => {
        // The same IdP answers Acme's request, but addresses the response to the Outside connection.
        const login = await signIn(acme, 'other-acs');
        const response = await samlResponse(outside, login.request, { email: ADA });
        const doc = decode(response);
        assert.equal(one(doc, "//*[local-name()='Audience']").textContent, outside.spEntityId);
        assert.equal(
          one(doc, "//*[local-name()='SubjectConfirmationData']").getAttribute('Recipient'),
          outside.acsUrl,
        );
        const res = await noProfile(() => post(login, response));
        await assertRejected(res, 'saml_audience_mismatch', 'other-acs');
        await assertFailedSession(
          res,
          'saml_audience_mismatch',
          {
            stage: 'saml_validation',
            reason: `SAML assertion audience mismatch. Expected: ${acme.spEntityId} Received: ${outside.spEntityId}`,
            expected: acme.spEntityId,
            received: [outside.spEntityId],
          },
          { connectionId: acme.connectionId },
        );
      },
    );

    attack(
      'a response whose RelayState belongs to another connection: the callback refuses the mix-up (400 page)',
      async () => {
        // A sign-in at Outside, answered by the IdP for Outside, posted at Acme's ACS.
        const login = await signIn(outside, 'mix-up');
        const response = await idpResponse(login);
        const res = await noProfile(() => post(login, response, login.relayState, acme));
        assert.equal(res.status, 400);
        assert.equal(res.headers.get('location'), null);
        assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
        const html = await res.clone().text();
        assert.ok(html.includes(escapeHtml(catalog.callback_connection_mismatch.description)));
        assert.ok(html.includes('<code>callback_connection_mismatch</code>'));
        await assertNoLeak(res);
        // Nothing was consumed: the sign-in still completes at its own ACS.
        await assertConsent(await post(login, response), ADA);
      },
    );
  });

  // ---------- time ----------

  describe('validity window (skew 180 s)', () => {
    function conditionsOf(response: string): Element {
      return one(decode(response), `${ASSERTION}/*[local-name()='Conditions']`);
    }

    /** The IdP's response to `login` re-signed with these Conditions / SubjectConfirmationData times. */
    async function withTimes(
      login: Login,
      times: { notBefore?: string; notOnOrAfter?: string },
    ): Promise<string> {
      return resign(await idpResponse(login), idp.keys, ['assertion'], (doc) => {
        const conditions = one(doc, `${ASSERTION}/*[local-name()='Conditions']`);
        const confirmation = one(doc, "//*[local-name()='SubjectConfirmationData']");
        if (times.notBefore) conditions.setAttribute('NotBefore', times.notBefore);
        if (times.notOnOrAfter) {
          conditions.setAttribute('NotOnOrAfter', times.notOnOrAfter);
          confirmation.setAttribute('NotOnOrAfter', times.notOnOrAfter);
        }
      });
    }

    attack('expired: NotOnOrAfter 200 s ago (beyond the skew)', async () => {
      const login = await signIn(acme, 'expired');
      const notBefore = isoIn(-500);
      const notOnOrAfter = isoIn(-200);
      const res = await noProfile(async () =>
        post(login, await withTimes(login, { notBefore, notOnOrAfter })),
      );
      await assertRejected(res, 'saml_expired', 'expired');
      await assertFailedSession(
        res,
        'saml_expired',
        {
          stage: 'saml_validation',
          reason: 'No valid subject confirmation found among those available in the SAML assertion',
          not_before: notBefore,
          not_on_or_after: notOnOrAfter,
          clock_skew_seconds: 180,
        },
        { timed: true },
      );
    });

    attack(
      'expired Conditions only: Conditions NotOnOrAfter 200 s ago, the confirmation still valid',
      async () => {
        const login = await signIn(acme, 'expired-conditions');
        const notOnOrAfter = isoIn(-200);
        const response = resign(await idpResponse(login), idp.keys, ['assertion'], (doc) => {
          one(doc, `${ASSERTION}/*[local-name()='Conditions']`).setAttribute('NotOnOrAfter', notOnOrAfter);
        });
        const res = await noProfile(() => post(login, response));
        await assertRejected(res, 'saml_expired', 'expired-conditions');
        await assertFailedSession(
          res,
          'saml_expired',
          {
            stage: 'saml_validation',
            reason: 'SAML assertion expired: clocks skewed too much',
            not_before: conditionsOf(response).getAttribute('NotBefore'),
            not_on_or_after: notOnOrAfter,
            clock_skew_seconds: 180,
          },
          { timed: true },
        );
      },
    );

    attack(
      'expired unsolicited response: the confirmation NotOnOrAfter 200 s ago, the Conditions still valid',
      async () => {
        const browser = new TestBrowser();
        const notOnOrAfter = isoIn(-200);
        const response = resign(
          await samlResponse(acme, null, { email: ADA }),
          idp.keys,
          ['assertion'],
          (doc) => {
            one(doc, "//*[local-name()='SubjectConfirmationData']").setAttribute(
              'NotOnOrAfter',
              notOnOrAfter,
            );
          },
        );
        const res = await noProfile(() => browser.request(acme.acsUrl, { form: { SAMLResponse: response } }));
        await assertRejected(res, 'saml_expired', null);
        await assertFailedSession(
          res,
          'saml_expired',
          {
            stage: 'saml_validation',
            field: 'SubjectConfirmationData',
            not_before: [null],
            not_on_or_after: [notOnOrAfter],
            clock_skew_seconds: 180,
            idp_initiated: true,
          },
          { timed: true },
        );
      },
    );

    attack('not yet valid: NotBefore in 200 s (beyond the skew)', async () => {
      const login = await signIn(acme, 'early');
      const notBefore = isoIn(200);
      const response = await withTimes(login, { notBefore });
      const res = await noProfile(() => post(login, response));
      await assertRejected(res, 'saml_not_yet_valid', 'early');
      await assertFailedSession(
        res,
        'saml_not_yet_valid',
        {
          stage: 'saml_validation',
          reason: 'SAML assertion not yet valid',
          not_before: notBefore,
          not_on_or_after: conditionsOf(response).getAttribute('NotOnOrAfter'),
          clock_skew_seconds: 180,
        },
        { timed: true },
      );
    });

    attack('within the skew: NotOnOrAfter 60 s ago is accepted', async () => {
      const login = await signIn(acme, 'late-ok');
      await assertConsent(
        await post(login, await withTimes(login, { notBefore: isoIn(-400), notOnOrAfter: isoIn(-60) })),
        ADA,
      );
    });

    attack('within the skew: NotBefore in 60 s is accepted', async () => {
      const login = await signIn(acme, 'early-ok');
      await assertConsent(await post(login, await withTimes(login, { notBefore: isoIn(60) })), ADA);
    });
  });

  // ---------- InResponseTo ----------

  describe('InResponseTo', () => {
    attack("a response for sign-in A posted with sign-in B's RelayState (in B's browser)", async () => {
      const a = await signIn(acme, 'sign-in-a');
      const b = await signIn(acme, 'sign-in-b');
      const response = await idpResponse(a);
      const res = await noProfile(() => post(b, response));
      await assertRejected(res, 'saml_in_response_to_mismatch', 'sign-in-b');
      await assertFailedSession(res, 'saml_in_response_to_mismatch', {
        stage: 'saml_validation',
        reason: 'InResponseTo is not valid',
        expected: b.requestId,
        received: a.requestId,
      });
      // Sign-in A is untouched and still completes.
      await assertConsent(await post(a, response), ADA);
    });

    attack(
      "the unsigned Response's InResponseTo rewritten to sign-in B; the signed assertion still names A",
      async () => {
        const a = await signIn(acme, 'rewrite-a');
        const b = await signIn(acme, 'rewrite-b');
        const response = edit(await idpResponse(a), (doc) =>
          (doc.documentElement as Element).setAttribute('InResponseTo', b.requestId),
        );
        const res = await noProfile(() => post(b, response));
        await assertRejected(res, 'saml_in_response_to_mismatch', 'rewrite-b');
        await assertFailedSession(res, 'saml_in_response_to_mismatch', {
          stage: 'saml_validation',
          reason: 'InResponseTo does not match subjectInResponseTo',
          expected: b.requestId,
          received: b.requestId,
        });
      },
    );

    attack('InResponseTo on an unsolicited response (posted without RelayState)', async () => {
      const login = await signIn(acme, 'unsolicited-irt');
      const response = await idpResponse(login);
      const res = await noProfile(() => post(login, response, null));
      await assertRejected(res, 'saml_in_response_to_mismatch', null);
      await assertFailedSession(res, 'saml_in_response_to_mismatch', {
        stage: 'saml_validation',
        reason: 'InResponseTo is not valid',
        expected: null,
        received: login.requestId,
        idp_initiated: true,
      });
    });

    attack(
      "an unsolicited post of a solicited assertion: the Response's InResponseTo removed, the signed SubjectConfirmationData still names a request",
      async () => {
        const login = await signIn(acme, 'unsolicited-subject-irt');
        const original = await idpResponse(login);
        const response = edit(original, (doc) =>
          (doc.documentElement as Element).removeAttribute('InResponseTo'),
        );
        const res = await noProfile(() => post(login, response, null));
        await assertRejected(res, 'saml_in_response_to_mismatch', null);
        await assertFailedSession(res, 'saml_in_response_to_mismatch', {
          stage: 'saml_validation',
          field: 'SubjectConfirmationData InResponseTo',
          expected: null,
          received: [login.requestId],
          idp_initiated: true,
        });
        // Refused before its assertion was claimed: the sign-in it was issued for still completes with it.
        await assertConsent(await post(login, original), ADA);
      },
    );
  });

  // ---------- replay ----------

  describe('replay', () => {
    attack('replayed assertion: an accepted unsolicited response posted again', async () => {
      const browser = new TestBrowser();
      const response = await samlResponse(acme, null, { email: ADA });
      const first = await browser.request(acme.acsUrl, { form: { SAMLResponse: response } });
      await assertConsent(first, ADA);
      const replayer = new TestBrowser();
      const res = await noProfile(() => replayer.request(acme.acsUrl, { form: { SAMLResponse: response } }));
      await assertRejected(res, 'saml_replayed', null);
      const assertionId = one(decode(response), ASSERTION).getAttribute('ID');
      await assertFailedSession(res, 'saml_replayed', {
        stage: 'saml_validation',
        assertion: `saml_assertion:${idp.entityId}:${assertionId}`,
        idp_initiated: true,
      });
    });

    attack(
      "replayed assertion: an accepted response posted again with a fresh sign-in's RelayState",
      async () => {
        // An IdP whose assertions do not repeat InResponseTo (only the unsigned Response carries it): once the
        // Response's InResponseTo names the fresh sign-in, only the replay cache stands in the way.
        const first = await signIn(acme, 'replay-first');
        const response = resign(await idpResponse(first), idp.keys, ['assertion'], (doc) =>
          one(doc, "//*[local-name()='SubjectConfirmationData']").removeAttribute('InResponseTo'),
        );
        await assertConsent(await post(first, response), ADA);

        const fresh = await signIn(acme, 'replay-fresh');
        const replayed = edit(response, (doc) =>
          (doc.documentElement as Element).setAttribute('InResponseTo', fresh.requestId),
        );
        const res = await noProfile(() => post(fresh, replayed));
        await assertRejected(res, 'saml_replayed', 'replay-fresh');
        const assertionId = one(decode(response), ASSERTION).getAttribute('ID');
        await assertFailedSession(res, 'saml_replayed', {
          stage: 'saml_validation',
          assertion: `saml_assertion:${idp.entityId}:${assertionId}`,
        });
      },
    );

    attack(
      "replayed response as the IdP sent it, with a fresh sign-in's RelayState: InResponseTo refuses it first",
      async () => {
        const first = await signIn(acme, 'replay-as-is');
        const response = await idpResponse(first);
        await assertConsent(await post(first, response), ADA);
        const fresh = await signIn(acme, 'replay-as-is-fresh');
        const res = await noProfile(() => post(fresh, response));
        await assertRejected(res, 'saml_in_response_to_mismatch', 'replay-as-is-fresh');
        await assertFailedSession(res, 'saml_in_response_to_mismatch', {
          stage: 'saml_validation',
          reason: 'InResponseTo is not valid',
          expected: fresh.requestId,
          received: first.requestId,
        });
      },
    );
  });

  // ---------- SHA-1 ----------

  describe('SHA-1', () => {
    let sha1Idp: TestSamlIdp;
    before(async () => {
      // The same IdP (entity ID and key), configured to sign with RSA-SHA1 and SHA-1 digests.
      sha1Idp = await makeIdp({
        entityId: idp.entityId,
        ssoUrl: idp.ssoUrl,
        keys: idp.keys,
        settings: { requestSignatureAlgorithm: RSA_SHA1 },
      });
    });

    attack('a SHA-1 signature while allow_sha1 is false: saml_sha1_not_allowed', async () => {
      const login = await signIn(acme, 'sha1');
      const response = await idpResponse(login, { by: sha1Idp });
      assert.ok(serialize(decode(response)).includes(RSA_SHA1));
      const res = await noProfile(() => post(login, response));
      await assertRejected(res, 'saml_sha1_not_allowed', 'sha1');
      await assertFailedSession(res, 'saml_sha1_not_allowed', {
        stage: 'saml_validation',
        algorithms: [RSA_SHA1, 'http://www.w3.org/2000/09/xmldsig#sha1'],
        hint: 'set saml_options.allow_sha1 or configure SHA-256 at the IdP',
      });
    });

    attack(
      'a SHA-1 signature inside an encrypted assertion while allow_sha1 is false: saml_sha1_not_allowed once decrypted',
      async () => {
        const secret = await connect(gh, 'Secret', 'secret.test', { encrypt: true });
        assert.match(secret.spMetadata, /use="encryption"/);
        const encryptingSha1Idp = await makeIdp({
          entityId: idp.entityId,
          ssoUrl: idp.ssoUrl,
          keys: idp.keys,
          settings: { requestSignatureAlgorithm: RSA_SHA1, isAssertionEncrypted: true },
        });
        const login = await signIn(secret, 'sha1-encrypted');
        const response = await samlResponse({ ...secret, idp: encryptingSha1Idp }, login.request, {
          email: 'ada@secret.test',
        });
        const xml = serialize(decode(response));
        // Nothing to see before decryption: no signature in clear, only the key transport's SHA-1 digest.
        assert.ok(xml.includes('EncryptedAssertion') && !xml.includes(RSA_SHA1), xml.slice(0, 400));
        const res = await noProfile(() => post(login, response));
        await assertRejected(res, 'saml_sha1_not_allowed', 'sha1-encrypted');
        await assertFailedSession(res, 'saml_sha1_not_allowed', {
          stage: 'saml_validation',
          algorithms: [RSA_SHA1, 'http://www.w3.org/2000/09/xmldsig#sha1'],
          hint: 'set saml_options.allow_sha1 or configure SHA-256 at the IdP',
        });
      },
    );

    attack(
      'CBC padding oracle (Jager-Somorovsky): a victim’s encrypted assertion replayed with changed ciphertext blocks fails one and the same way, whichever check failed',
      async () => {
        const secret = await connect(gh, 'Vault', 'vault.test', { encrypt: true });
        const encryptingIdp = await makeIdp({
          entityId: idp.entityId,
          ssoUrl: idp.ssoUrl,
          keys: idp.keys,
          settings: { isAssertionEncrypted: true },
        });
        /** A fresh sign-in with the IdP's encrypted assertion, its CipherValue's bytes changed by `change`. */
        const tampered = async (state: string, change: (bytes: Buffer) => void) => {
          const login = await signIn(secret, state);
          const doc = decode(
            await samlResponse({ ...secret, idp: encryptingIdp }, login.request, { email: 'ada@vault.test' }),
          );
          // The last CipherValue is the assertion's (the first is the EncryptedKey's).
          const values = doc.getElementsByTagNameNS('http://www.w3.org/2001/04/xmlenc#', 'CipherValue');
          const value = values.item(values.length - 1);
          assert.ok(value && values.length === 2);
          const bytes = Buffer.from(value.textContent ?? '', 'base64');
          change(bytes);
          value.textContent = bytes.toString('base64');
          return { login, res: await noProfile(() => post(login, encode(doc))) };
        };
        const checks = new Set<unknown>();
        const variants: Array<[string, (b: Buffer) => void]> = [
          // The last block's padding broken: the decryption fails.
          ['padding', (b) => b.writeUInt8(b.readUInt8(b.length - 1) ^ 0xff, b.length - 1)],
          // The IV changed: the first block's plaintext changes (`<saml:Assertion` → garbage): not XML.
          ['first block', (b) => b.writeUInt8(b.readUInt8(0) ^ 0x01, 0)],
          // One bit deep inside: two blocks garbled inside the XML, which may still parse: the signature fails.
          ['inner bit', (b) => b.writeUInt8(b.readUInt8(200) ^ 0x01, 200)],
        ];
        for (const [name, change] of variants) {
          const { res } = await tampered(`cbc-${name.replace(' ', '-')}`, change);
          await assertRejected(res, 'saml_decrypt_failed', `cbc-${name.replace(' ', '-')}`);
          const session = await sessionOf(res);
          checks.add(session.detail?.failed_check ?? 'saml_decrypt_failed');
        }
        // The victim's ciphertext unchanged (or changed only where no digest reaches, e.g. blocks spliced into the
        // signature's KeyInfo), posted to the attacker's own sign-in: it decrypts and verifies, and a later check
        // (InResponseTo) fails: the same answer again.
        const victim = await signIn(secret, 'cbc-victim');
        const intercepted = await samlResponse({ ...secret, idp: encryptingIdp }, victim.request, {
          email: 'ada@vault.test',
        });
        const attacker = await signIn(secret, 'cbc-attacker');
        const replayed = await noProfile(() => post(attacker, intercepted));
        await assertRejected(replayed, 'saml_decrypt_failed', 'cbc-attacker');
        const replayedSession = await sessionOf(replayed);
        checks.add(replayedSession.detail?.failed_check);
        assert.notEqual(replayedSession.detail?.failed_check, undefined);
        // The session log tells the operator which check failed; the wire never did.
        assert.ok(checks.size >= 3, `failed checks: ${[...checks].join(', ')}`);
      },
    );

    attack('a SHA-1 signature once allow_sha1 is true (PUT /connections/{id}): accepted', async () => {
      const updated = await gh.api('PUT', `/connections/${legacy.connectionId}`, {
        saml_options: { allow_sha1: true },
      });
      assert.equal(updated.status, 200, JSON.stringify(updated.body));
      assert.equal(updated.body.saml_options.allow_sha1, true);
      const login = await signIn(legacy, 'sha1-allowed');
      const response = await idpResponse(login, { by: sha1Idp });
      await assertConsent(await post(login, response), ADA);
    });
  });

  // ---------- DTDs and size ----------

  describe('DTDs, entities and size', () => {
    /** The real response with a DOCTYPE declaring `entities` before it, and `&ref;` in place of the NameID. */
    function withDoctype(response: string, entities: string, ref: string): string {
      const xml = serialize(decode(response)).replace('>ada@acme.com<', `>&${ref};<`);
      return encode(`<?xml version="1.0"?>\n<!DOCTYPE samlp:Response [\n${entities}\n]>\n${xml}`);
    }

    attack('entity expansion ("billion laughs"): saml_malformed, fast', async () => {
      const login = await signIn(acme, 'laughs');
      const entities = [
        '<!ENTITY lol "lol">',
        ...Array.from(
          { length: 9 },
          (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i === 0 ? '' : i};`.repeat(10)}">`,
        ),
      ].join('\n');
      const response = withDoctype(await idpResponse(login), entities, 'lol9');
      const started = performance.now();
      const res = await noProfile(() => post(login, response));
      assert.ok(performance.now() - started < 2000, 'rejected in bounded time');
      await assertRejected(res, 'saml_malformed', 'laughs');
      await assertFailedSession(res, 'saml_malformed', {
        stage: 'saml_validation',
        reason: 'XML with a DOCTYPE or entity declaration',
      });
    });

    attack('external entity (SYSTEM "file:///etc/passwd"): saml_malformed, nothing read', async () => {
      const login = await signIn(acme, 'xxe');
      const response = withDoctype(
        await idpResponse(login),
        '<!ENTITY xxe SYSTEM "file:///etc/passwd">',
        'xxe',
      );
      const started = performance.now();
      const res = await noProfile(() => post(login, response));
      assert.ok(performance.now() - started < 2000, 'rejected in bounded time');
      await assertRejected(res, 'saml_malformed', 'xxe');
      const session = await assertFailedSession(res, 'saml_malformed', {
        stage: 'saml_validation',
        reason: 'XML with a DOCTYPE or entity declaration',
      });
      assert.ok(!JSON.stringify(session).includes('root:'), 'no file content in the session log');
    });

    attack(
      'oversized POST (over GATEHOUSE_SAML_MAX_BYTES=20000): HTTP 413 page, nothing parsed',
      async () => {
        const login = await signIn(small, 'oversized', ghSmall);
        const response = await idpResponse(login);
        const padded = edit(response, (doc) => {
          const statement = doc.createElementNS(SAML_NS, 'saml:AttributeStatement');
          const attribute = doc.createElementNS(SAML_NS, 'saml:Attribute');
          attribute.setAttribute('Name', 'padding');
          const value = doc.createElementNS(SAML_NS, 'saml:AttributeValue');
          value.appendChild(doc.createTextNode('x'.repeat(20_000)));
          attribute.appendChild(value);
          statement.appendChild(attribute);
          assertionOf(doc).appendChild(statement);
        });
        const body = new URLSearchParams({ SAMLResponse: padded, RelayState: login.relayState }).toString();
        assert.ok(body.length > 20_000);
        const res = await post(login, padded);
        assert.equal(res.status, 413);
        assert.equal(res.headers.get('location'), null);
        assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
        const html = await res.clone().text();
        assert.ok(html.includes(escapeHtml(catalog.request_body_too_large.description)), html);
        assert.ok(html.includes('<code>request_body_too_large</code>'));
        await assertNoLeak(res);
        // Nothing was parsed: no session record names this request, and the sign-in is untouched.
        const found = await ghSmall.api('GET', `/sso/sessions?request_id=${res.headers.get('x-request-id')}`);
        assert.equal(found.status, 200);
        assert.deepEqual(found.body.data, []);
        await assertConsent(await post(login, response), ADA);
      },
    );

    attack('elements nested 20 000 deep: saml_malformed before parsing', async () => {
      const login = await signIn(acme, 'deep');
      const xml = `<samlp:Response xmlns:samlp="${SAMLP_NS}">${'<a>'.repeat(20_000)}${'</a>'.repeat(20_000)}</samlp:Response>`;
      const res = await noProfile(() => post(login, Buffer.from(xml).toString('base64')));
      await assertRejected(res, 'saml_malformed', 'deep');
      await assertFailedSession(res, 'saml_malformed', {
        stage: 'saml_validation',
        reason: 'XML nested deeper than 64 elements',
      });
    });
    // Hostile shapes and their CPU cost before the signature is checked: saml-hostile-shapes.test.ts.
  });

  // ---------- reading only what the signature covers (issue 14) ----------

  /**
   * Since issue 14 the ACS reads the verified assertion itself (src/connectors/saml/assertion.ts) instead of
   * handing it to a library: these attacks aim at that reader. What the signature does not cover (the rest of the
   * Response when only the assertion is signed, and anything inside a ds:Signature, which the enveloped transform
   * leaves out of the digest) must never be read, and the text read must be the canonical text.
   */
  describe('reading only what the signature covers', () => {
    const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';
    const HOLDER_OF_KEY = 'urn:oasis:names:tc:SAML:2.0:cm:holder-of-key';
    const SUBJECT_CONFIRMATION_DATA = `${ASSERTION}/*[local-name()='Subject']/*[local-name()='SubjectConfirmation']/*[local-name()='SubjectConfirmationData']`;

    /** A ds:Object appended to the assertion's Signature (not covered by its digest), holding `content`. */
    function insideSignature(doc: Document, content: Element): void {
      const object = doc.createElementNS(DSIG_NS, 'ds:Object');
      object.appendChild(content);
      child(assertionOf(doc), 'Signature').appendChild(object);
    }

    attack(
      'Response and assertion signed; the assertion swapped for one the IdP signed for another user: the Response digest refuses it',
      async () => {
        const login = await signIn(acme, 'swap');
        const original = await idpResponse(login, { signed: 'both' });
        const other = assertionOf(decode(await idpResponse(login, { signed: 'both', email: FORGED })));
        const swapped = edit(original, (doc) => {
          doc.documentElement?.replaceChild(other.cloneNode(true), assertionOf(doc));
        });
        // The swapped-in assertion's own signature is valid: only the Response's catches the swap.
        assert.ok(serialize(decode(swapped)).includes(FORGED));
        const res = await noProfile(() => post(login, swapped));
        await assertRejected(res, 'saml_signature_invalid', 'swap');
        await assertFailedSession(
          res,
          'saml_signature_invalid',
          signatureDetail('Invalid signature: the digest of the Response does not match its signature'),
        );
      },
    );

    attack(
      "the Response's valid signature moved into a forged assertion: its Reference names the Response, not the assertion",
      async () => {
        const login = await signIn(acme, 'moved-reference');
        const response = edit(await idpResponse(login, { signed: 'response' }), (doc) => {
          const root = doc.documentElement as Element;
          const evil = forged(assertionOf(doc), '_evil');
          root.replaceChild(evil, assertionOf(doc));
          moveSignature(root, evil);
        });
        const res = await noProfile(() => post(login, response));
        await assertRejected(res, 'saml_signature_invalid', 'moved-reference');
        await assertFailedSession(
          res,
          'saml_signature_invalid',
          signatureDetail(
            'Invalid signature: the Reference does not point at the Assertion that holds the Signature',
          ),
        );
      },
    );

    attack(
      "the Response's valid signature moved into a forged assertion that takes the Response's ID: a duplicate ID",
      async () => {
        const login = await signIn(acme, 'moved-reference-id');
        const response = edit(await idpResponse(login, { signed: 'response' }), (doc) => {
          const root = doc.documentElement as Element;
          const evil = forged(assertionOf(doc), root.getAttribute('ID') ?? '');
          root.replaceChild(evil, assertionOf(doc));
          moveSignature(root, evil);
        });
        const res = await noProfile(() => post(login, response));
        await assertRejected(res, 'saml_signature_invalid', 'moved-reference-id');
        await assertFailedSession(
          res,
          'saml_signature_invalid',
          signatureDetail('Invalid signature: the ID of the Assertion is carried by more than one element'),
        );
      },
    );

    attack(
      "duplicate ID under the other names of an ID (Id, id): an element in Extensions carrying the signed assertion's ID",
      async () => {
        for (const name of ['Id', 'id']) {
          const login = await signIn(acme, `dup-${name}`);
          const response = edit(await idpResponse(login), (doc) => {
            const root = doc.documentElement as Element;
            const extensions = doc.createElementNS(SAMLP_NS, 'samlp:Extensions');
            const twin = doc.createElementNS(SAML_NS, 'saml:Advice');
            twin.setAttribute(name, assertionOf(doc).getAttribute('ID') ?? '');
            extensions.appendChild(twin);
            root.insertBefore(extensions, child(root, 'Status'));
          });
          const res = await noProfile(() => post(login, response));
          await assertRejected(res, 'saml_signature_invalid', `dup-${name}`);
          await assertFailedSession(
            res,
            'saml_signature_invalid',
            signatureDetail('Invalid signature: the ID of the Assertion is carried by more than one element'),
          );
        }
      },
    );

    attack(
      "a forged Subject naming ceo@ inside the assertion's Signature (ds:Object, not covered by the digest): the signed NameID is read",
      async () => {
        const login = await signIn(acme, 'subject-in-signature');
        const response = edit(await idpResponse(login), (doc) => {
          const subject = child(assertionOf(doc), 'Subject').cloneNode(true) as Element;
          const nameId = child(subject, 'NameID');
          while (nameId.firstChild) nameId.removeChild(nameId.firstChild);
          nameId.appendChild(doc.createTextNode(FORGED));
          insideSignature(doc, subject);
        });
        assert.ok(serialize(decode(response)).includes(FORGED));
        const before = store.profiles.length;
        const profile = await approveAndFetchProfile(
          login,
          await assertConsent(await post(login, response), ADA),
        );
        assert.equal(profile.idpId, ADA);
        assert.deepEqual(
          store.profiles.slice(before).map((p) => p.idpId),
          [ADA],
        );
      },
    );

    attack(
      "Conditions outside the signed element: our Audience in a forged Conditions inside the assertion's Signature and beside the assertion; the signed one names another SP",
      async () => {
        const login = await signIn(acme, 'conditions-outside');
        // The IdP's real response for the Outside connection (assertion signed), posted at Acme's ACS.
        const response = edit(await samlResponse(outside, login.request, { email: ADA }), (doc) => {
          const conditions = child(assertionOf(doc), 'Conditions');
          const ours = conditions.cloneNode(true) as Element;
          one(ours, ".//*[local-name()='Audience']").textContent = acme.spEntityId;
          insideSignature(doc, ours);
          doc.documentElement?.insertBefore(ours.cloneNode(true), assertionOf(doc));
        });
        const res = await noProfile(() => post(login, response));
        await assertRejected(res, 'saml_audience_mismatch', 'conditions-outside');
        await assertFailedSession(res, 'saml_audience_mismatch', {
          stage: 'saml_validation',
          reason: `SAML assertion audience mismatch. Expected: ${acme.spEntityId} Received: ${outside.spEntityId}`,
          expected: acme.spEntityId,
          received: [outside.spEntityId],
        });
      },
    );

    attack(
      "SubjectConfirmationData outside the signed element: the signed one expired, a fresh one inside the assertion's Signature",
      async () => {
        const login = await signIn(acme, 'confirmation-outside');
        const expired = isoIn(-200);
        const signed = resign(await idpResponse(login), idp.keys, ['assertion'], (doc) =>
          one(doc, SUBJECT_CONFIRMATION_DATA).setAttribute('NotOnOrAfter', expired),
        );
        const response = edit(signed, (doc) => {
          const subject = doc.createElementNS(SAML_NS, 'saml:Subject');
          const confirmation = doc.createElementNS(SAML_NS, 'saml:SubjectConfirmation');
          confirmation.setAttribute('Method', BEARER);
          const data = doc.createElementNS(SAML_NS, 'saml:SubjectConfirmationData');
          data.setAttribute('Recipient', acme.acsUrl);
          data.setAttribute('InResponseTo', login.requestId);
          data.setAttribute('NotOnOrAfter', isoIn(300));
          confirmation.appendChild(data);
          subject.appendChild(confirmation);
          insideSignature(doc, subject);
        });
        const conditions = one(decode(response), `${ASSERTION}/*[local-name()='Conditions']`);
        const res = await noProfile(() => post(login, response));
        await assertRejected(res, 'saml_expired', 'confirmation-outside');
        await assertFailedSession(
          res,
          'saml_expired',
          {
            stage: 'saml_validation',
            reason: 'No valid subject confirmation found among those available in the SAML assertion',
            not_before: conditions.getAttribute('NotBefore'),
            not_on_or_after: conditions.getAttribute('NotOnOrAfter'),
            clock_skew_seconds: 180,
          },
          { timed: true },
        );
      },
    );

    attack(
      'a holder-of-key confirmation, not bearer (re-signed assertion): saml_recipient_mismatch',
      async () => {
        const login = await signIn(acme, 'holder-of-key');
        const response = resign(await idpResponse(login), idp.keys, ['assertion'], (doc) =>
          one(
            doc,
            `${ASSERTION}/*[local-name()='Subject']/*[local-name()='SubjectConfirmation']`,
          ).setAttribute('Method', HOLDER_OF_KEY),
        );
        const res = await noProfile(() => post(login, response));
        await assertRejected(res, 'saml_recipient_mismatch', 'holder-of-key');
        await assertFailedSession(res, 'saml_recipient_mismatch', {
          stage: 'saml_validation',
          field: 'SubjectConfirmation Method',
          expected: BEARER,
          received: [HOLDER_OF_KEY],
        });
      },
    );

    attack(
      'two Subjects in the signed assertion, the second naming ceo@ (re-signed): saml_malformed, neither is read',
      async () => {
        const login = await signIn(acme, 'two-subjects');
        const response = resign(await idpResponse(login), idp.keys, ['assertion'], (doc) => {
          const subject = child(assertionOf(doc), 'Subject');
          const second = subject.cloneNode(true) as Element;
          const nameId = child(second, 'NameID');
          while (nameId.firstChild) nameId.removeChild(nameId.firstChild);
          nameId.appendChild(doc.createTextNode(FORGED));
          assertionOf(doc).insertBefore(second, subject.nextSibling);
        });
        const res = await noProfile(() => post(login, response));
        await assertRejected(res, 'saml_malformed', 'two-subjects');
        await assertFailedSession(res, 'saml_malformed', {
          stage: 'saml_validation',
          reason: 'the Assertion has 2 Subject elements, not one',
        });
      },
    );

    attack('two Conditions in the signed assertion (re-signed): saml_malformed', async () => {
      const login = await signIn(acme, 'two-conditions');
      const response = resign(await idpResponse(login), idp.keys, ['assertion'], (doc) => {
        const conditions = child(assertionOf(doc), 'Conditions');
        assertionOf(doc).insertBefore(conditions.cloneNode(true), conditions);
      });
      const res = await noProfile(() => post(login, response));
      await assertRejected(res, 'saml_malformed', 'two-conditions');
      await assertFailedSession(res, 'saml_malformed', {
        stage: 'saml_validation',
        reason: 'Unable to process multiple conditions in SAML assertion',
      });
    });

    attack(
      "a solicited sign-in whose Response has no InResponseTo (the IdP's attribute removed)",
      async () => {
        const login = await signIn(acme, 'no-response-irt');
        const response = edit(await idpResponse(login), (doc) =>
          (doc.documentElement as Element).removeAttribute('InResponseTo'),
        );
        const res = await noProfile(() => post(login, response));
        await assertRejected(res, 'saml_in_response_to_mismatch', 'no-response-irt');
        await assertFailedSession(res, 'saml_in_response_to_mismatch', {
          stage: 'saml_validation',
          reason: 'InResponseTo is missing from response',
          expected: login.requestId,
          received: null,
        });
      },
    );

    attack(
      'a comment in a signed attribute value (email ceo@acme.com<!---->.evil.test): the full value, not a truncated one',
      async () => {
        const ASSERTED = 'ceo@acme.com.evil.test';
        for (const canonicalization of [undefined, EXC_C14N_WITH_COMMENTS]) {
          const login = await signIn(outside, `attribute-comment-${canonicalization ? 'with' : 'without'}`);
          const original = await samlResponseWith(login.setup, login.request, {
            nameId: '00u1opaque',
            nameIdFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
            attributes: { email: ASSERTED },
          });
          const injected = resign(
            original,
            idp.keys,
            ['assertion'],
            (doc) => {
              const value = one(doc, `${ASSERTION}//*[local-name()='AttributeValue']`);
              assert.equal(value.textContent, ASSERTED);
              while (value.firstChild) value.removeChild(value.firstChild);
              value.appendChild(doc.createTextNode('ceo@acme.com'));
              value.appendChild(doc.createComment(''));
              value.appendChild(doc.createTextNode('.evil.test'));
            },
            canonicalization ? { canonicalization } : {},
          );
          assert.ok(serialize(decode(injected)).includes('>ceo@acme.com<!---->.evil.test</'));
          const profile = await approveAndFetchProfile(
            login,
            await assertConsent(await post(login, injected), ASSERTED),
          );
          assert.equal(profile.idpId, '00u1opaque');
          assert.equal(profile.email, ASSERTED);
          assert.equal(profile.rawAttributes?.email, ASSERTED);
        }
      },
    );
  });

  /** The forged identity never reached a profile, over the whole suite. */
  after(() => {
    assert.ok(store.profiles.length > 0);
    assert.deepEqual(
      store.profiles.filter((p) => p.idpId === FORGED),
      [],
    );
  });
});
