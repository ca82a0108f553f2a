/**
 * Tests for decision-event building and input masking.
 */
import { describe, expect, it } from 'vitest'
import {
  auditServiceToken,
  auditSubject,
  buildDecisionEvent,
  DEFAULT_SAFE_CLAIMS,
  encodeDecisionEvent,
  MASKED,
  maskInput,
} from '../../src/audit/index.js'
import type { DecisionRecord, MaskOptions } from '../../src/audit/index.js'

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

/** A small seeded PRNG (mulberry32), so a failing case can be replayed. */
function prng(seed: number) {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number) => Math.floor(next() * n)
  const pick = <T,>(xs: readonly T[]): T => xs[int(xs.length)] as T
  const chance = (p: number) => next() < p
  return { next, int, pick, chance }
}

type Rng = ReturnType<typeof prng>

// Strings JSON must escape or that take other paths: quotes, backslashes, controls, non-ASCII,
// emoji (surrogate pairs), lone surrogates, U+2028.
const ODD_STRINGS = [
  '', 'alice', 'a"b', 'back\\slash', 'tab\there', 'nl\nx', '\u0000\u001f', 'é ü ß', '日本語', '😀 ok',
  '\ud800', 'x\udc00y', '\u2028\u2029', '</script>', '  spaced  ', 'u-2998',
  `long ${'é'.repeat(150)} "quoted"`, // past the quoted-string cache's length limit
]

function oddString(r: Rng): string {
  return r.chance(0.5) ? r.pick(ODD_STRINGS) : `${r.pick(ODD_STRINGS)}-${r.int(1000)}`
}

function value(r: Rng, depth: number): unknown {
  switch (r.int(depth > 2 ? 6 : 9)) {
    case 0: return oddString(r)
    case 1: return r.pick([0, -0, 1, -1.5, 2998, 1e21, 1e-7, Number.MAX_SAFE_INTEGER, Number.NaN, Infinity])
    case 2: return r.chance(0.5)
    case 3: return null
    case 4: return undefined
    case 5: return r.int(100)
    case 6: return Array.from({ length: r.int(4) }, () => value(r, depth + 1))
    case 7: return object(r, depth + 1)
    default: return new Date(Date.UTC(2026, 0, 1 + r.int(300))) // toJSON inside the input
  }
}

function object(r: Rng, depth: number): Record<string, unknown> {
  const o: Record<string, unknown> = {}
  const n = r.int(5)
  for (let i = 0; i < n; i++) o[r.pick(['a', 'b', 'ip', 'owner_id', '10', '2', 'ké"y', '', oddString(r)])] = value(r, depth)
  return o
}

function claims(r: Rng): Record<string, unknown> {
  const c: Record<string, unknown> = {}
  // Standard claims in a random order, some missing (sub and client_id too) or of odd types.
  const keys = ['iss', 'sub', 'aud', 'exp', 'iat', 'client_id', 'scope', 'email', 'roles', 'tenant', 'profile']
  for (const k of keys) {
    if (r.chance(0.3)) continue
    c[k] = r.chance(0.7) ? (k === 'roles' ? [oddString(r), oddString(r)] : oddString(r)) : value(r, 1)
  }
  if (r.chance(0.3)) c.nested = { deep: object(r, 1), list: [1, 'two', { three: 3 }] }
  return c
}

