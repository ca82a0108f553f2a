import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { compile } from '../../src/compiler/index.js'
import {
  createHostBuiltins,
  DecisionCode,
  EngineErrorCode,
  interpretValue,
  parseAbortMessage,
  PolicyEngine,
} from '../../src/engine/index.js'

const root = join(import.meta.dirname, '..', '..')

async function engineFor(source: string, entrypoint: string, data: unknown = {}): Promise<PolicyEngine> {
  const { wasm } = compile({ modules: [{ file: 'p.rego', source }], entrypoints: [entrypoint] })
  return PolicyEngine.load({ wasm, data, revision: 'rev-1', builtins: createHostBuiltins({ strict: false }) })
}

describe('PolicyEngine', () => {
  it('evaluates the trades policy from the compiler', async () => {
    const source = readFileSync(join(root, 'policies/trades/trades.rego'), 'utf8')
    const data = JSON.parse(readFileSync(join(root, 'policies/trades/data.json'), 'utf8'))
    const { wasm } = compile({ modules: [{ file: 'trades.rego', source }], entrypoints: ['trades/decision'] })
    const builtins = createHostBuiltins({ strict: false })
    const engine = await PolicyEngine.load({ wasm, data, revision: 'r', builtins })
    expect(engine.entrypoint).toBe('trades/decision')
    expect(engine.abi.major).toBe(1)
    const token = { scope: 'trades', user_id: 1, roles: ['analyst'], locations: ['NY'] }
    const resource = { type: 'trade', id: 't', properties: { owner_id: 1, location: 'NY' } }
    expect(engine.evaluate({ token, action: 'read', resource })).toEqual({
      allow: true,
      code: 'OK',
      reasons: [],
    })
    const denied = engine.evaluate({ token, action: 'create', resource })
    expect(denied.code).toBe(DecisionCode.POLICY_DENIED)
    expect(denied.reasons).toEqual(['missing_permission: no role in the token grants this action'])
    const noScope = engine.evaluate({ token: { ...token, scope: 'x' }, action: 'read', resource })
    expect(noScope.code).toBe(DecisionCode.INSUFFICIENT_SCOPE)
  })

  it('decides the same from input given as JSON text', async () => {
    const engine = await engineFor(
      'package a\nd := {"allow": input.n > 1, "reasons": [sprintf("%v %s", [input.n, input.s])]}',
      'a/d',
    )
    for (const input of [{ n: 2, s: 'é🙂' }, { n: 0, s: '' }, { n: 1.5, s: 'a"b\\c' }]) {
      expect(engine.evaluateJson(JSON.stringify(input))).toEqual(engine.evaluate(input))
    }
    expect(engine.evaluateJson('{"n": 3, "s": "x"}')).toMatchObject({ allow: true, reasons: ['3 x'] })
    // No input at all: input.n is undefined, so the decision is undefined and fails closed.
    expect(engine.evaluateJson('{}')).toMatchObject({ allow: false, code: 'EVALUATION_ERROR' })
  })

  it('decides the same from input JSON given as head bytes and tail text', async () => {
    const engine = await engineFor(
      'package a\nd := {"allow": input.n > 1, "reasons": [sprintf("%v %s %s", [input.n, input.s, input.t])]}',
      'a/d',
    )
    for (const input of [{ s: 'é🙂', n: 2, t: 'ü' }, { s: '', n: 0, t: '' }, { s: 'a"b\\c', n: 1.5, t: '€' }]) {
      const json = JSON.stringify(input)
      // Split after the first member, as the sidecar splits after the token.
      const cut = json.indexOf(',"n"') + 1
      const parts = engine.evaluateJsonParts(Buffer.from(json.slice(0, cut)), json.slice(cut))
      expect(parts).toEqual(engine.evaluate(input))
      expect(parts).toEqual(engine.evaluateJson(json))
    }
    // A head that is a view into a larger buffer: only its own bytes are input.
    const shared = Buffer.from('xxxx{"s":"v",yyyy')
    expect(engine.evaluateJsonParts(shared.subarray(4, 13), '"n":3,"t":"w"}')).toMatchObject({ allow: true, reasons: ['3 v w'] })
    // Malformed when joined: fails closed like any bad input.
    expect(engine.evaluateJsonParts(Buffer.from('{"s":'), '}')).toMatchObject({ allow: false, code: 'EVALUATION_ERROR' })
  })

  it('follows the memory when the input or the evaluation grows it', async () => {
    const engine = await engineFor(
      'package a\nd := {"allow": count(input.xs) > 0, "reasons": [sprintf("%d %d", [count(input.xs), count(big)])]}\n' +
        'big := [x | some x in numbers.range(1, input.n)]',
      'a/d',
    )
    const small = { xs: ['a'], n: 1 }
    expect(engine.evaluate(small).reasons).toEqual(['1 1'])
    // A few MB of input: the host grows the memory before writing it.
    const xs = Array.from({ length: 200_000 }, (_, i) => `item-${i}`)
    expect(engine.evaluate({ xs, n: 1 }).reasons).toEqual(['200000 1'])
    // The module grows the memory during the evaluation: the result is read from the new buffer.
    expect(engine.evaluate({ xs: ['a'], n: 300_000 }).reasons).toEqual(['1 300000'])
    expect(engine.evaluateJson(JSON.stringify(small)).reasons).toEqual(['1 1'])
  })

  it('accepts a boolean decision', async () => {
    const engine = await engineFor('package a\nallow := input.x == 1', 'a/allow')
    expect(engine.evaluate({ x: 1 })).toMatchObject({ allow: true, code: 'OK' })
    expect(engine.evaluate({ x: 2 })).toMatchObject({ allow: false, code: 'POLICY_DENIED' })
  })

  it('fails closed on an undefined decision and on a wrong shape', async () => {
    const undef = await engineFor('package a\nallow if input.x == 1', 'a/allow')
    expect(undef.evaluate({ x: 2 })).toMatchObject({ allow: false, code: 'EVALUATION_ERROR' })
    const shape = await engineFor('package a\nd := "yes"', 'a/d')
    expect(shape.evaluate({})).toMatchObject({ allow: false, code: 'EVALUATION_ERROR' })
  })

  it('turns an abort into EVALUATION_ERROR with the parsed code', async () => {
    const engine = await engineFor('package a\nd := 1 if input.x\nd := 2 if input.x', 'a/d')
    const decision = engine.evaluate({ x: true })
    expect(decision.allow).toBe(false)
    expect(decision.code).toBe('EVALUATION_ERROR')
    expect(decision.error?.code).toBe('eval_conflict_error')
  })

  it('rejects a module that is not wasm and an unknown entrypoint', async () => {
    await expect(PolicyEngine.load({ wasm: new Uint8Array([1, 2, 3]) })).rejects.toMatchObject({
      code: EngineErrorCode.Load,
    })
    const { wasm } = compile({ modules: [{ file: 'p.rego', source: 'package a\nd := 1' }], entrypoints: ['a/d'] })
    await expect(PolicyEngine.load({ wasm, entrypoint: 'a/nope' })).rejects.toMatchObject({
      code: EngineErrorCode.Entrypoint,
    })
  })
})

