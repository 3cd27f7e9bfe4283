/**
 * The peer node: drives the pure cores of main/core with real time, sockets and files.
 *
 *   client --ws--> gateway --> PeerNode --gRPC Link--> the room's administrator (maybe itself)
 *                                  ^                         | next seq
 *                                  +------- Deliver ---------+ to every node with members
 *
 * Rules it keeps (architecture.md): effects of a core step are carried out in the order returned,
 * persist first and send second; every peer message is checked before use and a bad one is logged
 * and dropped, never thrown past the handler; every request to another node has a timeout and fails
 * at once when that node is declared dead, so a client never waits on silence.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { hostname, networkInterfaces } from 'node:os'
import {
  PROTOCOL_VERSION,
  type ChatMessage,
  type Member,
  type PeerState,
  type Request,
  type RequestOf,
  type Results,
  type RoomInfo,
  type ServerEvent,
  type TraceKind,
} from '../../proto/client-protocol'
import { ChatError, errorFromPeer } from '../core/errors'
import { newReorder, stepReorder, type ReorderEffect, type ReorderState } from '../core/reorder-buffer'
import type { Directory, DirectoryEntry } from '../core/room-directory'
import {
  logBefore,
  logRange,
  memberList,
  stepRoom,
  type AdminRoom,
  type RoomEffect,
  type RoomInput,
} from '../core/room-ordering'
import { msg, type Bodies, type DecodedMessage, type Hello, type NodeRef, type PeerMessage } from '../cluster/peer-messages'
import { PeerTransport } from '../cluster/peer-transport'
import { WsGateway, type ClientSession } from '../gateway/ws-gateway'
import { NodeStore } from './node-store'
import type { NodeOptions, RunningNode } from './node-options'
import { DeletionDriver } from './deletion-driver'
import { RoomDirectorySync } from './room-directory-sync'
import { PeerLinks, REQUEST_TIMEOUT_MS, type ReplyKind } from './peer-links'
import { fromWireMessage, requireString, toWireMessage, toWireRoom } from './peer-wire'

export { toWireRoom }

/** Reorder-buffer and detector tick. */
const TICK_MS = 50

/** A room this node has local members in: its reorder buffer and its local sessions by user. */
interface MemberRoom {
  roomId: string
  adminNodeId: string
  buffer: ReorderState
  users: Map<string, Set<ClientSession>>
}


export class PeerNode implements RunningNode {
  readonly nodeId: string
  readonly name: string
  readonly token: string
  readonly incarnation = randomUUID()
  grpcAddress = ''
  wsUrl = ''
  uiUrl: string | undefined

  private readonly store: NodeStore
  private readonly transport: PeerTransport
  private readonly gateway: WsGateway
  private readonly links: PeerLinks
  private readonly rooms: RoomDirectorySync
  private readonly memberRooms = new Map<string, MemberRoom>()
  private tickTimer: NodeJS.Timeout | undefined
  private stopped = false
  readonly deletions: DeletionDriver
  private readonly log: (line: string) => void

