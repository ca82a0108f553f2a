import { describe, expect, it } from 'vitest'
import * as s from '../../../src/engine/builtins/strings.js'
import { BuiltinError } from '../../../src/engine/builtins/errors.js'

function errorOf(f: () => unknown): BuiltinError {
  try {
    f()
  } catch (e) {
    if (e instanceof BuiltinError) return e
    throw e
  }
  throw new Error('expected a BuiltinError')
}

describe('strings', () => {
  it('counts indexes and lengths in code points', () => {
    expect(s.indexof('skön var våren', 'vår')).toBe(9)
    expect(s.indexof('μx', 'x')).toBe(1)
    expect(s.indexof('μ', 'μμ')).toBe(-1)
    expect(s.indexofN('😇😀😇😀😇😀', '😀')).toEqual([1, 3, 5])
    expect(s.indexofN('dogcatdogcat', 'cat')).toEqual([3, 9])
    expect(s.substring('abcdefghåäö', 2, 10000)).toBe('cdefghåäö')
    expect(s.substring('aåäö', 2, -1)).toBe('äö')
    expect(s.substring('åäö', 4, -1)).toBe('')
    expect(s.reverse('åäö!')).toBe('!öäå')
  })

  it('rejects a negative substring offset', () => {
    expect(errorOf(() => s.substring('abc', -1, 1)).message).toBe('substring: negative offset')
  })

  it('splits and replaces like Go', () => {
    expect(s.split('test', '')).toEqual(['t', 'e', 's', 't'])
    expect(s.split('', '')).toEqual([])
    expect(s.split('a,b,', ',')).toEqual(['a', 'b', ''])
    expect(s.replace('abc', '', '-')).toBe('-a-b-c-')
    expect(s.replaceN({ a: 'b', b: 'c' }, 'ab')).toBe('bc')
    expect(s.count('11111', '11')).toBe(2)
    expect(s.count('dummy', '')).toBe(6)
  })

  it('keeps the first or last n parts in strings.split_n', () => {
    expect(s.splitN('a.b.c.d', '.', 2)).toEqual(['a', 'b'])
    expect(s.splitN('a.b.c.d', '.', -1)).toEqual(['d'])
    expect(s.splitN('a.b.c.d', '.', 0)).toEqual([])
    expect(s.splitN('abc', '', -2)).toEqual(['b', 'c'])
    expect(errorOf(() => s.splitN('a.b', '.', 1.5)).code).toBe('eval_type_error')
  })

  it('trims cutsets, prefixes, suffixes and Unicode space', () => {
    expect(s.trim('  xyx hi yxy', ' xy')).toBe('hi')
    expect(s.trimLeft('xxhixx', 'x')).toBe('hixx')
    expect(s.trimRight('xxhixx', 'x')).toBe('xxhi')
    expect(s.trimPrefix('prefix-x', 'prefix-')).toBe('x')
    expect(s.trimSuffix('x.rego', '.rego')).toBe('x')
    expect(s.trimSpace('\u00a0\t hi \n')).toBe('hi')
  })

  it('formats integers by truncating toward zero', () => {
    expect(s.formatInt(15.5, 16)).toBe('f')
    expect(s.formatInt(-4.9, 10)).toBe('-4')
    expect(errorOf(() => s.formatInt(1, 3)).code).toBe('eval_type_error')
  })

  it('matches any prefix or suffix over strings, arrays and sets', () => {
    expect(s.anyPrefixMatch(['a/b', 'c'], 'a/')).toBe(true)
    expect(s.anySuffixMatch('file.rego', ['.json', '.rego'])).toBe(true)
    expect(errorOf(() => s.anyPrefixMatch([1], 'a')).message).toBe(
      'strings.any_prefix_match: operand 1 must be array of strings but got array containing number',
    )
    expect(errorOf(() => s.anyPrefixMatch(1, 'a')).message).toBe(
      'strings.any_prefix_match: operand 1 must be one of {string, set, array} but got number',
    )
  })

  it('converts to numbers and reports type errors', () => {
    expect(s.toNumber('1e3')).toBe(1000)
    expect(s.toNumber(null)).toBe(0)
    expect(s.toNumber(true)).toBe(1)
    expect(errorOf(() => s.toNumber('nan')).code).toBe('eval_type_error')
    expect(errorOf(() => s.toNumber('x')).code).toBe('eval_builtin_error')
    expect(errorOf(() => s.concat(',', [1])).code).toBe('eval_type_error')
  })

  it('builds ranges in either direction', () => {
    expect(s.numbersRange(3, 1)).toEqual([3, 2, 1])
    expect(s.numbersRangeStep(0, 10, 4)).toEqual([0, 4, 8])
    expect(s.numbersRangeStep(10, 0, 4)).toEqual([10, 6, 2])
    expect(errorOf(() => s.numbersRangeStep(0, 1, 0)).message).toBe(
      'numbers.range_step: step must be a positive integer',
    )
  })
})
