/**
 * The planner's intermediate representation (IR): an imperative query plan for Rego, shaped
 * after OPA's `v1/ir` package so that plans can be compared with `opa build -t plan` output.
 *
 * The IR is plain, JSON-serialisable data. `verdict build --dump-ir` prints it as is.
 *
 * Execution semantics (the contract between planner and codegen):
 * - A block runs its statements in order. When a statement is *undefined* (a failed check, a
 *   missing key, a call returning undefined) the rest of the block is skipped and control goes
 *   on after the block.
 * - A plan runs its blocks in order; each adds rows to the result set with `ResultSetAddStmt`.
 * - A func runs its blocks in order until a `ReturnLocalStmt`; its return local may stay
 *   undefined. Funcs with exactly two params (input, data) are rules without arguments and
 *   may be memoized per evaluation; `WithStmt` opens a fresh memo frame.
 * - Locals start undefined (a null pointer in the wasm backend). Local 0 is the input document,
 *   local 1 the data document.
 *
 * @module
 */

/** A local variable id. 0 = input, 1 = data, 2 = the first free id. */
export type Local = number

export const INPUT_LOCAL: Local = 0
export const DATA_LOCAL: Local = 1
export const FIRST_FREE_LOCAL: Local = 2

/** An operand: a local, a boolean constant, or an index into `static.strings`. */
export type Operand =
  | { type: 'local'; value: Local }
  | { type: 'bool'; value: boolean }
  | { type: 'string_index'; value: number }

/** Where a statement came from: an index into `static.files`, 1-based row and column. */
export interface StmtLocation {
  file: number
  row: number
  col: number
}

/** Return `source` from the enclosing func. */
export interface ReturnLocalStmt extends StmtLocation { type: 'ReturnLocalStmt'; source: Local }
/**
 * Call a planned func (by its `Func.name`) or a builtin (by its Rego name, e.g. `plus`,
 * `count`, `startswith`). Undefined when the callee returns undefined.
 */
export interface CallStmt extends StmtLocation {
  type: 'CallStmt'
  func: string
  args: Operand[]
  result: Local
}
/**
 * Indirect call through the rule-path → func mapping. `path` operands are strings (constant
 * or locals holding strings). No mapping match: leave the enclosing block (the planner then
 * falls back to a data lookup). Match with undefined result: undefined.
 */
export interface CallDynamicStmt extends StmtLocation {
  type: 'CallDynamicStmt'
  args: Local[]
  path: Operand[]
  result: Local
}
/** Run the nested blocks in sequence. */
export interface BlockStmt extends StmtLocation { type: 'BlockStmt'; blocks: Block[] }
/** Jump to the end of the enclosing block `index` levels out (0 = the current block). */
export interface BreakStmt extends StmtLocation { type: 'BreakStmt'; index: number }
/** `target = source[key]`; undefined if the key is missing or `source` is a scalar. */
export interface DotStmt extends StmtLocation { type: 'DotStmt'; source: Operand; key: Operand; target: Local }
/** `target` = length of the array/object/set/string `source` (as a number value). */
export interface LenStmt extends StmtLocation { type: 'LenStmt'; source: Operand; target: Local }
/**
 * For each element of the composite `source`, bind `key`/`value` and run `block` (undefined
 * inside just moves to the next element). Scalars iterate zero times. Never undefined itself.
 */
export interface ScanStmt extends StmtLocation {
  type: 'ScanStmt'
  source: Local
  key: Local
  value: Local
  block: Block
}
/** Defined iff `block` is undefined. */
export interface NotStmt extends StmtLocation { type: 'NotStmt'; block: Block }
/** Overwrite an existing number local with an integer. */
export interface AssignIntStmt extends StmtLocation { type: 'AssignIntStmt'; value: number; target: Local }
/** `target = source`. */
export interface AssignVarStmt extends StmtLocation { type: 'AssignVarStmt'; source: Operand; target: Local }
/**
 * `target = source`; if `target` is already defined with a different value, abort with
 * `eval_conflict_error` ("complete rules must not produce multiple outputs").
 */
