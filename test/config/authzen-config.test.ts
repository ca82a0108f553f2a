import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadServeConfig } from '../../src/config/index.js'

const required = { 'insecure-skip-bundle-verification': 'true', bundle: 'b.tar.gz', jwks: 'jwks.json', issuer: 'https://iss', audience: 'api' }
let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-authzen-config-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('loadServeConfig: authzen', () => {
  it('is off by default and with off', () => {
    expect(loadServeConfig({ flags: required, env: {} }).authzen).toBeUndefined()
    expect(loadServeConfig({ flags: { ...required, authzen: 'off' }, env: { VERDICT_AUTHZEN: '127.0.0.1:9191' } }).authzen).toBeUndefined()
  })

  it('reads the flag, then VERDICT_AUTHZEN, then the file', async () => {
    const path = join(dir, 'verdict.yaml')
    await writeFile(path, 'authzen: "[::1]:9191"\n')
    expect(loadServeConfig({ flags: { ...required, config: path }, env: {} }).authzen).toBe('[::1]:9191')
    expect(loadServeConfig({ flags: { ...required, config: path }, env: { VERDICT_AUTHZEN: '127.0.0.1:9292' } }).authzen).toBe('127.0.0.1:9292')
    expect(
      loadServeConfig({ flags: { ...required, config: path, authzen: '0.0.0.0:9393' }, env: { VERDICT_AUTHZEN: '127.0.0.1:9292' } }).authzen,
    ).toBe('0.0.0.0:9393')
  })

  it('names the key of a bad address', async () => {
    expect(() => loadServeConfig({ flags: { ...required, authzen: '9191' }, env: {} })).toThrow(/--authzen: must be host:port, unix:\/\/\/path\/to.sock or off \(got 9191\)/)
    expect(loadServeConfig({ flags: required, env: { VERDICT_AUTHZEN: 'unix:///tmp/a.sock' } }).authzen).toBe('unix:///tmp/a.sock')
    const path = join(dir, 'bad.yaml')
    await writeFile(path, 'authzen: 9191\n')
    expect(() => loadServeConfig({ flags: { ...required, config: path }, env: {} })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG_INVALID', message: expect.stringContaining('authzen') }),
    )
  })
})
