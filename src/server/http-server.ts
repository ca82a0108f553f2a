/**
 * The sidecar's operations listener (plain HTTP/1.1): `GET /metrics` in the Prometheus text
 * format, `GET /healthz` (the process answers) and `GET /readyz` (a policy is loaded and serving).
 * Anything else is 404, any other method 405. It serves probes and scrapers, not callers: small
 * timeouts, no request bodies read, and malformed requests answered 400 without ever reaching a
 * handler.
 *
 * @module
 */

import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { hostPort, listenOn, parseHostPort } from './listen.js'
import type { Logger } from './logger.js'
import { METRICS_CONTENT_TYPE } from './metrics.js'

/** Default operations listen address: loopback, port 9464 (the usual Prometheus exporter port). */
export const DEFAULT_HTTP_ADDRESS = '127.0.0.1:9464'

/** What `/readyz` answers: `ready` picks 200 or 503, `body` is sent as JSON. */
export interface Readiness {
  ready: boolean
  body: Record<string, unknown>
}

/** What {@link startHttpServer} needs. */
export interface HttpServerOptions {
  /** `host:port` (`[::1]:9464` for IPv6); port 0 picks a free one. Example: `127.0.0.1:9464`. */
  address: string
  logger: Logger
  /** The `/metrics` body, in the Prometheus text format. */
  metrics: () => string | Promise<string>
  readiness: () => Readiness | Promise<Readiness>
}

/** A running operations listener. */
export interface HttpServerHandle {
  /** The address actually bound, `host:port`. */
  address: string
  port: number
  /** Stops listening and closes every connection. Idempotent. */
  stop(): Promise<void>
}


function send(res: ServerResponse, status: number, type: string, body: string, head: boolean, extra?: Record<string, string>): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...extra,
  })
  res.end(head ? undefined : body)
}

/**
 * Starts the operations listener.
 *
 * @example
 * const http = await startHttpServer({ address: '127.0.0.1:9464', logger, metrics: () => renderMetrics(parts), readiness })
 */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServerHandle> {
  const hp = parseHostPort(options.address)
  if (hp === undefined) throw new TypeError(`http address must be host:port (got ${options.address})`)
  const { logger } = options

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // No endpoint takes a body; drain whatever came so the connection can be reused.
    req.resume()
    const url = req.url ?? ''
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    const known = path === '/metrics' || path === '/healthz' || path === '/readyz'
    if (!known) return send(res, 404, 'text/plain; charset=utf-8', 'not found\n', req.method === 'HEAD')
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', false, { allow: 'GET, HEAD' })
    }
    const head = req.method === 'HEAD'
    if (path === '/healthz') return send(res, 200, 'text/plain; charset=utf-8', 'ok\n', head)
    if (path === '/readyz') {
      const r = await options.readiness()
      return send(res, r.ready ? 200 : 503, 'application/json', `${JSON.stringify({ ready: r.ready, ...r.body })}\n`, head)
    }
    return send(res, 200, METRICS_CONTENT_TYPE, await options.metrics(), head)
  }

  const server = createServer({ requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 5_000 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger.error('http handler failed', { path: req.url, error: err })
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n', req.method === 'HEAD')
      else res.destroy()
    })
  })
  // A request Node's parser refuses (bad request line, huge headers, ...) must not reach a
  // handler or take the process down: answer 400 where the socket still takes it, then close.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (socket.writable && err.code !== 'ECONNRESET') socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
    socket.destroy()
  })

  const port = await listenOn(server, hp, (err) => logger.error('http listener failed', { error: err }))
  let stopping: Promise<void> | undefined
  return {
    address: hostPort(hp.host, port),
    port,
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      return stopping
    },
  }
}
