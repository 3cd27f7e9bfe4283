/**
 * What people see of a room's deletion (docs/deletion.md, "The protocol"): `deletion` events to the
 * room's local members and, from the coordinator, DeletionProgress reports to the participants so
 * their members see the same. The 2PC core names nodes by id; here, and only here, the ids become
 * node names: in the votes ("n2": ready) and in the words of a reason.
 */
import type { ServerEvent, TraceKind, Vote } from '../../proto/client-protocol'
import { msg, type PeerMessage } from '../cluster/peer-messages'
import { describeTxReason, type CoordinatorState, type ParticipantState, type TxReason } from '../core/two-phase-commit'

type Phase = 'prepare' | 'commit' | 'abort'

export interface DeletionReportsComponents {
  /** Our name: known only once the node listens. */
  readonly name: string
  peerName(nodeId: string): string
  send(nodeId: string, m: PeerMessage): boolean
  emitToRoom(roomId: string, e: ServerEvent): void
  trace(kind: TraceKind, text: string, roomId?: string, peer?: string): void
}

export class DeletionReports {
  /** roomId -> the tx this node last heard of for it, and the votes last shown (names -> vote). */
  private readonly lastTx = new Map<string, { txId: string; votes: Record<string, Vote>; finals: Set<string> }>()

  constructor(private readonly c: DeletionReportsComponents) {}

  /** The core's reason in words, node names put in. */
  describe(reason: TxReason): string {
    return describeTxReason(reason, (id) => this.c.peerName(id))
  }

  /** A participant got a Prepare: reports that follow are about this tx. */
  started(roomId: string, txId: string): void {
    this.lastTx.set(roomId, { txId, votes: {}, finals: new Set() })
  }

  /** Coordinator: a `deletion` event to local members, and DeletionProgress to the participants. */
  progress(state: CoordinatorState, phase: Phase, reason: TxReason | undefined, votes: Readonly<Record<string, Vote>>): void {
    const named = this.voteNames(votes)
    const words = reason ? this.describe(reason) : undefined
    this.announce(state.txId, state.roomId, phase, named, words)
    for (const p of state.participants) {
      this.c.send(p, msg('deletionProgress', { roomId: state.roomId, phase, votes: named, reason: words ?? '' }))
    }
  }

  /**
   * A decision resent to one participant (a tick, or after a restart when the first report found no
   * link): the report goes with it so that participant's users see how it ended (they show it once).
   */
  resendOutcome(state: CoordinatorState, to: string): void {
    if (!state.decision) return
    const phase = state.decision === 'commit' ? 'commit' : 'abort'
    const reason = phase === 'abort' && state.reason ? this.describe(state.reason) : ''
    this.c.send(to, msg('deletionProgress', { roomId: state.roomId, phase, votes: this.voteNames(state.votes), reason }))
  }

  /** A DeletionProgress from the room's administrator (the caller checked who sent it). */
  received(roomId: string, phase: Phase, votes: Record<string, Vote>, reason: string | undefined): void {
    this.announce(this.lastTx.get(roomId)?.txId ?? '', roomId, phase, votes, reason)
  }

  /** A participant learned the outcome from another node's answer, not from the coordinator. */
  learnedAbort(state: ParticipantState, fromNode: string): void {
    const votes = { ...(this.lastTx.get(state.roomId)?.votes ?? {}) }
    this.announce(state.txId, state.roomId, 'abort', votes, `rolled back (outcome learned from ${this.c.peerName(fromNode)})`)
  }

  /** The room is deleted here: how it ended, before its members lose it (room.deleted follows). */
  committed(txId: string, roomId: string, state: CoordinatorState | ParticipantState | undefined, finalVotes: Readonly<Record<string, Vote>> | undefined): void {
    const votes = finalVotes && state?.role === 'coordinator' ? this.voteNames(finalVotes) : this.allReady(roomId, state)
    this.announce(txId, roomId, 'commit', votes)
  }

  /** Emit a `deletion` event to this node's members of the room; the final phase only once per tx. */
  announce(txId: string, roomId: string, phase: Phase, votes: Record<string, Vote>, reason?: string): void {
    let t = this.lastTx.get(roomId)
    if (!t || (txId && t.txId !== txId)) {
      t = { txId, votes: {}, finals: new Set() }
      this.lastTx.set(roomId, t)
    }
    if (phase !== 'prepare') {
      if (t.finals.size > 0) return
      t.finals.add(phase)
    }
    t.votes = { ...votes }
    const ev: ServerEvent = { event: 'deletion', roomId, phase, votes, ...(reason ? { reason } : {}) }
    this.c.emitToRoom(roomId, ev)
    this.c.trace('2pc', `${phase}${reason ? ` (${reason})` : ''}: ${Object.entries(votes).map(([n, v]) => `${n}=${v}`).join(' ')}`, roomId)
  }

  /** Votes by node name for people; the coordinator counts itself READY (it checked itself first). */
  private voteNames(votes: Readonly<Record<string, Vote>>): Record<string, Vote> {
    const out: Record<string, Vote> = { [this.c.name]: 'ready' }
    for (const [id, v] of Object.entries(votes)) out[this.c.peerName(id)] = v
    return out
  }

  /** A participant learns COMMIT: every vote was READY, whatever it saw last. */
  private allReady(roomId: string, state: CoordinatorState | ParticipantState | undefined): Record<string, Vote> {
    const out: Record<string, Vote> = {}
    for (const k of Object.keys(this.lastTx.get(roomId)?.votes ?? {})) out[k] = 'ready'
    if (state?.role === 'participant') {
      for (const id of [state.coordinator, ...state.others].filter(Boolean)) out[this.c.peerName(id)] = 'ready'
    }
    out[this.c.name] = 'ready'
    return out
  }
}
