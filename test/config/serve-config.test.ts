import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadServeConfig, parseDuration } from '../../src/config/index.js'

const required = { 'insecure-skip-bundle-verification': 'true', bundle: 'b.tar.gz', jwks: 'jwks.json', issuer: 'https://iss', audience: 'api' }
let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-config-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('loadServeConfig', () => {
  it('builds typed options from flags with defaults', () => {
    const config = loadServeConfig({ flags: required, env: {} })
    expect(config.bundle).toBe('b.tar.gz')
    expect(config.grpc).toBe('127.0.0.1:50051')
    expect(config.grpcTransport).toBe('verdict')
    expect(config.logLevel).toBe('info')
    expect(config.token.issuers[0]).toMatchObject({ issuer: 'https://iss', jwks: { file: 'jwks.json' }, audiences: ['api'] })
    expect(config.nats).toBeUndefined()
  })

  it('reads a YAML file and env, with flags winning over env and env over the file', async () => {
    const path = join(dir, 'verdict.yaml')
    await writeFile(
      path,
      [
        'bundle: from-file.tar.gz',
        'grpc: 0.0.0.0:7000',
        'service: trades-api',
        'grpc_transport: grpc-js',
        'shutdown_grace: 1m30s',
        'token:',
        '  jwks: https://idp/jwks.json',
        '  issuer: https://file-iss',
        '  audience: [a, b]',
        '  clock_skew: 10s',
        'limits:',
        '  max_batch_items: 5',
      ].join('\n'),
    )
    const config = loadServeConfig({
      flags: { 'insecure-skip-bundle-verification': 'true', config: path, issuer: 'https://flag-iss' },
      env: { VERDICT_ISSUER: 'https://env-iss', VERDICT_GRPC: '127.0.0.1:9000' },
    })
    expect(config.bundle).toBe('from-file.tar.gz')
    expect(config.grpc).toBe('127.0.0.1:9000')
    expect(config.service).toBe('trades-api')
    expect(config.grpcTransport).toBe('grpc-js')
    expect(config.shutdownGraceMs).toBe(90_000)
    expect(config.limits.maxBatchItems).toBe(5)
    expect(config.token.clockSkewMs).toBe(10_000)
    expect(config.token.issuers[0]).toMatchObject({
      issuer: 'https://flag-iss',
      jwks: { url: 'https://idp/jwks.json' },
      audiences: ['a', 'b'],
    })
  })

  it('names the key of an invalid or missing setting', () => {
    const bad = (flags: Record<string, string>) => () => loadServeConfig({ flags: { ...required, ...flags }, env: {} })
    expect(bad({ 'log-level': 'loud' })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID', message: expect.stringContaining('log_level') }))
    expect(bad({ grpc: 'nope' })).toThrow(/grpc/)
    expect(bad({ 'grpc-transport': 'nghttp2' })).toThrow(/grpc_transport: must be one of verdict, grpc-js/)
    expect(bad({ 'max-batch-items': '-1' })).toThrow(/--max-batch-items/)
    expect(bad({ 'shutdown-grace': 'soon' })).toThrow(/--shutdown-grace/)
    expect(() => loadServeConfig({ flags: { 'insecure-skip-bundle-verification': 'true', jwks: 'j', issuer: 'i', audience: 'a' }, env: {} })).toThrow(/bundle: is required/)
    expect(() => loadServeConfig({ flags: { ...required, config: join(dir, 'missing.yaml') }, env: {} })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }),
    )
  })
})

