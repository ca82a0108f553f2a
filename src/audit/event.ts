/**
 * The audit.v1 decision event (the JSON form of `verdict.audit.v1.DecisionEvent`, snake_case
 * field names as in the proto), the builder that masks the policy input before it is logged, and
 * the encoder that writes the same event's JSON directly for the decision path. Audit must never
 * leak bearer credentials or personal claims, so token claims are masked by default except a
 * short safe list.
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
  /**
   * The JSON of `input` without its `token` (`{"subject":…}`), when the caller has made it
   * already (the authorizer serialises the policy input for the engine): {@link
   * encodeDecisionEvent} then splices the masked claims in front instead of serialising the input
   * again. Only for an input whose first key is `token`; the caller vouches that it matches
   * `input`. Ignored by {@link buildDecisionEvent}, and with mask paths or `keepTokenClaims`.
   */
  inputRestJson?: string
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

const DEFAULT_SAFE_SET: ReadonlySet<string> = new Set(DEFAULT_SAFE_CLAIMS)
// The safe set of the last custom list, so a sidecar's one configured list is built once.
let lastSafe: { list: readonly string[]; set: ReadonlySet<string> } | undefined

function safeSet(list: readonly string[] | undefined): ReadonlySet<string> {
  if (list === undefined || list === DEFAULT_SAFE_CLAIMS) return DEFAULT_SAFE_SET
  if (lastSafe?.list !== list) lastSafe = { list, set: new Set(list) }
  return lastSafe.set
}

/** A shallow copy of a container, so a masked write never reaches the caller's object. */
function shallow(v: unknown): unknown {
  if (Array.isArray(v)) return v.slice()
  if (isObject(v)) return { ...v }
  return v
}

function unescapePointer(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~')
}

/**
 * Masks one pointer in `root`, copying each container on the way before writing to it (copy on
 * write): `owned` holds the containers already copied, which may be written in place.
 */
function maskPointer(root: Record<string, unknown>, pointer: string, owned: Set<unknown>): void {
  let p = pointer
  if (p === '/input' || p.startsWith('/input/')) p = p.slice('/input'.length)
  if (p === '' || !p.startsWith('/')) return
  const parts = p.slice(1).split('/').map(unescapePointer)
  // Find the target first, so a missing path copies nothing.
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
    if (!(Number.isInteger(idx) && idx >= 0 && idx < node.length)) return
  } else if (!(isObject(node) && Object.hasOwn(node, last))) return
  let parent: Record<string, unknown> | unknown[] = root
  for (let i = 0; i < parts.length; i++) {
    const key = parts[i] as string
    if (i === parts.length - 1) {
      if (Array.isArray(parent)) parent[Number(key)] = MASKED
      else parent[key] = MASKED
      return
    }
    const child = Array.isArray(parent) ? parent[Number(key)] : parent[key]
    let copy = child
    if (!owned.has(child)) {
      copy = shallow(child)
      owned.add(copy)
      if (Array.isArray(parent)) parent[Number(key)] = copy
      else parent[key] = copy
    }
    parent = copy as Record<string, unknown> | unknown[]
  }
}

/** The claims with every one not in `safe` replaced by {@link MASKED}, as a new object. */
function maskClaims(claims: Record<string, unknown>, safe: ReadonlySet<string>): Record<string, unknown> {
  const masked: Record<string, unknown> = {}
  for (const k in claims) {
    if (Object.hasOwn(claims, k)) masked[k] = safe.has(k) ? claims[k] : MASKED
  }
  return masked
}

/**
 * A masked copy of a policy input. Masked values and the containers holding them are new
 * objects; the rest is shared with `input`, which is never written to. The event is serialised
 * right away by the sinks, so a deep copy per decision would be pure cost (it was about 1% of a
 * Check's CPU in the sidecar's profile).
 */
