/**
 * The `verdict serve` configuration: read once from flags, the environment (`VERDICT_*`) and a
 * YAML/JSON file, in that order of precedence, validated, and handed out as each module's typed
 * options.
 *
 * @module
 */

import { readFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { validateMaskOptions } from '../audit/index.js'
import type { AuditOptions, MaskOptions } from '../audit/index.js'
import { BundleError, createVerificationKey, isHmacAlgorithm, isSigningAlgorithm, SIGNING_ALGORITHMS } from '../bundle/index.js'
import {
  DEFAULT_MAX_BUNDLE_BYTES,
  defaultBundleSourceOptions,
  MAX_BUNDLE_POLL_MS,
  MAX_BUNDLE_TIMEOUT_MS,
  MIN_BUNDLE_POLL_MS,
  MIN_BUNDLE_TIMEOUT_MS,
  validateBundleSourceOptions,
} from '../bundle/index.js'
import type { BundleSourceOptions, VerifyBundleOptions } from '../bundle/index.js'
import type { ExtAuthzOptions, GrpcTransport, LogLevel } from '../server/index.js'
import {
  DEFAULT_HTTP_ADDRESS,
  defaultExtAuthzOptions,
  defaultLimitsOptions,
  GRPC_TRANSPORTS,
  isLogLevel,
  parseHostPort,
  validateExtAuthzOptions,
} from '../server/index.js'
import type { LimitsOptions } from '../server/index.js'
import { defaultTokenOptions, validateTokenOptions } from '../token/index.js'
import type { TokenOptions } from '../token/index.js'
import { PdpError } from '../util/errors.js'
import { parseDuration } from './duration.js'

/** Default gRPC listen address: loopback only, since the sidecar serves its own API instance. */
export const DEFAULT_GRPC_ADDRESS = '127.0.0.1:50051'
/** Default audit service name. */
export const DEFAULT_SERVICE = 'verdict'
/** Default time to drain calls and flush audit on shutdown. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 5000
/**
 * The env var holding an HMAC bundle-verification secret itself. Env only: a flag would show the
 * secret in every process listing, a config file is often committed.
 */
export const VERIFICATION_SECRET_ENV = 'VERDICT_VERIFICATION_SECRET'

/** Everything `verdict serve` needs, typed per module. */
export interface ServeConfig {
  /**
   * Bundle location: a file (`.tar.gz`) or directory, an http(s) URL, or
   * `nats://host:port/<bucket>/<object>`. Example: `./trades.tar.gz`.
   */
  bundle: string
  /**
   * Where bundles come from and how they are fetched: `bundle` parsed, with the `bundle_source.*`
   * settings. Example: `{ kind: 'http', url: 'https://bundles.example.com/trades.tar.gz', pollIntervalMs: 30000, ... }`.
   */
  bundleSource: BundleSourceOptions
  /** Largest bundle accepted, in bytes: the download, and the archive uncompressed. Example: `67108864`. */
  bundleMaxBytes: number
  /**
   * Directory keeping the last good bundle of a remote source, served at start when the source is
   * unreachable; undefined for a file bundle, or when set to `off`. Example: `/var/lib/verdict/bundles`.
   */
  bundleCache?: string
  /** Entrypoint to evaluate; default the manifest's first wasm entrypoint. Example: `trades/decision`. */
  entrypoint?: string
  /** gRPC listen address. Example: `127.0.0.1:50051`. */
  grpc: string
  /**
   * gRPC server implementation: `verdict` (its own HTTP/2 server, the default) or `grpc-js`
   * (@grpc/grpc-js on Node's http2, the fallback).
   */
  grpcTransport: GrpcTransport
  /** Name of the protected API, used in audit subjects. Example: `trades-api`. */
  service: string
  /** NATS server URL for audit; absent → audit events go to the log. Example: `nats://127.0.0.1:4222`. */
  nats?: string
  /** Audit sink options for `createAuditSink` (JetStream when `nats` is set). */
  audit: AuditOptions
  /** Log level. Example: `info`. */
  logLevel: LogLevel
  /** Token verification options for `createTokenVerifier`. */
  token: TokenOptions
  /** Request limits. */
  limits: LimitsOptions
  /** How long shutdown waits for calls and audit, in ms. Example: `5s` in files. */
  shutdownGraceMs: number
  /**
   * Sidecar processes sharing the listen address (`--workers`): 1 serves in this process; more
   * fork that many workers under a supervising primary. `auto` in flags and files is one per CPU.
   */
  workers: number
  /**
   * Envoy ext_authz on the gRPC server (`envoy:` in files).
   * Example: `{ enabled: true, actions: { GET: 'read' }, pathPrefix: '/api/v1' }`.
   */
  envoy: ExtAuthzOptions
  /**
   * Operations HTTP listener (`/metrics`, `/healthz`, `/readyz`), `host:port`; absent when set to
   * `off`. Example: `127.0.0.1:9464`. `isDefault` marks the built-in default, whose port may be
   * taken (another sidecar on the host): then the sidecar logs it and serves without it, while a
   * configured address that cannot be bound stops the start.
   */
  http?: { address: string; isDefault: boolean }
  /**
   * AuthZEN 1.0 HTTP listener (`/access/v1/evaluation(s)`, `/.well-known/authzen-configuration`),
   * `host:port`, served by every sidecar process (each worker under `--workers`); absent when
   * `off`, the default. Example: `127.0.0.1:9191`.
   */
  authzen?: string
  /**
   * Bundle signature verification (`bundle_verification:` in files, `--verification-key` ...): the
   * key read once at startup, the key id that selects it in a JWKS, and the scope a signature must
   * carry. Absent when no key is configured: then signatures are not checked.
   * Example: `{ key: <./bundle-signing.pub.pem>, keyId: 'bundle-2026', scope: 'trades' }`.
   */
  bundleVerification?: VerifyBundleOptions
}

/** Most workers `--workers` accepts. */
export const MAX_WORKERS = 64

/** Raw sources of configuration. */
export interface ConfigSources {
  /** Parsed command-line flags, by long name (`jwks`, `log-level`, ...). */
  flags: Record<string, string | undefined>
  /** The environment; read only here. */
  env: Record<string, string | undefined>
}

function invalid(key: string, why: string): never {
  throw new PdpError('ERR_CONFIG_INVALID', `${key}: ${why}`)
}

/** `1500` → `1.5s`, `86400000` → `24h`: how limits read in error messages. */
function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0) return `${ms / 60_000}m`
  return ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function get(file: Record<string, unknown>, path: string): unknown {
  let node: unknown = file
  for (const seg of path.split('.')) {
    if (!isObject(node)) return undefined
    node = node[seg]
  }
  return node
}

