/**
 * Errors raised while reading or writing bundles.
 *
 * @module
 */

import { PdpError } from '../util/errors.js'

/** The codes a {@link BundleError} carries. */
export const BundleErrorCode = {
  /** The archive is not a valid gzip/ustar stream. */
  Corrupt: 'ERR_BUNDLE_CORRUPT',
  /** A remote source could not deliver a bundle (network, HTTP status, timeout, NATS). */
  Fetch: 'ERR_BUNDLE_FETCH',
  /** An entry would land outside the bundle (absolute escape, `..`). */
  PathTraversal: 'ERR_BUNDLE_PATH',
  /** An entry or the whole archive exceeds the size limit. */
  TooLarge: 'ERR_BUNDLE_TOO_LARGE',
  /** `.manifest` is not valid. */
  Manifest: 'ERR_BUNDLE_MANIFEST',
  /** A required file is missing or unreadable. */
  Missing: 'ERR_BUNDLE_MISSING',
} as const

/** One of the {@link BundleErrorCode} values. */
export type BundleErrorCode = (typeof BundleErrorCode)[keyof typeof BundleErrorCode]

/** A bundle was rejected. */
export class BundleError extends PdpError {
  declare readonly code: BundleErrorCode

  constructor(code: BundleErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
  }
}
