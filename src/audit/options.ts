/**
 * Audit options, their validation, and the factory that picks a sink: JetStream when a NATS URL
 * is configured, JSON lines on stderr otherwise.
 *
 * @module
 */
import type { Writable } from 'node:stream'
import { PdpError } from '../util/errors.js'
import type { MaskOptions } from './event.js'
import { JetStreamAuditSink, type JetStreamAuditOptions } from './jetstream-sink.js'
import { LogAuditSink, type AuditSink } from './sink.js'

/** Audit configuration. */
export interface AuditOptions {
  /** JetStream settings; without them events are logged as JSON lines. */
  nats?: JetStreamAuditOptions
  /** Writable for the log sink; default stderr. */
  output?: Writable
  /** Input masking used by callers of `buildDecisionEvent`. */
  mask?: MaskOptions
}

/** The names {@link validateMaskOptions} gives each field in its errors. */
export interface MaskOptionKeys {
  paths: string
  safeClaims: string
  keepTokenClaims: string
}

/** The config file's keys for {@link MaskOptions}. */
export const MASK_OPTION_KEYS: MaskOptionKeys = {
  paths: 'audit.mask.paths',
  safeClaims: 'audit.mask.safe_claims',
  keepTokenClaims: 'audit.mask.keep_token_claims',
}

/** Why `pointer` cannot be a mask path, or undefined when it can (RFC 6901 syntax, into the input). */
function pointerProblem(pointer: string): string | undefined {
  const shown = JSON.stringify(pointer)
  if (!pointer.startsWith('/')) {
    return `${shown} is not a JSON pointer: it must start with /, e.g. /context/ip or /resource/properties/ssn`
  }
  if (pointer === '/input') return `${shown} would mask the whole input: name a field in it, e.g. /input/context/ip`
  if (/~(?![01])/.test(pointer)) return `${shown} is not a JSON pointer: ~ must be followed by 0 or 1 (~0 is ~, ~1 is /)`
  return undefined
}

/**
 * Checks mask options and returns them. Throws `ERR_CONFIG_INVALID` naming the key (from `keys`,
 * default the config file's `audit.mask.*`, with the list index) and the bad value: a path that
 * is not a JSON pointer, an empty claim name, a `keepTokenClaims` that is not a boolean.
 *
 * @example
 * validateMaskOptions({ paths: ['/context/ip', '/resource/properties/ssn'], safeClaims: ['sub', 'scope'] })
 */
export function validateMaskOptions(options: MaskOptions, keys: MaskOptionKeys = MASK_OPTION_KEYS): MaskOptions {
  const invalid = (key: string, why: string): never => {
    throw new PdpError('ERR_CONFIG_INVALID', `${key}: ${why}`)
  }
  const list = (value: unknown, key: string): string[] => {
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) invalid(key, 'must be a list of strings')
    return [...(value as string[])]
  }
  const out: MaskOptions = {}
  if (options.paths !== undefined) {
    const paths = list(options.paths, keys.paths)
    paths.forEach((p, i) => {
      const problem = pointerProblem(p)
      if (problem !== undefined) invalid(`${keys.paths}[${i}]`, problem)
    })
    out.paths = paths
  }
  if (options.safeClaims !== undefined) {
    const claims = list(options.safeClaims, keys.safeClaims)
    claims.forEach((c, i) => {
      if (c === '') invalid(`${keys.safeClaims}[${i}]`, 'must be a claim name, not empty')
    })
    out.safeClaims = claims
  }
  if (options.keepTokenClaims !== undefined) {
    if (typeof options.keepTokenClaims !== 'boolean') invalid(keys.keepTokenClaims, 'must be true or false')
    out.keepTokenClaims = options.keepTokenClaims
  }
  return out
}

/** Builds the configured sink. Never connects synchronously; never throws on NATS problems. */
export function createAuditSink(options: AuditOptions = {}): AuditSink {
  if (options.nats && options.nats.servers.length > 0) return new JetStreamAuditSink(options.nats)
  return new LogAuditSink(options.output)
}
