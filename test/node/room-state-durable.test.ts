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

/** The members of a room as a node's disk holds them, in the room's state file (undefined: not on its disk). */
function membersOnDisk(n: TestNode, roomId: string): string[] | undefined {
  const text = n.disk.files.get(`replication-room-${Buffer.from(roomId).toString('base64url')}.json`)
  if (!text) return undefined
  const stored = JSON.parse(text) as { meta: { members: { user: string }[] } | null }
  return stored?.meta?.members.map((m) => m.user).sort()
}

describe('replicated room state on disk', () => {
  it('an acknowledged leave and join are on the disk of a majority of the replicas when the client hears them', async () => {
    cluster = await TestCluster.replicated(3)
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

  it('each room has its own state file, and a join writes only its room’s; a data dir from before (the state inside replication.json) still restores', async () => {
    cluster = await TestCluster.replicated(3)
    const [n1, n2, n3] = cluster.nodes
    const ann = await cluster.client(n1, 'ann')
    const carol = await cluster.client(n3, 'carol')
    const { room: a } = await ann.call({ id: 2, op: 'room.create', name: 'alpha' })
    const { room: b } = await ann.call({ id: 3, op: 'room.create', name: 'beta' })
    await cluster.run(1000)
    const fileOf = (roomId: string) => `replication-room-${Buffer.from(roomId).toString('base64url')}.json`
    const betaBefore = n2.disk.files.get(fileOf(b.roomId))
    await carol.call({ id: 4, op: 'room.join', roomId: a.roomId })
    expect(membersOnDisk(n2, a.roomId)).toEqual(['carol'])
    // Beta's file is not rewritten for a join to alpha, and replication.json lists no members.
    expect(n2.disk.files.get(fileOf(b.roomId))).toBe(betaBefore)
    expect(n2.disk.files.get('replication.json')).not.toContain('carol')

    // n2 stops; its data dir is rewritten as an older node kept it: every room's state in replication.json.
    cluster.crash(n2)
    const index = JSON.parse(n2.disk.files.get('replication.json')!) as Record<string, Record<string, unknown>>
    for (const roomId of Object.keys(index)) {
      const own = n2.disk.files.get(fileOf(roomId))
      if (!own) continue
      index[roomId].meta = (JSON.parse(own) as { meta: unknown }).meta
      n2.disk.files.delete(fileOf(roomId))
    }
    n2.disk.files.set('replication.json', JSON.stringify(index))
    const again = await cluster.restart(n2)
    await cluster.run(3000)
    const dave = await cluster.client(n3, 'dave')
    // Restored from the old layout, it wrote alpha's state to its own file as it started.
    expect(membersOnDisk(again, a.roomId)).toEqual(['carol'])
    await dave.call({ id: 5, op: 'room.join', roomId: a.roomId })
    await cluster.run(3000)
    // It came back as a replica of both rooms, and each room's state is in its own file again.
    expect(membersOnDisk(again, a.roomId)).toEqual(['carol', 'dave'])
    expect(membersOnDisk(again, b.roomId)).toEqual([])
    expect(JSON.parse(again.disk.files.get('replication.json')!)[a.roomId].meta).toBeUndefined()
  })
})
