/**
 * Token verifier options: their type, defaults and validation. Validation fails fast at startup
 * with a PdpError ERR_CONFIG_INVALID naming the offending key, so a bad configuration never
 * turns into silently accepted tokens.
 *
 * @module
 */
import { PdpError } from '../util/errors.js'

/** Where an issuer's public keys come from. */
export type JwksSource = { file: string } | { url: string }

/** Which claims hold the subject, scopes and client id, for issuers that deviate from RFC 9068. */
export interface ClaimsMapping {
  /** Default `sub`. */
  subject?: string
  /** Default `scope` (space-delimited string; an array is tolerated). */
  scopes?: string
  /** Default `client_id`. */
  clientId?: string
  /**
   * Claims derived from other claims, target name → source name, so policies see one shape
   * whatever the issuer. Example: `{ roles: 'groups' }` gives `roles` the value of `groups`.
   * Registered claims (iss, sub, aud, exp, nbf, iat, jti) cannot be targets.
   */
  claims?: Record<string, string>
}

/** One trusted issuer. Keys are never shared between issuers (RFC 8725 3.8). */
export interface IssuerOptions {
  /** Must equal the token's `iss` exactly. */
  issuer: string
  jwks: JwksSource
  /** The token's `aud` must name at least one of these. */
  audiences: string[]
  /** Accepted `alg` values; default {@link DEFAULT_ALGORITHMS}. Asymmetric only. */
  algorithms?: string[]
  /** Accepted header `typ`; default `at+jwt` (`application/at+jwt` is the same type). */
  typ?: string | string[]
  /** Claims that must be present; default {@link DEFAULT_REQUIRED_CLAIMS}. `exp` is always required. */
  requiredClaims?: string[]
  claimsMapping?: ClaimsMapping
}

/** Verification-result cache. */
export interface TokenCacheOptions {
  /** Maximum entries (LRU); 0 disables the cache. Default 10000. */
  maxEntries?: number
  /** Upper bound on how long a result is reused, whatever its `exp`. Default 60 s. */
  ttlMs?: number
}

/** Key-set refresh behaviour. */
export interface JwksCacheOptions {
  /** Remote JWKS: refetch after this age. Default 10 min. */
  cacheMaxAgeMs?: number
  /** Remote JWKS: no refetch for an unknown `kid` within this time after a fetch. Default 30 s. */
  cooldownMs?: number
  /** Remote JWKS: HTTP timeout. Default 5 s. */
  timeoutMs?: number
  /** Remote JWKS: serve the last good key set through an IdP outage this long; default forever. */
  maxStaleMs?: number
  /** File JWKS: check the file's mtime at most this often, besides fs.watch. Default 1 s. */
  fileCheckIntervalMs?: number
}

/** Everything {@link createTokenVerifier} needs. */
export interface TokenOptions {
  issuers: IssuerOptions[]
  /** Leeway for exp/nbf/iat. Default 30000. */
  clockSkewMs: number
  /** Tokens longer than this are rejected before any parsing. Default 8192. */
  maxTokenBytes: number
  /** If set, `iat` is required and tokens older than this are expired. */
  maxTokenAgeMs?: number
  /** Scopes every token must carry. */
  requiredScopes?: string[]
  cache?: TokenCacheOptions
  jwksCache?: JwksCacheOptions
  /** Clock in epoch ms; injectable for tests. Default `Date.now`. */
  now?: () => number
}

/** Asymmetric algorithms we will ever accept. HS* and `none` are absent on purpose. */
export const SUPPORTED_ALGORITHMS: readonly string[] = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA',
  'Ed25519',
]
export const DEFAULT_ALGORITHMS: readonly string[] = ['RS256', 'PS256', 'ES256', 'EdDSA']
export const DEFAULT_REQUIRED_CLAIMS: readonly string[] = ['exp', 'iat', 'sub', 'jti']
export const DEFAULT_TYP = 'at+jwt'
/** Claims whose meaning the verifier relies on; mappings never overwrite them. */
export const REGISTERED_CLAIMS: readonly string[] = ['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti']
export const DEFAULT_CLOCK_SKEW_MS = 30_000
export const DEFAULT_MAX_TOKEN_BYTES = 8192
export const DEFAULT_CACHE_MAX_ENTRIES = 10_000
export const DEFAULT_CACHE_TTL_MS = 60_000
export const DEFAULT_JWKS_CACHE_MAX_AGE_MS = 10 * 60_000
export const DEFAULT_JWKS_COOLDOWN_MS = 30_000
export const DEFAULT_JWKS_TIMEOUT_MS = 5_000
export const DEFAULT_JWKS_FILE_CHECK_MS = 1_000

/** Defaults with no issuers; callers add at least one. */
export function defaultTokenOptions(): TokenOptions {
  return {
    issuers: [],
    clockSkewMs: DEFAULT_CLOCK_SKEW_MS,
    maxTokenBytes: DEFAULT_MAX_TOKEN_BYTES,
    cache: { maxEntries: DEFAULT_CACHE_MAX_ENTRIES, ttlMs: DEFAULT_CACHE_TTL_MS },
    jwksCache: {
      cacheMaxAgeMs: DEFAULT_JWKS_CACHE_MAX_AGE_MS,
      cooldownMs: DEFAULT_JWKS_COOLDOWN_MS,
      timeoutMs: DEFAULT_JWKS_TIMEOUT_MS,
      fileCheckIntervalMs: DEFAULT_JWKS_FILE_CHECK_MS,
    },
  }
}

