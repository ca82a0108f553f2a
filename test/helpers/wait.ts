/**
 * Test helper: wait for a condition with a deadline instead of sleeping, so a test is as fast
 * as the behaviour it waits for, and says what it waited for when it times out.
 *
 * @module
 */

/**
 * Calls `probe` every `intervalMs` until it returns something other than undefined (or false),
 * and resolves with that. Rejects after `timeoutMs`, naming `what` and the last probe error.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 15_000,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined && value !== false) return value
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`)
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}
