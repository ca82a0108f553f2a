/**
 * The Rego v1 parser: a recursive-descent parser from tokens to the AST of `ast.ts`. It parses
 * modules, queries and single terms, collects several errors where it can skip to the next rule,
 * and reports them all at once as `RegoErrors` with code `rego_parse_error`.
 *
 * @module
 */

import type {
  Body,
  BooleanTerm,
  CallTerm,
  Every,
  Expr,
  Head,
  Import,
  Location,
  Module,
  Package,
  RefTerm,
  Rule,
  SomeDecl,
  SomeIn,
  StringTerm,
  Term,
  VarTerm,
  With,
} from './ast.js'
import { RegoError, RegoErrorCode, RegoErrors } from './errors.js'
import { lex } from './lexer.js'
import { INFIX_BUILTINS, KEYWORDS, TokenKind } from './tokens.js'
import type { Token } from './tokens.js'

/** Options shared by the parse entry points. */
export interface ParseOptions {
  /** Keep at most this many errors (default 10). */
  maxErrors?: number
}

/**
 * Parses one Rego v1 module.
 *
 * @throws RegoErrors with code `rego_parse_error` when the source is not valid Rego v1.
 * @example
 * ```ts
 * const mod = parseModule('package authz\n\nallow if input.user == "alice"', 'authz.rego')
 * mod.rules[0].head.ref // [{ type: 'var', value: 'allow', ... }]
 * ```
 */
export function parseModule(source: string, file = 'module.rego', options: ParseOptions = {}): Module {
  return run(source, file, options, (p) => p.parseModule())
}

/**
 * Parses a query: one or more expressions separated by `;` or newlines.
 *
 * @example
 * ```ts
 * const body = parseQuery('data.authz.allow = x')
 * ```
 */
export function parseQuery(source: string, file = 'query', options: ParseOptions = {}): Body {
  return run(source, file, options, (p) => p.parseQueryToEnd())
}

/** Parses a rule body without braces; the same as `parseQuery`. */
export function parseBody(source: string, file = 'body', options: ParseOptions = {}): Body {
  return parseQuery(source, file, options)
}

/**
 * Parses a single term, such as a conformance case's `input_term` (`{1, 2}`, `set()`, `{"a": [1]}`).
 *
 * @example
 * ```ts
 * parseTerm('{"a": set()}').type // 'object'
 * ```
 */
export function parseTerm(source: string, file = 'term', options: ParseOptions = {}): Term {
  return run(source, file, options, (p) => p.parseTermToEnd())
}

function run<T>(source: string, file: string, options: ParseOptions, f: (p: Parser) => T): T {
  const { tokens, errors } = lex(source, file)
  const parser = new Parser(tokens, file, errors)
  let result: T | undefined
  try {
    result = f(parser)
  } catch (e) {
    if (!(e instanceof ParseAbort)) throw e
  }
  if (parser.errors.length > 0 || result === undefined) {
    throw new RegoErrors(parser.errors, {
      sources: { [file]: source },
      ...(options.maxErrors !== undefined ? { maxErrors: options.maxErrors } : {}),
    })
  }
  return result
}

/** Thrown inside the parser to unwind to the nearest recovery point; never escapes. */
class ParseAbort extends Error {}

/** How deeply brackets, braces and parentheses may nest. */
const MAX_NESTING = 200

const RELATIONAL = new Set(['==', '!=', '<', '<=', '>', '>='])
const SCALAR_TYPES = new Set(['string', 'number', 'boolean', 'null'])
const IMPORT_ROOTS = new Set(['data', 'input', 'future', 'rego'])

/** The parser state over one token list. */
class Parser {
  readonly errors: RegoError[]
  readonly #tokens: Token[]
  readonly #file: string
  #i = 0
  // Inside the head term of a possible comprehension, a top-level `|` ends the term instead of
  // being set union (`[x | ...]`); any bracket resets this.
  #noOr = false
  #depth = 0
  /** `not { ... }` bodies are enabled by `import rego.v2` or `import future.keywords.not`. */
  #notBodies = false

  constructor(tokens: Token[], file: string, errors: RegoError[]) {
    this.#tokens = tokens
    this.#file = file
    this.errors = [...errors]
  }

  // -------------------------------------------------------------------------------------------
  // Entry points

