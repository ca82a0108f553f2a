/**
 * The AuthZEN 1.0 API over real HTTP on loopback: real signed tokens (ES256, JWKS file), the
 * trades example policy compiled to wasm by Verdict's compiler, and the audit hook's records to
 * see what the policy was given. Covers the single and batch evaluation endpoints, the three
 * `evaluations_semantic` values, default merging, token and subject failures (decisions, not HTTP
 * errors), request errors, limits, hostile input and connection reuse.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { Agent, request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { compile } from '../../src/compiler/index.js'
import { createHostBuiltins, PolicyEngine } from '../../src/engine/index.js'
import { DecisionCode } from '../../src/gen/verdict/v1/authorizer_pb.js'
import {
  AUTHZEN_ERROR_STATUSES,
  AUTHZEN_MAX_JSON_DEPTH,
  createAuthorizer,
  createLogger,
  defaultLimitsOptions,
  jsonDepthExceeds,
  mergeEvaluation,
  PolicyHolder,
  SidecarMetrics,
  startAuthzenServer,
} from '../../src/server/index.js'
import type { AuthzenServerHandle, DecisionRecord } from '../../src/server/index.js'
import { createTokenVerifier, defaultTokenOptions } from '../../src/token/index.js'
import type { TokenVerifier } from '../../src/token/index.js'
import { createTestIssuer, writeJwks } from '../helpers/tokens.js'
import type { TestIssuer } from '../helpers/tokens.js'

const root = join(import.meta.dirname, '..', '..')
const MAX_BODY = 16 * 1024
const MAX_ITEMS = 5

let dir: string
let issuer: TestIssuer
let verifier: TokenVerifier
let policy: PolicyHolder
let engine: PolicyEngine
let server: AuthzenServerHandle
let metrics: SidecarMetrics
let base: string
const records: DecisionRecord[] = []

// Trader 7 in NY and LDN; trader 8 in NY. The trades policy allows reading and writing one's own
// trade in one's locations, and knows no `delete`.
const claims7 = { sub: 'u-7', scope: 'trades', user_id: 7, roles: ['trader'], locations: ['NY', 'LDN'] }
const claims8 = { sub: 'u-8', scope: 'trades', user_id: 8, roles: ['trader'], locations: ['NY'] }
let token7: string
let token8: string

const trade = (id: string, owner: number, location = 'NY') => ({ type: 'trade', id, properties: { owner_id: owner, location } })
const subject = (id: string, token?: string, extra: Record<string, unknown> = {}) => ({
  type: 'user',
  id,
  properties: { ...(token === undefined ? {} : { access_token: token }), ...extra },
})

interface Answer {
  status: number
  headers: Headers
  body: any
}

async function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, headers: res.headers, body: text === '' ? undefined : JSON.parse(text) }
}

const evaluation = (body: unknown, headers?: Record<string, string>) => post('/access/v1/evaluation', body, headers)
const evaluations = (body: unknown, headers?: Record<string, string>) => post('/access/v1/evaluations', body, headers)

/** One raw HTTP/1.1 exchange on a fresh socket: what Node's client would not send. */
function raw(bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(server.port, '127.0.0.1')
    let out = ''
    sock.on('data', (b) => (out += b.toString('latin1')))
    sock.on('end', () => resolve(out))
    sock.on('close', () => resolve(out))
    sock.on('error', reject)
    sock.write(bytes)
  })
}

function errorsCounted(status: number): number {
  return metrics.snapshot({ revision: null, ready: true }).authzenErrors[AUTHZEN_ERROR_STATUSES.indexOf(status as 400)]!
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-authzen-'))
  issuer = await createTestIssuer({ alg: 'ES256' })
  await writeJwks(join(dir, 'jwks.json'), [issuer])
  verifier = createTokenVerifier({
    ...defaultTokenOptions(),
    issuers: [{ issuer: issuer.issuer, audiences: [issuer.audience], jwks: { file: join(dir, 'jwks.json') } }],
  })
  const source = await readFile(join(root, 'policies/trades/trades.rego'), 'utf8')
  const data = JSON.parse(await readFile(join(root, 'policies/trades/data.json'), 'utf8'))
  const { wasm } = compile({ modules: [{ file: 'trades.rego', source }], entrypoints: ['trades/decision'] })
  engine = await PolicyEngine.load({ wasm, data, revision: 'r1', builtins: createHostBuiltins({ strict: false }) })
  policy = new PolicyHolder()
  metrics = new SidecarMetrics()
  const logger = createLogger({ level: 'error', stream: { write: () => {} } as never })
  const authorizer = createAuthorizer({
    verifier,
    policy,
    limits: { ...defaultLimitsOptions(), maxBatchItems: MAX_ITEMS },
    logger,
    metrics,
    onDecision: (r) => records.push(r),
  })
  server = await startAuthzenServer({ address: '127.0.0.1:0', authorizer, logger, maxBodyBytes: MAX_BODY, maxBatchItems: MAX_ITEMS, metrics })
  base = `http://${server.address}`
  token7 = await issuer.mint(claims7)
  token8 = await issuer.mint(claims8)
})

