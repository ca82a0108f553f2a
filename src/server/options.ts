/**
 * Server options: request limits and where to listen, with defaults and validation.
 *
 * @module
 */

import { PdpError } from '../util/errors.js'

/** Largest accepted token, in bytes (RFC 8725 advises bounding untrusted input). */
export const DEFAULT_MAX_TOKEN_BYTES = 16 * 1024
/** Largest accepted resource properties plus context, serialised as JSON, in bytes. */
export const DEFAULT_MAX_PROPERTIES_BYTES = 64 * 1024
/** Most items in one BatchCheck. */
export const DEFAULT_MAX_BATCH_ITEMS = 1000
/** Largest accepted gRPC message, in bytes. */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024

/** Limits applied to each request before any work is done. */
export interface LimitsOptions {
  /** Example: `16384`. */
  maxTokenBytes: number
  /**
   * Size of a decision's free-form parts together: resource properties, subject properties and
   * context, as protobuf-encoded in the request (their JSON size for callers without a wire
   * size). Example: `65536`.
   */
  maxPropertiesBytes: number
  /** Example: `1000`. */
  maxBatchItems: number
  /** Example: `4194304`. */
  maxMessageBytes: number
}

/** Returns the default limits. */
export function defaultLimitsOptions(): LimitsOptions {
  return {
    maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES,
    maxPropertiesBytes: DEFAULT_MAX_PROPERTIES_BYTES,
    maxBatchItems: DEFAULT_MAX_BATCH_ITEMS,
    maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  }
}

/** Throws `ERR_CONFIG_INVALID` naming the first bad key. */
export function validateLimitsOptions(limits: LimitsOptions): LimitsOptions {
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value <= 0) {
      throw new PdpError('ERR_CONFIG_INVALID', `limits.${key} must be a positive integer`)
    }
  }
  return limits
}
