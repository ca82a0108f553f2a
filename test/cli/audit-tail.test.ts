/**
 * `verdict audit tail` against a real nats-server: events are published by the repo's JetStream
 * audit sink (which also creates the stream), plus one message that is not JSON. Most cases call
 * `tailAudit` in process; the CLI cases run `bin/verdict.js` for exit codes, formats and signals.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstream } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import type { NatsConnection } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildDecisionEvent, createAuditSink } from '../../src/audit/index.js'
import type { AuditSink, DecisionEvent } from '../../src/audit/index.js'
import { parseSince } from '../../src/cli/audit-stream.js'
import { parseAuditTailArgs, tailAudit } from '../../src/cli/audit-tail.js'
import type { AuditTailOptions } from '../../src/cli/audit-tail.js'
import { freePort } from '../helpers/net.js'
import { startNatsServer } from '../helpers/nats-server.js'
import type { NatsServerHandle } from '../helpers/nats-server.js'

const root = join(import.meta.dirname, '..', '..')
const bin = join(root, 'bin', 'verdict.js')
const STREAM = 'TAIL_TEST_AUDIT'
/** Events published while a follow runs go to their own stream, so the fixed ones stay fixed. */
const LIVE = 'TAIL_TEST_LIVE'

let nats: NatsServerHandle
let dir: string
let sink: AuditSink
let liveSink: AuditSink
let nc: NatsConnection
/** Stream sequence of the message that is not JSON. */
let garbageSeq: number
/** A time between the older and the newer events. */
let between: Date

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** One decision, as the sidecar would audit it; `id` becomes the decision id. */
function event(
  id: string,
  service: string,
  allow: boolean,
  code: string,
  subjectId: string,
  action: string,
  resource: string,
  reasons: string[] = [],
): DecisionEvent {
  const [type, rid] = resource.split('/')
  return buildDecisionEvent({
    decisionId: id,
    service,
    claims: { sub: `sub-${subjectId}`, client_id: 'web' },
    subject: { type: 'user', id: subjectId },
    action,
    resource: { type: type!, id: rid! },
    allow,
    code,
    reasons,
    policyRevision: 'rev-1',
    latencyMs: 0.2,
  })
}

/** Writes events through the sink and waits until the stream has acknowledged them all. */
async function publish(events: DecisionEvent[], to = sink): Promise<void> {
  const want = to.stats().published + to.stats().replayed + events.length
  for (const e of events) to.write(e)
  // flush() also counts spooled events as done: before the sink's first connection they are.
  for (let i = 0; i < 200; i++) {
    await to.flush()
    const s = to.stats()
    if (s.published + s.replayed >= want) return
    await sleep(25)
  }
  throw new Error(`events not published: ${JSON.stringify(to.stats())}`)
}

const OLDER = [
  event('o1', 'trades-api', true, 'OK', '1', 'read', 'trade/t1'),
  event('o2', 'trades-api', false, 'POLICY_DENIED', '8027', 'read', 'trade/t2', ['not_owner: trade t2 belongs to 1']),
  event('o3', 'reports-api', false, 'TOKEN_EXPIRED', '5', 'read', 'report/r1'),
]
const NEWER = [
  event('n1', 'reports-api', true, 'OK', '8027', 'list', 'report/r2'),
  event('n2', 'trades-api', false, 'INSUFFICIENT_SCOPE', '8027', 'create', 'trade/t3', ['insufficient_scope: no trades scope']),
  event('n3', 'trades-api', true, 'OK', '2', 'read', 'trade/t4'),
]

/** Runs `tailAudit` and collects what it prints. */
async function tail(options: Partial<AuditTailOptions>) {
  const lines: string[] = []
  const warnings: string[] = []
  const result = await tailAudit(
    { servers: nats.url, stream: STREAM, ...options },
    { line: (t) => void lines.push(t), warn: (t) => void warnings.push(t) },
  )
  return { lines, warnings, result, ids: lines.map((l) => (JSON.parse(l) as DecisionEvent).decision_id) }
}

