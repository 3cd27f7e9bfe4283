/**
 * The cluster-wide room directory (docs/architecture.md §1): every node
 * keeps a copy and merges what peers gossip. Each entry is owned by the room's administrator, which
 * raises `version` at every change, so merging is "higher version wins" and converges whatever the
 * order in which gossip arrives. Deleted rooms leave a tombstone so that a late gossip of the old
 * entry cannot bring them back.
 */

export interface DirectoryEntry {
  roomId: string
  name: string
  adminNodeId: string
  adminNodeName: string
  memberCount: number
  /** A user is a name on a node (client-protocol.md section 7). */
  createdBy: Creator
  frozen: boolean
  version: number
  /** Replicated rooms (docs/replication.md): rises at each change of administrator; 0 = unreplicated. */
  term: number
  /** The nodes that hold the room's log (the administrator first); [] = unreplicated. */
  replicas: string[]
}

export interface Creator {
  user: string
  nodeId: string
}

export interface Directory {
  rooms: Map<string, DirectoryEntry>
  /** roomId -> when it was deleted (ms); bounded. */
  tombstones: Map<string, number>
}

export const TOMBSTONE_LIMIT = 10_000

export function newDirectory(): Directory {
  return { rooms: new Map(), tombstones: new Map() }
}

/**
 * 'ignored': older than what we hold. 'refused': a change of administrator that no takeover can
 * explain (docs/security.md, "Authority of peer messages"): the claimant is not one of the room's
 * replicas as we know them, or claims the room in a term not higher than the current one.
 */
export type MergeResult = 'added' | 'updated' | 'ignored' | 'refused'

/**
 * Merge one entry heard from a peer (or set by this node as administrator). `knownReplicas`: nodes
 * this node has seen in the room's replica set from the replication itself (appends and votes of
 * the room's replicas, docs/replication.md), which may be newer than the entry it holds: a node cut
 * off while the set was repaired holds an entry whose set no longer names the administrator.
 *
 * `vouchedBy`: the entry was relayed by that node, not said by its administrator (a second-hand
 * entry, docs/security.md "Authority of peer messages"). It is taken only to move a known
 * replicated room to a higher term, only from a replica of the room as this node knows it, and only
 * if the new entry's set names its administrator: how a node that is only a member, cut off while
 * replicas were replaced by repair and a new one took the room over, learns who runs the room (the
 * new administrator is outside the set it knows, so its own entry is refused). The voucher need not
 * be in the new set: every replica this node knew may have been replaced meanwhile, and the ones
 * replaced still follow the room's entries (docs/replication.md, "Repair"). Requiring it would not
 * stop a lying replica either, which can name itself in the set it makes up.
 */
export function mergeEntry(dir: Directory, entry: DirectoryEntry, knownReplicas: readonly string[] = [], vouchedBy?: string): MergeResult {
  if (dir.tombstones.has(entry.roomId)) return 'ignored'
  const cur = dir.rooms.get(entry.roomId)
  if (vouchedBy !== undefined && vouchedBy !== entry.adminNodeId) {
    // Never a room we do not know, nor news within a term: both are the administrator's to tell.
    if (!cur || entry.term <= cur.term) return 'ignored'
    const knownReplica = replicaSetOf(cur).includes(vouchedBy) || knownReplicas.includes(vouchedBy)
    if (cur.term === 0 || !knownReplica || !entry.replicas.includes(entry.adminNodeId)) return 'refused'
    dir.rooms.set(entry.roomId, { ...entry })
    return 'updated'
  }
  if (!cur) {
    dir.rooms.set(entry.roomId, { ...entry })
    return 'added'
  }
  // A new administrator (higher term) wins whatever the version; within a term, the higher version.
  if (entry.term < cur.term || (entry.term === cur.term && entry.version <= cur.version)) return 'ignored'
  // A room changes hands only by an election among its replicas, for a higher term (client-protocol.md
  // §8): an unreplicated room never does, and a node outside the replica set cannot claim one.
  if (entry.adminNodeId !== cur.adminNodeId && (entry.term <= cur.term || cur.term === 0 || !(replicaSetOf(cur).includes(entry.adminNodeId) || knownReplicas.includes(entry.adminNodeId)))) return 'refused'
  dir.rooms.set(entry.roomId, { ...entry })
  return 'updated'
}

/**
 * The nodes that hold an entry's log. A replicated room (term above 0) whose set is its
 * administrator alone is published with `replicas: []`, as an unreplicated room is (a set of one
 * is shown as no replication, client-protocol.md §8), but it is still replicated: repair grows it
 * from its administrator, which may hand it over, or lose it to a replica it added, before it
 * publishes the grown set (docs/replication.md, "Repair"). Its set is its administrator.
 */
export function replicaSetOf(e: DirectoryEntry): readonly string[] {
  return e.replicas.length === 0 && e.term > 0 ? [e.adminNodeId] : e.replicas
}

/** Remove a room for good; returns whether it was listed. */
export function removeEntry(dir: Directory, roomId: string, now: number): boolean {
  const had = dir.rooms.delete(roomId)
  dir.tombstones.set(roomId, now)
  if (dir.tombstones.size > TOMBSTONE_LIMIT) {
    const oldest = dir.tombstones.keys().next().value
    if (oldest !== undefined) dir.tombstones.delete(oldest)
  }
  return had
}
