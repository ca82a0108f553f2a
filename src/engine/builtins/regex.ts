/**
 * Regular expression builtins. Patterns are Go RE2 syntax, translated to JS RegExp (inline
 * flags, named groups, `\A`/`\z`, POSIX classes); iteration follows Go's `FindAll`/`Split` rules
 * for empty matches, and `regex.replace` expands Go's `$1`/`${name}` templates.
 *
 * @module
 */
import { builtinError, int, str } from './errors.js'

const POSIX: Record<string, string> = {
  alpha: 'A-Za-z',
  digit: '0-9',
  alnum: 'A-Za-z0-9',
  upper: 'A-Z',
  lower: 'a-z',
  space: '\\t\\n\\v\\f\\r ',
  xdigit: '0-9A-Fa-f',
  punct: '!-\\/:-@\\[-`{-~',
  word: '\\w',
  blank: ' \\t',
  cntrl: '\\x00-\\x1f\\x7f',
  print: ' -~',
  graph: '!-~',
  ascii: '\\x00-\\x7f',
}

const cache = new Map<string, RegExp>()

/** Compiles a Go regular expression; throws a builtin error naming `name` when it is invalid. */
export function compileGo(name: string, pattern: string): RegExp {
  let re = cache.get(pattern)
  if (re) return re
  let src = pattern
  let flags = 'g'
  const lead = /^\(\?([imsU]+)\)/.exec(src)
  if (lead) {
    for (const f of lead[1]!) if (f !== 'U' && !flags.includes(f)) flags += f
    src = src.slice(lead[0].length)
  }
  src = src
    .replace(/\(\?P</g, '(?<')
    .replace(/\\A/g, '^')
    .replace(/\\z/g, '(?![\\s\\S])')
    .replace(/\[:(\^?)([a-z]+):\]/g, (m, neg: string, cls: string) =>
      POSIX[cls] === undefined ? m : neg ? `^${POSIX[cls]}` : POSIX[cls]!,
    )
  try {
    re = new RegExp(src, flags + 'u')
  } catch {
    try {
      re = new RegExp(src, flags)
    } catch (e) {
      throw builtinError(name, `error parsing regexp: ${(e as Error).message}`)
    }
  }
  if (cache.size > 1000) cache.clear()
  cache.set(pattern, re)
  return re
}

function runeWidth(s: string, i: number): number {
  const c = s.codePointAt(i)
  return c !== undefined && c > 0xffff ? 2 : 1
}

/** All matches as Go's `FindAll*` returns them: empty matches next to a previous match dropped. */
export function findAll(re: RegExp, s: string, n: number): RegExpExecArray[] {
  const out: RegExpExecArray[] = []
  let pos = 0
  let prevEnd = -1
  while ((n < 0 || out.length < n) && pos <= s.length) {
    re.lastIndex = pos
    const m = re.exec(s)
    if (!m) break
    const end = m.index + m[0].length
    let accept = true
    if (m[0].length === 0) {
      if (m.index === prevEnd) accept = false
      pos = end + (end < s.length ? runeWidth(s, end) : 1)
    } else pos = end
    prevEnd = end
    if (accept) out.push(m)
  }
  return out
}

/** `regex.match(pattern, value)`: whether the pattern matches anywhere in value. */
export function regexMatch(pattern: unknown, value: unknown): boolean {
  const re = compileGo('regex.match', str('regex.match', 1, pattern))
  re.lastIndex = 0
  return re.test(str('regex.match', 2, value))
}

/** `re_match(pattern, value)`: the deprecated spelling of `regex.match`. */
export function reMatch(pattern: unknown, value: unknown): boolean {
  const re = compileGo('re_match', str('re_match', 1, pattern))
  re.lastIndex = 0
  return re.test(str('re_match', 2, value))
}

/** `regex.is_valid(pattern)`: false for anything that is not a valid pattern string. */
export function regexIsValid(pattern: unknown): boolean {
  if (typeof pattern !== 'string') return false
  try {
    compileGo('regex.is_valid', pattern)
    return true
  } catch {
    return false
  }
}

/** `regex.split(pattern, value)` as Go's `Regexp.Split(s, -1)`. */
export function regexSplit(pattern: unknown, value: unknown): string[] {
  const p = str('regex.split', 1, pattern)
  const s = str('regex.split', 2, value)
  const re = compileGo('regex.split', p)
  if (p.length > 0 && s.length === 0) return ['']
  const out: string[] = []
  let beg = 0
  let end = 0
  for (const m of findAll(re, s, -1)) {
    end = m.index
    const mEnd = m.index + m[0].length
    if (mEnd !== 0) out.push(s.slice(beg, end))
    beg = mEnd
  }
  if (end !== s.length) out.push(s.slice(beg))
  return out
}

/** `regex.find_n(pattern, value, number)`: up to n matches (-1 for all). */
export function regexFindN(pattern: unknown, value: unknown, n: unknown): string[] {
  const re = compileGo('regex.find_n', str('regex.find_n', 1, pattern))
  return findAll(re, str('regex.find_n', 2, value), int('regex.find_n', 3, n)).map((m) => m[0])
}

/** `regex.find_all_string_submatch_n(pattern, value, number)`: matches with their groups. */
export function regexFindAllStringSubmatchN(
  pattern: unknown,
  value: unknown,
  n: unknown,
): string[][] {
  const name = 'regex.find_all_string_submatch_n'
  const re = compileGo(name, str(name, 1, pattern))
  return findAll(re, str(name, 2, value), int(name, 3, n)).map((m) => m.map((g) => g ?? ''))
}

function expand(template: string, m: RegExpExecArray): string {
  return template.replace(
    /\$(\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g,
    (_all, d: string, braced?: string, bare?: string) => {
      if (d === '$') return '$'
      const key = braced ?? bare!
      if (/^\d+$/.test(key)) return m[Number(key)] ?? ''
      return m.groups?.[key] ?? ''
    },
  )
}

/** `regex.replace(s, pattern, value)` as Go's `ReplaceAllString` (with `$1` expansion). */
export function regexReplace(s: unknown, pattern: unknown, value: unknown): string {
  const input = str('regex.replace', 1, s)
  const re = compileGo('regex.replace', str('regex.replace', 2, pattern))
  const tpl = str('regex.replace', 3, value)
  let out = ''
  let last = 0
  for (const m of findAll(re, input, -1)) {
    out += input.slice(last, m.index) + expand(tpl, m)
    last = m.index + m[0].length
  }
  return out + input.slice(last)
}

const quoteMeta = (s: string): string => s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&')

/**
 * `regex.template_match(template, value, delimiter_start, delimiter_end)`: the template's text
 * between the delimiters is a regular expression, the rest is literal; the whole must match.
 */
export function regexTemplateMatch(
  template: unknown,
  value: unknown,
  start: unknown,
  end: unknown,
): boolean {
  const name = 'regex.template_match'
  const t = str(name, 1, template)
  const v = str(name, 2, value)
  const ds = str(name, 3, start)
  const de = str(name, 4, end)
  let src = '^'
  let i = 0
  while (i < t.length) {
    const open = t.indexOf(ds, i)
    if (open < 0) {
      src += quoteMeta(t.slice(i))
      break
    }
    src += quoteMeta(t.slice(i, open))
    let depth = 1
    let j = open + ds.length
    const bodyStart = j
    while (j < t.length && depth > 0) {
      if (t.startsWith(de, j)) {
        depth--
        if (depth === 0) break
        j += de.length
      } else if (t.startsWith(ds, j)) {
        depth++
        j += ds.length
      } else j++
    }
    if (depth !== 0) throw builtinError(name, `unbalanced braces in ${JSON.stringify(t)}`)
    src += `(?:${t.slice(bodyStart, j)})`
    i = j + de.length
  }
  const re = compileGo(name, src + '$')
  re.lastIndex = 0
  return re.test(v)
}

interface GlobToken {
  /** Inclusive code point ranges; `undefined` for `.` (any character). */
  ranges?: [number, number][]
  star: boolean
}

function globTokens(p: string): GlobToken[] {
  const out: GlobToken[] = []
  const cs = Array.from(p)
  const fail = (): never => {
    throw builtinError('regex.globs_match', `invalid glob pattern ${JSON.stringify(p)}`)
  }
  let i = 0
  while (i < cs.length) {
    const c = cs[i++]!
    let tok: GlobToken
    if (c === '.') tok = { star: false }
    else if (c === '\\') {
      if (i >= cs.length) fail()
      const e = cs[i++]!.codePointAt(0)!
      tok = { ranges: [[e, e]], star: false }
    } else if (c === '[') {
      const ranges: [number, number][] = []
      while (i < cs.length && cs[i] !== ']') {
        let lo = cs[i++]!
        if (lo === '\\' && i < cs.length) lo = cs[i++]!
        if (cs[i] === '-' && cs[i + 1] !== undefined && cs[i + 1] !== ']') {
          ranges.push([lo.codePointAt(0)!, cs[i + 1]!.codePointAt(0)!])
          i += 2
        } else ranges.push([lo.codePointAt(0)!, lo.codePointAt(0)!])
      }
      if (i >= cs.length) fail()
      i++
      tok = { ranges, star: false }
    } else if (c === '*' || c === '+') {
      return fail()
    } else {
      const v = c.codePointAt(0)!
      tok = { ranges: [[v, v]], star: false }
    }
    if (cs[i] === '*') {
      tok.star = true
      i++
    } else if (cs[i] === '+') {
      out.push({ ...tok })
      tok.star = true
      i++
    }
    out.push(tok)
  }
  return out
}

function overlaps(a: GlobToken, b: GlobToken): boolean {
  if (!a.ranges || !b.ranges) return (a.ranges ?? b.ranges ?? [[0, 0]]).length > 0
  return a.ranges.some(([l1, h1]) => b.ranges!.some(([l2, h2]) => l1 <= h2 && l2 <= h1))
}

/**
 * `regex.globs_match(glob1, glob2)`: whether some non-empty string matches both patterns, in the
 * restricted syntax OPA accepts (`.`, `*`, `+`, `[...]` with ranges, `\` escapes). Searches the
 * product of the two patterns' automata.
 */
export function regexGlobsMatch(glob1: unknown, glob2: unknown): boolean {
  const a = globTokens(str('regex.globs_match', 1, glob1))
  const b = globTokens(str('regex.globs_match', 2, glob2))
  const seen = new Set<string>()
  const queue: [number, number, boolean][] = [[0, 0, false]]
  while (queue.length > 0) {
    const [i, j, consumed] = queue.pop()!
    const key = `${i},${j},${consumed}`
    if (seen.has(key)) continue
    seen.add(key)
    if (i === a.length && j === b.length && consumed) return true
    if (i < a.length && a[i]!.star) queue.push([i + 1, j, consumed])
    if (j < b.length && b[j]!.star) queue.push([i, j + 1, consumed])
    if (i < a.length && j < b.length && overlaps(a[i]!, b[j]!)) {
      queue.push([a[i]!.star ? i : i + 1, b[j]!.star ? j : j + 1, true])
    }
  }
  return false
}
