/**
 * A NATS object store bundle source: one object in one JetStream object store bucket, read at
 * start and then watched, so a `verdict publish` reaches every sidecar within moments.
 *
 * The connection is the source's own (the audit sink's may go to another server). It reconnects
 * forever; after a reconnect the object is checked again, since a change may have been published
 * while the sidecar was away. If the session cannot be set up (server down, bucket missing) or
 * the watch ends, it starts over with exponential backoff. A download that fails is retried with
 * backoff; one that is too large is not, until the object changes. Throughout, the active bundle
 * keeps serving. An object is only downloaded when its digest differs from the active bundle's.
 *
 * @module
 */

import { readFile } from 'node:fs/promises'
import { jetstream } from '@nats-io/jetstream'
import { Objm } from '@nats-io/obj'
import type { ObjectStore, ObjectWatchInfo } from '@nats-io/obj'
import { connect, credsAuthenticator } from '@nats-io/transport-node'
import type { ConnectionOptions, NatsConnection, QueuedIterator } from '@nats-io/transport-node'
import { BundleError, BundleErrorCode } from '../errors.js'
import type { NatsSourceOptions } from './options.js'
import { bundleSourceLocation } from './options.js'
import { readLimited } from './read-limited.js'
import { backoffDelay, Sleeper } from './retry.js'
import { BundleSourceKind } from './types.js'
import type { BundleLogger, BundleSink, BundleSource } from './types.js'

function fetchError(message: string, cause?: unknown): BundleError {
  return new BundleError(BundleErrorCode.Fetch, message, cause === undefined ? undefined : { cause })
}

/**
 * Connection options for a NATS server given as a bundle source (or to `verdict publish`): the
 * token from its file or value, or a creds file. Reads the files now.
 */
export async function natsAuthOptions(o: Pick<NatsSourceOptions, 'token' | 'tokenFile' | 'credsFile'>): Promise<Partial<ConnectionOptions>> {
  if (o.credsFile !== undefined) {
    let creds: Uint8Array
    try {
      creds = new Uint8Array(await readFile(o.credsFile))
    } catch (err) {
      throw fetchError(`cannot read the NATS creds file ${o.credsFile}`, err)
    }
    return { authenticator: credsAuthenticator(creds) }
  }
  if (o.tokenFile !== undefined) {
    let token: string
    try {
      token = (await readFile(o.tokenFile, 'utf8')).trim()
    } catch (err) {
      throw fetchError(`cannot read the bundle token file ${o.tokenFile}`, err)
    }
    if (token === '') throw fetchError(`the bundle token file ${o.tokenFile} holds no token`)
    return { token }
  }
  return o.token === undefined ? {} : { token: o.token }
}

/**
 * Reads and watches one object of a NATS object store.
 *
 * @example
 * const source = new NatsBundleSource(validateBundleSourceOptions(defaultBundleSourceOptions('nats://127.0.0.1:4222/verdict-bundles/trades.tar.gz')), logger)
 * await source.start(updater)
 */
export class NatsBundleSource implements BundleSource {
  readonly kind = BundleSourceKind.nats
  readonly location: string
  readonly #o: NatsSourceOptions
  readonly #logger: BundleLogger
  readonly #sleeper = new Sleeper()
  #sink: BundleSink | undefined
  #stopped = false
  #run: Promise<void> | undefined
  #nc: NatsConnection | undefined
  #store: ObjectStore | undefined
  #watch: QueuedIterator<ObjectWatchInfo> | undefined
  /** False between a disconnect and the reconnect: requests would only wait out their timeout. */
  #connected = false
  /** Checks of the object run one after another, each reading the object's info afresh. */
  #queue: Promise<unknown> = Promise.resolve()
  #abort: AbortController | undefined
  /** Session failures in a row, and failed downloads in a row. */
  #failures = 0
  #downloadFailures = 0
  #retryTimer: NodeJS.Timeout | undefined

  constructor(options: NatsSourceOptions, logger: BundleLogger) {
    this.#o = options
    this.#logger = logger
    this.location = bundleSourceLocation(options)
  }

  start(sink: BundleSink): Promise<boolean> {
    this.#sink = sink
    return new Promise<boolean>((resolve) => {
      this.#run = this.#loop(resolve)
    })
  }

  refresh(): Promise<boolean> {
    return this.#check('refresh')
  }

