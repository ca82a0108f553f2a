/**
 * The `verdict` command line: `serve`, `build`, `eval`, `test`, `audit tail`, `audit aggregate`. The only composition root: the one place
 * where compiler, bundle, engine, token, audit and server meet.
 *
 * @module
 */

import cluster from 'node:cluster'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { loadServeConfig, SERVE_FLAGS } from '../config/index.js'
import type { ServeConfig } from '../config/index.js'
import { createLogger } from '../server/index.js'
import { AUDIT_AGGREGATE_HELP, aggregateAudit, formatAggregateText, parseAuditAggregateArgs } from './audit-aggregate.js'
import { AUDIT_HELP } from './audit-stream.js'
import { AUDIT_TAIL_HELP, parseAuditTailArgs, tailAudit } from './audit-tail.js'
import { buildBundle, dumpIr } from './build.js'
import { evaluateQuery } from './eval.js'
import { startSidecar } from './serve.js'
import { testCommand } from './test-command.js'
import { answerMetricsRequests, reportReady, superviseWorkers, workerConfig, workerSlot } from './workers.js'

const HELP = {
  main: `Usage: verdict <command> [options]

Commands:
  serve    run the policy decision point sidecar (gRPC, Envoy ext_authz, AuthZEN)
  build    compile a policy directory into an OPA-format bundle
  eval     evaluate a query against a policy directory or bundle
  test     run Rego unit tests (rules named test_*)
  audit    read the audit stream: verdict audit tail --nats <url> [--service s] [--deny] [-f]
           or count it: verdict audit aggregate --nats <url> [--since 1h] [--by service,code]

Options:
  --help       show help (also: verdict <command> --help)
  --version    print the version
`,
  serve: `Usage: verdict serve --bundle <file|dir> --jwks <file|url> --issuer <iss> --audience <aud> [options]

Options (each also as VERDICT_<NAME> env var or a key in the config file; flags win):
  --config <file>           YAML/JSON config file (see verdict.example.yaml)
  --bundle <file|dir>       bundle .tar.gz or directory
  --entrypoint <pkg/rule>   entrypoint (default: the manifest's first wasm entrypoint)
  --jwks <file|url>         JWKS of the token issuer
  --issuer <iss>            expected iss claim
  --audience <aud>          expected aud (comma-separated for several)
  --grpc <address>          host:port or unix:///path.sock (default 127.0.0.1:50051)
  --grpc-transport <impl>   verdict (own HTTP/2 server, default) | grpc-js (Node's http2)
  --service <name>          name of the protected API, used in audit subjects
  --nats <url>              NATS server for audit events (default: audit to the log)
  --log-level <level>       debug | info | warn | error
  --clock-skew <duration>   allowed clock difference, e.g. 30s
  --shutdown-grace <dur>    time to drain on SIGTERM, e.g. 5s
  --audit-spool <dir>       disk spool for audit events while NATS is unreachable
  --audit-stream <name>     JetStream stream for audit events (default VERDICT_AUDIT)
  --audit-mask <pointer>    JSON pointer into the policy input to mask in audit events, e.g.
                            /context/ip or /resource/properties/ssn; repeatable or comma-separated
  --audit-safe-claims <c,d> token claims audit keeps unmasked (default iss,sub,aud,exp,iat,nbf,
                            jti,client_id,azp,scope,scp; the others are masked)
  --audit-keep-token-claims <true|false>
                            keep every token claim in audit events (default false)
  --required-scope <scope>  scope every token must carry, repeatable (else INSUFFICIENT_SCOPE)
  --token-typ <typ>         expected JWT typ header (default at+jwt)
  --algorithms <a,b>        accepted signature algorithms (default RS256,ES256,... asymmetric only)
  --max-token-age <dur>     reject tokens whose iat is older than this, e.g. 1h
  --issuers <json>          several trusted issuers as JSON (see verdict.example.yaml)
  --envoy <true|false>      serve Envoy ext_authz v3 on the gRPC address (default true)
  --envoy-actions <M=a,..>  HTTP method to action, e.g. GET=read,POST=create (default: see README)
  --envoy-path-prefix <p>   path prefix dropped before the resource type and id, e.g. /api/v1
  --workers <n|auto>        sidecar processes sharing the address, one core each (default 1;
                            auto: one per CPU); a supervising primary restarts any that dies
  --http <host:port|off>    operations HTTP: /metrics (Prometheus), /healthz, /readyz
                            (default 127.0.0.1:9464; with --workers, served by the primary)
  --authzen <host:port|off> AuthZEN 1.0 API over HTTP: POST /access/v1/evaluation(s),
                            GET /.well-known/authzen-configuration (default off; with --workers,
                            served by every worker on the one port). The end user's access
                            token goes in subject.properties.access_token; subject.id must be
                            its subject

Signals: SIGTERM/SIGINT drain calls, flush audit and exit 0; SIGHUP reloads the bundle
(with --workers, the primary passes each signal on to every worker).
`,
  build: `Usage: verdict build <dir> -o <bundle.tar.gz> [--entrypoint pkg/rule]... [--revision r] [--dump-ir]

Compiles every .rego file under <dir> (and its data.json files) into a bundle.
  -o, --output <file>        output bundle (.tar.gz)
  -e, --entrypoint <p/r>     entrypoint, repeatable (default: every rule named decision)
  --revision <r>             manifest revision (default: content hash)
  --target <verdict|opa>     host the bundle is for (default verdict). verdict: builtins that
                             opa-wasm shadows (sprintf, ...) and time.* are called under verdict:
                             names, answered by Verdict's engine with OPA's semantics and exact
                             integers. opa: plain OPA names, for other opa-wasm hosts.
  --dump-ir                  print the planned IR as JSON instead of building
`,
  eval: `Usage: verdict eval <query> (--bundle <file|dir> | --dir <policy dir>) [--input <file.json>]

Prints the result set as JSON. With --bundle, the query must name an entrypoint (data.pkg.rule).
`,
} as const

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

