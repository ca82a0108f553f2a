/**
 * Parses every module, query and input term of OPA's conformance corpus and the project's
 * policies. Cases that want `rego_parse_error` must fail to parse; all others must parse.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { parseModule, parseQuery, parseTerm } from '../../src/rego/parser.js'

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const corpus = join(repo, '..', 'shared', 'conformance', 'opa')

interface Case {
  note: string
  modules?: string[]
  query?: string
  input_term?: string
  want_error_code?: string
}

/** Cases that do not behave as their file says, each with the reason. Keys are `file#note`. */
const EXCEPTIONS: ReadonlyMap<string, string> = new Map<string, string>([])

function yamlFiles(dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...yamlFiles(path))
    else if (/\.ya?ml$/.test(entry.name)) out.push(path)
  }
  return out.sort()
}

function parses(c: Case): string | undefined {
  try {
    c.modules?.forEach((m, i) => parseModule(m, `module${i}.rego`))
    if (c.query !== undefined) parseQuery(c.query)
    if (c.input_term !== undefined) parseTerm(c.input_term)
    return undefined
  } catch (e) {
    return (e as Error).message
  }
}

describe('Corpus', () => {
  it('parses every conformance and project case that should parse and rejects the others', () => {
    expect(existsSync(corpus)).toBe(true)
    let passed = 0
    const failures: string[] = []
    const files = [...yamlFiles(corpus), ...yamlFiles(join(repo, 'test', 'cases'))]
    for (const file of files) {
      const doc = parseYaml(readFileSync(file, 'utf8')) as { cases?: Case[] }
      for (const c of doc.cases ?? []) {
        const key = `${relative(file.startsWith(corpus) ? corpus : repo, file)}#${c.note}`
        if (EXCEPTIONS.has(key)) continue
        const error = parses(c)
        const wantsParseError = c.want_error_code === 'rego_parse_error'
        if ((error === undefined) !== wantsParseError) passed++
        else failures.push(`${key}: ${error ?? 'parsed but wants rego_parse_error'}`)
      }
    }
    console.log(`rego corpus: ${passed} cases ok, ${failures.length} failing`)
    expect(failures.slice(0, 20).join('\n\n')).toBe('')
  })

  it('parses the trades policy', () => {
    const text = readFileSync(join(repo, 'policies', 'trades', 'trades.rego'), 'utf8')
    const mod = parseModule(text, 'trades.rego')
    expect(mod.package.path.value.map((t) => t.type === 'var' || t.type === 'string' ? t.value : '')).toEqual(['data', 'trades'])
    expect(mod.rules.length).toBeGreaterThan(10)
  })
})
