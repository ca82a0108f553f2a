import { loadPolicy } from '@open-policy-agent/opa-wasm'
import { describe, expect, it } from 'vitest'
import { compile } from '../../../src/compiler/index.js'
import {
  OPA_WASM_SHADOWED,
  SHADOWED_ALIAS_PREFIX,
  createHostBuiltins,
} from '../../../src/engine/builtins/index.js'

async function run(
  source: string,
  entrypoint: string,
  options: Parameters<typeof createHostBuiltins>[0],
) {
  const compiled = compile({
    modules: [{ file: 'p.rego', source }],
    entrypoints: [entrypoint],
    strictBuiltinErrors: options.strict,
  })
  const policy = await loadPolicy(compiled.wasm, undefined, createHostBuiltins(options))
  return (policy.evaluate({}, entrypoint) as { result: unknown }[])[0]?.result
}

describe('createHostBuiltins', () => {
  it('makes a failing call undefined unless strict', () => {
    const b = createHostBuiltins({ strict: false })
    expect(b['units.parse']!('foo')).toBeUndefined()
    // Strict: the error comes back as a marker value the module raises with its location.
    const strict = createHostBuiltins({ strict: true })
    expect(strict['units.parse']!('foo')).toEqual({
      __verdict_builtin_error__: { code: 'eval_builtin_error', message: 'units.parse: no amount provided' },
    })
  })

  it('turns exact-number markers into BigInt for verdict: builtins only', () => {
    const b = createHostBuiltins({ strict: false })
    const big = { __verdict_number__: '123456789123456789123' }
    expect(b['verdict:sprintf']!('%d', [big])).toBe('123456789123456789123')
    expect(b['sprintf']!('%v', [big])).toBe('{"__verdict_number__": "123456789123456789123"}')
  })

  it('passes BigInt results as exact JSON text', () => {
    const b = createHostBuiltins({ strict: true })
    const out = b['time.parse_rfc3339_ns']!('2022-12-02T18:40:53.141828752Z')
    expect(out).toBeInstanceOf(ArrayBuffer)
    expect(new TextDecoder().decode(out as ArrayBuffer)).toBe('1670006453141828752')
    expect(b['units.parse']!('10K')).toBe(10000)
  })

  it('reads the clock once per evaluation', async () => {
    let calls = 0
    const b = createHostBuiltins({ strict: true, now: () => BigInt(++calls) })
    const now = (): string => new TextDecoder().decode(b['time.now_ns']!() as ArrayBuffer)
    expect(now()).toBe('1')
    expect(now()).toBe('1')
    expect(calls).toBe(1)
    await Promise.resolve()
    expect(now()).toBe('2')
  })

  it('registers builtins opa-wasm shadows under an alias as well', () => {
    const b = createHostBuiltins({ strict: true })
    for (const name of OPA_WASM_SHADOWED)
      expect(b[SHADOWED_ALIAS_PREFIX + name], name).toBeTypeOf('function')
    expect(b['verdict:sprintf']!('%v', [['a', 1]])).toBe('["a", 1]')
  })

  it('answers opa.runtime with what the host provides, {} by default', () => {
    expect(createHostBuiltins({ strict: true })['opa.runtime']!()).toEqual({})
    expect(
      createHostBuiltins({ strict: true, runtime: { version: 'x' } })['opa.runtime']!(),
    ).toEqual({ version: 'x' })
  })

  it('keeps uuid.rfc4122 stable per key within an evaluation only', async () => {
    const b = createHostBuiltins({ strict: true })
    const first = b['uuid.rfc4122']!('k')
    expect(b['uuid.rfc4122']!('k')).toBe(first)
    await Promise.resolve()
    expect(b['uuid.rfc4122']!('k')).not.toBe(first)
  })

  it('lets custom builtins take precedence', () => {
    const b = createHostBuiltins({ strict: true, custom: { 'units.parse': () => 42 } })
    expect(b['units.parse']!('1K')).toBe(42)
  })

  it('serves compiled policies through opa-wasm', async () => {
    const partial = `package t

r := {
  "units": units.parse_bytes("1.1KiB"),
  "glob": glob.match("*.example.com", [], "api.example.com"),
  "ns": time.parse_rfc3339_ns("2022-12-02T18:40:53.141828752Z"),
  "cidr": net.cidr_contains("10.0.0.0/8", "10.1.2.3"),
  "upper": upper("abc"),
}

bad := units.parse("nope")
`
    expect(await run(partial, 't/r', { strict: false })).toEqual({
      units: 1126,
      glob: true,
      ns: 1670006453141828752,
      cidr: true,
      upper: 'ABC',
    })
    expect(await run(partial, 't/bad', { strict: false })).toBeUndefined()
    await expect(run(partial, 't/bad', { strict: true })).rejects.toThrow(
      'p.rego:11: eval_builtin_error: units.parse: no amount provided',
    )
  })
})
