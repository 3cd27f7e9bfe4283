/**
 * This node's copy of the cluster-wide room directory, and the rooms it administers as rooms.json
 * keeps them (architecture.md, "Rooms" and "Cluster membership").
 *
 * Merges what Hellos and gossip say about other nodes' rooms, publishes our own, forgets rooms that
 * are deleted (or that their administrator no longer lists), and persists our rooms with a seq
 * ceiling so that a restart never reuses a seq (see SEQ_LEASE).
 */
import { randomUUID } from 'node:crypto'
import type { PeerState, RoomInfo, ServerEvent, TraceKind } from '../../proto/client-protocol'
import { ChatError } from '../core/errors'
import { mergeEntry, newDirectory, removeEntry, type Directory, type DirectoryEntry } from '../core/room-directory'
import { newAdminRoom, type AdminRoom } from '../core/room-ordering'
import { msg, type NodeRef, type PeerMessage, type WireRoom } from '../cluster/peer-messages'
import type { ClientSession } from '../gateway/ws-gateway'
import type { NodeStore } from './node-store'
import { toWireRoom } from './peer-wire'

/**
 * Seqs an administrator may hand out beyond what rooms.json records. rooms.json is saved with a
 * debounce, so after a kill -9 it can be behind the seqs members already saw; it therefore records a
 * ceiling (lastSeq + SEQ_LEASE, saved synchronously before a seq passes it) and a restarted node
 * continues above it. A crash costs a jump in seq (members skip it as a gap the administrator no
 * longer has); it never reuses a seq, which clients would drop as a duplicate. A graceful stop saves
 * the exact lastSeq, so a clean restart continues without a jump. A busy room gets a longer lease
 * (twice what it ordered since the previous save), so the debounced save keeps its ceiling ahead and
 * no send waits for a synchronous one; a quiet room jumps by at most SEQ_LEASE.
 */
const SEQ_LEASE = 64

export interface RoomDirectoryComponents {
  readonly nodeId: string
  /** Our name: known only once the node listens (it may include the port). */
  nodeName(): string
  readonly store: Pick<NodeStore, 'rooms' | 'saveRooms'>
  log(line: string): void
  emit(e: ServerEvent): void
  trace(kind: TraceKind, text: string, roomId?: string, peer?: string): void
  broadcast(m: PeerMessage): void
  peerState(nodeId: string): PeerState | undefined
  /** In the peer table: a room whose administrator we never linked to is not available. */
  knowsPeer(nodeId: string): boolean
  /** A room is gone: the member side forgets it and its sessions leave it. */
  forgetMemberRoom(roomId: string): void
}

