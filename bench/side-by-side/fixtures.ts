/**
 * What every target of the side-by-side benchmark is asked: an RS256 issuer made for this run,
 * token profiles, and a mix of trades requests whose answers are known in advance, so every
 * response can be checked instead of trusted.
 *
 * @module
 */
import { writeFile } from 'node:fs/promises'
import { SignJWT, exportJWK, generateKeyPair } from 'jose'
import type { CryptoKey } from 'jose'

/** Issuer and audience the bench tokens carry and every target is configured with. */
export const BENCH_ISSUER = 'https://idp.bench.verdict.local'
export const BENCH_AUDIENCE = 'trades-api'
const KID = 'bench-rs256'

/** Claims that differ between callers; the rest (iss, aud, exp, jti...) is the same for all. */
export interface TokenProfile {
  sub: string
  user_id: number
  scope: string
  roles: string[]
  locations: string[]
}

/** The callers of the mix, keyed by name. */
export const PROFILES = {
  trader: {
    sub: 'u-2998',
    user_id: 2998,
    scope: 'trades',
    roles: ['trader'],
    locations: ['NY', 'LDN'],
  },
  analyst: {
    sub: 'u-3001',
    user_id: 3001,
    scope: 'trades reports',
    roles: ['analyst'],
    locations: ['NY'],
  },
  outsider: {
    sub: 'u-4100',
    user_id: 4100,
    scope: 'reports',
    roles: ['trader'],
    locations: ['NY'],
  },
} as const satisfies Record<string, TokenProfile>

/**
 * The whole claim set a bench token of `profile` carries, issued at `iat` (seconds): for
 * benchmarks that need the claims or a token-shaped string without signing.
 */
export function benchClaims(profile: ProfileName, iat = 1_764_520_000) {
  const p = PROFILES[profile]
  return {
    iss: BENCH_ISSUER,
    aud: BENCH_AUDIENCE,
    sub: p.sub,
    user_id: p.user_id,
    scope: p.scope,
    roles: [...p.roles] as string[],
    locations: [...p.locations] as string[],
    client_id: 'bench',
    iat,
    exp: iat + 3600,
    jti: 'bench-12345-678',
  }
}

/** A profile name. */
export type ProfileName = keyof typeof PROFILES

/** One kind of request with the answer the trades policy must give. */
export interface BenchCase {
  profile: ProfileName
  action: string
  resourceId: string
  ownerId: number
  location: string
  allow: boolean
}

/**
 * The request mix: allows and denies for each rule of policies/trades, so a target that skips a
 * check (or verifies nothing) shows up as wrong answers.
 */
export const CASES: readonly BenchCase[] = [
  {
    profile: 'trader',
    action: 'read',
    resourceId: 't-1',
    ownerId: 2998,
    location: 'NY',
    allow: true,
  },
  {
    profile: 'trader',
    action: 'update',
    resourceId: 't-2',
    ownerId: 2998,
    location: 'LDN',
    allow: true,
  },
  {
    profile: 'trader',
    action: 'read',
    resourceId: 't-3',
    ownerId: 9999,
    location: 'NY',
    allow: false,
  },
  {
    profile: 'trader',
    action: 'cancel',
    resourceId: 't-4',
    ownerId: 2998,
    location: 'TYO',
    allow: false,
  },
  {
    profile: 'analyst',
    action: 'read',
    resourceId: 't-5',
    ownerId: 3001,
    location: 'NY',
    allow: true,
  },
  {
    profile: 'analyst',
    action: 'create',
    resourceId: 't-6',
    ownerId: 3001,
    location: 'NY',
    allow: false,
  },
  {
    profile: 'outsider',
    action: 'read',
    resourceId: 't-7',
    ownerId: 4100,
    location: 'NY',
    allow: false,
  },
  {
    profile: 'trader',
    action: 'create',
    resourceId: 't-8',
    ownerId: 2998,
    location: 'NY',
    allow: true,
  },
]

/** A token for one case, in the order the load generator sends them. */
export interface BenchRequest {
  /** Index into {@link CASES}. */
  caseIndex: number
  token: string
  /** Signed by a key the targets do not trust (same kid): the answer must be a rejection. */
  forged?: boolean
}

/** The run's signing key and the JWKS file both targets verify with. */
export interface BenchIssuer {
  jwksPath: string
  /** Signs `count` distinct tokens per profile (distinct jti), all valid for an hour. */
  mint(profile: ProfileName, count: number): Promise<string[]>
  /** One request per case whose token is signed by an untrusted key under the trusted kid. */
  forgedRequests(): Promise<BenchRequest[]>
}

/** Creates a fresh RS256 key pair and writes its public JWKS to `jwksPath`. */
export async function createBenchIssuer(jwksPath: string): Promise<BenchIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true })
  const forger = await generateKeyPair('RS256')
  const pub = { ...(await exportJWK(publicKey)), kid: KID, alg: 'RS256', use: 'sig' }
  await writeFile(jwksPath, JSON.stringify({ keys: [pub] }, null, 2))
  let serial = 0
  const signOne = (claims: TokenProfile, key: CryptoKey = privateKey): Promise<string> =>
    new SignJWT({
      ...claims,
      roles: [...claims.roles],
      locations: [...claims.locations],
      client_id: 'bench',
    })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: KID })
      .setIssuer(BENCH_ISSUER)
      .setAudience(BENCH_AUDIENCE)
      .setSubject(claims.sub)
      .setIssuedAt()
      .setExpirationTime('1h')
      .setJti(`bench-${process.pid}-${serial++}`)
      .sign(key)
  return {
    jwksPath,
    async mint(profile, count) {
      const out: string[] = []
      // WebCrypto signs on the libuv pool, so batches keep both cores busy.
      for (let i = 0; i < count; i += 64) {
        const n = Math.min(64, count - i)
        out.push(
          ...(await Promise.all(Array.from({ length: n }, () => signOne(PROFILES[profile])))),
        )
      }
      return out
    },
    async forgedRequests() {
      return Promise.all(
        CASES.map(async (c, caseIndex) => ({
          caseIndex,
          token: await signOne(PROFILES[c.profile], forger.privateKey),
          forged: true,
        })),
      )
    },
  }
}

/**
 * Builds `count` requests cycling through {@link CASES}. With `distinct`, every request carries
 * a token never sent before (first sight); otherwise each profile reuses one token (cached).
 */
export async function buildRequests(
  issuer: BenchIssuer,
  count: number,
  distinct: boolean,
): Promise<BenchRequest[]> {
  const perProfile = new Map<ProfileName, number>()
  for (let i = 0; i < count; i++) {
    const p = CASES[i % CASES.length]!.profile
    perProfile.set(p, (perProfile.get(p) ?? 0) + 1)
  }
  const pools = new Map<ProfileName, string[]>()
  for (const [p, n] of perProfile) pools.set(p, await issuer.mint(p, distinct ? n : 1))
  const used = new Map<ProfileName, number>()
  const out: BenchRequest[] = []
  for (let i = 0; i < count; i++) {
    const caseIndex = i % CASES.length
    const p = CASES[caseIndex]!.profile
    const k = used.get(p) ?? 0
    used.set(p, k + 1)
    const pool = pools.get(p)!
    out.push({ caseIndex, token: distinct ? pool[k]! : pool[0]! })
  }
  return out
}
