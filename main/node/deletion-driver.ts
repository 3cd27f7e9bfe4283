/**
 * Room deletion by two-phase commit: the node-side driver of main/core/two-phase-commit.ts
 * (docs/architecture.md §4; docs/deletion.md).
 *
 * The core machines decide; this driver owns what they must not: the clock (tick), the data dir
 * (deletions.json), the peer links (send), the room state of the node (freeze, drop) and the clients
 * (`deletion`, `room.deleted`, `room.unavailable` events). Effects of one step are carried out in the
 * order the core returns them; `persist` writes and fsyncs synchronously (NodeStore.save), so it is
 * on disk before any later `send` of the same step leaves this process.
 *
 * Roles on this node, one machine per txId:
 *   coordinator  this node administers the room; started by `room.delete` (local, or a DeleteRequest
 *                forwarded by another node); its own readiness is checked locally before PREPARE.
 *   participant  a Prepare arrived from the room's administrator.
 *
 * Who may delete and how a node votes are pure decisions in main/core/deletion-policy.ts; what
 * people see (events, reports, node names in place of ids) is deletion-reports.ts; injected faults
 * and the sends in flight a vote waits for are deletion-faults.ts.
 * Choices this driver makes (documented in docs/deletion.md):
 *   - A blocked participant (voted READY, nobody knows the outcome) keeps the room frozen and tells
 *     every local client with `room.unavailable` (reason says why); `room.available` follows a
 *     rollback, `room.deleted` a commit.
 *   - Timing scales with the failure detector: a vote may take 2 x deadMs (at least 2 s) before it is
 *     presumed ABORT, so a stopped participant is normally caught first by the detector (peer-dead).
 */
import { type RequestOf, type Results, type ServerEvent, type TraceKind, type Vote } from '../../proto/client-protocol'
import { ChatError, errorFromPeer } from '../core/errors'
import { msg, type Bodies, type PeerMessage } from '../cluster/peer-messages'
import { removeEntry, type Directory, type DirectoryEntry } from '../core/room-directory'
import { abortCause, deleteRefusal, describeAbortCause, describeRefusal } from '../core/deletion-policy'
import { memberNodes, type AdminRoom, type RoomInput } from '../core/room-ordering'
import {
  abortBeforePrepare,
  ackUnknownDecision,
  addTombstone,
  coordinatorStep,
  emptyTombstones,
  isTombstoned,
  mayAnswer,
  participantStep,
  presumedAbortAnswer,
  reasonFromRecord,
  recoverCoordinator,
  recoverParticipant,
  startCoordinator,
  startParticipant,
  takeOverCoordinator,
  tombstoneTx,
  type CoordinatorState,
  type ParticipantState,
  type Tombstones,
  type TwoPhaseConfig,
  type TxDecision,
  type TxEffect,
  type TxMessage,
  type TxRecord,
} from '../core/two-phase-commit'
import type { Clock } from '../cluster/clock'
import type { NodeOptions } from './node-options'
import type { NodeStorage } from '../store/node-store'
import type { PeerLinks } from './peer-links'
import { DeletionReports } from './deletion-reports'
import { DeletionFaults, SendsInFlight, type DeletionFaultSettings } from './deletion-faults'

const LOG_FILE = 'deletions.json'
/** Finished transactions whose outcome we still answer queries about (bounded, oldest first out). */
const OUTCOME_LIMIT = 1000

interface DeletionLog {
  records: Record<string, TxRecord>
  /** [roomId, txId] oldest first: the core's tombstones, so a restart still ignores late messages. */
  tombstones: [string, string][]
}

type Machine = CoordinatorState | ParticipantState

/** What the driver needs of its node: peer-node.ts wires these to peer-links.ts and the room modules. */
export interface DeletionComponents {
  readonly nodeId: string
  readonly clock: Pick<Clock, 'now'>
  /** A fresh unique id (a transaction id): random, or from the simulator's seeded generator. */
  newId(): string
  /** Our name: known only once the node listens. */
  readonly name: string
  readonly directory: Directory
  readonly adminRooms: Map<string, AdminRoom>
  peerName(nodeId: string): string
  send(nodeId: string, m: PeerMessage): boolean
  broadcast(m: PeerMessage): void
  request: PeerLinks['request']
  /** One step of a room we administer (room-admin.ts), its effects carried out. */
  roomStep(room: AdminRoom, input: RoomInput): unknown
  dropRoom(roomId: string): void
  emit(e: ServerEvent): void
  emitToRoom(roomId: string, e: ServerEvent): void
  trace(kind: TraceKind, text: string, roomId?: string, peer?: string): void
  /**
   * Why this node may not coordinate the deletion of a replicated room now (it cannot reach a
   * majority of the room's replicas, so it may have been replaced: docs/replication.md), or undefined.
   */
  replicationRefusal?(roomId: string): string | undefined
  /**
   * A replicated room's COMMIT decision made part of its room state: resolves once a majority of
   * its replicas holds it, rejects if that cannot be (docs/replication.md, "Membership and
   * deletion"); undefined for a room that is not replicated (the decision goes on at once).
   */
  commitDeletion?(roomId: string, txId: string): Promise<void> | undefined
  /** This node holds a replica of the room (docs/replication.md). */
  isReplicated?(roomId: string): boolean
  /**
   * This node's room state of its term is on a majority of the room's replicas (true for a room
   * that is not replicated): only then is "abort" for a deletion it never heard of final.
   */
  stateSettled?(roomId: string): boolean
}

