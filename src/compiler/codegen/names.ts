/**
 * The wasm `name` custom section, function names only. Generated modules carry one so that CPU
 * profiles (`node --cpu-prof`, browser dev tools) name `vd_object_get` or
 * `g0.data.trades.decision` instead of `wasm-function[123]`. Engines that do not use the
 * section skip it; opa-wasm never reads custom sections.
 *
 * @module
 */

import { ByteReader, ByteWriter } from '../../wasm/index.js'

const CUSTOM = 0
const FUNCTION_NAMES = 1

/** Function index → name, from a module's `name` section (empty when it has none). */
export function readFunctionNames(bytes: Uint8Array): Map<number, string> {
  const names = new Map<number, string>()
  const r = new ByteReader(bytes, 8) // after magic and version
  while (r.pos < bytes.length) {
    const id = r.u8()
    const size = r.u32()
    const end = r.pos + size
    if (id === CUSTOM && r.name() === 'name') {
      while (r.pos < end) {
        const sub = r.u8()
        const subEnd = r.u32() + r.pos
        if (sub === FUNCTION_NAMES) {
          for (let n = r.u32(); n > 0; n--) names.set(r.u32(), r.name())
        }
        r.pos = subEnd
      }
    }
    r.pos = end
  }
  return names
}

/** A complete `name` custom section (id and size included) naming the given functions. */
export function nameSection(names: ReadonlyMap<number, string>): Uint8Array {
  // The format wants the entries in increasing index order.
  const sorted = [...names].sort((a, b) => a[0] - b[0])
  const map = new ByteWriter().u32(sorted.length)
  for (const [index, name] of sorted) map.u32(index).name(name)
  const sub = map.finish()
  const payload = new ByteWriter().name('name').u8(FUNCTION_NAMES).u32(sub.length).bytes(sub).finish()
  return new ByteWriter().u8(CUSTOM).u32(payload.length).bytes(payload).finish()
}
