/**
 * docs/benchmarks.md, "One write per turn of the event loop": the administrator of a replicated
 * room writes what it ordered in one turn of the event loop with one write of its log, and sends it
 * as one append per replica, also when the sends came in separate callbacks of that turn (frames
 * from two member nodes that arrived together). On the real clock a turn ends with setImmediate
 * (Clock.afterIo); the simulator's clock has no afterIo, and a turn is one callback there. Real
 * nodes on the virtual clock and the in-memory network (test/node/node-harness.ts), n1's message
 * log behind a counter.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { TestCluster, beforeEntryWrites } from './node-harness'

let cluster: TestCluster | undefined
afterEach(() => {
  cluster?.stopAll()
  cluster = undefined
})

/** Two member nodes' sends reaching the administrator at the same instant: n1's log writes, by their entry counts. */
async function writesOfTwoForwards(afterIo: boolean): Promise<{ writes: number[]; appendsWithEntries: number; seqs: number[] }> {
  const writes: number[] = []
  let counting = false
  let appendsWithEntries = 0
  cluster = new TestCluster({
    tamper: (m) => {
      if (counting && 'roomAppend' in m && m.roomAppend.entries.length > 0) appendsWithEntries++
      return m
    },
  })
  cluster.afterIo = afterIo
  cluster.wrapMessages = (name, log) =>
    name !== 'n1' ? log : beforeEntryWrites(log, (entries) => {
      if (counting) writes.push(entries.length)
    })
  await cluster.start(3)
  const [n1, n2, n3] = cluster.nodes
  const alice = await cluster.client(n1, 'alice')
  const bob = await cluster.client(n2, 'bob')
  const carol = await cluster.client(n3, 'carol')
  const lobby = (await alice.call({ id: 2, op: 'rooms.list' })).rooms.find((r) => r.name === 'n1 lobby')!
  expect(lobby.replicas).toHaveLength(3)
  for (const c of [alice, bob, carol]) await c.call({ id: 3, op: 'room.join', roomId: lobby.roomId })
  await cluster.run(100)
  counting = true
  // Sent at the same virtual instant on two nodes: their forwards reach n1 together (1 ms links),
  // in two deliveries of the network.
  const b = n2.gateway.request(bob.session, { id: 10, op: 'message.send', roomId: lobby.roomId, text: 'from bob', clientMsgId: 'b-1' })
  const c = n3.gateway.request(carol.session, { id: 11, op: 'message.send', roomId: lobby.roomId, text: 'from carol', clientMsgId: 'c-1' })
  const replies = await cluster.settle(Promise.all([b, c]))
  await cluster.run(100)
  counting = false
  expect(replies.every((r) => r.ok)).toBe(true)
  return { writes, appendsWithEntries, seqs: TestCluster.seqs(alice, lobby.roomId) }
}

describe('the administrator given two forwarded sends in one turn', () => {
  it('writes both with one write and sends them as one append per replica (a callback at a time without afterIo)', async () => {
    const together = await writesOfTwoForwards(true)
    expect(together.writes).toEqual([2])
    expect(together.appendsWithEntries).toBe(2)
    expect(together.seqs).toEqual([1, 2])
    cluster?.stopAll()

    const apart = await writesOfTwoForwards(false)
    expect(apart.writes).toEqual([1, 1])
    expect(apart.appendsWithEntries).toBe(4)
    expect(apart.seqs).toEqual([1, 2])
  })
})
