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
 * @module
 */

import cluster from 'node:cluster'
import type { Worker } from 'node:cluster'
import { join } from 'node:path'
import type { ServeConfig } from '../config/index.js'
import type { Logger } from '../server/index.js'

/** The environment variable that tells a worker its slot (0 … N-1). */
export const WORKER_SLOT_ENV = 'VERDICT_WORKER_SLOT'

/** What a worker sends the primary once it serves. */
export interface WorkerReady {
  type: 'verdict:ready'
  address: string
}

/** Options for {@link superviseWorkers}. */
export interface SuperviseOptions {
  workers: number
  logger: Logger
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
  if (nats === undefined) return config
  return {
    ...config,
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
  return done.finally(() => {
    process.off('SIGTERM', sigterm)
    process.off('SIGINT', sigint)
    process.off('SIGHUP', onHup)
  })
}
