/**
 * Tests for decision-event building and input masking.
 */
import { describe, expect, it } from 'vitest'
import { auditSubject, buildDecisionEvent, MASKED, maskInput } from '../../src/audit/index.js'

describe('buildDecisionEvent', () => {
  it('fills the audit.v1 shape from a decision', () => {
    const at = new Date('2026-03-01T12:00:00.123Z')
    const e = buildDecisionEvent({
      decisionId: 'd-1',
      timestamp: at,
      service: 'trades-api',
      claims: { sub: 'alice', client_id: 'web', email: 'a@example.com' },
      subject: { type: 'user', id: 'alice' },
      action: 'trade',
      resource: { type: 'account', id: 'acc-9' },
      allow: false,
      code: 'POLICY_DENIED',
      reasons: ['outside trading hours'],
      policyRevision: 'rev-7',
      latencyMs: 1.5,
      path: 'trades/decision',
      input: { action: 'trade', token: { sub: 'alice', email: 'a@example.com' } },
    })
    expect(e).toEqual({
      decision_id: 'd-1',
      timestamp: '2026-03-01T12:00:00.123Z',
      service: 'trades-api',
      subject: { sub: 'alice', client_id: 'web', type: 'user', id: 'alice' },
      action: 'trade',
      resource: { type: 'account', id: 'acc-9' },
      allow: false,
      code: 'POLICY_DENIED',
      reasons: ['outside trading hours'],
      policy_revision: 'rev-7',
      latency_us: 1500,
      path: 'trades/decision',
      input: { action: 'trade', token: { sub: 'alice', email: MASKED } },
    })
  })

  it('generates a decision id and timestamp when none is given', () => {
    const e = buildDecisionEvent({ service: 's', action: 'a', allow: true, code: 'OK' })
    expect(e.decision_id).toMatch(/^[0-9a-f-]{36}$/)
    expect(Date.parse(e.timestamp)).not.toBeNaN()
    expect(e.subject).toEqual({ sub: '', client_id: '' })
    expect(e.input).toBeUndefined()
  })
})

describe('maskInput', () => {
  it('masks token claims except the safe list, and configured pointers', () => {
    const input = {
      token: { sub: 'u', scope: 'a b', email: 'x@y', roles: ['admin'] },
      context: { ip: '10.0.0.1', path: '/a' },
      resource: { properties: { 'a/b': 1, list: [1, 2, 3] } },
    }
    const out = maskInput(input, {
      paths: ['/context/ip', '/input/resource/properties/a~1b', '/resource/properties/list/1', '/no/such'],
    })
    expect(out).toEqual({
      token: { sub: 'u', scope: 'a b', email: MASKED, roles: MASKED },
      context: { ip: MASKED, path: '/a' },
      resource: { properties: { 'a/b': MASKED, list: [1, MASKED, 3] } },
    })
    expect(input.context.ip).toBe('10.0.0.1')
    expect(input.resource.properties).toEqual({ 'a/b': 1, list: [1, 2, 3] })
    expect(input.token.email).toBe('x@y')
  })

  it('never writes to the input, also for pointers through kept claims and repeated paths', () => {
    const input = { token: { sub: 'u', aud: ['a', 'b'] }, context: { deep: { x: 1, y: 2 } } }
    const out = maskInput(input, { paths: ['/token/aud/1', '/context/deep/x', '/context/deep/y'] })
    expect(out).toEqual({ token: { sub: 'u', aud: ['a', MASKED] }, context: { deep: { x: MASKED, y: MASKED } } })
    expect(input).toEqual({ token: { sub: 'u', aud: ['a', 'b'] }, context: { deep: { x: 1, y: 2 } } })
  })

  it('honours a custom safe list and keepTokenClaims', () => {
    const input = { token: { sub: 'u', tenant: 't' } }
    expect(maskInput(input, { safeClaims: ['tenant'] })).toEqual({ token: { sub: MASKED, tenant: 't' } })
    expect(maskInput(input, { keepTokenClaims: true })).toEqual(input)
  })
})

describe('auditSubject', () => {
  it('sanitises the service into one subject token', () => {
    expect(auditSubject('verdict.audit', { service: 'a.b*c >d', allow: false })).toBe(
      'verdict.audit.a_b_c__d.deny',
    )
    expect(auditSubject('verdict.audit', { service: '', allow: true })).toBe('verdict.audit.unknown.allow')
  })
})
