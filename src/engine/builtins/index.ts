/**
 * Host builtins for opa-wasm: the `customBuiltins` factory, the names provided, and the error type.
 *
 * @module
 */
export {
  createHostBuiltins,
  HOST_BUILTIN_NAMES,
  NOT_PROVIDED,
  OPA_WASM_SHADOWED,
  SHADOWED_ALIAS_PREFIX,
} from './host-builtins.js'
export type { HostBuiltin, HostBuiltinOptions } from './host-builtins.js'

export { BuiltinError, BuiltinErrorCodes } from './errors.js'
export type { BuiltinErrorCode } from './errors.js'
