/**
 * Turning a deny into the HTTP answer a bearer-token API should give (RFC 6750 section 3).
 *
 * @module
 */

import { DecisionCode, isTokenCode } from './codes.js'

/** An HTTP status and headers to send for a deny. */
export interface HttpDenial {
  status: number
  headers: Record<string, string>
  /** A short body-safe description. */
  error: string
}

/** Options for {@link httpDenial}. */
export interface HttpDenialOptions {
  /** `realm` attribute of the challenge. */
  realm?: string
  /** Scopes the API needs, sent with insufficient_scope. Example: `'trades'`. */
  scope?: string
}

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`
}

function challenge(attrs: [string, string | undefined][]): string {
  const parts = attrs.filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${quote(v!)}`)
  return parts.length === 0 ? 'Bearer' : `Bearer ${parts.join(', ')}`
}

/**
 * Maps a decision to an HTTP answer, or undefined when it allows. Token failures are 401 with
 * `error="invalid_token"` (a missing token gets a bare challenge), a missing scope is 403 with
 * `error="insufficient_scope"`, a policy deny is 403, an invalid request 400, and a PDP that cannot
 * decide (no policy, evaluation error) 503.
 *
 * @example
 * const denial = httpDenial(decision, { scope: 'trades' })
 * if (denial) res.writeHead(denial.status, denial.headers).end(denial.error)
 */
export function httpDenial(
  decision: { allow: boolean; code: DecisionCode },
  options: HttpDenialOptions = {},
): HttpDenial | undefined {
  if (decision.allow) return undefined
  const { realm, scope } = options
  const code = decision.code
  if (code === DecisionCode.TOKEN_MISSING) {
    return { status: 401, headers: { 'WWW-Authenticate': challenge([['realm', realm]]) }, error: 'unauthorized' }
  }
  if (isTokenCode(code)) {
    return {
      status: 401,
      headers: {
        'WWW-Authenticate': challenge([
          ['realm', realm],
          ['error', 'invalid_token'],
          ['error_description', code.toLowerCase()],
        ]),
      },
      error: 'invalid_token',
    }
  }
  if (code === DecisionCode.INSUFFICIENT_SCOPE) {
    return {
      status: 403,
      headers: {
        'WWW-Authenticate': challenge([
          ['realm', realm],
          ['error', 'insufficient_scope'],
          ['scope', scope],
        ]),
      },
      error: 'insufficient_scope',
    }
  }
  if (code === DecisionCode.REQUEST_INVALID) {
    return {
      status: 400,
      headers: { 'WWW-Authenticate': challenge([['realm', realm], ['error', 'invalid_request']]) },
      error: 'invalid_request',
    }
  }
  if (code === DecisionCode.NO_POLICY || code === DecisionCode.EVALUATION_ERROR || code === DecisionCode.UNSPECIFIED) {
    return { status: 503, headers: {}, error: 'authorization_unavailable' }
  }
  return { status: 403, headers: {}, error: 'forbidden' }
}
