/**
 * The client ops (docs/client-protocol.md §4): what a validated request from the gateway does on
 * this node. Ops on a room this node administers go to room-admin.ts directly; ops on another node's
 * room are forwarded to its administrator over peer-links.ts, and room-member.ts keeps the local
 * session's delivery in step with the answer.
 */
import { networkInterfaces } from 'node:os'
import { memoryUsage } from 'node:process'
import { formatInvite, MAX_MEMBER_PAGE, MAX_PREVIEW_LIMIT, parseInvite, PROTOCOL_VERSION, type ChatMessage, type HistorySource, type Member, type Request, type RequestOf, type Results, type RoomInfo, type TraceKind } from '../../proto/client-protocol'
import { ChatError, errorFromPeer } from '../core/errors'
import type { DirectoryEntry } from '../core/room-directory'
import { JOIN_HISTORY } from '../core/room-ordering'
import { msg, type Bodies, type NodeRef } from '../cluster/peer-messages'
import type { ClientSession } from '../gateway/ws-gateway'
import type { DeletionDriver } from './deletion-driver'
import type { HistoryArchive } from './history-archive'
import type { JoinedRooms } from './joined-rooms'
import type { Clock } from '../cluster/clock'
import type { NodeOptions } from './node-options'
import type { PeerLinks } from './peer-links'
import { fromWireMessage } from './peer-wire'
import type { RoomAdmin } from './room-admin'
import type { RoomDirectorySync } from './room-directory-sync'
import type { JoinWindow, RoomMember } from './room-member'

export interface ClientOpsComponents {
  readonly nodeId: string
  readonly clock: Clock
  /** Our name and advertised address: both are known only once the node listens. */
  self(): NodeRef
  /** ws://host:port of the client gateway, known once it listens. */
  wsUrl(): string
  readonly options: Pick<NodeOptions, 'grpcHost' | 'heartbeatMs' | 'suspectMs' | 'deadMs' | 'allowFaults' | 'maxRooms' | 'roomCreatesPer10s'>
  readonly rooms: Pick<RoomDirectorySync, 'directory' | 'adminRooms' | 'entry' | 'entryOf' | 'roomInfo' | 'createRoom' | 'mergeRoom' | 'entryChange'>
  readonly admin: Pick<RoomAdmin, 'join' | 'joinSettled' | 'joinResult' | 'send' | 'members' | 'history'>
  readonly member: Pick<RoomMember, 'addSession' | 'isIn' | 'leave' | 'tellLeave' | 'usersIn' | 'sessionClosed' | 'nextSeq' | 'forwardSend' | 'requestJoin' | 'openJoin' | 'closeJoin' | 'behindDelivery' | 'releaseHeld' | 'adminChanged'>
  readonly links: Pick<PeerLinks, 'request' | 'peerState' | 'list' | 'add' | 'remove' | 'setPartition' | 'partitionedFrom' | 'linkStats'>
  /** Per-user record of joined rooms, restored on hello (joined-rooms.ts). */
  readonly joined: Pick<JoinedRooms, 'list' | 'add' | 'remove'>
  readonly deletions: Pick<DeletionDriver, 'requestDelete' | 'blocksSend' | 'sendStarted' | 'sendFinished' | 'setFaults' | 'forwardDelayMs'>
  /** The shared history archive (--db), if any: answers history the room's log holder cannot. */
  readonly archive?: Pick<HistoryArchive, 'info' | 'history' | 'range' | 'rooms'>
  trace(kind: TraceKind, text: string, roomId?: string, peer?: string): void
  /** The cluster key in use, and adopting another (an invite, client-protocol.md section 7). */
  clusterKey(): string
  adoptClusterKey(key: string): void
}

/** room.create limits (docs/security.md, "Abuse limits"). */
export const ROOM_CREATES_PER_WINDOW = 5
export const ROOM_CREATE_WINDOW_MS = 10_000
export const MAX_ROOMS_PER_NODE = 200

/** A join answered behind this node's deliveries is asked again of the current administrator, at most this often in all. */
const JOIN_STALE_ATTEMPTS = 3

/** Leaves the client was told failed, remembered (oldest forgotten first) so it may leave again. */
const MAX_UNSETTLED_LEAVES = 10_000

/** A send of a replicated room, for keeping its (room, user) stream in order across a failover. */
interface StreamSend {
  /** Refused once and being sent again to the new administrator. */
  retrying: boolean
  /** The administrator its current attempt went to. */
  admin: string | undefined
  /** Resolves when it settles: made only when a later send has to wait for it (rare, a failover). */
  settled: Promise<void> | undefined
  settle: (() => void) | undefined
}

