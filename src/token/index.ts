/**
 * Public surface of the token module: JWT access-token verification with jose.
 *
 * @module
 */
export { TokenError, TokenErrorCode } from './errors.js'
export type { TokenDenyCode } from './errors.js'
export {
  DEFAULT_ALGORITHMS,
  DEFAULT_CLOCK_SKEW_MS,
  DEFAULT_MAX_TOKEN_BYTES,
  DEFAULT_REQUIRED_CLAIMS,
  DEFAULT_TYP,
  SUPPORTED_ALGORITHMS,
  defaultTokenOptions,
  validateTokenOptions,
} from './options.js'
export type {
  ClaimsMapping,
  IssuerOptions,
  JwksCacheOptions,
  JwksSource,
  TokenCacheOptions,
  TokenOptions,
} from './options.js'
export { createTokenVerifier } from './verify.js'
export type {
  TokenVerifier,
  TokenVerifierStats,
  VerifiedToken,
  VerifyCallOptions,
} from './verify.js'
