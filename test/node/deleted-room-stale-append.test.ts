/**
 * A deleted replicated room stays deleted (docs/replication.md, "Membership and deletion"): an
 * append its deposed administrator sent before it heard of the deletion, held back by a partition,
 * reaches the replicas that dropped the room after it was deleted. Taken as a first append (the room
 * state in it names them), it made them replicas again with empty logs; when that administrator
 * died they elected each other and the deleted room was listed and run again, without its messages.
 * Real nodes on the virtual clock and the in-memory network (test/node/node-harness.ts).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { TestCluster, creatorRestarted, listedRoom as listed } from './node-harness'

let cluster: TestCluster | undefined
afterEach(() => {
  cluster?.stopAll()
  cluster = undefined
})

describe('a stale append for a deleted room', () => {
  it('makes no replica: the room is never listed or run again', async () => {
    cluster = await TestCluster.replicated(3)
    const alice = await cluster.client(cluster.nodes[0], 'alice')
    const { room } = await alice.call({ id: 2, op: 'room.create', name: 'doomed' })
    await cluster.run(1000)
    expect(room.replicas).toHaveLength(3)
    await alice.call({ id: 3, op: 'room.join', roomId: room.roomId })
    await alice.call({ id: 4, op: 'message.send', roomId: room.roomId, text: 'hello', clientMsgId: 'a-1' })
    await cluster.run(500)

    // The creator's node n1 dies and comes back: another replica (x) runs the room in term 2, n1
    // follows it. Only alice on n1 may delete the room.
    const { n1, client: alice2, x, y } = await creatorRestarted(cluster, cluster.nodes[0], 'alice', room.roomId)
    const bob = await cluster.client(y, 'bob')

    // x is cut off. A user of x joins the room there: x changes the room state and sends it to n1
    // and y in an append of term 2, which the partition holds back.
    for (const n of [n1, y]) cluster.net.partition(x.address, n.address)
    const carol = await cluster.client(x, 'carol')
    void x.gateway.request(carol.session, { id: 5, op: 'room.join', roomId: room.roomId })
    await cluster.run(5000)
    // n1 and y elect one of them (term 3); alice deletes the room there.
    expect((await listed(alice2, room.roomId))!.term).toBe(3)
    expect(await alice2.call({ id: 6, op: 'room.delete', roomId: room.roomId })).toMatchObject({ outcome: 'committed' })
    await cluster.run(500)
    for (const c of [alice2, bob]) expect(await listed(c, room.roomId)).toBeUndefined()
    for (const n of [n1, y]) expect(n.node.replicaStates().has(room.roomId)).toBe(false)
    const seen = new Map([alice2, bob].map((c) => [c, c.events.length]))

    // Healed: x's held append reaches n1 and y (and x learns of the deletion). Then x dies.
    cluster.net.heal()
    await cluster.run(2000)
    for (const n of [n1, y]) expect(n.node.replicaStates().has(room.roomId), `${n.name} holds a replica of the deleted room`).toBe(false)
    cluster.crash(x)
    await cluster.run(10_000)

    // Nobody runs the deleted room again: not listed, no takeover shown, a join finds nothing.
    for (const c of [alice2, bob]) {
      expect(await listed(c, room.roomId)).toBeUndefined()
      expect(c.events.slice(seen.get(c)).filter((e) => 'roomId' in e && e.roomId === room.roomId)).toEqual([])
      await expect(c.call({ id: 7, op: 'room.join', roomId: room.roomId })).rejects.toMatchObject({ code: 'not_found' })
    }
    for (const n of [n1, y]) expect(n.node.replicaStates().has(room.roomId)).toBe(false)
  })
})
