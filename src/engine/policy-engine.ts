/**
 * `PolicyEngine`: instantiates a policy.wasm through the unmodified `@open-policy-agent/opa-wasm`
 * loader, sets its data, and evaluates one entrypoint per request into a {@link Decision}.
 * Knows nothing of Rego or the compiler, so bundles built by real OPA run unchanged.
 *
 * @module
 */

import { loadPolicy } from '@open-policy-agent/opa-wasm'
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm'
import {
  evaluationErrorDecision,
  interpretResultSet,
  parseAbortMessage,
} from './decision.js'
import type { Decision } from './decision.js'
import { EngineError, EngineErrorCode } from './errors.js'

// The project compiles without the DOM lib, so the few WebAssembly APIs used here get a local type.
interface WasmApi {
  compile(bytes: Uint8Array): Promise<object>
  Module: { exports(module: object): { name: string }[] }
  RuntimeError: new (...args: never[]) => Error
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly

/** ABI major version this host speaks (OPA's `opa_wasm_abi_version`). */
export const SUPPORTED_ABI_VERSION = 1

/** Host builtins keyed by name, as opa-wasm's `loadPolicy` takes them. */
export type CustomBuiltins = Record<string, (...args: any[]) => unknown>

/** What to load. */
export interface PolicyEngineOptions {
  /** The policy module. */
  wasm: Uint8Array
  /** The `data` document. */
  data?: unknown
  /** Entrypoint to evaluate, e.g. `trades/decision`; default: the module's first. */
  entrypoint?: string
  /** Bundle revision, reported with each decision. */
  revision?: string
  /** Builtins the module delegates to the host (`createHostBuiltins()`). */
  builtins?: CustomBuiltins
}

function readGlobal(exports: Record<string, unknown>, name: string): number | undefined {
  const g = exports[name]
  if (typeof g === 'number') return g
  if (g !== null && typeof g === 'object' && 'value' in g) return Number(g.value)
  return undefined
}

/** Checks the ABI globals of a compiled module before handing it to opa-wasm. */
export function checkAbi(module: object): void {
  const exports = Wasm.Module.exports(module).map((e) => e.name)
  if (!exports.includes('opa_eval') && !exports.includes('eval')) {
    throw new EngineError(EngineErrorCode.Load, 'the module does not export opa_eval or eval')
  }
  if (!exports.includes('opa_wasm_abi_version')) {
    throw new EngineError(EngineErrorCode.Abi, 'the module does not export opa_wasm_abi_version')
  }
}

function errorText(err: unknown): string {
  if (typeof err === 'string') return err
  if (err instanceof Error) return err.message
  // opa-wasm throws plain `{message}` objects for builtin failures.
  if (err !== null && typeof err === 'object' && typeof (err as { message?: unknown }).message === 'string') {
    return (err as { message: string }).message
  }
  return JSON.stringify(err)
}

/**
 * One loaded policy. `evaluate` is synchronous: opa-wasm runs the module on the calling thread,
 * and a sidecar's decisions take microseconds.
 *
 * @example
 * const engine = await PolicyEngine.load({ wasm, data, entrypoint: 'trades/decision' })
 * engine.evaluate({ token: claims, action: 'read', resource }).allow
 */
export class PolicyEngine {
  readonly entrypoint: string
  readonly entrypoints: string[]
  readonly revision: string
  readonly abi: { major: number; minor: number }
  #policy: LoadedPolicy
  #options: PolicyEngineOptions
  #reloading = false

  private constructor(
    policy: LoadedPolicy,
    options: PolicyEngineOptions,
    entrypoint: string,
    abi: { major: number; minor: number },
  ) {
    this.#policy = policy
    this.#options = options
    this.entrypoint = entrypoint
    this.entrypoints = Object.keys(policy.entrypoints)
    this.revision = options.revision ?? ''
    this.abi = abi
  }

  /** Compiles, checks and instantiates a module. Throws {@link EngineError}. */
  static async load(options: PolicyEngineOptions): Promise<PolicyEngine> {
    let module: object
    try {
      module = await Wasm.compile(options.wasm)
    } catch (err) {
      throw new EngineError(EngineErrorCode.Load, `policy.wasm does not compile: ${errorText(err)}`, { cause: err })
    }
    checkAbi(module)
    const policy = await PolicyEngine.#instantiate(options)
    const instance = policy.wasmInstance as unknown as { exports: Record<string, unknown> }
    const abi = {
      major: readGlobal(instance.exports, 'opa_wasm_abi_version') ?? 0,
      minor: readGlobal(instance.exports, 'opa_wasm_abi_minor_version') ?? 0,
    }
    if (abi.major !== SUPPORTED_ABI_VERSION) {
      throw new EngineError(EngineErrorCode.Abi, `unsupported ABI version ${abi.major}.${abi.minor}`)
    }
    const names = Object.keys(policy.entrypoints)
    const entrypoint = options.entrypoint ?? names[0]
    if (entrypoint === undefined || !names.includes(entrypoint)) {
      throw new EngineError(
        EngineErrorCode.Entrypoint,
        `entrypoint ${entrypoint ?? '(none)'} is not in the module (has: ${names.join(', ') || 'none'})`,
      )
    }
    return new PolicyEngine(policy, options, entrypoint, abi)
  }

  static async #instantiate(options: PolicyEngineOptions): Promise<LoadedPolicy> {
    let policy: LoadedPolicy
    try {
      policy = await loadPolicy(options.wasm as Uint8Array<ArrayBuffer>, undefined, options.builtins ?? {})
    } catch (err) {
      if (err instanceof EngineError) throw err
      const text = errorText(err)
      const code = text.includes('ABI') ? EngineErrorCode.Abi : EngineErrorCode.Load
      throw new EngineError(code, `policy.wasm does not load: ${text}`, { cause: err })
    }
    try {
      policy.setData((options.data ?? {}) as object)
    } catch (err) {
      throw new EngineError(EngineErrorCode.Load, `cannot set data: ${errorText(err)}`, { cause: err })
    }
    return policy
  }

  /**
   * Evaluates the entrypoint on `input`. Never throws: aborts and traps become an
   * EVALUATION_ERROR deny.
   */
  evaluate(input: unknown, entrypoint: string = this.entrypoint): Decision {
    let rows: unknown
    try {
      rows = this.#policy.evaluate(input, entrypoint)
    } catch (err) {
      if (err instanceof Wasm.RuntimeError) {
        // A trap may leave the instance's heap inconsistent: replace it off the hot path.
        this.#replaceInstance()
        return evaluationErrorDecision({ code: 'wasm_trap', message: err.message })
      }
      return evaluationErrorDecision(parseAbortMessage(errorText(err)))
    }
    return interpretResultSet(rows)
  }

  /**
   * Evaluates an entrypoint and returns opa-wasm's raw result set (for `verdict eval`). Throws
   * the parsed {@link EvaluationError} on abort.
   */
  query(input: unknown, entrypoint: string = this.entrypoint): unknown {
    try {
      return this.#policy.evaluate(input, entrypoint)
    } catch (err) {
      const e = parseAbortMessage(errorText(err))
      throw new EngineError(EngineErrorCode.Evaluation, `${e.code}: ${e.message}`, { cause: err })
    }
  }

  #replaceInstance(): void {
    if (this.#reloading) return
    this.#reloading = true
    PolicyEngine.#instantiate(this.#options).then(
      (policy) => {
        this.#policy = policy
        this.#reloading = false
      },
      () => {
        this.#reloading = false
      },
    )
  }
}
