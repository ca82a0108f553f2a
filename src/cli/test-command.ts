/**
 * `verdict test`: runs Rego unit tests as `opa test` does. Every `test_*` rule (in any package)
 * is compiled as its own entrypoint, together with the policies it tests, and evaluated through
 * opa-wasm; `todo_*` rules are reported as skipped.
 *
 * @module
 */

import { readdir, readFile, stat } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { parse as parseYaml } from 'yaml'
import { compile } from '../compiler/index.js'
import { createHostBuiltins, HOST_BUILTIN_NAMES, PolicyEngine } from '../engine/index.js'
import { parseModule, RegoErrors } from '../rego/index.js'
import type { Module, Term } from '../rego/index.js'

/** Help text of `verdict test`. */
export const TEST_HELP = `Usage: verdict test <path>... [--run <regex>] [--verbose] [--format pretty|json]
                    [--timeout <ms>] [--strict-builtin-errors]

Loads every .rego file under the paths (files or folders, recursively) with the data.json and
data.yaml files beside them, and runs each rule named test_* as a test (todo_* rules are skipped).
A test passes when its value is defined and not false.
  -r, --run <regex>            run only tests whose name (data.pkg.test_x) matches
  -v, --verbose                list every test, not only failures
  -f, --format <pretty|json>   output format (default pretty)
  -t, --timeout <ms>           time budget per test; a test over it is an ERROR (default 5000)
  --strict-builtin-errors      builtin errors are test ERRORs instead of undefined calls

Exit code: 0 when every test passes, 2 when any fails or errors, 1 on load or compile errors.
`

/** Default `--timeout`, in milliseconds. */
export const DEFAULT_TEST_TIMEOUT_MS = 5000

/** Options of {@link runTests}. */
export interface TestOptions {
  /** Files or folders holding `.rego` and `data.json`/`data.yaml` files. */
  paths: string[]
  /** Only tests whose full name (`data.pkg.test_x`) matches run. */
  run?: RegExp
  /** Time budget per test in ms; see {@link TEST_HELP}. */
  timeoutMs?: number
  /** OPA's `strict-builtin-errors`: builtin errors abort the test as an ERROR. */
  strictBuiltinErrors?: boolean
}

/** The outcome of one test, as `--format json` prints it. */
export interface TestResult {
  /** `data.trades_test` */
  package: string
  /** `test_allow_read` */
  name: string
  location: { file: string; row: number; col: number }
  pass: boolean
  fail: boolean
  /** The evaluation error (`code: message`), or null. */
  error: string | null
  skip: boolean
  duration_ms: number
}

/** A test rule found in the sources. */
interface TestRule {
  packagePath: string[]
  name: string
  location: { file: string; row: number; col: number }
  todo: boolean
}

async function walk(dir: string, out: string[]): Promise<void> {
  for (const d of await readdir(dir, { withFileTypes: true })) {
    if (d.name.startsWith('.')) continue
    const path = join(dir, d.name)
    if (d.isDirectory()) await walk(path, out)
    else if (d.isFile()) out.push(path)
  }
}

const DATA_FILES = new Set(['data.json', 'data.yaml', 'data.yml'])

/**
 * Reads every `.rego` module (tests included) and data file under the paths. Data files are
 * merged by their directory relative to the path given, as `verdict build` places them.
 */
export async function readTestSources(
  paths: string[],
): Promise<{ modules: { file: string; source: string }[]; data: Record<string, unknown> }> {
  const modules: { file: string; source: string }[] = []
  const data: Record<string, unknown> = {}
  const seen = new Set<string>()
  for (const root of paths) {
    const isDir = (await stat(root)).isDirectory()
    const files: string[] = []
    if (isDir) await walk(root, files)
    else files.push(root)
    files.sort()
    for (const path of files) {
      if (seen.has(path)) continue
      seen.add(path)
      const name = path.split(/[\\/]/).pop()!
      if (name.endsWith('.rego')) {
        const file = relative(process.cwd(), path) || path
        modules.push({ file, source: await readFile(path, 'utf8') })
      } else if (DATA_FILES.has(name)) {
        const text = await readFile(path, 'utf8')
        const value: unknown = name === 'data.json' ? JSON.parse(text) : parseYaml(text)
        if (value === null || typeof value !== 'object' || Array.isArray(value)) {
          throw new Error(`${path}: a data file must hold an object`)
        }
        const segments = isDir
          ? relative(root, dirname(path))
              .split(/[\\/]/)
              .filter((s) => s !== '')
          : []
        let node = data
        for (const seg of segments) {
          node[seg] ??= {}
          node = node[seg] as Record<string, unknown>
        }
        Object.assign(node, value)
      }
    }
  }
  return { modules, data }
}

