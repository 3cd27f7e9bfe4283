// Authority in replicated rooms, with real node processes (docs/security.md, "Authority of peer
// messages"; client-protocol.md §8). After a takeover, a replica of the old term (the old
// administrator, played here by a peer holding its node key) can neither deliver nor append: its
// Deliver is refused, its append of the old term is refused and answered with the current term and
// administrator, its old directory entry changes nothing. A key holder outside the replica set can
// neither claim the room by gossip at a high term nor append to it. Clients see only the real history.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { CLUSTER_KEY, Client, cleanup, eventually, killNode, startNode, type NodeProc } from '../helpers/cluster'
import { keyHolderLink, type Wire } from './key-holder'

afterAll(cleanup)

describe('a replica of an old term', () => {
  it('cannot inject deliveries or appends after a takeover; an outsider cannot claim the room', async () => {
    const extra = ['--replicas', '3']
    const n1 = await startNode({ name: 'n1', extra })
    const [n2, n3] = await Promise.all([startNode({ name: 'n2', join: [n1.ready.grpc], extra }), startNode({ name: 'n3', join: [n1.ready.grpc], extra })])
    const nodes: NodeProc[] = [n1, n2, n3]
    for (const n of nodes) {
      const c = await Client.as(n.ready, 'watcher')
      await eventually(async () => (await c.call('peers.list')).peers.filter((p) => p.state === 'alive').length === 2, 20_000, `${n.ready.name} sees two peers`)
      c.close()
    }
    const carol = await Client.as(n1.ready, 'carol')
    const { room } = await carol.call('room.create', { name: 'design' })
    const roomId = room.roomId
    expect(room.replicas).toHaveLength(3)
    const bob2 = await Client.as(n2.ready, 'bob')
    const bob3 = await Client.as(n3.ready, 'bob')
    for (const b of [bob2, bob3]) {
      await eventually(async () => (await b.call('rooms.list')).rooms.some((r) => r.roomId === roomId), 10_000, 'room listed')
      await b.call('room.join', { roomId })
    }
    await bob2.call('message.send', { roomId, text: 'real #1', clientMsgId: 'r1' })
    await bob3.call('message.send', { roomId, text: 'real #2', clientMsgId: 'r2' })
    await bob3.until(() => bob3.messages(roomId).length === 2)

    // The administrator dies; a replica takes the room over in term 2 or later.
    const n1Key = readFileSync(join(n1.dataDir, 'node-key.pem'), 'utf8')
    await killNode(n1)
    const changed = await bob2.event('room.admin_changed', (e) => e.roomId === roomId, 20_000)
    expect(changed.term).toBeGreaterThanOrEqual(2)
    const winner = [n2, n3].find((n) => n.ready.nodeId === changed.adminNodeId)!
    // The node to attack: the other replica, a member node that only follows.
    const target = winner === n2 ? n3 : n2
    const targetBob = target === n2 ? bob2 : bob3
    await targetBob.event('room.admin_changed', (e) => e.roomId === roomId && e.adminNodeId === winner.ready.nodeId, 10_000)

    // The old administrator (its node key, so its own node id) speaks again, as of its old term.
    const old = await keyHolderLink(target.ready.grpc, CLUSTER_KEY, { name: 'n1', nodeKeyPem: n1Key })
    expect(old.nodeId).toBe(n1.ready.nodeId)
    const forged = { roomId, seq: 3, user: 'carol', nodeId: n1.ready.nodeId, text: 'FORGED by the old administrator', sentAt: Date.now(), clientMsgId: 'f3' }
    old.send({ deliver: { roomId, messages: [forged] } })
    const staleAppend = { roomAppend: { roomId, term: 1, leader: n1.ready.nodeId, prevSeq: 2, prevTerm: 1, entries: [{ term: 1, message: forged }], commitSeq: 3, meta: null } }
    old.send(staleAppend)
    const entry = { ...room, adminNodeId: n1.ready.nodeId, adminNodeName: 'n1', version: 1_000, term: 1, frozen: false }
    old.send({ gossip: { nodes: [], rooms: [entry], ownerComplete: true } })
    // Fencing: the stale append is answered with the current term and administrator. Like a real
    // administrator, the old one sends its append again until it hears back (the node's Link to it
    // may still be opening when the first one is refused).
    const fence = await eventually(async () => old.received.find((m): m is Wire => m.body === 'roomAppendReply') ?? (old.send(staleAppend), undefined), 10_000, 'the fencing reply')
    expect(fence.roomAppendReply).toMatchObject({ roomId, ok: false, leader: winner.ready.nodeId })
    expect((fence.roomAppendReply as { term: number }).term).toBeGreaterThanOrEqual(changed.term)
    await eventually(async () => /refused roomAppend from n1: an append of term 1/.test(target.stderr()), 5000, 'the refusal logged')
    expect(target.stderr()).toMatch(/refused deliver from n1: messages of a room it does not administer/)

    // A key holder outside the replica set claims the room at a high term, and appends to it.
    const mallory = await keyHolderLink(target.ready.grpc, CLUSTER_KEY, { name: 'mallory' })
    const claim = { ...room, adminNodeId: mallory.nodeId, adminNodeName: 'mallory', version: 1, term: 99, replicas: [mallory.nodeId, target.ready.nodeId], frozen: false }
    mallory.send({ gossip: { nodes: [], rooms: [claim], ownerComplete: true } })
    mallory.send({ roomAppend: { roomId, term: 99, leader: mallory.nodeId, prevSeq: 2, prevTerm: 1, entries: [{ term: 99, message: { ...forged, nodeId: mallory.nodeId } }], commitSeq: 3, meta: null } })
    await eventually(async () => /refused roomAppend from mallory: appends to a room it holds no replica of/.test(target.stderr()), 5000, 'the append refused')
    expect(target.stderr()).toMatch(/refused the claim of mallory to administer room design in term 99/)

    // Nothing changed: the room is run by the winner at every node, and the next message is #3, real.
    for (const b of [bob2, bob3]) {
      const listed = (await b.call('rooms.list')).rooms.find((r) => r.roomId === roomId)!
      expect(listed.adminNodeId).toBe(winner.ready.nodeId)
      expect(listed.term).toBe(changed.term)
    }
    expect((await targetBob.call('message.send', { roomId, text: 'real #3', clientMsgId: 'r3' })).seq).toBe(3)
    for (const b of [bob2, bob3]) {
      await b.until(() => b.messages(roomId).length === 3, 10_000)
      expect(b.messages(roomId).map((m) => `${m.seq}:${m.text}`)).toEqual(['1:real #1', '2:real #2', '3:real #3'])
    }
    const history = await targetBob.call('history.fetch', { roomId })
    expect(history.messages.map((m) => m.text)).toEqual(['real #1', 'real #2', 'real #3'])
    await old.close()
    await mallory.close()
  }, 120_000)
})
