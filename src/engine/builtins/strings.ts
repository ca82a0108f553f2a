/**
 * String host builtins with OPA's semantics: indexes and lengths count code points (Go runes),
 * `split`/`replace`/`trim` follow Go's `strings` package.
 *
 * @module
 */
import {
  BuiltinError,
  badOperand,
  builtinError,
  int,
  num,
  obj,
  str,
  strs,
  typeName,
} from './errors.js'

const runes = (s: string): string[] => Array.from(s)

/** `concat(delimiter, collection)`. */
export function concat(delim: unknown, coll: unknown): string {
  return strs('concat', 2, coll).join(str('concat', 1, delim))
}

/** `contains(haystack, needle)`. */
export function contains(s: unknown, sub: unknown): boolean {
  return str('contains', 1, s).includes(str('contains', 2, sub))
}

/** `startswith(search, base)`. */
export function startswith(s: unknown, p: unknown): boolean {
  return str('startswith', 1, s).startsWith(str('startswith', 2, p))
}

/** `endswith(search, base)`. */
export function endswith(s: unknown, p: unknown): boolean {
  return str('endswith', 1, s).endsWith(str('endswith', 2, p))
}

/** `format_int(number, base)`: the number truncated toward zero, in base 2, 8, 10 or 16. */
export function formatInt(n: unknown, base: unknown): string {
  const x = num('format_int', 1, n)
  const b = num('format_int', 2, base)
  if (b !== 2 && b !== 8 && b !== 10 && b !== 16) {
    throw new BuiltinError('eval_type_error', 'format_int: operand 2 must be one of {2, 8, 10, 16}')
  }
  return BigInt(Math.trunc(x)).toString(b)
}

function runeIndex(s: string, byteLikeIndex: number): number {
  return runes(s.slice(0, byteLikeIndex)).length
}

/** `indexof(haystack, needle)`: code point index of the first match, or -1. */
export function indexof(s: unknown, sub: unknown): number {
  const h = str('indexof', 1, s)
  const i = h.indexOf(str('indexof', 2, sub))
  return i < 0 ? -1 : runeIndex(h, i)
}

/** `indexof_n(haystack, needle)`: code point indexes of every (overlapping) match. */
export function indexofN(s: unknown, sub: unknown): number[] {
  const h = str('indexof_n', 1, s)
  const n = str('indexof_n', 2, sub)
  const out: number[] = []
  let i = h.indexOf(n)
  while (i >= 0 && i <= h.length) {
    out.push(runeIndex(h, i))
    const step = n.length === 0 ? (h.codePointAt(i)! > 0xffff ? 2 : 1) : 1
    if (i >= h.length) break
    i = h.indexOf(n, i + step)
  }
  return out
}

/** `substring(value, offset, length)`: negative length means "to the end". */
export function substring(s: unknown, offset: unknown, length: unknown): string {
  const r = runes(str('substring', 1, s))
  const o = int('substring', 2, offset)
  const l = int('substring', 3, length)
  if (o < 0) throw builtinError('substring', 'negative offset')
  if (o >= r.length) return ''
  return (l < 0 ? r.slice(o) : r.slice(o, o + l)).join('')
}

/** `lower(x)`. */
export function lower(s: unknown): string {
  return str('lower', 1, s).toLowerCase()
}

/** `upper(x)`. */
export function upper(s: unknown): string {
  return str('upper', 1, s).toUpperCase()
}

function goSplit(s: string, sep: string, n: number): string[] {
  if (n === 0) return []
  if (sep === '') {
    const r = runes(s)
    if (n < 0 || n >= r.length) return r
    return [...r.slice(0, n - 1), r.slice(n - 1).join('')]
  }
  const parts = s.split(sep)
  if (n < 0 || parts.length <= n) return parts
  return [...parts.slice(0, n - 1), parts.slice(n - 1).join(sep)]
}

/** `split(x, delimiter)` as Go's `strings.Split`. */
export function split(s: unknown, sep: unknown): string[] {
  return goSplit(str('split', 1, s), str('split', 2, sep), -1)
}

/**
 * `strings.split_n(x, delimiter, n)`: the first n parts of `split(x, delimiter)`, or the last
 * -n parts when n is negative.
 */
export function splitN(s: unknown, sep: unknown, n: unknown): string[] {
  const parts = goSplit(str('strings.split_n', 1, s), str('strings.split_n', 2, sep), -1)
  const k = int('strings.split_n', 3, n)
  return k >= 0 ? parts.slice(0, k) : parts.slice(Math.max(0, parts.length + k))
}

function goReplaceAll(s: string, old: string, nu: string): string {
  if (old === '')
    return (
      runes(s)
        .map((c) => nu + c)
        .join('') + nu
    )
  return s.split(old).join(nu)
}

/** `replace(x, old, new)` as Go's `strings.ReplaceAll`. */
export function replace(s: unknown, old: unknown, nu: unknown): string {
  return goReplaceAll(str('replace', 1, s), str('replace', 2, old), str('replace', 3, nu))
}

/**
 * `strings.replace_n(patterns, value)`: one left-to-right pass; at each position the first
 * pattern (in key order) that matches wins, as Go's `strings.NewReplacer`.
 */
export function replaceN(patterns: unknown, s: unknown): string {
  const p = obj('strings.replace_n', 1, patterns)
  const v = str('strings.replace_n', 2, s)
  const keys = Object.keys(p).sort()
  for (const k of keys) {
    if (typeof p[k] !== 'string') badOperand('strings.replace_n', 1, 'object[string: string]', p)
  }
  let out = ''
  let i = 0
  while (i <= v.length) {
    const k = keys.find((key) => key !== '' && v.startsWith(key, i))
    if (k !== undefined) {
      out += p[k] as string
      i += k.length
      continue
    }
    if (i < v.length) out += v[i]
    i++
  }
  return out
}

