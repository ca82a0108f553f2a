/**
 * The compile stages: from parsed modules to a `CompiledPolicy` the planner can plan. Each stage
 * is a named `{ name, run }` over one context that collects diagnostics; the pipeline stops
 * after the first stage that reports any (as OPA's ast compiler does).
 *
 * @module
 */

import type { Body, Expr, Location, Module, RefTerm, Rule, Term } from '../ast.js'
import type { BuiltinDecl } from '../builtins.js'
import { getBuiltin } from '../builtins.js'
import type { RegoErrorCode } from '../errors.js'
import { RegoError, RegoErrors } from '../errors.js'
import type {
  CompiledPolicy,
  CompiledQuery,
  CompiledRule,
  CompileModulesOptions,
  RuleKind,
  RuleSet,
} from './types.js'
import { exprShape, exprVars, isGenerated, mapBody, mapTerm, refName, termVars } from './walk.js'

/** A problem found by a stage, turned into a `RegoError` when the pipeline stops. */
export interface Diagnostic {
  code: RegoErrorCode
  message: string
  location: Location
}

interface Context {
  modules: Module[]
  diagnostics: Diagnostic[]
  builtins: Map<string, BuiltinDecl>
  rules: Map<string, RuleSet>
  packages: string[][]
  /** Rules after ref resolution, with their package path. */
  resolved: { rule: Rule; pkg: string[]; file: string }[]
}

/** One compile stage. */
export interface Stage<C> {
  name: string
  run: (ctx: C) => void
}

let fresh = 0
/** A new generated variable name. */
export function freshVar(prefix = 'local'): string {
  return `__${prefix}${fresh++}__`
}

const ROOTS = new Set(['input', 'data'])

function pathOfPackage(m: Module): string[] {
  return m.package.path.value.slice(1).map((t) => (t.type === 'string' ? t.value : ''))
}

function key(path: string[]): string {
  return JSON.stringify(path)
}

/** Runs stages in order, stopping after the first that reports diagnostics. */
export function runStages<C extends { diagnostics: Diagnostic[] }>(ctx: C, stages: Stage<C>[]): void {
  for (const stage of stages) {
    stage.run(ctx)
    if (ctx.diagnostics.length > 0) throw toRegoErrors(ctx.diagnostics)
  }
}

/** Converts diagnostics into the front end's error list. */
export function toRegoErrors(ds: Diagnostic[]): RegoErrors {
  return new RegoErrors(ds.map((d) => new RegoError(d.code, d.message, d.location)))
}

// ---------------------------------------------------------------------------------------------
// Ref resolution

/** Names a module can refer to without a `data.` prefix: its package's rules and imports. */
function globalsOf(m: Module, rulesByPackage: Map<string, Set<string>>): Map<string, Term[]> {
  const globals = new Map<string, Term[]>()
  const pkg = m.package.path.value
  for (const name of rulesByPackage.get(key(pathOfPackage(m))) ?? []) {
    globals.set(name, [...pkg, { type: 'string', value: name, location: m.package.location }])
  }
  for (const imp of m.imports) {
    const terms = imp.path.value
    const root = terms[0]
    if (root?.type !== 'var' || !ROOTS.has(root.value)) continue
    const last = terms[terms.length - 1]!
    const alias = imp.alias ?? (last.type === 'string' ? last.value : last.type === 'var' ? last.value : '')
    if (alias) globals.set(alias, terms)
  }
  return globals
}

/** Variables a rule declares itself (`:=`, `some`, arguments, `every`): these shadow globals. */
function declaredVars(rule: Rule): Set<string> {
  const out = new Set<string>()
  const visitBody = (body: Body): void => {
    for (const e of body) {
      const s = exprShape(e)
      if (s.kind === 'call' && s.op === 'assign') termVars(s.args[0]!, out)
      else if (s.kind === 'some') for (const v of s.decl.vars) out.add(v.value)
      else if (s.kind === 'somein') {
        if (s.decl.key) termVars(s.decl.key, out)
        termVars(s.decl.value, out)
      } else if (s.kind === 'every') {
        if (s.decl.key) out.add(s.decl.key.value)
        out.add(s.decl.value.value)
        visitBody(s.decl.body)
      }
      mapBody([e], (t) => {
        if (t.type === 'arraycomprehension' || t.type === 'setcomprehension' || t.type === 'objectcomprehension') {
          visitBody(t.body)
        }
        return t
      })
    }
  }
  for (let r: Rule | undefined = rule; r; r = r.else) {
    for (const a of r.head.args ?? []) termVars(a, out)
    visitBody(r.body)
  }
  return out
}

