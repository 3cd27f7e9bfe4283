/**
 * The node's links to its peers (docs/architecture.md §5):
 * the peer table, dialling with backoff, Hellos and the gossip of nodes, heartbeats, the failure
 * detector, and request/answer plumbing over the Links.
 *
 * Rooms are not its business: what a Hello or gossip says about rooms, what a peer's death or
 * restart means for rooms, and every room or deletion message go to the components it is given.
 * Every request to another node has a timeout and fails at once when that node is declared dead,
 * so a client never waits on silence.
 */
import {
  isPeerAddress,
  type PeerInfo,
  type PeerState,
  type Results,
  type ServerEvent,
  type TraceKind,
} from '../../proto/client-protocol'
import { ChatError } from '../core/errors'
import { mergedAppend } from './append-merge'
import {
  createFailureDetector,
  failureDetectorStep,
  initialBackoff,
  nextBackoff,
  type Backoff,
  type FailureDetectorState,
  type PeerStateEffect,
} from '../core/failure-detector'
import { msg, type Bodies, type BodyName, type DecodedMessage, type Failure, type Hello, type MessageOf, type NodeRef, type PeerMessage, type WireRoom } from '../cluster/peer-messages'
import { bestAddress, splitAddress } from '../cluster/peer-address'
import { LinkRefused, type PeerLink, type Transport } from '../cluster/transport'
import type { Clock, Timer } from '../cluster/clock'
import { RequestDeadlines, type Deadline } from './request-deadlines'
import type { NodeOptions } from './node-options'
import type { NodeStore } from '../store/node-store'
import { REPLY_OF, fenceReply, refusal, requestIdOf, type AuthorityView } from './peer-authority'

/** How long a request to another node may take before the client gets `timeout`. */
export const REQUEST_TIMEOUT_MS = 8000
const HANDSHAKE_TIMEOUT_MS = 5000

/** The replies a peer sends back to a `request`, matched to it by reqId. */
export type ReplyKind = 'joinReply' | 'leaveReply' | 'membersReply' | 'sendAck' | 'fetchReply' | 'deleteReply'

/**
 * Where this start's request ids begin: a number drawn from the incarnation (unique per start), so
 * that a reply still on its way to the previous start of this node (its ids began at the same
 * place every time) is not taken for the answer to a new request (docs/peer-protocol.md §1).
 */
function firstReqId(incarnation: string): number {
  let h = 2166136261
  for (let i = 0; i < incarnation.length; i++) h = Math.imul(h ^ incarnation.charCodeAt(i), 16777619)
  // Below 2^31, leaving room for two billion requests in one start within JavaScript's exact integers.
  return 1 + ((h >>> 0) % 0x7fffffff)
}

/** The peer messages about the links themselves, and the replies (peer-dispatch.ts). */
export type LinkMessage = MessageOf<'hello' | 'heartbeat' | 'leaving' | 'gossip' | ReplyKind>

export interface PeerLinksComponents {
  /** The peer protocol this node's Hello announces (PEER_PROTOCOL; older only in tests). */
  readonly protocol?: number
  readonly nodeId: string
  readonly incarnation: string
  /** Our name and advertised address: both are known only once the node listens. */
  self(): NodeRef
  readonly transport: Pick<Transport, 'newLink'>
  readonly store: Pick<NodeStore, 'savePeers'>
  readonly timing: Pick<NodeOptions, 'heartbeatMs' | 'suspectMs' | 'deadMs'>
  /** How often the node calls tick(): the detector's pause guard is sized from it. */
  readonly tickMs: number
  /** Time and timers (the real clock, or the simulator's). */
  readonly clock: Clock
  log(line: string): void
  trace(kind: TraceKind, text: string, roomId?: string, peer?: string): void
  emit(e: ServerEvent): void
  /** The whole directory, as our Hello carries it. */
  directoryRooms(): WireRoom[]
  /** The rooms this node administers, gossiped again now and then (anti-entropy). */
  ownRooms(): WireRoom[]
  /** Rooms deleted lately, as our Hello and anti-entropy gossip announce them (docs/peer-protocol.md §5). */
  deletedRooms(): string[]
  /** Rooms a Hello or gossip from `from` lists, and the rooms it announces deleted. */
  learnRooms(from: string, rooms: WireRoom[], deleted: string[]): void
  /** A peer was declared dead; its pending requests have already failed. */
  peerDead(peer: NodeRef): void
  /** A dead peer is heard again (before our users are joined again to its rooms). */
  peerRevived(peer: NodeRef): void
  /** A peer came back with a new incarnation: it lost its memory. */
  peerRestarted(peer: NodeRef): void
  /** Join every local user again to the rooms `adminNodeId` administers. */
  resyncRoomsOf(adminNodeId: string, why: string): void
  /** A peer message the authority check let through, to its owner (peer-dispatch.ts). */
  dispatch(from: string, m: DecodedMessage): void
  /** What this node knows that decides who may say what (peer-authority.ts). */
  readonly authority: AuthorityView
}

