/**
 * The Rego lexer: turns source text into tokens, remembering for each token whether a newline
 * preceded it, because newlines separate expressions in rule bodies.
 *
 * @module
 */

import type { Location } from './ast.js'
import { RegoError, RegoErrorCode } from './errors.js'
import { PUNCTUATORS, TokenKind } from './tokens.js'
import type { Token } from './tokens.js'

/** The result of lexing: every token (ending with `eof`) and the errors met on the way. */
export interface LexResult {
  tokens: Token[]
  errors: RegoError[]
}

/**
 * Splits Rego source into tokens. Lexing never throws: bad characters and unterminated strings
 * are reported in `errors` and skipped, so the parser can still report later problems.
 *
 * @example
 * ```ts
 * const { tokens } = lex('x := 1', 'q.rego')
 * ```
 */
export function lex(text: string, file: string): LexResult {
  return new Lexer(text, file).run()
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9'
const isIdentStart = (c: string | undefined): boolean =>
  c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_')
const isIdentPart = (c: string | undefined): boolean => isIdentStart(c) || isDigit(c)

/** The state of one lexing run. */
export class Lexer {
  readonly #text: string
  readonly #file: string
  #pos = 0
  #row = 1
  #lineStart = 0
  // Byte offsets are computed incrementally: locations are requested in increasing order.
  #byteAt = 0
  #bytePos = 0
  readonly #tokens: Token[] = []
  readonly #errors: RegoError[] = []

  constructor(text: string, file: string) {
    this.#text = text
    this.#file = file
  }

  /** Lexes the whole text. */
  run(): LexResult {
    let nl = true
    let ws = false
    const text = this.#text
    // A byte order mark is not part of the program.
    if (text.charCodeAt(0) === 0xfeff) this.#pos = 1
    for (;;) {
      const c = text[this.#pos]
      if (c === undefined) break
      if (c === '\n') {
        this.#pos++
        this.#row++
        this.#lineStart = this.#pos
        nl = true
        ws = true
        continue
      }
      if (c === ' ' || c === '\t' || c === '\r') {
        this.#pos++
        ws = true
        continue
      }
      if (c === '#') {
        while (this.#pos < text.length && text[this.#pos] !== '\n') this.#pos++
        ws = true
        continue
      }
      const start = this.#pos
      const loc = this.#loc()
      let tok: Token | undefined
      if (isIdentStart(c)) {
        while (isIdentPart(text[this.#pos])) this.#pos++
        tok = this.#make(TokenKind.ident, text.slice(start, this.#pos), loc, start)
      } else if (isDigit(c)) {
        tok = this.#number(loc, start)
      } else if (c === '"') {
        tok = this.#string(loc, start)
      } else if (c === '`') {
        tok = this.#rawString(loc, start)
      } else if (c === '$' && (text[this.#pos + 1] === '"' || text[this.#pos + 1] === '`')) {
        this.#error(loc, 'template strings are not supported')
        this.#pos++
        tok = text[this.#pos] === '"' ? this.#string(loc, start) : this.#rawString(loc, start)
      } else {
        const p = PUNCTUATORS.find((s) => text.startsWith(s, this.#pos))
        if (p === undefined) {
          this.#error(loc, `unexpected character ${JSON.stringify(c)}`)
          this.#pos += c.length
          ws = true
          continue
        }
        this.#pos += p.length
        tok = this.#make(TokenKind.punct, p, loc, start)
      }
      if (tok !== undefined) {
        tok.nl = nl
        tok.ws = ws
        this.#tokens.push(tok)
      }
      nl = false
      ws = false
    }
    const eof = this.#make(TokenKind.eof, '', this.#loc(), this.#pos)
    eof.nl = true
    eof.ws = ws
    this.#tokens.push(eof)
    return { tokens: this.#tokens, errors: this.#errors }
  }

  #number(loc: Location, start: number): Token {
    const text = this.#text
    while (isDigit(text[this.#pos])) this.#pos++
    if (text[this.#pos] === '.' && isDigit(text[this.#pos + 1])) {
      this.#pos++
      while (isDigit(text[this.#pos])) this.#pos++
    }
    if (text[this.#pos] === 'e' || text[this.#pos] === 'E') {
      let p = this.#pos + 1
      if (text[p] === '+' || text[p] === '-') p++
      if (isDigit(text[p])) {
        this.#pos = p
        while (isDigit(text[this.#pos])) this.#pos++
      }
    }
    const spelled = text.slice(start, this.#pos)
    if (isIdentStart(text[this.#pos])) {
      this.#error(loc, `invalid number ${JSON.stringify(spelled + text[this.#pos])}`)
    } else if (/^0\d/.test(spelled)) {
      this.#error(loc, `invalid number ${JSON.stringify(spelled)}: leading zero`)
    }
    return this.#make(TokenKind.number, spelled, loc, start)
  }

  #string(loc: Location, start: number): Token {
    const text = this.#text
    this.#pos++ // opening quote
    let out = ''
    for (;;) {
      const c = text[this.#pos]
      if (c === undefined || c === '\n') {
        this.#error(loc, 'unterminated string')
        break
      }
      if (c === '"') {
        this.#pos++
        break
      }
      if (c !== '\\') {
        out += c
        this.#pos++
        continue
      }
      const e = text[this.#pos + 1]
      const simple: Record<string, string> = {
        '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t',
      }
      if (e !== undefined && e in simple) {
        out += simple[e]
        this.#pos += 2
        continue
      }
      if (e === 'u') {
        const hex = text.slice(this.#pos + 2, this.#pos + 6)
        if (/^[0-9a-fA-F]{4}$/.test(hex)) {
          // Surrogate pairs arrive as two escapes; concatenating the code units joins them.
          out += String.fromCharCode(parseInt(hex, 16))
          this.#pos += 6
          continue
        }
      }
      this.#error(this.#loc(), `invalid escape sequence \\${e ?? ''}`)
      this.#pos += e === undefined ? 1 : 2
    }
    return this.#make(TokenKind.string, out, loc, start)
  }

  #rawString(loc: Location, start: number): Token {
    const text = this.#text
    const close = text.indexOf('`', this.#pos + 1)
    if (close < 0) {
      this.#error(loc, 'unterminated raw string')
      this.#pos = text.length
      return this.#make(TokenKind.rawString, text.slice(start + 1), loc, start)
    }
    const value = text.slice(this.#pos + 1, close)
    for (let i = this.#pos; i < close; i++) {
      if (text[i] === '\n') {
        this.#row++
        this.#lineStart = i + 1
      }
    }
    this.#pos = close + 1
    return this.#make(TokenKind.rawString, value, loc, start)
  }

  #make(kind: TokenKind, value: string, location: Location, start: number): Token {
    return { kind, value, location, nl: false, ws: false, start, end: this.#pos }
  }

  #loc(): Location {
    const text = this.#text
    for (; this.#byteAt < this.#pos; this.#byteAt++) {
      const code = text.charCodeAt(this.#byteAt)
      // A surrogate pair is 4 UTF-8 bytes, counted as 2 for each half.
      this.#bytePos += code < 0x80 ? 1 : code < 0x800 ? 2 : code >= 0xd800 && code < 0xe000 ? 2 : 3
    }
    return { file: this.#file, row: this.#row, col: this.#pos - this.#lineStart + 1, offset: this.#bytePos }
  }

  #error(loc: Location, message: string): void {
    this.#errors.push(new RegoError(RegoErrorCode.parse, message, loc))
  }
}
