/**
 * Time builtins. Instants are nanoseconds since the Unix epoch as BigInt (the index turns them
 * back into exact JSON numbers); layouts are Go reference layouts ("2006-01-02T15:04:05Z07:00")
 * and zones are IANA names resolved through Intl.
 *
 * @module
 */
import { badOperand, builtinError, str } from './errors.js'

const NS = 1_000_000_000n
const INT64_MAX = (1n << 63n) - 1n
const INT64_MIN = -(1n << 63n)

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
]
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']

/** Go's named layouts, accepted wherever a layout is. */
export const LAYOUTS: Readonly<Record<string, string>> = {
  ANSIC: 'Mon Jan _2 15:04:05 2006',
  UnixDate: 'Mon Jan _2 15:04:05 MST 2006',
  RubyDate: 'Mon Jan 02 15:04:05 -0700 2006',
  RFC822: '02 Jan 06 15:04 MST',
  RFC822Z: '02 Jan 06 15:04 -0700',
  RFC850: 'Monday, 02-Jan-06 15:04:05 MST',
  RFC1123: 'Mon, 02 Jan 2006 15:04:05 MST',
  RFC1123Z: 'Mon, 02 Jan 2006 15:04:05 -0700',
  RFC3339: '2006-01-02T15:04:05Z07:00',
  RFC3339Nano: '2006-01-02T15:04:05.999999999Z07:00',
  Kitchen: '3:04PM',
  Stamp: 'Jan _2 15:04:05',
  StampMilli: 'Jan _2 15:04:05.000',
  StampMicro: 'Jan _2 15:04:05.000000',
  StampNano: 'Jan _2 15:04:05.000000000',
  DateTime: '2006-01-02 15:04:05',
  DateOnly: '2006-01-02',
  TimeOnly: '15:04:05',
}

// --- calendar arithmetic (proleptic Gregorian, days since 1970-01-01) ---

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q
}

function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

function civilFromDays(z: number): [number, number, number] {
  z += 719468
  const era = Math.floor(z / 146097)
  const doe = z - era * 146097
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  )
  const y = yoe + era * 400
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1
  const m = mp + (mp < 10 ? 3 : -9)
  return [m <= 2 ? y + 1 : y, m, d]
}

/** Days since the epoch of a possibly denormalised date (month 14, day 0...), as Go's time.Date. */
function normDays(y: number, m: number, d: number): number {
  const m0 = m - 1
  y += Math.floor(m0 / 12)
  m = (((m0 % 12) + 12) % 12) + 1
  return daysFromCivil(y, m, 1) + d - 1
}

// --- zones ---

interface Zone {
  name: string
  /** Offset east of UTC in seconds at the given instant (seconds since epoch). */
  offset(sec: number): number
  abbr(sec: number): string
}

const UTC: Zone = { name: 'UTC', offset: () => 0, abbr: () => 'UTC' }
const zoneCache = new Map<string, Zone>()

function fmtOffset(off: number, sep: string): string {
  const sign = off < 0 ? '-' : '+'
  const a = Math.abs(off)
  const hh = String(Math.floor(a / 3600)).padStart(2, '0')
  const mm = String(Math.floor((a % 3600) / 60)).padStart(2, '0')
  return `${sign}${hh}${sep}${mm}`
}

function loadZone(name: string, fn: string): Zone {
  if (name === '' || name === 'UTC') return UTC
  const cached = zoneCache.get(name)
  if (cached) return cached
  const tz = name === 'Local' ? undefined : name
  let dtf: Intl.DateTimeFormat
  let short: Intl.DateTimeFormat
  try {
    dtf = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    })
    short = new Intl.DateTimeFormat('en-US', { timeZone: tz, timeZoneName: 'short' })
  } catch {
    throw builtinError(fn, `unknown time zone ${name}`)
  }
  const offset = (sec: number): number => {
    // Intl only covers Date's range; clamp, the offset far out is the zone's last rule anyway.
    const ms = Math.max(-8.64e15, Math.min(8.64e15, sec * 1000))
    const p: Record<string, string> = {}
    for (const part of dtf.formatToParts(new Date(ms))) p[part.type] = part.value
    let y = Number(p.year)
    if (p.era === 'BC' || p.era === 'B') y = 1 - y
    const local =
      daysFromCivil(y, Number(p.month), Number(p.day)) * 86400 +
      Number(p.hour) * 3600 +
      Number(p.minute) * 60 +
      Number(p.second)
    return local - Math.floor(ms / 1000)
  }
  const abbr = (sec: number): string => {
    const n =
      short
        .formatToParts(new Date(Math.max(-8.64e15, Math.min(8.64e15, sec * 1000))))
        .find((x) => x.type === 'timeZoneName')?.value ?? ''
    if (/^[A-Z]{3,5}$/.test(n)) return n
    return fmtOffset(offset(sec), '').replace(/00$/, '')
  }
  const z = { name, offset, abbr }
  zoneCache.set(name, z)
  return z
}

