/**
 * Loading and writing OPA-format bundles, as a `.tar.gz` or as a directory.
 *
 * @module
 */

import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { BundleError, BundleErrorCode } from './errors.js'
import { parseManifest } from './manifest.js'
import type { Manifest } from './manifest.js'
import { verifyBundleFiles } from './signing.js'
import type { BundleSignature, VerifyBundleOptions } from './signing.js'
import { normalizeEntryName, readTar, writeTar } from './tar.js'
import type { TarEntry } from './tar.js'

/** Largest single file accepted in a bundle (OPA's default is 1 GiB; a sidecar wants less). */
export const DEFAULT_MAX_ENTRY_BYTES = 256 * 1024 * 1024
/** Largest uncompressed archive accepted (gzip-bomb guard). */
export const DEFAULT_MAX_BUNDLE_BYTES = 512 * 1024 * 1024

/** Limits and signature verification for {@link loadBundle}. */
export interface LoadBundleOptions {
  maxEntryBytes?: number
  maxBundleBytes?: number
  /**
   * Verify `.signatures.json` with this key before anything else reads the files; a bundle
   * without a valid signature is rejected. Absent: signatures are not checked (a signed bundle
   * loads too). Only the async loaders verify.
   */
  verification?: VerifyBundleOptions
}

/** A loaded bundle. */
export interface Bundle {
  manifest: Manifest
  /** Every file, keyed by normalised name (`policy.wasm`, `roles/data.json`). */
  files: Map<string, Uint8Array>
  /** `data` merged from every `data.json` at its directory's path. */
  data: Record<string, unknown>
  /** The wasm module each manifest resolver names, keyed by normalised name. */
  wasmModules: Map<string, Uint8Array>
  /** What the verified signature said; set only when the bundle was loaded with `verification`. */
  signature?: BundleSignature
}

/** A file to write into a bundle. */
export interface BundleFile {
  /** Path inside the bundle, e.g. `policy.wasm`; a leading `/` is optional. */
  name: string
  data: Uint8Array | string
}

function setPath(root: Record<string, unknown>, path: string[], value: unknown): void {
  if (path.length === 0) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new BundleError(BundleErrorCode.Corrupt, 'root data.json must hold an object')
    }
    Object.assign(root, value)
    return
  }
  let node = root
  for (const seg of path.slice(0, -1)) {
    const next = node[seg]
    if (next === undefined) node[seg] = {}
    else if (next === null || typeof next !== 'object' || Array.isArray(next)) {
      throw new BundleError(BundleErrorCode.Corrupt, `data conflict at ${path.join('/')}`)
    }
    node = node[seg] as Record<string, unknown>
  }
  node[path[path.length - 1]!] = value
}

/** Builds a {@link Bundle} from its files, validating the manifest and merging data. */
export function bundleFromFiles(files: Map<string, Uint8Array>): Bundle {
  const names = [...files.keys()]
  const manifestBytes = files.get('.manifest')
  const manifest = parseManifest(
    manifestBytes === undefined ? undefined : new TextDecoder().decode(manifestBytes),
    names,
  )
  const data: Record<string, unknown> = {}
  for (const name of names.sort()) {
    const base = name.split('/').pop()
    if (base !== 'data.json') continue
    let value: unknown
    try {
      value = JSON.parse(new TextDecoder().decode(files.get(name)!))
    } catch (err) {
      throw new BundleError(BundleErrorCode.Corrupt, `${name} is not valid JSON`, { cause: err })
    }
    setPath(data, name.split('/').slice(0, -1), value)
  }
  const wasmModules = new Map<string, Uint8Array>()
  for (const w of manifest.wasm) {
    const key = normalizeEntryName(w.module)
    wasmModules.set(key, files.get(key)!)
  }
  if (manifest.wasm.length === 0 && files.has('policy.wasm')) {
    wasmModules.set('policy.wasm', files.get('policy.wasm')!)
  }
  return { manifest, files, data, wasmModules }
}

