/**
 * Test helper: the trades policy as bundle archives that differ only in their manifest revision,
 * compiled once per test file (each revision is the same policy, re-packed with a new
 * `.manifest`), plus collectors for the sidecar's JSON log lines.
 *
 * @module
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildBundle } from '../../src/cli/index.js'
import { readBundleArchive, SIGNATURES_FILE, signBundleFiles, writeBundleArchive } from '../../src/bundle/index.js'
import type { BundleFile, SignBundleOptions } from '../../src/bundle/index.js'
import { createLogger } from '../../src/server/index.js'
import type { Logger } from '../../src/server/index.js'

const root = join(import.meta.dirname, '..', '..')
let compiled: Promise<Map<string, Uint8Array>> | undefined

async function compileTrades(): Promise<Map<string, Uint8Array>> {
  const dir = await mkdtemp(join(tmpdir(), 'verdict-bundles-'))
  try {
    const output = join(dir, 'trades.tar.gz')
    await buildBundle({ source: join(root, 'policies/trades'), output, entrypoints: [], revision: 'base' })
    return readBundleArchive(new Uint8Array(await readFile(output))).files
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/**
 * The trades bundle as `.tar.gz` bytes with manifest revision `revision`. `extra` files are
 * added as they are (e.g. padding for size limits: names the loader ignores). With `signing`, every
 * file is signed into `.signatures.json`.
 */
export async function tradesBundle(revision: string, extra: BundleFile[] = [], signing?: SignBundleOptions): Promise<Uint8Array> {
  compiled ??= compileTrades()
  const files = await compiled
  const out: BundleFile[] = []
  for (const [name, data] of files) {
    if (name !== '.manifest') out.push({ name, data })
    else {
      const manifest = JSON.parse(new TextDecoder().decode(data)) as Record<string, unknown>
      out.push({ name, data: JSON.stringify({ ...manifest, revision }) })
    }
  }
  const all = [...out, ...extra]
  if (signing !== undefined) all.push({ name: SIGNATURES_FILE, data: await signBundleFiles(all, signing) })
  return writeBundleArchive(all)
}

/** One parsed JSON log line. */
export type LogLine = Record<string, unknown> & { msg: string; level: string }

/** A logger that keeps every line it writes, parsed, for assertions. */
export function collectingLogger(level: 'debug' | 'info' = 'debug'): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = []
  const logger = createLogger({
    level,
    stream: { write: (l: string) => (lines.push(JSON.parse(l) as LogLine), true) } as never,
  })
  return { logger, lines }
}
