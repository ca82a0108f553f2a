// Prints the sha256 of runtime/src/* (sorted by name) so tests can tell a stale runtime.wasm.
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const dir = join(dirname(fileURLToPath(import.meta.url)), 'src')
const h = createHash('sha256')
for (const name of readdirSync(dir).sort()) {
  h.update(name + '\0')
  h.update(readFileSync(join(dir, name)))
}
process.stdout.write(h.digest('hex') + '\n')
