/**
 * A bounded LRU of verification results keyed by the raw token. An entry's lifetime is capped by
 * the token's own `exp` (and `iat + maxTokenAge`) as well as a TTL, so a cached result can never
 * make an expired token look valid.
 *
 * @module
 */

/** LRU map whose entries expire at a per-entry time on an injectable clock. */
export class ExpiringLru<V> {
  readonly #max: number
  readonly #now: () => number
  readonly #map = new Map<string, { value: V; expiresAt: number }>()

  constructor(maxEntries: number, now: () => number) {
    this.#max = maxEntries
    this.#now = now
  }

  /** The live value for `key`, refreshed as most recently used; expired entries are dropped. */
  get(key: string): V | undefined {
    const hit = this.#map.get(key)
    if (!hit) return undefined
    this.#map.delete(key)
    if (this.#now() >= hit.expiresAt) return undefined
    this.#map.set(key, hit)
    return hit.value
  }

  /** Stores `value` until `expiresAt` (epoch ms), evicting the least recently used entry. */
  set(key: string, value: V, expiresAt: number): void {
    if (this.#max <= 0 || expiresAt <= this.#now()) return
    this.#map.delete(key)
    this.#map.set(key, { value, expiresAt })
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
