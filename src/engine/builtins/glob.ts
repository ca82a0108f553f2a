/**
 * `glob.match` with the semantics of the gobwas/glob library OPA uses: `*` stops at delimiters,
 * `**` does not, `?` is one non-delimiter character, `[...]`/`[!...]` classes, `{a,b}`
 * alternatives and `\` escapes. A null delimiter list means none; an empty one means `["."]`.
 *
 * @module
 */
import { badOperand, builtinError, str, strs } from './errors.js'

const cache = new Map<string, RegExp>()

const esc = (s: string): string => s.replace(/[\\^$.*+?()[\]{}|\-/]/g, '\\$&')

function compile(pattern: string, delims: readonly string[]): RegExp {
  const key = JSON.stringify([pattern, delims])
  let re = cache.get(key)
  if (re) return re
  const notDelim = delims.length === 0 ? '.' : `[^${delims.map(esc).join('')}]`
  const chars = Array.from(pattern)
  let i = 0
  const fail = (): never => {
    throw builtinError('glob.match', `unexpected end of input`)
  }

  // Parses until one of the stop characters (at this nesting level) or the end.
  const seq = (inBraces: boolean): string => {
    let out = ''
    while (i < chars.length) {
      const c = chars[i]!
      if (inBraces && (c === ',' || c === '}')) return out
      i++
      switch (c) {
        case '\\':
          if (i >= chars.length) fail()
          out += esc(chars[i++]!)
          break
        case '*':
          if (chars[i] === '*') {
            while (chars[i] === '*') i++
            out += '.*'
          } else out += `${notDelim}*`
          break
        case '?':
          out += notDelim
          break
        case '[': {
          let neg = false
          if (chars[i] === '!') {
            neg = true
            i++
          }
          let cls = ''
          while (i < chars.length && chars[i] !== ']') {
            const lo = chars[i++]!
            if (chars[i] === '-' && chars[i + 1] !== undefined && chars[i + 1] !== ']') {
              cls += `${esc(lo)}-${esc(chars[i + 1]!)}`
              i += 2
            } else cls += esc(lo)
          }
          if (i >= chars.length) fail()
          i++
          out += cls === '' ? (neg ? '.' : '[]') : `[${neg ? '^' : ''}${cls}]`
          break
        }
        case '{': {
          const alts: string[] = []
          for (;;) {
            alts.push(seq(true))
            if (i >= chars.length) fail()
            if (chars[i++] === '}') break
          }
          out += `(?:${alts.join('|')})`
          break
        }
        default:
          out += esc(c)
      }
    }
    return out
  }

  re = new RegExp(`^${seq(false)}$`, 'su')
  if (cache.size > 1000) cache.clear()
  cache.set(key, re)
  return re
}

/** `glob.match(pattern, delimiters, match)`. */
export function globMatch(pattern: unknown, delimiters: unknown, match: unknown): boolean {
  const p = str('glob.match', 1, pattern)
  let d: readonly string[]
  if (delimiters === null) d = []
  else {
    if (!Array.isArray(delimiters)) badOperand('glob.match', 2, 'array', delimiters)
    d = strs('glob.match', 2, delimiters, 'array')
    if (d.length === 0) d = ['.']
  }
  return compile(p, d).test(str('glob.match', 3, match))
}

/** `glob.quote_meta(pattern)`: escapes the glob metacharacters `* ? \ [ ] { }`. */
export function globQuoteMeta(pattern: unknown): string {
  return str('glob.quote_meta', 1, pattern).replace(/[*?\\[\]{}]/g, '\\$&')
}
