/**
 * Byte-level encoding for WebAssembly binaries: LEB128 integers, names and a growable writer,
 * plus a cursor-based reader for the decoder.
 *
 * @module
 */

/** A growable byte buffer with the LEB128 writers the wasm binary format needs. */
export class ByteWriter {
  #buf = new Uint8Array(256)
  #len = 0

  /** Number of bytes written so far. */
  get length(): number {
    return this.#len
  }

  #ensure(n: number): void {
    if (this.#len + n <= this.#buf.length) return
    let cap = this.#buf.length * 2
    while (cap < this.#len + n) cap *= 2
    const next = new Uint8Array(cap)
    next.set(this.#buf.subarray(0, this.#len))
    this.#buf = next
  }

  /** Appends one byte. */
  u8(b: number): this {
    this.#ensure(1)
    this.#buf[this.#len++] = b & 0xff
    return this
  }

  /** Appends raw bytes. */
  bytes(b: Uint8Array): this {
    this.#ensure(b.length)
    this.#buf.set(b, this.#len)
    this.#len += b.length
    return this
  }

  /** Appends an unsigned LEB128 (u32). */
  u32(v: number): this {
    let x = v >>> 0
    do {
      let b = x & 0x7f
      x >>>= 7
      if (x !== 0) b |= 0x80
      this.u8(b)
    } while (x !== 0)
    return this
  }

  /** Appends a signed LEB128 (s32). */
  s32(v: number): this {
    let x = v | 0
    for (;;) {
      const b = x & 0x7f
      x >>= 7
      if ((x === 0 && (b & 0x40) === 0) || (x === -1 && (b & 0x40) !== 0)) {
        this.u8(b)
        return this
      }
      this.u8(b | 0x80)
    }
  }

  /** Appends a signed LEB128 (s64). */
  s64(v: bigint): this {
    let x = BigInt.asIntN(64, v)
    for (;;) {
      const b = Number(x & 0x7fn)
      x >>= 7n
      if ((x === 0n && (b & 0x40) === 0) || (x === -1n && (b & 0x40) !== 0)) {
        this.u8(b)
        return this
      }
      this.u8(b | 0x80)
    }
  }

  /** Appends a length-prefixed UTF-8 name. */
  name(s: string): this {
    const b = new TextEncoder().encode(s)
    return this.u32(b.length).bytes(b)
  }

  /** A copy of the written bytes. */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len)
  }
}

/** A cursor over wasm binary bytes. */
export class ByteReader {
  readonly bytes: Uint8Array
  pos: number

  constructor(bytes: Uint8Array, pos = 0) {
    this.bytes = bytes
    this.pos = pos
  }

  /** Reads one byte. */
  u8(): number {
    if (this.pos >= this.bytes.length) throw new RangeError('wasm: unexpected end of input')
    return this.bytes[this.pos++]!
  }

  /** Reads an unsigned LEB128 (u32). */
  u32(): number {
    let result = 0
    let shift = 0
    for (;;) {
      const b = this.u8()
      result += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) return result
      shift += 7
    }
  }

  /** Reads a signed LEB128 (s32). */
  s32(): number {
    let result = 0
    let shift = 0
    let b: number
    do {
      b = this.u8()
      result |= (b & 0x7f) << shift
      shift += 7
    } while (b & 0x80)
    if (shift < 32 && b & 0x40) result |= -1 << shift
    return result | 0
  }

  /** Skips a signed/unsigned LEB128 of any width. */
  skipLeb(): void {
    while (this.u8() & 0x80) {
      /* continue */
    }
  }

  /** Reads `n` bytes (a view, not a copy). */
  take(n: number): Uint8Array {
    if (this.pos + n > this.bytes.length) throw new RangeError('wasm: unexpected end of input')
    const v = this.bytes.subarray(this.pos, this.pos + n)
    this.pos += n
    return v
  }

  /** Reads a length-prefixed UTF-8 name. */
  name(): string {
    return new TextDecoder().decode(this.take(this.u32()))
  }
}
