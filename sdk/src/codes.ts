/**
 * Decision codes by name, as the PDP sends them, and the mapping from the wire enum.
 *
 * @module
 */

import { DecisionCode as WireCode } from './gen/verdict/v1/authorizer_pb.js'

/** Why a decision came out the way it did. */
export const DecisionCode = {
  UNSPECIFIED: 'UNSPECIFIED',
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

const BY_NUMBER = new Map<number, DecisionCode>(
  Object.entries(WireCode).map(([name, n]) => [n as number, name as DecisionCode]),
)

/** The name of a wire enum value; unknown numbers (a newer server) read as UNSPECIFIED. */
export function decisionCodeName(value: number): DecisionCode {
  return BY_NUMBER.get(value) ?? DecisionCode.UNSPECIFIED
}

/** Whether `code` says the token itself was the problem. */
export function isTokenCode(code: DecisionCode): boolean {
  return code.startsWith('TOKEN_')
}
