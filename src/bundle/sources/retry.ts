/**
 * Timing for remote sources: jittered poll delays, exponential backoff after failures, and a
 * sleep that `stop()` can cut short.
 *
 * @module
 */

/**
 * The delay before the next poll: `intervalMs` moved at random by up to `jitter` of itself, so
 * sidecars started together do not poll together.
 *
 * @example
 * pollDelay(30_000, 0.2) // somewhere from 24000 to 36000
 */
export function pollDelay(intervalMs: number, jitter: number, random: () => number = Math.random): number {
  return Math.round(intervalMs * (1 - jitter + 2 * jitter * random()))
}

/**
 * The delay before retry number `failures` (1 after the first failure): `minMs` doubled per
 * failure in a row, capped at `maxMs`, then drawn at random from its upper half so that a fleet
 * that lost its server at once does not come back at once.
 *
 * @example
 * backoffDelay(3, 1000, 30_000) // from 2000 to 4000
 */
export function backoffDelay(failures: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(Math.max(failures - 1, 0), 30))
  return Math.round(ceiling / 2 + (ceiling / 2) * random())
}

/** A sleep that {@link Sleeper.wake} ends early (on stop, or for an immediate check). */
export class Sleeper {
  #wake: (() => void) | undefined

  /** Resolves after `ms`, or as soon as {@link Sleeper.wake} is called. */
  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms)
      timer.unref()
      const self = this
      function done(): void {
        clearTimeout(timer)
        if (self.#wake === done) self.#wake = undefined
        resolve()
      }
      this.#wake = done
    })
  }

  /** Ends the current sleep, if any. */
  wake(): void {
    this.#wake?.()
  }
}
