/**
 * Declarations of Rego's builtin functions: name, arity, and who provides them at run time.
 * The planner reads it to tell `count(x, n)` (output argument) from `count(x)`, and to reject
 * calls of builtins nobody provides at build time; the codegen reads `provider`.
 *
 * @module
 */

/**
 * Who evaluates a builtin:
 * - `native`: code inside the compiled module (the wasm runtime);
 * - `host`: delegated through `opa_builtinN` to the host (opa-wasm's own JS builtins or
 *   Verdict's engine/builtins);
 * - `planner`: compiled away by the planner (`eq`, `assign`, `internal.member_2`, ...).
 */
export type BuiltinProvider = 'native' | 'host' | 'planner'

export interface BuiltinDecl {
  /** Rego name, e.g. `count`, `strings.replace_n`, `plus` (for `+`). */
  name: string
  /** Number of input arguments (the result is not counted). */
  arity: number
  /** False for void builtins such as `print` (no result). */
  result: boolean
  provider: BuiltinProvider
  /** Infix spelling, when there is one (`+`, `==`, `in`, ...). */
  infix?: string
  /**
   * The result is a set. Host builtins cannot return sets through JSON, so the codegen turns
   * their array result into a set after the call.
   */
  returnsSet?: boolean
  /**
   * A relation (e.g. `walk`): its result is a collection that the planner scans, binding the
   * output argument to each element.
   */
  relation?: boolean
  /** Non-deterministic (time, random, http): not cached, recorded in audit. */
  nondeterministic?: boolean
  /** Takes any number of arguments (`print`); `arity` is then the minimum. */
  variadic?: boolean
  /** Deprecated in OPA; still callable. */
  deprecated?: boolean
}

type Flags = Omit<BuiltinDecl, 'name' | 'arity' | 'provider'>

function native(name: string, arity: number, flags: Flags = { result: true }): BuiltinDecl {
  return { name, arity, provider: 'native', ...flags }
}

function host(name: string, arity: number, flags: Partial<Flags> = {}): BuiltinDecl {
  return { name, arity, provider: 'host', result: true, ...flags }
}

const ND = { nondeterministic: true } as const
const SET = { returnsSet: true } as const
const OLD = { deprecated: true } as const

/**
 * OPA's default builtin set (names and arities as in OPA's capabilities file), with the
 * provider that evaluates each one in a Verdict-compiled module.
 */
