/**
 * A minimal gRPC client for unary calls over HTTP/2 (RFC 9113), written directly on a
 * `net.Socket`, for the load workers of the side-by-side benchmark. There the grpc-js client
 * spent about 200 µs of CPU per call and a client on `node:http2` about 125 µs, against 80 µs
 * for the echo server being measured: on a 2-core machine the load generator, not the server,
 * capped throughput.
 *
 * Scope: cleartext HTTP/2 with prior knowledge (no TLS), unary calls without metadata,
 * compression, deadlines or retries, one connection that is never re-established. Within that
 * it aims to be correct: it honours the server's SETTINGS (MAX_CONCURRENT_STREAMS, queueing calls
 * beyond it; MAX_FRAME_SIZE; INITIAL_WINDOW_SIZE) and flow-control windows, decodes every
 * response header block (hpack.ts), checks `:status`, `content-type` and `grpc-status` on every
 * call, and fails calls, never leaves them hanging, on RST_STREAM, GOAWAY and a lost connection.
 *
 * What keeps it cheap: the request header block is encoded once per path; all frames written in
 * one tick go to the socket in one write, from a slab that is reused whenever the kernel took
 * the previous write whole; reads land in one reused buffer (`onread`); calls in flight sit in
 * an array indexed by stream id; the receive windows are large and given back in bulk.
 *
 * @module
 */
import { connect as netConnect } from 'node:net'
import type { Socket } from 'node:net'
import { encodeHeaderBlock, HpackDecoder } from '../../src/server/h2/hpack.js'

/** gRPC status codes (the subset of names a reader of an error needs is all of them). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const
/** One of {@link GrpcStatus}. */
export type GrpcStatus = (typeof GrpcStatus)[keyof typeof GrpcStatus]

const STATUS_NAMES = Object.keys(GrpcStatus)

/** A call that did not end with status OK and one response message. */
export class GrpcCallError extends Error {
  /** The gRPC status code (a {@link GrpcStatus}, or whatever number the server sent). */
  readonly code: number
  /** The server's `grpc-message`, percent-decoded, or the client's own explanation. */
  readonly details: string

  constructor(code: number, details: string) {
    super(`${code} ${STATUS_NAMES[code] ?? 'UNKNOWN'}: ${details}`)
    this.name = 'GrpcCallError'
    this.code = code
    this.details = details
  }
}

/** Options of {@link H2Client.connect}. */
export interface H2ClientOptions {
  /**
   * SETTINGS_INITIAL_WINDOW_SIZE the client advertises: how much of one response the server may
   * send before the client gives window back. Default 16 MiB, e.g. `65535` to see flow control
   * at work.
   */
  initialWindowSize?: number
  /** The connection's receive window, set by a WINDOW_UPDATE at the start. Default 64 MiB. */
  connectionWindowSize?: number
  /** Largest response message accepted (larger fails RESOURCE_EXHAUSTED). Default 4 MiB. */
  maxResponseSize?: number
  /** How long to wait for the connection and the server's first SETTINGS, in ms. Default 10000. */
  connectTimeoutMs?: number
  /** The first stream id (odd). Default 1; tests start near 2^31 to reach stream-id exhaustion. */
  firstStreamId?: number
}

/** The defaults of {@link H2ClientOptions}. */
export function defaultH2ClientOptions(): Required<H2ClientOptions> {
  return {
    initialWindowSize: 16 * 1024 * 1024,
    connectionWindowSize: 64 * 1024 * 1024,
    maxResponseSize: 4 * 1024 * 1024,
    connectTimeoutMs: 10_000,
    firstStreamId: 1,
  }
}

/**
 * Called once per call with the error or the response message, and the `context` the call was
 * made with (so one function can serve every call, with no closure per call). It runs inside the
 * client's socket callback: it may start new calls, and must not throw.
 */
export type UnaryCallback<T> = (
  err: GrpcCallError | null,
  response: Buffer | undefined,
  context: T,
) => void

// Frame types, flags, settings and error codes (RFC 9113 §6, §7, §11).
const DATA = 0x0
const HEADERS = 0x1
const PRIORITY = 0x2
const RST_STREAM = 0x3
const SETTINGS = 0x4
const PUSH_PROMISE = 0x5
const PING = 0x6
const GOAWAY = 0x7
const WINDOW_UPDATE = 0x8
const CONTINUATION = 0x9

const FLAG_END_STREAM = 0x1
const FLAG_ACK = 0x1
const FLAG_END_HEADERS = 0x4
const FLAG_PADDED = 0x8
const FLAG_PRIORITY = 0x20

const SETTINGS_ENABLE_PUSH = 0x2
const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4
const SETTINGS_MAX_FRAME_SIZE = 0x5

const NO_ERROR = 0x0
const PROTOCOL_ERROR = 0x1
const FLOW_CONTROL_ERROR = 0x3
const FRAME_SIZE_ERROR = 0x6
const REFUSED_STREAM = 0x7
const CANCEL = 0x8
const COMPRESSION_ERROR = 0x9
const ENHANCE_YOUR_CALM = 0xb
const INADEQUATE_SECURITY = 0xc

const ERROR_NAMES = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
]
const errorName = (code: number): string => ERROR_NAMES[code] ?? `error 0x${code.toString(16)}`

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')
const MAX_WINDOW = 2 ** 31 - 1
const MAX_STREAM_ID = 2 ** 31 - 1
/** The most the client accepts in one frame: the default SETTINGS_MAX_FRAME_SIZE, never raised. */
const MAX_RECV_FRAME = 16_384
/** A header block split over CONTINUATION frames larger than this ends the connection. */
const MAX_HEADER_BLOCK = 1024 * 1024
const SLAB_SIZE = 64 * 1024
/** Request payload slices larger than this are handed to the socket as they are, not copied. */
const COPY_LIMIT = 16 * 1024
const READ_BUFFER_SIZE = 64 * 1024
const EMPTY = Buffer.alloc(0)

