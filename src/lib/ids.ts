import { randomInto } from './random.ts';

/**
 * WorkOS-style identifiers: a type prefix plus a ULID (`org_01HX…`). ULIDs sort by creation time, and this
 * generator is monotonic within a process, so ordering by ID is ordering by creation: list pagination relies
 * on that (cursor = ID). Across nodes, IDs created in the same millisecond order arbitrarily but stay unique.
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

let lastTime = -1;
/** The 80 random bits of the last ULID, as 16 base-32 digits (so that incrementing stays cheap). */
const lastRandom = new Uint8Array(16);
const scratch = new Uint8Array(10);

function encodeTime(time: number): string {
  let out = '';
  let t = time;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[t % 32] + out;
    t = Math.floor(t / 32);
  }
  return out;
}

/** 80 random bits → 16 digits of 5 bits each. */
function freshRandom(): void {
  randomInto(scratch, 0, 10);
  // Two 40-bit halves fit exactly in 8 digits each, with plain number arithmetic.
  for (let half = 0; half < 2; half++) {
    let v = 0;
    for (let i = 0; i < 5; i++) v = v * 256 + (scratch[half * 5 + i] as number);
    for (let d = 7; d >= 0; d--) {
      lastRandom[half * 8 + d] = v % 32;
      v = Math.floor(v / 32);
    }
  }
}

function incrementRandom(): void {
  for (let d = 15; d >= 0; d--) {
    const next = (lastRandom[d] as number) + 1;
    if (next < 32) {
      lastRandom[d] = next;
      return;
    }
    lastRandom[d] = 0;
  }
}

/** A monotonic ULID. */
export function ulid(now: number = Date.now()): string {
  if (now <= lastTime) {
    incrementRandom();
  } else {
    lastTime = now;
    freshRandom();
  }
  let random = '';
  for (let d = 0; d < 16; d++) random += ALPHABET[lastRandom[d] as number];
  return encodeTime(lastTime) + random;
}

export type IdPrefix =
  | 'org'
  | 'org_domain'
  | 'conn'
  | 'ruri'
  | 'key'
  | 'req'
  | 'prof'
  | 'sess'
  | 'client'
  | 'portal_link'
  | 'event'
  | 'we'
  | 'op'
  | 'op_link'
  | 'audit';

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${ulid()}`;
}

/**
 * The smallest ID of `prefix` created at `time` or later: every ID of that prefix created before `time` sorts
 * below it, every one created at or after it sorts at or above it. For range deletes by creation time through
 * the primary key.
 */
export function firstIdAt(prefix: IdPrefix, time: Date): string {
  // ULID time is 48 bits from the epoch: before it, nothing sorts lower; past its end, everything does.
  const ms = Math.min(Math.max(time.getTime(), 0), 2 ** 48 - 1);
  return `${prefix}_${encodeTime(Number.isNaN(ms) ? 0 : ms)}`;
}