/** What a later send of the stream waits on (made the first time one has to). */
function settledOf(x: StreamSend): Promise<void> {
  return (x.settled ??= new Promise<void>((r) => (x.settle = r)))
}

export class ClientOps {
  private readonly startedAt: number
  /** Unsettled sends of replicated rooms by (room, user), in the order the client sent them. */
  private readonly failoverStreams = new Map<string, StreamSend[]>()
  /** (room, user) whose last room.leave failed with room_unavailable: room.leave may be sent again. */
  private readonly unsettledLeaves = new Set<string>()
  /** Sessions subscribed to `trace` events (tracing). */
  private readonly tracers = new Set<ClientSession>()

  constructor(private readonly c: ClientOpsComponents) {
    this.startedAt = c.clock.now()
  }

  /** A room as this session sees it (joined or not). */
  private info(e: DirectoryEntry, s: ClientSession): RoomInfo {
    return this.c.rooms.roomInfo(e, this.c.member.isIn(s, e.roomId))
  }

  /**
   * Carry out a request: its result, or a promise of it. `message.send`, most of the traffic, goes
   * straight to its op, without an async frame of its own (docs/benchmarks.md, "Client ingress").
   */
  handle(s: ClientSession, req: Request): unknown {
    if (req.op === 'message.send') return this.opSend(s, req)
    return this.handleOther(s, req)
  }

  private async handleOther(s: ClientSession, req: Exclude<Request, { op: 'message.send' }>): Promise<unknown> {
    switch (req.op) {
      case 'hello':
        return this.opHello(s, req)
      case 'rooms.list':
        return { rooms: [...this.c.rooms.directory.rooms.values()].map((e) => this.info(e, s)).sort(byName) } satisfies Results['rooms.list']
      case 'room.create': {
        this.checkRoomCreate(s.user!)
        const room = this.c.rooms.createRoom(req.name, { user: s.user!, nodeId: this.c.nodeId })
        return { room: this.info(this.c.rooms.entryOf(room), s) } satisfies Results['room.create']
      }
      case 'room.join':
        return this.opJoin(s, req.roomId)
      case 'room.leave':
        return this.opLeave(s, req.roomId)
      case 'room.preview':
        return this.opPreview(s, req)
      case 'room.members':
        return this.opMembers(req)
      case 'room.delete':
        return this.c.deletions.requestDelete(this.c.rooms.entry(req.roomId), s.user!)
      case 'history.fetch':
        return this.opHistory(s, req)
      case 'peers.list':
        return this.opPeers()
      case 'peers.add':
        return this.opAddPeer(req.address, req.invite)
      case 'peers.remove':
        return this.opRemovePeer(req.address)
      case 'trace.subscribe':
        s.trace = req.on
        if (s.trace) this.tracers.add(s)
        else this.tracers.delete(s)
        return { on: s.trace } satisfies Results['trace.subscribe']
      case 'node.info':
        return this.opInfo()
      case 'node.stats':
        return { uptimeMs: this.c.clock.now() - this.startedAt, links: this.c.links.linkStats(), archive: this.c.archive?.info(), memory: memoryUsage() } satisfies Results['node.stats']
      case 'archive.rooms':
        if (!this.c.archive) throw new ChatError('bad_request', 'this node keeps no history archive (start it with --db URL)')
        return { rooms: await this.c.archive.rooms() } satisfies Results['archive.rooms']
      case 'node.faults': {
        // Checks --allow-faults (forbidden otherwise) before anything changes.
        const twoPc = this.c.deletions.setFaults(req)
        const partitionedFrom = req.partition !== undefined ? this.c.links.setPartition(req.partition) : this.c.links.partitionedFrom()
        return { ...twoPc, partitionedFrom } satisfies Results['node.faults']
      }
    }
  }

  /** The connection closed: its sessions leave their rooms. */
  sessionClosed(s: ClientSession): void {
    this.tracers.delete(s)
    this.c.member.sessionClosed(s)
  }

  /**
   * Whether any session subscribed to `trace` events (a session's `trace` changes only here): when
   * none did, the node builds no trace line at all (docs/simulation.md, "Speed").
   */
  tracing(): boolean {
    return this.tracers.size > 0
  }

