import { describe, expect, it } from 'vitest'
import type { Expr, Rule, Term } from '../../src/rego/ast.js'
import { parseModule, parseQuery, parseTerm } from '../../src/rego/parser.js'
import { strip } from './strip.js'

const mod = (body: string) => parseModule(`package test\n\n${body}`, 'test.rego')
const rule = (body: string): Rule => mod(body).rules[0]!
const v = (value: string) => ({ type: 'var', value })
const s = (value: string) => ({ type: 'string', value })
const n = (value: string) => ({ type: 'number', value })
const ref = (...names: string[]) => ({
  type: 'ref',
  value: [v(names[0]!), ...names.slice(1).map(s)],
})
const callOf = (op: string, ...args: unknown[]) => ({ type: 'call', operator: ref(...op.split('.')), args })
const exprTerms = (q: string): Expr['terms'] => (strip(parseQuery(q)) as Expr[])[0]!.terms

describe('Parser', () => {
  it('parses package paths into data refs, including bracketed segments', () => {
    const m = parseModule('package a.b["c.d"]\n', 'x.rego')
    expect(strip(m.package.path)).toEqual(ref('data', 'a', 'b', 'c.d'))
    expect(m.package.location).toEqual({ file: 'x.rego', row: 1, col: 1, offset: 0 })
    expect(m.file).toBe('x.rego')
  })

  it('parses imports with aliases and accepts rego.v1 and future.keywords', () => {
    const m = mod('import data.lib.x as y\nimport input.token\nimport rego.v1\nimport future.keywords.in\nimport future.keywords')
    expect(m.imports.map((i) => [strip(i.path), i.alias])).toEqual([
      [ref('data', 'lib', 'x'), 'y'],
      [ref('input', 'token'), undefined],
      [ref('rego', 'v1'), undefined],
      [ref('future', 'keywords', 'in'), undefined],
      [ref('future', 'keywords'), undefined],
    ])
  })

  it('parses complete rules with := and = and gives them a true body', () => {
    const r = rule('p := 1')
    expect(strip(r.head)).toEqual({ ref: [v('p')], value: n('1'), assign: true, contains: false })
    expect(strip(r.body)).toEqual([{ terms: { type: 'boolean', value: true }, negated: false, with: [], index: 0 }])
    expect(rule('p = "x"').head.assign).toBe(false)
    expect(r.module).toBe('data.test')
    expect(r.location).toMatchObject({ row: 3, col: 1 })
  })

  it('parses if with braces and with a single expression', () => {
    const a = rule('p if {\n\tx := 1\n\tx > 0; true\n}')
    expect(a.body.map((e) => e.index)).toEqual([0, 1, 2])
    expect(a.body[1]!.location).toMatchObject({ row: 5, col: 2 })
    const b = rule('p := 2 if input.x == 1')
    expect(strip(b.body[0]!.terms)).toEqual([ref('equal'), ref('input', 'x'), n('1')])
    expect(strip(b.head.value)).toEqual(n('2'))
  })

  it('parses multi-value rules and partial objects, also with ref heads', () => {
    const c = rule('p contains x if some x in [1]')
    expect(strip(c.head)).toMatchObject({ ref: [v('p')], key: v('x'), contains: true })
    const o = rule('p[k] := v if { k := "a"; v := 1 }')
    expect(strip(o.head)).toMatchObject({ ref: [v('p'), v('k')], key: v('k'), value: v('v') })
    const r = rule('a.b[x] := y if { x := 1; y := 2 }')
    expect(strip(r.head)).toMatchObject({ ref: [v('a'), s('b'), v('x')], key: v('x'), value: v('y') })
    const g = rule('a.b.c := 1')
    expect(strip(g.head)).toEqual({ ref: [v('a'), s('b'), s('c')], value: n('1'), assign: true, contains: false })
    expect(strip(rule('a.b contains 1 if true').head)).toMatchObject({ ref: [v('a'), s('b')], key: n('1'), contains: true })
  })

  it('parses functions and else chains', () => {
    const f = rule('f(x, [y]) := z if {\n\tz := x\n} else := 2 if {\n\ty\n} else = 3 {\n\ttrue\n} else := 4')
    expect(strip(f.head.args)).toEqual([v('x'), { type: 'array', value: [v('y')] }])
    const e1 = f.else!
    expect(strip(e1.head)).toMatchObject({ ref: [v('f')], args: [v('x'), { type: 'array', value: [v('y')] }], value: n('2'), assign: true })
    expect(e1.location).toMatchObject({ row: 5, col: 3 })
    expect(e1.else!.head.assign).toBe(false)
    expect(strip(e1.else!.else!.head.value)).toEqual(n('4'))
    expect(strip(rule('g(x) if x > 1').head)).toMatchObject({ args: [v('x')] })
  })

  it('parses default rules', () => {
    const d = rule('default allow := false')
    expect(d.default).toBe(true)
    expect(strip(d.head.value)).toEqual({ type: 'boolean', value: false })
  })

  it('represents calls and infix operators with OPA builtin names', () => {
    expect(exprTerms('count(x, n)')).toEqual([ref('count'), v('x'), v('n')])
    expect(exprTerms('x := 1 + 2 * 3')).toEqual([
      ref('assign'), v('x'), callOf('plus', n('1'), callOf('mul', n('2'), n('3'))),
    ])
    expect(exprTerms('x = a - b - c')).toEqual([
      ref('eq'), v('x'), callOf('minus', callOf('minus', v('a'), v('b')), v('c')),
    ])
    expect(exprTerms('a | b & c == d')).toEqual([
      ref('equal'), callOf('or', v('a'), callOf('and', v('b'), v('c'))), v('d'),
    ])
    expect(exprTerms('x % 2 != y / 3')).toEqual([ref('neq'), callOf('rem', v('x'), n('2')), callOf('div', v('y'), n('3'))])
    expect(exprTerms('io.jwt.decode(t)')).toEqual([ref('io', 'jwt', 'decode'), v('t')])
  })

  it('parses in, key-value in, and unary minus on numbers', () => {
    expect(exprTerms('x in xs')).toEqual([ref('internal', 'member_2'), v('x'), v('xs')])
    expect(exprTerms('k, v in xs')).toEqual([ref('internal', 'member_3'), v('k'), v('v'), v('xs')])
    expect(exprTerms('x == -1.5')).toEqual([ref('equal'), v('x'), n('-1.5')])
    expect(exprTerms('x := 1 - -1')).toEqual([ref('assign'), v('x'), callOf('minus', n('1'), n('-1'))])
  })

  it('parses some, some in and every', () => {
    expect(exprTerms('some x, y')).toEqual({ type: 'some', vars: [v('x'), v('y')] })
    expect(exprTerms('some x in xs')).toEqual({ type: 'somein', value: v('x'), collection: v('xs') })
    expect(exprTerms('some k, [a] in xs')).toEqual({
      type: 'somein', key: v('k'), value: { type: 'array', value: [v('a')] }, collection: v('xs'),
    })
    const e = exprTerms('every k, x in input.xs { x > k }') as { type: string; body: Expr[] }
    expect(e).toMatchObject({ type: 'every', key: v('k'), value: v('x'), domain: ref('input', 'xs') })
    expect(e.body).toHaveLength(1)
  })

  it('parses not and with modifiers', () => {
    const [e] = strip(parseQuery('not data.p with input.x as 1 with f as g')) as Expr[]
    expect(e).toEqual({
      terms: ref('data', 'p'),
      negated: true,
      with: [
        { target: ref('input', 'x'), value: n('1') },
        { target: ref('f'), value: v('g') },
      ],
      index: 0,
    })
  })

  it('parses refs on vars, composites and calls', () => {
    expect(strip(parseTerm('a.b[c]["d"][0]'))).toEqual({
      type: 'ref', value: [v('a'), s('b'), v('c'), s('d'), n('0')],
    })
    expect(strip(parseTerm('[1, 2][i]'))).toEqual({ type: 'ref', value: [{ type: 'array', value: [n('1'), n('2')] }, v('i')] })
    expect(strip(parseTerm('f(x).y'))).toEqual({ type: 'ref', value: [callOf('f', v('x')), s('y')] })
  })

  it('parses composites: empty object, sets, set(), objects, trailing commas', () => {
    expect(strip(parseTerm('{}'))).toEqual({ type: 'object', value: [] })
    expect(strip(parseTerm('set()'))).toEqual({ type: 'set', value: [] })
    expect(strip(parseTerm('{1, 2,}'))).toEqual({ type: 'set', value: [n('1'), n('2')] })
    expect(strip(parseTerm('{"a": [null, true], "b": {},}'))).toEqual({
      type: 'object',
      value: [[s('a'), { type: 'array', value: [{ type: 'null' }, { type: 'boolean', value: true }] }], [s('b'), { type: 'object', value: [] }]],
    })
  })

  it('parses comprehensions', () => {
    expect(strip(parseTerm('[x | some x in xs; x > 1]'))).toMatchObject({ type: 'arraycomprehension', term: v('x') })
    expect(strip(parseTerm('{x | x := 1}'))).toMatchObject({ type: 'setcomprehension', term: v('x') })
    const o = strip(parseTerm('{k: v | some k, v in o}')) as { body: unknown[] }
    expect(o).toMatchObject({ type: 'objectcomprehension', key: v('k'), value: v('v') })
    expect(o.body).toHaveLength(1)
    expect(strip(parseTerm('[(a | b)]'))).toEqual({ type: 'array', value: [callOf('or', v('a'), v('b'))] })
  })

  it('treats newlines as separators but not inside brackets', () => {
    const body = parseQuery('x := [\n\t1,\n\t2,\n]\ny := f(\n\tx\n)\nz := x\n[1] = [1]')
    expect(body).toHaveLength(4)
    expect((strip(body[3]!.terms) as Term[])[0]).toEqual(ref('eq'))
  })

  it('keeps term locations', () => {
    const [e] = parseQuery('x := input.a + 1', 'q')
    const [, lhs, rhs] = e!.terms as Term[]
    expect(lhs!.location).toEqual({ file: 'q', row: 1, col: 1, offset: 0 })
    expect(rhs!.location).toMatchObject({ col: 6 })
    const add = rhs as { args: Term[] }
    expect(add.args[1]!.location).toMatchObject({ col: 16 })
  })
})

describe('Parser: not bodies', () => {
  it('reads `not { a; b }` as an emptiness test when rego.v2 or future.keywords.not is imported', () => {
    const m = parseModule('package a\nimport rego.v2\np if {\n  not { input.a; input.b }\n}\n', 'a.rego')
    const expr = m.rules[0]!.body[0]!
    expect(expr.negated).toBe(false)
    const terms = expr.terms as Term[]
    expect(terms[0]).toMatchObject({ type: 'ref', value: [{ type: 'var', value: 'equal' }] })
    expect(terms[1]).toMatchObject({ type: 'call', args: [{ type: 'setcomprehension' }] })
    expect(terms[2]).toMatchObject({ type: 'number', value: '0' })
  })

  it('keeps `not {1}` a negated set term without those imports', () => {
    const m = parseModule('package a\np if {\n  not {1}\n}\n', 'a.rego')
    const expr = m.rules[0]!.body[0]!
    expect(expr.negated).toBe(true)
    expect(expr.terms).toMatchObject({ type: 'set' })
  })
})
