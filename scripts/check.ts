/**
 * `npm run check -- --token <jwt> --action <a> --resource '<json>' [--context '<json>']`: asks a
 * running sidecar for one decision through the SDK and prints it as JSON. Exits 0 on allow, 3 on
 * deny, 1 on error, so shell scripts can branch on it.
 */
import { parseArgs } from 'node:util'
import { createClient } from '@verdict/sdk'

const HELP = `Usage: npm run check -- --token <jwt> --action <action> --resource '<json>' [options]

Options:
  --address <host:port>  sidecar gRPC address (default 127.0.0.1:50051, or VERDICT_GRPC)
  --resource <json>      {"type": "...", "id": "...", "properties": {...}}
  --context <json>       request facts for the policy (optional)
  -h, --help             this text`

const { values } = parseArgs({
  options: {
    token: { type: 'string', default: '' },
    action: { type: 'string' },
    resource: { type: 'string', default: '{}' },
    context: { type: 'string' },
    address: { type: 'string', default: process.env.VERDICT_GRPC ?? '127.0.0.1:50051' },
    help: { type: 'boolean', short: 'h' },
  },
})
if (values.help || !values.action) {
  console.log(HELP)
  process.exit(values.help ? 0 : 2)
}

const json = (name: string, text: string): Record<string, unknown> => {
  try {
    return JSON.parse(text) as Record<string, unknown>
  } catch {
    console.error(`check: --${name} is not valid JSON`)
    process.exit(2)
  }
}

const client = createClient({ address: values.address! })
try {
  const resource = json('resource', values.resource!)
  const decision = await client.check({
    token: values.token!,
    action: values.action,
    resource: resource as never,
    ...(values.context ? { context: json('context', values.context) as never } : {}),
  })
  console.log(JSON.stringify(decision))
  process.exitCode = decision.allow ? 0 : 3
} catch (err) {
  console.error(`check: ${err instanceof Error ? err.message : String(err)}`)
  process.exitCode = 1
} finally {
  client.close()
}
