/**
 * Test helper: throwaway bundle-signing keys made at run time with node:crypto, as PEM text (and a
 * JWKS for the public half), so bundle signing tests use real keys and no private key is ever
 * written to the repository. Files written by {@link writeTestKeyFiles} go to a temp dir and are
 * named after the test key id (`test-bundle-signing-rs256.key.pem`, ...).
 *
 * @module
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** A test key pair in the forms the CLI and config read. */
export interface TestSigningKeys {
  /** The algorithm the pair is for. */
  alg: string
  /** PKCS#8 PEM private key (for HS*, the secret itself). */
  privatePem: string
  /** SPKI PEM public key (for HS*, the secret itself). */
  publicPem: string
  /** `{"keys": [public JWK with kid and alg]}` (asymmetric only). */
  jwks: { keys: Record<string, unknown>[] }
  kid: string
}

/** Makes a fresh key pair (or for HS*, a 32..64-byte secret) for `alg`. */
export function createTestSigningKeys(alg: string, kid = `test-bundle-signing-${alg.toLowerCase()}`): TestSigningKeys {
  if (alg.startsWith('HS')) {
    const secret = randomBytes(Number(alg.slice(2)) / 8).toString('base64url')
    return { alg, privatePem: secret, publicPem: secret, jwks: { keys: [] }, kid }
  }
  const { privateKey, publicKey } = alg.startsWith('ES')
    ? generateKeyPairSync('ec', { namedCurve: { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[alg]! })
    : generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' }
  return {
    alg,
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    jwks: { keys: [jwk] },
    kid,
  }
}

/** Writes `<test-kid>.key.pem`, `.pub.pem` and `.jwks.json` under `dir`; returns their paths. */
export async function writeTestKeyFiles(dir: string, keys: TestSigningKeys): Promise<{ key: string; pub: string; jwks: string }> {
  const base = join(dir, keys.kid.startsWith('test-') ? keys.kid : `test-${keys.kid}`)
  const paths = { key: `${base}.key.pem`, pub: `${base}.pub.pem`, jwks: `${base}.jwks.json` }
  await writeFile(paths.key, keys.privatePem, { mode: 0o600 })
  await writeFile(paths.pub, keys.publicPem)
  await writeFile(paths.jwks, JSON.stringify(keys.jwks))
  return paths
}
