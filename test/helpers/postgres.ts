/**
 * A real, throw-away PostgreSQL server for the archive tests and the benchmark (docs/archive.md,
 * "Testing"): initdb into a temporary folder, `postgres` on 127.0.0.1 and a free port, stopped and
 * deleted at the end. Tests run as root and PostgreSQL refuses to run as root, so when this process
 * is root the server runs as the unprivileged user `nobody` (spawn's uid/gid options; the data folder
 * is handed to that user). The binaries come from Debian's postgresql package (.ci/run installs it);
 * when they are missing the helper throws with the install hint instead of letting a test skip.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'

const NOBODY = { uid: 65534, gid: 65534 }

export class PostgresMissingError extends Error {
  override readonly name = 'PostgresMissingError'
  readonly code = 'postgres_missing'
}

/** The folder holding initdb and postgres: $PG_BIN, else the newest /usr/lib/postgresql/N/bin. */
export function postgresBinDir(): string {
  const candidates: string[] = []
  if (process.env.PG_BIN) candidates.push(process.env.PG_BIN)
  const root = '/usr/lib/postgresql'
  if (existsSync(root)) {
    const versions = readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))
    for (const v of versions) candidates.push(join(root, v, 'bin'))
  }
  for (const dir of candidates) if (existsSync(join(dir, 'postgres')) && existsSync(join(dir, 'initdb'))) return dir
  throw new PostgresMissingError(
    `PostgreSQL server binaries (initdb, postgres) not found in ${candidates.join(', ') || root}: ` +
      'install them with `apt-get install -y postgresql` (Debian/Ubuntu), or set PG_BIN to their folder',
  )
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

function asServerUser(): { uid?: number; gid?: number } {
  return process.getuid?.() === 0 ? NOBODY : {}
}

export interface TempPostgres {
  /** postgresql://postgres@127.0.0.1:PORT/postgres (trust authentication, loopback only). */
  readonly url: string
  readonly port: number
  /** Stop the server (fast shutdown: open connections are cut, like a crash seen from a client). */
  stop(): Promise<void>
  /** Start it again on the same port and data (after stop()). */
  start(): Promise<void>
  /** Run SQL as the superuser (test setup and checks). */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>
  /** Stop and delete everything. Safe to call twice. */
  destroy(): Promise<void>
}

export async function startPostgres(): Promise<TempPostgres> {
  const bin = postgresBinDir()
  const base = mkdtempSync(join(tmpdir(), 'ds-pg-'))
  const dataDir = join(base, 'data')
  const user = asServerUser()
  if (user.uid !== undefined) chownSync(base, user.uid, user.gid!)
  const init = spawnSync(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--locale=C'], {
    ...user,
    cwd: base,
    encoding: 'utf8',
    timeout: 60_000,
  })
  if (init.status !== 0) {
    rmSync(base, { recursive: true, force: true })
    throw new Error(`initdb failed (${init.status}): ${init.stderr || init.error?.message}`)
  }
  const port = await freePort()
  const url = `postgresql://postgres@127.0.0.1:${port}/postgres`
  let proc: ChildProcess | undefined
  let log = ''

  const start = async (): Promise<void> => {
    // Durability is not what these tests measure: fsync off keeps a test run fast on a busy disk.
    const args = ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=',
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=50']
    const p = spawn(join(bin, 'postgres'), args, { ...user, cwd: base, stdio: ['ignore', 'ignore', 'pipe'] })
    proc = p
    p.stderr!.on('data', (d) => {
      log = (log + d).slice(-20_000)
    })
    const exited = new Promise<void>((r) => p.once('exit', () => r()))
    const deadline = Date.now() + 30_000
    for (;;) {
      if (p.exitCode !== null) throw new Error(`postgres exited with ${p.exitCode}: ${log}`)
      const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 })
      try {
        await c.connect()
        await c.query('SELECT 1')
        await c.end()
        return
      } catch {
        await c.end().catch(() => {})
        if (Date.now() > deadline) {
          p.kill('SIGKILL')
          await exited
          throw new Error(`postgres not accepting connections on ${port} after 30 s: ${log}`)
        }
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  }

  const stop = async (): Promise<void> => {
    const p = proc
    proc = undefined
    if (!p || p.exitCode !== null) return
    const exited = new Promise<void>((r) => p.once('exit', () => r()))
    p.kill('SIGINT') // fast shutdown: roll back open transactions, close connections
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(t)
  }

  await start()
  let destroyed = false
  return {
    url,
    port,
    stop,
    start,
    async query(sql, params) {
      const c = new pg.Client({ connectionString: url })
      await c.connect()
      try {
        return await c.query(sql, params)
      } finally {
        await c.end()
      }
    },
    async destroy() {
      if (destroyed) return
      destroyed = true
      await stop()
      rmSync(base, { recursive: true, force: true })
    },
  }
}
