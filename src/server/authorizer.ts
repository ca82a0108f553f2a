/**
 * The Check and BatchCheck logic, free of gRPC: limits, then the token, then the policy, then
 * the response and one audit record per decision. Every failure is a deny with a code; nothing
 * here throws at the caller.
 *
 * @module
 */

import type { JsonObject } from '@bufbuild/protobuf'
import type { Decision, DecisionCode as DecisionCodeName } from '../engine/index.js'
import { DecisionCode as DecisionCodeNames } from '../engine/index.js'
import { DecisionCode } from '../gen/verdict/v1/authorizer_pb.js'
import { PdpError } from '../util/errors.js'
import { utf8Exceeds } from '../util/utf8.js'
import type { Logger } from './logger.js'
import { SidecarMetrics } from './metrics.js'
import type { LimitsOptions } from './options.js'
import type { PolicyHolder } from './policy-holder.js'
import { uuidv7 } from './uuid.js'

/** What a verified token gives the authorizer. */
export interface VerifiedTokenLike {
  claims: Record<string, unknown>
  subject?: string
}

/** Verifies a token; shaped after `token/`'s verifier so any such object fits. */
export interface TokenVerifierLike {
  verify(token: string): Promise<VerifiedTokenLike>
  /**
   * The result for a token verified before and still cached, synchronously; `undefined` when it
   * must go through `verify`. Optional: without it every Check waits for `verify`.
   */
  verifyCached?(token: string): VerifiedTokenLike | undefined
}

/** The resource or subject of a request, as decoded off the wire (or a protobuf-es message). */
export interface EntityIn {
  type: string
  id: string
  properties?: JsonObject | undefined
}

/** One `Check` request: the fields of `verdict.v1.CheckRequest`. */
export interface CheckIn {
  token: string
  action: string
  resource?: EntityIn | undefined
  context?: JsonObject | undefined
  subject?: EntityIn | undefined
  /**
   * Encoded size of the request's Struct fields (resource and subject properties, context), when
   * the decoder measured it; otherwise the size limit measures their JSON.
   */
  structBytes?: number | undefined
  /**
   * Why the request could not be mapped, when a front end (ext_authz) found it malformed: the
   * decision is a REQUEST_INVALID deny with this reason, after the token check, and is audited.
   */
  invalid?: string | undefined
  /**
   * The request's `subject.id` must be the verified token's subject (its `sub`, or the claim the
   * issuer's claims mapping names): set by front ends whose callers must name a subject
   * (AuthZEN), so a request about someone other than the token's holder is a SUBJECT_MISMATCH
   * deny, decided and audited after the token check. Unset, a request's subject is passed on as
   * given (the policy sees it beside the verified claims).
   */
  subjectMustMatch?: boolean | undefined
}

/** One item of a `BatchCheck`. */
export interface BatchItemIn {
  action: string
  resource?: EntityIn | undefined
  context?: JsonObject | undefined
  /** Encoded size of this item's Struct fields, as in {@link CheckIn}. */
  structBytes?: number | undefined
}

/** One `BatchCheck` request. */
export interface BatchCheckIn {
  token: string
  subject?: EntityIn | undefined
  items: BatchItemIn[]
  /** Encoded size of the subject's properties, as in {@link CheckIn}. */
  structBytes?: number | undefined
}

/** One decision as answered: the fields of `verdict.v1.CheckResponse`. */
export interface CheckResult {
  allow: boolean
  decisionId: string
  reasons: string[]
  code: DecisionCode
  policyRevision: string
  obligations?: JsonObject
}

/** The answer to a `BatchCheck`. */
export interface BatchCheckResult {
  results: CheckResult[]
}

/** Everything an audit sink needs about one decision. */
export interface DecisionRecord {
  decisionId: string
  timestamp: Date
  /** The policy input (absent when the token did not verify). */
  input: PolicyInput | undefined
  /**
   * The JSON of `input` without its token (`{"subject":…,"action":…,"resource":…,"context":…}`),
   * as made for the engine, so audit can reuse it instead of serialising the input again.
   */
  inputRestJson: string | undefined
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
  /** Counts every decision by code and duration; default a private instance nobody reads. */
  metrics?: SidecarMetrics
}

/**
 * The Authorizer service logic. `check` answers synchronously when the token was verified before
 * (the common case for a sidecar: callers reuse their tokens), and with a promise otherwise.
 */
