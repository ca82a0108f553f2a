import { describe, expect, it } from 'vitest'
import { jsonMatchSchema, jsonVerifySchema } from '../../../src/engine/builtins/schema.js'

const schema = {
  type: 'object',
  required: ['id', 'tags'],
  properties: {
    id: { type: 'integer', minimum: 1 },
    name: { type: 'string', maxLength: 3 },
    tags: { type: 'array', items: { enum: ['a', 'b'] }, uniqueItems: true },
    ref: { $ref: '#/definitions/code' },
  },
  additionalProperties: false,
  definitions: { code: { type: 'string', pattern: '^[A-Z]{2}$' } },
}

describe('schema', () => {
  it('verifies schemas given as objects or JSON text', () => {
    expect(jsonVerifySchema(schema)).toEqual([true, null])
    expect(jsonVerifySchema(JSON.stringify(schema))).toEqual([true, null])
    expect(jsonVerifySchema({ type: 'nope' })[0]).toBe(false)
    expect(jsonVerifySchema('{')[0]).toBe(false)
  })

  it('matches documents and reports each failing field', () => {
    expect(jsonMatchSchema({ id: 1, tags: ['a'], ref: 'DE' }, schema)).toEqual([true, []])
    const [ok, errs] = jsonMatchSchema(
      { id: 0, name: 'long', tags: ['a', 'a', 'c'], ref: 'x', extra: 1 },
      schema,
    )
    expect(ok).toBe(false)
    expect(errs.map((e) => `${e.field}:${e.type}`).sort()).toEqual([
      '(root):additional_property_not_allowed',
      'id:number_gte',
      'name:string_lte',
      'ref:pattern',
      'tags.2:enum',
      'tags:unique',
    ])
    expect(jsonMatchSchema('{"id": 2}', schema)[1].map((e) => e.desc)).toEqual(['tags is required'])
  })

  it('handles combinators', () => {
    const s = { anyOf: [{ type: 'string' }, { type: 'number' }], not: { const: 3 } }
    expect(jsonMatchSchema('"x"', s)[0]).toBe(true)
    expect(jsonMatchSchema(3, s)[0]).toBe(false)
    expect(jsonMatchSchema(null, s)[0]).toBe(false)
    expect(jsonMatchSchema(2, { oneOf: [{ type: 'number' }, { type: 'integer' }] })[0]).toBe(false)
  })
})
