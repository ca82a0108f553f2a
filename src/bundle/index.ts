/**
 * Bundles: read and write OPA-format bundle archives and directories, sign them and verify their
 * signatures.
 *
 * @module
 */

export { BundleError, BundleErrorCode } from './errors.js'
export {
  bundleFromFiles,
  contentRevision,
  DEFAULT_MAX_BUNDLE_BYTES,
  DEFAULT_MAX_ENTRY_BYTES,
  loadBundle,
  loadBundleArchive,
  readBundleArchive,
  writeBundle,
  writeBundleArchive,
} from './bundle.js'
export type { Bundle, BundleFile, LoadBundleOptions } from './bundle.js'
export {
  createSigningKey,
  createVerificationKey,
  DEFAULT_SIGNING_ALGORITHM,
  isHmacAlgorithm,
  isSigningAlgorithm,
  loadSigningKey,
  loadVerificationKey,
  MIN_RSA_BITS,
  SIGNING_ALGORITHMS,
  VerificationKey,
} from './keys.js'
export type { KeyOptions, SigningAlgorithm, SigningKey, VerificationKeyEntry } from './keys.js'
export { parseManifest } from './manifest.js'
export type { Manifest, WasmResolver } from './manifest.js'
export {
  DEFAULT_HASH_ALGORITHM,
  DEFAULT_MAX_SIGNATURES_BYTES,
  HASH_ALGORITHMS,
  hashBundleFile,
  isStructuredFile,
  signBundleFiles,
  SIGNATURES_FILE,
  verifyBundleFiles,
} from './signing.js'
export type { BundleSignature, HashAlgorithm, SignBundleOptions, SignedFile, VerifyBundleOptions } from './signing.js'
export { normalizeEntryName, readTar, writeTar } from './tar.js'
export type { TarEntry, TarReadOptions } from './tar.js'
