import { generateKeyPair, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import type forge from 'node-forge';

/**
 * The service provider's own key pairs (one for signing AuthnRequests, one for receiving encrypted assertions),
 * generated per connection. IdPs take the public half as a self-signed X.509 certificate in our SP metadata; it
 * is valid for 10 years because rotating it is a connection change, not an expiry. Node's crypto parses
 * certificates; node-forge only builds the self-signed one (Node cannot issue certificates), and is loaded then:
 * a server whose connections never turn on signing or encryption never loads it.
 */

export interface SpKeyPair {
  /** PKCS#8 PEM. A secret: sealed before it is stored. */
  privateKey: string;
  /** X.509 PEM. */
  certificate: string;
}

export async function generateSpKeyPair(commonName: string): Promise<SpKeyPair> {
  // Node generates the key (natively, off the main thread); forge only builds and signs the certificate.
  const { privateKey, publicKey } = await promisify(generateKeyPair)('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const { default: forge } = await import('node-forge');
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  cert.serialNumber = `01${forge.util.bytesToHex(forge.random.getBytesSync(15))}`;
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 10 * 365 * 24 * 60 * 60 * 1000);
  const subject = [{ name: 'commonName', value: commonName.slice(0, 64) }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.sign(forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { privateKey, certificate: forge.pki.certificateToPem(cert) };
}

/** The base64 body of a PEM certificate (what goes inside <ds:X509Certificate>). */
export function certificateBody(pem: string): string {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}

export interface ParsedCertificate {
  pem: string;
  /** SHA-256 fingerprint, colon-separated upper-case hex, as IdP consoles show it. */
  fingerprint: string;
  notAfter: Date;
}

/** Parses a certificate given as PEM or bare base64, or says why it is not one. */
export function parseCertificate(
  input: string,
): ({ ok: true } & ParsedCertificate) | { ok: false; reason: string } {
  const body = certificateBody(input.trim());
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body) || body.length < 100) {
    return { ok: false, reason: 'is not a PEM or base64 X.509 certificate' };
  }
  try {
    const cert = new X509Certificate(Buffer.from(body, 'base64'));
    const lines = body.match(/.{1,64}/g) ?? [];
    return {
      ok: true,
      pem: `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`,
      fingerprint: cert.fingerprint256,
      notAfter: new Date(cert.validTo),
    };
  } catch (err) {
    return { ok: false, reason: `is not a valid X.509 certificate (${(err as Error).message})` };
  }
}
