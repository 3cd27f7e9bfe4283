/**
 * Test harness: real node processes (`main/cli.ts`, exactly what `npm run peer` runs) and a real
 * WebSocket client that speaks only the client protocol. Nothing of the node is imported: tests see
 * what any other client would see.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import WebSocket from 'ws'
import type { Op, RequestInput, Results, ServerEvent } from '../../proto/client-protocol'

export const ROOT = resolve(__dirname, '..', '..')
const CLI = join(ROOT, 'main', 'cli.ts')

export interface Ready {
  event: 'ready'
  nodeId: string
  name: string
  grpc: string
  ws: string
  token: string
  clusterKey: string
  ui?: string
  dataDir: string
  pid: number
}

/**
 * The cluster key of every node a test file starts (client-protocol.md section 7): one cluster per
 * file, unless a test asks for another key (or none: the node makes its own). It travels in the
 * environment, as DS_CLUSTER_KEY, so it is not on the command line (docs/security.md).
 */
export const CLUSTER_KEY = randomBytes(32).toString('base64url')

/** The environment of a node process with `key` (undefined: no key given, the node uses or makes its own). */
export function nodeEnv(key: string | undefined): NodeJS.ProcessEnv {
  const env = { ...process.env }
  delete env.DS_CLUSTER_KEY
  if (key !== undefined) env.DS_CLUSTER_KEY = key
  return env
}

export interface NodeProc {
  ready: Ready
  proc: ChildProcess
  dataDir: string
  stderr: () => string
  /** Everything the node wrote to stdout so far (the contract: exactly one ready line). */
  stdout: () => string
  exited: Promise<number | null>
}

export interface StartOptions {
  name: string
  join?: string[]
  dataDir?: string
  token?: string
  timing?: { heartbeatMs: number; suspectMs: number; deadMs: number }
  grpcPort?: number
  extra?: string[]
  /** Options for node itself, before the script (the bench's --cpu-prof). */
  nodeArgs?: string[]
  /** Default CLUSTER_KEY; null = none given (the node uses its saved key or makes a new one). */
  clusterKey?: string | null
  /** More environment variables for the node process. */
  env?: Record<string, string>
}

/** How long a node may take to print its ready line (startNode). */
const READY_TIMEOUT_MS = 45_000
const started = new Set<NodeProc>()
const tempDirs = new Set<string>()
/** Every node this file started, stopped or not, with its name: what a failed test prints (nodeLogs). */
const ledger: { name: string; node: NodeProc; since: number }[] = []

/**
 * The end of the stderr of every node still running and of every node started since `since` (ms since
 * the epoch): what a failed test prints (test/helpers/node-logs-on-failure.ts), so that a failure seen
 * once on a loaded machine can be explained from its log, not only from its assertion.
 */
export function nodeLogs(since: number, charsPerNode = 4000): string {
  return ledger
    .filter((e) => e.since >= since || started.has(e.node))
    .map((e) => `----- ${e.name} (pid ${e.node.proc.pid}) stderr, last ${charsPerNode} chars -----\n${e.node.stderr().slice(-charsPerNode)}`)
    .join('\n')
}

export function tempDir(prefix = 'ds-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix))
  tempDirs.add(d)
  return d
}

/**
 * Run the CLI with raw arguments (for flag tests); resolves with its exit code and output. Killed after
 * `timeoutMs` (a hang): a bad flag exits at once, but a start-up takes over 10 s on a loaded machine.
 */
export function runCli(
  args: string[],
  timeoutMs = READY_TIMEOUT_MS,
  clusterKey: string | undefined = CLUSTER_KEY,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const p = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, env: nodeEnv(clusterKey), stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d) => (stdout += d))
    p.stderr.on('data', (d) => (stderr += d))
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs)
    p.on('exit', (code) => {
      clearTimeout(t)
      resolvePromise({ code, stdout, stderr })
    })
  })
}