describe('loadServeConfig: bundle sources', () => {
  const tokenRequired = { 'insecure-skip-bundle-verification': 'true', jwks: 'jwks.json', issuer: 'https://iss', audience: 'api' }
  const load = (flags: Record<string, string>, env: Record<string, string> = {}) =>
    loadServeConfig({ flags: { ...tokenRequired, ...flags }, env })
  const configError = (text: string) => expect.objectContaining({ code: 'ERR_CONFIG_INVALID', message: expect.stringContaining(text) })

  it('keeps a path a file source, without a cache', () => {
    const config = load({ bundle: 'trades.tar.gz', 'bundle-poll': '5s' })
    expect(config.bundleSource).toEqual({ kind: 'file', path: 'trades.tar.gz' })
    expect(config.bundleCache).toBeUndefined()
    expect(config.bundleMaxBytes).toBe(512 * 1024 * 1024)
  })

  it('reads an http(s) source with its settings from flags, env and file, and the token only from env', async () => {
    const path = join(dir, 'sources.yaml')
    await writeFile(
      path,
      ['service: trades-api', 'bundle_source:', '  poll: 2m', '  timeout: 5s', '  max_bytes: 1048576', '  token_file: /run/secrets/t'].join('\n'),
    )
    const config = load(
      { config: path, bundle: 'https://bundles.example.com/trades.tar.gz', 'bundle-timeout': '8s' },
      { VERDICT_BUNDLE_POLL: '45s', VERDICT_BUNDLE_TOKEN: '' },
    )
    expect(config.bundleSource).toMatchObject({
      kind: 'http',
      url: 'https://bundles.example.com/trades.tar.gz',
      pollIntervalMs: 45_000,
      timeoutMs: 8000,
      maxBytes: 1_048_576,
      backoffMaxMs: 45_000,
      tokenFile: '/run/secrets/t',
    })
    expect(config.bundleMaxBytes).toBe(1_048_576)
    // Beside the audit spool's default, per service.
    expect(config.bundleCache).toBe(join(tmpdir(), 'verdict-bundle-cache-trades-api'))

    const withToken = load({ bundle: 'https://h/b.tar.gz', 'bundle-cache': 'off' }, { VERDICT_BUNDLE_TOKEN: ' t0ken \n' })
    expect(withToken.bundleSource).toMatchObject({ token: 't0ken' })
    expect(withToken.bundleCache).toBeUndefined()
  })

  it('reads a nats source with a creds file and its own client name', () => {
    const config = load({ bundle: 'nats://10.1.2.3:4222/verdict-bundles/trades.tar.gz', service: 'trades-api', 'bundle-creds': '/run/nats.creds', 'bundle-cache': '/var/lib/verdict' })
    expect(config.bundleSource).toMatchObject({
      kind: 'nats',
      server: 'nats://10.1.2.3:4222',
      bucket: 'verdict-bundles',
      object: 'trades.tar.gz',
      credsFile: '/run/nats.creds',
      name: 'verdict-bundles-trades-api',
    })
    expect(config.bundleCache).toBe('/var/lib/verdict')
  })

  it('names the flag, env var or key of a bad bundle setting', async () => {
    const https = { bundle: 'https://h/b.tar.gz' }
    expect(() => load({ ...https, 'bundle-poll': '100ms' })).toThrow(configError('--bundle-poll: must be from 1s to 24h (got 100ms)'))
    expect(() => load(https, { VERDICT_BUNDLE_TIMEOUT: '1h' })).toThrow(configError('VERDICT_BUNDLE_TIMEOUT: must be from 100ms to 10m'))
    expect(() => load({ ...https, 'bundle-max-bytes': 'lots' })).toThrow(configError('--bundle-max-bytes'))
    expect(() => load({ bundle: 'http://bundles.example.com/b.tar.gz', 'bundle-token-file': '/t' })).toThrow(configError('only sent over https'))
    expect(() => load({ ...https, 'bundle-token-file': '/t' }, { VERDICT_BUNDLE_TOKEN: 'x' })).toThrow(configError('not both'))
    expect(() => load({ bundle: 'gopher://h/b' })).toThrow(configError('bundle: the scheme gopher:// is not supported'))
    const path = join(dir, 'token-in-file.yaml')
    await writeFile(path, 'bundle_source:\n  token: abc\n')
    expect(() => load({ ...https, config: path })).toThrow(configError('bundle_source.token: is not read from files'))
    await writeFile(path, 'bundle_source:\n  pol: 5s\n')
    expect(() => load({ ...https, config: path })).toThrow(configError('bundle_source.pol: is not a known setting'))
  })
})

describe('parseDuration', () => {
  it('parses units and bare milliseconds', () => {
    expect(parseDuration('30s')).toBe(30_000)
    expect(parseDuration('250ms')).toBe(250)
    expect(parseDuration('1h2m')).toBe(3_720_000)
    expect(parseDuration('1500')).toBe(1500)
    expect(parseDuration('1.5s')).toBe(1500)
    expect(parseDuration('')).toBeUndefined()
    expect(parseDuration('5 minutes')).toBeUndefined()
  })
})
