import { describe, expect, it } from 'vitest'
import {
  backoffDelay,
  bundleSourceLocation,
  DEFAULT_MAX_BUNDLE_BYTES,
  defaultBundleSourceOptions,
  pollDelay,
  validateBundleSourceOptions,
} from '../../../src/bundle/index.js'
import type { HttpSourceOptions, NatsSourceOptions } from '../../../src/bundle/index.js'

const configError = (key: string) => expect.objectContaining({ code: 'ERR_CONFIG_INVALID', message: expect.stringContaining(key) })

describe('defaultBundleSourceOptions', () => {
  it('reads a path as a file source, whatever it looks like', () => {
    expect(defaultBundleSourceOptions('trades.tar.gz')).toEqual({ kind: 'file', path: 'trades.tar.gz' })
    expect(defaultBundleSourceOptions('/srv/bundles/dir')).toEqual({ kind: 'file', path: '/srv/bundles/dir' })
    expect(defaultBundleSourceOptions('C:bundle')).toEqual({ kind: 'file', path: 'C:bundle' })
  })

  it('reads http(s) URLs with polling defaults and the download limit of the loader', () => {
    const o = defaultBundleSourceOptions('https://bundles.example.com/trades/bundle.tar.gz?sig=abc') as HttpSourceOptions
    expect(o).toMatchObject({
      kind: 'http',
      url: 'https://bundles.example.com/trades/bundle.tar.gz?sig=abc',
      pollIntervalMs: 30_000,
      pollJitter: 0.2,
      timeoutMs: 30_000,
      maxBytes: DEFAULT_MAX_BUNDLE_BYTES,
      maxRedirects: 5,
    })
    // Logs never show the query string: signed URLs carry their secret there.
    expect(bundleSourceLocation(o)).toBe('https://bundles.example.com/trades/bundle.tar.gz')
  })

  it('reads nats URLs into server, bucket and an object name that may contain slashes', () => {
    const o = defaultBundleSourceOptions('nats://10.0.0.7/verdict-bundles/trades/v1%20a.tar.gz') as NatsSourceOptions
    expect(o).toMatchObject({ kind: 'nats', server: 'nats://10.0.0.7:4222', bucket: 'verdict-bundles', object: 'trades/v1 a.tar.gz' })
    expect(bundleSourceLocation(o)).toBe('nats://10.0.0.7:4222/verdict-bundles/trades/v1 a.tar.gz')
  })

  it('rejects credentials in URLs, other schemes and incomplete nats URLs', () => {
    expect(() => defaultBundleSourceOptions('https://user:secret@host/b.tar.gz')).toThrow(configError('must not carry credentials'))
    expect(() => defaultBundleSourceOptions('ftp://host/b.tar.gz')).toThrow(configError('ftp:// is not supported'))
    expect(() => defaultBundleSourceOptions('file:///tmp/b.tar.gz')).toThrow(configError('file:// is not supported'))
    expect(() => defaultBundleSourceOptions('nats://host:4222/bucket')).toThrow(configError('nats://host:port/<bucket>/<object>'))
    expect(() => defaultBundleSourceOptions('nats://host:4222/bucket/o?x=1')).toThrow(configError('no query'))
  })
})

describe('validateBundleSourceOptions', () => {
  const http = (patch: Partial<HttpSourceOptions>) => ({ ...(defaultBundleSourceOptions('https://h/b.tar.gz') as HttpSourceOptions), ...patch })

  it('accepts the defaults', () => {
    expect(validateBundleSourceOptions(http({}))).toMatchObject({ kind: 'http' })
    expect(validateBundleSourceOptions(defaultBundleSourceOptions('nats://h/b/o'))).toMatchObject({ kind: 'nats' })
  })

  it('names the key of a value out of range', () => {
    expect(() => validateBundleSourceOptions(http({ pollIntervalMs: 10 }))).toThrow(configError('bundle_source.poll'))
    expect(() => validateBundleSourceOptions(http({ timeoutMs: 0 }))).toThrow(configError('bundle_source.timeout'))
    expect(() => validateBundleSourceOptions(http({ maxBytes: 1.5 }))).toThrow(configError('bundle_source.max_bytes'))
    expect(() => validateBundleSourceOptions(http({ maxRedirects: 50 }))).toThrow(configError('bundle_source.max_redirects'))
    expect(() => validateBundleSourceOptions(http({ backoffMinMs: 5000, backoffMaxMs: 1000 }))).toThrow(configError('bundle_source.backoff_max'))
  })

  it('sends a bearer token in clear text only to a loopback host', () => {
    const plain = (url: string) => ({ ...(defaultBundleSourceOptions(url) as HttpSourceOptions), tokenFile: '/run/token' })
    expect(() => validateBundleSourceOptions(plain('http://bundles.example.com/b.tar.gz'))).toThrow(configError('only sent over https'))
    expect(validateBundleSourceOptions(plain('http://127.0.0.1:8080/b.tar.gz')).tokenFile).toBe('/run/token')
    expect(validateBundleSourceOptions(plain('http://[::1]:8080/b.tar.gz')).tokenFile).toBe('/run/token')
    expect(validateBundleSourceOptions(plain('https://bundles.example.com/b.tar.gz')).tokenFile).toBe('/run/token')
  })

  it('takes one token, from a file or a value, and for nats not beside a creds file', () => {
    expect(() => validateBundleSourceOptions(http({ token: 't', tokenFile: '/f' }))).toThrow(configError('not both'))
    expect(() => validateBundleSourceOptions(http({ token: 'has space' }))).toThrow(configError('VERDICT_BUNDLE_TOKEN'))
    const nats = { ...(defaultBundleSourceOptions('nats://h/b/o') as NatsSourceOptions), credsFile: '/c', token: 't' }
    expect(() => validateBundleSourceOptions(nats)).toThrow(configError('bundle_source.creds'))
    expect(() => validateBundleSourceOptions({ ...nats, credsFile: undefined, bucket: 'no.dots' } as NatsSourceOptions)).toThrow(configError('bucket'))
  })
})

describe('pollDelay and backoffDelay', () => {
  it('moves the poll interval by at most the jitter', () => {
    expect(pollDelay(30_000, 0.2, () => 0)).toBe(24_000)
    expect(pollDelay(30_000, 0.2, () => 0.5)).toBe(30_000)
    expect(pollDelay(30_000, 0.2, () => 1)).toBe(36_000)
  })

  it('doubles per failure in a row up to the cap, drawn from the upper half', () => {
    const top = (n: number) => backoffDelay(n, 1000, 30_000, () => 1)
    const bottom = (n: number) => backoffDelay(n, 1000, 30_000, () => 0)
    expect([1, 2, 3, 4, 5, 6, 7, 40].map(top)).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000])
    expect([1, 2, 3].map(bottom)).toEqual([500, 1000, 2000])
  })
})
