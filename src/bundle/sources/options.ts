/**
 * Bundle source options: one type per kind of source, the defaults, parsing of the `--bundle`
 * location (a path, an http(s) URL or a `nats://host:port/<bucket>/<object>` URL) and validation
 * that throws `ERR_CONFIG_INVALID` naming the key.
 *
 * @module
 */

import { PdpError } from '../../util/errors.js'
import { DEFAULT_MAX_BUNDLE_BYTES } from '../bundle.js'
import { BundleSourceKind } from './types.js'

/** Default time between two polls of an HTTP source (before jitter). */
export const DEFAULT_BUNDLE_POLL_MS = 30_000
/** Shortest poll interval accepted: a fleet of sidecars polling faster would hammer the server. */
export const MIN_BUNDLE_POLL_MS = 1_000
/** Longest poll interval accepted (a day). */
export const MAX_BUNDLE_POLL_MS = 86_400_000
/** Each poll waits a random ±20 % around the interval, so a fleet started together spreads out. */
export const DEFAULT_BUNDLE_POLL_JITTER = 0.2
/** Default limit on one whole fetch: connecting, headers and the download. */
export const DEFAULT_BUNDLE_TIMEOUT_MS = 30_000
/** Shortest fetch timeout accepted. */
export const MIN_BUNDLE_TIMEOUT_MS = 100
/** Longest fetch timeout accepted. */
export const MAX_BUNDLE_TIMEOUT_MS = 600_000
/** Redirects an HTTP source follows before it gives up. */
export const DEFAULT_BUNDLE_MAX_REDIRECTS = 5
/** First retry delay after a failed fetch; it doubles with each failure in a row. */
export const DEFAULT_BUNDLE_BACKOFF_MIN_MS = 1_000
/** Longest retry delay of a NATS source (an HTTP source's is its poll interval). */
export const DEFAULT_NATS_BUNDLE_BACKOFF_MAX_MS = 30_000
/** Port of a `nats://` URL without one. */
export const DEFAULT_NATS_PORT = 4222

/** A bundle file (`.tar.gz`) or directory on disk, reloaded on SIGHUP. */
export interface FileSourceOptions {
  kind: typeof BundleSourceKind.file
  /** Example: `./trades.tar.gz`. */
  path: string
}

/** Settings every remote source shares. */
export interface RemoteSourceOptions {
  /** Limit on one whole fetch (connect, headers, download), in ms. Example: `10s` in files. */
  timeoutMs: number
  /** Largest download accepted, in bytes (and the uncompressed limit when loading). Example: `67108864`. */
  maxBytes: number
  /** First retry delay after a failed fetch, in ms; doubles with each failure in a row. Example: `1000`. */
  backoffMinMs: number
  /** Longest retry delay, in ms. Example: `30000`. */
  backoffMaxMs: number
  /** Token sent as `Authorization: Bearer` (HTTP) or as the NATS auth token. Only from the environment. */
  token?: string
  /** File holding the token, read again for each request so a rotated token needs no restart. */
  tokenFile?: string
}

/** An HTTP(S) URL polled with `If-None-Match`. */
export interface HttpSourceOptions extends RemoteSourceOptions {
  kind: typeof BundleSourceKind.http
  /** Example: `https://bundles.example.com/trades/bundle.tar.gz`. */
  url: string
  /** Time between polls, in ms, before jitter. Example: `30s` in files. */
  pollIntervalMs: number
  /** Fraction of the interval each poll moves at random, 0 to 0.5. Example: `0.2`. */
  pollJitter: number
  /** Redirects followed (http and https only, never https to http). Example: `5`. */
  maxRedirects: number
}

/** An object in a NATS JetStream object store, read at start and then watched. */
export interface NatsSourceOptions extends RemoteSourceOptions {
  kind: typeof BundleSourceKind.nats
  /** Example: `nats://nats.internal:4222`. */
  server: string
  /** Example: `verdict-bundles`. */
  bucket: string
  /** Example: `trades.tar.gz`. */
  object: string
  /** A `.creds` file (user JWT and NKey seed) for decentralised auth. */
  credsFile?: string
  /** Client name the server shows. Example: `verdict-bundles-trades-api`. */
  name?: string
}

/** Where bundles come from, and how they are fetched. */
export type BundleSourceOptions = FileSourceOptions | HttpSourceOptions | NatsSourceOptions

function invalid(key: string, why: string): never {
  throw new PdpError('ERR_CONFIG_INVALID', `${key}: ${why}`)
}

function remoteDefaults(backoffMaxMs: number): RemoteSourceOptions {
  return {
    timeoutMs: DEFAULT_BUNDLE_TIMEOUT_MS,
    maxBytes: DEFAULT_MAX_BUNDLE_BYTES,
    backoffMinMs: DEFAULT_BUNDLE_BACKOFF_MIN_MS,
    backoffMaxMs,
  }
}

/**
 * Parses a `--bundle` location into the options of its source, with defaults: an `http://` or
 * `https://` URL, `nats://host[:port]/<bucket>/<object>` (the object name may contain `/`; encode
 * other reserved characters), or else a path on disk. Throws `ERR_CONFIG_INVALID` (key `bundle`)
 * for a malformed URL, a URL with credentials or another scheme.
 *
 * @example
 * defaultBundleSourceOptions('nats://127.0.0.1:4222/verdict-bundles/trades.tar.gz')
 * // { kind: 'nats', server: 'nats://127.0.0.1:4222', bucket: 'verdict-bundles', object: 'trades.tar.gz', ... }
 */
