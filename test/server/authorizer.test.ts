/**
 * The authorizer's own logic, without gRPC: the synchronous answer for a cached token, the
 * request-size limit from decoder-measured sizes, and that the input built from JSON parts decides
 * like the input object. A plain verifier stands in for `token/` (its cache is tested there); the
 * policy is the real trades policy compiled to wasm.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { compile } from '../../src/compiler/index.js'
import { createHostBuiltins, PolicyEngine } from '../../src/engine/index.js'
import { DecisionCode } from '../../src/gen/verdict/v1/authorizer_pb.js'
import { createAuthorizer, createLogger, defaultLimitsOptions, PolicyHolder } from '../../src/server/index.js'
import type { Authorizer, DecisionRecord, VerifiedTokenLike } from '../../src/server/index.js'

const root = join(import.meta.dirname, '..', '..')
const trader = Object.freeze({ sub: 'u7', scope: 'trades', user_id: 7, roles: ['trader'], locations: ['NY'] })
const trade = { type: 'trade', id: 't', properties: { owner_id: 7, location: 'NY' } }

/** A verifier whose cache holds the tokens named in `cached`; `scope-fail` fails like a scope check. */
function fakeVerifier(cached: Record<string, VerifiedTokenLike>) {
  return {
    verify: async (token: string): Promise<VerifiedTokenLike> => {
      if (token === 'good') return { claims: trader, subject: 'u7' }
      throw Object.assign(new Error('bad'), { denyCode: 'TOKEN_INVALID', description: 'signature invalid' })
    },
    verifyCached: (token: string): VerifiedTokenLike | undefined => {
      if (token === 'scope-fail') {
        throw Object.assign(new Error('scope'), { denyCode: 'INSUFFICIENT_SCOPE', description: 'scope admin not granted' })
      }
      return cached[token]
    },
  }
}

let policy: PolicyHolder
const records: DecisionRecord[] = []
let authorizer: Authorizer
const limits = { ...defaultLimitsOptions(), maxPropertiesBytes: 100 }

beforeAll(async () => {
  const source = await readFile(join(root, 'policies/trades/trades.rego'), 'utf8')
  const data = JSON.parse(await readFile(join(root, 'policies/trades/data.json'), 'utf8'))
  const { wasm } = compile({ modules: [{ file: 'trades.rego', source }], entrypoints: ['trades/decision'] })
  const engine = await PolicyEngine.load({ wasm, data, revision: 'r1', builtins: createHostBuiltins({ strict: false }) })
  policy = new PolicyHolder()
  policy.set({ engine, revision: 'r1' })
  authorizer = createAuthorizer({
    verifier: fakeVerifier({ again: { claims: trader, subject: 'u7' } }),
    policy,
    limits,
    logger: createLogger({ level: 'error', stream: { write: () => true } as never }),
    onDecision: (r) => records.push(r),
  })
})

