/**
 * `sprintf` with Go's `fmt` semantics over Rego values: integers print like Go's big.Int,
 * other numbers like float64, strings as Go strings, and everything else in Rego's source form.
 *
 * @module
 */
import { arr, str } from './errors.js'
import { formatNumber, formatValue } from './value.js'

interface Spec {
  minus: boolean
  plus: boolean
  space: boolean
  zero: boolean
  sharp: boolean
  width?: number
  prec?: number
  verb: string
}

function goType(v: unknown): string {
  if (typeof v === 'string') return 'string'
  if (typeof v === 'number') return Number.isInteger(v) ? '*big.Int' : 'float64'
  if (typeof v === 'boolean') return 'ast.Boolean'
  if (v === null) return 'ast.Null'
  return Array.isArray(v) ? '*ast.Array' : 'ast.object'
}

function pad(s: string, spec: Spec, numeric: boolean): string {
  if (spec.width === undefined || s.length >= spec.width) return s
  const n = spec.width - s.length
  if (spec.minus) return s + ' '.repeat(n)
  if (spec.zero && numeric) {
    const sign = /^[+\- ]/.test(s) ? s[0]! : ''
    return sign + '0'.repeat(n) + s.slice(sign.length)
  }
  return ' '.repeat(n) + s
}

function signed(s: string, neg: boolean, spec: Spec): string {
  if (neg) return '-' + s
  if (spec.plus) return '+' + s
  if (spec.space) return ' ' + s
  return s
}

function fmtInt(n: number | bigint, spec: Spec): string | undefined {
  const b = BigInt(n)
  const neg = b < 0n
  const abs = neg ? -b : b
  let body: string
  switch (spec.verb) {
    case 'd':
    case 'v':
    case 's':
      body = typeof n === 'bigint' ? abs.toString() : formatNumber(Math.abs(n))
      break
    case 'b':
      body = abs.toString(2)
      break
    case 'o':
      body = (spec.sharp ? '0' : '') + abs.toString(8)
      break
    case 'x':
      body = (spec.sharp ? '0x' : '') + abs.toString(16)
      break
    case 'X':
      body = (spec.sharp ? '0X' : '') + abs.toString(16).toUpperCase()
      break
    default:
      return undefined
  }
  if (spec.prec !== undefined && body.length < spec.prec)
    body = '0'.repeat(spec.prec - body.length) + body
  return signed(body, neg, spec)
}

function expForm(s: string): string {
  // JS writes 1e+21 / 1.5e-7; Go pads the exponent to two digits.
  return s.replace(/e([+-])(\d)$/, 'e$10$2')
}

/** `toFixed` with Go's tie rule: an exact half rounds to even (0.125 → "0.12"), not up. */
function toFixedEven(a: number, prec: number): string {
  const scaled = a * 10 ** prec
  if (prec <= 20 && Number.isFinite(scaled) && scaled - Math.floor(scaled) === 0.5) {
    const down = Math.floor(scaled)
    const n = down % 2 === 0 ? down : down + 1
    if (Number.isSafeInteger(n)) {
      const digits = String(n).padStart(prec + 1, '0')
      return prec === 0 ? digits : `${digits.slice(0, -prec)}.${digits.slice(-prec)}`
    }
  }
  return a.toFixed(prec)
}

function fmtFloat(n: number, spec: Spec): string | undefined {
  const neg = n < 0 || Object.is(n, -0)
  const a = Math.abs(n)
  let body: string
  switch (spec.verb) {
    case 'f':
    case 'F':
      body = toFixedEven(a, spec.prec ?? 6)
      break
    case 'e':
    case 'E':
      body = expForm(a.toExponential(spec.prec ?? 6))
      if (spec.verb === 'E') body = body.toUpperCase()
      break
    case 'g':
    case 'G':
    case 'v':
    case 's': {
      if (spec.prec !== undefined && spec.verb !== 's') {
        body = expForm(String(Number(a.toPrecision(spec.prec || 1))))
      } else {
        const exp = a === 0 ? 0 : Math.floor(Math.log10(a))
        body = exp < -4 || exp >= 21 ? expForm(a.toExponential()) : String(a)
        if (body.includes('e') && !body.includes('e-') && !body.includes('e+'))
          body = body.replace('e', 'e+')
      }
      if (spec.verb === 'G') body = body.toUpperCase()
      break
    }
    default:
      return undefined
  }
  return signed(body, neg, spec)
}

