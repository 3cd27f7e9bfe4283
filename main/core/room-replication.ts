/**
 * A room's replicated log and the election of its administrator (docs/replication.md;
 * client-protocol.md §8). Raft's leader election and log-matching rules, applied per room, with two
 * differences that keep 1,000 rooms as cheap as one:
 *   - No per-room heartbeats and no election timeouts of their own: the node's failure detector
 *     (failure-detector.ts) says when a replica is dead, and only the death of the administrator
 *     starts an election (input `peer-dead`).
 *   - The log position IS the message seq, so the client-visible `seq` continues with no gap and no
 *     reuse across failovers. Raft commits the previous term's tail by appending a no-op of the new
 *     term; a no-op would burn a seq, so instead the new administrator re-stamps its LAST entry with
 *     its own term (same message, same seq, new term) and replicates it. That entry sits where the
 *     no-op would have gone, after everything the new administrator held when elected, so it plays
 *     the no-op's part: once a majority holds it, the ordinary commit rule (a majority has it, and
 *     it is of the current term) commits it and the whole tail before it. Only the last entry is
 *     re-stamped: re-stamping more would let a replica that got part of them look more up to date
 *     than one holding committed entries beyond that part. A replica whose copy of that entry is
 *     already committed keeps it: committed prefixes are never compared again (onAppend).
 *
 * Pure: no clock (time is `now` in the inputs), no randomness (the driver passes `jitterMs`), no I/O.
 * The driver carries out the effects IN ARRAY ORDER: every persist effect is durable (in the message
 * log, or the room's term file) before a later send effect leaves, which is what makes a vote or an
 * acknowledgement a promise that survives a crash (docs/replication.md, "Replication").
 *
 * The state is mutated in place and returned (like room-ordering.ts): a busy room steps thousands of
 * times a second.
 *
 * API
 *   newReplica({ roomId, self, replicas, meta, term?, votedFor?, entries?, commitSeq? }) -> state
 *       `entries` is the log's tail as the store holds it (ascending, contiguous), `floor` the
 *       (seq, term) of the entry just before it (0, 0 for a full log).
 *   startLeading(state, now)          -> { state, effects }  the room's creator starts as administrator
 *   stepReplica(state, input, config) -> { state, effects }
 *   tickDueAt(state, config)          -> when a `tick` would next do anything (null: not until
 *                                        another input); earlier ticks may be skipped
 *   repairDueAt(state, want, config)  -> the same for a `repair` input
 *
 * INPUTS
 *   propose      { user, nodeId, text, clientMsgId, now }  a send at the administrator
 *   set-meta     { meta }            membership / frozen / name changed at the administrator
 *   message      { from, message, now }   a replication message from another replica (peer.proto)
 *   peer-dead    { peer, now, jitterMs }  the failure detector declared `peer` dead
 *   peer-alive   { peer, now }       ... and alive again
 *   wake         { now, jitterMs, delayMs }  restored from disk, administrator unknown: stand after
 *                                    delayMs unless an administrator is heard first (whole group restarted)
 *   peer-restarted { peer, now, jitterMs }  `peer` came back with a new incarnation: whatever it led,
 *                                    it leads no more (its memory is gone), so elect as if it died
 *   tick         { now, jitterMs }   candidacy deadlines; resends to followers that stopped acking
 *   transfer     { now }             graceful handover: hand the room to the most up-to-date replica
 *   notify-commit { to, now }       administrator: send the commit point now to followers `to`
 *   repair       { now, want, spares }  administrator: replace a replica dead for repairMs by one of
 *                                    `spares` (live nodes, preferred first), one change at a time
 *
 * EFFECTS (ReplicaEffect)
 *   persist-term    { term, votedFor }          durable before any later send (a vote is a promise)
 *   persist-entries { truncateAfter, entries }  drop entries after truncateAfter (null: none), then
 *                                               append `entries`; durable before any later send
 *   persist-meta    { meta }                    the room's replicated state (members, frozen, set)
 *   send            { to, message }             a replication message
 *   send-stored     { to, term, leader, prevSeq, toSeq, commitSeq }  like an `append` whose
 *                   entries are older than the in-memory tail: the driver reads them from the store
 *   commit          { fromSeq, toSeq }          entries up to toSeq are committed (the administrator
 *                                               now delivers them and acknowledges their senders; a
 *                                               follower delivers them to its node's own members)
 *   role            { role, term, leader, reason }   this replica's role or the known leader changed
 *   quorum          { ok }                      the administrator can (not) reach a majority
 *   meta-committed  { term, version }           a majority holds the room state of that version:
 *                                               joins and leaves in it are acknowledged now
 *   replicas        { replicas, removed, added }   the administrator changed the replica set
 *   accepted        { seq, duplicate }          reply to `propose`: wait for commit >= seq
 *   refused         { code, message, leader }   reply to `propose`: not accepted
 */
import type { Creator } from './room-directory'
import type { ChatMessage, ErrorCode, Member } from '../../proto/client-protocol'
import { dedupeKey } from './room-ordering'
import { FifoMap } from './fifo-map'

/** One log entry: a message at position `message.seq`, stamped with the term that holds it. */
export interface LogEntry {
  term: number
  message: ChatMessage
}

/**
 * The room's state that is not a message: replicated alongside the log, versioned by the
 * administrator that changes it (docs/replication.md, "Membership and deletion"). The higher
 * (term, version) wins.
 */
export interface ReplicatedMeta {
  term: number
  version: number
  replicas: string[]
  name: string
  createdBy: Creator
  createdAt: number
  members: Member[]
  frozen: boolean
  /**
   * The transaction id of the room's deletion once the administrator decided COMMIT: the decision is
   * part of the room state, so a replica elected later finishes it (docs/replication.md,
   * "Membership and deletion"). Absent or '' while the room lives.
   */
  deleted?: string
}

export type ReplicaRole = 'leader' | 'follower' | 'candidate'

/** Peer messages of replication and election (peer.proto RoomAppend ... RoomTimeoutNow). */
export type ReplMessage =
  | {
      type: 'append'
      roomId: string
      term: number
      leader: string
      prevSeq: number
      prevTerm: number
      entries: LogEntry[]
      commitSeq: number
      meta: ReplicatedMeta | null
      /**
       * A commit notice the sender needs no answer to: no entries, no room state, to a receiver that
       * holds our room state and was sent every entry up to prevSeq in appends it answers
       * (docs/replication.md, "Commit notices"). A refusal is still sent. False from older
       * administrators: every append is answered.
       */
      noReply: boolean
    }
  | { type: 'append-reply'; roomId: string; term: number; ok: boolean; matchSeq: number; leader: string; metaTerm: number; metaVersion: number }
  | { type: 'vote-request'; roomId: string; term: number; candidate: string; lastSeq: number; lastTerm: number; transfer: boolean }
  | { type: 'vote-reply'; roomId: string; term: number; granted: boolean; leader: string; meta: ReplicatedMeta | null }
  /** `vote`: the sender (the administrator handing over) has voted for the receiver in term + 1. */
  | { type: 'timeout-now'; roomId: string; term: number; vote: boolean }

export interface ReplicaConfig {
  /** Gap between the election start of two replicas of consecutive rank (ranked delay). */
  electionStepMs: number
  /** A candidacy without a majority by then starts again, at a higher term. */
  electionTimeoutMs: number
  /** The administrator sends again to a follower whose acknowledgement is this late. */
  resendMs: number
  /** Most entries in one append. */
  maxBatch: number
  /** Most entries kept in memory (older ones are read from the store). */
  logLimit: number
  /** Most (member, clientMsgId) pairs remembered for resend deduplication. */
  dedupeLimit: number
  /** A replica dead this long is replaced by a live node (docs/replication.md, "Repair"). */
  repairMs: number
}

export const DEFAULT_REPLICA_CONFIG: Readonly<ReplicaConfig> = {
  electionStepMs: 150,
  electionTimeoutMs: 1500,
  resendMs: 500,
  maxBatch: 500,
  logLimit: 10_000,
  dedupeLimit: 50_000,
  repairMs: 30_000,
}

