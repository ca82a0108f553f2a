/**
 * Tests for the JetStream audit sink against a real nats-server: stream setup, msgID dedupe,
 * an outage with spool and ordered replay, spool limits, and a spool surviving a restart.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DiscardPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect, headers } from '@nats-io/transport-node'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  buildDecisionEvent,
  createAuditSink,
  encodeDecisionEvent,
  DiskSpool,
  JetStreamAuditSink,
} from '../../src/audit/index.js'
import type { DecisionEvent } from '../../src/audit/index.js'
import { AckCollector, msgIdBlock, orderedStore } from '../../src/audit/jetstream-sink.js'
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js'

const nanosOf = (ms: number) => ms * 1_000_000

let server: NatsServerHandle
let dir: string
const sinks: JetStreamAuditSink[] = []
let spools = 0
let n = 0

function event(allow = true, service = 'orders-api'): DecisionEvent {
  n++
  return buildDecisionEvent({
    decisionId: `d-${String(n).padStart(6, '0')}-${Math.random().toString(36).slice(2)}`,
    service,
    action: 'read',
    resource: { type: 'order', id: String(n) },
    allow,
    code: allow ? 'OK' : 'POLICY_DENIED',
    claims: { sub: 'alice', client_id: 'web' },
    latencyMs: 0.25,
  })
}

function sink(over: Partial<ConstructorParameters<typeof JetStreamAuditSink>[0]> = {}) {
  const s = new JetStreamAuditSink({
    servers: server.url,
    // A fresh spool per sink: a spool an earlier test left behind would be replayed here.
    spoolDir: join(dir, `spool-${++spools}`),
    publishTimeoutMs: 1000,
    retryDelayMs: 100,
    ...over,
  })
  sinks.push(s)
  return s
}

/** Every message in the stream, in stream order. */
async function readStream(stream = 'VERDICT_AUDIT') {
  const nc = await connect({ servers: server.url })
  try {
    const jsm = await jetstreamManager(nc)
    const info = await jsm.streams.info(stream)
    const out: Array<{ seq: number; subject: string; msgId: string | undefined; json: string; event: DecisionEvent }> = []
    if (info.state.messages === 0) return out
    const c = await jetstream(nc).consumers.get(stream)
    const msgs = await c.fetch({ max_messages: info.state.messages, expires: 3000 })
    for await (const m of msgs) {
      out.push({
        seq: m.seq,
        subject: m.subject,
        msgId: m.headers?.get('Nats-Msg-Id'),
        json: m.string(),
        event: m.json<DecisionEvent>(),
      })
      if (out.length === info.state.messages) break
    }
    return out
  } finally {
    await nc.close()
  }
}

async function purge() {
  const nc = await connect({ servers: server.url })
  const jsm = await jetstreamManager(nc)
  await jsm.streams.purge('VERDICT_AUDIT').catch(() => {})
  await nc.close()
}

beforeAll(async () => {
  server = await startNatsServer()
  dir = await mkdtemp(join(tmpdir(), 'verdict-audit-'))
})

afterEach(async () => {
  for (const s of sinks.splice(0)) await s.close(1000)
  if (server) {
    await server.start()
    await purge()
  }
})

afterAll(async () => {
  await server?.stop()
  await rm(dir, { recursive: true, force: true })
})

