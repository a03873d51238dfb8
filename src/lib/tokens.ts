import { createHash, timingSafeEqual } from 'node:crypto';
import { randomBase64url } from './random.ts';

/** `bytes` random bytes as base64url (32 bytes = 256 bits by default). */
export function randomToken(bytes = 32): string {
  return randomBase64url(bytes);
}

/** SHA-256 as base64url: how bearer secrets (API keys, state, codes) are stored and looked up. */
export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

/** Constant-time string comparison. */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/** The PKCE S256 transform (RFC 7636 §4.2). */
export function pkceS256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}
