/**
 * OPA bundle signing: `.signatures.json` holds one compact JWS whose payload lists every file of
 * the bundle with its digest (`files: [{name, hash, algorithm}]`, plus optional `keyid`, `scope`,
 * `iat`, `iss`). Structured files (`data.json`, `data.yaml`, `.manifest`) are hashed in OPA's
 * canonical JSON form, everything else as raw bytes, so a bundle signed here verifies in OPA and
 * the other way round.
 *
 * Verification is strict: exactly one JWS, signed with the configured key and algorithm (the JWS
 * `alg` never picks them), the configured scope, every file of the bundle listed with a matching
 * digest, and every listed file present.
 *
 * @module
 */

import { createHash } from 'node:crypto'
import { CompactSign, compactVerify } from 'jose'
import { parse as parseYaml } from 'yaml'
import { canonicalJson, compareCodePoints, encodeGoJsonString } from '../util/canonical-json.js'
import type { BundleFile } from './bundle.js'
import { BundleError, BundleErrorCode } from './errors.js'
import type { SigningAlgorithm, SigningKey, VerificationKey } from './keys.js'
import { normalizeEntryName } from './tar.js'

/** The signature file, at the root of the bundle. */
export const SIGNATURES_FILE = '.signatures.json'

/** File digest algorithms accepted when signing and verifying (OPA's list without MD5 and SHA-1). */
export const HASH_ALGORITHMS = ['SHA-224', 'SHA-256', 'SHA-384', 'SHA-512', 'SHA-512-224', 'SHA-512-256'] as const

/** One of {@link HASH_ALGORITHMS}. */
export type HashAlgorithm = (typeof HASH_ALGORITHMS)[number]

/** The digest OPA uses when it signs. */
export const DEFAULT_HASH_ALGORITHM: HashAlgorithm = 'SHA-256'

/** Largest `.signatures.json` read, in bytes: room for thousands of files, not for a flood. */
export const DEFAULT_MAX_SIGNATURES_BYTES = 1024 * 1024

const NODE_HASH: Record<HashAlgorithm, string> = {
  'SHA-224': 'sha224',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
  'SHA-512-224': 'sha512-224',
  'SHA-512-256': 'sha512-256',
}

/** Names OPA knows but Verdict refuses: collisions in them are practical. */
const WEAK_HASHES = new Set(['MD5', 'SHA-1'])

/** One file in a signature's payload. */
export interface SignedFile {
  /** Path in the bundle without a leading `/`, e.g. `roles/data.json`. */
  name: string
  /** Lowercase hex digest. */
  hash: string
  /** One of {@link HASH_ALGORITHMS}. */
  algorithm: string
}

/** What {@link signBundleFiles} takes. */
export interface SignBundleOptions {
  /** The private key or HMAC secret, with its algorithm (see `createSigningKey`). */
  key: SigningKey
  /** Key id, written as the JWS `kid` and the (deprecated) `keyid` claim, as OPA does. Example: `bundle-2026`. */
  keyId?: string
  /** Scope the verifier must be configured with. Example: `trades`. */
  scope?: string
  /** Informational `iss` claim. Example: `security-team`. */
  issuer?: string
  /** Informational `iat` claim, in seconds; default now; `null` leaves it out. */
  issuedAt?: number | null
  /** File digest algorithm; default SHA-256. */
  hashAlgorithm?: HashAlgorithm
}

/** What {@link verifyBundleFiles} takes. */
export interface VerifyBundleOptions {
  /** The public key, JWKS or HMAC secret (see `createVerificationKey`). */
  key: VerificationKey
  /** Key id that selects the key in a JWKS; wins over the JWS `kid` and the `keyid` claim. */
  keyId?: string
  /** Scope the signature must carry; absent means the signature must carry none. */
  scope?: string
  /** Largest `.signatures.json` accepted; default {@link DEFAULT_MAX_SIGNATURES_BYTES}. */
  maxSignaturesBytes?: number
}

/** What a verified signature said. */
export interface BundleSignature {
  algorithm: SigningAlgorithm
  /** The key id the key was selected by, when there was one. */
  keyId?: string
  scope?: string
  issuer?: string
  issuedAt?: number
  files: SignedFile[]
}

function fail(code: BundleErrorCode, message: string, cause?: unknown): never {
  throw new BundleError(code, message, cause === undefined ? undefined : { cause })
}

function baseName(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1)
}

/** Whether OPA hashes the file in canonical JSON form: base name `data.json`, `data.yaml` or `.manifest`. */
export function isStructuredFile(name: string): boolean {
  const base = baseName(name)
  return base === 'data.json' || base === 'data.yaml' || base === '.manifest'
}

