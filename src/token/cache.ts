/**
 * A bounded LRU of verification results keyed by the raw token. An entry's lifetime is capped by
 * the token's own `exp` (and `iat + maxTokenAge`) as well as a TTL, so a cached result can never
 * make an expired token look valid.
 *
 * @module
 */

/** Keys longer than this are looked up by their last {@link SLOT_CHARS} characters. */
const SLOT_CHARS = 48

/**
 * The map key for a cache key. A JWT's tail is its signature, effectively random per token, so
 * its last characters spread tokens as well as the whole string does; hashing 48 characters
 * instead of a whole token (hundreds of bytes, a fresh string per request, so never hashed
 * before) was most of a cache hit's cost. The entry keeps the whole key and a hit compares it.
 */
function slotOf(key: string): string {
  return key.length > SLOT_CHARS ? key.slice(-SLOT_CHARS) : key
}

/**
 * LRU map whose entries expire at a per-entry time on an injectable clock.
 *
 * Recency is approximate so that a hit is one map lookup: an entry moves to the young end only
 * when at least half the capacity was inserted since it was last placed there. An entry in use
 * is therefore never evicted, while a hit on a fresh entry (the sidecar's common case: the same
 * token again and again) costs no delete and re-insert.
 */
export class ExpiringLru<V> {
  readonly #max: number
  readonly #now: () => number
  /** By {@link slot} of the key; the entry keeps the whole key, compared on every hit. */
  readonly #map = new Map<string, { key: string; value: V; expiresAt: number; placed: number }>()
  /** Insertions (and moves to the young end) so far. */
  #clock = 0

  constructor(maxEntries: number, now: () => number) {
    this.#max = maxEntries
    this.#now = now
  }

  /** The live value for `key`, refreshed as recently used; expired entries are dropped. */
  get(key: string): V | undefined {
    const slot = slotOf(key)
    const hit = this.#map.get(slot)
    // Another key in the same slot is a miss, never a wrong hit.
    if (!hit || hit.key !== key) return undefined
    if (this.#now() >= hit.expiresAt) {
      this.#map.delete(slot)
      return undefined
    }
    if (this.#clock - hit.placed >= this.#max >>> 1) {
      this.#map.delete(slot)
      hit.placed = ++this.#clock
      this.#map.set(slot, hit)
    }
    return hit.value
  }

  /** Stores `value` until `expiresAt` (epoch ms), evicting the least recently used entry. */
  set(key: string, value: V, expiresAt: number): void {
    if (this.#max <= 0 || expiresAt <= this.#now()) return
    const slot = slotOf(key)
    this.#map.delete(slot)
    this.#map.set(slot, { key, value, expiresAt, placed: ++this.#clock })
    while (this.#map.size > this.#max) {
      const oldest = this.#map.keys().next().value as string
      this.#map.delete(oldest)
    }
  }

  clear(): void {
    this.#map.clear()
  }

  get size(): number {
    return this.#map.size
  }
}
