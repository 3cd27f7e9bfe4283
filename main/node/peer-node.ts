/**
 * The peer node: drives the pure cores of main/core with real time, sockets and files.
 *
 *   client --ws--> gateway --> PeerNode --gRPC Link--> the room's administrator (maybe itself)
 *                                  ^                         | next seq
 *                                  +------- Deliver ---------+ to every node with members
 *
 * Rules it keeps (docs/architecture.md §2): effects of a core step are carried out in the order returned,
 * persist first and send second; every peer message is checked before use and a bad one is logged
 * and dropped, never thrown past the handler; every request to another node has a timeout and fails
 * at once when that node is declared dead, so a client never waits on silence.
 *
 * This file is the composition root: it owns identity, start/stop and the tick, and wires the
 * role modules to each other through their narrow components interfaces (js-libp2p's model):
 *   peer-links.ts           peers, dialling, gossip of nodes, heartbeats, failure detection, requests
 *   peer-dispatch.ts        which module owns each kind of peer message (one table)
 *   room-directory-sync.ts  the cluster's room directory, our rooms and rooms.json
 *   room-admin.ts           the administrator's side of our rooms
 *   room-member.ts          ordered delivery to our clients of the rooms they joined
 *   client-ops.ts           the client protocol's ops
 *   deletion-driver.ts      room deletion by two-phase commit
 *   history-archive.ts      the shared history archive in a database (--db, docs/archive.md)
 */
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { hostname } from 'node:os'
import { LARGE_ROOM_MEMBERS, SYSTEM_USER, type ServerEvent, type TraceKind } from '../../proto/client-protocol'
import type { NodeRef } from '../cluster/peer-messages'
import { ClusterCredentials } from '../cluster/cluster-credentials'
import { PeerTransport } from '../cluster/peer-transport'
import { JoinedRooms } from './joined-rooms'
import { systemClock, type Clock, type Timer } from '../cluster/clock'
import type { Transport, TransportFactory } from '../cluster/transport'
import { WsGateway, encodeFrame, type ClientApi, type ClientGateway } from '../gateway/ws-gateway'
import { ClientOps } from './client-ops'
import { MessageLog, type MessageStore } from '../store/message-log'
import { DeletionDriver } from './deletion-driver'
import { HistoryArchive } from './history-archive'
import { DEFAULT_REPAIR_MS, DEFAULT_REPLICAS, type NodeOptions, type RunningNode } from './node-options'
import { NodeStore, newSecret, type NodeStorage } from '../store/node-store'
import { dispatchPeerMessage, peerDispatchTable, type PeerDispatchTable } from './peer-dispatch'
import { PEER_DELIVERS_FROM_REPLICA, PEER_PROTOCOL, PeerLinks } from './peer-links'
import { toWireRoom } from './peer-wire'
import { RoomAdmin } from './room-admin'
import { RoomDirectorySync } from './room-directory-sync'
import { RoomMember } from './room-member'
import { RoomReplicas } from './room-replicas'
import { committedRange, type ReplicaState } from '../core/room-replication'
import { DEFAULT_LOG_LIMIT, newAdminRoom, restoreLog, restoreMembers } from '../core/room-ordering'

export { toWireRoom }

/** Reorder-buffer and detector tick. */
const TICK_MS = 50

/** What peer-authority.ts reads of a replicated room this node has no directory entry of. */
const NO_ENTRY: { readonly adminNodeId: undefined; readonly term: number } = Object.freeze({ adminNodeId: undefined, term: 0 })

/**
 * What the node runs on, each an injected component (docs/simulation.md): time, ids, the network,
 * the data dir and the client gateway. A process gets the real ones (`defaultEnvironment`); the
 * simulator gives a virtual clock, seeded ids, the in-memory network and an in-memory data dir.
 */
export interface NodeEnvironment {
  readonly clock: Clock
  /** A fresh unique id (incarnations, rooms, deletion transactions). */
  newId(): string
  /**
   * An integer in [0, n) (election jitter): from Math.random, or drawn from the simulator's seed.
   * An integer, not a number in [0, 1): drawn for every replica at every tick, a fraction crossing
   * the calls would be a heap number each (docs/simulation.md, "Speed").
   */
  randomInt(n: number): number
  readonly transport: TransportFactory
  /** Identity, peers, rooms and the deletion log (the small files of --data-dir). */
  readonly store: NodeStorage
  /** The message logs of the rooms this node administers. */
  readonly messages: MessageStore
  /** Where clients connect: the WebSocket gateway, or the simulator's in-process one. */
  gateway(api: ClientApi): ClientGateway
  /**
   * The peer protocol this node speaks (peer-links.ts PEER_PROTOCOL when absent); a test sets an
   * older one to stand for a node of an older release in a mixed cluster.
   */
  readonly peerProtocol?: number
}