describe('JetStreamAuditSink', () => {
  it('creates the stream and publishes to verdict.audit.<service>.<allow|deny> with msgID', async () => {
    const s = sink()
    await s.ready()
    const a = event(true)
    const d = event(false, 'billing.api v2')
    s.write(a)
    s.write(d)
    await s.flush()
    const msgs = await readStream()
    expect(msgs.map((m) => m.subject)).toEqual([
      'verdict.audit.orders-api.allow',
      'verdict.audit.billing_api_v2.deny',
    ])
    expect(msgs.map((m) => m.msgId)).toEqual([a.decision_id, d.decision_id])
    expect(msgs[0]?.event).toEqual(a)
    expect(s.stats()).toMatchObject({ published: 2, spooled: 0, dropped: 0 })
  })

  it('publishes pre-encoded events byte for byte, in order, each with its own msgID', async () => {
    const s = sink({ publishWindow: 16 })
    await s.ready()
    const claims = { sub: 'zoë', client_id: 'web', email: 'z@example.com' }
    const sent: Array<{ json: string; id: string; allow: boolean }> = []
    // More events than one window, so batches, reply subjects and header reuse all repeat.
    for (let i = 0; i < 150; i++) {
      const allow = i % 3 !== 0
      const id = `e-${String(i).padStart(4, '0')}`
      const json = encodeDecisionEvent(
        {
          decisionId: id,
          timestamp: new Date(Date.UTC(2026, 10, 30, 16, 0, 0, i)),
          service: 'orders-api',
          claims,
          action: 'read',
          resource: { type: 'order', id: `ordre-${i}-€😀` },
          allow,
          code: allow ? 'OK' : 'POLICY_DENIED',
          latencyMs: 0.25,
          input: { token: claims, action: 'read', context: { note: 'naïve "quoted"\n' } },
        },
        {},
      )
      sent.push({ json, id, allow })
      s.writeEncoded(json, { id, allow, service: 'orders-api' })
    }
    await s.flush()
    const msgs = await readStream()
    expect(msgs.map((m) => m.json)).toEqual(sent.map((e) => e.json))
    expect(msgs.map((m) => m.msgId)).toEqual(sent.map((e) => e.id))
    expect(msgs.map((m) => m.subject)).toEqual(
      sent.map((e) => `verdict.audit.orders-api.${e.allow ? 'allow' : 'deny'}`),
    )
    expect(s.stats()).toMatchObject({ published: 150, spooled: 0, dropped: 0 })
  })

  it('drops events over maxEventBytes by their UTF-8 size and ids no header can carry, counted', async () => {
    const s = sink({ maxEventBytes: 1000 })
    await s.ready()
    const meta = (id: string) => ({ id, allow: true, service: 'orders-api' })
    const ascii = JSON.stringify({ pad: 'x'.repeat(980) }) // 990 bytes
    const wideOk = JSON.stringify({ pad: 'é'.repeat(490) }) // 500 units, 990 bytes
    const wideBig = JSON.stringify({ pad: 'é'.repeat(500) }) // 510 units, 1010 bytes
    s.writeEncoded(ascii, meta('ok-1'))
    s.writeEncoded(wideOk, meta('ok-2'))
    s.writeEncoded(wideBig, meta('big'))
    s.writeEncoded(JSON.stringify({ pad: 'x'.repeat(1000) }), meta('big-2'))
    s.writeEncoded('{}', meta('bad\r\nNats-Expected-Stream: x'))
    s.writeEncoded('{}', meta(undefined as never))
    s.write({ ...event(), decision_id: 42 as never })
    s.writeEncoded('{"after":true}', meta('ok-3'))
    await s.flush()
    const msgs = await readStream()
    expect(msgs.map((m) => m.msgId)).toEqual(['ok-1', 'ok-2', 'ok-3'])
    expect(msgs.map((m) => m.json)).toEqual([ascii, wideOk, '{"after":true}'])
    expect(s.stats()).toMatchObject({ published: 3, dropped: 5 })
  })

  it('writes the Nats-Msg-Id header block byte for byte as the client does', () => {
    for (const id of ['0190f1c2-7a3b-7c4d-8e5f-1234567890ab', 'd-1', 'zoë-😀', '']) {
      const h = headers()
      h.set('Nats-Msg-Id', id)
      expect(msgIdBlock(id)).toBe(new TextDecoder().decode((h as unknown as { encode(): Uint8Array }).encode()))
    }
  })

  it('counts a PubAck with an error as a failed publish: spooled, then delivered once the stream takes it', async () => {
    const nc = await connect({ servers: server.url })
    const jsm = await jetstreamManager(nc)
    // A stream that takes one message and rejects the rest (discard new).
    await jsm.streams.add({ name: 'AUDIT_LIMITED', subjects: ['limited.audit.>'], max_msgs: 1, discard: DiscardPolicy.New })
    try {
      const s = sink({ stream: 'AUDIT_LIMITED', subjectPrefix: 'limited.audit', retryDelayMs: 50 })
      await s.ready()
      const events = [event(), event()]
      for (const e of events) s.write(e)
      await vi.waitFor(() => expect(s.stats()).toMatchObject({ published: 1, spooled: 1, dropped: 0 }), { timeout: 5000 })
      // Lift the limit: the spooled event is replayed.
      await jsm.streams.update('AUDIT_LIMITED', { max_msgs: -1 })
      await vi.waitFor(() => expect(s.stats()).toMatchObject({ published: 2, spoolPending: 0 }), { timeout: 10_000 })
      expect((await readStream('AUDIT_LIMITED')).map((m) => m.msgId)).toEqual(events.map((e) => e.decision_id))
    } finally {
      await jsm.streams.delete('AUDIT_LIMITED').catch(() => {})
      await nc.close()
    }
  })

  it('lets the stream drop a second event with the same decision id', async () => {
    // Per-event acks: only they tell which events of a batch were duplicates.
    const s = sink({ acks: 'each' })
    await s.ready()
    const e = event()
    s.write(e)
    s.write(e)
    s.write({ ...e })
    await s.flush()
    expect((await readStream()).length).toBe(1)
    expect(s.stats().duplicates).toBe(2)
  })

  it('spools during an outage and replays every event exactly once, in order', async () => {
    const s = sink()
    await s.ready()
    const before = Array.from({ length: 5 }, () => event())
    for (const e of before) s.write(e)
    await s.flush()
    await server.kill()
    const during = Array.from({ length: 30 }, (_, i) => event(i % 3 !== 0))
    for (const e of during) {
      s.write(e)
      await new Promise((r) => setTimeout(r, 5))
    }
    await vi.waitFor(() => expect(s.stats().spooled).toBeGreaterThan(0), { timeout: 5000 })
    await server.start()
    await vi.waitFor(
      () => {
        const st = s.stats()
        expect(st.spoolPending).toBe(0)
        expect(st.queued).toBe(0)
        expect(st.published).toBe(35)
      },
      { timeout: 15_000, interval: 100 },
    )
    await s.flush()
    const msgs = await readStream()
    const ids = msgs.map((m) => m.event.decision_id)
    expect(ids).toEqual([...before, ...during].map((e) => e.decision_id))
    expect(s.stats().dropped).toBe(0)
    expect(s.stats().replayed).toBeGreaterThan(0)
  })

  it('keeps order when an outage hits a burst of in-flight publishes', async () => {
    const s = sink({ publishWindow: 16 })
    await s.ready()
    const all: DecisionEvent[] = []
    for (let i = 0; i < 100; i++) {
      const e = event()
      all.push(e)
      s.write(e)
    }
    const killed = server.kill()
    for (let i = 0; i < 100; i++) {
      const e = event()
      all.push(e)
      s.write(e)
    }
    await killed
    await server.start()
    await vi.waitFor(
      () => {
        const st = s.stats()
        expect(st.spoolPending + st.queued).toBe(0)
        expect(st.published).toBe(200)
      },
      { timeout: 20_000, interval: 100 },
    )
    const ids = (await readStream()).map((m) => m.event.decision_id)
    expect(new Set(ids).size).toBe(ids.length)
    expect(ids.sort()).toEqual(all.map((e) => e.decision_id).sort())
  })

  it('recreates a deleted stream and delivers what was spooled meanwhile', async () => {
    const s = sink()
    await s.ready()
    s.write(event())
    await s.flush()
    const nc = await connect({ servers: server.url })
    await (await jetstreamManager(nc)).streams.delete('VERDICT_AUDIT')
    await nc.close()
    const later = Array.from({ length: 5 }, () => event())
    for (const e of later) s.write(e)
    await vi.waitFor(() => expect(s.stats().published).toBe(6), { timeout: 15_000, interval: 100 })
    expect((await readStream()).map((m) => m.event.decision_id)).toEqual(later.map((e) => e.decision_id))
  })

  it('counts drops only when the spool is full', async () => {
    // Nothing listens on this port: every event goes to the spool until it is full.
    const s = sink({ servers: 'nats://127.0.0.1:1', spoolMaxBytes: 3000, spoolSegmentBytes: 1000 })
    for (let i = 0; i < 40; i++) s.write(event())
    await s.flush()
    const st = s.stats()
    expect(st.dropped).toBeGreaterThan(0)
    expect(st.spooled).toBeGreaterThan(0)
    expect(st.spooled + st.dropped).toBe(40)
    expect(st.spoolPending).toBe(st.spooled)
  })

  it('replays a spool left by an earlier process', async () => {
    const spoolDir = join(dir, 'shared-spool')
    const offline = sink({ servers: 'nats://127.0.0.1:1', spoolDir })
    const events = Array.from({ length: 12 }, () => event())
    for (const e of events) offline.write(e)
    await offline.flush()
    await offline.close(100)
    expect(offline.stats().spooled).toBe(12)
    const online = sink({ spoolDir })
    await online.ready()
    await vi.waitFor(() => expect(online.stats().replayed).toBe(12), { timeout: 10_000 })
    const ids = (await readStream()).map((m) => m.event.decision_id)
    expect(ids).toEqual(events.map((e) => e.decision_id))
  })

  it('skips spooled lines with no usable decision id on replay, counted as dropped', async () => {
    const spoolDir = join(dir, 'odd-spool')
    const spool = new DiskSpool(spoolDir, { maxBytes: 1 << 20, segmentBytes: 1 << 16 })
    const good = [event(), event()]
    spool.append(JSON.stringify(good[0]))
    spool.append(JSON.stringify({ ...event(), decision_id: 7 }))
    spool.append(JSON.stringify({ ...event(), decision_id: 'two\r\nlines' }))
    spool.append(JSON.stringify(good[1]))
    spool.close()
    const s = sink({ spoolDir })
    await s.ready()
    await vi.waitFor(() => expect(s.stats()).toMatchObject({ replayed: 2, spoolPending: 0 }), { timeout: 10_000 })
    expect(s.stats().dropped).toBe(2)
    expect((await readStream()).map((m) => m.msgId)).toEqual(good.map((e) => e.decision_id))
  })

  it('closes promptly with an unreachable server and drops later writes, counted', async () => {
    const s = sink({ servers: 'nats://127.0.0.1:1' })
    s.write(event())
    const started = Date.now()
    await s.close(200)
    await s.ready()
    expect(Date.now() - started).toBeLessThan(3000)
    s.write(event())
    expect(s.stats()).toMatchObject({ spooled: 1, dropped: 1 })
  })

  it('never throws from write, even for events that cannot be encoded', async () => {
    const s = sink()
    const cyclic = event() as DecisionEvent & { input: Record<string, unknown> }
    cyclic.input = {}
    cyclic.input.self = cyclic.input
    expect(() => s.write(cyclic)).not.toThrow()
    expect(s.stats().dropped).toBe(1)
  })
})

