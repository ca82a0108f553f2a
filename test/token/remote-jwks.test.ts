/**
 * Tests for remote JWKS key sources against a real local HTTP server: fetch, rotation through an
 * unknown kid, and riding out an identity-provider outage on the last good key set.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { createTokenVerifier, defaultTokenOptions, TokenError } from '../../src/token/index.js'
import type { TokenVerifier } from '../../src/token/index.js'
import { createTestIssuer, type TestIssuer } from '../helpers/tokens.js'

interface JwksServer {
  url: string
  hits: number
  keys: TestIssuer[]
  close(): Promise<void>
}

async function serveJwks(keys: TestIssuer[]): Promise<JwksServer> {
  const state: JwksServer = { url: '', hits: 0, keys, close: async () => {} }
  const server: Server = createServer((_req, res) => {
    state.hits++
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ keys: state.keys.map((k) => k.jwk) }))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`
  state.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections()
      server.close(() => r())
    })
  return state
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'OK'
  } catch (e) {
    expect(e).toBeInstanceOf(TokenError)
    return (e as TokenError).code
  }
}

const open: Array<{ close(): unknown }> = []
afterEach(async () => {
  for (const o of open.splice(0)) await o.close()
})

function verifier(url: string, jwksCache: object): TokenVerifier {
  const v = createTokenVerifier({
    ...defaultTokenOptions(),
    issuers: [{ issuer: 'https://remote.test', jwks: { url }, audiences: ['verdict-test'] }],
    jwksCache,
    cache: { maxEntries: 0 },
  })
  open.push(v)
  return v
}

describe('remote JWKS', () => {
  it('verifies with fetched keys and picks up a rotated key after the cooldown', async () => {
    const a = await createTestIssuer({ issuer: 'https://remote.test', kid: 'a', alg: 'PS256' })
    const b = await createTestIssuer({ issuer: 'https://remote.test', kid: 'b', alg: 'EdDSA' })
    const srv = await serveJwks([a])
    open.push(srv)
    const v = createTokenVerifier({
      ...defaultTokenOptions(),
      issuers: [
        {
          issuer: 'https://remote.test',
          jwks: { url: srv.url },
          audiences: ['verdict-test'],
          algorithms: ['PS256', 'EdDSA'],
        },
      ],
      jwksCache: { cooldownMs: 0 },
    })
    open.push(v)
    expect(await codeOf(v.verify(await a.mint()))).toBe('OK')
    expect(await codeOf(v.verify(await b.mint()))).toBe('ERR_TOKEN_UNKNOWN_KEY')
    srv.keys = [a, b]
    expect(await codeOf(v.verify(await b.mint()))).toBe('OK')
  })

  it('keeps the last good key set while the JWKS endpoint is down', async () => {
    const a = await createTestIssuer({ issuer: 'https://remote.test', kid: 'a' })
    const srv = await serveJwks([a])
    const v = verifier(srv.url, { cacheMaxAgeMs: 1, cooldownMs: 0, timeoutMs: 500 })
    expect(await codeOf(v.verify(await a.mint()))).toBe('OK')
    await srv.close()
    await new Promise((r) => setTimeout(r, 20))
    expect(await codeOf(v.verify(await a.mint()))).toBe('OK')
  })

  it('stops trusting the last good key set once the outage outlasts maxStaleMs', async () => {
    const a = await createTestIssuer({ issuer: 'https://remote.test', kid: 'a' })
    const srv = await serveJwks([a])
    const v = verifier(srv.url, { cacheMaxAgeMs: 1, cooldownMs: 0, timeoutMs: 500, maxStaleMs: 300 })
    expect(await codeOf(v.verify(await a.mint()))).toBe('OK')
    await srv.close()
    await new Promise((r) => setTimeout(r, 20))
    expect(await codeOf(v.verify(await a.mint()))).toBe('OK')
    // Beyond maxStaleMs, plus the verifier's one-second reuse of a converted key.
    await new Promise((r) => setTimeout(r, 1400))
    expect(await codeOf(v.verify(await a.mint()))).toBe('ERR_TOKEN_UNKNOWN_KEY')
  })

  it('denies with unknown key when the endpoint was never reachable', async () => {
    const a = await createTestIssuer({ issuer: 'https://remote.test', kid: 'a' })
    const srv = await serveJwks([a])
    await srv.close()
    const v = verifier(srv.url, { timeoutMs: 500 })
    expect(await codeOf(v.verify(await a.mint()))).toBe('ERR_TOKEN_UNKNOWN_KEY')
  })
})
