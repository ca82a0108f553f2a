/**
 * End to end: a batch of hostile access tokens thrown at the real sidecar process over gRPC
 * through the SDK. Two trusted issuers (RS256 keys in a JWKS file, ES256 keys from a local HTTP
 * JWKS server) come from a YAML config file, with scope gating and a claims mapping. Each case
 * asserts the exact deny code; afterwards the process must still be up and still allow.
 */
import { execFile, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createPublicKey, createHmac } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient, DecisionCode } from '../../sdk/src/index.js'
import type { Decision, VerdictClient } from '../../sdk/src/index.js'
import { createTestIssuer, writeJwks } from '../helpers/tokens.js'
import type { TestIssuer } from '../helpers/tokens.js'

const root = join(import.meta.dirname, '..', '..')
const bin = join(root, 'bin', 'verdict.js')
const CORP = 'https://idp.corp.test'
const PARTNER = 'https://idp.partner.test'
const CORP_AUD = 'trades-api'
const PARTNER_AUD = 'trades-partner'
const SKEW_S = 5

const john = { scope: 'trades', sub: '8027379034', user_id: 2998, roles: ['trader'], locations: ['NY'] }
// The partner IdP names roles `groups`; the config maps them to `roles` for the policy.
const partnerJohn = { scope: 'trades openid', sub: 'p-1', user_id: 2998, groups: ['trader'], locations: ['NY'] }
const resource = { type: 'trade', id: 't-1', properties: { owner_id: 2998, location: 'NY' } }

let dir: string
let jwksFile: string
let sidecar: ChildProcess
let jwksServer: Server
let jwksRequests = 0
let stderr = ''
let client: VerdictClient
let corp: TestIssuer
let corpNext: TestIssuer
let partner: TestIssuer
let stranger: TestIssuer

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')
const now = () => Math.floor(Date.now() / 1000)

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const value = await probe().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}\n${stderr}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const check = (token: string, action = 'read'): Promise<Decision> => client.check({ token, action, resource })

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-hostile-'))
  const bundle = join(dir, 'trades.tar.gz')
  await promisify(execFile)(process.execPath, [bin, 'build', 'policies/trades', '-o', bundle], { cwd: root })

  corp = await createTestIssuer({ alg: 'RS256', issuer: CORP, audience: CORP_AUD, kid: 'corp-2026-01' })
  corpNext = await createTestIssuer({ alg: 'RS256', issuer: CORP, audience: CORP_AUD, kid: 'corp-2026-02' })
  partner = await createTestIssuer({ alg: 'ES256', issuer: PARTNER, audience: PARTNER_AUD, kid: 'partner-1' })
  // Same kid as a trusted key, different key pair: an attacker's look-alike.
  stranger = await createTestIssuer({ alg: 'RS256', issuer: CORP, audience: CORP_AUD, kid: 'corp-2026-01' })
  jwksFile = join(dir, 'corp-jwks.json')
  await writeJwks(jwksFile, [corp, corpNext])

  jwksServer = createServer((_req, res) => {
    jwksRequests++
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ keys: [partner.jwk] }))
  })
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve))
  const port = (jwksServer.address() as { port: number }).port

  const config = join(dir, 'verdict.yaml')
  await writeFile(
    config,
    [
      `bundle: ${JSON.stringify(bundle)}`,
      'grpc: 127.0.0.1:0',
      'service: trades-api',
      'token:',
      `  clock_skew: ${SKEW_S}s`,
      '  maxTokenAge: 1h',
      '  requiredScopes: [trades]',
      '  jwksCache: { cooldown: 1s, fileCheckInterval: 200ms }',
      '  issuers:',
      `    - issuer: ${CORP}`,
      `      jwks: { file: ${JSON.stringify(jwksFile)} }`,
      `      audiences: [${CORP_AUD}]`,
      '      algorithms: [RS256]',
      `    - issuer: ${PARTNER}`,
      `      jwks: { url: "http://127.0.0.1:${port}/jwks.json" }`,
      `      audiences: [${PARTNER_AUD}]`,
      '      algorithms: [ES256]',
      '      typ: [at+jwt, application/at+jwt]',
      '      claimsMapping: { claims: { roles: groups } }',
      '',
    ].join('\n'),
  )

  sidecar = spawn(process.execPath, [bin, 'serve', '--insecure-skip-bundle-verification', '--config', config], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  sidecar.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const address = await waitFor('the listening log line', async () => {
    for (const line of stderr.split('\n')) {
      if (!line.startsWith('{')) continue
      const entry = JSON.parse(line) as { msg?: string; address?: string }
      if (entry.msg === 'listening') return entry.address
    }
    return undefined
  })
  client = createClient({ address })
}, 60_000)

