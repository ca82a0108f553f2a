/**
 * The NATS object store source against a real nats-server (JetStream, temp store dir), feeding a
 * real BundleUpdater whose activation reads the bundle. Bundles are put with `publishBundle`,
 * broken or oversized objects with the object store client directly.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstream } from '@nats-io/jetstream'
import { Objm } from '@nats-io/obj'
import { connect } from '@nats-io/transport-node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  BundleCache,
  BundleUpdater,
  defaultBundleSourceOptions,
  NatsBundleSource,
  readBundleInput,
  validateBundleSourceOptions,
} from '../../../src/bundle/index.js'
import type { NatsSourceOptions } from '../../../src/bundle/index.js'
import { publishBundle } from '../../../src/cli/index.js'
import { collectingLogger, tradesBundle } from '../../helpers/bundles.js'
import type { LogLine } from '../../helpers/bundles.js'
import { startNatsServer } from '../../helpers/nats-server.js'
import type { NatsServerHandle } from '../../helpers/nats-server.js'
import { waitFor } from '../../helpers/wait.js'

let dir: string
let nats: NatsServerHandle
const bundles = new Map<string, string>()
const updaters: BundleUpdater[] = []
let buckets = 0

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-nats-source-'))
  nats = await startNatsServer()
  for (const revision of ['r1', 'r2', 'r3']) {
    const path = join(dir, `${revision}.tar.gz`)
    await writeFile(path, await tradesBundle(revision))
    bundles.set(revision, path)
  }
})
afterEach(async () => {
  for (const u of updaters.splice(0)) await u.stop()
  // A test may leave the server killed.
  await nats.start()
})
afterAll(async () => {
  await nats?.stop()
  await rm(dir, { recursive: true, force: true })
})

/** A bucket name no other test uses. */
const freshBucket = () => `bundles-${++buckets}`

function publish(bucket: string, revision: string) {
  return publishBundle({ bundle: bundles.get(revision)!, servers: [nats.url], bucket, name: 'trades.tar.gz', skipVerification: true })
}

/** Puts raw bytes as the object, bypassing publish's checks. */
async function putRaw(bucket: string, bytes: Uint8Array): Promise<void> {
  const nc = await connect({ servers: nats.url })
  try {
    const store = await new Objm(jetstream(nc)).create(bucket)
    await store.putBlob({ name: 'trades.tar.gz' }, bytes)
  } finally {
    await nc.close()
  }
}

function follow(bucket: string, patch: Partial<NatsSourceOptions> = {}, cache?: BundleCache) {
  const { logger, lines } = collectingLogger()
  const activated: string[] = []
  const options = validateBundleSourceOptions({
    ...(defaultBundleSourceOptions(`${nats.url}/${bucket}/trades.tar.gz`) as NatsSourceOptions),
    backoffMinMs: 50,
    backoffMaxMs: 200,
    ...patch,
  })
  const updater = new BundleUpdater({
    source: new NatsBundleSource(options, logger),
    ...(cache === undefined ? {} : { cache }),
    logger,
    activate: async (input) => {
      const bundle = await readBundleInput(input, { maxBundleBytes: options.maxBytes })
      activated.push(bundle.manifest.revision)
      return { revision: bundle.manifest.revision }
    },
  })
  updaters.push(updater)
  const logged = (msg: string) => lines.filter((l) => l.msg === msg)
  return { updater, lines, activated, logged }
}

const errorOf = (line: LogLine | undefined) => line?.error as { code?: string; message?: string } | undefined