  private opHello(s: ClientSession, req: RequestOf<'hello'>): Results['hello'] {
    // 'system' creates every node's default room; a person by that name could delete them all.
    if (req.user.toLowerCase() === 'system') throw new ChatError('bad_request', 'the user name "system" is reserved')
    // One user per connection (client-protocol.md section 7): a second hello cannot rename anyone.
    if (s.user !== undefined) throw new ChatError('conflict', `this connection is already signed in as ${s.user}`)
    s.user = req.user
    // Not "listed in the directory": right after a restart the other nodes' rooms are not gossiped
    // yet. Known deletions are left out; a room gone beyond the tombstones fails its rejoin with
    // not_found, which drops it from the record (opJoin).
    const joinedRooms = this.c.joined.list(s.user, (id) => !this.c.rooms.directory.tombstones.has(id))
    // Batched deliveries only for clients that asked (client-protocol.md §5): old clients keep `message`.
    s.batch = req.batch === true
    // Large rooms as counts and member pages, only for clients that asked (client-protocol.md §5).
    s.largeRooms = req.largeRooms === true
    return { nodeId: this.c.nodeId, nodeName: this.c.self().name, user: s.user, protocol: PROTOCOL_VERSION, joinedRooms, batch: s.batch, largeRooms: s.largeRooms }
  }

  private requireAvailable(e: DirectoryEntry): void {
    const state = this.c.links.peerState(e.adminNodeId)
    if (e.adminNodeId !== this.c.nodeId && state !== 'alive' && state !== 'suspect') {
      throw new ChatError('room_unavailable', `room ${e.name}: its administrator ${e.adminNodeName} is unreachable`)
    }
  }

  private async opJoin(s: ClientSession, roomId: string): Promise<Results['room.join']> {
    let e: DirectoryEntry
    try {
      e = this.c.rooms.entry(roomId)
    } catch (err) {
      if (err instanceof ChatError && err.code === 'not_found') this.c.joined.remove(s.user!, roomId)
      throw err
    }
    this.requireAvailable(e)
    const user = s.user!
    let result: { members: Member[]; memberCount: number; lastSeq: number; history: ChatMessage[] }
    // The reply and the deliveries after it may share one frame, and this function resumes only
    // after the whole frame was handled: the member room and a join window are opened synchronously
    // when the reply arrives, so what is delivered meanwhile is caught for this session's history
    // (docs/ordering.md, "Join history meets the live stream").
    let window: JoinWindow | undefined
    let added = false
    try {
      if (e.adminNodeId === this.c.nodeId) {
        result = await this.localJoin(roomId, user)
      } else {
        let reply: Bodies['joinReply']
        for (let attempt = 1; ; attempt++) {
          this.c.trace('forward', `join ${user} → ${e.adminNodeName} for ${e.name}`, roomId, e.adminNodeName)
          const asked = e.adminNodeId
          let stale = false
          // A client that takes member pages needs only the first page: the administrator sends no
          // more (a whole list in every join reply made a room of N cost N² member entries).
          reply = await this.c.member.requestJoin(asked, roomId, user, (r) => {
            if (r.error) return
            // An answer from an administrator that this node's delivery has already left behind
            // (a replica took over while the answer was on its way, and its deliveries came first)
            // is older than what was delivered here: its history would end before the live stream
            // starts. It is asked again of the administrator now followed (docs/ordering.md §4).
            if (this.c.member.behindDelivery(roomId, asked, r.lastSeq)) stale = true
            else window = this.c.member.openJoin(roomId, asked, r.lastSeq)
          }, s.largeRooms ? MAX_MEMBER_PAGE : 0)
          if (reply.error) throw errorFromPeer(reply.error.code, reply.error.message)
          if (!stale) break
          const now = this.c.rooms.directory.rooms.get(roomId)
          if (!now) throw new ChatError('not_found', `room ${e.name} was deleted`)
          if (attempt >= JOIN_STALE_ATTEMPTS) throw new ChatError('room_unavailable', `room ${e.name}: its administrator is changing; join again`)
          this.c.trace('join', `join ${user} answered by ${e.adminNodeName} behind this node's deliveries (seq ${reply.lastSeq}): asking ${now.adminNodeName}`, roomId)
          e = now
          if (e.adminNodeId === this.c.nodeId) break
        }
        if (e.adminNodeId === this.c.nodeId) {
          // Asked again, and this node administers the room now.
          result = await this.localJoin(roomId, user)
        } else {
          // Only the administrator describes its room (docs/security.md).
          const described = reply.room && reply.room.adminNodeId === e.adminNodeId
          if (described) this.c.rooms.mergeRoom(reply.room!)
          // An administrator that predates member pages sends them all, and its count is the list's.
          const memberCount = Math.max(reply.members.length, described ? reply.room!.memberCount : 0)
          result = { members: reply.members, memberCount, lastSeq: reply.lastSeq, history: reply.history.map(fromWireMessage) }
        }
      }
      if (!this.c.rooms.directory.rooms.has(roomId)) throw new ChatError('not_found', `room ${e.name} was deleted`)
      // From here on the session gets the live stream from upTo + 1 (held until the reply is written).
      const upTo = this.c.member.addSession(s, roomId, e.adminNodeId, result.lastSeq)
      added = true
      this.unsettledLeaves.delete(`${roomId}\u0000${user}`)
      // A replica took the room over while the join was on its way (docs/replication.md): the
      // member side missed that change (it had no room yet), so it follows the new one now.
      const current = this.c.rooms.directory.rooms.get(roomId)
      if (current && current.adminNodeId !== e.adminNodeId) this.c.member.adminChanged(roomId, current.adminNodeId)
      const caught = window
      if (window) this.c.member.closeJoin(window)
      window = undefined
      this.c.joined.add(user, roomId)
      // The log that answered may lack older messages (it was lost, or a replica holds only a
      // suffix): the archive fills what it has (docs/archive.md, "Reading"). Only after the session
      // is added, so that waiting on the database never opens a gap in the live deliveries.
      const joinFrom = Math.max(1, result.lastSeq - JOIN_HISTORY + 1)
      const filled = result.history.length < result.lastSeq - joinFrom + 1
        ? await this.fillFromArchive(roomId, joinFrom, result.lastSeq, result.history)
        : { messages: result.history, source: 'embedded' as const }
      return {
        room: this.info(this.c.rooms.directory.rooms.get(roomId) ?? e, s),
        members: s.largeRooms ? result.members.slice(0, MAX_MEMBER_PAGE) : result.members,
        memberCount: result.memberCount,
        lastSeq: upTo,
        history: joinHistory(filled.messages, caught, upTo),
        historySource: this.c.archive ? filled.source : undefined,
      }
    } finally {
      if (window) this.c.member.closeJoin(window)
      // The reply is written once this settles: the session's held live messages follow it.
      if (added) this.c.member.releaseHeld(s, roomId)
    }
  }

