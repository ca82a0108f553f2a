/**
 * Tests for token option defaults and validation.
 */
import { describe, expect, it } from 'vitest'
import { defaultTokenOptions, validateTokenOptions } from '../../src/token/index.js'
import { PdpError } from '../../src/util/errors.js'

const issuer = { issuer: 'https://i.test', jwks: { file: 'jwks.json' }, audiences: ['api'] }

function configError(options: unknown): string {
  try {
    validateTokenOptions(options)
  } catch (e) {
    expect(e).toBeInstanceOf(PdpError)
    expect((e as PdpError).code).toBe('ERR_CONFIG_INVALID')
    return (e as Error).message
  }
  return 'valid'
}

describe('validateTokenOptions', () => {
  it('has the documented defaults', () => {
    const d = defaultTokenOptions()
    expect(d.clockSkewMs).toBe(30_000)
    expect(d.maxTokenBytes).toBe(8192)
    expect(validateTokenOptions({ ...d, issuers: [issuer] }).issuers).toHaveLength(1)
  })

  it('names the offending key', () => {
    const d = defaultTokenOptions()
    expect(configError({ ...d })).toMatch(/^token\.issuers:/)
    expect(configError({ ...d, issuers: [{ ...issuer, algorithms: ['RS256', 'HS256'] }] })).toMatch(
      /^token\.issuers\[0\]\.algorithms\[1\]: HS256/,
    )
    expect(configError({ ...d, issuers: [{ ...issuer, algorithms: ['none'] }] })).toMatch(
      /algorithms\[0\]/,
    )
    expect(configError({ ...d, issuers: [{ ...issuer, audiences: [] }] })).toMatch(
      /^token\.issuers\[0\]\.audiences:/,
    )
    expect(configError({ ...d, issuers: [{ ...issuer, jwks: { file: 'a', url: 'https://x' } }] })).toMatch(
      /^token\.issuers\[0\]\.jwks:/,
    )
    expect(configError({ ...d, issuers: [{ ...issuer, jwks: { url: 'ftp://x' } }] })).toMatch(
      /jwks\.url/,
    )
    expect(configError({ ...d, issuers: [issuer, issuer] })).toMatch(/^token\.issuers\[1\]\.issuer:/)
    expect(configError({ ...d, issuers: [issuer], clockSkewMs: -1 })).toMatch(/^token\.clockSkewMs:/)
    expect(configError({ ...d, issuers: [issuer], maxTokenBytes: 0 })).toMatch(/^token\.maxTokenBytes:/)
    expect(configError({ ...d, issuers: [{ ...issuer, typ: [] }] })).toMatch(/typ/)
    expect(configError({ ...d, issuers: [{ ...issuer, claimsMapping: { subject: 3 } }] })).toMatch(
      /claimsMapping\.subject/,
    )
  })
})
