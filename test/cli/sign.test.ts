/**
 * Signing bundles from the command line: `verdict build --signing-key` and `verdict sign`, through
 * the real CLI process where the flags matter and through the functions otherwise.
 */
import { execFile, execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { decodeProtectedHeader } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  BundleErrorCode,
  createSigningKey,
  createVerificationKey,
  loadBundle,
  SIGNATURES_FILE,
} from '../../src/bundle/index.js'
import type { VerifyBundleOptions } from '../../src/bundle/index.js'
import { buildBundle, signBundle } from '../../src/cli/index.js'
import { createTestSigningKeys, writeTestKeyFiles } from '../helpers/signing-keys.js'
import type { TestSigningKeys } from '../helpers/signing-keys.js'

const root = join(import.meta.dirname, '..', '..')
const bin = join(root, 'bin', 'verdict.js')
const policy = join(root, 'policies', 'trades')
const run = (args: string[]) =>
  promisify(execFile)(process.execPath, [bin, ...args], { cwd: root }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  )
const enc = (s: string) => new TextEncoder().encode(s)

let dir: string
let rsa: TestSigningKeys
let ec: TestSigningKeys
let rsaFiles: { key: string; pub: string; jwks: string }
let ecFiles: { key: string; pub: string; jwks: string }
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-sign-'))
  rsa = createTestSigningKeys('RS256')
  ec = createTestSigningKeys('ES256')
  rsaFiles = await writeTestKeyFiles(dir, rsa)
  ecFiles = await writeTestKeyFiles(dir, ec)
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const verifyWith = (keys: TestSigningKeys, o: Partial<VerifyBundleOptions> = {}): { verification: VerifyBundleOptions } => ({
  verification: { key: createVerificationKey(enc(keys.publicPem)), ...o },
})

