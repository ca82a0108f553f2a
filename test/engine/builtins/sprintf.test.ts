import { describe, expect, it } from 'vitest'
import { sprintf } from '../../../src/engine/builtins/sprintf.js'

describe('sprintf', () => {
  it('prints Rego values with %v and %s', () => {
    expect(sprintf('hi %v', [['there', 5, 3.14]])).toBe('hi ["there", 5, 3.14]')
    expect(sprintf('%s', [{ b: 1, a: [true, null] }])).toBe('{"a": [true, null], "b": 1}')
    expect(sprintf('%v %v', ['x', 4])).toBe('x 4')
  })

  it('follows Go verbs, widths and precision', () => {
    expect(sprintf('%d|%5d|%-5d|%05d', [7, 7, 7, -7])).toBe('7|    7|7    |-0007')
    expect(sprintf('%.2f %f', [3.14159, 1.5])).toBe('3.14 1.500000')
    expect(sprintf('%.2f %.2f %.0f %.0f', [0.125, 0.375, 2.5, 3.5])).toBe('0.12 0.38 2 4')
    expect(sprintf('%x %X %o %b', [255, 255, 8, 5])).toBe('ff FF 10 101')
    expect(sprintf('%x', ['hi'])).toBe('6869')
    expect(sprintf('%q %t %%', ['a"b', true])).toBe('"a\\"b" true %')
    expect(sprintf('%e', [123456.789])).toBe('1.234568e+05')
    expect(sprintf('%v', [1e30])).toBe('1' + '0'.repeat(30))
    expect(sprintf('%v', [0.25])).toBe('0.25')
  })

  it('marks missing, extra and mismatched operands the Go way', () => {
    expect(sprintf('%d %d', [1])).toBe('1 %!d(MISSING)')
    expect(sprintf('%d', [1, 'x'])).toBe('1%!(EXTRA string=x)')
    expect(sprintf('%d', ['x'])).toBe('%!d(string=x)')
  })
})