export class PeerNode implements RunningNode {
  readonly nodeId: string
  readonly name: string
  readonly token: string
  readonly incarnation: string
  /** The cluster's secret (client-protocol.md section 7); changes only when an invite's key is adopted. */
  clusterKey: string
  /** The TLS material made from the cluster key and this node's key pair (docs/security.md). */
  private credentials: ClusterCredentials
  private readonly nodeKeyPem: string
  grpcAddress = ''
  wsUrl = ''
  uiUrl: string | undefined

  private readonly clock: Clock
  private readonly store: NodeStorage
  /** Every message of the rooms this node administers, appended before it is sent to anyone. */
  private readonly messages: MessageStore
  private readonly transport: Transport
  private readonly gateway: ClientGateway
  private readonly links: PeerLinks
  private readonly rooms: RoomDirectorySync
  private readonly admin: RoomAdmin
  private readonly member: RoomMember
  private readonly ops: ClientOps
  /** Which rooms each user joined (hello.joinedRooms), saved a moment after a change and on stop. */
  private readonly joined: JoinedRooms
  readonly deletions: DeletionDriver
  /** Replicated rooms (docs/replication.md), with --replicas above 1. */
  private readonly replication: RoomReplicas
  /** The shared history archive, when started with --db. */
  private readonly archive: HistoryArchive | undefined
  /** Each kind of peer message to the one module that owns it (docs/architecture.md §3). */
  private readonly peerTable: PeerDispatchTable
  private tickTimer: Timer | undefined
  private stopped = false
  private readonly log: (line: string) => void

