/**
 * The Check and BatchCheck logic, free of gRPC: limits, then the token, then the policy, then
 * the response and one audit record per decision. Every failure is a deny with a code; nothing
 * here throws at the caller.
 *
 * @module
 */

import { create } from '@bufbuild/protobuf'
import type { JsonObject } from '@bufbuild/protobuf'
import type { Decision, DecisionCode as DecisionCodeName } from '../engine/index.js'
import { DecisionCode as DecisionCodeNames } from '../engine/index.js'
import {
  BatchCheckResponseSchema,
  CheckResponseSchema,
  DecisionCode,
} from '../gen/verdict/v1/authorizer_pb.js'
import type {
  BatchCheckRequest,
  BatchCheckResponse,
  CheckRequest,
  CheckResponse,
  Resource,
  Subject,
} from '../gen/verdict/v1/authorizer_pb.js'
import { PdpError } from '../util/errors.js'
import type { Logger } from './logger.js'
import type { LimitsOptions } from './options.js'
import type { PolicyHolder } from './policy-holder.js'
import { uuidv7 } from './uuid.js'

/** Verifies a token; shaped after `token/`'s verifier so any such object fits. */
export interface TokenVerifierLike {
  verify(token: string): Promise<{ claims: Record<string, unknown>; subject?: string }>
}

/** Everything an audit sink needs about one decision. */
export interface DecisionRecord {
  decisionId: string
  timestamp: Date
  /** The policy input (absent when the token did not verify). */
  input: PolicyInput | undefined
  /** Verified claims, if any. */
  claims: Record<string, unknown> | undefined
  subject: { type: string; id: string }
  action: string
  resource: { type: string; id: string }
  allow: boolean
  code: DecisionCodeName
  reasons: string[]
  revision: string
  /** Entrypoint that decided, e.g. `trades/decision`. */
  path: string
  latencyMs: number
}

/** The document the policy sees as `input`. */
export interface PolicyInput {
  token: Record<string, unknown>
  subject: { type: string; id: string; properties: JsonObject }
  action: string
  resource: { type: string; id: string; properties: JsonObject }
  context: JsonObject
}

/** What {@link createAuthorizer} needs. */
export interface AuthorizerOptions {
  verifier: TokenVerifierLike
  policy: PolicyHolder
  limits: LimitsOptions
  logger: Logger
  /** Called once per decision; must not block (audit sinks buffer). Errors are logged. */
  onDecision?: (record: DecisionRecord) => void
}

/** The Authorizer service logic. */
export interface Authorizer {
  check(request: CheckRequest): Promise<CheckResponse>
  batchCheck(request: BatchCheckRequest): Promise<BatchCheckResponse>
}

interface Item {
  action: string
  resource: Resource | undefined
  context: JsonObject | undefined
}

type TokenOutcome =
  | { ok: true; claims: Record<string, unknown>; subject: string | undefined }
  | { ok: false; code: DecisionCodeName; reason: string }

const KNOWN_CODES = new Set<string>(Object.values(DecisionCodeNames))

function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8')
}

/** Subject type used when the request names none: the token's `sub` is a user or a client. */
export const DEFAULT_SUBJECT_TYPE = 'user'

/**
 * Creates the Authorizer logic.
 *
 * @example
 * const authorizer = createAuthorizer({ verifier, policy, limits, logger, onDecision })
 * const res = await authorizer.check(create(CheckRequestSchema, { token, action: 'read' }))
 */
