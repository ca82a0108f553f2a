/**
 * An HTTP(S) bundle source, after OPA's bundle service protocol: `GET` the URL with
 * `If-None-Match: <ETag of the active bundle>`; `304 Not Modified` keeps it, `200` brings a new
 * one. Polls at a jittered interval; after a failure it retries with exponential backoff, and the
 * active bundle keeps serving throughout. Downloads are bounded in time and size, redirects are
 * few and never leave http(s) or drop from https to http, and the bearer token never follows a
 * redirect to another origin.
 *
 * @module
 */

import { readFile } from 'node:fs/promises'
import { BundleError, BundleErrorCode } from '../errors.js'
import type { HttpSourceOptions } from './options.js'
import { bundleSourceLocation } from './options.js'
import { readLimited } from './read-limited.js'
import { backoffDelay, pollDelay, Sleeper } from './retry.js'
import { BundleSourceKind } from './types.js'
import type { BundleLogger, BundleSink, BundleSource } from './types.js'

const REDIRECTS = new Set([301, 302, 303, 307, 308])

function fetchError(message: string, cause?: unknown): BundleError {
  return new BundleError(BundleErrorCode.Fetch, message, cause === undefined ? undefined : { cause })
}

function statusError(status: number): BundleError {
  if (status === 404) return fetchError('the server replied not found (HTTP 404)')
  if (status === 401 || status === 403) return fetchError(`the server replied not authorized (HTTP ${status})`)
  return fetchError(`the server replied HTTP ${status}`)
}

/** What one request brought back. */
type Fetched = { status: 'unchanged'; etag: string | undefined } | { status: 'new'; bytes: Uint8Array; etag: string | undefined }

/**
 * Polls an HTTP(S) URL for bundles.
 *
 * @example
 * const source = new HttpBundleSource(validateBundleSourceOptions(defaultBundleSourceOptions(url)), logger)
 * await source.start(updater)
 */
export class HttpBundleSource implements BundleSource {
  readonly kind = BundleSourceKind.http
  readonly location: string
  readonly #o: HttpSourceOptions
  readonly #logger: BundleLogger
  readonly #sleeper = new Sleeper()
  #sink: BundleSink | undefined
  #inFlight: Promise<boolean> | undefined
  #abort: AbortController | undefined
  #loop: Promise<void> | undefined
  #stopped = false
  /** Failed polls in a row; the next delay backs off while it is above 0. */
  #failures = 0
  /** When the background loop polls next; every poll (timer or SIGHUP) moves it. */
  #nextPollAt = 0

  constructor(options: HttpSourceOptions, logger: BundleLogger) {
    this.#o = options
    this.#logger = logger
    this.location = bundleSourceLocation(options)
  }

  async start(sink: BundleSink): Promise<boolean> {
    this.#sink = sink
    const first = await this.#poll()
    if (!this.#stopped) this.#loop = this.#run()
    return first
  }

  refresh(): Promise<boolean> {
    return this.#poll()
  }

  async stop(): Promise<void> {
    this.#stopped = true
    this.#abort?.abort(fetchError('the source was stopped'))
    this.#sleeper.wake()
    await this.#loop
    await this.#inFlight
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const wait = this.#nextPollAt - Date.now()
      // Woken early (a poll moved the schedule, or stop): look at the schedule again.
      if (wait > 0) await this.#sleeper.sleep(wait)
      else await this.#poll()
    }
  }

