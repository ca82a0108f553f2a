/**
 * The audit sink contract and the log sink. A sink takes events from the decision path, so
 * `write` must never throw and never wait: decisions are not allowed to depend on audit I/O.
 *
 * @module
 */
import type { Writable } from 'node:stream'
import type { DecisionEvent } from './event.js'

/** Counters for metrics. */
export interface AuditStats {
  /** Events acknowledged by the destination (stream or log writable). */
  published: number
  /** Events written to the disk spool. */
  spooled: number
  /** Events lost: spool full, unencodable or oversized. */
  dropped: number
  /** Spooled events later acknowledged by the stream. */
  replayed: number
  /** Events in memory waiting to be sent. */
  queued: number
  /** Events waiting in the spool. */
  spoolPending: number
  /** Bytes of the spool on disk. */
  spoolBytes: number
}

/** What a sink needs to know about an already encoded event, so it never parses the JSON. */
export interface EncodedEventMeta {
  /** The event's `decision_id` (the JetStream msgID). */
  id: string
  /** The event's `allow`. */
  allow: boolean
  /** The event's `service`. */
  service: string
}

/** Where decision events go. */
export interface AuditSink {
  /** Hands an event over. Never throws, never blocks on I/O. */
  write(event: DecisionEvent): void
  /**
   * Hands over an event already encoded as one line of JSON (from `encodeDecisionEvent`), with
   * the fields the sink routes by; the decision path's way to skip building an event object.
   * `meta` must agree with the JSON. Never throws, never blocks on I/O.
   */
  writeEncoded(json: string, meta: EncodedEventMeta): void
  /** Resolves once every event written so far was delivered or spooled. */
  flush(): Promise<void>
  /** Flushes what it can (the rest stays in the spool), then releases resources. Later writes are dropped and counted. */
  close(): Promise<void>
  stats(): AuditStats
}

/** JSON lines to a writable, stderr by default: the sink when no NATS URL is configured. */
export class LogAuditSink implements AuditSink {
  readonly #out: Writable
  #published = 0
  #dropped = 0
  #closed = false

  constructor(out: Writable = process.stderr) {
    this.#out = out
  }

  write(event: DecisionEvent): void {
    let json: string
    try {
      json = JSON.stringify(event)
    } catch {
      this.#dropped++
      return
    }
    this.#line(json)
  }

  writeEncoded(json: string, _meta: EncodedEventMeta): void {
    this.#line(json)
  }

  #line(json: string): void {
    if (this.#closed) {
      this.#dropped++
      return
    }
    try {
      this.#out.write(`${json}\n`)
      this.#published++
    } catch {
      this.#dropped++
    }
  }

  flush(): Promise<void> {
    if (this.#out.writableNeedDrain !== true) return Promise.resolve()
    return new Promise((resolve) => this.#out.once('drain', () => resolve()))
  }

  async close(): Promise<void> {
    await this.flush()
    this.#closed = true
  }

  stats(): AuditStats {
    return {
      published: this.#published,
      spooled: 0,
      dropped: this.#dropped,
      replayed: 0,
      queued: 0,
      spoolPending: 0,
      spoolBytes: 0,
    }
  }
}
