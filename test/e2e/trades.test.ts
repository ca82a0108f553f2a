/**
 * End to end: the real CLI builds and signs the trades bundle, the real sidecar process verifies
 * its signature and serves it over
 * gRPC with a JWKS holding an RSA and an EC key, the SDK asks every allow and deny path, and the
 * audit events are read back from a real nats-server's JetStream stream by decision id.
 */
import { execFile, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import { Client, credentials, Metadata } from '@grpc/grpc-js'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient, DecisionCode } from '../../sdk/src/index.js'
import type { Decision, VerdictClient } from '../../sdk/src/index.js'
import {
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from '../../src/gen/grpc/health/v1/health_pb.js'
import { startNatsServer } from '../helpers/nats-server.js'
import { createTestSigningKeys, writeTestKeyFiles } from '../helpers/signing-keys.js'
import type { NatsServerHandle } from '../helpers/nats-server.js'
import { createTestIssuer, writeJwks } from '../helpers/tokens.js'
import type { TestIssuer } from '../helpers/tokens.js'

const root = join(import.meta.dirname, '..', '..')
const bin = join(root, 'bin', 'verdict.js')
const ISSUER = 'https://idp.trades.test'
const AUDIENCE = 'trades-api'

const john = {
  scope: 'trades',
  sub: '8027379034',
  user_id: 2998,
  given_name: 'John',
  family_name: 'Doe',
  roles: ['trader'],
  locations: ['NY'],
}
const analyst = { ...john, sub: '555', user_id: 3001, roles: ['analyst'] }
const trade = (owner_id: number, location: string) => ({
  type: 'trade',
  id: `t-${owner_id}-${location}`,
  properties: { owner_id, location },
})

let dir: string
let nats: NatsServerHandle
let sidecar: ChildProcess
let stderr = ''
let address: string
let client: VerdictClient
let rsa: TestIssuer
let ec: TestIssuer
const decisions: Decision[] = []

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const value = await probe().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}\n${stderr}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

function healthStatus(addr: string): Promise<number> {
  const c = new Client(addr, credentials.createInsecure())
  return new Promise<number>((resolve, reject) => {
    c.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      (r: ReturnType<typeof create<typeof HealthCheckRequestSchema>>) => Buffer.from(toBinary(HealthCheckRequestSchema, r)),
      (b: Buffer) => fromBinary(HealthCheckResponseSchema, b),
      create(HealthCheckRequestSchema, { service: '' }),
      new Metadata(),
      { deadline: Date.now() + 1000 },
      (err, res) => {
        c.close()
        if (err || !res) reject(err)
        else resolve(res.status)
      },
    )
  })
}

async function check(token: string, action: string, resource: ReturnType<typeof trade>): Promise<Decision> {
  const d = await client.check({ token, action, resource })
  decisions.push(d)
  return d
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-e2e-'))
  nats = await startNatsServer()
  const bundle = join(dir, 'trades.tar.gz')
  const signing = await writeTestKeyFiles(dir, createTestSigningKeys('ES256'))
  await promisify(execFile)(process.execPath, [bin, 'build', 'policies/trades', '-o', bundle, '--signing-key', signing.key], { cwd: root })

  rsa = await createTestIssuer({ alg: 'RS256', issuer: ISSUER, audience: AUDIENCE })
  ec = await createTestIssuer({ alg: 'ES256', issuer: ISSUER, audience: AUDIENCE })
  const jwks = join(dir, 'jwks.json')
  await writeJwks(jwks, [rsa, ec])

  sidecar = spawn(
    process.execPath,
    [
      bin, 'serve',
      '--bundle', bundle,
      '--verification-key', signing.pub,
      '--jwks', jwks,
      '--issuer', ISSUER,
      '--audience', AUDIENCE,
      '--grpc', '127.0.0.1:0',
      '--service', 'trades-api',
      '--nats', nats.url,
      '--audit-spool', join(dir, 'spool'),
    ],
    { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] },
  )
  sidecar.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  address = await waitFor('the listening log line', async () => {
    for (const line of stderr.split('\n')) {
      if (!line.startsWith('{')) continue
      const entry = JSON.parse(line) as { msg?: string; address?: string }
      if (entry.msg === 'listening') return entry.address
    }
    return undefined
  })
  await waitFor('health SERVING', async () =>
    (await healthStatus(address)) === HealthCheckResponse_ServingStatus.SERVING ? true : undefined,
  )
  client = createClient({ address })
}, 60_000)

afterAll(async () => {
  client?.close()
  if (sidecar && sidecar.exitCode === null) sidecar.kill('SIGKILL')
  await nats?.stop()
  await rm(dir, { recursive: true, force: true })
})