describe('verdict build --signing-key', () => {
  it('writes a bundle whose signature covers every file and verifies with the public key', async () => {
    const out = join(dir, 'built.tar.gz')
    const r = await run(['build', policy, '-o', out, '--signing-key', rsaFiles.key, '--key-id', 'trades-2026', '--scope', 'trades'])
    expect(r.stderr).toMatch(/^built .*built\.tar\.gz \(revision [0-9a-f]{16}; entrypoints trades\/decision; signed RS256 key id trades-2026 scope trades\)$/m)
    expect(r.code).toBe(0)
    const bundle = await loadBundle(out, verifyWith(rsa, { scope: 'trades' }))
    expect(bundle.signature).toMatchObject({ algorithm: 'RS256', keyId: 'trades-2026', scope: 'trades' })
    expect(bundle.signature!.files.map((f) => f.name)).toEqual(['.manifest', 'data.json', 'policy.wasm'])
    // OPA's layout: /.signatures.json beside the other files, its JWS carrying the kid.
    expect(execFileSync('tar', ['-tzf', out], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n')).toEqual([
      '/.signatures.json',
      '/data.json',
      '/policy.wasm',
      '/.manifest',
    ])
    const jws = (JSON.parse(new TextDecoder().decode(bundle.files.get(SIGNATURES_FILE))) as { signatures: string[] }).signatures[0]!
    expect(decodeProtectedHeader(jws)).toEqual({ alg: 'RS256', typ: 'JWT', kid: 'trades-2026' })
    // Another key, or another scope, does not accept it.
    await expect(loadBundle(out, verifyWith(rsa))).rejects.toMatchObject({ code: BundleErrorCode.SignatureScope })
    await expect(loadBundle(out, verifyWith(createTestSigningKeys('RS256'), { scope: 'trades' }))).rejects.toMatchObject({
      code: BundleErrorCode.SignatureInvalid,
    })
  }, 30_000)

  it('signs through buildBundle, and builds unsigned without a key', async () => {
    const out = join(dir, 'api.tar.gz')
    await buildBundle({ source: policy, output: out, entrypoints: [], signing: { key: createSigningKey(enc(ec.privatePem)) } })
    expect((await loadBundle(out, verifyWith(ec))).signature?.algorithm).toBe('ES256')
    const plain = join(dir, 'plain.tar.gz')
    await buildBundle({ source: policy, output: plain, entrypoints: [] })
    await expect(loadBundle(plain, verifyWith(ec))).rejects.toMatchObject({ code: BundleErrorCode.SignatureMissing })
  })

  it('exits 1 with the reason when the key or flags are wrong', async () => {
    const publicAsSigning = await run(['build', policy, '-o', join(dir, 'x.tar.gz'), '--signing-key', rsaFiles.pub])
    expect(publicAsSigning.code).toBe(1)
    expect(publicAsSigning.stderr).toMatch(/signing key: this is a public key; signing needs the private key/)
    const badAlg = await run(['sign', join(dir, 'x.tar.gz'), '--signing-key', rsaFiles.key, '--signing-alg', 'none'])
    expect(badAlg.code).toBe(1)
    expect(badAlg.stderr).toMatch(/--signing-alg must be one of RS256, .*HS512 \(got none\)/)
    const noKey = await run(['build', policy, '-o', join(dir, 'x.tar.gz'), '--scope', 'trades'])
    expect(noKey.code).toBe(1)
    expect(noKey.stderr).toMatch(/--signing-alg, --key-id and --scope need --signing-key/)
    const help = await run(['sign', '--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/^Usage: verdict sign <bundle\.tar\.gz\|dir> --signing-key <file>/)
  }, 60_000)
})

describe('verdict sign', () => {
  it('signs an archive in place, and signs it again with another key into a new file', async () => {
    const bundle = join(dir, 'in-place.tar.gz')
    await buildBundle({ source: policy, output: bundle, entrypoints: [], revision: 'r7' })
    const r = await run(['sign', bundle, '--signing-key', ecFiles.key, '--key-id', 'ec-1'])
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/^signed .*in-place\.tar\.gz \(3 files; signed ES256 key id ec-1\)$/m)
    const signed = await loadBundle(bundle, verifyWith(ec))
    expect(signed).toMatchObject({ manifest: { revision: 'r7' }, signature: { algorithm: 'ES256', keyId: 'ec-1' } })

    // Re-signing replaces the old signature rather than signing it.
    const out = join(dir, 'resigned.tar.gz')
    const result = await signBundle({ bundle, output: out, signing: { key: createSigningKey(enc(rsa.privatePem)) } })
    expect(result).toEqual({ output: out, files: ['data.json', 'policy.wasm', '.manifest'] })
    expect((await loadBundle(out, verifyWith(rsa))).signature?.files.map((f) => f.name)).not.toContain(SIGNATURES_FILE)
    await expect(loadBundle(out, verifyWith(ec))).rejects.toMatchObject({ code: BundleErrorCode.SignatureAlgorithm })
    // The input was left alone.
    expect((await loadBundle(bundle, verifyWith(ec))).signature?.keyId).toBe('ec-1')
  }, 30_000)

  it('signs a directory bundle with an HMAC secret file, or writes it out as an archive', async () => {
    const tree = join(dir, 'tree')
    await mkdir(join(tree, 'roles'), { recursive: true })
    await writeFile(join(tree, '.manifest'), '{"revision":"d1","roots":["roles"]}')
    await writeFile(join(tree, 'roles', 'data.json'), '{"trader": ["create"]}\n')
    const secret = join(dir, 'test-bundle-hmac.secret')
    await writeFile(secret, `${'k'.repeat(40)}\n`, { mode: 0o600 })
    const r = await run(['sign', tree, '--signing-key', secret, '--signing-alg', 'HS256', '--scope', 'roles'])
    expect(r.code).toBe(0)
    const hmac = { verification: { key: createVerificationKey(await readFile(secret), { algorithm: 'HS256' }), scope: 'roles' } }
    expect((await loadBundle(tree, hmac)).signature).toMatchObject({ algorithm: 'HS256', scope: 'roles' })
    // The secret is used byte for byte: without its newline it is another secret.
    const trimmed = { verification: { key: createVerificationKey(enc('k'.repeat(40)), { algorithm: 'HS256' }), scope: 'roles' } }
    await expect(loadBundle(tree, trimmed)).rejects.toMatchObject({ code: BundleErrorCode.SignatureInvalid })

    const out = join(dir, 'tree.tar.gz')
    await signBundle({ bundle: tree, output: out, signing: { key: createSigningKey(enc(rsa.privatePem)) } })
    expect((await loadBundle(out, verifyWith(rsa))).data).toEqual({ roles: { trader: ['create'] } })
  }, 30_000)

  it('refuses to sign what is not a valid bundle', async () => {
    const bad = join(dir, 'bad.tar.gz')
    await writeFile(bad, 'not a bundle')
    await expect(signBundle({ bundle: bad, signing: { key: createSigningKey(enc(rsa.privatePem)) } })).rejects.toMatchObject({
      code: BundleErrorCode.Corrupt,
    })
    expect(await readFile(bad, 'utf8')).toBe('not a bundle')
  })
})