/** File keys of one issuer entry, in camelCase or snake_case, mapped to `IssuerOptions`. */
function issuerEntry(entry: unknown, key: string): Record<string, unknown> {
  if (!isObject(entry)) invalid(key, 'must be a mapping')
  const pick = (...names: string[]): unknown => {
    for (const n of names) if (entry[n] !== undefined) return entry[n]
    return undefined
  }
  const out: Record<string, unknown> = { issuer: pick('issuer', 'iss') }
  const jwks = pick('jwks')
  // A bare string is a file path or an http(s) URL, like --jwks.
  out.jwks = typeof jwks === 'string' ? (/^https?:\/\//.test(jwks) ? { url: jwks } : { file: jwks }) : jwks
  const audiences = pick('audiences', 'audience')
  out.audiences = typeof audiences === 'string' ? [audiences] : audiences
  const algorithms = pick('algorithms')
  if (algorithms !== undefined) out.algorithms = typeof algorithms === 'string' ? [algorithms] : algorithms
  const typ = pick('typ')
  if (typ !== undefined) out.typ = typ
  const required = pick('requiredClaims', 'required_claims')
  if (required !== undefined) out.requiredClaims = required
  const mapping = pick('claimsMapping', 'claims_mapping')
  if (mapping !== undefined) {
    if (!isObject(mapping)) invalid(`${key}.claimsMapping`, 'must be a mapping')
    const m: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(mapping)) {
      m[k === 'client_id' ? 'clientId' : k] = v
    }
    out.claimsMapping = m
  }
  const known = new Set(['issuer', 'iss', 'jwks', 'audiences', 'audience', 'algorithms', 'typ', 'requiredClaims', 'required_claims', 'claimsMapping', 'claims_mapping'])
  for (const k of Object.keys(entry)) if (!known.has(k)) invalid(`${key}.${k}`, 'is not a known issuer setting')
  return out
}