  /** A join to a room this node administers. */
  private async localJoin(roomId: string, user: string): Promise<{ members: Member[]; memberCount: number; lastSeq: number; history: ChatMessage[] }> {
    // Synchronous: the administrator's reply and the session's first delivery cannot be apart.
    let result = this.c.admin.join(this.c.nodeId, roomId, user)
    // A replicated room: once a majority of its replicas holds the join (§8); the answer is then
    // read in the same turn as the session is added (the caller's next step), so nothing falls between.
    const settled = this.c.admin.joinSettled(roomId)
    if (settled) {
      await settled
      result = this.c.admin.joinResult(roomId)
    }
    return { ...result, memberCount: result.members.length }
  }

  /**
   * room.leave: the session leaves at once (it gets nothing more of the room), and the answer waits
   * until the administrator has the leave committed (docs/replication.md, "Membership and
   * deletion"; client-protocol.md §8), so an acknowledged leave survives a failover. Refused by an
   * administrator that no longer has the room, it goes to its successor as soon as the directory
   * names one, like a send; `room_unavailable` if none answers within --dead-ms + 1.5 s. The
   * client may then send room.leave again (remembered in unsettledLeaves), and it is asked again.
   */
  private async opLeave(s: ClientSession, roomId: string): Promise<Results['room.leave']> {
    const user = s.user!
    const key = `${roomId}\u0000${user}`
    let told: { user: string; adminNodeId: string } | undefined
    if (this.c.member.isIn(s, roomId)) told = this.c.member.leave(s, roomId)
    else if (this.unsettledLeaves.has(key) && !this.c.member.usersIn(roomId).includes(user)) told = { user, adminNodeId: this.c.rooms.entry(roomId).adminNodeId }
    else throw new ChatError('not_member', `not a member of room ${roomId}`)
    this.c.joined.remove(user, roomId)
    if (!told) return {}
    try {
      await this.commitLeave(roomId, user, told.adminNodeId)
      this.unsettledLeaves.delete(key)
    } catch (err) {
      if (!(err instanceof ChatError) || (err.code !== 'room_unavailable' && err.code !== 'timeout')) throw err
      this.unsettledLeaves.delete(key)
      this.unsettledLeaves.add(key)
      if (this.unsettledLeaves.size > MAX_UNSETTLED_LEAVES) this.unsettledLeaves.delete(this.unsettledLeaves.values().next().value!)
      throw new ChatError('room_unavailable', `you left room ${this.c.rooms.directory.rooms.get(roomId)?.name ?? roomId} on this node, but its administrator did not confirm it (${err.message}); leave again once the room is available`)
    }
    return {}
  }

