// Test helper: instantiate a generated module with bare imports to call ABI exports directly.
import { generate } from '../../src/compiler/codegen/index.js'

interface WasmMemory {
  readonly buffer: ArrayBuffer
}
interface WasmDescriptor {
  module: string
  name: string
  kind: string
}
/** The slice of the WebAssembly JS API the tests use (the project's lib has no DOM types). */
export interface WasmApi {
  Memory: new (d: { initial: number }) => WasmMemory
  Module: {
    new (bytes: Uint8Array): object
    imports(m: object): WasmDescriptor[]
    exports(m: object): { name: string; kind: string }[]
  }
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> }
  instantiate(bytes: Uint8Array): Promise<{ instance: { exports: Record<string, unknown> } }>
  validate(bytes: Uint8Array): boolean
}
export const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly

export interface RawPolicy {
  exports: Record<string, any>
  memory: WasmMemory
  json(text: string, fn?: 'opa_json_parse' | 'opa_value_parse'): number
  dump(addr: number, fn?: 'opa_json_dump' | 'opa_value_dump'): string
  roundTrip(text: string): string | undefined
}

export function emptyPolicyWasm(): Uint8Array {
  return generate({
    static: { strings: [], builtin_funcs: [], files: [] },
    plans: { plans: [] },
    funcs: { funcs: [] },
  })
}

export function instantiate(bytes: Uint8Array = emptyPolicyWasm()): RawPolicy {
  const memory = new wasm.Memory({ initial: 5 })
  const str = (addr: number): string => {
    const b = new Uint8Array(memory.buffer)
    let e = addr
    while (b[e] !== 0) e++
    return new TextDecoder().decode(b.subarray(addr, e))
  }
  const fail = (): never => {
    throw new Error('host builtin called')
  }
  const inst = new wasm.Instance(new wasm.Module(bytes), {
    env: {
      memory,
      opa_abort: (a: number) => {
        throw new Error(str(a))
      },
      opa_println: () => {},
      opa_builtin0: fail,
      opa_builtin1: fail,
      opa_builtin2: fail,
      opa_builtin3: fail,
      opa_builtin4: fail,
    },
  })
  const ex = inst.exports as Record<string, any>
  const json = (text: string, fn: 'opa_json_parse' | 'opa_value_parse' = 'opa_json_parse'): number => {
    const bytes = new TextEncoder().encode(text)
    const addr = ex.opa_malloc(bytes.length)
    new Uint8Array(memory.buffer).set(bytes, addr)
    return ex[fn](addr, bytes.length)
  }
  const dump = (addr: number, fn: 'opa_json_dump' | 'opa_value_dump' = 'opa_json_dump'): string =>
    str(ex[fn](addr))
  return {
    exports: ex,
    memory,
    json,
    dump,
    roundTrip: (text) => {
      const v = json(text)
      return v === 0 ? undefined : dump(v)
    },
  }
}
