/**
 * One load-generating client process of the side-by-side benchmark (forked by run.ts, several at
 * once so the client is not the bottleneck). It holds one connection to one target and runs
 * phases on command: encode the phase's requests first, then, on `start`, keep `concurrency`
 * calls in flight until `maxRequests` are sent or `durationMs` has passed. It checks every answer,
 * returns the latencies of the right ones, and measures its own CPU time over the phase, so the
 * report can show whether the client was the bottleneck.
 *
 * The calls go through one of three clients (`connect`'s `client`): `h2`, the benchmark's own
 * HTTP/2 client (h2-client.ts, the default: 10-30 µs of CPU per call here, checking included),
 * `grpc-js` (the client the bench used before, 250-330 µs), or `node-http2`, a plain `node:http2`
 * client (130-150 µs, for comparison; `npm run bench:clients`). Each lane is a chain of callbacks
 * rather than an async loop: in process, that saved about 1 µs of the h2 client's 5 per call.
 *
 * Protocol (IPC messages): parent → `connect` | `prepare` | `start` | `exit`;
 * worker → `ready` | `result` | `error`.
 *
 * @module
 */
import * as http2 from 'node:http2'
import { connect as netConnect } from 'node:net'
import { Client, credentials, Metadata } from '@grpc/grpc-js'
import type { ServiceError } from '@grpc/grpc-js'
import type { BenchRequest } from './fixtures.js'
import { H2Client } from './h2-client.js'
import { codecFor } from './targets.js'
import type { TargetCodec, TargetKind, WireRequest } from './targets.js'

/** The gRPC clients a worker can load a target with. */
export const LoadClientKind = { H2: 'h2', GRPC_JS: 'grpc-js', NODE_HTTP2: 'node-http2' } as const
/** One of {@link LoadClientKind}. */
export type LoadClientKind = (typeof LoadClientKind)[keyof typeof LoadClientKind]

/** Messages the parent sends. */
export type WorkerCommand =
  | { type: 'connect'; kind: TargetKind; address: string; client: LoadClientKind }
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
  /** CPU time (user + system, all threads) this worker process used over the phase, in µs. */
  cpuUs: number
}

/** Messages the worker sends. */
export type WorkerReply =
  { type: 'ready' } | { type: 'result'; result: WorkerResult } | { type: 'error'; message: string }

const MAX_SAMPLES = 5
const identity = (b: Buffer): Buffer => b

/** A call in progress on one lane: what was sent and when. */
interface Lane {
  req: WireRequest | undefined
  t0: number
}

/** Called once per call with the answer or the error, and the lane that made the call. */
type Done = (err: Error | null, answer: Buffer | undefined, lane: Lane) => void

/** A connection that makes unary calls with pre-encoded bytes. */
interface LoadClient {
  call(path: string, bytes: Buffer, done: Done, lane: Lane): void
  close(): void
}

function h2Client(address: string): Promise<LoadClient> {
  return H2Client.connect(address).then((c) => ({
    call: (path, bytes, done, lane) => c.call(path, bytes, done, lane),
    close: () => c.close(),
  }))
}

function grpcJsClient(address: string): Promise<LoadClient> {
  const c = new Client(address, credentials.createInsecure())
  return new Promise((resolve, reject) =>
    c.waitForReady(new Date(Date.now() + 10_000), (err) =>
      err
        ? reject(err)
        : resolve({
            call(path, bytes, done, lane) {
              c.makeUnaryRequest(
                path,
                identity,
                identity,
                bytes,
                new Metadata(),
                {},
                (e: ServiceError | null, res?: Buffer) => done(e, res, lane),
              )
            },
            close: () => c.close(),
          }),
    ),
  )
}

/** The 5-byte gRPC prefix and the message, as `node:http2` sends it. */
function framed(bytes: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + bytes.length)
  out[0] = 0
  out.writeUInt32BE(bytes.length, 1)
  bytes.copy(out, 5)
  return out
}

/**
 * A gRPC unary client on `node:http2`, as a reader would write one: for comparison with the
 * other two, not for measuring targets.
 */
