import { loadPolicy } from '@open-policy-agent/opa-wasm'
import { describe, expect, it } from 'vitest'
import { NATIVE_BUILTINS, generate } from '../../../src/compiler/codegen/index.js'
import { readModule } from '../../../src/wasm/index.js'
import type { CodegenOptions } from '../../../src/compiler/codegen/index.js'
import type { Policy } from '../../../src/compiler/ir/types.js'
import { instantiate, wasm } from '../../wasm/helpers.js'
import { B, L, S, blk, planCalling, policy, rule } from './ir.js'

async function load(p: Policy, opts?: CodegenOptions, custom: Record<string, (...a: any[]) => unknown> = {}) {
  return loadPolicy(generate(p, opts), undefined, custom)
}

const G = 'g0.data.test.p'

/** p := <a> <op> <b> */
function arith(op: string, a: number | string, b: number | string) {
  const mk = (v: number | string, t: number) =>
    typeof v === 'number'
      ? ({ type: 'MakeNumberIntStmt', value: v, target: t } as const)
      : ({ type: 'AssignVarStmt', source: S(1), target: t } as const)
  return policy({
    strings: ['x', typeof a === 'string' ? a : typeof b === 'string' ? b : ''],
    builtins: [{ name: op, arity: 2 }],
    plans: [planCalling('test/p', G, 0)],
    funcs: [
      rule(G, [
        blk(mk(a, 3), mk(b, 4), { type: 'CallStmt', func: op, args: [L(3), L(4)], result: 5 }, { type: 'AssignVarOnceStmt', source: L(5), target: 2 }),
        blk({ type: 'ReturnLocalStmt', source: 2 }),
      ]),
    ],
  })
}

