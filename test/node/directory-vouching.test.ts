/**
 * A node that is only a member of a replicated room, cut off while a replica was replaced by repair
 * and the new replica then took the room over (docs/replication.md, "Repair"): the new
 * administrator's own entry names a node outside the set it knows, so it is refused; a replica it
 * knows relays the new entry (a Hello's directory, or the anti-entropy gossip of a replica) and
 * vouches for it. Anyone else relaying it, or claiming the room, changes nothing (docs/security.md).
 */
import { describe, expect, it } from 'vitest'
import type { ServerEvent } from '../../proto/client-protocol'
import type { DirectoryEntry } from '../../main/core/room-directory'
import { bareDirectorySync, directoryEntry } from '../helpers/room-directory-fixtures'

/** Room r as its members knew it: A administers it in term 1, its log on A, B and C. */
const stale = directoryEntry({ memberCount: 3, version: 4 })
/** Meanwhile C died and was replaced by D, and D took the room over in term 3. */
const current: DirectoryEntry = { ...stale, adminNodeId: 'D', adminNodeName: 'n4', term: 3, version: 1, replicas: ['D', 'A', 'B'] }

/** A node `nodeId` holding `held`; `replicaOf`: rooms it holds a replica of (term, set). */
function node(nodeId: string, held: DirectoryEntry, replicaOf: Record<string, { term: number; replicas: string[] }> = {}) {
  const events: ServerEvent[] = []
  const logs: string[] = []
  const adminChanges: string[] = []
  const sync = bareDirectorySync(nodeId, {
    log: (l) => logs.push(l),
    emit: (e) => events.push(e),
    replicaInfo: (roomId) => replicaOf[roomId],
    knownReplicas: () => [],
    adminChanged: (roomId, admin) => adminChanges.push(`${roomId}:${admin}`),
  })
  sync.learnRooms(held.adminNodeId, [held], [])
  events.length = 0
  return { sync, events, logs, adminChanges, admin: () => sync.directory.rooms.get('r')?.adminNodeId }
}

describe('a member node that missed a repair and a takeover (docs/replication.md, "Repair")', () => {
  it("refuses the new administrator's own entry, as before: it is outside the set the node knows", () => {
    const m = node('M', stale)
    m.sync.learnRooms('D', [current], [])
    expect(m.admin()).toBe('A')
    expect(m.logs.join('\n')).toMatch(/refused the claim of n4/)
  })

  it("follows the new administrator once a replica it knows relays the entry (B's Hello); D's own gossip then updates it", () => {
    const m = node('M', stale)
    m.sync.learnRooms('D', [current], [])
    m.sync.learnRooms('B', [current], [])
    expect(m.admin()).toBe('D')
    expect(m.adminChanges).toEqual(['r:D'])
    expect(m.events).toContainEqual(expect.objectContaining({ event: 'room.admin_changed', roomId: 'r', adminNodeId: 'D', term: 3 }))
    m.sync.learnRooms('D', [{ ...current, version: 2, memberCount: 4 }], [])
    expect(m.sync.directory.rooms.get('r')).toMatchObject({ adminNodeId: 'D', version: 2, memberCount: 4 })
  })

  it('a replica it knew that was replaced since (the new set no longer names it) vouches too: every replica it knew may have been', () => {
    const m = node('M', stale)
    m.sync.learnRooms('C', [{ ...current, term: 5, replicas: ['D', 'E', 'F'] }], [])
    expect(m.admin()).toBe('D')
    expect(m.events).toContainEqual(expect.objectContaining({ event: 'room.admin_changed', roomId: 'r', adminNodeId: 'D', term: 5 }))
  })

  it('an entry relayed by a node that cannot vouch for it changes nothing, and is dropped quietly', () => {
    const m = node('M', stale)
    // E: a key holder outside the set, relaying the true entry, or claiming the room itself with a
    // set that names it (first-hand: refused and logged, as any claim from outside the set).
    m.sync.learnRooms('E', [current, { ...current, adminNodeId: 'E', adminNodeName: 'mallory', term: 99, replicas: ['E', 'B'] }], [])
    // B relaying a claim in the same term (a rename is the administrator's to make).
    m.sync.learnRooms('B', [{ ...stale, version: 9, name: 'renamed' }], [])
    expect(m.sync.directory.rooms.get('r')).toMatchObject({ adminNodeId: 'A', term: 1, name: 'design' })
    expect(m.events).toEqual([])
    expect(m.logs.filter((l) => /refused/.test(l))).toEqual([expect.stringMatching(/refused the claim of mallory .* term 99/)])
  })

  it("a room nobody told it of is not learned second-hand, even from a room's replica", () => {
    const m = node('M', { ...stale, roomId: 'other' })
    m.sync.learnRooms('B', [current], [])
    expect(m.sync.directory.rooms.has('r')).toBe(false)
  })

  it("a replica's anti-entropy gossip carries the entries of the rooms it holds a replica of, not the others'", () => {
    const b = node('B', current, { r: { term: 3, replicas: ['D', 'A', 'B'] } })
    b.sync.learnRooms('F', [{ ...stale, roomId: 'q', adminNodeId: 'F', replicas: ['F', 'G', 'H'] }], [])
    expect(b.sync.ownWireRooms().map((e) => `${e.roomId}:${e.adminNodeId}:${e.term}`)).toEqual(['r:D:3'])
  })
})
