/**
 * Publishes audit events to NATS JetStream with the decision id as msgID, so the stream drops
 * duplicates from retries and spool replays. One background pump owns all I/O: it publishes from
 * a bounded memory queue while NATS is healthy, and otherwise moves events to the disk spool and
 * replays them, oldest first, once the connection is back. `write` only enqueues.
 *
 * @module
 */
import { jetstreamManager, DiscardPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream'
import type { JetStreamManager, StreamConfig } from '@nats-io/jetstream'
import { connect, createInbox, MsgHdrsImpl, nanos } from '@nats-io/transport-node'
import type { Msg, NatsConnection } from '@nats-io/transport-node'
import { utf8Exceeds } from '../util/utf8.js'
import { auditSubject, type DecisionEvent } from './event.js'
import type { AuditSink, AuditStats, EncodedEventMeta } from './sink.js'
import { DiskSpool } from './spool.js'

/** Options for {@link JetStreamAuditSink}. */
export interface JetStreamAuditOptions {
  /** NATS server URL(s). */
  servers: string | string[]
  /** Stream name; default `VERDICT_AUDIT`. */
  stream?: string
  /** Subject prefix; default `verdict.audit` (the stream captures `<prefix>.>`). */
  subjectPrefix?: string
  /** Stream duplicate window; must exceed the longest time an event can sit in the spool. Default 2 h. */
  duplicateWindowMs?: number
  /** Stream max age; default 30 days. */
  maxAgeMs?: number
  /** Stream max bytes; default -1 (unlimited). */
  maxBytes?: number
  /** Directory of the disk spool. */
  spoolDir: string
  /** Spool size limit; default 256 MiB. */
  spoolMaxBytes?: number
  /** Spool segment size; default 4 MiB. */
  spoolSegmentBytes?: number
  /** Memory queue bound; beyond it events go to the spool. Default 10000. */
  maxQueue?: number
  /**
   * Publishes in flight at once (one batch). Bigger batches spread a batch's fixed costs: in
   * full windows 256 costs 0.6× to 0.85× the CPU per event of 64 (`npm run bench:audit`).
   * Default 256.
   */
  publishWindow?: number
  /**
   * How long the pump waits for more events before publishing a batch smaller than
   * `publishWindow`, so a batch goes out in one socket write and its acks come back in one read.
   * A batch has fixed costs (socket write and reads, wake-ups, timers, and the broker's own) that
   * dwarf an event's at sidecar rates, most of all on virtual machines where every wake-up is
   * expensive: at 1500 events/s, 100 ms about halves the sink's CPU per event of 20 ms (`npm run
   * bench:audit`), and at c=1 in `npm run bench` it took the sidecar's CPU per Check from 1.38×
   * to 1.11× the echo floor (alternating phases, same run). The linger never holds more than
   * `publishWindow` events (a full window goes out at once), so it does not widen what a crash
   * can lose beyond what a busy sidecar holds anyway.
   * Decisions never wait for it; `flush` and `close` cut it short. Default 100; 0 disables.
   */
  lingerMs?: number
  /**
   * Which publishes ask JetStream for an ack. `each`: every event, and each is retried on its own
   * outcome. `batch`: only the last event of a batch; the server stores one connection's messages
   * to a stream in order, so that ack means the ones before it were handled too, and a batch
   * whose last ack fails is retried whole (Nats-Msg-Id dedupe drops the copies already stored).
   * That inference holds for a stream with one replica that discards old messages (no leader
   * change can drop the middle of a batch, no limit rejects one event and takes the next).
   * `auto` (default): `batch` on such a stream, `each` otherwise (replicated, `discard: new`, or
   * a `max_msg_size` below `maxEventBytes`). Acks are most of audit's socket reads: `batch` cut
   * the sidecar's CPU per Check by about a fifth in `npm run bench`.
   */
  acks?: 'each' | 'batch' | 'auto'
  /** Ack timeout per publish. Default 5000. */
  publishTimeoutMs?: number
  /** Wait after a failed publish before retrying from the spool. Default 1000. */
  retryDelayMs?: number
  /** Events larger than this (JSON bytes) are dropped. Default 512 KiB. */
  maxEventBytes?: number
  /** Client name shown by the server. */
  name?: string
  /** Called with internal errors (connection, stream setup), for logging. */
  onError?: (err: unknown) => void
}

export const DEFAULT_AUDIT_STREAM = 'VERDICT_AUDIT'
export const DEFAULT_AUDIT_SUBJECT_PREFIX = 'verdict.audit'

/**
 * An event ready to publish: its msgID, its subject and its JSON as UTF-8 bytes. The bytes are
 * made when the event is queued, so the queue holds no strings: a queued event outlives a few
 * young-generation collections (linger, then the batch's ack), and a JSON string held that long
 * was copied by each and then promoted (about 2 MB per scavenge at c=64 in `npm run bench`,
 * which made each scavenge 5 to 10 times longer). The bytes live outside the JS heap.
 */
export interface Encoded {
  id: string
  subject: string
  bytes: Uint8Array
}

/** One publish's outcome: stored (`fresh`), dropped by the stream as a repeat, or failed. */
export type AckResult = 'fresh' | 'duplicate' | Error

/**
 * A plain PubAck as nats-server writes it (`{"stream":"S", "seq":7}`, or with
 * `,"duplicate": true`): no error, a non-empty stream name. Anything else is parsed as JSON.
 */
const PLAIN_ACK = /^\{"stream":"[^"\\]+",\s*"seq":\s*\d+\s*(,\s*"duplicate":\s*true\s*)?\}$/
const MAX_PLAIN_ACK = 160

function parseAck(msg: Msg): AckResult {
  const data = msg.data
  // No responders (no stream captures the subject) comes back as an empty 503 status message.
  if (data.length === 0) return new Error(`no ack: status ${msg.headers?.code ?? 'empty'}`)
  if (data.length <= MAX_PLAIN_ACK) {
    // One ack per event: reading the short ASCII reply by hand skips a TextDecoder call and
    // JSON.parse. A byte over 0x7f can only sit in the stream name, which needs only be non-empty.
    const plain = PLAIN_ACK.exec(String.fromCharCode.apply(null, data as unknown as number[]))
    if (plain !== null) return plain[1] === undefined ? 'fresh' : 'duplicate'
  }
  try {
    const ack = msg.json<{ stream?: string; duplicate?: boolean; error?: { description?: string } }>()
    if (ack.error !== undefined) return new Error(`publish rejected: ${ack.error.description ?? 'unknown'}`)
    if (typeof ack.stream !== 'string' || ack.stream === '') return new Error('invalid ack response')
    return ack.duplicate === true ? 'duplicate' : 'fresh'
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err))
  }
}

