/**
 * Test helper: a throwaway token issuer with a real key pair (jose `generateKeyPair`), so token
 * tests exercise real signatures. Keys exist only in memory for one test run; nothing private is
 * ever written to the repository. `writeJwks` publishes the issuers' public keys as a JWKS file.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'
import { rename, writeFile } from 'node:fs/promises'
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK, type JWTHeaderParameters } from 'jose'

/** Signing algorithms the helper can create issuers for. */
export type TestAlg = 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA'

/** What {@link createTestIssuer} takes. */
export interface TestIssuerOptions {
  alg?: TestAlg
  /** Default `https://issuer.test`. */
  issuer?: string
  /** Default a random id. */
  kid?: string
  /** Default audience for minted tokens. Default `verdict-test`. */
  audience?: string
}

/** Per-token choices for {@link TestIssuer.mint}. `null` leaves a claim or header out. */
export interface MintOptions {
  /** Seconds from now, or a jose duration like `'5m'`; `null` mints a token without `exp`. */
  expiresIn?: number | string | null
  /** Seconds from now (may be negative), or a jose duration; default none. */
  notBefore?: number | string
  /** Absolute `iat` in seconds; default now. `null` leaves `iat` out. */
  issuedAt?: number | null
  /** Header `typ`; default `at+jwt`; `null` leaves it out. */
  typ?: string | null
  /** Extra or overriding protected-header parameters (`kid`, `jku`, `crit`...). */
  header?: Record<string, unknown>
  /** `aud` claim; default the issuer's audience. `null` leaves it out. */
  aud?: string | string[] | null
  /** `iss` claim; default the issuer's name. `null` leaves it out. */
  iss?: string | null
}

/** A test issuer: public JWK, private key and a mint function. */
export interface TestIssuer {
  readonly issuer: string
  readonly alg: TestAlg
  readonly kid: string
  readonly audience: string
  /** Public JWK with `kid`, `alg` and `use: 'sig'`. */
  readonly jwk: JWK
  readonly privateKey: CryptoKey
  /** Signs an access token with the given claims. */
  mint(claims?: Record<string, unknown>, options?: MintOptions): Promise<string>
}

const nowSeconds = () => Math.floor(Date.now() / 1000)

/** Creates an issuer with a fresh key pair for `alg` (default RS256). */
export async function createTestIssuer(options: TestIssuerOptions = {}): Promise<TestIssuer> {
  const alg = options.alg ?? 'RS256'
  const issuer = options.issuer ?? 'https://issuer.test'
  const kid = options.kid ?? `test-${randomUUID()}`
  const audience = options.audience ?? 'verdict-test'
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }

  const mint = async (claims: Record<string, unknown> = {}, o: MintOptions = {}) => {
    const body: Record<string, unknown> = { sub: 'user-1', jti: randomUUID(), ...claims }
    const jwt = new SignJWT(body)
    const header: Record<string, unknown> = { alg, kid }
    const typ = o.typ === undefined ? 'at+jwt' : o.typ
    if (typ !== null) header.typ = typ
    Object.assign(header, o.header ?? {})
    for (const [k, v] of Object.entries(header)) if (v === undefined) delete header[k]
    jwt.setProtectedHeader(header as JWTHeaderParameters)
    const iss = o.iss === undefined ? issuer : o.iss
    if (iss !== null && !('iss' in claims)) jwt.setIssuer(iss)
    const aud = o.aud === undefined ? audience : o.aud
    if (aud !== null && !('aud' in claims)) jwt.setAudience(aud)
    if (o.issuedAt !== null && !('iat' in claims)) jwt.setIssuedAt(o.issuedAt ?? nowSeconds())
    const exp = o.expiresIn === undefined ? 300 : o.expiresIn
    if (exp !== null && !('exp' in claims)) {
      jwt.setExpirationTime(typeof exp === 'number' ? nowSeconds() + exp : exp)
    }
    if (o.notBefore !== undefined) {
      jwt.setNotBefore(
        typeof o.notBefore === 'number' ? nowSeconds() + o.notBefore : o.notBefore,
      )
    }
    return jwt.sign(privateKey)
  }

  return { issuer, alg, kid, audience, jwk, privateKey, mint }
}

/** Writes the public keys of `issuers` as one JWKS file, atomically (write then rename). */
export async function writeJwks(path: string, issuers: ReadonlyArray<Pick<TestIssuer, 'jwk'>>) {
  const tmp = `${path}.${process.pid}.${randomUUID()}.tmp`
  await writeFile(tmp, JSON.stringify({ keys: issuers.map((i) => i.jwk) }, null, 2))
  await rename(tmp, path)
}
