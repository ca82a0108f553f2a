/**
 * The operations HTTP listener over real loopback sockets: routes, methods, readiness, and
 * malformed requests that must be answered 400 without taking the listener down.
 */
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger, METRICS_CONTENT_TYPE, parseHostPort, startHttpServer } from '../../src/server/index.js'
import type { HttpServerHandle } from '../../src/server/index.js'

let server: HttpServerHandle
let ready = false
let scrapes = 0
const logs: string[] = []

beforeAll(async () => {
  server = await startHttpServer({
    address: '127.0.0.1:0',
    logger: createLogger({ level: 'info', stream: { write: (l: string) => logs.push(l) } as never }),
    metrics: () => {
      scrapes++
      if (scrapes === 3) throw new Error('collector broke')
      return '# HELP x_total x\n# TYPE x_total counter\nx_total 1\n'
    },
    readiness: () => ({ ready, body: { revision: ready ? 'r1' : null } }),
  })
})
afterAll(() => server?.stop())

const url = (path: string) => `http://${server.address}${path}`

/** Sends raw bytes and resolves with everything the server answered before closing. */
function rawRequest(bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(server.port, '127.0.0.1')
    let out = ''
    sock.on('data', (b) => (out += b.toString()))
    sock.on('error', reject)
    sock.on('close', () => resolve(out))
    sock.write(bytes)
  })
}

describe('startHttpServer', () => {
  it('serves /healthz, /metrics and /readyz with GET and HEAD', async () => {
    const health = await fetch(url('/healthz'))
    expect(health.status).toBe(200)
    expect(await health.text()).toBe('ok\n')

    const metrics = await fetch(url('/metrics?name[]=x'))
    expect(metrics.status).toBe(200)
    expect(metrics.headers.get('content-type')).toBe(METRICS_CONTENT_TYPE)
    expect(await metrics.text()).toContain('x_total 1')

    const head = await fetch(url('/metrics'), { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(0)
    expect(await head.text()).toBe('')
  })

  it('answers /readyz 503 until ready, then 200, with the revision', async () => {
    ready = false
    const before = await fetch(url('/readyz'))
    expect(before.status).toBe(503)
    expect(await before.json()).toEqual({ ready: false, revision: null })
    ready = true
    const after = await fetch(url('/readyz'))
    expect(after.status).toBe(200)
    expect(await after.json()).toEqual({ ready: true, revision: 'r1' })
  })

  it('answers 404 for unknown paths and 405 for other methods', async () => {
    expect((await fetch(url('/'))).status).toBe(404)
    expect((await fetch(url('/metrics/extra'))).status).toBe(404)
    expect((await fetch(url('/nope'), { method: 'POST', body: 'x' })).status).toBe(404)
    const post = await fetch(url('/metrics'), { method: 'POST', body: 'x' })
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toBe('GET, HEAD')
    expect((await fetch(url('/readyz'), { method: 'DELETE' })).status).toBe(405)
  })

  it('answers a failing collector 500 and keeps serving', async () => {
    while (scrapes < 2) await fetch(url('/metrics'))
    const broken = await fetch(url('/metrics'))
    expect(broken.status).toBe(500)
    expect(logs.some((l) => l.includes('http handler failed'))).toBe(true)
    expect((await fetch(url('/metrics'))).status).toBe(200)
  })

  it('answers malformed requests 400 and keeps serving', async () => {
    expect(await rawRequest('NOT HTTP AT ALL\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/)
    expect(await rawRequest(`GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 (400|431)/)
    expect(await rawRequest('GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/)
    expect(await rawRequest('\u0000\u0001\u0002garbage\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/)
    expect((await fetch(url('/healthz'))).status).toBe(200)
  })

  it('refuses an address that is not host:port', async () => {
    expect(parseHostPort('[::1]:9464')).toEqual({ host: '::1', port: 9464 })
    expect(parseHostPort('0.0.0.0:0')).toEqual({ host: '0.0.0.0', port: 0 })
    for (const bad of ['9464', 'localhost', 'a:b', 'h:70000', 'unix:///x.sock']) expect(parseHostPort(bad)).toBeUndefined()
    await expect(startHttpServer({ address: 'nope', logger: createLogger({ level: 'error' }), metrics: () => '', readiness: () => ({ ready: true, body: {} }) })).rejects.toThrow(TypeError)
  })
})