// --- broken-down time ---

interface Parts {
  year: number
  month: number
  day: number
  hour: number
  min: number
  sec: number
  nsec: number
  wday: number
  yday: number
  offset: number
  abbr: string
}

function partsOf(ns: bigint, zone: Zone): Parts {
  const secs = floorDiv(ns, NS)
  const nsec = Number(ns - secs * NS)
  const offset = zone.offset(Number(secs))
  const local = secs + BigInt(offset)
  const days = Number(floorDiv(local, 86400n))
  const sod = Number(local - BigInt(days) * 86400n)
  const [year, month, day] = civilFromDays(days)
  return {
    year,
    month,
    day,
    hour: Math.floor(sod / 3600),
    min: Math.floor((sod % 3600) / 60),
    sec: sod % 60,
    nsec,
    wday: (((days + 4) % 7) + 7) % 7,
    yday: days - daysFromCivil(year, 1, 1) + 1,
    offset,
    abbr: zone === UTC ? 'UTC' : zone.abbr(Number(secs)),
  }
}

// --- layouts ---

type Chunk = { lit: string } | { std: string; digits?: number; comma?: boolean }

const STD_PREFIXES = [
  'January',
  'Jan',
  'Monday',
  'Mon',
  'MST',
  '2006',
  '002',
  '01',
  '02',
  '03',
  '04',
  '05',
  '06',
  '__2',
  '_2',
  '15',
  '1',
  '2',
  '3',
  '4',
  '5',
  'PM',
  'pm',
  '-07:00:00',
  '-070000',
  '-07:00',
  '-0700',
  '-07',
  'Z07:00:00',
  'Z070000',
  'Z07:00',
  'Z0700',
  'Z07',
]

const layoutCache = new Map<string, Chunk[]>()

function chunks(layout: string): Chunk[] {
  let c = layoutCache.get(layout)
  if (c) return c
  c = []
  let lit = ''
  let i = 0
  outer: while (i < layout.length) {
    const ch = layout[i]!
    if ((ch === '.' || ch === ',') && (layout[i + 1] === '0' || layout[i + 1] === '9')) {
      const d = layout[i + 1]!
      let j = i + 1
      while (layout[j] === d) j++
      if (!/[0-9]/.test(layout[j] ?? '')) {
        if (lit) c.push({ lit })
        lit = ''
        c.push({ std: d === '0' ? 'frac0' : 'frac9', digits: j - i - 1, comma: ch === ',' })
        i = j
        continue
      }
    }
    for (const p of STD_PREFIXES) {
      if (layout.startsWith(p, i)) {
        // Go reads "Mon" followed by a lower-case letter as text ("Month"), same for "Jan".
        if ((p === 'Jan' || p === 'Mon') && /[a-z]/.test(layout[i + 3] ?? '')) break
        if (p === '_2' && layout.startsWith('_2006', i)) break
        if (lit) c.push({ lit })
        lit = ''
        c.push({ std: p })
        i += p.length
        continue outer
      }
    }
    lit += ch
    i++
  }
  if (lit) c.push({ lit })
  layoutCache.set(layout, c)
  return c
}

const pad = (n: number, w: number): string =>
  n < 0 ? '-' + String(-n).padStart(w, '0') : String(n).padStart(w, '0')

