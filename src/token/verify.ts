/**
 * The token verifier: RFC 9068 access tokens checked under RFC 8725 rules. jose's key sets
 * (local file, remote JWKS with cooldown) select the key by `kid` and `alg`; the signature is
 * checked with node:crypto on the key converted once, because jose's WebCrypto path costs
 * several times the RSA operation (bench/token.ts). Cheap, structural checks (size, shape,
 * header) run before any cryptography, so hostile input is turned away early; every failure
 * becomes a {@link TokenError} with an exact code.
 *
 * @module
 */
import { createPublicKey, constants, KeyObject, verify as cryptoVerify } from 'node:crypto'
import type { JWTHeaderParameters } from 'jose'
import { ExpiringLru } from './cache.js'
import { TokenError, TokenErrorCode } from './errors.js'
import {
  createFileKeySource,
  createRemoteKeySource,
  KeySourceUnavailable,
  type KeySource,
} from './key-source.js'
import {
  DEFAULT_ALGORITHMS,
  DEFAULT_CACHE_MAX_ENTRIES,
  DEFAULT_CACHE_TTL_MS,
  DEFAULT_JWKS_CACHE_MAX_AGE_MS,
  DEFAULT_JWKS_COOLDOWN_MS,
  DEFAULT_JWKS_FILE_CHECK_MS,
  DEFAULT_JWKS_TIMEOUT_MS,
  DEFAULT_REQUIRED_CLAIMS,
  DEFAULT_TYP,
  SUPPORTED_ALGORITHMS,
  validateTokenOptions,
  type IssuerOptions,
  type TokenOptions,
} from './options.js'

/** A token whose signature and claims checked out. */
export interface VerifiedToken {
  /** The verified claims (frozen). Never unverified data. */
  claims: Readonly<Record<string, unknown>>
  /** The protected header. */
  header: Readonly<JWTHeaderParameters>
  /** The configured issuer that vouched for the token. */
  issuer: string
  subject?: string
  clientId?: string
  /** Scopes from the (mapped) scope claim, space-delimited string or array. */
  scopes: string[]
  /** `exp` in epoch milliseconds. */
  expiresAt?: number
}

/** Per-call options for {@link TokenVerifier.verify}. */
export interface VerifyCallOptions {
  /** Scopes required for this call, on top of the configured `requiredScopes`. */
  requiredScopes?: readonly string[]
}

/** Counters for metrics. `failures` is keyed by TokenErrorCode. */
export interface TokenVerifierStats {
  verified: number
  cacheHits: number
  /** Tokens that were not in the cache and went to signature verification. */
  cacheMisses: number
  failures: Record<string, number>
  cacheSize: number
}

/** Verifies bearer access tokens. */
export interface TokenVerifier {
  /** Resolves with the verified token or rejects with a {@link TokenError}; nothing else. */
  verify(token: string, options?: VerifyCallOptions): Promise<VerifiedToken>
  /**
   * The synchronous half of {@link verify}: the verified token if this exact token was verified
   * before and its cached result is still live, `undefined` if it must go through `verify`.
   * Throws a {@link TokenError} where `verify` would reject without any key (missing, too large,
   * scopes not granted). Lets a caller answer a repeat token without a promise.
   */
  verifyCached(token: string, options?: VerifyCallOptions): VerifiedToken | undefined
  stats(): TokenVerifierStats
  /** Stops file watches. */
  close(): void
}

/** Header parameters that would make us fetch or trust keys chosen by the token (RFC 8725 3.10). */
const FORBIDDEN_HEADERS = ['jku', 'x5u', 'jwk', 'x5c', 'crit', 'b64', 'enc', 'zip'] as const
const MAX_JSON_DEPTH = 16
const MAX_KID_LENGTH = 256
const SEGMENT = /^[A-Za-z0-9_-]*$/
const utf8 = new TextDecoder('utf-8', { fatal: true })

interface IssuerRuntime {
  config: IssuerOptions
  algorithms: readonly string[]
  types: readonly string[]
  requiredClaims: string[]
  keys: KeySource
  /**
   * Keys looked up in the last {@link KEY_MEMO_MS}, by alg and kid, so a burst of new tokens does
   * not walk the key set each time. Cleared whenever the key set changes.
   */
  keyMemo: Map<string, { key: KeyObject; until: number }>
}

/** How long a looked-up key is reused without asking the key source again. */
const KEY_MEMO_MS = 1000

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

