/**
 * A replica that let a deleted room go still knows it deleted after a restart (docs/deletion.md,
 * "Replicated rooms"). The room's administrator of term 2 is cut off; the other two replicas elect
 * one of them (term 3) and delete the room there. The replica that only heard `RoomRemoved` (no
 * members, not the coordinator: nothing in deletions.json) then restarts. It forgot the deletion and
 * its term with it, took the deposed administrator's append of term 2 as a first append, and the two
 * made a majority of the room's old set: the deleted room was listed and run again (simulator seed
 * 246). Real nodes on the virtual clock and the in-memory network (test/node/node-harness.ts).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { TestCluster, creatorRestarted, listedRoom as listed } from './node-harness'

let cluster: TestCluster | undefined
afterEach(() => {
  cluster?.stopAll()
  cluster = undefined
})

describe('a deleted room at a replica that restarts', () => {
  it('stays deleted: the deposed administrator cannot run it again with that replica', async () => {
    cluster = await TestCluster.replicated(3)
    const alice = await cluster.client(cluster.nodes[0], 'alice')
    // Nobody joins: no node is a participant of the deletion, only its coordinator keeps a record.
    const { room } = await alice.call({ id: 2, op: 'room.create', name: 'doomed' })
    await cluster.run(1000)
    expect(room.replicas).toHaveLength(3)

    // The creator's node n1 dies and comes back: another replica (x) runs the room in term 2.
    const restarted = await creatorRestarted(cluster, cluster.nodes[0], 'alice', room.roomId)
    let n1 = restarted.n1
    let alice2 = restarted.client
    const { x, y } = restarted

    // x is cut off (it goes on administering term 2, unaware); n1 and y elect one of them in term 3,
    // and alice deletes the room there.
    for (const n of [n1, y]) cluster.net.partition(x.address, n.address)
    await cluster.run(5000)
    const third = (await listed(alice2, room.roomId))!
    expect(third.term).toBe(3)
    expect(await alice2.call({ id: 3, op: 'room.delete', roomId: room.roomId })).toMatchObject({ outcome: 'committed' })
    await cluster.run(1000)
    for (const n of [n1, y]) expect(n.node.replicaStates().has(room.roomId)).toBe(false)

    // The replica that did not coordinate the deletion restarts, cut off from the coordinator (which
    // would tell it of the deletion again), x still cut off.
    const coordinator = cluster.nodes.find((n) => n.name === third.adminNodeName)!
    let other = coordinator === n1 ? y : n1
    cluster.net.partition(coordinator.address, other.address)
    cluster.crash(other)
    await cluster.run(2000)
    other = await cluster.restart(other)
    if (other.name === n1.name) n1 = other
    await cluster.run(2000)

    // x reaches it again: x's appends of term 2 name it in the room's set, and the two of them are a
    // majority of that set.
    cluster.net.unpartition(x.address, other.address)
    await cluster.run(5000)
    const bob = await cluster.client(other, 'bob')
    const carol = await cluster.client(x, 'carol')
    expect(await listed(bob, room.roomId), `${other.name} lists the deleted room`).toBeUndefined()
    await expect(bob.call({ id: 4, op: 'room.join', roomId: room.roomId })).rejects.toMatchObject({ code: 'not_found' })
    // x ran the room in its old term: a join there changes the room state, which x sends to its set
    // in an append of term 2. Nothing sent there is acknowledged, and x hears from the restarted
    // replica that the room is gone.
    const join = await cluster.settle(x.gateway.request(carol.session, { id: 5, op: 'room.join', roomId: room.roomId }))
    const send = join.ok ? await cluster.settle(x.gateway.request(carol.session, { id: 6, op: 'message.send', roomId: room.roomId, text: 'into the void', clientMsgId: 'c-1' })) : undefined
    expect(send?.ok ?? false, `a message to the deleted room was acknowledged on ${x.name}`).toBe(false)
    expect(other.node.replicaStates().has(room.roomId), `${other.name} holds a replica of the deleted room again`).toBe(false)
    await cluster.run(2000)
    expect(await listed(carol, room.roomId), `${x.name} still lists the deleted room`).toBeUndefined()

    // Healed: nobody lists it or runs it.
    cluster.net.heal()
    await cluster.run(10_000)
    alice2 = await cluster.client(n1, 'alice')
    for (const c of [alice2, bob, carol]) expect(await listed(c, room.roomId)).toBeUndefined()
    for (const n of cluster.nodes) expect(n.node.replicaStates().has(room.roomId), `${n.name} holds a replica`).toBe(false)
  })
})
