/**
 * Compile-time benchmark: every case of the OPA conformance corpus and every policy folder under
 * policies/, compiled to wasm with Verdict's compiler. Reports totals, per-case mean and p95,
 * and the ratio to a baseline in the same run (parsing the same sources only).
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { compile } from '../src/compiler/index.js'
import { parseModule } from '../src/rego/index.js'
import { loadCases } from '../test/helpers/conformance.js'

const repo = join(import.meta.dirname, '..')
const corpus = process.env.VERDICT_CONFORMANCE_DIR ?? join(repo, '..', 'shared', 'conformance', 'opa')

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0
}

const cases = loadCases(corpus)
const compileMs: number[] = []
const parseMs: number[] = []
let compiled = 0
for (const c of cases) {
  const modules = (c.modules ?? []).map((source, i) => ({ file: `test-${i}.rego`, source }))
  let t = performance.now()
  try {
    for (const m of modules) parseModule(m.source, m.file)
  } catch {
    // parse errors are part of the corpus
  }
  parseMs.push(performance.now() - t)
  t = performance.now()
  try {
    compile({ modules, queries: [{ name: 'q', source: c.query }] })
    compiled++
  } catch {
    // compile errors are part of the corpus
  }
  compileMs.push(performance.now() - t)
}
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)
console.log(`corpus: ${cases.length} cases (${compiled} compiled), total ${sum(compileMs).toFixed(0)} ms, ` +
  `mean ${(sum(compileMs) / cases.length).toFixed(2)} ms, p95 ${percentile(compileMs, 95).toFixed(2)} ms, ` +
  `compile/parse ratio ${(sum(compileMs) / Math.max(sum(parseMs), 0.001)).toFixed(1)}x`)

for (const name of readdirSync(join(repo, 'policies'))) {
  const dir = join(repo, 'policies', name)
  const modules = readdirSync(dir)
    .filter((f) => f.endsWith('.rego'))
    .map((f) => ({ file: f, source: readFileSync(join(dir, f), 'utf8') }))
  const runs: number[] = []
  for (let i = 0; i < 20; i++) {
    const t = performance.now()
    compile({ modules, entrypoints: [`${name}/decision`] })
    runs.push(performance.now() - t)
  }
  console.log(`policies/${name}: first ${runs[0]!.toFixed(2)} ms, median ${percentile(runs, 50).toFixed(2)} ms`)
}
