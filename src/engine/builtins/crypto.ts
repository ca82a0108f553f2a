/**
 * Hash and HMAC builtins over the UTF-8 bytes of their string operands, hex encoded.
 *
 * @module
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { str } from './errors.js'

function hash(name: string, alg: string) {
  return (x: unknown): string =>
    createHash(alg)
      .update(str(name, 1, x), 'utf8')
      .digest('hex')
}

function hmac(name: string, alg: string) {
  return (x: unknown, key: unknown): string =>
    createHmac(alg, Buffer.from(str(name, 2, key), 'utf8'))
      .update(str(name, 1, x), 'utf8')
      .digest('hex')
}

/** `crypto.md5(x)`. */
export const md5 = hash('crypto.md5', 'md5')
/** `crypto.sha1(x)`. */
export const sha1 = hash('crypto.sha1', 'sha1')
/** `crypto.sha256(x)`. */
export const sha256 = hash('crypto.sha256', 'sha256')
/** `crypto.hmac.md5(x, key)`. */
export const hmacMd5 = hmac('crypto.hmac.md5', 'md5')
/** `crypto.hmac.sha1(x, key)`. */
export const hmacSha1 = hmac('crypto.hmac.sha1', 'sha1')
/** `crypto.hmac.sha256(x, key)`. */
export const hmacSha256 = hmac('crypto.hmac.sha256', 'sha256')
/** `crypto.hmac.sha512(x, key)`. */
export const hmacSha512 = hmac('crypto.hmac.sha512', 'sha512')

/** `crypto.hmac.equal(mac1, mac2)`: constant-time comparison. */
export function hmacEqual(a: unknown, b: unknown): boolean {
  const x = Buffer.from(str('crypto.hmac.equal', 1, a), 'utf8')
  const y = Buffer.from(str('crypto.hmac.equal', 2, b), 'utf8')
  return x.length === y.length && timingSafeEqual(x, y)
}
