/**
 * The HTTP source against a real node:http server, feeding a real BundleUpdater whose activation
 * reads the bundle (manifest, data, wasm present) the way the sidecar's does, minus the engine.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  BundleCache,
  BundleUpdater,
  defaultBundleSourceOptions,
  HttpBundleSource,
  readBundleInput,
  validateBundleSourceOptions,
} from '../../../src/bundle/index.js'
import type { BundleInput, HttpSourceOptions } from '../../../src/bundle/index.js'
import { startBundleServer } from '../../helpers/bundle-server.js'
import type { BundleServer } from '../../helpers/bundle-server.js'
import { collectingLogger, tradesBundle } from '../../helpers/bundles.js'
import type { LogLine } from '../../helpers/bundles.js'
import { waitFor } from '../../helpers/wait.js'

let dir: string
let server: BundleServer
let r1: Uint8Array
let r2: Uint8Array
let updater: BundleUpdater | undefined

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-http-source-'))
  r1 = await tradesBundle('r1')
  r2 = await tradesBundle('r2')
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})
beforeEach(async () => {
  server = await startBundleServer()
})
afterEach(async () => {
  await updater?.stop()
  updater = undefined
  await server.close()
})

/** An updater on an HTTP source at `server`, recording the revisions it activates. */
function follow(patch: Partial<HttpSourceOptions> = {}, cache?: BundleCache, url = server.url()) {
  const { logger, lines } = collectingLogger()
  const activated: string[] = []
  const options = validateBundleSourceOptions({ ...(defaultBundleSourceOptions(url) as HttpSourceOptions), ...patch })
  updater = new BundleUpdater({
    source: new HttpBundleSource(options, logger),
    ...(cache === undefined ? {} : { cache }),
    logger,
    activate: async (input: BundleInput) => {
      const bundle = await readBundleInput(input, { maxBundleBytes: options.maxBytes })
      activated.push(bundle.manifest.revision)
      return { revision: bundle.manifest.revision }
    },
  })
  const failures = () => lines.filter((l) => l.msg === 'bundle fetch failed')
  return { updater, lines, activated, failures }
}

const errorOf = (line: LogLine | undefined) => line?.error as { code?: string; message?: string } | undefined

