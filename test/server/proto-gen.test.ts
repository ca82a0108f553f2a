/**
 * The protos pass `buf lint` (STANDARD) and the committed generated code is what `buf generate`
 * produces today.
 */
import { execFileSync } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = join(import.meta.dirname, '..', '..')
const buf = join(root, 'node_modules', '.bin', 'buf')

async function listFiles(dir: string, base = dir): Promise<string[]> {
  const out: string[] = []
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, d.name)
    if (d.isDirectory()) out.push(...(await listFiles(path, base)))
    else out.push(relative(base, path))
  }
  return out.sort()
}

describe('protos', () => {
  it('pass buf lint', () => {
    expect(() => execFileSync(buf, ['lint'], { cwd: root, stdio: 'pipe' })).not.toThrow()
  })

  it('regenerate to exactly the committed code', async () => {
    const out = await mkdtemp(join(tmpdir(), 'verdict-gen-'))
    try {
      const config = (await readFile(join(root, 'buf.gen.yaml'), 'utf8'))
        .replace('out: src/gen', `out: ${join(out, 'src/gen')}`)
        .replace('out: sdk/src/gen', `out: ${join(out, 'sdk/src/gen')}`)
      const template = join(out, 'buf.gen.yaml')
      await writeFile(template, config)
      execFileSync(buf, ['generate', '--template', template], { cwd: root, stdio: 'pipe' })
      for (const gen of ['src/gen', 'sdk/src/gen']) {
        const fresh = await listFiles(join(out, gen))
        expect(await listFiles(join(root, gen)), gen).toEqual(fresh)
        for (const file of fresh) {
          const committed = await readFile(join(root, gen, file), 'utf8')
          expect(committed, `${gen}/${file}`).toBe(await readFile(join(out, gen, file), 'utf8'))
        }
      }
    } finally {
      await rm(out, { recursive: true, force: true })
    }
  })
})
