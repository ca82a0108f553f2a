/**
 * A small structured logger: one JSON object per line on a stream (stderr by default), so the
 * sidecar's logs can be shipped as they are.
 *
 * @module
 */

import type { Writable } from 'node:stream'

/** Log levels, lowest first. */
export const LogLevel = { debug: 'debug', info: 'info', warn: 'warn', error: 'error' } as const

/** One of the {@link LogLevel} names. */
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel]

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

/** A JSON-lines logger. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
  /**
   * Whether lines at `level` are written. Optional so any logger fits; callers on the Check path
   * use it to skip building fields that would be dropped.
   */
  isEnabled?(level: LogLevel): boolean
}

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** Lowest level written. Example: `'info'`. */
  level?: LogLevel
  /** Where lines go; default `process.stderr`. */
  stream?: Writable
  /** Fields on every line, before the call's own. Example: `{ worker: 1 }`. */
  fields?: Record<string, unknown>
}

/** Whether `value` names a log level. */
export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && value in RANK
}

/**
 * Creates a logger writing `{"time","level","msg",...fields}` lines.
 *
 * @example
 * createLogger({ level: 'info' }).info('listening', { address: '127.0.0.1:50051' })
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const min = RANK[options.level ?? 'info']
  const stream = options.stream ?? process.stderr
  const base = options.fields
  const write = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (RANK[level] < min) return
    const line = { time: new Date().toISOString(), level, msg, ...base, ...fields }
    stream.write(`${JSON.stringify(line, errorReplacer)}\n`)
  }
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    isEnabled: (level) => RANK[level] >= min,
  }
}

// Errors have no enumerable fields; keep their name, code and message in the log line.
function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    return { name: value.name, message: value.message, code: (value as { code?: unknown }).code }
  }
  return value
}