const err = (code: TokenErrorCode, description: string, cause?: unknown) =>
  new TokenError(code, description, cause === undefined ? undefined : { cause })

/** Deepest bracket nesting of a JSON text, ignoring brackets inside strings. */
function jsonDepth(text: string): number {
  let depth = 0
  let max = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth)
    else if (c === 0x7d || c === 0x5d) depth--
  }
  return max
}

function decodeSegment(segment: string, what: string): Record<string, unknown> {
  let text: string
  try {
    text = utf8.decode(Buffer.from(segment, 'base64url'))
  } catch (cause) {
    throw err(TokenErrorCode.MALFORMED, `${what} is not valid UTF-8`, cause)
  }
  if (jsonDepth(text) > MAX_JSON_DEPTH) {
    throw err(TokenErrorCode.MALFORMED, `${what} is nested too deeply`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (cause) {
    throw err(TokenErrorCode.MALFORMED, `${what} is not JSON`, cause)
  }
  if (!isObject(value)) throw err(TokenErrorCode.MALFORMED, `${what} is not a JSON object`)
  return value
}

/** `at+jwt`, `AT+JWT` and `application/at+jwt` are one media type (RFC 7515 4.1.9). */
const normalizeTyp = (t: string) => {
  const lower = t.toLowerCase()
  return lower.startsWith('application/') ? lower.slice('application/'.length) : lower
}

function mapJoseError(e: unknown): TokenError {
  if (e instanceof TokenError) return e
  if (e instanceof KeySourceUnavailable) {
    return err(TokenErrorCode.UNKNOWN_KEY, 'signing keys unavailable', e)
  }
  const { code, claim, reason } = (e ?? {}) as { code?: string; claim?: string; reason?: string }
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return err(TokenErrorCode.EXPIRED, claim === 'iat' ? 'token too old' : 'token expired', e)
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (claim === 'aud') return err(TokenErrorCode.AUDIENCE, 'audience not accepted', e)
      if (claim === 'iss') return err(TokenErrorCode.UNTRUSTED_ISSUER, 'issuer not trusted', e)
      if (reason === 'missing') return err(TokenErrorCode.CLAIMS, `missing claim ${claim}`, e)
      if ((claim === 'nbf' || claim === 'iat') && reason === 'check_failed') {
        return err(TokenErrorCode.NOT_YET_VALID, 'token not yet valid', e)
      }
      if (claim === 'typ') return err(TokenErrorCode.TYPE, 'token type not accepted', e)
      return err(TokenErrorCode.CLAIMS, `invalid claim ${claim ?? ''}`.trim(), e)
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return err(TokenErrorCode.SIGNATURE, 'signature invalid', e)
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return err(TokenErrorCode.UNKNOWN_KEY, 'signing key not found', e)
    case 'ERR_JWKS_INVALID':
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_JOSE_GENERIC':
      return err(TokenErrorCode.UNKNOWN_KEY, 'signing keys unavailable', e)
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return err(TokenErrorCode.ALGORITHM, 'algorithm not accepted', e)
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return err(TokenErrorCode.MALFORMED, 'token malformed', e)
    default:
      // e.g. a TypeError when a key cannot verify this alg: still a failed signature check.
      return err(TokenErrorCode.SIGNATURE, 'signature could not be verified', e)
  }
}

function readScopes(value: unknown): string[] {
  if (typeof value === 'string') return value.split(/\s+/).filter((s) => s !== '')
  if (Array.isArray(value)) return value.filter((s): s is string => typeof s === 'string' && s !== '')
  return []
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}

/** Imported keys as node:crypto KeyObjects, converted once per key (jose hands out CryptoKeys). */
const keyObjects = new WeakMap<object, KeyObject>()

function toKeyObject(key: unknown): KeyObject {
  if (key instanceof KeyObject) return key
  if (key instanceof Uint8Array || typeof key !== 'object' || key === null) {
    throw err(TokenErrorCode.ALGORITHM, 'symmetric keys are not accepted')
  }
  let out = keyObjects.get(key)
  if (out === undefined) {
    out = KeyObject.from(key as Parameters<typeof KeyObject.from>[0])
    if (out.type !== 'public') out = createPublicKey(out)
    keyObjects.set(key, out)
  }
  return out
}

const HASH: Record<string, string> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' }
const CURVE: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' }

/**
 * Checks a JWS signature with node:crypto directly; jose goes through WebCrypto, whose async
 * round trip costs several times the RSA operation itself. The key type must fit `alg`.
 */
function verifySignature(alg: string, key: KeyObject, signingInput: string, signature: string): boolean {
  const kind = key.asymmetricKeyType
  const sig = Buffer.from(signature, 'base64url')
  const data = Buffer.from(signingInput, 'latin1')
  try {
    if (alg.startsWith('RS') || alg.startsWith('PS')) {
      if (kind !== 'rsa' && !(kind === 'rsa-pss' && alg.startsWith('PS'))) return false
      if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) return false
      const hash = HASH[alg.slice(2)]!
      if (alg.startsWith('RS')) return cryptoVerify(hash, data, key, sig)
      return cryptoVerify(hash, data, {
        key,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
      }, sig)
    }
    if (alg.startsWith('ES')) {
      if (kind !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== CURVE[alg]) return false
      return cryptoVerify(HASH[alg.slice(2)]!, data, { key, dsaEncoding: 'ieee-p1363' }, sig)
    }
    if (alg === 'EdDSA' || alg === 'Ed25519') {
      if (kind !== 'ed25519' && !(alg === 'EdDSA' && kind === 'ed448')) return false
      return cryptoVerify(null, data, key, sig)
    }
  } catch {
    return false
  }
  return false
}

