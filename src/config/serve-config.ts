/**
 * The `verdict serve` configuration: read once from flags, the environment (`VERDICT_*`) and a
 * YAML/JSON file, in that order of precedence, validated, and handed out as each module's typed
 * options.
 *
 * @module
 */

import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import type { AuditOptions } from '../audit/index.js'
import type { LogLevel } from '../server/index.js'
import { defaultLimitsOptions, isLogLevel } from '../server/index.js'
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

/** Everything `verdict serve` needs, typed per module. */
export interface ServeConfig {
  /** Bundle file (`.tar.gz`) or directory. Example: `./trades.tar.gz`. */
  bundle: string
  /** Entrypoint to evaluate; default the manifest's first wasm entrypoint. Example: `trades/decision`. */
  entrypoint?: string
  /** gRPC listen address. Example: `127.0.0.1:50051`. */
  grpc: string
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
}

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
  entrypoint: { flag: 'entrypoint', env: 'VERDICT_ENTRYPOINT', file: 'entrypoint' },
  grpc: { flag: 'grpc', env: 'VERDICT_GRPC', file: 'grpc' },
  service: { flag: 'service', env: 'VERDICT_SERVICE', file: 'service' },
  nats: { flag: 'nats', env: 'VERDICT_NATS', file: 'nats' },
  auditSpool: { flag: 'audit-spool', env: 'VERDICT_AUDIT_SPOOL', file: 'audit.spool_dir' },
  auditStream: { flag: 'audit-stream', env: 'VERDICT_AUDIT_STREAM', file: 'audit.stream' },
  logLevel: { flag: 'log-level', env: 'VERDICT_LOG_LEVEL', file: 'log_level' },
  jwks: { flag: 'jwks', env: 'VERDICT_JWKS', file: 'token.jwks' },
  issuer: { flag: 'issuer', env: 'VERDICT_ISSUER', file: 'token.issuer' },
  audience: { flag: 'audience', env: 'VERDICT_AUDIENCE', file: 'token.audience' },
  clockSkew: { flag: 'clock-skew', env: 'VERDICT_CLOCK_SKEW', file: 'token.clock_skew' },
  requiredClaims: { flag: 'required-claims', env: 'VERDICT_REQUIRED_CLAIMS', file: 'token.required_claims' },
  shutdownGrace: { flag: 'shutdown-grace', env: 'VERDICT_SHUTDOWN_GRACE', file: 'shutdown_grace' },
  maxTokenBytes: { flag: 'max-token-bytes', env: 'VERDICT_MAX_TOKEN_BYTES', file: 'limits.max_token_bytes' },
  maxPropertiesBytes: { flag: 'max-properties-bytes', env: 'VERDICT_MAX_PROPERTIES_BYTES', file: 'limits.max_properties_bytes' },
  maxBatchItems: { flag: 'max-batch-items', env: 'VERDICT_MAX_BATCH_ITEMS', file: 'limits.max_batch_items' },
  maxMessageBytes: { flag: 'max-message-bytes', env: 'VERDICT_MAX_MESSAGE_BYTES', file: 'limits.max_message_bytes' },
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
  const list = (s: Setting): string[] | undefined => {
    const { value, key } = raw(s)
    if (value === undefined || value === null) return undefined
    if (typeof value === 'string') return value.split(',').map((v) => v.trim()).filter((v) => v !== '')
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[]
    invalid(key, 'must be a list of strings')
  }

  const logLevel = str(SETTINGS.logLevel, false) ?? 'info'
  if (!isLogLevel(logLevel)) invalid(SETTINGS.logLevel.file, `must be one of debug, info, warn, error`)

  const jwks = str(SETTINGS.jwks, true)!
  const audiences = list(SETTINGS.audience)
  if (audiences === undefined || audiences.length === 0) {
    invalid(SETTINGS.audience.file, `is required (flag --audience, env ${SETTINGS.audience.env})`)
  }
  const tokenDefaults = defaultTokenOptions()
  const requiredClaims = list(SETTINGS.requiredClaims)
  const token = validateTokenOptions({
    ...tokenDefaults,
    clockSkewMs: duration(SETTINGS.clockSkew, tokenDefaults.clockSkewMs),
    maxTokenBytes: int(SETTINGS.maxTokenBytes, tokenDefaults.maxTokenBytes),
    issuers: [
      {
        issuer: str(SETTINGS.issuer, true)!,
        jwks: /^https?:\/\//.test(jwks) ? { url: jwks } : { file: jwks },
        audiences,
        ...(requiredClaims === undefined ? {} : { requiredClaims }),
      },
    ],
  })

  const limitDefaults = defaultLimitsOptions()
  const config: ServeConfig = {
    bundle: str(SETTINGS.bundle, true)!,
    grpc: str(SETTINGS.grpc, false) ?? DEFAULT_GRPC_ADDRESS,
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
    audit: {},
  }
  if (!/^[^\s]+:\d+$/.test(config.grpc)) invalid(SETTINGS.grpc.file, `must be host:port (got ${config.grpc})`)
  if (!/^[A-Za-z0-9_-]+$/.test(config.service)) {
    invalid(SETTINGS.service.file, 'must be a NATS subject token (letters, digits, - and _)')
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
  return config
}
