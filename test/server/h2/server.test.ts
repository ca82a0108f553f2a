/**
 * Verdict's own HTTP/2 gRPC transport (`src/server/h2`), on its own: real clients (grpc-js,
 * node:http2) for interoperability, and hand-made frames on a raw socket for the protocol rules a
 * hostile or broken peer breaks. Each rule answers as RFC 9113 says (GOAWAY with the code, or
 * RST_STREAM), and the server keeps serving other connections afterwards.
 */
import { randomBytes } from 'node:crypto'
import { connect as h2connect, constants as h2c } from 'node:http2'
import type { ClientHttp2Session, IncomingHttpHeaders } from 'node:http2'
import { connect as netConnect } from 'node:net'
import type { Socket } from 'node:net'
import { gzipSync } from 'node:zlib'
import { Client, credentials, Metadata, status as Status } from '@grpc/grpc-js'
import type { ServiceError } from '@grpc/grpc-js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeGrpcMessage, parseGrpcTimeout } from '../../../src/server/h2/connection.js'
import { encodeHeaderBlock, HpackDecoder } from '../../../src/server/h2/hpack.js'
import { listenGrpc } from '../../../src/server/h2/server.js'
import type { GrpcListener, Method, ServerStreamCall } from '../../../src/server/h2/server.js'

const MAX_MESSAGE = 2 << 20

let server: GrpcListener
const handlerErrors: string[] = []
const connectionErrors: string[] = []
const cancelled: string[] = []
let slowRelease: (() => void) | undefined

const methods = new Map<string, Method>([
  [
    '/test.Echo/Chat',
    {
      kind: 'bidi',
      open: (call) => {
        let n = 0
        call.onMessage((m) => call.write(Buffer.concat([Buffer.from(`${++n}:`), m])))
        call.onEnd(() => call.end({ code: n === 0 ? Status.INVALID_ARGUMENT : 0, details: n === 0 ? 'said nothing' : '' }))
      },
    },
  ],
  ['/test.Echo/Echo', { kind: 'unary', handle: (req) => req }],
  ['/test.Echo/Big', { kind: 'unary', handle: (req) => Buffer.alloc(req.readUInt32BE(0), 0x5a) }],
  [
    '/test.Echo/Slow',
    {
      kind: 'unary',
      handle: (req) =>
        new Promise<Uint8Array>((resolve) => {
          slowRelease = () => resolve(req)
          if (req.length > 0 && req[0] === 1) setTimeout(() => resolve(req), 200)
        }),
    },
  ],
  [
    '/test.Echo/Fail',
    {
      kind: 'unary',
      handle: (req) => {
        if (req.toString() === 'status') throw { code: Status.PERMISSION_DENIED, details: 'nein: «no» 100%' }
        throw new Error('handler bug')
      },
    },
  ],
  [
    '/test.Echo/Watch',
    {
      kind: 'server-stream',
      open: (req: Buffer, call: ServerStreamCall) => {
        const n = req.readUInt8(0)
        for (let i = 0; i < n; i++) call.write(Buffer.from([i]))
        if (req.readUInt8(1) === 1) call.end()
        else call.onCancel(() => cancelled.push('watch'))
      },
    },
  ],
])

beforeAll(async () => {
  server = await listenGrpc({
    address: '127.0.0.1:0',
    methods,
    maxMessageBytes: MAX_MESSAGE,
    maxConcurrentStreams: 8,
    maxHeaderListBytes: 4096,
    onConnectionError: (message, fields) => connectionErrors.push(`${message} ${JSON.stringify(fields)}`),
    onHandlerError: (path, error) => handlerErrors.push(`${path}: ${(error as Error).message}`),
  })
})

afterAll(async () => {
  await server?.stop(100)
})

// ---- grpc-js and node:http2 clients ---------------------------------------------------------------

function unary(path: string, bytes: Buffer, options: Record<string, unknown> = {}, deadlineMs?: number): Promise<Buffer> {
  const c = new Client(server.address, credentials.createInsecure(), options)
  return new Promise<Buffer>((resolve, reject) => {
    c.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      bytes,
      new Metadata(),
      deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs },
      (err, res) => (err || !res ? reject(err) : resolve(res)),
    )
  }).finally(() => c.close())
}

function grpcFrame(message: Buffer, compressed = false): Buffer {
  const out = Buffer.alloc(5 + message.length)
  out[0] = compressed ? 1 : 0
  out.writeUInt32BE(message.length, 1)
  message.copy(out, 5)
  return out
}

interface H2Answer {
  headers: IncomingHttpHeaders
  trailers: IncomingHttpHeaders
  body: Buffer
}