/** `strings.reverse(x)` by code points. */
export function reverse(s: unknown): string {
  return runes(str('strings.reverse', 1, s))
    .reverse()
    .join('')
}

function trimLeftSet(s: string, cut: Set<string>): string {
  const r = runes(s)
  let i = 0
  while (i < r.length && cut.has(r[i]!)) i++
  return r.slice(i).join('')
}

function trimRightSet(s: string, cut: Set<string>): string {
  const r = runes(s)
  let j = r.length
  while (j > 0 && cut.has(r[j - 1]!)) j--
  return r.slice(0, j).join('')
}

/** `trim(value, cutset)`. */
export function trim(s: unknown, cutset: unknown): string {
  const cut = new Set(runes(str('trim', 2, cutset)))
  return trimRightSet(trimLeftSet(str('trim', 1, s), cut), cut)
}

/** `trim_left(value, cutset)`. */
export function trimLeft(s: unknown, cutset: unknown): string {
  return trimLeftSet(str('trim_left', 1, s), new Set(runes(str('trim_left', 2, cutset))))
}

/** `trim_right(value, cutset)`. */
export function trimRight(s: unknown, cutset: unknown): string {
  return trimRightSet(str('trim_right', 1, s), new Set(runes(str('trim_right', 2, cutset))))
}

/** `trim_prefix(value, prefix)`. */
export function trimPrefix(s: unknown, p: unknown): string {
  const v = str('trim_prefix', 1, s)
  const x = str('trim_prefix', 2, p)
  return v.startsWith(x) ? v.slice(x.length) : v
}

/** `trim_suffix(value, suffix)`. */
export function trimSuffix(s: unknown, p: unknown): string {
  const v = str('trim_suffix', 1, s)
  const x = str('trim_suffix', 2, p)
  return x !== '' && v.endsWith(x) ? v.slice(0, v.length - x.length) : v
}

// Go's unicode.IsSpace.
const SPACE_CLASS =
  '[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]'
const SPACE = new RegExp(`^${SPACE_CLASS}+|${SPACE_CLASS}+$`, 'g')

/** `trim_space(value)`: leading and trailing Unicode white space. */
export function trimSpace(s: unknown): string {
  return str('trim_space', 1, s).replace(SPACE, '')
}

/** `strings.count(search, substring)`: non-overlapping matches, as Go's `strings.Count`. */
export function count(s: unknown, sub: unknown): number {
  const v = str('strings.count', 1, s)
  const x = str('strings.count', 2, sub)
  if (x === '') return runes(v).length + 1
  return v.split(x).length - 1
}

function stringOrColl(name: string, pos: number, v: unknown): string[] {
  if (typeof v === 'string') return [v]
  if (!Array.isArray(v)) badOperand(name, pos, 'one of {string, set, array}', v)
  for (const e of v) {
    if (typeof e !== 'string') {
      throw new BuiltinError(
        'eval_type_error',
        `${name}: operand ${pos} must be array of strings but got array containing ${typeName(e)}`,
      )
    }
  }
  return v as string[]
}

/** `strings.any_prefix_match(search, base)`. */
export function anyPrefixMatch(search: unknown, base: unknown): boolean {
  const s = stringOrColl('strings.any_prefix_match', 1, search)
  const b = stringOrColl('strings.any_prefix_match', 2, base)
  return s.some((x) => b.some((p) => x.startsWith(p)))
}

/** `strings.any_suffix_match(search, base)`. */
export function anySuffixMatch(search: unknown, base: unknown): boolean {
  const s = stringOrColl('strings.any_suffix_match', 1, search)
  const b = stringOrColl('strings.any_suffix_match', 2, base)
  return s.some((x) => b.some((p) => x.endsWith(p)))
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/

/** `to_number(x)`: null is 0, booleans 0/1, strings parsed as decimal numbers. */
export function toNumber(x: unknown): number {
  if (x === null) return 0
  if (typeof x === 'boolean') return x ? 1 : 0
  if (typeof x === 'number') return x
  if (typeof x === 'string') {
    if (/^[+-]?(inf|infinity|nan)$/i.test(x)) {
      throw new BuiltinError(
        'eval_type_error',
        `to_number: operand 1 must be a finite number but got ${JSON.stringify(x)}`,
      )
    }
    if (!NUMBER.test(x)) {
      throw builtinError(
        'to_number',
        `strconv.ParseFloat: parsing ${JSON.stringify(x)}: invalid syntax`,
      )
    }
    return Number(x)
  }
  return badOperand('to_number', 1, 'one of {null, boolean, number, string}', x)
}

/** `numbers.range(a, b)`: the integers from a to b inclusive, ascending or descending. */
export function numbersRange(a: unknown, b: unknown): number[] {
  const x = int('numbers.range', 1, a)
  const y = int('numbers.range', 2, b)
  const out: number[] = []
  if (x <= y) for (let i = x; i <= y; i++) out.push(i)
  else for (let i = x; i >= y; i--) out.push(i)
  return out
}

/** `numbers.range_step(a, b, step)`: like `numbers.range` with a positive step. */
export function numbersRangeStep(a: unknown, b: unknown, step: unknown): number[] {
  const x = int('numbers.range_step', 1, a)
  const y = int('numbers.range_step', 2, b)
  const s = int('numbers.range_step', 3, step)
  if (s <= 0) throw builtinError('numbers.range_step', 'step must be a positive integer')
  const out: number[] = []
  if (x <= y) for (let i = x; i <= y; i += s) out.push(i)
  else for (let i = x; i >= y; i -= s) out.push(i)
  return out
}