const MSG_ID = 'Nats-Msg-Id'

/**
 * The one header an audit publish carries, with its wire block encoded by us. The client's own
 * headers cost a Map, a canonical-key lookup, a validation regex, a string build and a
 * TextEncoder call (a native call with its own allocation) per publish; here the block is one
 * write into the batch's bytes. It is the client's exported header class, so the client handles
 * it like any other; `use` re-points the one instance at the next event, which is safe because
 * `publish` encodes the headers before it returns (it needs their length for the HPUB line).
 */
class MsgIdHeader extends MsgHdrsImpl {
  #block: Uint8Array = new Uint8Array(0)

  use(id: string, block: Uint8Array): this {
    this.headers.set(MSG_ID, [id])
    this.#block = block
    return this
  }

  /** The same bytes as MsgHdrsImpl's `encode()` for a lone `Nats-Msg-Id`. */
  override encode(): Uint8Array {
    return this.#block
  }
}

/**
 * `NATS/1.0\r\nNats-Msg-Id: <id>\r\n\r\n`: what MsgHdrsImpl writes for one header (a test holds
 * the two equal). Exported for tests only (not in index.ts).
 */
export const msgIdBlock = (id: string): string => `NATS/1.0\r\n${MSG_ID}: ${id}\r\n\r\n`

