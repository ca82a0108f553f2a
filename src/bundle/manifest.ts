/**
 * The bundle `.manifest`: parsing and the validation OPA applies (roots do not overlap, wasm
 * entrypoints lie under a root and name a module present in the bundle).
 *
 * @module
 */

import { BundleError, BundleErrorCode } from './errors.js'

/** One wasm resolver: queries of `entrypoint` are answered by `module`. */
export interface WasmResolver {
  /** Slash-separated rule path, e.g. `trades/decision`. */
  entrypoint: string
  /** Bundle path of the module, e.g. `/policy.wasm`. */
  module: string
}

/** The parsed `.manifest`. */
export interface Manifest {
  revision: string
  /** Normalised roots; `['']` owns everything. */
  roots: string[]
  wasm: WasmResolver[]
  metadata?: Record<string, unknown>
  rego_version?: number
}

function trimSlashes(s: string): string {
  return s.replace(/^\/+|\/+$/g, '')
}

function rootContains(root: string, path: string): boolean {
  if (root === '') return true
  return path === root || path.startsWith(`${root}/`)
}

function fail(message: string): never {
  throw new BundleError(BundleErrorCode.Manifest, `invalid .manifest: ${message}`)
}

/**
 * Parses and validates a `.manifest`. `files` (normalised names) lets the check confirm that
 * every wasm module is present.
 */
export function parseManifest(text: string | undefined, files: readonly string[]): Manifest {
  let raw: unknown = {}
  if (text !== undefined) {
    try {
      raw = JSON.parse(text)
    } catch (err) {
      throw new BundleError(BundleErrorCode.Manifest, 'invalid .manifest: not JSON', { cause: err })
    }
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('not an object')
  const obj = raw as Record<string, unknown>
  const revision = obj.revision ?? ''
  if (typeof revision !== 'string') fail('revision must be a string')
  let roots = ['']
  if (obj.roots !== undefined) {
    if (!Array.isArray(obj.roots) || obj.roots.some((r) => typeof r !== 'string')) {
      fail('roots must be an array of strings')
    }
    roots = (obj.roots as string[]).map(trimSlashes)
  }
  for (let i = 0; i < roots.length; i++) {
    for (let j = 0; j < roots.length; j++) {
      if (i !== j && rootContains(roots[i]!, roots[j]!)) {
        fail(`roots ${JSON.stringify(roots[i])} and ${JSON.stringify(roots[j])} overlap`)
      }
    }
  }
  const wasm: WasmResolver[] = []
  if (obj.wasm !== undefined) {
    if (!Array.isArray(obj.wasm)) fail('wasm must be an array')
    const seen = new Set<string>()
    for (const w of obj.wasm as unknown[]) {
      const r = w as Record<string, unknown> | null
      if (r === null || typeof r !== 'object' || typeof r.entrypoint !== 'string' || typeof r.module !== 'string') {
        fail('each wasm resolver needs string entrypoint and module')
      }
      const entrypoint = trimSlashes(r.entrypoint as string)
      const module = r.module as string
      if (!files.includes(trimSlashes(module))) fail(`wasm module ${module} is not in the bundle`)
      if (!roots.some((root) => rootContains(root, entrypoint))) {
        fail(`wasm entrypoint ${entrypoint} is outside the roots`)
      }
      if (seen.has(entrypoint)) fail(`wasm entrypoint ${entrypoint} is used twice`)
      seen.add(entrypoint)
      wasm.push({ entrypoint, module })
    }
  }
  const manifest: Manifest = { revision, roots, wasm }
  if (obj.metadata !== undefined) manifest.metadata = obj.metadata as Record<string, unknown>
  if (typeof obj.rego_version === 'number') manifest.rego_version = obj.rego_version
  return manifest
}
