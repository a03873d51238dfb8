import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  hkdfSync,
  type KeyObject,
} from 'node:crypto';
import { randomBuffer } from './random.ts';

/**
 * Authenticated encryption of secrets at rest (IdP client secrets, private keys, PKCE verifiers) with
 * AES-256-GCM and `GATEHOUSE_SECRET_KEY`. The `context` (e.g. the connection ID and field) is bound as
 * additional data, so a ciphertext copied to another row or field does not decrypt.
 *
 * Format: `v1.<iv>.<ciphertext+tag>` (base64url). The version prefix leaves room for key rotation.
 */
export class SecretBox {
  /** A KeyObject, created once: importing a raw key on every call costs more than the encryption itself. */
  readonly #key: KeyObject;
  /** A separate subkey (HKDF) for deriving per-login secrets, so that no key serves two purposes. */
  readonly #derivationKey: KeyObject;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new TypeError('secret key must be 32 bytes');
    this.#key = createSecretKey(key);
    this.#derivationKey = createSecretKey(
      Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'gatehouse derived secrets', 32)),
    );
  }

  /**
   * A secret derived from `input` (HMAC-SHA256 under a subkey of the secret key), as 43 base64url characters.
   * Unpredictable without the key, and the same every time for the same label and input: a login's nonce and
   * PKCE verifier are derived from its upstream state, so they never need to be stored.
   */
  derive(label: string, input: string): string {
    return createHmac('sha256', this.#derivationKey)
      .update(label)
      .update('\0')
      .update(input)
      .digest('base64url');
  }

  encrypt(plaintext: string, context: string): string {
    const iv = randomBuffer(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `v1.${iv.toString('base64url')}.${body.toString('base64url')}`;
  }

  /** @throws Error when the value was not produced by this key and context (tampered, wrong key). */
  decrypt(sealed: string, context: string): string {
    const [version, ivText, bodyText] = sealed.split('.');
    if (version !== 'v1' || !ivText || !bodyText) throw new Error('not a sealed secret');
    const body = Buffer.from(bodyText, 'base64url');
    if (body.length < 16) throw new Error('not a sealed secret');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(ivText, 'base64url'));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(body.subarray(body.length - 16));
    return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString(
      'utf8',
    );
  }
}