describe('generate', () => {
  it('compiles p := 1 + 2', async () => {
    const pol = await load(arith('plus', 1, 2))
    expect(pol.evaluate({}, 'test/p')).toEqual([{ x: 3 }])
    expect(pol.entrypoints).toEqual({ 'test/p': 0 })
  })

  it('produces integers or floats from division', async () => {
    expect((await load(arith('div', 6, 3))).evaluate({})).toEqual([{ x: 2 }])
    expect((await load(arith('div', 7, 2))).evaluate({})).toEqual([{ x: 3.5 }])
  })

  it('treats a failing builtin as undefined unless strict', async () => {
    expect((await load(arith('div', 1, 0))).evaluate({})).toEqual([])
    const strict = await load(arith('div', 1, 0), { strictBuiltinErrors: true })
    expect(() => strict.evaluate({})).toThrow('test.rego:3: eval_builtin_error: div: divide by zero')
    const typeErr = await load(arith('plus', 'a', 1), { strictBuiltinErrors: true })
    expect(() => typeErr.evaluate({})).toThrow('eval_type_error: plus: operand 1 must be number but got string')
  })

  it('builds a partial set by scanning input', async () => {
    // q contains x if some x in input.xs; x > 1
    const p = policy({
      strings: ['x', 'xs'],
      builtins: [{ name: 'gt', arity: 2 }],
      plans: [planCalling('test/q', 'g0.data.test.q', 0)],
      funcs: [
        rule('g0.data.test.q', [
          blk(
            { type: 'MakeSetStmt', target: 2 },
            { type: 'DotStmt', source: L(0), key: S(1), target: 3 },
            {
              type: 'ScanStmt', source: 3, key: 4, value: 5,
              block: blk(
                { type: 'MakeNumberIntStmt', value: 1, target: 6 },
                { type: 'CallStmt', func: 'gt', args: [L(5), L(6)], result: 7 },
                { type: 'NotEqualStmt', a: L(7), b: B(false) },
                { type: 'SetAddStmt', set: 2, value: L(5) },
              ),
            },
          ),
          blk({ type: 'ReturnLocalStmt', source: 2 }),
        ]),
      ],
    })
    const pol = await load(p)
    expect(pol.evaluate({ xs: [3, 1, 2, 'a', 3] })).toEqual([{ x: [2, 3, 'a'] }])
    expect(pol.evaluate({ xs: { k: 5, j: 0 } })).toEqual([{ x: [5] }])
    expect(pol.evaluate({})).toEqual([{ x: [] }])
  })

  it('adds one row per solution of an iterating query', async () => {
    // x = input[_]
    const p = policy({
      strings: ['x'],
      plans: [{
        name: 'q',
        blocks: [blk({
          type: 'ScanStmt', source: 0, key: 2, value: 3,
          block: blk(
            { type: 'MakeObjectStmt', target: 4 },
            { type: 'ObjectInsertStmt', object: 4, key: S(0), value: L(3) },
            { type: 'ResultSetAddStmt', value: 4 },
          ),
        })],
      }],
    })
    const pol = await load(p)
    expect(pol.evaluate(['b', 'a', 'b'])).toEqual([{ x: 'a' }, { x: 'b' }])
  })

  it('aborts on conflicting complete rule values with the location', async () => {
    const p = policy({
      strings: ['x'],
      plans: [planCalling('p', G, 0)],
      funcs: [rule(G, [
        blk({ type: 'MakeNumberIntStmt', value: 1, target: 3 }, { type: 'AssignVarOnceStmt', source: L(3), target: 2 }),
        blk({ type: 'MakeNumberIntStmt', value: 1, target: 3 }, { type: 'AssignVarOnceStmt', source: L(3), target: 2 }),
        blk({ type: 'MakeNumberIntStmt', value: 2, target: 3 }, { type: 'AssignVarOnceStmt', source: L(3), target: 2, row: 7, col: 3 }),
        blk({ type: 'ReturnLocalStmt', source: 2 }),
      ])],
    })
    const pol = await load(p)
    expect(() => pol.evaluate({})).toThrow('test.rego:7: eval_conflict_error: complete rules must not produce multiple outputs')
  })

  it('aborts on conflicting object keys', async () => {
    const p = policy({
      strings: ['x', 'k'],
      plans: [{ name: 'p', blocks: [blk(
        { type: 'MakeObjectStmt', target: 2 },
        { type: 'ObjectInsertOnceStmt', object: 2, key: S(1), value: B(true) },
        { type: 'ObjectInsertOnceStmt', object: 2, key: S(1), value: B(true) },
        { type: 'ObjectInsertOnceStmt', object: 2, key: S(1), value: B(false) },
      )] }],
    })
    const pol = await load(p)
    expect(() => pol.evaluate({})).toThrow('eval_conflict_error: object keys must be unique')
  })

  it('uses function conflict wording for funcs with arguments', async () => {
    const f = 'g0.data.test.f'
    const p = policy({
      strings: ['x'],
      plans: [{ name: 'p', blocks: [blk(
        { type: 'MakeNumberIntStmt', value: 1, target: 2 },
        { type: 'CallStmt', func: f, args: [L(0), L(1), L(2)], result: 3 },
      )] }],
      funcs: [rule(f, [
        blk({ type: 'AssignVarOnceStmt', source: L(2), target: 3 }),
        blk({ type: 'AssignVarOnceStmt', source: B(true), target: 3 }),
        blk({ type: 'ReturnLocalStmt', source: 3 }),
      ], 3, [0, 1, 2])],
    })
    const pol = await load(p)
    expect(() => pol.evaluate({})).toThrow('eval_conflict_error: functions must not produce multiple outputs for same inputs')
  })

  it('replaces input inside a with block and restores it after', async () => {
    // p := input.a ; query: x = data.test.p with input.a as 5; y = input.a
    const p = policy({
      strings: ['x', 'a', 'y'],
      plans: [{ name: 'q', blocks: [blk(
        { type: 'MakeNumberIntStmt', value: 5, target: 5 },
        { type: 'WithStmt', local: 0, path: [1], value: L(5), block: blk(
          { type: 'CallStmt', func: G, args: [L(0), L(1)], result: 2 },
        ) },
        { type: 'DotStmt', source: L(0), key: S(1), target: 6 },
        { type: 'CallStmt', func: G, args: [L(0), L(1)], result: 7 },
        { type: 'MakeObjectStmt', target: 3 },
        { type: 'ObjectInsertStmt', object: 3, key: S(0), value: L(2) },
        { type: 'ObjectInsertStmt', object: 3, key: S(2), value: L(7) },
        { type: 'ResultSetAddStmt', value: 3 },
      )] }],
      funcs: [rule(G, [
        blk({ type: 'DotStmt', source: L(0), key: S(1), target: 3 }, { type: 'AssignVarOnceStmt', source: L(3), target: 2 }),
        blk({ type: 'ReturnLocalStmt', source: 2 }),
      ])],
    })
    const pol = await load(p)
    expect(pol.evaluate({ a: 1, b: 2 })).toEqual([{ x: 5, y: 1 }])
  })

  it('memoizes rules per evaluation', async () => {
    let calls = 0
    const p = policy({
      strings: ['x'],
      builtins: [{ name: 'test.tick', arity: 0 }],
      plans: [{ name: 'q', blocks: [blk(
        { type: 'CallStmt', func: G, args: [L(0), L(1)], result: 2 },
        { type: 'CallStmt', func: G, args: [L(0), L(1)], result: 3 },
        { type: 'EqualStmt', a: L(2), b: L(3) },
        { type: 'MakeObjectStmt', target: 4 },
        { type: 'ObjectInsertStmt', object: 4, key: S(0), value: L(3) },
        { type: 'ResultSetAddStmt', value: 4 },
      )] }],
      funcs: [rule(G, [
        blk({ type: 'CallStmt', func: 'test.tick', args: [], result: 3 }, { type: 'AssignVarOnceStmt', source: L(3), target: 2 }),
        blk({ type: 'ReturnLocalStmt', source: 2 }),
      ])],
    })
    const pol = await load(p, {}, { 'test.tick': () => ++calls })
    expect(pol.evaluate({})).toEqual([{ x: 1 }])
    expect(pol.evaluate({})).toEqual([{ x: 2 }])
    expect(calls).toBe(2)
  })

  it('calls host builtins by id and turns declared set results into sets', async () => {
    const p = policy({
      strings: ['x', 'y'],
      builtins: [{ name: 'count', arity: 1 }, { name: 'test.dup', arity: 2 }, { name: 'test.keys', arity: 1 }],
      plans: [{ name: 'q', blocks: [blk(
        { type: 'CallStmt', func: 'test.dup', args: [L(0), S(1)], result: 2 },
        { type: 'CallStmt', func: 'test.keys', args: [L(0)], result: 3 },
        { type: 'CallStmt', func: 'count', args: [L(3)], result: 4 },
        { type: 'MakeObjectStmt', target: 5 },
        { type: 'ObjectInsertStmt', object: 5, key: S(0), value: L(2) },
        { type: 'ObjectInsertStmt', object: 5, key: S(1), value: L(4) },
        { type: 'ResultSetAddStmt', value: 5 },
      )] }],
    })
    const wasm = generate(p, { returnsSet: (n) => n === 'test.keys' })
    const pol = await loadPolicy(wasm, undefined, {
      'test.dup': (a: unknown, s: string) => [a, s],
      'test.keys': () => ['a', 'b', 'a'],
    })
    expect(pol.evaluate(7)).toEqual([{ x: [7, 'y'], y: 2 }])
  })

  it('exposes non-native builtins in builtins()', () => {
    const p = policy({ strings: [], builtins: [{ name: 'count', arity: 1 }, { name: 'sprintf', arity: 2 }], plans: [] })
    const mod = new wasm.Module(generate(p))
    expect(wasm.Module.exports(mod).map((e) => e.name)).toContain('builtins')
    expect(NATIVE_BUILTINS.has('count')).toBe(true)
    expect(NATIVE_BUILTINS.has('sprintf')).toBe(false)
  })

  it('dispatches dynamic calls through the rule path mapping', async () => {
    // x = data.test[input.r]
    const p = policy({
      strings: ['x', 'g0', 'test', 'p', 'q'],
      plans: [{ name: 'q', blocks: [blk(
        { type: 'DotStmt', source: L(0), key: S(0), target: 6 },
        { type: 'CallDynamicStmt', path: [S(1), S(2), L(6)], args: [0, 1], result: 2 },
        { type: 'MakeObjectStmt', target: 3 },
        { type: 'ObjectInsertStmt', object: 3, key: S(0), value: L(2) },
        { type: 'ResultSetAddStmt', value: 3 },
      )] }],
      funcs: [
        rule('g0.data.test.p', [blk({ type: 'MakeNumberIntStmt', value: 1, target: 2 }), blk({ type: 'ReturnLocalStmt', source: 2 })]),
        rule('g0.data.test.q', [blk({ type: 'AssignVarStmt', source: S(4), target: 2 }), blk({ type: 'ReturnLocalStmt', source: 2 })]),
      ],
    })
    const pol = await load(p)
    expect(pol.evaluate({ x: 'p' })).toEqual([{ x: 1 }])
    expect(pol.evaluate({ x: 'q' })).toEqual([{ x: 'q' }])
    expect(pol.evaluate({ x: 'r' })).toEqual([])
  })

  it('negates blocks, breaks out of blocks and merges objects', async () => {
    const p = policy({
      strings: ['x', 'a', 'b'],
      plans: [{ name: 'q', blocks: [blk(
        { type: 'NotStmt', block: blk({ type: 'DotStmt', source: L(0), key: S(2), target: 2 }) },
        { type: 'BlockStmt', blocks: [blk({ type: 'BreakStmt', index: 0 }, { type: 'ResetLocalStmt', target: 0 })] },
        { type: 'IsObjectStmt', source: L(0) },
        { type: 'MakeObjectStmt', target: 3 },
        { type: 'ObjectInsertStmt', object: 3, key: S(2), value: B(true) },
        { type: 'ObjectMergeStmt', a: 0, b: 3, target: 4 },
        { type: 'MakeObjectStmt', target: 5 },
        { type: 'ObjectInsertStmt', object: 5, key: S(0), value: L(4) },
        { type: 'ResultSetAddStmt', value: 5 },
      )] }],
    })
    const pol = await load(p)
    expect(pol.evaluate({ a: 1 })).toEqual([{ x: { a: 1, b: true } }])
    expect(pol.evaluate({ b: 1 })).toEqual([])
  })

  it('grows memory for large inputs', async () => {
    const p = policy({
      strings: ['x'],
      builtins: [{ name: 'count', arity: 1 }],
      plans: [{ name: 'q', blocks: [blk(
        { type: 'CallStmt', func: 'count', args: [L(0)], result: 2 },
        { type: 'MakeObjectStmt', target: 3 },
        { type: 'ObjectInsertStmt', object: 3, key: S(0), value: L(2) },
        { type: 'ResultSetAddStmt', value: 3 },
      )] }],
    })
    const pol = await load(p)
    const big = Array.from({ length: 200_000 }, (_, i) => ({ i, s: `item-${i}` }))
    expect(pol.evaluate(big)).toEqual([{ x: 200_000 }])
    pol.setData({ d: big.slice(0, 10) })
    expect(pol.evaluate([1, 2])).toEqual([{ x: 2 }])
  })
})

