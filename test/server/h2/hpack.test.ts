/**
 * The HPACK decoder of the benchmark's HTTP/2 client against the examples of RFC 7541 Appendix
 * C (requests and responses, raw and Huffman-coded, with dynamic table eviction), plus the
 * error cases a server's garbage must end in.
 */
import { describe, expect, it } from 'vitest'
import {
  encodeHeaderBlock,
  HpackDecoder,
  HpackError,
  huffmanCode,
  huffmanDecode,
} from '../../../src/server/h2/hpack.js'

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')

function decodeAll(dec: HpackDecoder, block: Buffer): [string, string][] {
  const n = dec.decode(block, 0, block.length)
  const out: [string, string][] = []
  for (let i = 0; i < n; i++) out.push([dec.headers[2 * i]!, dec.headers[2 * i + 1]!])
  return out
}

/** Huffman-codes a Latin-1 string with the RFC's code, padding with the EOS prefix. */
function huffmanEncode(s: string): Buffer {
  const { codes, lengths } = huffmanCode()
  let bits = ''
  for (const b of Buffer.from(s, 'latin1')) bits += codes[b]!.toString(2).padStart(lengths[b]!, '0')
  bits += '1'.repeat((8 - (bits.length % 8)) % 8)
  const out = Buffer.alloc(bits.length / 8)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(bits.slice(8 * i, 8 * i + 8), 2)
  return out
}

const REQ1: [string, string][] = [
  [':method', 'GET'],
  [':scheme', 'http'],
  [':path', '/'],
  [':authority', 'www.example.com'],
]
const REQ2: [string, string][] = [...REQ1, ['cache-control', 'no-cache']]
const REQ3: [string, string][] = [
  [':method', 'GET'],
  [':scheme', 'https'],
  [':path', '/index.html'],
  [':authority', 'www.example.com'],
  ['custom-key', 'custom-value'],
]

const DATE1 = 'Mon, 21 Oct 2013 20:13:21 GMT'
const DATE2 = 'Mon, 21 Oct 2013 20:13:22 GMT'
const LOCATION = 'https://www.example.com'
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'
const RES1: [string, string][] = [
  [':status', '302'],
  ['cache-control', 'private'],
  ['date', DATE1],
  ['location', LOCATION],
]
const RES2: [string, string][] = [
  [':status', '307'],
  ['cache-control', 'private'],
  ['date', DATE1],
  ['location', LOCATION],
]
const RES3: [string, string][] = [
  [':status', '200'],
  ['cache-control', 'private'],
  ['date', DATE2],
  ['location', LOCATION],
  ['content-encoding', 'gzip'],
  ['set-cookie', COOKIE],
]

/** One request or response of an Appendix C example, with the table it leaves. */
interface Step {
  block: string
  headers: [string, string][]
  table: [string, string][]
  size: number
}

const REQUEST_TABLES = {
  t1: [[':authority', 'www.example.com']] as [string, string][],
  t2: [
    ['cache-control', 'no-cache'],
    [':authority', 'www.example.com'],
  ] as [string, string][],
  t3: [
    ['custom-key', 'custom-value'],
    ['cache-control', 'no-cache'],
    [':authority', 'www.example.com'],
  ] as [string, string][],
}

const RESPONSE_TABLES = {
  t1: [
    ['location', LOCATION],
    ['date', DATE1],
    ['cache-control', 'private'],
    [':status', '302'],
  ] as [string, string][],
  // :status 302 is evicted to make room for :status 307.
  t2: [
    [':status', '307'],
    ['location', LOCATION],
    ['date', DATE1],
    ['cache-control', 'private'],
  ] as [string, string][],
  // Four entries are evicted; only three fit after the set-cookie entry.
  t3: [
    ['set-cookie', COOKIE],
    ['content-encoding', 'gzip'],
    ['date', DATE2],
  ] as [string, string][],
}

