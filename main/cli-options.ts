/**
 * The command line of `npm run peer` (docs/headless-node.md): flags and environment variables to
 * NodeOptions. Kept apart from main/cli.ts, which starts a node as soon as it is loaded, so that
 * tests can parse flags without starting anything. A flag that cannot work is a ConfigError: the
 * CLI prints its message on one line and exits 2.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { checkNodeName, isClusterKey, isPeerAddress } from '../proto/client-protocol'
import { isBuiltUi } from './gateway/static-ui'
import { DEFAULT_REPAIR_MS, DEFAULT_REPLICAS, DEFAULT_TIMING, type NodeOptions } from './node/node-options'
import { parseArchiveUrl } from './store/archive-db'

/** Bad command-line flags or environment: the CLI prints the message and exits 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
  readonly code = 'bad_config'
}

export const USAGE = `usage: npm run peer -- [--name N] [--grpc HOST:PORT] [--ws HOST:PORT] [--join A,B,...]
       [--data-dir DIR] [--token T] [--cluster-key KEY (or env DS_CLUSTER_KEY)] [--max-rooms N] [--room-creates-per-10s N]
       [--heartbeat-ms MS] [--suspect-ms MS] [--dead-ms MS] [--ui-dir DIR | --no-ui] [--allow-faults] [--advertise HOST]
       [--fsync] [--db postgresql://...] [--replicas N] [--repair-ms MS]`

function splitHostPort(flag: string, value: string, allowZero: boolean): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d{1,5})$/.exec(value.trim())
  const port = m ? Number(m[2]) : NaN
  if (!m || port > 65535 || (!allowZero && port === 0)) {
    throw new ConfigError(`--${flag} must be HOST:PORT with a port from ${allowZero ? 0 : 1} to 65535, got "${value}"`)
  }
  return { host: m[1].replace(/^\[|\]$/g, ''), port }
}

function positiveInt(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new ConfigError(`--${flag} must be a positive whole number of milliseconds, got "${value}"`)
  return Number(value)
}

/**
 * Where the built renderer is: out/renderer of the checkout when this runs from main/cli.ts (tsx),
 * or the renderer next to out/main/cli.js when it runs built. Never the source folder renderer/.
 */
export function builtUiDir(here = __dirname): string {
  return resolve(here, '..', basename(resolve(here, '..')) === 'out' ? 'renderer' : join('out', 'renderer'))
}

function positiveCount(flag: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new ConfigError(`--${flag} must be a positive whole number, got "${value}"`)
  return Number(value)
}

/** The built renderer when there is one; else the node runs without a browser UI and says so. */
function defaultUiDir(): string | undefined {
  const dir = builtUiDir()
  if (isBuiltUi(dir)) return dir
  process.stderr.write(`note: no built UI in ${dir}, so the ready line has no "ui" URL; run \`npm run build\` to serve the chat UI to browsers\n`)
  return undefined
}

