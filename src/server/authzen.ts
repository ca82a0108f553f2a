/**
 * The OpenID AuthZEN Authorization API 1.0, HTTP+JSON binding: `POST /access/v1/evaluation` (one
 * decision), `POST /access/v1/evaluations` (a batch, with top-level defaults and
 * `options.evaluations_semantic`) and `GET /.well-known/authzen-configuration` (PDP metadata), on
 * a plain HTTP/1.1 listener of its own. Each evaluation is mapped onto a Verdict Check and decided
 * by the same authorizer as `verdict.v1.Authorizer/Check` and Envoy ext_authz, so limits, failure
 * semantics, metrics and audit are the same. A deny, and every token or policy failure, is HTTP 200
 * with `"decision": false`; HTTP errors (400, 404, 405, 413, 500) are kept for requests that cannot
 * be evaluated at all, with the body `{"error": {"status", "message"}}`.
 *
 * Where the end user's access token travels: in the AuthZEN subject, as the string property
 * `subject.properties.access_token` (the RFC 6750 parameter name). Verdict decides only on a
 * verified token, so the token, not the PEP's word, says who the subject is: `subject.id` must be
 * the verified token's subject (its `sub`, or the claim the issuer's claims mapping names), or the
 * decision is `false` with code `SUBJECT_MISMATCH`. The token is taken out of the properties
 * before the policy sees them (`input.token` holds the verified claims) and never reaches the
 * audit event. The HTTP `Authorization` header is not read: AuthZEN gives it to the PEP's own
 * authentication to the PDP, and a batch whose items name different subjects must not silently
 * borrow one token for all of them. In a batch an item's `subject` replaces the default subject
 * whole, so an item that names another subject carries that subject's token.
 *
 * @module
 */

import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { JsonObject, JsonValue } from '@bufbuild/protobuf'
import type { Authorizer, CheckIn, CheckResult } from './authorizer.js'
import { RequestError } from './authorizer.js'
import { DECISION_CODE_NAMES } from './codes.js'
import { hostPort, listenOn, parseListenAddress } from './listen.js'
import type { Logger } from './logger.js'
import type { AuthzenErrorStatus, SidecarMetrics } from './metrics.js'

/** Path of the Access Evaluation API (one decision). */
export const AUTHZEN_EVALUATION_PATH = '/access/v1/evaluation'
/** Path of the Access Evaluations API (a batch). */
export const AUTHZEN_EVALUATIONS_PATH = '/access/v1/evaluations'
/** Path of the PDP metadata document. */
export const AUTHZEN_METADATA_PATH = '/.well-known/authzen-configuration'
/** The subject property that carries the end user's OAuth 2.0 access token. */
export const AUTHZEN_TOKEN_PROPERTY = 'access_token'
/**
 * Deepest JSON nesting accepted in a request body (objects and arrays, the body itself counting
 * one): a batch item's context starts at depth 4, so policies get about 60 levels, more than the
 * gRPC API's Struct allows.
 */
export const AUTHZEN_MAX_JSON_DEPTH = 64

/** The values of `options.evaluations_semantic`. */
export const EvaluationsSemantic = {
  /** Decide every item and answer every result (the default). */
  EXECUTE_ALL: 'execute_all',
  /** Stop after the first `false`, which is the last result answered. */
  DENY_ON_FIRST_DENY: 'deny_on_first_deny',
  /** Stop after the first `true`, which is the last result answered. */
  PERMIT_ON_FIRST_PERMIT: 'permit_on_first_permit',
} as const
/** One of the {@link EvaluationsSemantic} values. */
export type EvaluationsSemantic = (typeof EvaluationsSemantic)[keyof typeof EvaluationsSemantic]

const SEMANTICS = new Set<string>(Object.values(EvaluationsSemantic))

/** An AuthZEN subject or resource. */
export interface AuthzenEntity {
  type: string
  id: string
  properties?: JsonObject
}

/** An AuthZEN action. */
export interface AuthzenAction {
  name: string
  properties?: JsonObject
}

/** One evaluation: what `/access/v1/evaluation` takes, and each batch item after merging. */
export interface AuthzenEvaluation {
  subject: AuthzenEntity
  action: AuthzenAction
  resource: AuthzenEntity
  context?: JsonObject
}

