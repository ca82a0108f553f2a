/**
 * The benchmark's HTTP/2 gRPC client against real servers on loopback: grpc-js servers over TCP
 * and a unix socket for the gRPC behaviour, and plain `node:http2` servers (nghttp2) for what
 * grpc-js never sends (padding, RST_STREAM, compressed messages, small flow-control windows,
 * header blocks split into CONTINUATION frames, PING).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import * as http2 from 'node:http2'
import type { ServerHttp2Stream } from 'node:http2'
import { createServer, connect as netConnect } from 'node:net'
import type { Server as NetServer, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Server, ServerCredentials, status as Status } from '@grpc/grpc-js'
import type { sendUnaryData, ServerUnaryCall, ServiceError } from '@grpc/grpc-js'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  decodeGrpcMessage,
  GrpcCallError,
  GrpcStatus,
  H2Client,
} from '../../bench/side-by-side/h2-client.js'

const identity = (b: Buffer): Buffer => b
const method = (name: string) => ({
  path: `/test.Echo/${name}`,
  requestStream: false,
  responseStream: false,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
})

/** `n` bytes that differ from position to position, so a misplaced chunk shows. */
function pattern(n: number, seed = 0): Buffer {
  const b = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed + (i >> 8)) & 0xff
  return b
}

type Handler = (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => void

/** A grpc-js server on loopback TCP and on a unix socket, with the test service. */
interface GrpcFixture {
  server: Server
  tcp: string
  unix: string
  /** Calls to Hold, answered only when the test says so. */
  held: sendUnaryData<Buffer>[]
}

async function startGrpc(
  dir: string,
  name: string,
  options: Record<string, number> = {},
): Promise<GrpcFixture> {
  const held: sendUnaryData<Buffer>[] = []
  const handlers: Record<string, Handler> = {
    Echo: (call, cb) => cb(null, call.request),
    // The request is a uint32 size: the answer is that many pattern bytes.
    Size: (call, cb) => cb(null, pattern(call.request.readUInt32BE(0))),
    // The request is a status code byte and UTF-8 details.
    Fail: (call, cb) =>
      cb({
        code: call.request[0]!,
        details: call.request.subarray(1).toString('utf8'),
      } as ServiceError),
    Hold: (_call, cb) => {
      held.push(cb)
    },
    Delay: (call, cb) => {
      setTimeout(() => cb(null, call.request), 30)
    },
  }
  const server = new Server(options)
  server.addService(Object.fromEntries(Object.keys(handlers).map((k) => [k, method(k)])), handlers)
  const bind = (address: string) =>
    new Promise<number>((resolve, reject) =>
      server.bindAsync(address, ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(err) : resolve(port),
      ),
    )
  const port = await bind('127.0.0.1:0')
  const unix = `unix://${join(dir, `${name}.sock`)}`
  await bind(unix)
  return { server, tcp: `127.0.0.1:${port}`, unix, held }
}

/** The error a promise rejected with; fails the test if it resolved. */
async function rejection(p: Promise<unknown>): Promise<GrpcCallError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err, 'the call should have failed').toBeInstanceOf(GrpcCallError)
  return err as GrpcCallError
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

const failRequest = (code: number, details: string) =>
  Buffer.concat([Buffer.from([code]), Buffer.from(details)])

let dir: string
let grpc: GrpcFixture
const clients: H2Client[] = []

async function connect(
  address: string,
  options?: Parameters<typeof H2Client.connect>[1],
): Promise<H2Client> {
  const c = await H2Client.connect(address, options)
  clients.push(c)
  return c
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-h2-client-'))
  grpc = await startGrpc(dir, 'main')
})

afterEach(() => {
  for (const c of clients.splice(0)) c.close()
})

afterAll(async () => {
  grpc.server.forceShutdown()
  await rm(dir, { recursive: true, force: true })
})

