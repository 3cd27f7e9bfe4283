/**
 * A replica cut off through several repairs and added again by an administrator it never knew
 * (docs/replication.md, "Repair"): every replica it knew was removed meanwhile and let its copy go,
 * so none of them could tell it the set it now belongs to; it refused the new administrator's
 * appends and directory entry as a stranger's, for good, and its users got nothing more of the
 * room. A node removed by repair now answers such a node's vote request with the room state that
 * removed it, when that state names the candidate; the state is on its disk, so a restart between
 * the removal and the request does not lose it. Since, a replica it knew also vouches for the new
 * administrator's entry in its Hello although replaced itself (docs/replication.md, "Repair"): the
 * first case fails with neither (the code before both), passes with the answer alone, and with the
 * vouching alone only when the Hellos come after the replaced replicas took the new entry (not on
 * seed 5); the second passes only with the answer from disk (their Hellos carry no entry of it). Real nodes on the
 * virtual clock and the in-memory network (test/node/node-harness.ts), `--repair-ms 2000`.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { TestCluster, messageTexts as texts, nodeId as id, replicaSet as setOf, type TestNode } from './node-harness'

let cluster: TestCluster | undefined
afterEach(() => {
  cluster?.stopAll()
  cluster = undefined
})

describe('a replica cut off through several repairs', () => {
  it('learns the set it was added back to from a replica it knew, and its users get the room again', () => cutOffThroughRepairs(false))

  it('also when the replicas it knew restarted after they let the room go (the room state that removed them is on their disk)', () => cutOffThroughRepairs(true))
})

async function cutOffThroughRepairs(restartRemoved: boolean): Promise<void> {
  cluster = await TestCluster.replicated(5, 3, { repairMs: 2000 })
  let [n1, n2] = cluster.nodes
  const [, , n3, n4, n5] = cluster.nodes
  const alice = await cluster.client(n1, 'alice')
  const bob = await cluster.client(n3, 'bob')
  const dave = await cluster.client(n4, 'dave')
  const { room } = await alice.call({ id: 2, op: 'room.create', name: 'design' })
  await cluster.run(1000)
  expect(room.replicas).toEqual([n1, n2, n3].map(id))
  for (const c of [alice, bob, dave]) await c.call({ id: 3, op: 'room.join', roomId: room.roomId })
  await dave.call({ id: 4, op: 'message.send', roomId: room.roomId, text: 'before', clientMsgId: 'd-1' })
  await cluster.run(500)
  expect(texts(bob, room.roomId)).toEqual(['before'])

  /** Let virtual time pass until `done` (deterministic: the clock moves only here). */
  const until = async (done: () => boolean, maxMs: number) => {
    for (let t = 0; t < maxMs && !done(); t += 100) await cluster!.run(100)
  }
  const same = (a: string[] | undefined, b: TestNode[]) => JSON.stringify(a ? [...a].sort() : a) === JSON.stringify(b.map(id).sort())

  // n3 is cut off from n1 and n2 (not from n4 and n5, which hold no replica of the room yet):
  // n1 replaces it by n4.
  cluster.cut(n3, n1, n2)
  const linkLogs = cluster.logs.length
  await until(() => same(setOf(n1, room.roomId), [n1, n2, n4]), 10_000)
  expect(setOf(n1, room.roomId)).toEqual([n1, n2, n4].map(id))
  // n2 is cut off from everyone: n1 replaces it by n5.
  cluster.cut(n2, n1, n4, n5)
  await until(() => same(setOf(n1, room.roomId), [n1, n4, n5]), 10_000)
  expect(setOf(n1, room.roomId)).toEqual([n1, n4, n5].map(id))
  // n1 is cut off from everyone: n4 and n5 elect one of them, which removes n1 and adds the only
  // live node left, n3, which it can reach. n3 still knows the set as n1, n2, n3: it refuses the
  // appends of an administrator it never saw in the set.
  cluster.cut(n1, n4, n5)
  const leader = () => [n4, n5].find((n) => n.node.replicaStates().get(room.roomId)?.role === 'leader')
  await until(() => same(setOf(leader() ?? n4, room.roomId), [n3, n4, n5]), 10_000)
  const admin = leader()!
  expect(admin).toBeDefined()
  expect(setOf(admin, room.roomId)?.slice().sort()).toEqual([n3, n4, n5].map(id).sort())
  expect(setOf(n3, room.roomId)).toEqual([n1, n2, n3].map(id))

  // n1 and n2 come back for n4 and n5 (not yet for n3): each learns that it was removed, from
  // the room state that now names n3, and lets its copy go.
  for (const a of [n1, n2]) for (const b of [n4, n5]) cluster.net.unpartition(a.address, b.address)
  cluster.net.unpartition(n1.address, n2.address)
  await until(() => !n1.node.replicaStates().has(room.roomId) && !n2.node.replicaStates().has(room.roomId), 5000)
  for (const n of [n1, n2]) expect(n.node.replicaStates().has(room.roomId), `${n.name} still holds a replica`).toBe(false)
  if (restartRemoved) {
    // Both are cut off from n4 and n5 again and restart: all they know of the room is on their
    // disk. Then n3 reaches them (a new link: their Hellos carry no entry of the room, so only
    // their answer to its vote requests can tell it anything), and only after that everyone else.
    for (const a of [n1, n2]) cluster.cut(a, n4, n5)
    for (const n of [n1, n2]) cluster.crash(n)
    await cluster.run(500)
    n1 = await cluster.restart(n1)
    n2 = await cluster.restart(n2)
    await cluster.run(2000)
    for (const n of [n1, n2]) expect(n.node.replicaStates().has(room.roomId)).toBe(false)
    for (const a of [n1, n2]) cluster.net.unpartition(a.address, n3.address)
    await until(() => same(setOf(n3, room.roomId), [n3, n4, n5]), 10_000)
  } else {
    // As in the simulator's schedule, the partition outlasts the links' keepalive: the links
    // between n3 and n1, n2 break, losing what they held (n1's own entries of the sets it made).
    await cluster.run(20_000)
    expect(cluster.logs.slice(linkLogs).filter((l) => /n1: link to n3 .*keepalive/.test(l))).not.toEqual([])
  }

  // Healed.
  const mk = cluster.logs.length
  cluster.net.heal()
  await cluster.run(10_000)
  console.log(cluster.logs.slice(mk).filter((l) => / n3: /.test(l) || /design/.test(l)).slice(0, 60).join('\n'))
  await dave.call({ id: 5, op: 'message.send', roomId: room.roomId, text: 'after heal', clientMsgId: 'd-2' })
  await cluster.run(3000)

  // bob, on n3, gets the room's messages again and sees who runs it (one of the new set: n3's
  // term grew while it stood, so the administrator stands once more, and either may win); n3 is
  // a replica of the set it was added to and holds every acknowledged message.
  expect(texts(bob, room.roomId)).toContain('after heal')
  const { rooms } = await bob.call({ id: 6, op: 'rooms.list' })
  expect(rooms.find((r) => r.roomId === room.roomId)?.adminNodeName).toMatch(/^n[345]$/)
  expect(setOf(n3, room.roomId)?.slice().sort()).toEqual([n3, n4, n5].map(id).sort())
  expect(n3.disk.logs.get(room.roomId)?.messages.map((m) => m.text)).toEqual(expect.arrayContaining(['before', 'after heal']))
}
