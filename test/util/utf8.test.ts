import { describe, expect, it } from 'vitest'
import { utf8Exceeds } from '../../src/util/utf8.js'

describe('utf8Exceeds', () => {
  it('agrees with Buffer.byteLength at and around the bound, for 1- to 4-byte characters', () => {
    for (const ch of ['a', 'é', '€', '🙂']) {
      for (let n = 0; n <= 40; n++) {
        const s = ch.repeat(n)
        for (const max of [0, 1, 5, 12, 30, 60, 120]) {
          expect(utf8Exceeds(s, max), `${n}×${ch} vs ${max}`).toBe(Buffer.byteLength(s) > max)
        }
      }
    }
  })
})
