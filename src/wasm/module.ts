/**
 * A minimal editable model of a WebAssembly module: decode a binary into sections, keep
 * existing function bodies and segments as raw bytes, append new types, functions, globals,
 * exports, table elements and data segments, replace function bodies, and encode back.
 *
 * Only what the code generator needs is decoded structurally; custom sections are dropped.
 *
 * @module
 */

import { ByteReader, ByteWriter } from './encoding.js'

/** A value type byte (`0x7f` i32, `0x7e` i64, `0x7d` f32, `0x7c` f64). */
export type ValType = number

/** A function signature. */
export interface FuncType {
  params: ValType[]
  results: ValType[]
}

/** An import; `desc` holds the raw descriptor bytes, except for memory limits. */
export interface Import {
  module: string
  name: string
  /** 0 func, 1 table, 2 memory, 3 global. */
  kind: number
  /** Function imports: the type index. */
  typeIndex?: number
  /** Memory imports: limits (max undefined when absent). */
  min?: number
  max?: number
  /** Table/global imports: raw descriptor. */
  raw?: Uint8Array
}

/** An export. */
export interface Export {
  name: string
  /** 0 func, 1 table, 2 memory, 3 global. */
  kind: number
  index: number
}

/** A global: value type, mutability, and its constant init expression (raw, with `end`). */
export interface Global {
  type: ValType
  mutable: boolean
  init: Uint8Array
}

/** A table (funcref) with its limits. */
export interface Table {
  refType: number
  min: number
  max?: number
}

/** A decoded module. Index spaces include imports first, as in the binary format. */
export interface WasmModule {
  types: FuncType[]
  imports: Import[]
  /** Type index of each defined (non-imported) function. */
  functions: number[]
  tables: Table[]
  /** Raw memory section payload (after the count), if any. */
  memories: Uint8Array[]
  globals: Global[]
  exports: Export[]
  start?: number
  /** Raw element segments and their count. */
  elements: { count: number; raw: ByteWriter }
  /** Raw function bodies (locals + code + end), without the size prefix. */
  code: Uint8Array[]
  /** Raw data segments and their count. */
  data: { count: number; raw: ByteWriter }
  hasDataCount: boolean
}

function readLimits(r: ByteReader): { min: number; max?: number } {
  const flag = r.u8()
  const min = r.u32()
  return flag & 1 ? { min, max: r.u32() } : { min }
}

function writeLimits(w: ByteWriter, min: number, max?: number): void {
  if (max === undefined) w.u8(0).u32(min)
  else w.u8(1).u32(min).u32(max)
}

/** Reads a constant expression up to and including its `end`. */
function readConstExpr(r: ByteReader): Uint8Array {
  const start = r.pos
  for (;;) {
    const op = r.u8()
    if (op === 0x0b) break
    if (op === 0x41 || op === 0x42 || op === 0x23 || op === 0xd2) r.skipLeb()
    else if (op === 0x44) r.take(8)
    else if (op === 0x43) r.take(4)
    else if (op === 0xd0) r.u8()
    else throw new Error(`wasm: unsupported constant expression opcode 0x${op.toString(16)}`)
  }
  return r.bytes.slice(start, r.pos)
}

