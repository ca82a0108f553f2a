/**
 * A hand-written protobuf codec for the Check hot path: decodes `verdict.v1.CheckRequest` and
 * `BatchCheckRequest`, encodes `CheckResponse` and `BatchCheckResponse`, reading and writing the
 * wire format directly instead of going through protobuf-es reflection and `google.protobuf.Value`
 * messages. `google.protobuf.Struct` fields come out as plain JSON objects, the way protobuf-es
 * represents them.
 *
 * The results equal protobuf-es `fromBinary`/`toBinary` (the differential tests prove it): unknown
 * fields (groups included) are skipped, a scalar seen twice keeps the last value, a message seen
 * twice is merged, map entries with the same key keep the last, a map entry without a value and a
 * `Value` with no kind set are `null`, NaN and ±Infinity numbers are kept as they are, invalid
 * UTF-8 is rejected, and messages nest at most {@link MAX_MESSAGE_DEPTH} deep.
 *
 * Where protobuf-es is lenient the decoder is strict and throws a {@link WireError}: a known field
 * with the wrong wire type (protobuf-es reinterprets the bytes), a field running past the end of
 * its enclosing message (protobuf-es only checks the end of the input), a varint longer than 10
 * bytes in a skipped field, and a length prefix of 2^32 or more (protobuf-es truncates it).
 *
 * Decoding is synchronous and not re-entrant: the reader state lives in module variables, which is
 * the cheapest form for V8 and safe because nothing here yields.
 *
 * @module
 */

import type { JsonObject, JsonValue } from '@bufbuild/protobuf'
import { PdpError } from '../util/errors.js'

export type { JsonObject, JsonValue }

/**
 * How deep messages may nest, counting the request itself as 1 and each Struct, Value and
 * ListValue as one more level: the same limit as protobuf-es (`recursionLimit`), so the codec
 * accepts exactly the nesting protobuf-es accepts. A Struct in `context` reaches 49 levels of JSON
 * nesting; the limit keeps a hostile deeply nested Struct from exhausting the stack.
 */
export const MAX_MESSAGE_DEPTH = 100

/** Why a message did not decode (the `reason` of a {@link WireError}). */
export const WireErrorReason = {
  /** The input ends inside a field. */
  TRUNCATED: 'truncated',
  /** A field runs past the end of the message that encloses it. */
  OVERRUN: 'overrun',
  /** A length prefix of 2^32 or more. */
  LENGTH: 'length',
  /** A varint longer than 10 bytes. */
  VARINT: 'varint',
  /** A tag that is not a valid tag: field number 0, wire type 6 or 7, or over 32 bits. */
  TAG: 'tag',
  /** A known field with a wire type its type does not use. */
  WIRE_TYPE: 'wire_type',
  /** An end-group tag without its start group, or one with another field number. */
  GROUP: 'group',
  /** A string that is not valid UTF-8. */
  UTF8: 'utf8',
  /** Messages (or groups) nested deeper than {@link MAX_MESSAGE_DEPTH}. */
  DEPTH: 'depth',
} as const

/** A {@link WireErrorReason} value. */
export type WireErrorReason = (typeof WireErrorReason)[keyof typeof WireErrorReason]

/** The request bytes are not a valid message of the expected type. */
export class WireError extends PdpError {
  /** What was wrong with the bytes. */
  readonly reason: WireErrorReason

  constructor(reason: WireErrorReason, message: string) {
    super('ERR_WIRE_MALFORMED', message)
    this.reason = reason
  }
}

/** `verdict.v1.Resource`: the thing acted upon. */
export interface WireResource {
  type: string
  id: string
  properties: JsonObject | undefined
}

/** `verdict.v1.Subject`: who acts, when the request overrides the token's subject. */
export interface WireSubject {
  type: string
  id: string
  properties: JsonObject | undefined
}

/** `verdict.v1.CheckRequest`, decoded. */
export interface WireCheckRequest {
  token: string
  action: string
  resource: WireResource | undefined
  context: JsonObject | undefined
  subject: WireSubject | undefined
  /**
   * Encoded bytes of all Struct fields in the request (resource and subject properties, context):
   * the request-size limit uses it instead of re-serialising.
   */
  structBytes: number
}

