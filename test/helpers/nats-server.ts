/**
 * Test helper: runs a real nats-server (the Debian package, 2.9.x) with JetStream on a free
 * loopback port, so audit and end-to-end tests talk to a real broker instead of a mock.
 * `restart()` keeps port and store dir, which is how tests simulate an outage and recovery.
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { canConnect, freePort } from './net.js'

/** Where the Debian package installs the server binary; overridable for other machines. */
const DEFAULT_NATS_BIN = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server'

/** Options for {@link startNatsServer}. */
export interface NatsServerOptions {
  /** Port to listen on; a free one is picked when omitted. */
  port?: number
  /** JetStream store dir; a fresh temp dir (removed by `stop()`) when omitted. */
  storeDir?: string
  /** How long to wait for the server to accept connections. Default 10 s. */
  startTimeoutMs?: number
  /** Path of the nats-server binary. */
  bin?: string
  /** More command-line arguments, e.g. `['-c', configFile]` for settings that have no flag. */
  args?: string[]
}

/** A running test nats-server. */
export interface NatsServerHandle {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  readonly storeDir: string
  /** Kill the server and remove its temp store dir (if the helper created it). */
  stop(): Promise<void>
  /** Kill only the process (an outage); `start` brings it back. */
  kill(): Promise<void>
  /** Start the process again on the same port and store dir (after `kill`). */
  start(): Promise<void>
  /** `kill()` then `start()`. */
  restart(): Promise<void>
}

/** Servers still running; killed if the test process exits without stopping them. */
const live = new Set<ChildProcess>()
let exitHook = false

function track(proc: ChildProcess) {
  live.add(proc)
  proc.once('exit', () => live.delete(proc))
  if (!exitHook) {
    exitHook = true
    process.once('exit', () => {
      for (const p of live) p.kill('SIGKILL')
    })
  }
}



async function waitForPort(port: number, timeoutMs: number, child: ChildProcess, log: () => string) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`nats-server exited with ${child.exitCode}: ${log()}`)
    }
    if (await canConnect(port)) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`nats-server did not accept connections on ${port} in ${timeoutMs} ms: ${log()}`)
}

/** Start a JetStream-enabled nats-server on loopback and wait until it accepts connections. */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const bin = opts.bin ?? DEFAULT_NATS_BIN
  const port = opts.port ?? (await freePort())
  const ownsStore = opts.storeDir === undefined
  const storeDir = opts.storeDir ?? (await mkdtemp(join(tmpdir(), 'verdict-nats-')))
  const timeout = opts.startTimeoutMs ?? 10_000
  let child: ChildProcess | undefined
  let output = ''

  const start = async () => {
    if (child && child.exitCode === null) return
    output = ''
    const proc = spawn(bin, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, ...(opts.args ?? [])], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    // Keep only the tail: enough to explain a failed start without growing without bound.
    const keep = (b: Buffer) => {
      output = (output + b.toString()).slice(-4000)
    }
    proc.stdout?.on('data', keep)
    proc.stderr?.on('data', keep)
    child = proc
    track(proc)
    await waitForPort(port, timeout, proc, () => output)
  }

  const kill = async () => {
    const proc = child
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000)
      proc.once('exit', () => {
        clearTimeout(timer)
        resolve()
      })
      proc.kill('SIGTERM')
    })
  }

  await start()

  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    start,
    kill,
    async restart() {
      await kill()
      await start()
    },
    async stop() {
      await kill()
      if (ownsStore) await rm(storeDir, { recursive: true, force: true })
    },
  }
}