describe('HttpBundleSource', () => {
  it('sends the ETag of the active bundle and keeps it on 304', async () => {
    server.serve(r1, '"r1"')
    const { updater, activated, lines } = follow()
    expect(await updater.start()).toBe(true)
    expect(updater.active()).toMatchObject({ revision: 'r1', etag: '"r1"' })
    expect(await updater.refresh()).toBe(false)
    expect(await updater.refresh()).toBe(false)
    expect(server.requests.map((r) => r.ifNoneMatch)).toEqual([undefined, '"r1"', '"r1"'])
    expect(activated).toEqual(['r1'])
    expect(lines.filter((l) => l.msg === 'bundle unchanged')).toHaveLength(2)
    expect(lines.find((l) => l.msg === 'bundle loaded')).toMatchObject({ source: 'http', bundle: server.url(), etag: '"r1"', revision: 'r1' })
  })

  it('swaps to a changed bundle, found by polling', async () => {
    server.serve(r1, '"r1"')
    const { updater, activated } = follow({ pollIntervalMs: 1000 })
    await updater.start()
    server.serve(r2, '"r2"')
    await waitFor('the poll to bring r2', () => updater.active()?.revision === 'r2', 5000)
    expect(activated).toEqual(['r1', 'r2'])
    expect(updater.active()?.etag).toBe('"r2"')
  })

  it('adopts a new ETag a 304 carries, and skips identical bytes from a server without ETags', async () => {
    server.serve(r1, '"r1"')
    const { updater, activated } = follow()
    await updater.start()
    server.handler = (_req, res) => void res.writeHead(304, { etag: '"r1-renamed"' }).end()
    await updater.refresh()
    expect(updater.active()?.etag).toBe('"r1-renamed"')
    server.serve(r1, undefined)
    expect(await updater.refresh()).toBe(false)
    expect(activated).toEqual(['r1'])
  })

  it('backs off exponentially on server errors while the last good bundle keeps serving', async () => {
    server.serve(r1, '"r1"')
    const { updater, activated, failures, lines } = follow({ backoffMinMs: 40, backoffMaxMs: 200 })
    await updater.start()
    server.handler = (_req, res) => void res.writeHead(500).end('boom')
    await updater.refresh()
    await waitFor('five failures in a row', () => failures().length >= 5, 10_000)
    const delays = failures().slice(0, 5).map((l) => [l.failures, l.retry_in_ms] as [number, number])
    delays.forEach(([n, delay], i) => {
      expect(n).toBe(i + 1)
      const ceiling = Math.min(200, 40 * 2 ** i)
      expect(delay).toBeGreaterThanOrEqual(ceiling / 2)
      expect(delay).toBeLessThanOrEqual(ceiling)
    })
    expect(errorOf(failures()[0])).toMatchObject({ code: 'ERR_BUNDLE_FETCH', message: 'the server replied HTTP 500' })
    expect(updater.active()?.revision).toBe('r1')

    // Back to normal: the next poll sends the active ETag again and the failure count resets.
    server.serve(r1, '"r1"')
    await waitFor('the source to recover', () => lines.some((l) => l.msg === 'bundle source reachable again'), 5000)
    expect(server.requests.at(-1)?.ifNoneMatch).toBe('"r1"')
    expect(activated).toEqual(['r1'])
  })

  it('gives up on a server that does not answer, or stalls mid-body, within the timeout', async () => {
    server.serve(r1, '"r1"')
    const { updater, failures } = follow({ timeoutMs: 300 })
    await updater.start()
    server.handler = () => {} // never answers
    const started = Date.now()
    expect(await updater.refresh()).toBe(false)
    expect(Date.now() - started).toBeLessThan(3000)
    expect(errorOf(failures()[0])).toMatchObject({ code: 'ERR_BUNDLE_FETCH', message: 'no complete answer within 300 ms' })

    server.handler = (_req, res) => {
      res.writeHead(200, { 'content-length': String(r2.byteLength), etag: '"r2"' })
      res.write(r2.subarray(0, 100)) // then nothing more
    }
    expect(await updater.refresh()).toBe(false)
    expect(errorOf(failures()[1])).toMatchObject({ message: 'no complete answer within 300 ms' })
    expect(updater.active()?.revision).toBe('r1')
  })

  it('rejects a download over the size limit, announced or streamed', async () => {
    server.serve(r1, '"r1"')
    // Also the uncompressed limit when loading: r1 is about 30 KiB, 120 KiB unpacked.
    const limit = 256 * 1024
    const { updater, failures, activated } = follow({ maxBytes: limit })
    await updater.start()
    const big = new Uint8Array(limit * 4).fill(7)
    server.serve(big, '"big"')
    expect(await updater.refresh()).toBe(false)
    expect(errorOf(failures()[0])).toMatchObject({ code: 'ERR_BUNDLE_TOO_LARGE', message: `the bundle is ${big.byteLength} bytes; the limit is ${limit}` })

    // Chunked, no Content-Length, 64 MiB on offer: cut off once past the limit, not read to the
    // end (what the server wrote is at most the limit plus the socket buffers).
    const offered = 64 << 20
    let written = 0
    server.handler = (_req, res) => {
      res.writeHead(200, { etag: '"endless"' })
      let closed = false
      res.on('close', () => (closed = true))
      const more = (): void => {
        while (!closed && written < offered) {
          written += 65536
          if (!res.write(new Uint8Array(65536))) return void res.once('drain', more)
        }
        res.end()
      }
      more()
    }
    expect(await updater.refresh()).toBe(false)
    expect(errorOf(failures()[1])).toMatchObject({ code: 'ERR_BUNDLE_TOO_LARGE', message: `the download exceeds the limit of ${limit} bytes` })
    expect(written).toBeLessThan(offered / 4)
    expect(activated).toEqual(['r1'])
  })

  it('rejects a bundle that does not load, keeps the last good, and asks with its ETag again', async () => {
    server.serve(r1, '"r1"')
    const { updater, lines, activated } = follow()
    await updater.start()
    server.serve(new TextEncoder().encode('not a bundle'), '"broken"')
    expect(await updater.refresh()).toBe(false)
    expect(lines.find((l) => l.msg === 'bundle rejected')).toMatchObject({ etag: '"broken"', serving: 'r1', error: { code: 'ERR_BUNDLE_CORRUPT' } })
    await updater.refresh()
    expect(server.requests.at(-1)?.ifNoneMatch).toBe('"r1"')
    expect(activated).toEqual(['r1'])
  })

  it('says why for 404 and 401, and activates nothing from an empty 200', async () => {
    const { updater, failures, lines } = follow()
    server.handler = (_req, res) => void res.writeHead(404).end()
    expect(await updater.start()).toBe(false)
    expect(errorOf(failures()[0])?.message).toBe('the server replied not found (HTTP 404)')
    server.handler = (_req, res) => void res.writeHead(401).end()
    await updater.refresh()
    expect(errorOf(failures()[1])?.message).toBe('the server replied not authorized (HTTP 401)')
    server.handler = (_req, res) => void res.writeHead(200, { etag: '"empty"' }).end()
    expect(await updater.refresh()).toBe(false)
    expect(lines.some((l) => l.msg === 'bundle server sent an empty body; nothing to activate')).toBe(true)
    expect(updater.active()).toBeUndefined()
  })

  it('sends the bearer token from its file, read again for each request, only to its own origin', async () => {
    const other = await startBundleServer()
    try {
      other.serve(r1, '"r1"')
      const tokenFile = join(dir, 'token')
      await writeFile(tokenFile, 'first-token\n')
      server.handler = (req, res) => {
        if (req.url === '/hop') return void res.writeHead(302, { location: '/bundle.tar.gz' }).end()
        res.writeHead(307, { location: other.url('/b.tar.gz') }).end()
      }
      const { updater } = follow({ tokenFile }, undefined, server.url('/hop'))
      expect(await updater.start()).toBe(true)
      await writeFile(tokenFile, 'second-token')
      await updater.refresh()
      expect(server.requests.map((r) => [r.path, r.authorization])).toEqual([
        ['/hop', 'Bearer first-token'],
        ['/bundle.tar.gz', 'Bearer first-token'],
        ['/hop', 'Bearer second-token'],
        ['/bundle.tar.gz', 'Bearer second-token'],
      ])
      // Another origin gets the request, never the token.
      expect(other.requests.map((r) => r.authorization)).toEqual([undefined, undefined])
      expect(other.requests.map((r) => r.ifNoneMatch)).toEqual([undefined, '"r1"'])
    } finally {
      await other.close()
    }
  })

  it('stops following redirects after the limit, and never leaves http(s)', async () => {
    let hops = 0
    server.handler = (_req, res) => void res.writeHead(302, { location: `/loop/${++hops}` }).end()
    const { updater, failures } = follow({ maxRedirects: 3 })
    expect(await updater.start()).toBe(false)
    expect(errorOf(failures()[0])?.message).toBe('more than 3 redirects')
    expect(hops).toBe(4)
    server.handler = (_req, res) => void res.writeHead(301, { location: 'file:///etc/passwd' }).end()
    await updater.refresh()
    expect(errorOf(failures()[1])?.message).toBe('redirect to file: refused')
  })

  it('caches each activated bundle and serves the cache at start while the server is down', async () => {
    const cache = new BundleCache(join(dir, 'cache'))
    server.serve(r1, '"r1"')
    const first = follow({}, cache)
    await first.updater.start()
    expect(new Uint8Array(await readFile(cache.bundlePath))).toEqual(r1)
    expect(JSON.parse(await readFile(join(dir, 'cache', 'bundle.json'), 'utf8'))).toMatchObject({
      source: server.url(),
      etag: '"r1"',
      revision: 'r1',
    })
    await first.updater.stop()

    await server.close()
    const second = follow({ backoffMinMs: 50, backoffMaxMs: 100 }, cache)
    expect(await second.updater.start()).toBe(true)
    expect(second.updater.active()).toMatchObject({ revision: 'r1', etag: '"r1"' })
    expect(second.lines.find((l) => l.msg === 'serving the cached last good bundle; the source is unavailable and is retried')).toMatchObject({
      revision: 'r1',
      etag: '"r1"',
      cache: cache.bundlePath,
    })
    expect(errorOf(second.failures()[0])).toMatchObject({ code: 'ERR_BUNDLE_FETCH' })

    // It keeps trying: once the server is back with the same bundle, a 304 confirms the cache.
    await server.listen()
    await waitFor('the source to confirm the cached bundle', () =>
      second.lines.some((l) => l.msg === 'bundle source reachable; it serves the cached bundle too'),
    )
    expect(server.requests.at(-1)?.ifNoneMatch).toBe('"r1"')
    expect(second.activated).toEqual(['r1'])
  })

  it('does not serve a cached bundle that came from another source', async () => {
    const cache = new BundleCache(join(dir, 'foreign'))
    await cache.write(r1, { source: 'https://elsewhere.example/b.tar.gz', etag: '"x"', revision: 'r1' })
    await server.close()
    const { updater, lines, activated } = follow({}, cache)
    expect(await updater.start()).toBe(false)
    expect(lines.find((l) => l.msg === 'the cached bundle came from another source; not serving it')).toMatchObject({
      cached_source: 'https://elsewhere.example/b.tar.gz',
    })
    expect(activated).toEqual([])
  })
})
