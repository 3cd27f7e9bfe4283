/**
 * A deposed administrator must not speak for its room again (docs/replication.md, "Repair"): its
 * node still holds the room it ran until the step that deposed it has carried out its effects, and
 * a change of the room in that window (a member's leave, a member node's death) republished the
 * room's directory entry as its own: in its successor's term, or as an unreplicated room once its
 * replica was dropped. Its directory then named itself for good, and its own users could neither
 * receive nor send. Real nodes on the virtual clock and the in-memory network
 * (test/node/node-harness.ts); the windows are built with the network's held frames: everything a
 * partition held back reaches the node in one turn when it lifts.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { TestCluster, listedRoom, messageTexts as texts, nodeId, replicaSet } from './node-harness'

let cluster: TestCluster | undefined
afterEach(() => {
  cluster?.stopAll()
  cluster = undefined
})

const adminSeenBy = listedRoom

/**
 * Four nodes and a room "design" made on n1, its log on n1, n2, n3 (carol's node n4 a member node
 * only), one message in it; then the partition {n1, n4} | {n2, n3}, run for `cutMs`.
 */
async function designRoomCutOff(cutMs: number, options?: { repairMs: number }) {
  cluster = options ? await TestCluster.replicated(4, 3, options) : await TestCluster.replicated(4)
  const [n1, n2, n3, n4] = cluster.nodes
  const alice = await cluster.client(n1, 'alice')
  const bob = await cluster.client(n2, 'bob')
  const carol = await cluster.client(n4, 'carol')
  const { room } = await alice.call({ id: 2, op: 'room.create', name: 'design' })
  await cluster.run(1000)
  expect(room.replicas).toEqual([n1, n2, n3].map(nodeId))
  for (const c of [alice, bob, carol]) await c.call({ id: 3, op: 'room.join', roomId: room.roomId })
  await bob.call({ id: 4, op: 'message.send', roomId: room.roomId, text: 'before', clientMsgId: 'b-1' })
  await cluster.run(500)
  for (const a of [n1, n4]) for (const b of [n2, n3]) cluster.net.partition(a.address, b.address)
  await cluster.run(cutMs)
  return { cluster, n1, n4, alice, bob, carol, room }
}

describe('a deposed administrator does not republish its room', () => {
  it('a leave it takes in the turn it learns of its successor: its directory and its users follow the successor', async () => {
    // The partition {n1, n4} | {n2, n3}: n2 and n3 elect n1's successor; n1 and carol's node n4
    // hear nothing of it.
    const { cluster, n1, n4, alice, bob, carol, room } = await designRoomCutOff(6000)
    const successor = (await adminSeenBy(bob, room.roomId))!
    expect(successor.adminNodeName).not.toBe('n1')
    expect(successor.term).toBe(2)
    // n1 stops reading for a moment (everything sent to it waits); carol leaves, through n1 as her
    // node still knows it; the partition heals. When n1 reads again, it gets in one turn the
    // successor's appends (it steps down, in term 2) and then carol's leave, before that step has
    // let the room go here (the network pumps the links to n1 in the order they were opened: n2's
    // and n3's before n4's).
    cluster.net.pause(n1.address)
    const leaving = n4.gateway.request(carol.session, { id: 5, op: 'room.leave', roomId: room.roomId })
    await cluster.run(10)
    cluster.net.heal()
    await cluster.run(300)
    cluster.net.resume(n1.address)
    await cluster.run(5000)
    const left = await cluster.settle(leaving)
    expect(left.ok).toBe(true)

    // n1's own directory names the successor, in its term; not n1.
    expect(await adminSeenBy(alice, room.roomId)).toMatchObject({ adminNodeName: successor.adminNodeName, term: 2 })
    // Alice, on n1, gets what is sent from now on, and her own sends are committed by the successor.
    await bob.call({ id: 6, op: 'message.send', roomId: room.roomId, text: 'after heal', clientMsgId: 'b-2' })
    await alice.call({ id: 7, op: 'message.send', roomId: room.roomId, text: 'alice is back', clientMsgId: 'a-1' })
    await cluster.run(1000)
    expect(texts(alice, room.roomId)).toEqual(expect.arrayContaining(['after heal', 'alice is back']))
    expect(texts(bob, room.roomId)).toEqual(['before', 'after heal', 'alice is back'])
  })

  it('removed by repair while cut off, told so in the turn it learns of its successor: it lets the room go, and publishes nothing when the room changes', async () => {
    // {n1, n4} | {n2, n3}: n2 and n3 elect n1's successor, which removes n1 from the set once it
    // has been dead for --repair-ms (no live spare on its side: the set stays at two).
    const { cluster, n1, n4, alice, bob, room } = await designRoomCutOff(8000, { repairMs: 2000 })
    const successor = (await adminSeenBy(bob, room.roomId))!
    expect(successor.adminNodeName).not.toBe('n1')
    expect(successor.term).toBe(2)
    const holder = cluster.nodes.find((n) => n.name === successor.adminNodeName)!
    expect(replicaSet(holder, room.roomId)).not.toContain(nodeId(n1))

    // n1 stops reading for a moment and the partition heals: the successor hears n1 again and tells
    // it the room state that removed it, while n1, still the administrator of term 1 here, hears
    // nothing. When n1 reads again it learns in one turn that it was deposed and removed.
    cluster.net.pause(n1.address)
    cluster.net.heal()
    await cluster.run(600)
    cluster.net.resume(n1.address)
    await cluster.run(2000)
    expect(n1.node.replicaStates().has(room.roomId)).toBe(false)

    // carol's node dies: n1 had her as a member of the room it ran. Its directory must still name
    // the successor, and alice's sends must go to it. (Had n1 kept the room, the change would
    // publish it as n1's unreplicated room: n1's rooms.list then names n1, term 0, and alice's send
    // fails with `internal`, its log gone with the replica.)
    cluster.crash(n4)
    await cluster.run(3000)
    const seen = await adminSeenBy(alice, room.roomId)
    expect(seen).toMatchObject({ adminNodeName: successor.adminNodeName, term: 2 })
    await alice.call({ id: 5, op: 'message.send', roomId: room.roomId, text: 'alice is back', clientMsgId: 'a-1' })
    await cluster.run(1000)
    expect(texts(bob, room.roomId)).toEqual(['before', 'alice is back'])
  })
})