/** `verdict.v1.BatchCheckItem`, decoded. */
export interface WireBatchItem {
  action: string
  resource: WireResource | undefined
  context: JsonObject | undefined
  /** Encoded bytes of this item's Struct fields (resource properties, context). */
  structBytes: number
}

/** `verdict.v1.BatchCheckRequest`, decoded. */
export interface WireBatchCheckRequest {
  token: string
  subject: WireSubject | undefined
  items: WireBatchItem[]
  /** Encoded bytes of the subject's properties. */
  structBytes: number
}

/** `verdict.v1.CheckResponse`, to encode. A protobuf-es `CheckResponse` fits this shape. */
export interface WireCheckResponse {
  allow: boolean
  decisionId: string
  reasons: string[]
  /** A `verdict.v1.DecisionCode` value. */
  code: number
  policyRevision: string
  obligations?: JsonObject | undefined
}

/** `verdict.v1.BatchCheckResponse`, to encode. */
export interface WireBatchCheckResponse {
  results: WireCheckResponse[]
}

// ---------------------------------------------------------------------------------------------
// Decoding

const EMPTY = Buffer.alloc(0)
// The reader: the input and the position in it. Reset by every decode call.
let buf: Buffer = EMPTY
let pos = 0
// Sum of the payload lengths of the Struct fields read since the counter was last read.
let structBytes = 0

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
// Strings up to this many bytes go through the short-string cache when they are ASCII.
const SHORT_STRING = 32

function fail(reason: WireErrorReason, message: string): never {
  throw new WireError(reason, message)
}

// A read that needs the bytes up to `need` but may only go to the end of its enclosing message:
// either the input is cut short, or the field overruns that message.
function pastEnd(need: number, what: string): never {
  if (need > buf.length) fail(WireErrorReason.TRUNCATED, `${what} runs past the end of the input`)
  fail(WireErrorReason.OVERRUN, `${what} runs past the end of its message`)
}

/** Reads a tag (field number << 3 | wire type) and checks it. */
function readTag(end: number): number {
  let b = buf[pos++]!
  let tag = b & 0x7f
  if (b >= 0x80) {
    for (let shift = 7; ; shift += 7) {
      if (pos >= end) pastEnd(pos + 1, 'a tag')
      b = buf[pos++]!
      if (shift === 28) {
        if (b > 0x0f) fail(WireErrorReason.TAG, 'a tag does not fit in 32 bits')
        tag = (tag | (b << 28)) >>> 0
        break
      }
      tag |= (b & 0x7f) << shift
      if (b < 0x80) break
    }
  }
  if (tag >>> 3 === 0 || (tag & 7) > 5) {
    fail(WireErrorReason.TAG, `invalid tag: field number ${tag >>> 3}, wire type ${tag & 7}`)
  }
  return tag
}

/** Reads a length prefix and checks that that many bytes follow before `end`. */
function readLength(end: number): number {
  if (pos >= end) pastEnd(pos + 1, 'a length')
  let b = buf[pos++]!
  let len = b & 0x7f
  // Multiplication instead of shifts: a padded or huge length must not wrap around.
  for (let scale = 128, n = 1; b >= 0x80; scale *= 128, n++) {
    if (n === 10) fail(WireErrorReason.VARINT, 'a varint is longer than 10 bytes')
    if (pos >= end) pastEnd(pos + 1, 'a length')
    b = buf[pos++]!
    len += (b & 0x7f) * scale
  }
  if (len >= 0x1_0000_0000) fail(WireErrorReason.LENGTH, `a length prefix of ${len} bytes`)
  if (len > end - pos) pastEnd(pos + len, 'a length-delimited field')
  return len
}

function skipVarint(end: number): void {
  for (let n = 0; n < 10; n++) {
    if (pos >= end) pastEnd(pos + 1, 'a varint')
    if (buf[pos++]! < 0x80) return
  }
  fail(WireErrorReason.VARINT, 'a varint is longer than 10 bytes')
}

