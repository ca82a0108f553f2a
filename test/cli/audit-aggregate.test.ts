/**
 * `verdict audit aggregate` against a real nats-server: events are encoded by the audit module's
 * encoder and published by its JetStream sink (which also creates the stream), with decision
 * timestamps placed at known minutes of a window an hour ago, plus one message that is not JSON.
 * Most cases call `aggregateAudit` in process; the CLI cases run `bin/verdict.js` for exit codes
 * and the text and JSON output.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import type { NatsConnection } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAuditSink, encodeDecisionEvent } from '../../src/audit/index.js'
import type { AuditSink, DecisionRecord } from '../../src/audit/index.js'
import { aggregateAudit, AUDIT_AGGREGATE_HELP, formatAggregateText, parseAuditAggregateArgs } from '../../src/cli/audit-aggregate.js'
import { AUDIT_GROUP_KEYS } from '../../src/cli/audit-aggregator.js'
import type { AuditAggregateOptions, AuditAggregateReport } from '../../src/cli/audit-aggregate.js'
import { freePort } from '../helpers/net.js'
import { startNatsServer } from '../helpers/nats-server.js'
import type { NatsServerHandle } from '../helpers/nats-server.js'

const root = join(import.meta.dirname, '..', '..')
const bin = join(root, 'bin', 'verdict.js')
const STREAM = 'AGGREGATE_TEST_AUDIT'
const EMPTY = 'AGGREGATE_TEST_EMPTY'
const MIN = 60_000

let nats: NatsServerHandle
let dir: string
let sink: AuditSink
let nc: NatsConnection
let garbageSeq: number
/** Start of the test window: a whole minute, about an hour ago. The window is T0 .. T0 + 10m. */
let T0: number
const at = (ms: number) => new Date(T0 + ms).toISOString()

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Spec {
  minute: number
  service?: string
  allow?: boolean
  code?: string
  subject?: string
  reasons?: string[]
  latencyUs?: number
  /** Offset in ms from the minute's start. */
  offset?: number
}

let ids = 0
function record(s: Spec): DecisionRecord {
  const allow = s.allow ?? true
  return {
    decisionId: `d-${++ids}`,
    timestamp: new Date(T0 + s.minute * MIN + (s.offset ?? 1000)),
    service: s.service ?? 'trades-api',
    claims: { sub: `sub-${s.subject ?? '1'}`, client_id: 'web', email: 'someone@example.com' },
    subject: { type: 'user', id: s.subject ?? '1' },
    action: 'read',
    resource: { type: 'trade', id: 't1' },
    allow,
    code: s.code ?? (allow ? 'OK' : 'POLICY_DENIED'),
    reasons: s.reasons ?? [],
    policyRevision: 'rev-1',
    latencyUs: s.latencyUs ?? 10,
  }
}

/** Encodes the records as the sidecar does and waits until the stream has them all. */
async function publish(records: DecisionRecord[]): Promise<void> {
  const want = sink.stats().published + sink.stats().replayed + records.length
  for (const r of records) {
    sink.writeEncoded(encodeDecisionEvent(r), { id: r.decisionId!, allow: r.allow, service: r.service })
  }
  for (let i = 0; i < 200; i++) {
    await sink.flush()
    const s = sink.stats()
    if (s.published + s.replayed >= want) return
    await sleep(25)
  }
  throw new Error(`events not published: ${JSON.stringify(sink.stats())}`)
}

/**
 * The window's events. trades-api: per minute 0..9 four allows (latency 10) and one deny, except
 * minute 7 with eight POLICY_DENIED denies (the spike). reports-api: two TOKEN_EXPIRED denies in
 * minute 2 for subject 8027 (latency 900), one allow in minute 9 at the window's last moment.
 */
function windowEvents(): Spec[] {
  const specs: Spec[] = []
  for (let m = 0; m < 10; m++) {
    for (let i = 0; i < 4; i++) specs.push({ minute: m, offset: 1000 + i })
    const denies = m === 7 ? 8 : 1
    for (let i = 0; i < denies; i++) specs.push({ minute: m, allow: false, subject: '77', reasons: ['not_owner: trade t1'], latencyUs: 12, offset: 2000 + i })
  }
  specs.push({ minute: 2, service: 'reports-api', allow: false, code: 'TOKEN_EXPIRED', subject: '8027', latencyUs: 900 })
  specs.push({ minute: 2, service: 'reports-api', allow: false, code: 'TOKEN_EXPIRED', subject: '8027', latencyUs: 900, offset: 1500 })
  specs.push({ minute: 9, service: 'reports-api', offset: MIN - 1 })
  return specs
}

