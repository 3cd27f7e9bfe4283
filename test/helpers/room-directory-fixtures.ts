/**
 * Fixtures of the room directory's tests (main/core/room-directory.ts, main/node/room-directory-sync.ts):
 * one entry of room "r" and a RoomDirectorySync with no node around it. The tests of who may change
 * an entry (docs/security.md, "Authority of peer messages") then differ only in what they change.
 */
import type { Clock, Timer } from '../../main/cluster/clock'
import type { DirectoryEntry } from '../../main/core/room-directory'
import { RoomDirectorySync, type RoomDirectoryComponents } from '../../main/node/room-directory-sync'

/** Room r ("design", alice's), administered by A in term 1, its log on A, B and C; `over` changes any field. */
export const directoryEntry = (over: Partial<DirectoryEntry> = {}): DirectoryEntry => ({
  roomId: 'r',
  name: 'design',
  adminNodeId: 'A',
  adminNodeName: 'n1',
  memberCount: 1,
  createdBy: { user: 'alice', nodeId: 'A' },
  frozen: false,
  version: 1,
  term: 1,
  replicas: ['A', 'B', 'C'],
  ...over,
})

/** A clock whose time never moves and whose timers never fire: the directory's merges need none. */
const stoppedClock: Clock = { now: () => 0, setTimeout: () => ({}) as Timer, setInterval: () => ({}) as Timer, clear: () => {} }

/**
 * Node `nodeId`'s directory sync alone: no disk, no peers (every peer alive and known), nothing
 * logged or emitted, unless `over` supplies that component (to record what the sync does).
 */
export function bareDirectorySync(nodeId: string, over: Partial<RoomDirectoryComponents> = {}): RoomDirectorySync {
  return new RoomDirectorySync({
    nodeId,
    clock: stoppedClock,
    newId: () => 'x',
    nodeName: () => nodeId,
    store: { rooms: () => [], saveRooms: () => {} },
    messages: { open: () => ({ tail: [], lastSeq: 0 }) as never, drop: () => {} },
    log: () => {},
    emit: () => {},
    trace: () => {},
    broadcast: () => {},
    peerState: () => 'alive',
    knowsPeer: () => true,
    forgetMemberRoom: () => {},
    ...over,
  })
}
