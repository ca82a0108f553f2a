import { describe, expect, it } from 'vitest'
import { RegoError, RegoErrors } from '../../src/rego/errors.js'
import { parseModule, parseQuery, parseTerm } from '../../src/rego/parser.js'
import { PdpError } from '../../src/util/errors.js'

function errorsOf(f: () => unknown): RegoErrors {
  try {
    f()
  } catch (e) {
    if (e instanceof RegoErrors) return e
    throw e
  }
  throw new Error('expected a parse error')
}

const positions = (e: RegoErrors) => e.errors.map((x) => [x.code, x.location.row, x.location.col])

describe('RegoErrors', () => {
  it('sorts by location, caps the list and renders OPA-style lines with a code frame', () => {
    const loc = (row: number, col: number) => ({ file: 'a.rego', row, col, offset: 0 })
    const errs = new RegoErrors(
      [
        new RegoError('rego_compile_error', 'second', loc(2, 3)),
        new RegoError('rego_type_error', 'first', loc(1, 5)),
        new RegoError('rego_compile_error', 'third', loc(3, 1)),
      ],
      { maxErrors: 2, sources: { 'a.rego': 'p := 1\nq := x\n' } },
    )
    expect(errs).toBeInstanceOf(PdpError)
    expect(errs.code).toBe('rego_type_error')
    expect(errs.errors.map((e) => e.detail)).toEqual(['first', 'second'])
    expect(errs.dropped).toBe(1)
    expect(errs.message).toBe(
      [
        '3 errors occurred:',
        'a.rego:1:5: rego_type_error: first',
        '\tp := 1',
        '\t    ^',
        'a.rego:2:3: rego_compile_error: second',
        '\tq := x',
        '\t  ^',
        '(1 more not shown)',
      ].join('\n'),
    )
  })
})

describe('Parser errors', () => {
  it('requires a package declaration first', () => {
    const e = errorsOf(() => parseModule('p := 1', 'a.rego'))
    expect(positions(e)).toEqual([['rego_parse_error', 1, 1]])
    expect(e.errors[0]!.detail).toBe('expected package declaration, found identifier p')
  })

  it('requires if before a rule body', () => {
    const e = errorsOf(() => parseModule('package a\n\np {\n\ttrue\n}', 'a.rego'))
    expect(positions(e)).toEqual([['rego_parse_error', 3, 3]])
    expect(e.errors[0]!.detail).toMatch(/`if` keyword is required/)
  })

  it('rejects several bodies for one rule', () => {
    const e = errorsOf(() => parseModule('package a\n\np if { true } { false }', 'a.rego'))
    expect(positions(e)).toEqual([['rego_parse_error', 3, 15]])
    expect(e.errors[0]!.detail).toMatch(/multiple rule bodies/)
  })

  it('collects errors from several rules and keeps parsing', () => {
    const text = 'package a\n\np := if\n\nq := 1\n\nr if { x := }\n\ns := [1, 2\n'
    const e = errorsOf(() => parseModule(text, 'a.rego'))
    expect(positions(e)).toEqual([
      ['rego_parse_error', 3, 6],
      ['rego_parse_error', 7, 13],
      ['rego_parse_error', 10, 1],
    ])
    expect(e.message).toContain('a.rego:7:13: rego_parse_error: expected a term, found `}`\n\tr if { x := }\n\t            ^')
  })

  it('names what was expected and found', () => {
    const e = errorsOf(() => parseQuery('x := [1 2]', 'q'))
    expect(e.errors[0]!.detail).toBe('expected , or ], found number 2')
    expect(positions(e)).toEqual([['rego_parse_error', 1, 9]])
  })

  it('rejects expressions not separated by ; or newline', () => {
    const e = errorsOf(() => parseQuery('x := 1 y := 2'))
    expect(positions(e)).toEqual([['rego_parse_error', 1, 8]])
  })

  it('rejects keywords used as variables', () => {
    const e = errorsOf(() => parseQuery('x := every + 1'))
    expect(e.errors[0]!.detail).toBe('unexpected keyword every: expected a term')
  })

  it('rejects unary minus on non-numbers, template strings and bad imports', () => {
    expect(errorsOf(() => parseQuery('x := -y')).errors[0]!.detail).toMatch(/unary minus/)
    expect(errorsOf(() => parseQuery('x := $"a{y}"')).errors[0]!.detail).toMatch(/template strings/)
    const e = errorsOf(() => parseModule('package a\nimport foo.bar\nimport rego.v3\n', 'a.rego'))
    expect(positions(e)).toEqual([['rego_parse_error', 2, 8], ['rego_parse_error', 3, 8]])
  })

  it('rejects empty bodies and trailing input after a term', () => {
    expect(positions(errorsOf(() => parseModule('package a\np if {}', 'a.rego')))).toEqual([['rego_parse_error', 2, 7]])
    expect(positions(errorsOf(() => parseTerm('{1} 2')))).toEqual([['rego_parse_error', 1, 5]])
  })

  it('rejects a default rule with a body and else on multi-value rules', () => {
    expect(errorsOf(() => parseModule('package a\ndefault p := 1 if true', 'a.rego')).errors[0]!.detail)
      .toBe('default rules must not have a body')
    expect(errorsOf(() => parseModule('package a\np contains 1 if true else := 2', 'a.rego')).errors[0]!.detail)
      .toMatch(/else keyword cannot be used/)
  })
})

describe('Parser errors at the end of input', () => {
  it('names the missing closing brace', () => {
    const e = errorsOf(() => parseModule('package a\np if {\n\tx := 1\n', 'a.rego'))
    expect(e.errors.map((x) => [x.detail, x.location.row, x.location.col])).toEqual([['expected }, found end of file', 4, 1]])
  })
})

describe('Parser limits', () => {
  it('reports deep nesting as a parse error instead of overflowing the stack', () => {
    const e = errorsOf(() => parseTerm('['.repeat(5000) + ']'.repeat(5000)))
    expect(e.code).toBe('rego_parse_error')
    expect(e.errors[0]!.detail).toMatch(/nesting deeper than/)
    expect(parseTerm('['.repeat(100) + ']'.repeat(100)).type).toBe('array')
  })
})
