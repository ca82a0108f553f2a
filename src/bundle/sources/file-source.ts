/**
 * The file source: a bundle `.tar.gz` or directory on disk, loaded at start and again on each
 * refresh (SIGHUP). No polling and no cache: the file is already on disk.
 *
 * @module
 */

import type { FileSourceOptions } from './options.js'
import { BundleSourceKind } from './types.js'
import type { BundleSink, BundleSource } from './types.js'

/**
 * A bundle file or directory, read when asked.
 *
 * @example
 * const source = new FileBundleSource({ kind: 'file', path: 'trades.tar.gz' })
 */
export class FileBundleSource implements BundleSource {
  readonly kind = BundleSourceKind.file
  readonly location: string
  #sink: BundleSink | undefined
  #stopped = false

  constructor(options: FileSourceOptions) {
    this.location = options.path
  }

  start(sink: BundleSink): Promise<boolean> {
    this.#sink = sink
    return this.refresh()
  }

  refresh(): Promise<boolean> {
    if (this.#stopped || this.#sink === undefined) return Promise.resolve(false)
    // The path goes to the loader as it is: a missing or unreadable file is a rejected bundle.
    return this.#sink.offer({ input: { kind: 'path', path: this.location }, etag: undefined })
  }

  async stop(): Promise<void> {
    this.#stopped = true
  }
}