  constructor(
    readonly o: NodeOptions,
    environment: Partial<NodeEnvironment> = {},
  ) {
    const token = (this.token = o.token ?? newSecret(18))
    // What is not given is the real thing: time, random ids, gRPC, files in o.dataDir, WebSockets.
    const env: NodeEnvironment = {
      clock: environment.clock ?? systemClock,
      newId: environment.newId ?? (() => randomUUID()),
      randomInt: environment.randomInt ?? ((n) => Math.floor(Math.random() * n)),
      transport: environment.transport ?? ((handlers) => new PeerTransport(handlers, () => this.credentials)),
      store: environment.store ?? new NodeStore(o.dataDir),
      messages: environment.messages ?? new MessageLog(join(o.dataDir, 'messages'), { fsync: o.fsync }),
      gateway:
        environment.gateway ??
        ((api) => new WsGateway({ host: o.wsHost, port: o.wsPort, token, uiDir: o.uiDir, allowedOrigins: o.allowedOrigins, log: o.log ?? (() => {}), api })),
      peerProtocol: environment.peerProtocol,
    }
    const clock = env.clock
    const newId = () => env.newId()
    this.clock = clock
    this.store = env.store
    this.joined = new JoinedRooms(this.store, clock)
    this.messages = env.messages
    this.incarnation = newId()
    this.clusterKey = this.store.clusterKey(o.clusterKey).key
    this.nodeKeyPem = this.store.nodeKey()
    this.credentials = new ClusterCredentials(this.clusterKey, this.nodeKeyPem)
    this.nodeId = this.store.identity(this.credentials.nodeId).nodeId
    this.name = o.name ?? `${hostname()}:${o.grpcPort}`
    this.log = o.log ?? (() => {})
    const nodeId = this.nodeId
    const log = this.log
    const self = () => this.selfRef()
    const emit = (e: ServerEvent) => this.emit(e)
    const trace = (kind: TraceKind, text: string, roomId?: string, peer?: string) => this.trace(kind, text, roomId, peer)

    this.archive = o.db
      ? new HistoryArchive({
          url: o.db,
          nodeId,
          nodeName: () => this.name,
          store: this.store,
          source: (roomId, from, to) => this.admin.logRange(roomId, from, to),
          log,
          statusChanged: (s) => this.emit({ event: 'archive.status', ...s }),
        })
      : undefined
    const archive = this.archive
    // The archive records the creator's name; the room's node is its adminNodeId.
    const archiveRoom = (room: { roomId: string; name: string; createdBy: { user: string }; createdAt: number; lastSeq: number }) =>
      archive?.writer.holdRoom(
        { roomId: room.roomId, name: room.name, createdBy: room.createdBy.user, createdAt: room.createdAt, adminNodeId: nodeId, adminNodeName: this.name },
        room.lastSeq,
      )

    // The modules refer to each other only through these closures, so the order of construction
    // does not matter: nothing is called before start().
    this.transport = env.transport({
      hello: () => this.links.hello(),
      inboundHello: (h, remoteHost) => this.links.onInboundHello(h, remoteHost),
      inbound: (from, messages) => this.links.onInbound(from, messages),
      malformed: (from, body, reqId, reason) => this.links.refuse(from, body, reqId, 'bad_request', reason),
      refusedLink: (from, reason) => {
        this.log(`refused a link from ${from}: ${reason}`)
        this.trace('peer', `refused a link from ${from}: ${reason}`)
      },
    })
    this.links = new PeerLinks({
      protocol: env.peerProtocol,
      nodeId,
      clock,
      incarnation: this.incarnation,
      self,
      transport: this.transport,
      store: this.store,
      timing: o,
      tickMs: TICK_MS,
      log,
      trace,
      emit,
      directoryRooms: () => this.rooms.wireRooms(),
      ownRooms: () => this.rooms.ownWireRooms(),
      deletedRooms: () => this.rooms.deletedRooms(this.deletions.tombstonedRooms()),
      learnRooms: (from, rooms, deleted) => this.rooms.learnRooms(from, rooms, deleted),
      peerDead: (peer) => this.peerDied(peer),
      peerRevived: (peer) => {
        this.replication.peerAlive(peer.nodeId)
        this.rooms.adminBack(peer)
      },
      // A new incarnation: its old members are gone (peer-links.ts then rejoins ours), and whatever
      // replicated room it administered needs a new administrator.
      peerRestarted: (peer) => {
        this.admin.nodeDead(peer.nodeId)
        this.replication.peerRestarted(peer.nodeId)
      },
      resyncRoomsOf: (adminNodeId, why) => this.member.resyncRoomsOf(adminNodeId, why),
      dispatch: (from, m) => dispatchPeerMessage(this.peerTable, from, m),
      authority: {
        adminOf: (roomId) => this.rooms.directory.rooms.get(roomId)?.adminNodeId,
        // Members of its own in the room, or a replica of the room's log (docs/replication.md).
        hasMembersFrom: (roomId, nodeId) =>
          (this.rooms.adminRooms.get(roomId)?.nodeCounts.get(nodeId) ?? 0) > 0 || (this.rooms.directory.rooms.get(roomId)?.replicas.includes(nodeId) ?? false),
        // The entry itself (read only), not a new object for every message a peer sends.
        replicationOf: (roomId) => this.rooms.directory.rooms.get(roomId) ?? (this.replication.isReplicated(roomId) ? NO_ENTRY : undefined),
        holdsReplica: (roomId, nodeId) =>
          (this.rooms.directory.rooms.get(roomId)?.replicas.includes(nodeId) ?? false) ||
          (this.replication.state(roomId)?.meta.replicas.includes(nodeId) ?? false) ||
          this.replication.wasReplica(roomId, nodeId),
        holdsReplicaHere: (roomId) => this.replication.state(roomId) !== undefined,
      },
    })
    this.rooms = new RoomDirectorySync({
      nodeId,
      clock,
      newId,
      nodeName: () => this.name,
      store: this.store,
      messages: this.messages,
      log,
      emit,
      trace,
      broadcast: (m) => this.links.broadcast(m),
      peerState: (id) => this.links.peerState(id),
      knowsPeer: (id) => this.links.knows(id),
      forgetMemberRoom: (roomId) => this.member.forget(roomId),
      roomHeld: archiveRoom,
      roomDeleted: (roomId) => archive?.writer.roomDeleted(roomId, clock.now()),
      replicaInfo: (roomId) => this.replication.info(roomId),
      replicaLetGo: (roomId) => this.replication.letGoOf(roomId),
      knownReplicas: (roomId) => this.replication.knownReplicas(roomId),
      replicate: (room) => this.replication.create(room),
      adminChanged: (roomId, adminNodeId, termRose) => this.member.adminChanged(roomId, adminNodeId, termRose),
      replicaDropped: (roomId) => this.replication.drop(roomId),
      // An election starts within a detector period and takes about a second (client-protocol.md §8).
      takeoverGraceMs: o.deadMs + 1500,
    })
    this.replication = new RoomReplicas({
      nodeId,
      replicas: o.replicas ?? DEFAULT_REPLICAS,
      repairMs: o.repairMs ?? DEFAULT_REPAIR_MS,
      deadMs: o.deadMs,
      messages: this.messages,
      store: this.store,
      clock,
      randomInt: (n) => env.randomInt(n),
      isDeleted: (roomId) => this.rooms.directory.tombstones.has(roomId),
      send: (id, m) => this.links.send(id, m),
      alivePeers: () => this.links.aliveIds(),
      memberNodes: (roomId) => [...(this.rooms.adminRooms.get(roomId)?.nodeCounts.keys() ?? [])].filter((n) => n !== nodeId),
      peerName: (id) => this.links.peerName(id),
      log,
      trace,
      emit,
      becameAdmin: (s) => {
        // Take the room over from the replicated state: committed log, members; a deletion its
        // predecessor had not decided is presumed aborted (docs/replication.md, "Deletion").
        const previous = this.rooms.directory.rooms.get(s.roomId)
        const room = newAdminRoom({ roomId: s.roomId, name: s.meta.name, createdBy: s.meta.createdBy, createdAt: s.meta.createdAt })
        restoreLog(room, committedRange(s, Math.max(1, s.commitSeq - DEFAULT_LOG_LIMIT + 1), s.commitSeq).map((e) => e.message), s.commitSeq)
        restoreMembers(room, s.meta.members)
        room.version = (previous?.version ?? 0) + 1
        this.rooms.takeOver(room, previous && previous.adminNodeId !== nodeId ? { nodeId: previous.adminNodeId, name: previous.adminNodeName } : null)
        this.member.adminChanged(s.roomId, nodeId)
        // Committed messages our own members were not delivered yet (the predecessor's Deliver never
        // came): ours to deliver now, or a quiet room would leave them a tail behind for good.
        const next = this.member.nextSeq(s.roomId)
        if (next !== undefined && next <= s.commitSeq) this.member.localDeliver(s.roomId, committedRange(s, next, s.commitSeq).map((e) => e.message))
        // Our own users in the room are members of it (remote member nodes join the new
        // administrator again on room.admin_changed; ours would not, and a join the replicated state
        // lost in the failover would leave them without deliveries for good).
        for (const user of this.member.usersIn(s.roomId)) {
          try {
            this.admin.join(nodeId, s.roomId, user)
          } catch (e) {
            this.log(`room ${s.meta.name}: rejoining ${user} here: ${(e as Error).message}`)
          }
        }
        // The users of a dead predecessor are gone (docs/client-protocol.md §6.4).
        if (previous && previous.adminNodeId !== nodeId && this.links.peerState(previous.adminNodeId) === 'dead') {
          this.admin.roomStep(room, { type: 'node-dead', nodeId: previous.adminNodeId })
        }
        // A deletion this node voted READY for, begun by its predecessor and not committed in the
        // room state: presumed aborted, and ours to tell the other participants (docs/deletion.md),
        // once this term's room state (without the deletion) is on a majority, so that no later
        // administrator can find an older one that has it.
        this.replication.metaSettled(s.roomId).then(
          () => this.deletions.tookOver(s.roomId),
          () => {},
        )
      },
      lostAdmin: (roomId) => this.rooms.letGo(roomId),
      finishDeletion: (roomId, txId, memberNodes) => this.deletions.finishReplicatedDeletion(roomId, txId, memberNodes),
      committed: (roomId, messages) => this.admin.applyCommitted(roomId, messages),
      replicaCommitted: (env.peerProtocol ?? PEER_PROTOCOL) >= PEER_DELIVERS_FROM_REPLICA ? (roomId, leader, read) => this.member.fromReplica(roomId, leader, read) : undefined,
      deliversFromReplica: (id) => this.links.peerProtocol(id) >= PEER_DELIVERS_FROM_REPLICA,
      replicasChanged: (roomId) => {
        const room = this.rooms.adminRooms.get(roomId)
        if (!room) return
        room.version++
        this.rooms.publishRoom(room)
      },
    })
    this.admin = new RoomAdmin({
      nodeId,
      clock,
      rooms: this.rooms,
      messages: this.messages,
      send: (id, m) => this.links.send(id, m),
      answer: (to, reply, reqId, fn, empty) => this.links.answer(to, reply, reqId, fn, empty),
      peerName: (id) => this.links.peerName(id),
      trace,
      tracing: () => this.tracing(),
      localDeliver: (roomId, messages) => this.member.localDeliver(roomId, messages),
      localMemberEvent: (roomId, m, joined) => this.member.memberEvent(roomId, m, joined),
      blocksSend: (roomId) => this.deletions.blocksSend(roomId),
      committed: archive ? (m) => archive.writer.committed(m.roomId, m.seq, clock.now()) : undefined,
      replication: this.replication,
    })
    this.member = new RoomMember({
      nodeId,
      clock,
      // The gateway is made below, before any frame is encoded.
      encode: (f) => (this.gateway.encode ? this.gateway.encode(f) : encodeFrame(f)),
      send: (id, m) => this.links.send(id, m),
      request: (id, build, timeoutMs, onReply) => this.links.request(id, build, timeoutMs, onReply),
      peerName: (id) => this.links.peerName(id),
      log,
      trace,
      tracing: () => this.tracing(),
      localRange: (roomId, fromSeq, toSeq) => this.admin.logRange(roomId, fromSeq, toSeq),
      localLeave: (roomId, user) => this.admin.leave(roomId, user, nodeId),
      answersLeaves: (id) => this.links.answersLeaves(id),
      replicated: (roomId) => (this.rooms.directory.rooms.get(roomId)?.replicas.length ?? 0) > 1,
      memberCount: (roomId) => this.rooms.directory.rooms.get(roomId)?.memberCount,
      largeRoomMembers: o.largeRoomMembers ?? LARGE_ROOM_MEMBERS,
    })
    this.deletions = new DeletionDriver(
      {
        nodeId,
        clock,
        newId,
        get name() {
          return self().name
        },
        directory: this.rooms.directory,
        adminRooms: this.rooms.adminRooms,
        peerName: (id) => this.links.peerName(id),
        send: (id, m) => this.links.send(id, m),
        broadcast: (m) => this.links.broadcast(m),
        request: (id, build, timeoutMs, onReply) => this.links.request(id, build, timeoutMs, onReply),
        roomStep: (room, input) => this.admin.roomStep(room, input),
        dropRoom: (roomId) => this.rooms.dropRoom(roomId),
        emit,
        emitToRoom: (roomId, e) => this.emitToRoom(roomId, e),
        replicationRefusal: (roomId) => this.replication.replicationRefusal(roomId),
        commitDeletion: (roomId, txId) => (this.replication.isReplicated(roomId) ? this.replication.commitDeletion(roomId, txId) : undefined),
        isReplicated: (roomId) => this.replication.isReplicated(roomId),
        stateSettled: (roomId) => this.replication.stateSettled(roomId),
        trace,
      },
      this.store,
      o,
    )
    this.ops = new ClientOps({
      nodeId,
      clock,
      self,
      wsUrl: () => this.wsUrl,
      options: o,
      rooms: this.rooms,
      admin: this.admin,
      member: this.member,
      links: this.links,
      deletions: this.deletions,
      joined: this.joined,
      archive,
      trace,
      clusterKey: () => this.clusterKey,
      adoptClusterKey: (key) => this.adoptClusterKey(key),
    })
    this.gateway = env.gateway({ handle: (s, r) => this.ops.handle(s, r), closed: (s) => this.ops.sessionClosed(s) })
    this.peerTable = peerDispatchTable({
      links: this.links,
      directory: this.rooms,
      replication: this.replication,
      admin: this.admin,
      member: this.member,
      deletions: this.deletions,
    })
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

    this.replication.restore()
    this.rooms.restoreRooms()
    // Rooms kept unreplicated (made with --replicas 1, or before replica sets) get a replica state
    // when the node runs with --replicas above 1, and grow replicas by repair (docs/replication.md).
    const adopted = [...this.rooms.adminRooms.values()].filter((room) => this.replication.adopt(room))
    for (const room of adopted) this.rooms.publishRoom(room)
    if (adopted.length) this.rooms.flushRooms()
    this.archive?.start()
    // A room deleted while this node held a replica of it stays deleted across the restart: the
    // directory's tombstones live in memory only (docs/deletion.md, "Replicated rooms").
    for (const roomId of this.replication.deletedRooms()) this.rooms.dropRoom(roomId)
    // A node that restarts holding replicas (its lobby among them, docs/replication.md) gets no new
    // lobby: whoever was elected, or this node once elected again, runs the one it had.
    if (this.rooms.adminRooms.size === 0 && this.replication.states().size === 0) this.rooms.createRoom(`${this.name} lobby`, { user: SYSTEM_USER, nodeId: this.nodeId })
    this.deletions.recover()

    this.tickTimer = this.clock.setInterval(() => this.tick(), Math.min(TICK_MS, this.o.heartbeatMs))
    this.links.start(new Set([...this.o.join, ...this.store.peers()]))
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    // Graceful handover first (client-protocol.md §8): our rooms go to replicas while we still talk.
    await this.replication.handover(Math.min(1000, this.o.deadMs)).catch((e: Error) => this.log(`handover: ${e.message}`))
    this.clock.clear(this.tickTimer)
    this.rooms.flushRooms()
    this.joined.flush()
    this.replication.stop()
    await this.links.stop()
    this.deletions.stop()
    await this.gateway.close()
    await this.transport.close()
    this.rooms.flushRooms()
    // What the archive can still write in a moment it writes; the rest is caught up at the next start.
    await this.archive?.stop().catch((e: Error) => this.log(`stopping the archive: ${e.message}`))
    // A clean stop also puts the logs on disk (appends are in the OS cache already).
    try {
      this.messages.sync()
    } catch (e) {
      this.log(`syncing message logs: ${(e as Error).message}`)
    }
    this.messages.close()
  }

