/**
 * One HTTP/2 connection of Verdict's gRPC server: frames in, gRPC calls out, answers back.
 *
 * Only what a gRPC server needs of HTTP/2 (RFC 9113) over cleartext (prior knowledge, as gRPC
 * clients speak it on loopback and unix sockets): the connection preface, SETTINGS, HEADERS and
 * CONTINUATION (HPACK, `hpack.ts`), DATA with flow control both ways, RST_STREAM, PING,
 * WINDOW_UPDATE, GOAWAY; PRIORITY is read and ignored, unknown frame types are ignored, and
 * PUSH_PROMISE from a client is a protocol error. Calls are unary, server-streaming or
 * bidirectional. Requests are gRPC (the gRPC over HTTP/2
 * protocol): POST, `content-type: application/grpc…`, length-prefixed messages, `grpc-encoding`
 * identity/gzip/deflate, `grpc-timeout`; answers are HEADERS, DATA and trailers, or a
 * Trailers-Only error.
 *
 * Why not Node's http2 (under grpc-js): Node hands a stream's trailers to nghttp2 only while the
 * last DATA frame is being sent, so every unary answer takes two socket writes in two turns of the
 * event loop, and each stream is a Duplex with its own objects and callbacks. Here an answer is
 * three frames appended to the connection's output buffer, and everything answered in one turn of
 * the event loop leaves in one write (see {@link Turn}).
 *
 * Hostile peers: every frame is checked against its type's rules (length, stream id, state);
 * violations are connection errors (GOAWAY, then close) or stream errors (RST_STREAM), as the RFC
 * says. Header blocks are limited in size, streams in number (REFUSED_STREAM past the limit),
 * messages in size (RESOURCE_EXHAUSTED), peers that reset streams faster than they let them finish
 * are told ENHANCE_YOUR_CALM, and a peer that does not read its answers stops being read.
 *
 * @module
 */

import type { Socket } from 'node:net'
import { gunzipSync, inflateSync } from 'node:zlib'
import { StreamTable } from '../stream-table.js'
import {
  ConnectionError,
  DEFAULT_WINDOW,
  Flag,
  FRAME_HEADER_BYTES,
  FrameType,
  H2Error,
  MAX_MAX_FRAME_SIZE,
  MAX_WINDOW,
  MIN_MAX_FRAME_SIZE,
  PREFACE,
  Setting,
  writeFrameHeader,
} from './frames.js'
import { encodeHeaderBlock, HpackDecoder, HpackError } from './hpack.js'

/** gRPC status codes used by the transport itself. */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const

/** A gRPC status to answer with: what handlers throw, or what a server-streaming call ends with. */
export interface RpcStatus {
  /** gRPC status code, 0–16. */
  code: number
  /** Sent as `grpc-message`. */
  details?: string
}

/** What a handler sees of its call. */
export interface Call {
  /** The method's path: `/package.Service/Method`. */
  readonly path: string
  /** The peer: `ip:port`, or `unix` on a unix socket. */
  readonly peer: string
}

/** A server-streaming call: write messages, then end it. */
export interface ServerStreamCall extends Call {
  /** Whether the client went away (RST_STREAM, closed connection) or the call was ended. */
  readonly cancelled: boolean
  /** Sends one message (serialized protobuf). Ignored once the call is over. */
  write(message: Uint8Array): void
  /** Ends the call with a status (default OK). Ignored once the call is over. */
  end(status?: RpcStatus): void
  /** Called once when the client cancels or the connection closes before {@link end}. */
  onCancel(listener: () => void): void
}

/**
 * A unary method: the request message in (serialized), the response message out, at once or as a
 * promise. A thrown or rejected {@link RpcStatus} answers with that status; anything else thrown
 * is answered INTERNAL.
 */
export interface UnaryMethod {
  kind: 'unary'
  handle(request: Buffer, call: Call): Uint8Array | Promise<Uint8Array>
}

/** A server-streaming method: the request message in; answers through the call. */
export interface ServerStreamMethod {
  kind: 'server-stream'
  open(request: Buffer, call: ServerStreamCall): void
}

/** A bidirectional-streaming call: request messages in as they come, answers out through the call. */
export interface BidiCall extends ServerStreamCall {
  /** Receives each request message, in order (those that came before are delivered first). */
  onMessage(listener: (message: Buffer) => void): void
  /** Called once when the client has sent its last message. */
  onEnd(listener: () => void): void
}

/** A bidirectional-streaming method: opened when the request headers arrive. */
export interface BidiMethod {
  kind: 'bidi'
  open(call: BidiCall): void
}

export type Method = UnaryMethod | ServerStreamMethod | BidiMethod

/** Limits and methods shared by the connections of one server. */
export interface ConnectionOptions {
  /** Methods by path. */
  methods: ReadonlyMap<string, Method>
  /** Largest request message, in bytes (after decompression). */
  maxMessageBytes: number
  /** SETTINGS_MAX_CONCURRENT_STREAMS; streams past it are refused. */
  maxConcurrentStreams: number
  /** Largest request header list (RFC 9113 §6.5.2 accounting). */
  maxHeaderListBytes: number
  /**
   * Most bytes of unfinished requests a connection holds over all its streams; past it the
   * stream that brought more is answered RESOURCE_EXHAUSTED. Default: 64 MiB, and at least four
   * messages of the largest size.
   */
  maxBufferedBytes?: number
  /** Reports a connection that failed or was closed for misbehaving; never throws. */
  onConnectionError(message: string, fields: Record<string, unknown>): void
  /** Reports a handler defect (an error that is not an {@link RpcStatus}); never throws. */
  onHandlerError(path: string, error: unknown): void
  /**
   * Reports a call of a known method that the transport answered with an error status before or
   * instead of its handler (message too large, bad framing, deadline); for metrics.
   */
  onRejected?(path: string, code: number): void
}

// The windows Verdict grants: per stream enough for typical messages in one go, per connection
// enough for many streams; both replenished when a quarter is used.
const STREAM_WINDOW = 1 << 20
const CONNECTION_WINDOW = 1 << 24
// Largest header block accepted before decoding (compressed, across CONTINUATION frames).
const MAX_HEADER_BLOCK_BYTES = 64 * 1024
// Bytes of unfinished requests a connection may hold over all its streams, by default.
const DEFAULT_BUFFERED_BYTES = 64 << 20
// Output the socket may hold before the connection stops reading from its peer.
const OUTPUT_HIGH_WATER = 1 << 20
// More than this many streams reset by the peer before they were answered, within one second,
// closes the connection (the "rapid reset" attack, CVE-2023-44487).
const MAX_RESETS_PER_SECOND = 1000
// Time a new connection has to send its preface and SETTINGS.
const PREFACE_TIMEOUT_MS = 10_000
// grpc-message is cut to this many bytes.
const MAX_STATUS_DETAILS = 1024

