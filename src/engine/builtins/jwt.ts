/**
 * JWT builtins: `io.jwt.decode`, the `io.jwt.verify_*` family and `io.jwt.decode_verify`, with
 * node:crypto. Keys are PEM certificates, PEM public keys, or JWK / JWK Set JSON; HS* take the
 * secret itself.
 *
 * @module
 */
import {
  X509Certificate,
  createHmac,
  createPrivateKey,
  createPublicKey,
  sign as cryptoSign,
  timingSafeEqual,
  verify as cryptoVerify,
} from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { BuiltinError, builtinError, obj, str } from './errors.js'
import { decodeBase64 } from './encoding.js'

interface Decoded {
  header: Record<string, unknown>
  payload: Record<string, unknown>
  signature: Buffer
  signingInput: string
}

function b64(name: string, part: string, what: string): Buffer {
  try {
    return decodeBase64(part, 'url', part.length % 4 === 0 && part.endsWith('='))
  } catch (e) {
    throw builtinError(name, `JWT ${what} had invalid encoding: ${(e as Error).message}`)
  }
}

function json(name: string, buf: Buffer, what: string): Record<string, unknown> {
  let v: unknown
  try {
    v = JSON.parse(buf.toString('utf8'))
  } catch (e) {
    throw builtinError(name, `JWT ${what} had invalid encoding: ${(e as Error).message}`)
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw builtinError(name, `JWT ${what} must be a JSON object`)
  }
  return v as Record<string, unknown>
}

/** Splits and decodes a compact JWS; a `cty: JWT` token is unwrapped to its inner token. */
function decode(name: string, token: string): Decoded {
  if (!token.includes('.')) throw builtinError(name, 'encoded JWT had no period separators')
  const parts = token.split('.')
  if (parts.length !== 3)
    throw builtinError(name, `encoded JWT must have 3 sections, found ${parts.length}`)
  const header = json(name, b64(name, parts[0]!, 'header'), 'header')
  if ('enc' in header) throw builtinError(name, 'JWT is a JWE object, which is not supported')
  const payloadBytes = b64(name, parts[1]!, 'payload')
  const signature = b64(name, parts[2]!, 'signature')
  const signingInput = `${parts[0]}.${parts[1]}`
  if (typeof header.cty === 'string' && header.cty.toUpperCase() === 'JWT') {
    // The inner token may be carried as a JSON string.
    let inner = payloadBytes.toString('utf8')
    if (inner.startsWith('"')) {
      try {
        inner = JSON.parse(inner) as string
      } catch {
        throw builtinError(
          name,
          'JWT payload had invalid encoding: nested token is not a JSON string',
        )
      }
    }
    return decode(name, inner)
  }
  return { header, payload: json(name, payloadBytes, 'payload'), signature, signingInput }
}

/** `io.jwt.decode(jwt)`: `[header, payload, signature as hex]`, without verification. */
export function jwtDecode(
  jwt: unknown,
): [Record<string, unknown>, Record<string, unknown>, string] {
  const d = decode('io.jwt.decode', str('io.jwt.decode', 1, jwt))
  return [d.header, d.payload, d.signature.toString('hex')]
}

function publicKeys(name: string, material: string): KeyObject[] {
  const s = material.trim()
  try {
    if (s.startsWith('{')) {
      const j = JSON.parse(s) as { keys?: unknown[] }
      const jwks = Array.isArray(j.keys) ? j.keys : [j]
      // A key set may hold keys this algorithm cannot use (e.g. "oct"); skip those.
      const keys: KeyObject[] = []
      for (const k of jwks) {
        try {
          keys.push(createPublicKey({ key: k as never, format: 'jwk' }))
        } catch {
          // not a public key
        }
      }
      if (keys.length === 0) throw new Error('no usable public key in the JWK set')
      return keys
    }
    const blocks = s.match(/-----BEGIN [^-]+-----[\s\S]+?-----END [^-]+-----/g) ?? []
    if (blocks.length === 0) throw new Error('failed to extract a Key from the PEM certificate')
    return blocks.map((b) =>
      b.includes('CERTIFICATE') ? new X509Certificate(b).publicKey : createPublicKey(b),
    )
  } catch (e) {
    throw builtinError(name, (e as Error).message)
  }
}