  knownPeerAddresses(): string[] {
    return this.links.knownAddresses()
  }

  async addPeer(address: string): Promise<void> {
    await this.links.dial(address)
  }

  /** Use another cluster key from now on (an invite), and keep it for the next start. */
  adoptClusterKey(key: string): void {
    if (key === this.clusterKey) return
    this.store.saveClusterKey(key)
    this.clusterKey = key
    this.credentials = new ClusterCredentials(key, this.nodeKeyPem)
    this.transport.rekey?.()
    this.log('adopted the cluster key of an invite')
  }

  /**
   * The replicas this node holds, as it sees them itself (role, term, log): what the simulator's
   * "one administrator per room and term" invariant reads (docs/simulation.md). Read-only.
   */
  replicaStates(): ReadonlyMap<string, ReplicaState> {
    return this.replication.states()
  }

  /** Moves whenever replicaStates() may have changed (RoomReplicas.changeCount). */
  replicaChanges(): number {
    return this.replication.changeCount
  }

  selfRef(): NodeRef {
    return { nodeId: this.nodeId, name: this.name, address: this.grpcAddress }
  }

  private tick(): void {
    const now = this.clock.now()
    this.links.tick(now)
    this.replication.tick(now)
    this.member.tick(now)
    this.deletions.tick(now)
  }