/** Runs `aggregateAudit` on the test window, collecting warnings. */
async function aggregate(options: Partial<AuditAggregateOptions> = {}) {
  const warnings: string[] = []
  const report = await aggregateAudit(
    { servers: nats.url, stream: STREAM, since: new Date(T0), until: new Date(T0 + 10 * MIN), ...options },
    { warn: (t) => void warnings.push(t) },
  )
  return { report, warnings }
}

/** Runs the real CLI; resolves with exit code and output. */
function cli(args: string[]) {
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()))
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()))
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('exit', (code) => resolve({ code, stdout, stderr })),
  )
}

beforeAll(async () => {
  T0 = Math.floor(Date.now() / MIN) * MIN - 60 * MIN
  nats = await startNatsServer()
  dir = await mkdtemp(join(tmpdir(), 'verdict-aggregate-'))
  sink = createAuditSink({ nats: { servers: nats.url, stream: STREAM, spoolDir: join(dir, 'spool'), lingerMs: 0 } })
  nc = await connect({ servers: nats.url })
  // Just outside the window on both sides: a millisecond early, and at its (exclusive) end.
  await publish([record({ minute: 0, offset: -1 }), record({ minute: 10, offset: 0 })].concat(windowEvents().map(record)))
  garbageSeq = (await jetstream(nc).publish('verdict.audit.trades-api.deny', '{not json', { msgID: 'garbage-1' })).seq
  const jsm = await jetstreamManager(nc)
  await jsm.streams.add({ name: EMPTY, subjects: ['empty.audit.>'] })
})

