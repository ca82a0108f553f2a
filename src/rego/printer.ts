/**
 * Renders the AST back to Rego v1 source: for error messages, debugging output and golden
 * tests. Printing then parsing gives back the same tree (locations aside).
 *
 * @module
 */

import type { Body, Every, Expr, Head, Import, Module, RefTerm, Rule, SomeDecl, SomeIn, Term, With } from './ast.js'
import { BUILTIN_INFIX, KEYWORDS } from './tokens.js'

/**
 * Renders a module: package, imports, then rules, one blank line apart.
 *
 * @example
 * ```ts
 * printModule(parseModule('package a\np := 1', 'a.rego')) // 'package a\n\np := 1\n'
 * ```
 */
export function printModule(module: Module): string {
  const parts = [`package ${printPath(module.package.path.value.slice(1))}`]
  if (module.imports.length > 0) parts.push(module.imports.map(printImport).join('\n'))
  for (const rule of module.rules) parts.push(printRule(rule))
  return `${parts.join('\n\n')}\n`
}

/** Renders one import line. */
export function printImport(imp: Import): string {
  const [head, ...rest] = imp.path.value
  const path = `${head?.type === 'var' ? head.value : printTerm(head!)}${printOperands(rest)}`
  return imp.alias === undefined ? `import ${path}` : `import ${path} as ${imp.alias}`
}

/** Renders a rule with its `else` chain. */
export function printRule(rule: Rule, indent = ''): string {
  let out = `${indent}${rule.default ? 'default ' : ''}${printHead(rule.head)}`
  if (!rule.default) out += printRuleBody(rule.body, rule.head, indent)
  for (let e = rule.else; e !== undefined; e = e.else) {
    out += ' else'
    if (e.head.value !== undefined) out += ` ${e.head.assign ? ':=' : '='} ${printTerm(e.head.value)}`
    out += printRuleBody(e.body, e.head, indent, true)
  }
  return out
}

function printRuleBody(body: Body, head: Head, indent: string, isElse = false): string {
  const trivial = body.length === 1 && isTrueExpr(body[0]!)
  // A rule without value needs a body to be a rule at all (`p if true`).
  if (trivial && (head.value !== undefined || head.contains || isElse)) return ''
  return ` if ${printBraced(body, indent)}`
}

function isTrueExpr(expr: Expr): boolean {
  const t = expr.terms
  return !Array.isArray(t) && t.type === 'boolean' && t.value && !expr.negated && expr.with.length === 0
}

/** Renders a rule head: `p`, `a.b[x] := v`, `f(x, y) := z`, `p contains x`. */
export function printHead(head: Head): string {
  const [name, ...rest] = head.ref
  let out = `${printTerm(name!)}${printOperands(rest)}`
  if (head.args !== undefined) out += `(${head.args.map((a) => printTerm(a)).join(', ')})`
  if (head.contains && head.key !== undefined) return `${out} contains ${printTerm(head.key)}`
  if (head.value !== undefined) out += ` ${head.assign ? ':=' : '='} ${printTerm(head.value)}`
  return out
}

/** Renders a body as `{ ... }` over several lines, indented one tab deeper than `indent`. */
function printBraced(body: Body, indent: string): string {
  const inner = `${indent}\t`
  return `{\n${body.map((e) => `${inner}${printExpr(e, inner)}`).join('\n')}\n${indent}}`
}

/** Renders a body, one expression per line. */
export function printBody(body: Body, indent = ''): string {
  return body.map((e) => `${indent}${printExpr(e, indent)}`).join('\n')
}

/** Renders one expression with its `not` and `with` modifiers; `inline` keeps it on one line. */
export function printExpr(expr: Expr, indent = '', inline = false): string {
  const t = expr.terms
  let out: string
  if (Array.isArray(t)) out = printCall(t[0] as RefTerm, t.slice(1), PREC.expr)
  else if (t.type === 'some') out = printSome(t)
  else if (t.type === 'somein') out = printSomeIn(t)
  else if (t.type === 'every') out = printEvery(t, indent, inline)
  else out = printTerm(t, PREC.expr)
  if (expr.negated) out = `not ${out}`
  for (const w of expr.with) out += ` ${printWith(w)}`
  return out
}

function printWith(w: With): string {
  return `with ${printTerm(w.target)} as ${printTerm(w.value, PREC.in)}`
}

function printSome(decl: SomeDecl): string {
  return `some ${decl.vars.map((v) => v.value).join(', ')}`
}

function printSomeIn(decl: SomeIn): string {
  const key = decl.key === undefined ? '' : `${printTerm(decl.key, PREC.relation)}, `
  return `some ${key}${printTerm(decl.value, PREC.relation)} in ${printTerm(decl.collection, PREC.relation)}`
}

function printEvery(every: Every, indent: string, inline: boolean): string {
  const key = every.key === undefined ? '' : `${every.key.value}, `
  const body = inline ? `{${printInline(every.body)}}` : printBraced(every.body, indent)
  return `every ${key}${every.value.value} in ${printTerm(every.domain, PREC.relation)} ${body}`
}