  /** Tell the room's administrator, and its successors after a failover, until one commits the leave. */
  private async commitLeave(roomId: string, user: string, adminNodeId: string): Promise<void> {
    const deadline = this.c.clock.now() + this.c.options.deadMs + 1500
    let target = adminNodeId
    for (;;) {
      const before = this.c.rooms.directory.rooms.get(roomId)
      try {
        return await this.c.member.tellLeave(target, roomId, user)
      } catch (err) {
        if (!(err instanceof ChatError) || (err.code !== 'room_unavailable' && err.code !== 'timeout')) throw err
        // Unreplicated: nobody takes the room over, so there is nobody else to ask.
        if (!before || before.replicas.length < 2) throw err
        // Joined again meanwhile: that join is what the administrator should keep.
        if (this.c.member.usersIn(roomId).includes(user)) return
        if (!(await this.adminChange(roomId, { ...before, adminNodeId: target }, deadline))) throw err
        target = this.c.rooms.entry(roomId).adminNodeId
      }
    }
  }

  /**
   * The last messages of a room, read-only, for anyone signed in (joined or not). Joining needs no
   * permission in this system (client-protocol.md section 4, room.join), so a preview shows nothing
   * a join would not; it only spares the room a member that merely looks.
   */
  private async opPreview(s: ClientSession, req: RequestOf<'room.preview'>): Promise<Results['room.preview']> {
    const e = this.c.rooms.entry(req.roomId)
    const limit = req.limit ?? 20
    if (e.adminNodeId === this.c.nodeId) {
      return { room: this.info(e, s), messages: this.c.admin.history(req.roomId, undefined, limit) }
    }
    // Its administrator is gone: the shared archive still shows the room's last messages (archive.md).
    if (this.c.archive && !this.isAvailable(e)) {
      return { room: this.info(e, s), messages: await this.c.archive.history(req.roomId, undefined, limit) }
    }
    this.requireAvailable(e)
    // fromSeq 1, toSeq 0: an empty range for an administrator that predates `last`.
    const reply = await this.c.links.request<Bodies['fetchReply']>(e.adminNodeId, (reqId) =>
      msg('fetchRange', { reqId, roomId: req.roomId, fromSeq: 1, toSeq: 0, last: Math.min(limit, MAX_PREVIEW_LIMIT) }),
    )
    if (reply.error) throw errorFromPeer(reply.error.code, reply.error.message)
    return { room: this.info(this.c.rooms.directory.rooms.get(req.roomId) ?? e, s), messages: reply.messages.map(fromWireMessage).slice(-limit) }
  }

  /** The room's members, or with `limit` one page of them (client-protocol.md §4), and their count. */
  private async opMembers(req: RequestOf<'room.members'>): Promise<Results['room.members']> {
    const { roomId, offset = 0, limit } = req
    const e = this.c.rooms.entry(roomId)
    this.requireAvailable(e)
    if (e.adminNodeId === this.c.nodeId) {
      const all = this.c.admin.members(roomId)
      return { members: limit === undefined ? all : all.slice(offset, offset + limit), memberCount: all.length }
    }
    const reply = await this.c.links.request<Bodies['membersReply']>(e.adminNodeId, (reqId) => msg('membersRequest', { reqId, roomId, offset, limit: limit ?? 0 }))
    if (reply.error) throw errorFromPeer(reply.error.code, reply.error.message)
    const described = reply.room && reply.room.adminNodeId === e.adminNodeId
    // An administrator that predates pages answers with every member: the page is cut here.
    const paged = limit !== undefined && reply.members.length > limit
    return {
      members: paged ? reply.members.slice(offset, offset + limit) : reply.members,
      memberCount: described ? reply.room!.memberCount : reply.members.length,
    }
  }

  /**
   * Replicated rooms (client-protocol.md §8; docs/replication.md, "What a client sees"): a send
   * refused because the administrator died or is handing the room over goes again, with the same
   * clientMsgId (so it is committed at most once), to its successor as soon as the directory names
   * one; room_unavailable only when none comes within a detector period and a second.
   */
  private opSend(s: ClientSession, req: RequestOf<'message.send'>): Results['message.send'] | Promise<Results['message.send']> {
    // Unreplicated rooms keep the plain path: no retry loop, no extra await per send.
    if (this.c.rooms.entry(req.roomId).replicas.length < 2) return this.sendOnce(s, req)
    return this.sendReplicated(s, req)
  }

