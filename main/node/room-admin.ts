/**
 * The administrator's side of the rooms this node administers (docs/architecture.md §3 and
 * "Membership of rooms"): drives each room's core (main/core/room-ordering.ts) and carries out its
 * effects in the order returned: deliveries and member events to the nodes with members (this node's
 * own members through room-member.ts), directory changes published through room-directory-sync.ts.
 * Answers the room requests of other nodes: join, leave, members, forwarded sends and gap fetches.
 */
import { MAX_PREVIEW_LIMIT as PREVIEW_MAX, type ChatMessage, type Member, type TraceKind } from '../../proto/client-protocol'
import { ChatError } from '../core/errors'
import { JOIN_HISTORY, logRange, memberList, stepRoom, type AdminRoom, type RoomEffect, type RoomInput } from '../core/room-ordering'
import { msg, type MessageOf, type PeerMessage } from '../cluster/peer-messages'
import type { Clock } from '../cluster/clock'
import type { PeerLinks } from './peer-links'
import { requireString, toWireMessage, toWireRoom } from './peer-wire'
import type { RoomDirectorySync } from './room-directory-sync'
import type { MessageLog } from '../store/message-log'
import type { RoomReplicas } from './room-replicas'

export interface RoomAdminComponents {
  readonly nodeId: string
  readonly clock: Pick<Clock, 'now' | 'setTimeout'>
  readonly rooms: Pick<RoomDirectorySync, 'adminRooms' | 'entryOf' | 'publishRoom' | 'scheduleSaveRooms'>
  /** The rooms' message logs (main/store/message-log.ts). */
  readonly messages: Pick<MessageLog, 'append' | 'range'>
  send(nodeId: string, m: PeerMessage): boolean
  answer: PeerLinks['answer']
  peerName(nodeId: string): string
  trace(kind: TraceKind, text: string, roomId?: string, peer?: string): void
  /** Whether anyone reads trace(): false lets a line made for every message go unmade. */
  tracing?(): boolean
  /** Deliveries to this node's own members (room-member.ts). */
  localDeliver(roomId: string, messages: ChatMessage[]): void
  /** Member events to this node's own members (room-member.ts). */
  localMemberEvent(roomId: string, member: Member, joined: boolean): void
  /** A deletion being decided holds the room frozen (deletion-driver.ts). */
  blocksSend(roomId: string): boolean
  /** A message is in the room's log: the archive writer takes it from there (docs/archive.md). */
  committed?(m: ChatMessage): void
  /** Replicated rooms (docs/replication.md): sends are ordered by the replica group. */
  readonly replication?: Pick<RoomReplicas, 'isReplicated' | 'propose' | 'metaChanged' | 'metaSettled' | 'deliveredByReplica'>
}

/** A busy administrator delivers to its own members at most this often (queueLocal). */
const LOCAL_BATCH_MS = 2

/** What member nodes ask of a room's administrator (peer-dispatch.ts gives them to RoomAdmin). */
export type AdminMessage = MessageOf<'joinRequest' | 'leaveRequest' | 'membersRequest' | 'forwardSend' | 'fetchRange'>

export class RoomAdmin {
  /** Messages ordered for this node's own members and not delivered yet, per room, in seq order. */
  private readonly localPending = new Map<string, ChatMessage[]>()
  private localFlushQueued = false
  /** clock.now() of the last local delivery: a busy node delivers at most every LOCAL_BATCH_MS. */
  private lastLocalFlush = -Infinity

  constructor(private readonly c: RoomAdminComponents) {}

  /**
   * This node's own members get what was ordered together as one delivery: one encode and one
   * `messages` event per client per batch instead of one per message (docs/benchmarks.md). Idle, a
   * batch is one turn of the event loop (a microtask: nothing waits for a timer); busy (a delivery
   * less than LOCAL_BATCH_MS ago), it is everything ordered until LOCAL_BATCH_MS after the last
   * one, as member nodes get it from the administrator's link (docs/peer-protocol.md §1).
   */
  private queueLocal(roomId: string, m: ChatMessage): void {
    let list = this.localPending.get(roomId)
    if (!list) this.localPending.set(roomId, (list = []))
    list.push(m)
    if (!this.localFlushQueued) {
      this.localFlushQueued = true
      const since = this.c.clock.now() - this.lastLocalFlush
      if (since < LOCAL_BATCH_MS) this.c.clock.setTimeout(() => this.localFlushQueued && this.flushLocal(), LOCAL_BATCH_MS - since)
      else queueMicrotask(() => this.localFlushQueued && this.flushLocal())
    }
  }