function h2request(session: ClientHttp2Session, headers: Record<string, string>, body?: Buffer): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers', ...headers })
    let answer: IncomingHttpHeaders = {}
    let trailers: IncomingHttpHeaders = {}
    const chunks: Buffer[] = []
    req.on('response', (h) => (answer = h))
    req.on('trailers', (t) => (trailers = t))
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve({ headers: answer, trailers, body: Buffer.concat(chunks) }))
    req.on('error', reject)
    req.end(body)
  })
}

describe('h2 transport with real clients', () => {
  it('echoes messages larger than a frame and the default windows, over grpc-js', async () => {
    const big = randomBytes(1_500_000)
    expect((await unary('/test.Echo/Echo', big)).equals(big)).toBe(true)
    const size = Buffer.alloc(4)
    size.writeUInt32BE(300_000)
    const answer = await unary('/test.Echo/Big', size)
    expect(answer.length).toBe(300_000)
    expect(answer.every((b) => b === 0x5a)).toBe(true)
  })

  it('accepts gzip-compressed requests from grpc-js', async () => {
    const msg = Buffer.from('a'.repeat(10_000))
    const out = await unary('/test.Echo/Echo', msg, { 'grpc.default_compression_algorithm': 2 })
    expect(out.equals(msg)).toBe(true)
  })

  it('answers statuses: unknown method, a thrown status (percent-encoded message), a defect as INTERNAL', async () => {
    await expect(unary('/test.Echo/Nope', Buffer.from('x'))).rejects.toMatchObject({ code: Status.UNIMPLEMENTED, details: 'unknown method /test.Echo/Nope' })
    await expect(unary('/test.Echo/Fail', Buffer.from('status'))).rejects.toMatchObject({ code: Status.PERMISSION_DENIED, details: 'nein: «no» 100%' })
    await expect(unary('/test.Echo/Fail', Buffer.from('bug'))).rejects.toMatchObject({ code: Status.INTERNAL, details: 'internal error' })
    expect(handlerErrors).toContain('/test.Echo/Fail: handler bug')
  })

  it('rejects a message over the limit with RESOURCE_EXHAUSTED, compressed or not', async () => {
    await expect(unary('/test.Echo/Echo', Buffer.alloc(MAX_MESSAGE + 1))).rejects.toSatisfy((e: ServiceError) => e.code === Status.RESOURCE_EXHAUSTED)
    // 4 MB of zeros gzip to a few KB: the limit applies to the decompressed size.
    const session = h2connect(`http://${server.address}`)
    try {
      const bomb = gzipSync(Buffer.alloc(2 * MAX_MESSAGE))
      const res = await h2request(session, { ':path': '/test.Echo/Echo', 'grpc-encoding': 'gzip' }, grpcFrame(bomb, true))
      expect(res.headers['grpc-status']).toBe(String(Status.RESOURCE_EXHAUSTED))
    } finally {
      session.close()
    }
  })

  it('answers DEADLINE_EXCEEDED when grpc-timeout passes before an async handler answers', async () => {
    const session = h2connect(`http://${server.address}`)
    try {
      const res = await h2request(session, { ':path': '/test.Echo/Slow', 'grpc-timeout': '50m' }, grpcFrame(Buffer.from([1])))
      expect(res.headers['grpc-status']).toBe(String(Status.DEADLINE_EXCEEDED))
    } finally {
      session.close()
    }
  })

  it('answers non-gRPC requests with an HTTP status: 405 for GET, 415 for another content type', async () => {
    const session = h2connect(`http://${server.address}`)
    try {
      const get = await h2request(session, { ':method': 'GET', ':path': '/test.Echo/Echo' })
      expect(get.headers[':status']).toBe(405)
      const json = await h2request(session, { ':path': '/test.Echo/Echo', 'content-type': 'application/json' }, Buffer.from('{}'))
      expect(json.headers[':status']).toBe(415)
      // The connection still serves gRPC.
      const ok = await h2request(session, { ':path': '/test.Echo/Echo' }, grpcFrame(Buffer.from('hi')))
      expect(ok.trailers['grpc-status']).toBe('0')
      expect(ok.body.subarray(5).toString()).toBe('hi')
    } finally {
      session.close()
    }
  })

  it('respects a client that grants a tiny window: the answer waits for WINDOW_UPDATEs', async () => {
    const session = h2connect(`http://${server.address}`, { settings: { initialWindowSize: 16 } })
    try {
      const size = Buffer.alloc(4)
      size.writeUInt32BE(50_000)
      const res = await h2request(session, { ':path': '/test.Echo/Big' }, grpcFrame(size))
      expect(res.trailers['grpc-status']).toBe('0')
      expect(res.body.length).toBe(50_005)
      expect(res.body.readUInt32BE(1)).toBe(50_000)
    } finally {
      session.close()
    }
  })

  it('streams server-streaming messages and tells the handler when the client cancels', async () => {
    const session = h2connect(`http://${server.address}`)
    try {
      const done = await h2request(session, { ':path': '/test.Echo/Watch' }, grpcFrame(Buffer.from([3, 1])))
      expect(done.trailers['grpc-status']).toBe('0')
      expect([...done.body]).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 2])
      const req = session.request({ ':method': 'POST', ':path': '/test.Echo/Watch', 'content-type': 'application/grpc' })
      req.end(grpcFrame(Buffer.from([2, 0])))
      await new Promise<void>((resolve) => {
        let got = 0
        req.on('data', (c: Buffer) => {
          got += c.length
          if (got >= 12) resolve()
        })
      })
      req.close(h2c.NGHTTP2_CANCEL)
      await waitUntil(() => cancelled.includes('watch'))
    } finally {
      session.close()
    }
  })

  it('streams both ways: each message is answered before the client sends the next', async () => {
    const session = h2connect(`http://${server.address}`)
    try {
      const req = session.request({ ':method': 'POST', ':path': '/test.Echo/Chat', 'content-type': 'application/grpc', te: 'trailers' })
      let trailers: IncomingHttpHeaders = {}
      req.on('trailers', (t) => (trailers = t))
      const received: string[] = []
      let pending = Buffer.alloc(0)
      const next = () =>
        new Promise<string>((resolve) => {
          const take = (): boolean => {
            if (pending.length < 5 || pending.length < 5 + pending.readUInt32BE(1)) return false
            const n = pending.readUInt32BE(1)
            const m = pending.subarray(5, 5 + n).toString()
            pending = pending.subarray(5 + n)
            received.push(m)
            resolve(m)
            return true
          }
          if (take()) return
          const onData = (c: Buffer) => {
            pending = Buffer.concat([pending, c])
            if (take()) req.off('data', onData)
          }
          req.on('data', onData)
        })
      // Two messages in one DATA frame, then one split over two writes.
      req.write(Buffer.concat([grpcFrame(Buffer.from('a')), grpcFrame(Buffer.from('b'))]))
      expect(await next()).toBe('1:a')
      expect(await next()).toBe('2:b')
      const c = grpcFrame(Buffer.from('ccc'))
      req.write(c.subarray(0, 3))
      await new Promise((r) => setTimeout(r, 20))
      req.write(c.subarray(3))
      expect(await next()).toBe('3:ccc')
      const ended = new Promise((resolve) => req.on('end', resolve))
      req.on('data', () => {})
      req.end()
      await ended
      expect(trailers['grpc-status']).toBe('0')
      // Headers and END_STREAM at once: the handler still learns the stream ended.
      const empty = await h2request(session, { ':path': '/test.Echo/Chat' })
      expect(empty.headers['grpc-status'] ?? empty.trailers['grpc-status']).toBe(String(Status.INVALID_ARGUMENT))
      // A partial message when the client ends is INTERNAL.
      const partial = await h2request(session, { ':path': '/test.Echo/Chat' }, grpcFrame(Buffer.from('xyz')).subarray(0, 6))
      expect(partial.headers['grpc-status'] ?? partial.trailers['grpc-status']).toBe(String(Status.INTERNAL))
    } finally {
      session.close()
    }
  })

  it('finishes calls in flight on stop, and refuses new connections', async () => {
    const own = await listenGrpc({
      address: '127.0.0.1:0',
      methods,
      maxMessageBytes: 1024,
      onConnectionError: () => {},
      onHandlerError: () => {},
    })
    const session = h2connect(`http://${own.address}`)
    slowRelease = undefined
    const inFlight = h2request(session, { ':path': '/test.Echo/Slow' }, grpcFrame(Buffer.from([0, 7])))
    await waitUntil(() => slowRelease !== undefined)
    const stopped = own.stop(5000)
    slowRelease!()
    const res = await inFlight
    expect(res.trailers['grpc-status']).toBe('0')
    expect([...res.body.subarray(5)]).toEqual([0, 7])
    await stopped
    session.close()
    await expect(
      new Promise((resolve, reject) => {
        const s = netConnect(own.port, '127.0.0.1')
        s.on('connect', () => resolve(s.destroy()))
        s.on('error', reject)
      }),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' })
  })
})