interface FollowerProgress {
  /** Next seq to send. */
  nextSeq: number
  /** Highest seq known to be stored on the follower. */
  matchSeq: number
  /** When we last sent, or heard an acknowledgement (resend pacing). */
  lastSentAt: number
  /** The commit point the follower was last told. */
  sentCommit: number
  /** The (term, version) of the room state the follower acknowledged. */
  metaVersion: number
  metaTerm: number
}

export interface ReplicaState {
  roomId: string
  self: string
  term: number
  votedFor: string | null
  role: ReplicaRole
  /** The administrator this replica follows (itself when leader); null while unknown. */
  leader: string | null
  meta: ReplicatedMeta
  /** The in-memory tail of the log, ascending and contiguous. */
  log: LogEntry[]
  /** (seq, term) of the entry just before log[0] (0, 0: the log starts at seq 1). */
  floorSeq: number
  floorTerm: number
  commitSeq: number
  /** key = memberKey + '\u0000' + clientMsgId -> seq (of entries in the log, committed or not). */
  dedupe: FifoMap
  /** Peers the failure detector says are dead, and since when. */
  dead: Set<string>
  deadSince: Map<string, number>
  /** When this replica starts a candidacy (null: no election pending). */
  electionAt: number | null
  /** The election is a handover: the others vote even though their leader is alive. */
  electionTransfer: boolean
  votes: Set<string>
  /** Leader only. */
  progress: Map<string, FollowerProgress>
  /** Leader only: a majority is reachable (failure detector). */
  quorum: boolean
  /** Leader only: handing over to this replica; no new sends meanwhile. */
  transferTo: string | null
  /**
   * A vote request refused because our administrator still looked alive: granted after all if our
   * failure detector declares it dead soon after (the candidate's detector was a few ms quicker),
   * so the election does not wait a whole candidacy timeout for a retry.
   */
  deferredVote: { from: string; message: Extract<ReplMessage, { type: 'vote-request' }> } | null
  /**
   * Candidate only: the newest room state among the votes granted to us. A room state a majority
   * acknowledged is held by at least one voter of any winning majority, so adopting the newest one
   * keeps every acknowledged join or leave across the election (docs/replication.md, "Membership").
   */
  electionMeta: ReplicatedMeta | null
  /** Leader only: the newest (term, version) of the room state a majority of replicas holds. */
  metaCommit: { term: number; version: number }
  /**
   * Leader only: replicas it removed (repair), told so when they are alive again: how many more
   * times, and when last (tellRemoved).
   */
  removedPeers: Map<string, { tries: number; at: number }>
  /**
   * Leader only: the replica our newest change of the set added, while that change is not yet on
   * a majority (null otherwise). Should that replica depose us with a higher term before it ever
   * took an append of ours, we step down without it (see onMessage).
   */
  adding: string | null
}

export interface ReplicaInit {
  roomId: string
  self: string
  meta: ReplicatedMeta
  term?: number
  votedFor?: string | null
  /** The administrator, when known (a replica created by its first append). */
  leader?: string | null
  entries?: LogEntry[]
  floorSeq?: number
  floorTerm?: number
  commitSeq?: number
}

export type ReplicaInput =
  /**
   * `batched`: the entry is not sent to the followers now; a `replicate` step after the batch of
   * proposals (one turn of the driver's event loop) sends them together, one append per follower.
   */
  | { type: 'propose'; user: string; nodeId: string; text: string; clientMsgId: string; now: number; batched?: boolean }
  /** Send the entries proposed since `fromSeq` (batched proposals) to the followers in step. */
  | { type: 'replicate'; fromSeq: number; now: number }
  /** Leader: the batch from `fromSeq` could not be written (nothing of it left the node): dropped. */
  | { type: 'unwritten'; fromSeq: number }
  /**
   * Leader: tell these followers the commit point now (they deliver the room's messages from their
   * own copy, docs/replication.md "Delivery from the replicas"): each one in `to` that was not sent
   * the commit point yet gets an append (the entries not sent to it yet, if any, and the commit
   * point).
   */
  | { type: 'notify-commit'; to: readonly string[]; now: number }
  | { type: 'set-meta'; meta: Omit<ReplicatedMeta, 'term' | 'version'> }
  | { type: 'message'; from: string; message: ReplMessage; now: number }
  | { type: 'peer-dead'; peer: string; now: number; jitterMs: number }
  | { type: 'peer-alive'; peer: string; now: number }
  | { type: 'peer-restarted'; peer: string; now: number; jitterMs: number }
  | { type: 'wake'; now: number; jitterMs: number; delayMs: number }
  | { type: 'tick'; now: number; jitterMs: number }
  | { type: 'transfer'; now: number }
  | { type: 'repair'; now: number; want: number; spares: string[] }

export type ReplicaEffect =
  | { type: 'persist-term'; term: number; votedFor: string | null }
  | { type: 'persist-entries'; truncateAfter: number | null; entries: LogEntry[] }
  | { type: 'persist-meta'; meta: ReplicatedMeta }
  | { type: 'send'; to: string; message: ReplMessage }
  | { type: 'send-stored'; to: string; term: number; leader: string; prevSeq: number; toSeq: number; commitSeq: number }
  | { type: 'commit'; fromSeq: number; toSeq: number }
  | { type: 'role'; role: ReplicaRole; term: number; leader: string | null; reason: string }
  | { type: 'quorum'; ok: boolean }
  | { type: 'meta-committed'; term: number; version: number }
  | { type: 'replicas'; replicas: string[]; removed: string | null; added: string | null }
  | { type: 'accepted'; seq: number; duplicate: boolean }
  | { type: 'refused'; code: ErrorCode; message: string; leader: string | null }

// ---------------------------------------------------------------------------------------------
// Reading the state

export function lastSeq(s: ReplicaState): number {
  return s.log.length ? s.log[s.log.length - 1].message.seq : s.floorSeq
}

export function lastTerm(s: ReplicaState): number {
  return s.log.length ? s.log[s.log.length - 1].term : s.floorTerm
}

/** The term of the entry at `seq`; undefined when it is not in memory (or beyond the log). */
export function termAt(s: ReplicaState, seq: number): number | undefined {
  if (seq === s.floorSeq) return s.floorTerm
  const i = seq - s.floorSeq - 1
  return i >= 0 && i < s.log.length ? s.log[i].term : undefined
}

export function entryAt(s: ReplicaState, seq: number): LogEntry | undefined {
  const i = seq - s.floorSeq - 1
  return i >= 0 && i < s.log.length ? s.log[i] : undefined
}

/** Committed entries from..to still in memory. */
export function committedRange(s: ReplicaState, from: number, to: number): LogEntry[] {
  const hi = Math.min(to, s.commitSeq)
  const out: LogEntry[] = []
  for (let seq = Math.max(from, s.floorSeq + 1); seq <= hi; seq++) {
    const e = entryAt(s, seq)
    if (e) out.push(e)
  }
  return out
}

export function majority(replicas: readonly string[]): number {
  return Math.floor(replicas.length / 2) + 1
}

/** Whether room state `a` supersedes `b`: the higher (term, version) wins. */
export function newerMeta(a: { term: number; version: number }, b: { term: number; version: number }): boolean {
  return a.term > b.term || (a.term === b.term && a.version > b.version)
}

/** Leader: whether a majority of the replica set holds the current room state. */
export function metaCommitted(s: ReplicaState): boolean {
  return s.role === 'leader' && !newerMeta(s.meta, s.metaCommit)
}

/** Whether (lastTerm, lastSeq) of a candidate is at least as complete as ours (Raft §5.4.1). */
export function upToDate(s: ReplicaState, candLastTerm: number, candLastSeq: number): boolean {
  const t = lastTerm(s)
  return candLastTerm > t || (candLastTerm === t && candLastSeq >= lastSeq(s))
}

/**
 * Of two candidates of one term, whether we (rather than the one asking) should stand again first:
 * the more complete log (the other can then vote for us), then the earlier place in the replica set
 * (both sides compute the same answer from the same room state; ids break a tie if either is not in
 * it).
 */