  // Module : Package Import* Rule*
  parseModule(): Module {
    if (!this.#at('package')) this.#fail(`expected package declaration, found ${this.#describe()}`)
    const pkg = this.#recovering(() => this.parsePackage())
    if (pkg === undefined) throw new ParseAbort()
    const moduleName = pkg.path.value
      .map((t) => (t.type === 'var' ? t.value : (t as StringTerm).value))
      .join('.')
    const imports: Import[] = []
    const rules: Rule[] = []
    while (this.#peek().kind !== TokenKind.eof) {
      if (this.#at('import')) {
        if (rules.length > 0) this.#error('import must come before any rule')
        const imp = this.#recovering(() => this.parseImport())
        if (imp !== undefined) imports.push(imp)
        continue
      }
      if (this.#at('package')) {
        this.#error('unexpected package declaration: a module has exactly one package')
        this.#recovering(() => this.parsePackage())
        continue
      }
      const rule = this.#recovering(() => this.parseRule())
      if (rule !== undefined) {
        for (let r: Rule | undefined = rule; r !== undefined; r = r.else) r.module = moduleName
        rules.push(rule)
      }
    }
    return { package: pkg, imports, rules, file: this.#file }
  }

  // Query : Literal ((';' | NEWLINE) Literal)* EOF
  parseQueryToEnd(): Body {
    const body = this.#parseLiterals(null)
    this.#expectEnd()
    return body
  }

  // TermToEnd : InTerm EOF
  parseTermToEnd(): Term {
    const term = this.#parseInTerm(false)
    this.#expectEnd()
    return term
  }

  // -------------------------------------------------------------------------------------------
  // Package, imports, rules

  // Package : 'package' Var ('.' Var | '[' String ']')*
  parsePackage(): Package {
    const kw = this.#next()
    const parts = this.#parsePath('package')
    const first = parts[0]!
    const data: VarTerm = { type: 'var', value: 'data', location: first.location }
    const path: RefTerm = {
      type: 'ref',
      value: [data, ...parts.map((p): StringTerm => ({ type: 'string', value: p.value, location: p.location }))],
      location: first.location,
    }
    return { path, location: kw.location }
  }

  // Import : 'import' Var ('.' Var | '[' String ']')* ('as' Var)?
  parseImport(): Import {
    const kw = this.#next()
    const parts = this.#parsePath('import')
    const root = parts[0]!
    if (!IMPORT_ROOTS.has(root.value)) {
      this.#error(`invalid import path: must begin with input or data, found ${root.value}`, root.location)
    }
    const names = parts.map((p) => p.value)
    if (root.value === 'rego' && names.join('.') !== 'rego.v1' && names.join('.') !== 'rego.v2') {
      this.#error(`invalid import ${names.join('.')}: only rego.v1 and rego.v2 are supported`, root.location)
    }
    if (names.join('.') === 'rego.v2' || (root.value === 'future' && names[1] === 'keywords' && (names.length === 2 || names[2] === 'not'))) {
      this.#notBodies = true
    }
    if (root.value === 'future' && (names[1] !== 'keywords' || names.length > 3)) {
      this.#error(`invalid import ${names.join('.')}: only future.keywords[.<kw>] is supported`, root.location)
    }
    const path: RefTerm = {
      type: 'ref',
      value: [
        { type: 'var', value: root.value, location: root.location },
        ...parts.slice(1).map((p): StringTerm => ({ type: 'string', value: p.value, location: p.location })),
      ],
      location: root.location,
    }
    const imp: Import = { path, location: kw.location }
    if (this.#at('as')) {
      this.#next()
      const alias = this.#expectVar('import alias')
      imp.alias = alias.value
    }
    this.#expectLineEnd('after import')
    return imp
  }

  // Path : Ident ('.' Ident | '[' String ']')*   (used by package and import)
  #parsePath(what: string): { value: string; location: Location }[] {
    const first = this.#peek()
    if (first.kind !== TokenKind.ident) this.#fail(`expected ${what} path, found ${this.#describe()}`)
    this.#next()
    const parts = [{ value: first.value, location: first.location }]
    for (;;) {
      const tok = this.#peek()
      if (tok.nl) break
      if (this.#at('.')) {
        this.#next()
        const id = this.#peek()
        if (id.kind !== TokenKind.ident) this.#fail(`expected name after . in ${what} path, found ${this.#describe()}`)
        this.#next()
        parts.push({ value: id.value, location: id.location })
      } else if (this.#at('[')) {
        this.#next()
        const s = this.#peek()
        if (s.kind !== TokenKind.string && s.kind !== TokenKind.rawString) {
          this.#fail(`expected string in ${what} path, found ${this.#describe()}`)
        }
        this.#next()
        parts.push({ value: s.value, location: s.location })
        this.#expect(']', `in ${what} path`)
      } else break
    }
    return parts
  }

  // Rule    : 'default' RuleHead
  //         | RuleHead (('if' (Body | Literal)) | )  Else*
  // Else    : 'else' ((':=' | '=') InTerm)? ('if' (Body | Literal) | Body)?
  parseRule(): Rule {
    const start = this.#peek()
    if (this.#at('default')) {
      this.#next()
      const head = this.#parseHead()
      if (head.value === undefined || head.contains || head.key !== undefined) {
        this.#error('default rules must have a value, written `default <name> := <value>`', head.location)
      }
      if (this.#at('if') || this.#at('{')) this.#fail('default rules must not have a body')
      this.#expectLineEnd('after default rule')
      return { head, body: [trueExpr(head.location)], default: true, location: start.location }
    }
    const head = this.#parseHead()
    const body = this.#parseRuleBody(head.value !== undefined || head.contains)
    const rule: Rule = { head, body, default: false, location: start.location }
    let last = rule
    while (this.#at('else')) {
      const kw = this.#next()
      if (head.contains || head.key !== undefined) {
        this.#error('else keyword cannot be used on multi-value or partial object rules', kw.location)
      }
      const elseHead: Head = { ref: head.ref, assign: false, contains: false, location: kw.location }
      if (head.args !== undefined) elseHead.args = head.args
      if (this.#at(':=') || this.#at('=')) {
        elseHead.assign = this.#next().value === ':='
        elseHead.value = this.#parseInTerm(false)
      }
      // `else = v { ... }` without `if` is still accepted: it cannot be mistaken for anything else.
      const elseBody = this.#at('{')
        ? this.#parseBraceBody()
        : this.#at('if')
          ? this.#parseRuleBody(true)
          : [trueExpr(kw.location)]
      const next: Rule = { head: elseHead, body: elseBody, default: false, location: kw.location }
      last.else = next
      last = next
    }
    if (!this.#peek().nl) this.#fail(`unexpected ${this.#describe()} after rule: expected a newline`)
    return rule
  }

  // RuleBody : 'if' '{' Literals '}' | 'if' Literal | (nothing, when the head has a value)
  #parseRuleBody(valueOptional: boolean): Body {
    let body: Body
    if (this.#at('if')) {
      this.#next()
      if (!this.#at('{')) {
        body = [this.#parseLiteral(0)]
        if (this.#at('{')) this.#fail('unexpected { after the expression of `if`: write `if { ... }` for a body')
        return body
      }
      body = this.#parseBraceBodyOrLiteral()
    } else if (this.#at('{')) {
      this.#error('`if` keyword is required before rule body')
      body = this.#parseBraceBody()
    } else {
      if (!valueOptional) this.#fail(`expected rule value or body (if ...), found ${this.#describe()}`)
      return [trueExpr(this.#peek().location)]
    }
    if (this.#at('{')) this.#fail('multiple rule bodies are not supported in Rego v1: write one rule per body')
    return body
  }

  // With `import rego.v2` or `future.keywords.not`, a `{` after `not` opens a body when what
  // follows parses as one (`not { a; b }`); otherwise
  // it starts a term (`not {1, 2}`). Returns null, with the position restored, in the latter case.
  #tryNotBody(): Body | null {
    const start = this.#i
    const errorCount = this.errors.length
    try {
      return this.#parseBraceBody()
    } catch (e) {
      if (!(e instanceof ParseAbort)) throw e
    }
    this.errors.splice(errorCount)
    this.#i = start
    return null
  }

  // After `if`, a `{` usually opens a body but may start a term (`if {x: 1 | ...}[k]`): try the
  // body first and fall back to a single literal, keeping the body's error if both fail.
  #parseBraceBodyOrLiteral(): Body {
    // `if {}` is an empty body, never the empty object.
    if (this.#peek(1).value === '}' && this.#peek(1).kind === TokenKind.punct) return this.#parseBraceBody()
    const start = this.#i
    const errorCount = this.errors.length
    try {
      return this.#parseBraceBody()
    } catch (e) {
      if (!(e instanceof ParseAbort)) throw e
      const bodyErrors = this.errors.splice(errorCount)
      const afterBody = this.#i
      this.#i = start
      try {
        return [this.#parseLiteral(0)]
      } catch (e2) {
        if (!(e2 instanceof ParseAbort)) throw e2
        this.errors.splice(errorCount, this.errors.length - errorCount, ...bodyErrors)
        this.#i = afterBody
        throw e
      }
    }
  }

  // RuleHead : Var ('.' Ident | '[' InTerm ']')* ('(' (InTerm (',' InTerm)*)? ')')?
  //            ('contains' InTerm | (':=' | '=') InTerm)?
  #parseHead(): Head {
    const name = this.#expectVar('rule name')
    const ref: Term[] = [name]
    for (;;) {
      const tok = this.#peek()
      if (tok.nl) break
      if (this.#at('.')) {
        this.#next()
        const id = this.#peek()
        if (id.kind !== TokenKind.ident) this.#fail(`expected name after . in rule head, found ${this.#describe()}`)
        this.#next()
        ref.push({ type: 'string', value: id.value, location: id.location })
      } else if (this.#at('[')) {
        this.#next()
        ref.push(this.#bracketed(() => this.#parseInTerm(false)))
        this.#expect(']', 'in rule head')
      } else break
    }
    const head: Head = { ref, assign: false, contains: false, location: name.location }
    if (this.#at('(') && !this.#peek().nl) {
      this.#next()
      head.args = this.#bracketed(() => this.#parseList(')'))
    }
    if (this.#at('contains')) {
      this.#next()
      head.contains = true
      head.key = this.#parseInTerm(false)
      return head
    }
    if (this.#at(':=') || this.#at('=')) {
      head.assign = this.#next().value === ':='
      head.value = this.#parseInTerm(false)
    }
    // `p[k] := v` and `a.b[x] := v`: a non-scalar last operand makes a partial object rule.
    const last = ref[ref.length - 1]!
    if (ref.length > 1 && head.args === undefined && !SCALAR_TYPES.has(last.type)) head.key = last
    return head
  }

  // -------------------------------------------------------------------------------------------
  // Bodies and literals

  // Body : '{' Literals '}'
  #parseBraceBody(): Body {
    this.#expect('{', 'to start a body')
    const body = this.#bracketed(() => this.#parseLiterals('}'))
    this.#expect('}', 'to end the body')
    return body
  }

  // Literals : Literal ((';' | NEWLINE) Literal)* ';'?
  #parseLiterals(end: string | null): Body {
    const body: Body = []
    if (this.#atEnd(end)) this.#fail(`expected an expression, found ${this.#describe()}: bodies must not be empty`)
    for (;;) {
      body.push(this.#parseLiteral(body.length))
      if (this.#at(';')) {
        this.#next()
        if (this.#atEnd(end)) break
        continue
      }
      if (this.#atEnd(end)) break
      if (end !== null && this.#peek().kind === TokenKind.eof) this.#fail(`expected ${end}, found end of file`)
      if (this.#peek().nl) continue
      this.#fail(`unexpected ${this.#describe()}: expected ; or a newline between expressions`)
    }
    return body
  }

  // Literal : SomeDecl | Every | 'not'? Expr ('with' Ref 'as' InTerm)*
  #parseLiteral(index: number): Expr {
    const start = this.#peek()
    let terms: Expr['terms']
    let negated = false
    if (this.#at('some')) {
      terms = this.#parseSome()
    } else if (this.#at('every')) {
      terms = this.#parseEvery()
    } else {
      if (this.#at('not')) {
        this.#next()
        negated = true
        if (this.#at('some') || this.#at('every') || this.#at('not')) {
          this.#fail(`unexpected ${this.#describe()} after not: expected an expression`)
        }
      }
      const notBody = negated && this.#notBodies && this.#at('{') ? this.#tryNotBody() : null
      if (notBody !== null) {
        // `not { a; b }` (Rego v2, future.keywords.not) holds when the body has no solution:
        // planned as `count({true | a; b}) == 0`, which keeps the outer bindings visible.
        const loc = start.location
        const ref = (name: string): RefTerm => ({ type: 'ref', value: [{ type: 'var', value: name, location: loc }], location: loc })
        const solutions: Term = { type: 'setcomprehension', term: { type: 'boolean', value: true, location: loc }, body: notBody, location: loc }
        negated = false
        terms = [ref('equal'), { type: 'call', operator: ref('count'), args: [solutions], location: loc }, { type: 'number', value: '0', location: loc }]
      } else {
        terms = this.#parseExpr()
      }
    }
    const withs: With[] = []
    while (this.#at('with')) withs.push(this.#parseWith())
    return { terms, negated, with: withs, index, location: start.location }
  }

  // With : 'with' Ref 'as' InTerm
  #parseWith(): With {
    const kw = this.#next()
    const target = this.#parseInTerm(false)
    let ref: RefTerm
    if (target.type === 'var') ref = { type: 'ref', value: [target], location: target.location }
    else if (target.type === 'ref') ref = target
    else this.#fail('expected a reference (input..., data... or a function) after with', target.location)
    this.#expect('as', 'in with modifier')
    const value = this.#parseInTerm(false)
    return { target: ref, value, location: kw.location }
  }

  // Some : 'some' Var (',' Var)*
  //      | 'some' Relation (',' Relation)? 'in' Relation
  #parseSome(): SomeDecl | SomeIn {
    const kw = this.#next()
    const terms = [this.#parseRelation()]
    while (this.#at(',')) {
      this.#next()
      terms.push(this.#parseRelation())
    }
    if (this.#at('in')) {
      this.#next()
      if (terms.length > 2) this.#fail('expected at most two terms (key, value) before in', terms[2]!.location)
      const collection = this.#parseRelation()
      const decl: SomeIn = { type: 'somein', value: terms[terms.length - 1]!, collection, location: kw.location }
      if (terms.length === 2) decl.key = terms[0]!
      return decl
    }
    const vars: VarTerm[] = []
    for (const t of terms) {
      if (t.type !== 'var') this.#fail('expected a variable in some declaration', t.location)
      vars.push(t)
    }
    return { type: 'some', vars, location: kw.location }
  }

  // Every : 'every' Var (',' Var)? 'in' Relation Body
  #parseEvery(): Every {
    const kw = this.#next()
    const first = this.#expectVar('every')
    let second: VarTerm | undefined
    if (this.#at(',')) {
      this.#next()
      second = this.#expectVar('every')
    }
    this.#expect('in', 'in every')
    const domain = this.#parseRelation()
    const body = this.#parseBraceBody()
    const every: Every = { type: 'every', value: second ?? first, domain, body, location: kw.location }
    if (second !== undefined) every.key = first
    return every
  }

  // Expr : InTerm ((':=' | '=') InTerm)?
  // A call written as an expression becomes [operator, ...args].
  #parseExpr(): Term | Term[] {
    const lhs = this.#parseInTerm(true)
    if (this.#at(':=') || this.#at('=')) {
      const op = this.#next()
      const rhs = this.#parseInTerm(true)
      return [opRef(op.value === ':=' ? 'assign' : 'eq', op.location), lhs, rhs]
    }
    if (lhs.type === 'call') return [lhs.operator, ...lhs.args]
    return lhs
  }

  // -------------------------------------------------------------------------------------------
  // Terms, lowest precedence first: in < relational < | < & < + - < * / %

  // InTerm : Relation (',' Relation 'in' Relation)? ('in' Relation)*   (the key form only at
  //          the top of an expression: `k, v in xs`)
  #parseInTerm(keyVal: boolean): Term {
    let lhs = this.#parseRelation()
    if (keyVal && this.#at(',')) {
      this.#next()
      const mhs = this.#parseRelation()
      const op = this.#expect('in', 'after `key, value`')
      const rhs = this.#parseRelation()
      lhs = call('internal.member_3', [lhs, mhs, rhs], op.location, lhs.location)
    }
    while (this.#at('in')) {
      const op = this.#next()
      const rhs = this.#parseRelation()
      lhs = call('internal.member_2', [lhs, rhs], op.location, lhs.location)
    }
    return lhs
  }

  // Relation : Or (('==' | '!=' | '<' | '<=' | '>' | '>=') Or)*
  #parseRelation(): Term {
    return this.#parseBinary(RELATIONAL, () => this.#parseOr())
  }

  // Or : And ('|' And)*
  #parseOr(): Term {
    if (this.#noOr) return this.#parseAnd()
    return this.#parseBinary(new Set(['|']), () => this.#parseAnd())
  }

  // And : Arith ('&' Arith)*
  #parseAnd(): Term {
    return this.#parseBinary(new Set(['&']), () => this.#parseArith())
  }

  // Arith : Factor (('+' | '-') Factor)*
  #parseArith(): Term {
    return this.#parseBinary(new Set(['+', '-']), () => this.#parseFactor())
  }

  // Factor : Unary (('*' | '/' | '%') Unary)*
  #parseFactor(): Term {
    return this.#parseBinary(new Set(['*', '/', '%']), () => this.#parseUnary())
  }

  #parseBinary(ops: ReadonlySet<string>, operand: () => Term): Term {
    let lhs = operand()
    for (;;) {
      const tok = this.#peek()
      if (tok.kind !== TokenKind.punct || !ops.has(tok.value)) break
      // A `-` opening a new line starts a new expression (`-1 < x`), not a subtraction.
      if (tok.nl && tok.value === '-') break
      this.#next()
      const rhs = operand()
      lhs = call(INFIX_BUILTINS[tok.value]!, [lhs, rhs], tok.location, lhs.location)
    }
    return lhs
  }

  // Unary : '-' Number | Postfix
  #parseUnary(): Term {
    if (this.#at('-')) {
      const minus = this.#next()
      const num = this.#peek()
      if (num.kind !== TokenKind.number) this.#fail('unary minus is only supported on number literals')
      this.#next()
      return { type: 'number', value: `-${num.value}`, location: minus.location }
    }
    return this.#parsePostfix(this.#parsePrimary())
  }

  // Postfix : Primary ('.' Ident | '[' InTerm ']' | '(' Args ')')*
  #parsePostfix(term: Term): Term {
    for (;;) {
      const tok = this.#peek()
      if (tok.nl || tok.kind !== TokenKind.punct) return term
      if (tok.value === '.' && isRefHead(term)) {
        this.#next()
        const id = this.#peek()
        if (id.kind !== TokenKind.ident) this.#fail(`expected name after ., found ${this.#describe()}`)
        this.#next()
        term = extendRef(term, { type: 'string', value: id.value, location: id.location })
      } else if (tok.value === '[' && isRefHead(term)) {
        this.#next()
        const operand = this.#bracketed(() => this.#parseInTerm(false))
        this.#expect(']', 'to close the reference')
        term = extendRef(term, operand)
      } else if (tok.value === '(' && isCallable(term)) {
        this.#next()
        const args = this.#bracketed(() => this.#parseList(')'))
        const operator: RefTerm =
          term.type === 'ref' ? term : { type: 'ref', value: [term], location: term.location }
        const c: CallTerm = { type: 'call', operator, args, location: term.location }
        term = c
      } else return term
    }
  }

  // Primary : Number | String | 'true' | 'false' | 'null' | Var | 'set' '(' ')'
  //         | '(' InTerm ')' | Array | ObjectOrSet
  #parsePrimary(): Term {
    const tok = this.#peek()
    switch (tok.kind) {
      case TokenKind.number:
        this.#next()
        return { type: 'number', value: tok.value, location: tok.location }
      case TokenKind.string:
      case TokenKind.rawString:
        this.#next()
        return { type: 'string', value: tok.value, location: tok.location }
      case TokenKind.ident: {
        if (tok.value === 'true' || tok.value === 'false') {
          this.#next()
          return { type: 'boolean', value: tok.value === 'true', location: tok.location }
        }
        if (tok.value === 'null') {
          this.#next()
          return { type: 'null', location: tok.location }
        }
        if (tok.value === 'set' && this.#peek(1).value === '(' && this.#peek(2).value === ')' && !this.#peek(1).ws) {
          this.#i += 3
          return { type: 'set', value: [], location: tok.location }
        }
        // `contains` is a keyword only in rule heads; elsewhere it still names the builtin.
        if (tok.value === 'contains' && this.#peek(1).value === '(' && !this.#peek(1).ws) {
          this.#next()
          return { type: 'var', value: tok.value, location: tok.location }
        }
        return this.#expectVar('term')
      }
      case TokenKind.punct:
        if (tok.value === '(') {
          this.#next()
          // `(k, v in xs)` is allowed in parentheses, as in OPA.
          const inner = this.#bracketed(() => this.#parseInTerm(true))
          this.#expect(')', 'to close the parenthesis')
          return inner
        }
        if (tok.value === '[') return this.#parseArray()
        if (tok.value === '{') return this.#parseBraced()
        break
      default:
        break
    }
    this.#fail(`expected a term, found ${this.#describe()}`)
  }