/** The body of each reply when it carries an error instead. */
const EMPTY_REPLY: { [K in ReplyKind]: Omit<Bodies[K], 'reqId' | 'error'> } = {
  joinReply: { room: null, members: [], lastSeq: 0, history: [] },
  leaveReply: {},
  membersReply: { members: [], room: null },
  sendAck: { seq: 0 },
  fetchReply: { messages: [] },
  deleteReply: { committed: false, reason: '' },
}

interface Peer {
  nodeId: string
  name: string
  address: string
  incarnation: string
  link: PeerLink | undefined
  backoff: Backoff
  retryTimer: Timer | undefined
  /** Revived or restarted while we had no link to it (it dialled us first): resync once ours is up. */
  resyncOnLink: { why: string; askRejoin: boolean } | undefined
  /**
   * Replies to its requests made while our Link to it was not up, and everything sent to it after
   * the first of them: written, in that order, as soon as it is (see hold()).
   */
  held: PeerMessage[]
  /**
   * The address our own link dialled and completed a handshake at, proving this node's id: the one
   * peers.json keeps (docs/security.md). Addresses told by others, and the one a Hello claims, are
   * only hints: a node may answer at one address and claim another it never answered at.
   */
  verifiedAddress: string | undefined
  /** Its Hello says it answers LeaveRequests (LeaveReply); false for older nodes. */
  leaveReplies: boolean
  /** The peer protocol its last Hello said it speaks (0 before one: assume the oldest). */
  protocol: number
}

/**
 * The peer protocol this node speaks, in its Hello (docs/peer-protocol.md §2): 1, the first; 2, a
 * follower replica delivers to its own members from its copy at the commit point, so an
 * administrator may send it the commit point instead of a Deliver (docs/replication.md, "Delivery
 * from the replicas"). A peer is assumed to speak 1 until its Hello says otherwise.
 */
export const PEER_PROTOCOL = 2
export const PEER_DELIVERS_FROM_REPLICA = 2

/** Most messages held for a peer whose Link is not up; beyond, all are dropped and the asker times out as before. */
const MAX_HELD = 10_000

interface PendingRequest extends Deadline {
  reqId: number
  peer: string
  /** For the timeout's message. */
  peerName: string
  timeoutMs: number
  /** The reply kind that answers it (REPLY_OF): a reply of another kind never settles it. */
  reply: ReplyKind | undefined
  resolve: (body: unknown) => void
  reject: (e: Error) => void
  /** Runs synchronously when the reply arrives, before messages behind it in the same frame. */
  onReply?: (body: unknown) => void
}

export class PeerLinks {
  private readonly peers = new Map<string, Peer>()
  /** Addresses dialled but not yet answered (or never answering). */
  private readonly dialingAddresses = new Map<string, Promise<Hello>>()
  /** Addresses the user removed: gossip must not bring them back until peers.add. */
  private readonly removedAddresses = new Set<string>()
  private detector: FailureDetectorState
  /** Peers heard while alive since the detector's last step, with when (see heard()). */
  private readonly heardAt = new Map<string, number>()
  private readonly pending = new Map<number, PendingRequest>()
  /** Every pending request's timeout, on one timer (request-deadlines.ts). */
  private readonly deadlines: RequestDeadlines<PendingRequest>
  private nextReqId: number
  private heartbeatTimer: Timer | undefined
  private heartbeatRound = 0
  private stopped = false

  constructor(private readonly c: PeerLinksComponents) {
    this.nextReqId = firstReqId(c.incarnation)
    this.deadlines = new RequestDeadlines(c.clock, (r) => {
      this.pending.delete(r.reqId)
      r.reject(new ChatError('timeout', `node ${r.peerName} did not answer within ${r.timeoutMs} ms`))
    })
    // The detector ticks every tickMs; a tick that comes more than a heartbeat late means this
    // node's event loop was not running (overload, a GC pause, SIGSTOP), so that time is not held
    // against the peers: otherwise a busy node would declare healthy peers dead.
    const t = c.timing
    this.detector = createFailureDetector({
      suspectMs: t.suspectMs,
      deadMs: t.deadMs,
      pauseGuardMs: Math.min(t.deadMs, Math.max(t.heartbeatMs, 4 * c.tickMs)),
    })
  }

  // -------------------------------------------------------------------------------------------
  // Start and stop

