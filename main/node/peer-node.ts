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
  isPeerAddress,
  PROTOCOL_VERSION,
  type ChatMessage,
  type Member,
  type PeerInfo,
  type PeerState,
  type Request,
  type RequestOf,
  type Results,
  type RoomInfo,
  type ServerEvent,
  type TraceKind,
} from '../../proto/client-protocol'
import { ChatError, errorFromPeer } from '../core/errors'
import {
  createFailureDetector,
  failureDetectorStep,
  initialBackoff,
  nextBackoff,
  type Backoff,
  type FailureDetectorState,
  type PeerStateEffect,
} from '../core/failure-detector'
import { newReorder, stepReorder, type ReorderEffect, type ReorderState } from '../core/reorder-buffer'
import { mergeEntry, newDirectory, removeEntry, type Directory, type DirectoryEntry } from '../core/room-directory'
import {
  logBefore,
  logRange,
  memberList,
  newAdminRoom,
  stepRoom,
  type AdminRoom,
  type RoomEffect,
  type RoomInput,
} from '../core/room-ordering'
import { msg, type Bodies, type DecodedMessage, type Failure, type Hello, type NodeRef, type PeerMessage, type WireRoom } from '../cluster/peer-messages'
import { bestAddress, splitAddress } from '../cluster/peer-address'
import { LinkRefused, PeerTransport, type OutboundLink } from '../cluster/peer-transport'
import { WsGateway, type ClientSession } from '../gateway/ws-gateway'
import { NodeStore } from './node-store'
import type { NodeOptions, RunningNode } from './node-options'
import { DeletionDriver } from './deletion-driver'

/** How long a request to another node may take before the client gets `timeout`. */
const REQUEST_TIMEOUT_MS = 8000
const HANDSHAKE_TIMEOUT_MS = 5000
/** Reorder-buffer and detector tick. */
const TICK_MS = 50
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

interface Peer {
  nodeId: string
  name: string
  address: string
  incarnation: string
  link: OutboundLink | undefined
  dialing: boolean
  backoff: Backoff
  retryTimer: NodeJS.Timeout | undefined
  /** Revived or restarted while we had no link to it (it dialled us first): resync once ours is up. */
  resyncOnLink: { why: string; askRejoin: boolean } | undefined
}

/** A room this node has local members in: its reorder buffer and its local sessions by user. */
interface MemberRoom {
  roomId: string
  adminNodeId: string
  buffer: ReorderState
  users: Map<string, Set<ClientSession>>
}

interface PendingRequest {
  peer: string
  resolve: (body: unknown) => void
  reject: (e: Error) => void
  timer: NodeJS.Timeout
  /** Runs synchronously when the reply arrives, before messages behind it in the same frame. */
  onReply?: (body: unknown) => void
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
  private readonly peers = new Map<string, Peer>()
  /** Addresses dialled but not yet answered (or never answering). */
  private readonly dialingAddresses = new Map<string, Promise<Hello>>()
  /** Addresses the user removed: gossip must not bring them back until peers.add. */
  private readonly removedAddresses = new Set<string>()
  private detector: FailureDetectorState
  readonly directory: Directory = newDirectory()
  readonly adminRooms = new Map<string, AdminRoom>()
  private readonly memberRooms = new Map<string, MemberRoom>()
  private readonly pending = new Map<number, PendingRequest>()
  private nextReqId = 1
  private tickTimer: NodeJS.Timeout | undefined
  private heartbeatTimer: NodeJS.Timeout | undefined
  private saveRoomsTimer: NodeJS.Timeout | undefined
  /** Per room: the highest seq rooms.json allows (see SEQ_LEASE). */
  private readonly seqCeiling = new Map<string, number>()
  /** Per room: lastSeq when rooms.json was last saved (how busy the room is, for its lease). */
  private readonly savedSeq = new Map<string, number>()
  private stopped = false
  readonly deletions: DeletionDriver
  private readonly log: (line: string) => void

