/**
 * The contract between a bundle source (where bundles come from) and the {@link BundleUpdater}
 * that loads, activates and caches what a source fetched.
 *
 * @module
 */

import { loadBundle, loadBundleArchive } from '../bundle.js'
import type { Bundle, LoadBundleOptions } from '../bundle.js'

/**
 * What a source fetched: the bytes of a `.tar.gz` (HTTP, NATS), or a path on disk to a `.tar.gz`
 * or a directory laid out like a bundle (file source).
 */
export type BundleInput = { kind: 'archive'; bytes: Uint8Array } | { kind: 'path'; path: string }

/** One bundle a source offers for activation. */
export interface FetchedBundle {
  input: BundleInput
  /**
   * What the source calls this version: the HTTP `ETag`, or the object's digest
   * (`SHA-256=<base64url>`) in a NATS object store. Undefined when the source has none.
   */
  etag: string | undefined
}

/** The bundle that serves now, as a source sees it. */
export interface ActiveBundle {
  /** Its {@link FetchedBundle.etag}, sent back as `If-None-Match` and compared with object digests. */
  etag: string | undefined
  /** SHA-256 (hex) of the archive bytes; undefined for a path input. */
  digest: string | undefined
  /** The manifest revision. */
  revision: string
}

/** Where a source hands what it fetched; implemented by {@link BundleUpdater}. */
export interface BundleSink {
  /**
   * Loads the bundle and swaps it in. Resolves with true when it now serves, false when it was
   * rejected (the last good one keeps serving) or is the one already serving. Never rejects.
   */
  offer(fetched: FetchedBundle): Promise<boolean>
  /** The active bundle, so a source can ask for changes only (`If-None-Match`, digests). */
  active(): ActiveBundle | undefined
  /**
   * The source confirmed that the active bundle is its current one (HTTP 304, same digest). A
   * new `etag` (a 304 may carry one) is adopted for the next request.
   */
  unchanged(etag?: string): void
  /** The source could not reach its server or download the bundle (it retries by itself). */
  failed?(error: unknown): void
}

/** The logger a source writes to: the sidecar's JSON-lines logger fits. */
export interface BundleLogger {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
}

/** The kinds of bundle source. */
export const BundleSourceKind = { file: 'file', http: 'http', nats: 'nats' } as const

/** One of the {@link BundleSourceKind} values. */
export type BundleSourceKind = (typeof BundleSourceKind)[keyof typeof BundleSourceKind]

/**
 * Where bundles come from. A source fetches, hands each bundle to its sink, and (remote sources)
 * keeps polling or watching for changes in the background until {@link BundleSource.stop}.
 */
export interface BundleSource {
  readonly kind: BundleSourceKind
  /** Where bundles come from, safe to log: no credentials, no query string. */
  readonly location: string
  /**
   * Makes the first attempt, then keeps checking in the background (remote sources). Resolves
   * after the first attempt with whether it activated a bundle; never rejects.
   */
  start(sink: BundleSink): Promise<boolean>
  /** Checks the source now (SIGHUP). Resolves with whether a new bundle was activated. */
  refresh(): Promise<boolean>
  /** Stops checking, aborts a download in flight and closes connections. Idempotent. */
  stop(): Promise<void>
}

/**
 * Reads a fetched bundle with the given limits, verifying its signature when
 * `options.verification` is set: the one call through which every bundle the sidecar serves is
 * read, whatever its source.
 *
 * @example
 * const bundle = await readBundleInput({ kind: 'archive', bytes }, { maxBundleBytes: 64 << 20 })
 */
export function readBundleInput(input: BundleInput, options: LoadBundleOptions = {}): Promise<Bundle> {
  if (input.kind === 'path') return loadBundle(input.path, options)
  return loadBundleArchive(input.bytes, options)
}