afterAll(async () => {
  await server?.stop(100)
  verifier?.close()
  await rm(dir, { recursive: true, force: true })
})

beforeEach(() => {
  records.length = 0
})

describe('POST /access/v1/evaluation', () => {
  it('fails closed with decision false and NO_POLICY (HTTP 200) while no bundle is loaded', async () => {
    const res = await evaluation({ subject: subject('u-7', token7), action: { name: 'read' }, resource: trade('t-1', 7) })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ decision: false, context: { code: 'NO_POLICY', policy_revision: '' } })
    expect(records).toHaveLength(1)
    policy.set({ engine, revision: 'r1' })
  })

  it('allows with decision true and Verdict’s context, audited, and echoes X-Request-ID', async () => {
    const before = metrics.snapshot({ revision: null, ready: true }).decisions[DecisionCode.OK]!
    const res = await evaluation(
      { subject: subject('u-7', token7), action: { name: 'read' }, resource: trade('t-1', 7) },
      { 'x-request-id': 'req-42' },
    )
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(res.headers.get('x-request-id')).toBe('req-42')
    expect(records).toHaveLength(1)
    expect(res.body).toEqual({
      decision: true,
      context: { decision_id: records[0]!.decisionId, code: 'OK', reasons: [], policy_revision: 'r1' },
    })
    expect(records[0]).toMatchObject({ allow: true, code: 'OK', action: 'read', subject: { type: 'user', id: 'u-7' }, resource: { type: 'trade', id: 't-1' } })
    // Counted with the other front ends' decisions.
    expect(metrics.snapshot({ revision: null, ready: true }).decisions[DecisionCode.OK]).toBe(before + 1)
  })

  it('denies with HTTP 200, decision false, the code and the policy’s reasons', async () => {
    const res = await evaluation({ subject: subject('u-7', token7), action: { name: 'read' }, resource: trade('t-2', 8) })
    expect(res.status).toBe(200)
    expect(res.body).toEqual({
      decision: false,
      context: {
        decision_id: records[0]!.decisionId,
        code: 'POLICY_DENIED',
        reasons: ['not_owner: the trade belongs to another user'],
        policy_revision: 'r1',
      },
    })
  })

  it('gives the policy the verified claims, and the request without the token', async () => {
    const res = await evaluation(
      {
        subject: subject('u-7', token7, { department: 'rates' }),
        action: { name: 'update', properties: { method: 'PUT' } },
        resource: trade('t-1', 7, 'LDN'),
        context: { ip: '10.0.0.9', request_id: 'from-body' },
        future_member: { ignored: true },
      },
      { 'x-request-id': 'req-7' },
    )
    expect(res.body).toMatchObject({ decision: true, context: { code: 'OK' } })
    const input = records[0]!.input!
    expect(input.token).toMatchObject({ sub: 'u-7', user_id: 7 })
    expect(input.subject).toEqual({ type: 'user', id: 'u-7', properties: { department: 'rates' } })
    expect(input.action).toBe('update')
    expect(input.resource).toEqual({ type: 'trade', id: 't-1', properties: { owner_id: 7, location: 'LDN' } })
    expect(input.context).toEqual({ ip: '10.0.0.9', request_id: 'req-7', action_properties: { method: 'PUT' } })
    // The raw token reaches neither the policy input nor the audit record.
    expect(JSON.stringify(records[0])).not.toContain(token7)
  })

  it('answers a missing, forged or expired token with decision false and its code, not an HTTP error', async () => {
    const other = await createTestIssuer({ alg: 'ES256', kid: issuer.kid })
    const cases: [string | undefined, string][] = [
      [undefined, 'TOKEN_MISSING'],
      [await other.mint(claims7), 'TOKEN_SIGNATURE_INVALID'],
      [await issuer.mint(claims7, { expiresIn: -3600 }), 'TOKEN_EXPIRED'],
      ['not-a-jwt', 'TOKEN_MALFORMED'],
    ]
    for (const [token, code] of cases) {
      records.length = 0
      const res = await evaluation({ subject: subject('u-7', token), action: { name: 'read' }, resource: trade('t-1', 7) })
      expect(res.status, code).toBe(200)
      expect(res.body, code).toMatchObject({ decision: false, context: { code, decision_id: records[0]!.decisionId } })
      expect(records[0], code).toMatchObject({ allow: false, code, input: undefined })
    }
  })

  it('denies SUBJECT_MISMATCH when subject.id is not the token’s subject', async () => {
    const res = await evaluation({ subject: subject('u-8', token7), action: { name: 'read' }, resource: trade('t-1', 7) })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({
      decision: false,
      context: { code: 'SUBJECT_MISMATCH', reasons: ['subject_mismatch: subject.id is not the subject of the access token'] },
    })
    expect(records[0]).toMatchObject({ code: 'SUBJECT_MISMATCH', subject: { id: 'u-8' } })
    expect(records[0]!.claims).toMatchObject({ sub: 'u-7' })
  })

  it('answers a request that is not an evaluation with 400 and an error body', async () => {
    const s = subject('u-7', token7)
    const a = { name: 'read' }
    const r = trade('t-1', 7)
    const cases: [unknown, string][] = [
      [{ action: a, resource: r }, 'subject is required'],
      [{ subject: s, resource: r }, 'action is required'],
      [{ subject: s, action: a }, 'resource is required'],
      [{ subject: { id: 'u-7' }, action: a, resource: r }, 'subject.type is required'],
      [{ subject: { type: 'user' }, action: a, resource: r }, 'subject.id is required'],
      [{ subject: s, action: {}, resource: r }, 'action.name is required'],
      [{ subject: s, action: a, resource: { id: 't-1' } }, 'resource.type is required'],
      [{ subject: s, action: a, resource: { type: 'trade' } }, 'resource.id is required'],
      [{ subject: 'alice', action: a, resource: r }, 'subject must be an object'],
      [{ subject: s, action: { name: 123 }, resource: r }, 'action.name must be a string'],
      [{ subject: s, action: { name: '' }, resource: r }, 'action.name must not be empty'],
      [{ subject: s, action: a, resource: { ...r, properties: [1] } }, 'resource.properties must be an object'],
      [{ subject: s, action: a, resource: r, context: 'now' }, 'request.context must be an object'],
      [{ subject: subject('u-7', 42 as never), action: a, resource: r }, 'subject.properties.access_token must be a string'],
      [[{ subject: s, action: a, resource: r }], 'the request body must be a JSON object'],
    ]
    const before = errorsCounted(400)
    for (const [body, message] of cases) {
      const res = await evaluation(body, { 'x-request-id': 'bad-1' })
      expect(res.status, message).toBe(400)
      expect(res.body, message).toEqual({ error: { status: 400, message } })
      expect(res.headers.get('x-request-id'), message).toBe('bad-1')
    }
    expect(records).toHaveLength(0)
    expect(errorsCounted(400)).toBe(before + cases.length)
  })

  it('answers malformed JSON, an empty body, bad UTF-8, deep nesting and a non-JSON content type with 400', async () => {
    const cases: [string | Uint8Array, Record<string, string>, string][] = [
      ['{"subject": {', {}, 'the request body is not valid JSON'],
      ['', {}, 'the request body is empty'],
      [new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), {}, 'the request body is not valid UTF-8'],
      [`${'['.repeat(AUTHZEN_MAX_JSON_DEPTH + 1)}${']'.repeat(AUTHZEN_MAX_JSON_DEPTH + 1)}`, {}, `the request body nests deeper than ${AUTHZEN_MAX_JSON_DEPTH} levels`],
      ['{"subject": {}}', { 'content-type': 'text/plain' }, 'content-type must be application/json'],
      ['subject=alice', { 'content-type': 'application/x-www-form-urlencoded' }, 'content-type must be application/json'],
    ]
    for (const [body, headers, message] of cases) {
      const res = await evaluation(body, headers)
      expect(res.status, message).toBe(400)
      expect(res.body, message).toEqual({ error: { status: 400, message } })
    }
    // A charset parameter and any case are fine.
    const ok = await evaluation(
      { subject: subject('u-7', token7), action: { name: 'read' }, resource: trade('t-1', 7) },
      { 'content-type': 'Application/JSON; charset=utf-8' },
    )
    expect(ok.body).toMatchObject({ decision: true })
  })

  it('keeps a __proto__ member as data, never as a prototype', async () => {
    const body = `{"subject": {"type": "user", "id": "u-7", "properties": {"access_token": "${token7}", "__proto__": {"admin": true}}},
      "action": {"name": "read"}, "resource": {"type": "trade", "id": "t-1", "properties": {"owner_id": 7, "location": "NY"}},
      "__proto__": {"context": {"injected": true}}}`
    const res = await evaluation(body)
    expect(res.body).toMatchObject({ decision: true })
    const input = records[0]!.input!
    expect(input.context).toEqual({})
    expect(Object.getPrototypeOf(input.subject.properties)).toBe(Object.prototype)
    expect((input.subject.properties as Record<string, unknown>).admin).toBeUndefined()
    expect(({} as Record<string, unknown>).admin).toBeUndefined()
  })
})

