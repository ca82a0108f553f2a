/**
 * SidecarMetrics and renderMetrics: counters by decision code and RPC status, the duration
 * histogram, sums over several workers' snapshots, and an exposition that a strict reader of the
 * text format accepts.
 */
import { describe, expect, it } from 'vitest'
import { DecisionCode } from '../../src/gen/verdict/v1/authorizer_pb.js'
import { addSnapshot, emptySnapshot, renderMetrics, SidecarMetrics } from '../../src/server/index.js'
import { parseExposition, sampleValue } from '../helpers/prometheus.js'

const sources = { revision: 'r1', ready: true }

describe('SidecarMetrics', () => {
  it('counts decisions by code and puts each duration in its bucket', () => {
    const m = new SidecarMetrics()
    m.decision(DecisionCode.OK, 0.03) // 30 µs
    m.decision(DecisionCode.OK, 0.07)
    m.decision(DecisionCode.POLICY_DENIED, 3)
    m.decision(DecisionCode.TOKEN_EXPIRED, 500) // beyond the last bound
    const f = parseExposition(renderMetrics([{ snapshot: m.snapshot(sources) }]))
    expect(sampleValue(f, 'verdict_decisions_total', { code: 'OK' })).toBe(2)
    expect(sampleValue(f, 'verdict_decisions_total', { code: 'POLICY_DENIED' })).toBe(1)
    expect(sampleValue(f, 'verdict_decisions_total', { code: 'TOKEN_EXPIRED' })).toBe(1)
    expect(sampleValue(f, 'verdict_decisions_total', { code: 'NO_POLICY' })).toBe(0)
    const h = 'verdict_decision_duration_seconds'
    expect(sampleValue(f, `${h}_bucket`, { le: '0.00005' })).toBe(1)
    expect(sampleValue(f, `${h}_bucket`, { le: '0.0001' })).toBe(2)
    expect(sampleValue(f, `${h}_bucket`, { le: '0.0025' })).toBe(2)
    expect(sampleValue(f, `${h}_bucket`, { le: '0.005' })).toBe(3)
    expect(sampleValue(f, `${h}_bucket`, { le: '0.1' })).toBe(3)
    expect(sampleValue(f, `${h}_bucket`, { le: '+Inf' })).toBe(4)
    expect(sampleValue(f, `${h}_count`)).toBe(4)
    expect(sampleValue(f, `${h}_sum`)).toBeCloseTo((0.03 + 0.07 + 3 + 500) / 1000, 9)
  })

  it('counts RPC errors by method and status, and policy loads by result', () => {
    const m = new SidecarMetrics()
    m.rpcErrors('Check')[3]!++ // INVALID_ARGUMENT
    m.rpcErrors('BatchCheck')[3]!++
    m.rpcErrors('BatchCheck')[3]!++
    m.policyLoad(true)
    m.policyLoad(false)
    m.policyLoad(false)
    const f = parseExposition(renderMetrics([{ snapshot: m.snapshot(sources) }]))
    expect(sampleValue(f, 'verdict_rpc_errors_total', { method: 'Check', code: 'INVALID_ARGUMENT' })).toBe(1)
    expect(sampleValue(f, 'verdict_rpc_errors_total', { method: 'BatchCheck', code: 'INVALID_ARGUMENT' })).toBe(2)
    expect(f.get('verdict_rpc_errors_total')!.samples).toHaveLength(2)
    expect(sampleValue(f, 'verdict_policy_loads_total', { result: 'ok' })).toBe(1)
    expect(sampleValue(f, 'verdict_policy_loads_total', { result: 'rejected' })).toBe(2)
    expect(sampleValue(f, 'verdict_policy_info', { revision: 'r1' })).toBe(1)
  })

  it('counts AuthZEN request errors by HTTP status, and sums them over workers', () => {
    const a = new SidecarMetrics()
    const b = new SidecarMetrics()
    a.authzenError(400)
    a.authzenError(400)
    b.authzenError(400)
    b.authzenError(413)
    const quiet = parseExposition(renderMetrics([{ snapshot: new SidecarMetrics().snapshot(sources) }]))
    expect(quiet.get('verdict_authzen_request_errors_total')!.samples).toHaveLength(0)
    const f = parseExposition(renderMetrics([{ snapshot: a.snapshot(sources) }, { snapshot: b.snapshot(sources) }]))
    expect(sampleValue(f, 'verdict_authzen_request_errors_total', { status: '400' })).toBe(3)
    expect(sampleValue(f, 'verdict_authzen_request_errors_total', { status: '413' })).toBe(1)
    expect(f.get('verdict_authzen_request_errors_total')!.samples).toHaveLength(2)
  })
})

