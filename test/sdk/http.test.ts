import { describe, expect, it } from 'vitest'
import { DecisionCode, decisionCodeName, httpDenial } from '../../sdk/src/index.js'

describe('httpDenial', () => {
  it('answers nothing for an allow', () => {
    expect(httpDenial({ allow: true, code: DecisionCode.OK })).toBeUndefined()
  })

  it('answers 401 invalid_token for token failures and a bare challenge for a missing token', () => {
    expect(httpDenial({ allow: false, code: DecisionCode.TOKEN_EXPIRED }, { realm: 'trades' })).toEqual({
      status: 401,
      headers: { 'WWW-Authenticate': 'Bearer realm="trades", error="invalid_token", error_description="token_expired"' },
      error: 'invalid_token',
    })
    expect(httpDenial({ allow: false, code: DecisionCode.TOKEN_MISSING })).toEqual({
      status: 401,
      headers: { 'WWW-Authenticate': 'Bearer' },
      error: 'unauthorized',
    })
  })

  it('answers 403 insufficient_scope with the scope', () => {
    expect(httpDenial({ allow: false, code: DecisionCode.INSUFFICIENT_SCOPE }, { scope: 'trades' })).toEqual({
      status: 403,
      headers: { 'WWW-Authenticate': 'Bearer error="insufficient_scope", scope="trades"' },
      error: 'insufficient_scope',
    })
  })

  it('answers 403 for a policy deny, 400 for a bad request, 503 when the PDP cannot decide', () => {
    expect(httpDenial({ allow: false, code: DecisionCode.POLICY_DENIED })?.status).toBe(403)
    expect(httpDenial({ allow: false, code: DecisionCode.REQUEST_INVALID })?.status).toBe(400)
    expect(httpDenial({ allow: false, code: DecisionCode.NO_POLICY })?.status).toBe(503)
    expect(httpDenial({ allow: false, code: DecisionCode.EVALUATION_ERROR })?.status).toBe(503)
  })
})

describe('httpDenial for every code', () => {
  it('gives each deny code its RFC 6750 answer', () => {
    const expected: Record<string, [number, string]> = {
      TOKEN_MISSING: [401, 'unauthorized'],
      INSUFFICIENT_SCOPE: [403, 'insufficient_scope'],
      POLICY_DENIED: [403, 'forbidden'],
      REQUEST_INVALID: [400, 'invalid_request'],
      SUBJECT_MISMATCH: [403, 'forbidden'],
      NO_POLICY: [503, 'authorization_unavailable'],
      EVALUATION_ERROR: [503, 'authorization_unavailable'],
      UNSPECIFIED: [503, 'authorization_unavailable'],
    }
    for (const code of Object.values(DecisionCode)) {
      if (code === DecisionCode.OK) continue
      const d = httpDenial({ allow: false, code })
      const want = expected[code] ?? (code.startsWith('TOKEN_') ? [401, 'invalid_token'] : undefined)
      expect(want, code).toBeDefined()
      expect([d?.status, d?.error], code).toEqual(want)
      if (want![1] === 'invalid_token') {
        expect(d!.headers['WWW-Authenticate'], code).toBe(
          `Bearer error="invalid_token", error_description="${code.toLowerCase()}"`,
        )
      }
    }
  })
})

describe('decisionCodeName', () => {
  it('maps wire numbers to names and unknown numbers to UNSPECIFIED', () => {
    expect(decisionCodeName(1)).toBe('OK')
    expect(decisionCodeName(14)).toBe('POLICY_DENIED')
    expect(decisionCodeName(999)).toBe('UNSPECIFIED')
  })
})
