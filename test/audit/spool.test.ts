/**
 * Tests for the on-disk spool: order across segments, size bound, deletion after ack, reload.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DiskSpool } from '../../src/audit/index.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-spool-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('DiskSpool', () => {
  it('returns lines in order across segments and deletes finished segments', async () => {
    const s = new DiskSpool(dir, { maxBytes: 1 << 20, segmentBytes: 40 })
    for (let i = 0; i < 10; i++) expect(s.append(`line-${i}`)).toBe(true)
    expect((await readdir(dir)).length).toBeGreaterThan(1)
    const seen: string[] = []
    while (!s.empty) {
      const batch = s.peek(3)
      seen.push(...batch)
      s.ack(batch.length)
    }
    expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => `line-${i}`))
    expect(await readdir(dir)).toEqual([])
    expect(s.bytes).toBe(0)
  })

  it('takes lines as UTF-8 bytes as well as text, and counts bytes alike', () => {
    const s = new DiskSpool(dir, { maxBytes: 1 << 20, segmentBytes: 1 << 10 })
    expect(s.append('{"a":"é"}')).toBe(true)
    const afterText = s.bytes
    expect(afterText).toBe(Buffer.byteLength('{"a":"é"}\n'))
    expect(s.append(Buffer.from('{"b":"€"}'))).toBe(true)
    expect(s.bytes - afterText).toBe(Buffer.byteLength('{"b":"€"}\n'))
    expect(s.peek(5)).toEqual(['{"a":"é"}', '{"b":"€"}'])
    // A byte view into a larger buffer writes only its own bytes.
    const shared = Buffer.from('xx{"c":1}yy')
    expect(s.append(shared.subarray(2, 9))).toBe(true)
    expect(s.peek(5)).toEqual(['{"a":"é"}', '{"b":"€"}', '{"c":1}'])
  })

  it('refuses appends beyond maxBytes', () => {
    const s = new DiskSpool(dir, { maxBytes: 20, segmentBytes: 10 })
    expect(s.append('12345678')).toBe(true)
    expect(s.append('12345678')).toBe(true)
    expect(s.append('12345678')).toBe(false)
    expect(s.pending).toBe(2)
  })

  it('picks up segments left by an earlier process, without appending into them', async () => {
    const a = new DiskSpool(dir, { maxBytes: 1 << 20, segmentBytes: 1 << 20 })
    a.append('one')
    a.append('two')
    const b = new DiskSpool(dir, { maxBytes: 1 << 20, segmentBytes: 1 << 20 })
    b.append('three')
    expect(b.pending).toBe(3)
    expect((await readdir(dir)).length).toBe(2)
    expect(b.peek(10)).toEqual(['one', 'two'])
    b.ack(1)
    expect(b.peek(10)).toEqual(['two'])
    b.ack(1)
    expect(b.peek(10)).toEqual(['three'])
  })

  it('serves lines appended to the segment being read', () => {
    const s = new DiskSpool(dir, { maxBytes: 1 << 20, segmentBytes: 1 << 20 })
    s.append('a')
    expect(s.peek(10)).toEqual(['a'])
    s.append('b')
    s.ack(1)
    expect(s.peek(10)).toEqual(['b'])
  })
})
