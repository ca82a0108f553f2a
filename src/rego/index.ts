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

export type {
  Location,
  NullTerm,
  BooleanTerm,
  NumberTerm,
  StringTerm,
  VarTerm,
  RefTerm,
  ArrayTerm,
  ObjectTerm,
  SetTerm,
  ArrayComprehensionTerm,
  SetComprehensionTerm,
  ObjectComprehensionTerm,
  CallTerm,
  ScalarTerm,
  Term,
  TermType,
  With,
  SomeDecl,
  SomeIn,
  Every,
  Expr,
  Body,
  Head,
  Rule,
  Import,
  Package,
  Module,
} from './ast.js'

export { BUILTINS, getBuiltin } from './builtins.js'
export type { BuiltinDecl, BuiltinProvider } from './builtins.js'

export {
  compileModules,
  compileQuery,
  exprShape,
  exprVars,
  freshVar,
  isGenerated,
  mapBody,
  mapExpr,
  mapTerm,
  mkVar,
  orderBody,
  refName,
  RuleKind,
  runStages,
  termVars,
  toRegoErrors,
} from './compile/index.js'
export type {
  CompiledPolicy,
  CompiledQuery,
  CompiledRule,
  CompileModulesOptions,
  Diagnostic,
  ExprShape,
  RuleSet,
  Stage,
} from './compile/index.js'

export { printModule, printImport, printRule, printHead, printBody, printExpr, printTerm } from './printer.js'