describe.each(['tcp', 'unix'] as const)('H2Client against grpc-js over %s', (transport) => {
  const address = () => grpc[transport]

  it('returns the response message of a unary call', async () => {
    const c = await connect(address())
    const req = pattern(1000, 7)
    expect((await c.unary('/test.Echo/Echo', req)).equals(req)).toBe(true)
    expect(await c.unary('/test.Echo/Echo', Buffer.alloc(0))).toEqual(Buffer.alloc(0))
  })

  it('fails an unknown method with UNIMPLEMENTED and the server message', async () => {
    const c = await connect(address())
    const err = await rejection(c.unary('/test.Echo/Nope', Buffer.from('x')))
    expect(err.code).toBe(GrpcStatus.UNIMPLEMENTED)
    expect(err.details).toBe('The server does not implement the method /test.Echo/Nope')
    expect(err.message).toBe(
      '12 UNIMPLEMENTED: The server does not implement the method /test.Echo/Nope',
    )
    // The connection stays usable.
    expect((await c.unary('/test.Echo/Echo', Buffer.from('ok'))).toString()).toBe('ok')
  })

  it('fails with the status and the percent-decoded message a handler returns', async () => {
    const c = await connect(address())
    const details = 'no access: Grüße, 100% ✓ — 请求 "x"\tend'
    const err = await rejection(
      c.unary('/test.Echo/Fail', failRequest(Status.PERMISSION_DENIED, details)),
    )
    expect(err.code).toBe(GrpcStatus.PERMISSION_DENIED)
    expect(err.details).toBe(details)
    const plain = await rejection(c.unary('/test.Echo/Fail', failRequest(Status.NOT_FOUND, 'gone')))
    expect({ code: plain.code, details: plain.details }).toEqual({
      code: GrpcStatus.NOT_FOUND,
      details: 'gone',
    })
  })

  it('reassembles a response larger than 64 KiB and the max frame size', async () => {
    const c = await connect(address())
    const res = await c.unary('/test.Echo/Size', u32(1_000_000))
    expect(res.length).toBe(1_000_000)
    expect(res.equals(pattern(1_000_000))).toBe(true)
  })

  it('keeps to small receive windows, giving window back as responses arrive', async () => {
    const c = await connect(address(), { initialWindowSize: 65_535, connectionWindowSize: 65_535 })
    const sizes = [300_000, 70_000, 1_000_000, 5]
    const res = await Promise.all(sizes.map((n) => c.unary('/test.Echo/Size', u32(n))))
    for (const [i, n] of sizes.entries())
      expect(res[i]!.equals(pattern(n)), `response ${i}`).toBe(true)
  })

  it('sends a request larger than the server windows (it waits for WINDOW_UPDATE)', async () => {
    const c = await connect(address())
    const req = pattern(1_500_000, 3)
    const [a, b] = await Promise.all([
      c.unary('/test.Echo/Echo', req),
      c.unary('/test.Echo/Echo', req.subarray(0, 200_000)),
    ])
    expect(a.equals(req)).toBe(true)
    expect(b.equals(req.subarray(0, 200_000))).toBe(true)
  })

  it('runs 2000 concurrent calls, each answered with its own response', async () => {
    const c = await connect(address())
    const reqs = Array.from({ length: 2000 }, (_, i) => pattern(200 + (i % 50), i))
    const res = await Promise.all(reqs.map((r) => c.unary('/test.Echo/Echo', r)))
    expect(res.every((r, i) => r.equals(reqs[i]!))).toBe(true)
    expect(c.inFlight).toBe(0)
  })

  it('passes the context to the callback form, asynchronously', async () => {
    const c = await connect(address())
    let sync = true
    const got = await new Promise<[GrpcCallError | null, string | undefined, { n: number }]>(
      (resolve) => {
        c.call(
          '/test.Echo/Echo',
          Buffer.from('cb'),
          (err, res, ctx) => resolve([err, res?.toString(), ctx]),
          { n: 7 },
        )
        sync = false
      },
    )
    expect(sync).toBe(false)
    expect(got).toEqual([null, 'cb', { n: 7 }])
    const failed = await new Promise<GrpcCallError | null>((resolve) =>
      c.call('/test.Echo/Nope', Buffer.alloc(0), (err) => resolve(err), undefined),
    )
    expect(failed?.code).toBe(GrpcStatus.UNIMPLEMENTED)
  })

  it('fails calls in flight, and calls made after, once closed', async () => {
    const c = await connect(address())
    const before = grpc.held.length
    const pending = Array.from({ length: 5 }, () =>
      rejection(c.unary('/test.Echo/Hold', Buffer.alloc(1))),
    )
    await vi.waitFor(() => expect(grpc.held.length).toBe(before + 5))
    c.close()
    for (const err of await Promise.all(pending)) {
      expect(err.code).toBe(GrpcStatus.CANCELLED)
      expect(err.details).toBe('H2Client closed')
    }
    const after = await rejection(c.unary('/test.Echo/Echo', Buffer.alloc(1)))
    expect(after.code).toBe(GrpcStatus.CANCELLED)
    c.close()
  })
})

