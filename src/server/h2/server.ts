/**
 * Verdict's own gRPC server: a `net` listener (TCP or unix socket) whose connections are
 * {@link Connection}s. See `connection.ts` for what it speaks and why it exists.
 *
 * @module
 */

import { createServer } from 'node:net'
import type { Server, Socket } from 'node:net'
import { listenOn, parseListenAddress } from '../listen.js'
import { Connection } from './connection.js'
import type { ConnectionOptions, Method } from './connection.js'

export { GrpcStatus } from './connection.js'
export type { BidiCall, BidiMethod, Call, Method, RpcStatus, ServerStreamCall, ServerStreamMethod, UnaryMethod } from './connection.js'

/** Default SETTINGS_MAX_CONCURRENT_STREAMS per connection. */
export const DEFAULT_MAX_CONCURRENT_STREAMS = 1024
/** Default largest request header list (gRPC's usual 8 KiB of metadata, and room for HTTP/2's accounting). */
export const DEFAULT_MAX_HEADER_LIST_BYTES = 16 * 1024

/** What {@link listenGrpc} needs. */
export interface GrpcListenOptions {
  /** `host:port` (port 0 picks one; IPv6 in brackets), `unix:path` or `unix:///absolute/path`. */
  address: string
  /** Methods by path, `/package.Service/Method`. */
  methods: ReadonlyMap<string, Method>
  /** Largest request message, in bytes. */
  maxMessageBytes: number
  maxConcurrentStreams?: number
  maxHeaderListBytes?: number
  /** See `ConnectionOptions.maxBufferedBytes`. */
  maxBufferedBytes?: number
  /** Connection problems (misbehaving peers), at warn level. */
  onConnectionError(message: string, fields: Record<string, unknown>): void
  /** Handler defects: errors that are not a gRPC status. */
  onHandlerError(path: string, error: unknown): void
  /** Calls of known methods the transport answered with an error status itself (see `ConnectionOptions`). */
  onRejected?(path: string, code: number): void
}

/** A listening server. */
export interface GrpcListener {
  /** The address bound: `host:port` with the actual port, or the `unix:` address as given. */
  address: string
  /** The TCP port, 0 on a unix socket. */
  port: number
  /**
   * Stops accepting connections, sends GOAWAY on every open one, and waits for the calls in
   * flight; after `graceMs` the rest are cut.
   */
  stop(graceMs: number): Promise<void>
}

/**
 * Starts serving gRPC on `options.address`.
 *
 * @example
 * const server = await listenGrpc({ address: '127.0.0.1:0', methods, maxMessageBytes: 4 << 20, onConnectionError, onHandlerError })
 * await server.stop(5000)
 */
export async function listenGrpc(options: GrpcListenOptions): Promise<GrpcListener> {
  const where = parseListenAddress(options.address)
  const connOptions: ConnectionOptions = {
    methods: options.methods,
    maxMessageBytes: options.maxMessageBytes,
    maxConcurrentStreams: options.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS,
    maxHeaderListBytes: options.maxHeaderListBytes ?? DEFAULT_MAX_HEADER_LIST_BYTES,
    onConnectionError: options.onConnectionError,
    onHandlerError: options.onHandlerError,
    ...(options.onRejected === undefined ? {} : { onRejected: options.onRejected }),
    ...(options.maxBufferedBytes === undefined ? {} : { maxBufferedBytes: options.maxBufferedBytes }),
  }
  const connections = new Set<Connection>()
  let allClosed: (() => void) | undefined
  const onClose = (conn: Connection): void => {
    connections.delete(conn)
    if (connections.size === 0) allClosed?.()
  }
  const server: Server = createServer({ noDelay: true }, (socket: Socket) => {
    connections.add(new Connection(socket, connOptions, onClose))
  })
  const port = await listenOn(server, where, (err) => options.onConnectionError('listener failed', { error: err.message }))
  const address = 'path' in where ? options.address : `${options.address.slice(0, options.address.lastIndexOf(':'))}:${port}`

  let stopped: Promise<void> | undefined
  return {
    address,
    port,
    stop: (graceMs) =>
      (stopped ??= new Promise<void>((resolve) => {
        server.close()
        const done = (): void => {
          clearTimeout(timer)
          resolve()
        }
        const timer = setTimeout(() => {
          for (const conn of [...connections]) conn.destroy()
          done()
        }, graceMs)
        timer.unref()
        allClosed = done
        for (const conn of [...connections]) conn.drain()
        if (connections.size === 0) done()
      })),
  }
}
