/**
 * `npm run bench`: Verdict's Check against the floor of a Node gRPC round trip (a grpc-js echo
 * server) and against Cerbos deciding the same trades policy from the same RS256 JWT, in one run
 * on one machine. Load comes from forked client processes at several concurrencies; every answer
 * is checked, and wrong answers are reported instead of counted as speed. Writes Markdown to
 * stdout and `<out>/latest.md`, JSON to `<out>/latest.json`.
 *
 * Flags: `--smoke` (tiny counts, for the test suite), `--out <dir>` (default bench/results),
 * `--workers <n>` (client processes, default 2), `--duration <ms>` (per phase), `--targets
 * echo,verdict,...` (measure only these: echo, verdict, verdict-unix, echo-unix, cerbos),
 * `--concurrency 1,16` (only these levels), `--tokens cached` (only these token modes),
 * `--profile <dir>` (V8 CPU profile of each Node server process, written when it stops),
 * `--node-args '<flags>'` (extra Node flags for the Node servers, e.g. GC settings to compare),
 * `--warmup <ms>` (unmeasured load before a target's first phase; default 5000), `--rounds <n>`
 * (measure every target n times, interleaved; ratios are taken within a round and summarised
 * as median and range, which holds up better on a busy machine than one run).
 *
 * @module
 */
import { fork, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect as natsConnect } from '@nats-io/transport-node'
import { startNatsServer } from '../../test/helpers/nats-server.js'
import type { NatsServerHandle } from '../../test/helpers/nats-server.js'
import {
  BENCH_AUDIENCE,
  BENCH_ISSUER,
  CASES,
  buildRequests,
  createBenchIssuer,
} from './fixtures.js'
import type { BenchIssuer, BenchRequest } from './fixtures.js'
import type { WorkerCommand, WorkerReply, WorkerResult } from './load-worker.js'
import { TokenMode, ratios, summarize, summarizeRatios, toMarkdown } from './report.js'
import type { AuditReport, BenchReport, PhaseReport, ProbeReport } from './report.js'
import {
  CERBOS_BIN,
  REPO_ROOT,
  findPid,
  processCpuMs,
  startCerbos,
  startEcho,
  startVerdict,
} from './servers.js'
import type { ServerProcess } from './servers.js'
import { TargetKind } from './targets.js'

/** Run sizes; every phase ends at its request bound or its time bound, whichever comes first. */
interface Settings {
  concurrencies: number[]
  workers: number
  /** Time bound of each measured phase. */
  durationMs: number
  /** Distinct tokens (first-sight request bound) per concurrency level, by level. */
  firstSight: Record<number, number>
  /** Request bound of a cached-token phase. */
  cachedMax: number
  /** Unmeasured calls before a target's first phase (JIT, connections, caches). */
  warmupMs: number
  warmupMax: number
  /** Times the whole target sequence is measured; each round restarts every server. */
  rounds: number
}

const FULL: Settings = {
  concurrencies: [1, 16, 64],
  workers: 2,
  durationMs: 4000,
  firstSight: { 1: 2500, 16: 5000, 64: 6000 },
  cachedMax: 100_000,
  // Long enough for V8 to finish optimising the hot paths: after 1 s, TurboFan was still
  // compiling on the worker threads and the main thread ran baseline code (perf), which a
  // sidecar running for days never does. Verdict has more JS on its path than the echo floor,
  // so a short warm-up penalised it more.
  warmupMs: 5000,
  warmupMax: 30_000,
  rounds: 1,
}

const SMOKE: Settings = {
  concurrencies: [1, 16, 64],
  workers: 2,
  durationMs: 300,
  firstSight: { 1: 40, 16: 96, 64: 128 },
  cachedMax: 200,
  warmupMs: 200,
  warmupMax: 100,
  rounds: 1,
}

/** The sidecar's default audit stream (src/audit). */
const AUDIT_STREAM = 'VERDICT_AUDIT'

const MACHINE_NOTE =
  "Servers and load-generating clients share this machine's cores, loopback only: absolute numbers " +
  "include the clients' CPU contention; compare ratios within one run."

/** A pool of forked client processes bound to one target. */
class LoadClients {
  readonly #procs: ChildProcess[]

  private constructor(procs: ChildProcess[]) {
    this.#procs = procs
  }

