/**
 * The audit.v1 decision event (the JSON form of `verdict.audit.v1.DecisionEvent`, snake_case
 * field names as in the proto) and the builder that masks the policy input before it is logged.
 * Audit must never leak bearer credentials or personal claims, so token claims are masked by
 * default except a short safe list.
 *
 * @module
 */
import { randomUUID } from 'node:crypto'

/** One decision, as published to `verdict.audit.<service>.<allow|deny>`. */
export interface DecisionEvent {
  decision_id: string
  /** RFC 3339 time of the decision. */
  timestamp: string
  service: string
  subject: { sub: string; client_id: string; type?: string; id?: string }
  action: string
  resource: { type: string; id: string }
  allow: boolean
  /** Decision code name, e.g. `OK`, `POLICY_DENIED`, `TOKEN_EXPIRED`. */
  code: string
  reasons: string[]
  policy_revision: string
  /** Time to decide in microseconds (proto `latency_us`). */
  latency_us: number
  /** Policy entrypoint that decided, e.g. `trades/decision`. */
  path?: string
  /** The policy input with configured fields masked. */
  input?: Record<string, unknown>
}

/** Token claims that are safe to keep in audit records; everything else is masked. */
export const DEFAULT_SAFE_CLAIMS: readonly string[] = [
  'iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'client_id', 'azp', 'scope', 'scp',
]
/** What a masked value is replaced with. */
export const MASKED = '**REDACTED**'

/** How to mask the input. */
export interface MaskOptions {
  /**
   * JSON pointers into the input to mask (`/context/ip`, `/resource/properties/ssn`); a leading
   * `/input` is accepted too. Missing paths are ignored.
   */
  paths?: readonly string[]
  /** Claims of `input.token` left as they are; default {@link DEFAULT_SAFE_CLAIMS}. */
  safeClaims?: readonly string[]
  /** Keep `input.token` entirely unmasked. Default false. */
  keepTokenClaims?: boolean
}

/** What {@link buildDecisionEvent} takes; the caller's view of one decision. */
export interface DecisionRecord {
  decisionId?: string
  /** Default now. */
  timestamp?: Date
  service: string
  /** Verified claims (or nothing, if the token did not verify). */
  claims?: Readonly<Record<string, unknown>>
  subject?: { type?: string; id?: string }
  action: string
  resource?: { type?: string; id?: string }
  allow: boolean
  code: string
  reasons?: readonly string[]
  policyRevision?: string
  /** Decision latency in microseconds; or give `latencyMs`. */
  latencyUs?: number
  latencyMs?: number
  path?: string
  input?: unknown
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

/** Structured copy of JSON-like data, so masking never touches the caller's objects. */
function cloneJson(v: unknown, depth = 0): unknown {
  if (depth > 64) return MASKED
  if (Array.isArray(v)) return v.map((x) => cloneJson(x, depth + 1))
  if (isObject(v)) {
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) out[k] = cloneJson(x, depth + 1)
    return out
  }
  if (typeof v === 'bigint') return v.toString()
  if (typeof v === 'function' || typeof v === 'symbol') return undefined
  return v
}

function unescapePointer(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~')
}

function maskPointer(root: Record<string, unknown>, pointer: string): void {
  let p = pointer
  if (p === '/input' || p.startsWith('/input/')) p = p.slice('/input'.length)
  if (p === '' || !p.startsWith('/')) return
  const parts = p.slice(1).split('/').map(unescapePointer)
  let node: unknown = root
  for (let i = 0; i < parts.length - 1; i++) {
    const key = parts[i] as string
    if (Array.isArray(node)) node = node[Number(key)]
    else if (isObject(node)) node = node[key]
    else return
  }
  const last = parts[parts.length - 1] as string
  if (Array.isArray(node)) {
    const idx = Number(last)
    if (Number.isInteger(idx) && idx >= 0 && idx < node.length) node[idx] = MASKED
  } else if (isObject(node) && Object.hasOwn(node, last)) node[last] = MASKED
}

/** A masked deep copy of a policy input. */
export function maskInput(input: unknown, options: MaskOptions = {}): Record<string, unknown> | undefined {
  const copy = cloneJson(input)
  if (!isObject(copy)) return undefined
  if (!options.keepTokenClaims && isObject(copy.token)) {
    const safe = new Set(options.safeClaims ?? DEFAULT_SAFE_CLAIMS)
    for (const k of Object.keys(copy.token)) if (!safe.has(k)) copy.token[k] = MASKED
  }
  for (const p of options.paths ?? []) maskPointer(copy, p)
  return copy
}

const str = (v: unknown) => (typeof v === 'string' ? v : '')

/** Builds an audit.v1 event from a decision, masking the input. */
export function buildDecisionEvent(record: DecisionRecord, mask: MaskOptions = {}): DecisionEvent {
  const latencyUs =
    record.latencyUs ?? (record.latencyMs === undefined ? 0 : Math.round(record.latencyMs * 1000))
  const subject: DecisionEvent['subject'] = {
    sub: str(record.claims?.sub),
    client_id: str(record.claims?.client_id),
  }
  if (record.subject?.type !== undefined) subject.type = record.subject.type
  if (record.subject?.id !== undefined) subject.id = record.subject.id
  const event: DecisionEvent = {
    decision_id: record.decisionId ?? randomUUID(),
    timestamp: (record.timestamp ?? new Date()).toISOString(),
    service: record.service,
    subject,
    action: record.action,
    resource: { type: record.resource?.type ?? '', id: record.resource?.id ?? '' },
    allow: record.allow,
    code: record.code,
    reasons: [...(record.reasons ?? [])],
    policy_revision: record.policyRevision ?? '',
    latency_us: Math.max(0, Math.trunc(latencyUs)),
  }
  if (record.path !== undefined) event.path = record.path
  const input = maskInput(record.input, mask)
  if (input !== undefined) event.input = input
  return event
}

/** `verdict.audit.<service>.<allow|deny>`, with the service made a single safe subject token. */
export function auditSubject(prefix: string, event: Pick<DecisionEvent, 'service' | 'allow'>): string {
  const service = event.service.replace(/[^A-Za-z0-9_-]/g, '_') || 'unknown'
  return `${prefix}.${service}.${event.allow ? 'allow' : 'deny'}`
}