/** JWKS refresh settings under `token.jwks_cache` (durations). */
function jwksCache(file: Record<string, unknown>): { jwksCache?: Record<string, number> } {
  const node = get(file, 'token.jwksCache') ?? get(file, 'token.jwks_cache')
  if (node === undefined || node === null) return {}
  if (!isObject(node)) invalid('token.jwksCache', 'must be a mapping')
  const names: Record<string, string> = {
    maxAge: 'cacheMaxAgeMs', max_age: 'cacheMaxAgeMs',
    cooldown: 'cooldownMs',
    timeout: 'timeoutMs',
    fileCheckInterval: 'fileCheckIntervalMs', file_check_interval: 'fileCheckIntervalMs',
    maxStale: 'maxStaleMs', max_stale: 'maxStaleMs',
  }
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries(node)) {
    const target = names[k]
    if (target === undefined) invalid(`token.jwksCache.${k}`, 'is not a known setting')
    const ms = typeof v === 'string' || typeof v === 'number' ? parseDuration(v) : undefined
    if (ms === undefined) invalid(`token.jwksCache.${k}`, `must be a duration like '30s'`)
    out[target] = ms
  }
  return { jwksCache: out }
}

/** Reads a YAML or JSON config file into an object. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new PdpError('ERR_CONFIG_INVALID', `config: cannot read ${path}`, { cause: err })
  }
  let value: unknown
  try {
    value = parseYaml(text)
  } catch (err) {
    throw new PdpError('ERR_CONFIG_INVALID', `config: ${path} is not valid YAML`, { cause: err })
  }
  if (value === null || value === undefined) return {}
  if (!isObject(value)) invalid('config', `${path} must hold a mapping`)
  return value
}

/**
 * One setting: its flag, env var and file key. Precedence is flag, then env, then file.
 */
interface Setting {
  flag: string
  env: string
  file: string
}

