/**
 * `npm run bench`: Verdict's Check against the floor of a Node gRPC round trip (a grpc-js echo
 * server) and against Cerbos deciding the same trades policy from the same RS256 JWT, in one run
 * on one machine. Load comes from forked client processes at several concurrencies; every answer
 * is checked, and wrong answers are reported instead of counted as speed. Writes Markdown to
 * stdout and `<out>/latest.md`, JSON to `<out>/latest.json`.
 *
 * Method: every target's server and clients are started up front and stay up for the whole run;
 * each is warmed up and, if it is a PDP, sent forged tokens. Then, for each concurrency, token
 * mode and round, every target runs one phase, back to back in target order (echo, verdict,
 * cerbos, verdict-w2, verdict-grpcjs, verdict-unix, echo-unix), so the phases a ratio compares are seconds apart and see the
 * same state of the machine. At the end all servers stop (Verdict flushes its audit sink) and
 * each Verdict target's audit events are counted by its subject in JetStream.
 *
 * Flags: `--smoke` (tiny counts, one round, for the test suite), `--out <dir>` (default
 * bench/results), `--workers <n>` (client processes per target, default 2), `--duration <ms>`
 * (per phase), `--targets echo,verdict,...` (measure only these: echo, verdict, verdict-w2, verdict-grpcjs, verdict-unix,
 * echo-unix, cerbos), `--concurrency 1,16` (only these levels), `--tokens cached` (only these
 * token modes), `--profile <dir>` (V8 CPU profile of each Node server process over the whole
 * run, written when it stops), `--node-args '<flags>'` (extra Node flags for the Node servers,
 * e.g. GC settings to compare), `--warmup <ms>` (unmeasured load on each target before
 * measuring; default 5000), `--rounds <n>` (phases per cell, default 3; ratios are taken within
 * a round and summarised as median and range), `--client h2|grpc-js|node-http2` (the gRPC client
 * the load workers use, default h2: the bench's own HTTP/2 client, cheap enough that two worker
 * processes do not compete with the servers for the cores the way grpc-js' client did).
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
import { LoadClientKind } from './load-worker.js'
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
  /** The gRPC client the load workers use. */
  client: LoadClientKind
  /** Time bound of each measured phase. */
  durationMs: number
  /** Distinct tokens (first-sight request bound) per concurrency level, by level. */
  firstSight: Record<number, number>
  /** Request bound of a cached-token phase. */
  cachedMax: number
  /** Unmeasured calls before a target's first phase (JIT, connections, caches). */
  warmupMs: number
  warmupMax: number
  /**
   * Unmeasured load (cached tokens, the phase's concurrency) right before each measured phase: a
   * target has sat idle while the others were measured, and its first requests after that pay
   * for cold caches (echo's c=1 CPU per request was 25% higher in its first phase of a run).
   */
  leadInMs: number
  /** Phases per (target, concurrency, token mode), alternating with the other targets'. */
  rounds: number
}

const FULL: Settings = {
  concurrencies: [1, 16, 64],
  workers: 2,
  client: LoadClientKind.H2,
  durationMs: 4000,
  firstSight: { 1: 2500, 16: 5000, 64: 6000 },
  cachedMax: 100_000,
  // Long enough for V8 to finish optimising the hot paths: after 1 s, TurboFan was still
  // compiling on the worker threads and the main thread ran baseline code (perf), which a
  // sidecar running for days never does. Verdict has more JS on its path than the echo floor,
  // so a short warm-up penalised it more.
  warmupMs: 5000,
  warmupMax: 30_000,
  leadInMs: 500,
  rounds: 3,
}

const SMOKE: Settings = {
  concurrencies: [1, 16, 64],
  workers: 2,
  client: LoadClientKind.H2,
  durationMs: 300,
  firstSight: { 1: 40, 16: 96, 64: 128 },
  cachedMax: 200,
  warmupMs: 200,
  warmupMax: 100,
  leadInMs: 50,
  rounds: 1,
}

/** The sidecar's default audit stream (src/audit). */
const AUDIT_STREAM = 'VERDICT_AUDIT'
/** The sidecar's default audit subject prefix: events go to `<prefix>.<service>.<allow|deny>`. */
const AUDIT_SUBJECT_PREFIX = 'verdict.audit'

const MACHINE_NOTE =
  "Servers and load-generating clients share this machine's cores, loopback only: absolute numbers " +
  "include the clients' CPU contention; compare ratios within one run."

