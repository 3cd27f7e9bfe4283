/**
 * The member's side of rooms: ordered delivery to this node's clients (docs/architecture.md §3).
 * One reorder buffer (main/core/reorder-buffer.ts) per room with local members; out-of-order
 * arrivals wait in it and gaps are fetched from the administrator. Also joins our users again when
 * an administrator comes back or restarts, and tells the administrator when a user's last session
 * leaves a room.
 */
import type { ChatMessage, Member, ServerFrame, TraceKind } from '../../proto/client-protocol'
import { errorFromPeer } from '../core/errors'
import { newReorder, reorderTickDue, stepReorder, type ReorderEffect, type ReorderState } from '../core/reorder-buffer'
import { msg, type Bodies, type MessageOf, type PeerMessage } from '../cluster/peer-messages'
import { encodeFrame, type ClientSession, type EncodedFrame } from '../gateway/ws-gateway'
import type { Clock, Timer } from '../cluster/clock'
import type { PeerLinks } from './peer-links'
import { fromWireMessage } from './peer-wire'
import { SendStreams, type ForwardedSend } from './send-streams'

/** A rejoin without an answer is asked again this often, at most this many times in all. */
const REJOIN_RETRY_MS = 1000
const REJOIN_ATTEMPTS = 30

export interface RoomMemberComponents {
  readonly nodeId: string
  readonly clock: Clock
  send(nodeId: string, m: PeerMessage): boolean
  request: PeerLinks['request']
  peerName(nodeId: string): string
  log(line: string): void
  trace(kind: TraceKind, text: string, roomId?: string, peer?: string): void
  /** Whether anyone reads trace(): false lets a line made for every delivery go unmade. */
  tracing?(): boolean
  /** A frame encoded once for many local sessions, as the client gateway sends it (default: encodeFrame). */
  encode?(frame: ServerFrame): EncodedFrame
  /** Seqs of a room this node administers (room-admin.ts), or undefined when it is gone. */
  localRange(roomId: string, fromSeq: number, toSeq: number): ChatMessage[] | undefined
  /**
   * The last local session of `user` left a room this node administers (room-admin.ts): what the
   * leave's acknowledgement waits for (undefined: nothing), as RoomAdmin.leave.
   */
  localLeave(roomId: string, user: string): Promise<void> | undefined
  /** Whether a node answers LeaveRequests with a LeaveReply (peer-links.ts; older nodes do not). */
  answersLeaves(nodeId: string): boolean
  /** How many members a room has, as this node's directory last heard (room-directory-sync.ts). */
  memberCount(roomId: string): number | undefined
  /** Past this many members a room is large (client-protocol.md §5, "Large rooms"). */
  readonly largeRoomMembers: number
  /** The room's log is kept on more than one node (its directory entry lists replicas, docs/replication.md). */
  replicated?(roomId: string): boolean
}

/** A large room's `members.count` goes to a client at most this often. */
const MEMBER_COUNT_EVERY_MS = 1000

/** A room this node has local members in: its reorder buffer and its local sessions by user. */
interface MemberRoom {
  roomId: string
  adminNodeId: string
  buffer: ReorderState
  users: Map<string, Set<ClientSession>>
  /** Joins answered by the administrator whose session is not added yet: they catch what is delivered meanwhile. */
  joining: Set<JoinWindow>
  /** Sessions just added whose room.join reply is not written yet: their messages wait here. */
  held: Map<ClientSession, EncodedFrame[]>
}

/**
 * A join between the administrator's reply and the moment its session is added (docs/ordering.md,
 * "Join history meets the live stream"): `from` is the last seq this node had delivered when the
 * reply was handled, `caught` every message delivered since, so history + caught + live has no hole.
 */
export interface JoinWindow {
  readonly roomId: string
  readonly from: number
  readonly caught: ChatMessage[]
}

/** What an administrator sends to member nodes (peer-dispatch.ts gives them to RoomMember). */
export type MemberMessage = MessageOf<'rejoin' | 'memberEvent' | 'deliver'>

