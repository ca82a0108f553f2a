/**
 * The wasm backend of Verdict's Rego compiler: IR → OPA wasm ABI 1.3 module.
 *
 * @module
 */
export { generate, defaultCodegenOptions } from './generate.js'
export type { CodegenOptions } from './generate.js'
export { NATIVE_BUILTINS } from './natives.js'
