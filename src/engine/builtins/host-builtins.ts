/**
 * The host builtins handed to opa-wasm's `loadPolicy` as `customBuiltins`, and the names
 * Verdict provides. Each implementation is a pure function in a group file; this file wires
 * them to their Rego names, applies the strict/non-strict error rule, and keeps exact integers
 * (BigInt results) exact on their way back into the module.
 *
 * @module
 */
import * as crypto from './crypto.js'
import * as enc from './encoding.js'
import { globMatch, globQuoteMeta } from './glob.js'
import {
  JWT_VERIFIERS,
  createJwtDecodeVerify,
  jwtDecode,
  jwtEncodeSign,
  jwtEncodeSignRaw,
} from './jwt.js'
import * as misc from './misc.js'
import * as net from './net.js'
import * as objects from './objects.js'
import * as re from './regex.js'
import { semverCompare, semverIsValid } from './semver.js'
import { jsonMatchSchema, jsonVerifySchema } from './schema.js'
import { sprintf } from './sprintf.js'
import { renderTemplate } from './template.js'
import * as s from './strings.js'
import * as time from './time.js'
import { unitsParse, unitsParseBytes } from './units.js'
import { formatNumber } from './value.js'
import { PdpError } from '../../util/errors.js'

/** A host builtin: JSON-converted arguments in, a JSON value (or undefined) out. */
export type HostBuiltin = (...args: any[]) => unknown

/** Options of {@link createHostBuiltins}. */
export interface HostBuiltinOptions {
  /** Throw builtin errors (OPA's `strict-builtin-errors`); otherwise the call is undefined. */
  strict: boolean
  /**
   * The evaluation's clock in ns since the epoch. Called once per evaluation (per synchronous
   * run); without it, the wall clock is read once per evaluation.
   */
  now?: () => bigint
  /** Extra builtins by Rego name; they take precedence over Verdict's. */
  custom?: Record<string, (...args: unknown[]) => unknown>
  /** Where `print` and `trace` output goes; stderr by default. */
  print?: (message: string) => void
  /** What `opa.runtime()` returns; `{}` by default. */
  runtime?: Record<string, unknown>
}

/**
 * Builtins that opa-wasm implements itself and looks up before `customBuiltins`, so Verdict's
 * versions (Go `fmt` sprintf, Go regexp split, `false` for non-string `*.is_valid`) are not
 * reached under those names. Each is also registered as `verdict:<name>`
 * ({@link SHADOWED_ALIAS_PREFIX}), so a code generator may call Verdict's version by that name.
 */
export const OPA_WASM_SHADOWED: ReadonlySet<string> = new Set([
  'sprintf',
  'regex.split',
  'json.is_valid',
  'yaml.is_valid',
  'yaml.marshal',
  'yaml.unmarshal',
])

/** Prefix of the alias names under which {@link OPA_WASM_SHADOWED} builtins are registered. */
export const SHADOWED_ALIAS_PREFIX = 'verdict:'

/**
 * Host builtins Verdict does not implement, with the reason. Calling one in a policy fails at
 * evaluation time with opa-wasm's "not implemented" error unless `custom` supplies it.
 */
export const NOT_PROVIDED: Readonly<Record<string, string>> = {
  'http.send': 'no network access from policies in the sidecar',
  'net.lookup_ip_addr': 'no network access from policies in the sidecar',
  'providers.aws.sign_req': 'no network access from policies in the sidecar',
  'crypto.x509.parse_certificates': 'certificate parsing is not implemented',
  'crypto.x509.parse_and_verify_certificates': 'certificate parsing is not implemented',
  'crypto.x509.parse_and_verify_certificates_with_options':
    'certificate parsing is not implemented',
  'crypto.x509.parse_certificate_request': 'certificate parsing is not implemented',
  'crypto.x509.parse_keypair': 'certificate parsing is not implemented',
  'crypto.x509.parse_rsa_private_key': 'private keys have no place in the sidecar',
  'crypto.parse_private_keys': 'private keys have no place in the sidecar',
  'graphql.is_valid': 'needs a GraphQL parser',
  'graphql.parse': 'needs a GraphQL parser',
  'graphql.parse_and_verify': 'needs a GraphQL parser',
  'graphql.parse_query': 'needs a GraphQL parser',
  'graphql.parse_schema': 'needs a GraphQL parser',
  'graphql.schema_is_valid': 'needs a GraphQL parser',
  'rego.parse_module': 'the engine does not include the Rego parser',
  'rego.metadata.chain': 'resolved by the compiler, never called at run time',
  'rego.metadata.rule': 'resolved by the compiler, never called at run time',
  print: 'rewritten to internal.print by the compiler',
}

/** A value that is fixed for one synchronous run and forgotten afterwards. */
function perRun<T>(make: () => T): () => T {
  let value: T | undefined
  return () => {
    if (value === undefined) {
      value = make()
      queueMicrotask(() => {
        value = undefined
      })
    }
    return value
  }
}

function hasBigInt(v: unknown): boolean {
  if (typeof v === 'bigint') return true
  if (v === null || typeof v !== 'object') return false
  return Object.values(v).some(hasBigInt)
}

