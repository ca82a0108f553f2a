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
  const client = new Client(options.address, options.credentials ?? grpcCredentials.createInsecure())
  const timeoutMs = options.timeoutMs ?? 5000
  const call = <Req, Res>(
    path: string,
    serialize: (r: Req) => Buffer,
    deserialize: (b: Buffer) => Res,
    request: Req,
  ): Promise<Res> =>
    new Promise((resolve, reject) => {
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
      client.close()
    },
  }
}