  private async sendReplicated(s: ClientSession, req: RequestOf<'message.send'>): Promise<Results['message.send']> {
    const deadline = this.c.clock.now() + this.c.options.deadMs + 1500
    // Sender FIFO across a failover (client-protocol.md §6, guarantee 2): sends refused by the old
    // administrator go again in the order they were sent, not in the order their waits end. A send
    // sent again first waits for every earlier send of its stream to settle; a new send waits for
    // earlier ones that are being sent again or went to another administrator (the old one, which
    // may refuse them after this one is numbered by the new one).
    const key = `${req.roomId}\u0000${s.user}`
    let stream = this.failoverStreams.get(key)
    if (!stream) this.failoverStreams.set(key, (stream = []))
    const me: StreamSend = { retrying: false, admin: undefined, settled: undefined, settle: undefined }
    stream.push(me)
    try {
      for (;;) {
        for (;;) {
          const target = this.c.rooms.entry(req.roomId).adminNodeId
          // Nothing is made unless a send ahead has to be waited for (the stream is usually only this send).
          let ahead: Promise<void>[] | undefined
          for (const x of stream) {
            if (x === me) break
            if (me.retrying || x.retrying || x.admin !== target) (ahead ??= []).push(settledOf(x))
          }
          if (!ahead) break
          await Promise.all(ahead)
        }
        const before = this.c.rooms.entry(req.roomId)
        me.admin = before.adminNodeId
        try {
          return await this.sendOnce(s, req)
        } catch (err) {
          if (!(err instanceof ChatError) || err.code !== 'room_unavailable' || before.replicas.length < 2) throw err
          me.retrying = true
          if (!(await this.adminChange(req.roomId, before, deadline))) throw err
        }
      }
    } finally {
      me.settle?.()
      stream.splice(stream.indexOf(me), 1)
      if (stream.length === 0 && this.failoverStreams.get(key) === stream) this.failoverStreams.delete(key)
    }
  }

  /** Wait until the directory names another administrator (or a higher term) for the room. */
  private async adminChange(roomId: string, before: DirectoryEntry, deadline: number): Promise<boolean> {
    while (this.c.clock.now() < deadline) {
      const now = this.c.rooms.directory.rooms.get(roomId)
      if (!now) return false
      if (now.term > before.term || now.adminNodeId !== before.adminNodeId) return true
      // Woken by the new administrator's entry as it arrives (bounded, in case it came meanwhile).
      await this.c.rooms.entryChange(roomId, Math.max(1, Math.min(200, deadline - this.c.clock.now())))
    }
    return false
  }

  /**
   * One attempt: its seq at once when this node numbers it without waiting, else a promise of it.
   * A refusal found here is thrown at once (the caller turns it into the client's error reply).
   */
  private sendOnce(s: ClientSession, req: RequestOf<'message.send'>): Results['message.send'] | Promise<Results['message.send']> {
    const e = this.c.rooms.entry(req.roomId)
    if (!this.c.member.isIn(s, req.roomId)) throw new ChatError('not_member', `join room ${e.name} before sending to it`)
    this.requireAvailable(e)
    if (e.adminNodeId === this.c.nodeId) {
      const seq = this.c.admin.send(this.c.nodeId, req.roomId, s.user!, req.text, req.clientMsgId)
      return typeof seq === 'number' ? { seq } : seq.then(seqResult)
    }
    // A participant that voted READY holds the room frozen too (docs/deletion.md): refuse here, without a
    // forward, so the answer is room_busy even before the administrator's frozen flag is gossiped.
    if (this.c.deletions.blocksSend(req.roomId)) throw new ChatError('room_busy', `room ${e.name} is frozen while its deletion is decided`)
    return this.forward(s, req, e)
  }

  private async forward(s: ClientSession, req: RequestOf<'message.send'>, e: DirectoryEntry): Promise<Results['message.send']> {
    this.c.deletions.sendStarted(req.roomId)
    try {
      // One ordered stream per (room, user): a send bounced by the administrator (not_member after
      // it dropped our users) is forwarded again before any later send of the same user, and the
      // delayForwardMs fault holds the stream, not each send (send-streams.ts, docs/ordering.md).
      const seq = await this.c.member.forwardSend({
        adminNodeId: e.adminNodeId,
        roomId: req.roomId,
        user: s.user!,
        text: req.text,
        clientMsgId: req.clientMsgId,
        delayMs: this.c.deletions.forwardDelayMs(),
        // The protocol log's line, only when someone reads it (a closure per send otherwise).
        onForward: this.tracers.size > 0 ? () => this.c.trace('forward', `send → ${e.adminNodeName} for ${e.name}`, req.roomId, e.adminNodeName) : undefined,
      })
      return { seq }
    } finally {
      this.c.deletions.sendFinished(req.roomId)
    }
  }

