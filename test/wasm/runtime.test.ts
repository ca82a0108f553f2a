import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { EXPORTS, IMPORTS, runtimeSourceHash, runtimeWasm } from '../../src/wasm/index.js'
import { emptyPolicyWasm, wasm } from './helpers.js'

const srcDir = join(import.meta.dirname, '../../runtime/src')

function sourceHash(): string {
  const h = createHash('sha256')
  for (const name of readdirSync(srcDir).sort()) {
    h.update(name + '\0')
    h.update(readFileSync(join(srcDir, name)))
  }
  return h.digest('hex')
}

describe('Runtime', () => {
  it('is built from the current C sources (run runtime/build.sh when this fails)', () => {
    expect(runtimeSourceHash()).toBe(sourceHash())
  })

  it('imports only the ABI host functions', () => {
    const mod = new wasm.Module(runtimeWasm())
    const names = wasm.Module.imports(mod).map((i) => `${i.module}.${i.name}`)
    expect(names.sort()).toEqual(Object.values(IMPORTS).map((n) => `env.${n}`).sort())
  })

  it('yields modules exporting exactly the ABI 1.3 exports', () => {
    const mod = new wasm.Module(emptyPolicyWasm())
    const names = wasm.Module.exports(mod).map((e) => e.name)
    expect(names.sort()).toEqual([...EXPORTS].sort())
  })
})

describe('Runtime build', () => {
  // Only where clang and wasm-ld are installed (developers; CI does not need them): without
  // them the source-hash test above still catches a runtime.wasm older than its C sources.
  const clang = ['clang-14', 'clang'].some((c) => spawnSync(c, ['--version']).status === 0)

  it.runIf(clang)('reproduces the committed runtime.wasm from the sources', () => {
    const out = mkdtempSync(join(tmpdir(), 'verdict-runtime-'))
    try {
      const r = spawnSync(join(srcDir, '..', 'build.sh'), [], { env: { ...process.env, OUT: out } })
      expect(r.status, String(r.stderr)).toBe(0)
      expect(Buffer.compare(readFileSync(join(out, 'runtime.wasm')), Buffer.from(runtimeWasm()))).toBe(0)
    } finally {
      rmSync(out, { recursive: true, force: true })
    }
  })
})
