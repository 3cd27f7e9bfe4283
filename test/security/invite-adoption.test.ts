// Joining a cluster with an invite, end to end with real node processes (docs/security.md,
// "Joining a cluster: invites"; client-protocol.md §7). A new node with a key of its own and no peer
// adopts the cluster key of the invite it joins with, links, and keeps the key across a restart; a
// node that already has peers refuses an invite of another cluster with a clear error and keeps its key.
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { Client, cleanup, eventually, startNode, stopNode } from '../helpers/cluster'

afterAll(cleanup)

const alivePeers = async (c: Client) => (await c.call('peers.list')).peers.filter((p) => p.state === 'alive').map((p) => p.name)

describe('invites', () => {
  it('a node with no peer adopts the invite key, persists it, and links again with it after a restart; a node with peers refuses another cluster', async () => {
    // A: the cluster (the test file's key). Its invite comes from the Settings op, as the UI shows it.
    const a = await startNode({ name: 'a' })
    const ca = await Client.as(a.ready, 'op')
    const invite = (await ca.call('node.info')).self.invite!
    expect(invite).toBe(`dsg1://${a.ready.grpc}/${a.ready.clusterKey}`)
    expect((await ca.call('peers.list')).self.invite).toBe(invite)

    // B: a new node that made its own key (nothing given), with no peer.
    const b = await startNode({ name: 'b', clusterKey: null })
    expect(b.ready.clusterKey).not.toBe(a.ready.clusterKey)
    expect(readFileSync(join(b.dataDir, 'cluster-key'), 'utf8').trim()).toBe(b.ready.clusterKey)
    const cb = await Client.as(b.ready, 'op')
    // An invite nobody answers: unreachable at once, and B keeps the key it had.
    const nobody = await cb.reply('peers.add', { invite: `dsg1://127.0.0.1:1/${a.ready.clusterKey}` })
    expect(nobody.error?.code).toBe('unreachable')
    expect(readFileSync(join(b.dataDir, 'cluster-key'), 'utf8').trim()).toBe(b.ready.clusterKey)
    const added = await cb.call('peers.add', { invite })
    expect(added.peer).toMatchObject({ nodeId: a.ready.nodeId, name: 'a' })
    await eventually(async () => (await alivePeers(cb)).includes('a'), 15_000, 'b sees a alive')
    await eventually(async () => (await alivePeers(ca)).includes('b'), 15_000, 'a sees b alive')
    // B now holds A's key: on disk (0600) and in its own invite.
    expect(readFileSync(join(b.dataDir, 'cluster-key'), 'utf8').trim()).toBe(a.ready.clusterKey)
    expect(statSync(join(b.dataDir, 'cluster-key')).mode & 0o777).toBe(0o600)
    expect((await cb.call('node.info')).self.invite).toMatch(new RegExp(`/${a.ready.clusterKey}$`))
    // And it is in the cluster: a room made on A is listed on B.
    const room = (await ca.call('room.create', { name: 'joined-by-invite' })).room
    await cb.event('room.created', (e) => e.room.roomId === room.roomId)
    cb.close()

    // Restart B with no key given: it starts with the adopted key and links to A by itself (peers.json).
    expect(await stopNode(b)).toBe(0)
    const b2 = await startNode({ name: 'b', clusterKey: null, dataDir: b.dataDir })
    expect(b2.ready.nodeId).toBe(b.ready.nodeId)
    expect(b2.ready.clusterKey).toBe(a.ready.clusterKey)
    const cb2 = await Client.as(b2.ready, 'op')
    await eventually(async () => (await alivePeers(cb2)).includes('a'), 15_000, 'b, restarted, links to a again')
    await eventually(async () => (await cb2.call('rooms.list')).rooms.some((r) => r.roomId === room.roomId), 15_000, 'b lists a room of a again')

    // C: a cluster of its own. B, which has a peer now, refuses C's invite, says why, and keeps its key.
    const c = await startNode({ name: 'c', clusterKey: null })
    const cc = await Client.as(c.ready, 'op')
    const otherInvite = (await cc.call('node.info')).self.invite!
    const refused = await cb2.reply('peers.add', { invite: otherInvite })
    expect(refused.ok).toBe(false)
    expect(refused.error).toEqual({ code: 'forbidden', message: 'that invite is for another cluster, and this node is already in one (remove its peers first)' })
    expect(readFileSync(join(b2.dataDir, 'cluster-key'), 'utf8').trim()).toBe(a.ready.clusterKey)
    expect((await cb2.call('peers.list')).peers.map((p) => p.name)).toEqual(['a'])
    expect(await alivePeers(cb2)).toEqual(['a'])
    // Nobody linked with C.
    expect((await cc.call('peers.list')).peers).toEqual([])
  }, 90_000)
})