  static async connect(n: number, kind: TargetKind, address: string): Promise<LoadClients> {
    const file = fileURLToPath(new URL('./load-worker.ts', import.meta.url))
    const procs = Array.from({ length: n }, () =>
      fork(file, [], {
        execArgv: ['--import', 'tsx'],
        serialization: 'advanced',
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    )
    const clients = new LoadClients(procs)
    try {
      await Promise.all(
        procs.map((p) => clients.#ask(p, { type: 'connect', kind, address }, 'ready')),
      )
    } catch (err) {
      clients.close()
      throw err
    }
    return clients
  }

  #ask(p: ChildProcess, cmd: WorkerCommand, want: 'ready'): Promise<void>
  #ask(p: ChildProcess, cmd: WorkerCommand, want: 'result'): Promise<WorkerResult>
  #ask(
    p: ChildProcess,
    cmd: WorkerCommand,
    want: 'ready' | 'result',
  ): Promise<void | WorkerResult> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`load worker exited (${code})`))
      const onMessage = (m: WorkerReply) => {
        p.off('exit', onExit)
        p.off('message', onMessage)
        if (m.type === 'error') reject(new Error(`load worker: ${m.message}`))
        else if (m.type !== want)
          reject(new Error(`load worker answered ${m.type}, expected ${want}`))
        else resolve(m.type === 'result' ? m.result : undefined)
      }
      p.on('message', onMessage)
      p.once('exit', onExit)
      p.send(cmd)
    })
  }

  /**
   * Runs one phase: splits concurrency over the workers; `distinct` requests are split so no
   * token is sent twice, otherwise every worker cycles through the same list up to `maxRequests`
   * in total.
   */
  async run(
    requests: BenchRequest[],
    concurrency: number,
    maxRequests: number,
    durationMs: number,
    distinct: boolean,
  ): Promise<WorkerResult[]> {
    const active = this.#procs.slice(0, Math.min(this.#procs.length, concurrency))
    const share = (total: number, i: number) =>
      Math.floor(total / active.length) + (i < total % active.length ? 1 : 0)
    await Promise.all(
      active.map((p, i) => {
        const mine = distinct ? requests.filter((_, j) => j % active.length === i) : requests
        return this.#ask(
          p,
          {
            type: 'prepare',
            requests: mine,
            concurrency: share(concurrency, i),
            maxRequests: distinct ? mine.length : share(maxRequests, i),
            durationMs,
          },
          'ready',
        )
      }),
    )
    return Promise.all(active.map((p) => this.#ask(p, { type: 'start' }, 'result')))
  }

  close(): void {
    for (const p of this.#procs) {
      if (p.connected) p.send({ type: 'exit' } satisfies WorkerCommand)
      setTimeout(() => p.kill('SIGKILL'), 2000).unref()
    }
  }
}

/** A target to measure: how to start it and which token modes apply. */
interface TargetPlan {
  label: string
  kind: TargetKind
  tokenModes: TokenMode[]
  start(): Promise<ServerProcess>
  /** Measured only if this says so once the targets before it are done. */
  when?: () => boolean
}

