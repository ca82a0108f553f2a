/**
 * Helpers over JSON-converted Rego values: OPA's total order, deep equality, and Rego's
 * printed form (what `sprintf("%v")` and `print` show).
 *
 * @module
 */

function rank(v: unknown): number {
  if (v === null || v === undefined) return 0
  switch (typeof v) {
    case 'boolean':
      return 1
    case 'number':
    case 'bigint':
      return 2
    case 'string':
      return 3
    default:
      return Array.isArray(v) ? 4 : 6
  }
}

/** OPA's ordering: null < boolean < number < string < array < object; -1, 0 or 1. */
export function compareValues(a: unknown, b: unknown): number {
  const ra = rank(a)
  const rb = rank(b)
  if (ra !== rb) return ra < rb ? -1 : 1
  switch (ra) {
    case 0:
      return 0
    case 1:
    case 2:
      return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0
    case 3:
      return a === b ? 0 : (a as string) < (b as string) ? -1 : 1
    case 4: {
      const x = a as unknown[]
      const y = b as unknown[]
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const c = compareValues(x[i], y[i])
        if (c !== 0) return c
      }
      return x.length === y.length ? 0 : x.length < y.length ? -1 : 1
    }
    default: {
      const x = a as Record<string, unknown>
      const y = b as Record<string, unknown>
      const kx = Object.keys(x).sort()
      const ky = Object.keys(y).sort()
      for (let i = 0; i < Math.min(kx.length, ky.length); i++) {
        const kc = compareValues(kx[i], ky[i])
        if (kc !== 0) return kc
        const vc = compareValues(x[kx[i]!], y[ky[i]!])
        if (vc !== 0) return vc
      }
      return kx.length === ky.length ? 0 : kx.length < ky.length ? -1 : 1
    }
  }
}

/** Deep equality of two JSON values. */
export function equalValues(a: unknown, b: unknown): boolean {
  return compareValues(a, b) === 0
}

/** Sorted copy without duplicates: how a set is represented once it left the module. */
export function toSet<T>(values: readonly T[]): T[] {
  const sorted = [...values].sort(compareValues)
  return sorted.filter((v, i) => i === 0 || compareValues(sorted[i - 1], v) !== 0)
}

/**
 * Formats a number as OPA prints it: integers in full (a double's shortest digits padded with
 * zeros, since the exact source digits are gone after JSON), others in JS's shortest form.
 */
export function formatNumber(n: number | bigint): string {
  if (typeof n === 'bigint') return n.toString()
  if (!Number.isInteger(n)) return String(n)
  if (Math.abs(n) < 1e21) return String(n)
  const [mant, exp] = String(n).split('e+') as [string, string]
  const neg = mant.startsWith('-')
  const [int, frac = ''] = mant.replace('-', '').split('.') as [string, string?]
  return (neg ? '-' : '') + int + frac + '0'.repeat(Number(exp) - frac.length)
}

/** The Rego source form of a value: `["a", 1]`, `{"k": true}`, `null`. */
export function formatValue(v: unknown): string {
  if (v === null || v === undefined) return 'null'
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v)
    case 'number':
    case 'bigint':
      return formatNumber(v)
    case 'boolean':
      return String(v)
  }
  if (Array.isArray(v)) return `[${v.map(formatValue).join(', ')}]`
  const o = v as Record<string, unknown>
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}: ${formatValue(o[k])}`)
    .join(', ')}}`
}
