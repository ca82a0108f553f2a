/**
 * `verdict build`: compiles a policy directory with Verdict's compiler into an OPA-format bundle
 * (`.manifest`, `policy.wasm`, `data.json`, and `.signatures.json` when a signing key is given).
 *
 * @module
 */

import { readdir, readFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { contentRevision, SIGNATURES_FILE, signBundleFiles, writeBundle } from '../bundle/index.js'
import type { BundleFile, SignBundleOptions } from '../bundle/index.js'
import { compile, planOnly } from '../compiler/index.js'
import { HOST_BUILTIN_NAMES } from '../engine/index.js'
import { parseModule } from '../rego/index.js'
import type { Module, Term } from '../rego/index.js'

/** Options of `verdict build`. */
export interface BuildOptions {
  /** Directory (or single .rego file) holding `.rego` and `data.json` files. */
  source: string
  /** Output `.tar.gz` path. */
  output: string
  /** Entrypoints `pkg/rule`; default every rule named `decision`. */
  entrypoints: string[]
  /** Revision; default a content hash. */
  revision?: string
  /** The host the bundle is for (see `CompileOptions.host`); default `verdict`. */
  target?: 'verdict' | 'opa'
  /** Sign the bundle: writes `.signatures.json` over every file (see `signBundleFiles`). */
  signing?: SignBundleOptions
}

/** The policy sources of a directory. */
export interface PolicySources {
  modules: { file: string; source: string }[]
  /** `data` merged from every `data.json`, placed by its directory. */
  data: Record<string, unknown>
}

async function walk(root: string, dir: string, out: string[]): Promise<void> {
  for (const d of await readdir(dir, { withFileTypes: true })) {
    if (d.name.startsWith('.')) continue
    const path = join(dir, d.name)
    if (d.isDirectory()) await walk(root, path, out)
    else if (d.isFile()) out.push(path)
  }
}

/** Reads `.rego` modules (skipping `_test.rego`) and `data.json` files under `dir`. */
export async function readPolicySources(dir: string): Promise<PolicySources> {
  const paths: string[] = []
  if (dir.endsWith('.rego')) paths.push(dir)
  else await walk(dir, dir, paths)
  paths.sort()
  const modules: PolicySources['modules'] = []
  const data: Record<string, unknown> = {}
  for (const path of paths) {
    const name = path.split(/[\\/]/).pop()!
    if (name.endsWith('.rego') && !name.endsWith('_test.rego')) {
      modules.push({ file: relative(process.cwd(), path) || path, source: await readFile(path, 'utf8') })
    } else if (name === 'data.json') {
      const value: unknown = JSON.parse(await readFile(path, 'utf8'))
      const segments = relative(dir, path).split(/[\\/]/).slice(0, -1)
      let node = data
      for (const seg of segments) {
        node[seg] ??= {}
        node = node[seg] as Record<string, unknown>
      }
      Object.assign(node, value)
    }
  }
  return { modules, data }
}

function refPath(terms: Term[]): string[] {
  return terms.slice(1).map((t) => (t.type === 'string' ? t.value : String((t as { value?: unknown }).value)))
}

function packagePath(module: Module): string {
  return refPath(module.package.path.value).join('/')
}

/** Every rule named `decision` (without arguments), as `pkg/decision` entrypoints. */
export function defaultEntrypoints(modules: { file: string; source: string }[]): string[] {
  const found = new Set<string>()
  for (const m of modules) {
    const parsed = parseModule(m.source, m.file)
    for (const rule of parsed.rules) {
      const head = rule.head.ref[0]
      if (rule.head.ref.length === 1 && head?.type === 'var' && head.value === 'decision' && rule.head.args === undefined) {
        found.add(`${packagePath(parsed)}/decision`)
      }
    }
  }
  return [...found].sort()
}

/** Roots the bundle owns: every package path and top-level data key, minus nested ones. */
export function bundleRoots(modules: { file: string; source: string }[], data: Record<string, unknown>): string[] {
  const candidates = new Set<string>(Object.keys(data))
  for (const m of modules) candidates.add(packagePath(parseModule(m.source, m.file)))
  const sorted = [...candidates].sort()
  return sorted.filter((r) => !sorted.some((o) => o !== r && (o === '' || r.startsWith(`${o}/`))))
}

/** Compiles and plans only, returning the IR (for `--dump-ir`). */
export async function dumpIr(source: string, entrypoints: string[]): Promise<unknown> {
  const { modules } = await readPolicySources(source)
  return planOnly({ modules, entrypoints: entrypoints.length > 0 ? entrypoints : defaultEntrypoints(modules) })
}

/**
 * Builds a bundle. Throws `RegoErrors` on compile errors.
 *
 * @example
 * await buildBundle({ source: 'policies/trades', output: 'trades.tar.gz', entrypoints: [] })
 * await buildBundle({ source: 'policies/trades', output: 'trades.tar.gz', entrypoints: [], signing: { key } })
 */
export async function buildBundle(options: BuildOptions): Promise<{ revision: string; entrypoints: string[] }> {
  const { modules, data } = await readPolicySources(options.source)
  if (modules.length === 0) throw new Error(`no .rego files in ${options.source}`)
  const entrypoints = options.entrypoints.length > 0 ? options.entrypoints : defaultEntrypoints(modules)
  if (entrypoints.length === 0) {
    throw new Error('no entrypoints: give --entrypoint pkg/rule or define a rule named decision')
  }
  const compiled = compile({
    modules,
    entrypoints,
    host: options.target ?? 'verdict',
    hostBuiltins: HOST_BUILTIN_NAMES,
  })
  const dataJson = JSON.stringify(data)
  const content: BundleFile[] = [
    { name: 'policy.wasm', data: compiled.wasm },
    { name: 'data.json', data: dataJson },
  ]
  const revision = options.revision ?? contentRevision(content)
  const manifest = {
    revision,
    roots: bundleRoots(modules, data),
    wasm: compiled.entrypoints.map((entrypoint) => ({ entrypoint, module: '/policy.wasm' })),
  }
  const files: BundleFile[] = [
    { name: 'data.json', data: dataJson },
    { name: 'policy.wasm', data: compiled.wasm },
    { name: '.manifest', data: JSON.stringify(manifest) },
  ]
  if (options.signing !== undefined) {
    files.unshift({ name: SIGNATURES_FILE, data: await signBundleFiles(files, options.signing) })
  }
  await writeBundle(options.output, files)
  return { revision, entrypoints: compiled.entrypoints }
}
