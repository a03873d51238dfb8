import { randomBytes } from 'node:crypto';

/**
 * WorkOS-style identifiers: a type prefix plus a ULID (`org_01HX…`). ULIDs sort by creation time, and this
 * generator is monotonic within a process, so ordering by ID is ordering by creation: list pagination relies
 * on that (cursor = ID). Across nodes, IDs created in the same millisecond order arbitrarily but stay unique.
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

let lastTime = -1;
let lastRandom: Uint8Array = new Uint8Array(10);

function encodeTime(time: number): string {
  let out = '';
  let t = time;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[t % 32] + out;
    t = Math.floor(t / 32);
  }
  return out;
}

function encodeRandom(bytes: Uint8Array): string {
  // 80 bits -> 16 base32 characters.
  let bits = 0n;
  for (const b of bytes) bits = (bits << 8n) | BigInt(b);
  let out = '';
  for (let i = 0; i < 16; i++) {
    out = ALPHABET[Number(bits & 31n)] + out;
    bits >>= 5n;
  }
  return out;
}

function increment(bytes: Uint8Array): Uint8Array {
  const next = new Uint8Array(bytes);
  for (let i = next.length - 1; i >= 0; i--) {
    if (next[i] === 255) {
      next[i] = 0;
    } else {
      next[i] = (next[i] ?? 0) + 1;
      return next;
    }
  }
  return next;
}

/** A monotonic ULID. */
export function ulid(now: number = Date.now()): string {
  if (now <= lastTime) {
    lastRandom = increment(lastRandom);
    return encodeTime(lastTime) + encodeRandom(lastRandom);
  }
  lastTime = now;
  lastRandom = new Uint8Array(randomBytes(10));
  return encodeTime(now) + encodeRandom(lastRandom);
}

export type IdPrefix = 'org' | 'org_domain' | 'conn' | 'ruri' | 'key' | 'req' | 'prof' | 'sess' | 'client';

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${ulid()}`;
}
