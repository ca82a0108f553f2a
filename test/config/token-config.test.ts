import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadServeConfig } from '../../src/config/index.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-token-config-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function fromYaml(lines: string[], env: Record<string, string> = {}) {
  const path = join(dir, `c-${Math.random().toString(36).slice(2)}.yaml`)
  await writeFile(path, ['bundle: b.tar.gz', ...lines, ''].join('\n'))
  return loadServeConfig({ flags: { 'insecure-skip-bundle-verification': 'true', config: path }, env })
}

const errorOf = async (p: Promise<unknown>) => {
  try {
    await p
  } catch (err) {
    return err as { code?: string; message: string }
  }
  throw new Error('expected a config error')
}

describe('loadServeConfig token settings', () => {
  it('reads several issuers, each with its own key source, audiences, algorithms and mapping', async () => {
    const config = await fromYaml([
      'token:',
      '  clock_skew: 10s',
      '  maxTokenAge: 2h',
      '  requiredScopes: trades audit',
      '  jwksCache: { maxAge: 5m, cooldown: 10s, timeout: 2s, fileCheckInterval: 500ms, maxStale: 1h }',
      '  issuers:',
      '    - issuer: https://corp',
      '      jwks: { file: corp.json }',
      '      audiences: [trades-api]',
      '      algorithms: [RS256, PS256]',
      '      typ: at+jwt',
      '    - issuer: https://partner',
      '      jwks: https://partner/jwks.json',
      '      audience: trades-partner',
      '      required_claims: [exp, sub]',
      '      claims_mapping: { subject: uid, client_id: azp, claims: { roles: groups } }',
    ])
    expect(config.token.clockSkewMs).toBe(10_000)
    expect(config.token.maxTokenAgeMs).toBe(7_200_000)
    expect(config.token.requiredScopes).toEqual(['trades', 'audit'])
    expect(config.token.jwksCache).toEqual({
      cacheMaxAgeMs: 300_000,
      cooldownMs: 10_000,
      timeoutMs: 2000,
      fileCheckIntervalMs: 500,
      maxStaleMs: 3_600_000,
    })
    expect(config.token.issuers).toEqual([
      { issuer: 'https://corp', jwks: { file: 'corp.json' }, audiences: ['trades-api'], algorithms: ['RS256', 'PS256'], typ: 'at+jwt' },
      {
        issuer: 'https://partner',
        jwks: { url: 'https://partner/jwks.json' },
        audiences: ['trades-partner'],
        requiredClaims: ['exp', 'sub'],
        claimsMapping: { subject: 'uid', clientId: 'azp', claims: { roles: 'groups' } },
      },
    ])
  })

  it('takes issuers as JSON and required scopes from the environment, flags first', () => {
    const issuers = JSON.stringify([{ issuer: 'https://env', jwks: { url: 'http://127.0.0.1:1/jwks' }, audiences: ['api'] }])
    const config = loadServeConfig({
      flags: { 'insecure-skip-bundle-verification': 'true', bundle: 'b', 'required-scope': 'trades,reports' },
      env: { VERDICT_ISSUERS: issuers, VERDICT_REQUIRED_SCOPES: 'ignored' },
    })
    expect(config.token.issuers[0]).toMatchObject({ issuer: 'https://env', jwks: { url: 'http://127.0.0.1:1/jwks' } })
    expect(config.token.requiredScopes).toEqual(['trades', 'reports'])
    const fromEnv = loadServeConfig({ flags: { 'insecure-skip-bundle-verification': 'true', bundle: 'b' }, env: { VERDICT_ISSUERS: issuers, VERDICT_REQUIRED_SCOPES: 'trades' } })
    expect(fromEnv.token.requiredScopes).toEqual(['trades'])
  })

  it('passes typ, skew, max age and the size limit through the single-issuer flags', () => {
    const config = loadServeConfig({
      flags: {
        'insecure-skip-bundle-verification': 'true',
        bundle: 'b', jwks: 'k.json', issuer: 'https://i', audience: 'a',
        'token-typ': 'at+jwt,jwt', algorithms: 'ES256', 'clock-skew': '2s', 'max-token-age': '15m', 'max-token-bytes': '4096',
      },
      env: {},
    })
    expect(config.token).toMatchObject({ clockSkewMs: 2000, maxTokenAgeMs: 900_000, maxTokenBytes: 4096 })
    expect(config.limits.maxTokenBytes).toBe(4096)
    expect(config.token.issuers[0]).toMatchObject({ typ: ['at+jwt', 'jwt'], algorithms: ['ES256'] })
  })

  it('accepts the example config file', () => {
    const example = join(import.meta.dirname, '..', '..', 'verdict.example.yaml')
    const config = loadServeConfig({ flags: { 'insecure-skip-bundle-verification': 'true', config: example }, env: {} })
    expect(config.token.issuers.map((i) => i.issuer)).toEqual([
      'https://idp.corp.example.com',
      'https://login.partner.example.com',
    ])
    expect(config.token.issuers[1]!.claimsMapping).toMatchObject({ clientId: 'azp', claims: { roles: 'groups' } })
    expect(config.token.requiredScopes).toEqual(['trades'])
  })

  it('names the offending key with ERR_CONFIG_INVALID', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['token:', '  issuers: []'], /^token\.issuers: /],
      [['token:', '  issuers:', '    - issuer: https://a', '      jwks: { file: a, url: http://b }', '      audiences: [x]'], /^token\.issuers\[0\]\.jwks: /],
      [['token:', '  issuers:', '    - issuer: https://a', '      jwks: a.json', '      audiences: [x]', '      algorithms: [HS256]'], /^token\.issuers\[0\]\.algorithms\[0\]: HS256/],
      [['token:', '  issuers:', '    - issuer: https://a', '      jwks: a.json', '      audiences: []'], /^token\.issuers\[0\]\.audiences: /],
      [['token:', '  issuers:', '    - issuer: https://a', '      jwks: a.json', '      audiences: [x]', '      jku: x'], /^token\.issuers\[0\]\.jku: /],
      [['token:', '  issuers:', '    - issuer: https://a', '      jwks: a.json', '      audiences: [x]', '      claimsMapping: { claims: { sub: uid } }'], /^token\.issuers\[0\]\.claimsMapping\.claims\.sub: /],
      [['token:', '  jwksCache: { cooldown: soon }', '  issuers: [{ issuer: i, jwks: a, audiences: [x] }]'], /^token\.jwksCache\.cooldown: /],
      [['token:', '  requiredScopes: 5', '  issuers: [{ issuer: i, jwks: a, audiences: [x] }]'], /^token\.requiredScopes: /],
    ]
    for (const [lines, message] of cases) {
      const err = await errorOf(fromYaml(lines))
      expect(err.code, lines.join('\n')).toBe('ERR_CONFIG_INVALID')
      expect(err.message, lines.join('\n')).toMatch(message)
    }
    const env = await errorOf(Promise.resolve().then(() => loadServeConfig({ flags: { 'insecure-skip-bundle-verification': 'true', bundle: 'b' }, env: { VERDICT_ISSUERS: '[oops' } })))
    expect(env.message).toMatch(/^VERDICT_ISSUERS: /)
  })
})