afterAll(async () => {
  client?.close()
  if (sidecar && sidecar.exitCode === null) sidecar.kill('SIGKILL')
  await new Promise((r) => jwksServer?.close(r))
  await rm(dir, { recursive: true, force: true })
})

/** One hostile token and the exact code it must be denied with. */
interface HostileCase {
  name: string
  code: DecisionCode
  token: () => Promise<string>
}

/** A token whose header and payload are written by hand, with a junk signature. */
async function forge(header: Record<string, unknown>, payload: Record<string, unknown>): Promise<string> {
  return `${b64(header)}.${b64(payload)}.${b64('not-a-signature')}`
}

const claims = (extra: Record<string, unknown> = {}) => ({
  iss: CORP,
  aud: CORP_AUD,
  sub: '1',
  jti: 'j',
  iat: now(),
  exp: now() + 300,
  scope: 'trades',
  ...extra,
})

const cases: HostileCase[] = [
  {
    name: 'alg none, no signature',
    code: DecisionCode.TOKEN_INVALID,
    token: async () => `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64(claims())}.`,
  },
  {
    name: 'HS256 signed with the RSA public key as HMAC secret',
    code: DecisionCode.TOKEN_INVALID,
    token: async () => {
      const pem = createPublicKey({ key: corp.jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' })
      const signingInput = `${b64({ alg: 'HS256', typ: 'at+jwt', kid: corp.kid })}.${b64(claims(john))}`
      return `${signingInput}.${createHmac('sha256', pem).update(signingInput).digest('base64url')}`
    },
  },
  {
    name: 'unknown kid',
    code: DecisionCode.TOKEN_UNKNOWN_KEY,
    token: () => corp.mint(john, { header: { kid: 'no-such-key' } }),
  },
  {
    name: 'kid with a path',
    code: DecisionCode.TOKEN_UNKNOWN_KEY,
    token: () => corp.mint(john, { header: { kid: '../../../../etc/passwd' } }),
  },
  {
    name: 'kid with SQL',
    code: DecisionCode.TOKEN_UNKNOWN_KEY,
    token: () => corp.mint(john, { header: { kid: "x' OR '1'='1'; DROP TABLE keys; --" } }),
  },
  {
    name: 'kid that is not a string',
    code: DecisionCode.TOKEN_MALFORMED,
    token: () => corp.mint(john, { header: { kid: { $ne: null } } }),
  },
  {
    name: 'kid of 300 characters',
    code: DecisionCode.TOKEN_MALFORMED,
    token: () => corp.mint(john, { header: { kid: 'k'.repeat(300) } }),
  },
  {
    name: 'jku header pointing elsewhere',
    code: DecisionCode.TOKEN_MALFORMED,
    token: () => corp.mint(john, { header: { jku: 'https://evil.test/jwks.json' } }),
  },
  {
    name: 'x5u header pointing elsewhere',
    code: DecisionCode.TOKEN_MALFORMED,
    token: () => corp.mint(john, { header: { x5u: 'https://evil.test/cert.pem' } }),
  },
  {
    name: 'embedded jwk header (the attacker key)',
    code: DecisionCode.TOKEN_MALFORMED,
    token: () => stranger.mint(john, { header: { jwk: stranger.jwk } }),
  },
  {
    name: 'crit header',
    code: DecisionCode.TOKEN_MALFORMED,
    token: () => forge({ alg: 'RS256', typ: 'at+jwt', kid: corp.kid, crit: ['x-trust-me'], 'x-trust-me': 1 }, claims(john)),
  },
  {
    name: 'expired by one second beyond the skew',
    code: DecisionCode.TOKEN_EXPIRED,
    token: () => corp.mint({ ...john, exp: now() - SKEW_S - 2 }),
  },
  {
    name: 'nbf in the future',
    code: DecisionCode.TOKEN_NOT_YET_VALID,
    token: () => corp.mint(john, { notBefore: 600 }),
  },
  {
    name: 'iat in the future',
    code: DecisionCode.TOKEN_NOT_YET_VALID,
    token: () => corp.mint(john, { issuedAt: now() + 600 }),
  },
  {
    name: 'older than the configured max token age',
    code: DecisionCode.TOKEN_EXPIRED,
    token: () => corp.mint(john, { issuedAt: now() - 7200, expiresIn: 600 }),
  },
  {
    name: 'wrong aud',
    code: DecisionCode.TOKEN_WRONG_AUDIENCE,
    token: () => corp.mint(john, { aud: 'payments-api' }),
  },
  {
    name: 'aud as an array without ours',
    code: DecisionCode.TOKEN_WRONG_AUDIENCE,
    token: () => corp.mint(john, { aud: ['payments-api', 'ledger-api'] }),
  },
  {
    name: 'second issuer token with the first issuer audience',
    code: DecisionCode.TOKEN_WRONG_AUDIENCE,
    token: () => partner.mint(partnerJohn, { aud: CORP_AUD }),
  },
  {
    name: 'wrong iss',
    code: DecisionCode.TOKEN_UNTRUSTED_ISSUER,
    token: () => corp.mint(john, { iss: 'https://idp.evil.test' }),
  },
  {
    name: 'untrusted issuer signed by a trusted key',
    code: DecisionCode.TOKEN_UNTRUSTED_ISSUER,
    token: () => corp.mint(john, { iss: 'https://idp.corp.test/' }),
  },
  {
    name: 'first issuer token claiming the second issuer',
    code: DecisionCode.TOKEN_INVALID,
    token: () => corp.mint(john, { iss: PARTNER, aud: PARTNER_AUD }),
  },
  {
    name: 'missing iss',
    code: DecisionCode.TOKEN_INVALID,
    token: () => corp.mint(john, { iss: null }),
  },
  {
    name: 'missing exp',
    code: DecisionCode.TOKEN_INVALID,
    token: () => corp.mint(john, { expiresIn: null }),
  },
  {
    name: 'exp that is not a number',
    code: DecisionCode.TOKEN_INVALID,
    token: () => corp.mint({ ...john, exp: 'tomorrow' }),
  },
  {
    name: 'typ JWT where at+jwt is required',
    code: DecisionCode.TOKEN_WRONG_TYPE,
    token: () => corp.mint(john, { typ: 'JWT' }),
  },
  {
    name: 'no typ',
    code: DecisionCode.TOKEN_WRONG_TYPE,
    token: () => corp.mint(john, { typ: null }),
  },
  {
    name: 'a 1 MB token',
    code: DecisionCode.TOKEN_TOO_LARGE,
    token: () => corp.mint({ ...john, pad: 'x'.repeat(1024 * 1024) }),
  },
  {
    name: 'bad base64url',
    code: DecisionCode.TOKEN_MALFORMED,
    token: async () => `${b64({ alg: 'RS256', typ: 'at+jwt' })}.eyJ+/==.c2ln`,
  },
  {
    name: 'payload that is not JSON',
    code: DecisionCode.TOKEN_MALFORMED,
    token: () => forge({ alg: 'RS256', typ: 'at+jwt', kid: corp.kid }, {}).then((t) => {
      const [h, , s] = t.split('.')
      return `${h}.${b64('{"iss": "https://idp.corp.test", oops')}.${s}`
    }),
  },
  {
    name: 'payload that is a JSON array',
    code: DecisionCode.TOKEN_MALFORMED,
    token: async () => `${b64({ alg: 'RS256', typ: 'at+jwt' })}.${b64([1, 2])}.${b64('sig')}`,
  },
  {
    name: 'deeply nested JSON',
    code: DecisionCode.TOKEN_MALFORMED,
    token: async () => `${b64({ alg: 'RS256', typ: 'at+jwt' })}.${b64(`{"a":${'['.repeat(500)}${']'.repeat(500)}}`)}.${b64('sig')}`,
  },
  {
    name: 'header that is not JSON',
    code: DecisionCode.TOKEN_MALFORMED,
    token: async () => `${b64('RS256')}.${b64(claims())}.${b64('sig')}`,
  },
  {
    name: 'a JWE instead of a JWS',
    code: DecisionCode.TOKEN_MALFORMED,
    token: async () => `${b64({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.${b64('key')}.${b64('iv')}.${b64('ct')}.${b64('tag')}`,
  },
  {
    name: 'only two segments',
    code: DecisionCode.TOKEN_MALFORMED,
    token: async () => `${b64({ alg: 'RS256', typ: 'at+jwt' })}.${b64(claims())}`,
  },
  {
    name: 'tampered payload (roles raised to admin)',
    code: DecisionCode.TOKEN_SIGNATURE_INVALID,
    token: async () => {
      const [h, , s] = (await corp.mint(john)).split('.')
      return `${h}.${b64(claims({ ...john, roles: ['admin'] }))}.${s}`
    },
  },
  {
    name: 'signed by an attacker key that reuses a trusted kid',
    code: DecisionCode.TOKEN_SIGNATURE_INVALID,
    token: () => stranger.mint(john),
  },
  {
    name: 'RS256 token for the ES256-only issuer',
    code: DecisionCode.TOKEN_INVALID,
    token: () => corp.mint(partnerJohn, { iss: PARTNER, aud: PARTNER_AUD }),
  },
  {
    name: 'second issuer with an unknown kid (refetch, still unknown)',
    code: DecisionCode.TOKEN_UNKNOWN_KEY,
    token: () => partner.mint(partnerJohn, { header: { kid: 'partner-9' } }),
  },
  {
    name: 'missing the required scope',
    code: DecisionCode.INSUFFICIENT_SCOPE,
    token: () => corp.mint({ ...john, scope: 'payments openid' }),
  },
  {
    name: 'scope array without the required scope',
    code: DecisionCode.INSUFFICIENT_SCOPE,
    token: () => partner.mint({ ...partnerJohn, scope: ['openid', 'trades:read'] }),
  },
  { name: 'empty token', code: DecisionCode.TOKEN_MISSING, token: async () => '' },
  { name: 'whitespace-only token', code: DecisionCode.TOKEN_MISSING, token: async () => ' \n\t ' },
  {
    name: 'valid token with a trailing newline',
    code: DecisionCode.TOKEN_MALFORMED,
    token: async () => `${await corp.mint(john)}\n`,
  },
  {
    name: 'valid token with a leading space',
    code: DecisionCode.TOKEN_MALFORMED,
    token: async () => ` ${await corp.mint(john)}`,
  },
  {
    name: 'valid token with a newline inside',
    code: DecisionCode.TOKEN_MALFORMED,
    token: async () => (await corp.mint(john)).replace('.', '.\n'),
  },
  {
    name: 'Bearer prefix left in the token',
    code: DecisionCode.TOKEN_MALFORMED,
    token: async () => `Bearer ${await corp.mint(john)}`,
  },
]

describe('hostile tokens against the sidecar', () => {
  it('has at least 30 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30)
  })

  it('allows good tokens from both issuers, the partner roles mapped from groups', async () => {
    expect(await check(await corp.mint(john))).toMatchObject({ allow: true, code: DecisionCode.OK })
    expect(await check(await corpNext.mint(john))).toMatchObject({ allow: true, code: DecisionCode.OK })
    // create needs a role that grants it: the policy reads input.token.roles.
    const viaPartner = await check(await partner.mint(partnerJohn), 'create')
    expect(viaPartner).toMatchObject({ allow: true, code: DecisionCode.OK })
    const noGroups = await check(await partner.mint({ ...partnerJohn, groups: ['analyst'] }), 'create')
    expect(noGroups).toMatchObject({ allow: false, code: DecisionCode.POLICY_DENIED })
  })

  it.each(cases.map((c) => [c.name, c] as const))('denies %s with its exact code', async (_, c) => {
    const d = await check(await c.token())
    expect({ allow: d.allow, code: d.code }).toEqual({ allow: false, code: c.code })
  })

  it('denies a signature from a key rotated out of the JWKS file while running', async () => {
    const old = await corp.mint(john)
    expect(await check(old)).toMatchObject({ allow: true })
    await writeJwks(jwksFile, [corpNext])
    const d = await waitFor('the rotation to take effect', async () => {
      const r = await check(old)
      return r.allow ? undefined : r
    })
    expect(d.code).toBe(DecisionCode.TOKEN_UNKNOWN_KEY)
    expect(await check(await corpNext.mint(john))).toMatchObject({ allow: true })
  })

  it('stays up and keeps answering correct decisions after the hostile batch', async () => {
    expect(sidecar.exitCode).toBeNull()
    expect(sidecar.signalCode).toBeNull()
    expect(await check(await corpNext.mint(john))).toMatchObject({ allow: true, code: DecisionCode.OK })
    expect(await check(await partner.mint(partnerJohn))).toMatchObject({ allow: true, code: DecisionCode.OK })
    const other = await client.check({
      token: await corpNext.mint(john),
      action: 'read',
      resource: { ...resource, properties: { owner_id: 1, location: 'NY' } },
    })
    expect(other).toMatchObject({ allow: false, code: DecisionCode.POLICY_DENIED })
    // The partner JWKS is fetched lazily and refetched at most once per cooldown, not per token.
    expect(jwksRequests).toBeGreaterThanOrEqual(1)
    expect(jwksRequests).toBeLessThan(5)
  })
})
