/**
 * CIDR builtins over IPv4 and IPv6 addresses held as BigInt (32 or 128 bits).
 *
 * @module
 */
import { badOperand, builtinError, str } from './errors.js'
import { toSet } from './value.js'

interface Net {
  bits: 32 | 128
  /** The address as written (for a CIDR, its host bits may be set). */
  addr: bigint
  prefix: number
}

function parseV4(s: string): bigint | undefined {
  const p = s.split('.')
  if (p.length !== 4) return undefined
  let v = 0n
  for (const x of p) {
    if (!/^\d{1,3}$/.test(x) || Number(x) > 255 || (x.length > 1 && x[0] === '0')) return undefined
    v = (v << 8n) | BigInt(x)
  }
  return v
}

function parseV6(s: string): bigint | undefined {
  if (s.includes('%')) return undefined
  let tail: bigint[] = []
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s)
  if (v4) {
    const a = parseV4(v4[1]!)
    if (a === undefined) return undefined
    tail = [a >> 16n, a & 0xffffn]
    s = s.slice(0, s.length - v4[1]!.length)
    // "a:b::1.2.3.4" keeps its "::"; "a:b:c:d:e:f:1.2.3.4" drops the trailing ":".
    if (!s.endsWith('::')) {
      if (!s.endsWith(':')) return undefined
      s = s.slice(0, -1)
    }
  }
  const halves = s.split('::')
  if (halves.length > 2) return undefined
  const parse = (h: string): bigint[] | undefined => {
    if (h === '') return []
    const out: bigint[] = []
    for (const g of h.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined
      out.push(BigInt('0x' + g))
    }
    return out
  }
  const head = parse(halves[0]!)
  const rest = halves.length === 2 ? parse(halves[1]!) : []
  if (!head || !rest) return undefined
  const groups = [...head, ...rest, ...tail].length
  let all: bigint[]
  if (halves.length === 2) {
    if (groups > 7) return undefined
    all = [...head, ...Array<bigint>(8 - groups).fill(0n), ...rest, ...tail]
  } else {
    if (groups !== 8) return undefined
    all = [...head, ...tail]
  }
  return all.reduce((acc, g) => (acc << 16n) | g, 0n)
}

function parseIp(s: string): { bits: 32 | 128; addr: bigint } | undefined {
  if (s.includes(':')) {
    const a = parseV6(s)
    return a === undefined ? undefined : { bits: 128, addr: a }
  }
  const a = parseV4(s)
  return a === undefined ? undefined : { bits: 32, addr: a }
}

function parseCidr(name: string, s: string): Net {
  const slash = s.indexOf('/')
  const ip = slash < 0 ? undefined : parseIp(s.slice(0, slash))
  const pre = slash < 0 ? '' : s.slice(slash + 1)
  if (!ip || !/^\d{1,3}$/.test(pre) || Number(pre) > ip.bits) {
    throw builtinError(name, `invalid CIDR address: ${s}`)
  }
  return { ...ip, prefix: Number(pre) }
}

function parseCidrOrIp(name: string, s: string): Net {
  if (s.includes('/')) return parseCidr(name, s)
  const ip = parseIp(s)
  if (!ip) throw builtinError(name, `invalid IP address: ${s}`)
  return { ...ip, prefix: ip.bits }
}

function mask(n: Net): bigint {
  const host = BigInt(n.bits - n.prefix)
  return ((1n << BigInt(n.bits)) - 1n) ^ ((1n << host) - 1n)
}

const first = (n: Net): bigint => n.addr & mask(n)
const last = (n: Net): bigint => first(n) | ((1n << BigInt(n.bits - n.prefix)) - 1n)

function contains(a: Net, b: Net): boolean {
  return a.bits === b.bits && first(a) <= first(b) && last(b) <= last(a)
}

function formatIp(bits: 32 | 128, v: bigint): string {
  if (bits === 32) return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join('.')
  const g = Array.from({ length: 8 }, (_, i) => (v >> BigInt(112 - 16 * i)) & 0xffffn)
  // The longest run (of two or more) zero groups becomes "::", the first one on ties.
  let best = -1
  let bestLen = 1
  for (let i = 0; i < 8;) {
    if (g[i] !== 0n) {
      i++
      continue
    }
    let j = i
    while (j < 8 && g[j] === 0n) j++
    if (j - i > bestLen) {
      best = i
      bestLen = j - i
    }
    i = j
  }
  const hex = g.map((x) => x.toString(16))
  if (best < 0) return hex.join(':')
  return hex.slice(0, best).join(':') + '::' + hex.slice(best + bestLen).join(':')
}

