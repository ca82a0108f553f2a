import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  BundleErrorCode,
  loadBundle,
  readBundleArchive,
  writeBundle,
  writeBundleArchive,
} from '../../src/bundle/index.js'
import { writeTar } from '../../src/bundle/tar.js'

const manifest = JSON.stringify({
  revision: 'r1',
  roots: ['trades', 'roles'],
  wasm: [{ entrypoint: 'trades/decision', module: '/policy.wasm' }],
})
const wasm = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-bundle-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('loadBundle', () => {
  it('round-trips a written archive', async () => {
    const path = join(dir, 'b.tar.gz')
    await writeBundle(path, [
      { name: '.manifest', data: manifest },
      { name: '/policy.wasm', data: wasm },
      { name: 'data.json', data: '{"roles":{"trader":["create"]}}' },
    ])
    const bundle = await loadBundle(path)
    expect(bundle.manifest.revision).toBe('r1')
    expect(bundle.manifest.wasm).toEqual([{ entrypoint: 'trades/decision', module: '/policy.wasm' }])
    expect(bundle.data).toEqual({ roles: { trader: ['create'] } })
    expect(bundle.wasmModules.get('policy.wasm')).toEqual(wasm)
  })

  it('writes archives that GNU tar lists with OPA-style names', async () => {
    const path = join(dir, 'c.tar.gz')
    await writeBundle(path, [{ name: '.manifest', data: manifest }, { name: 'policy.wasm', data: wasm }])
    const listing = execFileSync('tar', ['-tzf', path], { encoding: 'utf8' })
    expect(listing.trim().split('\n')).toEqual(['/.manifest', '/policy.wasm'])
  })

  it('reads an archive written by GNU tar', async () => {
    const src = join(dir, 'src')
    await mkdir(join(src, 'roles'), { recursive: true })
    await writeFile(join(src, '.manifest'), manifest)
    await writeFile(join(src, 'policy.wasm'), wasm)
    await writeFile(join(src, 'roles', 'data.json'), '{"trader":["create"]}')
    const path = join(dir, 'gnu.tar.gz')
    execFileSync('tar', ['-czf', path, '-C', src, '.'])
    const bundle = await loadBundle(path)
    expect(bundle.data).toEqual({ roles: { trader: ['create'] } })
    const fromDir = await loadBundle(src)
    expect(fromDir.data).toEqual(bundle.data)
    expect(fromDir.manifest.revision).toBe('r1')
  })

  it('merges data.json files by directory', () => {
    const bytes = writeBundleArchive([
      { name: 'data.json', data: '{"a":1}' },
      { name: 'x/y/data.json', data: '{"b":2}' },
    ])
    expect(readBundleArchive(bytes).data).toEqual({ a: 1, x: { y: { b: 2 } } })
  })

  it('rejects path traversal', () => {
    const tar = writeTar([{ name: 'ok', data: new Uint8Array(1) }])
    // Rewrite the name field in place so the header names ../evil.
    const name = new TextEncoder().encode('../evil')
    tar.fill(0, 0, 100)
    tar.set(name, 0)
    let sum = 0
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : tar[i]!
    tar.set(new TextEncoder().encode(sum.toString(8).padStart(6, '0') + '\0 '), 148)
    expect(() => readBundleArchive(gzipSync(tar))).toThrow(
      expect.objectContaining({ code: BundleErrorCode.PathTraversal }),
    )
  })

  it('rejects an archive with two entries for one name', () => {
    const tar = writeTar([
      { name: '/data.json', data: new TextEncoder().encode('{"a":1}') },
      { name: 'data.json', data: new TextEncoder().encode('{"a":2}') },
    ])
    expect(() => readBundleArchive(gzipSync(tar))).toThrow(
      expect.objectContaining({ code: BundleErrorCode.Corrupt, message: 'bundle has two entries for data.json' }),
    )
  })

  it('rejects oversized entries and gzip bombs', () => {
    const bytes = writeBundleArchive([{ name: 'data.json', data: `{"a":"${'x'.repeat(5000)}"}` }])
    expect(() => readBundleArchive(bytes, { maxEntryBytes: 1000 })).toThrow(
      expect.objectContaining({ code: BundleErrorCode.TooLarge }),
    )
    expect(() => readBundleArchive(bytes, { maxBundleBytes: 2000 })).toThrow(
      expect.objectContaining({ code: BundleErrorCode.TooLarge }),
    )
  })

  it('rejects corrupt archives and bad manifests', async () => {
    expect(() => readBundleArchive(new Uint8Array([1, 2, 3]))).toThrow(
      expect.objectContaining({ code: BundleErrorCode.Corrupt }),
    )
    const overlapping = writeBundleArchive([{ name: '.manifest', data: '{"roots":["a","a/b"]}' }])
    expect(() => readBundleArchive(overlapping)).toThrow(
      expect.objectContaining({ code: BundleErrorCode.Manifest }),
    )
    const missing = writeBundleArchive([
      { name: '.manifest', data: '{"wasm":[{"entrypoint":"a/b","module":"/policy.wasm"}]}' },
    ])
    expect(() => readBundleArchive(missing)).toThrow(/not in the bundle/)
    await expect(loadBundle(join(dir, 'nope.tar.gz'))).rejects.toMatchObject({
      code: BundleErrorCode.Missing,
    })
    expect(await readFile(join(dir, 'b.tar.gz'))).toBeTruthy()
  })
})
