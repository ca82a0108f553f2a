/**
 * The sidecar's operations listener end to end: a real `startSidecar` with `--http` on loopback,
 * real gRPC calls with real tokens, and scrapes read with a strict exposition parser. Counters
 * must match the decisions the callers received, code by code.
 */
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { Client, credentials, Metadata } from '@grpc/grpc-js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '../../sdk/src/index.js'
import { buildBundle, startSidecar } from '../../src/cli/index.js'
import type { Sidecar } from '../../src/cli/index.js'
import { loadServeConfig } from '../../src/config/index.js'
import { createLogger } from '../../src/server/index.js'
import { parseExposition, sampleValue } from '../helpers/prometheus.js'
import type { Family } from '../helpers/prometheus.js'
import { createTestIssuer, writeJwks } from '../helpers/tokens.js'
import type { TestIssuer } from '../helpers/tokens.js'

const root = join(import.meta.dirname, '..', '..')
const claims = { scope: 'trades', user_id: 7, roles: ['trader'], locations: ['NY'] }
const trade = { type: 'trade', id: 't', properties: { owner_id: 7, location: 'NY' } }

let dir: string
let issuer: TestIssuer
let sidecar: Sidecar
let audited = 0

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-metrics-'))
  issuer = await createTestIssuer({ alg: 'ES256' })
  await writeJwks(join(dir, 'jwks.json'), [issuer])
})
afterAll(async () => {
  await sidecar?.stop()
  await rm(dir, { recursive: true, force: true })
})

async function scrape(): Promise<Map<string, Family>> {
  const res = await fetch(`http://${sidecar.httpAddress}/metrics`)
  expect(res.status).toBe(200)
  return parseExposition(await res.text())
}

function undecodable(address: string, bytes = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])): Promise<unknown> {
  const c = new Client(address, credentials.createInsecure())
  return new Promise((resolve) => {
    c.makeUnaryRequest('/verdict.v1.Authorizer/Check', (b: Buffer) => b, (b: Buffer) => b, bytes, new Metadata(), {}, (err) => {
      c.close()
      resolve(err)
    })
  })
}

