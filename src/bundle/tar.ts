/**
 * A small ustar reader and writer for bundle archives: regular files only, no links, names up to
 * the 100+155 byte ustar limit. Enough for OPA-format bundles, which hold a handful of files.
 *
 * @module
 */

import { BundleError, BundleErrorCode } from './errors.js'

const BLOCK = 512

/** One file of an archive; `name` is normalised without a leading `/`. */
export interface TarEntry {
  name: string
  data: Uint8Array
}

/** Limits applied while reading. */
export interface TarReadOptions {
  /** Largest single entry, in bytes. */
  maxEntryBytes: number
}

/**
 * Normalises an archive path to `a/b/c` and rejects anything that could escape the bundle root.
 */
export function normalizeEntryName(raw: string): string {
  if (raw.includes('\0') || raw.includes('\\')) {
    throw new BundleError(BundleErrorCode.PathTraversal, `invalid entry name: ${JSON.stringify(raw)}`)
  }
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.')
  if (parts.some((p) => p === '..')) {
    throw new BundleError(BundleErrorCode.PathTraversal, `entry escapes the bundle: ${raw}`)
  }
  return parts.join('/')
}

function readString(block: Uint8Array, offset: number, length: number): string {
  let end = offset
  while (end < offset + length && block[end] !== 0) end++
  return new TextDecoder().decode(block.subarray(offset, end))
}

function readOctal(block: Uint8Array, offset: number, length: number): number {
  const text = readString(block, offset, length).trim()
  if (text === '') return 0
  if (!/^[0-7]+$/.test(text)) {
    throw new BundleError(BundleErrorCode.Corrupt, `bad octal field in tar header: ${text}`)
  }
  return parseInt(text, 8)
}

function checksum(header: Uint8Array): number {
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!
  return sum
}

/** Reads the regular files of an uncompressed ustar archive. Directories are skipped. */
export function readTar(bytes: Uint8Array, options: TarReadOptions): TarEntry[] {
  const entries: TarEntry[] = []
  let offset = 0
  let longName: string | undefined
  while (offset + BLOCK <= bytes.length) {
    const header = bytes.subarray(offset, offset + BLOCK)
    if (header.every((b) => b === 0)) break
    if (readOctal(header, 148, 8) !== checksum(header)) {
      throw new BundleError(BundleErrorCode.Corrupt, `tar header checksum mismatch at ${offset}`)
    }
    const size = readOctal(header, 124, 12)
    const type = String.fromCharCode(header[156] ?? 0)
    const prefix = readString(header, 345, 155)
    let name = readString(header, 0, 100)
    if (prefix !== '') name = `${prefix}/${name}`
    const start = offset + BLOCK
    if (start + size > bytes.length) {
      throw new BundleError(BundleErrorCode.Corrupt, 'tar archive is truncated')
    }
    offset = start + Math.ceil(size / BLOCK) * BLOCK
    if (type === 'L') {
      // GNU long name: the next header's name is this entry's data.
      longName = readString(bytes, start, size)
      continue
    }
    if (longName !== undefined) {
      name = longName
      longName = undefined
    }
    if (type === 'x' || type === 'g' || type === '5') continue
    if (type !== '0' && type !== '\0') {
      throw new BundleError(BundleErrorCode.Corrupt, `unsupported tar entry type ${JSON.stringify(type)}: ${name}`)
    }
    if (size > options.maxEntryBytes) {
      throw new BundleError(BundleErrorCode.TooLarge, `entry ${name} is ${size} bytes (limit ${options.maxEntryBytes})`)
    }
    const normalized = normalizeEntryName(name)
    if (normalized === '') continue
    entries.push({ name: normalized, data: new Uint8Array(bytes.subarray(start, start + size)) })
  }
  return entries
}

function writeString(block: Uint8Array, offset: number, length: number, value: string): void {
  const bytes = new TextEncoder().encode(value)
  if (bytes.length > length) throw new TypeError(`tar field too long: ${value}`)
  block.set(bytes, offset)
}

function writeOctal(block: Uint8Array, offset: number, length: number, value: number): void {
  writeString(block, offset, length, value.toString(8).padStart(length - 1, '0'))
}

/**
 * Writes a ustar archive of regular files. Names are written as OPA does, with a leading `/`;
 * mtime is fixed so the same files always give the same bytes.
 */
export function writeTar(entries: TarEntry[]): Uint8Array {
  const chunks: Uint8Array[] = []
  for (const entry of entries) {
    const name = `/${normalizeEntryName(entry.name)}`
    const header = new Uint8Array(BLOCK)
    const encoded = new TextEncoder().encode(name)
    if (encoded.length <= 100) {
      writeString(header, 0, 100, name)
    } else {
      const cut = name.lastIndexOf('/', 155)
      if (cut <= 0 || new TextEncoder().encode(name.slice(cut + 1)).length > 100) {
        throw new TypeError(`tar entry name too long: ${name}`)
      }
      writeString(header, 345, 155, name.slice(0, cut))
      writeString(header, 0, 100, name.slice(cut + 1))
    }
    writeOctal(header, 100, 8, 0o644)
    writeOctal(header, 108, 8, 0)
    writeOctal(header, 116, 8, 0)
    writeOctal(header, 124, 12, entry.data.length)
    writeOctal(header, 136, 12, 0)
    header[156] = '0'.charCodeAt(0)
    writeString(header, 257, 6, 'ustar')
    writeString(header, 263, 2, '00')
    writeOctal(header, 148, 7, checksum(header))
    header[155] = 0x20
    chunks.push(header, entry.data)
    const pad = (BLOCK - (entry.data.length % BLOCK)) % BLOCK
    if (pad > 0) chunks.push(new Uint8Array(pad))
  }
  chunks.push(new Uint8Array(BLOCK * 2))
  const total = chunks.reduce((n, c) => n + c.length, 0)
  const out = new Uint8Array(total)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.length
  }
  return out
}
