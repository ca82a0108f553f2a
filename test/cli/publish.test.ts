/**
 * `verdict publish` through the real CLI (`bin/verdict.js`) against a real nats-server: what it
 * prints, what it stores, and what it refuses to publish.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { jetstream } from '@nats-io/jetstream'
import { Objm } from '@nats-io/obj'
import { connect } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSigningKey, readBundleArchive } from '../../src/bundle/index.js'
import { publishBundle } from '../../src/cli/index.js'
import { tradesBundle } from '../helpers/bundles.js'
import { startNatsServer } from '../helpers/nats-server.js'
import type { NatsServerHandle } from '../helpers/nats-server.js'
import { createTestSigningKeys, writeTestKeyFiles } from '../helpers/signing-keys.js'

const root = join(import.meta.dirname, '..', '..')
const bin = join(root, 'bin', 'verdict.js')
const run = (args: string[], env: Record<string, string> = {}) =>
  promisify(execFile)(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, ...env } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  )

let dir: string
let nats: NatsServerHandle
const keys = createTestSigningKeys('ES256')
let keyFiles: { key: string; pub: string; jwks: string }
const signing = () => ({ key: createSigningKey(new TextEncoder().encode(keys.privatePem)), keyId: keys.kid })
const SKIP = '--insecure-skip-bundle-verification'

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-publish-'))
  keyFiles = await writeTestKeyFiles(dir, keys)
  nats = await startNatsServer()
})
afterAll(async () => {
  await nats?.stop()
  await rm(dir, { recursive: true, force: true })
})

async function readObject(bucket: string, name: string) {
  const nc = await connect({ servers: nats.url })
  try {
    const store = await new Objm(jetstream(nc)).open(bucket)
    return { info: await store.info(name), bytes: await store.getBlob(name) }
  } finally {
    await nc.close()
  }
}

describe('verdict publish', () => {
  it('creates the bucket, stores the bundle and prints its revision, digest and serve URL', async () => {
    const path = join(dir, 'trades.tar.gz')
    const bytes = await tradesBundle('p1', [], signing())
    await writeFile(path, bytes)
    const result = await run(['publish', path, '--nats', nats.url, '--bucket', 'cli-bundles', '--verification-key', keyFiles.pub])
    expect(result).toMatchObject({ code: 0, stderr: '' })
    const printed = Object.fromEntries(result.stdout.trim().split('\n').map((l) => l.split(/ (.*)/s).slice(0, 2)))
    const { info, bytes: stored } = await readObject('cli-bundles', 'trades.tar.gz')
    expect(printed).toEqual({
      published: 'cli-bundles/trades.tar.gz',
      revision: 'p1',
      digest: info!.digest,
      size: String(bytes.byteLength),
      object_revision: String(info!.revision),
      url: `${nats.url}/cli-bundles/trades.tar.gz`,
    })
    expect(info!.digest).toMatch(/^SHA-256=/)
    expect(info!.metadata).toEqual({ revision: 'p1' })
    expect(new Uint8Array(stored!)).toEqual(bytes)
  })

  it('publishes under --name into an existing bucket, a new version each time', async () => {
    const path = join(dir, 'named.tar.gz')
    await writeFile(path, await tradesBundle('n1'))
    const a = await publishBundle({ bundle: path, servers: [nats.url], bucket: 'named', name: 'team/a.tar.gz', skipVerification: true })
    await writeFile(path, await tradesBundle('n2'))
    const b = await publishBundle({ bundle: path, servers: [nats.url], bucket: 'named', name: 'team/a.tar.gz', skipVerification: true })
    expect(b.objectRevision).toBeGreaterThan(a.objectRevision)
    expect(b.digest).not.toBe(a.digest)
    expect(b.url).toBe(`${nats.url}/named/team/a.tar.gz`)
    const { bytes } = await readObject('named', 'team/a.tar.gz')
    expect(readBundleArchive(bytes!).manifest.revision).toBe('n2')
  })

  it('refuses a bundle that would not load, and stores nothing', async () => {
    const corrupt = join(dir, 'corrupt.tar.gz')
    await writeFile(corrupt, 'not a bundle')
    const result = await run(['publish', corrupt, '--nats', nats.url, '--bucket', 'refused', SKIP])
    expect(result.code).toBe(1)
    expect(result.stderr).toBe('verdict publish: bundle is not a gzip archive\n')
    expect(result.stdout).toBe('')

    // Loads as an archive, but the entrypoint the sidecars would use is not in it.
    const path = join(dir, 'wrong-entrypoint.tar.gz')
    await writeFile(path, await tradesBundle('w1'))
    const wrong = await run(['publish', path, '--nats', nats.url, '--bucket', 'refused', '--entrypoint', 'trades/nope', SKIP])
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toMatch(/^verdict publish: .*trades\/nope/)

    // Unsigned, or signed with another key: the sidecars would reject it, so it is not published.
    const unsigned = await run(['publish', path, '--nats', nats.url, '--bucket', 'refused', '--verification-key', keyFiles.pub])
    expect(unsigned).toMatchObject({ code: 1, stderr: expect.stringMatching(/^verdict publish: .*\.signatures\.json/) })
    const other = createTestSigningKeys('ES256', 'test-other')
    const foreign = join(dir, 'foreign.tar.gz')
    await writeFile(foreign, await tradesBundle('f1', [], { key: createSigningKey(new TextEncoder().encode(other.privatePem)), keyId: other.kid }))
    const rejected = await run(['publish', foreign, '--nats', nats.url, '--bucket', 'refused', '--verification-key', keyFiles.pub])
    expect(rejected).toMatchObject({ code: 1, stderr: expect.stringMatching(/^verdict publish: bundle signature does not verify/) })
    // Neither a key nor the opt-out: nothing is checked, so nothing is published.
    const neither = await run(['publish', path, '--nats', nats.url, '--bucket', 'refused'])
    expect(neither).toMatchObject({ code: 1, stderr: expect.stringMatching(/--verification-key.*--insecure-skip-bundle-verification/) })

    const nc = await connect({ servers: nats.url })
    try {
      await expect(new Objm(jetstream(nc)).open('refused')).rejects.toThrow(/object store not found/)
    } finally {
      await nc.close()
    }
  })

  it('says what is missing', async () => {
    expect(await run(['publish', 'x.tar.gz', '--bucket', 'b'])).toMatchObject({ code: 1, stderr: 'verdict: publish needs --nats <url>\n' })
    expect(await run(['publish', 'x.tar.gz', '--nats', nats.url])).toMatchObject({ code: 1, stderr: 'verdict: publish needs --bucket <name>\n' })
    const help = await run(['publish', '--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/^Usage: verdict publish <bundle\.tar\.gz> --nats <url> --bucket <bucket>/)
  })
})