const EXAMPLES: { name: string; tableSize: number; steps: Step[] }[] = [
  {
    name: 'C.3 requests without Huffman coding',
    tableSize: 4096,
    steps: [
      {
        block: '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
        headers: REQ1,
        table: REQUEST_TABLES.t1,
        size: 57,
      },
      {
        block: '8286 84be 5808 6e6f 2d63 6163 6865',
        headers: REQ2,
        table: REQUEST_TABLES.t2,
        size: 110,
      },
      {
        block: '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
        headers: REQ3,
        table: REQUEST_TABLES.t3,
        size: 164,
      },
    ],
  },
  {
    name: 'C.4 requests with Huffman coding',
    tableSize: 4096,
    steps: [
      {
        block: '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
        headers: REQ1,
        table: REQUEST_TABLES.t1,
        size: 57,
      },
      {
        block: '8286 84be 5886 a8eb 1064 9cbf',
        headers: REQ2,
        table: REQUEST_TABLES.t2,
        size: 110,
      },
      {
        block: '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
        headers: REQ3,
        table: REQUEST_TABLES.t3,
        size: 164,
      },
    ],
  },
  {
    name: 'C.5 responses without Huffman coding, 256-octet table',
    tableSize: 256,
    steps: [
      {
        block: `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
                2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
                6c65 2e63 6f6d`,
        headers: RES1,
        table: RESPONSE_TABLES.t1,
        size: 222,
      },
      { block: '4803 3330 37c1 c0bf', headers: RES2, table: RESPONSE_TABLES.t2, size: 222 },
      {
        block: `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
                54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
                5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
                3d31`,
        headers: RES3,
        table: RESPONSE_TABLES.t3,
        size: 215,
      },
    ],
  },
  {
    name: 'C.6 responses with Huffman coding, 256-octet table',
    tableSize: 256,
    steps: [
      {
        block: `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
                2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
        headers: RES1,
        table: RESPONSE_TABLES.t1,
        size: 222,
      },
      { block: '4883 640e ffc1 c0bf', headers: RES2, table: RESPONSE_TABLES.t2, size: 222 },
      {
        block: `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
                77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
                9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
        headers: RES3,
        table: RESPONSE_TABLES.t3,
        size: 215,
      },
    ],
  },
]

describe('HpackDecoder', () => {
  for (const ex of EXAMPLES) {
    it(`decodes RFC 7541 ${ex.name}`, () => {
      const dec = new HpackDecoder(ex.tableSize)
      for (const step of ex.steps) {
        expect(decodeAll(dec, hex(step.block))).toEqual(step.headers)
        expect(dec.entries()).toEqual(step.table)
        expect(dec.tableSize).toBe(step.size)
      }
    })
  }

  it('decodes a block in the middle of a larger buffer', () => {
    const block = hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d')
    const buf = Buffer.concat([Buffer.from([0xff, 0xff]), block, Buffer.from([0xff])])
    const dec = new HpackDecoder()
    expect(dec.decode(buf, 2, 2 + block.length)).toBe(4)
    expect(dec.headers.slice(0, 8)).toEqual(REQ1.flat())
  })

  it('shrinks and evicts on a dynamic table size update, and grows again up to the limit', () => {
    const dec = new HpackDecoder(256)
    decodeAll(dec, hex(EXAMPLES[2]!.steps[0]!.block))
    expect(dec.entries()).toHaveLength(4)
    // 001xxxxx with 5-bit prefix: 100 = 31 + 69 → 3f 45. Keeps location (63) only.
    expect(decodeAll(dec, hex('3f45 be'))).toEqual([['location', LOCATION]])
    expect(dec.entries()).toEqual([['location', LOCATION]])
    expect(dec.tableSize).toBe(63)
    expect(dec.maxTableSize).toBe(100)
    // Size 0 empties the table; then 256 lets entries in again.
    expect(decodeAll(dec, hex('20 3fe1 01 88'))).toEqual([[':status', '200']])
    expect(dec.entries()).toEqual([])
    expect(dec.maxTableSize).toBe(256)
    expect(decodeAll(dec, hex('4803 3330 32 be'))).toEqual([
      [':status', '302'],
      [':status', '302'],
    ])
  })

  it('empties the table for an entry larger than the table, and does not add it', () => {
    const dec = new HpackDecoder(64)
    decodeAll(dec, hex('4803 3330 32'))
    expect(dec.tableSize).toBe(42)
    const big = 'x'.repeat(40)
    // 69: literal with incremental indexing, name index 41 (if-none-match); 13 + 40 + 32 > 64.
    const block = Buffer.concat([hex('69'), Buffer.from([big.length]), Buffer.from(big)])
    expect(decodeAll(dec, block)).toEqual([['if-none-match', big]])
    expect(dec.entries()).toEqual([])
    expect(dec.tableSize).toBe(0)
  })

  it('leaves the table alone for literals without indexing and never-indexed literals', () => {
    const dec = new HpackDecoder()
    // 0f 10 = content-type (31) without indexing; 10 = never indexed, literal name.
    const block = Buffer.concat([
      hex('0f10 10'),
      Buffer.from('application/grpc'),
      hex('10 02'),
      Buffer.from('te'),
      hex('08'),
      Buffer.from('trailers'),
    ])
    expect(decodeAll(dec, block)).toEqual([
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
    ])
    expect(dec.entries()).toEqual([])
  })

  const errors: [string, string, RegExp][] = [
    ['index 0', '80', /index 0/],
    ['an index past the table', 'be', /past the table/],
    ['a size update above the advertised limit', '3fe2 1f', /exceeds the limit 4096/],
    ['a size update after a field', '82 20', /after a header field/],
    ['a truncated integer', 'ff', /inside an integer/],
    ['an integer too large', 'ff ff ff ff ff 0f', /too large/],
    ['a string past the block', '4005 6162', /past the header block/],
    ['a literal without its value', '0f10', /before a string/],
  ]
  for (const [what, block, message] of errors) {
    it(`rejects ${what}`, () => {
      const dec = new HpackDecoder()
      const b = hex(block)
      expect(() => dec.decode(b, 0, b.length)).toThrow(HpackError)
      expect(() => new HpackDecoder().decode(b, 0, b.length)).toThrow(message)
    })
  }
})