// A bool is any varint; like protobuf-es, only the low 64 bits count (of the tenth byte, bit 0).
function readBool(end: number): boolean {
  let any = 0
  for (let n = 0; n < 10; n++) {
    if (pos >= end) pastEnd(pos + 1, 'a varint')
    const b = buf[pos++]!
    any |= b & (n === 9 ? 0x01 : 0x7f)
    if (b < 0x80) return any !== 0
  }
  fail(WireErrorReason.VARINT, 'a varint is longer than 10 bytes')
}

function readDouble(end: number): number {
  if (end - pos < 8) pastEnd(pos + 8, 'a double')
  const v = buf.readDoubleLE(pos)
  pos += 8
  return v
}

function decodeUtf8(start: number, stop: number): string {
  try {
    return strictUtf8.decode(buf.subarray(start, stop))
  } catch {
    return fail(WireErrorReason.UTF8, 'a string is not valid UTF-8')
  }
}

// Short ASCII strings (keys, types, actions, ids) repeat from request to request. A small
// direct-mapped cache, checked byte for byte, returns the same string object for the same bytes:
// no allocation, and V8 sees an already internalized key when it becomes a property name (a fresh
// key string costs a string-table lookup on every store).
const CACHE_SLOTS = 1024
const cacheStrings: (string | undefined)[] = new Array<string | undefined>(CACHE_SLOTS).fill(undefined)
const cacheLengths = new Uint8Array(CACHE_SLOTS)
const cacheBytes = new Uint8Array(CACHE_SLOTS * SHORT_STRING)

function readShortString(start: number, len: number): string {
  let h = len
  for (let i = start; i < start + len; i++) {
    const c = buf[i]!
    if (c >= 0x80) return decodeUtf8(start, start + len)
    h = Math.imul(h ^ c, 0x01000193)
  }
  const slot = (h ^ (h >>> 16)) & (CACHE_SLOTS - 1)
  const base = slot * SHORT_STRING
  const cached = cacheStrings[slot]
  if (cached !== undefined && cacheLengths[slot] === len) {
    let i = 0
    while (i < len && cacheBytes[base + i] === buf[start + i]) i++
    if (i === len) return cached
  }
  const s = buf.toString('latin1', start, start + len)
  for (let i = 0; i < len; i++) cacheBytes[base + i] = buf[start + i]!
  cacheLengths[slot] = len
  cacheStrings[slot] = s
  return s
}

// Node's lenient UTF-8 decoding (one native call, no view to allocate) puts U+FFFD wherever the
// bytes are not valid UTF-8, so a result without U+FFFD proves them valid; only one with U+FFFD
// (invalid, or a real U+FFFD in the text) goes through the strict decoder.
function readLongString(start: number, stop: number): string {
  const s = buf.toString('utf8', start, stop)
  return s.includes('\uFFFD') ? decodeUtf8(start, stop) : s
}

// A caller sends the same token on every call until it expires, and decoding it is most of a
// request's string work (an 800-byte JWT: a fresh string and a scan for U+FFFD each time). A small
// direct-mapped memo keyed by the token's last bytes (its signature's, which differ between
// tokens) gives back the same string for the same bytes, compared in full; the token cache then
// finds it by identity. Tokens over MEMO_MAX bytes are decoded every time, so the memo stays
// within TOKEN_SLOTS * MEMO_MAX bytes and strings.
const TOKEN_SLOTS = 128
const MEMO_MAX = 4096
const tokenBytes: (Buffer | undefined)[] = new Array<Buffer | undefined>(TOKEN_SLOTS).fill(undefined)
const tokenStrings: string[] = new Array<string>(TOKEN_SLOTS).fill('')

function readToken(end: number): string {
  const len = readLength(end)
  const start = pos
  pos += len
  if (len <= SHORT_STRING || len > MEMO_MAX) return stringAt(start, len)
  const slot = (buf[pos - 1]! * 31 + buf[pos - 2]! * 7 + buf[pos - 3]!) & (TOKEN_SLOTS - 1)
  const known = tokenBytes[slot]
  if (known !== undefined && known.length === len && known.compare(buf, start, pos) === 0) {
    return tokenStrings[slot]!
  }
  const s = readLongString(start, pos)
  tokenBytes[slot] = Buffer.from(buf.subarray(start, pos))
  tokenStrings[slot] = s
  return s
}