function input(r: Rng, token: Record<string, unknown>): unknown {
  if (r.chance(0.15)) return undefined // a token failure: no input
  if (r.chance(0.05)) return r.pick([null, 'not an object', [1, 2], 42])
  if (r.chance(0.03)) return { token } // nothing but the token
  const parts: Array<[string, unknown]> = [
    ['subject', { type: oddString(r), id: oddString(r), properties: object(r, 1) }],
    ['action', oddString(r)],
    ['resource', { type: oddString(r), id: oddString(r), properties: object(r, 1) }],
    ['context', r.chance(0.5) ? {} : object(r, 1)],
  ]
  // Mostly the authorizer's shape (token first); sometimes elsewhere, odd or missing.
  const where = r.chance(0.8) ? 0 : r.int(5)
  const tokenValue = r.chance(0.9) ? token : r.pick([null, 'opaque', [token], undefined])
  if (!r.chance(0.05)) parts.splice(where, 0, ['token', tokenValue])
  if (r.chance(0.1)) parts.push(['extra', value(r, 1)])
  return Object.fromEntries(parts)
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

function mask(r: Rng, lists: ReadonlyArray<readonly string[]>): MaskOptions {
  switch (r.int(6)) {
    case 0: return {}
    case 1: return { safeClaims: r.pick(lists) }
    case 2: return { safeClaims: [...r.pick(lists)] } // a fresh list instance
    case 3: return { keepTokenClaims: true }
    case 4: return { paths: r.pick([['/context/ip'], ['/input/token/email', '/resource/properties/a'], ['/no/such'], []]) }
    default: return { safeClaims: DEFAULT_SAFE_CLAIMS, paths: r.chance(0.5) ? ['/subject/properties/b'] : [] }
  }
}

function record(r: Rng, pool: Array<Record<string, unknown>>): DecisionRecord {
  // Claims objects are reused across records, as a cached token's are.
  const c = r.chance(0.1) ? undefined : r.pick(pool)
  const allow = r.chance(0.5)
  const rec: DecisionRecord = {
    decisionId: r.chance(0.9) ? `0190f1c2-7a3b-7c4d-8e5f-${r.int(1e12)}` : oddString(r),
    timestamp: new Date(
      r.pick([
        Date.UTC(2026, 10, 30, 16, 0, 0) + r.int(5000), // many in the same second
        r.int(2 ** 42),
        -r.int(2 ** 40), // before 1970
        253402300800000 + r.int(1e9), // past year 9999: the expanded year form
        -62135596800001 - r.int(1e9), // before year 1
      ]),
    ),
    service: r.pick(['trades-api', 'a.b c', '', 'sérvice']),
    action: oddString(r),
    allow,
    code: allow ? 'OK' : r.pick(['POLICY_DENIED', 'TOKEN_EXPIRED', 'REQUEST_INVALID']),
  }
  if (c !== undefined) rec.claims = c
  if (r.chance(0.9)) {
    rec.subject = {}
    if (r.chance(0.9)) rec.subject.type = oddString(r)
    if (r.chance(0.9)) rec.subject.id = oddString(r)
  }
  if (r.chance(0.9)) rec.resource = r.chance(0.8) ? { type: oddString(r), id: oddString(r) } : { id: oddString(r) }
  if (r.chance(0.8)) rec.reasons = Array.from({ length: r.int(4) }, () => oddString(r))
  else if (r.chance(0.2)) rec.reasons = new Array<string>(2) // holes become null
  if (r.chance(0.9)) rec.policyRevision = oddString(r)
  if (r.chance(0.2)) rec.latencyUs = r.pick([0, 12.7, -3, 1e9, Number.NaN])
  else if (r.chance(0.9)) rec.latencyMs = r.pick([0.0421, 1.5, 0, -0.2, 123.4567, Number.NaN, Infinity])
  if (r.chance(0.9)) rec.path = oddString(r)
  const token = r.chance(0.8) && c !== undefined ? c : claims(r)
  const inp = input(r, token)
  if (inp !== undefined) rec.input = inp
  // The authorizer's pre-serialised rest of the input, where its contract holds (token first).
  if (isRecord(inp) && Object.keys(inp)[0] === 'token' && r.chance(0.5)) {
    rec.inputRestJson = JSON.stringify(Object.fromEntries(Object.entries(inp).slice(1)))
  }
  return rec
}

describe('encodeDecisionEvent', () => {
  it('writes exactly JSON.stringify(buildDecisionEvent(...)) for random records and masks', () => {
    const r = prng(20261130)
    const pool = Array.from({ length: 12 }, () => claims(r))
    const lists: Array<readonly string[]> = [DEFAULT_SAFE_CLAIMS, ['tenant', 'email'], ['sub'], []]
    let withInput = 0
    let withTokenCache = 0
    let withRest = 0
    for (let i = 0; i < 4000; i++) {
      const rec = record(r, pool)
      const m = mask(r, lists)
      const want = JSON.stringify(buildDecisionEvent(rec, m))
      const got = encodeDecisionEvent(rec, m)
      if (got !== want) expect({ i, got }).toEqual({ i, got: want })
      if (rec.input !== undefined) withInput++
      if (rec.inputRestJson !== undefined) withRest++
      if (rec.claims !== undefined && (rec.input as { token?: unknown } | undefined)?.token === rec.claims) withTokenCache++
    }
    // The generator reaches the cases it is for.
    expect(withInput).toBeGreaterThan(2500)
    expect(withTokenCache).toBeGreaterThan(1500)
    expect(withRest).toBeGreaterThan(1000)
  })

  it('matches the builder for a typical decision and a token failure', () => {
    const claimsObj = { sub: 'alice', client_id: 'web', email: 'a@example.com', roles: ['trader'] }
    const rec: DecisionRecord = {
      decisionId: 'd-1',
      timestamp: new Date('2026-03-01T12:00:00.123Z'),
      service: 'trades-api',
      claims: claimsObj,
      subject: { type: 'user', id: 'alice' },
      action: 'trade',
      resource: { type: 'account', id: 'acc-9' },
      allow: false,
      code: 'POLICY_DENIED',
      reasons: ['outside trading hours'],
      policyRevision: 'rev-7',
      latencyMs: 1.5,
      path: 'trades/decision',
      input: { token: claimsObj, action: 'trade', context: {} },
    }
    const json = encodeDecisionEvent(rec)
    expect(json).toBe(JSON.stringify(buildDecisionEvent(rec)))
    expect(JSON.parse(json).input.token).toEqual({ sub: 'alice', client_id: 'web', email: MASKED, roles: MASKED })
    // Cached claims JSON, a different mask: the safe list is part of the cache key.
    expect(JSON.parse(encodeDecisionEvent(rec, { safeClaims: ['email'] })).input.token).toEqual({
      sub: MASKED, client_id: MASKED, email: 'a@example.com', roles: MASKED,
    })
    const failed = { ...rec, claims: undefined, input: undefined, allow: false, code: 'TOKEN_EXPIRED' }
    expect(encodeDecisionEvent(failed)).toBe(JSON.stringify(buildDecisionEvent(failed)))
  })

  it('never writes to the record, its input or its claims', () => {
    const claimsObj = Object.freeze({ sub: 'u', email: 'x@y' })
    const inp = Object.freeze({ token: claimsObj, context: Object.freeze({ ip: '10.0.0.1' }) })
    const rec = Object.freeze({
      decisionId: 'd', timestamp: new Date(0), service: 's', claims: claimsObj, action: 'a', allow: true, code: 'OK', input: inp,
    })
    for (const m of [{}, { paths: ['/context/ip'] }, { keepTokenClaims: true }]) {
      expect(encodeDecisionEvent(rec, m)).toBe(JSON.stringify(buildDecisionEvent(rec, m)))
    }
    expect(inp).toEqual({ token: { sub: 'u', email: 'x@y' }, context: { ip: '10.0.0.1' } })
  })

  it('generates a decision id and timestamp when none is given', () => {
    const e = JSON.parse(encodeDecisionEvent({ service: 's', action: 'a', allow: true, code: 'OK' }))
    expect(e.decision_id).toMatch(/^[0-9a-f-]{36}$/)
    expect(Date.parse(e.timestamp)).not.toBeNaN()
    expect(Object.keys(e)).toEqual(Object.keys(buildDecisionEvent({ service: 's', action: 'a', allow: true, code: 'OK' })))
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

  it('uses the token auditServiceToken gives', () => {
    expect(auditServiceToken('trades.api')).toBe('trades_api')
    expect(auditSubject('p', { service: 'trades.api', allow: true })).toBe(`p.${auditServiceToken('trades.api')}.allow`)
  })
})
