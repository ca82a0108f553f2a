/**
 * `json.verify_schema` and `json.match_schema` over a JSON Schema subset (draft 4-7 keywords for
 * types, objects, arrays, strings, numbers, enums and combinators; local `$ref` to `#/...`).
 * Error texts follow gojsonschema's wording where it is known, not exactly.
 *
 * @module
 */
import { badOperand, builtinError } from './errors.js'
import { equalValues } from './value.js'

type Schema = Record<string, unknown> | boolean

interface SchemaError {
  error: string
  type: string
  field: string
  desc: string
}

const TYPES = new Set(['null', 'boolean', 'object', 'array', 'number', 'integer', 'string'])

function schemaOf(name: string, pos: number, v: unknown): Schema {
  let s = v
  if (typeof v === 'string') {
    try {
      s = JSON.parse(v)
    } catch (e) {
      throw builtinError(name, `invalid JSON: ${(e as Error).message}`)
    }
  }
  if (typeof s === 'boolean') return s
  if (s === null || typeof s !== 'object' || Array.isArray(s))
    return badOperand(name, pos, 'one of {string, object}', v)
  return s as Record<string, unknown>
}

function check(schema: Schema): string | undefined {
  if (typeof schema === 'boolean') return undefined
  const t = schema.type
  const types = Array.isArray(t) ? t : t === undefined ? [] : [t]
  for (const x of types)
    if (typeof x !== 'string' || !TYPES.has(x))
      return `has a primitive type that is NOT VALID -- given: /${String(x)}/ Expected valid values are:/array/ /boolean/ /integer/ /number/ /null/ /object/ /string/`
  if (schema.required !== undefined && !Array.isArray(schema.required))
    return 'required must be of type array'
  for (const k of ['properties', 'definitions', '$defs', 'patternProperties']) {
    const p = schema[k]
    if (p === undefined) continue
    if (p === null || typeof p !== 'object' || Array.isArray(p))
      return `${k} must be of type object`
    for (const sub of Object.values(p)) {
      const e = check(sub as Schema)
      if (e) return e
    }
  }
  for (const k of ['items', 'additionalProperties', 'not', 'contains']) {
    const p = schema[k]
    if (p !== undefined && typeof p !== 'boolean') {
      const subs = Array.isArray(p) ? p : [p]
      for (const sub of subs) {
        if (sub === null || typeof sub !== 'object') return `${k} must be of type object`
        const e = check(sub as Schema)
        if (e) return e
      }
    }
  }
  for (const k of ['allOf', 'anyOf', 'oneOf']) {
    const p = schema[k]
    if (p === undefined) continue
    if (!Array.isArray(p) || p.length === 0) return `${k} must be of type array`
    for (const sub of p) {
      const e = check(sub as Schema)
      if (e) return e
    }
  }
  return undefined
}

function typeOf(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number'
  return typeof v
}

function resolve(root: Schema, ref: string): Schema {
  if (!ref.startsWith('#')) throw new Error(`unsupported $ref ${ref}`)
  let cur: unknown = root
  for (const seg of ref.slice(1).split('/').filter(Boolean)) {
    cur = (cur as Record<string, unknown> | undefined)?.[
      seg.replaceAll('~1', '/').replaceAll('~0', '~')
    ]
  }
  if (cur === undefined) throw new Error(`unresolved $ref ${ref}`)
  return cur as Schema
}

