/**
 * What the `verdict audit` commands (`tail`, `aggregate`) share: the connection to NATS, the
 * audit stream's state and subject prefix, reading it through ordered consumers (ephemeral, no
 * acks, recreated by the client after a gap, so they never disturb the stream or its durable
 * consumers), decoding messages, the event filters and the command-line flags that set them.
 * Service and allow/deny become the consumer's subject filter; decision code and subject id are
 * checked here, on each event.
 *
 * @module
 */

import { DeliverPolicy, jetstreamManager, JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream'
import type { JetStreamClient, JsMsg, OrderedConsumerOptions, StreamState } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import type { NatsConnection } from '@nats-io/transport-node'
import { auditServiceToken, DEFAULT_AUDIT_STREAM, DEFAULT_AUDIT_SUBJECT_PREFIX } from '../audit/index.js'
import type { DecisionEvent } from '../audit/index.js'
import { parseDuration } from '../config/index.js'
import { PdpError } from '../util/errors.js'

/** Help text of `verdict audit`. */
export const AUDIT_HELP = `Usage: verdict audit <subcommand> [options]

Subcommands:
  tail       print audit events from the JetStream audit stream
  aggregate  count a time window's audit events by service, code, subject, ...: deny rates,
             latency percentiles, per-interval series and deny spikes

Run verdict audit tail --help or verdict audit aggregate --help for their options.
`

/** The help lines of the flags every audit command takes (connection and filters). */
export const AUDIT_FILTER_HELP = `  --nats <url>                NATS server(s), comma-separated (required)
  --stream <name>             audit stream (default ${DEFAULT_AUDIT_STREAM}, as serve --audit-stream)
  --service <name>            only this service's events (default: every service)
  --deny | --allow            only denies, or only allows
  --code <CODE>               only this decision code, e.g. POLICY_DENIED
  --subject <id>              only this subject id (or type:id, e.g. user:8027)
`

/** Which events an audit command reads, and from where. */
export interface AuditFilterOptions {
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
}

/** A message read from the stream: an event, or a note saying why it was skipped. */
export type AuditEntry = { seq: number; event: DecisionEvent; raw: string } | { seq: number; note: string }

/** Where a read starts. */
export type AuditReadStart = { seq: number } | { time: Date } | 'new'

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

/** A word for a person: the string, or `-` when it is empty or not a string. */
export const word = (v: unknown): string => (typeof v === 'string' && v !== '' ? v : '-')

/**
 * Who decided on: `type:id` (or the id) of the request's subject, else the token's `sub`, else `-`.
 *
 * @example
 * auditSubjectLabel(event) // 'user:8027'
 */
export function auditSubjectLabel(event: DecisionEvent): string {
  const s = event.subject ?? {}
  return s.id !== undefined && s.id !== '' ? (s.type ? `${s.type}:${s.id}` : s.id) : word(s.sub)
}

/** True when the event passes the checks the subject filter cannot make (code, subject). */
export function matchesAuditFilters(event: DecisionEvent, options: Pick<AuditFilterOptions, 'code' | 'subject'>): boolean {
  if (options.code !== undefined && event.code !== options.code) return false
  if (options.subject !== undefined) {
    const s = event.subject ?? {}
    if (s.id !== options.subject && `${s.type}:${s.id}` !== options.subject) return false
  }
  return true
}

/** Read through a function: TypeScript would keep a property check narrowed across awaits. */
export const aborted = (signal: AbortSignal | undefined): boolean => signal?.aborted === true

/** Parses one message; a message that is not a JSON object is a note, never an exception. */
export function decodeAuditMessage(msg: JsMsg): AuditEntry {
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
 * Reads the stream from `start` through an ordered consumer, calling `each` in order; `each`
 * returning `false` ends the read. With `until` it stops after the last message at or before
 * that sequence; without, it runs until `signal`.
 */
export async function readAuditStream(
  js: JetStreamClient,
  stream: string,
  filter: string | undefined,
  start: AuditReadStart,
  until: number | undefined,
  signal: AbortSignal | undefined,
  each: (msg: JsMsg) => void | boolean | Promise<void>,
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
        if ((await each(msg)) === false) break
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
 * Connects as `name`, naming the URL when the server cannot be reached. A follow outlives server
 * restarts; a one-shot read fails instead of hanging.
 */
export async function connectAuditNats(servers: string | string[], name: string, follow: boolean): Promise<NatsConnection> {
  try {
    return await connect({ servers, name, timeout: 5000, maxReconnectAttempts: follow ? -1 : 0 })
  } catch (err) {
    const url = Array.isArray(servers) ? servers.join(', ') : servers
    const why = err instanceof Error ? err.message : String(err)
    throw new PdpError('ERR_AUDIT_NATS_UNREACHABLE', `cannot connect to NATS at ${url}: ${why}`, { cause: err })
  }
}

/** Reads the stream's state and subject prefix, turning a missing stream into a clear error. */
export async function auditStreamInfo(nc: NatsConnection, stream: string): Promise<{ state: StreamState; prefix: string }> {
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
 * A time on the command line: a duration back from `now` (`10m`, `1h30m`) or an RFC 3339
 * timestamp. Returns undefined for anything else.
 *
 * @example
 * parseSince('10m') // ten minutes ago
 * parseSince('2026-11-30T20:00:00Z')
 */
export function parseSince(text: string, now = new Date()): Date | undefined {
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(text.trim())) {
    const time = new Date(text.trim())
    return Number.isNaN(time.getTime()) ? undefined : time
  }
  const ms = parseDuration(text)
  return ms === undefined ? undefined : new Date(now.getTime() - ms)
}

/** The `node:util` parseArgs specs of the flags every audit command takes. */
export const AUDIT_FILTER_FLAGS = {
  nats: { type: 'string' },
  stream: { type: 'string' },
  service: { type: 'string' },
  deny: { type: 'boolean' },
  allow: { type: 'boolean' },
  code: { type: 'string' },
  subject: { type: 'string' },
  format: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

/** A usage error: a wrong flag or value, reported without a stack trace. */
export const auditUsage = (message: string): PdpError => new PdpError('ERR_AUDIT_USAGE', message)

/** Values parseArgs gives for {@link AUDIT_FILTER_FLAGS}. */
interface FilterFlagValues {
  nats?: string | undefined
  stream?: string | undefined
  service?: string | undefined
  deny?: boolean | undefined
  allow?: boolean | undefined
  code?: string | undefined
  subject?: string | undefined
  format?: string | undefined
}

/**
 * The filter options and output format from parsed flags. `command` names the command in
 * messages (`audit tail`). The format defaults to text on a terminal and json elsewhere.
 */
export function auditFilterOptions(
  command: string,
  values: FilterFlagValues,
  positionals: readonly string[],
  isTTY: boolean,
): { filters: AuditFilterOptions; format: 'json' | 'text' } {
  if (positionals.length > 0) throw auditUsage(`${command} takes no arguments (got ${positionals.join(' ')})`)
  if (values.nats === undefined || values.nats === '') throw auditUsage(`${command} needs --nats <url>`)
  if (values.deny === true && values.allow === true) throw auditUsage('use --deny or --allow, not both')
  const format = values.format ?? (isTTY ? 'text' : 'json')
  if (format !== 'json' && format !== 'text') throw auditUsage(`--format must be json or text (got ${format})`)
  // Comma-separated like serve's --nats.
  const filters: AuditFilterOptions = { servers: values.nats.split(',').map((s) => s.trim()) }
  if (values.stream !== undefined) filters.stream = values.stream
  if (values.service !== undefined) filters.service = values.service
  if (values.deny === true) filters.decision = 'deny'
  if (values.allow === true) filters.decision = 'allow'
  if (values.code !== undefined) filters.code = values.code
  if (values.subject !== undefined) filters.subject = values.subject
  return { filters, format }
}
