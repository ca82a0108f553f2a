/**
 * `audit.mask` end to end: sidecars configured through a config file (and env) serve the trades
 * bundle with audit to a real nats-server, answer checks through the SDK, and the events read
 * back from the stream show the configured input fields and token claims masked, while the
 * policy decided on the real values.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '../../sdk/src/index.js'
import type { DecisionEvent } from '../../src/audit/index.js'
import { buildBundle, startSidecar, tailAudit } from '../../src/cli/index.js'
import type { Sidecar } from '../../src/cli/index.js'
import { loadServeConfig } from '../../src/config/index.js'
import { createLogger } from '../../src/server/index.js'
import { startNatsServer } from '../helpers/nats-server.js'
import type { NatsServerHandle } from '../helpers/nats-server.js'
import { createTestIssuer, writeJwks } from '../helpers/tokens.js'
import type { TestIssuer } from '../helpers/tokens.js'

const root = join(import.meta.dirname, '..', '..')
const STREAM = 'MASK_TEST_AUDIT'
const REDACTED = '**REDACTED**'

const claims = {
  scope: 'trades',
  user_id: 7,
  given_name: 'Jane',
  family_name: 'Roe',
  email: 'jane@example.com',
  roles: ['trader'],
  locations: ['NY'],
}
const resource = { type: 'trade', id: 't-7', properties: { owner_id: 7, location: 'NY', ssn: '078-05-1120' } }
const context = { ip: '10.1.2.3', user_agent: 'curl/8', tags: ['a', 'secret-tag'] }

let dir: string
let nats: NatsServerHandle
let issuer: TestIssuer
let configPath: string
const sidecars: Sidecar[] = []
const quiet = createLogger({ level: 'error', stream: { write: () => true } as never })

/** Starts a sidecar from the config file, with these env vars and flags on top. */
async function sidecar(service: string, env: Record<string, string> = {}, flags: Record<string, string> = {}): Promise<Sidecar> {
  const config = loadServeConfig({ flags: { 'insecure-skip-bundle-verification': 'true', config: configPath, service, ...flags }, env })
  const s = await startSidecar(config, quiet)
  sidecars.push(s)
  return s
}

/** Checks once through the SDK; returns the decision. */
async function check(s: Sidecar) {
  const client = createClient({ address: s.address })
  try {
    return await client.check({ token: await issuer.mint(claims), action: 'read', resource, context })
  } finally {
    client.close()
  }
}

/** The events of one service, read back from the stream. */
async function events(service: string): Promise<DecisionEvent[]> {
  const lines: string[] = []
  await tailAudit({ servers: nats.url, stream: STREAM, service, since: new Date(0) }, { line: (l) => void lines.push(l), warn: () => undefined })
  return lines.map((l) => JSON.parse(l) as DecisionEvent)
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-mask-'))
  nats = await startNatsServer()
  issuer = await createTestIssuer({ alg: 'ES256' })
  await writeJwks(join(dir, 'jwks.json'), [issuer])
  const bundle = join(dir, 'trades.tar.gz')
  await buildBundle({ source: join(root, 'policies/trades'), output: bundle, entrypoints: [], revision: 'mask-1' })
  configPath = join(dir, 'verdict.yaml')
  await writeFile(
    configPath,
    [
      `bundle: ${bundle}`,
      'grpc: 127.0.0.1:0',
      'http: off',
      'shutdown_grace: 1s',
      `nats: ${nats.url}`,
      'token:',
      `  jwks: ${join(dir, 'jwks.json')}`,
      `  issuer: ${issuer.issuer}`,
      `  audience: ${issuer.audience}`,
      'audit:',
      `  stream: ${STREAM}`,
      `  spool_dir: ${join(dir, 'spool')}`,
      '  mask:',
      '    paths: [/context/ip, /input/resource/properties/ssn, /context/tags/1, /context/missing]',
      '    safe_claims: [sub, scope, given_name]',
      '',
    ].join('\n'),
  )
}, 60_000)

afterAll(async () => {
  await Promise.all(sidecars.map((s) => s.stop()))
  await nats?.stop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('serve with audit.mask', () => {
  it('masks the configured input paths and every claim but the safe ones, after deciding on the real values', async () => {
    const s = await sidecar('mask-api')
    // The policy checks owner_id and location, which stay; the decision is made before masking.
    expect(await check(s)).toMatchObject({ allow: true, code: 'OK', policyRevision: 'mask-1' })
    await s.stop()

    const [event] = await events('mask-api')
    expect(event).toMatchObject({ service: 'mask-api', allow: true, code: 'OK', subject: { sub: 'user-1' } })
    expect(event!.input!.context).toEqual({ ip: REDACTED, user_agent: 'curl/8', tags: ['a', REDACTED] })
    expect(event!.input!.resource).toEqual({ type: 'trade', id: 't-7', properties: { owner_id: 7, location: 'NY', ssn: REDACTED } })
    expect(event!.input!.token).toMatchObject({
      sub: 'user-1',
      scope: 'trades',
      given_name: 'Jane',
      family_name: REDACTED,
      email: REDACTED,
      user_id: REDACTED,
      roles: REDACTED,
      // Not in this safe list, though in the default one.
      iss: REDACTED,
    })
  })

  it('keeps every token claim with VERDICT_AUDIT_KEEP_TOKEN_CLAIMS, still masking the paths', async () => {
    const s = await sidecar('keep-api', { VERDICT_AUDIT_KEEP_TOKEN_CLAIMS: 'true' })
    expect(await check(s)).toMatchObject({ allow: true })
    await s.stop()

    const [event] = await events('keep-api')
    expect(event!.input!.token).toMatchObject({ family_name: 'Roe', email: 'jane@example.com', user_id: 7, iss: issuer.issuer })
    expect(event!.input!.context).toMatchObject({ ip: REDACTED })
  })

  it('takes --audit-mask and --audit-safe-claims over the file', async () => {
    const s = await sidecar('flag-api', {}, { 'audit-mask': '/context/user_agent', 'audit-safe-claims': 'iss,sub,scope' })
    expect(await check(s)).toMatchObject({ allow: true })
    await s.stop()

    const [event] = await events('flag-api')
    expect(event!.input!.context).toEqual({ ip: '10.1.2.3', user_agent: REDACTED, tags: ['a', 'secret-tag'] })
    expect(event!.input!.token).toMatchObject({ iss: issuer.issuer, sub: 'user-1', given_name: REDACTED })
  })
})