function nodeHttp2Client(address: string): Promise<LoadClient> {
  const unix = address.startsWith('unix:')
  const session = unix
    ? http2.connect('http://localhost', {
        createConnection: () => netConnect(address.replace(/^unix:(\/\/)?/, '')),
      })
    : http2.connect(`http://${address}`)
  const frames = new WeakMap<Buffer, Buffer>()
  return new Promise((resolve, reject) => {
    session.once('error', reject)
    session.once('connect', () => {
      session.off('error', reject)
      session.on('error', () => {})
      resolve({
        call(path, bytes, done, lane) {
          let body = frames.get(bytes)
          if (body === undefined) frames.set(bytes, (body = framed(bytes)))
          const stream = session.request({
            ':method': 'POST',
            ':path': path,
            'content-type': 'application/grpc',
            te: 'trailers',
          })
          const parts: Buffer[] = []
          let status: string | undefined
          let message = ''
          const onHeaders = (h: http2.IncomingHttpHeaders) => {
            if (h['grpc-status'] !== undefined) {
              status = String(h['grpc-status'])
              message = decodeURIComponent(String(h['grpc-message'] ?? ''))
            }
          }
          stream.on('response', onHeaders)
          stream.on('trailers', onHeaders)
          stream.on('data', (c: Buffer) => parts.push(c))
          stream.on('error', () => {})
          stream.on('close', () => {
            const all = Buffer.concat(parts)
            if (status === '0' && all.length >= 5) done(null, all.subarray(5), lane)
            else done(new Error(`grpc-status ${status ?? 'missing'}: ${message}`), undefined, lane)
          })
          stream.end(body)
        },
        close: () => session.close(),
      })
    })
  })
}

function connectClient(kind: LoadClientKind, address: string): Promise<LoadClient> {
  switch (kind) {
    case LoadClientKind.H2:
      return h2Client(address)
    case LoadClientKind.GRPC_JS:
      return grpcJsClient(address)
    case LoadClientKind.NODE_HTTP2:
      return nodeHttp2Client(address)
  }
}

let client: LoadClient | undefined
let codec: TargetCodec | undefined
let prepared:
  | { requests: WireRequest[]; concurrency: number; maxRequests: number; durationMs: number }
  | undefined

function reply(msg: WorkerReply): void {
  process.send?.(msg)
}

function runPhase(): Promise<WorkerResult> {
  if (!client || !codec || !prepared) throw new Error('start before connect/prepare')
  const { requests, concurrency, maxRequests, durationMs } = prepared
  const c = client
  const path = codec.path
  const latencies: number[] = []
  const samples: string[] = []
  let wrong = 0
  let errors = 0
  let next = 0
  let open = concurrency
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  const deadline = started + durationMs
  return new Promise((resolve) => {
    const send = (lane: Lane): void => {
      if (next < maxRequests && performance.now() < deadline) {
        const req = requests[next++ % requests.length]!
        lane.req = req
        lane.t0 = performance.now()
        c.call(path, req.bytes, done, lane)
        return
      }
      if (--open > 0) return
      const cpu = process.cpuUsage(cpuBefore)
      resolve({
        latenciesUs: latencies,
        ok: latencies.length,
        wrong,
        errors,
        samples,
        elapsedMs: performance.now() - started,
        cpuUs: cpu.user + cpu.system,
      })
    }
    const done: Done = (err, answer, lane) => {
      if (err !== null || answer === undefined) {
        errors++
        if (samples.length < MAX_SAMPLES)
          samples.push(`error: ${err ? err.message : 'empty answer'}`)
      } else {
        const us = (performance.now() - lane.t0) * 1000
        const why = lane.req!.check(answer)
        if (why === undefined) latencies.push(us)
        else {
          wrong++
          if (samples.length < MAX_SAMPLES) samples.push(`wrong: ${why}`)
        }
      }
      send(lane)
    }
    for (let i = 0; i < concurrency; i++) send({ req: undefined, t0: 0 })
  })
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
        connectClient(msg.client, msg.address).then((c) => {
          client = c
          reply({ type: 'ready' })
        }, fail)
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
