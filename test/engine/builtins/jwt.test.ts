import { generateKeyPairSync, createHmac, sign } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  JWT_VERIFIERS,
  createJwtDecodeVerify,
  jwtDecode,
  jwtEncodeSign,
  jwtEncodeSignRaw,
} from '../../../src/engine/builtins/jwt.js'
import * as c from '../../../src/engine/builtins/crypto.js'

interface KeyPair {
  publicKey: KeyObject
  privateKey: KeyObject
}

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url')

function hs256(payload: object, secret: string, header: object = { alg: 'HS256' }): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

describe('jwt', () => {
  it('decodes without verifying and returns the signature as hex', () => {
    const [h, p, sig] = jwtDecode(
      'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJuZXciOiJJIGFtIGEgdXNlciBjcmVhdGVkIGZpZWxkIiwiaXNzIjoib3BhIn0.6UmjsclVDGD9jcmX_F8RJzVgHtUZuLu2pxkF_UEQCrE',
    )
    expect(h).toEqual({ alg: 'HS256', typ: 'JWT' })
    expect(p).toEqual({ new: 'I am a user created field', iss: 'opa' })
    expect(sig).toBe('e949a3b1c9550c60fd8dc997fc5f112735601ed519b8bbb6a71905fd41100ab1')
  })

  it('reports malformed tokens with OPA messages', () => {
    expect(() => jwtDecode('abc')).toThrow('encoded JWT had no period separators')
    expect(() => jwtDecode(`${b64({ alg: 'HS256', enc: 'x' })}.${b64({})}.x`)).toThrow(
      'JWT is a JWE object, which is not supported',
    )
    expect(() => jwtDecode('eyJhbGciOiJIU^%zI1NiI.e30.x')).toThrow(
      'JWT header had invalid encoding: illegal base64 data at input byte 13',
    )
  })

  it('verifies HMAC, RSA, PSS, ECDSA and EdDSA signatures', () => {
    const tok = hs256({ iss: 'x' }, 'secret')
    expect(JWT_VERIFIERS['io.jwt.verify_hs256']!(tok, 'secret')).toBe(true)
    expect(JWT_VERIFIERS['io.jwt.verify_hs256']!(tok, 'other')).toBe(false)

    const cases = [
      ['RS256', 'rsa', { modulusLength: 2048 }, (d: Buffer, k: never) => sign('sha256', d, k)],
      [
        'PS256',
        'rsa',
        { modulusLength: 2048 },
        (d: Buffer, k: never) => sign('sha256', d, { key: k, padding: 6, saltLength: 32 }),
      ],
      [
        'ES256',
        'ec',
        { namedCurve: 'P-256' },
        (d: Buffer, k: never) => sign('sha256', d, { key: k, dsaEncoding: 'ieee-p1363' }),
      ],
      ['EdDSA', 'ed25519', {}, (d: Buffer, k: never) => sign(null, d, k)],
    ] as const
    for (const [alg, type, opts, signer] of cases) {
      const { publicKey, privateKey } = generateKeyPairSync(
        type as 'rsa',
        opts as never,
      ) as unknown as KeyPair
      const input = `${b64({ alg })}.${b64({ sub: 'a' })}`
      const token = `${input}.${signer(Buffer.from(input), privateKey as never).toString('base64url')}`
      const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString()
      const jwk = JSON.stringify({ keys: [publicKey.export({ format: 'jwk' })] })
      const verify = JWT_VERIFIERS[`io.jwt.verify_${alg.toLowerCase()}`]!
      expect(verify(token, pem)).toBe(true)
      expect(verify(token, jwk)).toBe(true)
      expect(verify(token.slice(0, -4) + 'AAAA', pem)).toBe(false)
    }
  })

  it('checks constraints in decode_verify', () => {
    const now = (): bigint => 1_700_000_000_000_000_000n
    const dv = createJwtDecodeVerify(now)
    const tok = hs256({ iss: 'x', aud: ['a', 'b'], exp: 1_800_000_000, nbf: 1_600_000_000 }, 's')
    expect(dv(tok, { secret: 's', iss: 'x', aud: 'b' })[0]).toBe(true)
    expect(dv(tok, { secret: 's', iss: 'y', aud: 'b' })).toEqual([false, {}, {}])
    expect(dv(tok, { secret: 's' })[0]).toBe(false)
    expect(dv(tok, { secret: 's', aud: 'a', time: 1_900_000_000_000_000_000 })[0]).toBe(false)
    expect(dv(tok, { secret: 's', aud: 'a', alg: 'RS256' })[0]).toBe(false)
    expect(() => dv(tok, { secret: 's', foo: 1 })).toThrow(
      'unknown token validation constraint: foo',
    )
  })
})

describe('jwt signing', () => {
  it('signs tokens that the verifiers accept', () => {
    const secret = { kty: 'oct', k: Buffer.from('secret').toString('base64url') }
    const hs = jwtEncodeSign({ alg: 'HS256', typ: 'JWT' }, { sub: 'a' }, secret)
    expect(JWT_VERIFIERS['io.jwt.verify_hs256']!(hs, 'secret')).toBe(true)
    expect(jwtDecode(hs)[1]).toEqual({ sub: 'a' })

    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const es = jwtEncodeSignRaw(
      '{"alg":"ES256"}',
      '{"iss":"x"}',
      JSON.stringify(privateKey.export({ format: 'jwk' })),
    )
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString()
    expect(JWT_VERIFIERS['io.jwt.verify_es256']!(es, pem)).toBe(true)
    expect(() => jwtEncodeSign({ typ: 'JWT' }, {}, secret)).toThrow('must have an "alg"')
  })
})

describe('crypto', () => {
  it('hashes and MACs UTF-8 strings to hex', () => {
    expect(c.md5('abc')).toBe('900150983cd24fb0d6963f7d28e17f72')
    expect(c.sha1('abc')).toBe('a9993e364706816aba3e25717850c26c9cd0d89d')
    expect(c.sha256('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    expect(c.hmacSha256('data', 'key')).toBe(
      createHmac('sha256', 'key').update('data').digest('hex'),
    )
    expect(c.hmacEqual('aa', 'aa')).toBe(true)
    expect(c.hmacEqual('aa', 'ab')).toBe(false)
  })
})
