/**
 * The `verdict` command line: `serve`, `build`, `sign`, `eval`, `test`, `publish`, `audit tail`, `audit aggregate`. The only composition root: the one place
 * where compiler, bundle, engine, token, audit and server meet.
 *
 * @module
 */

import cluster from 'node:cluster'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { isSigningAlgorithm, loadSigningKey, loadVerificationKey, SIGNING_ALGORITHMS } from '../bundle/index.js'
import type { SignBundleOptions } from '../bundle/index.js'
import { loadServeConfig, parseDuration, SERVE_FLAGS } from '../config/index.js'
import type { ServeConfig } from '../config/index.js'
import { createLogger } from '../server/index.js'
import { AUDIT_AGGREGATE_HELP, aggregateAudit, formatAggregateText, parseAuditAggregateArgs } from './audit-aggregate.js'
import { AUDIT_HELP } from './audit-stream.js'
import { AUDIT_TAIL_HELP, parseAuditTailArgs, tailAudit } from './audit-tail.js'
import { buildBundle, dumpIr } from './build.js'
import { evaluateQuery } from './eval.js'
import { publishBundle } from './publish.js'
import { startSidecar } from './serve.js'
import { signBundle } from './sign.js'
import { testCommand } from './test-command.js'
import { answerMetricsRequests, reportReady, superviseWorkers, workerConfig, workerSlot } from './workers.js'

const SIGNING_HELP = `  --signing-key <file>       PEM private key (PKCS#8, PKCS#1, SEC1) or private JWK; with an HS*
                             --signing-alg, a file holding the HMAC secret (used byte for byte)
  --signing-alg <alg>        ${SIGNING_ALGORITHMS.join(' ')}
                             (default: from the key: RSA RS256, EC P-256 ES256, ...)
  --key-id <id>              key id, written as the JWS kid (and OPA's keyid claim)
  --scope <scope>            scope the verifier must be configured with
`

