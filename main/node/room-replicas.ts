/**
 * Replicated rooms (docs/replication.md; client-protocol.md §8): drives one replication core
 * (main/core/room-replication.ts) per room this node holds a replica of, with real time, the
 * message log, the peer Links and the failure detector.
 *
 * `--replicas N` says how many replicas the rooms this node creates get; with 1 they get none and
 * behave as before. Every node holds the replicas other nodes' rooms give it whatever its own N: an
 * administrator counts on each node it names in a set, so a node that refused appends and votes
 * would be a voter that never votes (docs/replication.md, "Replica sets").
 *
 * Carries out each step's effects in order: a term, a vote or entries are on disk before any later
 * send leaves (the core's rule). Commits on the administrator go to room-admin.ts, which delivers
 * them and whose senders then get their seq; a change of administrator goes to the hooks below
 * (the new administrator takes the room over, the old one lets it go).
 */
import type { ChatMessage, ServerEvent, TraceKind } from '../../proto/client-protocol'
import { ChatError } from '../core/errors'
import {
  DEFAULT_REPLICA_CONFIG,
  committedRange,
  entryAt,
  metaCommitted,
  newReplica,
  startLeading,
  stepReplica,
  tickDueAt,
  repairDueAt,
  type LogEntry,
  type ReplicaConfig,
  type ReplicaEffect,
  type ReplicaInput,
  type ReplicaState,
  type ReplicatedMeta,
  type ReplMessage,
} from '../core/room-replication'
import type { AdminRoom } from '../core/room-ordering'
import { memberList } from '../core/room-ordering'
import { msg, type MessageOf, type PeerMessage, type WireReplMeta } from '../cluster/peer-messages'
import type { Clock, Timer } from '../cluster/clock'
import type { MessageLog } from '../store/message-log'
import type { NodeStorage } from '../store/node-store'
import { DEFAULT_REPLICAS } from './node-options'
import { fromWireMessage } from './peer-wire'

/**
 * The durable part of a replica besides its log: term, vote and commit point in replication.json,
 * one entry per room; its room state in a file of its own (roomStateFile), so that saving one room's
 * change, synchronously at every join and leave, writes that room only and not every room's members
 * (docs/replication.md, "Membership and deletion").
 */
interface StoredReplica {
  term: number
  votedFor: string | null
  /**
   * null: a blank replica (a vote given before this node got the room's state, see `blankVote`);
   * absent: in the room's own file. A data dir from before room files has it here.
   */
  meta?: ReplicatedMeta | null
  commitSeq: number
}

const STORE_FILE = 'replication.json'
/**
 * One replicated room's state (its members, replica set, a deletion's decision): { meta }. Once
 * this node was removed from the room's replica set by a repair: { replacedBy }, the room state
 * that removed it (`replacedState`).
 */
const roomStateFile = (roomId: string): string => {
  // Named once per room: a Buffer and its base64 at every write of the room's state were 0.8 % of a
  // simulated run (docs/simulation.md, "Speed"). Forgotten wholesale past a bound.
  let name = stateFileNames.get(roomId)
  if (name === undefined) {
    if (stateFileNames.size >= 10_000) stateFileNames.clear()
    stateFileNames.set(roomId, (name = `replication-room-${Buffer.from(roomId).toString('base64url')}.json`))
  }
  return name
}
const stateFileNames = new Map<string, string>()
const DROPPED_FILE = 'replicas-dropped.json'
/**
 * What a node keeps of a replica it let go (DROPPED_FILE, one per room, oldest first): whether the
 * room was deleted, which makes no replica of it again, also after a restart (docs/replication.md,
 * "Membership and deletion"). A data dir from before keeps the room id alone: not known deleted.
 */
interface DroppedReplica {
  deleted: boolean
}
/** Most rooms remembered as let go (oldest forgotten first). */
const DROPPED_LIMIT = 10_000
/** Most blank replicas (votes for rooms whose state never reached us) kept at once. */
const MAX_BLANK = 1000

export interface RoomReplicasComponents {
  readonly nodeId: string
  /** --replicas N: how many nodes hold each room's log (the administrator included). */
  readonly replicas: number
  readonly deadMs: number
  /** --repair-ms: a replica dead this long is replaced (docs/replication.md, "Repair"). */
  readonly repairMs: number
  readonly messages: Pick<MessageLog, 'open' | 'isOpen' | 'appendEntries' | 'truncateAfter' | 'rangeEntries' | 'drop' | 'resumeAfter' | 'lastSeq'>
  readonly store: Pick<NodeStorage, 'load' | 'save' | 'saveFresh'>
  readonly clock: Clock
  /** An integer in [0, n) for election jitter (seeded in the simulator, docs/simulation.md). */
  randomInt(n: number): number
  send(nodeId: string, m: PeerMessage): boolean
  /** The room was deleted (a tombstone): no vote for it from a blank replica. */
  isDeleted(roomId: string): boolean
  /** Peers the failure detector says are alive, for choosing a replica set (in any order: sorted here). */
  alivePeers(): string[]
  /** Nodes with members in a room: preferred as its replicas. */
  memberNodes(roomId: string): string[]
  peerName(nodeId: string): string
  log(line: string): void
  trace(kind: TraceKind, text: string, roomId?: string, peer?: string): void
  emit(e: ServerEvent): void
  /** This node won the room: take it over as its administrator (room state and committed log). */
  becameAdmin(state: ReplicaState, reason: string): void
  /** This node administers the room no more (deposed, or handed over). */
  lostAdmin(roomId: string, leader: string | null): void
  /** Committed messages of a room this node administers, in seq order: deliver them. */
  committed(roomId: string, messages: ChatMessage[]): void
  /**
   * Committed messages of a room this node is a follower replica of, as `leader` (the administrator
   * it follows) committed them: this node's own members get them from here (docs/replication.md,
   * "Delivery from the replicas"). `read` gives them, in seq order.
   */
  replicaCommitted?(roomId: string, leader: string, read: () => ChatMessage[]): void
  /** Whether `nodeId` delivers from its replica at the commit point (its Hello's protocol, peer-links.ts). */
  deliversFromReplica?(nodeId: string): boolean
  /** The replica set of a room this node administers changed: its directory entry follows. */
  replicasChanged(roomId: string): void
  /**
   * This node was elected for a room whose deletion `txId` was committed: finish it (drop, announce,
   * tell the participants among `memberNodes`, the nodes with members in the room state).
   */
  finishDeletion(roomId: string, txId: string, memberNodes: string[]): void
}

/** How often an administrator looks for replicas to repair. */
const REPAIR_CHECK_MS = 250

interface Waiter {
  resolve(seq: number): void
  reject(e: Error): void
  deadline: number
}

/**
 * replication.json's entries as last written (RoomReplicas.sameAsSaved), four slots each: room id,
 * term, vote, commit point; BLANK as the commit point for a blank replica (meta null).
 */
type SavedIndex = (string | number | null)[]
const BLANK = -1

/** Whether two writes of replication.json list the same replicated rooms in the same order. */
function sameRooms(a: SavedIndex, b: SavedIndex): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i += 4) if (a[i] !== b[i] || (a[i + 3] === BLANK) !== (b[i + 3] === BLANK)) return false
  return true
}

/** A replica's next tick and repair check (RoomReplicas.dueOf): null never, undefined not known. */
interface ReplicaDue {
  tick: number | null | undefined
  repair: number | null | undefined
}

/** The replication messages (peer-dispatch.ts gives them to RoomReplicas). */
export type ReplicationMessage = MessageOf<'roomAppend' | 'roomAppendReply' | 'roomVoteRequest' | 'roomVoteReply' | 'roomTimeoutNow'>

