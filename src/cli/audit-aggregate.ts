/**
 * `verdict audit aggregate`: counts the audit events of a time window for the security
 * operations team — per group (service, code, subject, ...) the count, denies, deny rate and
 * latency percentiles, optionally per interval with deny spikes flagged — and prints one table
 * or one JSON document. It reads through the same ordered consumers as `audit tail`, from the
 * window's start to the stream's end as found on arrival, and keeps counters, never events.
 *
 * @module
 */

import { parseArgs } from 'node:util'
import { jetstream } from '@nats-io/jetstream'
import { DEFAULT_AUDIT_STREAM } from '../audit/index.js'
import { parseDuration } from '../config/index.js'
import {
  AUDIT_FILTER_FLAGS,
  AUDIT_FILTER_HELP,
  auditFilter,
  auditFilterOptions,
  auditStreamInfo,
  auditUsage,
  connectAuditNats,
  decodeAuditMessage,
  matchesAuditFilters,
  parseSince,
  readAuditStream,
} from './audit-stream.js'
import type { AuditFilterOptions } from './audit-stream.js'
import {
  AUDIT_GROUP_KEYS,
  AuditAggregator,
  DEFAULT_MAX_GROUPS,
  isAuditGroupKey,
  MAX_BUCKETS,
} from './audit-aggregator.js'
import type { AuditCounts, AuditGroupKey, AuditSummary } from './audit-aggregator.js'

/** Default window: the last hour. */
export const DEFAULT_AGGREGATE_WINDOW_MS = 3_600_000
/** Default grouping. */
export const DEFAULT_AGGREGATE_BY: readonly AuditGroupKey[] = ['service']
/** Groups listed by default; the rest are summed in one row. */
export const DEFAULT_AGGREGATE_TOP = 20
/**
 * How long before `since` the read starts, on the stream's clock: events are stored after their
 * decision, but a sidecar clock running ahead of the NATS server's would store an event of the
 * window's first moments before `since`.
 */
export const AGGREGATE_CLOCK_SLACK_MS = 60_000

/** Help text of `verdict audit aggregate`. */
export const AUDIT_AGGREGATE_HELP = `Usage: verdict audit aggregate --nats <url> [options]

Counts the sidecars' audit events of a time window from JetStream, per group: events, denies,
deny rate and decision latency (p50, p99, from latency_us), largest groups first, with totals.
${AUDIT_FILTER_HELP}  --since <duration|time>     window start: 1h, 30m, or RFC 3339 (default 1h)
  --until <duration|time>     window end, exclusive (default now)
  --by <key,key>              group by (default service); keys: service, allow (allow/deny),
                              code, action, resource_type, subject, client_id, policy_revision,
                              reason
  --top <n>                   list the n largest groups, sum the rest in one row (default
                              ${DEFAULT_AGGREGATE_TOP}; 0 lists all)
  --interval <duration>       also count per time bucket (1m, 5m, 1h; buckets start at round
                              multiples of it, at most ${MAX_BUCKETS} in the window)
  --spike <k>                 with --interval: flag a group's bucket whose denies exceed
                              k x the median denies per bucket of that group over the window
                              (a median below 1 counts as 1, so a quiet group needs more than
                              k denies in one bucket)
  --max-groups <n>            groups tracked; events of later groups are counted together as
                              untracked (default ${DEFAULT_MAX_GROUPS}, fewer with many buckets)
  --lateness <duration>       stop reading at the first message stored later than --until plus
                              this (default: read to the stream's end; see below)
  --format <json|text>        text: aligned tables; json: one document on one line
                              (default json when stdout is not a terminal, else text)

The window is on each event's timestamp (decision time). Grouping by reason counts an event once
under each of its reasons (the totals count it once). The read starts 1m before --since on the stream's clock and ends
at the stream's end as found on arrival: events replayed from a sidecar's spool after an outage
are stored late, so a window in the past still reads what came after it unless --lateness says
how late events may be. Memory stays bounded: counters and a fixed latency histogram per group
(percentiles within 12.5%), never the events. Exits 0 after printing.
`

/** Output formats of `verdict audit aggregate`. */
export const AUDIT_AGGREGATE_FORMATS = { json: 'json', text: 'text' } as const
/** `json` or `text`. */
export type AuditAggregateFormat = (typeof AUDIT_AGGREGATE_FORMATS)[keyof typeof AUDIT_AGGREGATE_FORMATS]