describe('authorizer', () => {
  it('answers a cached token synchronously, the same as a verified one', async () => {
    const sync = authorizer.check({ token: 'again', action: 'update', resource: trade })
    expect(sync).not.toBeInstanceOf(Promise)
    const later = authorizer.check({ token: 'good', action: 'update', resource: trade })
    expect(later).toBeInstanceOf(Promise)
    const { decisionId: a, ...syncRest } = sync as Awaited<typeof later>
    const { decisionId: b, ...laterRest } = await later
    expect(a).not.toBe(b)
    expect(syncRest).toEqual(laterRest)
    expect(syncRest).toMatchObject({ allow: true, code: DecisionCode.OK, policyRevision: 'r1' })
  })

  it('denies a cached token that lacks a required scope at once', () => {
    const res = authorizer.check({ token: 'scope-fail', action: 'read', resource: trade })
    expect(res).toMatchObject({ allow: false, code: DecisionCode.INSUFFICIENT_SCOPE, reasons: ['insufficient_scope: scope admin not granted'] })
  })

  it('decides from the JSON input as from the input object', () => {
    for (const [action, resource] of [
      ['read', trade],
      ['update', { ...trade, properties: { owner_id: 8, location: 'NY' } }],
      ['delete', { ...trade, properties: { owner_id: 7, location: 'LDN' } }],
      ['read', { type: 'trade', id: 'é"\\🙂', properties: {} }],
    ] as const) {
      records.length = 0
      const res = authorizer.check({ token: 'again', action, resource, context: { ip: '10.0.0.1' } })
      const input = records[0]!.input!
      const direct = policy.current!.engine.evaluate(input)
      expect(res).toMatchObject({ allow: direct.allow, reasons: direct.reasons, code: DecisionCode[direct.code] })
      expect(input.resource.id).toBe(resource.id)
      // What audit splices the masked claims into: the same input, without the token.
      const { token: _token, ...rest } = input
      expect(JSON.parse(records[0]!.inputRestJson!)).toEqual(rest)
    }
  })

  it('limits properties by the decoder-measured size, or by their JSON when not measured', () => {
    const small = { type: 'trade', id: 't', properties: { owner_id: 7 } }
    expect(authorizer.check({ token: 'again', action: 'read', resource: small, structBytes: 101 })).toMatchObject({
      allow: false,
      code: DecisionCode.REQUEST_INVALID,
    })
    const within = authorizer.check({ token: 'again', action: 'read', resource: small, structBytes: 100 })
    expect((within as { code: number }).code).not.toBe(DecisionCode.REQUEST_INVALID)
    const big = { type: 'trade', id: 't', properties: { owner_id: 7, note: 'x'.repeat(100) } }
    expect(authorizer.check({ token: 'again', action: 'read', resource: big })).toMatchObject({
      code: DecisionCode.REQUEST_INVALID,
    })
  })
})

describe('authorizer: subjectMustMatch', () => {
  it('denies SUBJECT_MISMATCH, audited, when the named subject is not the token’s', () => {
    records.length = 0
    const res = authorizer.check({
      token: 'again',
      action: 'read',
      resource: trade,
      subject: { type: 'user', id: 'u8' },
      subjectMustMatch: true,
    })
    expect(res).toMatchObject({
      allow: false,
      code: DecisionCode.SUBJECT_MISMATCH,
      reasons: ['subject_mismatch: subject.id is not the subject of the access token'],
    })
    // Audited with the subject as claimed and the claims as verified, and no policy input.
    expect(records).toHaveLength(1)
    expect(records[0]).toMatchObject({ code: 'SUBJECT_MISMATCH', subject: { type: 'user', id: 'u8' }, input: undefined })
    expect(records[0]!.claims).toMatchObject({ sub: 'u7' })
  })

  it('decides normally when the named subject is the token’s, and never lets an empty id through', () => {
    const same = authorizer.check({ token: 'again', action: 'read', resource: trade, subject: { type: 'user', id: 'u7' }, subjectMustMatch: true })
    expect(same).toMatchObject({ allow: true, code: DecisionCode.OK })
    const empty = authorizer.check({ token: 'again', action: 'read', resource: trade, subject: { type: 'user', id: '' }, subjectMustMatch: true })
    expect(empty).toMatchObject({ allow: false, code: DecisionCode.SUBJECT_MISMATCH })
    // Without the flag a named subject is passed on, as for gRPC Checks.
    const free = authorizer.check({ token: 'again', action: 'read', resource: trade, subject: { type: 'user', id: 'u8' } })
    expect(free).toMatchObject({ allow: true, code: DecisionCode.OK })
  })

  it('reports a bad token before a mismatch', async () => {
    const res = await authorizer.check({ token: 'bad', action: 'read', resource: trade, subject: { type: 'user', id: 'u8' }, subjectMustMatch: true })
    expect(res).toMatchObject({ allow: false, code: DecisionCode.TOKEN_INVALID })
  })
})
