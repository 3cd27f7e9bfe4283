/**
 * A node that is only a member of a replicated room, cut off while every replica it knew was
 * replaced by repair and the room was taken over by one of the new replicas (docs/replication.md,
 * "Repair"; docs/security.md, "Authority of peer messages"): the new administrator's own entry names
 * nodes it never saw in the room's set, so it is refused; a replica it knew vouches for the entry,
 * although the new set no longer names that replica. Real nodes on the virtual clock and the
 * in-memory network (test/node/node-harness.ts), `--repair-ms 2000`.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { TestCluster, messageTexts as texts, nodeId as id, replicaSet as setOf, type TestNode } from './node-harness'

let cluster: TestCluster | undefined
afterEach(() => {
  cluster?.stopAll()
  cluster = undefined
})

describe('a member node that missed the replacement of every replica it knew', () => {
  it('follows the new administrator once a replica it knew, removed since, relays its entry', async () => {
    cluster = await TestCluster.replicated(7, 3, { repairMs: 2000 })
    const [n1, n2, n3, n4, n5, n6, n7] = cluster.nodes
    const others = (n: TestNode) => cluster!.nodes.filter((o) => o !== n)
    const alice = await cluster.client(n1, 'alice')
    const dave = await cluster.client(n4, 'dave')
    const mia = await cluster.client(n6, 'mia')
    const { room } = await alice.call({ id: 2, op: 'room.create', name: 'design' })
    await cluster.run(1000)
    expect(room.replicas).toEqual([n1, n2, n3].map(id))
    for (const c of [alice, dave, mia]) await c.call({ id: 3, op: 'room.join', roomId: room.roomId })
    await dave.call({ id: 4, op: 'message.send', roomId: room.roomId, text: 'before', clientMsgId: 'd-1' })
    await cluster.run(500)
    expect(texts(mia, room.roomId)).toEqual(['before'])

    // mia's node n6 (a member node only) is cut off for all of what follows. n3, then n2 are cut off
    // and replaced (by n4, n5); then n1 is, and n4 and n5 elect one of them, which replaces n1 by n7.
    // The set is full from then on: n1, n2, n3 are not added again when they come back.
    cluster.cut(n6, ...others(n6))
    cluster.cut(n3, ...others(n3))
    await cluster.run(7000)
    expect(setOf(n1, room.roomId)).toEqual([n1, n2, n4].map(id))
    cluster.cut(n2, ...others(n2))
    await cluster.run(7000)
    expect(setOf(n1, room.roomId)).toEqual([n1, n4, n5].map(id))
    cluster.cut(n1, ...others(n1))
    await cluster.run(9000)
    const admin = [n4, n5].find((n) => n.node.replicaStates().get(room.roomId)?.role === 'leader')!
    expect(admin).toBeDefined()
    expect(setOf(admin, room.roomId)?.slice().sort()).toEqual([n4, n5, n7].map(id).sort())

    // n1, n2, n3 come back (not yet n6): n1 and n2 learn that they were removed and take the new
    // administrator's entry. Then n6 comes back: it knows the room as run by n1 with n2 and n3.
    for (const a of [n1, n2, n3]) for (const b of [n1, n2, n3, n4, n5, n7]) if (a !== b) cluster.net.unpartition(a.address, b.address)
    await cluster.run(5000)
    // (n3 was removed by n1, which runs the room no more, and its fellow replicas n1 and n2 let
    // theirs go too: nobody tells it, and it keeps its copy. It is not what this test is about.)
    for (const n of [n1, n2]) expect(n.node.replicaStates().has(room.roomId), `${n.name} still holds a replica`).toBe(false)
    cluster.net.heal()
    await cluster.run(10_000)
    await dave.call({ id: 5, op: 'message.send', roomId: room.roomId, text: 'after heal', clientMsgId: 'd-2' })
    await cluster.run(2000)

    // mia sees who runs the room now, and its messages.
    const { rooms } = await mia.call({ id: 6, op: 'rooms.list' })
    expect(rooms.find((r) => r.roomId === room.roomId)?.adminNodeName).toBe(admin.name)
    expect(mia.events).toContainEqual(expect.objectContaining({ event: 'room.admin_changed', roomId: room.roomId, adminNodeName: admin.name }))
    expect(texts(mia, room.roomId)).toContain('after heal')
  })
})
