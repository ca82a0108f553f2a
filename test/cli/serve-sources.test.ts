/**
 * `verdict serve` with remote bundle sources, end to end: a real sidecar configured through
 * `loadServeConfig`, real gRPC checks with real tokens, a real node:http bundle server and a real
 * nats-server. What a caller sees is the contract: NO_POLICY until a bundle loads, then the
 * revision that serves, through changes, outages and restarts.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '../../sdk/src/index.js'
import { createSigningKey } from '../../src/bundle/index.js'
import { publishBundle, startSidecar } from '../../src/cli/index.js'
import type { Sidecar } from '../../src/cli/index.js'
import { loadServeConfig } from '../../src/config/index.js'
import { startBundleServer } from '../helpers/bundle-server.js'
import type { BundleServer } from '../helpers/bundle-server.js'
import { collectingLogger, tradesBundle } from '../helpers/bundles.js'
import { startNatsServer } from '../helpers/nats-server.js'
import { createTestSigningKeys, writeTestKeyFiles } from '../helpers/signing-keys.js'
import type { NatsServerHandle } from '../helpers/nats-server.js'
import { createTestIssuer, writeJwks } from '../helpers/tokens.js'
import type { TestIssuer } from '../helpers/tokens.js'
import { waitFor } from '../helpers/wait.js'

const claims = { scope: 'trades', user_id: 7, roles: ['trader'], locations: ['NY'] }
const trade = { type: 'trade', id: 't', properties: { owner_id: 7, location: 'NY' } }

let dir: string
let issuer: TestIssuer
const running: Sidecar[] = []
let server: BundleServer | undefined
let nats: NatsServerHandle | undefined

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-serve-sources-'))
  issuer = await createTestIssuer({ alg: 'ES256' })
  await writeJwks(join(dir, 'jwks.json'), [issuer])
})
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop()
  await server?.close()
  await nats?.stop()
  server = undefined
  nats = undefined
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** Starts a sidecar on `bundle` with the given extra flags, audit discarded, logs collected. */
async function serve(bundle: string, flags: Record<string, string>, env: Record<string, string> = {}) {
  const config = loadServeConfig({
    flags: {
      'insecure-skip-bundle-verification': 'true',
      bundle,
      jwks: join(dir, 'jwks.json'),
      issuer: issuer.issuer,
      audience: issuer.audience,
      grpc: '127.0.0.1:0',
      http: 'off',
      'shutdown-grace': '1s',
      ...flags,
    },
    env,
  })
  config.audit = { output: new Writable({ write: (_chunk, _enc, cb) => cb() }) }
  const { logger, lines } = collectingLogger('info')
  const sidecar = await startSidecar(config, logger)
  running.push(sidecar)
  const client = createClient({ address: sidecar.address })
  const token = await issuer.mint(claims)
  const check = () => client.check({ token, action: 'read', resource: trade })
  /** Resolves once checks are answered by `revision`. */
  const serving = (revision: string) =>
    waitFor(`checks answered by ${revision}`, async () => {
      const answer = await check()
      return answer.policyRevision === revision && answer.allow ? answer : undefined
    })
  return { sidecar, lines, check, serving, close: () => client.close() }
}

describe('serve --bundle https://…', () => {
  it('fails closed until the server delivers, swaps on change, keeps the last good through errors, and restarts from the cache', async () => {
    const cache = join(dir, 'http-cache')
    server = await startBundleServer()
    server.handler = (_req, res) => void res.writeHead(503).end()
    const flags = { 'bundle-poll': '1s', 'bundle-cache': cache }
    const env = { VERDICT_BUNDLE_TOKEN: 's3cret' }
    const first = await serve(server.url(), flags, env)
    try {
      expect((await first.check()).code).toBe('NO_POLICY')
      expect(first.lines.find((l) => l.msg === 'no cached bundle to fall back on; failing closed until the source delivers')).toBeDefined()

      server.serve(await tradesBundle('r1'), '"r1"')
      await first.serving('r1')
      server.serve(await tradesBundle('r2'), '"r2"')
      await first.serving('r2')
      expect(first.lines.filter((l) => l.msg === 'bundle loaded').map((l) => [l.revision, l.etag, l.bundle])).toEqual([
        ['r1', '"r1"', server.url()],
        ['r2', '"r2"', server.url()],
      ])

      // The server breaks: failures are logged and retried, checks go on with r2.
      const failed = first.lines.length
      server.handler = (_req, res) => void res.writeHead(500).end()
      await waitFor('a failed poll', () => first.lines.slice(failed).some((l) => l.msg === 'bundle fetch failed'))
      expect(await first.check()).toMatchObject({ allow: true, policyRevision: 'r2' })
      // The scrape shows the failures and when the source last answered well.
      const s = first.sidecar.snapshot()
      expect(s.policy.fetchFailures).toBeGreaterThanOrEqual(2) // the 503s at start and the 500
      expect(s.policy.lastFetchSeconds).toBeGreaterThan(0)
      // Every request carried the token from the environment.
      expect(new Set(server.requests.map((r) => r.authorization))).toEqual(new Set(['Bearer s3cret']))
    } finally {
      first.close()
    }
    await first.sidecar.stop()
    expect(JSON.parse(await readFile(join(cache, 'bundle.json'), 'utf8'))).toMatchObject({ revision: 'r2', etag: '"r2"' })

    // A restart while the server is down serves the cached r2, and keeps polling.
    await server.close()
    const second = await serve(server.url(), flags, env)
    try {
      expect(await second.check()).toMatchObject({ allow: true, policyRevision: 'r2' })
      expect(second.lines.find((l) => l.msg === 'serving the cached last good bundle; the source is unavailable and is retried')).toMatchObject({
        revision: 'r2',
        source: 'http',
      })
      await server.listen()
      server.serve(await tradesBundle('r3'), '"r3"')
      await second.serving('r3')
    } finally {
      second.close()
    }
  })

  it('reloads on SIGHUP (reload) at once instead of waiting for the poll', async () => {
    server = await startBundleServer()
    server.serve(await tradesBundle('r1'), '"r1"')
    const s = await serve(server.url(), { 'bundle-poll': '1h', 'bundle-cache': 'off' })
    try {
      await s.serving('r1')
      server.serve(await tradesBundle('r2'), '"r2"')
      expect(await s.sidecar.reload()).toBe(true)
      expect(await s.check()).toMatchObject({ allow: true, policyRevision: 'r2' })
      expect(await s.sidecar.reload()).toBe(false)
      expect(server.requests.map((r) => r.ifNoneMatch)).toEqual([undefined, '"r1"', '"r2"'])
    } finally {
      s.close()
    }
  })
})

