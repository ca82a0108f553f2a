/**
 * The Rego abstract syntax tree, shaped after OPA's `v1/ast` package: modules hold a package,
 * imports and rules; rule bodies are lists of expressions over terms.
 *
 * Every node carries a `Location`. Nodes are plain objects so that compile stages can copy and
 * rewrite them, and so that the printer can render any of them back to Rego source.
 *
 * @module
 */

/** A position in a source file: 1-based row and column, 0-based byte offset. */
export interface Location {
  file: string
  row: number
  col: number
  offset: number
}

// ---------------------------------------------------------------------------------------------
// Terms

export interface NullTerm { type: 'null'; location: Location }
export interface BooleanTerm { type: 'boolean'; value: boolean; location: Location }
/**
 * A number keeps its source text (`"1"`, `"1.5e3"`, `"123456789012345678901234567890"`) so that
 * no precision is lost before the backend decides how to represent it.
 */
export interface NumberTerm { type: 'number'; value: string; location: Location }
export interface StringTerm { type: 'string'; value: string; location: Location }
/** A variable. Generated variables start with `__` (e.g. `__local0__`); `_` is a wildcard. */
export interface VarTerm { type: 'var'; value: string; location: Location }
/**
 * A reference: a head term (usually a var such as `data`, `input` or a local; it may also be a
 * composite or a call, e.g. `[1,2][i]`, `f(x)[0]`) followed by operands. `a.b[c]` is
 * `[var a, string "b", var c]`.
 */
export interface RefTerm { type: 'ref'; value: Term[]; location: Location }
export interface ArrayTerm { type: 'array'; value: Term[]; location: Location }
export interface ObjectTerm { type: 'object'; value: [Term, Term][]; location: Location }
export interface SetTerm { type: 'set'; value: Term[]; location: Location }
export interface ArrayComprehensionTerm { type: 'arraycomprehension'; term: Term; body: Body; location: Location }
export interface SetComprehensionTerm { type: 'setcomprehension'; term: Term; body: Body; location: Location }
export interface ObjectComprehensionTerm {
  type: 'objectcomprehension'
  key: Term
  value: Term
  body: Body
  location: Location
}
/**
 * A function call used as a term, e.g. `count(x)` in `n := count(x)`. `operator` is a ref such
 * as `count`, `data.lib.f` or `io.jwt.decode`; infix operators are calls too (`plus`, `minus`,
 * `mul`, `div`, `rem`, `and`, `or`, `equal`, `neq`, `lt`, `lte`, `gt`, `gte`,
 * `internal.member_2`, `internal.member_3`).
 */
export interface CallTerm { type: 'call'; operator: RefTerm; args: Term[]; location: Location }

export type ScalarTerm = NullTerm | BooleanTerm | NumberTerm | StringTerm
export type Term =
  | ScalarTerm
  | VarTerm
  | RefTerm
  | ArrayTerm
  | ObjectTerm
  | SetTerm
  | ArrayComprehensionTerm
  | SetComprehensionTerm
  | ObjectComprehensionTerm
  | CallTerm

export type TermType = Term['type']

// ---------------------------------------------------------------------------------------------
// Expressions and bodies

/** `with <target> as <value>`: target is a ref into `input`, `data`, or a function/builtin. */
export interface With { target: RefTerm; value: Term; location: Location }

/** `some x, y` (declaration only). */
export interface SomeDecl { type: 'some'; vars: VarTerm[]; location: Location }
/** `some k, v in xs` / `some v in xs`: `key` is absent in the one-variable form. */
export interface SomeIn { type: 'somein'; key?: Term; value: Term; collection: Term; location: Location }
/** `every k, v in xs { body }` / `every v in xs { body }`. */
export interface Every {
  type: 'every'
  key?: VarTerm
  value: VarTerm
  domain: Term
  body: Body
  location: Location
}

/**
 * One expression of a body. `terms` is:
 * - a single `Term` for a bare term (`input.x`, `true`, `f(x)` as a call term);
 * - an array `[operator, ...args]` for an infix/builtin call written as an expression
 *   (`x = y` is `[ref eq, x, y]`, `x := y` is `[ref assign, x, y]`, `count(x, n)` is
 *   `[ref count, x, n]`);
 * - a `SomeDecl`, `SomeIn` or `Every` node.
 */
export interface Expr {
  terms: Term | Term[] | SomeDecl | SomeIn | Every
  negated: boolean
  with: With[]
  /** Position of the expression within its body (0-based), kept through rewrites. */
  index: number
  location: Location
}

export type Body = Expr[]

// ---------------------------------------------------------------------------------------------
// Rules, modules

/**
 * A rule head.
 * - `ref`: the rule's path relative to the package, e.g. `[var p]` for `p`, or
 *   `[var a, string "b", var x]` for the ref head `a.b[x]`.
 * - `args`: present for functions (`f(x, y) := ...`).
 * - `key`: present for partial set rules (`p contains x`) — the element — and for partial
 *   object rules written `p[k] := v` (then `key` is `k` and `value` is `v`; with ref heads the
 *   last ref operand is the key).
 * - `value`: the rule value; absent means `true` for complete rules and functions.
 * - `assign`: written with `:=` (as opposed to `=` or no value).
 * - `contains`: written with `contains` (a multi-value / partial set rule).
 */
export interface Head {
  ref: Term[]
  args?: Term[]
  key?: Term
  value?: Term
  assign: boolean
  contains: boolean
  location: Location
}

export interface Rule {
  head: Head
  body: Body
  /** `else [= value] [if] { ... }` chained after this rule. */
  else?: Rule
  default: boolean
  /** The module this rule was declared in, as its package path (e.g. `data.authz`). */
  module?: string
  location: Location
}

export interface Import {
  /** `data.x.y`, `input.z`, `future.keywords.in`, `rego.v1`. */
  path: RefTerm
  alias?: string
  location: Location
}

export interface Package {
  /** The package path as a ref rooted at `data`: `package a.b` is `data.a.b`. */
  path: RefTerm
  location: Location
}

export interface Module {
  package: Package
  imports: Import[]
  rules: Rule[]
  /** The file name the module was parsed from (used in locations and error messages). */
  file: string
}
