/**
 * Evaluation benchmark for one trades decision:
 * - opa-wasm `evaluate()` (what the sidecar does),
 * - raw `opa_eval` on the same instance (input written once; the floor of the wasm path),
 * - a hand-written JS function deciding the same thing (the floor of any implementation).
 * Reports ns per decision and the ratios to the JS baseline.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadPolicy } from '@open-policy-agent/opa-wasm'
import { compile } from '../src/compiler/index.js'
import { createHostBuiltins } from '../src/engine/builtins/index.js'

const dir = join(import.meta.dirname, '..', 'policies', 'trades')
const data = JSON.parse(readFileSync(join(dir, 'data.json'), 'utf8')) as { roles: Record<string, string[]> }
const { wasm } = compile({
  modules: [{ file: 'trades.rego', source: readFileSync(join(dir, 'trades.rego'), 'utf8') }],
  entrypoints: ['trades/decision'],
})
const policy = await loadPolicy(wasm, undefined, createHostBuiltins({ strict: false }))
policy.setData(data)

const input = {
  token: { scope: 'trades', sub: '8027379034', user_id: 2998, roles: ['trader'], locations: ['NY'] },
  action: 'update',
  resource: { type: 'trade', id: 't-1', properties: { owner_id: 2998, location: 'NY' } },
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

function time(label: string, n: number, fn: () => unknown): number {
  for (let i = 0; i < Math.min(n, 2000); i++) fn()
  const t = process.hrtime.bigint()
  for (let i = 0; i < n; i++) fn()
  const ns = Number(process.hrtime.bigint() - t) / n
  console.log(`${label.padEnd(28)} ${ns.toFixed(0).padStart(8)} ns/decision`)
  return ns
}

const got = (policy.evaluate(input, 'trades/decision') as { result: { allow: boolean } }[])[0]!.result
if (got.allow !== decideJs(input).allow) throw new Error('wasm and JS disagree')

const exports = (policy as unknown as { wasmInstance: { exports: Record<string, CallableFunction> } }).wasmInstance.exports
const p = policy as unknown as { dataAddr: number; dataHeapPtr: number; mem: { buffer: ArrayBuffer }; entrypoints: Record<string, number> }
const bytes = new TextEncoder().encode(JSON.stringify(input))
new Uint8Array(p.mem.buffer).set(bytes, p.dataHeapPtr)
const ep = p.entrypoints['trades/decision']!

const N = 50_000
const js = time('hand-written JS', N * 4, () => decideJs(input))
const raw = time('raw opa_eval', N, () => exports.opa_eval!(0, ep, p.dataAddr, p.dataHeapPtr, bytes.length, p.dataHeapPtr + bytes.length, 0))
const full = time('opa-wasm evaluate()', N, () => policy.evaluate(input, 'trades/decision'))
console.log(`ratios: raw opa_eval / JS = ${(raw / js).toFixed(1)}x, evaluate() / JS = ${(full / js).toFixed(1)}x, evaluate() / raw = ${(full / raw).toFixed(2)}x`)
