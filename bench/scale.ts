/**
 * `npm run bench -- --scale`: ds-g1-sms at scale (docs/benchmarks.md, "Scale"). Three nodes; node RSS
 * and server CPU per delivery in one active room (30 clients, the usual workload) as the cluster
 * grows: with 1,000 rooms, then with 1,000 more idle clients per node (each in one of those rooms);
 * then, on a fresh cluster, one room with `--members` members (10,000 by default) where the fan-out
 * cost per delivery should stay what it is for 30.
 *
 * Deliveries are checked by seq (contiguous at every receiver: nothing lost, duplicated or out of
 * order); latency is from send to arrival, as in the main bench.
 */
import WebSocket from 'ws'
import { cleanup, startCluster, type NodeProc } from '../test/helpers/cluster'
import { MESSAGE_BYTES, cpuSeconds, rssMiB } from './load'

interface ScaleOptions {
  /** Only the large room (--big-only). */
  bigOnly?: boolean
  /** More node flags (--replicas N). */
  extra?: string[]
  members: number
  rooms: number
  idlePerNode: number
  seconds: number
  loads: number[]
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A light client: request/reply by id, and per-room seq bookkeeping of what it receives. */
class LightClient {
  private nextId = 1
  private readonly waiting = new Map<number, (f: { ok: boolean; result?: unknown; error?: { message: string } }) => void>()
  lastSeq: number | undefined
  received = 0
  breaks = 0
  roomId = ''
  /** Called with the send time of every message of roomId received (set by measure()). */
  onDeliver: (sentAt: number) => void = () => {}

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const text = String(data)
      // Member events (counts, in a large room: these clients say largeRooms) are skipped unparsed.
      if (text.startsWith('{"event":"member')) return
      const f = JSON.parse(text)
      if (f.event === 'message') this.take(f)
      else if (f.event === 'messages') for (const m of f.messages) this.take(m)
      else if (f.id !== undefined && f.event === undefined) {
        const w = this.waiting.get(f.id)
        this.waiting.delete(f.id)
        w?.(f)
      }
    })
  }

  private take(m: { roomId: string; seq: number; text: string }): void {
    if (m.roomId !== this.roomId) return
    if (this.lastSeq !== undefined && m.seq !== this.lastSeq + 1) this.breaks++
    this.lastSeq = m.seq
    this.received++
    this.onDeliver(Number(m.text.slice(0, m.text.indexOf('|'))))
  }

  static async open(node: NodeProc, user: string): Promise<LightClient> {
    const ws = new WebSocket(`${node.ready.ws}/?token=${encodeURIComponent(node.ready.token)}`)
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    const c = new LightClient(ws)
    // largeRooms (client-protocol.md §5): a room of thousands as a count and a first page of members.
    await c.call('hello', { user, batch: true, largeRooms: true })
    return c
  }

  call(op: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (f) => (f.ok ? resolve(f.result as Record<string, unknown>) : reject(new Error(`${op}: ${f.error?.message}`))))
      this.ws.send(JSON.stringify({ id, op, ...params }))
    })
  }

  send(text: string): void {
    const id = this.nextId++
    this.ws.send(JSON.stringify({ id, op: 'message.send', roomId: this.roomId, text, clientMsgId: `s${id}` }))
  }
}

/**
 * Join, again if the node timed out or thought the administrator unreachable on a busy machine
 * (joining is idempotent), for up to a minute.
 */
async function joinRetrying(c: LightClient, roomId: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await c.call('room.join', { roomId })
      return
    } catch (e) {
      if (attempt >= 30) throw e
      await sleep(2000)
    }
  }
}

/** Run `fn` over `items` with at most `width` at a time. */
async function inParallel<T>(items: T[], width: number, fn: (x: T, i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++
        await fn(items[i], i)
      }
    }),
  )
}

async function roomReached(c: LightClient, roomId: string): Promise<void> {
  for (let tries = 0; tries < 200; tries++) {
    const { rooms } = (await c.call('rooms.list')) as { rooms: { roomId: string }[] }
    if (rooms.some((r) => r.roomId === roomId)) return
    await sleep(100)
  }
  throw new Error(`room ${roomId} never reached a node`)
}

const rss = (nodes: NodeProc[]) => nodes.map((n) => rssMiB(n.ready.pid).toFixed(0)).join(' / ')

/**
 * What each node's RSS is made of (node.stats memory, docs/benchmarks.md "Scale"): V8 heap used /
 * heap reserved, and memory outside the heap (external, of which array buffers), in MiB.
 */
