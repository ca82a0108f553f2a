/**
 * The trades example policy, compiled by Verdict's compiler and evaluated through the unmodified
 * opa-wasm package: every allow and deny path of the product brief.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm'
import { beforeAll, describe, expect, it } from 'vitest'
import { compile } from '../../src/compiler/index.js'
import { createHostBuiltins } from '../../src/engine/builtins/index.js'

const dir = join(import.meta.dirname, '..', '..', 'policies', 'trades')

const john = {
  scope: 'trades',
  sub: '8027379034',
  user_id: 2998,
  given_name: 'John',
  family_name: 'Doe',
  roles: ['trader'],
  locations: ['NY'],
}
const trade = { type: 'trade', id: 't-1', properties: { owner_id: 2998, location: 'NY' } }

interface Decision {
  allow: boolean
  reasons: string[]
  code?: string
}

describe('policies/trades', () => {
  let policy: LoadedPolicy
  const decide = (input: unknown): Decision => {
    const rows = policy.evaluate(input, 'trades/decision') as { result: Decision }[]
    expect(rows).toHaveLength(1)
    return rows[0]!.result
  }

  beforeAll(async () => {
    const compiled = compile({
      modules: [{ file: 'trades.rego', source: readFileSync(join(dir, 'trades.rego'), 'utf8') }],
      entrypoints: ['trades/decision'],
    })
    policy = await loadPolicy(compiled.wasm, undefined, createHostBuiltins({ strict: false }))
    policy.setData(JSON.parse(readFileSync(join(dir, 'data.json'), 'utf8')))
  })

  it('allows the owner to read a trade in one of their locations', () => {
    expect(decide({ token: john, action: 'read', resource: trade })).toEqual({ allow: true, reasons: [] })
  })

  it('allows a trader to create, update and cancel their own trade', () => {
    for (const action of ['create', 'update', 'cancel']) {
      expect(decide({ token: john, action, resource: trade }).allow, action).toBe(true)
    }
  })

  it('denies every action without the trades scope, with INSUFFICIENT_SCOPE', () => {
    for (const action of ['read', 'create', 'update', 'cancel']) {
      const d = decide({ token: { ...john, scope: 'payments profile' }, action, resource: trade })
      expect(d.allow).toBe(false)
      expect(d.code).toBe('INSUFFICIENT_SCOPE')
    }
  })

  it('accepts the scope among several space-delimited scopes and as an array', () => {
    expect(decide({ token: { ...john, scope: 'openid trades' }, action: 'read', resource: trade }).allow).toBe(true)
    expect(decide({ token: { ...john, scope: ['trades'] }, action: 'read', resource: trade }).allow).toBe(true)
  })

  it('denies reading a trade owned by someone else and names the rule', () => {
    const d = decide({ token: john, action: 'read', resource: { ...trade, properties: { owner_id: 1, location: 'NY' } } })
    expect(d).toMatchObject({ allow: false, code: 'POLICY_DENIED' })
    expect(d.reasons).toEqual(['not_owner: the trade belongs to another user'])
  })

  it('denies a trade booked outside the user locations', () => {
    const d = decide({ token: john, action: 'read', resource: { ...trade, properties: { owner_id: 2998, location: 'LDN' } } })
    expect(d.reasons).toEqual(["wrong_location: the trade is booked outside the user's locations"])
  })

  it('denies writes without a role that grants the action, but still allows reads', () => {
    const analyst = { ...john, roles: ['analyst'] }
    const d = decide({ token: analyst, action: 'cancel', resource: trade })
    expect(d).toMatchObject({ allow: false, code: 'POLICY_DENIED' })
    expect(d.reasons).toEqual(['missing_permission: no role in the token grants this action'])
    expect(decide({ token: analyst, action: 'read', resource: trade }).allow).toBe(true)
  })

  it('denies unknown actions and other resource types, listing every failed rule', () => {
    const d = decide({ token: john, action: 'delete', resource: { ...trade, type: 'order' } })
    expect(d.allow).toBe(false)
    expect(d.reasons).toEqual([
      'unknown_action: not a trades action',
      'wrong_resource_type: resource is not a trade',
    ])
  })

  it('denies a token without roles or locations claims', () => {
    const d = decide({ token: { scope: 'trades', sub: 'x', user_id: 2998 }, action: 'update', resource: trade })
    expect(d.allow).toBe(false)
    expect(d.reasons).toContain("wrong_location: the trade is booked outside the user's locations")
    expect(d.reasons).toContain('missing_permission: no role in the token grants this action')
  })
})