  private async opHistory(s: ClientSession, req: RequestOf<'history.fetch'>): Promise<Results['history.fetch']> {
    const limit = req.limit ?? 50
    const e = this.c.rooms.directory.rooms.get(req.roomId)
    const archive = this.c.archive
    // A room no node administers any more (its administrator is dead, or this node restarted with
    // an empty data dir and never heard of it): the archive answers, for any signed-in client
    // (docs/archive.md, "Reading").
    if (archive && (!e || !this.isAvailable(e))) {
      return { messages: await archive.history(req.roomId, req.beforeSeq, limit), source: 'database' }
    }
    if (!e) throw new ChatError('not_found', `no room with id ${req.roomId}`)
    if (!this.c.member.isIn(s, req.roomId)) throw new ChatError('not_member', `join room ${e.name} to read its history`)
    if (e.adminNodeId === this.c.nodeId) {
      const messages = this.c.admin.history(req.roomId, req.beforeSeq, limit)
      const to = messages.length ? messages[messages.length - 1].seq : (req.beforeSeq ?? 1) - 1
      const r = await this.fillFromArchive(req.roomId, Math.max(1, to - limit + 1), to, messages)
      return { messages: r.messages, source: archive ? r.source : undefined }
    }
    this.requireAvailable(e)
    const to = (req.beforeSeq ?? this.c.member.nextSeq(req.roomId) ?? Number.MAX_SAFE_INTEGER) - 1
    const from = Math.max(1, to - limit + 1)
    let reply: Bodies['fetchReply']
    try {
      reply = await this.c.links.request<Bodies['fetchReply']>(e.adminNodeId, (reqId) =>
        msg('fetchRange', { reqId, roomId: req.roomId, fromSeq: from, toSeq: to }),
      )
    } catch (err) {
      // The administrator died while we asked: the archive may still hold the answer.
      if (!archive) throw err
      return { messages: await archive.history(req.roomId, req.beforeSeq ?? to + 1, limit), source: 'database' }
    }
    if (reply.error) throw errorFromPeer(reply.error.code, reply.error.message)
    const got = reply.messages.map(fromWireMessage)
    const r = await this.fillFromArchive(req.roomId, got.length ? from : to + 1, got.length ? got[got.length - 1].seq : to, got)
    return { messages: r.messages, source: archive ? r.source : undefined }
  }

  /**
   * `messages` should hold every seq from..to; the seqs it lacks are read from the archive, when
   * there is one and it answers. A failing archive leaves the answer as the log gave it.
   */
  private async fillFromArchive(roomId: string, from: number, to: number, messages: ChatMessage[]): Promise<{ messages: ChatMessage[]; source: HistorySource }> {
    const archive = this.c.archive
    if (!archive || to < from || messages.length >= to - from + 1) return { messages, source: 'embedded' }
    const have = new Set(messages.map((m) => m.seq))
    let extra: ChatMessage[]
    try {
      extra = (await archive.range(roomId, from, to)).filter((m) => !have.has(m.seq))
    } catch {
      return { messages, source: 'embedded' }
    }
    if (extra.length === 0) return { messages, source: 'embedded' }
    return { messages: [...messages, ...extra].sort((a, b) => a.seq - b.seq), source: 'database' }
  }

  private isAvailable(e: DirectoryEntry): boolean {
    const state = this.c.links.peerState(e.adminNodeId)
    return e.adminNodeId === this.c.nodeId || state === 'alive' || state === 'suspect'
  }

  private opPeers(): Results['peers.list'] {
    const self = this.c.self()
    return {
      self: { nodeId: self.nodeId, name: self.name, address: self.address, invite: this.invite() },
      peers: this.c.links.list(),
    }
  }

  /**
   * peers.add of an address or an invite (client-protocol.md section 7). An invite with another key
   * is adopted only by a node that has no peer yet (a new node joining a cluster); the key goes back
   * if the link fails, so a mistyped invite does not cut the node off from its own key.
   */
  private async opAddPeer(address: string | undefined, invite: string | undefined): Promise<Results['peers.add']> {
    if ((address === undefined) === (invite === undefined)) throw new ChatError('bad_request', 'give either address or invite')
    if (invite === undefined) return { peer: await this.c.links.add(address!) }
    const parsed = parseInvite(invite)
    if (!parsed) throw new ChatError('bad_request', 'not an invite')
    const previous = this.c.clusterKey()
    if (parsed.clusterKey === previous) return { peer: await this.c.links.add(parsed.address) }
    if (this.c.links.list().length > 0) {
      throw new ChatError('forbidden', 'that invite is for another cluster, and this node is already in one (remove its peers first)')
    }
    this.c.adoptClusterKey(parsed.clusterKey)
    try {
      return { peer: await this.c.links.add(parsed.address) }
    } catch (e) {
      this.c.adoptClusterKey(previous)
      throw e
    }
  }

