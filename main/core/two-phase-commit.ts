/**
 * Room deletion by two-phase commit (docs/architecture.md §4;
 * peer.proto messages Prepare, VoteReply, Decision, DecisionAck, DecisionQuery, DecisionAnswer).
 * Pure state machines: no clock, no timers, no I/O. Time comes in as `now`.
 *
 * One machine per transaction (txId) per node: the room's administrator runs a Coordinator, every
 * other node with members of the room runs a Participant. The driver keeps them in a Map by txId and
 * carries out the returned effects IN ARRAY ORDER, awaiting `persist` before any later `send`
 * (docs/architecture.md §2: persist first, then send). That order is what makes recovery correct:
 * the coordinator's decision is on disk before any participant can hear it.
 *
 * COORDINATOR
 *   startCoordinator({ txId, roomId, self, participants, now }, config?)   -> { state, effects }
 *       participants: node ids with members of the room (self may be among them; it is skipped).
 *       effects: freeze, persist(start, decision null), progress(prepare, all pending),
 *                send Prepare to each participant. No participant: decides commit at once.
 *   coordinatorStep(state, input)                                          -> { state, effects }
 *       { type: 'vote', from, ready, reason, now }    a VoteReply
 *       { type: 'ack', from, now }                    a DecisionAck
 *       { type: 'query', from, now }                  a DecisionQuery -> send DecisionAnswer
 *       { type: 'peer-dead', peer, now }              failure detector said dead: abort if preparing
 *       { type: 'tick', now }                         vote timeout (presumed abort); decision resend
 *   recoverCoordinator(record, now, config?)                               -> { state, effects }
 *       after a restart, from the persisted TxRecord: decided -> resend it; undecided -> abort.
 *   presumedAbortAnswer(to, txId)                                          -> TxEffect[]
 *       the administrator has no machine and no record for txId: presumed abort says "abort".
 *   takeOverCoordinator({ txId, roomId, self, participants, committed, replaced, now }, config?)
 *       a replicated room's new administrator finishes the deletion its predecessor began:
 *       commit if the COMMIT is in the room's replicated state, else abort (presumed abort); the
 *       decision is persisted, sent to every participant until acked, applied and reported.
 *
 *   On decision: persist(decision) THEN send Decision to each participant THEN apply locally THEN
 *   progress(commit|abort) THEN done(committed|aborted, reason). Once every participant acked:
 *   forget(txId) (the record may be deleted, the machine dropped).
 *
 * PARTICIPANT
 *   startParticipant({ txId, roomId, self, coordinator, participants, canCommit, reason, now }, config?)
 *       a Prepare arrived: canCommit -> freeze, persist(vote READY), send vote ready;
 *                          otherwise -> send vote abort with the reason (outcome known: abort).
 *   participantStep(state, input)                                          -> { state, effects }
 *       { type: 'prepare', coordinator, now }         a repeated Prepare: send the same vote again
 *       { type: 'decision', from, commit, now }       a Decision: apply once, ack every time
 *       { type: 'answer', from, known, commit, now }  a DecisionAnswer to our query
 *       { type: 'query', from, now }                  another participant asks us -> DecisionAnswer
 *       { type: 'tick', now }                         no decision in time -> query, then block
 *       { type: 'new-coordinator', coordinator, now } the room has a new administrator (a replica
 *                                                     took it over): it decides now; ask it at once
 *   abortBeforePrepare({ txId, roomId, self, from, now }, config?)         -> { state, effects }
 *       a DecisionQuery for a tx we never got a Prepare for: we have not voted, so we abort
 *       unilaterally, answer "abort", and will vote ABORT if the Prepare still comes.
 *   recoverParticipant(record, now, config?)                               -> { state, effects }
 *       after a restart: a READY vote without a decision -> freeze again, ask the coordinator.
 *   ackUnknownDecision(to, txId)                                           -> TxEffect[]
 *       a Decision for a tx with no machine (finished, or unknown): ack only, apply nothing.
 *
 * TOMBSTONES  emptyTombstones(max?), addTombstone(t, roomId, txId), isTombstoned(t, roomId),
 *             tombstoneTx(t, roomId): a bounded FIFO of deleted rooms, so late messages about a
 *             deleted room are ignored (docs/deletion.md).
 *
 * EFFECTS (TxEffect), for the driver:
 *   persist  { record }                 write TxRecord under record.txId (overwrite); await it
 *   forget   { txId }                   the record may be deleted and the machine dropped
 *   send     { to, message }            message is a peer.proto PeerMessage body (camelCase fields)
 *   freeze   { txId, roomId }           room accepts no new messages (`room_busy`) until apply
 *   apply    { txId, roomId, commit }   commit: delete the room's state, tombstone it, `room.deleted`;
 *                                       abort: unfreeze. Idempotent at the driver (recovery repeats it)
 *   progress { txId, roomId, phase, votes, reason? }   `deletion` event / DeletionProgress to members
 *   done     { txId, roomId, outcome, reason? }        the reply to `room.delete` (coordinator only)
 *   blocked  { txId, roomId, reason }   participant cannot learn the outcome: room stays frozen,
 *                                       tell its users why (docs/deletion.md)
 */