async function memory(nodes: NodeProc[]): Promise<string> {
  const mib = (b: number) => (b / 1048576).toFixed(0)
  const parts: string[] = []
  for (const [k, n] of nodes.entries()) {
    const c = await LightClient.open(n, `stats${k}`)
    const { memory: m } = (await c.call('node.stats')) as { memory: { rss: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number } }
    c.ws.close()
    parts.push(`n${k + 1} rss ${mib(m.rss)} heap ${mib(m.heapUsed)}/${mib(m.heapTotal)} ext ${mib(m.external)} (ab ${mib(m.arrayBuffers)})`)
  }
  return parts.join(' | ')
}

/**
 * One room with `receivers` (all members), `senders` of them sending at `offered` deliveries/s:
 * server CPU per delivery over the window, p50/p99, and the seq check.
 */
async function measure(nodes: NodeProc[], senders: LightClient[], receivers: LightClient[], offered: number, seconds: number): Promise<string> {
  const latencies: number[] = []
  let recording = false
  const onDeliver = (sentAt: number) => {
    if (recording) latencies.push(performance.now() - sentAt)
  }
  for (const r of receivers) r.onDeliver = onDeliver
  const perSender = offered / receivers.length / senders.length
  const received0 = receivers.reduce((s, r) => s + r.received, 0)
  let sent = 0
  const start = performance.now()
  const counts = senders.map(() => 0)
  const timer = setInterval(() => {
    const el = (performance.now() - start) / 1000
    senders.forEach((s, k) => {
      const due = Math.floor(el * perSender + k / senders.length)
      while (counts[k] < due) {
        counts[k]++
        sent++
        const head = `${performance.now().toFixed(3)}|`
        s.send(head + 'x'.repeat(MESSAGE_BYTES - head.length))
      }
    })
  }, 2)
  await sleep(1500)
  const cpu0 = nodes.map((n) => cpuSeconds(n.ready.pid))
  const d0 = receivers.reduce((s, r) => s + r.received, 0)
  const w0 = performance.now()
  recording = true
  await sleep(seconds * 1000)
  recording = false
  const secs = (performance.now() - w0) / 1000
  const cpu = nodes.reduce((s, n, i) => s + cpuSeconds(n.ready.pid) - cpu0[i], 0)
  const deliveries = receivers.reduce((s, r) => s + r.received, 0) - d0
  clearInterval(timer)
  const expected = received0 + sent * receivers.length
  const deadline = performance.now() + 30_000
  while (receivers.reduce((s, r) => s + r.received, 0) < expected && performance.now() < deadline) await sleep(50)
  const got = receivers.reduce((s, r) => s + r.received, 0)
  const breaks = receivers.reduce((s, r) => s + r.breaks, 0)
  latencies.sort((a, b) => a - b)
  const pct = (p: number) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))].toFixed(1) : '-')
  return (
    `offered ${(offered / 1000).toFixed(0)}k/s delivered ${(deliveries / secs / 1000).toFixed(1)}k/s  ` +
    `${((cpu * 1e6) / Math.max(1, deliveries)).toFixed(2)} µs server CPU/delivery  p50 ${pct(50)} p99 ${pct(99)} ms  ` +
    `lost ${expected - got}, seq breaks ${breaks}`
  )
}

/** The usual workload's room: 30 clients, 10 per node, all of them sending. */
/** The scale run makes a thousand rooms on three nodes at once: past a node's abuse limits (docs/security.md). */
const ROOM_LIMITS = ['--max-rooms', '100000', '--room-creates-per-10s', '100000']

async function activeRoom(nodes: NodeProc[], tag: string): Promise<LightClient[]> {
  const clients: LightClient[] = []
  for (let i = 0; i < 30; i++) clients.push(await LightClient.open(nodes[i % 3], `${tag}${i}`))
  const { room } = (await clients[0].call('room.create', { name: `active-${tag}` })) as { room: { roomId: string } }
  for (const c of clients) {
    await roomReached(c, room.roomId)
    await c.call('room.join', { roomId: room.roomId })
    c.roomId = room.roomId
  }
  return clients
}

