/**
 * Node-level scenarios on the virtual clock and the in-memory network (test/node/node-harness.ts):
 * the real node code, with time and the network under the test's control, so each scenario runs in
 * milliseconds and always takes the same path.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { TestCluster, TIMING } from './node-harness'

let cluster: TestCluster | undefined
afterEach(() => {
  cluster?.stopAll()
  cluster = undefined
})

describe('node on a virtual clock and the in-memory network', () => {
  it('three nodes find each other and every node lists every lobby', async () => {
    cluster = new TestCluster()
    await cluster.start(3)
    for (const n of cluster.nodes) {
      const c = await cluster.client(n, `user-${n.name}`)
      const { rooms } = await c.call({ id: 2, op: 'rooms.list' })
      expect(rooms.map((r) => r.name).sort()).toEqual(['n1 lobby', 'n2 lobby', 'n3 lobby'])
      expect(rooms.every((r) => r.available)).toBe(true)
      const { peers } = await c.call({ id: 3, op: 'peers.list' })
      expect(peers.map((p) => `${p.name}:${p.state}`).sort()).toEqual(cluster.nodes.filter((m) => m !== n).map((m) => `${m.name}:alive`))
    }
  })

  it('a message sent on one node reaches a member on another, in seq order, with the sender’s FIFO', async () => {
    cluster = new TestCluster()
    await cluster.start(3)
    const [n1, n2, n3] = cluster.nodes
    const bob = await cluster.client(n2, 'bob')
    const carol = await cluster.client(n3, 'carol')
    const lobby = (await bob.call({ id: 2, op: 'rooms.list' })).rooms.find((r) => r.name === 'n1 lobby')!
    await bob.call({ id: 3, op: 'room.join', roomId: lobby.roomId })
    await carol.call({ id: 4, op: 'room.join', roomId: lobby.roomId })
    // Pipelined: all three leave before any answer; the administrator (n1) numbers them in order.
    const sends = [1, 2, 3].map((k) => n2.gateway.request(bob.session, { id: 10 + k, op: 'message.send', roomId: lobby.roomId, text: `hi ${k}`, clientMsgId: `b-${k}` }))
    const replies = await cluster.settle(Promise.all(sends))
    expect(replies.map((r) => (r.ok ? (r.result as { seq: number }).seq : r.error.code))).toEqual([1, 2, 3])
    await cluster.run(100)
    expect(TestCluster.seqs(carol, lobby.roomId)).toEqual([1, 2, 3])
    expect(TestCluster.seqs(bob, lobby.roomId)).toEqual([1, 2, 3])
    expect(n1.disk.logs.get(lobby.roomId)?.messages.map((m) => m.text)).toEqual(['hi 1', 'hi 2', 'hi 3'])
  })

  // docs/replication.md, "Delivery from the replicas": a member node that holds a replica of the
  // room delivers from its own copy at the commit point; a node of an older release (peer protocol
  // 1) still gets each message in a Deliver. Either way every member sees every message, in order.
  for (const old of [undefined, 'n3']) {
    it(`replica member nodes deliver from their copy, not from a second Deliver${old ? ` (${old} speaks the older protocol)` : ''}`, async () => {
      const delivered: string[] = []
      // docs/replication.md, "Commit notices": appends, those of them that want no answer, answers.
      const wire = { appends: 0, notices: 0, replies: 0, refusals: 0 }
      cluster = new TestCluster({
        tamper: (m) => {
          if ('deliver' in m) for (const x of m.deliver.messages) delivered.push(x.text)
          if ('roomAppend' in m) {
            wire.appends++
            if (m.roomAppend.noReply) wire.notices++
          }
          if ('roomAppendReply' in m) wire[m.roomAppendReply.ok ? 'replies' : 'refusals']++
          return m
        },
      })
      if (old) cluster.peerProtocols[old] = 1
      await cluster.start(3)
      const [n1, n2, n3] = cluster.nodes
      const bob = await cluster.client(n2, 'bob')
      const carol = await cluster.client(n3, 'carol')
      const lobby = (await bob.call({ id: 2, op: 'rooms.list' })).rooms.find((r) => r.name === 'n1 lobby')!
      expect(lobby.replicas).toHaveLength(3)
      await bob.call({ id: 3, op: 'room.join', roomId: lobby.roomId })
      await carol.call({ id: 4, op: 'room.join', roomId: lobby.roomId })
      const sends = [1, 2, 3, 4, 5].map((k) => n2.gateway.request(bob.session, { id: 10 + k, op: 'message.send', roomId: lobby.roomId, text: `hi ${k}`, clientMsgId: `b-${k}` }))
      const replies = await cluster.settle(Promise.all(sends))
      expect(replies.map((r) => (r.ok ? (r.result as { seq: number }).seq : r.error.code))).toEqual([1, 2, 3, 4, 5])
      await cluster.run(100)
      expect(TestCluster.seqs(carol, lobby.roomId)).toEqual([1, 2, 3, 4, 5])
      expect(TestCluster.seqs(bob, lobby.roomId)).toEqual([1, 2, 3, 4, 5])
      // Only the older node is sent Deliver (each message once).
      expect(delivered.sort()).toEqual(old ? ['hi 1', 'hi 2', 'hi 3', 'hi 4', 'hi 5'] : [])
      // The replica member nodes were told commit points that want no answer, and every other
      // append was answered once: nothing the administrator waited for went unanswered.
      expect(wire.notices).toBeGreaterThan(0)
      expect(wire.refusals).toBe(0)
      expect(wire.replies).toBe(wire.appends - wire.notices)
      expect(n1.disk.logs.get(lobby.roomId)?.messages.map((m) => m.text)).toEqual(['hi 1', 'hi 2', 'hi 3', 'hi 4', 'hi 5'])
    })
  }

  it('an administrator killed and restarted from its data dir keeps its room and continues its seqs', async () => {
    cluster = new TestCluster()
    // Unreplicated rooms: with replicas, another node would take the room over (docs/replication.md).
    cluster.replicas = 1
    await cluster.start(3)
    const [n1, n2] = cluster.nodes
    const bob = await cluster.client(n2, 'bob')
    const lobby = (await bob.call({ id: 2, op: 'rooms.list' })).rooms.find((r) => r.name === 'n1 lobby')!
    await bob.call({ id: 3, op: 'room.join', roomId: lobby.roomId })
    for (let k = 1; k <= 3; k++) await bob.call({ id: 10 + k, op: 'message.send', roomId: lobby.roomId, text: `before ${k}`, clientMsgId: `b-${k}` })
    cluster.crash(n1)
    await cluster.run(TIMING.deadMs + 500)
    const down = (await bob.call({ id: 20, op: 'rooms.list' })).rooms.find((r) => r.roomId === lobby.roomId)!
    expect(down.available).toBe(false)
    await expect(bob.call({ id: 21, op: 'message.send', roomId: lobby.roomId, text: 'while down', clientMsgId: 'b-x' })).rejects.toMatchObject({ code: 'room_unavailable' })
    await cluster.restart(n1)
    await cluster.run(3000)
    const { seq } = await bob.call({ id: 22, op: 'message.send', roomId: lobby.roomId, text: 'after', clientMsgId: 'b-4' })
    expect(seq).toBe(4)
    await cluster.run(200)
    expect(TestCluster.seqs(bob, lobby.roomId)).toEqual([1, 2, 3, 4])
  })

  it('a member cut off by a partition gets what it missed, gap-free, once the partition heals', async () => {
    cluster = new TestCluster()
    await cluster.start(3)
    const [n1, n2, n3] = cluster.nodes
    const ann = await cluster.client(n1, 'ann')
    const carol = await cluster.client(n3, 'carol')
    const lobby = (await ann.call({ id: 2, op: 'rooms.list' })).rooms.find((r) => r.name === 'n2 lobby')!
    await ann.call({ id: 3, op: 'room.join', roomId: lobby.roomId })
    await carol.call({ id: 4, op: 'room.join', roomId: lobby.roomId })
    cluster.net.partition(n3.address, n2.address)
    cluster.net.partition(n3.address, n1.address)
    for (let k = 1; k <= 5; k++) await ann.call({ id: 10 + k, op: 'message.send', roomId: lobby.roomId, text: `m${k}`, clientMsgId: `a-${k}` })
    await cluster.run(TIMING.deadMs * 2)
    expect(TestCluster.seqs(carol, lobby.roomId)).toEqual([])
    cluster.net.heal()
    await cluster.run(5000)
    expect(TestCluster.seqs(carol, lobby.roomId)).toEqual([1, 2, 3, 4, 5])
    expect(TestCluster.seqs(ann, lobby.roomId)).toEqual([1, 2, 3, 4, 5])
  })
})