function readString(end: number): string {
  const len = readLength(end)
  const start = pos
  pos += len
  return stringAt(start, len)
}

/** The `len` bytes at `start` as a string: short ones through the cache, long ones checked. */
function stringAt(start: number, len: number): string {
  if (len === 0) return ''
  return len > SHORT_STRING ? readLongString(start, start + len) : readShortString(start, len)
}

/** Skips an unknown field; groups nest at most `budget` deep (protobuf-es' remaining depth). */
function skipField(wireType: number, fieldNo: number, end: number, budget: number): void {
  switch (wireType) {
    case 0:
      skipVarint(end)
      return
    case 1:
      if (end - pos < 8) pastEnd(pos + 8, 'a fixed64')
      pos += 8
      return
    case 2: {
      const length = readLength(end) // (not `pos += readLength()`: that would add to the old pos)
      pos += length
      return
    }
    case 3:
      if (budget <= 0) fail(WireErrorReason.DEPTH, `groups nest deeper than ${MAX_MESSAGE_DEPTH}`)
      for (;;) {
        if (pos >= end) pastEnd(pos + 1, 'a group')
        const tag = readTag(end)
        if ((tag & 7) === 4) {
          if (tag >>> 3 !== fieldNo) fail(WireErrorReason.GROUP, 'a group ends with another field number')
          return
        }
        skipField(tag & 7, tag >>> 3, end, budget - 1)
      }
    case 4:
      fail(WireErrorReason.GROUP, 'an end-group tag without a start group')
    default:
      if (end - pos < 4) pastEnd(pos + 4, 'a fixed32')
      pos += 4
  }
}

// A field whose tag matched no known (field, wire type) pair: skipped when its number is unknown,
// an error when the number is known (every message here numbers its fields 1..lastKnown).
function unknownField(tag: number, lastKnown: number, end: number, depth: number): void {
  const fieldNo = tag >>> 3
  if (fieldNo <= lastKnown) {
    fail(WireErrorReason.WIRE_TYPE, `field ${fieldNo} has wire type ${tag & 7}, which its type does not use`)
  }
  skipField(tag & 7, fieldNo, end, MAX_MESSAGE_DEPTH - depth)
}

function enter(depth: number): void {
  if (depth > MAX_MESSAGE_DEPTH) fail(WireErrorReason.DEPTH, `messages nest deeper than ${MAX_MESSAGE_DEPTH}`)
}

// `__proto__` as a plain assignment would set the prototype instead of a key.
function setOwn(obj: JsonObject, key: string, value: JsonValue): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true })
  } else {
    obj[key] = value
  }
}

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

// google.protobuf.Struct { map<string, Value> fields = 1 }, merged into `into`.
function readStructBody(into: JsonObject, stop: number, depth: number): JsonObject {
  enter(depth)
  while (pos < stop) {
    const tag = readTag(stop)
    if (tag === 0x0a) readMapEntry(into, stop, depth)
    else unknownField(tag, 1, stop, depth)
  }
  return into
}

// One map entry { string key = 1; Value value = 2 }. Not a message level of its own (protobuf-es
// does not count it); a missing key is "", a missing value null, a repeated value is merged.
function readMapEntry(into: JsonObject, end: number, depth: number): void {
  const length = readLength(end)
  const stop = pos + length
  let key = ''
  let value: JsonValue | undefined
  while (pos < stop) {
    const tag = readTag(stop)
    if (tag === 0x0a) key = readString(stop)
    else if (tag === 0x12) value = readValue(value, stop, depth + 1)
    else unknownField(tag, 2, stop, depth)
  }
  setOwn(into, key, value ?? null)
}

// A Struct-typed field of a request message: counted in structBytes, merged with an earlier one.
function readStructField(existing: JsonObject | undefined, end: number, depth: number): JsonObject {
  const len = readLength(end)
  structBytes += len
  return readStructBody(existing ?? {}, pos + len, depth)
}

/**
 * google.protobuf.Value (length-prefixed), merged into `existing` like protobuf-es merges a
 * message: a struct_value or list_value of the same kind as before is merged, any other kind
 * replaces. Returns undefined for a Value with no kind, which callers turn into null.
 */
