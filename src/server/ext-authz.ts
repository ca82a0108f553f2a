/**
 * Envoy external authorization (ext_authz v3 over gRPC): `envoy.service.auth.v3.Authorization/
 * Check` lets Envoy or Istio ask Verdict about every HTTP request. The CheckRequest is mapped onto
 * a Verdict Check (token from the `authorization` header, action from the method, resource from
 * the path, request facts as context) and decided by the same authorizer as
 * `verdict.v1.Authorizer/Check`, so limits, failure semantics and audit are the same. The decision
 * goes back as a CheckResponse: status OK with an `ok_response` on allow; on deny a non-OK status
 * with a `denied_response` (401 for token problems, 403 for policy denies, 400 for requests that
 * cannot be mapped) and a small JSON body. Every deny is a CheckResponse, never an RPC error, so
 * Envoy's `failure_mode_allow` never lets a deny through.
 *
 * @module
 */

import { create } from '@bufbuild/protobuf'
import type { JsonObject, JsonValue } from '@bufbuild/protobuf'
import {
  HeaderValueOption_HeaderAppendAction as AppendAction,
  HeaderValueOptionSchema,
  HeaderValueSchema,
} from '../gen/envoy/config/core/v3/base_pb.js'
import type { HeaderValueOption } from '../gen/envoy/config/core/v3/base_pb.js'
import {
  CheckResponseSchema,
  DeniedHttpResponseSchema,
  OkHttpResponseSchema,
} from '../gen/envoy/service/auth/v3/external_auth_pb.js'
import type { CheckRequest, CheckResponse } from '../gen/envoy/service/auth/v3/external_auth_pb.js'
import { HttpStatusSchema } from '../gen/envoy/type/v3/http_status_pb.js'
import type { StatusCode } from '../gen/envoy/type/v3/http_status_pb.js'
import { StatusSchema } from '../gen/google/rpc/status_pb.js'
import { PdpError } from '../util/errors.js'
import type { Authorizer, CheckIn, CheckResult } from './authorizer.js'
import { DECISION_CODE_NAMES } from './codes.js'

/** The fully qualified name of Envoy's external authorization service. */
export const EXT_AUTHZ_SERVICE = 'envoy.service.auth.v3.Authorization'

/** Header carrying the decision id: to the upstream API on allow, to the client on deny. */
export const DECISION_ID_HEADER = 'x-verdict-decision-id'

/**
 * Default HTTP method → action map: the verbs of the Check API (`read`, `create`, `update`,
 * `delete`), so one policy can serve SDK Checks and Envoy alike. Other methods become their
 * lower-cased name (`options`, `trace`, ...); the raw method is also in `input.context.method`.
 */
export const DEFAULT_EXT_AUTHZ_ACTIONS: Readonly<Record<string, string>> = Object.freeze({
  GET: 'read',
  HEAD: 'read',
  POST: 'create',
  PUT: 'update',
  PATCH: 'update',
  DELETE: 'delete',
})

/** Request headers never copied into `input.context.headers`: credentials. */
export const EXT_AUTHZ_REDACTED_HEADERS: readonly string[] = Object.freeze([
  'authorization',
  'cookie',
  'proxy-authorization',
])

/** How ext_authz requests are mapped; the `envoy:` section of the config file. */
export interface ExtAuthzOptions {
  /** Serve `envoy.service.auth.v3.Authorization` on the gRPC server. Example: `true`. */
  enabled: boolean
  /**
   * HTTP method (upper case) → action. Methods not listed become their lower-cased name.
   * Example: `{ GET: 'read', POST: 'create', DELETE: 'cancel' }`.
   */
  actions: Record<string, string>
  /**
   * Path prefix dropped before the resource type and id are taken: with `/api/v1`,
   * `/api/v1/trades/t-9` is the trade `t-9`. A path outside the prefix has an empty type and id.
   * Example: `/api/v1`; default none.
   */
  pathPrefix: string
}

/** Returns the default ext_authz options: enabled, the default action map, no path prefix. */
export function defaultExtAuthzOptions(): ExtAuthzOptions {
  return { enabled: true, actions: { ...DEFAULT_EXT_AUTHZ_ACTIONS }, pathPrefix: '' }
}

/**
 * Checks ext_authz options and normalises them (method names upper case, no trailing `/` on the
 * prefix). Throws `ERR_CONFIG_INVALID` naming the bad key.
 */
