/**
 * The sidecar's edge: the gRPC Authorizer, Health and Envoy ext_authz services, the AuthZEN HTTP
 * API, request limits, error → status mapping, the JSON-lines logger, and the operations HTTP
 * listener with its metrics.
 *
 * @module
 */

export { createAuthorizer, DEFAULT_SUBJECT_TYPE, RequestError } from './authorizer.js'
export type {
  Authorizer,
  AuthorizerOptions,
  BatchCheckIn,
  BatchCheckResult,
  BatchItemIn,
  CheckIn,
  CheckResult,
  DecisionRecord,
  EntityIn,
  PolicyInput,
  TokenVerifierLike,
  VerifiedTokenLike,
} from './authorizer.js'
export {
  AUTHZEN_EVALUATION_PATH,
  AUTHZEN_EVALUATIONS_PATH,
  AUTHZEN_MAX_JSON_DEPTH,
  AUTHZEN_METADATA_PATH,
  AUTHZEN_TOKEN_PROPERTY,
  evaluateAccess,
  evaluateAccessBatch,
  EvaluationsSemantic,
  jsonDepthExceeds,
  mapEvaluation,
  mergeEvaluation,
  parseEvaluation,
  startAuthzenServer,
  toAuthzenDecision,
} from './authzen.js'
export type {
  AuthzenAction,
  AuthzenDecision,
  AuthzenDecisionContext,
  AuthzenEntity,
  AuthzenEvaluation,
  AuthzenServerHandle,
  AuthzenServerOptions,
} from './authzen.js'
export {
  bearerToken,
  createExtAuthzHandler,
  DECISION_ID_HEADER,
  DEFAULT_EXT_AUTHZ_ACTIONS,
  defaultExtAuthzOptions,
  EXT_AUTHZ_REDACTED_HEADERS,
  EXT_AUTHZ_SERVICE,
  mapCheckRequest,
  toCheckResponse,
  validateExtAuthzOptions,
} from './ext-authz.js'
export type { ExtAuthzOptions } from './ext-authz.js'
export {
  AUTHORIZER_SERVICE,
  authorizerServiceDefinition,
  extAuthzServiceDefinition,
  GRPC_TRANSPORTS,
  HEALTH_SERVICE,
  healthServiceDefinition,
  startGrpcServer,
  UndecodableRequest,
} from './grpc-server.js'
export type { GrpcServerHandle, GrpcServerOptions, GrpcTransport } from './grpc-server.js'
export { HealthState, ServingStatus } from './health.js'
export { DEFAULT_HTTP_ADDRESS, startHttpServer } from './http-server.js'
export { parseHostPort } from './listen.js'
export type { HttpServerHandle, HttpServerOptions, Readiness } from './http-server.js'
export { createLogger, isLogLevel, LogLevel } from './logger.js'
export type { Logger, LoggerOptions } from './logger.js'
export {
  addSnapshot,
  AUTHZEN_ERROR_STATUSES,
  DECISION_DURATION_BOUNDS_MS,
  emptySnapshot,
  METRICS_CONTENT_TYPE,
  processUsage,
  renderMetrics,
  RPC_METHODS,
  SidecarMetrics,
} from './metrics.js'
export type {
  AuthzenErrorStatus,
  MetricsSnapshot,
  RpcMethod,
  ScrapePart,
  SnapshotSources,
  WorkersGauge,
} from './metrics.js'
export {
  DEFAULT_MAX_BATCH_ITEMS,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_PROPERTIES_BYTES,
  DEFAULT_MAX_TOKEN_BYTES,
  defaultLimitsOptions,
  validateLimitsOptions,
} from './options.js'
export type { LimitsOptions } from './options.js'
export { PolicyHolder } from './policy-holder.js'
export type { ActivePolicy } from './policy-holder.js'
export { toServiceError } from './status.js'
export { uuidv7 } from './uuid.js'
export {
  decodeBatchCheckRequest,
  decodeCheckRequest,
  encodeBatchCheckResponse,
  encodeCheckResponse,
  MAX_MESSAGE_DEPTH,
  WireError,
  WireErrorReason,
} from './wire.js'
export type {
  WireBatchCheckRequest,
  WireBatchCheckResponse,
  WireBatchItem,
  WireCheckRequest,
  WireCheckResponse,
  WireResource,
  WireSubject,
} from './wire.js'
