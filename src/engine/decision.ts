/**
 * What an evaluation yields: the decision codes and the interpretation of a policy's output
 * (a boolean, or `{allow, reasons?, obligations?, code?}`). Anything else fails closed.
 *
 * @module
 */

/** Why a decision came out the way it did; the names of the `verdict.v1.DecisionCode` enum. */
export const DecisionCode = {
  OK: 'OK',
  TOKEN_MISSING: 'TOKEN_MISSING',
  TOKEN_INVALID: 'TOKEN_INVALID',
  TOKEN_EXPIRED: 'TOKEN_EXPIRED',
  TOKEN_NOT_YET_VALID: 'TOKEN_NOT_YET_VALID',
  TOKEN_SIGNATURE_INVALID: 'TOKEN_SIGNATURE_INVALID',
  TOKEN_UNKNOWN_KEY: 'TOKEN_UNKNOWN_KEY',
  TOKEN_UNTRUSTED_ISSUER: 'TOKEN_UNTRUSTED_ISSUER',
  TOKEN_WRONG_AUDIENCE: 'TOKEN_WRONG_AUDIENCE',
  TOKEN_WRONG_TYPE: 'TOKEN_WRONG_TYPE',
  TOKEN_MALFORMED: 'TOKEN_MALFORMED',
  TOKEN_TOO_LARGE: 'TOKEN_TOO_LARGE',
  INSUFFICIENT_SCOPE: 'INSUFFICIENT_SCOPE',
  POLICY_DENIED: 'POLICY_DENIED',
  NO_POLICY: 'NO_POLICY',
  EVALUATION_ERROR: 'EVALUATION_ERROR',
  REQUEST_INVALID: 'REQUEST_INVALID',
  SUBJECT_MISMATCH: 'SUBJECT_MISMATCH',
} as const

/** One of the {@link DecisionCode} names. */
export type DecisionCode = (typeof DecisionCode)[keyof typeof DecisionCode]

/** An evaluation error, parsed from an `opa_abort` message or a trap. */
export interface EvaluationError {
  /** OPA-style code, e.g. `eval_conflict_error`, or `wasm_trap` / `internal_error`. */
  code: string
  message: string
  location?: { file: string; row: number; col: number }
}

/** The outcome of one evaluation. */
export interface Decision {
  allow: boolean
  code: DecisionCode
  reasons: string[]
  obligations?: Record<string, unknown>
  /** Set when `code` is EVALUATION_ERROR. */
  error?: EvaluationError
}

/** Policy-chosen deny codes; other codes are Verdict's own. */
const POLICY_CODES = new Set<string>([DecisionCode.POLICY_DENIED, DecisionCode.INSUFFICIENT_SCOPE])

/** A deny for an evaluation error. */
export function evaluationErrorDecision(error: EvaluationError): Decision {
  return { allow: false, code: DecisionCode.EVALUATION_ERROR, reasons: [`${error.code}: ${error.message}`], error }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/**
 * Interprets an opa-wasm result set (`[{result: value}]`) as a decision. An empty set (the
 * entrypoint is undefined), several rows, or a value of the wrong shape is an evaluation error.
 */
export function interpretResultSet(rows: unknown): Decision {
  if (!Array.isArray(rows)) return evaluationErrorDecision({ code: 'internal_error', message: 'result set is not an array' })
  if (rows.length === 0) {
    return evaluationErrorDecision({ code: 'undefined_decision', message: 'the policy decision is undefined' })
  }
  if (rows.length > 1) {
    return evaluationErrorDecision({ code: 'internal_error', message: 'the policy returned several results' })
  }
  const row = rows[0] as unknown
  if (!isPlainObject(row) || !('result' in row)) {
    return evaluationErrorDecision({ code: 'internal_error', message: 'result row has no result' })
  }
  return interpretValue(row.result)
}

// Module level, not a closure per call: under tsx a named closure also costs a defineProperty.
function shape(message: string): Decision {
  return evaluationErrorDecision({ code: 'invalid_decision', message })
}

/** Interprets one policy output value. */
export function interpretValue(value: unknown): Decision {
  if (typeof value === 'boolean') {
    return { allow: value, code: value ? DecisionCode.OK : DecisionCode.POLICY_DENIED, reasons: [] }
  }
  if (!isPlainObject(value)) return shape('the decision must be a boolean or an object')
  if (typeof value.allow !== 'boolean') return shape('decision.allow must be a boolean')
  let reasons: string[] = []
  if (value.reasons !== undefined) {
    if (!Array.isArray(value.reasons) || value.reasons.some((r) => typeof r !== 'string')) {
      return shape('decision.reasons must be an array of strings')
    }
    reasons = value.reasons as string[]
  }
  if (value.obligations !== undefined && !isPlainObject(value.obligations)) {
    return shape('decision.obligations must be an object')
  }
  let code: DecisionCode = value.allow ? DecisionCode.OK : DecisionCode.POLICY_DENIED
  if (value.code !== undefined) {
    if (typeof value.code !== 'string' || !POLICY_CODES.has(value.code)) {
      return shape('decision.code must be "POLICY_DENIED" or "INSUFFICIENT_SCOPE"')
    }
    // An allow stays OK whatever code the policy sets: a code only explains a deny.
    if (!value.allow) code = value.code as DecisionCode
  }
  const decision: Decision = { allow: value.allow, code, reasons }
  if (value.obligations !== undefined) decision.obligations = value.obligations as Record<string, unknown>
  return decision
}

const ABORT = /^(?:(.+?):(\d+)(?::(\d+))?: )?([a-z][a-z0-9_]*): ([\s\S]*)$/

/**
 * Parses an `opa_abort` message of the form `[file:row[:col]: ]<code>: <message>` (Verdict's
 * modules write `file:row:` like OPA's errors). Messages that
 * do not match keep their text under the code `eval_error`.
 */
export function parseAbortMessage(text: string): EvaluationError {
  const m = ABORT.exec(text)
  if (m === null) return { code: 'eval_error', message: text }
  const error: EvaluationError = { code: m[4]!, message: m[5]! }
  if (m[1] !== undefined) error.location = { file: m[1], row: Number(m[2]), col: m[3] === undefined ? 0 : Number(m[3]) }
  return error
}