/** Canonical text of a parsed YAML value (numbers in Go's float64 form, as OPA's YAML→JSON gives). */
function canonicalValue(value: unknown): string {
  if (value === null || value === undefined) return 'null'
  if (typeof value === 'bigint') return value.toString()
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new SyntaxError('YAML number is not finite')
    return String(value)
  }
  if (typeof value === 'boolean') return String(value)
  if (typeof value === 'string') return encodeGoJsonString(value)
  if (value instanceof Date) return encodeGoJsonString(value.toISOString())
  if (Array.isArray(value)) return `[${value.map(canonicalValue).join(',')}]`
  if (typeof value === 'object') {
    const obj = value as Record<string, unknown>
    const keys = Object.keys(obj).sort(compareCodePoints)
    return `{${keys.map((k) => `${encodeGoJsonString(k)}:${canonicalValue(obj[k])}`).join(',')}}`
  }
  throw new SyntaxError(`YAML value of type ${typeof value} has no JSON form`)
}

/**
 * The text OPA hashes for a structured file: the canonical JSON of the document (a leading UTF-8
 * BOM dropped). Like OPA, a file that is not JSON is read as YAML.
 */
function canonicalText(name: string, data: Uint8Array): string {
  const bytes = data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf ? data.subarray(3) : data
  try {
    return canonicalJson(bytes)
  } catch (jsonError) {
    try {
      const doc: unknown = parseYaml(new TextDecoder().decode(bytes), { intAsBigInt: true, maxAliasCount: 100, logLevel: 'error' })
      if (doc === undefined) throw new SyntaxError('empty document')
      return canonicalValue(doc)
    } catch {
      return fail(BundleErrorCode.Corrupt, `${name} is not valid JSON (${(jsonError as Error).message})`, jsonError)
    }
  }
}

/**
 * The digest of one bundle file as OPA computes it for signatures: canonical JSON for structured
 * files, raw bytes for everything else, as lowercase hex.
 *
 * @example
 * hashBundleFile('data.json', new TextEncoder().encode('{"b": 1, "a": 2}')) // sha256 of '{"a":2,"b":1}'
 */
export function hashBundleFile(name: string, data: Uint8Array, algorithm: HashAlgorithm = DEFAULT_HASH_ALGORITHM): string {
  const hash = createHash(NODE_HASH[algorithm])
  if (isStructuredFile(name)) hash.update(canonicalText(name, data), 'utf8')
  else hash.update(data)
  return hash.digest('hex')
}

/**
 * Signs bundle files: returns the text of `.signatures.json` holding one JWS over every file
 * (an existing root `.signatures.json` among `files` is left out, so signing again replaces it).
 *
 * @example
 * const key = await loadSigningKey('bundle-signing.key.pem')
 * const signatures = await signBundleFiles(files, { key, keyId: 'bundle-2026' })
 * await writeBundle('trades.tar.gz', [{ name: SIGNATURES_FILE, data: signatures }, ...files])
 */
export async function signBundleFiles(files: Iterable<BundleFile>, options: SignBundleOptions): Promise<string> {
  const algorithm = options.hashAlgorithm ?? DEFAULT_HASH_ALGORITHM
  if (!(HASH_ALGORITHMS as readonly string[]).includes(algorithm)) throw new TypeError(`unsupported hash algorithm ${algorithm}`)
  const signed: SignedFile[] = []
  const seen = new Set<string>()
  for (const file of files) {
    const name = normalizeEntryName(file.name)
    if (name === '') throw new TypeError(`bundle file name is empty: ${JSON.stringify(file.name)}`)
    if (name === SIGNATURES_FILE) continue
    if (seen.has(name)) throw new TypeError(`bundle file ${name} is given twice`)
    seen.add(name)
    const data = typeof file.data === 'string' ? new TextEncoder().encode(file.data) : file.data
    signed.push({ name, hash: hashBundleFile(name, data, algorithm), algorithm })
  }
  signed.sort((a, b) => compareCodePoints(a.name, b.name))

  const payload: Record<string, unknown> = { files: signed }
  if (options.keyId !== undefined && options.keyId !== '') payload.keyid = options.keyId
  if (options.scope !== undefined && options.scope !== '') payload.scope = options.scope
  const iat = options.issuedAt === undefined ? Math.floor(Date.now() / 1000) : options.issuedAt
  if (iat !== null) payload.iat = iat
  if (options.issuer !== undefined) payload.iss = options.issuer

  const header: { alg: string; typ: string; kid?: string } = { alg: options.key.algorithm, typ: 'JWT' }
  if (options.keyId !== undefined && options.keyId !== '') header.kid = options.keyId
  const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader(header)
    .sign(options.key.key)
  return `${JSON.stringify({ signatures: [jws] })}\n`
}

