/**
 * Turns the side-by-side benchmark's phase measurements into numbers (throughput, latency
 * percentiles, server and client CPU per request), ratios against the echo floor and Cerbos, and the
 * Markdown and JSON reports.
 *
 * @module
 */
import type { WorkerResult } from './load-worker.js'

/** How tokens are sent in a phase. */
export const TokenMode = { FIRST_SIGHT: 'first-sight', CACHED: 'cached', NONE: 'n/a' } as const
/** One of {@link TokenMode}. */
export type TokenMode = (typeof TokenMode)[keyof typeof TokenMode]

/** One measured (target, token mode, concurrency) cell. */
export interface PhaseReport {
  target: string
  tokens: TokenMode
  concurrency: number
  /** 1-based round of a `--rounds` run. */
  round: number
  sent: number
  ok: number
  wrong: number
  errors: number
  /** A few wrong answers and errors. */
  samples: string[]
  wallMs: number
  /** Right answers per second. */
  rps: number
  p50Ms: number
  p90Ms: number
  p99Ms: number
  /** Server process CPU (user + system) per answered request, in microseconds. */
  cpuUsPerReq: number
  /**
   * CPU of the target's load-generating client processes (user + system, summed over its
   * workers) per answered request, in microseconds. Next to the server's it shows whether the
   * clients, which share the machine's cores, could have capped throughput.
   */
  clientCpuUsPerReq: number
  /** For Verdict: the nats-server's CPU per request, the broker side of audit. */
  auditCpuUsPerReq?: number
}

/** A ratio row: Verdict against a baseline in the same cell. */
export interface RatioReport {
  /** `verdict`, `verdict-w2`, `verdict-grpcjs` or `verdict-unix`. */
  target: string
  baseline: string
  tokens: TokenMode
  concurrency: number
  round: number
  /** Verdict throughput / baseline throughput (above 1: Verdict is faster). */
  rps: number
  /** Verdict latency / baseline latency (above 1: Verdict is slower). */
  p50: number
  p99: number
  /** Verdict CPU per request / baseline CPU per request. */
  cpu: number
}

/** Tokens signed by an untrusted key under the trusted kid, sent to a target before measuring. */
export interface ProbeReport {
  target: string
  forged: number
  /** Answered deny (or refused the call); anything else is a target that does not verify. */
  rejected: number
}

/** Audit events the sidecar published to JetStream against the decisions it made. */
export interface AuditReport {
  target: string
  decisions: number
  /** Messages the target added to the audit stream; -1 when the stream could not be read. */
  events: number
}

/** The whole run. */
export interface BenchReport {
  startedAt: string
  mode: 'full' | 'smoke'
  machine: {
    cpus: number
    model: string
    node: string
    /** 1-minute load average when the run started and ended: other work on the machine skews results. */
    loadAvg1m: { start: number; end: number }
    note: string
  }
  settings: Record<string, unknown>
  /** Targets that could not be measured, with why. */
  skipped: { target: string; reason: string }[]
  phases: PhaseReport[]
  probes: ProbeReport[]
  audit: AuditReport[]
  ratios: RatioReport[]
  /** {@link ratios} over the rounds: median and range per cell. */
  ratioSummary: RatioSummary[]
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]!
}

/** Merges the workers' results of one phase with the server's CPU time over it. */
export function summarize(
  cell: { target: string; tokens: TokenMode; concurrency: number; round: number },
  results: WorkerResult[],
  serverCpuMs: number,
  auditCpuMs?: number,
): PhaseReport {
  const all = new Float64Array(results.reduce((n, r) => n + r.latenciesUs.length, 0))
  let k = 0
  for (const r of results) for (const v of r.latenciesUs) all[k++] = v
  all.sort()
  const ok = results.reduce((n, r) => n + r.ok, 0)
  const wrong = results.reduce((n, r) => n + r.wrong, 0)
  const errors = results.reduce((n, r) => n + r.errors, 0)
  const wallMs = Math.max(...results.map((r) => r.elapsedMs))
  const answered = ok + wrong
  return {
    ...cell,
    sent: ok + wrong + errors,
    ok,
    wrong,
    errors,
    samples: results.flatMap((r) => r.samples).slice(0, 5),
    wallMs,
    rps: wallMs > 0 ? (ok * 1000) / wallMs : 0,
    p50Ms: percentile(all, 50) / 1000,
    p90Ms: percentile(all, 90) / 1000,
    p99Ms: percentile(all, 99) / 1000,
    cpuUsPerReq: answered > 0 ? (serverCpuMs * 1000) / answered : NaN,
    clientCpuUsPerReq: answered > 0 ? results.reduce((n, r) => n + r.cpuUs, 0) / answered : NaN,
    ...(auditCpuMs === undefined
      ? {}
      : { auditCpuUsPerReq: answered > 0 ? (auditCpuMs * 1000) / answered : NaN }),
  }
}

