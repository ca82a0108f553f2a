/**
 * Declarations of Rego's builtin functions: name, arity, and who provides them at run time.
 * The planner reads it to tell `count(x, n)` (output argument) from `count(x)`, and to reject
 * calls of builtins nobody provides at build time; the codegen reads `provider`.
 *
 * @module
 */

/**
 * Who evaluates a builtin:
 * - `native`: code inside the compiled module (the wasm runtime);
 * - `host`: delegated through `opa_builtinN` to the host (opa-wasm's own JS builtins or
 *   Verdict's engine/builtins);
 * - `planner`: compiled away by the planner (`eq`, `assign`, `internal.member_2`, ...).
 */
export type BuiltinProvider = 'native' | 'host' | 'planner'

export interface BuiltinDecl {
  /** Rego name, e.g. `count`, `strings.replace_n`, `plus` (for `+`). */
  name: string
  /** Number of input arguments (the result is not counted). */
  arity: number
  /** False for void builtins such as `print` (no result). */
  result: boolean
  provider: BuiltinProvider
  /** Infix spelling, when there is one (`+`, `==`, `in`, ...). */
  infix?: string
  /**
   * The result is a set. Host builtins cannot return sets through JSON, so the codegen turns
   * their array result into a set after the call.
   */
  returnsSet?: boolean
  /**
   * A relation (e.g. `walk`): its result is a collection that the planner scans, binding the
   * output argument to each element.
   */
  relation?: boolean
  /** Non-deterministic (time, random, http): not cached, recorded in audit. */
  nondeterministic?: boolean
}
