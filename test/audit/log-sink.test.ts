/**
 * Tests for the log sink: one JSON line per event on a writable.
 */
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { buildDecisionEvent, createAuditSink, encodeDecisionEvent, LogAuditSink } from '../../src/audit/index.js'

describe('LogAuditSink', () => {
  it('writes one JSON line per event and counts them', async () => {
    const out = new PassThrough()
    const chunks: string[] = []
    out.on('data', (c: Buffer) => chunks.push(c.toString()))
    const sink = createAuditSink({ output: out })
    expect(sink).toBeInstanceOf(LogAuditSink)
    const e1 = buildDecisionEvent({ service: 's', action: 'a', allow: true, code: 'OK' })
    const e2 = buildDecisionEvent({ service: 's', action: 'b', allow: false, code: 'POLICY_DENIED' })
    sink.write(e1)
    sink.write(e2)
    await sink.flush()
    const lines = chunks.join('').trim().split('\n')
    expect(lines.map((l) => JSON.parse(l))).toEqual([e1, e2])
    expect(sink.stats()).toMatchObject({ published: 2, dropped: 0 })
  })

  it('writes pre-encoded events as they are, one per line', async () => {
    const out = new PassThrough()
    const chunks: string[] = []
    out.on('data', (c: Buffer) => chunks.push(c.toString()))
    const sink = new LogAuditSink(out)
    const record = { decisionId: 'd-1', service: 's', action: 'a', allow: false, code: 'POLICY_DENIED', reasons: ['nö'] }
    const json = encodeDecisionEvent(record)
    sink.writeEncoded(json, { id: 'd-1', allow: false, service: 's' })
    sink.write(buildDecisionEvent({ ...record, decisionId: 'd-2' }))
    await sink.flush()
    const lines = chunks.join('').split('\n')
    expect(lines[0]).toBe(json)
    expect(JSON.parse(lines[1] ?? '')).toMatchObject({ decision_id: 'd-2', reasons: ['nö'] })
    expect(lines[2]).toBe('')
    expect(sink.stats()).toMatchObject({ published: 2, dropped: 0 })
  })

  it('never throws: a failing writable counts a drop', async () => {
    const out = new PassThrough()
    out.destroy()
    const sink = new LogAuditSink(out)
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    expect(() => sink.write(cyclic as never)).not.toThrow()
    expect(sink.stats().dropped).toBe(1)
    await sink.close()
    sink.write(buildDecisionEvent({ service: 's', action: 'a', allow: true, code: 'OK' }))
    expect(sink.stats().dropped).toBe(2)
  })
})
