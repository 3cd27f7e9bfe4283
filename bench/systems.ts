/**
 * The systems `npm run bench` drives with one load generator (docs/benchmarks.md): ds-g1-sms (three
 * real node processes, exactly what `npm run peer` runs), a one-process ws broadcast server, and
 * Socket.IO 4 with its cluster adapter (three workers). Each gives the generator 30 clients (10 per
 * server process) in one room and the pids whose CPU counts as server CPU.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import WebSocket from 'ws'
import { io as ioClient, type Socket } from 'socket.io-client'
import type { ArchiveInfo } from '../proto/client-protocol'
import { ROOT, cleanup, startCluster, type NodeProc } from '../test/helpers/cluster'

export type SystemName = 'ds-g1-sms' | 'ws-broadcast' | 'socketio-cluster'
export const SYSTEMS: SystemName[] = ['ds-g1-sms', 'ws-broadcast', 'socketio-cluster']

/** Called for every message a client receives: its text and, for ds-g1-sms, its seq. */
export type OnDeliver = (receiver: number, text: string, seq: number | undefined) => void

export interface BenchClient {
  send(text: string): void
  close(): void
}

export interface RunningSystem {
  name: SystemName
  /** Server processes whose CPU and memory are measured. */
  pids: number[]
  clients: BenchClient[]
  /** Sends refused by the server (ds-g1-sms replies to each send). */
  sendErrors(): number
  /** Peer messages per gRPC frame on the nodes' links since the last call (ds-g1-sms only). */
  linkBatching?(): Promise<string>
  /** The room administrator's history archive (ds-g1-sms started with --db only). */
  archive?(): Promise<ArchiveInfo | undefined>
  /** What each node's RSS is made of: V8 heap and memory outside it (ds-g1-sms only, node.stats). */
  memory?(): Promise<string>
  stop(): Promise<void>
}

export interface StartSystemOptions {
  clientsPerServer: number
  /** ds-g1-sms only: ask for the batched `messages` event in hello (client-protocol.md). */
  batch: boolean
  onDeliver: OnDeliver
  /** ds-g1-sms: the node answered this send with an error (rate limit, timeout): not ordered. */
  onRefused?: (text: string) => void
}

function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
}

/** A minimal client of the ds-g1-sms protocol: request/reply by id, deliveries to onDeliver. */
class DsClient implements BenchClient {
  private nextId = 1
  private readonly waiting = new Map<number, (f: { ok: boolean; result?: unknown; error?: { code: string; message: string } }) => void>()
  errors = 0
  roomId = ''
  /** Sends not answered yet: their text, to report a refused one. */
  private readonly inFlight = new Map<number, string>()

  constructor(
    readonly ws: WebSocket,
    private readonly index: number,
    onDeliver: OnDeliver,
    onRefused: (text: string) => void = () => {},
  ) {
    ws.on('message', (data) => {
      const f = JSON.parse(String(data))
      if (f.event === 'message') onDeliver(this.index, f.text, f.seq)
      else if (f.event === 'messages') for (const m of f.messages) onDeliver(this.index, m.text, m.seq)
      else if (f.id !== undefined && f.event === undefined) {
        const w = this.waiting.get(f.id)
        if (w) {
          this.waiting.delete(f.id)
          w(f)
          return
        }
        const text = this.inFlight.get(f.id)
        this.inFlight.delete(f.id)
        if (!f.ok) {
          this.errors++
          if (text !== undefined) onRefused(text)
        }
      }
    })
  }

  call(op: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (f) => (f.ok ? resolve(f.result as Record<string, unknown>) : reject(new Error(`${op}: ${f.error?.code} ${f.error?.message}`))))
      this.ws.send(JSON.stringify({ id, op, ...params }))
    })
  }

  send(text: string): void {
    const id = this.nextId++
    this.inFlight.set(id, text)
    // Fire and forget: the reply is only counted if it is an error (open loop, no window).
    this.ws.send(JSON.stringify({ id, op: 'message.send', roomId: this.roomId, text, clientMsgId: `c${id}` }))
  }

  close(): void {
    this.ws.close()
  }
}

