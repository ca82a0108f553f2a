import { describe, expect, it } from 'vitest'
import { instantiate } from './helpers.js'

describe('JSON', () => {
  const p = instantiate()

  it('round-trips scalars and composites', () => {
    expect(p.roundTrip('null')).toBe('null')
    expect(p.roundTrip(' [true, false, "a", 1, {"b": [ ]}] ')).toBe('[true,false,"a",1,{"b":[]}]')
  })

  it('sorts object keys by value order', () => {
    expect(p.roundTrip('{"b":1,"a":2,"c":{"z":0,"y":1}}')).toBe('{"a":2,"b":1,"c":{"y":1,"z":0}}')
  })

  it('decodes escapes including surrogate pairs and escapes on output', () => {
    expect(p.roundTrip('"\\u00e9\\ud83d\\ude00\\n\\t\\"\\\\\\/"')).toBe(JSON.stringify('é😀\n\t"\\/'))
    expect(p.roundTrip('"\\u0001"')).toBe('"\\u0001"')
    expect(JSON.parse(p.roundTrip('"ünïcödé ✓"')!)).toBe('ünïcödé ✓')
  })

  it('rejects invalid JSON', () => {
    for (const bad of ['', '{', '[1,]', '{"a" 1}', '01', '1.', '.5', 'tru', '"a', '"\u0001"', '{1:2}', '[1] x', '"\\x"', 'set()', '{1}']) {
      expect(p.json(bad), bad).toBe(0)
    }
  })

  it('parses Rego set literals with opa_value_parse and dumps them back', () => {
    const v = p.json('{3,1,2,{1}}', 'opa_value_parse')
    expect(v).not.toBe(0)
    expect(p.dump(v, 'opa_value_dump')).toBe('{1,2,3,{1}}')
    expect(p.dump(v)).toBe('[1,2,3,[1]]')
    expect(p.dump(p.json('set()', 'opa_value_parse'), 'opa_value_dump')).toBe('set()')
    expect(p.dump(p.json('{1: "a"}', 'opa_value_parse'))).toBe('{"1":"a"}')
  })

  it('keeps integers exact, including beyond int64', () => {
    expect(p.roundTrip('9007199254740993')).toBe('9007199254740993')
    expect(p.roundTrip('-9223372036854775808')).toBe('-9223372036854775808')
    expect(p.roundTrip('123456789012345678901234567890')).toBe('123456789012345678901234567890')
  })

  it('formats floats in the shortest form that round-trips', () => {
    const cases = ['0.1', '0.30000000000000004', '1.5', '-2.25', '1e+21', '1.7976931348623157e+308', '5e-324', '123.456', '0.000001', '1e-7', '3.14159']
    for (const c of cases) {
      const out = p.roundTrip(c)!
      expect(Number(out), c).toBe(Number(c))
      expect(out, c).toBe(String(Number(c)))
    }
    expect(p.roundTrip('2.0')).toBe('2')
    expect(p.roundTrip('1e2')).toBe('100')
  })
})

describe('JSON numbers', () => {
  const p = instantiate()

  it('formats random doubles exactly like JavaScript does', () => {
    const buf = new DataView(new ArrayBuffer(8))
    let seed = 12345
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) >>> 0
      return seed
    }
    for (let i = 0; i < 1000; i++) {
      buf.setUint32(0, rnd())
      buf.setUint32(4, rnd())
      const x = buf.getFloat64(0)
      if (!Number.isFinite(x)) continue
      const text = String(x)
      const heap = p.exports.opa_heap_ptr_get()
      expect(p.roundTrip(text), text).toBe(text)
      expect(p.roundTrip(x.toExponential(18)), text).toBe(text)
      p.exports.opa_heap_ptr_set(heap)
    }
  })
})
