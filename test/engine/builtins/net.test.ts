import { describe, expect, it } from 'vitest'
import * as n from '../../../src/engine/builtins/net.js'
import { semverCompare, semverIsValid } from '../../../src/engine/builtins/semver.js'

describe('net', () => {
  it('tests containment and intersection for IPv4 and IPv6', () => {
    expect(n.cidrContains('10.0.0.0/8', '10.1.0.0/24')).toBe(true)
    expect(n.cidrContains('10.0.0.0/8', '11.1.2.3')).toBe(false)
    expect(n.cidrContains('2001:4860:4860::8888/32', '2001:4860:4860:1234::8888/40')).toBe(true)
    expect(n.cidrContains('10.0.0.0/8', '::1')).toBe(false)
    expect(n.cidrIntersects('192.168.0.0/16', '192.168.1.0/24')).toBe(true)
    expect(n.cidrIsValid('10.0.0.0/33')).toBe(false)
    expect(() => n.cidrContains('not-a-cidr', '1.1.1.1')).toThrow(
      'invalid CIDR address: not-a-cidr',
    )
  })

  it('expands and merges blocks', () => {
    expect(n.cidrExpand('192.168.1.0/31')).toEqual(['192.168.1.0', '192.168.1.1'])
    expect(n.cidrExpand('2001:db8::/127')).toEqual(['2001:db8::', '2001:db8::1'])
    expect(n.cidrMerge(['192.0.128.0/24', '192.0.129.0/24', '10.0.0.1'])).toEqual([
      '10.0.0.1/32',
      '192.0.128.0/23',
    ])
  })

  it('pairs matching keys in cidr_contains_matches', () => {
    expect(n.cidrContainsMatches(['1.0.0.0/8'], { a: '1.2.3.4', b: '2.2.2.2' })).toEqual([[0, 'a']])
    expect(n.cidrContainsMatches('1.0.0.0/8', '1.2.3.4')).toEqual([['1.0.0.0/8', '1.2.3.4']])
  })
})

describe('semver', () => {
  it('compares by precedence and ignores build metadata', () => {
    expect(semverCompare('1.0.0', '2.0.0')).toBe(-1)
    expect(semverCompare('1.2.3-0', '1.2.3-1')).toBe(-1)
    expect(semverCompare('1.2.3-alpha', '1.2.3')).toBe(-1)
    expect(semverCompare('1.2.3-alpha.10', '1.2.3-alpha.9')).toBe(1)
    expect(semverCompare('1.2.3+01', '1.2.3+2')).toBe(0)
  })

  it('rejects what SemVer 2.0.0 rejects', () => {
    expect(semverIsValid('1.02.3')).toBe(false)
    expect(semverIsValid(1)).toBe(false)
    expect(() => semverCompare('1.2.3', '1.2.3-01')).toThrow(
      'semver.compare: operand 2: string "1.2.3-01" is not a valid SemVer',
    )
  })
})