export class RoomReplicas {
  readonly config: ReplicaConfig
  private readonly rooms = new Map<string, ReplicaState>()
  /** See changeCount. */
  private changes = 0
  /**
   * Rooms whose replica set names this node but whose state (first append) never reached it: an
   * empty log, and the term and vote it gave, kept on disk like a replica's (docs/replication.md,
   * "Election").
   */
  private readonly blank = new Map<string, { term: number; votedFor: string | null }>()
  /** Sends waiting for their seq to commit, by room then seq. */
  private readonly waiting = new Map<string, Map<number, Waiter[]>>()
  /** Joins waiting for the room state that holds them to be on a majority, by room. */
  private readonly metaWaiting = new Map<string, { term: number; version: number; waiter: Waiter }[]>()
  private saveTimer: Timer | undefined
  private stopped = false
  /**
   * Rooms this node held a replica of and let go (deleted, or removed from the set by repair), on
   * disk (DROPPED_FILE): no blank vote for them (docs/replication.md, "Election"), and never a
   * replica again of a deleted one.
   */
  private readonly dropped = new Map<string, DroppedReplica>()
  /**
   * The room state that removed this node from a room's replica set (a repair), by room: told to
   * a node of that set that asks for our vote, still holding an older set (`replacedState`). On
   * disk in the room's state file, which nothing else reads once the replica is let go; this map
   * is a bounded cache of it (null: read, and there is none).
   */
  private readonly replacedBy = new Map<string, ReplicatedMeta | null>()
  /**
   * Every node this node has seen in a room's replica set since it started: a replica set changed
   * by repair on a deposed administrator (never committed) must not make it refuse the real
   * administrator, one of the old set, as a stranger (peer-authority.ts, holdsReplica).
   */
  private readonly everReplicas = new Map<string, Set<string>>()
  /** The room state whose replicas everReplicas holds last: a step that kept it has none to add. */
  private readonly notedMeta = new Map<string, ReplicatedMeta>()
  /**
   * The replica set the room's directory entry shows: a change by repair only once a majority holds
   * it (meta-committed). An administrator deposed without knowing it may change its set; published
   * at once, that set would make other nodes refuse the real administrator's entry (a change of
   * administrator is accepted only to one of the entry's replicas, docs/security.md).
   */
  private readonly published = new Map<string, string[]>()
  /**
   * Entries the administrator accepted in this turn of the event loop, not yet written, per room:
   * written with one write and sent with one append per follower at the end of the turn
   * (docs/replication.md, "Replication"). Any other step of the room writes them first, so an
   * entry is on disk before anything that could acknowledge or deliver it leaves.
   */
  private readonly pending = new Map<string, { s: ReplicaState; entries: LogEntry[]; fromSeq: number }>()
  /** Batches written early (another step of the room needed them on disk) whose appends are still due. */
  private readonly written = new Map<string, { s: ReplicaState; fromSeq: number }>()
  private flushQueued = false
  private lastRepairCheck = 0
  /**
   * No waiter in `waiting` or `metaWaiting` has an earlier deadline (a bound: one resolved since may
   * have had it). A tick before it has nothing to expire and does not look through them.
   */
  private nextDeadline = Infinity
  /**
   * Followers whose Deliver the administrator left out during this step, by room: they get the
   * commit point at the end of the step instead (deliveredByReplica).
   */
  private readonly notices = new Map<string, Set<string>>()
  /**
   * Rooms whose members changed at the administrator, not yet replicated, with the joins waiting
   * for them: every change of one window goes to the replicas as one room state (metaChanged).
   */
  private readonly metaDue = new Map<string, { room: AdminRoom; waiters: Waiter[]; timer: Timer | undefined }>()
  /** clock.now() of each room's last replicated room state (the start of its next window). */
  private readonly lastMetaAt = new Map<string, number>()
  /** The room state last written to each room's file (states are replaced, never changed in place). */
  private readonly savedMeta = new Map<string, ReplicatedMeta>()
  /** Rooms in replication.json as last written: a room new to it needs it written too. */
  private indexed = new Set<string>()
  /** replication.json's entries as last written, in order (undefined: not known, write it). */
  private savedIndex: SavedIndex | undefined
  /** See dueOf. Weak: a replica let go or replaced takes its entry with it. */
  private readonly dues = new WeakMap<ReplicaState, ReplicaDue>()

  constructor(private readonly c: RoomReplicasComponents) {
    // A candidacy that fails is retried after about one detector period; ranks apart by a few
    // heartbeats' worth of network delay (docs/replication.md, "Election").
    this.config = {
      ...DEFAULT_REPLICA_CONFIG,
      electionTimeoutMs: Math.max(500, Math.min(c.deadMs, 3000)),
      electionStepMs: 150,
      resendMs: 400,
      repairMs: c.repairMs,
    }
  }

  /** Whether the rooms this node creates (or adopts at start) are replicated: --replicas above 1. */
  private get replicatesOwnRooms(): boolean {
    return this.c.replicas > 1
  }

  /**
   * How many replicas repair keeps a room this node administers at: --replicas, or the default for a
   * replicated room taken over by a node started with --replicas 1 (the room was made replicated;
   * the new administrator's own rooms setting does not shrink it).
   */
  private get wantReplicas(): number {
    return this.c.replicas > 1 ? this.c.replicas : DEFAULT_REPLICAS
  }

  isReplicated(roomId: string): boolean {
    return this.rooms.has(roomId)
  }

  /** For the directory entry and room info. */
  info(roomId: string): { term: number; replicas: string[]; leads: boolean } | undefined {
    const s = this.rooms.get(roomId)
    if (!s) return undefined
    const replicas = this.published.get(roomId) ?? s.meta.replicas
    // A set of one is no replication (client-protocol.md §8: `replicas: []`).
    return { term: s.term, replicas: replicas.length > 1 ? [...replicas] : [], leads: s.role === 'leader' }
  }

  states(): ReadonlyMap<string, ReplicaState> {
    return this.rooms
  }

  /**
   * Moves whenever a replica's role or term as administrator may have changed: a replica added or
   * let go, or a step of the core that changed a role (the core reports every change of role, and
   * a leader's term changes only with its role). An observer that reads the states after every
   * event (the simulator's one-admin-per-term check, docs/simulation.md "Speed") rereads them only
   * when this moved.
   */
  get changeCount(): number {
    return this.changes
  }

  private countRoles(effects: readonly ReplicaEffect[]): void {
    for (let i = 0; i < effects.length; i++) {
      if (effects[i].type === 'role') {
        this.changes++
        return
      }
    }
  }

  state(roomId: string): ReplicaState | undefined {
    return this.rooms.get(roomId)
  }

  // -------------------------------------------------------------------------------------------
  // Starting: new rooms, and the replicas on disk

  /**
   * A room this node just created: choose its replica set (nodes with members first, then any
   * live peer; fewer when the cluster is smaller) and lead it from term 1.
   */
  create(room: AdminRoom): void {
    if (!this.replicatesOwnRooms) return
    const alive = this.c.alivePeers().sort()
    const members = new Set(this.c.memberNodes(room.roomId))
    const others = [...alive.filter((p) => members.has(p)), ...alive.filter((p) => !members.has(p))].slice(0, this.c.replicas - 1)
    const meta: ReplicatedMeta = {
      term: 0,
      version: 0,
      replicas: [this.c.nodeId, ...others],
      name: room.name,
      createdBy: room.createdBy,
      createdAt: room.createdAt,
      members: memberList(room),
      frozen: room.frozen,
    }
    const s = newReplica({ roomId: room.roomId, self: this.c.nodeId, meta }, this.config)
    this.rooms.set(room.roomId, s)
    this.changes++
    this.noteReplicas(s)
    this.save()
    if (others.length === 0) {
      // A cluster of one: a replica set of one, which commits at once and which repair grows as
      // soon as other nodes are alive (docs/replication.md, "Repair"). Shown as not replicated.
      this.c.log(`room ${room.name}: not replicated yet (no other live node)`)
    } else if (meta.replicas.length < this.c.replicas) {
      this.c.log(`room ${room.name}: ${meta.replicas.length} of ${this.c.replicas} replicas (the cluster has no more live nodes)`)
    }
    this.changes++
    this.moved(s)
    this.run(s, startLeading(s, this.c.clock.now(), this.config).effects)
  }

  /**
   * At start, with --replicas above 1: a room this node administers without a replica state (made
   * with --replicas 1, or by a version before replica sets) becomes a replica set of one, led by
   * this node from term 1, its whole log committed (it was delivered already). Repair then grows it
   * one replica at a time like a room made on a lone node (docs/replication.md, "Repair"). Not a
   * room whose deletion is being decided (frozen): it keeps the path it began with, and is adopted
   * at a later start. True if adopted: the caller republishes its entry and rewrites rooms.json.
   */
  adopt(room: AdminRoom): boolean {
    if (!this.replicatesOwnRooms || this.rooms.has(room.roomId) || room.frozen || this.dropped.has(room.roomId)) return false
    if (!this.c.messages.isOpen(room.roomId)) this.c.messages.open(room.roomId, 0)
    // Its log may hold fewer messages than the room counted (removed by hand): go on after them.
    if (this.c.messages.lastSeq(room.roomId) < room.lastSeq) this.c.messages.resumeAfter(room.roomId, room.lastSeq)
    const last = room.lastSeq
    const entries = this.c.messages.rangeEntries(room.roomId, Math.max(1, last - this.config.logLimit + 1), last)
    const floor = entries.length ? entries[0].message.seq - 1 : last
    const floorTerm = floor > 0 && entries.length ? (this.c.messages.rangeEntries(room.roomId, floor, floor)[0]?.term ?? 0) : 0
    const meta: ReplicatedMeta = {
      term: 0,
      version: 0,
      replicas: [this.c.nodeId],
      name: room.name,
      createdBy: room.createdBy,
      createdAt: room.createdAt,
      members: memberList(room),
      frozen: false,
    }
    const s = newReplica({ roomId: room.roomId, self: this.c.nodeId, meta, entries, floorSeq: floor, floorTerm, commitSeq: last }, this.config)
    this.rooms.set(room.roomId, s)
    this.changes++
    this.noteReplicas(s)
    this.save()
    this.c.log(`room ${room.name}: replicated from now on (${last} messages so far); replicas join as other nodes are alive`)
    this.changes++
    this.moved(s)
    this.run(s, startLeading(s, this.c.clock.now(), this.config).effects)
    return true
  }

