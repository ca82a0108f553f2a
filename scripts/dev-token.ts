/**
 * Development tokens for trying Verdict locally: `npm run dev-token -- [options]` prints a signed
 * access token from the local dev issuer, creating its key pair on first use.
 *
 * The dev issuer lives in `.verdict/dev/` (git-ignored): `issuer-key.json` holds the private
 * key, `jwks.json` the public key set that `npm start` hands to the sidecar. Beside them,
 * `dev-bundle-signing.key.pem` / `.pub.pem` are the dev bundle-signing key pair: `npm start` signs
 * the example bundle with the private key and the sidecar verifies it with the public one. These
 * keys are for local development only; never use them in production.
 */
import { generateKeyPairSync } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose'

/** The dev issuer and audience that `npm start` configures the sidecar with. */
export const DEV_ISSUER = 'https://idp.dev.verdict.local'
export const DEV_AUDIENCE = 'trades-api'

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const DEV_DIR = join(repo, '.verdict', 'dev')
const KEY_FILE = join(DEV_DIR, 'issuer-key.json')
export const DEV_JWKS = join(DEV_DIR, 'jwks.json')

/** Creates the dev issuer's RS256 key pair and JWKS once; later calls reuse them. */
export async function ensureDevKeys(): Promise<JWK> {
  if (existsSync(KEY_FILE) && existsSync(DEV_JWKS)) {
    return JSON.parse(readFileSync(KEY_FILE, 'utf8')) as JWK
  }
  mkdirSync(DEV_DIR, { recursive: true })
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true })
  const kid = `dev-${Date.now().toString(36)}`
  const priv = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' }
  const pub = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }
  writeFileSync(KEY_FILE, JSON.stringify(priv, null, 2), { mode: 0o600 })
  writeFileSync(DEV_JWKS, JSON.stringify({ keys: [pub] }, null, 2))
  return priv
}

/** The dev bundle-signing key pair (ES256, PEM) and the key id `npm start` signs with. */
export const DEV_BUNDLE_SIGNING_KEY = join(DEV_DIR, 'dev-bundle-signing.key.pem')
export const DEV_BUNDLE_VERIFICATION_KEY = join(DEV_DIR, 'dev-bundle-signing.pub.pem')
export const DEV_BUNDLE_KEY_ID = 'dev-bundle-signing'

/**
 * Creates the dev bundle-signing key pair once (ES256: P-256, PKCS#8 private, SPKI public); later
 * calls reuse it. Returns the two PEM paths.
 */
export function ensureDevBundleSigningKeys(): { key: string; pub: string } {
  const paths = { key: DEV_BUNDLE_SIGNING_KEY, pub: DEV_BUNDLE_VERIFICATION_KEY }
  if (existsSync(paths.key) && existsSync(paths.pub)) return paths
  mkdirSync(DEV_DIR, { recursive: true })
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  writeFileSync(paths.key, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
  writeFileSync(paths.pub, publicKey.export({ type: 'spki', format: 'pem' }))
  return paths
}

/** Signs a dev access token (typ at+jwt) with the given claims. */
export async function mintDevToken(claims: Record<string, unknown>, expiresIn = '1h'): Promise<string> {
  const jwk = await ensureDevKeys()
  const key = await importJWK(jwk, 'RS256')
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: jwk.kid! })
    .setIssuer(DEV_ISSUER)
    .setAudience(DEV_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .setJti(crypto.randomUUID())
    .sign(key)
}

const HELP = `Usage: npm run dev-token -- [options]

Prints an access token signed by the local dev issuer (${DEV_ISSUER}, audience ${DEV_AUDIENCE}).

Options:
  --sub <id>          subject (default 8027379034)
  --user-id <n>       user_id claim (default 2998)
  --scope <s>         space-delimited scopes (default "trades")
  --roles <a,b>       roles (default trader)
  --locations <a,b>   locations (default NY)
  --expires-in <d>    lifetime such as 15m, 1h (default 1h)
  --keys-only         only create the dev keys (issuer key pair and JWKS, bundle-signing key pair)
  -h, --help          this text`

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sub: { type: 'string', default: '8027379034' },
      'user-id': { type: 'string', default: '2998' },
      scope: { type: 'string', default: 'trades' },
      roles: { type: 'string', default: 'trader' },
      locations: { type: 'string', default: 'NY' },
      'expires-in': { type: 'string', default: '1h' },
      'keys-only': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    console.log(HELP)
    return
  }
  if (values['keys-only']) {
    await ensureDevKeys()
    const bundleKeys = ensureDevBundleSigningKeys()
    console.log([DEV_JWKS, bundleKeys.pub].join('\n'))
    return
  }
  const list = (s: string): string[] => s.split(',').map((x) => x.trim()).filter(Boolean)
  const token = await mintDevToken(
    {
      sub: values.sub,
      scope: values.scope,
      user_id: Number(values['user-id']),
      given_name: 'John',
      family_name: 'Doe',
      roles: list(values.roles!),
      locations: list(values.locations!),
      client_id: 'dev-client',
    },
    values['expires-in'],
  )
  console.log(token)
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(`dev-token: ${err instanceof Error ? err.message : String(err)}`)
    process.exit(1)
  })
}