  constructor(readonly o: NodeOptions) {
    this.store = new NodeStore(o.dataDir)
    this.nodeId = this.store.identity().nodeId
    this.name = o.name ?? `${hostname()}:${o.grpcPort}`
    this.token = o.token ?? randomBytes(18).toString('base64url')
    this.log = o.log ?? (() => {})
    this.transport = new PeerTransport({
      hello: () => this.links.hello(),
      inboundHello: (h, remoteHost) => this.links.onInboundHello(h, remoteHost),
      inbound: (from, messages) => this.links.onInbound(from, messages),
      outboundDown: () => {},
      log: this.log,
    })
    this.links = new PeerLinks({
      nodeId: this.nodeId,
      incarnation: this.incarnation,
      self: () => this.selfRef(),
      transport: this.transport,
      store: this.store,
      timing: o,
      tickMs: TICK_MS,
      log: this.log,
      trace: (kind, text, roomId, peer) => this.trace(kind, text, roomId, peer),
      emit: (e) => this.emit(e),
      directoryRooms: () => this.rooms.wireRooms(),
      ownRooms: () => this.rooms.ownWireRooms(),
      learnRooms: (from, rooms, complete) => this.rooms.learnRooms(from, rooms, complete),
      peerDead: (peer) => this.peerDied(peer),
      peerRevived: (peer) => this.peerRevived(peer),
      peerRestarted: (peer) => this.peerRestarted(peer),
      resyncRoomsOf: (adminNodeId, why) => this.resyncRoomsOf(adminNodeId, why),
      roomMessage: (from, m) => this.onRoomMessage(from, m),
    })
    this.rooms = new RoomDirectorySync({
      nodeId: this.nodeId,
      nodeName: () => this.name,
      store: this.store,
      log: this.log,
      emit: (e) => this.emit(e),
      trace: (kind, text, roomId, peer) => this.trace(kind, text, roomId, peer),
      broadcast: (m) => this.links.broadcast(m),
      peerState: (nodeId) => this.links.peerState(nodeId),
      knowsPeer: (nodeId) => this.links.knows(nodeId),
      forgetMemberRoom: (roomId) => this.forgetMemberRoom(roomId),
    })
    this.gateway = new WsGateway({
      host: o.wsHost,
      port: o.wsPort,
      token: this.token,
      uiDir: o.uiDir,
      allowedOrigins: o.allowedOrigins,
      log: this.log,
      api: { handle: (s, r) => this.handle(s, r), closed: (s) => this.sessionClosed(s) },
    })
    this.deletions = new DeletionDriver(this, this.store, o)
  }

  // -------------------------------------------------------------------------------------------
  // Start and stop

  async start(): Promise<void> {
    const grpcPort = await this.transport.listen(this.o.grpcHost, this.o.grpcPort)
    // Bound to every interface: say the host the user gave (--advertise), else loopback, which peers
    // on other machines replace with the address they actually reached us on (peer-address.ts).
    const advertised = this.o.advertiseHost || (['0.0.0.0', '::', ''].includes(this.o.grpcHost) ? '127.0.0.1' : this.o.grpcHost)
    this.grpcAddress = `${advertised.includes(':') ? `[${advertised}]` : advertised}:${grpcPort}`
    if (this.o.name === undefined) (this as { name: string }).name = `${hostname()}:${grpcPort}`
    const wsPort = await this.gateway.listen()
    const wsHost = ['0.0.0.0', '::', ''].includes(this.o.wsHost) ? '127.0.0.1' : this.o.wsHost
    const wsHostPart = wsHost.includes(':') ? `[${wsHost}]` : wsHost
    this.wsUrl = `ws://${wsHostPart}:${wsPort}`
    if (this.o.uiDir) this.uiUrl = `http://${wsHostPart}:${wsPort}/?token=${encodeURIComponent(this.token)}`

    this.rooms.restoreRooms()
    if (this.rooms.adminRooms.size === 0) this.rooms.createRoom(`${this.name} lobby`, 'system')
    this.deletions.recover()

    this.tickTimer = setInterval(() => this.tick(), Math.min(TICK_MS, this.o.heartbeatMs))
    this.links.start(new Set([...this.o.join, ...this.store.peers()]))
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    clearInterval(this.tickTimer)
    this.rooms.flushRooms()
    await this.links.stop()
    this.deletions.stop()
    await this.gateway.close()
    await this.transport.close()
    // Nothing can send any more: record the exact lastSeq so a clean restart has no seq jump.
    this.rooms.flushRooms(true)
  }

  knownPeerAddresses(): string[] {
    return this.links.knownAddresses()
  }

  // -------------------------------------------------------------------------------------------
  // Peers (peer-links.ts), and what their comings and goings mean for rooms

  selfRef(): NodeRef {
    return { nodeId: this.nodeId, name: this.name, address: this.grpcAddress }
  }

  async addPeer(address: string): Promise<void> {
    await this.dial(address)
  }

  dial(address: string): Promise<Hello> {
    return this.links.dial(address)
  }