export class RoomMember {
  private readonly memberRooms = new Map<string, MemberRoom>()
  /**
   * The rooms of each session: the membership of `memberRooms`, looked up from the session's side
   * (the check on every frame of a room, and what a closing connection leaves), kept in the same
   * calls. The one home of a session's rooms (docs/architecture.md, "Membership of rooms").
   */
  private readonly roomsOfSession = new WeakMap<ClientSession, Set<string>>()
  private readonly streams: SendStreams
  /** Large rooms whose member count changed and is due to `largeRooms` clients (memberEvent). */
  private readonly countDue = new Map<string, Timer>()
  private readonly encode: (frame: ServerFrame) => EncodedFrame

  constructor(private readonly c: RoomMemberComponents) {
    this.encode = c.encode ?? encodeFrame
    this.streams = new SendStreams({
      request: (id, build, timeoutMs, onReply) => c.request(id, build, timeoutMs, onReply),
      isMember: (roomId, user) => this.memberRooms.get(roomId)?.users.has(user) ?? false,
      joined: (roomId, adminNodeId, lastSeq) => this.rejoined(roomId, adminNodeId, lastSeq),
      log: (line) => c.log(line),
      clock: c.clock,
    })
  }

  /** Forward a send to the room's administrator in its sender's ordered stream (send-streams.ts). */
  forwardSend(send: ForwardedSend): Promise<number> {
    return this.streams.forward(send)
  }

  /**
   * Ask the administrator to join `user`; `onReply` runs in order with the deliveries around the
   * reply. `memberLimit`: at most that many members in the reply (0: all of them).
   */
  requestJoin(adminNodeId: string, roomId: string, user: string, onReply?: (r: Bodies['joinReply']) => void, memberLimit = 0): Promise<Bodies['joinReply']> {
    return this.streams.requestJoin(adminNodeId, roomId, user, onReply, undefined, memberLimit)
  }

  /** The administrator answered a join (synchronously, see requestJoin): open the room and a join window. */
  openJoin(roomId: string, adminNodeId: string, lastSeq: number): JoinWindow {
    const mr = this.memberRoomFor(roomId, adminNodeId, lastSeq)
    const w: JoinWindow = { roomId, from: mr.buffer.nextSeq - 1, caught: [] }
    mr.joining.add(w)
    return w
  }

  /**
   * Whether a join answer of `adminNodeId` (its room at `lastSeq`) is behind what this node already
   * delivered from another administrator of the room: a join window needs the answer and the
   * deliveries to come from one administrator, in order on one link (docs/ordering.md §4).
   */
  behindDelivery(roomId: string, adminNodeId: string, lastSeq: number): boolean {
    const mr = this.memberRooms.get(roomId)
    return mr !== undefined && mr.adminNodeId !== adminNodeId && lastSeq < mr.buffer.nextSeq - 1
  }

  closeJoin(w: JoinWindow): void {
    this.memberRooms.get(w.roomId)?.joining.delete(w)
  }

  // -------------------------------------------------------------------------------------------
  // Joining and leaving

  /** Add a session to a room; returns the last seq delivered here (where its history must end). */
  addSession(s: ClientSession, roomId: string, adminNodeId: string, lastSeq: number): number {
    const user = s.user!
    const mr = this.memberRoomFor(roomId, adminNodeId, lastSeq)
    let sessions = mr.users.get(user)
    if (!sessions) mr.users.set(user, (sessions = new Set()))
    sessions.add(s)
    let rooms = this.roomsOfSession.get(s)
    if (!rooms) this.roomsOfSession.set(s, (rooms = new Set()))
    rooms.add(roomId)
    // A client must see the room.join reply (history, lastSeq) before the live messages after it,
    // but the reply is written later (after the archive is read, a few promise steps after the op
    // returns): until releaseHeld, the session's messages of this room wait (docs/ordering.md).
    mr.held.set(s, [])
    return mr.buffer.nextSeq - 1
  }

  /** The join op settled: its reply is written in this turn of the event loop, the held messages after it. */
  releaseHeld(s: ClientSession, roomId: string): void {
    const mr = this.memberRooms.get(roomId)
    if (!mr?.held.has(s)) return
    this.c.clock.setTimeout(() => {
      const frames = mr.held.get(s)
      mr.held.delete(s)
      if (frames && this.isIn(s, roomId)) for (const f of frames) s.sendEncoded(f)
    }, 0)
  }

