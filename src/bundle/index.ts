/**
 * Bundles: read and write OPA-format bundle archives and directories.
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
  readBundleArchive,
  writeBundle,
  writeBundleArchive,
} from './bundle.js'
export type { Bundle, BundleFile, LoadBundleOptions } from './bundle.js'
export { parseManifest } from './manifest.js'
export type { Manifest, WasmResolver } from './manifest.js'
export { normalizeEntryName, readTar, writeTar } from './tar.js'
export type { TarEntry, TarReadOptions } from './tar.js'
