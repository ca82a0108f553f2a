/**
 * Builtins over whole documents: `object.subset`, `json.filter`, `json.remove`, `json.patch`,
 * `walk` and the graph functions. Sets arrive as arrays, so set-specific rules are approximated
 * by array rules (noted where it matters).
 *
 * @module
 */
import { badOperand, builtinError, obj } from './errors.js'
import { equalValues, toSet } from './value.js'

type Json = unknown
type JsonObject = Record<string, Json>

const isObject = (v: Json): v is JsonObject =>
  v !== null && typeof v === 'object' && !Array.isArray(v)

function subset(sup: Json, sub: Json): boolean {
  if (isObject(sup) && isObject(sub)) {
    return Object.keys(sub).every((k) => k in sup && subset(sup[k], sub[k]))
  }
  if (Array.isArray(sup) && Array.isArray(sub)) {
    // Elements of sub must appear in super in the same order (sets are sorted, so a set
    // that is a subset of another also passes).
    let i = 0
    for (const e of sub) {
      while (i < sup.length && !equalValues(sup[i], e)) i++
      if (i === sup.length) return false
      i++
    }
    return true
  }
  return equalValues(sup, sub)
}

/** `object.subset(super, sub)`. */
export function objectSubset(sup: unknown, sub: unknown): boolean {
  if (!isObject(sup) && !Array.isArray(sup))
    return badOperand('object.subset', 1, 'one of {object, set, array}', sup)
  if (!isObject(sub) && !Array.isArray(sub))
    return badOperand('object.subset', 2, 'one of {object, set, array}', sub)
  if (isObject(sup) !== isObject(sub)) return false
  return subset(sup, sub)
}