describe('batch acks', () => {
  it('trusts a batch tail only on a one-replica stream that discards old messages', () => {
    expect(orderedStore({}, 1024)).toBe(true)
    expect(orderedStore({ num_replicas: 1, discard: DiscardPolicy.Old, max_msg_size: -1 }, 1024)).toBe(true)
    expect(orderedStore({ num_replicas: 3 }, 1024)).toBe(false)
    expect(orderedStore({ discard: DiscardPolicy.New }, 1024)).toBe(false)
    expect(orderedStore({ discard_new_per_subject: true }, 1024)).toBe(false)
    expect(orderedStore({ max_msg_size: 512 }, 1024)).toBe(false)
    expect(orderedStore({ max_msg_size: 4096 }, 1024)).toBe(true)
  })

  it('asks for one ack per batch on its own stream, for every event on a discard-new stream', async () => {
    const spy = vi.spyOn(AckCollector.prototype, 'publish')
    const nc = await connect({ servers: server.url })
    const jsm = await jetstreamManager(nc)
    await jsm.streams.add({ name: 'AUDIT_STRICT', subjects: ['strict.audit.>'], discard: DiscardPolicy.New })
    try {
      const own = sink({ publishWindow: 8 })
      const strict = sink({ stream: 'AUDIT_STRICT', subjectPrefix: 'strict.audit', publishWindow: 8 })
      await Promise.all([own.ready(), strict.ready()])
      const a = Array.from({ length: 20 }, () => event())
      const b = Array.from({ length: 20 }, () => event())
      for (const e of a) own.write(e)
      for (const e of b) strict.write(e)
      await Promise.all([own.flush(), strict.flush()])
      const tailOnly = (ids: string[]) =>
        spy.mock.calls.filter(([batch]) => ids.includes(batch[0]!.id)).map((call) => call[2])
      expect(tailOnly(a.map((e) => e.decision_id))).toEqual([true, true, true])
      expect(tailOnly(b.map((e) => e.decision_id))).toEqual([false, false, false])
      const ids = new Set(a.map((e) => e.decision_id))
      // The shared stream may still hold a slow earlier test's events: look at ours, in order.
      expect((await readStream()).map((m) => m.msgId).filter((id) => ids.has(id!))).toEqual([...ids])
      expect((await readStream('AUDIT_STRICT')).map((m) => m.msgId)).toEqual(b.map((e) => e.decision_id))
      expect(own.stats()).toMatchObject({ published: 20, dropped: 0 })
    } finally {
      spy.mockRestore()
      await jsm.streams.delete('AUDIT_STRICT').catch(() => {})
      await nc.close()
    }
  })
})