  private memberRoomFor(roomId: string, adminNodeId: string, lastSeq: number): MemberRoom {
    let mr = this.memberRooms.get(roomId)
    if (!mr) {
      mr = { roomId, adminNodeId, buffer: newReorder(lastSeq), users: new Map(), joining: new Set(), held: new Map() }
      this.memberRooms.set(roomId, mr)
    }
    return mr
  }

  /** Whether this connection has joined the room. */
  isIn(s: ClientSession, roomId: string): boolean {
    return this.roomsOfSession.get(s)?.has(roomId) ?? false
  }

  /**
   * Drop one session from a room at once (it gets nothing more of it). When it was the user's last
   * session here, the administrator must be told: returns the one this node knows, for tellLeave;
   * undefined when nothing is left to tell.
   */
  leave(s: ClientSession, roomId: string): { user: string; adminNodeId: string } | undefined {
    this.roomsOfSession.get(s)?.delete(roomId)
    const mr = this.memberRooms.get(roomId)
    if (!mr || !s.user) return undefined
    const sessions = mr.users.get(s.user)
    sessions?.delete(s)
    if (sessions && sessions.size > 0) return undefined
    mr.users.delete(s.user)
    if (mr.users.size === 0) this.memberRooms.delete(roomId)
    return { user: s.user, adminNodeId: mr.adminNodeId }
  }

  /**
   * Tell `adminNodeId` that `user` left the room. Resolves once the administrator has the leave
   * committed (docs/replication.md, "Membership and deletion": for a replicated room, on a majority
   * of its replicas); rejects with its error (room_unavailable when it no longer administers the
   * room, or could not commit in time; timeout). An administrator of an older version answers no
   * leave: it is told, and the promise resolves at once, as before.
   */
  tellLeave(adminNodeId: string, roomId: string, user: string): Promise<void> {
    if (adminNodeId === this.c.nodeId) {
      try {
        return this.c.localLeave(roomId, user) ?? Promise.resolve()
      } catch (e) {
        return Promise.reject(e as Error)
      }
    }
    this.c.trace('forward', `leave ${user} → ${this.c.peerName(adminNodeId)}`, roomId)
    if (!this.c.answersLeaves(adminNodeId)) {
      this.c.send(adminNodeId, msg('leaveRequest', { reqId: 0, roomId, user }))
      return Promise.resolve()
    }
    return this.c.request<Bodies['leaveReply']>(adminNodeId, (reqId) => msg('leaveRequest', { reqId, roomId, user })).then((reply) => {
      if (reply.error) throw errorFromPeer(reply.error.code, reply.error.message)
    })
  }

  /** A closed connection leaves its rooms; nobody waits for those leaves (a reqId 0 request). */
  sessionClosed(s: ClientSession): void {
    for (const roomId of [...(this.roomsOfSession.get(s) ?? [])]) {
      const told = this.leave(s, roomId)
      if (!told) continue
      if (told.adminNodeId === this.c.nodeId) {
        try {
          this.c.localLeave(roomId, told.user)?.catch(() => {})
        } catch {
          // the room is gone, or another node administers it now: nothing to leave here
        }
        continue
      }
      this.c.trace('forward', `leave ${told.user} → ${this.c.peerName(told.adminNodeId)}`, roomId)
      this.c.send(told.adminNodeId, msg('leaveRequest', { reqId: 0, roomId, user: told.user }))
    }
    this.roomsOfSession.delete(s)
  }

  /** The room is gone (deleted): forget it, and its sessions leave it. */
  forget(roomId: string): void {
    this.c.clock.clear(this.countDue.get(roomId))
    this.countDue.delete(roomId)
    const mr = this.memberRooms.get(roomId)
    this.memberRooms.delete(roomId)
    if (mr) for (const sessions of mr.users.values()) for (const s of sessions) this.roomsOfSession.get(s)?.delete(roomId)
  }

