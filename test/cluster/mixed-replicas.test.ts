/**
 * A cluster whose nodes run with different `--replicas` (docs/replication.md, "Replica sets"), with
 * real node processes: a node started with `--replicas 1` keeps its own rooms unreplicated, but it is
 * a full replica of the rooms other nodes put it in. Before, it refused their appends and votes, so it
 * was a voter that never voted: a room whose replicas were it and two others lost its administrator
 * for good when one of the other two died (no takeover), and needed both others for every message.
 */
import { afterEach, expect, it } from 'vitest'
import { cleanup, Client, eventually, killNode, sendAccepted, startNode, type NodeProc } from '../helpers/cluster'
import type { RoomInfo } from '../../proto/client-protocol'

const TIMING = { heartbeatMs: 150, suspectMs: 450, deadMs: 900 }
afterEach(cleanup)

async function info(c: Client, roomId: string): Promise<RoomInfo | undefined> {
  return (await c.call('rooms.list')).rooms.find((r) => r.roomId === roomId)
}

it('a node started with --replicas 1 votes and stores for the rooms it is a replica of: a takeover, then a restart with the third replica dead', async () => {
  const n1 = await startNode({ name: 'n1', timing: TIMING })
  let n2: NodeProc = await startNode({ name: 'n2', join: [n1.ready.grpc], timing: TIMING })
  const n3 = await startNode({ name: 'n3', join: [n1.ready.grpc], timing: TIMING, extra: ['--replicas', '1'] })
  const alice = await Client.as(n1.ready, 'alice')
  let bob = await Client.as(n2.ready, 'bob')
  const carol = await Client.as(n3.ready, 'carol')
  for (const c of [alice, bob, carol]) {
    await eventually(async () => (await c.call('peers.list')).peers.filter((p) => p.state === 'alive').length >= 2, 20_000, 'every node sees the other two')
  }
  // n3's own room stays unreplicated; a room made on n2 has all three nodes as replicas.
  const { room: own } = await carol.call('room.create', { name: 'n3 only' })
  expect(own.replicas ?? []).toEqual([])
  const { room } = await bob.call('room.create', { name: 'design' })
  expect([...(room.replicas ?? [])].sort()).toEqual([n1.ready.nodeId, n2.ready.nodeId, n3.ready.nodeId].sort())
  await eventually(async () => !!(await info(alice, room.roomId)), 10_000, 'n1 knows the room')
  await alice.call('room.join', { roomId: room.roomId })
  await bob.call('room.join', { roomId: room.roomId })
  const first = await sendAccepted(bob, room.roomId, 'before the crash', 'b1')

  // kill -9 of the administrator: n1 or n3 wins, with the other's vote.
  const n2Ports = { grpc: Number(n2.ready.grpc.split(':').pop()), ws: new URL(n2.ready.ws).port }
  await killNode(n2)
  const taken = await alice.event('room.admin_changed', (e) => e.roomId === room.roomId && e.adminNodeId !== n2.ready.nodeId, 15_000)
  expect([n1.ready.nodeId, n3.ready.nodeId]).toContain(taken.adminNodeId)
  // ...and commits with the two of them.
  const second = await sendAccepted(alice, room.roomId, 'after the takeover', 'a1', 15_000)
  expect(second).toBe(first + 1)

  // n2 comes back from its data dir and follows; then n3 dies for good (if it ran the room, n1 and n2
  // elect one of them).
  n2 = await startNode({ name: 'n2', dataDir: n2.dataDir, grpcPort: n2Ports.grpc, token: n2.ready.token, timing: TIMING, extra: ['--ws', `127.0.0.1:${n2Ports.ws}`] })
  bob = await Client.as(n2.ready, 'bob')
  await eventually(async () => (await bob.reply('room.join', { roomId: room.roomId })).ok, 20_000, 'bob rejoins on the restarted n2')
  await killNode(n3)
  // n1 and n2 are a majority of three: a send from the restarted node commits and is shown to both.
  const third = await sendAccepted(bob, room.roomId, 'back again', 'b2', 20_000)
  expect(third).toBe(second + 1)
  for (const c of [alice, bob]) {
    await c.until(() => c.messages(room.roomId).some((m) => m.text === 'back again' && m.seq === third), 10_000, 'back again shown')
  }
  expect(alice.messages(room.roomId).map((m) => m.text)).toEqual(['before the crash', 'after the takeover', 'back again'])
}, 120_000)
