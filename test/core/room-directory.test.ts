import { describe, expect, it } from 'vitest'
import { mergeEntry, newDirectory, removeEntry, type DirectoryEntry } from '../../main/core/room-directory'
import { directoryEntry as entry } from '../helpers/room-directory-fixtures'

describe('room directory merge: who may change what (docs/security.md, client-protocol.md §8)', () => {
  const cases: { name: string; held: DirectoryEntry; heard: DirectoryEntry; result: string; admin: string }[] = [
    { name: 'a newer version from the administrator', held: entry(), heard: entry({ version: 2, name: 'design 2' }), result: 'updated', admin: 'A' },
    { name: 'an older version is ignored', held: entry({ version: 3 }), heard: entry({ version: 2 }), result: 'ignored', admin: 'A' },
    { name: 'a replica takes over in a higher term', held: entry(), heard: entry({ adminNodeId: 'B', adminNodeName: 'n2', term: 2, version: 1 }), result: 'updated', admin: 'B' },
    { name: 'an older term is ignored', held: entry({ adminNodeId: 'B', term: 2 }), heard: entry({ term: 1, version: 9 }), result: 'ignored', admin: 'B' },
    { name: 'another node in the same term: refused', held: entry(), heard: entry({ adminNodeId: 'B', version: 5 }), result: 'refused', admin: 'A' },
    { name: 'a node outside the replica set, whatever its term: refused', held: entry(), heard: entry({ adminNodeId: 'M', adminNodeName: 'mallory', term: 99, replicas: ['M'] }), result: 'refused', admin: 'A' },
    { name: 'an unreplicated room never changes hands', held: entry({ term: 0, replicas: [] }), heard: entry({ adminNodeId: 'B', term: 1, replicas: ['B'] }), result: 'refused', admin: 'A' },
    { name: 'the administrator of an unreplicated room still updates it', held: entry({ term: 0, replicas: [] }), heard: entry({ term: 0, replicas: [], version: 2 }), result: 'updated', admin: 'A' },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const dir = newDirectory()
      expect(mergeEntry(dir, c.held)).toBe('added')
      expect(mergeEntry(dir, c.heard)).toBe(c.result)
      expect(dir.rooms.get('r')?.adminNodeId).toBe(c.admin)
    })
  }

  it('a replica set repaired while this node was cut off: a takeover by a node its replication has seen in the set is accepted, by anyone else refused', () => {
    // Held: A's entry with replicas A, B, C. Meanwhile C was replaced by D, and D took over in term 3;
    // this node (C, removed) learned the new set {A, B, D} from a replica's answer (docs/replication.md).
    const claim = entry({ adminNodeId: 'D', adminNodeName: 'n4', term: 3, replicas: ['A', 'B', 'D'] })
    const known = ['A', 'B', 'C', 'D']
    const dir = newDirectory()
    mergeEntry(dir, entry())
    expect(mergeEntry(dir, claim)).toBe('refused')
    expect(mergeEntry(dir, claim, known)).toBe('updated')
    expect(dir.rooms.get('r')?.adminNodeId).toBe('D')
    // Not for a node the replication never named, nor in a term that is not higher, nor an unreplicated room.
    const other = newDirectory()
    mergeEntry(other, entry())
    expect(mergeEntry(other, entry({ adminNodeId: 'M', term: 99, replicas: ['M'] }), known)).toBe('refused')
    expect(mergeEntry(other, entry({ adminNodeId: 'D', term: 1, version: 5 }), known)).toBe('refused')
    const plain = newDirectory()
    mergeEntry(plain, entry({ term: 0, replicas: [] }))
    expect(mergeEntry(plain, entry({ adminNodeId: 'D', term: 1, replicas: ['D'] }), ['D'])).toBe('refused')
  })

  describe('a member node cut off while a replica was replaced and the new one took over: a replica it knows vouches for the new administrator (docs/replication.md, "Repair")', () => {
    // Held (this member node's entry, stale): A administers in term 1 with replicas A, B, C.
    // Meanwhile C was replaced by D, and D took over in term 3: the set is now {A, B, D}.
    const taken = entry({ adminNodeId: 'D', adminNodeName: 'n4', term: 3, version: 1, replicas: ['D', 'A', 'B'] })
    const cases: { name: string; heard: DirectoryEntry; from: string | undefined; known?: string[]; result: string; admin: string }[] = [
      { name: "D's own entry: D is outside the set this node knows, refused (as before)", heard: taken, from: 'D', result: 'refused', admin: 'A' },
      { name: 'relayed by B, a replica it knows and one the new set names: taken', heard: taken, from: 'B', result: 'updated', admin: 'D' },
      { name: 'relayed by A, the old administrator, still in the new set: taken', heard: taken, from: 'A', result: 'updated', admin: 'D' },
      { name: 'relayed by C, a replica it knows that the new set no longer names (replaced since, it still follows the room): taken', heard: taken, from: 'C', result: 'updated', admin: 'D' },
      { name: 'relayed by C when every replica it knew was replaced (the set is now {D, E, F}): taken', heard: entry({ adminNodeId: 'D', term: 5, replicas: ['D', 'E', 'F'] }), from: 'C', result: 'updated', admin: 'D' },
      { name: 'relayed by M, a key holder outside the set: refused', heard: taken, from: 'M', result: 'refused', admin: 'A' },
      { name: "relayed by B for an outsider that its own set names ('M' in term 99 with B): refused", heard: entry({ adminNodeId: 'M', term: 99, replicas: ['M', 'B'] }), from: 'M', result: 'refused', admin: 'A' },
      { name: 'relayed by B, an entry whose set does not name its administrator: refused', heard: entry({ adminNodeId: 'M', term: 99, replicas: ['A', 'B'] }), from: 'B', result: 'refused', admin: 'A' },
      { name: 'relayed by B in the same term (news within a term is the administrator\'s): ignored', heard: entry({ version: 9, name: 'renamed' }), from: 'B', result: 'ignored', admin: 'A' },
      { name: 'relayed by a node its replication saw in the set (not in its entry): taken', heard: entry({ adminNodeId: 'D', term: 3, replicas: ['D', 'E', 'B'] }), from: 'E', known: ['E'], result: 'updated', admin: 'D' },
    ]
    for (const c of cases) {
      it(c.name, () => {
        const dir = newDirectory()
        mergeEntry(dir, entry())
        expect(mergeEntry(dir, c.heard, c.known ?? [], c.from)).toBe(c.result)
        expect(dir.rooms.get('r')?.adminNodeId).toBe(c.admin)
      })
    }

    it('a room this node does not know, or an unreplicated one, is never learned second-hand', () => {
      const empty = newDirectory()
      expect(mergeEntry(empty, taken, [], 'B')).toBe('ignored')
      expect(empty.rooms.size).toBe(0)
      const plain = newDirectory()
      mergeEntry(plain, entry({ term: 0, replicas: [] }))
      expect(mergeEntry(plain, entry({ adminNodeId: 'B', term: 1, replicas: ['B', 'A'] }), [], 'B')).toBe('refused')
      expect(plain.rooms.get('r')?.adminNodeId).toBe('A')
    })
  })

  describe('a replicated room whose set was its administrator alone (published as `replicas: []`): the set grew and another replica took over before the grown set was published (docs/replication.md, "Repair")', () => {
    // Held: A administers in term 3, a set of one (shown as no replication). A added B and C, and
    // B took the room over in term 15 before A published {A, B}: B's entry names the set {B, A, C}.
    const lone = entry({ term: 3, replicas: [] })
    const taken = entry({ adminNodeId: 'B', adminNodeName: 'n2', term: 15, version: 1, replicas: ['B', 'A', 'C'] })
    const cases: { name: string; held: DirectoryEntry; heard: DirectoryEntry; from?: string; known?: string[]; result: string; admin: string }[] = [
      { name: "A itself (its replication saw B in the set) takes B's entry", held: lone, heard: taken, known: ['A', 'B', 'C'], result: 'updated', admin: 'B' },
      { name: "C, added but never reached, takes B's entry relayed by A, the set's one replica", held: lone, heard: taken, from: 'A', result: 'updated', admin: 'B' },
      { name: "C refuses B's own entry (B is no replica it knows)", held: lone, heard: taken, result: 'refused', admin: 'A' },
      { name: 'relayed by anyone else than A: refused', held: lone, heard: taken, from: 'M', result: 'refused', admin: 'A' },
      { name: 'an unreplicated room (term 0) still never changes hands, relayed or known', held: entry({ term: 0, replicas: [] }), heard: taken, from: 'A', known: ['B'], result: 'refused', admin: 'A' },
      { name: 'an unreplicated room, its administrator taken at its word: refused', held: entry({ term: 0, replicas: [] }), heard: taken, known: ['B'], result: 'refused', admin: 'A' },
    ]
    for (const c of cases) {
      it(c.name, () => {
        const dir = newDirectory()
        mergeEntry(dir, c.held)
        expect(mergeEntry(dir, c.heard, c.known ?? [], c.from)).toBe(c.result)
        expect(dir.rooms.get('r')?.adminNodeId).toBe(c.admin)
      })
    }
  })

  it('a deleted room does not come back', () => {
    const dir = newDirectory()
    mergeEntry(dir, entry())
    removeEntry(dir, 'r', 0)
    expect(mergeEntry(dir, entry({ version: 9 }))).toBe('ignored')
  })
})
