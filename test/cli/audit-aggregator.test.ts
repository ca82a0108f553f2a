import { describe, expect, it } from 'vitest'
import { buildDecisionEvent } from '../../src/audit/index.js'
import type { DecisionEvent } from '../../src/audit/index.js'
import { AuditAggregator, MAX_SERIES_CELLS } from '../../src/cli/audit-aggregator.js'

const T0 = Date.parse('2026-11-30T20:00:00Z')
const MIN = 60_000

/** An event at `T0 + at` ms. */
function event(at: number, over: Partial<Parameters<typeof buildDecisionEvent>[0]> = {}): DecisionEvent {
  return buildDecisionEvent({
    timestamp: new Date(T0 + at),
    service: 'trades-api',
    claims: { sub: 's-1', client_id: 'web' },
    subject: { type: 'user', id: '1' },
    action: 'read',
    resource: { type: 'trade', id: 't' },
    allow: true,
    code: 'OK',
    policyRevision: 'r1',
    latencyUs: 100,
    ...over,
  })
}

const window = (minutes: number) => ({ since: new Date(T0), until: new Date(T0 + minutes * MIN) })

describe('AuditAggregator', () => {
  it('counts groups by several keys, largest first, with deny rate and latency', () => {
    const agg = new AuditAggregator({ by: ['service', 'allow'], ...window(10) })
    for (let i = 0; i < 3; i++) agg.add(event(i * MIN, { latencyUs: 5 + 2 * i }))
    agg.add(event(MIN, { allow: false, code: 'POLICY_DENIED', latencyUs: 900 }))
    agg.add(event(2 * MIN, { service: 'reports-api', allow: false, code: 'TOKEN_EXPIRED', latencyUs: 20 }))
    agg.add(event(2 * MIN, { service: 'reports-api', allow: false, code: 'TOKEN_EXPIRED', latencyUs: 30 }))
    const s = agg.summary()
    expect(s.by).toEqual(['service', 'allow'])
    expect(s.groups.map((g) => [g.key, g.count])).toEqual([
      [{ service: 'trades-api', allow: 'allow' }, 3],
      [{ service: 'reports-api', allow: 'deny' }, 2],
      [{ service: 'trades-api', allow: 'deny' }, 1],
    ])
    expect(s.groups[0]).toMatchObject({ allow: 3, deny: 0, deny_rate: 0, latency_us: { p50: 7, p99: 9, max: 9 } })
    expect(s.totals).toMatchObject({ count: 6, allow: 3, deny: 3, deny_rate: 0.5 })
    // 5 7 9 20 30 900: the median is exact below 16; 900 lies in 896..959, capped by the max.
    expect(s.totals.latency_us).toEqual({ p50: 9, p99: 900, max: 900 })
    expect(s.groups_total).toBe(3)
    expect(s.others).toBeUndefined()
    expect(s.buckets).toBeUndefined()
    expect(s.totals.series).toBeUndefined()
  })

  it('takes each key from the event', () => {
    const by = ['code', 'action', 'resource_type', 'subject', 'client_id', 'policy_revision'] as const
    const agg = new AuditAggregator({ by, ...window(1) })
    agg.add(event(0))
    // No request subject: the token's sub; nothing at all: ''.
    agg.add(event(0, { subject: {}, claims: { sub: 'svc-9' } }))
    agg.add(event(0, { subject: { id: '7' }, claims: {} }))
    agg.add(event(0, { subject: {}, claims: {}, policyRevision: '' }))
    expect(agg.summary().groups.map((g) => g.key)).toEqual([
      { code: 'OK', action: 'read', resource_type: 'trade', subject: '', client_id: '', policy_revision: '' },
      { code: 'OK', action: 'read', resource_type: 'trade', subject: '7', client_id: '', policy_revision: 'r1' },
      { code: 'OK', action: 'read', resource_type: 'trade', subject: 'svc-9', client_id: '', policy_revision: 'r1' },
      { code: 'OK', action: 'read', resource_type: 'trade', subject: 'user:1', client_id: 'web', policy_revision: 'r1' },
    ])
  })

  it('counts an event once under each of its reasons, and once in the totals', () => {
    const agg = new AuditAggregator({ by: ['service', 'reason'], ...window(1) })
    agg.add(event(0, { allow: false, reasons: ['not_owner', 'wrong_location'] }))
    agg.add(event(0, { allow: false, reasons: ['not_owner', 'not_owner'] }))
    agg.add(event(0))
    const s = agg.summary()
    expect(s.groups.map((g) => [g.key.reason, g.count])).toEqual([
      ['not_owner', 2],
      ['', 1],
      ['wrong_location', 1],
    ])
    expect(s.totals.count).toBe(3)
  })

  it('keeps the window: since inclusive, until exclusive, undated events apart', () => {
    const agg = new AuditAggregator({ by: ['service'], ...window(10) })
    expect(agg.add(event(-1))).toBe(false)
    expect(agg.add(event(0))).toBe(true)
    expect(agg.add(event(10 * MIN - 1))).toBe(true)
    expect(agg.add(event(10 * MIN))).toBe(false)
    expect(agg.add({ ...event(0), timestamp: 'yesterday' })).toBe(false)
    expect(agg.summary().totals.count).toBe(2)
    expect(agg.outsideWindow).toBe(2)
    expect(agg.undated).toBe(1)
  })

  it('lists the top groups and sums the rest', () => {
    const agg = new AuditAggregator({ by: ['service'], ...window(1) })
    for (const [service, n] of [['a', 5], ['b', 4], ['c', 3], ['d', 1]] as const) {
      for (let i = 0; i < n; i++) agg.add(event(0, { service, allow: service !== 'c' }))
    }
    const s = agg.summary({ top: 2 })
    expect(s.groups.map((g) => g.key.service)).toEqual(['a', 'b'])
    expect(s.others).toMatchObject({ groups: 2, count: 4, deny: 3, deny_rate: 0.75 })
    expect(s.groups_total).toBe(4)
    expect(agg.summary({ top: 0 }).groups).toHaveLength(4)
  })

  it('counts groups past the limit as untracked, in others', () => {
    const agg = new AuditAggregator({ by: ['subject'], ...window(1), maxGroups: 2 })
    for (const id of ['1', '2', '3', '1', '4']) agg.add(event(0, { subject: { type: 'user', id } }))
    const s = agg.summary()
    expect(s.groups.map((g) => [g.key.subject, g.count])).toEqual([
      ['user:1', 2],
      ['user:2', 1],
    ])
    expect(s.untracked_events).toBe(2)
    expect(s.others).toMatchObject({ groups: 0, count: 2 })
    expect(s.totals.count).toBe(5)
  })

  it('tracks fewer groups when many buckets would outgrow the series budget', () => {
    const agg = new AuditAggregator({ by: ['service'], since: new Date(T0), until: new Date(T0 + 2000 * 1000), intervalMs: 1000 })
    expect(agg.maxGroups).toBe(MAX_SERIES_CELLS / 2000)
  })

  it('counts per bucket from a round multiple of the interval', () => {
    // The window starts 30 s into a minute: the first bucket starts at the minute.
    const agg = new AuditAggregator({ by: ['service'], since: new Date(T0 + 30_000), until: new Date(T0 + 3 * MIN), intervalMs: MIN })
    agg.add(event(30_000))
    agg.add(event(2 * MIN + 59_999, { allow: false }))
    agg.add(event(2 * MIN + 1, { service: 'reports-api' }))
    const s = agg.summary()
    expect(s.interval_ms).toBe(MIN)
    expect(s.buckets).toEqual(['2026-11-30T20:00:00.000Z', '2026-11-30T20:01:00.000Z', '2026-11-30T20:02:00.000Z'])
    expect(s.groups[0]).toMatchObject({ key: { service: 'trades-api' }, series: { count: [1, 0, 1], deny: [0, 0, 1] } })
    expect(s.groups[1]).toMatchObject({ key: { service: 'reports-api' }, series: { count: [0, 0, 1], deny: [0, 0, 0] } })
    expect(s.totals.series).toEqual({ count: [1, 0, 2], deny: [0, 0, 1] })
    expect(s.spike_factor).toBeUndefined()
    expect(s.groups[0]!.spikes).toBeUndefined()
  })

  it('flags buckets with more than k x the median denies, the median at least 1', () => {
    const agg = new AuditAggregator({ by: ['service'], ...window(6), intervalMs: MIN })
    // trades-api: 2 denies a minute, 7 in minute 3 (> 3 x 2), 6 in minute 5 (not > 6).
    for (const [minute, n] of [[0, 2], [1, 2], [2, 2], [3, 7], [4, 2], [5, 6]] as const) {
      for (let i = 0; i < n; i++) agg.add(event(minute * MIN + i, { allow: false }))
    }
    // quiet-api: median 0, counted as 1: 3 denies are no spike, 4 are.
    for (let i = 0; i < 3; i++) agg.add(event(MIN + i, { service: 'quiet-api', allow: false }))
    for (let i = 0; i < 4; i++) agg.add(event(4 * MIN + i, { service: 'quiet-api', allow: false }))
    const s = agg.summary({ spike: 3 })
    expect(s.spike_factor).toBe(3)
    const [trades, quiet] = s.groups
    expect(trades).toMatchObject({ key: { service: 'trades-api' }, deny_median: 2 })
    expect(trades!.spikes).toEqual([{ start: '2026-11-30T20:03:00.000Z', count: 7, deny: 7 }])
    expect(quiet).toMatchObject({ key: { service: 'quiet-api' }, deny_median: 0 })
    expect(quiet!.spikes).toEqual([{ start: '2026-11-30T20:04:00.000Z', count: 4, deny: 4 }])
    // The totals: 2, 5, 2, 7, 6, 6 → median 5.5; nothing above 16.5.
    expect(s.totals).toMatchObject({ deny_median: 5.5, spikes: [] })
  })

  it('rejects what it cannot count', () => {
    expect(() => new AuditAggregator({ by: [], ...window(1) })).toThrow(TypeError)
    expect(() => new AuditAggregator({ by: ['nope' as 'service'], ...window(1) })).toThrow(/unknown group key nope/)
    expect(() => new AuditAggregator({ by: ['service'], since: new Date(T0), until: new Date(T0) })).toThrow(/before/)
    expect(() => new AuditAggregator({ by: ['service'], ...window(60 * 24 * 2), intervalMs: MIN })).toThrow(/2880 buckets/)
  })
})
