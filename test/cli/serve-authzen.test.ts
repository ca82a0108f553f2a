/**
 * `verdict serve --authzen`: the sidecar answers AuthZEN with the bundle it loaded, audits and
 * counts those decisions like gRPC Checks, and under `--workers 2` every worker (never the
 * primary) serves AuthZEN on the one shared port.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { buildBundle, startSidecar } from '../../src/cli/index.js'
import { loadServeConfig } from '../../src/config/index.js'
import { createLogger } from '../../src/server/index.js'
import { freePort } from '../helpers/net.js'
import { parseExposition, sampleValue } from '../helpers/prometheus.js'
import { createTestIssuer, writeJwks } from '../helpers/tokens.js'
import type { TestIssuer } from '../helpers/tokens.js'

const root = join(import.meta.dirname, '..', '..')
const bin = join(root, 'bin', 'verdict.js')
const claims = { sub: 'u-7', scope: 'trades', user_id: 7, roles: ['trader'], locations: ['NY'] }
const trade = (owner: number) => ({ type: 'trade', id: 't-1', properties: { owner_id: owner, location: 'NY' } })

let dir: string
let issuer: TestIssuer
const running = new Set<ChildProcess>()

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-serve-authzen-'))
  issuer = await createTestIssuer({ alg: 'ES256' })
  await writeJwks(join(dir, 'jwks.json'), [issuer])
  await buildBundle({ source: join(root, 'policies/trades'), output: join(dir, 'trades.tar.gz'), entrypoints: [], revision: 'r1' })
}, 60_000)

afterEach(() => {
  for (const c of running) c.kill('SIGKILL')
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const flags = (extra: Record<string, string>) => ({
  'insecure-skip-bundle-verification': 'true',
  bundle: join(dir, 'trades.tar.gz'),
  jwks: join(dir, 'jwks.json'),
  issuer: issuer.issuer,
  audience: issuer.audience,
  grpc: '127.0.0.1:0',
  'shutdown-grace': '1s',
  ...extra,
})

/**
 * One POST on a connection of its own (`Connection: close`), so node:cluster hands each to a
 * worker. A `unix:///path` address goes over that socket, as `curl --unix-socket` would.
 */
