/**
 * `npm start`: the quickstart. Builds the trades example bundle with Verdict's compiler, creates
 * the local dev issuer's keys on first use, and runs the sidecar on 127.0.0.1:50051 with them.
 * Extra arguments go to `verdict serve` (e.g. `npm start -- --nats nats://127.0.0.1:4222`).
 */
import { spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { DEV_AUDIENCE, DEV_DIR, DEV_ISSUER, DEV_JWKS, ensureDevKeys } from './dev-token.js'

const repo = join(DEV_DIR, '..', '..')
const cli = join(repo, 'bin', 'verdict.js')
const bundle = join(DEV_DIR, 'trades.tar.gz')

await ensureDevKeys()
const build = spawnSync(process.execPath, [cli, 'build', join(repo, 'policies', 'trades'), '-o', bundle], {
  stdio: 'inherit',
})
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
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit' },
)
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => serve.kill(sig))
serve.on('exit', (code, signal) => process.exit(code ?? (signal ? 0 : 1)))