function print(text: string): void {
  process.stdout.write(text)
}

function fail(message: string): number {
  process.stderr.write(`verdict: ${message}\n`)
  return 1
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

async function serve(args: string[]): Promise<number> {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {
    config: { type: 'string' },
    help: { type: 'boolean' },
  }
  for (const flag of SERVE_FLAGS) options[flag] = { type: 'string' }
  // Repeatable: `--required-scope trades --required-scope reports` (config reads a list).
  options['required-scope'] = { type: 'string', multiple: true }
  options['audit-mask'] = { type: 'string', multiple: true }
  const { values } = parseArgs({ args, options, allowPositionals: false, strict: true })
  if (values.help === true) {
    print(HELP.serve)
    return 0
  }
  const flags: Record<string, string | undefined> = {}
  for (const [k, v] of Object.entries(values)) {
    if (typeof v === 'string') flags[k] = v
    else if (Array.isArray(v)) flags[k] = v.join(',')
  }
  const config = loadServeConfig({ flags, env: process.env })
  if (config.workers > 1 && cluster.isPrimary) {
    const logger = createLogger({ level: config.logLevel, fields: { worker: 'primary' } })
    return superviseWorkers({ workers: config.workers, logger, shutdownGraceMs: config.shutdownGraceMs, http: config.http })
  }
  const slot = workerSlot()
  try {
    return await serveHere(config, slot)
  } finally {
    // A worker's IPC channel would keep it alive after the drain, or after a failed start.
    if (slot !== undefined && process.connected) process.disconnect()
  }
}

/** Serves in this process (alone, or as worker `slot`) until SIGTERM/SIGINT. */
async function serveHere(config: ServeConfig, slot: number | undefined): Promise<number> {
  const logger = createLogger({ level: config.logLevel, ...(slot === undefined ? {} : { fields: { worker: slot } }) })
  const sidecar = await startSidecar(slot === undefined ? config : workerConfig(config, slot), logger)
  answerMetricsRequests(() => sidecar.snapshot())
  reportReady(sidecar.address)
  await new Promise<void>((resolve) => {
    let stopping = false
    const onSignal = (signal: string): void => {
      if (stopping) return
      stopping = true
      logger.info('shutting down', { signal })
      sidecar.stop().then(resolve, resolve)
    }
    // Handlers stay installed: a second signal (Ctrl-C reaches a worker and its primary, which
    // passes it on) must not fall back to the default action and kill a worker mid-drain.
    process.on('SIGTERM', () => onSignal('SIGTERM'))
    process.on('SIGINT', () => onSignal('SIGINT'))
    // A worker whose primary is gone (killed, crashed) has no supervisor: drain and leave.
    // node:cluster makes such a worker exit at once, dropping the audit events it still holds.
    if (slot !== undefined) {
      for (const listener of process.listeners('disconnect')) process.off('disconnect', listener)
      process.once('disconnect', () => onSignal('primary gone'))
    }
    // SIGHUP re-reads the bundle; a bad one is rejected and the last good one keeps serving.
    process.on('SIGHUP', () => {
      logger.info('reloading bundle', { signal: 'SIGHUP' })
      void sidecar.reload()
    })
  })
  return 0
}

async function build(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      output: { type: 'string', short: 'o' },
      entrypoint: { type: 'string', short: 'e', multiple: true },
      revision: { type: 'string' },
      target: { type: 'string' },
      'dump-ir': { type: 'boolean' },
      help: { type: 'boolean' },
    },
  })
  if (values.help === true) {
    print(HELP.build)
    return 0
  }
  if (positionals.length !== 1) return fail('build needs exactly one policy directory\n' + HELP.build)
  const source = positionals[0]!
  const entrypoints = values.entrypoint ?? []
  try {
    if (values['dump-ir'] === true) {
      print(`${JSON.stringify(await dumpIr(source, entrypoints), null, 2)}\n`)
      return 0
    }
    if (values.output === undefined) return fail('build needs -o <bundle.tar.gz>')
    const target = values.target ?? 'verdict'
    if (target !== 'verdict' && target !== 'opa') return fail(`--target must be verdict or opa (got ${target})`)
    const result = await buildBundle({
      source,
      output: values.output,
      entrypoints,
      target,
      ...(values.revision === undefined ? {} : { revision: values.revision }),
    })
    process.stderr.write(`built ${values.output} (revision ${result.revision}; entrypoints ${result.entrypoints.join(', ')})\n`)
    return 0
  } catch (err) {
    // RegoErrors render as `file:row:col: code: message` lines already.
    process.stderr.write(`${errorMessage(err)}\n`)
    return 1
  }
}