function format(p: Parts, layout: string): string {
  let out = ''
  for (const c of chunks(layout)) {
    if ('lit' in c) {
      out += c.lit
      continue
    }
    switch (c.std) {
      case 'January':
        out += MONTHS[p.month - 1]
        break
      case 'Jan':
        out += MONTHS[p.month - 1]!.slice(0, 3)
        break
      case 'Monday':
        out += DAYS[p.wday]
        break
      case 'Mon':
        out += DAYS[p.wday]!.slice(0, 3)
        break
      case 'MST':
        out += p.abbr
        break
      case '2006':
        out += pad(p.year, 4)
        break
      case '06':
        out += pad(((p.year % 100) + 100) % 100, 2)
        break
      case '002':
        out += pad(p.yday, 3)
        break
      case '__2':
        out += String(p.yday).padStart(3, ' ')
        break
      case '01':
        out += pad(p.month, 2)
        break
      case '1':
        out += String(p.month)
        break
      case '02':
        out += pad(p.day, 2)
        break
      case '_2':
        out += String(p.day).padStart(2, ' ')
        break
      case '2':
        out += String(p.day)
        break
      case '15':
        out += pad(p.hour, 2)
        break
      case '03':
        out += pad(p.hour % 12 || 12, 2)
        break
      case '3':
        out += String(p.hour % 12 || 12)
        break
      case '04':
        out += pad(p.min, 2)
        break
      case '4':
        out += String(p.min)
        break
      case '05':
        out += pad(p.sec, 2)
        break
      case '5':
        out += String(p.sec)
        break
      case 'PM':
        out += p.hour >= 12 ? 'PM' : 'AM'
        break
      case 'pm':
        out += p.hour >= 12 ? 'pm' : 'am'
        break
      case 'frac0':
      case 'frac9': {
        let f = String(p.nsec).padStart(9, '0').slice(0, c.digits)
        if (c.std === 'frac9') {
          f = f.replace(/0+$/, '')
          if (f === '') break
        }
        out += (c.comma ? ',' : '.') + f
        break
      }
      default: {
        // Zone offsets; the Z forms print Z for UTC.
        if (c.std.startsWith('Z') && p.offset === 0) {
          out += 'Z'
          break
        }
        const a = Math.abs(p.offset)
        const sign = p.offset < 0 ? '-' : '+'
        const hh = pad(Math.floor(a / 3600), 2)
        const mm = pad(Math.floor((a % 3600) / 60), 2)
        const ss = pad(a % 60, 2)
        const body = c.std.slice(1)
        if (body === '07') out += sign + hh
        else if (body === '0700') out += sign + hh + mm
        else if (body === '07:00') out += `${sign}${hh}:${mm}`
        else if (body === '070000') out += sign + hh + mm + ss
        else out += `${sign}${hh}:${mm}:${ss}`
      }
    }
  }
  return out
}