describe('verdict sidecar (trades)', () => {
  it('allows the owner to read a trade in their location (RS256 and ES256)', async () => {
    for (const issuer of [rsa, ec]) {
      const d = await check(await issuer.mint(john), 'read', trade(2998, 'NY'))
      expect(d).toMatchObject({ allow: true, code: DecisionCode.OK, reasons: [] })
      expect(d.decisionId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      expect(d.policyRevision).not.toBe('')
    }
  })

  it('allows a trader to create a trade', async () => {
    const d = await check(await rsa.mint(john), 'create', trade(2998, 'NY'))
    expect(d).toMatchObject({ allow: true, code: 'OK' })
  })

  it('denies a token without the trades scope with INSUFFICIENT_SCOPE', async () => {
    const d = await check(await ec.mint({ ...john, scope: 'payments' }), 'read', trade(2998, 'NY'))
    expect(d).toMatchObject({
      allow: false,
      code: DecisionCode.INSUFFICIENT_SCOPE,
      reasons: ['insufficient_scope: token has no trades scope'],
    })
  })

  it('denies someone else\'s trade, a wrong location, and a write without a role', async () => {
    const token = await rsa.mint(john)
    const notOwner = await check(token, 'read', trade(1, 'NY'))
    expect(notOwner).toMatchObject({ allow: false, code: DecisionCode.POLICY_DENIED })
    expect(notOwner.reasons).toEqual(['not_owner: the trade belongs to another user'])

    const wrongLocation = await check(token, 'read', trade(2998, 'LDN'))
    expect(wrongLocation).toMatchObject({ allow: false, code: DecisionCode.POLICY_DENIED })
    expect(wrongLocation.reasons).toEqual(["wrong_location: the trade is booked outside the user's locations"])

    const noRole = await check(await ec.mint(analyst), 'update', trade(3001, 'NY'))
    expect(noRole).toMatchObject({ allow: false, code: DecisionCode.POLICY_DENIED })
    expect(noRole.reasons).toEqual(['missing_permission: no role in the token grants this action'])
  })

  it('denies bad tokens with their TOKEN_* code', async () => {
    const good = await rsa.mint(john)
    const [h, p, s] = good.split('.')
    const flipped = `${s!.startsWith('A') ? 'B' : 'A'}${s!.slice(1)}`
    const cases: [string, string][] = [
      [await rsa.mint(john, { expiresIn: -3600, issuedAt: Math.floor(Date.now() / 1000) - 7200 }), 'TOKEN_EXPIRED'],
      [`${h}.${p}.${flipped}`, 'TOKEN_SIGNATURE_INVALID'],
      [await ec.mint(john, { iss: 'https://evil.test' }), 'TOKEN_UNTRUSTED_ISSUER'],
      [await ec.mint(john, { aud: 'payments-api' }), 'TOKEN_WRONG_AUDIENCE'],
      ['garbage', 'TOKEN_MALFORMED'],
      ['', 'TOKEN_MISSING'],
    ]
    for (const [token, code] of cases) {
      const d = await check(token, 'read', trade(2998, 'NY'))
      expect({ allow: d.allow, code: d.code }, code).toEqual({ allow: false, code })
    }
  })

  it('answers a BatchCheck mixing allow and deny in request order', async () => {
    const results = await client.batchCheck({
      token: await ec.mint(john),
      items: [
        { action: 'read', resource: trade(2998, 'NY') },
        { action: 'cancel', resource: trade(2998, 'NY') },
        { action: 'read', resource: trade(42, 'NY') },
        { action: 'read', resource: trade(2998, 'TKY') },
      ],
    })
    decisions.push(...results)
    expect(results.map((r) => [r.allow, r.code])).toEqual([
      [true, 'OK'],
      [true, 'OK'],
      [false, 'POLICY_DENIED'],
      [false, 'POLICY_DENIED'],
    ])
    expect(new Set(results.map((r) => r.decisionId)).size).toBe(4)
  })

  it('shuts down cleanly on SIGTERM and has published one audit event per decision', async () => {
    const exited = new Promise<number | null>((resolve) => sidecar.once('exit', (code) => resolve(code)))
    sidecar.kill('SIGTERM')
    expect(await exited).toBe(0)

    const nc = await connect({ servers: nats.url })
    try {
      const jsm = await jetstreamManager(nc)
      const info = await jsm.streams.info('VERDICT_AUDIT')
      expect(info.state.messages).toBeGreaterThanOrEqual(decisions.length)
      const consumer = await jetstream(nc).consumers.get('VERDICT_AUDIT')
      const events = new Map<string, { subject: string; event: Record<string, unknown> }>()
      const batch = await consumer.fetch({ max_messages: info.state.messages, expires: 5000 })
      for await (const m of batch) {
        const event = m.json<Record<string, unknown>>()
        events.set(String(event.decision_id), { subject: m.subject, event })
        if (events.size === info.state.messages) break
      }
      for (const d of decisions) {
        const found = events.get(d.decisionId)
        expect(found, d.decisionId).toBeDefined()
        expect(found!.event).toMatchObject({ allow: d.allow, code: d.code, service: 'trades-api' })
        expect(found!.subject).toBe(`verdict.audit.trades-api.${d.allow ? 'allow' : 'deny'}`)
      }
      const denied = events.get(decisions.find((d) => d.code === 'POLICY_DENIED')!.decisionId)!.event
      expect(denied).toMatchObject({ action: 'read', resource: { type: 'trade' } })
    } finally {
      await nc.close()
    }
  }, 30_000)
})