describe('generate (void builtins)', () => {
  it('never makes a block undefined through a void host builtin', async () => {
    const printed: unknown[] = []
    const p = policy({
      strings: ['x'],
      builtins: [{ name: 'internal.print', arity: 1 }],
      plans: [{ name: 'q', blocks: [blk(
        { type: 'MakeArrayStmt', capacity: 1, target: 2 },
        { type: 'CallStmt', func: 'internal.print', args: [L(2)], result: 3 },
        { type: 'MakeObjectStmt', target: 4 },
        { type: 'ResultSetAddStmt', value: 4 },
      )] }],
    })
    const pol = await loadPolicy(generate(p), undefined, { 'internal.print': (a: unknown) => void printed.push(a) })
    expect(pol.evaluate({})).toEqual([{}])
    expect(printed).toEqual([[]])
  })
})

describe('generate (with and breaks)', () => {
  it('undoes a with block when a break jumps out of it', async () => {
    // block { with input as 1 { break 1 } }; x = input
    const p = policy({
      strings: ['x'],
      plans: [{ name: 'q', blocks: [blk(
        { type: 'MakeNumberIntStmt', value: 1, target: 2 },
        { type: 'BlockStmt', blocks: [blk(
          { type: 'WithStmt', local: 0, path: [], value: L(2), block: blk({ type: 'BreakStmt', index: 1 }) },
        )] },
        { type: 'MakeObjectStmt', target: 3 },
        { type: 'ObjectInsertStmt', object: 3, key: S(0), value: L(0) },
        { type: 'ResultSetAddStmt', value: 3 },
      )] }],
    })
    const pol = await loadPolicy(generate(p))
    expect(pol.evaluate('in')).toEqual([{ x: 'in' }])
  })
})