  /** Start heartbeats and dial `addresses` (the --join list and the peers remembered from last run). */
  start(addresses: Iterable<string>): void {
    this.heartbeatTimer = this.c.clock.setInterval(() => this.sendHeartbeats(), this.c.timing.heartbeatMs)
    for (const address of addresses) this.join(address, initialBackoff())
  }

  /**
   * Dial an address we know only as an address (--join, or remembered): until it answers, again
   * with backoff. No peer entry exists for it yet, so the redial of a peer whose link went down
   * does not cover it; without this, a node restarted while cut off from every peer it remembers
   * never dialled them again (found by the simulator, docs/simulation.md "Bugs found").
   */
  private join(address: string, backoff: Backoff): void {
    this.dial(address).catch((e: Error) => {
      if (this.stopped || this.removedAddresses.has(address)) return
      // Linked meanwhile the other way (the peer dialled us): its own redial covers it from now on.
      if ([...this.peers.values()].some((p) => p.address === address && p.link?.up)) return
      const next = nextBackoff(backoff)
      this.c.log(`join ${address}: ${e.message} (trying again in ${next.delayMs} ms)`)
      this.c.clock.setTimeout(() => this.join(address, next.backoff), next.delayMs)
    })
  }

  async stop(): Promise<void> {
    this.c.clock.clear(this.heartbeatTimer)
    for (const p of this.peers.values()) this.c.clock.clear(p.retryTimer)
    // A link still in its handshake (TLS takes a few round trips) would miss the goodbye: give
    // those a moment to come up first.
    if (this.dialingAddresses.size > 0) {
      let timer: Timer | undefined
      await Promise.race([
        Promise.allSettled([...this.dialingAddresses.values()]),
        new Promise<void>((r) => (timer = this.c.clock.setTimeout(r, HANDSHAKE_TIMEOUT_MS / 5))),
      ])
      if (timer) this.c.clock.clear(timer)
    }
    this.stopped = true
    for (const p of this.peers.values()) this.c.clock.clear(p.retryTimer)
    // Graceful leave (docs/failures.md): peers mark us dead at once instead of waiting for the detector.
    const links = [...this.peers.values()].map((p) => p.link).filter((l): l is PeerLink => !!l?.up)
    for (const l of links) l.send(msg('leaving', { reason: 'node stopping' }))
    await Promise.all(links.map((l) => l.drainAndEnd(500)))
    for (const p of this.peers.values()) p.link?.close('stopping')
    this.deadlines.clear()
    for (const r of this.pending.values()) {
      r.settled = true
      r.reject(new ChatError('room_unavailable', 'this node is stopping'))
    }
    this.pending.clear()
  }

  /** Addresses of the peers we linked to ourselves (what peers.json and the desktop remember). */
  knownAddresses(): string[] {
    return [...this.peers.values()].flatMap((p) => (p.verifiedAddress === undefined ? [] : [p.verifiedAddress]))
  }

  // -------------------------------------------------------------------------------------------
  // Cluster membership: dialling, hellos, gossip

  hello(): Hello {
    return {
      self: this.c.self(),
      incarnation: this.c.incarnation,
      known: [...this.peers.values()].map((p) => ({ nodeId: p.nodeId, name: p.name, address: p.address })),
      rooms: this.c.directoryRooms(),
      protocol: this.c.protocol ?? PEER_PROTOCOL,
      deleted: this.c.deletedRooms(),
      leaveReplies: true,
    }
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
    const link = this.c.transport.newLink(address, (l, reason) => this.linkDown(l, reason))
    let hello: Hello
    try {
      hello = await link.open(this.hello(), HANDSHAKE_TIMEOUT_MS)
    } catch (e) {
      link.close('handshake failed')
      if (e instanceof LinkRefused) {
        this.c.trace('peer', `link to ${address} refused: ${e.message}`)
        throw new ChatError(e.code === 'unreachable' || e.code === 'forbidden' || e.code === 'timeout' ? e.code : 'bad_request', e.message)
      }
      throw e
    }
    const id = hello.self.nodeId
    if (id === this.c.nodeId) {
      // Our own address (or an alias of it): harmless, nothing to link.
      link.close('self')
      return hello
    }
    if (this.cutOff.has(id)) {
      link.close('partitioned')
      throw new ChatError('timeout', `${address} is cut off by the partition fault`)
    }
    const peer = this.upsertPeer({ nodeId: id, name: hello.self.name, address: bestAddress(hello.self.address || address, splitAddress(address).host) })
    if (peer.link && peer.link !== link && peer.link.up) {
      link.close('duplicate')
      return hello
    }
    peer.link = link
    // What was held for the incarnation we knew is no answer to a new one's requests (its request
    // ids start again at 1) and no delivery it follows: it joins again (peerRestarted, below).
    if (peer.incarnation !== '' && hello.incarnation && hello.incarnation !== peer.incarnation) peer.held.length = 0
    // What was held first, in the order it was made: askers are waiting.
    for (const m of peer.held.splice(0)) link.send(m)
    // We reached this address and the node there proved its id: now worth remembering (peers.json).
    peer.verifiedAddress = address
    this.heard(id)
    this.takeHello(hello)
    const deferred = peer.resyncOnLink
    peer.resyncOnLink = undefined
    if (deferred) this.resyncWhenLinked(peer, deferred.why, deferred.askRejoin)
    this.savePeers()
    this.c.trace('peer', `linked to ${hello.self.name} at ${address}`, undefined, hello.self.name)
    return hello
  }

