/**
 * `verdict serve --workers N`: one sidecar per worker process, all on one listen address.
 *
 * A Node process serves gRPC on one core. With N > 1 the primary (this module) forks N workers
 * with node:cluster. Each worker is a whole sidecar: its own engine, token cache, audit
 * connection and spool. They share the listening socket (TCP or unix), and the primary hands each
 * new connection to the next worker. The primary does no request work. It starts the workers,
 * restarts one that dies (with backoff), forwards SIGHUP (bundle reload) and, on SIGTERM or
 * SIGINT, stops them all and waits until each has drained its calls and flushed its audit.
 *
 * Fail closed at start: if a worker exits before it ever served (bad flags caught late, address in
 * use), the primary stops the others and exits 1 rather than restarting a worker that cannot start.
 *
 * Operations HTTP (`/metrics`, `/readyz`, `/healthz`) is served by the primary alone, so one scrape
 * shows the whole sidecar: on each request it asks every worker over IPC for its metrics snapshot
 * (plain numbers) and sums them. A worker that does not answer within {@link SCRAPE_TIMEOUT_MS}
 * counts with its last known snapshot, and the counters of workers that exited are kept, so the
 * summed counters never go down when a worker is restarted.
 *
 * The AuthZEN listener (`--authzen`), like the gRPC address, is served by every worker on one
 * shared socket, never by the primary: its requests are decisions, made where the engines are.
 *
 * @module
 */

import cluster from 'node:cluster'
import type { Worker } from 'node:cluster'
import { join } from 'node:path'
import type { ServeConfig } from '../config/index.js'
import { addSnapshot, emptySnapshot, processUsage, renderMetrics } from '../server/index.js'
import type { Logger, MetricsSnapshot, Readiness } from '../server/index.js'
import { listenHttp } from './serve.js'

/** The environment variable that tells a worker its slot (0 … N-1). */
export const WORKER_SLOT_ENV = 'VERDICT_WORKER_SLOT'

/** What a worker sends the primary once it serves. */
export interface WorkerReady {
  type: 'verdict:ready'
  address: string
}

/** The primary asks a worker for its metrics. */
export interface MetricsRequest {
  type: 'verdict:metrics?'
  id: number
}

/** A worker's answer to a {@link MetricsRequest}. */
export interface MetricsReply {
  type: 'verdict:metrics'
  id: number
  snapshot: MetricsSnapshot
}

/** How long a scrape waits for each worker's snapshot. */
export const SCRAPE_TIMEOUT_MS = 1000

/** Options for {@link superviseWorkers}. */
export interface SuperviseOptions {
  workers: number
  logger: Logger
  /** Where the primary serves `/metrics` and health for all workers (`ServeConfig.http`); absent: nowhere. */
  http?: ServeConfig['http']
  /** The workers' shutdown grace; the primary waits this long plus a margin before SIGKILL. */
  shutdownGraceMs: number
  /** First restart delay after a crash; doubles while a worker keeps dying young. Default 250 ms. */
  restartDelayMs?: number
  /** Longest restart delay. Default 30 s. */
  maxRestartDelayMs?: number
}

/** A worker that lived at least this long resets its restart backoff. */
const HEALTHY_LIFETIME_MS = 10_000
/** Margin on top of the workers' own grace before the primary kills them. */
const KILL_MARGIN_MS = 5_000

interface Slot {
  index: number
  worker?: Worker
  startedAt: number
  served: boolean
  /** Crashes in a row of a worker that died young. */
  crashes: number
  restartTimer?: NodeJS.Timeout
  /** The current worker's last metrics snapshot. */
  last?: MetricsSnapshot
}

/** The slot of this process when it is a worker, else undefined. */
export function workerSlot(): number | undefined {
  if (!cluster.isWorker) return undefined
  const slot = Number(process.env[WORKER_SLOT_ENV])
  return Number.isInteger(slot) && slot >= 0 ? slot : 0
}

/**
 * The configuration a worker serves with: its own audit spool directory (slot 0 keeps the
 * configured one, so switching from one process to several replays what was spooled) and its own
 * NATS connection name.
 */
export function workerConfig(config: ServeConfig, slot: number): ServeConfig {
  const nats = config.audit.nats
  if (nats === undefined) return { ...config, http: undefined }
  return {
    ...config,
    // The primary serves operations HTTP for every worker; none binds it.
    http: undefined,
    audit: {
      ...config.audit,
      nats: {
        ...nats,
        spoolDir: slot === 0 ? nats.spoolDir : join(nats.spoolDir, `worker-${slot}`),
        name: `${nats.name ?? `verdict-${config.service}`}-w${slot}`,
      },
    },
  }
}

