/**
 * `verdict audit tail`: prints the audit events the sidecars published to JetStream, one per
 * line, for the security operations team. It reads through ordered consumers (ephemeral, no
 * acks, recreated by the client after a gap), so it never disturbs the stream or its durable
 * consumers. Service and allow/deny become the consumer's subject filter; decision code and
 * subject id are checked here, on each event.
 *
 * @module
 */

import { parseArgs } from 'node:util'
import { DeliverPolicy, jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream'
import type { JetStreamClient, JsMsg, OrderedConsumerOptions, StreamState } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import type { NatsConnection } from '@nats-io/transport-node'
import { auditServiceToken, DEFAULT_AUDIT_STREAM, DEFAULT_AUDIT_SUBJECT_PREFIX } from '../audit/index.js'
import type { DecisionEvent } from '../audit/index.js'
import { parseDuration } from '../config/index.js'
import { PdpError } from '../util/errors.js'

/** Help text of `verdict audit tail`. */
export const AUDIT_TAIL_HELP = `Usage: verdict audit tail --nats <url> [options]

Prints the sidecars' audit events (audit.v1) from JetStream, one per line.
  --nats <url>                NATS server(s), comma-separated (required)
  --stream <name>             audit stream (default ${DEFAULT_AUDIT_STREAM}, as serve --audit-stream)
  --service <name>            only this service's events (default: every service)
  --deny | --allow            only denies, or only allows
  --code <CODE>               only this decision code, e.g. POLICY_DENIED
  --subject <id>              only this subject id (or type:id, e.g. user:8027)
  --since <duration|time>     start at a time: 10m, 2h, or RFC 3339 (2026-11-30T20:00:00Z)
  --last <n>                  start with the last n matching events
  -f, --follow                keep waiting for new events (stop with Ctrl-C)
  --format <json|text>        json: each event as stored; text: one short line
                              (default json when stdout is not a terminal, else text)

Without --since or --last only new events are printed. Without --follow the command prints what
matches up to the stream's current end and exits 0.
`

/** Help text of `verdict audit`. */
export const AUDIT_HELP = `Usage: verdict audit <subcommand> [options]

Subcommands:
  tail     print audit events from the JetStream audit stream

Run verdict audit tail --help for its options.
`

/** Output formats of {@link tailAudit}. */
export const AUDIT_TAIL_FORMATS = { json: 'json', text: 'text' } as const
/** `json` or `text`. */
export type AuditTailFormat = (typeof AUDIT_TAIL_FORMATS)[keyof typeof AUDIT_TAIL_FORMATS]

/** Options of {@link tailAudit}. */
export interface AuditTailOptions {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222`. */
  servers: string | string[]
  /** Audit stream; default `VERDICT_AUDIT`. */
  stream?: string
  /** Only this service's events (`trades-api`); named as the sidecar's `--service`. */
  service?: string
  /** Only allows or only denies. */
  decision?: 'allow' | 'deny'
  /** Only events with this decision code (`POLICY_DENIED`). */
  code?: string
  /** Only events whose subject id is this (`8027`), or whose `type:id` is (`user:8027`). */
  subject?: string
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

/** A message read from the stream: an event, or a note saying why it was skipped. */
type Entry = { seq: number; event: DecisionEvent; raw: string } | { seq: number; note: string }

/** Where a read starts. */
type Start = { seq: number } | { time: Date } | 'new'

/** First window of the backwards search for `--last`, in stream sequences; it doubles. */
const LAST_WINDOW = 1024
/** Messages per pull. */
const PULL_BATCH = 256

/**
 * The consumer filter for a service and decision: `<prefix>.<service|*>.<allow|deny|*>`, or
 * undefined for the whole stream.
 *
 * @example
 * auditFilter('verdict.audit', 'trades-api', 'deny') // 'verdict.audit.trades-api.deny'
 */
export function auditFilter(prefix: string, service?: string, decision?: 'allow' | 'deny'): string | undefined {
  if (service === undefined && decision === undefined) return undefined
  const token = service === undefined ? '*' : auditServiceToken(service)
  return `${prefix}.${token}.${decision ?? '*'}`
}

/**
 * The subject prefix of an audit stream: the sink creates it capturing `<prefix>.>`. A stream
 * set up some other way is read with the sidecar's default prefix.
 */
function subjectPrefix(subjects: readonly string[] | undefined): string {
  const only = subjects?.length === 1 ? subjects[0]! : ''
  return only.endsWith('.>') && only.length > 2 ? only.slice(0, -2) : DEFAULT_AUDIT_SUBJECT_PREFIX
}

/**
 * One line for a person: time, allow/deny, code, service, subject, action, resource, reasons.
 *
 * @example
 * formatAuditText(event)
 * // '2026-11-30T20:10:48.142Z deny POLICY_DENIED trades-api user:8027 read trade/t1 not_owner: ...'
 */
export function formatAuditText(event: DecisionEvent): string {
  const word = (v: unknown): string => (typeof v === 'string' && v !== '' ? v : '-')
  const s = event.subject ?? {}
  const who = s.id !== undefined && s.id !== '' ? (s.type ? `${s.type}:${s.id}` : s.id) : word(s.sub)
  const r = event.resource ?? {}
  const what = r.id ? `${word(r.type)}/${r.id}` : word(r.type)
  const parts = [
    word(event.timestamp),
    event.allow === true ? 'allow' : 'deny',
    word(event.code),
    word(event.service),
    who,
    word(event.action),
    what,
  ]
  const reasons = Array.isArray(event.reasons) ? event.reasons.join('; ') : ''
  // Reasons come from policies: keep one event on one line whatever they hold.
  return `${parts.join(' ')}${reasons === '' ? '' : ` ${reasons}`}`.replace(/[\r\n]+/g, ' ')
}

/** True when the event passes the checks the subject filter cannot make. */
function matches(event: DecisionEvent, options: AuditTailOptions): boolean {
  if (options.code !== undefined && event.code !== options.code) return false
  if (options.subject !== undefined) {
    const s = event.subject ?? {}
    if (s.id !== options.subject && `${s.type}:${s.id}` !== options.subject) return false
  }
  return true
}

/** Read through a function: TypeScript would keep a property check narrowed across awaits. */
const aborted = (signal: AbortSignal | undefined): boolean => signal?.aborted === true

/** Parses one message; a message that is not a JSON object is a note, never an exception. */
function decode(msg: JsMsg): Entry {
  const raw = msg.string()
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    return { seq: msg.seq, note: `skipped message ${msg.seq} on ${msg.subject}: not valid JSON` }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { seq: msg.seq, note: `skipped message ${msg.seq} on ${msg.subject}: not a JSON object` }
  }
  return { seq: msg.seq, event: value as DecisionEvent, raw }
}

/**
 * Reads the stream from `start` through an ordered consumer, calling `each` in order. With `until`
 * it stops after the last message at or before that sequence; without, it runs until `signal`.
 */
async function readStream(
  js: JetStreamClient,
  stream: string,
  filter: string | undefined,
  start: Start,
  until: number | undefined,
  signal: AbortSignal | undefined,
  each: (msg: JsMsg) => void | Promise<void>,
): Promise<void> {
  if (aborted(signal)) return
  const opts: Partial<OrderedConsumerOptions> = {}
  if (filter !== undefined) opts.filter_subjects = filter
  if (start === 'new') opts.deliver_policy = DeliverPolicy.New
  else if ('time' in start) opts.opt_start_time = start.time.toISOString()
  else {
    opts.deliver_policy = DeliverPolicy.StartSequence
    opts.opt_start_seq = start.seq
  }
  const consumer = await js.consumers.get(stream, opts)
  try {
    // The info from creating the consumer: nothing pending means nothing would ever arrive.
    if (until !== undefined && (await consumer.info(true)).num_pending === 0) return
    const messages = await consumer.consume({ max_messages: PULL_BATCH })
    const stop = (): void => void messages.stop()
    signal?.addEventListener('abort', stop, { once: true })
    try {
      if (aborted(signal)) return
      for await (const msg of messages) {
        if (until !== undefined && msg.seq > until) break
        await each(msg)
        if (until !== undefined && (msg.seq >= until || msg.info.pending === 0)) break
      }
    } finally {
      signal?.removeEventListener('abort', stop)
      messages.stop()
    }
  } finally {
    await consumer.delete().catch(() => undefined)
  }
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
): Promise<Entry[]> {
  let found: Entry[] = []
  let events = 0
  let hi = state.last_seq
  let window = Math.max(LAST_WINDOW, n)
  while (events < n && hi >= state.first_seq && state.messages > 0) {
    const lo = Math.max(state.first_seq, hi - window + 1)
    const chunk: Entry[] = []
    await readStream(js, stream, filter, { seq: lo }, hi, options.signal, (msg) => {
      const entry = decode(msg)
      if ('note' in entry || matches(entry.event, options)) chunk.push(entry)
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

/** Connects, naming the URL when the server cannot be reached. */
async function connectTo(servers: string | string[], follow: boolean): Promise<NatsConnection> {
  try {
    return await connect({
      servers,
      name: 'verdict-audit-tail',
      timeout: 5000,
      // A follow outlives server restarts; a one-shot read fails instead of hanging.
      maxReconnectAttempts: follow ? -1 : 0,
    })
  } catch (err) {
    const url = Array.isArray(servers) ? servers.join(', ') : servers
    const why = err instanceof Error ? err.message : String(err)
    throw new PdpError('ERR_AUDIT_NATS_UNREACHABLE', `cannot connect to NATS at ${url}: ${why}`, { cause: err })
  }
}

/** Reads the stream's state and subject prefix, turning a missing stream into a clear error. */
async function streamInfo(nc: NatsConnection, stream: string): Promise<{ state: StreamState; prefix: string }> {
  try {
    const jsm = await jetstreamManager(nc)
    const info = await jsm.streams.info(stream)
    return { state: info.state, prefix: subjectPrefix(info.config.subjects) }
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) {
      throw new PdpError(
        'ERR_AUDIT_STREAM_NOT_FOUND',
        `stream ${stream} not found on ${nc.getServer()}; a sidecar creates it on its first audit publish (verdict serve --nats ... --audit-stream ${stream})`,
        { cause: err },
      )
    }
    const why = err instanceof Error ? err.message : String(err)
    throw new PdpError('ERR_AUDIT_STREAM', `cannot read stream ${stream}: ${why}`, { cause: err })
  }
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
  const emit = async (entry: Entry): Promise<void> => {
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

  const nc = await connectTo(options.servers, follow)
  try {
    const { state, prefix } = await streamInfo(nc, stream)
    const filter = auditFilter(prefix, options.service, options.decision)
    const js = jetstream(nc)
    let start: Start = 'new'
    if (options.last !== undefined) {
      for (const entry of await lastEntries(js, stream, filter, state, options.last, options)) await emit(entry)
      start = { seq: state.last_seq + 1 }
    } else if (options.since !== undefined) {
      start = { time: options.since }
    }
    // A one-shot read ends at the stream's end as it was on arrival; new events need --follow.
    if (!follow && (start === 'new' || options.last !== undefined)) return result
    await readStream(js, stream, filter, start, follow ? undefined : state.last_seq, options.signal, async (msg) => {
      const entry = decode(msg)
      if ('note' in entry || matches(entry.event, options)) await emit(entry)
    })
    return result
  } finally {
    await nc.close().catch(() => undefined)
  }
}

/**
 * `--since` as a time: a duration back from `now` (`10m`, `1h30m`) or an RFC 3339 timestamp.
 * Returns undefined for anything else.
 */
export function parseSince(text: string, now = new Date()): Date | undefined {
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(text.trim())) {
    const time = new Date(text.trim())
    return Number.isNaN(time.getTime()) ? undefined : time
  }
  const ms = parseDuration(text)
  return ms === undefined ? undefined : new Date(now.getTime() - ms)
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
      nats: { type: 'string' },
      stream: { type: 'string' },
      service: { type: 'string' },
      deny: { type: 'boolean' },
      allow: { type: 'boolean' },
      code: { type: 'string' },
      subject: { type: 'string' },
      since: { type: 'string' },
      last: { type: 'string' },
      follow: { type: 'boolean', short: 'f' },
      format: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help === true) return { help: true }
  const usage = (message: string): PdpError => new PdpError('ERR_AUDIT_USAGE', message)
  if (positionals.length > 0) throw usage(`audit tail takes no arguments (got ${positionals.join(' ')})`)
  if (values.nats === undefined || values.nats === '') throw usage('audit tail needs --nats <url>')
  if (values.deny === true && values.allow === true) throw usage('use --deny or --allow, not both')
  if (values.since !== undefined && values.last !== undefined) throw usage('use --since or --last, not both')
  const format = values.format ?? (isTTY ? 'text' : 'json')
  if (format !== 'json' && format !== 'text') throw usage(`--format must be json or text (got ${format})`)
  const options: Omit<AuditTailOptions, 'signal'> = {
    // Comma-separated like serve's --nats.
    servers: values.nats.split(',').map((s) => s.trim()),
    format,
    follow: values.follow === true,
  }
  if (values.stream !== undefined) options.stream = values.stream
  if (values.service !== undefined) options.service = values.service
  if (values.deny === true) options.decision = 'deny'
  if (values.allow === true) options.decision = 'allow'
  if (values.code !== undefined) options.code = values.code
  if (values.subject !== undefined) options.subject = values.subject
  if (values.since !== undefined) {
    const since = parseSince(values.since)
    if (since === undefined) throw usage(`--since must be a duration (10m, 2h) or an RFC 3339 time (got ${values.since})`)
    options.since = since
  }
  if (values.last !== undefined) {
    if (!/^\d+$/.test(values.last) || Number(values.last) < 1) {
      throw usage(`--last must be a whole number of events, at least 1 (got ${values.last})`)
    }
    options.last = Number(values.last)
  }
  return { help: false, options }
}
