/**
 * Reads a download into memory with a size limit, stopping (and cancelling the stream) as soon
 * as the limit is passed, so an oversized or endless body costs at most the limit.
 *
 * @module
 */

import { BundleError, BundleErrorCode } from '../errors.js'

/**
 * Reads `stream` to its end. Throws `ERR_BUNDLE_TOO_LARGE` once more than `maxBytes` arrived,
 * and the abort reason of `signal` (a timeout, a stop) if it fires first.
 *
 * @example
 * const bytes = await readLimited(response.body, 64 << 20, AbortSignal.timeout(10_000))
 */
export async function readLimited(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const reader = stream.getReader()
  const onAbort = (): void => {
    reader.cancel(signal?.reason).catch(() => {})
  }
  signal?.addEventListener('abort', onAbort, { once: true })
  const chunks: Uint8Array[] = []
  let total = 0
  try {
    if (signal?.aborted) throw signal.reason
    for (;;) {
      const { done, value } = await reader.read()
      // A cancelled read ends like a finished one; the signal says which it was.
      if (signal?.aborted) throw signal.reason
      if (done) break
      total += value.byteLength
      if (total > maxBytes) {
        await reader.cancel().catch(() => {})
        throw new BundleError(BundleErrorCode.TooLarge, `the download exceeds the limit of ${maxBytes} bytes`)
      }
      chunks.push(value)
    }
  } finally {
    signal?.removeEventListener('abort', onAbort)
    reader.releaseLock()
  }
  const out = new Uint8Array(total)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.byteLength
  }
  return out
}
