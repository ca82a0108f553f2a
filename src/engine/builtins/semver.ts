/**
 * Semantic Versioning 2.0.0: validation and precedence (build metadata ignored).
 *
 * @module
 */
import { builtinError, str } from './errors.js'

const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/

interface Version {
  core: [bigint, bigint, bigint]
  pre: string[]
}

function parse(s: string): Version | undefined {
  const m = SEMVER.exec(s)
  if (!m) return undefined
  return { core: [BigInt(m[1]!), BigInt(m[2]!), BigInt(m[3]!)], pre: m[4] ? m[4].split('.') : [] }
}

function cmpIdent(a: string, b: string): number {
  const an = /^\d+$/.test(a)
  const bn = /^\d+$/.test(b)
  if (an && bn) return BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0
  if (an !== bn) return an ? -1 : 1
  return a < b ? -1 : a > b ? 1 : 0
}

/** `semver.is_valid(vsn)`: false for non-strings. */
export function semverIsValid(v: unknown): boolean {
  return typeof v === 'string' && parse(v) !== undefined
}

/** `semver.compare(a, b)`: -1, 0 or 1 by SemVer precedence. */
export function semverCompare(a: unknown, b: unknown): number {
  const sa = str('semver.compare', 1, a)
  const sb = str('semver.compare', 2, b)
  const x = parse(sa)
  if (!x)
    throw builtinError(
      'semver.compare',
      `operand 1: string ${JSON.stringify(sa)} is not a valid SemVer`,
    )
  const y = parse(sb)
  if (!y)
    throw builtinError(
      'semver.compare',
      `operand 2: string ${JSON.stringify(sb)} is not a valid SemVer`,
    )
  for (let i = 0; i < 3; i++) {
    if (x.core[i]! !== y.core[i]!) return x.core[i]! < y.core[i]! ? -1 : 1
  }
  if (x.pre.length === 0 || y.pre.length === 0) {
    return x.pre.length === y.pre.length ? 0 : x.pre.length === 0 ? 1 : -1
  }
  for (let i = 0; i < Math.min(x.pre.length, y.pre.length); i++) {
    const c = cmpIdent(x.pre[i]!, y.pre[i]!)
    if (c !== 0) return c
  }
  return x.pre.length === y.pre.length ? 0 : x.pre.length < y.pre.length ? -1 : 1
}
