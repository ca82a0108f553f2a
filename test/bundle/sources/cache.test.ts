import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BundleCache, sha256Hex } from '../../../src/bundle/index.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-cache-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('BundleCache', () => {
  it('reads nothing before the first write, creating nothing', async () => {
    const cache = new BundleCache(join(dir, 'not-yet'))
    expect(await cache.read()).toBeUndefined()
    expect(await readdir(dir)).toEqual([])
  })

  it('writes the bundle and its metadata, replaces them whole, and leaves no temporary files', async () => {
    const cache = new BundleCache(join(dir, 'c'))
    const first = new Uint8Array([1, 2, 3])
    const meta = await cache.write(first, { source: 'https://h/b.tar.gz', etag: '"e1"', revision: 'r1' })
    expect(meta).toMatchObject({ source: 'https://h/b.tar.gz', etag: '"e1"', revision: 'r1', digest: sha256Hex(first) })
    expect(await cache.read()).toEqual({ bytes: first, meta, intact: true })

    const second = new Uint8Array([4, 5])
    await cache.write(second, { source: 'https://h/b.tar.gz', etag: undefined, revision: 'r2' })
    const read = await cache.read()
    expect(read).toMatchObject({ bytes: second, intact: true, meta: { revision: 'r2' } })
    expect(read?.meta?.etag).toBeUndefined()
    expect((await readdir(join(dir, 'c'))).sort()).toEqual(['bundle.json', 'bundle.tar.gz'])
  })

  it('marks a bundle whose digest does not match its metadata as not intact', async () => {
    const cache = new BundleCache(dir)
    await cache.write(new Uint8Array([1]), { source: 's', etag: '"e1"', revision: 'r1' })
    // As after a crash between the two renames: a newer archive beside older metadata.
    await writeFile(cache.bundlePath, new Uint8Array([9, 9]))
    expect(await cache.read()).toMatchObject({ bytes: new Uint8Array([9, 9]), intact: false, meta: { etag: '"e1"' } })
    await writeFile(join(dir, 'bundle.json'), '{ not json')
    expect(await cache.read()).toMatchObject({ intact: false, meta: undefined })
  })

  it('writes the files readable by the owner only', async () => {
    const cache = new BundleCache(join(dir, 'private'))
    await cache.write(new Uint8Array([1]), { source: 's', etag: undefined, revision: 'r' })
    expect((await stat(cache.bundlePath)).mode & 0o777).toBe(0o600)
    expect((await stat(join(dir, 'private'))).mode & 0o777).toBe(0o700)
    expect(JSON.parse(await readFile(join(dir, 'private', 'bundle.json'), 'utf8'))).toMatchObject({ source: 's', revision: 'r' })
  })
})
