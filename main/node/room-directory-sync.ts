/**
 * This node's copy of the cluster-wide room directory, and the rooms it administers as rooms.json
 * keeps them (docs/architecture.md §1).
 *
 * Merges what Hellos and gossip say about other nodes' rooms, publishes our own, forgets rooms that
 * are deleted (or that their administrator no longer lists), and persists our rooms: rooms.json
 * lists them, and each one's message log (main/store/message-log.ts) holds its messages, so a
 * restarted administrator comes back with its rooms, their history and their exact last seq.
 */
import type { PeerState, RoomInfo, ServerEvent, TraceKind } from '../../proto/client-protocol'
import { ChatError } from '../core/errors'
import { mergeEntry, newDirectory, removeEntry, type Creator, type Directory, type DirectoryEntry } from '../core/room-directory'
import { DEFAULT_LOG_LIMIT, newAdminRoom, restoreLog, type AdminRoom } from '../core/room-ordering'
import type { MessageLog } from '../store/message-log'
import { msg, type NodeRef, type PeerMessage, type WireRoom } from '../cluster/peer-messages'
import type { Clock, Timer } from '../cluster/clock'
import type { NodeStore } from '../store/node-store'
import { toWireRoom } from './peer-wire'


export interface RoomDirectoryComponents {
  readonly nodeId: string
  readonly clock: Clock
  /** A fresh unique id (a room id): random, or from the simulator's seeded generator. */
  newId(): string
  /** Our name: known only once the node listens (it may include the port). */
  nodeName(): string
  readonly store: Pick<NodeStore, 'rooms' | 'saveRooms'>
  readonly messages: Pick<MessageLog, 'open' | 'drop'>
  log(line: string): void
  emit(e: ServerEvent): void
  trace(kind: TraceKind, text: string, roomId?: string, peer?: string): void
  broadcast(m: PeerMessage): void
  peerState(nodeId: string): PeerState | undefined
  /** In the peer table: a room whose administrator we never linked to is not available. */
  knowsPeer(nodeId: string): boolean
  /** A room is gone: the member side forgets it and its sessions leave it. */
  forgetMemberRoom(roomId: string): void
  /** This node now holds `room`'s log (created or restored), or no longer (deleted): the archive follows. */
  roomHeld?(room: AdminRoom): void
  roomDeleted?(roomId: string): void
  /** Replicated rooms (docs/replication.md): the room's term and replica set, if replicated. */
  replicaInfo?(roomId: string): { term: number; replicas: string[]; leads?: boolean } | undefined
  /** Nodes seen in the room's replica set by this node's replication, its own copy let go or not. */
  knownReplicas?(roomId: string): string[]
  /** This node held a replica of the room and let it go (room-replicas.ts). */
  replicaLetGo?(roomId: string): boolean
  /** A room we create: choose its replicas (room-replicas.ts). */
  replicate?(room: AdminRoom): void
  /** A room's administrator changed, or was elected again (gossip of a higher term): the member side follows it. */
  adminChanged?(roomId: string, adminNodeId: string, termRose?: boolean): void
  /** A room is gone: its replica (and log) on this node too. */
  replicaDropped?(roomId: string): void
  /**
   * How long after its administrator is declared dead a replicated room with a live majority may
   * take to be taken over before our clients hear it is unavailable (an election that cannot
   * happen: our side of an asymmetric partition, docs/replication.md, "What a client sees").
   */
  readonly takeoverGraceMs?: number
}

/** How many deleted rooms a Hello or gossip announces (the most recent; peer-schema.ts allows 1000). */
export const DELETED_ANNOUNCED = 500

export class RoomDirectorySync {
  readonly directory: Directory = newDirectory()
  /** The rooms this node administers. */
  readonly adminRooms = new Map<string, AdminRoom>()
  private saveRoomsTimer: Timer | undefined
  /** rooms.json was read at start (restoreRooms). */
  private loaded = false
  /** Sends waiting for a room's entry to change (a new administrator), by room: see entryChange. */
  private readonly changeWaiters = new Map<string, Set<() => void>>()

  constructor(private readonly c: RoomDirectoryComponents) {}