  /** The users of this node with a session in a room. */
  usersIn(roomId: string): string[] {
    return [...(this.memberRooms.get(roomId)?.users.keys() ?? [])]
  }

  /** Where delivery stands in a room: the next seq due, if this node has members in it. */
  nextSeq(roomId: string): number | undefined {
    return this.memberRooms.get(roomId)?.buffer.nextSeq
  }

  /**
   * A replica took the room over (docs/replication.md): deliveries come from it now, and our users
   * join it again (idempotent: it knows them from the replicated state) to learn its last seq and
   * fetch what the old administrator committed but never sent us.
   */
  adminChanged(roomId: string, adminNodeId: string, termRose = false): void {
    const mr = this.memberRooms.get(roomId)
    if (!mr) return
    if (mr.adminNodeId === adminNodeId) {
      // The same node elected again in a higher term (it restarted as a replica and won): it may
      // have refused our rejoin while it was not yet administrator, so join it again.
      if (termRose && adminNodeId !== this.c.nodeId) for (const user of mr.users.keys()) this.rejoin(adminNodeId, roomId, user, 'administrator elected again', 1, false)
      return
    }
    mr.adminNodeId = adminNodeId
    if (adminNodeId === this.c.nodeId) return // its deliveries and gap fetches are local
    // Its count may lag ours for a moment (it learns the commit point with its first append): a
    // replicated room never goes back, so no restart of the sequence here.
    this.resyncRoomsOf(adminNodeId, 'administrator changed', false)
  }

  /** Join again every local user of the rooms `adminNodeId` administers, and fetch what we missed. */
  resyncRoomsOf(adminNodeId: string, why: string, mayRestart = true): void {
    for (const mr of this.memberRooms.values()) {
      if (mr.adminNodeId !== adminNodeId) continue
      for (const user of mr.users.keys()) this.rejoin(adminNodeId, mr.roomId, user, why, 1, mayRestart)
    }
  }

  /**
   * Join `user` again to a room of `adminNodeId`. The reply is handled when it arrives, before the
   * deliveries behind it in the same frame: its lastSeq is then compared with exactly what was
   * delivered before it (docs/ordering.md, "Rejoining an administrator"). A rejoin that got no
   * answer (it went out on a Link that was dying, or the answer was lost) is asked again: until it
   * succeeds the administrator delivers nothing to this node, so giving up would starve the room's
   * members here for good.
   */
  private rejoin(adminNodeId: string, roomId: string, user: string, why: string, attempt: number, mayRestart = true): void {
    // A rejoin needs the last seq, not the member list (one member: a large room's rejoins stay small).
    this.requestJoin(adminNodeId, roomId, user, (reply) => {
      if (!reply.error) this.rejoined(roomId, adminNodeId, reply.lastSeq, mayRestart)
    }, 1)
      .then((reply) => {
        if (reply.error) throw errorFromPeer(reply.error.code, reply.error.message)
        this.c.trace('join', `rejoined ${user} to ${roomId} (${why})`, roomId)
      })
      .catch((e: Error) => {
        const code = (e as { code?: string }).code
        const again = (code === 'timeout' || code === 'room_unavailable' || code === 'room_busy') && attempt < REJOIN_ATTEMPTS
        this.c.log(`rejoin ${user} to ${roomId}: ${e.message}${again ? ` (asking again in ${REJOIN_RETRY_MS} ms)` : ''}`)
        if (!again) return
        this.c.clock.setTimeout(() => {
          // Only while it is still wanted: the user still has a session here and the room the same administrator.
          const mr = this.memberRooms.get(roomId)
          if (mr?.adminNodeId === adminNodeId && mr.users.has(user)) this.rejoin(adminNodeId, roomId, user, why, attempt + 1, mayRestart)
        }, REJOIN_RETRY_MS)
      })
  }

