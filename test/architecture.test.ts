/**
 * The module layering of STYLE.md §2, enforced: a module under src/ imports only modules of a
 * lower layer, through their index.ts (util/ and gen/ file by file), and never test code. engine/ never imports the compiler
 * or the Rego front end, so the sidecar can run bundles built by real OPA.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, resolve, dirname, sep } from 'node:path'
import { describe, expect, it } from 'vitest'

const src = join(import.meta.dirname, '..', 'src')

const LAYER: Record<string, number> = {
  util: 0,
  gen: 0,
  rego: 1,
  wasm: 1,
  compiler: 2,
  engine: 2,
  token: 2,
  bundle: 2,
  audit: 2,
  server: 3,
  config: 4,
  cli: 5,
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : []
  })
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  return [...text.matchAll(IMPORT)].map((m) => (m[1] ?? m[2])!).filter((s) => s.startsWith('.'))
}

const moduleOf = (path: string): string => relative(src, path).split(sep)[0]!

describe('module layering', () => {
  const all = files(src)

  it('knows the layer of every module under src/', () => {
    const unknown = [...new Set(all.map(moduleOf))].filter((m) => !(m in LAYER) && !m.endsWith('.ts'))
    expect(unknown).toEqual([])
  })

  it('imports only from lower layers, through their index.ts, never from test/', () => {
    const violations: string[] = []
    for (const file of all) {
      const from = moduleOf(file)
      for (const spec of imports(file)) {
        const target = resolve(dirname(file), spec)
        const rel = relative(src, target)
        const where = `${relative(src, file)} imports ${spec}`
        if (rel.startsWith('..')) {
          violations.push(`${where}: outside src/`)
          continue
        }
        const to = moduleOf(target)
        if (to === from) continue
        if (!(LAYER[to]! < LAYER[from]!)) violations.push(`${where}: ${from} may not import ${to}`)
        // util/ is one helper per file and gen/ is generated: both are imported file by file.
        else if (to !== 'gen' && to !== 'util' && rel !== join(to, 'index.js')) violations.push(`${where}: import ${to}/index.js instead`)
      }
    }
    expect(violations).toEqual([])
  })
})
