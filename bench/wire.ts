/**
 * Wire codec benchmark (`npm run bench:wire`): decoding a `CheckRequest` and encoding a
 * `CheckResponse` the way the gRPC server does, with protobuf-es (`fromBinary`, `toBinary`) and
 * with the hand-written codec (`src/server/wire.ts`), measured in the same run on the same bytes.
 * The request is shaped like bench/side-by-side's: an RS256 access token of about 800 bytes, a
 * trade resource with owner_id and location; a second shape adds a small context. Reports ns per
 * operation (process CPU time, median of interleaved rounds) and the protobuf-es / codec ratio.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import type { JsonObject } from '@bufbuild/protobuf'
import { CheckRequestSchema, CheckResponseSchema, DecisionCode } from '../src/gen/verdict/v1/authorizer_pb.js'
import type { CheckResponse } from '../src/gen/verdict/v1/authorizer_pb.js'
import { decodeCheckRequest, encodeCheckResponse } from '../src/server/wire.js'
import type { WireCheckResponse } from '../src/server/wire.js'
import { benchClaims } from './side-by-side/fixtures.js'

const ROUNDS = 7
const OPS = Number(process.env.BENCH_WIRE_OPS ?? 100_000)

// A compact JWS of the bench's size: header, claims and a 256-byte RS256 signature, base64url.
const b64 = (s: string): string => Buffer.from(s).toString('base64url')
const token = [
  b64(JSON.stringify({ alg: 'RS256', typ: 'at+jwt', kid: 'bench-rs256' })),
  b64(JSON.stringify(benchClaims('trader'))),
  Buffer.alloc(256, 7).toString('base64url'),
].join('.')

const resource = { type: 'trade', id: 't-2', properties: { owner_id: 2998, location: 'LDN' } }
const context: JsonObject = { ip: '10.1.2.3', method: 'PUT', path: '/api/trades/t-2', tls: true }

const requests = {
  'bench request': Buffer.from(toBinary(CheckRequestSchema, create(CheckRequestSchema, { token, action: 'update', resource }))),
  'with context': Buffer.from(toBinary(CheckRequestSchema, create(CheckRequestSchema, { token, action: 'update', resource, context }))),
}

const allow = {
  allow: true,
  decisionId: '019ad2f4-6c1e-7a3b-9f42-1c2d3e4f5a6b',
  reasons: [] as string[],
  code: DecisionCode.OK,
  policyRevision: 'trades-2026-11-30',
}
const deny = {
  allow: false,
  decisionId: '019ad2f4-6c1e-7a3b-9f42-1c2d3e4f5a6c',
  reasons: ['not_owner: the trade belongs to another user'],
  code: DecisionCode.POLICY_DENIED,
  policyRevision: 'trades-2026-11-30',
}
// protobuf-es encodes its own messages; the authorizer builds them either way, so that is not timed.
const messages = new Map<WireCheckResponse, CheckResponse>([
  [allow, create(CheckResponseSchema, allow)],
  [deny, create(CheckResponseSchema, deny)],
])

let sink = 0

type Op = () => void

// Process CPU time (user + system), not wall time: other processes on a busy machine then cost a
// round little beyond cache effects.
function time(op: Op): number {
  const start = process.cpuUsage()
  for (let i = 0; i < OPS; i++) op()
  const used = process.cpuUsage(start)
  return ((used.user + used.system) * 1000) / OPS
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

function ops(bytes: Buffer, response: WireCheckResponse): Record<string, [Op, Op]> {
  const message = messages.get(response)!
  return {
    decode: [
      () => {
        sink += fromBinary(CheckRequestSchema, bytes).token.length
      },
      () => {
        sink += decodeCheckRequest(bytes).token.length
      },
    ],
    encode: [
      () => {
        const b = toBinary(CheckResponseSchema, message)
        sink += Buffer.from(b.buffer, b.byteOffset, b.byteLength).length
      },
      () => {
        sink += encodeCheckResponse(response).length
      },
    ],
    'decode+encode': [
      () => {
        sink += fromBinary(CheckRequestSchema, bytes).token.length
        const b = toBinary(CheckResponseSchema, message)
        sink += Buffer.from(b.buffer, b.byteOffset, b.byteLength).length
      },
      () => {
        sink += decodeCheckRequest(bytes).token.length
        sink += encodeCheckResponse(response).length
      },
    ],
  }
}

console.log(`# Wire codec: protobuf-es vs hand-written (median of ${ROUNDS} interleaved rounds of ${OPS} ops)\n`)
console.log(`request: ${requests['bench request'].length} bytes (token ${token.length} chars); with context: ${requests['with context'].length} bytes\n`)
console.log('| request | response | op | protobuf-es ns/op | codec ns/op | protobuf-es / codec |')
console.log('| --- | --- | --- | ---: | ---: | ---: |')
for (const [name, bytes] of Object.entries(requests)) {
  for (const [rname, response] of [['allow', allow], ['deny', deny]] as const) {
    for (const [op, [theirs, ours]] of Object.entries(ops(bytes, response))) {
      const a: number[] = []
      const b: number[] = []
      time(theirs) // warm-up
      time(ours)
      for (let r = 0; r < ROUNDS; r++) {
        a.push(time(theirs))
        b.push(time(ours))
      }
      const ma = median(a)
      const mb = median(b)
      console.log(`| ${name} | ${rname} | ${op} | ${ma.toFixed(0)} | ${mb.toFixed(0)} | ${(ma / mb).toFixed(2)}x |`)
    }
  }
}
if (sink === 0) console.log('(nothing measured)')
