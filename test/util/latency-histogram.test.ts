import { describe, expect, it } from 'vitest'
import { LatencyHistogram } from '../../src/util/latency-histogram.js'

/** The exact value at quantile q: the rank-⌈q·n⌉ value of the sorted list. */
function exact(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!
}

describe('LatencyHistogram', () => {
  it('is empty until a value is recorded', () => {
    const h = new LatencyHistogram()
    expect(h.count).toBe(0)
    expect(h.max).toBe(0)
    expect(h.quantile(0.5)).toBeUndefined()
  })

  it('counts values below 16 exactly', () => {
    const h = new LatencyHistogram()
    for (const v of [3, 1, 15, 7, 0]) h.record(v)
    expect([h.quantile(0), h.quantile(0.5), h.quantile(0.99), h.quantile(1)]).toEqual([0, 3, 15, 15])
  })

  it('estimates percentiles at most 12.5% above the true value, never above the max', () => {
    // A deterministic spread from 1 µs to about 20 s.
    const values = Array.from({ length: 5000 }, (_, i) => Math.floor(Math.exp((i * 7919) % 5000 / 5000 * 16.8)))
    const h = new LatencyHistogram()
    for (const v of values) h.record(v)
    for (const q of [0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1]) {
      const want = exact(values, q)
      const got = h.quantile(q)!
      expect(got).toBeGreaterThanOrEqual(want)
      expect(got).toBeLessThanOrEqual(Math.max(want * 1.125, want + 1))
    }
    expect(h.quantile(1)).toBe(Math.max(...values))
    expect(h.max).toBe(Math.max(...values))
  })

  it('reports the bucket upper bound for a value inside a bucket', () => {
    const h = new LatencyHistogram()
    for (const v of [120, 180, 95, 4000]) h.record(v)
    // 120 lies in the bucket 120..127; 4000 in 3840..4095, but the max caps it.
    expect(h.quantile(0.5)).toBe(127)
    expect(h.quantile(1)).toBe(4000)
  })

  it('truncates fractions, counts negatives as 0 and puts huge values in the last bucket', () => {
    const h = new LatencyHistogram()
    h.record(2.9)
    h.record(-5)
    h.record(2 ** 40)
    expect(h.count).toBe(3)
    expect(h.quantile(0)).toBe(0)
    expect(h.quantile(0.5)).toBe(2)
    expect(h.quantile(1)).toBe(2 ** 40)
  })

  it('merges another histogram', () => {
    const a = new LatencyHistogram()
    const b = new LatencyHistogram()
    for (let i = 0; i < 100; i++) a.record(10)
    for (let i = 0; i < 100; i++) b.record(1000)
    a.merge(b)
    expect(a.count).toBe(200)
    expect(a.max).toBe(1000)
    expect(a.quantile(0.5)).toBe(10)
    expect(a.quantile(0.99)).toBe(1000)
  })

  it('rejects a quantile outside 0..1', () => {
    expect(() => new LatencyHistogram().quantile(1.5)).toThrow(TypeError)
  })
})
