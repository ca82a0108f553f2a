/**
 * A bounded LRU of verification results keyed by the raw token. An entry's lifetime is capped by
 * the token's own `exp` (and `iat + maxTokenAge`) as well as a TTL, so a cached result can never
 * make an expired token look valid.
 *
 * @module
 */

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
  readonly #map = new Map<string, { value: V; expiresAt: number; placed: number }>()
  /** Insertions (and moves to the young end) so far. */
  #clock = 0

  constructor(maxEntries: number, now: () => number) {
    this.#max = maxEntries
    this.#now = now
  }

  /** The live value for `key`, refreshed as recently used; expired entries are dropped. */
  get(key: string): V | undefined {
    const hit = this.#map.get(key)
    if (!hit) return undefined
    if (this.#now() >= hit.expiresAt) {
      this.#map.delete(key)
      return undefined
    }
    if (this.#clock - hit.placed >= this.#max >>> 1) {
      this.#map.delete(key)
      hit.placed = ++this.#clock
      this.#map.set(key, hit)
    }
    return hit.value
  }

  /** Stores `value` until `expiresAt` (epoch ms), evicting the least recently used entry. */
  set(key: string, value: V, expiresAt: number): void {
    if (this.#max <= 0 || expiresAt <= this.#now()) return
    this.#map.delete(key)
    this.#map.set(key, { value, expiresAt, placed: ++this.#clock })
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
