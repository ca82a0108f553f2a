/**
 * The hand-written wire codec against protobuf-es: randomized differential decoding and
 * byte-identical encoding, merge and last-wins rules, and hostile input (truncations, byte flips,
 * overlong varints, huge lengths, deep nesting, invalid UTF-8, wrong wire types).
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import type { JsonObject, JsonValue } from '@bufbuild/protobuf'
import { describe, expect, it } from 'vitest'
import {
  BatchCheckRequestSchema,
  BatchCheckResponseSchema,
  CheckRequestSchema,
  CheckResponseSchema,
  ResourceSchema,
} from '../../src/gen/verdict/v1/authorizer_pb.js'
import type { BatchCheckRequest, CheckRequest } from '../../src/gen/verdict/v1/authorizer_pb.js'
import {
  decodeBatchCheckRequest,
  decodeCheckRequest,
  encodeBatchCheckResponse,
  encodeCheckResponse,
  MAX_MESSAGE_DEPTH,
  WireError,
  WireErrorReason,
} from '../../src/server/wire.js'
import type { WireCheckResponse } from '../../src/server/wire.js'

// ----- seeded randomness -----

function prng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

class Gen {
  readonly next: () => number
  constructor(seed: number) {
    this.next = prng(seed)
  }
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!
  }
  chance(p: number): boolean {
    return this.next() < p
  }
  string(): string {
    const pieces = ['', 'a', 'NY', 'owner_id', 'é', 'ß', '日本', '😀', '𝄞', '\u0000', '\uFEFF', ' ', '"', '\\', 'x'.repeat(40), 'ü'.repeat(20)]
    let s = ''
    const n = this.int(4)
    for (let i = 0; i < n; i++) s += this.pick(pieces)
    return s
  }
  key(): string {
    return this.chance(0.1) ? this.pick(['__proto__', 'constructor', '', '1', '01', 'toString']) : this.string()
  }
  number(): number {
    return this.pick([0, -0, 1, -1, 7, 2998, 0.5, -1e-300, 1e300, Number.MAX_SAFE_INTEGER, Number.MIN_VALUE, NaN, Infinity, -Infinity, this.next() * 1e6])
  }
  json(depth: number): JsonValue {
    const k = this.int(depth > 0 ? 6 : 4)
    switch (k) {
      case 0:
        return null
      case 1:
        return this.number()
      case 2:
        return this.string()
      case 3:
        return this.chance(0.5)
      case 4: {
        const out: JsonValue[] = []
        const n = this.int(4)
        for (let i = 0; i < n; i++) out.push(this.json(depth - 1))
        return out
      }
      default:
        return this.object(depth - 1)
    }
  }
  object(depth: number): JsonObject {
    const o: JsonObject = {}
    const n = this.int(5)
    for (let i = 0; i < n; i++) setOwn(o, this.key(), this.json(depth))
    return o
  }
  maybeObject(): JsonObject | undefined {
    return this.chance(0.7) ? this.object(3) : undefined
  }
  entity(): { type: string; id: string; properties?: JsonObject } | undefined {
    if (this.chance(0.2)) return undefined
    const e: { type: string; id: string; properties?: JsonObject } = { type: this.string(), id: this.string() }
    const p = this.maybeObject()
    if (p !== undefined) e.properties = p
    return e
  }
  checkRequest(): CheckRequest {
    const init: Record<string, unknown> = { token: this.chance(0.8) ? 'eyJ' + 'a'.repeat(this.int(900)) : this.string(), action: this.string() }
    const resource = this.entity()
    if (resource) init.resource = resource
    const context = this.maybeObject()
    if (context) init.context = context
    if (this.chance(0.5)) {
      const subject = this.entity()
      if (subject) init.subject = subject
    }
    return create(CheckRequestSchema, init as never)
  }
  batchRequest(): BatchCheckRequest {
    const items = Array.from({ length: this.int(4) }, () => {
      const item: Record<string, unknown> = { action: this.string() }
      const resource = this.entity()
      if (resource) item.resource = resource
      const context = this.maybeObject()
      if (context) item.context = context
      return item
    })
    const init: Record<string, unknown> = { token: this.string(), items }
    const subject = this.entity()
    if (subject && this.chance(0.5)) init.subject = subject
    return create(BatchCheckRequestSchema, init as never)
  }
  /** An unknown field: a field number the message does not use, with any wire type. */
  unknownField(): number[] {
    const fieldNo = 6 + this.int(3000)
    const wt = this.pick([0, 1, 2, 3, 5])
    const out = [...varint(fieldNo * 8 + wt)]
    if (wt === 0) out.push(...varint(this.int(1e9)))
    if (wt === 1) out.push(1, 2, 3, 4, 5, 6, 7, 8)
    if (wt === 5) out.push(1, 2, 3, 4)
    if (wt === 2) out.push(3, 0x61, 0x62, 0x63)
    if (wt === 3) out.push(...varint(9 * 8), 0x05, ...varint(fieldNo * 8 + 4))
    return out
  }
}

