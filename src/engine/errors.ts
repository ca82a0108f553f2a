/**
 * Errors raised while loading a policy module.
 *
 * @module
 */

import { PdpError } from '../util/errors.js'

/** The codes a {@link EngineError} carries. */
export const EngineErrorCode = {
  /** The module does not compile or instantiate. */
  Load: 'ERR_ENGINE_LOAD',
  /** The module's `opa_wasm_abi_version` is not one this host speaks. */
  Abi: 'ERR_ENGINE_ABI',
  /** The requested entrypoint is not in the module. */
  Entrypoint: 'ERR_ENGINE_ENTRYPOINT',
  /** Evaluation aborted (only from `query`; `evaluate` turns it into a deny). */
  Evaluation: 'ERR_ENGINE_EVALUATION',
} as const

/** One of the {@link EngineErrorCode} values. */
export type EngineErrorCode = (typeof EngineErrorCode)[keyof typeof EngineErrorCode]

/** A policy module was rejected. */
export class EngineError extends PdpError {
  declare readonly code: EngineErrorCode

  constructor(code: EngineErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
  }
}