describe('renderMetrics', () => {
  it('counts failed contacts with a remote bundle source, and reports the stalest good one over workers', () => {
    const a = new SidecarMetrics()
    const b = new SidecarMetrics()
    // A file source never reports: no timestamp gauge, zero failures.
    let f = parseExposition(renderMetrics([{ snapshot: a.snapshot(sources) }]))
    expect(sampleValue(f, 'verdict_bundle_fetch_failures_total')).toBe(0)
    expect(f.has('verdict_bundle_last_fetch_timestamp_seconds')).toBe(false)
    const before = Date.now() / 1000
    a.bundleFetch(false)
    a.bundleFetch(true)
    b.bundleFetch(false)
    const sa = a.snapshot(sources)
    const sb = b.snapshot(sources)
    sb.policy.lastFetchSeconds = before - 600 // worker b last reached its source ten minutes ago
    f = parseExposition(renderMetrics([{ snapshot: sa, worker: 0 }, { snapshot: sb, worker: 1 }]))
    expect(sampleValue(f, 'verdict_bundle_fetch_failures_total')).toBe(2)
    expect(sampleValue(f, 'verdict_bundle_last_fetch_timestamp_seconds')).toBeCloseTo(before - 600, 3)
    f = parseExposition(renderMetrics([{ snapshot: sa }]))
    expect(sampleValue(f, 'verdict_bundle_last_fetch_timestamp_seconds')).toBeGreaterThanOrEqual(Math.floor(before))
  })

  it('sums workers, labels the policy revision per worker and escapes label values', () => {
    const a = new SidecarMetrics()
    const b = new SidecarMetrics()
    for (let i = 0; i < 3; i++) a.decision(DecisionCode.OK, 0.2)
    for (let i = 0; i < 5; i++) b.decision(DecisionCode.POLICY_DENIED, 20)
    const sa = a.snapshot({ revision: 'v"1\\\n', ready: true, tokenCache: { hits: 3, misses: 1 }, audit: { published: 3, spoolBytes: 10 } })
    const sb = b.snapshot({ revision: 'v2', ready: true, tokenCache: { hits: 4, misses: 1 }, audit: { published: 5, dropped: 2, spoolBytes: 5 } })
    const base = emptySnapshot()
    base.decisions[DecisionCode.OK] = 10 // an exited worker's counts
    base.durationBuckets[0] = 10
    const text = renderMetrics([{ snapshot: sa, worker: 0 }, { snapshot: sb, worker: 1 }], base, { configured: 2, reporting: 2 })
    const f = parseExposition(text)
    expect(sampleValue(f, 'verdict_decisions_total', { code: 'OK' })).toBe(13)
    expect(sampleValue(f, 'verdict_decisions_total', { code: 'POLICY_DENIED' })).toBe(5)
    expect(sampleValue(f, 'verdict_decision_duration_seconds_count')).toBe(18)
    expect(sampleValue(f, 'verdict_token_cache_hits_total')).toBe(7)
    expect(sampleValue(f, 'verdict_token_cache_misses_total')).toBe(2)
    expect(sampleValue(f, 'verdict_audit_events_published_total')).toBe(8)
    expect(sampleValue(f, 'verdict_audit_events_dropped_total')).toBe(2)
    expect(sampleValue(f, 'verdict_audit_spool_bytes')).toBe(15)
    expect(sampleValue(f, 'verdict_policy_info', { revision: 'v"1\\\n', worker: '0' })).toBe(1)
    expect(sampleValue(f, 'verdict_policy_info', { revision: 'v2', worker: '1' })).toBe(1)
    expect(text).toContain('verdict_policy_info{revision="v\\"1\\\\\\n",worker="0"} 1')
    expect(sampleValue(f, 'verdict_workers')).toBe(2)
    expect(sampleValue(f, 'verdict_workers_reporting')).toBe(2)
    expect(sampleValue(f, 'process_resident_memory_bytes')).toBeGreaterThan(0)
  })

  it('renders no policy sample while no bundle is loaded', () => {
    const f = parseExposition(renderMetrics([{ snapshot: new SidecarMetrics().snapshot({ revision: null, ready: false }) }]))
    expect(f.get('verdict_policy_info')!.samples).toEqual([])
    expect(f.get('verdict_decision_duration_seconds')!.type).toBe('histogram')
  })

  it('treats junk in a snapshot from another process as zero', () => {
    const into = emptySnapshot()
    addSnapshot(into, { decisions: ['x', 2], durationSumMs: 'NaN', audit: null } as never)
    expect(into.decisions[1]).toBe(2)
    expect(into.decisions[0]).toBe(0)
    expect(into.durationSumMs).toBe(0)
    expect(into.ready).toBe(false)
  })
})

describe('parseExposition (test helper)', () => {
  const ok = '# HELP a_total x\n# TYPE a_total counter\na_total 1\n'
  it('accepts a well-formed family and rejects the usual mistakes', () => {
    expect(sampleValue(parseExposition(ok), 'a_total')).toBe(1)
    expect(() => parseExposition('b 1\n')).toThrow(/undeclared/)
    expect(() => parseExposition('# HELP a x\n# TYPE a counter\na 1\n')).toThrow(/_total/)
    expect(() => parseExposition(ok.replace('a_total 1', 'a_total{l="x} 1'))).toThrow(/label/)
    const hist = (b1: number, inf: number, count: number) =>
      `# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} ${b1}\nh_bucket{le="+Inf"} ${inf}\nh_sum 0\nh_count ${count}\n`
    expect(() => parseExposition(hist(1, 2, 2))).not.toThrow()
    expect(() => parseExposition(hist(3, 2, 2))).toThrow(/cumulative/)
    expect(() => parseExposition(hist(1, 2, 3))).toThrow(/_count/)
  })
})