function resolver(globals: Map<string, Term[]>, locals: Set<string>): (t: Term) => Term {
  const lookup = (name: string): Term[] | undefined =>
    locals.has(name) || ROOTS.has(name) ? undefined : globals.get(name)
  return (t) => {
    if (t.type === 'var') {
      const g = lookup(t.value)
      return g ? { type: 'ref', value: g.map((x) => ({ ...x, location: t.location })), location: t.location } : t
    }
    if (t.type === 'ref') {
      const [head, ...rest] = t.value
      // The head was already rewritten bottom-up: a global var became a ref, splice it.
      if (head?.type === 'ref' && rest.length > 0 && head.value[0]?.type === 'var' && ROOTS.has(head.value[0].value)) {
        return { ...t, value: [...head.value, ...rest] }
      }
      if (head?.type === 'ref' && rest.length === 0) return head
    }
    if (t.type === 'call') {
      const op = t.operator.value
      if (op[0]?.type === 'ref') return { ...t, operator: { ...t.operator, value: [...op[0].value, ...op.slice(1)] } }
    }
    return t
  }
}

/** Replaces every `_` with a fresh generated variable. */
function renameWildcards(t: Term): Term {
  return t.type === 'var' && t.value === '_' ? { ...t, value: freshVar('wild') } : t
}

function resolveRule(rule: Rule, f: (t: Term) => Term): Rule {
  const head = rule.head
  const out: Rule = {
    ...rule,
    head: {
      ...head,
      ref: head.ref.map((t, i) => (i === 0 ? t : mapTerm(t, f))),
      ...(head.args ? { args: head.args.map((a) => mapTerm(a, f)) } : {}),
      ...(head.key ? { key: mapTerm(head.key, f) } : {}),
      ...(head.value ? { value: mapTerm(head.value, f) } : {}),
    },
    body: mapBody(rule.body, f),
  }
  if (rule.else) out.else = resolveRule(rule.else, f)
  return out
}

// ---------------------------------------------------------------------------------------------
// Rule indexing

function classify(rule: Rule, pkg: string[], file: string, ds: Diagnostic[]): { path: string[]; compiled: CompiledRule } | undefined {
  const head = rule.head
  const ref = head.ref
  const names: string[] = []
  for (const t of ref) {
    if (t.type === 'var' && names.length === 0) names.push(t.value)
    else if (t.type === 'string') names.push(t.value)
    else break
  }
  const trueTerm: Term = { type: 'boolean', value: true, location: head.location }
  const base = { body: rule.body, location: rule.location, file }
  let compiled: CompiledRule
  let path: string[]
  if (head.args) {
    path = [...pkg, ...names]
    if (names.length !== ref.length) return unsupported(ds, 'function with a variable in its name', head.location)
    compiled = { ...base, kind: 'function', args: head.args, value: head.value ?? trueTerm }
  } else if (head.contains && names.length < ref.length) {
    path = [...pkg, ...names]
    compiled = { ...base, kind: 'partialobject', keys: ref.slice(names.length), leafSet: true, value: head.key ?? trueTerm }
  } else if (head.contains) {
    path = [...pkg, ...names]
    compiled = { ...base, kind: 'partialset', key: head.key ?? trueTerm, value: trueTerm }
  } else if (names.length < ref.length - 1) {
    path = [...pkg, ...names]
    compiled = { ...base, kind: 'partialobject', keys: ref.slice(names.length), value: head.value ?? trueTerm }
  } else if (names.length === ref.length - 1) {
    path = [...pkg, ...names]
    compiled = { ...base, kind: 'partialobject', key: ref[ref.length - 1]!, value: head.value ?? trueTerm }
  } else if (names.length === ref.length && head.key) {
    path = [...pkg, ...names]
    compiled = { ...base, kind: 'partialobject', key: head.key, value: head.value ?? trueTerm }
  } else if (names.length === ref.length) {
    path = [...pkg, ...names]
    compiled = { ...base, kind: 'complete', value: head.value ?? trueTerm }
  } else {
    return unsupported(ds, 'rule head', head.location)
  }
  if (rule.else) {
    const next = classify({ ...rule.else, head: { ...rule.else.head, ref: head.ref, ...(head.args ? { args: rule.else.head.args ?? head.args } : {}) } }, pkg, file, ds)
    if (next) compiled.else = next.compiled
  }
  return { path, compiled }
}

