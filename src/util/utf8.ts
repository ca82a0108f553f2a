/**
 * UTF-8 size checks that avoid counting bytes when the string's length already decides.
 *
 * @module
 */

/**
 * Whether `s` takes more than `max` bytes as UTF-8. A UTF-16 unit is 1 to 3 bytes (a surrogate
 * pair 4 for its 2 units), so only a string between `max / 3` and `max` units is counted.
 *
 * @example
 * utf8Exceeds('héllo', 5) // true: 6 bytes
 */
export function utf8Exceeds(s: string, max: number): boolean {
  if (s.length * 3 <= max) return false
  if (s.length > max) return true
  return Buffer.byteLength(s, 'utf8') > max
}
