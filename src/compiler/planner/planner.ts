/**
 * The planner: turns a compiled policy (and entrypoints or queries) into the IR, one `Func` per
 * rule path and one `Plan` per entrypoint. It plans in continuation-passing style, as OPA's
 * planner does: every construct that may iterate (a ref with a variable, `some x in xs`) emits
 * a `ScanStmt` and plans the rest of the body inside it.
 *
 * @module
 */

import type {
  Body,
  BuiltinDecl,
  CompiledPolicy,
  CompiledQuery,
  CompiledRule,
  Expr,
  Location,
  RefTerm,
  RegoErrorCode,
  RuleSet,
  Term,
  With,
} from '../../rego/index.js'
import { exprShape, getBuiltin, refName, RegoError, RegoErrors, termVars } from '../../rego/index.js'
import type { Block, Func, Local, Operand, Plan, Policy, Stmt } from '../ir/types.js'
import { DATA_LOCAL, FIRST_FREE_LOCAL, INPUT_LOCAL } from '../ir/types.js'

/** What to plan: entrypoints like `pkg/rule`, and/or named compiled queries. */
export interface PlanOptions {
  entrypoints?: string[]
  queries?: { name: string; query: CompiledQuery }[]
}

type Iter = () => void
type OpIter = (op: Operand) => void
type StmtBody<T> = T extends Stmt ? Omit<T, 'file' | 'row' | 'col'> : never

/** Plan-time context that changes which funcs a call resolves to (`with` on functions/data). */
interface PlanCtx {
  /** Mocked functions and builtins: name → replacement term. */
  mocks: Map<string, Term>
  /** Data paths replaced with `with data.x as ...` that cover rules. */
  dataOverrides: string[][]
}

interface TrieNode {
  children: Map<string, TrieNode>
  set?: RuleSet
}

interface Saved {
  next: Local
  block: Block
  env: Map<string, Local>
  loc: Location | undefined
  ctx: PlanCtx
}

const EMPTY_CTX: PlanCtx = { mocks: new Map(), dataOverrides: [] }

function fail(message: string, location: Location | undefined, code: RegoErrorCode = 'rego_compile_error'): never {
  const loc = location ?? { file: '', row: 0, col: 0, offset: 0 }
  throw new RegoErrors([new RegoError(code, message, loc)])
}

function isPrefix(a: string[], b: string[]): boolean {
  return a.length <= b.length && a.every((x, i) => b[i] === x)
}

/** The planner for one policy; call `plan()` once. */
export class Planner {
  readonly #compiled: CompiledPolicy
  readonly #strings: string[] = []
  readonly #stringIndex = new Map<string, number>()
  readonly #files: string[] = []
  readonly #funcs = new Map<string, Func>()
  readonly #builtins = new Map<string, number>()
  readonly #trie: TrieNode = { children: new Map() }
  readonly #ctxNames = new Map<string, number>()
  #next: Local = FIRST_FREE_LOCAL
  #mockCount = 0
  #block: Block = { stmts: [] }
  #env = new Map<string, Local>()
  #loc: Location | undefined
  #ctx: PlanCtx = EMPTY_CTX

  constructor(compiled: CompiledPolicy) {
    this.#compiled = compiled
    for (const p of compiled.packages) this.#node(p)
    for (const set of compiled.rules.values()) this.#node(set.path).set = set
  }

