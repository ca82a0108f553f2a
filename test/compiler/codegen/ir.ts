// Test helper: terse constructors for hand-written IR policies.
import type { Block, Func, Operand, Plan, Policy, Stmt } from '../../../src/compiler/ir/types.js'

type NoLoc<S> = S extends Stmt ? Omit<S, 'file' | 'row' | 'col'> & Partial<Pick<S, 'file' | 'row' | 'col'>> : never

export const L = (value: number): Operand => ({ type: 'local', value })
export const S = (value: number): Operand => ({ type: 'string_index', value })
export const B = (value: boolean): Operand => ({ type: 'bool', value })

/** A block; statements get location test.rego:<row>:1 unless they carry one. */
export function blk(...stmts: NoLoc<Stmt>[]): Block {
  return { stmts: stmts.map((s, i) => ({ file: 0, row: i + 1, col: 1, ...s }) as Stmt) }
}

export function rule(name: string, blocks: Block[], ret = 2, params = [0, 1]): Func {
  const path = name.split('.').filter((p) => p !== 'data')
  return { name, params, return: ret, blocks, path }
}

/** A plan that calls `func` with (input, data) and adds `{x: result}` to the result set. */
export function planCalling(name: string, func: string, keyIndex: number): Plan {
  return {
    name,
    blocks: [
      blk(
        { type: 'CallStmt', func, args: [L(0), L(1)], result: 2 },
        { type: 'MakeObjectStmt', target: 3 },
        { type: 'ObjectInsertStmt', object: 3, key: S(keyIndex), value: L(2) },
        { type: 'ResultSetAddStmt', value: 3 },
      ),
    ],
  }
}

export function policy(p: {
  strings: string[]
  builtins?: { name: string; arity: number }[]
  plans: Plan[]
  funcs?: Func[]
}): Policy {
  return {
    static: {
      strings: p.strings.map((value) => ({ value })),
      builtin_funcs: p.builtins ?? [],
      files: [{ value: 'test.rego' }],
    },
    plans: { plans: p.plans },
    funcs: { funcs: p.funcs ?? [] },
  }
}