export const BUILTINS: readonly BuiltinDecl[] = [
  // Compiled away by the planner.
  { name: 'eq', arity: 2, result: true, provider: 'planner', infix: '=' },
  { name: 'assign', arity: 2, result: true, provider: 'planner', infix: ':=' },

  // Comparison.
  native('equal', 2, { result: true, infix: '==' }),
  native('neq', 2, { result: true, infix: '!=' }),
  native('lt', 2, { result: true, infix: '<' }),
  native('lte', 2, { result: true, infix: '<=' }),
  native('gt', 2, { result: true, infix: '>' }),
  native('gte', 2, { result: true, infix: '>=' }),

  // Arithmetic and sets.
  native('plus', 2, { result: true, infix: '+' }),
  native('minus', 2, { result: true, infix: '-' }),
  native('mul', 2, { result: true, infix: '*' }),
  native('div', 2, { result: true, infix: '/' }),
  native('rem', 2, { result: true, infix: '%' }),
  native('abs', 1),
  native('round', 1),
  native('ceil', 1),
  native('floor', 1),
  host('numbers.range', 2),
  host('numbers.range_step', 3),
  host('rand.intn', 2, ND),
  native('and', 2, { result: true, infix: '&' }),
  native('or', 2, { result: true, infix: '|' }),
  native('intersection', 1),
  native('union', 1),
  host('set_diff', 2, { ...OLD, ...SET }),

  // Bits.
  native('bits.or', 2),
  native('bits.and', 2),
  native('bits.negate', 1),
  native('bits.xor', 2),
  native('bits.lsh', 2),
  native('bits.rsh', 2),

  // Aggregates.
  native('count', 1),
  native('sum', 1),
  native('product', 1),
  native('max', 1),
  native('min', 1),
  native('sort', 1),
  native('all', 1, { result: true, deprecated: true }),
  native('any', 1, { result: true, deprecated: true }),

  // Arrays.
  native('array.concat', 2),
  native('array.slice', 3),
  native('array.reverse', 1),
  host('array.flatten', 1),

  // Membership.
  native('internal.member_2', 2, { result: true, infix: 'in' }),
  native('internal.member_3', 3, { result: true, infix: 'in' }),

  // Objects.
  native('object.get', 3),
  native('object.keys', 1),
  native('object.remove', 2),
  native('object.union', 2),
  native('object.union_n', 1),
  native('object.filter', 2),
  host('object.subset', 2),
  host('json.filter', 2),
  host('json.remove', 2),
  host('json.patch', 2),

  // Types.
  native('is_number', 1),
  native('is_string', 1),
  native('is_boolean', 1),
  native('is_array', 1),
  native('is_set', 1),
  native('is_object', 1),
  native('is_null', 1),
  native('type_name', 1),

  // Casts and conversions.
  native('cast_array', 1, { result: true, deprecated: true }),
  native('cast_set', 1, { result: true, deprecated: true }),
  host('cast_string', 1, OLD),
  host('cast_boolean', 1, OLD),
  host('cast_null', 1, OLD),
  host('cast_object', 1, OLD),
  host('to_number', 1),

  // Strings.
  host('concat', 2),
  host('contains', 2),
  host('endswith', 2),
  host('format_int', 2),
  host('indexof', 2),
  host('indexof_n', 2),
  host('lower', 1),
  host('replace', 3),
  host('split', 2),
  host('sprintf', 2),
  host('startswith', 2),
  host('strings.any_prefix_match', 2),
  host('strings.any_suffix_match', 2),
  host('strings.count', 2),
  host('strings.render_template', 2),
  host('strings.replace_n', 2),
  host('strings.reverse', 1),
  host('strings.split_n', 3),
  host('substring', 3),
  host('trim', 2),
  host('trim_left', 2),
  host('trim_prefix', 2),
  host('trim_right', 2),
  host('trim_suffix', 2),
  host('trim_space', 1),
  host('upper', 1),

  // Regular expressions and globs.
  host('re_match', 2, OLD),
  host('regex.match', 2),
  host('regex.is_valid', 1),
  host('regex.split', 2),
  host('regex.find_n', 3),
  host('regex.find_all_string_submatch_n', 3),
  host('regex.globs_match', 2),
  host('regex.template_match', 4),
  host('regex.replace', 3),
  host('glob.match', 3),
  host('glob.quote_meta', 1),

  // Units, semver, uuid.
  host('units.parse', 1),
  host('units.parse_bytes', 1),
  host('semver.is_valid', 1),
  host('semver.compare', 2),
  host('uuid.rfc4122', 1, ND),
  host('uuid.parse', 1),

  // Encoding.
  host('base64.encode', 1),
  host('base64.decode', 1),
  host('base64.is_valid', 1),
  host('base64url.encode', 1),
  host('base64url.encode_no_pad', 1),
  host('base64url.decode', 1),
  host('hex.encode', 1),
  host('hex.decode', 1),
  host('json.marshal', 1),
  host('json.marshal_with_options', 2),
  host('json.unmarshal', 1),
  host('json.is_valid', 1),
  host('json.verify_schema', 1),
  host('json.match_schema', 2),
  host('urlquery.encode', 1),
  host('urlquery.decode', 1),
  host('urlquery.encode_object', 1),
  host('urlquery.decode_object', 1),
  host('yaml.marshal', 1),
  host('yaml.unmarshal', 1),
  host('yaml.is_valid', 1),

  // Tokens.
  host('io.jwt.decode', 1),
  host('io.jwt.decode_verify', 2, ND),
  host('io.jwt.verify_rs256', 2),
  host('io.jwt.verify_rs384', 2),
  host('io.jwt.verify_rs512', 2),
  host('io.jwt.verify_ps256', 2),
  host('io.jwt.verify_ps384', 2),
  host('io.jwt.verify_ps512', 2),
  host('io.jwt.verify_es256', 2),
  host('io.jwt.verify_es384', 2),
  host('io.jwt.verify_es512', 2),
  host('io.jwt.verify_eddsa', 2),
  host('io.jwt.verify_hs256', 2),
  host('io.jwt.verify_hs384', 2),
  host('io.jwt.verify_hs512', 2),
  host('io.jwt.encode_sign', 3, ND),
  host('io.jwt.encode_sign_raw', 3, ND),

  // Time.
  host('time.now_ns', 0, ND),
  host('time.parse_ns', 2),
  host('time.parse_rfc3339_ns', 1),
  host('time.parse_duration_ns', 1),
  host('time.format', 1),
  host('time.date', 1),
  host('time.clock', 1),
  host('time.weekday', 1),
  host('time.add_date', 4),
  host('time.diff', 2),

  // Crypto.
  host('crypto.md5', 1),
  host('crypto.sha1', 1),
  host('crypto.sha256', 1),
  host('crypto.hmac.md5', 2),
  host('crypto.hmac.sha1', 2),
  host('crypto.hmac.sha256', 2),
  host('crypto.hmac.sha512', 2),
  host('crypto.hmac.equal', 2),
  host('crypto.x509.parse_certificates', 1),
  host('crypto.x509.parse_and_verify_certificates', 1, ND),
  host('crypto.x509.parse_and_verify_certificates_with_options', 2, ND),
  host('crypto.x509.parse_certificate_request', 1),
  host('crypto.x509.parse_keypair', 2),
  host('crypto.x509.parse_rsa_private_key', 1),
  host('crypto.parse_private_keys', 1),

  // Graphs.
  host('walk', 1, { relation: true }),
  host('graph.reachable', 2, SET),
  host('graph.reachable_paths', 2, SET),
  host('graphql.is_valid', 2),
  host('graphql.parse', 2),
  host('graphql.parse_and_verify', 2),
  host('graphql.parse_query', 1),
  host('graphql.parse_schema', 1),
  host('graphql.schema_is_valid', 1),

  // Network.
  host('net.cidr_contains', 2),
  host('net.cidr_contains_matches', 2, SET),
  host('net.cidr_expand', 1, SET),
  host('net.cidr_intersects', 2),
  host('net.cidr_is_valid', 1),
  host('net.cidr_merge', 1, SET),
  host('net.cidr_overlap', 2, OLD),
  host('net.lookup_ip_addr', 1, { ...ND, ...SET }),
  host('http.send', 1, ND),
  host('providers.aws.sign_req', 3, ND),

  // Rego and OPA.
  host('rego.parse_module', 2),
  host('rego.metadata.chain', 0),
  host('rego.metadata.rule', 0),
  host('opa.runtime', 0, ND),

  // Debugging: `print` is rewritten to `internal.print` with one array of argument sets.
  host('trace', 1),
  host('print', 0, { result: false, variadic: true }),
  host('internal.print', 1, { result: false }),
]

const BY_NAME: ReadonlyMap<string, BuiltinDecl> = new Map(BUILTINS.map((b) => [b.name, b]))

/** The declaration of the builtin called `name`, if Rego has one. */
export function getBuiltin(name: string): BuiltinDecl | undefined {
  return BY_NAME.get(name)
}