function validate(root: Schema, s: Schema, v: unknown, field: string, errs: SchemaError[]): void {
  const add = (type: string, desc: string): void => {
    errs.push({ error: `${field}: ${desc}`, type, field, desc })
  }
  if (s === true) return
  if (s === false) return add('false', 'False always fails validation')
  if (typeof s.$ref === 'string') return validate(root, resolve(root, s.$ref), v, field, errs)
  const vt = typeOf(v)
  if (s.type !== undefined) {
    const types = (Array.isArray(s.type) ? s.type : [s.type]) as string[]
    const ok = types.some((t) => t === vt || (t === 'number' && vt === 'integer'))
    if (!ok) return add('invalid_type', `Invalid type. Expected: ${types.join(', ')}, given: ${vt}`)
  }
  if (Array.isArray(s.enum) && !s.enum.some((e) => equalValues(e, v))) {
    add(
      'enum',
      `${field} must be one of the following: ${s.enum.map((e) => JSON.stringify(e)).join(', ')}`,
    )
  }
  if ('const' in s && !equalValues(s.const, v))
    add('const', `${field} does not match: ${JSON.stringify(s.const)}`)
  if (typeof v === 'string') {
    const len = Array.from(v).length
    if (typeof s.minLength === 'number' && len < s.minLength)
      add('string_gte', `String length must be greater than or equal to ${s.minLength}`)
    if (typeof s.maxLength === 'number' && len > s.maxLength)
      add('string_lte', `String length must be less than or equal to ${s.maxLength}`)
    if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(v))
      add('pattern', `Does not match pattern '${s.pattern}'`)
  }
  if (typeof v === 'number') {
    if (
      typeof s.minimum === 'number' &&
      (s.exclusiveMinimum === true ? v <= s.minimum : v < s.minimum)
    )
      add('number_gte', `Must be greater than or equal to ${s.minimum}`)
    if (
      typeof s.maximum === 'number' &&
      (s.exclusiveMaximum === true ? v >= s.maximum : v > s.maximum)
    )
      add('number_lte', `Must be less than or equal to ${s.maximum}`)
    if (typeof s.exclusiveMinimum === 'number' && v <= s.exclusiveMinimum)
      add('number_gt', `Must be greater than ${s.exclusiveMinimum}`)
    if (typeof s.exclusiveMaximum === 'number' && v >= s.exclusiveMaximum)
      add('number_lt', `Must be less than ${s.exclusiveMaximum}`)
    if (typeof s.multipleOf === 'number' && !Number.isInteger(v / s.multipleOf))
      add('multiple_of', `Must be a multiple of ${s.multipleOf}`)
  }
  if (Array.isArray(v)) {
    if (typeof s.minItems === 'number' && v.length < s.minItems)
      add('array_min_items', `Array must have at least ${s.minItems} items`)
    if (typeof s.maxItems === 'number' && v.length > s.maxItems)
      add('array_max_items', `Array must have at most ${s.maxItems} items`)
    if (s.uniqueItems === true && v.some((e, i) => v.findIndex((x) => equalValues(x, e)) !== i))
      add('unique', 'array items must be unique')
    if (Array.isArray(s.items))
      s.items.forEach(
        (sub, i) => i < v.length && validate(root, sub as Schema, v[i], `${field}.${i}`, errs),
      )
    else if (s.items !== undefined)
      v.forEach((e, i) => validate(root, s.items as Schema, e, `${field}.${i}`, errs))
    if (s.contains !== undefined && !v.some((e) => matches(root, s.contains as Schema, e)))
      add('contains', 'At least one of the items must match')
  }
  if (vt === 'object') {
    const o = v as Record<string, unknown>
    for (const r of (s.required as string[] | undefined) ?? []) {
      if (!(r in o)) add('required', `${r} is required`)
    }
    const props = (s.properties ?? {}) as Record<string, Schema>
    const patterns = (s.patternProperties ?? {}) as Record<string, Schema>
    for (const [k, e] of Object.entries(o)) {
      const sub = field === '(root)' ? k : `${field}.${k}`
      let known = false
      if (k in props) {
        known = true
        validate(root, props[k]!, e, sub, errs)
      }
      for (const [p, ps] of Object.entries(patterns)) {
        if (new RegExp(p, 'u').test(k)) {
          known = true
          validate(root, ps, e, sub, errs)
        }
      }
      if (!known && s.additionalProperties !== undefined) {
        if (s.additionalProperties === false)
          add('additional_property_not_allowed', `Additional property ${k} is not allowed`)
        else validate(root, s.additionalProperties as Schema, e, sub, errs)
      }
    }
    if (typeof s.minProperties === 'number' && Object.keys(o).length < s.minProperties)
      add('array_min_properties', `Must have at least ${s.minProperties} properties`)
    if (typeof s.maxProperties === 'number' && Object.keys(o).length > s.maxProperties)
      add('array_max_properties', `Must have at most ${s.maxProperties} properties`)
  }
  if (Array.isArray(s.allOf))
    for (const sub of s.allOf) validate(root, sub as Schema, v, field, errs)
  if (Array.isArray(s.anyOf) && !s.anyOf.some((sub) => matches(root, sub as Schema, v)))
    add('number_any_of', 'Must validate at least one schema (anyOf)')
  if (
    Array.isArray(s.oneOf) &&
    s.oneOf.filter((sub) => matches(root, sub as Schema, v)).length !== 1
  )
    add('number_one_of', 'Must validate one and only one schema (oneOf)')
  if (s.not !== undefined && matches(root, s.not as Schema, v))
    add('number_not', 'Must not validate the schema (not)')
}

function matches(root: Schema, s: Schema, v: unknown): boolean {
  const errs: SchemaError[] = []
  validate(root, s, v, '(root)', errs)
  return errs.length === 0
}

/** `json.verify_schema(schema)`: `[true, null]` or `[false, message]`. */
export function jsonVerifySchema(schema: unknown): [boolean, string | null] {
  let s: Schema
  try {
    s = schemaOf('json.verify_schema', 1, schema)
  } catch (e) {
    if ((e as { code?: string }).code === 'eval_type_error') throw e
    return [false, (e as Error).message]
  }
  const err = check(s)
  return err ? [false, err] : [true, null]
}

/** `json.match_schema(document, schema)`: `[matches, errors]`. */
export function jsonMatchSchema(document: unknown, schema: unknown): [boolean, SchemaError[]] {
  let doc = document
  if (typeof document === 'string') {
    try {
      doc = JSON.parse(document)
    } catch (e) {
      throw builtinError('json.match_schema', `invalid JSON: ${(e as Error).message}`)
    }
  }
  const s = schemaOf('json.match_schema', 2, schema)
  const bad = check(s)
  if (bad) throw builtinError('json.match_schema', bad)
  const errs: SchemaError[] = []
  try {
    validate(s, s, doc, '(root)', errs)
  } catch (e) {
    throw builtinError('json.match_schema', (e as Error).message)
  }
  return [errs.length === 0, errs]
}
