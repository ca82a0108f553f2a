import { describe, expect, it } from 'vitest'
import * as e from '../../../src/engine/builtins/encoding.js'

describe('encoding', () => {
  it('encodes and strictly decodes base64 and base64url', () => {
    expect(e.base64Encode('subjects?_d')).toBe('c3ViamVjdHM/X2Q=')
    expect(e.base64Decode('c3ViamVjdHM/X2Q=')).toBe('subjects?_d')
    expect(e.base64IsValid('aGVsbG8')).toBe(false)
    expect(e.base64IsValid('aGVsbG8=')).toBe(true)
    expect(() => e.base64Decode('aGV$bG8=')).toThrow(
      'base64.decode: illegal base64 data at input byte 3',
    )
    expect(e.base64urlEncode('there')).toBe('dGhlcmU=')
    expect(e.base64urlEncodeNoPad('hello')).toBe('aGVsbG8')
    expect(e.base64urlDecode('aGVsbG8')).toBe('hello')
    expect(e.base64urlDecode('aGVsbG8=')).toBe('hello')
  })

  it('handles hex and URL query strings', () => {
    expect(e.hexEncode('hi')).toBe('6869')
    expect(e.hexDecode('6869')).toBe('hi')
    expect(() => e.hexDecode('6')).toThrow('odd length')
    expect(e.urlqueryEncode('a b&c')).toBe('a+b%26c')
    expect(e.urlqueryDecode('a+b%26c')).toBe('a b&c')
    expect(e.urlqueryEncodeObject({ b: 'c', a: ['x y', '&'] })).toBe('a=x+y&a=%26&b=c')
    expect(e.urlqueryDecodeObject('a=1&a=2&b=%20')).toEqual({ a: ['1', '2'], b: [' '] })
  })

  it('marshals JSON like Go: sorted keys, escaped <>&, optional indentation', () => {
    expect(e.jsonMarshal({ b: 1, a: '<&>' })).toBe('{"a":"\\u003c\\u0026\\u003e","b":1}')
    expect(e.jsonMarshalWithOptions({ a: [1] }, { indent: '  ' })).toBe(
      '{\n  "a": [\n    1\n  ]\n}',
    )
    expect(e.jsonMarshalWithOptions({ a: 1 }, { pretty: false, indent: '  ' })).toBe('{"a":1}')
    expect(e.jsonUnmarshal('{"a":[1,null]}')).toEqual({ a: [1, null] })
    expect(e.jsonIsValid('{')).toBe(false)
    expect(e.jsonIsValid(1)).toBe(false)
  })

  it('reads and writes YAML, checking every document', () => {
    expect(e.yamlUnmarshal('a: [1, b]\n')).toEqual({ a: [1, 'b'] })
    expect(e.yamlMarshal({ a: 1 })).toBe('a: 1\n')
    expect(
      ['  test:\ntest1: hello\n', 'a: 1\n---\n\tb: 2\n', 'a: 1\n---\nb: 2\n'].map(e.yamlIsValid),
    ).toEqual([false, false, true])
  })
})
