import { describe, expect, it } from 'vitest'
import { globMatch, globQuoteMeta } from '../../../src/engine/builtins/glob.js'

describe('glob', () => {
  it('uses "." as the delimiter when the list is empty and none when it is null', () => {
    expect(globMatch('*', [], 'foo.bar')).toBe(false)
    expect(globMatch('*', null, 'foo.bar')).toBe(true)
    expect(globMatch('*.github.com', ['.'], 'api.not-github.com')).toBe(false)
    expect(globMatch('*:github:com', [':'], 'api:github:com')).toBe(true)
  })

  it('treats ** as crossing delimiters and ? as one non-delimiter character', () => {
    expect(globMatch('a/**/b', null, 'a//b')).toBe(true)
    expect(globMatch('a/**/b', null, 'a/b')).toBe(false)
    expect(globMatch('**/x', null, 'x')).toBe(false)
    expect(globMatch('{**/,}x', null, 'x')).toBe(true)
    expect(globMatch('***', ['.'], '')).toBe(true)
    expect(globMatch('*?*', ['.', '/'], 'api.github.com')).toBe(false)
    expect(globMatch('?at', ['f'], 'fat')).toBe(false)
    expect(globMatch('?', null, '')).toBe(false)
  })

  it('supports classes, negation, alternatives and escapes', () => {
    expect(globMatch('[!abc]at', [], 'fat')).toBe(true)
    expect(globMatch('[!a-c]at', [], 'bat')).toBe(false)
    expect(globMatch('{cat,bat,[fr]at}', [], 'rat')).toBe(true)
    expect(globMatch('{cat,bat,[fr]at}', [], 'at')).toBe(false)
    expect(globMatch('\\*', null, '*')).toBe(true)
    expect(globMatch('\\*', null, 'a')).toBe(false)
    expect(globMatch(globQuoteMeta('*.[a]'), null, '*.[a]')).toBe(true)
  })
})