function parseLayout(fn: string, layout: string, value: string): bigint {
  const fail = (what: string, rest: string): never => {
    throw builtinError(
      fn,
      `parsing time ${JSON.stringify(value)} as ${JSON.stringify(layout)}: cannot parse ${JSON.stringify(rest)} as ${JSON.stringify(what)}`,
    )
  }
  let year = 1
  let month = 1
  let day = 1
  let hour = 0
  let min = 0
  let sec = 0
  let nsec = 0
  let pm: boolean | undefined
  let offset: number | undefined
  let yday = -1
  let v = value
  const num = (std: string, min: number, max: number): number => {
    const m = new RegExp(`^\\d{${min},${max}}`).exec(v)
    if (!m) fail(std, v)
    v = v.slice(m![0].length)
    return Number(m![0])
  }
  const name = (std: string, list: string[], short: boolean): number => {
    for (let k = 0; k < list.length; k++) {
      const n = short ? list[k]!.slice(0, 3) : list[k]!
      if (v.slice(0, n.length).toLowerCase() === n.toLowerCase()) {
        v = v.slice(n.length)
        return k
      }
    }
    return fail(std, v)
  }
  const cs = chunks(layout)
  for (let ci = 0; ci < cs.length; ci++) {
    const c = cs[ci]!
    if ('lit' in c) {
      const lit = c.lit
      if (!v.startsWith(lit)) fail(lit, v)
      v = v.slice(lit.length)
      continue
    }
    switch (c.std) {
      case 'January':
        month = name(c.std, MONTHS, false) + 1
        break
      case 'Jan':
        month = name(c.std, MONTHS, true) + 1
        break
      case 'Monday':
        name(c.std, DAYS, false)
        break
      case 'Mon':
        name(c.std, DAYS, true)
        break
      case 'MST': {
        const m = /^(UTC|GMT[+-]\d{1,2}|[A-Z]{3,5})/.exec(v)
        if (!m) fail(c.std, v)
        if (m![0] === 'UTC' || m![0] === 'GMT') offset ??= 0
        v = v.slice(m![0].length)
        break
      }
      case '2006': {
        const m = /^\d{4}/.exec(v)
        if (!m) fail(c.std, v)
        year = Number(m![0])
        v = v.slice(4)
        break
      }
      case '06': {
        const y = num(c.std, 2, 2)
        year = y >= 69 ? 1900 + y : 2000 + y
        break
      }
      case '002':
        yday = num(c.std, 3, 3)
        break
      case '__2':
        v = v.replace(/^ {1,2}/, '')
        yday = num(c.std, 1, 3)
        break
      case '01':
        month = num(c.std, 2, 2)
        break
      case '1':
        month = num(c.std, 1, 2)
        break
      case '02':
        day = num(c.std, 2, 2)
        break
      case '_2':
        if (v[0] === ' ') v = v.slice(1)
        day = num(c.std, 1, 2)
        break
      case '2':
        day = num(c.std, 1, 2)
        break
      case '15':
        hour = num(c.std, 1, 2)
        break
      case '03':
        hour = num(c.std, 2, 2)
        break
      case '3':
        hour = num(c.std, 1, 2)
        break
      case '04':
        min = num(c.std, 2, 2)
        break
      case '4':
        min = num(c.std, 1, 2)
        break
      case '05':
      case '5': {
        sec = c.std === '05' ? num(c.std, 2, 2) : num(c.std, 1, 2)
        // Go accepts a fraction after the seconds even when the layout has none.
        const next = cs[ci + 1]
        const m = /^[.,](\d+)/.exec(v)
        if (m && !(next && 'std' in next && next.std.startsWith('frac'))) {
          nsec = Number(m[1]!.padEnd(9, '0').slice(0, 9))
          v = v.slice(m[0].length)
        }
        break
      }
      case 'PM':
      case 'pm': {
        const ap = v.slice(0, 2).toUpperCase()
        if (ap !== 'AM' && ap !== 'PM') fail(c.std, v)
        pm = ap === 'PM'
        v = v.slice(2)
        break
      }
      case 'frac0':
      case 'frac9': {
        const m =
          c.std === 'frac0' ? new RegExp(`^[.,](\\d{${c.digits}})`).exec(v) : /^[.,](\d+)/.exec(v)
        if (!m) {
          if (c.std === 'frac9') break
          fail(c.std, v)
        }
        nsec = Number(m![1]!.padEnd(9, '0').slice(0, 9))
        v = v.slice(m![0].length)
        break
      }
      default: {
        if (c.std.startsWith('Z') && v[0] === 'Z') {
          v = v.slice(1)
          offset = 0
          break
        }
        const m = /^([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?/.exec(v)
        if (!m) fail(c.std, v)
        const body = c.std.slice(1)
        const want =
          body === '07'
            ? 1
            : body.length <= 5 && !body.endsWith(':00:00') && body !== '070000'
              ? 2
              : 3
        const got = m![4] !== undefined ? 3 : m![3] !== undefined ? 2 : 1
        if (got < want) fail(c.std, v)
        const used = want === 1 ? 3 : m![0].length
        const o =
          Number(m![2]) * 3600 +
          (want >= 2 ? Number(m![3]) * 60 : 0) +
          (want >= 3 ? Number(m![4]) : 0)
        offset = m![1] === '-' ? -o : o
        v = v.slice(used)
      }
    }
  }
  if (v !== '') {
    throw builtinError(
      fn,
      `parsing time ${JSON.stringify(value)}: extra text: ${JSON.stringify(v)}`,
    )
  }
  if (pm !== undefined) {
    if (hour > 12) fail('15', String(hour))
    if (pm && hour < 12) hour += 12
    if (!pm && hour === 12) hour = 0
  }
  if (month < 1 || month > 12)
    throw builtinError(fn, `parsing time ${JSON.stringify(value)}: month out of range`)
  if (hour > 23 || min > 59 || sec > 59)
    throw builtinError(
      fn,
      `parsing time ${JSON.stringify(value)}: hour, minute or second out of range`,
    )
  let days: number
  if (yday >= 0) days = daysFromCivil(year, 1, 1) + yday - 1
  else {
    const dim =
      daysFromCivil(month === 12 ? year + 1 : year, month === 12 ? 1 : month + 1, 1) -
      daysFromCivil(year, month, 1)
    if (day < 1 || day > dim)
      throw builtinError(fn, `parsing time ${JSON.stringify(value)}: day out of range`)
    days = daysFromCivil(year, month, day)
  }
  const local = BigInt(days) * 86400n + BigInt(hour * 3600 + min * 60 + sec)
  return (local - BigInt(offset ?? 0)) * NS + BigInt(nsec)
}

// --- argument handling ---

/** Accepts a JSON number (possibly already rounded by the JSON round trip) or a BigInt. */
function toNs(fn: string, pos: number, v: unknown): bigint {
  if (typeof v === 'bigint') {
    if (v > INT64_MAX || v < INT64_MIN) throw builtinError(fn, 'timestamp too big')
    return v
  }
  if (typeof v !== 'number') return badOperand(fn, pos, 'number', v)
  if (!Number.isFinite(v)) throw builtinError(fn, 'timestamp too big')
  const b = BigInt(Math.trunc(v))
  if (b > INT64_MAX || b < INT64_MIN) throw builtinError(fn, 'timestamp too big')
  return b
}

function instant(fn: string, x: unknown): { ns: bigint; zone: Zone; layout?: string } {
  if (Array.isArray(x)) {
    if (x.length < 2 || x.length > 3) {
      throw builtinError(fn, 'array argument must have two or three elements')
    }
    const ns = toNs(fn, 1, x[0])
    if (typeof x[1] !== 'string') throw builtinError(fn, 'timezone argument must be a string')
    const zone = loadZone(x[1], fn)
    if (x.length === 3) {
      if (typeof x[2] !== 'string') throw builtinError(fn, 'layout argument must be a string')
      return { ns, zone, layout: LAYOUTS[x[2]] ?? x[2] }
    }
    return { ns, zone }
  }
  if (typeof x === 'number' || typeof x === 'bigint') return { ns: toNs(fn, 1, x), zone: UTC }
  return badOperand(fn, 1, 'one of {number, array}', x)
}

function checkRange(fn: string, ns: bigint): bigint {
  if (ns > INT64_MAX || ns < INT64_MIN) throw builtinError(fn, 'time outside of valid range')
  return ns
}

// --- builtins ---

/** `time.parse_ns(layout, value)`. */
export function parseNs(layout: unknown, value: unknown): bigint {
  const l = str('time.parse_ns', 1, layout)
  return checkRange(
    'time.parse_ns',
    parseLayout('time.parse_ns', LAYOUTS[l] ?? l, str('time.parse_ns', 2, value)),
  )
}

/** `time.parse_rfc3339_ns(value)`. */
export function parseRfc3339Ns(value: unknown): bigint {
  const v = str('time.parse_rfc3339_ns', 1, value)
  return checkRange(
    'time.parse_rfc3339_ns',
    parseLayout('time.parse_rfc3339_ns', LAYOUTS.RFC3339!, v),
  )
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
}

/** `time.parse_duration_ns(duration)` as Go's `time.ParseDuration` ("1h30m", "-1.5s", "300ms"). */
export function parseDurationNs(duration: unknown): bigint {
  const d = str('time.parse_duration_ns', 1, duration)
  const bad = (): never => {
    throw builtinError('time.parse_duration_ns', `time: invalid duration ${JSON.stringify(d)}`)
  }
  let s = d
  let neg = false
  if (s[0] === '-' || s[0] === '+') {
    neg = s[0] === '-'
    s = s.slice(1)
  }
  if (s === '0') return 0n
  if (s === '') bad()
  let total = 0n
  while (s !== '') {
    const m = /^(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/.exec(s)
    if (!m || (m[1] === '' && (m[2] ?? '') === '')) {
      if (/^[\d.]+$/.test(s)) {
        throw builtinError(
          'time.parse_duration_ns',
          `time: missing unit in duration ${JSON.stringify(d)}`,
        )
      }
      return bad()
    }
    const unit = BigInt(DURATION_UNITS[m[3]!]!)
    const frac = m[2] ?? ''
    total += BigInt(m[1] || '0') * unit + (BigInt(frac || '0') * unit) / 10n ** BigInt(frac.length)
    s = s.slice(m[0].length)
  }
  if (total > INT64_MAX)
    throw builtinError('time.parse_duration_ns', `time: invalid duration ${JSON.stringify(d)}`)
  return neg ? -total : total
}

/** `time.format(x)`: x is ns, `[ns, tz]` or `[ns, tz, layout]`; RFC3339Nano by default. */
export function timeFormat(x: unknown): string {
  const { ns, zone, layout } = instant('time.format', x)
  return format(partsOf(ns, zone), layout ?? LAYOUTS.RFC3339Nano!)
}

/** `time.date(x)`: `[year, month, day]`. */
export function timeDate(x: unknown): number[] {
  const { ns, zone } = instant('time.date', x)
  const p = partsOf(ns, zone)
  return [p.year, p.month, p.day]
}

/** `time.clock(x)`: `[hour, minute, second]`. */
export function timeClock(x: unknown): number[] {
  const { ns, zone } = instant('time.clock', x)
  const p = partsOf(ns, zone)
  return [p.hour, p.min, p.sec]
}

/** `time.weekday(x)`: the English day name. */
export function timeWeekday(x: unknown): string {
  const { ns, zone } = instant('time.weekday', x)
  return DAYS[partsOf(ns, zone).wday]!
}

/**
 * `time.add_date(ns, years, months, days)` with Go's normalisation (Oct 31 + 1 month = Dec 1).
 * Returns a plain number: the input already went through a double, and printing the result the
 * shortest way keeps round values (…912000) round.
 */
export function timeAddDate(ns: unknown, years: unknown, months: unknown, days: unknown): number {
  const t = toNs('time.add_date', 1, ns)
  const y = Math.trunc(
    typeof years === 'number' ? years : badOperand('time.add_date', 2, 'number', years),
  )
  const m = Math.trunc(
    typeof months === 'number' ? months : badOperand('time.add_date', 3, 'number', months),
  )
  const d = Math.trunc(
    typeof days === 'number' ? days : badOperand('time.add_date', 4, 'number', days),
  )
  const p = partsOf(t, UTC)
  const day = normDays(p.year + y, p.month + m, p.day + d)
  const out =
    (BigInt(day) * 86400n + BigInt(p.hour * 3600 + p.min * 60 + p.sec)) * NS + BigInt(p.nsec)
  return Number(checkRange('time.add_date', out))
}

/** `time.diff(a, b)`: `[years, months, days, hours, minutes, seconds]` between two instants. */
export function timeDiff(a: unknown, b: unknown): number[] {
  const x = instant('time.diff', a)
  const y = instant('time.diff', b)
  const [t1, t2] = x.ns <= y.ns ? [x.ns, y.ns] : [y.ns, x.ns]
  const p1 = partsOf(t1, x.zone)
  const p2 = partsOf(t2, x.zone)
  let year = p2.year - p1.year
  let month = p2.month - p1.month
  let day = p2.day - p1.day
  let hour = p2.hour - p1.hour
  let min = p2.min - p1.min
  let sec = p2.sec - p1.sec
  if (sec < 0) {
    sec += 60
    min--
  }
  if (min < 0) {
    min += 60
    hour--
  }
  if (hour < 0) {
    hour += 24
    day--
  }
  if (day < 0) {
    const [, , d32] = civilFromDays(normDays(p1.year, p1.month, 32))
    day += 32 - d32
    month--
  }
  if (month < 0) {
    month += 12
    year--
  }
  return [year, month, day, hour, min, sec]
}

/** `time.now_ns()` given the evaluation's fixed clock. */
export function nowNs(now: () => bigint): bigint {
  return now()
}
