/**
 * Token verification errors: one `TokenError` class with a literal code, a description that is
 * safe to return to callers, the original (possibly sensitive) error as `cause`, and the gRPC
 * deny-code name the server maps it to.
 *
 * @module
 */
import { PdpError } from '../util/errors.js'

/** Every code a {@link TokenError} can carry. */
export const TokenErrorCode = {
  MISSING: 'ERR_TOKEN_MISSING',
  MALFORMED: 'ERR_TOKEN_MALFORMED',
  TOO_LARGE: 'ERR_TOKEN_TOO_LARGE',
  EXPIRED: 'ERR_TOKEN_EXPIRED',
  NOT_YET_VALID: 'ERR_TOKEN_NOT_YET_VALID',
  SIGNATURE: 'ERR_TOKEN_SIGNATURE',
  UNKNOWN_KEY: 'ERR_TOKEN_UNKNOWN_KEY',
  UNTRUSTED_ISSUER: 'ERR_TOKEN_UNTRUSTED_ISSUER',
  AUDIENCE: 'ERR_TOKEN_AUDIENCE',
  TYPE: 'ERR_TOKEN_TYPE',
  ALGORITHM: 'ERR_TOKEN_ALGORITHM',
  CLAIMS: 'ERR_TOKEN_CLAIMS',
  INSUFFICIENT_SCOPE: 'ERR_TOKEN_INSUFFICIENT_SCOPE',
} as const

/** A token error code. */
export type TokenErrorCode = (typeof TokenErrorCode)[keyof typeof TokenErrorCode]

/** gRPC deny-code enum names, as the server's proto spells them. */
export type TokenDenyCode =
  | 'TOKEN_MISSING'
  | 'TOKEN_MALFORMED'
  | 'TOKEN_TOO_LARGE'
  | 'TOKEN_EXPIRED'
  | 'TOKEN_NOT_YET_VALID'
  | 'TOKEN_SIGNATURE_INVALID'
  | 'TOKEN_UNKNOWN_KEY'
  | 'TOKEN_UNTRUSTED_ISSUER'
  | 'TOKEN_WRONG_AUDIENCE'
  | 'TOKEN_WRONG_TYPE'
  | 'TOKEN_INVALID'
  | 'INSUFFICIENT_SCOPE'

const DENY_CODES: Record<TokenErrorCode, TokenDenyCode> = {
  ERR_TOKEN_MISSING: 'TOKEN_MISSING',
  ERR_TOKEN_MALFORMED: 'TOKEN_MALFORMED',
  ERR_TOKEN_TOO_LARGE: 'TOKEN_TOO_LARGE',
  ERR_TOKEN_EXPIRED: 'TOKEN_EXPIRED',
  ERR_TOKEN_NOT_YET_VALID: 'TOKEN_NOT_YET_VALID',
  ERR_TOKEN_SIGNATURE: 'TOKEN_SIGNATURE_INVALID',
  ERR_TOKEN_UNKNOWN_KEY: 'TOKEN_UNKNOWN_KEY',
  ERR_TOKEN_UNTRUSTED_ISSUER: 'TOKEN_UNTRUSTED_ISSUER',
  ERR_TOKEN_AUDIENCE: 'TOKEN_WRONG_AUDIENCE',
  ERR_TOKEN_TYPE: 'TOKEN_WRONG_TYPE',
  ERR_TOKEN_ALGORITHM: 'TOKEN_INVALID',
  ERR_TOKEN_CLAIMS: 'TOKEN_INVALID',
  ERR_TOKEN_INSUFFICIENT_SCOPE: 'INSUFFICIENT_SCOPE',
}

/**
 * A token failed verification. `message` and `description` are safe to show a caller: they
 * never echo token contents or key material. The underlying jose or parse error is `cause`,
 * for logs only.
 */
export class TokenError extends PdpError {
  declare readonly code: TokenErrorCode
  /** Short, caller-safe reason (RFC 6750 `error_description` material). */
  readonly description: string
  /** Scopes that were required but missing (only for INSUFFICIENT_SCOPE). */
  readonly missingScopes: readonly string[]

  constructor(
    code: TokenErrorCode,
    description: string,
    options?: { cause?: unknown; missingScopes?: readonly string[] },
  ) {
    super(code, description, options)
    this.description = description
    this.missingScopes = options?.missingScopes ?? []
  }

  /** The gRPC deny-code enum name for this error. */
  get denyCode(): TokenDenyCode {
    return DENY_CODES[this.code]
  }
}