/** Runs the real CLI; resolves with exit code and output. */
function cli(args: string[], onStdout?: (text: string, child: ReturnType<typeof spawn>) => void) {
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (b: Buffer) => {
    stdout += b.toString()
    onStdout?.(stdout, child)
  })
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()))
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('exit', (code) => resolve({ code, stdout, stderr })),
  )
}

beforeAll(async () => {
  nats = await startNatsServer()
  dir = await mkdtemp(join(tmpdir(), 'verdict-tail-'))
  sink = createAuditSink({ nats: { servers: nats.url, stream: STREAM, spoolDir: join(dir, 'a'), lingerMs: 0 } })
  liveSink = createAuditSink({
    nats: { servers: nats.url, stream: LIVE, subjectPrefix: 'live.audit', spoolDir: join(dir, 'b'), lingerMs: 0 },
  })
  nc = await connect({ servers: nats.url })
  await publish(OLDER)
  // Same subject scheme and msgID header as the sink, but not JSON.
  garbageSeq = (await jetstream(nc).publish('verdict.audit.trades-api.deny', '{not json', { msgID: 'garbage-1' })).seq
  await sleep(30)
  between = new Date()
  await sleep(30)
  await publish(NEWER)
})

afterAll(async () => {
  await sink?.close()
  await liveSink?.close()
  await nc?.close()
  await nats?.stop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('tailAudit', () => {
  it('prints every event as stored up to the end, reports the garbage message and returns', async () => {
    const { lines, warnings, result, ids } = await tail({ since: new Date(0) })
    expect(ids).toEqual(['o1', 'o2', 'o3', 'n1', 'n2', 'n3'])
    // json: the stored bytes, i.e. the sink's JSON of the event.
    expect(lines[1]).toBe(JSON.stringify(OLDER[1]))
    expect(warnings).toEqual([`skipped message ${garbageSeq} on verdict.audit.trades-api.deny: not valid JSON`])
    expect(result).toEqual({ printed: 6, skipped: 1 })
  })

  it('filters by service and by allow/deny on the subject', async () => {
    expect((await tail({ since: new Date(0), service: 'trades-api' })).ids).toEqual(['o1', 'o2', 'n2', 'n3'])
    expect((await tail({ since: new Date(0), decision: 'deny' })).ids).toEqual(['o2', 'o3', 'n2'])
    expect((await tail({ since: new Date(0), decision: 'allow', service: 'reports-api' })).ids).toEqual(['n1'])
    expect((await tail({ since: new Date(0), service: 'no-such-api' })).ids).toEqual([])
  })

  it('filters by decision code and subject id', async () => {
    expect((await tail({ since: new Date(0), code: 'OK' })).ids).toEqual(['o1', 'n1', 'n3'])
    expect((await tail({ since: new Date(0), subject: '8027' })).ids).toEqual(['o2', 'n1', 'n2'])
    expect((await tail({ since: new Date(0), subject: 'user:8027', service: 'trades-api', decision: 'deny' })).ids).toEqual(['o2', 'n2'])
  })

  it('starts at --since', async () => {
    const { ids, warnings } = await tail({ since: between })
    expect(ids).toEqual(['n1', 'n2', 'n3'])
    // The garbage message is older than `between`.
    expect(warnings).toEqual([])
    expect((await tail({ since: parseSince('1h') })).ids).toHaveLength(6)
  })

  it('starts with the last n matching events', async () => {
    expect((await tail({ last: 2 })).ids).toEqual(['n2', 'n3'])
    expect((await tail({ last: 2, decision: 'deny' })).ids).toEqual(['o3', 'n2'])
    expect((await tail({ last: 3, code: 'OK' })).ids).toEqual(['o1', 'n1', 'n3'])
    // More than there are: all of them, with the garbage note in its place.
    const all = await tail({ last: 100, service: 'trades-api' })
    expect(all.ids).toEqual(['o1', 'o2', 'n2', 'n3'])
    expect(all.warnings).toHaveLength(1)
  })

  it('searches further back for --last when the newest messages do not match', async () => {
    const bulk = Array.from({ length: 1500 }, (_, i) => event(`b${i}`, 'bulk-api', true, 'OK', '3', 'read', `trade/b${i}`))
    await publish([event('needle', 'bulk-api', false, 'POLICY_DENIED', '3', 'read', 'trade/n'), ...bulk], liveSink)
    const run = (options: Partial<AuditTailOptions>) => tail({ stream: LIVE, service: 'bulk-api', ...options })
    // 1500 newer allows lie between the deny and the end: more than the first window.
    expect((await run({ last: 1, decision: 'deny' })).ids).toEqual(['needle'])
    expect((await run({ last: 2 })).ids).toEqual(['b1498', 'b1499'])
    const many = (await run({ last: 1200, code: 'OK' })).ids
    expect(many).toHaveLength(1200)
    expect(many[0]).toBe('b300')
    expect(many.at(-1)).toBe('b1499')
  })

  it('prints only new events by default, and nothing without --follow', async () => {
    expect(await tail({})).toMatchObject({ lines: [], result: { printed: 0, skipped: 0 } })
  })

  it('follows: prints events published after it started, and stops on abort', async () => {
    const stop = new AbortController()
    const lines: string[] = []
    const run = tailAudit(
      { servers: nats.url, stream: LIVE, follow: true, service: 'live-api', signal: stop.signal },
      { line: (t) => void lines.push(t), warn: () => undefined },
    )
    // Only new events: publish until the consumer is there and one arrives.
    for (let i = 0; lines.length === 0 && i < 50; i++) {
      await publish([event(`live-${i}`, 'live-api', false, 'POLICY_DENIED', '9', 'read', 'trade/x')], liveSink)
      await sleep(100)
    }
    expect(lines.length).toBeGreaterThan(0)
    for (const l of lines) expect((JSON.parse(l) as DecisionEvent).decision_id).toMatch(/^live-/)
    stop.abort()
    await expect(run).resolves.toMatchObject({ skipped: 0 })
  })

  it('says the stream is missing, and who creates it', async () => {
    await expect(tail({ stream: 'NO_SUCH_STREAM', last: 1 })).rejects.toMatchObject({
      code: 'ERR_AUDIT_STREAM_NOT_FOUND',
      message: expect.stringMatching(/stream NO_SUCH_STREAM not found.*creates it on its first audit publish/),
    })
  })

  it('names the URL when NATS is unreachable', async () => {
    const url = `nats://127.0.0.1:${await freePort()}`
    await expect(tailAudit({ servers: url, last: 1 }, { line: () => undefined, warn: () => undefined })).rejects.toMatchObject({
      code: 'ERR_AUDIT_NATS_UNREACHABLE',
      message: expect.stringContaining(`cannot connect to NATS at ${url}`),
    })
  })
})

describe('parseAuditTailArgs', () => {
  it('rejects bad flags with a message', () => {
    const bad = (args: string[], re: RegExp) => expect(() => parseAuditTailArgs(args, false)).toThrow(re)
    bad([], /needs --nats/)
    bad(['--nats', 'x', '--deny', '--allow'], /--deny or --allow/)
    bad(['--nats', 'x', '--since', 'yesterday'], /--since must be/)
    bad(['--nats', 'x', '--last', '0'], /--last must be/)
    bad(['--nats', 'x', '--since', '1m', '--last', '3'], /--since or --last/)
    bad(['--nats', 'x', '--format', 'xml'], /--format must be json or text/)
  })

  it('defaults to json off a terminal and text on one', () => {
    expect(parseAuditTailArgs(['--nats', 'x'], false)).toMatchObject({ options: { format: 'json' } })
    expect(parseAuditTailArgs(['--nats', 'x'], true)).toMatchObject({ options: { format: 'text' } })
    const since = parseAuditTailArgs(['--nats', 'x', '--since', '2026-11-30T20:10:48Z'], false)
    expect(since).toMatchObject({ options: { since: new Date('2026-11-30T20:10:48Z') } })
  })
})

describe('verdict audit tail', () => {
  it('prints text lines and exits 0 at the end of the stream', async () => {
    const r = await cli(['audit', 'tail', '--nats', nats.url, '--stream', STREAM, '--last', '2', '--deny', '--format', 'text'])
    // The garbage message sits between the two denies, on a deny subject.
    expect(r.stderr).toBe(`verdict: skipped message ${garbageSeq} on verdict.audit.trades-api.deny: not valid JSON\n`)
    expect(r.code).toBe(0)
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(/^\S+Z deny TOKEN_EXPIRED reports-api user:5 read report\/r1$/)
    expect(lines[1]).toBe(
      `${NEWER[1]!.timestamp} deny INSUFFICIENT_SCOPE trades-api user:8027 create trade/t3 insufficient_scope: no trades scope`,
    )
  })

  it('reports the skipped message on stderr and prints json lines', async () => {
    const r = await cli(['audit', 'tail', '--nats', nats.url, '--stream', STREAM, '--since', '1h', '--service', 'trades-api'])
    expect(r.code).toBe(0)
    expect(r.stderr).toBe(`verdict: skipped message ${garbageSeq} on verdict.audit.trades-api.deny: not valid JSON\n`)
    expect(r.stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as DecisionEvent).decision_id)).toEqual(['o1', 'o2', 'n2', 'n3'])
  })

  it('fails with exit 1 and no stack trace on a missing stream, unreachable NATS or a bad flag', async () => {
    const url = `nats://127.0.0.1:${await freePort()}`
    const [missing, down, bad] = await Promise.all([
      cli(['audit', 'tail', '--nats', nats.url, '--stream', 'NOPE']),
      cli(['audit', 'tail', '--nats', url]),
      cli(['audit', 'tail', '--nats', nats.url, '--bogus']),
    ])
    expect(missing).toMatchObject({ code: 1, stdout: '' })
    expect(missing.stderr).toMatch(/^verdict: stream NOPE not found on .*creates it on its first audit publish.*\n$/)
    expect(down).toMatchObject({ code: 1, stdout: '' })
    expect(down.stderr).toMatch(new RegExp(`^verdict: cannot connect to NATS at ${url}`))
    expect(bad).toMatchObject({ code: 1, stdout: '' })
    expect(bad.stderr).toMatch(/^verdict: .*--bogus/)
    for (const r of [missing, down, bad]) expect(r.stderr).not.toMatch(/\n\s+at /)
  })

  it('follows until SIGTERM, then exits 0', async () => {
    await publish([event('f1', 'follow-api', false, 'POLICY_DENIED', '76', 'read', 'trade/f1')], liveSink)
    let published = false
    const r = await cli(
      ['audit', 'tail', '--nats', nats.url, '--stream', LIVE, '--service', 'follow-api', '-f', '--format', 'text', '--since', '1h'],
      (out, child) => {
        // The follow is live once the first event is printed; publish another after it.
        if (!published) {
          published = true
          void publish([event('f2', 'follow-api', true, 'OK', '77', 'list', 'trade/f2')], liveSink)
        } else if (out.includes('user:77')) {
          child.kill('SIGTERM')
        }
      },
    )
    expect(r.code).toBe(0)
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(/ deny POLICY_DENIED follow-api user:76 read trade\/f1$/)
    expect(lines[1]).toMatch(/ allow OK follow-api user:77 list trade\/f2$/)
  }, 15_000)
})
