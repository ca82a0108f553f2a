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

describe('decisionCodeName', () => {
  it('maps wire numbers to names and unknown numbers to UNSPECIFIED', () => {
    expect(decisionCodeName(1)).toBe('OK')
    expect(decisionCodeName(14)).toBe('POLICY_DENIED')
    expect(decisionCodeName(999)).toBe('UNSPECIFIED')
  })
})
