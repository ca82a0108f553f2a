import { loadPolicy } from '@open-policy-agent/opa-wasm'
import { describe, expect, it } from 'vitest'
import { compile } from '../../../src/compiler/index.js'
import { nameSection, readFunctionNames } from '../../../src/compiler/codegen/names.js'
import { runtimeWasm } from '../../../src/wasm/index.js'
import { wasm } from '../../wasm/helpers.js'

describe('name section', () => {
  it('round-trips function names in index order', () => {
    const names = new Map([[7, 'b'], [2, 'a'], [300, 'g0.data.x.é']])
    const section = nameSection(names)
    const module = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...section])
    expect([...readFunctionNames(module)]).toEqual([[2, 'a'], [7, 'b'], [300, 'g0.data.x.é']])
  })

  it('names the runtime and the generated functions of a compiled policy', () => {
    const { wasm: bytes } = compile({ modules: [{ file: 'p.rego', source: 'package p\nq := input.x + 1' }], entrypoints: ['p/q'] })
    expect(wasm.validate(bytes)).toBe(true)
    const names = [...readFunctionNames(bytes).values()]
    expect(names).toContain('g0.data.p.q')
    expect(names).toContain('opa_eval')
    // Every runtime function keeps its name (the runtime's indices are unchanged by linking).
    expect(names.length).toBeGreaterThan(readFunctionNames(runtimeWasm()).size)
  })

  it('shows generated function names in stack traces', async () => {
    const { wasm: bytes } = compile({
      modules: [{ file: 'p.rego', source: 'package p\nq := upper(input.s)' }],
      entrypoints: ['p/q'],
      host: 'opa',
    })
    let stack = ''
    const policy = await loadPolicy(bytes as Uint8Array<ArrayBuffer>, undefined, {
      upper: (s: string) => {
        stack = new Error('probe').stack ?? ''
        return s.toUpperCase()
      },
    })
    expect(policy.evaluate({ s: 'a' }, 'p/q')).toEqual([{ result: 'A' }])
    // Without the section V8 prints `at wasm-function[188] (...)` for both frames.
    expect(stack).toMatch(/at g0\.data\.p\.q \(wasm:/)
    expect(stack).toMatch(/at opa_eval \(wasm:/)
  })
})
