/**
 * `npm start`: the quickstart. Creates the local dev keys on first use (the dev issuer's, and a dev
 * bundle-signing key pair), builds the trades example bundle with Verdict's compiler and signs it,
 * and runs the sidecar on 127.0.0.1:50051 verifying that signature, so the quickstart takes the
 * same path as production. Extra arguments go to `verdict serve` (e.g. `npm start -- --nats
 * nats://127.0.0.1:4222`).
 */
import { spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import {
  DEV_AUDIENCE,
  DEV_BUNDLE_KEY_ID,
  DEV_DIR,
  DEV_ISSUER,
  DEV_JWKS,
  ensureDevBundleSigningKeys,
  ensureDevKeys,
} from './dev-token.js'

const repo = join(DEV_DIR, '..', '..')
const cli = join(repo, 'bin', 'verdict.js')
const bundle = join(DEV_DIR, 'trades.tar.gz')

await ensureDevKeys()
const bundleKeys = ensureDevBundleSigningKeys()
const build = spawnSync(
  process.execPath,
  [cli, 'build', join(repo, 'policies', 'trades'), '-o', bundle, '--signing-key', bundleKeys.key, '--key-id', DEV_BUNDLE_KEY_ID],
  { stdio: 'inherit' },
)
if (build.status !== 0) process.exit(build.status ?? 1)

const serve = spawn(
  process.execPath,
  [
    cli,
    'serve',
    '--bundle', bundle,
    '--jwks', DEV_JWKS,
    '--issuer', DEV_ISSUER,
    '--audience', DEV_AUDIENCE,
    '--grpc', process.env.VERDICT_GRPC ?? '127.0.0.1:50051',
    '--service', 'trades-api',
    '--verification-key', bundleKeys.pub,
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit' },
)
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => serve.kill(sig))
serve.on('exit', (code, signal) => process.exit(code ?? (signal ? 0 : 1)))