  send(nodeId: string, m: PeerMessage): boolean {
    return this.links.send(nodeId, m)
  }

  broadcast(m: PeerMessage, except?: string): void {
    this.links.broadcast(m, except)
  }

  peerState(nodeId: string): PeerState | undefined {
    return this.links.peerState(nodeId)
  }

  peerName(nodeId: string): string {
    return this.links.peerName(nodeId)
  }

  answer<K extends ReplyKind>(
    to: string,
    reply: K,
    reqId: number,
    fn: () => Omit<Bodies[K], 'reqId' | 'error'>,
    empty: Omit<Bodies[K], 'reqId' | 'error'>,
  ): void {
    this.links.answer(to, reply, reqId, fn, empty)
  }

  request<T>(nodeId: string, build: (reqId: number) => PeerMessage, timeoutMs = REQUEST_TIMEOUT_MS, onReply?: (body: T) => void): Promise<T> {
    return this.links.request(nodeId, build, timeoutMs, onReply)
  }

  private peerDied(peer: NodeRef): void {
    this.rooms.adminUnreachable(peer)
    // Its users leave the rooms we administer (client-protocol.md 6.4).
    for (const room of this.rooms.adminRooms.values()) this.roomStep(room, { type: 'node-dead', nodeId: peer.nodeId })
    this.deletions.peerDead(peer.nodeId)
  }

  private peerRevived(peer: NodeRef): void {
    this.rooms.adminBack(peer)
  }

  /** A new incarnation: its old members are gone (peer-links.ts then rejoins ours). */
  private peerRestarted(peer: NodeRef): void {
    for (const room of this.rooms.adminRooms.values()) this.roomStep(room, { type: 'node-dead', nodeId: peer.nodeId })
  }

  /** Join again every local user of the rooms `adminNodeId` administers, and fetch what we missed. */
  private resyncRoomsOf(adminNodeId: string, why: string): void {
    for (const mr of this.memberRooms.values()) {
      if (mr.adminNodeId !== adminNodeId) continue
      for (const user of mr.users.keys()) {
        this.request<Bodies['joinReply']>(adminNodeId, (reqId) => msg('joinRequest', { reqId, roomId: mr.roomId, user }))
          .then((reply) => {
            if (reply.error) throw errorFromPeer(reply.error.code, reply.error.message)
            const lastSeq = reply.lastSeq
            if (lastSeq + 1 < mr.buffer.nextSeq) {
              // The administrator restarted and its count is behind ours: start over from its count.
              this.log(`room ${mr.roomId}: administrator is at seq ${lastSeq}, we were at ${mr.buffer.nextSeq - 1}; restarting the sequence`)
              this.reorder(mr, { type: 'reset', lastSeq })
            } else this.reorder(mr, { type: 'known-last', lastSeq, now: Date.now() })
            this.trace('join', `rejoined ${user} to ${mr.roomId} (${why})`, mr.roomId)
          })
          .catch((e: Error) => this.log(`rejoin ${user} to ${mr.roomId}: ${e.message}`))
      }
    }
  }

  private tick(): void {
    const now = Date.now()
    this.links.tick(now)
    for (const mr of this.memberRooms.values()) this.reorder(mr, { type: 'tick', now })
    this.deletions.tick(now)
  }

  // -------------------------------------------------------------------------------------------
  // Peer messages about rooms (peer-links.ts handles those about links, and the replies)

