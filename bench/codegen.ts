/**
 * Codegen benchmark: times `generate()` (IR → wasm) alone, on the plans of every conformance
 * case that plans, and on a synthetic policy with many rules. Prints mean, p95 and total.
 *
 * `npx tsx bench/codegen.ts [corpus dir]`
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { generate } from '../src/compiler/codegen/index.js'
import { planOnly } from '../src/compiler/index.js'
import type { Block, Func, Policy } from '../src/compiler/ir/types.js'

const corpus = process.argv[2] ?? join(import.meta.dirname, '..', '..', 'shared', 'conformance', 'opa')

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n)
    return statSync(p).isDirectory() ? yamlFiles(p) : n.endsWith('.yaml') ? [p] : []
  })
}

function stats(label: string, ms: number[]): void {
  const s = [...ms].sort((a, b) => a - b)
  const total = s.reduce((a, b) => a + b, 0)
  const p95 = s[Math.min(s.length - 1, Math.floor(0.95 * s.length))] ?? 0
  console.log(
    `${label}: ${s.length} modules, total ${total.toFixed(1)} ms, mean ${(total / (s.length || 1)).toFixed(3)} ms, p95 ${p95.toFixed(3)} ms`,
  )
}

const plans: Policy[] = []
for (const file of yamlFiles(corpus)) {
  const doc = parseYaml(readFileSync(file, 'utf8')) as { cases?: { modules?: string[]; query: string }[] }
  for (const c of doc.cases ?? []) {
    try {
      plans.push(
        planOnly({
          modules: (c.modules ?? []).map((source, i) => ({ file: `test-${i}.rego`, source })),
          queries: [{ name: 'q', source: c.query }],
        }),
      )
    } catch {
      // cases the front end rejects are not codegen's business
    }
  }
}

generate(plans[0] ?? synthetic(1)) // warm up: parses and caches the runtime
const corpusMs = plans.map((p) => {
  const t = performance.now()
  generate(p)
  return performance.now() - t
})
stats('conformance corpus', corpusMs)

/** A policy with `n` rules `p_i := input.x + i` and a plan that calls all of them. */
function synthetic(n: number): Policy {
  const strings = [{ value: 'x' }]
  const funcs: Func[] = []
  const calls: Block = { stmts: [] }
  const at = { file: 0, row: 1, col: 1 }
  for (let i = 0; i < n; i++) {
    const name = `g0.data.bench.p${i}`
    strings.push({ value: `p${i}` })
    funcs.push({
      name,
      params: [0, 1],
      return: 2,
      path: ['g0', 'bench', `p${i}`],
      blocks: [
        {
          stmts: [
            { type: 'DotStmt', source: { type: 'local', value: 0 }, key: { type: 'string_index', value: 0 }, target: 3, ...at },
            { type: 'MakeNumberIntStmt', value: i, target: 4, ...at },
            { type: 'CallStmt', func: 'plus', args: [{ type: 'local', value: 3 }, { type: 'local', value: 4 }], result: 5, ...at },
            { type: 'AssignVarOnceStmt', source: { type: 'local', value: 5 }, target: 2, ...at },
          ],
        },
        { stmts: [{ type: 'ReturnLocalStmt', source: 2, ...at }] },
      ],
    })
    calls.stmts.push({ type: 'CallStmt', func: name, args: [{ type: 'local', value: 0 }, { type: 'local', value: 1 }], result: 2 + i, ...at })
  }
  return {
    static: { strings, builtin_funcs: [{ name: 'plus', arity: 2 }], files: [{ value: 'bench.rego' }] },
    plans: { plans: [{ name: 'bench', blocks: [calls] }] },
    funcs: { funcs },
  }
}

for (const n of [10, 100, 1000]) {
  const p = synthetic(n)
  const ms: number[] = []
  for (let i = 0; i < 20; i++) {
    const t = performance.now()
    generate(p)
    ms.push(performance.now() - t)
  }
  stats(`synthetic ${n} rules (x20)`, ms)
}