  // -------------------------------------------------------------------------------------------
  // Wiring between the modules

  private peerDied(peer: NodeRef): void {
    this.replication.peerDead(peer.nodeId)
    this.rooms.adminUnreachable(peer)
    // Its users leave the rooms we administer (docs/client-protocol.md §6.4).
    this.admin.nodeDead(peer.nodeId)
    this.deletions.peerDead(peer.nodeId)
  }

  // -------------------------------------------------------------------------------------------
  // Events to clients

  /** Send an event to every signed-in client of this node. */
  emit(e: ServerEvent): void {
    this.gateway.broadcast(e)
  }

  /** Send an event to this node's clients that joined `roomId`. */
  emitToRoom(roomId: string, e: ServerEvent): void {
    this.gateway.broadcast(e, (s) => this.member.isIn(s, roomId))
  }

  /** Whether any client subscribed to the protocol log (none: trace lines need not be made). */
  tracing(): boolean {
    // Before the client ops exist (nothing runs before start()), as if one had.
    return this.ops?.tracing() ?? true
  }

  /** The protocol log of the cluster view (opt-in: only clients that asked get it). */
  trace(kind: TraceKind, text: string, roomId?: string, peer?: string): void {
    if (!this.tracing()) return
    const make = (): ServerEvent => ({ event: 'trace', at: this.clock.now(), kind, text, roomId, peer })
    if (this.gateway.broadcastTrace) this.gateway.broadcastTrace(make)
    else this.gateway.broadcast(make(), (s) => s.trace)
  }
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