  private onRoomMessage(from: string, m: DecodedMessage): void {
    switch (m.body) {
      case 'roomRemoved':
        this.dropRoom(requireString(m.roomRemoved.roomId, 'roomId'))
        return
      case 'rejoin':
        this.resyncRoomsOf(from, m.rejoin.reason || 'asked by the administrator')
        return
      case 'joinRequest': {
        const { reqId, roomId, user } = m.joinRequest
        this.answer(from, 'joinReply', reqId, () => {
          const r = this.adminJoin(from, requireString(roomId, 'roomId'), requireString(user, 'user'))
          return { room: toWireRoom(this.rooms.entryOf(r.room)), members: r.members, lastSeq: r.lastSeq, history: r.history }
        }, { room: null, members: [], lastSeq: 0, history: [] })
        return
      }
      case 'leaveRequest': {
        const { roomId, user } = m.leaveRequest
        const room = this.rooms.adminRooms.get(roomId)
        if (room) this.roomStep(room, { type: 'leave', user, nodeId: from })
        return
      }
      case 'membersRequest': {
        const { reqId, roomId } = m.membersRequest
        this.answer(from, 'membersReply', reqId, () => {
          const room = this.adminRoom(roomId)
          return { members: memberList(room), room: toWireRoom(this.rooms.entryOf(room)) }
        }, { members: [], room: null })
        return
      }
      case 'memberEvent': {
        const e = m.memberEvent
        this.memberEvent(e.roomId, { user: e.user, nodeId: e.nodeId }, e.joined)
        return
      }
      case 'forwardSend': {
        const f = m.forwardSend
        this.answer(from, 'sendAck', f.reqId, () => {
          this.trace('seq', `forwarded send from ${this.peerName(from)} for ${f.roomId}`, f.roomId, this.peerName(from))
          return { seq: this.adminSend(from, f.roomId, f.user, f.text, f.clientMsgId) }
        }, { seq: 0 })
        return
      }
      case 'deliver': {
        const mr = this.memberRooms.get(m.deliver.roomId)
        if (!mr || mr.adminNodeId !== from) return // not ours (any more): late delivery after a leave
        this.reorder(mr, { type: 'arrive', messages: m.deliver.messages.map(fromWireMessage), now: Date.now() })
        return
      }
      case 'fetchRange': {
        const f = m.fetchRange
        this.answer(from, 'fetchReply', f.reqId, () => {
          const room = this.adminRoom(f.roomId)
          const to = Math.min(f.toSeq, f.fromSeq + 1000)
          this.trace('gap', `${this.peerName(from)} fetched seq ${f.fromSeq}..${to} of ${f.roomId}`, f.roomId)
          return { messages: logRange(room, f.fromSeq, to) }
        }, { messages: [] })
        return
      }
      default:
        this.deletions.onPeerMessage(from, m)
    }
  }

  // -------------------------------------------------------------------------------------------
  // The directory (room-directory-sync.ts)

  get directory(): Directory {
    return this.rooms.directory
  }

  get adminRooms(): Map<string, AdminRoom> {
    return this.rooms.adminRooms
  }

  /** A room is gone (deleted): forget it everywhere on this node and tell our clients. */
  dropRoom(roomId: string): void {
    this.rooms.dropRoom(roomId)
  }

  private forgetMemberRoom(roomId: string): void {
    const mr = this.memberRooms.get(roomId)
    this.memberRooms.delete(roomId)
    if (mr) for (const sessions of mr.users.values()) for (const s of sessions) s.rooms.delete(roomId)
  }

  // -------------------------------------------------------------------------------------------
  // The administrator's side

  adminRoom(roomId: string): AdminRoom {
    const room = this.rooms.adminRooms.get(roomId)
    if (!room) throw new ChatError('not_found', `no room ${roomId} on this node`)
    return room
  }

  /** One step of a room's core, with its effects carried out in order; returns the reply effect. */
  roomStep(room: AdminRoom, input: RoomInput): RoomEffect | undefined {
    const { effects } = stepRoom(room, input)
    let reply: RoomEffect | undefined
    for (const e of effects) {
      switch (e.type) {
        case 'deliver':
          for (const node of e.toNodes) {
            if (node === this.nodeId) this.localDeliver(room.roomId, [e.message])
            else this.send(node, msg('deliver', { roomId: room.roomId, messages: [toWireMessage(e.message)] }))
          }
          break
        case 'member-event':
          for (const node of e.toNodes) {
            if (node === this.nodeId) this.memberEvent(room.roomId, e.member, e.joined)
            else this.send(node, msg('memberEvent', { roomId: room.roomId, ...e.member, joined: e.joined }))
          }
          this.trace(e.joined ? 'join' : 'leave', `${e.member.user}@${this.peerName(e.member.nodeId)} ${e.joined ? 'joined' : 'left'} ${room.name}`, room.roomId)
          break
        case 'directory-changed':
          this.rooms.publishRoom(room)
          break
        default:
          reply = e
      }
    }
    return reply
  }