function parsePaths(name: string, paths: unknown): string[][] {
  if (!Array.isArray(paths)) return badOperand(name, 2, 'one of {set, array}', paths)
  return paths.map((p) => {
    if (typeof p === 'string')
      return p
        .replace(/^\//, '')
        .split('/')
        .filter((s, _i, a) => !(s === '' && a.length === 1))
    if (Array.isArray(p)) return p.map((s) => (typeof s === 'string' ? s : JSON.stringify(s)))
    return badOperand(name, 2, 'set or array of strings or arrays', p)
  })
}

/** `json.filter(object, paths)`: keeps only the given paths ("a/b" or ["a", "b"]). */
export function jsonFilter(o: unknown, paths: unknown): JsonObject {
  const doc = obj('json.filter', 1, o)
  const ps = parsePaths('json.filter', paths)
  const pick = (v: Json, rest: string[][]): Json => {
    if (rest.some((p) => p.length === 0)) return v
    if (isObject(v)) {
      const out: JsonObject = {}
      for (const k of new Set(rest.map((p) => p[0]!))) {
        if (k in v)
          out[k] = pick(
            v[k],
            rest.filter((p) => p[0] === k).map((p) => p.slice(1)),
          )
      }
      return out
    }
    if (Array.isArray(v)) {
      const out: Json[] = []
      v.forEach((e, i) => {
        const sub = rest.filter(
          (p) => p[0] === String(i) || equalValues(p[0], e) || JSON.stringify(e) === p[0],
        )
        if (sub.length > 0)
          out.push(
            pick(
              e,
              sub.map((p) => p.slice(1)),
            ),
          )
      })
      return out
    }
    return v
  }
  return pick(doc, ps) as JsonObject
}

/** `json.remove(object, paths)`: drops the given paths. */
export function jsonRemove(o: unknown, paths: unknown): JsonObject {
  const doc = obj('json.remove', 1, o)
  const ps = parsePaths('json.remove', paths)
  const drop = (v: Json, rest: string[][]): Json => {
    if (rest.length === 0) return v
    if (isObject(v)) {
      const out: JsonObject = {}
      for (const [k, e] of Object.entries(v)) {
        const sub = rest.filter((p) => p[0] === k)
        if (sub.some((p) => p.length === 1)) continue
        out[k] = drop(
          e,
          sub.map((p) => p.slice(1)),
        )
      }
      return out
    }
    if (Array.isArray(v)) {
      const out: Json[] = []
      v.forEach((e, i) => {
        const sub = rest.filter(
          (p) => p[0] === String(i) || JSON.stringify(e) === p[0] || p[0] === e,
        )
        if (sub.some((p) => p.length === 1)) return
        out.push(
          drop(
            e,
            sub.map((p) => p.slice(1)),
          ),
        )
      })
      return out
    }
    return v
  }
  return drop(doc, ps) as JsonObject
}

function pointer(path: unknown): string[] | undefined {
  if (Array.isArray(path)) return path.map((s) => String(s))
  if (typeof path !== 'string') return undefined
  if (path === '') return []
  return path
    .replace(/^\//, '')
    .split('/')
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
}

const clone = (v: Json): Json => (v === undefined ? v : structuredClone(v))

function get(doc: Json, path: string[]): Json {
  let cur = doc
  for (const seg of path) {
    if (isObject(cur) && seg in cur) cur = cur[seg]
    else if (Array.isArray(cur) && /^\d+$/.test(seg) && Number(seg) < cur.length)
      cur = cur[Number(seg)]
    else return undefined
  }
  return cur
}

function put(doc: Json, path: string[], value: Json, insert: boolean): Json | undefined {
  if (path.length === 0) return value
  const parent = get(doc, path.slice(0, -1))
  const last = path[path.length - 1]!
  if (isObject(parent)) parent[last] = value
  else if (Array.isArray(parent)) {
    const i = last === '-' ? parent.length : /^\d+$/.test(last) ? Number(last) : -1
    if (i < 0 || i > parent.length || (!insert && i >= parent.length)) return undefined
    if (insert) parent.splice(i, 0, value)
    else parent[i] = value
  } else return undefined
  return doc
}

function del(doc: Json, path: string[]): Json | undefined {
  if (path.length === 0) return undefined
  const parent = get(doc, path.slice(0, -1))
  const last = path[path.length - 1]!
  if (isObject(parent) && last in parent) delete parent[last]
  else if (Array.isArray(parent) && /^\d+$/.test(last) && Number(last) < parent.length)
    parent.splice(Number(last), 1)
  else return undefined
  return doc
}

/** `json.patch(object, patches)`: RFC 6902; a failing operation makes the result undefined. */
export function jsonPatch(o: unknown, patches: unknown): Json {
  if (!Array.isArray(patches)) return badOperand('json.patch', 2, 'array', patches)
  let doc = clone(o)
  for (const p of patches) {
    if (!isObject(p)) return badOperand('json.patch', 2, 'array of objects', patches)
    const path = pointer(p.path)
    if (!path) throw builtinError('json.patch', 'missing path')
    let next: Json | undefined
    switch (p.op) {
      case 'add':
        next = put(doc, path, clone(p.value), true)
        break
      case 'remove':
        next = del(doc, path)
        break
      case 'replace':
        next = get(doc, path) === undefined ? undefined : put(doc, path, clone(p.value), false)
        break
      case 'move':
      case 'copy': {
        const from = pointer(p.from)
        const v = from && get(doc, from)
        if (!from || v === undefined) return undefined
        const moved = clone(v)
        next = p.op === 'move' ? del(doc, from) : doc
        if (next !== undefined) next = put(next, path, moved, true)
        break
      }
      case 'test':
        next = equalValues(get(doc, path), p.value) ? doc : undefined
        break
      default:
        throw builtinError('json.patch', `unknown operation ${JSON.stringify(p.op)}`)
    }
    if (next === undefined) return undefined
    doc = next
  }
  return doc
}

/** `walk(x)` as a relation: every `[path, value]` pair, the root first (pre-order). */
export function walk(x: unknown): [Json[], Json][] {
  const out: [Json[], Json][] = []
  const go = (v: Json, path: Json[]): void => {
    out.push([path, v])
    if (Array.isArray(v)) v.forEach((e, i) => go(e, [...path, i]))
    else if (isObject(v)) for (const k of Object.keys(v).sort()) go(v[k], [...path, k])
  }
  go(x, [])
  return out
}

function neighbours(graph: JsonObject, node: Json): Json[] {
  const key = typeof node === 'string' ? node : JSON.stringify(node)
  const n = graph[key]
  if (Array.isArray(n)) return n
  if (isObject(n)) return Object.keys(n)
  return []
}

/** `graph.reachable(graph, initial)`: every node reachable from the initial ones (a set). */
export function graphReachable(graph: unknown, initial: unknown): Json[] {
  const g = obj('graph.reachable', 1, graph)
  if (!Array.isArray(initial))
    return badOperand('graph.reachable', 2, 'one of {set, array}', initial)
  const seen: Json[] = []
  const queue = [...initial]
  while (queue.length > 0) {
    const n = queue.shift()
    if (seen.some((s) => equalValues(s, n))) continue
    if (!(String(n) in g) && !(JSON.stringify(n) in g)) continue
    seen.push(n)
    queue.push(...neighbours(g, n))
  }
  return toSet(seen)
}

/** `graph.reachable_paths(graph, initial)`: every maximal acyclic path from the initial nodes. */
export function graphReachablePaths(graph: unknown, initial: unknown): Json[][] {
  const g = obj('graph.reachable_paths', 1, graph)
  if (!Array.isArray(initial))
    return badOperand('graph.reachable_paths', 2, 'one of {set, array}', initial)
  const out: Json[][] = []
  const go = (node: Json, path: Json[]): void => {
    if (!(String(node) in g)) {
      if (path.length > 0) out.push(path)
      return
    }
    const next = [...path, node]
    const ns = neighbours(g, node).filter((n) => !next.some((p) => equalValues(p, n)))
    if (ns.length === 0) {
      out.push(next)
      return
    }
    for (const n of ns) go(n, next)
  }
  for (const n of initial) go(n, [])
  return toSet(out)
}
