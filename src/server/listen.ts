/**
 * Listening addresses, shared by the sidecar's listeners (gRPC, AuthZEN, operations HTTP): parse
 * `host:port`, bind, and report what was bound.
 *
 * @module
 */

import type { Server } from 'node:net'

/** Splits `host:port` (IPv6 hosts in brackets); undefined when it is not one. */
export function parseHostPort(address: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(address)
  if (m === null) return undefined
  const port = Number(m[3])
  if (port > 65535) return undefined
  return { host: (m[1] ?? m[2])!, port }
}

/** Where to listen: `{ path }` for a unix socket, `{ host, port }` for TCP. */
export function parseListenAddress(address: string): { path: string } | { host: string; port: number } {
  if (address.startsWith('unix:')) {
    const path = address.startsWith('unix://') ? address.slice('unix://'.length) : address.slice('unix:'.length)
    if (path === '') throw new Error(`no socket path in ${address}`)
    return { path }
  }
  const hp = parseHostPort(address)
  if (hp === undefined) throw new Error(`address must be host:port or unix:path, got ${JSON.stringify(address)}`)
  return hp
}

/**
 * Binds `server` to a TCP `{ host, port }` (port 0 picks one) or a unix socket `{ path }`, and
 * resolves with the TCP port bound (0 on a unix socket). A bind error (EADDRINUSE, EACCES)
 * rejects; errors after that go to `onError`.
 */
export async function listenOn(
  server: Server,
  where: { host: string; port: number } | { path: string },
  onError: (err: Error) => void,
): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(where, () => {
      server.off('error', reject)
      resolve()
    })
  })
  server.on('error', onError)
  const bound = server.address()
  return bound !== null && typeof bound === 'object' ? bound.port : 0
}

/** `host:port` as a URL authority would write it: IPv6 hosts in brackets. */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`
}