  private adminJoin(fromNode: string, roomId: string, user: string) {
    const room = this.adminRoom(roomId)
    const reply = this.roomStep(room, { type: 'join', user, nodeId: fromNode })
    if (reply?.type === 'reply-error') throw new ChatError(reply.code, reply.message)
    if (reply?.type !== 'reply-join') throw new ChatError('internal', 'join gave no answer')
    return { room, members: reply.members, lastSeq: reply.lastSeq, history: reply.history }
  }

  private adminSend(fromNode: string, roomId: string, user: string, text: string, clientMsgId: string): number {
    const room = this.adminRoom(roomId)
    if (this.deletions.blocksSend(roomId)) throw new ChatError('room_busy', `room ${room.name} is frozen while its deletion is decided`)
    this.rooms.reserveNextSeq(room)
    const reply = this.roomStep(room, { type: 'send', user, nodeId: fromNode, text, clientMsgId, now: Date.now() })
    if (reply?.type === 'reply-error') throw new ChatError(reply.code, reply.message)
    if (reply?.type !== 'reply-send') throw new ChatError('internal', 'send gave no answer')
    if (!reply.duplicate) this.trace('seq', `seq ${reply.seq} → ${user}@${this.peerName(fromNode)} in ${room.name}`, roomId)
    this.rooms.scheduleSaveRooms()
    return reply.seq
  }

  // -------------------------------------------------------------------------------------------
  // The member's side: ordered delivery to local clients

  private reorder(mr: MemberRoom, input: Parameters<typeof stepReorder>[1]): void {
    const { effects } = stepReorder(mr.buffer, input)
    for (const e of effects) this.reorderEffect(mr, e)
  }

  private reorderEffect(mr: MemberRoom, e: ReorderEffect): void {
    if (e.type === 'deliver') {
      for (const m of e.messages) {
        const frame: ServerEvent = { event: 'message', ...m }
        for (const sessions of mr.users.values()) for (const s of sessions) s.send(frame)
      }
      return
    }
    this.trace('gap', `missing seq ${e.fromSeq}..${e.toSeq} of ${mr.roomId}: fetching`, mr.roomId)
    if (mr.adminNodeId === this.nodeId) {
      const room = this.rooms.adminRooms.get(mr.roomId)
      if (room) this.reorder(mr, { type: 'arrive', messages: logRange(room, e.fromSeq, e.toSeq), now: Date.now() })
      return
    }
    this.request<Bodies['fetchReply']>(mr.adminNodeId, (reqId) =>
      msg('fetchRange', { reqId, roomId: mr.roomId, fromSeq: e.fromSeq, toSeq: e.toSeq }),
    )
      .then((reply) => {
        if (reply.error) throw errorFromPeer(reply.error.code, reply.error.message)
        if (reply.messages.length === 0 && e.fromSeq === mr.buffer.nextSeq) {
          // The administrator no longer has them (its log is bounded, or it restarted): skip the gap
          // rather than wait for it for ever, and say so in the log.
          this.log(`room ${mr.roomId}: seq ${e.fromSeq}..${e.toSeq} are gone at the administrator; skipping them`)
          mr.buffer.nextSeq = e.toSeq + 1
        }
        this.reorder(mr, { type: 'arrive', messages: reply.messages.map(fromWireMessage), now: Date.now() })
      })
      .catch((err: Error) => this.log(`fetch ${mr.roomId} ${e.fromSeq}..${e.toSeq}: ${err.message}`))
  }

  private localDeliver(roomId: string, messages: ChatMessage[]): void {
    const mr = this.memberRooms.get(roomId)
    if (mr) this.reorder(mr, { type: 'arrive', messages, now: Date.now() })
  }