  /**
   * Abuse limits on room.create (docs/security.md, "Abuse limits"): a few per user per window, and
   * a cap on the rooms one node administers (every node lists every room).
   */
  private checkRoomCreate(user: string): void {
    const maxRooms = this.c.options.maxRooms ?? MAX_ROOMS_PER_NODE
    const perUser = this.c.options.roomCreatesPer10s ?? ROOM_CREATES_PER_WINDOW
    if (this.c.rooms.adminRooms.size >= maxRooms) {
      throw new ChatError('forbidden', `this node already administers ${maxRooms} rooms: delete some first`)
    }
    const now = this.c.clock.now()
    const recent = (this.roomCreates.get(user) ?? []).filter((t) => now - t < ROOM_CREATE_WINDOW_MS)
    if (recent.length >= perUser) {
      throw new ChatError('rate_limited', `at most ${perUser} new rooms per ${ROOM_CREATE_WINDOW_MS / 1000} s: wait a moment`)
    }
    recent.push(now)
    this.roomCreates.set(user, recent)
    // Forget users whose window is over (bounded by the users who created rooms lately).
    if (this.roomCreates.size > 1000) for (const [u, ts] of this.roomCreates) if (ts.every((t) => now - t >= ROOM_CREATE_WINDOW_MS)) this.roomCreates.delete(u)
  }
  private readonly roomCreates = new Map<string, number[]>()

  /** This node's invite: its address for lab mates, with the key (node.info, peers.list). */
  private invite(): string {
    const self = this.c.self()
    const key = this.c.clusterKey()
    const now = Date.now()
    // Listing interfaces is a system call: peers.list is asked often, the answer changes rarely.
    if (this.cachedInvite?.key !== key || now - this.cachedInvite.at > 10_000) {
      const addresses = joinAddresses(this.c.options.grpcHost, self.address)
      // Listening on every interface: the LAN address, which lab mates on other machines can reach.
      this.cachedInvite = { key, at: now, invite: formatInvite(addresses[1] ?? addresses[0], key) }
    }
    return this.cachedInvite.invite
  }
  private cachedInvite: { key: string; at: number; invite: string } | undefined

  private opRemovePeer(address: string): Results['peers.remove'] {
    this.c.links.remove(address)
    return {}
  }

  private opInfo(): Results['node.info'] {
    const self = this.c.self()
    const o = this.c.options
    return {
      self: { nodeId: self.nodeId, name: self.name, address: self.address, invite: this.invite() },
      joinAddresses: joinAddresses(o.grpcHost, self.address),
      ws: this.c.wsUrl(),
      heartbeatMs: o.heartbeatMs,
      suspectMs: o.suspectMs,
      deadMs: o.deadMs,
      allowFaults: o.allowFaults ?? false,
      archive: this.c.archive?.info(),
    }
  }
}

/**
 * A join's history: the administrator's, up to where this node's delivery stood when the reply was
 * handled (`window.from`), then what this node delivered since; never past `upTo`, where the
 * session's live stream starts. Seqs strictly rise, so history + live is gap-free.
 */
function joinHistory(fromAdmin: ChatMessage[], window: JoinWindow | undefined, upTo: number): ChatMessage[] {
  const all = window ? [...fromAdmin.filter((m) => m.seq <= window.from), ...window.caught] : fromAdmin
  const out: ChatMessage[] = []
  for (const m of all) if (m.seq <= upTo && (out.length === 0 || m.seq > out[out.length - 1].seq)) out.push(m)
  return out
}

function seqResult(seq: number): Results['message.send'] {
  return { seq }
}

function byName(a: RoomInfo, b: RoomInfo): number {
  return a.name.localeCompare(b.name) || a.roomId.localeCompare(b.roomId)
}

/** What lab mates can type to reach this node: the bound address, or every LAN address if bound to all. */
function joinAddresses(grpcHost: string, advertised: string): string[] {
  const port = advertised.slice(advertised.lastIndexOf(':') + 1)
  if (!['0.0.0.0', '::', ''].includes(grpcHost)) return [advertised]
  const out = [advertised]
  const nets = networkInterfaces()
  for (const list of Object.values(nets)) {
    for (const n of list ?? []) if (n.family === 'IPv4' && !n.internal) out.push(`${n.address}:${port}`)
  }
  return out
}
