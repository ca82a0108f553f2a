import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import { Client, credentials, Metadata, status as Status } from '@grpc/grpc-js'
import type { ServiceError } from '@grpc/grpc-js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '../../sdk/src/index.js'
import type { VerdictClient } from '../../sdk/src/index.js'
import { compile } from '../../src/compiler/index.js'
import { createHostBuiltins, PolicyEngine } from '../../src/engine/index.js'
import {
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus as Serving,
  HealthCheckResponseSchema,
} from '../../src/gen/grpc/health/v1/health_pb.js'
import type { HealthCheckResponse } from '../../src/gen/grpc/health/v1/health_pb.js'
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt'
import {
  ServerReflectionRequestSchema,
  ServerReflectionResponseSchema,
} from '../../src/gen/grpc/reflection/v1/reflection_pb.js'
import type { ServerReflectionRequest, ServerReflectionResponse } from '../../src/gen/grpc/reflection/v1/reflection_pb.js'
import { CheckRequestSchema, CheckResponseSchema } from '../../src/gen/verdict/v1/authorizer_pb.js'
import {
  AUTHORIZER_SERVICE,
  createAuthorizer,
  createLogger,
  defaultLimitsOptions,
  GRPC_TRANSPORTS,
  HealthState,
  PolicyHolder,
  ServingStatus,
  startGrpcServer,
} from '../../src/server/index.js'
import type { DecisionRecord, GrpcServerHandle } from '../../src/server/index.js'
import { createTokenVerifier, defaultTokenOptions } from '../../src/token/index.js'
import type { TokenVerifier } from '../../src/token/index.js'
import { createTestIssuer, writeJwks } from '../helpers/tokens.js'
import type { TestIssuer } from '../helpers/tokens.js'

const root = join(import.meta.dirname, '..', '..')
const claims = { scope: 'trades', user_id: 7, roles: ['trader'], locations: ['NY'] }
const trade = { type: 'trade', id: 't', properties: { owner_id: 7, location: 'NY' } }