export async function runScale(o: ScaleOptions): Promise<void> {
  const timing = { heartbeatMs: 500, suspectMs: 4000, deadMs: 8000 }
  // 1. One cluster: the active room alone, then with many rooms, then with many idle clients.
  const flags = [...ROOM_LIMITS, ...(o.extra ?? [])]
  let nodes = await startCluster(3, timing, flags)
  if (o.bigOnly) await cleanup()
  else try {
    await sleep(1000)
    console.log(`3 nodes started                        RSS n1/n2/n3 ${rss(nodes)} MiB`)
    console.log(`  memory: ${await memory(nodes)}`)
    const active = await activeRoom(nodes, 'a')
    for (const load of o.loads) console.log(`  active room (30 clients)             ${await measure(nodes, active, active, load, o.seconds)}`)
    console.log(`  after it                             RSS ${rss(nodes)} MiB`)
    console.log(`  memory: ${await memory(nodes)}`)

    const owners = await Promise.all(nodes.map((n, k) => LightClient.open(n, `owner${k}`)))
    /** Rooms by the node that administers them (its owner created them). */
    const roomsOf: string[][] = [[], [], []]
    const t0 = performance.now()
    await inParallel(Array.from({ length: o.rooms }, (_, i) => i), 20, async (i) => {
      const { room } = (await owners[i % 3].call('room.create', { name: `room ${i}` })) as { room: { roomId: string } }
      await owners[i % 3].call('room.join', { roomId: room.roomId })
      roomsOf[i % 3].push(room.roomId)
    })
    await sleep(2000) // let the directory gossip settle
    console.log(`${o.rooms} rooms created and joined in ${((performance.now() - t0) / 1000).toFixed(1)} s   RSS ${rss(nodes)} MiB`)
    console.log(`  memory: ${await memory(nodes)}`)
    for (const load of o.loads) console.log(`  active room (30 clients)             ${await measure(nodes, active, active, load, o.seconds)}`)

    const t1 = performance.now()
    const idle: LightClient[] = []
    await inParallel(Array.from({ length: 3 * o.idlePerNode }, (_, i) => i), 20, async (i) => {
      const c = await LightClient.open(nodes[i % 3], `idle${i}`)
      // Each idle client in one of the rooms its own node administers (no forward needed to join).
      const own = roomsOf[i % 3]
      await joinRetrying(c, own[Math.floor(i / 3) % own.length])
      idle.push(c)
    })
    console.log(`${o.idlePerNode} idle clients per node connected in ${((performance.now() - t1) / 1000).toFixed(1)} s   RSS ${rss(nodes)} MiB`)
    console.log(`  memory: ${await memory(nodes)}`)
    for (const load of o.loads) console.log(`  active room (30 clients)             ${await measure(nodes, active, active, load, o.seconds)}`)
    for (const c of [...idle, ...owners, ...active]) c.ws.close()
  } finally {
    await cleanup()
  }

  // 2. A fresh cluster: one room with many members, 30 of which send.
  nodes = await startCluster(3, timing, flags)
  try {
    await sleep(1000)
    const first = await LightClient.open(nodes[0], 'big0')
    const { room } = (await first.call('room.create', { name: 'big' })) as { room: { roomId: string } }
    const members: LightClient[] = [first]
    const t0 = performance.now()
    for (let k = 1; k < 3; k++) await roomReached(await LightClient.open(nodes[k], `probe${k}`), room.roomId)
    await first.call('room.join', { roomId: room.roomId })
    first.roomId = room.roomId
    // Past 500 members these clients hear a count, not every join (client-protocol.md §5, "Large
    // rooms"), so a join costs about the same at any size: 100 at a time (on a loaded machine a join
    // is mostly waiting, for the replicas and for each process's turn), and one that times out is
    // retried (joining is idempotent).
    await inParallel(Array.from({ length: o.members - 1 }, (_, i) => i + 1), 100, async (i) => {
      const c = await LightClient.open(nodes[i % 3], `big${i}`)
      await joinRetrying(c, room.roomId)
      c.roomId = room.roomId
      members.push(c)
      if (members.length % 1000 === 0) {
        console.log(`  ${members.length} members after ${((performance.now() - t0) / 1000).toFixed(0)} s   RSS ${rss(nodes)} MiB`)
      }
    })
    await sleep(2000)
    console.log(`one room of ${o.members} members joined in ${((performance.now() - t0) / 1000).toFixed(1)} s   RSS ${rss(nodes)} MiB`)
    console.log(`  memory: ${await memory(nodes)}`)
    const senders = members.slice(0, 30)
    for (const load of o.loads) console.log(`  ${o.members}-member room (30 senders)       ${await measure(nodes, senders, members, load, o.seconds)}`)
    console.log(`  after it                             RSS ${rss(nodes)} MiB`)
    console.log(`  memory: ${await memory(nodes)}`)
    for (const c of members) c.ws.close()
  } finally {
    await cleanup()
  }
}