export function validateExtAuthzOptions(options: ExtAuthzOptions): ExtAuthzOptions {
  if (typeof options.enabled !== 'boolean') {
    throw new PdpError('ERR_CONFIG_INVALID', 'envoy.enabled must be true or false')
  }
  const actions: Record<string, string> = {}
  for (const [method, action] of Object.entries(options.actions)) {
    if (!/^[A-Za-z]+$/.test(method)) {
      const name = JSON.stringify(method)
      throw new PdpError('ERR_CONFIG_INVALID', `envoy.actions: ${name} is not an HTTP method`)
    }
    if (typeof action !== 'string' || action === '') {
      throw new PdpError('ERR_CONFIG_INVALID', `envoy.actions.${method} must be a non-empty string`)
    }
    actions[method.toUpperCase()] = action
  }
  const prefix = options.pathPrefix.replace(/\/+$/, '')
  if (prefix !== '' && !prefix.startsWith('/')) {
    throw new PdpError('ERR_CONFIG_INVALID', 'envoy.path_prefix must start with /')
  }
  return { enabled: options.enabled, actions, pathPrefix: prefix }
}

// `Bearer <token>`: the scheme is case-insensitive (RFC 9110 §11.1), then one or more spaces.
const BEARER = /^bearer +(\S+) *$/i

/** The bearer token of an `authorization` header value, or '' when there is none. */
export function bearerToken(header: string | undefined): string {
  if (header === undefined) return ''
  const m = BEARER.exec(header)
  return m === null ? '' : m[1]!
}

// Objects built from request data have no prototype, so a key like `__proto__` is just a key.
function dict<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>
}

/** A query string parsed form-style: every value is an array of strings, in order. */
function parseQuery(query: string): JsonObject {
  const out = dict<string[]>()
  if (query === '') return out
  for (const [k, v] of new URLSearchParams(query)) (out[k] ??= []).push(v)
  return out
}

/**
 * The path's segments after the prefix, percent-decoded; `undefined` when the path is outside
 * the prefix, `null` when a segment is not valid percent-encoding.
 */
function pathSegments(path: string, prefix: string): string[] | undefined | null {
  let rest = path
  if (prefix !== '') {
    if (path !== prefix && !path.startsWith(`${prefix}/`)) return undefined
    rest = path.slice(prefix.length)
  }
  rest = rest.replace(/^\/+/, '')
  if (rest === '') return []
  try {
    return rest.split('/').map((s) => decodeURIComponent(s))
  } catch {
    return null
  }
}

/**
 * Maps an ext_authz CheckRequest onto a Verdict Check. See the README's mapping table:
 *
 * - token: the `authorization` header's bearer token ('' → TOKEN_MISSING)
 * - action: `options.actions[METHOD]`, else the lower-cased method
 * - resource: `{type: segment 1, id: segment 2, properties: {path, segments, query, host}}`
 * - context: `{method, path, host, scheme, protocol, headers, request_id, source_ip,
 *   source_port, source_principal, context_extensions}`
 *
 * @example
 * mapCheckRequest(req, defaultExtAuthzOptions())
 * // GET /trades/t-9 → { action: 'read', resource: { type: 'trades', id: 't-9', ... }, ... }
 */
export function mapCheckRequest(req: CheckRequest, options: ExtAuthzOptions): CheckIn {
  const attrs = req.attributes
  const http = attrs?.request?.http
  const headersIn = http?.headers ?? {}
  const method = http?.method ?? ''
  const upper = method.toUpperCase()
  const rawPath = http?.path ?? ''
  const host = http?.host ?? ''

  const q = rawPath.indexOf('?')
  const path = q === -1 ? rawPath : rawPath.slice(0, q)
  const query = parseQuery(q === -1 ? '' : rawPath.slice(q + 1))
  const segments = pathSegments(path, options.pathPrefix)

  const headers = dict<string>()
  for (const [k, v] of Object.entries(headersIn)) {
    if (!EXT_AUTHZ_REDACTED_HEADERS.includes(k)) headers[k] = v
  }
  const extensions = dict<string>()
  for (const [k, v] of Object.entries(attrs?.contextExtensions ?? {})) extensions[k] = v

  const source = attrs?.source
  const socket = source?.address?.address.case === 'socketAddress' ? source.address.address.value : undefined
  const port = socket?.portSpecifier.case === 'portValue' ? socket.portSpecifier.value : 0

  const context: Record<string, JsonValue> = {
    method,
    path: rawPath,
    host,
    scheme: http?.scheme ?? '',
    protocol: http?.protocol ?? '',
    headers,
    request_id: http?.id ?? '',
    source_ip: socket?.address ?? '',
    source_port: port,
    source_principal: source?.principal ?? '',
    context_extensions: extensions,
  }
  const check: CheckIn = {
    token: bearerToken(headersIn.authorization),
    action: Object.hasOwn(options.actions, upper) ? options.actions[upper]! : method.toLowerCase(),
    resource: {
      type: segments?.[0] ?? '',
      id: segments?.[1] ?? '',
      properties: { path, segments: segments ?? [], query, host },
    },
    context,
  }
  if (segments === null) check.invalid = 'the path is not valid percent-encoding'
  return check
}