/** Decodes a wasm binary. */
export function readModule(bytes: Uint8Array): WasmModule {
  const r = new ByteReader(bytes)
  const magic = r.take(8)
  if (magic[0] !== 0 || magic[1] !== 0x61 || magic[2] !== 0x73 || magic[3] !== 0x6d || magic[4] !== 1) {
    throw new Error('wasm: not a version 1 WebAssembly module')
  }
  const m: WasmModule = {
    types: [],
    imports: [],
    functions: [],
    tables: [],
    memories: [],
    globals: [],
    exports: [],
    elements: { count: 0, raw: new ByteWriter() },
    code: [],
    data: { count: 0, raw: new ByteWriter() },
    hasDataCount: false,
  }
  while (r.pos < bytes.length) {
    const id = r.u8()
    const size = r.u32()
    const end = r.pos + size
    const s = new ByteReader(bytes.subarray(0, end), r.pos)
    switch (id) {
      case 0:
        break
      case 1: {
        for (let n = s.u32(); n > 0; n--) {
          if (s.u8() !== 0x60) throw new Error('wasm: bad function type')
          const params = Array.from(s.take(s.u32()))
          const results = Array.from(s.take(s.u32()))
          m.types.push({ params, results })
        }
        break
      }
      case 2: {
        for (let n = s.u32(); n > 0; n--) {
          const module = s.name()
          const name = s.name()
          const kind = s.u8()
          if (kind === 0) m.imports.push({ module, name, kind, typeIndex: s.u32() })
          else if (kind === 2) m.imports.push({ module, name, kind, ...readLimits(s) })
          else {
            const st = s.pos
            if (kind === 1) {
              s.u8()
              readLimits(s)
            } else {
              s.u8()
              s.u8()
            }
            m.imports.push({ module, name, kind, raw: bytes.slice(st, s.pos) })
          }
        }
        break
      }
      case 3:
        for (let n = s.u32(); n > 0; n--) m.functions.push(s.u32())
        break
      case 4:
        for (let n = s.u32(); n > 0; n--) m.tables.push({ refType: s.u8(), ...readLimits(s) })
        break
      case 5: {
        const st = s.pos
        const n = s.u32()
        for (let i = 0; i < n; i++) readLimits(s)
        if (n > 0) m.memories.push(bytes.slice(st, s.pos))
        break
      }
      case 6:
        for (let n = s.u32(); n > 0; n--) {
          const type = s.u8()
          const mutable = s.u8() === 1
          m.globals.push({ type, mutable, init: readConstExpr(s) })
        }
        break
      case 7:
        for (let n = s.u32(); n > 0; n--) m.exports.push({ name: s.name(), kind: s.u8(), index: s.u32() })
        break
      case 8:
        m.start = s.u32()
        break
      case 9:
        m.elements.count = s.u32()
        m.elements.raw.bytes(bytes.subarray(s.pos, end))
        break
      case 10:
        for (let n = s.u32(); n > 0; n--) {
          const len = s.u32()
          m.code.push(s.take(len))
        }
        break
      case 11:
        m.data.count = s.u32()
        m.data.raw.bytes(bytes.subarray(s.pos, end))
        break
      case 12:
        m.hasDataCount = true
        break
      default:
        throw new Error(`wasm: unknown section id ${id}`)
    }
    r.pos = end
  }
  return m
}

function section(out: ByteWriter, id: number, body: ByteWriter): void {
  out.u8(id).u32(body.length).bytes(body.finish())
}

/** Encodes a module back into a wasm binary. */
export function writeModule(m: WasmModule): Uint8Array {
  const out = new ByteWriter()
  out.bytes(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]))
  let w = new ByteWriter().u32(m.types.length)
  for (const t of m.types) {
    w.u8(0x60).u32(t.params.length).bytes(new Uint8Array(t.params))
    w.u32(t.results.length).bytes(new Uint8Array(t.results))
  }
  section(out, 1, w)
  w = new ByteWriter().u32(m.imports.length)
  for (const i of m.imports) {
    w.name(i.module).name(i.name).u8(i.kind)
    if (i.kind === 0) w.u32(i.typeIndex!)
    else if (i.kind === 2) writeLimits(w, i.min!, i.max)
    else w.bytes(i.raw!)
  }
  section(out, 2, w)
  w = new ByteWriter().u32(m.functions.length)
  for (const f of m.functions) w.u32(f)
  section(out, 3, w)
  if (m.tables.length) {
    w = new ByteWriter().u32(m.tables.length)
    for (const t of m.tables) writeLimits(w.u8(t.refType), t.min, t.max)
    section(out, 4, w)
  }
  for (const mem of m.memories) section(out, 5, new ByteWriter().bytes(mem))
  if (m.globals.length) {
    w = new ByteWriter().u32(m.globals.length)
    for (const g of m.globals) w.u8(g.type).u8(g.mutable ? 1 : 0).bytes(g.init)
    section(out, 6, w)
  }
  w = new ByteWriter().u32(m.exports.length)
  for (const e of m.exports) w.name(e.name).u8(e.kind).u32(e.index)
  section(out, 7, w)
  if (m.start !== undefined) section(out, 8, new ByteWriter().u32(m.start))
  if (m.elements.count) {
    section(out, 9, new ByteWriter().u32(m.elements.count).bytes(m.elements.raw.finish()))
  }
  if (m.hasDataCount) section(out, 12, new ByteWriter().u32(m.data.count))
  w = new ByteWriter().u32(m.code.length)
  for (const c of m.code) w.u32(c.length).bytes(c)
  section(out, 10, w)
  if (m.data.count) section(out, 11, new ByteWriter().u32(m.data.count).bytes(m.data.raw.finish()))
  return out.finish()
}