import type { DeletionPhase, Vote } from '../../proto/client-protocol'

export type TxDecision = 'commit' | 'abort'

export interface TwoPhaseConfig {
  /** Coordinator: missing votes after this long -> presumed abort. */
  voteTimeoutMs: number
  /** Coordinator: resend the decision to participants that have not acked, this often. */
  resendMs: number
  /** Participant: wait this long for a decision, then for each round of queries. */
  decisionTimeoutMs: number
}

export const DEFAULT_TWO_PHASE_CONFIG: Readonly<TwoPhaseConfig> = {
  voteTimeoutMs: 5000,
  resendMs: 1000,
  decisionTimeoutMs: 2000,
}

/** Bodies of peer.proto PeerMessage (the oneof field name is the key), as the driver sends them. */
export type TxMessage =
  | { prepare: { txId: string; roomId: string; participants: string[] } }
  | { vote: { txId: string; ready: boolean; reason: string } }
  | { decision: { txId: string; roomId: string; commit: boolean } }
  | { decisionAck: { txId: string } }
  | { decisionQuery: { txId: string; roomId: string } }
  | { decisionAnswer: { txId: string; known: boolean; commit: boolean } }

/** What a node keeps in its data dir about a transaction, to recover it after a restart. */
export interface TxRecord {
  txId: string
  roomId: string
  role: 'coordinator' | 'participant'
  coordinator: string
  /** Participants other than the coordinator. */
  participants: string[]
  /** null: started (coordinator) or voted READY (participant), outcome not known yet. */
  decision: TxDecision | null
  /** Coordinator: why it aborted (null otherwise, and always for a participant). */
  reason: TxReason | null
}

/**
 * Why a deletion rolled back, or why a participant is stuck: a code and the node ids involved, so the
 * core never writes words about nodes it only knows by id. `describeTxReason` makes the words once
 * the caller says what each node is called (docs/deletion.md).
 */
export type TxReason =
  /** A participant voted ABORT; `why` is its own words (Vote.reason on the wire). */
  | { code: 'voted-abort'; node: string; why: string }
  | { code: 'node-dead'; node: string }
  /** Presumed abort: these participants did not vote in time. */
  | { code: 'no-vote'; nodes: string[] }
  | { code: 'coordinator-restarted' }
  /**
   * A replicated room's administrator (the coordinator) was replaced before its COMMIT was in the
   * room's replicated state: the new administrator presumes abort (docs/replication.md).
   */
  | { code: 'coordinator-replaced'; node: string; by: string }
  /** A participant voted READY and nobody it asked knows the outcome: 2PC's blocking case. */
  | { code: 'outcome-unknown'; asked: string[] }
  /** Words kept from a record written before reasons had codes. */
  | { code: 'text'; text: string }

export function describeTxReason(r: TxReason, nameOf: (nodeId: string) => string): string {
  switch (r.code) {
    case 'voted-abort':
      return `node ${nameOf(r.node)} voted ABORT: ${r.why || 'no reason given'}`
    case 'node-dead':
      return `node ${nameOf(r.node)} is dead`
    case 'no-vote':
      return `no vote from ${r.nodes.map(nameOf).join(', ')}`
    case 'coordinator-restarted':
      return 'the coordinator restarted before deciding'
    case 'coordinator-replaced':
      return `the coordinator ${nameOf(r.node)} was replaced by ${nameOf(r.by)} before deciding`
    case 'outcome-unknown':
      return `voted READY and nobody reachable knows the outcome (asked ${r.asked.map(nameOf).join(', ')}); the room stays frozen until the coordinator returns`
    case 'text':
      return r.text
  }
}

/** A record's reason as read back from the data dir: older records hold words, or ''. */
export function reasonFromRecord(stored: unknown): TxReason | null {
  if (typeof stored === 'string') return stored ? { code: 'text', text: stored } : null
  if (stored && typeof stored === 'object' && typeof (stored as { code?: unknown }).code === 'string') return stored as TxReason
  return null
}

export type TxEffect =
  | { type: 'persist'; record: TxRecord }
  | { type: 'forget'; txId: string }
  | { type: 'send'; to: string; message: TxMessage }
  | { type: 'freeze'; txId: string; roomId: string }
  | { type: 'apply'; txId: string; roomId: string; commit: boolean }
  | {
      type: 'progress'
      txId: string
      roomId: string
      phase: DeletionPhase
      votes: Record<string, Vote>
      reason?: TxReason
    }
  | { type: 'done'; txId: string; roomId: string; outcome: 'committed' | 'aborted'; reason?: TxReason }
  | { type: 'blocked'; txId: string; roomId: string; reason: TxReason }