/** A decision held back by the `pauseBeforeDecisionMs` fault: the machine keeps its old state meanwhile. */
interface HeldDecision {
  dueAt: number
  state: CoordinatorState
  effects: TxEffect[]
}

export class DeletionDriver {
  /** Forwarded sends of this node's clients not answered yet: a vote waits for none (deletion-faults.ts). */
  private readonly inFlight = new SendsInFlight()
  private readonly config: TwoPhaseConfig
  private readonly machines = new Map<string, Machine>()
  private readonly held = new Map<string, HeldDecision>()
  /** COMMIT decisions waiting for the room's replicas to store them (txIds): nothing else moves them. */
  private readonly gating = new Set<string>()
  /** Outcomes of finished transactions (txId -> decision): answers queries and repeated messages. */
  private readonly outcomes = new Map<string, TxDecision>()
  private readonly records = new Map<string, TxRecord>()
  private tombstones: Tombstones = emptyTombstones()
  /** roomId -> txId holding the room frozen on this node. */
  private readonly frozen = new Map<string, string>()
  /** Rooms whose local users were told the room is blocked (so a rollback tells them it is back). */
  private readonly blocked = new Set<string>()
  /** txId -> the client waiting on `room.delete` (coordinator only). */
  private readonly waiting = new Map<string, (r: Results['room.delete']) => void>()
  /** `deletion` events and DeletionProgress reports, with node names put in (deletion-reports.ts). */
  private readonly reports: DeletionReports
  private readonly faults: DeletionFaults
  private stopped = false

