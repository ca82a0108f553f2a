/**
 * The canonical JSON text OPA hashes when it signs or verifies a structured bundle file
 * (`data.json`, `.manifest`): objects with their keys in byte order, no whitespace, numbers as
 * their literal text, strings re-escaped as Go's `encoding/json` does without HTML escaping.
 * Parsed straight from the file's bytes, so numbers never go through a double and invalid UTF-8 is
 * replaced the way Go's decoder replaces it.
 *
 * @module
 */

/** Deepest nesting accepted, as Go's JSON scanner (`maxNestingDepth`). */
export const MAX_CANONICAL_JSON_DEPTH = 10_000

const QUOTE = 0x22
const BACKSLASH = 0x5c
const HEX = '0123456789abcdef'
const utf8 = new TextDecoder('utf-8')

/** An open container while parsing: an object collects `key -> canonical value`, an array values. */
type Frame =
  | { kind: 'object'; entries: Map<string, string>; key: string | undefined }
  | { kind: 'array'; items: string[] }

function isSpace(b: number | undefined): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d
}

function isDigit(b: number | undefined): boolean {
  return b !== undefined && b >= 0x30 && b <= 0x39
}

function hexValue(b: number | undefined): number {
  if (b === undefined) return -1
  if (b >= 0x30 && b <= 0x39) return b - 0x30
  if (b >= 0x61 && b <= 0x66) return b - 0x57
  if (b >= 0x41 && b <= 0x46) return b - 0x37
  return -1
}

/**
 * Length of the valid UTF-8 sequence at `i`, or 0 when the bytes there are not one (overlong,
 * surrogate, above U+10FFFF, truncated). Go's decoder then emits U+FFFD for one byte and goes on,
 * which differs from WHATWG's TextDecoder for truncated sequences, hence this check.
 */
function utf8SequenceLength(bytes: Uint8Array, i: number): number {
  const b0 = bytes[i]!
  const cont = (at: number, lo = 0x80, hi = 0xbf): boolean => {
    const b = bytes[at]
    return b !== undefined && b >= lo && b <= hi
  }
  if (b0 < 0x80) return 1
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(i + 1) ? 2 : 0
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const lo = b0 === 0xe0 ? 0xa0 : 0x80
    const hi = b0 === 0xed ? 0x9f : 0xbf
    return cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const lo = b0 === 0xf0 ? 0x90 : 0x80
    const hi = b0 === 0xf4 ? 0x8f : 0xbf
    return cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0
  }
  return 0
}

/**
 * Orders strings by code point, which is the byte order of their UTF-8 (Go's `sort.Strings`).
 * UTF-16 unit order differs only where a surrogate meets a unit from U+E000 to U+FFFF.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i)
    let y = b.charCodeAt(i)
    if (x === y) continue
    if (x >= 0xd800) x = x <= 0xdfff ? x + 0x2000 : x - 0x800
    if (y >= 0xd800) y = y <= 0xdfff ? y + 0x2000 : y - 0x800
    return x - y
  }
  return a.length - b.length
}

/**
 * Encodes a string as Go's `json.Encoder` with `SetEscapeHTML(false)` does (Go 1.22 and later):
 * `"`, `\`, `\b`, `\f`, `\n`, `\r`, `\t` as short escapes, other control characters as `\u00xx`,
 * U+2028 and U+2029 as `\u2028`/`\u2029`, everything else literally (`<`, `>`, `&` included).
 */
export function encodeGoJsonString(s: string): string {
  let out = '"'
  let start = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    let esc: string | undefined
    if (c < 0x20) {
      if (c === 0x08) esc = '\\b'
      else if (c === 0x0c) esc = '\\f'
      else if (c === 0x0a) esc = '\\n'
      else if (c === 0x0d) esc = '\\r'
      else if (c === 0x09) esc = '\\t'
      else esc = `\\u00${HEX[c >> 4]}${HEX[c & 0xf]}`
    } else if (c === 0x22) esc = '\\"'
    else if (c === 0x5c) esc = '\\\\'
    else if (c === 0x2028) esc = '\\u2028'
    else if (c === 0x2029) esc = '\\u2029'
    if (esc !== undefined) {
      out += s.slice(start, i) + esc
      start = i + 1
    }
  }
  return `${out}${s.slice(start)}"`
}

