/**
 * Planner tests: a golden IR for a small policy, locations in the IR, and what plans compute
 * (checked with the reference IR interpreter in ./ir-eval.ts).
 */
import { describe, expect, it } from 'vitest'
import { plan } from '../../../src/compiler/planner/index.js'
import type { Block, Policy, Stmt } from '../../../src/compiler/ir/types.js'
import { compileModules, compileQuery, parseModule, parseQuery } from '../../../src/rego/index.js'
import { evalPlan } from './ir-eval.js'

function planOf(sources: string[], opts: { entrypoints?: string[]; query?: string } = {}): Policy {
  const compiled = compileModules(sources.map((s, i) => parseModule(s, `test-${i}.rego`)))
  const queries = opts.query ? [{ name: 'q', query: compileQuery(parseQuery(opts.query), compiled) }] : []
  return plan(compiled, { entrypoints: opts.entrypoints ?? [], queries })
}

/** One statement per line, nested blocks indented: stable enough for a golden file. */
function pretty(policy: Policy): string {
  const lines: string[] = []
  const block = (b: Block, depth: number): void => {
    for (const s of b.stmts) stmt(s, depth)
  }
  const stmt = (s: Stmt, depth: number): void => {
    const pad = '  '.repeat(depth)
    const { type, file, row, col, ...rest } = s as Stmt & Record<string, unknown>
    const fields = Object.entries(rest)
      .filter(([k]) => k !== 'block' && k !== 'blocks')
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    lines.push(`${pad}${type} ${fields.join(' ')} @${file}:${row}:${col}`)
    if ('block' in s) block(s.block, depth + 1)
    if ('blocks' in s) for (const b of s.blocks) {
      lines.push(`${pad}  block`)
      block(b, depth + 2)
    }
  }
  lines.push(`strings ${JSON.stringify(policy.static.strings.map((s) => s.value))}`)
  lines.push(`builtins ${JSON.stringify(policy.static.builtin_funcs)}`)
  for (const f of policy.funcs.funcs) {
    lines.push(`func ${f.name} params=${JSON.stringify(f.params)} return=${f.return}`)
    for (const b of f.blocks) {
      lines.push('  block')
      block(b, 2)
    }
  }
  for (const p of policy.plans.plans) {
    lines.push(`plan ${p.name}`)
    for (const b of p.blocks) block(b, 1)
  }
  return `${lines.join('\n')}\n`
}

const SMALL = `package authz

default allow := false

allow if {
  input.role == "admin"
}

roles contains r if {
  some r in input.roles
}
`