  private memberEvent(roomId: string, member: Member, joined: boolean): void {
    const mr = this.memberRooms.get(roomId)
    if (!mr) return
    const frame: ServerEvent = { event: joined ? 'member.joined' : 'member.left', roomId, user: member.user, nodeId: member.nodeId }
    for (const sessions of mr.users.values()) for (const s of sessions) s.send(frame)
  }

  // -------------------------------------------------------------------------------------------
  // Client ops (client-protocol.md section 4)

  private async handle(s: ClientSession, req: Request): Promise<unknown> {
    switch (req.op) {
      case 'hello':
        return this.opHello(s, req)
      case 'rooms.list':
        return { rooms: [...this.rooms.directory.rooms.values()].map((e) => this.rooms.roomInfo(e, s)).sort(byName) } satisfies Results['rooms.list']
      case 'room.create': {
        const room = this.rooms.createRoom(req.name, s.user!)
        return { room: this.rooms.roomInfo(this.rooms.entryOf(room), s) } satisfies Results['room.create']
      }
      case 'room.join':
        return this.opJoin(s, req.roomId)
      case 'room.leave':
        return this.opLeave(s, req.roomId)
      case 'room.members':
        return this.opMembers(req.roomId)
      case 'message.send':
        return this.opSend(s, req)
      case 'room.delete':
        return this.deletions.requestDelete(this.rooms.entry(req.roomId), s.user!)
      case 'history.fetch':
        return this.opHistory(s, req)
      case 'peers.list':
        return this.opPeers()
      case 'peers.add':
        return this.opAddPeer(req.address)
      case 'peers.remove':
        return this.opRemovePeer(req.address)
      case 'trace.subscribe':
        s.trace = req.on
        return { on: s.trace } satisfies Results['trace.subscribe']
      case 'node.info':
        return this.opInfo()
      case 'node.faults':
        return this.deletions.setFaults(req)
    }
  }

  private opHello(s: ClientSession, req: RequestOf<'hello'>): Results['hello'] {
    // 'system' creates every node's default room; a person by that name could delete them all.
    if (req.user.toLowerCase() === 'system') throw new ChatError('bad_request', 'the user name "system" is reserved')
    if (s.user !== undefined && s.user !== req.user && s.rooms.size > 0) {
      throw new ChatError('conflict', `already signed in as ${s.user} with rooms joined: leave them first`)
    }
    s.user = req.user
    return { nodeId: this.nodeId, nodeName: this.name, user: s.user, protocol: PROTOCOL_VERSION }
  }

  private requireAvailable(e: DirectoryEntry): void {
    if (e.adminNodeId !== this.nodeId && this.peerState(e.adminNodeId) !== 'alive' && this.peerState(e.adminNodeId) !== 'suspect') {
      throw new ChatError('room_unavailable', `room ${e.name}: its administrator ${e.adminNodeName} is unreachable`)
    }
  }

  private async opJoin(s: ClientSession, roomId: string): Promise<Results['room.join']> {
    const e = this.rooms.entry(roomId)
    this.requireAvailable(e)
    const user = s.user!
    let result: { members: Member[]; lastSeq: number; history: ChatMessage[] }
    if (e.adminNodeId === this.nodeId) {
      result = this.adminJoin(this.nodeId, roomId, user)
    } else {
      this.trace('forward', `join ${user} → ${e.adminNodeName} for ${e.name}`, roomId, e.adminNodeName)
      // The reply and the first deliveries after it may share one frame: the member room must exist
      // before those deliveries are handled, so it is set up synchronously when the reply arrives.
      const reply = await this.request<Bodies['joinReply']>(
        e.adminNodeId,
        (reqId) => msg('joinRequest', { reqId, roomId, user }),
        REQUEST_TIMEOUT_MS,
        (r) => {
          if (!r.error) this.memberRoomFor(roomId, e.adminNodeId, r.lastSeq)
        },
      )
      if (reply.error) throw errorFromPeer(reply.error.code, reply.error.message)
      if (reply.room) this.rooms.mergeRoom(reply.room)
      result = { members: reply.members, lastSeq: reply.lastSeq, history: reply.history.map(fromWireMessage) }
    }
    if (!this.rooms.directory.rooms.has(roomId)) throw new ChatError('not_found', `room ${e.name} was deleted`)
    const mr = this.memberRoomFor(roomId, e.adminNodeId, result.lastSeq)
    let sessions = mr.users.get(user)
    if (!sessions) mr.users.set(user, (sessions = new Set()))
    sessions.add(s)
    s.rooms.add(roomId)
    // History ends where this node's delivery stands, so history + live messages have no gap.
    const upTo = mr.buffer.nextSeq - 1
    const history = result.history.filter((m) => m.seq <= upTo)
    return { room: this.rooms.roomInfo(this.rooms.directory.rooms.get(roomId) ?? e, s), members: result.members, lastSeq: upTo, history }
  }