  constructor(readonly o: NodeOptions) {
    this.store = new NodeStore(o.dataDir)
    this.nodeId = this.store.identity().nodeId
    this.name = o.name ?? `${hostname()}:${o.grpcPort}`
    this.token = o.token ?? randomBytes(18).toString('base64url')
    this.log = o.log ?? (() => {})
    // The detector ticks every TICK_MS; a tick that comes more than a heartbeat late means this
    // node's event loop was not running (overload, a GC pause, SIGSTOP), so that time is not held
    // against the peers: otherwise a busy node would declare healthy peers dead.
    this.detector = createFailureDetector({
      suspectMs: o.suspectMs,
      deadMs: o.deadMs,
      pauseGuardMs: Math.min(o.deadMs, Math.max(o.heartbeatMs, 4 * TICK_MS)),
    })
    this.transport = new PeerTransport({
      hello: () => this.hello(),
      inboundHello: (h, remoteHost) => this.onInboundHello(h, remoteHost),
      inbound: (from, messages) => this.onInbound(from, messages),
      outboundDown: () => {},
      log: this.log,
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

    this.restoreRooms()
    if (this.adminRooms.size === 0) this.createRoom(`${this.name} lobby`, 'system')
    this.deletions.recover()

    this.tickTimer = setInterval(() => this.tick(), Math.min(TICK_MS, this.o.heartbeatMs))
    this.heartbeatTimer = setInterval(() => this.sendHeartbeats(), this.o.heartbeatMs)

    const remembered = this.store.peers()
    for (const address of new Set([...this.o.join, ...remembered])) {
      this.dial(address).catch((e: Error) => this.log(`join ${address}: ${e.message} (will keep trying)`))
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    clearInterval(this.tickTimer)
    clearInterval(this.heartbeatTimer)
    this.flushRooms()
    for (const p of this.peers.values()) clearTimeout(p.retryTimer)
    // Graceful leave (issue 4.5): peers mark us dead at once instead of waiting for the detector.
    const links = [...this.peers.values()].map((p) => p.link).filter((l): l is OutboundLink => !!l?.up)
    for (const l of links) l.send(msg('leaving', { reason: 'node stopping' }))
    await Promise.all(links.map((l) => l.drainAndEnd(500)))
    for (const p of this.peers.values()) p.link?.close('stopping')
    for (const r of this.pending.values()) {
      clearTimeout(r.timer)
      r.reject(new ChatError('room_unavailable', 'this node is stopping'))
    }
    this.pending.clear()
    this.deletions.stop()
    await this.gateway.close()
    await this.transport.close()
    // Nothing can send any more: record the exact lastSeq so a clean restart has no seq jump.
    this.flushRooms(true)
  }

  knownPeerAddresses(): string[] {
    return [...this.peers.values()].map((p) => p.address)
  }

  // -------------------------------------------------------------------------------------------
  // Cluster membership: dialling, hellos, gossip

  private hello(): Hello {
    return {
      self: this.selfRef(),
      incarnation: this.incarnation,
      known: [...this.peers.values()].map((p) => ({ nodeId: p.nodeId, name: p.name, address: p.address })),
      rooms: [...this.directory.rooms.values()].map(toWireRoom),
      protocol: PROTOCOL_VERSION,
    }
  }

  selfRef(): NodeRef {
    return { nodeId: this.nodeId, name: this.name, address: this.grpcAddress }
  }

  async addPeer(address: string): Promise<void> {
    await this.dial(address)
  }

  /** Open our Link to `address` and learn who is there; resolves with its Hello. */
  dial(address: string): Promise<Hello> {
    address = address.trim()
    if (!isPeerAddress(address)) return Promise.reject(new ChatError('bad_request', `not a host:port address: ${address}`))
    const known = [...this.peers.values()].find((p) => p.address === address && p.link?.up)
    if (known?.link?.peer) return Promise.resolve(known.link.peer)
    const inFlight = this.dialingAddresses.get(address)
    if (inFlight) return inFlight
    const p = this.openLink(address).finally(() => this.dialingAddresses.delete(address))
    this.dialingAddresses.set(address, p)
    return p
  }

  private async openLink(address: string): Promise<Hello> {
    if (this.stopped) throw new ChatError('internal', 'node is stopping')
    const link = this.transport.newLink(address, (l, reason) => this.linkDown(l, reason))
    let hello: Hello
    try {
      hello = await link.open(this.hello(), HANDSHAKE_TIMEOUT_MS)
    } catch (e) {
      link.close('handshake failed')
      if (e instanceof LinkRefused) throw new ChatError('timeout', `nobody answers at ${address}: ${e.message}`)
      throw e
    }
    const id = hello.self.nodeId
    if (id === this.nodeId) {
      // Our own address (or an alias of it): harmless, nothing to link.
      link.close('self')
      return hello
    }
    const peer = this.upsertPeer({ nodeId: id, name: hello.self.name, address: bestAddress(hello.self.address || address, splitAddress(address).host) })
    if (peer.link && peer.link !== link && peer.link.up) {
      link.close('duplicate')
      return hello
    }
    peer.link = link
    peer.dialing = false
    this.heard(id)
    this.takeHello(hello)
    const deferred = peer.resyncOnLink
    peer.resyncOnLink = undefined
    if (deferred) this.resyncWhenLinked(peer, deferred.why, deferred.askRejoin)
    this.savePeers()
    this.trace('peer', `linked to ${hello.self.name} at ${address}`, undefined, hello.self.name)
    return hello
  }

  private linkDown(link: OutboundLink, reason: string): void {
    const peer = [...this.peers.values()].find((p) => p.link === link)
    if (!peer) return
    peer.link = undefined
    if (this.stopped || this.removedAddresses.has(peer.address)) return
    this.log(`link to ${peer.name} (${peer.address}) down: ${reason}`)
    this.scheduleRedial(peer)
  }

  private scheduleRedial(peer: Peer): void {
    if (peer.retryTimer || this.stopped) return
    const { backoff, delayMs } = nextBackoff(peer.backoff)
    peer.backoff = backoff
    peer.retryTimer = setTimeout(() => {
      peer.retryTimer = undefined
      if (this.stopped || peer.link?.up || this.removedAddresses.has(peer.address)) return
      this.dial(peer.address).catch(() => this.scheduleRedial(peer))
    }, delayMs)
  }

  private upsertPeer(ref: NodeRef): Peer {
    let peer = this.peers.get(ref.nodeId)
    if (!peer) {
      peer = {
        nodeId: ref.nodeId,
        name: ref.name,
        address: ref.address,
        incarnation: '',
        link: undefined,
        dialing: false,
        backoff: initialBackoff(),
        retryTimer: undefined,
        resyncOnLink: undefined,
      }
      this.peers.set(ref.nodeId, peer)
    } else {
      if (ref.name) peer.name = ref.name
      if (ref.address && ref.address !== peer.address) {
        peer.address = ref.address
      }
    }
    return peer
  }

  /** A peer opened its Link to us. */
  private onInboundHello(h: Hello, remoteHost?: string): void {
    h = { ...h, self: { ...h.self, address: bestAddress(h.self.address, remoteHost) } }
    // Dialled by ourselves (peers.add of our own address or an alias of it): answer, so the dialer
    // sees its own Hello and drops the link; nothing to register.
    if (h.self.nodeId === this.nodeId) return
    if (!isPeerAddress(h.self.address)) throw new Error(`bad address in hello: ${h.self.address}`)
    const isNew = !this.peers.has(h.self.nodeId)
    const peer = this.upsertPeer(h.self)
    this.removedAddresses.delete(peer.address)
    this.heard(h.self.nodeId)
    this.takeHello(h)
    if (isNew) {
      this.savePeers()
      // The newcomer announces itself through us: tell everyone else (architecture.md, gossip).
      this.broadcast(msg('gossip', { nodes: [h.self], rooms: [] }), h.self.nodeId)
      this.trace('peer', `${h.self.name} joined through us`, undefined, h.self.name)
    }
    // We need our own Link to it to send anything back.
    if (!peer.link?.up) {
      peer.backoff = initialBackoff()
      clearTimeout(peer.retryTimer)
      peer.retryTimer = undefined
      this.dial(peer.address).catch(() => this.scheduleRedial(peer))
    }
  }

  /** What a Hello teaches us: its incarnation (restart?), the nodes it knows, its directory. */
  private takeHello(h: Hello): void {
    const peer = this.peers.get(h.self.nodeId)
    if (peer && h.incarnation && peer.incarnation !== h.incarnation) {
      const restarted = peer.incarnation !== ''
      peer.incarnation = h.incarnation
      if (restarted) this.peerRestarted(peer)
    }
    this.learnNodes(h.known, h.self.nodeId)
    for (const r of h.rooms) this.mergeRoom(r)
    // A Hello lists the whole directory of its sender, so it is complete for the sender's own rooms.
    this.reconcileRoomsOf(h.self.nodeId, h.rooms)
  }

  /**
   * `rooms` is everything `adminNodeId` administers now: a room of it we still list but it does not
   * was deleted while we were not listening (a lost RoomRemoved): forget it too.
   */
  private reconcileRoomsOf(adminNodeId: string, rooms: WireRoom[]): void {
    if (adminNodeId === this.nodeId) return
    const listed = new Set(rooms.filter((r) => r.adminNodeId === adminNodeId).map((r) => r.roomId))
    for (const e of [...this.directory.rooms.values()]) {
      if (e.adminNodeId !== adminNodeId || listed.has(e.roomId)) continue
      this.log(`room ${e.name} is no longer listed by its administrator ${e.adminNodeName}: forgetting it`)
      this.dropRoom(e.roomId)
    }
  }

  private learnNodes(nodes: NodeRef[], via?: string): void {
    // A loopback address is only meaningful on the machine of the node that told us: from a node on
    // another machine, it means that machine's host (peer-address.ts).
    const viaHost = via ? this.peers.get(via)?.address : undefined
    const viaHostName = viaHost ? splitAddress(viaHost).host : undefined
    for (const raw of nodes) {
      const n = raw?.address ? { ...raw, address: bestAddress(raw.address, viaHostName) } : raw
      if (!n?.nodeId || n.nodeId === this.nodeId || !isPeerAddress(n.address ?? '')) continue
      if (this.removedAddresses.has(n.address)) continue
      if (this.peers.has(n.nodeId)) continue
      const peer = this.upsertPeer(n)
      this.savePeers()
      this.dial(peer.address).catch(() => this.scheduleRedial(peer))
    }
  }

  private savePeers(): void {
    try {
      this.store.savePeers(this.knownPeerAddresses().filter((a) => !this.removedAddresses.has(a)))
    } catch (e) {
      this.log(`cannot save peers: ${(e as Error).message}`)
    }
  }

  send(nodeId: string, m: PeerMessage): boolean {
    const link = this.peers.get(nodeId)?.link
    if (!link) return false
    link.send(m)
    return true
  }

  broadcast(m: PeerMessage, except?: string): void {
    for (const p of this.peers.values()) if (p.nodeId !== except) p.link?.send(m)
  }

  private heartbeatRound = 0

  private sendHeartbeats(): void {
    const now = Date.now()
    // Anti-entropy: every 10th round, our own rooms go to everyone again, so a directory update lost
    // with a broken link is repaired within seconds even if no Hello is exchanged.
    if (++this.heartbeatRound % 10 === 0) {
      this.broadcast(
        msg('gossip', { nodes: [], rooms: [...this.adminRooms.values()].map((r) => toWireRoom(this.entryOf(r))), ownerComplete: true }),
      )
    }
    for (const p of this.peers.values()) {
      // Piggybacking: a link that wrote anything within the period already told the peer we live.
      if (p.link?.up && now - p.link.lastWriteAt >= this.o.heartbeatMs * 0.8) p.link.send(msg('heartbeat', { sentAt: now }))
    }
  }

  // -------------------------------------------------------------------------------------------
  // Failure detection

  private heard(nodeId: string): void {
    const peer = this.peers.get(nodeId)
    if (peer) {
      peer.backoff = initialBackoff()
      // A peer we hear but cannot write to: dial at once instead of waiting for the backoff.
      if (!peer.link && !this.dialingAddresses.has(peer.address) && !this.stopped) {
        clearTimeout(peer.retryTimer)
        peer.retryTimer = undefined
        this.dial(peer.address).catch(() => this.scheduleRedial(peer))
      }
    }
    this.detect({ type: 'heard', peer: nodeId, now: Date.now() })
  }

  private detect(input: Parameters<typeof failureDetectorStep>[1]): void {
    const { state, effects } = failureDetectorStep(this.detector, input)
    this.detector = state
    for (const e of effects) this.peerStateChanged(e)
  }

  peerState(nodeId: string): PeerState | undefined {
    if (nodeId === this.nodeId) return 'alive'
    return this.detector.peers[nodeId]?.state
  }

  private peerStateChanged(e: PeerStateEffect): void {
    const peer = this.peers.get(e.peer)
    if (!peer) return
    const name = peer.name
    this.log(`peer ${name} ${e.from ?? 'new'} -> ${e.to}${e.silentMs ? ` after ${e.silentMs} ms of silence` : ''}`)
    this.trace('heartbeat', `${name}: ${e.from ?? 'new'} → ${e.to}${e.silentMs ? ` (silent ${e.silentMs} ms)` : ''}`, undefined, name)
    this.emit({ event: 'peer.status', nodeId: peer.nodeId, name, address: peer.address, state: e.to })
    if (e.to === 'dead') this.peerDied(peer)
    else if (e.to === 'alive' && e.from === 'dead') this.peerRevived(peer)
  }

  private peerDied(peer: Peer): void {
    // Requests waiting on it fail now, not at their timeout (issue 4.2: never silence).
    for (const [id, r] of this.pending) {
      if (r.peer !== peer.nodeId) continue
      clearTimeout(r.timer)
      this.pending.delete(id)
      r.reject(new ChatError('room_unavailable', `node ${peer.name} is unreachable`))
    }
    for (const room of this.directory.rooms.values()) {
      if (room.adminNodeId !== peer.nodeId) continue
      this.emit({ event: 'room.unavailable', roomId: room.roomId, reason: `administrator ${peer.name} is unreachable` })
    }
    // Its users leave the rooms we administer (client-protocol.md 6.4).
    for (const room of this.adminRooms.values()) this.roomStep(room, { type: 'node-dead', nodeId: peer.nodeId })
    this.deletions.peerDead(peer.nodeId)
  }

  private peerRevived(peer: Peer): void {
    for (const room of this.directory.rooms.values()) {
      if (room.adminNodeId !== peer.nodeId) continue
      this.emit({ event: 'room.available', roomId: room.roomId, reason: `administrator ${peer.name} is back` })
    }
    // We dropped its members while it was dead: ask it to join them again; and we rejoin ours.
    this.resyncWhenLinked(peer, 'administrator back', true)
  }

  /** A new incarnation: the peer lost its memory. Its old members are gone; our members rejoin. */
  private peerRestarted(peer: Peer): void {
    this.log(`peer ${peer.name} restarted`)
    for (const room of this.adminRooms.values()) this.roomStep(room, { type: 'node-dead', nodeId: peer.nodeId })
    this.resyncWhenLinked(peer, 'administrator restarted', false)
  }

  /**
   * Rejoin now if our Link to the peer is up; otherwise when it is (openLink). A restarted node that
   * dials us first is heard on its inbound Link before ours is redialled: resyncing then would fail
   * with "no link", and our users would stay out of its rooms while the room shows available.
   */
  private resyncWhenLinked(peer: Peer, why: string, askRejoin: boolean): void {
    if (!peer.link?.up) {
      peer.resyncOnLink = { why, askRejoin: askRejoin || !!peer.resyncOnLink?.askRejoin }
      return
    }
    if (askRejoin) this.send(peer.nodeId, msg('rejoin', { reason: 'you were declared dead' }))
    this.resyncRoomsOf(peer.nodeId, why)
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
    this.detect({ type: 'tick', now })
    for (const mr of this.memberRooms.values()) this.reorder(mr, { type: 'tick', now })
    this.deletions.tick(now)
  }

  // -------------------------------------------------------------------------------------------
  // Peer messages

  private onInbound(from: string, messages: DecodedMessage[]): void {
    this.heard(from)
    for (const m of messages) {
      try {
        this.onPeerMessage(from, m)
      } catch (e) {
        // A malformed or unexpected message from one peer must not take the node down.
        this.log(`bad ${m?.body ?? 'unknown'} message from ${this.peerName(from)}: ${(e as Error).message}`)
      }
    }
  }

  peerName(nodeId: string): string {
    return nodeId === this.nodeId ? this.name : (this.peers.get(nodeId)?.name ?? nodeId.slice(0, 8))
  }

  private onPeerMessage(from: string, m: DecodedMessage): void {
    switch (m.body) {
      case 'hello':
        this.takeHello(m.hello)
        return
      case 'heartbeat':
        return
      case 'leaving':
        this.trace('peer', `${this.peerName(from)} is leaving`, undefined, this.peerName(from))
        this.detect({ type: 'left', peer: from, now: Date.now() })
        return
      case 'gossip':
        this.learnNodes(m.gossip.nodes ?? [], from)
        for (const r of m.gossip.rooms ?? []) this.mergeRoom(r)
        if (m.gossip.ownerComplete) this.reconcileRoomsOf(from, m.gossip.rooms ?? [])
        return
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
          return { room: toWireRoom(this.entryOf(r.room)), members: r.members, lastSeq: r.lastSeq, history: r.history }
        }, { room: null, members: [], lastSeq: 0, history: [] })
        return
      }
      case 'leaveRequest': {
        const { roomId, user } = m.leaveRequest
        const room = this.adminRooms.get(roomId)
        if (room) this.roomStep(room, { type: 'leave', user, nodeId: from })
        return
      }
      case 'membersRequest': {
        const { reqId, roomId } = m.membersRequest
        this.answer(from, 'membersReply', reqId, () => {
          const room = this.adminRoom(roomId)
          return { members: memberList(room), room: toWireRoom(this.entryOf(room)) }
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
      case 'joinReply':
      case 'membersReply':
      case 'sendAck':
      case 'fetchReply':
      case 'deleteReply': {
        const body = (m as unknown as Record<string, { reqId: number }>)[m.body]
        const r = this.pending.get(body.reqId)
        if (!r || r.peer !== from) return // late answer to a request that timed out
        this.pending.delete(body.reqId)
        clearTimeout(r.timer)
        r.onReply?.(body)
        r.resolve(body)
        return
      }
      default:
        this.deletions.onPeerMessage(from, m)
    }
  }

  /** Run `fn` for a peer's request and send back its reply or its error. */
  answer<K extends 'joinReply' | 'membersReply' | 'sendAck' | 'fetchReply' | 'deleteReply'>(
    to: string,
    reply: K,
    reqId: number,
    fn: () => Omit<Bodies[K], 'reqId' | 'error'>,
    empty: Omit<Bodies[K], 'reqId' | 'error'>,
  ): void {
    let body: Bodies[K]
    try {
      body = { ...fn(), reqId, error: null } as Bodies[K]
    } catch (e) {
      const err: Failure = e instanceof ChatError ? { code: e.code, message: e.message } : { code: 'internal', message: 'internal error' }
      if (!(e instanceof ChatError)) this.log(`answering ${reply}: ${(e as Error).stack}`)
      body = { ...empty, reqId, error: err } as Bodies[K]
    }
    this.send(to, msg(reply, body))
  }

  /** Send a request to a peer and wait for the reply with the same reqId. */
  request<T>(
    nodeId: string,
    build: (reqId: number) => PeerMessage,
    timeoutMs = REQUEST_TIMEOUT_MS,
    onReply?: (body: T) => void,
  ): Promise<T> {
    const name = this.peerName(nodeId)
    if (this.peerState(nodeId) === 'dead') return Promise.reject(new ChatError('room_unavailable', `node ${name} is unreachable`))
    const reqId = this.nextReqId++
    return new Promise<T>((resolve, reject) => {
      if (!this.send(nodeId, build(reqId))) {
        reject(new ChatError('room_unavailable', `no link to node ${name}`))
        return
      }
      const timer = setTimeout(() => {
        this.pending.delete(reqId)
        reject(new ChatError('timeout', `node ${name} did not answer within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(reqId, { peer: nodeId, resolve: resolve as (b: unknown) => void, reject, timer, onReply: onReply as ((b: unknown) => void) | undefined })
    })
  }

  // -------------------------------------------------------------------------------------------
  // The directory

  entryOf(room: AdminRoom): DirectoryEntry {
    return {
      roomId: room.roomId,
      name: room.name,
      adminNodeId: this.nodeId,
      adminNodeName: this.name,
      memberCount: room.members.size,
      createdBy: room.createdBy,
      frozen: room.frozen,
      version: room.version,
    }
  }

  private mergeRoom(r: WireRoom): void {
    if (!r?.roomId || !r.adminNodeId || typeof r.name !== 'string') return
    // Our own rooms are ours to describe: gossip about them cannot override what we hold.
    if (r.adminNodeId === this.nodeId) return
    const entry: DirectoryEntry = { ...r, frozen: !!r.frozen }
    const result = mergeEntry(this.directory, entry)
    if (result === 'added') {
      this.emit({ event: 'room.created', room: this.roomInfo(entry) })
      this.trace('gossip', `learned room ${r.name} of ${r.adminNodeName}`, r.roomId)
    }
  }

  /** Our room changed: update our entry and tell every peer. */
  publishRoom(room: AdminRoom): void {
    const entry = this.entryOf(room)
    this.directory.rooms.set(room.roomId, entry)
    this.broadcast(msg('gossip', { nodes: [], rooms: [toWireRoom(entry)] }))
    this.scheduleSaveRooms()
  }

  /** A room is gone (deleted): forget it everywhere on this node and tell our clients. */
  dropRoom(roomId: string): void {
    const had = removeEntry(this.directory, roomId, Date.now())
    this.adminRooms.delete(roomId)
    const mr = this.memberRooms.get(roomId)
    this.memberRooms.delete(roomId)
    if (mr) for (const sessions of mr.users.values()) for (const s of sessions) s.rooms.delete(roomId)
    this.scheduleSaveRooms()
    if (had) this.emit({ event: 'room.deleted', roomId })
  }

  roomInfo(e: DirectoryEntry, session?: ClientSession): RoomInfo {
    return {
      roomId: e.roomId,
      name: e.name,
      adminNodeId: e.adminNodeId,
      adminNodeName: e.adminNodeName,
      memberCount: e.memberCount,
      available: this.peerState(e.adminNodeId) !== 'dead' && (e.adminNodeId === this.nodeId || this.peers.has(e.adminNodeId)),
      joined: session ? session.rooms.has(e.roomId) : false,
      createdBy: e.createdBy,
      frozen: e.frozen,
    }
  }

  private restoreRooms(): void {
    for (const r of this.store.rooms()) {
      const room = newAdminRoom({ roomId: r.roomId, name: r.name, createdBy: r.createdBy, createdAt: r.createdAt, lastSeq: r.lastSeq })
      room.version = (r.version ?? 1) + 1
      this.adminRooms.set(room.roomId, room)
      this.directory.rooms.set(room.roomId, this.entryOf(room))
    }
  }

  private scheduleSaveRooms(): void {
    if (this.saveRoomsTimer) return
    // Debounced: a busy room changes lastSeq thousands of times a second.
    this.saveRoomsTimer = setTimeout(() => this.flushRooms(), 200)
  }

  /** Save rooms.json now; `exact` only once nothing can send any more (see SEQ_LEASE). */
  private flushRooms(exact = false): void {
    clearTimeout(this.saveRoomsTimer)
    this.saveRoomsTimer = undefined
    const ceiling = new Map<string, number>()
    for (const r of this.adminRooms.values()) {
      const recent = r.lastSeq - (this.savedSeq.get(r.roomId) ?? r.lastSeq)
      ceiling.set(r.roomId, exact ? r.lastSeq : r.lastSeq + Math.max(SEQ_LEASE, 2 * recent))
    }
    try {
      this.store.saveRooms(
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
      this.log(`cannot save rooms: ${(e as Error).message}`)
    }
  }

  createRoom(name: string, createdBy: string): AdminRoom {
    const room = newAdminRoom({ roomId: randomUUID(), name, createdBy, createdAt: Date.now() })
    this.adminRooms.set(room.roomId, room)
    this.publishRoom(room)
    this.flushRooms()
    this.emit({ event: 'room.created', room: this.roomInfo(this.entryOf(room)) })
    this.trace('gossip', `created room ${name}`, room.roomId)
    return room
  }

  // -------------------------------------------------------------------------------------------
  // The administrator's side

  adminRoom(roomId: string): AdminRoom {
    const room = this.adminRooms.get(roomId)
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
          this.publishRoom(room)
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
    // Durable before anyone can see it: never hand out a seq above the ceiling rooms.json holds.
    if (room.lastSeq + 1 > (this.seqCeiling.get(roomId) ?? 0)) this.flushRooms()
    const reply = this.roomStep(room, { type: 'send', user, nodeId: fromNode, text, clientMsgId, now: Date.now() })
    if (reply?.type === 'reply-error') throw new ChatError(reply.code, reply.message)
    if (reply?.type !== 'reply-send') throw new ChatError('internal', 'send gave no answer')
    if (!reply.duplicate) this.trace('seq', `seq ${reply.seq} → ${user}@${this.peerName(fromNode)} in ${room.name}`, roomId)
    this.scheduleSaveRooms()
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
      const room = this.adminRooms.get(mr.roomId)
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
        return { rooms: [...this.directory.rooms.values()].map((e) => this.roomInfo(e, s)).sort(byName) } satisfies Results['rooms.list']
      case 'room.create': {
        const room = this.createRoom(req.name, s.user!)
        return { room: this.roomInfo(this.entryOf(room), s) } satisfies Results['room.create']
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
        return this.deletions.requestDelete(this.entry(req.roomId), s.user!)
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

  entry(roomId: string): DirectoryEntry {
    const e = this.directory.rooms.get(roomId)
    if (!e) throw new ChatError('not_found', `no room with id ${roomId}`)
    return e
  }

  private requireAvailable(e: DirectoryEntry): void {
    if (e.adminNodeId !== this.nodeId && this.peerState(e.adminNodeId) !== 'alive' && this.peerState(e.adminNodeId) !== 'suspect') {
      throw new ChatError('room_unavailable', `room ${e.name}: its administrator ${e.adminNodeName} is unreachable`)
    }
  }

  private async opJoin(s: ClientSession, roomId: string): Promise<Results['room.join']> {
    const e = this.entry(roomId)
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
      if (reply.room) this.mergeRoom(reply.room)
      result = { members: reply.members, lastSeq: reply.lastSeq, history: reply.history.map(fromWireMessage) }
    }
    if (!this.directory.rooms.has(roomId)) throw new ChatError('not_found', `room ${e.name} was deleted`)
    const mr = this.memberRoomFor(roomId, e.adminNodeId, result.lastSeq)
    let sessions = mr.users.get(user)
    if (!sessions) mr.users.set(user, (sessions = new Set()))
    sessions.add(s)
    s.rooms.add(roomId)
    // History ends where this node's delivery stands, so history + live messages have no gap.
    const upTo = mr.buffer.nextSeq - 1
    const history = result.history.filter((m) => m.seq <= upTo)
    return { room: this.roomInfo(this.directory.rooms.get(roomId) ?? e, s), members: result.members, lastSeq: upTo, history }
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
      const room = this.adminRooms.get(roomId)
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
    const e = this.entry(roomId)
    this.requireAvailable(e)
    if (e.adminNodeId === this.nodeId) return { members: memberList(this.adminRoom(roomId)) }
    const reply = await this.request<Bodies['membersReply']>(e.adminNodeId, (reqId) => msg('membersRequest', { reqId, roomId }))
    if (reply.error) throw errorFromPeer(reply.error.code, reply.error.message)
    return { members: reply.members }
  }

  private async opSend(s: ClientSession, req: RequestOf<'message.send'>): Promise<Results['message.send']> {
    const e = this.entry(req.roomId)
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
    const e = this.entry(req.roomId)
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

  private peerInfo(p: Peer): PeerInfo {
    const d = this.detector.peers[p.nodeId]
    return { nodeId: p.nodeId, name: p.name, address: p.address, state: d?.state ?? 'suspect', lastSeenMs: d?.lastHeardMs ?? 0 }
  }

  private opPeers(): Results['peers.list'] {
    return {
      self: { nodeId: this.nodeId, name: this.name, address: this.grpcAddress },
      peers: [...this.peers.values()].filter((p) => !this.removedAddresses.has(p.address)).map((p) => this.peerInfo(p)).sort((a, b) => a.name.localeCompare(b.name)),
    }
  }

  private async opAddPeer(address: string): Promise<Results['peers.add']> {
    address = address.trim()
    this.removedAddresses.delete(address)
    const hello = await this.dial(address)
    if (hello.self.nodeId === this.nodeId) {
      return { peer: { nodeId: this.nodeId, name: this.name, address: this.grpcAddress, state: 'alive', lastSeenMs: Date.now() } }
    }
    const peer = this.peers.get(hello.self.nodeId)!
    this.removedAddresses.delete(peer.address)
    this.savePeers()
    return { peer: this.peerInfo(peer) }
  }

  private opRemovePeer(address: string): Results['peers.remove'] {
    address = address.trim()
    const peer = [...this.peers.values()].find((p) => p.address === address)
    if (!peer) throw new ChatError('not_found', `no peer at ${address}`)
    this.removedAddresses.add(peer.address)
    clearTimeout(peer.retryTimer)
    peer.retryTimer = undefined
    peer.link?.close('removed')
    this.peers.delete(peer.nodeId)
    this.detect({ type: 'forget', peer: peer.nodeId })
    this.savePeers()
    this.trace('peer', `removed peer ${peer.name}`, undefined, peer.name)
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

function requireString(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 4096) throw new ChatError('bad_request', `${what} missing`)
  return v
}

function byName(a: RoomInfo, b: RoomInfo): number {
  return a.name.localeCompare(b.name) || a.roomId.localeCompare(b.roomId)
}

export function toWireRoom(e: DirectoryEntry): WireRoom {
  return { ...e }
}

function toWireMessage(m: ChatMessage): Bodies['deliver']['messages'][number] {
  return { ...m }
}

function fromWireMessage(m: Bodies['deliver']['messages'][number]): ChatMessage {
  return {
    roomId: m.roomId,
    seq: Number(m.seq),
    user: m.user,
    nodeId: m.nodeId,
    text: m.text,
    sentAt: Number(m.sentAt),
    clientMsgId: m.clientMsgId,
  }
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
