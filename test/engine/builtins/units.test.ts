import { describe, expect, it } from 'vitest'
import { unitsParse, unitsParseBytes } from '../../../src/engine/builtins/units.js'

const message = (f: () => unknown): string => {
  try {
    f()
  } catch (e) {
    return (e as Error).message
  }
  return 'no error'
}

describe('units', () => {
  it('parses SI, binary and milli suffixes exactly', () => {
    expect(unitsParse('500m')).toBe(0.5)
    expect(unitsParse('0.0000005M')).toBe(0.5)
    expect(unitsParse('1.1K')).toBe(1100)
    expect(unitsParse('1.1Ki')).toBe(1126.4)
    expect(unitsParse('10KI')).toBe(10240)
    expect(unitsParse('100mi')).toBe(104857600)
    expect(unitsParse('"100TI"')).toBe(109951162777600)
    expect(unitsParse('-3.5E2m')).toBe(-0.35)
    expect(unitsParse('.0')).toBe(0)
  })

  it('reads e as an exponent only before a digit', () => {
    expect(unitsParse('1e10')).toBe(10000000000)
    expect(unitsParse('2.5e3K')).toBe(2500000)
    expect(unitsParse('5e1Gi')).toBe(53687091200)
    expect(unitsParse('7.8E-1')).toBe(0.78)
    expect(unitsParse('10e')).toBe(10n ** 19n)
    expect(unitsParse('5E')).not.toBe(5)
    expect(unitsParse('10Ei')).toBe(11529215046068469760n)
  })

  it('reports OPA errors', () => {
    expect(message(() => unitsParse(''))).toBe('units.parse: no amount provided')
    expect(message(() => unitsParse('G'))).toBe('units.parse: no amount provided')
    expect(message(() => unitsParse('0.0.0'))).toBe(
      'units.parse: could not parse amount to a number',
    )
    expect(message(() => unitsParse(' 327Mi '))).toBe(
      'units.parse: spaces not allowed in resource strings',
    )
    expect(message(() => unitsParse('10e10000000Ei'))).toBe('units.parse: exponent too large')
  })

  it('parses byte amounts and truncates them to integers', () => {
    expect(unitsParseBytes('1.1KiB')).toBe(1126)
    expect(unitsParseBytes('10Kib')).toBe(10240)
    expect(unitsParseBytes('200mb')).toBe(200000000)
    expect(unitsParseBytes('100m')).toBe(100000000)
    expect(unitsParseBytes('"100TIB"')).toBe(109951162777600)
    expect(message(() => unitsParseBytes('GB'))).toBe('units.parse_bytes: no byte amount provided')
    expect(message(() => unitsParseBytes('.5.2'))).toBe(
      'units.parse_bytes: could not parse byte amount to a number',
    )
  })
})