const SETTINGS = {
  bundle: { flag: 'bundle', env: 'VERDICT_BUNDLE', file: 'bundle' },
  bundlePoll: { flag: 'bundle-poll', env: 'VERDICT_BUNDLE_POLL', file: 'bundle_source.poll' },
  bundleTimeout: { flag: 'bundle-timeout', env: 'VERDICT_BUNDLE_TIMEOUT', file: 'bundle_source.timeout' },
  bundleMaxBytes: { flag: 'bundle-max-bytes', env: 'VERDICT_BUNDLE_MAX_BYTES', file: 'bundle_source.max_bytes' },
  bundleCache: { flag: 'bundle-cache', env: 'VERDICT_BUNDLE_CACHE', file: 'bundle_source.cache_dir' },
  bundleTokenFile: { flag: 'bundle-token-file', env: 'VERDICT_BUNDLE_TOKEN_FILE', file: 'bundle_source.token_file' },
  bundleCreds: { flag: 'bundle-creds', env: 'VERDICT_BUNDLE_CREDS', file: 'bundle_source.creds' },
  entrypoint: { flag: 'entrypoint', env: 'VERDICT_ENTRYPOINT', file: 'entrypoint' },
  grpc: { flag: 'grpc', env: 'VERDICT_GRPC', file: 'grpc' },
  grpcTransport: { flag: 'grpc-transport', env: 'VERDICT_GRPC_TRANSPORT', file: 'grpc_transport' },
  service: { flag: 'service', env: 'VERDICT_SERVICE', file: 'service' },
  nats: { flag: 'nats', env: 'VERDICT_NATS', file: 'nats' },
  auditSpool: { flag: 'audit-spool', env: 'VERDICT_AUDIT_SPOOL', file: 'audit.spool_dir' },
  auditStream: { flag: 'audit-stream', env: 'VERDICT_AUDIT_STREAM', file: 'audit.stream' },
  auditMask: { flag: 'audit-mask', env: 'VERDICT_AUDIT_MASK', file: 'audit.mask.paths' },
  auditSafeClaims: { flag: 'audit-safe-claims', env: 'VERDICT_AUDIT_SAFE_CLAIMS', file: 'audit.mask.safe_claims' },
  auditKeepTokenClaims: { flag: 'audit-keep-token-claims', env: 'VERDICT_AUDIT_KEEP_TOKEN_CLAIMS', file: 'audit.mask.keep_token_claims' },
  logLevel: { flag: 'log-level', env: 'VERDICT_LOG_LEVEL', file: 'log_level' },
  jwks: { flag: 'jwks', env: 'VERDICT_JWKS', file: 'token.jwks' },
  issuer: { flag: 'issuer', env: 'VERDICT_ISSUER', file: 'token.issuer' },
  audience: { flag: 'audience', env: 'VERDICT_AUDIENCE', file: 'token.audience' },
  clockSkew: { flag: 'clock-skew', env: 'VERDICT_CLOCK_SKEW', file: 'token.clock_skew' },
  requiredClaims: { flag: 'required-claims', env: 'VERDICT_REQUIRED_CLAIMS', file: 'token.required_claims' },
  requiredScopes: { flag: 'required-scope', env: 'VERDICT_REQUIRED_SCOPES', file: 'token.requiredScopes' },
  maxTokenAge: { flag: 'max-token-age', env: 'VERDICT_MAX_TOKEN_AGE', file: 'token.maxTokenAge' },
  typ: { flag: 'token-typ', env: 'VERDICT_TOKEN_TYP', file: 'token.typ' },
  algorithms: { flag: 'algorithms', env: 'VERDICT_ALGORITHMS', file: 'token.algorithms' },
  issuers: { flag: 'issuers', env: 'VERDICT_ISSUERS', file: 'token.issuers' },
  shutdownGrace: { flag: 'shutdown-grace', env: 'VERDICT_SHUTDOWN_GRACE', file: 'shutdown_grace' },
  maxTokenBytes: { flag: 'max-token-bytes', env: 'VERDICT_MAX_TOKEN_BYTES', file: 'limits.max_token_bytes' },
  maxPropertiesBytes: { flag: 'max-properties-bytes', env: 'VERDICT_MAX_PROPERTIES_BYTES', file: 'limits.max_properties_bytes' },
  maxBatchItems: { flag: 'max-batch-items', env: 'VERDICT_MAX_BATCH_ITEMS', file: 'limits.max_batch_items' },
  maxMessageBytes: { flag: 'max-message-bytes', env: 'VERDICT_MAX_MESSAGE_BYTES', file: 'limits.max_message_bytes' },
  workers: { flag: 'workers', env: 'VERDICT_WORKERS', file: 'workers' },
  envoy: { flag: 'envoy', env: 'VERDICT_ENVOY', file: 'envoy.enabled' },
  envoyActions: { flag: 'envoy-actions', env: 'VERDICT_ENVOY_ACTIONS', file: 'envoy.actions' },
  envoyPathPrefix: { flag: 'envoy-path-prefix', env: 'VERDICT_ENVOY_PATH_PREFIX', file: 'envoy.path_prefix' },
  http: { flag: 'http', env: 'VERDICT_HTTP', file: 'http' },
  authzen: { flag: 'authzen', env: 'VERDICT_AUTHZEN', file: 'authzen' },
  verificationKey: { flag: 'verification-key', env: 'VERDICT_VERIFICATION_KEY', file: 'bundle_verification.key' },
  skipVerification: {
    flag: 'insecure-skip-bundle-verification',
    env: 'VERDICT_INSECURE_SKIP_BUNDLE_VERIFICATION',
    file: 'insecure.skip_bundle_verification',
  },
  verificationKeyId: { flag: 'verification-key-id', env: 'VERDICT_VERIFICATION_KEY_ID', file: 'bundle_verification.key_id' },
  verificationAlg: { flag: 'verification-alg', env: 'VERDICT_VERIFICATION_ALG', file: 'bundle_verification.algorithm' },
  verificationScope: { flag: 'scope', env: 'VERDICT_VERIFICATION_SCOPE', file: 'bundle_verification.scope' },
} as const satisfies Record<string, Setting>

/** The flag names `verdict serve` accepts besides `--config`. */
export const SERVE_FLAGS: readonly string[] = Object.values(SETTINGS).map((s) => s.flag)

/**
 * Resolves the serve configuration. Throws `ERR_CONFIG_INVALID` naming the first bad key.
 *
 * @example
 * const config = loadServeConfig({ flags: { bundle: 'trades.tar.gz', jwks: 'jwks.json', ... }, env: process.env })
 */
