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

describe('JSON parser', () => {
  const p = instantiate()

  /** The runtime's canonical form: object keys sorted (ASCII keys here, so JS order is byte order). */
  const canonical = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canonical)
    if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>
      return Object.fromEntries(Object.keys(o).sort().map((k) => [k, canonical(o[k])]))
    }
    return v
  }

  it('keeps the last of duplicate keys, in small and large objects', () => {
    expect(p.roundTrip('{"b":1,"a":2,"b":3,"a":4}')).toBe('{"a":4,"b":3}')
    const keys = Array.from({ length: 40 }, (_, i) => `k${String(39 - i).padStart(2, '0')}`)
    const text = `{${keys.map((k, i) => `"${k}":${i}`).join(',')},"k05":"last"}`
    const expected = Object.fromEntries(keys.map((k, i) => [k, i] as [string, unknown]).concat([['k05', 'last']]))
    expect(p.roundTrip(text)).toBe(JSON.stringify(canonical(expected)))
  })

  it('parses documents wider and deeper than its scratch stack', () => {
    const wide = Array.from({ length: 3000 }, (_, i) => ({ i, s: `v${i}` }))
    expect(p.roundTrip(JSON.stringify(wide))).toBe(JSON.stringify(wide))
    let deep: unknown = 'leaf'
    for (let d = 0; d < 400; d++) deep = d % 2 ? [d, deep, d] : { z: d, a: deep }
    expect(p.roundTrip(JSON.stringify(deep))).toBe(JSON.stringify(canonical(deep)))
  })

  it('reads integers on both sides of the 18-digit fast path exactly', () => {
    for (const n of ['0', '-0', '7', '-42', '123456789012345678', '-999999999999999999', '1234567890123456789', '9223372036854775807', '-9223372036854775807', '9223372036854775808']) {
      expect(p.roundTrip(n), n).toBe(n === '-0' ? '0' : n)
    }
    expect(p.roundTrip('[1,-2,3e0,40.5,0.5,-0.25]')).toBe('[1,-2,3,40.5,0.5,-0.25]')
    for (const bad of ['-', '-a', '00', '-01', '1e', '1-']) expect(p.json(bad), bad).toBe(0)
  })

  it('keeps strings without escapes intact after later allocations and parses', () => {
    const a = p.json('{"name":"plain","esc":"a\\"b"}')
    p.json('["overwrite", "the", "heap"]')
    p.exports.opa_malloc(4096)
    expect(p.dump(a)).toBe('{"esc":"a\\"b","name":"plain"}')
  })

  it('tolerates a trailing comma in a Rego set, as before', () => {
    expect(p.dump(p.json('{2,1,}', 'opa_value_parse'), 'opa_value_dump')).toBe('{1,2}')
  })

  it('round-trips random documents to their canonical form', () => {
    let seed = 7
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0
      return seed % n
    }
    const strs = ['', 'a', 'key', 'é', 'line\nbreak', 'quote"d', 'tab\t', 'https://idp.example/x?y=1', 'ünï ✓']
    const gen = (depth: number): unknown => {
      switch (depth > 4 ? rnd(4) : rnd(7)) {
        case 0: return rnd(2) === 0 ? null : rnd(2) === 0
        case 1: return rnd(1_000_000_000) - 500_000_000
        case 2: return strs[rnd(strs.length)]
        case 3: return (rnd(100_000) - 50_000) / 64
        case 4: return Array.from({ length: rnd(6) }, () => gen(depth + 1))
        default: {
          const o: Record<string, unknown> = {}
          for (let i = rnd(20); i > 0; i--) o[`k${rnd(30)}`] = gen(depth + 1)
          return o
        }
      }
    }
    for (let i = 0; i < 300; i++) {
      const heap = p.exports.opa_heap_ptr_get()
      const doc = gen(0)
      expect(p.roundTrip(JSON.stringify(doc))).toBe(JSON.stringify(canonical(doc)))
      p.exports.opa_heap_ptr_set(heap)
    }
  })

  it('accepts exactly the prefixes and corruptions of documents that JSON.parse accepts', () => {
    const valid = (t: string): boolean => {
      try {
        JSON.parse(t)
        return true
      } catch {
        return false
      }
    }
    const docs = [
      '{"token":{"sub":"u-1","n":12,"roles":["a","b"]},"x":[1,-2.5e3,true,false,null,{}],"s":"a\\"b\\u00e9"}',
      '[{"k": [ 1 , 2 ] , "j" : "v" }, 0, -0, 10, "x y"]',
    ]
    const heap = p.exports.opa_heap_ptr_get()
    for (const doc of docs) {
      for (let cut = 0; cut <= doc.length; cut++) {
        const prefix = doc.slice(0, cut)
        expect(p.json(prefix) !== 0, prefix).toBe(valid(prefix))
        for (const junk of ['}', ']', ',', ':', '"', 'x', '\\']) {
          const bad = doc.slice(0, cut) + junk + doc.slice(cut + 1)
          expect(p.json(bad) !== 0, bad).toBe(valid(bad))
        }
        p.exports.opa_heap_ptr_set(heap)
      }
    }
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