  /** Deliver what is queued for local members now (also before a member event, to keep their order). */
  flushLocal(): void {
    this.localFlushQueued = false
    this.lastLocalFlush = this.c.clock.now()
    for (const [roomId, messages] of this.localPending) {
      this.localPending.delete(roomId)
      this.c.localDeliver(roomId, messages)
    }
  }

  room(roomId: string): AdminRoom {
    const room = this.c.rooms.adminRooms.get(roomId)
    if (!room) throw new ChatError('not_found', `no room ${roomId} on this node`)
    return room
  }

  /** One step of a room's core, with its effects carried out in order; returns the reply effect. */
  roomStep(room: AdminRoom, input: RoomInput): RoomEffect | undefined {
    const { effects } = stepRoom(room, input)
    let reply: RoomEffect | undefined
    for (const e of effects) {
      switch (e.type) {
        case 'persist':
          // Before any node hears of it: a message anyone saw survives a crash of this node. A write
          // that fails is not stepped as `persisted`, so the room is as it was: the message gets no
          // seq, nobody is ever served it, and the sender hears `internal` (docs/persistence.md).
          try {
            this.c.messages.append(e.message)
          } catch (err) {
            this.c.trace('seq', `seq ${e.message.seq} in ${room.name} not saved: ${(err as Error).message}`, room.roomId)
            return { type: 'reply-error', code: 'internal', message: `the message could not be saved in ${room.name}` }
          }
          this.c.committed?.(e.message)
          // Logged here, before the deliveries, so the protocol log reads in causal order.
          if (this.c.tracing?.() !== false) this.c.trace('seq', `seq ${e.message.seq} → ${e.message.user}@${this.c.peerName(e.message.nodeId)} in ${room.name}`, room.roomId)
          reply = this.roomStep(room, { type: 'persisted', message: e.message })
          break
        case 'deliver':
          for (const node of e.toNodes) {
            if (node === this.c.nodeId) this.queueLocal(room.roomId, e.message)
            // A follower replica that delivers from its own copy gets the commit point instead
            // (docs/replication.md, "Delivery from the replicas").
            else if (!this.c.replication?.deliveredByReplica(room.roomId, node, e.message.seq))
              this.c.send(node, msg('deliver', { roomId: room.roomId, messages: [toWireMessage(e.message)] }))
          }
          break
        case 'member-event':
          for (const node of e.toNodes) {
            if (node === this.c.nodeId) {
              this.flushLocal()
              this.c.localMemberEvent(room.roomId, e.member, e.joined)
            }
            else this.c.send(node, msg('memberEvent', { roomId: room.roomId, ...e.member, joined: e.joined }))
          }
          this.c.trace(e.joined ? 'join' : 'leave', `${e.member.user}@${this.c.peerName(e.member.nodeId)} ${e.joined ? 'joined' : 'left'} ${room.name}`, room.roomId)
          break
        case 'directory-changed':
          // Membership and the deletion hold are replicated room state (docs/replication.md).
          if (this.c.replication?.isReplicated(room.roomId)) this.c.replication.metaChanged(room)
          this.c.rooms.publishRoom(room)
          break
        default:
          reply = e
      }
    }
    return reply
  }

  join(fromNode: string, roomId: string, user: string) {
    const room = this.room(roomId)
    const reply = this.roomStep(room, { type: 'join', user, nodeId: fromNode })
    if (reply?.type === 'reply-error') throw new ChatError(reply.code, reply.message)
    if (reply?.type !== 'reply-join') throw new ChatError('internal', 'join gave no answer')
    return { room, members: reply.members, lastSeq: reply.lastSeq, history: reply.history }
  }

  /**
   * A replicated room's join is acknowledged once a majority of its replicas holds it (§8): the
   * promise to wait for, or undefined when the answer may go at once.
   */
  joinSettled(roomId: string): Promise<void> | undefined {
    return this.c.replication?.isReplicated(roomId) ? this.c.replication.metaSettled(roomId) : undefined
  }

  /** The join answer as the room stands now (members, last seq, recent history). */
  joinResult(roomId: string) {
    const room = this.room(roomId)
    return { room, members: memberList(room), lastSeq: room.lastSeq, history: this.read(room, Math.max(1, room.lastSeq - JOIN_HISTORY + 1), room.lastSeq) }
  }

