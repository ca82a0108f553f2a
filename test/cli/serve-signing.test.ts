/**
 * `verdict serve` with bundle signature verification: with a key, an unsigned or badly signed
 * bundle is rejected (NO_POLICY at start, the last good bundle on reload, by `reload()` and by
 * SIGHUP to the real process); without one, a warning says signatures are not verified and a
 * signed bundle still loads.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { copyFile, mkdtemp, rename, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '../../sdk/src/index.js'
import { createSigningKey } from '../../src/bundle/index.js'
import { buildBundle, startSidecar } from '../../src/cli/index.js'
import type { Sidecar } from '../../src/cli/index.js'
import { loadServeConfig } from '../../src/config/index.js'
import { createLogger } from '../../src/server/index.js'
import { freePort } from '../helpers/net.js'
import { createTestSigningKeys, writeTestKeyFiles } from '../helpers/signing-keys.js'
import type { TestSigningKeys } from '../helpers/signing-keys.js'
import { createTestIssuer, writeJwks } from '../helpers/tokens.js'
import type { TestIssuer } from '../helpers/tokens.js'

const root = join(import.meta.dirname, '..', '..')
const bin = join(root, 'bin', 'verdict.js')
const policy = join(root, 'policies', 'trades')
const claims = { scope: 'trades', user_id: 7, roles: ['trader'], locations: ['NY'] }
const trade = { type: 'trade', id: 't', properties: { owner_id: 7, location: 'NY' } }

let dir: string
let issuer: TestIssuer
let keys: TestSigningKeys
let keyFiles: { key: string; pub: string; jwks: string }
const sidecars: Sidecar[] = []
const children = new Set<ChildProcess>()

/** Builds the trades bundle at `name` with `revision`, signed by `signer` (a test key) or unsigned. */
async function bundle(name: string, revision: string, signer?: TestSigningKeys, scope?: string): Promise<string> {
  const output = join(dir, name)
  await buildBundle({
    source: policy,
    output,
    entrypoints: [],
    revision,
    ...(signer && {
      signing: { key: createSigningKey(new TextEncoder().encode(signer.privatePem)), keyId: signer.kid, ...(scope && { scope }) },
    }),
  })
  return output
}

/** Puts `from` at `to` in one step, as a deploy would, so a reload never reads half a file. */
async function install(from: string, to: string): Promise<void> {
  await copyFile(from, `${to}.tmp`)
  await rename(`${to}.tmp`, to)
}

