/**
 * A join answered while the administrator's own Link back to the member node is not up
 * (docs/peer-protocol.md §1: each node writes to a peer only on the Link it dialled). The answer is
 * held until that Link is up (peer-links.ts `answer`); the room's messages ordered after it must
 * reach the joining client too, in order behind it (docs/ordering.md §4), even in a room that then
 * goes quiet. The schedule of simulator seed 227 (docs/simulation.md "Bugs found") on two nodes:
 * the administrator's dial to the member node hangs in its handshake (it went out during a
 * partition to the member's previous incarnation), while the restarted member's own Link is up.
 * Real nodes on the virtual clock and the in-memory network (test/node/node-harness.ts).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { TestCluster } from './node-harness'

let cluster: TestCluster | undefined
afterEach(() => {
  cluster?.stopAll()
  cluster = undefined
})

describe('a join answered before the administrator can write to the member node', () => {
  it('the messages sent after the answer reach the joining client with it', async () => {
    cluster = new TestCluster()
    cluster.replicas = 1
    // The member node must not declare the administrator dead while it cannot hear it (about 5 s:
    // the dial's handshake timeout), or the join fails instead (the client would ask again).
    cluster.timing = { heartbeatMs: 500, suspectMs: 3000, deadMs: 10_000 }
    await cluster.start(2)
    const [n1] = cluster.nodes
    let n2 = cluster.nodes[1]
    const ann = await cluster.client(n1, 'ann')
    const { room } = await ann.call({ id: 2, op: 'room.create', name: 'design' })
    await ann.call({ id: 3, op: 'room.join', roomId: room.roomId })
    await ann.call({ id: 4, op: 'message.send', roomId: room.roomId, text: 'before', clientMsgId: 'a-1' })

    // n1 and n2 are cut off and their Links reset: each dials the other again, and the Hellos wait
    // in the partition.
    cluster.net.partition(n1.address, n2.address)
    cluster.net.breakLinks(n1.address, n2.address)
    await cluster.run(300)
    // n2 dies and comes back (a new incarnation); n1's dial to the old one is still in its handshake.
    cluster.crash(n2)
    await cluster.run(100)
    n2 = await cluster.restart(n2)
    cluster.net.unpartition(n1.address, n2.address)
    await cluster.run(300)

    const linkUp = async (from: typeof n1, to: string) => {
      const c = await cluster!.client(from, `probe-${from.name}`)
      return (await c.call({ id: 9, op: 'node.stats' })).links.find((l) => l.name === to)?.up
    }
    // What the test is about: n2 can write to n1, n1 cannot yet write to n2.
    expect(await linkUp(n2, 'n1')).toBe(true)
    expect(await linkUp(n1, 'n2')).toBe(false)

    const bob = await cluster.client(n2, 'bob')
    const joining = n2.gateway.request(bob.session, { id: 20, op: 'room.join', roomId: room.roomId })
    await cluster.run(50)
    // n1 has answered the join (held: no Link to n2), then orders three messages; the room is then quiet.
    for (let k = 2; k <= 4; k++) await ann.call({ id: 20 + k, op: 'message.send', roomId: room.roomId, text: `after ${k}`, clientMsgId: `a-${k}` })
    expect(await linkUp(n1, 'n2')).toBe(false)

    const r = await cluster.settle(joining)
    if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`)
    await cluster.run(5000)
    const joined = r.result as { lastSeq: number; history: { seq: number }[] }
    const shown = [...joined.history.map((m) => m.seq), ...TestCluster.seqs(bob, room.roomId)]
    // Before the fix the answer (lastSeq 1) went out alone when n1's Link came up, and the Delivers
    // of seqs 2–4, written while it was held, had been dropped: bob saw seq 1 only.
    expect(shown).toEqual([1, 2, 3, 4])
  })
})