function standsFirst(s: ReplicaState, m: { candidate: string; lastTerm: number; lastSeq: number }): boolean {
  const mine = lastTerm(s)
  if (mine !== m.lastTerm) return mine > m.lastTerm
  if (lastSeq(s) !== m.lastSeq) return lastSeq(s) > m.lastSeq
  const a = s.meta.replicas.indexOf(s.self)
  const b = s.meta.replicas.indexOf(m.candidate)
  if (a >= 0 && b >= 0) return a < b
  return s.self < m.candidate
}

// ---------------------------------------------------------------------------------------------
// Construction

/**
 * mutableFromTheStart: `floorSeq` and `floorTerm` are written with a second, different value as the
 * state is made. V8 treats a field never written since its object was made as a constant and
 * compiles the hot readers (lastSeq, termAt, entryAt, advanceCommit, ...) around its value; the
 * first trim of the log (appendLocal, once a room passes logLimit entries) then threw all that code
 * away at once and V8 compiled it again under load: tens of functions, one pause and a burst of
 * compiler CPU on every node (docs/benchmarks.md, "The first trim of the log").
 */
export function newReplica(init: ReplicaInit, config: ReplicaConfig = DEFAULT_REPLICA_CONFIG): ReplicaState {
  const s: ReplicaState = {
    roomId: init.roomId,
    self: init.self,
    term: Math.max(init.term ?? 0, init.meta.term),
    votedFor: init.votedFor ?? null,
    role: 'follower',
    leader: init.leader ?? null,
    meta: { ...init.meta, replicas: [...init.meta.replicas], members: [...init.meta.members] },
    log: [],
    // -1, then the real values below: see mutableFromTheStart.
    floorSeq: -1,
    floorTerm: -1,
    commitSeq: 0,
    dedupe: new FifoMap(),
    dead: new Set(),
    deadSince: new Map(),
    electionAt: null,
    electionTransfer: false,
    votes: new Set(),
    progress: new Map(),
    quorum: true,
    transferTo: null,
    deferredVote: null,
    electionMeta: null,
    metaCommit: { term: 0, version: 0 },
    removedPeers: new Map(),
    adding: null,
  }
  s.floorSeq = init.floorSeq ?? 0
  s.floorTerm = init.floorTerm ?? 0
  const entries = init.entries ?? []
  if (entries.length) {
    s.log = entries.slice(-config.logLimit)
    const dropped = entries.length - s.log.length
    if (dropped > 0) {
      s.floorSeq = entries[dropped - 1].message.seq
      s.floorTerm = entries[dropped - 1].term
    }
    for (const e of entries.slice(-config.dedupeLimit)) remember(s, e, config)
  }
  // Entries older than the in-memory tail count as committed: an administrator never runs
  // logLimit entries ahead of its majority (docs/replication.md, "Limits").
  s.commitSeq = Math.min(Math.max(init.commitSeq ?? 0, s.floorSeq), lastSeq(s))
  return s
}

/** The room's creator administers it from term 1 (a fresh room has no log to reconcile). */
export function startLeading(s: ReplicaState, now: number, config: ReplicaConfig = DEFAULT_REPLICA_CONFIG): { state: ReplicaState; effects: ReplicaEffect[] } {
  const effects: ReplicaEffect[] = []
  s.term = Math.max(s.term, 1)
  s.votedFor = s.self
  effects.push({ type: 'persist-term', term: s.term, votedFor: s.self })
  becomeLeader(s, now, config, effects, 'created')
  return { state: s, effects }
}

// ---------------------------------------------------------------------------------------------
// The step function

export function stepReplica(
  s: ReplicaState,
  input: ReplicaInput,
  config: ReplicaConfig = DEFAULT_REPLICA_CONFIG,
): { state: ReplicaState; effects: ReplicaEffect[] } {
  const effects: ReplicaEffect[] = []
  switch (input.type) {
    case 'propose':
      propose(s, input, config, effects)
      break
    case 'unwritten':
      if (s.role === 'leader' && input.fromSeq > s.commitSeq && input.fromSeq <= lastSeq(s)) {
        truncateAfter(s, input.fromSeq - 1)
        for (const p of s.progress.values()) p.nextSeq = Math.min(p.nextSeq, input.fromSeq)
      }
      break
    case 'replicate':
      if (s.role === 'leader') {
        // The batch is on our disk now: it counts for our own match (a set of one commits here).
        advanceCommit(s, effects)
        // In step: everything before the batch was sent to it. One that lags is caught up by its
        // acknowledgements (and by tick) instead of getting a gap it would refuse.
        for (const f of followers(s)) {
          const p = s.progress.get(f)
          if (p && p.nextSeq === input.fromSeq && input.fromSeq <= lastSeq(s) && !s.dead.has(f)) sendAppend(s, f, config, effects, input.now)
        }
      }
      break
    case 'notify-commit':
      if (s.role === 'leader') {
        for (const f of input.to) {
          const p = s.progress.get(f)
          if (p && !s.dead.has(f) && p.sentCommit < s.commitSeq) sendAppend(s, f, config, effects, input.now)
        }
      }
      break
    case 'set-meta':
      if (s.role === 'leader') {
        s.meta = { ...input.meta, replicas: [...input.meta.replicas], members: [...input.meta.members], term: s.term, version: s.meta.version + 1 }
        effects.push({ type: 'persist-meta', meta: s.meta })
        for (const f of followers(s)) sendAppend(s, f, config, effects, 0)
        advanceMetaCommit(s, effects)
      }
      break
    case 'message':
      onMessage(s, input.from, input.message, input.now, config, effects)
      break
    case 'peer-dead':
      s.dead.add(input.peer)
      if (!s.deadSince.has(input.peer)) s.deadSince.set(input.peer, input.now)
      if (s.role === 'leader') checkQuorum(s, effects)
      else if ((input.peer === s.leader || (s.leader === null && s.role === 'follower')) && s.meta.replicas.includes(s.self) && s.electionAt === null) {
        // Ranked delay (docs/replication.md, "Election"): replicas start one after the other in the
        // order of the replica set, so the first one usually wins without a split vote.
        const ranked = s.meta.replicas.filter((r) => r !== input.peer && !s.dead.has(r))
        const rank = Math.max(0, ranked.indexOf(s.self))
        s.electionAt = input.now + rank * config.electionStepMs + input.jitterMs
        s.electionTransfer = false
        const deferred = s.deferredVote
        s.deferredVote = null
        if (deferred && deferred.message.term > s.term) onMessage(s, deferred.from, deferred.message, input.now, config, effects)
      }
      break
    case 'wake':
      if (s.role === 'follower' && s.leader === null && s.electionAt === null && s.meta.replicas.includes(s.self)) {
        const rank = Math.max(0, s.meta.replicas.indexOf(s.self))
        s.electionAt = input.now + input.delayMs + rank * config.electionStepMs + input.jitterMs
      }
      break
    case 'peer-restarted':
      if (s.role === 'leader') {
        if (s.removedPeers.has(input.peer)) s.removedPeers.set(input.peer, { tries: REMOVED_NOTICES, at: -Infinity })
        // Its memory is gone, its log is not: tell it at once who administers the room, so it does
        // not stand for election (a restored replica waits for that, see `wake`).
        const p = s.progress.get(input.peer)
        if (p) {
          p.nextSeq = p.matchSeq + 1
          sendAppend(s, input.peer, config, effects, input.now)
        }
        break
      }
      if (s.role === 'follower' && s.leader === input.peer && s.meta.replicas.includes(s.self) && s.electionAt === null) {
        // Not dead (so it may vote), but no longer our administrator: stickiness must not protect it.
        s.leader = null
        const ranked = s.meta.replicas.filter((r) => r !== input.peer && !s.dead.has(r))
        s.electionAt = input.now + Math.max(0, ranked.indexOf(s.self)) * config.electionStepMs + input.jitterMs
      }
      break
    case 'peer-alive':
      s.dead.delete(input.peer)
      s.deadSince.delete(input.peer)
      if (s.role === 'leader') {
        checkQuorum(s, effects)
        if (s.removedPeers.has(input.peer)) s.removedPeers.set(input.peer, { tries: REMOVED_NOTICES, at: -Infinity })
        const p = s.progress.get(input.peer)
        // It may have missed appends while we thought it dead: send from what it acknowledged.
        if (p) {
          p.nextSeq = Math.min(p.nextSeq, p.matchSeq + 1)
          sendAppend(s, input.peer, config, effects, input.now)
        }
      }
      break
    case 'tick':
      tick(s, input.now, input.jitterMs, config, effects)
      break
    case 'repair':
      repair(s, input, config, effects)
      break
    case 'transfer':
      if (s.role === 'leader') {
        const target = transferTarget(s)
        if (target) {
          s.transferTo = target
          maybeSendTimeoutNow(s, target, input.now, config, effects)
        }
      }
      break
  }
  return { state: s, effects }
}

