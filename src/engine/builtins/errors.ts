/**
 * The error host builtins throw, and the operand checks that produce OPA's type error messages.
 *
 * @module
 */
import { PdpError } from '../../util/errors.js'

/** Codes a builtin error can carry; they are OPA's own strings. */
export const BuiltinErrorCodes = {
  TypeError: 'eval_type_error',
  BuiltinError: 'eval_builtin_error',
} as const

/** One of {@link BuiltinErrorCodes}. */
export type BuiltinErrorCode = (typeof BuiltinErrorCodes)[keyof typeof BuiltinErrorCodes]

/** A host builtin failed: a wrong operand type or a failure of the operation itself. */
export class BuiltinError extends PdpError {
  declare readonly code: BuiltinErrorCode

  constructor(code: BuiltinErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
  }
}

/** An `eval_builtin_error` whose message starts with the builtin's name, as OPA's do. */
export function builtinError(name: string, message: string): BuiltinError {
  return new BuiltinError('eval_builtin_error', `${name}: ${message}`)
}

/** The Rego type name of a JSON-converted value (sets arrive as arrays). */
export function typeName(v: unknown): string {
  if (v === null || v === undefined) return 'null'
  if (typeof v === 'string') return 'string'
  if (typeof v === 'number' || typeof v === 'bigint') return 'number'
  if (typeof v === 'boolean') return 'boolean'
  if (Array.isArray(v)) return 'array'
  return 'object'
}

function typeError(name: string, pos: number, want: string, v: unknown): BuiltinError {
  return new BuiltinError(
    'eval_type_error',
    `${name}: operand ${pos} must be ${want} but got ${typeName(v)}`,
  )
}

/** Checks that operand `pos` (1-based) of builtin `name` is a string. */
export function str(name: string, pos: number, v: unknown): string {
  if (typeof v !== 'string') throw typeError(name, pos, 'string', v)
  return v
}

/** Checks that operand `pos` of builtin `name` is a number. */
export function num(name: string, pos: number, v: unknown): number {
  if (typeof v !== 'number') throw typeError(name, pos, 'number', v)
  return v
}

/** Checks that operand `pos` of builtin `name` is an integer. */
export function int(name: string, pos: number, v: unknown): number {
  if (typeof v !== 'number') throw typeError(name, pos, 'number', v)
  if (!Number.isInteger(v)) {
    throw new BuiltinError(
      'eval_type_error',
      `${name}: operand ${pos} must be integer number but got floating-point number`,
    )
  }
  return v
}

/** Checks that operand `pos` of builtin `name` is a boolean. */
export function bool(name: string, pos: number, v: unknown): boolean {
  if (typeof v !== 'boolean') throw typeError(name, pos, 'boolean', v)
  return v
}

/** Checks that operand `pos` is an array or set (both arrive as arrays). */
export function arr(name: string, pos: number, v: unknown, want = 'array'): unknown[] {
  if (!Array.isArray(v)) throw typeError(name, pos, want, v)
  return v
}

/** Checks that operand `pos` is an object. */
export function obj(name: string, pos: number, v: unknown): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw typeError(name, pos, 'object', v)
  return v as Record<string, unknown>
}

/** Checks that operand `pos` is a collection of strings (array or set). */
export function strs(name: string, pos: number, v: unknown, want = 'set or array'): string[] {
  if (!Array.isArray(v)) throw typeError(name, pos, want, v)
  for (const e of v) {
    if (typeof e !== 'string') {
      throw new BuiltinError(
        'eval_type_error',
        `${name}: operand ${pos} must be ${want} of strings but got ${want.split(' ')[0]} containing ${typeName(e)}`,
      )
    }
  }
  return v as string[]
}

/** Throws OPA's type error for operand `pos` with a custom expectation. */
export function badOperand(name: string, pos: number, want: string, v: unknown): never {
  throw typeError(name, pos, want, v)
}