  entryOf(room: AdminRoom): DirectoryEntry {
    return {
      roomId: room.roomId,
      name: room.name,
      adminNodeId: this.c.nodeId,
      adminNodeName: this.c.nodeName(),
      memberCount: room.members.size,
      createdBy: room.createdBy,
      frozen: room.frozen,
      version: room.version,
      term: this.c.replicaInfo?.(room.roomId)?.term ?? 0,
      replicas: this.c.replicaInfo?.(room.roomId)?.replicas ?? [],
    }
  }

  entry(roomId: string): DirectoryEntry {
    const e = this.directory.rooms.get(roomId)
    if (!e) throw new ChatError('not_found', `no room with id ${roomId}`)
    return e
  }

  /** `joined`: whether the session asking has joined the room (room-member.ts knows). */
  roomInfo(e: DirectoryEntry, joined = false): RoomInfo {
    return {
      roomId: e.roomId,
      name: e.name,
      adminNodeId: e.adminNodeId,
      adminNodeName: e.adminNodeName,
      memberCount: e.memberCount,
      available: this.c.peerState(e.adminNodeId) !== 'dead' && (e.adminNodeId === this.c.nodeId || this.c.knowsPeer(e.adminNodeId)),
      joined,
      createdBy: e.createdBy,
      frozen: e.frozen,
      replicas: e.replicas,
      term: e.term,
    }
  }

  /** The whole directory, as a Hello carries it. */
  wireRooms(): WireRoom[] {
    return [...this.directory.rooms.values()].map(toWireRoom)
  }

  /**
   * What anti-entropy gossip carries: the rooms we administer, and the entries of the rooms we hold
   * a replica of as our directory has them, which a node that missed a repair and a takeover takes
   * from us, one of the replicas it knows (docs/replication.md, "Repair"); others ignore them.
   */
  ownWireRooms(): WireRoom[] {
    const out = [...this.adminRooms.values()].map((r) => toWireRoom(this.entryOf(r)))
    for (const e of this.directory.rooms.values()) {
      if (e.adminNodeId !== this.c.nodeId && e.replicas.includes(this.c.nodeId) && this.c.replicaInfo?.(e.roomId)) out.push(toWireRoom(e))
    }
    return out
  }