  /** Sets the next poll after one that succeeded, or backs off after one that failed. */
  #schedule(retryInMs: number | undefined): void {
    this.#nextPollAt = Date.now() + (retryInMs ?? pollDelay(this.#o.pollIntervalMs, this.#o.pollJitter))
    this.#sleeper.wake()
  }

  /** One poll at a time: a SIGHUP during a poll waits for that poll's answer. */
  #poll(): Promise<boolean> {
    if (this.#stopped || this.#sink === undefined) return Promise.resolve(false)
    this.#inFlight ??= this.#pollOnce(this.#sink).finally(() => {
      this.#inFlight = undefined
    })
    return this.#inFlight
  }

  async #pollOnce(sink: BundleSink): Promise<boolean> {
    const sent = sink.active()?.etag
    let fetched: Fetched
    try {
      fetched = await this.#download(sent)
    } catch (err) {
      if (this.#stopped) return false
      this.#failures++
      const retryInMs = backoffDelay(this.#failures, this.#o.backoffMinMs, this.#o.backoffMaxMs)
      this.#schedule(retryInMs)
      sink.failed?.(err)
      this.#logger.warn('bundle fetch failed', {
        source: this.kind,
        bundle: this.location,
        error: err,
        failures: this.#failures,
        retry_in_ms: retryInMs,
      })
      return false
    }
    if (this.#failures > 0) this.#logger.info('bundle source reachable again', { source: this.kind, bundle: this.location })
    this.#failures = 0
    this.#schedule(undefined)
    if (fetched.status === 'unchanged') {
      this.#logger.debug('bundle unchanged', { source: this.kind, bundle: this.location, etag: fetched.etag ?? sent })
      sink.unchanged(fetched.etag)
      return false
    }
    if (fetched.bytes.length === 0) {
      // OPA treats an empty 200 as "no bundle": nothing to activate, nothing wrong either.
      this.#logger.warn('bundle server sent an empty body; nothing to activate', { source: this.kind, bundle: this.location })
      return false
    }
    return sink.offer({ input: { kind: 'archive', bytes: fetched.bytes }, etag: fetched.etag })
  }

  /** The bearer token, read from its file for every request so that rotation needs no restart. */
  async #token(): Promise<string | undefined> {
    if (this.#o.tokenFile === undefined) return this.#o.token
    let text: string
    try {
      text = await readFile(this.#o.tokenFile, 'utf8')
    } catch (err) {
      throw fetchError(`cannot read the bundle token file ${this.#o.tokenFile}`, err)
    }
    const token = text.trim()
    if (!/^[\x21-\x7e]+$/.test(token)) throw fetchError(`the bundle token file ${this.#o.tokenFile} holds no token`)
    return token
  }

  /** One GET (following redirects) within the timeout, the body read up to the size limit. */
  async #download(etag: string | undefined): Promise<Fetched> {
    const abort = new AbortController()
    this.#abort = abort
    const timer = setTimeout(() => abort.abort(fetchError(`no complete answer within ${this.#o.timeoutMs} ms`)), this.#o.timeoutMs)
    try {
      const response = await this.#get(etag, await this.#token(), abort.signal)
      const newEtag = response.headers.get('etag') ?? undefined
      if (response.status === 304) {
        await response.body?.cancel().catch(() => {})
        return { status: 'unchanged', etag: newEtag }
      }
      if (response.status !== 200) {
        await response.body?.cancel().catch(() => {})
        throw statusError(response.status)
      }
      const length = Number(response.headers.get('content-length') ?? NaN)
      if (length > this.#o.maxBytes) {
        await response.body?.cancel().catch(() => {})
        throw new BundleError(BundleErrorCode.TooLarge, `the bundle is ${length} bytes; the limit is ${this.#o.maxBytes}`)
      }
      const bytes = response.body === null ? new Uint8Array(0) : await readLimited(response.body, this.#o.maxBytes, abort.signal)
      return { status: 'new', bytes, etag: newEtag }
    } catch (err) {
      // fetch rejects with its own AbortError; the reason says why we aborted.
      if (abort.signal.aborted) throw abort.signal.reason
      if (err instanceof BundleError) throw err
      throw fetchError(`GET ${this.location} failed`, err)
    } finally {
      clearTimeout(timer)
      if (this.#abort === abort) this.#abort = undefined
    }
  }

  async #get(etag: string | undefined, token: string | undefined, signal: AbortSignal): Promise<Response> {
    const origin = new URL(this.#o.url).origin
    let url = new URL(this.#o.url)
    for (let redirects = 0; ; redirects++) {
      const headers: Record<string, string> = {
        accept: 'application/gzip, application/octet-stream;q=0.9, */*;q=0.1',
        'user-agent': 'verdict-sidecar',
      }
      if (etag !== undefined) headers['if-none-match'] = etag
      // The token is for the configured origin only, never for where a redirect points.
      if (token !== undefined && url.origin === origin) headers.authorization = `Bearer ${token}`
      const response = await fetch(url, { headers, redirect: 'manual', signal })
      if (!REDIRECTS.has(response.status)) return response
      await response.body?.cancel().catch(() => {})
      const to = response.headers.get('location')
      if (to === null) throw fetchError(`HTTP ${response.status} without a Location header`)
      if (redirects >= this.#o.maxRedirects) throw fetchError(`more than ${this.#o.maxRedirects} redirects`)
      const next = new URL(to, url)
      if (next.protocol !== 'http:' && next.protocol !== 'https:') throw fetchError(`redirect to ${next.protocol} refused`)
      if (url.protocol === 'https:' && next.protocol === 'http:') throw fetchError('redirect from https to http refused')
      url = next
    }
  }
}
