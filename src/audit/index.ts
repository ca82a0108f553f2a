/**
 * Public surface of the audit module: decision events, masking and sinks.
 *
 * @module
 */
export {
  DEFAULT_SAFE_CLAIMS,
  MASKED,
  auditServiceToken,
  auditSubject,
  buildDecisionEvent,
  encodeDecisionEvent,
  maskInput,
} from './event.js'
export type { DecisionEvent, DecisionRecord, MaskOptions } from './event.js'
export { LogAuditSink } from './sink.js'
export type { AuditSink, AuditStats, EncodedEventMeta } from './sink.js'
export {
  DEFAULT_AUDIT_STREAM,
  DEFAULT_AUDIT_SUBJECT_PREFIX,
  JetStreamAuditSink,
} from './jetstream-sink.js'
export type { JetStreamAuditOptions } from './jetstream-sink.js'
export { DiskSpool } from './spool.js'
export type { DiskSpoolOptions } from './spool.js'
export { createAuditSink, MASK_OPTION_KEYS, validateMaskOptions } from './options.js'
export type { AuditOptions, MaskOptionKeys } from './options.js'
