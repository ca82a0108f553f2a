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
  /** An entry would land outside the bundle (`..`), or a signed file name is not a plain bundle path. */
  PathTraversal: 'ERR_BUNDLE_PATH',
  /** An entry or the whole archive exceeds the size limit. */
  TooLarge: 'ERR_BUNDLE_TOO_LARGE',
  /** `.manifest` is not valid. */
  Manifest: 'ERR_BUNDLE_MANIFEST',
  /** A required file is missing or unreadable. */
  Missing: 'ERR_BUNDLE_MISSING',
  /** A signing or verification key is unusable: not a key, the wrong type for its algorithm, too short. */
  Key: 'ERR_BUNDLE_KEY',
  /** A verification key is configured but the bundle has no `.signatures.json`. */
  SignatureMissing: 'ERR_BUNDLE_SIGNATURE_MISSING',
  /** `.signatures.json`, its JWS or the JWS payload is not in OPA's format. */
  SignatureMalformed: 'ERR_BUNDLE_SIGNATURE_MALFORMED',
  /** The JWS `alg` is not the configured algorithm (`none`, or HS256 against a public key, say). */
  SignatureAlgorithm: 'ERR_BUNDLE_SIGNATURE_ALG',
  /** No key id to select a key with, or no configured key has that id. */
  SignatureKeyId: 'ERR_BUNDLE_SIGNATURE_KEY_ID',
  /** The JWS signature does not verify with the configured key. */
  SignatureInvalid: 'ERR_BUNDLE_SIGNATURE',
  /** The signed `scope` is not the configured one (an absent scope only matches an absent one). */
  SignatureScope: 'ERR_BUNDLE_SIGNATURE_SCOPE',
  /** A file of the bundle is not listed in the signature. */
  FileUnsigned: 'ERR_BUNDLE_FILE_UNSIGNED',
  /** A file's digest differs from the signed one. */
  FileDigest: 'ERR_BUNDLE_FILE_DIGEST',
  /** The signature lists a file that the bundle does not have. */
  FileNotFound: 'ERR_BUNDLE_FILE_NOT_FOUND',
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
