import { createHash, createHmac, sign as cryptoSign } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { decodeProtectedHeader } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  BundleError,
  BundleErrorCode,
  createSigningKey,
  createVerificationKey,
  hashBundleFile,
  isStructuredFile,
  loadBundle,
  loadBundleArchive,
  readBundleArchive,
  SIGNATURES_FILE,
  signBundleFiles,
  verifyBundleFiles,
  writeBundle,
  writeBundleArchive,
} from '../../src/bundle/index.js'
import type { BundleFile, SignBundleOptions, VerifyBundleOptions } from '../../src/bundle/index.js'
import { writeTar } from '../../src/bundle/tar.js'
import { createTestSigningKeys } from '../helpers/signing-keys.js'
import type { TestSigningKeys } from '../helpers/signing-keys.js'

const enc = (s: string) => new TextEncoder().encode(s)
const sha256 = (s: string | Uint8Array) => createHash('sha256').update(s).digest('hex')

const manifest = '{"revision":"r1","roots":["trades"],"wasm":[{"entrypoint":"trades/decision","module":"/policy.wasm"}]}'
const wasm = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])
const bundleFiles: BundleFile[] = [
  { name: '.manifest', data: manifest },
  { name: '/policy.wasm', data: wasm },
  { name: 'data.json', data: '{"trades": {"limit": 1.50, "desk": "<NY>"}}' },
  { name: 'trades/trades.rego', data: 'package trades\n\ndecision := true\n' },
]

/** The files as a loaded bundle has them: normalised names to bytes. */
function fileMap(files: BundleFile[], extra: Record<string, string | Uint8Array> = {}): Map<string, Uint8Array> {
  const map = new Map<string, Uint8Array>()
  for (const f of files) map.set(f.name.replace(/^\/+/, ''), typeof f.data === 'string' ? enc(f.data) : f.data)
  for (const [k, v] of Object.entries(extra)) map.set(k, typeof v === 'string' ? enc(v) : v)
  return map
}

/** A `files` list as a signer would write it for `map`. */
function listing(map: Map<string, Uint8Array>): { name: string; hash: string; algorithm: string }[] {
  return [...map]
    .filter(([name]) => name !== SIGNATURES_FILE)
    .map(([name, data]) => ({ name, hash: hashBundleFile(name, data), algorithm: 'SHA-256' }))
}

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')

/** A compact JWS built by hand, so tests can sign what a well-behaved signer never would. */
function rawJws(header: unknown, payload: unknown, signer: (input: string) => Buffer | string): string {
  const input = `${b64(header)}.${b64(payload)}`
  const sig = signer(input)
  return `${input}.${typeof sig === 'string' ? sig : sig.toString('base64url')}`
}
const rs256 = (pem: string) => (input: string) => cryptoSign('sha256', Buffer.from(input), pem)
const hs256 = (secret: string | Buffer) => (input: string) => createHmac('sha256', secret).update(input).digest()
const sigFile = (jws: unknown) => JSON.stringify({ signatures: [jws] })

async function rejection(promise: Promise<unknown>): Promise<BundleError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err, 'expected a rejection').toBeInstanceOf(BundleError)
  return err as BundleError
}