/** A header value the client refuses (it throws on CR/LF): such an event cannot be published. */
const BAD_MSG_ID = /[\r\n]/

const ARENA_BYTES = 64 * 1024
const EMPTY_BYTES = new Uint8Array(0)

/**
 * UTF-8 bytes for queued events and batches' header blocks, written back to back into shared
 * chunks instead of one allocation each. Written bytes are never overwritten (queued events and
 * the client's pending socket writes hold views), and a chunk is freed by the garbage collector
 * once no view of it is left.
 */
class ByteArena {
  #buf = Buffer.allocUnsafe(0)
  #off = 0

  put(s: string): Buffer {
    // UTF-8 needs at most 3 bytes per UTF-16 unit.
    const worst = s.length * 3
    if (this.#buf.length - this.#off < worst) {
      this.#buf = Buffer.allocUnsafe(Math.max(ARENA_BYTES, worst))
      this.#off = 0
    }
    const start = this.#off
    this.#off += this.#buf.write(s, start)
    return this.#buf.subarray(start, this.#off)
  }
}

/** A batch whose acks are outstanding. */
interface Flight {
  out: Array<AckResult | undefined>
  left: number
  done: () => void
}

/**
 * The slice of the client's protocol handler that {@link AckCollector} writes frames through. The
 * client's own `publish` is `sendCommand` of one `HPUB` frame per message; these are plain fields
 * and methods of its `ProtocolHandler` (`@nats-io/nats-core/internal`), checked before use.
 */
interface ProtocolWriter {
  sendCommand(cmd: Uint8Array): void
  noMorePublishing: boolean
  outMsgs: number
  outBytes: number
}

function protocolWriter(nc: NatsConnection): ProtocolWriter | undefined {
  const p = (nc as unknown as { protocol?: Partial<ProtocolWriter> }).protocol
  return p !== undefined && typeof p.sendCommand === 'function' && typeof p.outMsgs === 'number'
    ? (p as ProtocolWriter)
    : undefined
}

/** Options for {@link AckCollector}. */
export interface AckCollectorOptions {
  /**
   * Write each batch as one buffer of `HPUB` frames (default, when the client allows it) instead
   * of one client `publish` per event. `false` forces the per-event path (tests compare both).
   */
  frames?: boolean
}

/**
 * JetStream publishes with their acks collected on one wildcard inbox subscription. The client's
 * own `js.publish` is a request per event: a timer, a mux entry and an Error object (with its
 * stack) per publish, about 4% of a Check's CPU in the sidecar's profile. Here a batch costs one
 * timer and one map entry, and each ack finds its slot from its reply subject
 * (`<inbox>.<batch>.<index>`). Same wire protocol: a publish with a `Nats-Msg-Id` header and a
 * reply subject, answered by a PubAck.
 *
 * A batch goes to the connection as one buffer of `HPUB` frames, the bytes the client's `publish`
 * writes for each message. Per event that skips the client's subject checks, its header and
 * frame-line encoding (an ArrayBuffer each) and its copy of every payload into 32 KB chunks, each
 * its own socket write: in `npm run bench:audit` a batch of 256 costs about a third of the CPU per
 * event of publishing them one by one. Exported for `bench/audit.ts` only (not in index.ts).
 */
export class AckCollector {
  readonly nc: NatsConnection
  readonly #inbox: string
  readonly #flights = new Map<string, Flight>()
  readonly #header = new MsgIdHeader()
  readonly #arena = new ByteArena()
  readonly #writer: ProtocolWriter | undefined
  #seq = 0

