/**
 * Source positions: building `Location` values and comparing them, so that errors from every
 * stage sort the same way.
 *
 * @module
 */

import type { Location } from './ast.js'

export type { Location } from './ast.js'

/** Creates a location; `row` and `col` are 1-based, `offset` is a 0-based byte offset. */
export function createLocation(file: string, row: number, col: number, offset: number): Location {
  return { file, row, col, offset }
}

/** Orders locations by file, then row, then column (the order errors are reported in). */
export function compareLocations(a: Location, b: Location): number {
  if (a.file !== b.file) return a.file < b.file ? -1 : 1
  if (a.row !== b.row) return a.row - b.row
  return a.col - b.col
}

/** Renders `file:row:col`. */
export function formatLocation(loc: Location): string {
  return `${loc.file}:${loc.row}:${loc.col}`
}
