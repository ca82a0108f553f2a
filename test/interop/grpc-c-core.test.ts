/**
 * Interoperability with a gRPC implementation that shares no code with Node's: gRPC C-core, through
 * Python's grpcio (Debian's python3-grpcio, which `.ci/run` installs). The sidecar runs on each
 * transport; `scripts/interop/grpc-python.py` learns its services by reflection, then calls
 * Check, Health Check and Watch, and 200 Checks at once. Skipped, saying why, where grpcio is not
 * installed.
 */
import { execFile, spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildBundle, startSidecar } from '../../src/cli/index.js'
import { loadServeConfig } from '../../src/config/index.js'
import { createLogger, GRPC_TRANSPORTS } from '../../src/server/index.js'
import { createTestIssuer, writeJwks } from '../helpers/tokens.js'
import type { TestIssuer } from '../helpers/tokens.js'

const root = join(import.meta.dirname, '..', '..')
const PYTHON = '/usr/bin/python3'
const probe = spawnSync(PYTHON, ['-c', 'import grpc'], { encoding: 'utf8' })
const grpcio = probe.status === 0

let dir: string
let issuer: TestIssuer

beforeAll(async () => {
  if (!grpcio) return
  dir = await mkdtemp(join(tmpdir(), 'verdict-interop-'))
  issuer = await createTestIssuer({ alg: 'RS256' })
  await writeJwks(join(dir, 'jwks.json'), [issuer])
  await buildBundle({ source: join(root, 'policies/trades'), output: join(dir, 'b.tar.gz'), entrypoints: [] })
})
afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
})

describe.skipIf(!grpcio)(`gRPC C-core (python3-grpcio) as the client${grpcio ? '' : ': skipped, python3-grpcio is not installed'}`, () => {
  it.each(GRPC_TRANSPORTS)('talks to the sidecar on the %s transport', async (transport) => {
    const config = loadServeConfig({
      flags: {
        'insecure-skip-bundle-verification': 'true',
        bundle: join(dir, 'b.tar.gz'),
        jwks: join(dir, 'jwks.json'),
        issuer: issuer.issuer,
        audience: issuer.audience,
        grpc: '127.0.0.1:0',
        'grpc-transport': transport,
        http: 'off',
        'shutdown-grace': '1s',
      },
      env: {},
    })
    const sidecar = await startSidecar(config, createLogger({ level: 'error', stream: { write: () => true } as never }))
    try {
      const token = await issuer.mint({ scope: 'trades', user_id: 2998, roles: ['trader'], locations: ['NY'] })
      const run = await promisify(execFile)(PYTHON, [join(root, 'scripts/interop/grpc-python.py'), sidecar.address, token], { timeout: 30_000 })
      expect(run.stdout).toMatch(/^Check: allow \S+ \/ deny \['not_owner: /m)
      expect(run.stdout).toContain('Health: SERVING (Check and Watch)')
      expect(run.stdout).toContain('200 concurrent Checks answered')
    } finally {
      await sidecar.stop()
    }
  }, 60_000)
})