function unsupported(ds: Diagnostic[], what: string, location: Location): undefined {
  ds.push({ code: 'rego_compile_error', message: `unsupported: ${what}`, location })
  return undefined
}

function pathText(path: string[]): string {
  return ['data', ...path].join('.')
}

// ---------------------------------------------------------------------------------------------
// Safety and ordering

interface SafetyCtx {
  ds: Diagnostic[]
  arity: (operator: RefTerm) => number | undefined
}

/** Vars of `t` in pattern position: bare vars, and vars inside array/object literals. */
function patternVars(t: Term, out: Set<string>, refOuts: Set<string>, needs: Set<string>, outside: Set<string>): void {
  switch (t.type) {
    case 'var':
      if (!ROOTS.has(t.value)) out.add(t.value)
      return
    case 'array':
      for (const x of t.value) patternVars(x, out, refOuts, needs, outside)
      return
    case 'object':
      for (const [k, v] of t.value) {
        collectNeeds(k, needs, refOuts, outside)
        patternVars(v, out, refOuts, needs, outside)
      }
      return
    default:
      collectNeeds(t, needs, refOuts, outside)
  }
}

/**
 * Splits the vars of a value term into `needs` (must be bound before it runs) and `refOuts`
 * (ref operands, which iteration binds). Comprehensions need only their closure vars.
 */
function collectNeeds(t: Term, needs: Set<string>, refOuts: Set<string>, outside: Set<string>): void {
  switch (t.type) {
    case 'var':
      if (!ROOTS.has(t.value)) needs.add(t.value)
      return
    case 'ref': {
      const [head, ...rest] = t.value
      if (head) collectNeeds(head, needs, refOuts, outside)
      for (const x of rest) {
        if (x.type === 'var') refOuts.add(x.value)
        else if (x.type === 'array' || x.type === 'object') patternVars(x, refOuts, refOuts, needs, outside)
        else collectNeeds(x, needs, refOuts, outside)
      }
      return
    }
    case 'array':
    case 'set':
      for (const x of t.value) collectNeeds(x, needs, refOuts, outside)
      return
    case 'object':
      for (const [k, v] of t.value) {
        collectNeeds(k, needs, refOuts, outside)
        collectNeeds(v, needs, refOuts, outside)
      }
      return
    case 'call':
      for (const x of t.args) collectNeeds(x, needs, refOuts, outside)
      return
    case 'arraycomprehension':
    case 'setcomprehension':
    case 'objectcomprehension':
      for (const v of termVars(t)) if (outside.has(v) && !ROOTS.has(v)) needs.add(v)
      return
    default:
  }
}

interface ExprInfo {
  needs: Set<string>
  outs: Set<string>
  /** Vars this expression declares afresh (shadowing outer bindings). */
  declares: Set<string>
  /** For `=`: at least one side must be fully bound. */
  sides?: [Set<string>, Set<string>]
  /** For `=` of two composite literals: readiness per element pair. */
  ready?: (bound: Set<string>) => boolean
}

