/**
 * The planner: compiled Rego → IR (`Policy`).
 *
 * @module
 */

export { plan, Planner } from './planner.js'
export type { PlanOptions } from './planner.js'