/** `net.cidr_contains(cidr, cidr_or_ip)`. */
export function cidrContains(cidr: unknown, x: unknown): boolean {
  const a = parseCidr('net.cidr_contains', str('net.cidr_contains', 1, cidr))
  const b = parseCidrOrIp('net.cidr_contains', str('net.cidr_contains', 2, x))
  return contains(a, b)
}

/** `net.cidr_intersects(a, b)`. */
export function cidrIntersects(a: unknown, b: unknown): boolean {
  const x = parseCidr('net.cidr_intersects', str('net.cidr_intersects', 1, a))
  const y = parseCidr('net.cidr_intersects', str('net.cidr_intersects', 2, b))
  return x.bits === y.bits && first(x) <= last(y) && first(y) <= last(x)
}

/** `net.cidr_is_valid(cidr)`: false for anything that is not a CIDR string. */
export function cidrIsValid(cidr: unknown): boolean {
  if (typeof cidr !== 'string') return false
  try {
    parseCidr('net.cidr_is_valid', cidr)
    return true
  } catch {
    return false
  }
}

/** `net.cidr_expand(cidr)`: every address of the block (a set). */
export function cidrExpand(cidr: unknown): string[] {
  const n = parseCidr('net.cidr_expand', str('net.cidr_expand', 1, cidr))
  const size = 1n << BigInt(n.bits - n.prefix)
  if (size > 1n << 20n) throw builtinError('net.cidr_expand', 'CIDR too large to expand')
  const out: string[] = []
  for (let v = first(n); v <= last(n); v++) out.push(formatIp(n.bits, v))
  return toSet(out)
}

function rangeToCidrs(bits: 32 | 128, lo: bigint, hi: bigint): string[] {
  const out: string[] = []
  while (lo <= hi) {
    let size = 0
    while (size < bits) {
      const block = 1n << BigInt(size + 1)
      if (lo % block !== 0n || lo + block - 1n > hi) break
      size++
    }
    out.push(`${formatIp(bits, lo)}/${bits - size}`)
    lo += 1n << BigInt(size)
  }
  return out
}

/** `net.cidr_merge(addrs)`: the smallest set of CIDRs covering the given IPs and CIDRs. */
export function cidrMerge(addrs: unknown): string[] {
  if (!Array.isArray(addrs)) return badOperand('net.cidr_merge', 1, 'one of {array, set}', addrs)
  const out: string[] = []
  for (const bits of [32, 128] as const) {
    const ranges: [bigint, bigint][] = []
    for (const a of addrs) {
      if (typeof a !== 'string') return badOperand('net.cidr_merge', 1, 'array of strings', addrs)
      const n = parseCidrOrIp('net.cidr_merge', a)
      if (n.bits === bits) ranges.push([first(n), last(n)])
    }
    ranges.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))
    const merged: [bigint, bigint][] = []
    for (const r of ranges) {
      const top = merged[merged.length - 1]
      if (top && r[0] <= top[1] + 1n) top[1] = r[1] > top[1] ? r[1] : top[1]
      else merged.push([r[0], r[1]])
    }
    for (const [lo, hi] of merged) out.push(...rangeToCidrs(bits, lo, hi))
  }
  return toSet(out)
}

function keyed(name: string, pos: number, v: unknown): [unknown, string][] {
  if (typeof v === 'string') return [[v, v]]
  if (Array.isArray(v)) {
    return v.map((e, i) => {
      const s = Array.isArray(e) ? e[0] : e
      if (typeof s !== 'string') return badOperand(name, pos, 'string', s)
      return [i, s] as [unknown, string]
    })
  }
  if (v !== null && typeof v === 'object') {
    return Object.entries(v).map(([k, e]) => {
      const s = Array.isArray(e) ? e[0] : e
      if (typeof s !== 'string') return badOperand(name, pos, 'string', s)
      return [k, s] as [unknown, string]
    })
  }
  return badOperand(name, pos, 'one of {string, array, set, object}', v)
}

/**
 * `net.cidr_contains_matches(cidrs, cidrs_or_ips)`: pairs of keys `[i, j]` where the i-th CIDR
 * contains the j-th address. Sets arrive as arrays, so their keys are the elements themselves.
 */
export function cidrContainsMatches(cidrs: unknown, ips: unknown): unknown[][] {
  const name = 'net.cidr_contains_matches'
  const a = keyed(name, 1, cidrs)
  const b = keyed(name, 2, ips)
  const out: unknown[][] = []
  for (const [ka, sa] of a) {
    const na = parseCidr(name, sa)
    for (const [kb, sb] of b) {
      if (contains(na, parseCidrOrIp(name, sb))) out.push([ka, kb])
    }
  }
  return toSet(out)
}
