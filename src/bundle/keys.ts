/**
 * Keys for bundle signatures: a private key or HMAC secret to sign with, and the public key, JWKS
 * or HMAC secret to verify with. Every key is checked against its algorithm once, when it is
 * created, so a key that cannot serve its algorithm (an RSA key for ES256, a public key as an HMAC
 * secret, a 16-byte HS256 secret) never reaches a signature.
 *
 * @module
 */

import { createPrivateKey, createPublicKey, createSecretKey, KeyObject, X509Certificate } from 'node:crypto'
import type { JsonWebKey } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { BundleError, BundleErrorCode } from './errors.js'

/** The JWS algorithms OPA signs and verifies bundles with (OPA's `keys` package). */
export const SIGNING_ALGORITHMS = [
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
] as const

/** One of {@link SIGNING_ALGORITHMS}. */
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number]

/** OPA's default bundle signing algorithm. */
export const DEFAULT_SIGNING_ALGORITHM: SigningAlgorithm = 'RS256'

/** Smallest RSA modulus accepted, in bits (jose refuses smaller ones too). */
export const MIN_RSA_BITS = 2048

/** Whether `value` names a supported signing algorithm. */
export function isSigningAlgorithm(value: unknown): value is SigningAlgorithm {
  return typeof value === 'string' && (SIGNING_ALGORITHMS as readonly string[]).includes(value)
}

/** Whether `alg` is an HMAC algorithm (a shared secret rather than a key pair). */
export function isHmacAlgorithm(alg: SigningAlgorithm): boolean {
  return alg.startsWith('HS')
}

/** A key to sign bundles with: a private key or an HMAC secret, and its algorithm. */
export interface SigningKey {
  readonly algorithm: SigningAlgorithm
  readonly key: KeyObject
}

/** One key a signature may be checked with. */
export interface VerificationKeyEntry {
  readonly algorithm: SigningAlgorithm
  readonly key: KeyObject
}

/** What {@link createSigningKey} and {@link createVerificationKey} take besides the key bytes. */
export interface KeyOptions {
  /**
   * The algorithm. Default: the JWK's `alg`, else what the key type implies (RSA → RS256, RSA-PSS →
   * PS256, EC P-256/384/521 → ES256/384/512). Required for an HMAC secret. Example: `ES256`.
   */
  algorithm?: SigningAlgorithm
}

function keyError(message: string, cause?: unknown): never {
  throw new BundleError(BundleErrorCode.Key, message, cause === undefined ? undefined : { cause })
}

const CURVE_ALGORITHM: Record<string, SigningAlgorithm> = {
  prime256v1: 'ES256',
  secp384r1: 'ES384',
  secp521r1: 'ES512',
}

/** The algorithm an asymmetric key implies, or undefined for a key type OPA cannot sign with. */
function impliedAlgorithm(key: KeyObject): SigningAlgorithm | undefined {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'RS256'
    case 'rsa-pss':
      return 'PS256'
    case 'ec':
      return CURVE_ALGORITHM[key.asymmetricKeyDetails?.namedCurve ?? '']
    default:
      return undefined
  }
}

/** Smallest HMAC secret per algorithm: the hash size (RFC 7518 §3.2 says MUST). */
const HMAC_MIN_BYTES: Record<string, number> = { HS256: 32, HS384: 48, HS512: 64 }

/** Why `key` cannot serve `alg`, or undefined when it can. */
function mismatch(key: KeyObject, alg: SigningAlgorithm): string | undefined {
  if (isHmacAlgorithm(alg)) {
    if (key.type !== 'secret') return `${alg} needs a shared secret, not a ${key.type} key`
    const min = HMAC_MIN_BYTES[alg]!
    const size = key.symmetricKeySize ?? 0
    return size < min ? `${alg} needs a secret of at least ${min} bytes (got ${size})` : undefined
  }
  if (key.type === 'secret') return `${alg} needs a key pair, not a shared secret`
  const type = key.asymmetricKeyType
  if (alg.startsWith('RS') || alg.startsWith('PS')) {
    if (type !== 'rsa' && !(type === 'rsa-pss' && alg.startsWith('PS'))) return `${alg} needs an RSA key, not ${type}`
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0
    return bits < MIN_RSA_BITS ? `${alg} needs an RSA key of at least ${MIN_RSA_BITS} bits (got ${bits})` : undefined
  }
  if (type !== 'ec') return `${alg} needs an EC key, not ${type}`
  const curve = key.asymmetricKeyDetails?.namedCurve
  return CURVE_ALGORITHM[curve ?? ''] === alg ? undefined : `${alg} needs an EC key on its own curve (got ${curve})`
}

function checkFits(key: KeyObject, alg: SigningAlgorithm, what: string): void {
  const why = mismatch(key, alg)
  if (why !== undefined) keyError(`${what}: ${why}`)
}