// google.rpc.Code values.
const RPC_OK = 0
const RPC_PERMISSION_DENIED = 7
const RPC_UNAUTHENTICATED = 16


function header(key: string, value: string): HeaderValueOption {
  return create(HeaderValueOptionSchema, {
    header: create(HeaderValueSchema, { key, value }),
    // Replace, never append: a client must not be able to send its own decision id upstream.
    appendAction: AppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
  })
}

/** How a deny code is answered: HTTP status, google.rpc code and `WWW-Authenticate`. */
function denial(code: string): { http: number; rpc: number; challenge?: string } {
  // RFC 6750 §3: no error code when the request carried no credentials at all.
  if (code === 'TOKEN_MISSING') return { http: 401, rpc: RPC_UNAUTHENTICATED, challenge: 'Bearer' }
  if (code.startsWith('TOKEN_')) {
    return { http: 401, rpc: RPC_UNAUTHENTICATED, challenge: 'Bearer error="invalid_token"' }
  }
  if (code === 'INSUFFICIENT_SCOPE') {
    return { http: 403, rpc: RPC_PERMISSION_DENIED, challenge: 'Bearer error="insufficient_scope"' }
  }
  if (code === 'REQUEST_INVALID') return { http: 400, rpc: RPC_PERMISSION_DENIED }
  // POLICY_DENIED, NO_POLICY, EVALUATION_ERROR and anything unforeseen: fail closed.
  return { http: 403, rpc: RPC_PERMISSION_DENIED }
}

/**
 * Maps a decision onto an ext_authz CheckResponse. The deny body is JSON
 * `{decision_id, code, reasons}`; an evaluation error's reasons (policy internals) stay in the
 * audit event and the log, and the client sees `["evaluation_error"]`.
 */
export function toCheckResponse(result: CheckResult): CheckResponse {
  const code = DECISION_CODE_NAMES[result.code] ?? 'UNSPECIFIED'
  if (result.allow) {
    return create(CheckResponseSchema, {
      status: create(StatusSchema, { code: RPC_OK }),
      httpResponse: {
        case: 'okResponse',
        value: create(OkHttpResponseSchema, { headers: [header(DECISION_ID_HEADER, result.decisionId)] }),
      },
    })
  }
  const { http, rpc, challenge } = denial(code)
  const reasons = code === 'EVALUATION_ERROR' ? ['evaluation_error'] : result.reasons
  const headers = [header('content-type', 'application/json'), header(DECISION_ID_HEADER, result.decisionId)]
  if (challenge !== undefined) headers.push(header('www-authenticate', challenge))
  return create(CheckResponseSchema, {
    status: create(StatusSchema, { code: rpc, message: code }),
    httpResponse: {
      case: 'deniedResponse',
      value: create(DeniedHttpResponseSchema, {
        // StatusCode's values are the HTTP codes themselves.
        status: create(HttpStatusSchema, { code: http as StatusCode }),
        headers,
        body: JSON.stringify({ decision_id: result.decisionId, code, reasons }),
      }),
    },
  })
}

/**
 * The handler of `envoy.service.auth.v3.Authorization/Check`: map, decide, answer. Synchronous
 * when the authorizer answers synchronously (a cached token).
 *
 * @example
 * const handle = createExtAuthzHandler(authorizer, defaultExtAuthzOptions())
 * const res = await handle(checkRequest) // res.status.code === 0 allows
 */
export function createExtAuthzHandler(
  authorizer: Authorizer,
  options: ExtAuthzOptions,
): (req: CheckRequest) => CheckResponse | Promise<CheckResponse> {
  return (req) => {
    const out = authorizer.check(mapCheckRequest(req, options))
    return out instanceof Promise ? out.then(toCheckResponse) : toCheckResponse(out)
  }
}