  private memberRoomFor(roomId: string, adminNodeId: string, lastSeq: number): MemberRoom {
    let mr = this.memberRooms.get(roomId)
    if (!mr) {
      mr = { roomId, adminNodeId, buffer: newReorder(lastSeq), users: new Map() }
      this.memberRooms.set(roomId, mr)
    }
    return mr
  }

  private async opLeave(s: ClientSession, roomId: string): Promise<Results['room.leave']> {
    if (!s.rooms.has(roomId)) throw new ChatError('not_member', `not a member of room ${roomId}`)
    this.leaveLocal(s, roomId)
    return {}
  }

  /** Drop one session from a room; the last session of a user tells the administrator. */
  private leaveLocal(s: ClientSession, roomId: string): void {
    s.rooms.delete(roomId)
    const mr = this.memberRooms.get(roomId)
    if (!mr || !s.user) return
    const sessions = mr.users.get(s.user)
    sessions?.delete(s)
    if (sessions && sessions.size > 0) return
    mr.users.delete(s.user)
    if (mr.users.size === 0) this.memberRooms.delete(roomId)
    const user = s.user
    if (mr.adminNodeId === this.nodeId) {
      const room = this.rooms.adminRooms.get(roomId)
      if (room) this.roomStep(room, { type: 'leave', user, nodeId: this.nodeId })
    } else {
      this.trace('forward', `leave ${user} → ${this.peerName(mr.adminNodeId)}`, roomId)
      this.send(mr.adminNodeId, msg('leaveRequest', { reqId: 0, roomId, user }))
    }
  }

  private sessionClosed(s: ClientSession): void {
    for (const roomId of [...s.rooms]) this.leaveLocal(s, roomId)
  }

  private async opMembers(roomId: string): Promise<Results['room.members']> {
    const e = this.rooms.entry(roomId)
    this.requireAvailable(e)
    if (e.adminNodeId === this.nodeId) return { members: memberList(this.adminRoom(roomId)) }
    const reply = await this.request<Bodies['membersReply']>(e.adminNodeId, (reqId) => msg('membersRequest', { reqId, roomId }))
    if (reply.error) throw errorFromPeer(reply.error.code, reply.error.message)
    return { members: reply.members }
  }