afterAll(async () => {
  await sink?.close()
  await nc?.close()
  await nats?.stop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

const NOT_JSON = () => `skipped message ${garbageSeq} on verdict.audit.trades-api.deny: not valid JSON`

describe('aggregateAudit', () => {
  it('groups by service by default, largest first, with totals, deny rate and latency', async () => {
    const { report, warnings } = await aggregate()
    expect(report.stream).toBe(STREAM)
    expect(report.window).toEqual({ since: at(0), until: at(10 * MIN) })
    expect(report.by).toEqual(['service'])
    expect(report.groups).toEqual([
      { key: { service: 'trades-api' }, count: 57, allow: 40, deny: 17, deny_rate: 0.2982, latency_us: { p50: 10, p99: 12, max: 12 } },
      { key: { service: 'reports-api' }, count: 3, allow: 1, deny: 2, deny_rate: 0.6667, latency_us: { p50: 900, p99: 900, max: 900 } },
    ])
    expect(report.totals).toMatchObject({ count: 60, allow: 41, deny: 19, deny_rate: 0.3167 })
    // 60 in the window, 2 just outside it, the one message that is not JSON.
    expect(report.messages).toEqual({ read: 63, skipped: 1, outside_window: 2, undated: 0 })
    expect(warnings).toEqual([NOT_JSON()])
    expect(report.groups_total).toBe(2)
    expect(report.others).toBeUndefined()
  })

  it('groups by several keys, and by reason and subject', async () => {
    const byCode = (await aggregate({ by: ['service', 'code'] })).report
    expect(byCode.groups.map((g) => [g.key.service, g.key.code, g.count])).toEqual([
      ['trades-api', 'OK', 40],
      ['trades-api', 'POLICY_DENIED', 17],
      ['reports-api', 'TOKEN_EXPIRED', 2],
      ['reports-api', 'OK', 1],
    ])
    const byReason = (await aggregate({ by: ['reason'], decision: 'deny' })).report
    expect(byReason.groups.map((g) => [g.key.reason, g.count])).toEqual([
      ['not_owner: trade t1', 17],
      ['', 2],
    ])
    const bySubject = (await aggregate({ by: ['subject', 'allow'], top: 2 })).report
    expect(bySubject.groups.map((g) => [g.key, g.count])).toEqual([
      [{ subject: 'user:1', allow: 'allow' }, 41],
      [{ subject: 'user:77', allow: 'deny' }, 17],
    ])
    expect(bySubject.others).toMatchObject({ groups: 1, count: 2, deny: 2 })
  })

  it('applies the filters: service, deny/allow, code, subject', async () => {
    const counts = async (options: Partial<AuditAggregateOptions>) => (await aggregate(options)).report.totals.count
    expect(await counts({ service: 'reports-api' })).toBe(3)
    expect(await counts({ decision: 'deny' })).toBe(19)
    expect(await counts({ decision: 'allow', service: 'trades-api' })).toBe(40)
    expect(await counts({ code: 'TOKEN_EXPIRED' })).toBe(2)
    expect(await counts({ subject: 'user:8027' })).toBe(2)
    expect(await counts({ subject: '77', code: 'POLICY_DENIED' })).toBe(17)
    expect(await counts({ service: 'no-such-api' })).toBe(0)
    const filtered = (await aggregate({ service: 'trades-api', decision: 'deny', code: 'POLICY_DENIED' })).report
    expect(filtered.filters).toEqual({ service: 'trades-api', decision: 'deny', code: 'POLICY_DENIED' })
  })

  it('counts only the window: since inclusive, until exclusive', async () => {
    expect((await aggregate({ since: new Date(T0 - 1) })).report.totals.count).toBe(61)
    expect((await aggregate({ until: new Date(T0 + 10 * MIN + 1) })).report.totals.count).toBe(61)
    // Minutes 2 and 3 only.
    const narrow = (await aggregate({ since: new Date(T0 + 2 * MIN), until: new Date(T0 + 4 * MIN) })).report
    expect(narrow.totals).toMatchObject({ count: 12, deny: 4 })
    // The default window is the hour before until.
    const hour = (await aggregate({ since: undefined, until: new Date(T0 + 30 * MIN) })).report
    expect(hour.window.since).toBe(at(-30 * MIN))
    expect(hour.totals.count).toBe(62)
  })

  it('stops reading at messages stored later than until plus --lateness', async () => {
    // Every message was stored about an hour after the window: none is read.
    const { report } = await aggregate({ latenessMs: 10 * MIN })
    expect(report.messages.read).toBe(0)
    expect(report.totals.count).toBe(0)
    expect((await aggregate({ latenessMs: 2 * 3_600_000 })).report.totals.count).toBe(60)
  })

  it('counts per interval and flags deny spikes', async () => {
    const { report } = await aggregate({ by: ['service'], intervalMs: MIN, spike: 3 })
    expect(report.interval_ms).toBe(MIN)
    expect(report.spike_factor).toBe(3)
    expect(report.buckets).toEqual(Array.from({ length: 10 }, (_, m) => at(m * MIN)))
    const [trades, reports] = report.groups
    expect(trades!.series).toEqual({
      count: [5, 5, 5, 5, 5, 5, 5, 12, 5, 5],
      deny: [1, 1, 1, 1, 1, 1, 1, 8, 1, 1],
    })
    expect(trades).toMatchObject({ deny_median: 1, spikes: [{ start: at(7 * MIN), count: 12, deny: 8 }] })
    // Two denies in one minute of a quiet service are not more than 3 x 1.
    expect(reports).toMatchObject({ deny_median: 0, spikes: [] })
    expect(report.totals.series!.deny).toEqual([1, 1, 3, 1, 1, 1, 1, 8, 1, 1])
    expect(report.totals.spikes).toEqual([{ start: at(7 * MIN), count: 12, deny: 8 }])
  })

  it('reports an empty stream as no events', async () => {
    const { report, warnings } = await aggregate({ stream: EMPTY, intervalMs: MIN })
    expect(report.totals).toMatchObject({ count: 0, deny_rate: 0, latency_us: null })
    expect(report.groups).toEqual([])
    expect(report.messages).toEqual({ read: 0, skipped: 0, outside_window: 0, undated: 0 })
    expect(report.totals.series!.count).toEqual(Array(10).fill(0))
    expect(warnings).toEqual([])
    expect(formatAggregateText(report)).toBe(
      `${EMPTY} ${at(0).replace('.000Z', 'Z')} .. ${at(10 * MIN).replace('.000Z', 'Z')}: 0 events, 0 deny (0.0%)\nno events in the window\n`,
    )
  })

  it('says the stream is missing, and names the URL when NATS is unreachable', async () => {
    await expect(aggregate({ stream: 'NO_SUCH_STREAM' })).rejects.toMatchObject({ code: 'ERR_AUDIT_STREAM_NOT_FOUND' })
    const url = `nats://127.0.0.1:${await freePort()}`
    await expect(aggregateAudit({ servers: url }, { warn: () => undefined })).rejects.toMatchObject({
      code: 'ERR_AUDIT_NATS_UNREACHABLE',
      message: expect.stringContaining(`cannot connect to NATS at ${url}`),
    })
  })
})

describe('formatAggregateText', () => {
  it('prints an aligned table with the others and total rows, and the series with spikes', async () => {
    const { report } = await aggregate({ by: ['service', 'code'], top: 2, intervalMs: MIN, spike: 3 })
    const text = formatAggregateText(report)
    const w = (ms: number) => at(ms).replace('.000Z', 'Z')
    expect(text).toBe(
      [
        `${STREAM} ${w(0)} .. ${w(10 * MIN)}: 60 events, 19 deny (31.7%)`,
        '',
        '#  SERVICE            CODE           COUNT  DENY   DENY%  P50_US  P99_US  SPIKES',
        '1  trades-api         OK                40     0    0.0%      10      10       0',
        '2  trades-api         POLICY_DENIED     17    17  100.0%      12      12       1',
        '   others (2 groups)                     3     2   66.7%     900     900',
        '   total                                60    19   31.7%      10     900       1',
        '',
        "per 1m: events/denies; * = deny spike: more than 3 x the column's median denies per bucket (at least 1)",
        'BUCKET                 #1    #2   others   total',
        ...Array.from({ length: 10 }, (_, m) => {
          const cells = m === 7 ? '4/0   8/8*     0/0    12/8*' : m === 2 ? '4/0   1/1      2/2     7/3' : m === 9 ? '4/0   1/1      1/0     6/1' : '4/0   1/1      0/0     5/1'
          return `${w(m * MIN)}  ${cells}`
        }),
        '',
      ].join('\n'),
    )
  })

  it('names the filters in the heading', async () => {
    const { report } = await aggregate({ service: 'reports-api', decision: 'deny' })
    expect(formatAggregateText(report).split('\n').slice(0, 2)).toEqual([
      `${STREAM} ${at(0).replace('.000Z', 'Z')} .. ${at(10 * MIN).replace('.000Z', 'Z')}: 2 events, 2 deny (100.0%)`,
      'filters: service=reports-api deny',
    ])
  })
})

describe('parseAuditAggregateArgs', () => {
  const now = new Date('2026-11-30T20:10:48Z')
  const parse = (args: string[]) => parseAuditAggregateArgs(['--nats', 'x', ...args], false, now)

  it('defaults to the last hour grouped by service, json off a terminal', () => {
    expect(parse([])).toEqual({
      help: false,
      format: 'json',
      options: { servers: ['x'], since: new Date('2026-11-30T19:10:48Z'), until: now },
    })
    expect(parseAuditAggregateArgs(['--nats', 'x'], true, now)).toMatchObject({ format: 'text' })
    expect(parseAuditAggregateArgs(['--help'], false)).toEqual({ help: true })
  })

  it('reads every option', () => {
    const parsed = parse([
      '--since', '2026-11-30T18:00:00Z', '--until', '30m', '--by', 'service,code', '--top', '5', '--interval', '5m',
      '--spike', '2.5', '--max-groups', '100', '--lateness', '10m', '--deny', '--service', 's', '--code', 'C',
      '--subject', 'user:1', '--stream', 'S', '--format', 'text',
    ])
    expect(parsed).toEqual({
      help: false,
      format: 'text',
      options: {
        servers: ['x'], stream: 'S', service: 's', decision: 'deny', code: 'C', subject: 'user:1',
        since: new Date('2026-11-30T18:00:00Z'), until: new Date('2026-11-30T19:40:48Z'),
        by: ['service', 'code'], top: 5, intervalMs: 300_000, spike: 2.5, maxGroups: 100, latenessMs: 600_000,
      },
    })
  })

  it('names every group key in the help', () => {
    for (const key of Object.keys(AUDIT_GROUP_KEYS)) expect(AUDIT_AGGREGATE_HELP).toMatch(new RegExp(`\\b${key}\\b`))
  })

  it('rejects bad flags with a message', () => {
    const bad = (args: string[], re: RegExp) => expect(() => parse(args)).toThrow(re)
    bad(['--by', 'service,colour'], /--by: unknown key "colour"; keys: service, allow, code/)
    bad(['--by', 'code,code'], /names a key twice/)
    bad(['--since', 'yesterday'], /--since must be a duration/)
    bad(['--since', '10m', '--until', '1h'], /--since .* must be before --until/)
    bad(['--top', 'many'], /--top must be a whole number, at least 0/)
    bad(['--max-groups', '0'], /--max-groups must be a whole number, at least 1/)
    bad(['--interval', '500ms'], /--interval must be a duration of at least 1s/)
    bad(['--since', '48h', '--interval', '1m'], /makes 2881 buckets in the window; at most 2000/)
    bad(['--spike', '3'], /--spike needs --interval/)
    bad(['--interval', '1m', '--spike', '0'], /--spike must be a number above 0/)
    bad(['--lateness', 'soon'], /--lateness must be a duration/)
    bad(['--deny', '--allow'], /--deny or --allow/)
    bad(['--format', 'csv'], /--format must be json or text/)
    expect(() => parseAuditAggregateArgs([], false)).toThrow(/needs --nats/)
  })
})

describe('verdict audit aggregate', () => {
  it('prints one JSON document and the text table, and exits 0', async () => {
    const window = ['--since', at(0), '--until', at(10 * MIN)]
    const [json, text] = await Promise.all([
      cli(['audit', 'aggregate', '--nats', nats.url, '--stream', STREAM, ...window, '--by', 'service,code', '--interval', '1m', '--spike', '3']),
      cli(['audit', 'aggregate', '--nats', nats.url, '--stream', STREAM, ...window, '--format', 'text', '--deny']),
    ])
    expect(json.code).toBe(0)
    expect(json.stderr).toBe(`verdict: ${NOT_JSON()}\n`)
    expect(json.stdout.endsWith('}\n')).toBe(true)
    expect(json.stdout.trimEnd().split('\n')).toHaveLength(1)
    const report = JSON.parse(json.stdout) as AuditAggregateReport
    expect(report).toEqual((await aggregate({ by: ['service', 'code'], intervalMs: MIN, spike: 3 })).report)

    expect(text.code).toBe(0)
    expect(text.stdout.split('\n').slice(3, 7)).toEqual([
      '#  SERVICE      COUNT  DENY   DENY%  P50_US  P99_US',
      '1  trades-api      17    17  100.0%      12      12',
      '2  reports-api      2     2  100.0%     900     900',
      '   total           19    19  100.0%      12     900',
    ])
  })

  it('exits 1 with a message and no stack trace on unreachable NATS, a missing stream or a bad flag', async () => {
    const url = `nats://127.0.0.1:${await freePort()}`
    const [down, missing, bad, help, auditHelp] = await Promise.all([
      cli(['audit', 'aggregate', '--nats', url]),
      cli(['audit', 'aggregate', '--nats', nats.url, '--stream', 'NOPE']),
      cli(['audit', 'aggregate', '--nats', nats.url, '--by', 'colour']),
      cli(['audit', 'aggregate', '--help']),
      cli(['audit', '--help']),
    ])
    expect(down).toMatchObject({ code: 1, stdout: '' })
    expect(down.stderr).toMatch(new RegExp(`^verdict: cannot connect to NATS at ${url}`))
    expect(missing).toMatchObject({ code: 1, stdout: '' })
    expect(missing.stderr).toMatch(/^verdict: stream NOPE not found on .*creates it on its first audit publish/)
    expect(bad).toMatchObject({ code: 1, stdout: '' })
    expect(bad.stderr).toMatch(/^verdict: --by: unknown key "colour"/)
    for (const r of [down, missing, bad]) expect(r.stderr).not.toMatch(/\n\s+at /)
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/^Usage: verdict audit aggregate --nats <url>/)
    expect(help.stdout).toContain('--spike <k>')
    expect(auditHelp).toMatchObject({ code: 0, stdout: expect.stringMatching(/\n  aggregate  count a time window/) })
  })
})