function setOwn(o: JsonObject, k: string, v: JsonValue): void {
  Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true })
}

function varint(n: number): number[] {
  const out: number[] = []
  while (n > 0x7f) {
    out.push((n % 128) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return out
}

function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => [...p]))
}

function len(tag: number, body: Uint8Array | number[]): number[] {
  return [tag, ...varint(body.length), ...body]
}

// ----- comparison helpers -----

type Entity = { type: string; id: string; properties: JsonObject | undefined } | undefined

function entity(e: { type: string; id: string; properties?: JsonObject } | undefined): Entity {
  return e === undefined ? undefined : { type: e.type, id: e.id, properties: e.properties }
}

function reference(bytes: Uint8Array): unknown {
  const m = fromBinary(CheckRequestSchema, bytes)
  return { token: m.token, action: m.action, resource: entity(m.resource), context: m.context, subject: entity(m.subject) }
}

function mine(bytes: Uint8Array): unknown {
  const m = decodeCheckRequest(bytes)
  return { token: m.token, action: m.action, resource: m.resource, context: m.context, subject: m.subject }
}

function referenceBatch(bytes: Uint8Array): unknown {
  const m = fromBinary(BatchCheckRequestSchema, bytes)
  return {
    token: m.token,
    subject: entity(m.subject),
    items: m.items.map((i) => ({ action: i.action, resource: entity(i.resource), context: i.context })),
  }
}

function mineBatch(bytes: Uint8Array): unknown {
  const m = decodeBatchCheckRequest(bytes)
  return {
    token: m.token,
    subject: m.subject,
    items: m.items.map((i) => ({ action: i.action, resource: i.resource, context: i.context })),
  }
}

/** JSON with NaN/Infinity/-0 spelled out, so that strings compare what toEqual might blur. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    typeof x === 'number' && (!Number.isFinite(x) || Object.is(x, -0)) ? `#${Object.is(x, -0) ? '-0' : String(x)}` : x,
  )
}

// Reasons for which the codec is stricter than protobuf-es, which accepts such input.
const STRICTER: ReadonlySet<string> = new Set([
  WireErrorReason.WIRE_TYPE,
  WireErrorReason.OVERRUN,
  WireErrorReason.VARINT,
  WireErrorReason.LENGTH,
])

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown }

function attempt(f: () => unknown): Outcome {
  try {
    return { ok: true, value: f() }
  } catch (error) {
    return { ok: false, error }
  }
}

/**
 * Decodes with both and checks they agree: the same value, or both reject, or the codec rejects
 * for a reason it is documented to be stricter about. Never any error but a WireError.
 */
function agree(bytes: Uint8Array, batch = false): 'accepted' | 'rejected' | 'stricter' {
  const ours = attempt(() => (batch ? mineBatch(bytes) : mine(bytes)))
  const theirs = attempt(() => (batch ? referenceBatch(bytes) : reference(bytes)))
  if (!ours.ok) expect(ours.error).toBeInstanceOf(WireError)
  if (ours.ok) {
    expect(theirs.ok, `protobuf-es rejects what the codec accepts: ${Buffer.from(bytes).toString('hex')}`).toBe(true)
    if (theirs.ok) {
      expect(ours.value).toEqual(theirs.value)
      expect(canonical(ours.value)).toBe(canonical(theirs.value))
    }
    return 'accepted'
  }
  if (theirs.ok) {
    const reason = (ours.error as WireError).reason
    expect(STRICTER.has(reason), `codec rejects (${reason}) what protobuf-es accepts: ${Buffer.from(bytes).toString('hex')}`).toBe(true)
    return 'stricter'
  }
  return 'rejected'
}

