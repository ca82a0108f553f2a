/**
 * Encoding builtins: base64 (Go's strict decoders, with their error offsets), hex, URL query
 * strings, JSON and YAML.
 *
 * @module
 */
import { parse as parseYaml, parseAllDocuments, stringify as stringifyYaml } from 'yaml'
import { BuiltinError, bool, builtinError, obj, str } from './errors.js'

const STD = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
const URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/**
 * Decodes like Go's `base64.Encoding.DecodeString`: throws `illegal base64 data at input byte N`
 * at the first character that cannot be there. Line breaks are skipped, as Go does.
 */
export function decodeBase64(s: string, alphabet: 'std' | 'url', padded: boolean): Buffer {
  const chars = alphabet === 'std' ? STD : URL
  const fail = (i: number): never => {
    throw new Error(`illegal base64 data at input byte ${i}`)
  }
  const bytes: number[] = []
  let acc = 0
  let n = 0
  let i = 0
  for (; i < s.length; i++) {
    const c = s[i]!
    if (c === '\n' || c === '\r') continue
    if (c === '=') break
    const v = chars.indexOf(c)
    if (v < 0) fail(i)
    acc = (acc << 6) | v
    n++
    if (n === 4) {
      bytes.push((acc >> 16) & 255, (acc >> 8) & 255, acc & 255)
      acc = 0
      n = 0
    }
  }
  if (i < s.length) {
    // Padding: only allowed when padded, after 2 or 3 data characters, and nothing after it.
    if (!padded || n < 2) fail(i)
    const want = 4 - n
    let got = 0
    for (; i < s.length; i++) {
      const c = s[i]!
      if (c === '\n' || c === '\r') continue
      if (c !== '=' || got === want) fail(i)
      got++
    }
    if (got !== want) fail(s.length)
  } else if (n !== 0 && (padded || n === 1)) {
    fail(s.length)
  }
  if (n === 2) bytes.push((acc >> 4) & 255)
  else if (n === 3) bytes.push((acc >> 10) & 255, (acc >> 2) & 255)
  return Buffer.from(bytes)
}

function wrap<T>(name: string, f: () => T): T {
  try {
    return f()
  } catch (e) {
    if (e instanceof BuiltinError) throw e
    throw builtinError(name, (e as Error).message)
  }
}

/** `base64.encode(x)`. */
export function base64Encode(x: unknown): string {
  return Buffer.from(str('base64.encode', 1, x), 'utf8').toString('base64')
}

/** `base64.decode(x)`. */
export function base64Decode(x: unknown): string {
  const s = str('base64.decode', 1, x)
  return wrap('base64.decode', () => decodeBase64(s, 'std', true).toString('utf8'))
}

/** `base64.is_valid(x)`. */
export function base64IsValid(x: unknown): boolean {
  try {
    decodeBase64(str('base64.is_valid', 1, x), 'std', true)
    return true
  } catch (e) {
    if (e instanceof BuiltinError) throw e
    return false
  }
}

/** `base64url.encode(x)`: URL alphabet, padded. */
export function base64urlEncode(x: unknown): string {
  const s = Buffer.from(str('base64url.encode', 1, x), 'utf8').toString('base64url')
  return s + '='.repeat((4 - (s.length % 4)) % 4)
}

/** `base64url.encode_no_pad(x)`. */
export function base64urlEncodeNoPad(x: unknown): string {
  return Buffer.from(str('base64url.encode_no_pad', 1, x), 'utf8').toString('base64url')
}

/** `base64url.decode(x)`: padded or not (JWT libraries drop the padding). */
export function base64urlDecode(x: unknown): string {
  const s = str('base64url.decode', 1, x)
  return wrap('base64url.decode', () => decodeBase64(s, 'url', s.length % 4 === 0).toString('utf8'))
}

/** `hex.encode(x)`. */
export function hexEncode(x: unknown): string {
  return Buffer.from(str('hex.encode', 1, x), 'utf8').toString('hex')
}

/** `hex.decode(x)`. */
export function hexDecode(x: unknown): string {
  const s = str('hex.decode', 1, x)
  const bad = /[^0-9a-fA-F]/.exec(s)
  if (bad) {
    const cp = bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')
    throw builtinError('hex.decode', `encoding/hex: invalid byte: U+${cp} '${bad[0]}'`)
  }
  if (s.length % 2 !== 0) throw builtinError('hex.decode', 'encoding/hex: odd length hex string')
  return Buffer.from(s, 'hex').toString('utf8')
}

/** Go's `url.QueryEscape`: space becomes `+`, unreserved characters stay. */
function queryEscape(s: string): string {
  return Array.from(Buffer.from(s, 'utf8'))
    .map((b) => {
      const c = String.fromCharCode(b)
      if (/[A-Za-z0-9\-_.~]/.test(c)) return c
      if (c === ' ') return '+'
      return '%' + b.toString(16).toUpperCase().padStart(2, '0')
    })
    .join('')
}

function queryUnescape(name: string, s: string): string {
  const bytes: number[] = []
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!
    if (c === '%') {
      const h = s.slice(i + 1, i + 3)
      if (!/^[0-9a-fA-F]{2}$/.test(h))
        throw builtinError(name, `invalid URL escape ${JSON.stringify(s.slice(i, i + 3))}`)
      bytes.push(parseInt(h, 16))
      i += 2
    } else if (c === '+') bytes.push(32)
    else bytes.push(...Buffer.from(c, 'utf8'))
  }
  return Buffer.from(bytes).toString('utf8')
}

