import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadServeConfig, VERIFICATION_SECRET_ENV } from '../../src/config/index.js'
import { createTestSigningKeys, writeTestKeyFiles } from '../helpers/signing-keys.js'

const required = { bundle: 'b.tar.gz', jwks: 'jwks.json', issuer: 'https://iss', audience: 'api' }
const invalid = (message: RegExp) => expect.objectContaining({ code: 'ERR_CONFIG_INVALID', message: expect.stringMatching(message) })
const secret = 's'.repeat(32)

let dir: string
let rsa: { key: string; pub: string; jwks: string }
let ec: { key: string; pub: string; jwks: string }
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-verification-config-'))
  rsa = await writeTestKeyFiles(dir, createTestSigningKeys('RS256'))
  ec = await writeTestKeyFiles(dir, createTestSigningKeys('ES256', 'test-ec'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('loadServeConfig: bundle verification', () => {
  it('requires a key, unless verification is skipped explicitly (flag, env or insecure.skip_bundle_verification)', async () => {
    expect(() => loadServeConfig({ flags: required, env: {} })).toThrow(
      invalid(/^bundle_verification\.key: is required: .*--verification-key <file>.*--insecure-skip-bundle-verification/),
    )
    expect(loadServeConfig({ flags: { ...required, 'insecure-skip-bundle-verification': 'true' }, env: {} }).bundleVerification).toBeUndefined()
    expect(loadServeConfig({ flags: required, env: { VERDICT_INSECURE_SKIP_BUNDLE_VERIFICATION: 'true' } }).bundleVerification).toBeUndefined()
    const path = join(dir, 'insecure.yaml')
    await writeFile(path, ['insecure:', '  skip_bundle_verification: true'].join('\n'))
    expect(loadServeConfig({ flags: { ...required, config: path }, env: {} }).bundleVerification).toBeUndefined()
    // Both a key and the opt-out is a contradiction, and the opt-out takes true or false only.
    expect(() => loadServeConfig({ flags: { ...required, 'verification-key': rsa.pub, 'insecure-skip-bundle-verification': 'true' }, env: {} })).toThrow(
      invalid(/^--insecure-skip-bundle-verification: contradicts the configured verification key/),
    )
    expect(() => loadServeConfig({ flags: required, env: { VERDICT_INSECURE_SKIP_BUNDLE_VERIFICATION: 'yes' } })).toThrow(
      invalid(/^VERDICT_INSECURE_SKIP_BUNDLE_VERIFICATION: must be true or false/),
    )
  })

  it('reads the key file of --verification-key once, with key id and scope', () => {
    const config = loadServeConfig({
      flags: { ...required, 'verification-key': rsa.pub, 'verification-key-id': 'bundle-1', scope: 'trades' },
      env: {},
    })
    expect(config.bundleVerification).toMatchObject({ keyId: 'bundle-1', scope: 'trades' })
    expect(config.bundleVerification!.key).toMatchObject({ kind: 'pem', algorithm: 'RS256' })
    expect(config.token.requiredScopes).toBeUndefined()
  })

  it('reads bundle_verification from a file, with env and flags over it', async () => {
    const path = join(dir, 'verdict.yaml')
    await writeFile(
      path,
      ['bundle_verification:', `  key: ${ec.jwks}`, '  key_id: test-ec', '  algorithm: ES256', '  scope: file-scope'].join('\n'),
    )
    const fromFile = loadServeConfig({ flags: { ...required, config: path }, env: {} }).bundleVerification!
    expect(fromFile).toMatchObject({ keyId: 'test-ec', scope: 'file-scope' })
    expect(fromFile.key).toMatchObject({ kind: 'jwks', keyIds: ['test-ec'] })
    const over = loadServeConfig({
      flags: { ...required, config: path, scope: 'flag-scope' },
      env: { VERDICT_VERIFICATION_KEY: ec.pub, VERDICT_VERIFICATION_SCOPE: 'env-scope' },
    }).bundleVerification!
    expect(over).toMatchObject({ keyId: 'test-ec', scope: 'flag-scope' })
    expect(over.key).toMatchObject({ kind: 'pem', algorithm: 'ES256' })
  })

  it('accepts the commented-out bundle_verification block of the example config once uncommented', async () => {
    const example = await readFile(join(import.meta.dirname, '..', '..', 'verdict.example.yaml'), 'utf8')
    const block = example.split('\n').filter((l) => l.startsWith('# bundle_verification:') || l.startsWith('#   '))
    expect(block.length).toBeGreaterThan(4)
    const path = join(dir, 'example.yaml')
    await writeFile(path, block.map((l) => l.slice(2)).join('\n').replace('./bundle-signing.pub.pem', ec.pub))
    const config = loadServeConfig({ flags: { ...required, config: path }, env: {} })
    expect(config.bundleVerification).toMatchObject({ keyId: 'trades-2026', scope: 'trades', key: { kind: 'pem', algorithm: 'ES256' } })
  })

  it(`takes an HMAC secret from ${VERIFICATION_SECRET_ENV}, HS256 unless told otherwise`, () => {
    const config = loadServeConfig({ flags: required, env: { [VERIFICATION_SECRET_ENV]: secret } })
    expect(config.bundleVerification!.key).toMatchObject({ kind: 'secret', algorithm: 'HS256' })
    const hs512 = () =>
      loadServeConfig({ flags: { ...required, 'verification-alg': 'HS512' }, env: { [VERIFICATION_SECRET_ENV]: secret } })
    expect(hs512).toThrow(invalid(new RegExp(`^${VERIFICATION_SECRET_ENV}: HS512 needs a secret of at least 64 bytes \\(got 32\\)`)))
    const rs = () => loadServeConfig({ flags: { ...required, 'verification-alg': 'RS256' }, env: { [VERIFICATION_SECRET_ENV]: secret } })
    expect(rs).toThrow(invalid(/^--verification-alg: must be HS256, HS384 or HS512 with VERDICT_VERIFICATION_SECRET/))
    const both = () => loadServeConfig({ flags: { ...required, 'verification-key': rsa.pub }, env: { [VERIFICATION_SECRET_ENV]: secret } })
    expect(both).toThrow(invalid(/^VERDICT_VERIFICATION_SECRET: give a key file or VERDICT_VERIFICATION_SECRET, not both/))
  })

  it('stops the start naming the key when the key is unusable', () => {
    const load = (flags: Record<string, string>, env: Record<string, string> = {}) => () =>
      loadServeConfig({ flags: { ...required, ...flags }, env })
    expect(load({ 'verification-key': join(dir, 'missing.pem') })).toThrow(invalid(/^--verification-key: cannot read .*missing\.pem/))
    expect(load({ 'verification-key': rsa.key })).toThrow(invalid(/^--verification-key: this is a private key/))
    expect(load({ 'verification-key': rsa.pub, 'verification-alg': 'HS256' })).toThrow(
      invalid(/^--verification-key: HS256 takes a shared secret, but this is a PEM or JWK key/),
    )
    expect(load({ 'verification-key': rsa.pub, 'verification-alg': 'ES256' })).toThrow(invalid(/ES256 needs an EC key/))
    expect(load({ 'verification-key': rsa.pub, 'verification-alg': 'none' })).toThrow(
      invalid(/^--verification-alg: must be one of RS256, RS384, .*HS512 \(got none\)/),
    )
    expect(load({}, { VERDICT_VERIFICATION_KEY: ec.jwks, VERDICT_VERIFICATION_ALG: 'RS256' })).toThrow(
      invalid(/^VERDICT_VERIFICATION_KEY: the JWKS has no signature key for RS256/),
    )
  })

  it('refuses key id, algorithm or scope without a key', () => {
    const skipping = { ...required, 'insecure-skip-bundle-verification': 'true' }
    expect(() => loadServeConfig({ flags: { ...skipping, scope: 'trades' }, env: {} })).toThrow(
      invalid(/^--scope: needs a bundle verification key/),
    )
    expect(() => loadServeConfig({ flags: skipping, env: { VERDICT_VERIFICATION_KEY_ID: 'k' } })).toThrow(
      invalid(/^VERDICT_VERIFICATION_KEY_ID: needs a bundle verification key/),
    )
  })
})
