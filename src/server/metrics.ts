/**
 * Sidecar metrics: cheap counters on the decision path, a plain-number snapshot that can cross
 * process boundaries (cluster IPC), a merge of several workers' snapshots, and the Prometheus
 * text exposition format (0.0.4) rendered from them.
 *
 * The decision path only increments numbers in typed arrays that exist from startup: no label
 * strings, no Map lookups, no allocation per decision. Everything else (token cache, audit sink,
 * process) is read at scrape time by whoever builds the snapshot.
 *
 * @module
 */

import { status as Status } from '@grpc/grpc-js'
import { DECISION_CODE_NAMES } from './codes.js'

/**
 * Upper bounds of the decision duration histogram, in milliseconds (rendered as seconds): a cached
 * token and a small policy decide in tens of microseconds; a JWKS fetch or a slow policy in
 * milliseconds.
 */
export const DECISION_DURATION_BOUNDS_MS: readonly number[] = [
  0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100,
]

/** The RPC methods whose errors are counted, in the order of {@link MetricsSnapshot.rpcErrors}. */
export const RPC_METHODS = ['Check', 'BatchCheck', 'ExtAuthzCheck'] as const
/** One of {@link RPC_METHODS}. */
export type RpcMethod = (typeof RPC_METHODS)[number]

/**
 * HTTP statuses of AuthZEN requests answered with an error instead of a decision, in the order of
 * {@link MetricsSnapshot.authzenErrors}: a malformed or invalid request, an unknown path, a wrong
 * method, a body over the size limit, a defect.
 */
export const AUTHZEN_ERROR_STATUSES = [400, 404, 405, 413, 500] as const
/** One of {@link AUTHZEN_ERROR_STATUSES}. */
export type AuthzenErrorStatus = (typeof AUTHZEN_ERROR_STATUSES)[number]

const CODE_SLOTS = DECISION_CODE_NAMES.length

/** gRPC status names by number (0 … 16). */
const STATUS_NAMES: string[] = []
for (const [name, value] of Object.entries(Status)) if (typeof value === 'number') STATUS_NAMES[value] = name
const STATUS_SLOTS = STATUS_NAMES.length

/**
 * One process's metrics as plain numbers and strings: what a worker sends its primary over IPC,
 * and what {@link renderMetrics} renders. Counters are totals since the process started.
 */
export interface MetricsSnapshot {
  /** Decisions by `verdict.v1.DecisionCode` number (index 0, UNSPECIFIED, stays 0). */
  decisions: number[]
  /** Decision durations: counts per bucket of {@link DECISION_DURATION_BOUNDS_MS} (not cumulative), then the overflow. */
  durationBuckets: number[]
  /** Sum of decision durations, in milliseconds. */
  durationSumMs: number
  /** RPC-level errors by method (order of {@link RPC_METHODS}), then by gRPC status number. */
  rpcErrors: number[][]
  /** AuthZEN requests answered with an HTTP error, by status (order of {@link AUTHZEN_ERROR_STATUSES}). */
  authzenErrors: number[]
  tokenCache: { hits: number; misses: number }
  audit: { published: number; spooled: number; dropped: number; replayed: number; queued: number; spoolPending: number; spoolBytes: number }
  /**
   * Bundle loads; and for a remote source (HTTP, NATS) its failed contacts and the time of the
   * last good one (a bundle delivered or the active one confirmed), in Unix seconds, 0 if none.
   */
  policy: { revision: string | null; loadsOk: number; loadsRejected: number; fetchFailures: number; lastFetchSeconds: number }
  process: { residentBytes: number; cpuSeconds: number; heapUsedBytes: number }
  /** Serving: a bundle is loaded and the sidecar is not stopping. */
  ready: boolean
}

/** What the sidecar reads at scrape time, besides the counters of {@link SidecarMetrics}. */
export interface SnapshotSources {
  tokenCache?: { hits: number; misses: number }
  audit?: Partial<MetricsSnapshot['audit']>
  revision: string | null
  ready: boolean
}

/**
 * The counters the decision path and the RPC layer increment. One per sidecar process; the
 * authorizer and the gRPC server share it.
 *
 * @example
 * const metrics = new SidecarMetrics()
 * const authorizer = createAuthorizer({ verifier, policy, limits, logger, metrics })
 * renderMetrics([{ snapshot: metrics.snapshot({ revision: 'r1', ready: true }) }])
 */
