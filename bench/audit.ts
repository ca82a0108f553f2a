/**
 * Audit benchmark (`npm run bench:audit`): the sidecar CPU that one decision's audit event costs,
 * old path against new path, measured in the same run.
 *
 * - encode, to the UTF-8 payload bytes: what `serve` did per decision before
 *   (`buildDecisionEvent` + `JSON.stringify`) against `encodeDecisionEvent`, on records shaped as
 *   the authorizer makes them (cached-token claims: the same claims object on every decision of a
 *   caller), also given the input's JSON without the token (`inputRestJson`), which the
 *   authorizer makes for the engine anyway;
 * - publish step: against a real nats-server with JetStream, whole-process CPU per acknowledged
 *   event in full windows: the sink's previous publish loop (kept below as the baseline: the
 *   client's `headers()` per event, a string payload, a closure and a reply token per event)
 *   against the sink's `AckCollector`, at the old default window (64) and the new one (256);
 *   then, with one ack per batch as the sink asks on its own stream, the collector publishing
 *   event by event through the client (`frames: false`) against one buffer of frames per batch;
 *   then the whole sink (`writeEncoded`, queue, pump, acks) with its defaults;
 * - the sum of encode and publish step: audit CPU per decision, old (window 64) and new (256);
 * - paced: whole-process CPU per event when events arrive at a steady rate (as decisions do)
 *   rather than all at once, for several `lingerMs`, over the CPU of the pacing loop alone. Here
 *   batches are small and their fixed costs (socket writes and reads, wake-ups, timers) show.
 *
 * Rounds are interleaved and the best round of each is reported, so other load on the machine
 * hurts both sides alike; compare the ratios.
 */
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, createInbox, headers } from '@nats-io/transport-node'
import type { NatsConnection } from '@nats-io/transport-node'
import { buildDecisionEvent, encodeDecisionEvent, JetStreamAuditSink } from '../src/audit/index.js'
import type { DecisionRecord, MaskOptions } from '../src/audit/index.js'
import { AckCollector } from '../src/audit/jetstream-sink.js'
import type { Encoded } from '../src/audit/jetstream-sink.js'
import { startNatsServer } from '../test/helpers/nats-server.js'

const ENCODE_EVENTS = Number(process.env.BENCH_AUDIT_ENCODE ?? 20_000)
const PUBLISH_EVENTS = Number(process.env.BENCH_AUDIT_PUBLISH ?? 10_000)
const ROUNDS = Number(process.env.BENCH_AUDIT_ROUNDS ?? 5)
const PACED_RATE = Number(process.env.BENCH_AUDIT_RATE ?? 2000)
const PACED_MS = 3000
const LINGERS = [20, 50, 100]
const OLD_WINDOW = 64
const NEW_WINDOW = 256
const SERVICE = 'trades-api'

/** The authorizer's decision record (src/server/authorizer.ts), as `serve`'s onDecision gets it. */
interface ServerRecord {
  decisionId: string
  timestamp: Date
  input: Record<string, unknown> | undefined
  claims: Record<string, unknown> | undefined
  subject: { type: string; id: string }
  action: string
  resource: { type: string; id: string }
  allow: boolean
  code: string
  reasons: string[]
  revision: string
  path: string
  latencyMs: number
  /** The input's JSON without the token, as the authorizer makes it for the engine. */
  inputRest: string
}

// Verified claims of three callers; a cached token yields the same object on every decision.
const now = Math.floor(Date.now() / 1000)
const callers = [
  { sub: 'u-2998', user_id: 2998, scope: 'trades', roles: ['trader'], locations: ['NY', 'LDN'] },
  { sub: 'u-3001', user_id: 3001, scope: 'trades reports', roles: ['analyst'], locations: ['NY'] },
  { sub: 'u-4100', user_id: 4100, scope: 'reports', roles: ['trader'], locations: ['NY'] },
].map((c) => ({
  ...c,
  iss: 'https://idp.bench.verdict.local',
  aud: 'trades-api',
  iat: now,
  exp: now + 300,
  jti: randomUUID(),
}))