describe('serve --bundle https://… --verification-key', () => {
  it('serves only downloads signed with the key, keeping the last good one, and verifies the cache again at restart', async () => {
    const good = createTestSigningKeys('ES256')
    const other = createTestSigningKeys('ES256', 'test-other')
    const files = await writeTestKeyFiles(dir, good)
    const signed = (revision: string, keys = good) =>
      tradesBundle(revision, [], { key: createSigningKey(new TextEncoder().encode(keys.privatePem)), keyId: keys.kid })
    const cache = join(dir, 'signed-cache')
    server = await startBundleServer()
    server.serve(await tradesBundle('unsigned'), '"u"')
    const flags = { 'bundle-poll': '1h', 'bundle-cache': cache, 'insecure-skip-bundle-verification': 'false', 'verification-key': files.pub }
    const s = await serve(server.url(), flags)
    try {
      // Unsigned: rejected, so nothing serves.
      expect((await s.check()).code).toBe('NO_POLICY')
      expect(s.lines.find((l) => l.msg === 'bundle rejected')).toMatchObject({ error: { code: 'ERR_BUNDLE_SIGNATURE_MISSING' } })
      server.serve(await signed('s1'), '"s1"')
      expect(await s.sidecar.reload()).toBe(true)
      expect(await s.check()).toMatchObject({ allow: true, policyRevision: 's1' })
      // Signed with another key: rejected, s1 keeps serving.
      server.serve(await signed('evil', other), '"evil"')
      expect(await s.sidecar.reload()).toBe(false)
      expect(await s.check()).toMatchObject({ allow: true, policyRevision: 's1' })
    } finally {
      s.close()
    }
    await s.sidecar.stop()
    running.splice(running.indexOf(s.sidecar), 1)
    await server.close()

    // The cached s1 is re-verified at restart: with another key configured it does not serve.
    const otherFiles = await writeTestKeyFiles(dir, other)
    const restarted = await serve(server.url(), { ...flags, 'verification-key': otherFiles.pub })
    try {
      expect((await restarted.check()).code).toBe('NO_POLICY')
      expect(restarted.lines.find((l) => l.msg === 'cached bundle rejected')).toMatchObject({ error: { code: 'ERR_BUNDLE_SIGNATURE' } })
    } finally {
      restarted.close()
    }
  })
})

describe('serve --bundle nats://…', () => {
  it('swaps to each published revision, keeps serving through a server outage, and restarts from the cache', async () => {
    nats = await startNatsServer()
    const cache = join(dir, 'nats-cache')
    const bundle = async (revision: string) => {
      const path = join(dir, `${revision}.tar.gz`)
      await writeFile(path, await tradesBundle(revision))
      return path
    }
    const publish = async (revision: string) =>
      publishBundle({ bundle: await bundle(revision), servers: [nats!.url], bucket: 'verdict-bundles', name: 'trades.tar.gz', skipVerification: true })
    const url = `${nats.url}/verdict-bundles/trades.tar.gz`

    const r1 = await publish('r1')
    expect(r1.url).toBe(url)
    const first = await serve(url, { 'bundle-cache': cache })
    try {
      expect(await first.check()).toMatchObject({ allow: true, policyRevision: 'r1' })
      expect(first.lines.find((l) => l.msg === 'bundle loaded')).toMatchObject({ source: 'nats', bundle: url, etag: r1.digest, revision: 'r1' })
      await publish('r2')
      await first.serving('r2')

      // The server dies: decisions go on with r2.
      await nats.kill()
      await waitFor('the disconnect', () => first.lines.some((l) => l.msg === 'bundle source disconnected; the active bundle keeps serving'))
      for (let i = 0; i < 3; i++) expect(await first.check()).toMatchObject({ allow: true, policyRevision: 'r2' })

      await nats.start()
      await waitFor('the reconnect', () => first.lines.some((l) => l.msg === 'bundle source reconnected'))
      await publish('r3')
      await first.serving('r3')
    } finally {
      first.close()
    }
    await first.sidecar.stop()

    // A restart while NATS is down serves the cached r3, then follows the bucket again.
    await nats.kill()
    const second = await serve(url, { 'bundle-cache': cache })
    try {
      expect(await second.check()).toMatchObject({ allow: true, policyRevision: 'r3' })
      await nats.start()
      await waitFor('the source to connect', () => second.lines.some((l) => l.msg === 'bundle source connected'))
      await publish('r4')
      await second.serving('r4')
    } finally {
      second.close()
    }
  })
})
