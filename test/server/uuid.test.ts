// Decision ids: format, version and variant bits, time order and uniqueness across pool refills.
import { describe, expect, it } from 'vitest'
import { uuidv7 } from '../../src/server/uuid.js'

describe('uuidv7', () => {
  it('writes the milliseconds big-endian in the first 48 bits, with version 7 and variant 10', () => {
    const now = Date.UTC(2026, 10, 22, 9, 0, 0, 123)
    const id = uuidv7(now)
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(now)
  })

  it('gives distinct ids across several refills of the random pool', () => {
    const ids = new Set<string>()
    for (let i = 0; i < 5000; i++) ids.add(uuidv7(1_700_000_000_000))
    expect(ids.size).toBe(5000)
  })

  it('sorts ids of later milliseconds after earlier ones', () => {
    expect(uuidv7(1_700_000_000_001) > uuidv7(1_700_000_000_000)).toBe(true)
  })
})
