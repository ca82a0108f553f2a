/**
 * The builtins the wasm runtime implements natively: Rego name → runtime function and arity.
 * Every other builtin a policy calls is delegated to the host through `opa_builtinN`.
 *
 * @module
 */

/** Rego builtin name → [runtime C function, number of arguments]. */
export const NATIVE_TABLE: Readonly<Record<string, readonly [string, number]>> = {
  plus: ['vd_bi_plus', 2],
  minus: ['vd_bi_minus', 2],
  mul: ['vd_bi_mul', 2],
  div: ['vd_bi_div', 2],
  rem: ['vd_bi_rem', 2],
  abs: ['vd_bi_abs', 1],
  round: ['vd_bi_round', 1],
  ceil: ['vd_bi_ceil', 1],
  floor: ['vd_bi_floor', 1],
  equal: ['vd_bi_equal', 2],
  neq: ['vd_bi_neq', 2],
  lt: ['vd_bi_lt', 2],
  lte: ['vd_bi_lte', 2],
  gt: ['vd_bi_gt', 2],
  gte: ['vd_bi_gte', 2],
  'bits.or': ['vd_bi_bits_or', 2],
  'bits.and': ['vd_bi_bits_and', 2],
  'bits.negate': ['vd_bi_bits_negate', 1],
  'bits.xor': ['vd_bi_bits_xor', 2],
  'bits.lsh': ['vd_bi_bits_lsh', 2],
  'bits.rsh': ['vd_bi_bits_rsh', 2],
  and: ['vd_bi_and', 2],
  or: ['vd_bi_or', 2],
  intersection: ['vd_bi_intersection', 1],
  union: ['vd_bi_union', 1],
  count: ['vd_bi_count', 1],
  sum: ['vd_bi_sum', 1],
  product: ['vd_bi_product', 1],
  max: ['vd_bi_max', 1],
  min: ['vd_bi_min', 1],
  sort: ['vd_bi_sort', 1],
  all: ['vd_bi_all', 1],
  any: ['vd_bi_any', 1],
  is_number: ['vd_bi_is_number', 1],
  is_string: ['vd_bi_is_string', 1],
  is_boolean: ['vd_bi_is_boolean', 1],
  is_array: ['vd_bi_is_array', 1],
  is_set: ['vd_bi_is_set', 1],
  is_object: ['vd_bi_is_object', 1],
  is_null: ['vd_bi_is_null', 1],
  type_name: ['vd_bi_type_name', 1],
  'array.concat': ['vd_bi_array_concat', 2],
  'array.slice': ['vd_bi_array_slice', 3],
  'array.reverse': ['vd_bi_array_reverse', 1],
  'object.get': ['vd_bi_object_get', 3],
  'object.keys': ['vd_bi_object_keys', 1],
  'object.remove': ['vd_bi_object_remove', 2],
  'object.union': ['vd_bi_object_union', 2],
  'object.union_n': ['vd_bi_object_union_n', 1],
  'object.filter': ['vd_bi_object_filter', 2],
  'internal.member_2': ['vd_bi_member_2', 2],
  'internal.member_3': ['vd_bi_member_3', 3],
  cast_array: ['vd_bi_cast_array', 1],
  cast_set: ['vd_bi_cast_set', 1],
  walk: ['vd_bi_walk', 1],
}

/** Names of the builtins compiled to native calls into the runtime. */
export const NATIVE_BUILTINS: ReadonlySet<string> = new Set(Object.keys(NATIVE_TABLE))
