/**
 * Conformance cases that Verdict does not pass yet, each with the reason. The runner skips
 * them and counts them as skipped. Keys are `<file relative to the corpus>#<note>`.
 *
 * Remove an entry as soon as the case passes: the floor in opa.test.ts only goes up.
 */
export const KNOWN_FAILURES: ReadonlyMap<string, string> = new Map<string, string>([])
