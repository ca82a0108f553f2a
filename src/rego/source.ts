/**
 * A named piece of Rego source text with fast access to its lines, used by the lexer to build
 * locations and by error rendering to print code frames.
 *
 * @module
 */

/** Rego source text plus its file name. */
export class Source {
  /** The text itself. */
  readonly body: string
  /** The file name used in locations (`policy.rego`, `query`, ...). */
  readonly name: string
  #lineStarts: number[] | undefined

  constructor(body: string, name = 'source.rego') {
    this.body = body
    this.name = name
  }

  /** The text of 1-based line `row`, without its line terminator; '' when out of range. */
  line(row: number): string {
    const starts = this.#starts()
    const start = starts[row - 1]
    if (start === undefined) return ''
    const next = starts[row]
    const end = next === undefined ? this.body.length : next - 1
    return this.body.slice(start, end).replace(/\r$/, '')
  }

  #starts(): number[] {
    if (this.#lineStarts === undefined) {
      const starts = [0]
      for (let i = 0; i < this.body.length; i++) if (this.body[i] === '\n') starts.push(i + 1)
      this.#lineStarts = starts
    }
    return this.#lineStarts
  }
}