  private linkDown(link: PeerLink, reason: string): void {
    const peer = [...this.peers.values()].find((p) => p.link === link)
    if (!peer) return
    peer.link = undefined
    if (this.stopped || this.removedAddresses.has(peer.address)) return
    this.c.log(`link to ${peer.name} (${peer.address}) down: ${reason}`)
    this.scheduleRedial(peer)
  }

  private scheduleRedial(peer: Peer): void {
    if (peer.retryTimer || this.stopped) return
    const { backoff, delayMs } = nextBackoff(peer.backoff)
    peer.backoff = backoff
    peer.retryTimer = this.c.clock.setTimeout(() => {
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
        backoff: initialBackoff(),
        retryTimer: undefined,
        resyncOnLink: undefined,
        held: [],
        verifiedAddress: undefined,
        leaveReplies: false,
        protocol: 0,
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
  onInboundHello(h: Hello, remoteHost?: string): void {
    h = { ...h, self: { ...h.self, address: bestAddress(h.self.address, remoteHost) } }
    // Dialled by ourselves (peers.add of our own address or an alias of it): answer, so the dialer
    // sees its own Hello and drops the link; nothing to register.
    if (h.self.nodeId === this.c.nodeId) return
    if (this.cutOff.has(h.self.nodeId)) throw new ChatError('forbidden', 'partitioned (fault injection)')
    if (!isPeerAddress(h.self.address)) throw new ChatError('bad_request', `bad address in hello: ${h.self.address}`)
    const isNew = !this.peers.has(h.self.nodeId)
    const peer = this.upsertPeer(h.self)
    const sameIncarnation = peer.incarnation !== '' && peer.incarnation === h.incarnation
    this.removedAddresses.delete(peer.address)
    this.heard(h.self.nodeId)
    this.takeHello(h)
    // A known peer, same incarnation, opening a new Link: its old one broke (or it closed it because
    // we read too slowly), and what it had queued for us is lost. Rejoin its rooms to learn their
    // last seq and fetch the gap, instead of waiting for a next message that may never come.
    if (sameIncarnation) this.resyncWhenLinked(peer, 'link re-established', false)
    if (isNew) {
      this.savePeers()
      // The newcomer announces itself through us: tell everyone else (docs/architecture.md §5).
      this.broadcast(msg('gossip', { nodes: [h.self], rooms: [] }), h.self.nodeId)
      this.c.trace('peer', `${h.self.name} joined through us`, undefined, h.self.name)
    }
    // We need our own Link to it to send anything back.
    if (!peer.link?.up) {
      peer.backoff = initialBackoff()
      this.c.clock.clear(peer.retryTimer)
      peer.retryTimer = undefined
      this.dial(peer.address).catch(() => this.scheduleRedial(peer))
    }
  }

  /** What a Hello teaches us: its incarnation (restart?), the nodes it knows, its directory. */
  private takeHello(h: Hello): void {
    const peer = this.peers.get(h.self.nodeId)
    if (peer) peer.protocol = h.protocol
    if (peer && h.incarnation && peer.incarnation !== h.incarnation) {
      const restarted = peer.incarnation !== ''
      peer.incarnation = h.incarnation
      if (restarted) this.peerRestarted(peer)
    }
    if (peer) peer.leaveReplies = h.leaveReplies === true
    this.learnNodes(h.known, h.self.nodeId)
    this.c.learnRooms(h.self.nodeId, h.rooms, h.deleted ?? [])
  }

  /**
   * Whether `nodeId` answers a LeaveRequest with a LeaveReply (its Hello says so): an older node
   * never does, so a leave sent to it is acknowledged without waiting (docs/peer-protocol.md §3).
   */
  answersLeaves(nodeId: string): boolean {
    return this.peers.get(nodeId)?.leaveReplies ?? false
  }

  private learnNodes(nodes: NodeRef[], via?: string): void {
    // A loopback address is only meaningful on the machine of the node that told us: from a node on
    // another machine, it means that machine's host (peer-address.ts).
    const viaHost = via ? this.peers.get(via)?.address : undefined
    const viaHostName = viaHost ? splitAddress(viaHost).host : undefined
    for (const raw of nodes) {
      const n = raw?.address ? { ...raw, address: bestAddress(raw.address, viaHostName) } : raw
      if (!n?.nodeId || n.nodeId === this.c.nodeId || !isPeerAddress(n.address ?? '')) continue
      if (this.removedAddresses.has(n.address)) continue
      if (this.peers.has(n.nodeId)) continue
      const peer = this.upsertPeer(n)
      this.savePeers()
      this.dial(peer.address).catch(() => this.scheduleRedial(peer))
    }
  }

  private savePeers(): void {
    try {
      this.c.store.savePeers(this.knownAddresses().filter((a) => !this.removedAddresses.has(a)))
    } catch (e) {
      this.c.log(`cannot save peers: ${(e as Error).message}`)
    }
  }

  // -------------------------------------------------------------------------------------------
  // Partition fault (node.faults {partition}, only with --allow-faults): a teaching demo of a network
  // split without touching the network. Traffic to and from the listed peers is dropped on this
  // node, in both directions, while the links stay open: both sides hear silence, declare each
  // other dead after --dead-ms, and recover on their own (rejoin, gap fetch) once it is healed.

  private readonly cutOff = new Set<string>()

  /** Drop all traffic with these peers (node ids, names or addresses); [] heals. Returns their names. */
  setPartition(peers: string[]): string[] {
    const ids = peers.map((p) => {
      const found = [...this.peers.values()].find((x) => x.nodeId === p || x.name === p || x.address === p)
      if (!found) throw new ChatError('not_found', `no peer ${p}`)
      return found.nodeId
    })
    this.cutOff.clear()
    for (const id of ids) this.cutOff.add(id)
    this.c.trace('peer', ids.length ? `fault: partitioned from ${ids.map((id) => this.peerName(id)).join(', ')}` : 'fault: partition healed')
    return this.partitionedFrom()
  }

  partitionedFrom(): string[] {
    return [...this.cutOff].map((id) => this.peerName(id))
  }

  send(nodeId: string, m: PeerMessage): boolean {
    const peer = this.peers.get(nodeId)
    const link = peer?.link
    if (!link) {
      // Behind a held reply, a message waits too (hold()); otherwise it is lost with the link, and
      // the peer rejoins when our new Link reaches it (onInboundHello, 'link re-established').
      if (!peer || peer.held.length === 0 || this.cutOff.has(nodeId)) return false
      this.hold(peer, m)
      return true
    }
    if (this.cutOff.has(nodeId)) return true // lost in the (simulated) partition, like on a real network
    link.send(m)
    return true
  }

  /**
   * Keep a message for a peer until our Link to it is up (openLink). A reply is held because its
   * asker waits for it (answer()); everything sent after a held reply is held behind it, because the
   * reply's place in our stream is part of its meaning: a JoinReply says "the room is at lastSeq N,
   * what follows on this Link is N+1 on" (docs/ordering.md §4). Written alone, with the Delivers of
   * the seqs after N dropped, it left the joining client at N until the next message in the room,
   * for good in a quiet one (docs/simulation.md "Bugs found", seed 227). Past MAX_HELD all of it is
   * dropped, so no reply arrives without what followed it: the asker times out as before.
   */
  private hold(peer: Peer, m: PeerMessage): void {
    if (peer.held.length >= MAX_HELD) {
      this.c.log(`${peer.held.length} messages held for ${peer.name}, whose link is not up: dropped`)
      peer.held.length = 0
      return
    }
    peer.held.push(m)
  }

  broadcast(m: PeerMessage, except?: string): void {
    for (const p of this.peers.values()) if (p.nodeId !== except && !this.cutOff.has(p.nodeId)) p.link?.send(m)
  }

  private sendHeartbeats(): void {
    const now = this.c.clock.now()
    // Anti-entropy: every 10th round, our own rooms go to everyone again, so a directory update lost
    // with a broken link is repaired within seconds even if no Hello is exchanged.
    if (++this.heartbeatRound % 10 === 0) {
      // ownerComplete for older nodes only (peer.proto); deletions are announced in `deleted`.
      this.broadcast(msg('gossip', { nodes: [], rooms: this.c.ownRooms(), ownerComplete: true, deleted: this.c.deletedRooms() }))
    }
    for (const p of this.peers.values()) {
      // Piggybacking: a link that wrote anything within the period already told the peer we live.
      if (this.cutOff.has(p.nodeId)) continue
      if (p.link?.up && now - p.link.lastWriteAt >= this.c.timing.heartbeatMs * 0.8) p.link.send(msg('heartbeat', { sentAt: now }))
    }
  }

  // -------------------------------------------------------------------------------------------
  // Peers as the user sees them (peers.list, peers.add, peers.remove)

  private peerInfo(p: Peer): PeerInfo {
    this.flushHeard()
    const d = this.detector.peers[p.nodeId]
    return { nodeId: p.nodeId, name: p.name, address: p.address, state: d?.state ?? 'suspect', lastSeenMs: d?.lastHeardMs ?? 0 }
  }

  /** Every peer the user has not removed, by name. */
  /** Counters of our outbound links (node.stats). */
  linkStats(): Results['node.stats']['links'] {
    return [...this.peers.values()]
      .map((p) => ({
        nodeId: p.nodeId,
        name: p.name,
        up: !!p.link?.up,
        framesSent: p.link?.framesWritten ?? 0,
        messagesSent: p.link?.messagesWritten ?? 0,
        queued: p.link?.queued ?? 0,
      }))
      .sort((a, b) => a.name.localeCompare(b.name))
  }

  list(): PeerInfo[] {
    return [...this.peers.values()].filter((p) => !this.removedAddresses.has(p.address)).map((p) => this.peerInfo(p)).sort((a, b) => a.name.localeCompare(b.name))
  }

  /**
   * The ids of the peers of list() that are alive, in no particular order: what choosing a replica
   * set needs, without a PeerInfo per peer and a sort by name each time (docs/simulation.md,
   * "Speed"). A peer is alive whether or not its last frames were handed to the detector yet.
   */
  aliveIds(): string[] {
    const out: string[] = []
    for (const p of this.peers.values()) {
      if (!this.removedAddresses.has(p.address) && this.detector.peers[p.nodeId]?.state === 'alive') out.push(p.nodeId)
    }
    return out
  }

  /** The user adds a peer: undo an earlier removal, dial it, and remember it. */
  async add(address: string): Promise<PeerInfo> {
    address = address.trim()
    this.removedAddresses.delete(address)
    const hello = await this.dial(address)
    if (hello.self.nodeId === this.c.nodeId) throw new ChatError('bad_request', `${address} is this node`)
    const peer = this.peers.get(hello.self.nodeId)!
    this.removedAddresses.delete(peer.address)
    this.savePeers()
    return this.peerInfo(peer)
  }

  /** The user removes a peer: close its link and keep gossip from bringing it back. */
  remove(address: string): void {
    address = address.trim()
    const peer = [...this.peers.values()].find((p) => p.address === address)
    if (!peer) throw new ChatError('not_found', `no peer at ${address}`)
    this.removedAddresses.add(peer.address)
    this.c.clock.clear(peer.retryTimer)
    peer.retryTimer = undefined
    peer.link?.close('removed')
    this.peers.delete(peer.nodeId)
    this.detect({ type: 'forget', peer: peer.nodeId })
    this.savePeers()
    this.c.trace('peer', `removed peer ${peer.name}`, undefined, peer.name)
  }

  // -------------------------------------------------------------------------------------------
  // Failure detection

  private heard(nodeId: string): void {
    const peer = this.peers.get(nodeId)
    if (peer) {
      if (peer.backoff.failures !== 0) peer.backoff = initialBackoff()
      // A peer we hear but cannot write to: dial at once instead of waiting for the backoff.
      if (!peer.link && !this.dialingAddresses.has(peer.address) && !this.stopped) {
        this.c.clock.clear(peer.retryTimer)
        peer.retryTimer = undefined
        this.dial(peer.address).catch(() => this.scheduleRedial(peer))
      }
    }
    const d = this.detector.peers[nodeId]
    if (d?.state === 'alive' && !d.credited) {
      // Heard again while alive: the detector would only move its last-heard time, with no effect.
      // Every frame does this, so it is noted here and given to the detector before its next step
      // or read (flushHeard): the same states, without a new detector state per frame.
      this.heardAt.set(nodeId, this.c.clock.now())
      return
    }
    this.detect({ type: 'heard', peer: nodeId, now: this.c.clock.now() })
  }

  /** The 'heard' inputs held back by heard(), in to the detector (no effects: each peer is alive). */
  private flushHeard(): void {
    if (this.heardAt.size === 0) return
    this.detector = failureDetectorStep(this.detector, { type: 'heard-many', heard: this.heardAt }).state
    this.heardAt.clear()
  }

  private detect(input: Parameters<typeof failureDetectorStep>[1]): void {
    this.flushHeard()
    const { state, effects } = failureDetectorStep(this.detector, input)
    this.detector = state
    for (const e of effects) this.peerStateChanged(e)
  }

  tick(now: number): void {
    // The peers heard since the last step go in with the tick: one copy of the detector's peers, not
    // one for them and one for the tick (failure-detector.ts `tick`).
    const { state, effects } = failureDetectorStep(this.detector, { type: 'tick', now, heard: this.heardAt })
    this.heardAt.clear()
    this.detector = state
    for (const e of effects) this.peerStateChanged(e)
  }

  peerState(nodeId: string): PeerState | undefined {
    if (nodeId === this.c.nodeId) return 'alive'
    return this.detector.peers[nodeId]?.state
  }

  /** The peer protocol `nodeId`'s last Hello said it speaks (0: no Hello from it yet). */
  peerProtocol(nodeId: string): number {
    return this.peers.get(nodeId)?.protocol ?? 0
  }

  /** In the peer table (heard of, by a Hello or gossip, and not removed). */
  knows(nodeId: string): boolean {
    return this.peers.has(nodeId)
  }

  private peerStateChanged(e: PeerStateEffect): void {
    const peer = this.peers.get(e.peer)
    if (!peer) return
    const name = peer.name
    this.c.log(`peer ${name} ${e.from ?? 'new'} -> ${e.to}${e.silentMs ? ` after ${e.silentMs} ms of silence` : ''}`)
    this.c.trace('heartbeat', `${name}: ${e.from ?? 'new'} → ${e.to}${e.silentMs ? ` (silent ${e.silentMs} ms)` : ''}`, undefined, name)
    this.c.emit({ event: 'peer.status', nodeId: peer.nodeId, name, address: peer.address, state: e.to })
    if (e.to === 'dead') this.peerDied(peer)
    else if (e.to === 'alive' && e.from === 'dead') this.peerRevived(peer)
  }

  private peerDied(peer: Peer): void {
    peer.held.length = 0 // its requests failed at its end too
    // Requests waiting on it fail now, not at their timeout (docs/failures.md: never silence).
    for (const [id, r] of this.pending) {
      if (r.peer !== peer.nodeId) continue
      r.settled = true
      this.pending.delete(id)
      r.reject(new ChatError('room_unavailable', `node ${peer.name} is unreachable`))
    }
    this.c.peerDead(peer)
  }

  private peerRevived(peer: Peer): void {
    this.c.peerRevived(peer)
    // We dropped its members while it was dead: ask it to join them again; and we rejoin ours.
    this.resyncWhenLinked(peer, 'administrator back', true)
  }

  /** A new incarnation: the peer lost its memory. Its old members are gone; our members rejoin. */
  private peerRestarted(peer: Peer): void {
    this.c.log(`peer ${peer.name} restarted`)
    peer.held.length = 0 // for the previous incarnation (see openLink)
    const old = peer.link
    if (old && old.peer?.incarnation !== peer.incarnation) {
      // Our link still goes to the previous incarnation (its reset has not reached us yet): what we
      // write on it is lost. Drop it and dial the new one, so the rejoin below goes on a live link.
      peer.link = undefined
      old.close('peer restarted')
      if (!this.stopped) this.dial(peer.address).catch(() => this.scheduleRedial(peer))
    }
    this.c.peerRestarted(peer)
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
    this.c.resyncRoomsOf(peer.nodeId, why)
  }

  // -------------------------------------------------------------------------------------------
  // Peer messages

  onInbound(from: string, messages: DecodedMessage[]): void {
    if (this.cutOff.has(from)) return // partition fault: as if nothing arrived
    this.heard(from)
    for (let i = 0; i < messages.length; i++) {
      let m = messages[i]
      const why = refusal(from, m, this.c.authority)
      if (why !== undefined) {
        this.refuse(from, m.body, requestIdOf(m), 'forbidden', why)
        const fence = fenceReply(m, this.c.authority)
        if (fence) this.send(from, fence)
        continue
      }
      // Appends of one room back to back in the frame, each continuing the last: one step, one log
      // write, one answer (docs/replication.md, "One append per frame").
      while (m.body === 'roomAppend' && i + 1 < messages.length) {
        const next = messages[i + 1]
        const merged = next.body === 'roomAppend' && refusal(from, next, this.c.authority) === undefined ? mergedAppend(m, next) : undefined
        if (!merged) break
        m = merged
        i++
      }
      try {
        this.c.dispatch(from, m)
      } catch (e) {
        // A malformed or unexpected message from one peer must not take the node down.
        this.c.log(`bad ${m?.body ?? 'unknown'} message from ${this.peerName(from)}: ${(e as Error).message}`)
      }
    }
  }

  /**
   * A peer message refused (docs/security.md, "Authority of peer messages"): nothing changes; a line
   * in the log and in the protocol log; a request gets its reply with the error.
   */
  refuse(from: string, body: string, reqId: number | undefined, code: 'bad_request' | 'forbidden', reason: string): void {
    const name = this.peerName(from)
    this.c.log(`refused ${body} from ${name}: ${reason}`)
    this.c.trace('peer', `refused ${body} from ${name}: ${reason}`, undefined, name)
    const reply = REPLY_OF[body as keyof typeof REPLY_OF]
    // A LeaveRequest with reqId 0 wants no answer (older nodes would not know a LeaveReply).
    if (reply === undefined || reqId === undefined || (reply === 'leaveReply' && reqId === 0)) return
    this.answer(from, reply, reqId, () => {
      throw new ChatError(code, reason)
    }, EMPTY_REPLY[reply])
  }

  peerName(nodeId: string): string {
    return nodeId === this.c.nodeId ? this.c.self().name : (this.peers.get(nodeId)?.name ?? nodeId.slice(0, 8))
  }

  /** The messages this module owns in the dispatch table (peer-dispatch.ts). */
  onPeerMessage(from: string, m: LinkMessage): void {
    switch (m.body) {
      case 'hello':
        this.takeHello(m.hello)
        return
      case 'heartbeat':
        return
      case 'leaving':
        this.c.trace('peer', `${this.peerName(from)} is leaving`, undefined, this.peerName(from))
        this.detect({ type: 'left', peer: from, now: this.c.clock.now() })
        return
      case 'gossip':
        this.learnNodes(m.gossip.nodes, from)
        this.c.learnRooms(from, m.gossip.rooms, m.gossip.deleted ?? [])
        return
      case 'joinReply':
      case 'leaveReply':
      case 'membersReply':
      case 'sendAck':
      case 'fetchReply':
      case 'deleteReply': {
        const body = (m as unknown as Record<string, { reqId: number }>)[m.body]
        const r = this.pending.get(body.reqId)
        // A late answer to a request that timed out, or one of another kind with the same id (a
        // reply meant for a previous start of this node): it settles nothing.
        if (!r || r.peer !== from || (r.reply !== undefined && r.reply !== m.body)) return
        this.pending.delete(body.reqId)
        r.settled = true
        r.onReply?.(body)
        r.resolve(body)
        return
      }
    }
  }

  /**
   * Run `fn` for a peer's request and send back its reply or its error. `fn` returns a new object,
   * which becomes the reply (its reqId and error are set on it): a copy of it with them, made for
   * every request a node answers, cost several times more (docs/simulation.md, "Speed").
   */
  answer<K extends ReplyKind>(
    to: string,
    reply: K,
    reqId: number,
    fn: () => Omit<Bodies[K], 'reqId' | 'error'>,
    empty: Omit<Bodies[K], 'reqId' | 'error'>,
  ): void {
    let body: Bodies[K]
    try {
      const fresh = fn() as Bodies[K]
      fresh.reqId = reqId
      fresh.error = null
      body = fresh
    } catch (e) {
      const err: Failure = e instanceof ChatError ? { code: e.code, message: e.message } : { code: 'internal', message: 'internal error' }
      if (!(e instanceof ChatError)) this.c.log(`answering ${reply}: ${(e as Error).stack}`)
      body = { ...empty, reqId, error: err } as Bodies[K]
    }
    const m = msg(reply, body)
    if (this.send(to, m)) return
    // A request arrives on the asker's Link, the reply leaves on ours (docs/peer-protocol.md §1),
    // which may not be up yet: just after a start or a restart, the peer's Link reaches us before
    // ours reaches it. Dropping the reply would leave the asker waiting for its 8 s timeout (a
    // join or a forwarded send after a restart); hold it until our Link is up (openLink).
    const peer = this.peers.get(to)
    if (!peer || this.cutOff.has(to)) return
    this.hold(peer, m)
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
    const message = build(reqId)
    // One key is set: the request's kind.
    let reply: ReplyKind | undefined
    for (const kind in message) reply = REPLY_OF[kind as BodyName]
    return new Promise<T>((resolve, reject) => {
      if (!this.send(nodeId, message)) {
        reject(new ChatError('room_unavailable', `no link to node ${name}`))
        return
      }
      const r: PendingRequest = {
        reqId,
        peer: nodeId,
        peerName: name,
        timeoutMs,
        deadline: this.c.clock.now() + timeoutMs,
        settled: false,
        reply,
        resolve: resolve as (b: unknown) => void,
        reject,
        onReply: onReply as ((b: unknown) => void) | undefined,
      }
      this.pending.set(reqId, r)
      this.deadlines.add(r)
    })
  }
}