export class RoomDirectorySync {
  readonly directory: Directory = newDirectory()
  /** The rooms this node administers. */
  readonly adminRooms = new Map<string, AdminRoom>()
  private saveRoomsTimer: NodeJS.Timeout | undefined
  /** Per room: the highest seq rooms.json allows (see SEQ_LEASE). */
  private readonly seqCeiling = new Map<string, number>()
  /** Per room: lastSeq when rooms.json was last saved (how busy the room is, for its lease). */
  private readonly savedSeq = new Map<string, number>()

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
    }
  }

  entry(roomId: string): DirectoryEntry {
    const e = this.directory.rooms.get(roomId)
    if (!e) throw new ChatError('not_found', `no room with id ${roomId}`)
    return e
  }

  roomInfo(e: DirectoryEntry, session?: ClientSession): RoomInfo {
    return {
      roomId: e.roomId,
      name: e.name,
      adminNodeId: e.adminNodeId,
      adminNodeName: e.adminNodeName,
      memberCount: e.memberCount,
      available: this.c.peerState(e.adminNodeId) !== 'dead' && (e.adminNodeId === this.c.nodeId || this.c.knowsPeer(e.adminNodeId)),
      joined: session ? session.rooms.has(e.roomId) : false,
      createdBy: e.createdBy,
      frozen: e.frozen,
    }
  }

  /** The whole directory, as a Hello carries it. */
  wireRooms(): WireRoom[] {
    return [...this.directory.rooms.values()].map(toWireRoom)
  }

  /** The rooms we administer, as anti-entropy gossip carries them. */
  ownWireRooms(): WireRoom[] {
    return [...this.adminRooms.values()].map((r) => toWireRoom(this.entryOf(r)))
  }

  // -------------------------------------------------------------------------------------------
  // Other nodes' rooms

  /** Rooms a Hello or gossip listed: merge them, and forget ours of `from` it no longer lists. */
  learnRooms(from: string, rooms: WireRoom[], complete: boolean): void {
    for (const r of rooms) this.mergeRoom(r)
    if (complete) this.reconcileRoomsOf(from, rooms)
  }

  mergeRoom(r: WireRoom): void {
    if (!r?.roomId || !r.adminNodeId || typeof r.name !== 'string') return
    // Our own rooms are ours to describe: gossip about them cannot override what we hold.
    if (r.adminNodeId === this.c.nodeId) return
    const entry: DirectoryEntry = { ...r, frozen: !!r.frozen }
    const result = mergeEntry(this.directory, entry)
    if (result === 'added') {
      this.c.emit({ event: 'room.created', room: this.roomInfo(entry) })
      this.c.trace('gossip', `learned room ${r.name} of ${r.adminNodeName}`, r.roomId)
    }
  }

  /**
   * `rooms` is everything `adminNodeId` administers now: a room of it we still list but it does not
   * was deleted while we were not listening (a lost RoomRemoved): forget it too.
   */
  private reconcileRoomsOf(adminNodeId: string, rooms: WireRoom[]): void {
    if (adminNodeId === this.c.nodeId) return
    const listed = new Set(rooms.filter((r) => r.adminNodeId === adminNodeId).map((r) => r.roomId))
    for (const e of [...this.directory.rooms.values()]) {
      if (e.adminNodeId !== adminNodeId || listed.has(e.roomId)) continue
      this.c.log(`room ${e.name} is no longer listed by its administrator ${e.adminNodeName}: forgetting it`)
      this.dropRoom(e.roomId)
    }
  }

  /** Tell our clients that the rooms of a dead administrator are unavailable. */
  adminUnreachable(peer: NodeRef): void {
    for (const room of this.directory.rooms.values()) {
      if (room.adminNodeId !== peer.nodeId) continue
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

  createRoom(name: string, createdBy: string): AdminRoom {
    const room = newAdminRoom({ roomId: randomUUID(), name, createdBy, createdAt: Date.now() })
    this.adminRooms.set(room.roomId, room)
    this.publishRoom(room)
    this.flushRooms()
    this.c.emit({ event: 'room.created', room: this.roomInfo(this.entryOf(room)) })
    this.c.trace('gossip', `created room ${name}`, room.roomId)
    return room
  }

  /** Our room changed: update our entry and tell every peer. */
  publishRoom(room: AdminRoom): void {
    const entry = this.entryOf(room)
    this.directory.rooms.set(room.roomId, entry)
    this.c.broadcast(msg('gossip', { nodes: [], rooms: [toWireRoom(entry)] }))
    this.scheduleSaveRooms()
  }

  /** A room is gone (deleted): forget it everywhere on this node and tell our clients. */
  dropRoom(roomId: string): void {
    const had = removeEntry(this.directory, roomId, Date.now())
    this.adminRooms.delete(roomId)
    this.c.forgetMemberRoom(roomId)
    this.scheduleSaveRooms()
    if (had) this.c.emit({ event: 'room.deleted', roomId })
  }

  // -------------------------------------------------------------------------------------------
  // rooms.json

  /** At start: our rooms come back from rooms.json, each above the seq ceiling it recorded. */
  restoreRooms(): void {
    for (const r of this.c.store.rooms()) {
      const room = newAdminRoom({ roomId: r.roomId, name: r.name, createdBy: r.createdBy, createdAt: r.createdAt, lastSeq: r.lastSeq })
      room.version = (r.version ?? 1) + 1
      this.adminRooms.set(room.roomId, room)
      this.directory.rooms.set(room.roomId, this.entryOf(room))
    }
  }

  /** Before `room` orders its next message. */
  reserveNextSeq(room: AdminRoom): void {
    // Durable before anyone can see it: never hand out a seq above the ceiling rooms.json holds.
    if (room.lastSeq + 1 > (this.seqCeiling.get(room.roomId) ?? 0)) this.flushRooms()
  }

  scheduleSaveRooms(): void {
    if (this.saveRoomsTimer) return
    // Debounced: a busy room changes lastSeq thousands of times a second.
    this.saveRoomsTimer = setTimeout(() => this.flushRooms(), 200)
  }

  /** Save rooms.json now; `exact` only once nothing can send any more (see SEQ_LEASE). */
  flushRooms(exact = false): void {
    clearTimeout(this.saveRoomsTimer)
    this.saveRoomsTimer = undefined
    const ceiling = new Map<string, number>()
    for (const r of this.adminRooms.values()) {
      const recent = r.lastSeq - (this.savedSeq.get(r.roomId) ?? r.lastSeq)
      ceiling.set(r.roomId, exact ? r.lastSeq : r.lastSeq + Math.max(SEQ_LEASE, 2 * recent))
    }
    try {
      this.c.store.saveRooms(
        [...this.adminRooms.values()].map((r) => ({
          roomId: r.roomId,
          name: r.name,
          createdBy: r.createdBy,
          createdAt: r.createdAt,
          lastSeq: ceiling.get(r.roomId)!,
          version: r.version,
        })),
      )
      for (const r of this.adminRooms.values()) {
        this.seqCeiling.set(r.roomId, ceiling.get(r.roomId)!)
        this.savedSeq.set(r.roomId, r.lastSeq)
      }
    } catch (e) {
      this.c.log(`cannot save rooms: ${(e as Error).message}`)
    }
  }
}