/**
 * Verdict's part of a decision's `context`: the decision code and reasons as the gRPC API gives
 * them, the decision id that names the audit event, and the policy revision that decided.
 */
export interface AuthzenDecisionContext {
  decision_id: string
  /** A `verdict.v1.DecisionCode` name without its prefix, e.g. `OK`, `POLICY_DENIED`. */
  code: string
  reasons: string[]
  /** Empty while no bundle is loaded. */
  policy_revision: string
  /** What the policy returned besides allow and reasons, when it returned any. */
  obligations?: JsonObject
  /** Why a batch item could not be evaluated (it is then `false`). */
  error?: { status: number; message: string }
}

/** An AuthZEN Decision as Verdict answers it. */
export interface AuthzenDecision {
  decision: boolean
  context: AuthzenDecisionContext
}

/** What {@link startAuthzenServer} needs. */
export interface AuthzenServerOptions {
  /** `host:port` (`[::1]:9191` for IPv6); port 0 picks a free one. Example: `127.0.0.1:9191`. */
  address: string
  authorizer: Authorizer
  logger: Logger
  /** Largest request body in bytes; larger ones are 413. The sidecar passes `limits.maxMessageBytes`. */
  maxBodyBytes: number
  /** Most items in one `/access/v1/evaluations` request; more is 400. Example: `1000`. */
  maxBatchItems: number
  /** Counts requests answered with an HTTP error; decisions are counted by the authorizer. */
  metrics?: SidecarMetrics
}

/** A running AuthZEN listener. */
export interface AuthzenServerHandle {
  /** The address actually bound, `host:port`, or the `unix:` address as given. */
  address: string
  port: number
  /**
   * Stops accepting, lets requests in flight finish for up to `graceMs`, then closes every
   * connection. Idempotent.
   */
  stop(graceMs?: number): Promise<void>
}

type Json = Record<string, unknown>

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function own(o: Json, key: string): unknown {
  return Object.hasOwn(o, key) ? o[key] : undefined
}

function fail(message: string): never {
  throw new RequestError(message)
}

/** `properties`-like members: absent, or an object. */
function optionalObject(o: Json, key: string, where: string): JsonObject | undefined {
  if (!Object.hasOwn(o, key)) return undefined
  const v = o[key]
  if (!isObject(v)) fail(`${where}.${key} must be an object`)
  return v as JsonObject
}

function requiredString(o: Json, key: string, where: string, allowEmpty: boolean): string {
  const v = own(o, key)
  if (v === undefined) fail(`${where}.${key} is required`)
  if (typeof v !== 'string') fail(`${where}.${key} must be a string`)
  if (!allowEmpty && v === '') fail(`${where}.${key} must not be empty`)
  return v
}

// `resource.id` may be empty (a collection, e.g. for `create`); the other identifiers may not.
function entity(v: unknown, where: 'subject' | 'resource'): AuthzenEntity {
  if (v === undefined) fail(`${where} is required`)
  if (!isObject(v)) fail(`${where} must be an object`)
  const out: AuthzenEntity = {
    type: requiredString(v, 'type', where, false),
    id: requiredString(v, 'id', where, where === 'resource'),
  }
  const properties = optionalObject(v, 'properties', where)
  if (properties !== undefined) out.properties = properties
  return out
}

function action(v: unknown): AuthzenAction {
  if (v === undefined) fail('action is required')
  if (!isObject(v)) fail('action must be an object')
  const out: AuthzenAction = { name: requiredString(v, 'name', 'action', false) }
  const properties = optionalObject(v, 'properties', 'action')
  if (properties !== undefined) out.properties = properties
  return out
}

/**
 * Checks one evaluation (a `/access/v1/evaluation` body, or a batch item after merging) and
 * returns it typed. Unknown members are ignored (AuthZEN forward compatibility). Throws a
 * `RequestError` naming the first bad member.
 *
 * @example
 * parseEvaluation({ subject: { type: 'user', id: 'u-7' }, action: { name: 'read' }, resource: { type: 'trade', id: 't-1' } })
 */