  async stop(): Promise<void> {
    if (this.#stopped) return this.#run
    this.#stopped = true
    clearTimeout(this.#retryTimer)
    this.#abort?.abort(fetchError('the source was stopped'))
    this.#sleeper.wake()
    this.#watch?.stop()
    await this.#close()
    await this.#run
  }

  #fields(): Record<string, unknown> {
    return { source: this.kind, bundle: this.location }
  }

  /** Sessions, one after another, with backoff between them, until stopped. */
  async #loop(first: (activated: boolean) => void): Promise<void> {
    let reported = false
    const report = (activated: boolean): void => {
      if (reported) return
      reported = true
      first(activated)
    }
    while (!this.#stopped) {
      try {
        await this.#session(report)
        if (this.#stopped) break
        throw fetchError('the object store watch ended')
      } catch (err) {
        await this.#close()
        report(false)
        if (this.#stopped) break
        this.#failures++
        const retryInMs = backoffDelay(this.#failures, this.#o.backoffMinMs, this.#o.backoffMaxMs)
        this.#sink?.failed?.(err)
        this.#logger.warn('bundle source failed', { ...this.#fields(), error: err, failures: this.#failures, retry_in_ms: retryInMs })
        await this.#sleeper.sleep(retryInMs)
      }
    }
    // A stop during connect() leaves a connection that arrived after stop() closed the last one.
    await this.#close()
    report(false)
  }

  /** Connects, opens the bucket, watches it, checks the object, then follows the watch. */
  async #session(report: (activated: boolean) => void): Promise<void> {
    const nc = await connect({
      servers: this.#o.server,
      name: this.#o.name ?? 'verdict-bundles',
      // Our own loop retries the first connect; once connected the client reconnects forever.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
      timeout: this.#o.timeoutMs,
      noAsyncTraces: true,
      ...(await natsAuthOptions(this.#o)),
    })
    this.#nc = nc
    this.#connected = true
    if (this.#stopped) return
    void this.#followStatus(nc)
    const store = await new Objm(jetstream(nc, { timeout: this.#o.timeoutMs })).open(this.#o.bucket)
    // Watch before the first read, so that nothing published in between goes unseen.
    const watch = await store.watch()
    this.#store = store
    this.#watch = watch
    if (this.#stopped) return
    this.#logger.info('bundle source connected', { ...this.#fields(), server: nc.getServer() })
    this.#failures = 0
    report(await this.#check('start'))
    for await (const info of watch) {
      if (info.name !== this.#o.object) continue
      if (info.deleted) {
        this.#logger.warn('bundle object deleted; the active bundle keeps serving', this.#fields())
        continue
      }
      // The check reads the object's info again: the newest put wins, and a put of the same
      // bytes (same digest) is seen as unchanged without a download.
      void this.#check('watch')
    }
  }

  async #followStatus(nc: NatsConnection): Promise<void> {
    try {
      await this.#statusLoop(nc)
    } catch (err) {
      // The status stream only ends with the connection; the session loop handles that.
      this.#logger.debug('bundle source status stream ended', { ...this.#fields(), error: err })
    }
  }

  async #statusLoop(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.#connected = false
        this.#logger.warn('bundle source disconnected; the active bundle keeps serving', this.#fields())
      } else if (s.type === 'reconnect') {
        this.#connected = true
        this.#logger.info('bundle source reconnected', { ...this.#fields(), server: nc.getServer() })
        // A change published while we were away reached no watch of ours: look now.
        void this.#check('reconnect')
      }
    }
  }

  async #close(): Promise<void> {
    const nc = this.#nc
    this.#nc = undefined
    this.#connected = false
    this.#store = undefined
    this.#watch = undefined
    await nc?.close().catch(() => {})
  }

  /** Queues a check of the object; resolves with whether it activated a new bundle. Never rejects. */
  #check(reason: string): Promise<boolean> {
    const run = this.#queue.then(() => this.#checkNow(reason))
    this.#queue = run
    return run
  }

  async #checkNow(reason: string): Promise<boolean> {
    const store = this.#store
    const sink = this.#sink
    if (this.#stopped || store === undefined || sink === undefined) return false
    if (!this.#connected) {
      // The reconnect checks again; nothing is lost by not waiting here.
      this.#logger.debug('bundle source not connected; checking after the reconnect', { ...this.#fields(), reason })
      return false
    }
    clearTimeout(this.#retryTimer)
    let bytes: Uint8Array
    let digest: string
    try {
      const info = await store.info(this.#o.object)
      if (info === null || info.deleted) {
        this.#logger.warn('bundle object not found; the active bundle keeps serving', { ...this.#fields(), reason })
        return false
      }
      if (info.digest === sink.active()?.etag) {
        this.#logger.debug('bundle unchanged', { ...this.#fields(), etag: info.digest, reason })
        sink.unchanged()
        return false
      }
      ;({ bytes, digest } = await this.#download(store))
    } catch (err) {
      if (this.#stopped) return false
      this.#downloadFailures++
      // A size over the limit stays over it: wait for the object to change instead.
      const retry = !(err instanceof BundleError && err.code === BundleErrorCode.TooLarge)
      const retryInMs = backoffDelay(this.#downloadFailures, this.#o.backoffMinMs, this.#o.backoffMaxMs)
      this.#sink?.failed?.(err)
      this.#logger.warn('bundle fetch failed', {
        ...this.#fields(),
        reason,
        error: err,
        failures: this.#downloadFailures,
        ...(retry ? { retry_in_ms: retryInMs } : {}),
      })
      if (retry) {
        this.#retryTimer = setTimeout(() => void this.#check('retry'), retryInMs)
        this.#retryTimer.unref()
      }
      return false
    }
    this.#downloadFailures = 0
    return sink.offer({ input: { kind: 'archive', bytes }, etag: digest })
  }

  /** Reads the object within the timeout and the size limit; the client checks its digest. */
  async #download(store: ObjectStore): Promise<{ bytes: Uint8Array; digest: string }> {
    const abort = new AbortController()
    this.#abort = abort
    const timer = setTimeout(() => abort.abort(fetchError(`no complete object within ${this.#o.timeoutMs} ms`)), this.#o.timeoutMs)
    try {
      const result = await store.get(this.#o.object)
      if (result === null) throw fetchError('the object is gone')
      if (result.info.size > this.#o.maxBytes) {
        await result.data.cancel().catch(() => {})
        throw new BundleError(BundleErrorCode.TooLarge, `the bundle is ${result.info.size} bytes; the limit is ${this.#o.maxBytes}`)
      }
      const bytes = await readLimited(result.data, this.#o.maxBytes, abort.signal)
      // The digest is checked when the last chunk arrives; a mismatch errors `error`.
      const failed = await result.error.catch((err: unknown) => err)
      if (failed) throw fetchError('the object did not arrive whole', failed)
      return { bytes, digest: result.info.digest }
    } finally {
      clearTimeout(timer)
      if (this.#abort === abort) this.#abort = undefined
    }
  }
}