// =============================================================================================
// Coordinator

export interface CoordinatorState {
  readonly role: 'coordinator'
  readonly config: Readonly<TwoPhaseConfig>
  readonly txId: string
  readonly roomId: string
  readonly self: string
  /** Participants other than the coordinator itself, in the order given. */
  readonly participants: readonly string[]
  /** preparing: collecting votes; decided: waiting for acks; finished: every participant acked. */
  readonly phase: 'preparing' | 'decided' | 'finished'
  readonly votes: Readonly<Record<string, Vote>>
  readonly startedAt: number
  readonly decision: TxDecision | null
  /** Why it aborted (null until then, and for a commit). */
  readonly reason: TxReason | null
  readonly acked: readonly string[]
  /** When the decision was last sent (for resendMs). */
  readonly sentAt: number
}

export type CoordinatorInput =
  | { type: 'vote'; from: string; ready: boolean; reason: string; now: number }
  | { type: 'ack'; from: string; now: number }
  | { type: 'query'; from: string; now: number }
  | { type: 'peer-dead'; peer: string; now: number }
  | { type: 'tick'; now: number }
  /**
   * The node could not make the decision durable where it must be (a replicated room's COMMIT not
   * stored on a majority of its replicas, docs/replication.md): abort while still undecided.
   */
  | { type: 'abort'; reason: TxReason; now: number }

export interface CoordinatorResult {
  state: CoordinatorState
  effects: TxEffect[]
}

export interface CoordinatorStart {
  txId: string
  roomId: string
  /** The coordinator's own node id (the room's administrator). */
  self: string
  /** Node ids with members of the room; self may be included, it is skipped. */
  participants: readonly string[]
  now: number
}

export function startCoordinator(
  start: CoordinatorStart,
  config: TwoPhaseConfig = DEFAULT_TWO_PHASE_CONFIG,
): CoordinatorResult {
  const participants = unique(start.participants.filter((p) => p !== start.self))
  const state = newCoordinator(start, participants, 'pending', config)
  // Phase 1 (docs/deletion.md). Freeze first: the administrator orders the room's messages,
  // so no new message may be sequenced while the deletion is being decided. The start record lets a
  // restarted coordinator tell its participants "abort" instead of leaving them to time out.
  const effects: TxEffect[] = [
    { type: 'freeze', txId: state.txId, roomId: state.roomId },
    { type: 'persist', record: coordinatorRecord(state) },
  ]
  for (const p of participants) {
    effects.push({
      type: 'send',
      to: p,
      message: { prepare: { txId: state.txId, roomId: state.roomId, participants: [...participants] } },
    })
  }
  // The progress report after the Prepares: a participant must have the Prepare (which names the tx)
  // before the report about it, and one link delivers in order.
  effects.push(progressEffect(state, 'prepare'))
  if (participants.length === 0) {
    // Nobody else to ask: the coordinator's own READY is the only vote (docs/deletion.md: "decide at once").
    const decided = decide(state, 'commit', null, start.now)
    return { state: decided.state, effects: [...effects, ...decided.effects] }
  }
  return { state, effects }
}

export function coordinatorStep(state: CoordinatorState, input: CoordinatorInput): CoordinatorResult {
  switch (input.type) {
    case 'vote':
      return onVote(state, input.from, input.ready, input.reason, input.now)
    case 'ack':
      return onAck(state, input.from)
    case 'query':
      // A participant that voted READY asks (cooperative termination, step 1). While still collecting
      // votes the coordinator does not know yet: "unknown" keeps the participant waiting.
      return {
        state,
        effects: [answerEffect(input.from, state.txId, state.decision)],
      }
    case 'peer-dead':
      // A participant that is dead cannot delete its copy of the room: abort rather than wait for the
      // vote timeout. After the decision a dead participant changes nothing: it learns the decision
      // from the resends when it comes back.
      if (state.phase !== 'preparing' || !state.participants.includes(input.peer)) {
        return { state, effects: [] }
      }
      return decide(state, 'abort', { code: 'node-dead', node: input.peer }, input.now)
    case 'tick':
      return onTick(state, input.now)
    case 'abort':
      return state.phase === 'preparing' ? decide(state, 'abort', input.reason, input.now) : { state, effects: [] }
  }
}