/** Which Verdict row is compared with which baselines. */
const COMPARISONS = [
  { target: 'verdict', baselines: ['echo', 'cerbos'] },
  { target: 'verdict-w2', baselines: ['echo', 'cerbos'] },
  { target: 'verdict-grpcjs', baselines: ['echo', 'cerbos'] },
  { target: 'verdict-unix', baselines: ['echo-unix'] },
] as const

/** Verdict against the echo floor and Cerbos, cell by cell (over unix sockets: against echo-unix). */
export function ratios(phases: PhaseReport[]): RatioReport[] {
  const out: RatioReport[] = []
  for (const { target, baselines } of COMPARISONS) {
    for (const v of phases.filter((p) => p.target === target)) {
      for (const baseline of baselines) {
        const b = phases.find(
          (p) =>
            p.target === baseline &&
            p.round === v.round &&
            p.concurrency === v.concurrency &&
            (p.tokens === v.tokens || p.tokens === TokenMode.NONE),
        )
        if (!b) continue
        out.push({
          target,
          baseline,
          tokens: v.tokens,
          concurrency: v.concurrency,
          round: v.round,
          rps: v.rps / b.rps,
          p50: v.p50Ms / b.p50Ms,
          p99: v.p99Ms / b.p99Ms,
          cpu: v.cpuUsPerReq / b.cpuUsPerReq,
        })
      }
    }
  }
  return out
}

const f = (n: number, digits = 2): string => (Number.isFinite(n) ? n.toFixed(digits) : '–')

/** Renders the report as Markdown. */
/** One ratio over the rounds of a run: median, lowest and highest. */
export interface Spread {
  median: number
  min: number
  max: number
}

/** A ratio cell summarised over rounds. */
export interface RatioSummary {
  target: string
  baseline: string
  tokens: TokenMode
  concurrency: number
  rps: Spread
  p50: Spread
  p99: Spread
  cpu: Spread
}

/** Median, least and greatest of `xs` (not empty). */
export function spreadOf(xs: number[]): Spread {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
  return { median, min: s[0]!, max: s[s.length - 1]! }
}

/** Groups per-round ratios by cell, in first-seen order, into median and range. */
export function summarizeRatios(rs: RatioReport[]): RatioSummary[] {
  const cells = new Map<string, RatioReport[]>()
  for (const x of rs) {
    const key = `${x.target}|${x.baseline}|${x.tokens}|${x.concurrency}`
    cells.set(key, [...(cells.get(key) ?? []), x])
  }
  return [...cells.values()].map((xs) => ({
    target: xs[0]!.target,
    baseline: xs[0]!.baseline,
    tokens: xs[0]!.tokens,
    concurrency: xs[0]!.concurrency,
    rps: spreadOf(xs.map((x) => x.rps)),
    p50: spreadOf(xs.map((x) => x.p50)),
    p99: spreadOf(xs.map((x) => x.p99)),
    cpu: spreadOf(xs.map((x) => x.cpu)),
  }))
}

const spread = (x: Spread): string => (x.min === x.max ? f(x.median) : `${f(x.median)} (${f(x.min)}–${f(x.max)})`)

/** Sums pairs of counts per key, in first-seen order. */
function sumBy<T>(items: T[], key: (t: T) => string, counts: (t: T) => [number, number]): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>()
  for (const t of items) {
    const [a, b] = counts(t)
    const [x, y] = out.get(key(t)) ?? [0, 0]
    out.set(key(t), [x + a, y + b])
  }
  return out
}

