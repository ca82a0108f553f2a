/**
 * Printer round trip: printing a parsed module and parsing the output gives the same tree
 * (locations aside), over the project's policy and every module of OPA's corpus.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { parseModule, parseQuery, parseTerm } from '../../src/rego/parser.js'
import { printBody, printModule, printTerm } from '../../src/rego/printer.js'
import { strip } from './strip.js'

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const corpus = join(repo, '..', 'shared', 'conformance', 'opa')

function roundTrip(text: string): void {
  const first = parseModule(text, 'a.rego')
  const printed = printModule(first)
  let second
  try {
    second = parseModule(printed, 'a.rego')
  } catch (e) {
    throw new Error(`printed module does not parse:\n${printed}\n${(e as Error).message}`)
  }
  expect(strip(second), printed).toEqual(strip(first))
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? yamlFiles(join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [join(dir, e.name)] : [],
  )
}

describe('Printer', () => {
  it('round-trips the trades policy', () => {
    roundTrip(readFileSync(join(repo, 'policies', 'trades', 'trades.rego'), 'utf8'))
  })

  it('round-trips constructs with precedence, comprehensions and else chains', () => {
    roundTrip(`package a.b["c-d"]

import rego.v1
import data.x.y as z

p := (1 + 2) * 3 - 4 / (5 - 6)
q := {1, 2} | ({3} & {4})
r := [x | some x in [1, 2]; x > 1]
s := {k: v | some k, v in {"a": 1}}
t := {x | x := {1} | {2}}
u if (1, 2 in [2]) in [true]
f(x) := y if {
	y := x
} else := 2 if {
	x > 1
} else := 3
a.b[x] := y if {
	some x, y
	y := [1][x]
	every k, v in [1] { k < v; v > 0 }
	not input.x with input as {"x": false} with data.x as 1
	count([1]) == 1
	-1 < 0
	"\\u00e9\\ud83d\\ude00" != \`raw\`
}
c contains "x" if true
default d := {}
e[x] if x := 1
g := set()
h := [x | x := input[_]; every y in x { y > 1; y < 10 }]
i := {x: y | some x; y := [z | z := x with input as 1]}
j := [{"a": [1, 2][0]}.a, f(1)[0].b, (1 + 2) * -3]
`)
  })

  it('round-trips every module of the OPA corpus', () => {
    let count = 0
    for (const file of yamlFiles(corpus)) {
      const doc = parseYaml(readFileSync(file, 'utf8')) as { cases?: { note: string; modules?: string[] }[] }
      for (const c of doc.cases ?? []) {
        for (const m of c.modules ?? []) {
          try {
            parseModule(m, 'a.rego')
          } catch {
            continue
          }
          try {
            roundTrip(m)
          } catch (e) {
            throw new Error(`${relative(corpus, file)}#${c.note}: ${(e as Error).message.slice(0, 3000)}`)
          }
          count++
        }
      }
    }
    expect(count).toBeGreaterThan(800)
  })

  it('prints terms and bodies', () => {
    expect(printTerm(parseTerm('{"a": [1, set(), {2}]}'))).toBe('{"a": [1, set(), {2}]}')
    expect(printBody(parseQuery('x := 1; not y with input as 2'))).toBe('x := 1\nnot y with input as 2')
    expect(printTerm(parseTerm('a.b["c d"][0].e'))).toBe('a.b["c d"][0].e')
  })
})
