/**
 * `verdict audit tail`: prints the audit events the sidecars published to JetStream, one per
 * line, for the security operations team. It reads through the ordered consumers of
 * `audit-stream.ts`, so it never disturbs the stream or its durable consumers.
 *
 * @module
 */

import { parseArgs } from 'node:util'
import { jetstream } from '@nats-io/jetstream'
import type { JetStreamClient, StreamState } from '@nats-io/jetstream'
import { DEFAULT_AUDIT_STREAM } from '../audit/index.js'
import type { DecisionEvent } from '../audit/index.js'
import {
  aborted,
  AUDIT_FILTER_FLAGS,
  AUDIT_FILTER_HELP,
  auditFilter,
  auditFilterOptions,
  auditStreamInfo,
  auditSubjectLabel,
  auditUsage,
  connectAuditNats,
  decodeAuditMessage,
  matchesAuditFilters,
  parseSince,
  readAuditStream,
  word,
} from './audit-stream.js'
import type { AuditEntry, AuditFilterOptions, AuditReadStart } from './audit-stream.js'

/** Help text of `verdict audit tail`. */
export const AUDIT_TAIL_HELP = `Usage: verdict audit tail --nats <url> [options]

Prints the sidecars' audit events (audit.v1) from JetStream, one per line.
${AUDIT_FILTER_HELP}  --since <duration|time>     start at a time: 10m, 2h, or RFC 3339 (2026-11-30T20:00:00Z)
  --last <n>                  start with the last n matching events
  -f, --follow                keep waiting for new events (stop with Ctrl-C)
  --format <json|text>        json: each event as stored; text: one short line
                              (default json when stdout is not a terminal, else text)

Without --since or --last only new events are printed. Without --follow the command prints what
matches up to the stream's current end and exits 0.
`

/** Output formats of {@link tailAudit}. */
export const AUDIT_TAIL_FORMATS = { json: 'json', text: 'text' } as const
/** `json` or `text`. */
export type AuditTailFormat = (typeof AUDIT_TAIL_FORMATS)[keyof typeof AUDIT_TAIL_FORMATS]

/** Options of {@link tailAudit}. */
export interface AuditTailOptions extends AuditFilterOptions {
  /** Start at this time. Exclusive with `last`. */
  since?: Date
  /** Start with the last n matching events. Exclusive with `since`. */
  last?: number
  /** Keep waiting for new events until `signal` aborts. Default false. */
  follow?: boolean
  /** Default `json`. */
  format?: AuditTailFormat
  /** Ends a follow (or any read) cleanly: consumer and connection are closed. */
  signal?: AbortSignal
}

/** Where {@link tailAudit} writes. `line` may return a promise to apply backpressure. */
export interface AuditTailOutput {
  /** One event, already formatted, without the newline. */
  line: (text: string) => void | Promise<void>
  /** A note for stderr (a skipped message), without the newline. */
  warn: (text: string) => void
}

/** What {@link tailAudit} did. */
export interface AuditTailResult {
  /** Events printed. */
  printed: number
  /** Messages skipped because they were not audit events. */
  skipped: number
}

/** First window of the backwards search for `--last`, in stream sequences; it doubles. */
const LAST_WINDOW = 1024

/**
 * One line for a person: time, allow/deny, code, service, subject, action, resource, reasons.
 *
 * @example
 * formatAuditText(event)
 * // '2026-11-30T20:10:48.142Z deny POLICY_DENIED trades-api user:8027 read trade/t1 not_owner: ...'
 */
export function formatAuditText(event: DecisionEvent): string {
  const r = event.resource ?? {}
  const what = r.id ? `${word(r.type)}/${r.id}` : word(r.type)
  const parts = [
    word(event.timestamp),
    event.allow === true ? 'allow' : 'deny',
    word(event.code),
    word(event.service),
    auditSubjectLabel(event),
    word(event.action),
    what,
  ]
  const reasons = Array.isArray(event.reasons) ? event.reasons.join('; ') : ''
  // Reasons come from policies: keep one event on one line whatever they hold.
  return `${parts.join(' ')}${reasons === '' ? '' : ` ${reasons}`}`.replace(/[\r\n]+/g, ' ')
}

/**
 * The entries from which the last `n` matching events start: searches back from `state.last_seq`
 * in doubling windows until it has `n` or reaches the stream's first message. Notes (skipped
 * messages) are kept only from the first event returned on.
 */