/** The files of a `.tar.gz` archive, by normalised name; a name given twice is corrupt. */
function readArchiveFiles(bytes: Uint8Array, options: LoadBundleOptions): Map<string, Uint8Array> {
  const maxBundle = options.maxBundleBytes ?? DEFAULT_MAX_BUNDLE_BYTES
  let tar: Uint8Array
  try {
    tar = gunzipSync(bytes, { maxOutputLength: maxBundle })
  } catch (err) {
    const tooLarge = (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE'
    throw new BundleError(
      tooLarge ? BundleErrorCode.TooLarge : BundleErrorCode.Corrupt,
      tooLarge ? `bundle exceeds ${maxBundle} bytes uncompressed` : 'bundle is not a gzip archive',
      { cause: err },
    )
  }
  const entries = readTar(tar, { maxEntryBytes: options.maxEntryBytes ?? DEFAULT_MAX_ENTRY_BYTES })
  const files = new Map<string, Uint8Array>()
  for (const e of entries) {
    // Two entries for one name (`/data.json` and `data.json`, or an appended archive) leave
    // which one counts to the reader; a signature could cover one and the loader use the other.
    if (files.has(e.name)) throw new BundleError(BundleErrorCode.Corrupt, `bundle has two entries for ${e.name}`)
    files.set(e.name, e.data)
  }
  return files
}

/** Verifies the signature when `options.verification` is set, then builds the bundle. */
async function verifiedBundle(files: Map<string, Uint8Array>, options: LoadBundleOptions): Promise<Bundle> {
  if (options.verification === undefined) return bundleFromFiles(files)
  const signature = await verifyBundleFiles(files, options.verification)
  return { ...bundleFromFiles(files), signature }
}

/**
 * Reads a `.tar.gz` bundle from bytes. Does not verify signatures: use {@link loadBundleArchive}
 * with `verification` for that.
 */
export function readBundleArchive(bytes: Uint8Array, options: Omit<LoadBundleOptions, 'verification'> = {}): Bundle {
  if ((options as LoadBundleOptions).verification !== undefined) {
    throw new TypeError('readBundleArchive does not verify signatures; use loadBundleArchive')
  }
  return bundleFromFiles(readArchiveFiles(bytes, options))
}

/**
 * Reads a `.tar.gz` bundle from bytes (a download, say), verifying its signature first when
 * `options.verification` is set.
 *
 * @example
 * const bundle = await loadBundleArchive(body, { verification: { key, scope: 'trades' } })
 */
export async function loadBundleArchive(bytes: Uint8Array, options: LoadBundleOptions = {}): Promise<Bundle> {
  return verifiedBundle(readArchiveFiles(bytes, options), options)
}

async function readDir(root: string, rel: string, files: Map<string, Uint8Array>, max: number): Promise<void> {
  for (const dirent of await readdir(join(root, rel), { withFileTypes: true })) {
    const name = rel === '' ? dirent.name : `${rel}/${dirent.name}`
    if (dirent.isDirectory()) await readDir(root, name, files, max)
    else if (dirent.isFile()) {
      const size = (await stat(join(root, name))).size
      if (size > max) throw new BundleError(BundleErrorCode.TooLarge, `${name} is ${size} bytes`)
      files.set(name, new Uint8Array(await readFile(join(root, name))))
    }
  }
}

/**
 * Loads a bundle from a `.tar.gz` file or a directory laid out like one, verifying its signature
 * first when `options.verification` is set.
 *
 * @example
 * const bundle = await loadBundle('trades.tar.gz', { verification: { key } })
 * bundle.manifest.wasm[0].entrypoint // 'trades/decision'
 */
export async function loadBundle(path: string, options: LoadBundleOptions = {}): Promise<Bundle> {
  let info
  try {
    info = await stat(path)
  } catch (err) {
    throw new BundleError(BundleErrorCode.Missing, `cannot read bundle ${path}`, { cause: err })
  }
  if (info.isDirectory()) {
    const files = new Map<string, Uint8Array>()
    await readDir(path, '', files, options.maxEntryBytes ?? DEFAULT_MAX_ENTRY_BYTES)
    return verifiedBundle(files, options)
  }
  return loadBundleArchive(new Uint8Array(await readFile(path)), options)
}

/** Serialises files into `.tar.gz` bytes (deterministic for the same input). */
export function writeBundleArchive(files: BundleFile[]): Uint8Array {
  const entries: TarEntry[] = files.map((f) => ({
    name: f.name,
    data: typeof f.data === 'string' ? new TextEncoder().encode(f.data) : f.data,
  }))
  return new Uint8Array(gzipSync(writeTar(entries)))
}

/** Writes files as a `.tar.gz` bundle at `path`, creating its directory. */
export async function writeBundle(path: string, files: BundleFile[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, writeBundleArchive(files))
}

/** A content hash of bundle files, usable as a revision (sha256 over sorted names and bytes). */
export function contentRevision(files: BundleFile[]): string {
  const hash = createHash('sha256')
  for (const f of [...files].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    hash.update(normalizeEntryName(f.name)).update('\0').update(f.data).update('\0')
  }
  return hash.digest('hex').slice(0, 16)
}
