/**
 * `verdict publish`: puts a bundle into a NATS JetStream object store, where every sidecar
 * started with `--bundle nats://host:port/<bucket>/<object>` watches for it. The bundle is loaded
 * first, the way `verdict serve` loads it (signature verified with the sidecars' key), so a bundle
 * that would be rejected never goes out.
 *
 * @module
 */

import { readFile, stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { jetstream } from '@nats-io/jetstream'
import { Objm, StorageType } from '@nats-io/obj'
import { connect } from '@nats-io/transport-node'
import { DEFAULT_MAX_BUNDLE_BYTES, natsAuthOptions } from '../bundle/index.js'
import type { VerifyBundleOptions } from '../bundle/index.js'
import { loadPolicy } from './serve.js'

/** Default per-request timeout of `verdict publish`. */
export const DEFAULT_PUBLISH_TIMEOUT_MS = 10_000

/** What to publish, and where. */
export interface PublishOptions {
  /** The bundle archive. Example: `trades.tar.gz`. */
  bundle: string
  /** NATS server URL(s). Example: `nats://127.0.0.1:4222`. */
  servers: string[]
  /** Object store bucket, created when missing. Example: `verdict-bundles`. */
  bucket: string
  /** Object name; default the bundle's file name. Example: `trades.tar.gz`. */
  name?: string
  /** Entrypoint the sidecars evaluate, checked to load; default the manifest's first. */
  entrypoint?: string
  /**
   * The sidecars' verification key: the signature is checked before anything is published.
   * Required unless `skipVerification` says the sidecars serve unverified bundles.
   */
  verification?: VerifyBundleOptions
  /** Publish without checking the signature (for sidecars run with `--insecure-skip-bundle-verification`). */
  skipVerification?: boolean
  /** Replicas of a bucket this creates. Default 1. */
  replicas?: number
  /** Per-request timeout in ms. Default {@link DEFAULT_PUBLISH_TIMEOUT_MS}. */
  timeoutMs?: number
  /** NATS auth token. */
  token?: string
  /** File holding the NATS auth token. */
  tokenFile?: string
  /** NATS `.creds` file. */
  credsFile?: string
}

/** What was published. */
export interface PublishResult {
  bucket: string
  name: string
  /** The bundle's manifest revision. */
  revision: string
  /** The object store's digest of the object, `SHA-256=<base64url>`: the sidecars' ETag. */
  digest: string
  /** Bytes stored. */
  size: number
  /** The object store's revision (stream sequence) of this version of the object. */
  objectRevision: number
  /** The `--bundle` URL a sidecar serves it with. */
  url: string
}

/**
 * Checks that a bundle loads, then puts it into a NATS object store (creating the bucket).
 *
 * @example
 * const result = await publishBundle({ bundle: 'trades.tar.gz', servers: ['nats://127.0.0.1:4222'], bucket: 'verdict-bundles' })
 * result.digest // 'SHA-256=…'
 */
export async function publishBundle(options: PublishOptions): Promise<PublishResult> {
  if (!/^[A-Za-z0-9_-]+$/.test(options.bucket)) {
    throw new TypeError(`bucket ${options.bucket} must be letters, digits, - and _`)
  }
  if ((await stat(options.bundle)).isDirectory()) {
    throw new TypeError(`${options.bundle} is a directory; publish a .tar.gz (verdict build -o bundle.tar.gz)`)
  }
  if (options.verification === undefined && options.skipVerification !== true) {
    throw new TypeError(
      'give the sidecars\' bundle verification key (--verification-key), so that a bundle they would reject is not published, or --insecure-skip-bundle-verification',
    )
  }
  const bytes = new Uint8Array(await readFile(options.bundle))
  const name = options.name ?? basename(options.bundle)
  if (name === '') throw new TypeError('the object name must not be empty')
  // The sidecar's own load: archive, manifest, data, wasm instantiation, entrypoint.
  const { revision } = await loadPolicy(
    {
      bundle: options.bundle,
      bundleMaxBytes: DEFAULT_MAX_BUNDLE_BYTES,
      ...(options.entrypoint === undefined ? {} : { entrypoint: options.entrypoint }),
      ...(options.verification === undefined ? {} : { bundleVerification: options.verification }),
    },
    { kind: 'archive', bytes },
  )
  const timeout = options.timeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS
  const nc = await connect({
    servers: options.servers,
    name: 'verdict-publish',
    timeout,
    maxReconnectAttempts: 0,
    noAsyncTraces: true,
    ...(await natsAuthOptions(options)),
  })
  try {
    const store = await new Objm(jetstream(nc, { timeout })).create(options.bucket, {
      storage: StorageType.File,
      replicas: options.replicas ?? 1,
      description: 'Verdict policy bundles',
    })
    const info = await store.putBlob(
      { name, description: `verdict bundle, revision ${revision}`, metadata: { revision } },
      bytes,
      { timeout },
    )
    const server = new URL(options.servers[0]!.includes('://') ? options.servers[0]! : `nats://${options.servers[0]}`)
    const object = name.split('/').map(encodeURIComponent).join('/')
    return {
      bucket: options.bucket,
      name,
      revision,
      digest: info.digest,
      size: info.size,
      objectRevision: info.revision,
      url: `nats://${server.host}/${options.bucket}/${object}`,
    }
  } finally {
    await nc.close()
  }
}
