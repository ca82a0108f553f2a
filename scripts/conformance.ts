/**
 * `npm run conformance [-- <dir>] [--only <substring>] [--verbose]`: runs OPA-format language
 * test cases through Verdict's compiler and the unmodified opa-wasm package, prints a table per
 * category and ends with `conformance: N passed, M failed, K skipped`.
 *
 * Without a directory it runs OPA's own cases from ../shared/conformance/opa (next to the
 * repository) and the project's cases in test/cases.
 */
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { formatSummary, loadCases, runCases } from '../test/helpers/conformance.js'
import { KNOWN_FAILURES } from '../test/conformance/known-failures.js'

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    only: { type: 'string' },
    verbose: { type: 'boolean', short: 'v' },
    'no-skip': { type: 'boolean' },
  },
})

const dirs = positionals.length > 0 ? positionals.map((p) => resolve(p)) : defaultDirs()
let cases = dirs.flatMap((d) => {
  if (!existsSync(d)) {
    console.error(`conformance: no such folder: ${d}`)
    process.exit(2)
  }
  return loadCases(d)
})
if (values.only) cases = cases.filter((c) => `${c.file}#${c.note}`.includes(values.only!))

const summary = await runCases(cases, values['no-skip'] ? new Map() : KNOWN_FAILURES)
for (const r of summary.results) {
  if (r.outcome === 'failed' || (values.verbose && r.outcome === 'skipped')) {
    console.log(`${r.outcome.toUpperCase()} ${r.case.file}#${r.case.note}: ${r.reason}`)
  }
}
console.log(formatSummary(summary))
process.exitCode = summary.failed > 0 ? 1 : 0

function defaultDirs(): string[] {
  const opa = process.env.VERDICT_CONFORMANCE_DIR ?? join(repo, '..', 'shared', 'conformance', 'opa')
  return [opa, join(repo, 'test', 'cases')].filter((d) => existsSync(d))
}