/** One call, from submission to its callback. */
class Call {
  id = 0
  readonly headerBlock: Buffer
  readonly message: Buffer
  /** Octets of the request's DATA payload: the 5-byte gRPC prefix and the message. */
  readonly total: number
  readonly callback: UnaryCallback<unknown> | undefined
  readonly context: unknown
  resolve: ((response: Buffer) => void) | undefined = undefined
  reject: ((err: GrpcCallError) => void) | undefined = undefined
  /** Octets of the DATA payload sent so far. */
  sent = 0
  sendWindow = 0
  /** Waiting in the blocked list for flow-control window. */
  blocked = false
  done = false
  /** The response's first header block has arrived. */
  started = false
  // The response message, assembled across DATA frames.
  prefixLeft = 5
  compressed = false
  length = 0
  body: Buffer = EMPTY
  bodyPos = 0
  messages = 0
  encoding = ''
  /** DATA octets received on this stream and not yet given back by WINDOW_UPDATE. */
  unacked = 0

  constructor(
    headerBlock: Buffer,
    message: Buffer,
    callback: UnaryCallback<unknown> | undefined,
    context: unknown,
  ) {
    this.headerBlock = headerBlock
    this.message = message
    this.total = 5 + message.length
    this.callback = callback
    this.context = context
  }
}

/**
 * Completes a call that never reached the wire. Run from setImmediate, not nextTick: a caller that
 * retries at once on failure (a load lane) must not starve I/O while the connection is gone.
 */
function refuse(call: Call, err: GrpcCallError): void {
  settle(call, err, undefined)
}

function settle(call: Call, err: GrpcCallError | null, response: Buffer | undefined): void {
  if (call.callback !== undefined) call.callback(err, response, call.context)
  else if (err !== null) call.reject!(err)
  else call.resolve!(response!)
}

/**
 * Decodes a `grpc-message` value: percent-encoded UTF-8 (gRPC over HTTP/2, "Responses"). A `%`
 * not followed by two hex digits is kept as it is, as the spec asks.
 */
export function decodeGrpcMessage(value: string): string {
  let plain = true
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c === 0x25 || c > 0x7e) {
      plain = false
      break
    }
  }
  if (plain) return value
  const bytes = Buffer.from(value, 'latin1')
  const out = Buffer.allocUnsafe(bytes.length)
  let n = 0
  for (let i = 0; i < bytes.length; i++) {
    const hi = i + 2 < bytes.length ? hexValue(bytes[i + 1]!) : -1
    const lo = hi >= 0 ? hexValue(bytes[i + 2]!) : -1
    if (bytes[i] === 0x25 && lo >= 0) {
      out[n++] = hi * 16 + lo
      i += 2
    } else {
      out[n++] = bytes[i]!
    }
  }
  return out.toString('utf8', 0, n)
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x41 && c <= 0x46) return c - 0x37
  if (c >= 0x61 && c <= 0x66) return c - 0x57
  return -1
}

/** The gRPC status for a response whose `:status` is not 200 (gRPC's HTTP-to-gRPC mapping). */
function statusForHttp(status: string): number {
  switch (status) {
    case '400':
      return GrpcStatus.INTERNAL
    case '401':
      return GrpcStatus.UNAUTHENTICATED
    case '403':
      return GrpcStatus.PERMISSION_DENIED
    case '404':
      return GrpcStatus.UNIMPLEMENTED
    case '429':
    case '502':
    case '503':
    case '504':
      return GrpcStatus.UNAVAILABLE
    default:
      return GrpcStatus.UNKNOWN
  }
}

/** The gRPC status for a stream the server reset (gRPC's HTTP/2-error mapping). */
function statusForReset(code: number): number {
  switch (code) {
    case REFUSED_STREAM:
      return GrpcStatus.UNAVAILABLE
    case CANCEL:
      return GrpcStatus.CANCELLED
    case ENHANCE_YOUR_CALM:
      return GrpcStatus.RESOURCE_EXHAUSTED
    case INADEQUATE_SECURITY:
      return GrpcStatus.PERMISSION_DENIED
    default:
      return GrpcStatus.INTERNAL
  }
}

/** Where to connect, from a gRPC target: `host:port`, `[v6]:port`, `unix:///abs` or `unix:rel`. */
function parseAddress(
  address: string,
): { path: string; authority: string } | { host: string; port: number; authority: string } {
  if (address.startsWith('unix:')) {
    const path = address.startsWith('unix://') ? address.slice(7) : address.slice(5)
    if (path === '') throw new TypeError(`no socket path in ${address}`)
    // grpc-js sends this authority over unix sockets too.
    return { path, authority: 'localhost' }
  }
  const colon = address.lastIndexOf(':')
  const port = Number(address.slice(colon + 1))
  let host = address.slice(0, colon)
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1)
  if (colon <= 0 || !Number.isInteger(port) || port < 1 || port > 65535)
    throw new TypeError(`address must be host:port or unix:///path, got ${JSON.stringify(address)}`)
  return { host, port, authority: address }
}

/**
 * One HTTP/2 connection to a gRPC server, for unary calls.
 *
 * @example
 * ```ts
 * const client = await H2Client.connect('127.0.0.1:50051')
 * const answer = await client.unary('/verdict.v1.Authorizer/Check', requestBytes)
 * client.close()
 * ```
 */