function onVote(
  state: CoordinatorState,
  from: string,
  ready: boolean,
  reason: string,
  now: number,
): CoordinatorResult {
  if (!state.participants.includes(from)) return { state, effects: [] }
  if (state.phase !== 'preparing') {
    // A late or repeated vote after the decision: the voter evidently has not got the decision yet,
    // so send it again (harmless: participants apply a decision once and ack every copy).
    if (state.decision === null || state.acked.includes(from)) return { state, effects: [] }
    return { state, effects: [decisionEffect(state, from)] }
  }
  // The first vote of a participant counts; a repeat (resent Prepare) changes nothing.
  if (state.votes[from] !== 'pending') return { state, effects: [] }
  const voted: CoordinatorState = { ...state, votes: { ...state.votes, [from]: ready ? 'ready' : 'abort' } }
  if (!ready) {
    // Any ABORT -> ROLLBACK (docs/deletion.md), with the node and its reason for the reply.
    return decide(voted, 'abort', { code: 'voted-abort', node: from, why: reason }, now)
  }
  if (voted.participants.every((p) => voted.votes[p] === 'ready')) {
    return decide(voted, 'commit', null, now)
  }
  return { state: voted, effects: [progressEffect(voted, 'prepare')] }
}

function onAck(state: CoordinatorState, from: string): CoordinatorResult {
  if (state.phase !== 'decided' || !state.participants.includes(from) || state.acked.includes(from)) {
    return { state, effects: [] }
  }
  const acked = [...state.acked, from]
  if (acked.length < state.participants.length) return { state: { ...state, acked }, effects: [] }
  // Everyone knows the outcome, so nobody will ever ask again: the log record can go.
  return { state: { ...state, acked, phase: 'finished' }, effects: [{ type: 'forget', txId: state.txId }] }
}

function onTick(state: CoordinatorState, now: number): CoordinatorResult {
  if (state.phase === 'preparing') {
    if (now - state.startedAt < state.config.voteTimeoutMs) return { state, effects: [] }
    // Presumed abort (docs/deletion.md): a vote that did not come in time counts as ABORT.
    const missing = state.participants.filter((p) => state.votes[p] === 'pending')
    return decide(state, 'abort', { code: 'no-vote', nodes: missing }, now)
  }
  if (state.phase === 'decided' && now - state.sentAt >= state.config.resendMs) {
    // Phase 2 must reach everyone: keep resending to whoever has not acked (a dead or slow node).
    const effects = state.participants
      .filter((p) => !state.acked.includes(p))
      .map((p) => decisionEffect(state, p))
    return { state: { ...state, sentAt: now }, effects }
  }
  return { state, effects: [] }
}

function decide(state: CoordinatorState, decision: TxDecision, reason: TxReason | null, now: number): CoordinatorResult {
  const finished = state.participants.every((p) => state.acked.includes(p))
  const next: CoordinatorState = {
    ...state,
    phase: finished ? 'finished' : 'decided',
    decision,
    reason,
    sentAt: now,
  }
  // Persist before any send (docs/architecture.md §2): once a participant has heard the decision,
  // a restarted coordinator must resend that same decision, never presume abort.
  const effects: TxEffect[] = [{ type: 'persist', record: coordinatorRecord(next) }]
  for (const p of next.participants) if (!next.acked.includes(p)) effects.push(decisionEffect(next, p))
  effects.push({ type: 'apply', txId: next.txId, roomId: next.roomId, commit: decision === 'commit' })
  effects.push(progressEffect(next, decision))
  effects.push({
    type: 'done',
    txId: next.txId,
    roomId: next.roomId,
    outcome: decision === 'commit' ? 'committed' : 'aborted',
    ...(decision === 'abort' && reason ? { reason } : {}),
  })
  if (finished) effects.push({ type: 'forget', txId: next.txId })
  return { state: next, effects }
}

/**
 * After a restart, from the record the coordinator persisted (docs/deletion.md). A decided tx
 * resends its decision (and re-applies it locally: the crash may have come between persist and
 * apply). An undecided tx was never announced to anyone as decided, so abort is safe: presumed abort.
 * No `done`: the client that asked is gone with the old process.
 */
export function recoverCoordinator(
  record: TxRecord,
  now: number,
  config: TwoPhaseConfig = DEFAULT_TWO_PHASE_CONFIG,
): CoordinatorResult {
  const votes: Record<string, Vote> = {}
  for (const p of record.participants) votes[p] = 'pending'
  const base: CoordinatorState = {
    role: 'coordinator',
    config,
    txId: record.txId,
    roomId: record.roomId,
    self: record.coordinator,
    participants: unique(record.participants),
    phase: 'decided',
    votes,
    startedAt: now,
    decision: record.decision,
    reason: record.reason,
    acked: [],
    sentAt: now,
  }
  if (record.decision === null) {
    const decided = decide(base, 'abort', { code: 'coordinator-restarted' }, now)
    return { state: decided.state, effects: decided.effects.filter((e) => e.type !== 'done') }
  }
  const commit = record.decision === 'commit'
  const effects: TxEffect[] = base.participants.map((p) => decisionEffect(base, p))
  effects.push({ type: 'apply', txId: base.txId, roomId: base.roomId, commit })
  if (base.participants.length === 0) {
    effects.push({ type: 'forget', txId: base.txId })
    return { state: { ...base, phase: 'finished' }, effects }
  }
  return { state: base, effects }
}

