/**
 * `verdict test` in-process: passing, failing, erroring and todo tests on temp folders, the
 * trades policy's own tests, and `verdict build` beside test files.
 */
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadBundle } from '../../src/bundle/index.js'
import { buildBundle, defaultEntrypoints, readPolicySources } from '../../src/cli/index.js'
import { main } from '../../src/cli/main.js'
import { formatTestResults, runTests, testCommand } from '../../src/cli/test-command.js'
import type { TestResult } from '../../src/cli/test-command.js'

const root = join(import.meta.dirname, '..', '..')
const trades = join(root, 'policies', 'trades')

/** Runs `verdict test` in-process and captures what it prints. */
async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await testCommand(args, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
  })
  return { code, stdout, stderr }
}

const byName = (results: TestResult[]): Record<string, TestResult> =>
  Object.fromEntries(results.map((r) => [r.name, r]))

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-test-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function folder(name: string, files: Record<string, string>): Promise<string> {
  const base = join(dir, name)
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(base, path, '..'), { recursive: true })
    await writeFile(join(base, path), text)
  }
  return base
}

const MIXED = `package mixed

allow if input.user == "alice"

x := 1 if true
x := 2 if true

test_pass if allow with input as {"user": "alice"}
test_undefined if allow with input as {"user": "bob"}
test_false if false
test_conflict if x == 1
test_builtin_error if to_number("abc") == 1
todo_later if false
`

describe('runTests', () => {
  it('reports passing, failing, erroring and todo tests', async () => {
    const base = await folder('mixed', { 'mixed_test.rego': MIXED })
    const results = byName(await runTests({ paths: [base] }))
    expect(Object.keys(results)).toEqual([
      'test_pass',
      'test_undefined',
      'test_false',
      'test_conflict',
      'test_builtin_error',
      'todo_later',
    ])
    expect(results.test_pass).toMatchObject({
      package: 'data.mixed',
      pass: true,
      fail: false,
      error: null,
    })
    expect(results.test_pass!.location).toMatchObject({ row: 8, col: 1 })
    expect(results.test_undefined).toMatchObject({ pass: false, fail: true, error: null })
    expect(results.test_false).toMatchObject({ pass: false, fail: true })
    expect(results.test_conflict).toMatchObject({ pass: false, fail: false })
    expect(results.test_conflict!.error).toMatch(/^eval_conflict_error: /)
    // Without strict builtin errors a failing builtin makes the call undefined, as in OPA.
    expect(results.test_builtin_error).toMatchObject({ fail: true, error: null })
    expect(results.todo_later).toMatchObject({ skip: true, pass: false, fail: false })
    expect(results.todo_later!.duration_ms).toBe(0)
  })

  it('reports builtin errors as errors in strict mode', async () => {
    const base = join(dir, 'mixed')
    const results = byName(await runTests({ paths: [base], strictBuiltinErrors: true }))
    expect(results.test_builtin_error!.error).toMatch(/^eval_builtin_error: to_number: /)
  })

  it('loads data.json and data.yaml by directory and honours with data', async () => {
    const base = await folder('data', {
      'lib/data.json': '{"limit": 3}',
      'lib/conf/data.yaml': 'mode: strict\n',
      'p/p.rego': 'package p\n\nok if data.lib.limit > 2\n',
      'p/p_test.rego': `package p_test

import data.p

test_json if p.ok
test_yaml if data.lib.conf.mode == "strict"
test_with_data if not p.ok with data.lib.limit as 1
`,
    })
    const results = await runTests({ paths: [base] })
    expect(results.map((r) => [r.name, r.pass])).toEqual([
      ['test_json', true],
      ['test_yaml', true],
      ['test_with_data', true],
    ])
  })

  it('selects tests with --run on the full name', async () => {
    const run = /mixed\.test_(pass|false)$/
    const results = await runTests({ paths: [join(dir, 'mixed')], run })
    expect(results.map((r) => r.name)).toEqual(['test_pass', 'test_false'])
  })
})

