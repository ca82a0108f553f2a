/**
 * Tests for the verification-result LRU.
 */
import { describe, expect, it } from 'vitest'
import { ExpiringLru } from '../../src/token/cache.js'

describe('ExpiringLru', () => {
  it('evicts the least recently used entry beyond its bound', () => {
    const now = 0
    const lru = new ExpiringLru<number>(2, () => now)
    lru.set('a', 1, 100)
    lru.set('b', 2, 100)
    expect(lru.get('a')).toBe(1)
    lru.set('c', 3, 100)
    expect(lru.get('b')).toBeUndefined()
    expect(lru.get('a')).toBe(1)
    expect(lru.get('c')).toBe(3)
    expect(lru.size).toBe(2)
  })

  it('never returns an entry at or after its expiry', () => {
    let now = 0
    const lru = new ExpiringLru<string>(10, () => now)
    lru.set('t', 'v', 50)
    now = 49
    expect(lru.get('t')).toBe('v')
    now = 50
    expect(lru.get('t')).toBeUndefined()
    lru.set('dead', 'v', 50)
    expect(lru.size).toBe(0)
  })

  it('keeps an entry in use across many insertions, and evicts the ones not used', () => {
    const lru = new ExpiringLru<number>(100, () => 0)
    lru.set('hot', 0, 1)
    for (let i = 0; i < 1000; i++) {
      lru.set(`cold${i}`, i, 1)
      expect(lru.get('hot')).toBe(0)
    }
    expect(lru.size).toBe(100)
    expect(lru.get('cold0')).toBeUndefined()
    expect(lru.get('cold899')).toBeUndefined()
    expect(lru.get('cold999')).toBe(999)
  })

  it('tells apart long keys that end alike: a miss, never the other key\'s value', () => {
    const lru = new ExpiringLru<string>(10, () => 0)
    const tail = 'x'.repeat(100)
    lru.set(`a.${tail}`, 'A', 1)
    expect(lru.get(`b.${tail}`)).toBeUndefined()
    expect(lru.get(`a.${tail}`)).toBe('A')
    // The later of two such keys takes the slot; the earlier is then a miss.
    lru.set(`b.${tail}`, 'B', 1)
    expect(lru.get(`b.${tail}`)).toBe('B')
    expect(lru.get(`a.${tail}`)).toBeUndefined()
  })
})