const BASE64URL = /^[A-Za-z0-9_-]*$/

function jsonObject(text: string, what: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    fail(BundleErrorCode.SignatureMalformed, `JWS ${what} is not JSON`, err)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail(BundleErrorCode.SignatureMalformed, `JWS ${what} is not a JSON object`)
  }
  return value as Record<string, unknown>
}

function decodeJsonObject(part: string, what: string): Record<string, unknown> {
  if (!BASE64URL.test(part)) fail(BundleErrorCode.SignatureMalformed, `JWS ${what} is not base64url`)
  return jsonObject(Buffer.from(part, 'base64url').toString('utf8'), what)
}

function optionalString(obj: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = obj[key]
  if (v === undefined) return undefined
  if (typeof v !== 'string') fail(BundleErrorCode.SignatureMalformed, `${where} ${key} must be a string`)
  return v
}

/** The single JWS of a `.signatures.json`, after size and shape checks. */
function readSignaturesFile(bytes: Uint8Array, max: number): string {
  if (bytes.length > max) fail(BundleErrorCode.TooLarge, `${SIGNATURES_FILE} is ${bytes.length} bytes (limit ${max})`)
  let doc: unknown
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes))
  } catch (err) {
    fail(BundleErrorCode.SignatureMalformed, `${SIGNATURES_FILE} is not JSON`, err)
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    fail(BundleErrorCode.SignatureMalformed, `${SIGNATURES_FILE} must hold an object`)
  }
  const { signatures, plugin } = doc as Record<string, unknown>
  if (plugin !== undefined && plugin !== '') {
    fail(BundleErrorCode.SignatureMalformed, `${SIGNATURES_FILE} names verifier plugin ${JSON.stringify(plugin)}; only the default verifier is supported`)
  }
  if (!Array.isArray(signatures) || signatures.length !== 1 || typeof signatures[0] !== 'string') {
    fail(BundleErrorCode.SignatureMalformed, `${SIGNATURES_FILE} must hold exactly one JWS in signatures`)
  }
  return signatures[0]
}

/** The payload's file list, checked: plain bundle paths, each once, a known digest in hex. */
function signedFiles(payload: Record<string, unknown>): Map<string, SignedFile> {
  const { files } = payload
  if (!Array.isArray(files)) fail(BundleErrorCode.SignatureMalformed, 'signature payload has no files array')
  const out = new Map<string, SignedFile>()
  for (const [i, f] of files.entries()) {
    const entry = f as Record<string, unknown> | null
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      fail(BundleErrorCode.SignatureMalformed, `signed file ${i} is not an object`)
    }
    const { name, hash, algorithm } = entry
    if (typeof name !== 'string' || typeof hash !== 'string' || typeof algorithm !== 'string') {
      fail(BundleErrorCode.SignatureMalformed, `signed file ${i} needs string name, hash and algorithm`)
    }
    let normalized: string | undefined
    try {
      normalized = normalizeEntryName(name)
    } catch {
      normalized = undefined
    }
    // Names must already be in the form the bundle's own are: `a/b`, no `/a`, `./a`, `a//b`, `..`.
    if (normalized !== name || name === '') {
      fail(BundleErrorCode.PathTraversal, `signed file name ${JSON.stringify(name)} is not a plain bundle path`)
    }
    if (name === SIGNATURES_FILE) fail(BundleErrorCode.SignatureMalformed, `the signature lists ${SIGNATURES_FILE} itself`)
    if (out.has(name)) fail(BundleErrorCode.SignatureMalformed, `signed file ${name} is listed twice`)
    if (WEAK_HASHES.has(algorithm)) {
      fail(BundleErrorCode.SignatureMalformed, `signed file ${name} uses ${algorithm}, which is not accepted (use SHA-256)`)
    }
    if (!(HASH_ALGORITHMS as readonly string[]).includes(algorithm)) {
      fail(BundleErrorCode.SignatureMalformed, `signed file ${name} uses unknown hash algorithm ${JSON.stringify(algorithm)}`)
    }
    if (!/^[0-9a-fA-F]+$/.test(hash)) fail(BundleErrorCode.SignatureMalformed, `signed file ${name} has a hash that is not hex`)
    out.set(name, { name, hash: hash.toLowerCase(), algorithm })
  }
  return out
}

