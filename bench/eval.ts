/**
 * Evaluation benchmark for one trades decision, with the input the sidecar builds for a bench
 * request (claims of an RS256 access token, subject, action, resource, context):
 * - `PolicyEngine.evaluate()` (direct `opa_eval` plus result reading) and `evaluateJson()` (the
 *   same on input already serialised, as the sidecar passes it),
 * - opa-wasm `evaluate()` (the generic loader path),
 * - raw `opa_eval` on the same instance (input written once; the floor of the wasm path),
 * - a hand-written JS function deciding the same thing (the floor of any implementation).
 * Reports ns per decision and the ratios to the JS baseline.
 *
 * `VERDICT_BENCH_BASELINE=<policy.wasm>` also measures a previously built trades module (e.g.
 * one linked onto an older runtime) in the same run, for before/after ratios.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadPolicy } from '@open-policy-agent/opa-wasm'
import { compile } from '../src/compiler/index.js'
import { createHostBuiltins } from '../src/engine/builtins/index.js'
import { PolicyEngine } from '../src/engine/index.js'
import { benchClaims } from './side-by-side/fixtures.js'

const dir = join(import.meta.dirname, '..', 'policies', 'trades')
const data = JSON.parse(readFileSync(join(dir, 'data.json'), 'utf8')) as { roles: Record<string, string[]> }
const { wasm } = compile({
  modules: [{ file: 'trades.rego', source: readFileSync(join(dir, 'trades.rego'), 'utf8') }],
  entrypoints: ['trades/decision'],
})
const ENTRYPOINT = 'trades/decision'

// Shaped like bench/side-by-side: the trader profile updating one of their trades.
const input = {
  token: benchClaims('trader'),
  subject: { type: 'user', id: 'u-2998', properties: {} },
  action: 'update',
  resource: { type: 'trade', id: 't-2', properties: { owner_id: 2998, location: 'LDN' } },
  context: {},
}

/** The trades policy by hand. */
function decideJs(i: typeof input): { allow: boolean; reasons: string[]; code?: string } {
  const scopes = typeof i.token.scope === 'string' ? i.token.scope.split(' ') : []
  if (!scopes.includes('trades')) return { allow: false, code: 'INSUFFICIENT_SCOPE', reasons: ['insufficient_scope'] }
  const reasons: string[] = []
  const writes = ['create', 'update', 'cancel']
  if (!writes.includes(i.action) && i.action !== 'read') reasons.push('unknown_action')
  if (i.resource.type !== 'trade') reasons.push('wrong_resource_type')
  if (i.resource.properties.owner_id !== i.token.user_id) reasons.push('not_owner')
  if (!i.token.locations.includes(i.resource.properties.location)) reasons.push('wrong_location')
  if (writes.includes(i.action) && !i.token.roles.some((r) => data.roles[r]?.includes(i.action))) {
    reasons.push('missing_permission')
  }
  return reasons.length === 0 ? { allow: true, reasons } : { allow: false, code: 'POLICY_DENIED', reasons: reasons.sort() }
}

/** A measured closure: ns per call is the median of its rounds. */
interface Case {
  label: string
  fn: () => unknown
  rounds: number[]
}

const cases: Case[] = []
function bench(label: string, fn: () => unknown): Case {
  const c = { label, fn, rounds: [] }
  cases.push(c)
  return c
}

/**
 * Runs every case for `n` calls per round, rounds interleaved (A B C A B C ...) so that load from
 * other processes hits all cases alike; the median round is the result. Rounds are timed in CPU
 * time of this process, not wall time: on a busy machine, time spent descheduled would
 * otherwise count.
 */
function runAll(rounds: number, n: number): void {
  for (const c of cases) for (let i = 0; i < 2000; i++) c.fn()
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      const t = process.cpuUsage()
      for (let i = 0; i < n; i++) c.fn()
      const used = process.cpuUsage(t)
      c.rounds.push(((used.user + used.system) * 1000) / n)
    }
  }
}

function median(c: Case): number {
  const s = [...c.rounds].sort((a, b) => a - b)
  return s[s.length >> 1]!
}

/** The wasm measurements of one policy module. */
async function measure(label: string, module: Uint8Array): Promise<{ engine: Case; json: Case; raw: Case; opa: Case }> {
  const builtins = createHostBuiltins({ strict: false })
  const engine = await PolicyEngine.load({ wasm: module, data, entrypoint: ENTRYPOINT, builtins })
  if (engine.evaluate(input).allow !== decideJs(input).allow) throw new Error(`${label}: wasm and JS disagree`)

  const policy = await loadPolicy(module as Uint8Array<ArrayBuffer>, undefined, builtins)
  policy.setData(data)
  const exports = (policy as unknown as { wasmInstance: { exports: Record<string, CallableFunction> } }).wasmInstance.exports
  const p = policy as unknown as { dataAddr: number; dataHeapPtr: number; mem: { buffer: ArrayBuffer }; entrypoints: Record<string, number> }
  const bytes = new TextEncoder().encode(JSON.stringify(input))
  new Uint8Array(p.mem.buffer).set(bytes, p.dataHeapPtr)
  const ep = p.entrypoints[ENTRYPOINT]!
  const end = p.dataHeapPtr + bytes.length

  const text = JSON.stringify(input)
  return {
    engine: bench(`${label}PolicyEngine.evaluate()`, () => engine.evaluate(input)),
    json: bench(`${label}PolicyEngine.evaluateJson()`, () => engine.evaluateJson(text)),
    raw: bench(`${label}raw opa_eval`, () => exports.opa_eval!(0, ep, p.dataAddr, p.dataHeapPtr, bytes.length, end, 0)),
    opa: bench(`${label}opa-wasm evaluate()`, () => policy.evaluate(input, ENTRYPOINT)),
  }
}

console.log(`input: ${JSON.stringify(input).length} bytes of JSON`)
const js = bench('hand-written JS', () => decideJs(input))
const now_ = await measure('', wasm)
const baselinePath = process.env.VERDICT_BENCH_BASELINE
const base = baselinePath ? await measure('baseline ', new Uint8Array(readFileSync(baselinePath))) : undefined
runAll(15, 5_000)
for (const c of cases) console.log(`${c.label.padEnd(38)} ${median(c).toFixed(0).padStart(8)} ns/decision`)
const ratio = (a: Case, b: Case): string => (median(a) / median(b)).toFixed(2)
console.log(
  `ratios: raw opa_eval / JS = ${ratio(now_.raw, js)}x, PolicyEngine.evaluate() / JS = ${ratio(now_.engine, js)}x, ` +
    `PolicyEngine.evaluate() / raw = ${ratio(now_.engine, now_.raw)}x, evaluateJson() / raw = ${ratio(now_.json, now_.raw)}x`,
)
if (base !== undefined) {
  console.log(
    `this build / baseline: raw opa_eval ${ratio(now_.raw, base.raw)}x, ` +
      `PolicyEngine.evaluate() ${ratio(now_.engine, base.engine)}x, evaluateJson() ${ratio(now_.json, base.json)}x, ` +
      `opa-wasm evaluate() ${ratio(now_.opa, base.opa)}x`,
  )
}