export function defaultBundleSourceOptions(location: string): BundleSourceOptions {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(location)?.[1]?.toLowerCase()
  if (scheme === undefined) return { kind: BundleSourceKind.file, path: location }
  let url: URL
  try {
    url = new URL(location)
  } catch {
    invalid('bundle', `${location} is not a valid URL`)
  }
  if (url.username !== '' || url.password !== '') {
    invalid('bundle', 'the URL must not carry credentials; use bundle_source.token_file or VERDICT_BUNDLE_TOKEN')
  }
  if (scheme === 'http' || scheme === 'https') {
    return {
      kind: BundleSourceKind.http,
      url: url.href,
      pollIntervalMs: DEFAULT_BUNDLE_POLL_MS,
      pollJitter: DEFAULT_BUNDLE_POLL_JITTER,
      maxRedirects: DEFAULT_BUNDLE_MAX_REDIRECTS,
      ...remoteDefaults(DEFAULT_BUNDLE_POLL_MS),
    }
  }
  if (scheme === 'nats') {
    if (url.hostname === '') invalid('bundle', `${location} names no NATS host`)
    if (url.search !== '' || url.hash !== '') invalid('bundle', 'a nats:// bundle URL takes no query or fragment')
    const [bucket, ...rest] = url.pathname.replace(/^\//, '').split('/')
    const object = rest.map((part) => decodeURIComponent(part)).join('/')
    if (bucket === undefined || bucket === '' || object === '') {
      invalid('bundle', `${location} must be nats://host:port/<bucket>/<object>`)
    }
    return {
      kind: BundleSourceKind.nats,
      server: `nats://${url.hostname}:${url.port === '' ? DEFAULT_NATS_PORT : url.port}`,
      bucket: decodeURIComponent(bucket),
      object,
      ...remoteDefaults(DEFAULT_NATS_BUNDLE_BACKOFF_MAX_MS),
    }
  }
  invalid('bundle', `the scheme ${scheme}:// is not supported (use a path, http(s):// or nats://)`)
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '')
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

/**
 * The location of a source as logs show it: the URL without query string (signed URLs carry
 * secrets there), or `nats://host:port/<bucket>/<object>`, or the path.
 */
export function bundleSourceLocation(options: BundleSourceOptions): string {
  switch (options.kind) {
    case BundleSourceKind.file:
      return options.path
    case BundleSourceKind.http: {
      const url = new URL(options.url)
      return `${url.origin}${url.pathname}`
    }
    case BundleSourceKind.nats:
      return `${options.server}/${options.bucket}/${options.object}`
  }
}

/**
 * Checks source options; throws `ERR_CONFIG_INVALID` naming the config-file key of the first bad
 * setting. Returns the options unchanged.
 *
 * @example
 * const source = validateBundleSourceOptions({ ...defaultBundleSourceOptions(url), pollIntervalMs: 60_000 })
 */
export function validateBundleSourceOptions<T extends BundleSourceOptions>(options: T): T {
  if (options.kind === BundleSourceKind.file) {
    if (options.path === '') invalid('bundle', 'must be a non-empty path')
    return options
  }
  const between = (key: string, value: number, min: number, max: number): void => {
    if (!Number.isFinite(value) || value < min || value > max) invalid(key, `must be from ${min} to ${max} (got ${value})`)
  }
  between('bundle_source.timeout', options.timeoutMs, MIN_BUNDLE_TIMEOUT_MS, MAX_BUNDLE_TIMEOUT_MS)
  if (!Number.isInteger(options.maxBytes) || options.maxBytes <= 0) {
    invalid('bundle_source.max_bytes', 'must be a positive integer')
  }
  between('bundle_source.backoff_min', options.backoffMinMs, 1, MAX_BUNDLE_POLL_MS)
  between('bundle_source.backoff_max', options.backoffMaxMs, options.backoffMinMs, MAX_BUNDLE_POLL_MS)
  if (options.token !== undefined && options.tokenFile !== undefined) {
    invalid('bundle_source.token_file', 'set either a token file or VERDICT_BUNDLE_TOKEN, not both')
  }
  if (options.token !== undefined && !/^[\x21-\x7e]+$/.test(options.token)) {
    invalid('VERDICT_BUNDLE_TOKEN', 'must be printable ASCII without spaces')
  }
  if (options.kind === BundleSourceKind.http) {
    const url = new URL(options.url)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') invalid('bundle', 'must be an http:// or https:// URL')
    between('bundle_source.poll', options.pollIntervalMs, MIN_BUNDLE_POLL_MS, MAX_BUNDLE_POLL_MS)
    between('bundle_source.poll_jitter', options.pollJitter, 0, 0.5)
    if (!Number.isInteger(options.maxRedirects) || options.maxRedirects < 0 || options.maxRedirects > 20) {
      invalid('bundle_source.max_redirects', 'must be an integer from 0 to 20')
    }
    // A bearer token in clear text may only stay on this host.
    const authenticated = options.token !== undefined || options.tokenFile !== undefined
    if (authenticated && url.protocol === 'http:' && !isLoopback(url.hostname)) {
      invalid('bundle', 'a bundle token is only sent over https:// (or http:// to a loopback address)')
    }
  } else {
    if (!/^[A-Za-z0-9_-]+$/.test(options.bucket)) invalid('bundle', `bucket ${options.bucket} must be letters, digits, - and _`)
    if (options.object === '') invalid('bundle', 'the object name must not be empty')
    if (options.credsFile !== undefined && (options.token !== undefined || options.tokenFile !== undefined)) {
      invalid('bundle_source.creds', 'set either a creds file or a token, not both')
    }
  }
  return options
}