export function parseFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): NodeOptions & { help?: boolean } {
  let values
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        name: { type: 'string' },
        grpc: { type: 'string' },
        ws: { type: 'string' },
        join: { type: 'string', multiple: true },
        'data-dir': { type: 'string' },
        token: { type: 'string' },
        'cluster-key': { type: 'string' },
        'max-rooms': { type: 'string' },
        'room-creates-per-10s': { type: 'string' },
        'heartbeat-ms': { type: 'string' },
        'suspect-ms': { type: 'string' },
        'dead-ms': { type: 'string' },
        'ui-dir': { type: 'string' },
        'no-ui': { type: 'boolean' },
        'allow-faults': { type: 'boolean' },
        advertise: { type: 'string' },
        fsync: { type: 'boolean' },
        db: { type: 'string' },
        replicas: { type: 'string' },
        'repair-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values
  } catch (e) {
    throw new ConfigError((e as Error).message.split('\n')[0])
  }
  const grpc = splitHostPort('grpc', values.grpc ?? '0.0.0.0:50051', true)
  const ws = splitHostPort('ws', values.ws ?? '127.0.0.1:0', true)
  const joinList = (values.join ?? []).flatMap((j) => j.split(',')).map((a) => a.trim()).filter(Boolean)
  for (const a of joinList) if (!isPeerAddress(a)) throw new ConfigError(`--join: "${a}" is not a HOST:PORT address`)
  // Peers refuse a Hello whose name breaks the name rules (client-protocol.md section 7): say so here.
  const checkedName = values.name === undefined ? undefined : checkNodeName(values.name)
  if (checkedName && 'problem' in checkedName) throw new ConfigError(`--name ${checkedName.problem}`)
  if (values.advertise !== undefined && !isPeerAddress(`${values.advertise.includes(':') ? `[${values.advertise}]` : values.advertise}:1`)) {
    throw new ConfigError(`--advertise must be a host name or IP address, got "${values.advertise}"`)
  }
  // The token from the environment keeps it out of `ps` (docs/headless-node.md).
  const token = values.token ?? (env.DS_TOKEN || undefined)
  if (token !== undefined && token.length < 1) throw new ConfigError('--token must not be empty')
  // The flag wins over the environment; the environment keeps the key out of `ps` (docs/security.md).
  const clusterKey = values['cluster-key'] ?? (env.DS_CLUSTER_KEY || undefined)
  if (clusterKey !== undefined && !isClusterKey(clusterKey)) {
    throw new ConfigError(`--cluster-key${values['cluster-key'] === undefined ? ' (DS_CLUSTER_KEY)' : ''} must be 16 to 256 printable characters without spaces`)
  }
  const heartbeatMs = positiveInt('heartbeat-ms', values['heartbeat-ms'], DEFAULT_TIMING.heartbeatMs)
  const suspectMs = positiveInt('suspect-ms', values['suspect-ms'], DEFAULT_TIMING.suspectMs)
  const deadMs = positiveInt('dead-ms', values['dead-ms'], DEFAULT_TIMING.deadMs)
  if (!(heartbeatMs < suspectMs && suspectMs < deadMs)) {
    throw new ConfigError(`timing must satisfy heartbeat-ms < suspect-ms < dead-ms, got ${heartbeatMs} / ${suspectMs} / ${deadMs}`)
  }
  const uiDir = values['no-ui'] ? undefined : values['ui-dir'] !== undefined ? resolve(values['ui-dir']) : defaultUiDir()
  if (uiDir !== undefined && values['ui-dir'] !== undefined && !isBuiltUi(uiDir)) {
    throw new ConfigError(`--ui-dir: no built UI in ${uiDir} (build it with npm run build, then use out/renderer)`)
  }
  // The archive's URL may carry a password: the environment keeps it out of `ps` (docs/archive.md).
  const db = values.db ?? (env.DS_DB_URL || undefined)
  if (db !== undefined) {
    try {
      parseArchiveUrl(db)
    } catch (e) {
      throw new ConfigError(`${values.db !== undefined ? '--db' : 'DS_DB_URL'}: ${(e as Error).message}`)
    }
  }
  const replicas = values.replicas === undefined ? DEFAULT_REPLICAS : positiveCount('replicas', values.replicas)
  if (replicas > 9) throw new ConfigError(`--replicas must be from 1 to 9, got ${replicas}`)
  const repairMs = positiveInt('repair-ms', values['repair-ms'], DEFAULT_REPAIR_MS)
  return {
    help: values.help,
    replicas,
    repairMs,
    name: checkedName?.name,
    grpcHost: grpc.host,
    grpcPort: grpc.port,
    advertiseHost: values.advertise?.trim() || undefined,
    wsHost: ws.host,
    wsPort: ws.port,
    join: joinList,
    dataDir: values['data-dir'] ? resolve(values['data-dir']) : mkdtempSync(join(tmpdir(), 'ds-g1-sms-')),
    token,
    clusterKey,
    maxRooms: values['max-rooms'] === undefined ? undefined : positiveCount('max-rooms', values['max-rooms']),
    roomCreatesPer10s: values['room-creates-per-10s'] === undefined ? undefined : positiveCount('room-creates-per-10s', values['room-creates-per-10s']),
    heartbeatMs,
    suspectMs,
    deadMs,
    uiDir,
    allowFaults: values['allow-faults'] ?? false,
    fsync: values.fsync ?? false,
    db,
  }
}
