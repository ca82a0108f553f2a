/**
 * compile({ hostBuiltins }): a policy that calls a builtin no host provides fails at build time
 * with its location, not with "not implemented" when it is evaluated.
 */
import { describe, expect, it } from 'vitest'
import { compile } from '../../src/compiler/index.js'
import { HOST_BUILTIN_NAMES } from '../../src/engine/index.js'
import { RegoErrors } from '../../src/rego/index.js'

const source = 'package x\n\np := http.send({"method": "get", "url": "http://example.com"})\n'

describe('compile hostBuiltins check', () => {
  it('rejects a host builtin that the target host does not provide', () => {
    let err: unknown
    try {
      compile({ modules: [{ file: 'x.rego', source }], entrypoints: ['x/p'], hostBuiltins: HOST_BUILTIN_NAMES })
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(RegoErrors)
    const first = (err as RegoErrors).errors[0]!
    expect(first.code).toBe('rego_type_error')
    expect(first.location).toMatchObject({ file: 'x.rego', row: 3 })
    expect(first.detail).toContain('undefined function http.send')
  })

  it('accepts it when the host registers it as a custom builtin', () => {
    const compiled = compile({
      modules: [{ file: 'x.rego', source }],
      entrypoints: ['x/p'],
      hostBuiltins: new Set([...HOST_BUILTIN_NAMES, 'http.send']),
    })
    expect(compiled.wasm.byteLength).toBeGreaterThan(0)
  })

  it('accepts builtins Verdict provides (host and native)', () => {
    const ok = 'package x\n\np := [sprintf("%d", [1]), units.parse("1K"), count([1])]\n'
    expect(() =>
      compile({ modules: [{ file: 'x.rego', source: ok }], entrypoints: ['x/p'], hostBuiltins: HOST_BUILTIN_NAMES }),
    ).not.toThrow()
  })
})
