/**
 * A stream table for Node's http2 sessions that never rebuilds a hash table.
 *
 * Each http2 session keeps its open streams in a Map (`session[Symbol(state)].streams`). Streams
 * come and go all the time, so V8 keeps rebuilding that Map's hash table, and an abandoned table
 * that was promoted to the old generation still points at the streams it held: the scavenger
 * treats those pointers as roots, and every stream in flight, with all it references, is copied
 * and promoted. Under concurrency that was about 2.2 MB per scavenge at c=64 in `npm run bench`,
 * in a plain `node:http2` server too; with a table that is never rebuilt, nothing.
 *
 * {@link StreamTable} keeps the streams in open-addressing arrays sized once (doubled only when
 * more than half full), and clears a slot when its stream leaves, so nothing old points at a
 * stream after it is gone. {@link installStreamTable} swaps it into a session when the session
 * is new, after checking that Node's internals look as expected; otherwise it leaves the session
 * alone.
 *
 * @module
 */

import type { Http2Session } from 'node:http2'

const EMPTY = 0

/**
 * Map-shaped table of streams by stream id (a positive 31-bit integer). It is a Map subclass so
 * that it passes any `instanceof Map` check, but keeps nothing in the Map itself: every method
 * Node calls (`get`, `set`, `delete`, `size`, `forEach`) and the rest of the Map interface are
 * answered from its own arrays.
 */
export class StreamTable<V> extends Map<number, V> {
  #keys: Int32Array
  #values: Array<V | undefined>
  #count = 0

  constructor(capacity = 256) {
    super()
    let cap = 8
    while (cap < capacity) cap *= 2
    this.#keys = new Int32Array(cap)
    this.#values = new Array<V | undefined>(cap).fill(undefined)
  }

  override get size(): number {
    return this.#count
  }

  #slot(id: number): number {
    const mask = this.#keys.length - 1
    // Client stream ids are odd and rise by two: drop the low bit so they fill adjacent slots.
    let i = (id >>> 1) & mask
    for (;;) {
      const k = this.#keys[i]!
      if (k === id || k === EMPTY) return i
      i = (i + 1) & mask
    }
  }

  override get(id: number): V | undefined {
    if (!StreamTable.#valid(id)) return undefined
    const i = this.#slot(id)
    return this.#keys[i] === id ? this.#values[i] : undefined
  }

  override has(id: number): boolean {
    return StreamTable.#valid(id) && this.#keys[this.#slot(id)] === id
  }

  override set(id: number, value: V): this {
    if (!StreamTable.#valid(id)) throw new RangeError(`stream id ${id} is not a positive 31-bit integer`)
    let i = this.#slot(id)
    if (this.#keys[i] !== id) {
      if ((this.#count + 1) * 2 > this.#keys.length) {
        this.#grow()
        i = this.#slot(id)
      }
      this.#keys[i] = id
      this.#count++
    }
    this.#values[i] = value
    return this
  }

  override delete(id: number): boolean {
    if (!StreamTable.#valid(id)) return false
    const keys = this.#keys
    const mask = keys.length - 1
    let i = this.#slot(id)
    if (keys[i] !== id) return false
    // Backward-shift deletion: later entries of the probe run move up, so no tombstones.
    for (let j = (i + 1) & mask; keys[j] !== EMPTY; j = (j + 1) & mask) {
      const home = (keys[j]! >>> 1) & mask
      // Move j into the hole at i unless its home lies cyclically in (i, j].
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        keys[i] = keys[j]!
        this.#values[i] = this.#values[j]
        i = j
      }
    }
    keys[i] = EMPTY
    this.#values[i] = undefined
    this.#count--
    return true
  }

  override clear(): void {
    this.#keys.fill(EMPTY)
    this.#values.fill(undefined)
    this.#count = 0
  }

  /**
   * Calls `fn` for each stream. As with a Map, a stream deleted during the walk before its turn
   * is skipped (Node destroys streams from inside this walk).
   */
  override forEach(fn: (value: V, key: number, map: Map<number, V>) => void, thisArg?: unknown): void {
    for (const [id, value] of this.#snapshot()) {
      if (this.get(id) === value) fn.call(thisArg, value, id, this)
    }
  }

  override *entries(): MapIterator<[number, V]> {
    for (const [id, value] of this.#snapshot()) {
      if (this.get(id) === value) yield [id, value]
    }
  }

  override *keys(): MapIterator<number> {
    for (const [id] of this.entries()) yield id
  }

  override *values(): MapIterator<V> {
    for (const [, value] of this.entries()) yield value
  }

  override [Symbol.iterator](): MapIterator<[number, V]> {
    return this.entries()
  }

  #snapshot(): Array<[number, V]> {
    const out: Array<[number, V]> = []
    for (let i = 0; i < this.#keys.length; i++) {
      if (this.#keys[i] !== EMPTY) out.push([this.#keys[i]!, this.#values[i] as V])
    }
    // Ascending ids: the order streams were opened in, as a Map would give.
    return out.sort((a, b) => a[0] - b[0])
  }

  #grow(): void {
    const keys = this.#keys
    const values = this.#values
    this.#keys = new Int32Array(keys.length * 2)
    this.#values = new Array<V | undefined>(keys.length * 2).fill(undefined)
    this.#count = 0
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] !== EMPTY) this.set(keys[i]!, values[i] as V)
    }
    // The old arrays are dropped empty: nothing old keeps pointing at a stream.
    values.fill(undefined)
  }

  static #valid(id: number): boolean {
    return Number.isInteger(id) && id > 0 && id <= 0x7fffffff
  }
}

/**
 * Swaps a {@link StreamTable} in for a new session's stream Map. Returns whether it did: only
 * when the session has an own `Symbol(state)` object whose `streams` is an empty map-shaped
 * object (Node 20's layout); any other shape is left as it is.
 */
export function installStreamTable(session: Http2Session): boolean {
  const key = Object.getOwnPropertySymbols(session).find((s) => s.description === 'state')
  if (key === undefined) return false
  const state = (session as unknown as Record<symbol, unknown>)[key] as { streams?: unknown } | undefined
  if (typeof state !== 'object' || state === null) return false
  // Node's own is a primordials SafeMap, which is not an `instanceof Map`: check its shape.
  const streams = state.streams as Partial<Record<'get' | 'set' | 'delete' | 'forEach', unknown>> & { size?: unknown }
  if (
    typeof streams !== 'object' || streams === null || streams instanceof StreamTable ||
    typeof streams.get !== 'function' || typeof streams.set !== 'function' ||
    typeof streams.delete !== 'function' || typeof streams.forEach !== 'function' || streams.size !== 0
  ) {
    return false
  }
  state.streams = new StreamTable()
  return true
}