function termText(t: Term): string {
  return t.type === 'string' ? t.value : String((t as { value?: unknown }).value)
}

/** Test and todo rules: single-name heads without arguments, one entry per package and name. */
function discoverTests(parsed: Module[]): TestRule[] {
  const found = new Map<string, TestRule>()
  for (const m of parsed) {
    const packagePath = m.package.path.value.slice(1).map(termText)
    for (const rule of m.rules) {
      const head = rule.head.ref[0]
      if (rule.head.ref.length !== 1 || head?.type !== 'var') continue
      if (rule.head.args !== undefined) continue
      const todo = head.value.startsWith('todo_')
      if (!todo && !head.value.startsWith('test_')) continue
      const key = [...packagePath, head.value].join('.')
      // Several definitions of one test are one rule (OPA evaluates the name once).
      if (found.has(key)) continue
      const { file, row, col } = rule.location
      found.set(key, { packagePath, name: head.value, location: { file, row, col }, todo })
    }
  }
  return [...found.values()]
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/**
 * Compiles the sources under `options.paths` with every test as an entrypoint and runs the tests.
 * Throws `RegoErrors` on parse or compile errors.
 *
 * @example
 * const results = await runTests({ paths: ['policies/trades'] })
 * results.every((r) => r.pass || r.skip)
 */
export async function runTests(options: TestOptions): Promise<TestResult[]> {
  const { modules, data } = await readTestSources(options.paths)
  if (modules.length === 0) throw new Error(`no .rego files in ${options.paths.join(', ')}`)
  const parsed: Module[] = []
  const parseErrors: RegoErrors[] = []
  for (const m of modules) {
    try {
      parsed.push(parseModule(m.source, m.file))
    } catch (err) {
      if (!(err instanceof RegoErrors)) throw err
      parseErrors.push(err)
    }
  }
  // compile() reports every module's parse errors together.
  if (parseErrors.length > 0) compile({ modules })
  const fullName = (t: TestRule): string => `data.${[...t.packagePath, t.name].join('.')}`
  const tests = discoverTests(parsed).filter((t) => options.run?.test(fullName(t)) ?? true)
  const runnable = tests.filter((t) => !t.todo)
  const entrypoint = (t: TestRule): string => [...t.packagePath, t.name].join('/')
  const strict = options.strictBuiltinErrors ?? false
  let engine: PolicyEngine | undefined
  if (runnable.length > 0) {
    const { wasm } = compile({
      modules,
      entrypoints: runnable.map(entrypoint),
      strictBuiltinErrors: strict,
      hostBuiltins: HOST_BUILTIN_NAMES,
    })
    engine = await PolicyEngine.load({ wasm, data, builtins: createHostBuiltins({ strict }) })
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TEST_TIMEOUT_MS
  const results: TestResult[] = []
  for (const t of tests) {
    const result: TestResult = {
      package: `data.${t.packagePath.join('.')}`,
      name: t.name,
      location: t.location,
      pass: false,
      fail: false,
      error: null,
      skip: t.todo,
      duration_ms: 0,
    }
    results.push(result)
    if (t.todo) continue
    const started = performance.now()
    let rows: unknown
    try {
      rows = engine!.query(undefined, entrypoint(t))
    } catch (err) {
      result.error = errorText(err)
    }
    result.duration_ms = Math.round((performance.now() - started) * 1000) / 1000
    if (result.error !== null) continue
    // opa-wasm evaluates synchronously, so the budget is checked once the test returns.
    if (result.duration_ms > timeoutMs) {
      result.error = `timeout: the test took ${result.duration_ms}ms (limit ${timeoutMs}ms)`
      continue
    }
    const first = Array.isArray(rows) ? (rows[0] as { result?: unknown } | undefined) : undefined
    const defined = first !== undefined && 'result' in first
    result.pass = defined && first.result !== false
    result.fail = !result.pass
  }
  return results
}

function status(r: TestResult): string {
  if (r.skip) return 'SKIPPED'
  if (r.error !== null) return `ERROR (${r.duration_ms}ms)\n  ${r.error}`
  return `${r.pass ? 'PASS' : 'FAIL'} (${r.duration_ms}ms)`
}

const RULER = '-'.repeat(80)

/**
 * Renders results as `opa test` does: per-test lines (all of them when verbose, else only those
 * that did not pass) grouped by file, then `PASS: n/m` or the counts of each outcome.
 */
export function formatTestResults(
  results: TestResult[],
  options: { format?: 'pretty' | 'json'; verbose?: boolean } = {},
): string {
  if (options.format === 'json') return `${JSON.stringify(results, null, 2)}\n`
  const shown = options.verbose === true ? results : results.filter((r) => !r.pass)
  const lines: string[] = []
  let file: string | undefined
  for (const r of shown) {
    if (r.location.file !== file) {
      if (file !== undefined) lines.push('')
      file = r.location.file
      lines.push(`${file}:`)
    }
    lines.push(`${r.package}.${r.name}: ${status(r)}`)
  }
  if (shown.length > 0) lines.push(RULER)
  const total = results.length
  const count = (f: (r: TestResult) => boolean): number => results.filter(f).length
  const passed = count((r) => r.pass)
  const failed = count((r) => r.fail)
  const errored = count((r) => r.error !== null)
  const skipped = count((r) => r.skip)
  lines.push(`PASS: ${passed}/${total}`)
  if (failed > 0) lines.push(`FAIL: ${failed}/${total}`)
  if (errored > 0) lines.push(`ERROR: ${errored}/${total}`)
  if (skipped > 0) lines.push(`SKIPPED: ${skipped}/${total}`)
  return `${lines.join('\n')}\n`
}

function parseTestArgs(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    options: {
      run: { type: 'string', short: 'r' },
      verbose: { type: 'boolean', short: 'v' },
      format: { type: 'string', short: 'f' },
      timeout: { type: 'string', short: 't' },
      'strict-builtin-errors': { type: 'boolean' },
      help: { type: 'boolean' },
    },
  })
}