const HELP = {
  main: `Usage: verdict <command> [options]

Commands:
  serve    run the policy decision point sidecar (gRPC, Envoy ext_authz, AuthZEN)
  build    compile a policy directory into an OPA-format bundle (signed with --signing-key)
  sign     sign an existing bundle (.signatures.json, OPA's format)
  eval     evaluate a query against a policy directory or bundle
  test     run Rego unit tests (rules named test_*)
  publish  put a bundle into a NATS object store, where sidecars watch for it
  audit    read the audit stream: verdict audit tail --nats <url> [--service s] [--deny] [-f]
           or count it: verdict audit aggregate --nats <url> [--since 1h] [--by service,code]

Options:
  --help       show help (also: verdict <command> --help)
  --version    print the version
`,
  serve: `Usage: verdict serve --bundle <file|dir|url> --jwks <file|url> --issuer <iss> --audience <aud> [options]

Options (each also as VERDICT_<NAME> env var or a key in the config file; flags win):
  --config <file>           YAML/JSON config file (see verdict.example.yaml)
  --bundle <location>       where the bundle comes from:
                              a .tar.gz file or directory (reloaded on SIGHUP),
                              https://host/path/bundle.tar.gz (polled with If-None-Match),
                              nats://host:port/<bucket>/<object> (object store, watched)
  --bundle-poll <dur>       http(s): time between polls, jittered ±20% (default 30s; 1s to 24h)
  --bundle-timeout <dur>    http(s), nats: limit on one whole download (default 30s)
  --bundle-max-bytes <n>    largest bundle, downloaded and uncompressed (default 536870912)
  --bundle-cache <dir|off>  http(s), nats: keeps the last good bundle, served at start when the
                            source is unreachable (default $TMPDIR/verdict-bundle-cache-<service>)
  --bundle-token-file <f>   http(s): bearer token file; nats: auth token file. The token itself
                            only as env VERDICT_BUNDLE_TOKEN, never as a flag
  --bundle-creds <file>     nats: .creds file (user JWT and NKey seed)
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
  --authzen <address|off>   AuthZEN 1.0 API over HTTP, on host:port or unix:///path.sock:
                            POST /access/v1/evaluation(s),
                            GET /.well-known/authzen-configuration (default off; with --workers,
                            served by every worker on the one port). The end user's access
                            token goes in subject.properties.access_token; subject.id must be
                            its subject

Bundle signatures (OPA's .signatures.json) are verified by default: serve needs a key, and an
unsigned or badly signed bundle is rejected (the last good one keeps serving). The key is read
once, at start.
  --verification-key <file> PEM public key or certificate, or a JWKS file; with an HS* algorithm,
                            a file holding the HMAC secret (or the secret itself in the env var
                            VERDICT_VERIFICATION_SECRET; never on the command line)
  --verification-key-id <id> key id that selects the JWKS key (default: the signature's kid)
  --verification-alg <alg>  RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 HS256 HS384
                            HS512 (default: from the key, RSA RS256, EC P-256 ES256, ...; HS256
                            for VERDICT_VERIFICATION_SECRET)
  --scope <scope>           scope the bundle must be signed for (default: none)
  --insecure-skip-bundle-verification
                            serve bundles without checking signatures (development only)

Signals: SIGTERM/SIGINT drain calls, flush audit and exit 0; SIGHUP reloads the bundle file,
or checks an http(s)/nats source now (with --workers, the primary passes each signal on to
every worker). A bundle that does not load is rejected and the last good one keeps serving.
`,
  publish: `Usage: verdict publish <bundle.tar.gz> --nats <url> --bucket <bucket> [--name <object>] [options]

Loads the bundle as verdict serve would, signature included (a bundle that would be rejected is
not published),
creates the JetStream object store bucket if it is missing, puts the bundle as one object and
prints its revision and digest. Sidecars serving --bundle nats://<host:port>/<bucket>/<object>
swap to it within moments.
  --nats <url>               NATS server(s), comma-separated
  --bucket <name>            object store bucket (letters, digits, - and _)
  --name <object>            object name (default: the bundle's file name)
  --entrypoint <pkg/rule>    entrypoint the sidecars evaluate, checked (default: the manifest's first)
  --replicas <n>             replicas of a bucket this creates (default 1)
  --timeout <duration>       per-request timeout (default 10s)
  --token-file <file>        file holding a NATS auth token (or env VERDICT_BUNDLE_TOKEN)
  --creds <file>             NATS .creds file
  --verification-key <file>  the sidecars' bundle verification key (PEM, JWKS or HMAC secret file),
                             with --verification-key-id, --verification-alg, --scope as in serve
  --insecure-skip-bundle-verification
                             publish without checking the signature (for sidecars that skip it)
`,
  build: `Usage: verdict build <dir> -o <bundle.tar.gz> [--entrypoint pkg/rule]... [--revision r] [--dump-ir]
                     [--signing-key <file> [--signing-alg RS256] [--key-id id] [--scope s]]

Compiles every .rego file under <dir> (and its data.json files) into a bundle.
  -o, --output <file>        output bundle (.tar.gz)
  -e, --entrypoint <p/r>     entrypoint, repeatable (default: every rule named decision)
  --revision <r>             manifest revision (default: content hash)
  --target <verdict|opa>     host the bundle is for (default verdict). verdict: builtins that
                             opa-wasm shadows (sprintf, ...) and time.* are called under verdict:
                             names, answered by Verdict's engine with OPA's semantics and exact
                             integers. opa: plain OPA names, for other opa-wasm hosts.
  --dump-ir                  print the planned IR as JSON instead of building
${SIGNING_HELP}`,
  sign: `Usage: verdict sign <bundle.tar.gz|dir> --signing-key <file> [--signing-alg RS256] [--key-id id] [--scope s] [-o out.tar.gz]

Signs every file of an existing bundle into .signatures.json (OPA's format), replacing any old
signature. Without -o, an archive is rewritten in place and a directory gets .signatures.json.
  -o, --output <file>        write the signed bundle here (.tar.gz) instead
${SIGNING_HELP}`,
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
  // A switch: present means true (`=false` is not a thing for an opt-out).
  options['insecure-skip-bundle-verification'] = { type: 'boolean' }
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
    else if (v === true && k !== 'help') flags[k] = 'true'
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
      ...SIGNING_FLAGS,
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
    const signing = await signingOptions(values)
    const result = await buildBundle({
      source,
      output: values.output,
      entrypoints,
      target,
      ...(values.revision === undefined ? {} : { revision: values.revision }),
      ...(signing === undefined ? {} : { signing }),
    })
    process.stderr.write(
      `built ${values.output} (revision ${result.revision}; entrypoints ${result.entrypoints.join(', ')}${signedNote(signing)})\n`,
    )
    return 0
  } catch (err) {
    // RegoErrors render as `file:row:col: code: message` lines already.
    process.stderr.write(`${errorMessage(err)}\n`)
    return 1
  }
}

/** The flags that say how to sign, shared by `build` and `sign`. */
const SIGNING_FLAGS = {
  'signing-key': { type: 'string' },
  'signing-alg': { type: 'string' },
  'key-id': { type: 'string' },
  scope: { type: 'string' },
} as const

/** Reads the signing key named by the flags; undefined when there is none. */
async function signingOptions(values: {
  'signing-key'?: string | undefined
  'signing-alg'?: string | undefined
  'key-id'?: string | undefined
  scope?: string | undefined
}): Promise<SignBundleOptions | undefined> {
  const path = values['signing-key']
  const alg = values['signing-alg']
  if (path === undefined) {
    if (alg !== undefined || values['key-id'] !== undefined || values.scope !== undefined) {
      throw new Error('--signing-alg, --key-id and --scope need --signing-key')
    }
    return undefined
  }
  if (alg !== undefined && !isSigningAlgorithm(alg)) {
    throw new Error(`--signing-alg must be one of ${SIGNING_ALGORITHMS.join(', ')} (got ${alg})`)
  }
  const key = await loadSigningKey(path, alg === undefined ? {} : { algorithm: alg })
  return {
    key,
    ...(values['key-id'] === undefined ? {} : { keyId: values['key-id'] }),
    ...(values.scope === undefined ? {} : { scope: values.scope }),
  }
}

