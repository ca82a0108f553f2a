/**
 * UUIDv7 (RFC 9562) for decision ids: time-ordered, so audit consumers can sort by id.
 *
 * @module
 */

import { randomBytes } from 'node:crypto'

/** Returns a new UUIDv7 string. */
export function uuidv7(now: number = Date.now()): string {
  const b = randomBytes(16)
  let ms = now
  for (let i = 5; i >= 0; i--) {
    b[i] = ms % 256
    ms = Math.floor(ms / 256)
  }
  b[6] = (b[6]! & 0x0f) | 0x70
  b[8] = (b[8]! & 0x3f) | 0x80
  const hex = b.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