export function parseEvaluation(body: unknown): AuthzenEvaluation {
  if (!isObject(body)) fail('the request body must be a JSON object')
  const out: AuthzenEvaluation = {
    subject: entity(own(body, 'subject'), 'subject'),
    action: action(own(body, 'action')),
    resource: entity(own(body, 'resource'), 'resource'),
  }
  const context = optionalObject(body, 'context', 'request')
  if (context !== undefined) out.context = context
  return out
}

/** The members of an identified entity that fall back to the default's when an item leaves them out. */
const FALLBACK_MEMBERS: Record<string, readonly string[]> = { subject: ['type', 'id'], resource: ['type', 'id'], action: ['name'] }

/**
 * One batch item with the request's defaults applied, as AuthZEN specifies: an item's `subject`,
 * `action`, `resource` or `context` replaces the default as a whole (its `properties` are never
 * merged with the default's), except that a required identifier the item's entity leaves out
 * (`type`, `id`, `name`) is taken from the default entity. Returns plain JSON for
 * {@link parseEvaluation}.
 */
export function mergeEvaluation(defaults: Json, item: Json): Json {
  const out: Json = {}
  for (const key of ['subject', 'action', 'resource', 'context']) {
    const fallback = own(defaults, key)
    if (!Object.hasOwn(item, key)) {
      if (fallback !== undefined) out[key] = fallback
      continue
    }
    const value = item[key]
    const members = FALLBACK_MEMBERS[key]
    if (members !== undefined && isObject(value) && isObject(fallback)) {
      const merged: Json = { ...value }
      for (const m of members) if (!Object.hasOwn(value, m) && Object.hasOwn(fallback, m)) merged[m] = fallback[m]
      out[key] = merged
    } else {
      out[key] = value
    }
  }
  return out
}

/**
 * Maps an evaluation onto a Verdict Check:
 *
 * - token: `subject.properties.access_token` ('' when absent → TOKEN_MISSING)
 * - subject: `{type, id, properties}` without the token; `id` must be the token's subject
 * - action: `action.name`
 * - resource: `{type, id, properties}`
 * - context: the request's `context`, plus `action_properties` (the action's `properties`, when
 *   given) and `request_id` (the `X-Request-ID` header, when sent); these two replace members of
 *   the same name
 *
 * A token property that is not a string makes the request invalid.
 *
 * @example
 * mapEvaluation(parseEvaluation(body), 'req-1')
 * // { token: 'eyJ…', action: 'read', subject: { type: 'user', id: 'u-7', properties: {} }, subjectMustMatch: true, ... }
 */
export function mapEvaluation(evaluation: AuthzenEvaluation, requestId?: string): CheckIn {
  const props = evaluation.subject.properties
  let token = ''
  let subjectProperties: JsonObject = {}
  if (props !== undefined) {
    const t = own(props, AUTHZEN_TOKEN_PROPERTY)
    if (t !== undefined && typeof t !== 'string') fail(`subject.properties.${AUTHZEN_TOKEN_PROPERTY} must be a string`)
    token = t ?? ''
    subjectProperties = { ...props }
    delete subjectProperties[AUTHZEN_TOKEN_PROPERTY]
  }
  const context: Record<string, JsonValue> = { ...evaluation.context }
  if (evaluation.action.properties !== undefined) context.action_properties = evaluation.action.properties
  if (requestId !== undefined) context.request_id = requestId
  const resource = { type: evaluation.resource.type, id: evaluation.resource.id, properties: evaluation.resource.properties ?? {} }
  return {
    token,
    action: evaluation.action.name,
    resource,
    subject: { type: evaluation.subject.type, id: evaluation.subject.id, properties: subjectProperties },
    context,
    subjectMustMatch: true,
  }
}

/** A Verdict decision as an AuthZEN Decision, with Verdict's facts in `context`. */
export function toAuthzenDecision(result: CheckResult, error?: { status: number; message: string }): AuthzenDecision {
  const context: AuthzenDecisionContext = {
    decision_id: result.decisionId,
    code: DECISION_CODE_NAMES[result.code] ?? 'UNSPECIFIED',
    reasons: result.reasons,
    policy_revision: result.policyRevision,
  }
  if (result.obligations !== undefined) context.obligations = result.obligations
  if (error !== undefined) context.error = error
  return { decision: result.allow, context }
}