export class H2Client {
  /** The address this client was connected to. */
  readonly address: string
  readonly #socket: Socket
  readonly #authority: string
  readonly #hpack = new HpackDecoder()
  readonly #blocks = new Map<string, Buffer>()
  readonly #recvWindow: number
  readonly #connWindow: number
  readonly #maxResponse: number
  // What the server's SETTINGS and WINDOW_UPDATEs allow.
  #peerMaxStreams = Infinity
  #peerMaxFrame = 16_384
  #peerInitialWindow = 65_535
  #connSendWindow = 65_535
  // Streams: calls in flight in a ring indexed by stream id / 2; calls waiting for a stream slot;
  // calls waiting for flow-control window.
  #nextId: number
  #slots: (Call | undefined)[]
  #mask: number
  #active = 0
  #waiting: (Call | undefined)[] = []
  #waitHead = 0
  #blocked: Call[] = []
  #connUnacked = 0
  // Reading: a frame cut by the end of a read waits in #partial.
  readonly #readBuf = Buffer.allocUnsafeSlow(READ_BUFFER_SIZE)
  readonly #partial = Buffer.allocUnsafeSlow(9 + MAX_RECV_FRAME)
  #partialLen = 0
  // A header block continued in CONTINUATION frames.
  #contId = 0
  #contEnd = false
  #contParts: Buffer[] = []
  #contLen = 0
  // Writing: frames go into #slab; [#slabStart, #slabPos) is not yet handed to the socket.
  #slab = Buffer.allocUnsafeSlow(SLAB_SIZE)
  #slabStart = 0
  #slabPos = 0
  #chunks: Buffer[] = []
  #flushScheduled = false
  readonly #flushNow = (): void => this.#flush()
  // Life cycle.
  #gotSettings = false
  #ready: { resolve: (c: H2Client) => void; reject: (err: Error) => void } | undefined
  #readyTimer: NodeJS.Timeout | undefined
  /** Why no new stream may start (GOAWAY, stream ids used up), while the last calls finish. */
  #draining: string | undefined
  /** Set once the connection is unusable: every call, pending or new, fails with it. */
  #closed: GrpcCallError | undefined
  #socketError: Error | undefined
  #socketGone = false