const isNumericDate = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

/** RFC 7519 / RFC 9068 claim checks, after the signature checked out. `now` and skew in seconds. */
function checkClaims(
  claims: Record<string, unknown>,
  issuer: IssuerRuntime,
  now: number,
  skew: number,
  maxTokenAgeMs: number | undefined,
): void {
  if (claims.iss !== issuer.config.issuer) throw err(TokenErrorCode.UNTRUSTED_ISSUER, 'issuer not trusted')
  for (const name of issuer.requiredClaims) {
    if (claims[name] === undefined) throw err(TokenErrorCode.CLAIMS, `missing claim ${name}`)
  }
  for (const name of ['exp', 'nbf', 'iat'] as const) {
    if (claims[name] !== undefined && !isNumericDate(claims[name])) {
      throw err(TokenErrorCode.CLAIMS, `invalid claim ${name}`)
    }
  }
  const aud = claims.aud
  const auds = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : undefined
  if (auds === undefined || !auds.some((a) => typeof a === 'string' && issuer.config.audiences.includes(a))) {
    // The cause says which check failed, for logs; never the untrusted value itself.
    throw err(TokenErrorCode.AUDIENCE, 'audience not accepted', { claim: 'aud', reason: 'check_failed' })
  }
  if (typeof claims.nbf === 'number' && claims.nbf > now + skew) {
    throw err(TokenErrorCode.NOT_YET_VALID, 'token not yet valid')
  }
  if (typeof claims.exp === 'number' && claims.exp <= now - skew) {
    throw err(TokenErrorCode.EXPIRED, 'token expired')
  }
  if (maxTokenAgeMs !== undefined && typeof claims.iat === 'number') {
    const age = now - claims.iat
    if (age - skew > maxTokenAgeMs / 1000) throw err(TokenErrorCode.EXPIRED, 'token too old')
    if (age < -skew) throw err(TokenErrorCode.NOT_YET_VALID, 'token not yet valid')
  }
}

/**
 * Builds a verifier from validated options. One key source per issuer; a token's `iss` only picks
 * which configured issuer's keys to try, never where to fetch keys from.
 */
