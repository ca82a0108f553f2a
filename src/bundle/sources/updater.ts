/**
 * Keeps the sidecar's bundle current: takes what a source fetched, has it loaded and swapped in
 * (by the `activate` callback, which the caller owns: loading is where engines and signature
 * checks live), writes each activated remote bundle to the last-good cache, and at start falls
 * back on that cache when the source cannot deliver.
 *
 * Activations run one at a time, in the order they were offered, so a slow load is never
 * overtaken by an older one, and the cache fallback at start never replaces a bundle the source
 * delivered meanwhile. A rejected bundle changes nothing: the active one keeps serving.
 *
 * @module
 */

import type { BundleCache } from './cache.js'
import { sha256Hex } from './cache.js'
import type { ActiveBundle, BundleInput, BundleLogger, BundleSink, BundleSource, FetchedBundle } from './types.js'

/** What `activate` reports about a bundle it swapped in. */
export interface ActivatedBundle {
  /** The manifest revision. */
  revision: string
  /** More fields for the `bundle loaded` log line. Example: `{ entrypoint: 'trades/decision' }`. */
  details?: Record<string, unknown>
}

/** Options for {@link BundleUpdater}. */
export interface BundleUpdaterOptions {
  source: BundleSource
  /** The last-good cache; leave out for a file source, or to run without one. */
  cache?: BundleCache
  /**
   * Loads `input` and makes it the serving policy. Throws when the bundle is rejected, leaving
   * the serving policy as it was.
   */
  activate(input: BundleInput): Promise<ActivatedBundle>
  logger: BundleLogger
  /**
   * Told of every contact with a remote source: true when it delivered a bundle or confirmed
   * the active one, false when it failed. For metrics; never throws.
   */
  onFetch?(ok: boolean): void
}

interface Active extends ActiveBundle {
  /** Serving the cached bundle, and the source has not confirmed it yet. */
  fromCache: boolean
}

/**
 * The sink every source delivers to, and the sidecar's handle on its bundle.
 *
 * @example
 * const updater = new BundleUpdater({ source, cache, activate: (input) => swapIn(input), logger })
 * await updater.start() // first attempt, else the cached last good bundle
 * process.on('SIGHUP', () => void updater.refresh())
 */
export class BundleUpdater implements BundleSink {
  readonly #o: BundleUpdaterOptions
  #active: Active | undefined
  #queue: Promise<unknown> = Promise.resolve()

  constructor(options: BundleUpdaterOptions) {
    this.#o = options
  }

  /** The source this updater follows. */
  get source(): BundleSource {
    return this.#o.source
  }

  /**
   * Starts the source. If its first attempt activates nothing (unreachable, rejected), serves the
   * cached last good bundle instead, while the source keeps trying. Resolves with whether a
   * bundle serves now; never rejects.
   */
  async start(): Promise<boolean> {
    const activated = await this.#o.source.start(this)
    if (!activated && this.#o.cache !== undefined && this.#active === undefined) {
      await this.#serially(() => this.#activateCached(this.#o.cache!))
    }
    return this.#active !== undefined
  }

  /** Checks the source now (SIGHUP); resolves with whether a new bundle was activated. */
  refresh(): Promise<boolean> {
    return this.#o.source.refresh()
  }

  /** Stops the source and waits for an activation in progress. */
  async stop(): Promise<void> {
    await this.#o.source.stop()
    await this.#queue
  }

  offer(fetched: FetchedBundle): Promise<boolean> {
    if (fetched.input.kind === 'archive') this.#o.onFetch?.(true)
    return this.#serially(() => this.#activate(fetched))
  }

  failed(): void {
    this.#o.onFetch?.(false)
  }

  active(): ActiveBundle | undefined {
    const a = this.#active
    return a === undefined ? undefined : { etag: a.etag, digest: a.digest, revision: a.revision }
  }

  unchanged(etag?: string): void {
    this.#o.onFetch?.(true)
    const a = this.#active
    if (a === undefined) return
    if (etag !== undefined) a.etag = etag
    if (a.fromCache) {
      a.fromCache = false
      this.#o.logger.info('bundle source reachable; it serves the cached bundle too', { ...this.#fields(), revision: a.revision, etag: a.etag })
    }
  }

  #fields(): Record<string, unknown> {
    return { source: this.#o.source.kind, bundle: this.#o.source.location }
  }

  #serially<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task)
    this.#queue = run.catch(() => {})
    return run
  }

  async #activate(fetched: FetchedBundle): Promise<boolean> {
    const { input, etag } = fetched
    const fields = { ...this.#fields(), etag }
    const digest = input.kind === 'archive' ? sha256Hex(input.bytes) : undefined
    if (digest !== undefined && digest === this.#active?.digest) {
      // The same bytes again (a server without ETags, an object put twice): nothing to swap.
      this.#o.logger.debug('bundle unchanged', { ...fields, digest })
      this.unchanged(etag)
      return false
    }
    let activated: ActivatedBundle
    try {
      activated = await this.#o.activate(input)
    } catch (err) {
      this.#o.logger.error('bundle rejected', { ...fields, error: err, serving: this.#active?.revision ?? null })
      return false
    }
    this.#active = { etag, digest, revision: activated.revision, fromCache: false }
    this.#o.logger.info('bundle loaded', { ...fields, revision: activated.revision, ...activated.details })
    const cache = this.#o.cache
    if (cache !== undefined && input.kind === 'archive') {
      try {
        await cache.write(input.bytes, { source: this.#o.source.location, etag, revision: activated.revision })
        this.#o.logger.debug('bundle cached', { ...fields, revision: activated.revision, cache: cache.bundlePath })
      } catch (err) {
        this.#o.logger.warn('bundle cache write failed; a restart without the source would fail closed', {
          ...fields,
          cache: cache.dir,
          error: err,
        })
      }
    }
    return true
  }

  async #activateCached(cache: BundleCache): Promise<void> {
    // The source may have delivered while this waited its turn.
    if (this.#active !== undefined) return
    const fields = { ...this.#fields(), cache: cache.bundlePath }
    let cached
    try {
      cached = await cache.read()
    } catch (err) {
      this.#o.logger.warn('bundle cache unreadable', { ...fields, error: err })
      return
    }
    if (cached === undefined) {
      this.#o.logger.warn('no cached bundle to fall back on; failing closed until the source delivers', fields)
      return
    }
    if (cached.meta?.source !== this.#o.source.location) {
      this.#o.logger.warn('the cached bundle came from another source; not serving it', {
        ...fields,
        cached_source: cached.meta?.source ?? null,
      })
      return
    }
    let activated: ActivatedBundle
    try {
      activated = await this.#o.activate({ kind: 'archive', bytes: cached.bytes })
    } catch (err) {
      this.#o.logger.error('cached bundle rejected', { ...fields, error: err })
      return
    }
    // After a crash between the cache's two writes the recorded ETag may be another bundle's.
    const etag = cached.intact ? cached.meta.etag : undefined
    this.#active = { etag, digest: sha256Hex(cached.bytes), revision: activated.revision, fromCache: true }
    this.#o.logger.warn('serving the cached last good bundle; the source is unavailable and is retried', {
      ...fields,
      etag,
      revision: activated.revision,
      saved_at: cached.meta.savedAt,
      ...activated.details,
    })
  }
}