/** Fresh records, as the authorizer builds a new one (and a new input) per decision. */
function records(n: number): ServerRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const claims = callers[i % callers.length] as Record<string, unknown>
    const allow = i % 4 !== 3
    const resource = { type: 'trade', id: `t-${i}` }
    const action = i % 2 === 0 ? 'read' : 'update'
    const rest = {
      subject: { type: 'user', id: claims.sub, properties: {} },
      action,
      resource: { ...resource, properties: { owner_id: 2998, location: 'NY' } },
      context: {},
    }
    return {
      decisionId: randomUUID(),
      timestamp: new Date(),
      input: { token: claims, ...rest },
      inputRest: JSON.stringify(rest),
      claims,
      subject: { type: 'user', id: claims.sub as string },
      action,
      resource,
      allow,
      code: allow ? 'OK' : 'POLICY_DENIED',
      reasons: allow ? [] : ['not_owner: the trade belongs to another user'],
      revision: 'e9a0f7e146be1906',
      path: 'trades/decision',
      latencyMs: 0.0421,
    }
  })
}

const mask: MaskOptions = {}

/** serve's mapping from the authorizer's record to the audit record (same in both paths). */
function auditRecord(r: ServerRecord, withRest = false): DecisionRecord {
  return {
    decisionId: r.decisionId,
    timestamp: r.timestamp,
    service: SERVICE,
    claims: r.claims,
    subject: r.subject,
    action: r.action,
    resource: r.resource,
    allow: r.allow,
    code: r.code,
    reasons: r.reasons,
    policyRevision: r.revision,
    latencyMs: r.latencyMs,
    path: r.path,
    input: r.input,
    inputRestJson: withRest ? r.inputRest : undefined,
  }
}

const oldEncode = (r: ServerRecord): string => JSON.stringify(buildDecisionEvent(auditRecord(r), mask))
const newEncode = (r: ServerRecord): string => encodeDecisionEvent(auditRecord(r), mask)
const restEncode = (r: ServerRecord): string => encodeDecisionEvent(auditRecord(r, true), mask)

/** CPU (user + system) and wall time per item of `fn` over `n` items, in ns. */
async function measure(n: number, fn: () => unknown): Promise<{ cpu: number; wall: number }> {
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  await fn()
  const wall = Number(process.hrtime.bigint() - t0)
  const cpu = process.cpuUsage(cpu0)
  return { cpu: ((cpu.user + cpu.system) * 1000) / n, wall: wall / n }
}

// ---- encode -------------------------------------------------------------------------------

const encRecords = records(ENCODE_EVENTS)
for (const r of encRecords.slice(0, 2000)) {
  const want = oldEncode(r)
  if (want !== newEncode(r) || want !== restEncode(r)) throw new Error(`encoders disagree on ${r.decisionId}`)
}
let sinkLen = 0
// Encoding ends in UTF-8 bytes (the publish payload): writing them also flattens the encoder's
// concatenated string, a cost JSON.stringify's flat output does not defer.
const scratch = Buffer.allocUnsafe(64 * 1024)
const best = { oldEnc: Infinity, newEnc: Infinity, restEnc: Infinity }
const pub = { old64: Infinity, new64: Infinity, old256: Infinity, new256: Infinity, each: Infinity, frames: Infinity, sink: Infinity }
for (let round = 0; round < ROUNDS + 1; round++) {
  const o = await measure(encRecords.length, () => {
    for (const r of encRecords) sinkLen += scratch.write(oldEncode(r), 0)
  })
  const n = await measure(encRecords.length, () => {
    for (const r of encRecords) sinkLen += scratch.write(newEncode(r), 0)
  })
  const t = await measure(encRecords.length, () => {
    for (const r of encRecords) sinkLen += scratch.write(restEncode(r), 0)
  })
  // Round 0 warms the JIT up.
  if (round === 0) continue
  best.oldEnc = Math.min(best.oldEnc, o.wall)
  best.newEnc = Math.min(best.newEnc, n.wall)
  best.restEnc = Math.min(best.restEnc, t.wall)
}

// ---- publish ------------------------------------------------------------------------------

/**
 * The sink's publish loop before this change, kept as the baseline: per event a client
 * `headers()` with `set('Nats-Msg-Id')`, a reply token, a closure in the ack map, and a string
 * payload the client encodes itself; acks on one wildcard inbox, checked as before.
 */