function readValue(existing: JsonValue | undefined, end: number, depth: number): JsonValue | undefined {
  const length = readLength(end)
  const stop = pos + length
  enter(depth)
  let v = existing
  while (pos < stop) {
    const tag = readTag(stop)
    switch (tag) {
      case 0x08: // null_value: the enum's value does not matter
        skipVarint(stop)
        v = null
        break
      case 0x11:
        v = readDouble(stop)
        break
      case 0x1a:
        v = readString(stop)
        break
      case 0x20:
        v = readBool(stop)
        break
      case 0x2a: {
        const len = readLength(stop)
        v = readStructBody(isObject(v) ? v : {}, pos + len, depth + 1)
        break
      }
      case 0x32: {
        const len = readLength(stop)
        v = readListBody(Array.isArray(v) ? v : [], pos + len, depth + 1)
        break
      }
      default:
        unknownField(tag, 6, stop, depth)
    }
  }
  return v
}

// google.protobuf.ListValue { repeated Value values = 1 }, appended to `into`.
function readListBody(into: JsonValue[], stop: number, depth: number): JsonValue[] {
  enter(depth)
  while (pos < stop) {
    const tag = readTag(stop)
    if (tag === 0x0a) into.push(readValue(undefined, stop, depth + 1) ?? null)
    else unknownField(tag, 1, stop, depth)
  }
  return into
}

// Resource and Subject: { string type = 1; string id = 2; Struct properties = 3 }.
function readEntity(existing: WireResource | undefined, end: number, depth: number): WireResource {
  const length = readLength(end)
  const stop = pos + length
  enter(depth)
  const e = existing ?? { type: '', id: '', properties: undefined }
  while (pos < stop) {
    const tag = readTag(stop)
    switch (tag) {
      case 0x0a:
        e.type = readString(stop)
        break
      case 0x12:
        e.id = readString(stop)
        break
      case 0x1a:
        e.properties = readStructField(e.properties, stop, depth + 1)
        break
      default:
        unknownField(tag, 3, stop, depth)
    }
  }
  return e
}

function begin(bytes: Uint8Array): void {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array')
  buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  pos = 0
  structBytes = 0
}

/**
 * Decodes a `verdict.v1.CheckRequest`.
 *
 * @throws {WireError} when the bytes are not a valid CheckRequest.
 * @example
 * const req = decodeCheckRequest(bytes)
 * req.resource?.properties // { owner_id: 7, location: 'NY' }
 */
export function decodeCheckRequest(bytes: Uint8Array): WireCheckRequest {
  begin(bytes)
  try {
    const req: WireCheckRequest = {
      token: '',
      action: '',
      resource: undefined,
      context: undefined,
      subject: undefined,
      structBytes: 0,
    }
    const end = buf.length
    while (pos < end) {
      const tag = readTag(end)
      switch (tag) {
        case 0x0a:
          req.token = readToken(end)
          break
        case 0x12:
          req.action = readString(end)
          break
        case 0x1a:
          req.resource = readEntity(req.resource, end, 2)
          break
        case 0x22:
          req.context = readStructField(req.context, end, 2)
          break
        case 0x2a:
          req.subject = readEntity(req.subject, end, 2)
          break
        default:
          unknownField(tag, 5, end, 1)
      }
    }
    req.structBytes = structBytes
    return req
  } finally {
    buf = EMPTY // do not keep the request's memory alive until the next call
  }
}

// BatchCheckItem { string action = 1; Resource resource = 2; Struct context = 3 }.
function readBatchItem(end: number): WireBatchItem {
  const length = readLength(end)
  const stop = pos + length
  enter(2)
  const before = structBytes
  const item: WireBatchItem = { action: '', resource: undefined, context: undefined, structBytes: 0 }
  while (pos < stop) {
    const tag = readTag(stop)
    switch (tag) {
      case 0x0a:
        item.action = readString(stop)
        break
      case 0x12:
        item.resource = readEntity(item.resource, stop, 3)
        break
      case 0x1a:
        item.context = readStructField(item.context, stop, 3)
        break
      default:
        unknownField(tag, 3, stop, 2)
    }
  }
  item.structBytes = structBytes - before
  structBytes = before
  return item
}