function structPayloadLength(properties: JsonObject): number {
  // Resource{properties}: 0x1a, varint length, payload.
  const bytes = toBinary(ResourceSchema, create(ResourceSchema, { properties }))
  let i = 1
  while (bytes[i]! & 0x80) i++
  return bytes.length - i - 1
}

function wireError(f: () => unknown): WireError {
  try {
    f()
  } catch (err) {
    expect(err).toBeInstanceOf(WireError)
    expect((err as WireError).code).toBe('ERR_WIRE_MALFORMED')
    return err as WireError
  }
  throw new Error('expected a WireError')
}

// ----- tests -----

describe('decodeCheckRequest', () => {
  it('decodes random requests exactly like protobuf-es fromBinary', () => {
    const g = new Gen(1)
    for (let i = 0; i < 2000; i++) {
      const bytes = toBinary(CheckRequestSchema, g.checkRequest())
      expect(agree(bytes)).toBe('accepted')
    }
  })

  it('counts the encoded bytes of every Struct field in structBytes', () => {
    const g = new Gen(2)
    let nonZero = 0
    for (let i = 0; i < 500; i++) {
      const req = g.checkRequest()
      const want =
        (req.resource?.properties ? structPayloadLength(req.resource.properties) : 0) +
        (req.context ? structPayloadLength(req.context) : 0) +
        (req.subject?.properties ? structPayloadLength(req.subject.properties) : 0)
      const got = decodeCheckRequest(toBinary(CheckRequestSchema, req)).structBytes
      expect(got).toBe(want)
      if (got > 0) nonZero++
    }
    expect(nonZero).toBeGreaterThan(100)
  })

  it('merges concatenated messages and skips unknown fields like protobuf-es', () => {
    const g = new Gen(3)
    for (let i = 0; i < 1000; i++) {
      const parts: (Uint8Array | number[])[] = []
      const n = 1 + g.int(3)
      for (let j = 0; j < n; j++) {
        parts.push(toBinary(CheckRequestSchema, g.checkRequest()))
        if (g.chance(0.5)) parts.push(g.unknownField())
      }
      expect(agree(concat(...parts))).toBe('accepted')
    }
  })

  it('keeps the last scalar, merges messages and Structs, and keeps the last map entry', () => {
    const a = toBinary(CheckRequestSchema, create(CheckRequestSchema, {
      token: 't1',
      action: 'read',
      resource: { type: 'trade', id: '1', properties: { a: 1, b: { x: 1 }, l: [1] } },
      context: { ip: '10.0.0.1', keep: true },
    }))
    const b = toBinary(CheckRequestSchema, create(CheckRequestSchema, {
      token: 't2',
      resource: { id: '2', properties: { b: { y: 2 }, c: 'new', l: [2] } },
      context: { ip: '10.0.0.2' },
      subject: { type: 'service', id: 'job' },
    }))
    const req = decodeCheckRequest(concat(a, b))
    expect(req).toEqual({
      token: 't2',
      action: 'read',
      // type kept from the first (the second omits it), id overridden, properties entries
      // replaced whole per key (b is not deep-merged), new keys appended.
      resource: { type: 'trade', id: '2', properties: { a: 1, b: { y: 2 }, l: [2], c: 'new' } },
      context: { ip: '10.0.0.2', keep: true },
      subject: { type: 'service', id: 'job', properties: undefined },
      structBytes: req.structBytes,
    })
    expect(Object.keys(req.resource!.properties!)).toEqual(['a', 'b', 'l', 'c'])
    expect(agree(concat(a, b))).toBe('accepted')
  })

  it('merges a repeated value within one map entry, and a repeated kind within one Value', () => {
    // Struct map entry "k" whose value field (2) appears twice: struct_value {x:1} then struct_value {y:'s'}.
    const num = (v: number): number[] => {
      const b = Buffer.alloc(8)
      b.writeDoubleLE(v)
      return [0x11, ...b]
    }
    const entry = (key: string, value: number[]): number[] => len(0x0a, [...len(0x0a, [...Buffer.from(key)]), ...len(0x12, value)])
    const structValue = (k: string, v: number[]): number[] => len(0x2a, entry(k, v))
    const listValue = (...vs: number[][]): number[] => len(0x32, vs.flatMap((v) => len(0x0a, v)))
    const cases: [string, number[], JsonValue][] = [
      ['two struct_values in one entry merge', len(0x0a, [...len(0x0a, [0x6b]), ...len(0x12, structValue('x', num(1))), ...len(0x12, structValue('y', [0x1a, 1, 0x73]))]), { x: 1, y: 's' }],
      ['two struct_values in one Value merge', len(0x0a, [...len(0x0a, [0x6b]), ...len(0x12, [...structValue('x', num(1)), ...structValue('y', num(2))])]), { x: 1, y: 2 }],
      ['two list_values in one Value append', len(0x0a, [...len(0x0a, [0x6b]), ...len(0x12, [...listValue(num(1)), ...listValue(num(2), [0x20, 1])])]), [1, 2, true]],
      ['another kind replaces', len(0x0a, [...len(0x0a, [0x6b]), ...len(0x12, [...structValue('x', num(1)), ...num(5)])]), 5],
      ['a struct after a number starts fresh', len(0x0a, [...len(0x0a, [0x6b]), ...len(0x12, [...num(5), ...structValue('x', num(1))])]), { x: 1 }],
      ['a Value with no kind is null', len(0x0a, [...len(0x0a, [0x6b]), ...len(0x12, [])]), null],
      ['a map entry without a value is null', len(0x0a, len(0x0a, [0x6b])), null],
      ['null_value with any enum number is null', len(0x0a, [...len(0x0a, [0x6b]), ...len(0x12, [0x08, 0x07])]), null],
      ['a bool varint of 2 is true', len(0x0a, [...len(0x0a, [0x6b]), ...len(0x12, [0x20, 0x02])]), true],
    ]
    for (const [name, structBody, want] of cases) {
      const bytes = Uint8Array.from(len(0x22, structBody))
      expect(decodeCheckRequest(bytes).context, name).toEqual({ k: want })
      expect(agree(bytes), name).toBe('accepted')
    }
    // A map entry without a key has the key "".
    const noKey = Uint8Array.from(len(0x22, len(0x0a, len(0x12, num(3)))))
    expect(decodeCheckRequest(noKey).context).toEqual({ '': 3 })
    expect(agree(noKey)).toBe('accepted')
    // The same key twice: the last entry wins, in the first one's position.
    const twice = Uint8Array.from(len(0x22, [...entry('a', num(1)), ...entry('b', num(2)), ...entry('a', [0x1a, 0])]))
    const ctx = decodeCheckRequest(twice).context!
    expect(ctx).toEqual({ a: '', b: 2 })
    expect(Object.keys(ctx)).toEqual(['a', 'b'])
    expect(agree(twice)).toBe('accepted')
  })

  it('keeps NaN, Infinity and -0 numbers as protobuf-es does', () => {
    const req = decodeCheckRequest(toBinary(CheckRequestSchema, create(CheckRequestSchema, { context: { n: NaN, i: -Infinity, z: -0 } })))
    expect(Number.isNaN(req.context!.n)).toBe(true)
    expect(req.context!.i).toBe(-Infinity)
    expect(Object.is(req.context!.z, -0)).toBe(true)
  })

  it('builds "__proto__" keys as own properties without touching any prototype', () => {
    const context: JsonObject = {}
    setOwn(context, '__proto__', { polluted: true })
    const bytes = toBinary(CheckRequestSchema, create(CheckRequestSchema, { context }))
    const got = decodeCheckRequest(bytes).context!
    expect(Object.getPrototypeOf(got)).toBe(Object.prototype)
    expect(Object.keys(got)).toEqual(['__proto__'])
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(JSON.stringify(got)).toBe('{"__proto__":{"polluted":true}}')
    expect(JSON.stringify(got)).toBe(JSON.stringify(fromBinary(CheckRequestSchema, bytes).context))
  })

  it('returns the right strings while many distinct short strings compete for the string cache', () => {
    // More distinct keys and values than the cache has slots, decoded twice over: every collision
    // must fall back to the bytes, never hand out another string.
    const g = new Gen(10)
    const words = Array.from({ length: 5000 }, (_, i) => `k${i}-${g.int(1e9).toString(36)}`.slice(0, 1 + g.int(32)))
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < words.length; i += 2) {
        const context = { [words[i]!]: words[i + 1]! }
        const req = decodeCheckRequest(toBinary(CheckRequestSchema, create(CheckRequestSchema, { action: words[i + 1]!, context })))
        expect(req.action).toBe(words[i + 1])
        expect(req.context).toEqual(context)
      }
    }
  })

  it('hands back the same token string for the same bytes, and the right one when tokens share a memo slot', () => {
    const jwt = (body: string, sig: string) => `eyJhbGciOiJSUzI1NiJ9.${body}.${sig}`
    const a = jwt('a'.repeat(300), 'XYZsig')
    const encoded = (token: string) => toBinary(CheckRequestSchema, create(CheckRequestSchema, { token, action: 'read' }))
    const first = decodeCheckRequest(encoded(a)).token
    expect(first).toBe(a)
    // The same bytes in a fresh buffer: the memo compares bytes, not buffers.
    expect(decodeCheckRequest(Buffer.from(encoded(a))).token).toBe(first)
    // Tokens ending in the same bytes land in one slot: each must still decode to itself.
    const rivals = Array.from({ length: 50 }, (_, i) => jwt(`${i}-${'b'.repeat(200 + i)}`, 'XYZsig'))
    for (let round = 0; round < 2; round++) {
      for (const t of [a, ...rivals]) {
        expect(decodeCheckRequest(encoded(t)).token).toBe(t)
        expect(decodeBatchCheckRequest(toBinary(BatchCheckRequestSchema, create(BatchCheckRequestSchema, { token: t }))).token).toBe(t)
      }
    }
    // Same length, same ending, one byte different in the middle.
    const c = a.slice(0, 100) + 'Q' + a.slice(101)
    expect(decodeCheckRequest(encoded(a)).token).toBe(a)
    expect(decodeCheckRequest(encoded(c)).token).toBe(c)
    // Tokens too long for the memo, and non-ASCII ones, decode like any string.
    for (const t of [jwt('z'.repeat(5000), 'sig'), jwt('é'.repeat(100), 'ü')]) {
      expect(decodeCheckRequest(encoded(t)).token).toBe(t)
      expect(decodeCheckRequest(encoded(t)).token).toBe(t)
    }
    // Invalid UTF-8 is refused every time, never remembered.
    const bad = Buffer.from(encoded(a))
    bad[10] = 0xff
    for (let i = 0; i < 2; i++) expect(() => decodeCheckRequest(bad)).toThrow(WireError)
  })

  it('keeps a leading byte-order mark, U+FFFD and astral characters, in short and long strings', () => {
    for (const pad of ['', 'x'.repeat(40)]) {
      const init = { token: '\uFEFFtok' + pad, action: '𝄞😀' + pad, context: { ['\uFFFD' + pad]: '\uFEFF\uFFFD' + pad } }
      const bytes = toBinary(CheckRequestSchema, create(CheckRequestSchema, init))
      expect(decodeCheckRequest(bytes)).toMatchObject(init)
      expect(agree(bytes)).toBe('accepted')
    }
  })

  it('accepts or rejects every truncation the way protobuf-es does', () => {
    const g = new Gen(4)
    let accepted = 0
    let rejected = 0
    for (let i = 0; i < 30; i++) {
      const bytes = toBinary(CheckRequestSchema, g.checkRequest())
      for (let cut = 0; cut < bytes.length; cut++) {
        const outcome = agree(bytes.subarray(0, cut))
        expect(outcome).not.toBe('stricter')
        if (outcome === 'accepted') accepted++
        else rejected++
      }
    }
    expect(accepted).toBeGreaterThan(30)
    expect(rejected).toBeGreaterThan(1000)
  })

  it('survives random byte flips with a WireError or the value protobuf-es decodes', () => {
    const g = new Gen(5)
    const seen = { accepted: 0, rejected: 0, stricter: 0 }
    for (let i = 0; i < 3000; i++) {
      const bytes = toBinary(CheckRequestSchema, g.checkRequest())
      if (bytes.length === 0) continue
      const flips = 1 + g.int(3)
      for (let f = 0; f < flips; f++) bytes[g.int(bytes.length)] = g.int(256)
      seen[agree(bytes)]++
    }
    expect(seen.accepted).toBeGreaterThan(100)
    expect(seen.rejected).toBeGreaterThan(100)
  })

  it('rejects overlong varints and huge or past-the-end lengths', () => {
    // A tag over 32 bits.
    expect(wireError(() => decodeCheckRequest(Uint8Array.from([0x8a, 0x80, 0x80, 0x80, 0x10]))).reason).toBe(WireErrorReason.TAG)
    // A length varint of 11 bytes.
    expect(wireError(() => decodeCheckRequest(Uint8Array.from([0x0a, ...Array(10).fill(0x80), 0x00]))).reason).toBe(WireErrorReason.VARINT)
    // A padded (10-byte) length is still a valid length.
    expect(decodeCheckRequest(Uint8Array.from([0x0a, 0x81, ...Array(8).fill(0x80), 0x00, 0x61])).token).toBe('a')
    // The first malformed message of the gRPC server test: a length of 2^32 - 1.
    expect(wireError(() => decodeCheckRequest(Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]))).reason).toBe(WireErrorReason.TRUNCATED)
    // A length of 2^35: protobuf-es would truncate it to 32 bits.
    expect(wireError(() => decodeCheckRequest(Uint8Array.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]))).reason).toBe(WireErrorReason.LENGTH)
    // An unknown varint field of 11 bytes.
    expect(wireError(() => decodeCheckRequest(Uint8Array.from([0x30, ...Array(10).fill(0xff), 0x01]))).reason).toBe(WireErrorReason.VARINT)
    // A bool varint of 11 bytes inside a Value.
    const longBool = Uint8Array.from(len(0x22, len(0x0a, [...len(0x0a, [0x6b]), ...len(0x12, [0x20, ...Array(10).fill(0x80), 0x00])])))
    expect(wireError(() => decodeCheckRequest(longBool)).reason).toBe(WireErrorReason.VARINT)
    expect(agree(longBool)).not.toBe('accepted')
    // A string running past the end of its Resource but not of the input.
    const overrun = Uint8Array.from([0x1a, 0x02, 0x0a, 0x05, 0x61, 0x62, 0x63, 0x64, 0x65])
    expect(wireError(() => decodeCheckRequest(overrun)).reason).toBe(WireErrorReason.OVERRUN)
  })

  it('rejects wrong wire types for known fields, invalid tags and stray end-group tags', () => {
    // token (1) as a varint, action (2) as fixed32, context (4) as fixed64.
    for (const bytes of [[0x08, 0x01], [0x15, 1, 2, 3, 4], [0x21, 1, 2, 3, 4, 5, 6, 7, 8]]) {
      expect(wireError(() => decodeCheckRequest(Uint8Array.from(bytes))).reason).toBe(WireErrorReason.WIRE_TYPE)
    }
    // number_value (2) as a varint inside a Value.
    const badValue = Uint8Array.from(len(0x22, len(0x0a, [...len(0x0a, [0x6b]), ...len(0x12, [0x10, 0x01])])))
    expect(wireError(() => decodeCheckRequest(badValue)).reason).toBe(WireErrorReason.WIRE_TYPE)
    // Field number 0, wire types 6 and 7.
    for (const tag of [0x02, 0x36, 0x37]) {
      expect(wireError(() => decodeCheckRequest(Uint8Array.from([tag, 0]))).reason).toBe(WireErrorReason.TAG)
      expect(agree(Uint8Array.from([tag, 0]))).toBe('rejected')
    }
    // An end-group tag with no group, and a group ended with another field number.
    expect(wireError(() => decodeCheckRequest(Uint8Array.from([0x34]))).reason).toBe(WireErrorReason.GROUP)
    expect(wireError(() => decodeCheckRequest(Uint8Array.from([0x33, 0x3c]))).reason).toBe(WireErrorReason.GROUP)
    expect(agree(Uint8Array.from([0x34]))).toBe('rejected')
    expect(agree(Uint8Array.from([0x33, 0x3c]))).toBe('rejected')
    // A well-formed unknown group (field 6, with a nested group) is skipped.
    const group = Uint8Array.from([0x33, 0x38, 0x01, 0x43, 0x44, 0x34, 0x0a, 0x01, 0x61])
    expect(decodeCheckRequest(group).token).toBe('a')
    expect(agree(group)).toBe('accepted')
  })

  it('rejects invalid UTF-8 exactly where protobuf-es does', () => {
    const samples: [number[], boolean][] = [
      [[0x61], true],
      [[0xc3, 0xa9], true], // é
      [[0xf0, 0x9f, 0x98, 0x80], true], // 😀
      [[0xef, 0xbb, 0xbf], true], // BOM
      [[0xc0, 0x80], false], // overlong NUL
      [[0xed, 0xa0, 0x80], false], // a surrogate
      [[0xe2, 0x82], false], // cut short
      [[0xf4, 0x90, 0x80, 0x80], false], // above U+10FFFF
      [[0x80], false], // a lone continuation byte
      [[0xff], false],
    ]
    for (const [raw, valid] of samples) {
      for (const pad of [0, 40]) {
        // Short strings take the ASCII path, long ones the decoder: try both.
        const str = [...Array(pad).fill(0x61), ...raw]
        for (const bytes of [
          Uint8Array.from(len(0x0a, str)),
          Uint8Array.from(len(0x22, len(0x0a, len(0x0a, str)))), // as a Struct key
          Uint8Array.from(len(0x22, len(0x0a, [...len(0x0a, [0x6b]), ...len(0x12, len(0x1a, str))]))), // as a string_value
        ]) {
          expect(agree(bytes)).toBe(valid ? 'accepted' : 'rejected')
          if (!valid) expect(wireError(() => decodeCheckRequest(bytes)).reason).toBe(WireErrorReason.UTF8)
        }
      }
    }
  })

  it('nests Structs up to the depth protobuf-es allows and rejects deeper ones without exhausting the stack', () => {
    // context = {k: {k: ... {k: null}}}: Struct and Value levels alternate from depth 2.
    const nested = (levels: number): Uint8Array => {
      let struct: number[] = len(0x0a, [...len(0x0a, [0x6b]), ...len(0x12, [0x08, 0x00])])
      for (let i = 1; i < levels; i++) struct = len(0x0a, [...len(0x0a, [0x6b]), ...len(0x12, len(0x2a, struct))])
      return Uint8Array.from(len(0x22, struct))
    }
    // Struct level n sits at message depth 2n, its Values at 2n + 1.
    const deepest = Math.floor((MAX_MESSAGE_DEPTH - 1) / 2)
    expect(agree(nested(deepest))).toBe('accepted')
    expect(agree(nested(deepest + 1))).toBe('rejected')
    expect(wireError(() => decodeCheckRequest(nested(deepest + 1))).reason).toBe(WireErrorReason.DEPTH)
    // Lists nested 2000 deep (a list_value holding one Value holding a list_value...), and groups
    // nested 100 000 deep: a depth error, not a stack overflow.
    let value: number[] = [0x08, 0x00]
    for (let i = 0; i < 2000; i++) value = len(0x32, len(0x0a, value))
    const lists = Uint8Array.from(len(0x22, len(0x0a, [...len(0x0a, [0x6b]), ...len(0x12, value)])))
    expect(wireError(() => decodeCheckRequest(lists)).reason).toBe(WireErrorReason.DEPTH)
    expect(agree(lists)).toBe('rejected')
    const groups = Buffer.concat([Buffer.alloc(100_000, 0x33), Buffer.alloc(100_000, 0x34)])
    expect(agree(groups)).toBe('rejected')
    expect(wireError(() => decodeCheckRequest(groups)).reason).toBe(WireErrorReason.DEPTH)
  })
})