let rsa: TestSigningKeys
let ec: TestSigningKeys
let other: TestSigningKeys
let hmac: TestSigningKeys
let dir: string
beforeAll(async () => {
  rsa = createTestSigningKeys('RS256')
  ec = createTestSigningKeys('ES256')
  other = createTestSigningKeys('RS256', 'test-other')
  hmac = createTestSigningKeys('HS256')
  dir = await mkdtemp(join(tmpdir(), 'verdict-signing-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const rsaVerify = (o: Partial<VerifyBundleOptions> = {}): VerifyBundleOptions => ({
  key: createVerificationKey(enc(rsa.publicPem)),
  ...o,
})
const rsaSign = (o: Partial<SignBundleOptions> = {}): SignBundleOptions => ({ key: createSigningKey(enc(rsa.privatePem)), ...o })

/** The bundle's files plus a `.signatures.json` holding `jws`. */
const withJws = (jws: string, extra: Record<string, string | Uint8Array> = {}) =>
  fileMap(bundleFiles, { [SIGNATURES_FILE]: sigFile(jws), ...extra })

describe('hashBundleFile', () => {
  it('hashes data.json, data.yaml and .manifest in canonical form and other files as raw bytes', () => {
    expect(['data.json', 'a/b/data.json', '.manifest', 'x/data.yaml'].every(isStructuredFile)).toBe(true)
    expect(['data.yml', 'foo.json', 'policy.wasm', 'a.rego', 'xdata.json', '.manifest/x'].some(isStructuredFile)).toBe(false)
    const json = enc('{ "b": [1.0, "<&>"],\n  "a": {"y": 2, "x": 1} }')
    const canonical = '{"a":{"x":1,"y":2},"b":[1.0,"<&>"]}'
    expect(hashBundleFile('data.json', json)).toBe(sha256(canonical))
    expect(hashBundleFile('roles/data.json', json)).toBe(sha256(canonical))
    expect(hashBundleFile('.manifest', json)).toBe(sha256(canonical))
    expect(hashBundleFile('foo.json', json)).toBe(sha256(json))
    expect(hashBundleFile('data.yml', json)).toBe(sha256(json))
    // A UTF-8 BOM is dropped before parsing, as OPA does; YAML is hashed from its JSON form.
    expect(hashBundleFile('data.json', new Uint8Array([0xef, 0xbb, 0xbf, ...json]))).toBe(sha256(canonical))
    expect(hashBundleFile('data.yaml', enc('b: [1.0, "<&>"]\na: {y: 2, x: 1}\n'))).toBe(sha256('{"a":{"x":1,"y":2},"b":[1,"<&>"]}'))
    expect(hashBundleFile('data.json', enc('{"a":1}'), 'SHA-512')).toBe(createHash('sha512').update('{"a":1}').digest('hex'))
  })

  it('rejects a structured file that does not parse', () => {
    expect(() => hashBundleFile('data.json', enc('{"a": [1,'))).toThrow(
      expect.objectContaining({ code: BundleErrorCode.Corrupt, message: expect.stringMatching(/^data\.json is not valid JSON/) }),
    )
  })
})

describe('signBundleFiles and verifyBundleFiles', () => {
  for (const alg of ['RS256', 'ES256', 'HS256', 'PS256', 'ES384'] as const) {
    it(`round-trips a ${alg} signature`, async () => {
      const keys = alg === 'RS256' ? rsa : alg === 'ES256' ? ec : alg === 'HS256' ? hmac : createTestSigningKeys(alg)
      const opts = alg.startsWith('HS') || alg === 'PS256' ? { algorithm: alg } : {}
      const signingKey = createSigningKey(enc(keys.privatePem), opts)
      expect(signingKey.algorithm).toBe(alg)
      const text = await signBundleFiles(bundleFiles, { key: signingKey, keyId: 'k1', scope: 'trades', issuer: 'sec-team', issuedAt: 1_700_000_000 })
      const files = fileMap(bundleFiles, { [SIGNATURES_FILE]: text })
      const key = createVerificationKey(enc(keys.publicPem), opts)
      const sig = await verifyBundleFiles(files, { key, scope: 'trades' })
      expect(sig).toMatchObject({ algorithm: alg, keyId: 'k1', scope: 'trades', issuer: 'sec-team', issuedAt: 1_700_000_000 })
      expect(sig.files.map((f) => f.name)).toEqual(['.manifest', 'data.json', 'policy.wasm', 'trades/trades.rego'])

      // The shape OPA reads: one compact JWS; kid in the header; files, keyid, scope, iat, iss claims.
      const doc = JSON.parse(text) as { signatures: string[] }
      expect(doc.signatures).toHaveLength(1)
      expect(decodeProtectedHeader(doc.signatures[0]!)).toEqual({ alg, typ: 'JWT', kid: 'k1' })
      const payload = JSON.parse(Buffer.from(doc.signatures[0]!.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>
      expect(payload).toEqual({
        files: listing(fileMap(bundleFiles)).sort((a, b) => (a.name < b.name ? -1 : 1)),
        keyid: 'k1',
        scope: 'trades',
        iat: 1_700_000_000,
        iss: 'sec-team',
      })
      expect(payload.files).toContainEqual({
        name: 'data.json',
        hash: sha256('{"trades":{"desk":"<NY>","limit":1.50}}'),
        algorithm: 'SHA-256',
      })
    })
  }

  it('verifies a JSON file whatever its whitespace and key order, but not a changed byte elsewhere', async () => {
    const text = await signBundleFiles(bundleFiles, rsaSign())
    const reformatted = fileMap(bundleFiles, {
      [SIGNATURES_FILE]: text,
      'data.json': '{\n  "trades": {\n    "desk": "<NY>",\n    "limit": 1.50\n  }\n}\n',
    })
    await expect(verifyBundleFiles(reformatted, rsaVerify())).resolves.toMatchObject({ algorithm: 'RS256' })
    const renumbered = fileMap(bundleFiles, { [SIGNATURES_FILE]: text, 'data.json': '{"trades": {"limit": 1.5, "desk": "<NY>"}}' })
    expect((await rejection(verifyBundleFiles(renumbered, rsaVerify()))).code).toBe(BundleErrorCode.FileDigest)
    const rego = fileMap(bundleFiles, { [SIGNATURES_FILE]: text, 'trades/trades.rego': 'package trades\n\ndecision := true \n' })
    const err = await rejection(verifyBundleFiles(rego, rsaVerify()))
    expect(err).toMatchObject({ code: BundleErrorCode.FileDigest, message: expect.stringMatching(/^trades\/trades\.rego: digest mismatch/) })
  })

  it('replaces an old signature when signing again and leaves iat out on request', async () => {
    const first = await signBundleFiles(bundleFiles, rsaSign({ scope: 'old' }))
    const again = await signBundleFiles([...bundleFiles, { name: SIGNATURES_FILE, data: first }], rsaSign({ issuedAt: null }))
    const payload = JSON.parse(Buffer.from((JSON.parse(again) as { signatures: string[] }).signatures[0]!.split('.')[1]!, 'base64url').toString())
    expect(payload.files.map((f: { name: string }) => f.name)).not.toContain(SIGNATURES_FILE)
    expect(payload).not.toHaveProperty('iat')
    expect(payload).not.toHaveProperty('scope')
    await expect(verifyBundleFiles(fileMap(bundleFiles, { [SIGNATURES_FILE]: again }), rsaVerify())).resolves.toBeDefined()
  })

  it('loads a signed archive and directory with verification, and rejects them unsigned', async () => {
    const text = await signBundleFiles(bundleFiles, rsaSign())
    const archive = join(dir, 'signed.tar.gz')
    await writeBundle(archive, [{ name: SIGNATURES_FILE, data: text }, ...bundleFiles])
    const bundle = await loadBundle(archive, { verification: rsaVerify() })
    expect(bundle.manifest.revision).toBe('r1')
    expect(bundle.signature).toMatchObject({ algorithm: 'RS256' })
    expect(bundle.data).toEqual({ trades: { limit: 1.5, desk: '<NY>' } })

    const tree = join(dir, 'tree')
    await mkdir(join(tree, 'trades'), { recursive: true })
    for (const f of [{ name: SIGNATURES_FILE, data: text }, ...bundleFiles]) await writeFile(join(tree, f.name), f.data)
    expect((await loadBundle(tree, { verification: rsaVerify() })).signature?.files).toHaveLength(4)

    const unsigned = writeBundleArchive(bundleFiles)
    expect((await rejection(loadBundleArchive(unsigned, { verification: rsaVerify() }))).code).toBe(BundleErrorCode.SignatureMissing)
    // Without verification a signed bundle loads like any other.
    expect((await loadBundle(archive)).signature).toBeUndefined()
    expect(() => readBundleArchive(unsigned, { verification: rsaVerify() } as never)).toThrow(TypeError)
  })
})

describe('verifyBundleFiles rejects', () => {
  it('a bundle without .signatures.json', async () => {
    const err = await rejection(verifyBundleFiles(fileMap(bundleFiles), rsaVerify()))
    expect(err).toMatchObject({ code: BundleErrorCode.SignatureMissing, message: expect.stringMatching(/missing \.signatures\.json/) })
  })

  it('a .signatures.json that is not one JWS in OPA’s shape', async () => {
    const good = JSON.parse(await signBundleFiles(bundleFiles, rsaSign())).signatures[0] as string
    const cases: [string, RegExp][] = [
      ['{"signatures": [', /not JSON/],
      ['[]', /must hold an object/],
      ['{}', /exactly one JWS/],
      ['{"signatures": []}', /exactly one JWS/],
      [JSON.stringify({ signatures: [good, good] }), /exactly one JWS/],
      ['{"signatures": [42]}', /exactly one JWS/],
      [JSON.stringify({ signatures: [good], plugin: 'custom' }), /plugin "custom"/],
      [sigFile('a.b'), /not a compact JWS/],
      [sigFile('a.b.c.d'), /not a compact JWS/],
      [sigFile(`${good.split('.')[0]}.%%%.${good.split('.')[2]}`), /payload is not base64url/],
      [sigFile(`${b64('{"alg":')}.${good.split('.')[1]}.x`), /header is not JSON/],
      [sigFile(`${b64('[1]')}.${good.split('.')[1]}.x`), /header is not a JSON object/],
      [sigFile(`${b64({ typ: 'JWT' })}.${good.split('.')[1]}.x`), /no alg/],
    ]
    for (const [text, message] of cases) {
      const err = await rejection(verifyBundleFiles(fileMap(bundleFiles, { [SIGNATURES_FILE]: text }), rsaVerify()))
      expect(err.code, text).toBe(BundleErrorCode.SignatureMalformed)
      expect(err.message, text).toMatch(message)
    }
  })

  it('an oversized .signatures.json before parsing it', async () => {
    const huge = sigFile('x'.repeat(2 * 1024 * 1024))
    const err = await rejection(verifyBundleFiles(fileMap(bundleFiles, { [SIGNATURES_FILE]: huge }), rsaVerify()))
    expect(err.code).toBe(BundleErrorCode.TooLarge)
    const small = await signBundleFiles(bundleFiles, rsaSign())
    const files = fileMap(bundleFiles, { [SIGNATURES_FILE]: small })
    expect((await rejection(verifyBundleFiles(files, rsaVerify({ maxSignaturesBytes: 100 })))).code).toBe(BundleErrorCode.TooLarge)
  })

  it('alg none, another algorithm, and HS256 signed with the public key (algorithm confusion)', async () => {
    const payload = { files: listing(fileMap(bundleFiles)) }
    const none = rawJws({ alg: 'none' }, payload, () => '')
    const confused = rawJws({ alg: 'HS256', typ: 'JWT' }, payload, hs256(rsa.publicPem))
    const rs384 = rawJws({ alg: 'RS384' }, payload, (input) => cryptoSign('sha384', Buffer.from(input), rsa.privatePem))
    for (const jws of [none, confused, rs384]) {
      const err = await rejection(verifyBundleFiles(withJws(jws), rsaVerify()))
      expect(err.code).toBe(BundleErrorCode.SignatureAlgorithm)
      expect(err.message).toMatch(/is not allowed \(the key is for RS256\)/)
    }
    // Against an HMAC key, an RS256 signature is just as wrong.
    const hmacKey = createVerificationKey(enc(hmac.publicPem), { algorithm: 'HS256' })
    const rsSigned = rawJws({ alg: 'RS256' }, payload, rs256(rsa.privatePem))
    expect((await rejection(verifyBundleFiles(withJws(rsSigned), { key: hmacKey }))).code).toBe(BundleErrorCode.SignatureAlgorithm)
  })

  it('a signature by another key, or with its signature or payload changed', async () => {
    const payload = { files: listing(fileMap(bundleFiles)) }
    const byOther = rawJws({ alg: 'RS256' }, payload, rs256(other.privatePem))
    const good = rawJws({ alg: 'RS256' }, payload, rs256(rsa.privatePem))
    const [h, p, s] = good.split('.') as [string, string, string]
    const flipped = `${h}.${p}.${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`
    const otherPayload = `${h}.${b64({ files: [] })}.${s}`
    for (const jws of [byOther, flipped, otherPayload]) {
      const err = await rejection(verifyBundleFiles(withJws(jws), rsaVerify()))
      expect(err).toMatchObject({ code: BundleErrorCode.SignatureInvalid, message: 'bundle signature does not verify with the configured key' })
    }
    const wrongSecret = rawJws({ alg: 'HS256' }, payload, hs256('x'.repeat(32)))
    const hmacKey = createVerificationKey(enc(hmac.publicPem), { algorithm: 'HS256' })
    expect((await rejection(verifyBundleFiles(withJws(wrongSecret), { key: hmacKey }))).code).toBe(BundleErrorCode.SignatureInvalid)
    await expect(verifyBundleFiles(withJws(rawJws({ alg: 'HS256' }, payload, hs256(hmac.privatePem))), { key: hmacKey })).resolves.toBeDefined()
  })

  it('critical header extensions and unencoded payloads', async () => {
    const payload = { files: listing(fileMap(bundleFiles)) }
    for (const header of [{ alg: 'RS256', crit: ['exp'], exp: 1 }, { alg: 'RS256', b64: true }]) {
      const err = await rejection(verifyBundleFiles(withJws(rawJws(header, payload, rs256(rsa.privatePem))), rsaVerify()))
      expect(err).toMatchObject({ code: BundleErrorCode.SignatureMalformed, message: expect.stringMatching(/crit and b64/) })
    }
  })

  it('a scope other than the configured one, an absent one matching only an absent one', async () => {
    const signed = async (scope?: string) =>
      fileMap(bundleFiles, { [SIGNATURES_FILE]: await signBundleFiles(bundleFiles, rsaSign(scope === undefined ? {} : { scope })) })
    const cases: [string | undefined, string | undefined][] = [['prod', 'trades'], [undefined, 'trades'], ['trades', undefined]]
    for (const [signedScope, configured] of cases) {
      const err = await rejection(verifyBundleFiles(await signed(signedScope), rsaVerify(configured === undefined ? {} : { scope: configured })))
      expect(err).toMatchObject({ code: BundleErrorCode.SignatureScope, message: expect.stringMatching(/^scope mismatch/) })
    }
    await expect(verifyBundleFiles(await signed('trades'), rsaVerify({ scope: 'trades' }))).resolves.toMatchObject({ scope: 'trades' })
    await expect(verifyBundleFiles(await signed(), rsaVerify())).resolves.not.toHaveProperty('scope')
  })

  it('a key id that is empty or names no key of a JWKS, and picks keys by configured id, kid, then keyid', async () => {
    const jwks = createVerificationKey(enc(JSON.stringify({ keys: [...rsa.jwks.keys, ...other.jwks.keys] })))
    expect(jwks.keyIds).toEqual([other.kid, rsa.kid].sort())
    const payload = { files: listing(fileMap(bundleFiles)) }
    const noKid = rawJws({ alg: 'RS256' }, payload, rs256(rsa.privatePem))
    let err = await rejection(verifyBundleFiles(withJws(noKid), { key: jwks }))
    expect(err).toMatchObject({ code: BundleErrorCode.SignatureKeyId, message: expect.stringMatching(/verification key ID is empty/) })
    const unknown = rawJws({ alg: 'RS256', kid: 'nope' }, payload, rs256(rsa.privatePem))
    err = await rejection(verifyBundleFiles(withJws(unknown), { key: jwks }))
    expect(err).toMatchObject({ code: BundleErrorCode.SignatureKeyId, message: expect.stringMatching(/no verification key with id "nope"/) })

    // Header kid, then the deprecated keyid claim, select the key.
    const byKid = rawJws({ alg: 'RS256', kid: rsa.kid }, payload, rs256(rsa.privatePem))
    await expect(verifyBundleFiles(withJws(byKid), { key: jwks })).resolves.toMatchObject({ keyId: rsa.kid })
    const byClaim = rawJws({ alg: 'RS256' }, { ...payload, keyid: other.kid }, rs256(other.privatePem))
    await expect(verifyBundleFiles(withJws(byClaim), { key: jwks })).resolves.toMatchObject({ keyId: other.kid })
    // A configured key id wins over the kid a bundle claims: here it picks the wrong key.
    err = await rejection(verifyBundleFiles(withJws(byKid), { key: jwks, keyId: other.kid }))
    expect(err.code).toBe(BundleErrorCode.SignatureInvalid)
    const wrongType = rawJws({ alg: 'RS256', kid: 7 }, payload, rs256(rsa.privatePem))
    expect((await rejection(verifyBundleFiles(withJws(wrongType), { key: jwks }))).code).toBe(BundleErrorCode.SignatureMalformed)
  })

  it('files missing from the signature, changed, or listed but absent', async () => {
    const text = await signBundleFiles(bundleFiles, rsaSign())
    let err = await rejection(verifyBundleFiles(fileMap(bundleFiles, { [SIGNATURES_FILE]: text, 'extra/data.json': '{}' }), rsaVerify()))
    expect(err).toMatchObject({ code: BundleErrorCode.FileUnsigned, message: 'file extra/data.json not included in bundle signature' })
    // A nested .signatures.json is an ordinary file and must be signed too.
    err = await rejection(verifyBundleFiles(fileMap(bundleFiles, { [SIGNATURES_FILE]: text, 'x/.signatures.json': text }), rsaVerify()))
    expect(err.code).toBe(BundleErrorCode.FileUnsigned)
    err = await rejection(verifyBundleFiles(fileMap(bundleFiles, { [SIGNATURES_FILE]: text, 'policy.wasm': new Uint8Array([0, 97, 115, 109, 1, 0, 0, 1]) }), rsaVerify()))
    expect(err).toMatchObject({ code: BundleErrorCode.FileDigest, message: expect.stringMatching(/^policy\.wasm: digest mismatch \(want [0-9a-f]{64}, got [0-9a-f]{64}\)$/) })
    const fewer = fileMap(bundleFiles, { [SIGNATURES_FILE]: text })
    fewer.delete('trades/trades.rego')
    err = await rejection(verifyBundleFiles(fewer, rsaVerify()))
    expect(err).toMatchObject({ code: BundleErrorCode.FileNotFound, message: 'file trades/trades.rego specified in bundle signature but not found in the bundle' })
  })

  it('file lists with duplicates, path tricks, weak or unknown digests, or the wrong shape', async () => {
    const files = listing(fileMap(bundleFiles))
    const data = files.find((f) => f.name === 'data.json')!
    const cases: [unknown, string, RegExp][] = [
      [{ files: [...files, data] }, BundleErrorCode.SignatureMalformed, /data\.json is listed twice/],
      [{ files: [...files, { ...data, name: '/data.json' }] }, BundleErrorCode.PathTraversal, /"\/data\.json" is not a plain bundle path/],
      [{ files: [...files, { ...data, name: './data.json' }] }, BundleErrorCode.PathTraversal, /not a plain bundle path/],
      [{ files: [...files, { ...data, name: '../data.json' }] }, BundleErrorCode.PathTraversal, /not a plain bundle path/],
      [{ files: [...files, { ...data, name: 'trades//x' }] }, BundleErrorCode.PathTraversal, /not a plain bundle path/],
      [{ files: [...files, { ...data, name: 'a\\b' }] }, BundleErrorCode.PathTraversal, /not a plain bundle path/],
      [{ files: [...files, { ...data, name: '' }] }, BundleErrorCode.PathTraversal, /not a plain bundle path/],
      [{ files: [...files, { ...data, name: SIGNATURES_FILE }] }, BundleErrorCode.SignatureMalformed, /lists \.signatures\.json itself/],
      [{ files: files.map((f) => ({ ...f, algorithm: 'MD5' })) }, BundleErrorCode.SignatureMalformed, /uses MD5, which is not accepted/],
      [{ files: files.map((f) => ({ ...f, algorithm: 'SHA-1' })) }, BundleErrorCode.SignatureMalformed, /uses SHA-1/],
      [{ files: files.map((f) => ({ ...f, algorithm: 'sha256' })) }, BundleErrorCode.SignatureMalformed, /unknown hash algorithm "sha256"/],
      [{ files: files.map((f) => ({ ...f, hash: 'zz' })) }, BundleErrorCode.SignatureMalformed, /not hex/],
      [{ files: files.map((f) => ({ name: f.name, hash: f.hash })) }, BundleErrorCode.SignatureMalformed, /needs string name, hash and algorithm/],
      [{ files: 'all' }, BundleErrorCode.SignatureMalformed, /no files array/],
      [{ files: [null] }, BundleErrorCode.SignatureMalformed, /not an object/],
      [{ files, scope: 7 }, BundleErrorCode.SignatureMalformed, /scope must be a string/],
      [[1, 2], BundleErrorCode.SignatureMalformed, /payload is not a JSON object/],
    ]
    for (const [payload, code, message] of cases) {
      const err = await rejection(verifyBundleFiles(withJws(rawJws({ alg: 'RS256' }, payload, rs256(rsa.privatePem))), rsaVerify()))
      expect(err.code, JSON.stringify(payload).slice(0, 80)).toBe(code)
      expect(err.message).toMatch(message)
    }
    // Hex digests compare without regard to case, as OPA decodes them.
    const upper = { files: files.map((f) => ({ ...f, hash: f.hash.toUpperCase() })) }
    await expect(verifyBundleFiles(withJws(rawJws({ alg: 'RS256' }, upper, rs256(rsa.privatePem))), rsaVerify())).resolves.toBeDefined()
  })

  it('an archive with two entries for one name', async () => {
    const text = await signBundleFiles(bundleFiles, rsaSign())
    const tar = writeTar([
      { name: SIGNATURES_FILE, data: enc(text) },
      ...bundleFiles.map((f) => ({ name: f.name, data: typeof f.data === 'string' ? enc(f.data) : f.data })),
      { name: 'data.json', data: enc('{"trades": {"limit": 1000000}}') },
    ])
    const err = await rejection(loadBundleArchive(gzipSync(tar), { verification: rsaVerify() }))
    expect(err).toMatchObject({ code: BundleErrorCode.Corrupt, message: 'bundle has two entries for data.json' })
  })

  it('mangled signature files with a BundleError every time, never anything else', async () => {
    const text = await signBundleFiles(bundleFiles, rsaSign())
    let seed = 7
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
    const codes = new Set<string>()
    let rejected = 0
    for (let i = 0; i < 300; i++) {
      const bytes = enc(text)
      const flips = 1 + Math.floor(random() * 4)
      for (let k = 0; k < flips; k++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256)
      const err = await verifyBundleFiles(fileMap(bundleFiles, { [SIGNATURES_FILE]: bytes }), rsaVerify()).then(
        () => undefined,
        (e: unknown) => e,
      )
      // A flip in the unused low bits of the last base64url character still decodes to the same signature.
      if (err === undefined) continue
      expect(err).toBeInstanceOf(BundleError)
      codes.add((err as BundleError).code)
      rejected++
    }
    expect(rejected).toBeGreaterThan(280)
    expect(codes.size).toBeGreaterThan(1)
  })
})