describe('gRPC header values', () => {
  it('reads grpc-timeout in every unit, rounding sub-millisecond ones up, and ignores malformed ones', () => {
    expect(parseGrpcTimeout('2H')).toBe(7_200_000)
    expect(parseGrpcTimeout('3M')).toBe(180_000)
    expect(parseGrpcTimeout('5S')).toBe(5000)
    expect(parseGrpcTimeout('250m')).toBe(250)
    expect(parseGrpcTimeout('1500u')).toBe(2)
    expect(parseGrpcTimeout('1n')).toBe(1)
    for (const bad of ['', '5', 'S', '123456789S', '-1S', '1.5S', '5s']) expect(parseGrpcTimeout(bad), bad).toBe(0)
  })

  it('percent-encodes grpc-message as UTF-8 outside printable ASCII, and the percent sign', () => {
    expect(encodeGrpcMessage('plain text')).toBe('plain text')
    expect(encodeGrpcMessage('100% «ok»\n')).toBe('100%25 %C2%ABok%C2%BB%0A')
    expect(encodeGrpcMessage('x'.repeat(5000))).toHaveLength(1024)
  })
})

// ---- raw frames ---------------------------------------------------------------------------------

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')

function frame(type: number, flags: number, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9)
  h.writeUIntBE(payload.length, 0, 3)
  h[3] = type
  h[4] = flags
  h.writeUInt32BE(id, 5)
  return Buffer.concat([h, payload])
}