/** Decides one evaluation; a `RequestError` for a body that is not one. */
export async function evaluateAccess(authorizer: Authorizer, body: unknown, requestId?: string): Promise<AuthzenDecision> {
  const check = mapEvaluation(parseEvaluation(body), requestId)
  return toAuthzenDecision(await authorizer.check(check))
}

/**
 * Decides an `/access/v1/evaluations` request: without `evaluations` (or with an empty list) it is
 * a single evaluation and answers one Decision; otherwise each item, merged with the defaults, is
 * decided in order, and `{evaluations: [...]}` answers them in request order, stopping early as
 * `options.evaluations_semantic` says. An item that is not a valid evaluation is `false` with
 * `context.error` (status 400), decided through the authorizer so it is audited. Whole-request
 * problems (bad defaults, options or list, too many items) throw a `RequestError`.
 */
export async function evaluateAccessBatch(
  authorizer: Authorizer,
  body: unknown,
  maxItems: number,
  requestId?: string,
): Promise<AuthzenDecision | { evaluations: AuthzenDecision[] }> {
  if (!isObject(body)) fail('the request body must be a JSON object')
  const items = own(body, 'evaluations')
  if (items !== undefined && !Array.isArray(items)) fail('evaluations must be an array')
  if (items === undefined || items.length === 0) return evaluateAccess(authorizer, body, requestId)
  if (items.length > maxItems) fail(`at most ${maxItems} evaluations per request`)

  let semantic: string = EvaluationsSemantic.EXECUTE_ALL
  const options = optionalObject(body, 'options', 'request')
  if (options !== undefined && Object.hasOwn(options, 'evaluations_semantic')) {
    const s = options.evaluations_semantic
    if (typeof s !== 'string' || !SEMANTICS.has(s)) {
      fail(`options.evaluations_semantic must be one of ${[...SEMANTICS].join(', ')}`)
    }
    semantic = s
  }
  // Defaults may be partial (an item supplies the rest), but each must be an object.
  for (const key of ['subject', 'action', 'resource', 'context']) optionalObject(body, key, 'request')

  const out: AuthzenDecision[] = []
  for (const item of items) {
    let check: CheckIn
    let error: { status: number; message: string } | undefined
    try {
      if (!isObject(item)) fail('an evaluation must be an object')
      check = mapEvaluation(parseEvaluation(mergeEvaluation(body, item)), requestId)
    } catch (err) {
      if (!(err instanceof RequestError)) throw err
      error = { status: 400, message: err.message }
      check = invalidCheck(mergeEvaluation(body, isObject(item) ? item : {}), error.message, requestId)
    }
    let result = authorizer.check(check)
    if (result instanceof Promise) result = await result
    out.push(toAuthzenDecision(result, error))
    if (semantic === EvaluationsSemantic.DENY_ON_FIRST_DENY && !result.allow) break
    if (semantic === EvaluationsSemantic.PERMIT_ON_FIRST_PERMIT && result.allow) break
  }
  return { evaluations: out }
}

/**
 * The Check for a batch item that is not a valid evaluation: a REQUEST_INVALID deny (after the
 * token check, as for ext_authz), with whatever token and identifiers the item has, for the audit.
 */
function invalidCheck(merged: Json, why: string, requestId: string | undefined): CheckIn {
  const subject = isObject(merged.subject) ? merged.subject : {}
  const resource = isObject(merged.resource) ? merged.resource : {}
  const act = isObject(merged.action) ? merged.action : {}
  const props = isObject(subject.properties) ? subject.properties : {}
  const text = (v: unknown): string => (typeof v === 'string' ? v : '')
  const check: CheckIn = {
    token: text(props[AUTHZEN_TOKEN_PROPERTY]),
    action: text(act.name),
    resource: { type: text(resource.type), id: text(resource.id) },
    subject: { type: text(subject.type), id: text(subject.id) },
    invalid: why,
  }
  if (requestId !== undefined) check.context = { request_id: requestId }
  return check
}

