/**
 * `npm run bench -- --logic`: the CPU of the node code alone per chat message (docs/benchmarks.md,
 * "Commit notices without an answer"). Three nodes with replicated rooms run in this process on the
 * virtual clock and the in-memory network (test/node/node-harness.ts): no gRPC, TLS, WebSocket, disk
 * or waits, so it shows what share of a delivery's cost is ordering, replication and fan-out logic,
 * and it is not skewed by starvation as the bench's CPU per delivery is (a starved node batches more
 * and looks cheaper). It still moves by about ±15 % between rounds on a loaded machine.
 *
 * The workload is the bench's at 36k deliveries/s: 30 clients (10 per node) in one room, each sending
 * a 200-character message every 25 ms of virtual time, with batched `messages` events.
 */
import { TestCluster, type TestClient, type TestNode } from '../test/node/node-harness'

export async function runLogic(o: { rounds: number; repeat: number }): Promise<void> {
  for (let r = 0; r < o.repeat; r++) {
    const cluster = await TestCluster.replicated(3)
    try {
      const clients: { n: TestNode; c: TestClient }[] = []
      for (const n of cluster.nodes) for (let i = 0; i < 10; i++) clients.push({ n, c: await cluster.client(n, `bench-${n.name}-${i}`, { batch: true }) })
      const { rooms } = await clients[0].c.call({ id: 2, op: 'rooms.list' })
      const roomId = rooms.find((x) => x.name === 'n1 lobby')!.roomId
      for (const { c } of clients) await c.call({ id: 3, op: 'room.join', roomId })
      let id = 100
      let refused = 0
      const send = async (rounds: number) => {
        for (let k = 0; k < rounds; k++) {
          for (const { n, c } of clients) {
            const reqId = ++id
            void n.gateway.request(c.session, { id: reqId, op: 'message.send', roomId, text: 'x'.repeat(200), clientMsgId: `m${reqId}` }).then((f) => {
              if (!f.ok) refused++
            })
          }
          await cluster.run(25)
        }
        await cluster.run(500)
      }
      await send(200) // V8's JIT warms up on the same path first
      const cpu0 = process.cpuUsage()
      const wall0 = performance.now()
      await send(o.rounds)
      const cpu = process.cpuUsage(cpu0)
      const messages = o.rounds * clients.length
      console.log(
        `  node code alone, round ${r + 1}: ${((cpu.user + cpu.system) / messages).toFixed(1)} µs CPU per chat message over three nodes ` +
          `(${((cpu.user + cpu.system) / messages / clients.length).toFixed(2)} µs per delivery), ${messages} messages, ${refused} refused, ` +
          `${((performance.now() - wall0) / 1000).toFixed(1)} s`,
      )
    } finally {
      cluster.stopAll()
    }
  }
}
