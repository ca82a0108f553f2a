import { describe, expect, it } from 'vitest'
import * as r from '../../../src/engine/builtins/regex.js'

describe('regex', () => {
  it('matches Go syntax: inline flags, named groups, \\z', () => {
    expect(r.regexMatch('(?i)^ABC$', 'abc')).toBe(true)
    expect(r.regexMatch('^(?P<x>a+)\\z', 'aaa')).toBe(true)
    expect(r.regexMatch('[[:digit:]]+', 'x1')).toBe(true)
    expect(r.reMatch('b', 'abc')).toBe(true)
    expect(r.regexIsValid('[')).toBe(false)
    expect(r.regexIsValid(1)).toBe(false)
    expect(() => r.regexMatch('[', 'x')).toThrow(/regex.match: error parsing regexp/)
  })

  it('iterates matches with Go rules for empty matches', () => {
    expect(r.regexFindN('a*', 'baaab', -1)).toEqual(['', 'aaa', ''])
    expect(r.regexFindN('[0-9]', 'a1b2c3', 2)).toEqual(['1', '2'])
    expect(r.regexFindAllStringSubmatchN('(a)(x)?', 'aba', -1)).toEqual([
      ['a', 'a', ''],
      ['a', 'a', ''],
    ])
  })

  it('splits like Regexp.Split', () => {
    expect(r.regexSplit('a', 'banana')).toEqual(['b', 'n', 'n', ''])
    expect(r.regexSplit('x*', 'abc')).toEqual(['a', 'b', 'c'])
    expect(r.regexSplit('a', '')).toEqual([''])
    expect(r.regexSplit('(,)', 'a,b')).toEqual(['a', 'b'])
  })

  it('expands Go replacement templates', () => {
    expect(r.regexReplace('abc-def', '(\\w+)-(\\w+)', '$2.$1')).toBe('def.abc')
    expect(r.regexReplace('ab', '(?P<x>a)', '[${x}]$$')).toBe('[a]$b')
    expect(r.regexReplace('ab', '(a)', '$1x')).toBe('b')
  })

  it('matches templates with regular expressions between delimiters', () => {
    expect(r.regexTemplateMatch('urn:foo:{.*}', 'urn:foo:bar:baz', '{', '}')).toBe(true)
    expect(r.regexTemplateMatch('urn:foo.bar:{[a-z]+}', 'urn:foo.bar:x1', '{', '}')).toBe(false)
    expect(r.regexTemplateMatch('a.<[0-9]{2}>', 'a.12', '<', '>')).toBe(true)
    expect(r.regexTemplateMatch('a.<[0-9]{2}>', 'ab12', '<', '>')).toBe(false)
  })

  it('intersects restricted globs', () => {
    expect(r.regexGlobsMatch('a.a.[0-9]+z', '.b.b2359825792*24z')).toBe(true)
    expect(r.regexGlobsMatch('[a-c]+', '[x-z]+')).toBe(false)
    expect(r.regexGlobsMatch('a*', 'b*')).toBe(false)
    expect(r.regexGlobsMatch('a*b', '.*')).toBe(true)
    expect(r.regexGlobsMatch('\\.x', 'ax')).toBe(false)
    expect(r.regexGlobsMatch('\\.x', '.x')).toBe(true)
  })
})
