/**
 * Human durations (`'30s'`, `'1m30s'`, `'250ms'`) parsed once, at the config edge; code uses
 * milliseconds everywhere else.
 *
 * @module
 */

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/**
 * Parses a duration into milliseconds; a bare number is milliseconds. Returns undefined when the
 * text is not a duration.
 *
 * @example
 * parseDuration('1m30s') // 90000
 */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined
  const text = value.trim()
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text)
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h)/y
  let total = 0
  let at = 0
  while (at < text.length) {
    part.lastIndex = at
    const m = part.exec(text)
    if (m === null) return undefined
    total += Number(m[1]) * UNITS[m[2]!]!
    at = part.lastIndex
  }
  return text === '' ? undefined : total
}
