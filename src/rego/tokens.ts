/**
 * The token model of Rego: token kinds, keyword and operator spellings, and the mapping from
 * infix operators to OPA's builtin names.
 *
 * @module
 */

import type { Location } from './ast.js'

/** The kinds of token the lexer produces. Keywords come out as `ident`; the parser tells them apart. */
export const TokenKind = {
  ident: 'ident',
  number: 'number',
  string: 'string',
  rawString: 'rawstring',
  punct: 'punct',
  eof: 'eof',
} as const
export type TokenKind = (typeof TokenKind)[keyof typeof TokenKind]

/** One lexed token. */
export interface Token {
  kind: TokenKind
  /** The decoded value for strings, the spelling otherwise. */
  value: string
  location: Location
  /** A newline (or the start of input) lies between the previous token and this one. */
  nl: boolean
  /** Any whitespace or comment lies between the previous token and this one. */
  ws: boolean
  /** Offset (in UTF-16 units) just past the token, for adjacency checks. */
  end: number
  /** Offset (in UTF-16 units) of the token's first character. */
  start: number
}

/** Rego v1 keywords; none of them may be used as a variable. */
export const KEYWORDS: ReadonlySet<string> = new Set([
  'package',
  'import',
  'as',
  'default',
  'else',
  'not',
  'with',
  'some',
  'in',
  'every',
  'if',
  'contains',
  'true',
  'false',
  'null',
])

/** Punctuation, longest spellings first so the lexer can match greedily. */
export const PUNCTUATORS = [
  ':=', '==', '!=', '<=', '>=',
  '=', '<', '>', '+', '-', '*', '/', '%', '&', '|',
  '.', ',', ';', ':', '[', ']', '{', '}', '(', ')',
] as const

/** Infix operators and the builtin each one calls. */
export const INFIX_BUILTINS: Readonly<Record<string, string>> = {
  '+': 'plus',
  '-': 'minus',
  '*': 'mul',
  '/': 'div',
  '%': 'rem',
  '&': 'and',
  '|': 'or',
  '==': 'equal',
  '!=': 'neq',
  '<': 'lt',
  '<=': 'lte',
  '>': 'gt',
  '>=': 'gte',
}

/** The reverse of `INFIX_BUILTINS`, plus the assignment/unification and membership forms. */
export const BUILTIN_INFIX: Readonly<Record<string, string>> = {
  ...Object.fromEntries(Object.entries(INFIX_BUILTINS).map(([op, name]) => [name, op])),
  assign: ':=',
  eq: '=',
}