/** Options of {@link aggregateAudit}. */
export interface AuditAggregateOptions extends AuditFilterOptions {
  /** Window start (inclusive); default `until` minus an hour. */
  since?: Date
  /** Window end (exclusive); default now. */
  until?: Date
  /** Keys to group by; default {@link DEFAULT_AGGREGATE_BY}. */
  by?: readonly AuditGroupKey[]
  /** Groups listed; the rest are summed in `others`. Default {@link DEFAULT_AGGREGATE_TOP}; 0 for all. */
  top?: number
  /** Per-bucket series of this width, in ms. Example: `60000`. */
  intervalMs?: number
  /** Flags buckets with more denies than `spike × max(median, 1)`; needs `intervalMs`. Example: `3`. */
  spike?: number
  /** Most groups tracked. Default {@link DEFAULT_MAX_GROUPS}. */
  maxGroups?: number
  /** Stop at the first message stored later than `until` plus this many ms; default read to the end. */
  latenessMs?: number
}

/** Where {@link aggregateAudit} reports what it skipped. */
export interface AuditAggregateOutput {
  /** A note for stderr, without the newline. */
  warn: (text: string) => void
}

/** What {@link aggregateAudit} found: the summary plus where it came from. */
export interface AuditAggregateReport extends AuditSummary {
  stream: string
  /** The filters applied (absent ones left out). */
  filters: { service?: string; decision?: 'allow' | 'deny'; code?: string; subject?: string }
  /** Messages read, and why some were not counted. */
  messages: {
    read: number
    /** Not audit events (not JSON objects). */
    skipped: number
    /** Events of the read whose timestamp lies outside the window. */
    outside_window: number
    /** Events without a valid timestamp. */
    undated: number
  }
}

/**
 * Reads the window's events and aggregates them. Messages that are not JSON objects or carry no
 * valid timestamp are counted and reported once through `out.warn`. Throws a `PdpError`
 * (`ERR_AUDIT_NATS_UNREACHABLE`, `ERR_AUDIT_STREAM_NOT_FOUND`, `ERR_AUDIT_STREAM`) when it
 * cannot read, and `TypeError` on options that contradict each other.
 *
 * @example
 * const report = await aggregateAudit(
 *   { servers: 'nats://127.0.0.1:4222', decision: 'deny', by: ['service', 'code'], intervalMs: 60_000, spike: 3 },
 *   { warn: (text) => console.error(text) },
 * )
 * console.log(formatAggregateText(report))
 */
export async function aggregateAudit(options: AuditAggregateOptions, out: AuditAggregateOutput): Promise<AuditAggregateReport> {
  const until = options.until ?? new Date()
  const since = options.since ?? new Date(until.getTime() - DEFAULT_AGGREGATE_WINDOW_MS)
  if (options.spike !== undefined && options.intervalMs === undefined) throw new TypeError('spike needs intervalMs')
  const aggregator = new AuditAggregator({
    by: options.by ?? DEFAULT_AGGREGATE_BY,
    since,
    until,
    ...(options.intervalMs === undefined ? {} : { intervalMs: options.intervalMs }),
    ...(options.maxGroups === undefined ? {} : { maxGroups: options.maxGroups }),
  })
  const stream = options.stream ?? DEFAULT_AUDIT_STREAM
  let read = 0
  let skipped = 0
  let firstNote: string | undefined

  const nc = await connectAuditNats(options.servers, 'verdict-audit-aggregate', false)
  try {
    const { state, prefix } = await auditStreamInfo(nc, stream)
    if (state.messages > 0) {
      const filter = auditFilter(prefix, options.service, options.decision)
      const stopAfter = options.latenessMs === undefined ? undefined : until.getTime() + options.latenessMs
      const start = { time: new Date(since.getTime() - AGGREGATE_CLOCK_SLACK_MS) }
      await readAuditStream(jetstream(nc), stream, filter, start, state.last_seq, undefined, (msg) => {
        if (stopAfter !== undefined && msg.time.getTime() > stopAfter) return false
        read++
        const entry = decodeAuditMessage(msg)
        if ('note' in entry) {
          skipped++
          firstNote ??= entry.note
        } else if (matchesAuditFilters(entry.event, options)) {
          aggregator.add(entry.event)
        }
        return true
      })
    }
  } finally {
    await nc.close().catch(() => undefined)
  }

  if (skipped > 0) out.warn(skipped === 1 ? firstNote! : `skipped ${skipped} messages that are not audit events; the first: ${firstNote}`)
  if (aggregator.undated > 0) out.warn(`left out ${aggregator.undated} events without a valid timestamp`)
  const summary = aggregator.summary({
    top: options.top ?? DEFAULT_AGGREGATE_TOP,
    ...(options.spike === undefined ? {} : { spike: options.spike }),
  })
  if (summary.untracked_events > 0) {
    out.warn(
      `more than ${aggregator.maxGroups} groups: ${summary.untracked_events} events of later groups are counted only in the others row (raise --max-groups, or group by fewer keys)`,
    )
  }
  const filters: AuditAggregateReport['filters'] = {}
  if (options.service !== undefined) filters.service = options.service
  if (options.decision !== undefined) filters.decision = options.decision
  if (options.code !== undefined) filters.code = options.code
  if (options.subject !== undefined) filters.subject = options.subject
  return {
    stream,
    filters,
    ...summary,
    messages: { read, skipped, outside_window: aggregator.outsideWindow, undated: aggregator.undated },
  }
}