describe('decodeBatchCheckRequest', () => {
  it('decodes random and concatenated batches exactly like protobuf-es', () => {
    const g = new Gen(6)
    for (let i = 0; i < 1000; i++) {
      const parts: (Uint8Array | number[])[] = [toBinary(BatchCheckRequestSchema, g.batchRequest())]
      if (g.chance(0.3)) parts.push(g.unknownField(), toBinary(BatchCheckRequestSchema, g.batchRequest()))
      expect(agree(concat(...parts), true)).toBe('accepted')
    }
  })

  it('counts Struct bytes per item and for the subject', () => {
    const req = create(BatchCheckRequestSchema, {
      token: 't',
      subject: { type: 's', id: '1', properties: { a: 'b' } },
      items: [
        { action: 'read', resource: { type: 'trade', id: '1', properties: { owner_id: 7 } }, context: { ip: 'x' } },
        { action: 'read' },
      ],
    })
    const got = decodeBatchCheckRequest(toBinary(BatchCheckRequestSchema, req))
    expect(got.structBytes).toBe(structPayloadLength({ a: 'b' }))
    expect(got.items.map((i) => i.structBytes)).toEqual([structPayloadLength({ owner_id: 7 }) + structPayloadLength({ ip: 'x' }), 0])
  })

  it('survives truncations and byte flips like protobuf-es', () => {
    const g = new Gen(7)
    const seen = { accepted: 0, rejected: 0, stricter: 0 }
    for (let i = 0; i < 1000; i++) {
      const bytes = toBinary(BatchCheckRequestSchema, g.batchRequest())
      if (bytes.length === 0) continue
      const outcome = agree(bytes.subarray(0, g.int(bytes.length)), true)
      expect(outcome).not.toBe('stricter')
      seen[outcome]++
      bytes[g.int(bytes.length)] = g.int(256)
      seen[agree(bytes, true)]++
    }
    expect(seen.accepted).toBeGreaterThan(100)
    expect(seen.rejected).toBeGreaterThan(100)
  })
})