function oldCollector(nc: NatsConnection): { publish(batch: Encoded[]): Promise<number> } {
  const inbox = createInbox()
  const pending = new Map<string, (ok: boolean) => void>()
  const skip = inbox.length + 1
  let seq = 0
  nc.subscribe(`${inbox}.*`, {
    callback: (err, msg) => {
      if (err !== null) return
      const token = msg.subject.slice(skip)
      const settle = pending.get(token)
      if (settle === undefined) return
      pending.delete(token)
      const ack = msg.json<{ stream?: string; error?: unknown }>()
      settle(ack.error === undefined && typeof ack.stream === 'string')
    },
  })
  return {
    publish(batch) {
      return new Promise((resolve) => {
        let left = batch.length
        let ok = 0
        batch.forEach((e) => {
          const token = (++seq).toString(36)
          pending.set(token, (acked) => {
            if (acked) ok++
            if (--left === 0) resolve(ok)
          })
          const h = headers()
          h.set('Nats-Msg-Id', e.id)
          nc.publish(e.subject, e.bytes, { reply: `${inbox}.${token}`, headers: h })
        })
      })
    },
  }
}

/** Publishes `events` window by window, one window in flight; returns how many were acknowledged. */
async function publishWindows(
  publish: (batch: Encoded[]) => Promise<number>,
  events: Encoded[],
  window: number,
): Promise<number> {
  let acked = 0
  for (let start = 0; start < events.length; start += window) {
    acked += await publish(events.slice(start, start + window))
  }
  return acked
}

const server = await startNatsServer()
const dir = await mkdtemp(join(tmpdir(), 'verdict-bench-audit-'))
const sink = new JetStreamAuditSink({
  servers: server.url,
  spoolDir: join(dir, 'spool'),
  maxQueue: PUBLISH_EVENTS + 1,
})
await sink.ready()
const nc = await connect({ servers: server.url, noAsyncTraces: true })
const before = oldCollector(nc)
const after = new AckCollector(nc)
const afterPublish = async (batch: Encoded[]) =>
  (await after.publish(batch, 5000)).filter((r) => !(r instanceof Error)).length
// The sink's own mode on its own stream: one ack per batch; one client publish per event
// (`frames: false`) against the batch as one buffer of frames.
const each = new AckCollector(nc, { frames: false })
const tailPublish = (c: AckCollector) => async (batch: Encoded[]) =>
  (await c.publish(batch, 5000, true)).filter((r) => !(r instanceof Error)).length
let published = 0

/**
 * Calls `write` at {@link PACED_RATE} per second for {@link PACED_MS} from 1 ms timer ticks, then
 * awaits `done`; returns whole-process CPU per call in ns.
 */
async function paced(write: (i: number) => void, done: () => Promise<void>): Promise<number> {
  let sent = 0
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await new Promise<void>((resolve) => {
    const tick = () => {
      const elapsed = performance.now() - t0
      const due = Math.floor((Math.min(elapsed, PACED_MS) * PACED_RATE) / 1000)
      while (sent < due) write(sent++)
      if (elapsed >= PACED_MS) resolve()
      else setTimeout(tick, 1)
    }
    tick()
  })
  await done()
  const cpu = process.cpuUsage(cpu0)
  return ((cpu.user + cpu.system) * 1000) / sent
}
const pacedBest = new Map<string, number>()
try {
  for (let round = 0; round < ROUNDS + 1; round++) {
    // Distinct decision ids every time, so the stream's dedupe never shortens a measurement.
    const fresh = (): Encoded[] =>
      records(PUBLISH_EVENTS).map((r) => ({
        id: r.decisionId,
        subject: `verdict.audit.${SERVICE}.${r.allow ? 'allow' : 'deny'}`,
        bytes: Buffer.from(newEncode(r)),
      }))
    const step = async (name: keyof typeof pub, publish: (b: Encoded[]) => Promise<number>, window: number) => {
      const events = fresh()
      let acked = 0
      const m = await measure(PUBLISH_EVENTS, async () => {
        acked = await publishWindows(publish, events, window)
      })
      if (acked !== PUBLISH_EVENTS) throw new Error(`${name}: ${acked} of ${PUBLISH_EVENTS} acknowledged`)
      published += acked
      if (round > 0) pub[name] = Math.min(pub[name], m.cpu)
    }
    await step('old64', (b) => before.publish(b), OLD_WINDOW)
    await step('new64', afterPublish, OLD_WINDOW)
    await step('old256', (b) => before.publish(b), NEW_WINDOW)
    await step('new256', afterPublish, NEW_WINDOW)
    await step('each', tailPublish(each), NEW_WINDOW)
    await step('frames', tailPublish(after), NEW_WINDOW)
    // The whole sink with its defaults: writeEncoded, queue, pump, acks.
    const events = records(PUBLISH_EVENTS).map((r) => ({ r, json: newEncode(r) }))
    const start = sink.stats().published
    const m = await measure(PUBLISH_EVENTS, async () => {
      for (const { r, json } of events) sink.writeEncoded(json, { id: r.decisionId, allow: r.allow, service: SERVICE })
      await sink.flush()
    })
    const st = sink.stats()
    if (st.published - start !== PUBLISH_EVENTS || st.dropped + st.spooled > 0) {
      throw new Error(`sink: ${st.published - start} of ${PUBLISH_EVENTS} published (${JSON.stringify(st)})`)
    }
    published += PUBLISH_EVENTS
    if (round > 0) pub.sink = Math.min(pub.sink, m.cpu)
  }
  // Paced: a fresh sink per linger, rounds interleaved with the pacing loop alone.
  const pacedEvents = Math.ceil((PACED_RATE * PACED_MS) / 1000) + 1
  for (let round = 0; round < 2; round++) {
    const floor = await paced(() => {}, async () => {})
    pacedBest.set('floor', Math.min(pacedBest.get('floor') ?? Infinity, floor))
    for (const lingerMs of LINGERS) {
      const events = records(pacedEvents).map((r) => ({ r, json: newEncode(r) }))
      const s = new JetStreamAuditSink({ servers: server.url, spoolDir: join(dir, `paced-${lingerMs}-${round}`), lingerMs })
      await s.ready()
      const ns = await paced(
        (i) => {
          const e = events[i] as (typeof events)[number]
          s.writeEncoded(e.json, { id: e.r.decisionId, allow: e.r.allow, service: SERVICE })
        },
        () => s.flush(),
      )
      const st = s.stats()
      await s.close()
      if (st.dropped + st.spooled > 0) throw new Error(`paced sink lost events: ${JSON.stringify(st)}`)
      published += st.published
      const key = `linger ${lingerMs}`
      pacedBest.set(key, Math.min(pacedBest.get(key) ?? Infinity, ns))
    }
  }
} finally {
  await nc.close()
  await sink.close()
  await server.stop()
  await rm(dir, { recursive: true, force: true })
}

