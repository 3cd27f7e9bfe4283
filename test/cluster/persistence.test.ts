// Persistence of an administrator's rooms (main/store/message-log.ts) with real processes: killed
// with kill -9 and restarted from its data dir, it comes back with its rooms, their history and the
// exact last seq; members elsewhere carry on with seq + 1; a deleted room's log goes with it.
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { Client, cleanup, eventually, killNode, startCluster, startNode } from '../helpers/cluster'

afterAll(cleanup)

describe('an administrator restarted from its data dir', () => {
  it('comes back after kill -9 with its rooms, their history and the exact last seq', async () => {
    const [n1, n2] = await startCluster(2)
    const alice = await Client.as(n1.ready, 'alice')
    const bob = await Client.as(n2.ready, 'bob')
    const { room } = await alice.call('room.create', { name: 'kept' })
    await bob.event('room.created', (e) => e.room.roomId === room.roomId)
    await alice.call('room.join', { roomId: room.roomId })
    await bob.call('room.join', { roomId: room.roomId })
    const sends = []
    for (let i = 1; i <= 120; i++) {
      const c = i % 2 ? alice : bob
      sends.push(c.call('message.send', { roomId: room.roomId, text: `before ${i}`, clientMsgId: `m${i}` }))
    }
    const acks = await Promise.all(sends)
    expect(Math.max(...acks.map((a) => a.seq))).toBe(120)
    await bob.until(() => bob.messages(room.roomId).length === 120)

    await killNode(n1)
    await bob.event('room.unavailable', (e) => e.roomId === room.roomId)
    const back = await startNode({ name: 'n1', dataDir: n1.dataDir, grpcPort: Number(n1.ready.grpc.split(':')[1]) })
    expect(back.ready.nodeId).toBe(n1.ready.nodeId)
    await bob.event('room.available', (e) => e.roomId === room.roomId, 10_000)

    // A new client of the restarted node sees the room, its history and where it stands.
    // The room is replicated on both nodes (client-protocol.md §8): the restarted node comes back as
    // a replica, and the room is listed again once the two have elected its administrator.
    const carol = await Client.as(back.ready, 'carol')
    const listed = await eventually(async () => (await carol.call('rooms.list')).rooms.find((r) => r.roomId === room.roomId && r.available), 10_000, 'the room listed')
    expect(listed).toMatchObject({ name: 'kept', available: true })
    const joined = await carol.call('room.join', { roomId: room.roomId })
    expect(joined.lastSeq).toBe(120)
    expect(joined.history.map((m) => m.seq)).toEqual(Array.from({ length: 50 }, (_, i) => 71 + i))
    expect(joined.history.at(-1)).toEqual(bob.messages(room.roomId).map(({ event: _e, ...m }) => m)[119])
    const older = await carol.call('history.fetch', { roomId: room.roomId, beforeSeq: 11, limit: 10 })
    // Exactly what members saw live, seq 1..10.
    expect(older.messages).toEqual(bob.messages(room.roomId).slice(0, 10).map(({ event: _e, ...m }) => m))

    // A resend across the restart is still recognised: same seq, nothing new.
    await eventually(async () => (await carol.call('room.members', { roomId: room.roomId })).members.some((m) => m.user === 'bob'), 10_000, 'bob rejoined by his node')
    const bobs120 = acks[119].seq
    expect((await bob.call('message.send', { roomId: room.roomId, text: 'before 120', clientMsgId: 'm120' })).seq).toBe(bobs120)
    // The sequence continues exactly: bob, who stayed connected elsewhere, sees 121 right after 120.
    const next = await bob.call('message.send', { roomId: room.roomId, text: 'after', clientMsgId: 'after-1' })
    expect(next.seq).toBe(121)
    await bob.until(() => bob.messages(room.roomId).some((m) => m.seq === 121))
    expect(bob.messages(room.roomId).map((m) => m.seq)).toEqual(Array.from({ length: 121 }, (_, i) => i + 1))
    await carol.until(() => carol.messages(room.roomId).some((m) => m.seq === 121))

    // Deleting the room removes its log from the administrator's data dir.
    const logDir = join(n1.dataDir, 'messages')
    expect(readdirSync(logDir)).toContain(`${encodeURIComponent(room.roomId)}.jsonl`)
    const aliceAgain = await Client.as(back.ready, 'alice') // her first connection died with n1
    expect(await aliceAgain.call('room.delete', { roomId: room.roomId })).toEqual({ outcome: 'committed' })
    await bob.event('room.deleted', (e) => e.roomId === room.roomId)
    expect(existsSync(join(logDir, `${encodeURIComponent(room.roomId)}.jsonl`))).toBe(false)
  })
})
