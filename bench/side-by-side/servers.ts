/**
 * Starts and stops the servers the side-by-side benchmark measures (echo floor, Verdict sidecar,
 * Cerbos) as separate processes, and reads each one's CPU time from /proc so the cost per
 * request is the server's own, not the load generator's.
 *
 * @module
 */
import { fork, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { appendFileSync, readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { canConnect, freePort } from '../../test/helpers/net.js'

/** Repository root, for bin/verdict.js and bench/cerbos. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** Clock ticks per second of /proc/<pid>/stat; 100 on every Linux this runs on. */
const CLK_TCK = 100

/** A server process under measurement. */
export interface ServerProcess {
  name: string
  pid: number
  /** gRPC target for clients, e.g. `127.0.0.1:4321` or `unix:///tmp/x.sock`. */
  address: string
  /** User + system CPU time the process has used so far, in ms. */
  cpuMs(): number
  /** Recent output, to explain a failure. */
  log(): string
  /** How the process ended (`exit code 1`, `signal SIGKILL`), or undefined while it runs. */
  exited(): string | undefined
  stop(): Promise<void>
}

/** Reads utime + stime of a process (all its threads) in ms. */
export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name may hold spaces and parentheses; fields are counted after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  return ((utime + stime) * 1000) / CLK_TCK
}

/**
 * CPU of a process and its children in ms: its own, that of children it has reaped, and that of
 * its live children (a `verdict serve --workers N` primary and its workers).
 */
export function processTreeCpuMs(pid: number): number {
  const fieldsOf = (p: number) => {
    const stat = readFileSync(`/proc/${p}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  }
  const own = fieldsOf(pid)
  // utime, stime, cutime, cstime: fields 14-17 of stat(5), here 11-14 after state.
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14])
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === pid) continue
    try {
      const f = fieldsOf(Number(entry))
      if (Number(f[1]) === pid) ticks += Number(f[11]) + Number(f[12])
    } catch {
      // The process ended while we looked.
    }
  }
  return (ticks * 1000) / CLK_TCK
}

/**
 * Finds the pid of a process whose argument list satisfies `match`, for processes started by
 * helpers that do not hand out their pid (the test nats-server).
 */
export function findPid(match: (argv: string[]) => boolean): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')
      if (match(argv)) return Number(entry)
    } catch {
      // The process ended while we looked.
    }
  }
  return undefined
}



function wrap(
  name: string,
  child: ChildProcess,
  address: string,
  output: () => string,
): ServerProcess {
  return {
    name,
    pid: child.pid!,
    address,
    cpuMs: () => processCpuMs(child.pid!),
    log: output,
    exited: () =>
      child.exitCode !== null
        ? `exit code ${child.exitCode}`
        : child.signalCode !== null
          ? `signal ${child.signalCode}`
          : undefined,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
        child.once('exit', () => {
          clearTimeout(timer)
          resolve()
        })
        child.kill('SIGTERM')
      }),
  }
}

function capture(child: ChildProcess): () => string {
  let out = ''
  // Keep only the tail: enough to explain a failed start without growing without bound.
  const dump = process.env.BENCH_SERVER_LOG
  const keep = (b: Buffer) => {
    if (dump) appendFileSync(`${dump}.${child.pid}`, b)
    out = (out + b.toString()).slice(-4000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  // A binary that cannot start (ENOENT, EACCES) reports here, not by throwing.
  child.on('error', (err) => {
    out += `\n${err.message}`
    child.kill('SIGKILL')
  })
  return () => out
}

/** Waits until `ready()` is true, failing early if the process exits. */
async function waitUntil(
  name: string,
  child: ChildProcess,
  ready: () => Promise<boolean>,
  log: () => string,
  timeoutMs = 20_000,
) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}): ${log()}`)
    }
    if (await ready()) return
    await new Promise((r) => setTimeout(r, 50))
  }
  child.kill('SIGKILL')
  throw new Error(`${name} not ready in ${timeoutMs} ms: ${log()}`)
}

/**
 * Forks the grpc-js echo server (the floor) and waits for its address: `host:0` for a free TCP
 * port (default), or `unix:///path`.
 */