describe('interpretValue', () => {
  it('reads object decisions with reasons, obligations and code', () => {
    expect(interpretValue({ allow: false, code: 'INSUFFICIENT_SCOPE', reasons: ['x'] })).toEqual({
      allow: false,
      code: 'INSUFFICIENT_SCOPE',
      reasons: ['x'],
    })
    expect(interpretValue({ allow: true, obligations: { mask: ['ssn'] } })).toEqual({
      allow: true,
      code: 'OK',
      reasons: [],
      obligations: { mask: ['ssn'] },
    })
  })

  it('rejects malformed decisions', () => {
    for (const v of [null, 1, [], { allow: 'yes' }, { allow: false, reasons: [1] }, { allow: false, code: 'OK' }]) {
      expect(interpretValue(v).code, JSON.stringify(v)).toBe('EVALUATION_ERROR')
    }
  })
})

describe('parseAbortMessage', () => {
  it('parses located and bare abort messages', () => {
    expect(parseAbortMessage('p.rego:3:1: eval_conflict_error: complete rules must not produce multiple outputs')).toEqual({
      code: 'eval_conflict_error',
      message: 'complete rules must not produce multiple outputs',
      location: { file: 'p.rego', row: 3, col: 1 },
    })
    expect(parseAbortMessage('var_assignment_conflict_error: x')).toEqual({
      code: 'var_assignment_conflict_error',
      message: 'x',
    })
    expect(parseAbortMessage('something odd')).toEqual({ code: 'eval_error', message: 'something odd' })
  })
})