/**
 * Decodes a `verdict.v1.BatchCheckRequest`.
 *
 * @throws {WireError} when the bytes are not a valid BatchCheckRequest.
 * @example
 * const batch = decodeBatchCheckRequest(bytes)
 * batch.items.map((item) => item.action) // ['read', 'update']
 */
export function decodeBatchCheckRequest(bytes: Uint8Array): WireBatchCheckRequest {
  begin(bytes)
  try {
    const req: WireBatchCheckRequest = { token: '', subject: undefined, items: [], structBytes: 0 }
    const end = buf.length
    while (pos < end) {
      const tag = readTag(end)
      switch (tag) {
        case 0x0a:
          req.token = readToken(end)
          break
        case 0x12:
          req.items.push(readBatchItem(end))
          break
        case 0x1a:
          req.subject = readEntity(req.subject, end, 2)
          break
        default:
          unknownField(tag, 3, end, 1)
      }
    }
    req.structBytes = structBytes
    return req
  } finally {
    buf = EMPTY
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding: one pass computes the size of every length-delimited part (in the order the write
// pass meets them) and of every string, the second writes into one buffer of the exact size.

let sizes: number[] = []
let next = 0
let out: Buffer = EMPTY
let at = 0
// Strings up to this many chars are measured and written in JS when they are ASCII.
const SHORT_WRITE = 64

function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x20_0000 ? 3 : n < 0x1000_0000 ? 4 : 5
}

function utf8Length(s: string): number {
  if (s.length > SHORT_WRITE) return Buffer.byteLength(s, 'utf8')
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s, 'utf8')
  }
  return s.length
}

// Size of a string field (tag included); remembers the string's byte length for the write pass.
function stringFieldSize(s: string): number {
  const len = utf8Length(s)
  sizes.push(len)
  return 1 + varintSize(len) + len
}

// A slot for the body size of a message field, taken before its body is measured so that the
// write pass finds the sizes in the order it writes the length prefixes.
function reserve(): number {
  return sizes.push(0) - 1
}

// Size of a message field (tag included) whose body is `body` bytes; fills the reserved slot.
function messageFieldSize(slot: number, body: number): number {
  sizes[slot] = body
  return 1 + varintSize(body) + body
}

// protobuf-es turns a Struct's JSON into Value messages by typeof; anything else (undefined, a
// bigint, a function) is a Value with no kind: an empty message.
function valueSize(v: unknown): number {
  switch (typeof v) {
    case 'number':
      return 9
    case 'string':
      return stringFieldSize(v)
    case 'boolean':
      return 2
    case 'object':
      if (v === null) return 2
      if (Array.isArray(v)) return messageFieldSize(reserve(), listSize(v))
      return messageFieldSize(reserve(), structSize(v))
    default:
      return 0
  }
}

function listSize(list: readonly unknown[]): number {
  let n = 0
  // for..of, like protobuf-es: holes are undefined, so empty Values.
  for (const e of list) n += messageFieldSize(reserve(), valueSize(e))
  return n
}

function structSize(obj: object): number {
  // Like protobuf-es, an array or null in a Struct field is an empty Struct.
  if (obj === null || Array.isArray(obj)) return 0
  let n = 0
  const rec = obj as Record<string, unknown>
  for (const key of Object.keys(rec)) {
    const entry = reserve()
    const keySize = stringFieldSize(key)
    const value = reserve()
    n += messageFieldSize(entry, keySize + messageFieldSize(value, valueSize(rec[key])))
  }
  return n
}

function checkResponseSize(r: WireCheckResponse): number {
  let n = 0
  if (r.allow) n += 2
  if (r.decisionId !== '') n += stringFieldSize(r.decisionId)
  for (const reason of r.reasons) n += stringFieldSize(reason)
  if (r.code !== 0) {
    if (!Number.isInteger(r.code) || r.code > 0x7fff_ffff || r.code < -0x8000_0000) {
      throw new TypeError(`code must be an int32, got ${r.code}`)
    }
    n += 1 + (r.code < 0 ? 10 : varintSize(r.code))
  }
  if (r.policyRevision !== '') n += stringFieldSize(r.policyRevision)
  if (r.obligations !== undefined) n += messageFieldSize(reserve(), structSize(r.obligations as object))
  return n
}

