/**
 * The COMMIT gap of a replicated room's deletion (docs/deletion.md, "Replicated rooms"), on the
 * virtual clock and the in-memory network (test/node/node-harness.ts), where the crash can come at
 * exactly the worst moment: the coordinator stored the COMMIT in the room state on a majority of
 * the replicas, and dies as it writes the decision to deletions.json (the write never lands). It
 * restarts at once. Its log says "undecided": presuming abort there would tell the participants
 * ROLLBACK while the replicas, which hold the COMMIT, finish the deletion. What users must see is
 * one outcome: the room deleted, no rollback shown before it.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { ServerEvent } from '../../proto/client-protocol'
import { TestCluster, type TestClient } from './node-harness'

let cluster: TestCluster | undefined
afterEach(() => {
  cluster?.stopAll()
  cluster = undefined
})

const deletionPhases = (c: TestClient, roomId: string) =>
  c.events.filter((e): e is Extract<ServerEvent, { event: 'deletion' }> => e.event === 'deletion' && e.roomId === roomId && e.phase !== 'prepare').map((e) => e.phase)

describe('the COMMIT gap: coordinator dies after the replicas hold the COMMIT, before its deletion log does', () => {
  for (const downMs of [0, 5000]) {
    it(`restarted ${downMs ? `after ${downMs} ms` : 'at once'}: the room is deleted everywhere and no participant is told ROLLBACK`, async () => {
      cluster = await TestCluster.replicated(3)
      let [n1] = cluster.nodes
      const [, n2, n3] = cluster.nodes
      const alice = await cluster.client(n1, 'alice')
      const bob = await cluster.client(n2, 'bob')
      const carol = await cluster.client(n3, 'carol')
      const { room } = await alice.call({ id: 2, op: 'room.create', name: 'doomed' })
      expect(room.replicas).toHaveLength(3)
      await cluster.run(500)
      for (const c of [alice, bob, carol]) await c.call({ id: 3, op: 'room.join', roomId: room.roomId })
      await cluster.run(500)

      // The power cut: n1's write of its COMMIT to deletions.json never lands, and n1 is gone.
      const files = n1.disk.files
      const set = files.set.bind(files)
      let cut = false
      files.set = (name: string, value: string) => {
        if (!cut && name === 'deletions.json' && value.includes('"decision":"commit"')) {
          cut = true
          throw new Error('power cut')
        }
        return set(name, value)
      }
      void n1.gateway.request(alice.session, { id: 4, op: 'room.delete', roomId: room.roomId })
      for (let t = 0; t < 10_000 && !cut; t += 5) await cluster.run(5)
      expect(cut).toBe(true)
      cluster.crash(n1)
      files.set = set
      // The COMMIT is in the room state of a majority (n1's own and at least one other replica).
      const holders = [n2, n3].filter((n) => n.node.replicaStates().get(room.roomId)?.meta.deleted)
      expect(holders.length).toBeGreaterThanOrEqual(1)
      const stored = JSON.parse(files.get('deletions.json') ?? '{}') as { records?: Record<string, { decision: string | null }> }
      expect(Object.values(stored.records ?? {}).map((r) => r.decision)).toEqual([null])

      await cluster.run(downMs)
      n1 = await cluster.restart(n1)
      await cluster.run(20_000)

      for (const c of [bob, carol]) {
        expect(c.events.some((e) => e.event === 'room.deleted' && e.roomId === room.roomId)).toBe(true)
        expect(deletionPhases(c, room.roomId)).not.toContain('abort')
      }
      for (const n of [n1, n2, n3]) {
        const c = await cluster.client(n, `inspector-${n.name}`)
        const { rooms } = await c.call({ id: 5, op: 'rooms.list' })
        expect(rooms.some((r) => r.roomId === room.roomId), `${n.name} still lists the room`).toBe(false)
      }
      // n1 finished its record: nothing undecided is left in its log.
      const after = JSON.parse(n1.disk.files.get('deletions.json') ?? '{}') as { records?: Record<string, { decision: string | null }> }
      expect(Object.values(after.records ?? {}).filter((r) => r.decision === null)).toEqual([])
    })
  }
})
