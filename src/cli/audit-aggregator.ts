/**
 * The counting behind `verdict audit aggregate`: audit events in, per-group counts, deny rates,
 * latency percentiles and per-interval series out. Memory is bounded whatever the window holds:
 * each group keeps counters, a fixed latency histogram (under 1 KB) and, with an interval, two
 * counters per bucket; groups past a limit are counted together as untracked. No event is kept.
 *
 * @module
 */

import type { DecisionEvent } from '../audit/index.js'
import { LatencyHistogram } from '../util/latency-histogram.js'

/** What events can be grouped by, and the value(s) each key takes from an event. */
export const AUDIT_GROUP_KEYS = {
  service: (e: DecisionEvent) => [text(e.service)],
  allow: (e: DecisionEvent) => [e.allow === true ? 'allow' : 'deny'],
  code: (e: DecisionEvent) => [text(e.code)],
  action: (e: DecisionEvent) => [text(e.action)],
  resource_type: (e: DecisionEvent) => [text(e.resource?.type)],
  subject: (e: DecisionEvent) => [subjectKey(e)],
  client_id: (e: DecisionEvent) => [text(e.subject?.client_id)],
  policy_revision: (e: DecisionEvent) => [text(e.policy_revision)],
  // An event with several reasons counts once under each; one with none under ''.
  reason: (e: DecisionEvent) => {
    const reasons = Array.isArray(e.reasons) ? [...new Set(e.reasons.map(text))] : []
    return reasons.length === 0 ? [''] : reasons
  },
} as const satisfies Record<string, (e: DecisionEvent) => string[]>

/** A key of {@link AUDIT_GROUP_KEYS}. */
export type AuditGroupKey = keyof typeof AUDIT_GROUP_KEYS

/** True when `name` is a key events can be grouped by. */
export function isAuditGroupKey(name: string): name is AuditGroupKey {
  return Object.hasOwn(AUDIT_GROUP_KEYS, name)
}

/** Most groups tracked by default; events of further groups are counted as untracked. */
export const DEFAULT_MAX_GROUPS = 10_000
/** Most time buckets a window may have. */
export const MAX_BUCKETS = 2000
/**
 * Most bucket counters (groups × buckets) the series may hold: 2M pairs, 16 MB. With many
 * buckets fewer groups are tracked (1000 at 2000 buckets, all 10 000 at 200 or fewer).
 */
export const MAX_SERIES_CELLS = 2_000_000

/** How to aggregate. */
export interface AuditAggregatorOptions {
  /** Keys to group by, in column order. Example: `['service', 'code']`. */
  by: readonly AuditGroupKey[]
  /** Start of the window (inclusive), on the events' `timestamp`. */
  since: Date
  /** End of the window (exclusive). */
  until: Date
  /** Bucket width in ms for per-interval series; none without. Example: `60000`. */
  intervalMs?: number
  /** Most groups tracked; default {@link DEFAULT_MAX_GROUPS}, lowered to fit {@link MAX_SERIES_CELLS}. */
  maxGroups?: number
}

/** Latency percentiles of a group, in microseconds. */
export interface AuditLatency {
  p50: number
  p99: number
  max: number
}

/** A bucket whose denies exceed the spike threshold. */
export interface AuditSpike {
  /** Start of the bucket, RFC 3339. */
  start: string
  count: number
  deny: number
}

/** Counts of a set of events (one group, all others, or the whole window). */
export interface AuditCounts {
  count: number
  allow: number
  deny: number
  /** deny / count, 0 when empty, to 4 decimals. */
  deny_rate: number
  /** From the events' `latency_us`; null when none had one. */
  latency_us: AuditLatency | null
  /** Per bucket, aligned with {@link AuditSummary.buckets}; only with an interval. */
  series?: { count: number[]; deny: number[] }
  /**
   * Median deny count per bucket over the window, and the buckets above `factor × max(median, 1)`
   * denies; only with an interval and a spike factor.
   */
  deny_median?: number
  spikes?: AuditSpike[]
}

/** One group: the values of its keys and its counts. */
export interface AuditGroup extends AuditCounts {
  /** The group's value per key, e.g. `{ service: 'trades-api', code: 'OK' }`; '' when absent. */
  key: Record<string, string>
}

/** The aggregate as one JSON document. */
export interface AuditSummary {
  window: { since: string; until: string }
  by: AuditGroupKey[]
  /** Every event in the window (each once, whatever `reason` grouping does). */
  totals: AuditCounts
  /** The largest groups, by count then key; at most `top`. */
  groups: AuditGroup[]
  /** Everything not in `groups`: the smaller groups and the untracked events; absent when nothing. */
  others?: AuditCounts & { groups: number }
  /** Groups found (tracked). */
  groups_total: number
  /** Events whose group came after the group limit was reached; they are in `others`. */
  untracked_events: number
  /** Bucket width, and each bucket's start (RFC 3339); only with an interval. */
  interval_ms?: number
  buckets?: string[]
  /** The spike factor; only with one. */
  spike_factor?: number
}