export async function startNode(o: StartOptions): Promise<NodeProc> {
  const dataDir = o.dataDir ?? tempDir()
  const timing = o.timing ?? { heartbeatMs: 200, suspectMs: 600, deadMs: 1200 }
  const args = [
    ...(o.nodeArgs ?? []),
    '--import', 'tsx', CLI,
    '--name', o.name,
    '--grpc', `127.0.0.1:${o.grpcPort ?? 0}`,
    '--ws', '127.0.0.1:0',
    '--data-dir', dataDir,
    '--heartbeat-ms', String(timing.heartbeatMs),
    '--suspect-ms', String(timing.suspectMs),
    '--dead-ms', String(timing.deadMs),
    ...(o.join?.length ? ['--join', o.join.join(',')] : []),
    ...(o.token ? [`--token=${o.token}`] : []),
    ...(o.extra ?? []),
  ]
  const key = o.clusterKey === null ? undefined : (o.clusterKey ?? CLUSTER_KEY)
  const proc = spawn(process.execPath, args, { cwd: ROOT, env: { ...nodeEnv(key), ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  proc.stderr!.on('data', (d) => {
    err += d
    if (err.length > 200_000) err = err.slice(-100_000)
  })
  let out = ''
  proc.stdout!.on('data', (d) => {
    if (out.length < 200_000) out += d
  })
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)))
  // A start-up (tsx compiles main/ on the way) takes 1–2 s alone and over 10 s on a loaded two-core machine.
  const ready = await readyLine<Ready>(proc, (j) => j.event === 'ready', READY_TIMEOUT_MS, o.name, () => err)
  const np: NodeProc = { ready, proc, dataDir, stderr: () => err, stdout: () => out, exited }
  started.add(np)
  ledger.push({ name: o.name, node: np, since: Date.now() })
  return np
}

/**
 * The first line on `proc`'s stdout that is JSON and passes `isReady` (lines before it are skipped).
 * Rejects if the process exits first or after `timeoutMs`, and then kills it: a process that never
 * became ready is not left running by a failed test.
 */
function readyLine<T>(proc: ChildProcess, isReady: (line: T) => boolean, timeoutMs: number, what: string, stderr: () => string): Promise<T> {
  return new Promise<T>((resolvePromise, reject) => {
    let settled = false
    const fail = (e: Error) => {
      if (settled) return
      settled = true
      clearTimeout(t)
      rl.close()
      proc.kill('SIGKILL')
      reject(e)
    }
    const t = setTimeout(() => fail(new Error(`${what} not ready in ${timeoutMs / 1000} s: ${stderr()}`)), timeoutMs)
    const rl = createInterface({ input: proc.stdout! })
    rl.on('line', (line) => {
      let j: T
      try {
        j = JSON.parse(line) as T
      } catch {
        return // not the ready line
      }
      if (settled || !isReady(j)) return
      settled = true
      clearTimeout(t)
      rl.close()
      resolvePromise(j)
    })
    proc.on('exit', (code) => fail(new Error(`${what} exited with ${code}: ${stderr()}`)))
  })
}

/** A process started by `spawnReady`: its ready line, its output so far, and its exit. */
export interface ReadyProcess<T> {
  proc: ChildProcess
  ready: T
  stdout: () => string
  stderr: () => string
  exited: Promise<number | null>
}

/**
 * Spawn any command that prints a ready line (`{"event":"ready",...}`) on stdout (the built CLI,
 * `npm run peer`, a packed app) and wait for that line. Unlike startNode it takes the command as it is (no tsx, no flags added) and
 * the caller stops the process.
 */
export async function spawnReady<T>(
  command: string,
  args: string[],
  o: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; what?: string } = {},
): Promise<ReadyProcess<T>> {
  const proc = spawn(command, args, { cwd: o.cwd ?? ROOT, env: o.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  proc.stdout!.on('data', (d) => (out += d))
  proc.stderr!.on('data', (d) => (err += d))
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)))
  const ready = await readyLine<T>(proc, (j) => (j as { event?: unknown }).event === 'ready', o.timeoutMs ?? READY_TIMEOUT_MS, o.what ?? command, () => err)
  return { proc, ready, stdout: () => out, stderr: () => err, exited }
}

