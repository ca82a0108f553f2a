/**
 * Token verification benchmark (`npm run bench:token`): the cost of one verification
 * - on the first sight of a token (full checks and signature; every token distinct),
 * - on a cached token (the verification cache),
 * - of raw node:crypto `crypto.verify` with the same RSA key on a pre-parsed token (the floor),
 * measured in the same run, reported in µs and as ratios to the raw floor.
 */
import { createPublicKey, verify as cryptoVerify } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTokenVerifier } from '../src/token/index.js'
import { createTestIssuer, writeJwks } from '../test/helpers/tokens.js'

const POOL = Number(process.env.BENCH_TOKEN_POOL ?? 4000)
const ROUNDS = 5

const dir = await mkdtemp(join(tmpdir(), 'verdict-bench-token-'))
const issuer = await createTestIssuer({ alg: 'RS256', issuer: 'https://idp.bench', audience: 'api' })
const jwks = join(dir, 'jwks.json')
await writeJwks(jwks, [issuer])
const claims = { scope: 'trades', roles: ['trader'], user_id: 2998, locations: ['NY'] }
const tokens: string[] = []
for (let i = 0; i < POOL; i++) tokens.push(await issuer.mint({ ...claims, n: i }))

const verifier = createTokenVerifier({
  issuers: [{ issuer: issuer.issuer, jwks: { file: jwks }, audiences: ['api'] }],
  clockSkewMs: 30_000,
  maxTokenBytes: 8192,
  requiredScopes: ['trades'],
  cache: { maxEntries: POOL * 2, ttlMs: 60_000 },
})

// The floor: a pre-parsed token and a pre-imported key, nothing but the RSA verification.
const publicKey = createPublicKey({ key: issuer.jwk as never, format: 'jwk' })
const parsed = tokens.map((t) => {
  const dot = t.lastIndexOf('.')
  return { data: Buffer.from(t.slice(0, dot)), sig: Buffer.from(t.slice(dot + 1), 'base64url') }
})

function rawPass(): number {
  const start = process.hrtime.bigint()
  for (const p of parsed) {
    if (!cryptoVerify('sha256', p.data, publicKey, p.sig)) throw new Error('raw verify failed')
  }
  return Number(process.hrtime.bigint() - start) / parsed.length
}

/** Every token seen for the first time: a fresh verifier cache each pass. */
async function firstSightPass(): Promise<number> {
  const v = createTokenVerifier({
    issuers: [{ issuer: issuer.issuer, jwks: { file: jwks }, audiences: ['api'] }],
    clockSkewMs: 30_000,
    maxTokenBytes: 8192,
    requiredScopes: ['trades'],
    cache: { maxEntries: POOL * 2, ttlMs: 60_000 },
  })
  await v.verify(tokens[0]!) // load the key set outside the timing
  const start = process.hrtime.bigint()
  for (let i = 1; i < tokens.length; i++) await v.verify(tokens[i]!)
  const ns = Number(process.hrtime.bigint() - start) / (tokens.length - 1)
  v.close()
  return ns
}

async function cachedPass(): Promise<number> {
  for (const t of tokens) await verifier.verify(t)
  const start = process.hrtime.bigint()
  for (let r = 0; r < 5; r++) for (const t of tokens) await verifier.verify(t)
  return Number(process.hrtime.bigint() - start) / (tokens.length * 5)
}

const best = { raw: Infinity, first: Infinity, cached: Infinity }
for (let r = 0; r < ROUNDS; r++) {
  best.raw = Math.min(best.raw, rawPass())
  best.first = Math.min(best.first, await firstSightPass())
  best.cached = Math.min(best.cached, await cachedPass())
}
verifier.close()
await rm(dir, { recursive: true, force: true })

const us = (ns: number) => (ns / 1000).toFixed(2).padStart(9)
const row = (name: string, ns: number) =>
  `${name.padEnd(34)}${us(ns)} µs   ${(ns / best.raw).toFixed(2).padStart(6)}× raw`
console.log(`token verification, RS256 2048-bit, ${POOL} distinct tokens, best of ${ROUNDS}`)
console.log(row('raw node:crypto verify (floor)', best.raw))
console.log(row('Verdict first sight', best.first))
console.log(row('Verdict cached', best.cached))
const target = best.first / best.raw <= 2
console.log(`first sight ≤ 2× raw: ${target ? 'yes' : 'NO'}`)