describe('Planner', () => {
  it('plans a small policy to the golden IR', async () => {
    const ir = planOf([SMALL], { entrypoints: ['authz/allow', 'authz/roles'] })
    await expect(pretty(ir)).toMatchFileSnapshot('./testdata/small.golden')
  })

  it('keeps source locations in the IR', () => {
    const ir = planOf([SMALL], { entrypoints: ['authz/allow'] })
    expect(ir.static.files).toEqual([{ value: 'test-0.rego' }])
    const allow = ir.funcs.funcs.find((f) => f.name === 'g0.data.authz.allow')!
    const call = allow.blocks.flatMap((b) => b.stmts).find((s) => s.type === 'CallStmt')!
    expect(call).toMatchObject({ func: 'equal', file: 0, row: 6, col: 3 })
    const def = allow.blocks.flatMap((b) => b.stmts).find((s) => s.type === 'IsUndefinedStmt')!
    expect(def).toMatchObject({ row: 3 })
  })

  it('names funcs after rule paths and records called builtins', () => {
    const ir = planOf([SMALL], { entrypoints: ['authz/allow'] })
    expect(ir.funcs.funcs.map((f) => [f.name, f.path])).toEqual([['g0.data.authz.allow', ['g0', 'authz', 'allow']]])
    expect(ir.static.builtin_funcs).toEqual([{ name: 'equal', arity: 2 }])
  })

  it('evaluates entrypoints to rows of {result}', () => {
    const ir = planOf([SMALL], { entrypoints: ['authz/allow', 'authz/roles'] })
    expect(evalPlan(ir, 'authz/allow', { role: 'admin' })).toEqual([{ result: true }])
    expect(evalPlan(ir, 'authz/allow', { role: 'dev' })).toEqual([{ result: false }])
    expect(evalPlan(ir, 'authz/roles', { roles: ['b', 'a', 'b'] })).toEqual([{ result: ['a', 'b'] }])
  })

  it('binds query variables in rows, one empty row for a defined query without vars', () => {
    const ir = planOf(['package t\np[k] := v if { some k, v in input }'], { query: 'data.t.p[x] = 1' })
    expect(evalPlan(ir, 'q', { a: 1, b: 2, c: 1 })).toEqual([{ x: 'a' }, { x: 'c' }])
    const ir2 = planOf(['package t\nq := 1'], { query: 'data.t.q == 1' })
    expect(evalPlan(ir2, 'q', {})).toEqual([{}])
  })

  it('merges rules over base data for a package prefix', () => {
    const ir = planOf(['package t\np := 1\nf(x) := x'], { query: 'x := data.t' })
    expect(evalPlan(ir, 'q', {}, { t: { base: true } })).toEqual([{ x: { base: true, p: 1 } }])
  })

  it('picks the first else branch whose body holds, and the default last', () => {
    const src = 'package t\ndefault p := "none"\np := "a" if input == 1\nelse := "b" if input == 2'
    const ir = planOf([src], { entrypoints: ['t/p'] })
    expect(evalPlan(ir, 't/p', 1)).toEqual([{ result: 'a' }])
    expect(evalPlan(ir, 't/p', 2)).toEqual([{ result: 'b' }])
    expect(evalPlan(ir, 't/p', 3)).toEqual([{ result: 'none' }])
  })

  it('aborts on conflicting complete rule values', () => {
    const ir = planOf(['package t\np := 1\np := 2 if true'], { entrypoints: ['t/p'] })
    expect(() => evalPlan(ir, 't/p', {})).toThrow(/complete rules/)
  })

  it('replaces mocked functions at plan time and input with WithStmt', () => {
    const src = 'package t\nf(x) := x + 1\ng(x) := x * 10\np := f(1)\nq := y if { y := p with f as g }\nr := x if { x := input.a with input.a as 7 }'
    const ir = planOf([src], { query: 'a := data.t.p; b := data.t.q; c := data.t.r' })
    expect(evalPlan(ir, 'q', {})).toEqual([{ a: 2, b: 10, c: 7 }])
  })

  it('replans rules under with on data paths that hold rules', () => {
    const src = 'package t\np := 1\nq := p + 1\nr := x if { x := q with data.t.p as 10 }'
    const ir = planOf([src], { query: 'a := data.t.q; b := data.t.r' })
    expect(evalPlan(ir, 'q', {})).toEqual([{ a: 2, b: 11 }])
    expect(ir.funcs.funcs.map((f) => f.name)).toContain('g0.data.t.q$w1')
  })

  it('mocks a builtin with a local value through the data document', () => {
    const src = 'package t\nn if count([]) == 3\np contains v if { some v in [3, 4]; n with count as v }'
    const ir = planOf([src], { entrypoints: ['t/p'] })
    expect(evalPlan(ir, 't/p', {})).toEqual([{ result: [3] }])
  })

  it('plans every, negation and comprehensions', () => {
    const src = `package t
all_pos if every x in input { x > 0 }
none_big if not input[_] > 10
doubled := [y | some x in input; y := x * 2]
`
    const ir = planOf([src], { query: 'a := data.t.all_pos; b := data.t.none_big; c := data.t.doubled' })
    expect(evalPlan(ir, 'q', [1, 2])).toEqual([{ a: true, b: true, c: [2, 4] }])
    expect(evalPlan(ir, 'q', [1, -2])).toEqual([])
  })

  it('builds nested objects for ref heads with several variables', () => {
    const src = `package t
by_team[team][name] := age if {
  some u in input
  team := u.team
  name := u.name
  age := u.age
}
tags[t] contains n if some n, t in {"a": "x", "b": "x", "c": "y"}
by_team.extra := 1
`
    const ir = planOf([src], { query: 'a := data.t.by_team; b := data.t.tags' })
    const people = [
      { team: 'red', name: 'ann', age: 30 },
      { team: 'red', name: 'bob', age: 41 },
      { team: 'blue', name: 'cy', age: 25 },
    ]
    expect(evalPlan(ir, 'q', people)).toEqual([
      { a: { red: { ann: 30, bob: 41 }, blue: { cy: 25 }, extra: 1 }, b: { x: ['a', 'b'], y: ['c'] } },
    ])
  })

  it('iterates packages statically for data refs with a variable, plus base data keys', () => {
    const a = 'package apps.a\nallow := true'
    const b = 'package apps.b\nallow := false\nbroken := 1 / 0 if input.never'
    const ir = planOf([a, b], { query: 'data.apps[name].allow = v' })
    const rows = evalPlan(ir, 'q', {}, { apps: { c: { allow: 'base' } } })
    expect(rows).toEqual([
      { name: 'a', v: true },
      { name: 'b', v: false },
      { name: 'c', v: 'base' },
    ])
    // Only the rules named by the ref are planned, not every rule under data.apps.
    expect(ir.funcs.funcs.map((f) => f.name).sort()).toEqual(['g0.data.apps.a.allow', 'g0.data.apps.b.allow'])
    const ir2 = planOf([a, b], { query: 'v := data.apps[input.app].allow' })
    expect(evalPlan(ir2, 'q', { app: 'b' })).toEqual([{ v: false }])
    expect(evalPlan(ir2, 'q', { app: 'c' }, { apps: { c: { allow: 'base' } } })).toEqual([{ v: 'base' }])
    expect(ir2.funcs.funcs.map((f) => f.name).sort()).toEqual(['g0.data.apps.a.allow', 'g0.data.apps.b.allow'])
  })

  it('reports an undefined function with its position', () => {
    expect(() => planOf(['package t\np := nope(1)'], { entrypoints: ['t/p'] })).toThrow(
      expect.objectContaining({ code: 'rego_type_error', message: expect.stringContaining('test-0.rego:2:6') }),
    )
  })
})
