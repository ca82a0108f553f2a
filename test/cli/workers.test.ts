/**
 * `verdict serve --workers N`: the real CLI forks N sidecars on one address (TCP and unix socket),
 * spreads connections over them, restarts a worker that dies, passes SIGHUP on, and on SIGTERM
 * drains every worker and flushes every worker's audit to JetStream before exiting 0. A worker
 * that cannot start stops the whole command with exit code 1.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '../../sdk/src/index.js'
import type { Decision } from '../../sdk/src/index.js'
import { buildBundle } from '../../src/cli/index.js'
import { loadServeConfig } from '../../src/config/index.js'
import { freePort } from '../helpers/net.js'
import { parseExposition, sampleValue } from '../helpers/prometheus.js'
import { startNatsServer } from '../helpers/nats-server.js'
import type { NatsServerHandle } from '../helpers/nats-server.js'
import { createTestIssuer, writeJwks } from '../helpers/tokens.js'
import type { TestIssuer } from '../helpers/tokens.js'

const root = join(import.meta.dirname, '..', '..')
const bin = join(root, 'bin', 'verdict.js')

let dir: string
let nats: NatsServerHandle
let issuer: TestIssuer
const running = new Set<ChildProcess>()

/** A `verdict serve` process and its log lines, parsed. */
interface Serve {
  child: ChildProcess
  lines: Record<string, unknown>[]
  /** Everything the process wrote, for failure messages. */
  text(): string
  exited: Promise<number | null>
}

function serve(extra: string[]): Serve {
  const child = spawn(
    process.execPath,
    [
      bin,
      'serve',
      '--insecure-skip-bundle-verification',
      '--bundle', join(dir, 'b.tar.gz'),
      '--jwks', join(dir, 'jwks.json'),
      '--issuer', issuer.issuer,
      '--audience', issuer.audience,
      '--service', 'workers-test',
      '--shutdown-grace', '2s',
      ...extra,
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  running.add(child)
  const lines: Record<string, unknown>[] = []
  let out = ''
  let partial = ''
  const take = (b: Buffer) => {
    out += b.toString()
    const parts = (partial + b.toString()).split('\n')
    partial = parts.pop()!
    for (const p of parts) {
      try {
        lines.push(JSON.parse(p) as Record<string, unknown>)
      } catch {
        // Not a log line (e.g. `verdict: <error>`); kept in text().
      }
    }
  }
  child.stdout!.on('data', take)
  child.stderr!.on('data', take)
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child)
      resolve(code)
    }),
  )
  return { child, lines, text: () => out, exited }
}

async function waitFor<T>(what: string, s: Serve, probe: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = probe()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${s.text()}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

const primaryListening = (s: Serve) =>
  waitFor('the primary to report every worker serving', s, () =>
    s.lines.find((l) => l.msg === 'listening' && l.worker === 'primary'),
  )

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The decision ids of every audit event in the stream. */
async function auditedIds(): Promise<Set<string>> {
  const nc = await connect({ servers: nats.url })
  try {
    const info = await (await jetstreamManager(nc)).streams.info('VERDICT_AUDIT')
    const consumer = await jetstream(nc).consumers.get('VERDICT_AUDIT')
    const ids = new Set<string>()
    const batch = await consumer.fetch({ max_messages: info.state.messages, expires: 5000 })
    for await (const m of batch) {
      ids.add(String(m.json<{ decision_id: string }>().decision_id))
      if (ids.size === info.state.messages) break
    }
    return ids
  } finally {
    await nc.close()
  }
}

const trade = { type: 'trade', id: 't', properties: { owner_id: 7, location: 'NY' } }

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-workers-'))
  issuer = await createTestIssuer({ alg: 'ES256' })
  await writeJwks(join(dir, 'jwks.json'), [issuer])
  await buildBundle({ source: join(root, 'policies/trades'), output: join(dir, 'b.tar.gz'), entrypoints: [] })
  nats = await startNatsServer()
}, 60_000)

afterEach(() => {
  for (const c of running) c.kill('SIGKILL')
})

afterAll(async () => {
  await nats?.stop()
  await rm(dir, { recursive: true, force: true })
})