/** How to summarise. */
export interface AuditSummaryOptions {
  /** Most groups listed, the rest summed in `others`; 0 or undefined for all. */
  top?: number
  /** Flag buckets whose deny count exceeds `spike × max(median, 1)` of the group's buckets. */
  spike?: number
}

const text = (v: unknown): string => (typeof v === 'string' ? v : '')

/** `type:id` of the request's subject (or the id), else the token's `sub`, else ''. */
function subjectKey(e: DecisionEvent): string {
  const s = e.subject ?? {}
  if (typeof s.id === 'string' && s.id !== '') return typeof s.type === 'string' && s.type !== '' ? `${s.type}:${s.id}` : s.id
  return text(s.sub)
}

/** Counters of one group while events arrive. */
class Tally {
  count = 0
  deny = 0
  readonly latency = new LatencyHistogram()
  /** [count, deny] per bucket, interleaved; allocated on the first event. */
  series: Uint32Array | undefined

  add(deny: boolean, latencyUs: unknown, bucket: number, buckets: number): void {
    this.count++
    if (deny) this.deny++
    if (typeof latencyUs === 'number' && Number.isFinite(latencyUs)) this.latency.record(latencyUs)
    if (bucket >= 0) {
      this.series ??= new Uint32Array(buckets * 2)
      this.series[bucket * 2]!++
      if (deny) this.series[bucket * 2 + 1]!++
    }
  }

  merge(other: Tally, buckets: number): void {
    this.count += other.count
    this.deny += other.deny
    this.latency.merge(other.latency)
    if (other.series !== undefined) {
      this.series ??= new Uint32Array(buckets * 2)
      for (let i = 0; i < other.series.length; i++) this.series[i]! += other.series[i]!
    }
  }
}

const round4 = (x: number): number => Math.round(x * 10_000) / 10_000

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/**
 * Groups and counts audit events over a time window.
 *
 * @example
 * const agg = new AuditAggregator({ by: ['service', 'code'], since, until, intervalMs: 60_000 })
 * for (const event of events) agg.add(event)
 * const summary = agg.summary({ top: 10, spike: 3 })
 */
export class AuditAggregator {
  readonly #by: readonly AuditGroupKey[]
  readonly #since: number
  readonly #until: number
  readonly #interval: number | undefined
  /** Start of the first bucket: `since` rounded down to a multiple of the interval (round times). */
  readonly #firstBucket: number
  readonly #buckets: number
  readonly #maxGroups: number
  readonly #groups = new Map<string, { values: string[]; tally: Tally }>()
  readonly #total = new Tally()
  readonly #untracked = new Tally()
  #untrackedEvents = 0
  #outside = 0
  #undated = 0