// ---------------------------------------------------------------------------------------------
// Administrator: proposing and replicating

function copyMeta(m: ReplicatedMeta): ReplicatedMeta {
  return { ...m, replicas: [...m.replicas], members: [...m.members] }
}

function followers(s: ReplicaState): string[] {
  return s.meta.replicas.filter((r) => r !== s.self)
}

/** Followers alive (per the failure detector) plus ourselves reach a majority of the replica set. */
function hasQuorum(s: ReplicaState): boolean {
  const reachable = s.meta.replicas.filter((r) => r === s.self || !s.dead.has(r)).length
  return reachable >= majority(s.meta.replicas)
}

function checkQuorum(s: ReplicaState, effects: ReplicaEffect[]): void {
  const ok = hasQuorum(s)
  if (ok !== s.quorum) {
    s.quorum = ok
    effects.push({ type: 'quorum', ok })
  }
}

function propose(s: ReplicaState, input: Extract<ReplicaInput, { type: 'propose' }>, config: ReplicaConfig, effects: ReplicaEffect[]): void {
  if (s.role !== 'leader') {
    effects.push({ type: 'refused', code: 'room_unavailable', message: 'this node no longer administers the room', leader: s.leader })
    return
  }
  const key = dedupeKey(input.user, input.nodeId, input.clientMsgId)
  const seen = s.dedupe.get(key)
  if (seen !== undefined) {
    // A resend: the same seq, committed or about to be (the caller waits for the commit).
    effects.push({ type: 'accepted', seq: seen, duplicate: true })
    return
  }
  if (s.transferTo !== null) {
    effects.push({ type: 'refused', code: 'room_unavailable', message: 'the room is being handed to another node', leader: s.transferTo })
    return
  }
  if (!s.quorum) {
    // Fencing (client-protocol.md §8): cut off from the majority, we could be deposed without
    // knowing it; accepting sends would let two administrators order the room.
    effects.push({ type: 'refused', code: 'room_unavailable', message: 'the administrator cannot reach a majority of the room replicas', leader: null })
    return
  }
  if (s.meta.frozen) {
    effects.push({ type: 'refused', code: 'room_busy', message: `room ${s.meta.name} is frozen while its deletion is decided`, leader: s.self })
    return
  }
  if (!membersByNode(s.meta).get(input.nodeId)?.has(input.user)) {
    effects.push({ type: 'refused', code: 'not_member', message: `${input.user} is not a member of ${s.meta.name}`, leader: s.self })
    return
  }
  const entry: LogEntry = {
    term: s.term,
    message: {
      roomId: s.roomId,
      seq: lastSeq(s) + 1,
      user: input.user,
      nodeId: input.nodeId,
      text: input.text,
      sentAt: input.now,
      clientMsgId: input.clientMsgId,
    },
  }
  // The resend key made above is the one remembered: not built and hashed a second time.
  s.log.push(entry)
  s.dedupe.set(key, entry.message.seq)
  if (s.dedupe.size > config.dedupeLimit) s.dedupe.deleteOldest()
  trimLog(s, config)
  effects.push({ type: 'persist-entries', truncateAfter: null, entries: [entry] })
  effects.push({ type: 'accepted', seq: entry.message.seq, duplicate: false })
  if (input.batched) {
    // Not before the batch is written ('replicate'): a set of one would commit what a failed write
    // then loses.
    return
  }
  for (const f of followers(s)) {
    const p = s.progress.get(f)
    // Pipelining: a follower that is in step gets the new entry now; one that lags is caught up by
    // its acknowledgements (and by tick) instead of getting a gap it would refuse.
    if (p && p.nextSeq === entry.message.seq && !s.dead.has(f)) sendAppend(s, f, config, effects, input.now)
  }
  advanceCommit(s, effects)
}

/**
 * The members of a room state by node, made once per state object (a state is replaced, never
 * changed in place, when members change): a send's membership check is O(1), not O(members), and
 * looks up the strings it was given instead of building a key of them
 * (docs/benchmarks.md, "After the order: the replication step, the log and delivery").
 */
const membersByNodeCache = new WeakMap<ReplicatedMeta, Map<string, Set<string>>>()
function membersByNode(meta: ReplicatedMeta): Map<string, Set<string>> {
  let byNode = membersByNodeCache.get(meta)
  if (!byNode) {
    byNode = new Map()
    for (const m of meta.members) {
      let users = byNode.get(m.nodeId)
      if (!users) byNode.set(m.nodeId, (users = new Set()))
      users.add(m.user)
    }
    membersByNodeCache.set(meta, byNode)
  }
  return byNode
}

function appendLocal(s: ReplicaState, entries: LogEntry[], config: ReplicaConfig): void {
  for (const e of entries) {
    s.log.push(e)
    remember(s, e, config)
  }
  trimLog(s, config)
}

function trimLog(s: ReplicaState, config: ReplicaConfig): void {
  // Trimmed an eighth of the limit at a time: a splice per append would cost O(logLimit) per send.
  if (s.log.length > config.logLimit + Math.max(1, config.logLimit >> 3)) {
    const drop = s.log.length - config.logLimit
    const last = s.log[drop - 1]
    s.floorSeq = last.message.seq
    s.floorTerm = last.term
    s.log.splice(0, drop)
  }
}

function remember(s: ReplicaState, e: LogEntry, config: ReplicaConfig): void {
  s.dedupe.set(dedupeKey(e.message.user, e.message.nodeId, e.message.clientMsgId), e.message.seq)
  // The oldest entry goes first, in O(1) (fifo-map.ts).
  if (s.dedupe.size > config.dedupeLimit) s.dedupe.deleteOldest()
}

/** Drop entries after `seq` (a follower's uncommitted conflicting tail, or a re-stamped one). */
function truncateAfter(s: ReplicaState, seq: number): void {
  const keep = Math.max(0, seq - s.floorSeq)
  for (const e of s.log.slice(keep)) {
    const k = dedupeKey(e.message.user, e.message.nodeId, e.message.clientMsgId)
    if (s.dedupe.get(k) === e.message.seq) s.dedupe.delete(k)
  }
  s.log.length = Math.min(s.log.length, keep)
}

function sendAppend(s: ReplicaState, to: string, config: ReplicaConfig, effects: ReplicaEffect[], now: number): void {
  const p = s.progress.get(to)
  if (!p) return
  const last = lastSeq(s)
  const prevSeq = p.nextSeq - 1
  const prevTerm = termAt(s, prevSeq)
  const metaBehind = p.metaTerm < s.meta.term || p.metaVersion < s.meta.version
  p.lastSentAt = now
  p.sentCommit = s.commitSeq
  if (prevTerm === undefined && prevSeq < s.floorSeq) {
    // Older than the in-memory tail: the driver reads the entries (and prevTerm) from the store.
    const toSeq = Math.min(last, prevSeq + config.maxBatch)
    effects.push({ type: 'send-stored', to, term: s.term, leader: s.self, prevSeq, toSeq, commitSeq: s.commitSeq })
    p.nextSeq = toSeq + 1
    if (metaBehind) effects.push({ type: 'send', to, message: appendMessage(s, toSeq, [], true) })
    return
  }
  const entries: LogEntry[] = []
  for (let seq = p.nextSeq; seq <= last && entries.length < config.maxBatch; seq++) entries.push(entryAt(s, seq)!)
  // Only the commit point moves (docs/replication.md, "Commit notices"): every entry up to prevSeq
  // was acknowledged or went in an append that will be answered (ahead of this one on the link), and
  // the follower answered with our room state, so its answer would tell us nothing new. Under load
  // such answers were half of what followers send.
  const noReply = entries.length === 0 && !metaBehind
  effects.push({
    type: 'send',
    to,
    message: {
      type: 'append',
      roomId: s.roomId,
      term: s.term,
      leader: s.self,
      prevSeq,
      prevTerm: prevTerm ?? 0,
      entries,
      commitSeq: s.commitSeq,
      meta: metaBehind ? s.meta : null,
      noReply,
    },
  })
  p.nextSeq = prevSeq + entries.length + 1
}

