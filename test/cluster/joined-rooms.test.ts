// Rooms that stay joined (hello.joinedRooms) and room.preview, with real node processes talking only
// through their public protocols (docs/client-protocol.md §4: hello.joinedRooms).
import { afterAll, describe, expect, it } from 'vitest'
import { Client, cleanup, eventually, startCluster, startNode, stopNode } from '../helpers/cluster'

afterAll(cleanup)

/** What a fresh connection (a reload of the page) is given back by `hello`: one hello per connection. */
async function joinedOnHello(ready: Parameters<typeof Client.connect>[0], user: string): Promise<string[]> {
  const c = await Client.connect(ready)
  try {
    return (await c.call('hello', { user })).joinedRooms ?? []
  } finally {
    c.close()
  }
}

describe('joined rooms remembered per user on the node', () => {
  it('are given back by hello after a reconnect and after a restart, until the user leaves them', async () => {
    const [n1, n2] = await startCluster(2)
    const ids = async (c: Client) => Object.fromEntries((await c.call('rooms.list')).rooms.map((r) => [r.name, r.roomId]))
    const alice = await Client.as(n2.ready, 'alice')
    const rooms = await eventually(async () => {
      const r = await ids(alice)
      return r['n1 lobby'] && r['n2 lobby'] ? r : undefined
    }, 10_000, 'both default rooms listed on n2')
    // One room administered by this node, one by the other.
    await alice.call('room.join', { roomId: rooms['n1 lobby'] })
    await alice.call('room.join', { roomId: rooms['n2 lobby'] })
    alice.close()

    // A reload: a new connection, same user. Another user of the same node has their own record.
    const again = await Client.connect(n2.ready)
    expect((await again.call('hello', { user: 'alice' })).joinedRooms).toEqual([rooms['n1 lobby'], rooms['n2 lobby']])
    expect(await joinedOnHello(n2.ready, 'bob')).toEqual([])

    // Leaving is remembered too.
    await again.call('room.join', { roomId: rooms['n2 lobby'] })
    await again.call('room.leave', { roomId: rooms['n2 lobby'] })
    again.close()

    // A restart of the node from its data dir.
    await stopNode(n2)
    const back = await startNode({ name: 'n2', dataDir: n2.dataDir, join: [n1.ready.grpc] })
    const after = await Client.connect(back.ready)
    expect((await after.call('hello', { user: 'alice' })).joinedRooms).toEqual([rooms['n1 lobby']])

    // A room deleted meanwhile is no longer offered.
    const { room } = await after.call('room.create', { name: 'short-lived' })
    await after.call('room.join', { roomId: room.roomId })
    expect(await joinedOnHello(back.ready, 'alice')).toEqual([rooms['n1 lobby'], room.roomId])
    expect((await after.call('room.delete', { roomId: room.roomId })).outcome).toBe('committed')
    expect(await joinedOnHello(back.ready, 'alice')).toEqual([rooms['n1 lobby']])
  }, 60_000)
})

describe('room.preview', () => {
  it("shows the last messages of a room to a user who has not joined it, on the administrator's node and elsewhere", async () => {
    const [n1, n2] = await startCluster(2)
    const writer = await Client.as(n1.ready, 'writer')
    const { room } = await writer.call('room.create', { name: 'busy' })
    await writer.call('room.join', { roomId: room.roomId })
    for (let i = 1; i <= 30; i++) await writer.call('message.send', { roomId: room.roomId, text: `line ${i}`, clientMsgId: `c${i}` })

    const local = await Client.as(n1.ready, 'reader')
    const p1 = await local.call('room.preview', { roomId: room.roomId, limit: 5 })
    expect(p1.messages.map((m) => m.text)).toEqual(['line 26', 'line 27', 'line 28', 'line 29', 'line 30'])
    expect(p1.room).toMatchObject({ name: 'busy', joined: false })

    const remote = await Client.as(n2.ready, 'reader')
    await eventually(async () => (await remote.call('rooms.list')).rooms.some((r) => r.roomId === room.roomId), 10_000, 'the room gossiped to n2')
    const p2 = await remote.call('room.preview', { roomId: room.roomId })
    // The default is the last 20, in order.
    expect(p2.messages.map((m) => m.seq)).toEqual(Array.from({ length: 20 }, (_, i) => 11 + i))
    expect(p2.messages.at(-1)).toMatchObject({ user: 'writer', text: 'line 30', nodeId: n1.ready.nodeId })

    // Read-only: the reader is no member, cannot send, and no member.joined went out.
    expect(await remote.fails('message.send', { roomId: room.roomId, text: 'x', clientMsgId: 'x' })).toBe('not_member')
    expect((await writer.call('room.members', { roomId: room.roomId })).members.map((m) => m.user)).toEqual(['writer'])
    expect(writer.events.some((e) => e.event === 'member.joined' && e.user === 'reader')).toBe(false)

    // Bad input gets a clear error.
    expect(await remote.fails('room.preview', { roomId: 'no-such-room' })).toBe('not_found')
    expect(await remote.fails('room.preview', { roomId: room.roomId, limit: 500 })).toBe('bad_request')
  }, 60_000)
})