describe('AckCollector', () => {
  /** Every stored message of `stream` as the server keeps it: subject, headers, payload bytes. */
  async function stored(url: string, stream: string) {
    const nc = await connect({ servers: url })
    try {
      const jsm = await jetstreamManager(nc)
      const { messages, first_seq: first } = (await jsm.streams.info(stream)).state
      const out: Array<{ subject: string; msgId: string | undefined; headerKeys: string[]; data: string }> = []
      for (let seq = first; seq < first + messages; seq++) {
        const m = await jsm.streams.getMessage(stream, { seq })
        if (m === null) throw new Error(`${stream} has no message ${seq}`)
        out.push({
          subject: m.subject,
          msgId: m.header.get('Nats-Msg-Id'),
          headerKeys: [...m.header.keys()],
          data: Buffer.from(m.data).toString('hex'),
        })
      }
      return out
    } finally {
      await nc.close()
    }
  }

  const batch = (tag: string) =>
    ['a', 'b', 'c', 'd', 'e'].map((k, i) => ({
      // Padded ids: the client trims header values, and both paths must do the same.
      id: i === 2 ? `  ${tag}-${k}  ` : `${tag}-${k}`,
      subject: `frames.audit.${i % 2 === 0 ? 'allow' : 'deny'}`,
      bytes: Buffer.from(JSON.stringify({ k, text: 'größer → ✓', pad: 'x'.repeat(i * 300) })),
    }))

  it('stores the same messages whether a batch goes out as frames or one publish per event', async () => {
    const nc = await connect({ servers: server.url })
    const jsm = await jetstreamManager(nc)
    await jsm.streams.add({ name: 'FRAMES_A', subjects: ['frames.audit.>'], duplicate_window: nanosOf(60_000) })
    try {
      const frames = new AckCollector(nc)
      const each = new AckCollector(nc, { frames: false })
      // Frames bypass the client's publish; the per-event path calls it once per event.
      const publish = vi.spyOn(nc, 'publish')
      for (const tailOnly of [false, true]) {
        // Distinct ids per path: a purge does not clear the stream's duplicate window.
        const viaFrames = batch(`f${tailOnly}`)
        const viaEach = batch(`e${tailOnly}`)
        await jsm.streams.purge('FRAMES_A')
        publish.mockClear()
        expect(await frames.publish(viaFrames, 2000, tailOnly)).toEqual(Array(5).fill('fresh'))
        expect(publish).not.toHaveBeenCalled()
        const a = await stored(server.url, 'FRAMES_A')
        await jsm.streams.purge('FRAMES_A')
        publish.mockClear()
        expect(await each.publish(viaEach, 2000, tailOnly)).toEqual(Array(5).fill('fresh'))
        expect(publish).toHaveBeenCalledTimes(5)
        const b = await stored(server.url, 'FRAMES_A')
        expect(a).toHaveLength(5)
        expect(a.map((m) => m.msgId)).toEqual(viaFrames.map((e) => e.id.trim()))
        expect(b.map((m) => m.msgId)).toEqual(viaEach.map((e) => e.id.trim()))
        const rest = (ms: typeof a) => ms.map(({ msgId: _, ...m }) => m)
        expect(rest(a)).toEqual(rest(b))
        expect(a[0]!.headerKeys).toEqual(['Nats-Msg-Id'])
      }
      // The same ids again inside the duplicate window: every event is acked as a repeat.
      expect(await frames.publish(batch('ffalse'), 2000)).toEqual(Array(5).fill('duplicate'))
      expect(nc.stats().outMsgs).toBeGreaterThanOrEqual(25)
    } finally {
      await jsm.streams.delete('FRAMES_A').catch(() => {})
      await nc.close()
    }
  })

  it('refuses an event over the server max_payload and still delivers the rest, on both paths', async () => {
    const config = join(dir, 'small-payload.conf')
    await writeFile(config, 'max_payload: 4096\n')
    const small = await startNatsServer({ args: ['-c', config] })
    const nc = await connect({ servers: small.url })
    try {
      const jsm = await jetstreamManager(nc)
      await jsm.streams.add({ name: 'FRAMES_B', subjects: ['frames.audit.>'] })
      for (const frames of [true, false]) {
        await jsm.streams.purge('FRAMES_B')
        const b = batch(`p${frames}`)
        b[1]!.bytes = Buffer.alloc(5000, 0x61)
        const out = await new AckCollector(nc, { frames }).publish(b, 2000, true)
        expect(out[1]).toBeInstanceOf(Error)
        expect(out.filter((r) => r === 'fresh')).toHaveLength(4)
        expect((await stored(small.url, 'FRAMES_B')).map((m) => m.msgId)).toEqual(
          [0, 2, 3, 4].map((i) => b[i]!.id.trim()),
        )
      }
    } finally {
      await nc.close()
      await small.stop()
    }
  })

  it('fails the whole batch at once on a closed connection', async () => {
    const nc = await connect({ servers: server.url })
    const collector = new AckCollector(nc)
    await nc.close()
    const out = await collector.publish(batch('closed'), 2000, true)
    expect(out).toHaveLength(5)
    for (const r of out) expect(r).toBeInstanceOf(Error)
  })
})

describe('createAuditSink', () => {
  it('builds a JetStream sink when NATS servers are configured', async () => {
    const s = createAuditSink({ nats: { servers: server.url, spoolDir: join(dir, 'factory') } })
    expect(s).toBeInstanceOf(JetStreamAuditSink)
    sinks.push(s as JetStreamAuditSink)
  })
})