class Parser {
  readonly #bytes: Uint8Array
  #at = 0

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes
  }

  fail(what: string): never {
    throw new SyntaxError(`invalid JSON at byte ${this.#at}: ${what}`)
  }

  skipSpace(): void {
    while (isSpace(this.#bytes[this.#at])) this.#at++
  }

  peek(): number | undefined {
    return this.#bytes[this.#at]
  }

  expect(b: number, what: string): void {
    if (this.#bytes[this.#at] !== b) this.fail(`expected ${what}`)
    this.#at++
  }

  atEnd(): boolean {
    return this.#at >= this.#bytes.length
  }

  /** A string starting at its opening quote, decoded as Go decodes it. */
  string(): string {
    const bytes = this.#bytes
    this.expect(QUOTE, 'a string')
    let out = ''
    let run = this.#at
    for (;;) {
      const b = bytes[this.#at]
      if (b === undefined) this.fail('unterminated string')
      if (b === QUOTE) {
        out += utf8.decode(bytes.subarray(run, this.#at))
        this.#at++
        return out
      }
      if (b < 0x20) this.fail('control character in string')
      if (b === BACKSLASH) {
        out += utf8.decode(bytes.subarray(run, this.#at))
        out += this.escape()
        run = this.#at
        continue
      }
      if (b < 0x80) {
        this.#at++
        continue
      }
      const n = utf8SequenceLength(bytes, this.#at)
      if (n === 0) {
        out += `${utf8.decode(bytes.subarray(run, this.#at))}\ufffd`
        this.#at++
        run = this.#at
      } else this.#at += n
    }
  }

  hex4(): number {
    let v = 0
    for (let k = 0; k < 4; k++) {
      const h = hexValue(this.#bytes[this.#at + k])
      if (h < 0) this.fail('bad \\u escape')
      v = (v << 4) | h
    }
    this.#at += 4
    return v
  }

  /** One escape after its backslash. A lone or mismatched surrogate becomes U+FFFD (Go). */
  escape(): string {
    this.#at++
    const b = this.#bytes[this.#at++]
    switch (b) {
      case 0x22:
        return '"'
      case 0x5c:
        return '\\'
      case 0x2f:
        return '/'
      case 0x62:
        return '\b'
      case 0x66:
        return '\f'
      case 0x6e:
        return '\n'
      case 0x72:
        return '\r'
      case 0x74:
        return '\t'
      case 0x75: {
        const cp = this.hex4()
        if (cp < 0xd800 || cp > 0xdfff) return String.fromCharCode(cp)
        const bytes = this.#bytes
        if (cp <= 0xdbff && bytes[this.#at] === BACKSLASH && bytes[this.#at + 1] === 0x75) {
          const save = this.#at
          this.#at += 2
          const low = this.hex4()
          if (low >= 0xdc00 && low <= 0xdfff) return String.fromCharCode(cp, low)
          this.#at = save
        }
        return '\ufffd'
      }
      default:
        this.#at--
        return this.fail('bad escape')
    }
  }

  /** A number's literal text, checked against RFC 8259's grammar. */
  number(): string {
    const bytes = this.#bytes
    const start = this.#at
    if (bytes[this.#at] === 0x2d) this.#at++
    if (bytes[this.#at] === 0x30) this.#at++
    else if (isDigit(bytes[this.#at])) while (isDigit(bytes[this.#at])) this.#at++
    else this.fail('bad number')
    if (bytes[this.#at] === 0x2e) {
      this.#at++
      if (!isDigit(bytes[this.#at])) this.fail('bad number')
      while (isDigit(bytes[this.#at])) this.#at++
    }
    if (bytes[this.#at] === 0x65 || bytes[this.#at] === 0x45) {
      this.#at++
      if (bytes[this.#at] === 0x2b || bytes[this.#at] === 0x2d) this.#at++
      if (!isDigit(bytes[this.#at])) this.fail('bad number')
      while (isDigit(bytes[this.#at])) this.#at++
    }
    return utf8.decode(bytes.subarray(start, this.#at))
  }

  literal(text: string): string {
    for (let k = 0; k < text.length; k++) {
      if (this.#bytes[this.#at + k] !== text.charCodeAt(k)) this.fail('unexpected token')
    }
    this.#at += text.length
    return text
  }
}

function closeObject(entries: Map<string, string>): string {
  const keys = [...entries.keys()].sort(compareCodePoints)
  return `{${keys.map((k) => `${encodeGoJsonString(k)}:${entries.get(k)!}`).join(',')}}`
}

/**
 * Returns the canonical text of one JSON document given as bytes, the form OPA hashes for
 * structured bundle files. Duplicate keys keep their last value, as Go's decoder into a map does.
 * Throws `SyntaxError` when the bytes are not one valid JSON value (trailing data included) or
 * nest deeper than {@link MAX_CANONICAL_JSON_DEPTH}. Works without recursion, so hostile nesting
 * cannot overflow the stack.
 *
 * @example
 * canonicalJson(new TextEncoder().encode('{"b": 1.50, "a": ["<x>"]}')) // '{"a":["<x>"],"b":1.50}'
 */
export function canonicalJson(bytes: Uint8Array): string {
  const p: Parser = new Parser(bytes)
  const stack: Frame[] = []
  let result: string | undefined
  p.skipSpace()
  for (;;) {
    // Parse one value: a scalar gives its text, an opening bracket pushes a frame.
    let value: string
    const b = p.peek()
    if (b === 0x7b || b === 0x5b) {
      if (stack.length >= MAX_CANONICAL_JSON_DEPTH) p.fail('nested too deeply')
      p.expect(b, 'a bracket')
      p.skipSpace()
      if (b === 0x7b) {
        if (p.peek() === 0x7d) {
          p.expect(0x7d, '}')
          value = '{}'
        } else {
          const key = p.string()
          p.skipSpace()
          p.expect(0x3a, ':')
          p.skipSpace()
          stack.push({ kind: 'object', entries: new Map(), key })
          continue
        }
      } else if (p.peek() === 0x5d) {
        p.expect(0x5d, ']')
        value = '[]'
      } else {
        stack.push({ kind: 'array', items: [] })
        continue
      }
    } else if (b === QUOTE) value = encodeGoJsonString(p.string())
    else if (b === 0x74) value = p.literal('true')
    else if (b === 0x66) value = p.literal('false')
    else if (b === 0x6e) value = p.literal('null')
    else if (b === 0x2d || isDigit(b)) value = p.number()
    else p.fail(b === undefined ? 'unexpected end' : 'unexpected token')

    // Hand the value to its container; close every container that ends here.
    for (;;) {
      const top = stack[stack.length - 1]
      if (top === undefined) {
        result = value
        break
      }
      p.skipSpace()
      if (top.kind === 'object') {
        top.entries.set(top.key!, value)
        if (p.peek() === 0x2c) {
          p.expect(0x2c, ',')
          p.skipSpace()
          top.key = p.string()
          p.skipSpace()
          p.expect(0x3a, ':')
          p.skipSpace()
          break
        }
        p.expect(0x7d, ', or }')
        stack.pop()
        value = closeObject(top.entries)
      } else {
        top.items.push(value)
        if (p.peek() === 0x2c) {
          p.expect(0x2c, ',')
          p.skipSpace()
          break
        }
        p.expect(0x5d, ', or ]')
        stack.pop()
        value = `[${top.items.join(',')}]`
      }
    }
    if (result !== undefined) break
  }
  p.skipSpace()
  if (!p.atEnd()) p.fail('data after the top-level value')
  return result
}