/** The port of a host:port address. */
export function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(':') + 1))
}

/**
 * The same node after a crash: kill -9 (unless it already exited), then start it again with its
 * name, data dir and gRPC port (the address its peers know), plus `o` (timing, --join, flags).
 */
export async function restartNode(n: NodeProc, o: Omit<StartOptions, 'name' | 'dataDir' | 'grpcPort'> = {}): Promise<NodeProc> {
  await killNode(n)
  return startNode({ name: n.ready.name, dataDir: n.dataDir, grpcPort: portOf(n.ready.grpc), ...o })
}

/** Freeze a node (SIGSTOP) for `ms`, then let it run again (SIGCONT). */
export async function pauseNode(n: NodeProc, ms: number): Promise<void> {
  n.proc.kill('SIGSTOP')
  await new Promise((r) => setTimeout(r, ms))
  n.proc.kill('SIGCONT')
}

/** SIGTERM and wait (graceful leave); SIGKILL if it hangs. */
export async function stopNode(n: NodeProc, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (n.proc.exitCode !== null || n.proc.signalCode !== null) return n.proc.exitCode
  n.proc.kill(signal)
  const t = setTimeout(() => n.proc.kill('SIGKILL'), 5000)
  const code = await n.exited
  clearTimeout(t)
  started.delete(n)
  return code
}

export async function killNode(n: NodeProc): Promise<void> {
  n.proc.kill('SIGKILL')
  await n.exited
  started.delete(n)
}

/** Stop every node and client this file started and remove temp folders (afterAll/afterEach). */
export async function cleanup(): Promise<void> {
  for (const c of [...clients]) c.close()
  await Promise.all(
    [...started].map(async (n) => {
      if (n.proc.signalCode === 'SIGSTOP' || n.proc.exitCode === null) n.proc.kill('SIGCONT')
      n.proc.kill('SIGKILL')
      await n.exited
    }),
  )
  started.clear()
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true })
  tempDirs.clear()
}

