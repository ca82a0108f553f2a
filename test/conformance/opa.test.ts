/**
 * OPA's own language cases, compiled by Verdict and evaluated through the unmodified opa-wasm
 * package. The pass count may never drop below FLOOR; raise FLOOR whenever it goes up.
 */
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { loadCases, runCases, type Summary } from '../helpers/conformance.js'
import { KNOWN_FAILURES } from './known-failures.js'

/** The number of OPA cases that must pass. Only ever raise it. */
const FLOOR = 807

/** Categories the compiler must pass completely (no failures, no skips). */
const COMPLETE: readonly string[] = [
  'aggregates', 'arithmetic', 'array', 'assignments', 'baseandvirtualdocs', 'casts',
  'comparisonexpr', 'completedoc', 'compositebasedereference', 'compositereferences',
  'comprehensions', 'dataderef', 'defaultkeyword', 'disjunction', 'elsekeyword', 'eqexpr',
  'evaltermexpr', 'functionerrors', 'functions', 'inputvalues', 'negation', 'objectget',
  'objectremove', 'objectunion', 'partialobjectdoc', 'partialsetdoc', 'refheads', 'sets',
  'typebuiltin', 'virtualdocs', 'withkeyword',
]

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const corpus = process.env.VERDICT_CONFORMANCE_DIR ?? join(repo, '..', 'shared', 'conformance', 'opa')

describe('OPA conformance', () => {
  let summary: Summary

  it('finds the corpus next to the repository', () => {
    expect(existsSync(corpus), `conformance corpus missing at ${corpus}`).toBe(true)
  })

  it(`passes at least ${FLOOR} cases and fails none outside the known-failures table`, async () => {
    summary = await runCases(loadCases(corpus), KNOWN_FAILURES)
    const failed = summary.results.filter((r) => r.outcome === 'failed')
    const report = failed.map((r) => `${r.case.file}#${r.case.note}: ${r.reason}`).join('\n')
    expect(summary.passed).toBeGreaterThanOrEqual(FLOOR)
    expect(report).toBe('')
  }, 600_000)

  it('passes every case of the categories held complete', () => {
    for (const name of COMPLETE) {
      const t = summary.byCategory.get(name)
      expect(t, name).toBeDefined()
      expect({ name, failed: t!.failed, skipped: t!.skipped }).toEqual({ name, failed: 0, skipped: 0 })
    }
  })

  it('gives a reason for every known failure', () => {
    for (const [key, reason] of KNOWN_FAILURES) expect(reason.trim(), key).not.toBe('')
  })
})
