/**
 * `npm run bench`: throughput and latency of ordered fan-out across real node processes.
 * Three nodes on 127.0.0.1 (n2 and n3 join n1), a room administered by n1, two clients per node;
 * every client pipelines its messages (up to WINDOW unacknowledged), and each delivery is timed
 * from the moment its sender sent it to the moment each client received it.
 *
 *   npm run bench -- [--messages N per client] [--window W] [--nodes K]
 */
import { parseArgs } from 'node:util'
import { Client, cleanup, startCluster } from '../test/helpers/cluster'

const { values } = parseArgs({
  options: { messages: { type: 'string', default: '2000' }, window: { type: 'string', default: '200' }, nodes: { type: 'string', default: '3' } },
})
const PER_CLIENT = Number(values.messages)
const WINDOW = Number(values.window)
const NODES = Number(values.nodes)

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

async function main(): Promise<void> {
  const nodes = await startCluster(NODES, { heartbeatMs: 500, suspectMs: 1500, deadMs: 3000 })
  const clients: Client[] = []
  for (let i = 0; i < NODES * 2; i++) clients.push(await Client.as(nodes[i % NODES].ready, `bench${i}`))
  await new Promise((r) => setTimeout(r, 1500)) // let discovery settle
  const { room } = await clients[0].call('room.create', { name: 'bench' })
  for (const c of clients) {
    // The room reaches other nodes by gossip: join once this client's node has heard of it.
    await c.event('room.created', (e) => e.room.roomId === room.roomId)
    await c.call('room.join', { roomId: room.roomId })
  }
  const total = PER_CLIENT * clients.length
  const sentAt = new Map<string, number>()
  const latencies: number[] = []
  const received = clients.map(() => 0)
  let done!: () => void
  const allDone = new Promise<void>((r) => (done = r))
  clients.forEach((c, k) =>
    c.ws.on('message', (data) => {
      const f = JSON.parse(String(data))
      if (f.event !== 'message' || f.roomId !== room.roomId) return
      latencies.push(performance.now() - sentAt.get(f.clientMsgId)!)
      if (++received[k] === total && received.every((n) => n === total)) done()
    }),
  )
  const t0 = performance.now()
  await Promise.all(
    clients.map(async (c, k) => {
      let inFlight: Promise<unknown>[] = []
      for (let i = 0; i < PER_CLIENT; i++) {
        const id = `b${k}-${i}`
        sentAt.set(id, performance.now())
        inFlight.push(c.call('message.send', { roomId: room.roomId, text: `message ${i} from client ${k}`, clientMsgId: id }))
        if (inFlight.length >= WINDOW) {
          await Promise.all(inFlight)
          inFlight = []
        }
      }
      await Promise.all(inFlight)
    }),
  )
  const acked = performance.now() - t0
  await allDone
  const elapsed = performance.now() - t0
  latencies.sort((a, b) => a - b)
  const rows = {
    nodes: NODES,
    clients: clients.length,
    'messages sent': total,
    'deliveries (sent x clients)': total * clients.length,
    'all acked after (ms)': Math.round(acked),
    'all delivered after (ms)': Math.round(elapsed),
    'sends ordered per second': Math.round(total / (elapsed / 1000)),
    'deliveries per second': Math.round((total * clients.length) / (elapsed / 1000)),
    'latency p50 (ms)': pct(latencies, 50).toFixed(1),
    'latency p95 (ms)': pct(latencies, 95).toFixed(1),
    'latency p99 (ms)': pct(latencies, 99).toFixed(1),
  }
  // How well batching worked: peer messages per gRPC frame on the administrator's links.
  const { links } = await clients[0].call('node.stats')
  for (const l of links) {
    ;(rows as Record<string, unknown>)[`n1 -> ${l.name}: peer messages per frame`] = (l.messagesSent / Math.max(1, l.framesSent)).toFixed(1)
  }
  console.table(rows)
  await cleanup()
}

main().catch(async (e) => {
  console.error(e)
  await cleanup()
  process.exit(1)
})
