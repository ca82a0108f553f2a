/**
 * The factory that turns source options into a source.
 *
 * @module
 */

import { FileBundleSource } from './file-source.js'
import { HttpBundleSource } from './http-source.js'
import { NatsBundleSource } from './nats-source.js'
import type { BundleSourceOptions } from './options.js'
import { validateBundleSourceOptions } from './options.js'
import { BundleSourceKind } from './types.js'
import type { BundleLogger, BundleSource } from './types.js'

/**
 * Creates the source `options` describe (validated first). Nothing is fetched until `start`.
 *
 * @example
 * const source = createBundleSource(defaultBundleSourceOptions('https://bundles.example.com/trades.tar.gz'), logger)
 */
export function createBundleSource(options: BundleSourceOptions, logger: BundleLogger): BundleSource {
  const o = validateBundleSourceOptions(options)
  switch (o.kind) {
    case BundleSourceKind.file:
      return new FileBundleSource(o)
    case BundleSourceKind.http:
      return new HttpBundleSource(o, logger)
    case BundleSourceKind.nats:
      return new NatsBundleSource(o, logger)
  }
}