function quote(s: string): string {
  return JSON.stringify(s)
}

function fmtString(s: string, spec: Spec): string | undefined {
  const cut = spec.prec !== undefined ? Array.from(s).slice(0, spec.prec).join('') : s
  switch (spec.verb) {
    case 's':
    case 'v':
      return cut
    case 'q':
      return quote(cut)
    case 'x':
      return Buffer.from(cut, 'utf8').toString('hex')
    case 'X':
      return Buffer.from(cut, 'utf8').toString('hex').toUpperCase()
    default:
      return undefined
  }
}

function fmtArg(v: unknown, spec: Spec): string {
  let out: string | undefined
  let numeric = false
  if (typeof v === 'bigint') {
    // Exact integers beyond 2^53 (see host-builtins.ts, exact numbers).
    numeric = true
    out = fmtInt(v, spec)
  } else if (typeof v === 'number') {
    numeric = true
    out = Number.isInteger(v) ? fmtInt(v, spec) : fmtFloat(v, spec)
    if (out === undefined && Number.isInteger(v)) out = fmtFloat(v, spec)
  } else if (typeof v === 'string') {
    out = fmtString(v, spec)
  } else if (typeof v === 'boolean') {
    out = spec.verb === 't' || spec.verb === 'v' || spec.verb === 's' ? String(v) : undefined
  } else {
    const text = formatValue(v)
    out =
      spec.verb === 'v' || spec.verb === 's' ? text : spec.verb === 'q' ? quote(text) : undefined
  }
  if (out === undefined)
    return `%!${spec.verb}(${goType(v)}=${typeof v === 'string' ? v : formatValue(v)})`
  return pad(out, spec, numeric)
}

/** Formats `args` (an array) with the Go format string `format`. */
export function sprintf(format: unknown, args: unknown): string {
  const f = str('sprintf', 1, format)
  const a = arr('sprintf', 2, args)
  let out = ''
  let argi = 0
  let i = 0
  while (i < f.length) {
    const c = f[i]!
    if (c !== '%') {
      out += c
      i++
      continue
    }
    i++
    const spec: Spec = {
      minus: false,
      plus: false,
      space: false,
      zero: false,
      sharp: false,
      verb: '',
    }
    for (; i < f.length; i++) {
      const fl = f[i]
      if (fl === '-') spec.minus = true
      else if (fl === '+') spec.plus = true
      else if (fl === ' ') spec.space = true
      else if (fl === '0') spec.zero = true
      else if (fl === '#') spec.sharp = true
      else break
    }
    let m = /^\d+/.exec(f.slice(i))
    if (m) {
      spec.width = Number(m[0])
      i += m[0].length
    }
    if (f[i] === '.') {
      i++
      m = /^\d*/.exec(f.slice(i))
      spec.prec = Number(m?.[0] || 0)
      i += m?.[0].length ?? 0
    }
    if (i >= f.length) {
      out += '%!(NOVERB)'
      break
    }
    const cp = f.codePointAt(i)!
    spec.verb = String.fromCodePoint(cp)
    i += spec.verb.length
    if (spec.verb === '%') {
      out += '%'
      continue
    }
    if (argi >= a.length) {
      out += `%!${spec.verb}(MISSING)`
      continue
    }
    out += fmtArg(a[argi++], spec)
  }
  if (argi < a.length) {
    out +=
      '%!(EXTRA ' +
      a
        .slice(argi)
        .map((v) => `${goType(v)}=${typeof v === 'string' ? v : formatValue(v)}`)
        .join(', ') +
      ')'
  }
  return out
}
