/**
 * A replicated room's state (members, replica set, a deletion's decision) counts as held by a
 * replica once that replica answers with its version, and at once on the administrator itself
 * (docs/replication.md, "Membership and deletion"): so an acknowledged join or leave must be on the
 * disk of a majority of the replicas when the client hears it, or an administrator killed right
 * after it and elected again with a voter that lacks it brings the member back (simulation seed 56).
 * Real nodes on the virtual clock and the in-memory network (test/node/node-harness.ts).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { TestCluster, type TestNode } from './node-harness'

let cluster: TestCluster | undefined
afterEach(() => {
  cluster?.stopAll()
  cluster = undefined
})

/** The members of a room as a node's replication.json holds them (undefined: not on its disk). */
function membersOnDisk(n: TestNode, roomId: string): string[] | undefined {
  const text = n.disk.files.get('replication.json')
  if (!text) return undefined
  const stored = (JSON.parse(text) as Record<string, { meta: { members: { user: string }[] } | null }>)[roomId]
  return stored?.meta?.members.map((m) => m.user).sort()
}

describe('replicated room state on disk', () => {
  it('an acknowledged leave and join are on the disk of a majority of the replicas when the client hears them', async () => {
    cluster = new TestCluster()
    cluster.replicas = 3
    await cluster.start(3)
    const [n1, n2, n3] = cluster.nodes
    const ann = await cluster.client(n1, 'ann')
    const bob = await cluster.client(n2, 'bob')
    const { room } = await ann.call({ id: 2, op: 'room.create', name: 'design' })
    await cluster.run(1000)
    expect(room.replicas?.length).toBe(3)
    await ann.call({ id: 3, op: 'room.join', roomId: room.roomId })
    await bob.call({ id: 4, op: 'room.join', roomId: room.roomId })
    await cluster.run(500)

    // No time passes between the answer and the look at the disks (no save timer can have run).
    await ann.call({ id: 5, op: 'room.leave', roomId: room.roomId })
    const withoutAnn = [n1, n2, n3].filter((n) => {
      const m = membersOnDisk(n, room.roomId)
      return m !== undefined && !m.includes('ann')
    })
    expect(withoutAnn.map((n) => n.name)).toContain('n1')
    expect(withoutAnn.length).toBeGreaterThanOrEqual(2)

    const carol = await cluster.client(n3, 'carol')
    await carol.call({ id: 6, op: 'room.join', roomId: room.roomId })
    const withCarol = [n1, n2, n3].filter((n) => membersOnDisk(n, room.roomId)?.includes('carol'))
    expect(withCarol.length).toBeGreaterThanOrEqual(2)
  })
})