describe('generate (number literals)', () => {
  const lits = ['3.50', '1E+2', '0.000001', '-12.5e-1', '123456789012345678901234567890', '1e400', '0.10000000000001']

  function build(extra: Parameters<typeof blk>) {
    return policy({
      strings: ['x', ...lits],
      builtins: [{ name: 'plus', arity: 2 }, { name: 'lt', arity: 2 }, { name: 'round', arity: 1 }],
      plans: [{ name: 'q', blocks: [blk(
        { type: 'MakeArrayStmt', capacity: lits.length, target: 2 },
        ...lits.flatMap((_, i) => [
          { type: 'MakeNumberRefStmt', index: i + 1, target: 10 + i } as const,
          { type: 'ArrayAppendStmt', array: 2, value: L(10 + i) } as const,
        ]),
        ...extra,
        { type: 'MakeObjectStmt', target: 3 },
        { type: 'ObjectInsertStmt', object: 3, key: S(0), value: L(2) },
        { type: 'ResultSetAddStmt', value: 3 },
      )] }],
    })
  }
  async function run(extra: Parameters<typeof blk>) {
    return (await loadPolicy(generate(build(extra)))).evaluate({}) as { x: unknown[] }[]
  }
  /** The exact JSON text opa_eval produces. */
  function text(extra: Parameters<typeof blk>): string {
    const raw = instantiate(generate(build(extra)))
    const data = raw.json('{}')
    const heap = raw.exports.opa_heap_ptr_get()
    const addr = raw.exports.opa_eval(0, 0, data, 0, 0, heap, 0)
    const b = new Uint8Array(raw.memory.buffer)
    let e = addr
    while (b[e] !== 0) e++
    return new TextDecoder().decode(b.subarray(addr, e))
  }

  it('keeps literals exact and prints them canonically', async () => {
    const [row] = await run([])
    expect(row!.x.slice(0, 5)).toEqual([3.5, 100, 0.000001, -1.25, 123456789012345678901234567890])
    expect(text([])).toBe('[{"x":[3.5,100,0.000001,-1.25,123456789012345678901234567890,1e+400,0.10000000000001]}]')
  })

  it('does exact big integer arithmetic and exact comparisons', async () => {
    const [row] = await run([
      { type: 'CallStmt', func: 'plus', args: [L(14), L(14)], result: 20 },
      { type: 'ArrayAppendStmt', array: 2, value: L(20) },
      { type: 'CallStmt', func: 'lt', args: [L(15), L(15)], result: 21 },
      { type: 'ArrayAppendStmt', array: 2, value: L(21) },
      { type: 'CallStmt', func: 'round', args: [L(10)], result: 22 },
      { type: 'ArrayAppendStmt', array: 2, value: L(22) },
    ])
    expect(row!.x.slice(7)).toEqual([246913578024691357802469135780, false, 4])
    expect(text([
      { type: 'CallStmt', func: 'plus', args: [L(14), L(14)], result: 20 },
      { type: 'ArrayAppendStmt', array: 2, value: L(20) },
    ])).toContain(',246913578024691357802469135780]')
  })
})

