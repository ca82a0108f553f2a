/**
 * The token verifier: RFC 9068 access tokens checked with jose under RFC 8725 rules. Cheap,
 * structural checks (size, shape, header) run before any cryptography, so hostile input is
 * turned away early; every failure becomes a {@link TokenError} with an exact code.
 *
 * @module
 */
import { jwtVerify, type JWTHeaderParameters } from 'jose'
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
  failures: Record<string, number>
  cacheSize: number
}

/** Verifies bearer access tokens. */
export interface TokenVerifier {
  /** Resolves with the verified token or rejects with a {@link TokenError}; nothing else. */
  verify(token: string, options?: VerifyCallOptions): Promise<VerifiedToken>
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
}

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

  const issuers = new Map<string, IssuerRuntime>()
  for (const config of options.issuers) {
    const onChange = () => cache.clear()
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
    let result
    try {
      result = await jwtVerify(token, issuer.keys.getKey, {
        algorithms: [...issuer.algorithms],
        issuer: issuer.config.issuer,
        audience: issuer.config.audiences,
        clockTolerance: skewMs / 1000,
        requiredClaims: issuer.requiredClaims,
        currentDate: new Date(at),
        ...(options.maxTokenAgeMs !== undefined ? { maxTokenAge: options.maxTokenAgeMs / 1000 } : {}),
      })
    } catch (e) {
      throw mapJoseError(e)
    }
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
      let out = cache.get(token)
      if (out) {
        cacheHits++
        // A changed key set clears the cache; make sure a due check actually happens.
        issuers.get(out.issuer)?.keys.poll()
      } else out = await verifyUncached(token)
      checkScopes(out, call?.requiredScopes)
      verified++
      return out
    } catch (e) {
      const te = e instanceof TokenError ? e : mapJoseError(e)
      failures[te.code] = (failures[te.code] ?? 0) + 1
      throw te
    }
  }

  return {
    verify,
    stats: () => ({ verified, cacheHits, failures: { ...failures }, cacheSize: cache.size }),
    close() {
      for (const i of issuers.values()) i.keys.close()
    },
  }
}
