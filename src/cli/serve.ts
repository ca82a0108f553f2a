/**
 * `verdict serve`: the sidecar. Composes config, bundle source, engine, token verifier, audit
 * sink, the gRPC server, the AuthZEN HTTP listener (when configured) and the operations HTTP
 * listener (metrics, health), and shuts them down in order on SIGTERM/SIGINT.
 *
 * @module
 */

import { createAuditSink, encodeDecisionEvent } from '../audit/index.js'
import type { AuditSink, MaskOptions } from '../audit/index.js'
import { BundleCache, BundleUpdater, createBundleSource, readBundleInput } from '../bundle/index.js'
import type { Bundle, BundleInput, BundleSignature } from '../bundle/index.js'
import type { ServeConfig } from '../config/index.js'
import { createHostBuiltins, PolicyEngine } from '../engine/index.js'
import {
  AUTHORIZER_SERVICE,
  createAuthorizer,
  EXT_AUTHZ_SERVICE,
  createLogger,
  HealthState,
  PolicyHolder,
  renderMetrics,
  ServingStatus,
  SidecarMetrics,
  startAuthzenServer,
  startGrpcServer,
  startHttpServer,
} from '../server/index.js'
import type {
  AuthzenServerHandle,
  DecisionRecord,
  GrpcServerHandle,
  HttpServerHandle,
  HttpServerOptions,
  Logger,
  MetricsSnapshot,
} from '../server/index.js'
import { createTokenVerifier } from '../token/index.js'

/** A running sidecar. */
export interface Sidecar {
  address: string
  /** Where the operations HTTP listener is bound, or undefined when it is off (or skipped). */
  httpAddress: string | undefined
  /** Where the AuthZEN listener is bound, or undefined when it is off. */
  authzenAddress: string | undefined
  /** This process's metrics now: what `/metrics` renders, and what a worker sends its primary. */
  snapshot(): MetricsSnapshot
  /**
   * Checks the bundle source now (SIGHUP): a file is loaded again, a URL or object fetched if it
   * changed. A new bundle is swapped in; on failure the last good policy keeps serving. Resolves
   * with whether a new bundle was activated.
   */
  reload(): Promise<boolean>
  /** Drains calls, flushes audit, releases resources. Idempotent. */
  stop(): Promise<void>
}

/**
 * Starts the operations HTTP listener at `http` (see `ServeConfig.http`), or resolves undefined
 * when there is none. The built-in default address being taken is logged and skipped; a configured
 * one that cannot be bound throws.
 */
