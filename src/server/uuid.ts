/**
 * UUIDv7 (RFC 9562) for decision ids: time-ordered, so audit consumers can sort by id.
 *
 * @module
 */

import { randomFillSync } from 'node:crypto'

// One CSPRNG call per 512 ids instead of one per decision: the per-call cost of randomBytes
// showed up at about 2% of a Check's CPU in the sidecar's profile.
const POOL_IDS = 512
const pool = Buffer.alloc(POOL_IDS * 10)
let next = POOL_IDS

// The two lowercase hex digits of each byte value, as one 16-bit little-endian unit.
const HEX = new Uint16Array(256)
for (let i = 0; i < 256; i++) {
  const s = i.toString(16).padStart(2, '0')
  HEX[i] = s.charCodeAt(0) | (s.charCodeAt(1) << 8)
}

// The id is written as ASCII into one scratch buffer and read out as one string: joining 20
// two-digit pieces made 20 strings and a rope of 19 more per id (about 600 bytes of garbage).
const out = Buffer.alloc(36, 0x2d)
// Buffer's own latin1 reader (what `toString('latin1')` calls after its argument checks, which
// cost a third of an id); on Buffer.prototype in every Node release, though not in its typings,
// so `toString` stands in should it ever be gone.
type Latin1 = (this: Buffer, start: number, end: number) => string
const latin1: Latin1 =
  (out as unknown as { latin1Slice?: Latin1 }).latin1Slice ??
  function (this: Buffer, start: number, end: number): string {
    return this.toString('latin1', start, end)
  }

function put(at: number, byte: number): void {
  const digits = HEX[byte & 0xff]!
  out[at] = digits & 0xff
  out[at + 1] = digits >>> 8
}

/** Returns a new UUIDv7 string. */
export function uuidv7(now: number = Date.now()): string {
  if (next === POOL_IDS) {
    randomFillSync(pool)
    next = 0
  }
  const r = next++ * 10
  // 48-bit big-endian milliseconds; `now` stays below 2^53, so the split is exact.
  const hi = Math.floor(now / 0x1000000)
  const lo = now % 0x1000000
  put(0, hi >>> 16)
  put(2, hi >>> 8)
  put(4, hi)
  put(6, lo >>> 16)
  put(9, lo >>> 8)
  put(11, lo)
  put(14, 0x70 | (pool[r]! & 0x0f))
  put(16, pool[r + 1]!)
  put(19, 0x80 | (pool[r + 2]! & 0x3f))
  put(21, pool[r + 3]!)
  for (let i = 4; i < 10; i++) put(24 + (i - 4) * 2, pool[r + i]!)
  return latin1.call(out, 0, 36)
}
