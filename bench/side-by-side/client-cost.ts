/**
 * `npm run bench:clients`: what the side-by-side benchmark's load generator costs, per client.
 * Loads the echo server with the same forked load workers `npm run bench` uses, once per gRPC
 * client (`h2`, `grpc-js`, `node-http2`), in alternating phases, and reports each client's CPU
 * per request (the workers' own `process.cpuUsage()`) next to the echo server's and the
 * throughput. Not part of the test suite.
 *
 * Flags: `--clients h2,grpc-js,node-http2` (default all three), `--rounds <n>` (default 3),
 * `--duration <ms>` (per phase, default 3000), `--warmup <ms>` (per client before the rounds,
 * default 2000), `--concurrency <n>` (default 64), `--workers <n>` (client processes per client
 * kind, default 2 like the bench), `--address <host:port>` (an echo server already running, e.g.
 * `npx tsx bench/side-by-side/echo-server.ts 127.0.0.1:50099`; default: start one).
 *
 * @module
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { buildRequests, CASES, createBenchIssuer } from './fixtures.js'
import { LoadClientKind } from './load-worker.js'
import type { WorkerResult } from './load-worker.js'
import { spreadOf } from './report.js'
import { LoadClients } from './run.js'
import { startEcho } from './servers.js'
import type { ServerProcess } from './servers.js'
import { TargetKind } from './targets.js'

/** One measured phase of one client. */
interface Row {
  round: number
  client: LoadClientKind
  rps: number
  clientCpuUs: number
  serverCpuUs: number
  errors: number
}


async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      clients: { type: 'string' },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      concurrency: { type: 'string' },
      workers: { type: 'string' },
      address: { type: 'string' },
    },
  })
  const int = (flag: string, v: string | undefined, d: number): number => {
    if (v === undefined) return d
    const n = Number(v)
    if (!Number.isInteger(n) || n < 1)
      throw new TypeError(`--${flag} must be a positive integer, got ${v}`)
    return n
  }
  const rounds = int('rounds', values.rounds, 3)
  const durationMs = int('duration', values.duration, 3000)
  const warmupMs = int('warmup', values.warmup, 2000)
  const concurrency = int('concurrency', values.concurrency, 64)
  const workers = int('workers', values.workers, 2)
  const all: string[] = Object.values(LoadClientKind)
  const kinds = (values.clients?.split(',').map((k) => k.trim()) ?? all) as LoadClientKind[]
  for (const k of kinds)
    if (!all.includes(k)) throw new TypeError(`--clients takes ${all.join(', ')}, got ${k}`)

  const dir = await mkdtemp(join(tmpdir(), 'verdict-client-cost-'))
  let echo: ServerProcess | undefined
  const pools = new Map<LoadClientKind, LoadClients>()
  try {
    const issuer = await createBenchIssuer(join(dir, 'jwks.json'))
    const requests = await buildRequests(issuer, CASES.length * 8, false)
    if (values.address === undefined) echo = await startEcho()
    const address = values.address ?? echo!.address
    const serverCpuMs = echo ? () => echo!.cpuMs() : undefined
    for (const k of kinds)
      pools.set(k, await LoadClients.connect(workers, TargetKind.ECHO, address, k))
    const phase = (k: LoadClientKind, ms: number): Promise<WorkerResult[]> =>
      pools.get(k)!.run(requests, concurrency, Number.MAX_SAFE_INTEGER, ms, false)
    for (const k of kinds) await phase(k, warmupMs)
    const rows: Row[] = []
    const loadStart = loadavg()[0]!
    for (let round = 1; round <= rounds; round++) {
      for (const k of kinds) {
        const before = serverCpuMs?.()
        const results = await phase(k, durationMs)
        const serverMs = before === undefined ? NaN : serverCpuMs!() - before
        const ok = results.reduce((n, r) => n + r.ok, 0)
        const wrong = results.reduce((n, r) => n + r.wrong, 0)
        const errors = results.reduce((n, r) => n + r.errors, 0)
        if (wrong > 0)
          throw new Error(
            `${k}: ${wrong} wrong answers: ${results.flatMap((r) => r.samples).join('; ')}`,
          )
        const wallMs = Math.max(...results.map((r) => r.elapsedMs))
        const row: Row = {
          round,
          client: k,
          rps: (ok * 1000) / wallMs,
          clientCpuUs: results.reduce((n, r) => n + r.cpuUs, 0) / ok,
          serverCpuUs: (serverMs * 1000) / ok,
          errors,
        }
        rows.push(row)
        process.stderr.write(
          `round ${round} ${k}: ${row.rps.toFixed(0)} req/s, client ${row.clientCpuUs.toFixed(1)} µs/req, server ${row.serverCpuUs.toFixed(0)} µs/req, ${errors} errors\n`,
        )
      }
    }
    const out: string[] = [
      `# Load client cost against the echo server`,
      '',
      `${new Date().toISOString()} · ${cpus().length} × ${cpus()[0]?.model.trim()} · Node ${process.version} · load average ${loadStart.toFixed(2)} → ${loadavg()[0]!.toFixed(2)}`,
      '',
      `c=${concurrency} over ${workers} worker process(es) per client, ${rounds} alternating rounds of ${durationMs} ms after ${warmupMs} ms of warm-up each.`,
      `Echo server: ${echo ? `pid ${echo.pid}` : `${address} (not started here; its CPU is not measured)`}.`,
      '',
      '| client | req/s | client CPU µs/req | echo server CPU µs/req | errors |',
      '| --- | ---: | ---: | ---: | ---: |',
    ]
    const range = (xs: number[], d: number) => {
      if (xs.length === 0 || xs.some((x) => !Number.isFinite(x))) return '–'
      const { median, min, max } = spreadOf(xs)
      return `${median.toFixed(d)} (${min.toFixed(d)}–${max.toFixed(d)})`
    }
    for (const k of kinds) {
      const mine = rows.filter((r) => r.client === k)
      out.push(
        `| ${k} | ${range(
          mine.map((r) => r.rps),
          0,
        )} | ${range(
          mine.map((r) => r.clientCpuUs),
          1,
        )} | ${range(
          mine.map((r) => r.serverCpuUs),
          0,
        )} | ${mine.reduce((n, r) => n + r.errors, 0)} |`,
      )
    }
    out.push('', 'Median over the rounds (lowest–highest).', '')
    process.stdout.write(out.join('\n'))
  } finally {
    for (const p of pools.values()) p.close()
    await echo?.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(
    `bench:clients: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  )
  process.exitCode = 1
})
