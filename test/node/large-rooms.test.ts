/**
 * Large rooms (docs/client-protocol.md §5, "Large rooms"): what a client that said `largeRooms`
 * sees of a room past the node's threshold (a count, at most once a second, and a first page of
 * members), what an older client still sees (every join and leave, every member), and member pages.
 * Real nodes on the virtual clock and the in-memory network (node-harness.ts), replicated rooms.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { MAX_MEMBER_PAGE, type ServerEvent } from '../../proto/client-protocol'
import { TestCluster, type TestClient } from './node-harness'

let cluster: TestCluster | undefined
afterEach(() => {
  cluster?.stopAll()
  cluster = undefined
})

const ofRoom = (c: TestClient, roomId: string, ...kinds: ServerEvent['event'][]) =>
  c.events.filter((e) => kinds.includes(e.event) && 'roomId' in e && e.roomId === roomId)

describe('large rooms', () => {
  it('past the threshold a largeRooms client gets the member count, coalesced; an older client still gets every join', async () => {
    cluster = new TestCluster()
    cluster.largeRoomMembers = 3
    await cluster.start(3)
    const [n1, n2, n3] = cluster.nodes
    const owner = await cluster.client(n1, 'owner', { largeRooms: true })
    const { room } = await owner.call({ id: 2, op: 'room.create', name: 'big' })
    await cluster.run(200)
    await owner.call({ id: 3, op: 'room.join', roomId: room.roomId })
    const old = await cluster.client(n2, 'old')
    const ann = await cluster.client(n3, 'ann', { largeRooms: true })
    await old.call({ id: 4, op: 'room.join', roomId: room.roomId })
    const joined = await ann.call({ id: 5, op: 'room.join', roomId: room.roomId })
    expect(joined.memberCount).toBe(3)
    expect(joined.members.map((m) => m.user)).toEqual(['ann', 'old', 'owner'])

    // Eight more members, from every node, all in one second: the room passes the threshold.
    const users = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7', 'u8']
    await Promise.all(users.map(async (u, k) => {
      const c = await cluster!.client(cluster!.nodes[k % 3], u, { largeRooms: true })
      await c.call({ id: 2, op: 'room.join', roomId: room.roomId })
    }))
    await cluster.run(2500)

    // The older client: every join, one event each, as before.
    expect(ofRoom(old, room.roomId, 'member.joined').map((e) => (e as { user: string }).user).sort()).toEqual(['ann', ...users])
    expect(ofRoom(old, room.roomId, 'members.count')).toEqual([])
    // The largeRooms clients: no join past the threshold, the count instead, at most once a second
    // per room, ending at the room's size.
    for (const c of [ann, owner]) {
      expect(ofRoom(c, room.roomId, 'member.joined').length).toBeLessThan(users.length)
      const counts = ofRoom(c, room.roomId, 'members.count') as { memberCount: number }[]
      expect(counts.length).toBeGreaterThanOrEqual(1)
      expect(counts.length).toBeLessThanOrEqual(3)
      expect(counts[counts.length - 1].memberCount).toBe(11)
    }

    // Leaves are counted the same way.
    const leaving = await cluster.client(n2, 'u9', { largeRooms: true })
    await leaving.call({ id: 2, op: 'room.join', roomId: room.roomId })
    await leaving.call({ id: 3, op: 'room.leave', roomId: room.roomId })
    await cluster.run(1500)
    const last = ofRoom(ann, room.roomId, 'members.count').at(-1) as { memberCount: number }
    expect(last.memberCount).toBe(11)
    expect(ofRoom(old, room.roomId, 'member.left').map((e) => (e as { user: string }).user)).toEqual(['u9'])

    // Member pages, from the administrator's node and from another: sorted by user, with the count.
    for (const c of [owner, ann]) {
      const page = await c.call({ id: 9, op: 'room.members', roomId: room.roomId, offset: 2, limit: 3 })
      expect(page).toEqual({ members: ['owner', 'u1', 'u2'].map((user) => expect.objectContaining({ user })), memberCount: 11 })
      const all = await c.call({ id: 10, op: 'room.members', roomId: room.roomId })
      expect(all.members.length).toBe(11)
      expect(all.memberCount).toBe(11)
    }
  })

  it(`a largeRooms client joining a room of more than ${MAX_MEMBER_PAGE} gets the first page and the count; an older client gets them all`, async () => {
    cluster = new TestCluster()
    await cluster.start(2)
    const [n1, n2] = cluster.nodes
    const owner = await cluster.client(n1, 'owner', { largeRooms: true })
    const { room } = await owner.call({ id: 2, op: 'room.create', name: 'big' })
    await cluster.run(200)
    const total = MAX_MEMBER_PAGE + 20
    for (let k = 0; k < total; k += 50) {
      await Promise.all(Array.from({ length: Math.min(50, total - k) }, async (_, j) => {
        const c = await cluster!.client(cluster!.nodes[(k + j) % 2], `m${String(k + j).padStart(4, '0')}`, { largeRooms: true })
        await c.call({ id: 2, op: 'room.join', roomId: room.roomId })
      }))
    }
    for (const n of [n1, n2]) {
      const late = await cluster.client(n, `late-${n.name}`, { largeRooms: true })
      const r = await late.call({ id: 2, op: 'room.join', roomId: room.roomId })
      expect(r.memberCount).toBeGreaterThanOrEqual(total + 1)
      expect(r.members.length).toBe(MAX_MEMBER_PAGE)
      expect(r.members[0].user).toBe('late-n1')
      const old = await cluster.client(n, `old-${n.name}`)
      const o = await old.call({ id: 2, op: 'room.join', roomId: room.roomId })
      expect(o.members.length).toBe(o.memberCount)
      expect(o.members.length).toBeGreaterThan(total + 1)
    }
  })
})