describe('serve --workers', () => {
  it('spreads connections over the workers and flushes every worker’s audit on SIGTERM', async () => {
    const port = await freePort()
    const spool = join(dir, 'spool')
    const s = serve(['--workers', '2', '--grpc', `127.0.0.1:${port}`, '--nats', nats.url, '--audit-spool', spool, '--log-level', 'debug'])
    const ready = await primaryListening(s)
    const pids = ready.pids as number[]
    expect(pids).toHaveLength(2)
    expect(ready.address).toBe(`127.0.0.1:${port}`)
    // Each worker has its own spool: slot 0 the configured directory, slot 1 a subdirectory.
    expect(existsSync(spool)).toBe(true)
    expect(existsSync(join(spool, 'worker-1'))).toBe(true)

    const token = await issuer.mint({ scope: 'trades', user_id: 7, roles: ['trader'], locations: ['NY'] })
    const client = createClient({ address: `127.0.0.1:${port}`, connections: 4 })
    const decisions: Decision[] = []
    try {
      for (let i = 0; i < 40; i++) {
        const d = await client.check({ token, action: i % 2 === 0 ? 'update' : 'delete', resource: trade })
        expect(d).toMatchObject(i % 2 === 0 ? { allow: true, code: 'OK' } : { allow: false, code: 'POLICY_DENIED' })
        decisions.push(d)
      }
    } finally {
      client.close()
    }
    // Every decision was made by a worker, and both workers made some.
    const byWorker = await waitFor('every decision in the debug log', s, () => {
      const seen = new Map<string, unknown>()
      for (const l of s.lines) if (l.msg === 'decision') seen.set(String(l.decision_id), l.worker)
      return decisions.every((d) => seen.has(d.decisionId)) ? seen : undefined
    })
    expect(new Set(decisions.map((d) => byWorker.get(d.decisionId)))).toEqual(new Set([0, 1]))

    s.child.kill('SIGTERM')
    expect(await s.exited).toBe(0)
    for (const pid of pids) expect(alive(pid), `worker ${pid} still running`).toBe(false)
    expect(s.lines.filter((l) => l.msg === 'stopped').map((l) => l.worker).sort()).toEqual([0, 1])

    const ids = await auditedIds()
    for (const d of decisions) expect(ids.has(d.decisionId), d.decisionId).toBe(true)
  }, 60_000)

  it('drains and flushes every worker when the primary is killed', async () => {
    const port = await freePort()
    const s = serve(['--workers', '2', '--grpc', `127.0.0.1:${port}`, '--nats', nats.url, '--audit-spool', join(dir, 'spool-kill')])
    const pids = (await primaryListening(s)).pids as number[]
    const token = await issuer.mint({ scope: 'trades', user_id: 7, roles: ['trader'], locations: ['NY'] })
    const client = createClient({ address: `127.0.0.1:${port}`, connections: 2 })
    const decisions: Decision[] = []
    try {
      for (let i = 0; i < 10; i++) decisions.push(await client.check({ token, action: 'update', resource: trade }))
    } finally {
      client.close()
    }
    s.child.kill('SIGKILL')
    await s.exited
    await waitFor('the workers to leave', s, () => (pids.some(alive) ? undefined : true))
    expect(s.lines.filter((l) => l.msg === 'stopped').map((l) => l.worker).sort()).toEqual([0, 1])
    const ids = await auditedIds()
    for (const d of decisions) expect(ids.has(d.decisionId), d.decisionId).toBe(true)
  }, 60_000)

  it('serves on a unix socket, restarts a worker that dies and passes SIGHUP on', async () => {
    const socket = join(dir, 'w.sock')
    const s = serve(['--workers', '2', '--grpc', `unix://${socket}`])
    const pids = (await primaryListening(s)).pids as number[]
    const token = await issuer.mint({ scope: 'trades', user_id: 7, roles: ['trader'], locations: ['NY'] })
    const client = createClient({ address: `unix://${socket}`, connections: 2 })
    try {
      expect(await client.check({ token, action: 'update', resource: trade })).toMatchObject({ allow: true })

      process.kill(pids[1]!, 'SIGKILL')
      const back = await waitFor('the worker to be restarted', s, () =>
        s.lines.find((l) => l.msg === 'worker serving again' && l.worker === 1),
      )
      expect(s.lines.find((l) => l.msg === 'worker exited; restarting it')).toMatchObject({ worker: 1, signal: 'SIGKILL' })
      expect(back.pid).not.toBe(pids[1])
      expect(alive(back.pid as number)).toBe(true)
      for (let i = 0; i < 6; i++) {
        expect(await client.check({ token, action: 'update', resource: trade })).toMatchObject({ allow: true, code: 'OK' })
      }

      const loadedBefore = s.lines.filter((l) => l.msg === 'bundle loaded').length
      s.child.kill('SIGHUP')
      await waitFor('both workers to reload the bundle', s, () =>
        s.lines.filter((l) => l.msg === 'bundle loaded').length >= loadedBefore + 2 ? true : undefined,
      )
    } finally {
      client.close()
    }
    s.child.kill('SIGTERM')
    expect(await s.exited).toBe(0)
    // The shared listening socket is gone with the last worker.
    expect(existsSync(socket)).toBe(false)
  }, 60_000)

  it('exits 1 when a worker cannot start, instead of restarting it forever', async () => {
    // The address is taken, so no worker can listen.
    const port = await freePort()
    const holder = serve(['--grpc', `127.0.0.1:${port}`])
    await waitFor('the first sidecar', holder, () => holder.lines.find((l) => l.msg === 'bundle loaded'))
    const s = serve(['--workers', '2', '--grpc', `127.0.0.1:${port}`])
    expect(await s.exited).toBe(1)
    expect(s.lines.find((l) => l.msg === 'worker exited before serving; stopping')).toBeDefined()
    expect(s.text()).toMatch(/EADDRINUSE|address already in use|No address added/i)
    holder.child.kill('SIGTERM')
    expect(await holder.exited).toBe(0)
  }, 60_000)

  it('serves one scrape for all workers from the primary, and readiness once every worker serves', async () => {
    const port = await freePort()
    const httpPort = await freePort()
    const s = serve(['--workers', '2', '--grpc', `127.0.0.1:${port}`, '--http', `127.0.0.1:${httpPort}`])
    const base = `http://127.0.0.1:${httpPort}`
    await primaryListening(s)
    // The workers do not bind the operations port: only the primary logs it.
    expect(s.lines.filter((l) => l.msg === 'http listening').map((l) => l.worker)).toEqual(['primary'])
    const ready = await fetch(`${base}/readyz`)
    expect(await ready.json()).toMatchObject({ ready: true, workers: 2, ready_workers: 2 })
    expect(ready.status).toBe(200)

    const token = await issuer.mint({ scope: 'trades', user_id: 7, roles: ['trader'], locations: ['NY'] })
    const client = createClient({ address: `127.0.0.1:${port}`, connections: 4 })
    const n = 30
    let allowed = 0
    try {
      const answers = await Promise.all(
        Array.from({ length: n }, (_, i) => client.check({ token, action: i % 3 === 0 ? 'delete' : 'update', resource: trade })),
      )
      allowed = answers.filter((d) => d.allow).length
      expect(allowed).toBe(20)
    } finally {
      client.close()
    }
    const res = await fetch(`${base}/metrics`)
    expect(res.status).toBe(200)
    const f = parseExposition(await res.text())
    expect(sampleValue(f, 'verdict_workers')).toBe(2)
    expect(sampleValue(f, 'verdict_workers_reporting')).toBe(2)
    expect(sampleValue(f, 'verdict_decisions_total', { code: 'OK' })).toBe(allowed)
    expect(sampleValue(f, 'verdict_decisions_total', { code: 'POLICY_DENIED' })).toBe(n - allowed)
    expect(sampleValue(f, 'verdict_decision_duration_seconds_count')).toBe(n)
    expect(sampleValue(f, 'verdict_policy_loads_total', { result: 'ok' })).toBe(2)
    // One revision sample per worker: revisions do not add up.
    const info = f.get('verdict_policy_info')!.samples
    expect(info.map((x) => x.labels.worker).sort()).toEqual(['0', '1'])
    // Every Check went through the token cache of one worker or the other.
    expect(sampleValue(f, 'verdict_token_cache_hits_total') + sampleValue(f, 'verdict_token_cache_misses_total')).toBe(n)

    // A worker that does not answer neither hangs the scrape nor loses its counts, and makes the
    // sidecar not ready.
    const pids = (s.lines.find((l) => l.msg === 'listening' && l.worker === 'primary')!.pids as number[])
    process.kill(pids[1]!, 'SIGSTOP')
    try {
      const started = Date.now()
      const stalled = parseExposition(await (await fetch(`${base}/metrics`)).text())
      expect(Date.now() - started).toBeLessThan(5000)
      expect(sampleValue(stalled, 'verdict_workers_reporting')).toBe(1)
      expect(sampleValue(stalled, 'verdict_decision_duration_seconds_count')).toBe(n)
      const notReady = await fetch(`${base}/readyz`)
      expect(notReady.status).toBe(503)
      expect(await notReady.json()).toMatchObject({ ready: false, ready_workers: 1 })
    } finally {
      process.kill(pids[1]!, 'SIGCONT')
    }
    expect((await fetch(`${base}/readyz`)).status).toBe(200)

    s.child.kill('SIGTERM')
    expect(await s.exited).toBe(0)
  }, 60_000)

  it('accepts auto and rejects a bad count', () => {
    const base = { 'insecure-skip-bundle-verification': 'true', bundle: 'b', jwks: 'j', issuer: 'i', audience: 'a' }
    expect(loadServeConfig({ flags: base, env: {} }).workers).toBe(1)
    expect(loadServeConfig({ flags: { ...base, workers: '3' }, env: {} }).workers).toBe(3)
    expect(loadServeConfig({ flags: base, env: { VERDICT_WORKERS: 'auto' } }).workers).toBeGreaterThanOrEqual(1)
    for (const bad of ['0', '-1', '1.5', 'two', '65']) {
      expect(() => loadServeConfig({ flags: { ...base, workers: bad }, env: {} })).toThrow(/--workers: must be auto or an integer from 1 to 64/)
    }
  })
})
