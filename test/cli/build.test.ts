import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadBundle } from '../../src/bundle/index.js'
import { buildBundle, bundleRoots, defaultEntrypoints, evaluateQuery } from '../../src/cli/index.js'
import { createHostBuiltins, PolicyEngine } from '../../src/engine/index.js'

const root = join(import.meta.dirname, '..', '..')
const bin = join(root, 'bin', 'verdict.js')
const run = (args: string[]) =>
  promisify(execFile)(process.execPath, [bin, ...args], { cwd: root }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  )

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-cli-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('buildBundle', () => {
  it('builds the trades bundle that the engine runs', async () => {
    const output = join(dir, 'trades.tar.gz')
    const result = await buildBundle({ source: join(root, 'policies/trades'), output, entrypoints: [] })
    expect(result.entrypoints).toEqual(['trades/decision'])
    const bundle = await loadBundle(output)
    expect(bundle.manifest).toMatchObject({
      revision: result.revision,
      roots: ['roles', 'trades'],
      wasm: [{ entrypoint: 'trades/decision', module: '/policy.wasm' }],
    })
    expect(bundle.data).toEqual({ roles: { trader: ['create', 'update', 'cancel'], analyst: [], auditor: [] } })
    const engine = await PolicyEngine.load({
      wasm: bundle.wasmModules.get('policy.wasm')!,
      data: bundle.data,
      builtins: createHostBuiltins({ strict: false }),
    })
    const input = {
      token: { scope: 'trades', user_id: 1, roles: ['trader'], locations: ['NY'] },
      action: 'cancel',
      resource: { type: 'trade', properties: { owner_id: 1, location: 'NY' } },
    }
    expect(engine.evaluate(input)).toMatchObject({ allow: true, code: 'OK' })
  })

  it('uses a content hash as revision unless one is given, and is reproducible', async () => {
    const a = await buildBundle({ source: join(root, 'policies/trades'), output: join(dir, 'a.tar.gz'), entrypoints: [] })
    const b = await buildBundle({ source: join(root, 'policies/trades'), output: join(dir, 'b.tar.gz'), entrypoints: [] })
    expect(a.revision).toBe(b.revision)
    expect(a.revision).toMatch(/^[0-9a-f]{16}$/)
    const c = await buildBundle({
      source: join(root, 'policies/trades'),
      output: join(dir, 'c.tar.gz'),
      entrypoints: ['trades/has_scope'],
      revision: 'v42',
    })
    expect(c).toEqual({ revision: 'v42', entrypoints: ['trades/has_scope'] })
  })

  it('names shadowed builtins verdict:<name> for the verdict target and plainly for opa', async () => {
    const src = join(dir, 'sp')
    await mkdir(src, { recursive: true })
    await writeFile(join(src, 's.rego'), 'package s\n\ndecision := sprintf("%d", [12345678901234567890])\n')
    const names = async (target: 'verdict' | 'opa'): Promise<string[]> => {
      const out = join(dir, `sp-${target}.tar.gz`)
      await buildBundle({ source: src, output: out, entrypoints: [], target })
      const bundle = await loadBundle(out)
      const wasm = bundle.wasmModules.get('policy.wasm')!
      const engine = await PolicyEngine.load({ wasm, data: {}, builtins: createHostBuiltins({ strict: false }) })
      const result = engine.query({}, 's/decision')
      return [JSON.stringify(result), Buffer.from(wasm).includes('verdict:sprintf') ? 'verdict:sprintf' : 'sprintf']
    }
    // Verdict's engine answers verdict:sprintf with Go's fmt and the exact integer.
    expect(await names('verdict')).toEqual(['[{"result":"12345678901234567890"}]', 'verdict:sprintf'])
    expect((await names('opa'))[1]).toBe('sprintf')
  })

  it('finds decision rules and roots across packages', () => {
    const modules = [
      { file: 'a.rego', source: 'package a.b\ndecision := true\nother := 1' },
      { file: 'c.rego', source: 'package c\nallow := true' },
    ]
    expect(defaultEntrypoints(modules)).toEqual(['a/b/decision'])
    expect(bundleRoots(modules, { c: { x: 1 }, d: 2 })).toEqual(['a/b', 'c', 'd'])
  })
})

describe('evaluateQuery', () => {
  it('evaluates a query against a policy directory and a bundle entrypoint', async () => {
    const input = join(dir, 'input.json')
    await writeFile(input, JSON.stringify({ token: { scope: 'nope' } }))
    expect(await evaluateQuery({ query: 'x := data.trades.has_scope', dir: join(root, 'policies/trades'), input })).toEqual([])
    const output = join(dir, 'e.tar.gz')
    await buildBundle({ source: join(root, 'policies/trades'), output, entrypoints: [] })
    const rows = (await evaluateQuery({ query: 'data.trades.decision', bundle: output, input })) as { result: { code: string } }[]
    expect(rows[0]!.result.code).toBe('INSUFFICIENT_SCOPE')
    await expect(evaluateQuery({ query: 'data.trades.other', bundle: output })).rejects.toThrow(/data\.trades\.decision/)
  })
})

describe('verdict (process)', () => {
  it('prints compile errors as file:row:col: code: message and exits 1', async () => {
    const src = join(dir, 'bad')
    await mkdir(src, { recursive: true })
    await writeFile(join(src, 'bad.rego'), 'package bad\n\ndecision := y\n')
    const r = await run(['build', src, '-o', join(dir, 'bad.tar.gz')])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/bad\.rego:3:13: rego_unsafe_var_error: var y is unsafe/)
  }, 30_000)

  it('prints help and version', async () => {
    const help = await run(['build', '--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/^Usage: verdict build/)
    const version = await run(['--version'])
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/)
    const unknown = await run(['frobnicate'])
    expect(unknown.code).toBe(1)
  }, 30_000)

  it('exits 1 naming the key when serve is misconfigured', async () => {
    const r = await run(['serve', '--bundle', 'x.tar.gz', '--jwks', 'j.json', '--issuer', 'https://i'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/token\.audience: is required/)
  }, 30_000)
})