function signedNote(signing: SignBundleOptions | undefined): string {
  if (signing === undefined) return ''
  const id = signing.keyId === undefined ? '' : ` key id ${signing.keyId}`
  const scope = signing.scope === undefined ? '' : ` scope ${signing.scope}`
  return `; signed ${signing.key.algorithm}${id}${scope}`
}

/** `verdict sign <bundle>`: signs an existing bundle, replacing its old signature. */
async function sign(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { output: { type: 'string', short: 'o' }, help: { type: 'boolean' }, ...SIGNING_FLAGS },
  })
  if (values.help === true) {
    print(HELP.sign)
    return 0
  }
  if (positionals.length !== 1) return fail(`sign needs exactly one bundle\n${HELP.sign}`)
  if (values['signing-key'] === undefined) return fail('sign needs --signing-key <file>')
  try {
    const signing = (await signingOptions(values))!
    const result = await signBundle({
      bundle: positionals[0]!,
      signing,
      ...(values.output === undefined ? {} : { output: values.output }),
    })
    process.stderr.write(`signed ${result.output} (${result.files.length} files${signedNote(signing)})\n`)
    return 0
  } catch (err) {
    process.stderr.write(`verdict: ${errorMessage(err)}\n`)
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

async function publish(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      nats: { type: 'string' },
      bucket: { type: 'string' },
      name: { type: 'string' },
      entrypoint: { type: 'string' },
      replicas: { type: 'string' },
      timeout: { type: 'string' },
      'token-file': { type: 'string' },
      creds: { type: 'string' },
      'verification-key': { type: 'string' },
      'verification-key-id': { type: 'string' },
      'verification-alg': { type: 'string' },
      scope: { type: 'string' },
      'insecure-skip-bundle-verification': { type: 'boolean' },
      help: { type: 'boolean' },
    },
  })
  if (values.help === true) {
    print(HELP.publish)
    return 0
  }
  const alg = values['verification-alg']
  if (alg !== undefined && !isSigningAlgorithm(alg)) return fail(`--verification-alg must be one of ${SIGNING_ALGORITHMS.join(', ')}`)
  if (values['verification-key'] !== undefined && values['insecure-skip-bundle-verification'] === true) {
    return fail('give --verification-key or --insecure-skip-bundle-verification, not both')
  }
  if (positionals.length !== 1) return fail('publish needs exactly one bundle\n' + HELP.publish)
  if (values.nats === undefined) return fail('publish needs --nats <url>')
  if (values.bucket === undefined) return fail('publish needs --bucket <name>')
  const replicas = values.replicas === undefined ? 1 : Number(values.replicas)
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) return fail('--replicas must be an integer from 1 to 5')
  const timeoutMs = values.timeout === undefined ? undefined : parseDuration(values.timeout)
  if (timeoutMs === 0 || (values.timeout !== undefined && timeoutMs === undefined)) {
    return fail(`--timeout must be a duration like 10s (got ${values.timeout})`)
  }
  const token = process.env.VERDICT_BUNDLE_TOKEN
  try {
    const keyFile = values['verification-key']
    const verification =
      keyFile === undefined
        ? undefined
        : {
            key: await loadVerificationKey(keyFile, alg === undefined ? {} : { algorithm: alg }),
            ...(values['verification-key-id'] === undefined ? {} : { keyId: values['verification-key-id'] }),
            ...(values.scope === undefined ? {} : { scope: values.scope }),
          }
    const result = await publishBundle({
      ...(verification === undefined ? {} : { verification }),
      skipVerification: values['insecure-skip-bundle-verification'] === true,
      bundle: positionals[0]!,
      servers: values.nats.split(',').map((s) => s.trim()).filter((s) => s !== ''),
      bucket: values.bucket,
      replicas,
      ...(values.name === undefined ? {} : { name: values.name }),
      ...(values.entrypoint === undefined ? {} : { entrypoint: values.entrypoint.replace(/^\/+|\/+$/g, '') }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(values['token-file'] === undefined ? {} : { tokenFile: values['token-file'] }),
      ...(values.creds === undefined ? {} : { credsFile: values.creds }),
      ...(token === undefined || token === '' || values['token-file'] !== undefined ? {} : { token: token.trim() }),
    })
    print(
      [
        `published ${result.bucket}/${result.name}`,
        `revision ${result.revision}`,
        `digest ${result.digest}`,
        `size ${result.size}`,
        `object_revision ${result.objectRevision}`,
        `url ${result.url}`,
        '',
      ].join('\n'),
    )
    return 0
  } catch (err) {
    process.stderr.write(`verdict publish: ${errorMessage(err)}\n`)
    return 1
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
 * process.exitCode = await main(['build', 'policies/trades', '-o', 'trades.tar.gz', '--signing-key', 'bundle.key.pem'])
 */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'serve':
        return await serve(rest)
      case 'build':
        return await build(rest)
      case 'sign':
        return await sign(rest)
      case 'eval':
        return await evalCommand(rest)
      case 'test':
        return await testCommand(rest)
      case 'publish':
        return await publish(rest)
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