function appendMessage(s: ReplicaState, prevSeq: number, entries: LogEntry[], withMeta: boolean): ReplMessage {
  return {
    type: 'append',
    roomId: s.roomId,
    term: s.term,
    leader: s.self,
    prevSeq,
    prevTerm: termAt(s, prevSeq) ?? 0,
    entries,
    commitSeq: s.commitSeq,
    meta: withMeta ? s.meta : null,
    noReply: false,
  }
}

/** The room state counts as committed once a majority of the replica set (us included) holds it. */
function advanceMetaCommit(s: ReplicaState, effects: ReplicaEffect[]): void {
  if (s.role !== 'leader' || !newerMeta(s.meta, s.metaCommit)) return
  const holders = s.meta.replicas.filter((r) => {
    if (r === s.self) return true
    const p = s.progress.get(r)
    // Holding the room state counts only with every committed entry (Raft keeps a configuration in
    // the log, where holding it means holding all before it): a follower adopts the state an append
    // carries before it checks the log, and its refusal acknowledges the version without the
    // entries. Counted on that, a replica set could change (repair) while its only holders of
    // committed entries were the administrator and the replica removed (docs/replication.md, "Repair").
    return !!p && p.metaTerm === s.meta.term && p.metaVersion >= s.meta.version && p.matchSeq >= s.commitSeq
  }).length
  if (holders < majority(s.meta.replicas)) return
  s.metaCommit = { term: s.meta.term, version: s.meta.version }
  s.adding = null
  effects.push({ type: 'meta-committed', term: s.meta.term, version: s.meta.version })
}

/** Raft's commit rule: the highest seq stored on a majority, if it is of the current term. */
function matchOf(s: ReplicaState, r: string): number {
  return r === s.self ? lastSeq(s) : (s.progress.get(r)?.matchSeq ?? 0)
}

function advanceCommit(s: ReplicaState, effects: ReplicaEffect[]): void {
  // The highest seq a majority holds: the majority-th largest of the replicas' match points,
  // found by counting (a set has at most 7 replicas) instead of sorting a new array on every reply.
  const replicas = s.meta.replicas
  const n = replicas.length
  const need = majority(replicas)
  let candidate = 0
  for (let i = 0; i < n; i++) {
    const v = matchOf(s, replicas[i])
    if (v <= candidate) continue
    let atLeast = 0
    for (let j = 0; j < n; j++) if (matchOf(s, replicas[j]) >= v) atLeast++
    if (atLeast >= need) candidate = v
  }
  if (candidate > s.commitSeq && termAt(s, candidate) === s.term) {
    const from = s.commitSeq + 1
    s.commitSeq = candidate
    effects.push({ type: 'commit', fromSeq: from, toSeq: candidate })
  }
}

function onAppendReply(s: ReplicaState, from: string, m: Extract<ReplMessage, { type: 'append-reply' }>, now: number, config: ReplicaConfig, effects: ReplicaEffect[]): void {
  if (s.role !== 'leader' || m.term !== s.term) return
  const p = s.progress.get(from)
  if (!p) return
  p.lastSentAt = now
  // The follower adopts the room state before it checks the log, so a refusal acknowledges it too.
  if (m.metaTerm > p.metaTerm || (m.metaTerm === p.metaTerm && m.metaVersion > p.metaVersion)) {
    p.metaTerm = m.metaTerm
    p.metaVersion = m.metaVersion
    advanceMetaCommit(s, effects)
  }
  if (m.ok) {
    if (m.matchSeq > p.matchSeq) p.matchSeq = m.matchSeq
    if (p.nextSeq < p.matchSeq + 1) p.nextSeq = p.matchSeq + 1
    advanceCommit(s, effects)
    // The room state it acknowledged earlier counts now that its log has caught up (above).
    advanceMetaCommit(s, effects)
    if (p.nextSeq <= lastSeq(s) && p.nextSeq === p.matchSeq + 1) sendAppend(s, from, config, effects, now)
    if (s.transferTo === from) maybeSendTimeoutNow(s, from, now, config, effects)
  } else {
    // Log matching failed: `matchSeq` is the follower's hint (its last seq, or its commit point).
    p.nextSeq = Math.max(1, Math.min(p.nextSeq - 1, m.matchSeq + 1))
    p.matchSeq = Math.min(p.matchSeq, m.matchSeq)
    sendAppend(s, from, config, effects, now)
  }
}

function transferTarget(s: ReplicaState): string | null {
  let best: string | null = null
  let bestMatch = -1
  for (const f of followers(s)) {
    if (s.dead.has(f)) continue
    const m = s.progress.get(f)?.matchSeq ?? 0
    if (m > bestMatch) {
      best = f
      bestMatch = m
    }
  }
  return best
}

/**
 * Repair (docs/replication.md, "Repair"): a replica dead for repairMs leaves the replica set, then a
 * live spare joins it, each as its own change of the replicated room state. One change at a time,
 * and only once the room state of the current term is on a majority: a single removal or addition
 * keeps every majority of the old set overlapping every majority of the new one (Raft's
 * single-server changes, with the new leader's own change committed first). The set takes effect
 * at once for counting majorities, as in Raft; a new replica catches up from the log.
 */
function repair(s: ReplicaState, input: Extract<ReplicaInput, { type: 'repair' }>, config: ReplicaConfig, effects: ReplicaEffect[]): void {
  if (s.role !== 'leader' || s.transferTo !== null || !metaCommitted(s)) return
  const gone = s.meta.replicas.find((r) => r !== s.self && s.dead.has(r) && input.now - (s.deadSince.get(r) ?? input.now) >= config.repairMs)
  if (gone !== undefined) {
    changeReplicas(s, s.meta.replicas.filter((r) => r !== gone), gone, null, input.now, config, effects)
    return
  }
  if (s.meta.replicas.length >= input.want) return
  const spare = input.spares.find((p) => p !== s.self && !s.meta.replicas.includes(p) && !s.dead.has(p))
  if (spare !== undefined) changeReplicas(s, [...s.meta.replicas, spare], null, spare, input.now, config, effects)
}

/**
 * The earliest `now` at which a `repair` input wanting `want` replicas could change the replica set
 * (a replica dead for repairMs; a set smaller than `want` is "now", whether a spare exists depends
 * on the input), or null if none will until another input changes the state. An earlier repair
 * returns nothing and changes nothing, so the driver may skip it (docs/replication.md, "Repair").
 */
export function repairDueAt(s: ReplicaState, want: number, config: ReplicaConfig = DEFAULT_REPLICA_CONFIG): number | null {
  if (s.role !== 'leader' || s.transferTo !== null || !metaCommitted(s)) return null
  if (s.meta.replicas.length < want) return -Infinity
  let due: number | null = null
  for (const r of s.meta.replicas) {
    if (r === s.self || !s.dead.has(r)) continue
    const since = s.deadSince.get(r)
    // No time of death recorded: repair measures 0 ms dead, enough only for repairMs <= 0.
    const at = since === undefined ? (config.repairMs <= 0 ? -Infinity : null) : since + config.repairMs
    if (at !== null && (due === null || at < due)) due = at
  }
  return due
}