describe('POST /access/v1/evaluations', () => {
  it('merges top-level defaults into each item and answers every result in order (execute_all)', async () => {
    const res = await evaluations({
      subject: subject('u-7', token7),
      action: { name: 'read' },
      context: { channel: 'web' },
      evaluations: [
        { resource: trade('t-1', 7) },
        { resource: trade('t-2', 8) },
        { resource: trade('t-3', 7, 'LDN'), context: { channel: 'batch' } },
        { action: { name: 'delete' }, resource: trade('t-1', 7) },
      ],
    })
    expect(res.status).toBe(200)
    expect(res.body.decision).toBeUndefined()
    expect(res.body.evaluations.map((d: { decision: boolean }) => d.decision)).toEqual([true, false, true, false])
    expect(res.body.evaluations.map((d: { context: { code: string } }) => d.context.code)).toEqual(['OK', 'POLICY_DENIED', 'OK', 'POLICY_DENIED'])
    expect(res.body.evaluations[3].context.reasons).toContain('unknown_action: not a trades action')
    // One audited decision per item, in order, each with its own id.
    expect(records.map((r) => r.resource.id)).toEqual(['t-1', 't-2', 't-3', 't-1'])
    expect(res.body.evaluations.map((d: { context: { decision_id: string } }) => d.context.decision_id)).toEqual(records.map((r) => r.decisionId))
    // The item's context replaces the default context as a whole.
    expect(records.map((r) => r.input!.context)).toEqual([{ channel: 'web' }, { channel: 'web' }, { channel: 'batch' }, { channel: 'web' }])
  })

  it('stops at the first deny with deny_on_first_deny', async () => {
    const res = await evaluations({
      subject: subject('u-7', token7),
      action: { name: 'read' },
      options: { evaluations_semantic: 'deny_on_first_deny' },
      evaluations: [{ resource: trade('t-1', 7) }, { resource: trade('t-2', 8) }, { resource: trade('t-3', 7) }],
    })
    expect(res.status).toBe(200)
    expect(res.body.evaluations.map((d: { decision: boolean }) => d.decision)).toEqual([true, false])
    expect(records).toHaveLength(2)
  })

  it('stops at the first permit with permit_on_first_permit', async () => {
    const res = await evaluations({
      subject: subject('u-7', token7),
      action: { name: 'read' },
      options: { evaluations_semantic: 'permit_on_first_permit' },
      evaluations: [{ resource: trade('t-2', 8) }, { resource: trade('t-1', 7) }, { resource: trade('t-3', 7) }],
    })
    expect(res.body.evaluations.map((d: { decision: boolean }) => d.decision)).toEqual([false, true])
    expect(records).toHaveLength(2)
    // execute_all named explicitly answers all three.
    const all = await evaluations({
      subject: subject('u-7', token7),
      action: { name: 'read' },
      options: { evaluations_semantic: 'execute_all' },
      evaluations: [{ resource: trade('t-2', 8) }, { resource: trade('t-1', 7) }, { resource: trade('t-3', 7) }],
    })
    expect(all.body.evaluations.map((d: { decision: boolean }) => d.decision)).toEqual([false, true, true])
  })

  it('answers a single Decision when evaluations is missing or empty', async () => {
    const single = { subject: subject('u-7', token7), action: { name: 'read' }, resource: trade('t-1', 7) }
    for (const body of [single, { ...single, evaluations: [] }]) {
      const res = await evaluations(body)
      expect(res.status).toBe(200)
      expect(res.body).toMatchObject({ decision: true, context: { code: 'OK' } })
      expect(res.body.evaluations).toBeUndefined()
    }
    const incomplete = await evaluations({ subject: subject('u-7', token7), evaluations: [] })
    expect(incomplete).toMatchObject({ status: 400, body: { error: { message: 'action is required' } } })
  })

  it('decides each item with its own subject and token; an item’s subject replaces the default whole', async () => {
    const res = await evaluations({
      subject: subject('u-7', token7),
      action: { name: 'read' },
      resource: trade('t-8', 8),
      evaluations: [
        {},
        { subject: subject('u-8', token8) },
        // No properties: the default subject's token is not inherited.
        { subject: { type: 'user', id: 'u-8' } },
        // Identifiers the item leaves out come from the default entity; its properties do not.
        { subject: { properties: { access_token: token8 } } },
      ],
    })
    expect(res.body.evaluations.map((d: { context: { code: string } }) => d.context.code)).toEqual([
      'POLICY_DENIED',
      'OK',
      'TOKEN_MISSING',
      'SUBJECT_MISMATCH',
    ])
    expect(records[1]!.claims).toMatchObject({ sub: 'u-8' })
    expect(records[3]).toMatchObject({ subject: { id: 'u-7' } })
  })

  it('takes a left-out resource type from the default resource', async () => {
    const res = await evaluations({
      subject: subject('u-7', token7),
      action: { name: 'read' },
      resource: { type: 'trade' },
      evaluations: [{ resource: { id: 't-1', properties: { owner_id: 7, location: 'NY' } } }, { resource: { type: 'invoice', id: 'i-1' } }],
    })
    expect(res.body.evaluations.map((d: { decision: boolean }) => d.decision)).toEqual([true, false])
    expect(records.map((r) => r.resource)).toEqual([{ type: 'trade', id: 't-1' }, { type: 'invoice', id: 'i-1' }])
  })

  it('answers an invalid item as decision false with the error in its context, keeping length and order', async () => {
    const res = await evaluations({
      subject: subject('u-7', token7),
      action: { name: 'read' },
      evaluations: [{ resource: trade('t-1', 7) }, {}, 'not an object', { resource: trade('t-1', 7), action: { name: 7 } }, { resource: trade('t-1', 7) }],
    })
    expect(res.status).toBe(200)
    const got = res.body.evaluations as { decision: boolean; context: Record<string, any> }[]
    expect(got.map((d) => d.decision)).toEqual([true, false, false, false, true])
    expect(got[1]!.context).toMatchObject({ code: 'REQUEST_INVALID', error: { status: 400, message: 'resource is required' } })
    expect(got[2]!.context).toMatchObject({ code: 'REQUEST_INVALID', error: { status: 400, message: 'an evaluation must be an object' } })
    expect(got[3]!.context).toMatchObject({ code: 'REQUEST_INVALID', error: { status: 400, message: 'action.name must be a string' } })
    expect(got[0]!.context.error).toBeUndefined()
    // Audited like every other decision, with what the item named.
    expect(records.map((r) => r.code)).toEqual(['OK', 'REQUEST_INVALID', 'REQUEST_INVALID', 'REQUEST_INVALID', 'OK'])
    expect(records[1]).toMatchObject({ subject: { id: 'u-7' }, action: 'read' })
  })

  it('answers whole-request problems with 400', async () => {
    const s = subject('u-7', token7)
    const items = [{ resource: trade('t-1', 7) }]
    const cases: [unknown, string][] = [
      [{ subject: s, action: { name: 'read' }, evaluations: { resource: trade('t-1', 7) } }, 'evaluations must be an array'],
      [{ subject: s, action: { name: 'read' }, options: { evaluations_semantic: 'first' }, evaluations: items }, 'options.evaluations_semantic must be one of execute_all, deny_on_first_deny, permit_on_first_permit'],
      [{ subject: s, action: { name: 'read' }, options: 'all', evaluations: items }, 'request.options must be an object'],
      [{ subject: 'u-7', action: { name: 'read' }, evaluations: items }, 'request.subject must be an object'],
      [{ subject: s, action: { name: 'read' }, evaluations: Array.from({ length: MAX_ITEMS + 1 }, () => items[0]) }, `at most ${MAX_ITEMS} evaluations per request`],
    ]
    for (const [body, message] of cases) {
      const res = await evaluations(body)
      expect(res.status, message).toBe(400)
      expect(res.body, message).toEqual({ error: { status: 400, message } })
    }
    expect(records).toHaveLength(0)
  })
})