describe('huffmanDecode', () => {
  it('uses the codes of RFC 7541 Appendix B', () => {
    const { codes, lengths } = huffmanCode()
    expect([codes[48], lengths[48]]).toEqual([0x0, 5]) // '0'
    expect([codes[97], lengths[97]]).toEqual([0x3, 5]) // 'a'
    expect([codes[0], lengths[0]]).toEqual([0x1ff8, 13])
    expect([codes[10], lengths[10]]).toEqual([0x3ffffffc, 30])
    expect([codes[255], lengths[255]]).toEqual([0x3ffffee, 26])
    expect([codes[256], lengths[256]]).toEqual([0x3fffffff, 30]) // EOS
    // A complete prefix code: the Kraft sum is exactly 1.
    expect(lengths.reduce((s, l) => s + 2 ** -l, 0)).toBe(1)
  })

  it('round-trips every octet value', () => {
    let all = ''
    for (let b = 0; b < 256; b++) all += String.fromCharCode(b)
    for (const s of [all, all.split('').reverse().join(''), '', 'a', 'www.example.com']) {
      const enc = huffmanEncode(s)
      expect(huffmanDecode(enc, 0, enc.length)).toBe(s)
    }
  })

  it('rejects EOS inside a string', () => {
    // 'a' (00011) then EOS (30 ones), then 5 ones of padding.
    const bits = '00011' + '1'.repeat(30) + '1'.repeat(5)
    const enc = Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)))
    expect(() => huffmanDecode(enc, 0, enc.length)).toThrow(/contains EOS/)
  })

  it('rejects padding longer than 7 bits or not made of ones', () => {
    // 'a' (5 bits) + 11 one-bits of padding.
    expect(() => huffmanDecode(hex('1fff'), 0, 2)).toThrow(/invalid padding/)
    // 'a' + padding 000.
    expect(() => huffmanDecode(hex('18'), 0, 1)).toThrow(/invalid padding/)
    expect(huffmanDecode(hex('1f'), 0, 1)).toBe('a')
  })
})

describe('encodeHeaderBlock', () => {
  it('encodes a gRPC request that decodes back and leaves the table empty', () => {
    const fields: [string, string][] = [
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', '/verdict.v1.Authorizer/Check'],
      [':authority', '127.0.0.1:50051'],
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
    ]
    const block = encodeHeaderBlock(fields)
    // Fully indexed static entries: :method POST is 3, :scheme http is 6.
    expect([...block.subarray(0, 2)]).toEqual([0x83, 0x86])
    const dec = new HpackDecoder()
    expect(decodeAll(dec, block)).toEqual(fields)
    expect(decodeAll(dec, block)).toEqual(fields)
    expect(dec.entries()).toEqual([])
  })

  it('encodes long strings with multi-octet lengths', () => {
    const path = '/' + 'p'.repeat(300)
    const block = encodeHeaderBlock([[':path', path]])
    expect(decodeAll(new HpackDecoder(), block)).toEqual([[':path', path]])
  })

  it('refuses upper-case header names', () => {
    expect(() => encodeHeaderBlock([['Content-Type', 'x']])).toThrow(TypeError)
  })
})