function toJson(v: unknown): string {
  if (typeof v === 'bigint') return formatNumber(v)
  if (Array.isArray(v)) return `[${v.map(toJson).join(',')}]`
  if (v !== null && typeof v === 'object') {
    return `{${Object.entries(v)
      .map(([k, e]) => `${JSON.stringify(k)}:${toJson(e)}`)
      .join(',')}}`
  }
  return JSON.stringify(v) ?? 'null'
}

/**
 * A result for opa-wasm: plain values as they are (it JSON-encodes them); values holding BigInts
 * as pre-encoded JSON in an ArrayBuffer, which opa-wasm passes through, so large integers such as
 * nanosecond timestamps keep every digit.
 */
function forWasm(v: unknown): unknown {
  if (!hasBigInt(v)) return v
  const bytes = new TextEncoder().encode(toJson(v))
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)
}

function implementations(
  now: () => bigint,
  sink: (m: string) => void,
  runtime?: Record<string, unknown>,
): Record<string, HostBuiltin> {
  const uuid = misc.createUuid(perRun(() => new Map<string, unknown>()))
  const randIntn = misc.createRandIntn(perRun(() => new Map<string, unknown>()))
  return {
    // strings
    concat: s.concat,
    contains: s.contains,
    endswith: s.endswith,
    format_int: s.formatInt,
    indexof: s.indexof,
    indexof_n: s.indexofN,
    lower: s.lower,
    replace: s.replace,
    split: s.split,
    sprintf,
    startswith: s.startswith,
    'strings.any_prefix_match': s.anyPrefixMatch,
    'strings.any_suffix_match': s.anySuffixMatch,
    'strings.count': s.count,
    'strings.replace_n': s.replaceN,
    'strings.render_template': renderTemplate,
    'strings.reverse': s.reverse,
    'strings.split_n': s.splitN,
    substring: s.substring,
    trim: s.trim,
    trim_left: s.trimLeft,
    trim_prefix: s.trimPrefix,
    trim_right: s.trimRight,
    trim_suffix: s.trimSuffix,
    trim_space: s.trimSpace,
    upper: s.upper,
    to_number: s.toNumber,
    'numbers.range': s.numbersRange,
    'numbers.range_step': s.numbersRangeStep,
    // regex and glob
    re_match: re.reMatch,
    'regex.match': re.regexMatch,
    'regex.is_valid': re.regexIsValid,
    'regex.split': re.regexSplit,
    'regex.find_n': re.regexFindN,
    'regex.find_all_string_submatch_n': re.regexFindAllStringSubmatchN,
    'regex.replace': re.regexReplace,
    'regex.template_match': re.regexTemplateMatch,
    'regex.globs_match': re.regexGlobsMatch,
    'glob.match': globMatch,
    'glob.quote_meta': globQuoteMeta,
    // units, semver, uuid, rand
    'units.parse': unitsParse,
    'units.parse_bytes': unitsParseBytes,
    'semver.is_valid': semverIsValid,
    'semver.compare': semverCompare,
    'uuid.rfc4122': uuid,
    'uuid.parse': misc.uuidParse,
    'rand.intn': randIntn,
    // time
    'time.now_ns': () => now(),
    'time.parse_ns': time.parseNs,
    'time.parse_rfc3339_ns': time.parseRfc3339Ns,
    'time.parse_duration_ns': time.parseDurationNs,
    'time.format': time.timeFormat,
    'time.date': time.timeDate,
    'time.clock': time.timeClock,
    'time.weekday': time.timeWeekday,
    'time.add_date': time.timeAddDate,
    'time.diff': time.timeDiff,
    // encoding
    'base64.encode': enc.base64Encode,
    'base64.decode': enc.base64Decode,
    'base64.is_valid': enc.base64IsValid,
    'base64url.encode': enc.base64urlEncode,
    'base64url.encode_no_pad': enc.base64urlEncodeNoPad,
    'base64url.decode': enc.base64urlDecode,
    'hex.encode': enc.hexEncode,
    'hex.decode': enc.hexDecode,
    'urlquery.encode': enc.urlqueryEncode,
    'urlquery.decode': enc.urlqueryDecode,
    'urlquery.encode_object': enc.urlqueryEncodeObject,
    'urlquery.decode_object': enc.urlqueryDecodeObject,
    'json.marshal': enc.jsonMarshal,
    'json.marshal_with_options': enc.jsonMarshalWithOptions,
    'json.unmarshal': enc.jsonUnmarshal,
    'json.is_valid': enc.jsonIsValid,
    'json.verify_schema': jsonVerifySchema,
    'json.match_schema': jsonMatchSchema,
    'yaml.marshal': enc.yamlMarshal,
    'yaml.unmarshal': enc.yamlUnmarshal,
    'yaml.is_valid': enc.yamlIsValid,
    // documents
    'object.subset': objects.objectSubset,
    'json.filter': objects.jsonFilter,
    'json.remove': objects.jsonRemove,
    'json.patch': objects.jsonPatch,
    walk: objects.walk,
    'graph.reachable': objects.graphReachable,
    'graph.reachable_paths': objects.graphReachablePaths,
    // network
    'net.cidr_contains': net.cidrContains,
    'net.cidr_overlap': net.cidrContains,
    'net.cidr_intersects': net.cidrIntersects,
    'net.cidr_is_valid': net.cidrIsValid,
    'net.cidr_expand': net.cidrExpand,
    'net.cidr_merge': net.cidrMerge,
    'net.cidr_contains_matches': net.cidrContainsMatches,
    // crypto and tokens
    'crypto.md5': crypto.md5,
    'crypto.sha1': crypto.sha1,
    'crypto.sha256': crypto.sha256,
    'crypto.hmac.md5': crypto.hmacMd5,
    'crypto.hmac.sha1': crypto.hmacSha1,
    'crypto.hmac.sha256': crypto.hmacSha256,
    'crypto.hmac.sha512': crypto.hmacSha512,
    'crypto.hmac.equal': crypto.hmacEqual,
    'io.jwt.decode': jwtDecode,
    'io.jwt.decode_verify': createJwtDecodeVerify(now),
    'io.jwt.encode_sign': jwtEncodeSign,
    'io.jwt.encode_sign_raw': jwtEncodeSignRaw,
    ...JWT_VERIFIERS,
    // casts and the rest
    cast_string: misc.castString,
    cast_boolean: misc.castBoolean,
    cast_null: misc.castNull,
    cast_object: misc.castObject,
    set_diff: misc.setDiff,
    'array.flatten': misc.arrayFlatten,
    'opa.runtime': misc.createOpaRuntime(runtime),
    trace: misc.createTrace(sink),
    'internal.print': (args: unknown) => {
      misc.createPrint(sink)(args)
      // Void in Rego; a defined value keeps the enclosing body going whatever the codegen does.
      return true
    },
  }
}

