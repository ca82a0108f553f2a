/**
 * `verdict serve` answers Envoy ext_authz on its gRPC address, with the bundle it loaded, and
 * `--envoy false` turns it off.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import { Client, credentials, Metadata, status as Status } from '@grpc/grpc-js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildBundle, startSidecar } from '../../src/cli/index.js'
import { loadServeConfig } from '../../src/config/index.js'
import {
  AttributeContext_HttpRequestSchema,
  AttributeContext_RequestSchema,
  AttributeContextSchema,
} from '../../src/gen/envoy/service/auth/v3/attribute_context_pb.js'
import { CheckRequestSchema, CheckResponseSchema } from '../../src/gen/envoy/service/auth/v3/external_auth_pb.js'
import { HealthCheckRequestSchema, HealthCheckResponse_ServingStatus as Serving, HealthCheckResponseSchema } from '../../src/gen/grpc/health/v1/health_pb.js'
import { createLogger, EXT_AUTHZ_SERVICE } from '../../src/server/index.js'
import { createTestIssuer, writeJwks } from '../helpers/tokens.js'
import type { TestIssuer } from '../helpers/tokens.js'

const root = join(import.meta.dirname, '..', '..')
let dir: string
let issuer: TestIssuer

function call(address: string, path: string, bytes: Uint8Array): Promise<Buffer> {
  const c = new Client(address, credentials.createInsecure())
  return new Promise((resolve, reject) => {
    c.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, Buffer.from(bytes), new Metadata(), {}, (err, res) => {
      c.close()
      if (err || !res) reject(err)
      else resolve(res)
    })
  })
}

async function start(envoy: string) {
  const config = loadServeConfig({
    flags: {
      'insecure-skip-bundle-verification': 'true',
      bundle: join(dir, 'trades.tar.gz'),
      jwks: join(dir, 'jwks.json'),
      issuer: issuer.issuer,
      audience: issuer.audience,
      grpc: '127.0.0.1:0',
      'shutdown-grace': '1s',
      envoy,
    },
    env: {},
  })
  return startSidecar(config, createLogger({ level: 'error', stream: { write: () => {} } as never }))
}

async function extAuthz(address: string, token: string) {
  const req = create(CheckRequestSchema, {
    attributes: create(AttributeContextSchema, {
      request: create(AttributeContext_RequestSchema, {
        http: create(AttributeContext_HttpRequestSchema, { method: 'GET', path: '/trade/t-1', headers: { authorization: `Bearer ${token}` } }),
      }),
    }),
  })
  return fromBinary(CheckResponseSchema, await call(address, `/${EXT_AUTHZ_SERVICE}/Check`, toBinary(CheckRequestSchema, req)))
}

async function health(address: string, service: string) {
  const req = toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service }))
  return fromBinary(HealthCheckResponseSchema, await call(address, '/grpc.health.v1.Health/Check', req)).status
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-serve-envoy-'))
  issuer = await createTestIssuer({ alg: 'ES256' })
  await writeJwks(join(dir, 'jwks.json'), [issuer])
  await buildBundle({ source: join(root, 'policies/trades'), output: join(dir, 'trades.tar.gz'), entrypoints: [], revision: 'r1' })
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('startSidecar: Envoy ext_authz', () => {
  it('serves ext_authz with the loaded bundle and reports it in health', async () => {
    const sidecar = await start('true')
    try {
      expect(await health(sidecar.address, EXT_AUTHZ_SERVICE)).toBe(Serving.SERVING)
      // The trades policy sees GET /trade/t-1 as read of trade t-1 with no owner: a policy deny.
      const res = await extAuthz(sidecar.address, await issuer.mint({ scope: 'trades', user_id: 7, locations: ['NY'] }))
      expect(res.status?.code).toBe(Status.PERMISSION_DENIED)
      if (res.httpResponse.case !== 'deniedResponse') throw new Error(`expected a denied_response, got ${res.httpResponse.case}`)
      const body = JSON.parse(res.httpResponse.value.body)
      expect(body).toMatchObject({ code: 'POLICY_DENIED' })
      expect(body.reasons).toContain('not_owner: the trade belongs to another user')
      expect(body.reasons).not.toContain('wrong_resource_type: resource is not a trade')
    } finally {
      await sidecar.stop()
    }
  }, 30_000)

  it('does not serve ext_authz with --envoy false', async () => {
    const sidecar = await start('false')
    try {
      await expect(extAuthz(sidecar.address, await issuer.mint({ scope: 'trades' }))).rejects.toMatchObject({ code: Status.UNIMPLEMENTED })
      await expect(health(sidecar.address, EXT_AUTHZ_SERVICE)).rejects.toMatchObject({ code: Status.NOT_FOUND })
    } finally {
      await sidecar.stop()
    }
  }, 30_000)
})