const PEM = /-----BEGIN ([A-Z0-9 ]+)-----/

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  const trimmed = text.trim()
  if (!trimmed.startsWith('{')) return undefined
  try {
    const value: unknown = JSON.parse(trimmed)
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/**
 * An HMAC secret, refused when it is really a key: a PEM block or a JWK/JWKS as the "secret" is
 * the algorithm-confusion setup, where anyone holding the public key could sign.
 */
function hmacSecret(material: Uint8Array, alg: SigningAlgorithm, what: string): KeyObject {
  const text = new TextDecoder().decode(material)
  const json = parseJsonObject(text)
  if (PEM.test(text) || (json !== undefined && ('keys' in json || 'kty' in json))) {
    keyError(`${what}: ${alg} takes a shared secret, but this is a PEM or JWK key`)
  }
  const key = createSecretKey(material)
  checkFits(key, alg, what)
  return key
}

/**
 * Makes a signing key from a PEM private key (PKCS#8, PKCS#1 or SEC1), a private JWK, or with an
 * HS* algorithm the raw bytes of a shared secret (used exactly as given, newline included, as OPA
 * reads a secret file). Throws `ERR_BUNDLE_KEY` when the material cannot sign with the algorithm.
 *
 * @example
 * const key = createSigningKey(await readFile('bundle-signing.key.pem'), { algorithm: 'RS256' })
 */
export function createSigningKey(material: Uint8Array, options: KeyOptions = {}): SigningKey {
  const what = 'signing key'
  if (options.algorithm !== undefined && isHmacAlgorithm(options.algorithm)) {
    return { algorithm: options.algorithm, key: hmacSecret(material, options.algorithm, what) }
  }
  const text = new TextDecoder().decode(material)
  let key: KeyObject
  let jwkAlg: unknown
  const json = parseJsonObject(text)
  if (PEM.test(text)) {
    if (/-----BEGIN (RSA |EC )?PUBLIC KEY-----|-----BEGIN CERTIFICATE-----/.test(text)) {
      keyError(`${what}: this is a public key; signing needs the private key`)
    }
    try {
      key = createPrivateKey(text)
    } catch (err) {
      keyError(`${what}: not a usable PEM private key (encrypted keys are not supported)`, err)
    }
  } else if (json !== undefined && typeof json.kty === 'string') {
    if (json.d === undefined) keyError(`${what}: the JWK has no private part (d)`)
    try {
      key = createPrivateKey({ key: json as JsonWebKey, format: 'jwk' })
    } catch (err) {
      keyError(`${what}: not a usable private JWK`, err)
    }
    jwkAlg = json.alg
  } else {
    keyError(`${what}: not a PEM private key or a private JWK (an HMAC secret needs an HS256/HS384/HS512 algorithm)`)
  }
  if (jwkAlg !== undefined && !isSigningAlgorithm(jwkAlg)) keyError(`${what}: the JWK's alg ${String(jwkAlg)} is not supported`)
  const algorithm = options.algorithm ?? (jwkAlg as SigningAlgorithm | undefined) ?? impliedAlgorithm(key)
  if (algorithm === undefined) keyError(`${what}: ${key.asymmetricKeyType} keys cannot sign bundles`)
  checkFits(key, algorithm, what)
  return { algorithm, key }
}

/**
 * The keys a bundle signature may be checked with: one public key (`pem`), a key set whose keys
 * are selected by key id (`jwks`), or an HMAC secret (`secret`). Made by
 * {@link createVerificationKey}.
 */
export class VerificationKey {
  /** Where the key came from. */
  readonly kind: 'pem' | 'jwks' | 'secret'
  readonly #single: VerificationKeyEntry | undefined
  readonly #byId: ReadonlyMap<string, VerificationKeyEntry>

  /** Use {@link createVerificationKey}. */
  constructor(kind: 'pem' | 'secret', key: VerificationKeyEntry)
  constructor(kind: 'jwks', keys: ReadonlyMap<string, VerificationKeyEntry>)
  constructor(kind: VerificationKey['kind'], keys: VerificationKeyEntry | ReadonlyMap<string, VerificationKeyEntry>) {
    this.kind = kind
    if (keys instanceof Map) {
      this.#single = undefined
      this.#byId = keys
    } else {
      this.#single = keys as VerificationKeyEntry
      this.#byId = new Map()
    }
  }

  /** The key ids of a JWKS, sorted; empty for a single key. */
  get keyIds(): string[] {
    return [...this.#byId.keys()].sort()
  }

  /** The algorithm of a single key; undefined for a JWKS (each key has its own). */
  get algorithm(): SigningAlgorithm | undefined {
    return this.#single?.algorithm
  }

  /**
   * The key to check a signature with. A single key answers for every key id; a JWKS needs a
   * non-empty id that one of its keys has. Throws `ERR_BUNDLE_SIGNATURE_KEY_ID` otherwise.
   */
  select(keyId: string | undefined): VerificationKeyEntry {
    if (this.#single !== undefined) return this.#single
    if (keyId === undefined || keyId === '') {
      throw new BundleError(BundleErrorCode.SignatureKeyId, 'verification key ID is empty (no configured key id, JWS kid or keyid claim)')
    }
    const entry = this.#byId.get(keyId)
    if (entry === undefined) {
      throw new BundleError(
        BundleErrorCode.SignatureKeyId,
        `no verification key with id ${JSON.stringify(keyId)} (the key set has ${this.keyIds.map((k) => JSON.stringify(k)).join(', ')})`,
      )
    }
    return entry
  }
}

function jwksKeys(keys: unknown, algorithm: SigningAlgorithm | undefined, what: string): Map<string, VerificationKeyEntry> {
  if (!Array.isArray(keys)) keyError(`${what}: the JWKS keys member must be an array`)
  const out = new Map<string, VerificationKeyEntry>()
  for (const [i, jwk] of keys.entries()) {
    const at = `${what}: JWKS key ${i}`
    if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) keyError(`${at} is not an object`)
    const k = jwk as Record<string, unknown>
    if (k.kty === 'oct' || k.d !== undefined) keyError(`${at} is a secret or private key; a JWKS here holds public keys only`)
    // Keys for encryption, or for algorithms OPA does not sign with, belong to someone else.
    if (k.use !== undefined && k.use !== 'sig') continue
    if (k.alg !== undefined && (!isSigningAlgorithm(k.alg) || (algorithm !== undefined && k.alg !== algorithm))) continue
    if (typeof k.kid !== 'string' || k.kid === '') keyError(`${at} has no kid; keys of a JWKS are selected by kid`)
    if (out.has(k.kid)) keyError(`${at}: kid ${JSON.stringify(k.kid)} is used twice`)
    let key: KeyObject
    try {
      key = createPublicKey({ key: k as JsonWebKey, format: 'jwk' })
    } catch (err) {
      keyError(`${at} (kid ${JSON.stringify(k.kid)}) is not a usable public JWK`, err)
    }
    const alg = algorithm ?? (k.alg as SigningAlgorithm | undefined) ?? impliedAlgorithm(key)
    if (alg === undefined) continue
    // A configured algorithm skips keys of another type; a key's own alg must fit its key.
    if (algorithm !== undefined && k.alg === undefined && mismatch(key, alg) !== undefined) continue
    checkFits(key, alg, `${at} (kid ${JSON.stringify(k.kid)})`)
    out.set(k.kid, { algorithm: alg, key })
  }
  if (out.size === 0) {
    keyError(`${what}: the JWKS has no signature key${algorithm === undefined ? '' : ` for ${algorithm}`}`)
  }
  return out
}

/**
 * Makes a verification key from a PEM public key or certificate, a JWKS (`{"keys": [...]}`, public
 * keys selected by `kid`), or with an HS* algorithm the raw bytes of a shared secret. Private keys
 * are refused (a sidecar needs only the public half), and so is a PEM or JWK given as an HMAC
 * secret. Throws `ERR_BUNDLE_KEY`.
 *
 * @example
 * const key = createVerificationKey(readFileSync('bundle-signing.pub.pem'))
 * key.algorithm // 'RS256' for an RSA key
 */
export function createVerificationKey(material: Uint8Array, options: KeyOptions = {}): VerificationKey {
  const what = 'verification key'
  const { algorithm } = options
  if (algorithm !== undefined && isHmacAlgorithm(algorithm)) {
    return new VerificationKey('secret', { algorithm, key: hmacSecret(material, algorithm, what) })
  }
  const text = new TextDecoder().decode(material)
  const pem = PEM.exec(text)
  if (pem !== null) {
    if (pem[1]!.includes('PRIVATE KEY')) {
      keyError(`${what}: this is a private key; give the public key (openssl pkey -pubout)`)
    }
    let key: KeyObject
    try {
      key = pem[1] === 'CERTIFICATE' ? new X509Certificate(text).publicKey : createPublicKey(text)
    } catch (err) {
      keyError(`${what}: not a usable PEM public key or certificate`, err)
    }
    const alg = algorithm ?? impliedAlgorithm(key)
    if (alg === undefined) keyError(`${what}: ${key.asymmetricKeyType} keys cannot verify bundles`)
    checkFits(key, alg, what)
    return new VerificationKey('pem', { algorithm: alg, key })
  }
  const json = parseJsonObject(text)
  if (json !== undefined && 'keys' in json) return new VerificationKey('jwks', jwksKeys(json.keys, algorithm, what))
  return keyError(`${what}: not a PEM public key or a JWKS (an HMAC secret needs an HS256/HS384/HS512 algorithm)`)
}

async function readKeyFile(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path))
  } catch (err) {
    return keyError(`cannot read ${what} ${path}`, err)
  }
}

/**
 * Reads a signing key file (see {@link createSigningKey}).
 *
 * @example
 * const key = await loadSigningKey('bundle-signing.key.pem')
 */
export async function loadSigningKey(path: string, options: KeyOptions = {}): Promise<SigningKey> {
  return createSigningKey(await readKeyFile(path, 'signing key'), options)
}

/**
 * Reads a verification key file (see {@link createVerificationKey}).
 *
 * @example
 * const key = await loadVerificationKey('bundle-signing.pub.pem')
 */
export async function loadVerificationKey(path: string, options: KeyOptions = {}): Promise<VerificationKey> {
  return createVerificationKey(await readKeyFile(path, 'verification key'), options)
}