/** A pool of forked client processes (load-worker.ts) bound to one target. */
export class LoadClients {
  readonly #procs: ChildProcess[]

  private constructor(procs: ChildProcess[]) {
    this.#procs = procs
  }

  static async connect(
    n: number,
    kind: TargetKind,
    address: string,
    client: LoadClientKind,
  ): Promise<LoadClients> {
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
        procs.map((p) => clients.#ask(p, { type: 'connect', kind, address, client }, 'ready')),
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
  /** For Verdict: its `--service`, which names its audit subjects. */
  service?: string
  start(): Promise<ServerProcess>
  /** Started only if this says so once the targets before it are up. */
  when?: () => boolean
}

/** A target that is up: its server, its clients and what it has answered so far. */
interface Target {
  plan: TargetPlan
  server: ServerProcess
  clients: LoadClients
  /** Every answered call is a decision, and with audit on each must become one event. */
  decisions: number
  /** Why its remaining phases are not measured, once it has gone down mid-run. */
  down?: string
}

/** The run's requests. */
interface Tokens {
  /**
   * First-sight pools by round (index round - 1) and concurrency: the servers live through all
   * rounds, so each round needs tokens none of them has seen.
   */
  firstSight: Map<number, BenchRequest[]>[]
  cached: BenchRequest[]
  forged: BenchRequest[]
}

function log(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`)
}

/** First line of an error, short enough for the report. */
function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0]!.slice(0, 300) : String(err)
}

/** Why a server that ended mid-run is down: how it ended and the last line it wrote. */
function endedReason(server: ServerProcess): string {
  const last = server.log().trim().split('\n').at(-1)?.slice(0, 200)
  return `server ended mid-run (${server.exited()})${last ? `, last output: ${last}` : ''}`
}

/** Adds the answered calls of a phase to the target's decisions. */
function count(t: Target, results: WorkerResult[]): WorkerResult[] {
  for (const r of results) t.decisions += r.ok + r.wrong
  return results
}

/**
 * Starts a target's server and clients, warms it up and, for a PDP, sends the forged-token
 * probe. On failure nothing of it is left running.
 */
async function startTarget(
  plan: TargetPlan,
  s: Settings,
  tokens: Tokens,
  probes: ProbeReport[],
): Promise<Target> {
  const server = await plan.start()
  let clients: LoadClients | undefined
  try {
    clients = await LoadClients.connect(s.workers, plan.kind, server.address, s.client)
    const t: Target = { plan, server, clients, decisions: 0 }
    count(t, await clients.run(tokens.cached, 16, s.warmupMax, s.warmupMs, false))
    if (plan.kind !== TargetKind.ECHO) {
      // Proof that the target verifies signatures at all: a target that only decodes the JWT
      // would be fast and wrong.
      const forged = count(t, await clients.run(tokens.forged, 1, tokens.forged.length, 10_000, true))
      const sum = (k: 'ok' | 'errors') => forged.reduce((n, r) => n + r[k], 0)
      probes.push({
        target: plan.label,
        forged: tokens.forged.length,
        rejected: sum('ok') + sum('errors'),
      })
    }
    return t
  } catch (err) {
    clients?.close()
    await server.stop()
    throw err
  }
}

/** Stops a target's clients and server; stopping the sidecar flushes its audit sink. */
async function stopTarget(t: Target): Promise<void> {
  t.clients.close()
  await t.server.stop()
}

/**
 * The token mode a target is measured with in a slot of `mode`, or undefined if it has none
 * there. A target without tokens (echo) is measured once per concurrency and round, in the slot
 * of the last mode (cached unless `--tokens` says otherwise), next to the cells its ratios matter
 * most for; report.ts pairs that one phase with every Verdict token mode.
 */
function slotMode(plan: TargetPlan, mode: TokenMode, modes: TokenMode[]): TokenMode | undefined {
  if (plan.tokenModes.includes(mode)) return mode
  if (plan.tokenModes.includes(TokenMode.NONE) && mode === modes.at(-1)) return TokenMode.NONE
  return undefined
}

/** Measures one phase of a target: load from its clients, CPU of its server (and of NATS). */
async function measurePhase(
  t: Target,
  cell: { tokens: TokenMode; concurrency: number; round: number },
  s: Settings,
  tokens: Tokens,
  auxCpuMs?: () => number,
): Promise<PhaseReport> {
  const c = cell.concurrency
  const distinct = cell.tokens === TokenMode.FIRST_SIGHT
  const reqs = distinct ? tokens.firstSight[cell.round - 1]!.get(c)! : tokens.cached
  count(t, await t.clients.run(tokens.cached, c, s.cachedMax, s.leadInMs, false))
  const before = t.server.cpuMs()
  const auxBefore = auxCpuMs?.()
  const results = count(
    t,
    await t.clients.run(reqs, c, distinct ? reqs.length : s.cachedMax, s.durationMs, distinct),
  )
  const cpu = t.server.cpuMs() - before
  const auxCpu = auxBefore === undefined ? undefined : auxCpuMs!() - auxBefore
  return summarize({ target: t.plan.label, ...cell }, results, cpu, auxCpu)
}

/**
 * Measures every target that is up in alternating phases: for each concurrency, token mode and
 * round, one phase per target, back to back in target order, so that the phases a ratio compares
 * see the same state of the machine. A target that goes down is marked and left out from then on.
 */
async function measureAll(
  up: Target[],
  modes: TokenMode[],
  s: Settings,
  tokens: Tokens,
  phases: PhaseReport[],
  skipped: BenchReport['skipped'],
  natsCpuMs?: () => number,
): Promise<void> {
  const markDown = (t: Target, why: string) => {
    t.down = why
    skipped.push({ target: t.plan.label, reason: `${why}; its remaining phases were not measured` })
    log(`${t.plan.label} down: ${why}`)
  }
  for (const concurrency of s.concurrencies) {
    for (const mode of modes) {
      for (let round = 1; round <= s.rounds; round++) {
        for (const t of up) {
          const tokenMode = slotMode(t.plan, mode, modes)
          if (tokenMode === undefined || t.down !== undefined) continue
          if (t.server.exited() !== undefined) {
            markDown(t, endedReason(t.server))
            continue
          }
          try {
            const p = await measurePhase(
              t,
              { tokens: tokenMode, concurrency, round },
              s,
              tokens,
              t.plan.kind === TargetKind.VERDICT ? natsCpuMs : undefined,
            )
            phases.push(p)
            log(
              `${p.target} ${p.tokens} c=${concurrency}${s.rounds > 1 ? ` round ${round}` : ''}: ${p.rps.toFixed(0)} req/s p50 ${p.p50Ms.toFixed(3)} ms, CPU µs/req server ${p.cpuUsPerReq.toFixed(0)} client ${p.clientCpuUsPerReq.toFixed(1)}, ${p.wrong} wrong, ${p.errors} errors`,
            )
          } catch (err) {
            // A server that died mid-phase also fails the CPU reading; its exit explains more.
            markDown(t, t.server.exited() === undefined ? reasonOf(err) : endedReason(t.server))
          }
        }
      }
    }
  }
}

/**
 * Audit events in the stream on `verdict.audit.<service>.>`, or -1 when the stream cannot be
 * read. Counting by subject tells apart the Verdict targets that share the stream.
 */
async function auditEvents(url: string, service: string): Promise<number> {
  const nc = await natsConnect({ servers: url })
  try {
    const jsm = await jetstreamManager(nc)
    const info = await jsm.streams.info(AUDIT_STREAM, {
      subjects_filter: `${AUDIT_SUBJECT_PREFIX}.${service}.>`,
    })
    return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0)
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
      client: { type: 'string' },
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
  if (values.client !== undefined) {
    const kinds: string[] = Object.values(LoadClientKind)
    if (!kinds.includes(values.client))
      throw new TypeError(`--client takes ${kinds.join(', ')}, got ${values.client}`)
    s.client = values.client as LoadClientKind
  }
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
    const modes = [TokenMode.FIRST_SIGHT, TokenMode.CACHED].filter((m) => tokenFilter?.has(m) ?? true)
    const perRound = modes.includes(TokenMode.FIRST_SIGHT)
      ? s.concurrencies.reduce((n, c) => n + (s.firstSight[c] ?? 100), 0)
      : 0
    log(`minting tokens (${perRound * s.rounds} first-sight)`)
    const issuer: BenchIssuer = await createBenchIssuer(join(dir, 'jwks.json'))
    const tokens: Tokens = {
      firstSight: [],
      cached: await buildRequests(issuer, CASES.length * 8, false),
      forged: await issuer.forgedRequests(),
    }
    for (let round = 1; round <= s.rounds; round++) {
      const pools = new Map<number, BenchRequest[]>()
      if (perRound > 0)
        for (const c of s.concurrencies)
          pools.set(c, await buildRequests(issuer, s.firstSight[c] ?? 100, true))
      tokens.firstSight.push(pools)
    }
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
    const natsUrl = nats.url
    const natsPort = String(nats.port)
    const natsPid = findPid((argv) => argv[0]!.endsWith('nats-server') && argv.includes(natsPort))
    const policyDir = join(dir, 'cerbos-policies')
    await cp(join(REPO_ROOT, 'bench', 'cerbos', 'policies'), policyDir, { recursive: true })

    const up: Target[] = []
    // Both Verdict targets publish to the one stream at the same time: each under its own
    // service name (so its events can be counted by subject) and with its own spool.
    const verdictPlan = (label: string, service: string, grpc: string, workers = 1, transport?: 'grpc-js'): TargetPlan => ({
      label,
      kind: TargetKind.VERDICT,
      tokenModes: modes,
      service,
      start: () =>
        startVerdict({
          bundle,
          jwks: issuer.jwksPath,
          issuer: BENCH_ISSUER,
          audience: BENCH_AUDIENCE,
          nats: natsUrl,
          auditSpool: join(dir, `audit-spool-${label}`),
          service,
          nodeArgs,
          grpc,
          workers,
          ...(transport === undefined ? {} : { transport }),
        }),
    })
    const plans: TargetPlan[] = [
      {
        label: 'echo',
        kind: TargetKind.ECHO,
        tokenModes: [TokenMode.NONE],
        start: () => startEcho('127.0.0.1:0', nodeArgs),
      },
    ]
    if (verdictReady) plans.push(verdictPlan('verdict', 'bench', '127.0.0.1:0'))
    if (!existsSync(CERBOS_BIN)) {
      skipped.push({ target: 'cerbos', reason: `no Cerbos binary at ${CERBOS_BIN} (npm install)` })
    } else {
      plans.push({
        label: 'cerbos',
        kind: TargetKind.CERBOS,
        tokenModes: modes,
        start: () => startCerbos({ policyDir, jwks: issuer.jwksPath }),
      })
    }
    if (verdictReady) {
      // `serve --workers 2`: one sidecar per core, as Cerbos (Go) uses every core by itself.
      plans.push(verdictPlan('verdict-w2', 'bench-w2', '127.0.0.1:0', 2))
      // The same sidecar on grpc-js (Node's http2): what Verdict's own HTTP/2 server is worth.
      plans.push(verdictPlan('verdict-grpcjs', 'bench-grpcjs', '127.0.0.1:0', 1, 'grpc-js'))
      plans.push(verdictPlan('verdict-unix', 'bench-unix', `unix://${join(dir, 'verdict.sock')}`))
      // The floor for the unix row, worth its time only when that row exists.
      plans.push({
        label: 'echo-unix',
        kind: TargetKind.ECHO,
        tokenModes: [TokenMode.NONE],
        start: () => startEcho(`unix://${join(dir, 'echo.sock')}`, nodeArgs),
        when: () => up.some((t) => t.plan.label === 'verdict-unix'),
      })
    }

    // All targets are up at once and measured in alternating phases (measureAll), so a slow
    // spell of the machine lands on all of them rather than on one target's measurement.
    try {
      for (const plan of plans) {
        if (only && !only.has(plan.label)) continue
        if (plan.when && !plan.when()) continue
        log(`starting ${plan.label}`)
        try {
          up.push(await startTarget(plan, s, tokens, probes))
        } catch (err) {
          skipped.push({ target: plan.label, reason: reasonOf(err) })
          log(`${plan.label} not measured: ${reasonOf(err)}`)
        }
      }
      const natsCpuMs = natsPid === undefined ? undefined : () => processCpuMs(natsPid)
      await measureAll(up, modes, s, tokens, phases, skipped, natsCpuMs)
    } finally {
      await Promise.all(up.map(stopTarget))
    }
    for (const t of up) {
      if (t.plan.service === undefined) continue
      audit.push({
        target: t.plan.label,
        decisions: t.decisions,
        events: await auditEvents(natsUrl, t.plan.service),
      })
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
