/**
 * `verdict eval`: evaluates a query against a policy directory (compiled on the fly) or against
 * a bundle's entrypoints, and prints the result set as JSON.
 *
 * @module
 */

import { readFile } from 'node:fs/promises'
import { loadBundle } from '../bundle/index.js'
import { compile } from '../compiler/index.js'
import { createHostBuiltins, HOST_BUILTIN_NAMES, PolicyEngine } from '../engine/index.js'
import { readPolicySources } from './build.js'

/** Options of `verdict eval`. */
export interface EvalOptions {
  query: string
  /** A bundle whose entrypoint the query names (`data.trades.decision`). */
  bundle?: string
  /** A policy directory, compiled with the query. */
  dir?: string
  /** A JSON file holding `input`. */
  input?: string
}

/** Evaluates and returns the raw result set. */
export async function evaluateQuery(options: EvalOptions): Promise<unknown> {
  const input: unknown = options.input === undefined ? undefined : JSON.parse(await readFile(options.input, 'utf8'))
  const builtins = createHostBuiltins({ strict: false })
  if (options.dir !== undefined) {
    const { modules, data } = await readPolicySources(options.dir)
    const { wasm } = compile({
      modules,
      queries: [{ name: 'eval', source: options.query }],
      hostBuiltins: HOST_BUILTIN_NAMES,
    })
    const engine = await PolicyEngine.load({ wasm, data, entrypoint: 'eval', builtins })
    return engine.query(input, 'eval')
  }
  if (options.bundle !== undefined) {
    const bundle = await loadBundle(options.bundle)
    const entrypoint = options.query.trim().replace(/^data\./, '').replaceAll('.', '/')
    const resolver = bundle.manifest.wasm.find((w) => w.entrypoint === entrypoint)
    if (resolver === undefined) {
      const known = bundle.manifest.wasm.map((w) => `data.${w.entrypoint.replaceAll('/', '.')}`)
      throw new Error(`a bundle can only answer its entrypoints: ${known.join(', ') || 'none'}`)
    }
    const wasm = bundle.wasmModules.get(resolver.module.replace(/^\/+/, ''))!
    const engine = await PolicyEngine.load({ wasm, data: bundle.data, entrypoint, builtins })
    return engine.query(input, entrypoint)
  }
  throw new TypeError('eval needs --bundle or --dir')
}
