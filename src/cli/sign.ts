/**
 * `verdict sign`: signs an existing bundle (built by `verdict build` or `opa build`), replacing any
 * signature it had. The bundle is read and validated like `serve` reads it, every file except the
 * old `.signatures.json` is signed, and the result is written atomically.
 *
 * @module
 */

import { randomUUID } from 'node:crypto'
import { rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { loadBundle, SIGNATURES_FILE, signBundleFiles, writeBundle } from '../bundle/index.js'
import type { BundleFile, SignBundleOptions } from '../bundle/index.js'

/** Options of `verdict sign`. */
export interface SignCommandOptions {
  /** The bundle: a `.tar.gz` file or a directory. Example: `trades.tar.gz`. */
  bundle: string
  /**
   * Where to write the signed bundle, as `.tar.gz`. Default: in place (the archive is replaced; a
   * directory gets `.signatures.json` at its root). Example: `trades-signed.tar.gz`.
   */
  output?: string
  /** The key and claims to sign with. */
  signing: SignBundleOptions
}

/** Writes `path` through a temporary file and a rename, so readers never see half of it. */
async function replaceFile(path: string, write: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${path}.${randomUUID()}.tmp`
  try {
    await write(tmp)
    await rename(tmp, path)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
}

/**
 * Signs the bundle at `options.bundle`. Resolves with where the signature went and the files it
 * covers.
 *
 * @example
 * await signBundle({ bundle: 'trades.tar.gz', signing: { key: await loadSigningKey('bundle.key.pem') } })
 */
export async function signBundle(options: SignCommandOptions): Promise<{ output: string; files: string[] }> {
  const bundle = await loadBundle(options.bundle)
  const files: BundleFile[] = [...bundle.files]
    .filter(([name]) => name !== SIGNATURES_FILE)
    .map(([name, data]) => ({ name, data }))
  const signatures = await signBundleFiles(files, options.signing)
  const names = files.map((f) => f.name)
  if (options.output === undefined && (await stat(options.bundle)).isDirectory()) {
    const output = join(options.bundle, SIGNATURES_FILE)
    await replaceFile(output, (tmp) => writeFile(tmp, signatures))
    return { output, files: names }
  }
  const output = options.output ?? options.bundle
  await replaceFile(output, (tmp) => writeBundle(tmp, [{ name: SIGNATURES_FILE, data: signatures }, ...files]))
  return { output, files: names }
}