/**
 * A replicated room changed administrator during its deletion (docs/replication.md, "Membership
 * and deletion"): the new administrator takes the coordinator's part. Whether the room was deleted
 * is decided where its log is: a COMMIT stored on a majority of the replicas is in the room state
 * the new administrator was elected with (`committed`), and then the deletion commits; otherwise
 * no participant can have heard COMMIT (it is sent only once so stored), so abort is safe (presumed
 * abort). Either way the decision is persisted first, then sent to every participant until each
 * acks (they were blocked, or about to be: their coordinator is gone), then applied and reported.
 * No `done`: the client that asked was the old coordinator's.
 */
export function takeOverCoordinator(
  t: { txId: string; roomId: string; self: string; participants: readonly string[]; committed: boolean; replaced: string; now: number },
  config: TwoPhaseConfig = DEFAULT_TWO_PHASE_CONFIG,
): CoordinatorResult {
  const participants = unique(t.participants.filter((p) => p !== t.self && p !== t.replaced && p !== ''))
  // Every participant had voted READY, or the deletion could not have reached the room state.
  const base = newCoordinator(t, participants, 'ready', config)
  // The old coordinator itself, elected again after a restart: it restarted before deciding.
  const reason: TxReason = t.replaced === t.self ? { code: 'coordinator-restarted' } : { code: 'coordinator-replaced', node: t.replaced, by: t.self }
  const r = t.committed ? decide(base, 'commit', null, t.now) : decide(base, 'abort', reason, t.now)
  return { state: r.state, effects: r.effects.filter((e) => e.type !== 'done') }
}

/**
 * A coordinator in its first phase: the one state a deletion starts from and a new administrator
 * takes over (they differ only in the participants' votes they begin with).
 */
function newCoordinator(
  t: { txId: string; roomId: string; self: string; now: number },
  participants: string[],
  vote: Vote,
  config: TwoPhaseConfig,
): CoordinatorState {
  const votes: Record<string, Vote> = {}
  for (const p of participants) votes[p] = vote
  return {
    role: 'coordinator',
    config,
    txId: t.txId,
    roomId: t.roomId,
    self: t.self,
    participants,
    phase: 'preparing',
    votes,
    startedAt: t.now,
    decision: null,
    reason: null,
    acked: [],
    sentAt: t.now,
  }
}

/** The administrator has no machine and no record of txId: under presumed abort, the answer is abort. */
export function presumedAbortAnswer(to: string, txId: string): TxEffect[] {
  return [answerEffect(to, txId, 'abort')]
}

function coordinatorRecord(state: CoordinatorState): TxRecord {
  return {
    txId: state.txId,
    roomId: state.roomId,
    role: 'coordinator',
    coordinator: state.self,
    participants: [...state.participants],
    decision: state.decision,
    reason: state.reason,
  }
}

function progressEffect(state: CoordinatorState, phase: DeletionPhase): TxEffect {
  const votes: Record<string, Vote> = { ...state.votes }
  return {
    type: 'progress',
    txId: state.txId,
    roomId: state.roomId,
    phase,
    votes,
    ...(phase === 'abort' && state.reason ? { reason: state.reason } : {}),
  }
}

function decisionEffect(state: CoordinatorState, to: string): TxEffect {
  return {
    type: 'send',
    to,
    message: { decision: { txId: state.txId, roomId: state.roomId, commit: state.decision === 'commit' } },
  }
}

// =============================================================================================
// Participant

export interface ParticipantState {
  readonly role: 'participant'
  readonly config: Readonly<TwoPhaseConfig>
  readonly txId: string
  readonly roomId: string
  readonly self: string
  /** '' when not known yet (abortBeforePrepare). */
  readonly coordinator: string
  /** The other participants: neither self nor the coordinator (who to ask in step 2 of termination). */
  readonly others: readonly string[]
  readonly vote: 'ready' | 'abort'
  readonly reason: string
  /** Outcome once known and applied. */
  readonly decision: TxDecision | null
  /**
   * waiting: voted READY, waiting for the decision; asked-coordinator / asked-peers: cooperative
   * termination steps 1 and 2; blocked: nobody knew, retrying; finished: outcome known.
   */
  readonly stage: 'waiting' | 'asked-coordinator' | 'asked-peers' | 'blocked' | 'finished'
  /** When the current stage began (or the last retry round, when blocked). */
  readonly stageAt: number
  /** Other participants that answered "unknown" in the current round. */
  readonly unknownFrom: readonly string[]
}

