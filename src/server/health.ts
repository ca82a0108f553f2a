/**
 * `grpc.health.v1.Health` state: SERVING once a bundle is loaded, NOT_SERVING otherwise, with
 * Watch streams told of every change. The empty service name and `verdict.v1.Authorizer` are
 * known; any other name is SERVICE_UNKNOWN.
 *
 * @module
 */

import { HealthCheckResponse_ServingStatus as ServingStatus } from '../gen/grpc/health/v1/health_pb.js'

/** Health status per service name. */
export class HealthState {
  #status = new Map<string, ServingStatus>()
  #watchers = new Set<(service: string, status: ServingStatus) => void>()

  constructor(services: readonly string[]) {
    for (const s of ['', ...services]) this.#status.set(s, ServingStatus.NOT_SERVING)
  }

  /** The status of `service`, or undefined when the service is not known. */
  get(service: string): ServingStatus | undefined {
    return this.#status.get(service)
  }

  /** Sets every known service to `status`. */
  setAll(status: ServingStatus): void {
    for (const service of this.#status.keys()) {
      if (this.#status.get(service) === status) continue
      this.#status.set(service, status)
      for (const w of this.#watchers) w(service, status)
    }
  }

  /** Subscribes to changes; returns the unsubscribe function. */
  watch(listener: (service: string, status: ServingStatus) => void): () => void {
    this.#watchers.add(listener)
    return () => this.#watchers.delete(listener)
  }
}

export { ServingStatus }