export function maskInput(input: unknown, options: MaskOptions = {}): Record<string, unknown> | undefined {
  if (!isObject(input)) return undefined
  const copy: Record<string, unknown> = { ...input }
  const owned = new Set<unknown>([copy])
  if (!options.keepTokenClaims && isObject(input.token)) {
    const token = maskClaims(input.token, safeSet(options.safeClaims))
    copy.token = token
    owned.add(token)
  }
  for (const p of options.paths ?? []) maskPointer(copy, p, owned)
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

// The encoder below writes the same JSON as `JSON.stringify(buildDecisionEvent(...))` without
// building the event object. Each JSON.stringify call has a fixed cost of the order of 100 ns,
// so leaves are quoted by hand and the costly parts are cached: the masked token claims and the
// subject's sub/client_id per claims object (a cached token hands the authorizer the same,
// never-mutated claims object on every request), the timestamp prefix per second, and the JSON
// of the few strings that repeat on every decision (service, codes, revision, path).

/** Characters JSON.stringify escapes (lone surrogates too, so any surrogate takes the slow way). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/

/** `JSON.stringify(s)` for a string, without the call's fixed cost when nothing needs escaping. */
function quote(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`
}

/**
 * Quoted low-cardinality strings; cleared when full, so a high-cardinality field costs only
 * misses. Only short strings are kept: some of these fields come from requests, and the cache
 * must stay small whatever callers send.
 */
const quotedCache = new Map<string, string>()
const QUOTED_CACHE_MAX = 512
const QUOTED_CACHE_MAX_LENGTH = 128

function quoteCached(s: string): string {
  if (s.length > QUOTED_CACHE_MAX_LENGTH) return quote(s)
  let q = quotedCache.get(s)
  if (q === undefined) {
    if (quotedCache.size >= QUOTED_CACHE_MAX) quotedCache.clear()
    q = quote(s)
    quotedCache.set(s, q)
  }
  return q
}

/** Masked `input.token` JSON per claims object, per safe set (a new safe list starts afresh). */
const maskedTokenCache = new WeakMap<ReadonlySet<string>, WeakMap<object, string>>()
/** `{"sub":…,"client_id":…` per claims object. */
const subjectCache = new WeakMap<object, string>()
const NO_CLAIMS_SUBJECT = '{"sub":"","client_id":""'

/** `"000"` … `"999"`: the millisecond part of an ISO time. */
const MILLIS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'))
// 0001-01-01 .. 9999-12-31: where toISOString has the plain `YYYY-MM-DDTHH:mm:ss.sssZ` form.
const ISO_MIN = -62135596800000
const ISO_MAX = 253402300799999
let isoSecond = Number.NaN
let isoPrefix = ''

/** `date.toISOString()`, formatting only the milliseconds when the second is the last one seen. */
function isoTime(date: Date): string {
  const t = date.getTime()
  // An invalid date (NaN) reaches toISOString and throws, as the builder does.
  if (!(t >= ISO_MIN && t <= ISO_MAX)) return date.toISOString()
  const ms = ((t % 1000) + 1000) % 1000
  const second = t - ms
  if (second !== isoSecond) {
    isoPrefix = date.toISOString().slice(0, 20)
    isoSecond = second
  }
  return `${isoPrefix}${MILLIS[ms]}Z`
}

function subjectHead(claims: Readonly<Record<string, unknown>> | undefined): string {
  if (typeof claims !== 'object' || claims === null) return NO_CLAIMS_SUBJECT
  let s = subjectCache.get(claims)
  if (s === undefined) {
    const sub = JSON.stringify(str(claims.sub))
    s = `{"sub":${sub},"client_id":${JSON.stringify(str(claims.client_id))}`
    subjectCache.set(claims, s)
  }
  return s
}

function maskedTokenJson(token: Record<string, unknown>, safe: ReadonlySet<string>): string {
  let bySafe = maskedTokenCache.get(safe)
  if (bySafe === undefined) {
    bySafe = new WeakMap()
    maskedTokenCache.set(safe, bySafe)
  }
  let json = bySafe.get(token)
  if (json === undefined) {
    json = JSON.stringify(maskClaims(token, safe))
    bySafe.set(token, json)
  }
  return json
}

/** What the input serialises to with a placeholder token that is its first key. */
const TOKEN_FIRST = '{"token":0'

/**
 * The masked input's JSON, or undefined when the event has no input. The input is serialised
 * once with a placeholder in the token's place (`{...input, token: 0}` has the same keys in the
 * same order as maskInput's copy), and the cached masked claims are spliced in. The policy
 * input has the token first; anything else takes the object path, which defines the output.
 */
function inputJson(
  input: unknown,
  mask: MaskOptions,
  restJson: string | undefined,
): string | undefined {
  if (!isObject(input)) return undefined
  const token = input.token
  if (
    mask.keepTokenClaims === true ||
    !isObject(token) ||
    (mask.paths !== undefined && mask.paths.length > 0)
  ) {
    return JSON.stringify(maskInput(input, mask))
  }
  if (restJson !== undefined) {
    const head = `{"token":${maskedTokenJson(token, safeSet(mask.safeClaims))}`
    return restJson.length <= 2 ? `${head}}` : `${head},${restJson.slice(1)}`
  }
  const rest = JSON.stringify({ ...input, token: 0 })
  // JSON keys are unique, so a leading `"token":0` can only be the placeholder.
  if (!rest.startsWith(TOKEN_FIRST)) return JSON.stringify(maskInput(input, mask))
  const masked = maskedTokenJson(token, safeSet(mask.safeClaims))
  return `{"token":${masked}${rest.slice(TOKEN_FIRST.length)}`
}

function reasonsJson(reasons: readonly string[] | undefined): string {
  if (reasons === undefined || reasons.length === 0) return '[]'
  let out = '['
  for (let i = 0; i < reasons.length; i++) {
    const r = reasons[i]
    // Holes and non-strings are rare; JSON.stringify knows what they become.
    if (typeof r !== 'string') return JSON.stringify([...reasons])
    out += i === 0 ? quoteCached(r) : `,${quoteCached(r)}`
  }
  return `${out}]`
}

/**
 * The JSON of an audit.v1 event: the same string as
 * `JSON.stringify(buildDecisionEvent(record, mask))`, key order included, without building the
 * event. Masking and serialising the token claims happen once per claims object, so claims must
 * not be mutated after their first decision (verified claims never are).
 *
 * @example
 * const json = encodeDecisionEvent(record, mask)
 * sink.writeEncoded(json, { id: record.decisionId, allow: record.allow, service: record.service })
 */
export function encodeDecisionEvent(record: DecisionRecord, mask: MaskOptions = {}): string {
  const latencyUs =
    record.latencyUs ?? (record.latencyMs === undefined ? 0 : Math.round(record.latencyMs * 1000))
  const latency = Math.max(0, Math.trunc(latencyUs))
  const subject = record.subject
  const resource = record.resource
  let out =
    `{"decision_id":${quote(record.decisionId ?? randomUUID())}` +
    `,"timestamp":"${isoTime(record.timestamp ?? new Date())}"` +
    `,"service":${quoteCached(record.service)}` +
    `,"subject":${subjectHead(record.claims)}`
  if (subject?.type !== undefined) out += `,"type":${quoteCached(subject.type)}`
  if (subject?.id !== undefined) out += `,"id":${quote(subject.id)}`
  out +=
    `},"action":${quoteCached(record.action)}` +
    `,"resource":{"type":${quoteCached(resource?.type ?? '')},"id":${quote(resource?.id ?? '')}}` +
    `,"allow":${record.allow ? 'true' : 'false'}` +
    `,"code":${quoteCached(record.code)}` +
    `,"reasons":${reasonsJson(record.reasons)}` +
    `,"policy_revision":${quoteCached(record.policyRevision ?? '')}` +
    // JSON has no NaN or Infinity: JSON.stringify writes null for them.
    `,"latency_us":${Number.isFinite(latency) ? String(latency) : 'null'}`
  if (record.path !== undefined) out += `,"path":${quoteCached(record.path)}`
  const input = inputJson(record.input, mask, record.inputRestJson)
  if (input !== undefined) out += `,"input":${input}`
  return `${out}}`
}

/**
 * The subject token a service name becomes in audit subjects: characters other than letters,
 * digits, `-` and `_` turn into `_`, and an empty name is `unknown`. Readers of the stream use it
 * to filter by service exactly as the sidecar published.
 *
 * @example
 * auditServiceToken('trades.api') // 'trades_api'
 */
export function auditServiceToken(service: string): string {
  return service.replace(/[^A-Za-z0-9_-]/g, '_') || 'unknown'
}

/** `verdict.audit.<service>.<allow|deny>`, with the service made a single safe subject token. */
export function auditSubject(prefix: string, event: Pick<DecisionEvent, 'service' | 'allow'>): string {
  return `${prefix}.${auditServiceToken(event.service)}.${event.allow ? 'allow' : 'deny'}`
}