function parseLines(lines: string[]): Record<string, unknown>[] {
  return lines.flatMap((l) => {
    try {
      return [JSON.parse(l) as Record<string, unknown>]
    } catch {
      return []
    }
  })
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-serve-signing-'))
  issuer = await createTestIssuer({ alg: 'ES256' })
  await writeJwks(join(dir, 'jwks.json'), [issuer])
  keys = createTestSigningKeys('RS256')
  keyFiles = await writeTestKeyFiles(dir, keys)
})
afterEach(async () => {
  for (const s of sidecars.splice(0)) await s.stop()
  for (const c of children) c.kill('SIGKILL')
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

function sidecarConfig(bundlePath: string, extra: Record<string, string> = {}) {
  return loadServeConfig({
    flags: {
      bundle: bundlePath,
      jwks: join(dir, 'jwks.json'),
      issuer: issuer.issuer,
      audience: issuer.audience,
      grpc: '127.0.0.1:0',
      http: 'off',
      'shutdown-grace': '1s',
      ...extra,
    },
    env: {},
  })
}

async function start(bundlePath: string, extra: Record<string, string> = {}) {
  const lines: string[] = []
  const logger = createLogger({ level: 'info', stream: { write: (l: string) => lines.push(l) } as never })
  const sidecar = await startSidecar(sidecarConfig(bundlePath, extra), logger)
  sidecars.push(sidecar)
  return { sidecar, logs: () => parseLines(lines) }
}

describe('startSidecar with a verification key', () => {
  it('answers NO_POLICY for an unsigned bundle at start, then keeps the last good one through bad reloads', async () => {
    const active = join(dir, 'active.tar.gz')
    await install(await bundle('unsigned.tar.gz', 'u1'), active)
    const { sidecar, logs } = await start(active, { 'verification-key': keyFiles.pub, scope: 'trades' })
    const client = createClient({ address: sidecar.address })
    const token = await issuer.mint(claims)
    try {
      expect((await client.check({ token, action: 'read', resource: trade })).code).toBe('NO_POLICY')
      expect(logs().find((l) => l.msg === 'bundle rejected')).toMatchObject({
        level: 'error',
        bundle: active,
        serving: null,
        error: { code: 'ERR_BUNDLE_SIGNATURE_MISSING', message: expect.stringMatching(/missing \.signatures\.json/) },
      })
      expect(logs().some((l) => l.msg === 'bundle loaded')).toBe(false)
      expect(logs().some((l) => String(l.msg).includes('not verified'))).toBe(false)

      await install(await bundle('good.tar.gz', 'r1', keys, 'trades'), active)
      expect(await sidecar.reload()).toBe(true)
      expect(await client.check({ token, action: 'read', resource: trade })).toMatchObject({ allow: true, policyRevision: 'r1' })
      expect(logs().find((l) => l.msg === 'bundle loaded')).toMatchObject({
        revision: 'r1',
        signature: { algorithm: 'RS256', keyId: keys.kid },
      })

      // Signed by another key, signed for another scope, unsigned: each rejected with its code.
      const rejected: [string, string][] = [
        [await bundle('other-key.tar.gz', 'r2', createTestSigningKeys('RS256')), 'ERR_BUNDLE_SIGNATURE'],
        [await bundle('other-scope.tar.gz', 'r3', keys, 'payments'), 'ERR_BUNDLE_SIGNATURE_SCOPE'],
        [await bundle('unsigned-2.tar.gz', 'r4'), 'ERR_BUNDLE_SIGNATURE_MISSING'],
      ]
      for (const [path, code] of rejected) {
        await install(path, active)
        expect(await sidecar.reload()).toBe(false)
        expect(await client.check({ token, action: 'read', resource: trade })).toMatchObject({ allow: true, policyRevision: 'r1' })
        expect(logs().filter((l) => l.msg === 'bundle rejected').at(-1)).toMatchObject({ serving: 'r1', error: { code } })
      }
    } finally {
      client.close()
    }
  }, 30_000)
})

describe('startSidecar without a verification key', () => {
  it('refuses to start unless verification is skipped explicitly', () => {
    expect(() => sidecarConfig(join(dir, 'nokey.tar.gz'), {})).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG_INVALID', message: expect.stringMatching(/^bundle_verification\.key: is required: bundles must be signed/) }),
    )
  })

  it('with --insecure-skip-bundle-verification: warns once, and loads signed and unsigned bundles', async () => {
    const active = join(dir, 'nokey.tar.gz')
    await install(await bundle('signed-nokey.tar.gz', 's1', keys, 'trades'), active)
    const { sidecar, logs } = await start(active, { 'insecure-skip-bundle-verification': 'true' })
    const warnings = logs().filter((l) => l.level === 'warn' && String(l.msg).includes('bundle signatures are not verified'))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatchObject({ bundle: active })
    expect(logs().find((l) => l.msg === 'bundle loaded')).toMatchObject({ revision: 's1' })
    expect(logs().find((l) => l.msg === 'bundle loaded')).not.toHaveProperty('signature')
    await install(await bundle('unsigned-nokey.tar.gz', 's2'), active)
    expect(await sidecar.reload()).toBe(true)
    expect(logs().filter((l) => String(l.msg).includes('not verified'))).toHaveLength(1)
  }, 30_000)
})

describe('verdict serve --verification-key (process)', () => {
  it('rejects an unsigned bundle on SIGHUP and keeps serving the signed one, then takes a newly signed one', async () => {
    const active = join(dir, 'process.tar.gz')
    await install(await bundle('p1.tar.gz', 'p1', keys), active)
    const port = await freePort()
    const child = spawn(
      process.execPath,
      [
        bin, 'serve',
        '--bundle', active,
        '--jwks', join(dir, 'jwks.json'),
        '--issuer', issuer.issuer,
        '--audience', issuer.audience,
        '--grpc', `127.0.0.1:${port}`,
        '--http', 'off',
        '--verification-key', keyFiles.jwks,
        '--shutdown-grace', '1s',
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    children.add(child)
    const raw: string[] = []
    let partial = ''
    const take = (b: Buffer) => {
      const parts = (partial + b.toString()).split('\n')
      partial = parts.pop()!
      raw.push(...parts)
    }
    child.stdout!.on('data', take)
    child.stderr!.on('data', take)
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    const lines = () => parseLines(raw)
    const waitFor = async (what: string, probe: () => Record<string, unknown> | undefined) => {
      const deadline = Date.now() + 20_000
      for (;;) {
        const found = probe()
        if (found !== undefined) return found
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${raw.join('\n')}`)
        await new Promise((r) => setTimeout(r, 25))
      }
    }
    const count = (msg: string) => lines().filter((l) => l.msg === msg).length

    await waitFor('the signed bundle to load', () => lines().find((l) => l.msg === 'bundle loaded'))
    const client = createClient({ address: `127.0.0.1:${port}` })
    const token = await issuer.mint(claims)
    try {
      expect(await client.check({ token, action: 'read', resource: trade })).toMatchObject({ allow: true, policyRevision: 'p1' })

      await install(await bundle('p2-unsigned.tar.gz', 'p2'), active)
      child.kill('SIGHUP')
      const rejected = await waitFor('the unsigned bundle to be rejected', () => lines().find((l) => l.msg === 'bundle rejected'))
      expect(rejected).toMatchObject({ serving: 'p1', error: { code: 'ERR_BUNDLE_SIGNATURE_MISSING' } })
      expect(await client.check({ token, action: 'read', resource: trade })).toMatchObject({ allow: true, policyRevision: 'p1' })

      await install(await bundle('p3.tar.gz', 'p3', keys), active)
      child.kill('SIGHUP')
      await waitFor('the newly signed bundle to load', () => (count('bundle loaded') >= 2 ? {} : undefined))
      expect(lines().filter((l) => l.msg === 'bundle loaded').at(-1)).toMatchObject({ revision: 'p3', signature: { keyId: keys.kid } })
      expect(await client.check({ token, action: 'read', resource: trade })).toMatchObject({ allow: true, policyRevision: 'p3' })
    } finally {
      client.close()
    }
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
    children.delete(child)
  }, 60_000)
})