export async function listenHttp(
  http: ServeConfig['http'],
  logger: Logger,
  routes: Pick<HttpServerOptions, 'metrics' | 'readiness'>,
): Promise<HttpServerHandle | undefined> {
  if (http === undefined) return undefined
  try {
    const server = await startHttpServer({ address: http.address, logger, ...routes })
    logger.info('http listening', { address: server.address, endpoints: ['/metrics', '/healthz', '/readyz'] })
    return server
  } catch (err) {
    if (!http.isDefault || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
    logger.warn('http listener not started: the default address is taken; set --http to another host:port, or off', {
      address: http.address,
    })
    return undefined
  }
}

/** What loading a bundle into an engine takes from the configuration. */
export type PolicyLoadConfig = Pick<ServeConfig, 'bundle' | 'entrypoint' | 'bundleMaxBytes' | 'bundleVerification'>

/**
 * Reads a bundle for serving: the one call through which a bundle from any source (and the one
 * `verdict publish` checks) is read. Whatever must hold before a bundle may serve is checked
 * here, before any engine is built: its signature first, when `config.bundleVerification` is set.
 */
export function readPolicyBundle(input: BundleInput, config: PolicyLoadConfig): Promise<Bundle> {
  return readBundleInput(input, {
    maxBundleBytes: config.bundleMaxBytes,
    ...(config.bundleVerification === undefined ? {} : { verification: config.bundleVerification }),
  })
}

/**
 * Loads a bundle into an engine: `input` as a source fetched it, by default the file or directory
 * at `config.bundle`.
 */
export async function loadPolicy(
  config: PolicyLoadConfig,
  input: BundleInput = { kind: 'path', path: config.bundle },
): Promise<{ engine: PolicyEngine; revision: string; signature?: BundleSignature }> {
  const bundle = await readPolicyBundle(input, config)
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
  return { engine, revision: bundle.manifest.revision, ...(bundle.signature && { signature: bundle.signature }) }
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

  const metrics = new SidecarMetrics()
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
  const authorizer = createAuthorizer({ verifier, policy, limits: config.limits, logger, onDecision, metrics })
  let stopping: Promise<void> | undefined
  // Read at scrape time: nothing on the decision path feeds these.
  const snapshot = (): MetricsSnapshot => {
    const token = verifier.stats()
    return metrics.snapshot({
      tokenCache: { hits: token.cacheHits, misses: token.cacheMisses },
      audit: audit.stats(),
      revision: policy.current?.revision ?? null,
      ready: policy.current !== undefined && stopping === undefined,
    })
  }

  let server: GrpcServerHandle
  try {
    server = await startGrpcServer({
      address: config.grpc,
      transport: config.grpcTransport,
      authorizer,
      health,
      logger,
      maxMessageBytes: config.limits.maxMessageBytes,
      extAuthz: config.envoy,
      metrics,
    })
  } catch (err) {
    verifier.close()
    await audit.close()
    throw err
  }
  logger.info('listening', { address: server.address, service: config.service })
  // AuthZEN is served by every sidecar process; under --workers node:cluster shares the port.
  let authzen: AuthzenServerHandle | undefined
  try {
    if (config.authzen !== undefined) {
      authzen = await startAuthzenServer({
        address: config.authzen,
        authorizer,
        logger,
        maxBodyBytes: config.limits.maxMessageBytes,
        maxBatchItems: config.limits.maxBatchItems,
        metrics,
      })
      logger.info('authzen listening', { address: authzen.address })
    }
  } catch (err) {
    await server.stop(0)
    verifier.close()
    await audit.close()
    throw err
  }
  let http: HttpServerHandle | undefined
  try {
    http = await listenHttp(config.http, logger, {
      metrics: () => renderMetrics([{ snapshot: snapshot() }]),
      readiness: () => {
        const s = snapshot()
        return { ready: s.ready, body: { revision: s.policy.revision } }
      },
    })
  } catch (err) {
    await Promise.all([server.stop(0), authzen?.stop(0)])
    verifier.close()
    await audit.close()
    throw err
  }

  // The source's bundles are loaded and swapped in here; the updater decides when (and caches).
  const updater = new BundleUpdater({
    source: createBundleSource(config.bundleSource, logger),
    ...(config.bundleCache === undefined ? {} : { cache: new BundleCache(config.bundleCache) }),
    logger,
    onFetch: (ok) => metrics.bundleFetch(ok),
    activate: async (input) => {
      try {
        const active = await loadPolicy(config, input)
        policy.set(active)
        metrics.policyLoad(true)
        return {
          revision: active.revision,
          details: {
            entrypoint: active.engine.entrypoint,
            ...(active.signature && { signature: { algorithm: active.signature.algorithm, keyId: active.signature.keyId } }),
          },
        }
      } catch (err) {
        metrics.policyLoad(false)
        throw err
      }
    },
  })
  if (config.bundleVerification === undefined) {
    logger.warn('bundle signatures are not verified (--insecure-skip-bundle-verification): any bundle at the source will serve', {
      bundle: config.bundle,
    })
  }
  // Fail closed until a bundle loads (from the source, or the cached last good one): health stays
  // NOT_SERVING and checks answer NO_POLICY. A remote source keeps trying in the background.
  await updater.start()

  return {
    address: server.address,
    httpAddress: http?.address,
    authzenAddress: authzen?.address,
    snapshot,
    reload: () => updater.refresh(),
    stop() {
      stopping ??= (async () => {
        health.setAll(ServingStatus.NOT_SERVING)
        await updater.stop()
        // /readyz answers 503 from here on (snapshot sees `stopping`) until the drain is done.
        await Promise.all([server.stop(config.shutdownGraceMs), authzen?.stop(config.shutdownGraceMs)])
        await http?.stop()
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
