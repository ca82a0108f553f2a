/**
 * The output of the Rego compile stages: every rule of every module, resolved and checked,
 * indexed by its full path under `data`. The planner reads nothing else.
 *
 * @module
 */

import type { Body, Location, Module, Rule, Term } from '../ast.js'
import type { BuiltinDecl } from '../builtins.js'

/** How the rules at one path combine their values. */
export const RuleKind = {
  complete: 'complete',
  partialSet: 'partialset',
  partialObject: 'partialobject',
  function: 'function',
} as const
export type RuleKind = (typeof RuleKind)[keyof typeof RuleKind]

/**
 * One rule after compilation. `key` is the element of a partial set or the key of a partial
 * object; `value` the (possibly defaulted to `true`) value; `args` a function's parameters.
 */
export interface CompiledRule {
  kind: RuleKind
  key?: Term
  /**
   * For ref heads with several variable operands (`p[a][b] := v`, `p[a] contains x`): the
   * operands after the constant prefix, each a level of nested objects. `key` is then unused;
   * `leafSet` says the innermost level is a set that gets `value` (a `contains` rule).
   */
  keys?: Term[]
  leafSet?: boolean
  value: Term
  args?: Term[]
  body: Body
  /** The next rule of an `else` chain. */
  else?: CompiledRule
  location: Location
  file: string
}

/** All rules declared at one path, e.g. `['trades', 'decision']` for `data.trades.decision`. */
export interface RuleSet {
  path: string[]
  kind: RuleKind
  rules: CompiledRule[]
  default?: CompiledRule
  /** Number of parameters, for functions. */
  arity?: number
  location: Location
}

/** Options of `compileModules`. */
export interface CompileModulesOptions {
  /** Builtins beyond the catalogue (host-provided by the embedding application). */
  extraBuiltins?: BuiltinDecl[]
}

/** The compiled policy: rule sets keyed by `JSON.stringify(path)`. */
export interface CompiledPolicy {
  rules: Map<string, RuleSet>
  /** Every package path (as string arrays), so empty packages still exist as `{}`. */
  packages: string[][]
  modules: Module[]
  builtins: Map<string, BuiltinDecl>
}

/** A query after compilation: its body and the user-visible variable names it binds. */
export interface CompiledQuery {
  body: Body
  /** Variables the query binds, in order of first appearance (generated ones excluded). */
  vars: string[]
}

/** The rule object as the parser produces it, kept for error locations. */
export type SourceRule = Rule
