/**
 * The http2 stream table: Map semantics against a real Map under random operations (odd rising
 * ids as clients open them, collisions, growth, deletion during a walk), and its installation in
 * real node:http2 sessions, whose streams must still open, answer and close.
 */
import { connect, createServer } from 'node:http2'
import type { Http2Session } from 'node:http2'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { installStreamTable, StreamTable } from '../../src/server/stream-table.js'

function prng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = Math.imul(s ^ (s >>> 15), s | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const sorted = (m: Map<number, string>) => [...m.entries()].sort((a, b) => a[0] - b[0])

describe('StreamTable', () => {
  it('behaves like a Map under random sets, gets and deletes, through growth and wrap-around', () => {
    for (const seed of [1, 2, 3]) {
      const rnd = prng(seed)
      const table = new StreamTable<string>(8)
      const map = new Map<number, string>()
      let nextId = 1
      const open: number[] = []
      for (let step = 0; step < 20_000; step++) {
        const r = rnd()
        if (r < 0.45 || open.length === 0) {
          // Mostly rising odd ids, sometimes an arbitrary one (server pushes, odd peers).
          const id = rnd() < 0.9 ? nextId : 1 + Math.floor(rnd() * 0x7ffffffe)
          if (id === nextId) nextId += 2
          table.set(id, `v${step}`)
          map.set(id, `v${step}`)
          open.push(id)
        } else if (r < 0.9) {
          const id = open.splice(Math.floor(rnd() * open.length), 1)[0]!
          expect(table.delete(id)).toBe(map.delete(id))
        } else {
          const id = rnd() < 0.5 && open.length > 0 ? open[Math.floor(rnd() * open.length)]! : nextId + 1
          expect(table.get(id)).toBe(map.get(id))
          expect(table.has(id)).toBe(map.has(id))
        }
        expect(table.size).toBe(map.size)
      }
      expect(sorted(table)).toEqual(sorted(map))
      for (const id of map.keys()) expect(table.get(id)).toBe(map.get(id))
      // Ids that were deleted, never set, or are not stream ids at all.
      for (const id of [nextId, nextId + 2, 0, -1, 1.5, 2 ** 31, Number.NaN]) {
        expect(table.get(id)).toBeUndefined()
        expect(table.has(id)).toBe(false)
        expect(table.delete(id)).toBe(false)
      }
      expect(() => table.set(0, 'x')).toThrow(RangeError)
    }
  })

  it('walks in the order streams were opened and skips streams deleted during the walk', () => {
    const table = new StreamTable<string>()
    for (let id = 1; id <= 41; id += 2) table.set(id, `s${id}`)
    expect([...table.keys()].slice(0, 4)).toEqual([1, 3, 5, 7])
    const seen: number[] = []
    // Node destroys every stream from inside forEach, and a destroyed stream leaves the table.
    table.forEach((value, id, map) => {
      expect(value).toBe(`s${id}`)
      expect(map).toBe(table)
      seen.push(id)
      table.delete(id)
      table.delete(id + 4)
    })
    expect(seen).toEqual([1, 3, 9, 11, 17, 19, 25, 27, 33, 35, 41])
    expect(table.size).toBe(0)
    table.set(7, 'again')
    expect([...table]).toEqual([[7, 'again']])
    expect([...table.values()]).toEqual(['again'])
    table.clear()
    expect(table.size).toBe(0)
    expect(table.get(7)).toBeUndefined()
    expect(table).toBeInstanceOf(Map)
  })
})

describe('installStreamTable', () => {
  it('replaces a new session’s stream Map, and streams still open, answer and close', async () => {
    const installed: boolean[] = []
    const sessions: Http2Session[] = []
    const server = createServer()
    server.on('session', (session) => {
      installed.push(installStreamTable(session))
      sessions.push(session)
    })
    server.on('stream', (stream) => {
      stream.respond({ ':status': 200 })
      stream.end('ok')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const client = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
    try {
      const ask = () =>
        new Promise<string>((resolve, reject) => {
          const req = client.request({ ':path': '/' })
          let body = ''
          req.setEncoding('utf8')
          req.on('data', (c: string) => (body += c))
          req.on('end', () => resolve(body))
          req.on('error', reject)
          req.end()
        })
      // More streams at once than the table's first size, several times over.
      for (let round = 0; round < 3; round++) {
        expect(await Promise.all(Array.from({ length: 300 }, ask))).toEqual(Array(300).fill('ok'))
      }
      expect(installed).toEqual([true])
      const state = Object.getOwnPropertySymbols(sessions[0]!).find((s) => s.description === 'state')!
      const streams = (sessions[0] as unknown as Record<symbol, { streams: unknown }>)[state]!.streams
      expect(streams).toBeInstanceOf(StreamTable)
      // Every answered stream has left the table: the session can close.
      expect((streams as StreamTable<unknown>).size).toBe(0)
      // A second install on the same session changes nothing.
      expect(installStreamTable(sessions[0]!)).toBe(false)
    } finally {
      await new Promise<void>((resolve) => client.close(() => resolve()))
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })

  it('leaves a session alone when its layout is not the expected one', () => {
    const odd = { [Symbol('state')]: { streams: { size: 0 } } }
    expect(installStreamTable(odd as never)).toBe(false)
    expect(installStreamTable({} as never)).toBe(false)
    const busy = { [Symbol('state')]: { streams: new Map([[1, {}]]) } }
    expect(installStreamTable(busy as never)).toBe(false)
    const state = { streams: new Map() }
    expect(installStreamTable({ [Symbol('state')]: state } as never)).toBe(true)
    expect(state.streams).toBeInstanceOf(StreamTable)
  })
})
