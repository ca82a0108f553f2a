import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadServeConfig } from '../../src/config/index.js'

const required = { 'insecure-skip-bundle-verification': 'true', bundle: 'b.tar.gz', jwks: 'jwks.json', issuer: 'https://iss', audience: 'api' }
let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verdict-envoy-config-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('loadServeConfig: envoy', () => {
  it('enables ext_authz by default with the default action map and no prefix', () => {
    const { envoy } = loadServeConfig({ flags: required, env: {} })
    expect(envoy).toEqual({
      enabled: true,
      actions: { GET: 'read', HEAD: 'read', POST: 'create', PUT: 'update', PATCH: 'update', DELETE: 'delete' },
      pathPrefix: '',
    })
  })

  it('reads the envoy section of a file, and flags and env over it', async () => {
    const path = join(dir, 'verdict.yaml')
    await writeFile(path, ['envoy:', '  enabled: false', '  path_prefix: /api/v1/', '  actions:', '    get: view', '    DELETE: cancel'].join('\n'))
    expect(loadServeConfig({ flags: { ...required, config: path }, env: {} }).envoy).toEqual({
      enabled: false,
      actions: { GET: 'view', DELETE: 'cancel' },
      pathPrefix: '/api/v1',
    })
    const over = loadServeConfig({
      flags: { ...required, config: path, envoy: 'true' },
      env: { VERDICT_ENVOY_ACTIONS: 'GET=read, POST=create' },
    }).envoy
    expect(over).toEqual({ enabled: true, actions: { GET: 'read', POST: 'create' }, pathPrefix: '/api/v1' })
  })

  it('accepts the envoy section of the example config file', () => {
    const example = join(import.meta.dirname, '..', '..', 'verdict.example.yaml')
    const { envoy } = loadServeConfig({ flags: { 'insecure-skip-bundle-verification': 'true', config: example }, env: {} })
    expect(envoy).toMatchObject({ enabled: true, pathPrefix: '/api/v1', actions: { GET: 'read', DELETE: 'delete' } })
  })

  it('names the key of an invalid envoy setting', () => {
    const bad = (flags: Record<string, string>) => () => loadServeConfig({ flags: { ...required, ...flags }, env: {} })
    expect(bad({ envoy: 'yes' })).toThrow(/--envoy: must be true or false/)
    expect(bad({ 'envoy-actions': 'GET' })).toThrow(/--envoy-actions/)
    expect(bad({ 'envoy-actions': 'GET=read=x' })).toThrow(/--envoy-actions/)
    expect(bad({ 'envoy-path-prefix': 'api' })).toThrow(/envoy.path_prefix/)
  })
})
