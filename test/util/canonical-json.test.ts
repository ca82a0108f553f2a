import { describe, expect, it } from 'vitest'
import { canonicalJson, compareCodePoints, encodeGoJsonString, MAX_CANONICAL_JSON_DEPTH } from '../../src/util/canonical-json.js'

const bytes = (s: string) => new TextEncoder().encode(s)
const canon = (s: string) => canonicalJson(bytes(s))

describe('canonicalJson', () => {
  it('sorts object keys, drops whitespace and keeps array order', () => {
    expect(canon(' {\n "b" : [3, 1, 2],\t"a": {"z": null, "y": true, "x": false} }\r\n')).toBe(
      '{"a":{"x":false,"y":true,"z":null},"b":[3,1,2]}',
    )
    expect(canon('{}')).toBe('{}')
    expect(canon('[ ]')).toBe('[]')
    expect(canon('[{}, [], {"a": []}]')).toBe('[{},[],{"a":[]}]')
  })

  it('keeps numbers as their literal text', () => {
    expect(canon('[1.50, -0, 1E+2, 12345678901234567890123, 0.1e-7, 1.0]')).toBe(
      '[1.50,-0,1E+2,12345678901234567890123,0.1e-7,1.0]',
    )
  })

  it('orders keys by UTF-8 bytes, not UTF-16 units', () => {
    // U+FFFF sorts before U+1F600 in UTF-8 (and code points), after it in UTF-16 units.
    expect(canon('{"😀": 1, "\uffff": 2, "b": 3, "B": 4, "": 5}')).toBe('{"":5,"B":4,"b":3,"\uffff":2,"😀":1}')
    expect(compareCodePoints('\uffff', '😀')).toBeLessThan(0)
    expect(compareCodePoints('a', 'ab')).toBeLessThan(0)
    expect(compareCodePoints('x', 'x')).toBe(0)
  })

  it('keeps the last of duplicate keys, as Go decoding into a map does', () => {
    expect(canon('{"a": 1, "b": 2, "a": 3}')).toBe('{"a":3,"b":2}')
  })

  it('re-escapes strings as Go does without HTML escaping', () => {
    expect(canon('"<a href=\\"x\\">&amp;</a>"')).toBe('"<a href=\\"x\\">&amp;</a>"')
    expect(canon('"\\u0041\\/\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\\\\"')).toBe('"A/\\b\\f\\n\\r\\t\\u0001\\u001f\u007f\\\\"')
    expect(canon('"\u2028\u2029 é 😀 \\ud83d\\ude00"')).toBe('"\\u2028\\u2029 é 😀 😀"')
    expect(encodeGoJsonString('\u0000\u000b"')).toBe('"\\u0000\\u000b\\""')
  })

  it('replaces invalid UTF-8 and lone surrogates with U+FFFD one byte at a time, as Go does', () => {
    // A truncated 3-byte sequence is two replacements in Go (one per byte), one in WHATWG's decoder.
    expect(canonicalJson(new Uint8Array([0x22, 0xe2, 0x82, 0x61, 0x22]))).toBe('"\ufffd\ufffda"')
    expect(canonicalJson(new Uint8Array([0x22, 0xed, 0xa0, 0x80, 0xff, 0x22]))).toBe('"\ufffd\ufffd\ufffd\ufffd"')
    expect(canon('["\\ud800", "\\udc00x", "\\ud800\\u0041", "\\ud800\\ud800"]')).toBe('["\ufffd","\ufffdx","\ufffdA","\ufffd\ufffd"]')
  })

  it('rejects what is not exactly one JSON value', () => {
    for (const bad of ['', ' ', '{} {}', '{"a":1,}', '[1,]', '01', '+1', '.5', '1.', '1e', '-', 'nul', 'True',
      "{'a':1}", '{"a" 1}', '{a:1}', '"\\x"', '"\\u12"', '"a\nb"', '"open', '[1 2]', 'NaN', '\ufeff{}']) {
      expect(() => canon(bad), JSON.stringify(bad)).toThrow(SyntaxError)
    }
  })

  it('accepts nesting up to Go’s limit without recursion, and rejects deeper', () => {
    const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`
    expect(canon(deep(MAX_CANONICAL_JSON_DEPTH))).toHaveLength(2 * MAX_CANONICAL_JSON_DEPTH)
    expect(() => canon(deep(MAX_CANONICAL_JSON_DEPTH + 1))).toThrow(/nested too deeply/)
    expect(() => canon('{"a":'.repeat(200_000))).toThrow(SyntaxError)
  })
})