describe('generate (memory)', () => {
  it('declares a memory minimum within opa-wasm default of 5 pages', () => {
    const p = policy({ strings: Array.from({ length: 2000 }, (_, i) => `string number ${i}`), plans: [] })
    const mem = readModule(generate(p)).imports.find((i) => i.kind === 2)
    expect(mem?.min).toBeLessThanOrEqual(5)
  })
})

describe('generate (walk)', () => {
  it('walks sets with their elements as path keys', async () => {
    const p = policy({
      strings: ['x'],
      builtins: [{ name: 'walk', arity: 1 }],
      plans: [{ name: 'q', blocks: [blk(
        { type: 'CallStmt', func: 'walk', args: [L(0)], result: 2 },
        { type: 'MakeObjectStmt', target: 3 },
        { type: 'ObjectInsertStmt', object: 3, key: S(0), value: L(2) },
        { type: 'ResultSetAddStmt', value: 3 },
      )] }],
    })
    const raw = instantiate(generate(p))
    const input = new TextEncoder().encode('{"a": {1, 2}}')
    const data = raw.json('{}')
    const heap = raw.exports.opa_heap_ptr_get()
    new Uint8Array(raw.memory.buffer).set(input, heap)
    const out = raw.exports.opa_eval(0, 0, data, heap, input.length, heap + input.length, 1)
    const b = new Uint8Array(raw.memory.buffer)
    let e = out
    while (b[e] !== 0) e++
    expect(new TextDecoder().decode(b.subarray(out, e))).toBe(
      '{{"x":[[[],{"a":{1,2}}],[["a"],{1,2}],[["a",1],1],[["a",2],2]]}}',
    )
  })
})