const EMPTY = Buffer.alloc(0)

const RESPONSE_HEADERS = encodeHeaderBlock([
  [':status', '200'],
  ['content-type', 'application/grpc'],
])
const TRAILERS_OK = encodeHeaderBlock([['grpc-status', '0']])

/** Percent-encodes a status message as gRPC's `grpc-message` wants (UTF-8, then %XX outside printable ASCII). */
export function encodeGrpcMessage(message: string): string {
  const bytes = Buffer.from(message, 'utf8')
  let out = ''
  const n = Math.min(bytes.length, MAX_STATUS_DETAILS)
  for (let i = 0; i < n; i++) {
    const b = bytes[i]!
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

// Encoded status blocks, kept per code and message: the same few errors repeat.
const statusBlocks = new Map<string, { trailers: Buffer; trailersOnly: Buffer }>()

function statusBlock(code: number, details: string): { trailers: Buffer; trailersOnly: Buffer } {
  const key = `${code} ${details}`
  let block = statusBlocks.get(key)
  if (block === undefined) {
    const fields: [string, string][] = [['grpc-status', String(code)]]
    if (details !== '') fields.push(['grpc-message', encodeGrpcMessage(details)])
    block = {
      trailers: encodeHeaderBlock(fields),
      trailersOnly: encodeHeaderBlock([[':status', '200'], ['content-type', 'application/grpc'], ...fields]),
    }
    if (statusBlocks.size >= 512) statusBlocks.clear()
    statusBlocks.set(key, block)
  }
  return block
}

/** `grpc-timeout` (RFC: 1–8 digits and a unit) in milliseconds; 0 when absent or malformed. */
export function parseGrpcTimeout(value: string): number {
  const m = /^(\d{1,8})([HMSmun])$/.exec(value)
  if (m === null) return 0
  const n = Number(m[1])
  switch (m[2]) {
    case 'H':
      return n * 3_600_000
    case 'M':
      return n * 60_000
    case 'S':
      return n * 1000
    case 'm':
      return n
    case 'u':
      return Math.max(1, Math.ceil(n / 1000))
    default:
      return Math.max(1, Math.ceil(n / 1_000_000))
  }
}

function isStatus(err: unknown): err is RpcStatus {
  if (err === null || typeof err !== 'object') return false
  const code = (err as { code?: unknown }).code
  return typeof code === 'number' && Number.isInteger(code) && code > 0 && code <= 16
}

/**
 * One turn of the event loop: calls whose requests arrived in it are handled together from
 * `setImmediate` (after the poll phase delivered everything that arrived, before the next wait),
 * and every connection with output is then flushed in one write. Deciding a run of calls back to
 * back keeps code and data in the CPU caches; one write per connection per turn saves syscalls.
 * Shared by all servers in the process.
 */
class Turn {
  #calls: H2Stream[] = []
  #dirty: Connection[] = []
  #scheduled = false
  readonly #run = (): void => this.#runTurn()

  call(stream: H2Stream): void {
    this.#calls.push(stream)
    this.#schedule()
  }

  dirty(conn: Connection): void {
    this.#dirty.push(conn)
    this.#schedule()
  }

  #schedule(): void {
    if (this.#scheduled) return
    this.#scheduled = true
    setImmediate(this.#run)
  }

  #runTurn(): void {
    this.#scheduled = false
    const calls = this.#calls
    if (calls.length > 0) {
      this.#calls = []
      for (let i = 0; i < calls.length; i++) {
        // dispatch() answers its own failures; a throw here is a defect, and must not cost the
        // other calls of the turn their answers or the flush.
        try {
          calls[i]!.conn.dispatch(calls[i]!)
        } catch (err) {
          calls[i]!.conn.defect(calls[i]!, err)
        }
      }
    }
    const dirty = this.#dirty
    this.#dirty = []
    for (let i = 0; i < dirty.length; i++) {
      try {
        dirty[i]!.flush()
      } catch (err) {
        dirty[i]!.defect(undefined, err)
      }
    }
  }
}

const turn = new Turn()

/** A stream: one gRPC call. */
class H2Stream implements ServerStreamCall {
  readonly conn: Connection
  readonly id: number
  readonly path: string
  readonly method: Method | undefined
  readonly encoding: string
  readonly timeoutMs: number
  // Request body: DATA payloads as they came.
  parts: Buffer[] = []
  bytes = 0
  remoteClosed = false
  // Answer state.
  headersSent = false
  /** The final answer (trailers) is queued or sent; nothing more is accepted. */
  answered = false
  /** Gone from the connection's table: done, reset or the connection closed. */
  closed = false
  cancelled = false
  recvWindow = STREAM_WINDOW
  recvUnacked = 0
  sendWindow: number
  // Output waiting for flow-control window: DATA payload bytes from `pendingAt`, then trailers.
  pending: Buffer | null = null
  pendingAt = 0
  pendingTrailers: Buffer | null = null
  blocked = false
  timer: NodeJS.Timeout | undefined = undefined
  cancelListeners: (() => void)[] | undefined = undefined
  // Bidirectional streams: the handler's listeners, and what arrived before it listened.
  messageListener: ((message: Buffer) => void) | undefined = undefined
  endListener: (() => void) | undefined = undefined
  early: Buffer[] | undefined = undefined
  endDelivered = false

  constructor(conn: Connection, id: number, path: string, method: Method | undefined, encoding: string, timeoutMs: number, sendWindow: number) {
    this.conn = conn
    this.id = id
    this.path = path
    this.method = method
    this.encoding = encoding
    this.timeoutMs = timeoutMs
    this.sendWindow = sendWindow
  }

  get peer(): string {
    return this.conn.peer
  }

  write(message: Uint8Array): void {
    this.conn.sendMessage(this, message)
  }

  end(status?: RpcStatus): void {
    if (status === undefined || status.code === GrpcStatus.OK) this.conn.sendOk(this)
    else this.conn.sendStatus(this, status.code, status.details ?? '')
  }

  onCancel(listener: () => void): void {
    ;(this.cancelListeners ??= []).push(listener)
  }

  onMessage(listener: (message: Buffer) => void): void {
    this.messageListener = listener
    const early = this.early
    this.early = undefined
    if (early !== undefined) for (const m of early) this.conn.deliver(this, m)
    if (this.remoteClosed && this.bytes === 0) this.conn.deliverEnd(this)
  }

  onEnd(listener: () => void): void {
    this.endListener = listener
    if (this.remoteClosed && this.bytes === 0 && this.early === undefined) this.conn.deliverEnd(this)
  }
}

/** An HTTP/2 connection serving gRPC. Created by the server for each accepted socket. */
export class Connection {
  readonly #socket: Socket
  readonly #options: ConnectionOptions
  readonly #onClose: (conn: Connection) => void
  readonly #hpack = new HpackDecoder()
  readonly #streams = new StreamTable<H2Stream>(64)
  // Input: the unparsed tail of what was read.
  #input: Buffer = EMPTY
  #prefaceSeen = false
  #settingsSeen = false
  #prefaceTimer: NodeJS.Timeout | undefined
  // A header block spread over CONTINUATION frames: its stream (0: none), flags and fragments.
  #contStream = 0
  #contEndStream = false
  #contParts: Buffer[] = []
  #contBytes = 0
  #lastStreamId = 0
  // Flow control.
  #recvWindow = CONNECTION_WINDOW
  #recvUnacked = 0
  #sendWindow = DEFAULT_WINDOW
  #peerInitialWindow = DEFAULT_WINDOW
  #peerMaxFrame = MIN_MAX_FRAME_SIZE
  #blocked: H2Stream[] = []
  // Bytes of requests not yet complete, over all streams, and their bound.
  #buffered = 0
  readonly #maxBuffered: number
  // Output: frames appended here and written once per turn.
  #out: Buffer = EMPTY
  #outLen = 0
  // Size of the next output buffer: about what the last flush wrote.
  #outHint = 4096
  #dirty = false
  #paused = false
  // Shutdown.
  #goawaySent = false
  #closed = false
  // Rapid-reset accounting.
  #resets = 0
  #resetWindowStart = 0
  #peer: string | undefined

  constructor(socket: Socket, options: ConnectionOptions, onClose: (conn: Connection) => void) {
    this.#socket = socket
    this.#options = options
    this.#onClose = onClose
    this.#maxBuffered = options.maxBufferedBytes ?? Math.max(DEFAULT_BUFFERED_BYTES, 4 * (options.maxMessageBytes + 5))
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => this.#onData(chunk))
    socket.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET' && (err as NodeJS.ErrnoException).code !== 'EPIPE') {
        options.onConnectionError('connection failed', { peer: this.peer, error: err.message })
      }
      socket.destroy()
    })
    socket.on('close', () => this.#teardown())
    socket.on('drain', () => {
      if (this.#paused && !this.#closed) {
        this.#paused = false
        socket.resume()
      }
    })
    this.#prefaceTimer = setTimeout(() => {
      this.#fail(new ConnectionError(H2Error.SETTINGS_TIMEOUT, 'no HTTP/2 preface and SETTINGS in time'))
    }, PREFACE_TIMEOUT_MS)
    this.#prefaceTimer.unref()
    // The server's preface: SETTINGS, then the connection window raised to ours.
    const settings: [number, number][] = [
      [Setting.ENABLE_PUSH, 0],
      [Setting.MAX_CONCURRENT_STREAMS, options.maxConcurrentStreams],
      [Setting.INITIAL_WINDOW_SIZE, STREAM_WINDOW],
      [Setting.MAX_HEADER_LIST_SIZE, options.maxHeaderListBytes],
    ]
    const at = this.#reserve(FRAME_HEADER_BYTES + 6 * settings.length)
    writeFrameHeader(this.#out, at, 6 * settings.length, FrameType.SETTINGS, 0, 0)
    for (let i = 0; i < settings.length; i++) {
      this.#out.writeUInt16BE(settings[i]![0], at + FRAME_HEADER_BYTES + 6 * i)
      this.#out.writeUInt32BE(settings[i]![1], at + FRAME_HEADER_BYTES + 6 * i + 2)
    }
    this.#windowUpdate(0, CONNECTION_WINDOW - DEFAULT_WINDOW)
    this.#markDirty()
  }

  /** The peer: `ip:port`, or `unix`. */
  get peer(): string {
    if (this.#peer === undefined) {
      const s = this.#socket
      this.#peer = s.remoteAddress === undefined ? 'unix' : `${s.remoteAddress}:${s.remotePort}`
    }
    return this.#peer
  }

  /**
   * Graceful close: GOAWAY (no new streams), and the connection closes when the streams in flight
   * are answered.
   */
  drain(): void {
    if (this.#closed || this.#goawaySent) return
    this.#goaway(H2Error.NO_ERROR, '')
    this.flush()
    this.#closeIfIdle()
  }

  /** Closes the connection at once; calls in flight are cancelled. */
  destroy(): void {
    this.#socket.destroy()
    this.#teardown()
  }

  // ---- input ----------------------------------------------------------------------------------

  #onData(chunk: Buffer): void {
    if (this.#closed) return
    let buf = this.#input.length === 0 ? chunk : Buffer.concat([this.#input, chunk])
    let pos = 0
    try {
      if (!this.#prefaceSeen) {
        const n = Math.min(buf.length, PREFACE.length)
        if (buf.compare(PREFACE, 0, n, 0, n) !== 0) {
          throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'not an HTTP/2 connection preface (gRPC needs HTTP/2 with prior knowledge)')
        }
        if (buf.length < PREFACE.length) {
          this.#input = buf
          return
        }
        this.#prefaceSeen = true
        pos = PREFACE.length
      }
      while (buf.length - pos >= FRAME_HEADER_BYTES) {
        const length = (buf[pos]! << 16) | (buf[pos + 1]! << 8) | buf[pos + 2]!
        if (length > MIN_MAX_FRAME_SIZE) {
          throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, `frame of ${length} bytes exceeds SETTINGS_MAX_FRAME_SIZE`)
        }
        const start = pos + FRAME_HEADER_BYTES
        if (buf.length - start < length) break
        const type = buf[pos + 3]!
        const flags = buf[pos + 4]!
        const id = buf.readUInt32BE(pos + 5) & 0x7fffffff
        pos = start + length
        this.#frame(type, flags, id, buf, start, pos)
        if (this.#closed) return
      }
    } catch (err) {
      this.#fail(err)
      return
    }
    if (pos === buf.length) buf = EMPTY
    else if (pos > 0) buf = buf.subarray(pos)
    this.#input = buf
  }

  #frame(type: number, flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (!this.#settingsSeen) {
      if (type !== FrameType.SETTINGS || (flags & Flag.ACK) !== 0) {
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'the first frame must be SETTINGS')
      }
      this.#settingsSeen = true
      clearTimeout(this.#prefaceTimer)
    }
    if (this.#contStream !== 0 && type !== FrameType.CONTINUATION) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'a header block was interrupted by another frame')
    }
    switch (type) {
      case FrameType.DATA:
        return this.#data(flags, id, buf, start, end)
      case FrameType.HEADERS:
        return this.#headers(flags, id, buf, start, end)
      case FrameType.CONTINUATION:
        return this.#continuation(flags, id, buf, start, end)
      case FrameType.PRIORITY:
        if (id === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'PRIORITY on stream 0')
        if (end - start !== 5) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'PRIORITY payload is not 5 bytes')
        return
      case FrameType.RST_STREAM:
        return this.#rstStream(id, start, end)
      case FrameType.SETTINGS:
        return this.#settings(flags, id, buf, start, end)
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'PUSH_PROMISE from a client')
      case FrameType.PING:
        if (id !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'PING on a stream')
        if (end - start !== 8) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'PING payload is not 8 bytes')
        if ((flags & Flag.ACK) === 0) {
          const at = this.#reserve(FRAME_HEADER_BYTES + 8)
          writeFrameHeader(this.#out, at, 8, FrameType.PING, Flag.ACK, 0)
          buf.copy(this.#out, at + FRAME_HEADER_BYTES, start, end)
          this.#markDirty()
        }
        return
      case FrameType.GOAWAY:
        if (id !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'GOAWAY on a stream')
        if (end - start < 8) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'GOAWAY payload shorter than 8 bytes')
        // The peer opens no more streams; the ones in flight are answered, then it closes.
        return
      case FrameType.WINDOW_UPDATE:
        return this.#windowUpdateFrame(id, buf, start, end)
      default:
        // Unknown frame types are ignored (RFC 9113 §4.1).
        return
    }
  }

  #data(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'DATA on stream 0')
    const length = end - start
    // Flow control counts the whole payload, padding included, whatever happens to the stream.
    if (length > this.#recvWindow) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'DATA beyond the connection window')
    this.#recvWindow -= length
    this.#recvUnacked += length
    if (this.#recvUnacked >= CONNECTION_WINDOW / 4) {
      this.#windowUpdate(0, this.#recvUnacked)
      this.#recvWindow += this.#recvUnacked
      this.#recvUnacked = 0
    }
    let s = start
    let e = end
    if ((flags & Flag.PADDED) !== 0) {
      if (length < 1) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'padded DATA without a pad length')
      const pad = buf[start]!
      if (pad >= length) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'DATA padding exceeds the payload')
      s = start + 1
      e = end - pad
    }
    const stream = this.#streams.get(id)
    if (stream === undefined) {
      if (id > this.#lastStreamId) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'DATA on an idle stream')
      // A stream already answered, reset or refused: the peer may still be sending.
      return
    }
    if (stream.remoteClosed) {
      this.#resetStream(stream, H2Error.STREAM_CLOSED)
      return
    }
    if (length > stream.recvWindow) {
      this.#resetStream(stream, H2Error.FLOW_CONTROL_ERROR)
      return
    }
    stream.recvWindow -= length
    if (!stream.answered && e > s) {
      stream.bytes += e - s
      this.#buffered += e - s
      // One length prefix and one message: anything more is answered as too large right away.
      if (stream.bytes > this.#options.maxMessageBytes + 5) {
        this.#reject(stream, GrpcStatus.RESOURCE_EXHAUSTED, `request message larger than max (${this.#options.maxMessageBytes} bytes)`)
        return
      }
      // Partial requests of all streams together are bounded too: many streams each holding
      // most of a large message would otherwise hold streams × max message bytes.
      if (this.#buffered > this.#maxBuffered) {
        this.#reject(stream, GrpcStatus.RESOURCE_EXHAUSTED, `more than ${this.#maxBuffered} bytes of unfinished requests on this connection`)
        return
      }
      stream.parts.push(buf.subarray(s, e))
      if (stream.method?.kind === 'bidi') this.#bidiMessages(stream)
    }
    if ((flags & Flag.END_STREAM) !== 0) {
      stream.remoteClosed = true
      this.#requestComplete(stream)
    } else {
      stream.recvUnacked += length
      if (stream.recvUnacked >= STREAM_WINDOW / 4) {
        this.#windowUpdate(id, stream.recvUnacked)
        stream.recvWindow += stream.recvUnacked
        stream.recvUnacked = 0
      }
    }
  }

  #headers(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0 || (id & 1) === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, `HEADERS on stream ${id}, not a client stream`)
    let s = start
    let pad = 0
    if ((flags & Flag.PADDED) !== 0) {
      if (end - s < 1) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'padded HEADERS without a pad length')
      pad = buf[s++]!
    }
    if ((flags & Flag.PRIORITY) !== 0) {
      if (end - s < 5) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'HEADERS too short for its priority')
      s += 5
    }
    if (pad > end - s) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'HEADERS padding exceeds the payload')
    const e = end - pad
    const endStream = (flags & Flag.END_STREAM) !== 0
    if ((flags & Flag.END_HEADERS) !== 0) {
      this.#headerBlock(id, endStream, buf, s, e)
      return
    }
    this.#contStream = id
    this.#contEndStream = endStream
    this.#contParts = [buf.subarray(s, e)]
    this.#contBytes = e - s
  }

  #continuation(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (this.#contStream === 0 || id !== this.#contStream) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'CONTINUATION without a header block in progress')
    }
    this.#contBytes += end - start
    if (this.#contBytes > MAX_HEADER_BLOCK_BYTES) {
      throw new ConnectionError(H2Error.ENHANCE_YOUR_CALM, `header block larger than ${MAX_HEADER_BLOCK_BYTES} bytes`)
    }
    this.#contParts.push(buf.subarray(start, end))
    if ((flags & Flag.END_HEADERS) === 0) return
    const block = Buffer.concat(this.#contParts)
    this.#contStream = 0
    this.#contParts = []
    this.#headerBlock(id, this.#contEndStream, block, 0, block.length)
  }

  #headerBlock(id: number, endStream: boolean, buf: Buffer, start: number, end: number): void {
    if (end - start > MAX_HEADER_BLOCK_BYTES) {
      throw new ConnectionError(H2Error.ENHANCE_YOUR_CALM, `header block larger than ${MAX_HEADER_BLOCK_BYTES} bytes`)
    }
    let n: number
    try {
      n = this.#hpack.decode(buf, start, end)
    } catch (err) {
      if (err instanceof HpackError) throw new ConnectionError(H2Error.COMPRESSION_ERROR, err.message)
      throw err
    }
    const existing = this.#streams.get(id)
    if (existing !== undefined) {
      // Trailers from the client: they must end the stream; their fields mean nothing to gRPC.
      if (!endStream || existing.remoteClosed) {
        this.#resetStream(existing, H2Error.PROTOCOL_ERROR)
        return
      }
      existing.remoteClosed = true
      this.#requestComplete(existing)
      return
    }
    // A stream answered or reset already (id at most the last one) gets nothing more.
    if (id <= this.#lastStreamId) return
    this.#lastStreamId = id
    if (this.#goawaySent || this.#streams.size >= this.#options.maxConcurrentStreams) {
      this.#rst(id, H2Error.REFUSED_STREAM)
      return
    }

    const h = this.#hpack.headers
    let method = ''
    let path = ''
    let scheme = ''
    let contentType = ''
    let encoding = ''
    let timeout = ''
    let regular = false
    let malformed = ''
    let listBytes = 0
    for (let i = 0; i < 2 * n; i += 2) {
      const name = h[i]!
      const value = h[i + 1]!
      listBytes += name.length + value.length + 32
      if (name.charCodeAt(0) === 0x3a) {
        if (regular) malformed = 'pseudo-header after a regular header'
        else if (name === ':method') method === '' ? (method = value) : (malformed = 'duplicate :method')
        else if (name === ':path') path === '' ? (path = value) : (malformed = 'duplicate :path')
        else if (name === ':scheme') scheme === '' ? (scheme = value) : (malformed = 'duplicate :scheme')
        else if (name !== ':authority') malformed = `unknown pseudo-header ${name}`
        continue
      }
      regular = true
      switch (name) {
        case 'content-type':
          contentType = value
          break
        case 'grpc-encoding':
          encoding = value
          break
        case 'grpc-timeout':
          timeout = value
          break
        case 'te':
          if (value !== 'trailers') malformed = 'te other than trailers'
          break
        case 'connection':
        case 'keep-alive':
        case 'proxy-connection':
        case 'transfer-encoding':
        case 'upgrade':
          malformed = `connection-specific header ${name}`
          break
        default:
          for (let c = 0; c < name.length; c++) {
            const ch = name.charCodeAt(c)
            if (ch >= 0x41 && ch <= 0x5a) {
              malformed = 'uppercase header name'
              break
            }
          }
      }
    }
    if (malformed === '' && (method === '' || path === '' || scheme === '')) malformed = 'missing :method, :path or :scheme'
    if (malformed !== '') {
      this.#rst(id, H2Error.PROTOCOL_ERROR)
      return
    }

    const m = this.#options.methods.get(path)
    const stream = new H2Stream(this, id, path, m, encoding, timeout === '' ? 0 : parseGrpcTimeout(timeout), this.#peerInitialWindow)
    this.#streams.set(id, stream)
    stream.remoteClosed = endStream
    if (listBytes > this.#options.maxHeaderListBytes) {
      this.#reject(stream, GrpcStatus.RESOURCE_EXHAUSTED, `request headers larger than max (${this.#options.maxHeaderListBytes} bytes)`)
    } else if (method !== 'POST') {
      this.#httpError(stream, 405)
    } else if (!contentType.startsWith('application/grpc')) {
      this.#httpError(stream, 415)
    } else if (m === undefined) {
      this.#reject(stream, GrpcStatus.UNIMPLEMENTED, `unknown method ${path}`)
    } else if (encoding !== '' && encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'deflate') {
      this.#reject(stream, GrpcStatus.UNIMPLEMENTED, `unsupported grpc-encoding ${encoding}`)
    } else if (m.kind === 'bidi') {
      // Opened now: its messages are delivered as they arrive.
      turn.call(stream)
    } else if (endStream) {
      this.#requestComplete(stream)
    }
  }

  #rstStream(id: number, start: number, end: number): void {
    if (id === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'RST_STREAM on stream 0')
    if (end - start !== 4) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'RST_STREAM payload is not 4 bytes')
    const stream = this.#streams.get(id)
    if (stream === undefined) {
      if (id > this.#lastStreamId) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'RST_STREAM on an idle stream')
      return
    }
    if (!stream.answered) {
      const now = Date.now()
      if (now - this.#resetWindowStart > 1000) {
        this.#resetWindowStart = now
        this.#resets = 0
      }
      if (++this.#resets > MAX_RESETS_PER_SECOND) {
        throw new ConnectionError(H2Error.ENHANCE_YOUR_CALM, 'too many streams reset by the client')
      }
    }
    this.#cancel(stream)
  }

  #settings(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'SETTINGS on a stream')
    if ((flags & Flag.ACK) !== 0) {
      if (end !== start) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload')
      return
    }
    if ((end - start) % 6 !== 0) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'SETTINGS payload not a multiple of 6 bytes')
    for (let p = start; p < end; p += 6) {
      const key = buf.readUInt16BE(p)
      const value = buf.readUInt32BE(p + 2)
      switch (key) {
        case Setting.ENABLE_PUSH:
          if (value > 1) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'SETTINGS_ENABLE_PUSH not 0 or 1')
          break
        case Setting.INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE too large')
          const delta = value - this.#peerInitialWindow
          this.#peerInitialWindow = value
          this.#streams.forEach((stream) => {
            stream.sendWindow += delta
            if (stream.sendWindow > MAX_WINDOW) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'stream window overflow')
          })
          if (delta > 0) this.#resume()
          break
        }
        case Setting.MAX_FRAME_SIZE:
          if (value < MIN_MAX_FRAME_SIZE || value > MAX_MAX_FRAME_SIZE) {
            throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'SETTINGS_MAX_FRAME_SIZE out of range')
          }
          this.#peerMaxFrame = value
          break
        default:
          // HEADER_TABLE_SIZE does not bind us (the encoder uses no dynamic table);
          // MAX_CONCURRENT_STREAMS and MAX_HEADER_LIST_SIZE are about streams we never open and
          // headers we keep small; unknown settings are ignored.
          break
      }
    }
    const at = this.#reserve(FRAME_HEADER_BYTES)
    writeFrameHeader(this.#out, at, 0, FrameType.SETTINGS, Flag.ACK, 0)
    this.#markDirty()
  }

  #windowUpdateFrame(id: number, buf: Buffer, start: number, end: number): void {
    if (end - start !== 4) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'WINDOW_UPDATE payload is not 4 bytes')
    const increment = buf.readUInt32BE(start) & 0x7fffffff
    if (id === 0) {
      if (increment === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0')
      this.#sendWindow += increment
      if (this.#sendWindow > MAX_WINDOW) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'connection window overflow')
      this.#resume()
      return
    }
    const stream = this.#streams.get(id)
    if (stream === undefined) {
      if (id > this.#lastStreamId) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'WINDOW_UPDATE on an idle stream')
      return
    }
    if (increment === 0) {
      this.#resetStream(stream, H2Error.PROTOCOL_ERROR)
      return
    }
    stream.sendWindow += increment
    if (stream.sendWindow > MAX_WINDOW) {
      this.#resetStream(stream, H2Error.FLOW_CONTROL_ERROR)
      return
    }
    if (stream.blocked) this.#resume()
  }

  /** The client half-closed: check the one request message and queue the call. */
  #requestComplete(stream: H2Stream): void {
    if (stream.answered || stream.method === undefined) return
    if (stream.method.kind === 'bidi') {
      if (stream.bytes > 0) this.#reject(stream, GrpcStatus.INTERNAL, 'incomplete request message')
      else if (stream.messageListener !== undefined || stream.endListener !== undefined) this.deliverEnd(stream)
      return
    }
    const parts = stream.parts
    const body = parts.length === 1 ? parts[0]! : parts.length === 0 ? EMPTY : Buffer.concat(parts)
    this.#release(stream)
    if (body.length < 5) {
      this.#reject(stream, GrpcStatus.INTERNAL, body.length === 0 ? 'no request message' : 'incomplete request message')
      return
    }
    const length = body.readUInt32BE(1)
    if (body.length !== 5 + length) {
      this.#reject(stream, GrpcStatus.INTERNAL, body.length < 5 + length ? 'incomplete request message' : 'more than one request message on a unary call')
      return
    }
    const message = this.#unframe(stream, body[0]!, body.subarray(5))
    if (message === undefined) return
    stream.parts.push(message)
    turn.call(stream)
  }

  /** Takes every complete message off a bidirectional stream's buffered bytes and delivers it. */
  #bidiMessages(stream: H2Stream): void {
    let body = stream.parts.length === 1 ? stream.parts[0]! : Buffer.concat(stream.parts)
    while (body.length >= 5 && !stream.answered) {
      const length = body.readUInt32BE(1)
      if (body.length < 5 + length) break
      const message = this.#unframe(stream, body[0]!, body.subarray(5, 5 + length))
      this.#buffered -= 5 + length
      stream.bytes -= 5 + length
      body = body.subarray(5 + length)
      if (message === undefined) return
      this.deliver(stream, message)
    }
    stream.parts = body.length === 0 ? [] : [body]
  }

  /** Delivers a request message of a bidirectional stream, or keeps it until the handler listens. */
  deliver(stream: H2Stream, message: Buffer): void {
    if (stream.answered || stream.closed) return
    const listener = stream.messageListener
    if (listener === undefined) {
      ;(stream.early ??= []).push(message)
      return
    }
    try {
      listener(message)
    } catch (err) {
      this.defect(stream, err)
    }
  }

  /** Tells a bidirectional stream's handler, once, that the client sent its last message. */
  deliverEnd(stream: H2Stream): void {
    if (stream.endDelivered || stream.answered || stream.closed || stream.endListener === undefined) return
    stream.endDelivered = true
    try {
      stream.endListener()
    } catch (err) {
      this.defect(stream, err)
    }
  }

  /** One message's payload, decompressed and checked against the size limit; undefined after answering an error. */
  #unframe(stream: H2Stream, flag: number, payload: Buffer): Buffer | undefined {
    let message = payload
    if (flag === 1) {
      if (stream.encoding === '' || stream.encoding === 'identity') {
        this.#reject(stream, GrpcStatus.INTERNAL, 'compressed message without grpc-encoding')
        return
      }
      try {
        const opts = { maxOutputLength: this.#options.maxMessageBytes }
        message = stream.encoding === 'gzip' ? gunzipSync(message, opts) : inflateSync(message, opts)
      } catch (err) {
        const tooLarge = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE'
        this.#reject(
          stream,
          tooLarge ? GrpcStatus.RESOURCE_EXHAUSTED : GrpcStatus.INTERNAL,
          tooLarge ? `request message larger than max (${this.#options.maxMessageBytes} bytes)` : `could not decompress the request (${stream.encoding})`,
        )
        return
      }
    } else if (flag !== 0) {
      this.#reject(stream, GrpcStatus.INTERNAL, 'invalid message compression flag')
      return
    }
    if (message.length > this.#options.maxMessageBytes) {
      this.#reject(stream, GrpcStatus.RESOURCE_EXHAUSTED, `request message larger than max (${this.#options.maxMessageBytes} bytes)`)
      return
    }
    return message
  }

  // ---- calls ----------------------------------------------------------------------------------

  /** Runs a queued call (from {@link Turn}). */
  dispatch(stream: H2Stream): void {
    if (stream.closed || stream.answered) return
    const m = stream.method!
    if (m.kind === 'bidi') {
      try {
        m.open(stream)
      } catch (err) {
        this.#failed(stream, err)
      }
      return
    }
    const request = stream.parts[0]!
    stream.parts = []
    try {
      if (m.kind === 'server-stream') {
        m.open(request, stream)
        return
      }
      const out = m.handle(request, stream)
      if (out instanceof Promise) {
        if (stream.timeoutMs > 0) {
          stream.timer = setTimeout(() => this.#reject(stream, GrpcStatus.DEADLINE_EXCEEDED, 'deadline exceeded'), stream.timeoutMs)
        }
        out.then(
          (res) => this.#answer(stream, res),
          (err: unknown) => this.#failed(stream, err),
        )
      } else {
        this.#answer(stream, out)
      }
    } catch (err) {
      this.#failed(stream, err)
    }
  }

  #answer(stream: H2Stream, message: Uint8Array): void {
    if (stream.answered || stream.closed) return
    stream.answered = true
    const length = message.byteLength
    const payload = length + 5
    // The common case: the whole answer fits the windows and one frame, and nothing is waiting.
    if (stream.pending === null && payload <= this.#sendWindow && payload <= stream.sendWindow && payload <= this.#peerMaxFrame) {
      const headers = stream.headersSent ? 0 : FRAME_HEADER_BYTES + RESPONSE_HEADERS.length
      const total = headers + FRAME_HEADER_BYTES + payload + FRAME_HEADER_BYTES + TRAILERS_OK.length
      let at = this.#reserve(total)
      const out = this.#out
      if (headers > 0) {
        writeFrameHeader(out, at, RESPONSE_HEADERS.length, FrameType.HEADERS, Flag.END_HEADERS, stream.id)
        RESPONSE_HEADERS.copy(out, at + FRAME_HEADER_BYTES)
        at += headers
        stream.headersSent = true
      }
      writeFrameHeader(out, at, payload, FrameType.DATA, 0, stream.id)
      out[at + 9] = 0
      out.writeUInt32BE(length, at + 10)
      out.set(message, at + 14)
      at += FRAME_HEADER_BYTES + payload
      writeFrameHeader(out, at, TRAILERS_OK.length, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, stream.id)
      TRAILERS_OK.copy(out, at + FRAME_HEADER_BYTES)
      this.#sendWindow -= payload
      stream.sendWindow -= payload
      this.#markDirty()
      this.#finish(stream)
      return
    }
    this.#queueMessage(stream, message)
    this.#queueTrailers(stream, TRAILERS_OK)
  }

  /** A defect outside the handlers: reported, the call (if any) answered INTERNAL, or the connection closed. */
  defect(stream: H2Stream | undefined, err: unknown): void {
    this.#options.onHandlerError(stream?.path ?? '(connection)', err)
    if (stream !== undefined) this.sendStatus(stream, GrpcStatus.INTERNAL, 'internal error')
    else this.destroy()
  }

  #failed(stream: H2Stream, err: unknown): void {
    if (isStatus(err)) {
      this.sendStatus(stream, err.code, err.details ?? '')
      return
    }
    this.#options.onHandlerError(stream.path, err)
    this.sendStatus(stream, GrpcStatus.INTERNAL, 'internal error')
  }

  /** Sends a message on a server-streaming call. */
  sendMessage(stream: H2Stream, message: Uint8Array): void {
    if (stream.answered || stream.closed) return
    this.#queueMessage(stream, message)
  }

  /** Ends a call OK after its messages. */
  sendOk(stream: H2Stream): void {
    if (stream.answered || stream.closed) return
    stream.answered = true
    if (!stream.headersSent) this.#writeHeaders(stream)
    this.#queueTrailers(stream, TRAILERS_OK)
  }

  /** The transport itself refuses or ends a call (limits, framing, deadline): reported, then answered. */
  #reject(stream: H2Stream, code: number, details: string): void {
    if (stream.answered || stream.closed) return
    if (stream.method !== undefined) this.#options.onRejected?.(stream.path, code)
    this.sendStatus(stream, code, details)
  }

  /** Ends a call with a status: as trailers after what was sent, or Trailers-Only. */
  sendStatus(stream: H2Stream, code: number, details: string): void {
    if (stream.answered || stream.closed) return
    stream.answered = true
    this.#release(stream)
    const block = statusBlock(code, details)
    if (stream.headersSent) {
      this.#queueTrailers(stream, block.trailers)
      return
    }
    stream.headersSent = true
    this.#writeHeaderFrame(stream.id, block.trailersOnly, true)
    this.#finish(stream)
  }

  /** Answers a request that is not gRPC with a bare HTTP status. */
  #httpError(stream: H2Stream, status: number): void {
    stream.answered = true
    stream.headersSent = true
    this.#writeHeaderFrame(stream.id, encodeHeaderBlock([[':status', String(status)]]), true)
    this.#finish(stream)
  }

  #writeHeaders(stream: H2Stream): void {
    stream.headersSent = true
    this.#writeHeaderFrame(stream.id, RESPONSE_HEADERS, false)
  }

  #writeHeaderFrame(id: number, block: Buffer, endStream: boolean): void {
    const at = this.#reserve(FRAME_HEADER_BYTES + block.length)
    writeFrameHeader(this.#out, at, block.length, FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), id)
    block.copy(this.#out, at + FRAME_HEADER_BYTES)
    this.#markDirty()
  }

  /** Queues a length-prefixed message as DATA and sends what the windows allow. */
  #queueMessage(stream: H2Stream, message: Uint8Array): void {
    if (!stream.headersSent) this.#writeHeaders(stream)
    const framed = Buffer.allocUnsafe(message.byteLength + 5)
    framed[0] = 0
    framed.writeUInt32BE(message.byteLength, 1)
    framed.set(message, 5)
    if (stream.pending === null) {
      stream.pending = framed
      stream.pendingAt = 0
    } else {
      stream.pending = Buffer.concat([stream.pending.subarray(stream.pendingAt), framed])
      stream.pendingAt = 0
    }
    this.#send(stream)
  }

  #queueTrailers(stream: H2Stream, block: Buffer): void {
    stream.pendingTrailers = block
    this.#send(stream)
  }

  /** Sends a stream's pending DATA as far as the windows allow, then its trailers. True when done. */
  #send(stream: H2Stream): boolean {
    const pending = stream.pending
    if (pending !== null) {
      while (stream.pendingAt < pending.length) {
        const n = Math.min(pending.length - stream.pendingAt, this.#sendWindow, stream.sendWindow, this.#peerMaxFrame)
        if (n <= 0) {
          if (!stream.blocked) {
            stream.blocked = true
            this.#blocked.push(stream)
          }
          this.#markDirty()
          return false
        }
        const at = this.#reserve(FRAME_HEADER_BYTES + n)
        writeFrameHeader(this.#out, at, n, FrameType.DATA, 0, stream.id)
        pending.copy(this.#out, at + FRAME_HEADER_BYTES, stream.pendingAt, stream.pendingAt + n)
        stream.pendingAt += n
        this.#sendWindow -= n
        stream.sendWindow -= n
      }
      stream.pending = null
      stream.pendingAt = 0
    }
    const trailers = stream.pendingTrailers
    if (trailers !== null) {
      stream.pendingTrailers = null
      this.#writeHeaderFrame(stream.id, trailers, true)
      this.#finish(stream)
    } else {
      this.#markDirty()
    }
    return true
  }

  /** Retries the streams that waited for window. */
  #resume(): void {
    if (this.#blocked.length === 0) return
    const blocked = this.#blocked
    this.#blocked = []
    for (const stream of blocked) {
      stream.blocked = false
      if (!stream.closed) this.#send(stream)
    }
  }

  /** A stream's request bytes no longer count as unfinished (completed, answered or gone). */
  #release(stream: H2Stream): void {
    this.#buffered -= stream.bytes
    stream.bytes = 0
    stream.parts = []
  }

  /** The stream's answer is complete: it leaves the table; a client still sending is told to stop. */
  #finish(stream: H2Stream): void {
    if (stream.closed) return
    stream.closed = true
    if (stream.timer !== undefined) clearTimeout(stream.timer)
    this.#streams.delete(stream.id)
    if (!stream.remoteClosed) this.#rst(stream.id, H2Error.NO_ERROR)
    if (this.#goawaySent) this.#closeIfIdle()
  }

  #resetStream(stream: H2Stream, code: number): void {
    this.#rst(stream.id, code)
    this.#cancel(stream)
  }

  /** The stream is gone without an answer (reset, connection closed). */
  #cancel(stream: H2Stream): void {
    if (stream.closed) return
    stream.closed = true
    stream.cancelled = true
    stream.answered = true
    stream.pending = null
    stream.pendingTrailers = null
    this.#release(stream)
    if (stream.timer !== undefined) clearTimeout(stream.timer)
    this.#streams.delete(stream.id)
    const listeners = stream.cancelListeners
    if (listeners !== undefined) {
      stream.cancelListeners = undefined
      for (const l of listeners) {
        try {
          l()
        } catch (err) {
          this.#options.onHandlerError(stream.path, err)
        }
      }
    }
    if (this.#goawaySent) this.#closeIfIdle()
  }

  // ---- output ---------------------------------------------------------------------------------

  /** Room for `n` more bytes of output; returns where they go. */
  #reserve(n: number): number {
    const at = this.#outLen
    if (at + n > this.#out.length) {
      const next = Buffer.allocUnsafe(Math.max(at + n, this.#out.length * 2, this.#outHint))
      this.#out.copy(next, 0, 0, at)
      this.#out = next
    }
    this.#outLen = at + n
    return at
  }

  #rst(id: number, code: number): void {
    const at = this.#reserve(FRAME_HEADER_BYTES + 4)
    writeFrameHeader(this.#out, at, 4, FrameType.RST_STREAM, 0, id)
    this.#out.writeUInt32BE(code, at + FRAME_HEADER_BYTES)
    this.#markDirty()
  }

  #windowUpdate(id: number, increment: number): void {
    const at = this.#reserve(FRAME_HEADER_BYTES + 4)
    writeFrameHeader(this.#out, at, 4, FrameType.WINDOW_UPDATE, 0, id)
    this.#out.writeUInt32BE(increment, at + FRAME_HEADER_BYTES)
    this.#markDirty()
  }

  #goaway(code: number, message: string): void {
    this.#goawaySent = true
    const debug = Buffer.from(message.slice(0, 256), 'utf8')
    const at = this.#reserve(FRAME_HEADER_BYTES + 8 + debug.length)
    writeFrameHeader(this.#out, at, 8 + debug.length, FrameType.GOAWAY, 0, 0)
    this.#out.writeUInt32BE(this.#lastStreamId, at + FRAME_HEADER_BYTES)
    this.#out.writeUInt32BE(code, at + FRAME_HEADER_BYTES + 4)
    debug.copy(this.#out, at + FRAME_HEADER_BYTES + 8)
  }

  #markDirty(): void {
    if (this.#dirty) return
    this.#dirty = true
    turn.dirty(this)
  }

  /** Writes the output gathered so far in one write. */
  flush(): void {
    this.#dirty = false
    if (this.#outLen === 0 || this.#closed) return
    const chunk = this.#out.subarray(0, this.#outLen)
    // The socket keeps the chunk until it is written: the next output goes to a fresh buffer,
    // allocated when needed, about as large.
    this.#outHint = Math.max(4096, Math.min(this.#outLen, 1 << 16))
    this.#out = EMPTY
    this.#outLen = 0
    this.#socket.write(chunk)
    if (!this.#paused && this.#socket.writableLength > OUTPUT_HIGH_WATER) {
      // The peer does not read its answers: stop reading its requests until it does.
      this.#paused = true
      this.#socket.pause()
    }
  }

  // ---- closing --------------------------------------------------------------------------------

  #closeIfIdle(): void {
    if (this.#streams.size === 0 && !this.#closed) {
      this.flush()
      this.#socket.end()
      this.#teardown()
    }
  }

  #fail(err: unknown): void {
    if (this.#closed) return
    const ce =
      err instanceof ConnectionError ? err : new ConnectionError(H2Error.INTERNAL_ERROR, 'internal error')
    if (!(err instanceof ConnectionError)) this.#options.onHandlerError('(connection)', err)
    this.#options.onConnectionError('HTTP/2 connection error', { peer: this.peer, code: ce.code, error: ce.message })
    this.#goaway(ce.code, ce.message)
    this.flush()
    this.#socket.end()
    // A peer that does not close its side is cut off.
    setTimeout(() => this.#socket.destroy(), 1000).unref()
    this.#teardown()
  }

  #teardown(): void {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#prefaceTimer)
    const streams: H2Stream[] = []
    this.#streams.forEach((s) => streams.push(s))
    for (const s of streams) this.#cancel(s)
    this.#blocked = []
    this.#input = EMPTY
    this.#onClose(this)
  }
}
