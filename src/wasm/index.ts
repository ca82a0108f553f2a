/**
 * WebAssembly binary toolkit and the OPA wasm ABI contract.
 *
 * @module
 */
export {
  ABI_VERSION,
  ABI_MINOR_VERSION,
  IMPORTS,
  EXPORTS,
  ValueType,
  EvalContext,
  PathError,
  PAGE_SIZE,
  OPA_WASM_JS_BUILTINS,
  VERDICT_HOST_BUILTINS,
  VERDICT_HOST_PREFIX,
} from './abi.js'
export { ByteWriter, ByteReader } from './encoding.js'
export { FunctionBuilder, Op, ValTypes } from './instructions.js'
export type { Label } from './instructions.js'
export {
  readModule,
  writeModule,
  importedFuncCount,
  typeIndex,
  addFunction,
  replaceBody,
  addData,
  addTableElements,
  addI32Global,
  globalI32Value,
  cloneModule,
} from './module.js'
export type { WasmModule, FuncType, Import, Export, Global, Table, ValType } from './module.js'
export { runtimeWasm, runtimeSourceHash } from './runtime.js'