export class SidecarMetrics {
  readonly #decisions = new Float64Array(CODE_SLOTS)
  readonly #buckets = new Float64Array(DECISION_DURATION_BOUNDS_MS.length + 1)
  readonly #bounds = Float64Array.from(DECISION_DURATION_BOUNDS_MS)
  #sumMs = 0
  readonly #rpcErrors = RPC_METHODS.map(() => new Float64Array(STATUS_SLOTS))
  readonly #authzenErrors = new Float64Array(AUTHZEN_ERROR_STATUSES.length)
  #loadsOk = 0
  #loadsRejected = 0
  #fetchFailures = 0
  #lastFetchSeconds = 0

  /** Counts one decision with its `verdict.v1.DecisionCode` number and duration in ms. */
  decision(code: number, latencyMs: number): void {
    // An unknown number (never made by the authorizer) is counted as UNSPECIFIED, not lost.
    this.#decisions[code < CODE_SLOTS && code > 0 ? code : 0]!++
    const bounds = this.#bounds
    let i = 0
    while (i < bounds.length && latencyMs > bounds[i]!) i++
    this.#buckets[i]!++
    this.#sumMs += latencyMs
  }

  /**
   * The error counters of one RPC method, by gRPC status number: the RPC layer holds the array
   * from startup and increments it, so an error costs no lookup.
   */
  rpcErrors(method: RpcMethod): Float64Array {
    return this.#rpcErrors[RPC_METHODS.indexOf(method)]!
  }

  /** Counts one AuthZEN request answered with HTTP error `status` instead of a decision. */
  authzenError(status: AuthzenErrorStatus): void {
    this.#authzenErrors[AUTHZEN_ERROR_STATUSES.indexOf(status)]!++
  }

  /** Counts one bundle load: activated, or rejected (the last good bundle kept serving). */
  policyLoad(ok: boolean): void {
    if (ok) this.#loadsOk++
    else this.#loadsRejected++
  }

  /** Counts one contact with a remote bundle source: good (delivered or confirmed) or failed. */
  bundleFetch(ok: boolean): void {
    if (ok) this.#lastFetchSeconds = Date.now() / 1000
    else this.#fetchFailures++
  }