export class ProtocolError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`)
  }
}

const clients = new Set<Client>()

/** A client of one node: request/reply by id, and every event kept in order. */
export class Client {
  readonly events: ServerEvent[] = []
  readonly frames: unknown[] = []
  private nextId = 1
  private readonly waiting = new Map<string | number, (f: { ok: boolean; result?: unknown; error?: { code: string; message: string } }) => void>()
  private readonly watchers = new Set<() => void>()
  closed: Promise<{ code: number; reason: string }>

  private constructor(readonly ws: WebSocket) {
    clients.add(this)
    this.closed = new Promise((r) => ws.on('close', (code, reason) => r({ code, reason: String(reason) })))
    ws.on('message', (data) => {
      const f = JSON.parse(String(data))
      this.frames.push(f)
      if ('event' in f) this.events.push(f as ServerEvent)
      else if (f.id !== null && this.waiting.has(f.id)) {
        this.waiting.get(f.id)!(f)
        this.waiting.delete(f.id)
      }
      for (const w of this.watchers) w()
    })
  }

  static async connect(node: Ready | string, token?: string, headers?: Record<string, string>): Promise<Client> {
    const url = typeof node === 'string' ? node : `${node.ws}/?token=${encodeURIComponent(token ?? node.token)}`
    const ws = new WebSocket(url, { headers })
    await new Promise<void>((resolvePromise, reject) => {
      ws.once('open', () => resolvePromise())
      ws.once('error', reject)
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
    })
    return new Client(ws)
  }

  /** Connect and say hello as `user`. */
  static async as(node: Ready, user: string): Promise<Client> {
    const c = await Client.connect(node)
    await c.call('hello', { user })
    return c
  }

  /** Send any raw text or object and get the reply frame with that id (or the next id:null frame). */
  raw(frame: string | Buffer): void {
    this.ws.send(frame)
  }

  reply(op: string, params: Record<string, unknown> = {}): Promise<{ ok: boolean; result?: unknown; error?: { code: string; message: string } }> {
    const id = this.nextId++
    const p = new Promise<{ ok: boolean; result?: unknown; error?: { code: string; message: string } }>((r) => this.waiting.set(id, r))
    this.ws.send(JSON.stringify({ id, op, ...params }))
    return p
  }

  async call<O extends Op>(op: O, params?: Omit<RequestInput<O>, 'op'>): Promise<Results[O]> {
    const f = await this.reply(op, (params ?? {}) as Record<string, unknown>)
    if (!f.ok) throw new ProtocolError(f.error!.code, f.error!.message)
    return f.result as Results[O]
  }

  /** The error code a call fails with (fails the test if it succeeds). */
  async fails(op: string, params: Record<string, unknown> = {}): Promise<string> {
    const f = await this.reply(op, params)
    if (f.ok) throw new Error(`${op} succeeded but should have failed: ${JSON.stringify(f.result)}`)
    return f.error!.code
  }

  /** Wait until `pred` holds over the frames seen so far. */
  async until<T>(pred: () => T | undefined | false, timeoutMs = 10_000, what = 'condition'): Promise<T> {
    const now = pred()
    if (now) return now
    return new Promise<T>((resolvePromise, reject) => {
      const check = () => {
        const v = pred()
        if (v) {
          clearTimeout(t)
          this.watchers.delete(check)
          resolvePromise(v)
        }
      }
      const t = setTimeout(() => {
        this.watchers.delete(check)
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`))
      }, timeoutMs)
      this.watchers.add(check)
    })
  }

  /** Wait for an event matching `pred` (already received or future). */
  event<E extends ServerEvent['event']>(name: E, pred: (e: Extract<ServerEvent, { event: E }>) => boolean = () => true, timeoutMs = 10_000) {
    return this.until(
      () => this.events.find((e) => e.event === name && pred(e as Extract<ServerEvent, { event: E }>)) as Extract<ServerEvent, { event: E }> | undefined,
      timeoutMs,
      `event ${name}`,
    )
  }

  messages(roomId: string): Extract<ServerEvent, { event: 'message' }>[] {
    return this.events.filter((e): e is Extract<ServerEvent, { event: 'message' }> => e.event === 'message' && e.roomId === roomId)
  }

  close(): void {
    clients.delete(this)
    this.ws.close()
  }
}

/** Poll `fn` until it returns truthy (for conditions that need a request each time). */
export async function eventually<T>(fn: () => Promise<T | undefined | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const until = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v) return v
    } catch (e) {
      last = e
    }
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/**
 * Send `text` as `clientMsgId` until the node accepts it, as a client does after a failover or a
 * restart (the same clientMsgId each time, so it is ordered once): the seq it got.
 */
export async function sendAccepted(c: Client, roomId: string, text: string, clientMsgId: string, timeoutMs = 10_000, what = `${clientMsgId} accepted`): Promise<number> {
  let last = ''
  const r = await eventually(
    async () => {
      const f = await c.reply('message.send', { roomId, text, clientMsgId })
      if (!f.ok) last = `${f.error!.code}: ${f.error!.message}`
      return f.ok ? (f.result as Results['message.send']) : undefined
    },
    timeoutMs,
    what,
  ).catch((e: Error) => {
    // Say what the node kept answering: a failure seen once on a loaded machine is explained by it.
    throw new Error(`${e.message}${last ? ` (last answer: ${last})` : ''}`)
  })
  return r.seq
}

/** Start `n` nodes where every node after the first joins only the first. */
export async function startCluster(n: number, timing?: StartOptions['timing'], extra?: string[], nodeArgs?: string[]): Promise<NodeProc[]> {
  const first = await startNode({ name: 'n1', timing, extra, nodeArgs })
  const rest = await Promise.all(
    Array.from({ length: n - 1 }, (_, i) => startNode({ name: `n${i + 2}`, join: [first.ready.grpc], timing, extra, nodeArgs })),
  )
  return [first, ...rest]
}