// ---- report -------------------------------------------------------------------------------

const us = (ns: number) => `${(ns / 1000).toFixed(2).padStart(7)} µs`
const ratio = (a: number, b: number) => `${(b / a).toFixed(2).padStart(5)}×`
const eventBytes = Math.round(newEncode(encRecords[0] as ServerRecord).length)
console.log(`audit, ${eventBytes}-byte events, best of ${ROUNDS} interleaved rounds (after a warm-up round)`)
console.log(`${''.padEnd(44)}${'old'.padStart(10)}${'new'.padStart(10)}    new/old`)
const line = (name: string, a: number, b: number) => console.log(`${name.padEnd(44)}${us(a)}${us(b)}     ${ratio(a, b)}`)
line(`encode to UTF-8, wall per event (${ENCODE_EVENTS})`, best.oldEnc, best.newEnc)
line('encode to UTF-8, given inputRestJson', best.oldEnc, best.restEnc)
line(`publish step, CPU per event, window ${OLD_WINDOW}`, pub.old64, pub.new64)
line(`publish step, CPU per event, window ${NEW_WINDOW}`, pub.old256, pub.new256)
line(`tail acks, w${NEW_WINDOW}: per-event publish vs frames`, pub.each, pub.frames)
line(`audit CPU per decision, old w${OLD_WINDOW} vs new w${NEW_WINDOW}`, best.oldEnc + pub.old64, best.newEnc + pub.new256)
console.log(`${'whole sink (writeEncoded → acked), defaults'.padEnd(44)}${''.padStart(10)}${us(pub.sink)}`)
const floor = pacedBest.get('floor') ?? 0
console.log(`\npaced at ${PACED_RATE} events/s for ${PACED_MS / 1000} s, sink defaults but lingerMs, whole-process CPU per event, best of 2`)
console.log(`${'pacing loop alone (floor)'.padEnd(44)}${us(floor)}`)
for (const lingerMs of LINGERS) {
  const ns = pacedBest.get(`linger ${lingerMs}`) ?? 0
  console.log(`${`sink, lingerMs ${lingerMs}: total, over floor`.padEnd(44)}${us(ns)}${us(ns - floor)}`)
}
console.log(`events acknowledged by the stream: ${published} (checked ${sinkLen > 0 ? 'non-empty' : 'EMPTY'})`)
