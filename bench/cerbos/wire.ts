/**
 * Just enough of Cerbos' gRPC API to benchmark it without its SDK: a hand-encoded
 * `cerbos.request.v1.CheckResourcesRequest` (one resource, one action, the JWT as aux data) and a
 * reader that pulls the effect of that action out of `cerbos.response.v1.CheckResourcesResponse`.
 * Field numbers follow Cerbos' public protos (api/public/cerbos/{request,engine,response}/v1).
 *
 * @module
 */
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire'

/** Full method path of the call the bench makes. */
export const CERBOS_CHECK_RESOURCES = '/cerbos.svc.v1.CerbosService/CheckResources'

/** `cerbos.effect.v1.Effect` values the bench cares about. */
export const CerbosEffect = { UNSPECIFIED: 0, ALLOW: 1, DENY: 2, NO_MATCH: 3 } as const
/** One of {@link CerbosEffect}. */
export type CerbosEffect = (typeof CerbosEffect)[keyof typeof CerbosEffect]

/** What one check asks Cerbos. */
export interface CerbosCheck {
  principalId: string
  principalRoles: string[]
  kind: string
  resourceId: string
  /** Resource attributes: strings and numbers are all the trades policy needs. */
  attr: Record<string, string | number>
  action: string
  jwt: string
}

// google.protobuf.Value: number_value = 2, string_value = 3.
function writeValue(w: BinaryWriter, v: string | number): void {
  if (typeof v === 'number') w.tag(2, WireType.Bit64).double(v)
  else w.tag(3, WireType.LengthDelimited).string(v)
}

/** Encodes a `CheckResourcesRequest` for one resource and one action. */
export function encodeCheckResources(c: CerbosCheck): Uint8Array {
  const w = new BinaryWriter()
  // principal = 3: engine.v1.Principal {id = 1, roles = 3}
  w.tag(3, WireType.LengthDelimited).fork()
  w.tag(1, WireType.LengthDelimited).string(c.principalId)
  for (const r of c.principalRoles) w.tag(3, WireType.LengthDelimited).string(r)
  w.join()
  // resources = 4: ResourceEntry {actions = 1, resource = 2}
  w.tag(4, WireType.LengthDelimited).fork()
  w.tag(1, WireType.LengthDelimited).string(c.action)
  // engine.v1.Resource {kind = 1, id = 3, attr = 4 (map<string, Value>)}
  w.tag(2, WireType.LengthDelimited).fork()
  w.tag(1, WireType.LengthDelimited).string(c.kind)
  w.tag(3, WireType.LengthDelimited).string(c.resourceId)
  for (const [k, v] of Object.entries(c.attr)) {
    w.tag(4, WireType.LengthDelimited).fork()
    w.tag(1, WireType.LengthDelimited).string(k)
    w.tag(2, WireType.LengthDelimited).fork()
    writeValue(w, v)
    w.join()
    w.join()
  }
  w.join()
  w.join()
  // aux_data = 5: request.v1.AuxData {jwt = 1: JWT {token = 1}}
  w.tag(5, WireType.LengthDelimited).fork()
  w.tag(1, WireType.LengthDelimited).fork()
  w.tag(1, WireType.LengthDelimited).string(c.jwt)
  w.join()
  w.join()
  return w.finish()
}

/** Reads the sub-message at the reader's position as its own reader. */
function sub(r: BinaryReader): BinaryReader {
  return new BinaryReader(r.bytes())
}

/**
 * Returns the effect Cerbos gave `action` on the first resource of a `CheckResourcesResponse`
 * (`results = 2` → `ResultEntry.actions = 2`, a map<string, Effect>), or UNSPECIFIED if absent.
 */
export function decodeEffect(bytes: Uint8Array, action: string): CerbosEffect {
  const r = new BinaryReader(bytes)
  while (r.pos < r.len) {
    const [field, type] = r.tag()
    if (field !== 2 || type !== WireType.LengthDelimited) {
      r.skip(type, field)
      continue
    }
    const entry = sub(r)
    while (entry.pos < entry.len) {
      const [f, t] = entry.tag()
      if (f !== 2 || t !== WireType.LengthDelimited) {
        entry.skip(t, f)
        continue
      }
      const kv = sub(entry)
      let key = ''
      let effect = 0
      while (kv.pos < kv.len) {
        const [kf, kt] = kv.tag()
        if (kf === 1) key = kv.string()
        else if (kf === 2) effect = kv.int32()
        else kv.skip(kt, kf)
      }
      if (key === action) return effect as CerbosEffect
    }
    return CerbosEffect.UNSPECIFIED
  }
  return CerbosEffect.UNSPECIFIED
}