describe('the AuthZEN listener', () => {
  it('serves the PDP metadata for the host it was asked as', async () => {
    const res = await fetch(`${base}/.well-known/authzen-configuration`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(await res.json()).toEqual({
      policy_decision_point: base,
      access_evaluation_endpoint: `${base}/access/v1/evaluation`,
      access_evaluations_endpoint: `${base}/access/v1/evaluations`,
    })
    const named = await raw('GET /.well-known/authzen-configuration HTTP/1.1\r\nhost: pdp.internal:9191\r\nconnection: close\r\n\r\n')
    expect(named).toMatch(/^HTTP\/1\.1 200/)
    expect(named).toContain('"policy_decision_point":"http://pdp.internal:9191"')
    // A Host that is not a host name falls back to the bound address.
    const odd = await raw('GET /.well-known/authzen-configuration HTTP/1.1\r\nhost: a"b/c\r\nconnection: close\r\n\r\n')
    expect(odd).toContain(`"policy_decision_point":"${base}"`)
  })

  it('answers an unknown path 404 and a wrong method 405 with Allow', async () => {
    const before404 = errorsCounted(404)
    const before405 = errorsCounted(405)
    const missing = await post('/access/v1/search/subject', {})
    expect(missing).toMatchObject({ status: 404, body: { error: { status: 404, message: 'no such endpoint: /access/v1/search/subject' } } })
    expect((await fetch(`${base}/access/v1/evaluation/`, { method: 'POST' })).status).toBe(404)
    const get = await fetch(`${base}/access/v1/evaluation`)
    expect(get.status).toBe(405)
    expect(get.headers.get('allow')).toBe('POST')
    expect(await get.json()).toEqual({ error: { status: 405, message: 'GET is not allowed; use POST' } })
    const put = await fetch(`${base}/access/v1/evaluations`, { method: 'PUT', body: '{}' })
    expect(put.status).toBe(405)
    const meta = await fetch(`${base}/.well-known/authzen-configuration`, { method: 'POST', body: '{}' })
    expect(meta.status).toBe(405)
    expect(meta.headers.get('allow')).toBe('GET, HEAD')
    expect(errorsCounted(404)).toBe(before404 + 2)
    expect(errorsCounted(405)).toBe(before405 + 3)
  })

  it('refuses a body over the limit with 413, declared or streamed, and keeps serving', async () => {
    const before = errorsCounted(413)
    const declared = await raw(
      `POST /access/v1/evaluation HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${MAX_BODY + 1}\r\n\r\n`,
    )
    expect(declared).toMatch(/^HTTP\/1\.1 413/)
    expect(declared).toContain(`"message":"the request body exceeds ${MAX_BODY} bytes"`)
    expect(declared.toLowerCase()).toContain('connection: close')
    const chunk = Buffer.alloc(MAX_BODY + 100, 0x20)
    const streamed = await raw(
      Buffer.concat([
        Buffer.from('POST /access/v1/evaluations HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n'),
        Buffer.from(`${chunk.length.toString(16)}\r\n`),
        chunk,
        Buffer.from('\r\n'),
      ]),
    )
    expect(streamed).toMatch(/^HTTP\/1\.1 413/)
    expect(errorsCounted(413)).toBe(before + 2)
    const after = await evaluation({ subject: subject('u-7', token7), action: { name: 'read' }, resource: trade('t-1', 7) })
    expect(after.body).toMatchObject({ decision: true })
  })

  it('answers a request Node cannot parse with 400 and keeps serving', async () => {
    expect(await raw('BREW /pot HTTP/9.9 nonsense\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/)
    expect(await raw(`GET /x HTTP/1.1\r\nhost: x\r\nbad header\r\n\r\n`)).toMatch(/^HTTP\/1\.1 400/)
    const after = await evaluation({ subject: subject('u-7', token7), action: { name: 'read' }, resource: trade('t-1', 7) })
    expect(after.body).toMatchObject({ decision: true })
  })

  it('answers, and echoes, an X-Request-ID with bytes outside ASCII', async () => {
    const body = JSON.stringify({ subject: subject('u-7', token7), action: { name: 'read' }, resource: trade('t-1', 7) })
    const res = await raw(
      Buffer.concat([
        Buffer.from('POST /access/v1/evaluation HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\nx-request-id: caf'),
        Buffer.from([0xe9, 0x09, 0x7e]),
        Buffer.from(`\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`),
      ]),
    )
    expect(res).toMatch(/^HTTP\/1\.1 200/)
    // Node reads header bytes as latin1 and writes them back as UTF-8: é arrives, é leaves.
    expect(res).toMatch(/\r\nx-request-id: caf[^\r]+\t~\r\n/)
    expect(res).toContain('"decision":true')
  })

  it('shrugs off a client that leaves in the middle of its body', async () => {
    const before = errorsCounted(500)
    await new Promise<void>((resolve, reject) => {
      const sock = connect(server.port, '127.0.0.1', () => {
        sock.write('POST /access/v1/evaluation HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"subject":')
        setTimeout(() => {
          sock.destroy()
          resolve()
        }, 50)
      })
      sock.on('error', reject)
    })
    await new Promise((r) => setTimeout(r, 50))
    expect(errorsCounted(500)).toBe(before)
    const after = await evaluation({ subject: subject('u-7', token7), action: { name: 'read' }, resource: trade('t-1', 7) })
    expect(after.body).toMatchObject({ decision: true })
  })

  it('keeps the connection alive across decisions and request errors', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    const send = (path: string, body: string) =>
      new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
        const req = httpRequest(`${base}${path}`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
          res.resume()
          res.on('end', () => resolve({ status: res.statusCode!, reused: req.reusedSocket }))
        })
        req.on('error', reject)
        req.end(body)
      })
    try {
      const good = JSON.stringify({ subject: subject('u-7', token7), action: { name: 'read' }, resource: trade('t-1', 7) })
      const answers = [
        await send('/access/v1/evaluation', good),
        await send('/access/v1/evaluation', '{oops'),
        await send('/access/v1/evaluations', good),
        await send('/nowhere', '{}'),
        await send('/access/v1/evaluation', good),
      ]
      expect(answers.map((a) => a.status)).toEqual([200, 400, 200, 404, 200])
      expect(answers.map((a) => a.reused)).toEqual([false, true, true, true, true])
    } finally {
      agent.destroy()
    }
  })
})

