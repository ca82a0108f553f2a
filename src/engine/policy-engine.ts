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

// The parts of opa-wasm's LoadedPolicy the direct evaluation path reads. They are plain public
// fields of its class (not in its .d.ts); `fastPath` checks they exist before using them.
interface PolicyInternals {
  minorVersion: number
  dataAddr: number
  dataHeapPtr: number
  mem: { buffer: ArrayBuffer; grow(pages: number): number }
  wasmInstance: { exports: { opa_eval?: (...args: number[]) => number } }
  entrypoints: Record<string, number>
}

const PAGE = 64 * 1024

/**
 * Calls ABI 1.2's one-shot `opa_eval` directly: the input JSON is encoded straight into the
 * module's memory at the data heap pointer and the result decoded from it, without opa-wasm's
 * per-call TextEncoder/TextDecoder and intermediate copies. Same protocol as opa-wasm's own fast
 * path (ABI >= 1.2); older modules go through opa-wasm unchanged.
 */
class DirectEval {
  readonly #p: PolicyInternals
  readonly #eval: (...args: number[]) => number
  #view: Buffer
  #viewOf: ArrayBuffer

  private constructor(p: PolicyInternals, evalFn: (...args: number[]) => number) {
    this.#p = p
    this.#eval = evalFn
    this.#viewOf = p.mem.buffer
    this.#view = Buffer.from(this.#viewOf)
  }

  static of(policy: LoadedPolicy): DirectEval | undefined {
    const p = policy as unknown as Partial<PolicyInternals>
    const fn = p.wasmInstance?.exports.opa_eval
    if (
      typeof p.minorVersion !== 'number' || p.minorVersion < 2 || typeof fn !== 'function' ||
      typeof p.dataAddr !== 'number' || typeof p.dataHeapPtr !== 'number' ||
      p.mem === undefined || p.entrypoints === undefined
    ) {
      return undefined
    }
    return new DirectEval(p as PolicyInternals, fn)
  }

  #memory(): Buffer {
    // Growing the memory detaches the old ArrayBuffer, whose length then reads 0: take a new
    // view only then (cheaper than the Memory's `buffer` getter on every call).
    if (this.#viewOf.byteLength === 0) {
      this.#viewOf = this.#p.mem.buffer
      this.#view = Buffer.from(this.#viewOf)
    }
    return this.#view
  }

  evaluate(input: unknown, entrypoint: string): unknown {
    return this.evaluateText(input === undefined || input === null ? undefined : JSON.stringify(input), entrypoint)
  }

  /** {@link evaluate} on input that is already JSON text (`undefined`: no input). */
  evaluateText(text: string | undefined, entrypoint: string): unknown {
    return this.evaluateParts(undefined, text, entrypoint)
  }

  /**
   * {@link evaluateText} on input JSON given as UTF-8 bytes followed by text (either may be
   * absent; both absent: no input). The bytes are copied as they are and the text encoded right
   * after them, so a caller that keeps a constant prefix as bytes pays neither for joining the
   * two nor for encoding the prefix again.
   */
  evaluateParts(head: Uint8Array | undefined, tail: string | undefined, entrypoint: string): unknown {
    const id = this.#p.entrypoints[entrypoint]
    if (id === undefined) throw new Error(`entrypoint ${entrypoint} is not valid in this instance`)
    const addr = this.#p.dataHeapPtr
    let len = 0
    if (head !== undefined || tail !== undefined) {
      const headLen = head?.length ?? 0
      // UTF-8 takes at most 3 bytes per UTF-16 unit: make room for the worst case, then encode.
      const need = addr + headLen + (tail?.length ?? 0) * 3 - this.#memory().length
      if (need > 0) this.#p.mem.grow(Math.ceil(need / PAGE))
      const mem = this.#memory()
      if (head !== undefined) mem.set(head, addr)
      len = headLen + (tail === undefined ? 0 : mem.write(tail, addr + headLen, 'utf8'))
    }
    const result = this.#eval(0, id, this.#p.dataAddr, addr, len, addr + len, 0)
    // The evaluation may have grown the memory too.
    const mem = this.#memory()
    const end = mem.indexOf(0, result)
    return JSON.parse(mem.toString('utf8', result, end < 0 ? mem.length : end))
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
  #direct: DirectEval | undefined
  #options: PolicyEngineOptions
  #reloading = false

  private constructor(
    policy: LoadedPolicy,
    options: PolicyEngineOptions,
    entrypoint: string,
    abi: { major: number; minor: number },
  ) {
    this.#policy = policy
    this.#direct = DirectEval.of(policy)
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
    return this.#decide(() =>
      this.#direct === undefined ? this.#policy.evaluate(input, entrypoint) : this.#direct.evaluate(input, entrypoint),
    )
  }

  /**
   * {@link evaluate} on input given as JSON text, for callers that already hold it (the sidecar
   * builds the input's JSON from cached parts instead of serialising the whole object each time).
   * The text must be one JSON value; it is handed to the module as it is.
   */
  evaluateJson(inputJson: string, entrypoint: string = this.entrypoint): Decision {
    return this.#decide(() =>
      this.#direct === undefined
        ? this.#policy.evaluate(JSON.parse(inputJson), entrypoint)
        : this.#direct.evaluateText(inputJson, entrypoint),
    )
  }

  /**
   * {@link evaluateJson} on input JSON in two parts: `head` as UTF-8 bytes, then `tail` as text
   * (`{"token":<claims>,` kept as bytes per token, then the rest of the request). The sidecar
   * used to join them into one string, which the engine then flattened and encoded whole: about
   * 1.3 KB of garbage per Check, and garbage sets how often the young generation is collected.
   */
  evaluateJsonParts(head: Uint8Array, tail: string, entrypoint: string = this.entrypoint): Decision {
    return this.#decide(() =>
      this.#direct === undefined
        ? this.#policy.evaluate(JSON.parse(Buffer.from(head.buffer, head.byteOffset, head.byteLength).toString('utf8') + tail), entrypoint)
        : this.#direct.evaluateParts(head, tail, entrypoint),
    )
  }

  #decide(run: () => unknown): Decision {
    let rows: unknown
    try {
      rows = run()
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
        this.#direct = DirectEval.of(policy)
        this.#reloading = false
      },
      () => {
        this.#reloading = false
      },
    )
  }
}