function analyze(e: Expr, outside: Set<string>, sc: SafetyCtx): ExprInfo {
  const needs = new Set<string>()
  const outs = new Set<string>()
  const declares = new Set<string>()
  const s = exprShape(e)
  let sides: [Set<string>, Set<string>] | undefined
  let ready: ((bound: Set<string>) => boolean) | undefined
  switch (s.kind) {
    case 'some':
      for (const v of s.decl.vars) declares.add(v.value)
      break
    case 'somein': {
      const pats = new Set<string>()
      if (s.decl.key) patternVars(s.decl.key, pats, outs, needs, outside)
      patternVars(s.decl.value, pats, outs, needs, outside)
      collectNeeds(s.decl.collection, needs, outs, outside)
      for (const v of pats) {
        outs.add(v)
        declares.add(v)
      }
      break
    }
    case 'every': {
      collectNeeds(s.decl.domain, needs, outs, outside)
      const inner = new Set<string>()
      for (const x of s.decl.body) exprVars(x, inner)
      for (const v of inner) if (outside.has(v) && !ROOTS.has(v)) needs.add(v)
      needs.delete(s.decl.value.value)
      if (s.decl.key) needs.delete(s.decl.key.value)
      break
    }
    case 'term':
      collectNeeds(s.term, needs, outs, outside)
      break
    case 'call': {
      if (s.op === 'assign') {
        patternVars(s.args[0]!, outs, outs, needs, outside)
        for (const v of outs) declares.add(v)
        collectNeeds(s.args[1]!, needs, outs, outside)
      } else if (s.op === 'eq') {
        const a = new Set<string>()
        const b = new Set<string>()
        patternVars(s.args[0]!, a, outs, needs, outside)
        patternVars(s.args[1]!, b, outs, needs, outside)
        for (const v of [...a, ...b]) outs.add(v)
        const [l, r] = [s.args[0]!, s.args[1]!]
        if ((l.type === 'array' && r.type === 'array') || (l.type === 'object' && r.type === 'object')) {
          ready = (bound) => unifyReady(l, r, bound)
        } else sides = [a, b]
      } else {
        const arity = sc.arity(s.operator)
        const n = s.args.length
        const last = arity !== undefined && n === arity + 1 ? s.args[n - 1] : undefined
        for (const a of last ? s.args.slice(0, -1) : s.args) collectNeeds(a, needs, outs, outside)
        if (last) patternVars(last, outs, outs, needs, outside)
      }
    }
  }
  for (const w of e.with) {
    // A function or builtin name as the replacement needs no binding.
    const v = w.value
    if (v.type === 'var' || v.type === 'ref') {
      const ref: RefTerm = v.type === 'ref' ? v : { type: 'ref', value: [v], location: v.location }
      if (refName(ref) !== undefined && sc.arity(ref) !== undefined) continue
    }
    collectNeeds(w.value, needs, new Set(), outside)
  }
  if (e.negated) {
    // Wildcards stay local to the negation (`not deny[_]`); other vars must be bound before.
    for (const v of outs) if (!v.startsWith('__wild')) needs.add(v)
    outs.clear()
    sides = undefined
    ready = undefined
  }
  for (const v of outs) needs.delete(v)
  return { needs, outs, declares, ...(sides ? { sides } : {}), ...(ready ? { ready } : {}) }
}

/** Whether two composite literals can be unified given the bound vars: each pair can. */
function unifyReady(a: Term, b: Term, bound: Set<string>): boolean {
  if (a.type === 'array' && b.type === 'array') {
    return a.value.length === b.value.length && a.value.every((x, i) => unifyReady(x, b.value[i]!, bound))
  }
  if (a.type === 'object' && b.type === 'object') {
    return a.value.every(([k, v]) => {
      const other = b.value.find(([k2]) => JSON.stringify(stripLoc(k2)) === JSON.stringify(stripLoc(k)))
      return other ? unifyReady(v, other[1], bound) : true
    })
  }
  const side = (t: Term): boolean => {
    const pats = new Set<string>()
    const dummy = new Set<string>()
    patternVars(t, pats, dummy, dummy, new Set())
    return [...pats].every((v) => bound.has(v))
  }
  return side(a) || side(b)
}

/** A term without locations, for structural comparison. */
export function stripLoc(t: Term): unknown {
  return JSON.parse(JSON.stringify(t, (k, v) => (k === 'location' ? undefined : v)))
}

/** Vars of a body outside any comprehension or `every` body: a nested body's closure candidates. */
function shallowVars(body: Body): Set<string> {
  const out = new Set<string>()
  const visit = (t: Term): void => {
    switch (t.type) {
      case 'var':
        out.add(t.value)
        break
      case 'ref':
      case 'array':
      case 'set':
        t.value.forEach(visit)
        break
      case 'object':
        for (const [k, v] of t.value) {
          visit(k)
          visit(v)
        }
        break
      case 'call':
        t.args.forEach(visit)
        break
      default:
    }
  }
  for (const e of body) {
    const s = exprShape(e)
    if (s.kind === 'term') visit(s.term)
    else if (s.kind === 'call') s.args.forEach(visit)
    else if (s.kind === 'some') s.decl.vars.forEach(visit)
    else if (s.kind === 'somein') {
      if (s.decl.key) visit(s.decl.key)
      visit(s.decl.value)
      visit(s.decl.collection)
    } else {
      visit(s.decl.domain)
    }
    for (const w of e.with) visit(w.value)
  }
  return out
}