/**
 * Whether JSON text nests objects and arrays deeper than `max`, counted without parsing (brackets
 * inside strings do not count), so a hostile body is refused before anything recurses into it.
 */
export function jsonDepthExceeds(text: string, max: number): boolean {
  if (text.length <= max) return false
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true
    } else if (c === 0x7d || c === 0x5d) depth--
  }
  return false
}

/** An HTTP error answer. */
class HttpError extends Error {
  readonly status: AuthzenErrorStatus
  readonly headers: Record<string, string>

  constructor(status: AuthzenErrorStatus, message: string, headers: Record<string, string> = {}) {
    super(message)
    this.status = status
    this.headers = headers
  }
}

/** The client went away before its request body was complete: nothing to answer. */
class ClientGone extends Error {}

const JSON_TYPE = 'application/json'

/** `application/json`, with any parameters (`; charset=utf-8`), in any case. */
function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined) return false
  const semi = value.indexOf(';')
  return (semi === -1 ? value : value.slice(0, semi)).trim().toLowerCase() === JSON_TYPE
}

// A Host header fit to name this PDP: a host name, IPv4, or a bracketed IPv6 address, and a port.
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Starts the AuthZEN listener. Under `serve --workers` every worker calls this with the same
 * address, and node:cluster shares one listening socket between them.
 *
 * @example
 * const authzen = await startAuthzenServer({ address: '127.0.0.1:9191', authorizer, logger, maxBodyBytes: 4 << 20, maxBatchItems: 1000 })
 */