const T = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST: 3, SETTINGS: 4, PUSH: 5, PING: 6, GOAWAY: 7, WINDOW: 8, CONT: 9 }
const END_STREAM = 1
const END_HEADERS = 4
const PADDED = 8

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

function setting(key: number, value: number): Buffer {
  const b = Buffer.alloc(6)
  b.writeUInt16BE(key)
  b.writeUInt32BE(value, 2)
  return b
}

function requestHeaders(path: string, extra: [string, string][] = []): Buffer {
  return encodeHeaderBlock([[':method', 'POST'], [':scheme', 'http'], [':path', path], ['content-type', 'application/grpc'], ['te', 'trailers'], ...extra])
}

/** A literal header field without indexing, with a literal name: written by hand, any bytes. */
function literal(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0, name.length]), Buffer.from(name, 'latin1'), Buffer.from([value.length]), Buffer.from(value, 'latin1')])
}

interface Frame {
  type: number
  flags: number
  id: number
  payload: Buffer
}

/** A raw HTTP/2 client connection that records every frame the server sends. */
class Raw {
  readonly socket: Socket
  readonly frames: Frame[] = []
  readonly hpack = new HpackDecoder()
  closed = false
  #buf = Buffer.alloc(0)

  constructor(socket: Socket) {
    this.socket = socket
    socket.on('data', (chunk: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, chunk])
      while (this.#buf.length >= 9) {
        const len = this.#buf.readUIntBE(0, 3)
        if (this.#buf.length < 9 + len) break
        this.frames.push({ type: this.#buf[3]!, flags: this.#buf[4]!, id: this.#buf.readUInt32BE(5) & 0x7fffffff, payload: this.#buf.subarray(9, 9 + len) })
        this.#buf = this.#buf.subarray(9 + len)
      }
    })
    socket.on('close', () => (this.closed = true))
    socket.on('error', () => {})
  }

  static async open(settings: Buffer[] = []): Promise<Raw> {
    const socket = netConnect(server.port, '127.0.0.1')
    await new Promise((resolve) => socket.once('connect', resolve))
    const raw = new Raw(socket)
    raw.send(PREFACE, frame(T.SETTINGS, 0, 0, Buffer.concat(settings)))
    return raw
  }

  send(...bufs: Buffer[]): void {
    this.socket.write(Buffer.concat(bufs))
  }

  async goaway(): Promise<{ code: number; debug: string }> {
    const f = await this.next((f) => f.type === T.GOAWAY)
    await waitUntil(() => this.closed)
    return { code: f.payload.readUInt32BE(4), debug: f.payload.subarray(8).toString() }
  }

  async next(pred: (f: Frame) => boolean): Promise<Frame> {
    await waitUntil(() => this.frames.some(pred))
    return this.frames.find(pred)!
  }

  /** Header fields of a HEADERS frame, decoded in order with every other HEADERS seen so far. */
  headersOf(f: Frame): Record<string, string> {
    const n = this.hpack.decode(f.payload, 0, f.payload.length)
    const out: Record<string, string> = {}
    for (let i = 0; i < n; i++) out[this.hpack.headers[2 * i]!] = this.hpack.headers[2 * i + 1]!
    return out
  }

  /** The gRPC status a stream ended with (from its last HEADERS frame). */
  async status(id: number): Promise<Record<string, string>> {
    const end = await this.next((f) => f.id === id && f.type === T.HEADERS && (f.flags & END_STREAM) !== 0)
    // Decode every HEADERS frame up to it, in order: the decoder's table follows the stream of blocks.
    let fields: Record<string, string> = {}
    for (const f of this.frames) {
      if (f.type !== T.HEADERS) continue
      const h = this.headersOf(f)
      if (f === end) fields = h
    }
    return fields
  }

  close(): void {
    this.socket.destroy()
  }
}

async function waitUntil(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** A new connection still gets answers: the server survived whatever came before. */
async function stillServes(): Promise<void> {
  expect((await unary('/test.Echo/Echo', Buffer.from('alive'))).toString()).toBe('alive')
}

describe('h2 transport against hand-made frames', () => {
  it('answers SETTINGS with an ACK and PING with the same payload', async () => {
    const raw = await Raw.open()
    const ping = Buffer.from('12345678')
    raw.send(frame(T.PING, 0, 0, ping))
    const ack = await raw.next((f) => f.type === T.PING)
    expect(ack.flags & 1).toBe(1)
    expect(ack.payload.equals(ping)).toBe(true)
    expect(raw.frames.some((f) => f.type === T.SETTINGS && f.flags === 1)).toBe(true)
    // The server's own SETTINGS come first and name its limits.
    const own = raw.frames.find((f) => f.type === T.SETTINGS && f.flags === 0)!
    const values = new Map<number, number>()
    for (let p = 0; p < own.payload.length; p += 6) values.set(own.payload.readUInt16BE(p), own.payload.readUInt32BE(p + 2))
    expect(values.get(3)).toBe(8)
    expect(values.get(2)).toBe(0)
    raw.close()
  })

  it('serves a request written one byte at a time, in padded frames and several DATA frames', async () => {
    const socket = netConnect(server.port, '127.0.0.1')
    await new Promise((resolve) => socket.once('connect', resolve))
    const raw = new Raw(socket)
    const block = requestHeaders('/test.Echo/Echo')
    const padded = Buffer.concat([Buffer.from([3]), block, Buffer.alloc(3)])
    const body = grpcFrame(Buffer.from('split message'))
    const bytes = Buffer.concat([
      PREFACE,
      frame(T.SETTINGS, 0, 0),
      frame(T.HEADERS, END_HEADERS | PADDED, 1, padded),
      frame(T.DATA, PADDED, 1, Buffer.concat([Buffer.from([2]), body.subarray(0, 7), Buffer.alloc(2)])),
      frame(T.DATA, END_STREAM, 1, body.subarray(7)),
    ])
    for (const b of bytes) {
      socket.write(Buffer.from([b]))
      await new Promise((r) => setImmediate(r))
    }
    const fields = await raw.status(1)
    expect(fields['grpc-status']).toBe('0')
    const data = raw.frames.filter((f) => f.id === 1 && f.type === T.DATA)
    expect(Buffer.concat(data.map((f) => f.payload)).subarray(5).toString()).toBe('split message')
    raw.close()
  })

  it('decodes a header block spread over CONTINUATION frames', async () => {
    const raw = await Raw.open()
    const block = requestHeaders('/test.Echo/Echo', [['x-filler', 'f'.repeat(300)]])
    raw.send(
      frame(T.HEADERS, 0, 1, block.subarray(0, 10)),
      frame(T.CONT, 0, 1, block.subarray(10, 100)),
      frame(T.CONT, END_HEADERS, 1, block.subarray(100)),
      frame(T.DATA, END_STREAM, 1, grpcFrame(Buffer.from('c'))),
    )
    expect((await raw.status(1))['grpc-status']).toBe('0')
    raw.close()
  })

  const connectionErrorsCases: [string, () => Buffer[], number][] = [
    ['a frame larger than SETTINGS_MAX_FRAME_SIZE', () => [frame(T.DATA, 0, 1, Buffer.alloc(16_385))], 0x6],
    ['HEADERS on an even (server) stream id', () => [frame(T.HEADERS, END_HEADERS | END_STREAM, 2, requestHeaders('/test.Echo/Echo'))], 0x1],
    ['a header block HPACK cannot decode', () => [frame(T.HEADERS, END_HEADERS, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))], 0x9],
    ['a header block interrupted by PING', () => [frame(T.HEADERS, 0, 1, requestHeaders('/x').subarray(0, 3)), frame(T.PING, 0, 0, Buffer.alloc(8))], 0x1],
    ['CONTINUATION without HEADERS', () => [frame(T.CONT, END_HEADERS, 1, Buffer.alloc(1))], 0x1],
    ['DATA on a stream never opened', () => [frame(T.DATA, 0, 5, Buffer.alloc(4))], 0x1],
    ['DATA on stream 0', () => [frame(T.DATA, 0, 0, Buffer.alloc(4))], 0x1],
    ['PUSH_PROMISE from a client', () => [frame(T.PUSH, END_HEADERS, 1, Buffer.alloc(4))], 0x1],
    ['RST_STREAM on a stream never opened', () => [frame(T.RST, 0, 9, u32(8))], 0x1],
    ['a WINDOW_UPDATE of 0 on the connection', () => [frame(T.WINDOW, 0, 0, u32(0))], 0x1],
    ['a connection window past 2^31-1', () => [frame(T.WINDOW, 0, 0, u32(0x7fffffff))], 0x3],
    ['a SETTINGS payload that is not a multiple of 6', () => [frame(T.SETTINGS, 0, 0, Buffer.alloc(5))], 0x6],
    ['SETTINGS_ENABLE_PUSH of 2', () => [frame(T.SETTINGS, 0, 0, setting(2, 2))], 0x1],
    ['SETTINGS_MAX_FRAME_SIZE below 16384', () => [frame(T.SETTINGS, 0, 0, setting(5, 100))], 0x1],
    ['SETTINGS_INITIAL_WINDOW_SIZE past 2^31-1', () => [frame(T.SETTINGS, 0, 0, setting(4, 0x80000000))], 0x3],
    ['a PING that is not 8 bytes', () => [frame(T.PING, 0, 0, Buffer.alloc(7))], 0x6],
    ['a header block over 64 KiB in CONTINUATION frames', () => [frame(T.HEADERS, 0, 1, Buffer.alloc(10)), ...Array.from({ length: 5 }, () => frame(T.CONT, 0, 1, Buffer.alloc(16_000)))], 0xb],
  ]

  it.each(connectionErrorsCases)('closes the connection with GOAWAY on %s', async (_, frames, code) => {
    const raw = await Raw.open()
    raw.send(...frames())
    expect((await raw.goaway()).code).toBe(code)
    await stillServes()
  })

  it('closes a connection whose preface is not HTTP/2 (an HTTP/1.1 request, say)', async () => {
    const socket = netConnect(server.port, '127.0.0.1')
    await new Promise((resolve) => socket.once('connect', resolve))
    const raw = new Raw(socket)
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    expect((await raw.goaway()).code).toBe(0x1)
  })

  it('closes a connection whose first frame is not SETTINGS', async () => {
    const socket = netConnect(server.port, '127.0.0.1')
    await new Promise((resolve) => socket.once('connect', resolve))
    const raw = new Raw(socket)
    raw.send(PREFACE, frame(T.PING, 0, 0, Buffer.alloc(8)))
    expect((await raw.goaway()).code).toBe(0x1)
  })

  it('resets malformed requests (stream errors) and keeps the connection serving', async () => {
    const raw = await Raw.open()
    const cases: Buffer[] = [
      encodeHeaderBlock([[':method', 'POST'], [':scheme', 'http'], ['content-type', 'application/grpc']]), // no :path
      Buffer.concat([requestHeaders('/test.Echo/Echo'), literal('X-Upper', 'v')]), // encodeHeaderBlock refuses uppercase
      requestHeaders('/test.Echo/Echo', [['connection', 'keep-alive']]),
      encodeHeaderBlock([[':method', 'POST'], ['content-type', 'application/grpc'], [':path', '/test.Echo/Echo'], [':scheme', 'http']]), // pseudo after regular
      requestHeaders('/test.Echo/Echo', [[':protocol', 'x']]),
    ]
    cases.forEach((block, i) => raw.send(frame(T.HEADERS, END_HEADERS | END_STREAM, 1 + 2 * i, block)))
    for (let i = 0; i < cases.length; i++) {
      const rst = await raw.next((f) => f.type === T.RST && f.id === 1 + 2 * i)
      expect(rst.payload.readUInt32BE(0), `case ${i}`).toBe(0x1)
    }
    raw.send(frame(T.HEADERS, END_HEADERS, 11, requestHeaders('/test.Echo/Echo')), frame(T.DATA, END_STREAM, 11, grpcFrame(Buffer.from('ok'))))
    expect((await raw.status(11))['grpc-status']).toBe('0')
    raw.close()
  })

  it('answers bad gRPC bodies with INTERNAL and too many headers with RESOURCE_EXHAUSTED', async () => {
    const raw = await Raw.open()
    const send = (id: number, body: Buffer, extra: [string, string][] = []): void =>
      raw.send(frame(T.HEADERS, END_HEADERS, id, requestHeaders('/test.Echo/Echo', extra)), frame(T.DATA, END_STREAM, id, body))
    send(1, Buffer.alloc(0))
    send(3, Buffer.concat([grpcFrame(Buffer.from('a')), grpcFrame(Buffer.from('b'))]))
    send(5, grpcFrame(Buffer.from('x'), true))
    send(7, Buffer.from([0, 0, 0, 0, 9, 1]))
    send(9, grpcFrame(Buffer.from('x')), [['x-big', 'v'.repeat(5000)]])
    send(11, grpcFrame(Buffer.from('x')), [['grpc-encoding', 'snappy']])
    send(13, Buffer.from([7, 0, 0, 0, 1, 1]))
    const expected: [number, number, RegExp][] = [
      [1, Status.INTERNAL, /no request message/],
      [3, Status.INTERNAL, /more than one request message/],
      [5, Status.INTERNAL, /compressed message without grpc-encoding/],
      [7, Status.INTERNAL, /incomplete request message/],
      [9, Status.RESOURCE_EXHAUSTED, /request headers larger than max/],
      [11, Status.UNIMPLEMENTED, /unsupported grpc-encoding snappy/],
      [13, Status.INTERNAL, /invalid message compression flag/],
    ]
    // status() decodes every HEADERS frame so far, in order; ask once, after the last stream ended.
    await raw.next((f) => f.id === 13 && f.type === T.HEADERS)
    await waitUntil(() => expected.every(([id]) => raw.frames.some((f) => f.id === id && f.type === T.HEADERS)))
    const byStream = new Map<number, Record<string, string>>()
    for (const f of raw.frames) if (f.type === T.HEADERS) byStream.set(f.id, raw.headersOf(f))
    for (const [id, code, message] of expected) {
      expect(byStream.get(id)?.['grpc-status'], `stream ${id}`).toBe(String(code))
      expect(decodeURIComponent(byStream.get(id)?.['grpc-message'] ?? ''), `stream ${id}`).toMatch(message)
    }
    raw.close()
  })

  it('refuses streams past SETTINGS_MAX_CONCURRENT_STREAMS', async () => {
    const raw = await Raw.open()
    // Nine open streams (no END_STREAM) against a limit of eight.
    for (let i = 0; i < 9; i++) raw.send(frame(T.HEADERS, END_HEADERS, 1 + 2 * i, requestHeaders('/test.Echo/Echo')))
    const rst = await raw.next((f) => f.type === T.RST)
    expect(rst.id).toBe(17)
    expect(rst.payload.readUInt32BE(0)).toBe(0x7)
    // Finishing one of the eight frees a slot.
    raw.send(frame(T.DATA, END_STREAM, 1, grpcFrame(Buffer.from('1'))))
    expect((await raw.status(1))['grpc-status']).toBe('0')
    raw.send(frame(T.HEADERS, END_HEADERS, 19, requestHeaders('/test.Echo/Echo')), frame(T.DATA, END_STREAM, 19, grpcFrame(Buffer.from('2'))))
    await raw.next((f) => f.id === 19 && f.type === T.HEADERS && (f.flags & END_STREAM) !== 0)
    raw.close()
  })

  it('tells a client that resets streams as fast as it opens them to calm down (rapid reset)', async () => {
    const raw = await Raw.open()
    const bufs: Buffer[] = []
    for (let i = 0; i < 1100; i++) {
      const id = 1 + 2 * i
      bufs.push(frame(T.HEADERS, END_HEADERS, id, requestHeaders('/test.Echo/Echo')), frame(T.RST, 0, id, u32(8)))
    }
    raw.send(...bufs)
    expect((await raw.goaway()).code).toBe(0xb)
    await stillServes()
  })

  it('waits for window before sending DATA, then sends the rest and the trailers', async () => {
    const raw = await Raw.open([setting(4, 10)])
    const size = Buffer.alloc(4)
    size.writeUInt32BE(100)
    raw.send(frame(T.HEADERS, END_HEADERS, 1, requestHeaders('/test.Echo/Big')), frame(T.DATA, END_STREAM, 1, grpcFrame(size)))
    await raw.next((f) => f.type === T.DATA && f.id === 1)
    await new Promise((r) => setTimeout(r, 50))
    const sent = () => raw.frames.filter((f) => f.type === T.DATA && f.id === 1).reduce((n, f) => n + f.payload.length, 0)
    expect(sent()).toBe(10)
    expect(raw.frames.some((f) => f.id === 1 && f.type === T.HEADERS && (f.flags & END_STREAM) !== 0)).toBe(false)
    raw.send(frame(T.WINDOW, 0, 1, u32(200)))
    expect((await raw.status(1))['grpc-status']).toBe('0')
    expect(sent()).toBe(105)
    raw.close()
  })

  it('bounds the unfinished request bytes a connection holds over all its streams', async () => {
    const own = await listenGrpc({
      address: '127.0.0.1:0',
      methods,
      maxMessageBytes: 10_000,
      maxBufferedBytes: 25_000,
      onConnectionError: () => {},
      onHandlerError: () => {},
    })
    try {
      const socket = netConnect(own.port, '127.0.0.1')
      await new Promise((resolve) => socket.once('connect', resolve))
      const raw = new Raw(socket)
      raw.send(PREFACE, frame(T.SETTINGS, 0, 0))
      // Three streams each send 9 000 bytes of a 9 995-byte message and stop: the third crosses 25 000.
      const head = Buffer.alloc(5)
      head.writeUInt32BE(9_995, 1)
      for (const id of [1, 3, 5]) {
        raw.send(frame(T.HEADERS, END_HEADERS, id, requestHeaders('/test.Echo/Echo')), frame(T.DATA, 0, id, Buffer.concat([head, Buffer.alloc(8_995)])))
      }
      expect((await raw.status(5))['grpc-status']).toBe(String(Status.RESOURCE_EXHAUSTED))
      // Finishing the first two still works: what the refused stream held was released.
      raw.send(frame(T.DATA, END_STREAM, 1, Buffer.alloc(1_000)), frame(T.DATA, END_STREAM, 3, Buffer.alloc(1_000)))
      await raw.next((f) => f.id === 3 && f.type === T.HEADERS && (f.flags & END_STREAM) !== 0)
      await raw.next((f) => f.id === 1 && f.type === T.HEADERS && (f.flags & END_STREAM) !== 0)
      const ended = raw.frames.filter((f) => f.type === T.HEADERS && (f.flags & END_STREAM) !== 0)
      const statuses = new Map<number, string>()
      for (const f of raw.frames) if (f.type === T.HEADERS) statuses.set(f.id, raw.headersOf(f)['grpc-status'] ?? '')
      expect(ended.length).toBe(3)
      expect(statuses.get(1)).toBe('0')
      expect(statuses.get(3)).toBe('0')
      raw.close()
    } finally {
      await own.stop(100)
    }
  })

  it('survives random bytes after a valid preface on many connections', async () => {
    for (let i = 0; i < 200; i++) {
      const raw = await Raw.open()
      // Random frames: a valid header with a random type, flags, stream and payload, or noise.
      const noise = i % 2 === 0 ? randomBytes(1 + (i % 97)) : frame(i % 12, (i * 7) & 0xff, (i * 13) % 9, randomBytes(i % 40))
      raw.send(noise)
      await new Promise((r) => setTimeout(r, 1))
      raw.close()
    }
    await stillServes()
    expect(handlerErrors.filter((e) => e.startsWith('(connection)'))).toEqual([])
  })

  it('survives valid requests with random bytes changed, never failing inside', async () => {
    const valid = Buffer.concat([
      frame(T.HEADERS, END_HEADERS, 1, requestHeaders('/test.Echo/Echo', [['grpc-timeout', '1S']])),
      frame(T.DATA, 0, 1, grpcFrame(Buffer.from('first half')).subarray(0, 8)),
      frame(T.DATA, END_STREAM, 1, grpcFrame(Buffer.from('first half')).subarray(8)),
      frame(T.WINDOW, 0, 0, u32(1000)),
      frame(T.HEADERS, END_HEADERS | END_STREAM, 3, requestHeaders('/test.Echo/Watch')),
      frame(T.RST, 0, 3, u32(8)),
      frame(T.PING, 0, 0, Buffer.alloc(8)),
    ])
    const raws: Raw[] = []
    for (let i = 0; i < 300; i++) {
      const mutated = Buffer.from(valid)
      for (let k = 0; k < 1 + (i % 4); k++) mutated[(i * 31 + k * 97) % mutated.length] = randomBytes(1)[0]!
      const raw = await Raw.open()
      raw.send(mutated)
      raws.push(raw)
    }
    await new Promise((r) => setTimeout(r, 100))
    for (const raw of raws) raw.close()
    await stillServes()
    expect(handlerErrors.filter((e) => e.startsWith('(connection)'))).toEqual([])
  })
})