  /** A rejoin reply, handled in order with the room's deliveries: fetch what we lack of `lastSeq`. */
  private rejoined(roomId: string, adminNodeId: string, lastSeq: number, mayRestart = true): void {
    const mr = this.memberRooms.get(roomId)
    if (!mr || mr.adminNodeId !== adminNodeId) return
    const delivered = mr.buffer.nextSeq - 1
    // A replicated room loses no committed seq (a majority holds each): an administrator behind
    // what this node delivered has not yet learned the commit point (elected a moment ago, it
    // commits its predecessor's tail with its first entry), so it is waited for, not followed back.
    if (mayRestart && lastSeq < delivered && !this.c.replicated?.(roomId)) {
      // Everything this node delivered came before this reply on the same link, and an administrator
      // writes a message to its log before sending it: it can be behind only if its disk lost the
      // tail (a machine crash without --fsync). Delivered seqs cannot be taken back from clients;
      // start over from its count and say so (docs/ordering.md, "Rejoining an administrator").
      this.c.log(`room ${roomId}: administrator is at seq ${lastSeq}, we delivered up to ${delivered}; it lost seqs, restarting the sequence`)
      this.reorder(mr, { type: 'reset', lastSeq })
    } else this.reorder(mr, { type: 'known-last', lastSeq, now: this.c.clock.now() })
  }

  // -------------------------------------------------------------------------------------------
  // Ordered delivery to local clients

  tick(now: number): void {
    // Only the rooms with a gap: the tick of any other does nothing (reorderTickDue).
    for (const mr of this.memberRooms.values()) if (reorderTickDue(mr.buffer)) this.reorder(mr, { type: 'tick', now })
  }

  private reorder(mr: MemberRoom, input: Parameters<typeof stepReorder>[1]): void {
    const { effects } = stepReorder(mr.buffer, input)
    for (const e of effects) this.reorderEffect(mr, e)
  }

  private reorderEffect(mr: MemberRoom, e: ReorderEffect): void {
    if (e.type === 'deliver') {
      // Encoded once per node, not once per recipient; what arrived together (one gRPC frame, one
      // reorder release) goes to a client that asked for batches as one `messages` event, one write
      // (client-protocol.md §5); other clients get one `message` event per message.
      let clients = 0
      let singles: EncodedFrame[] | undefined
      let batch: EncodedFrame | undefined
      for (const sessions of mr.users.values()) {
        for (const s of sessions) {
          clients++
          // A session whose room.join reply is not written yet: its messages wait (addSession).
          const held = mr.held.size > 0 ? mr.held.get(s) : undefined
          if (s.batch && e.messages.length > 1) {
            batch ??= this.encode({ event: 'messages', roomId: mr.roomId, messages: e.messages })
            if (held) held.push(batch)
            else s.sendEncoded(batch)
          } else {
            singles ??= e.messages.map((m) => this.encode({ event: 'message', ...m }))
            if (held) held.push(...singles)
            else for (const f of singles) s.sendEncoded(f)
          }
        }
      }
      for (const w of mr.joining) w.caught.push(...e.messages)
      // The last hop of a message's path in the protocol log (forward -> seq -> deliver), one line
      // per batch so a busy room does not flood the log.
      if (this.c.tracing?.() === false) return
      const first = e.messages[0].seq
      const last = e.messages[e.messages.length - 1].seq
      const seqs = first === last ? `seq ${first}` : `seq ${first}–${last}`
      this.c.trace('deliver', `${seqs} of ${mr.roomId} → ${clients} local client${clients === 1 ? '' : 's'} (from ${this.c.peerName(mr.adminNodeId)})`, mr.roomId, this.c.peerName(mr.adminNodeId))
      return
    }
    this.c.trace('gap', `missing seq ${e.fromSeq}..${e.toSeq} of ${mr.roomId}: fetching`, mr.roomId)
    if (mr.adminNodeId === this.c.nodeId) {
      const messages = this.c.localRange(mr.roomId, e.fromSeq, e.toSeq)
      if (messages) this.reorder(mr, { type: 'arrive', messages, now: this.c.clock.now() })
      return
    }
    this.c.request<Bodies['fetchReply']>(mr.adminNodeId, (reqId) =>
      msg('fetchRange', { reqId, roomId: mr.roomId, fromSeq: e.fromSeq, toSeq: e.toSeq }),
    )
      .then((reply) => {
        if (reply.error) throw errorFromPeer(reply.error.code, reply.error.message)
        if (reply.messages.length === 0 && e.fromSeq === mr.buffer.nextSeq) {
          // The administrator no longer has them (its log is bounded, or it restarted): skip the gap
          // rather than wait for it for ever, and say so in the log.
          this.c.log(`room ${mr.roomId}: seq ${e.fromSeq}..${e.toSeq} are gone at the administrator; skipping them`)
          mr.buffer.nextSeq = e.toSeq + 1
        }
        this.reorder(mr, { type: 'arrive', messages: reply.messages.map(fromWireMessage), now: this.c.clock.now() })
      })
      .catch((err: Error) => this.c.log(`fetch ${mr.roomId} ${e.fromSeq}..${e.toSeq}: ${err.message}`))
  }

