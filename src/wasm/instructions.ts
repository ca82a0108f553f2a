/**
 * An instruction emitter for one function body: declares locals and writes opcodes with their
 * LEB128 immediates, tracking structured-control depth so callers can branch by label.
 *
 * @module
 */

import { ByteWriter } from './encoding.js'

/** Value type bytes. */
export const ValTypes = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c } as const

/** Opcodes used by the code generator. */
export const Op = {
  unreachable: 0x00,
  nop: 0x01,
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  return: 0x0f,
  call: 0x10,
  callIndirect: 0x11,
  drop: 0x1a,
  select: 0x1b,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  globalGet: 0x23,
  i32Load: 0x28,
  i32Store: 0x36,
  i32Const: 0x41,
  i64Const: 0x42,
  i32Eqz: 0x45,
  i32Eq: 0x46,
  i32Ne: 0x47,
  i32LtS: 0x48,
  i32GeU: 0x4f,
  i32Add: 0x6a,
} as const

/** A label: the control depth right after its `block`/`loop` opened. */
export type Label = number

/** Builds one function body. */
export class FunctionBuilder {
  readonly #code = new ByteWriter()
  readonly #locals: number[] = []
  readonly #paramCount: number
  #depth = 0

  constructor(paramCount: number) {
    this.#paramCount = paramCount
  }

  /** Declares a new local of the given type; returns its index. */
  local(type: number = ValTypes.i32): number {
    this.#locals.push(type)
    return this.#paramCount + this.#locals.length - 1
  }

  /** Writes a bare opcode. */
  op(code: number): this {
    this.#code.u8(code)
    return this
  }

  i32Const(v: number): this {
    this.#code.u8(Op.i32Const).s32(v)
    return this
  }
  i64Const(v: bigint): this {
    this.#code.u8(Op.i64Const).s64(v)
    return this
  }
  localGet(i: number): this {
    this.#code.u8(Op.localGet).u32(i)
    return this
  }
  localSet(i: number): this {
    this.#code.u8(Op.localSet).u32(i)
    return this
  }
  localTee(i: number): this {
    this.#code.u8(Op.localTee).u32(i)
    return this
  }
  call(f: number): this {
    this.#code.u8(Op.call).u32(f)
    return this
  }
  callIndirect(type: number): this {
    this.#code.u8(Op.callIndirect).u32(type).u8(0)
    return this
  }

  /** Opens a `block` with no result; returns its label. */
  block(): Label {
    this.#code.u8(Op.block).u8(0x40)
    return ++this.#depth
  }
  /** Opens a `loop`; branching to its label continues the loop. */
  loop(): Label {
    this.#code.u8(Op.loop).u8(0x40)
    return ++this.#depth
  }
  /** Opens an `if` with no result. */
  if(): Label {
    this.#code.u8(Op.if).u8(0x40)
    return ++this.#depth
  }
  /** Closes the innermost construct. */
  end(): this {
    this.#code.u8(Op.end)
    this.#depth--
    return this
  }
  /** Branches to `label`. */
  br(label: Label): this {
    this.#code.u8(Op.br).u32(this.#depth - label)
    return this
  }
  /** Branches to `label` when the i32 on the stack is non-zero. */
  brIf(label: Label): this {
    this.#code.u8(Op.brIf).u32(this.#depth - label)
    return this
  }

  /** The finished body: local declarations, code and the final `end`. */
  finish(): Uint8Array {
    const w = new ByteWriter()
    const groups: [number, number][] = []
    for (const t of this.#locals) {
      const last = groups[groups.length - 1]
      if (last && last[1] === t) last[0]++
      else groups.push([1, t])
    }
    w.u32(groups.length)
    for (const [n, t] of groups) w.u32(n).u8(t)
    w.bytes(this.#code.finish()).u8(Op.end)
    return w.finish()
  }
}
