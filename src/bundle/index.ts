/**
 * Bundles: read and write OPA-format bundle archives and directories, sign them and verify their
 * signatures, and fetch them from their sources (file, HTTP with ETags, NATS object store) with a
 * last-good cache on disk.
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
export { BundleSourceKind, readBundleInput } from './sources/types.js'
export type { ActiveBundle, BundleInput, BundleLogger, BundleSink, BundleSource, FetchedBundle } from './sources/types.js'
export {
  bundleSourceLocation,
  DEFAULT_BUNDLE_BACKOFF_MIN_MS,
  DEFAULT_BUNDLE_MAX_REDIRECTS,
  DEFAULT_BUNDLE_POLL_JITTER,
  DEFAULT_BUNDLE_POLL_MS,
  DEFAULT_BUNDLE_TIMEOUT_MS,
  DEFAULT_NATS_BUNDLE_BACKOFF_MAX_MS,
  DEFAULT_NATS_PORT,
  defaultBundleSourceOptions,
  MAX_BUNDLE_POLL_MS,
  MAX_BUNDLE_TIMEOUT_MS,
  MIN_BUNDLE_POLL_MS,
  MIN_BUNDLE_TIMEOUT_MS,
  validateBundleSourceOptions,
} from './sources/options.js'
export type {
  BundleSourceOptions,
  FileSourceOptions,
  HttpSourceOptions,
  NatsSourceOptions,
  RemoteSourceOptions,
} from './sources/options.js'
export { createBundleSource } from './sources/create-source.js'
export { FileBundleSource } from './sources/file-source.js'
export { HttpBundleSource } from './sources/http-source.js'
export { NatsBundleSource, natsAuthOptions } from './sources/nats-source.js'
export { BundleCache, sha256Hex } from './sources/cache.js'
export type { CachedBundle, CachedBundleMeta } from './sources/cache.js'
export { BundleUpdater } from './sources/updater.js'
export type { ActivatedBundle, BundleUpdaterOptions } from './sources/updater.js'
export { backoffDelay, pollDelay } from './sources/retry.js'
export { readLimited } from './sources/read-limited.js'
export { normalizeEntryName, readTar, writeTar } from './tar.js'
export type { TarEntry, TarReadOptions } from './tar.js'