  /**
   * Messages this node's replica of the room saw committed by `leader` (docs/replication.md,
   * "Delivery from the replicas"): delivered like the administrator's Deliver, and only while
   * `leader` is the administrator this node's members follow (as a Deliver from another node is
   * dropped); `read` is called only then.
   */
  fromReplica(roomId: string, leader: string, read: () => ChatMessage[]): void {
    const mr = this.memberRooms.get(roomId)
    if (!mr || mr.adminNodeId !== leader || leader === this.c.nodeId) return
    this.reorder(mr, { type: 'arrive', messages: read(), now: this.c.clock.now() })
  }

  /** Messages ordered by this node as administrator, for its own members. */
  localDeliver(roomId: string, messages: ChatMessage[]): void {
    const mr = this.memberRooms.get(roomId)
    if (mr) this.reorder(mr, { type: 'arrive', messages, now: this.c.clock.now() })
  }

  /**
   * A member came or went. In a large room a client that said `largeRooms` gets the new count, at
   * most once a second, instead of the event (client-protocol.md §5, "Large rooms"): announcing
   * every join to every member made building a room of N members cost N² events. Older clients
   * still get every event.
   */
  memberEvent(roomId: string, member: Member, joined: boolean): void {
    const mr = this.memberRooms.get(roomId)
    if (!mr) return
    const large = (this.c.memberCount(roomId) ?? 0) > this.c.largeRoomMembers
    let frame: EncodedFrame | undefined
    let counted = false
    for (const sessions of mr.users.values()) {
      for (const s of sessions) {
        if (large && s.largeRooms) {
          counted = true
          continue
        }
        frame ??= this.encode({ event: joined ? 'member.joined' : 'member.left', roomId, user: member.user, nodeId: member.nodeId })
        s.sendEncoded(frame)
      }
    }
    if (counted && !this.countDue.has(roomId)) this.countDue.set(roomId, this.c.clock.setTimeout(() => this.sendCount(roomId), MEMBER_COUNT_EVERY_MS))
  }

  /** The room's member count, as the directory has it now, to its local `largeRooms` clients. */
  private sendCount(roomId: string): void {
    this.countDue.delete(roomId)
    const mr = this.memberRooms.get(roomId)
    const memberCount = this.c.memberCount(roomId)
    if (!mr || memberCount === undefined) return
    const frame = this.encode({ event: 'members.count', roomId, memberCount })
    for (const sessions of mr.users.values()) for (const s of sessions) if (s.largeRooms) s.sendEncoded(frame)
  }

  /** What administrators send to a member node (their owner in peer-dispatch.ts). */
  onPeerMessage(from: string, m: MemberMessage): void {
    switch (m.body) {
      case 'rejoin':
        this.resyncRoomsOf(from, m.rejoin.reason || 'asked by the administrator')
        return
      case 'memberEvent': {
        const e = m.memberEvent
        this.memberEvent(e.roomId, { user: e.user, nodeId: e.nodeId }, e.joined)
        return
      }
      case 'deliver': {
        const mr = this.memberRooms.get(m.deliver.roomId)
        if (!mr || mr.adminNodeId !== from) return // not ours (any more): late delivery after a leave
        this.reorder(mr, { type: 'arrive', messages: m.deliver.messages.map(fromWireMessage), now: this.c.clock.now() })
        return
      }
    }
  }
}
