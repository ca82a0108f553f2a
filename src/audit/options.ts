/**
 * Audit options and the factory that picks a sink: JetStream when a NATS URL is configured,
 * JSON lines on stderr otherwise.
 *
 * @module
 */
import type { Writable } from 'node:stream'
import type { MaskOptions } from './event.js'
import { JetStreamAuditSink, type JetStreamAuditOptions } from './jetstream-sink.js'
import { LogAuditSink, type AuditSink } from './sink.js'

/** Audit configuration. */
export interface AuditOptions {
  /** JetStream settings; without them events are logged as JSON lines. */
  nats?: JetStreamAuditOptions
  /** Writable for the log sink; default stderr. */
  output?: Writable
  /** Input masking used by callers of `buildDecisionEvent`. */
  mask?: MaskOptions
}

/** Builds the configured sink. Never connects synchronously; never throws on NATS problems. */
export function createAuditSink(options: AuditOptions = {}): AuditSink {
  if (options.nats && options.nats.servers.length > 0) return new JetStreamAuditSink(options.nats)
  return new LogAuditSink(options.output)
}
