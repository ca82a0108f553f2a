/** Test helper: an AST value without locations, so trees parsed from different text compare equal. */
export function strip(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (k, v: unknown) => (k === 'location' || k === 'file' ? undefined : v)))
}