describe('H2Client when the server goes away', () => {
  it('fails every pending call when the server is shut down mid-flight', async () => {
    const g = await startGrpc(dir, 'force')
    const c = await connect(g.tcp)
    const u = await connect(g.unix)
    const pending = [
      ...Array.from({ length: 20 }, () => rejection(c.unary('/test.Echo/Hold', Buffer.alloc(10)))),
      ...Array.from({ length: 20 }, () => rejection(u.unary('/test.Echo/Hold', Buffer.alloc(10)))),
    ]
    await vi.waitFor(() => expect(g.held.length).toBe(40))
    g.server.forceShutdown()
    const errs = await Promise.all(pending)
    // grpc-js resets the streams it has, then the connection goes: either ends a call.
    for (const err of errs) {
      expect([
        '1 CANCELLED: server reset the stream (RST_STREAM CANCEL)',
        `14 UNAVAILABLE: connection to ${g.tcp} closed`,
        `14 UNAVAILABLE: connection to ${g.unix} closed`,
      ]).toContain(err.message)
    }
    const after = await rejection(c.unary('/test.Echo/Echo', Buffer.alloc(1)))
    expect(after.code).toBe(GrpcStatus.UNAVAILABLE)
  })

  it('fails every pending call when the socket is destroyed mid-flight', async () => {
    // A TCP proxy in front of the server, whose connections the test cuts.
    const sockets: Socket[] = []
    const proxy: NetServer = createServer((down) => {
      const up = netConnect(Number(grpc.tcp.split(':')[1]), '127.0.0.1')
      sockets.push(down, up)
      down.pipe(up).pipe(down)
      down.on('error', () => {})
      up.on('error', () => {})
    })
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
    const port = (proxy.address() as { port: number }).port
    try {
      const c = await connect(`127.0.0.1:${port}`)
      expect((await c.unary('/test.Echo/Echo', Buffer.from('via proxy'))).toString()).toBe(
        'via proxy',
      )
      const before = grpc.held.length
      const pending = Array.from({ length: 30 }, () =>
        rejection(c.unary('/test.Echo/Hold', Buffer.alloc(1))),
      )
      await vi.waitFor(() => expect(grpc.held.length).toBe(before + 30))
      for (const s of sockets) s.destroy()
      for (const err of await Promise.all(pending)) {
        expect(err.code).toBe(GrpcStatus.UNAVAILABLE)
        expect(err.details).toBe(`connection to 127.0.0.1:${port} closed`)
      }
    } finally {
      proxy.close()
    }
  })

  it('lets calls in flight finish on GOAWAY and refuses new ones', async () => {
    const g = await startGrpc(dir, 'goaway')
    const c = await connect(g.tcp)
    const inFlight = Array.from({ length: 10 }, (_, i) =>
      c.unary('/test.Echo/Delay', Buffer.from([i])),
    )
    await new Promise((r) => setTimeout(r, 10))
    const shutdown = new Promise<void>((resolve) => g.server.tryShutdown(() => resolve()))
    await vi.waitFor(async () => {
      const err = await rejection(c.unary('/test.Echo/Echo', Buffer.alloc(1)))
      expect(err.code).toBe(GrpcStatus.UNAVAILABLE)
      expect(err.details).toMatch(/GOAWAY/)
    })
    expect((await Promise.all(inFlight)).map((b) => b[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    await shutdown
  })

  it('queues calls beyond the server MAX_CONCURRENT_STREAMS', async () => {
    const g = await startGrpc(dir, 'limited', { 'grpc.max_concurrent_streams': 3 })
    try {
      const c = await connect(g.tcp)
      const pending = Array.from({ length: 10 }, (_, i) =>
        c.unary('/test.Echo/Hold', Buffer.from([i])),
      )
      // Answering the held calls lets the queued ones through, three at a time.
      let answered = 0
      while (answered < 10) {
        const want = Math.min(answered + 3, 10)
        await vi.waitFor(() => expect(g.held.length).toBe(want))
        // Had the client opened more streams, the server would have refused them, not held them.
        await new Promise((r) => setTimeout(r, 20))
        expect(g.held.length).toBe(want)
        expect(c.inFlight).toBe(want - answered)
        for (const cb of g.held.slice(answered)) cb(null, Buffer.from('ok'))
        answered = want
      }
      const all = await Promise.all(pending)
      expect(all.map((b) => b.toString())).toEqual(Array(10).fill('ok'))
    } finally {
      g.server.forceShutdown()
    }
  })
})

/** A `node:http2` server; `onRequest` gets each stream with its whole request body. */
async function rawServer(
  onRequest: (stream: ServerHttp2Stream, body: Buffer, headers: http2.IncomingHttpHeaders) => void,
  options: http2.ServerOptions = {},
): Promise<{ address: string; server: http2.Http2Server; sessions: http2.ServerHttp2Session[] }> {
  const server = http2.createServer(options)
  const sessions: http2.ServerHttp2Session[] = []
  server.on('session', (s) => sessions.push(s))
  server.on('stream', (stream, headers) => {
    const parts: Buffer[] = []
    stream.on('data', (c: Buffer) => parts.push(c))
    stream.on('end', () => onRequest(stream, Buffer.concat(parts), headers))
    stream.on('error', () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { address: `127.0.0.1:${(server.address() as { port: number }).port}`, server, sessions }
}

/** A gRPC length-prefixed message. */
function grpcFrame(message: Buffer, flag = 0): Buffer {
  const head = Buffer.alloc(5)
  head[0] = flag
  head.writeUInt32BE(message.length, 1)
  return Buffer.concat([head, message])
}

/** Answers like a gRPC server: headers, the message, trailers. */
function answer(
  stream: ServerHttp2Stream,
  message: Buffer,
  extra: http2.OutgoingHttpHeaders = {},
  flag = 0,
): void {
  stream.respond(
    { ':status': 200, 'content-type': 'application/grpc', ...extra },
    { waitForTrailers: true },
  )
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
  stream.end(grpcFrame(message, flag))
}

describe('H2Client against node:http2', () => {
  const servers: http2.Http2Server[] = []
  afterEach(() => {
    for (const s of servers.splice(0)) s.close()
  })
  const start = async (...args: Parameters<typeof rawServer>) => {
    const s = await rawServer(...args)
    servers.push(s.server)
    return s
  }

  it('sends the gRPC request headers and a length-prefixed message', async () => {
    let seen: { headers: http2.IncomingHttpHeaders; body: Buffer } | undefined
    const s = await start((stream, body, headers) => {
      seen = { headers, body }
      answer(stream, Buffer.from('fine'))
    })
    const c = await connect(s.address)
    expect((await c.unary('/pkg.Svc/Do', Buffer.from('abc'))).toString()).toBe('fine')
    expect(seen!.headers).toMatchObject({
      ':method': 'POST',
      ':scheme': 'http',
      ':path': '/pkg.Svc/Do',
      ':authority': s.address,
      'content-type': 'application/grpc',
      te: 'trailers',
    })
    expect(seen!.body).toEqual(grpcFrame(Buffer.from('abc')))
  })

  it('reads padded HEADERS and DATA frames', async () => {
    const s = await start((stream, body) => answer(stream, body.subarray(5)), {
      paddingStrategy: http2.constants.PADDING_STRATEGY_MAX,
    })
    const c = await connect(s.address)
    const req = pattern(40_000, 9)
    expect((await c.unary('/p.S/M', req)).equals(req)).toBe(true)
  })

  it('decodes a header block continued in CONTINUATION frames', async () => {
    const big = 'v'.repeat(30_000) + 'end'
    const s = await start(
      (stream) => answer(stream, Buffer.from('ok'), { 'x-big': big, 'x-also': 'ünï' }),
      {
        maxSendHeaderBlockLength: 100_000,
      },
    )
    const c = await connect(s.address)
    for (let i = 0; i < 3; i++)
      expect((await c.unary('/p.S/M', Buffer.alloc(1))).toString()).toBe('ok')
  })

  it('waits for the server to open its window for large requests', async () => {
    const s = await start((stream, body) => answer(stream, u32(body.length)), {
      settings: { initialWindowSize: 1000 },
    })
    const c = await connect(s.address)
    // 40 × 5 KB: beyond every stream window and the 64 KiB connection window.
    const res = await Promise.all(
      Array.from({ length: 40 }, (_, i) => c.unary('/p.S/M', pattern(5000 + i))),
    )
    expect(res.map((b) => b.readUInt32BE(0))).toEqual(
      Array.from({ length: 40 }, (_, i) => 5005 + i),
    )
  })

  it('fails a call the server resets, and keeps the others', async () => {
    const s = await start((stream, body) => {
      if (body[5] === 1) stream.close(http2.constants.NGHTTP2_REFUSED_STREAM)
      else if (body[5] === 2) stream.close(http2.constants.NGHTTP2_CANCEL)
      else answer(stream, Buffer.from('ok'))
    })
    const c = await connect(s.address)
    const refused = await rejection(c.unary('/p.S/M', Buffer.from([1])))
    expect(refused.code).toBe(GrpcStatus.UNAVAILABLE)
    expect(refused.details).toBe('server reset the stream (RST_STREAM REFUSED_STREAM)')
    expect((await rejection(c.unary('/p.S/M', Buffer.from([2])))).code).toBe(GrpcStatus.CANCELLED)
    expect((await c.unary('/p.S/M', Buffer.from([0]))).toString()).toBe('ok')
  })

  it('rejects a compressed message, a non-200 status, a missing status and a bad content-type', async () => {
    const s = await start((stream, body) => {
      switch (body[5]) {
        case 1:
          return answer(stream, Buffer.from('zzz'), { 'grpc-encoding': 'gzip' }, 1)
        case 2:
          stream.respond({ ':status': 404 })
          return stream.end()
        case 3:
          stream.respond({ ':status': 200, 'content-type': 'application/grpc' })
          return stream.end(grpcFrame(Buffer.from('no trailers')))
        case 4:
          return answer(stream, Buffer.from('x'), { 'content-type': 'text/html' })
        case 5:
          stream.respond(
            { ':status': 200, 'content-type': 'application/grpc' },
            { waitForTrailers: true },
          )
          stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
          return stream.end()
      }
    })
    const c = await connect(s.address)
    const call = (n: number) => rejection(c.unary('/p.S/M', Buffer.from([n])))
    const compressed = await call(1)
    expect(compressed.code).toBe(GrpcStatus.INTERNAL)
    expect(compressed.details).toBe(
      'server sent a compressed message (grpc-encoding gzip); this client does not decompress',
    )
    expect(await call(2)).toMatchObject({
      code: GrpcStatus.UNIMPLEMENTED,
      details: 'HTTP status 404',
    })
    expect(await call(3)).toMatchObject({
      code: GrpcStatus.UNKNOWN,
      details: 'server ended the stream without trailers (no grpc-status)',
    })
    expect(await call(4)).toMatchObject({
      code: GrpcStatus.UNKNOWN,
      details: 'content-type text/html is not application/grpc',
    })
    expect(await call(5)).toMatchObject({
      code: GrpcStatus.INTERNAL,
      details: 'server answered OK without a response message',
    })
  })

  it('rejects a response above maxResponseSize', async () => {
    const s = await start((stream, body) =>
      answer(stream, Buffer.alloc(body[5] === 1 ? 2000 : 1000)),
    )
    const c = await connect(s.address, { maxResponseSize: 1000 })
    expect(await rejection(c.unary('/p.S/M', Buffer.from([1])))).toMatchObject({
      code: GrpcStatus.RESOURCE_EXHAUSTED,
      details: 'response message of 2000 bytes exceeds maxResponseSize 1000',
    })
    // The reset stream's late DATA does not disturb the next call.
    expect((await c.unary('/p.S/M', Buffer.from([0]))).length).toBe(1000)
  })

  it('answers PING', async () => {
    const s = await start((stream) => answer(stream, Buffer.from('ok')))
    const c = await connect(s.address)
    await c.unary('/p.S/M', Buffer.alloc(1))
    const payload = Buffer.from('12345678')
    const acked = await new Promise<Buffer>((resolve, reject) =>
      s.sessions[0]!.ping(payload, (err, _ms, p) => (err ? reject(err) : resolve(p))),
    )
    expect(acked).toEqual(payload)
  })

  it('fails calls when stream ids run out, with a clear error', async () => {
    const s = await start((stream) => answer(stream, Buffer.from('ok')))
    const c = await connect(s.address, { firstStreamId: 2 ** 31 - 5 })
    for (let i = 0; i < 3; i++)
      expect((await c.unary('/p.S/M', Buffer.alloc(1))).toString()).toBe('ok')
    const err = await rejection(c.unary('/p.S/M', Buffer.alloc(1)))
    expect(err.code).toBe(GrpcStatus.UNAVAILABLE)
    expect(err.details).toBe('stream ids of this connection are used up (2^31-1); connect again')
  })
})

describe('H2Client.connect', () => {
  it('fails when nothing listens', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port
        srv.close(() => resolve(p))
      })
    })
    await expect(H2Client.connect(`127.0.0.1:${port}`)).rejects.toThrow(
      new RegExp(`^cannot connect to 127.0.0.1:${port}: .*ECONNREFUSED`),
    )
  })

  it('fails when the server does not speak HTTP/2', async () => {
    const srv = createServer((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'))
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
    try {
      const port = (srv.address() as { port: number }).port
      await expect(H2Client.connect(`127.0.0.1:${port}`)).rejects.toThrow(
        /is it an HTTP\/2 server\?/,
      )
    } finally {
      srv.close()
    }
  })

  it('refuses malformed addresses and options', () => {
    expect(() => H2Client.connect('localhost')).toThrow(TypeError)
    expect(() => H2Client.connect('127.0.0.1:1', { firstStreamId: 2 })).toThrow(/odd stream id/)
    expect(() => H2Client.connect('127.0.0.1:1', { connectionWindowSize: 1000 })).toThrow(
      /connectionWindowSize/,
    )
  })
})

describe('decodeGrpcMessage', () => {
  it('percent-decodes UTF-8 and keeps stray percent signs', () => {
    expect(decodeGrpcMessage('plain text')).toBe('plain text')
    expect(decodeGrpcMessage(encodeURI('Grüße ✓ 100%'))).toBe('Grüße ✓ 100%')
    expect(decodeGrpcMessage('50%off %zz %4')).toBe('50%off %zz %4')
    expect(decodeGrpcMessage('%E4%BD%A0%e5%a5%bd')).toBe('你好')
  })
})