const HASH: Record<string, string> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' }

/** Checks a signature for algorithm `alg` against key material (PEM/JWK or HMAC secret). */
function checkSignature(name: string, alg: string, d: Decoded, material: string): boolean {
  const family = alg.slice(0, 2)
  const hash = HASH[alg.slice(2)]
  const data = Buffer.from(d.signingInput, 'utf8')
  if (family === 'HS' && hash) {
    const mac = createHmac(hash, Buffer.from(material, 'utf8')).update(data).digest()
    return mac.length === d.signature.length && timingSafeEqual(mac, d.signature)
  }
  const keys = publicKeys(name, material)
  return keys.some((key) => {
    try {
      if (alg === 'EdDSA') return cryptoVerify(null, data, key, d.signature)
      if (!hash) return false
      if (family === 'RS') return cryptoVerify(hash, data, key, d.signature)
      if (family === 'PS') {
        return cryptoVerify(
          hash,
          data,
          { key, padding: 6, saltLength: Number(alg.slice(2)) / 8 },
          d.signature,
        )
      }
      if (family === 'ES')
        return cryptoVerify(hash, data, { key, dsaEncoding: 'ieee-p1363' }, d.signature)
      return false
    } catch {
      return false
    }
  })
}

function verifier(alg: string) {
  const name = `io.jwt.verify_${alg.toLowerCase()}`
  return (jwt: unknown, key: unknown): boolean => {
    const token = str(name, 1, jwt)
    const material = str(name, 2, key)
    let d: Decoded
    try {
      d = decode(name, token)
    } catch (e) {
      if (e instanceof BuiltinError) throw e
      return false
    }
    return checkSignature(name, alg, d, material)
  }
}

/** `io.jwt.verify_<alg>(jwt, certificate_or_secret)` for every supported algorithm. */
export const JWT_VERIFIERS: Readonly<Record<string, (jwt: unknown, key: unknown) => boolean>> =
  Object.fromEntries(
    [
      'RS256',
      'RS384',
      'RS512',
      'PS256',
      'PS384',
      'PS512',
      'ES256',
      'ES384',
      'ES512',
      'HS256',
      'HS384',
      'HS512',
      'EdDSA',
    ].map((alg) => [`io.jwt.verify_${alg.toLowerCase()}`, verifier(alg)]),
  )

const CONSTRAINTS = new Set(['cert', 'secret', 'alg', 'iss', 'aud', 'time'])

/**
 * `io.jwt.decode_verify(jwt, constraints)`: `[valid, header, payload]`, or
 * `[false, {}, {}]` when the signature, algorithm, issuer, audience or time window fails.
 */
export function createJwtDecodeVerify(now: () => bigint) {
  const name = 'io.jwt.decode_verify'
  return (
    jwt: unknown,
    constraints: unknown,
  ): [boolean, Record<string, unknown>, Record<string, unknown>] => {
    const token = str(name, 1, jwt)
    const c = obj(name, 2, constraints)
    for (const k of Object.keys(c)) {
      if (!CONSTRAINTS.has(k)) throw builtinError(name, `unknown token validation constraint: ${k}`)
    }
    const invalid: [boolean, Record<string, unknown>, Record<string, unknown>] = [false, {}, {}]
    if (typeof c.cert !== 'string' && typeof c.secret !== 'string') {
      throw builtinError(
        name,
        'no key material provided: constraints must contain "cert" or "secret"',
      )
    }
    let d: Decoded
    try {
      d = decode(name, token)
    } catch {
      return invalid
    }
    const alg = d.header.alg
    if (typeof alg !== 'string') return invalid
    if (typeof c.alg === 'string' && c.alg !== alg) return invalid
    const material = alg.startsWith('HS') ? c.secret : c.cert
    if (typeof material !== 'string') return invalid
    if (!checkSignature(name, alg, d, material)) return invalid
    const p = d.payload
    const t = typeof c.time === 'number' ? c.time / 1e9 : Number(now()) / 1e9
    if (typeof p.exp === 'number' && t >= p.exp) return invalid
    if (typeof p.nbf === 'number' && t < p.nbf) return invalid
    if (typeof c.iss === 'string' && p.iss !== c.iss) return invalid
    if (p.aud !== undefined) {
      if (typeof c.aud !== 'string') return invalid
      const auds = Array.isArray(p.aud) ? p.aud : [p.aud]
      if (!auds.includes(c.aud)) return invalid
    } else if (typeof c.aud === 'string') return invalid
    return [true, d.header, p]
  }
}