export async function startEcho(address = '127.0.0.1:0', nodeArgs: string[] = []): Promise<ServerProcess> {
  const child = fork(fileURLToPath(new URL('./echo-server.ts', import.meta.url)), [address], {
    execArgv: [...nodeArgs, '--import', 'tsx'],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  })
  const log = capture(child)
  const bound = await new Promise<string>((resolve, reject) => {
    child.once('message', (m: { type: string; address?: string; message?: string }) =>
      m.type === 'listening' ? resolve(m.address!) : reject(new Error(`echo: ${m.message}`)),
    )
    child.once('exit', (code) => reject(new Error(`echo exited (${code}): ${log()}`)))
  })
  return wrap('echo', child, bound, log)
}

/** What the Verdict sidecar is started with. */
export interface VerdictServerOptions {
  bundle: string
  jwks: string
  issuer: string
  audience: string
  /** `host:port` or `unix:///path`. */
  grpc: string
  nats?: string
  /** Audit spool directory, so no spool of an earlier run is replayed into this one. */
  auditSpool?: string
  /** `--service`: the audit subjects are `verdict.audit.<service>.<allow|deny>`. Default `bench`. */
  service?: string
  /** Extra Node flags for the sidecar process, e.g. `--cpu-prof` (bench `--profile`). */
  nodeArgs?: string[]
  /** `--workers`: above 1, CPU is that of the primary and all its workers. */
  workers?: number
  /** `--grpc-transport`: `verdict` (default) or `grpc-js`. */
  transport?: 'verdict' | 'grpc-js'
}

/**
 * Starts `verdict serve` and waits until it has loaded the bundle. Node runs the launcher
 * directly, so the measured pid is the sidecar itself.
 */
export async function startVerdict(o: VerdictServerOptions): Promise<ServerProcess> {
  // The sidecar only logs the address it bound; picking the port here keeps clients simple.
  const grpc = o.grpc.endsWith(':0') ? `${o.grpc.slice(0, -2)}:${await freePort()}` : o.grpc
  const args = [
    ...(o.nodeArgs ?? []),
    'bin/verdict.js',
    'serve',
    // The bench builds its bundle unsigned; verification costs only at load, not per Check.
    '--insecure-skip-bundle-verification',
    '--bundle',
    o.bundle,
    '--jwks',
    o.jwks,
    '--issuer',
    o.issuer,
    '--audience',
    o.audience,
    '--grpc',
    grpc,
    '--service',
    o.service ?? 'bench',
    '--log-level',
    'info',
    ...(o.nats ? ['--nats', o.nats] : []),
    ...(o.auditSpool ? ['--audit-spool', o.auditSpool] : []),
    ...(o.workers !== undefined && o.workers > 1 ? ['--workers', String(o.workers)] : []),
    ...(o.transport !== undefined ? ['--grpc-transport', o.transport] : []),
  ]
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  const log = capture(child)
  const cluster = o.workers !== undefined && o.workers > 1
  // With workers, ready is the primary's `listening` (every worker serves), after their bundles.
  const ready = cluster ? /"listening","worker":"primary"|"bundle rejected"/ : /"bundle (loaded|rejected)"/
  await waitUntil('verdict', child, async () => ready.test(log()), log)
  if (/"bundle rejected"/.test(log())) {
    child.kill('SIGKILL')
    throw new Error(`verdict rejected the bundle: ${log()}`)
  }
  const server = wrap('verdict', child, grpc, log)
  return cluster ? { ...server, cpuMs: () => processTreeCpuMs(child.pid!) } : server
}

/** Where the npm package @cerbos/cerbos-linux-x64 puts the Cerbos binary. */
export const CERBOS_BIN = `${REPO_ROOT}node_modules/@cerbos/cerbos-linux-x64/cerbos-linux-x64`

/** What Cerbos is started with. */
export interface CerbosServerOptions {
  policyDir: string
  jwks: string
}

/** Starts Cerbos with bench/cerbos/config.yaml on free loopback ports. */
export async function startCerbos(o: CerbosServerOptions): Promise<ServerProcess> {
  const grpcPort = await freePort()
  const httpPort = await freePort()
  const child = spawn(
    CERBOS_BIN,
    ['server', `--config=${REPO_ROOT}bench/cerbos/config.yaml`, '--log-level=warn'],
    {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        BENCH_CERBOS_GRPC: `127.0.0.1:${grpcPort}`,
        BENCH_CERBOS_HTTP: `127.0.0.1:${httpPort}`,
        BENCH_CERBOS_POLICY: o.policyDir,
        BENCH_JWKS: o.jwks,
      },
    },
  )
  const log = capture(child)
  await waitUntil('cerbos', child, () => canConnect(grpcPort), log)
  return wrap('cerbos', child, `127.0.0.1:${grpcPort}`, log)
}