  constructor(options: AuditAggregatorOptions) {
    if (options.by.length === 0) throw new TypeError('by needs at least one key')
    for (const key of options.by) if (!isAuditGroupKey(key)) throw new TypeError(`unknown group key ${key}`)
    this.#by = [...options.by]
    this.#since = options.since.getTime()
    this.#until = options.until.getTime()
    if (!(this.#since < this.#until)) throw new TypeError('since must be before until')
    this.#interval = options.intervalMs
    let maxGroups = options.maxGroups ?? DEFAULT_MAX_GROUPS
    if (this.#interval === undefined) {
      this.#firstBucket = this.#since
      this.#buckets = 0
    } else {
      if (!(this.#interval >= 1)) throw new TypeError('intervalMs must be at least 1')
      this.#firstBucket = Math.floor(this.#since / this.#interval) * this.#interval
      this.#buckets = Math.ceil((this.#until - this.#firstBucket) / this.#interval)
      if (this.#buckets > MAX_BUCKETS) throw new TypeError(`the window holds ${this.#buckets} buckets, more than ${MAX_BUCKETS}`)
      maxGroups = Math.min(maxGroups, Math.floor(MAX_SERIES_CELLS / this.#buckets))
    }
    this.#maxGroups = maxGroups
  }

  /** Groups tracked at most (after lowering to fit the series). */
  get maxGroups(): number {
    return this.#maxGroups
  }

  /** Events left out because their timestamp lies outside the window. */
  get outsideWindow(): number {
    return this.#outside
  }

  /** Events left out because their timestamp is missing or not a time. */
  get undated(): number {
    return this.#undated
  }

  /** Counts one event; returns false (and counts nothing) when it lies outside the window. */
  add(event: DecisionEvent): boolean {
    const t = typeof event.timestamp === 'string' ? Date.parse(event.timestamp) : Number.NaN
    if (Number.isNaN(t)) {
      this.#undated++
      return false
    }
    if (t < this.#since || t >= this.#until) {
      this.#outside++
      return false
    }
    const deny = event.allow !== true
    const bucket = this.#interval === undefined ? -1 : Math.floor((t - this.#firstBucket) / this.#interval)
    this.#total.add(deny, event.latency_us, bucket, this.#buckets)
    for (const values of this.#keyValues(event)) {
      const id = JSON.stringify(values)
      let group = this.#groups.get(id)
      if (group === undefined) {
        if (this.#groups.size >= this.#maxGroups) {
          this.#untrackedEvents++
          this.#untracked.add(deny, event.latency_us, bucket, this.#buckets)
          continue
        }
        group = { values, tally: new Tally() }
        this.#groups.set(id, group)
      }
      group.tally.add(deny, event.latency_us, bucket, this.#buckets)
    }
    return true
  }

  /** Every combination of the event's key values (more than one only for `reason`). */
  #keyValues(event: DecisionEvent): string[][] {
    let combos: string[][] = [[]]
    for (const key of this.#by) {
      const values = AUDIT_GROUP_KEYS[key](event)
      combos = values.length === 1 ? combos.map((c) => [...c, values[0]!]) : combos.flatMap((c) => values.map((v) => [...c, v]))
    }
    return combos
  }

  /** The summary so far, as one JSON-ready document. */
  summary(options: AuditSummaryOptions = {}): AuditSummary {
    const spike = options.spike
    const sorted = [...this.#groups.values()].sort((a, b) => {
      if (a.tally.count !== b.tally.count) return b.tally.count - a.tally.count
      for (let i = 0; i < a.values.length; i++) {
        if (a.values[i] !== b.values[i]) return a.values[i]! < b.values[i]! ? -1 : 1
      }
      return 0
    })
    const top = options.top === undefined || options.top === 0 ? sorted.length : options.top
    const listed = sorted.slice(0, top)
    const rest = new Tally()
    for (const g of sorted.slice(top)) rest.merge(g.tally, this.#buckets)
    rest.merge(this.#untracked, this.#buckets)

    const summary: AuditSummary = {
      window: { since: new Date(this.#since).toISOString(), until: new Date(this.#until).toISOString() },
      by: [...this.#by],
      totals: this.#stats(this.#total, spike),
      groups: listed.map((g) => ({
        key: Object.fromEntries(this.#by.map((k, i) => [k, g.values[i]!])),
        ...this.#stats(g.tally, spike),
      })),
      groups_total: this.#groups.size,
      untracked_events: this.#untrackedEvents,
    }
    if (rest.count > 0) summary.others = { groups: sorted.length - listed.length, ...this.#stats(rest, undefined) }
    if (this.#interval !== undefined) {
      summary.interval_ms = this.#interval
      summary.buckets = Array.from({ length: this.#buckets }, (_, i) =>
        new Date(this.#firstBucket + i * this.#interval!).toISOString(),
      )
      if (spike !== undefined) summary.spike_factor = spike
    }
    return summary
  }

  #stats(tally: Tally, spike: number | undefined): AuditCounts {
    const latency = tally.latency
    const stats: AuditCounts = {
      count: tally.count,
      allow: tally.count - tally.deny,
      deny: tally.deny,
      deny_rate: tally.count === 0 ? 0 : round4(tally.deny / tally.count),
      latency_us:
        latency.count === 0 ? null : { p50: latency.quantile(0.5)!, p99: latency.quantile(0.99)!, max: latency.max },
    }
    if (this.#interval === undefined) return stats
    const cells = tally.series ?? new Uint32Array(this.#buckets * 2)
    const count: number[] = []
    const deny: number[] = []
    for (let i = 0; i < this.#buckets; i++) {
      count.push(cells[i * 2]!)
      deny.push(cells[i * 2 + 1]!)
    }
    stats.series = { count, deny }
    if (spike !== undefined) {
      const m = median(deny)
      // A floor of 1: over a quiet baseline (median 0), one stray deny is not a spike.
      const threshold = spike * Math.max(m, 1)
      stats.deny_median = m
      stats.spikes = []
      for (let i = 0; i < this.#buckets; i++) {
        if (deny[i]! > threshold) {
          stats.spikes.push({ start: new Date(this.#firstBucket + i * this.#interval).toISOString(), count: count[i]!, deny: deny[i]! })
        }
      }
    }
    return stats
  }
}
