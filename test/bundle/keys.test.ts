import { execFileSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  BundleErrorCode,
  createSigningKey,
  createVerificationKey,
  loadSigningKey,
  loadVerificationKey,
} from '../../src/bundle/index.js'
import { createTestSigningKeys } from '../helpers/signing-keys.js'
import type { TestSigningKeys } from '../helpers/signing-keys.js'

const enc = (s: string) => new TextEncoder().encode(s)
const keyError = (message: RegExp) => expect.objectContaining({ code: BundleErrorCode.Key, message: expect.stringMatching(message) })

let rsa: TestSigningKeys
let ec: TestSigningKeys
let dir: string
beforeAll(async () => {
  rsa = createTestSigningKeys('RS256')
  ec = createTestSigningKeys('ES256')
  dir = await mkdtemp(join(tmpdir(), 'verdict-keys-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('createVerificationKey', () => {
  it('reads PEM public keys and takes the algorithm from the key type unless one is given', () => {
    expect(createVerificationKey(enc(rsa.publicPem))).toMatchObject({ kind: 'pem', algorithm: 'RS256' })
    expect(createVerificationKey(enc(rsa.publicPem), { algorithm: 'PS512' }).algorithm).toBe('PS512')
    expect(createVerificationKey(enc(ec.publicPem)).algorithm).toBe('ES256')
    expect(createVerificationKey(enc(createTestSigningKeys('ES384').publicPem)).algorithm).toBe('ES384')
    const pkcs1 = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'pkcs1', format: 'pem' }).toString()
    expect(createVerificationKey(enc(pkcs1)).algorithm).toBe('RS256')
  })

  it('reads the public key of an X.509 certificate', async () => {
    const key = join(dir, 'test-cert.key.pem')
    const cert = join(dir, 'test-cert.pem')
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key,
      '-out', cert, '-subj', '/CN=verdict test bundle signing', '-days', '1'], { stdio: 'ignore' })
    expect(createVerificationKey(await readFile(cert))).toMatchObject({ kind: 'pem', algorithm: 'ES256' })
  })

  it('refuses a key that does not fit the algorithm', () => {
    expect(() => createVerificationKey(enc(ec.publicPem), { algorithm: 'RS256' })).toThrow(keyError(/RS256 needs an RSA key, not ec/))
    expect(() => createVerificationKey(enc(ec.publicPem), { algorithm: 'ES384' })).toThrow(keyError(/ES384 needs an EC key on its own curve/))
    expect(() => createVerificationKey(enc(rsa.publicPem), { algorithm: 'ES256' })).toThrow(keyError(/ES256 needs an EC key/))
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
    expect(() => createVerificationKey(enc(small))).toThrow(keyError(/at least 2048 bits \(got 1024\)/))
    const ed = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString()
    expect(() => createVerificationKey(enc(ed))).toThrow(keyError(/ed25519 keys cannot verify bundles/))
  })

  it('refuses private keys: a sidecar needs only the public half', () => {
    expect(() => createVerificationKey(enc(rsa.privatePem))).toThrow(keyError(/this is a private key/))
    const jwks = { keys: [{ ...rsa.jwks.keys[0], d: 'AAAA' }] }
    expect(() => createVerificationKey(enc(JSON.stringify(jwks)))).toThrow(keyError(/secret or private key/))
  })

  it('refuses a public key or key set as an HMAC secret (algorithm confusion), and short secrets', () => {
    expect(() => createVerificationKey(enc(rsa.publicPem), { algorithm: 'HS256' })).toThrow(keyError(/HS256 takes a shared secret, but this is a PEM or JWK key/))
    expect(() => createVerificationKey(enc(JSON.stringify(rsa.jwks)), { algorithm: 'HS256' })).toThrow(keyError(/shared secret/))
    expect(() => createVerificationKey(enc('x'.repeat(31)), { algorithm: 'HS256' })).toThrow(keyError(/at least 32 bytes \(got 31\)/))
    expect(() => createVerificationKey(enc('x'.repeat(63)), { algorithm: 'HS512' })).toThrow(keyError(/at least 64 bytes/))
    expect(createVerificationKey(enc('x'.repeat(32)), { algorithm: 'HS256' })).toMatchObject({ kind: 'secret', algorithm: 'HS256' })
    // Without an HS* algorithm a secret is neither PEM nor JWKS.
    expect(() => createVerificationKey(enc('x'.repeat(32)))).toThrow(keyError(/not a PEM public key or a JWKS/))
  })

  it('reads a JWKS, keeping signature keys by kid and skipping keys for other uses or algorithms', () => {
    const es = ec.jwks.keys[0]!
    const jwks = { keys: [rsa.jwks.keys[0], es, { ...es, kid: 'enc', use: 'enc' }, { ...es, kid: 'ed', alg: 'EdDSA' }] }
    const key = createVerificationKey(enc(JSON.stringify(jwks)))
    expect(key).toMatchObject({ kind: 'jwks', algorithm: undefined })
    expect(key.keyIds).toEqual([ec.kid, rsa.kid].sort())
    expect(key.select(ec.kid).algorithm).toBe('ES256')
    expect(key.select(rsa.kid).algorithm).toBe('RS256')
    // A configured algorithm keeps only the keys for it.
    expect(createVerificationKey(enc(JSON.stringify(jwks)), { algorithm: 'ES256' }).keyIds).toEqual([ec.kid])
    const noAlg = { keys: [{ ...rsa.jwks.keys[0], alg: undefined }] }
    expect(createVerificationKey(enc(JSON.stringify(noAlg))).select(rsa.kid).algorithm).toBe('RS256')
  })

  it('refuses a JWKS without usable keys, without kids, with a kid twice or a key that is not one', () => {
    const k = rsa.jwks.keys[0]!
    expect(() => createVerificationKey(enc('{"keys": []}'))).toThrow(keyError(/has no signature key/))
    expect(() => createVerificationKey(enc('{"keys": {}}'))).toThrow(keyError(/keys member must be an array/))
    expect(() => createVerificationKey(enc(JSON.stringify(rsa.jwks)), { algorithm: 'ES256' })).toThrow(keyError(/no signature key for ES256/))
    expect(() => createVerificationKey(enc(JSON.stringify({ keys: [{ ...k, kid: undefined }] })))).toThrow(keyError(/has no kid/))
    expect(() => createVerificationKey(enc(JSON.stringify({ keys: [k, k] })))).toThrow(keyError(/is used twice/))
    expect(() => createVerificationKey(enc(JSON.stringify({ keys: [{ ...k, n: 'AQAB' }] })))).toThrow(keyError(/at least 2048 bits|not a usable public JWK/))
    expect(() => createVerificationKey(enc(JSON.stringify({ keys: [{ ...k, alg: 'ES256' }] })))).toThrow(keyError(/ES256 needs an EC key/))
    expect(() => createVerificationKey(enc(JSON.stringify({ keys: [7] })))).toThrow(keyError(/JWKS key 0 is not an object/))
  })

  it('refuses garbage and a broken PEM with a key error', () => {
    for (const text of ['', 'hello', '{"kty": "RSA"}', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n', '\u0000\u00ff']) {
      expect(() => createVerificationKey(enc(text)), text).toThrow(expect.objectContaining({ code: BundleErrorCode.Key }))
    }
  })
})