  private constructor(address: string, o: Required<H2ClientOptions>) {
    const where = parseAddress(address)
    this.address = address
    this.#authority = where.authority
    this.#recvWindow = o.initialWindowSize
    this.#connWindow = o.connectionWindowSize
    this.#maxResponse = o.maxResponseSize
    this.#nextId = o.firstStreamId
    this.#slots = new Array<Call | undefined>(1024).fill(undefined)
    this.#mask = 1023
    const onread = {
      buffer: this.#readBuf,
      callback: (n: number): boolean => {
        this.#onRead(n)
        return true
      },
    }
    this.#socket =
      'path' in where
        ? netConnect({ path: where.path, onread })
        : netConnect({ host: where.host, port: where.port, onread, noDelay: true })
    this.#socket.on('error', (err) => {
      this.#socketError = err
    })
    this.#socket.on('close', () => {
      this.#socketGone = true
      const why = this.#socketError ? `: ${this.#socketError.message}` : ''
      const what = this.#gotSettings
        ? `connection to ${this.address} closed`
        : `connection closed before the server's HTTP/2 SETTINGS arrived`
      this.#shutdown(new GrpcCallError(GrpcStatus.UNAVAILABLE, what + why), false)
    })
    // Client preface: the magic, our SETTINGS, and the connection window beyond the default.
    this.#ensure(PREFACE.length + 9 + 12 + 13)
    this.#slabPos += PREFACE.copy(this.#slab, this.#slabPos)
    this.#frameHeader(12, SETTINGS, 0, 0)
    this.#setting(SETTINGS_ENABLE_PUSH, 0)
    this.#setting(SETTINGS_INITIAL_WINDOW_SIZE, this.#recvWindow)
    if (this.#connWindow > 65_535) this.#windowUpdate(0, this.#connWindow - 65_535)
    this.#scheduleFlush()
  }

  /**
   * Connects to a gRPC server (`host:port` or `unix:///path`) and resolves once the server's
   * SETTINGS have arrived.
   *
   * @example
   * ```ts
   * const client = await H2Client.connect('unix:///tmp/verdict.sock')
   * ```
   */
  static connect(address: string, options: H2ClientOptions = {}): Promise<H2Client> {
    const o = { ...defaultH2ClientOptions(), ...options }
    const window = (k: 'initialWindowSize' | 'connectionWindowSize', min: number) => {
      if (!Number.isInteger(o[k]) || o[k] < min || o[k] > MAX_WINDOW)
        throw new TypeError(`${k} must be an integer from ${min} to 2^31-1, got ${o[k]}`)
    }
    window('initialWindowSize', 0)
    window('connectionWindowSize', 65_535)
    if (
      !Number.isInteger(o.firstStreamId) ||
      o.firstStreamId % 2 !== 1 ||
      o.firstStreamId > MAX_STREAM_ID
    )
      throw new TypeError(`firstStreamId must be an odd stream id, got ${o.firstStreamId}`)
    const client = new H2Client(address, o)
    return new Promise((resolve, reject) => {
      client.#ready = { resolve, reject }
      client.#readyTimer = setTimeout(
        () =>
          client.#shutdown(
            new GrpcCallError(
              GrpcStatus.UNAVAILABLE,
              `no HTTP/2 SETTINGS from ${address} within ${o.connectTimeoutMs} ms`,
            ),
            true,
          ),
        o.connectTimeoutMs,
      )
    })
  }

  /** Calls in flight (streams open), not counting calls queued for a stream slot. */
  get inFlight(): number {
    return this.#active
  }

  /**
   * Makes a unary call: sends `message` (serialized, uncompressed) to `path`
   * (`/package.Service/Method`) and resolves with the one response message, or rejects with a
   * {@link GrpcCallError}.
   */
  unary(path: string, message: Buffer): Promise<Buffer> {
    const call = new Call(this.#blockFor(path), message, undefined, undefined)
    return new Promise((resolve, reject) => {
      call.resolve = resolve
      call.reject = reject
      this.#submit(call)
    })
  }

  /**
   * Makes a unary call like {@link unary}, with a callback instead of a promise: `callback(err,
   * response, context)` runs once, never synchronously from this method.
   */
  call<T>(path: string, message: Buffer, callback: UnaryCallback<T>, context: T): void {
    this.#submit(
      new Call(this.#blockFor(path), message, callback as UnaryCallback<unknown>, context),
    )
  }

  /**
   * Closes the connection: tells the server (GOAWAY), fails the calls in flight or queued with
   * CANCELLED, and refuses new ones.
   */
  close(): void {
    if (this.#closed !== undefined) return
    this.#goaway(NO_ERROR, '')
    this.#shutdown(new GrpcCallError(GrpcStatus.CANCELLED, 'H2Client closed'), true)
  }

  #blockFor(path: string): Buffer {
    let block = this.#blocks.get(path)
    if (block === undefined) {
      if (!path.startsWith('/')) throw new TypeError(`gRPC path must start with '/', got ${path}`)
      block = encodeHeaderBlock([
        [':method', 'POST'],
        [':scheme', 'http'],
        [':path', path],
        [':authority', this.#authority],
        ['content-type', 'application/grpc'],
        ['te', 'trailers'],
      ])
      this.#blocks.set(path, block)
    }
    return block
  }

  #submit(call: Call): void {
    if (this.#closed !== undefined) {
      setImmediate(refuse, call, this.#closed)
    } else if (this.#draining !== undefined) {
      setImmediate(refuse, call, new GrpcCallError(GrpcStatus.UNAVAILABLE, this.#draining))
    } else if (this.#active >= this.#peerMaxStreams || this.#waitHead < this.#waiting.length) {
      this.#waiting.push(call)
    } else {
      this.#start(call)
    }
  }

  /** Opens a stream for the call and writes its HEADERS and as much DATA as the windows allow. */
  #start(call: Call): void {
    if (this.#nextId > MAX_STREAM_ID) {
      this.#draining = 'stream ids of this connection are used up (2^31-1); connect again'
      this.#drainWaiting()
      setImmediate(refuse, call, new GrpcCallError(GrpcStatus.UNAVAILABLE, this.#draining))
      if (this.#active === 0)
        this.#shutdown(new GrpcCallError(GrpcStatus.UNAVAILABLE, this.#draining), true)
      return
    }
    const id = this.#nextId
    this.#nextId += 2
    call.id = id
    this.#insert(call)
    this.#active++
    call.sendWindow = this.#peerInitialWindow
    const block = call.headerBlock
    if (block.length <= this.#peerMaxFrame) {
      this.#ensure(9 + block.length)
      this.#frameHeader(block.length, HEADERS, FLAG_END_HEADERS, id)
      this.#slabPos += block.copy(this.#slab, this.#slabPos)
    } else {
      for (let off = 0; off < block.length; off += this.#peerMaxFrame) {
        const n = Math.min(this.#peerMaxFrame, block.length - off)
        const last = off + n === block.length
        this.#ensure(9 + n)
        this.#frameHeader(n, off === 0 ? HEADERS : CONTINUATION, last ? FLAG_END_HEADERS : 0, id)
        this.#slabPos += block.copy(this.#slab, this.#slabPos, off, off + n)
      }
    }
    this.#sendData(call)
    this.#scheduleFlush()
  }

  /** Writes DATA frames for the call while the windows allow; parks it in #blocked otherwise. */
  #sendData(call: Call): void {
    while (call.sent < call.total) {
      let n = call.total - call.sent
      if (n > this.#peerMaxFrame) n = this.#peerMaxFrame
      if (n > this.#connSendWindow) n = this.#connSendWindow
      if (n > call.sendWindow) n = call.sendWindow
      if (n <= 0) {
        if (!call.blocked) {
          call.blocked = true
          this.#blocked.push(call)
        }
        return
      }
      const end = call.sent + n === call.total
      this.#ensure(9 + Math.min(n, 5 + COPY_LIMIT))
      this.#frameHeader(n, DATA, end ? FLAG_END_STREAM : 0, call.id)
      const slab = this.#slab
      const message = call.message
      let off = call.sent
      let left = n
      // The gRPC prefix: not compressed, then the message length as 4 octets.
      for (; off < 5 && left > 0; off++, left--)
        slab[this.#slabPos++] = off === 0 ? 0 : (message.length >>> (8 * (4 - off))) & 0xff
      if (left > COPY_LIMIT) {
        this.#seal()
        this.#chunks.push(message.subarray(off - 5, off - 5 + left))
      } else if (left > 0) {
        this.#slabPos += message.copy(slab, this.#slabPos, off - 5, off - 5 + left)
      }
      call.sent += n
      call.sendWindow -= n
      this.#connSendWindow -= n
    }
  }

  /** Retries the calls that waited for window, in the order they began waiting. */
  #resumeBlocked(): void {
    if (this.#blocked.length === 0) return
    const list = this.#blocked
    this.#blocked = []
    for (const call of list) {
      call.blocked = false
      if (!call.done) this.#sendData(call)
    }
    this.#scheduleFlush()
  }

  /** Starts queued calls while the server's stream limit allows; closes a drained connection. */
  #pump(): void {
    while (
      this.#waitHead < this.#waiting.length &&
      this.#active < this.#peerMaxStreams &&
      this.#closed === undefined &&
      this.#draining === undefined
    ) {
      const call = this.#waiting[this.#waitHead]!
      this.#waiting[this.#waitHead++] = undefined
      this.#start(call)
    }
    if (this.#waitHead > 0 && this.#waitHead === this.#waiting.length) {
      this.#waiting = []
      this.#waitHead = 0
    }
    if (this.#draining !== undefined && this.#active === 0 && this.#closed === undefined)
      this.#shutdown(new GrpcCallError(GrpcStatus.UNAVAILABLE, this.#draining), true)
  }

  /** Fails every queued call (not yet on the wire) with the draining reason. */
  #drainWaiting(): void {
    const queued = this.#waiting.slice(this.#waitHead) as Call[]
    this.#waiting = []
    this.#waitHead = 0
    const err = new GrpcCallError(GrpcStatus.UNAVAILABLE, this.#draining!)
    for (const call of queued) settle(call, err, undefined)
  }

  // --- the stream table -------------------------------------------------------------------

  #lookup(id: number): Call | undefined {
    const c = this.#slots[(id >>> 1) & this.#mask]
    return c !== undefined && c.id === id ? c : undefined
  }

  #insert(call: Call): void {
    while (this.#slots[(call.id >>> 1) & this.#mask] !== undefined) this.#grow()
    this.#slots[(call.id >>> 1) & this.#mask] = call
  }

  /** Doubles the ring until every call in flight has a slot of its own. */
  #grow(): void {
    const live = this.#slots.filter((c): c is Call => c !== undefined)
    let size = this.#slots.length
    for (;;) {
      size *= 2
      const slots = new Array<Call | undefined>(size).fill(undefined)
      const mask = size - 1
      let clash = false
      for (const c of live) {
        const slot = (c.id >>> 1) & mask
        if (slots[slot] !== undefined) clash = true
        slots[slot] = c
      }
      if (!clash) {
        this.#slots = slots
        this.#mask = mask
        return
      }
    }
  }

  /** Ends a call: frees its stream, starts queued calls, then runs its callback. */
  #finish(
    call: Call,
    err: GrpcCallError | null,
    response: Buffer | undefined,
    serverEnded: boolean,
  ): void {
    if (call.done) return
    call.done = true
    this.#slots[(call.id >>> 1) & this.#mask] = undefined
    this.#active--
    // A stream the server has not ended, or whose request we have not finished, is reset so
    // neither side keeps state for it.
    if (!serverEnded || call.sent < call.total) this.#rstStream(call.id, CANCEL)
    this.#pump()
    settle(call, err, response)
  }

  /** Fails a call whose response broke the gRPC protocol, resetting its stream. */
  #abort(call: Call, code: number, details: string, serverEnded: boolean): void {
    this.#finish(call, new GrpcCallError(code, details), undefined, serverEnded)
  }

  // --- reading ------------------------------------------------------------------------------

  #onRead(n: number): void {
    if (this.#closed !== undefined) return
    const buf = this.#readBuf
    let p = 0
    if (this.#partialLen > 0) p = this.#fillPartial(buf, n)
    while (n - p >= 9 && this.#closed === undefined) {
      const len = (buf[p]! << 16) | (buf[p + 1]! << 8) | buf[p + 2]!
      if (len > MAX_RECV_FRAME) return this.#frameTooLarge(len)
      if (n - p - 9 < len) break
      this.#frame(buf, p, len)
      p += 9 + len
    }
    if (p < n && this.#closed === undefined) {
      this.#partialLen = buf.copy(this.#partial, 0, p, n)
    }
  }

  /** Completes the frame cut by the previous read; returns how much of `buf` it took. */
  #fillPartial(buf: Buffer, n: number): number {
    const part = this.#partial
    let p = 0
    if (this.#partialLen < 9) {
      const take = Math.min(9 - this.#partialLen, n)
      buf.copy(part, this.#partialLen, 0, take)
      this.#partialLen += take
      p = take
      if (this.#partialLen < 9) return p
    }
    const len = (part[0]! << 16) | (part[1]! << 8) | part[2]!
    if (len > MAX_RECV_FRAME) {
      this.#frameTooLarge(len)
      return n
    }
    const take = Math.min(9 + len - this.#partialLen, n - p)
    buf.copy(part, this.#partialLen, p, p + take)
    this.#partialLen += take
    p += take
    if (this.#partialLen === 9 + len) {
      this.#partialLen = 0
      this.#frame(part, 0, len)
    }
    return p
  }

  #frameTooLarge(len: number): void {
    this.#connectionError(
      FRAME_SIZE_ERROR,
      this.#gotSettings
        ? `frame of ${len} octets exceeds SETTINGS_MAX_FRAME_SIZE ${MAX_RECV_FRAME}`
        : `the server's first bytes are not an HTTP/2 SETTINGS frame (is it an HTTP/2 server?)`,
    )
  }

  /** Handles one complete frame: header at `buf[p]`, payload of `len` octets after it. */
  #frame(buf: Buffer, p: number, len: number): void {
    const type = buf[p + 3]!
    const flags = buf[p + 4]!
    const id = ((buf[p + 5]! & 0x7f) << 24) | (buf[p + 6]! << 16) | (buf[p + 7]! << 8) | buf[p + 8]!
    const s = p + 9
    const e = s + len
    if (this.#contId !== 0 && type !== CONTINUATION)
      return this.#connectionError(PROTOCOL_ERROR, `frame type ${type} inside a header block`)
    if (!this.#gotSettings && type !== SETTINGS)
      return this.#connectionError(
        PROTOCOL_ERROR,
        `the server's first frame is type ${type}, not SETTINGS (is it an HTTP/2 server?)`,
      )
    switch (type) {
      case DATA:
        return this.#onData(buf, flags, id, s, e)
      case HEADERS:
        return this.#onHeaders(buf, flags, id, s, e)
      case CONTINUATION:
        return this.#onContinuation(buf, flags, id, s, e)
      case SETTINGS:
        return this.#onSettings(buf, flags, id, s, e)
      case WINDOW_UPDATE:
        return this.#onWindowUpdate(buf, id, s, e)
      case PING:
        if (id !== 0 || len !== 8)
          return this.#connectionError(
            len !== 8 ? FRAME_SIZE_ERROR : PROTOCOL_ERROR,
            'malformed PING',
          )
        if ((flags & FLAG_ACK) === 0) {
          this.#ensure(17)
          this.#frameHeader(8, PING, FLAG_ACK, 0)
          this.#slabPos += buf.copy(this.#slab, this.#slabPos, s, e)
          this.#scheduleFlush()
        }
        return
      case RST_STREAM:
        return this.#onRstStream(buf, id, s, e)
      case GOAWAY:
        return this.#onGoaway(buf, id, s, e)
      case PUSH_PROMISE:
        return this.#connectionError(
          PROTOCOL_ERROR,
          'PUSH_PROMISE although the client disabled push',
        )
      case PRIORITY:
      default:
        // PRIORITY is advisory; unknown frame types must be ignored (RFC 9113 §4.1).
        return
    }
  }

  #onData(buf: Buffer, flags: number, id: number, s: number, e: number): void {
    if (id === 0) return this.#connectionError(PROTOCOL_ERROR, 'DATA on stream 0')
    // Flow control counts the whole payload, padding included, whatever becomes of the stream.
    const len = e - s
    this.#connUnacked += len
    if (this.#connUnacked >= this.#connWindow >>> 1) {
      this.#windowUpdate(0, this.#connUnacked)
      this.#connUnacked = 0
      this.#scheduleFlush()
    }
    if (flags & FLAG_PADDED) {
      const pad = len > 0 ? buf[s]! : 0
      if (len === 0 || pad >= len)
        return this.#connectionError(PROTOCOL_ERROR, 'DATA padding longer than its frame')
      s++
      e -= pad
    }
    const call = this.#lookup(id)
    if (call === undefined) {
      if (id >= this.#nextId || (id & 1) === 0)
        this.#connectionError(PROTOCOL_ERROR, `DATA on stream ${id}, which the client never opened`)
      // Otherwise a stream this client already reset: the frame was in flight.
      return
    }
    const end = (flags & FLAG_END_STREAM) !== 0
    if (!end) {
      call.unacked += len
      if (call.unacked >= this.#recvWindow >>> 1) {
        this.#windowUpdate(id, call.unacked)
        call.unacked = 0
        this.#scheduleFlush()
      }
    }
    if (!call.started)
      return this.#abort(call, GrpcStatus.INTERNAL, 'server sent DATA before response headers', end)
    if (e > s && !this.#onMessageBytes(call, buf, s, e, end)) return
    if (end)
      this.#abort(
        call,
        GrpcStatus.UNKNOWN,
        'server ended the stream without trailers (no grpc-status)',
        true,
      )
  }

  /** Adds DATA payload to the call's response message; false if that failed the call. */
  #onMessageBytes(call: Call, buf: Buffer, p: number, e: number, end: boolean): boolean {
    while (p < e) {
      if (call.prefixLeft > 0) {
        if (call.messages > 0) {
          this.#abort(
            call,
            GrpcStatus.INTERNAL,
            'server sent more than one message on a unary call',
            end,
          )
          return false
        }
        if (call.prefixLeft === 5 && e - p >= 5) {
          call.compressed = buf[p]! !== 0
          call.length = buf.readUInt32BE(p + 1)
          call.prefixLeft = 0
          p += 5
        } else {
          const b = buf[p++]!
          if (call.prefixLeft === 5) call.compressed = b !== 0
          else call.length = call.length * 256 + b
          call.prefixLeft--
        }
        if (call.prefixLeft > 0) continue
        if (call.compressed) {
          const enc = call.encoding === '' ? 'no grpc-encoding' : `grpc-encoding ${call.encoding}`
          this.#abort(
            call,
            GrpcStatus.INTERNAL,
            `server sent a compressed message (${enc}); this client does not decompress`,
            end,
          )
          return false
        }
        if (call.length > this.#maxResponse) {
          this.#abort(
            call,
            GrpcStatus.RESOURCE_EXHAUSTED,
            `response message of ${call.length} bytes exceeds maxResponseSize ${this.#maxResponse}`,
            end,
          )
          return false
        }
        call.body = call.length === 0 ? EMPTY : Buffer.allocUnsafe(call.length)
        call.bodyPos = 0
      }
      const take = Math.min(e - p, call.length - call.bodyPos)
      if (take > 0) {
        buf.copy(call.body, call.bodyPos, p, p + take)
        call.bodyPos += take
        p += take
      }
      if (call.bodyPos === call.length) {
        call.messages++
        call.prefixLeft = 5
        call.length = 0
      }
    }
    return true
  }

  #onHeaders(buf: Buffer, flags: number, id: number, s: number, e: number): void {
    if (id === 0) return this.#connectionError(PROTOCOL_ERROR, 'HEADERS on stream 0')
    if (flags & FLAG_PADDED) {
      const pad = e > s ? buf[s]! : 0
      s++
      e -= pad
    }
    if (flags & FLAG_PRIORITY) s += 5
    if (e < s)
      return this.#connectionError(
        PROTOCOL_ERROR,
        'HEADERS padding or priority longer than its frame',
      )
    const end = (flags & FLAG_END_STREAM) !== 0
    if (flags & FLAG_END_HEADERS) return this.#onHeaderBlock(id, end, buf, s, e)
    this.#contId = id
    this.#contEnd = end
    this.#contParts = [Buffer.from(buf.subarray(s, e))]
    this.#contLen = e - s
  }

  #onContinuation(buf: Buffer, flags: number, id: number, s: number, e: number): void {
    if (this.#contId === 0 || id !== this.#contId)
      return this.#connectionError(
        PROTOCOL_ERROR,
        `CONTINUATION on stream ${id} outside a header block`,
      )
    this.#contParts.push(Buffer.from(buf.subarray(s, e)))
    this.#contLen += e - s
    if (this.#contLen > MAX_HEADER_BLOCK)
      return this.#connectionError(
        ENHANCE_YOUR_CALM,
        `header block larger than ${MAX_HEADER_BLOCK} octets`,
      )
    if ((flags & FLAG_END_HEADERS) === 0) return
    const block = Buffer.concat(this.#contParts, this.#contLen)
    this.#contId = 0
    this.#contParts = []
    this.#onHeaderBlock(id, this.#contEnd, block, 0, block.length)
  }

  /** A complete header block: the response headers, trailers, or a trailers-only response. */
  #onHeaderBlock(id: number, end: boolean, buf: Buffer, s: number, e: number): void {
    let n: number
    try {
      // Decoded whatever the stream's state, to keep the table in step with the server's.
      n = this.#hpack.decode(buf, s, e)
    } catch (err) {
      return this.#connectionError(
        COMPRESSION_ERROR,
        err instanceof Error ? err.message : String(err),
      )
    }
    const call = this.#lookup(id)
    if (call === undefined) {
      if (id >= this.#nextId || (id & 1) === 0)
        this.#connectionError(
          PROTOCOL_ERROR,
          `HEADERS on stream ${id}, which the client never opened`,
        )
      return
    }
    const h = this.#hpack.headers
    let status = ''
    let contentType = ''
    let grpcStatus = ''
    let grpcMessage = ''
    for (let i = 0; i < 2 * n; i += 2) {
      switch (h[i]) {
        case ':status':
          status = h[i + 1]!
          break
        case 'content-type':
          contentType = h[i + 1]!
          break
        case 'grpc-status':
          grpcStatus = h[i + 1]!
          break
        case 'grpc-message':
          grpcMessage = h[i + 1]!
          break
        case 'grpc-encoding':
          call.encoding = h[i + 1]!
          break
      }
    }
    if (!call.started) {
      call.started = true
      if (status !== '200') {
        const code = status === '' ? GrpcStatus.INTERNAL : statusForHttp(status)
        return this.#abort(
          call,
          code,
          status === '' ? 'response without :status' : `HTTP status ${status}`,
          end,
        )
      }
      // Trailers-only: the status comes in the one header block.
      if (end) return this.#complete(call, grpcStatus, grpcMessage)
      if (!contentType.startsWith('application/grpc'))
        return this.#abort(
          call,
          GrpcStatus.UNKNOWN,
          `content-type ${contentType || '(none)'} is not application/grpc`,
          false,
        )
      return
    }
    if (!end) return this.#abort(call, GrpcStatus.INTERNAL, 'trailers without END_STREAM', false)
    this.#complete(call, grpcStatus, grpcMessage)
  }

  /** The server ended the stream with this status: the call's outcome. */
  #complete(call: Call, grpcStatus: string, grpcMessage: string): void {
    if (grpcStatus === '0') {
      if (call.messages === 1) return this.#finish(call, null, call.body, true)
      const why =
        call.prefixLeft < 5 || call.bodyPos > 0
          ? 'stream ended inside the response message'
          : 'server answered OK without a response message'
      return this.#abort(call, GrpcStatus.INTERNAL, why, true)
    }
    if (grpcStatus === '')
      return this.#abort(call, GrpcStatus.UNKNOWN, 'response without grpc-status', true)
    const code = Number(grpcStatus)
    if (!Number.isInteger(code) || code < 0)
      return this.#abort(
        call,
        GrpcStatus.UNKNOWN,
        `invalid grpc-status ${JSON.stringify(grpcStatus)}`,
        true,
      )
    this.#finish(call, new GrpcCallError(code, decodeGrpcMessage(grpcMessage)), undefined, true)
  }

  #onSettings(buf: Buffer, flags: number, id: number, s: number, e: number): void {
    if (id !== 0) return this.#connectionError(PROTOCOL_ERROR, 'SETTINGS on a stream')
    if (flags & FLAG_ACK) {
      if (e !== s) this.#connectionError(FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload')
      return
    }
    if ((e - s) % 6 !== 0)
      return this.#connectionError(FRAME_SIZE_ERROR, 'SETTINGS payload not a multiple of 6')
    for (let p = s; p < e; p += 6) {
      const key = buf.readUInt16BE(p)
      const value = buf.readUInt32BE(p + 2)
      switch (key) {
        case SETTINGS_ENABLE_PUSH:
          if (value > 1) return this.#connectionError(PROTOCOL_ERROR, `ENABLE_PUSH ${value}`)
          break
        case SETTINGS_MAX_CONCURRENT_STREAMS:
          this.#peerMaxStreams = value
          break
        case SETTINGS_INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW)
            return this.#connectionError(
              FLOW_CONTROL_ERROR,
              `INITIAL_WINDOW_SIZE ${value} above 2^31-1`,
            )
          const delta = value - this.#peerInitialWindow
          this.#peerInitialWindow = value
          for (const c of this.#slots) if (c !== undefined) c.sendWindow += delta
          break
        }
        case SETTINGS_MAX_FRAME_SIZE:
          if (value < 16_384 || value > 16_777_215)
            return this.#connectionError(PROTOCOL_ERROR, `MAX_FRAME_SIZE ${value} out of range`)
          this.#peerMaxFrame = value
          break
        default:
        // HEADER_TABLE_SIZE limits a dynamic table this client's encoder never uses;
        // MAX_HEADER_LIST_SIZE is far above its requests; unknown settings are ignored.
      }
    }
    this.#ensure(9)
    this.#frameHeader(0, SETTINGS, FLAG_ACK, 0)
    this.#scheduleFlush()
    if (!this.#gotSettings) {
      this.#gotSettings = true
      clearTimeout(this.#readyTimer)
      const ready = this.#ready
      this.#ready = undefined
      ready?.resolve(this)
    }
    this.#resumeBlocked()
    this.#pump()
  }

  #onWindowUpdate(buf: Buffer, id: number, s: number, e: number): void {
    if (e - s !== 4)
      return this.#connectionError(FRAME_SIZE_ERROR, 'WINDOW_UPDATE payload not 4 octets')
    const inc = buf.readUInt32BE(s) & 0x7fffffff
    if (id === 0) {
      if (inc === 0)
        return this.#connectionError(PROTOCOL_ERROR, 'WINDOW_UPDATE of 0 on the connection')
      this.#connSendWindow += inc
      if (this.#connSendWindow > MAX_WINDOW)
        return this.#connectionError(FLOW_CONTROL_ERROR, 'connection send window above 2^31-1')
      return this.#resumeBlocked()
    }
    const call = this.#lookup(id)
    if (call === undefined) return
    if (inc === 0)
      return this.#abort(call, GrpcStatus.INTERNAL, 'WINDOW_UPDATE of 0 on the stream', false)
    call.sendWindow += inc
    if (call.sendWindow > MAX_WINDOW)
      return this.#abort(call, GrpcStatus.INTERNAL, 'stream send window above 2^31-1', false)
    if (call.blocked) this.#resumeBlocked()
  }

  #onRstStream(buf: Buffer, id: number, s: number, e: number): void {
    if (id === 0) return this.#connectionError(PROTOCOL_ERROR, 'RST_STREAM on stream 0')
    if (e - s !== 4)
      return this.#connectionError(FRAME_SIZE_ERROR, 'RST_STREAM payload not 4 octets')
    const call = this.#lookup(id)
    if (call === undefined) return
    const code = buf.readUInt32BE(s)
    this.#finish(
      call,
      new GrpcCallError(
        statusForReset(code),
        `server reset the stream (RST_STREAM ${errorName(code)})`,
      ),
      undefined,
      true,
    )
  }

  #onGoaway(buf: Buffer, id: number, s: number, e: number): void {
    if (id !== 0) return this.#connectionError(PROTOCOL_ERROR, 'GOAWAY on a stream')
    if (e - s < 8) return this.#connectionError(FRAME_SIZE_ERROR, 'GOAWAY shorter than 8 octets')
    const last = buf.readUInt32BE(s) & 0x7fffffff
    const code = buf.readUInt32BE(s + 4)
    const debug = buf.toString('latin1', s + 8, e)
    const why = `${errorName(code)}, last stream ${last}`
    const reason = `server sent GOAWAY (${why})${debug ? `: ${debug}` : ''}`
    this.#draining ??= reason
    // Streams above the last id were never processed; the ones below it may still complete.
    const err = new GrpcCallError(GrpcStatus.UNAVAILABLE, `${reason}; the call was not processed`)
    // #finish may end the connection (the last call gone), which fails the rest itself.
    for (const c of this.#slots.filter((c): c is Call => c !== undefined && c.id > last))
      this.#finish(c, err, undefined, true)
    this.#drainWaiting()
    this.#pump()
  }

  /** Ends the connection for a protocol violation by the server (RFC 9113 §5.4.1). */
  #connectionError(code: number, message: string): void {
    if (this.#closed !== undefined) return
    this.#goaway(code, message)
    this.#shutdown(
      new GrpcCallError(
        GrpcStatus.INTERNAL,
        `HTTP/2 ${errorName(code)} from ${this.address}: ${message}`,
      ),
      true,
    )
  }

  /**
   * Makes the connection unusable: fails the connect promise, every call in flight and every
   * queued call with `err`, and ends the socket (after flushing what was written) when asked.
   */
  #shutdown(err: GrpcCallError, endSocket: boolean): void {
    if (this.#closed !== undefined) return
    this.#closed = err
    clearTimeout(this.#readyTimer)
    // In flight in the order they were sent, then the queued ones.
    const calls = [
      ...this.#slots.filter((c): c is Call => c !== undefined).sort((a, b) => a.id - b.id),
      ...(this.#waiting.slice(this.#waitHead) as Call[]),
    ]
    this.#slots.fill(undefined)
    this.#waiting = []
    this.#waitHead = 0
    this.#blocked = []
    this.#active = 0
    if (endSocket && !this.#socketGone) {
      this.#flush()
      this.#socket.end(() => this.#socket.destroy())
      // A server that never closes its side must not keep this process alive.
      setTimeout(() => this.#socket.destroy(), 1000).unref()
    }
    const ready = this.#ready
    this.#ready = undefined
    ready?.reject(new Error(`cannot connect to ${this.address}: ${err.details}`))
    for (const call of calls) {
      call.done = true
      settle(call, err, undefined)
    }
  }

  // --- writing ------------------------------------------------------------------------------

  #ensure(n: number): void {
    if (this.#slabPos + n <= this.#slab.length) return
    this.#seal()
    this.#slab = Buffer.allocUnsafeSlow(Math.max(SLAB_SIZE, n))
    this.#slabStart = 0
    this.#slabPos = 0
  }

  /** Hands the written part of the slab to the pending chunks. */
  #seal(): void {
    if (this.#slabPos > this.#slabStart) {
      this.#chunks.push(this.#slab.subarray(this.#slabStart, this.#slabPos))
      this.#slabStart = this.#slabPos
    }
  }

  #frameHeader(len: number, type: number, flags: number, id: number): void {
    const b = this.#slab
    let p = this.#slabPos
    b[p++] = len >>> 16
    b[p++] = (len >>> 8) & 0xff
    b[p++] = len & 0xff
    b[p++] = type
    b[p++] = flags
    b[p++] = id >>> 24
    b[p++] = (id >>> 16) & 0xff
    b[p++] = (id >>> 8) & 0xff
    b[p++] = id & 0xff
    this.#slabPos = p
  }

  #setting(key: number, value: number): void {
    this.#slabPos = this.#slab.writeUInt16BE(key, this.#slabPos)
    this.#slabPos = this.#slab.writeUInt32BE(value, this.#slabPos)
  }

  #windowUpdate(id: number, inc: number): void {
    this.#ensure(13)
    this.#frameHeader(4, WINDOW_UPDATE, 0, id)
    this.#slabPos = this.#slab.writeUInt32BE(inc, this.#slabPos)
  }

  #rstStream(id: number, code: number): void {
    if (this.#closed !== undefined) return
    this.#ensure(13)
    this.#frameHeader(4, RST_STREAM, 0, id)
    this.#slabPos = this.#slab.writeUInt32BE(code, this.#slabPos)
    this.#scheduleFlush()
  }

  #goaway(code: number, message: string): void {
    const debug = Buffer.from(message.slice(0, 200), 'latin1')
    this.#ensure(17 + debug.length)
    this.#frameHeader(8 + debug.length, GOAWAY, 0, 0)
    // Last stream id: this client accepts no streams from the server.
    this.#slabPos = this.#slab.writeUInt32BE(0, this.#slabPos)
    this.#slabPos = this.#slab.writeUInt32BE(code, this.#slabPos)
    this.#slabPos += debug.copy(this.#slab, this.#slabPos)
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    // After the current callback and its promise jobs: every call they start shares one write.
    process.nextTick(this.#flushNow)
  }

  #flush(): void {
    this.#flushScheduled = false
    this.#seal()
    const chunks = this.#chunks
    if (chunks.length === 0) return
    if (this.#socketGone || this.#socket.destroyed) {
      chunks.length = 0
      return
    }
    if (chunks.length === 1) {
      this.#socket.write(chunks[0]!)
    } else {
      this.#socket.cork()
      for (const c of chunks) this.#socket.write(c)
      this.#socket.uncork()
    }
    chunks.length = 0
    // The kernel took everything: nothing refers to the slab any more, so it is reused.
    if (this.#socket.writableLength === 0) {
      this.#slabStart = 0
      this.#slabPos = 0
    }
  }
}
