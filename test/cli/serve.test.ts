import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '../../sdk/src/index.js'
import { buildBundle, startSidecar } from '../../src/cli/index.js'
import type { Sidecar } from '../../src/cli/index.js'
import { loadServeConfig } from '../../src/config/index.js'
import { createLogger } from '../../src/server/index.js'
import { createTestIssuer, writeJwks } from '../helpers/tokens.js'
import type { TestIssuer } from '../helpers/tokens.js'

const root = join(import.meta.dirname, '..', '..')
const claims = { scope: 'trades', user_id: 7, roles: ['trader'], locations: ['NY'] }
const trade = { type: 'trade', id: 't', properties: { owner_id: 7, location: 'NY' } }

let dir: string
let issuer: TestIssuer
let sidecar: Sidecar
const logs: string[] = []

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-serve-'))
  issuer = await createTestIssuer({ alg: 'RS256' })
  await writeJwks(join(dir, 'jwks.json'), [issuer])
})
afterAll(async () => {
  await sidecar?.stop()
  await rm(dir, { recursive: true, force: true })
})

describe('startSidecar', () => {
  it('fails closed without a bundle, activates one on reload, and keeps the last good one', async () => {
    const bundle = join(dir, 'active.tar.gz')
    const config = loadServeConfig({
      flags: {
        'insecure-skip-bundle-verification': 'true',
        bundle,
        jwks: join(dir, 'jwks.json'),
        issuer: issuer.issuer,
        audience: issuer.audience,
        grpc: '127.0.0.1:0',
        'shutdown-grace': '1s',
      },
      env: {},
    })
    const logger = createLogger({ level: 'info', stream: { write: (l: string) => logs.push(l) } as never })
    sidecar = await startSidecar(config, logger)
    const client = createClient({ address: sidecar.address })
    const token = await issuer.mint(claims)
    try {
      expect((await client.check({ token, action: 'read', resource: trade })).code).toBe('NO_POLICY')
      expect(logs.some((l) => l.includes('"bundle rejected"'))).toBe(true)

      await buildBundle({ source: join(root, 'policies/trades'), output: join(dir, 'good.tar.gz'), entrypoints: [], revision: 'r1' })
      await copyFile(join(dir, 'good.tar.gz'), bundle)
      expect(await sidecar.reload()).toBe(true)
      expect(await client.check({ token, action: 'read', resource: trade })).toMatchObject({ allow: true, policyRevision: 'r1' })

      await writeFile(bundle, 'not a bundle')
      expect(await sidecar.reload()).toBe(false)
      expect(await client.check({ token, action: 'read', resource: trade })).toMatchObject({ allow: true, policyRevision: 'r1' })
    } finally {
      client.close()
    }
    await sidecar.stop()
    expect(logs.some((l) => l.includes('"stopped"'))).toBe(true)
  }, 30_000)
})
