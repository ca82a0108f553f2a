/**
 * Errors of the Rego front end and compile stages: `RegoError` for one problem at one place and
 * `RegoErrors` for a sorted, capped list of them, rendered OPA-style with a code frame.
 *
 * @module
 */

import type { Location } from './ast.js'
import { compareLocations } from './location.js'
import { Source } from './source.js'
import { PdpError } from '../util/errors.js'

/** The error codes of Rego compilation; the strings are OPA's, so tools can match on them. */
export const RegoErrorCode = {
  parse: 'rego_parse_error',
  compile: 'rego_compile_error',
  type: 'rego_type_error',
  unsafeVar: 'rego_unsafe_var_error',
  recursion: 'rego_recursion_error',
} as const
export type RegoErrorCode = (typeof RegoErrorCode)[keyof typeof RegoErrorCode]

/** How many errors a `RegoErrors` keeps by default (OPA stops at 10 too). */
export const DEFAULT_MAX_ERRORS = 10

/** One problem in Rego source: an OPA error code, a message and where it is. */
export class RegoError extends PdpError {
  declare readonly code: RegoErrorCode
  /** Where the problem is. */
  readonly location: Location
  /** The message without the location prefix. */
  readonly detail: string

  constructor(code: RegoErrorCode, detail: string, location: Location, options?: { cause?: unknown }) {
    super(code, `${location.file}:${location.row}:${location.col}: ${code}: ${detail}`, options)
    this.location = location
    this.detail = detail
  }
}

/** Options of `RegoErrors`. */
export interface RegoErrorsOptions {
  /** Source texts by file name, for code frames. Files not listed get no frame. */
  sources?: Record<string, string> | Map<string, string>
  /** Keep at most this many errors (default `DEFAULT_MAX_ERRORS`). */
  maxErrors?: number
}

/**
 * Several Rego errors at once, sorted by location and capped. Its `code` is the code of the
 * first error, so a caller can switch on it like on a single `RegoError`.
 *
 * @example
 * ```ts
 * try { parseModule(text, 'authz.rego') } catch (e) {
 *   if (e instanceof RegoErrors) for (const err of e.errors) console.log(err.location.row)
 * }
 * ```
 */
export class RegoErrors extends PdpError {
  declare readonly code: RegoErrorCode
  /** The errors kept, in location order. */
  readonly errors: RegoError[]
  /** How many errors were dropped because of the cap. */
  readonly dropped: number

  constructor(errors: RegoError[], options: RegoErrorsOptions = {}) {
    if (errors.length === 0) throw new TypeError('RegoErrors needs at least one error')
    const max = options.maxErrors ?? DEFAULT_MAX_ERRORS
    const sorted = [...errors].sort((a, b) => compareLocations(a.location, b.location))
    const kept = sorted.slice(0, max)
    const dropped = sorted.length - kept.length
    super(kept[0]!.code, renderErrors(kept, dropped, options.sources))
    this.errors = kept
    this.dropped = dropped
  }
}

/** Renders errors as `file:row:col: code: message` lines, each followed by a code frame. */
export function renderErrors(
  errors: readonly RegoError[],
  dropped = 0,
  sources?: Record<string, string> | Map<string, string>,
): string {
  const lookup = (file: string): string | undefined =>
    sources instanceof Map ? sources.get(file) : sources?.[file]
  const cache = new Map<string, Source>()
  const parts: string[] = []
  const head = errors.length + dropped === 1 ? '1 error occurred' : `${errors.length + dropped} errors occurred`
  parts.push(`${head}:`)
  for (const err of errors) {
    parts.push(err.message)
    const text = lookup(err.location.file)
    if (text === undefined) continue
    let src = cache.get(err.location.file)
    if (src === undefined) {
      src = new Source(text, err.location.file)
      cache.set(err.location.file, src)
    }
    parts.push(codeFrame(src, err.location))
  }
  if (dropped > 0) parts.push(`(${dropped} more not shown)`)
  return parts.join('\n')
}

/** The source line of `loc` and a caret under its column, indented for readability. */
export function codeFrame(source: Source, loc: Location): string {
  const line = source.line(loc.row)
  // Tabs are kept in the caret line so the caret lines up in terminals.
  const pad = line.slice(0, Math.max(0, loc.col - 1)).replace(/[^\t]/g, ' ')
  return `\t${line}\n\t${pad}^`
}
