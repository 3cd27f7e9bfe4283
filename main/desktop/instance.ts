/**
 * Which app instance this process is, and the user-data folder that belongs to it alone.
 * Several instances on one machine (docs/desktop.md) must never share a
 * folder: each has its own node identity (main/node keeps it in <folder>/node), settings and
 * Chromium profile. Plain Node module (no electron) so it is tested under vitest.
 */
import { mkdirSync, openSync, readFileSync, closeSync, writeSync, unlinkSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { checkNodeName } from '../../proto/client-protocol'

export const INSTANCE_ENV = 'DS_INSTANCE'
/** Overrides the parent of the instance folders (tests, portable installs). */
export const USER_DATA_ROOT_ENV = 'DS_USER_DATA_ROOT'
export const APP_FOLDER_NAME = 'ds-g1-sms'
/** Keeps 50051 + (N - 1) a valid TCP port with room to spare. */
export const MAX_INSTANCE = 1000

export class DesktopArgsError extends Error {
  readonly code = 'bad_desktop_args'
  constructor(message: string) {
    super(message)
    this.name = 'DesktopArgsError'
  }
}

export class InstanceBusyError extends Error {
  readonly code = 'instance_busy'
  constructor(
    readonly folder: string,
    readonly pid: number,
  ) {
    super(`instance folder ${folder} is in use by process ${pid}; start another --instance N`)
    this.name = 'InstanceBusyError'
  }
}

export interface DesktopArgs {
  instance: number
  /** Peer addresses given on the command line; added to the remembered peers. */
  join: string[]
  /** Node name for this run (otherwise the remembered one, otherwise the node's default). */
  name?: string
  /** Explicit gRPC listen address; when its port is given there is no fallback to a free port. */
  grpcHost?: string
  grpcPort?: number
}

function parseInstance(raw: string, source: string): number {
  const n = Number(raw)
  if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(n) || n < 1 || n > MAX_INSTANCE) {
    throw new DesktopArgsError(`${source} must be a whole number from 1 to ${MAX_INSTANCE}, got "${raw}"`)
  }
  return n
}

function parseHostPort(raw: string): { host: string; port: number } {
  // Same shape as the CLI's --grpc (docs/client-protocol.md §1); [v6]:port allowed.
  const m = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/.exec(raw.trim())
  const port = m ? Number(m[2]) : NaN
  if (!m || port > 65535) throw new DesktopArgsError(`--grpc must be HOST:PORT, got "${raw}"`)
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port }
}

/**
 * Reads our flags out of the app's argv. Chromium and Electron put their own switches and the app
 * path in argv too (`electron . --instance 2`, `--no-sandbox`), so unknown flags and positionals are
 * ignored here instead of rejected.
 */
export function parseDesktopArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): DesktopArgs {
  const { values } = parseArgs({
    args: argv,
    strict: false,
    allowPositionals: true,
    options: {
      instance: { type: 'string' },
      join: { type: 'string', multiple: true },
      name: { type: 'string' },
      grpc: { type: 'string' },
    },
  })
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
  const rawInstance = str(values.instance)
  const instance =
    rawInstance !== undefined
      ? parseInstance(rawInstance, '--instance')
      : env[INSTANCE_ENV]
        ? parseInstance(env[INSTANCE_ENV]!, INSTANCE_ENV)
        : 1
  const joinValues = Array.isArray(values.join) ? values.join.filter((v): v is string => typeof v === 'string') : []
  const join = joinValues
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean)
  const out: DesktopArgs = { instance, join }
  const rawName = str(values.name)
  if (rawName?.trim()) {
    // The name rules of client-protocol.md section 7: peers refuse a Hello that breaks them.
    const checked = checkNodeName(rawName)
    if ('problem' in checked) throw new DesktopArgsError(`--name ${checked.problem}`)
    out.name = checked.name
  }
  const grpc = str(values.grpc)
  if (grpc !== undefined) {
    const { host, port } = parseHostPort(grpc)
    out.grpcHost = host
    out.grpcPort = port
  }
  return out
}

/**
 * <root>/instance-N. The root is normally Electron's appData/ds-g1-sms (main/index.ts passes it);
 * DS_USER_DATA_ROOT overrides it. One folder per N, so two different instances cannot collide;
 * the lock below stops the same N from running twice.
 */
export function instanceUserDataDir(root: string, instance: number, env: NodeJS.ProcessEnv = process.env): string {
  const base = env[USER_DATA_ROOT_ENV] ? resolve(env[USER_DATA_ROOT_ENV]!) : resolve(root)
  return join(base, `instance-${instance}`)
}

const LOCK_FILE = 'instance.lock'

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists but belongs to someone else, which still means "in use".
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export interface InstanceLock {
  readonly folder: string
  release(): void
}

/**
 * Claims the folder for this process with an O_EXCL lock file holding our pid. A lock left by a
 * crashed process (pid no longer alive) is taken over, so a crash never bricks an instance.
 */
export function acquireInstanceLock(folder: string, pid: number = process.pid): InstanceLock {
  mkdirSync(folder, { recursive: true })
  const file = join(folder, LOCK_FILE)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx')
      writeSync(fd, String(pid))
      closeSync(fd)
      let released = false
      return {
        folder,
        release() {
          if (released) return
          released = true
          try {
            // Only remove our own lock: a stale-lock takeover by another process must survive.
            if (readFileSync(file, 'utf8').trim() === String(pid)) unlinkSync(file)
          } catch {
            /* already gone */
          }
        },
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      let holder = NaN
      try {
        holder = Number(readFileSync(file, 'utf8').trim())
      } catch {
        /* vanished between open and read: retry */
      }
      if (Number.isInteger(holder) && holder > 0 && processAlive(holder)) throw new InstanceBusyError(folder, holder)
      try {
        unlinkSync(file)
      } catch {
        /* someone else removed it first */
      }
    }
  }
  throw new InstanceBusyError(folder, NaN)
}