/** The Rego names of every host builtin Verdict implements. */
export const HOST_BUILTIN_NAMES: ReadonlySet<string> = new Set(
  Object.keys(
    implementations(
      () => 0n,
      () => {},
    ),
  ),
)

const defaultSink = (m: string): void => {
  process.stderr.write(m + '\n')
}

/**
 * Builds the `customBuiltins` map for opa-wasm's `loadPolicy`. In non-strict mode a failing
 * builtin makes its call undefined, as OPA does by default; in strict mode the
 * {@link BuiltinError} propagates out of `evaluate`. `time.now_ns` is fixed per evaluation.
 */
export function createHostBuiltins(options: HostBuiltinOptions): Record<string, HostBuiltin> {
  const clock = options.now ?? (() => BigInt(Date.now()) * 1_000_000n)
  const now = perRun(clock)
  const impls: Record<string, HostBuiltin> = {
    ...implementations(now, options.print ?? defaultSink, options.runtime),
    ...options.custom,
  }
  // Every builtin is also reachable as verdict:<name>, the names Verdict's modules use where
  // opa-wasm would shadow the host or numbers must stay exact.
  for (const name of Object.keys(impls)) impls[SHADOWED_ALIAS_PREFIX + name] = impls[name]!
  const out: Record<string, HostBuiltin> = {}
  for (const [name, fn] of Object.entries(impls)) {
    // Verdict's modules send exact-number markers only to the builtins they call under the
    // verdict: prefix (they alone are sure to reach this host).
    const exact = name.startsWith(SHADOWED_ALIAS_PREFIX)
    out[name] = (...args: unknown[]) => {
      try {
        return forWasm(fn(...(exact ? args.map(exactNumbers) : args)))
      } catch (e) {
        // Strict mode: report the error as a marker value that a Verdict-built module raises as
        // `file:row: code: message` (a JS exception would reach the caller without a location).
        if (options.strict) return strictErrorMarker(e)
        // OPA's default: an erroring builtin call is undefined. Unexpected errors (bugs) are
        // treated alike, which keeps a decision that depends on the call undefined, not wrong.
        return undefined
      }
    }
  }
  return out
}

/** The key of the value a strict host builtin returns to report an error to the module. */
export const BUILTIN_ERROR_MARKER = '__verdict_builtin_error__'

/** The key of an exact number (decimal text) that the module sends in place of a big integer. */
export const EXACT_NUMBER_MARKER = '__verdict_number__'

function strictErrorMarker(e: unknown): Record<string, unknown> {
  const code = e instanceof PdpError ? e.code : 'eval_builtin_error'
  const message = e instanceof Error ? e.message : String(e)
  return { [BUILTIN_ERROR_MARKER]: { code, message } }
}

/** Turns exact-number markers back into BigInt (integers) or numbers, deeply. */
function exactNumbers(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v
  if (Array.isArray(v)) return v.map(exactNumbers)
  const o = v as Record<string, unknown>
  const keys = Object.keys(o)
  if (keys.length === 1 && keys[0] === EXACT_NUMBER_MARKER && typeof o[EXACT_NUMBER_MARKER] === 'string') {
    const text = o[EXACT_NUMBER_MARKER] as string
    return /^-?\d+$/.test(text) ? BigInt(text) : Number(text)
  }
  const out: Record<string, unknown> = {}
  for (const k of keys) out[k] = exactNumbers(o[k])
  return out
}