function signingKey(name: string, jwk: Record<string, unknown>, alg: string) {
  if (alg.startsWith('HS')) {
    if (typeof jwk.k !== 'string') throw builtinError(name, 'HMAC signing needs an "oct" JWK')
    return Buffer.from(jwk.k, 'base64url')
  }
  try {
    return createPrivateKey({ key: jwk as never, format: 'jwk' })
  } catch (e) {
    throw builtinError(name, `invalid signing key: ${(e as Error).message}`)
  }
}

function signCompact(name: string, header: string, payload: string, jwk: unknown): string {
  let h: Record<string, unknown>
  try {
    h = JSON.parse(header) as Record<string, unknown>
  } catch (e) {
    throw builtinError(name, `invalid JOSE header: ${(e as Error).message}`)
  }
  const alg = h.alg
  if (typeof alg !== 'string') throw builtinError(name, 'JOSE header must have an "alg"')
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) {
    throw builtinError(name, 'key must be a JWK object')
  }
  const input = `${Buffer.from(header).toString('base64url')}.${Buffer.from(payload).toString('base64url')}`
  const data = Buffer.from(input, 'utf8')
  const key = signingKey(name, jwk as Record<string, unknown>, alg)
  const hash = HASH[alg.slice(2)]
  let sig: Buffer
  if (Buffer.isBuffer(key)) {
    if (!hash) throw builtinError(name, `unsupported algorithm ${alg}`)
    sig = createHmac(hash, key).update(data).digest()
  } else if (alg === 'EdDSA') sig = cryptoSign(null, data, key)
  else if (!hash) throw builtinError(name, `unsupported algorithm ${alg}`)
  else if (alg.startsWith('RS')) sig = cryptoSign(hash, data, key)
  else if (alg.startsWith('PS')) {
    sig = cryptoSign(hash, data, { key, padding: 6, saltLength: Number(alg.slice(2)) / 8 })
  } else if (alg.startsWith('ES')) sig = cryptoSign(hash, data, { key, dsaEncoding: 'ieee-p1363' })
  else throw builtinError(name, `unsupported algorithm ${alg}`)
  return `${input}.${sig.toString('base64url')}`
}

/** `io.jwt.encode_sign(headers, payload, key)`: a compact JWS; the key is a JWK object. */
export function jwtEncodeSign(headers: unknown, payload: unknown, key: unknown): string {
  const name = 'io.jwt.encode_sign'
  const h = obj(name, 1, headers)
  const p = obj(name, 2, payload)
  return signCompact(name, JSON.stringify(h), JSON.stringify(p), obj(name, 3, key))
}

/** `io.jwt.encode_sign_raw(headers, payload, key)`: the same with all three as JSON text. */
export function jwtEncodeSignRaw(headers: unknown, payload: unknown, key: unknown): string {
  const name = 'io.jwt.encode_sign_raw'
  let k: unknown
  try {
    k = JSON.parse(str(name, 3, key))
  } catch (e) {
    throw builtinError(name, `invalid JWK: ${(e as Error).message}`)
  }
  return signCompact(name, str(name, 1, headers), str(name, 2, payload), k)
}
