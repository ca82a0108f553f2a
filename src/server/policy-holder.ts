/**
 * Holds the active policy. A new bundle is loaded off to the side and swapped in with one
 * reference assignment, so a request always sees one whole policy.
 *
 * @module
 */

import type { PolicyEngine } from '../engine/index.js'

/** The active policy: its engine and the bundle revision. */
export interface ActivePolicy {
  engine: PolicyEngine
  revision: string
}

/** A slot for the active policy, with change listeners (health follows it). */
export class PolicyHolder {
  #active: ActivePolicy | undefined
  #listeners: ((active: ActivePolicy | undefined) => void)[] = []

  /** The active policy, or undefined before the first bundle loads. */
  get current(): ActivePolicy | undefined {
    return this.#active
  }

  /** Swaps in a new policy (or clears it). */
  set(active: ActivePolicy | undefined): void {
    this.#active = active
    for (const l of this.#listeners) l(active)
  }

  /** Calls `listener` on every change. */
  onChange(listener: (active: ActivePolicy | undefined) => void): void {
    this.#listeners.push(listener)
  }
}
