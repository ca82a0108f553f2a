/**
 * The Rego front end: source, locations, lexer, parser, printer and errors. Other modules import
 * from here, never from the files behind it.
 *
 * @module
 */

export { RegoError, RegoErrors, RegoErrorCode, DEFAULT_MAX_ERRORS, renderErrors, codeFrame } from './errors.js'
export type { RegoErrorsOptions } from './errors.js'

export { createLocation, compareLocations, formatLocation } from './location.js'

export { Source } from './source.js'

export { TokenKind, KEYWORDS, PUNCTUATORS, INFIX_BUILTINS, BUILTIN_INFIX } from './tokens.js'
export type { Token } from './tokens.js'

export { lex, Lexer } from './lexer.js'
export type { LexResult } from './lexer.js'

export { parseModule, parseQuery, parseBody, parseTerm } from './parser.js'
export type { ParseOptions } from './parser.js'
