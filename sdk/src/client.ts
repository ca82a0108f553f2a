/**
 * The PEP client: `check` and `batchCheck` against a Verdict sidecar over gRPC, with plain
 * objects in and out.
 *
 * @module
 */

import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import type { JsonObject, MessageInitShape } from '@bufbuild/protobuf'
import { Client, credentials as grpcCredentials, Metadata } from '@grpc/grpc-js'
import type { ChannelCredentials, ServiceError } from '@grpc/grpc-js'
import { decisionCodeName } from './codes.js'
import type { DecisionCode } from './codes.js'
import {
  BatchCheckRequestSchema,
  BatchCheckResponseSchema,
  CheckRequestSchema,
  CheckResponseSchema,
} from './gen/verdict/v1/authorizer_pb.js'
import type { CheckResponse } from './gen/verdict/v1/authorizer_pb.js'

/** A Check request; `properties` and `context` are plain JSON objects. */
export type CheckRequest = MessageInitShape<typeof CheckRequestSchema>
/** A BatchCheck request. */
export type BatchCheckRequest = MessageInitShape<typeof BatchCheckRequestSchema>

/** One decision. */
export interface Decision {
  allow: boolean
  decisionId: string
  reasons: string[]
  code: DecisionCode
  policyRevision: string
  obligations?: JsonObject
}

/** Options for {@link createClient}. */
export interface ClientOptions {
  /** `host:port` of the sidecar. Example: `127.0.0.1:50051`. */
  address: string
  /** Channel credentials; default insecure (loopback sidecar). */
  credentials?: ChannelCredentials
  /** Deadline per call, in ms. Default 5000. */
  timeoutMs?: number
  /**
   * HTTP/2 connections to open, calls spread over them in turn. Default 1. A sidecar started
   * with `--workers N` hands each connection to one worker, so give it at least N to use them all.
   */
  connections?: number
}

/** A connected client. */
export interface VerdictClient {
  check(request: CheckRequest): Promise<Decision>
  batchCheck(request: BatchCheckRequest): Promise<Decision[]>
  close(): void
}

function toDecision(res: CheckResponse): Decision {
  const decision: Decision = {
    allow: res.allow,
    decisionId: res.decisionId,
    reasons: res.reasons,
    code: decisionCodeName(res.code),
    policyRevision: res.policyRevision,
  }
  if (res.obligations !== undefined) decision.obligations = res.obligations
  return decision
}

/**
 * Creates a client for a Verdict sidecar.
 *
 * @example
 * const verdict = createClient({ address: '127.0.0.1:50051' })
 * const d = await verdict.check({ token, action: 'read', resource: { type: 'trade', id: 't1' } })
 */
export function createClient(options: ClientOptions): VerdictClient {
  const connections = options.connections ?? 1
  if (!Number.isInteger(connections) || connections < 1) {
    throw new RangeError(`connections must be a positive integer (got ${connections})`)
  }
  const creds = options.credentials ?? grpcCredentials.createInsecure()
  // grpc-js shares one connection between clients of the same target unless each has its own
  // subchannel pool.
  const clients = Array.from(
    { length: connections },
    () => new Client(options.address, creds, connections > 1 ? { 'grpc.use_local_subchannel_pool': 1 } : {}),
  )
  let turn = 0
  const timeoutMs = options.timeoutMs ?? 5000
  const call = <Req, Res>(
    path: string,
    serialize: (r: Req) => Buffer,
    deserialize: (b: Buffer) => Res,
    request: Req,
  ): Promise<Res> =>
    new Promise((resolve, reject) => {
      const client = clients[turn]!
      turn = (turn + 1) % clients.length
      client.makeUnaryRequest(
        path,
        serialize,
        deserialize,
        request,
        new Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err: ServiceError | null, res?: Res) => {
          if (err !== null || res === undefined) reject(err ?? new Error('empty response'))
          else resolve(res)
        },
      )
    })
  return {
    async check(request) {
      const res = await call(
        '/verdict.v1.Authorizer/Check',
        (r) => Buffer.from(toBinary(CheckRequestSchema, r)),
        (b) => fromBinary(CheckResponseSchema, b),
        create(CheckRequestSchema, request),
      )
      return toDecision(res)
    },
    async batchCheck(request) {
      const res = await call(
        '/verdict.v1.Authorizer/BatchCheck',
        (r) => Buffer.from(toBinary(BatchCheckRequestSchema, r)),
        (b) => fromBinary(BatchCheckResponseSchema, b),
        create(BatchCheckRequestSchema, request),
      )
      return res.results.map(toDecision)
    },
    close() {
      for (const client of clients) client.close()
    },
  }
}