export function toMarkdown(r: BenchReport): string {
  const lines: string[] = []
  lines.push(`# Side-by-side benchmark (${r.mode})`, '')
  const load = r.machine.loadAvg1m
  lines.push(
    `${r.startedAt} · ${r.machine.cpus} × ${r.machine.model} · Node ${r.machine.node} · load average ${f(load.start)} → ${f(load.end)}`,
    '',
  )
  lines.push(`> ${r.machine.note}`, '')
  const rounds = Math.max(1, ...r.phases.map((p) => p.round))
  const roundCol = rounds > 1 ? ' round |' : ''
  lines.push(
    `|${roundCol} target | tokens | conc | sent | wrong | errors | req/s | p50 ms | p90 ms | p99 ms | server CPU µs/req | NATS CPU µs/req | client CPU µs/req |`,
  )
  lines.push(`|${rounds > 1 ? ' ---: |' : ''} --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`)
  for (const p of r.phases) {
    lines.push(
      `|${rounds > 1 ? ` ${p.round} |` : ''} ${p.target} | ${p.tokens} | ${p.concurrency} | ${p.sent} | ${p.wrong} | ${p.errors} | ${f(p.rps, 0)} | ${f(p.p50Ms, 3)} | ${f(p.p90Ms, 3)} | ${f(p.p99Ms, 3)} | ${f(p.cpuUsPerReq, 0)} | ${p.auditCpuUsPerReq === undefined ? '' : f(p.auditCpuUsPerReq, 0)} | ${f(p.clientCpuUsPerReq, 1)} |`,
    )
  }
  const client = typeof r.settings.client === 'string' ? ` (\`${r.settings.client}\`)` : ''
  lines.push(
    '',
    'Server CPU is the measured process alone; for Verdict, the NATS column is the audit broker on top.',
    `Client CPU is the target's load-generating processes together${client}; times req/s it is the CPU they kept busy on the same cores.`,
  )
  lines.push('', '## Ratios: Verdict / baseline', '')
  lines.push(
    'Throughput above 1 means Verdict answers more per second; latency and CPU above 1 mean Verdict is slower or costlier.',
    rounds > 1
      ? `Each ratio is taken within one round (same-round baseline) and shown as the median of the ${rounds} rounds, with their range.`
      : '',
    '',
  )
  lines.push(
    '| verdict | baseline | tokens | conc | req/s ratio | p50 ratio | p99 ratio | CPU/req ratio |',
  )
  lines.push('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |')
  for (const x of summarizeRatios(r.ratios)) {
    lines.push(
      `| ${x.target} | ${x.baseline} | ${x.tokens} | ${x.concurrency} | ${spread(x.rps)} | ${spread(x.p50)} | ${spread(x.p99)} | ${spread(x.cpu)} |`,
    )
  }
  if (r.probes.length > 0) {
    const list = [...sumBy(r.probes, (p) => p.target, (p) => [p.rejected, p.forged])]
      .map(([t, [rejected, forged]]) => `${t} rejected ${rejected}/${forged}`)
      .join(', ')
    lines.push('', `Forged-token probe (untrusted key, trusted kid): ${list}.`)
  }
  if (r.audit.length > 0) {
    const list = [...sumBy(r.audit, (a) => a.target, (a) => [a.events, a.decisions])]
      .map(([t, [events, decisions]]) => `${t} ${events}/${decisions}`)
      .join(', ')
    lines.push('', `Audit events in JetStream / decisions made: ${list}.`)
  }
  const bad = r.phases.filter((p) => p.wrong > 0 || p.errors > 0)
  if (bad.length > 0) {
    lines.push('', '## Wrong answers and errors (not counted as speed)', '')
    for (const p of bad) {
      lines.push(
        `- ${p.target} ${p.tokens} c=${p.concurrency}: ${p.wrong} wrong, ${p.errors} errors`,
      )
      for (const s of p.samples) lines.push(`  - ${s}`)
    }
  }
  if (r.skipped.length > 0) {
    lines.push('', '## Not measured', '')
    for (const s of r.skipped) lines.push(`- ${s.target}: ${s.reason}`)
  }
  lines.push('')
  return lines.join('\n')
}
