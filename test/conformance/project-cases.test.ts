/**
 * The project's own cases in test/cases/ (OPA's case format) for what OPA's corpus here lacks:
 * every, contains, some ... in, rule heads with refs. All of them must pass.
 */
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { loadCases, runCases } from '../helpers/conformance.js'

const dir = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'cases')

describe('project conformance cases', () => {
  it('passes every case in test/cases', async () => {
    const cases = loadCases(dir)
    expect(cases.length).toBeGreaterThan(0)
    const summary = await runCases(cases, new Map())
    const failed = summary.results.filter((r) => r.outcome !== 'passed')
    expect(failed.map((r) => `${r.case.file}#${r.case.note}: ${r.reason}`)).toEqual([])
  }, 120_000)
})