  #node(path: string[]): TrieNode {
    let n = this.#trie
    for (const p of path) {
      let c = n.children.get(p)
      if (!c) {
        c = { children: new Map() }
        n.children.set(p, c)
      }
      n = c
    }
    return n
  }

  /** Plans the entrypoints and queries into a policy. */
  plan(options: PlanOptions): Policy {
    const plans: Plan[] = []
    for (const ep of options.entrypoints ?? []) {
      const path = ep.split('/').filter((s) => s !== '')
      plans.push(
        this.#planBlock(ep, () => {
          const loc: Location = { file: '', row: 0, col: 0, offset: 0 }
          const terms: Term[] = path.map((value) => ({ type: 'string', value, location: loc }))
          this.#dataRef(terms, undefined, (op) => {
            const row = this.#local()
            this.#emit({ type: 'MakeObjectStmt', target: row })
            this.#emit({ type: 'ObjectInsertStmt', object: row, key: this.#str('result'), value: op })
            this.#emit({ type: 'ResultSetAddStmt', value: row })
          })
        }),
      )
    }
    for (const q of options.queries ?? []) {
      plans.push(
        this.#planBlock(q.name, () => {
          this.#body(q.query.body, 0, () => {
            const row = this.#local()
            this.#emit({ type: 'MakeObjectStmt', target: row })
            for (const v of q.query.vars) {
              const l = this.#env.get(v)
              if (l === undefined) continue
              this.#emit({ type: 'ObjectInsertStmt', object: row, key: this.#str(v), value: { type: 'local', value: l } })
            }
            this.#emit({ type: 'ResultSetAddStmt', value: row })
          })
        }),
      )
    }
    return {
      static: {
        strings: this.#strings.map((value) => ({ value })),
        builtin_funcs: [...this.#builtins].map(([name, arity]) => ({ name, arity })),
        files: this.#files.map((value) => ({ value })),
      },
      plans: { plans },
      funcs: { funcs: [...this.#funcs.values()] },
    }
  }

  #planBlock(name: string, f: () => void): Plan {
    const saved = this.#save()
    this.#next = FIRST_FREE_LOCAL
    this.#block = { stmts: [] }
    this.#env = new Map()
    this.#ctx = EMPTY_CTX
    f()
    const plan = { name, blocks: [this.#block] }
    this.#restore(saved)
    return plan
  }

  // -------------------------------------------------------------------------------------------
  // Emission helpers

  #save(): Saved {
    return {
      next: this.#next, block: this.#block, env: this.#env, loc: this.#loc, ctx: this.#ctx }
  }

  #restore(s: Saved): void {
    this.#next = s.next
    this.#block = s.block
    this.#env = s.env
    this.#loc = s.loc
    this.#ctx = s.ctx
  }

  #local(): Local {
    return this.#next++
  }

  #str(s: string): Operand {
    return { type: 'string_index', value: this.#strIndex(s) }
  }

  #strIndex(s: string): number {
    let i = this.#stringIndex.get(s)
    if (i === undefined) {
      i = this.#strings.length
      this.#strings.push(s)
      this.#stringIndex.set(s, i)
    }
    return i
  }

  #emit(stmt: StmtBody<Stmt>): void {
    const loc = this.#loc
    let file = 0
    if (loc) {
      file = this.#files.indexOf(loc.file)
      if (file < 0) file = this.#files.push(loc.file) - 1
    }
    this.#block.stmts.push({ ...stmt, file, row: loc?.row ?? 0, col: loc?.col ?? 0 } as Stmt)
  }

  /** Plans `f` into a fresh block and returns it; the env is restored afterwards. */
  #nested(f: () => void): Block {
    const saved = this.#save()
    this.#block = { stmts: [] }
    this.#env = new Map(this.#env)
    f()
    const b = this.#block
    const next = this.#next
    this.#restore(saved)
    // Locals are never reused within a func: a later block may test them for definedness.
    this.#next = next
    return b
  }

  /**
   * Defined iff `plan` never reaches `found`. A flag instead of a bare `NotStmt`, because a
   * block that iterates (a `ScanStmt`) is never undefined itself.
   */
  #unless(plan: (found: Iter) => void): void {
    const flag = this.#local()
    this.#emit({ type: 'ResetLocalStmt', target: flag })
    const block = this.#nested(() =>
      plan(() => this.#emit({ type: 'AssignVarStmt', source: { type: 'bool', value: true }, target: flag })),
    )
    this.#emit({ type: 'BlockStmt', blocks: [block] })
    this.#emit({ type: 'IsUndefinedStmt', source: flag })
  }

  #false(): void {
    this.#emit({ type: 'EqualStmt', a: { type: 'bool', value: true }, b: { type: 'bool', value: false } })
  }

  #toLocal(op: Operand): Local {
    if (op.type === 'local') return op.value
    const l = this.#local()
    this.#emit({ type: 'AssignVarStmt', source: op, target: l })
    return l
  }

  #copy(source: Local): Local {
    const l = this.#local()
    this.#emit({ type: 'AssignVarStmt', source: { type: 'local', value: source }, target: l })
    return l
  }

  #int(n: number): Local {
    const l = this.#local()
    this.#emit({ type: 'MakeNumberIntStmt', value: n, target: l })
    return l
  }

  // -------------------------------------------------------------------------------------------
  // Bodies and expressions

  #body(body: Body, i: number, iter: Iter): void {
    if (i >= body.length) return iter()
    this.#expr(body[i]!, () => this.#body(body, i + 1, iter))
  }

  #expr(e: Expr, iter: Iter): void {
    this.#loc = e.location
    if (e.with.length > 0) return this.#with(e, 0, iter)
    if (e.negated) {
      this.#unless((found) => this.#exprInner(e, found))
      this.#loc = e.location
      return iter()
    }
    this.#exprInner(e, iter)
  }

  #exprInner(e: Expr, iter: Iter): void {
    const s = exprShape(e)
    switch (s.kind) {
      case 'some':
        for (const v of s.decl.vars) this.#env.delete(v.value)
        return iter()
      case 'somein': {
        const { key, value, collection } = s.decl
        return this.#term(collection, (op) => {
          const src = this.#toLocal(op)
          const k = this.#local()
          const v = this.#local()
          const block = this.#nested(() => {
            for (const x of [...(key ? termVars(key) : []), ...termVars(value)]) this.#env.delete(x)
            const next = (): void => this.#unifyOp(value, { type: 'local', value: v }, iter)
            if (key) this.#unifyOp(key, { type: 'local', value: k }, next)
            else next()
          })
          this.#emit({ type: 'ScanStmt', source: src, key: k, value: v, block })
        })
      }
      case 'every': {
        const d = s.decl
        // every x in xs { body }: no element of xs for which the body is undefined.
        // An undefined domain makes `every` undefined, so it is planned outside the flag block.
        return this.#term(d.domain, (op) => {
          const src = this.#toLocal(op)
          this.#unless((found) => {
            const k = this.#local()
            const v = this.#local()
            const scan = this.#nested(() => {
              this.#env.set(d.value.value, v)
              if (d.key) this.#env.set(d.key.value, k)
              this.#unless((ok) => this.#body(d.body, 0, ok))
              found()
            })
            this.#emit({ type: 'ScanStmt', source: src, key: k, value: v, block: scan })
          })
          this.#loc = e.location
          iter()
        })
      }
      case 'term':
        return this.#term(s.term, (op) => {
          this.#emit({ type: 'NotEqualStmt', a: op, b: { type: 'bool', value: false } })
          iter()
        })
      case 'call': {
        if (s.op === 'eq') return this.#unify(s.args[0]!, s.args[1]!, iter)
        if (s.op === 'assign') {
          return this.#term(s.args[1]!, (op) => {
            for (const v of termVars(s.args[0]!)) this.#env.delete(v)
            this.#unifyOp(s.args[0]!, op, iter)
          })
        }
        const arity = this.#arity(s.operator)
        if (arity !== undefined && s.args.length === arity + 1) {
          const out = s.args[arity]!
          return this.#call(s.operator, s.args.slice(0, arity), (r) => this.#unifyOp(out, r, iter))
        }
        const decl = this.#decl(refName(s.operator) ?? '')
        return this.#call(s.operator, s.args, (r) => {
          if (decl && !decl.result) return iter()
          this.#emit({ type: 'NotEqualStmt', a: r, b: { type: 'bool', value: false } })
          iter()
        })
      }
    }
  }

  /** `with` modifiers: input/data through `WithStmt`, functions by plan-time replacement. */
  #with(e: Expr, i: number, iter: Iter): void {
    if (i >= e.with.length) {
      const bare: Expr = { ...e, with: [] }
      return this.#expr(bare, iter)
    }
    const w: With = e.with[i]!
    const target = w.target.value
    const root = target[0]
    const path: string[] = []
    for (const t of target.slice(1)) {
      if (t.type !== 'string') fail('unsupported: with target with a non-string key', w.location)
      path.push(t.value)
    }
    const isRoot = root?.type === 'var' && (root.value === 'input' || root.value === 'data')
    const name = refName(w.target)
    const isFunc =
      name !== undefined &&
      (!isRoot || (root?.type === 'var' && root.value === 'data' && this.#compiled.rules.get(JSON.stringify(path))?.kind === 'function'))
    if (isFunc) {
      const locals = [...termVars(w.value)].filter((v) => v !== 'input' && v !== 'data' && this.#env.has(v))
      const saved = this.#ctx
      if (locals.length > 0) {
        // Funcs cannot see this body's locals, so the value travels in the data document,
        // under a key no policy can spell, and the mock reads it back from there.
        this.#loc = w.location
        this.#term(w.value, (val) => {
          const key = `$mock${this.#mockCount++}`
          const loc = w.location
          const ref: RefTerm = {
            type: 'ref',
            value: [
              { type: 'var', value: 'data', location: loc },
              { type: 'string', value: key, location: loc },
            ],
            location: loc,
          }
          const mocks = new Map(saved.mocks)
          mocks.set(name, ref)
          this.#ctx = { ...saved, mocks }
          const block = this.#nested(() =>
            this.#with(e, i + 1, () => {
              const inner = this.#ctx
              this.#ctx = saved
              iter()
              this.#ctx = inner
            }),
          )
          this.#ctx = saved
          this.#loc = w.location
          this.#emit({ type: 'WithStmt', local: DATA_LOCAL, path: [this.#strIndex(key)], value: val, block })
        })
        return
      }
      const mocks = new Map(saved.mocks)
      mocks.set(name, w.value)
      this.#ctx = { ...saved, mocks }
      this.#with(e, i + 1, () => {
        const inner = this.#ctx
        this.#ctx = saved
        iter()
        this.#ctx = inner
      })
      this.#ctx = saved
      return
    }
    if (!isRoot) fail('unsupported: with target', w.location)
    if (root.type === 'var' && root.value === 'data') {
      for (const set of this.#compiled.rules.values()) {
        if (set.path.length < path.length && isPrefix(set.path, path)) {
          fail(`unsupported: with on a path inside rule ${['data', ...set.path].join('.')}`, w.location)
        }
      }
    }
    this.#loc = w.location
    this.#term(w.value, (val) => {
      const local = root.type === 'var' && root.value === 'input' ? INPUT_LOCAL : DATA_LOCAL
      const saved = this.#ctx
      const overrides =
        local === DATA_LOCAL && this.#touchesRules(path) ? [...saved.dataOverrides, path] : saved.dataOverrides
      const orig = this.#local()
      this.#emit({ type: 'AssignVarStmt', source: { type: 'local', value: local }, target: orig })
      this.#ctx = { ...saved, dataOverrides: overrides }
      const block = this.#nested(() => {
        this.#with(e, i + 1, () => {
          const inner = this.#ctx
          this.#ctx = saved
          // The rest of the body runs with the original document put back.
          const undo = this.#nested(() => iter())
          this.#emit({ type: 'WithStmt', local, path: [], value: { type: 'local', value: orig }, block: undo })
          this.#ctx = inner
        })
      })
      this.#loc = w.location
      this.#emit({ type: 'WithStmt', local, path: path.map((p) => this.#strIndex(p)), value: val, block })
      this.#ctx = saved
    })
  }

  #touchesRules(path: string[]): boolean {
    for (const set of this.#compiled.rules.values()) {
      if (isPrefix(path, set.path) || isPrefix(set.path, path)) return true
    }
    return false
  }

  // -------------------------------------------------------------------------------------------
  // Unification

  /** True if `t` has an unbound var in a pattern position (bare, or inside array/object literals). */
  #isPattern(t: Term): boolean {
    switch (t.type) {
      case 'var':
        return !this.#bound(t.value)
      case 'array':
        return t.value.some((x) => this.#isPattern(x))
      case 'object':
        return t.value.some(([, v]) => this.#isPattern(v))
      default:
        return false
    }
  }

  #bound(name: string): boolean {
    return name === 'input' || name === 'data' || this.#env.has(name)
  }

  #unify(a: Term, b: Term, iter: Iter): void {
    if (a.type === 'array' && b.type === 'array') {
      if (a.value.length !== b.value.length) return this.#false()
      const go = (i: number): void => {
        if (i >= a.value.length) return iter()
        this.#unify(a.value[i]!, b.value[i]!, () => go(i + 1))
      }
      return go(0)
    }
    if (a.type === 'object' && b.type === 'object' && (this.#isPattern(a) || this.#isPattern(b))) {
      const key = (t: Term): string => JSON.stringify(t, (k, v) => (k === 'location' ? undefined : v))
      if (a.value.length !== b.value.length) return this.#false()
      const pairs: [Term, Term][] = []
      for (const [k, v] of a.value) {
        const other = b.value.find(([k2]) => key(k2) === key(k))
        if (!other) return this.#false()
        pairs.push([v, other[1]])
      }
      const go = (i: number): void => {
        if (i >= pairs.length) return iter()
        this.#unify(pairs[i]![0], pairs[i]![1], () => go(i + 1))
      }
      return go(0)
    }
    if (this.#isPattern(a)) {
      if (this.#isPattern(b) && (a.type === 'var' || b.type === 'var')) {
        fail(`var ${a.type === 'var' ? a.value : (b as { value: string }).value} is unsafe`, a.location, 'rego_unsafe_var_error')
      }
      return this.#term(b, (op) => this.#unifyOp(a, op, iter))
    }
    if (this.#isPattern(b)) return this.#term(a, (op) => this.#unifyOp(b, op, iter))
    this.#term(a, (oa) =>
      this.#term(b, (ob) => {
        this.#emit({ type: 'EqualStmt', a: oa, b: ob })
        iter()
      }),
    )
  }

  /** Unifies a term (maybe a pattern) with a value already in an operand. */
  #unifyOp(t: Term, op: Operand, iter: Iter): void {
    if (t.type === 'var' && !this.#bound(t.value)) {
      // input and data change under `with`: a var bound to them keeps its own copy.
      const aliased = op.type === 'local' && (op.value === INPUT_LOCAL || op.value === DATA_LOCAL)
      this.#env.set(t.value, aliased ? this.#copy(op.value) : this.#toLocal(op))
      return iter()
    }
    if (t.type === 'array' && this.#isPattern(t)) {
      const src = this.#shapeGuard(op, 'IsArrayStmt', t.value.length)
      const go = (i: number): void => {
        if (i >= t.value.length) return iter()
        const idx = this.#int(i)
        const el = this.#local()
        this.#emit({ type: 'DotStmt', source: { type: 'local', value: src }, key: { type: 'local', value: idx }, target: el })
        this.#unifyOp(t.value[i]!, { type: 'local', value: el }, () => go(i + 1))
      }
      return go(0)
    }
    if (t.type === 'object' && this.#isPattern(t)) {
      const src = this.#shapeGuard(op, 'IsObjectStmt', t.value.length)
      const go = (i: number): void => {
        if (i >= t.value.length) return iter()
        const [k, v] = t.value[i]!
        this.#term(k, (ko) => {
          const el = this.#local()
          this.#emit({ type: 'DotStmt', source: { type: 'local', value: src }, key: ko, target: el })
          this.#unifyOp(v, { type: 'local', value: el }, () => go(i + 1))
        })
      }
      return go(0)
    }
    this.#term(t, (o) => {
      this.#emit({ type: 'EqualStmt', a: o, b: op })
      iter()
    })
  }

  // -------------------------------------------------------------------------------------------
  // Terms

  #term(t: Term, iter: OpIter): void {
    switch (t.type) {
      case 'null': {
        const l = this.#local()
        this.#emit({ type: 'MakeNullStmt', target: l })
        return iter({ type: 'local', value: l })
      }
      case 'boolean':
        return iter({ type: 'bool', value: t.value })
      case 'number':
        return iter({ type: 'local', value: this.#number(t.value) })
      case 'string':
        return iter(this.#str(t.value))
      case 'var': {
        if (t.value === 'input') {
          this.#emit({ type: 'IsDefinedStmt', source: INPUT_LOCAL })
          return iter({ type: 'local', value: INPUT_LOCAL })
        }
        if (t.value === 'data') return this.#dataRef([], t, iter)
        const l = this.#env.get(t.value)
        if (l === undefined) fail(`var ${t.value} is unsafe`, t.location, 'rego_unsafe_var_error')
        return iter({ type: 'local', value: l })
      }
      case 'ref':
        return this.#ref(t, iter)
      case 'array':
        return this.#terms(t.value, (ops) => {
          const l = this.#local()
          this.#emit({ type: 'MakeArrayStmt', capacity: ops.length, target: l })
          for (const op of ops) this.#emit({ type: 'ArrayAppendStmt', array: l, value: op })
          iter({ type: 'local', value: l })
        })
      case 'set':
        return this.#terms(t.value, (ops) => {
          const l = this.#local()
          this.#emit({ type: 'MakeSetStmt', target: l })
          for (const op of ops) this.#emit({ type: 'SetAddStmt', set: l, value: op })
          iter({ type: 'local', value: l })
        })
      case 'object':
        return this.#terms(
          t.value.flatMap(([k, v]) => [k, v]),
          (ops) => {
            const l = this.#local()
            this.#emit({ type: 'MakeObjectStmt', target: l })
            for (let i = 0; i < ops.length; i += 2) {
              this.#emit({ type: 'ObjectInsertStmt', object: l, key: ops[i]!, value: ops[i + 1]! })
            }
            iter({ type: 'local', value: l })
          },
        )
      case 'call':
        return this.#call(t.operator, t.args, iter)
      case 'arraycomprehension':
      case 'setcomprehension':
      case 'objectcomprehension': {
        const l = this.#local()
        const loc = this.#loc
        this.#emit(
          t.type === 'arraycomprehension'
            ? { type: 'MakeArrayStmt', capacity: 0, target: l }
            : t.type === 'setcomprehension'
              ? { type: 'MakeSetStmt', target: l }
              : { type: 'MakeObjectStmt', target: l },
        )
        const block = this.#nested(() =>
          this.#body(t.body, 0, () => {
            if (t.type === 'objectcomprehension') {
              this.#term(t.key, (k) =>
                this.#term(t.value, (v) => this.#emit({ type: 'ObjectInsertOnceStmt', object: l, key: k, value: v })),
              )
            } else {
              this.#term(t.term, (v) =>
                this.#emit(
                  t.type === 'arraycomprehension'
                    ? { type: 'ArrayAppendStmt', array: l, value: v }
                    : { type: 'SetAddStmt', set: l, value: v },
                ),
              )
            }
          }),
        )
        this.#loc = loc
        this.#emit({ type: 'BlockStmt', blocks: [block] })
        return iter({ type: 'local', value: l })
      }
    }
  }

  #terms(ts: Term[], iter: (ops: Operand[]) => void, acc: Operand[] = []): void {
    if (acc.length >= ts.length) return iter(acc)
    this.#term(ts[acc.length]!, (op) => this.#terms(ts, iter, [...acc, op]))
  }

  #number(text: string): Local {
    const l = this.#local()
    const n = Number(text)
    if (/^-?\d+$/.test(text) && Number.isSafeInteger(n)) this.#emit({ type: 'MakeNumberIntStmt', value: n, target: l })
    else this.#emit({ type: 'MakeNumberRefStmt', index: this.#strIndex(text), target: l })
    return l
  }

  // -------------------------------------------------------------------------------------------
  // Refs

  #ref(t: RefTerm, iter: OpIter): void {
    const [head, ...rest] = t.value
    if (!head) return fail('empty ref', t.location)
    if (head.type === 'var' && head.value === 'data') return this.#dataRef(rest, t, iter)
    if (head.type === 'var' && head.value === 'input') {
      this.#emit({ type: 'IsDefinedStmt', source: INPUT_LOCAL })
      return this.#walk(INPUT_LOCAL, rest, iter)
    }
    this.#term(head, (op) => this.#walk(this.#toLocal(op), rest, iter))
  }

  /** Dereferences `source` by each operand in turn; unbound var operands iterate. */
  #walk(source: Local, ops: Term[], iter: OpIter, base = false): void {
    if (ops.length === 0) return iter({ type: 'local', value: source })
    const [op, ...rest] = ops
    if (op!.type === 'var' && !this.#bound(op!.value)) {
      const k = this.#local()
      const v = this.#local()
      const name = op!.value
      const block = this.#nested(() => {
        this.#env.set(name, k)
        this.#walk(v, rest, iter, base)
      })
      this.#emit({ type: 'ScanStmt', source, key: k, value: v, block })
      return
    }
    if (base && op!.type === 'number') {
      // Base data comes from JSON, where object keys are strings: `data.x[2]` also finds "2".
      const target = this.#local()
      this.#emit({ type: 'ResetLocalStmt', target })
      const num = this.#number(op!.value)
      const byIndex = this.#nested(() => {
        const t = this.#local()
        this.#emit({ type: 'DotStmt', source: { type: 'local', value: source }, key: { type: 'local', value: num }, target: t })
        this.#emit({ type: 'AssignVarStmt', source: { type: 'local', value: t }, target })
      })
      const byKey = this.#nested(() => {
        const t = this.#local()
        this.#emit({ type: 'IsUndefinedStmt', source: target })
        this.#emit({ type: 'DotStmt', source: { type: 'local', value: source }, key: this.#str(op!.value), target: t })
        this.#emit({ type: 'AssignVarStmt', source: { type: 'local', value: t }, target })
      })
      this.#emit({ type: 'BlockStmt', blocks: [byIndex, byKey] })
      this.#emit({ type: 'IsDefinedStmt', source: target })
      return this.#walk(target, rest, iter, base)
    }
    if (this.#isPattern(op!)) {
      // A composite key with unbound vars (`x[[a, b]]`): iterate and unify.
      const k = this.#local()
      const v = this.#local()
      const block = this.#nested(() => this.#unifyOp(op!, { type: 'local', value: k }, () => this.#walk(v, rest, iter)))
      this.#emit({ type: 'ScanStmt', source, key: k, value: v, block })
      return
    }
    this.#term(op!, (key) => {
      const target = this.#local()
      this.#emit({ type: 'DotStmt', source: { type: 'local', value: source }, key, target })
      this.#walk(target, rest, iter, base)
    })
  }

  /**
   * A ref into `data`: follows the rule trie as far as constant keys go, calls the rule's func
   * when it reaches a rule, reads base data where no rule exists, and otherwise builds the
   * virtual document of that prefix merged with base data.
   */
  #dataRef(ops: Term[], at: Term | undefined, iter: OpIter): void {
    this.#dataFrom(this.#trie, [], ops, 0, at, iter)
  }

  #dataFrom(node: TrieNode, path: string[], ops: Term[], i: number, at: Term | undefined, iter: OpIter): void {
    const overridden = (): boolean => this.#ctx.dataOverrides.some((o) => isPrefix(o, path))
    for (; i < ops.length; i++) {
      if (node.set || overridden()) break
      const op = ops[i]!
      // Rule names are strings: another scalar key can only address base data.
      if (op.type === 'number' || op.type === 'boolean' || op.type === 'null') return this.#walk(DATA_LOCAL, ops, iter, true)
      if (op.type === 'var' && !this.#bound(op.value)) return this.#dataIterate(node, path, ops, i, at, iter)
      if (op.type !== 'string' && !this.#isPattern(op)) return this.#dataSelect(node, path, ops, i, at, iter)
      if (op.type !== 'string') break
      const child = node.children.get(op.value)
      if (!child) {
        // No rule below this key: plain base data.
        return this.#walk(DATA_LOCAL, ops, iter, true)
      }
      node = child
      path = [...path, op.value]
    }
    if (overridden()) return this.#walk(DATA_LOCAL, ops, iter)
    if (node.set) {
      if (node.set.kind === 'function') fail(`unsupported: function ${['data', ...path].join('.')} used as a value`, at?.location ?? this.#loc)
      const result = this.#local()
      this.#emit({
        type: 'CallStmt',
        func: this.#funcFor(node.set),
        args: [
          { type: 'local', value: INPUT_LOCAL },
          { type: 'local', value: DATA_LOCAL },
        ],
        result,
      })
      return this.#walk(result, ops.slice(i), iter)
    }
    const doc = this.#virtual(node, path)
    this.#walk(doc, ops.slice(i), iter)
  }

  /**
   * `data.a[k]…` with a computed key: the child rule named by the key's value, or else the
   * base data under that key; rules the key does not name are not evaluated.
   */
  #dataSelect(node: TrieNode, path: string[], ops: Term[], i: number, at: Term | undefined, iter: OpIter): void {
    this.#term(ops[i]!, (key) => {
      for (const [name, child] of node.children) {
        if (child.set?.kind === 'function') continue
        const block = this.#nested(() => {
          this.#emit({ type: 'EqualStmt', a: key, b: this.#str(name) })
          this.#dataFrom(child, [...path, name], ops, i + 1, at, iter)
        })
        this.#emit({ type: 'BlockStmt', blocks: [block] })
      }
      const base = this.#nested(() => {
        for (const name of node.children.keys()) this.#emit({ type: 'NotEqualStmt', a: key, b: this.#str(name) })
        let doc: Local = DATA_LOCAL
        for (const p of path) {
          const t = this.#local()
          this.#emit({ type: 'DotStmt', source: { type: 'local', value: doc }, key: this.#str(p), target: t })
          doc = t
        }
        const t = this.#local()
        this.#emit({ type: 'DotStmt', source: { type: 'local', value: doc }, key, target: t })
        this.#walk(t, ops.slice(i + 1), iter, true)
      })
      this.#emit({ type: 'BlockStmt', blocks: [base] })
    })
  }

  /**
   * `data.a[x]…` with `x` unbound at a node of the rule trie: one alternative per child (the
   * rest of the ref goes on from there, so only the rules it names are evaluated), and a scan
   * over the base data's other keys.
   */
  #dataIterate(node: TrieNode, path: string[], ops: Term[], i: number, at: Term | undefined, iter: OpIter): void {
    const name = (ops[i] as { value: string }).value
    for (const [key, child] of node.children) {
      if (child.set?.kind === 'function') continue
      const block = this.#nested(() => {
        this.#env.set(name, this.#toLocal(this.#str(key)))
        this.#dataFrom(child, [...path, key], ops, i + 1, at, iter)
      })
      this.#emit({ type: 'BlockStmt', blocks: [block] })
    }
    const base = this.#nested(() => {
      let doc: Local = DATA_LOCAL
      for (const p of path) {
        const t = this.#local()
        this.#emit({ type: 'DotStmt', source: { type: 'local', value: doc }, key: this.#str(p), target: t })
        doc = t
      }
      const k = this.#local()
      const v = this.#local()
      const scan = this.#nested(() => {
        for (const key of node.children.keys()) {
          this.#emit({ type: 'NotEqualStmt', a: { type: 'local', value: k }, b: this.#str(key) })
        }
        this.#env.set(name, k)
        this.#walk(v, ops.slice(i + 1), iter, true)
      })
      this.#emit({ type: 'ScanStmt', source: doc, key: k, value: v, block: scan })
    })
    this.#emit({ type: 'BlockStmt', blocks: [base] })
  }

  /**
   * Guards a pattern unification: `op` must be an array (or object) with exactly `length`
   * elements. Returns the local holding it.
   */
  #shapeGuard(op: Operand, is: 'IsArrayStmt' | 'IsObjectStmt', length: number): Local {
    const src = this.#toLocal(op)
    this.#emit({ type: is, source: { type: 'local', value: src } })
    const n = this.#local()
    this.#emit({ type: 'LenStmt', source: { type: 'local', value: src }, target: n })
    const want = this.#int(length)
    this.#emit({ type: 'EqualStmt', a: { type: 'local', value: n }, b: { type: 'local', value: want } })
    return src
  }

  /** The value of a trie child: its rule set's func called on (input, data), or its subtree. */
  #childValue(child: TrieNode, path: string[]): Local {
    if (!child.set) return this.#virtual(child, path)
    const v = this.#local()
    this.#emit({
      type: 'CallStmt',
      func: this.#funcFor(child.set),
      args: [
        { type: 'local', value: INPUT_LOCAL },
        { type: 'local', value: DATA_LOCAL },
      ],
      result: v,
    })
    return v
  }

  /** The document at a trie node: its rules' values merged over the base data at `path`. */
  #virtual(node: TrieNode, path: string[]): Local {
    const obj = this.#local()
    this.#emit({ type: 'MakeObjectStmt', target: obj })
    for (const [name, child] of node.children) {
      if (child.set?.kind === 'function') continue
      const childPath = [...path, name]
      if (this.#ctx.dataOverrides.some((o) => isPrefix(o, childPath))) continue
      const block = this.#nested(() => {
        const v = this.#childValue(child, childPath)
        this.#emit({ type: 'ObjectInsertStmt', object: obj, key: this.#str(name), value: { type: 'local', value: v } })
      })
      this.#emit({ type: 'BlockStmt', blocks: [block] })
    }
    const out = this.#local()
    this.#emit({ type: 'AssignVarStmt', source: { type: 'local', value: obj }, target: out })
    const merge = this.#nested(() => {
      let base: Local = DATA_LOCAL
      for (const p of path) {
        const t = this.#local()
        this.#emit({ type: 'DotStmt', source: { type: 'local', value: base }, key: this.#str(p), target: t })
        base = t
      }
      const m = this.#local()
      // Base data wins over rule values on a clash, as in OPA's storage-backed evaluation.
      this.#emit({ type: 'ObjectMergeStmt', a: base, b: obj, target: m })
      this.#emit({ type: 'AssignVarStmt', source: { type: 'local', value: m }, target: out })
    })
    this.#emit({ type: 'BlockStmt', blocks: [merge] })
    return out
  }

  // -------------------------------------------------------------------------------------------
  // Calls

  #decl(name: string): BuiltinDecl | undefined {
    return this.#compiled.builtins.get(name) ?? getBuiltin(name)
  }

  #arity(operator: RefTerm): number | undefined {
    const set = this.#userFunc(operator)
    if (set) return set.arity
    const name = refName(operator)
    if (name === undefined) return undefined
    const mock = this.#ctx.mocks.get(name)
    if (mock && mock.type === 'ref') {
      const s = this.#userFunc(mock)
      if (s) return s.arity
    }
    const decl = this.#decl(name)
    return decl && decl.result ? decl.arity : undefined
  }

  #userFunc(operator: Term): RuleSet | undefined {
    if (operator.type !== 'ref') return undefined
    const [head, ...rest] = operator.value
    if (head?.type !== 'var' || head.value !== 'data') return undefined
    if (!rest.every((t) => t.type === 'string')) return undefined
    const set = this.#compiled.rules.get(JSON.stringify(rest.map((t) => (t as { value: string }).value)))
    return set?.kind === 'function' ? set : undefined
  }

  #call(operator: RefTerm, args: Term[], iter: OpIter): void {
    const name = refName(operator) ?? ''
    const mock = this.#ctx.mocks.get(name)
    if (mock) {
      const target = mock.type === 'ref' || mock.type === 'var' ? refName(mock) : undefined
      const isFunc = target !== undefined && (this.#userFunc(mock) !== undefined || (!target.startsWith('data.') && !target.startsWith('input.') && this.#decl(target)))
      if (isFunc) {
        const saved = this.#ctx
        const ref: RefTerm = mock.type === 'ref' ? mock : { type: 'ref', value: [mock], location: mock.location }
        // The arguments are planned under the current mocks; the replacement itself runs
        // unmocked (mocks do not apply inside other mocks). Planned arguments are handed over
        // as generated vars bound to their locals.
        return this.#terms(args, (ops) => {
          const vars: Term[] = ops.map((op, i) => {
            const v = `__arg${this.#mockCount++}_${i}__`
            this.#env.set(v, this.#toLocal(op))
            return { type: 'var', value: v, location: args[i]!.location }
          })
          this.#ctx = { ...saved, mocks: new Map() }
          this.#call(ref, vars, (op) => {
            this.#ctx = saved
            iter(op)
          })
          this.#ctx = saved
        })
      }
      return this.#terms(args, () => this.#term(mock, iter))
    }
    const set = this.#userFunc(operator)
    if (set) {
      if (args.length !== set.arity) fail(`function ${name} takes ${set.arity} arguments`, operator.location, 'rego_type_error')
      return this.#terms(args, (ops) => {
        const result = this.#local()
        this.#emit({
          type: 'CallStmt',
          func: this.#funcFor(set),
          args: [{ type: 'local', value: INPUT_LOCAL }, { type: 'local', value: DATA_LOCAL }, ...ops],
          result,
        })
        iter({ type: 'local', value: result })
      })
    }
    if (name === 'internal.member_2' || name === 'internal.member_3') return this.#member(args, iter)
    if (name === 'print') return this.#print(args, iter)
    if (name === 'eq' || name === 'assign') fail(`unsupported: ${name} used as a value`, operator.location)
    const decl = this.#decl(name)
    if (!decl) fail(`undefined function ${name}`, operator.location, 'rego_type_error')
    if (args.length !== decl.arity) {
      fail(`${name}: arity mismatch: ${args.length} arguments given, ${decl.arity} expected`, operator.location, 'rego_type_error')
    }
    this.#terms(args, (ops) => {
      this.#builtins.set(name, decl.arity)
      const result = this.#local()
      this.#emit({ type: 'CallStmt', func: name, args: ops, result })
      if (decl.relation) {
        const k = this.#local()
        const v = this.#local()
        const block = this.#nested(() => iter({ type: 'local', value: v }))
        this.#emit({ type: 'ScanStmt', source: result, key: k, value: v, block })
        return
      }
      iter({ type: 'local', value: result })
    })
  }

  /**
   * `print(a, b)` calls `internal.print` with one set per argument: the values the argument
   * takes (empty when undefined), so print never makes a body undefined.
   */
  #print(args: Term[], iter: OpIter): void {
    const arr = this.#local()
    this.#emit({ type: 'MakeArrayStmt', capacity: args.length, target: arr })
    for (const a of args) {
      const set = this.#local()
      this.#emit({ type: 'MakeSetStmt', target: set })
      const block = this.#nested(() => this.#term(a, (v) => this.#emit({ type: 'SetAddStmt', set, value: v })))
      this.#emit({ type: 'BlockStmt', blocks: [block] })
      this.#emit({ type: 'ArrayAppendStmt', array: arr, value: { type: 'local', value: set } })
    }
    this.#builtins.set('internal.print', 1)
    const result = this.#local()
    this.#emit({ type: 'CallStmt', func: 'internal.print', args: [{ type: 'local', value: arr }], result })
    iter({ type: 'bool', value: true })
  }

  /** `x in xs` / `k, v in xs` as a boolean: a scan that flips a flag on a match. */
  #member(args: Term[], iter: OpIter): void {
    this.#terms(args, (ops) => {
      const coll = this.#toLocal(ops[ops.length - 1]!)
      const flag = this.#local()
      this.#emit({ type: 'AssignVarStmt', source: { type: 'bool', value: false }, target: flag })
      const k = this.#local()
      const v = this.#local()
      const block = this.#nested(() => {
        if (ops.length === 3) this.#emit({ type: 'EqualStmt', a: { type: 'local', value: k }, b: ops[0]! })
        this.#emit({ type: 'EqualStmt', a: { type: 'local', value: v }, b: ops[ops.length - 2]! })
        this.#emit({ type: 'AssignVarStmt', source: { type: 'bool', value: true }, target: flag })
      })
      this.#emit({ type: 'ScanStmt', source: coll, key: k, value: v, block })
      iter({ type: 'local', value: flag })
    })
  }

  // -------------------------------------------------------------------------------------------
  // Rules → funcs

  #ctxSuffix(): string {
    const ctx = this.#ctx
    if (ctx.mocks.size === 0 && ctx.dataOverrides.length === 0) return ''
    const k = JSON.stringify([[...ctx.mocks].map(([n, t]) => [n, JSON.stringify(t)]), ctx.dataOverrides])
    let n = this.#ctxNames.get(k)
    if (n === undefined) {
      n = this.#ctxNames.size + 1
      this.#ctxNames.set(k, n)
    }
    return `$w${n}`
  }

  /** The func for a rule set in the current plan context; planned on first use. */
  #funcFor(set: RuleSet): string {
    const suffix = this.#ctxSuffix()
    const name = `g0.data.${set.path.join('.')}${suffix}`
    if (this.#funcs.has(name)) return name
    const params: Local[] = [INPUT_LOCAL, DATA_LOCAL]
    const func: Func = { name, params, return: 0, blocks: [] }
    if (!suffix) func.path = ['g0', ...set.path]
    this.#funcs.set(name, func)
    const saved = this.#save()
    // Locals are numbered per func: the backend sizes each function by its highest local.
    this.#next = FIRST_FREE_LOCAL
    for (let i = 0; i < (set.arity ?? 0); i++) params.push(this.#local())
    const ret = this.#local()
    func.return = ret
    const blocks: Block[] = []
    const block = (f: () => void): void => {
      this.#block = { stmts: [] }
      this.#env = new Map()
      f()
      blocks.push(this.#block)
    }
    this.#loc = set.location
    if (set.kind === 'partialset' || set.kind === 'partialobject') {
      block(() => this.#emit(set.kind === 'partialset' ? { type: 'MakeSetStmt', target: ret } : { type: 'MakeObjectStmt', target: ret }))
    }
    for (const rule of set.rules) {
      if (set.kind === 'partialset' || set.kind === 'partialobject') {
        block(() => this.#ruleBody(rule, params, () => this.#partial(set, rule, ret)))
      } else if (!rule.else) {
        block(() =>
          this.#ruleBody(rule, params, () =>
            this.#term(rule.value, (v) => this.#emit({ type: 'AssignVarOnceStmt', source: v, target: ret })),
          ),
        )
      } else {
        // An else chain: the first rule whose body holds gives the value.
        const chain = this.#local()
        let first = true
        for (let r: CompiledRule | undefined = rule; r; r = r.else) {
          const cur = r
          const guard = !first
          first = false
          block(() => {
            this.#loc = cur.location
            if (guard) this.#emit({ type: 'IsUndefinedStmt', source: chain })
            this.#ruleBody(cur, params, () =>
              this.#term(cur.value, (v) => this.#emit({ type: 'AssignVarOnceStmt', source: v, target: chain })),
            )
          })
        }
        block(() => {
          this.#loc = rule.location
          this.#emit({ type: 'IsDefinedStmt', source: chain })
          this.#emit({ type: 'AssignVarOnceStmt', source: { type: 'local', value: chain }, target: ret })
        })
      }
    }
    if (set.kind === 'partialobject') {
      // Rules below this path (`r.a := 2` beside `r[k] := v`) add their values as keys.
      for (const [name, child] of this.#node(set.path).children) {
        if (child.set?.kind === 'function') continue
        block(() => {
          this.#loc = child.set?.location ?? set.location
          const v = this.#childValue(child, [...set.path, name])
          this.#emit({ type: 'ObjectInsertOnceStmt', object: ret, key: this.#str(name), value: { type: 'local', value: v } })
        })
      }
    }
    const def = set.default
    if (def) {
      block(() => {
        this.#loc = def.location
        this.#emit({ type: 'IsUndefinedStmt', source: ret })
        this.#ruleBody(def, params, () =>
          this.#term(def.value, (v) => this.#emit({ type: 'AssignVarStmt', source: v, target: ret })),
        )
      })
    }
    block(() => {
      this.#loc = set.location
      this.#emit({ type: 'ReturnLocalStmt', source: ret })
    })
    func.blocks = blocks
    this.#restore(saved)
    return name
  }

  #ruleBody(rule: CompiledRule, params: Local[], iter: Iter): void {
    this.#loc = rule.location
    const args = rule.args ?? []
    const go = (i: number): void => {
      if (i >= args.length) return this.#body(rule.body, 0, () => {
        this.#loc = rule.location
        iter()
      })
      this.#unifyOp(args[i]!, { type: 'local', value: params[i + 2]! }, () => go(i + 1))
    }
    go(0)
  }

  #partial(set: RuleSet, rule: CompiledRule, ret: Local): void {
    if (set.kind === 'partialset') {
      this.#term(rule.key!, (k) => this.#emit({ type: 'SetAddStmt', set: ret, value: k }))
      return
    }
    if (!rule.keys) {
      this.#term(rule.key!, (k) =>
        this.#term(rule.value, (v) => this.#emit({ type: 'ObjectInsertOnceStmt', object: ret, key: k, value: v })),
      )
      return
    }
    // A ref head with several variable operands: one level of nested objects per operand.
    const keys = rule.keys
    const level = (obj: Local, i: number): void => {
      this.#term(keys[i]!, (k) => {
        if (i === keys.length - 1 && !rule.leafSet) {
          this.#term(rule.value, (v) => this.#emit({ type: 'ObjectInsertOnceStmt', object: obj, key: k, value: v }))
          return
        }
        const child = this.#getOrMake(obj, k, i === keys.length - 1 ? 'set' : 'object')
        if (i === keys.length - 1) {
          this.#term(rule.value, (v) => this.#emit({ type: 'SetAddStmt', set: child, value: v }))
          return
        }
        level(child, i + 1)
      })
    }
    level(ret, 0)
  }

  /** `obj[key]`, inserting a new empty object or set there first when it is missing. */
  #getOrMake(obj: Local, key: Operand, kind: 'object' | 'set'): Local {
    const child = this.#local()
    this.#emit({ type: 'ResetLocalStmt', target: child })
    const get = this.#nested(() => {
      const t = this.#local()
      this.#emit({ type: 'DotStmt', source: { type: 'local', value: obj }, key, target: t })
      this.#emit({ type: 'AssignVarStmt', source: { type: 'local', value: t }, target: child })
    })
    const make = this.#nested(() => {
      const t = this.#local()
      this.#emit({ type: 'IsUndefinedStmt', source: child })
      this.#emit(kind === 'set' ? { type: 'MakeSetStmt', target: t } : { type: 'MakeObjectStmt', target: t })
      this.#emit({ type: 'ObjectInsertStmt', object: obj, key, value: { type: 'local', value: t } })
      this.#emit({ type: 'AssignVarStmt', source: { type: 'local', value: t }, target: child })
    })
    this.#emit({ type: 'BlockStmt', blocks: [get, make] })
    if (kind === 'set') this.#emit({ type: 'IsSetStmt', source: { type: 'local', value: child } })
    else this.#emit({ type: 'IsObjectStmt', source: { type: 'local', value: child } })
    return child
  }
}

/**
 * Plans a compiled policy into the IR.
 *
 * @example
 * const policy = plan(compileModules(modules), { entrypoints: ['trades/decision'] })
 */
export function plan(compiled: CompiledPolicy, options: PlanOptions): Policy {
  return new Planner(compiled).plan(options)
}