export interface AssignVarOnceStmt extends StmtLocation { type: 'AssignVarOnceStmt'; source: Operand; target: Local }
/** Make `target` undefined. */
export interface ResetLocalStmt extends StmtLocation { type: 'ResetLocalStmt'; target: Local }
export interface MakeNullStmt extends StmtLocation { type: 'MakeNullStmt'; target: Local }
/** Integer constant (must fit an int64; bigger integers use MakeNumberRefStmt). */
export interface MakeNumberIntStmt extends StmtLocation { type: 'MakeNumberIntStmt'; value: number; target: Local }
/** Number from its decimal text in `static.strings[index]` (floats, big integers). */
export interface MakeNumberRefStmt extends StmtLocation { type: 'MakeNumberRefStmt'; index: number; target: Local }
export interface MakeArrayStmt extends StmtLocation { type: 'MakeArrayStmt'; capacity: number; target: Local }
export interface MakeObjectStmt extends StmtLocation { type: 'MakeObjectStmt'; target: Local }
export interface MakeSetStmt extends StmtLocation { type: 'MakeSetStmt'; target: Local }
/** Defined iff `a` and `b` are equal (deep, numbers by value). */
export interface EqualStmt extends StmtLocation { type: 'EqualStmt'; a: Operand; b: Operand }
/** Defined iff `a` and `b` differ. */
export interface NotEqualStmt extends StmtLocation { type: 'NotEqualStmt'; a: Operand; b: Operand }
export interface IsArrayStmt extends StmtLocation { type: 'IsArrayStmt'; source: Operand }
export interface IsObjectStmt extends StmtLocation { type: 'IsObjectStmt'; source: Operand }
export interface IsSetStmt extends StmtLocation { type: 'IsSetStmt'; source: Operand }
export interface IsDefinedStmt extends StmtLocation { type: 'IsDefinedStmt'; source: Local }
export interface IsUndefinedStmt extends StmtLocation { type: 'IsUndefinedStmt'; source: Local }
export interface ArrayAppendStmt extends StmtLocation { type: 'ArrayAppendStmt'; array: Local; value: Operand }
export interface ObjectInsertStmt extends StmtLocation { type: 'ObjectInsertStmt'; object: Local; key: Operand; value: Operand }
/**
 * Insert; if the key exists with a different value, abort with `eval_conflict_error`
 * ("object keys must be unique").
 */
export interface ObjectInsertOnceStmt extends StmtLocation { type: 'ObjectInsertOnceStmt'; object: Local; key: Operand; value: Operand }
/** `target` = recursive merge of objects `a` and `b` (`a` wins on scalars); undefined on a type clash. */
export interface ObjectMergeStmt extends StmtLocation { type: 'ObjectMergeStmt'; a: Local; b: Local; target: Local }
export interface SetAddStmt extends StmtLocation { type: 'SetAddStmt'; set: Local; value: Operand }
/**
 * Temporarily replace `local` (path empty) or upsert `value` at `path` inside a copy of it
 * (missing objects created), run `block` in a fresh memo frame, then restore. Undefined if the
 * block is undefined. `path` holds indices into `static.strings`.
 */
export interface WithStmt extends StmtLocation { type: 'WithStmt'; local: Local; path: number[]; value: Operand; block: Block }
export interface NopStmt extends StmtLocation { type: 'NopStmt' }
/** Add `value` (an object of query bindings) to the plan's result set. */
export interface ResultSetAddStmt extends StmtLocation { type: 'ResultSetAddStmt'; value: Local }

export type Stmt =
  | ReturnLocalStmt
  | CallStmt
  | CallDynamicStmt
  | BlockStmt
  | BreakStmt
  | DotStmt
  | LenStmt
  | ScanStmt
  | NotStmt
  | AssignIntStmt
  | AssignVarStmt
  | AssignVarOnceStmt
  | ResetLocalStmt
  | MakeNullStmt
  | MakeNumberIntStmt
  | MakeNumberRefStmt
  | MakeArrayStmt
  | MakeObjectStmt
  | MakeSetStmt
  | EqualStmt
  | NotEqualStmt
  | IsArrayStmt
  | IsObjectStmt
  | IsSetStmt
  | IsDefinedStmt
  | IsUndefinedStmt
  | ArrayAppendStmt
  | ObjectInsertStmt
  | ObjectInsertOnceStmt
  | ObjectMergeStmt
  | SetAddStmt
  | WithStmt
  | NopStmt
  | ResultSetAddStmt

export type StmtType = Stmt['type']

export interface Block {
  stmts: Stmt[]
}

/** An entrypoint: a named query plan. */
export interface Plan {
  name: string
  blocks: Block[]
}

/**
 * One planned rule (or function). `params[0]` is input, `params[1]` data, then the function's
 * arguments. `name` looks like `g0.data.pkg.rule`; `path` like `['g0', 'pkg', 'rule']` and is
 * what `CallDynamicStmt` resolves against.
 */
export interface Func {
  name: string
  params: Local[]
  return: Local
  blocks: Block[]
  path?: string[]
}

/** A builtin the policy calls, with its arity (number of arguments, not counting the result). */
export interface BuiltinFuncRef {
  name: string
  arity: number
}

export interface Static {
  /** Constant strings, referenced by `string_index` operands and `MakeNumberRefStmt.index`. */
  strings: { value: string }[]
  /** Every builtin the plans and funcs call (native ones included). */
  builtin_funcs: BuiltinFuncRef[]
  /** Source file names, referenced by statement locations. */
  files: { value: string }[]
}

export interface Policy {
  static: Static
  plans: { plans: Plan[] }
  funcs: { funcs: Func[] }
}
