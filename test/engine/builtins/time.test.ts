import { describe, expect, it } from 'vitest'
import * as t from '../../../src/engine/builtins/time.js'

const message = (f: () => unknown): string => {
  try {
    f()
  } catch (e) {
    return (e as Error).message
  }
  return 'no error'
}

describe('time', () => {
  const ns = 1670006453141828752n

  it('formats with zones, Go layouts and named layouts', () => {
    expect(t.timeFormat(ns)).toBe('2022-12-02T18:40:53.141828752Z')
    expect(t.timeFormat([ns, 'Asia/Kolkata'])).toBe('2022-12-03T00:10:53.141828752+05:30')
    expect(t.timeFormat([ns, 'Asia/Kolkata', 'Mon Jan 02 15:04:05 -0700 2006'])).toBe(
      'Sat Dec 03 00:10:53 +0530 2022',
    )
    expect(t.timeFormat([ns, 'Asia/Kolkata', 'RFC1123Z'])).toBe('Sat, 03 Dec 2022 00:10:53 +0530')
    expect(t.timeFormat([0n, 'America/New_York', 'UnixDate'])).toBe('Wed Dec 31 19:00:00 EST 1969')
    expect(t.timeFormat([0n, 'UTC', '3:04PM Jan _2 06 .000'])).toBe('12:00AM Jan  1 70 .000')
  })

  it('rejects timestamps beyond int64', () => {
    expect(message(() => t.timeFormat(1582977600 * 10e12))).toBe('time.format: timestamp too big')
  })

  it('parses RFC 3339 and Go layouts to exact nanoseconds', () => {
    expect(t.parseRfc3339Ns('2017-06-02T19:00:00.123456789-07:00')).toBe(1496455200123456789n)
    expect(t.parseRfc3339Ns('1970-01-01T00:00:00Z')).toBe(0n)
    expect(t.parseNs('2006-01-02', '2020-03-01')).toBe(1583020800000000000n)
    expect(t.parseNs('Mon Jan _2 15:04:05 MST 2006', 'Fri Feb  9 12:00:00 UTC 2018')).toBe(
      1518177600000000000n,
    )
    expect(t.parseNs('January 2, 2006 3:04pm', 'March 5, 2021 11:30am')).toBe(1614943800000000000n)
    expect(message(() => t.parseNs('2006-01-02', '2020-02-30'))).toContain('day out of range')
    expect(message(() => t.parseRfc3339Ns('2020-01-01'))).toContain('cannot parse')
  })

  it('parses Go durations', () => {
    expect(t.parseDurationNs('1h2m3.5s')).toBe(3723500000000n)
    expect(t.parseDurationNs('100ms')).toBe(100000000n)
    expect(t.parseDurationNs('-1.5us')).toBe(-1500n)
    expect(t.parseDurationNs('0')).toBe(0n)
    expect(message(() => t.parseDurationNs('1'))).toContain('missing unit')
    expect(message(() => t.parseDurationNs('1x'))).toContain('invalid duration')
  })

  it('breaks instants down by zone', () => {
    expect(t.timeDate(1518177600000000000)).toEqual([2018, 2, 9])
    expect(t.timeClock([1518177600000000000, 'America/New_York'])).toEqual([7, 0, 0])
    expect(t.timeWeekday(1518177600000000000)).toBe('Friday')
    expect(message(() => t.timeDate([0, 'Mars/Olympus']))).toContain('unknown time zone')
  })

  it('adds dates with Go normalisation and range checks', () => {
    const oct31 = Number(t.parseNs('2006-01-02', '2021-10-31'))
    expect(t.timeFormat(t.timeAddDate(oct31, 0, 1, 0))).toBe('2021-12-01T00:00:00Z')
    expect(message(() => t.timeAddDate(0, 2262, 1, 1))).toBe(
      'time.add_date: time outside of valid range',
    )
  })

  it('diffs calendar fields, borrowing days from the earlier month', () => {
    const L = '2006-01-02'
    expect(t.timeDiff(t.parseNs(L, '2020-02-02'), t.parseNs(L, '2020-03-01'))).toEqual([
      0, 0, 28, 0, 0, 0,
    ])
    expect(t.timeDiff(t.parseNs(L, '2021-03-01'), t.parseNs(L, '2021-02-02'))).toEqual([
      0, 0, 27, 0, 0, 0,
    ])
    expect(t.timeDiff(t.parseNs(L, '2004-02-29'), t.parseNs(L, '2005-03-01'))).toEqual([
      1, 0, 1, 0, 0, 0,
    ])
    expect(t.timeDiff([61_000_000_000n, 'UTC'], [0n, 'Asia/Shanghai'])).toEqual([0, 0, 0, 0, 1, 1])
  })
})
