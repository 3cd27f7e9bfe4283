/**
 * Gossip and Hellos repeat the entries a node already holds (docs/peer-protocol.md): a repeat, an
 * older entry, a relayed one that is not of a higher term and one of a deleted room change nothing
 * and are dropped before the node copies the entry or looks up the replicas it knows (the
 * simulator's hot path, docs/simulation.md "Speed"); anything newer is still taken.
 */
import { describe, expect, it } from 'vitest'
import { bareDirectorySync, directoryEntry } from '../helpers/room-directory-fixtures'

const room = directoryEntry({ memberCount: 3, version: 4, term: 2 })

function member() {
  let lookups = 0
  const sync = bareDirectorySync('M', {
    replicaInfo: () => undefined,
    knownReplicas: () => {
      lookups++
      return []
    },
    adminChanged: () => {},
  })
  sync.learnRooms('A', [room], [])
  return { sync, held: () => sync.directory.rooms.get('r'), lookups: () => lookups }
}

describe('entries a node already holds', () => {
  it('a repeat, an older version or term, and a relayed entry of no higher term change nothing and cost no lookup', () => {
    const m = member()
    const before = m.lookups()
    const held = m.held()
    m.sync.learnRooms('A', [{ ...room }], [])
    m.sync.learnRooms('A', [{ ...room, version: 3, memberCount: 9 }], [])
    m.sync.learnRooms('A', [{ ...room, term: 1, version: 9 }], [])
    m.sync.mergeRoom({ ...room, adminNodeId: 'B', adminNodeName: 'n2', version: 8 }, 'C')
    expect(m.held()).toBe(held)
    expect(m.lookups()).toBe(before)
  })

  it('a newer version, a higher term and a relayed takeover are still taken', () => {
    const m = member()
    m.sync.learnRooms('A', [{ ...room, version: 5, memberCount: 4 }], [])
    expect(m.held()).toMatchObject({ version: 5, memberCount: 4 })
    m.sync.learnRooms('A', [{ ...room, term: 3, version: 1 }], [])
    expect(m.held()).toMatchObject({ term: 3, version: 1 })
    m.sync.mergeRoom({ ...room, adminNodeId: 'B', adminNodeName: 'n2', term: 4, version: 1 }, 'C')
    expect(m.held()).toMatchObject({ adminNodeId: 'B', term: 4 })
  })

  it('an entry of a room known deleted is dropped', () => {
    const m = member()
    m.sync.directory.rooms.delete('r')
    m.sync.directory.tombstones.set('r', 0)
    m.sync.learnRooms('A', [{ ...room, version: 9 }], [])
    expect(m.held()).toBeUndefined()
  })
})
