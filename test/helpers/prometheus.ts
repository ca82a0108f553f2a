/**
 * Test helper: a strict reader of the Prometheus text format 0.0.4, so tests check the exposition
 * itself and not only a few substrings. It throws on anything a scraper could trip over: a sample
 * of an undeclared family, a family declared twice or with an unknown type, a malformed line or
 * label, a counter not ending in `_total`, histogram buckets out of order, not cumulative, or not
 * ending with `+Inf` equal to `_count`.
 *
 * @module
 */

/** One sample line. */
export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** One metric family: its `# TYPE`, `# HELP` and samples. */
export interface Family {
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'
  help: string
  samples: Sample[]
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

function parseValue(text: string, line: string): number {
  if (text === '+Inf') return Infinity
  if (text === '-Inf') return -Infinity
  if (text === 'NaN') return NaN
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad value in: ${line}`)
  return Number(text)
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {}
  let i = 0
  while (i < text.length) {
    const eq = text.indexOf('=', i)
    if (eq === -1) throw new Error(`bad labels in: ${line}`)
    const name = text.slice(i, eq)
    if (!LABEL_NAME.test(name)) throw new Error(`bad label name ${name} in: ${line}`)
    if (text[eq + 1] !== '"') throw new Error(`unquoted label value in: ${line}`)
    let j = eq + 2
    let value = ''
    for (;;) {
      if (j >= text.length) throw new Error(`unterminated label value in: ${line}`)
      const c = text[j]!
      if (c === '"') break
      if (c === '\\') {
        const n = text[j + 1]
        if (n === 'n') value += '\n'
        else if (n === '\\' || n === '"') value += n
        else throw new Error(`bad escape in: ${line}`)
        j += 2
        continue
      }
      if (c === '\n') throw new Error(`raw newline in label value: ${line}`)
      value += c
      j++
    }
    if (name in labels) throw new Error(`label ${name} twice in: ${line}`)
    labels[name] = value
    i = j + 1
    if (i < text.length) {
      if (text[i] !== ',') throw new Error(`expected , between labels in: ${line}`)
      i++
    }
  }
  return labels
}

/** The family a sample name belongs to, given the declared families. */
function familyOf(name: string, families: Map<string, Family>): string | undefined {
  if (families.has(name)) return name
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue
    const base = name.slice(0, -suffix.length)
    const f = families.get(base)
    if (f?.type === 'histogram' || (f?.type === 'summary' && suffix !== '_bucket')) return base
  }
  return undefined
}

/** Parses and checks an exposition; throws with the offending line on any violation. */
export function parseExposition(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline')
  const families = new Map<string, Family>()
  const helped = new Set<string>()
  let current: string | undefined
  const closed = new Set<string>()
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') throw new Error('empty line in exposition')
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line)
      if (m === null) throw new Error(`bad comment line: ${line}`)
      const [, kind, name, rest] = m as unknown as [string, string, string, string]
      if (!NAME.test(name)) throw new Error(`bad metric name: ${line}`)
      if (current !== undefined && current !== name) closed.add(current)
      if (closed.has(name)) throw new Error(`family ${name} is split: ${line}`)
      current = name
      if (kind === 'HELP') {
        if (helped.has(name)) throw new Error(`second HELP for ${name}`)
        helped.add(name)
        if (rest === '') throw new Error(`empty HELP for ${name}`)
        const f = families.get(name)
        if (f) f.help = rest
        else families.set(name, { type: 'untyped', help: rest, samples: [] })
      } else {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`bad TYPE: ${line}`)
        const f = families.get(name)
        if (f && (f.samples.length > 0 || f.type !== 'untyped')) throw new Error(`TYPE for ${name} too late or twice`)
        if (f) f.type = rest as Family['type']
        else families.set(name, { type: rest as Family['type'], help: '', samples: [] })
        if (rest === 'counter' && !name.endsWith('_total')) throw new Error(`counter ${name} does not end in _total`)
      }
      continue
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null) throw new Error(`bad sample line: ${line}`)
    const name = m[1]!
    const family = familyOf(name, families)
    if (family === undefined) throw new Error(`sample of an undeclared family: ${line}`)
    if (family !== current) throw new Error(`sample of ${family} outside its family's block: ${line}`)
    const f = families.get(family)!
    if (f.type === 'histogram' && name === family) throw new Error(`histogram sample without a suffix: ${line}`)
    f.samples.push({ name, labels: parseLabels(m[2] ?? '', line), value: parseValue(m[3]!, line) })
  }
  for (const [name, f] of families) {
    if (!helped.has(name)) throw new Error(`family ${name} has no HELP`)
    if (f.type === 'histogram') checkHistogram(name, f)
  }
  return families
}

function checkHistogram(name: string, f: Family): void {
  const key = (labels: Record<string, string>): string =>
    JSON.stringify(Object.entries(labels).filter(([k]) => k !== 'le').sort())
  const series = new Map<string, { buckets: Sample[]; sum?: number; count?: number }>()
  for (const s of f.samples) {
    const k = key(s.labels)
    const entry = series.get(k) ?? { buckets: [] }
    series.set(k, entry)
    if (s.name === `${name}_bucket`) {
      if (s.labels.le === undefined) throw new Error(`${name}_bucket without le`)
      entry.buckets.push(s)
    } else if (s.name === `${name}_sum`) entry.sum = s.value
    else entry.count = s.value
  }
  for (const [k, e] of series) {
    if (e.sum === undefined || e.count === undefined) throw new Error(`${name}${k}: _sum or _count missing`)
    if (e.buckets.length === 0) throw new Error(`${name}${k}: no buckets`)
    let prevLe = -Infinity
    let prevCount = 0
    for (const b of e.buckets) {
      const le = parseValue(b.labels.le!, b.labels.le!)
      if (!(le > prevLe)) throw new Error(`${name}${k}: le ${b.labels.le} not increasing`)
      if (b.value < prevCount) throw new Error(`${name}${k}: bucket le=${b.labels.le} not cumulative`)
      prevLe = le
      prevCount = b.value
    }
    const last = e.buckets.at(-1)!
    if (last.labels.le !== '+Inf') throw new Error(`${name}${k}: last bucket is not +Inf`)
    if (last.value !== e.count) throw new Error(`${name}${k}: +Inf bucket ${last.value} != _count ${e.count}`)
  }
}

/** The value of one sample; throws when there is no such sample (so a test never passes on absence). */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name !== name) continue
      const keys = Object.keys(labels)
      if (keys.length !== Object.keys(s.labels).length) continue
      if (keys.every((k) => s.labels[k] === labels[k])) return s.value
    }
  }
  throw new Error(`no sample ${name}${JSON.stringify(labels)}`)
}
