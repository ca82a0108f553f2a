import { describe, expect, it } from 'vitest'
import {
  ByteReader,
  ByteWriter,
  FunctionBuilder,
  Op,
  ValTypes,
  addFunction,
  readModule,
  runtimeWasm,
  typeIndex,
  writeModule,
} from '../../src/wasm/index.js'
import { wasm } from './helpers.js'

describe('ByteWriter', () => {
  it('encodes LEB128 like the spec examples', () => {
    expect([...new ByteWriter().u32(624485).finish()]).toEqual([0xe5, 0x8e, 0x26])
    expect([...new ByteWriter().s32(-123456).finish()]).toEqual([0xc0, 0xbb, 0x78])
    expect([...new ByteWriter().s64(-1n).finish()]).toEqual([0x7f])
    expect([...new ByteWriter().s32(64).finish()]).toEqual([0xc0, 0x00])
  })

  it('round-trips through ByteReader', () => {
    const w = new ByteWriter().u32(0xffffffff).s32(-2147483648).name('héllo')
    const r = new ByteReader(w.finish())
    expect(r.u32()).toBe(0xffffffff)
    expect(r.s32()).toBe(-2147483648)
    expect(r.name()).toBe('héllo')
  })
})

describe('WasmModule', () => {
  it('re-encodes the runtime into a module that still compiles', () => {
    const m = readModule(runtimeWasm())
    const bytes = writeModule(m)
    expect(wasm.validate(bytes)).toBe(true)
    expect(readModule(bytes).code.length).toBe(m.code.length)
  })

  it('appends a function that runs', async () => {
    const m = readModule(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]))
    const fb = new FunctionBuilder(2)
    const l = fb.block()
    fb.localGet(0).op(Op.i32Eqz).brIf(l)
    fb.localGet(0).localGet(1).op(Op.i32Add).op(Op.return)
    fb.end()
    fb.i32Const(-1)
    const f = addFunction(m, typeIndex(m, [ValTypes.i32, ValTypes.i32], [ValTypes.i32]), fb.finish())
    m.exports.push({ name: 'f', kind: 0, index: f })
    const { instance } = await wasm.instantiate(writeModule(m))
    const fn = instance.exports.f as (a: number, b: number) => number
    expect(fn(2, 3)).toBe(5)
    expect(fn(0, 3)).toBe(-1)
  })
})
