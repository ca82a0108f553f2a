/**
 * `@verdict/sdk`: the typed client an API (the policy enforcement point) uses to ask its Verdict
 * sidecar for decisions, plus the RFC 6750 mapping of denies to HTTP answers.
 *
 * @module
 */

export { createClient } from './client.js'
export type { BatchCheckRequest, CheckRequest, ClientOptions, Decision, VerdictClient } from './client.js'
export { DecisionCode, decisionCodeName, isTokenCode } from './codes.js'
export { httpDenial } from './http.js'
export type { HttpDenial, HttpDenialOptions } from './http.js'