// Binding strength of each syntactic level; a term printed where a tighter level is needed
// gets parentheses.
const PREC = {
  expr: 0,
  in: 1,
  relation: 2,
  or: 3,
  and: 4,
  arith: 5,
  factor: 6,
  unary: 7,
} as const

const OP_PREC: Readonly<Record<string, number>> = {
  assign: PREC.expr,
  eq: PREC.expr,
  'internal.member_2': PREC.in,
  'internal.member_3': PREC.in,
  equal: PREC.relation,
  neq: PREC.relation,
  lt: PREC.relation,
  lte: PREC.relation,
  gt: PREC.relation,
  gte: PREC.relation,
  or: PREC.or,
  and: PREC.and,
  plus: PREC.arith,
  minus: PREC.arith,
  mul: PREC.factor,
  div: PREC.factor,
  rem: PREC.factor,
}

/**
 * Renders a term. `min` is the weakest operator level allowed without parentheses; callers
 * use it to keep `(a + b) * c` intact.
 */
export function printTerm(term: Term, min: number = PREC.in): string {
  switch (term.type) {
    case 'null':
      return 'null'
    case 'boolean':
      return term.value ? 'true' : 'false'
    case 'number':
      return term.value
    case 'string':
      return JSON.stringify(term.value)
    case 'var':
      return term.value
    case 'ref':
      return printRef(term)
    // Elements print at `&` level: a top-level `|` right after `[` or `{` would open a comprehension.
    case 'array':
      return `[${term.value.map((t) => printTerm(t, PREC.and)).join(', ')}]`
    case 'set':
      return term.value.length === 0 ? 'set()' : `{${term.value.map((t) => printTerm(t, PREC.and)).join(', ')}}`
    case 'object':
      return `{${term.value.map(([k, v]) => `${printTerm(k, PREC.and)}: ${printTerm(v, PREC.and)}`).join(', ')}}`
    case 'arraycomprehension':
      return `[${printTerm(term.term, PREC.and)} | ${printInline(term.body)}]`
    case 'setcomprehension':
      return `{${printTerm(term.term, PREC.and)} | ${printInline(term.body)}}`
    case 'objectcomprehension':
      return `{${printTerm(term.key, PREC.and)}: ${printTerm(term.value, PREC.and)} | ${printInline(term.body)}}`
    case 'call':
      return printCall(term.operator, term.args, min)
  }
}

// Comprehension bodies print on one line, `;`-separated, so they nest anywhere.
function printInline(body: Body): string {
  return body.map((e) => printExpr(e, '', true)).join('; ')
}

function printCall(operator: RefTerm, args: Term[], min: number): string {
  const name = refString(operator)
  const prec = name === undefined ? undefined : OP_PREC[name]
  if (name !== undefined && prec !== undefined && args.length === (name === 'internal.member_3' ? 3 : 2)) {
    let out: string
    if (name === 'internal.member_3') {
      out = `${printTerm(args[0]!, PREC.relation)}, ${printTerm(args[1]!, PREC.relation)} in ${printTerm(args[2]!, PREC.relation)}`
    } else {
      const op = name === 'internal.member_2' ? 'in' : BUILTIN_INFIX[name]!
      // Left-associative: the right operand needs a strictly tighter level.
      const rightMin = prec === PREC.expr ? PREC.in : prec + 1
      const leftMin = prec === PREC.expr ? PREC.in : prec
      out = `${printTerm(args[0]!, leftMin)} ${op} ${printTerm(args[1]!, rightMin)}`
    }
    // `k, v in xs` needs parentheses anywhere but at the top of an expression.
    const needs = prec < min || (name === 'internal.member_3' && min > PREC.expr)
    return needs ? `(${out})` : out
  }
  return `${printRef(operator)}(${args.map((a) => printTerm(a)).join(', ')})`
}

function refString(ref: RefTerm): string | undefined {
  const [head, ...rest] = ref.value
  if (head?.type !== 'var') return undefined
  const parts = [head.value]
  for (const p of rest) {
    if (p.type !== 'string') return undefined
    parts.push(p.value)
  }
  return parts.join('.')
}

function printRef(ref: RefTerm): string {
  const [head, ...rest] = ref.value
  if (head === undefined) return ''
  // Scalars and infix calls cannot carry operands without parentheses.
  const h = head.type === 'call' && refString(head.operator) !== undefined && OP_PREC[refString(head.operator)!] !== undefined
    ? `(${printTerm(head)})`
    : printTerm(head, PREC.unary)
  return `${h}${printOperands(rest)}`
}

function printOperands(operands: Term[]): string {
  return operands
    .map((t) => (t.type === 'string' && isIdent(t.value) ? `.${t.value}` : `[${printTerm(t)}]`))
    .join('')
}

function printPath(parts: Term[]): string {
  const [first, ...rest] = parts
  if (first === undefined) return ''
  const head = first.type === 'string' ? first.value : printTerm(first)
  return `${head}${printOperands(rest)}`
}

function isIdent(s: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) && !KEYWORDS.has(s)
}
