import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadServeConfig } from '../../src/config/index.js'

const required = { 'insecure-skip-bundle-verification': 'true', bundle: 'b.tar.gz', jwks: 'jwks.json', issuer: 'https://iss', audience: 'api' }
let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-mask-config-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** Writes a config file with these lines and returns its path. */
async function file(name: string, lines: string[]): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, `${lines.join('\n')}\n`)
  return path
}

/** The error loadServeConfig throws for these sources. */
function error(flags: Record<string, string>, env: Record<string, string> = {}): unknown {
  try {
    loadServeConfig({ flags: { ...required, ...flags }, env })
  } catch (err) {
    return err
  }
  throw new Error('no error')
}

describe('loadServeConfig: audit.mask', () => {
  it('leaves the audit defaults when nothing is set', () => {
    expect(loadServeConfig({ flags: required, env: {} }).audit.mask).toBeUndefined()
  })

  it('reads paths, safe claims and keep_token_claims from the file, with or without NATS', async () => {
    const path = await file('mask.yaml', [
      'audit:',
      '  mask:',
      '    paths: [/context/ip, /input/resource/properties/ssn, "/resource/properties/a~1b"]',
      '    safe_claims: [sub, scope, given_name]',
      '    keep_token_claims: false',
    ])
    const want = {
      paths: ['/context/ip', '/input/resource/properties/ssn', '/resource/properties/a~1b'],
      safeClaims: ['sub', 'scope', 'given_name'],
      keepTokenClaims: false,
    }
    expect(loadServeConfig({ flags: { ...required, config: path }, env: {} }).audit).toEqual({ mask: want })
    const withNats = loadServeConfig({ flags: { ...required, config: path, nats: 'nats://127.0.0.1:4222' }, env: {} })
    expect(withNats.audit.mask).toEqual(want)
    expect(withNats.audit.nats).toMatchObject({ servers: ['nats://127.0.0.1:4222'] })
  })

  it('takes flags over env over the file; lists comma-separated', async () => {
    const path = await file('mask-override.yaml', ['audit:', '  mask:', '    paths: [/from/file]', '    keep_token_claims: true'])
    const load = (flags: Record<string, string>, env: Record<string, string>) =>
      loadServeConfig({ flags: { ...required, config: path, ...flags }, env }).audit.mask
    expect(load({}, {})).toEqual({ paths: ['/from/file'], keepTokenClaims: true })
    expect(load({}, { VERDICT_AUDIT_MASK: '/a, /b', VERDICT_AUDIT_SAFE_CLAIMS: 'sub,iss', VERDICT_AUDIT_KEEP_TOKEN_CLAIMS: 'false' })).toEqual({
      paths: ['/a', '/b'],
      safeClaims: ['sub', 'iss'],
      keepTokenClaims: false,
    })
    // main.ts joins a repeated --audit-mask with commas.
    expect(load({ 'audit-mask': '/c,/d', 'audit-safe-claims': 'sub' }, { VERDICT_AUDIT_MASK: '/a' })).toEqual({
      paths: ['/c', '/d'],
      safeClaims: ['sub'],
      keepTokenClaims: true,
    })
    // An empty safe-claims list masks every claim.
    expect(load({ 'audit-safe-claims': '' }, {})).toMatchObject({ safeClaims: [] })
  })

  it('accepts the audit.mask section of the example config file', () => {
    const example = join(import.meta.dirname, '..', '..', 'verdict.example.yaml')
    expect(loadServeConfig({ flags: { 'insecure-skip-bundle-verification': 'true', config: example }, env: {} }).audit.mask).toEqual({
      paths: ['/context/ip', '/resource/properties/ssn'],
      safeClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id', 'scope'],
      keepTokenClaims: false,
    })
  })

  it('rejects a path that is not a JSON pointer into the input, naming the key and the path', async () => {
    const path = await file('bad-pointer.yaml', ['audit:', '  mask:', '    paths: [/context/ip, context/user_agent]'])
    expect(error({ config: path })).toMatchObject({
      code: 'ERR_CONFIG_INVALID',
      message: 'audit.mask.paths[1]: "context/user_agent" is not a JSON pointer: it must start with /, e.g. /context/ip or /resource/properties/ssn',
    })
    expect(error({ 'audit-mask': '/ok,/a~2b' })).toMatchObject({
      code: 'ERR_CONFIG_INVALID',
      message: '--audit-mask[1]: "/a~2b" is not a JSON pointer: ~ must be followed by 0 or 1 (~0 is ~, ~1 is /)',
    })
    expect(error({}, { VERDICT_AUDIT_MASK: '/input' })).toMatchObject({
      message: 'VERDICT_AUDIT_MASK[0]: "/input" would mask the whole input: name a field in it, e.g. /input/context/ip',
    })
  })

  it('rejects wrong types and unknown keys under audit.mask', async () => {
    const cases: [string[], string][] = [
      [['audit:', '  mask:', '    paths: { ip: /context/ip }'], 'audit.mask.paths: must be a list of strings'],
      [['audit:', '  mask:', '    paths: [1]'], 'audit.mask.paths: must be a list of strings'],
      [['audit:', '  mask:', '    safe_claims: [sub, ""]'], 'audit.mask.safe_claims[1]: must be a claim name, not empty'],
      [['audit:', '  mask:', '    keep_token_claims: yes please'], 'audit.mask.keep_token_claims: must be true or false'],
      [['audit:', '  mask:', '    safeClaims: [sub]'], 'audit.mask.safeClaims: is not a known setting (paths, safe_claims, keep_token_claims)'],
      [['audit:', '  mask: [/context/ip]'], 'audit.mask: must be a mapping with paths, safe_claims, keep_token_claims'],
    ]
    for (const [i, [lines, message]] of cases.entries()) {
      expect(error({ config: await file(`bad-${i}.yaml`, lines) }), message).toMatchObject({ code: 'ERR_CONFIG_INVALID', message })
    }
    expect(error({ 'audit-keep-token-claims': '1' })).toMatchObject({ message: '--audit-keep-token-claims: must be true or false' })
  })
})