  /** Whether this node held a replica of the room and let it go (deleted, or removed by repair). */
  letGoOf(roomId: string): boolean {
    return this.dropped.has(roomId)
  }

  /**
   * Rooms this node held a replica of when they were deleted, from DROPPED_FILE: at start the node
   * tombstones them again (its directory's tombstones live in memory only), so that it lists none of
   * them from a stale entry and announces them deleted to a deposed administrator that still runs
   * one (docs/deletion.md, "Replicated rooms").
   */
  deletedRooms(): string[] {
    return [...this.dropped].filter(([, d]) => d.deleted).map(([roomId]) => roomId)
  }

  /** Known deleted here: by the directory's tombstone, or, across a restart, by the let-go record. */
  private deleted(roomId: string): boolean {
    return this.c.isDeleted(roomId) || this.dropped.get(roomId)?.deleted === true
  }

  /** At start: every replica this node held comes back as a follower (it leads nothing until elected). */
  restore(): void {
    const dropped = this.c.store.load<unknown>(DROPPED_FILE, [])
    if (Array.isArray(dropped)) {
      for (const x of dropped as unknown[]) {
        if (typeof x === 'string') this.dropped.set(x, { deleted: false })
        else if (x && typeof x === 'object' && typeof (x as { roomId?: unknown }).roomId === 'string') {
          const d = x as { roomId: string; deleted?: unknown }
          this.dropped.set(d.roomId, { deleted: d.deleted === true })
        }
      }
    }
    const stored = this.c.store.load<Record<string, StoredReplica>>(STORE_FILE, {})
    for (const [roomId, r] of Object.entries(stored)) {
      if (!r || typeof r !== 'object') continue
      const own = this.c.store.load<{ meta?: ReplicatedMeta } | null>(roomStateFile(roomId), null)
      const meta = own?.meta ?? r.meta
      if (!meta && r.meta === null && typeof r.term === 'number') {
        this.blank.set(roomId, { term: r.term, votedFor: typeof r.votedFor === 'string' ? r.votedFor : null })
        continue
      }
      if (!meta || !Array.isArray(meta.replicas)) continue
      r.meta = meta
      const opened = this.c.messages.open(roomId, 0)
      const alone = r.meta.replicas.length === 1 && r.meta.replicas[0] === this.c.nodeId
      const entries = this.c.messages.rangeEntries(roomId, Math.max(1, opened.lastSeq - this.config.logLimit + 1), opened.lastSeq)
      let floor = entries.length ? entries[0].message.seq - 1 : opened.lastSeq
      let floorTerm = floor > 0 ? (this.c.messages.rangeEntries(roomId, floor, floor)[0]?.term ?? 0) : 0
      const committed = typeof r.commitSeq === 'number' ? r.commitSeq : 0
      if (alone && opened.lastSeq === 0 && committed > 0) {
        // Its message log is gone (removed by hand) but the room committed `committed` messages: a
        // set of one has no other copy, so the room goes on after them and never gives their seqs
        // again; their history comes from the archive when there is one (docs/persistence.md).
        this.c.log(`room ${r.meta.name}: its message log is missing; going on after seq ${committed}`)
        this.c.messages.resumeAfter(roomId, committed)
        floor = committed
        floorTerm = r.term
      }
      const s = newReplica(
        { roomId, self: this.c.nodeId, meta, term: r.term, votedFor: r.votedFor, entries, floorSeq: floor, floorTerm, commitSeq: r.commitSeq },
        this.config,
      )
      this.rooms.set(roomId, s)
      this.changes++
      this.noteReplicas(s)
      // Whoever administers it now tells us within a resend period; if nobody does (the whole
      // group restarted), we stand after a detector period.
      // A set of one (never grown) needs nobody's vote: it takes its room back at once.
      this.step(s, { type: 'wake', now: this.c.clock.now(), jitterMs: alone ? 0 : this.jitter(), delayMs: alone ? 0 : this.c.deadMs + this.config.electionTimeoutMs })
    }
  }

  // -------------------------------------------------------------------------------------------
  // The administrator's side

  /** A send at the administrator: resolves with its seq once a majority holds it (§8). */
  propose(roomId: string, user: string, nodeId: string, text: string, clientMsgId: string): Promise<number> {
    const s = this.rooms.get(roomId)
    if (!s) return Promise.reject(new ChatError('not_found', `no replica of room ${roomId} here`))
    const effects = this.step(s, { type: 'propose', user, nodeId, text, clientMsgId, now: this.c.clock.now(), batched: true }, true)
    const answer = effects.find((e) => e.type === 'accepted' || e.type === 'refused')
    if (!answer || answer.type === 'refused') {
      const reason = answer?.type === 'refused' ? answer : { code: 'internal' as const, message: 'the replica gave no answer' }
      return Promise.reject(new ChatError(reason.code, reason.message))
    }
    if (answer.seq <= s.commitSeq) return Promise.resolve(answer.seq)
    return new Promise<number>((resolve, reject) => {
      let byRoom = this.waiting.get(roomId)
      if (!byRoom) this.waiting.set(roomId, (byRoom = new Map()))
      const list = byRoom.get(answer.seq) ?? []
      // Bounded: a commit that does not come within a failure detector period and a bit means the
      // majority is gone; the client hears room_unavailable and may resend (same clientMsgId).
      const deadline = this.c.clock.now() + this.c.deadMs + 2000
      list.push({ resolve, reject, deadline })
      this.waitsUntil(deadline)
      byRoom.set(answer.seq, list)
    })
  }

