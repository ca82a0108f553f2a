/**
 * The conformance runner: loads OPA-format test cases (YAML files with `cases:`), compiles each
 * with Verdict's compiler, evaluates the query through the unmodified opa-wasm package, and
 * compares the outcome with `want_result` / `want_error` / `want_error_code` the way OPA's own
 * runner does (see shared/conformance/opa/README.md).
 *
 * Used by `npm run conformance` (scripts/conformance.ts) and by the test suite
 * (test/conformance/*.test.ts), which holds the pass-count floor.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { loadPolicy } from '@open-policy-agent/opa-wasm'
import { parse as parseYaml } from 'yaml'
import { compile } from '../../src/compiler/index.js'
import { createHostBuiltins } from '../../src/engine/builtins/index.js'

/** One case, as written in the YAML files. */
export interface ConformanceCase {
  note: string
  query: string
  modules?: string[]
  data?: unknown
  input?: unknown
  input_term?: string
  want_result?: Record<string, unknown>[]
  sort_bindings?: boolean
  want_error_code?: string
  want_error?: string
  strict_error?: boolean
}

export interface LoadedCase extends ConformanceCase {
  /** Folder name under the corpus root (the category). */
  category: string
  /** File path relative to the corpus root. */
  file: string
}

export type Outcome = 'passed' | 'failed' | 'skipped'

export interface CaseResult {
  case: LoadedCase
  outcome: Outcome
  /** Why it failed or was skipped. */
  reason?: string
  ms: number
}

/** Reads every `*.yaml` file below `root` (recursively) and returns its cases in path order. */
export function loadCases(root: string): LoadedCase[] {
  const files: string[] = []
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name)
      if (statSync(path).isDirectory()) walk(path)
      else if (name.endsWith('.yaml') || name.endsWith('.yml')) files.push(path)
    }
  }
  walk(root)
  const cases: LoadedCase[] = []
  for (const path of files) {
    const doc = parseYaml(readFileSync(path, 'utf8')) as { cases?: ConformanceCase[] } | null
    const file = relative(root, path)
    const category = file.includes('/') ? file.slice(0, file.indexOf('/')) : '(root)'
    for (const c of doc?.cases ?? []) cases.push({ ...c, category, file })
  }
  return cases
}

/** An error as the runner sees it: a code (OPA's strings) and a message. */
interface SeenError {
  code: string
  message: string
}

const RUNTIME_ERROR = /^(?:(.*?):(\d+)(?::(\d+))?: )?([a-z_]+_error): ([\s\S]*)$/

/** Normalises whatever was thrown (compile errors, opa_abort strings, host errors). */
export function toSeenError(err: unknown): SeenError {
  if (typeof err === 'string') {
    const m = RUNTIME_ERROR.exec(err)
    return m ? { code: m[4]!, message: err } : { code: 'unknown', message: err }
  }
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; message?: unknown; errors?: { code: string; message: string }[] }
    const message = typeof e.message === 'string' ? e.message : String(err)
    if (Array.isArray(e.errors) && e.errors.length > 0) {
      return { code: e.errors[0]!.code, message }
    }
    if (typeof e.code === 'string') return { code: e.code, message }
    const m = RUNTIME_ERROR.exec(message)
    if (m) return { code: m[4]!, message }
    return { code: 'unknown', message }
  }
  return { code: 'unknown', message: String(err) }
}

const TYPE_ORDER = ['null', 'boolean', 'number', 'string', 'array', 'object'] as const

function typeRank(v: unknown): number {
  if (v === null) return 0
  if (typeof v === 'boolean') return 1
  if (typeof v === 'number') return 2
  if (typeof v === 'string') return 3
  if (Array.isArray(v)) return 4
  return 5
}

/** OPA's value order over JSON values (sets arrive as arrays). */
export function compareValues(a: unknown, b: unknown): number {
  const ra = typeRank(a)
  const rb = typeRank(b)
  if (ra !== rb) return ra - rb
  switch (TYPE_ORDER[ra]) {
    case 'null':
      return 0
    case 'boolean':
      return Number(a) - Number(b)
    case 'number':
      return (a as number) - (b as number)
    case 'string':
      return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0
    case 'array': {
      const x = a as unknown[]
      const y = b as unknown[]
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const c = compareValues(x[i], y[i])
        if (c !== 0) return c
      }
      return x.length - y.length
    }
    default: {
      const x = a as Record<string, unknown>
      const y = b as Record<string, unknown>
      const kx = Object.keys(x).sort()
      const ky = Object.keys(y).sort()
      for (let i = 0; i < Math.min(kx.length, ky.length); i++) {
        const c = compareValues(kx[i], ky[i]) || compareValues(x[kx[i]!], y[ky[i]!])
        if (c !== 0) return c
      }
      return kx.length - ky.length
    }
  }
}

function deepEqual(a: unknown, b: unknown): boolean {
  return compareValues(a, b) === 0
}