  /**
   * The answer to a forwarded send: its seq (ackSend) or the error it failed with (ackFailed).
   * Methods, not a named closure made per send (the TypeScript loader wraps those to keep their
   * names: docs/benchmarks.md, "Client ingress").
   */
  private ackSend(to: string, reqId: number, seq: number): void {
    this.c.answer(to, 'sendAck', reqId, () => ({ seq }), { seq: 0 })
  }

  private ackFailed(to: string, reqId: number, error: unknown): void {
    this.c.answer(
      to,
      'sendAck',
      reqId,
      () => {
        throw error
      },
      { seq: 0 },
    )
  }

  /** A replicated room's seq comes once a majority of its replicas stores the message (§8). */
  send(fromNode: string, roomId: string, user: string, text: string, clientMsgId: string): number | Promise<number> {
    if (!this.c.rooms.adminRooms.has(roomId) && this.c.replication?.isReplicated(roomId)) {
      // A replica that administered the room until a handover or a new term: the sender's node
      // sends again to the new administrator on room_unavailable (docs/replication.md, "What a
      // client sees"); not_found would reach the client as an error.
      throw new ChatError('room_unavailable', `this node no longer administers room ${roomId}`)
    }
    const room = this.room(roomId)
    if (this.c.blocksSend(roomId)) throw new ChatError('room_busy', `room ${room.name} is frozen while its deletion is decided`)
    if (this.c.replication?.isReplicated(roomId)) return this.c.replication.propose(roomId, user, fromNode, text, clientMsgId)
    const reply = this.roomStep(room, { type: 'send', user, nodeId: fromNode, text, clientMsgId, now: this.c.clock.now() })
    if (reply?.type === 'reply-error') throw new ChatError(reply.code, reply.message)
    if (reply?.type !== 'reply-send') throw new ChatError('internal', 'send gave no answer')
    this.c.rooms.scheduleSaveRooms()
    return reply.seq
  }

  /** Replicated rooms: messages the replica group committed, in seq order, to deliver now. */
  applyCommitted(roomId: string, messages: ChatMessage[]): void {
    const room = this.c.rooms.adminRooms.get(roomId)
    if (!room) return
    for (const m of messages) {
      if (m.seq !== room.lastSeq + 1) continue
      this.c.committed?.(m)
      if (this.c.tracing?.() !== false) this.c.trace('seq', `seq ${m.seq} → ${m.user}@${this.c.peerName(m.nodeId)} in ${room.name} (on a majority)`, room.roomId)
      this.roomStep(room, { type: 'committed', message: m })
    }
  }

  /**
   * `user` of `nodeId` left. Returns what the leave's acknowledgement waits for: undefined when it may
   * go at once (an unreplicated room), else a promise that resolves once a majority of the room's
   * replicas holds a room state without the member (docs/replication.md, "Membership and
   * deletion"), so no failover brings them back. A leave of someone who is not (any more) a member
   * changes nothing and is answered the same way: it is a resend of a leave the previous
   * administrator took in, whose room state this one adopted, or has to commit. Throws
   * room_unavailable when this node holds the room's replica but no longer administers it (the
   * member node asks the new administrator), not_found for a room it does not know.
   */
  leave(roomId: string, user: string, nodeId: string): Promise<void> | undefined {
    const room = this.c.rooms.adminRooms.get(roomId)
    if (!room) {
      if (this.c.replication?.isReplicated(roomId)) throw new ChatError('room_unavailable', `this node no longer administers room ${roomId}`)
      throw new ChatError('not_found', `no room ${roomId} on this node`)
    }
    this.roomStep(room, { type: 'leave', user, nodeId })
    return this.joinSettled(roomId)
  }

  /** The users of a dead (or restarted) node leave every room we administer (docs/client-protocol.md §6.4). */
  nodeDead(nodeId: string): void {
    for (const room of this.c.rooms.adminRooms.values()) this.roomStep(room, { type: 'node-dead', nodeId })
  }

  members(roomId: string): Member[] {
    return memberList(this.room(roomId))
  }

  history(roomId: string, beforeSeq: number | undefined, limit: number): ChatMessage[] {
    const room = this.room(roomId)
    const to = (beforeSeq ?? room.lastSeq + 1) - 1
    return this.read(room, Math.max(1, to - limit + 1), to)
  }

  /** Seqs `fromSeq..toSeq` of a room we administer, or undefined when it is gone. */
  logRange(roomId: string, fromSeq: number, toSeq: number): ChatMessage[] | undefined {
    const room = this.c.rooms.adminRooms.get(roomId)
    return room ? this.read(room, fromSeq, toSeq) : undefined
  }