/** `urlquery.encode(x)`. */
export function urlqueryEncode(x: unknown): string {
  return queryEscape(str('urlquery.encode', 1, x))
}

/** `urlquery.decode(x)`. */
export function urlqueryDecode(x: unknown): string {
  return queryUnescape('urlquery.decode', str('urlquery.decode', 1, x))
}

/** `urlquery.encode_object(object)`: keys sorted, arrays and sets repeat the key. */
export function urlqueryEncodeObject(x: unknown): string {
  const o = obj('urlquery.encode_object', 1, x)
  const parts: string[] = []
  for (const k of Object.keys(o).sort()) {
    const v = o[k]
    const vals = Array.isArray(v) ? v : [v]
    for (const e of vals) {
      if (typeof e !== 'string') {
        throw new BuiltinError(
          'eval_type_error',
          'urlquery.encode_object: operand 1 must be object[string: string] or object[string: array[string]] or object[string: set[string]]',
        )
      }
      parts.push(`${queryEscape(k)}=${queryEscape(e)}`)
    }
  }
  return parts.join('&')
}

/** `urlquery.decode_object(x)`: every key maps to the array of its values. */
export function urlqueryDecodeObject(x: unknown): Record<string, string[]> {
  const s = str('urlquery.decode_object', 1, x)
  const out: Record<string, string[]> = {}
  for (const part of s.split(/[&]/)) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const k = queryUnescape('urlquery.decode_object', eq < 0 ? part : part.slice(0, eq))
    const v = eq < 0 ? '' : queryUnescape('urlquery.decode_object', part.slice(eq + 1))
    ;(out[k] ??= []).push(v)
  }
  return out
}

/** Go's `json.Marshal` of a Rego value: compact, keys sorted, `<>&` escaped. */
export function marshalJson(v: unknown, indent?: string, prefix = ''): string {
  const esc = (s: string): string =>
    JSON.stringify(s).replace(
      /[<>&\u2028\u2029]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    )
  const go = (x: unknown, depth: number): string => {
    if (x === null || x === undefined) return 'null'
    if (typeof x === 'string') return esc(x)
    if (typeof x !== 'object') return JSON.stringify(x)
    const nl = indent === undefined ? '' : '\n' + prefix + indent.repeat(depth + 1)
    const end = indent === undefined ? '' : '\n' + prefix + indent.repeat(depth)
    const colon = indent === undefined ? ':' : ': '
    if (Array.isArray(x)) {
      if (x.length === 0) return '[]'
      return `[${x.map((e) => nl + go(e, depth + 1)).join(',')}${end}]`
    }
    const o = x as Record<string, unknown>
    const keys = Object.keys(o).sort()
    if (keys.length === 0) return '{}'
    return `{${keys.map((k) => nl + esc(k) + colon + go(o[k], depth + 1)).join(',')}${end}}`
  }
  return go(v, 0)
}

/** `json.marshal(x)`. */
export function jsonMarshal(x: unknown): string {
  return marshalJson(x)
}

/** `json.marshal_with_options(x, {pretty, indent, prefix})`. */
export function jsonMarshalWithOptions(x: unknown, options: unknown): string {
  const o = obj('json.marshal_with_options', 2, options)
  let pretty = false
  let indent = '\t'
  let prefix = ''
  for (const [k, v] of Object.entries(o)) {
    if (k === 'pretty') pretty = bool('json.marshal_with_options', 2, v)
    else if (k === 'indent') {
      indent = str('json.marshal_with_options', 2, v)
      pretty ||= !('pretty' in o)
    } else if (k === 'prefix') {
      prefix = str('json.marshal_with_options', 2, v)
      pretty ||= !('pretty' in o)
    } else
      throw builtinError(
        'json.marshal_with_options',
        `object operand had unsupported key ${JSON.stringify(k)}`,
      )
  }
  if (!pretty) return marshalJson(x)
  return prefix + marshalJson(x, indent, prefix)
}

/** `json.unmarshal(x)`. */
export function jsonUnmarshal(x: unknown): unknown {
  const s = str('json.unmarshal', 1, x)
  try {
    return JSON.parse(s)
  } catch (e) {
    throw builtinError('json.unmarshal', (e as Error).message)
  }
}

/** `json.is_valid(x)`: false for non-strings. */
export function jsonIsValid(x: unknown): boolean {
  if (typeof x !== 'string') return false
  try {
    JSON.parse(x)
    return true
  } catch {
    return false
  }
}

/** `yaml.marshal(x)`. */
export function yamlMarshal(x: unknown): string {
  return stringifyYaml(x)
}

/** `yaml.unmarshal(x)`. */
export function yamlUnmarshal(x: unknown): unknown {
  const s = str('yaml.unmarshal', 1, x)
  try {
    return parseYaml(s) ?? null
  } catch (e) {
    throw builtinError('yaml.unmarshal', (e as Error).message)
  }
}

/** `yaml.is_valid(x)`. */
export function yamlIsValid(x: unknown): boolean {
  if (typeof x !== 'string') return false
  try {
    return parseAllDocuments(x).every((d) => !('errors' in d) || d.errors.length === 0)
  } catch {
    return false
  }
}
