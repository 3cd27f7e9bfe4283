// A network partition between two nodes that both stay up (node.faults {partition}, --allow-faults):
// each side declares the other dead while a third node still sees both; the room keeps ordering for
// the side that can reach its administrator; once healed, the cut-off member is rejoined by its node
// and catches up on everything it missed, in order, without a gap or a duplicate.
import { afterAll, describe, expect, it } from 'vitest'
import { Client, cleanup, eventually, startCluster } from '../helpers/cluster'

afterAll(cleanup)

describe('partition and heal', () => {
  it('n3 cut off from n1: both sides see the other dead, n2 sees both alive, and n3 catches up after the heal', async () => {
    const nodes = await startCluster(3, undefined, ['--allow-faults'])
    const [n1, n2, n3] = nodes
    const alice = await Client.as(n1.ready, 'alice')
    const bob = await Client.as(n2.ready, 'bob')
    const carol = await Client.as(n3.ready, 'carol')
    for (const c of [alice, bob, carol]) {
      await eventually(async () => (await c.call('peers.list')).peers.filter((p) => p.state === 'alive').length === 2, 15_000, 'mesh')
    }
    const { room } = await alice.call('room.create', { name: 'split' })
    for (const c of [bob, carol]) await c.event('room.created', (e) => e.room.roomId === room.roomId)
    for (const c of [alice, bob, carol]) await c.call('room.join', { roomId: room.roomId })
    for (let i = 1; i <= 5; i++) await bob.call('message.send', { roomId: room.roomId, text: `before ${i}`, clientMsgId: `b${i}` })
    await carol.until(() => carol.messages(room.roomId).length === 5)

    const faults = await carol.call('node.faults', { partition: ['n1'] })
    expect(faults.partitionedFrom).toEqual(['n1'])
    await alice.event('peer.status', (e) => e.nodeId === n3.ready.nodeId && e.state === 'dead')
    await carol.event('peer.status', (e) => e.nodeId === n1.ready.nodeId && e.state === 'dead')
    await carol.event('room.unavailable', (e) => e.roomId === room.roomId)
    await alice.event('member.left', (e) => e.roomId === room.roomId && e.user === 'carol')
    // A partial partition: n2 still reaches both.
    const seenByBob = (await bob.call('peers.list')).peers
    expect(seenByBob.map((p) => p.state)).toEqual(['alive', 'alive'])
    expect(await carol.fails('message.send', { roomId: room.roomId, text: 'cut off', clientMsgId: 'c-x' })).toBe('room_unavailable')

    // The side that reaches the administrator carries on.
    for (let i = 1; i <= 10; i++) {
      const c = i % 2 ? alice : bob
      await c.call('message.send', { roomId: room.roomId, text: `during ${i}`, clientMsgId: `d${i}` })
    }

    const healed = await carol.call('node.faults', { partition: [] })
    expect(healed.partitionedFrom).toEqual([])
    await carol.event('room.available', (e) => e.roomId === room.roomId, 10_000)
    await alice.event('member.joined', (e) => e.roomId === room.roomId && e.user === 'carol', 10_000)
    // carol, who never left, gets what she missed (fetched from the administrator), then new messages.
    await carol.until(() => carol.messages(room.roomId).length >= 15, 10_000, 'the missed messages')
    const after = await carol.call('message.send', { roomId: room.roomId, text: 'back', clientMsgId: 'c-back' })
    expect(after.seq).toBe(16)
    for (const c of [alice, bob, carol]) {
      await c.until(() => c.messages(room.roomId).some((m) => m.seq === 16), 10_000, 'seq 16')
      expect(c.messages(room.roomId).map((m) => m.seq)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1))
    }
    expect(carol.messages(room.roomId).map((m) => m.text)).toEqual(alice.messages(room.roomId).map((m) => m.text))
  })

  it('faults are refused without --allow-faults, and an unknown peer is not_found', async () => {
    const [n1] = await startCluster(1)
    const c = await Client.as(n1.ready, 'x')
    expect(await c.fails('node.faults', { partition: ['n2'] })).toBe('forbidden')
    const [m1] = await startCluster(1, undefined, ['--allow-faults'])
    const d = await Client.as(m1.ready, 'y')
    expect(await d.fails('node.faults', { partition: ['nobody'] })).toBe('not_found')
  })
})
