/**
 * A fixed-size log-linear histogram of non-negative integers (latencies in microseconds), for
 * percentiles over any number of values in under a kilobyte: 0 to 15 are counted exactly, larger
 * values in 8 buckets per power of two, so a percentile is at most 12.5% above the true value.
 * Values from 2^32 up share the last bucket (and are reported as the largest value seen).
 *
 * @module
 */

/** Values below this have a bucket each. */
const EXACT = 16
/** Buckets per power of two from {@link EXACT} on (2^SUB_BITS). */
const SUB_BITS = 3
const SUB = 1 << SUB_BITS
/** 16 exact buckets, then 8 for each power of two from 2^4 to 2^31. */
const BUCKETS = EXACT + (32 - 4) * SUB

function bucketOf(value: number): number {
  if (value < EXACT) return value
  if (value >= 2 ** 32) return BUCKETS - 1
  const exp = 31 - Math.clz32(value)
  return EXACT + (exp - 4) * SUB + ((value >>> (exp - SUB_BITS)) & (SUB - 1))
}

/** The largest value that falls into bucket `index`. */
function upperBound(index: number): number {
  if (index < EXACT) return index
  const exp = 4 + Math.floor((index - EXACT) / SUB)
  const sub = (index - EXACT) % SUB
  const width = 2 ** (exp - SUB_BITS)
  return (SUB + sub) * width + width - 1
}

/**
 * Counts values in fixed buckets; {@link LatencyHistogram.quantile} estimates percentiles.
 *
 * @example
 * const h = new LatencyHistogram()
 * for (const us of [120, 180, 95, 4000]) h.record(us)
 * h.quantile(0.5) // 127 (120 lies in the bucket 120..127)
 */
export class LatencyHistogram {
  readonly #counts = new Uint32Array(BUCKETS)
  #count = 0
  #max = 0

  /** How many values were recorded. */
  get count(): number {
    return this.#count
  }

  /** The largest value recorded, exactly; 0 when there is none. */
  get max(): number {
    return this.#max
  }

  /** Records one value; fractions are truncated, negative values count as 0. */
  record(value: number): void {
    const v = value > 0 ? Math.trunc(value) : 0
    this.#counts[bucketOf(v)]!++
    this.#count++
    if (v > this.#max) this.#max = v
  }

  /** Adds every value of `other` to this histogram. */
  merge(other: LatencyHistogram): void {
    const from = other.#counts
    for (let i = 0; i < BUCKETS; i++) this.#counts[i]! += from[i]!
    this.#count += other.#count
    if (other.#max > this.#max) this.#max = other.#max
  }

  /**
   * The value at quantile `q` (0.5 for the median, 0.99 for p99): the upper bound of the bucket
   * holding the rank-⌈q·n⌉ value, never more than {@link max}. Undefined when empty.
   */
  quantile(q: number): number | undefined {
    if (!(q >= 0 && q <= 1)) throw new TypeError('q must be from 0 to 1')
    if (this.#count === 0) return undefined
    const rank = Math.max(1, Math.ceil(q * this.#count))
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i]!
      // The last bucket has no upper bound: values from 2^32 up share it.
      if (seen >= rank) return i === BUCKETS - 1 ? this.#max : Math.min(upperBound(i), this.#max)
    }
    return this.#max
  }
}