  /**
   * Resolves once a majority of the room's replicas holds its room state as it is now: a join in it
   * survives any failover from then on (docs/replication.md, "Membership and deletion"). At once
   * for a room that is not replicated.
   */
  metaSettled(roomId: string): Promise<void> {
    const s = this.rooms.get(roomId)
    if (!s) return Promise.resolve()
    if (s.role !== 'leader') return Promise.reject(new ChatError('room_unavailable', `room ${s.meta.name} changed administrator; join again`))
    const due = this.metaDue.get(roomId)
    // The change is in the next room state, not sent yet: wait for that one (flushMeta).
    if (due) return new Promise<void>((resolve, reject) => due.waiters.push({ resolve: () => resolve(), reject, deadline: this.c.clock.now() + this.c.deadMs + 2000 }))
    if (metaCommitted(s)) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      const list = this.metaWaiting.get(roomId) ?? []
      const deadline = this.c.clock.now() + this.c.deadMs + 2000
      list.push({ term: s.meta.term, version: s.meta.version, waiter: { resolve: () => resolve(), reject, deadline } })
      this.waitsUntil(deadline)
      this.metaWaiting.set(roomId, list)
    })
  }

  /**
   * Whether this administrator's room state (of its term) is on a majority of the room's replicas;
   * true for a room that is not replicated. Until it is, what this node presumes of a deletion it
   * never heard of (abort) is not yet what every later administrator will find (docs/deletion.md,
   * "Replicated rooms").
   */
  stateSettled(roomId: string): boolean {
    const s = this.rooms.get(roomId)
    return !s || (metaCommitted(s) && !this.metaDue.has(roomId))
  }

  /**
   * Why this node may not decide for the room now (its deletion, docs/replication.md "Membership and
   * deletion"): it no longer administers it, or cannot reach a majority of its replicas and so may
   * have been replaced without knowing. Undefined for a room that is not replicated, or when it may.
   */
  replicationRefusal(roomId: string): string | undefined {
    const s = this.rooms.get(roomId)
    if (!s) return undefined
    if (s.role !== 'leader') return `this node no longer administers room ${s.meta.name}`
    if (!s.quorum) return `this node cannot reach a majority of the replicas of room ${s.meta.name}`
    return undefined
  }

  /**
   * Members or the deletion hold changed at the administrator: replicate the room state. The state
   * holds the whole member list, so a room state per join made building a room of N members cost
   * N² member entries sent, checked and saved on each replica (docs/benchmarks.md, "Scale"). The
   * changes of a window go as one state instead: one window after the room's last state. The
   * window grows with the room (members / 50 ms, at most 200 ms), so a large room's joins wait a
   * little longer for their acknowledgement and the cost per second stays bounded; a room of fewer
   * than 50 members has none and replicates each change at once, as it always did.
   */
  metaChanged(room: AdminRoom): void {
    const s = this.rooms.get(room.roomId)
    if (!s || s.role !== 'leader') return
    const due = this.metaDue.get(room.roomId)
    if (due) {
      due.room = room
      return
    }
    const windowMs = Math.min(200, Math.floor(room.members.size / 50))
    if (windowMs === 0) return this.setMeta(s, room)
    const delay = Math.max(0, (this.lastMetaAt.get(room.roomId) ?? -Infinity) + windowMs - this.c.clock.now())
    const entry = { room, waiters: [] as Waiter[], timer: undefined as Timer | undefined }
    this.metaDue.set(room.roomId, entry)
    entry.timer = this.c.clock.setTimeout(() => this.flushMeta(room.roomId), delay)
  }

  private setMeta(s: ReplicaState, room: AdminRoom): void {
    this.lastMetaAt.set(room.roomId, this.c.clock.now())
    this.step(s, {
      type: 'set-meta',
      meta: { replicas: s.meta.replicas, name: room.name, createdBy: room.createdBy, createdAt: room.createdAt, members: memberList(room), frozen: room.frozen, deleted: s.meta.deleted },
    })
  }

  /** Replicate the room state a window of changes left due (metaChanged); its joins wait for it. */
  private flushMeta(roomId: string): void {
    const due = this.metaDue.get(roomId)
    if (!due) return
    this.metaDue.delete(roomId)
    this.c.clock.clear(due.timer)
    const s = this.rooms.get(roomId)
    if (!s || s.role !== 'leader') {
      const err = new ChatError('room_unavailable', `room ${due.room.name} changed administrator; join again`)
      for (const w of due.waiters) w.reject(err)
      return
    }
    this.setMeta(s, due.room)
    if (due.waiters.length === 0) return
    if (metaCommitted(s)) {
      for (const w of due.waiters) w.resolve(0)
      return
    }
    const list = this.metaWaiting.get(roomId) ?? []
    for (const w of due.waiters) {
      list.push({ term: s.meta.term, version: s.meta.version, waiter: w })
      this.waitsUntil(w.deadline)
    }
    this.metaWaiting.set(roomId, list)
  }

  /**
   * The deletion `txId` decided COMMIT at the administrator: resolves once a majority of the room's
   * replicas holds a room state that says so, and only then may the decision be written and sent
   * (docs/replication.md, "Membership and deletion"); rejects if this node is not the administrator
   * any more or no majority stores it within --dead-ms + 2 s (the deletion is then aborted). At once
   * for a room that is not replicated.
   */
  commitDeletion(roomId: string, txId: string): Promise<void> {
    const s = this.rooms.get(roomId)
    if (!s) return Promise.resolve()
    if (s.role !== 'leader') return Promise.reject(new ChatError('room_unavailable', `this node no longer administers room ${s.meta.name}`))
    // Membership changes still due go first, so the deleted state holds them and comes after them.
    this.flushMeta(roomId)
    if (s.meta.deleted !== txId) this.step(s, { type: 'set-meta', meta: { ...s.meta, deleted: txId } })
    return this.metaSettled(roomId)
  }

  /**
   * Graceful stop (§8): hand every room this node administers to its most up-to-date replica, and
   * wait (at most `timeoutMs`) until each has a new administrator.
   */
  async handover(timeoutMs: number): Promise<void> {
    // Joins still due go to the replicas before the room is handed to one of them.
    for (const roomId of [...this.metaDue.keys()]) this.flushMeta(roomId)
    const led = [...this.rooms.values()].filter((s) => s.role === 'leader' && s.meta.replicas.length > 1)
    if (led.length === 0) return
    const now = this.c.clock.now()
    this.stepAll(led.map((s) => [s, { type: 'transfer', now }]))
    const until = this.c.clock.now() + timeoutMs
    // Until each room has heard from its new administrator, not only until we stepped down (at the
    // timeout-now): leaving earlier would have the other replicas' detectors declare us dead, and
    // one of them stand, before the new administrator's first append reached it.
    const pending = (s: ReplicaState) => s.role === 'leader' || (s.leader === null && this.rooms.get(s.roomId) === s)
    while (this.c.clock.now() < until && led.some(pending)) await new Promise<void>((r) => this.c.clock.setTimeout(r, 10))
    const kept = led.filter((s) => s.role === 'leader').length
    this.c.log(`handover: ${led.length - kept} of ${led.length} rooms handed over${kept ? `, ${kept} left to the failure detector` : ''}`)
  }

  // -------------------------------------------------------------------------------------------
  // Inputs from the node

  tick(now: number): void {
    // Only the replicas whose core has something due (an election deadline, a follower to send to
    // again): a quiet replica's tick would return nothing and change nothing, so it is not stepped
    // (docs/replication.md, "Ticks"). The jitter is still drawn for every replica, in the same
    // order: a seeded simulator run keeps the schedule it had when every replica was stepped.
    // Each replica's due time is kept from one step of its core to the next (dueOf): most rooms
    // take no step between two ticks, and reading their state again cost more than the tick.
    let due: [ReplicaState, ReplicaInput][] | undefined
    for (const s of this.rooms.values()) {
      const jitterMs = this.jitter()
      const d = this.dueOf(s)
      if (d.tick === undefined) d.tick = tickDueAt(s, this.config)
      const at = d.tick
      if (at !== null && at <= now) (due ??= []).push([s, { type: 'tick', now, jitterMs }])
    }
    if (due) this.stepAll(due)
    if (now - this.lastRepairCheck >= REPAIR_CHECK_MS) {
      this.lastRepairCheck = now
      this.repair(now)
    }
    if (now >= this.nextDeadline) this.expireWaiters(now)
  }

  /** A waiter with this deadline was added to `waiting` or `metaWaiting`. */
  private waitsUntil(deadline: number): void {
    if (deadline < this.nextDeadline) this.nextDeadline = deadline
  }

  /** Sends and joins whose commit did not come by their deadline hear room_unavailable. */
  private expireWaiters(now: number): void {
    // The earliest deadline still waited for, found on the way: until then no tick looks again.
    let next = Infinity
    this.nextDeadline = Infinity
    for (const [roomId, list] of this.metaWaiting) {
      if (!list.some((w) => w.waiter.deadline <= now)) {
        for (const w of list) if (w.waiter.deadline < next) next = w.waiter.deadline
        continue
      }
      const late = list.filter((w) => w.waiter.deadline <= now)
      for (const w of late) w.waiter.reject(new ChatError('room_unavailable', `the members of room ${roomId} were not stored on a majority of its replicas in time`))
      const rest = list.filter((w) => w.waiter.deadline > now)
      for (const w of rest) if (w.waiter.deadline < next) next = w.waiter.deadline
      if (rest.length) this.metaWaiting.set(roomId, rest)
      else this.metaWaiting.delete(roomId)
    }
    for (const [roomId, byRoom] of this.waiting) {
      for (const [seq, list] of byRoom) {
        if (!list.some((w) => w.deadline <= now)) {
          for (const w of list) if (w.deadline < next) next = w.deadline
          continue
        }
        const late = list.filter((w) => w.deadline <= now)
        for (const w of late) w.reject(new ChatError('room_unavailable', `seq ${seq} of room ${roomId} was not stored on a majority of its replicas in time`))
        const rest = list.filter((w) => w.deadline > now)
        for (const w of rest) if (w.deadline < next) next = w.deadline
        if (rest.length) byRoom.set(seq, rest)
        else byRoom.delete(seq)
      }
    }
    this.waitsUntil(next)
  }

  /**
   * The rooms this node administers get back to --replicas replicas: a replica dead for
   * --repair-ms is replaced by a live node, nodes with members in the room first (the core decides
   * when, one change at a time).
   */
  private repair(now: number): void {
    let alive: string[] | undefined
    for (const s of this.rooms.values()) {
      if (s.role !== 'leader') continue
      // Only a set short of replicas, or one with a replica dead for --repair-ms: before that the
      // core's repair would do nothing.
      const d = this.dueOf(s)
      if (d.repair === undefined) d.repair = repairDueAt(s, this.wantReplicas, this.config)
      const due = d.repair
      if (due === null || due > now) continue
      alive ??= this.c.alivePeers().sort()
      const members = new Set(this.c.memberNodes(s.roomId))
      const spares = [...alive.filter((p) => members.has(p)), ...alive.filter((p) => !members.has(p))]
      this.step(s, { type: 'repair', now, want: this.wantReplicas, spares })
    }
  }

  peerDead(nodeId: string): void {
    const now = this.c.clock.now()
    this.stepAll([...this.rooms.values()].map((s) => [s, { type: 'peer-dead', peer: nodeId, now, jitterMs: this.jitter() }]))
  }

  peerAlive(nodeId: string): void {
    for (const s of this.rooms.values()) this.step(s, { type: 'peer-alive', peer: nodeId, now: this.c.clock.now() })
  }

  peerRestarted(nodeId: string): void {
    const now = this.c.clock.now()
    this.stepAll([...this.rooms.values()].map((s) => [s, { type: 'peer-restarted', peer: nodeId, now, jitterMs: this.jitter() }]))
  }

  /**
   * The room was deleted: forget its replica and its log, but not that it was deleted (DROPPED_FILE).
   * A replica that forgot it on a restart (with its term) took an append of the term before the
   * deleting administrator's from a deposed administrator still cut off, and the two made a
   * majority of its old set: the deleted room was run again (docs/deletion.md, "Replicated rooms").
   */
  drop(roomId: string): void {
    const before = this.dropped.get(roomId)
    if (this.rooms.has(roomId) || this.blank.has(roomId) || (before && !before.deleted)) this.letGo(roomId, { deleted: true })
    if (this.blank.delete(roomId)) this.save()
    if (!this.rooms.delete(roomId)) return
    this.changes++
    this.published.delete(roomId)
    this.everReplicas.delete(roomId)
    this.notedMeta.delete(roomId)
    this.lastMetaAt.delete(roomId)
    this.rejectAll(roomId, () => new ChatError('not_found', 'the room was deleted'))
    this.c.messages.drop(roomId)
    this.save()
  }

  stop(): void {
    this.flushBarrier()
    for (const due of this.metaDue.values()) this.c.clock.clear(due.timer)
    for (const due of this.metaDue.values()) for (const w of due.waiters) w.reject(new ChatError('room_unavailable', 'this node is stopping'))
    this.metaDue.clear()
    this.stopped = true
    for (const roomId of [...this.pending.keys()]) this.writePending(roomId)
    this.c.clock.clear(this.saveTimer)
    // Nothing to write for a node that never held a replica (an unreplicated cluster).
    if (this.rooms.size || this.blank.size || this.indexed.size) this.save()
    for (const roomId of this.waiting.keys()) this.rejectAll(roomId, () => new ChatError('room_unavailable', 'this node is stopping'))
  }

  /** Replication messages from peers (their owner in peer-dispatch.ts). */
  onPeerMessage(from: string, m: ReplicationMessage): void {
    let message: ReplMessage
    switch (m.body) {
      case 'roomAppend': {
        const a = m.roomAppend
        message = {
          type: 'append',
          roomId: a.roomId,
          term: Number(a.term),
          leader: a.leader,
          prevSeq: Number(a.prevSeq),
          prevTerm: Number(a.prevTerm),
          entries: (a.entries ?? []).map((e) => ({ term: Number(e.term), message: fromWireMessage(e.message) })),
          commitSeq: Number(a.commitSeq),
          meta: fromWireMeta(a.meta),
          noReply: a.noReply === true,
        }
        if (a.leader !== from) throw new ChatError('forbidden', `append for ${a.roomId} names ${a.leader} but comes from ${from}`)
        break
      }
      case 'roomAppendReply': {
        const r = m.roomAppendReply
        message = { type: 'append-reply', roomId: r.roomId, term: Number(r.term), ok: r.ok, matchSeq: Number(r.matchSeq), leader: r.leader, metaTerm: Number(r.metaTerm), metaVersion: Number(r.metaVersion) }
        break
      }
      case 'roomVoteRequest': {
        const v = m.roomVoteRequest
        if (v.candidate !== from) throw new ChatError('forbidden', `vote request for ${v.candidate} comes from ${from}`)
        message = { type: 'vote-request', roomId: v.roomId, term: Number(v.term), candidate: v.candidate, lastSeq: Number(v.lastSeq), lastTerm: Number(v.lastTerm), transfer: v.transfer }
        break
      }
      case 'roomVoteReply': {
        const v = m.roomVoteReply
        message = { type: 'vote-reply', roomId: v.roomId, term: Number(v.term), granted: v.granted, leader: v.leader, meta: fromWireMeta(v.meta) }
        break
      }
      case 'roomTimeoutNow':
        message = { type: 'timeout-now', roomId: m.roomTimeoutNow.roomId, term: Number(m.roomTimeoutNow.term), vote: m.roomTimeoutNow.vote === true }
        break
    }
    let s = this.rooms.get(message.roomId)
    if (!s && message.type === 'vote-request') {
      this.blankVote(from, message)
      return
    }
    if (!s) {
      // A replica set we were put in: the first append (with the room state) creates our replica.
      // Never for a room this node knows deleted: an append its administrator of an older term
      // sent before it learned of the deletion (held back in a partition) made this node a replica
      // with an empty log, which stood, and two such replicas elected each other: the deleted room
      // was administered again without its messages (docs/replication.md, "Membership and deletion").
      // Known deleted also after a restart (the let-go record): a replica that forgot the deletion
      // took such an append from a deposed administrator cut off through it, and the two were a
      // majority of its old set (docs/deletion.md, "Replicated rooms").
      if (message.type !== 'append' || !message.meta || !message.meta.replicas.includes(this.c.nodeId) || this.deleted(message.roomId)) {
        if (message.type === 'append') {
          // Not (yet) able to hold it: say so, so the administrator sends the room state again.
          this.c.send(from, msg('roomAppendReply', { roomId: message.roomId, term: message.term, ok: false, matchSeq: 0, leader: '', metaTerm: 0, metaVersion: 0 }))
        }
        return
      }
      if (!this.c.messages.isOpen(message.roomId)) this.c.messages.open(message.roomId, 0)
      // A vote given meanwhile as a blank replica still binds its term (a stale append is refused).
      const blank = this.blank.get(message.roomId)
      this.blank.delete(message.roomId)
      const term = Math.max(message.term, blank?.term ?? 0)
      const votedFor = blank && blank.term === term ? blank.votedFor : null
      s = newReplica({ roomId: message.roomId, self: this.c.nodeId, meta: message.meta, term, votedFor, leader: term === message.term ? message.leader : null }, this.config)
      this.rooms.set(message.roomId, s)
      // A replica again: its room state replaces the removal record in the room's file (save below).
      this.replacedBy.delete(message.roomId)
      this.changes++
      this.noteReplicas(s)
      this.c.trace('gossip', `now a replica of room ${message.meta.name} (administrator ${this.c.peerName(message.leader)})`, message.roomId)
      this.save()
    }
    this.step(s, { type: 'message', from, message, now: this.c.clock.now() })
  }

  /**
   * A vote request for a room we hold no replica of. The candidate's replica set names us, but its
   * first append never reached us (the room was created while we were cut off, and its creator
   * restarted since): without our vote it may never win, and the room would have no administrator
   * for good. Our log is empty, so any candidate's is at least as complete; like any replica we give
   * one vote per term, on disk before the answer leaves. A deleted room gets none.
   */
  private blankVote(from: string, m: Extract<ReplMessage, { type: 'vote-request' }>): void {
    if (this.deleted(m.roomId)) return
    if (this.dropped.has(m.roomId)) {
      this.replacedState(from, m)
      return
    }
    // Bounded: a peer cannot make us keep votes for any number of rooms.
    if (!this.blank.has(m.roomId) && this.blank.size >= MAX_BLANK) return
    const v = this.blank.get(m.roomId) ?? { term: 0, votedFor: null }
    if (m.term > v.term) {
      v.term = m.term
      v.votedFor = null
    }
    const granted = m.term === v.term && (v.votedFor === null || v.votedFor === m.candidate)
    if (granted && v.votedFor !== m.candidate) {
      v.votedFor = m.candidate
      this.blank.set(m.roomId, v)
      this.save()
    }
    this.c.send(from, toPeerMessage({ type: 'vote-reply', roomId: m.roomId, term: v.term, granted, leader: '', meta: null }))
  }

  /**
   * A vote request for a room this node was removed from by a repair, from a node that the room
   * state that removed us names: a replica cut off through the repairs that followed and added
   * again by an administrator it never knew as a replica (docs/replication.md, "Repair"). It still
   * holds an older set, whose other replicas may all have been replaced like us; none of them holds
   * the room to tell it the new set, and it refuses the new administrator as a stranger. We give no
   * vote, but the room state that replaced us: newer than its own and naming it, the candidate
   * adopts it, stops standing, and takes the appends of the administrators it names. A state that
   * would remove the candidate is not sent: only a voter that follows the room may say that.
   */
  private replacedState(from: string, m: Extract<ReplMessage, { type: 'vote-request' }>): void {
    const meta = this.replacedStateOf(m.roomId)
    if (!meta || !meta.replicas.includes(m.candidate) || meta.replicas.includes(this.c.nodeId)) return
    this.c.send(from, toPeerMessage({ type: 'vote-reply', roomId: m.roomId, term: m.term, granted: false, leader: '', meta }))
  }

  /**
   * The room state that removed this node from the room's set, from the cache or the room's file.
   * On disk because a restart must not forget it: if every replica the cut-off node knew restarted
   * after letting the room go, none could tell it the new set, and it refused the administrator
   * that added it back for good (docs/replication.md, "Repair").
   */
  private replacedStateOf(roomId: string): ReplicatedMeta | null {
    let meta = this.replacedBy.get(roomId)
    if (meta !== undefined) return meta
    meta = null
    try {
      const stored = this.c.store.load<{ replacedBy?: ReplicatedMeta } | null>(roomStateFile(roomId), null)
      const r = stored?.replacedBy
      if (r && typeof r === 'object' && Array.isArray(r.replicas) && typeof r.term === 'number' && typeof r.version === 'number') meta = r
    } catch (e) {
      this.c.log(`cannot read the removal record of room ${roomId}: ${(e as Error).message}`)
    }
    this.rememberReplaced(roomId, meta)
    return meta
  }

  /** In the bounded cache (oldest forgotten first; it stays on disk). */
  private rememberReplaced(roomId: string, meta: ReplicatedMeta | null): void {
    this.replacedBy.delete(roomId)
    this.replacedBy.set(roomId, meta)
    if (this.replacedBy.size > MAX_BLANK) this.replacedBy.delete(this.replacedBy.keys().next().value!)
  }

  // -------------------------------------------------------------------------------------------
  // Carrying out effects

  /**
   * The administrator is about to send `nodeId` the Deliver of `seq`: true if that node delivers
   * from its own replica instead (it supports it, is a live follower and was sent the entry), in
   * which case it is sent the commit point at the end of the current step, where the Deliver would
   * have left (docs/replication.md, "Delivery from the replicas").
   */
  deliveredByReplica(roomId: string, nodeId: string, seq: number): boolean {
    const s = this.rooms.get(roomId)
    if (!s || s.role !== 'leader' || !this.c.deliversFromReplica?.(nodeId)) return false
    const p = s.progress.get(nodeId)
    if (!p || s.dead.has(nodeId) || p.nextSeq <= seq) return false
    let to = this.notices.get(roomId)
    if (!to) this.notices.set(roomId, (to = new Set()))
    to.add(nodeId)
    return true
  }

  private step(s: ReplicaState, input: ReplicaInput, batching = false): ReplicaEffect[] {
    this.noteReplicas(s)
    this.moved(s)
    const { effects } = stepReplica(s, input, this.config)
    this.countRoles(effects)
    this.run(s, effects, batching)
    if (this.notices.size > 0) this.sendNotices()
    this.stepped(s, effects)
    return effects
  }

  /**
   * The same input for many rooms (a tick, a peer's death, a handover): every core steps first, then
   * one write of replication.json holds every term, vote and room state they gave, then their effects run. One
   * fsync instead of one per room: a node that leads 30 rooms handed the newest one over only after
   * 29 fsyncs of a file that grows with the rooms. Durable before anything leaves, as the core asks:
   * no effect of any of them runs before that write.
   */
  private stepAll(inputs: Iterable<[ReplicaState, ReplicaInput]>): void {
    const done: [ReplicaState, ReplicaEffect[]][] = []
    for (const [s, input] of inputs) {
      this.noteReplicas(s)
      this.moved(s)
      const { effects } = stepReplica(s, input, this.config)
      this.countRoles(effects)
      done.push([s, effects])
    }
    if (done.some(([, effects]) => effects.some((e) => e.type === 'persist-term' || e.type === 'persist-meta'))) this.save()
    for (const [s, effects] of done) {
      // A room dropped by an earlier room's effects (it cannot be, today) is not acted for.
      if (this.rooms.get(s.roomId) !== s) continue
      this.run(s, effects, false, true)
      if (this.notices.size > 0) this.sendNotices()
      this.stepped(s, effects)
    }
  }

  /** After a room's effects ran: the replica sets it has seen, and whether it is still one of them. */
  private stepped(s: ReplicaState, effects: ReplicaEffect[]): void {
    for (let i = 0; i < effects.length; i++) {
      if (effects[i].type === 'persist-meta') {
        this.noteReplicas(s)
        break
      }
    }
    if (s.role !== 'leader' && !s.meta.replicas.includes(this.c.nodeId) && this.rooms.get(s.roomId) === s) {
      // Removed from the replica set by a repair while we were away: the room's log is not ours to
      // keep any more (the replicas that replaced us hold it).
      this.c.log(`room ${s.meta.name}: no longer one of its replicas (replaced while this node was unreachable)`)
      this.c.trace('gossip', `${s.meta.name}: no longer a replica here`, s.roomId)
      this.rooms.delete(s.roomId)
      this.changes++
      this.letGo(s.roomId, { deleted: false })
      // Nor is the room ours to administer, if we still held it (a deposed administrator).
      this.c.lostAdmin(s.roomId, null)
      this.rememberReplaced(s.roomId, s.meta)
      this.rejectAll(s.roomId, () => new ChatError('room_unavailable', `room ${s.meta.name} changed administrator; send again`))
      this.c.messages.drop(s.roomId)
      this.save()
      // The removal record goes to the room's file once replication.json no longer lists the room
      // (a crash in between restores nothing from it: the room is let go, in DROPPED_FILE).
      try {
        this.c.store.save(roomStateFile(s.roomId), { replacedBy: s.meta })
      } catch (e) {
        this.c.log(`cannot save the removal record of room ${s.meta.name}: ${(e as Error).message}`)
      }
    }
  }

  /** The commit point to the followers whose Deliver was left out (deliveredByReplica). */
  private sendNotices(): void {
    for (const [roomId, to] of this.notices) {
      this.notices.delete(roomId)
      const s = this.rooms.get(roomId)
      if (s?.role === 'leader') this.step(s, { type: 'notify-commit', to: [...to], now: this.c.clock.now() })
    }
  }

  /**
   * A batched proposal's entries wait for the end of the turn (flushProposals): on the real clock
   * the end of the event loop's turn, after every socket that had data in it was read (a frame
   * from each member node and local clients' sends, arrived together, are written with one write
   * and sent as one append per replica:
   * docs/benchmarks.md, "One write per turn of the event loop"); nothing of them leaves before
   * that write. On the virtual clock, the end of the current callback.
   */
  private queueWrite(s: ReplicaState, entries: LogEntry[]): void {
    let p = this.pending.get(s.roomId)
    if (!p) this.pending.set(s.roomId, (p = { s, entries: [], fromSeq: entries[0].message.seq }))
    for (const e of entries) p.entries.push(e)
    if (!this.flushQueued) {
      this.flushQueued = true
      if (this.c.clock.afterIo) this.c.clock.afterIo(this.flushProposalsNow)
      else queueMicrotask(this.flushProposalsNow)
    }
  }

  private readonly flushProposalsNow = (): void => this.flushProposals()

  /** Write a room's batched entries now (one write); false if they could not be written. */
  private writePending(roomId: string): { s: ReplicaState; fromSeq: number } | undefined {
    const p = this.pending.get(roomId)
    if (!p) return undefined
    this.pending.delete(roomId)
    if (this.rooms.get(roomId) !== p.s) return undefined // dropped meanwhile
    try {
      if (!this.c.messages.isOpen(roomId)) this.c.messages.open(roomId, 0)
      this.c.messages.appendEntries(roomId, p.entries)
    } catch (e) {
      // Nothing of them has left this node: their senders hear an error and may send again, and
      // the room forgets them (their seqs go to the next sends).
      this.c.log(`room ${p.s.meta.name}: cannot write seq ${p.fromSeq}..${p.fromSeq + p.entries.length - 1}: ${(e as Error).message}`)
      const byRoom = this.waiting.get(roomId)
      for (const x of p.entries) {
        for (const w of byRoom?.get(x.message.seq) ?? []) w.reject(new ChatError('internal', 'the message could not be written to the room log'))
        byRoom?.delete(x.message.seq)
      }
      this.changes++
      this.moved(p.s)
      stepReplica(p.s, { type: 'unwritten', fromSeq: p.fromSeq }, this.config)
      return undefined
    }
    // The end of the turn still sends them (flushProposals): the step that wrote them may not have.
    const due = this.written.get(roomId)
    if (!due || due.s !== p.s) this.written.set(roomId, { s: p.s, fromSeq: p.fromSeq })
    return p
  }

  /** End of the turn: every room's batch written, then one append per follower in step. */
  private flushProposals(): void {
    this.flushQueued = false
    for (const roomId of [...this.pending.keys()]) this.writePending(roomId)
    const due = [...this.written.values()]
    this.written.clear()
    for (const d of due) if (this.rooms.get(d.s.roomId) === d.s) this.step(d.s, { type: 'replicate', fromSeq: d.fromSeq, now: this.c.clock.now() })
  }

  /** Effects waiting for this turn's write of replication.json (see run), in order. */
  private barrier: (() => void)[] | null = null

  /** End of the turn: one write of replication.json, then what waited for it, in order. */
  private flushBarrier(): void {
    const list = this.barrier
    this.barrier = null
    if (!list) return
    this.save()
    for (const fn of list) fn()
    if (this.notices.size > 0) this.sendNotices()
  }

  /** Effects that waited for the write: only for a room still held here (not dropped meanwhile). */
  private resume(s: ReplicaState, effects: ReplicaEffect[], batching: boolean): void {
    if (this.rooms.get(s.roomId) === s) this.run(s, effects, batching, true)
  }

  /** `stateSaved`: replication.json was written after the step (stepAll): persist-term and persist-meta are done. */
  private run(s: ReplicaState, effects: ReplicaEffect[], batching = false, stateSaved = false): void {
    if (this.barrier) {
      // A write of replication.json is due at the end of this turn: everything after it waits for
      // it, in order, so that nothing overtakes what an earlier step promised on disk.
      this.barrier.push(() => this.resume(s, effects, batching))
      return
    }
    for (let i = 0; i < effects.length; i++) {
      const e = effects[i]
      if (!stateSaved && (e.type === 'persist-term' || e.type === 'persist-meta')) {
        // Group commit: the rest of this step, and every step after it in this turn (all rooms,
        // all messages of a frame), runs once one write of replication.json holds all of their
        // terms, votes and room states. One fsync per turn instead of one per room: a takeover of
        // 30 rooms wrote the file (with all rooms in it) 60 times, adding about a second.
        const rest = effects.slice(i)
        this.barrier = [() => this.resume(s, rest, batching)]
        queueMicrotask(() => this.flushBarrier())
        return
      }
      if (batching && e.type === 'persist-entries' && e.truncateAfter === null) {
        this.queueWrite(s, e.entries)
        continue
      }
      // Durable before anything later leaves (the core's rule): this room's batch is written first.
      if (this.pending.size > 0 && e.type !== 'accepted' && e.type !== 'refused') this.writePending(s.roomId)
      switch (e.type) {
        case 'persist-term':
          // A vote or a term is a promise: on disk before the reply that makes it leaves.
          if (!stateSaved) this.save()
          break
        case 'persist-meta':
          // The room state (members, replica set, a deletion's decision) counts for a majority once
          // a replica answers with its version, or at once on the administrator itself: on disk
          // before anything later leaves, like a vote. Kept for 100 ms in memory, an acknowledged
          // leave was lost when the administrator was killed right after it and elected again with
          // a voter that lacked it (simulation seed 56). Only this room's file is written.
          if (!stateSaved) this.saveRoomState(s)
          break
        case 'persist-entries':
          if (!this.c.messages.isOpen(s.roomId)) this.c.messages.open(s.roomId, 0)
          if (e.truncateAfter !== null) this.c.messages.truncateAfter(s.roomId, e.truncateAfter)
          this.c.messages.appendEntries(s.roomId, e.entries)
          break
        case 'send':
          this.c.send(e.to, toPeerMessage(e.message))
          break
        case 'send-stored': {
          const entries = this.c.messages.rangeEntries(s.roomId, e.prevSeq + 1, e.toSeq)
          const prevTerm = e.prevSeq > 0 ? (this.c.messages.rangeEntries(s.roomId, e.prevSeq, e.prevSeq)[0]?.term ?? 0) : 0
          this.c.send(
            e.to,
            toPeerMessage({ type: 'append', roomId: s.roomId, term: e.term, leader: e.leader, prevSeq: e.prevSeq, prevTerm, entries, commitSeq: e.commitSeq, meta: null, noReply: false }),
          )
          break
        }
        case 'commit':
          if (s.role === 'leader') this.deliverCommitted(s, e.fromSeq, e.toSeq)
          else if (s.leader !== null && this.c.replicaCommitted) {
            const { fromSeq, toSeq } = e
            this.c.replicaCommitted(s.roomId, s.leader, () => this.committedMessages(s, fromSeq, toSeq))
          }
          break
        case 'role':
          this.roleChanged(s, e)
          break
        case 'quorum':
          this.c.log(`room ${s.meta.name}: ${e.ok ? 'a majority of its replicas is reachable again' : 'no majority of its replicas is reachable: sends are refused'}`)
          this.c.trace('heartbeat', `${s.meta.name}: ${e.ok ? 'majority back' : 'majority lost, refusing sends'}`, s.roomId)
          if (!e.ok) this.rejectAll(s.roomId, () => new ChatError('room_unavailable', `room ${s.meta.name}: no majority of its replicas is reachable`))
          break
        case 'replicas': {
          const change = e.removed ? `${this.c.peerName(e.removed)} removed (dead for ${this.config.repairMs} ms or more)` : `${this.c.peerName(e.added ?? '')} added`
          this.c.log(`room ${s.meta.name}: replica set ${change}: ${e.replicas.map((r) => this.c.peerName(r)).join(', ')}`)
          this.c.trace('gossip', `${s.meta.name}: replicas ${e.replicas.map((r) => this.c.peerName(r)).join(', ')} (${change})`, s.roomId)
          break
        }
        case 'meta-committed': {
          const shown = this.published.get(s.roomId)
          if (s.role === 'leader' && shown && (shown.length !== s.meta.replicas.length || shown.some((r, i) => r !== s.meta.replicas[i]))) {
            this.published.set(s.roomId, [...s.meta.replicas])
            this.c.replicasChanged(s.roomId)
          }
          const list = this.metaWaiting.get(s.roomId)
          if (!list) break
          const done = list.filter((w) => w.term < e.term || (w.term === e.term && w.version <= e.version))
          const rest = list.filter((w) => !done.includes(w))
          if (rest.length) this.metaWaiting.set(s.roomId, rest)
          else this.metaWaiting.delete(s.roomId)
          for (const w of done) w.waiter.resolve(0)
          break
        }
        case 'accepted':
        case 'refused':
          break
      }
    }
  }

  /** Committed messages fromSeq..toSeq, from memory when the tail holds them, else from the log. */
  private committedMessages(s: ReplicaState, fromSeq: number, toSeq: number): ChatMessage[] {
    // From the in-memory tail when it holds them all (the usual case: a commit just made), one
    // array of the messages themselves, no array of entries first.
    const hi = Math.min(toSeq, s.commitSeq)
    if (hi === toSeq && fromSeq > s.floorSeq) {
      const out: ChatMessage[] = []
      for (let seq = fromSeq; seq <= hi; seq++) {
        const e = entryAt(s, seq)
        if (!e) break
        out.push(e.message)
      }
      if (out.length === toSeq - fromSeq + 1) return out
    }
    const inMemory = committedRange(s, fromSeq, toSeq)
    const entries: LogEntry[] =
      inMemory.length === toSeq - fromSeq + 1 ? inMemory : this.c.messages.rangeEntries(s.roomId, fromSeq, toSeq)
    return entries.map((e) => e.message)
  }

  private deliverCommitted(s: ReplicaState, fromSeq: number, toSeq: number): void {
    this.c.committed(s.roomId, this.committedMessages(s, fromSeq, toSeq))
    const byRoom = this.waiting.get(s.roomId)
    if (!byRoom) return
    for (const [seq, list] of byRoom) {
      if (seq > toSeq) continue
      byRoom.delete(seq)
      for (const w of list) w.resolve(seq)
    }
  }

  private roleChanged(s: ReplicaState, e: Extract<ReplicaEffect, { type: 'role' }>): void {
    this.c.trace('heartbeat', `${s.meta.name}: ${e.role} in term ${e.term}${e.leader ? ` (administrator ${this.c.peerName(e.leader)})` : ''} — ${e.reason}`, s.roomId)
    if (e.role === 'leader') {
      this.published.set(s.roomId, [...s.meta.replicas])
      if (s.meta.deleted) {
        // Our predecessor's deletion was committed (on a majority): ours to finish, not to run.
        const txId = s.meta.deleted
        this.c.log(`room ${s.meta.name}: elected in term ${e.term}, finishing its committed deletion`)
        const memberNodes = [...new Set(s.meta.members.map((m) => m.nodeId))]
        // Once the room state of this term (the one that says deleted) is on a majority: a later
        // administrator then adopts it too, never an older state without the deletion.
        this.metaSettled(s.roomId).then(
          () => this.c.finishDeletion(s.roomId, txId, memberNodes),
          () => {},
        )
        return
      }
      if (e.reason !== 'created') {
        this.c.log(`room ${s.meta.name}: this node is its administrator now (term ${e.term}, ${e.reason})`)
        this.c.becameAdmin(s, e.reason)
      }
      return
    }
    // Follower or candidate: whatever we administered of it is not ours any more.
    this.rejectAll(s.roomId, () => new ChatError('room_unavailable', `room ${s.meta.name} changed administrator; send again`))
    this.c.lostAdmin(s.roomId, e.leader)
  }

  /**
   * When a replica's tick and repair check are next due, as the core last said (tickDueAt,
   * repairDueAt; undefined: to be asked again). Both read the replica's state only, which changes
   * only in a step of its core: every step forgets them first (moved).
   */
  private dueOf(s: ReplicaState): ReplicaDue {
    let d = this.dues.get(s)
    if (d === undefined) this.dues.set(s, (d = { tick: undefined, repair: undefined }))
    return d
  }

  /** The replica's core is about to step: its due times are to be asked again. */
  private moved(s: ReplicaState): void {
    const d = this.dues.get(s)
    if (d !== undefined) d.tick = d.repair = undefined
  }

  /** Spreads candidacies of replicas of equal rank (docs/replication.md, "Election"). */
  private jitter(): number {
    return this.c.randomInt(100)
  }

  /** `error` is made only if anyone waits: an Error captures a stack, and most calls find nobody. */
  private rejectAll(roomId: string, error: () => Error): void {
    let err: Error | undefined
    const joins = this.metaWaiting.get(roomId)
    this.metaWaiting.delete(roomId)
    for (const w of joins ?? []) w.waiter.reject((err ??= error()))
    const byRoom = this.waiting.get(roomId)
    if (!byRoom) return
    this.waiting.delete(roomId)
    for (const list of byRoom.values()) for (const w of list) w.reject((err ??= error()))
  }

  /** Whether `nodeId` was in the room's replica set as this node has known it since it started. */
  wasReplica(roomId: string, nodeId: string): boolean {
    return this.everReplicas.get(roomId)?.has(nodeId) ?? false
  }

  /**
   * Every node seen in the room's replica set since this node started, also after it let its own
   * copy go (removed by a repair: the set that replaced it names the administrator to follow).
   */
  knownReplicas(roomId: string): string[] {
    return [...(this.everReplicas.get(roomId) ?? [])]
  }

  private noteReplicas(s: ReplicaState): void {
    if (this.notedMeta.get(s.roomId) === s.meta) return
    this.notedMeta.set(s.roomId, s.meta)
    let seen = this.everReplicas.get(s.roomId)
    if (!seen) this.everReplicas.set(s.roomId, (seen = new Set()))
    const replicas = s.meta.replicas
    for (let i = 0; i < replicas.length; i++) seen.add(replicas[i])
  }

  /** Remember (on disk) that this node let the room's replica go, and whether the room was deleted. */
  private letGo(roomId: string, d: DroppedReplica): void {
    this.dropped.delete(roomId)
    this.dropped.set(roomId, d)
    if (this.dropped.size > DROPPED_LIMIT) this.dropped.delete(this.dropped.keys().next().value!)
    try {
      this.c.store.save(
        DROPPED_FILE,
        [...this.dropped].map(([id, x]) => (x.deleted ? { roomId: id, deleted: true } : id)),
      )
    } catch (e) {
      this.c.log(`cannot save ${DROPPED_FILE}: ${(e as Error).message}`)
    }
  }

  private scheduleSave(): void {
    if (this.saveTimer || this.stopped) return
    this.saveTimer = this.c.clock.setTimeout(() => this.save(), 100)
  }

  /** A room's state changed: its own file now, and replication.json if the room is new to it. */
  private saveRoomState(s: ReplicaState): void {
    this.writeRoomState(s)
    if (!this.indexed.has(s.roomId)) this.save()
  }

  private writeRoomState(s: ReplicaState): void {
    if (this.savedMeta.get(s.roomId) === s.meta) return
    try {
      // A room state is replaced, never changed in place (as savedMeta relies on too).
      this.c.store.saveFresh(roomStateFile(s.roomId), { meta: s.meta })
      this.savedMeta.set(s.roomId, s.meta)
    } catch (e) {
      this.c.log(`cannot save the state of room ${s.meta.name}: ${(e as Error).message}`)
    }
  }

  /**
   * replication.json (terms, votes, commit points), after any room state not yet in its file. Not
   * written again when it would say what it said (about a quarter of the calls: a step of another
   * room, or one that changed only a room's state file): compared field by field with what was
   * last written (docs/simulation.md, "Speed").
   */
  private save(): void {
    this.c.clock.clear(this.saveTimer)
    this.saveTimer = undefined
    for (const s of this.rooms.values()) this.writeRoomState(s)
    for (const roomId of this.savedMeta.keys()) if (!this.rooms.has(roomId)) this.savedMeta.delete(roomId)
    if (this.sameAsSaved()) return
    // Keyed by room ids, each new to V8 as a property name: on a literal `{}` every key added made
    // a new hidden class (most of this function's time, about 1 % of a simulated run). An object
    // without a prototype starts as a dictionary; JSON.stringify writes the same text from it
    // (docs/simulation.md, "Speed").
    const out: Record<string, StoredReplica> = Object.create(null) as Record<string, StoredReplica>
    const written: SavedIndex = []
    for (const s of this.rooms.values()) {
      out[s.roomId] = { term: s.term, votedFor: s.votedFor, commitSeq: s.commitSeq }
      written.push(s.roomId, s.term, s.votedFor, s.commitSeq)
    }
    if (this.blank.size > 0) {
      for (const [roomId, v] of this.blank) {
        if (out[roomId] !== undefined) continue
        out[roomId] = { term: v.term, votedFor: v.votedFor, meta: null, commitSeq: 0 }
        written.push(roomId, v.term, v.votedFor, BLANK)
      }
    }
    const before = this.savedIndex
    this.savedIndex = undefined
    try {
      // `out` is this write's own (built above, kept by nobody).
      this.c.store.saveFresh(STORE_FILE, out)
      if (!before || !sameRooms(before, written)) this.indexed = new Set(this.rooms.keys())
      this.savedIndex = written
    } catch (e) {
      this.c.log(`cannot save ${STORE_FILE}: ${(e as Error).message}`)
    }
  }

  /** Whether replication.json as save() would write it now is what it last wrote, entry by entry. */
  private sameAsSaved(): boolean {
    const w = this.savedIndex
    if (w === undefined) return false
    let i = 0
    for (const s of this.rooms.values()) {
      if (i >= w.length || w[i] !== s.roomId || w[i + 1] !== s.term || w[i + 2] !== s.votedFor || w[i + 3] !== s.commitSeq) return false
      i += 4
    }
    if (this.blank.size > 0) {
      for (const [roomId, v] of this.blank) {
        if (this.rooms.has(roomId)) continue
        if (i >= w.length || w[i] !== roomId || w[i + 1] !== v.term || w[i + 2] !== v.votedFor || w[i + 3] !== BLANK) return false
        i += 4
      }
    }
    return i === w.length
  }
}

