/**
 * `strings.render_template`: a subset of Go's text/template, enough for message templates:
 * `{{.a.b}}`, `{{.}}`, `{{$v}}`, `{{if .x}}…{{else}}…{{end}}`, `{{range .xs}}…{{end}}` and
 * `{{range $i, $v := .xs}}…{{end}}`, with `{{-`/`-}}` trimming. Values print as Go's `fmt` does
 * for JSON-decoded data (maps as `map[k:v]`, arrays as `[a b]`).
 *
 * @module
 */
import { builtinError, obj, str } from './errors.js'
import { formatNumber } from './value.js'

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'print'; expr: string }
  | { kind: 'if'; expr: string; then: Node[]; else: Node[] }
  | { kind: 'range'; expr: string; key?: string; value?: string; body: Node[]; else: Node[] }

const NAME = 'strings.render_template'

function tokenize(src: string): ({ text: string } | { action: string })[] {
  const out: ({ text: string } | { action: string })[] = []
  let i = 0
  while (i < src.length) {
    const open = src.indexOf('{{', i)
    if (open < 0) {
      out.push({ text: src.slice(i) })
      break
    }
    let text = src.slice(i, open)
    const close = src.indexOf('}}', open + 2)
    if (close < 0) throw builtinError(NAME, 'template: unclosed action')
    let action = src.slice(open + 2, close)
    if (action.startsWith('- ')) {
      text = text.trimEnd()
      action = action.slice(1)
    }
    let next = close + 2
    if (action.endsWith(' -')) {
      action = action.slice(0, -1)
      while (next < src.length && /\s/.test(src[next]!)) next++
    }
    if (text) out.push({ text })
    out.push({ action: action.trim() })
    i = next
  }
  return out
}

function parse(tokens: ({ text: string } | { action: string })[]): Node[] {
  let pos = 0
  const block = (stops: string[]): { nodes: Node[]; stop: string } => {
    const nodes: Node[] = []
    while (pos < tokens.length) {
      const t = tokens[pos++]!
      if ('text' in t) {
        nodes.push({ kind: 'text', text: t.text })
        continue
      }
      const a = t.action
      if (a.startsWith('/*')) continue
      if (stops.includes(a)) return { nodes, stop: a }
      const m = /^(if|range)\s+(.*)$/.exec(a)
      if (m) {
        const body = block(['else', 'end'])
        const alt = body.stop === 'else' ? block(['end']).nodes : []
        if (m[1] === 'if') nodes.push({ kind: 'if', expr: m[2]!, then: body.nodes, else: alt })
        else {
          const r = /^(?:(\$\w+)\s*(?:,\s*(\$\w+))?\s*:=\s*)?(.+)$/.exec(m[2]!)!
          const [key, value] = r[2] ? [r[1], r[2]] : [undefined, r[1]]
          nodes.push({ kind: 'range', expr: r[3]!, key, value, body: body.nodes, else: alt })
        }
        continue
      }
      if (a === 'end' || a === 'else') throw builtinError(NAME, `template: unexpected {{${a}}}`)
      nodes.push({ kind: 'print', expr: a })
    }
    if (stops.length > 0) throw builtinError(NAME, 'template: unexpected EOF')
    return { nodes, stop: '' }
  }
  return block([]).nodes
}

function goPrint(v: unknown): string {
  if (v === undefined) return '<no value>'
  if (v === null) return '<nil>'
  if (typeof v === 'string') return v
  if (typeof v === 'number') return formatNumber(v)
  if (typeof v === 'boolean') return String(v)
  if (Array.isArray(v)) return `[${v.map(goPrint).join(' ')}]`
  const o = v as Record<string, unknown>
  return `map[${Object.keys(o)
    .sort()
    .map((k) => `${k}:${goPrint(o[k])}`)
    .join(' ')}]`
}

function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false
  if (Array.isArray(v)) return v.length > 0
  if (typeof v === 'object') return Object.keys(v).length > 0
  return true
}

function evalExpr(expr: string, dot: unknown, root: unknown, vars: Map<string, unknown>): unknown {
  // "$", "$x", "." or nothing, then ".field" selectors: ".a.b" has no head, "." is dot itself.
  const e = expr.trim()
  const m = e === '.' ? ['.', '.', ''] : /^(\$\w*)?((?:\.[A-Za-z_]\w*)*)$/.exec(e)
  if (!m) throw builtinError(NAME, `template: unsupported action {{${expr}}}`)
  let cur: unknown
  const head = m[1] || '.'
  if (head === '.') cur = dot
  else if (head === '$') cur = root
  else {
    if (!vars.has(head)) throw builtinError(NAME, `template: undefined variable "${head}"`)
    cur = vars.get(head)
  }
  const fields = m[2] ? m[2].slice(1).split('.') : []
  for (const f of fields) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined
    cur = (cur as Record<string, unknown>)[f]
  }
  return cur
}

function render(nodes: Node[], dot: unknown, root: unknown, vars: Map<string, unknown>): string {
  let out = ''
  for (const n of nodes) {
    switch (n.kind) {
      case 'text':
        out += n.text
        break
      case 'print':
        out += goPrint(evalExpr(n.expr, dot, root, vars))
        break
      case 'if':
        out += render(truthy(evalExpr(n.expr, dot, root, vars)) ? n.then : n.else, dot, root, vars)
        break
      case 'range': {
        const v = evalExpr(n.expr, dot, root, vars)
        const entries: [unknown, unknown][] = Array.isArray(v)
          ? v.map((e, i) => [i, e])
          : v !== null && typeof v === 'object'
            ? Object.keys(v)
                .sort()
                .map((k) => [k, (v as Record<string, unknown>)[k]])
            : []
        if (entries.length === 0) {
          out += render(n.else, dot, root, vars)
          break
        }
        for (const [k, e] of entries) {
          const scope = new Map(vars)
          if (n.key) scope.set(n.key, k)
          if (n.value) scope.set(n.value, e)
          out += render(n.body, e, root, scope)
        }
        break
      }
    }
  }
  return out
}

/** `strings.render_template(value, vars)`. */
export function renderTemplate(template: unknown, vars: unknown): string {
  const src = str(NAME, 1, template)
  const data = obj(NAME, 2, vars)
  return render(parse(tokenize(src)), data, data, new Map())
}
