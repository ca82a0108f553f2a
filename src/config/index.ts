/**
 * Configuration: flags, environment and file read once at startup, validated, and handed to
 * each module as typed options.
 *
 * @module
 */

export { parseDuration } from './duration.js'
export {
  DEFAULT_GRPC_ADDRESS,
  DEFAULT_SERVICE,
  DEFAULT_SHUTDOWN_GRACE_MS,
  MAX_WORKERS,
  loadServeConfig,
  readConfigFile,
  SERVE_FLAGS,
  VERIFICATION_SECRET_ENV,
} from './serve-config.js'
export type { ConfigSources, ServeConfig } from './serve-config.js'