  // Array : '[' ']' | '[' InTerm '|' Literals ']' | '[' InTerm (',' InTerm)* ','? ']'
  #parseArray(): Term {
    const open = this.#next()
    return this.#bracketed(() => {
      if (this.#at(']')) {
        this.#next()
        return { type: 'array', value: [], location: open.location }
      }
      const first = this.#headTerm()
      if (this.#at('|')) {
        return { type: 'arraycomprehension', term: first, body: this.#comprehensionBody(']', 'array'), location: open.location }
      }
      return { type: 'array', value: this.#listAfter(first, ']'), location: open.location }
    })
  }

  // Comprehension tail: '|' Literals close
  #comprehensionBody(close: ']' | '}', kind: string): Body {
    this.#next()
    const body = this.#parseLiterals(close)
    this.#expect(close, `to close the ${kind} comprehension`)
    return body
  }

  // List tail after its first element: (',' InTerm)* ','? close
  #listAfter(first: Term, close: ']' | '}'): Term[] {
    const value = [first]
    if (this.#at(',')) {
      this.#next()
      value.push(...this.#parseList(close))
    } else if (!this.#at(close)) {
      this.#fail(`expected , or ${close}, found ${this.#describe()}`)
    } else this.#next()
    return value
  }

  // ObjectOrSet : '{' '}'                                   (empty object)
  //             | '{' InTerm ':' InTerm '|' Literals '}'   (object comprehension)
  //             | '{' InTerm '|' Literals '}'              (set comprehension)
  //             | '{' InTerm ':' InTerm (',' InTerm ':' InTerm)* ','? '}'
  //             | '{' InTerm (',' InTerm)* ','? '}'
  #parseBraced(): Term {
    const open = this.#next()
    return this.#bracketed((): Term => {
      if (this.#at('}')) {
        this.#next()
        return { type: 'object', value: [], location: open.location }
      }
      const first = this.#headTerm()
      if (this.#at(':')) {
        this.#next()
        const firstValue = this.#headTerm()
        if (this.#at('|')) {
          const body = this.#comprehensionBody('}', 'object')
          return { type: 'objectcomprehension', key: first, value: firstValue, body, location: open.location }
        }
        const pairs: [Term, Term][] = [[first, firstValue]]
        while (this.#at(',')) {
          this.#next()
          if (this.#at('}')) break
          const k = this.#parseInTerm(false)
          this.#expect(':', 'between object key and value')
          pairs.push([k, this.#parseInTerm(false)])
        }
        this.#expect('}', 'to close the object')
        return { type: 'object', value: pairs, location: open.location }
      }
      if (this.#at('|')) {
        return { type: 'setcomprehension', term: first, body: this.#comprehensionBody('}', 'set'), location: open.location }
      }
      return { type: 'set', value: this.#listAfter(first, '}'), location: open.location }
    })
  }

  // The first term inside `[` or `{`: a top-level `|` after it starts a comprehension body.
  #headTerm(): Term {
    const saved = this.#noOr
    this.#noOr = true
    try {
      return this.#parseInTerm(false)
    } finally {
      this.#noOr = saved
    }
  }

  // List : (InTerm (',' InTerm)* ','?)? <close>   (consumes the closing token)
  #parseList(close: string): Term[] {
    const items: Term[] = []
    while (!this.#at(close)) {
      items.push(this.#parseInTerm(false))
      if (this.#at(',')) {
        this.#next()
        continue
      }
      if (!this.#at(close)) this.#fail(`expected , or ${close}, found ${this.#describe()}`)
    }
    this.#next()
    return items
  }

  // -------------------------------------------------------------------------------------------
  // Token helpers

  #bracketed<T>(f: () => T): T {
    // Nesting is bounded so that hostile input fails with an error, not a stack overflow.
    if (this.#depth >= MAX_NESTING) this.#fail(`nesting deeper than ${MAX_NESTING} levels`)
    const saved = this.#noOr
    this.#noOr = false
    this.#depth++
    try {
      return f()
    } finally {
      this.#noOr = saved
      this.#depth--
    }
  }

  #peek(k = 0): Token {
    return this.#tokens[Math.min(this.#i + k, this.#tokens.length - 1)]!
  }

  #next(): Token {
    const tok = this.#peek()
    if (this.#i < this.#tokens.length - 1) this.#i++
    return tok
  }

  /** The current token is the punctuation or keyword `value`. */
  #at(value: string): boolean {
    const tok = this.#peek()
    return tok.value === value && (tok.kind === TokenKind.punct || tok.kind === TokenKind.ident)
  }

  #atEnd(end: string | null): boolean {
    return end === null ? this.#peek().kind === TokenKind.eof : this.#at(end)
  }

  #expect(value: string, context: string): Token {
    if (!this.#at(value)) this.#fail(`expected ${value} ${context}, found ${this.#describe()}`)
    return this.#next()
  }

  #expectVar(context: string): VarTerm {
    const tok = this.#peek()
    if (tok.kind !== TokenKind.ident) this.#fail(`expected a ${context}, found ${this.#describe()}`)
    if (KEYWORDS.has(tok.value)) this.#fail(`unexpected keyword ${tok.value}: expected a ${context}`)
    this.#next()
    return { type: 'var', value: tok.value, location: tok.location }
  }

  #expectEnd(): void {
    if (this.#peek().kind !== TokenKind.eof) this.#fail(`unexpected ${this.#describe()}: expected end of input`)
  }

  #expectLineEnd(context: string): void {
    if (!this.#peek().nl) this.#fail(`unexpected ${this.#describe()} ${context}: expected a newline`)
  }

  #describe(tok = this.#peek()): string {
    switch (tok.kind) {
      case TokenKind.eof:
        return 'end of file'
      case TokenKind.string:
      case TokenKind.rawString:
        return `string ${JSON.stringify(tok.value)}`
      case TokenKind.number:
        return `number ${tok.value}`
      case TokenKind.ident:
        return KEYWORDS.has(tok.value) ? `keyword ${tok.value}` : `identifier ${tok.value}`
      default:
        return `\`${tok.value}\``
    }
  }

  #error(message: string, location = this.#peek().location): void {
    // One error per position: a later report at the same place only repeats the first.
    if (this.errors.some((e) => e.location.offset === location.offset)) return
    this.errors.push(new RegoError(RegoErrorCode.parse, message, location))
  }

  #fail(message: string, location = this.#peek().location): never {
    this.#error(message, location)
    throw new ParseAbort()
  }

  /** Runs `f`; after a parse error, skips to the next line that can start a rule. */
  #recovering<T>(f: () => T): T | undefined {
    const start = this.#i
    try {
      return f()
    } catch (e) {
      if (!(e instanceof ParseAbort)) throw e
      if (this.#i === start) this.#next()
      for (;;) {
        const tok = this.#peek()
        if (tok.kind === TokenKind.eof) break
        // Rules start in the first column in practically all code; resyncing there avoids
        // a cascade of errors from the middle of a broken body.
        if (tok.nl && tok.location.col === 1 && tok.kind === TokenKind.ident && this.#i > start) break
        this.#next()
      }
      return undefined
    }
  }
}