  private async opSend(s: ClientSession, req: RequestOf<'message.send'>): Promise<Results['message.send']> {
    const e = this.rooms.entry(req.roomId)
    if (!s.rooms.has(req.roomId)) throw new ChatError('not_member', `join room ${e.name} before sending to it`)
    this.requireAvailable(e)
    if (e.adminNodeId === this.nodeId) return { seq: this.adminSend(this.nodeId, req.roomId, s.user!, req.text, req.clientMsgId) }
    // A participant that voted READY holds the room frozen too (issue 5, 2): refuse here, without a
    // forward, so the answer is room_busy even before the administrator's frozen flag is gossiped.
    if (this.deletions.blocksSend(req.roomId)) throw new ChatError('room_busy', `room ${e.name} is frozen while its deletion is decided`)
    this.deletions.sendStarted(req.roomId)
    try {
      this.trace('forward', `send → ${e.adminNodeName} for ${e.name}`, req.roomId, e.adminNodeName)
      const forward = () =>
        this.request<Bodies['sendAck']>(e.adminNodeId, (reqId) =>
          msg('forwardSend', { reqId, roomId: req.roomId, user: s.user!, text: req.text, clientMsgId: req.clientMsgId }),
        )
      let reply = await forward()
      if (reply.error?.code === 'not_member' && s.rooms.has(req.roomId)) {
        // The administrator dropped our users while it thought this node dead (SIGSTOP, a long GC),
        // and this send overtook the rejoin it asked for: the client never left, so join again
        // (idempotent at the administrator) and send once more instead of answering not_member.
        const j = await this.request<Bodies['joinReply']>(e.adminNodeId, (reqId) => msg('joinRequest', { reqId, roomId: req.roomId, user: s.user! }))
        if (!j.error) {
          const mr = this.memberRooms.get(req.roomId)
          if (mr) this.reorder(mr, { type: 'known-last', lastSeq: j.lastSeq, now: Date.now() })
          reply = await forward()
        }
      }
      if (reply.error) throw errorFromPeer(reply.error.code, reply.error.message)
      return { seq: reply.seq }
    } finally {
      this.deletions.sendFinished(req.roomId)
    }
  }

  private async opHistory(s: ClientSession, req: RequestOf<'history.fetch'>): Promise<Results['history.fetch']> {
    const e = this.rooms.entry(req.roomId)
    if (!s.rooms.has(req.roomId)) throw new ChatError('not_member', `join room ${e.name} to read its history`)
    const limit = req.limit ?? 50
    if (e.adminNodeId === this.nodeId) return { messages: logBefore(this.adminRoom(req.roomId), req.beforeSeq, limit) }
    this.requireAvailable(e)
    const mr = this.memberRooms.get(req.roomId)
    const to = (req.beforeSeq ?? (mr ? mr.buffer.nextSeq : Number.MAX_SAFE_INTEGER)) - 1
    const from = Math.max(1, to - limit + 1)
    const reply = await this.request<Bodies['fetchReply']>(e.adminNodeId, (reqId) =>
      msg('fetchRange', { reqId, roomId: req.roomId, fromSeq: from, toSeq: to }),
    )
    if (reply.error) throw errorFromPeer(reply.error.code, reply.error.message)
    return { messages: reply.messages.map(fromWireMessage) }
  }

  private opPeers(): Results['peers.list'] {
    return {
      self: { nodeId: this.nodeId, name: this.name, address: this.grpcAddress },
      peers: this.links.list(),
    }
  }

  private async opAddPeer(address: string): Promise<Results['peers.add']> {
    return { peer: await this.links.add(address) }
  }

  private opRemovePeer(address: string): Results['peers.remove'] {
    this.links.remove(address)
    return {}
  }

  private opInfo(): Results['node.info'] {
    return {
      self: { nodeId: this.nodeId, name: this.name, address: this.grpcAddress },
      joinAddresses: joinAddresses(this.o.grpcHost, this.grpcAddress),
      ws: this.wsUrl,
      heartbeatMs: this.o.heartbeatMs,
      suspectMs: this.o.suspectMs,
      deadMs: this.o.deadMs,
    }
  }

  // -------------------------------------------------------------------------------------------
  // Events to clients

  /** Send an event to every signed-in client of this node. */
  emit(e: ServerEvent): void {
    this.gateway.broadcast(e)
  }

  /** Send an event to this node's clients that joined `roomId`. */
  emitToRoom(roomId: string, e: ServerEvent): void {
    this.gateway.broadcast(e, (s) => s.rooms.has(roomId))
  }

  /** The protocol log of the cluster view (opt-in: only clients that asked get it). */
  trace(kind: TraceKind, text: string, roomId?: string, peer?: string): void {
    this.gateway.broadcast({ event: 'trace', at: Date.now(), kind, text, roomId, peer }, (s) => s.trace)
  }
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

export async function startNode(o: NodeOptions): Promise<PeerNode> {
  const node = new PeerNode(o)
  try {
    await node.start()
  } catch (e) {
    await node.stop().catch(() => {})
    throw e
  }
  return node
}