describe('createSigningKey', () => {
  it('reads PKCS#8, PKCS#1 and SEC1 PEM and private JWKs', () => {
    expect(createSigningKey(enc(rsa.privatePem)).algorithm).toBe('RS256')
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    expect(createSigningKey(enc(pair.privateKey.export({ type: 'sec1', format: 'pem' }).toString())).algorithm).toBe('ES256')
    const rsa1 = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
    expect(createSigningKey(enc(rsa1.export({ type: 'pkcs1', format: 'pem' }).toString()), { algorithm: 'PS256' }).algorithm).toBe('PS256')
    const jwk = { ...pair.privateKey.export({ format: 'jwk' }), alg: 'ES256' }
    expect(createSigningKey(enc(JSON.stringify(jwk))).algorithm).toBe('ES256')
  })

  it('refuses public keys, encrypted keys, keys that do not fit, and a key as HMAC secret', () => {
    expect(() => createSigningKey(enc(rsa.publicPem))).toThrow(keyError(/this is a public key/))
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const encrypted = privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'test' }).toString()
    expect(() => createSigningKey(enc(encrypted))).toThrow(keyError(/encrypted keys are not supported/))
    expect(() => createSigningKey(enc(rsa.privatePem), { algorithm: 'ES256' })).toThrow(keyError(/ES256 needs an EC key/))
    expect(() => createSigningKey(enc(rsa.privatePem), { algorithm: 'HS256' })).toThrow(keyError(/takes a shared secret/))
    expect(() => createSigningKey(enc(JSON.stringify(rsa.jwks.keys[0])))).toThrow(keyError(/no private part/))
    expect(() => createSigningKey(enc('just some text'))).toThrow(keyError(/an HMAC secret needs an HS256/))
  })

  it('uses an HMAC secret file byte for byte, newline included', async () => {
    const secret = createSigningKey(enc(`${'s'.repeat(40)}\n`), { algorithm: 'HS256' })
    expect(() => createSigningKey(enc(`${'s'.repeat(40)}\n`), { algorithm: 'HS512' })).toThrow(keyError(/at least 64 bytes \(got 41\)/))
    expect(secret.key.symmetricKeySize).toBe(41)
  })
})

describe('loadSigningKey and loadVerificationKey', () => {
  it('read key files and name the file they cannot read', async () => {
    const { writeTestKeyFiles } = await import('../helpers/signing-keys.js')
    const paths = await writeTestKeyFiles(dir, rsa)
    expect((await loadSigningKey(paths.key)).algorithm).toBe('RS256')
    expect((await loadVerificationKey(paths.jwks)).keyIds).toEqual([rsa.kid])
    await expect(loadVerificationKey(join(dir, 'nope.pem'))).rejects.toThrow(keyError(/cannot read verification key .*nope\.pem/))
    await expect(loadSigningKey(join(dir, 'nope.pem'))).rejects.toThrow(keyError(/cannot read signing key/))
  })
})