async function startDs(o: StartSystemOptions, nodes = 3, extra: string[] = [], nodeArgs: string[] = []): Promise<RunningSystem> {
  const procs: NodeProc[] = await startCluster(nodes, { heartbeatMs: 500, suspectMs: 4000, deadMs: 8000 }, extra, nodeArgs)
  const clients: DsClient[] = []
  for (let i = 0; i < nodes * o.clientsPerServer; i++) {
    const ready = procs[i % nodes].ready
    const ws = new WebSocket(`${ready.ws}/?token=${encodeURIComponent(ready.token)}`)
    await opened(ws)
    const c = new DsClient(ws, i, o.onDeliver, o.onRefused)
    await c.call('hello', o.batch ? { user: `bench${i}`, batch: true } : { user: `bench${i}` })
    clients.push(c)
  }
  const created = (await clients[0].call('room.create', { name: `bench-${Date.now()}` })) as { room: { roomId: string } }
  const roomId = created.room.roomId
  for (const c of clients) {
    // The room reaches the other nodes by gossip: join once this client's node lists it.
    for (let tries = 0; ; tries++) {
      const { rooms } = (await c.call('rooms.list')) as { rooms: { roomId: string }[] }
      if (rooms.some((r) => r.roomId === roomId)) break
      if (tries > 100) throw new Error(`room ${roomId} never reached client ${c.roomId}`)
      await new Promise((r) => setTimeout(r, 100))
    }
    await c.call('room.join', { roomId })
    c.roomId = roomId
  }
  let lastStats = new Map<string, { f: number; m: number }>()
  let lastStatsAt = performance.now()
  return {
    name: 'ds-g1-sms',
    pids: procs.map((p) => p.ready.pid),
    clients,
    sendErrors: () => clients.reduce((n, c) => n + c.errors, 0),
    async linkBatching() {
      const parts: string[] = []
      const next = new Map<string, { f: number; m: number }>()
      const now = performance.now()
      const secs = (now - lastStatsAt) / 1000
      lastStatsAt = now
      for (let k = 0; k < nodes; k++) {
        const { links } = (await clients[k].call('node.stats')) as { links: { name: string; framesSent: number; messagesSent: number }[] }
        for (const l of links) {
          const key = `n${k + 1}->${l.name}`
          const prev = lastStats.get(key) ?? { f: 0, m: 0 }
          next.set(key, { f: l.framesSent, m: l.messagesSent })
          const f = l.framesSent - prev.f
          // Messages per frame, and frames per second: what each frame's fixed cost is paid on.
          if (f > 0) parts.push(`${key} ${((l.messagesSent - prev.m) / f).toFixed(1)} (${(f / secs).toFixed(0)}/s)`)
        }
      }
      lastStats = next
      return parts.join(', ')
    },
    // clients[0] created the room: its node administers it and writes it to the archive.
    archive: async () => ((await clients[0].call('node.stats')) as { archive?: ArchiveInfo }).archive,
    async memory() {
      const mib = (b: number) => (b / 1048576).toFixed(0)
      const parts: string[] = []
      for (let k = 0; k < nodes; k++) {
        const { memory: m } = (await clients[k].call('node.stats')) as { memory: { rss: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number } }
        parts.push(`n${k + 1} rss ${mib(m.rss)} heap ${mib(m.heapUsed)}/${mib(m.heapTotal)} ext ${mib(m.external)} (ab ${mib(m.arrayBuffers)})`)
      }
      return parts.join(' | ')
    },
    async stop() {
      for (const c of clients) c.close()
      await Promise.all(procs.map((p) => stopQuietly(p.proc)))
      await cleanup()
    },
  }
}

function stopQuietly(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const t = setTimeout(() => proc.kill('SIGKILL'), 8000)
    proc.once('exit', () => {
      clearTimeout(t)
      resolve()
    })
    proc.kill('SIGTERM')
  })
}

/** Start a baseline server script (bench/servers/) and read its ready line. */
async function startScript(file: string): Promise<{ proc: ChildProcess; pids: number[]; urls: string[] }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'servers', file)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] })
  const ready = await new Promise<{ pids: number[]; urls: string[] }>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${file} not ready in 20 s`)), 20_000)
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      try {
        const j = JSON.parse(line)
        if (j.event === 'ready') {
          clearTimeout(t)
          resolve(j)
        }
      } catch {
        // not the ready line
      }
    })
    proc.once('exit', (code) => reject(new Error(`${file} exited with ${code}`)))
  })
  return { proc, ...ready }
}

async function startWsBroadcast(o: StartSystemOptions): Promise<RunningSystem> {
  const { proc, pids, urls } = await startScript('ws-broadcast.ts')
  const clients: BenchClient[] = []
  for (let i = 0; i < 3 * o.clientsPerServer; i++) {
    const ws = new WebSocket(urls[0])
    await opened(ws)
    ws.on('message', (data) => o.onDeliver(i, String(data), undefined))
    clients.push({ send: (text) => ws.send(text), close: () => ws.close() })
  }
  return { name: 'ws-broadcast', pids, clients, sendErrors: () => 0, stop: () => closeAll(clients, proc) }
}

async function startSocketIo(o: StartSystemOptions): Promise<RunningSystem> {
  const { proc, pids, urls } = await startScript('socketio-cluster.ts')
  const clients: BenchClient[] = []
  for (let i = 0; i < urls.length * o.clientsPerServer; i++) {
    const socket: Socket = ioClient(urls[i % urls.length], { transports: ['websocket'], forceNew: true, reconnection: false })
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve())
      socket.once('connect_error', reject)
    })
    socket.on('msg', (text: string) => o.onDeliver(i, text, undefined))
    clients.push({ send: (text) => socket.emit('msg', text), close: () => socket.close() })
  }
  // Joining the room happens on connection; give the adapter a moment to know every socket.
  await new Promise((r) => setTimeout(r, 500))
  return { name: 'socketio-cluster', pids, clients, sendErrors: () => 0, stop: () => closeAll(clients, proc) }
}

async function closeAll(clients: BenchClient[], proc: ChildProcess): Promise<void> {
  for (const c of clients) c.close()
  await stopQuietly(proc)
}

/** `dsExtra`: flags for the ds-g1-sms nodes (e.g. --db); `dsNodeArgs`: options for node itself (--cpu-prof). */
export function startSystem(name: SystemName, o: StartSystemOptions, dsExtra: string[] = [], dsNodeArgs: string[] = []): Promise<RunningSystem> {
  switch (name) {
    case 'ds-g1-sms':
      return startDs(o, 3, dsExtra, dsNodeArgs)
    case 'ws-broadcast':
      return startWsBroadcast(o)
    case 'socketio-cluster':
      return startSocketIo(o)
  }
}
