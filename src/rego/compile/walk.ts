/**
 * Small AST helpers shared by the compile stages and the planner: telling expression shapes
 * apart, copying terms with a rewrite, and collecting variables.
 *
 * @module
 */

import type { Body, Every, Expr, Location, RefTerm, SomeDecl, SomeIn, Term } from '../ast.js'

/** The shapes an expression can take once parsed. */
export type ExprShape =
  | { kind: 'term'; term: Term }
  | { kind: 'call'; op: string; operator: RefTerm; args: Term[] }
  | { kind: 'some'; decl: SomeDecl }
  | { kind: 'somein'; decl: SomeIn }
  | { kind: 'every'; decl: Every }

/** Classifies an expression; a call term written as a statement counts as a call. */
export function exprShape(expr: Expr): ExprShape {
  const t = expr.terms
  if (Array.isArray(t)) {
    const operator = t[0] as RefTerm
    return { kind: 'call', op: refName(operator) ?? '', operator, args: t.slice(1) }
  }
  switch (t.type) {
    case 'some':
      return { kind: 'some', decl: t }
    case 'somein':
      return { kind: 'somein', decl: t }
    case 'every':
      return { kind: 'every', decl: t }
    case 'call':
      return { kind: 'call', op: refName(t.operator) ?? '', operator: t.operator, args: t.args }
    default:
      return { kind: 'term', term: t }
  }
}

/** `a.b.c` for a ref made of a var and string operands; undefined otherwise. */
export function refName(ref: RefTerm | Term): string | undefined {
  if (ref.type === 'var') return ref.value
  if (ref.type !== 'ref') return undefined
  const [head, ...rest] = ref.value
  if (head?.type !== 'var') return undefined
  const parts = [head.value]
  for (const p of rest) {
    if (p.type !== 'string') return undefined
    parts.push(p.value)
  }
  return parts.join('.')
}

/** Copies a term bottom-up, letting `f` replace any node (it sees the already-copied node). */
export function mapTerm(t: Term, f: (t: Term) => Term): Term {
  switch (t.type) {
    case 'ref':
      return f({ ...t, value: t.value.map((x) => mapTerm(x, f)) })
    case 'array':
      return f({ ...t, value: t.value.map((x) => mapTerm(x, f)) })
    case 'set':
      return f({ ...t, value: t.value.map((x) => mapTerm(x, f)) })
    case 'object':
      return f({ ...t, value: t.value.map(([k, v]) => [mapTerm(k, f), mapTerm(v, f)] as [Term, Term]) })
    case 'call':
      return f({ ...t, operator: mapTerm(t.operator, f) as RefTerm, args: t.args.map((x) => mapTerm(x, f)) })
    case 'arraycomprehension':
    case 'setcomprehension':
      return f({ ...t, term: mapTerm(t.term, f), body: mapBody(t.body, f) })
    case 'objectcomprehension':
      return f({ ...t, key: mapTerm(t.key, f), value: mapTerm(t.value, f), body: mapBody(t.body, f) })
    default:
      return f(t)
  }
}

/** Copies every term of a body through `mapTerm`. */
export function mapBody(body: Body, f: (t: Term) => Term): Body {
  return body.map((e) => mapExpr(e, f))
}

/** Copies every term of one expression (with-modifiers included) through `mapTerm`. */
export function mapExpr(e: Expr, f: (t: Term) => Term): Expr {
  const t = e.terms
  let terms: Expr['terms']
  if (Array.isArray(t)) terms = t.map((x) => mapTerm(x, f))
  else if (t.type === 'some') terms = { ...t, vars: t.vars.map((v) => mapTerm(v, f)) as typeof t.vars }
  else if (t.type === 'somein') {
    terms = {
      ...t,
      value: mapTerm(t.value, f),
      collection: mapTerm(t.collection, f),
      ...(t.key ? { key: mapTerm(t.key, f) } : {}),
    }
  } else if (t.type === 'every') {
    terms = { ...t, domain: mapTerm(t.domain, f), body: mapBody(t.body, f) }
  } else terms = mapTerm(t, f)
  return {
    ...e,
    terms,
    with: e.with.map((w) => ({ ...w, target: mapTerm(w.target, f) as RefTerm, value: mapTerm(w.value, f) })),
  }
}

/** Calls `f` on every term of `t`, comprehension bodies included. */
export function visitTerm(t: Term, f: (t: Term) => void): void {
  mapTerm(t, (x) => {
    f(x)
    return x
  })
}

/** Every variable name occurring in a term (deep, comprehensions included, call operators not). */
export function termVars(t: Term, out = new Set<string>()): Set<string> {
  switch (t.type) {
    case 'var':
      out.add(t.value)
      break
    case 'ref':
    case 'array':
    case 'set':
      for (const x of t.value) termVars(x, out)
      break
    case 'object':
      for (const [k, v] of t.value) termVars(v, termVars(k, out))
      break
    case 'call':
      for (const x of t.args) termVars(x, out)
      break
    case 'arraycomprehension':
    case 'setcomprehension':
      termVars(t.term, out)
      for (const e of t.body) exprVars(e, out)
      break
    case 'objectcomprehension':
      termVars(t.value, termVars(t.key, out))
      for (const e of t.body) exprVars(e, out)
      break
    default:
  }
  return out
}

/** Every variable name occurring in an expression (deep, call operators excluded). */
export function exprVars(e: Expr, out = new Set<string>()): Set<string> {
  const t = e.terms
  if (Array.isArray(t)) for (const x of t.slice(1)) termVars(x, out)
  else if (t.type === 'some') for (const v of t.vars) out.add(v.value)
  else if (t.type === 'somein') {
    if (t.key) termVars(t.key, out)
    termVars(t.value, out)
    termVars(t.collection, out)
  } else if (t.type === 'every') {
    if (t.key) out.add(t.key.value)
    out.add(t.value.value)
    termVars(t.domain, out)
    for (const x of t.body) exprVars(x, out)
  } else termVars(t, out)
  for (const w of e.with) termVars(w.value, out)
  return out
}

/** Makes a var term at a location. */
export function mkVar(value: string, location: Location): Term {
  return { type: 'var', value, location }
}

/** True for the names of generated variables. */
export function isGenerated(name: string): boolean {
  return name.startsWith('__')
}