export function createAuthorizer(options: AuthorizerOptions): Authorizer {
  const { verifier, policy, limits, logger } = options
  const debug = logger.isEnabled?.('debug') ?? true

  async function verifyToken(token: string): Promise<TokenOutcome> {
    if (token === '') return { ok: false, code: 'TOKEN_MISSING', reason: 'token_missing: no token' }
    if (byteLength(token) > limits.maxTokenBytes) {
      return { ok: false, code: 'TOKEN_TOO_LARGE', reason: `token_too_large: over ${limits.maxTokenBytes} bytes` }
    }
    try {
      const { claims, subject } = await verifier.verify(token)
      // `subject` honours the issuer's claims mapping; `sub` is the fallback for plain verifiers.
      return { ok: true, claims, subject: subject ?? (typeof claims.sub === 'string' ? claims.sub : undefined) }
    } catch (err) {
      const e = err as { denyCode?: unknown; description?: unknown; message?: unknown }
      const code = typeof e.denyCode === 'string' && KNOWN_CODES.has(e.denyCode) ? (e.denyCode as DecisionCodeName) : 'TOKEN_INVALID'
      if (code === 'TOKEN_INVALID' && typeof e.denyCode !== 'string') {
        logger.warn('token verifier failed unexpectedly', { error: err })
      }
      const description = typeof e.description === 'string' ? e.description : 'the token is not valid'
      return { ok: false, code, reason: `${code.toLowerCase()}: ${description}` }
    }
  }

  function decide(
    item: Item,
    token: TokenOutcome,
    subjectOverride: Subject | undefined,
    started: number,
  ): CheckResponse {
    const decisionId = uuidv7()
    const active = policy.current
    const resource = {
      type: item.resource?.type ?? '',
      id: item.resource?.id ?? '',
      properties: item.resource?.properties ?? {},
    }
    const claims = token.ok ? token.claims : undefined
    const subject = {
      type: subjectOverride?.type || DEFAULT_SUBJECT_TYPE,
      id: subjectOverride?.id || (token.ok ? (token.subject ?? '') : ''),
      properties: subjectOverride?.properties ?? {},
    }
    let decision: Decision
    let input: PolicyInput | undefined
    if (!token.ok) {
      decision = { allow: false, code: token.code, reasons: [token.reason] }
    } else if (item.action === '') {
      decision = { allow: false, code: 'REQUEST_INVALID', reasons: ['request_invalid: action is required'] }
    } else if (
      byteLength(JSON.stringify(resource.properties)) + byteLength(JSON.stringify(item.context ?? {})) + byteLength(JSON.stringify(subject.properties)) >
      limits.maxPropertiesBytes
    ) {
      decision = {
        allow: false,
        code: 'REQUEST_INVALID',
        reasons: [`request_invalid: properties and context exceed ${limits.maxPropertiesBytes} bytes`],
      }
    } else if (active === undefined) {
      decision = { allow: false, code: 'NO_POLICY', reasons: ['no_policy: no policy bundle is loaded'] }
    } else {
      input = { token: token.claims, subject, action: item.action, resource, context: item.context ?? {} }
      decision = active.engine.evaluate(input)
      if (decision.error !== undefined) {
        logger.warn('policy evaluation failed', { decision_id: decisionId, error: decision.error })
      }
    }
    const latencyMs = performance.now() - started
    const response = create(CheckResponseSchema, {
      allow: decision.allow,
      decisionId,
      reasons: decision.reasons,
      code: DecisionCode[decision.code],
      policyRevision: active?.revision ?? '',
    })
    if (decision.obligations !== undefined) response.obligations = decision.obligations as JsonObject
    if (options.onDecision !== undefined) {
      try {
        options.onDecision({
          decisionId,
          timestamp: new Date(),
          input,
          claims,
          subject: { type: subject.type, id: subject.id },
          action: item.action,
          resource: { type: resource.type, id: resource.id },
          allow: decision.allow,
          code: decision.code,
          reasons: decision.reasons,
          revision: active?.revision ?? '',
          path: active?.engine.entrypoint ?? '',
          latencyMs,
        })
      } catch (err) {
        logger.error('audit hook failed', { decision_id: decisionId, error: err })
      }
    }
    if (debug) logger.debug('decision', { decision_id: decisionId, allow: decision.allow, code: decision.code })
    return response
  }

  return {
    async check(request) {
      const started = performance.now()
      const token = await verifyToken(request.token)
      return decide(
        { action: request.action, resource: request.resource, context: request.context },
        token,
        request.subject,
        started,
      )
    },
    async batchCheck(request) {
      const started = performance.now()
      if (request.items.length > limits.maxBatchItems) {
        throw new RequestError(`at most ${limits.maxBatchItems} items per batch`)
      }
      const token = await verifyToken(request.token)
      const results = request.items.map((item) =>
        decide({ action: item.action, resource: item.resource, context: item.context }, token, request.subject, started),
      )
      return create(BatchCheckResponseSchema, { results })
    },
  }
}

/** A request that cannot be answered item by item; mapped to INVALID_ARGUMENT. */
export class RequestError extends PdpError {
  constructor(message: string) {
    super('ERR_REQUEST_INVALID', message)
  }
}