  constructor(nc: NatsConnection, options: AckCollectorOptions = {}) {
    this.nc = nc
    this.#writer = options.frames === false ? undefined : protocolWriter(nc)
    this.#inbox = createInbox()
    const skip = this.#inbox.length + 1
    nc.subscribe(`${this.#inbox}.*.*`, {
      callback: (err, msg) => {
        if (err !== null) return
        const subject = msg.subject
        const dot = subject.indexOf('.', skip)
        const flight = this.#flights.get(subject.slice(skip, dot))
        if (flight === undefined) return
        const i = Number(subject.slice(dot + 1))
        if (!(i >= 0 && i < flight.out.length) || flight.out[i] !== undefined) return
        flight.out[i] = parseAck(msg)
        if (--flight.left === 0) flight.done()
      },
    })
  }

  /**
   * Publishes every event and resolves with each one's outcome, after `timeoutMs` at most. With
   * `tailOnly`, only the last event asks for an ack, and its outcome stands for every event
   * before it that was handed to the connection (see `JetStreamAuditOptions.acks`).
   */
  publish(batch: Encoded[], timeoutMs: number, tailOnly = false): Promise<AckResult[]> {
    return new Promise((resolve) => {
      const token = (++this.#seq).toString(36)
      const prefix = `${this.#inbox}.${token}.`
      let timer: NodeJS.Timeout | undefined
      const flight: Flight = {
        out: new Array<AckResult | undefined>(batch.length).fill(undefined),
        left: batch.length,
        done: () => {
          this.#flights.delete(token)
          if (timer !== undefined) clearTimeout(timer)
          resolve(flight.out as AckResult[])
        },
      }
      this.#flights.set(token, flight)
      const last = batch.length - 1
      // Events before the tail whose publish went out; their outcome is the tail's.
      const riders: number[] = []
      if (this.#writer === undefined) this.#publishEach(batch, flight, prefix, tailOnly, riders)
      else this.#publishFrames(this.#writer, batch, flight, prefix, tailOnly, riders)
      if (riders.length > 0) {
        const finish = flight.done
        flight.done = () => {
          // A stored tail vouches for the riders (a duplicate tail too: it was stored before).
          const tail = flight.out[last]
          const outcome: AckResult = tail === undefined || tail instanceof Error ? (tail ?? new Error('no ack for the batch')) : 'fresh'
          for (const i of riders) flight.out[i] = outcome
          finish()
        }
      }
      if (flight.left === 0) {
        flight.done()
        return
      }
      timer = setTimeout(() => {
        // One error for the whole batch: callers only ask whether each publish failed.
        const timedOut = new Error('ack timed out')
        for (let i = 0; i < flight.out.length; i++) flight.out[i] ??= timedOut
        flight.done()
      }, timeoutMs)
    })
  }

  /** One client `publish` per event (the path when frames are off or unavailable). */
  #publishEach(batch: Encoded[], flight: Flight, prefix: string, tailOnly: boolean, riders: number[]): void {
    const header = this.#header
    const arena = this.#arena
    const last = batch.length - 1
    for (let i = 0; i <= last; i++) {
      const e = batch[i] as Encoded
      try {
        // The client trims header values; so do we, for the same bytes.
        const id = e.id.trim()
        header.use(id, arena.put(msgIdBlock(id)))
        if (tailOnly && i < last) {
          this.nc.publish(e.subject, e.bytes, { headers: header })
          riders.push(i)
          flight.left--
        } else this.nc.publish(e.subject, e.bytes, { reply: `${prefix}${i}`, headers: header })
      } catch (err) {
        flight.out[i] = err instanceof Error ? err : new Error(String(err))
        flight.left--
      }
    }
  }

  /**
   * The whole batch as one buffer of the frames the client's `publish` would write, each
   * `HPUB <subject> [<reply>] <header bytes> <total bytes>\r\n<header><payload>\r\n`, handed to
   * the connection at once. Refuses what `publish` refuses: a closed or draining connection, a
   * server without headers, a message over the server's `max_payload`.
   */
  #publishFrames(w: ProtocolWriter, batch: Encoded[], flight: Flight, prefix: string, tailOnly: boolean, riders: number[]): void {
    const nc = this.nc
    const fail = (i: number, err: Error): void => {
      flight.out[i] = err
      flight.left--
    }
    const refused = nc.isClosed()
      ? 'the connection is closed'
      : w.noMorePublishing
        ? 'the connection is draining'
        : nc.info?.headers === false
          ? 'the server does not support headers'
          : undefined
    if (refused !== undefined) {
      const err = new Error(refused)
      for (let i = 0; i < batch.length; i++) fail(i, err)
      return
    }
    const maxPayload = nc.info?.max_payload ?? Number.POSITIVE_INFINITY
    const last = batch.length - 1
    const heads: Array<string | undefined> = new Array<string | undefined>(batch.length)
    let total = 0
    let msgs = 0
    let bytes = 0
    for (let i = 0; i <= last; i++) {
      const e = batch[i] as Encoded
      // The client trims header values; so do we, for the same bytes.
      const block = msgIdBlock(e.id.trim())
      const hlen = Buffer.byteLength(block)
      const size = hlen + e.bytes.length
      if (size > maxPayload) {
        fail(i, new Error(`an event of ${size} bytes exceeds the server's max_payload of ${maxPayload}`))
        continue
      }
      const reply = !tailOnly || i === last ? ` ${prefix}${i}` : ''
      const head = `HPUB ${e.subject}${reply} ${hlen} ${size}\r\n${block}`
      heads[i] = head
      total += Buffer.byteLength(head) + e.bytes.length + 2
      msgs++
      bytes += size
    }
    if (msgs === 0) return
    const frames = Buffer.allocUnsafe(total)
    let off = 0
    for (let i = 0; i <= last; i++) {
      const head = heads[i]
      if (head === undefined) continue
      const payload = (batch[i] as Encoded).bytes
      off += frames.write(head, off)
      frames.set(payload, off)
      off += payload.length
      frames[off++] = 13
      frames[off++] = 10
    }
    try {
      w.sendCommand(frames)
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err))
      for (let i = 0; i <= last; i++) if (heads[i] !== undefined) fail(i, e)
      return
    }
    // The client's own counters, as its `publish` keeps them.
    w.outMsgs += msgs
    w.outBytes += bytes
    if (tailOnly) {
      for (let i = 0; i < last; i++) {
        if (heads[i] === undefined) continue
        riders.push(i)
        flight.left--
      }
    }
  }
}