export function createTokenVerifier(input: TokenOptions): TokenVerifier {
  const options = validateTokenOptions(input)
  const now = options.now ?? (() => Date.now())
  const skewMs = options.clockSkewMs
  const cacheTtl = options.cache?.ttlMs ?? DEFAULT_CACHE_TTL_MS
  const cache = new ExpiringLru<VerifiedToken>(
    options.cache?.maxEntries ?? DEFAULT_CACHE_MAX_ENTRIES,
    now,
  )
  const jc = options.jwksCache ?? {}
  const failures: Record<string, number> = {}
  let verified = 0
  let cacheHits = 0
  let cacheMisses = 0

  const issuers = new Map<string, IssuerRuntime>()
  for (const config of options.issuers) {
    const keyMemo = new Map<string, { key: KeyObject; until: number }>()
    const onChange = () => {
      keyMemo.clear()
      cache.clear()
    }
    const keys =
      'file' in config.jwks
        ? createFileKeySource(config.jwks.file, {
            checkIntervalMs: jc.fileCheckIntervalMs ?? DEFAULT_JWKS_FILE_CHECK_MS,
            now,
            onChange,
          })
        : createRemoteKeySource(config.jwks.url, {
            cacheMaxAgeMs: jc.cacheMaxAgeMs ?? DEFAULT_JWKS_CACHE_MAX_AGE_MS,
            cooldownMs: jc.cooldownMs ?? DEFAULT_JWKS_COOLDOWN_MS,
            timeoutMs: jc.timeoutMs ?? DEFAULT_JWKS_TIMEOUT_MS,
            ...(jc.maxStaleMs !== undefined ? { maxStaleMs: jc.maxStaleMs } : {}),
            now,
            onChange,
          })
    const typ = config.typ ?? DEFAULT_TYP
    const required = new Set(config.requiredClaims ?? DEFAULT_REQUIRED_CLAIMS)
    required.add('exp')
    if (options.maxTokenAgeMs !== undefined) required.add('iat')
    issuers.set(config.issuer, {
      config,
      algorithms: config.algorithms ?? DEFAULT_ALGORITHMS,
      types: (Array.isArray(typ) ? typ : [typ]).map(normalizeTyp),
      requiredClaims: [...required],
      keys,
      keyMemo,
    })
  }

  const checkScopes = (token: VerifiedToken, extra?: readonly string[]) => {
    const wanted = [...(options.requiredScopes ?? []), ...(extra ?? [])]
    if (wanted.length === 0) return token
    const have = new Set(token.scopes)
    const missing = wanted.filter((s) => !have.has(s))
    if (missing.length > 0) {
      throw new TokenError(TokenErrorCode.INSUFFICIENT_SCOPE, 'insufficient scope', {
        missingScopes: missing,
      })
    }
    return token
  }

  const verifyUncached = async (token: string): Promise<VerifiedToken> => {
    const parts = token.split('.')
    if (parts.length === 5) {
      throw err(TokenErrorCode.MALFORMED, 'encrypted tokens (JWE) are not accepted')
    }
    if (parts.length !== 3) throw err(TokenErrorCode.MALFORMED, 'token is not a compact JWS')
    const [h, p, s] = parts as [string, string, string]
    if (!SEGMENT.test(h) || !SEGMENT.test(p) || !SEGMENT.test(s) || h === '' || p === '') {
      throw err(TokenErrorCode.MALFORMED, 'token is not base64url')
    }
    const header = decodeSegment(h, 'header')
    const alg = header.alg
    if (typeof alg !== 'string') throw err(TokenErrorCode.MALFORMED, 'header has no alg')
    if (!SUPPORTED_ALGORITHMS.includes(alg)) {
      throw err(TokenErrorCode.ALGORITHM, 'algorithm not accepted')
    }
    for (const name of FORBIDDEN_HEADERS) {
      if (name in header) throw err(TokenErrorCode.MALFORMED, `header parameter ${name} not accepted`)
    }
    if (header.kid !== undefined) {
      if (typeof header.kid !== 'string' || header.kid.length > MAX_KID_LENGTH) {
        throw err(TokenErrorCode.MALFORMED, 'header kid is invalid')
      }
    }
    if (s === '') throw err(TokenErrorCode.MALFORMED, 'token has no signature')
    const payload = decodeSegment(p, 'payload')
    const iss = payload.iss
    if (iss === undefined) throw err(TokenErrorCode.CLAIMS, 'missing claim iss')
    if (typeof iss !== 'string') throw err(TokenErrorCode.CLAIMS, 'invalid claim iss')
    const issuer = issuers.get(iss)
    if (!issuer) throw err(TokenErrorCode.UNTRUSTED_ISSUER, 'issuer not trusted')
    const typ = header.typ
    if (typeof typ !== 'string' || !issuer.types.includes(normalizeTyp(typ))) {
      throw err(TokenErrorCode.TYPE, 'token type not accepted')
    }
    if (!issuer.algorithms.includes(alg)) throw err(TokenErrorCode.ALGORITHM, 'algorithm not accepted')

    const at = now()
    const header0 = header as JWTHeaderParameters
    let key: KeyObject
    try {
      const memoKey = `${alg}\u0000${typeof header.kid === 'string' ? header.kid : ''}`
      const memo = issuer.keyMemo.get(memoKey)
      if (memo !== undefined && memo.until > at) key = memo.key
      else {
        key = toKeyObject(await issuer.keys.getKey(header0, { payload: p, signature: s }))
        issuer.keyMemo.set(memoKey, { key, until: at + KEY_MEMO_MS })
      }
    } catch (e) {
      throw mapJoseError(e)
    }
    if (!verifySignature(alg, key, `${h}.${p}`, s)) throw err(TokenErrorCode.SIGNATURE, 'signature invalid')
    checkClaims(payload, issuer, Math.floor(at / 1000), skewMs / 1000, options.maxTokenAgeMs)
    const result = { payload, protectedHeader: header0 }
    let claims = result.payload as Record<string, unknown>
    // jose looks at iat only with maxTokenAge; a token issued in the future is never fine.
    if (claims.iat !== undefined) {
      if (typeof claims.iat !== 'number' || !Number.isFinite(claims.iat)) {
        throw err(TokenErrorCode.CLAIMS, 'invalid claim iat')
      }
      if (claims.iat * 1000 > at + skewMs) throw err(TokenErrorCode.NOT_YET_VALID, 'token not yet valid')
    }
    const map = issuer.config.claimsMapping ?? {}
    if (map.claims !== undefined) {
      // Derived claims are added on a copy, after every check ran on what the issuer signed.
      claims = { ...claims }
      for (const [target, source] of Object.entries(map.claims)) {
        if (result.payload[source] !== undefined) claims[target] = result.payload[source]
      }
    }
    const sub = claims[map.subject ?? 'sub']
    const clientId = claims[map.clientId ?? 'client_id']
    const exp = claims.exp as number
    const out: VerifiedToken = deepFreeze({
      claims,
      header: result.protectedHeader,
      issuer: issuer.config.issuer,
      ...(typeof sub === 'string' ? { subject: sub } : {}),
      ...(typeof clientId === 'string' ? { clientId } : {}),
      scopes: readScopes(claims[map.scopes ?? 'scope']),
      expiresAt: exp * 1000,
    })
    let until = Math.min(exp * 1000, at + cacheTtl)
    if (options.maxTokenAgeMs !== undefined && typeof claims.iat === 'number') {
      until = Math.min(until, claims.iat * 1000 + options.maxTokenAgeMs)
    }
    cache.set(token, out, until)
    return out
  }

  const verify = async (token: string, call?: VerifyCallOptions): Promise<VerifiedToken> => {
    try {
      if (typeof token !== 'string' || token.trim() === '') {
        throw err(TokenErrorCode.MISSING, 'token missing')
      }
      // Before anything else looks at it: a huge token must cost us nothing.
      if (token.length > options.maxTokenBytes) throw err(TokenErrorCode.TOO_LARGE, 'token too large')
      const hit = cache.get(token)
      if (hit) return served(hit, call)
      // Counted here and not in verifyCached: a caller that tries that first comes here on a miss.
      cacheMisses++
      const out = await verifyUncached(token)
      checkScopes(out, call?.requiredScopes)
      verified++
      return out
    } catch (e) {
      throw failed(e)
    }
  }

  /** Counts a failure and returns it as a TokenError. */
  const failed = (e: unknown): TokenError => {
    const te = e instanceof TokenError ? e : mapJoseError(e)
    failures[te.code] = (failures[te.code] ?? 0) + 1
    return te
  }

  /** A cache hit: the per-call scope check and the counts; a scope failure is thrown for the caller to count. */
  const served = (out: VerifiedToken, call: VerifyCallOptions | undefined): VerifiedToken => {
    cacheHits++
    // A changed key set clears the cache; make sure a due check actually happens.
    issuers.get(out.issuer)?.keys.poll()
    checkScopes(out, call?.requiredScopes)
    verified++
    return out
  }

  const verifyCached = (token: string, call?: VerifyCallOptions): VerifiedToken | undefined => {
    if (typeof token !== 'string' || token.length > options.maxTokenBytes) return undefined
    const out = cache.get(token)
    if (out === undefined) return undefined
    try {
      return served(out, call)
    } catch (e) {
      throw failed(e)
    }
  }

  return {
    verify,
    verifyCached,
    stats: () => ({ verified, cacheHits, cacheMisses, failures: { ...failures }, cacheSize: cache.size }),
    close() {
      for (const i of issuers.values()) i.keys.close()
    },
  }
}
