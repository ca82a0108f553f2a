/**
 * The Rego → WebAssembly compiler: parse, compile, plan, generate. `compile()` is what
 * `verdict build`, the tests and the conformance runner call.
 *
 * @module
 */

import type { BuiltinDecl, Module } from '../rego/index.js'
import {
  compileModules,
  compileQuery,
  getBuiltin,
  parseModule,
  parseQuery,
  RegoError,
  RegoErrors,
} from '../rego/index.js'
import { VERDICT_HOST_BUILTINS, VERDICT_HOST_PREFIX } from '../wasm/index.js'
import { generate } from './codegen/index.js'
import type { Block, Policy, Stmt } from './ir/types.js'
import { plan } from './planner/index.js'

export { plan, Planner } from './planner/index.js'
export type { PlanOptions } from './planner/index.js'
export { generate } from './codegen/index.js'
export type { Block, Func, Local, Operand, Plan, Policy, Static, Stmt } from './ir/types.js'

/** What to compile. */
export interface CompileOptions {
  /** Rego v1 sources; `file` names them in locations and errors. */
  modules: { file: string; source: string }[]
  /** Entrypoints such as `trades/decision`: plans whose rows are `{result: <value>}`. */
  entrypoints?: string[]
  /** Queries such as `data.test.p = x`: plans whose rows bind the query's variables. */
  queries?: { name: string; source: string }[]
  /** Make builtin errors abort evaluation instead of making the call undefined. */
  strictBuiltinErrors?: boolean
  /** Builtins beyond the catalogue, provided by the host at run time. */
  extraBuiltins?: BuiltinDecl[]
  /**
   * Which host runs the module. `verdict` (default): builtins that opa-wasm implements itself
   * with non-OPA semantics (`sprintf`, `json.is_valid`, ...) and the time builtins (exact
   * nanoseconds) are called under Verdict's names (`verdict:sprintf`), so Verdict's engine
   * answers them as OPA does. `opa`: plain OPA names only, for modules meant for other hosts.
   */
  host?: 'verdict' | 'opa'
  /**
   * The host builtins the target host provides (e.g. Verdict engine's `HOST_BUILTIN_NAMES`).
   * When given, a call of any other host builtin (not native, not in `extraBuiltins`) is a
   * build error instead of a "not implemented" failure at evaluation time.
   */
  hostBuiltins?: ReadonlySet<string>
}

/** The compiled module, its IR, and the entrypoint names in the order of their ids. */
export interface CompileResult {
  wasm: Uint8Array
  ir: Policy
  entrypoints: string[]
}

/**
 * Parses, compiles and plans, without generating wasm (for `--dump-ir`).
 * Throws `RegoErrors` on any error.
 */
export function planOnly(options: CompileOptions): Policy {
  const modules: Module[] = []
  const errors: RegoErrors[] = []
  for (const m of options.modules) {
    try {
      modules.push(parseModule(m.source, m.file))
    } catch (err) {
      if (!(err instanceof RegoErrors)) throw err
      errors.push(err)
    }
  }
  // Parse errors of every module are reported together, as OPA does.
  if (errors.length === 1) throw errors[0]
  if (errors.length > 1) {
    const sources = Object.fromEntries(options.modules.map((m) => [m.file, m.source]))
    throw new RegoErrors(
      errors.flatMap((e) => e.errors),
      { sources },
    )
  }
  const compiled = compileModules(modules, options.extraBuiltins ? { extraBuiltins: options.extraBuiltins } : {})
  const queries = (options.queries ?? []).map((q) => ({ name: q.name, query: compileQuery(parseQuery(q.source), compiled) }))
  return plan(compiled, { entrypoints: options.entrypoints ?? [], queries })
}

/**
 * Compiles Rego modules to a wasm module that the unmodified `@open-policy-agent/opa-wasm`
 * loads. Throws `RegoErrors` on any parse or compile error.
 *
 * @example
 * const { wasm } = compile({
 *   modules: [{ file: 'trades.rego', source }],
 *   entrypoints: ['trades/decision'],
 * })
 */
export function compile(options: CompileOptions): CompileResult {
  const ir = planOnly(options)
  if (options.hostBuiltins) checkHostBuiltins(ir, options)
  const verdictHost = (options.host ?? 'verdict') === 'verdict'
  const wasm = generate(ir, {
    strictBuiltinErrors: options.strictBuiltinErrors ?? false,
    hostName: (name) => (verdictHost && VERDICT_HOST_BUILTINS.has(name) ? VERDICT_HOST_PREFIX + name : name),
  })
  return { wasm, ir, entrypoints: ir.plans.plans.map((p) => p.name) }
}

/** Rejects calls of host builtins that the target host does not provide, at their location. */
function checkHostBuiltins(ir: Policy, options: CompileOptions): void {
  const provided = options.hostBuiltins!
  const extra = new Set((options.extraBuiltins ?? []).map((b) => b.name))
  const missing = (name: string): boolean =>
    getBuiltin(name)?.provider === 'host' && !provided.has(name) && !extra.has(name)
  const errors: RegoError[] = []
  const seen = new Set<string>()
  const visit = (blocks: Block[]): void => {
    for (const b of blocks) for (const st of b.stmts) visitStmt(st)
  }
  const visitStmt = (st: Stmt): void => {
    if (st.type === 'CallStmt' && missing(st.func) && !seen.has(st.func)) {
      seen.add(st.func)
      const file = ir.static.files[st.file]?.value ?? '<unknown>'
      errors.push(
        new RegoError(
          'rego_type_error',
          `undefined function ${st.func}: the host does not provide this builtin`,
          { file, row: st.row, col: st.col, offset: 0 },
        ),
      )
    }
    if (st.type === 'BlockStmt') visit(st.blocks)
    else if (st.type === 'ScanStmt' || st.type === 'NotStmt' || st.type === 'WithStmt') visit([st.block])
  }
  for (const p of ir.plans.plans) visit(p.blocks)
  for (const f of ir.funcs.funcs) visit(f.blocks)
  if (errors.length > 0) {
    const sources = Object.fromEntries(options.modules.map((m) => [m.file, m.source]))
    throw new RegoErrors(errors, { sources })
  }
}