/**
 * Whether a stream stores one connection's messages so that an ack of the last one answers for
 * all before it: one replica (no leader change mid-batch), old messages discarded (no limit
 * rejects an event while taking the next), and room for any event we send.
 */
export function orderedStore(config: Partial<StreamConfig>, maxEventBytes: number): boolean {
  const maxMsg = config.max_msg_size ?? -1
  return (
    (config.num_replicas ?? 1) <= 1 &&
    (config.discard ?? DiscardPolicy.Old) === DiscardPolicy.Old &&
    config.discard_new_per_subject !== true &&
    (maxMsg < 0 || maxMsg >= maxEventBytes)
  )
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.())

/** The JetStream audit sink. Construct with {@link JetStreamAuditSink.create} or the constructor. */
export class JetStreamAuditSink implements AuditSink {
  readonly #o: Required<Omit<JetStreamAuditOptions, 'onError' | 'name'>> &
    Pick<JetStreamAuditOptions, 'onError' | 'name'>
  readonly #spool: DiskSpool
  /** Where queued events' bytes live (see {@link Encoded}). */
  readonly #arena = new ByteArena()
  #queue: Encoded[] = []
  #nc: NatsConnection | undefined
  #acks: AckCollector | undefined
  #ready = false
  #inFlight = false
  #lingering = false
  #closed = false
  #retryAt = 0
  #streamOk = false
  /** Ack only the last event of a batch (see `JetStreamAuditOptions.acks`); set per stream setup. */
  #tailAcks = false
  #wake: (() => void) | undefined
  #idleWaiters: Array<() => void> = []
  #pump: Promise<void>
  #connecting: Promise<void>
  #stats = { published: 0, spooled: 0, dropped: 0, replayed: 0, duplicates: 0 }

