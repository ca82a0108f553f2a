/**
 * How the load generator talks to each kind of target: the gRPC method path, the request bytes
 * for a bench request (encoded before the clock starts), and the check of an answer against the
 * expected decision.
 *
 * @module
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import {
  CheckRequestSchema,
  CheckResponseSchema,
  DecisionCode,
} from '../../src/gen/verdict/v1/authorizer_pb.js'
import {
  CERBOS_CHECK_RESOURCES,
  CerbosEffect,
  decodeEffect,
  encodeCheckResources,
} from '../cerbos/wire.js'
import { CASES, PROFILES } from './fixtures.js'
import type { BenchRequest } from './fixtures.js'

/** The kinds of server the bench measures. */
export const TargetKind = { ECHO: 'echo', VERDICT: 'verdict', CERBOS: 'cerbos' } as const
/** One of {@link TargetKind}. */
export type TargetKind = (typeof TargetKind)[keyof typeof TargetKind]

/** A request ready to send, with what its answer must say. */
export interface WireRequest {
  bytes: Buffer
  /** Returns why the answer is wrong, or undefined when it is right. */
  check(answer: Buffer): string | undefined
}

/** Everything the load generator needs to call one kind of target. */
export interface TargetCodec {
  path: string
  encode(req: BenchRequest): WireRequest
}

const VERDICT_CHECK = '/verdict.v1.Authorizer/Check'

function verdictBytes(req: BenchRequest): Buffer {
  const c = CASES[req.caseIndex]!
  return Buffer.from(
    toBinary(
      CheckRequestSchema,
      create(CheckRequestSchema, {
        token: req.token,
        action: c.action,
        resource: {
          type: 'trade',
          id: c.resourceId,
          properties: { owner_id: c.ownerId, location: c.location },
        },
      }),
    ),
  )
}

/** The code Verdict must give: a wrong code on a deny means it denied for the wrong reason. */
function expectedVerdictCode(req: BenchRequest): DecisionCode {
  const c = CASES[req.caseIndex]!
  if (c.allow) return DecisionCode.OK
  const scopes = PROFILES[c.profile].scope.split(' ')
  return scopes.includes('trades') ? DecisionCode.POLICY_DENIED : DecisionCode.INSUFFICIENT_SCOPE
}

/** The deny codes that mean "this token is not acceptable". */
const TOKEN_CODES = new Set<number>([
  DecisionCode.TOKEN_MISSING,
  DecisionCode.TOKEN_INVALID,
  DecisionCode.TOKEN_SIGNATURE_INVALID,
  DecisionCode.TOKEN_UNKNOWN_KEY,
  DecisionCode.TOKEN_MALFORMED,
])

const verdict: TargetCodec = {
  path: VERDICT_CHECK,
  encode(req) {
    if (req.forged) {
      return {
        bytes: verdictBytes(req),
        check(answer) {
          const res = fromBinary(CheckResponseSchema, answer)
          return !res.allow && TOKEN_CODES.has(res.code)
            ? undefined
            : `forged token, case ${req.caseIndex}: got allow=${res.allow} code=${res.code}`
        },
      }
    }
    const allow = CASES[req.caseIndex]!.allow
    const code = expectedVerdictCode(req)
    return {
      bytes: verdictBytes(req),
      check(answer) {
        const res = fromBinary(CheckResponseSchema, answer)
        if (res.allow !== allow || res.code !== code) {
          return `case ${req.caseIndex}: want allow=${allow} code=${code}, got allow=${res.allow} code=${res.code} ${res.reasons.join('; ')}`
        }
        return undefined
      },
    }
  },
}

const echo: TargetCodec = {
  path: VERDICT_CHECK,
  encode(req) {
    // The echo server answers allow to everything: that is the constant it must return.
    return {
      bytes: verdictBytes(req),
      check(answer) {
        const res = fromBinary(CheckResponseSchema, answer)
        return res.allow && res.code === DecisionCode.OK
          ? undefined
          : 'echo answered something else'
      },
    }
  },
}

const cerbos: TargetCodec = {
  path: CERBOS_CHECK_RESOURCES,
  encode(req) {
    const c = CASES[req.caseIndex]!
    // A forged token must not get through; Cerbos may also refuse the call (counted as an error).
    const want = c.allow && !req.forged ? CerbosEffect.ALLOW : CerbosEffect.DENY
    return {
      bytes: Buffer.from(
        encodeCheckResources({
          principalId: PROFILES[c.profile].sub,
          principalRoles: ['user'],
          kind: 'trade',
          resourceId: c.resourceId,
          attr: { owner_id: c.ownerId, location: c.location },
          action: c.action,
          jwt: req.token,
        }),
      ),
      check(answer) {
        const got = decodeEffect(answer, c.action)
        return got === want ? undefined : `case ${req.caseIndex}: want effect ${want}, got ${got}`
      },
    }
  },
}

/** The codec for a target kind. */
export function codecFor(kind: TargetKind): TargetCodec {
  switch (kind) {
    case TargetKind.ECHO:
      return echo
    case TargetKind.VERDICT:
      return verdict
    case TargetKind.CERBOS:
      return cerbos
  }
}
