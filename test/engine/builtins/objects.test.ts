import { describe, expect, it } from 'vitest'
import * as o from '../../../src/engine/builtins/objects.js'
import * as m from '../../../src/engine/builtins/misc.js'

describe('objects', () => {
  it('tests subsets recursively', () => {
    expect(o.objectSubset({ a: { b: 1, c: 2 }, d: 3 }, { a: { b: 1 } })).toBe(true)
    expect(o.objectSubset({ a: 1 }, { a: 2 })).toBe(false)
    expect(o.objectSubset([1, 2, 3], [1, 3])).toBe(true)
    expect(o.objectSubset([1, 2, 3], [3, 1])).toBe(false)
    expect(o.objectSubset({ a: 1 }, [1])).toBe(false)
  })

  it('filters and removes paths given as strings or arrays', () => {
    const doc = { a: { b: 1, c: 2 }, d: [10, 20], e: 3 }
    expect(o.jsonFilter(doc, ['a/b', ['e']])).toEqual({ a: { b: 1 }, e: 3 })
    expect(o.jsonFilter(doc, ['d/1'])).toEqual({ d: [20] })
    expect(o.jsonRemove(doc, ['a/b', 'd/0'])).toEqual({ a: { c: 2 }, d: [20], e: 3 })
  })

  it('applies JSON patches and fails the whole patch on a bad operation', () => {
    const doc = { a: [1, 2], b: { c: 1 } }
    expect(
      o.jsonPatch(doc, [
        { op: 'add', path: '/a/-', value: 3 },
        { op: 'replace', path: '/b/c', value: 2 },
        { op: 'copy', from: '/b', path: '/d' },
        { op: 'move', from: '/a/0', path: '/e' },
        { op: 'remove', path: '/b' },
      ]),
    ).toEqual({ a: [2, 3], d: { c: 2 }, e: 1 })
    expect(doc).toEqual({ a: [1, 2], b: { c: 1 } })
    expect(o.jsonPatch(doc, [{ op: 'test', path: '/b/c', value: 9 }])).toBeUndefined()
    expect(o.jsonPatch(doc, [{ op: 'remove', path: '/x' }])).toBeUndefined()
  })

  it('walks every node, root first', () => {
    expect(o.walk({ a: [1] })).toEqual([
      [[], { a: [1] }],
      [['a'], [1]],
      [['a', 0], 1],
    ])
  })

  it('finds reachable nodes and paths', () => {
    const g = { a: ['b'], b: ['c', 'a'], c: [], d: ['a'] }
    expect(o.graphReachable(g, ['a'])).toEqual(['a', 'b', 'c'])
    expect(o.graphReachable(g, ['x'])).toEqual([])
    expect(o.graphReachablePaths(g, ['a'])).toEqual([['a', 'b', 'c']])
  })
})

describe('misc', () => {
  it('flattens arrays one level', () => {
    expect(m.arrayFlatten([[1, 2], 3, [[4]]])).toEqual([1, 2, 3, [4]])
    expect(() => m.arrayFlatten(1)).toThrow('array.flatten: operand 1 must be array but got number')
  })

  it('keeps uuid.rfc4122 and rand.intn stable per key', () => {
    const uuid = m.createUuid()
    expect(uuid('a')).toBe(uuid('a'))
    expect(uuid('a')).not.toBe(uuid('b'))
    expect(uuid('a')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    )
    const rand = m.createRandIntn()
    const v = rand('k', 10)
    expect(v).toBeGreaterThanOrEqual(0)
    expect(v).toBeLessThan(10)
    expect(rand('k', 10)).toBe(v)
  })

  it('parses UUIDs', () => {
    expect(m.uuidParse('00000000-0000-4000-8000-000000000000')).toEqual({
      version: 4,
      variant: 'RFC4122',
    })
    expect(m.uuidParse('nope')).toBeUndefined()
  })

  it('prints argument sets space-separated, <undefined> for empty ones', () => {
    const lines: string[] = []
    m.createPrint((l) => lines.push(l))([['x'], [], [{ a: 1 }]])
    expect(lines).toEqual(['x <undefined> {"a": 1}'])
  })
})
