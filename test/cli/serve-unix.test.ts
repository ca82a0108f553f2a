/**
 * The sidecar serves gRPC on a unix domain socket (`--grpc unix:///path`), a sidecar's natural
 * transport, and the SDK reaches it there.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '../../sdk/src/index.js'
import { buildBundle, startSidecar } from '../../src/cli/index.js'
import { loadServeConfig } from '../../src/config/index.js'
import { createLogger } from '../../src/server/index.js'
import { createTestIssuer, writeJwks } from '../helpers/tokens.js'
import type { TestIssuer } from '../helpers/tokens.js'

const root = join(import.meta.dirname, '..', '..')

let dir: string
let issuer: TestIssuer

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-unix-'))
  issuer = await createTestIssuer({ alg: 'ES256' })
  await writeJwks(join(dir, 'jwks.json'), [issuer])
  await buildBundle({ source: join(root, 'policies/trades'), output: join(dir, 'b.tar.gz'), entrypoints: [] })
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('serve on a unix socket', () => {
  it('answers Check through the SDK over unix:///path', async () => {
    const socket = `unix://${join(dir, 'verdict.sock')}`
    const config = loadServeConfig({
      flags: {
        'insecure-skip-bundle-verification': 'true',
        bundle: join(dir, 'b.tar.gz'),
        jwks: join(dir, 'jwks.json'),
        issuer: issuer.issuer,
        audience: issuer.audience,
        grpc: socket,
        'shutdown-grace': '1s',
      },
      env: {},
    })
    const sidecar = await startSidecar(config, createLogger({ level: 'error', stream: { write: () => true } as never }))
    expect(sidecar.address).toBe(socket)
    const client = createClient({ address: socket })
    try {
      const token = await issuer.mint({ scope: 'trades', user_id: 7, roles: ['trader'], locations: ['NY'] })
      const trade = { type: 'trade', id: 't', properties: { owner_id: 7, location: 'NY' } }
      expect(await client.check({ token, action: 'update', resource: trade })).toMatchObject({ allow: true, code: 'OK' })
      const other = { ...trade, properties: { owner_id: 8, location: 'NY' } }
      expect(await client.check({ token, action: 'read', resource: other })).toMatchObject({ allow: false, code: 'POLICY_DENIED' })
    } finally {
      client.close()
      await sidecar.stop()
    }
  }, 30_000)

  it('rejects an address that is neither host:port nor unix:', () => {
    expect(() =>
      loadServeConfig({
        flags: { 'insecure-skip-bundle-verification': 'true', bundle: 'b', jwks: 'j', issuer: 'i', audience: 'a', grpc: 'localhost' },
        env: {},
      }),
    ).toThrow(/grpc.*must be host:port or unix/)
  })
})
