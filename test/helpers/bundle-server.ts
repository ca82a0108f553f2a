/**
 * Test helper: a real node:http bundle server on loopback, speaking OPA's bundle service
 * protocol (ETag, `If-None-Match` → 304). Tests swap its behaviour (`serve`, or a raw `handler`
 * for errors, hangs and redirects), read the requests it saw, and close it and listen again on
 * the same port to simulate an outage.
 *
 * @module
 */
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'

/** What the server saw of one request. */
export interface SeenRequest {
  path: string
  ifNoneMatch: string | undefined
  authorization: string | undefined
}

/** A running bundle server. */
export interface BundleServer {
  readonly port: number
  /** `http://127.0.0.1:<port><path>`. */
  url(path?: string): string
  /** Every request so far, oldest first. */
  readonly requests: SeenRequest[]
  /** Answers requests; replace it to change what the server does. */
  handler: (req: IncomingMessage, res: ServerResponse) => void
  /** Serves `bytes` with `etag` at every path: 304 when `If-None-Match` names it, else 200. */
  serve(bytes: Uint8Array, etag: string | undefined): void
  /** Stops listening and drops every open connection (an outage). */
  close(): Promise<void>
  /** Listens again on the same port. */
  listen(): Promise<void>
}

/** Starts a bundle server on a free loopback port (or `port`). */
export async function startBundleServer(port = 0): Promise<BundleServer> {
  const requests: SeenRequest[] = []
  let server: Server | undefined
  const self: BundleServer = {
    port,
    requests,
    handler: (_req, res) => {
      res.writeHead(404).end()
    },
    url: (path = '/bundle.tar.gz') => `http://127.0.0.1:${self.port}${path}`,
    serve(bytes, etag) {
      self.handler = (req, res) => {
        if (etag !== undefined && req.headers['if-none-match'] === etag) {
          res.writeHead(304, { etag }).end()
          return
        }
        res.writeHead(200, {
          'content-type': 'application/gzip',
          'content-length': String(bytes.byteLength),
          ...(etag === undefined ? {} : { etag }),
        })
        res.end(bytes)
      }
    },
    async listen() {
      const s = createServer((req, res) => {
        requests.push({
          path: req.url ?? '',
          ifNoneMatch: req.headers['if-none-match'],
          authorization: req.headers.authorization,
        })
        self.handler(req, res)
      })
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject)
        s.listen(self.port, '127.0.0.1', () => resolve())
      })
      const address = s.address()
      ;(self as { port: number }).port = typeof address === 'object' && address !== null ? address.port : self.port
      server = s
    },
    async close() {
      const s = server
      server = undefined
      if (s === undefined) return
      await new Promise<void>((resolve) => {
        s.close(() => resolve())
        s.closeAllConnections()
      })
    },
  }
  await self.listen()
  return self
}
