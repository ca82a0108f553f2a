/**
 * HPACK (RFC 7541), the header compression of HTTP/2, for Verdict's gRPC server (`h2/`) and the
 * benchmark's gRPC client. The decoder is complete: static and dynamic table, dynamic table size
 * updates and eviction, Huffman-coded strings; peers (grpc-js and nghttp2 in Node, Go's hpack,
 * Envoy) use all of it. The encoder only writes indexed static entries and literals without
 * indexing, so the peer's decoder table never changes and a header block can be encoded once and
 * sent on every stream: enough for fixed requests and for gRPC's response headers and trailers.
 *
 * Header names and values are handled as Latin-1 strings: one character per octet, so table
 * entry sizes are exact and any value survives decoding; values that carry UTF-8 (gRPC's
 * percent-encoded `grpc-message`) are decoded by the caller.
 *
 * @module
 */

/** The static table (RFC 7541 Appendix A): index i + 1 is `[name, value]` at i. */
export const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
]

/** The default SETTINGS_HEADER_TABLE_SIZE (RFC 7540 §6.5.2). */
export const DEFAULT_HEADER_TABLE_SIZE = 4096

/** Per-entry overhead counted in the dynamic table size (RFC 7541 §4.1). */
const ENTRY_OVERHEAD = 32

const EMPTY = Buffer.alloc(0)

/**
 * Huffman code length of each symbol 0..256 (256 is EOS), RFC 7541 Appendix B. The code is
 * canonical (codes of one length are consecutive, in symbol order, and shorter codes come
 * first), so the lengths alone define it; {@link huffmanCode} rebuilds the codes.
 */
// prettier-ignore
const HUFFMAN_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0-15
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 16-31
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, //         ' ' - '/'
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, //              '0' - '?'
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, //                '@' - 'O'
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, //             'P' - '_'
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, //                '`' - 'o'
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, //            'p' - 127
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 128-143
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 144-159
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 160-175
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 176-191
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 192-207
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 208-223
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 224-239
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 240-255
  30, //                                                             EOS
]

const EOS = 256

/**
 * The Huffman code of every symbol, rebuilt from {@link HUFFMAN_LENGTHS}: `codes[s]` holds the
 * code's bits right-aligned, `lengths[s]` its length.
 */
export function huffmanCode(): { codes: number[]; lengths: number[] } {
  const order = HUFFMAN_LENGTHS.map((len, sym) => ({ len, sym })).sort(
    (a, b) => a.len - b.len || a.sym - b.sym,
  )
  const codes = new Array<number>(HUFFMAN_LENGTHS.length).fill(0)
  let code = 0
  let len = order[0]!.len
  for (const e of order) {
    code *= 2 ** (e.len - len)
    len = e.len
    codes[e.sym] = code
    code++
  }
  return { codes, lengths: [...HUFFMAN_LENGTHS] }
}

/**
 * The Huffman decoder as a state machine that reads 4 bits at a time. A state is an inner node
 * of the code tree (0 is the root). `HUFF_STEP[state * 16 + nibble]` packs the next state (bits
 * 0-7), whether a symbol was completed (bit 8) and which (bits 9-16), and whether the nibble ran
 * into EOS (bit 17), which is an error inside a string. No code is shorter than 5 bits, so a
 * nibble completes at most one symbol.
 */
const HUFF_STEP = new Int32Array(256 * 16)
/**
 * States a string may end in: the root, or a run of at most 7 one-bits from the root (the
 * padding, a prefix of EOS; RFC 7541 §5.2).
 */
const HUFF_ACCEPT = new Uint8Array(256)

