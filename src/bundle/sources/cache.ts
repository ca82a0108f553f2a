/**
 * The last good bundle on disk: every bundle a remote source delivered and the sidecar activated
 * is written here, so that a restart while the source is unreachable still serves (OPA's bundle
 * `persist`). Only bundles that loaded are written, so whatever is here loaded once.
 *
 * Two files in one directory: `bundle.tar.gz` (the archive as downloaded) and `bundle.json` (where
 * it came from, its ETag, digest and revision). Each is written to a temporary file, synced and
 * renamed over the old one, so a reader sees a whole old or a whole new file, never a torn one; N
 * workers writing at once is safe too. The pair is not atomic: a crash between the two renames
 * leaves a bundle whose digest does not match its metadata, and then the bundle is still used
 * but its ETag is not trusted.
 *
 * @module
 */

import { createHash, randomBytes } from 'node:crypto'
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'

/** What `bundle.json` records about the cached bundle. */
export interface CachedBundleMeta {
  /** The location of the source it came from (`BundleSource.location`). */
  source: string
  /** Its ETag or object digest at the source, if it had one. */
  etag: string | undefined
  /** SHA-256 (hex) of the archive. */
  digest: string
  /** Its manifest revision. */
  revision: string
  /** When it was written (ISO 8601). */
  savedAt: string
}

/** A cached bundle as read back. */
export interface CachedBundle {
  bytes: Uint8Array
  /** Its metadata, or undefined when `bundle.json` is missing or unreadable. */
  meta: CachedBundleMeta | undefined
  /** Whether the archive's digest matches the metadata (false after a crash between writes). */
  intact: boolean
}

/** SHA-256 of `bytes` as lowercase hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

async function writeAtomically(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`
  const file = await open(tmp, 'w', 0o600)
  try {
    await file.writeFile(data)
    await file.sync()
  } finally {
    await file.close()
  }
  try {
    await rename(tmp, path)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
}

function isMeta(value: unknown): value is CachedBundleMeta {
  if (value === null || typeof value !== 'object') return false
  const m = value as Record<string, unknown>
  return (
    typeof m.source === 'string' &&
    (m.etag === undefined || typeof m.etag === 'string') &&
    typeof m.digest === 'string' &&
    typeof m.revision === 'string' &&
    typeof m.savedAt === 'string'
  )
}

/**
 * The last good bundle in a directory.
 *
 * @example
 * const cache = new BundleCache('/var/lib/verdict/bundle-cache')
 * await cache.write(bytes, { source, etag, revision })
 * const last = await cache.read()
 */
export class BundleCache {
  /** The directory holding the cache. */
  readonly dir: string
  /** Path of the cached archive. */
  readonly bundlePath: string
  readonly #metaPath: string

  constructor(dir: string) {
    this.dir = dir
    this.bundlePath = join(dir, 'bundle.tar.gz')
    this.#metaPath = join(dir, 'bundle.json')
  }

  /** Writes `bytes` as the last good bundle, replacing the previous one. */
  async write(bytes: Uint8Array, meta: Omit<CachedBundleMeta, 'digest' | 'savedAt'>): Promise<CachedBundleMeta> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    const full: CachedBundleMeta = { ...meta, digest: sha256Hex(bytes), savedAt: new Date().toISOString() }
    await writeAtomically(this.bundlePath, bytes)
    await writeAtomically(this.#metaPath, `${JSON.stringify(full, null, 2)}\n`)
    // The renames are durable once the directory itself is synced (not every filesystem can).
    try {
      const dir = await open(this.dir, 'r')
      try {
        await dir.sync()
      } finally {
        await dir.close()
      }
    } catch {
      // best effort
    }
    return full
  }

  /** Reads the last good bundle, or undefined when there is none. */
  async read(): Promise<CachedBundle | undefined> {
    let bytes: Uint8Array
    try {
      bytes = new Uint8Array(await readFile(this.bundlePath))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
    let meta: CachedBundleMeta | undefined
    try {
      const parsed: unknown = JSON.parse(await readFile(this.#metaPath, 'utf8'))
      if (isMeta(parsed)) meta = parsed
    } catch {
      meta = undefined
    }
    return { bytes, meta, intact: meta !== undefined && meta.digest === sha256Hex(bytes) }
  }
}