describe('serve --http', () => {
  it('reports readiness, counts every decision by code and exposes a valid scrape', async () => {
    const bundle = join(dir, 'active.tar.gz')
    const config = loadServeConfig({
      flags: {
        'insecure-skip-bundle-verification': 'true',
        bundle,
        jwks: join(dir, 'jwks.json'),
        issuer: issuer.issuer,
        audience: issuer.audience,
        grpc: '127.0.0.1:0',
        http: '127.0.0.1:0',
        'shutdown-grace': '1s',
      },
      env: {},
    })
    config.audit = { output: new Writable({ write: (chunk, _enc, cb) => ((audited += String(chunk).split('\n').length - 1), cb()) }) }
    sidecar = await startSidecar(config, createLogger({ level: 'error', stream: { write: () => true } as never }))
    expect(sidecar.httpAddress).toMatch(/^127\.0\.0\.1:\d+$/)

    // No bundle yet: not ready, and the failed load is counted.
    const notReady = await fetch(`http://${sidecar.httpAddress}/readyz`)
    expect(notReady.status).toBe(503)
    expect(await notReady.json()).toEqual({ ready: false, revision: null })
    expect((await fetch(`http://${sidecar.httpAddress}/healthz`)).status).toBe(200)
    let f = await scrape()
    expect(sampleValue(f, 'verdict_policy_loads_total', { result: 'rejected' })).toBe(1)
    expect(sampleValue(f, 'verdict_policy_loads_total', { result: 'ok' })).toBe(0)
    expect(f.get('verdict_policy_info')!.samples).toEqual([])

    const client = createClient({ address: sidecar.address })
    const received = new Map<string, number>()
    const count = (code: string) => received.set(code, (received.get(code) ?? 0) + 1)
    try {
      const token = await issuer.mint(claims)
      count((await client.check({ token, action: 'update', resource: trade })).code) // NO_POLICY

      await buildBundle({ source: join(root, 'policies/trades'), output: join(dir, 'good.tar.gz'), entrypoints: [], revision: 'r1' })
      await copyFile(join(dir, 'good.tar.gz'), bundle)
      expect(await sidecar.reload()).toBe(true)
      const ready = await fetch(`http://${sidecar.httpAddress}/readyz`)
      expect(ready.status).toBe(200)
      expect(await ready.json()).toEqual({ ready: true, revision: 'r1' })

      for (let i = 0; i < 5; i++) count((await client.check({ token, action: 'update', resource: trade })).code)
      for (let i = 0; i < 3; i++) count((await client.check({ token, action: 'delete', resource: trade })).code)
      const expired = await issuer.mint(claims, { expiresIn: -3600, issuedAt: Math.floor(Date.now() / 1000) - 7200 })
      count((await client.check({ token: expired, action: 'update', resource: trade })).code)
      count((await client.check({ token: '', action: 'update', resource: trade })).code)
      count((await client.check({ token: 'not.a.jwt', action: 'update', resource: trade })).code)
    } finally {
      client.close()
    }
    expect(await undecodable(sidecar.address)).toMatchObject({ code: 3 })
    // Refused by the transport before any handler: counted all the same.
    expect(await undecodable(sidecar.address, Buffer.alloc(config.limits.maxMessageBytes + 1))).toMatchObject({ code: 8 })

    // The callers saw allows, policy denies, token errors and NO_POLICY; the scrape says the same.
    expect(received.get('OK')).toBe(5)
    expect(received.get('POLICY_DENIED')).toBe(3)
    expect(received.get('TOKEN_EXPIRED')).toBe(1)
    expect(received.get('TOKEN_MISSING')).toBe(1)
    expect(received.get('NO_POLICY')).toBe(1)
    const total = [...received.values()].reduce((a, b) => a + b, 0)
    expect(total).toBe(12)
    f = await scrape()
    for (const s of f.get('verdict_decisions_total')!.samples) {
      expect(s.value, s.labels.code).toBe(received.get(s.labels.code!) ?? 0)
    }
    expect(sampleValue(f, 'verdict_decision_duration_seconds_count')).toBe(total)
    expect(sampleValue(f, 'verdict_decision_duration_seconds_sum')).toBeGreaterThan(0)
    expect(sampleValue(f, 'verdict_rpc_errors_total', { method: 'Check', code: 'INVALID_ARGUMENT' })).toBe(1)
    expect(sampleValue(f, 'verdict_rpc_errors_total', { method: 'Check', code: 'RESOURCE_EXHAUSTED' })).toBe(1)
    // The good token: verified once (a miss), then answered from the cache 8 times; the
    // expired and malformed tokens are misses too. The empty token never reaches the verifier.
    expect(sampleValue(f, 'verdict_token_cache_misses_total')).toBe(3)
    expect(sampleValue(f, 'verdict_token_cache_hits_total')).toBe(8)
    // The log audit sink publishes every decision at once.
    expect(sampleValue(f, 'verdict_audit_events_published_total')).toBe(total)
    expect(audited).toBe(total)
    expect(sampleValue(f, 'verdict_audit_events_dropped_total')).toBe(0)
    expect(sampleValue(f, 'verdict_policy_info', { revision: 'r1' })).toBe(1)
    expect(sampleValue(f, 'verdict_policy_loads_total', { result: 'ok' })).toBe(1)
    expect(sampleValue(f, 'process_resident_memory_bytes')).toBeGreaterThan(0)
    expect(sampleValue(f, 'process_cpu_seconds_total')).toBeGreaterThan(0)
    expect(sampleValue(f, 'nodejs_heap_used_bytes')).toBeGreaterThan(0)

    const address = sidecar.httpAddress
    await sidecar.stop()
    await expect(fetch(`http://${address}/healthz`)).rejects.toThrow()
  })

  it('reads --http from flags and env, and turns it off', () => {
    const base = { 'insecure-skip-bundle-verification': 'true', bundle: 'b', jwks: 'j', issuer: 'i', audience: 'a' }
    expect(loadServeConfig({ flags: base, env: {} }).http).toEqual({ address: '127.0.0.1:9464', isDefault: true })
    expect(loadServeConfig({ flags: { ...base, http: '0.0.0.0:9100' }, env: {} }).http).toEqual({ address: '0.0.0.0:9100', isDefault: false })
    expect(loadServeConfig({ flags: base, env: { VERDICT_HTTP: 'off' } }).http).toBeUndefined()
    expect(() => loadServeConfig({ flags: { ...base, http: '9100' }, env: {} })).toThrow(/--http: must be host:port or off/)
  })

  it('reads http from the config file, below env and flags', async () => {
    const file = join(dir, 'verdict.yaml')
    await writeFile(file, 'http: "[::1]:9100"\n')
    const base = { 'insecure-skip-bundle-verification': 'true', bundle: 'b', jwks: 'j', issuer: 'i', audience: 'a', config: file }
    expect(loadServeConfig({ flags: base, env: {} }).http).toEqual({ address: '[::1]:9100', isDefault: false })
    expect(loadServeConfig({ flags: base, env: { VERDICT_HTTP: '127.0.0.1:9200' } }).http?.address).toBe('127.0.0.1:9200')
    expect(loadServeConfig({ flags: { ...base, http: 'off' }, env: { VERDICT_HTTP: '127.0.0.1:9200' } }).http).toBeUndefined()
  })

  it('fails the start when a configured address is taken, and skips a taken default', async () => {
    const base = {
      'insecure-skip-bundle-verification': 'true',
      bundle: join(dir, 'good.tar.gz'),
      jwks: join(dir, 'jwks.json'),
      issuer: issuer.issuer,
      audience: issuer.audience,
      grpc: '127.0.0.1:0',
    }
    const quiet = createLogger({ level: 'error', stream: { write: () => true } as never })
    const first = await startSidecar(loadServeConfig({ flags: { ...base, http: '127.0.0.1:0' }, env: {} }), quiet)
    try {
      await expect(startSidecar(loadServeConfig({ flags: { ...base, http: first.httpAddress! }, env: {} }), quiet)).rejects.toThrow(/EADDRINUSE/)
      const config = loadServeConfig({ flags: base, env: {} })
      config.http = { address: first.httpAddress!, isDefault: true }
      const warnings: string[] = []
      const second = await startSidecar(config, createLogger({ level: 'warn', stream: { write: (l: string) => warnings.push(l) } as never }))
      expect(second.httpAddress).toBeUndefined()
      expect(warnings.some((l) => l.includes('http listener not started'))).toBe(true)
      await second.stop()
    } finally {
      await first.stop()
    }
  })
})
