/**
 * Errors become gRPC statuses here, once, at the edge: the detail is logged, the caller gets a
 * terse message.
 *
 * @module
 */

import { status as Status } from '@grpc/grpc-js'
import type { ServiceError } from '@grpc/grpc-js'
import { Metadata } from '@grpc/grpc-js'
import type { Logger } from './logger.js'

/** Maps an error from a handler to a gRPC status error. */
export function toServiceError(err: unknown, logger: Logger, method: string): Partial<ServiceError> {
  const code = (err as { code?: unknown }).code
  if (code === 'ERR_REQUEST_INVALID') {
    return { code: Status.INVALID_ARGUMENT, details: (err as Error).message, metadata: new Metadata() }
  }
  logger.error('handler failed', { method, error: err })
  return { code: Status.INTERNAL, details: 'internal error', metadata: new Metadata() }
}