/** Tells the primary that this worker serves (no-op outside a cluster worker). */
export function reportReady(address: string): void {
  if (cluster.isWorker) process.send?.({ type: 'verdict:ready', address } satisfies WorkerReady)
}

function isReady(msg: unknown): msg is WorkerReady {
  return typeof msg === 'object' && msg !== null && (msg as { type?: unknown }).type === 'verdict:ready'
}

function isMetricsReply(msg: unknown): msg is MetricsReply {
  return typeof msg === 'object' && msg !== null && (msg as { type?: unknown }).type === 'verdict:metrics'
}

/**
 * In a worker, answers the primary's metrics requests with `snapshot()` (no-op outside a cluster
 * worker). Returns the function that stops answering.
 */
export function answerMetricsRequests(snapshot: () => MetricsSnapshot): () => void {
  if (!cluster.isWorker) return () => {}
  const onMessage = (msg: unknown): void => {
    if (typeof msg !== 'object' || msg === null || (msg as { type?: unknown }).type !== 'verdict:metrics?') return
    const id = (msg as MetricsRequest).id
    if (!process.connected) return
    process.send?.({ type: 'verdict:metrics', id, snapshot: snapshot() } satisfies MetricsReply)
  }
  process.on('message', onMessage)
  return () => process.off('message', onMessage)
}

/** Snapshot counters of an exited worker, kept so the sums stay monotonic; its gauges are gone with it. */
function retire(into: MetricsSnapshot, last: MetricsSnapshot): void {
  addSnapshot(into, {
    ...last,
    audit: { ...last.audit, queued: 0, spoolPending: 0, spoolBytes: 0 },
    process: { ...last.process, residentBytes: 0, heapUsedBytes: 0 },
    ready: true,
  })
}

/**
 * Runs the primary: forks `workers` sidecars (this same command line) and supervises them until
 * SIGTERM/SIGINT. Resolves with the exit code: 0 after a signal, 1 if a worker could not start.
 *
 * @example
 * if (config.workers > 1 && cluster.isPrimary) return superviseWorkers({ workers: config.workers, logger, shutdownGraceMs: config.shutdownGraceMs })
 */