/** Number of imported functions (defined functions are indexed after them). */
export function importedFuncCount(m: WasmModule): number {
  return m.imports.filter((i) => i.kind === 0).length
}

/** The index of a function type, adding it when missing. */
export function typeIndex(m: WasmModule, params: ValType[], results: ValType[]): number {
  const key = `${params.join(',')}:${results.join(',')}`
  const i = m.types.findIndex((t) => `${t.params.join(',')}:${t.results.join(',')}` === key)
  if (i >= 0) return i
  m.types.push({ params, results })
  return m.types.length - 1
}

/** Appends a function with the given type and raw body; returns its function index. */
export function addFunction(m: WasmModule, type: number, body: Uint8Array): number {
  m.functions.push(type)
  m.code.push(body)
  return importedFuncCount(m) + m.functions.length - 1
}

/** Replaces the body of the function with index `funcIndex` (an index in the function space). */
export function replaceBody(m: WasmModule, funcIndex: number, body: Uint8Array): void {
  const i = funcIndex - importedFuncCount(m)
  if (i < 0 || i >= m.code.length) throw new RangeError(`wasm: no defined function ${funcIndex}`)
  m.code[i] = body
}

/** Appends an active data segment for memory 0 at a constant address. */
export function addData(m: WasmModule, offset: number, bytes: Uint8Array): void {
  m.data.raw.u8(0).u8(0x41).s32(offset).u8(0x0b).u32(bytes.length).bytes(bytes)
  m.data.count++
}

/** Appends function indices to table 0 (creating it if needed); returns the first slot. */
export function addTableElements(m: WasmModule, funcs: number[]): number {
  if (m.tables.length === 0) m.tables.push({ refType: 0x70, min: 1 })
  const t = m.tables[0]!
  const first = Math.max(t.min, 1)
  t.min = first + funcs.length
  if (t.max !== undefined) t.max = Math.max(t.max, t.min)
  if (funcs.length) {
    m.elements.raw.u8(0).u8(0x41).s32(first).u8(0x0b).u32(funcs.length)
    for (const f of funcs) m.elements.raw.u32(f)
    m.elements.count++
  }
  return first
}

/** Appends an immutable i32 global; returns its index. */
export function addI32Global(m: WasmModule, value: number): number {
  const init = new ByteWriter().u8(0x41).s32(value).u8(0x0b).finish()
  m.globals.push({ type: 0x7f, mutable: false, init })
  return m.globals.length - 1 + m.imports.filter((i) => i.kind === 3).length
}

/** The value of an `i32.const` global initialiser, or undefined for other shapes. */
export function globalI32Value(g: Global): number | undefined {
  if (g.init[0] !== 0x41) return undefined
  return new ByteReader(g.init, 1).s32()
}

/** A shallow clone so one parsed runtime can serve many generated modules. */
export function cloneModule(m: WasmModule): WasmModule {
  return {
    types: m.types.map((t) => ({ params: [...t.params], results: [...t.results] })),
    imports: m.imports.map((i) => ({ ...i })),
    functions: [...m.functions],
    tables: m.tables.map((t) => ({ ...t })),
    memories: [...m.memories],
    globals: [...m.globals],
    exports: m.exports.map((e) => ({ ...e })),
    ...(m.start === undefined ? {} : { start: m.start }),
    elements: { count: m.elements.count, raw: new ByteWriter().bytes(m.elements.raw.finish()) },
    code: [...m.code],
    data: { count: m.data.count, raw: new ByteWriter().bytes(m.data.raw.finish()) },
    hasDataCount: m.hasDataCount,
  }
}
