/**
 * The command line: entry point `main(argv)`, plus the commands as functions for tests.
 *
 * @module
 */

export { main } from './main.js'
export {
  AGGREGATE_CLOCK_SLACK_MS,
  aggregateAudit,
  AUDIT_AGGREGATE_FORMATS,
  AUDIT_AGGREGATE_HELP,
  DEFAULT_AGGREGATE_BY,
  DEFAULT_AGGREGATE_TOP,
  DEFAULT_AGGREGATE_WINDOW_MS,
  formatAggregateText,
  parseAuditAggregateArgs,
} from './audit-aggregate.js'
export type {
  AuditAggregateFormat,
  AuditAggregateOptions,
  AuditAggregateOutput,
  AuditAggregateReport,
} from './audit-aggregate.js'
export { AUDIT_GROUP_KEYS, AuditAggregator, DEFAULT_MAX_GROUPS, isAuditGroupKey, MAX_BUCKETS, MAX_SERIES_CELLS } from './audit-aggregator.js'
export type {
  AuditAggregatorOptions,
  AuditCounts,
  AuditGroup,
  AuditGroupKey,
  AuditLatency,
  AuditSpike,
  AuditSummary,
  AuditSummaryOptions,
} from './audit-aggregator.js'
export { AUDIT_HELP, auditFilter, parseSince } from './audit-stream.js'
export type { AuditFilterOptions } from './audit-stream.js'
export { AUDIT_TAIL_FORMATS, AUDIT_TAIL_HELP, formatAuditText, parseAuditTailArgs, tailAudit } from './audit-tail.js'
export type { AuditTailFormat, AuditTailOptions, AuditTailOutput, AuditTailResult } from './audit-tail.js'
export { buildBundle, bundleRoots, defaultEntrypoints, dumpIr, readPolicySources } from './build.js'
export type { BuildOptions, PolicySources } from './build.js'
export { evaluateQuery } from './eval.js'
export type { EvalOptions } from './eval.js'
export { DEFAULT_TEST_TIMEOUT_MS, formatTestResults, readTestSources, runTests, TEST_HELP, testCommand } from './test-command.js'
export type { CommandOutput, TestOptions, TestResult } from './test-command.js'
export { loadPolicy, readPolicyBundle, startSidecar } from './serve.js'
export type { PolicyLoadConfig, Sidecar } from './serve.js'
export { signBundle } from './sign.js'
export type { SignCommandOptions } from './sign.js'
export { DEFAULT_PUBLISH_TIMEOUT_MS, publishBundle } from './publish.js'
export type { PublishOptions, PublishResult } from './publish.js'
export { reportReady, superviseWorkers, WORKER_SLOT_ENV, workerConfig, workerSlot } from './workers.js'
export type { SuperviseOptions, WorkerReady } from './workers.js'