  /** From memory when the range is there, else from the room's log on disk. */
  private read(room: AdminRoom, from: number, to: number): ChatMessage[] {
    if (to < from) return []
    if (room.log.length > 0 && from >= room.log.at(0)!.seq) return logRange(room, from, to)
    return this.c.messages.range(room.roomId, from, Math.min(to, room.lastSeq))
  }

  /** The requests other nodes make of an administrator (their owner in peer-dispatch.ts). */
  onPeerMessage(from: string, m: AdminMessage): void {
    switch (m.body) {
      case 'joinRequest': {
        const { reqId, roomId, user, memberLimit } = m.joinRequest
        const empty = { room: null, members: [], lastSeq: 0, history: [] }
        type Answer = { members: Member[]; lastSeq: number; history: ChatMessage[]; room: AdminRoom }
        const answer = (r: () => Answer) =>
          this.c.answer(from, 'joinReply', reqId, () => {
            const { room, members, lastSeq, history } = r()
            // The first page only when asked (docs/client-protocol.md §5, "Large rooms"): the room
            // in the reply carries the count.
            return { room: toWireRoom(this.c.rooms.entryOf(room)), members: memberLimit ? members.slice(0, memberLimit) : members, lastSeq, history }
          }, empty)
        let joined: Answer
        let settled: Promise<void> | undefined
        try {
          joined = this.join(from, requireString(roomId, 'roomId'), requireString(user, 'user'))
          settled = this.joinSettled(joined.room.roomId)
        } catch (e) {
          answer(() => {
            throw e
          })
          return
        }
        if (!settled) answer(() => joined)
        // A replicated room answers once a majority of its replicas holds the join (§8), and then
        // describes the room as it stands at that moment.
        else settled.then(() => answer(() => this.joinResult(joined.room.roomId)), (e: unknown) => answer(() => { throw e }))
        return
      }
      case 'leaveRequest': {
        const { reqId, roomId, user } = m.leaveRequest
        // reqId 0: an older member node, or a closed connection's leave: nobody waits for an answer.
        const answer = (fail?: unknown) =>
          reqId !== 0 &&
          this.c.answer(from, 'leaveReply', reqId, () => {
            if (fail !== undefined) throw fail
            return {}
          }, {})
        let settled: Promise<void> | undefined
        try {
          settled = this.leave(requireString(roomId, 'roomId'), requireString(user, 'user'), from)
        } catch (e) {
          answer(e)
          return
        }
        // A replicated room answers once a majority of its replicas holds the leave (§8).
        if (!settled) answer()
        else settled.then(() => answer(), (e: unknown) => answer(e ?? new ChatError('internal', 'the leave failed')))
        return
      }
      case 'membersRequest': {
        const { reqId, roomId, offset = 0, limit } = m.membersRequest
        this.c.answer(from, 'membersReply', reqId, () => {
          const room = this.room(roomId)
          // A page (docs/client-protocol.md §4, room.members) copies only that page.
          const members = limit ? room.sorted.slice(offset, offset + limit) : memberList(room)
          return { members, room: toWireRoom(this.c.rooms.entryOf(room)) }
        }, { members: [], room: null })
        return
      }
      case 'forwardSend': {
        const f = m.forwardSend
        let result: number | Promise<number>
        try {
          if (this.c.tracing?.() !== false) this.c.trace('seq', `forwarded send from ${this.c.peerName(from)} for ${f.roomId}`, f.roomId, this.c.peerName(from))
          result = this.send(from, f.roomId, f.user, f.text, f.clientMsgId)
        } catch (e) {
          this.ackFailed(from, f.reqId, e)
          return
        }
        if (typeof result === 'number') this.ackSend(from, f.reqId, result)
        // Replicated: the answer goes once a majority holds the message (or it failed).
        else result.then((seq) => this.ackSend(from, f.reqId, seq), (e: unknown) => this.ackFailed(from, f.reqId, e))
        return
      }
      case 'fetchRange': {
        const f = m.fetchRange
        this.c.answer(from, 'fetchReply', f.reqId, () => {
          // A preview (room.preview on a member node): the newest messages, from disk if need be.
          if (f.last) return { messages: this.history(f.roomId, undefined, Math.min(f.last, PREVIEW_MAX)) }
          const room = this.room(f.roomId)
          const to = Math.min(f.toSeq, f.fromSeq + 1000)
          this.c.trace('gap', `${this.c.peerName(from)} fetched seq ${f.fromSeq}..${to} of ${f.roomId}`, f.roomId)
          return { messages: logRange(room, f.fromSeq, to) }
        }, { messages: [] })
        return
      }
    }
  }
}