export type ParticipantInput =
  | { type: 'prepare'; coordinator: string; now: number }
  | { type: 'decision'; from: string; commit: boolean; now: number }
  | { type: 'answer'; from: string; known: boolean; commit: boolean; now: number }
  | { type: 'query'; from: string; now: number }
  | { type: 'tick'; now: number }
  /**
   * The room's directory entry names another administrator than the coordinator (a replica took the
   * room over, docs/replication.md): it has the coordinator's part now (takeOverCoordinator, or
   * presumed abort for a tx it never heard of), so ask it at once instead of the old one.
   */
  | { type: 'new-coordinator'; coordinator: string; now: number }

export interface ParticipantResult {
  state: ParticipantState
  effects: TxEffect[]
}

export interface ParticipantStart {
  txId: string
  roomId: string
  self: string
  coordinator: string
  /** Prepare.participants: the coordinator's list (self and the coordinator are skipped). */
  participants: readonly string[]
  /** False when this node cannot delete now (sends in flight, another deletion of the room, ...). */
  canCommit: boolean
  /** Why not, when canCommit is false. */
  reason: string
  now: number
}

export function startParticipant(
  start: ParticipantStart,
  config: TwoPhaseConfig = DEFAULT_TWO_PHASE_CONFIG,
): ParticipantResult {
  const base = {
    role: 'participant' as const,
    config,
    txId: start.txId,
    roomId: start.roomId,
    self: start.self,
    coordinator: start.coordinator,
    others: unique(start.participants.filter((p) => p !== start.self && p !== start.coordinator)),
    stageAt: start.now,
    unknownFrom: [],
  }
  if (!start.canCommit) {
    // Voting ABORT is a unilateral abort: this node knows the outcome now and need not wait for it.
    const reason = start.reason || 'cannot delete the room now'
    const state: ParticipantState = { ...base, vote: 'abort', reason, decision: 'abort', stage: 'finished' }
    return { state, effects: [voteEffect(state)] }
  }
  // READY is a promise to obey the coordinator: freeze (no new messages, `room_busy`) and persist the
  // promise before making it, so a restart here still knows it is bound (docs/deletion.md).
  const state: ParticipantState = { ...base, vote: 'ready', reason: '', decision: null, stage: 'waiting' }
  return {
    state,
    effects: [
      { type: 'freeze', txId: state.txId, roomId: state.roomId },
      { type: 'persist', record: participantRecord(state) },
      voteEffect(state),
    ],
  }
}

export function participantStep(state: ParticipantState, input: ParticipantInput): ParticipantResult {
  switch (input.type) {
    case 'prepare': {
      // A repeated Prepare (the coordinator retried, or ours came after abortBeforePrepare): the vote
      // is already cast; say it again, never change it.
      const next = state.coordinator ? state : { ...state, coordinator: input.coordinator }
      return { state: next, effects: [voteEffect(next)] }
    }
    case 'decision':
      return onDecision(state, input.from, input.commit ? 'commit' : 'abort', true)
    case 'answer':
      if (!mayAnswer(state, input.from)) return { state, effects: [] }
      if (input.known) return onDecision(state, input.from, input.commit ? 'commit' : 'abort', false)
      return onUnknown(state, input.from, input.now)
    case 'query':
      return { state, effects: [answerEffect(input.from, state.txId, knownOutcome(state))] }
    case 'tick':
      return onParticipantTick(state, input.now)
    case 'new-coordinator': {
      if (!input.coordinator || input.coordinator === state.coordinator) return { state, effects: [] }
      // The old coordinator is still worth asking (it may come back knowing), as one of the others.
      const others = unique([...state.others, state.coordinator].filter((p) => p && p !== input.coordinator && p !== state.self))
      const next: ParticipantState = { ...state, coordinator: input.coordinator, others }
      if (state.decision !== null) return { state: next, effects: [] }
      // Undecided: step 1 of cooperative termination again, with the new coordinator, at once. The
      // record follows, so a restart asks the new one too.
      const asking: ParticipantState = { ...next, stage: 'asked-coordinator', stageAt: input.now, unknownFrom: [] }
      return { state: asking, effects: [{ type: 'persist', record: participantRecord(asking) }, queryEffect(asking, asking.coordinator)] }
    }
  }
}

/**
 * Whose DecisionAnswer counts (docs/security.md, "Authority of peer messages"): the coordinator's,
 * and another participant's once this node asked the other participants (termination step 2 on).
 * Before that, while it waits for the coordinator, a participant that claims to know the outcome is
 * not believed: otherwise one member node could vote ABORT and tell the others COMMIT, and the room
 * would vanish at them while its administrator keeps it. Nobody else's answer ever counts.
 */
