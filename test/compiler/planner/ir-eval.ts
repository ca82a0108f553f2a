/**
 * A small reference interpreter for the IR, used by the planner tests to check what a plan
 * computes without going through the wasm backend. It implements the statement semantics
 * documented in `src/compiler/ir/types.ts` and a handful of builtins.
 */
import type { Block, Func, Local, Operand, Policy, Stmt } from '../../../src/compiler/ir/types.js'

export class RObj {
  readonly m = new Map<string, [V, V]>()
}
export class RSet {
  readonly m = new Map<string, V>()
}
export type V = null | boolean | number | string | V[] | RObj | RSet

export class EvalError extends Error {
  readonly code: string
  constructor(code: string, message: string) {
    super(message)
    this.code = code
  }
}

/** A canonical text of a value: equal values, equal texts. */
export function canon(v: V): string {
  if (v instanceof RObj) return `{${[...v.m.keys()].sort().map((k) => `${k}:${canon(v.m.get(k)![1])}`).join(',')}}`
  if (v instanceof RSet) return `set(${[...v.m.keys()].sort().join(',')})`
  if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`
  return JSON.stringify(v)
}

/** JSON value → IR value. */
export function fromJSON(x: unknown): V {
  if (Array.isArray(x)) return x.map(fromJSON)
  if (x !== null && typeof x === 'object') {
    const o = new RObj()
    for (const [k, v] of Object.entries(x)) o.m.set(canon(k), [k, fromJSON(v)])
    return o
  }
  return x as V
}

/** IR value → JSON (sets become sorted arrays). */
export function toJSON(v: V): unknown {
  if (v instanceof RObj) return Object.fromEntries([...v.m.values()].map(([k, x]) => [typeof k === 'string' ? k : canon(k), toJSON(x)]))
  if (v instanceof RSet) return [...v.m.keys()].sort().map((k) => toJSON(v.m.get(k)!))
  if (Array.isArray(v)) return v.map(toJSON)
  return v
}

const num = (v: V): number => {
  if (typeof v !== 'number') throw new EvalError('eval_type_error', 'operand must be number')
  return v
}
const coll = (v: V): V[] => (Array.isArray(v) ? v : v instanceof RSet ? [...v.m.values()] : v instanceof RObj ? [...v.m.values()].map((e) => e[1]) : [])
const BUILTINS: Record<string, (...a: V[]) => V | undefined> = {
  plus: (a, b) => num(a!) + num(b!),
  minus: (a, b) => {
    if (a instanceof RSet && b instanceof RSet) {
      const s = new RSet()
      for (const [k, x] of a.m) if (!b.m.has(k)) s.m.set(k, x)
      return s
    }
    return num(a!) - num(b!)
  },
  mul: (a, b) => num(a!) * num(b!),
  div: (a, b) => (num(b!) === 0 ? undefined : num(a!) / num(b!)),
  rem: (a, b) => num(a!) % num(b!),
  equal: (a, b) => canon(a!) === canon(b!),
  neq: (a, b) => canon(a!) !== canon(b!),
  lt: (a, b) => (a as number) < (b as number),
  gt: (a, b) => (a as number) > (b as number),
  lte: (a, b) => (a as number) <= (b as number),
  gte: (a, b) => (a as number) >= (b as number),
  count: (a) => (typeof a === 'string' ? a.length : coll(a!).length),
  sum: (a) => coll(a!).reduce<number>((s, x) => s + num(x), 0),
  is_string: (a) => typeof a === 'string',
  is_array: (a) => Array.isArray(a),
  split: (a, b) => (a as string).split(b as string),
  sort: (a) => [...coll(a!)].sort((x, y) => (canon(x) < canon(y) ? -1 : 1)),
  or: (a, b) => {
    const s = new RSet()
    for (const x of [...coll(a!), ...coll(b!)]) s.m.set(canon(x), x)
    return s
  },
  and: (a, b) => {
    const s = new RSet()
    const bs = new Set(coll(b!).map(canon))
    for (const x of coll(a!)) if (bs.has(canon(x))) s.m.set(canon(x), x)
    return s
  },
}

type Outcome = { kind: 'ok' } | { kind: 'undef' } | { kind: 'break'; n: number } | { kind: 'return' }

/** Evaluates one plan of a policy; returns its rows as JSON. */
export function evalPlan(policy: Policy, name: string, input: unknown, data: unknown = {}): unknown[] {
  const funcs = new Map<string, Func>(policy.funcs.funcs.map((f) => [f.name, f]))
  const strings = policy.static.strings.map((s) => s.value)
  const rows: unknown[] = []
  const plan = policy.plans.plans.find((p) => p.name === name)
  if (!plan) throw new Error(`no plan ${name}`)

  const run = (blocks: Block[], frame: Map<Local, V>, ret?: { v: V | undefined; local: Local }): void => {
    for (const b of blocks) {
      const o = block(b, frame, ret)
      if (o.kind === 'return') return
    }
  }
  const op = (o: Operand, frame: Map<Local, V>): V | undefined =>
    o.type === 'local' ? frame.get(o.value) : o.type === 'bool' ? o.value : strings[o.value]!
  const dot = (src: V | undefined, key: V): V | undefined => {
    if (Array.isArray(src)) return typeof key === 'number' ? src[key] : undefined
    if (src instanceof RObj) return src.m.get(canon(key))?.[1]
    if (src instanceof RSet) return src.m.has(canon(key)) ? key : undefined
    return undefined
  }
  const callFunc = (f: Func, args: (V | undefined)[]): V | undefined => {
    const frame = new Map<Local, V>()
    f.params.forEach((p, i) => {
      if (args[i] !== undefined) frame.set(p, args[i]!)
    })
    const ret = { v: undefined as V | undefined, local: f.return }
    run(f.blocks, frame, ret)
    return ret.v
  }
  const upsert = (base: V | undefined, path: string[], v: V): V => {
    if (path.length === 0) return v
    const o = new RObj()
    if (base instanceof RObj) for (const [k, e] of base.m) o.m.set(k, e)
    const [h, ...rest] = path
    o.m.set(canon(h!), [h!, upsert(o.m.get(canon(h!))?.[1], rest, v)])
    return o
  }
  const merge = (a: V, b: V): V | undefined => {
    if (!(a instanceof RObj) || !(b instanceof RObj)) return a
    const o = new RObj()
    for (const [k, e] of b.m) o.m.set(k, e)
    for (const [k, [kk, x]] of a.m) {
      const other = o.m.get(k)
      o.m.set(k, [kk, other ? merge(x, other[1])! : x])
    }
    return o
  }
  const block = (b: Block, frame: Map<Local, V>, ret?: { v: V | undefined; local: Local }): Outcome => {
    for (const s of b.stmts) {
      const o = stmt(s, frame, ret)
      if (o.kind === 'undef') return { kind: 'ok' }
      if (o.kind === 'break') return o.n === 0 ? { kind: 'ok' } : { kind: 'break', n: o.n - 1 }
      if (o.kind === 'return') return o
    }
    return { kind: 'ok' }
  }
  const OK: Outcome = { kind: 'ok' }
  const UNDEF: Outcome = { kind: 'undef' }
  const stmt = (s: Stmt, f: Map<Local, V>, ret?: { v: V | undefined; local: Local }): Outcome => {
    const set = (l: Local, v: V | undefined): Outcome => {
      if (v === undefined) return UNDEF
      f.set(l, v)
      return OK
    }
    switch (s.type) {
      case 'ReturnLocalStmt':
        if (ret) ret.v = f.get(s.source)
        return { kind: 'return' }
      case 'CallStmt': {
        const args = s.args.map((a) => op(a, f))
        const fn = funcs.get(s.func)
        if (fn) return set(s.result, callFunc(fn, args))
        const bi = BUILTINS[s.func]
        if (!bi) throw new Error(`builtin ${s.func} not in the test interpreter`)
        if (args.some((a) => a === undefined)) return UNDEF
        return set(s.result, bi(...(args as V[])))
      }
      case 'CallDynamicStmt':
        return UNDEF
      case 'BlockStmt':
        for (const b of s.blocks) {
          const o = block(b, f, ret)
          if (o.kind !== 'ok') return o
        }
        return OK
      case 'BreakStmt':
        return { kind: 'break', n: s.index }
      case 'DotStmt':
        return set(s.target, dot(op(s.source, f), op(s.key, f)!))
      case 'LenStmt': {
        const v = op(s.source, f)
        return set(s.target, typeof v === 'string' ? v.length : coll(v ?? null).length)
      }
      case 'ScanStmt': {
        const src = f.get(s.source)
        const entries: [V, V][] = Array.isArray(src)
          ? src.map((x, i) => [i, x])
          : src instanceof RObj
            ? [...src.m.values()]
            : src instanceof RSet
              ? [...src.m.values()].map((x) => [x, x])
              : []
        for (const [k, v] of entries) {
          f.set(s.key, k)
          f.set(s.value, v)
          const o = block(s.block, f, ret)
          if (o.kind !== 'ok') return o
        }
        return OK
      }
      case 'NotStmt': {
        let defined = true
        const inner = new Map(f)
        for (const x of s.block.stmts) {
          const o = stmt(x, inner, ret)
          if (o.kind === 'undef') {
            defined = false
            break
          }
        }
        return defined ? UNDEF : OK
      }
      case 'AssignIntStmt':
        return set(s.target, s.value)
      case 'AssignVarStmt': {
        const v = op(s.source, f)
        if (v === undefined) f.delete(s.target)
        else f.set(s.target, v)
        return OK
      }
      case 'AssignVarOnceStmt': {
        const v = op(s.source, f)!
        const cur = f.get(s.target)
        if (cur !== undefined && canon(cur) !== canon(v)) {
          throw new EvalError('eval_conflict_error', 'complete rules must not produce multiple outputs')
        }
        return set(s.target, v)
      }
      case 'ResetLocalStmt':
        f.delete(s.target)
        return OK
      case 'MakeNullStmt':
        return set(s.target, null)
      case 'MakeNumberIntStmt':
        return set(s.target, s.value)
      case 'MakeNumberRefStmt':
        return set(s.target, Number(strings[s.index]))
      case 'MakeArrayStmt':
        return set(s.target, [])
      case 'MakeObjectStmt':
        return set(s.target, new RObj())
      case 'MakeSetStmt':
        return set(s.target, new RSet())
      case 'EqualStmt':
        return canon(op(s.a, f)!) === canon(op(s.b, f)!) ? OK : UNDEF
      case 'NotEqualStmt':
        return canon(op(s.a, f)!) !== canon(op(s.b, f)!) ? OK : UNDEF
      case 'IsArrayStmt':
        return Array.isArray(op(s.source, f)) ? OK : UNDEF
      case 'IsObjectStmt':
        return op(s.source, f) instanceof RObj ? OK : UNDEF
      case 'IsSetStmt':
        return op(s.source, f) instanceof RSet ? OK : UNDEF
      case 'IsDefinedStmt':
        return f.has(s.source) ? OK : UNDEF
      case 'IsUndefinedStmt':
        return f.has(s.source) ? UNDEF : OK
      case 'ArrayAppendStmt':
        ;(f.get(s.array) as V[]).push(op(s.value, f)!)
        return OK
      case 'ObjectInsertStmt':
      case 'ObjectInsertOnceStmt': {
        const o = f.get(s.object) as RObj
        const k = op(s.key, f)!
        const v = op(s.value, f)!
        const cur = o.m.get(canon(k))
        if (s.type === 'ObjectInsertOnceStmt' && cur && canon(cur[1]) !== canon(v)) {
          throw new EvalError('eval_conflict_error', 'object keys must be unique')
        }
        o.m.set(canon(k), [k, v])
        return OK
      }
      case 'ObjectMergeStmt':
        return set(s.target, merge(f.get(s.a)!, f.get(s.b)!))
      case 'SetAddStmt': {
        const v = op(s.value, f)!
        ;(f.get(s.set) as RSet).m.set(canon(v), v)
        return OK
      }
      case 'WithStmt': {
        const saved = f.get(s.local)
        const v = op(s.value, f)
        const nv = s.path.length === 0 ? v : upsert(saved, s.path.map((i) => strings[i]!), v!)
        if (nv === undefined) f.delete(s.local)
        else f.set(s.local, nv)
        const o = block(s.block, f, ret)
        if (saved === undefined) f.delete(s.local)
        else f.set(s.local, saved)
        return o
      }
      case 'NopStmt':
        return OK
      case 'ResultSetAddStmt':
        rows.push(toJSON(f.get(s.value)!))
        return OK
    }
  }
  const frame = new Map<Local, V>()
  if (input !== undefined) frame.set(0, fromJSON(input))
  frame.set(1, fromJSON(data))
  run(plan.blocks, frame)
  return rows
}
