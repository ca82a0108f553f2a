/**
 * The remaining small host builtins: casts, uuid, random numbers, `opa.runtime`, `trace` and
 * `print`.
 *
 * @module
 */
import { randomInt } from 'node:crypto'
import { badOperand, builtinError, int, str } from './errors.js'
import { formatValue, toSet } from './value.js'

/** `cast_string(x)` (deprecated). */
export function castString(x: unknown): string {
  return str('cast_string', 1, x)
}

/** `cast_boolean(x)` (deprecated). */
export function castBoolean(x: unknown): boolean {
  if (typeof x !== 'boolean') return badOperand('cast_boolean', 1, 'boolean', x)
  return x
}

/** `cast_null(x)` (deprecated). */
export function castNull(x: unknown): null {
  if (x !== null) return badOperand('cast_null', 1, 'null', x)
  return null
}

/** `cast_object(x)` (deprecated). */
export function castObject(x: unknown): Record<string, unknown> {
  if (x === null || typeof x !== 'object' || Array.isArray(x))
    return badOperand('cast_object', 1, 'object', x)
  return x as Record<string, unknown>
}

/** `set_diff(a, b)` (deprecated): elements of a not in b. */
export function setDiff(a: unknown, b: unknown): unknown[] {
  if (!Array.isArray(a)) return badOperand('set_diff', 1, 'set', a)
  if (!Array.isArray(b)) return badOperand('set_diff', 2, 'set', b)
  const drop = new Set(b.map((v) => JSON.stringify(v)))
  return toSet(a.filter((v) => !drop.has(JSON.stringify(v))))
}

/**
 * `uuid.rfc4122(k)`: a version 4 UUID that is the same for the same key within one evaluation.
 * `cache` returns the current evaluation's memo (one map for ever by default).
 */
export function createUuid(cache: () => Map<string, unknown> = constantMap()) {
  return (k: unknown): string => {
    const key = str('uuid.rfc4122', 1, k)
    const memo = cache()
    let u = memo.get(key) as string | undefined
    if (!u) {
      u = crypto.randomUUID()
      memo.set(key, u)
    }
    return u
  }
}

function constantMap(): () => Map<string, unknown> {
  const m = new Map<string, unknown>()
  return () => m
}

const UUID =
  /^(?:urn:uuid:)?\{?([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})\}?$/i

/** `uuid.parse(uuid)`: version, variant and the version-specific fields; undefined when invalid. */
export function uuidParse(x: unknown): Record<string, unknown> | undefined {
  const m = UUID.exec(str('uuid.parse', 1, x))
  if (!m) return undefined
  const hex = m.slice(1).join('').toLowerCase()
  const version = parseInt(hex[12]!, 16)
  const v = parseInt(hex[16]!, 16)
  const variant =
    v < 8
      ? 'Reserved, NCS backward compatibility.'
      : v < 12
        ? 'RFC4122'
        : v < 14
          ? 'Reserved, Microsoft Corporation backward compatibility.'
          : 'Reserved for future definition.'
  const out: Record<string, unknown> = { version, variant }
  if (version === 1 || version === 2) {
    const ts =
      (BigInt('0x' + hex.slice(13, 16)) << 48n) |
      (BigInt('0x' + hex.slice(8, 12)) << 32n) |
      BigInt('0x' + hex.slice(0, 8))
    // 100 ns intervals since 1582-10-15 to ns since the Unix epoch.
    out.time = Number((ts - 122192928000000000n) * 100n)
    out.clocksequence = parseInt(hex.slice(16, 20), 16) & 0x3fff
    out.nodeid = hex.slice(20).match(/../g)!.join('-')
    if (version === 2) {
      out.id = parseInt(hex.slice(0, 8), 16)
      out.domain =
        ['Person', 'Group', 'Org'][parseInt(hex.slice(18, 20), 16)] ??
        `Domain${parseInt(hex.slice(18, 20), 16)}`
    }
  }
  return out
}

/**
 * `rand.intn(str, n)`: a random integer in [0, n), the same for the same key within one
 * evaluation.
 */
export function createRandIntn(cache: () => Map<string, unknown> = constantMap()) {
  return (k: unknown, n: unknown): number => {
    const key = str('rand.intn', 1, k)
    const max = Math.abs(int('rand.intn', 2, n))
    if (max === 0) return 0
    const ck = `${key}\u0000${max}`
    const memo = cache()
    let v = memo.get(ck) as number | undefined
    if (v === undefined) {
      v = randomInt(max)
      memo.set(ck, v)
    }
    return v
  }
}

/**
 * `opa.runtime()`: what the host chooses to tell policies about itself; an empty object by
 * default, as OPA returns when evaluating without a runtime (no environment leaks into policies).
 */
export function createOpaRuntime(info: Record<string, unknown> = {}) {
  return (): Record<string, unknown> => structuredClone(info)
}

/** `trace(note)`: hands the note to `sink` and succeeds. */
export function createTrace(sink: (msg: string) => void) {
  return (note: unknown): boolean => {
    sink(str('trace', 1, note))
    return true
  }
}

/**
 * `internal.print([set1, set2, ...])`: each argument arrives as the set of its values (empty when
 * undefined); prints them space-separated, `<undefined>` for an empty set.
 */
export function createPrint(sink: (msg: string) => void) {
  return (args: unknown): void => {
    if (!Array.isArray(args)) throw builtinError('internal.print', 'illegal argument')
    const parts = args.map((set) => {
      if (!Array.isArray(set) || set.length === 0) return '<undefined>'
      return set.map((v) => (typeof v === 'string' ? v : formatValue(v))).join(' ')
    })
    sink(parts.join(' '))
  }
}

/** `array.flatten(arr)`: spreads nested arrays one level deep; other elements stay. */
export function arrayFlatten(a: unknown): unknown[] {
  if (!Array.isArray(a)) return badOperand('array.flatten', 1, 'array', a)
  return a.flatMap((e) => (Array.isArray(e) ? e : [e]))
}
