/**
 * `verdict serve`: the sidecar. Composes config, bundle, engine, token verifier, audit sink and
 * the gRPC server, and shuts them down in order on SIGTERM/SIGINT.
 *
 * @module
 */

import { createAuditSink, encodeDecisionEvent } from '../audit/index.js'
import type { AuditSink, MaskOptions } from '../audit/index.js'
import { loadBundle } from '../bundle/index.js'
import type { ServeConfig } from '../config/index.js'
import { createHostBuiltins, PolicyEngine } from '../engine/index.js'
import {
  AUTHORIZER_SERVICE,
  createAuthorizer,
  EXT_AUTHZ_SERVICE,
  createLogger,
  HealthState,
  PolicyHolder,
  ServingStatus,
  startGrpcServer,
} from '../server/index.js'
import type { DecisionRecord, GrpcServerHandle, Logger } from '../server/index.js'
import { createTokenVerifier } from '../token/index.js'

/** A running sidecar. */
export interface Sidecar {
  address: string
  /**
   * Loads the bundle again and swaps it in; on failure the last good policy keeps serving.
   * Resolves with whether the new bundle was activated.
   */
  reload(): Promise<boolean>
  /** Drains calls, flushes audit, releases resources. Idempotent. */
  stop(): Promise<void>
}

/** Loads the bundle at `config.bundle` into an engine. */
export async function loadPolicy(config: ServeConfig): Promise<{ engine: PolicyEngine; revision: string }> {
  const bundle = await loadBundle(config.bundle)
  const entrypoint = config.entrypoint ?? bundle.manifest.wasm[0]?.entrypoint
  const resolver = bundle.manifest.wasm.find((w) => w.entrypoint === entrypoint)
  const wasm = resolver
    ? bundle.wasmModules.get(resolver.module.replace(/^\/+/, ''))
    : [...bundle.wasmModules.values()][0]
  if (wasm === undefined) throw new Error(`bundle ${config.bundle} has no policy.wasm`)
  const engine = await PolicyEngine.load({
    wasm,
    data: bundle.data,
    revision: bundle.manifest.revision,
    builtins: createHostBuiltins({ strict: false }),
    ...(entrypoint === undefined ? {} : { entrypoint }),
  })
  return { engine, revision: bundle.manifest.revision }
}

/**
 * One decision's audit event as JSON: the authorizer's record in the audit.v1 shape, masked.
 *
 * @example
 * sink.writeEncoded(encodeDecision(record, 'trades-api', {}), { id: record.decisionId, allow: record.allow, service: 'trades-api' })
 */
export function encodeDecision(record: DecisionRecord, service: string, mask: MaskOptions): string {
  return encodeDecisionEvent(
    {
      decisionId: record.decisionId,
      timestamp: record.timestamp,
      service,
      claims: record.claims,
      subject: record.subject,
      action: record.action,
      resource: record.resource,
      allow: record.allow,
      code: record.code,
      reasons: record.reasons,
      policyRevision: record.revision,
      latencyMs: record.latencyMs,
      path: record.path,
      input: record.input,
      inputRestJson: record.inputRestJson,
    },
    mask,
  )
}

/**
 * Starts the sidecar from a resolved configuration.
 *
 * @example
 * const sidecar = await startSidecar(loadServeConfig({ flags, env: process.env }))
 */
export async function startSidecar(config: ServeConfig, logger: Logger = createLogger({ level: config.logLevel })): Promise<Sidecar> {
  const policy = new PolicyHolder()
  const health = new HealthState(config.envoy.enabled ? [AUTHORIZER_SERVICE, EXT_AUTHZ_SERVICE] : [AUTHORIZER_SERVICE])
  policy.onChange((active) => health.setAll(active ? ServingStatus.SERVING : ServingStatus.NOT_SERVING))

  const verifier = createTokenVerifier(config.token)
  const audit: AuditSink = createAuditSink(
    config.audit.nats === undefined
      ? config.audit
      : { ...config.audit, nats: { ...config.audit.nats, onError: (err) => logger.warn('audit publish failed', { error: err }) } },
  )
  // Configured masking (`audit.mask`) applies to every event; defaults mask all but safe claims.
  const mask = config.audit.mask ?? {}
  const service = config.service
  // Encoded straight to JSON (no event object); the sink routes by the fields it is handed.
  const onDecision = (record: DecisionRecord): void => {
    audit.writeEncoded(encodeDecision(record, service, mask), { id: record.decisionId, allow: record.allow, service })
  }
  const authorizer = createAuthorizer({ verifier, policy, limits: config.limits, logger, onDecision })

  let server: GrpcServerHandle
  try {
    server = await startGrpcServer({
      address: config.grpc,
      authorizer,
      health,
      logger,
      maxMessageBytes: config.limits.maxMessageBytes,
      extAuthz: config.envoy,
    })
  } catch (err) {
    verifier.close()
    await audit.close()
    throw err
  }
  logger.info('listening', { address: server.address, service: config.service })

  const reload = async (): Promise<boolean> => {
    try {
      const active = await loadPolicy(config)
      policy.set(active)
      logger.info('bundle loaded', {
        bundle: config.bundle,
        revision: active.revision,
        entrypoint: active.engine.entrypoint,
      })
      return true
    } catch (err) {
      logger.error('bundle rejected', {
        bundle: config.bundle,
        error: err,
        serving: policy.current?.revision ?? null,
      })
      return false
    }
  }
  // Fail closed until the bundle loads: health stays NOT_SERVING and checks answer NO_POLICY.
  await reload()

  let stopping: Promise<void> | undefined
  return {
    address: server.address,
    reload,
    stop() {
      stopping ??= (async () => {
        health.setAll(ServingStatus.NOT_SERVING)
        await server.stop(config.shutdownGraceMs)
        verifier.close()
        try {
          await audit.flush()
          await audit.close()
        } catch (err) {
          logger.error('audit flush failed', { error: err })
        }
        logger.info('stopped')
      })()
      return stopping
    },
  }
}
