import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadServeConfig, parseDuration } from '../../src/config/index.js'

const required = { bundle: 'b.tar.gz', jwks: 'jwks.json', issuer: 'https://iss', audience: 'api' }
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
      flags: { config: path, issuer: 'https://flag-iss' },
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
    expect(() => loadServeConfig({ flags: { jwks: 'j', issuer: 'i', audience: 'a' }, env: {} })).toThrow(/bundle: is required/)
    expect(() => loadServeConfig({ flags: { ...required, config: join(dir, 'missing.yaml') }, env: {} })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }),
    )
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