export async function startAuthzenServer(options: AuthzenServerOptions): Promise<AuthzenServerHandle> {
  const where = parseListenAddress(options.address)
  const { authorizer, logger, maxBodyBytes, maxBatchItems, metrics } = options
  let stopping = false
  let bound = ''

  const send = (req: IncomingMessage, res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void => {
    const text = `${JSON.stringify(body)}\n`
    const headers: Record<string, string | number> = {
      'content-type': JSON_TYPE,
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
      ...extra,
    }
    const requestId = req.headers['x-request-id']
    if (typeof requestId === 'string') headers['x-request-id'] = requestId
    if (stopping) headers.connection = 'close'
    res.writeHead(status, headers)
    res.end(req.method === 'HEAD' ? undefined : text)
  }

  const sendError = (req: IncomingMessage, res: ServerResponse, err: HttpError): void => {
    metrics?.authzenError(err.status)
    logger.debug('authzen request refused', { status: err.status, path: req.url, error: err.message })
    send(req, res, err.status, { error: { status: err.status, message: err.message } }, err.headers)
  }

  /** For answers sent before the body was read: keep the connection only if the body is small enough to skip. */
  const skipBody = (req: IncomingMessage, res: ServerResponse): void => {
    const length = Number(req.headers['content-length'] ?? 0)
    if (req.headers['transfer-encoding'] === undefined && Number.isSafeInteger(length) && length <= maxBodyBytes) {
      req.resume()
    } else {
      res.setHeader('connection', 'close')
    }
  }

  const readBody = (req: IncomingMessage, res: ServerResponse): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const declared = req.headers['content-length']
      if (declared !== undefined && Number(declared) > maxBodyBytes) {
        res.setHeader('connection', 'close')
        reject(new HttpError(413, `the request body exceeds ${maxBodyBytes} bytes`))
        return
      }
      const chunks: Buffer[] = []
      let size = 0
      const onData = (chunk: Buffer): void => {
        size += chunk.length
        if (size > maxBodyBytes) {
          req.off('data', onData)
          res.setHeader('connection', 'close')
          reject(new HttpError(413, `the request body exceeds ${maxBodyBytes} bytes`))
          return
        }
        chunks.push(chunk)
      }
      req.on('data', onData)
      req.once('end', () => resolve(Buffer.concat(chunks, size)))
      req.once('error', () => reject(new ClientGone()))
      req.once('close', () => {
        if (!req.complete) reject(new ClientGone())
      })
    })

  const parseBody = async (req: IncomingMessage, res: ServerResponse): Promise<unknown> => {
    if (!isJsonContentType(req.headers['content-type'])) {
      skipBody(req, res)
      throw new HttpError(400, 'content-type must be application/json')
    }
    const bytes = await readBody(req, res)
    if (bytes.length === 0) throw new HttpError(400, 'the request body is empty')
    let text: string
    try {
      text = utf8.decode(bytes)
    } catch {
      throw new HttpError(400, 'the request body is not valid UTF-8')
    }
    if (jsonDepthExceeds(text, AUTHZEN_MAX_JSON_DEPTH)) {
      throw new HttpError(400, `the request body nests deeper than ${AUTHZEN_MAX_JSON_DEPTH} levels`)
    }
    try {
      return JSON.parse(text) as unknown
    } catch {
      throw new HttpError(400, 'the request body is not valid JSON')
    }
  }

  const metadata = (req: IncomingMessage): Record<string, string> => {
    const host = req.headers.host
    const base = `http://${host !== undefined && HOST.test(host) ? host : bound}`
    return {
      policy_decision_point: base,
      access_evaluation_endpoint: `${base}${AUTHZEN_EVALUATION_PATH}`,
      access_evaluations_endpoint: `${base}${AUTHZEN_EVALUATIONS_PATH}`,
    }
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? ''
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    if (path === AUTHZEN_METADATA_PATH) {
      skipBody(req, res)
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method} is not allowed; use GET`, { allow: 'GET, HEAD' })
      return send(req, res, 200, metadata(req), { 'cache-control': 'max-age=300' })
    }
    const single = path === AUTHZEN_EVALUATION_PATH
    if (!single && path !== AUTHZEN_EVALUATIONS_PATH) {
      skipBody(req, res)
      throw new HttpError(404, `no such endpoint: ${path.slice(0, 200)}`)
    }
    if (req.method !== 'POST') {
      skipBody(req, res)
      throw new HttpError(405, `${req.method} is not allowed; use POST`, { allow: 'POST' })
    }
    const body = await parseBody(req, res)
    const header = req.headers['x-request-id']
    const requestId = typeof header === 'string' ? header : undefined
    try {
      const answer = single
        ? await evaluateAccess(authorizer, body, requestId)
        : await evaluateAccessBatch(authorizer, body, maxBatchItems, requestId)
      send(req, res, 200, answer)
    } catch (err) {
      if (err instanceof RequestError) throw new HttpError(400, err.message)
      throw err
    }
  }

  const server = createServer(
    // Long keep-alive: PEPs on the same host hold a few connections open; the request timeout
    // bounds a slow body.
    { requestTimeout: 30_000, headersTimeout: 10_000, keepAliveTimeout: 65_000 },
    (req, res) => {
      handle(req, res).catch((err: unknown) => {
        if (err instanceof ClientGone || res.headersSent) {
          res.destroy()
          return
        }
        try {
          if (err instanceof HttpError) return sendError(req, res, err)
          logger.error('authzen handler failed', { path: req.url, error: err })
          res.setHeader('connection', 'close')
          sendError(req, res, new HttpError(500, 'internal error'))
        } catch (again) {
          // Not even an error answer could be written: drop the connection, never the process.
          logger.error('authzen answer failed', { path: req.url, error: again })
          res.destroy()
        }
      })
    },
  )
  // A request Node's parser refuses (bad request line, huge headers, ...) never reaches the
  // handler: answer 400 where the socket still takes it, then close.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (socket.writable && err.code !== 'ECONNRESET') {
      metrics?.authzenError(400)
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
    }
    socket.destroy()
  })

  const port = await listenOn(server, where, (err) => logger.error('authzen listener failed', { error: err }))
  // On a unix socket the metadata's URLs name the Host the client sent (curl --unix-socket: localhost).
  bound = 'path' in where ? 'localhost' : hostPort(where.host, port)
  let stopped: Promise<void> | undefined
  return {
    address: 'path' in where ? options.address : bound,
    port,
    stop(graceMs = 0) {
      stopped ??= new Promise<void>((resolve) => {
        stopping = true
        const force = setTimeout(() => server.closeAllConnections(), graceMs)
        server.close(() => {
          clearTimeout(force)
          resolve()
        })
        // Idle keep-alive connections go now; busy ones answer with `connection: close`.
        server.closeIdleConnections()
      })
      return stopped
    },
  }
}