  constructor(options: JetStreamAuditOptions) {
    this.#o = {
      stream: DEFAULT_AUDIT_STREAM,
      subjectPrefix: DEFAULT_AUDIT_SUBJECT_PREFIX,
      duplicateWindowMs: 2 * 3600_000,
      maxAgeMs: 30 * 24 * 3600_000,
      maxBytes: -1,
      spoolMaxBytes: 256 * 1024 * 1024,
      spoolSegmentBytes: 4 * 1024 * 1024,
      maxQueue: 10_000,
      publishWindow: 256,
      lingerMs: 100,
      publishTimeoutMs: 5000,
      retryDelayMs: 1000,
      maxEventBytes: 512 * 1024,
      acks: 'auto',
      ...options,
    }
    this.#spool = new DiskSpool(this.#o.spoolDir, {
      maxBytes: this.#o.spoolMaxBytes,
      segmentBytes: this.#o.spoolSegmentBytes,
    })
    this.#connecting = this.#connect()
    this.#pump = this.#run()
  }

  /** Resolves once the first connection was made (and the stream set up), or the sink closed. */
  ready(): Promise<void> {
    return this.#connecting
  }

  write(event: DecisionEvent): void {
    let json: string
    try {
      json = JSON.stringify(event)
    } catch {
      this.#stats.dropped++
      return
    }
    this.writeEncoded(json, { id: event.decision_id, allow: event.allow, service: event.service })
  }

  writeEncoded(json: string, meta: EncodedEventMeta): void {
    try {
      // An id no header can carry would fail every publish and block the spool behind it.
      const id = meta.id
      if (this.#closed || this.#tooBig(json) || typeof id !== 'string' || BAD_MSG_ID.test(id)) {
        this.#stats.dropped++
        return
      }
      const enc: Encoded = { id, subject: this.#subject(meta.service, meta.allow), bytes: this.#arena.put(json) }
      if (this.#queue.length >= this.#o.maxQueue) {
        // Overload or outage: keep memory bounded. Move the queue first so order holds.
        const q = this.#queue
        this.#queue = []
        this.#toSpool(q)
        this.#toSpool([enc])
      } else this.#queue.push(enc)
      // While lingering, single events do not wake the pump; a full window does.
      if (!this.#lingering || this.#queue.length >= this.#o.publishWindow) this.#notify()
    } catch {
      this.#stats.dropped++
    }
  }

  /** Whether the event exceeds `maxEventBytes`, measured without encoding it. */
  #tooBig(json: string): boolean {
    return utf8Exceeds(json, this.#o.maxEventBytes)
  }

  // A sidecar has one service name: its two subjects are built once, not per event.
  #subjects: { service: string; allow: string; deny: string } | undefined

  #subject(service: string, allow: boolean): string {
    let s = this.#subjects
    if (s?.service !== service) {
      const prefix = this.#o.subjectPrefix
      s = {
        service,
        allow: auditSubject(prefix, { service, allow: true }),
        deny: auditSubject(prefix, { service, allow: false }),
      }
      this.#subjects = s
    }
    return allow ? s.allow : s.deny
  }

  async flush(): Promise<void> {
    while (!this.#isIdle()) {
      await new Promise<void>((resolve) => {
        this.#idleWaiters.push(resolve)
        this.#notify()
      })
    }
  }

  async close(timeoutMs = 5000): Promise<void> {
    if (this.#closed) return
    await Promise.race([this.flush(), sleep(timeoutMs)])
    this.#closed = true
    this.#notify()
    await this.#pump
    // Whatever could not be delivered survives on disk for the next start.
    const q = this.#queue
    this.#queue = []
    this.#toSpool(q)
    this.#spool.close()
    const nc = this.#nc
    this.#nc = undefined
    this.#ready = false
    if (nc) await nc.close().catch(() => {})
    for (const w of this.#idleWaiters.splice(0)) w()
  }

  stats(): AuditStats & { duplicates: number } {
    return {
      ...this.#stats,
      queued: this.#queue.length,
      spoolPending: this.#spool.pending,
      spoolBytes: this.#spool.bytes,
    }
  }

  #isIdle(): boolean {
    if (this.#closed) return true
    if (this.#queue.length > 0 || this.#inFlight) return false
    // With a live connection, idle means the spool was replayed too; without one, spooled is enough.
    return !this.#ready || this.#spool.empty
  }

  #notify(): void {
    const w = this.#wake
    this.#wake = undefined
    w?.()
  }

  #toSpool(events: Encoded[]): void {
    for (const e of events) {
      if (this.#spool.append(e.bytes)) this.#stats.spooled++
      else this.#stats.dropped++
    }
  }

  async #connect(): Promise<void> {
    // Our own retry loop instead of waitOnFirstConnect: close() must be able to stop it.
    while (!this.#closed) {
      let nc: NatsConnection
      try {
        nc = await connect({
          servers: this.#o.servers,
          name: this.#o.name ?? 'verdict-audit',
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          noAsyncTraces: true,
          timeout: this.#o.publishTimeoutMs,
        })
      } catch (err) {
        this.#o.onError?.(err)
        await sleep(this.#o.retryDelayMs)
        continue
      }
      if (this.#closed) {
        await nc.close().catch(() => {})
        return
      }
      this.#nc = nc
      this.#acks = new AckCollector(nc)
      void this.#watchStatus(nc)
      try {
        await this.#ensureStream()
      } catch (err) {
        // The pump retries publishing (and the reconnect handler the setup) after a delay.
        this.#o.onError?.(err)
        this.#retryAt = Date.now() + this.#o.retryDelayMs
      }
      this.#ready = true
      this.#notify()
      return
    }
  }

  async #ensureStream(): Promise<void> {
    const nc = this.#nc
    if (!nc) return
    const jsm = await jetstreamManager(nc, { timeout: this.#o.publishTimeoutMs })
    let config: Partial<StreamConfig>
    try {
      config = (await jsm.streams.info(this.#o.stream)).config
    } catch {
      config = await this.#addStream(jsm)
    }
    this.#tailAcks = this.#o.acks === 'batch' || (this.#o.acks === 'auto' && orderedStore(config, this.#o.maxEventBytes))
    this.#streamOk = true
  }

  async #addStream(jsm: JetStreamManager): Promise<Partial<StreamConfig>> {
    return (
      await jsm.streams.add({
        name: this.#o.stream,
        subjects: [`${this.#o.subjectPrefix}.>`],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        discard: DiscardPolicy.Old,
        max_age: nanos(this.#o.maxAgeMs),
        max_bytes: this.#o.maxBytes,
        duplicate_window: nanos(this.#o.duplicateWindowMs),
      })
    ).config
  }

  async #watchStatus(nc: NatsConnection): Promise<void> {
    try {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') {
          this.#ready = false
        } else if (s.type === 'reconnect') {
          try {
            await this.#ensureStream()
            this.#ready = true
            this.#retryAt = 0
          } catch (err) {
            this.#o.onError?.(err)
            this.#retryAt = Date.now() + this.#o.retryDelayMs
            this.#ready = true
          }
        }
        this.#notify()
      }
    } catch (err) {
      this.#o.onError?.(err)
    }
  }

  #wait(ms?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined
      this.#wake = () => {
        if (timer) clearTimeout(timer)
        resolve()
      }
      if (ms !== undefined) {
        timer = setTimeout(() => {
          this.#wake = undefined
          resolve()
        }, Math.max(1, ms))
      }
    })
  }

  /** Publishes a batch in order; returns how many from the start were acknowledged. */
  async #publish(batch: Encoded[]): Promise<{ ok: boolean[]; fresh: number }> {
    const acks = this.#acks
    if (!acks || this.#nc !== acks.nc) return { ok: batch.map(() => false), fresh: 0 }
    this.#inFlight = true
    try {
      const results = await acks.publish(batch, this.#o.publishTimeoutMs, this.#tailAcks)
      const rejected = results.find((r) => r instanceof Error)
      if (rejected && this.#retryAt <= Date.now()) this.#o.onError?.(rejected)
      let fresh = 0
      const ok = results.map((r) => {
        if (r instanceof Error) return false
        if (r === 'duplicate') this.#stats.duplicates++
        else fresh++
        return true
      })
      return { ok, fresh }
    } finally {
      this.#inFlight = false
    }
  }

  #failed(): void {
    this.#retryAt = Date.now() + this.#o.retryDelayMs
    // The stream may be gone (deleted, or a fresh server without our store): check before retrying.
    this.#streamOk = false
  }

  async #run(): Promise<void> {
    let lingered = false
    for (;;) {
      if (this.#idleWaiters.length > 0 && this.#isIdle()) {
        for (const w of this.#idleWaiters.splice(0)) w()
      }
      if (this.#closed) return
      const backoff = this.#retryAt - Date.now()
      const live = this.#ready && backoff <= 0
      if (live && !this.#streamOk) {
        try {
          await this.#ensureStream()
        } catch (err) {
          this.#o.onError?.(err)
          this.#failed()
          continue
        }
      }
      if (live && !this.#spool.empty) {
        await this.#replay()
        continue
      }
      if (this.#queue.length === 0 || (this.#ready && backoff > 0 && this.#spool.empty)) {
        await this.#wait(this.#ready && backoff > 0 ? backoff : undefined)
        continue
      }
      if (!live || !this.#spool.empty) {
        // Keep order: once anything is spooled, later events queue behind it on disk.
        const q = this.#queue
        this.#queue = []
        this.#toSpool(q)
        continue
      }
      if (
        !lingered && this.#o.lingerMs > 0 && this.#queue.length < this.#o.publishWindow &&
        this.#idleWaiters.length === 0
      ) {
        this.#lingering = true
        await this.#wait(this.#o.lingerMs)
        this.#lingering = false
        lingered = true
        continue
      }
      lingered = false
      const batch = this.#queue.splice(0, this.#o.publishWindow)
      const { ok } = await this.#publish(batch)
      const failed = batch.filter((_, i) => !ok[i])
      this.#stats.published += batch.length - failed.length
      if (failed.length > 0) {
        this.#toSpool(failed)
        this.#failed()
      }
    }
  }

  async #replay(): Promise<void> {
    const lines = this.#spool.peek(this.#o.publishWindow)
    const batch: Encoded[] = []
    let corrupt = 0
    for (const line of lines) {
      try {
        const event = JSON.parse(line) as DecisionEvent
        if (typeof event.decision_id !== 'string' || BAD_MSG_ID.test(event.decision_id)) {
          throw new Error('no usable id')
        }
        batch.push({
          id: event.decision_id,
          subject: auditSubject(this.#o.subjectPrefix, event),
          bytes: Buffer.from(line),
        })
      } catch {
        // A torn write from a crash, or no usable id: nothing to recover, count it as lost.
        batch.push({ id: '', subject: '', bytes: EMPTY_BYTES })
        corrupt++
      }
    }
    const valid = batch.filter((e) => e.id !== '')
    const { ok } = valid.length > 0 ? await this.#publish(valid) : { ok: [] as boolean[] }
    // Advance only over the acknowledged prefix, so replay order is kept on retry.
    let acked = 0
    let vi = 0
    for (const e of batch) {
      if (e.id === '') {
        acked++
        continue
      }
      if (!ok[vi++]) break
      acked++
      this.#stats.replayed++
      this.#stats.published++
    }
    this.#stats.dropped += Math.min(corrupt, acked)
    this.#spool.ack(acked)
    if (acked < batch.length) this.#failed()
  }
}