  /** The counters now, with what the caller read at scrape time and this process's usage. */
  snapshot(sources: SnapshotSources): MetricsSnapshot {
    return {
      decisions: Array.from(this.#decisions),
      durationBuckets: Array.from(this.#buckets),
      durationSumMs: this.#sumMs,
      rpcErrors: this.#rpcErrors.map((row) => Array.from(row)),
      authzenErrors: Array.from(this.#authzenErrors),
      tokenCache: { hits: sources.tokenCache?.hits ?? 0, misses: sources.tokenCache?.misses ?? 0 },
      audit: { ...emptyAudit(), ...sources.audit },
      policy: {
        revision: sources.revision,
        loadsOk: this.#loadsOk,
        loadsRejected: this.#loadsRejected,
        fetchFailures: this.#fetchFailures,
        lastFetchSeconds: this.#lastFetchSeconds,
      },
      process: processUsage(),
      ready: sources.ready,
    }
  }
}

function emptyAudit(): MetricsSnapshot['audit'] {
  return { published: 0, spooled: 0, dropped: 0, replayed: 0, queued: 0, spoolPending: 0, spoolBytes: 0 }
}

/** This process's memory and CPU, read now. */
export function processUsage(): MetricsSnapshot['process'] {
  const mem = process.memoryUsage()
  const cpu = process.cpuUsage()
  return { residentBytes: mem.rss, cpuSeconds: (cpu.user + cpu.system) / 1e6, heapUsedBytes: mem.heapUsed }
}

/** An all-zero snapshot (what a merge starts from). */
export function emptySnapshot(): MetricsSnapshot {
  return {
    decisions: new Array<number>(CODE_SLOTS).fill(0),
    durationBuckets: new Array<number>(DECISION_DURATION_BOUNDS_MS.length + 1).fill(0),
    durationSumMs: 0,
    rpcErrors: RPC_METHODS.map(() => new Array<number>(STATUS_SLOTS).fill(0)),
    authzenErrors: new Array<number>(AUTHZEN_ERROR_STATUSES.length).fill(0),
    tokenCache: { hits: 0, misses: 0 },
    audit: emptyAudit(),
    policy: { revision: null, loadsOk: 0, loadsRejected: 0, fetchFailures: 0, lastFetchSeconds: 0 },
    process: { residentBytes: 0, cpuSeconds: 0, heapUsedBytes: 0 },
    ready: true,
  }
}

function addInto(into: number[], from: readonly unknown[] | undefined): void {
  if (!Array.isArray(from)) return
  for (let i = 0; i < into.length; i++) {
    const v = from[i]
    if (typeof v === 'number' && Number.isFinite(v)) into[i]! += v
  }
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0
}

/**
 * Adds `from` into `into`: counters, histograms and gauges are summed, `ready` is and-ed. The
 * policy revision is left alone (it does not add up; render it per worker). `from` may come off
 * IPC, so anything missing or not a number counts as zero.
 */
export function addSnapshot(into: MetricsSnapshot, from: MetricsSnapshot): MetricsSnapshot {
  addInto(into.decisions, from.decisions)
  addInto(into.durationBuckets, from.durationBuckets)
  into.durationSumMs += num(from.durationSumMs)
  for (let m = 0; m < into.rpcErrors.length; m++) addInto(into.rpcErrors[m]!, from.rpcErrors?.[m])
  addInto(into.authzenErrors, from.authzenErrors)
  for (const k of ['hits', 'misses'] as const) into.tokenCache[k] += num(from.tokenCache?.[k])
  for (const k of Object.keys(into.audit) as (keyof MetricsSnapshot['audit'])[]) into.audit[k] += num(from.audit?.[k])
  into.policy.loadsOk += num(from.policy?.loadsOk)
  into.policy.loadsRejected += num(from.policy?.loadsRejected)
  into.policy.fetchFailures += num(from.policy?.fetchFailures)
  // The stalest process counts: each worker fetches on its own, and one stuck is what to see.
  const last = num(from.policy?.lastFetchSeconds)
  if (last > 0) into.policy.lastFetchSeconds = into.policy.lastFetchSeconds === 0 ? last : Math.min(into.policy.lastFetchSeconds, last)
  for (const k of Object.keys(into.process) as (keyof MetricsSnapshot['process'])[]) into.process[k] += num(from.process?.[k])
  into.ready &&= from.ready === true
  return into
}

/** One process's part of a scrape: its snapshot, and its worker slot when there are several. */
export interface ScrapePart {
  snapshot: MetricsSnapshot
  worker?: number
}

/** Extra gauges of a scrape served by a `--workers` primary. */
export interface WorkersGauge {
  /** Workers configured (`--workers`). */
  configured: number
  /** Workers whose snapshot arrived in time for this scrape. */
  reporting: number
}

/** Escapes a label value for the text format: backslash, double quote and newline. */
function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

/** A sample value: integers as integers, the rest in JavaScript's shortest round-trip form. */
function value(v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  return String(v)
}

/** The content type of {@link renderMetrics}' output. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/**
 * Renders a scrape in the Prometheus text format 0.0.4. Counters and histograms are summed over
 * `parts`; `verdict_policy_info` gets one sample per part, with a `worker` label when the part
 * has one. `base` is added to the sums without a policy sample of its own (a `--workers`
 * primary's counters of workers that have exited, and its own process usage).
 *
 * @example
 * res.setHeader('content-type', METRICS_CONTENT_TYPE)
 * res.end(renderMetrics([{ snapshot: metrics.snapshot(sources) }]))
 */
export function renderMetrics(parts: readonly ScrapePart[], base?: MetricsSnapshot, workers?: WorkersGauge): string {
  const sum = emptySnapshot()
  if (base !== undefined) addSnapshot(sum, base)
  for (const p of parts) addSnapshot(sum, p.snapshot)
  const out: string[] = []
  const family = (name: string, type: 'counter' | 'gauge' | 'histogram', help: string): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
  }
  /** A family with one unlabelled sample. */
  const single = (name: string, type: 'counter' | 'gauge', help: string, v: number): void => {
    family(name, type, help)
    out.push(`${name} ${value(v)}`)
  }

  family('verdict_decisions_total', 'counter', 'Decisions made, by decision code (OK is an allow, every other code a deny).')
  for (let code = 1; code < CODE_SLOTS; code++) {
    out.push(`verdict_decisions_total{code="${DECISION_CODE_NAMES[code]}"} ${value(sum.decisions[code]!)}`)
  }
  if (sum.decisions[0]! > 0) out.push(`verdict_decisions_total{code="UNSPECIFIED"} ${value(sum.decisions[0]!)}`)

  family('verdict_decision_duration_seconds', 'histogram', 'Time from receiving a request to its decision, token verification and policy evaluation included.')
  let cumulative = 0
  for (let i = 0; i < DECISION_DURATION_BOUNDS_MS.length; i++) {
    cumulative += sum.durationBuckets[i]!
    out.push(`verdict_decision_duration_seconds_bucket{le="${value(DECISION_DURATION_BOUNDS_MS[i]! / 1000)}"} ${value(cumulative)}`)
  }
  cumulative += sum.durationBuckets[DECISION_DURATION_BOUNDS_MS.length]!
  out.push(`verdict_decision_duration_seconds_bucket{le="+Inf"} ${value(cumulative)}`)
  out.push(`verdict_decision_duration_seconds_sum ${value(sum.durationSumMs / 1000)}`)
  out.push(`verdict_decision_duration_seconds_count ${value(cumulative)}`)

  family('verdict_rpc_errors_total', 'counter', 'Authorizer calls answered with an RPC error instead of a decision (e.g. INVALID_ARGUMENT for an undecodable request), by method and gRPC status.')
  for (let m = 0; m < RPC_METHODS.length; m++) {
    const row = sum.rpcErrors[m]!
    for (let s = 0; s < row.length; s++) {
      if (row[s]! > 0) out.push(`verdict_rpc_errors_total{method="${RPC_METHODS[m]}",code="${STATUS_NAMES[s]}"} ${value(row[s]!)}`)
    }
  }

  family('verdict_authzen_request_errors_total', 'counter', 'AuthZEN requests answered with an HTTP error instead of a decision (malformed or invalid request, unknown path, wrong method, body too large), by status.')
  for (let i = 0; i < AUTHZEN_ERROR_STATUSES.length; i++) {
    const n = sum.authzenErrors[i]!
    if (n > 0) out.push(`verdict_authzen_request_errors_total{status="${AUTHZEN_ERROR_STATUSES[i]}"} ${value(n)}`)
  }

  single('verdict_token_cache_hits_total', 'counter', 'Token verifications answered from the verifier cache.', sum.tokenCache.hits)
  single('verdict_token_cache_misses_total', 'counter', 'Token verifications that had to check a signature (not in the cache).', sum.tokenCache.misses)

  single('verdict_audit_events_published_total', 'counter', 'Audit events acknowledged by the destination (JetStream, or the log).', sum.audit.published)
  single('verdict_audit_events_spooled_total', 'counter', 'Audit events written to the disk spool while the destination was unreachable.', sum.audit.spooled)
  single('verdict_audit_events_replayed_total', 'counter', 'Spooled audit events later acknowledged by the stream.', sum.audit.replayed)
  single('verdict_audit_events_dropped_total', 'counter', 'Audit events lost (spool full, unencodable or oversized).', sum.audit.dropped)
  single('verdict_audit_queued_events', 'gauge', 'Audit events in memory waiting to be published.', sum.audit.queued)
  single('verdict_audit_spool_events', 'gauge', 'Audit events waiting in the disk spool.', sum.audit.spoolPending)
  single('verdict_audit_spool_bytes', 'gauge', 'Bytes of the disk spool.', sum.audit.spoolBytes)

  family('verdict_policy_info', 'gauge', 'The policy bundle revision serving (absent while no bundle is loaded).')
  for (const p of parts) {
    const revision = p.snapshot.policy?.revision
    if (typeof revision !== 'string') continue
    const worker = p.worker === undefined ? '' : `,worker="${p.worker}"`
    out.push(`verdict_policy_info{revision="${label(revision)}"${worker}} 1`)
  }
  family('verdict_policy_loads_total', 'counter', 'Bundle loads, by result: ok (activated) or rejected (the last good bundle kept serving).')
  out.push(`verdict_policy_loads_total{result="ok"} ${value(sum.policy.loadsOk)}`)
  out.push(`verdict_policy_loads_total{result="rejected"} ${value(sum.policy.loadsRejected)}`)
  single('verdict_bundle_fetch_failures_total', 'counter', 'Failed contacts with a remote bundle source (HTTP, NATS); each is retried.', sum.policy.fetchFailures)
  if (sum.policy.lastFetchSeconds > 0) {
    single(
      'verdict_bundle_last_fetch_timestamp_seconds',
      'gauge',
      'Unix time of the last good contact with the remote bundle source (a bundle delivered or the active one confirmed); the stalest worker under --workers.',
      sum.policy.lastFetchSeconds,
    )
  }

  if (workers !== undefined) {
    single('verdict_workers', 'gauge', 'Sidecar worker processes configured (--workers).', workers.configured)
    single('verdict_workers_reporting', 'gauge', 'Workers whose metrics arrived in time for this scrape; the others count with their last known values.', workers.reporting)
  }

  single('process_resident_memory_bytes', 'gauge', 'Resident memory, summed over the sidecar processes.', sum.process.residentBytes)
  single('process_cpu_seconds_total', 'counter', 'User and system CPU time, summed over the sidecar processes.', sum.process.cpuSeconds)
  single('nodejs_heap_used_bytes', 'gauge', 'V8 heap in use, summed over the sidecar processes.', sum.process.heapUsedBytes)
  return `${out.join('\n')}\n`
}