// Every test runs on both server implementations: Verdict's own HTTP/2 transport and grpc-js.
describe.each(GRPC_TRANSPORTS)('%s transport', (transport) => {
  let dir: string
  let issuer: TestIssuer
  let verifier: TokenVerifier
  let policy: PolicyHolder
  let health: HealthState
  let server: GrpcServerHandle
  let client: VerdictClient
  let tradesEngine: PolicyEngine
  const records: DecisionRecord[] = []
  const logLines: string[] = []

  function raw(path: string, bytes: Buffer): Promise<Buffer> {
    const c = new Client(server.address, credentials.createInsecure())
    return new Promise((resolve, reject) => {
      c.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, bytes, new Metadata(), {}, (err, res) => {
        c.close()
        if (err || !res) reject(err)
        else resolve(res)
      })
    })
  }

  async function healthCheck(service: string): Promise<number> {
    const res = await raw('/grpc.health.v1.Health/Check', Buffer.from(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service }))))
    return fromBinary(HealthCheckResponseSchema, res).status
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'verdict-server-'))
    issuer = await createTestIssuer({ alg: 'ES256' })
    await writeJwks(join(dir, 'jwks.json'), [issuer])
    verifier = createTokenVerifier({
      ...defaultTokenOptions(),
      issuers: [{ issuer: issuer.issuer, audiences: [issuer.audience], jwks: { file: join(dir, 'jwks.json') } }],
    })
    const source = await readFile(join(root, 'policies/trades/trades.rego'), 'utf8')
    const data = JSON.parse(await readFile(join(root, 'policies/trades/data.json'), 'utf8'))
    const { wasm } = compile({ modules: [{ file: 'trades.rego', source }], entrypoints: ['trades/decision'] })
    tradesEngine = await PolicyEngine.load({ wasm, data, builtins: createHostBuiltins({ strict: false }) })

    policy = new PolicyHolder()
    health = new HealthState([AUTHORIZER_SERVICE])
    policy.onChange((a) => health.setAll(a ? ServingStatus.SERVING : ServingStatus.NOT_SERVING))
    const logger = createLogger({ level: 'debug', stream: { write: (l: string) => logLines.push(l) } as never })
    const limits = { ...defaultLimitsOptions(), maxPropertiesBytes: 2000, maxBatchItems: 3, maxMessageBytes: 64 * 1024 }
    const authorizer = createAuthorizer({
      verifier,
      policy,
      limits,
      logger,
      onDecision: (r) => {
        records.push(r)
        if (r.action === 'explode') throw new Error('sink down')
      },
    })
    server = await startGrpcServer({ address: '127.0.0.1:0', transport, authorizer, health, logger, maxMessageBytes: limits.maxMessageBytes })
    client = createClient({ address: server.address })
  })

  afterAll(async () => {
    client?.close()
    await server?.stop(100)
    verifier?.close()
    await rm(dir, { recursive: true, force: true })
  })

  describe('gRPC server', () => {
    it('answers NO_POLICY and NOT_SERVING before a policy is loaded', async () => {
      expect(await healthCheck('')).toBe(Serving.NOT_SERVING)
      const d = await client.check({ token: await issuer.mint(claims), action: 'read', resource: trade })
      expect(d).toMatchObject({ allow: false, code: 'NO_POLICY' })
    })

    it('turns SERVING when a policy is set, and Watch streams the change', async () => {
      const c = new Client(server.address, credentials.createInsecure())
      const seen: number[] = []
      const stream = c.makeServerStreamRequest(
        '/grpc.health.v1.Health/Watch',
        (r: ReturnType<typeof create<typeof HealthCheckRequestSchema>>) => Buffer.from(toBinary(HealthCheckRequestSchema, r)),
        (b: Buffer) => fromBinary(HealthCheckResponseSchema, b),
        create(HealthCheckRequestSchema, { service: AUTHORIZER_SERVICE }),
      )
      stream.on('error', () => {})
      const got = (n: number) =>
        new Promise<void>((resolve) => {
          const onData = (m: HealthCheckResponse) => {
            seen.push(m.status)
            if (seen.length >= n) {
              stream.off('data', onData)
              resolve()
            }
          }
          stream.on('data', onData)
        })
      await got(1)
      policy.set({ engine: tradesEngine, revision: 'rev-7' })
      await got(2)
      expect(seen).toEqual([Serving.NOT_SERVING, Serving.SERVING])
      stream.cancel()
      c.close()
      expect(await healthCheck('')).toBe(Serving.SERVING)
      await expect(healthCheck('no.such.Service')).rejects.toMatchObject({ code: Status.NOT_FOUND })
    })

    it('decides allow and deny with the policy revision', async () => {
      const token = await issuer.mint(claims)
      expect(await client.check({ token, action: 'read', resource: trade })).toMatchObject({
        allow: true,
        code: 'OK',
        policyRevision: 'rev-7',
      })
      const denied = await client.check({ token, action: 'read', resource: { ...trade, properties: { owner_id: 8, location: 'NY' } } })
      expect(denied).toMatchObject({ allow: false, code: 'POLICY_DENIED', reasons: ['not_owner: the trade belongs to another user'] })
    })

    it('passes the subject, defaulting to the token sub, and records each decision', async () => {
      records.length = 0
      const token = await issuer.mint({ ...claims, sub: 'u-7' })
      await client.check({ token, action: 'read', resource: trade, context: { ip: '10.0.0.1' } })
      await client.check({ token, action: 'read', resource: trade, subject: { type: 'service', id: 'batch-job' } })
      expect(records.map((r) => r.subject)).toEqual([
        { type: 'user', id: 'u-7' },
        { type: 'service', id: 'batch-job' },
      ])
      expect(records[0]!.input).toMatchObject({ action: 'read', context: { ip: '10.0.0.1' }, token: { sub: 'u-7' } })
      expect(records[0]!.path).toBe('trades/decision')
    })

    it('SDK: spreads calls over `connections` HTTP/2 connections in turn', async () => {
      const token = await issuer.mint(claims)
      const peers = async (connections: number): Promise<Set<unknown>> => {
        const spread = createClient({ address: server.address, connections })
        const from = logLines.length
        try {
          for (let i = 0; i < 6; i++) expect(await spread.check({ token, action: 'read', resource: trade })).toMatchObject({ allow: true })
        } finally {
          spread.close()
        }
        const rpcs = logLines.slice(from).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'rpc')
        expect(rpcs).toHaveLength(6)
        return new Set(rpcs.map((l) => l.peer))
      }
      expect((await peers(3)).size).toBe(3)
      expect((await peers(1)).size).toBe(1)
      expect(() => createClient({ address: server.address, connections: 0 })).toThrow(/connections must be a positive integer/)
    })

    it('keeps answering when the audit hook throws', async () => {
      const d = await client.check({ token: await issuer.mint(claims), action: 'explode', resource: trade })
      expect(d.code).toBe('POLICY_DENIED')
      expect(logLines.some((l) => l.includes('audit hook failed'))).toBe(true)
    })

    it('denies oversized tokens and properties, and rejects oversized batches', async () => {
      const big = await client.check({ token: 'x'.repeat(20_000), action: 'read', resource: trade })
      expect(big.code).toBe('TOKEN_TOO_LARGE')
      const props = await client.check({
        token: await issuer.mint(claims),
        action: 'read',
        resource: { ...trade, properties: { blob: 'y'.repeat(3000) } },
      })
      expect(props.code).toBe('REQUEST_INVALID')
      const noAction = await client.check({ token: await issuer.mint(claims), action: '', resource: trade })
      expect(noAction.code).toBe('REQUEST_INVALID')
      await expect(
        client.batchCheck({ token: await issuer.mint(claims), items: Array.from({ length: 4 }, () => ({ action: 'read', resource: trade })) }),
      ).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT })
    })

    it('answers malformed protobuf with INVALID_ARGUMENT and oversized messages with RESOURCE_EXHAUSTED', async () => {
      await expect(raw(`/${AUTHORIZER_SERVICE}/Check`, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]))).rejects.toMatchObject({
        code: Status.INVALID_ARGUMENT,
      })
      await expect(raw(`/${AUTHORIZER_SERVICE}/Check`, Buffer.alloc(100 * 1024, 0x41))).rejects.toSatisfy(
        (e: ServiceError) => e.code === Status.RESOURCE_EXHAUSTED,
      )
      // Still serving afterwards.
      expect((await client.check({ token: await issuer.mint(claims), action: 'read', resource: trade })).allow).toBe(true)
    })

    it('answers every call of a burst on one connection, each with its own decision', async () => {
      // Calls that arrive together are queued and handled in one go (setImmediate); a bad one in
      // the middle of the run must not disturb the others.
      const token = await issuer.mint(claims)
      const c = new Client(server.address, credentials.createInsecure())
      const send = (bytes: Buffer): Promise<Buffer> =>
        new Promise((resolve, reject) =>
          c.makeUnaryRequest(`/${AUTHORIZER_SERVICE}/Check`, (b: Buffer) => b, (b: Buffer) => b, bytes, new Metadata(), {}, (err, res) =>
            err || !res ? reject(err) : resolve(res),
          ),
        )
      const request = (owner: number) =>
        Buffer.from(toBinary(CheckRequestSchema, create(CheckRequestSchema, { token, action: 'read', resource: { ...trade, properties: { owner_id: owner, location: 'NY' } } })))
      const bad = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])
      try {
        const outcomes = await Promise.allSettled(
          Array.from({ length: 60 }, (_, i) => send(i === 30 ? bad : request(i % 3 === 0 ? 7 : 8))),
        )
        outcomes.forEach((o, i) => {
          if (i === 30) {
            expect(o.status).toBe('rejected')
            expect((o as PromiseRejectedResult).reason).toMatchObject({ code: Status.INVALID_ARGUMENT })
            return
          }
          expect(o.status, `call ${i}`).toBe('fulfilled')
          const res = fromBinary(CheckResponseSchema, (o as PromiseFulfilledResult<Buffer>).value)
          expect(res.allow, `call ${i}`).toBe(i % 3 === 0)
        })
        const ids = outcomes.filter((o) => o.status === 'fulfilled').map((o) => fromBinary(CheckResponseSchema, o.value).decisionId)
        expect(new Set(ids).size).toBe(59)
      } finally {
        c.close()
      }
    })

    it('answers server reflection (v1 and v1alpha): services, and files by symbol with their imports', async () => {
      const ask = (service: string, questions: ServerReflectionRequest['messageRequest'][]): Promise<ServerReflectionResponse[]> => {
        const c = new Client(server.address, credentials.createInsecure())
        return new Promise((resolve, reject) => {
          const call = c.makeBidiStreamRequest(`/${service}/ServerReflectionInfo`, (b: Buffer) => b, (b: Buffer) => b)
          const answers: ServerReflectionResponse[] = []
          call.on('data', (b: Buffer) => answers.push(fromBinary(ServerReflectionResponseSchema, b)))
          call.on('error', reject)
          call.on('end', () => {
            c.close()
            resolve(answers)
          })
          for (const q of questions) call.write(Buffer.from(toBinary(ServerReflectionRequestSchema, create(ServerReflectionRequestSchema, { messageRequest: q }))))
          call.end()
        })
      }
      for (const service of ['grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection']) {
        const [list, file, missing] = await ask(service, [
          { case: 'listServices', value: '' },
          { case: 'fileContainingSymbol', value: 'verdict.v1.Authorizer.Check' },
          { case: 'fileContainingSymbol', value: 'nope.Nope' },
        ])
        expect(list!.messageResponse.case).toBe('listServicesResponse')
        const names = list!.messageResponse.case === 'listServicesResponse' ? list!.messageResponse.value.service.map((x) => x.name) : []
        expect(names).toEqual(expect.arrayContaining([AUTHORIZER_SERVICE, 'grpc.health.v1.Health', 'envoy.service.auth.v3.Authorization', service]))
        expect(file!.messageResponse.case).toBe('fileDescriptorResponse')
        const files = file!.messageResponse.case === 'fileDescriptorResponse' ? file!.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b)) : []
        expect(files[0]!.name).toBe('verdict/v1/authorizer.proto')
        expect(files[0]!.service[0]!.method.map((m) => m.name)).toEqual(['Check', 'BatchCheck'])
        expect(files.map((f) => f.name)).toContain('google/protobuf/struct.proto')
        expect(missing!.messageResponse).toMatchObject({ case: 'errorResponse', value: { errorCode: 5 } })
      }
      // A request that is not a protobuf message ends the stream with INVALID_ARGUMENT.
      const c = new Client(server.address, credentials.createInsecure())
      const status = await new Promise<number>((resolve) => {
        const call = c.makeBidiStreamRequest('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', (b: Buffer) => b, (b: Buffer) => b)
        call.on('data', () => {})
        call.on('error', (e: ServiceError) => resolve(e.code))
        call.on('end', () => resolve(-1))
        call.write(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]))
      })
      c.close()
      expect(status).toBe(Status.INVALID_ARGUMENT)
    })

    it('turns an evaluation error into an EVALUATION_ERROR deny', async () => {
      const { wasm } = compile({
        modules: [{ file: 'c.rego', source: 'package c\nd := 1 if input.action\nd := 2 if input.action' }],
        entrypoints: ['c/d'],
      })
      policy.set({ engine: await PolicyEngine.load({ wasm }), revision: 'broken' })
      const d = await client.check({ token: await issuer.mint(claims), action: 'read', resource: trade })
      expect(d).toMatchObject({ allow: false, code: 'EVALUATION_ERROR', policyRevision: 'broken' })
      expect(d.reasons[0]).toMatch(/^eval_conflict_error: /)
      policy.set({ engine: tradesEngine, revision: 'rev-7' })
    })
  })
})