function changeReplicas(s: ReplicaState, replicas: string[], removed: string | null, added: string | null, now: number, config: ReplicaConfig, effects: ReplicaEffect[]): void {
  s.meta = { ...copyMeta(s.meta), replicas, version: s.meta.version + 1 }
  effects.push({ type: 'persist-meta', meta: s.meta })
  effects.push({ type: 'replicas', replicas: [...replicas], removed, added })
  if (removed !== null) {
    s.progress.delete(removed)
    s.removedPeers.set(removed, { tries: 0, at: -Infinity })
  }
  s.adding = added
  if (added !== null) {
    s.removedPeers.delete(added)
    // Sent from our last entry: the new replica refuses with its own last seq and is caught up from there.
    s.progress.set(added, { nextSeq: lastSeq(s) + 1, matchSeq: 0, lastSentAt: now, sentCommit: 0, metaVersion: 0, metaTerm: 0 })
  }
  checkQuorum(s, effects)
  for (const f of followers(s)) if (!s.dead.has(f)) sendAppend(s, f, config, effects, now)
  advanceMetaCommit(s, effects)
  advanceCommit(s, effects)
}

/** Whether two replica sets name the same nodes (in any order). */
function sameReplicas(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((r) => b.includes(r))
}

/** How many times a removed replica that is alive again is told (it does not answer). */
const REMOVED_NOTICES = 5

/**
 * Replicas we removed that are alive again: once the removal is on a majority (no administrator to
 * come counts them any more), send them the room state that leaves them out, a few times a resend
 * period apart (the first may go before our link to a restarted node is up), so they stop standing
 * and drop their copy. Their own term may be higher by then (they stood again and again): see
 * onAppend.
 */
function tellRemoved(s: ReplicaState, now: number, config: ReplicaConfig, effects: ReplicaEffect[]): void {
  if (!metaCommitted(s)) return
  for (const [peer, t] of s.removedPeers) {
    if (s.meta.replicas.includes(peer)) {
      s.removedPeers.delete(peer)
      continue
    }
    if (t.tries <= 0 || s.dead.has(peer) || now - t.at < config.resendMs) continue
    t.tries--
    t.at = now
    effects.push({ type: 'send', to: peer, message: appendMessage(s, lastSeq(s), [], true) })
  }
}

/** Leadership transfer: once the target holds our whole log, tell it to start its election now. */
function maybeSendTimeoutNow(s: ReplicaState, target: string, now: number, config: ReplicaConfig, effects: ReplicaEffect[]): void {
  const p = s.progress.get(target)
  if (!p) return
  const metaHeld = p.metaTerm === s.meta.term && p.metaVersion >= s.meta.version
  if (p.matchSeq >= lastSeq(s) && metaHeld) {
    // The target holds our whole log and room state: we vote for it in the next term now and say
    // so in the timeout-now, so that our vote needs no round trip of its own (with three replicas
    // the target then wins as it stands). Our vote is on disk before the message leaves, we step
    // down (no new send is accepted here; the ones waiting go again to the new administrator), and
    // one vote per term holds: the target's own vote request will find it given already.
    const term = s.term
    stepDown(s, term + 1, null, effects, 'handover', target)
    effects.push({ type: 'send', to: target, message: { type: 'timeout-now', roomId: s.roomId, term, vote: true } })
  } else if (p.matchSeq >= lastSeq(s)) {
    // Only the room state is behind: an append carries it (sendAppend adds it when behind).
    if (p.nextSeq > lastSeq(s)) p.nextSeq = lastSeq(s) + 1
    sendAppend(s, target, config, effects, now)
  } else if (p.nextSeq > lastSeq(s)) {
    // Everything is in flight already: the acknowledgement will bring us back here.
  } else sendAppend(s, target, config, effects, now)
}

// ---------------------------------------------------------------------------------------------
// Every replica: messages, terms, votes

function onMessage(s: ReplicaState, from: string, m: ReplMessage, now: number, config: ReplicaConfig, effects: ReplicaEffect[]): void {
  if (m.roomId !== s.roomId) return
  // Our room state is the current one as far as we can tell only while we administer the room or
  // follow an administrator our detector sees alive: a replica cut off as long as the candidate may
  // hold an older set than the candidate missed, and must not tell it anything from it.
  const current = s.role === 'leader' || (s.leader !== null && !s.dead.has(s.leader))
  if (m.type === 'vote-request' && !s.meta.replicas.includes(m.candidate) && s.meta.replicas.includes(s.self)) {
    // Not a replica of the room as we know it (removed by a repair, docs/replication.md "Repair"):
    // its higher term must not depose anyone, nor wait as a deferred vote; our room state tells it
    // that it was removed. First of all: the peer-authority check lets such a request through to
    // us for this answer alone (a node cut off while it was replaced has no other way to learn it
    // once the administrator that removed it is gone).
    effects.push({ type: 'send', to: from, message: { type: 'vote-reply', roomId: s.roomId, term: s.term, granted: false, leader: s.leader ?? '', meta: current ? s.meta : null } })
    return
  }
  if (m.type === 'vote-request' && !m.transfer && m.term > s.term && s.leader !== null && s.leader !== from && !s.dead.has(s.leader) && s.role !== 'candidate') {
    // Our administrator is alive as far as our failure detector knows: a replica that thinks
    // otherwise (an asymmetric partition) must not depose it (Raft §6, disruptive servers). Our
    // room state goes with the refusal: a candidate that missed changes of the replica set (cut
    // off meanwhile) learns the set, and with it the administrator it would otherwise refuse.
    s.deferredVote = { from, message: m }
    effects.push({ type: 'send', to: from, message: { type: 'vote-reply', roomId: s.roomId, term: s.term, granted: false, leader: s.leader, meta: s.meta } })
    return
  }
  if (m.term > s.term) {
    const leader = m.type === 'append' ? m.leader : m.type === 'append-reply' || m.type === 'vote-reply' ? m.leader || null : null
    // Deposed by the replica we are adding to a set of one (ours), before that addition is on a
    // majority: a node removed from the room while cut off, which stood at ever higher terms since
    // (its set is an old one without us, or it let the room go). A set of two elects nobody without
    // its vote, which it never gives us: the room had no administrator for good (simulator seeds
    // 9021, 9037, 9072, 9151 with --repair-ms 2000; docs/replication.md, "Repair"). So we
    // step down with the set we had, ourselves alone: every majority of it and of the set with the
    // node holds us, and we vote for nobody outside our set, so no one else can be elected in
    // either. We then stand alone at the higher term, win at once, and add the node again. A larger
    // set is kept: the replicas it had elect someone without the node.
    const back = m.type === 'append-reply' && s.role === 'leader' && s.adding === from && s.meta.replicas.length === 2
    stepDown(s, m.term, leader, effects, back ? `deposed by ${from}, being added: back to a set of one` : m.type === 'append' ? 'new administrator' : 'higher term')
    if (back) {
      s.meta = { ...copyMeta(s.meta), replicas: [s.self], version: s.meta.version + 1 }
      effects.push({ type: 'persist-meta', meta: s.meta })
      return
    }
  }
  switch (m.type) {
    case 'append':
      onAppend(s, from, m, now, config, effects)
      return
    case 'append-reply':
      if (m.term > s.term) return
      onAppendReply(s, from, m, now, config, effects)
      return
    case 'vote-request': {
      if (m.term < s.term) {
        // Fencing: a stale term is refused with the identity of the administrator we know.
        effects.push({ type: 'send', to: from, message: { type: 'vote-reply', roomId: s.roomId, term: s.term, granted: false, leader: s.leader ?? '', meta: null } })
        return
      }
      if (s.role === 'candidate' && m.term === s.term && m.candidate !== s.self && s.electionAt !== null && standsFirst(s, m)) {
        // A split vote: two replicas stood in the same term (their failure detectors declared the
        // administrator dead further apart than the ranked delay), each voted for itself, and
        // neither can win this term. Both see the other's request, so both agree which of them
        // goes first: the more complete log, then the earlier in the replica set. That one stands
        // again soon; the other keeps its candidacy timeout and, still a candidate of this term,
        // votes for the next one (docs/replication.md, "Election"). Waiting out the timeout on
        // both sides repeated the split round after round when their timeouts stayed in step.
        s.electionAt = Math.min(s.electionAt, now + config.electionStepMs)
      }
      const complete = upToDate(s, m.lastTerm, m.lastSeq)
      const grant = (s.votedFor === null || s.votedFor === m.candidate) && complete && s.meta.replicas.includes(m.candidate)
      if (!complete && s.role === 'follower' && s.electionAt === null && s.meta.replicas.includes(s.self)) {
        // The room is electing and the candidate lacks entries we hold: it cannot win our vote,
        // and perhaps no one's, so we stand ourselves (after our rank's delay).
        const rank = Math.max(0, s.meta.replicas.filter((r) => r !== m.candidate).indexOf(s.self))
        s.electionAt = now + rank * config.electionStepMs
      }
      if (grant && s.votedFor !== m.candidate) {
        s.votedFor = m.candidate
        effects.push({ type: 'persist-term', term: s.term, votedFor: m.candidate })
      }
      if (grant && s.role === 'follower') {
        // Should the candidate die before it wins, we stand ourselves (nobody else would notice:
        // the failure detector only starts elections when the known administrator dies).
        const rank = Math.max(0, s.meta.replicas.filter((r) => r !== m.candidate).indexOf(s.self))
        s.electionAt = now + config.electionTimeoutMs + rank * config.electionStepMs
        s.deferredVote = null
      }
      // A granted vote carries our room state: the winner adopts the newest (see electionMeta).
      effects.push({ type: 'send', to: from, message: { type: 'vote-reply', roomId: s.roomId, term: s.term, granted: grant, leader: s.leader ?? '', meta: grant ? s.meta : null } })
      return
    }
    case 'vote-reply':
      if (!m.granted && m.meta && s.role !== 'leader' && newerMeta(m.meta, s.meta) && !sameReplicas(m.meta.replicas, s.meta.replicas)) {
        // The replica set changed while we were away (a voter that follows a live administrator
        // says so). Without us: we were removed, stand no more (the driver drops us). With us: we
        // now know the replicas that came meanwhile, so the administrator's appends reach our core
        // (docs/security.md); we stop this election, and stand again only if none comes.
        const removed = !m.meta.replicas.includes(s.self)
        s.meta = copyMeta(m.meta)
        effects.push({ type: 'persist-meta', meta: s.meta })
        if (s.role === 'candidate') effects.push({ type: 'role', role: 'follower', term: s.term, leader: removed ? m.leader || null : null, reason: removed ? 'removed from the replica set' : 'the replica set changed' })
        s.role = 'follower'
        s.leader = removed ? m.leader || null : null
        s.electionAt = null
        s.votes.clear()
        return
      }
      if (s.role !== 'candidate' || m.term !== s.term || !m.granted) return
      if (m.meta && newerMeta(m.meta, s.electionMeta ?? s.meta)) s.electionMeta = copyMeta(m.meta)
      s.votes.add(from)
      if (s.votes.size >= majority(s.meta.replicas)) becomeLeader(s, now, config, effects, s.electionTransfer ? 'handover' : 'takeover')
      return
    case 'timeout-now':
      if (m.term !== s.term || s.role !== 'follower' || from !== s.leader) return
      // The administrator handing the room over voted for us in the next term already (`vote`).
      startElection(s, now, 0, config, effects, true, m.vote ? from : null)
      return
  }
}

