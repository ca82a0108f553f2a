/**
 * The one base class for Verdict's errors. Every error has a literal `code` that a `switch`
 * can narrow on; `name` is the constructor's name; `cause` follows ES2022.
 *
 * Codes for Rego compile and runtime errors reuse OPA's strings (`rego_parse_error`,
 * `eval_conflict_error`, ...). All other codes are `ERR_<AREA>_<REASON>`.
 *
 * @module
 */

/** Base class of every error Verdict raises on purpose. */
export class PdpError extends Error {
  /** A stable, machine-readable code. */
  readonly code: string

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** Throws when a state that should be impossible is reached. Never becomes a PdpError. */
export function invariant(condition: unknown, message = 'invariant violated'): asserts condition {
  if (!condition) throw new Error(`invariant: ${message}`)
}
