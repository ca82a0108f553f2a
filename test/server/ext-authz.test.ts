/**
 * Envoy ext_authz v3 over real gRPC on loopback: real signed tokens, a small policy compiled with
 * Verdict's compiler, and the audit hook's records to see what the policy was given.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import { Client, credentials, Metadata, status as Status } from '@grpc/grpc-js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { compile } from '../../src/compiler/index.js'
import { createHostBuiltins, PolicyEngine } from '../../src/engine/index.js'
import { AddressSchema, SocketAddressSchema } from '../../src/gen/envoy/config/core/v3/address_pb.js'
import { HeaderValueOption_HeaderAppendAction as AppendAction } from '../../src/gen/envoy/config/core/v3/base_pb.js'
import {
  AttributeContext_HttpRequestSchema,
  AttributeContext_PeerSchema,
  AttributeContext_RequestSchema,
  AttributeContextSchema,
} from '../../src/gen/envoy/service/auth/v3/attribute_context_pb.js'
import { CheckRequestSchema, CheckResponseSchema } from '../../src/gen/envoy/service/auth/v3/external_auth_pb.js'
import type { CheckResponse, DeniedHttpResponse } from '../../src/gen/envoy/service/auth/v3/external_auth_pb.js'
import {
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus as Serving,
  HealthCheckResponseSchema,
} from '../../src/gen/grpc/health/v1/health_pb.js'
import {
  AUTHORIZER_SERVICE,
  createAuthorizer,
  createLogger,
  defaultExtAuthzOptions,
  defaultLimitsOptions,
  EXT_AUTHZ_SERVICE,
  HealthState,
  mapCheckRequest,
  PolicyHolder,
  ServingStatus,
  startGrpcServer,
  validateExtAuthzOptions,
} from '../../src/server/index.js'
import type { Authorizer, DecisionRecord, GrpcServerHandle } from '../../src/server/index.js'
import { createTokenVerifier, defaultTokenOptions } from '../../src/token/index.js'
import type { TokenVerifier } from '../../src/token/index.js'
import { createTestIssuer, writeJwks } from '../helpers/tokens.js'
import type { TestIssuer } from '../helpers/tokens.js'

// Reads of trades are allowed; any other request is denied with a reason that echoes what the
// policy saw. A resource of type "boom" makes two rules give different values: an evaluation error.
const POLICY = `package envoy

has_scope if "trades" in split(input.token.scope, " ")

readable if {
	input.resource.type == "trades"
	input.action == "read"
}

decision := {"allow": false, "code": "INSUFFICIENT_SCOPE", "reasons": ["insufficient_scope: no trades scope"]} if {
	not has_scope
}

decision := {"allow": true, "reasons": []} if {
	has_scope
	readable
}

decision := {"allow": false, "reasons": [sprintf("not_readable: %s %s/%s via %s from %s", [input.action, input.resource.type, input.resource.id, input.context.method, input.context.source_ip])]} if {
	has_scope
	not readable
}

decision := {"allow": true, "reasons": ["boom"]} if input.resource.type == "boom"
`

const claims = { scope: 'trades', sub: 'u-7' }
const FULL_PATH = '/envoy.service.auth.v3.Authorization/Check'

let dir: string
let issuer: TestIssuer
let verifier: TokenVerifier
let policy: PolicyHolder
let health: HealthState
let authorizer: Authorizer
let server: GrpcServerHandle
let engine: PolicyEngine
const records: DecisionRecord[] = []

function call(address: string, path: string, bytes: Buffer): Promise<Buffer> {
  const c = new Client(address, credentials.createInsecure())
  return new Promise((resolve, reject) => {
    c.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, bytes, new Metadata(), {}, (err, res) => {
      c.close()
      if (err || !res) reject(err)
      else resolve(res)
    })
  })
}

interface HttpIn {
  method?: string
  path?: string
  headers?: Record<string, string>
  host?: string
  extensions?: Record<string, string>
}

function checkRequest(http: HttpIn) {
  return create(CheckRequestSchema, {
    attributes: create(AttributeContextSchema, {
      source: create(AttributeContext_PeerSchema, {
        address: create(AddressSchema, {
          address: {
            case: 'socketAddress',
            value: create(SocketAddressSchema, { address: '10.1.2.3', portSpecifier: { case: 'portValue', value: 50123 } }),
          },
        }),
        principal: 'spiffe://cluster.local/ns/shop/sa/web',
      }),
      request: create(AttributeContext_RequestSchema, {
        http: create(AttributeContext_HttpRequestSchema, {
          id: 'req-1',
          method: http.method ?? 'GET',
          path: http.path ?? '/trades/t-9',
          host: http.host ?? 'trades.internal',
          scheme: 'https',
          protocol: 'HTTP/2',
          headers: http.headers ?? {},
          size: -1n,
        }),
      }),
      contextExtensions: http.extensions ?? {},
    }),
  })
}

async function check(http: HttpIn, address = server.address): Promise<CheckResponse> {
  const bytes = Buffer.from(toBinary(CheckRequestSchema, checkRequest(http)))
  return fromBinary(CheckResponseSchema, await call(address, FULL_PATH, bytes))
}

function headersOf(res: { headers: { header?: { key: string; value: string } | undefined }[] }): Record<string, string> {
  return Object.fromEntries(res.headers.map((h) => [h.header!.key, h.header!.value]))
}

function denied(res: CheckResponse): DeniedHttpResponse {
  expect(res.httpResponse.case).toBe('deniedResponse')
  return res.httpResponse.value as DeniedHttpResponse
}

const bearer = async (c: Record<string, unknown> = claims) => ({ authorization: `Bearer ${await issuer.mint(c)}` })

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-ext-authz-'))
  issuer = await createTestIssuer({ alg: 'ES256' })
  await writeJwks(join(dir, 'jwks.json'), [issuer])
  verifier = createTokenVerifier({
    ...defaultTokenOptions(),
    issuers: [{ issuer: issuer.issuer, audiences: [issuer.audience], jwks: { file: join(dir, 'jwks.json') } }],
  })
  const { wasm } = compile({ modules: [{ file: 'envoy.rego', source: POLICY }], entrypoints: ['envoy/decision'] })
  engine = await PolicyEngine.load({ wasm, data: {}, builtins: createHostBuiltins({ strict: false }) })

  policy = new PolicyHolder()
  health = new HealthState([AUTHORIZER_SERVICE, EXT_AUTHZ_SERVICE])
  policy.onChange((a) => health.setAll(a ? ServingStatus.SERVING : ServingStatus.NOT_SERVING))
  const logger = createLogger({ level: 'error', stream: { write: () => {} } as never })
  authorizer = createAuthorizer({
    verifier,
    policy,
    limits: defaultLimitsOptions(),
    logger,
    onDecision: (r) => records.push(r),
  })
  server = await startGrpcServer({ address: '127.0.0.1:0', authorizer, health, logger, maxMessageBytes: 64 * 1024 })
})

afterAll(async () => {
  await server?.stop(100)
  verifier?.close()
  await rm(dir, { recursive: true, force: true })
})

describe('ext_authz Check', () => {
  it('fails closed with a 403 deny, not an RPC error, while no policy is loaded', async () => {
    const res = await check({ headers: await bearer() })
    expect(res.status?.code).toBe(Status.PERMISSION_DENIED)
    const d = denied(res)
    expect(d.status?.code).toBe(403)
    expect(JSON.parse(d.body)).toMatchObject({ code: 'NO_POLICY', reasons: ['no_policy: no policy bundle is loaded'] })
  })

  it('reports the service in health, SERVING once a policy is loaded', async () => {
    const healthOf = async (service: string) =>
      fromBinary(
        HealthCheckResponseSchema,
        await call(server.address, '/grpc.health.v1.Health/Check', Buffer.from(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service })))),
      ).status
    expect(await healthOf(EXT_AUTHZ_SERVICE)).toBe(Serving.NOT_SERVING)
    policy.set({ engine, revision: 'r1' })
    expect(await healthOf(EXT_AUTHZ_SERVICE)).toBe(Serving.SERVING)
  })

  it('allows with status OK, an ok_response and the decision id for the upstream request', async () => {
    records.length = 0
    const res = await check({ method: 'GET', path: '/trades/t-9', headers: await bearer() })
    expect(res.status?.code).toBe(Status.OK)
    expect(res.httpResponse.case).toBe('okResponse')
    const ok = res.httpResponse.value!
    expect(records).toHaveLength(1)
    expect(headersOf(ok)).toEqual({ 'x-verdict-decision-id': records[0]!.decisionId })
    // Replaced, not appended: a client cannot smuggle its own decision id upstream.
    expect(ok.headers[0]!.appendAction).toBe(AppendAction.OVERWRITE_IF_EXISTS_OR_ADD)
    expect(records[0]).toMatchObject({
      allow: true,
      code: 'OK',
      action: 'read',
      resource: { type: 'trades', id: 't-9' },
      subject: { type: 'user', id: 'u-7' },
    })
  })

  it('denies a policy deny with 403 and a JSON body, and the policy sees the mapped request', async () => {
    records.length = 0
    const res = await check({ method: 'DELETE', path: '/trades/t-9?force=1', headers: await bearer() })
    expect(res.status).toMatchObject({ code: Status.PERMISSION_DENIED, message: 'POLICY_DENIED' })
    const d = denied(res)
    expect(d.status?.code).toBe(403)
    const body = JSON.parse(d.body)
    expect(body).toEqual({
      decision_id: records[0]!.decisionId,
      code: 'POLICY_DENIED',
      reasons: ['not_readable: delete trades/t-9 via DELETE from 10.1.2.3'],
    })
    const headers = headersOf(d)
    expect(headers).toEqual({ 'content-type': 'application/json', 'x-verdict-decision-id': body.decision_id })
    expect(records[0]).toMatchObject({ allow: false, code: 'POLICY_DENIED', action: 'delete', resource: { type: 'trades', id: 't-9' } })
  })

  it('gives the policy the request facts as resource properties and context, without credentials', async () => {
    records.length = 0
    const token = await issuer.mint(claims)
    await check({
      method: 'PATCH',
      path: '/trades/t%2F9/legs?b=2&a=1&a=x+y',
      headers: {
        authorization: `bEaReR ${token}`,
        cookie: 'session=secret',
        'x-tenant': 'acme',
        ':path': '/trades/t%2F9/legs?b=2&a=1&a=x+y',
      },
      extensions: { route: 'trades' },
    })
    expect(records).toHaveLength(1)
    const input = records[0]!.input!
    expect(input.token).toMatchObject({ sub: 'u-7', scope: 'trades' })
    expect(input.action).toBe('update')
    expect(input.resource).toEqual({
      type: 'trades',
      id: 't/9',
      properties: {
        path: '/trades/t%2F9/legs',
        segments: ['trades', 't/9', 'legs'],
        query: { b: ['2'], a: ['1', 'x y'] },
        host: 'trades.internal',
      },
    })
    expect(input.context).toEqual({
      method: 'PATCH',
      path: '/trades/t%2F9/legs?b=2&a=1&a=x+y',
      host: 'trades.internal',
      scheme: 'https',
      protocol: 'HTTP/2',
      headers: { 'x-tenant': 'acme', ':path': '/trades/t%2F9/legs?b=2&a=1&a=x+y' },
      request_id: 'req-1',
      source_ip: '10.1.2.3',
      source_port: 50123,
      source_principal: 'spiffe://cluster.local/ns/shop/sa/web',
      context_extensions: { route: 'trades' },
    })
    // The audit event is built from the same input: no token or cookie in its JSON.
    expect(records[0]!.inputRestJson).not.toContain('secret')
    expect(records[0]!.inputRestJson).not.toContain(token)
  })

  it('answers a missing or non-bearer token with 401 and a bare Bearer challenge', async () => {
    const cases: Record<string, string>[] = [{}, { authorization: 'Basic dXNlcjpwdw==' }, { authorization: 'Bearer' }]
    for (const headers of cases) {
      const res = await check({ headers })
      expect(res.status?.code).toBe(Status.UNAUTHENTICATED)
      const d = denied(res)
      expect(d.status?.code).toBe(401)
      expect(headersOf(d)['www-authenticate']).toBe('Bearer')
      expect(JSON.parse(d.body)).toMatchObject({ code: 'TOKEN_MISSING' })
    }
  })

  it('answers a garbage or expired token with 401 invalid_token', async () => {
    const expired = await issuer.mint(claims, { expiresIn: -3600, issuedAt: Math.floor(Date.now() / 1000) - 7200 })
    const cases = [
      ['not.a.jwt', 'TOKEN_MALFORMED'],
      [expired, 'TOKEN_EXPIRED'],
    ] as const
    for (const [token, code] of cases) {
      records.length = 0
      const res = await check({ headers: { authorization: `Bearer ${token}` } })
      expect(res.status?.code, code).toBe(Status.UNAUTHENTICATED)
      const d = denied(res)
      expect(d.status?.code).toBe(401)
      expect(headersOf(d)['www-authenticate']).toBe('Bearer error="invalid_token"')
      expect(JSON.parse(d.body)).toMatchObject({ code, decision_id: records[0]!.decisionId })
      // Audited like any Check, with the mapped action and resource.
      expect(records[0]).toMatchObject({ allow: false, code, action: 'read', resource: { type: 'trades', id: 't-9' } })
    }
  })

  it('answers insufficient scope with 403 insufficient_scope', async () => {
    const res = await check({ headers: await bearer({ scope: 'reports', sub: 'u-7' }) })
    expect(res.status?.code).toBe(Status.PERMISSION_DENIED)
    const d = denied(res)
    expect(d.status?.code).toBe(403)
    expect(headersOf(d)['www-authenticate']).toBe('Bearer error="insufficient_scope"')
    expect(JSON.parse(d.body)).toMatchObject({ code: 'INSUFFICIENT_SCOPE', reasons: ['insufficient_scope: no trades scope'] })
  })

  it('fails closed on an evaluation error without showing policy internals to the client', async () => {
    records.length = 0
    const res = await check({ path: '/boom/1', headers: await bearer() })
    expect(res.status?.code).toBe(Status.PERMISSION_DENIED)
    const d = denied(res)
    expect(d.status?.code).toBe(403)
    expect(JSON.parse(d.body)).toMatchObject({ code: 'EVALUATION_ERROR', reasons: ['evaluation_error'] })
    expect(records[0]!.code).toBe('EVALUATION_ERROR')
    expect(records[0]!.reasons[0]).toMatch(/conflict/)
  })

  it('denies a path that is not valid percent-encoding with 400, audited', async () => {
    records.length = 0
    const res = await check({ path: '/trades/%E0%A4%A', headers: await bearer() })
    const d = denied(res)
    expect(d.status?.code).toBe(400)
    expect(JSON.parse(d.body)).toMatchObject({ code: 'REQUEST_INVALID', reasons: ['request_invalid: the path is not valid percent-encoding'] })
    expect(records).toHaveLength(1)
  })

  it('answers malformed protobuf with INVALID_ARGUMENT and keeps serving', async () => {
    await expect(call(server.address, FULL_PATH, Buffer.from([0x0a, 0x05, 0x22]))).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT,
    })
    expect((await check({ headers: await bearer() })).status?.code).toBe(Status.OK)
  })

  it('is not served when disabled', async () => {
    const off = await startGrpcServer({
      address: '127.0.0.1:0',
      authorizer,
      health,
      logger: createLogger({ level: 'error', stream: { write: () => {} } as never }),
      maxMessageBytes: 64 * 1024,
      extAuthz: { ...defaultExtAuthzOptions(), enabled: false },
    })
    try {
      await expect(check({ headers: await bearer() }, off.address)).rejects.toMatchObject({ code: Status.UNIMPLEMENTED })
    } finally {
      await off.stop(100)
    }
  })
})

describe('mapCheckRequest', () => {
  it('maps methods through the configured actions, lower-casing unlisted ones', () => {
    const options = validateExtAuthzOptions({ ...defaultExtAuthzOptions(), actions: { get: 'view', post: 'create' } })
    expect(mapCheckRequest(checkRequest({ method: 'GET' }), options).action).toBe('view')
    expect(mapCheckRequest(checkRequest({ method: 'OPTIONS' }), options).action).toBe('options')
    // The default map is replaced, not merged.
    expect(mapCheckRequest(checkRequest({ method: 'DELETE' }), options).action).toBe('delete')
    const defaults = defaultExtAuthzOptions()
    expect(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'].map((m) => mapCheckRequest(checkRequest({ method: m }), defaults).action)).toEqual([
      'read', 'read', 'create', 'update', 'update', 'delete',
    ])
  })

  it('drops the path prefix before taking type and id; paths outside it have neither', () => {
    const options = validateExtAuthzOptions({ ...defaultExtAuthzOptions(), pathPrefix: '/api/v1/' })
    expect(mapCheckRequest(checkRequest({ path: '/api/v1/trades/t-9' }), options).resource).toMatchObject({ type: 'trades', id: 't-9' })
    expect(mapCheckRequest(checkRequest({ path: '/api/v10/trades/t-9' }), options).resource).toMatchObject({
      type: '',
      id: '',
      properties: { path: '/api/v10/trades/t-9', segments: [] },
    })
    expect(mapCheckRequest(checkRequest({ path: '/' }), defaultExtAuthzOptions()).resource).toMatchObject({ type: '', id: '' })
    expect(mapCheckRequest(checkRequest({ path: '/trades/' }), defaultExtAuthzOptions()).resource).toMatchObject({ type: 'trades', id: '' })
  })

  it('keeps hostile keys as plain keys', () => {
    const m = mapCheckRequest(
      checkRequest({ path: '/t?__proto__=x', headers: JSON.parse('{"__proto__":"y"}'), extensions: JSON.parse('{"__proto__":"z"}') }),
      defaultExtAuthzOptions(),
    )
    const query = m.resource!.properties!.query as Record<string, unknown>
    expect(Object.keys(query)).toEqual(['__proto__'])
    expect(Object.getOwnPropertyDescriptor(query, '__proto__')?.value).toEqual(['x'])
    expect(JSON.stringify(m.context!.headers)).toBe('{"__proto__":"y"}')
    expect(JSON.stringify(m.context!.context_extensions)).toBe('{"__proto__":"z"}')
  })

  it('rejects bad options naming the key', () => {
    expect(() => validateExtAuthzOptions({ ...defaultExtAuthzOptions(), pathPrefix: 'api' })).toThrow(/envoy.path_prefix/)
    expect(() => validateExtAuthzOptions({ ...defaultExtAuthzOptions(), actions: { GET: '' } })).toThrow(/envoy.actions.GET/)
    expect(() => validateExtAuthzOptions({ ...defaultExtAuthzOptions(), actions: { 'G T': 'x' } })).toThrow(/envoy.actions/)
  })
})
