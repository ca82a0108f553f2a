import { describe, expect, it } from 'vitest'
import { lex } from '../../src/rego/lexer.js'

const values = (text: string): string[] => lex(text, 't.rego').tokens.map((t) => t.value)

describe('Lexer', () => {
  it('splits identifiers, keywords, numbers and operators', () => {
    expect(values('p := x.y[0] <= 1.5e3 != -2')).toEqual(
      ['p', ':=', 'x', '.', 'y', '[', '0', ']', '<=', '1.5e3', '!=', '-', '2', ''],
    )
    expect(values('a==b;c%d&e|f')).toEqual(['a', '==', 'b', ';', 'c', '%', 'd', '&', 'e', '|', 'f', ''])
  })

  it('keeps big integers and exponents as written', () => {
    expect(values('123456789012345678901234567890 1E-7 2e+10 0.5')).toEqual(
      ['123456789012345678901234567890', '1E-7', '2e+10', '0.5', ''],
    )
  })

  it('decodes string escapes including surrogate pairs', () => {
    const [tok] = lex('"a\\"b\\\\c\\/\\n\\t\\u00e9\\ud83d\\ude00"', 't').tokens
    expect(tok!.kind).toBe('string')
    expect(tok!.value).toBe('a"b\\c/\n\té😀')
  })

  it('reads raw strings verbatim across lines', () => {
    const { tokens } = lex('x := `a\\n\nb`\ny', 't')
    expect(tokens[2]!.kind).toBe('rawstring')
    expect(tokens[2]!.value).toBe('a\\n\nb')
    expect(tokens[3]!.location).toMatchObject({ row: 3, col: 1 })
  })

  it('skips comments and marks tokens that follow a newline', () => {
    const { tokens } = lex('a # comment b\nb c', 't')
    expect(tokens.map((t) => [t.value, t.nl])).toEqual([['a', true], ['b', true], ['c', false], ['', true]])
  })

  it('reports rows, columns and UTF-8 byte offsets', () => {
    const { tokens } = lex('x := "é"\n  y', 't.rego')
    expect(tokens[3]!.location).toEqual({ file: 't.rego', row: 2, col: 3, offset: 12 })
  })

  it('reports bad characters, bad escapes and unterminated strings without throwing', () => {
    const { errors } = lex('a ! "x\\q" "open', 't.rego')
    expect(errors.map((e) => [e.code, e.location.col])).toEqual([
      ['rego_parse_error', 3],
      ['rego_parse_error', 7],
      ['rego_parse_error', 11],
    ])
    expect(errors[2]!.message).toBe('t.rego:1:11: rego_parse_error: unterminated string')
  })

  it('rejects leading zeros, letters glued to numbers and short unicode escapes', () => {
    expect(lex('01', 't').errors[0]!.detail).toMatch(/leading zero/)
    expect(lex('1a', 't').errors[0]!.detail).toMatch(/invalid number/)
    expect(lex('"\\u12"', 't').errors[0]!.detail).toMatch(/invalid escape/)
  })

  it('skips a byte order mark', () => {
    expect(values('\ufeffpackage a')).toEqual(['package', 'a', ''])
  })
})
