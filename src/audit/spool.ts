/**
 * A bounded on-disk spool of audit events: append-only JSON-lines segment files, consumed from
 * the oldest. Events sit here while NATS is unreachable and are replayed in order afterwards.
 *
 * Operations are synchronous on purpose: appends are small page-cache writes that happen only
 * during an outage, and a single synchronous writer keeps the order of events trivially right.
 * A segment is deleted only after every line in it was acknowledged, so a crash replays at most
 * one segment's worth of events, which the stream's msgID dedupe absorbs.
 *
 * @module
 */
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'

const NEWLINE = Buffer.from('\n')
const SEGMENT_RE = /^audit-(\d{12})\.jsonl$/

interface Segment {
  seq: number
  path: string
  bytes: number
  lines: number
}

/** Options for {@link DiskSpool}. */
export interface DiskSpoolOptions {
  /** Total bytes on disk before appends are refused. */
  maxBytes: number
  /** A segment is closed once it reaches this size. */
  segmentBytes: number
}

/** Bounded, ordered, append-only spool on disk. */
export class DiskSpool {
  readonly dir: string
  readonly #opts: DiskSpoolOptions
  readonly #segments: Segment[] = []
  #bytes = 0
  /** Lines of the oldest segment already acknowledged. */
  #cursor = 0
  /** The active (newest) segment accepts appends; older ones are closed. */
  #activeOpen = false
  #cache: { seq: number; lines: string[] } | undefined
  /** Open descriptor of the active segment; kept open so an outage costs one write per event. */
  #fd: number | undefined

  constructor(dir: string, options: DiskSpoolOptions) {
    this.dir = dir
    this.#opts = options
    mkdirSync(dir, { recursive: true })
    const names = readdirSync(dir).filter((n) => SEGMENT_RE.test(n)).sort()
    for (const name of names) {
      const path = join(dir, name)
      const text = readFileSync(path, 'utf8')
      const lines = text.split('\n').filter((l) => l !== '').length
      const seq = Number(SEGMENT_RE.exec(name)?.[1])
      if (lines === 0) {
        unlinkSync(path)
        continue
      }
      const bytes = statSync(path).size
      this.#segments.push({ seq, path, bytes, lines })
      this.#bytes += bytes
    }
    // Segments left by an earlier process are complete; never append into them.
    this.#activeOpen = false
  }

  /** Lines not yet acknowledged. */
  get pending(): number {
    let n = 0
    for (const s of this.#segments) n += s.lines
    return Math.max(0, n - this.#cursor)
  }

  get empty(): boolean {
    return this.pending <= 0
  }

  /** Bytes on disk. */
  get bytes(): number {
    return this.#bytes
  }

  /**
   * Appends one line (no newline inside), as text or UTF-8 bytes. Returns false, writing nothing,
   * when the spool is full.
   */
  append(line: string | Uint8Array): boolean {
    const data = typeof line === 'string' ? Buffer.from(`${line}\n`) : Buffer.concat([line, NEWLINE])
    const size = data.length
    if (this.#bytes + size > this.#opts.maxBytes) return false
    let seg = this.#activeOpen ? this.#segments[this.#segments.length - 1] : undefined
    if (!seg || seg.bytes + size > this.#opts.segmentBytes) {
      this.#closeActive()
      const last = this.#segments[this.#segments.length - 1]
      const seq = (last?.seq ?? 0) + 1
      seg = { seq, path: join(this.dir, `audit-${String(seq).padStart(12, '0')}.jsonl`), bytes: 0, lines: 0 }
      this.#segments.push(seg)
      this.#activeOpen = true
    }
    this.#fd ??= openSync(seg.path, 'a')
    writeSync(this.#fd, data)
    seg.bytes += size
    seg.lines++
    this.#bytes += size
    return true
  }

  /** Closes the open segment descriptor (the spool reopens on the next append). */
  close(): void {
    this.#closeActive()
    this.#activeOpen = false
  }

  #closeActive(): void {
    if (this.#fd !== undefined) closeSync(this.#fd)
    this.#fd = undefined
  }

  /** Up to `max` of the oldest unacknowledged lines, in order. */
  peek(max: number): string[] {
    const seg = this.#segments[0]
    if (!seg) return []
    if (!this.#cache || this.#cache.seq !== seg.seq || this.#cache.lines.length < seg.lines) {
      const text = readFileSync(seg.path, 'utf8')
      this.#cache = { seq: seg.seq, lines: text.split('\n').filter((l) => l !== '') }
    }
    return this.#cache.lines.slice(this.#cursor, this.#cursor + max)
  }

  /** Marks the first `n` lines returned by {@link peek} as delivered; drops finished segments. */
  ack(n: number): void {
    const seg = this.#segments[0]
    if (!seg || n <= 0) return
    this.#cursor += n
    if (this.#cursor >= seg.lines) {
      this.#segments.shift()
      this.#bytes -= seg.bytes
      this.#cursor = 0
      this.#cache = undefined
      if (this.#segments.length === 0) {
        this.#closeActive()
        this.#activeOpen = false
      }
      try {
        unlinkSync(seg.path)
      } catch {
        // Already gone: nothing to replay from it anyway.
      }
    }
  }
}