async function lastEntries(
  js: JetStreamClient,
  stream: string,
  filter: string | undefined,
  state: StreamState,
  n: number,
  options: AuditTailOptions,
): Promise<AuditEntry[]> {
  let found: AuditEntry[] = []
  let events = 0
  let hi = state.last_seq
  let window = Math.max(LAST_WINDOW, n)
  while (events < n && hi >= state.first_seq && state.messages > 0) {
    const lo = Math.max(state.first_seq, hi - window + 1)
    const chunk: AuditEntry[] = []
    await readAuditStream(js, stream, filter, { seq: lo }, hi, options.signal, (msg) => {
      const entry = decodeAuditMessage(msg)
      if ('note' in entry || matchesAuditFilters(entry.event, options)) chunk.push(entry)
    })
    found = chunk.concat(found)
    events = found.filter((e) => 'event' in e).length
    hi = lo - 1
    window *= 2
    if (aborted(options.signal)) break
  }
  // Cut in front of the n-th matching event from the end.
  let seen = 0
  for (let i = found.length - 1; i >= 0; i--) {
    if ('event' in found[i]! && ++seen === n) return found.slice(i)
  }
  // Fewer than n in the whole stream: all of it.
  return found
}

/**
 * Prints audit events from the stream to `out`: from `since`, the last `last` matching events, or
 * only new ones; then, with `follow`, every new matching event until `signal` aborts. Messages
 * that are not JSON objects are reported through `out.warn` with their stream sequence and
 * skipped. Throws a `PdpError` (`ERR_AUDIT_NATS_UNREACHABLE`, `ERR_AUDIT_STREAM_NOT_FOUND`,
 * `ERR_AUDIT_STREAM`) when it cannot start.
 *
 * @example
 * const controller = new AbortController()
 * await tailAudit(
 *   { servers: 'nats://127.0.0.1:4222', service: 'trades-api', decision: 'deny', last: 20, follow: true, signal: controller.signal },
 *   { line: (text) => console.log(text), warn: (text) => console.error(text) },
 * )
 */
export async function tailAudit(options: AuditTailOptions, out: AuditTailOutput): Promise<AuditTailResult> {
  if (options.since !== undefined && options.last !== undefined) throw new TypeError('since and last exclude each other')
  const stream = options.stream ?? DEFAULT_AUDIT_STREAM
  const follow = options.follow === true
  const result: AuditTailResult = { printed: 0, skipped: 0 }
  const emit = async (entry: AuditEntry): Promise<void> => {
    if ('note' in entry) {
      result.skipped++
      out.warn(entry.note)
      return
    }
    result.printed++
    // A stored event is one line already; re-encode only one that is not.
    const json = entry.raw.includes('\n') ? JSON.stringify(entry.event) : entry.raw
    await out.line(options.format === 'text' ? formatAuditText(entry.event) : json)
  }

  const nc = await connectAuditNats(options.servers, 'verdict-audit-tail', follow)
  try {
    const { state, prefix } = await auditStreamInfo(nc, stream)
    const filter = auditFilter(prefix, options.service, options.decision)
    const js = jetstream(nc)
    let start: AuditReadStart = 'new'
    if (options.last !== undefined) {
      for (const entry of await lastEntries(js, stream, filter, state, options.last, options)) await emit(entry)
      start = { seq: state.last_seq + 1 }
    } else if (options.since !== undefined) {
      start = { time: options.since }
    }
    // A one-shot read ends at the stream's end as it was on arrival; new events need --follow.
    if (!follow && (start === 'new' || options.last !== undefined)) return result
    await readAuditStream(js, stream, filter, start, follow ? undefined : state.last_seq, options.signal, async (msg) => {
      const entry = decodeAuditMessage(msg)
      if ('note' in entry || matchesAuditFilters(entry.event, options)) await emit(entry)
    })
    return result
  } finally {
    await nc.close().catch(() => undefined)
  }
}

/** Options parsed from the command line, or an error message for the user. */
export function parseAuditTailArgs(
  args: string[],
  isTTY: boolean,
): { help: true } | { help: false; options: Omit<AuditTailOptions, 'signal'> } {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      ...AUDIT_FILTER_FLAGS,
      since: { type: 'string' },
      last: { type: 'string' },
      follow: { type: 'boolean', short: 'f' },
    },
  })
  if (values.help === true) return { help: true }
  const { filters, format } = auditFilterOptions('audit tail', values, positionals, isTTY)
  if (values.since !== undefined && values.last !== undefined) throw auditUsage('use --since or --last, not both')
  const options: Omit<AuditTailOptions, 'signal'> = { ...filters, format, follow: values.follow === true }
  if (values.since !== undefined) {
    const since = parseSince(values.since)
    if (since === undefined) throw auditUsage(`--since must be a duration (10m, 2h) or an RFC 3339 time (got ${values.since})`)
    options.since = since
  }
  if (values.last !== undefined) {
    if (!/^\d+$/.test(values.last) || Number(values.last) < 1) {
      throw auditUsage(`--last must be a whole number of events, at least 1 (got ${values.last})`)
    }
    options.last = Number(values.last)
  }
  return { help: false, options }
}
