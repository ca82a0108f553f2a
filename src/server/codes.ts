/**
 * The names of `verdict.v1.DecisionCode` numbers, for the places that turn a decision's code
 * number back into text (metrics labels, ext_authz answers).
 *
 * @module
 */
import { DecisionCode } from '../gen/verdict/v1/authorizer_pb.js'

/** Decision code names by number; index 0 is `UNSPECIFIED`. */
export const DECISION_CODE_NAMES: readonly string[] = (() => {
  const names: string[] = []
  for (const [name, value] of Object.entries(DecisionCode)) if (typeof value === 'number') names[value] = name
  return names
})()