{
  // The code tree: inner node n has children left[n], right[n]; a child >= 0 is an inner node,
  // a child < 0 is the leaf of symbol ~child.
  const left: number[] = [0]
  const right: number[] = [0]
  let nodes = 1
  const { codes, lengths } = huffmanCode()
  for (let sym = 0; sym <= EOS; sym++) {
    let node = 0
    for (let bit = lengths[sym]! - 1; bit >= 0; bit--) {
      const one = Math.floor(codes[sym]! / 2 ** bit) % 2 === 1
      const side = one ? right : left
      if (bit === 0) {
        side[node] = ~sym
      } else {
        if (side[node] === 0) {
          left.push(0)
          right.push(0)
          side[node] = nodes++
        }
        node = side[node]!
      }
    }
  }
  for (let state = 0; state < nodes; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state
      let entry = 0
      for (let bit = 3; bit >= 0; bit--) {
        const child = (nibble >> bit) & 1 ? right[node]! : left[node]!
        if (child >= 0) {
          node = child
        } else if (~child === EOS) {
          entry |= 1 << 17
          node = 0
        } else {
          entry |= (1 << 8) | (~child << 9)
          node = 0
        }
      }
      HUFF_STEP[state * 16 + nibble] = entry | node
    }
  }
  let node = 0
  HUFF_ACCEPT[0] = 1
  for (let depth = 1; depth <= 7; depth++) {
    node = right[node]!
    HUFF_ACCEPT[node] = 1
  }
}

/** Scratch space for Huffman output; grown on demand, never shrunk. */
let huffOut = Buffer.allocUnsafeSlow(256)

/**
 * Decodes the Huffman-coded octets `buf[start, end)` into a Latin-1 string.
 *
 * @throws {@link HpackError} on EOS inside the string or padding that is not a prefix of EOS.
 */
export function huffmanDecode(buf: Uint8Array, start: number, end: number): string {
  // Every symbol takes at least 5 bits.
  const max = Math.ceil(((end - start) * 8) / 5)
  if (huffOut.length < max) huffOut = Buffer.allocUnsafeSlow(Math.max(max, huffOut.length * 2))
  const out = huffOut
  let n = 0
  let state = 0
  let seen = 0
  for (let i = start; i < end; i++) {
    const b = buf[i]!
    let e = HUFF_STEP[state * 16 + (b >> 4)]!
    if (e & 0x100) out[n++] = (e >> 9) & 0xff
    seen |= e
    e = HUFF_STEP[(e & 0xff) * 16 + (b & 15)]!
    if (e & 0x100) out[n++] = (e >> 9) & 0xff
    seen |= e
    state = e & 0xff
  }
  if (seen & 0x20000) throw new HpackError('Huffman string contains EOS')
  if (HUFF_ACCEPT[state] === 0) throw new HpackError('Huffman string has invalid padding')
  return out.toString('latin1', 0, n)
}

/** A header block the decoder cannot decode: a COMPRESSION_ERROR for the whole connection. */
export class HpackError extends Error {
  constructor(message: string) {
    super(`HPACK: ${message}`)
    this.name = 'HpackError'
  }
}

/**
 * Decodes header blocks of one HTTP/2 connection, in the order the peer sent them (the dynamic
 * table carries state from block to block).
 *
 * @example
 * ```ts
 * const dec = new HpackDecoder()
 * const n = dec.decode(block, 0, block.length)
 * for (let i = 0; i < 2 * n; i += 2) console.log(dec.headers[i], dec.headers[i + 1])
 * ```
 */
export class HpackDecoder {
  /**
   * The fields of the last decoded block: name at 2i, value at 2i + 1, for i below the count
   * {@link decode} returned. Reused by the next block; entries past the count are stale.
   */
  readonly headers: string[] = []
  /** SETTINGS_HEADER_TABLE_SIZE we advertised: the most a size update may ask for. */
  readonly #limit: number
  /** The table's current maximum size, set by the peer's size updates. */
  #max: number
  #size = 0
  // A ring of entries, newest at #head; dynamic index 1 is the newest.
  #names: string[]
  #values: string[]
  #head = 0
  #count = 0
  readonly #mask: number
  // The block being decoded.
  #buf: Buffer = EMPTY
  #pos = 0
  #end = 0