  /**
   * Resolves when the room's directory entry next changes (a takeover, a handover, a deletion), or
   * after `ms`: a send refused by an administrator that handed the room over goes again the moment
   * the new one's entry arrives, not at the next turn of a polling loop (client-ops.ts, opSend).
   */
  entryChange(roomId: string, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let set = this.changeWaiters.get(roomId)
      if (!set) this.changeWaiters.set(roomId, (set = new Set()))
      const waiters = set
      const done = () => {
        this.c.clock.clear(timer)
        waiters.delete(done)
        if (waiters.size === 0 && this.changeWaiters.get(roomId) === waiters) this.changeWaiters.delete(roomId)
        resolve()
      }
      const timer = this.c.clock.setTimeout(done, ms)
      waiters.add(done)
    })
  }

  private entryChanged(roomId: string): void {
    const set = this.changeWaiters.get(roomId)
    if (set) for (const done of [...set]) done()
  }

  // -------------------------------------------------------------------------------------------
  // Other nodes' rooms

  /**
   * Rooms a Hello or gossip listed: merge them; and rooms it announces deleted: forget them.
   * A deletion is never inferred from a room missing in a list (docs/peer-protocol.md §5): a list
   * held back in a partition is older than rooms created meanwhile.
   */
  learnRooms(from: string, rooms: WireRoom[], deleted: string[]): void {
    // A room's entry is learned from its administrator itself: no node can describe, rename or
    // invent a room of another (docs/security.md). The cluster is a full mesh, so every
    // administrator's own Hello and gossip reach us directly. The one exception is a takeover we
    // cannot check ourselves: an entry of a higher term relayed by a replica of the room as we know
    // it (mergeEntry's `vouchedBy`; docs/replication.md, "Repair").
    for (const id of deleted) this.learnDeleted(from, id)
    for (const r of rooms) this.mergeRoom(r, r?.adminNodeId === from ? undefined : from)
  }

  /**
   * `from` says `roomId` was deleted (a lost RoomRemoved, announced again): believed from the
   * room's administrator or one of its replicas as we know them, like a RoomRemoved.
   */
  private learnDeleted(from: string, roomId: string): void {
    if (typeof roomId !== 'string' || this.directory.tombstones.has(roomId)) return
    const e = this.directory.rooms.get(roomId)
    const replicas = this.c.replicaInfo?.(roomId)?.replicas ?? []
    if (!(e && (e.adminNodeId === from || e.replicas.includes(from))) && !replicas.includes(from)) return
    this.c.log(`room ${e?.name ?? roomId} was deleted (announced by ${e?.adminNodeId === from ? 'its administrator' : 'a replica'}): forgetting it`)
    this.dropRoom(roomId)
  }

  /**
   * The rooms our Hello and anti-entropy gossip announce deleted: the deletion log's tombstones
   * (they survive a restart) and the directory's, most recent first.
   */
  deletedRooms(logged: readonly string[]): string[] {
    const out = new Set<string>()
    const recent = [...this.directory.tombstones.keys()]
    for (let i = recent.length - 1; i >= 0 && out.size < DELETED_ANNOUNCED; i--) out.add(recent[i])
    for (let i = logged.length - 1; i >= 0 && out.size < DELETED_ANNOUNCED; i--) out.add(logged[i])
    return [...out]
  }

  /** `vouchedBy`: the node that relayed the entry, when it is not the entry's administrator. */
  mergeRoom(r: WireRoom, vouchedBy?: string): void {
    if (!r?.roomId || !r.adminNodeId || typeof r.name !== 'string') return
    // Our own rooms are ours to describe: gossip about them cannot override what we hold.
    if (r.adminNodeId === this.c.nodeId) return
    // Most entries are repeats (anti-entropy gossip, Hellos): what mergeEntry ignores before it looks
    // any further (not newer than the entry held; a relayed one not of a higher term; a deleted
    // room) is left here, without the entry's copy and the replicas known (docs/simulation.md, "Speed").
    const held = this.directory.rooms.get(r.roomId)
    const term = Number(r.term ?? 0)
    if (this.directory.tombstones.has(r.roomId)) return
    if (vouchedBy !== undefined && vouchedBy !== r.adminNodeId ? !held || term <= held.term : held && (term < held.term || (term === held.term && r.version <= held.version))) return
    const entry: DirectoryEntry = { ...r, frozen: !!r.frozen, term: Number(r.term ?? 0), replicas: Array.isArray(r.replicas) ? r.replicas : [] }
    const before = this.directory.rooms.get(r.roomId)
    const result = mergeEntry(this.directory, entry, this.c.knownReplicas?.(r.roomId), vouchedBy)
    // A Hello relays the whole directory: an entry relayed by a node that cannot vouch for it is
    // dropped quietly, as entries about other nodes' rooms always were.
    if (result === 'refused' && vouchedBy !== undefined) return
    if (result === 'refused') {
      const cur = this.directory.rooms.get(r.roomId)
      this.c.log(`refused the claim of ${r.adminNodeName} to administer room ${cur?.name ?? r.roomId} in term ${entry.term}: not one of its replicas, or not a higher term`)
      this.c.trace('peer', `refused ${r.adminNodeName}'s claim to room ${cur?.name ?? r.roomId} (term ${entry.term})`, r.roomId, r.adminNodeName)
      return
    }
    if (result === 'updated' && before && before.adminNodeId !== entry.adminNodeId) {
      // A replica took the room over (client-protocol.md §8): forwards go to it from now on.
      // A node that merely went silent (suspect here, dead at the replica that took over) left; only
      // one still alive handed the room over (docs/ui.md: the notice says which).
      const why = this.c.peerState(before.adminNodeId) !== 'alive' ? `${before.adminNodeName} left` : `${before.adminNodeName} handed it over`
      this.c.log(`room ${entry.name}: administrator is now ${entry.adminNodeName} (term ${entry.term}; ${why})`)
      this.c.emit({ event: 'room.admin_changed', roomId: entry.roomId, adminNodeId: entry.adminNodeId, adminNodeName: entry.adminNodeName, term: entry.term, reason: why })
      this.c.adminChanged?.(entry.roomId, entry.adminNodeId)
    } else if (result === 'updated' && before && entry.term > before.term) {
      this.c.adminChanged?.(entry.roomId, entry.adminNodeId, true)
    }
    if (result === 'added') {
      this.c.emit({ event: 'room.created', room: this.roomInfo(entry) })
      this.c.trace('gossip', `learned room ${r.name} of ${r.adminNodeName}`, r.roomId)
    }
    if (result === 'updated' && before && (before.adminNodeId !== entry.adminNodeId || entry.term > before.term)) this.entryChanged(entry.roomId)
  }

  /** Tell our clients that the rooms of a dead administrator are unavailable. */
  adminUnreachable(peer: NodeRef): void {
    for (const room of this.directory.rooms.values()) {
      if (room.adminNodeId !== peer.nodeId) continue
      // A replicated room with a live majority is taken over, not unavailable (client-protocol.md §8).
      const live = room.replicas.filter((r) => r !== peer.nodeId && this.c.peerState(r) !== 'dead').length
      if (room.replicas.length > 1 && live >= Math.floor(room.replicas.length / 2) + 1) {
        // ... unless no takeover comes: then it is unavailable to our clients after all.
        const { roomId, term } = room
        this.c.clock.setTimeout(() => {
          const now = this.directory.rooms.get(roomId)
          if (now && now.adminNodeId === peer.nodeId && now.term === term && this.c.peerState(peer.nodeId) === 'dead') {
            this.c.emit({ event: 'room.unavailable', roomId, reason: `administrator ${peer.name} is unreachable and no replica took the room over` })
          }
        }, this.c.takeoverGraceMs ?? 4500)
        continue
      }
      this.c.emit({ event: 'room.unavailable', roomId: room.roomId, reason: `administrator ${peer.name} is unreachable` })
    }
  }

  /** ... and available again when it is back. */
  adminBack(peer: NodeRef): void {
    for (const room of this.directory.rooms.values()) {
      if (room.adminNodeId !== peer.nodeId) continue
      this.c.emit({ event: 'room.available', roomId: room.roomId, reason: `administrator ${peer.name} is back` })
    }
  }

  // -------------------------------------------------------------------------------------------
  // Our rooms

  createRoom(name: string, createdBy: Creator): AdminRoom {
    const room = newAdminRoom({ roomId: this.c.newId(), name, createdBy, createdAt: this.c.clock.now() })
    this.c.messages.open(room.roomId, 0)
    this.adminRooms.set(room.roomId, room)
    this.c.replicate?.(room)
    this.publishRoom(room)
    this.flushRooms()
    this.c.roomHeld?.(room)
    this.c.emit({ event: 'room.created', room: this.roomInfo(this.entryOf(room)) })
    this.c.trace('gossip', `created room ${name}`, room.roomId)
    return room
  }

  /** Our room changed: update our entry and tell every peer. */
  publishRoom(room: AdminRoom): void {
    // A replicated room only while this node leads it, and not once its replica was let go: a
    // change finishing on the room after its replica learned of a new administrator put our entry,
    // in the new administrator's term (or as an unreplicated room, term 0, once the replica was
    // dropped), over that administrator's, and every later entry of that term was refused as a claim
    // to our room (found by the simulator, seeds 77 and 78 with `--repair-ms 2000`).
    const info = this.c.replicaInfo?.(room.roomId)
    if (info ? info.leads === false : this.c.replicaLetGo?.(room.roomId)) return
    const entry = this.entryOf(room)
    this.directory.rooms.set(room.roomId, entry)
    this.c.broadcast(msg('gossip', { nodes: [], rooms: [toWireRoom(entry)] }))
    this.scheduleSaveRooms()
  }

  /**
   * This node won a replicated room's election (docs/replication.md): it administers the room now.
   * Our entry (higher term) goes to every peer; our clients hear who runs the room.
   */
  takeOver(room: AdminRoom, previous: { nodeId: string; name: string } | null): void {
    this.adminRooms.set(room.roomId, room)
    this.publishRoom(room)
    this.c.roomHeld?.(room)
    const e = this.entryOf(room)
    const why = previous ? (this.c.peerState(previous.nodeId) !== 'alive' ? `${previous.name} left` : `${previous.name} handed it over`) : 'elected'
    this.c.emit({ event: 'room.admin_changed', roomId: room.roomId, adminNodeId: e.adminNodeId, adminNodeName: e.adminNodeName, term: e.term, reason: why })
    this.entryChanged(room.roomId)
  }

  /** A replicated room this node administered is run by another now: it is not ours any more. */
  letGo(roomId: string): void {
    this.adminRooms.delete(roomId)
    this.scheduleSaveRooms()
  }

  /** A room is gone (deleted): forget it everywhere on this node and tell our clients. */
  dropRoom(roomId: string): void {
    const had = removeEntry(this.directory, roomId, this.c.clock.now())
    // A deleted room of ours takes its message log with it.
    if (this.adminRooms.delete(roomId)) {
      this.c.messages.drop(roomId)
      this.c.roomDeleted?.(roomId)
    }
    this.c.forgetMemberRoom(roomId)
    this.c.replicaDropped?.(roomId)
    this.scheduleSaveRooms()
    if (had) this.c.emit({ event: 'room.deleted', roomId })
    this.entryChanged(roomId)
  }

  // -------------------------------------------------------------------------------------------
  // rooms.json

  /** At start: our rooms come back from rooms.json, each with its log's tail and exact last seq. */
  restoreRooms(): void {
    const stored = this.c.store.rooms()
    // Read (or known missing): from now on rooms.json is ours to write (see flushRooms).
    this.loaded = true
    for (const r of stored) {
      // Adopted by replication at an earlier start (replication.json has it) but still listed here
      // (a crash between the two writes): the replica is the room, not this old entry.
      if (this.c.replicaInfo?.(r.roomId)) continue
      // A replicated room this node let go (removed from its replica set while away) that rooms.json
      // still lists: not ours to administer, nor to adopt as an unreplicated room with no log.
      if (this.c.replicaLetGo?.(r.roomId)) continue
      const createdBy = typeof r.createdBy === 'string' ? { user: r.createdBy, nodeId: this.c.nodeId } : r.createdBy
      const room = newAdminRoom({ roomId: r.roomId, name: r.name, createdBy, createdAt: r.createdAt, lastSeq: r.lastSeq })
      room.version = (r.version ?? 1) + 1
      const log = this.c.messages.open(r.roomId, DEFAULT_LOG_LIMIT)
      // The log is the truth for lastSeq; rooms.json's own count only matters for a room without one.
      restoreLog(room, log.tail, log.lastSeq)
      this.adminRooms.set(room.roomId, room)
      this.directory.rooms.set(room.roomId, this.entryOf(room))
      this.c.roomHeld?.(room)
    }
  }

  scheduleSaveRooms(): void {
    if (this.saveRoomsTimer) return
    // Debounced: member counts and versions change often; messages are in the log already.
    this.saveRoomsTimer = this.c.clock.setTimeout(() => this.flushRooms(), 200)
  }

  /** Save rooms.json now. */
  flushRooms(): void {
    this.c.clock.clear(this.saveRoomsTimer)
    this.saveRoomsTimer = undefined
    // Never before rooms.json was read: a node that failed to start because the file is corrupt
    // must leave it as it is for the user to repair, not replace it with an empty list.
    if (!this.loaded) return
    try {
      this.c.store.saveRooms(
        // Replicated rooms come back from replication.json as replicas, never as ours (room-replicas.ts).
        [...this.adminRooms.values()].filter((r) => !this.c.replicaInfo?.(r.roomId)).map((r) => ({
          roomId: r.roomId,
          name: r.name,
          createdBy: r.createdBy,
          createdAt: r.createdAt,
          lastSeq: r.lastSeq,
          version: r.version,
        })),
      )
    } catch (e) {
      this.c.log(`cannot save rooms: ${(e as Error).message}`)
    }
  }
}
