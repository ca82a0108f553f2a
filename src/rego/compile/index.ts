/**
 * The Rego compile stages: resolve refs, index rules by path, order bodies for safety, and
 * check what OPA's compiler checks before planning.
 *
 * @module
 */

export { compileModules, compileQuery, freshVar, orderBody, runStages, toRegoErrors } from './compile.js'
export type { Diagnostic, Stage } from './compile.js'
export { RuleKind } from './types.js'
export type { CompiledPolicy, CompiledQuery, CompiledRule, CompileModulesOptions, RuleSet } from './types.js'
export { exprShape, exprVars, isGenerated, mapBody, mapExpr, mapTerm, mkVar, refName, termVars } from './walk.js'
export type { ExprShape } from './walk.js'