describe('generate (host names)', () => {
  it('publishes host builtins under the names hostName gives', async () => {
    const p = policy({
      strings: ['x', '%d!'],
      builtins: [{ name: 'sprintf', arity: 2 }],
      plans: [{ name: 'q', blocks: [blk(
        { type: 'MakeArrayStmt', capacity: 0, target: 2 },
        { type: 'CallStmt', func: 'sprintf', args: [S(1), L(2)], result: 3 },
        { type: 'MakeObjectStmt', target: 4 },
        { type: 'ObjectInsertStmt', object: 4, key: S(0), value: L(3) },
        { type: 'ResultSetAddStmt', value: 4 },
      )] }],
    })
    const wasmBytes = generate(p, { hostName: (n) => `verdict:${n}` })
    const pol = await loadPolicy(wasmBytes, undefined, { 'verdict:sprintf': (f: string) => `mine ${f}` })
    expect(pol.evaluate({})).toEqual([{ x: 'mine %d!' }])
  })
})

describe('generate (native strings)', () => {
  async function call(func: string, a: unknown, b: unknown): Promise<unknown> {
    const p = policy({
      strings: ['x', 'a', 'b'],
      builtins: [{ name: func, arity: 2 }],
      plans: [{ name: 'q', blocks: [blk(
        { type: 'DotStmt', source: L(0), key: S(1), target: 5 },
        { type: 'DotStmt', source: L(0), key: S(2), target: 6 },
        { type: 'CallStmt', func, args: [L(5), L(6)], result: 2 },
        { type: 'MakeObjectStmt', target: 3 },
        { type: 'ObjectInsertStmt', object: 3, key: S(0), value: L(2) },
        { type: 'ResultSetAddStmt', value: 3 },
      )] }],
    })
    const rows = (await loadPolicy(generate(p))).evaluate({ a, b }) as { x: unknown }[]
    return rows[0]?.x
  }

  it('splits like Go, including empty separators and strings', async () => {
    expect(await call('split', 'a,b,,c', ',')).toEqual(['a', 'b', '', 'c'])
    expect(await call('split', '', ',')).toEqual([''])
    expect(await call('split', 'hé!', '')).toEqual(['h', 'é', '!'])
    expect(await call('split', 1, ',')).toBeUndefined()
  })

  it('indexes by code point and matches prefixes, suffixes and substrings', async () => {
    expect(await call('indexof', 'skön var våren', 'vår')).toBe(9)
    expect(await call('indexof', 'abc', 'x')).toBe(-1)
    expect(await call('startswith', 'prefix-x', 'prefix')).toBe(true)
    expect(await call('endswith', 'x.json', '.yaml')).toBe(false)
    expect(await call('contains', 'haystack', 'st')).toBe(true)
    expect(await call('trim_prefix', 'v1.2', 'v')).toBe('1.2')
    expect(await call('trim_suffix', 'a.rego', '.rego')).toBe('a')
    expect(await call('concat', '/', ['a', 'b', 'c'])).toBe('a/b/c')
    expect(await call('concat', '/', ['a', 1])).toBeUndefined()
  })
})