export function superviseWorkers(o: SuperviseOptions): Promise<number> {
  const logger = o.logger
  const firstDelay = o.restartDelayMs ?? 250
  const maxDelay = o.maxRestartDelayMs ?? 30_000
  const slots: Slot[] = Array.from({ length: o.workers }, (_, index) => ({ index, startedAt: 0, served: false, crashes: 0 }))
  let everServed = false
  let stopping = false
  let exitCode = 0
  let finish: (code: number) => void = () => {}
  const done = new Promise<number>((resolve) => (finish = resolve))
  // Counters of workers that exited, plus the pending metrics requests by id.
  const retired = emptySnapshot()
  const pending = new Map<number, (snapshot: MetricsSnapshot) => void>()
  let nextRequest = 0

  const live = (): Slot[] => slots.filter((s) => s.worker !== undefined)

  const stopAll = (why: string): void => {
    if (stopping) return
    stopping = true
    logger.info('stopping workers', { reason: why, workers: live().length })
    for (const s of slots) clearTimeout(s.restartTimer)
    if (live().length === 0) return finish(exitCode)
    for (const s of live()) s.worker!.process.kill('SIGTERM')
    setTimeout(() => {
      for (const s of live()) {
        logger.error('worker did not stop in time; killing it', { worker: s.index, pid: s.worker!.process.pid })
        s.worker!.process.kill('SIGKILL')
      }
    }, o.shutdownGraceMs + KILL_MARGIN_MS).unref()
  }

  const fork = (slot: Slot): void => {
    const worker = cluster.fork({ [WORKER_SLOT_ENV]: String(slot.index) })
    slot.worker = worker
    slot.startedAt = Date.now()
    slot.served = false
    worker.on('message', (msg: unknown) => {
      if (isMetricsReply(msg)) {
        pending.get(msg.id)?.(msg.snapshot)
        return
      }
      if (!isReady(msg) || slot.worker !== worker) return
      slot.served = true
      if (!everServed && slots.every((s) => s.served)) {
        everServed = true
        logger.info('listening', { address: msg.address, workers: o.workers, pids: slots.map((s) => s.worker?.process.pid) })
      } else if (everServed) {
        logger.info('worker serving again', { worker: slot.index, pid: worker.process.pid })
      }
    })
    worker.on('exit', (code, signal) => {
      if (slot.worker !== worker) return
      slot.worker = undefined
      if (slot.last !== undefined) retire(retired, slot.last)
      slot.last = undefined
      if (stopping) {
        if (live().length === 0) finish(exitCode)
        return
      }
      const how = { worker: slot.index, pid: worker.process.pid, code, signal }
      if (!everServed) {
        // Nothing has served yet: a worker that cannot start will not start on a retry either.
        logger.error('worker exited before serving; stopping', how)
        exitCode = 1
        stopAll('a worker failed to start')
        return
      }
      const lived = Date.now() - slot.startedAt
      slot.crashes = lived >= HEALTHY_LIFETIME_MS ? 0 : slot.crashes + 1
      const delay = Math.min(maxDelay, slot.crashes === 0 ? firstDelay : firstDelay * 2 ** (slot.crashes - 1))
      logger.error('worker exited; restarting it', { ...how, lived_ms: lived, restart_in_ms: delay })
      slot.restartTimer = setTimeout(() => {
        if (!stopping) fork(slot)
      }, delay)
    })
  }

  /** Asks every live worker for a snapshot; resolves with the slots that answered in time. */
  const scrape = async (): Promise<Set<Slot>> => {
    const answered = new Set<Slot>()
    await Promise.all(
      live().map(
        (slot) =>
          new Promise<void>((resolve) => {
            const worker = slot.worker!
            const id = ++nextRequest
            const timer = setTimeout(() => {
              pending.delete(id)
              resolve()
            }, SCRAPE_TIMEOUT_MS)
            timer.unref()
            pending.set(id, (snapshot) => {
              clearTimeout(timer)
              pending.delete(id)
              if (slot.worker === worker) {
                slot.last = snapshot
                answered.add(slot)
              }
              resolve()
            })
            try {
              if (!worker.isConnected()) throw new Error('worker is disconnected')
              worker.send({ type: 'verdict:metrics?', id } satisfies MetricsRequest)
            } catch {
              clearTimeout(timer)
              pending.delete(id)
              resolve()
            }
          }),
      ),
    )
    return answered
  }

  const metricsText = async (): Promise<string> => {
    const answered = await scrape()
    // The primary's own usage, plus what exited workers counted.
    const base = addSnapshot({ ...emptySnapshot(), process: processUsage() }, retired)
    const parts = slots.flatMap((s) => (s.worker !== undefined && s.last !== undefined ? [{ snapshot: s.last, worker: s.index }] : []))
    return renderMetrics(parts, base, { configured: o.workers, reporting: answered.size })
  }

  // Ready when every worker answers now, and each has a bundle loaded.
  const readiness = async (): Promise<Readiness> => {
    if (stopping) return { ready: false, body: { workers: o.workers, ready_workers: 0, revision: null } }
    const answered = await scrape()
    const ready = slots.filter((s) => answered.has(s) && s.last?.ready === true)
    const revisions = [...new Set(ready.map((s) => s.last!.policy.revision))]
    return {
      ready: ready.length === o.workers,
      body: { workers: o.workers, ready_workers: ready.length, revision: revisions.length === 1 ? revisions[0] : null },
    }
  }

  const onStop = (signal: NodeJS.Signals) => () => {
    logger.info('shutting down', { signal })
    stopAll(signal)
  }
  const onHup = (): void => {
    logger.info('reloading bundle in every worker', { signal: 'SIGHUP' })
    for (const s of live()) s.worker!.process.kill('SIGHUP')
  }
  const sigterm = onStop('SIGTERM')
  const sigint = onStop('SIGINT')
  process.on('SIGTERM', sigterm)
  process.on('SIGINT', sigint)
  process.on('SIGHUP', onHup)

  for (const slot of slots) fork(slot)
  const http = listenHttp(o.http, logger, { metrics: metricsText, readiness }).catch((err: unknown) => {
    logger.error('http listener failed to start; stopping', { address: o.http?.address, error: err })
    exitCode = 1
    stopAll('the http listener failed to start')
    return undefined
  })
  return done.finally(async () => {
    process.off('SIGTERM', sigterm)
    process.off('SIGINT', sigint)
    process.off('SIGHUP', onHup)
    await (await http)?.stop()
  })
}