/**
 * A follower's answer to an append. A function of its own rather than a closure made in onAppend:
 * the nodes run under tsx, which names every such closure with a defineProperty, once per append
 * received (docs/benchmarks.md, "Client ingress").
 */
function replyToAppend(s: ReplicaState, from: string, effects: ReplicaEffect[], ok: boolean, matchSeq: number): void {
  effects.push({
    type: 'send',
    to: from,
    message: { type: 'append-reply', roomId: s.roomId, term: s.term, ok, matchSeq, leader: s.leader ?? '', metaTerm: s.meta.term, metaVersion: s.meta.version },
  })
}

function onAppend(s: ReplicaState, from: string, m: Extract<ReplMessage, { type: 'append' }>, now: number, config: ReplicaConfig, effects: ReplicaEffect[]): void {
  if (m.meta && s.role !== 'leader' && !m.meta.replicas.includes(s.self) && newerMeta(m.meta, s.meta)) {
    // A newer room state without us: we were removed from the replica set by a repair, and the
    // administrator sends this only once that is on a majority (tellRemoved), whatever our own term
    // has grown to meanwhile. Adopt it, stand no more, answer nothing (the driver drops our copy).
    s.meta = copyMeta(m.meta)
    s.role = 'follower'
    s.electionAt = null
    s.votes.clear()
    effects.push({ type: 'persist-meta', meta: s.meta })
    return
  }
  const matched = m.prevSeq + m.entries.length
  // A commit notice (sendAppend): the administrator already knows what an answer would say.
  const notice = m.noReply && m.entries.length === 0 && m.meta === null
  if (m.prevSeq < s.floorSeq) {
    // Entries older than our in-memory tail are committed (see newReplica): skip them.
    const skip = s.floorSeq - m.prevSeq
    m = { ...m, prevSeq: s.floorSeq, prevTerm: s.floorTerm, entries: m.entries.slice(skip) }
  }
  if (m.term < s.term) {
    // A deposed administrator (paused, partitioned): refuse, and say who administers the room now.
    replyToAppend(s, from, effects, false, lastSeq(s))
    return
  }
  if (s.role !== 'follower' || s.leader !== m.leader) {
    const was = s.leader
    s.role = 'follower'
    s.leader = m.leader
    s.electionAt = null
    s.votes.clear()
    s.progress.clear()
    s.transferTo = null
    if (was !== m.leader) effects.push({ type: 'role', role: 'follower', term: s.term, leader: m.leader, reason: 'new administrator' })
  }
  s.electionAt = null
  if (m.meta && (m.meta.term > s.meta.term || (m.meta.term === s.meta.term && m.meta.version > s.meta.version))) {
    s.meta = { ...m.meta, replicas: [...m.meta.replicas], members: [...m.meta.members] }
    effects.push({ type: 'persist-meta', meta: s.meta })
  }
  if (m.prevSeq < s.commitSeq) {
    // Our committed entries are the committed entries of every legitimate administrator (leader
    // completeness); one of them may carry another term on its side (the re-stamped last entry of
    // an election), so they are not compared again: skip what the append repeats of them.
    const skip = Math.min(m.entries.length, s.commitSeq - m.prevSeq)
    m = { ...m, prevSeq: m.prevSeq + skip, prevTerm: skip > 0 ? m.entries[skip - 1].term : m.prevTerm, entries: m.entries.slice(skip) }
  }
  // Log matching (Raft §5.3): we must hold the entry before the new ones, with the same term; at
  // our commit point any term matches (see above).
  const have = m.prevSeq <= s.commitSeq ? m.prevTerm : termAt(s, m.prevSeq)
  if (m.prevSeq > lastSeq(s)) {
    replyToAppend(s, from, effects, false, lastSeq(s))
    return
  }
  if (have === undefined && m.prevSeq > s.floorSeq) {
    replyToAppend(s, from, effects, false, lastSeq(s))
    return
  }
  if (have !== undefined && have !== m.prevTerm) {
    // Our entry there is of another term: everything from there on was never committed by anyone
    // (log matching); the administrator backs up to our commit point, which it shares with us.
    replyToAppend(s, from, effects, false, Math.min(s.commitSeq, m.prevSeq - 1))
    return
  }
  let i = 0
  // Skip entries we already hold with the same term (a repeated or overlapping append).
  while (i < m.entries.length) {
    const e = m.entries[i]
    const t = termAt(s, e.message.seq)
    if (t === undefined) break
    if (t !== e.term) break
    i++
  }
  const fresh = m.entries.slice(i)
  if (fresh.length) {
    const firstSeq = fresh[0].message.seq
    let cut: number | null = null
    if (firstSeq <= lastSeq(s)) {
      cut = firstSeq - 1
      if (cut < s.commitSeq) {
        // Never drop a committed entry: a leader that asks for it is not following the protocol.
        replyToAppend(s, from, effects, false, s.commitSeq)
        return
      }
      truncateAfter(s, cut)
    }
    appendLocal(s, fresh, config)
    effects.push({ type: 'persist-entries', truncateAfter: cut, entries: fresh })
  }
  const newCommit = Math.min(m.commitSeq, matched)
  if (newCommit > s.commitSeq) {
    effects.push({ type: 'commit', fromSeq: s.commitSeq + 1, toSeq: newCommit })
    s.commitSeq = newCommit
  }
  if (!notice) replyToAppend(s, from, effects, true, matched)
}