export interface Authorizer {
  check(request: CheckIn): CheckResult | Promise<CheckResult>
  batchCheck(request: BatchCheckIn): BatchCheckResult | Promise<BatchCheckResult>
}

type TokenOutcome =
  | { ok: true; claims: Record<string, unknown>; subject: string | undefined }
  | { ok: false; code: DecisionCodeName; reason: string }

const KNOWN_CODES = new Set<string>(Object.values(DecisionCodeNames))

function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8')
}

const EMPTY: JsonObject = Object.freeze({}) as JsonObject

/**
 * The policy input's head, `{"token":<claims JSON>,` as UTF-8 bytes, made once per claims object:
 * a cached token hands back the same (frozen) claims every time, so a repeat caller's claims are
 * serialised and encoded once, not per decision.
 */
const inputHeadCache = new WeakMap<object, Uint8Array>()
function inputHead(claims: Record<string, unknown>): Uint8Array {
  let head = inputHeadCache.get(claims)
  if (head === undefined) {
    head = Buffer.from(`{"token":${JSON.stringify(claims)},`)
    inputHeadCache.set(claims, head)
  }
  return head
}

/** The JSON size of the request's free-form parts, for requests whose decoder did not measure it. */
function structBytesOf(item: BatchItemIn, subject: EntityIn | undefined): number {
  let n = 0
  if (item.resource?.properties !== undefined) n += byteLength(JSON.stringify(item.resource.properties))
  if (item.context !== undefined) n += byteLength(JSON.stringify(item.context))
  if (subject?.properties !== undefined) n += byteLength(JSON.stringify(subject.properties))
  return n
}

/** Subject type used when the request names none: the token's `sub` is a user or a client. */
export const DEFAULT_SUBJECT_TYPE = 'user'

/**
 * Creates the Authorizer logic.
 *
 * @example
 * const authorizer = createAuthorizer({ verifier, policy, limits, logger, onDecision })
 * const res = await authorizer.check({ token, action: 'read', resource: { type: 'trade', id: 't1' } })
 */