/**
 * The lists are the decoded message's own (a copy of its own, made for this node): the core copies
 * whatever room state it keeps (newReplica, onAppend, copyMeta), so none is copied here too.
 */
function fromWireMeta(m: WireReplMeta | null | undefined): ReplicatedMeta | null {
  if (!m) return null
  // Decoded as the core has it already (numbers, both lists): the copy would be the same object.
  if (typeof m.term === 'number' && typeof m.version === 'number' && typeof m.createdAt === 'number' && Array.isArray(m.replicas) && Array.isArray(m.members)) return m
  return { ...m, term: Number(m.term), version: Number(m.version), createdAt: Number(m.createdAt), replicas: m.replicas ?? [], members: m.members ?? [] }
}

function toPeerMessage(m: ReplMessage): PeerMessage {
  switch (m.type) {
    case 'append':
      return msg('roomAppend', {
        roomId: m.roomId,
        term: m.term,
        leader: m.leader,
        prevSeq: m.prevSeq,
        prevTerm: m.prevTerm,
        // The stored message itself, not a copy per follower: messages are never changed once
        // made, and the frame is encoded from its fields (docs/benchmarks.md, "Allocation per message").
        entries: m.entries.map((e) => ({ term: e.term, message: e.message })),
        commitSeq: m.commitSeq,
        meta: m.meta,
        noReply: m.noReply,
      })
    case 'append-reply':
      return msg('roomAppendReply', { roomId: m.roomId, term: m.term, ok: m.ok, matchSeq: m.matchSeq, leader: m.leader, metaTerm: m.metaTerm, metaVersion: m.metaVersion })
    case 'vote-request':
      return msg('roomVoteRequest', { roomId: m.roomId, term: m.term, candidate: m.candidate, lastSeq: m.lastSeq, lastTerm: m.lastTerm, transfer: m.transfer })
    case 'vote-reply':
      return msg('roomVoteReply', { roomId: m.roomId, term: m.term, granted: m.granted, leader: m.leader, meta: m.meta })
    case 'timeout-now':
      return msg('roomTimeoutNow', { roomId: m.roomId, term: m.term, vote: m.vote })
  }
}