/**
 * Orders a body so every expression runs after the expressions that bind its inputs (OPA's
 * reordering for safety); reports `var x is unsafe` for vars nothing binds. `extra` are vars
 * of the enclosing rule head or term that closures may also see.
 */
export function orderBody(body: Body, bound: Set<string>, sc: SafetyCtx, extra: Set<string> = new Set()): Body {
  const outside = new Set([...bound, ...shallowVars(body), ...extra])
  // A var first declared by `:=` after an expression is not a closure var of that expression.
  const declaredAt = new Map<string, number>()
  body.forEach((e, i) => {
    const s = exprShape(e)
    if (s.kind === 'call' && s.op === 'assign') {
      for (const v of termVars(s.args[0]!)) if (!declaredAt.has(v) && !bound.has(v)) declaredAt.set(v, i)
    }
  })
  const pending = body.map((e, i) => {
    const own = new Set([...outside].filter((v) => !((declaredAt.get(v) ?? -1) > i)))
    return { e, info: analyze(e, own, sc) }
  })
  const out: Body = []
  const b = new Set(bound)
  while (pending.length > 0) {
    const i = pending.findIndex(({ info }) => {
      for (const v of info.needs) if (!b.has(v)) return false
      if (info.ready && !info.ready(b)) return false
      if (info.sides) {
        const [l, r] = info.sides
        const lb = [...l].every((v) => b.has(v))
        const rb = [...r].every((v) => b.has(v))
        if (!lb && !rb) return false
      }
      return true
    })
    if (i < 0) {
      for (const { e, info } of pending) {
        const vars = [...info.needs, ...(info.sides ? [...info.sides[0], ...info.sides[1]] : [])]
        const v = vars.find((x) => !b.has(x))
        if (v !== undefined) {
          sc.ds.push({ code: 'rego_unsafe_var_error', message: `var ${isGenerated(v) ? '_' : v} is unsafe`, location: e.location })
        }
      }
      return body
    }
    const [{ e, info }] = pending.splice(i, 1)
    for (const v of info.declares) b.delete(v)
    out.push(orderNested(e, b, sc))
    for (const v of info.outs) b.add(v)
    for (const v of exprVars(e)) if (!e.negated && info.outs.has(v)) b.add(v)
  }
  return out
}

/** Orders the bodies nested in an expression (comprehensions, `every`) given the vars bound before it. */
function orderNested(e: Expr, bound: Set<string>, sc: SafetyCtx): Expr {
  const s = exprShape(e)
  const nest = (t: Term): Term => {
    switch (t.type) {
      case 'ref':
      case 'array':
      case 'set':
        return { ...t, value: t.value.map(nest) }
      case 'object':
        return { ...t, value: t.value.map(([k, v]) => [nest(k), nest(v)] as [Term, Term]) }
      case 'call':
        return { ...t, args: t.args.map(nest) }
      case 'arraycomprehension':
      case 'setcomprehension': {
        const body = orderBody(t.body, bound, sc, termVars(t.term))
        return { ...t, body }
      }
      case 'objectcomprehension': {
        const body = orderBody(t.body, bound, sc, termVars(t.value, termVars(t.key)))
        return { ...t, body }
      }
      default:
        return t
    }
  }
  let terms = e.terms
  if (Array.isArray(terms)) terms = [terms[0]!, ...terms.slice(1).map(nest)]
  else if (s.kind === 'every') {
    const inner = new Set(bound)
    inner.add(s.decl.value.value)
    if (s.decl.key) inner.add(s.decl.key.value)
    terms = { ...s.decl, domain: nest(s.decl.domain), body: orderBody(s.decl.body, inner, sc) }
  } else if (s.kind === 'somein') {
    terms = { ...s.decl, collection: nest(s.decl.collection) }
  } else if (s.kind === 'term') terms = nest(s.term)
  else if (s.kind === 'call') terms = { ...(e.terms as Term & { type: 'call' }), args: s.args.map(nest) }
  return { ...e, terms, with: e.with.map((w) => ({ ...w, value: nest(w.value) })) }
}