describe('testCommand', () => {
  it('passes every trades policy test and exits 0', async () => {
    const { code, stdout } = await run([trades])
    expect(code).toBe(0)
    expect(stdout).toMatch(/^PASS: (\d+)\/\1\n$/)
    const results = await runTests({ paths: [trades] })
    expect(results.length).toBeGreaterThanOrEqual(10)
    expect(results.every((r) => r.pass && r.package === 'data.trades_test')).toBe(true)
  })

  it('lists every test when verbose', async () => {
    const { code, stdout } = await run([trades, '--verbose', '--run', 'insufficient_scope'])
    expect(code).toBe(0)
    expect(stdout).toContain('trades_test.rego:\n')
    expect(stdout).toMatch(
      /data\.trades_test\.test_missing_scope_is_insufficient_scope: PASS \([\d.]+ms\)/,
    )
    expect(stdout).toMatch(/PASS: 2\/2\n$/)
  })

  it('fails the trades tests when the policy changes behaviour', async () => {
    const copy = join(dir, 'trades-broken')
    await cp(trades, copy, { recursive: true })
    const policy = join(copy, 'trades.rego')
    // Drop the location check: the wrong_location test must notice.
    const source = (await readFile(policy, 'utf8')).replace(
      'in_user_location if input.resource.properties.location in input.token.locations',
      'in_user_location := true',
    )
    await writeFile(policy, source)
    const { code, stdout } = await run([copy])
    expect(code).toBe(2)
    expect(stdout).toMatch(/data\.trades_test\.test_deny_wrong_location: FAIL/)
    expect(stdout).toMatch(/\nFAIL: 2\/\d+\n/)
  })

  it('lists failures, errors and skips and exits 2', async () => {
    const { code, stdout } = await run([join(dir, 'mixed')])
    expect(code).toBe(2)
    expect(stdout).not.toContain('test_pass:')
    expect(stdout).toContain('data.mixed.test_undefined: FAIL')
    expect(stdout).toMatch(
      /data\.mixed\.test_conflict: ERROR \([\d.]+ms\)\n {2}eval_conflict_error: /,
    )
    expect(stdout).toContain('data.mixed.todo_later: SKIPPED')
    expect(stdout).toMatch(/PASS: 1\/6\nFAIL: 3\/6\nERROR: 1\/6\nSKIPPED: 1\/6\n$/)
  })

  it('prints JSON results', async () => {
    const args = [join(dir, 'mixed'), '--format', 'json', '--run', 'test_pass']
    const { code, stdout } = await run(args)
    expect(code).toBe(0)
    const parsed = JSON.parse(stdout) as TestResult[]
    expect(parsed).toHaveLength(1)
    expect(parsed[0]).toMatchObject({
      package: 'data.mixed',
      name: 'test_pass',
      location: { row: 8, col: 1 },
      pass: true,
      fail: false,
      error: null,
      skip: false,
    })
    expect(Object.keys(parsed[0]!).sort()).toEqual(
      ['duration_ms', 'error', 'fail', 'location', 'name', 'package', 'pass', 'skip'],
    )
  })

  it('reports compile errors as file:row:col: code: message and exits 1', async () => {
    const base = await folder('broken', {
      'ok_test.rego': 'package ok\n\ntest_a if true\n',
      'bad.rego': 'package bad\n\np if {\n',
    })
    const { code, stdout, stderr } = await run([base])
    expect(code).toBe(1)
    expect(stdout).toBe('')
    expect(stderr).toMatch(/bad\.rego:4:1: rego_parse_error: /)
  })

  it('rejects bad flags and prints help', async () => {
    expect((await run([])).code).toBe(1)
    expect((await run([trades, '--format', 'xml'])).code).toBe(1)
    expect((await run([trades, '--timeout', 'soon'])).code).toBe(1)
    const help = await run(['--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/^Usage: verdict test <path>\.\.\./)
  })

  it('errors a test that runs over its time budget', async () => {
    const base = await folder('slow', {
      'slow_test.rego':
        'package slow\n\ntest_many if count([x | some x in numbers.range(1, 200000)]) > 0\n',
    })
    const { code, stdout } = await run([base, '--timeout', '0.001'])
    expect(code).toBe(2)
    expect(stdout).toMatch(/test_many: ERROR .*\n {2}timeout: /)
  })

  it('is reachable as verdict test', async () => {
    expect(await main(['test', '--help'])).toBe(0)
  })
})

describe('verdict build with tests present', () => {
  it('leaves test files out of the bundle and of decision discovery', async () => {
    const { modules } = await readPolicySources(trades)
    expect(modules.map((m) => m.file).some((f) => f.endsWith('_test.rego'))).toBe(false)
    expect(defaultEntrypoints(modules)).toEqual(['trades/decision'])
    const output = join(dir, 'trades.tar.gz')
    const built = await buildBundle({ source: trades, output, entrypoints: [] })
    expect(built.entrypoints).toEqual(['trades/decision'])
    const bundle = await loadBundle(output)
    expect(bundle.manifest.roots).toEqual(['roles', 'trades'])
  })
})

describe('formatTestResults', () => {
  it('prints only the summary when everything passes', () => {
    const r: TestResult = {
      package: 'data.p',
      name: 'test_a',
      location: { file: 'p.rego', row: 1, col: 1 },
      pass: true,
      fail: false,
      error: null,
      skip: false,
      duration_ms: 1.2,
    }
    expect(formatTestResults([r])).toBe('PASS: 1/1\n')
    expect(formatTestResults([r], { verbose: true })).toBe(
      `p.rego:\ndata.p.test_a: PASS (1.2ms)\n${'-'.repeat(80)}\nPASS: 1/1\n`,
    )
  })
})