export function mayAnswer(state: ParticipantState, from: string): boolean {
  if (from === state.coordinator) return true
  return state.others.includes(from) && (state.stage === 'asked-peers' || state.stage === 'blocked')
}

function onDecision(
  state: ParticipantState,
  from: string,
  decision: TxDecision,
  ack: boolean,
): ParticipantResult {
  const ackEffects: TxEffect[] = ack ? [{ type: 'send', to: from, message: { decisionAck: { txId: state.txId } } }] : []
  if (state.decision !== null) {
    // Repeated COMMIT or ROLLBACK (docs/deletion.md): harmless, just ack again. A COMMIT after
    // our own ABORT vote would be a coordinator bug; never apply it, and do not ack what we refuse.
    if (state.decision !== decision) return { state, effects: [] }
    return { state, effects: ackEffects }
  }
  const next: ParticipantState = { ...state, decision, stage: 'finished' }
  // Apply before acking: the ack lets the coordinator forget the tx, so the room must be gone (or
  // unfrozen) by then. Forget the READY record only after applying, so a crash in between re-applies.
  return {
    state: next,
    effects: [
      { type: 'apply', txId: state.txId, roomId: state.roomId, commit: decision === 'commit' },
      { type: 'forget', txId: state.txId },
      ...ackEffects,
    ],
  }
}

function onUnknown(state: ParticipantState, from: string, now: number): ParticipantResult {
  // Only the other participants' "unknown" counts towards blocking; an undecided coordinator is
  // still collecting votes and will decide (by its vote timeout at the latest).
  if (state.stage !== 'asked-peers' && state.stage !== 'blocked') return { state, effects: [] }
  if (!state.others.includes(from) || state.unknownFrom.includes(from)) return { state, effects: [] }
  const next: ParticipantState = { ...state, unknownFrom: [...state.unknownFrom, from] }
  if (next.stage === 'asked-peers' && next.others.every((p) => next.unknownFrom.includes(p))) {
    return block(next, now)
  }
  return { state: next, effects: [] }
}

function onParticipantTick(state: ParticipantState, now: number): ParticipantResult {
  const { decisionTimeoutMs } = state.config
  if (state.decision !== null || now - state.stageAt < decisionTimeoutMs) return { state, effects: [] }
  switch (state.stage) {
    case 'waiting':
      // Cooperative termination, step 1: ask the coordinator.
      return {
        state: { ...state, stage: 'asked-coordinator', stageAt: now },
        effects: [queryEffect(state, state.coordinator)],
      }
    case 'asked-coordinator':
      // Step 2: the coordinator is silent; any participant that knows the outcome (or never voted
      // READY, so knows it is abort) can tell us.
      if (state.others.length === 0) return block(state, now)
      return {
        state: { ...state, stage: 'asked-peers', stageAt: now, unknownFrom: [] },
        effects: state.others.map((p) => queryEffect(state, p)),
      }
    case 'asked-peers':
      // Some did not answer at all (dead, or cut off): as uncertain as "unknown".
      return block(state, now)
    case 'blocked':
      // Keep asking, coordinator first: the coordinator coming back is what usually unblocks us.
      return {
        state: { ...state, stageAt: now, unknownFrom: [] },
        effects: [queryEffect(state, state.coordinator), ...state.others.map((p) => queryEffect(state, p))],
      }
    case 'finished':
      return { state, effects: [] }
  }
}

// 2PC's blocking case (docs/deletion.md): we promised READY, so we may neither delete nor
// unfreeze on our own. The room stays frozen and its users are told why.
function block(state: ParticipantState, now: number): ParticipantResult {
  const asked = [state.coordinator, ...state.others].filter(Boolean)
  return {
    state: { ...state, stage: 'blocked', stageAt: now },
    effects: [
      {
        type: 'blocked',
        txId: state.txId,
        roomId: state.roomId,
        reason: { code: 'outcome-unknown', asked },
      },
    ],
  }
}

/**
 * A DecisionQuery arrived for a tx this node has no machine for (and whose room is not tombstoned by
 * that tx: check tombstoneTx first and answer commit if so). The asker lists us as a participant, so
 * the Prepare is still on its way or was lost: we have not voted, and the textbook rule lets us abort
 * unilaterally and answer "abort". The machine remembers it, so a late Prepare gets an ABORT vote.
 * Precondition: the driver keeps finished participant machines (or their tombstones) and restores
 * READY records after a restart; otherwise "no machine" could mean "voted READY and forgot".
 */