describe('NatsBundleSource', () => {
  it('reads the object at start, then swaps on every put it watches', async () => {
    const bucket = freshBucket()
    const first = await publish(bucket, 'r1')
    const { updater, activated, lines } = follow(bucket)
    expect(await updater.start()).toBe(true)
    expect(updater.active()).toMatchObject({ revision: 'r1', etag: first.digest })
    expect(lines.find((l) => l.msg === 'bundle loaded')).toMatchObject({
      source: 'nats',
      bundle: `${nats.url}/${bucket}/trades.tar.gz`,
      etag: first.digest,
      revision: 'r1',
    })

    const second = await publish(bucket, 'r2')
    await waitFor('the watch to bring r2', () => updater.active()?.revision === 'r2')
    expect(updater.active()?.etag).toBe(second.digest)
    expect(activated).toEqual(['r1', 'r2'])
  })

  it('does not download a put of the bytes it already serves', async () => {
    const bucket = freshBucket()
    await publish(bucket, 'r1')
    const { updater, activated, logged } = follow(bucket)
    await updater.start()
    await publish(bucket, 'r1')
    await waitFor('the watch to see the put', () => logged('bundle unchanged').some((l) => l.reason === 'watch'))
    expect(activated).toEqual(['r1'])
  })

  it('waits for a missing bucket and a missing object, then picks the bundle up', async () => {
    const bucket = freshBucket()
    const { updater, logged } = follow(bucket)
    expect(await updater.start()).toBe(false)
    expect(errorOf(logged('bundle source failed')[0])?.message).toMatch(/object store not found/)

    // The bucket appears without the object: connected, watching, nothing to serve yet.
    const nc = await connect({ servers: nats.url })
    await new Objm(jetstream(nc)).create(bucket)
    await nc.close()
    await waitFor('the source to connect', () => logged('bundle source connected').length > 0)
    await waitFor('the missing object to be noticed', () => logged('bundle object not found; the active bundle keeps serving')[0])
    expect(updater.active()).toBeUndefined()

    await publish(bucket, 'r1')
    await waitFor('the watch to bring r1', () => updater.active()?.revision === 'r1')
  })

  it('rejects a broken bundle and an oversized object, keeping the last good one', async () => {
    const bucket = freshBucket()
    await publish(bucket, 'r1')
    const { updater, logged, activated } = follow(bucket, { maxBytes: 256 * 1024 })
    await updater.start()

    await putRaw(bucket, new TextEncoder().encode('not a bundle'))
    await waitFor('the broken bundle to be rejected', () => logged('bundle rejected')[0])
    expect(logged('bundle rejected')[0]).toMatchObject({ serving: 'r1', error: { code: 'ERR_BUNDLE_CORRUPT' } })

    // Over the limit by its recorded size: refused before a single chunk is read, and not retried.
    await putRaw(bucket, new Uint8Array(300 * 1024))
    await waitFor('the oversized object to be refused', () => logged('bundle fetch failed')[0])
    const refused = logged('bundle fetch failed')[0]!
    expect(errorOf(refused)).toMatchObject({ code: 'ERR_BUNDLE_TOO_LARGE', message: `the bundle is ${300 * 1024} bytes; the limit is ${256 * 1024}` })
    expect(refused.retry_in_ms).toBeUndefined()
    expect(updater.active()?.revision).toBe('r1')
    expect(activated).toEqual(['r1'])
  })

  it('keeps the last good bundle while the server is down and follows puts once it is back', async () => {
    const bucket = freshBucket()
    await publish(bucket, 'r1')
    const { updater, logged } = follow(bucket)
    await updater.start()

    await nats.kill()
    await waitFor('the disconnect', () => logged('bundle source disconnected; the active bundle keeps serving')[0])
    expect(await updater.refresh()).toBe(false)
    expect(updater.active()?.revision).toBe('r1')

    await nats.start()
    await waitFor('the reconnect', () => logged('bundle source reconnected')[0])
    await publish(bucket, 'r2')
    await waitFor('r2 after the reconnect', () => updater.active()?.revision === 'r2')
  })

  it('serves the cached last good bundle at start while the server is down, and keeps trying', async () => {
    const bucket = freshBucket()
    const cache = new BundleCache(join(dir, `cache-${bucket}`))
    const published = await publish(bucket, 'r1')
    const first = follow(bucket, {}, cache)
    await first.updater.start()
    await first.updater.stop()

    await nats.kill()
    const second = follow(bucket, {}, cache)
    expect(await second.updater.start()).toBe(true)
    expect(second.updater.active()).toMatchObject({ revision: 'r1', etag: published.digest })
    expect(second.logged('serving the cached last good bundle; the source is unavailable and is retried')[0]).toMatchObject({ revision: 'r1' })

    await nats.start()
    await waitFor('the source to confirm the cached bundle', () => second.logged('bundle source reachable; it serves the cached bundle too')[0])
    await publish(bucket, 'r3')
    await waitFor('r3 from the source', () => second.updater.active()?.revision === 'r3')
    expect(second.activated).toEqual(['r1', 'r3'])
  })
})