/**
 * Verifies a bundle's signature against its files (every name in `files`, as read from the
 * archive or directory). Resolves with what the signature said, or rejects with a
 * {@link BundleError}: `ERR_BUNDLE_SIGNATURE_MISSING`, `_MALFORMED`, `_ALG`, `_KEY_ID`, `_SCOPE`,
 * `ERR_BUNDLE_SIGNATURE`, `ERR_BUNDLE_FILE_UNSIGNED`, `_DIGEST`, `_NOT_FOUND`, `ERR_BUNDLE_PATH` or
 * `ERR_BUNDLE_TOO_LARGE`.
 *
 * @example
 * const key = await loadVerificationKey('bundle-signing.pub.pem')
 * await verifyBundleFiles(bundle.files, { key, scope: 'trades' })
 */
export async function verifyBundleFiles(
  files: ReadonlyMap<string, Uint8Array>,
  options: VerifyBundleOptions,
): Promise<BundleSignature> {
  const raw = files.get(SIGNATURES_FILE)
  if (raw === undefined) {
    fail(BundleErrorCode.SignatureMissing, `bundle missing ${SIGNATURES_FILE} file, but a verification key is configured`)
  }
  const jws = readSignaturesFile(raw, options.maxSignaturesBytes ?? DEFAULT_MAX_SIGNATURES_BYTES)
  const parts = jws.split('.')
  if (parts.length !== 3) fail(BundleErrorCode.SignatureMalformed, 'the signature is not a compact JWS (header.payload.signature)')
  const header = decodeJsonObject(parts[0]!, 'header')
  const claimed = decodeJsonObject(parts[1]!, 'payload')
  if (typeof header.alg !== 'string') fail(BundleErrorCode.SignatureMalformed, 'JWS header has no alg')
  // Unencoded payloads (b64) and critical extensions change what is signed; OPA uses neither.
  if (header.crit !== undefined || header.b64 !== undefined) {
    fail(BundleErrorCode.SignatureMalformed, 'JWS header crit and b64 are not supported')
  }

  // Key id: the configured one, else the JWS kid, else the deprecated keyid claim (OPA's order).
  const keyId =
    (options.keyId !== undefined && options.keyId !== '' ? options.keyId : undefined) ??
    (optionalString(header, 'kid', 'JWS header') || undefined) ??
    (optionalString(claimed, 'keyid', 'signature payload') || undefined)
  const entry = options.key.select(keyId)
  if (header.alg !== entry.algorithm) {
    fail(BundleErrorCode.SignatureAlgorithm, `signature alg ${JSON.stringify(header.alg)} is not allowed (the key is for ${entry.algorithm})`)
  }
  let payloadBytes: Uint8Array
  try {
    payloadBytes = (await compactVerify(jws, entry.key, { algorithms: [entry.algorithm] })).payload
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (code === 'ERR_JWS_INVALID') fail(BundleErrorCode.SignatureMalformed, `the signature is not a valid JWS: ${(err as Error).message}`, err)
    fail(BundleErrorCode.SignatureInvalid, 'bundle signature does not verify with the configured key', err)
  }
  const payload = jsonObject(new TextDecoder().decode(payloadBytes), 'payload')

  const scope = optionalString(payload, 'scope', 'signature payload') ?? ''
  const wanted = options.scope ?? ''
  if (scope !== wanted) {
    fail(BundleErrorCode.SignatureScope, `scope mismatch: the bundle is signed for ${JSON.stringify(scope)}, expected ${JSON.stringify(wanted)}`)
  }
  const listed = signedFiles(payload)
  const remaining = new Map(listed)
  for (const name of [...files.keys()].sort(compareCodePoints)) {
    if (name === SIGNATURES_FILE) continue
    const want = remaining.get(name)
    if (want === undefined) fail(BundleErrorCode.FileUnsigned, `file ${name} not included in bundle signature`)
    const got = hashBundleFile(name, files.get(name)!, want.algorithm as HashAlgorithm)
    if (got !== want.hash) fail(BundleErrorCode.FileDigest, `${name}: digest mismatch (want ${want.hash}, got ${got})`)
    remaining.delete(name)
  }
  if (remaining.size > 0) {
    const name = [...remaining.keys()].sort(compareCodePoints)[0]!
    fail(BundleErrorCode.FileNotFound, `file ${name} specified in bundle signature but not found in the bundle`)
  }

  const result: BundleSignature = { algorithm: entry.algorithm, files: [...listed.values()] }
  if (keyId !== undefined) result.keyId = keyId
  if (scope !== '') result.scope = scope
  const iss = payload.iss
  if (typeof iss === 'string') result.issuer = iss
  if (typeof payload.iat === 'number') result.issuedAt = payload.iat
  return result
}
