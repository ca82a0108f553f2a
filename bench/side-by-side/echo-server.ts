/**
 * The floor of the side-by-side benchmark: a grpc-js server on the Authorizer's Check path that
 * neither parses the request nor decides anything, and answers one pre-encoded CheckResponse.
 * Whatever Verdict costs above this is Verdict's, not Node's or grpc-js'. Run as a child process
 * (forked by run.ts); it reports its bound address over IPC and stops on SIGTERM.
 *
 * @module
 */
import { create, toBinary } from '@bufbuild/protobuf'
import { Server, ServerCredentials } from '@grpc/grpc-js'
import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js'
import { CheckResponseSchema, DecisionCode } from '../../src/gen/verdict/v1/authorizer_pb.js'

const ANSWER = Buffer.from(
  toBinary(
    CheckResponseSchema,
    create(CheckResponseSchema, {
      allow: true,
      decisionId: '00000000-0000-4000-8000-000000000000',
      code: DecisionCode.OK,
      policyRevision: 'echo',
    }),
  ),
)

const identity = (b: Buffer): Buffer => b

const server = new Server()
server.addService(
  {
    Check: {
      path: '/verdict.v1.Authorizer/Check',
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  },
  {
    Check: (_call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) =>
      callback(null, ANSWER),
  },
)

const address = process.argv[2] ?? '127.0.0.1:0'
server.bindAsync(address, ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    process.send?.({ type: 'error', message: err.message })
    process.exit(1)
  }
  process.send?.({
    type: 'listening',
    address: address.startsWith('unix:') ? address : `127.0.0.1:${port}`,
  })
})

process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)))
process.on('disconnect', () => server.forceShutdown())