// ---------------------------------------------------------------------------------------------
// AST construction helpers

/** A ref naming a builtin or operator: `internal.member_2` is `[var internal, "member_2"]`. */
function opRef(name: string, location: Location): RefTerm {
  const [head, ...rest] = name.split('.')
  return {
    type: 'ref',
    value: [
      { type: 'var', value: head!, location },
      ...rest.map((s): StringTerm => ({ type: 'string', value: s, location })),
    ],
    location,
  }
}

function call(name: string, args: Term[], opLocation: Location, location: Location): CallTerm {
  return { type: 'call', operator: opRef(name, opLocation), args, location }
}

function trueExpr(location: Location): Expr {
  const value: BooleanTerm = { type: 'boolean', value: true, location }
  return { terms: value, negated: false, with: [], index: 0, location }
}

// Refs can extend vars, refs, composites and calls (`[1, 2][i]`, `f(x).y`), never scalars.
function isRefHead(term: Term): boolean {
  return !SCALAR_TYPES.has(term.type)
}

function isCallable(term: Term): term is VarTerm | RefTerm {
  if (term.type === 'var') return true
  if (term.type !== 'ref') return false
  const [head, ...rest] = term.value
  return head?.type === 'var' && rest.every((t) => t.type === 'string')
}

function extendRef(term: Term, operand: Term): RefTerm {
  if (term.type === 'ref') return { type: 'ref', value: [...term.value, operand], location: term.location }
  return { type: 'ref', value: [term, operand], location: term.location }
}