/** `verdict audit tail`: prints audit events to stdout until the stream's end, or until a signal. */
async function audit(args: string[]): Promise<number> {
  const [sub, ...rest] = args
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    print(AUDIT_HELP)
    return 0
  }
  if (sub === 'aggregate') return auditAggregate(rest)
  if (sub !== 'tail') return fail(`unknown audit subcommand ${sub}\n${AUDIT_HELP}`)
  const parsed = parseAuditTailArgs(rest, process.stdout.isTTY === true)
  if (parsed.help) {
    print(AUDIT_TAIL_HELP)
    return 0
  }
  const stop = new AbortController()
  const onSignal = (): void => stop.abort()
  // A closed pipe (`| head`) ends the read like Ctrl-C does.
  const onStdoutError = (): void => stop.abort()
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.stdout.on('error', onStdoutError)
  try {
    await tailAudit(
      { ...parsed.options, signal: stop.signal },
      {
        line: (text) => {
          if (stop.signal.aborted || process.stdout.write(`${text}\n`)) return
          return new Promise<void>((resolve) => {
            const done = (): void => {
              process.stdout.off('drain', done)
              stop.signal.removeEventListener('abort', done)
              resolve()
            }
            process.stdout.once('drain', done)
            stop.signal.addEventListener('abort', done, { once: true })
          })
        },
        warn: (text) => process.stderr.write(`verdict: ${text}\n`),
      },
    )
    return 0
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    process.stdout.off('error', onStdoutError)
  }
}

/** `verdict audit aggregate`: reads a window of the audit stream and prints its counts. */
async function auditAggregate(args: string[]): Promise<number> {
  const parsed = parseAuditAggregateArgs(args, process.stdout.isTTY === true)
  if (parsed.help) {
    print(AUDIT_AGGREGATE_HELP)
    return 0
  }
  const report = await aggregateAudit(parsed.options, { warn: (text) => process.stderr.write(`verdict: ${text}\n`) })
  print(parsed.format === 'text' ? formatAggregateText(report) : `${JSON.stringify(report)}\n`)
  return 0
}

async function evalCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      bundle: { type: 'string' },
      dir: { type: 'string' },
      input: { type: 'string' },
      help: { type: 'boolean' },
    },
  })
  if (values.help === true) {
    print(HELP.eval)
    return 0
  }
  if (positionals.length !== 1) return fail('eval needs exactly one query\n' + HELP.eval)
  if ((values.bundle === undefined) === (values.dir === undefined)) return fail('eval needs one of --bundle or --dir')
  try {
    const result = await evaluateQuery({
      query: positionals[0]!,
      ...(values.bundle === undefined ? {} : { bundle: values.bundle }),
      ...(values.dir === undefined ? {} : { dir: values.dir }),
      ...(values.input === undefined ? {} : { input: values.input }),
    })
    print(`${JSON.stringify(result, null, 2)}\n`)
    return 0
  } catch (err) {
    process.stderr.write(`${errorMessage(err)}\n`)
    return 1
  }
}

/**
 * Runs the CLI with `argv` (without node and script) and resolves with the exit code.
 *
 * @example
 * process.exitCode = await main(['build', 'policies/trades', '-o', 'trades.tar.gz'])
 */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'serve':
        return await serve(rest)
      case 'build':
        return await build(rest)
      case 'eval':
        return await evalCommand(rest)
      case 'test':
        return await testCommand(rest)
      case 'audit':
        return await audit(rest)
      case '--version':
      case '-v':
        print(`${version()}\n`)
        return 0
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        print(HELP.main)
        return 0
      default:
        return fail(`unknown command ${command}\n${HELP.main}`)
    }
  } catch (err) {
    return fail(errorMessage(err))
  }
}
