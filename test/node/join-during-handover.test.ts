/**
 * A join answered by an administrator that hands its room over while the answer is on its way
 * (docs/ordering.md §4, docs/replication.md "Graceful handover"): the member node already follows
 * the new administrator and has delivered messages it committed, so the old answer is behind the
 * live stream. The client must still get a history that ends where its live stream starts. Real
 * nodes on the virtual clock and the in-memory network (test/node/node-harness.ts).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { TestCluster } from './node-harness'

let cluster: TestCluster | undefined
afterEach(() => {
  cluster?.stopAll()
  cluster = undefined
})

describe('a join during a handover', () => {
  it('answered late by the old administrator: the history meets the live stream of the new one', async () => {
    cluster = await TestCluster.replicated(3)
    const [n1, n2, n3] = cluster.nodes
    const ann = await cluster.client(n1, 'ann')
    const bob = await cluster.client(n2, 'bob')
    const dave = await cluster.client(n3, 'dave')
    const { room } = await ann.call({ id: 2, op: 'room.create', name: 'design' })
    await cluster.run(1000)
    expect(room.replicas?.length).toBe(3)
    for (const c of [ann, bob, dave]) await c.call({ id: 3, op: 'room.join', roomId: room.roomId })
    for (let k = 1; k <= 2; k++) await ann.call({ id: 10 + k, op: 'message.send', roomId: room.roomId, text: `before ${k}`, clientMsgId: `a-${k}` })
    await cluster.run(200)

    // From here the old administrator's frames to n2 are slow: seq 3 is committed with n3 alone,
    // and n1's answer to carol (on n2), sent once her join is on a majority, is on its way for a while.
    cluster.net.setDelay(n1.address, n2.address, 800)
    await ann.call({ id: 13, op: 'message.send', roomId: room.roomId, text: 'before 3', clientMsgId: 'a-3' })
    const carol = await cluster.client(n2, 'carol')
    const joining = n2.gateway.request(carol.session, { id: 20, op: 'room.join', roomId: room.roomId })
    await cluster.run(100)
    // n1 leaves gracefully: it hands the room to its most up-to-date replica, n3 (n2 lacks seq 3),
    // then says goodbye on links it drains for a while.
    const stopping = n1.node.stop()
    const adminOf = async () => (await dave.call({ id: 21, op: 'rooms.list' })).rooms.find((x) => x.roomId === room.roomId)?.adminNodeName
    for (let t = 0; t < 1000 && (await adminOf()) === 'n1'; t += 10) await cluster.run(10)
    expect(await adminOf()).toBe('n3')
    // The new administrator commits two messages; n2 delivers them before n1's answer arrives.
    for (let k = 1; k <= 2; k++) await dave.call({ id: 30 + k, op: 'message.send', roomId: room.roomId, text: `after ${k}`, clientMsgId: `d-${k}` })
    await cluster.run(50)
    expect(TestCluster.seqs(bob, room.roomId)).toEqual([1, 2, 3, 4, 5])
    await cluster.settle(stopping)

    const r = await cluster.settle(joining)
    if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`)
    const joined = r.result as { lastSeq: number; history: { seq: number }[] }
    // Without the second ask, the history of n1's late answer ended at 3 while lastSeq was 5.
    expect(joined.history.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5])
    expect(joined.lastSeq).toBe(5)
    await dave.call({ id: 40, op: 'message.send', roomId: room.roomId, text: 'after 3', clientMsgId: 'd-3' })
    await cluster.run(200)
    expect(TestCluster.seqs(carol, room.roomId)).toEqual([6])
  })
})