function postOnce(address: string, path: string, body: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const unix = address.startsWith('unix://') ? address.slice('unix://'.length) : undefined
    const req = httpRequest(
      unix === undefined ? `http://${address}${path}` : `http://localhost${path}`,
      { method: 'POST', agent: false, headers: { 'content-type': 'application/json', connection: 'close' }, ...(unix && { socketPath: unix }) },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (text += c))
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

describe('startSidecar: AuthZEN', () => {
  it('serves AuthZEN on a unix socket too', async () => {
    const socket = `unix://${join(dir, 'authzen.sock')}`
    const config = loadServeConfig({ flags: flags({ authzen: socket, http: 'off' }), env: {} })
    config.audit = { output: new Writable({ write: (_c, _e, cb) => cb() }) }
    const sidecar = await startSidecar(config, createLogger({ level: 'error', stream: { write: () => true } as never }))
    try {
      expect(sidecar.authzenAddress).toBe(socket)
      const token = await issuer.mint(claims)
      const res = await postOnce(
        socket,
        '/access/v1/evaluation',
        JSON.stringify({ subject: { type: 'user', id: 'u-7', properties: { access_token: token } }, action: { name: 'read' }, resource: trade(7) }),
      )
      expect(res).toMatchObject({ status: 200, body: { decision: true, context: { code: 'OK' } } })
    } finally {
      await sidecar.stop()
    }
  }, 30_000)

  it('serves AuthZEN with the loaded bundle, audited and counted like any decision', async () => {
    const events: Record<string, any>[] = []
    const config = loadServeConfig({ flags: flags({ authzen: '127.0.0.1:0', http: '127.0.0.1:0' }), env: {} })
    config.audit = {
      output: new Writable({
        write: (chunk, _enc, cb) => {
          for (const line of String(chunk).split('\n')) if (line !== '') events.push(JSON.parse(line))
          cb()
        },
      }),
    }
    const sidecar = await startSidecar(config, createLogger({ level: 'error', stream: { write: () => true } as never }))
    try {
      expect(sidecar.authzenAddress).toMatch(/^127\.0\.0\.1:\d+$/)
      const token = await issuer.mint(claims)
      const res = await postOnce(
        sidecar.authzenAddress!,
        '/access/v1/evaluations',
        JSON.stringify({
          subject: { type: 'user', id: 'u-7', properties: { access_token: token } },
          action: { name: 'read' },
          evaluations: [{ resource: trade(7) }, { resource: trade(8) }, { subject: { type: 'user', id: 'u-8', properties: { access_token: token } }, resource: trade(7) }],
        }),
      )
      expect(res.status).toBe(200)
      expect(res.body.evaluations.map((d: { context: { code: string } }) => d.context.code)).toEqual(['OK', 'POLICY_DENIED', 'SUBJECT_MISMATCH'])
      for (const d of res.body.evaluations) expect(d.context.policy_revision).toBe('r1')
      const bad = await postOnce(sidecar.authzenAddress!, '/access/v1/evaluation', '{')
      expect(bad).toEqual({ status: 400, body: { error: { status: 400, message: 'the request body is not valid JSON' } } })

      // One audit event per decision, under the ids the PEP was given, without the raw token.
      expect(events.map((e) => e.decision_id)).toEqual(res.body.evaluations.map((d: { context: { decision_id: string } }) => d.context.decision_id))
      expect(events.map((e) => e.code)).toEqual(['OK', 'POLICY_DENIED', 'SUBJECT_MISMATCH'])
      expect(events[2]!.subject).toMatchObject({ sub: 'u-7', id: 'u-8' })
      expect(JSON.stringify(events)).not.toContain(token)

      const f = parseExposition(await (await fetch(`http://${sidecar.httpAddress}/metrics`)).text())
      expect(sampleValue(f, 'verdict_decisions_total', { code: 'OK' })).toBe(1)
      expect(sampleValue(f, 'verdict_decisions_total', { code: 'POLICY_DENIED' })).toBe(1)
      expect(sampleValue(f, 'verdict_decisions_total', { code: 'SUBJECT_MISMATCH' })).toBe(1)
      expect(sampleValue(f, 'verdict_authzen_request_errors_total', { status: '400' })).toBe(1)
    } finally {
      await sidecar.stop()
    }
    await expect(fetch(`http://${sidecar.authzenAddress}/.well-known/authzen-configuration`)).rejects.toThrow()
  }, 30_000)

  it('does not listen for AuthZEN unless asked to', async () => {
    const sidecar = await startSidecar(
      loadServeConfig({ flags: flags({ http: 'off' }), env: {} }),
      createLogger({ level: 'error', stream: { write: () => true } as never }),
    )
    try {
      expect(sidecar.authzenAddress).toBeUndefined()
    } finally {
      await sidecar.stop()
    }
  }, 30_000)

  it('fails to start, releasing the gRPC port, when the AuthZEN address is taken', async () => {
    const quiet = createLogger({ level: 'error', stream: { write: () => true } as never })
    const first = await startSidecar(loadServeConfig({ flags: flags({ http: 'off', authzen: '127.0.0.1:0' }), env: {} }), quiet)
    try {
      const grpc = `127.0.0.1:${await freePort()}`
      const config = loadServeConfig({ flags: flags({ http: 'off', grpc, authzen: first.authzenAddress! }), env: {} })
      await expect(startSidecar(config, quiet)).rejects.toThrow(/EADDRINUSE/)
      // The gRPC port it had bound is free again.
      const again = await startSidecar(loadServeConfig({ flags: flags({ http: 'off', grpc }), env: {} }), quiet)
      await again.stop()
    } finally {
      await first.stop()
    }
  }, 30_000)
})

describe('serve --workers 2 --authzen', () => {
  it('serves AuthZEN from every worker on the one port, never from the primary', async () => {
    const [grpcPort, authzenPort, httpPort] = [await freePort(), await freePort(), await freePort()]
    const child = spawn(
      process.execPath,
      [
        bin, 'serve', '--insecure-skip-bundle-verification',
        '--bundle', join(dir, 'trades.tar.gz'),
        '--jwks', join(dir, 'jwks.json'),
        '--issuer', issuer.issuer,
        '--audience', issuer.audience,
        '--shutdown-grace', '2s',
        '--workers', '2',
        '--grpc', `127.0.0.1:${grpcPort}`,
        '--authzen', `127.0.0.1:${authzenPort}`,
        '--http', `127.0.0.1:${httpPort}`,
        '--log-level', 'debug',
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    running.add(child)
    const lines: Record<string, any>[] = []
    let out = ''
    let partial = ''
    const take = (b: Buffer): void => {
      out += b.toString()
      const parts = (partial + b.toString()).split('\n')
      partial = parts.pop()!
      for (const p of parts) {
        try {
          lines.push(JSON.parse(p))
        } catch {
          // not a log line; kept in `out`
        }
      }
    }
    child.stdout!.on('data', take)
    child.stderr!.on('data', take)
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    const waitFor = async <T>(what: string, probe: () => T | undefined): Promise<T> => {
      const deadline = Date.now() + 30_000
      for (;;) {
        const v = probe()
        if (v !== undefined) return v
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${out}`)
        await new Promise((r) => setTimeout(r, 25))
      }
    }

    await waitFor('every worker serving', () => lines.find((l) => l.msg === 'listening' && l.worker === 'primary'))
    const authzenLines = lines.filter((l) => l.msg === 'authzen listening')
    expect(authzenLines.map((l) => l.worker).sort()).toEqual([0, 1])
    expect(authzenLines.every((l) => l.address === `127.0.0.1:${authzenPort}`)).toBe(true)

    const address = `127.0.0.1:${authzenPort}`
    const token = await issuer.mint(claims)
    const n = 20
    const answers = []
    for (let i = 0; i < n; i++) {
      const body = { subject: { type: 'user', id: 'u-7', properties: { access_token: token } }, action: { name: 'read' }, resource: trade(i % 4 === 0 ? 8 : 7) }
      answers.push(await postOnce(address, '/access/v1/evaluation', JSON.stringify(body)))
    }
    expect(answers.map((a) => a.status)).toEqual(new Array(n).fill(200))
    const allowed = answers.filter((a) => a.body.decision === true).length
    expect(allowed).toBe(15)

    // Every decision was made by a worker, and both workers made some.
    const ids = answers.map((a) => a.body.context.decision_id as string)
    const byWorker = await waitFor('every decision in the debug log', () => {
      const seen = new Map<string, unknown>()
      for (const l of lines) if (l.msg === 'decision') seen.set(String(l.decision_id), l.worker)
      return ids.every((id) => seen.has(id)) ? seen : undefined
    })
    expect(new Set(ids.map((id) => byWorker.get(id)))).toEqual(new Set([0, 1]))

    // The primary's one scrape sums both workers' AuthZEN decisions.
    const f = parseExposition(await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text())
    expect(sampleValue(f, 'verdict_decisions_total', { code: 'OK' })).toBe(allowed)
    expect(sampleValue(f, 'verdict_decisions_total', { code: 'POLICY_DENIED' })).toBe(n - allowed)

    child.kill('SIGTERM')
    expect(await exited).toBe(0)
    await expect(fetch(`http://${address}/.well-known/authzen-configuration`)).rejects.toThrow()
  }, 60_000)
})