export function createAuthorizer(options: AuthorizerOptions): Authorizer {
  const { verifier, policy, limits, logger } = options
  const metrics = options.metrics ?? new SidecarMetrics()
  const debug = logger.isEnabled?.('debug') ?? true

  const tokenFailure = (err: unknown): TokenOutcome => {
    const e = err as { denyCode?: unknown; description?: unknown; message?: unknown }
    const code = typeof e.denyCode === 'string' && KNOWN_CODES.has(e.denyCode) ? (e.denyCode as DecisionCodeName) : 'TOKEN_INVALID'
    if (code === 'TOKEN_INVALID' && typeof e.denyCode !== 'string') {
      logger.warn('token verifier failed unexpectedly', { error: err })
    }
    const description = typeof e.description === 'string' ? e.description : 'the token is not valid'
    return { ok: false, code, reason: `${code.toLowerCase()}: ${description}` }
  }

  // `subject` honours the issuer's claims mapping; `sub` is the fallback for plain verifiers.
  const tokenOk = ({ claims, subject }: VerifiedTokenLike): TokenOutcome => ({
    ok: true,
    claims,
    subject: subject ?? (typeof claims.sub === 'string' ? claims.sub : undefined),
  })

  /** The outcome when it needs no waiting (no token, too large, cached); otherwise undefined. */
  function tokenNow(token: string): TokenOutcome | undefined {
    if (token === '') return { ok: false, code: 'TOKEN_MISSING', reason: 'token_missing: no token' }
    if (utf8Exceeds(token, limits.maxTokenBytes)) {
      return { ok: false, code: 'TOKEN_TOO_LARGE', reason: `token_too_large: over ${limits.maxTokenBytes} bytes` }
    }
    if (verifier.verifyCached === undefined) return undefined
    try {
      const hit = verifier.verifyCached(token)
      return hit === undefined ? undefined : tokenOk(hit)
    } catch (err) {
      return tokenFailure(err)
    }
  }

  function verifyToken(token: string): Promise<TokenOutcome> {
    return verifier.verify(token).then(tokenOk, tokenFailure)
  }

  /**
   * One decision. `measured` is the decoder's size of all the decision's Struct fields (item and
   * subject), or undefined when the request did not come off the wire.
   */
  function decide(
    item: BatchItemIn & Pick<CheckIn, 'invalid' | 'subjectMustMatch'>,
    token: TokenOutcome,
    subjectIn: EntityIn | undefined,
    measured: number | undefined,
    started: number,
  ): CheckResult {
    const decisionId = uuidv7()
    const active = policy.current
    const resource = {
      type: item.resource?.type ?? '',
      id: item.resource?.id ?? '',
      properties: item.resource?.properties ?? EMPTY,
    }
    const claims = token.ok ? token.claims : undefined
    const subject = {
      type: subjectIn?.type || DEFAULT_SUBJECT_TYPE,
      id: subjectIn?.id || (token.ok ? (token.subject ?? '') : ''),
      properties: subjectIn?.properties ?? EMPTY,
    }
    const context = item.context ?? EMPTY
    let decision: Decision
    let input: PolicyInput | undefined
    let rest: string | undefined
    if (!token.ok) {
      decision = { allow: false, code: token.code, reasons: [token.reason] }
    } else if (item.invalid !== undefined) {
      decision = { allow: false, code: 'REQUEST_INVALID', reasons: [`request_invalid: ${item.invalid}`] }
    } else if (item.subjectMustMatch === true && (token.subject === undefined || subjectIn?.id !== token.subject)) {
      decision = {
        allow: false,
        code: 'SUBJECT_MISMATCH',
        reasons: ['subject_mismatch: subject.id is not the subject of the access token'],
      }
    } else if (item.action === '') {
      decision = { allow: false, code: 'REQUEST_INVALID', reasons: ['request_invalid: action is required'] }
    } else if (
      (measured ?? structBytesOf(item, subjectIn)) > limits.maxPropertiesBytes
    ) {
      decision = {
        allow: false,
        code: 'REQUEST_INVALID',
        reasons: [`request_invalid: properties and context exceed ${limits.maxPropertiesBytes} bytes`],
      }
    } else if (active === undefined) {
      decision = { allow: false, code: 'NO_POLICY', reasons: ['no_policy: no policy bundle is loaded'] }
    } else {
      input = { token: token.claims, subject, action: item.action, resource, context }
      // The input's JSON from parts: the claims' JSON is made once per token, the rest per call
      // (without its opening brace, which the head stands in for).
      rest = JSON.stringify({ subject, action: item.action, resource, context })
      decision = active.engine.evaluateJsonParts(inputHead(token.claims), rest.slice(1))
      if (decision.error !== undefined) {
        logger.warn('policy evaluation failed', { decision_id: decisionId, error: decision.error })
      }
    }
    const latencyMs = performance.now() - started
    const revision = active?.revision ?? ''
    const response: CheckResult = {
      allow: decision.allow,
      decisionId,
      reasons: decision.reasons,
      code: DecisionCode[decision.code],
      policyRevision: revision,
    }
    if (decision.obligations !== undefined) response.obligations = decision.obligations as JsonObject
    metrics.decision(response.code, latencyMs)
    if (options.onDecision !== undefined) {
      try {
        options.onDecision({
          decisionId,
          timestamp: new Date(),
          input,
          inputRestJson: rest,
          claims,
          subject: { type: subject.type, id: subject.id },
          action: item.action,
          resource: { type: resource.type, id: resource.id },
          allow: decision.allow,
          code: decision.code,
          reasons: decision.reasons,
          revision,
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

  function batch(request: BatchCheckIn, token: TokenOutcome, started: number): BatchCheckResult {
    const subjectBytes = request.structBytes
    return {
      results: request.items.map((item) =>
        decide(
          item,
          token,
          request.subject,
          // An item's size plus the shared subject's: both measured, or neither is used.
          item.structBytes === undefined || subjectBytes === undefined ? undefined : item.structBytes + subjectBytes,
          started,
        ),
      ),
    }
  }

  return {
    check(request) {
      const started = performance.now()
      // A Check's structBytes already covers its subject.
      const now = tokenNow(request.token)
      if (now !== undefined) return decide(request, now, request.subject, request.structBytes, started)
      return verifyToken(request.token).then((token) =>
        decide(request, token, request.subject, request.structBytes, started),
      )
    },
    batchCheck(request) {
      const started = performance.now()
      if (request.items.length > limits.maxBatchItems) {
        throw new RequestError(`at most ${limits.maxBatchItems} items per batch`)
      }
      const now = tokenNow(request.token)
      if (now !== undefined) return batch(request, now, started)
      return verifyToken(request.token).then((token) => batch(request, token, started))
    },
  }
}

/** A request that cannot be answered item by item; mapped to INVALID_ARGUMENT. */
export class RequestError extends PdpError {
  constructor(message: string) {
    super('ERR_REQUEST_INVALID', message)
  }
}
