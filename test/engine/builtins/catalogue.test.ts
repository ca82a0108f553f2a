import { describe, expect, it } from 'vitest'
import { BUILTINS, getBuiltin } from '../../../src/rego/builtins.js'
import { HOST_BUILTIN_NAMES, NOT_PROVIDED } from '../../../src/engine/builtins/index.js'

describe('catalogue', () => {
  it('has an implementation or a stated reason for every host builtin', () => {
    const missing = BUILTINS.filter(
      (b) => b.provider === 'host' && !HOST_BUILTIN_NAMES.has(b.name) && !(b.name in NOT_PROVIDED),
    ).map((b) => b.name)
    expect(missing).toEqual([])
  })

  it('implements only builtins the catalogue declares as host builtins', () => {
    const undeclared = [...HOST_BUILTIN_NAMES].filter((n) => getBuiltin(n)?.provider !== 'host')
    expect(undeclared).toEqual([])
    for (const n of Object.keys(NOT_PROVIDED)) expect(getBuiltin(n)?.provider, n).toBe('host')
  })

  it('declares each name once, with infix spellings and flags', () => {
    const names = BUILTINS.map((b) => b.name)
    expect(new Set(names).size).toBe(names.length)
    expect(getBuiltin('plus')).toMatchObject({ infix: '+', arity: 2, provider: 'native' })
    expect(getBuiltin('internal.member_3')).toMatchObject({ infix: 'in', arity: 3 })
    expect(getBuiltin('eq')?.provider).toBe('planner')
    expect(getBuiltin('walk')?.relation).toBe(true)
    expect(getBuiltin('net.cidr_expand')?.returnsSet).toBe(true)
    expect(getBuiltin('time.now_ns')).toMatchObject({ arity: 0, nondeterministic: true })
    expect(getBuiltin('internal.print')?.result).toBe(false)
    expect(getBuiltin('no.such')).toBeUndefined()
  })
})
