/**
 * Compile stage tests: rule indexing, ref resolution, ordering for safety, and the codes and
 * positions of compile errors.
 */
import { describe, expect, it } from 'vitest'
import { compileModules, compileQuery } from '../../../src/rego/compile/index.js'
import { parseModule, parseQuery, printBody, printTerm, RegoErrors } from '../../../src/rego/index.js'

const compile = (...sources: string[]) => compileModules(sources.map((s, i) => parseModule(s, `test-${i}.rego`)))

function errorOf(f: () => unknown): { code: string; message: string; row: number; col: number } {
  try {
    f()
  } catch (e) {
    expect(e).toBeInstanceOf(RegoErrors)
    const first = (e as RegoErrors).errors[0]!
    return { code: first.code, message: first.detail, row: first.location.row, col: first.location.col }
  }
  throw new Error('expected an error')
}

describe('compileModules', () => {
  it('indexes rules by full path with their kind', () => {
    const c = compile(`package a.b
default p := 1
p := 2 if input.x
s contains 1
o[k] := 1 if some k in input
f(x) := x
r.s.t := 3
`)
    const kinds = Object.fromEntries([...c.rules.values()].map((s) => [s.path.join('.'), s.kind]))
    expect(kinds).toEqual({
      'a.b.p': 'complete',
      'a.b.s': 'partialset',
      'a.b.o': 'partialobject',
      'a.b.f': 'function',
      'a.b.r.s.t': 'complete',
    })
    const p = c.rules.get(JSON.stringify(['a', 'b', 'p']))!
    expect(p.default).toBeDefined()
    expect(p.rules).toHaveLength(1)
    expect(c.rules.get(JSON.stringify(['a', 'b', 'f']))!.arity).toBe(1)
  })

  it('resolves rule names, imports and aliases to data refs', () => {
    const c = compile(
      'package x\nimport data.y.q as other\nimport data.y\np if { q; other; y.q }\nq := true',
      'package y\nq := 1',
    )
    const body = c.rules.get(JSON.stringify(['x', 'p']))!.rules[0]!.body
    const refs = body.map((e) => JSON.stringify(e.terms, (k, v) => (k === 'location' ? undefined : v)))
    expect(refs[0]).toContain('"value":"x"},{"type":"string","value":"q"')
    expect(refs[1]).toContain('"value":"y"},{"type":"string","value":"q"')
    expect(refs[2]).toContain('"value":"y"},{"type":"string","value":"q"')
  })

  it('orders a body so expressions run after their inputs are bound', () => {
    const c = compile('package t\np if { x > 1; x = input.n }')
    const body = c.rules.get(JSON.stringify(['t', 'p']))!.rules[0]!.body
    expect(body.map((e) => e.index)).toEqual([1, 0])
  })

  it('reports an unsafe var with its position', () => {
    expect(errorOf(() => compile('package t\np if {\n  x > 1\n}'))).toEqual({
      code: 'rego_unsafe_var_error',
      message: 'var x is unsafe',
      row: 3,
      col: 3,
    })
  })

  it('reports a var assigned twice', () => {
    expect(errorOf(() => compile('package t\np if {\n  x := 1\n  x := 2\n}'))).toMatchObject({
      code: 'rego_compile_error',
      message: 'var x assigned above',
      row: 4,
    })
  })

  it('reports multiple default rules', () => {
    expect(errorOf(() => compile('package t\ndefault p := 1\ndefault p := 2'))).toMatchObject({
      code: 'rego_type_error',
      message: 'multiple default rules data.t.p found',
      row: 3,
    })
  })

  it('reports rules of different kinds at one path', () => {
    expect(errorOf(() => compile('package t\np := 1\np contains 2'))).toMatchObject({
      code: 'rego_type_error',
      message: 'conflicting rules data.t.p found',
    })
  })

  it('reports functions with different arities', () => {
    expect(errorOf(() => compile('package t\nf(x) := 1\nf(x, y) := 2'))).toMatchObject({
      code: 'rego_type_error',
      row: 3,
    })
  })

  it('reports recursion between rules', () => {
    expect(errorOf(() => compile('package t\np if q\nq if p'))).toMatchObject({
      code: 'rego_recursion_error',
      message: 'rule data.t.p is recursive: data.t.p -> data.t.q -> data.t.p',
      row: 2,
    })
  })

  it('reports a with target that is neither input, data nor a function', () => {
    expect(errorOf(() => compile('package t\np if {\n  true with foo.bar as 1\n}'))).toMatchObject({
      code: 'rego_compile_error',
      message: 'with keyword target must reference existing input, data, or a function',
      row: 3,
    })
  })

  it('reports a some-declared var that is never used', () => {
    expect(errorOf(() => compile('package t\np if {\n  some x\n  input.a\n}'))).toMatchObject({
      code: 'rego_compile_error',
      message: 'declared var x unused',
      row: 3,
    })
  })

  it('lets wildcards in negations stay local', () => {
    expect(() => compile('package t\np if not input[_] > 1')).not.toThrow()
  })
})

describe('compileModules output', () => {
  it('matches the golden rendering of resolved, ordered rules', async () => {
    const c = compile(`package shop
import data.catalog.prices as prices

total := t if {
  t := sum(costs)
  costs := [c | some item in input.items; c := prices[item] * 2]
}

cheap contains item if {
  prices[item] < limit
  limit := 10
}
`)
    const lines: string[] = []
    for (const set of c.rules.values()) {
      lines.push(`${set.kind} data.${set.path.join('.')}`)
      for (const r of set.rules) {
        if (r.key) lines.push(`  key ${printTerm(r.key)}`)
        lines.push(`  value ${printTerm(r.value)}`)
        lines.push(printBody(r.body, '    '))
      }
    }
    await expect(`${lines.join('\n')}\n`).toMatchFileSnapshot('./testdata/shop.golden')
  })
})

describe('compileQuery', () => {
  it('lists the user variables a query binds', () => {
    const c = compile('package t\np := 1')
    const q = compileQuery(parseQuery('data.t.p = x; y := [z | z := 1]; _ = 2'), c)
    expect(q.vars).toEqual(['x', 'y'])
  })
})