describe('encodeCheckResponse', () => {
  function randomResponse(g: Gen): WireCheckResponse {
    const r: WireCheckResponse = {
      allow: g.chance(0.5),
      decisionId: g.chance(0.9) ? '019384d2-5f2a-7c3e-9a1b-' + g.int(1e12).toString(16).padStart(12, '0') : g.string(),
      reasons: Array.from({ length: g.int(4) }, () => g.string()),
      code: g.chance(0.9) ? g.int(18) : g.pick([-1, -2147483648, 2147483647, 300, 70000]),
      policyRevision: g.string(),
    }
    if (g.chance(0.5)) r.obligations = g.object(3)
    return r
  }

  it('is byte-identical to protobuf-es toBinary on random responses', () => {
    const g = new Gen(8)
    let withObligations = 0
    for (let i = 0; i < 3000; i++) {
      const r = randomResponse(g)
      if (r.obligations !== undefined) withObligations++
      const want = toBinary(CheckResponseSchema, create(CheckResponseSchema, r as never))
      expect(Buffer.from(encodeCheckResponse(r)).toString('hex')).toBe(Buffer.from(want).toString('hex'))
    }
    expect(withObligations).toBeGreaterThan(1000)
  })

  it('encodes batches byte-identically to protobuf-es', () => {
    const g = new Gen(9)
    for (let i = 0; i < 500; i++) {
      const results = Array.from({ length: g.int(5) }, () => randomResponse(g))
      const want = toBinary(BatchCheckResponseSchema, create(BatchCheckResponseSchema, { results: results.map((r) => create(CheckResponseSchema, r as never)) }))
      expect(Buffer.from(encodeBatchCheckResponse({ results })).equals(Buffer.from(want))).toBe(true)
    }
  })

  it('encodes the edge values protobuf-es encodes: lone surrogates, undefined and odd JSON', () => {
    const cases: WireCheckResponse[] = [
      { allow: false, decisionId: '', reasons: [], code: 0, policyRevision: '' },
      { allow: true, decisionId: 'a\uD800b', reasons: ['', '\uDC00', 'x'.repeat(300), 'é'.repeat(100)], code: 1, policyRevision: 'r' },
      { allow: true, decisionId: 'd', reasons: [], code: 1, policyRevision: '', obligations: {} },
      // undefined inside JSON is a Value with no kind; holes in arrays too.
      { allow: true, decisionId: 'd', reasons: [], code: 1, policyRevision: '', obligations: { u: undefined, l: [1, , 3], n: null, z: -0, big: 'y'.repeat(20000) } as never },
    ]
    for (const r of cases) {
      const want = toBinary(CheckResponseSchema, create(CheckResponseSchema, r as never))
      expect(Buffer.from(encodeCheckResponse(r)).toString('hex')).toBe(Buffer.from(want).toString('hex'))
    }
  })

  it('round-trips through protobuf-es fromBinary, and accepts a protobuf-es CheckResponse as input', () => {
    const msg = create(CheckResponseSchema, { allow: true, decisionId: 'id', reasons: ['r'], code: 14, policyRevision: 'rev', obligations: { a: [1, 'b', { c: null }] } })
    const back = fromBinary(CheckResponseSchema, encodeCheckResponse(msg))
    expect(back).toEqual(msg)
  })

  it('refuses a code that is not an int32', () => {
    expect(() => encodeCheckResponse({ allow: false, decisionId: '', reasons: [], code: 1.5, policyRevision: '' })).toThrow(TypeError)
  })
})