/** Checks that the head's vars are bound by the body, given what the body binds. */
function checkHead(r: CompiledRule, sc: SafetyCtx): void {
  const bound = new Set<string>()
  for (const a of r.args ?? []) termVars(a, bound)
  for (const e of r.body) exprVars(e, bound)
  for (const t of [r.key, r.value, ...(r.keys ?? [])]) {
    if (!t) continue
    const needs = new Set<string>()
    const refOuts = new Set<string>()
    collectNeeds(t, needs, refOuts, bound)
    for (const v of needs) {
      if (!bound.has(v)) {
        sc.ds.push({ code: 'rego_unsafe_var_error', message: `var ${v} is unsafe`, location: t.location })
      }
    }
  }
}

/** Reports `declared var x unused` for a `some x` whose var occurs nowhere else in the rule. */
function checkUnusedSome(r: CompiledRule, ds: Diagnostic[]): void {
  const count = new Map<string, number>()
  const countTerm = (t: Term): void => {
    mapTerm(t, (x) => {
      if (x.type === 'var') count.set(x.value, (count.get(x.value) ?? 0) + 1)
      return x
    })
  }
  const decls: { name: string; location: Location }[] = []
  const visitBody = (body: Body): void => {
    for (const e of body) {
      const s = exprShape(e)
      if (s.kind === 'some') for (const v of s.decl.vars) decls.push({ name: v.value, location: v.location })
      mapBody([e], (t) => {
        if (t.type === 'var') count.set(t.value, (count.get(t.value) ?? 0) + 1)
        return t
      })
    }
  }
  visitBody(r.body)
  for (const t of [r.key, r.value, ...(r.args ?? []), ...(r.keys ?? [])]) if (t) countTerm(t)
  for (const d of decls) {
    if ((count.get(d.name) ?? 0) <= 1) {
      ds.push({ code: 'rego_compile_error', message: `declared var ${d.name} unused`, location: d.location })
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reassignment

/** Reports `var x assigned above` for a second `:=` of the same var in one body. */
function checkAssignOnce(body: Body, ds: Diagnostic[], declared = new Set<string>()): void {
  for (const e of body) {
    const s = exprShape(e)
    if (s.kind === 'call' && s.op === 'assign') {
      for (const v of termVars(s.args[0]!)) {
        if (isGenerated(v)) continue
        if (declared.has(v)) ds.push({ code: 'rego_compile_error', message: `var ${v} assigned above`, location: e.location })
        declared.add(v)
      }
    }
    mapBody([e], (t) => {
      if (t.type === 'arraycomprehension' || t.type === 'setcomprehension' || t.type === 'objectcomprehension') {
        checkAssignOnce(t.body, ds, new Set())
      }
      return t
    })
  }
}

// ---------------------------------------------------------------------------------------------
// The pipeline

function makeArity(ctx: { rules: Map<string, RuleSet>; builtins: Map<string, BuiltinDecl> }) {
  return (operator: RefTerm): number | undefined => {
    const parts = operator.value
    if (parts[0]?.type === 'var' && parts[0].value === 'data') {
      const path = parts.slice(1).map((t) => (t.type === 'string' ? t.value : ''))
      return ctx.rules.get(key(path))?.arity
    }
    const name = parts.map((t) => (t.type === 'var' || t.type === 'string' ? t.value : '')).join('.')
    const decl = ctx.builtins.get(name) ?? getBuiltin(name)
    // Void builtins (print) have no output argument.
    return decl && decl.result ? decl.arity : undefined
  }
}

function eachRule(set: RuleSet, f: (r: CompiledRule) => void): void {
  for (const r of set.default ? [...set.rules, set.default] : set.rules) {
    for (let x: CompiledRule | undefined = r; x; x = x.else) f(x)
  }
}

const STAGES: Stage<Context>[] = [
  {
    // Must run first: every later stage sees fully qualified refs.
    name: 'resolveRefs',
    run(ctx) {
      const byPackage = new Map<string, Set<string>>()
      for (const m of ctx.modules) {
        const k = key(pathOfPackage(m))
        if (!ctx.packages.some((p) => key(p) === k)) ctx.packages.push(pathOfPackage(m))
        const names = byPackage.get(k) ?? new Set<string>()
        for (const r of m.rules) {
          const h = r.head.ref[0]
          if (h?.type === 'var') names.add(h.value)
        }
        byPackage.set(k, names)
      }
      for (const m of ctx.modules) {
        const globals = globalsOf(m, byPackage)
        for (const rule of m.rules) {
          const f = resolver(globals, declaredVars(rule))
          const resolved = resolveRule(rule, (t) => renameWildcards(f(t)))
          ctx.resolved.push({ rule: resolved, pkg: pathOfPackage(m), file: m.file })
        }
      }
    },
  },
  {
    name: 'indexRules',
    run(ctx) {
      for (const { rule, pkg, file } of ctx.resolved) {
        const c = classify(rule, pkg, file, ctx.diagnostics)
        if (!c) continue
        const k = key(c.path)
        let set = ctx.rules.get(k)
        if (!set) {
          set = { path: c.path, kind: c.compiled.kind, rules: [], location: rule.location }
          if (c.compiled.args) set.arity = c.compiled.args.length
          ctx.rules.set(k, set)
        }
        if (set.kind !== c.compiled.kind || (c.compiled.args && c.compiled.args.length !== set.arity)) {
          ctx.diagnostics.push({
            code: 'rego_type_error',
            message: `conflicting rules ${pathText(c.path)} found`,
            location: rule.location,
          })
          continue
        }
        if (rule.default) {
          if (set.default) {
            ctx.diagnostics.push({
              code: 'rego_type_error',
              message: `multiple default rules ${pathText(c.path)} found`,
              location: rule.location,
            })
          }
          set.default = c.compiled
        } else set.rules.push(c.compiled)
      }
      // A rule path that is a strict prefix of another (`p := 1`, `p.q := 2`) conflicts.
      for (const set of ctx.rules.values()) {
        for (let n = set.path.length - 1; n > 0; n--) {
          const other = ctx.rules.get(key(set.path.slice(0, n)))
          if (other && other.kind !== 'partialobject') {
            ctx.diagnostics.push({
              code: 'rego_type_error',
              message: `rule ${pathText(other.path)} conflicts with ${pathText(set.path)}`,
              location: set.location,
            })
          }
        }
      }
    },
  },
  {
    name: 'checkWithTargets',
    run(ctx) {
      const arity = makeArity(ctx)
      const check = (body: Body): void => {
        for (const e of body) {
          for (const w of e.with) {
            const head = w.target.value[0]
            const rooted = head?.type === 'var' && ROOTS.has(head.value)
            if (!rooted && arity(w.target) === undefined && !getBuiltin(refName(w.target) ?? '')) {
              ctx.diagnostics.push({
                code: 'rego_compile_error',
                message: 'with keyword target must reference existing input, data, or a function',
                location: w.location,
              })
            }
          }
          mapBody([e], (t) => {
            if (t.type === 'arraycomprehension' || t.type === 'setcomprehension' || t.type === 'objectcomprehension') check(t.body)
            return t
          })
        }
      }
      for (const set of ctx.rules.values()) eachRule(set, (r) => check(r.body))
    },
  },
  {
    name: 'checkAssignOnce',
    run(ctx) {
      for (const set of ctx.rules.values()) eachRule(set, (r) => checkAssignOnce(r.body, ctx.diagnostics))
    },
  },
  {
    // Must run after indexRules: edges are refs to rule paths.
    name: 'checkRecursion',
    run(ctx) {
      const deps = new Map<string, Set<string>>()
      for (const [k, set] of ctx.rules) {
        const out = new Set<string>()
        const visit = (t: Term): Term => {
          if (t.type !== 'ref' || t.value[0]?.type !== 'var' || t.value[0].value !== 'data') return t
          // A rule is reached when each ref operand matches its path: strings by value,
          // anything else (a var, a computed key) possibly; scalars of other types never.
          const ops = t.value.slice(1)
          for (const [k2, other] of ctx.rules) {
            const p = other.path
            const n = Math.min(p.length, ops.length)
            let match = true
            for (let j = 0; j < n && match; j++) {
              const op = ops[j]!
              if (op.type === 'string') match = op.value === p[j]
              else if (op.type === 'number' || op.type === 'boolean' || op.type === 'null') match = false
              else if (op.type === 'array' || op.type === 'object' || op.type === 'set') match = false
            }
            if (match) out.add(k2)
          }
          return t
        }
        eachRule(set, (r) => {
          mapBody(r.body, visit)
          for (const t of [r.key, r.value, ...(r.args ?? []), ...(r.keys ?? [])]) if (t) mapTerm(t, visit)
        })
        deps.set(k, out)
      }
      const state = new Map<string, 'visiting' | 'done'>()
      const stack: string[] = []
      const reported = new Set<string>()
      const dfs = (k: string): void => {
        state.set(k, 'visiting')
        stack.push(k)
        for (const d of deps.get(k) ?? []) {
          if (state.get(d) === 'visiting') {
            const cycle = [...stack.slice(stack.indexOf(d)), d].map((x) => pathText(JSON.parse(x) as string[]))
            if (!reported.has(d)) {
              reported.add(d)
              const set = ctx.rules.get(d)!
              ctx.diagnostics.push({
                code: 'rego_recursion_error',
                message: `rule ${cycle[0]} is recursive: ${cycle.join(' -> ')}`,
                location: set.location,
              })
            }
          } else if (!state.has(d)) dfs(d)
        }
        stack.pop()
        state.set(k, 'done')
      }
      for (const k of ctx.rules.keys()) if (!state.has(k)) dfs(k)
    },
  },
  {
    // Must run after resolveRefs and indexRules: arity of user functions decides output args.
    name: 'checkSafety',
    run(ctx) {
      const sc: SafetyCtx = { ds: ctx.diagnostics, arity: makeArity(ctx) }
      for (const set of ctx.rules.values()) {
        eachRule(set, (r) => {
          const bound = new Set<string>()
          for (const a of r.args ?? []) termVars(a, bound)
          const extra = new Set<string>()
          if (r.key) termVars(r.key, extra)
          for (const k of r.keys ?? []) termVars(k, extra)
          termVars(r.value, extra)
          checkUnusedSome(r, ctx.diagnostics)
          r.body = orderBody(r.body, bound, sc, extra)
          checkHead(r, sc)
        })
      }
    },
  },
]

/**
 * Compiles parsed modules together: resolves refs, indexes rules by path, checks and orders
 * bodies. Throws `RegoErrors` when any stage reports a problem.
 *
 * @example
 * const compiled = compileModules([parseModule(source, 'policy.rego')])
 */
export function compileModules(modules: Module[], options: CompileModulesOptions = {}): CompiledPolicy {
  const builtins = new Map<string, BuiltinDecl>()
  for (const b of options.extraBuiltins ?? []) builtins.set(b.name, b)
  const ctx: Context = { modules, diagnostics: [], builtins, rules: new Map(), packages: [], resolved: [] }
  runStages(ctx, STAGES)
  return { rules: ctx.rules, packages: ctx.packages, modules, builtins }
}

/**
 * Compiles a query body against a compiled policy: `_` becomes a fresh var, the body is ordered
 * for safety. Returns the body and the user variables it binds.
 */
export function compileQuery(body: Body, compiled: CompiledPolicy): CompiledQuery {
  const diagnostics: Diagnostic[] = []
  const renamed = mapBody(body, renameWildcards)
  const vars: string[] = []
  for (const e of renamed) {
    for (const v of exprVars(e)) if (!isGenerated(v) && !ROOTS.has(v) && !vars.includes(v)) vars.push(v)
  }
  checkAssignOnce(renamed, diagnostics)
  const sc: SafetyCtx = { ds: diagnostics, arity: makeArity(compiled) }
  const ordered = orderBody(renamed, new Set(), sc)
  if (diagnostics.length > 0) throw toRegoErrors(diagnostics)
  return { body: ordered, vars: vars.filter((v) => queryBinds(ordered, v)) }
}

/** Query rows show only vars bound at the query's top level (not ones local to comprehensions). */
function queryBinds(body: Body, v: string): boolean {
  return shallowVars(body).has(v)
}

export type { RuleKind }