/** Where {@link testCommand} writes. */
export interface CommandOutput {
  stdout: (text: string) => void
  stderr: (text: string) => void
}

const PROCESS_OUTPUT: CommandOutput = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
}

/**
 * Runs `verdict test` with its arguments and resolves with the exit code: 0 all passed, 2 a test
 * failed or errored, 1 on usage, load or compile errors (printed as `file:row:col: code: message`).
 *
 * @example
 * process.exitCode = await testCommand(['policies/trades', '--verbose'])
 */
export async function testCommand(
  args: string[],
  out: CommandOutput = PROCESS_OUTPUT,
): Promise<number> {
  let parsed: ReturnType<typeof parseTestArgs>
  try {
    parsed = parseTestArgs(args)
  } catch (err) {
    out.stderr(`verdict: ${errorText(err)}\n`)
    return 1
  }
  const { values, positionals } = parsed
  if (values.help === true) {
    out.stdout(TEST_HELP)
    return 0
  }
  const usage = (message: string): number => {
    out.stderr(`verdict: ${message}\n`)
    return 1
  }
  if (positionals.length === 0) return usage(`test needs at least one path\n${TEST_HELP}`)
  const format = values.format ?? 'pretty'
  if (format !== 'pretty' && format !== 'json') {
    return usage(`--format must be pretty or json, not ${format}`)
  }
  let timeoutMs = DEFAULT_TEST_TIMEOUT_MS
  if (values.timeout !== undefined) {
    // Accept `500`, `500ms`, `2s`: the budget is handed on in milliseconds.
    const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(values.timeout)
    if (m === null) {
      return usage(`--timeout must be a duration such as 500ms or 2s, not ${values.timeout}`)
    }
    timeoutMs = Number(m[1]) * (m[2] === 's' ? 1000 : 1)
  }
  let run: RegExp | undefined
  try {
    run = values.run === undefined ? undefined : new RegExp(values.run)
  } catch (err) {
    return usage(`--run: ${errorText(err)}`)
  }
  let results: TestResult[]
  try {
    results = await runTests({
      paths: positionals,
      timeoutMs,
      strictBuiltinErrors: values['strict-builtin-errors'] === true,
      ...(run === undefined ? {} : { run }),
    })
  } catch (err) {
    // RegoErrors render as `file:row:col: code: message` lines already.
    out.stderr(`${errorText(err)}\n`)
    return 1
  }
  out.stdout(formatTestResults(results, { format, verbose: values.verbose === true }))
  return results.some((r) => r.fail || r.error !== null) ? 2 : 0
}