export function loadServeConfig(sources: ConfigSources): ServeConfig {
  const configPath = sources.flags.config ?? sources.env.VERDICT_CONFIG
  const file = configPath === undefined ? {} : readConfigFile(configPath)

  const raw = (s: Setting): { value: unknown; key: string } => {
    const flag = sources.flags[s.flag]
    if (flag !== undefined) return { value: flag, key: `--${s.flag}` }
    const env = sources.env[s.env]
    if (env !== undefined && env !== '') return { value: env, key: s.env }
    return { value: get(file, s.file), key: s.file }
  }
  const str = (s: Setting, required: boolean): string | undefined => {
    const { value, key } = raw(s)
    if (value === undefined || value === null) {
      if (required) invalid(s.file, `is required (flag --${s.flag}, env ${s.env})`)
      return undefined
    }
    if (typeof value !== 'string' || value === '') invalid(key, 'must be a non-empty string')
    return value
  }
  const int = (s: Setting, fallback: number): number => {
    const { value, key } = raw(s)
    if (value === undefined || value === null) return fallback
    const n = typeof value === 'string' ? Number(value) : value
    if (typeof n !== 'number' || !Number.isInteger(n) || n <= 0) invalid(key, 'must be a positive integer')
    return n
  }
  const duration = (s: Setting, fallback: number): number => {
    const { value, key } = raw(s)
    if (value === undefined || value === null) return fallback
    const ms = typeof value === 'string' || typeof value === 'number' ? parseDuration(value) : undefined
    if (ms === undefined) invalid(key, `must be a duration like '30s' (got ${JSON.stringify(value)})`)
    return ms
  }
  /** A duration from `min` to `max` ms. */
  const bounded = (s: Setting, fallback: number, min: number, max: number): number => {
    const ms = duration(s, fallback)
    if (ms < min || ms > max) invalid(raw(s).key, `must be from ${formatMs(min)} to ${formatMs(max)} (got ${formatMs(ms)})`)
    return ms
  }
  const list = (s: Setting): string[] | undefined => {
    const { value, key } = raw(s)
    if (value === undefined || value === null) return undefined
    if (typeof value === 'string') return value.split(',').map((v) => v.trim()).filter((v) => v !== '')
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[]
    invalid(key, 'must be a list of strings')
  }

  // Scopes are space-delimited like the OAuth scope claim; commas are accepted too.
  const scopeList = (s: Setting): string[] | undefined => {
    const { value, key } = raw(s)
    if (value === undefined || value === null) return undefined
    if (typeof value === 'string') return value.split(/[\s,]+/).filter((v) => v !== '')
    if (Array.isArray(value) && value.every((v) => typeof v === 'string' && v !== '')) return value as string[]
    invalid(key, 'must be a list of scopes')
  }
  const optional = <K extends string, V>(k: K, v: V | undefined | -1) =>
    v === undefined || v === -1 ? {} : ({ [k]: v } as Record<K, V>)

  /**
   * Trusted issuers: either the list under `token.issuers` (file, or JSON in --issuers /
   * VERDICT_ISSUERS), or the single issuer of --issuer/--jwks/--audience.
   */
  const issuerList = (): unknown[] => {
    const { value, key } = raw(SETTINGS.issuers)
    if (value !== undefined && value !== null) {
      let list: unknown = value
      if (typeof value === 'string') {
        try {
          list = JSON.parse(value)
        } catch {
          invalid(key, 'must be a JSON list of issuers')
        }
      }
      if (!Array.isArray(list) || list.length === 0) invalid(key, 'must list at least one issuer')
      return list.map((entry, i) => issuerEntry(entry, `${key}[${i}]`))
    }
    const jwks = str(SETTINGS.jwks, true)!
    const audiences = list(SETTINGS.audience)
    if (audiences === undefined || audiences.length === 0) {
      invalid(SETTINGS.audience.file, `is required (flag --audience, env ${SETTINGS.audience.env})`)
    }
    const requiredClaims = list(SETTINGS.requiredClaims)
    const algorithms = list(SETTINGS.algorithms)
    const typ = list(SETTINGS.typ)
    return [
      {
        issuer: str(SETTINGS.issuer, true)!,
        jwks: /^https?:\/\//.test(jwks) ? { url: jwks } : { file: jwks },
        audiences,
        ...optional('requiredClaims', requiredClaims),
        ...optional('algorithms', algorithms),
        ...optional('typ', typ),
      },
    ]
  }

  const logLevel = str(SETTINGS.logLevel, false) ?? 'info'
  if (!isLogLevel(logLevel)) invalid(SETTINGS.logLevel.file, `must be one of debug, info, warn, error`)

  const tokenDefaults = defaultTokenOptions()
  const token = validateTokenOptions({
    ...tokenDefaults,
    clockSkewMs: duration(SETTINGS.clockSkew, tokenDefaults.clockSkewMs),
    maxTokenBytes: int(SETTINGS.maxTokenBytes, tokenDefaults.maxTokenBytes),
    ...optional('maxTokenAgeMs', duration(SETTINGS.maxTokenAge, -1)),
    ...optional('requiredScopes', scopeList(SETTINGS.requiredScopes)),
    ...jwksCache(file),
    issuers: issuerList(),
  })

  const workers = (): number => {
    const { value, key } = raw(SETTINGS.workers)
    if (value === undefined || value === null) return 1
    if (value === 'auto') return Math.min(availableParallelism(), MAX_WORKERS)
    const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_WORKERS) {
      invalid(key, `must be auto or an integer from 1 to ${MAX_WORKERS} (got ${JSON.stringify(value)})`)
    }
    return n
  }

  /** `envoy:` — enabled (true/false), actions (mapping, or `GET=read,POST=create`), path_prefix. */
  const envoy = (): ExtAuthzOptions => {
    const out = defaultExtAuthzOptions()
    const enabled = raw(SETTINGS.envoy)
    if (enabled.value === true || enabled.value === 'true') out.enabled = true
    else if (enabled.value === false || enabled.value === 'false') out.enabled = false
    else if (enabled.value !== undefined && enabled.value !== null) invalid(enabled.key, 'must be true or false')
    const actions = raw(SETTINGS.envoyActions)
    if (typeof actions.value === 'string') {
      out.actions = {}
      for (const pair of actions.value.split(',')) {
        const [method, action, extra] = pair.split('=').map((v) => v.trim())
        if (!method || !action || extra !== undefined) {
          invalid(actions.key, 'must be METHOD=action pairs like GET=read,POST=create')
        }
        out.actions[method] = action
      }
    } else if (isObject(actions.value)) out.actions = actions.value as Record<string, string>
    else if (actions.value !== undefined && actions.value !== null) invalid(actions.key, 'must map HTTP methods to actions')
    out.pathPrefix = str(SETTINGS.envoyPathPrefix, false) ?? ''
    return validateExtAuthzOptions(out)
  }

  /**
   * `audit.mask`: JSON pointers into the policy input to mask (a list in files, comma-separated
   * in flags and env), the token claims kept as they are, and whether to keep them all. Undefined
   * when none is set: the audit defaults (every claim but a safe list masked).
   */
  const auditMask = (): MaskOptions | undefined => {
    const node = get(file, 'audit.mask')
    if (node !== undefined && node !== null) {
      const known = ['paths', 'safe_claims', 'keep_token_claims']
      if (!isObject(node)) invalid('audit.mask', `must be a mapping with ${known.join(', ')}`)
      for (const k of Object.keys(node)) {
        if (!known.includes(k)) invalid(`audit.mask.${k}`, `is not a known setting (${known.join(', ')})`)
      }
    }
    const paths = list(SETTINGS.auditMask)
    const safeClaims = list(SETTINGS.auditSafeClaims)
    const keep = raw(SETTINGS.auditKeepTokenClaims)
    let keepTokenClaims: boolean | undefined
    if (keep.value === true || keep.value === 'true') keepTokenClaims = true
    else if (keep.value === false || keep.value === 'false') keepTokenClaims = false
    else if (keep.value !== undefined && keep.value !== null) invalid(keep.key, 'must be true or false')
    if (paths === undefined && safeClaims === undefined && keepTokenClaims === undefined) return undefined
    return validateMaskOptions(
      { ...optional('paths', paths), ...optional('safeClaims', safeClaims), ...optional('keepTokenClaims', keepTokenClaims) },
      { paths: raw(SETTINGS.auditMask).key, safeClaims: raw(SETTINGS.auditSafeClaims).key, keepTokenClaims: keep.key },
    )
  }

  const grpcTransport = str(SETTINGS.grpcTransport, false) ?? 'verdict'
  if (!(GRPC_TRANSPORTS as readonly string[]).includes(grpcTransport)) {
    invalid(SETTINGS.grpcTransport.file, `must be one of ${GRPC_TRANSPORTS.join(', ')} (got ${grpcTransport})`)
  }

  /**
   * `bundle_verification:` — a key file (PEM public key or certificate, JWKS, or with an HS*
   * algorithm the HMAC secret) or the secret in VERDICT_VERIFICATION_SECRET; key_id, algorithm,
   * scope. The key is read and checked here, once, so a bad one stops the start.
   */
  const bundleVerification = (): VerifyBundleOptions | undefined => {
    const keyFile = str(SETTINGS.verificationKey, false)
    const secret = sources.env[VERIFICATION_SECRET_ENV]
    const hasSecret = secret !== undefined && secret !== ''
    const keyId = str(SETTINGS.verificationKeyId, false)
    const scope = str(SETTINGS.verificationScope, false)
    const alg = str(SETTINGS.verificationAlg, false)
    const others = [SETTINGS.verificationKeyId, SETTINGS.verificationAlg, SETTINGS.verificationScope]
    // Verified by default: serving unverified bundles takes an explicit, loudly named opt-out.
    const skip = raw(SETTINGS.skipVerification)
    if (skip.value !== undefined && skip.value !== null && ![true, false, 'true', 'false'].includes(skip.value as never)) {
      invalid(skip.key, 'must be true or false')
    }
    const skipping = skip.value === true || skip.value === 'true'
    if (skipping && (keyFile !== undefined || hasSecret)) {
      invalid(skip.key, 'contradicts the configured verification key: give one or the other')
    }
    if (keyFile === undefined && !hasSecret && !skipping) {
      invalid(
        SETTINGS.verificationKey.file,
        `is required: bundles must be signed (verdict build --signing-key) and are verified by default. ` +
          `Give the public key with --verification-key <file> (or the HMAC secret in ${VERIFICATION_SECRET_ENV}), ` +
          `or serve unverified bundles with --insecure-skip-bundle-verification`,
      )
    }
    if (keyFile === undefined && !hasSecret) {
      for (const s of others) {
        const { value, key } = raw(s)
        if (value !== undefined && value !== null) {
          invalid(key, `needs a bundle verification key (--verification-key, or the HMAC secret in ${VERIFICATION_SECRET_ENV})`)
        }
      }
      return undefined
    }
    const keyName = hasSecret ? VERIFICATION_SECRET_ENV : raw(SETTINGS.verificationKey).key
    if (keyFile !== undefined && hasSecret) invalid(keyName, `give a key file or ${VERIFICATION_SECRET_ENV}, not both`)
    if (alg !== undefined && !isSigningAlgorithm(alg)) {
      invalid(raw(SETTINGS.verificationAlg).key, `must be one of ${SIGNING_ALGORITHMS.join(', ')} (got ${alg})`)
    }
    const algorithm = alg ?? (hasSecret ? 'HS256' : undefined)
    if (hasSecret && !isHmacAlgorithm(algorithm!)) {
      invalid(raw(SETTINGS.verificationAlg).key, `must be HS256, HS384 or HS512 with ${VERIFICATION_SECRET_ENV}`)
    }
    let material: Uint8Array
    if (hasSecret) material = new TextEncoder().encode(secret)
    else {
      try {
        material = new Uint8Array(readFileSync(keyFile!))
      } catch (err) {
        throw new PdpError('ERR_CONFIG_INVALID', `${keyName}: cannot read ${keyFile}`, { cause: err })
      }
    }
    try {
      const key = createVerificationKey(material, algorithm === undefined ? {} : { algorithm })
      return { key, ...optional('keyId', keyId), ...optional('scope', scope) }
    } catch (err) {
      if (!(err instanceof BundleError)) throw err
      throw new PdpError('ERR_CONFIG_INVALID', `${keyName}: ${err.message.replace(/^verification key: /, '')}`, { cause: err })
    }
  }

  const bundle = str(SETTINGS.bundle, true)!
  const bundleMaxBytes = int(SETTINGS.bundleMaxBytes, DEFAULT_MAX_BUNDLE_BYTES)

  /**
   * The bundle source: `bundle` parsed (path, http(s) URL, nats URL) with `bundle_source.*`. The
   * token itself is read only from VERDICT_BUNDLE_TOKEN (never a flag, which `ps` shows, nor
   * the file, which gets copied around); `bundle_source.token_file` names a file holding it.
   */
  const bundleSource = (service: string): BundleSourceOptions => {
    const node = get(file, 'bundle_source')
    if (node !== undefined && node !== null) {
      if (!isObject(node)) invalid('bundle_source', 'must be a mapping')
      const known = new Set(['poll', 'timeout', 'max_bytes', 'cache_dir', 'token_file', 'creds'])
      for (const k of Object.keys(node)) {
        if (k === 'token') invalid('bundle_source.token', 'is not read from files; use token_file or VERDICT_BUNDLE_TOKEN')
        if (!known.has(k)) invalid(`bundle_source.${k}`, 'is not a known setting')
      }
    }
    const source = defaultBundleSourceOptions(bundle)
    if (source.kind === 'file') return source
    const token = sources.env.VERDICT_BUNDLE_TOKEN
    const tokenFile = str(SETTINGS.bundleTokenFile, false)
    source.timeoutMs = bounded(SETTINGS.bundleTimeout, source.timeoutMs, MIN_BUNDLE_TIMEOUT_MS, MAX_BUNDLE_TIMEOUT_MS)
    source.maxBytes = bundleMaxBytes
    if (token !== undefined && token !== '') source.token = token.trim()
    if (tokenFile !== undefined) source.tokenFile = tokenFile
    if (source.kind === 'http') {
      source.pollIntervalMs = bounded(SETTINGS.bundlePoll, source.pollIntervalMs, MIN_BUNDLE_POLL_MS, MAX_BUNDLE_POLL_MS)
      // Failures back off up to the poll interval: never checked less often than when healthy.
      source.backoffMaxMs = Math.max(source.pollIntervalMs, source.backoffMinMs)
    } else {
      const creds = str(SETTINGS.bundleCreds, false)
      if (creds !== undefined) source.credsFile = creds
      source.name = `verdict-bundles-${service}`
    }
    return validateBundleSourceOptions(source)
  }

  const limitDefaults = defaultLimitsOptions()
  const config: ServeConfig = {
    bundle,
    bundleSource: { kind: 'file', path: bundle },
    bundleMaxBytes,
    grpc: str(SETTINGS.grpc, false) ?? DEFAULT_GRPC_ADDRESS,
    grpcTransport: grpcTransport as GrpcTransport,
    service: str(SETTINGS.service, false) ?? DEFAULT_SERVICE,
    logLevel,
    token,
    limits: {
      maxTokenBytes: token.maxTokenBytes,
      maxPropertiesBytes: int(SETTINGS.maxPropertiesBytes, limitDefaults.maxPropertiesBytes),
      maxBatchItems: int(SETTINGS.maxBatchItems, limitDefaults.maxBatchItems),
      maxMessageBytes: int(SETTINGS.maxMessageBytes, limitDefaults.maxMessageBytes),
    },
    shutdownGraceMs: duration(SETTINGS.shutdownGrace, DEFAULT_SHUTDOWN_GRACE_MS),
    workers: workers(),
    envoy: envoy(),
    audit: {},
  }
  // host:port, or a unix domain socket (unix:///abs/path or unix:rel/path), a sidecar's natural
  // transport: no TCP stack between the API and its PDP.
  if (!/^[^\s]+:\d+$/.test(config.grpc) && !/^unix:(\/\/)?\S+$/.test(config.grpc)) {
    invalid(SETTINGS.grpc.file, `must be host:port or unix:///path/to.sock (got ${config.grpc})`)
  }
  if (!/^[A-Za-z0-9_-]+$/.test(config.service)) {
    invalid(SETTINGS.service.file, 'must be a NATS subject token (letters, digits, - and _)')
  }
  const http = str(SETTINGS.http, false)
  if (http === undefined) config.http = { address: DEFAULT_HTTP_ADDRESS, isDefault: true }
  else if (http !== 'off') {
    if (parseHostPort(http) === undefined) invalid(raw(SETTINGS.http).key, `must be host:port or off (got ${http})`)
    config.http = { address: http, isDefault: false }
  }
  const authzen = str(SETTINGS.authzen, false)
  if (authzen !== undefined && authzen !== 'off') {
    if (parseHostPort(authzen) === undefined && !/^unix:(\/\/)?\S+$/.test(authzen)) {
      invalid(raw(SETTINGS.authzen).key, `must be host:port, unix:///path/to.sock or off (got ${authzen})`)
    }
    config.authzen = authzen
  }
  const verification = bundleVerification()
  if (verification !== undefined) config.bundleVerification = verification
  config.bundleSource = bundleSource(config.service)
  if (config.bundleSource.kind !== 'file') {
    // Beside the audit spool's default: per service, so two sidecars on a host keep their own.
    const cache = str(SETTINGS.bundleCache, false) ?? join(tmpdir(), `verdict-bundle-cache-${config.service}`)
    if (cache !== 'off') config.bundleCache = cache
  }
  const entrypoint = str(SETTINGS.entrypoint, false)
  if (entrypoint !== undefined) config.entrypoint = entrypoint.replace(/^\/+|\/+$/g, '')
  const nats = str(SETTINGS.nats, false)
  if (nats !== undefined) {
    config.nats = nats
    const stream = str(SETTINGS.auditStream, false)
    config.audit = {
      nats: {
        servers: nats.split(',').map((s) => s.trim()),
        spoolDir: str(SETTINGS.auditSpool, false) ?? join(tmpdir(), `verdict-audit-spool-${config.service}`),
        name: `verdict-${config.service}`,
        ...(stream === undefined ? {} : { stream }),
      },
    }
  }
  const mask = auditMask()
  if (mask !== undefined) config.audit.mask = mask
  return config
}
