/**
 * `units.parse` and `units.parse_bytes`: Kubernetes-style quantities ("10Ki", "500m", "2.5e3K").
 * Amounts are kept as exact decimals (BigInt scaled by a power of ten) so that "1.1K" is 1100.
 *
 * @module
 */
import { builtinError, str } from './errors.js'

const DEC = (n: number): bigint => 10n ** BigInt(n)
const BIN = (n: number): bigint => 1n << BigInt(10 * n)

const SI: Record<string, bigint> = {
  k: DEC(3),
  m: DEC(6),
  g: DEC(9),
  t: DEC(12),
  p: DEC(15),
  e: DEC(18),
  ki: BIN(1),
  mi: BIN(2),
  gi: BIN(3),
  ti: BIN(4),
  pi: BIN(5),
  ei: BIN(6),
}

// An amount: optional sign, digits with at most one point, and an exponent only when the
// `e` is followed by a digit (a bare trailing `e`/`E` is the exa unit).
const AMOUNT = /^[+-]?[0-9.]*(?:[eE][+-]?[0-9]+)?/

interface Decimal {
  /** The value is `coef * 10^exp`. */
  coef: bigint
  exp: number
}

function split(name: string, what: string, raw: string): { amount: Decimal; unit: string } {
  const s = raw.replaceAll('"', '')
  if (s.includes(' ')) throw builtinError(name, 'spaces not allowed in resource strings')
  const m = AMOUNT.exec(s)![0]
  if (m === '' || m === '+' || m === '-' || !/[0-9]/.test(m)) {
    throw builtinError(name, `no ${what} provided`)
  }
  const d = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$/.exec(m)
  if (!d || (d[2] === '' && (d[3] ?? '') === '')) {
    throw builtinError(name, `could not parse ${what} to a number`)
  }
  const frac = d[3] ?? ''
  const e = Number(d[4] ?? '0') - frac.length
  if (e > 400) throw builtinError(name, 'exponent too large')
  let coef = BigInt((d[2] || '0') + frac)
  if (d[1] === '-') coef = -coef
  return { amount: { coef, exp: e }, unit: s.slice(m.length) }
}

function ratio(coef: bigint, exp: number, mult: bigint, div: bigint): [bigint, bigint] {
  if (exp < -400) return [0n, 1n]
  return exp >= 0 ? [coef * DEC(exp) * mult, div] : [coef * mult, DEC(-exp) * div]
}

/** Integers beyond 2^53 stay BigInt so that they reach the module exactly. */
function toNumber([n, d]: [bigint, bigint]): number | bigint {
  if (n === 0n) return 0
  if (n % d === 0n) {
    const q = n / d
    return q > BigInt(Number.MAX_SAFE_INTEGER) || q < -BigInt(Number.MAX_SAFE_INTEGER)
      ? q
      : Number(q)
  }
  // Dividing two exactly representable doubles rounds once; reduce first so both usually are.
  let g = n < 0n ? -n : n
  let b = d
  while (b !== 0n) [g, b] = [b, g % b]
  return Number(n / g) / Number(d / g)
}

/** `units.parse(x)`: a quantity with an optional SI or binary suffix; lowercase `m` is milli. */
export function unitsParse(x: unknown): number | bigint {
  const { amount, unit } = split('units.parse', 'amount', str('units.parse', 1, x))
  let mult = 1n
  let div = 1n
  if (unit === 'm') div = 1000n
  else if (unit === 'M') mult = SI.m!
  else if (unit !== '') {
    const u = SI[unit.toLowerCase()]
    if (u === undefined) throw builtinError('units.parse', 'unit not recognized')
    mult = u
  }
  return toNumber(ratio(amount.coef, amount.exp, mult, div))
}

/** `units.parse_bytes(x)`: a byte count ("10KB", "1.1KiB", "100mib"), truncated to an integer. */
export function unitsParseBytes(x: unknown): number | bigint {
  const { amount, unit } = split('units.parse_bytes', 'byte amount', str('units.parse_bytes', 1, x))
  let u = unit.toLowerCase()
  if (u.endsWith('b')) u = u.slice(0, -1)
  let mult = 1n
  if (u !== '') {
    const m = SI[u]
    if (m === undefined) throw builtinError('units.parse_bytes', 'byte unit not recognized')
    mult = m
  }
  const [n, d] = ratio(amount.coef, amount.exp, mult, 1n)
  return toNumber([n / d, 1n])
}