function fail(key: string, why: string): never {
  throw new PdpError('ERR_CONFIG_INVALID', `${key}: ${why}`)
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

function nonNegative(v: unknown, key: string, allowZero = true) {
  if (v === undefined) return
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    fail(key, `must be a ${allowZero ? 'non-negative' : 'positive'} number`)
  }
}

function stringList(v: unknown, key: string, nonEmpty: boolean) {
  if (!Array.isArray(v) || (nonEmpty && v.length === 0)) fail(key, 'must be a non-empty list')
  v.forEach((s, i) => {
    if (typeof s !== 'string' || s === '') fail(`${key}[${i}]`, 'must be a non-empty string')
  })
}

/**
 * Checks `options` and returns them typed. Throws PdpError `ERR_CONFIG_INVALID` whose message
 * starts with the offending key, e.g. `token.issuers[0].algorithms[1]: HS256 is not allowed`.
 */
export function validateTokenOptions(options: unknown, prefix = 'token'): TokenOptions {
  if (!isObject(options)) fail(prefix, 'must be an object')
  const o = options
  if (!Array.isArray(o.issuers) || o.issuers.length === 0) {
    fail(`${prefix}.issuers`, 'must list at least one issuer')
  }
  const seen = new Set<string>()
  o.issuers.forEach((raw: unknown, i: number) => {
    const k = `${prefix}.issuers[${i}]`
    if (!isObject(raw)) fail(k, 'must be an object')
    if (typeof raw.issuer !== 'string' || raw.issuer === '') fail(`${k}.issuer`, 'must be a non-empty string')
    if (seen.has(raw.issuer)) fail(`${k}.issuer`, `duplicate issuer ${JSON.stringify(raw.issuer)}`)
    seen.add(raw.issuer)
    const j = raw.jwks
    if (!isObject(j)) fail(`${k}.jwks`, 'must be {file} or {url}')
    const hasFile = typeof j.file === 'string' && j.file !== ''
    const hasUrl = typeof j.url === 'string' && j.url !== ''
    if (hasFile === hasUrl) fail(`${k}.jwks`, 'must have exactly one of file or url')
    if (hasUrl) {
      let url: URL
      try {
        url = new URL(j.url as string)
      } catch {
        fail(`${k}.jwks.url`, 'is not a valid URL')
      }
      if (url.protocol !== 'https:' && url.protocol !== 'http:') fail(`${k}.jwks.url`, 'must be http(s)')
    }
    stringList(raw.audiences, `${k}.audiences`, true)
    if (raw.algorithms !== undefined) {
      stringList(raw.algorithms, `${k}.algorithms`, true)
      ;(raw.algorithms as string[]).forEach((a, ai) => {
        if (!SUPPORTED_ALGORITHMS.includes(a)) {
          fail(`${k}.algorithms[${ai}]`, `${a} is not allowed (asymmetric algorithms only)`)
        }
      })
    }
    if (raw.typ !== undefined) {
      if (typeof raw.typ === 'string') {
        if (raw.typ === '') fail(`${k}.typ`, 'must be a non-empty string')
      } else stringList(raw.typ, `${k}.typ`, true)
    }
    if (raw.requiredClaims !== undefined) stringList(raw.requiredClaims, `${k}.requiredClaims`, false)
    if (raw.claimsMapping !== undefined) {
      const m = raw.claimsMapping
      if (!isObject(m)) fail(`${k}.claimsMapping`, 'must be an object')
      if (m.claims !== undefined) {
        if (!isObject(m.claims)) fail(`${k}.claimsMapping.claims`, 'must be a mapping of claim names')
        for (const [target, source] of Object.entries(m.claims)) {
          if (REGISTERED_CLAIMS.includes(target)) {
            fail(`${k}.claimsMapping.claims.${target}`, 'registered claims cannot be mapped')
          }
          if (typeof source !== 'string' || source === '') {
            fail(`${k}.claimsMapping.claims.${target}`, 'must name a source claim')
          }
        }
      }
      for (const f of ['subject', 'scopes', 'clientId'] as const) {
        if (m[f] !== undefined && (typeof m[f] !== 'string' || m[f] === '')) {
          fail(`${k}.claimsMapping.${f}`, 'must be a non-empty string')
        }
      }
    }
  })
  nonNegative(o.clockSkewMs, `${prefix}.clockSkewMs`)
  if (o.clockSkewMs === undefined) fail(`${prefix}.clockSkewMs`, 'is required')
  nonNegative(o.maxTokenBytes, `${prefix}.maxTokenBytes`, false)
  if (o.maxTokenBytes === undefined) fail(`${prefix}.maxTokenBytes`, 'is required')
  nonNegative(o.maxTokenAgeMs, `${prefix}.maxTokenAgeMs`, false)
  if (o.requiredScopes !== undefined) stringList(o.requiredScopes, `${prefix}.requiredScopes`, false)
  if (o.cache !== undefined) {
    if (!isObject(o.cache)) fail(`${prefix}.cache`, 'must be an object')
    nonNegative(o.cache.maxEntries, `${prefix}.cache.maxEntries`)
    nonNegative(o.cache.ttlMs, `${prefix}.cache.ttlMs`)
  }
  if (o.jwksCache !== undefined) {
    if (!isObject(o.jwksCache)) fail(`${prefix}.jwksCache`, 'must be an object')
    for (const f of ['cacheMaxAgeMs', 'cooldownMs', 'timeoutMs', 'fileCheckIntervalMs', 'maxStaleMs']) {
      nonNegative(o.jwksCache[f], `${prefix}.jwksCache.${f}`)
    }
  }
  if (o.now !== undefined && typeof o.now !== 'function') fail(`${prefix}.now`, 'must be a function')
  return o as unknown as TokenOptions
}