  constructor(
    private readonly node: DeletionComponents,
    private readonly store: Pick<NodeStorage, 'load' | 'save'>,
    private readonly o: NodeOptions,
  ) {
    this.reports = new DeletionReports(node)
    this.faults = new DeletionFaults(!!o.allowFaults, (text) => node.trace('2pc', text))
    const voteTimeoutMs = Math.max(2000, 2 * o.deadMs)
    this.config = {
      voteTimeoutMs,
      resendMs: Math.max(500, 2 * o.heartbeatMs),
      // A participant waits as long as the coordinator may wait for votes before it starts asking:
      // asking earlier would only hear "unknown" from a coordinator that is still collecting.
      decisionTimeoutMs: voteTimeoutMs,
    }
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  /** Rooms whose deletion committed, oldest first (announced in Hello and gossip, peer-protocol.md §5). */
  tombstonedRooms(): string[] {
    return [...this.tombstones.rooms.keys()]
  }

  /** At start, after the node restored its rooms: tombstones first, then finish what the log holds. */
  recover(): void {
    const log = this.store.load<DeletionLog>(LOG_FILE, { records: {}, tombstones: [] })
    for (const [roomId, txId] of Array.isArray(log.tombstones) ? log.tombstones : []) {
      this.tombstones = addTombstone(this.tombstones, roomId, txId)
      // A crash between the decision and rooms.json's next flush could have left the room behind.
      if (this.node.adminRooms.has(roomId)) this.node.dropRoom(roomId)
      else removeEntry(this.node.directory, roomId, this.node.clock.now())
    }
    const now = this.node.clock.now()
    for (const record of Object.values(log.records ?? {})) {
      if (!record?.txId || !record.roomId) continue
      record.reason = reasonFromRecord(record.reason)
      this.records.set(record.txId, record)
      if (record.role === 'coordinator' && record.decision === null && this.node.isReplicated?.(record.roomId)) {
        // The COMMIT gap (docs/deletion.md, "Replicated rooms"): the COMMIT may have been stored
        // on a majority of the room's replicas, and the crash come before deletions.json had it.
        // Only the room's administrator (elected from those replicas) can tell, so this node does
        // not presume abort on its own: like a participant that voted READY, it keeps the room
        // frozen and asks the administrator, or decides as the administrator if elected again.
        const admin = this.node.directory.rooms.get(record.roomId)?.adminNodeId ?? this.node.nodeId
        const r = recoverParticipant({ ...record, role: 'participant', coordinator: admin }, now, this.config)
        this.node.trace('2pc', `recovered deletion ${short(record.txId)} as its coordinator, undecided: its room is replicated, asking its administrator`, record.roomId)
        this.setMachine({ ...r.state, self: this.node.nodeId })
        this.run(r.state, r.effects)
        continue
      }
      if (record.role === 'coordinator') {
        const r = recoverCoordinator({ ...record, coordinator: this.node.nodeId }, now, this.config)
        this.node.trace('2pc', `recovered deletion ${short(record.txId)} as coordinator: ${record.decision ?? 'undecided → presumed abort'}`, record.roomId)
        this.setMachine(r.state)
        this.run(r.state, r.effects)
      } else {
        const r = recoverParticipant(record, now, this.config)
        this.node.trace('2pc', `recovered deletion ${short(record.txId)} as participant: ${record.decision ?? 'voted READY, asking'}`, record.roomId)
        this.setMachine({ ...r.state, self: this.node.nodeId })
        this.run(r.state, r.effects)
      }
    }
  }

  stop(): void {
    this.stopped = true
    for (const [txId, resolve] of this.waiting) {
      resolve({ outcome: 'aborted', reason: 'the coordinating node is stopping; the decision will be finished when it restarts' })
      this.waiting.delete(txId)
    }
  }

  tick(now: number): void {
    // Most ticks find no deletion under way: no copy of an empty table every 50 ms.
    if (this.stopped || (this.held.size === 0 && this.machines.size === 0)) return
    for (const [txId, h] of this.held) {
      if (now < h.dueAt) continue
      this.held.delete(txId)
      this.node.trace('2pc', `fault pauseBeforeDecisionMs over: deciding ${h.state.decision}`, h.state.roomId)
      if (h.state.role === 'coordinator') this.proceed(h.state, h.effects)
      else {
        this.setMachine(h.state)
        this.run(h.state, h.effects)
      }
    }
    for (const m of [...this.machines.values()]) {
      if (this.held.has(m.txId)) continue
      if (m.role === 'coordinator') this.coordinator(m.txId, { type: 'tick', now })
      else {
        // The room changed administrator while we wait (a replica took it over): the new one has
        // the coordinator's part now (docs/deletion.md, "Replicated rooms").
        const admin = this.node.directory.rooms.get(m.roomId)?.adminNodeId
        if (m.decision === null && this.node.adminRooms.has(m.roomId) && this.node.isReplicated?.(m.roomId) && this.node.stateSettled?.(m.roomId)) {
          // This node administers the room now and its room state is on a majority, but the
          // take-over found it unsettled (no majority within the wait): decide now.
          this.tookOver(m.roomId)
          continue
        }
        if (m.decision === null && m.coordinator && admin && admin !== m.coordinator && admin !== this.node.nodeId) {
          this.node.trace('2pc', `deletion ${short(m.txId)}: the room is run by ${this.node.peerName(admin)} now; asking it for the outcome`, m.roomId)
          this.participant(m.txId, { type: 'new-coordinator', coordinator: admin, now })
        }
        this.participant(m.txId, { type: 'tick', now })
      }
    }
  }

  peerDead(nodeId: string): void {
    const now = this.node.clock.now()
    for (const m of [...this.machines.values()]) {
      if (m.role === 'coordinator' && !this.held.has(m.txId)) this.coordinator(m.txId, { type: 'peer-dead', peer: nodeId, now })
    }
  }

  // -------------------------------------------------------------------------------------------
  // What the node asks (client-ops.ts, room-admin.ts)

  /** Admin: no new seq while a deletion holds the room; member node: no new forward either. */
  blocksSend(roomId: string): boolean {
    return this.frozen.has(roomId)
  }

  /** How long a forwarded send waits before it leaves (fault injection; 0 normally). */
  forwardDelayMs(): number {
    return this.faults.delayForwardMs
  }

  sendStarted(roomId: string): void {
    this.inFlight.started(roomId)
  }

  sendFinished(roomId: string): void {
    this.inFlight.finished(roomId)
  }

  /** The client op `room.delete` on this node: coordinate here, or forward to the administrator. */
  async requestDelete(e: DirectoryEntry, user: string): Promise<Results['room.delete']> {
    if (e.adminNodeId === this.node.nodeId) return this.coordinate(e.roomId, user, this.node.nodeId)
    this.node.trace('2pc', `delete ${e.name} → ${e.adminNodeName} (coordinator)`, e.roomId, e.adminNodeName)
    const reply = await this.node.request<Bodies['deleteReply']>(
      e.adminNodeId,
      (reqId) => msg('deleteRequest', { reqId, roomId: e.roomId, user }),
      this.replyTimeoutMs(),
    )
    if (reply.error) throw errorFromPeer(reply.error.code, reply.error.message)
    return reply.committed ? { outcome: 'committed' } : { outcome: 'aborted', reason: reply.reason || 'aborted' }
  }

  setFaults(req: RequestOf<'node.faults'>): DeletionFaultSettings {
    return this.faults.set(req)
  }

  // -------------------------------------------------------------------------------------------
  // Peer messages: each kind's handler, called by the dispatch table (peer-dispatch.ts)

  /** A member node asks this administrator to delete a room; the reply says how it ended. */
  onDeleteRequest(from: string, req: Bodies['deleteRequest']): void {
    const { reqId, roomId, user } = req
    const reply = (b: Omit<Bodies['deleteReply'], 'reqId'>) => this.node.send(from, msg('deleteReply', { reqId, ...b }))
    this.coordinate(roomId, user, from).then(
      (r) => reply({ error: null, committed: r.outcome === 'committed', reason: r.reason ?? '' }),
      (err: Error) =>
        reply({
          error: err instanceof ChatError ? { code: err.code, message: err.message } : { code: 'internal', message: 'internal error' },
          committed: false,
          reason: '',
        }),
    )
  }

  onVote(from: string, v: Bodies['vote']): void {
    if (this.held.has(v.txId)) return
    this.coordinator(v.txId, { type: 'vote', from, ready: v.ready, reason: v.reason, now: this.node.clock.now() })
  }

  onDecisionAck(from: string, a: Bodies['decisionAck']): void {
    this.coordinator(a.txId, { type: 'ack', from, now: this.node.clock.now() })
  }

  onDecision(from: string, d: Bodies['decision']): void {
    const machine = this.machines.get(d.txId)
    if (machine?.role === 'participant') return this.participant(d.txId, { type: 'decision', from, commit: !!d.commit, now: this.node.clock.now() })
    // Finished here already, or never known: a repeated COMMIT/ROLLBACK is harmless (docs/deletion.md).
    this.node.trace('2pc', `repeated ${d.commit ? 'COMMIT' : 'ROLLBACK'} for ${short(d.txId)}: ack only`, d.roomId)
    this.run(undefined, ackUnknownDecision(from, d.txId))
  }

  onDecisionAnswer(from: string, a: Bodies['decisionAnswer']): void {
    const m = this.machines.get(a.txId)
    if (m?.role !== 'participant') return
    if (!mayAnswer(m, from)) {
      // Refused, and said so in the protocol log (docs/security.md): the machine ignores it too.
      this.node.trace('2pc', `refused decisionAnswer from ${this.node.peerName(from)} for ${short(a.txId)}: not asked, and not its coordinator`, m.roomId)
      return
    }
    this.participant(a.txId, { type: 'answer', from, known: !!a.known, commit: !!a.commit, now: this.node.clock.now() })
  }

  onDeletionProgress(from: string, p: Bodies['deletionProgress']): void {
    if (p.phase !== 'prepare' && p.phase !== 'commit' && p.phase !== 'abort') return
    // Only the room's administrator reports on its deletion; a late report of a deleted room is noise.
    if (isTombstoned(this.tombstones, p.roomId) && p.phase === 'prepare') return
    const e = this.node.directory.rooms.get(p.roomId)
    if (e && e.adminNodeId !== from) return
    const votes: Record<string, Vote> = {}
    for (const [k, v] of Object.entries(p.votes ?? {})) if (v === 'ready' || v === 'abort' || v === 'pending') votes[k] = v
    this.reports.received(p.roomId, p.phase, votes, p.reason || undefined)
  }

  // -------------------------------------------------------------------------------------------
  // Coordinator

  private async coordinate(roomId: string, user: string, fromNode: string): Promise<Results['room.delete']> {
    const room = this.node.adminRooms.get(roomId)
    if (!room || isTombstoned(this.tombstones, roomId)) throw new ChatError('not_found', `no room ${roomId} on this node`)
    const cutOff = this.node.replicationRefusal?.(roomId)
    if (cutOff) throw new ChatError('room_unavailable', cutOff)
    const refusal = deleteRefusal(room.createdBy, user, fromNode)
    if (refusal) throw new ChatError('forbidden', describeRefusal(refusal, room.name, (id) => this.node.peerName(id)))
    const busy = [...this.machines.values()].find((m) => m.roomId === roomId && !isFinished(m))
    if (busy || this.frozen.has(roomId)) {
      return { outcome: 'aborted', reason: `another deletion of room ${room.name} is in progress` }
    }
    // The coordinator's own vote, checked locally: the same rules a participant applies.
    const cause = abortCause({ voteAbortFault: this.faults.voteAbort, sendsInFlight: this.inFlight.count(roomId), otherDeletion: false })
    if (cause) {
      const reason = `node ${this.node.name} voted ABORT: ${describeAbortCause(cause)}`
      this.node.trace('2pc', reason, roomId)
      this.node.emitToRoom(roomId, { event: 'deletion', roomId, phase: 'abort', votes: { [this.node.name]: 'abort' }, reason })
      return { outcome: 'aborted', reason }
    }
    const txId = this.node.newId()
    const participants = memberNodes(room).filter((n) => n !== this.node.nodeId)
    this.node.trace('2pc', `PREPARE ${room.name} (tx ${short(txId)}) to ${participants.map((p) => this.node.peerName(p)).join(', ') || 'nobody else'}`, roomId)
    const done = new Promise<Results['room.delete']>((resolve) => this.waiting.set(txId, resolve))
    const r = startCoordinator({ txId, roomId, self: this.node.nodeId, participants, now: this.node.clock.now() }, this.config)
    this.proceed(r.state, r.effects)
    return await done
  }

  private coordinator(txId: string, input: Parameters<typeof coordinatorStep>[1]): void {
    const m = this.machines.get(txId)
    if (m?.role !== 'coordinator') {
      if (input.type === 'vote') this.node.trace('2pc', `late vote for finished ${short(txId)} from ${this.node.peerName(input.from)}: ignored`)
      return
    }
    if (this.gating.has(txId)) {
      // The COMMIT is being stored on the room's replicas: still undecided to everyone asking.
      if (input.type === 'query') this.run(m, coordinatorStep(m, input).effects)
      return
    }
    const r = coordinatorStep(m, input)
    const decides = m.decision === null && r.state.decision !== null
    if (decides && this.faults.pauseBeforeDecisionMs > 0) {
      // Fault injection: every vote is in (or a timeout fired), but the decision is neither persisted
      // nor sent for a while. The machine keeps its undecided state, so a DecisionQuery meanwhile is
      // answered "unknown", exactly as a coordinator that is slow (or about to crash) would answer.
      const ms = this.faults.pauseBeforeDecisionMs
      this.held.set(txId, { dueAt: this.node.clock.now() + ms, state: r.state, effects: r.effects })
      this.node.trace('2pc', `fault: holding the ${r.state.decision} decision of ${short(txId)} for ${ms} ms before persisting it`, m.roomId)
      // Show the complete votes now: the window a demo (or test) kills the coordinator in.
      this.reports.progress(r.state, 'prepare', undefined, r.state.votes)
      return
    }
    this.proceed(r.state, r.effects)
  }

  /**
   * Carry out a coordinator step. A COMMIT of a replicated room is first made part of the room's
   * replicated state (docs/replication.md, "Membership and deletion"): only once a majority of its
   * replicas holds it is the decision written to deletions.json and sent; if it cannot be stored
   * (this node was deposed, or cannot reach a majority) the deletion aborts. So a replica elected
   * later knows whether the room was deleted: committed, it finishes the deletion; otherwise the
   * deletion never happened anywhere (presumed abort).
   */
  private proceed(state: CoordinatorState, effects: TxEffect[]): void {
    const at = effects.findIndex((e) => e.type === 'persist' && e.record.decision === 'commit')
    const gate = state.decision === 'commit' && at >= 0 ? this.node.commitDeletion?.(state.roomId, state.txId) : undefined
    if (!gate) {
      this.setMachine(state)
      this.run(state, effects)
      return
    }
    const undecided: CoordinatorState = { ...state, phase: 'preparing', decision: null, reason: null }
    this.setMachine(undecided)
    this.run(undecided, effects.slice(0, at))
    this.gating.add(state.txId)
    this.node.trace('2pc', `COMMIT ${short(state.txId)} waits for a majority of the room's replicas to store it`, state.roomId)
    gate.then(
      () => {
        this.gating.delete(state.txId)
        if (this.stopped || this.machines.get(state.txId) !== undecided) return
        this.setMachine(state)
        this.run(state, effects.slice(at))
      },
      (err: Error) => {
        this.gating.delete(state.txId)
        if (this.stopped || this.machines.get(state.txId) !== undecided) return
        const text = `the deletion could not be stored on a majority of the room's replicas (${err.message})`
        this.node.trace('2pc', `ABORT ${short(state.txId)}: ${text}`, state.roomId)
        const r = coordinatorStep(undecided, { type: 'abort', reason: { code: 'text', text }, now: this.node.clock.now() })
        this.setMachine(r.state)
        this.run(r.state, r.effects)
      },
    )
  }

  /**
   * This node was elected for a replicated room whose deletion its predecessor committed (the
   * decision is in the room state): finish it here as the coordinator (docs/deletion.md, "Replicated
   * rooms"): the room goes (tombstone, RoomRemoved), and the COMMIT is sent to the deletion's
   * participants until each acks, so none stays blocked on the dead coordinator. The participants
   * are those this node knew as one of them, else the nodes with members in the room state (a
   * deletion holds the room frozen: nobody joined since its PREPARE).
   */
  finishReplicatedDeletion(roomId: string, txId: string, memberNodes: readonly string[] = []): void {
    if (isTombstoned(this.tombstones, roomId)) return
    this.node.trace('2pc', `COMMIT ${short(txId)} of a predecessor found in the room state: finishing it as the coordinator`, roomId)
    const mine = this.machines.get(txId)
    const replaced = mine?.role === 'participant' ? mine.coordinator : (this.node.directory.rooms.get(roomId)?.adminNodeId ?? '')
    const participants = mine?.role === 'participant' ? mine.others : memberNodes
    const r = takeOverCoordinator({ txId, roomId, self: this.node.nodeId, participants, committed: true, replaced, now: this.node.clock.now() }, this.config)
    this.setMachine(r.state)
    this.run(r.state, r.effects)
  }

  /**
   * This node took a replicated room over (docs/replication.md) without a COMMIT in its room state: a
   * deletion of it that this node voted READY for is presumed aborted, and this node, the room's
   * administrator now, tells the other participants (docs/deletion.md, "Replicated rooms"). A
   * participant of a deletion this node never heard of asks it (their directory names it), and is
   * answered "abort" the same way (onQuery: the administrator has no record of it).
   */
  tookOver(roomId: string): void {
    if (!this.node.adminRooms.has(roomId)) return // deposed meanwhile: the next administrator decides
    for (const m of [...this.machines.values()]) {
      if (m.role !== 'participant' || m.roomId !== roomId || m.decision !== null || this.held.has(m.txId)) continue
      this.node.trace('2pc', `deletion ${short(m.txId)} of ${this.node.peerName(m.coordinator)} undecided when this node took the room over: ROLLBACK (presumed abort)`, roomId)
      const r = takeOverCoordinator({ txId: m.txId, roomId, self: this.node.nodeId, participants: m.others, committed: false, replaced: m.coordinator, now: this.node.clock.now() }, this.config)
      this.setMachine(r.state)
      this.run(r.state, r.effects)
    }
  }

  // -------------------------------------------------------------------------------------------
  // Participant

  onPrepare(from: string, p: Bodies['prepare'], now = this.node.clock.now()): void {
    const existing = this.machines.get(p.txId)
    if (existing?.role === 'participant') return this.participant(p.txId, { type: 'prepare', coordinator: from, now })
    const known = this.outcomes.get(p.txId)
    if (known) {
      // A Prepare after this node already knows the outcome (abortBeforePrepare, or a late resend).
      if (known === 'abort') this.run(undefined, [voteSend(from, p.txId, false, 'this deletion was already aborted here')])
      return
    }
    if (isTombstoned(this.tombstones, p.roomId)) {
      this.node.trace('2pc', `PREPARE for deleted room ${p.roomId}: ignored (tombstone)`, p.roomId)
      return
    }
    const e = this.node.directory.rooms.get(p.roomId)
    if (e && e.adminNodeId !== from) {
      this.node.trace('2pc', `PREPARE for ${e.name} from ${this.node.peerName(from)}, not its administrator: ignored`, p.roomId)
      return
    }
    // The participant's vote (docs/deletion.md): ABORT when it cannot delete now.
    const other = [...this.machines.values()].find((m) => m.roomId === p.roomId && m.txId !== p.txId && !isFinished(m))
    const cause = abortCause({
      voteAbortFault: this.faults.voteAbort,
      sendsInFlight: this.inFlight.count(p.roomId),
      otherDeletion: !!other || (this.frozen.has(p.roomId) && this.frozen.get(p.roomId) !== p.txId),
    })
    const reason = cause ? describeAbortCause(cause) : ''
    this.reports.started(p.roomId, p.txId)
    const r = startParticipant(
      { txId: p.txId, roomId: p.roomId, self: this.node.nodeId, coordinator: from, participants: p.participants, canCommit: !reason, reason, now },
      this.config,
    )
    this.node.trace('2pc', `PREPARE ${short(p.txId)} from ${this.node.peerName(from)}: voting ${reason ? `ABORT (${reason})` : 'READY'}`, p.roomId, this.node.peerName(from))
    this.setMachine(r.state)
    this.run(r.state, r.effects)
  }

  private participant(txId: string, input: Parameters<typeof participantStep>[1]): void {
    const m = this.machines.get(txId)
    if (m?.role !== 'participant') return
    const r = participantStep(m, input)
    this.setMachine(r.state)
    this.run(r.state, r.effects)
    if (input.type === 'answer' && m.decision === null && r.state.decision === 'abort') {
      // Learned from a query, not from the coordinator: no progress report will follow, so say it here.
      this.reports.learnedAbort(m, input.from)
    }
  }

  onQuery(from: string, q: Bodies['decisionQuery'], now = this.node.clock.now()): void {
    const m = this.machines.get(q.txId)
    if (m?.role === 'coordinator') {
      // While a decision is held back (fault), the coordinator's state is still undecided: "unknown".
      this.coordinator(q.txId, { type: 'query', from, now })
      return
    }
    if (m?.role === 'participant') return this.participant(q.txId, { type: 'query', from, now })
    const known = this.outcomes.get(q.txId) ?? (tombstoneTx(this.tombstones, q.roomId) === q.txId ? 'commit' : undefined)
    if (known) {
      this.run(undefined, [{ type: 'send', to: from, message: { decisionAnswer: { txId: q.txId, known: true, commit: known === 'commit' } } }])
      return
    }
    if (this.node.adminRooms.has(q.roomId)) {
      // We administer the room and have no record of the tx: it never got decided here (presumed
      // abort). A replicated room's new administrator says so only once its room state is on a
      // majority (docs/deletion.md, "Replicated rooms"); until then: unknown, ask again.
      if (this.node.stateSettled?.(q.roomId) === false) {
        this.run(undefined, [{ type: 'send', to: from, message: { decisionAnswer: { txId: q.txId, known: false, commit: false } } }])
        return
      }
      this.run(undefined, presumedAbortAnswer(from, q.txId))
      return
    }
    // We never saw the Prepare: we have not voted, so we may abort unilaterally and say so; a late
    // Prepare will then get an ABORT vote (outcomes remembers it).
    const r = abortBeforePrepare({ txId: q.txId, roomId: q.roomId, self: this.node.nodeId, from, now }, this.config)
    this.node.trace('2pc', `asked about ${short(q.txId)} before its PREPARE: aborting it here`, q.roomId)
    this.remember(q.txId, 'abort')
    this.run(undefined, r.effects)
  }

  // -------------------------------------------------------------------------------------------
  // Effects, in the order the core returned them

  private run(state: Machine | undefined, effects: TxEffect[]): void {
    for (const e of effects) {
      try {
        this.effect(state, e, effects)
      } catch (err) {
        // A failed persist must stop the step: sending after a lost write breaks recovery.
        this.o.log?.(`deletion effect ${e.type} failed: ${(err as Error).stack}`)
        if (e.type === 'persist') return
      }
    }
  }

  private effect(state: Machine | undefined, e: TxEffect, batch: TxEffect[]): void {
    switch (e.type) {
      case 'persist':
        this.records.set(e.record.txId, e.record)
        this.saveLog()
        return
      case 'forget':
        if (this.records.delete(e.txId)) this.saveLog()
        return
      case 'send':
        this.sendTx(e.to, e.message)
        // A decision sent again, without a report in its batch: the report goes with it.
        if (state?.role === 'coordinator' && 'decision' in e.message && !batch.some((x) => x.type === 'progress')) this.reports.resendOutcome(state, e.to)
        return
      case 'freeze': {
        this.frozen.set(e.roomId, e.txId)
        const room = this.node.adminRooms.get(e.roomId)
        // The administrator's directory entry carries `frozen`, gossiped so every node shows it.
        if (room) this.node.roomStep(room, { type: 'freeze', frozen: true })
        this.node.trace('2pc', `room frozen for deletion ${short(e.txId)} (message.send → room_busy)`, e.roomId)
        return
      }
      case 'apply':
        return this.apply(state, e, batch)
      case 'progress':
        if (state?.role === 'coordinator') this.reports.progress(state, e.phase, e.reason, e.votes)
        return
      case 'done': {
        const resolve = this.waiting.get(e.txId)
        this.waiting.delete(e.txId)
        resolve?.(e.outcome === 'committed' ? { outcome: 'committed' } : { outcome: 'aborted', reason: e.reason ? this.reports.describe(e.reason) : 'aborted' })
        return
      }
      case 'blocked': {
        // 2PC's blocking case: the room stays frozen; every local client learns why (docs/deletion.md).
        this.blocked.add(e.roomId)
        const reason = this.reports.describe(e.reason)
        this.node.trace('2pc', `BLOCKED on ${short(e.txId)}: ${reason}`, e.roomId)
        this.node.emit({ event: 'room.unavailable', roomId: e.roomId, reason: `deletion undecided: ${reason}` })
        return
      }
    }
  }

  private apply(state: Machine | undefined, e: Extract<TxEffect, { type: 'apply' }>, batch: TxEffect[]): void {
    const roomId = e.roomId
    const coordinator = state?.role === 'coordinator' || (state === undefined && this.node.adminRooms.has(roomId))
    if (e.commit) {
      // Tell the room's local members how it ended before they lose the room (room.deleted follows).
      const final = batch.find((x): x is Extract<TxEffect, { type: 'progress' }> => x.type === 'progress' && x.phase === 'commit')
      this.reports.committed(e.txId, roomId, state, final?.votes)
      this.tombstones = addTombstone(this.tombstones, roomId, e.txId)
      this.saveLog()
      this.frozen.delete(roomId)
      this.blocked.delete(roomId)
      const had = this.node.directory.rooms.has(roomId)
      this.node.dropRoom(roomId)
      // Nodes without members took no part but list the room: they drop it from their directory too.
      if (coordinator) this.node.broadcast(msg('roomRemoved', { roomId }))
      this.node.trace('2pc', `COMMIT ${short(e.txId)}: room deleted${had ? '' : ' (was not listed here)'}`, roomId)
      this.remember(e.txId, 'commit')
      return
    }
    if (this.frozen.get(roomId) === e.txId || !this.frozen.has(roomId)) {
      this.frozen.delete(roomId)
      const room = this.node.adminRooms.get(roomId)
      if (room) this.node.roomStep(room, { type: 'freeze', frozen: false })
    }
    this.node.trace('2pc', `ROLLBACK ${short(e.txId)}: room kept`, roomId)
    if (this.blocked.delete(roomId)) {
      this.node.emit({ event: 'room.available', roomId, reason: 'the deletion was rolled back' })
    }
    this.remember(e.txId, 'abort')
  }

  private sendTx(to: string, message: TxMessage): void {
    if (to === this.node.nodeId || !to) return
    // A missing link is not an error: the core resends (decision) or asks again (query) on its ticks.
    this.node.send(to, message as unknown as PeerMessage)
  }

  // -------------------------------------------------------------------------------------------
  // Bookkeeping

  private setMachine(m: Machine): void {
    if (isFinished(m) && (m.role === 'participant' || m.phase === 'finished')) {
      this.machines.delete(m.txId)
      if (m.decision) this.remember(m.txId, m.decision)
      return
    }
    this.machines.set(m.txId, m)
  }

  private remember(txId: string, decision: TxDecision): void {
    this.outcomes.delete(txId)
    this.outcomes.set(txId, decision)
    while (this.outcomes.size > OUTCOME_LIMIT) this.outcomes.delete(this.outcomes.keys().next().value as string)
  }

  private saveLog(): void {
    const log: DeletionLog = { records: Object.fromEntries(this.records), tombstones: [...this.tombstones.rooms.entries()] }
    this.store.save(LOG_FILE, log)
  }

  /**
   * How long a forwarded `room.delete` may wait: every vote, a held decision (fault, up to a minute)
   * and slack. A dead coordinator fails the request at once (peer-links.ts rejects on peer-dead).
   */
  private replyTimeoutMs(): number {
    return this.config.voteTimeoutMs + 65_000
  }
}

function isFinished(m: Machine): boolean {
  return m.role === 'coordinator' ? m.phase !== 'preparing' : m.stage === 'finished'
}

function voteSend(to: string, txId: string, ready: boolean, reason: string): TxEffect {
  return { type: 'send', to, message: { vote: { txId, ready, reason } } }
}

function short(txId: string): string {
  return txId.slice(0, 8)
}