export function abortBeforePrepare(
  q: { txId: string; roomId: string; self: string; from: string; now: number },
  config: TwoPhaseConfig = DEFAULT_TWO_PHASE_CONFIG,
): ParticipantResult {
  const state: ParticipantState = {
    role: 'participant',
    config,
    txId: q.txId,
    roomId: q.roomId,
    self: q.self,
    coordinator: '',
    others: [],
    vote: 'abort',
    reason: 'asked about the deletion before its PREPARE arrived',
    decision: 'abort',
    stage: 'finished',
    stageAt: q.now,
    unknownFrom: [],
  }
  return { state, effects: [answerEffect(q.from, q.txId, 'abort')] }
}

/**
 * After a restart, from a participant record: a READY vote still without a decision means the room
 * must stay frozen and the outcome be asked for at once (cooperative termination, step 1). A record
 * with a decision means the crash came between apply and forget: apply again (idempotent), forget.
 */
export function recoverParticipant(
  record: TxRecord,
  now: number,
  config: TwoPhaseConfig = DEFAULT_TWO_PHASE_CONFIG,
): ParticipantResult {
  const state: ParticipantState = {
    role: 'participant',
    config,
    txId: record.txId,
    roomId: record.roomId,
    self: '',
    coordinator: record.coordinator,
    others: [...record.participants],
    vote: 'ready',
    reason: '',
    decision: record.decision,
    stage: record.decision === null ? 'asked-coordinator' : 'finished',
    stageAt: now,
    unknownFrom: [],
  }
  if (record.decision !== null) {
    return {
      state,
      effects: [
        { type: 'apply', txId: record.txId, roomId: record.roomId, commit: record.decision === 'commit' },
        { type: 'forget', txId: record.txId },
      ],
    }
  }
  return {
    state,
    effects: [{ type: 'freeze', txId: record.txId, roomId: record.roomId }, queryEffect(state, state.coordinator)],
  }
}

/** A Decision for a tx with no machine here (already finished and dropped, or never known): ack only. */
export function ackUnknownDecision(to: string, txId: string): TxEffect[] {
  return [{ type: 'send', to, message: { decisionAck: { txId } } }]
}

function knownOutcome(state: ParticipantState): TxDecision | null {
  // Textbook rule: a participant that voted ABORT knows the outcome is abort even before the decision.
  if (state.decision !== null) return state.decision
  return state.vote === 'abort' ? 'abort' : null
}

function participantRecord(state: ParticipantState): TxRecord {
  // `participants` holds the others: after a restart they are who to ask in termination step 2.
  return {
    txId: state.txId,
    roomId: state.roomId,
    role: 'participant',
    coordinator: state.coordinator,
    participants: [...state.others],
    decision: state.decision,
    reason: null,
  }
}

function voteEffect(state: ParticipantState): TxEffect {
  return {
    type: 'send',
    to: state.coordinator,
    message: { vote: { txId: state.txId, ready: state.vote === 'ready', reason: state.reason } },
  }
}

function queryEffect(state: ParticipantState, to: string): TxEffect {
  return { type: 'send', to, message: { decisionQuery: { txId: state.txId, roomId: state.roomId } } }
}

// =============================================================================================
// Shared helpers

function answerEffect(to: string, txId: string, outcome: TxDecision | null): TxEffect {
  return {
    type: 'send',
    to,
    message: { decisionAnswer: { txId, known: outcome !== null, commit: outcome === 'commit' } },
  }
}

function unique(ids: readonly string[]): string[] {
  return [...new Set(ids)]
}

// =============================================================================================
// Tombstones (docs/deletion.md): a deleted room's id is remembered, with the tx that deleted
// it, so a late Deliver, Join, Prepare or Gossip entry about it is ignored instead of resurrecting the
// room. Bounded: the oldest tombstone goes first; by then every late message has long arrived.

export const DEFAULT_TOMBSTONE_LIMIT = 1000

export interface Tombstones {
  readonly max: number
  /** roomId -> txId that deleted it, in insertion order (oldest first). */
  readonly rooms: ReadonlyMap<string, string>
}

export function emptyTombstones(max: number = DEFAULT_TOMBSTONE_LIMIT): Tombstones {
  return { max: Math.max(1, Math.floor(max)), rooms: new Map() }
}

export function addTombstone(t: Tombstones, roomId: string, txId: string): Tombstones {
  if (t.rooms.get(roomId) === txId) return t
  const rooms = new Map(t.rooms)
  rooms.delete(roomId)
  rooms.set(roomId, txId)
  while (rooms.size > t.max) {
    const oldest = rooms.keys().next().value as string
    rooms.delete(oldest)
  }
  return { max: t.max, rooms }
}

export function isTombstoned(t: Tombstones, roomId: string): boolean {
  return t.rooms.has(roomId)
}

/** The tx that deleted the room, or undefined: a DecisionQuery for that tx can be answered "commit". */
export function tombstoneTx(t: Tombstones, roomId: string): string | undefined {
  return t.rooms.get(roomId)
}