/** An RFC 3339 time without zero milliseconds: `2026-11-30T20:10:00Z`. */
const shortTime = (iso: string): string => iso.replace(/\.000Z$/, 'Z')

/** A cell for a key value: `-` for empty, control characters (from policies) as spaces. */
const cell = (value: string): string => (value === '' ? '-' : value.replace(/[\u0000-\u001f\u007f]+/g, ' '))

const percent = (rate: number): string => `${(rate * 100).toFixed(1)}%`

/** Rows of cells as lines, columns padded to their widest cell; `right[i]` aligns column i right. */
function table(rows: string[][], right: boolean[]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  return rows.map((r) =>
    r
      .map((c, i) => (right[i] ? c.padStart(widths[i]!) : i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  )
}

/**
 * The report as text for a person: a heading with the window and totals, a table of groups
 * (`#`, the keys, COUNT, DENY, DENY%, P50_US, P99_US, and SPIKES with a spike factor), a row for
 * the other groups and the total; with an interval, a table of count/deny per bucket per listed
 * group (`*` marks a spike).
 *
 * @example
 * formatAggregateText(report)
 * // VERDICT_AUDIT 2026-11-30T19:10:00Z .. 2026-11-30T20:10:00Z: 1234 events, 56 deny (4.5%)
 * // #  SERVICE     COUNT  DENY  DENY%  P50_US  P99_US
 * // 1  trades-api   1100    50   4.5%     183     991
 * // ...
 */
export function formatAggregateText(report: AuditAggregateReport): string {
  const t = report.totals
  const lines = [
    `${report.stream} ${shortTime(report.window.since)} .. ${shortTime(report.window.until)}: ${t.count} events, ${t.deny} deny (${percent(t.deny_rate)})`,
  ]
  const f = report.filters
  const filters = [
    f.service === undefined ? '' : `service=${f.service}`,
    f.decision ?? '',
    f.code === undefined ? '' : `code=${f.code}`,
    f.subject === undefined ? '' : `subject=${f.subject}`,
  ].filter((s) => s !== '')
  if (filters.length > 0) lines.push(`filters: ${filters.join(' ')}`)
  if (t.count === 0) {
    lines.push('no events in the window')
    return `${lines.join('\n')}\n`
  }
  const spikes = report.spike_factor !== undefined
  const numbers = (c: AuditCounts): string[] => [
    String(c.count),
    String(c.deny),
    percent(c.deny_rate),
    c.latency_us === null ? '-' : String(c.latency_us.p50),
    c.latency_us === null ? '-' : String(c.latency_us.p99),
    ...(spikes ? [String(c.spikes?.length ?? '')] : []),
  ]
  const blanks = report.by.map(() => '')
  const rows: string[][] = [
    ['#', ...report.by.map((k) => k.toUpperCase()), 'COUNT', 'DENY', 'DENY%', 'P50_US', 'P99_US', ...(spikes ? ['SPIKES'] : [])],
    ...report.groups.map((g, i) => [String(i + 1), ...report.by.map((k) => cell(g.key[k] ?? '')), ...numbers(g)]),
  ]
  if (report.others !== undefined) {
    const label = report.untracked_events > 0 ? `others (${report.others.groups} groups + untracked)` : `others (${report.others.groups} groups)`
    rows.push(['', label, ...blanks.slice(1), ...numbers(report.others)])
  }
  rows.push(['', 'total', ...blanks.slice(1), ...numbers(t)])
  const right = rows[0]!.map((_, i) => i === 0 || i > report.by.length)
  lines.push('', ...table(rows, right))

  if (report.buckets !== undefined && report.interval_ms !== undefined) {
    const columns: { name: string; counts: AuditCounts }[] = report.groups.map((g, i) => ({ name: `#${i + 1}`, counts: g }))
    if (report.others !== undefined) columns.push({ name: 'others', counts: report.others })
    columns.push({ name: 'total', counts: t })
    const spikeNote = spikes
      ? `; * = deny spike: more than ${report.spike_factor} x the column's median denies per bucket (at least 1)`
      : ''
    // With spikes every count ends in `*` or a space: so do the headings, to stay aligned.
    const series: string[][] = [['BUCKET', ...columns.map((c) => (spikes ? `${c.name} ` : c.name))]]
    report.buckets.forEach((start, b) => {
      series.push([
        shortTime(start),
        ...columns.map(({ counts }) => {
          const s = counts.series!
          const flagged = counts.spikes?.some((x) => x.start === start) === true
          return `${s.count[b]}/${s.deny[b]}${flagged ? '*' : spikes ? ' ' : ''}`
        }),
      ])
    })
    lines.push('', `per ${formatInterval(report.interval_ms)}: events/denies${spikeNote}`)
    lines.push(...table(series, series[0]!.map((_, i) => i > 0)))
  }
  return `${lines.join('\n')}\n`
}

/** `60000` → `1m`: an interval as the flag would say it. */
function formatInterval(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0) return `${ms / 60_000}m`
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`
}

/** A positive whole number from a flag, or a usage error naming it. */
function count(flag: string, text: string, min: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min) throw auditUsage(`${flag} must be a whole number, at least ${min} (got ${text})`)
  return Number(text)
}

/** Options parsed from the command line; wrong flags throw `ERR_AUDIT_USAGE` with a message. */
export function parseAuditAggregateArgs(
  args: string[],
  isTTY: boolean,
  now = new Date(),
): { help: true } | { help: false; options: AuditAggregateOptions; format: AuditAggregateFormat } {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      ...AUDIT_FILTER_FLAGS,
      since: { type: 'string' },
      until: { type: 'string' },
      by: { type: 'string' },
      top: { type: 'string' },
      interval: { type: 'string' },
      spike: { type: 'string' },
      'max-groups': { type: 'string' },
      lateness: { type: 'string' },
    },
  })
  if (values.help === true) return { help: true }
  const { filters, format } = auditFilterOptions('audit aggregate', values, positionals, isTTY)
  const options: AuditAggregateOptions = { ...filters }
  const time = (flag: string, text: string): Date => {
    const at = parseSince(text, now)
    if (at === undefined) throw auditUsage(`${flag} must be a duration (10m, 2h) or an RFC 3339 time (got ${text})`)
    return at
  }
  const until = values.until === undefined ? now : time('--until', values.until)
  const since = values.since === undefined ? new Date(until.getTime() - DEFAULT_AGGREGATE_WINDOW_MS) : time('--since', values.since)
  if (!(since < until)) throw auditUsage(`--since (${since.toISOString()}) must be before --until (${until.toISOString()})`)
  options.since = since
  options.until = until
  if (values.by !== undefined) {
    const by = values.by.split(',').map((k) => k.trim())
    for (const key of by) {
      if (!isAuditGroupKey(key)) throw auditUsage(`--by: unknown key ${JSON.stringify(key)}; keys: ${Object.keys(AUDIT_GROUP_KEYS).join(', ')}`)
    }
    if (new Set(by).size !== by.length) throw auditUsage(`--by names a key twice (${values.by})`)
    options.by = by as AuditGroupKey[]
  }
  if (values.top !== undefined) options.top = count('--top', values.top, 0)
  if (values['max-groups'] !== undefined) options.maxGroups = count('--max-groups', values['max-groups'], 1)
  if (values.interval !== undefined) {
    const ms = parseDuration(values.interval)
    if (ms === undefined || ms < 1000) throw auditUsage(`--interval must be a duration of at least 1s (got ${values.interval})`)
    const first = Math.floor(since.getTime() / ms) * ms
    const buckets = Math.ceil((until.getTime() - first) / ms)
    if (buckets > MAX_BUCKETS) {
      throw auditUsage(`--interval ${values.interval} makes ${buckets} buckets in the window; at most ${MAX_BUCKETS}: use a longer interval or a shorter window`)
    }
    options.intervalMs = ms
  }
  if (values.spike !== undefined) {
    if (options.intervalMs === undefined) throw auditUsage('--spike needs --interval')
    const k = Number(values.spike)
    if (values.spike.trim() === '' || !Number.isFinite(k) || k <= 0) throw auditUsage(`--spike must be a number above 0, e.g. 3 (got ${values.spike})`)
    options.spike = k
  }
  if (values.lateness !== undefined) {
    const ms = parseDuration(values.lateness)
    if (ms === undefined) throw auditUsage(`--lateness must be a duration like 10m (got ${values.lateness})`)
    options.latenessMs = ms
  }
  return { help: false, options, format }
}