function log(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`)
}

async function measureTarget(
  plan: TargetPlan,
  s: Settings,
  tokens: {
    firstSight: Map<number, BenchRequest[]>
    cached: BenchRequest[]
    forged: BenchRequest[]
  },
  phases: PhaseReport[],
  probes: ProbeReport[],
  round: number,
  auxCpuMs?: () => number,
): Promise<number> {
  const server = await plan.start()
  let clients: LoadClients | undefined
  // Every answered call is a decision, and with audit on each must become one event.
  let decisions = 0
  const count = (results: WorkerResult[]) => {
    for (const r of results) decisions += r.ok + r.wrong
    return results
  }
  try {
    clients = await LoadClients.connect(s.workers, plan.kind, server.address)
    count(await clients.run(tokens.cached, 16, s.warmupMax, s.warmupMs, false))
    if (plan.kind !== TargetKind.ECHO) {
      // Proof that the target verifies signatures at all: a target that only decodes the JWT
      // would be fast and wrong.
      const forged = count(await clients.run(tokens.forged, 1, tokens.forged.length, 10_000, true))
      const sum = (k: 'ok' | 'errors') => forged.reduce((n, r) => n + r[k], 0)
      probes.push({
        target: plan.label,
        forged: tokens.forged.length,
        rejected: sum('ok') + sum('errors'),
      })
    }
    for (const c of s.concurrencies) {
      for (const mode of plan.tokenModes) {
        const distinct = mode === TokenMode.FIRST_SIGHT
        const reqs = distinct ? tokens.firstSight.get(c)! : tokens.cached
        const before = server.cpuMs()
        const auxBefore = auxCpuMs?.()
        const results = count(
          await clients.run(reqs, c, distinct ? reqs.length : s.cachedMax, s.durationMs, distinct),
        )
        const cpu = server.cpuMs() - before
        const auxCpu = auxBefore === undefined ? undefined : auxCpuMs!() - auxBefore
        const p = summarize(
          { target: plan.label, tokens: mode, concurrency: c, round },
          results,
          cpu,
          auxCpu,
        )
        phases.push(p)
        log(
          `${p.target} ${p.tokens} c=${c}: ${p.rps.toFixed(0)} req/s p50 ${p.p50Ms.toFixed(3)} ms, ${p.wrong} wrong, ${p.errors} errors`,
        )
      }
    }
  } finally {
    clients?.close()
    // Stopping the sidecar flushes its audit sink.
    await server.stop()
  }
  return decisions
}

/** Messages in the audit stream so far, or -1 when it cannot be read. */
async function auditEvents(url: string): Promise<number> {
  const nc = await natsConnect({ servers: url })
  try {
    const jsm = await jetstreamManager(nc)
    const info = await jsm.streams.info(AUDIT_STREAM)
    return info.state.messages
  } catch {
    return -1
  } finally {
    await nc.close()
  }
}

/** Runs the benchmark and returns its report; `argv` are the flags after `npm run bench --`. */
export async function runBench(argv: string[]): Promise<BenchReport> {
  const { values } = parseArgs({
    args: argv,
    options: {
      smoke: { type: 'boolean' },
      out: { type: 'string' },
      workers: { type: 'string' },
      duration: { type: 'string' },
      targets: { type: 'string' },
      concurrency: { type: 'string' },
      tokens: { type: 'string' },
      profile: { type: 'string' },
      'node-args': { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
    },
  })
  const smoke = values.smoke === true
  const s: Settings = { ...(smoke ? SMOKE : FULL) }
  const positive = (flag: string, v: string): number => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < 1)
      throw new TypeError(`--${flag} must be a positive integer, got ${v}`)
    return n
  }
  if (values.workers !== undefined) s.workers = positive('workers', values.workers)
  if (values.duration !== undefined) s.durationMs = positive('duration', values.duration)
  if (values.warmup !== undefined) s.warmupMs = positive('warmup', values.warmup)
  if (values.rounds !== undefined) s.rounds = positive('rounds', values.rounds)
  if (values.concurrency !== undefined)
    s.concurrencies = values.concurrency.split(',').map((c) => positive('concurrency', c.trim()))
  const tokenFilter = values.tokens === undefined ? undefined : new Set(values.tokens.split(',').map((t) => t.trim()))
  for (const t of tokenFilter ?? []) {
    if (t !== TokenMode.FIRST_SIGHT && t !== TokenMode.CACHED)
      throw new TypeError(`--tokens takes ${TokenMode.FIRST_SIGHT} and/or ${TokenMode.CACHED}, got ${t}`)
  }
  // V8 CPU profiles of each server process, written when it stops (one .cpuprofile per process).
  const nodeArgs = [
    ...(values.profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${resolve(values.profile)}`]),
    ...(values['node-args'] === undefined ? [] : values['node-args'].split(' ').filter((a) => a !== '')),
  ]
  const outDir = resolve(values.out ?? join(REPO_ROOT, 'bench', 'results'))
  const only =
    values.targets === undefined
      ? undefined
      : new Set(values.targets.split(',').map((t) => t.trim()))

  const startedAt = new Date().toISOString()
  const loadBefore = loadavg()[0]!
  const dir = await mkdtemp(join(tmpdir(), 'verdict-bench-'))
  const skipped: BenchReport['skipped'] = []
  const phases: PhaseReport[] = []
  const probes: ProbeReport[] = []
  const audit: AuditReport[] = []
  let nats: NatsServerHandle | undefined
  try {
    const mintStart = performance.now()
    log(`minting tokens (${Object.values(s.firstSight).reduce((a, b) => a + b, 0)} first-sight)`)
    const issuer: BenchIssuer = await createBenchIssuer(join(dir, 'jwks.json'))
    const firstSight = new Map<number, BenchRequest[]>()
    for (const c of s.concurrencies)
      firstSight.set(c, await buildRequests(issuer, s.firstSight[c] ?? 100, true))
    const cached = await buildRequests(issuer, CASES.length * 8, false)
    const tokens = { firstSight, cached, forged: await issuer.forgedRequests() }
    log(`tokens ready in ${((performance.now() - mintStart) / 1000).toFixed(1)} s`)

    const bundle = join(dir, 'trades.tar.gz')
    const build = spawnSync(
      process.execPath,
      ['bin/verdict.js', 'build', 'policies/trades', '-o', bundle],
      {
        cwd: REPO_ROOT,
        encoding: 'utf8',
      },
    )
    const verdictReady = build.status === 0
    if (!verdictReady)
      skipped.push({
        target: 'verdict',
        reason: `verdict build failed: ${(build.stderr || build.stdout).trim()}`,
      })

    nats = await startNatsServer()
    const natsPort = String(nats.port)
    const natsPid = findPid((argv) => argv[0]!.endsWith('nats-server') && argv.includes(natsPort))
    const policyDir = join(dir, 'cerbos-policies')
    await cp(join(REPO_ROOT, 'bench', 'cerbos', 'policies'), policyDir, { recursive: true })

    const verdictOpts = {
      bundle,
      jwks: issuer.jwksPath,
      issuer: BENCH_ISSUER,
      audience: BENCH_AUDIENCE,
      nats: nats.url,
      auditSpool: join(dir, 'audit-spool'),
    }
    const both = [TokenMode.FIRST_SIGHT, TokenMode.CACHED].filter((m) => tokenFilter?.has(m) ?? true)
    const plans: TargetPlan[] = [
      {
        label: 'echo',
        kind: TargetKind.ECHO,
        tokenModes: [TokenMode.NONE],
        start: () => startEcho('127.0.0.1:0', nodeArgs),
      },
    ]
    if (verdictReady) {
      plans.push({
        label: 'verdict',
        kind: TargetKind.VERDICT,
        tokenModes: both,
        start: () => startVerdict({ ...verdictOpts, nodeArgs, grpc: '127.0.0.1:0' }),
      })
      plans.push({
        label: 'verdict-unix',
        kind: TargetKind.VERDICT,
        tokenModes: both,
        start: () => startVerdict({ ...verdictOpts, nodeArgs, grpc: `unix://${join(dir, 'verdict.sock')}` }),
      })
      // The floor for the unix row, worth its time only when that row exists.
      plans.push({
        label: 'echo-unix',
        kind: TargetKind.ECHO,
        tokenModes: [TokenMode.NONE],
        start: () => startEcho(`unix://${join(dir, 'echo.sock')}`, nodeArgs),
        when: () => phases.some((p) => p.target === 'verdict-unix'),
      })
    }
    if (!existsSync(CERBOS_BIN)) {
      skipped.push({ target: 'cerbos', reason: `no Cerbos binary at ${CERBOS_BIN} (npm install)` })
    } else {
      plans.push({
        label: 'cerbos',
        kind: TargetKind.CERBOS,
        tokenModes: both,
        start: () => startCerbos({ policyDir, jwks: issuer.jwksPath }),
      })
    }

    // Rounds interleave the targets (echo, Verdict, Cerbos, echo, ...), so a slow spell of the
    // machine lands on all of them rather than on one target's whole measurement.
    for (let round = 1; round <= s.rounds; round++) {
      for (const plan of plans) {
        if (only && !only.has(plan.label)) continue
        if (plan.when && !plan.when()) continue
        log(`measuring ${plan.label}${s.rounds > 1 ? ` (round ${round} of ${s.rounds})` : ''}`)
        try {
          const before =
            plan.kind === TargetKind.VERDICT ? Math.max(0, await auditEvents(nats.url)) : 0
          const decisions = await measureTarget(
            plan,
            s,
            tokens,
            phases,
            probes,
            round,
            plan.kind === TargetKind.VERDICT && natsPid !== undefined
              ? () => processCpuMs(natsPid)
              : undefined,
          )
          if (plan.kind === TargetKind.VERDICT) {
            audit.push({
              target: plan.label,
              decisions,
              events: (await auditEvents(nats.url)) - before,
            })
          }
        } catch (err) {
          const reason =
            err instanceof Error ? err.message.split('\n')[0]!.slice(0, 300) : String(err)
          skipped.push({ target: plan.label, reason })
          log(`${plan.label} not measured: ${reason}`)
        }
      }
    }
  } finally {
    await nats?.stop()
    await rm(dir, { recursive: true, force: true })
  }

  const cpu = cpus()
  const report: BenchReport = {
    startedAt,
    mode: smoke ? 'smoke' : 'full',
    machine: {
      cpus: cpu.length,
      model: cpu[0]?.model.trim() ?? 'unknown',
      node: process.version,
      loadAvg1m: { start: loadBefore, end: loadavg()[0]! },
      note: MACHINE_NOTE,
    },
    settings: {
      ...s,
      audit:
        'Verdict publishes every decision to a local nats-server (JetStream); Cerbos audit off',
    },
    skipped,
    phases,
    probes,
    audit,
    ratios: ratios(phases),
    ratioSummary: [],
  }
  report.ratioSummary = summarizeRatios(report.ratios)
  const md = toMarkdown(report)
  await mkdir(outDir, { recursive: true })
  await writeFile(join(outDir, 'latest.md'), md)
  await writeFile(join(outDir, 'latest.json'), JSON.stringify(report, null, 2) + '\n')
  process.stdout.write(md)
  return report
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runBench(process.argv.slice(2)).then(
    (report) => {
      // Wrong answers make the run fail: a fast wrong answer is not a result.
      if (
        report.phases.some((p) => p.wrong > 0) ||
        report.probes.some((p) => p.rejected < p.forged)
      ) {
        process.exitCode = 1
      }
    },
    (err: unknown) => {
      process.stderr.write(
        `bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      )
      process.exitCode = 1
    },
  )
}
