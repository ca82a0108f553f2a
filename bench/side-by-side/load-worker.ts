/**
 * One load-generating client process of the side-by-side benchmark (forked by run.ts, several at
 * once so the client is not the bottleneck). It holds one gRPC channel to one target and runs
 * phases on command: encode the phase's requests first, then, on `start`, keep `concurrency`
 * calls in flight until `maxRequests` are sent or `durationMs` has passed. It checks every answer
 * and returns the latencies of the right ones.
 *
 * Protocol (IPC messages): parent → `connect` | `prepare` | `start` | `exit`;
 * worker → `ready` | `result` | `error`.
 *
 * @module
 */
import { Client, credentials, Metadata } from '@grpc/grpc-js'
import type { ServiceError } from '@grpc/grpc-js'
import type { BenchRequest } from './fixtures.js'
import { codecFor } from './targets.js'
import type { TargetCodec, TargetKind, WireRequest } from './targets.js'

/** Messages the parent sends. */
export type WorkerCommand =
  | { type: 'connect'; kind: TargetKind; address: string }
  | {
      type: 'prepare'
      requests: BenchRequest[]
      concurrency: number
      maxRequests: number
      durationMs: number
    }
  | { type: 'start' }
  | { type: 'exit' }

/** What one worker measured in one phase. */
export interface WorkerResult {
  /** Latency of each right answer, in microseconds. */
  latenciesUs: number[]
  ok: number
  wrong: number
  errors: number
  /** A few wrong answers and errors, to explain them in the report. */
  samples: string[]
  elapsedMs: number
}

/** Messages the worker sends. */
export type WorkerReply =
  { type: 'ready' } | { type: 'result'; result: WorkerResult } | { type: 'error'; message: string }

const MAX_SAMPLES = 5
const identity = (b: Buffer): Buffer => b

let client: Client | undefined
let codec: TargetCodec | undefined
let prepared:
  | { requests: WireRequest[]; concurrency: number; maxRequests: number; durationMs: number }
  | undefined

function reply(msg: WorkerReply): void {
  process.send?.(msg)
}

function call(c: Client, path: string, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    c.makeUnaryRequest(
      path,
      identity,
      identity,
      bytes,
      new Metadata(),
      {},
      (err: ServiceError | null, res?: Buffer) => {
        if (err || res === undefined) reject(err ?? new Error('empty answer'))
        else resolve(res)
      },
    )
  })
}

async function runPhase(): Promise<WorkerResult> {
  if (!client || !codec || !prepared) throw new Error('start before connect/prepare')
  const { requests, concurrency, maxRequests, durationMs } = prepared
  const c = client
  const path = codec.path
  const latencies: number[] = []
  const samples: string[] = []
  let wrong = 0
  let errors = 0
  let next = 0
  const started = performance.now()
  const deadline = started + durationMs
  const lane = async (): Promise<void> => {
    while (next < maxRequests && performance.now() < deadline) {
      const req = requests[next++ % requests.length]!
      const t0 = performance.now()
      try {
        const answer = await call(c, path, req.bytes)
        const us = (performance.now() - t0) * 1000
        const why = req.check(answer)
        if (why === undefined) latencies.push(us)
        else {
          wrong++
          if (samples.length < MAX_SAMPLES) samples.push(`wrong: ${why}`)
        }
      } catch (err) {
        errors++
        if (samples.length < MAX_SAMPLES)
          samples.push(`error: ${err instanceof Error ? err.message : String(err)}`)
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane))
  return {
    latenciesUs: latencies,
    ok: latencies.length,
    wrong,
    errors,
    samples,
    elapsedMs: performance.now() - started,
  }
}

// The parent is gone (crashed or killed): nobody will read results, so leave at once.
process.on('disconnect', () => process.exit(0))

process.on('message', (msg: WorkerCommand) => {
  const fail = (err: unknown) =>
    reply({ type: 'error', message: err instanceof Error ? err.message : String(err) })
  try {
    switch (msg.type) {
      case 'connect': {
        codec = codecFor(msg.kind)
        client = new Client(msg.address, credentials.createInsecure())
        const deadline = new Date(Date.now() + 10_000)
        client.waitForReady(deadline, (err) => (err ? fail(err) : reply({ type: 'ready' })))
        return
      }
      case 'prepare': {
        const enc = codec
        if (!enc) throw new Error('prepare before connect')
        prepared = {
          requests: msg.requests.map((r) => enc.encode(r)),
          concurrency: msg.concurrency,
          maxRequests: msg.maxRequests,
          durationMs: msg.durationMs,
        }
        reply({ type: 'ready' })
        return
      }
      case 'start':
        runPhase().then((result) => reply({ type: 'result', result }), fail)
        return
      case 'exit':
        client?.close()
        process.exit(0)
    }
  } catch (err) {
    fail(err)
  }
})
