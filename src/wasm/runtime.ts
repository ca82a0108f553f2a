/**
 * Access to the prebuilt wasm runtime library (`runtime.wasm`, built from `runtime/` with clang
 * and committed) that every generated policy module starts from.
 *
 * @module
 */

import { readFileSync } from 'node:fs'

let cached: Uint8Array | undefined

/** The bytes of the committed runtime library. */
export function runtimeWasm(): Uint8Array {
  cached ??= new Uint8Array(readFileSync(new URL('./runtime.wasm', import.meta.url)))
  return cached
}

/** The sha256 of the runtime C sources the committed `runtime.wasm` was built from. */
export function runtimeSourceHash(): string {
  return readFileSync(new URL('./runtime.hash', import.meta.url), 'utf8').trim()
}