function writeByte(b: number): void {
  out[at++] = b
}

function writeVarint(n: number): void {
  while (n > 0x7f) {
    out[at++] = (n & 0x7f) | 0x80
    n >>>= 7
  }
  out[at++] = n
}

// A negative int32 is sign-extended to 64 bits: ten bytes.
function writeInt32(n: number): void {
  if (n >= 0) return writeVarint(n)
  for (let i = 0; i < 9; i++) {
    out[at++] = (n & 0x7f) | 0x80
    n >>= 7
  }
  out[at++] = 1
}

function writeString(tag: number, s: string): void {
  const len = sizes[next++]!
  out[at++] = tag
  writeVarint(len)
  // The byte length equals the UTF-16 length only for ASCII.
  if (len === s.length && len <= SHORT_WRITE) {
    for (let i = 0; i < len; i++) out[at++] = s.charCodeAt(i)
  } else {
    out.write(s, at, len, 'utf8')
    at += len
  }
}

function writeHeader(tag: number): void {
  out[at++] = tag
  writeVarint(sizes[next++]!)
}

function writeValue(v: unknown): void {
  switch (typeof v) {
    case 'number':
      writeByte(0x11)
      out.writeDoubleLE(v, at)
      at += 8
      return
    case 'string':
      writeString(0x1a, v)
      return
    case 'boolean':
      writeByte(0x20)
      writeByte(v ? 1 : 0)
      return
    case 'object':
      if (v === null) {
        writeByte(0x08)
        writeByte(0)
      } else if (Array.isArray(v)) {
        writeHeader(0x32)
        for (const e of v as unknown[]) {
          writeHeader(0x0a)
          writeValue(e)
        }
      } else {
        writeHeader(0x2a)
        writeStruct(v)
      }
  }
}

function writeStruct(obj: object): void {
  if (obj === null || Array.isArray(obj)) return
  const rec = obj as Record<string, unknown>
  for (const key of Object.keys(rec)) {
    writeHeader(0x0a)
    writeString(0x0a, key)
    writeHeader(0x12)
    writeValue(rec[key])
  }
}

function writeCheckResponse(r: WireCheckResponse): void {
  if (r.allow) {
    writeByte(0x08)
    writeByte(1)
  }
  if (r.decisionId !== '') writeString(0x12, r.decisionId)
  for (const reason of r.reasons) writeString(0x1a, reason)
  if (r.code !== 0) {
    writeByte(0x20)
    writeInt32(r.code)
  }
  if (r.policyRevision !== '') writeString(0x2a, r.policyRevision)
  if (r.obligations !== undefined) {
    writeHeader(0x32)
    writeStruct(r.obligations as object)
  }
}

function beginOutput(size: number): void {
  out = Buffer.allocUnsafe(size)
  at = 0
  next = 0
}

function endOutput(): Buffer {
  const result = out
  out = EMPTY
  // A scratch array grown by a huge response is dropped rather than kept alive.
  if (sizes.length > 4096) sizes = []
  return result
}

/**
 * Encodes a `verdict.v1.CheckResponse`; byte-identical to protobuf-es `toBinary` of the same
 * message (fields in number order, proto3 defaults omitted, obligations numbers as doubles).
 *
 * @example
 * const bytes = encodeCheckResponse({ allow: true, decisionId, reasons: [], code: 1, policyRevision: 'r1' })
 */
export function encodeCheckResponse(r: WireCheckResponse): Buffer {
  sizes.length = 0
  beginOutput(checkResponseSize(r))
  writeCheckResponse(r)
  return endOutput()
}

/**
 * Encodes a `verdict.v1.BatchCheckResponse`; byte-identical to protobuf-es `toBinary`.
 *
 * @example
 * const bytes = encodeBatchCheckResponse({ results: [allowed, denied] })
 */
export function encodeBatchCheckResponse(r: WireBatchCheckResponse): Buffer {
  sizes.length = 0
  let size = 0
  for (const result of r.results) size += messageFieldSize(reserve(), checkResponseSize(result))
  beginOutput(size)
  for (const result of r.results) {
    writeHeader(0x0a)
    writeCheckResponse(result)
  }
  return endOutput()
}