/** Compares result rows with the expected rows as sets. */
export function sameRows(actual: Record<string, unknown>[], expected: Record<string, unknown>[]): boolean {
  if (actual.length !== expected.length) return false
  const left = [...actual].sort(compareValues)
  const right = [...expected].sort(compareValues)
  return left.every((row, i) => deepEqual(row, right[i]))
}

function sortBindings(rows: Record<string, unknown>[]): Record<string, unknown>[] {
  return rows.map((row) => {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(row)) {
      out[k] = Array.isArray(v) ? [...v].sort(compareValues) : v
    }
    return out
  })
}

const encoder = new TextEncoder()

function toArrayBuffer(text: string): ArrayBuffer {
  const bytes = encoder.encode(text)
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
}

/**
 * Evaluates one case. `skip` maps a case note to the reason it is a known failure; such cases
 * are not run.
 */
export async function runCase(c: LoadedCase, skip: ReadonlyMap<string, string>): Promise<CaseResult> {
  const started = performance.now()
  const done = (outcome: Outcome, reason?: string): CaseResult => ({
    case: c,
    outcome,
    reason,
    ms: performance.now() - started,
  })
  const skipReason = skip.get(caseKey(c))
  if (skipReason !== undefined) return done('skipped', skipReason)

  const wantsError = c.want_error !== undefined || c.want_error_code !== undefined
  let rows: Record<string, unknown>[]
  try {
    const compiled = compile({
      modules: (c.modules ?? []).map((source, i) => ({ file: `test-${i}.rego`, source })),
      queries: [{ name: 'conformance/query', source: c.query }],
      strictBuiltinErrors: c.strict_error === true,
    })
    const policy = await loadPolicy(
      compiled.wasm,
      undefined,
      createHostBuiltins({ strict: c.strict_error === true }),
    )
    if (c.data !== undefined) policy.setData(c.data as object)
    // The input goes in as raw text: the module's value parser reads JSON and Rego set
    // literals (input_term), and an ArrayBuffer also dodges opa-wasm's "falsy input" quirk.
    let input: ArrayBuffer | undefined
    if (c.input_term !== undefined) input = toArrayBuffer(c.input_term)
    else if (c.input !== undefined) input = toArrayBuffer(JSON.stringify(c.input))
    rows = policy.evaluate(input, 'conformance/query') as Record<string, unknown>[]
  } catch (err) {
    const seen = toSeenError(err)
    if (!wantsError) return done('failed', `unexpected error: ${seen.code}: ${firstLine(seen.message)}`)
    if (c.want_error_code !== undefined && seen.code !== c.want_error_code) {
      return done('failed', `want error code ${c.want_error_code}, got ${seen.code}: ${firstLine(seen.message)}`)
    }
    if (c.want_error !== undefined && !seen.message.includes(c.want_error)) {
      return done('failed', `want error containing ${JSON.stringify(c.want_error)}, got ${firstLine(seen.message)}`)
    }
    return done('passed')
  }
  if (wantsError) {
    return done('failed', `want error ${c.want_error_code ?? ''} ${JSON.stringify(c.want_error ?? '')}, got ${JSON.stringify(rows).slice(0, 200)}`)
  }
  if (c.want_result === undefined) return done('passed')
  const actual = c.sort_bindings ? sortBindings(rows) : rows
  const expected = c.sort_bindings ? sortBindings(c.want_result) : c.want_result
  if (!sameRows(actual, expected)) {
    return done('failed', `want ${JSON.stringify(expected).slice(0, 300)}, got ${JSON.stringify(actual).slice(0, 300)}`)
  }
  return done('passed')
}

function firstLine(s: string): string {
  const line = s.split('\n')[0] ?? ''
  return line.length > 300 ? `${line.slice(0, 300)}…` : line
}

/** The key of a case in the known-failures table: file and note (notes are not unique). */
export function caseKey(c: LoadedCase): string {
  return `${c.file}#${c.note}`
}

export interface Summary {
  passed: number
  failed: number
  skipped: number
  byCategory: Map<string, { passed: number; failed: number; skipped: number }>
  results: CaseResult[]
}

/** Runs every case and tallies the outcomes per category. */
export async function runCases(cases: LoadedCase[], skip: ReadonlyMap<string, string>): Promise<Summary> {
  const summary: Summary = { passed: 0, failed: 0, skipped: 0, byCategory: new Map(), results: [] }
  for (const c of cases) {
    const r = await runCase(c, skip)
    summary.results.push(r)
    summary[r.outcome]++
    let cat = summary.byCategory.get(c.category)
    if (!cat) summary.byCategory.set(c.category, (cat = { passed: 0, failed: 0, skipped: 0 }))
    cat[r.outcome]++
  }
  return summary
}

/** Renders the per-category table and the closing line. */
export function formatSummary(summary: Summary): string {
  const lines = ['| category | passed | failed | skipped |', '| --- | ---: | ---: | ---: |']
  for (const [name, t] of [...summary.byCategory].sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`| ${name} | ${t.passed} | ${t.failed} | ${t.skipped} |`)
  }
  lines.push('')
  lines.push(`conformance: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`)
  return lines.join('\n')
}