  /** `maxTableSize` is the SETTINGS_HEADER_TABLE_SIZE advertised to the peer (default 4096). */
  constructor(maxTableSize = DEFAULT_HEADER_TABLE_SIZE) {
    if (!Number.isInteger(maxTableSize) || maxTableSize < 0)
      throw new TypeError(`maxTableSize must be a non-negative integer, got ${maxTableSize}`)
    this.#limit = maxTableSize
    this.#max = maxTableSize
    let cap = 16
    while (cap < Math.floor(maxTableSize / ENTRY_OVERHEAD) + 1) cap *= 2
    this.#names = new Array<string>(cap).fill('')
    this.#values = new Array<string>(cap).fill('')
    this.#mask = cap - 1
  }

  /** The dynamic table's size in the RFC's accounting (octets of name and value, plus 32 each). */
  get tableSize(): number {
    return this.#size
  }

  /** The dynamic table's maximum size, as last set by the peer. */
  get maxTableSize(): number {
    return this.#max
  }

  /** The dynamic table, newest entry first (for tests and debugging). */
  entries(): [string, string][] {
    const out: [string, string][] = []
    for (let i = 0; i < this.#count; i++) {
      const slot = (this.#head + i) & this.#mask
      out.push([this.#names[slot]!, this.#values[slot]!])
    }
    return out
  }

  /**
   * Decodes one complete header block, `buf[start, end)`, into {@link headers}, and returns how
   * many fields it held.
   *
   * @throws {@link HpackError} when the block is malformed; the connection must then be closed
   *   with COMPRESSION_ERROR, since the table is no longer in step with the peer's.
   */
  decode(buf: Buffer, start: number, end: number): number {
    this.#buf = buf
    this.#pos = start
    this.#end = end
    const out = this.headers
    let n = 0
    while (this.#pos < end) {
      const b = buf[this.#pos]!
      if (b & 0x80) {
        // Indexed header field: 1xxxxxxx.
        const index = this.#integer(7)
        if (index === 0) throw new HpackError('index 0 in an indexed header field')
        if (index <= STATIC_TABLE.length) {
          const e = STATIC_TABLE[index - 1]!
          out[2 * n] = e[0]
          out[2 * n + 1] = e[1]
        } else {
          const slot = this.#slot(index)
          out[2 * n] = this.#names[slot]!
          out[2 * n + 1] = this.#values[slot]!
        }
        n++
      } else if (b & 0x40) {
        // Literal with incremental indexing: 01xxxxxx.
        const index = this.#integer(6)
        const name = index === 0 ? this.#string() : this.#nameAt(index)
        const value = this.#string()
        out[2 * n] = name
        out[2 * n + 1] = value
        n++
        this.#add(name, value)
      } else if (b & 0x20) {
        // Dynamic table size update: 001xxxxx, only before the first field (RFC 7541 §4.2).
        if (n > 0) throw new HpackError('dynamic table size update after a header field')
        const size = this.#integer(5)
        if (size > this.#limit)
          throw new HpackError(`table size update to ${size} exceeds the limit ${this.#limit}`)
        this.#max = size
        this.#evict(0)
      } else {
        // Literal without indexing (0000xxxx) or never indexed (0001xxxx).
        const index = this.#integer(4)
        const name = index === 0 ? this.#string() : this.#nameAt(index)
        out[2 * n] = name
        out[2 * n + 1] = this.#string()
        n++
      }
    }
    this.#buf = EMPTY
    return n
  }

  /** An integer with an N-bit prefix (RFC 7541 §5.1), at the current position. */
  #integer(prefixBits: number): number {
    const buf = this.#buf
    const mask = (1 << prefixBits) - 1
    let value = buf[this.#pos++]! & mask
    if (value < mask) return value
    let shift = 0
    for (;;) {
      if (this.#pos >= this.#end) throw new HpackError('header block ends inside an integer')
      const b = buf[this.#pos++]!
      value += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) return value
      shift += 7
      // Nothing in a header block needs more than 2^28; longer is an attack or garbage.
      if (shift > 21) throw new HpackError('integer too large')
    }
  }

  /** A string literal (RFC 7541 §5.2), raw or Huffman-coded. */
  #string(): string {
    if (this.#pos >= this.#end) throw new HpackError('header block ends before a string')
    const huffman = (this.#buf[this.#pos]! & 0x80) !== 0
    const len = this.#integer(7)
    const start = this.#pos
    if (len > this.#end - start) throw new HpackError('string runs past the header block')
    this.#pos = start + len
    return huffman
      ? huffmanDecode(this.#buf, start, start + len)
      : this.#buf.toString('latin1', start, start + len)
  }

  #nameAt(index: number): string {
    return index <= STATIC_TABLE.length
      ? STATIC_TABLE[index - 1]![0]
      : this.#names[this.#slot(index)]!
  }

  /** The ring slot of dynamic-table index `index` (62 = newest). */
  #slot(index: number): number {
    const i = index - STATIC_TABLE.length - 1
    if (i >= this.#count)
      throw new HpackError(`index ${index} is past the table (${this.#count} dynamic entries)`)
    return (this.#head + i) & this.#mask
  }

  /** Adds an entry, evicting old ones to make room (RFC 7541 §4.4). */
  #add(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD
    if (size > this.#max) {
      // An entry larger than the table empties it and is not added.
      this.#evict(this.#max)
      return
    }
    this.#evict(size)
    this.#head = (this.#head - 1) & this.#mask
    this.#names[this.#head] = name
    this.#values[this.#head] = value
    this.#count++
    this.#size += size
  }

  /** Evicts the oldest entries until `room` more octets fit under the maximum. */
  #evict(room: number): void {
    while (this.#count > 0 && this.#size + room > this.#max) {
      const slot = (this.#head + this.#count - 1) & this.#mask
      this.#size -= this.#names[slot]!.length + this.#values[slot]!.length + ENTRY_OVERHEAD
      this.#names[slot] = ''
      this.#values[slot] = ''
      this.#count--
    }
  }
}

/** Writes an integer with an N-bit prefix; `first` holds the representation's flag bits. */
function pushInteger(out: number[], first: number, prefixBits: number, value: number): void {
  const mask = (1 << prefixBits) - 1
  if (value < mask) {
    out.push(first | value)
    return
  }
  out.push(first | mask)
  let rest = value - mask
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80)
    rest = Math.floor(rest / 0x80)
  }
  out.push(rest)
}

/** Writes a raw (not Huffman-coded) string literal. */
function pushString(out: number[], s: string): void {
  const bytes = Buffer.from(s, 'latin1')
  pushInteger(out, 0, 7, bytes.length)
  for (const b of bytes) out.push(b)
}

/**
 * Encodes header fields into a header block that leaves the peer's dynamic table untouched: a
 * field that is in the static table whole becomes its index, one whose name is there becomes a
 * literal without indexing with that name's index, any other a literal without indexing with a
 * literal name. Strings are not Huffman-coded. Such a block means the same on every stream of a
 * connection, so it can be encoded once.
 *
 * @example
 * ```ts
 * encodeHeaderBlock([[':method', 'POST'], [':path', '/pkg.Svc/Method']])
 * ```
 */
export function encodeHeaderBlock(fields: readonly (readonly [string, string])[]): Buffer {
  const out: number[] = []
  for (const [name, value] of fields) {
    if (name !== name.toLowerCase())
      throw new TypeError(`HTTP/2 header names are lowercase, got ${JSON.stringify(name)}`)
    const whole = STATIC_TABLE.findIndex(([n, v]) => n === name && v === value)
    if (whole >= 0) {
      pushInteger(out, 0x80, 7, whole + 1)
      continue
    }
    const named = STATIC_TABLE.findIndex(([n]) => n === name)
    if (named >= 0) {
      pushInteger(out, 0, 4, named + 1)
    } else {
      out.push(0)
      pushString(out, name)
    }
    pushString(out, value)
  }
  return Buffer.from(out)
}
