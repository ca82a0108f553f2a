/**
 * `npm run bench:check`: one sidecar Check in process, stage by stage, without gRPC and sockets:
 * the bench's trades requests (RS256 tokens from the run's own key, seen before: the cached path)
 * decoded by the wire codec, decided by the authorizer on the real token verifier and the trades
 * policy in wasm, the audit event encoded as `verdict serve` does it, the response encoded.
 *
 * Rows, each the median of interleaved rounds timed in process CPU time (ns per Check):
 * - `wire only`: decode the request and encode a fixed response (what any gRPC server pays to
 *   parse and answer; the baseline of the ratios),
 * - `+ token + policy`: the authorizer with no audit hook,
 * - `+ audit encode`: the same with the sidecar's audit encoder, the event written as UTF-8 bytes
 *   as the JetStream sink does when it queues it (no publish),
 * - `full`: all of it plus the real response encoding.
 * A second column gives the JS heap bytes each Check allocates (the median growth of the heap over
 * short windows; a window with a collection in it shrinks and is outvoted): allocation drives how
 * often the young generation is collected, and unlike time it does not depend on the machine.
 * The gRPC transport, the event loop and the NATS publish are not in here: `npm run bench` has
 * those, side by side with an echo server and Cerbos.
 *
 * @module
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { getHeapStatistics } from 'node:v8'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodeDecision } from '../src/cli/serve.js'
import { compile } from '../src/compiler/index.js'
import { createHostBuiltins, PolicyEngine } from '../src/engine/index.js'
import { DecisionCode } from '../src/gen/verdict/v1/authorizer_pb.js'
import {
  createAuthorizer,
  createLogger,
  decodeCheckRequest,
  defaultLimitsOptions,
  encodeCheckResponse,
  PolicyHolder,
} from '../src/server/index.js'
import type { Authorizer, CheckResult, DecisionRecord } from '../src/server/index.js'
import { createTokenVerifier, defaultTokenOptions } from '../src/token/index.js'
import { BENCH_AUDIENCE, BENCH_ISSUER, buildRequests, CASES, createBenchIssuer } from './side-by-side/fixtures.js'
import { codecFor, TargetKind } from './side-by-side/targets.js'

const root = join(import.meta.dirname, '..')
const dir = await mkdtemp(join(tmpdir(), 'verdict-bench-check-'))
try {
  const issuer = await createBenchIssuer(join(dir, 'jwks.json'))
  const requests = await buildRequests(issuer, CASES.length * 4, false)
  const codec = codecFor(TargetKind.VERDICT)
  const wire = requests.map((r) => codec.encode(r))

  const source = await readFile(join(root, 'policies/trades/trades.rego'), 'utf8')
  const data = JSON.parse(await readFile(join(root, 'policies/trades/data.json'), 'utf8'))
  const { wasm } = compile({ modules: [{ file: 'trades.rego', source }], entrypoints: ['trades/decision'] })
  const engine = await PolicyEngine.load({ wasm, data, revision: 'bench', builtins: createHostBuiltins({ strict: false }) })
  const policy = new PolicyHolder()
  policy.set({ engine, revision: 'bench' })
  const verifier = createTokenVerifier({
    ...defaultTokenOptions(),
    issuers: [{ issuer: BENCH_ISSUER, audiences: [BENCH_AUDIENCE], jwks: { file: join(dir, 'jwks.json') } }],
  })
  const logger = createLogger({ level: 'info', stream: { write: () => true } as never })
  const limits = defaultLimitsOptions()

  let events = 0
  let eventBytes = 0
  const service = 'bench'
  // What `verdict serve` does per decision: encode the event, then (as the JetStream sink does at
  // enqueue) write its UTF-8 bytes into a shared buffer; the NATS publish is not in here.
  const bytes = Buffer.allocUnsafe(1 << 20)
  let at = 0
  const audit = (record: DecisionRecord): void => {
    const json = encodeDecision(record, service, {})
    if (at + json.length * 3 > bytes.length) at = 0
    at += bytes.write(json, at)
    events++
    eventBytes += json.length
  }
  const quiet = createAuthorizer({ verifier, policy, limits, logger })
  const audited = createAuthorizer({ verifier, policy, limits, logger, onDecision: audit })

  // Every token verified once, and every answer checked, before anything is timed.
  for (const [i, w] of wire.entries()) {
    const res = await audited.check(decodeCheckRequest(w.bytes))
    const wrong = w.check(encodeCheckResponse(res))
    if (wrong !== undefined) throw new Error(`request ${i}: ${wrong}`)
  }
  const fixed: CheckResult = { allow: true, decisionId: '0190b1a4-0000-7000-8000-000000000000', reasons: [], code: DecisionCode.OK, policyRevision: 'bench' }

  let k = 0
  const next = (): Buffer => wire[k++ % wire.length]!.bytes
  const sync = (a: Authorizer, bytes: Buffer): CheckResult => {
    const res = a.check(decodeCheckRequest(bytes))
    if (res instanceof Promise) throw new Error('a cached token went the asynchronous way')
    return res
  }
  const cases = [
    { label: 'wire only (decode + fixed response)', fn: () => encodeCheckResponse((decodeCheckRequest(next()), fixed)), rounds: [] as number[] },
    { label: '+ token + policy (no audit)', fn: () => sync(quiet, next()), rounds: [] as number[] },
    { label: '+ audit encode', fn: () => sync(audited, next()), rounds: [] as number[] },
    { label: 'full (+ response encode)', fn: () => encodeCheckResponse(sync(audited, next())), rounds: [] as number[] },
  ]
  // Interleaved rounds, timed in this process's CPU time, so other load hits every row alike.
  for (const c of cases) for (let i = 0; i < 3000; i++) c.fn()
  for (let r = 0; r < 15; r++) {
    for (const c of cases) {
      const n = 4000
      const t = process.cpuUsage()
      for (let i = 0; i < n; i++) c.fn()
      const used = process.cpuUsage(t)
      c.rounds.push(((used.user + used.system) * 1000) / n)
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
  // Heap growth over windows far smaller than the young generation (a few hundred KB against
  // its MBs), so most windows see no collection; the median ignores the few that do.
  const allocated = (fn: () => unknown): number => {
    const n = 100
    const xs: number[] = []
    for (let w = 0; w < 41; w++) {
      const before = getHeapStatistics().used_heap_size
      for (let i = 0; i < n; i++) fn()
      xs.push((getHeapStatistics().used_heap_size - before) / n)
    }
    return median(xs)
  }
  const base = median(cases[0]!.rounds)
  console.log(`requests: ${wire.length} (${CASES.length} cases, cached RS256 tokens); audit event ~${Math.round(eventBytes / events)} bytes`)
  console.log('| stage | ns per Check | ratio to wire only | heap bytes per Check |')
  console.log('| --- | ---: | ---: | ---: |')
  for (const c of cases) {
    const m = median(c.rounds)
    console.log(`| ${c.label} | ${m.toFixed(0)} | ${(m / base).toFixed(2)} | ${allocated(c.fn).toFixed(0)} |`)
  }
  verifier.close()
} finally {
  await rm(dir, { recursive: true, force: true })
}
