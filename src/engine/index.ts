/**
 * The engine: loads a policy.wasm (from Verdict's compiler or from real OPA) through opa-wasm and
 * evaluates it into decisions. Never imports `rego/` or `compiler/`.
 *
 * @module
 */

export {
  DecisionCode,
  evaluationErrorDecision,
  interpretResultSet,
  interpretValue,
  parseAbortMessage,
} from './decision.js'
export type { Decision, EvaluationError } from './decision.js'
export { EngineError, EngineErrorCode } from './errors.js'
export { createHostBuiltins, HOST_BUILTIN_NAMES } from './builtins/index.js'
export type { HostBuiltinOptions } from './builtins/index.js'
export { checkAbi, PolicyEngine, SUPPORTED_ABI_VERSION } from './policy-engine.js'
export type { CustomBuiltins, PolicyEngineOptions } from './policy-engine.js'
