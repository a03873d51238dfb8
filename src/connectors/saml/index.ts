import { createPrivateKey, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { type Document, XMLSerializer, type Element as XmlElement } from '@xmldom/xmldom';
import { BrokerError, isBrokerError } from '../../errors/broker-error.ts';
import type { ErrorCode } from '../../errors/catalog.ts';
import type {
  CallbackRequest,
  Connector,
  ConnectorDefinition,
  ConnectorDeps,
  LoginRequest,
  LoginStart,
  SecretSealer,
  UpstreamIdentity,
} from '../connector.ts';
import { checkAssertion, SAML_NS } from './assertion.ts';
import { mapSamlProfile } from './attributes.ts';
import { authnRequestXml, postBindingFields, redirectBindingUrl } from './authn-request.ts';
import {
  missingSamlOptions,
  parseSamlOptions,
  presentSamlOptions,
  refreshSamlMetadata,
  type SamlConfig,
  spUrls,
} from './config.ts';
import { parseCertificate } from './keys.ts';
import { idCounts, trustedKeys, verifyEnvelopedSignature } from './signature.ts';
import { spMetadataXml } from './sp-metadata.ts';
import { childrenNamed, descendantsNamed, parseXml, XmlRejected } from './xml.ts';

/**
 * SAML 2.0 service provider (GenericSAML and the IdP flavours).
 *
 * SP-initiated: an AuthnRequest by HTTP-Redirect (or HTTP-POST when the IdP only offers that), signed when the
 * connection says so, with our state as RelayState (authn-request.ts; our SP metadata: sp-metadata.ts). At the ACS (HTTP-POST), on one parse of the response, in order:
 * 1. no DTD, within the shape caps of `parseXml`, and no SHA-1 in signatures unless `allow_sha1` (the RSA-OAEP
 *    key transport of an EncryptedKey, which commonly uses SHA-1, is not a signature and is not affected);
 * 2. the IdP's Status: a failure status is mapped to its code (error-taxonomy §5.5). It is trusted as the IdP's
 *    when the Response is signed; unsigned, it may only end a sign-in that this browser started (solicited), and
 *    an unsolicited one is refused with a page;
 * 3. the signature gate (signature.ts), in linear time on the parsed document: exactly one assertion, a direct
 *    child of the Response; the Response's signature, else the assertion's (decrypted first when encrypted, with
 *    xml-encryption), by one of the connection's certificates. Nothing past this point runs for a response that
 *    no trusted key signed;
 * 4. the assertion's checks and contents (assertion.ts), read from the verified assertion element only, by fixed
 *    paths of its children: InResponseTo (the Response's and the bearer confirmation's) against our request (or
 *    none, IdP-initiated), the confirmation's and the Conditions' NotBefore / NotOnOrAfter with the skew, the
 *    Audience, the Issuer, every Recipient and the Response's Destination, then the NameID, session index and
 *    attributes;
 * 5. the assertion ID is returned as a one-time key: the flow claims it in the shared store (replay).
 * An unsolicited response that fails before its signature is verified is answered with the
 * `saml_unsolicited_unverified` page: nothing it says reaches the app or the session log.
 * Every failure carries the expected and received values in `detail` for the session log.
 */

const SHA1 = /#(rsa-)?sha1$|#dsa-sha1$|#ecdsa-sha1$/i;
const STATUS_PREFIX = 'urn:oasis:names:tc:SAML:2.0:status:';
const SAMLP_NS = 'urn:oasis:names:tc:SAML:2.0:protocol';
/** An EncryptedAssertion has ~10 elements (EncryptedData, its methods, key info, cipher data, EncryptedKey). */
const MAX_ENCRYPTED_ASSERTION_ELEMENTS = 64;
/** How much of an IdP's StatusMessage the session log keeps. */
const MAX_STATUS_MESSAGE = 512;
/** How many certificates of a failed signature the session log names. */
const MAX_RECEIVED_CERTIFICATES = 4;

type DecryptXml = (xml: string, options: { key: string }) => Promise<string>;
/** xml-encryption (and its own xmldom and xpath), loaded at the first encrypted assertion. */
let decryptXml: Promise<DecryptXml> | undefined;
const loadDecryptXml = (): Promise<DecryptXml> =>
  (decryptXml ??= import('xml-encryption').then((m) => promisify(m.decrypt) as DecryptXml));

interface SavedState {
  requestId: string;
}

/** The IdP's status codes (top level and second level) and message, from the Response. */
function statusOf(response: Element): { top: string; second: string | null; message: string | null } {
  const status = childrenNamed(response, 'Status')[0];
  const top = status ? childrenNamed(status, 'StatusCode')[0] : undefined;
  const second = top ? childrenNamed(top, 'StatusCode')[0] : undefined;
  const message = status ? childrenNamed(status, 'StatusMessage')[0] : undefined;
  return {
    top: (top?.getAttribute('Value') ?? '').replace(STATUS_PREFIX, ''),
    second: second ? (second.getAttribute('Value') ?? '').replace(STATUS_PREFIX, '') : null,
    message: message ? (message.textContent ?? '').slice(0, MAX_STATUS_MESSAGE) : null,
  };
}

/** error-taxonomy §5.5: a SAML failure status → our code. */
function statusCode(top: string, second: string | null): ErrorCode {
  switch (second) {
    case 'AuthnFailed':
      return 'upstream_authn_failed';
    case 'RequestDenied':
      return 'upstream_policy_denied';
    case 'UnknownPrincipal':
      return 'upstream_wrong_account';
    case 'NoPassive':
      return 'upstream_interaction_required';
    case 'NoAuthnContext':
      return 'upstream_authn_requirements_unmet';
    case 'InvalidNameIDPolicy':
    case 'InvalidAttrNameOrValue':
    case 'UnknownAttrProfile':
      return 'upstream_config_rejected';
    case 'RequestUnsupported':
    case 'UnsupportedBinding':
    case 'RequestVersionDeprecated':
    case 'RequestVersionTooHigh':
    case 'RequestVersionTooLow':
      return 'upstream_request_rejected';
    case 'NoAvailableIDP':
    case 'NoSupportedIDP':
    case 'ProxyCountExceeded':
      return 'upstream_proxy_failed';
    case 'TooManyResponses':
    case 'ResourceNotRecognized':
      return 'upstream_temporarily_unavailable';
    case null:
      if (top === 'Requester' || top === 'VersionMismatch') return 'upstream_request_rejected';
      if (top === 'Responder') return 'upstream_temporarily_unavailable';
      return 'upstream_error_unknown';
    default:
      return 'upstream_error_unknown';
  }
}

class SamlConnector implements Connector {
  readonly #config: SamlConfig & { idpEntityId: string; idpSsoUrl: string };
  readonly #connectionType: string;
  readonly #signingKey: string | undefined;
  readonly #decryptionKey: string | undefined;
  /** The IdP's certificates as public keys, parsed at the first response for this version of the connection. */
  #keys: ReturnType<typeof trustedKeys> | undefined;

  constructor(
    config: SamlConfig & { idpEntityId: string; idpSsoUrl: string },
    connectionType: string,
    keys: { signing?: string; decryption?: string },
  ) {
    this.#config = config;
    this.#connectionType = connectionType;
    this.#signingKey = keys.signing;
    this.#decryptionKey = keys.decryption;
  }

  /** The AuthnRequest signing key (redirect binding), parsed at the first sign-in. */
  #signingKeyObject: KeyObject | undefined;

  async startLogin(request: LoginRequest): Promise<LoginStart> {
    // An NCName (xs:ID): letters first; derived from the state, so it is unpredictable and never stored alone.
    const requestId = `_${request
      .secret('saml request id')
      .replace(/[^A-Za-z0-9]/g, '')
      .slice(0, 32)}`;
    try {
      const xml = authnRequestXml({
        id: requestId,
        issueInstant: new Date(),
        destination: this.#config.idpSsoUrl,
        acsUrl: request.callbackUrl,
        issuer: spUrls(request.callbackUrl).entityId,
      });
      if (this.#config.idpSsoBinding === 'post') {
        const fields = postBindingFields(xml, request.state, this.#signingKey);
        return { form: { action: this.#config.idpSsoUrl, fields }, connectorState: { requestId } };
      }
      if (this.#signingKey) this.#signingKeyObject ??= createPrivateKey(this.#signingKey);
      const url = redirectBindingUrl(this.#config.idpSsoUrl, xml, request.state, this.#signingKeyObject);
      return { redirectUrl: url, connectorState: { requestId } };
    } catch (err) {
      throw new BrokerError('upstream_misconfigured', {
        detail: { stage: 'authorization_request', reason: (err as Error).message },
        cause: err,
      });
    }
  }

  async handleCallback(request: CallbackRequest): Promise<UpstreamIdentity> {
    const saved = request.connectorState as Partial<SavedState>;
    const requestId = saved.requestId ?? null;
    const progress = { verified: false };
    try {
      return await this.#validate(request, requestId, progress);
    } catch (err) {
      // Unsolicited and not verified: nothing the response says is used, stored or sent to the app.
      if (requestId === null && !progress.verified) {
        throw new BrokerError('saml_unsolicited_unverified', {
          detail: {
            stage: 'saml_validation',
            failed_check: isBrokerError(err) ? err.code : 'internal',
            signature_verified: false,
          },
          cause: err,
        });
      }
      throw err;
    }
  }

  async #validate(
    request: CallbackRequest,
    requestId: string | null,
    progress: { verified: boolean },
  ): Promise<UpstreamIdentity> {
    const encoded = request.form.SAMLResponse;
    if (!encoded) throw new BrokerError('saml_response_missing');
    const xml = Buffer.from(encoded, 'base64').toString('utf8');

    // 1. Well-formed, no DTD, within the shape caps, no SHA-1 signatures (unless allowed).
    let doc: ReturnType<typeof parseXml>;
    try {
      doc = parseXml(xml);
    } catch (err) {
      throw new BrokerError('saml_malformed', {
        detail: { stage: 'saml_validation', reason: err instanceof XmlRejected ? err.message : String(err) },
      });
    }
    this.#rejectSha1(doc);
    const response = doc.documentElement as unknown as Element;
    if (response.localName !== 'Response' || response.namespaceURI !== SAMLP_NS) {
      throw new BrokerError('saml_malformed', {
        detail: { stage: 'saml_validation', reason: 'the document is not a SAML protocol Response' },
      });
    }
    const ids = idCounts(doc);
    this.#keys ??= trustedKeys(this.#config.idpCertificates);
    const keys = this.#keys;
    const responseSignature = verifyEnvelopedSignature(response as unknown as XmlElement, ids, keys);
    if (!responseSignature.valid && responseSignature.signed) {
      throw this.#signatureInvalid(responseSignature.reason, doc);
    }

    // 2. The IdP's status. Signed, it is the IdP's word; unsigned, it can only end the sign-in of the browser
    // that posted it (the RelayState and the binding cookie were checked), and is logged as unsigned.
    const status = statusOf(response);
    if (status.top && status.top !== 'Success') {
      if (requestId === null && !responseSignature.valid) {
        throw new BrokerError('saml_signature_invalid', {
          detail: { stage: 'saml_status', reason: 'an unsigned failure status' },
        });
      }
      progress.verified = responseSignature.valid;
      throw new BrokerError(statusCode(status.top, status.second), {
        upstream: {
          status: status.top,
          sub_status: status.second,
          status_message: status.message,
          signed: responseSignature.valid,
        },
        detail: { stage: 'saml_status' },
      });
    }

    // 3. The signature gate: one assertion, directly in the Response, signed with the Response or on its own.
    const assertions = descendantsNamed(doc, 'Assertion').filter((e) => e.namespaceURI === SAML_NS);
    const encrypted = descendantsNamed(doc, 'EncryptedAssertion').filter((e) => e.namespaceURI === SAML_NS);
    if (assertions.length + encrypted.length === 0) {
      throw new BrokerError('saml_assertion_missing', {
        detail: { stage: 'saml_validation', reason: 'No Assertion in the response' },
      });
    }
    const assertion = assertions[0] ?? encrypted[0];
    if (assertions.length + encrypted.length > 1 || assertion?.parentNode !== response) {
      throw this.#signatureInvalid(
        assertions.length + encrypted.length > 1
          ? 'multiple assertions'
          : 'the assertion is not a child of the Response',
        doc,
      );
    }
    let decrypted: Document | null = null;
    let read: ReturnType<typeof checkAssertion>;
    try {
      if (encrypted.length === 1) decrypted = await this.#decryptAssertion(encrypted[0] as Element);
      if (!responseSignature.valid) {
        const signed = (decrypted?.documentElement ?? assertion) as unknown as XmlElement;
        const verdict = verifyEnvelopedSignature(signed, decrypted ? idCounts(decrypted) : ids, keys);
        if (!verdict.valid) throw this.#signatureInvalid(verdict.reason, decrypted ?? doc);
      }
      progress.verified = true;
      // 4. Read from the verified assertion only, with the rest of the checks (assertion.ts).
      const verified = (decrypted?.documentElement ?? assertion) as Element;
      read = checkAssertion(response, verified, {
        requestId,
        acsUrl: request.callbackUrl,
        audience: spUrls(request.callbackUrl).entityId,
        idpEntityId: this.#config.idpEntityId,
        clockSkewSeconds: this.#config.clockSkewSeconds,
      });
    } catch (err) {
      // An encrypted assertion that no Response signature covers: whatever failed (the decryption, its padding,
      // the XML inside, the signature inside, or a check of the assertion after it, such as InResponseTo when a
      // victim's assertion is posted to another sign-in), the answer is one and the same. Telling them apart would
      // be the oracle of the known attacks on XML Encryption's CBC mode (Jager and Somorovsky, 2011: an attacker
      // replays a victim's intercepted ciphertext with changes, e.g. blocks spliced into the signature's KeyInfo,
      // which no digest covers, and reads the plaintext from which way each one fails). The session log keeps
      // which check failed. A SHA-1 signature inside is said as such: only a well-formed assertion gets that
      // far, and the IdP's administrator must learn that it is refused.
      if (
        encrypted.length === 1 &&
        !responseSignature.valid &&
        isBrokerError(err) &&
        err.code !== 'saml_sha1_not_allowed'
      ) {
        throw new BrokerError('saml_decrypt_failed', {
          detail: {
            ...(typeof err.detail === 'object' && err.detail !== null ? err.detail : {}),
            stage: 'saml_validation',
            failed_check: err.code,
          },
        });
      }
      throw err;
    }

    // 5. The assertion ID, to be claimed once (for as long as the assertion is valid, with the skew).
    const validUntil = read.validUntil ?? Date.now() + 10 * 60 * 1000;
    const mapped = mapSamlProfile({
      connectionType: this.#connectionType,
      nameId: read.nameId,
      nameIdFormat: read.nameIdFormat,
      attributes: read.attributes,
      attributeMap: this.#config.attributeMap,
    });
    return {
      ...mapped,
      rawAttributes: {
        ...read.attributes,
        name_id: read.nameId,
        name_id_format: read.nameIdFormat,
        session_index: read.sessionIndex,
        issuer: read.issuer,
      },
      oneTimeKey: {
        key: `saml_assertion:${this.#config.idpEntityId}:${read.id}`,
        expiresAt: new Date(validUntil + this.#config.clockSkewSeconds * 1000),
      },
    };
  }

  /**
   * Unless the connection allows SHA-1: refuses a document with a SHA-1 signature or digest method in any of its
   * signatures (not the key transport of an EncryptedKey, which is no signature).
   */
  #rejectSha1(doc: unknown): void {
    if (this.#config.allowSha1) return;
    // Every Signature's SignedInfo: its SignatureMethod, and each Reference with what is inside it (DigestMethod,
    // Transforms): every Algorithm attribute there.
    const algorithms: string[] = [];
    for (const signature of descendantsNamed(doc, 'Signature')) {
      for (const info of childrenNamed(signature, 'SignedInfo')) {
        for (const child of [
          ...childrenNamed(info, 'SignatureMethod'),
          ...childrenNamed(info, 'Reference'),
        ]) {
          for (const element of [child, ...descendantsNamed(child, '*')]) {
            const algorithm = element.getAttribute('Algorithm');
            if (algorithm !== null) algorithms.push(algorithm);
          }
        }
      }
    }
    const weak = algorithms.filter((a) => SHA1.test(a));
    if (weak.length > 0) {
      throw new BrokerError('saml_sha1_not_allowed', {
        detail: {
          stage: 'saml_validation',
          algorithms: weak,
          hint: 'set saml_options.allow_sha1 or configure SHA-256 at the IdP',
        },
      });
    }
  }

  /** The fingerprints of the connection's certificates (what a signature must be made with). */
  #expectedCertificates(): string[] {
    return this.#config.idpCertificates.map((pem) => {
      const p = parseCertificate(pem);
      return p.ok ? p.fingerprint : 'unparseable';
    });
  }

  /** Whether every certificate saved for the connection has expired (the IdP has most likely rotated). */
  #certificatesExpired(): boolean {
    const now = Date.now();
    const parsed = this.#config.idpCertificates.map((pem) => parseCertificate(pem));
    return parsed.length > 0 && parsed.every((p) => p.ok && p.notAfter.getTime() <= now);
  }

  /**
   * A signature the gate refused: why, what the document's signatures carry as certificates (at most a few) and
   * what we trust.
   */
  #signatureInvalid(reason: string, doc: unknown): BrokerError {
    const received = descendantsNamed(doc, 'Signature')
      .flatMap((signature) => descendantsNamed(signature, 'X509Certificate'))
      .slice(0, MAX_RECEIVED_CERTIFICATES)
      .map((c) => parseCertificate(c.textContent ?? ''))
      .map((p) => (p.ok ? p.fingerprint : 'unparseable'));
    return new BrokerError('saml_signature_invalid', {
      detail: {
        stage: 'saml_validation',
        reason: reason ? `Invalid signature: ${reason}` : 'Invalid signature',
        expected_certificates: this.#expectedCertificates(),
        received_certificates: [...new Set(received)],
        ...(this.#certificatesExpired() ? { expected_certificates_expired: true } : {}),
      },
    });
  }

  /**
   * The one EncryptedAssertion, decrypted with the connection's key (xml-encryption, as node-saml does), parsed
   * under the same caps and checked for SHA-1. Small by construction: its element count is capped first.
   */
  async #decryptAssertion(encrypted: Element): Promise<Document> {
    const fail = (reason: string) =>
      new BrokerError('saml_decrypt_failed', { detail: { stage: 'saml_validation', reason } });
    if (!this.#decryptionKey) throw fail('an encrypted assertion, and no decryption key for this connection');
    if (descendantsNamed(encrypted, '*').length > MAX_ENCRYPTED_ASSERTION_ELEMENTS)
      throw fail(`an EncryptedAssertion of more than ${MAX_ENCRYPTED_ASSERTION_ELEMENTS} elements`);
    let plain: string;
    try {
      plain = await (await loadDecryptXml())(
        new XMLSerializer().serializeToString(encrypted as unknown as XmlElement),
        {
          key: this.#decryptionKey,
        },
      );
    } catch (err) {
      throw fail(`Failed to decrypt the EncryptedAssertion: ${(err as Error).message}`);
    }
    let decrypted: Document;
    try {
      decrypted = parseXml(plain);
    } catch (err) {
      throw new BrokerError('saml_malformed', {
        detail: { stage: 'saml_validation', reason: `decrypted assertion: ${(err as Error).message}` },
      });
    }
    const root = decrypted.documentElement as unknown as Element | null;
    if (root?.localName !== 'Assertion' || root.namespaceURI !== SAML_NS) {
      throw fail('the EncryptedAssertion does not hold an Assertion');
    }
    this.#rejectSha1(decrypted);
    return decrypted;
  }
}

export const samlConnector: ConnectorDefinition = {
  protocol: 'saml',
  optionsKey: 'saml_options',
  callbackSegment: 'saml/acs',
  callbackMethod: 'POST',
  parseOptions: parseSamlOptions,
  missingOptions: missingSamlOptions,
  presentOptions: presentSamlOptions,
  refresh: refreshSamlMetadata,
  spMetadata(config: Record<string, unknown>, acsUrl: string): string {
    const c = config as unknown as SamlConfig;
    return spMetadataXml({
      entityId: spUrls(acsUrl).entityId,
      acsUrl,
      signingCertificate: c.signAuthnRequests ? c.spSigning?.certificate : undefined,
      encryptionCertificate: c.encryptAssertions ? c.spEncryption?.certificate : undefined,
    });
  },
  open(
    config: Record<string, unknown>,
    sealer: SecretSealer,
    _deps: ConnectorDeps,
    _cacheKey: string,
    connectionType: string,
  ): Connector {
    const c = config as unknown as SamlConfig;
    if (!c.idpEntityId || !c.idpSsoUrl || !c.idpCertificates?.length)
      throw new TypeError('SAML connection options are incomplete');
    return new SamlConnector({ ...c, idpEntityId: c.idpEntityId, idpSsoUrl: c.idpSsoUrl }, connectionType, {
      ...(c.signAuthnRequests && c.spSigning
        ? { signing: sealer.open(c.spSigning.privateKey, 'sp_signing_key') }
        : {}),
      ...(c.spEncryption ? { decryption: sealer.open(c.spEncryption.privateKey, 'sp_encryption_key') } : {}),
    });
  },
};