function stepDown(s: ReplicaState, term: number, leader: string | null, effects: ReplicaEffect[], reason: string, votedFor: string | null = null): void {
  const was = s.role
  s.adding = null
  s.term = term
  s.votedFor = votedFor
  s.role = 'follower'
  s.leader = leader
  s.votes.clear()
  s.progress.clear()
  s.transferTo = null
  s.quorum = true
  s.electionAt = null
  effects.push({ type: 'persist-term', term, votedFor })
  if (was !== 'follower' || leader !== null) effects.push({ type: 'role', role: 'follower', term, leader, reason })
}

function startElection(s: ReplicaState, now: number, jitterMs: number, config: ReplicaConfig, effects: ReplicaEffect[], transfer: boolean, votedBy: string | null = null): void {
  s.term += 1
  s.role = 'candidate'
  s.leader = null
  s.votedFor = s.self
  s.votes = new Set([s.self])
  if (votedBy !== null && s.meta.replicas.includes(votedBy)) s.votes.add(votedBy)
  s.electionMeta = null
  s.electionTransfer = transfer
  s.electionAt = now + config.electionTimeoutMs + jitterMs
  effects.push({ type: 'persist-term', term: s.term, votedFor: s.self })
  effects.push({ type: 'role', role: 'candidate', term: s.term, leader: null, reason: transfer ? 'handover' : 'administrator dead' })
  if (s.votes.size >= majority(s.meta.replicas)) {
    becomeLeader(s, now, config, effects, transfer ? 'handover' : 'takeover')
    return
  }
  for (const r of s.meta.replicas) {
    if (r === s.self) continue
    effects.push({
      type: 'send',
      to: r,
      message: { type: 'vote-request', roomId: s.roomId, term: s.term, candidate: s.self, lastSeq: lastSeq(s), lastTerm: lastTerm(s), transfer },
    })
  }
}

function becomeLeader(s: ReplicaState, now: number, config: ReplicaConfig, effects: ReplicaEffect[], reason: string): void {
  // The newest room state among our voters: every join or leave a majority acknowledged is in it.
  if (s.electionMeta && newerMeta(s.electionMeta, s.meta)) s.meta = s.electionMeta
  s.electionMeta = null
  if (!s.meta.replicas.includes(s.self)) {
    // Removed from the replica set meanwhile (a repair): not ours to lead.
    s.role = 'follower'
    s.electionAt = null
    s.votes.clear()
    effects.push({ type: 'persist-meta', meta: s.meta })
    effects.push({ type: 'role', role: 'follower', term: s.term, leader: null, reason: 'removed from the replica set' })
    return
  }
  s.role = 'leader'
  s.leader = s.self
  s.electionAt = null
  s.votes.clear()
  s.transferTo = null
  s.adding = null
  effects.push({ type: 'role', role: 'leader', term: s.term, leader: s.self, reason })
  // Re-stamp our last entry with our term (see the header): same message, same seq. It is
  // Raft's no-op: it sits after everything we held when elected, so a replica that holds it holds
  // all of that (log matching), and committing it by the ordinary rule commits the whole tail.
  const last = lastSeq(s)
  const keep = Math.max(s.commitSeq, s.floorSeq)
  if (last > keep && lastTerm(s) !== s.term) {
    const restamped = { term: s.term, message: s.log[s.log.length - 1].message }
    truncateAfter(s, last - 1)
    s.log.push(restamped)
    s.dedupe.set(dedupeKey(restamped.message.user, restamped.message.nodeId, restamped.message.clientMsgId), last)
    effects.push({ type: 'persist-entries', truncateAfter: last - 1, entries: [restamped] })
  }
  s.meta = { ...s.meta, term: s.term, version: 1 }
  effects.push({ type: 'persist-meta', meta: s.meta })
  s.progress.clear()
  for (const f of followers(s)) s.progress.set(f, { nextSeq: Math.max(keep + 1, last), matchSeq: 0, lastSentAt: now, sentCommit: 0, metaVersion: 0, metaTerm: 0 })
  s.quorum = hasQuorum(s)
  if (!s.quorum) effects.push({ type: 'quorum', ok: false })
  for (const f of followers(s)) if (!s.dead.has(f)) sendAppend(s, f, config, effects, now)
  advanceCommit(s, effects)
  // A set of one (a room created on a lone node) holds its room state on a majority at once: joins
  // are acknowledged and repair may grow the set (docs/replication.md, "Repair").
  advanceMetaCommit(s, effects)
}

/**
 * The earliest `now` at which a `tick` input would do anything for this replica (send, persist,
 * change its state), or null if no tick will until another input changes the state. A tick before
 * that time returns no effects and leaves the state as it was, so the driver may skip it and draw no
 * jitter for it (docs/replication.md, "Ticks"). Mirrors `tick` below: change one, change both (the
 * core's table tests check them against each other).
 */
export function tickDueAt(s: ReplicaState, config: ReplicaConfig = DEFAULT_REPLICA_CONFIG): number | null {
  if (s.role === 'leader') {
    let due: number | null = null
    // Removed replicas alive again, told a few times (tellRemoved); one back in the set is forgotten now.
    if (s.removedPeers.size && metaCommitted(s)) {
      for (const [peer, t] of s.removedPeers) {
        if (s.meta.replicas.includes(peer)) return -Infinity
        if (t.tries <= 0 || s.dead.has(peer)) continue
        const at = t.at + config.resendMs
        if (due === null || at < due) due = at
      }
    }
    const last = lastSeq(s)
    for (const f of s.meta.replicas) {
      if (f === s.self || s.dead.has(f)) continue
      const p = s.progress.get(f)
      if (!p) return -Infinity
      if (p.matchSeq >= last && p.metaTerm === s.meta.term && p.metaVersion >= s.meta.version && p.sentCommit >= s.commitSeq) continue
      const at = p.lastSentAt + config.resendMs
      if (due === null || at < due) due = at
    }
    return due
  }
  // The commonest case first (a follower of a known administrator, nothing pending): no search.
  const noLeader = s.role === 'follower' && s.leader === null && s.electionAt === null
  if (s.electionAt === null && !noLeader) return null
  if (!s.meta.replicas.includes(s.self)) return null
  return noLeader ? -Infinity : s.electionAt
}

function tick(s: ReplicaState, now: number, jitterMs: number, config: ReplicaConfig, effects: ReplicaEffect[]): void {
  if (s.role === 'leader') {
    if (s.removedPeers.size) tellRemoved(s, now, config, effects)
    for (const f of followers(s)) {
      const p = s.progress.get(f)!
      if (s.dead.has(f) || now - p.lastSentAt < config.resendMs) continue
      if (p.matchSeq >= lastSeq(s) && p.metaTerm === s.meta.term && p.metaVersion >= s.meta.version && p.sentCommit >= s.commitSeq) {
        continue
      }
      // Unacknowledged for resendMs: whatever was in flight was lost (a link broke); send again
      // from what it acknowledged. Also carries the commit point to followers once traffic stops.
      p.nextSeq = p.matchSeq + 1
      sendAppend(s, f, config, effects, now)
    }
    return
  }
  if (s.role === 'follower' && s.leader === null && s.electionAt === null && s.meta.replicas.includes(s.self)) {
    // No administrator known (we stepped down to a higher term that nobody won, or voted for a
    // candidate that never won): no detector will ever say it died, so stand after a timeout
    // unless an administrator shows itself first (docs/replication.md, "Election").
    const rank = Math.max(0, s.meta.replicas.indexOf(s.self))
    s.electionAt = now + config.electionTimeoutMs + rank * config.electionStepMs + jitterMs
    return
  }
  if (s.electionAt !== null && now >= s.electionAt && s.meta.replicas.includes(s.self)) {
    startElection(s, now, jitterMs, config, effects, s.role === 'candidate' ? s.electionTransfer : false)
  }
}
