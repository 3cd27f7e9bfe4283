/**
 * `npm run peer`: the same peer node as the desktop app, without a window
 * (docs/client-protocol.md §1). One JSON "ready" line on stdout, everything else on stderr,
 * exit 2 with a one-line error for bad flags, exit 0 after a graceful leave on SIGINT/SIGTERM.
 */
import { ConfigError, parseFlags, USAGE } from './cli-options'
import { startNode } from './node/peer-node'

async function main(): Promise<void> {
  let opts: ReturnType<typeof parseFlags>
  try {
    opts = parseFlags(process.argv.slice(2))
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e
    process.stderr.write(`error: ${e.message}\n`)
    process.exit(2)
  }
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  const log = (line: string) => process.stderr.write(`[${new Date().toISOString()}] ${line}\n`)
  // A node must outlive a bug in one handler: log it and keep serving everyone else.
  process.on('uncaughtException', (e) => log(`uncaught: ${e.stack ?? e}`))
  process.on('unhandledRejection', (e) => log(`unhandled rejection: ${(e as Error)?.stack ?? e}`))
  // Signal handlers go in before the node starts and before the ready line: a supervisor (or a test)
  // may send SIGTERM the moment it reads that line, and without a handler Node dies of the signal
  // instead of leaving cleanly with exit code 0 (section 1).
  let node: Awaited<ReturnType<typeof startNode>> | undefined
  let stopping = false
  const leave = (n: NonNullable<typeof node>) => {
    const hard = setTimeout(() => process.exit(0), 3000)
    hard.unref()
    n.stop().then(
      () => process.exit(0),
      (e: Error) => {
        log(`stop: ${e.message}`)
        process.exit(0)
      },
    )
  }
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    log(`${signal}: leaving the cluster`)
    if (node) leave(node) // else: still starting; it leaves as soon as it has started
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))
  // Under `npm run peer` the chain is npm → sh → node, and a supervisor signals npm's PID: npm passes
  // the signal to the shell, which dies without passing it on. The node then finds itself adopted by
  // another parent and leaves as if signalled (docs/headless-node.md, "Under a supervisor"). Only
  // under npm: a node started directly (nohup, systemd with node out/main/cli.js) outlives its shell.
  if (process.env.npm_lifecycle_event) {
    const launcher = process.ppid
    setInterval(() => {
      if (process.ppid !== launcher) stop('npm exited')
    }, 500).unref()
  }
  try {
    node = await startNode({ ...opts, log })
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    const why = err.code === 'EADDRINUSE' || /address already in use|No address added/i.test(err.message)
      ? `an address is already in use (--grpc ${opts.grpcHost}:${opts.grpcPort} or --ws ${opts.wsHost}:${opts.wsPort})`
      : err.message
    process.stderr.write(`error: cannot start the node: ${why}\n`)
    process.exit(2)
  }
  if (stopping) return leave(node)
  process.stdout.write(
    `${JSON.stringify({
      event: 'ready',
      nodeId: node.nodeId,
      name: node.name,
      grpc: node.grpcAddress,
      ws: node.wsUrl,
      token: node.token,
      clusterKey: node.clusterKey,
      ui: node.uiUrl,
      dataDir: opts.dataDir,
      pid: process.pid,
    })}\n`,
  )
}

void main()