describe('mergeEvaluation', () => {
  it('replaces entities whole, falls back only for left-out identifiers, and never merges properties', () => {
    const defaults = {
      subject: { type: 'user', id: 'u-7', properties: { access_token: 't', a: 1 } },
      action: { name: 'read', properties: { x: 1 } },
      resource: { type: 'trade', id: 't-1', properties: { owner_id: 7 } },
      context: { a: 1 },
    }
    expect(mergeEvaluation(defaults, {})).toEqual(defaults)
    expect(mergeEvaluation(defaults, { subject: { id: 'u-8' }, action: { properties: { y: 2 } }, context: { b: 2 } })).toEqual({
      subject: { type: 'user', id: 'u-8' },
      action: { name: 'read', properties: { y: 2 } },
      resource: defaults.resource,
      context: { b: 2 },
    })
    // A malformed item member is kept as it is, for the item's validation to report.
    expect(mergeEvaluation(defaults, { resource: 'r' }).resource).toBe('r')
    expect(mergeEvaluation({}, { resource: { id: 'x' } })).toEqual({ resource: { id: 'x' } })
  })
})

describe('jsonDepthExceeds', () => {
  it('counts object and array nesting, ignoring brackets inside strings', () => {
    expect(jsonDepthExceeds('[[[]]]', 3)).toBe(false)
    expect(jsonDepthExceeds('[[[[]]]]', 3)).toBe(true)
    expect(jsonDepthExceeds('{"a":{"b":[1]}}', 3)).toBe(false)
    expect(jsonDepthExceeds(`{"a":"${'['.repeat(50)}\\"${'{'.repeat(50)}"}`, 3)).toBe(false)
    expect(jsonDepthExceeds(`[${'[]'.repeat(1000)}]`, 2)).toBe(false)
  })
})
